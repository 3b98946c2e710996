//! The node graph as indexes: built once, so neither validation nor the
//! executor looks node ids up by string in a loop.

use super::Workflow;
use std::collections::{HashMap, VecDeque};

/// What the executor needs to schedule a run: start every node whose
/// dependencies are done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every node index, dependencies before dependents (ties in file order).
    pub order: Vec<usize>,
    /// `deps[i]`: the nodes node `i` waits for (direct only, no repeats).
    pub deps: Vec<Vec<usize>>,
    /// `dependents[i]`: the nodes waiting for node `i` (direct only).
    pub dependents: Vec<Vec<usize>>,
}

impl Workflow {
    /// Plans the run. Parsing rejects cycles, so `order` lists every node; a
    /// hand-built workflow with a cycle gets an `order` without the nodes on or
    /// after the cycle rather than a panic.
    pub fn plan(&self) -> Plan {
        let graph = Graph::build(self.nodes.iter().map(|n| (n.id.as_str(), n.depends_on.as_slice())), |_| {});
        let order = graph.topological_order();
        Plan { order, deps: graph.deps, dependents: graph.dependents }
    }
}

/// A problem met while building the graph; validation turns these into issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphIssue {
    /// Node `node` reuses the id of node `first`.
    DuplicateId { node: usize, first: usize },
    /// `nodes[node].depends_on[pos]` names no node.
    UnknownDep { node: usize, pos: usize },
    /// `nodes[node].depends_on[pos]` names the node itself.
    SelfDep { node: usize, pos: usize },
    /// `nodes[node].depends_on[pos]` repeats an earlier entry.
    RepeatedDep { node: usize, pos: usize },
}

