//! `kill -9` loses nothing acknowledged: under load, every node `llmnode run`
//! reported done has its attempt in the store and counts towards the budget
//! spent today; amid a stream of connection changes, every change the CLI
//! confirmed is there with its audit row, and no change is half made.

use crate::support::{self, Reply, Upstream, leak};
use llmnode::store::{Store, day_start_ms, now_ms, usage_rows, workspaces};
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
    run(&[&add[..], &["--default-model", "gpt-4o-mini", "--daily-budget-usd", "1000"]].concat());

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

    let store = Store::open(data.join("llmnode.db")).unwrap();
    let recorded: BTreeSet<String> = store
        .db()
        .query("SELECT node FROM usage_events WHERE workflow = 'load'", llmnode::args![], |r| r.get(0))
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = done.difference(&recorded).collect();
    assert!(lost.is_empty(), "acknowledged but not in the store: {lost:?}");
    assert!(recorded.len() < NODES, "the run finished before the kill; the test proves nothing");

    // The budget a restarted process starts from covers every acknowledged call.
    let db = store.db();
    let ws = workspaces::get(db, "default").unwrap();
    let spent = usage_rows::spent_since(db, ws.id, day_start_ms(now_ms())).unwrap()["oa"];
    let per_call: i64 =
        db.query_one("SELECT MAX(cost_nusd) FROM usage_events", llmnode::args![], |r| r.get(0)).unwrap();
    assert!(per_call > 0, "the calls cost nothing; the budget check proves nothing");
    assert_eq!(spent, per_call * recorded.len() as i64, "spent today disagrees with the recorded calls");
    assert!(spent >= per_call * done.len() as i64, "acknowledged spend is missing from today's budget");
    assert!(leak::assert_clean_dir(&data) >= 2, "the data directory was not scanned");
}

/// What one CLI change did, by its outcome.
#[derive(Debug)]
enum Change {
    Add(String),
    Edit(u32),
}

#[test]
fn kill_9_amid_connection_changes_loses_no_acknowledged_change_or_audit_row() {
    const CHANGES: u32 = 40;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cli = |args: &[&str]| {
        let mut cmd = support::llmnode_command(&data);
        cmd.args(args).env("K", KEY).env("LLMNODE_LOG", "warn");
        cmd
    };
    let add = |name: &str| {
        [
            "connections",
            "add",
            name,
            "--provider",
            "openai",
            "--api-key-env",
            "K",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ]
        .map(String::from)
        .to_vec()
    };
    let ok = |args: &[String]| {
        let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&["init".to_string()]);
    // The first add compiles the plugins into the cache; later ones are quick.
    let started = std::time::Instant::now();
    ok(&add("base"));
    let add_time = started.elapsed().min(Duration::from_secs(1));
    let started = std::time::Instant::now();
    ok(&add("warm"));
    let add_time = started.elapsed().max(Duration::from_millis(20)).min(add_time);

    let (mut acknowledged, mut killed) = (Vec::new(), 0);
    for i in 0..CHANGES {
        // Adds and edits in turn, each killed at a different point of its
        // life (or not at all), from just after spawn to past its end.
        let (args, change) = if i % 2 == 0 {
            let name = format!("c{i}");
            (add(&name), Change::Add(name))
        } else {
            (["connections", "edit", "base", "--rpm", &i.to_string()].map(String::from).to_vec(), Change::Edit(i))
        };
        let mut child = cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(add_time.mul_f64(f64::from(i % 8) / 6.0));
        match child.try_wait().unwrap() {
            Some(status) if status.success() => acknowledged.push(change),
            Some(status) => panic!("{args:?} failed on its own: {status}"),
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
        }
    }
    assert!(
        killed > 0 && !acknowledged.is_empty(),
        "{killed} killed, {} acknowledged: proves nothing",
        acknowledged.len()
    );

    let store = Store::open(data.join("llmnode.db")).unwrap();
    let db = store.db();
    let strings = |sql: &str| -> BTreeSet<String> {
        db.query(sql, llmnode::args![], |r| r.get(0)).unwrap().into_iter().collect()
    };
    let connections = strings("SELECT name FROM connections");
    let created = strings("SELECT target FROM audit_log WHERE action = 'connection.create'");
    let edits: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'connection.edit' AND target = 'base'",
            llmnode::args![],
            |r| r.get(0),
        )
        .unwrap();
    let settings: String =
        db.query_one("SELECT settings FROM connections WHERE name = 'base'", llmnode::args![], |r| r.get(0)).unwrap();
    assert_eq!(connections, created, "a connection without its audit row, or the reverse: a change was half made");
    let mut last_edit = None;
    for change in &acknowledged {
        match change {
            Change::Add(name) => assert!(connections.contains(name), "acknowledged add of {name} lost"),
            Change::Edit(rpm) => last_edit = Some(*rpm),
        }
    }
    let acked_edits = acknowledged.iter().filter(|c| matches!(c, Change::Edit(_))).count() as i64;
    assert!(edits >= acked_edits, "{edits} edit audit rows for {acked_edits} acknowledged edits");
    if let Some(last) = last_edit {
        // The last confirmed edit holds, unless a later (killed) one got in.
        let rpm = serde_json::from_str::<serde_json::Value>(&settings).unwrap()["rpm"].as_u64();
        assert!(rpm.is_some_and(|r| r >= u64::from(last)), "rpm {rpm:?}, last acknowledged edit {last}: {settings}");
    }
    drop(store);
    ok(&["connections".to_string(), "list".to_string()]);
    assert!(leak::assert_clean_dir(&data) >= 2, "the data directory was not scanned");
}
