//! What a test reads out of OpenAI-shaped wire data (the dialect OpenAI, Azure
//! OpenAI and DashScope share), independently of the plugins, and how it
//! compares the node's output with it.

use serde_json::{Value, json};

/// A recorded OpenAI-dialect request body → the same request as an llm node's config.
/// The workflow format accepts OpenAI's message, tool and format shapes.
pub fn node_config_from(body: &Value) -> Value {
    let mut cfg = json!({ "model": body["model"], "messages": body["messages"] });
    for key in ["tools", "tool_choice", "response_format", "temperature", "top_p", "max_tokens", "stop"] {
        if !body[key].is_null() {
            cfg[key] = body[key].clone();
        }
    }
    if body["stream"] == json!(true) {
        cfg["stream"] = json!(true);
    }
    for m in cfg["messages"].as_array_mut().unwrap() {
        if m["role"] == "developer" {
            m["role"] = json!("system");
        }
        // Recorded clients differ: some send a tool-calling turn's empty
        // content as `null`, some leave it out; the API takes both.
        if m.get("content") == Some(&Value::Null) {
            m.as_object_mut().unwrap().remove("content");
        }
    }
    cfg
}

/// Differences that carry no meaning: API defaults spelled out by some clients,
/// OpenAI's newer name for the system role, `0` written as `0.0`.
pub fn normalize(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    for key in ["temperature", "top_p"] {
        if let Some(x) = obj.get(key).and_then(Value::as_f64) {
            obj.insert(key.into(), json!(x));
        }
    }
    if obj.get("n") == Some(&json!(1)) {
        obj.remove("n");
    }
    if obj.get("stream") == Some(&json!(false)) {
        obj.remove("stream");
    }
    for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
        if m["role"] == "developer" {
            m["role"] = json!("system");
        }
        // Recorded clients differ: some send a tool-calling turn's empty
        // content as `null`, some leave it out; the API takes both.
        if m.get("content") == Some(&Value::Null) {
            m.as_object_mut().unwrap().remove("content");
        }
    }
    body
}

/// What the test itself reads out of a recorded completion, independently of the plugin.
pub fn expected_from_completion(c: &Value) -> (String, Vec<Value>, String, u64, u64) {
    let msg = &c["choices"][0]["message"];
    let text = msg["content"].as_str().or(msg["refusal"].as_str()).unwrap_or("").to_string();
    let calls = msg["tool_calls"]
        .as_array()
        .map(|a| a.iter().map(|t| json!({ "id": t["id"], "name": t["function"]["name"], "arguments": t["function"]["arguments"] })).collect())
        .unwrap_or_default();
    let finish = c["choices"][0]["finish_reason"].as_str().unwrap().to_string();
    let cached = c["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    let input = c["usage"]["prompt_tokens"].as_u64().unwrap() - cached;
    (text, calls, finish, input, c["usage"]["completion_tokens"].as_u64().unwrap())
}

/// The served node's tool calls with arguments back as text, for comparison.
pub fn calls_of(output: &Value) -> Vec<Value> {
    output["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let args = match &c["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({ "id": c["id"], "name": c["name"], "arguments": args })
        })
        .collect()
}

/// Compare arguments as JSON when both parse (the node re-serialises parsed arguments).
pub fn same_calls(got: &[Value], want: &[Value]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g["id"] == w["id"]
                && g["name"] == w["name"]
                && match (
                    serde_json::from_str::<Value>(g["arguments"].as_str().unwrap()),
                    serde_json::from_str::<Value>(w["arguments"].as_str().unwrap()),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => g["arguments"] == w["arguments"],
                }
        })
}

/// What the test reads out of an SSE recording with its own simple line split:
/// text of choice 0, tool calls by index, last finish reason, final usage.
pub fn expected_from_sse(bytes: &[u8]) -> (String, Vec<Value>, String, Value) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let (mut out, mut finish, mut usage) = (String::new(), String::new(), Value::Null);
    let mut calls: Vec<Value> = Vec::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
        for choice in chunk["choices"].as_array().unwrap().iter().filter(|c| c["index"] == 0) {
            let d = &choice["delta"];
            out.push_str(d["content"].as_str().or(d["refusal"].as_str()).unwrap_or(""));
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = f.to_string();
            }
            for t in d["tool_calls"].as_array().into_iter().flatten() {
                let i = t["index"].as_u64().unwrap() as usize;
                if calls.len() <= i {
                    calls.push(json!({ "id": "", "name": "", "arguments": "" }));
                }
                if let Some(id) = t["id"].as_str() {
                    calls[i]["id"] = json!(id);
                }
                if let Some(n) = t["function"]["name"].as_str() {
                    calls[i]["name"] = json!(format!("{}{n}", calls[i]["name"].as_str().unwrap()));
                }
                let args = format!(
                    "{}{}",
                    calls[i]["arguments"].as_str().unwrap(),
                    t["function"]["arguments"].as_str().unwrap_or("")
                );
                calls[i]["arguments"] = json!(args);
            }
        }
    }
    (out, calls, finish, usage)
}
