//! OpenTelemetry export through the real binary: the daemon and `llmnode run`
//! send their spans and the GenAI client metrics to an OTLP/HTTP receiver on
//! loopback, named and attributed by the GenAI semantic conventions, with
//! token counts as the simulated provider reported them. No prompt, answer or
//! key is in any byte the receiver gets, unless the operator opts in to
//! content capture (then prompts and answers are, keys still not); without an
//! endpoint, or with the SDK disabled, nothing is sent at all.

use crate::support::daemon::{Daemon, KEY, METRICS_TOKEN, Setup};
use crate::support::leak;
use crate::support::llmnode_command;
use crate::support::otlp_receiver::{OtlpReceiver, PointSeen, SpanSeen};
use serde_json::{Value, json};
use std::time::Duration;

/// The prompt every test sends: it must reach no receiver without the opt-in.
const PROMPT: &str = "Summarise the quarterly plan codenamed bluefinch-4471";

/// OTLP's span kind for a client call.
const CLIENT: i64 = 3;
/// OTLP's error status code.
const ERROR: i64 = 2;

fn attr<'a>(span: &'a SpanSeen, key: &str) -> &'a Value {
    span.attributes.get(key).unwrap_or(&Value::Null)
}

/// The one client span served through `connection` for `operation`.
fn attempt<'a>(spans: &'a [SpanSeen], operation: &str, connection: &str) -> &'a SpanSeen {
    let found: Vec<&SpanSeen> = spans
        .iter()
        .filter(|s| s.kind == CLIENT && attr(s, "gen_ai.operation.name") == operation)
        .filter(|s| attr(s, "llmnode.connection") == connection)
        .collect();
    assert_eq!(found.len(), 1, "one {operation} attempt on {connection}: {spans:#?}");
    found[0]
}

fn parent<'a>(spans: &'a [SpanSeen], child: &SpanSeen) -> &'a SpanSeen {
    spans.iter().find(|s| s.span_id == child.parent_span_id).unwrap_or_else(|| panic!("no parent of {child:#?}"))
}

/// Points of `metric` whose attributes include every pair in `with`.
fn points<'a>(all: &'a [PointSeen], metric: &str, with: &[(&str, Value)]) -> Vec<&'a PointSeen> {
    all.iter().filter(|p| p.metric == metric && with.iter().all(|(k, v)| p.attributes.get(*k) == Some(v))).collect()
}