/// Index-based adjacency over the nodes.
#[derive(Debug)]
pub(crate) struct Graph<'a> {
    /// Node id → index (the first node with that id).
    pub index: HashMap<&'a str, usize>,
    /// Direct dependencies per node.
    pub deps: Vec<Vec<usize>>,
    /// Direct dependents per node.
    pub dependents: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    /// Builds the adjacency, leaving out (and reporting) edges that cannot be honoured.
    pub(crate) fn build<I>(nodes: I, mut report: impl FnMut(GraphIssue)) -> Graph<'a>
    where
        I: ExactSizeIterator<Item = (&'a str, &'a [String])> + Clone,
    {
        let n = nodes.len();
        let mut index = HashMap::with_capacity(n);
        for (i, (id, _)) in nodes.clone().enumerate() {
            if let Some(&first) = index.get(id) {
                report(GraphIssue::DuplicateId { node: i, first });
            } else {
                index.insert(id, i);
            }
        }
        let mut deps = Vec::with_capacity(n);
        let mut dependents = vec![Vec::new(); n];
        // `last_seen[j] == i + 1` when node i already listed j: repeats cost O(1) to spot.
        let mut last_seen = vec![0usize; n];
        for (i, (_, names)) in nodes.enumerate() {
            let mut mine = Vec::with_capacity(names.len());
            for (pos, name) in names.iter().enumerate() {
                match index.get(name.as_str()) {
                    None => report(GraphIssue::UnknownDep { node: i, pos }),
                    Some(&j) if j == i => report(GraphIssue::SelfDep { node: i, pos }),
                    Some(&j) => {
                        if last_seen[j] == i + 1 {
                            report(GraphIssue::RepeatedDep { node: i, pos });
                        } else {
                            last_seen[j] = i + 1;
                            mine.push(j);
                            dependents[j].push(i);
                        }
                    }
                }
            }
            deps.push(mine);
        }
        Graph { index, deps, dependents }
    }

    /// Kahn's algorithm, ties broken by file order; shorter than the node count
    /// exactly when there is a cycle.
    pub(crate) fn topological_order(&self) -> Vec<usize> {
        let n = self.deps.len();
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(node) = ready.pop_front() {
            order.push(node);
            for &next in &self.dependents[node] {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push_back(next);
                }
            }
        }
        order
    }

    /// The cycles among the nodes `order` left out, each as node indexes where
    /// every node depends on the next and the last depends on the first,
    /// starting at the cycle's lowest index. Disjoint cycles are all reported.
    pub(crate) fn cycles(&self, order: &[usize]) -> Vec<Vec<usize>> {
        const OUT: u8 = 0; // not placed by the topological sort
        const WALKING: u8 = 1;
        const DONE: u8 = 2;
        let n = self.deps.len();
        let mut state = vec![OUT; n];
        for &i in order {
            state[i] = DONE;
        }
        let mut cycles = Vec::new();
        let mut walk = Vec::new();
        for start in 0..n {
            // Every node left out waits on another node left out, so following
            // such dependencies must come back to a node already on this walk.
            let mut node = start;
            let closed = loop {
                if state[node] != OUT {
                    break state[node] == WALKING;
                }
                state[node] = WALKING;
                walk.push(node);
                match self.deps[node].iter().find(|&&d| state[d] != DONE) {
                    Some(&next) => node = next,
                    None => break false,
                }
            };
            if closed && let Some(at) = walk.iter().position(|&w| w == node) {
                let mut cycle = walk.split_off(at);
                if let Some(lowest) = (0..cycle.len()).min_by_key(|&k| cycle[k]) {
                    cycle.rotate_left(lowest);
                }
                for &w in &cycle {
                    state[w] = DONE;
                }
                cycles.push(cycle);
            }
            for &w in &walk {
                state[w] = DONE;
            }
            walk.clear();
        }
        cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn graph(edges: &[(&'static str, &[&str])]) -> (Vec<String>, Vec<Vec<String>>) {
        let ids = edges.iter().map(|(id, _)| id.to_string()).collect();
        let deps = edges.iter().map(|(_, d)| d.iter().map(|s| s.to_string()).collect()).collect();
        (ids, deps)
    }

    fn build<'a>(ids: &'a [String], deps: &'a [Vec<String>]) -> (Graph<'a>, Vec<GraphIssue>) {
        let mut issues = Vec::new();
        let g = Graph::build(ids.iter().map(String::as_str).zip(deps.iter().map(Vec::as_slice)), |i| issues.push(i));
        (g, issues)
    }

    #[test]
    fn diamond_order_and_adjacency() {
        let (ids, deps) = graph(&[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])]);
        let (g, issues) = build(&ids, &deps);
        assert!(issues.is_empty());
        assert_eq!(g.deps, vec![vec![1, 2], vec![3], vec![3], vec![]]);
        assert_eq!(g.dependents, vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(g.topological_order(), [3, 1, 2, 0]);
        assert!(g.cycles(&g.topological_order()).is_empty());
    }

    #[test]
    fn bad_edges_are_reported_and_dropped() {
        let (ids, deps) = graph(&[("a", &["a", "zz", "b", "b"]), ("b", &[]), ("a", &[])]);
        let (g, issues) = build(&ids, &deps);
        assert_eq!(
            issues,
            [
                GraphIssue::DuplicateId { node: 2, first: 0 },
                GraphIssue::SelfDep { node: 0, pos: 0 },
                GraphIssue::UnknownDep { node: 0, pos: 1 },
                GraphIssue::RepeatedDep { node: 0, pos: 3 },
            ]
        );
        assert_eq!(g.deps[0], [1]);
    }

    #[test]
    fn cycles_are_found_and_rotated() {
        let (ids, deps) = graph(&[
            ("x", &["c"]), // 0: downstream of a cycle, not on it
            ("c", &["a"]), // 1
            ("a", &["b"]), // 2
            ("b", &["c"]), // 3
            ("p", &["q"]), // 4
            ("q", &["p"]), // 5
            ("free", &[]), // 6
        ]);
        let (g, _) = build(&ids, &deps);
        let order = g.topological_order();
        assert_eq!(order, [6]);
        assert_eq!(g.cycles(&order), vec![vec![1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn plan_of_a_hand_built_cycle_does_not_panic() {
        use super::super::{Node, NodeKind, Template};
        let node = |id: &str, dep: &str| Node {
            id: id.into(),
            depends_on: vec![dep.into()],
            kind: NodeKind::Template(Template::parse("t").unwrap()),
        };
        let w = Workflow {
            name: "w".into(),
            description: None,
            inputs: Vec::new(),
            nodes: vec![node("a", "b"), node("b", "a"), node("c", "nope")],
            output: None,
        };
        let plan = w.plan();
        assert_eq!(plan.order, [2]);
        assert_eq!(plan.deps, vec![vec![1], vec![0], vec![]]);
    }

    #[test]
    fn long_chain_is_linear() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let deps: Vec<Vec<String>> =
            (0..n).map(|i| if i == 0 { vec![] } else { vec![format!("n{}", i - 1)] }).collect();
        let started = Instant::now();
        let (g, issues) = build(&ids, &deps);
        let order = g.topological_order();
        assert!(issues.is_empty());
        assert_eq!(order.len(), n);
        assert_eq!(order[n - 1], n - 1);
        // Generous even for a debug build; quadratic work would take minutes.
        assert!(started.elapsed().as_secs() < 5);
    }
}
