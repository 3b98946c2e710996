//! The Anthropic plugin against real Anthropic wire data (`tests/fixtures/anthropic/`),
//! through the engine, the sandbox and real HTTP on loopback.

use crate::support::{self, Reply, Seen, Upstream};
use llmnode::connections::Connection;
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

const KEY: &str = "fake-anthropic-key-for-tests-a0001";

/// Connection b's key, distinct from a's.
const KEY_B: &str = "fake-anthropic-key-for-tests-b0002";

/// An Anthropic connection to a loopback upstream (its root is the base URL),
/// with no retries unless a test wants them: each test counts requests.
fn connection(name: &str, upstream: &Upstream, key: &str) -> Connection {
    let mut c = support::connection(name, "anthropic", &upstream.url(""), key);
    c.default_model = Some("claude-haiku-4-5".into());
    c.retry.max_retries = 0;
    c
}

/// A recorded Messages API request body → the same request as an llm node's
/// config (the workflow format is OpenAI-shaped).
fn node_config_from(body: &Value) -> Value {
    let mut messages = Vec::new();
    match &body["system"] {
        Value::String(text) => messages.push(json!({ "role": "system", "content": text })),
        Value::Array(blocks) => {
            for b in blocks {
                let mut m = json!({ "role": "system", "content": b["text"] });
                if b.get("cache_control").is_some() {
                    m["cache"] = json!(true);
                }
                messages.push(m);
            }
        }
        _ => {}
    }
    for m in body["messages"].as_array().unwrap() {
        let blocks = match &m["content"] {
            Value::String(text) => {
                messages.push(json!({ "role": m["role"], "content": text }));
                continue;
            }
            blocks => blocks.as_array().unwrap(),
        };
        let (mut parts, mut calls) = (Vec::new(), Vec::new());
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "text" => parts.push(json!({ "type": "text", "text": b["text"] })),
                "tool_use" => calls.push(json!({
                    "id": b["id"], "type": "function",
                    "function": { "name": b["name"], "arguments": b["input"].to_string() }
                })),
                "tool_result" => {
                    messages.push(json!({ "role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"] }))
                }
                other => panic!("no node form for a {other} block"),
            }
        }
        if !parts.is_empty() || !calls.is_empty() {
            let mut out = json!({ "role": m["role"] });
            if !parts.is_empty() {
                out["content"] = json!(parts);
            }
            if !calls.is_empty() {
                out["tool_calls"] = json!(calls);
            }
            messages.push(out);
        }
    }
    let mut cfg = json!({ "model": body["model"], "messages": messages, "max_tokens": body["max_tokens"] });
    for (from, to) in
        [("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop"), ("stream", "stream")]
    {
        if !body[from].is_null() {
            cfg[to] = body[from].clone();
        }
    }
    if let Some(tools) = body["tools"].as_array() {
        let tools = tools.iter().map(|t| {
            let mut function = json!({ "name": t["name"], "parameters": t["input_schema"] });
            if !t["description"].is_null() {
                function["description"] = t["description"].clone();
            }
            json!({ "type": "function", "function": function })
        });
        cfg["tools"] = Value::Array(tools.collect());
    }
    match body["tool_choice"]["type"].as_str() {
        Some("auto") => cfg["tool_choice"] = json!("auto"),
        Some("any") => cfg["tool_choice"] = json!("required"),
        Some("none") => cfg["tool_choice"] = json!("none"),
        Some("tool") => {
            cfg["tool_choice"] = json!({ "type": "function", "function": { "name": body["tool_choice"]["name"] } })
        }
        _ => {}
    }
    if body["output_config"]["format"]["type"] == "json_schema" {
        let schema = &body["output_config"]["format"]["schema"];
        cfg["response_format"] =
            json!({ "type": "json_schema", "json_schema": { "name": "output", "schema": schema, "strict": true } });
    }
    cfg
}

/// Differences without meaning between a recorded request and the plugin's:
/// - the plugin always sends `system` as text blocks; a plain string is the
///   API's short form of one block;
/// - the official SDK echoes a response-only `caller` field back inside
///   `tool_use` blocks; the contract's tool call has no such field and the
///   API does not need it;
/// - `"stream": false` is the default.
fn normalize(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    if let Some(Value::String(text)) = obj.get("system") {
        let blocks = json!([{ "type": "text", "text": text }]);
        obj.insert("system".into(), blocks);
    }
    if obj.get("stream") == Some(&json!(false)) {
        obj.remove("stream");
    }
    for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
        for b in m["content"].as_array_mut().into_iter().flatten() {
            if b["type"] == "tool_use" {
                b.as_object_mut().unwrap().remove("caller");
            }
        }
    }
    body
}