/// Everything the receiver got, bytes as sent (headers and bodies).
fn everything(otlp: &OtlpReceiver) -> Vec<u8> {
    let mut all = Vec::new();
    for seen in otlp.requests() {
        all.extend_from_slice(seen.all_text().as_bytes());
        all.extend_from_slice(&seen.body);
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `llmnode run` of workflow `plan`: one llm node sending [`PROMPT`] on the
/// `openai` connection. The caller adds the `OTEL_*` variables.
fn run_plan(s: &Setup) -> std::process::Command {
    let workflow = json!({ "name": "plan", "nodes": [{ "id": "summary", "node_type": "llm", "config": {
        "primary_connection": "openai", "messages": [{ "role": "user", "content": PROMPT }] } }] });
    let file = s.dir.path().join("plan.json");
    std::fs::write(&file, workflow.to_string()).unwrap();
    let mut cmd = llmnode_command(&s.data());
    cmd.arg("run").arg(&file).env("K", KEY);
    cmd
}

/// Run `cmd` to its end; the run must succeed (telemetry never fails it).
async fn succeed(mut cmd: std::process::Command) -> std::process::Output {
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[tokio::test]
async fn the_daemon_exports_genai_spans_and_metrics_over_otlp_json_and_no_prompt_or_key() {
    let s = Setup::new(Duration::ZERO).await;
    let otlp = OtlpReceiver::start().await;
    let endpoint = otlp.endpoint();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-tenant=team-7"),
        ("OTEL_SERVICE_NAME", "llmnode-e2e"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        // Metrics come only with the flush at shutdown.
        ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
    ];
    let mut d = Daemon::start_with_env(&s.data(), &s.dir.path().join("daemon.log"), &[], &env).await;

    let chat = |model: &str| {
        json!({ "model": model, "max_tokens": 40, "temperature": 0.5,
            "messages": [{ "role": "user", "content": PROMPT }] })
    };
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("openai/gpt-4o-mini"))).await;
    assert_eq!(status, 200, "{answer}");
    let (status, refused) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("limited/gpt-4o-mini"))).await;
    assert_eq!(status, 429, "{refused}");
    let embed = json!({ "model": "openai/text-embedding-3-small", "input": PROMPT });
    let (status, vectors) = d.call("POST", "/v1/embeddings", &s.member, Some(embed)).await;
    assert_eq!(status, 200, "{vectors}");

    // Spans go out in batches while the daemon runs; metrics wait for shutdown.
    otlp.wait_for("three attempt spans", |o| o.spans().iter().filter(|s| s.kind == CLIENT).count() >= 3).await;
    assert!(otlp.points().is_empty(), "no metrics before the interval or the shutdown");
    d.stop().await;
    let spans = otlp.spans();
    let all_points = otlp.points();
    assert!(!all_points.is_empty(), "the shutdown flushed the metrics");

    // The served chat attempt: a client span named `{operation} {model}`.
    let served = attempt(&spans, "chat", "openai");
    assert_eq!(served.name, "chat gpt-4o-mini");
    assert_eq!(served.resource.get("service.name"), Some(&json!("llmnode-e2e")));
    assert_eq!(attr(served, "gen_ai.provider.name"), "openai");
    assert_eq!(attr(served, "gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(attr(served, "gen_ai.response.model"), "gpt-4o-mini");
    assert_eq!(attr(served, "gen_ai.request.max_tokens"), 40);
    assert_eq!(attr(served, "gen_ai.request.temperature"), 0.5);
    let (input, output) = (&answer["usage"]["prompt_tokens"], &answer["usage"]["completion_tokens"]);
    assert!(input.as_u64().unwrap() > 0 && output.as_u64().unwrap() > 0, "{answer}");
    assert_eq!(attr(served, "gen_ai.usage.input_tokens"), input);
    assert_eq!(attr(served, "gen_ai.usage.output_tokens"), output);
    assert_eq!(attr(served, "gen_ai.usage.cache_read.input_tokens"), 0);
    assert!(attr(served, "llmnode.cost_usd").as_f64().unwrap() > 0.0, "{served:#?}");
    assert_eq!(attr(served, "llmnode.node"), "chat");
    assert!(served.status != ERROR && attr(served, "error.type").is_null(), "{served:#?}");
    for key in ["gen_ai.input.messages", "gen_ai.output.messages"] {
        assert!(attr(served, key).is_null(), "{key} without the opt-in: {served:#?}");
    }
    // Under its node's span, under the run's.
    let node = parent(&spans, served);
    assert_eq!((node.name.as_str(), attr(node, "llmnode.node")), ("node chat", &json!("chat")));
    let run = parent(&spans, node);
    assert!(run.name.starts_with("workflow ") && run.parent_span_id.is_empty(), "{run:#?}");
    assert_eq!(attr(run, "llmnode.workspace"), "default");

    // The refused attempt names its error class and fails its span.
    let failed = attempt(&spans, "chat", "limited");
    assert_eq!((failed.name.as_str(), failed.status), ("chat gpt-4o-mini", ERROR), "{failed:#?}");
    assert_eq!(attr(failed, "error.type"), "rate_limit");
    assert!(attr(failed, "gen_ai.usage.input_tokens").is_null(), "{failed:#?}");
    let failed_node = parent(&spans, failed);
    assert_eq!((failed_node.status, attr(failed_node, "error.type")), (ERROR, &json!("rate_limit")));

    // The embeddings attempt.
    let embedded = attempt(&spans, "embeddings", "openai");
    assert_eq!(embedded.name, "embeddings text-embedding-3-small");
    assert_eq!(attr(embedded, "gen_ai.usage.input_tokens"), &vectors["usage"]["prompt_tokens"]);

    // Metrics: the conventions' names, units and attributes.
    let chat_attrs = [
        ("gen_ai.operation.name", json!("chat")),
        ("gen_ai.provider.name", json!("openai")),
        ("gen_ai.request.model", json!("gpt-4o-mini")),
    ];
    let kind = |k: &str| [&chat_attrs[..], &[("gen_ai.token.type", json!(k))]].concat();
    let served_input = points(&all_points, "gen_ai.client.token.usage", &kind("input"));
    assert_eq!(served_input.len(), 1, "{all_points:#?}");
    assert_eq!((served_input[0].unit.as_str(), served_input[0].count), ("{token}", 1));
    assert_eq!(served_input[0].value, input.as_f64().unwrap());
    let served_output = points(&all_points, "gen_ai.client.token.usage", &kind("output"));
    assert_eq!(served_output.len(), 1, "{all_points:#?}");
    assert_eq!(served_output[0].value, output.as_f64().unwrap());
    let durations = points(&all_points, "gen_ai.client.operation.duration", &chat_attrs);
    assert_eq!(durations.len(), 2, "served and refused: {durations:#?}");
    assert!(durations.iter().all(|p| p.unit == "s" && p.count == 1));
    let failed_durations: Vec<_> = durations.iter().filter(|p| p.attributes.contains_key("error.type")).collect();
    assert_eq!(failed_durations.len(), 1);
    assert_eq!(failed_durations[0].attributes["error.type"], "rate_limit");
    let embed_tokens =
        points(&all_points, "gen_ai.client.token.usage", &[("gen_ai.operation.name", json!("embeddings"))]);
    assert_eq!(embed_tokens.len(), 2, "input and output: {embed_tokens:#?}");
    assert!(!points(&all_points, "llmnode.cost", &[("llmnode.connection", json!("openai"))]).is_empty());

    // Every request carried the operator's header; none carried content or a key.
    let requests = otlp.requests();
    assert!(requests.iter().all(|r| r.headers.get("x-collector-tenant").is_some_and(|v| v == "team-7")));
    let bytes = everything(&otlp);
    leak::assert_clean_bytes("the OTLP export", &bytes);
    for secret in
        [KEY, METRICS_TOKEN, PROMPT, "bluefinch", answer["choices"][0]["message"]["content"].as_str().unwrap()]
    {
        assert!(!contains(&bytes, secret), "`{secret}` was exported");
    }
    // The export-only fields stayed out of the (debug-level) log.
    let log = d.log_text();
    assert!(log.contains("attempt{connection=") && !log.contains("gen_ai."), "{log}");
    d.assert_log_clean();
}

#[tokio::test]
async fn a_run_exports_in_protobuf_and_the_content_opt_in_adds_prompts_and_answers_but_never_a_key() {
    let s = Setup::new(Duration::ZERO).await;
    let otlp = OtlpReceiver::start().await;
    let mut cmd = run_plan(&s);
    cmd.arg("--json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL");
    let out = succeed(cmd).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report["nodes"][0]["output"]["text"].as_str().unwrap().to_string();
    let usage = &report["nodes"][0]["output"]["usage"];

    // Everything arrived by the time the command ended: it flushes on exit.
    let requests = otlp.requests();
    assert!(requests.iter().all(|r| r.headers["content-type"] == "application/x-protobuf"), "{requests:?}");
    let spans = otlp.spans();
    let served = attempt(&spans, "chat", "openai");
    assert_eq!(served.name, "chat gpt-4o-mini");
    assert_eq!(attr(served, "gen_ai.usage.input_tokens"), &usage["input"]);
    assert_eq!(attr(served, "gen_ai.usage.output_tokens"), &usage["output"]);
    assert_eq!(parent(&spans, parent(&spans, served)).name, "workflow plan");
    assert_eq!(served.resource.get("service.name"), Some(&json!("llmnode")), "the default service name");

    // The opt-in: the prompt and the answer in the conventions' message shape.
    let sent: Value = serde_json::from_str(attr(served, "gen_ai.input.messages").as_str().unwrap()).unwrap();
    assert_eq!(sent, json!([{ "role": "user", "parts": [{ "type": "text", "content": PROMPT }] }]));
    let answered: Value = serde_json::from_str(attr(served, "gen_ai.output.messages").as_str().unwrap()).unwrap();
    assert_eq!(answered[0]["role"], "assistant");
    assert_eq!(answered[0]["parts"], json!([{ "type": "text", "content": text }]));
    assert_eq!(answered[0]["finish_reason"], "stop");

    let all_points = otlp.points();
    let input = points(&all_points, "gen_ai.client.token.usage", &[("gen_ai.token.type", json!("input"))]);
    assert_eq!(input.len(), 1, "{all_points:#?}");
    assert_eq!(input[0].value, usage["input"].as_f64().unwrap());

    let bytes = everything(&otlp);
    assert!(contains(&bytes, PROMPT), "the opt-in exports the prompt");
    leak::assert_clean_bytes("the OTLP export", &bytes);
    assert!(!contains(&bytes, KEY));
}

#[tokio::test]
async fn nothing_is_exported_without_an_endpoint_or_with_the_sdk_disabled() {
    let s = Setup::new(Duration::ZERO).await;
    let otlp = OtlpReceiver::start().await;
    let endpoint = otlp.endpoint();
    // The daemon, pointed at the receiver but disabled.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10"),
    ];
    let mut d = Daemon::start_with_env(&s.data(), &s.dir.path().join("daemon.log"), &[], &env).await;
    let chat = json!({ "model": "openai/gpt-4o-mini", "messages": [{ "role": "user", "content": PROMPT }] });
    let (status, body) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.stop().await;

    // A run with every other OTEL variable but no endpoint: the spec's
    // default collector port on loopback would get it if anything were sent.
    let default_port =
        ["127.0.0.1:4318", "[::1]:4318"].iter().filter_map(|a| std::net::TcpListener::bind(a).ok()).collect::<Vec<_>>();
    for l in &default_port {
        l.set_nonblocking(true).unwrap();
    }
    let mut cmd = run_plan(&s);
    cmd.env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_SERVICE_NAME", "x")
        .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        .env("OTEL_BSP_SCHEDULE_DELAY", "10")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    succeed(cmd).await;

    assert!(otlp.requests().is_empty(), "{:?}", otlp.requests());
    for l in &default_port {
        assert!(l.accept().is_err(), "something connected to the default OTLP port {:?}", l.local_addr());
    }
}

