//! Embeddings in the OpenAI dialect: `POST …/embeddings` with
//! `{"model", "input": [..], "dimensions"?}`, answered by
//! `{"data": [{"index", "embedding": [..]}], "model", "usage": {"prompt_tokens"}}`.
//! Reference: https://platform.openai.com/docs/api-reference/embeddings/create
//! (DashScope's compatible mode answers the same shape, and may list `data`
//! out of input order, so vectors are placed by `index`:
//! https://www.alibabacloud.com/help/en/model-studio/embedding-interfaces-compatible-with-openai).

use crate::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The JSON body of an embeddings request. Vectors are asked for as floats
/// (the default, and the only format every compatible server speaks).
pub fn embedding_body(req: &EmbeddingRequest) -> Result<Map<String, Value>, ProviderError> {
    if req.inputs.is_empty() {
        return Err(ProviderError::invalid("an embeddings request needs at least one input"));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("input".into(), json!(req.inputs));
    body.insert("encoding_format".into(), json!("float"));
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), json!(d));
    }
    Ok(body)
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    data: Vec<Item>,
    model: Option<String>,
    usage: Option<ListUsage>,
}

#[derive(Deserialize)]
struct Item {
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ListUsage {
    #[serde(default)]
    prompt_tokens: u32,
}

/// An embeddings answer: one vector per input, in input order.
pub fn embeddings(body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    let list: List = json::parse(body, "embeddings list")?;
    let n = list.data.len();
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; n];
    for (position, item) in list.data.into_iter().enumerate() {
        let i = item.index.unwrap_or(position);
        match vectors.get_mut(i) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => {
                return Err(ProviderError::malformed(format!(
                    "the provider's embeddings list has a missing or repeated index {i} (of {n} vectors)"
                )));
            }
        }
    }
    Ok(EmbeddingResponse {
        // Every slot is filled: n distinct indexes below n.
        vectors: vectors.into_iter().flatten().collect(),
        model: list.model,
        usage: list.usage.map(|u| Usage { input_tokens: u.prompt_tokens, ..Usage::default() }),
    })
}