/// What the test itself reads out of a recording, independently of the plugin.
#[derive(Debug, Default)]
struct Expected {
    text: String,
    calls: Vec<Value>,
    finish: String,
    /// input, output, cache_read, cache_write
    usage: [u64; 4],
}

fn finish_name(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => panic!("unexpected stop_reason {other}"),
    }
    .into()
}

/// Anthropic's usage object; absent fields are 0.
fn usage_of(u: &Value) -> [u64; 4] {
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    [n("input_tokens"), n("output_tokens"), n("cache_read_input_tokens"), n("cache_creation_input_tokens")]
}

fn expected_from_message(m: &Value) -> Expected {
    let mut e = Expected { finish: finish_name(m["stop_reason"].as_str().unwrap()), ..Expected::default() };
    for b in m["content"].as_array().unwrap() {
        match b["type"].as_str().unwrap() {
            "text" => e.text.push_str(b["text"].as_str().unwrap()),
            "tool_use" => {
                e.calls.push(json!({ "id": b["id"], "name": b["name"], "arguments": b["input"].to_string() }))
            }
            _ => {}
        }
    }
    e.usage = usage_of(&m["usage"]);
    e
}

/// An SSE recording read with a plain line split. Usage is cumulative, so
/// each field's last reported value is the final count.
fn expected_from_sse(bytes: &[u8]) -> Expected {
    let mut e = Expected::default();
    let mut calls: Vec<(u64, Value)> = Vec::new();
    for line in String::from_utf8(bytes.to_vec()).unwrap().lines() {
        let Some(data) = line.strip_prefix("data: ") else { continue };
        let v: Value = serde_json::from_str(data).unwrap();
        let usage = match v["type"].as_str().unwrap() {
            "message_start" => &v["message"]["usage"],
            "message_delta" => {
                e.finish = finish_name(v["delta"]["stop_reason"].as_str().unwrap());
                &v["usage"]
            }
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                let b = &v["content_block"];
                calls
                    .push((v["index"].as_u64().unwrap(), json!({ "id": b["id"], "name": b["name"], "arguments": "" })));
                continue;
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => e.text.push_str(d["text"].as_str().unwrap()),
                    "input_json_delta" => {
                        let (_, call) = calls.iter_mut().find(|(i, _)| *i == v["index"].as_u64().unwrap()).unwrap();
                        let args =
                            format!("{}{}", call["arguments"].as_str().unwrap(), d["partial_json"].as_str().unwrap());
                        call["arguments"] = json!(args);
                    }
                    _ => {}
                }
                continue;
            }
            _ => continue,
        };
        let fields = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"];
        for (slot, key) in e.usage.iter_mut().zip(fields) {
            if let Some(n) = usage[key].as_u64() {
                *slot = n;
            }
        }
    }
    e.calls = calls.into_iter().map(|(_, c)| c).collect();
    e
}

/// Compare tool calls, arguments as JSON when both parse (the node re-serialises
/// parsed arguments).
fn assert_calls(output: &Value, want: &[Value], what: &str) {
    let got = output["tool_calls"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: {output}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g["id"], &g["name"]), (&w["id"], &w["name"]), "{what}");
        let want_args = w["arguments"].as_str().unwrap();
        match serde_json::from_str::<Value>(want_args) {
            Ok(parsed) => assert_eq!(g["arguments"], parsed, "{what}"),
            // Cut-off arguments stay text.
            Err(_) => assert_eq!(g["arguments"], json!(want_args), "{what}"),
        }
    }
}

fn assert_answer(output: &Value, e: &Expected, what: &str) {
    assert_eq!(output["text"], json!(e.text), "{what}");
    assert_calls(output, &e.calls, what);
    assert_eq!(output["finish_reason"], json!(e.finish), "{what}");
    let u = &output["usage"];
    let got = [&u["input"], &u["output"], &u["cache_read"], &u["cache_write"]].map(|n| n.as_u64().unwrap());
    assert_eq!(got, e.usage, "{what}: usage as (input, output, cache_read, cache_write)");
}

/// The checks every request to Anthropic must pass: the route, the version
/// header, and the key in `x-api-key` (and nowhere else).
fn assert_wire(seen: &Seen, key: &str) {
    assert_eq!(seen.method, axum::http::Method::POST);
    assert_eq!(seen.uri, "/v1/messages");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["x-api-key"], key);
    assert!(seen.headers.get("authorization").is_none());
    support::assert_no_leak("the request body", &String::from_utf8_lossy(&seen.body), key);
}

