//! Workflows: parsed from JSON, validated with errors that name the JSON path,
//! templates parsed once, inputs resolved and the node graph planned. Nothing
//! here runs a node; the executor consumes these types.

mod embedding_config;
mod embedding_parse;
mod error;
mod inputs;
mod llm_config;
mod llm_messages;
mod llm_parse;
mod llm_tools;
mod one_node;
mod output;
mod path;
mod plan;
mod raw;
mod route_parse;
mod route_spec;
mod shape;
mod template;
mod validate;

pub use embedding_config::{EmbeddingConfig, EmbeddingInput, MAX_EMBEDDING_INPUTS};
pub use error::{InputIssue, Issue, WorkflowError};
pub use inputs::{InputSpec, InputType};
pub use llm_config::{
    CacheSpec, Effort, GroundingSpec, LlmConfig, MessageRole, MessageSpec, PartSpec, ReasoningSpec, ResponseFormatSpec,
    ToolCallSpec, ToolChoiceSpec, ToolSpec,
};
pub use output::OutputSpec;
pub use plan::Plan;
pub use route_spec::{LoadBalancing, ModelSpec, RouteSpec, Routing, WeightedConnection};
pub use template::{Lookup, Reference, Target, Template, TemplateError};

use crate::names::{self, NameKind};
use path::Loc;
use raw::{RawBody, RawNodeType, RawWorkflow};
use shape::{Obj, StrictValue};
use std::collections::BTreeSet;

/// A validated workflow; every field has passed the checks in [`Workflow::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Names the workflow in logs and records; never empty.
    pub name: String,
    /// For humans.
    pub description: Option<String>,
    /// Declared run inputs, in file order.
    pub inputs: Vec<(String, InputSpec)>,
    /// The nodes, in file order; [`Plan`] indexes refer to this vector.
    pub nodes: Vec<Node>,
    /// The run's result, if the workflow declares one.
    pub output: Option<OutputSpec>,
}

/// One step of the workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique, `[A-Za-z0-9_-]+`.
    pub id: String,
    /// Ids of the nodes that must finish first; all exist, no repeats, no cycles.
    pub depends_on: Vec<String>,
    /// What the node does.
    pub kind: NodeKind,
}

/// The node types, with their configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// Calls an LLM (boxed: much larger than a template).
    Llm(Box<LlmConfig>),
    /// Turns text into vectors (boxed, like an llm node's config).
    Embedding(Box<EmbeddingConfig>),
    /// Renders a template; the executor decides how the text becomes the node output.
    Template(Template),
}

/// Converts one node's config as its type says; `None` when anything was reported.
fn node_kind(
    node_type: RawNodeType,
    body: RawBody,
    config_loc: &Loc<'_>,
    cx: &mut validate::Checker<'_, '_>,
) -> Option<NodeKind> {
    match (node_type, body) {
        (RawNodeType::Llm, RawBody::Config(raw)) => llm_parse::convert(*raw, config_loc, cx).map(llm_kind),
        (RawNodeType::Template, RawBody::Config(raw)) => match raw.into_template_only() {
            Some(template) => template_node(template, config_loc, cx),
            // `parse` re-reads such files in deferred mode; this only guards that.
            None => {
                cx.issue(config_loc, "a template node's config has `template` and nothing else");
                None
            }
        },
        (RawNodeType::Llm, RawBody::Deferred(config)) => {
            shape::decode_value::<Obj<llm_parse::RawLlmConfig>>(config, config_loc, cx.issues_mut())
                .and_then(|Obj(raw)| llm_parse::convert(raw, config_loc, cx))
                .map(llm_kind)
        }
        (RawNodeType::Embedding, RawBody::Deferred(config)) => {
            shape::decode_value::<Obj<embedding_parse::RawEmbeddingConfig>>(config, config_loc, cx.issues_mut())
                .and_then(|Obj(raw)| embedding_parse::convert(raw, config_loc, cx))
                .map(|config| NodeKind::Embedding(Box::new(config)))
        }
        // `parse` re-reads files with an embedding node in deferred mode; this only guards that.
        (RawNodeType::Embedding, RawBody::Config(_)) => {
            cx.issue(config_loc, "an embedding node's config could not be read");
            None
        }
        (RawNodeType::Template, RawBody::Deferred(config)) => {
            shape::decode_value::<Obj<raw::RawTemplateConfig>>(config, config_loc, cx.issues_mut())
                .and_then(|Obj(raw)| template_node(raw.template, config_loc, cx))
        }
    }
}

