//! The Qwen plugin (Alibaba Cloud Model Studio / DashScope, OpenAI-compatible
//! mode) through the engine, the sandbox and real HTTP on loopback.
//!
//! No DashScope traffic was ever recorded (`tests/fixtures/README.md`, qwen/):
//! the upstream's replies are built from the documented response example and
//! the behaviour described in the docs digest
//! (`qwen/dashscope-endpoints-and-differences.json`); each test says which part.

use crate::support::{self, Reply, Seen, Upstream};
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use llmnode::runtime::bindings::types;
use serde_json::{Value, json};

const KEY: &str = "fake-dashscope-key-for-tests-a0001";

/// The digest's OpenAI-compatible-mode section.
fn digest() -> Value {
    support::fixture_json("qwen/dashscope-endpoints-and-differences.json")["openai_compatible_mode"].clone()
}

/// The docs' non-streamed response example, without the digest's `_source` note.
fn documented_completion() -> Value {
    let mut c = digest()["docs_example_nonstream_response"].clone();
    c.as_object_mut().unwrap().remove("_source");
    c
}

/// The documented example's usage priced by hand from the plugin's table for
/// `qwen-plus` (USD per million: input 0.40, cached input 0.08, output 1.20).
/// Of 3019 prompt tokens 2048 were cache hits, so 971 are billed at the input
/// price (the contract's input excludes cache reads); 104 output tokens.
const DOCUMENTED_COST_QWEN_PLUS: f64 = (971.0 * 0.40 + 2048.0 * 0.08 + 104.0 * 1.20) / 1e6;

/// Run a one-node workflow over one Qwen connection with `options`; checks what
/// every exchange must satisfy (the route, the key as a bearer token and only
/// there, never in the report or the logs) and returns the first request and
/// the report.
async fn exchange(
    options: &[(&str, &str)],
    cfg: Value,
    reply: impl Fn() -> Reply + Send + Sync + 'static,
) -> (Seen, RunReport) {
    let upstream = Upstream::start(move |_| reply()).await;
    let mut connection = support::connection("q", "qwen", &upstream.url("/compatible-mode/v1"), KEY);
    for (k, v) in options {
        connection.options.insert((*k).into(), (*v).into());
    }
    let engine = support::engine(vec![connection]);
    let report = support::run(&engine, &support::one_node("q", &[], cfg), json!({})).await;
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
    let seen = upstream.seen();
    assert!(!seen.is_empty(), "{report:#?}");
    for s in &seen {
        assert_eq!(s.uri, "/compatible-mode/v1/chat/completions");
        assert_eq!(s.headers["authorization"], format!("Bearer {KEY}"));
    }
    (seen[0].clone(), report)
}

/// A stream as the digest describes DashScope's: OpenAI chunks with
/// `"usage": null` on each, `reasoning_content` deltas before the answer's
/// `content` deltas, a finish chunk, then (asked for with `include_usage`) one
/// chunk with `"choices": []` and the usage (the documented example's), then
/// `[DONE]`. Ids are UUID-style, `system_fingerprint` null, as documented.
fn thinking_stream(reasoning: &[&str], answer: &[&str]) -> Vec<u8> {
    let c = documented_completion();
    let chunk = |choices: Value, usage: Value| {
        let chunk = json!({
            "id": c["id"], "object": "chat.completion.chunk", "created": c["created"], "model": c["model"],
            "system_fingerprint": null, "choices": choices, "usage": usage
        });
        format!("data: {chunk}\n\n")
    };
    let delta =
        |d: Value, finish: Value| json!([{ "index": 0, "delta": d, "finish_reason": finish, "logprobs": null }]);
    let mut out =
        chunk(delta(json!({ "role": "assistant", "content": "", "reasoning_content": "" }), Value::Null), Value::Null);
    for r in reasoning {
        out += &chunk(delta(json!({ "content": null, "reasoning_content": r }), Value::Null), Value::Null);
    }
    for a in answer {
        out += &chunk(delta(json!({ "content": a, "reasoning_content": null }), Value::Null), Value::Null);
    }
    out += &chunk(delta(json!({ "content": "" }), json!("stop")), Value::Null);
    out += &chunk(json!([]), c["usage"].clone());
    out += "data: [DONE]\n\n";
    out.into_bytes()
}

