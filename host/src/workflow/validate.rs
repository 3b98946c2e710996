//! Checks that need the whole workflow: ids, dependencies, cycles, and whether
//! each template reference can have a value when its node runs.

use super::error::Issue;
use super::inputs::InputSpec;
use super::path::Loc;
use super::plan::{Graph, GraphIssue};
use super::template::{Reference, Target, Template};
use std::collections::HashMap;

/// The ancestor bitsets may use this many 64-bit words (32 MiB) before the
/// check falls back to a search per reference.
const MAX_BITSET_WORDS: usize = 1 << 22;

/// Builds the graph of `ids`/`deps` and reports bad ids, bad dependencies and
/// cycles. Returns the graph and its topological order (partial when cyclic).
pub(crate) fn graph<'a>(
    ids: &'a [String],
    deps: &'a [Vec<String>],
    issues: &mut Vec<Issue>,
) -> (Graph<'a>, Vec<usize>) {
    let root = Loc::Root;
    let nodes = root.key("nodes");
    for (i, id) in ids.iter().enumerate() {
        if !super::is_valid_id(id) {
            let message =
                if id.is_empty() { "must not be empty" } else { "may contain only ASCII letters, digits, `_` and `-`" };
            issues.push(Issue { path: nodes.index(i).key("id").to_string(), message: message.into() });
        }
    }
    let graph = Graph::build(ids.iter().map(String::as_str).zip(deps.iter().map(Vec::as_slice)), |problem| {
        let dep_path = |node: usize, pos: usize| nodes.index(node).key("depends_on").index(pos).to_string();
        let name = |node: usize, pos: usize| deps.get(node).and_then(|d| d.get(pos)).map_or("", String::as_str);
        let (path, message) = match problem {
            GraphIssue::DuplicateId { node, first } => (
                nodes.index(node).key("id").to_string(),
                format!(
                    "duplicate id \"{}\" (first used by $.nodes[{first}])",
                    ids.get(node).map_or("", String::as_str)
                ),
            ),
            GraphIssue::UnknownDep { node, pos } => {
                (dep_path(node, pos), format!("unknown node \"{}\"", name(node, pos)))
            }
            GraphIssue::SelfDep { node, pos } => (dep_path(node, pos), "a node cannot depend on itself".into()),
            GraphIssue::RepeatedDep { node, pos } => {
                (dep_path(node, pos), format!("\"{}\" is listed more than once", name(node, pos)))
            }
        };
        issues.push(Issue { path, message });
    });
    let order = graph.topological_order();
    if order.len() < ids.len() {
        for cycle in graph.cycles(&order) {
            let Some(&first) = cycle.first() else {
                continue;
            };
            let mut text = String::new();
            for &node in cycle.iter().chain(std::iter::once(&first)) {
                if !text.is_empty() {
                    text.push_str(" → ");
                }
                text.push_str(ids.get(node).map_or("", String::as_str));
            }
            issues.push(Issue {
                path: nodes.index(first).key("depends_on").to_string(),
                message: format!("dependency cycle: {text} (each depends on the next)"),
            });
        }
    }
    (graph, order)
}

/// A reference to a node that is not a direct dependency: fine if it is a
/// transitive one, which is only known once every node has been read.
#[derive(Debug)]
struct Pending {
    from: usize,
    to: usize,
    path: String,
}

/// Collects issues while configs are converted, and checks each template's
/// references against the declared inputs and the node graph.
pub(crate) struct Checker<'g, 'a> {
    graph: &'g Graph<'a>,
    inputs: &'g [(String, InputSpec)],
    input_index: HashMap<&'g str, usize>,
    /// The node whose config is being read; `None` while reading `output`,
    /// which may reference any node.
    pub(crate) current: Option<usize>,
    issues: Vec<Issue>,
    pending: Vec<Pending>,
}

impl<'g, 'a> Checker<'g, 'a> {
    /// Starts checking with the issues found so far.
    pub(crate) fn new(graph: &'g Graph<'a>, inputs: &'g [(String, InputSpec)], issues: Vec<Issue>) -> Self {
        let input_index = inputs.iter().enumerate().map(|(i, (name, _))| (name.as_str(), i)).collect();
        Checker { graph, inputs, input_index, current: None, issues, pending: Vec::new() }
    }

