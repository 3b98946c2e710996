//! The OpenAI plugin against real OpenAI wire data (`tests/fixtures/openai/`),
//! through the engine, the sandbox and real HTTP on loopback.

use crate::support::chat::{
    calls_of, expected_from_completion, expected_from_sse, node_config_from, normalize, same_calls,
};
use crate::support::{self, Reply, Upstream};
use llmnode::error_class::ErrorClass;
use serde_json::{Value, json};

const KEY: &str = "fake-openai-key-for-tests-9c8b7a6f5e4d3c2b1a00";

/// Run one exchange: the node built from `request` is served `reply`; returns
/// the body the upstream received and the node's output.
async fn exchange(request: &Value, reply: impl Fn() -> Reply + Send + Sync + 'static) -> (Value, Value) {
    let upstream = Upstream::start(move |_| reply()).await;
    let engine = support::engine(vec![support::connection("o", "openai", &upstream.url("/v1"), KEY)]);
    let report = support::run(&engine, &support::one_node("o", &[], node_config_from(request)), json!({})).await;
    assert!(report.ok, "{report:#?}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}"));
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    (seen[0].json(), report.nodes[0].output.clone().unwrap())
}

/// The spec's examples use the deprecated `max_tokens` even for `gpt-5.4`; the
/// gpt-5 and o-series models reject it, so the plugin sends
/// `max_completion_tokens` to them (and `max_tokens` to every other model, which
/// OpenAI-compatible servers understand).
fn expected_wire(mut request: Value) -> Value {
    let model = request["model"].as_str().unwrap_or_default().to_string();
    let reasoning =
        model.starts_with("gpt-5") || (model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()));
    if let (true, Some(obj)) = (reasoning, request.as_object_mut())
        && let Some(max) = obj.remove("max_tokens")
    {
        obj.insert("max_completion_tokens".into(), max);
    }
    request
}

#[tokio::test]
async fn spec_examples_round_trip() {
    for name in ["default", "functions-tools", "image-input"] {
        let request = support::fixture_json(&format!("openai/spec-examples/{name}.request.json"));
        let response = support::fixture(&format!("openai/spec-examples/{name}.response.json"));
        let completion: Value = serde_json::from_slice(&response).unwrap();
        let (sent, output) = exchange(&request, move || Reply::json(200, response.clone())).await;
        assert_eq!(normalize(sent), normalize(expected_wire(request.clone())), "{name}: request differs");

        let (text, calls, finish, input, out) = expected_from_completion(&completion);
        assert_eq!(output["text"], json!(text), "{name}");
        assert!(same_calls(&calls_of(&output), &calls), "{name}: {output}");
        assert_eq!(output["finish_reason"], json!(finish), "{name}");
        assert_eq!(output["usage"]["input"], json!(input), "{name}");
        assert_eq!(output["usage"]["output"], json!(out), "{name}");
    }
}

#[tokio::test]
async fn recorded_multi_turn_exchanges_round_trip() {
    for file in ["tool-choice-required", "json-schema-response-format-with-tools"] {
        let cassette = support::fixture_json(&format!("openai/recorded/{file}.json"));
        for (turn, interaction) in cassette["interactions"].as_array().unwrap().iter().enumerate() {
            let request = interaction["request"]["body"].clone();
            let completion = interaction["response"]["body"].clone();
            let body = completion.to_string();
            let (sent, output) = exchange(&request, move || Reply::json(200, body.clone())).await;
            assert_eq!(normalize(sent), normalize(request), "{file} turn {turn}: request differs");
            let (text, calls, finish, input, out) = expected_from_completion(&completion);
            assert_eq!(output["text"], json!(text), "{file} turn {turn}");
            assert!(same_calls(&calls_of(&output), &calls), "{file} turn {turn}: {output}");
            assert_eq!(output["finish_reason"], json!(finish));
            assert_eq!(
                (output["usage"]["input"].as_u64(), output["usage"]["output"].as_u64()),
                (Some(input), Some(out))
            );
        }
    }
}

#[tokio::test]
async fn recorded_streams_replay_byte_exact() {
    let mut files: Vec<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openai/sse"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sse"))
            .map(|n| format!("openai/sse/{n}"))
            .collect();
    files.push("openai/recorded/stream-tool-call-include-usage.1.response.sse".into());
    files.push("openai/recorded/stream-tool-call-include-usage.2.response.sse".into());
    files.sort();
    assert_eq!(files.len(), 14);
    for (n, file) in files.iter().enumerate() {
        let bytes = support::fixture(file);
        let (text, calls, finish, usage) = expected_from_sse(&bytes);
        // Odd piece sizes split lines, CRLFs and UTF-8 sequences across reads.
        let piece = [1, 7, 64, 1000][n % 4];
        let served = bytes.clone();
        let request =
            json!({ "model": "gpt-4o-2024-08-06", "messages": [{ "role": "user", "content": "x" }], "stream": true });
        let (sent, output) = exchange(&request, move || Reply::sse(&served, piece)).await;
        assert_eq!(sent["stream_options"], json!({ "include_usage": true }), "{file}");
        assert_eq!(output["text"], json!(text), "{file}");
        assert!(same_calls(&calls_of(&output), &calls), "{file}: {output}");
        assert_eq!(output["finish_reason"], json!(finish), "{file}");
        let cached = usage["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
        assert_eq!(output["usage"]["input"], json!(usage["prompt_tokens"].as_u64().unwrap() - cached), "{file}");
        assert_eq!(output["usage"]["output"], usage["completion_tokens"], "{file}");
    }
}

