//! The Azure OpenAI plugin against recorded Azure traffic and Azure's own spec
//! (`tests/fixtures/azure-openai/`), through the engine, the sandbox and real
//! HTTP on loopback.

use crate::support::chat::{
    calls_of, expected_from_completion, expected_from_sse, node_config_from, normalize, same_calls,
};
use crate::support::{self, Reply, Seen, Upstream};
use llmnode::connections::Connection;
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use llmnode::runtime::bindings::types;
use serde_json::{Value, json};

const KEY: &str = "fake-azure-key-for-tests-a0001";

/// The header Azure's spec names for the key (`securitySchemes.apiKey`), read
/// from the spec rather than restated here.
fn key_header() -> String {
    let spec = support::fixture_json("azure-openai/spec/inference-2024-10-21.excerpt.json");
    assert_eq!(spec["components"]["securitySchemes"]["apiKey"]["in"], "header");
    spec["components"]["securitySchemes"]["apiKey"]["name"].as_str().unwrap().to_string()
}

/// A connection to the upstream as an Azure resource endpoint, with the
/// `api_version` option when given (the plugin's default otherwise).
fn connection(name: &str, upstream: &Upstream, api_version: Option<&str>) -> Connection {
    let mut c = support::connection(name, "azure-openai", &upstream.url(""), KEY);
    if let Some(v) = api_version {
        c.options.insert("api_version".into(), v.into());
    }
    c
}

/// The deployment and api-version in a recorded request URL, and the path and
/// query the upstream should see. One recording's client (AzureOpenAI/Python
/// 1.x) wrote `…azure.com//openai/…`; the double slash was that client's
/// slip, not part of the route, so it is collapsed.
fn route_of(url: &str) -> (String, String, String) {
    let path = &url[url.find(".azure.com").unwrap() + ".azure.com".len()..];
    let path = format!("/{}", path.trim_start_matches('/'));
    let deployment = path.split('/').nth(3).unwrap().to_string();
    let version = path.split("api-version=").nth(1).unwrap().to_string();
    (path, deployment, version)
}

/// Run a one-node workflow over one Azure connection; checks what every
/// exchange must satisfy (one request, the key in the spec's header and only
/// there, never in the report or the logs) and returns the request and report.
async fn exchange(
    api_version: Option<&str>,
    cfg: Value,
    reply: impl Fn() -> Reply + Send + Sync + 'static,
) -> (Seen, RunReport) {
    let upstream = Upstream::start(move |_| reply()).await;
    let engine = support::engine(vec![connection("az", &upstream, api_version)]);
    let report = support::run(&engine, &support::one_node("az", &[], cfg), json!({})).await;
    let seen = upstream.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.headers[key_header().as_str()], KEY);
        assert!(s.headers.get("authorization").is_none(), "Azure takes the key in api-key only");
        assert_eq!(s.headers["content-type"], "application/json");
    }
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
    (seen[0].clone(), report)
}

