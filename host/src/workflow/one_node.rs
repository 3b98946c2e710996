//! A document that is one node rather than a workflow: the shape the
//! failover and load-balancing snippets show (`{"node_type": "llm", "config":
//! …}`). It runs as the one-node workflow around it; errors keep pointing
//! into the document as written.

use super::error::{Issue, WorkflowError};
use serde_json::{Map, Value, json};

/// The id a node without one gets.
const DEFAULT_ID: &str = "llm";

/// The workflow text around `text`, if `text` is one node (an object with a
/// `node_type` and no `nodes`); `None` for anything else.
pub(super) fn wrap(text: &str) -> Option<String> {
    let Ok(Value::Object(mut node)) = serde_json::from_str::<Value>(text) else { return None };
    if !node.contains_key("node_type") || node.contains_key("nodes") {
        return None;
    }
    let id = match node.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return None,
        None => {
            node.insert("id".into(), json!(DEFAULT_ID));
            DEFAULT_ID.to_string()
        }
    };
    let name = if super::is_valid_id(&id) { id.clone() } else { DEFAULT_ID.to_string() };
    let mut workflow = Map::new();
    workflow.insert("name".into(), json!(name));
    workflow.insert("nodes".into(), json!([node]));
    // An llm node's answer is its text; an embedding node's is its whole output (the vectors).
    let field = if node.get("node_type") == Some(&json!("embedding")) { "" } else { ".text" };
    workflow.insert("output".into(), json!(format!("{{{{nodes.{id}.output{field}}}}}")));
    Some(Value::Object(workflow).to_string())
}

/// Errors of the wrapped workflow, located in the node as written.
pub(super) fn unwrap_paths(e: WorkflowError) -> WorkflowError {
    match e {
        WorkflowError::Invalid(issues) => WorkflowError::Invalid(
            issues
                .into_iter()
                .map(|i| Issue { path: i.path.replacen("$.nodes[0]", "$", 1), message: i.message })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::workflow::{NodeKind, Workflow};
    use serde_json::json;

    #[test]
    fn one_llm_node_runs_as_its_one_node_workflow() {
        let node = json!({
            "node_type": "llm",
            "config": {
                "primary_connection": "openai-main",
                "fallback_connections": ["anthropic-backup"],
                "failover_on": ["rate_limit", "timeout", "server_error"],
                "messages": [{ "role": "user", "content": "hi" }],
                "response_format": "json_object"
            }
        });
        let w = Workflow::parse(&node.to_string()).unwrap();
        assert_eq!((w.name.as_str(), w.nodes.len(), w.nodes[0].id.as_str()), ("llm", 1, "llm"));
        assert!(matches!(w.nodes[0].kind, NodeKind::Llm(_)));
        let pool = json!({ "id": "ask", "node_type": "llm", "config": {
            "connections": ["a", "b"], "load_balancing": "round_robin",
            "messages": [{ "role": "user", "content": "hi" }] } });
        assert_eq!(Workflow::parse(&pool.to_string()).unwrap().name, "ask");

        let bad = json!({ "node_type": "llm", "config": { "primary_connection": "a", "temperature": 9,
            "messages": [{ "role": "user", "content": "hi" }] } });
        let err = Workflow::parse(&bad.to_string()).unwrap_err();
        assert_eq!(err.issues()[0].path, "$.config.temperature", "{err}");
        // A document that is neither keeps the workflow's own errors.
        let err = Workflow::parse(r#"{"nodes": []}"#).unwrap_err().to_string();
        assert!(err.contains("missing field `name`"), "{err}");
    }
}