/// Run a one-node workflow over connection `a` at an upstream answering `reply`.
async fn run_node(
    cfg: Value,
    configure: impl FnOnce(&mut Connection),
    reply: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (Vec<Seen>, RunReport) {
    let upstream = Upstream::start(reply).await;
    let mut conn = connection("a", &upstream, KEY);
    configure(&mut conn);
    let engine = support::engine(vec![conn]);
    let report = support::run(&engine, &support::one_node("a", &[], cfg), json!({})).await;
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    let seen = upstream.seen();
    for s in &seen {
        assert_wire(s, KEY);
    }
    (seen, report)
}

/// One exchange that must succeed with exactly one request: the body the
/// upstream received and the node's output.
async fn exchange(request: &Value, reply: impl Fn() -> Reply + Send + Sync + 'static) -> (Value, Value) {
    let (seen, report) = run_node(node_config_from(request), |_| {}, move |_| reply()).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(seen.len(), 1);
    (seen[0].json(), report.nodes[0].output.clone().unwrap())
}

#[tokio::test]
async fn recorded_messages_round_trip() {
    // error-400-orphan-tool-result's turn 2 sends a tool result without its
    // call, which the workflow format refuses before anything is sent; its
    // error body is used in `errors_are_classified_by_type_and_status`.
    let turns = [
        ("tool-use-then-tool-result", 0),
        ("tool-use-then-tool-result", 1),
        ("structured-output-json-schema", 0),
        ("error-400-orphan-tool-result", 0),
    ];
    for (file, turn) in turns {
        let cassette = support::fixture_json(&format!("anthropic/recorded/{file}.json"));
        let interaction = &cassette["interactions"][turn];
        let request = interaction["request"]["body"].clone();
        let message = interaction["response"]["body"].clone();
        let body = message.to_string();
        let (sent, output) = exchange(&request, move || Reply::json(200, body.clone())).await;
        let what = format!("{file} turn {turn}");
        assert_eq!(normalize(sent), normalize(request.clone()), "{what}: request differs");
        assert_answer(&output, &expected_from_message(&message), &what);
        assert_eq!(output["model"], message["model"], "{what}");
        if !request["output_config"].is_null() {
            let text = message["content"][0]["text"].as_str().unwrap();
            assert_eq!(output["json"], serde_json::from_str::<Value>(text).unwrap(), "{what}");
        }
    }
}

#[tokio::test]
async fn recorded_streams_parse_to_the_same_answer() {
    let files = [
        "sse/sdk-basic-response.sse",
        "sse/sdk-tool-use-response.sse",
        "sse/sdk-refusal-response.sse",
        "sse/sdk-incomplete-partial-json-response.sse",
        "recorded/stream-tool-use-then-tool-result.1.response.sse",
        "recorded/stream-tool-use-then-tool-result.2.response.sse",
        "recorded/stream-after-two-429-retries.3.response.sse",
        "recorded/stream-cache-write.1.response.sse",
        "recorded/stream-cache-read.1.response.sse",
    ];
    for (n, file) in files.iter().enumerate() {
        let bytes = support::fixture(&format!("anthropic/{file}"));
        let expected = expected_from_sse(&bytes);
        assert!(!expected.finish.is_empty(), "{file}");
        // Odd piece sizes split lines and UTF-8 sequences across reads.
        let piece = [1, 7, 64, 1000][n % 4];
        let request = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
            "messages": [{ "role": "user", "content": "x" }]
        });
        let (sent, output) = exchange(&request, move || Reply::sse(&bytes, piece)).await;
        assert_eq!(sent["stream"], json!(true), "{file}");
        assert_answer(&output, &expected, file);
    }
}

#[tokio::test]
async fn recorded_streaming_turns_are_sent_as_recorded() {
    let cassette = support::fixture_json("anthropic/recorded/stream-tool-use-then-tool-result.json");
    for (turn, interaction) in cassette["interactions"].as_array().unwrap().iter().enumerate() {
        let request = interaction["request"]["body"].clone();
        let file = interaction["response"]["body_file"].as_str().unwrap();
        let sse = support::fixture(&format!("anthropic/recorded/{file}"));
        let expected = expected_from_sse(&sse);
        let (sent, output) = exchange(&request, move || Reply::sse(&sse, 512)).await;
        assert_eq!(normalize(sent), normalize(request), "turn {turn}");
        assert_answer(&output, &expected, file);
    }
}

