//! Embeddings through InvokeModel (`POST {base}/model/{modelId}/invoke`), in
//! the body each model family documents:
//! - Amazon Titan Text Embeddings: `{"inputText", "dimensions"?}`, one text a
//!   request, answered by `{"embedding": [..], "inputTextTokenCount"}`
//!   (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html);
//! - Cohere Embed: `{"texts": [..], "input_type"}` (at most 96 texts), answered
//!   by `{"embeddings": [[..], ..], "id", "response_type": "embeddings_floats"}`
//!   (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html).
//!   Cohere's body counts no tokens; InvokeModel's
//!   `x-amzn-bedrock-input-token-count` header does, for every model.
//!
//! The connection option `cohere_input_type` picks Cohere's `input_type`
//! (default `search_document`; `search_query` for queries).

use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// Texts one Cohere Embed request may carry.
pub const COHERE_MAX_TEXTS: usize = 96;

/// The InvokeModel body for `req`, by the model's family.
pub fn body(req: &EmbeddingRequest, conn: &ConnectionSettings) -> Result<Vec<u8>, ProviderError> {
    let model = &req.model;
    let body = if model.contains("cohere.embed") {
        if req.inputs.is_empty() || req.inputs.len() > COHERE_MAX_TEXTS {
            return Err(ProviderError::invalid(format!(
                "Cohere Embed takes 1 to {COHERE_MAX_TEXTS} texts per request, got {}",
                req.inputs.len()
            )));
        }
        let input_type = conn.option("cohere_input_type").unwrap_or("search_document");
        let mut body = json!({ "texts": req.inputs, "input_type": input_type });
        if let Some(d) = req.dimensions {
            body["output_dimension"] = json!(d);
        }
        body
    } else if model.contains("titan-embed") {
        let [text] = req.inputs.as_slice() else {
            return Err(ProviderError::invalid(format!(
                "Titan Text Embeddings embeds one text per request, got {} (send them one node each, or use Cohere Embed)",
                req.inputs.len()
            )));
        };
        let mut body = json!({ "inputText": text });
        if let Some(d) = req.dimensions {
            body["dimensions"] = json!(d);
        }
        body
    } else {
        return Err(ProviderError::invalid(format!(
            "model {model:?} is not an embedding model this plugin knows (Amazon Titan Text Embeddings or Cohere Embed)"
        )));
    };
    Ok(json::body(&body))
}

#[derive(Deserialize)]
struct Answer {
    /// Titan's one vector.
    embedding: Option<Vec<f32>>,
    #[serde(rename = "inputTextTokenCount")]
    input_text_token_count: Option<u32>,
    /// Cohere's vectors: a list, or by type (`{"float": [..]}`) when types were asked for.
    embeddings: Option<Value>,
}

/// Either family's answer; token counts from the body, else from InvokeModel's header.
pub fn parse(resp: &HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
    let answer: Answer = json::parse(&resp.body, "embeddings answer")?;
    let vectors = match (answer.embedding, answer.embeddings) {
        (Some(one), _) => vec![one],
        (None, Some(list)) => {
            let list = match list {
                Value::Object(mut by_type) => by_type.remove("float").unwrap_or(Value::Null),
                other => other,
            };
            serde_json::from_value(list).map_err(|e| {
                ProviderError::malformed(format!("the provider's embeddings are not lists of numbers: {e}"))
            })?
        }
        (None, None) => {
            return Err(ProviderError::malformed("the provider's answer has neither `embedding` nor `embeddings`"));
        }
    };
    let header = http::header_value(&resp.headers, "x-amzn-bedrock-input-token-count").and_then(|v| v.parse().ok());
    let usage = answer.input_text_token_count.or(header).map(|n| Usage { input_tokens: n, ..Usage::default() });
    Ok(EmbeddingResponse { vectors, model: None, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(model: &str, inputs: &[&str], dimensions: Option<u32>) -> EmbeddingRequest {
        EmbeddingRequest { model: model.into(), inputs: inputs.iter().map(|s| s.to_string()).collect(), dimensions }
    }

    #[test]
    fn titan_embeds_one_text_with_its_dimensions() {
        let conn = ConnectionSettings::default();
        let sent = body(&req("amazon.titan-embed-text-v2:0", &["hi"], Some(256)), &conn).unwrap();
        assert_eq!(json::parse::<Value>(&sent, "b").unwrap(), json!({ "inputText": "hi", "dimensions": 256 }));
        let e = body(&req("amazon.titan-embed-text-v2:0", &["a", "b"], None), &conn).unwrap_err();
        assert!(e.kind == ErrorKind::InvalidRequest && e.message.contains("one text"), "{}", e.message);
        let resp = HttpResponse {
            status: 200,
            headers: Vec::new(),
            body:
                br#"{"embedding": [0.5, -0.25], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5, -0.25]}}"#
                    .to_vec(),
        };
        let answer = parse(&resp).unwrap();
        assert_eq!((answer.vectors, answer.usage.unwrap().input_tokens), (vec![vec![0.5, -0.25]], 3));
    }

    #[test]
    fn cohere_embeds_a_batch_counted_by_the_header() {
        let conn = ConnectionSettings {
            options: vec![http::header("cohere_input_type", "search_query")],
            ..Default::default()
        };
        let sent = body(&req("cohere.embed-english-v3", &["a", "b"], None), &conn).unwrap();
        assert_eq!(
            json::parse::<Value>(&sent, "b").unwrap(),
            json!({ "texts": ["a", "b"], "input_type": "search_query" })
        );
        let resp = HttpResponse {
            status: 200,
            headers: vec![http::header("x-amzn-bedrock-input-token-count", "7")],
            body: br#"{"embeddings": [[1, 2], [3, 4]], "id": "x", "response_type": "embeddings_floats", "texts": ["a", "b"]}"#.to_vec(),
        };
        let answer = parse(&resp).unwrap();
        assert_eq!(answer.vectors, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(answer.usage.unwrap().input_tokens, 7);
        let by_type =
            HttpResponse { status: 200, headers: Vec::new(), body: br#"{"embeddings": {"float": [[1]]}}"#.to_vec() };
        assert_eq!(parse(&by_type).unwrap().vectors, vec![vec![1.0]]);
        let e = body(&req("meta.llama3", &["a"], None), &conn).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }
}
