//! A simulated OpenAI-compatible upstream on loopback, so `llmnode demo` shows
//! real HTTP, real streaming and a real failover with no network and no keys.
//!
//! It checks the bearer key it was started with, answers deterministically from
//! the prompt, streams word by word, and offers a second route that always
//! answers 429 so a fallback can be seen taking over.

use super::LoopbackServer;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A running simulated upstream; stops when dropped.
pub struct SimulatedUpstream {
    server: LoopbackServer,
}

struct Config {
    key: String,
    word_delay: Duration,
}

impl SimulatedUpstream {
    /// Start on an ephemeral loopback port, accepting only `key`. `word_delay`
    /// paces streamed words so streaming is visible.
    pub async fn start(key: &str, word_delay: Duration) -> std::io::Result<Self> {
        let state = Arc::new(Config { key: key.to_string(), word_delay });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/rate-limited/v1/chat/completions", post(rate_limited))
            .with_state(state);
        Ok(SimulatedUpstream { server: LoopbackServer::start(app).await? })
    }

    /// Base URL of the healthy route, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr())
    }

    /// Base URL of the route that always answers 429.
    pub fn rate_limited_base_url(&self) -> String {
        format!("http://{}/rate-limited/v1", self.server.addr())
    }
}

fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn rate_limited() -> Response {
    let mut r = openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1.",
    );
    r.headers_mut().insert("retry-after", "20".parse().expect("static header"));
    r
}

async fn chat(State(cfg): State<Arc<Config>>, headers: HeaderMap, body: String) -> Response {
    let expected = format!("Bearer {}", cfg.key);
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            "The body is not valid JSON.",
        );
    };
    let model = req["model"].as_str().unwrap_or("demo").to_string();
    let prompt = prompt_text(&req);
    let json_mode = req["response_format"]["type"].as_str().is_some_and(|t| t.starts_with("json"));
    let answer = if json_mode { classify(&prompt) } else { write_reply(&prompt) };
    let prompt_tokens = count_tokens(&prompt) + 8;
    let completion_tokens = count_tokens(&answer);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0 }
    });
    if req["stream"].as_bool() == Some(true) {
        return stream(answer, model, usage, cfg.word_delay);
    }
    let body = json!({
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
        "usage": usage
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn stream(answer: String, model: String, usage: Value, delay: Duration) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let c = json!({ "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }], "usage": null });
            format!("data: {c}\n\n")
        };
        let _ = tx.send(Ok(chunk(json!({ "role": "assistant", "content": "" }), Value::Null))).await;
        for (i, word) in answer.split_inclusive(' ').enumerate() {
            if i > 0 {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(chunk(json!({ "content": word }), Value::Null))).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Ok(chunk(json!({}), json!("stop")))).await;
        let last = json!({ "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage });
        let _ = tx.send(Ok(format!("data: {last}\n\ndata: [DONE]\n\n"))).await;
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn prompt_text(req: &Value) -> String {
    let mut out = String::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(s) => out.push_str(s),
            Value::Array(parts) => {
                for p in parts {
                    out.push_str(p["text"].as_str().unwrap_or(""));
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

fn count_tokens(text: &str) -> u64 {
    // Roughly four characters a token, as for English with real tokenizers.
    (text.len() as u64).div_ceil(4)
}

fn classify(prompt: &str) -> String {
    let p = prompt.to_lowercase();
    let category = if p.contains("refund") || p.contains("charge") || p.contains("invoice") {
        "billing"
    } else if p.contains("crash") || p.contains("error") || p.contains("bug") {
        "technical"
    } else {
        "general"
    };
    let urgency = if p.contains("twice") || p.contains("urgent") || p.contains("down") { "high" } else { "normal" };
    json!({ "category": category, "urgency": urgency }).to_string()
}

fn write_reply(prompt: &str) -> String {
    let p = prompt.to_lowercase();
    if p.contains("billing") {
        "Thank you for reaching out, and I am sorry you were charged twice. I have asked our billing team to refund the duplicate charge; you will see it on your statement within three to five business days. If anything else looks wrong, reply to this message and we will fix it right away.".into()
    } else if p.contains("technical") {
        "Thanks for the report, and sorry for the trouble. Our engineers are looking into the crash now; in the meantime, updating to the latest version and restarting the app usually helps. We will write back as soon as we know more.".into()
    } else {
        "Thanks for getting in touch! We have received your message and a member of our team will reply within one business day.".into()
    }
}
