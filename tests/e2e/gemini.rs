//! The Gemini plugin against Gemini wire data (`tests/fixtures/gemini/`):
//! recorded exchanges and Google's own SDK test responses, through the engine,
//! the sandbox and real HTTP on loopback.

use crate::support::{self, Reply, Seen, Upstream};
use llmnode::engine::RunReport;
use llmnode::error_class::ErrorClass;
use llmnode::secret::Secret;
use llmnode::transport::auth::KeyMaterial;
use serde_json::{Value, json};
use std::collections::HashSet;

const KEY: &str = "fake-gemini-key-for-tests-a0001";
const KEY_B: &str = "fake-gemini-key-for-tests-b0002";

/// Google's documented placeholder thought signature, `skip_thought_signature_validator` in base64.
const SKIP_SIGNATURE: &str = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=";

/// Token counts and cost of every exchange the tests replay, worked out by hand
/// from the fixture's `usageMetadata` and the plugin's model table (USD per
/// million tokens): input = prompt − cached, output = candidates + thoughts.
const ACCOUNTS: &[(&str, [u64; 4], f64)] = &[
    // label, [input, output, cache read, reasoning], cost_usd
    // 2.5-flash: 9×0.30 + (9+34)×2.50
    ("generateContent-basic#0", [9, 43, 0, 34], 110.2e-6),
    // 2.0-flash: 33×0.10 + 5×0.40
    ("function-calling-toolConfig-ANY#0", [33, 5, 0, 0], 5.3e-6),
    // 47×0.10 + 8×0.40
    ("function-calling-toolConfig-ANY#1", [47, 8, 0, 0], 7.9e-6),
    // 8×0.10 + 20×0.40
    ("json-mode-responseJsonSchema#0", [8, 20, 0, 0], 8.8e-6),
    // 69×0.10 + 14×0.40
    ("function-calling-with-thoughtSignature#0", [69, 14, 0, 0], 12.5e-6),
    // 91×0.10 + 21×0.40
    ("function-calling-with-thoughtSignature#1", [91, 21, 0, 0], 17.5e-6),
    // 13×0.10 + 8×0.40
    ("vertex-generateContent#0", [13, 8, 0, 0], 4.5e-6),
    // gemini-2.0-flash-exp is not in the table, so it costs nothing. The
    // earlier chunks claim 15 prompt tokens; the final one says 13.
    ("streamGenerateContent-sse-basic#0", [13, 8, 0, 0], 0.0),
    // The first chunk of turn 3 claims 169 prompt tokens, the final one 79.
    // 52×0.10 + 5×0.40
    ("stream-function-calling-3-turns#0", [52, 5, 0, 0], 7.2e-6),
    // 64×0.10 + 5×0.40
    ("stream-function-calling-3-turns#1", [64, 5, 0, 0], 8.4e-6),
    // 79×0.10 + 12×0.40
    ("stream-function-calling-3-turns#2", [79, 12, 0, 0], 12.7e-6),
    // 2.5-flash: 18×0.30 + (80+35)×2.50
    ("stream-usage-per-chunk#0", [18, 115, 0, 35], 292.9e-6),
    // 3-flash-preview: 5×0.50 + (1+100)×3.00
    ("vertex-streamGenerateContent-sse#0", [5, 101, 0, 100], 305.5e-6),
    // 2.5-flash: 14×0.30 + (2+24)×2.50
    ("googleai/unary-success-thinking-reply-thought-summary.json", [14, 26, 0, 24], 69.2e-6),
    // 2.5-pro: 38×1.25 + (8+501)×10.00
    ("googleai/unary-success-thinking-function-call-thought-summary-signature.json", [38, 509, 0, 501], 5137.5e-6),
    // 2.5-flash: (12013−11243)×0.30 + 11243×0.03 + (15+73)×2.50
    ("vertexai/unary-success-implicit-caching.json", [770, 88, 11243, 73], 788.29e-6),
    // no usage reported
    ("vertexai/unary-success-function-call-parallel-calls.json", [0, 0, 0, 0], 0.0),
    // 2.0-flash: 7×0.10 + 10×0.40
    ("googleai/streaming-success-basic-reply-short.sse", [7, 10, 0, 0], 4.7e-6),
    // 2.5-flash: 10×0.30 + (48+540)×2.50
    ("googleai/streaming-success-thinking-reply-thought-summary.sse", [10, 588, 0, 540], 1473.0e-6),
    // 2.5-flash: 38×0.30 + (6+168)×2.50
    ("googleai/streaming-success-thinking-function-call-thought-summary-signature.sse", [38, 174, 0, 168], 446.4e-6),
    // no usage reported
    ("vertexai/streaming-success-utf8.sse", [0, 0, 0, 0], 0.0),
    // 2.0-flash: 7×0.10 + 20×0.40
    ("googleai/unary-failure-finish-reason-safety.json", [7, 20, 0, 0], 8.7e-6),
    // 1.5-flash: 10×0.075 + 66×0.30
    ("vertexai/streaming-failure-finish-reason-safety.sse", [10, 66, 0, 0], 20.55e-6),
    // 9×0.10 + 261×0.40
    ("googleai/streaming-failure-recitation-no-content.sse", [9, 261, 0, 0], 105.3e-6),
];