#[tokio::test]
async fn the_documented_answer_is_parsed_and_priced_with_its_cache_hits() {
    let completion = documented_completion();
    let body = completion.to_string();
    let messages = json!([
        { "role": "system", "content": "You are a helpful assistant." },
        { "role": "user", "content": "Who are you?" }
    ]);
    let cfg = json!({ "model": "qwen-plus", "messages": messages, "temperature": 0.7, "max_tokens": 512 });
    let (seen, report) = exchange(&[], cfg, move || Reply::json(200, body.clone())).await;
    assert!(report.ok, "{report:#?}");
    // Plain OpenAI: no `enable_thinking` (qwen-plus does not think by default
    // and the connection did not ask), no stream fields.
    assert_eq!(
        seen.json(),
        json!({ "model": "qwen-plus", "messages": messages, "temperature": 0.7, "max_tokens": 512 })
    );
    let output = report.nodes[0].output.clone().unwrap();
    assert_eq!(output["text"], completion["choices"][0]["message"]["content"]);
    assert_eq!(output["finish_reason"], "stop");
    assert_eq!(output["model"], "qwen3.6-plus", "the model that answered");
    assert_eq!(output["usage"]["input"], 3019 - 2048);
    assert_eq!(output["usage"]["cache_read"], 2048);
    assert_eq!(output["usage"]["output"], 104);
    assert!((output["cost_usd"].as_f64().unwrap() - DOCUMENTED_COST_QWEN_PLUS).abs() < 1e-12, "{}", output["cost_usd"]);
}

#[tokio::test]
async fn a_thinking_stream_gives_reasoning_answer_and_cached_usage() {
    let reasoning = ["The user asks ", "who I am. ", "I am Qwen."];
    let answer = ["I am a large-scale ", "language model developed by Alibaba Cloud. ", "My name is Qwen."];
    let bytes = thinking_stream(&reasoning, &answer);
    for piece in [1, 5, 4096] {
        let served = bytes.clone();
        let cfg = json!({ "model": "qwen-plus", "stream": true });
        let (seen, report) = exchange(&[("enable_thinking", "true")], cfg, move || Reply::sse(&served, piece)).await;
        assert!(report.ok, "piece {piece}: {report:#?}");
        let sent = seen.json();
        assert_eq!(sent["stream"], true);
        // DashScope sends usage in a stream only when asked.
        assert_eq!(sent["stream_options"], json!({ "include_usage": true }));
        assert_eq!(sent["enable_thinking"], true, "the connection asked for thinking");
        let output = report.nodes[0].output.clone().unwrap();
        assert_eq!(output["reasoning"], reasoning.concat(), "piece {piece}");
        assert_eq!(output["text"], answer.concat(), "piece {piece}");
        assert_eq!(output["finish_reason"], "stop");
        assert_eq!(
            (output["usage"]["input"].as_u64(), output["usage"]["cache_read"].as_u64()),
            (Some(971), Some(2048))
        );
        assert_eq!(output["usage"]["output"], 104);
        assert!((output["cost_usd"].as_f64().unwrap() - DOCUMENTED_COST_QWEN_PLUS).abs() < 1e-12);
    }
}

#[tokio::test]
async fn enable_thinking_is_sent_only_when_asked_and_off_for_non_streamed_calls() {
    // (connection option, model, stream, `enable_thinking` expected in the body)
    let cases: &[(Option<&str>, &str, bool, Value)] = &[
        (None, "qwen-plus", false, Value::Null),
        (None, "qwen-plus", true, Value::Null),
        (Some("true"), "qwen-plus", true, json!(true)),
        (Some("false"), "qwen-plus", true, json!(false)),
        // Thinking cannot be streamed-off: DashScope refuses a non-streamed call
        // with it on, so the plugin turns it off rather than fail.
        (Some("true"), "qwen-plus", false, json!(false)),
        // Open-weight hybrid Qwen3 models think by default: same refusal.
        (None, "qwen3-32b", false, json!(false)),
        (None, "qwen3-235b-a22b", false, json!(false)),
        (None, "qwen3-32b", true, Value::Null),
        (None, "qwen3-235b-a22b-instruct-2507", false, Value::Null),
    ];
    let stream = thinking_stream(&[], &["Hi."]);
    let completion = documented_completion().to_string();
    for (option, model, streamed, want) in cases {
        let options: Vec<(&str, &str)> = option.iter().map(|v| ("enable_thinking", *v)).collect();
        let cfg = json!({ "model": model, "stream": streamed });
        let (stream, completion, streamed) = (stream.clone(), completion.clone(), *streamed);
        let reply = move || if streamed { Reply::sse(&stream, 64) } else { Reply::json(200, completion.clone()) };
        let (seen, report) = exchange(&options, cfg, reply).await;
        assert!(report.ok, "{option:?} {model} stream={streamed}: {report:#?}");
        assert_eq!(seen.json()["enable_thinking"], *want, "{option:?} {model} stream={streamed}");
    }

    // A value that is neither true nor false is the operator's mistake, said plainly.
    let upstream = Upstream::start(|_| Reply::json(500, "{}")).await;
    let mut connection = support::connection("q", "qwen", &upstream.url("/compatible-mode/v1"), KEY);
    connection.options.insert("enable_thinking".into(), "yes".into());
    let engine = support::engine(vec![connection]);
    let report = support::run(&engine, &support::one_node("q", &[], json!({ "model": "qwen-plus" })), json!({})).await;
    assert!(!report.ok);
    assert!(upstream.seen().is_empty(), "nothing is sent");
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("enable_thinking") && error.contains("\"yes\""), "{error}");
}

