//! An llm node's `reasoning` on each provider's wire, and the reasoning each
//! answers surfaced as the node's `reasoning` and counted in usage. Request
//! shapes are the providers' documented ones (URLs beside each case); answers
//! follow the same documents.

use crate::support::{self, Reply, Upstream};
use serde_json::{Value, json};

const KEY: &str = "fake-reasoning-key-for-tests-3e1f";

/// Run one node with `config` on a `provider` connection whose upstream
/// answers `reply`: (the request body sent, the node's output or error).
async fn run(provider: &str, path: &str, model: &str, config: Value, reply: Reply) -> (Option<Value>, Value) {
    let body = std::sync::Mutex::new(Some(reply));
    let upstream =
        Upstream::start(move |_| body.lock().unwrap().take().unwrap_or_else(|| Reply::json(500, "{}"))).await;
    let mut c = support::connection("c", provider, &upstream.url(path), KEY);
    c.default_model = Some(model.into());
    c.retry.max_retries = 0;
    let engine = support::engine(vec![c]);
    let report = support::run(&engine, &support::one_node("c", &[], config), json!({})).await;
    let sent = upstream.seen().first().map(|s| s.json());
    let node = &report.nodes[0];
    let out = node.output.clone().unwrap_or_else(|| json!({ "error": node.error }));
    (sent, out)
}

#[tokio::test]
async fn anthropic_gets_a_thinking_budget_and_returns_thinking_blocks() {
    // https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
    let answer = json!({ "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{ "type": "thinking", "thinking": "6 times 7.", "signature": "c2ln" }, { "type": "text", "text": "42" }],
        "stop_reason": "end_turn", "usage": { "input_tokens": 10, "output_tokens": 30 } });
    let config = json!({ "reasoning": { "effort": "medium" }, "max_tokens": 8000 });
    let (sent, out) = run("anthropic", "", "claude-sonnet-4-5", config, Reply::json(200, answer.to_string())).await;
    assert_eq!(sent.unwrap()["thinking"], json!({ "type": "enabled", "budget_tokens": 4096 }));
    assert_eq!((out["text"].as_str(), out["reasoning"].as_str()), (Some("42"), Some("6 times 7.")), "{out}");

    // A budget at or over max_tokens is refused before anything is sent.
    let config = json!({ "reasoning": { "budget_tokens": 2000 }, "max_tokens": 2000 });
    let (sent, out) = run("anthropic", "", "claude-sonnet-4-5", config, Reply::json(200, "{}")).await;
    assert!(sent.is_none(), "{sent:?}");
    assert!(out["error"].as_str().unwrap().contains("below max_tokens (2000)"), "{out}");
}

/// An OpenAI chat completion from `model`: 10 prompt tokens, 50 output
/// tokens of which 40 are reasoning.
fn openai_answer(model: &str) -> Value {
    json!({ "id": "c1", "object": "chat.completion", "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "42" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 60,
            "completion_tokens_details": { "reasoning_tokens": 40 } } })
}

#[tokio::test]
async fn openai_gets_an_effort_and_reasoning_tokens_are_counted_and_priced_as_output() {
    // https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort
    let answer = openai_answer("o4-mini");
    let config = json!({ "reasoning": { "budget_tokens": 20000 } });
    let (sent, out) = run("openai", "/v1", "o4-mini", config, Reply::json(200, answer.to_string())).await;
    assert_eq!(sent.unwrap()["reasoning_effort"], "high");
    assert_eq!((out["usage"]["output"].as_u64(), out["usage"]["reasoning"].as_u64()), (Some(50), Some(40)), "{out}");
    // o4-mini: $1.10 input, $4.40 output per million; the 40 reasoning tokens are within the 50 output ones.
    let cost = out["cost_usd"].as_f64().unwrap();
    assert!((cost - (10.0 * 1.10 + 50.0 * 4.40) / 1e6).abs() < 1e-12, "{out}");
}

/// The cost of one run of `wf`'s first attempt, through the binary.
async fn cost(cli: &support::PricedCli, wf: &std::path::Path) -> f64 {
    let out = cli.run(&format!("run {} --json", wf.display())).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["attempts"][0]["cost_usd"].as_f64().unwrap()
}

