//! Embeddings, on either endpoint:
//! - the Gemini API's `POST {base}/v1beta/models/{model}:batchEmbedContents`
//!   with `{"requests": [{"model": "models/{model}", "content": {"parts": [{"text"}]},
//!   "outputDimensionality"?}]}`, answered by `{"embeddings": [{"values": [..]}]}`
//!   in input order, with no token counts
//!   (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents);
//! - Vertex AI's `POST …/publishers/google/models/{model}:predict` with
//!   `{"instances": [{"content"}], "parameters": {"outputDimensionality"?}}`,
//!   answered by `{"predictions": [{"embeddings": {"values", "statistics":
//!   {"token_count"}}}]}`
//!   (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api).

use crate::request::Endpoint;
use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// The request embedding `req.inputs` through the connection's endpoint.
pub fn prepared(req: &EmbeddingRequest, conn: &ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
    if req.inputs.is_empty() {
        return Err(ProviderError::invalid("an embeddings request needs at least one input"));
    }
    let endpoint = Endpoint::of(conn)?;
    let (action, body) = match endpoint {
        Endpoint::GeminiApi { .. } => {
            let name = format!("models/{}", req.model.strip_prefix("models/").unwrap_or(&req.model));
            let requests: Vec<Value> = req
                .inputs
                .iter()
                .map(|text| {
                    let mut one = json!({ "model": name, "content": { "parts": [{ "text": text }] } });
                    if let Some(d) = req.dimensions {
                        one["outputDimensionality"] = json!(d);
                    }
                    one
                })
                .collect();
            (":batchEmbedContents", json!({ "requests": requests }))
        }
        Endpoint::Vertex { .. } => {
            let instances: Vec<Value> = req.inputs.iter().map(|text| json!({ "content": text })).collect();
            let mut body = json!({ "instances": instances });
            if let Some(d) = req.dimensions {
                body["parameters"] = json!({ "outputDimensionality": d });
            }
            (":predict", body)
        }
    };
    let mut request = http::post(endpoint.model_url(&req.model, action)?, json::body(&body));
    request.headers.extend(conn.headers.iter().cloned());
    Ok(PreparedRequest { request, auth: endpoint.auth() })
}

#[derive(Deserialize)]
struct Answer {
    /// The Gemini API's.
    embeddings: Option<Vec<Values>>,
    /// Vertex AI's.
    predictions: Option<Vec<Prediction>>,
}

#[derive(Deserialize)]
struct Values {
    #[serde(default)]
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: VertexEmbedding,
}

#[derive(Deserialize)]
struct VertexEmbedding {
    #[serde(default)]
    values: Vec<f32>,
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    token_count: f64,
}

/// Either endpoint's answer, one vector per input in order. Vertex AI counts
/// tokens per input; the Gemini API counts none, so its usage is left unknown
/// for the host to bound.
pub fn parse(body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    let answer: Answer = json::parse(body, "embeddings answer")?;
    match (answer.embeddings, answer.predictions) {
        (Some(list), _) => {
            Ok(EmbeddingResponse { vectors: list.into_iter().map(|e| e.values).collect(), model: None, usage: None })
        }
        (None, Some(predictions)) => {
            let tokens: f64 =
                predictions.iter().filter_map(|p| p.embeddings.statistics.as_ref()).map(|s| s.token_count).sum();
            let usage = Usage { input_tokens: tokens as u32, ..Usage::default() };
            let vectors = predictions.into_iter().map(|p| p.embeddings.values).collect();
            Ok(EmbeddingResponse { vectors, model: None, usage: Some(usage) })
        }
        (None, None) => {
            Err(ProviderError::malformed("the provider's embeddings answer has neither `embeddings` nor `predictions`"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(options: &[(&str, &str)]) -> ConnectionSettings {
        ConnectionSettings {
            base_url: crate::request::GEMINI_API.into(),
            options: options.iter().map(|(k, v)| http::header(k, v)).collect(),
            ..Default::default()
        }
    }

    fn request(dimensions: Option<u32>) -> EmbeddingRequest {
        EmbeddingRequest { model: "gemini-embedding-001".into(), inputs: vec!["a".into(), "b".into()], dimensions }
    }

    #[test]
    fn the_gemini_api_gets_one_batch_request_per_text() {
        let p = prepared(&request(Some(768)), &conn(&[])).unwrap();
        assert_eq!(
            p.request.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        assert!(matches!(&p.auth, AuthDirective::Header(h) if h == "x-goog-api-key"));
        let body: Value = json::parse(&p.request.body, "body").unwrap();
        assert_eq!(
            body["requests"][1],
            json!({ "model": "models/gemini-embedding-001",
            "content": { "parts": [{ "text": "b" }] }, "outputDimensionality": 768 })
        );
        let answer = parse(br#"{"embeddings": [{"values": [0.5, -1]}, {"values": [2]}]}"#).unwrap();
        assert_eq!(answer.vectors, vec![vec![0.5, -1.0], vec![2.0]]);
        assert!(answer.usage.is_none());
    }

    #[test]
    fn vertex_gets_instances_and_reports_token_counts() {
        let p = prepared(&request(None), &conn(&[("vertex_project", "p1")])).unwrap();
        assert!(
            p.request.url.ends_with(
                "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-embedding-001:predict"
            ),
            "{}",
            p.request.url
        );
        let body: Value = json::parse(&p.request.body, "body").unwrap();
        assert_eq!(body, json!({ "instances": [{ "content": "a" }, { "content": "b" }] }));
        let answer = parse(
            br#"{"predictions": [
            {"embeddings": {"values": [1], "statistics": {"token_count": 3, "truncated": false}}},
            {"embeddings": {"values": [2], "statistics": {"token_count": 4.0, "truncated": false}}}]}"#,
        )
        .unwrap();
        assert_eq!(answer.vectors, vec![vec![1.0], vec![2.0]]);
        assert_eq!(answer.usage.unwrap().input_tokens, 7);
        assert_eq!(parse(b"{}").unwrap_err().kind, ErrorKind::ServerError);
    }
}