#[tokio::test]
async fn errors_are_classified() {
    // DashScope's compatible mode answers errors in OpenAI's envelope with its
    // own codes. These bodies are not recordings: the first is quoted in public
    // issues (e.g. datawhalechina/hello-agents#230, alibaba/spring-ai-alibaba#867);
    // the others follow the same envelope with codes from Model Studio's
    // error-code reference.
    let cases = [
        (
            400,
            json!({ "error": { "code": "invalid_parameter_error", "param": null,
            "message": "parameter.enable_thinking must be set to false for non-streaming calls",
            "type": "invalid_request_error" }, "request_id": "5c4d4f0e-1f7a-9a43-b9c6-3f5d0c6a2b11" }),
            ErrorClass::InvalidRequest,
        ),
        (
            401,
            json!({ "error": { "message": "Incorrect API key provided. ", "type": "invalid_request_error",
            "param": null, "code": "invalid_api_key" }, "request_id": "a1b2c3d4-0000-4f6e-8d9c-1b2a3c4d5e6f" }),
            ErrorClass::Auth,
        ),
        (
            400,
            json!({ "error": { "code": "data_inspection_failed", "param": null,
            "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed" },
            "request_id": "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f" }),
            ErrorClass::ContentFilter,
        ),
        (
            429,
            json!({ "error": { "message": "Requests rate limit exceeded, please try again later.",
            "type": "limit_requests", "param": null, "code": "limit_requests" },
            "request_id": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918" }),
            ErrorClass::RateLimit,
        ),
    ];
    for (status, body, class) in cases {
        let text = body.to_string();
        // A day's `retry-after` stops the engine retrying the rate limit, so
        // each case is exactly one attempt.
        let reply = move || Reply::json(status, text.clone()).header("retry-after", "86400");
        let (_, report) = exchange(&[], json!({ "model": "qwen-plus" }), reply).await;
        assert!(!report.ok);
        assert_eq!(report.attempts.len(), 1, "{body}");
        assert_eq!(report.attempts[0].error, Some(class), "{body}");
        let error = report.nodes[0].error.as_deref().unwrap();
        assert!(error.contains(body["error"]["message"].as_str().unwrap().trim()), "{error}");
    }
}

#[tokio::test]
async fn the_plugin_defaults_to_the_international_endpoint_and_probes_with_one_token() {
    let plugin = support::registry().get("qwen").unwrap().clone();
    let regions = &digest()["base_urls"];
    assert_eq!(plugin.info().default_base_url, regions["singapore_intl"].as_str().unwrap());
    for model in ["qwen-max", "qwen-plus", "qwen-turbo", "qwen-flash", "qwen3-max", "qwq-plus", "qwen3-coder-plus"] {
        let info = plugin.model(model).unwrap_or_else(|| panic!("{model} is not in the table"));
        assert!(info.input_price > 0.0 && info.output_price > info.input_price, "{model}");
    }

    // Another region is a base URL override; a thinking-by-default model is
    // probed with thinking off (the probe is not streamed).
    let settings = types::ConnectionSettings {
        base_url: regions["china_beijing"].as_str().unwrap().into(),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    };
    let prepared = plugin.call().unwrap().test_request(&settings, "qwen3-32b").unwrap().unwrap();
    assert_eq!(prepared.request.url, "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions");
    assert!(matches!(prepared.auth, types::AuthDirective::Bearer));
    let body: Value = serde_json::from_slice(&prepared.request.body).unwrap();
    assert_eq!((body["model"].as_str(), body["max_tokens"].as_u64()), (Some("qwen3-32b"), Some(1)));
    assert_eq!(body["enable_thinking"], false);
}