/// claude-sonnet-4-20250514's list prices, USD per million tokens: input,
/// output, cache read (0.1 × input), cache write (1.25 × input).
const SONNET_4: [f64; 4] = [3.00, 15.00, 0.30, 3.75];

fn hand_cost([input, output, cache_read, cache_write]: [u64; 4]) -> f64 {
    let [p_in, p_out, p_read, p_write] = SONNET_4;
    (input as f64 * p_in + output as f64 * p_out + cache_read as f64 * p_read + cache_write as f64 * p_write) / 1e6
}

#[tokio::test]
async fn prompt_cache_writes_and_reads_are_counted_once_and_priced() {
    // The recorded requests are byte-exact; they also carried the
    // `anthropic-beta: prompt-caching-2024-07-31` header of the caching beta,
    // which the API no longer needs now that caching is generally available.
    let cases = [
        ("cache-write", [18, 100, 0, 2055]),
        ("cache-read", [11, 100, 2055, 0]),
        ("stream-cache-write", [18, 100, 0, 1031]),
        ("stream-cache-read", [11, 100, 1031, 0]),
    ];
    for (file, tokens) in cases {
        let cassette = support::fixture_json(&format!("anthropic/recorded/{file}.json"));
        let interaction = &cassette["interactions"][0];
        assert_eq!(interaction["request"]["body_exact"], json!(true));
        let request: Value = serde_json::from_str(interaction["request"]["body_raw"].as_str().unwrap()).unwrap();
        assert!(request["system"][0]["cache_control"].is_object(), "{file}");
        let response = &interaction["response"];
        let (reply, expected): (Box<dyn Fn() -> Reply + Send + Sync>, Expected) = match response["body_file"].as_str() {
            Some(sse) => {
                let bytes = support::fixture(&format!("anthropic/recorded/{sse}"));
                let expected = expected_from_sse(&bytes);
                (Box::new(move || Reply::sse(&bytes, 100)), expected)
            }
            None => {
                let raw = response["body_raw"].as_str().unwrap().to_string();
                let expected = expected_from_message(&serde_json::from_str(&raw).unwrap());
                (Box::new(move || Reply::json(200, raw.clone())), expected)
            }
        };
        let (seen, report) = run_node(node_config_from(&request), |_| {}, move |_| reply()).await;
        assert!(report.ok, "{file}: {report:#?}");
        assert_eq!(normalize(seen[0].json()), normalize(request), "{file}: request differs");
        let output = report.nodes[0].output.clone().unwrap();
        assert_eq!(expected.usage, tokens, "{file}: the recording itself");
        assert_answer(&output, &expected, file);
        let cost = hand_cost(tokens);
        assert!((output["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12, "{file}: {} ≠ {cost}", output["cost_usd"]);
        assert!((report.attempts[0].cost_usd - cost).abs() < 1e-12, "{file}");
    }
    // By hand, the first one: 18 × $3 + 100 × $15 + 2055 × $3.75 per million.
    assert!((hand_cost([18, 100, 0, 2055]) - 0.00926025).abs() < 1e-12);
}

/// Every block carrying `cache_control`, as (where, value): `tools[i]`,
/// `system[i]` or `messages[i]`.
fn breakpoints(body: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, list) in [("tools", &body["tools"]), ("system", &body["system"])] {
        for (i, b) in list.as_array().into_iter().flatten().enumerate() {
            if let Some(c) = b.get("cache_control") {
                out.push((format!("{key}[{i}]"), c.clone()));
            }
        }
    }
    for (i, m) in body["messages"].as_array().unwrap().iter().enumerate() {
        for b in m["content"].as_array().into_iter().flatten() {
            if let Some(c) = b.get("cache_control") {
                out.push((format!("messages[{i}]"), c.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn cache_hints_place_at_most_four_breakpoints() {
    let cassette = support::fixture_json("anthropic/recorded/cache-read.json");
    let message = cassette["interactions"][0]["response"]["body_raw"].as_str().unwrap().to_string();
    let conversation = |cache: Value| {
        let mut cfg = json!({
            "model": "claude-sonnet-4-5",
            "tools": [{ "name": "lookup", "parameters": { "type": "object", "properties": {} } }],
            "messages": [
                { "role": "system", "content": "A long and stable system prompt.", "cache": true },
                { "role": "user", "content": "first", "cache": true },
                { "role": "assistant", "content": "an answer", "cache": true },
                { "role": "user", "content": "second" }
            ],
        });
        if !cache.is_null() {
            cfg["cache"] = cache;
        }
        cfg
    };
    let sent = |cfg: Value, option: Option<&'static str>| {
        let body = message.clone();
        async move {
            let configure = move |c: &mut Connection| {
                if let Some(v) = option {
                    c.options.insert("prompt_caching".into(), v.into());
                }
            };
            let (seen, report) = run_node(cfg, configure, move |_| Reply::json(200, body.clone())).await;
            assert!(report.ok, "{report:#?}");
            seen[0].json()
        }
    };
    let at =
        |places: &[&str], control: Value| places.iter().map(|p| (p.to_string(), control.clone())).collect::<Vec<_>>();

    // Hint on with a one-hour wish: the three marked messages plus the
    // automatic ones (last tool, end of system, last message) make five; the
    // earliest, the tool's, is dropped.
    let body = sent(conversation(json!({ "ttl_seconds": 3600 })), None).await;
    let hour = json!({ "type": "ephemeral", "ttl": "1h" });
    assert_eq!(breakpoints(&body), at(&["system[0]", "messages[0]", "messages[1]", "messages[2]"], hour), "{body}");
    assert_eq!(body["messages"][0]["content"][0]["text"], "first");

    // Marked messages alone, at the default lifetime.
    let five = json!({ "type": "ephemeral" });
    let body = sent(conversation(Value::Null), None).await;
    assert_eq!(breakpoints(&body), at(&["system[0]", "messages[0]", "messages[1]"], five.clone()), "{body}");
    // The unmarked last turn stays in the short string form.
    assert_eq!(body["messages"][2]["content"], "second");

    // The connection turns automatic caching on …
    let body = sent(conversation(Value::Null), Some("true")).await;
    let all = ["tools[0]", "system[0]", "messages[0]", "messages[1]", "messages[2]"];
    assert_eq!(breakpoints(&body), at(&all[1..], five.clone()), "{body}");
    let mut unmarked = conversation(Value::Null);
    for m in unmarked["messages"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("cache");
    }
    let body = sent(unmarked, Some("true")).await;
    assert_eq!(breakpoints(&body), at(&["tools[0]", "system[0]", "messages[2]"], five), "{body}");

    // … or off, and a node can opt out: no breakpoints at all.
    assert_eq!(breakpoints(&sent(conversation(Value::Null), Some("false")).await), vec![]);
    assert_eq!(breakpoints(&sent(conversation(json!({ "enabled": false })), Some("true")).await), vec![]);
}

#[tokio::test]
async fn request_fields_map_to_the_messages_api() {
    // An answer that is JSON text, so the json_object case below succeeds.
    let message = support::fixture_json("anthropic/recorded/structured-output-json-schema.json")["interactions"][0]
        ["response"]["body"]
        .to_string();
    let send = |cfg: Value| {
        let body = message.clone();
        async move {
            let (seen, report) = run_node(cfg, |_| {}, move |_| Reply::json(200, body.clone())).await;
            assert!(report.ok, "{report:#?}");
            seen[0].json()
        }
    };
    let tool =
        json!({ "name": "lookup", "description": "Find a thing", "parameters": { "type": "object" }, "strict": true });

    // max_tokens is required: the node's, else the model's most, else 4096.
    let body = send(json!({ "model": "claude-3-5-haiku-latest" })).await;
    assert_eq!(body["max_tokens"], 8192);
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(send(json!({ "model": "claude-opus-4-1" })).await["max_tokens"], 32000);
    assert_eq!(send(json!({ "model": "claude-from-the-future" })).await["max_tokens"], 4096);

    let body = send(json!({
        "max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": ["END", "STOP"],
        "tools": [tool], "tool_choice": "required",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [
                { "type": "text", "text": "What are these?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
                { "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg" } }
            ] },
            { "role": "assistant", "content": "", "tool_calls": [
                { "id": "toolu_1", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":1}" } },
                { "id": "toolu_2", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":2}" } }
            ] },
            { "role": "tool", "tool_call_id": "toolu_1", "content": "one" },
            { "role": "tool", "tool_call_id": "toolu_2", "content": "two" },
            { "role": "user", "content": "And now?" }
        ]
    }))
    .await;
    let expected = json!({
        "model": "claude-haiku-4-5", "max_tokens": 77, "temperature": 0.3, "top_p": 0.9,
        "stop_sequences": ["END", "STOP"],
        "system": [{ "type": "text", "text": "Be brief." }],
        "tools": [{ "name": "lookup", "description": "Find a thing", "input_schema": { "type": "object" }, "strict": true }],
        "tool_choice": { "type": "any" },
        "messages": [
            { "role": "user", "content": [
                { "type": "text", "text": "What are these?" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } },
                { "type": "image", "source": { "type": "url", "url": "https://example.com/cat.jpg" } }
            ] },
            { "role": "assistant", "content": [
                { "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": { "q": 1 } },
                { "type": "tool_use", "id": "toolu_2", "name": "lookup", "input": { "q": 2 } }
            ] },
            // Both results of one round in one user turn.
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_1", "content": "one" },
                { "type": "tool_result", "tool_use_id": "toolu_2", "content": "two" }
            ] },
            { "role": "user", "content": "And now?" }
        ]
    });
    assert_eq!(body, expected);

    for (choice, wire) in [
        (json!("auto"), json!({ "type": "auto" })),
        (json!("none"), json!({ "type": "none" })),
        (json!({ "type": "function", "function": { "name": "lookup" } }), json!({ "type": "tool", "name": "lookup" })),
    ] {
        let body = send(json!({ "tools": [tool], "tool_choice": choice })).await;
        assert_eq!(body["tool_choice"], wire);
    }

    // No JSON mode at Anthropic: an instruction closes the system prompt.
    let body = send(json!({ "response_format": { "type": "json_object" } })).await;
    assert!(body["system"][0]["text"].as_str().unwrap().contains("JSON object"), "{body}");
    assert!(body.get("output_config").is_none());
}

