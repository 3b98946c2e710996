//! The Bedrock plugin against real Bedrock wire data (`tests/fixtures/bedrock/`):
//! Converse and ConverseStream through the engine, the sandbox and real HTTP
//! on loopback. Every request arrives SigV4-signed by the host, and each test
//! verifies the signature by signing the received request again.

use crate::support::{self, Reply, Seen, Upstream};
use llmnode::connections::Connection;
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use llmnode::secret::Secret;
use llmnode::transport::Credentials;
use llmnode::transport::auth::KeyMaterial;
use llmnode::transport::sigv4::{self, AwsKeys, SignOptions};
use serde_json::{Value, json};

/// One connection's AWS keys: the secret key and the session token must
/// never show up anywhere but in the signature (and the token in its header).
#[derive(Debug, Clone, Copy)]
struct Keys {
    id: &'static str,
    secret: &'static str,
    token: Option<&'static str>,
}

/// Temporary credentials, as STS hands them out.
const KEYS: Keys = Keys {
    id: "FAKEAWSKEYIDTESTA0001",
    secret: "fake-aws-secret-key-for-tests-a0001",
    token: Some("fake-aws-session-token-for-tests-a0001"),
};

/// Connection b's long-term keys, distinct from a's.
const KEYS_B: Keys = Keys { id: "FAKEAWSKEYIDTESTB0002", secret: "fake-aws-secret-key-for-tests-b0002", token: None };

/// The region the test connections are configured for: not the default, so
/// the signature shows the option reached the plugin.
const REGION: &str = "eu-west-3";

fn credentials(keys: Keys) -> Credentials {
    let mut c = Credentials::default();
    let fields = [("aws_access_key_id", Some(keys.id)), ("aws_secret_access_key", Some(keys.secret))];
    for (field, value) in fields.into_iter().chain([("aws_session_token", keys.token)]) {
        if let Some(v) = value {
            c.set(field, KeyMaterial::Plain(Secret::new(v))).unwrap();
        }
    }
    c
}

/// A Bedrock connection to a loopback upstream in [`REGION`], with no
/// retries unless a test wants them: each test counts requests.
fn connection(name: &str, upstream: &Upstream, keys: Keys) -> Connection {
    let mut c = Connection::with_key(name, "bedrock", upstream.url(""), "us.amazon.nova-micro-v1:0", Secret::new(""));
    c.credentials = credentials(keys);
    c.options.insert("region".into(), REGION.into());
    c.retry.max_retries = 0;
    c
}

/// A binary event stream, in pieces of `piece` bytes to exercise the framing.
fn eventstream(bytes: &[u8], piece: usize) -> Reply {
    let mut reply = Reply::sse(bytes, piece);
    reply.headers = vec![("content-type".into(), "application/vnd.amazon.eventstream".into())];
    reply
}

/// `x-amz-date` (`20250303T045126Z`) as a time.
fn amz_date(d: &str) -> std::time::SystemTime {
    let rfc3339 = format!("{}-{}-{}T{}:{}:{}Z", &d[0..4], &d[4..6], &d[6..8], &d[9..11], &d[11..13], &d[13..15]);
    humantime::parse_rfc3339(&rfc3339).unwrap()
}

/// The request arrived signed with `keys` for `bedrock` in `region`: the
/// authorization header names the scope, and signing the received request
/// again (the host's public signer, at the received `x-amz-date`) gives the
/// same signature, so the body, path and headers arrived as signed. The
/// secret key never travels; the session token only in its own header.
fn assert_signed(seen: &Seen, keys: Keys, region: &str) {
    let header = |name: &str| seen.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let auth = header("authorization").expect("the request is signed");
    let date = header("x-amz-date").expect("x-amz-date");
    let scope = format!("AWS4-HMAC-SHA256 Credential={}/{}/{region}/bedrock/aws4_request, ", keys.id, &date[..8]);
    assert!(auth.starts_with(&scope), "{auth}");
    assert_eq!(header("x-amz-security-token").as_deref(), keys.token);
    let signed = auth[scope.len()..].strip_prefix("SignedHeaders=").unwrap().split(',').next().unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    assert!(signed.contains(&"content-type") && signed.contains(&"host"), "{auth}");
    // The signer adds these itself.
    let by_signer = ["host", "x-amz-date", "x-amz-security-token"];
    let sent: Vec<(String, String)> =
        signed.iter().filter(|h| !by_signer.contains(h)).map(|h| (h.to_string(), header(h).unwrap())).collect();
    let sent: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (id, secret) = (Secret::new(keys.id), Secret::new(keys.secret));
    let token = keys.token.map(Secret::new);
    let aws = AwsKeys { access_key_id: &id, secret_access_key: &secret, session_token: token.as_ref() };
    let url = format!("http://{}{}", header("host").unwrap(), seen.uri);
    let time = amz_date(&date);
    let again =
        sigv4::sign("POST", &url, &sent, &seen.body, &aws, "bedrock", region, time, SignOptions::default()).unwrap();
    let expected = &again.iter().find(|(name, _, _)| *name == "authorization").unwrap().1;
    assert_eq!(&auth, expected, "the signature verifies");
    assert_eq!(seen.method, axum::http::Method::POST);
    assert_eq!(seen.headers["content-type"], "application/json");
    support::assert_key_absent("the request", &seen.all_text(), keys.secret);
    if let Some(token) = keys.token {
        let outside_its_header = format!("{}\n{}", seen.uri, String::from_utf8_lossy(&seen.body));
        support::assert_no_leak("the request line and body", &outside_its_header, token);
    }
}