    /// Records a problem at `loc`.
    pub(crate) fn issue(&mut self, loc: &Loc<'_>, message: impl Into<String>) {
        self.issues.push(Issue { path: loc.to_string(), message: message.into() });
    }

    /// Records a problem at an already rendered path.
    pub(crate) fn issue_at(&mut self, path: String, message: String) {
        self.issues.push(Issue { path, message });
    }

    /// How many issues so far; a converter compares before and after to know if it failed.
    pub(crate) fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// Mutable access to the issue list, for helpers that only report.
    pub(crate) fn issues_mut(&mut self) -> &mut Vec<Issue> {
        &mut self.issues
    }

    /// Parses the template at `loc` and checks its references; `None` if it cannot be used.
    pub(crate) fn template(&mut self, loc: &Loc<'_>, text: String) -> Option<Template> {
        match Template::parse_owned(text) {
            Ok(template) => {
                let before = self.issue_count();
                for reference in template.references() {
                    self.reference(loc, reference);
                }
                (self.issue_count() == before).then_some(template)
            }
            Err(err) => {
                self.issue(loc, err.to_string());
                None
            }
        }
    }

    fn reference(&mut self, loc: &Loc<'_>, reference: &Reference) {
        match &reference.target {
            Target::Input(name) => match self.input_index.get(name.as_str()).map(|&i| &self.inputs[i].1) {
                None => {
                    let message = self.unknown_input(name);
                    self.issue(loc, message);
                }
                Some(spec) if !reference.path.is_empty() && !spec.kind.has_fields() => {
                    let message =
                        format!("input \"{name}\" is a {}, so `{reference}` cannot look inside it", spec.kind);
                    self.issue(loc, message);
                }
                Some(_) => {}
            },
            Target::Node(id) => {
                let Some(&to) = self.graph.index.get(id.as_str()) else {
                    self.issue(loc, format!("unknown node \"{id}\""));
                    return;
                };
                let Some(from) = self.current else {
                    return;
                };
                if from == to {
                    self.issue(loc, "a node cannot use its own output");
                } else if !self.graph.deps[from].contains(&to) {
                    self.pending.push(Pending { from, to, path: loc.to_string() });
                }
            }
        }
    }

    fn unknown_input(&self, name: &str) -> String {
        if self.inputs.is_empty() {
            format!("unknown input \"{name}\" (this workflow declares no inputs)")
        } else {
            let names: Vec<&str> = self.inputs.iter().map(|(n, _)| n.as_str()).collect();
            format!("unknown input \"{name}\" (declared: {})", names.join(", "))
        }
    }

    /// Resolves the references that were not direct dependencies and returns every issue.
    pub(crate) fn finish(self, order: &[usize], ids: &[String]) -> Vec<Issue> {
        self.finish_with_limit(order, ids, MAX_BITSET_WORDS)
    }

    fn finish_with_limit(mut self, order: &[usize], ids: &[String], limit: usize) -> Vec<Issue> {
        if self.pending.is_empty() {
            return self.issues;
        }
        let reachable = ancestors_of_targets(self.graph, order, &self.pending, limit);
        for (pending, reachable) in self.pending.iter().zip(reachable) {
            if reachable == Some(false) {
                let id = ids.get(pending.to).map_or("", String::as_str);
                self.issues.push(Issue {
                    path: pending.path.clone(),
                    message: format!(
                        "refers to node \"{id}\", which is not among this node's dependencies; add \"{id}\" to depends_on"
                    ),
                });
            }
        }
        self.issues
    }
}