/// Run a one-node workflow with `config` against one Gemini connection whose
/// upstream answers `reply`. Every request must carry the key in
/// `x-goog-api-key` and nowhere else; the report must not carry it at all.
pub(crate) async fn run(config: Value, reply: impl Fn() -> Reply + Send + Sync + 'static) -> (RunReport, Vec<Seen>) {
    let upstream = Upstream::start(move |_| reply()).await;
    let engine = support::engine(vec![support::connection("g", "gemini", &upstream.url(""), KEY)]);
    let report = support::run(&engine, &support::one_node("g", &[], config), json!({})).await;
    let seen = upstream.seen();
    for s in &seen {
        assert_eq!(s.headers["x-goog-api-key"], KEY);
        assert_eq!(s.all_text().matches(KEY).count(), 1, "the key must travel only in its header:\n{}", s.all_text());
        assert!(!s.uri.contains("key="), "a key parameter in the URL: {}", s.uri);
    }
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    (report, seen)
}

/// One successful call: the request the upstream saw and the node's output.
pub(crate) async fn exchange(config: Value, reply: impl Fn() -> Reply + Send + Sync + 'static) -> (Seen, Value) {
    let (report, seen) = run(config, reply).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, axum::http::Method::POST);
    assert_eq!(seen[0].headers["content-type"], "application/json");
    (seen[0].clone(), report.nodes[0].output.clone().unwrap())
}

/// `{model}:{method}[?alt=sse]` of a recorded URL.
fn model_and_method(url: &str) -> &str {
    url.rsplit_once("/models/").unwrap().1
}

/// A recorded Gemini request → the same request as an llm node's config, read
/// by the test itself (the reverse of what the plugin does).
fn node_config_from(url: &str, body: &Value) -> Value {
    let (model, method) = model_and_method(url).split_once(':').unwrap();
    let mut messages = Vec::new();
    for part in body["systemInstruction"]["parts"].as_array().into_iter().flatten() {
        messages.push(json!({ "role": "system", "content": part["text"] }));
    }
    for content in body["contents"].as_array().unwrap() {
        let parts = content["parts"].as_array().unwrap();
        let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        if content["role"] == "model" {
            let calls: Vec<Value> = parts
                .iter()
                .filter_map(|p| p.get("functionCall"))
                .map(|c| json!({ "id": c["id"], "type": "function", "function": { "name": c["name"], "arguments": c["args"].to_string() } }))
                .collect();
            let mut m = json!({ "role": "assistant", "tool_calls": calls });
            if !text.is_empty() {
                m["content"] = json!(text);
            }
            messages.push(m);
        } else if parts.iter().any(|p| p.get("functionResponse").is_some()) {
            for r in parts.iter().filter_map(|p| p.get("functionResponse")) {
                messages.push(json!({ "role": "tool", "tool_call_id": r["id"], "content": r["response"].to_string() }));
            }
        } else {
            messages.push(json!({ "role": "user", "content": text }));
        }
    }
    let mut cfg = json!({ "model": model, "messages": messages });
    if method.starts_with("streamGenerateContent") {
        cfg["stream"] = json!(true);
    }
    let declarations = body["tools"][0]["functionDeclarations"].as_array().cloned().unwrap_or_default();
    if !declarations.is_empty() {
        let tools: Vec<Value> = declarations
            .iter()
            .map(|d| json!({ "type": "function", "function": { "name": d["name"], "description": d["description"], "parameters": json_schema_of(d) } }))
            .collect();
        cfg["tools"] = json!(tools);
    }
    let calling = &body["toolConfig"]["functionCallingConfig"];
    match (calling["mode"].as_str(), calling["allowedFunctionNames"].as_array()) {
        (Some("ANY"), Some(names)) if names.len() == 1 && declarations.len() > 1 => {
            cfg["tool_choice"] = json!({ "type": "function", "function": { "name": names[0] } });
        }
        (Some("ANY"), _) => cfg["tool_choice"] = json!("required"),
        (Some(mode), _) => cfg["tool_choice"] = json!(mode.to_lowercase()),
        (None, _) => {}
    }
    let generation = &body["generationConfig"];
    for (theirs, ours) in [("temperature", "temperature"), ("topP", "top_p"), ("maxOutputTokens", "max_tokens")] {
        if !generation[theirs].is_null() {
            cfg[ours] = generation[theirs].clone();
        }
    }
    if let Some(stop) = generation.get("stopSequences") {
        cfg["stop"] = stop.clone();
    }
    match (generation["responseMimeType"].as_str(), generation.get("responseJsonSchema")) {
        (Some("application/json"), Some(schema)) => {
            let name = schema["title"].as_str().unwrap_or("output");
            cfg["response_format"] =
                json!({ "type": "json_schema", "json_schema": { "name": name, "schema": schema, "strict": false } });
        }
        (Some("application/json"), None) => cfg["response_format"] = json!({ "type": "json_object" }),
        _ => {}
    }
    cfg
}