/// Fail if a secret of `keys` is in `text` (which may rightly hold other
/// keys, e.g. a request to another connection).
fn assert_no_secret(what: &str, text: &str, keys: Keys) {
    support::assert_key_absent(what, text, keys.secret);
    if let Some(token) = keys.token {
        support::assert_key_absent(what, text, token);
    }
}

/// Fail if a secret of either connection (any test key) is in the report or
/// the logs.
fn assert_nothing_leaked(report: &RunReport) {
    support::leak::assert_clean("the report (output, errors)", &serde_json::to_string(report).unwrap());
    support::leak::assert_logs_clean();
}

/// Run a one-node workflow over connection `a` at an upstream answering `reply`.
async fn run_node(
    cfg: Value,
    configure: impl FnOnce(&mut Connection),
    reply: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (Vec<Seen>, RunReport) {
    let upstream = Upstream::start(reply).await;
    let mut conn = connection("a", &upstream, KEYS);
    configure(&mut conn);
    let region = conn.options.get("region").cloned().unwrap_or_else(|| "us-east-1".into());
    let engine = support::engine(vec![conn]);
    let report = support::run(&engine, &support::one_node("a", &[], cfg), json!({})).await;
    assert_nothing_leaked(&report);
    let seen = upstream.seen();
    for s in &seen {
        assert_signed(s, KEYS, &region);
    }
    (seen, report)
}

/// The path of a recorded URL (`/model/{modelId}/converse`) and its model id, decoded.
fn recorded_route(url: &str) -> (String, String) {
    let path = &url[url.find("/model/").unwrap()..];
    let id = path["/model/".len()..].split('/').next().unwrap().replace("%3A", ":");
    (path.to_string(), id)
}

/// A recorded Converse request → the same request as an llm node's config
/// (the workflow format is OpenAI-shaped). A cache point closes the message
/// before it, so a point inside a turn splits it in two; the plugin merges
/// consecutive turns of one role back into one.
fn node_config_from(request: &Value) -> Value {
    let url = request["url"].as_str().unwrap();
    let body: Value = serde_json::from_str(request["body_raw"].as_str().unwrap()).unwrap();
    let mut messages: Vec<Value> = Vec::new();
    for b in body["system"].as_array().into_iter().flatten() {
        match b.get("cachePoint") {
            Some(_) => messages.last_mut().unwrap()["cache"] = json!(true),
            None => messages.push(json!({ "role": "system", "content": b["text"] })),
        }
    }
    fn flush(messages: &mut Vec<Value>, role: &Value, parts: &mut Vec<Value>, calls: &mut Vec<Value>) {
        if parts.is_empty() && calls.is_empty() {
            return;
        }
        let mut m = json!({ "role": role });
        if !parts.is_empty() {
            m["content"] = json!(std::mem::take(parts));
        }
        if !calls.is_empty() {
            m["tool_calls"] = json!(std::mem::take(calls));
        }
        messages.push(m);
    }
    for m in body["messages"].as_array().unwrap() {
        let (mut parts, mut calls) = (Vec::new(), Vec::new());
        for b in m["content"].as_array().unwrap() {
            if let Some(text) = b.get("text") {
                parts.push(json!({ "type": "text", "text": text }));
            } else if let Some(u) = b.get("toolUse") {
                let function = json!({ "name": u["name"], "arguments": u["input"].to_string() });
                calls.push(json!({ "id": u["toolUseId"], "type": "function", "function": function }));
            } else if let Some(r) = b.get("toolResult") {
                flush(&mut messages, &m["role"], &mut parts, &mut calls);
                let text: String =
                    r["content"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
                messages.push(json!({ "role": "tool", "tool_call_id": r["toolUseId"], "content": text }));
            } else if b.get("cachePoint").is_some() {
                flush(&mut messages, &m["role"], &mut parts, &mut calls);
                messages.last_mut().unwrap()["cache"] = json!(true);
            } else if b.get("document").is_none() {
                panic!("no node form for the block {b}");
            }
        }
        flush(&mut messages, &m["role"], &mut parts, &mut calls);
    }
    let (_, model) = recorded_route(url);
    let mut cfg = json!({ "model": model, "messages": messages });
    let inference = &body["inferenceConfig"];
    for (from, to) in [("maxTokens", "max_tokens"), ("temperature", "temperature"), ("topP", "top_p")] {
        if !inference[from].is_null() {
            cfg[to] = inference[from].clone();
        }
    }
    if inference["stopSequences"].as_array().is_some_and(|s| !s.is_empty()) {
        cfg["stop"] = inference["stopSequences"].clone();
    }
    let mut tools = Vec::new();
    for t in body["toolConfig"]["tools"].as_array().into_iter().flatten() {
        let Some(spec) = t.get("toolSpec") else {
            // A cache point after the tools: only automatic caching puts one there.
            cfg["cache"] = json!({ "enabled": true });
            continue;
        };
        let mut function = json!({ "name": spec["name"], "parameters": spec["inputSchema"]["json"] });
        if !spec["description"].is_null() {
            function["description"] = spec["description"].clone();
        }
        tools.push(json!({ "type": "function", "function": function }));
    }
    if !tools.is_empty() {
        cfg["tools"] = json!(tools);
    }
    let choice = &body["toolConfig"]["toolChoice"];
    if choice.get("auto").is_some() {
        cfg["tool_choice"] = json!("auto");
    } else if choice.get("any").is_some() {
        cfg["tool_choice"] = json!("required");
    } else if let Some(name) = choice["tool"]["name"].as_str() {
        cfg["tool_choice"] = json!({ "type": "function", "function": { "name": name } });
    }
    if url.ends_with("/converse-stream") {
        cfg["stream"] = json!(true);
    }
    cfg
}

/// Differences without meaning between a recorded request and the plugin's:
/// - empty `inferenceConfig`, `stopSequences` and `system` are the defaults,
///   which the recording clients spell out and the plugin leaves out;
/// - `"status": "success"` on a tool result is its default; the contract's
///   tool message has no status;
/// - the contract has no document part, so the recorded `document` block
///   (a base64 text file in the cache recording) cannot be sent: it is
///   dropped from the recording before comparing.
fn normalize(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    if let Some(config) = obj.get_mut("inferenceConfig").and_then(Value::as_object_mut)
        && config.get("stopSequences") == Some(&json!([]))
    {
        config.remove("stopSequences");
    }
    for (key, empty) in [("inferenceConfig", json!({})), ("system", json!([]))] {
        if obj.get(key) == Some(&empty) {
            obj.remove(key);
        }
    }
    for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
        let content = m["content"].as_array_mut().unwrap();
        content.retain(|b| b.get("document").is_none());
        for b in content {
            if let Some(result) = b.get_mut("toolResult").and_then(Value::as_object_mut)
                && result.get("status") == Some(&json!("success"))
            {
                result.remove("status");
            }
        }
    }
    body
}

/// What the test itself reads out of a recording, independently of the plugin.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    text: String,
    /// (block index, {id, name, arguments})
    calls: Vec<(u64, Value)>,
    finish: String,
    /// input, output, cache read, cache write
    usage: [u64; 4],
}

