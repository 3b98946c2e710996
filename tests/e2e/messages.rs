//! The Anthropic-compatible endpoint (`POST /v1/messages`) as Anthropic's own
//! Python client meets it: the real daemon, routes that fail over from an
//! OpenAI connection answering 429 to an Anthropic one, a tool-use round trip
//! replayed from recorded Anthropic traffic, errors in Anthropic's format,
//! and every output searched for the key.

use crate::support::daemon::{Daemon, KEY, Setup};
use crate::support::{self, Reply, Upstream, leak};
use serde_json::{Value, json};
use std::time::Duration;

/// Run `script` with `python3 -c`, its arguments after it; its stdout as JSON.
async fn python(script: &str, args: &[&str]) -> Value {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python: {stdout}\n{stderr}");
    leak::assert_clean("the Python client's output", &stdout);
    leak::assert_clean("the Python client's errors", &stderr);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn put_route(s: &Setup, d: &Daemon, name: &str, route: Value) {
    let (status, body) = d.call("PUT", &format!("/api/v1/routes/{name}"), &s.admin, Some(route)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_official_anthropic_python_client_works_through_a_failover_route() {
    let s = Setup::new(Duration::ZERO).await;
    let anthropic = s.upstream.anthropic_base_url();
    s.cli(&["connections", "add", "claude", "--provider", "anthropic", "--api-key-env", "K", "--base-url", &anthropic])
        .await;
    s.cli(&["connections", "edit", "claude", "--default-model", "claude-3-5-haiku-latest"]).await;
    let d = s.serve().await;
    put_route(&s, &d, "smart", json!({ "primary_connection": "limited", "fallback_connections": ["claude"] })).await;

    let script = r#"
import json, sys, anthropic
base, token = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0)
out = {}
r = client.messages.with_raw_response.create(model="smart", max_tokens=200, system="Be brief.",
    messages=[{"role": "user", "content": "Say {{hello}} please"}])
m = r.parse()
out["json"] = {"text": m.content[0].text, "type": m.content[0].type, "stop": m.stop_reason,
    "input": m.usage.input_tokens, "output": m.usage.output_tokens, "served_by": r.headers.get("x-llmnode-connection")}
parts = []
with client.messages.stream(model="smart", max_tokens=200, messages=[{"role": "user", "content": "Stream a few words"}]) as stream:
    for text in stream.text_stream:
        parts.append(text)
    final = stream.get_final_message()
out["stream"] = {"chunks": len(parts), "text": "".join(parts), "final": final.content[0].text,
    "stop": final.stop_reason, "output": final.usage.output_tokens, "input": final.usage.input_tokens}
bearer = anthropic.Anthropic(base_url=base, auth_token=token, max_retries=0)
out["bearer"] = bearer.messages.create(model="openai/gpt-4o-mini", max_tokens=50,
    messages=[{"role": "user", "content": "hi"}]).content[0].text
try:
    client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
except anthropic.NotFoundError as e:
    out["not_found"] = {"status": e.status_code, "body": e.body}
try:
    client.messages.create(model="smart", max_tokens=10, messages=[{"role": "user", "content": "x"}],
        extra_body={"temperature": 1.5})
except anthropic.BadRequestError as e:
    out["bad"] = {"status": e.status_code, "body": e.body}
try:
    anthropic.Anthropic(base_url=base, api_key="lln_wrong", max_retries=0).messages.create(
        model="smart", max_tokens=10, messages=[{"role": "user", "content": "x"}])
except anthropic.AuthenticationError as e:
    out["auth"] = {"status": e.status_code, "body": e.body}
print(json.dumps(out))
"#;
    let r = python(script, &[&d.base, &s.member]).await;
    assert!(r["json"]["text"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
    assert_eq!(r["json"]["type"], "text");
    assert_eq!(r["json"]["stop"], "end_turn");
    assert_eq!(r["json"]["served_by"], "claude", "the route did not fail over: {r}");
    assert!(r["json"]["input"].as_u64().unwrap() > 0 && r["json"]["output"].as_u64().unwrap() > 0, "{r}");
    assert!(r["stream"]["chunks"].as_u64().unwrap() > 2, "the answer did not stream: {r}");
    assert_eq!(r["stream"]["text"], r["stream"]["final"], "{r}");
    assert_eq!(r["stream"]["stop"], "end_turn");
    assert!(r["stream"]["output"].as_u64().unwrap() > 0 && r["stream"]["input"].as_u64().unwrap() > 0, "{r}");
    assert!(r["bearer"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
    for (case, status, kind) in [
        ("not_found", 404, "not_found_error"),
        ("bad", 400, "invalid_request_error"),
        ("auth", 401, "authentication_error"),
    ] {
        assert_eq!(r[case]["status"], status, "{case}: {r}");
        let body = &r[case]["body"];
        assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some(kind)), "{case}: {r}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {r}");
    }
    assert!(r["bad"]["body"]["error"]["message"].as_str().unwrap().contains("`temperature`"), "{r}");

    // Usage: two calls over the route, served by `claude` (the first after a
    // 429 from `limited`, which the second then skips while it cools down);
    // one direct call on `openai`.
    let (by, usage) = s.requests_by_connection().await;
    assert_eq!(by, [("claude".into(), 2, 0), ("limited".into(), 1, 1), ("openai".into(), 1, 0)], "{usage}");
    d.assert_log_clean();
    leak::assert_clean_dir(&s.data());
}

/// A recorded Anthropic exchange's turn `n`: the request, and the reply.
fn recorded(file: &str, n: usize) -> (Value, Reply) {
    let cassette = support::fixture_json(&format!("anthropic/recorded/{file}.json"));
    let interaction = &cassette["interactions"][n];
    let response = &interaction["response"];
    let reply = match response["body_file"].as_str() {
        Some(f) => Reply::sse(&support::fixture(&format!("anthropic/recorded/{f}")), 64),
        None => Reply::json(200, response["body"].to_string()),
    };
    (interaction["request"]["body"].clone(), reply)
}

#[tokio::test]
async fn a_tool_use_round_trip_streamed_and_not_reaches_the_provider_intact() {
    // The upstream replays recorded Anthropic traffic: the first turn of an
    // exchange (a tool call) or its second (the answer to the tool result).
    let upstream = Upstream::start(|seen| {
        let body = seen.json();
        let file = match body["stream"].as_bool() == Some(true) {
            true => "stream-tool-use-then-tool-result",
            false => "tool-use-then-tool-result",
        };
        let answered = body["messages"].as_array().is_some_and(|m| m.len() > 1);
        recorded(file, answered as usize).1
    })
    .await;
    let s = Setup::new(Duration::ZERO).await;
    let base = upstream.url("");
    let add = ["connections", "add", "tools", "--provider", "anthropic", "--api-key-env", "K", "--base-url", &base];
    s.cli(&[&add[..], &["--default-model", "claude-haiku-4-5"]].concat()).await;
    let d = s.serve().await;
    put_route(&s, &d, "claude-haiku-4-5", json!({ "primary_connection": "tools" })).await;

    let (plain, _) = recorded("tool-use-then-tool-result", 0);
    let (streamed, _) = recorded("stream-tool-use-then-tool-result", 0);
    let script = r#"
import json, sys, anthropic
base, token, plain, streamed = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
streamed.pop("stream")
client = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0)
out = {}
def result_for(call):
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
        "content": json.dumps({"location": call.input["location"], "condition": "Sunny"})}]}
first = client.messages.create(**plain)
call = [b for b in first.content if b.type == "tool_use"][0]
out["plain_call"] = {"stop": first.stop_reason, "id": call.id, "name": call.name, "input": call.input}
plain["messages"] += [{"role": "assistant", "content": [b.model_dump() for b in first.content]}, result_for(call)]
out["plain_answer"] = client.messages.create(**plain).content[0].text
with client.messages.stream(**streamed) as s:
    first = s.get_final_message()
call = [b for b in first.content if b.type == "tool_use"][0]
out["stream_call"] = {"stop": first.stop_reason, "id": call.id, "name": call.name, "input": call.input}
streamed["messages"] += [{"role": "assistant", "content": [b.model_dump() for b in first.content]}, result_for(call)]
with client.messages.stream(**streamed) as s:
    out["stream_answer"] = s.get_final_message().content[0].text
print(json.dumps(out))
"#;
    let r = python(script, &[&d.base, &s.member, &plain.to_string(), &streamed.to_string()]).await;

    // The client saw the recorded tool calls and answers.
    let recorded_call = |file: &str| {
        let (request, _) = recorded(file, 1);
        request["messages"][1]["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone()
    };
    for (which, file) in [("plain", "tool-use-then-tool-result"), ("stream", "stream-tool-use-then-tool-result")] {
        let call = &r[format!("{which}_call")];
        let want = recorded_call(file);
        assert_eq!(call["stop"], "tool_use", "{which}: {r}");
        assert_eq!((&call["id"], &call["name"], &call["input"]), (&want["id"], &want["name"], &want["input"]), "{r}");
        let answer = r[format!("{which}_answer")].as_str().unwrap();
        assert!(answer.contains("Sunny"), "{which}: {r}");
    }

    // The provider got each turn as Anthropic's API takes it: the tools, the
    // assistant's tool_use and the user's tool_result with the call's id.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (i, sent) in seen.iter().enumerate() {
        leak::assert_clean("a request body", &String::from_utf8_lossy(&sent.body));
        assert_eq!(sent.headers.get("x-api-key").unwrap(), KEY);
        let body = sent.json();
        let tools = if i < 2 { &plain["tools"] } else { &streamed["tools"] };
        assert_eq!(body["tools"][0]["input_schema"], tools[0]["input_schema"], "turn {i}");
        assert_eq!(body["stream"].as_bool().unwrap_or(false), i >= 2, "turn {i}");
        if i % 2 == 1 {
            let messages = body["messages"].as_array().unwrap();
            let call = messages[1]["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap();
            let result = &messages[2]["content"][0];
            assert_eq!((messages[1]["role"].as_str(), messages[2]["role"].as_str()), (Some("assistant"), Some("user")));
            assert_eq!(result["type"], "tool_result", "{body}");
            assert_eq!(result["tool_use_id"], call["id"], "{body}");
            assert!(result.to_string().contains("Sunny"), "{body}");
            assert!(call["input"]["location"].is_string(), "{body}");
        }
    }
    d.assert_log_clean();
}