/// A declaration's parameters as JSON Schema, whichever way the client spelled them.
fn json_schema_of(declaration: &Value) -> Value {
    for key in ["parametersJsonSchema", "parameters_json_schema"] {
        if let Some(schema) = declaration.get(key) {
            return schema.clone();
        }
    }
    lower_case_types(declaration["parameters"].clone())
}

/// An OpenAPI schema's `"type": "STRING"` names, as JSON Schema spells them.
fn lower_case_types(mut schema: Value) -> Value {
    match &mut schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                *value = match (key.as_str(), &*value) {
                    ("type", Value::String(t)) => json!(t.to_lowercase()),
                    _ => lower_case_types(value.take()),
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| *v = lower_case_types(v.take())),
        _ => {}
    }
    schema
}

/// The body the plugin must send for a recorded request: the recording with
/// differences of spelling, not meaning, rewritten the way the plugin spells them.
fn expected_wire(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    // The API ignores a system instruction's role; the recording's client sends "user", the plugin none.
    if let Some(system) = obj.get_mut("systemInstruction").and_then(Value::as_object_mut) {
        system.remove("role");
    }
    // Text output is the default of every text model, and an empty config says nothing.
    if let Some(config) = obj.get_mut("generationConfig").and_then(Value::as_object_mut)
        && config.get("responseModalities") == Some(&json!(["TEXT"]))
    {
        config.remove("responseModalities");
    }
    if obj.get("generationConfig") == Some(&json!({})) {
        obj.remove("generationConfig");
    }
    // Proto JSON takes `parameters_json_schema` for `parametersJsonSchema`; older
    // clients sent the OpenAPI `parameters`, the same schema with upper-case types.
    let mut names: Vec<Value> = Vec::new();
    if let Some(declarations) = obj.get_mut("tools").and_then(|t| t[0]["functionDeclarations"].as_array_mut()) {
        for d in declarations.iter_mut() {
            let schema = json_schema_of(d);
            let d = d.as_object_mut().unwrap();
            d.remove("parameters");
            d.remove("parameters_json_schema");
            d.insert("parametersJsonSchema".into(), schema);
            names.push(d["name"].clone());
        }
    }
    // Allowing every declared function is what allowing any function means.
    if let Some(calling) = obj.get_mut("toolConfig").and_then(|t| t["functionCallingConfig"].as_object_mut())
        && let Some(Value::Array(allowed)) = calling.get("allowedFunctionNames")
        && !names.is_empty()
        && allowed.len() == names.len()
        && allowed.iter().all(|n| names.contains(n))
    {
        calling.remove("allowedFunctionNames");
    }
    // The first call of each model turn goes back with a thought signature,
    // which Gemini 3 requires: clients from before Gemini 3 sent none, newer
    // ones send Google's placeholder when they have no real one (as
    // `function-calling-with-thoughtSignature.json` records), and so does the plugin.
    for content in obj.get_mut("contents").and_then(Value::as_array_mut).into_iter().flatten() {
        if content["role"] != "model" {
            continue;
        }
        if let Some(first) =
            content["parts"].as_array_mut().unwrap().iter_mut().find(|p| p.get("functionCall").is_some())
            && first.get("thoughtSignature").is_none()
        {
            first["thoughtSignature"] = json!(SKIP_SIGNATURE);
        }
    }
    body
}