fn finish_name(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        other => panic!("unexpected stopReason {other}"),
    }
    .into()
}

/// Bedrock's TokenUsage; absent cache counts are 0.
fn usage_of(u: &Value) -> [u64; 4] {
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    [n("inputTokens"), n("outputTokens"), n("cacheReadInputTokens"), n("cacheWriteInputTokens")]
}

fn expected_from_converse(r: &Value) -> Expected {
    let mut e = Expected { finish: finish_name(r["stopReason"].as_str().unwrap()), ..Expected::default() };
    for (i, b) in r["output"]["message"]["content"].as_array().unwrap().iter().enumerate() {
        if let Some(text) = b["text"].as_str() {
            e.text.push_str(text);
        }
        if let Some(u) = b.get("toolUse") {
            e.calls.push((
                i as u64,
                json!({ "id": u["toolUseId"], "name": u["name"], "arguments": u["input"].to_string() }),
            ));
        }
    }
    e.usage = usage_of(&r["usage"]);
    e
}

/// A stream, from the recording's decoded frames (not through the host's framing).
fn expected_from_frames(frames: &Value) -> Expected {
    let mut e = Expected::default();
    for f in frames.as_array().unwrap() {
        let p = &f["payload_json"];
        let index = p["contentBlockIndex"].as_u64();
        match f["headers"][":event-type"]["value"].as_str().unwrap() {
            "contentBlockStart" => {
                let u = &p["start"]["toolUse"];
                e.calls.push((index.unwrap(), json!({ "id": u["toolUseId"], "name": u["name"], "arguments": "" })));
            }
            "contentBlockDelta" => {
                if let Some(text) = p["delta"]["text"].as_str() {
                    e.text.push_str(text);
                }
                if let Some(input) = p["delta"]["toolUse"]["input"].as_str() {
                    let (_, call) = e.calls.iter_mut().find(|(i, _)| Some(*i) == index).unwrap();
                    call["arguments"] = json!(format!("{}{input}", call["arguments"].as_str().unwrap()));
                }
            }
            "messageStop" => e.finish = finish_name(p["stopReason"].as_str().unwrap()),
            "metadata" => e.usage = usage_of(&p["usage"]),
            _ => {}
        }
    }
    e
}

/// The node's output against what the recording says.
fn assert_answer(output: &Value, e: &Expected, what: &str) {
    assert_eq!(output["text"], json!(e.text), "{what}");
    let got = output["tool_calls"].as_array().unwrap();
    assert_eq!(got.len(), e.calls.len(), "{what}: {output}");
    for (g, (_, w)) in got.iter().zip(&e.calls) {
        assert_eq!((&g["id"], &g["name"]), (&w["id"], &w["name"]), "{what}");
        // The node re-serialises parsed arguments.
        assert_eq!(g["arguments"], serde_json::from_str::<Value>(w["arguments"].as_str().unwrap()).unwrap(), "{what}");
    }
    assert_eq!(output["finish_reason"], json!(e.finish), "{what}");
    let u = &output["usage"];
    let got = [&u["input"], &u["output"], &u["cache_read"], &u["cache_write"]].map(|n| n.as_u64().unwrap());
    assert_eq!(got, e.usage, "{what}: usage as (input, output, cache_read, cache_write)");
}

/// The response of a recorded interaction as bytes to serve and what it means.
fn recorded_reply(response: &Value, piece: usize) -> (Box<dyn Fn() -> Reply + Send + Sync>, Expected) {
    match response["body_file"].as_str() {
        Some(file) => {
            let bytes = support::fixture(&format!("bedrock/recorded/{file}"));
            let frames_file = response["decoded_frames_file"].as_str().unwrap();
            let expected = expected_from_frames(&support::fixture_json(&format!("bedrock/recorded/{frames_file}")));
            (Box::new(move || eventstream(&bytes, piece)), expected)
        }
        None => {
            let raw = response["body_raw"].as_str().map(str::to_string).unwrap_or_else(|| response["body"].to_string());
            let expected = expected_from_converse(&serde_json::from_str(&raw).unwrap());
            (Box::new(move || Reply::json(200, raw.clone())), expected)
        }
    }
}