#[tokio::test]
async fn a_collector_that_cannot_be_reached_is_named_on_the_log_without_its_credentials() {
    let s = Setup::new(Duration::ZERO).await;
    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (token, in_query) = ("collector-token-5d1c9e", "collector-query-3b7d");
    let mut cmd = run_plan(&s);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{closed}/?key={in_query}"))
        .env("OTEL_EXPORTER_OTLP_HEADERS", format!("authorization=Bearer {token}"))
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    let out = succeed(cmd).await;
    let err = String::from_utf8_lossy(&out.stderr);
    for signal in ["traces", "metrics"] {
        let lines: Vec<&str> = err.lines().filter(|l| l.contains(&format!("exporting {signal} failed"))).collect();
        assert_eq!(lines.len(), 1, "one warning for {signal}:\n{err}");
        assert!(lines[0].contains(&closed.to_string()), "the warning names the endpoint: {}", lines[0]);
    }
    let all = [&out.stdout[..], &out.stderr[..]].concat();
    for secret in [token, in_query, KEY, PROMPT] {
        assert!(!contains(&all, secret), "{secret} is in the run's output:\n{err}");
    }

    // A password in the endpoint would reach the HTTP client's own log lines:
    // refused by the variable's name, and the run goes on without export.
    let password = "collector-pass-8a2f";
    let mut cmd = run_plan(&s);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://otel:{password}@{closed}"));
    let out = succeed(cmd).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OpenTelemetry export is off: OTEL_EXPORTER_OTLP_ENDPOINT holds a user name or password"),
        "{err}"
    );
    assert!(!err.contains("exporting traces failed"), "nothing was exported:\n{err}");
    assert!(!contains(&[&out.stdout[..], &out.stderr[..]].concat(), password), "{err}");
}