/// What the test itself reads out of a response.
#[derive(Debug, Default, PartialEq)]
struct Want {
    text: String,
    reasoning: String,
    /// (name, arguments).
    calls: Vec<(String, Value)>,
    finish: String,
    /// [input, output, cache read, reasoning].
    usage: [u64; 4],
}

fn read_candidate(candidate: &Value, want: &mut Want) {
    for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
        if let Some(call) = part.get("functionCall") {
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            want.calls.push((call["name"].as_str().unwrap().to_string(), args));
        } else if let Some(text) = part["text"].as_str() {
            let into = if part["thought"] == json!(true) { &mut want.reasoning } else { &mut want.text };
            into.push_str(text);
        }
    }
    if let Some(reason) = candidate["finishReason"].as_str() {
        want.finish = match reason {
            "STOP" if !want.calls.is_empty() => "tool_calls",
            "STOP" => "stop",
            "MAX_TOKENS" => "length",
            "SAFETY" | "RECITATION" => "content_filter",
            _ => "other",
        }
        .into();
    }
}

fn tokens_of(usage: &Value) -> [u64; 4] {
    let n = |field: &str| usage[field].as_u64().unwrap_or(0);
    let cached = n("cachedContentTokenCount");
    [
        n("promptTokenCount") + n("toolUsePromptTokenCount") - cached,
        n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cached,
        n("thoughtsTokenCount"),
    ]
}

fn want_from(response: &Value) -> Want {
    let mut want = Want::default();
    read_candidate(&response["candidates"][0], &mut want);
    want.usage = tokens_of(&response["usageMetadata"]);
    want
}

/// The `data:` payloads of an SSE recording, split by the test's own simple rule.
fn chunks_of(sse: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(sse.to_vec()).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect()
}

/// All chunks' text and calls; the counts of the chunk that finishes.
fn want_from_sse(sse: &[u8]) -> Want {
    let mut want = Want::default();
    for chunk in chunks_of(sse) {
        read_candidate(&chunk["candidates"][0], &mut want);
        if !chunk["candidates"][0]["finishReason"].is_null() {
            want.usage = tokens_of(&chunk["usageMetadata"]);
        }
    }
    want
}

/// Compare the node's output with what the test read from the fixture and
/// with the hand-worked account for `label`.
fn check(label: &str, output: &Value, want: &Want) {
    assert_eq!(output["text"], json!(want.text), "{label}");
    assert_eq!(output["reasoning"].as_str().unwrap_or(""), want.reasoning, "{label}");
    let calls = output["tool_calls"].as_array().unwrap();
    let got: Vec<(String, Value)> =
        calls.iter().map(|c| (c["name"].as_str().unwrap().to_string(), c["arguments"].clone())).collect();
    assert_eq!(got, want.calls, "{label}");
    let ids: HashSet<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.len() == calls.len() && !ids.contains(""), "{label}: call ids must be distinct: {calls:?}");
    assert_eq!(output["finish_reason"], json!(want.finish), "{label}");

    let (_, tokens, cost) =
        ACCOUNTS.iter().find(|(l, ..)| *l == label).unwrap_or_else(|| panic!("no account for {label}"));
    assert_eq!(&want.usage, tokens, "{label}: the hand-worked counts disagree with the fixture");
    let [input, out, cache_read, reasoning] = *tokens;
    let usage =
        json!({ "input": input, "output": out, "cache_read": cache_read, "cache_write": 0, "reasoning": reasoning });
    assert_eq!(output["usage"], usage, "{label}");
    let charged = output["cost_usd"].as_f64().unwrap();
    assert!((charged - cost).abs() < 1e-12, "{label}: cost_usd {charged}, expected {cost}");
}