/// Boxes a converted config (it is much larger than a template).
fn llm_kind(config: LlmConfig) -> NodeKind {
    NodeKind::Llm(Box::new(config))
}

/// A `template` node's kind from its template text.
fn template_node(template: String, loc: &Loc<'_>, cx: &mut validate::Checker<'_, '_>) -> Option<NodeKind> {
    cx.template(&loc.key("template"), template).map(NodeKind::Template)
}

/// Ids and input names share one alphabet so template paths can name them.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Workflow {
    /// Parses and validates a workflow. Syntax errors give line and column;
    /// everything else is collected into one [`WorkflowError::Invalid`].
    ///
    /// A document holding one node (`{"node_type": "llm", "config": …}`, as
    /// the failover and load-balancing snippets show one) is that node's
    /// one-node workflow: named for the node's id, its output the node's text.
    pub fn parse(text: &str) -> Result<Workflow, WorkflowError> {
        match Self::parse_workflow(text) {
            Err(WorkflowError::Invalid(issues)) => match one_node::wrap(text) {
                Some(wrapped) => Self::parse_workflow(&wrapped).map_err(one_node::unwrap_paths),
                None => Err(WorkflowError::Invalid(issues)),
            },
            other => other,
        }
    }

    fn parse_workflow(text: &str) -> Result<Workflow, WorkflowError> {
        match shape::decode_fast::<Obj<RawWorkflow<false>>>(text) {
            Ok(Obj(raw)) if raw.nodes.iter().all(|node| node.0.fits_node_type()) => Workflow::from_raw(raw),
            Err(err) if !shape::is_shape_error(&err) => Err(shape::syntax(&err)),
            _ => {
                // Read again, slower, to locate the error precisely and keep checking other nodes.
                let Obj(raw) = shape::decode_text::<Obj<RawWorkflow<true>>>(text)?;
                Workflow::from_raw(raw)
            }
        }
    }

    fn from_raw<const DEFER: bool>(raw: RawWorkflow<DEFER>) -> Result<Workflow, WorkflowError> {
        let root = Loc::Root;
        let mut issues = Vec::new();
        if let Some(problem) = names::problem(NameKind::Workflow, &raw.name) {
            issues.push(Issue { path: root.key("name").to_string(), message: problem.to_string() });
        }
        let inputs = inputs::convert(raw.inputs.unwrap_or_default(), &root.key("inputs"), &mut issues);
        let nodes_loc = root.key("nodes");
        if raw.nodes.is_empty() {
            issues.push(Issue { path: nodes_loc.to_string(), message: "must list at least one node".into() });
        }

        let count = raw.nodes.len();
        let mut ids = Vec::with_capacity(count);
        let mut deps = Vec::with_capacity(count);
        let mut bodies = Vec::with_capacity(count);
        for node in raw.nodes {
            let node = node.0;
            ids.push(node.id);
            deps.push(node.depends_on.unwrap_or_default());
            bodies.push((node.node_type, node.body));
        }

        let (graph, order) = validate::graph(&ids, &deps, &mut issues);
        let mut cx = validate::Checker::new(&graph, &inputs, issues);
        let mut kinds = Vec::with_capacity(count);
        for (i, (node_type, body)) in bodies.into_iter().enumerate() {
            let node_loc = nodes_loc.index(i);
            let config_loc = node_loc.key("config");
            cx.current = Some(i);
            kinds.push(node_kind(node_type, body, &config_loc, &mut cx));
        }
        cx.current = None;
        let output = raw.output.map(|StrictValue(value)| OutputSpec::build(value, &root.key("output"), &mut cx));
        let mut issues = cx.finish(&order, &ids);

        let nodes: Option<Vec<Node>> = ids
            .into_iter()
            .zip(deps)
            .zip(kinds)
            .map(|((id, depends_on), kind)| Some(Node { id, depends_on, kind: kind? }))
            .collect();
        let output = match output {
            None => Some(None),
            Some(built) => built.map(Some),
        };
        match (nodes, output) {
            (Some(nodes), Some(output)) if issues.is_empty() => {
                Ok(Workflow { name: raw.name, description: raw.description, inputs, nodes, output })
            }
            _ => {
                if issues.is_empty() {
                    // Every failed conversion records an issue; this only guards that promise.
                    issues.push(Issue { path: root.to_string(), message: "invalid workflow".into() });
                }
                issues.dedup();
                Err(WorkflowError::Invalid(issues))
            }
        }
    }

    /// Every connection any `llm` or `embedding` node may use, for checking against the configured ones.
    pub fn connection_names(&self) -> BTreeSet<&str> {
        self.routes().flat_map(|(_, route)| route.connection_names()).collect()
    }

    /// Reports every connection name `known` rejects, at the exact path naming it.
    pub fn check_connections(&self, known: impl Fn(&str) -> bool) -> Result<(), WorkflowError> {
        let root = Loc::Root;
        let nodes = root.key("nodes");
        let mut issues = Vec::new();
        for (i, route) in self.routes() {
            let node = nodes.index(i);
            let config_loc = node.key("config");
            for (name, site) in route_parse::connection_sites(route) {
                if !known(name) {
                    issues.push(Issue {
                        path: site.path(&config_loc),
                        message: format!("unknown connection \"{name}\""),
                    });
                }
            }
        }
        if issues.is_empty() { Ok(()) } else { Err(WorkflowError::Invalid(issues)) }
    }

    /// The route of every node that calls a provider, by node index.
    fn routes(&self) -> impl Iterator<Item = (usize, &RouteSpec)> {
        self.nodes.iter().enumerate().filter_map(|(i, node)| match &node.kind {
            NodeKind::Llm(config) => Some((i, &config.route)),
            NodeKind::Embedding(config) => Some((i, &config.route)),
            NodeKind::Template(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::Instant;

    const EXAMPLE: &str = r#"{
      "name": "support-triage",
      "description": "optional",
      "inputs": {
        "ticket": {"type": "string", "required": true, "description": "optional"},
        "tone":   {"type": "string", "default": "friendly"}
      },
      "nodes": [
        {"id": "classify", "node_type": "llm", "config": {
           "primary_connection": "openai-main",
           "fallback_connections": ["openai-backup"],
           "failover_on": ["rate_limit", "timeout", "server_error"],
           "model": "gpt-4o-mini",
           "messages": [
             {"role": "system", "content": "You triage tickets.", "cache": true},
             {"role": "user", "content": "Ticket: {{inputs.ticket}}"}
           ],
           "response_format": {"type": "json_object"},
           "temperature": 0
        }},
        {"id": "reply", "node_type": "llm", "depends_on": ["classify"], "config": {
           "connections": ["a", {"name": "b", "weight": 3}],
           "load_balancing": "weighted",
           "fallback_connections": ["c"],
           "model": {"a": "gpt-4o", "b": "gpt-4o-mini", "c": "llama3"},
           "messages": [{"role": "user", "content": "Category {{ nodes.classify.output.json.category }}; tone {{inputs.tone}}"}],
           "stream": true
        }},
        {"id": "summary", "node_type": "template", "depends_on": ["reply"], "config": {"template": "Reply: {{nodes.reply.output.text}}"}}
      ],
      "output": {"category": "{{nodes.classify.output.json.category}}", "reply": "{{nodes.reply.output.text}}"}
    }"#;

    fn first_issue(text: &str) -> (String, String) {
        match Workflow::parse(text) {
            Ok(_) => panic!("expected an error"),
            Err(err) => match err.issues().first() {
                Some(issue) => (issue.path.clone(), issue.message.clone()),
                None => panic!("expected issues, got {err}"),
            },
        }
    }

    #[test]
    fn parses_the_example() {
        let w = Workflow::parse(EXAMPLE).unwrap();
        assert_eq!(w.name, "support-triage");
        assert_eq!(w.description.as_deref(), Some("optional"));
        assert_eq!(w.inputs.len(), 2);
        assert!(w.inputs[0].1.required);
        assert!(!w.inputs[1].1.required);
        let ids: Vec<&str> = w.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["classify", "reply", "summary"]);
        let NodeKind::Llm(classify) = &w.nodes[0].kind else { panic!("classify is an llm node") };
        assert_eq!(classify.route.routing, Routing::Primary("openai-main".into()));
        assert_eq!(classify.route.model_for("openai-backup"), Some("gpt-4o-mini"));
        assert_eq!(classify.response_format, Some(ResponseFormatSpec::JsonObject));
        assert_eq!(classify.temperature, Some(0.0));
        assert!(classify.messages[0].cache);
        let NodeKind::Template(summary) = &w.nodes[2].kind else { panic!("summary is a template node") };
        assert_eq!(summary.as_str(), "Reply: {{nodes.reply.output.text}}");
        assert!(matches!(w.output, Some(OutputSpec::Object(ref m)) if m.len() == 2));

        let names: Vec<&str> = w.connection_names().into_iter().collect();
        assert_eq!(names, ["a", "b", "c", "openai-backup", "openai-main"]);

        let plan = w.plan();
        assert_eq!(plan.order, [0, 1, 2]);
        assert_eq!(plan.deps, vec![vec![], vec![0], vec![1]]);
        assert_eq!(plan.dependents, vec![vec![1], vec![2], vec![]]);
    }

    #[test]
    fn check_connections_reports_exact_paths() {
        let w = Workflow::parse(EXAMPLE).unwrap();
        assert_eq!(w.check_connections(|_| true), Ok(()));
        let err = w.check_connections(|name| !matches!(name, "openai-backup" | "b" | "c")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "$.nodes[0].config.fallback_connections[0]: unknown connection \"openai-backup\"\n\
             $.nodes[1].config.connections[1]: unknown connection \"b\"\n\
             $.nodes[1].config.fallback_connections[0]: unknown connection \"c\""
        );
        let err = w.check_connections(|name| name != "openai-main").unwrap_err();
        assert_eq!(err.issues()[0].path, "$.nodes[0].config.primary_connection");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = Workflow::parse("{\"name\": \"w\",\n \"nodes\": [}").unwrap_err();
        assert!(matches!(err, WorkflowError::Syntax { line: 2, column: 12, .. }), "{err:?}");
    }

    #[test]
    fn top_level_shape_errors() {
        let node = json!({"id": "a", "node_type": "template", "config": {"template": "t"}});
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"nodes": [node]}), "$", "missing field `name`"),
            (json!({"name": "w"}), "$", "missing field `nodes`"),
            (json!({"name": "w", "nodes": [node], "extra": 1}), "$.extra", "unknown field `extra`"),
            (json!({"name": "w", "nodes": []}), "$.nodes", "must list at least one node"),
            (json!({"name": "", "nodes": [node]}), "$.name", "must not be empty"),
            (json!({"name": "a\nb", "nodes": [node]}), "$.name", "must not contain control"),
            (json!({"name": "a/b", "nodes": [node]}), "$.name", "must not contain `/`"),
            (json!({"name": "w".repeat(5000), "nodes": [node]}), "$.name", "must be at most 128 characters"),
            (json!(["w"]), "$", "expected a JSON object"),
            (json!({"name": "w", "nodes": [["a", "template"]]}), "$.nodes[0]", "expected a JSON object"),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "python", "config": {}}]}),
                "$.nodes[0].node_type",
                "unknown variant `python`, expected one of `llm`, `embedding`, `template`",
            ),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "template"}]}),
                "$.nodes[0]",
                "missing field `config`",
            ),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "template", "config": {"template": "t"}, "retries": 2}]}),
                "$.nodes[0].retries",
                "unknown field `retries`",
            ),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "template", "config": "t"}]}),
                "$.nodes[0].config",
                "expected a JSON object",
            ),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "template", "config": {"template": 1}}]}),
                "$.nodes[0].config.template",
                "expected a string",
            ),
            (
                json!({"name": "w", "nodes": [{"id": "a", "node_type": "template", "config": {}}]}),
                "$.nodes[0].config",
                "missing field `template`",
            ),
            (
                json!({"name": "w", "nodes": [{"id": 5, "node_type": "template", "config": {}}]}),
                "$.nodes[0].id",
                "expected a string",
            ),
        ];
        for (doc, path, needle) in cases {
            let (got_path, message) = first_issue(&doc.to_string());
            assert_eq!(got_path, path, "{doc}: {message}");
            assert!(message.contains(needle), "{doc}: {message:?} lacks {needle:?}");
        }
    }

    #[test]
    fn shape_errors_in_text_carry_position_hint() {
        let text = "{\"name\": \"w\",\n \"nodes\": [{\"id\": \"a\", \"node_type\": \"x\", \"config\": {}}]}";
        let (path, message) = first_issue(text);
        assert_eq!(path, "$.nodes[0].node_type");
        assert!(message.ends_with("(line 2, column 39)"), "{message}");
    }

    #[test]
    fn duplicate_keys_in_config_are_errors() {
        let text = r#"{"name": "w", "nodes": [{"id": "a", "node_type": "template",
            "config": {"template": "x", "template": "y"}}]}"#;
        let (path, message) = first_issue(text);
        assert_eq!(path, "$.nodes[0].config");
        assert!(message.starts_with("duplicate key `template`"), "{message}");
    }

    #[test]
    fn fast_and_deferred_reads_agree() {
        let fast = Workflow::parse(EXAMPLE).unwrap();
        let Obj(raw) = shape::decode_text::<Obj<RawWorkflow<true>>>(EXAMPLE).unwrap();
        let deferred = Workflow::from_raw(raw).unwrap();
        assert_eq!(fast, deferred);
    }

    #[test]
    fn config_fields_of_the_other_node_type_are_rejected() {
        let doc = json!({"name": "w", "nodes": [
            {"id": "a", "node_type": "template", "config": {"template": "t", "primary_connection": "p"}},
            {"id": "b", "node_type": "llm", "config": {"primary_connection": "p", "template": "t",
                "messages": [{"role": "user", "content": "x"}]}},
        ]});
        let err = Workflow::parse(&doc.to_string()).unwrap_err();
        let got: Vec<(&str, &str)> = err.issues().iter().map(|i| (i.path.as_str(), i.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("$.nodes[0].config.primary_connection", "unknown field `primary_connection`, expected `template`"),
                ("$.nodes[1].config.template", "unknown field `template` in an llm node's config"),
            ]
        );
    }

    #[test]
    fn node_fields_are_checked_in_any_order() {
        let text = r#"{"nodes": [{"config": {"template": "t"}, "depends_on": null, "node_type": "template", "id": "a"}], "name": "w"}"#;
        let w = Workflow::parse(text).unwrap();
        assert_eq!(w.nodes[0].id, "a");
        assert!(w.nodes[0].depends_on.is_empty());
        let text =
            r#"{"name": "w", "nodes": [{"id": "a", "id": "b", "node_type": "template", "config": {"template": "t"}}]}"#;
        let (path, message) = first_issue(text);
        assert_eq!(path, "$.nodes[0]");
        assert!(message.starts_with("duplicate field `id`"), "{message}");
        let text = r#"{"name": "w", "nodes": [{"node_type": "template", "config": {"template": "t"}}]}"#;
        let (path, message) = first_issue(text);
        assert_eq!(path, "$.nodes[0]");
        assert!(message.starts_with("missing field `id`"), "{message}");
    }

    #[test]
    fn a_failing_node_does_not_hide_others() {
        let doc = json!({"name": "w", "nodes": [
            {"id": "a", "node_type": "llm", "config": {"primary_connection": "p", "messages": [{"role": "user", "content": "x"}], "top_p": 3}},
            {"id": "b", "node_type": "llm", "config": {"primary_connection": "p", "messages": [{"role": "user", "content": "x"}], "seed": 3}},
        ]});
        let err = Workflow::parse(&doc.to_string()).unwrap_err();
        let paths: Vec<&str> = err.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["$.nodes[0].config.top_p", "$.nodes[1].config.seed"]);
    }

    #[test]
    fn adversarial_inputs_do_not_panic() {
        let long_id = "x".repeat(10_000);
        let cases = [
            String::new(),
            "null".into(),
            "[]".into(),
            "{\"name\": \"w\", \"nodes\": [{}]}".into(),
            "[".repeat(10_000),
            format!("{{\"name\": \"w\", \"nodes\": [{{\"id\": \"{long_id}\", \"node_type\": \"template\", \"config\": {{\"template\": \"{{{{{{{{\"}}}}]}}"),
            "{\"name\": \"w\", \"nodes\": [{\"id\": \"a\", \"node_type\": \"template\", \"config\": {\"template\": \"{{ nodes.a.output.\u{0}\u{ffff} }}\"}}]}".into(),
            "{\"name\":\"w\",\"nodes\":[{\"id\":\"a\",\"node_type\":\"llm\",\"config\":{\"connections\":[{\"name\":\"a\",\"weight\":1e400}]}}]}".into(),
        ];
        for text in cases {
            assert!(Workflow::parse(&text).is_err(), "{:.60}", text);
        }
    }

    /// A linear chain of `n` nodes alternating llm and template, each using the previous output.
    fn chain(n: usize) -> String {
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let depends_on: Vec<String> = if i == 0 { Vec::new() } else { vec![format!("n{}", i - 1)] };
            let source =
                if i == 0 { "{{inputs.q}}".to_string() } else { format!("prev: {{{{nodes.n{}.output.text}}}}", i - 1) };
            nodes.push(if i % 2 == 0 {
                json!({"id": format!("n{i}"), "node_type": "llm", "depends_on": depends_on, "config": {
                    "primary_connection": "main",
                    "fallback_connections": ["backup"],
                    "model": "m",
                    "temperature": 0.2,
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": source}
                    ]
                }})
            } else {
                json!({"id": format!("n{i}"), "node_type": "template", "depends_on": depends_on,
                       "config": {"template": source}})
            });
        }
        json!({
            "name": "chain",
            "inputs": {"q": {"type": "string"}},
            "nodes": nodes,
            "output": format!("{{{{nodes.n{}.output}}}}", n - 1),
        })
        .to_string()
    }

    #[test]
    fn chain_parses_and_plans() {
        let w = Workflow::parse(&chain(50)).unwrap();
        let plan = w.plan();
        assert_eq!(plan.order, (0..50).collect::<Vec<_>>());
        assert_eq!(plan.deps[49], [48]);
        assert_eq!(plan.dependents[0], [1]);
    }

    #[test]
    #[ignore = "timing; run with --release -- --ignored --nocapture"]
    fn ten_thousand_node_chain_timing() {
        let text = chain(10_000);
        let mut best = std::time::Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let workflow = Workflow::parse(&text).unwrap();
            let plan = workflow.plan();
            let elapsed = started.elapsed();
            assert_eq!(plan.order.len(), 10_000);
            best = best.min(elapsed);
        }
        println!(
            "10 000-node chain ({} KiB): parse + validate + plan, best of 5: {:.2} ms",
            text.len() / 1024,
            best.as_secs_f64() * 1e3
        );
        assert!(best.as_millis() < 50, "took {best:?}");
    }
}