/// What the plugin should send for a recorded body, and why it differs:
/// - `model` is the deployment: Azure ignores the body's model (the
///   `deployment-overrides-model` recording asks for gpt-3.5-turbo and
///   gpt-4.1-mini answers), and the plugin sends the deployment name, as the
///   official SDK does when given the deployment as its model;
/// - `user` is dropped: the contract has no end-user id, so no node sends one;
/// - a stream asks for usage (`stream_options.include_usage`), which the
///   recorded client did not, so that the node can be priced.
fn expected_body(recorded: &Value, deployment: &str) -> Value {
    let mut want = normalize(recorded.clone());
    let obj = want.as_object_mut().unwrap();
    obj.insert("model".into(), json!(deployment));
    obj.remove("user");
    if obj.get("stream") == Some(&json!(true)) {
        obj.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    want
}

#[tokio::test]
async fn recorded_completions_round_trip_with_deployment_prices() {
    // (fixture, the node's cost hand-computed from the shared OpenAI table:
    // USD per million tokens, cached tokens none in these recordings)
    let cases = [
        // Deployment `test-openai` is no OpenAI model id: unpriced.
        ("chat-completion-2023-07-01-preview", 0.0),
        // Deployment `gpt-4o`: 14 in at $2.50, 9 out at $10.00.
        ("chat-completion-2024-12-01-preview", (14.0 * 2.50 + 9.0 * 10.00) / 1e6),
        // Deployment `gpt-4.1-mini`: 24 in at $0.40, 342 out at $1.60.
        ("chat-completion-deployment-overrides-model", (24.0 * 0.40 + 342.0 * 1.60) / 1e6),
    ];
    for (file, cost) in cases {
        let cassette = support::fixture_json(&format!("azure-openai/recorded/{file}.json"));
        let interaction = &cassette["interactions"][0];
        let (path, deployment, version) = route_of(interaction["request"]["url"].as_str().unwrap());
        let recorded = &interaction["request"]["body"];
        let response = &interaction["response"];
        let reply_body = match response["body_raw"].as_str() {
            Some(raw) => raw.to_string(),
            None => response["body"].to_string(),
        };
        let mut cfg = node_config_from(recorded);
        cfg["model"] = json!(deployment);
        let (seen, report) = exchange(Some(&version), cfg, move || Reply::json(200, reply_body.clone())).await;
        assert!(report.ok, "{file}: {report:#?}");
        assert_eq!(seen.uri, path, "{file}");
        assert_eq!(seen.json(), expected_body(recorded, &deployment), "{file}: request differs");

        let output = report.nodes[0].output.clone().unwrap();
        let completion = &response["body"];
        let (text, calls, finish, input, out) = expected_from_completion(completion);
        assert_eq!(output["text"], json!(text), "{file}");
        assert!(same_calls(&calls_of(&output), &calls), "{file}: {output}");
        assert_eq!(output["finish_reason"], json!(finish), "{file}");
        assert_eq!((output["usage"]["input"].as_u64(), output["usage"]["output"].as_u64()), (Some(input), Some(out)));
        // The model that answered, not the deployment or the body's model.
        assert_eq!(output["model"], completion["model"], "{file}");
        assert!((output["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12, "{file}: {}", output["cost_usd"]);
    }
}

#[tokio::test]
async fn the_spec_example_goes_to_the_default_api_version_with_the_deployment_encoded() {
    let example = support::fixture_json("azure-openai/spec/examples/chat_completions.json");
    let params = &example["parameters"];
    // The example's deployment is a placeholder, `<deployment-id>`: a name the
    // plugin must escape to keep it one path segment.
    let deployment = params["deployment-id"].as_str().unwrap().to_string();
    let response = example["responses"]["200"]["body"].to_string();
    let mut cfg = node_config_from(&params["body"]);
    cfg["model"] = json!(deployment);
    // No api_version option: the plugin's default is the example's version.
    let (seen, report) = exchange(None, cfg, move || Reply::json(200, response.clone())).await;
    assert!(report.ok, "{report:#?}");
    let version = params["api-version"].as_str().unwrap();
    assert_eq!(seen.uri, format!("/openai/deployments/%3Cdeployment-id%3E/chat/completions?api-version={version}"));
    assert_eq!(seen.json(), expected_body(&params["body"], &deployment));
    let output = report.nodes[0].output.clone().unwrap();
    let (text, _, finish, input, out) = expected_from_completion(&example["responses"]["200"]["body"]);
    assert_eq!((output["text"].as_str().unwrap(), output["finish_reason"].as_str().unwrap()), (text.as_str(), "stop"));
    assert_eq!(finish, "stop");
    assert_eq!((output["usage"]["input"].as_u64(), output["usage"]["output"].as_u64()), (Some(input), Some(out)));
    assert_eq!(output["cost_usd"], json!(0.0), "an unknown deployment is unpriced");
}

#[tokio::test]
async fn the_recorded_stream_replays_byte_exact_from_its_empty_first_chunk() {
    let cassette = support::fixture_json("azure-openai/recorded/chat-completion-stream.json");
    let interaction = &cassette["interactions"][0];
    let (path, deployment, version) = route_of(interaction["request"]["url"].as_str().unwrap());
    let recorded = interaction["request"]["body"].clone();
    let file = interaction["response"]["body_file"].as_str().unwrap();
    let bytes = support::fixture(&format!("azure-openai/recorded/{file}"));
    let (text, calls, finish, usage) = expected_from_sse(&bytes);
    assert!(usage.is_null(), "the recorded client did not ask for usage");
    let first = String::from_utf8_lossy(&bytes).lines().next().unwrap().to_string();

    // Odd piece sizes split lines and UTF-8 sequences across reads.
    for piece in [1, 7, 64, 100_000] {
        let served = bytes.clone();
        let mut cfg = node_config_from(&recorded);
        cfg["model"] = json!(deployment);
        let (seen, report) = exchange(Some(&version), cfg, move || Reply::sse(&served, piece)).await;
        assert!(report.ok, "piece {piece}: {report:#?}");
        assert_eq!(seen.uri, path);
        assert_eq!(seen.json(), expected_body(&recorded, &deployment), "piece {piece}");
        let output = report.nodes[0].output.clone().unwrap();
        assert_eq!(output["text"], json!(text), "piece {piece}");
        assert!(same_calls(&calls_of(&output), &calls));
        assert_eq!(output["finish_reason"], json!(finish));
        assert_eq!(output["model"], "gpt-4o-mini-2024-07-18");
        assert_eq!((output["usage"]["input"].as_u64(), output["usage"]["output"].as_u64()), (Some(0), Some(0)));
        assert_eq!(output["cost_usd"], json!(0.0));
    }

    // The first chunk (`"choices": []`, empty id and model, `created: 0`) is an
    // empty delta: no text, and no empty id or model reported.
    let plugin = support::registry().get("azure-openai").unwrap().clone();
    let event = types::StreamEvent { event: None, data: first.strip_prefix("data: ").unwrap().to_string() };
    let delta = plugin.call().unwrap().parse_stream_event(&event).unwrap().unwrap();
    assert!(delta.text.is_empty() && delta.tool_calls.is_empty() && delta.usage.is_none());
    assert_eq!((delta.id, delta.model, delta.finish_reason, delta.done), (None, None, None, false));
}

/// The first observed 429 body (`"code": "429"`, a string) with the headers
/// quoted alongside it, plus `extra` headers.
fn rate_limited(extra: &'static [(&'static str, &'static str)]) -> impl Fn() -> Reply + Send + Sync + 'static {
    let observed = support::fixture_json("azure-openai/errors/observed-error-bodies.json");
    let example = observed["examples"][0].clone();
    move || {
        let mut reply = Reply::json(429, example["body"].to_string());
        for (k, v) in example["headers_quoted"].as_object().unwrap() {
            if k != "content-type" {
                reply = reply.header(k, v.as_str().unwrap());
            }
        }
        for (k, v) in extra {
            reply = reply.header(k, v);
        }
        reply
    }
}

#[tokio::test]
async fn a_429_is_a_rate_limit_and_its_retry_after_is_honoured() {
    let cfg = json!({ "model": "gpt-4o" });
    // A day's wait is past the retry policy's longest: no retry at all. Had
    // the plugin missed `retry-after`, the engine would back off and retry twice.
    let (_, report) = exchange(None, cfg.clone(), rate_limited(&[("retry-after", "86400")])).await;
    assert!(!report.ok);
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::RateLimit));
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("Rate limit is exceeded") && error.contains("429"), "{error}");

    // `retry-after-ms` is the more precise of the two and wins: 5 ms, so the
    // engine retries (twice, its default) despite the day in `retry-after`.
    let (_, report) = exchange(None, cfg, rate_limited(&[("retry-after", "86400"), ("retry-after-ms", "5")])).await;
    assert_eq!(report.attempts.len(), 3);
    assert!(report.attempts.iter().all(|a| a.error == Some(ErrorClass::RateLimit)));
}

#[tokio::test]
async fn content_filter_refusals_and_finishes_are_classified() {
    // No recording exists; this body follows the spec's error and innerError
    // schemas (code `content_filter`, innererror `ResponsibleAIPolicyViolation`
    // with the prompt's filter results).
    let spec = support::fixture_json("azure-openai/spec/inference-2024-10-21.excerpt.json");
    let inner_code = spec["components"]["schemas"]["innerErrorCode"]["enum"][0].clone();
    let refused = json!({ "error": {
        "code": "content_filter",
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "param": "prompt",
        "status": 400,
        "innererror": { "code": inner_code, "content_filter_result": {
            "hate": { "filtered": false, "severity": "safe" },
            "violence": { "filtered": true, "severity": "medium" }
        } }
    } });
    // The outer code alone, the inner code alone: each is enough.
    let mut inner_only = refused.clone();
    inner_only["error"]["code"] = Value::Null;
    let mut outer_only = refused.clone();
    outer_only["error"].as_object_mut().unwrap().remove("innererror");
    for body in [refused, inner_only, outer_only] {
        let text = body.to_string();
        let (_, report) = exchange(None, json!({ "model": "gpt-4o" }), move || Reply::json(400, text.clone())).await;
        assert!(!report.ok);
        assert_eq!(report.attempts.len(), 1, "a refusal is not retried");
        assert_eq!(report.attempts[0].error, Some(ErrorClass::ContentFilter), "{body}");
    }

    // An answer cut by the completion filter ends with `content_filter`.
    let cassette = support::fixture_json("azure-openai/recorded/chat-completion-2023-07-01-preview.json");
    let mut filtered = cassette["interactions"][0]["response"]["body"].clone();
    filtered["choices"][0]["finish_reason"] = json!("content_filter");
    filtered["choices"][0]["content_filter_results"]["violence"] = json!({ "filtered": true, "severity": "medium" });
    let text = filtered.to_string();
    let (_, report) = exchange(None, json!({ "model": "gpt-4o" }), move || Reply::json(200, text.clone())).await;
    assert!(report.ok);
    assert_eq!(report.nodes[0].output.as_ref().unwrap()["finish_reason"], "content_filter");
}

#[tokio::test]
async fn the_connection_test_is_a_one_token_completion_on_the_deployment() {
    let plugin = support::registry().get("azure-openai").unwrap().clone();
    let settings = types::ConnectionSettings {
        base_url: "https://contoso.openai.azure.com".into(),
        organization: None,
        headers: Vec::new(),
        options: vec![types::Header { name: "api_version".into(), value: "2024-12-01-preview".into() }],
    };
    let prepared = plugin.call().unwrap().test_request(&settings, "gpt-4.1-mini").unwrap().unwrap();
    assert_eq!(
        prepared.request.url,
        "https://contoso.openai.azure.com/openai/deployments/gpt-4.1-mini/chat/completions?api-version=2024-12-01-preview"
    );
    assert!(matches!(prepared.request.method, types::Method::Post));
    assert!(matches!(&prepared.auth, types::AuthDirective::Header(h) if *h == key_header()));
    let body: Value = serde_json::from_slice(&prepared.request.body).unwrap();
    assert_eq!(body["max_tokens"], 1);
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    // With no deployment named there is nothing to test.
    let refused = plugin.call().unwrap().test_request(&settings, "").unwrap().unwrap_err();
    assert!(matches!(refused.kind, types::ErrorKind::InvalidRequest));
}

#[tokio::test]
async fn a_stored_connection_carries_its_api_version_to_the_connection_test() {
    // Through the real binary and store: the api_version set with `--option`
    // reaches the plugin, and `connections test` probes the deployment.
    let cassette = support::fixture_json("azure-openai/recorded/chat-completion-deployment-overrides-model.json");
    let answer = cassette["interactions"][0]["response"]["body_raw"].as_str().unwrap().to_string();
    let upstream = Upstream::start(move |_| Reply::json(200, answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = upstream.url("");
    let commands: [&[&str]; 3] = [
        &["init"],
        &[
            "connections",
            "add",
            "az",
            "--provider",
            "azure-openai",
            "--api-key-env",
            "AZURE_KEY",
            "--base-url",
            &base,
            "--default-model",
            "gpt-4.1-mini",
            "--option",
            "api_version=2024-12-01-preview",
        ],
        &["connections", "test", "az"],
    ];
    let mut stdout = String::new();
    for args in commands {
        let mut cmd = support::llmnode_command(&data);
        cmd.args(args).env("AZURE_KEY", KEY);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        support::assert_no_leak("stdout", &stdout, KEY);
        support::assert_no_leak("stderr (trace logs)", &stderr, KEY);
    }
    assert!(stdout.contains("key valid    yes") && stdout.contains("model access yes"), "{stdout}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/openai/deployments/gpt-4.1-mini/chat/completions?api-version=2024-12-01-preview");
    assert_eq!(seen[0].headers[key_header().as_str()], KEY);
    assert_eq!(seen[0].json()["max_tokens"], 1);
}
