//! What the host costs on top of the provider: plugin load times, the per-call
//! plugin overhead (fresh instance + build-request + parse-response), one SSE
//! event, and a whole one-node workflow against a loopback upstream compared
//! with a bare HTTP client doing the same request.
//!
//! Run with `cargo bench --bench plugin_call` (add `-- --quick` for a short run).
//! A plain binary rather than a harness: the numbers are distributions
//! (median, p99) of real calls, printed as a table.

#[path = "../../tests/e2e/support/redis_server.rs"]
mod redis_server;
// Only its server starter is used here.
#[allow(dead_code)]
#[path = "../src/store/test_postgres.rs"]
mod test_postgres;

use axum::Router;
use axum::routing::post;
use llmnode::connections::{Connection, ConnectionSet};
use llmnode::demo::LoopbackServer;
use llmnode::engine::{Engine, EngineOptions, Limits, NoEvents};
use llmnode::runtime::bindings::types;
use llmnode::runtime::bundled::BUNDLED;
use llmnode::runtime::{PluginRegistry, PluginRuntime, RuntimeConfig};
use llmnode::secret::Secret;
use llmnode::store::{Store, StoreError, workspaces};
use llmnode::transport::Transport;
use llmnode::usage::UsageLog;
use llmnode::usage::log::UsageScope;
use llmnode::workflow::Workflow;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RESPONSE: &[u8] = include_bytes!("../../tests/fixtures/openai/spec-examples/default.response.json");
const STREAM_EVENT: &str = r#"{"id":"chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,"delta":{"content":" weather"},"logprobs":null,"finish_reason":null}]}"#;
const KEY: &str = "sk-bench-000000000000000000000000";

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo bench --bench plugin_call -- loopback` runs the sections whose name has `loopback`.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |section: &str| filter.as_deref().is_none_or(|f| section.contains(f));
    let scale = if quick { 10 } else { 1 };
    let wasm = BUNDLED.iter().find(|(name, _)| *name == "openai").expect("the openai plugin is bundled").1;

    println!("llmnode host overhead (openai plugin, {} KiB wasm)", wasm.len() / 1024);
    println!("{:<52} {:>7} {:>10} {:>10} {:>10}", "measurement", "runs", "median", "p99", "mean");

    let cache = tempfile::tempdir().unwrap();
    PluginRuntime::new(RuntimeConfig::default(), Some(cache.path())).unwrap().load(wasm, "bench".into()).unwrap();
    if wanted("load") {
        load(wasm, cache.path(), quick, scale);
    }
    let rt = PluginRuntime::new(RuntimeConfig::default(), Some(cache.path())).unwrap();
    if wanted("call") {
        calls(&rt, wasm, 5_000 / scale);
    }
    if wanted("workflow") {
        workflow(quick);
    }
    if wanted("limits") {
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio.block_on(limits_admission(20_000 / scale));
    }
    if wanted("loopback") {
        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        tokio.block_on(end_to_end(&rt, 2_500 / scale));
    }
}

/// One admission and its settlement (rpm + tpm + budget), in process,
/// shared through a real SQLite store, and shared through a real Redis on
/// loopback (its settle is queued to a background worker, so the time is the
/// admission's round trip): what shared limits cost per call.
async fn limits_admission(n: usize) {
    use llmnode::limits::{Ask, LimitKey, LimitsService, LocalLimits, Scoped, StoreLimits, Used, acquire};
    let limits = Limits {
        rpm: Some(1_000_000_000),
        tpm: Some(2_000_000_000),
        daily_budget_usd: Some(1e9),
        ..Default::default()
    };
    let ask = Ask { tokens: 1_000, cost: 600_000 };
    let used = Used { requests: 1, tokens: 500, cost: 300_000, booked: false };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llmnode.db");
    let mut store = Store::open(&path).unwrap();
    let ws = store.transaction(|tx| workspaces::create(tx, "bench", |_| Ok::<_, StoreError>(vec![0]))).unwrap();
    let key = LimitKey { scope: ws.id, connection: "bench".into() };
    let local: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
    let shared: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
    // A private redis-server on loopback, when one is installed.
    let redis_server = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
        .then(redis_server::RedisServer::start);
    let redis: Option<Arc<dyn LimitsService>> = redis_server.as_ref().map(|r| {
        let url = llmnode::limits::RedisUrl::parse(&r.url()).unwrap();
        llmnode::limits::RedisLimits::open(&url, &llmnode::store::Location::from(&path)).unwrap()
            as Arc<dyn LimitsService>
    });
    // The same store-shared limits on a private PostgreSQL server, when one is installed.
    let pg_server = std::path::Path::new("/usr/lib/postgresql").exists().then(test_postgres::PgServer::start);
    let on_postgres: Option<Arc<dyn LimitsService>> = pg_server.as_ref().map(|pg| {
        let location = llmnode::store::Location::Postgres(pg.database());
        let mut store = Store::open(&location).unwrap();
        let ws = store.transaction(|tx| workspaces::create(tx, "bench", |_| Ok::<_, StoreError>(vec![0]))).unwrap();
        assert_eq!(ws.id, key.scope, "the same workspace id on both stores");
        StoreLimits::open(&location).unwrap() as Arc<dyn LimitsService>
    });
    let mut services =
        vec![("limits: admit + settle, in process", &local), ("limits: admit + settle, shared store", &shared)];
    match &redis {
        Some(redis) => services.push(("limits: admit + settle (queued), Redis", redis)),
        None => println!("(no redis-server installed: the Redis limits are not measured)"),
    }
    match &on_postgres {
        Some(pg) => services.push(("limits: admit + settle, shared PostgreSQL store", pg)),
        None => println!("(no PostgreSQL installed: the PostgreSQL store's limits are not measured)"),
    }
    for (what, service) in services {
        let v = sample_async(n, || async {
            let t = Instant::now();
            acquire(service, &[Scoped { key: &key, limits: &limits }], ask).await.unwrap().settle(used);
            t.elapsed()
        })
        .await;
        report(what, &v);
    }
}

/// A 10 000-node workflow (layers of llm nodes, each reading the layer
/// before it through a template): parse + validate, then plan.
fn workflow(quick: bool) {
    const NODES: usize = 10_000;
    const WIDTH: usize = 100;
    let nodes: Vec<serde_json::Value> = (0..NODES)
        .map(|i| {
            let id = format!("n{i}");
            let prev = (i >= WIDTH).then(|| format!("n{}", i - WIDTH));
            let content = match &prev {
                Some(p) => format!("Summarize: {{{{nodes.{p}.output.text}}}} for {{{{inputs.topic}}}}"),
                None => "Start on {{inputs.topic}}".to_string(),
            };
            serde_json::json!({
                "id": id, "node_type": "llm", "depends_on": prev.into_iter().collect::<Vec<_>>(),
                "config": { "primary_connection": "openai", "fallback_connections": ["backup"],
                    "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 200,
                    "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": content }] }
            })
        })
        .collect();
    let text = serde_json::json!({
        "name": "wide", "inputs": { "topic": { "type": "string" } }, "nodes": nodes,
        "output": format!("{{{{nodes.n{}.output.text}}}}", NODES - 1)
    })
    .to_string();
    let runs = if quick { 3 } else { 10 };
    let parsed = sample(runs, || {
        let t = Instant::now();
        black_box(Workflow::parse(&text).unwrap());
        t.elapsed()
    });
    report(&format!("workflow: parse + validate {NODES} nodes ({} KiB)", text.len() / 1024), &parsed);
    let wf = Workflow::parse(&text).unwrap();
    let planned = sample(runs, || {
        let t = Instant::now();
        black_box(wf.plan());
        t.elapsed()
    });
    report(&format!("workflow: plan {NODES} nodes"), &planned);
}

/// Loading: compiling from wasm versus the verified precompiled artifact.
fn load(wasm: &[u8], cache: &std::path::Path, quick: bool, scale: usize) {
    let compile = sample(if quick { 2 } else { 5 }, || {
        let rt = PluginRuntime::new(RuntimeConfig::default(), None).unwrap();
        let t = Instant::now();
        black_box(rt.load(wasm, "bench".into()).unwrap());
        t.elapsed()
    });
    report("load: compile from wasm (no cache)", &compile);

    let cold = sample(20 / scale.min(4), || {
        let rt = PluginRuntime::new(RuntimeConfig::default(), Some(cache)).unwrap();
        let t = Instant::now();
        black_box(rt.load(wasm, "bench".into()).unwrap());
        t.elapsed()
    });
    report("load: precompiled cold load (verify + map + link)", &cold);
    let startup = sample(20 / scale.min(4), || {
        let t = Instant::now();
        black_box(PluginRuntime::new(RuntimeConfig::default(), Some(cache)).unwrap());
        t.elapsed()
    });
    report("runtime start (engine, pooling allocator, linker)", &startup);
}

/// Per llm call: everything the plugin adds.
fn calls(rt: &PluginRuntime, wasm: &[u8], n: usize) {
    let plugin = rt.load(wasm, "bench".into()).unwrap();
    let request = chat_request();
    let settings = types::ConnectionSettings {
        base_url: "https://api.openai.com/v1".into(),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    };
    let response = types::HttpResponse {
        status: 200,
        headers: vec![types::Header { name: "content-type".into(), value: "application/json".into() }],
        body: RESPONSE.to_vec(),
    };
    let whole = sample(n, || {
        let t = Instant::now();
        let mut call = plugin.call().unwrap();
        black_box(call.build_request(&request, &settings).unwrap().unwrap());
        black_box(call.parse_response(&response).unwrap().unwrap());
        t.elapsed()
    });
    report("call: instantiate + build-request + parse-response", &whole);
    let instantiate = sample(n, || {
        let t = Instant::now();
        black_box(plugin.call().unwrap());
        t.elapsed()
    });
    report("  of which: fresh instance", &instantiate);
    let mut call = plugin.call().unwrap();
    let build = sample(n, || {
        let t = Instant::now();
        black_box(call.build_request(&request, &settings).unwrap().unwrap());
        t.elapsed()
    });
    report("  of which: build-request", &build);
    let parse = sample(n, || {
        let t = Instant::now();
        black_box(call.parse_response(&response).unwrap().unwrap());
        t.elapsed()
    });
    report("  of which: parse-response", &parse);
    let event = types::StreamEvent { event: None, data: STREAM_EVENT.into() };
    let stream = sample(n * 4, || {
        let t = Instant::now();
        black_box(call.parse_stream_event(&event).unwrap().unwrap());
        t.elapsed()
    });
    report("stream: parse-stream-event (one text delta)", &stream);
}

/// End to end over loopback: the engine versus a bare client.
async fn end_to_end(rt: &PluginRuntime, n: usize) {
    let app = Router::new()
        .route("/v1/chat/completions", post(|| async { ([("content-type", "application/json")], RESPONSE) }));
    let server = LoopbackServer::start(app).await.unwrap();
    let addr = server.addr();
    let url = format!("http://{addr}/v1/chat/completions");

    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{ "role": "system", "content": "You are terse." }, { "role": "user", "content": "Hello!" }]
    })
    .to_string();
    let bare = sample_async(n, || async {
        let t = Instant::now();
        let r = client
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let bytes = r.bytes().await.unwrap();
        black_box(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
        t.elapsed()
    })
    .await;
    report("loopback: bare reqwest POST + JSON parse", &bare);

    // The host's transport alone, sending the request the plugin built.
    let plugin = PluginRegistry::load(rt, None).unwrap().get("openai").unwrap().clone();
    let connection =
        Connection::with_key("bench", "openai", format!("http://{addr}/v1"), "gpt-4o-mini", Secret::new(KEY));
    let target = connection.target(
        &url::Url::parse(&format!("http://{addr}/v1")).unwrap(),
        llmnode::runtime::bindings::types::AuthScheme::ApiKey,
    );
    let settings = types::ConnectionSettings {
        base_url: format!("http://{addr}/v1"),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    };
    let prepared = plugin.call().unwrap().build_request(&chat_request(), &settings).unwrap().unwrap();
    let transport = Transport::new().unwrap();
    let sent = sample_async(n, || async {
        let t = Instant::now();
        let response = transport.send(prepared.clone(), &target).await.unwrap();
        black_box(response.body(1 << 20).await.unwrap());
        t.elapsed()
    })
    .await;
    report("loopback: llmnode transport alone (send + body)", &sent);
    let request = chat_request();
    let by_hand = sample_async(n, || async {
        let t = Instant::now();
        let prepared = plugin.call().unwrap().build_request(&request, &settings).unwrap().unwrap();
        let response = transport.send(prepared, &target).await.unwrap();
        let (status, headers, body) = response.body(1 << 20).await.unwrap();
        let parsed = plugin.call().unwrap().parse_response(&types::HttpResponse { status, headers, body }).unwrap();
        black_box(parsed.unwrap());
        t.elapsed()
    })
    .await;
    report("loopback: plugin + transport, no engine", &by_hand);

    // No limits at all: 0 turns off the RPM the openai plugin declares.
    let mut connections = ConnectionSet::default();
    let mut unlimited =
        Connection::with_key("bench", "openai", format!("http://{addr}/v1"), "gpt-4o-mini", Secret::new(KEY));
    unlimited.limits.rpm = Some(0);
    connections.insert(unlimited);
    let registry = PluginRegistry::load(rt, None).unwrap();
    let engine = Engine::new(&connections, &registry).unwrap();
    let workflow = Arc::new(
        Workflow::parse(
            r#"{"name":"bench","nodes":[{"id":"ask","node_type":"llm","config":{
                "primary_connection":"bench","model":"gpt-4o-mini",
                "messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello!"}]}}],
              "output":"{{nodes.ask.output.text}}"}"#,
        )
        .unwrap(),
    );
    engine.check(&workflow).unwrap();
    let sink = Arc::new(NoEvents);
    let by = llmnode::principal::Principal::cli("cli:bench");
    let full = sample_async(n, || async {
        let t = Instant::now();
        let report = engine.run(workflow.clone(), Default::default(), &by, sink.clone()).await;
        assert!(report.ok, "{:?}", report.error);
        black_box(report);
        t.elapsed()
    })
    .await;
    report("loopback: llmnode one-node workflow, same request", &full);
    // The same with every limit on (generous enough never to refuse).
    let mut limited = ConnectionSet::default();
    let mut c = Connection::with_key("bench", "openai", format!("http://{addr}/v1"), "gpt-4o-mini", Secret::new(KEY));
    c.limits =
        Limits { rpm: Some(1_000_000), tpm: Some(1_000_000_000), daily_budget_usd: Some(1e9), ..Default::default() };
    limited.insert(c);
    let limited_engine = Engine::new(&limited, &registry).unwrap();
    let with_limits = sample_async(n, || async {
        let t = Instant::now();
        let report = limited_engine.run(workflow.clone(), Default::default(), &by, sink.clone()).await;
        assert!(report.ok, "{:?}", report.error);
        t.elapsed()
    })
    .await;
    report("loopback: same, with rpm + tpm + budget limits", &with_limits);

    // The same with every attempt recorded: a durable usage row acknowledged
    // before the node is reported (group commit to a real SQLite file).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llmnode.db");
    let mut store = Store::open(&path).unwrap();
    let ws = store.transaction(|tx| workspaces::create(tx, "bench", |_| Ok::<_, StoreError>(vec![0]))).unwrap();
    let log = UsageLog::open(&path, None, None).unwrap();
    let scope = UsageScope { workspace_id: ws.id, workspace: ws.name.clone(), alert_channels: Vec::new() };
    let options = EngineOptions { usage: Some(log.sink(scope)), ..Default::default() };
    let recorded_engine = Engine::with_options(&connections, &registry, options).unwrap();
    let recorded = sample_async(n, || async {
        let t = Instant::now();
        let report = recorded_engine.run(workflow.clone(), Default::default(), &by, sink.clone()).await;
        assert!(report.ok, "{:?}", report.error);
        t.elapsed()
    })
    .await;
    report("loopback: same, usage recorded durably", &recorded);
    drop(recorded_engine);
    // Every limit on, shared through the store, and usage recorded: what
    // the daemon does for a budgeted connection.
    let shared = llmnode::limits::StoreLimits::open(&path).unwrap();
    let scope = UsageScope { workspace_id: ws.id, workspace: ws.name.clone(), alert_channels: Vec::new() };
    let options =
        EngineOptions { usage: Some(log.sink(scope)), limits: Some(shared), scope: ws.id, ..Default::default() };
    let shared_engine = Engine::with_options(&limited, &registry, options).unwrap();
    let shared_limits = sample_async(n, || async {
        let t = Instant::now();
        let report = shared_engine.run(workflow.clone(), Default::default(), &by, sink.clone()).await;
        assert!(report.ok, "{:?}", report.error);
        t.elapsed()
    })
    .await;
    report("loopback: same, limits shared through the store", &shared_limits);
    drop(shared_engine);
    log.close().await;

    let template = Arc::new(
        Workflow::parse(r#"{"name":"t","nodes":[{"id":"t","node_type":"template","config":{"template":"hi"}}],"output":"{{nodes.t.output.text}}"}"#)
            .unwrap(),
    );
    let engine_only = sample_async(n, || async {
        let t = Instant::now();
        black_box(engine.run(template.clone(), Default::default(), &by, sink.clone()).await);
        t.elapsed()
    })
    .await;
    report("engine alone: one template node, no upstream", &engine_only);
    println!(
        "{:<52} {:>7} {:>10} {:>10}",
        "host added latency per llm call (difference)",
        "",
        fmt(median(&full).saturating_sub(median(&bare))),
        fmt(p99(&full).saturating_sub(p99(&bare))),
    );
}

fn chat_request() -> types::ChatRequest {
    let message = |role, text: &str| types::Message {
        role,
        content: vec![types::ContentPart::Text(text.into())],
        name: None,
        tool_call_id: None,
        tool_calls: Vec::new(),
        cache_breakpoint: false,
    };
    types::ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![message(types::Role::System, "You are terse."), message(types::Role::User, "Hello!")],
        tools: Vec::new(),
        tool_choice: None,
        response_format: None,
        temperature: Some(0.2),
        top_p: None,
        max_tokens: Some(256),
        stop: Vec::new(),
        stream: false,
        cache: None,
        reasoning: None,
        grounding: None,
    }
}

/// `n` timings of `f` after a short warm-up, sorted.
fn sample(n: usize, mut f: impl FnMut() -> Duration) -> Vec<Duration> {
    for _ in 0..(n / 10).clamp(1, 100) {
        f();
    }
    let mut v: Vec<Duration> = (0..n.max(1)).map(|_| f()).collect();
    v.sort();
    v
}

async fn sample_async<F: std::future::Future<Output = Duration>>(n: usize, mut f: impl FnMut() -> F) -> Vec<Duration> {
    for _ in 0..(n / 10).clamp(1, 100) {
        f().await;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        v.push(f().await);
    }
    v.sort();
    v
}

fn median(v: &[Duration]) -> Duration {
    v[v.len() / 2]
}

fn p99(v: &[Duration]) -> Duration {
    v[((v.len() * 99) / 100).min(v.len() - 1)]
}

fn report(what: &str, v: &[Duration]) {
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!("{what:<52} {:>7} {:>10} {:>10} {:>10}", v.len(), fmt(median(v)), fmt(p99(v)), fmt(mean));
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.1} µs") }
}