#[tokio::test]
async fn recorded_exchanges_send_the_recorded_requests_and_read_the_answers() {
    let files = [
        "generateContent-basic",
        "function-calling-toolConfig-ANY",
        "json-mode-responseJsonSchema",
        "function-calling-with-thoughtSignature",
        "vertex-generateContent",
    ];
    for file in files {
        let cassette = support::fixture_json(&format!("gemini/recorded/{file}.json"));
        for (turn, interaction) in cassette["interactions"].as_array().unwrap().iter().enumerate() {
            let label = format!("{file}#{turn}");
            let url = interaction["request"]["url"].as_str().unwrap();
            let request = interaction["request"]["body"].clone();
            let answer = interaction["response"]["body"].clone();
            let body = answer.to_string();
            let (seen, output) =
                exchange(node_config_from(url, &request), move || Reply::json(200, body.clone())).await;
            // The Vertex recording's body is the same format; its project path
            // needs a Vertex connection (see the Vertex test), so it is served
            // here through the Gemini API's path.
            assert_eq!(seen.uri, format!("/v1beta/models/{}", model_and_method(url)), "{label}");
            assert_eq!(seen.json(), expected_wire(request), "{label}: request differs");
            check(&label, &output, &want_from(&answer));
            if file.starts_with("json-mode") {
                assert_eq!(output["json"], json!({ "city": "Mexico City", "country": "Mexico" }));
            }
        }
    }
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
}

