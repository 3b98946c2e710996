//! OpenAI-style embeddings (`POST {base}/embeddings`, `data[].embedding`),
//! for the contract test plugins of versions that have embeddings (this one
//! and the 0.3.0 one, which includes this file).

use super::dialect::{error, post, usage};
use crate::llmnode::provider::types::*;
use serde_json::{Value, json};

pub fn build(request: EmbeddingRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
    let mut body = json!({ "model": request.model, "input": request.inputs });
    if let Some(n) = request.dimensions {
        body["dimensions"] = json!(n);
    }
    Ok(post(&connection, "embeddings", &body))
}

pub fn parse(response: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
    let v: Value = serde_json::from_slice(&response.body)
        .map_err(|e| error(ErrorKind::ServerError, format!("response is not JSON: {e}")))?;
    let items = v["data"].as_array().cloned().unwrap_or_default();
    let vectors = items
        .iter()
        .map(|item| {
            item["embedding"].as_array().map(|xs| xs.iter().filter_map(Value::as_f64).map(|x| x as f32).collect())
        })
        .collect::<Option<Vec<Vec<f32>>>>()
        .ok_or_else(|| error(ErrorKind::ServerError, "an embedding is not a list of numbers"))?;
    Ok(EmbeddingResponse { vectors, model: v["model"].as_str().map(Into::into), usage: usage(&v["usage"]) })
}

/// The embedding functions of a plugin's `Guest` impl, forwarded here.
macro_rules! forwarded {
    () => {
        fn build_embedding_request(
            request: EmbeddingRequest,
            connection: ConnectionSettings,
        ) -> Result<PreparedRequest, ProviderError> {
            embeddings::build(request, connection)
        }

        fn parse_embedding_response(response: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
            embeddings::parse(response)
        }
    };
}

pub(crate) use forwarded;