#[tokio::test]
async fn the_recorded_tool_call_turns_are_sent_as_recorded() {
    let cassette = support::fixture_json("openai/recorded/stream-tool-call-include-usage.json");
    for (turn, interaction) in cassette["interactions"].as_array().unwrap().iter().enumerate() {
        let request = interaction["request"]["body"].clone();
        let sse =
            support::fixture(&format!("openai/recorded/{}", interaction["response"]["body_file"].as_str().unwrap()));
        let (sent, _) = exchange(&request, move || Reply::sse(&sse, 512)).await;
        assert_eq!(normalize(sent), normalize(request), "turn {turn}");
    }
}

/// Run a one-node workflow over `connections` ("a" then "b") whose first
/// upstream answers `first`; the second always serves plain text.
/// Connection b's key, distinct from a's.
const KEY_B: &str = "fake-backup-key-for-tests-77e1d2c3b4a5968778695a4b";

async fn with_failover(
    first: impl Fn() -> Reply + Send + Sync + 'static,
    failover_on: Value,
) -> (llmnode::engine::RunReport, usize, usize) {
    let bad = Upstream::start(move |_| first()).await;
    let good_body = support::fixture("openai/spec-examples/default.response.json");
    let good = Upstream::start(move |_| Reply::json(200, good_body.clone())).await;
    let engine = support::engine(vec![
        support::connection("a", "openai", &bad.url("/v1"), KEY),
        support::connection("b", "openai", &good.url("/v1"), KEY_B),
    ]);
    let mut cfg = json!({});
    if !failover_on.is_null() {
        cfg["failover_on"] = failover_on;
    }
    let report = support::run(&engine, &support::one_node("a", &["b"], cfg), json!({})).await;
    for key in [KEY, KEY_B] {
        support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), key);
    }
    // Each connection's key goes to its own upstream only.
    for seen in bad.seen() {
        support::assert_key_absent("requests to connection a", &seen.all_text(), KEY_B);
    }
    for seen in good.seen() {
        support::assert_key_absent("requests to connection b", &seen.all_text(), KEY);
        assert_eq!(seen.method, axum::http::Method::POST);
    }
    (report, bad.seen().len(), good.seen().len())
}

#[tokio::test]
async fn errors_are_classified_and_fail_over_only_when_allowed() {
    let catalog = support::fixture_json("openai/errors/documented-error-catalog.json");
    let rate_limited = catalog["reconstructed_bodies"]["429_tpm_rate_limit_reached"].to_string();
    let (report, tried_a, tried_b) =
        with_failover(move || Reply::json(429, rate_limited.clone()).header("retry-after", "20"), Value::Null).await;
    assert!(report.ok);
    assert_eq!((tried_a, tried_b), (1, 1));
    assert_eq!(report.nodes[0].connection.as_deref(), Some("b"));
    assert_eq!(report.nodes[0].skipped[0].class, Some(ErrorClass::RateLimit));
    assert!(report.nodes[0].skipped[0].reason.contains("Rate limit reached"), "{:?}", report.nodes[0].skipped);
    assert_eq!(report.attempts.len(), 2);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::RateLimit));

    let server_error = catalog["reconstructed_bodies"]["500_server_error"].to_string();
    let (report, _, _) = with_failover(move || Reply::json(500, server_error.clone()), Value::Null).await;
    assert!(report.ok && report.nodes[0].skipped[0].class == Some(ErrorClass::ServerError));

    // 401 is `auth`, which does not fail over by default.
    let unauthorized = support::fixture("openai/errors/401-invalid-api-key.body.json");
    let (report, tried_a, tried_b) = with_failover(move || Reply::json(401, unauthorized.clone()), Value::Null).await;
    assert!(!report.ok);
    assert_eq!((tried_a, tried_b), (1, 0));
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("HTTP 401") && error.contains("auth") && error.contains("invalid_api_key"), "{error}");
    assert!(error.contains("does not fail over"), "{error}");

    // … unless the node asks for it.
    let unauthorized = support::fixture("openai/errors/401-invalid-api-key.body.json");
    let (report, _, tried_b) = with_failover(move || Reply::json(401, unauthorized.clone()), json!(["auth"])).await;
    assert!(report.ok && tried_b == 1);
}

#[tokio::test]
async fn a_failed_stream_request_gets_a_json_error_and_is_classified() {
    let recorded = support::fixture_json("openai/errors/401-on-stream-request.json");
    let body = recorded["interactions"][0]["response"]["body_raw"].as_str().unwrap().to_string();
    let upstream = Upstream::start(move |_| Reply::json(401, body.clone())).await;
    let engine = support::engine(vec![support::connection("o", "openai", &upstream.url("/v1"), KEY)]);
    let report = support::run(&engine, &support::one_node("o", &[], json!({ "stream": true })), json!({})).await;
    assert!(!report.ok);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::Auth));
}
