//! A fixture's `call` → the contract's request. A chat call is written like
//! an `llm` node's config, so it goes through the workflow validator and the
//! engine's request builder: a fixture asks the plugin exactly what a
//! workflow would. An embeddings call is the contract's embedding request.

use super::fixture::Function;
use crate::runtime::bindings::types;
use crate::workflow::{Lookup, NodeKind, Workflow};
use serde::Deserialize;
use serde_json::{Value, json};

/// What a fixture asks of the plugin.
pub enum Call {
    /// A chat request (`build-request`).
    Chat(types::ChatRequest),
    /// An embeddings request (`build-embedding-request`).
    Embeddings(types::EmbeddingRequest),
}

/// `call` read as `function` says.
pub fn parse(function: Function, call: &Value) -> Result<Call, String> {
    match function {
        Function::Chat => chat_request(call).map(Call::Chat),
        Function::Embeddings => embedding_request(call).map(Call::Embeddings),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingCall {
    model: String,
    inputs: Vec<String>,
    #[serde(default)]
    dimensions: Option<u32>,
}

/// `{"model", "inputs": [..], "dimensions"?}` as the contract's embedding request.
fn embedding_request(call: &Value) -> Result<types::EmbeddingRequest, String> {
    let EmbeddingCall { model, inputs, dimensions } = serde_path_to_error::deserialize(call).map_err(|e| {
        let path = e.path().to_string();
        format!("at $.call{}: {}", if path == "." { String::new() } else { format!(".{path}") }, e.inner())
    })?;
    Ok(types::EmbeddingRequest { model, inputs, dimensions })
}

/// The connection name the call is validated against (never shown).
const CONNECTION: &str = "fixture";

struct NoValues;

impl Lookup for NoValues {
    fn input(&self, _: &str) -> Option<&Value> {
        None
    }
    fn node_output(&self, _: &str) -> Option<&Value> {
        None
    }
}

/// The chat request `call` describes, or what is wrong with it, by JSON path
/// (`$.call.messages[0].role: …`).
pub fn chat_request(call: &Value) -> Result<types::ChatRequest, String> {
    let Value::Object(config) = call else {
        return Err("at $.call: must be an object like an llm node's config".into());
    };
    if ["primary_connection", "fallback_connections", "connections"].iter().any(|k| config.contains_key(*k)) {
        return Err("at $.call: names no connections; the fixture's `connection` is used".into());
    }
    let mut config = config.clone();
    config.insert("primary_connection".into(), json!(CONNECTION));
    let workflow = json!({ "name": "fixture", "nodes": [{ "id": "call", "node_type": "llm", "config": config }] });
    let parsed =
        Workflow::parse(&workflow.to_string()).map_err(|e| e.to_string().replace("$.nodes[0].config", "$.call"))?;
    let Some(NodeKind::Llm(config)) = parsed.nodes.into_iter().next().map(|n| n.kind) else {
        return Err("at $.call: not an llm call".into());
    };
    let mut request = crate::engine::chat_request(&config, &NoValues).map_err(|e| format!("at $.call: {e}"))?;
    request.model = config.route.model_for(CONNECTION).unwrap_or_default().to_string();
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_becomes_the_request_a_workflow_would_send() {
        let call = json!({
            "model": "llama3.2",
            "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "Hi" }],
            "max_tokens": 20,
            "stream": true
        });
        let r = chat_request(&call).unwrap();
        assert_eq!((r.model.as_str(), r.messages.len(), r.max_tokens, r.stream), ("llama3.2", 2, Some(20), true));
        assert!(matches!(r.messages[1].role, types::Role::User));
    }

    #[test]
    fn an_embeddings_call_is_checked_by_path() {
        let Ok(Call::Embeddings(r)) = parse(Function::Embeddings, &json!({ "model": "e", "inputs": ["a", "b"] }))
        else {
            panic!("not an embeddings call")
        };
        assert_eq!((r.model.as_str(), r.inputs.len(), r.dimensions), ("e", 2, None));
        let err = parse(Function::Embeddings, &json!({ "model": "e", "inputs": [1] })).err().unwrap();
        assert!(err.starts_with("at $.call.inputs[0]:"), "{err}");
    }

    #[test]
    fn a_bad_call_is_named_by_its_path() {
        let err =
            chat_request(&json!({ "model": "m", "messages": [{ "role": "robot", "content": "x" }] })).unwrap_err();
        assert!(err.contains("$.call.messages[0].role"), "{err}");
        let err = chat_request(&json!({ "model": "m", "messages": [], "primary_connection": "x" })).unwrap_err();
        assert!(err.contains("names no connections"), "{err}");
    }
}