#[tokio::test]
async fn errors_are_classified_by_type_and_status() {
    let fail = |status: u16, body: String| async move {
        let (seen, report) = run_node(json!({}), |_| {}, move |_| Reply::json(status, body.clone())).await;
        assert!(!report.ok);
        assert_eq!(seen.len(), 1);
        (report.attempts[0].error, report.nodes[0].error.clone().unwrap())
    };

    let recorded = |file: &str| {
        let c = support::fixture_json(&format!("anthropic/{file}"));
        let r = &c["interactions"].as_array().unwrap().last().unwrap()["response"];
        (
            r["status"].as_u64().unwrap() as u16,
            r["body_raw"].as_str().map(str::to_string).unwrap_or_else(|| r["body"].to_string()),
        )
    };
    let (status, body) = recorded("errors/401-authentication-error.json");
    let (class, error) = fail(status, body).await;
    assert_eq!(class, Some(ErrorClass::Auth));
    assert!(error.contains("invalid x-api-key") && error.contains("authentication_error"), "{error}");
    let (status, body) = recorded("errors/400-invalid-request-error.json");
    assert_eq!(fail(status, body).await.0, Some(ErrorClass::InvalidRequest));
    let (status, body) = recorded("recorded/error-400-orphan-tool-result.json");
    let (class, error) = fail(status, body).await;
    assert_eq!(class, Some(ErrorClass::InvalidRequest));
    assert!(error.contains("tool_result"), "{error}");

    // The documented status → type table, each in the documented envelope.
    let catalog = support::fixture_json("anthropic/errors/documented-error-catalog.json");
    let table = catalog["http_status_to_error_type (docs Errors page)"].as_object().unwrap();
    assert_eq!(table.len(), 8);
    for (status, kind) in table {
        let expected = match kind.as_str().unwrap() {
            "invalid_request_error" | "not_found_error" => ErrorClass::InvalidRequest,
            "authentication_error" | "permission_error" => ErrorClass::Auth,
            "request_too_large" => ErrorClass::ContextLength,
            "rate_limit_error" => ErrorClass::RateLimit,
            "api_error" => ErrorClass::ServerError,
            "overloaded_error" => ErrorClass::Overloaded,
            other => panic!("unexpected type {other}"),
        };
        let body = json!({ "type": "error", "error": { "type": kind, "message": "documented" } }).to_string();
        assert_eq!(fail(status.parse().unwrap(), body).await.0, Some(expected), "{status} {kind}");
    }

    // A prompt over the window is an invalid request the type cannot tell apart.
    let too_long = json!({ "type": "error", "error": { "type": "invalid_request_error",
        "message": "prompt is too long: 215000 tokens > 200000 maximum" } });
    assert_eq!(fail(400, too_long.to_string()).await.0, Some(ErrorClass::ContextLength));
    // 529 is overloaded even when the body is not Anthropic's.
    assert_eq!(fail(529, "<html>overloaded</html>".into()).await.0, Some(ErrorClass::Overloaded));
}

