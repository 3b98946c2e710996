//! `llmnode serve` as operators and clients meet it: the real binary on
//! loopback, a store prepared through the real CLI, connections reaching a
//! simulated provider over real HTTP. Every answer, the daemon's debug log and
//! every byte of the data directory are searched for the key.

use crate::support::daemon::{KEY, METRICS_TOKEN, Setup};
use crate::support::leak;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn ask_workflow(name: &str, stream: bool) -> Value {
    json!({
        "name": name,
        "inputs": { "question": { "type": "string" } },
        "nodes": [{ "id": "answer", "node_type": "llm", "config": {
            "primary_connection": "limited", "fallback_connections": ["openai"],
            "messages": [{ "role": "user", "content": "{{inputs.question}}" }], "stream": stream } }],
        "output": "{{nodes.answer.output.text}}"
    })
}

async fn audit_count(s: &Setup) -> usize {
    let out = s.cli(&["audit", "--json"]).await;
    serde_json::from_str::<Value>(&out).unwrap().as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test]
async fn roles_and_workspaces_are_enforced_and_refusals_change_nothing() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;

    // No token, a wrong token.
    let (status, body) = d.call("GET", "/api/v1/connections", "", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, _) = d.call("GET", "/api/v1/connections", "lln_not-a-token", None).await;
    assert_eq!(status, 401);

    // A member reads but cannot change anything an admin manages.
    let (status, me) = d.call("GET", "/api/v1/me", &s.member, None).await;
    assert_eq!((status, me["role"].as_str(), me["workspace"].as_str()), (200, Some("member"), Some("default")));
    let (status, list) = d.call("GET", "/api/v1/connections", &s.member, None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["connections"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["limited", "openai"]);
    assert_eq!(list["connections"][1]["secrets"][0]["hint"], json!("fak…9e2a"), "{list}");
    let before = audit_count(&s).await;
    let refused = [
        (
            "POST",
            "/api/v1/connections",
            Some(json!({ "name": "x", "provider": "openai", "secrets": { "api_key": KEY } })),
        ),
        ("PATCH", "/api/v1/connections/openai", Some(json!({ "settings": { "rpm": 1 } }))),
        ("DELETE", "/api/v1/connections/openai?force=true", None),
        ("POST", "/api/v1/connections/openai/test", None),
        ("POST", "/api/v1/connections/openai/disable", None),
        ("POST", "/api/v1/connections/openai/enable", None),
        ("PUT", "/api/v1/routes/smart", Some(json!({ "primary_connection": "openai" }))),
        ("PUT", "/api/v1/alerts/settings", Some(json!({ "settings": { "daily_spend_usd": 1.0 } }))),
        ("GET", "/api/v1/audit", None),
        ("GET", "/metrics", None),
    ];
    for (method, path, body) in refused {
        let (status, answer) = d.call(method, path, &s.member, body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {answer}");
    }
    assert_eq!(audit_count(&s).await, before, "a refused request changed something");
    let (_, again) = d.call("GET", "/api/v1/connections", &s.member, None).await;
    assert_eq!(again["connections"], list["connections"]);

    // Another workspace's admin sees none of it: 404s, not 403s, and no run reaches the upstream.
    for (method, path) in [("GET", "/api/v1/connections/openai"), ("POST", "/api/v1/connections/openai/test")] {
        let (status, answer) = d.call(method, path, &s.other_admin, None).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")), "{path}: {answer}");
    }
    let run = json!({ "workflow": ask_workflow("probe", false), "inputs": { "question": "hi" } });
    let (status, answer) = d.call("POST", "/api/v1/run", &s.other_admin, Some(run)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("limited"), "{answer}");
    let chat = json!({ "model": "openai/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, _) = d.call("POST", "/v1/chat/completions", &s.other_admin, Some(chat)).await;
    assert_eq!(status, 404);
    let usage = s.cli(&["usage", "--json", "-w", "team-b"]).await;
    assert_eq!(serde_json::from_str::<Value>(&usage).unwrap()["total"]["requests"], json!(0), "{usage}");

    // An admin manages connections; the key goes in and never comes back.
    let add = json!({ "name": "backup", "provider": "openai",
        "settings": { "base_url": s.upstream.base_url(), "default_model": "gpt-4o-mini" }, "secrets": { "api_key": KEY } });
    let (status, created) = d.call("POST", "/api/v1/connections", &s.admin, Some(add)).await;
    assert_eq!(status, 201, "{created}");
    // The simulated provider has no model endpoint: reachable, key valid, model unknown.
    let (status, tested) = d.call("POST", "/api/v1/connections/backup/test", &s.admin, None).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!((tested["reachable"].as_bool(), tested["key_valid"].as_bool()), (Some(true), Some(true)), "{tested}");
    let (status, edited) =
        d.call("PATCH", "/api/v1/connections/backup", &s.admin, Some(json!({ "settings": { "rpm": 5 } }))).await;
    assert_eq!((status, edited["settings"]["rpm"].as_u64()), (200, Some(5)), "{edited}");
    // A key sent where a number belongs is named, not echoed.
    let (status, bad) =
        d.call("PATCH", "/api/v1/connections/backup", &s.admin, Some(json!({ "settings": { "rpm": KEY } }))).await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("rpm"), "{bad}");
    let (status, _) = d.call("DELETE", "/api/v1/connections/backup", &s.admin, None).await;
    assert_eq!(status, 204);
    let audit = s.cli(&["audit", "--json", "--target", "backup"]).await;
    assert!(audit.contains("api:alice (token 1)") && audit.contains("connection.delete"), "{audit}");

    d.assert_log_clean();
    drop(d);
    assert!(leak::assert_clean_dir(&s.data()) > 0);
}

#[tokio::test]
async fn workflows_are_stored_validated_and_run_as_json_and_as_events() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;

    // Invalid workflows are refused with the JSON path, and nothing is stored.
    let mut bad = ask_workflow("ask", false);
    bad["nodes"][0]["config"]["temperature"] = json!(7);
    let (status, answer) = d.call("PUT", "/api/v1/workflows/ask", &s.member, Some(bad)).await;
    assert_eq!(status, 400);
    assert!(answer["error"]["message"].as_str().unwrap().contains("$.nodes[0].config.temperature"), "{answer}");
    let mut unknown = ask_workflow("ask", false);
    unknown["nodes"][0]["config"]["primary_connection"] = json!("nope");
    let (status, answer) = d.call("PUT", "/api/v1/workflows/ask", &s.member, Some(unknown)).await;
    assert!(status == 400 && answer.to_string().contains("nope"), "{answer}");
    let (_, list) = d.call("GET", "/api/v1/workflows", &s.member, None).await;
    assert_eq!(list["workflows"], json!([]));

    let (status, _) = d.call("PUT", "/api/v1/workflows/ask", &s.member, Some(ask_workflow("ask", false))).await;
    assert_eq!(status, 201);
    let (status, report) = d
        .call(
            "POST",
            "/api/v1/workflows/ask/run",
            &s.member,
            Some(json!({ "inputs": { "question": "Why is the sky blue?" } })),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], json!(true));
    assert_eq!(report["nodes"][0]["connection"], json!("openai"), "the run did not fail over: {report}");
    assert_eq!(report["nodes"][0]["skipped"][0]["class"], json!("rate_limit"), "{report}");
    assert!(report["output"].as_str().is_some_and(|t| !t.is_empty()), "{report}");

    // Streamed: status and text events, then the report. (`limited` rests
    // after its 429's Retry-After, so this run passes it over unseen.)
    let resp = d
        .http
        .post(format!("{}/api/v1/run", d.base))
        .bearer_auth(&s.member)
        .header("content-type", "application/json")
        .body(json!({ "workflow": ask_workflow("ask-stream", true), "inputs": { "question": "Tell me" }, "stream": true }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert!(names.contains(&"status") && names.contains(&"text"), "{names:?}");
    assert_eq!(names.last(), Some(&"result"));
    let streamed: String =
        events.iter().filter(|(n, _)| *n == "text").filter_map(|(_, e)| e["text"].as_str()).collect();
    let result = &events.last().unwrap().1;
    assert_eq!(result["ok"], json!(true));
    assert_eq!(result["nodes"][0]["skipped"][0]["connection"], json!("limited"), "{result}");
    assert_eq!(result["output"].as_str(), Some(streamed.as_str()), "the streamed text is not the result");
    assert!(names.iter().filter(|n| **n == "text").count() > 2, "the answer did not stream: {names:?}");

    // A stored workflow keeps its connection from being deleted without force.
    let (status, refused) = d.call("DELETE", "/api/v1/connections/limited", &s.admin, None).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("ask"), "{refused}");
    let usage = s.cli(&["usage", "workflows", "--json"]).await;
    assert!(usage.contains("ask-stream"), "{usage}");
}

#[tokio::test]
async fn the_official_openai_python_client_works_unchanged() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let (status, _) = d
        .call(
            "PUT",
            "/api/v1/routes/smart",
            &s.admin,
            Some(json!({ "primary_connection": "limited", "fallback_connections": ["openai"], "model": "gpt-4o" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, bad) =
        d.call("PUT", "/api/v1/routes/broken", &s.admin, Some(json!({ "primary_connection": "nope" }))).await;
    assert_eq!(status, 400, "{bad}");

    let script = r#"
import json, sys, openai
base, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0)
out = {}
r = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say {{hello}} please"}])
c = r.parse()
out["json"] = {"text": c.choices[0].message.content, "finish": c.choices[0].finish_reason, "usage": c.usage.total_tokens, "served_by": r.headers.get("x-llmnode-connection")}
parts, usage = [], None
for chunk in client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "Stream a few words"}], stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage.total_tokens
out["stream"] = {"chunks": len(parts), "text": "".join(parts), "usage": usage}
out["models"] = sorted(m.id for m in client.models.list())
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
except openai.NotFoundError as e:
    out["not_found"] = e.status_code
try:
    openai.OpenAI(base_url=base + "/v1", api_key="lln_wrong", max_retries=0).models.list()
except openai.AuthenticationError as e:
    out["auth"] = e.status_code
print(json.dumps(out))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, &d.base, &s.member]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    leak::assert_clean("the Python client's output", &stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(r["json"]["text"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
    assert_eq!(r["json"]["finish"], json!("stop"));
    assert_eq!(r["json"]["served_by"], json!("openai"));
    assert!(r["json"]["usage"].as_u64().unwrap() > 0, "{r}");
    assert!(r["stream"]["chunks"].as_u64().unwrap() > 2, "the answer did not stream: {r}");
    assert!(r["stream"]["usage"].as_u64().unwrap() > 0, "no usage chunk: {r}");
    let models: Vec<&str> = r["models"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for m in ["gpt-4o-mini", "openai/gpt-4o-mini", "smart"] {
        assert!(models.contains(&m), "{models:?}");
    }
    assert_eq!((r["not_found"].as_u64(), r["auth"].as_u64()), (Some(404), Some(401)), "{r}");

    // Usage rows and metrics agree with these calls: one served JSON call, and
    // the route's stream: a 429 from `limited`, then served by `openai`.
    let (by, usage) = s.requests_by_connection().await;
    assert_eq!(by, [("limited".into(), 1, 1), ("openai".into(), 2, 0)], "{usage}");
    let (status, metrics) = d.get_text("/metrics", METRICS_TOKEN).await;
    assert_eq!(status, 200, "{metrics}");
    let line =
        |needle: &str| metrics.lines().find(|l| l.starts_with(needle) && !l.starts_with('#')).map(str::to_string);
    let served = line(
        "llmnode_llm_attempts_total{workspace=\"default\",connection=\"openai\",provider=\"openai\",outcome=\"ok\"}",
    );
    assert!(served.is_some_and(|l| l.ends_with(" 2")), "{metrics}");
    let failover = line("llmnode_llm_failovers_total{workspace=\"default\",from=\"limited\",class=\"rate_limit\"}");
    assert!(failover.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    assert!(
        metrics.contains("llmnode_http_requests_total{method=\"POST\",route=\"/v1/chat/completions\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("llmnode_llm_time_to_first_token_seconds_bucket"), "{metrics}");
    assert!(line("llmnode_plugin_calls{plugin=\"openai\"}").is_some_and(|l| !l.ends_with(" 0")), "{metrics}");
    leak::assert_clean("metrics", &metrics);
    d.assert_log_clean();
}

#[tokio::test]
async fn metrics_show_a_workspace_admin_only_their_workspace_and_the_operator_everything() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    // A call in each workspace, so both have series.
    for (token, model) in [(&s.member, "openai/gpt-4o-mini"), (&s.other_admin, "elsewhere/gpt-4o-mini")] {
        let chat = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, answer) = d.call("POST", "/v1/chat/completions", token, Some(chat)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let sample = |text: &str, needle: &str| text.lines().any(|l| !l.starts_with('#') && l.contains(needle));

    // team-b's admin: team-b's series, nothing of `default`, nothing process-wide.
    let (status, b) = d.get_text("/metrics", &s.other_admin).await;
    assert_eq!(status, 200, "{b}");
    assert!(sample(&b, "workspace=\"team-b\"") && sample(&b, "connection=\"elsewhere\""), "{b}");
    for absent in ["default", "connection=\"openai\"", "limited", "http_requests", "plugin_", "daemon_"] {
        assert!(!b.contains(absent), "team-b's admin sees {absent}:\n{b}");
    }
    for line in b.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.contains("workspace=\"team-b\""), "{line}");
    }
    // default's admin: the mirror image.
    let (status, a) = d.get_text("/metrics", &s.admin).await;
    assert_eq!(status, 200, "{a}");
    assert!(sample(&a, "connection=\"openai\"") && sample(&a, "llmnode_llm_tokens_total"), "{a}");
    assert!(!a.contains("team-b") && !a.contains("elsewhere") && !a.contains("http_requests"), "{a}");

    // The operator: every workspace and the process-wide series.
    let (status, all) = d.get_text("/metrics", METRICS_TOKEN).await;
    assert_eq!(status, 200, "{all}");
    for needle in [
        "workspace=\"default\"",
        "workspace=\"team-b\"",
        "llmnode_http_requests_total{",
        "llmnode_plugin_calls{plugin=\"openai\"}",
        "llmnode_daemon_connections ",
        "llmnode_daemon_requests_in_flight ",
    ] {
        assert!(sample(&all, needle), "the operator misses {needle}:\n{all}");
    }

    // A member, no token, a wrong token: refused, in JSON.
    let refusals =
        [(&s.member, 403, "forbidden"), (&String::new(), 401, "unauthorized"), (&"x".repeat(40), 401, "unauthorized")];
    for (token, status, code) in refusals {
        let (got, body) = d.call("GET", "/metrics", token, None).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    d.assert_log_clean();
}

#[tokio::test]
async fn graceful_shutdown_finishes_every_stream_in_flight() {
    // Slow words: each stream takes a while, so SIGTERM lands mid-stream.
    let s = Setup::new(Duration::from_millis(120)).await;
    let d = s.serve().await;
    let mut streams = Vec::new();
    for i in 0..6 {
        let resp = d
            .http
            .post(format!("{}/v1/chat/completions", d.base))
            .bearer_auth(&s.member)
            .header("content-type", "application/json")
            .body(
                json!({ "model": "openai/gpt-4o-mini", "stream": true,
                    "messages": [{ "role": "user", "content": format!("Tell me story number {i} in a few words") }] })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        streams.push(resp);
    }
    d.terminate();
    let started = Instant::now();
    let mut bodies = Vec::new();
    for resp in streams {
        bodies.push(tokio::spawn(async move { resp.text().await }));
    }
    // New connections are refused while the streams drain.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new().get(format!("{}/healthz", d.base)).send().await;
    assert!(refused.is_err(), "a new connection was accepted after SIGTERM");
    for body in bodies {
        let text = body.await.unwrap().expect("a stream in flight was cut");
        assert!(text.trim_end().ends_with("data: [DONE]"), "a stream did not finish:\n{text}");
        assert!(text.matches("\"content\"").count() > 3, "{text}");
    }
    // Each stream runs for seconds: they were mid-answer at SIGTERM, not done.
    assert!(started.elapsed() > Duration::from_secs(1), "the streams were not in flight at SIGTERM");
    let mut d = d;
    let status = tokio::task::spawn_blocking(move || {
        let status = d.child.wait().unwrap();
        (status, d)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit {:?}", status.0.code());
    let usage: Value = serde_json::from_str(&s.cli(&["usage", "workflows", "--json"]).await).unwrap();
    let chat = usage.as_array().unwrap().iter().find(|w| w["name"] == "chat.completions").cloned();
    assert_eq!(chat.map(|w| w["requests"].clone()), Some(json!(6)), "{usage}");
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_config_changes_apply_live() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let resp = d.http.get(format!("{}/openapi.json", d.base)).send().await.unwrap();
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let mut operations = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            operations += 1;
            let url = format!("{}{}", d.base, path.replace("{name}", "no-such-thing"));
            let resp =
                d.http.request(method.to_uppercase().parse().unwrap(), url).bearer_auth(&s.admin).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(
                status != 405 && !text.contains("no such endpoint"),
                "{method} {path} is not routed: {status} {text}"
            );
            if status >= 400 {
                let body: Value =
                    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
                assert!(body["error"]["code"].is_string(), "{method} {path}: {text}");
            }
        }
    }
    assert!(operations >= 25, "{operations}");
    let (status, body) = d.call("GET", "/api/v1/nothing-here", &s.admin, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));

    // A connection disabled with the CLI is refused by the daemon within a
    // second or two; a token revoked with the CLI stops working as fast.
    let chat = json!({ "model": "openai/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, _) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat.clone())).await;
    assert_eq!(status, 200);
    s.cli(&["connections", "disable", "openai"]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat.clone())).await;
        if status != 200 {
            assert_eq!(status, 409, "a disabled connection's model should no longer resolve: {answer}");
            assert!(
                answer["error"]["message"].as_str().unwrap().contains("disabled connection(s) `openai`"),
                "{answer}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the disabled connection still serves");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A plugin installed with the CLI is loaded by the running daemon.
    let wasm = crate::support::wasm("test_plugin_contract_v0_1");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&wasm).unwrap()));
    s.cli(&["plugins", "install", wasm.to_str().unwrap(), "--sha256", &digest]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, plugins) = d.call("GET", "/api/v1/plugins", &s.member, None).await;
        if plugins.to_string().contains("legacy-v0-1") {
            break;
        }
        assert!(Instant::now() < deadline, "the installed plugin never appeared: {plugins}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let tokens = s.cli(&["tokens", "list"]).await;
    let bob = tokens.lines().find(|l| l.contains("bob")).unwrap().split_whitespace().next().unwrap().to_string();
    s.cli(&["tokens", "revoke", &bob]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = d.call("GET", "/api/v1/me", &s.member, None).await;
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a revoked token still works");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
