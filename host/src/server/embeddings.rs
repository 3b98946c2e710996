//! `POST /v1/embeddings`, OpenAI-compatible: `input` one text or a list,
//! `model` resolved exactly as chat resolves it (a stored route,
//! `CONNECTION/MODEL`, or a default model), `dimensions` passed to the
//! provider, vectors answered as floats or as base64 of little-endian `f32`
//! bytes (`encoding_format`, which OpenAI's Python client sets to `base64`
//! unless told otherwise). The request runs as a one-node workflow with an
//! `embedding` node through the caller's workspace engine: failover,
//! balancing, limits, budgets, usage and metrics as for chat.
//! Reference: https://platform.openai.com/docs/api-reference/embeddings/create

use super::caller::Caller;
use super::chat_run::{self, resolve, served_node};
use super::error::ApiError;
use super::json_body::JsonBody;
use super::state::AppState;
use crate::engine::{EmbeddingOutput, NoEvents};
use crate::workflow::{EmbeddingConfig, EmbeddingInput, MAX_EMBEDDING_INPUTS, Node, NodeKind, Template, Workflow};
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The workflow name embeddings requests are recorded under in usage.
pub const EMBEDDINGS_WORKFLOW: &str = "embeddings";

/// An embeddings request. Other fields (`user`) are accepted and ignored, as chat ignores them.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: WireInput,
    #[serde(default)]
    pub encoding_format: Option<String>,
    pub dimensions: Option<u32>,
}

/// `input`: one text or several (token arrays are not taken: the host cannot
/// know which tokenizer a provider uses).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireInput {
    One(String),
    Many(Vec<String>),
}

/// How vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Float,
    Base64,
}

impl EmbeddingsRequest {
    /// The texts and encoding asked for, or what is wrong with them.
    fn check(self) -> Result<(Vec<String>, Encoding, Option<u32>), ApiError> {
        let invalid = |m: String| ApiError::Invalid(m);
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => return Err(invalid(format!("`encoding_format` must be float or base64, not {other:?}"))),
        };
        if self.dimensions == Some(0) {
            return Err(invalid("`dimensions` must be at least 1".into()));
        }
        let texts = match self.input {
            WireInput::One(text) => vec![text],
            WireInput::Many(texts) => texts,
        };
        if texts.is_empty() {
            return Err(invalid("`input` must not be an empty list".into()));
        }
        if texts.len() > MAX_EMBEDDING_INPUTS {
            return Err(invalid(format!("`input` takes at most {MAX_EMBEDDING_INPUTS} texts, got {}", texts.len())));
        }
        if let Some(i) = texts.iter().position(String::is_empty) {
            return Err(invalid(format!("`input[{i}]` must not be an empty string")));
        }
        Ok((texts, encoding, self.dimensions))
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    let engine = state.engine(&caller)?;
    let route = resolve(&engine, &caller, &request.model)?;
    let (texts, encoding, dimensions) = request.check()?;
    // Texts are taken literally, never as templates.
    let input = EmbeddingInput::Many(texts.into_iter().map(Template::literal).collect());
    let config = EmbeddingConfig { route, input, dimensions };
    let workflow = Arc::new(Workflow {
        name: EMBEDDINGS_WORKFLOW.into(),
        description: None,
        inputs: Vec::new(),
        nodes: vec![Node {
            id: "embeddings".into(),
            depends_on: Vec::new(),
            kind: NodeKind::Embedding(Box::new(config)),
        }],
        output: None,
    });
    let report = engine.engine.run(workflow, Default::default(), &caller.principal, Arc::new(NoEvents)).await;
    state.metrics.run(&caller.workspace, &report);
    let node = served_node(report)?;
    let output = node.embeddings.ok_or_else(|| ApiError::Internal("the embedding node has no vectors".into()))?;
    Ok(chat_run::whole(list(&output, encoding), &output.connection))
}

/// OpenAI's `list` of embeddings.
#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Item<'a>>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Item<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

/// A vector as numbers, or as base64 text of its little-endian `f32` bytes.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Float(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

fn list(output: &EmbeddingOutput, encoding: Encoding) -> List<'_> {
    let data = output
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| Item {
            object: "embedding",
            index,
            embedding: match encoding {
                Encoding::Float => Vector::Float(v),
                Encoding::Base64 => Vector::Base64(base64_f32(v)),
            },
        })
        .collect();
    let tokens = output.usage.prompt_total();
    List { object: "list", data, model: &output.model, usage: Usage { prompt_tokens: tokens, total_tokens: tokens } }
}

/// `v` as base64 of its little-endian `f32` bytes, as OpenAI sends it.
fn base64_f32(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let text = base64_f32(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
        assert_eq!(bytes, [0, 0, 128, 63, 0, 0, 32, 192]);
    }

    #[test]
    fn requests_are_checked_with_the_field_named() {
        let req = |v: serde_json::Value| serde_json::from_value::<EmbeddingsRequest>(v).unwrap().check();
        let e = req(serde_json::json!({ "model": "m", "input": [] })).unwrap_err().to_string();
        assert!(e.contains("`input` must not be an empty list"), "{e}");
        let e = req(serde_json::json!({ "model": "m", "input": ["a", ""] })).unwrap_err().to_string();
        assert!(e.contains("`input[1]`"), "{e}");
        let e = req(serde_json::json!({ "model": "m", "input": "a", "encoding_format": "int8" })).unwrap_err();
        assert!(e.to_string().contains("`encoding_format`"), "{e}");
        let (texts, encoding, ..) =
            req(serde_json::json!({ "model": "m", "input": "a", "encoding_format": "base64" })).unwrap();
        assert_eq!((texts, encoding), (vec!["a".to_string()], Encoding::Base64));
    }
}
