//! A `kill -9` of `llmnode run` under load loses no acknowledged usage event:
//! every node the process reported done has its attempt in the store.

use crate::support::{self, Reply, Upstream};
use llmnode::store::Store;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const KEY: &str = "fake-crash-key-for-tests-0a1b2c3d4e5f60718293";
const NODES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_usage_event() {
    let body = support::fixture("openai/spec-examples/default.response.json");
    let n = AtomicU64::new(0);
    // Answers spread over about two seconds, so the kill lands mid-run.
    let upstream = Upstream::start(move |_| {
        let delay = Duration::from_millis(15 * (n.fetch_add(1, Ordering::SeqCst) % 150));
        Reply { delay, chunks: vec![Vec::new(), body.clone()], ..Reply::json(200, "") }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = support::llmnode_command(&data).args(args).env("K", KEY).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["init"]);
    let base = upstream.url("/v1");
    let add = ["connections", "add", "oa", "--provider", "openai", "--api-key-env", "K", "--base-url", &base];
    run(&[&add[..], &["--default-model", "gpt-4o-mini"]].concat());

    let nodes: Vec<_> = (0..NODES)
        .map(|i| {
            json!({ "id": format!("n{i}"), "node_type": "llm", "config": {
                "primary_connection": "oa", "messages": [{ "role": "user", "content": "Hello!" }] } })
        })
        .collect();
    let wf = dir.path().join("load.json");
    std::fs::write(&wf, json!({ "name": "load", "nodes": nodes, "output": "{{nodes.n0.output.text}}" }).to_string())
        .unwrap();

    let mut child = support::llmnode_command(&data)
        .args(["run", wf.to_str().unwrap()])
        .env("LLMNODE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let done = tokio::task::spawn_blocking(move || {
        // The progress display prints `nX: done` once the node's usage is acknowledged.
        let mut done = BTreeSet::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once("] ")
                && let Some((node, status)) = rest.split_once(": ")
                && status.starts_with("done")
            {
                done.insert(node.to_string());
            }
            if done.len() >= 40 {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        child.wait().unwrap();
        done
    })
    .await
    .unwrap();
    assert!(done.len() >= 40 && done.len() < NODES, "the kill must land mid-run ({} done)", done.len());

    let store = Store::open(&data.join("llmnode.db")).unwrap();
    let mut stmt = store.db().prepare("SELECT node FROM usage_events WHERE workflow = 'load'").unwrap();
    let recorded: BTreeSet<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let lost: Vec<_> = done.difference(&recorded).collect();
    assert!(lost.is_empty(), "acknowledged but not in the store: {lost:?}");
    assert!(recorded.len() < NODES, "the run finished before the kill; the test proves nothing");
}