#[tokio::test]
async fn recorded_streams_are_read_whole_with_the_final_counts() {
    let files = [
        "streamGenerateContent-sse-basic",
        "stream-function-calling-3-turns",
        "stream-usage-per-chunk",
        "vertex-streamGenerateContent-sse",
    ];
    let mut n = 0;
    for file in files {
        let cassette = support::fixture_json(&format!("gemini/recorded/{file}.json"));
        for (turn, interaction) in cassette["interactions"].as_array().unwrap().iter().enumerate() {
            let label = format!("{file}#{turn}");
            let url = interaction["request"]["url"].as_str().unwrap();
            let request = interaction["request"]["body"].clone();
            let sse = support::fixture(&format!(
                "gemini/recorded/{}",
                interaction["response"]["body_file"].as_str().unwrap()
            ));
            // Odd piece sizes split lines, CRLFs and UTF-8 sequences across reads.
            let piece = [1, 7, 64, 1000][n % 4];
            n += 1;
            let served = sse.clone();
            let (seen, output) = exchange(node_config_from(url, &request), move || Reply::sse(&served, piece)).await;
            let (model, _) = model_and_method(url).split_once(':').unwrap();
            assert_eq!(seen.uri, format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"), "{label}");
            assert_eq!(seen.json(), expected_wire(request), "{label}: request differs");
            check(&label, &output, &want_from_sse(&sse));
        }
    }
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
}

/// The model a Google SDK sample was served by, for pricing; samples without
/// one are served as gemini-2.0-flash.
fn model_of(file: &str, bytes: &[u8]) -> String {
    let first = if file.ends_with(".sse") {
        chunks_of(bytes).into_iter().next().unwrap()
    } else {
        serde_json::from_slice(bytes).unwrap()
    };
    first["modelVersion"].as_str().unwrap_or("gemini-2.0-flash").to_string()
}

/// Serve one of Google's SDK samples to a node asking for its model; the node's output.
async fn serve_sample(file: &str) -> Value {
    let bytes = support::fixture(&format!("gemini/firebase-mock-responses/{file}"));
    let stream = file.ends_with(".sse");
    let cfg = json!({ "model": model_of(file, &bytes), "stream": stream });
    let (_, output) =
        exchange(cfg, move || if stream { Reply::sse(&bytes, 13) } else { Reply::json(200, bytes.clone()) }).await;
    output
}

fn want_from_sample(file: &str) -> Want {
    let bytes = support::fixture(&format!("gemini/firebase-mock-responses/{file}"));
    if file.ends_with(".sse") { want_from_sse(&bytes) } else { want_from(&serde_json::from_slice(&bytes).unwrap()) }
}

#[tokio::test]
async fn thinking_cache_reads_and_parallel_calls_are_read_and_priced() {
    for file in [
        "googleai/unary-success-thinking-reply-thought-summary.json",
        "googleai/unary-success-thinking-function-call-thought-summary-signature.json",
        "vertexai/unary-success-implicit-caching.json",
        "vertexai/unary-success-function-call-parallel-calls.json",
        "googleai/streaming-success-basic-reply-short.sse",
        "googleai/streaming-success-thinking-reply-thought-summary.sse",
        "googleai/streaming-success-thinking-function-call-thought-summary-signature.sse",
        // Every chunk of this one says STOP: the answer is still all of them.
        "vertexai/streaming-success-utf8.sse",
    ] {
        let output = serve_sample(file).await;
        check(file, &output, &want_from_sample(file));
    }
    let parallel = serve_sample("vertexai/unary-success-function-call-parallel-calls.json").await;
    assert_eq!(parallel["tool_calls"].as_array().unwrap().len(), 3);
}

/// The thought signature on a streamed function call, read by the test.
fn streamed_signature(sse: &[u8]) -> String {
    chunks_of(sse)
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
        .find(|p| p.get("functionCall").is_some())
        .and_then(|p| p["thoughtSignature"].as_str().map(String::from))
        .unwrap()
}

#[tokio::test]
async fn a_thought_signature_goes_back_with_its_call() {
    let file = "googleai/streaming-success-thinking-function-call-thought-summary-signature.sse";
    let sse = support::fixture(&format!("gemini/firebase-mock-responses/{file}"));
    let signature = streamed_signature(&sse);
    let ask = json!({ "role": "user", "content": "How many days until New Year's Eve?" });
    let cfg = json!({ "model": "gemini-2.5-flash", "stream": true, "tools": [{ "name": "now" }], "messages": [ask] });
    let (_, output) = exchange(cfg, move || Reply::sse(&sse, 100)).await;
    assert_eq!(output["finish_reason"], "tool_calls");
    let call_id = output["tool_calls"][0]["id"].clone();

    // The next turn replays the call with the result; the reply does not matter here.
    let answer =
        support::fixture("gemini/firebase-mock-responses/googleai/unary-success-thinking-reply-thought-summary.json");
    let replay = |id: &Value| {
        json!({ "model": "gemini-2.5-flash", "tools": [{ "name": "now" }], "messages": [
            ask,
            { "role": "assistant", "tool_calls": [{ "id": id, "type": "function", "function": { "name": "now", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": id, "content": "2025-07-28" }
        ] })
    };
    let served = answer.clone();
    let (seen, _) = exchange(replay(&call_id), move || Reply::json(200, served.clone())).await;
    let sent = seen.json();
    let call = &sent["contents"][1];
    assert_eq!(call["role"], "model");
    assert_eq!(call["parts"][0]["thoughtSignature"], json!(signature), "the real signature goes back");
    let sent_id = call["parts"][0]["functionCall"]["id"].as_str().unwrap();
    assert!(!sent_id.is_empty() && !sent_id.contains(&signature), "{sent_id}");
    assert_eq!(
        sent["contents"][2],
        json!({ "role": "user", "parts": [{ "functionResponse": { "id": sent_id, "name": "now", "response": { "output": "2025-07-28" } } }] })
    );

    // A call the model made elsewhere has no signature: Google's placeholder goes instead.
    let (seen, _) = exchange(replay(&json!("call_from_elsewhere")), move || Reply::json(200, answer.clone())).await;
    let part = &seen.json()["contents"][1]["parts"][0];
    assert_eq!(part["thoughtSignature"], SKIP_SIGNATURE);
    assert_eq!(part["functionCall"]["id"], "call_from_elsewhere");
}

#[tokio::test]
async fn safety_stops_and_blocked_prompts_are_content_filter() {
    // A candidate stopped for safety or recitation is an answer ending in content_filter.
    for file in [
        "googleai/unary-failure-finish-reason-safety.json",
        "vertexai/streaming-failure-finish-reason-safety.sse",
        "googleai/streaming-failure-recitation-no-content.sse",
    ] {
        let output = serve_sample(file).await;
        assert_eq!(output["finish_reason"], "content_filter", "{file}");
        check(file, &output, &want_from_sample(file));
    }
    // A blocked prompt has no answer at all: the attempt fails as content_filter.
    for file in [
        "vertexai/unary-failure-prompt-blocked-safety.json",
        "googleai/unary-failure-only-prompt-feedback.json",
        "googleai/streaming-failure-prompt-blocked-safety.sse",
    ] {
        let bytes = support::fixture(&format!("gemini/firebase-mock-responses/{file}"));
        let stream = file.ends_with(".sse");
        let cfg = json!({ "model": "gemini-2.0-flash", "stream": stream });
        let (report, seen) =
            run(cfg, move || if stream { Reply::sse(&bytes, 64) } else { Reply::json(200, bytes.clone()) }).await;
        assert!(!report.ok, "{file}");
        assert_eq!(seen.len(), 1, "{file}: content_filter is not retried");
        assert_eq!(report.attempts[0].error, Some(ErrorClass::ContentFilter), "{file}");
        let error = report.nodes[0].error.as_deref().unwrap();
        assert!(error.contains("blocked the prompt"), "{file}: {error}");
    }
}

#[tokio::test]
async fn google_rpc_errors_are_classified() {
    // Built from the documented google.rpc.Status shapes, for the statuses no fixture has.
    let status = |code: u16, status: &str, message: &str| {
        json!({ "error": { "code": code, "message": message, "status": status } }).to_string().into_bytes()
    };
    let too_long = "The input token count (1234567) exceeds the maximum number of tokens allowed (1048576).";
    let cases: Vec<(String, u16, Vec<u8>, ErrorClass, &str)> = vec![
        ("googleai/unary-failure-api-key.json".into(), 400, vec![], ErrorClass::Auth, "[API_KEY_INVALID]"),
        (
            "googleai/unary-failure-generativelanguage-api-not-enabled.json".into(),
            403,
            vec![],
            ErrorClass::Auth,
            "[SERVICE_DISABLED]",
        ),
        (
            "vertexai/unary-failure-iam-permission-denied.json".into(),
            403,
            vec![],
            ErrorClass::Auth,
            "[IAM_PERMISSION_DENIED]",
        ),
        ("googleai/unary-failure-unknown-model.json".into(), 404, vec![], ErrorClass::InvalidRequest, "[NOT_FOUND]"),
        (
            "vertexai/unary-failure-unsupported-user-location.json".into(),
            400,
            vec![],
            ErrorClass::InvalidRequest,
            "[FAILED_PRECONDITION]",
        ),
        // A failed stream request gets a plain JSON body, not a stream.
        (
            "googleai/streaming-failure-image-rejected.sse".into(),
            400,
            vec![],
            ErrorClass::InvalidRequest,
            "[INVALID_ARGUMENT]",
        ),
        (
            "vertexai/unary-failure-quota-exceeded.json".into(),
            429,
            vec![],
            ErrorClass::RateLimit,
            "[RATE_LIMIT_EXCEEDED]",
        ),
        (
            "context length".into(),
            400,
            status(400, "INVALID_ARGUMENT", too_long),
            ErrorClass::ContextLength,
            "input token count",
        ),
        (
            "overloaded".into(),
            503,
            status(503, "UNAVAILABLE", "The model is overloaded."),
            ErrorClass::Overloaded,
            "[UNAVAILABLE]",
        ),
        (
            "internal".into(),
            500,
            status(500, "INTERNAL", "An internal error has occurred."),
            ErrorClass::ServerError,
            "[INTERNAL]",
        ),
        (
            "deadline".into(),
            504,
            status(504, "DEADLINE_EXCEEDED", "Deadline expired."),
            ErrorClass::Timeout,
            "[DEADLINE_EXCEEDED]",
        ),
    ];
    for (name, code, mut body, class, shown) in cases {
        if body.is_empty() {
            body = support::fixture(&format!("gemini/firebase-mock-responses/{name}"));
        }
        let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"].as_str().unwrap().to_string();
        let cfg = json!({ "model": "gemini-2.5-flash", "stream": name.ends_with(".sse") });
        let (report, _) = run(cfg, move || Reply::json(code, body.clone())).await;
        assert!(!report.ok, "{name}");
        assert_eq!(report.attempts[0].error, Some(class), "{name}");
        let error = report.nodes[0].error.as_deref().unwrap();
        assert!(
            error.contains(&format!("HTTP {code}")) && error.contains(shown) && error.contains(&message),
            "{name}: {error}"
        );
    }
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
}

#[tokio::test]
async fn retry_info_rests_a_rate_limited_connection_for_the_delay_asked() {
    // A 429 as the Gemini API sends it, with the wait in a RetryInfo detail
    // (built from the documented google.rpc shapes; no fixture has one).
    let limited_body = json!({ "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{ "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests" }] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s" }
        ]
    } })
    .to_string();
    let limited = Upstream::start(move |_| Reply::json(429, limited_body.clone())).await;
    let cassette = support::fixture_json("gemini/recorded/generateContent-basic.json");
    let good_body = cassette["interactions"][0]["response"]["body"].to_string();
    let good = Upstream::start(move |_| Reply::json(200, good_body.clone())).await;
    let engine = support::engine(vec![
        support::connection("a", "gemini", &limited.url(""), KEY),
        support::connection("b", "gemini", &good.url(""), KEY_B),
    ]);
    let workflow = support::one_node("a", &["b"], json!({ "model": "gemini-2.5-flash" }));

    let first = support::run(&engine, &workflow, json!({})).await;
    assert!(first.ok, "{first:#?}");
    assert_eq!(first.nodes[0].connection.as_deref(), Some("b"));
    assert_eq!(first.nodes[0].skipped[0].class, Some(ErrorClass::RateLimit));
    assert_eq!(limited.seen().len(), 1);

    // One rate limit alone would not rest a connection; the 7 s asked for does.
    let second = support::run(&engine, &workflow, json!({})).await;
    assert!(second.ok, "{second:#?}");
    assert_eq!(limited.seen().len(), 1, "connection a is resting");
    let reason = &second.nodes[0].skipped[0].reason;
    let left: f64 = reason.split('(').nth(1).and_then(|r| r.split(' ').next()).and_then(|s| s.parse().ok()).unwrap();
    assert!(reason.contains("resting") && (5.0..=7.0).contains(&left), "{reason}");

    for (report, key) in [(&first, KEY), (&second, KEY), (&first, KEY_B), (&second, KEY_B)] {
        support::assert_no_leak("the report", &serde_json::to_string(report).unwrap(), key);
    }
    for seen in limited.seen() {
        assert_eq!(seen.headers["x-goog-api-key"], KEY);
        support::assert_key_absent("requests to connection a", &seen.all_text(), KEY_B);
    }
    for seen in good.seen() {
        assert_eq!(seen.headers["x-goog-api-key"], KEY_B);
        support::assert_key_absent("requests to connection b", &seen.all_text(), KEY);
    }
}

#[tokio::test]
async fn vertex_ai_runs_with_a_token_the_host_mints_from_the_service_account() {
    // The plugin names the scope; the host signs the assertion, exchanges it
    // at the key file's token URI (its signature is checked in google_auth.rs)
    // and sends the token. The key file never reaches the plugin.
    let tokens = Upstream::start(|_| {
        Reply::json(200, json!({ "access_token": "ya29.vertex-test", "expires_in": 3600 }).to_string())
    })
    .await;
    let answer =
        support::fixture_json("gemini/recorded/vertex-generateContent.json")["interactions"][0]["response"]["body"]
            .to_string();
    let upstream = Upstream::start(move |_| Reply::json(200, answer.clone())).await;
    let mut key_file = support::fixture_json("google/test-service-account.json");
    key_file["token_uri"] = json!(tokens.url("/token"));
    let mut connection = support::connection("v", "gemini", &upstream.url(""), KEY);
    connection.credentials.api_key = None;
    connection
        .credentials
        .set("google_service_account", KeyMaterial::Plain(Secret::new(key_file.to_string())))
        .unwrap();
    connection.options.insert("vertex_project".into(), "my-project".into());
    connection.options.insert("vertex_location".into(), "europe-west4".into());
    let engine = support::engine(vec![connection]);
    let report =
        support::run(&engine, &support::one_node("v", &[], json!({ "model": "gemini-2.0-flash" })), json!({})).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.output.as_ref().unwrap()["text"], "The capital of France is Paris.\n");
    let seen = upstream.seen();
    assert_eq!(
        seen[0].uri,
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen[0].headers["authorization"], "Bearer ya29.vertex-test");
    assert!(seen[0].headers.get("x-goog-api-key").is_none());
    assert_eq!(tokens.seen().len(), 1);
    let private_key = key_file["private_key"].as_str().unwrap().lines().nth(1).unwrap().to_string();
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), &private_key);
}