/// Run a one-node workflow over `a` then `b`; `a`'s upstream answers `first`,
/// `b`'s serves a recorded answer (streamed when `stream`).
async fn with_failover(
    first: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    cfg: Value,
) -> (RunReport, Vec<Seen>, Vec<Seen>) {
    let stream = cfg["stream"] == json!(true);
    let bad = Upstream::start(first).await;
    let good = if stream {
        let sse = support::fixture("anthropic/sse/sdk-basic-response.sse");
        Upstream::start(move |_| Reply::sse(&sse, 50)).await
    } else {
        let message = support::fixture_json("anthropic/recorded/structured-output-json-schema.json")["interactions"][0]
            ["response"]["body"]
            .to_string();
        Upstream::start(move |_| Reply::json(200, message.clone())).await
    };
    let engine = support::engine(vec![connection("a", &bad, KEY), connection("b", &good, KEY_B)]);
    let report = support::run(&engine, &support::one_node("a", &["b"], cfg), json!({})).await;
    for key in [KEY, KEY_B] {
        support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), key);
    }
    // Each connection's key goes to its own upstream only.
    for seen in bad.seen() {
        assert_wire(&seen, KEY);
        support::assert_key_absent("requests to connection a", &seen.all_text(), KEY_B);
    }
    for seen in good.seen() {
        assert_wire(&seen, KEY_B);
        support::assert_key_absent("requests to connection b", &seen.all_text(), KEY);
    }
    (report, bad.seen(), good.seen())
}

