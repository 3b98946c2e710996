//! Embeddings end to end: the OpenAI-dialect plugins against the documented
//! wire shape (no embeddings traffic was ever recorded, so each upstream
//! answers the shape of the provider's API reference, cited per test), the
//! `embedding` node through the engine and the CLI, `POST /v1/embeddings`
//! through the daemon with the official `openai` Python client, and limits
//! and budgets refusing embedding calls past their caps. Keys never leak.

use crate::support::daemon::{KEY as DAEMON_KEY, METRICS_TOKEN, Setup};
use crate::support::{self, Reply, Upstream, leak};
use llmnode::error_class::ErrorClass;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "fake-embed-key-for-tests-3e9a0c1d";

/// A one-node workflow with an embedding node over `connection` (then `fallbacks`).
pub(crate) fn embedding_node(connection: &str, fallbacks: &[&str], config: Value) -> String {
    let mut cfg = json!({ "primary_connection": connection, "fallback_connections": fallbacks });
    for (k, v) in config.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    json!({ "name": "embed", "nodes": [{ "id": "e", "node_type": "embedding", "config": cfg }] }).to_string()
}

/// An OpenAI `list` of embeddings as https://platform.openai.com/docs/api-reference/embeddings/object
/// shows it, for `vectors` listed in the order `order` gives (DashScope may
/// list them out of input order: its reference's example has indexes 0 and 5).
fn list(model: &str, vectors: &[Vec<f32>], order: &[usize], prompt_tokens: u64) -> String {
    let data: Vec<Value> =
        order.iter().map(|&i| json!({ "object": "embedding", "index": i, "embedding": vectors[i] })).collect();
    json!({ "object": "list", "data": data, "model": model,
        "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens } })
    .to_string()
}

/// For each OpenAI-dialect plugin: the path and auth its provider documents,
/// the body sent, vectors placed by index, usage priced from the plugin's table.
#[tokio::test]
async fn each_openai_dialect_plugin_embeds_on_its_providers_route() {
    let vectors = vec![vec![0.25f32, -0.5, 0.125], vec![1.0, 0.0, -1.0]];
    // (provider, base path, model, expected URI, auth header, its value, price per million)
    let cases = [
        ("openai", "/v1", "text-embedding-3-small", "/v1/embeddings", "authorization", format!("Bearer {KEY}"), 0.02),
        (
            "azure-openai",
            "",
            "text-embedding-3-large",
            "/openai/deployments/text-embedding-3-large/embeddings?api-version=2024-10-21",
            "api-key",
            KEY.to_string(),
            0.13,
        ),
        (
            "qwen",
            "/compatible-mode/v1",
            "text-embedding-v4",
            "/compatible-mode/v1/embeddings",
            "authorization",
            format!("Bearer {KEY}"),
            0.07,
        ),
    ];
    for (provider, base, model, uri, auth, auth_value, price) in cases {
        let answer = list(model, &vectors, &[1, 0], 1_000);
        let upstream = Upstream::start(move |_| Reply::json(200, answer.clone())).await;
        let engine = support::engine(vec![support::connection("c", provider, &upstream.url(base), KEY)]);
        let wf = embedding_node("c", &[], json!({ "model": model, "input": ["first", "second"], "dimensions": 3 }));
        let report = support::run(&engine, &wf, json!({})).await;
        assert!(report.ok, "{provider}: {report:#?}");
        let seen = upstream.seen();
        assert_eq!(seen.len(), 1, "{provider}");
        assert_eq!(seen[0].uri, uri, "{provider}");
        assert_eq!(seen[0].headers[auth], auth_value, "{provider}");
        assert_eq!(
            seen[0].json(),
            json!({ "model": model, "input": ["first", "second"], "encoding_format": "float", "dimensions": 3 }),
            "{provider}"
        );
        let out = report.nodes[0].embeddings.as_ref().expect("typed vectors");
        assert_eq!(out.vectors, vectors, "{provider}: vectors in input order");
        assert_eq!((out.usage.input, out.usage.output), (1_000, 0), "{provider}");
        assert!((out.cost_usd - 1_000.0 * price / 1e6).abs() < 1e-12, "{provider}: {}", out.cost_usd);
        assert_eq!(report.attempts[0].cost_usd, out.cost_usd);
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.contains(r#""output":{"vectors":[[1.0,0.0,-1.0],[0.25,-0.5,0.125]]"#)
                || text.contains(r#""vectors":[[0.25,-0.5,0.125],[1.0,0.0,-1.0]]"#),
            "{text}"
        );
        support::assert_no_leak("the report", &text, KEY);
    }
}

/// Gemini's `batchEmbedContents` (https://ai.google.dev/api/embeddings):
/// one request per text, the key in `x-goog-api-key`; the answer counts no
/// tokens, so the call is booked at the upper bound its hold reserved, never
/// at zero.
#[tokio::test]
async fn gemini_embeds_in_one_batch_and_an_uncounted_answer_is_booked_at_its_bound() {
    let upstream =
        Upstream::start(|_| Reply::json(200, r#"{"embeddings": [{"values": [0.5, 0.5]}, {"values": [1, 0]}]}"#)).await;
    let engine = support::engine(vec![support::connection("g", "gemini", &upstream.url(""), KEY)]);
    let wf =
        embedding_node("g", &[], json!({ "model": "gemini-embedding-001", "input": ["one", "two"], "dimensions": 2 }));
    let report = support::run(&engine, &wf, json!({})).await;
    assert!(report.ok, "{report:#?}");
    let seen = upstream.seen();
    assert_eq!(seen[0].uri, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
    assert_eq!(seen[0].headers["x-goog-api-key"], KEY);
    let request = |text: &str| {
        json!({ "model": "models/gemini-embedding-001",
        "content": { "parts": [{ "text": text }] }, "outputDimensionality": 2 })
    };
    assert_eq!(seen[0].json(), json!({ "requests": [request("one"), request("two")] }));
    let out = report.nodes[0].embeddings.as_ref().unwrap();
    assert_eq!(out.vectors, vec![vec![0.5, 0.5], vec![1.0, 0.0]]);
    // "one" and "two": 6 bytes, 2 texts framed at 16, the request at 64.
    assert_eq!(out.usage.input, 6 + 2 * 16 + 64);
    assert!((out.cost_usd - 102.0 * 0.15 / 1e6).abs() < 1e-15, "{}", out.cost_usd);
    assert!(!seen[0].uri.contains(KEY));
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
}

/// Errors come back classified (the OpenAI error envelope of
/// https://platform.openai.com/docs/guides/error-codes) and fail over as a
/// chat call's would; an answer with the wrong number of vectors is the
/// upstream's fault; a connection whose plugin does not embed is passed over.
#[tokio::test]
async fn embedding_errors_are_classified_and_fail_over() {
    let limited = Upstream::start(|_| {
        let body = json!({ "error": { "message": "Rate limit reached for text-embedding-3-small", "type": "requests",
            "param": null, "code": "rate_limit_exceeded" } });
        Reply::json(429, body.to_string()).header("retry-after", "20")
    })
    .await;
    let short = Upstream::start(|_| Reply::json(200, list("m", &[vec![1.0]], &[0], 3))).await;
    let good = Upstream::start(|_| Reply::json(200, list("m", &[vec![1.0], vec![2.0]], &[0, 1], 3))).await;
    let chat_only = Upstream::start(|_| Reply::json(500, "{}")).await;
    let engine = support::engine(vec![
        support::connection("claude", "anthropic", &chat_only.url(""), KEY),
        support::connection("limited", "openai", &limited.url("/v1"), KEY),
        support::connection("short", "openai", &short.url("/v1"), KEY),
        support::connection("good", "openai", &good.url("/v1"), KEY),
    ]);
    let wf = embedding_node("claude", &["limited", "short", "good"], json!({ "model": "m", "input": ["a", "b"] }));
    let report = support::run(&engine, &wf, json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.nodes[0].connection.as_deref(), Some("good"));
    let skipped: Vec<(&str, Option<ErrorClass>)> =
        report.nodes[0].skipped.iter().map(|s| (s.connection.as_str(), s.class)).collect();
    assert_eq!(
        skipped,
        [
            ("claude", Some(ErrorClass::InvalidRequest)),
            ("limited", Some(ErrorClass::RateLimit)),
            ("short", Some(ErrorClass::ServerError))
        ]
    );
    assert!(report.nodes[0].skipped[0].reason.contains("does not embed"), "{:?}", report.nodes[0].skipped);
    assert!(report.nodes[0].skipped[2].reason.contains("1 vector(s) for 2 input(s)"), "{:?}", report.nodes[0].skipped);
    assert!(chat_only.seen().is_empty(), "a plugin that does not embed was sent a request");
    // Attempts that reached a provider are usage events, failures included.
    let outcomes: Vec<(&str, Option<ErrorClass>)> =
        report.attempts.iter().map(|a| (a.connection.as_str(), a.error)).collect();
    assert_eq!(
        outcomes,
        [("limited", Some(ErrorClass::RateLimit)), ("short", Some(ErrorClass::ServerError)), ("good", None)]
    );
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    support::assert_no_leak("the logs", &support::logs::text(), KEY);

    // Qwen refuses more texts than DashScope takes in one call, before sending anything.
    let qwen = Upstream::start(|_| Reply::json(200, "{}")).await;
    let engine = support::engine(vec![support::connection("q", "qwen", &qwen.url("/v1"), KEY)]);
    let texts: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let report = support::run(
        &engine,
        &embedding_node("q", &[], json!({ "model": "text-embedding-v4", "input": texts })),
        json!({}),
    )
    .await;
    assert!(!report.ok && qwen.seen().is_empty());
    assert!(report.nodes[0].error.as_deref().unwrap().contains("at most 10 texts"), "{report:#?}");
}

/// An embedding node's config is checked like an llm node's, by JSON path.
#[test]
fn embedding_node_configs_are_validated_by_path() {
    let bad = json!({ "name": "w", "inputs": { "q": { "type": "string" } }, "nodes": [
        { "id": "a", "node_type": "embedding", "config": { "primary_connection": "c" } },
        { "id": "b", "node_type": "embedding", "config": { "primary_connection": "c", "input": [], "dimensions": 0 } },
        { "id": "d", "node_type": "embedding", "config": { "primary_connection": "c", "input": ["{{inputs.nope}}"], "messages": [] } },
        { "id": "e", "node_type": "embedding", "config": { "input": "x" } },
    ] });
    let err = llmnode::workflow::Workflow::parse(&bad.to_string()).unwrap_err();
    let issues: Vec<(String, String)> = err.issues().iter().map(|i| (i.path.clone(), i.message.clone())).collect();
    let has = |path: &str, text: &str| issues.iter().any(|(p, m)| p == path && m.contains(text));
    assert!(has("$.nodes[0].config", "missing field `input`"), "{issues:?}");
    assert!(has("$.nodes[1].config.input", "at least one text"), "{issues:?}");
    assert!(has("$.nodes[1].config.dimensions", "from 1"), "{issues:?}");
    assert!(has("$.nodes[2].config.messages", "unknown field"), "{issues:?}");
    assert!(has("$.nodes[3].config", "no connection"), "{issues:?}");
}

/// The official Python client's `embeddings.create` through the daemon, on a
/// route whose primary always answers 429: single and batch input, float and
/// base64 (the client's own default), `dimensions`, errors in chat's JSON
/// format; usage rows and metrics as for chat; no key anywhere.
#[tokio::test]
async fn the_official_openai_python_client_embeds_through_a_failover_route() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let route = json!({ "primary_connection": "limited", "fallback_connections": ["openai"],
        "model": "text-embedding-3-small" });
    let (status, body) = d.call("PUT", "/api/v1/routes/embed", &s.admin, Some(route)).await;
    assert_eq!(status, 201, "{body}");

    let script = r#"
import json, struct, sys, base64, openai
base, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0)
out = {}
r = client.embeddings.with_raw_response.create(model="embed", input="What does llmnode do?")
e = r.parse()
out["single"] = {"n": len(e.data), "dims": len(e.data[0].embedding), "vector": e.data[0].embedding,
    "model": e.model, "tokens": e.usage.prompt_tokens, "served_by": r.headers.get("x-llmnode-connection"),
    "sent_format": json.loads(r.http_request.content)["encoding_format"]}
texts = ["What does llmnode do?", "Each provider is a plugin.", "Keys stay in the host."]
f = client.embeddings.create(model="embed", input=texts, encoding_format="float", dimensions=4)
out["batch_float"] = {"vectors": [d.embedding for d in f.data], "indexes": [d.index for d in f.data]}
raw = client.embeddings.with_raw_response.create(model="embed", input=texts, encoding_format="base64", dimensions=4)
items = json.loads(raw.http_response.text)["data"]
out["batch_base64"] = [list(struct.unpack("<4f", base64.b64decode(d["embedding"]))) for d in items]
d = client.embeddings.create(model="openai/text-embedding-3-small", input=["x"], encoding_format="float")
out["direct"] = {"dims": len(d.data[0].embedding), "model": d.model}
try:
    client.embeddings.create(model="no-such-model", input="x")
except openai.NotFoundError as e:
    out["not_found"] = e.status_code
try:
    client.embeddings.create(model="embed", input=[])
except openai.BadRequestError as e:
    out["bad"] = {"status": e.status_code, "message": e.body["message"]}
print(json.dumps(out))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, &d.base, &s.member]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "python: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    leak::assert_clean("the Python client's output", &stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap();

    let single = &r["single"];
    assert_eq!((single["n"].as_u64(), single["dims"].as_u64()), (Some(1), Some(8)), "{r}");
    assert_eq!(single["served_by"], "openai", "{r}");
    assert_eq!(single["sent_format"], "base64", "the client asks for base64 by default: {r}");
    assert_eq!(single["model"], "text-embedding-3-small");
    assert!(single["tokens"].as_u64().unwrap() > 0, "{r}");
    let norm: f64 = single["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-4, "the simulated provider's vectors are unit vectors: {r}");

    let floats = r["batch_float"]["vectors"].as_array().unwrap();
    assert_eq!(floats.len(), 3);
    assert!(floats.iter().all(|v| v.as_array().unwrap().len() == 4), "dimensions reached the provider: {r}");
    assert_eq!(r["batch_float"]["indexes"], json!([0, 1, 2]));
    assert_ne!(floats[0], floats[1], "distinct texts, distinct vectors: {r}");
    // Base64 is the same vectors as little-endian f32 bytes (Python widens
    // them to f64; as f32 they are equal).
    let as_f32 = |v: &Value| -> Vec<Vec<f32>> {
        let row = |r: &Value| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        v.as_array().unwrap().iter().map(row).collect()
    };
    assert_eq!(as_f32(&r["batch_base64"]), as_f32(&r["batch_float"]["vectors"]), "{r}");
    assert_eq!(r["direct"], json!({ "dims": 8, "model": "text-embedding-3-small" }));
    assert_eq!(r["not_found"], 404, "{r}");
    assert_eq!(r["bad"]["status"], 400, "{r}");
    assert!(r["bad"]["message"].as_str().unwrap().contains("`input`"), "{r}");

    // Each served call is one usage row on `openai`; the first reached
    // `limited`, whose 429 (Retry-After: 20) then rests it for the others.
    let usage: Value = serde_json::from_str(&s.cli(&["usage", "connections", "--json"]).await).unwrap();
    let by: Vec<(String, u64, u64)> = usage
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["requests"].as_u64().unwrap(), c["errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(by, [("limited".into(), 1, 1), ("openai".into(), 4, 0)], "{usage}");
    let workflows = s.cli(&["usage", "workflows", "--json"]).await;
    assert!(workflows.contains("\"embeddings\""), "{workflows}");
    let (status, metrics) = d.get_text("/metrics", METRICS_TOKEN).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("llmnode_llm_failovers_total{workspace=\"default\",from=\"limited\",class=\"rate_limit\"} 1"),
        "{metrics}"
    );
    d.assert_log_clean();
    assert!(!d.log_text().contains(DAEMON_KEY));
    assert!(leak::assert_clean_dir(&s.data()) > 0);
}

/// An embedding node in a workflow file through `llmnode run`: its vectors
/// read by a template node, the run's JSON with the typed output, a failover
/// from the rate-limited connection, and a bad config refused with exit 2.
#[tokio::test]
async fn an_embedding_node_runs_in_a_workflow_through_the_cli() {
    let s = Setup::new(Duration::ZERO).await;
    let wf = json!({
        "name": "embed-cli",
        "inputs": { "q": { "type": "string" } },
        "nodes": [
            { "id": "e", "node_type": "embedding", "config": {
                "primary_connection": "limited", "fallback_connections": ["openai"],
                "model": "text-embedding-3-small", "input": ["{{inputs.q}}", "second text"], "dimensions": 3 } },
            { "id": "t", "node_type": "template", "depends_on": ["e"],
              "config": { "template": "first={{nodes.e.output.vectors.0}} via {{nodes.e.output.connection}}" } }
        ],
        "output": { "text": "{{nodes.t.output.text}}", "vectors": "{{nodes.e.output.vectors}}" }
    });
    let file = s.dir.path().join("embed.json");
    std::fs::write(&file, wf.to_string()).unwrap();
    let out = s.cli(&["run", file.to_str().unwrap(), "-i", "q=What does llmnode do?", "--json"]).await;
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let vectors = report["output"]["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(vectors.iter().all(|v| v.as_array().unwrap().len() == 3), "{report:#}");
    let text = report["output"]["text"].as_str().unwrap();
    assert!(text.starts_with("first=[") && text.ends_with(" via openai"), "{text}");
    let node = &report["nodes"][0];
    assert_eq!(node["output"]["vectors"], report["output"]["vectors"]);
    assert_eq!(node["output"]["connection"], "openai");
    assert!(node["output"]["cost_usd"].as_f64().unwrap() > 0.0, "priced from the plugin's table: {node}");
    assert_eq!(node["skipped"][0]["class"], "rate_limit", "{node}");

    let bad = json!({ "name": "bad", "nodes": [{ "id": "e", "node_type": "embedding",
        "config": { "primary_connection": "openai", "input": "x", "dimensions": -1 } }] });
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = s.cli_output(&["run", file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$.nodes[0].config.dimensions"), "{stderr}");
}

/// RPM and a daily budget refuse embedding calls past their caps, through
/// the daemon, before anything reaches the provider; a budget never spends
/// past its cap, and an unpriced embedding model cannot spend it blind.
#[tokio::test]
async fn limits_and_budgets_refuse_embedding_calls_past_their_caps() {
    let s = Setup::new(Duration::ZERO).await;
    let base = s.upstream.base_url();
    let add = |name: &'static str, extra: &'static [&'static str]| {
        let base = base.clone();
        let s = &s;
        async move {
            let add = ["connections", "add", name, "--provider", "openai", "--api-key-env", "K", "--base-url", &base];
            s.cli(&[&add[..], &["--max-retries", "0"], extra].concat()).await;
        }
    };
    add("rpm2", &["--rpm", "2"]).await;
    add("budget", &["--daily-budget-usd", "0.00001"]).await;
    let d = s.serve().await;
    let embed = |model: &str, input: Value| json!({ "model": model, "input": input, "encoding_format": "float" });

    for _ in 0..2 {
        let (status, body) =
            d.call("POST", "/v1/embeddings", &s.admin, Some(embed("rpm2/text-embedding-3-small", json!("hi")))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) =
        d.call("POST", "/v1/embeddings", &s.admin, Some(embed("rpm2/text-embedding-3-small", json!("hi")))).await;
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("local limit") && message.contains("rpm2"), "{body}");

    // Each call holds its worst case (every byte a token, plus framing) at
    // $0.02 per million; the budget admits a few and then refuses.
    let text = "x".repeat(300);
    let (mut served, mut refused) = (0, None);
    for _ in 0..20 {
        let (status, body) = d
            .call(
                "POST",
                "/v1/embeddings",
                &s.admin,
                Some(embed("budget/text-embedding-3-small", json!([text.clone()]))),
            )
            .await;
        match status {
            200 => served += 1,
            _ => {
                refused = Some((status, body));
                break;
            }
        }
    }
    let (status, body) = refused.expect("the budget never refused");
    assert!(served >= 1, "{body}");
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("budget"), "{body}");
    let usage: Value = serde_json::from_str(&s.cli(&["usage", "connections", "--json"]).await).unwrap();
    let spent = usage.as_array().unwrap().iter().find(|c| c["name"] == "budget").unwrap()["cost_usd"].as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 0.00001, "spent {spent}: {usage}");

    let (status, body) =
        d.call("POST", "/v1/embeddings", &s.admin, Some(embed("budget/unpriced-embedder", json!("hi")))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("llmnode prices set"), "{body}");
    d.assert_log_clean();
}