/// Replay one recorded interaction: the plugin sends the recorded request
/// (same path, same JSON after [`normalize`]) and reads the recorded answer.
async fn replay(file: &str, turn: usize, piece: usize) -> (RunReport, Expected) {
    let cassette = support::fixture_json(&format!("bedrock/recorded/{file}.json"));
    let interaction = &cassette["interactions"][turn];
    let request = &interaction["request"];
    assert_eq!(request["body_exact"], json!(true), "{file}");
    let (reply, expected) = recorded_reply(&interaction["response"], piece);
    let (seen, report) = run_node(node_config_from(request), |_| {}, move |_| reply()).await;
    let what = format!("{file} turn {turn}");
    assert!(report.ok, "{what}: {report:#?}");
    assert_eq!(seen.len(), 1, "{what}");
    let (path, _) = recorded_route(request["url"].as_str().unwrap());
    assert_eq!(seen[0].uri, path, "{what}");
    let recorded: Value = serde_json::from_str(request["body_raw"].as_str().unwrap()).unwrap();
    assert_eq!(normalize(seen[0].json()), normalize(recorded), "{what}: request differs");
    assert_answer(report.nodes[0].output.as_ref().unwrap(), &expected, &what);
    (report, expected)
}

#[tokio::test]
async fn recorded_converse_exchanges_round_trip() {
    for file in ["converse-basic", "converse-tool-use"] {
        let (report, expected) = replay(file, 0, 0).await;
        // Nova micro's prices are in the table; the Claude 3 Sonnet of the
        // tool recording is not, and costs nothing until priced.
        let [input, output, ..] = expected.usage;
        let cost = if file == "converse-basic" { (input as f64 * 0.035 + output as f64 * 0.14) / 1e6 } else { 0.0 };
        assert!((report.attempts[0].cost_usd - cost).abs() < 1e-12, "{file}: {}", report.attempts[0].cost_usd);
    }
}

#[tokio::test]
async fn recorded_streams_parse_to_the_same_answer_in_any_pieces() {
    let streams = [
        ("converse-stream-text", 0),
        ("converse-stream-tool-use", 0),
        ("converse-stream-tool-use-2-turns", 0),
        ("converse-stream-tool-use-2-turns", 1),
    ];
    for (n, (file, turn)) in streams.into_iter().enumerate() {
        // Odd piece sizes cut frames (and their length prefixes) anywhere.
        for piece in [[1, 7, 64, 1000][n], 33] {
            let (_, expected) = replay(file, turn, piece).await;
            assert!(!expected.finish.is_empty() && expected.usage[0] > 0, "{file}");
        }
    }
}

/// A model's list prices for the cache tests, USD per million tokens: input,
/// output, cache read, cache write (see the plugin's model table).
fn hand_cost(prices: [f64; 4], tokens: [u64; 4]) -> f64 {
    prices.iter().zip(tokens).map(|(p, n)| p * n as f64).sum::<f64>() / 1e6
}