#[tokio::test]
async fn overloaded_and_rate_limited_connections_fail_over() {
    let failover_on = json!(["rate_limit", "server_error", "overloaded"]);

    // An error event inside a 200 stream, before any content.
    let overloaded = support::fixture("anthropic/errors/docs-stream-error-event-overloaded.sse");
    let cfg = json!({ "stream": true, "failover_on": failover_on.clone() });
    let (report, tried_a, tried_b) = with_failover(move |_| Reply::sse(&overloaded, 9), cfg).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!((tried_a.len(), tried_b.len()), (1, 1));
    assert_eq!(report.nodes[0].connection.as_deref(), Some("b"));
    assert_eq!(report.nodes[0].skipped[0].class, Some(ErrorClass::Overloaded));
    assert!(report.nodes[0].skipped[0].reason.contains("overloaded_error"), "{:?}", report.nodes[0].skipped);
    assert_eq!(report.nodes[0].output.as_ref().unwrap()["text"], "Hello there!");

    // 529 with the same envelope as a plain response.
    let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let (report, _, tried_b) =
        with_failover(move |_| Reply::json(529, body), json!({ "failover_on": failover_on })).await;
    assert!(report.ok && tried_b.len() == 1);
    assert_eq!(report.attempts[0].error, Some(ErrorClass::Overloaded));

    // The recorded 429, with the wait Anthropic asks for.
    let cassette = support::fixture_json("anthropic/recorded/stream-after-two-429-retries.json");
    let limited = cassette["interactions"][0]["response"]["body"].to_string();
    let (report, _, tried_b) =
        with_failover(move |_| Reply::json(429, limited.clone()).header("retry-after", "7"), json!({})).await;
    assert!(report.ok && tried_b.len() == 1);
    assert_eq!(report.nodes[0].skipped[0].class, Some(ErrorClass::RateLimit));
    assert!(report.nodes[0].skipped[0].reason.contains("rate limit"), "{:?}", report.nodes[0].skipped);

    // Auth does not fail over by default.
    let unauthorized = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let (report, _, tried_b) = with_failover(move |_| Reply::json(401, unauthorized), json!({})).await;
    assert!(!report.ok && tried_b.is_empty());
    assert!(report.nodes[0].error.as_deref().unwrap().contains("does not fail over"));
}