#[tokio::test]
async fn an_operators_reasoning_price_charges_reasoning_tokens_and_nothing_else() {
    let answer = openai_answer("gpt-4o-mini");
    let upstream = Upstream::start(move |_| Reply::json(200, answer.to_string())).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = support::PricedCli::new(dir.path(), &upstream.url("/v1"), &[("K", KEY)]).await;
    let wf = dir.path().join("wf.json");
    std::fs::write(&wf, support::one_node("oa", &[], json!({ "reasoning": { "effort": "low" } }))).unwrap();
    // The override ($1 input, $2 output) without a reasoning price: reasoning costs as output.
    assert!((cost(&cli, &wf).await - (10.0 * 1.0 + 50.0 * 2.0) / 1e6).abs() < 1e-12);

    let set = cli.run("prices set openai gpt-4o-mini --input 1 --output 2 --reasoning 10").await;
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let listed = String::from_utf8_lossy(&cli.run("prices list --json").await.stdout).to_string();
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let row = listed.as_array().unwrap().iter().find(|r| r["provider"] == "openai" && r["model"] == "gpt-4o-mini");
    let row = row.unwrap().clone();
    assert_eq!(row["prices"]["reasoning"], 10.0, "{row}");
    // 10 input at $1, the 10 other output tokens at $2, the 40 reasoning ones at $10.
    assert!((cost(&cli, &wf).await - (10.0 * 1.0 + 10.0 * 2.0 + 40.0 * 10.0) / 1e6).abs() < 1e-12);

    // A negative reasoning price is refused and changes nothing.
    let refused = cli.run_args(
        ["prices", "set", "openai", "gpt-4o-mini", "--input", "1", "--output", "2", "--reasoning=-1"]
            .map(String::from)
            .to_vec(),
    );
    let refused = refused.await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("non-negative"), "{refused:?}");
    assert!((cost(&cli, &wf).await - 430e-6).abs() < 1e-12);
}

#[tokio::test]
async fn gemini_gets_a_thinking_budget_and_returns_thought_summaries() {
    // https://ai.google.dev/gemini-api/docs/thinking#set-budget
    let answer = json!({ "candidates": [{ "content": { "role": "model", "parts": [
            { "text": "Multiply.", "thought": true }, { "text": "42" }] }, "finishReason": "STOP" }],
        "usageMetadata": { "promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 9 } });
    let config = json!({ "reasoning": { "effort": "low" } });
    let (sent, out) = run("gemini", "", "gemini-2.5-flash", config, Reply::json(200, answer.to_string())).await;
    let thinking = &sent.unwrap()["generationConfig"]["thinkingConfig"];
    assert_eq!(thinking, &json!({ "thinkingBudget": 1024, "includeThoughts": true }));
    assert_eq!((out["text"].as_str(), out["reasoning"].as_str()), (Some("42"), Some("Multiply.")), "{out}");
    assert_eq!(out["usage"]["reasoning"], 9);
}

#[tokio::test]
async fn qwen_turns_thinking_on_with_a_budget_and_streams_reasoning_content() {
    // https://www.alibabacloud.com/help/en/model-studio/deep-thinking
    let chunks = [
        json!({ "choices": [{ "index": 0, "delta": { "role": "assistant", "reasoning_content": "Six sevens." } }] }),
        json!({ "choices": [{ "index": 0, "delta": { "content": "42" } }] }),
        json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }),
        json!({ "choices": [], "usage": { "prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17,
            "completion_tokens_details": { "reasoning_tokens": 8 } } }),
    ];
    let mut sse: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    let config = json!({ "reasoning": { "effort": "high" }, "stream": true });
    let (sent, out) = run("qwen", "/compatible-mode/v1", "qwen-plus", config, Reply::sse(sse.as_bytes(), 40)).await;
    let sent = sent.unwrap();
    assert_eq!((sent["enable_thinking"].as_bool(), sent["thinking_budget"].as_u64()), (Some(true), Some(16384)));
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");
    assert_eq!((out["text"].as_str(), out["reasoning"].as_str()), (Some("42"), Some("Six sevens.")), "{out}");

    // DashScope gives reasoning only to streamed calls: said before sending.
    let (sent, out) = run(
        "qwen",
        "/compatible-mode/v1",
        "qwen-plus",
        json!({ "reasoning": { "effort": "low" } }),
        Reply::json(200, "{}"),
    )
    .await;
    assert!(sent.is_none());
    assert!(out["error"].as_str().unwrap().contains("only to streamed calls"), "{out}");
}