#[tokio::test]
async fn prompt_cache_writes_and_reads_are_counted_once_and_priced() {
    // Bedrock's inputTokens leaves the cache out: each recording's counts
    // add up to its totalTokens, so input is taken as is, never reduced.
    let claude_3_7 = [3.00, 15.00, 0.30, 3.75];
    // us. profile of a 4.5 model: 10 % over the global list price.
    let sonnet_4_5_us = [3.30, 16.50, 0.33, 4.125];
    let cases = [
        ("converse-prompt-caching", 0, [11, 264, 0, 1028], claude_3_7),
        ("converse-prompt-caching", 1, [12, 185, 1028, 0], claude_3_7),
        ("converse-cache-write-then-read", 0, [2, 5, 0, 1322], sonnet_4_5_us),
        ("converse-cache-write-then-read", 1, [2, 5, 1322, 0], sonnet_4_5_us),
    ];
    for (file, turn, tokens, prices) in cases {
        let cassette = support::fixture_json(&format!("bedrock/recorded/{file}.json"));
        let response = &cassette["interactions"][turn]["response"];
        let total = response["body"]["usage"]["totalTokens"].as_u64().unwrap();
        assert_eq!(tokens.iter().sum::<u64>(), total, "{file}: the recording's counts add up");
        let (report, expected) = replay(file, turn, 0).await;
        assert_eq!(expected.usage, tokens, "{file}: the recording itself");
        let cost = hand_cost(prices, tokens);
        let output = report.nodes[0].output.as_ref().unwrap();
        assert!((output["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12, "{file}: {} ≠ {cost}", output["cost_usd"]);
        assert!((report.attempts[0].cost_usd - cost).abs() < 1e-12, "{file}");
    }
    // By hand, the first one: 11 × $3 + 264 × $15 + 1028 × $3.75 per million.
    assert!((hand_cost(claude_3_7, [11, 264, 0, 1028]) - 0.007848).abs() < 1e-12);
}

/// Every cache point, as (where, ttl): `tools`, `system` or `messages[i]`.
fn cache_points(body: &Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let lists = [("tools", &body["toolConfig"]["tools"]), ("system", &body["system"])];
    let messages = body["messages"].as_array().unwrap().iter().enumerate();
    let messages = messages.map(|(i, m)| (format!("messages[{i}]"), &m["content"]));
    for (place, list) in lists.map(|(p, l)| (p.to_string(), l)).into_iter().chain(messages) {
        for b in list.as_array().into_iter().flatten() {
            if let Some(point) = b.get("cachePoint") {
                assert_eq!(point["type"], "default");
                out.push((place.clone(), point["ttl"].as_str().map(str::to_string)));
            }
        }
    }
    out
}

#[tokio::test]
async fn cache_points_follow_the_plan_where_the_model_takes_them() {
    let reply = support::fixture_json("bedrock/recorded/converse-basic.json")["interactions"][0]["response"]["body"]
        .to_string();
    let conversation = |model: &str, cache: Value, marked: bool| {
        let mut cfg = json!({
            "model": model,
            "tools": [{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }],
            "messages": [
                { "role": "system", "content": "A long and stable system prompt.", "cache": marked },
                { "role": "user", "content": "first", "cache": marked },
                { "role": "assistant", "content": "an answer", "cache": marked },
                { "role": "user", "content": "second" }
            ],
        });
        if !cache.is_null() {
            cfg["cache"] = cache;
        }
        cfg
    };
    let sent = |cfg: Value, option: Option<&'static str>| {
        let body = reply.clone();
        async move {
            let configure = move |c: &mut Connection| {
                if let Some(v) = option {
                    c.options.insert("prompt_caching".into(), v.into());
                }
            };
            let (seen, report) = run_node(cfg, configure, move |_| Reply::json(200, body.clone())).await;
            assert!(report.ok, "{report:#?}");
            cache_points(&seen[0].json())
        }
    };
    let at = |places: &[&str], ttl: Option<&str>| {
        places.iter().map(|p| (p.to_string(), ttl.map(str::to_string))).collect::<Vec<_>>()
    };
    let claude = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";

    // A one-hour wish and three marked messages: with the automatic points
    // (tools, system, conversation) that makes five; Bedrock reads four, and
    // the earliest, the tools', is dropped.
    let body = sent(conversation(claude, json!({ "ttl_seconds": 3600 }), true), None).await;
    assert_eq!(body, at(&["system", "messages[0]", "messages[1]", "messages[2]"], Some("1h")));
    // Marked messages alone, at the default lifetime.
    let body = sent(conversation(claude, Value::Null, true), None).await;
    assert_eq!(body, at(&["system", "messages[0]", "messages[1]"], None));
    // The connection turns automatic caching on.
    let body = sent(conversation(claude, Value::Null, false), Some("true")).await;
    assert_eq!(body, at(&["tools", "system", "messages[2]"], None));
    // Nova caches the system prompt and messages, never the tools.
    let body = sent(conversation("us.amazon.nova-pro-v1:0", Value::Null, false), Some("true")).await;
    assert_eq!(body, at(&["system", "messages[2]"], None));
    // Llama does not cache: Bedrock would refuse the points.
    let llama = "us.meta.llama3-3-70b-instruct-v1:0";
    assert_eq!(sent(conversation(llama, json!({ "enabled": true }), true), None).await, vec![]);
    // Off on the connection or the node: none at all.
    assert_eq!(sent(conversation(claude, Value::Null, true), Some("false")).await, vec![]);
    assert_eq!(sent(conversation(claude, json!({ "enabled": false }), true), Some("true")).await, vec![]);
}

#[tokio::test]
async fn request_fields_map_to_converse() {
    let reply = support::fixture_json("bedrock/recorded/converse-basic.json")["interactions"][0]["response"]["body"]
        .to_string();
    let send = |cfg: Value| {
        let body = reply.clone();
        async move {
            let (seen, report) = run_node(cfg, |_| {}, move |_| Reply::json(200, body.clone())).await;
            assert!(report.ok, "{report:#?}");
            (seen[0].uri.clone(), seen[0].json())
        }
    };
    let tool =
        json!({ "name": "lookup", "description": "Find a thing", "parameters": { "type": "object" }, "strict": true });
    let (path, body) = send(json!({
        "max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": ["END", "STOP"],
        "tools": [tool], "tool_choice": "required",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [
                { "type": "text", "text": "What is this?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } }
            ] },
            { "role": "assistant", "content": "", "tool_calls": [
                { "id": "tooluse_1", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":1}" } },
                { "id": "tooluse_2", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":2}" } }
            ] },
            { "role": "tool", "tool_call_id": "tooluse_1", "content": "one" },
            { "role": "tool", "tool_call_id": "tooluse_2", "content": "two" },
            { "role": "user", "content": "And now?" }
        ]
    }))
    .await;
    assert_eq!(path, "/model/us.amazon.nova-micro-v1%3A0/converse");
    let expected = json!({
        "system": [{ "text": "Be brief." }],
        "inferenceConfig": { "maxTokens": 77, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END", "STOP"] },
        "toolConfig": {
            "tools": [{ "toolSpec": {
                "name": "lookup", "description": "Find a thing", "inputSchema": { "json": { "type": "object" } },
                "strict": true
            } }],
            "toolChoice": { "any": {} }
        },
        "messages": [
            { "role": "user", "content": [
                { "text": "What is this?" },
                { "image": { "format": "png", "source": { "bytes": "iVBORw0KGgo=" } } }
            ] },
            // The empty text of a tool-calling turn is left out: Bedrock refuses blank text.
            { "role": "assistant", "content": [
                { "toolUse": { "toolUseId": "tooluse_1", "name": "lookup", "input": { "q": 1 } } },
                { "toolUse": { "toolUseId": "tooluse_2", "name": "lookup", "input": { "q": 2 } } }
            ] },
            // Both results and the next question in one user turn: the roles must alternate.
            { "role": "user", "content": [
                { "toolResult": { "toolUseId": "tooluse_1", "content": [{ "text": "one" }] } },
                { "toolResult": { "toolUseId": "tooluse_2", "content": [{ "text": "two" }] } },
                { "text": "And now?" }
            ] }
        ]
    });
    assert_eq!(body, expected);

    for (choice, wire) in [
        (json!("auto"), Some(json!({ "auto": {} }))),
        (
            json!({ "type": "function", "function": { "name": "lookup" } }),
            Some(json!({ "tool": { "name": "lookup" } })),
        ),
    ] {
        let (_, body) = send(json!({ "tools": [tool], "tool_choice": choice })).await;
        assert_eq!(body["toolConfig"].get("toolChoice").cloned(), wire);
    }
    // Converse has no "none": with no tool use in the history, no tools are sent.
    let (_, body) = send(json!({ "tools": [tool], "tool_choice": "none" })).await;
    assert!(body.get("toolConfig").is_none(), "{body}");
    // No JSON mode either: an instruction closes the system prompt.
    let mut answer: Value = serde_json::from_str(&reply).unwrap();
    answer["output"]["message"]["content"][0]["text"] = json!("{\"ok\": true}");
    let cfg = json!({ "response_format": { "type": "json_object" } });
    let (seen, report) = run_node(cfg, |_| {}, move |_| Reply::json(200, answer.to_string())).await;
    assert_eq!(report.nodes[0].output.as_ref().map(|o| o["json"].clone()), Some(json!({ "ok": true })), "{report:#?}");
    let body = seen[0].json();
    assert!(body["system"][0]["text"].as_str().unwrap().contains("JSON object"), "{body}");
    // A stream goes to converse-stream with the same body; an ARN is one path segment.
    let arn = "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
    let stream = support::fixture("bedrock/recorded/converse-stream-text.1.response.bin");
    let (seen, report) =
        run_node(json!({ "model": arn, "stream": true }), |_| {}, move |_| eventstream(&stream, 100)).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(
        seen[0].uri,
        "/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2F\
         eu.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    );
    assert_eq!(seen[0].json(), json!({ "messages": [{ "role": "user", "content": [{ "text": "Hello!" }] }] }));

    // Converse takes image bytes, not addresses: refused before anything is sent.
    let by_address = json!({ "messages": [{ "role": "user", "content": [
        { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } }
    ] }] });
    let (seen, report) = run_node(by_address, |_| {}, |_| Reply::json(500, "{}")).await;
    assert!(seen.is_empty() && !report.ok);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::InvalidRequest));
    assert!(report.nodes[0].error.as_deref().unwrap().contains("data: URL"), "{report:#?}");
}