/// For each pending reference: whether its target is a transitive dependency
/// of its node, or `None` when the node is on or after a cycle (already reported).
fn ancestors_of_targets(graph: &Graph<'_>, order: &[usize], pending: &[Pending], limit: usize) -> Vec<Option<bool>> {
    let n = graph.deps.len();
    let mut position = vec![usize::MAX; n];
    for (pos, &node) in order.iter().enumerate() {
        position[node] = pos;
    }
    // One bit column per distinct target, so the common "reference the previous
    // step" case needs no bitsets at all and the rest stays small.
    let mut column = vec![usize::MAX; n];
    let mut columns = 0;
    for p in pending {
        if column[p.to] == usize::MAX {
            column[p.to] = columns;
            columns += 1;
        }
    }
    let words = columns.div_ceil(64);
    let placed = |node: usize| position[node] != usize::MAX;
    match n.checked_mul(words).filter(|&total| total <= limit) {
        Some(total) => {
            let mut bits = vec![0u64; total];
            for &node in order {
                for &dep in &graph.deps[node] {
                    for k in 0..words {
                        let inherited = bits[dep * words + k];
                        bits[node * words + k] |= inherited;
                    }
                    if column[dep] != usize::MAX {
                        let c = column[dep];
                        bits[node * words + c / 64] |= 1 << (c % 64);
                    }
                }
            }
            pending
                .iter()
                .map(|p| {
                    let c = column[p.to];
                    placed(p.from).then(|| bits[p.from * words + c / 64] & (1 << (c % 64)) != 0)
                })
                .collect()
        }
        None => {
            // Too many nodes and targets for bitsets: search backwards from each
            // referencing node, skipping nodes placed before the target (they
            // cannot depend on it).
            let mut seen = vec![usize::MAX; n];
            let mut stack = Vec::new();
            pending
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    if !placed(p.from) {
                        return None;
                    }
                    let floor = position[p.to];
                    stack.clear();
                    stack.push(p.from);
                    seen[p.from] = k;
                    while let Some(node) = stack.pop() {
                        for &dep in &graph.deps[node] {
                            if dep == p.to {
                                return Some(true);
                            }
                            if seen[dep] != k && position[dep] > floor {
                                seen[dep] = k;
                                stack.push(dep);
                            }
                        }
                    }
                    Some(false)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Workflow, WorkflowError};
    use super::*;
    use serde_json::{Value, json};

    fn tnode(id: &str, deps: &[&str], template: &str) -> Value {
        json!({"id": id, "node_type": "template", "depends_on": deps, "config": {"template": template}})
    }

    fn doc(nodes: Vec<Value>) -> Value {
        json!({"name": "w", "inputs": {"q": {"type": "string"}, "o": {"type": "object"}}, "nodes": nodes})
    }

    fn issues(doc: Value) -> Vec<(String, String)> {
        match Workflow::parse(&doc.to_string()) {
            Ok(_) => panic!("expected errors"),
            Err(err) => err.issues().iter().map(|i| (i.path.clone(), i.message.clone())).collect(),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect()
    }

    #[test]
    fn ids_and_depends_on() {
        let got = issues(doc(vec![
            tnode("a", &[], "x"),
            tnode("a", &[], "x"),
            tnode("b c", &["zz", "b c", "a", "a"], "x"),
            tnode("", &[], "x"),
        ]));
        assert_eq!(
            got,
            pairs(&[
                ("$.nodes[2].id", "may contain only ASCII letters, digits, `_` and `-`"),
                ("$.nodes[3].id", "must not be empty"),
                ("$.nodes[1].id", "duplicate id \"a\" (first used by $.nodes[0])"),
                ("$.nodes[2].depends_on[0]", "unknown node \"zz\""),
                ("$.nodes[2].depends_on[1]", "a node cannot depend on itself"),
                ("$.nodes[2].depends_on[3]", "\"a\" is listed more than once"),
            ])
        );
    }

    #[test]
    fn cycles_name_every_node() {
        let got = issues(doc(vec![
            tnode("start", &[], "x"),
            tnode("b", &["c", "start"], "x"),
            tnode("a", &["b"], "x"),
            tnode("c", &["a"], "x"),
            tnode("after", &["c"], "x"),
            tnode("p", &["q"], "x"),
            tnode("q", &["p"], "x"),
        ]));
        assert_eq!(
            got,
            pairs(&[
                ("$.nodes[1].depends_on", "dependency cycle: b → c → a → b (each depends on the next)"),
                ("$.nodes[5].depends_on", "dependency cycle: p → q → p (each depends on the next)"),
            ])
        );
    }

    #[test]
    fn references_must_be_dependencies() {
        let got = issues(doc(vec![
            tnode("a", &[], "{{inputs.q}}"),
            tnode("b", &["a"], "{{nodes.a.output}}"),
            tnode("c", &["b"], "{{ nodes.a.output.text }} ok: transitive"),
            tnode("d", &["a"], "{{nodes.c.output}} {{nodes.d.output}} {{nodes.zz.output}}"),
            tnode("e", &[], "{{inputs.nope}} {{inputs.q.len}} {{inputs.o.any.0}}"),
        ]));
        assert_eq!(
            got,
            pairs(&[
                ("$.nodes[3].config.template", "a node cannot use its own output"),
                ("$.nodes[3].config.template", "unknown node \"zz\""),
                ("$.nodes[4].config.template", "unknown input \"nope\" (declared: o, q)"),
                ("$.nodes[4].config.template", "input \"q\" is a string, so `inputs.q.len` cannot look inside it"),
                (
                    "$.nodes[3].config.template",
                    "refers to node \"c\", which is not among this node's dependencies; add \"c\" to depends_on"
                ),
            ])
        );
    }

    #[test]
    fn llm_message_reference_paths() {
        let got = issues(doc(vec![
            tnode("a", &[], "x"),
            json!({"id": "b", "node_type": "llm", "config": {
                "primary_connection": "p",
                "messages": [
                    {"role": "system", "content": "plain"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "{{nodes.a.output.text}}"},
                        {"type": "image_url", "image_url": {"url": "{{inputs.img}}"}}
                    ]}
                ]
            }}),
        ]));
        assert_eq!(
            got,
            pairs(&[
                ("$.nodes[1].config.messages[1].content[1].image_url.url", "unknown input \"img\" (declared: o, q)"),
                (
                    "$.nodes[1].config.messages[1].content[0].text",
                    "refers to node \"a\", which is not among this node's dependencies; add \"a\" to depends_on"
                ),
            ])
        );
    }

    #[test]
    fn no_inputs_declared_message() {
        let got = issues(json!({"name": "w", "nodes": [tnode("a", &[], "{{inputs.x}}")]}));
        assert_eq!(
            got,
            pairs(&[("$.nodes[0].config.template", "unknown input \"x\" (this workflow declares no inputs)")])
        );
    }

    #[test]
    fn all_problems_are_collected_across_kinds() {
        let got = issues(json!({
            "name": " ",
            "nodes": [
                tnode("a", &["a"], "{{nodes.b.output}}"),
                {"id": "b", "node_type": "template", "config": {"template": "x", "extra": 1}},
                {"id": "c", "node_type": "llm", "config": {"primary_connection": "p", "messages": [], "temperature": 9}},
            ],
            "output": "{{nodes.nope.output}}",
        }));
        assert_eq!(
            got,
            pairs(&[
                ("$.name", "must not be empty"),
                ("$.nodes[0].depends_on[0]", "a node cannot depend on itself"),
                ("$.nodes[1].config.extra", "unknown field `extra`, expected `template`"),
                ("$.nodes[2].config.messages", "must have at least one message"),
                ("$.nodes[2].config.temperature", "must be between 0 and 2, got 9"),
                ("$.output", "unknown node \"nope\""),
                (
                    "$.nodes[0].config.template",
                    "refers to node \"b\", which is not among this node's dependencies; add \"b\" to depends_on"
                ),
            ])
        );
    }

    #[test]
    fn search_fallback_agrees_with_bitsets() {
        // a ← b ← c, d independent; c references a (transitive) and d (not a dependency).
        let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let deps: Vec<Vec<String>> = vec![vec![], vec!["a".into()], vec!["b".into()], vec![]];
        let mut issues = Vec::new();
        let (graph, order) = graph(&ids, &deps, &mut issues);
        assert!(issues.is_empty());
        let inputs = Vec::new();
        for limit in [0, MAX_BITSET_WORDS] {
            let mut cx = Checker::new(&graph, &inputs, Vec::new());
            cx.current = Some(2);
            let root = Loc::Root;
            assert!(cx.template(&root, "{{nodes.a.output}} {{nodes.d.output}}".into()).is_some());
            let got = cx.finish_with_limit(&order, &ids, limit);
            assert_eq!(got.len(), 1, "limit {limit}: {got:?}");
            assert!(got[0].message.contains("add \"d\" to depends_on"));
        }
    }

    #[test]
    fn error_display_lists_every_issue() {
        let err = Workflow::parse(&doc(vec![tnode("a", &["x", "y"], "z")]).to_string()).unwrap_err();
        assert!(matches!(err, WorkflowError::Invalid(_)));
        assert_eq!(
            err.to_string(),
            "$.nodes[0].depends_on[0]: unknown node \"x\"\n$.nodes[0].depends_on[1]: unknown node \"y\""
        );
    }
}