#[tokio::test]
async fn the_recorded_rate_limits_are_retried_then_the_stream_is_served() {
    let cassette = support::fixture_json("anthropic/recorded/stream-after-two-429-retries.json");
    let interactions = cassette["interactions"].as_array().unwrap().clone();
    assert_eq!(interactions.len(), 3);
    let request = interactions[0]["request"]["body"].clone();
    let calls = AtomicUsize::new(0);
    let replies = interactions.clone();
    let reply = move |_: &Seen| {
        let r = &replies[calls.fetch_add(1, Ordering::SeqCst).min(2)]["response"];
        match r["body_file"].as_str() {
            Some(file) => Reply::sse(&support::fixture(&format!("anthropic/recorded/{file}")), 33),
            None => Reply::json(r["status"].as_u64().unwrap() as u16, r["body"].to_string()),
        }
    };
    let (seen, report) = run_node(node_config_from(&request), |c| c.retry = Default::default(), reply).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(seen.len(), 3);
    for (s, interaction) in seen.iter().zip(&interactions) {
        assert_eq!(normalize(s.json()), normalize(interaction["request"]["body"].clone()));
    }
    let errors: Vec<_> = report.attempts.iter().map(|a| a.error).collect();
    assert_eq!(errors, [Some(ErrorClass::RateLimit), Some(ErrorClass::RateLimit), None]);
    let output = report.nodes[0].output.clone().unwrap();
    assert_eq!(output["json"], json!([12345, 67890]));
    assert_eq!(output["usage"]["input"], 135);
    assert_eq!(output["usage"]["output"], 10);
}

/// A workflow whose one node asks nothing about caching.
const CACHED_WORKFLOW: &str = r#"{
  "name": "cached",
  "nodes": [{ "id": "n", "node_type": "llm", "config": {
    "primary_connection": "claude",
    "messages": [
      { "role": "system", "content": "Long and stable instructions." },
      { "role": "user", "content": "Hello!" }
    ]
  } }],
  "output": "{{nodes.n.output.text}}"
}"#;

#[tokio::test]
async fn the_binary_ships_the_plugin_tests_a_connection_and_applies_stored_caching() {
    let upstream = Upstream::start(|_| {
        Reply::json(200, support::fixture_json("anthropic/recorded/structured-output-json-schema.json")["interactions"][0]["response"]["body"].to_string())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = upstream.url("");
    let out = tokio::task::spawn_blocking(move || {
        let llmnode = |args: &[&str]| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llmnode"));
            cmd.args(args)
                .env("LLMNODE_DATA_DIR", &data)
                .env("LLMNODE_LOG", "trace")
                .env("ANTHROPIC_TEST_KEY", KEY)
                .env("USER", "anthropic-test")
                .env_remove("LLMNODE_MASTER_KEY")
                .env_remove("LLMNODE_CONNECTIONS")
                .env_remove("LLMNODE_PLUGINS_DIR");
            let out = cmd.output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            support::assert_no_leak("stdout", &stdout, KEY);
            support::assert_no_leak("stderr (trace logs)", &stderr, KEY);
            assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
            stdout.into_owned()
        };
        llmnode(&["init"]);
        let list = llmnode(&["plugins", "list"]);
        let add = ["connections", "add", "claude", "--provider", "anthropic", "--api-key-env", "ANTHROPIC_TEST_KEY"];
        let settings = ["--base-url", &base, "--default-model", "claude-haiku-4-5"];
        llmnode(&[&add[..], &settings, &["--prompt-caching", "true", "--cache-ttl-secs", "3600"]].concat());
        let tested = llmnode(&["connections", "test", "claude"]);
        let workflow = data.join("cached.json");
        std::fs::write(&workflow, CACHED_WORKFLOW).unwrap();
        let report: Value = serde_json::from_str(&llmnode(&["run", workflow.to_str().unwrap(), "--json"])).unwrap();
        (list, tested, report)
    })
    .await
    .unwrap();
    drop(dir);
    assert!(out.0.contains("bundled:anthropic"), "{}", out.0);
    assert!(out.1.contains("key valid    yes") && out.1.contains("model access yes"), "{}", out.1);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_wire(&seen[0], KEY);
    assert_eq!(
        seen[0].json(),
        json!({ "model": "claude-haiku-4-5", "max_tokens": 1, "messages": [{ "role": "user", "content": "ping" }] })
    );
    // The stored caching settings reach the plugin: automatic breakpoints, one hour.
    assert_eq!(out.2["ok"], true, "{}", out.2);
    assert_wire(&seen[1], KEY);
    let hour = json!({ "type": "ephemeral", "ttl": "1h" });
    let places = ["system[0]", "messages[0]"].map(|p| (p.to_string(), hour.clone()));
    assert_eq!(breakpoints(&seen[1].json()), places, "{}", seen[1].json());
    // Nothing this process logged while running the Anthropic tests holds a key.
    for key in [KEY, KEY_B] {
        support::assert_no_leak("the captured logs", &support::logs::text(), key);
    }
}