#[tokio::test]
async fn the_region_picks_the_signing_scope_and_the_default_endpoint() {
    let reply = support::fixture_json("bedrock/recorded/converse-basic.json")["interactions"][0]["response"]["body"]
        .to_string();
    // With no region option (and a base URL that names none), us-east-1;
    // `run_node` re-signs for that region, so a wrong scope fails there.
    let (seen, report) = run_node(json!({}), |c| c.options.clear(), move |_| Reply::json(200, reply.clone())).await;
    assert!(report.ok && seen.len() == 1, "{report:#?}");
    assert!(seen[0].headers["authorization"].to_str().unwrap().contains("/us-east-1/bedrock/aws4_request"));

    // A connection on the plugin's default base URL goes to its region's
    // endpoint. The host lets it reach only the default's origin, so it
    // refuses, naming the endpoint the plugin chose, before anything is sent.
    let mut conn = connection("eu", &Upstream::start(|_| Reply::json(500, "{}")).await, KEYS);
    conn.base_url = None;
    let engine = support::engine(vec![conn]);
    let report = support::run(&engine, &support::one_node("eu", &[], json!({})), json!({})).await;
    assert!(!report.ok);
    assert_nothing_leaked(&report);
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("https://bedrock-runtime.eu-west-3.amazonaws.com"), "{error}");

    // A region that is not a region name never reaches a URL or a signature.
    let bad_region = |c: &mut Connection| {
        c.options.insert("region".into(), "eu/../x".into());
    };
    let (seen, report) = run_node(json!({}), bad_region, |_| Reply::json(500, "{}")).await;
    assert!(seen.is_empty() && !report.ok);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::InvalidRequest));
}

#[tokio::test]
async fn errors_are_classified_from_the_error_type_header() {
    let fail = |status: u16, error_type: Option<String>, body: String, stream: bool| async move {
        let reply = move |_: &Seen| {
            let reply = Reply::json(status, body.clone());
            match &error_type {
                Some(t) => reply.header("x-amzn-ErrorType", t),
                None => reply,
            }
        };
        let (seen, report) = run_node(json!({ "stream": stream }), |_| {}, reply).await;
        assert!(!report.ok);
        assert_eq!(seen.len(), 1);
        (report.attempts[0].error, report.nodes[0].error.clone().unwrap())
    };
    let recorded = |file: &str| {
        let c = support::fixture_json(&format!("bedrock/errors/{file}"));
        let r = &c["interactions"][0]["response"];
        let body = r["body_raw"].as_str().map(str::to_string).unwrap_or_else(|| r["body"].to_string());
        let error_type = r["headers"]["x-amzn-ErrorType"].as_str().map(str::to_string);
        (r["status"].as_u64().unwrap() as u16, error_type, body)
    };

    // The real 403: its type (ExpiredTokenException:http://internal…) only in the header.
    let (status, error_type, body) = recorded("converse-403-expired-token.json");
    assert!(error_type.as_deref().unwrap().starts_with("ExpiredTokenException:"));
    let (class, error) = fail(status, error_type, body, false).await;
    assert_eq!(class, Some(ErrorClass::Auth));
    assert!(error.contains("[ExpiredTokenException]") && error.contains("token included in the request is expired"));
    // The real 400s, whose recorder dropped the header: the status decides,
    // for Converse and for ConverseStream (a plain JSON error before the stream).
    for (file, stream) in [("converse-400-invalid-model.json", false), ("converse-stream-400-invalid-model.json", true)]
    {
        let (status, error_type, body) = recorded(file);
        assert_eq!(error_type, None);
        let (class, error) = fail(status, None, body, stream).await;
        assert_eq!(class, Some(ErrorClass::InvalidRequest), "{file}");
        assert!(error.contains("The provided model identifier is invalid."), "{error}");
    }

    // Every error of the Converse operations, at the status AWS's model gives
    // it: the header's type decides even where the status would say otherwise
    // (ModelNotReadyException is a 429 but means the model is loading).
    let summary = support::fixture_json("bedrock/bedrock-runtime-model-summary.json");
    let errors = summary["errors"].as_object().unwrap();
    assert_eq!(errors.len(), 11);
    for (name, e) in errors {
        let expected = match name.as_str() {
            "ThrottlingException" | "ServiceQuotaExceededException" => ErrorClass::RateLimit,
            "ServiceUnavailableException" | "ModelNotReadyException" => ErrorClass::Overloaded,
            "AccessDeniedException" => ErrorClass::Auth,
            "ValidationException" | "ResourceNotFoundException" => ErrorClass::InvalidRequest,
            "ModelTimeoutException" => ErrorClass::Timeout,
            "InternalServerException" | "ModelErrorException" | "ModelStreamErrorException" => ErrorClass::ServerError,
            other => panic!("unexpected error {other}"),
        };
        let status = e["httpError"].as_u64().unwrap() as u16;
        let header = format!("{name}:http://internal.amazon.com/coral/com.amazon.bedrock/");
        let body = json!({ "message": format!("a {name}") }).to_string();
        assert_eq!(fail(status, Some(header), body, false).await.0, Some(expected), "{name} ({status})");
    }
    // Front-end auth errors, and a prompt over the model's window.
    let body = json!({ "message": "The security token included in the request is invalid." }).to_string();
    assert_eq!(fail(403, Some("UnrecognizedClientException".into()), body, false).await.0, Some(ErrorClass::Auth));
    let body = json!({ "message": "Input is too long for requested model." }).to_string();
    assert_eq!(fail(400, Some("ValidationException".into()), body, false).await.0, Some(ErrorClass::ContextLength));
    // No header and no JSON: the status alone.
    assert_eq!(fail(503, None, "<html>busy</html>".into(), false).await.0, Some(ErrorClass::Overloaded));
    assert_eq!(fail(429, None, String::new(), false).await.0, Some(ErrorClass::RateLimit));
}

/// One event-stream message (`:message-type` event or exception) with a JSON payload.
fn frame(message_type: &str, type_header: &'static str, kind: &str, payload: &Value) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let mut message = Message::new(payload.to_string().into_bytes());
    for (k, v) in [(":message-type", message_type), (type_header, kind), (":content-type", "application/json")] {
        message = message.add_header(Header::new(k, HeaderValue::String(v.to_string().into())));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).unwrap();
    out
}

/// A stream that starts a message, then fails with an in-stream exception.
fn failing_stream(exception: &str, message: &str) -> Vec<u8> {
    let start = frame("event", ":event-type", "messageStart", &json!({ "role": "assistant" }));
    let failure = frame("exception", ":exception-type", exception, &json!({ "message": message }));
    [start, failure].concat()
}

#[tokio::test]
async fn in_stream_exceptions_are_provider_errors_and_throttling_fails_over() {
    // Connection a's stream is throttled before any content; b (other keys,
    // no session token) serves the recorded stream.
    let throttled = failing_stream("throttlingException", "Too many tokens, please wait before trying again.");
    let bad = Upstream::start(move |_| eventstream(&throttled, 5)).await;
    let bin = support::fixture("bedrock/recorded/converse-stream-text.1.response.bin");
    let good = Upstream::start(move |_| eventstream(&bin, 77)).await;
    let engine = support::engine(vec![connection("a", &bad, KEYS), connection("b", &good, KEYS_B)]);
    let report = support::run(&engine, &support::one_node("a", &["b"], json!({ "stream": true })), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_nothing_leaked(&report);
    let (tried_a, tried_b) = (bad.seen(), good.seen());
    assert_eq!((tried_a.len(), tried_b.len()), (1, 1));
    assert_signed(&tried_a[0], KEYS, REGION);
    assert_signed(&tried_b[0], KEYS_B, REGION);
    // Each connection's keys go to its own upstream only.
    assert_no_secret("the request to b", &tried_b[0].all_text(), KEYS);
    assert_no_secret("the request to a", &tried_a[0].all_text(), KEYS_B);
    assert!(!tried_a[0].all_text().contains(KEYS_B.id) && !tried_b[0].all_text().contains(KEYS.id));
    let node = &report.nodes[0];
    assert_eq!(node.connection.as_deref(), Some("b"));
    assert_eq!(node.skipped[0].class, Some(ErrorClass::RateLimit));
    assert!(node.skipped[0].reason.contains("throttlingException"), "{:?}", node.skipped);
    assert!(node.skipped[0].reason.contains("Too many tokens"), "{:?}", node.skipped);
    let frames = support::fixture_json("bedrock/recorded/converse-stream-text.1.response.frames.json");
    assert_answer(node.output.as_ref().unwrap(), &expected_from_frames(&frames), "b's stream");

    // The other in-stream exceptions, each on its own.
    for (exception, class) in [
        ("serviceUnavailableException", ErrorClass::Overloaded),
        ("internalServerException", ErrorClass::ServerError),
        ("modelStreamErrorException", ErrorClass::ServerError),
        ("validationException", ErrorClass::InvalidRequest),
    ] {
        let bytes = failing_stream(exception, "it went wrong");
        let (seen, report) = run_node(json!({ "stream": true }), |_| {}, move |_| eventstream(&bytes, 9)).await;
        assert!(!report.ok && seen.len() == 1, "{exception}");
        assert_eq!(report.attempts[0].error, Some(class), "{exception}");
        assert!(report.nodes[0].error.as_deref().unwrap().contains(exception), "{report:#?}");
    }
}

#[tokio::test]
async fn the_binary_ships_the_plugin_and_tests_a_stored_connection() {
    let body = support::fixture_json("bedrock/recorded/converse-basic.json")["interactions"][0]["response"]["body"]
        .to_string();
    let upstream = Upstream::start(move |_| Reply::json(200, body.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = upstream.url("");
    let out = tokio::task::spawn_blocking(move || {
        let llmnode = |args: &[&str]| {
            let out = support::llmnode_command(&data)
                .args(args)
                .env("BEDROCK_TEST_KEY_ID", KEYS.id)
                .env("BEDROCK_TEST_SECRET", KEYS.secret)
                .env("BEDROCK_TEST_TOKEN", KEYS.token.unwrap())
                .output()
                .unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            support::leak::assert_clean("stdout", &stdout);
            support::leak::assert_clean("stderr (trace logs)", &stderr);
            assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
            stdout.into_owned()
        };
        llmnode(&["init"]);
        let list = llmnode(&["plugins", "list"]);
        let secrets = [
            "--secret-env",
            "aws_access_key_id=BEDROCK_TEST_KEY_ID",
            "--secret-env",
            "aws_secret_access_key=BEDROCK_TEST_SECRET",
            "--secret-env",
            "aws_session_token=BEDROCK_TEST_TOKEN",
        ];
        let add = ["connections", "add", "nova", "--provider", "bedrock"];
        let settings = [
            "--base-url",
            &base,
            "--option",
            &format!("region={REGION}"),
            "--default-model",
            "us.amazon.nova-micro-v1:0",
        ];
        llmnode(&[&add[..], &secrets, &settings].concat());
        llmnode(&["connections", "show", "nova"]);
        let tested = llmnode(&["connections", "test", "nova"]);
        (list, tested)
    })
    .await
    .unwrap();
    drop(dir);
    assert!(out.0.contains("bundled:bedrock"), "{}", out.0);
    assert!(out.1.contains("key valid    yes") && out.1.contains("model access yes"), "{}", out.1);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    // The sealed keys, opened by the transport only, sign the probe: one token at most.
    assert_signed(&seen[0], KEYS, REGION);
    assert_eq!(seen[0].uri, "/model/us.amazon.nova-micro-v1%3A0/converse");
    let probe = json!({ "messages": [{ "role": "user", "content": [{ "text": "ping" }] }], "inferenceConfig": { "maxTokens": 1 } });
    assert_eq!(seen[0].json(), probe);
}

/// Embeddings through InvokeModel, signed like chat: Titan's one text with
/// its dimensions and token count, Cohere's batch counted by InvokeModel's
/// header (the documented bodies: see the plugin's `embeddings`), Titan
/// refusing a batch before anything is sent, and prices from the table.
#[tokio::test]
async fn titan_and_cohere_embed_through_invoke_model() {
    let upstream = Upstream::start(|seen| {
        if seen.uri.contains("titan") {
            Reply::json(200, r#"{"embedding": [0.5, -0.25, 0.125], "inputTextTokenCount": 4, "embeddingsByType": {"float": [0.5, -0.25, 0.125]}}"#)
        } else {
            Reply::json(200, r#"{"embeddings": [[1, 2], [3, 4]], "id": "e-1", "response_type": "embeddings_floats", "texts": ["a", "b"]}"#)
                .header("x-amzn-bedrock-input-token-count", "10")
        }
    })
    .await;
    let engine = support::engine(vec![connection("b", &upstream, KEYS)]);
    let node = |model: &str, input: Value, extra: Value| {
        let mut config = json!({ "primary_connection": "b", "model": model, "input": input });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        json!({ "name": "e", "nodes": [{ "id": "e", "node_type": "embedding", "config": config }] }).to_string()
    };

    let report = support::run(
        &engine,
        &node("amazon.titan-embed-text-v2:0", json!("hello"), json!({ "dimensions": 256 })),
        json!({}),
    )
    .await;
    assert!(report.ok, "{report:#?}");
    let seen = upstream.seen();
    assert_eq!(seen[0].uri, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(seen[0].json(), json!({ "inputText": "hello", "dimensions": 256 }));
    assert_signed(&seen[0], KEYS, REGION);
    let out = report.nodes[0].embeddings.as_ref().unwrap();
    assert_eq!((out.vectors.clone(), out.usage.input), (vec![vec![0.5, -0.25, 0.125]], 4));
    assert!((out.cost_usd - 4.0 * 0.02 / 1e6).abs() < 1e-15, "{}", out.cost_usd);

    let report = support::run(&engine, &node("cohere.embed-english-v3", json!(["a", "b"]), json!({})), json!({})).await;
    assert!(report.ok, "{report:#?}");
    let seen = upstream.seen();
    assert_eq!(seen[1].uri, "/model/cohere.embed-english-v3/invoke");
    assert_eq!(seen[1].json(), json!({ "texts": ["a", "b"], "input_type": "search_document" }));
    assert_signed(&seen[1], KEYS, REGION);
    let out = report.nodes[0].embeddings.as_ref().unwrap();
    assert_eq!((out.vectors.clone(), out.usage.input), (vec![vec![1.0, 2.0], vec![3.0, 4.0]], 10));

    let report =
        support::run(&engine, &node("amazon.titan-embed-text-v2:0", json!(["a", "b"]), json!({})), json!({})).await;
    assert!(!report.ok && upstream.seen().len() == 2, "{report:#?}");
    assert!(report.nodes[0].error.as_deref().unwrap().contains("one text per request"), "{report:#?}");
    let text = serde_json::to_string(&report).unwrap() + &support::logs::text();
    support::assert_no_leak("the report and logs", &text, KEYS.secret);
    support::assert_no_leak("the report and logs", &text, KEYS.token.unwrap());
}
