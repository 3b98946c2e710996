//! A simulated provider on loopback, so `llmnode demo` shows real HTTP, real
//! streaming and a real failover from one provider to another with no network
//! and no keys. It speaks two wire formats: OpenAI Chat Completions and the
//! Anthropic Messages API, each checking its own auth header.
//!
//! It answers deterministically from the prompt, streams word by word, and
//! offers an OpenAI route that always answers 429 so a fallback to the
//! Anthropic route can be seen taking over. It also embeds text in the
//! OpenAI format (`/v1/embeddings`): a deterministic unit vector per text,
//! 8 numbers long unless `dimensions` asks for another length (at most 64),
//! and that route too has a twin that always answers 429.

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
            .route("/v1/chat/completions", post(openai_chat))
            .route("/rate-limited/v1/chat/completions", post(rate_limited))
            .route("/v1/embeddings", post(openai_embeddings))
            .route("/rate-limited/v1/embeddings", post(rate_limited))
            .route("/anthropic/v1/messages", post(anthropic_messages))
            .with_state(state);
        Ok(SimulatedUpstream { server: LoopbackServer::start(app).await? })
    }

    /// Base URL of the healthy OpenAI route, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr())
    }

    /// Base URL of the OpenAI route that always answers 429.
    pub fn rate_limited_base_url(&self) -> String {
        format!("http://{}/rate-limited/v1", self.server.addr())
    }

    /// Base URL of the Anthropic Messages route (the plugin adds `/v1/messages`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}/anthropic", self.server.addr())
    }
}

/// The two wire formats: how each authenticates, fails, answers and streams.
#[derive(Clone, Copy)]
enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    fn authorized(self, headers: &HeaderMap, key: &str) -> bool {
        let (name, expected) = match self {
            Dialect::OpenAi => (header::AUTHORIZATION.as_str(), format!("Bearer {key}")),
            Dialect::Anthropic => ("x-api-key", key.to_string()),
        };
        headers.get(name).and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }

    fn error(self, status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
        let body = match self {
            Dialect::OpenAi => json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
            Dialect::Anthropic => json!({ "type": "error", "error": { "type": kind, "message": message } }),
        };
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }

    fn wants_json(self, req: &Value) -> bool {
        match self {
            Dialect::OpenAi => req["response_format"]["type"].as_str().is_some_and(|t| t.starts_with("json")),
            // Anthropic has no JSON mode: the plugin asks for JSON in the system prompt.
            Dialect::Anthropic => system_text(req).contains("JSON"),
        }
    }

    fn answer(self, model: &str, text: &str, prompt_tokens: u64, completion_tokens: u64) -> Value {
        match self {
            Dialect::OpenAi => json!({
                "id": "chatcmpl-demo", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                "usage": openai_usage(prompt_tokens, completion_tokens),
            }),
            Dialect::Anthropic => json!({
                "id": "msg_demo", "type": "message", "role": "assistant", "model": model,
                "content": [{ "type": "text", "text": text }], "stop_reason": "end_turn", "stop_sequence": null,
                "usage": { "input_tokens": prompt_tokens, "output_tokens": completion_tokens },
            }),
        }
    }

    /// The stream's events: (opening events, one event per word, closing events).
    fn stream_events(self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> StreamShape {
        let sse = |event: Option<&str>, data: Value| match event {
            Some(e) => format!("event: {e}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        };
        match self {
            Dialect::OpenAi => {
                let usage = openai_usage(prompt_tokens, completion_tokens);
                let last = json!({ "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0,
                    "model": model, "choices": [], "usage": usage });
                let model = model.to_string();
                let chunk = move |delta: Value, finish: Value| {
                    sse(
                        None,
                        json!({ "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0,
                        "model": model, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }], "usage": null }),
                    )
                };
                StreamShape {
                    open: chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
                    close: format!("{}{}data: [DONE]\n\n", chunk(json!({}), json!("stop")), sse(None, last)),
                    word: Box::new(move |w| chunk(json!({ "content": w }), Value::Null)),
                }
            }
            Dialect::Anthropic => StreamShape {
                open: sse(
                    Some("message_start"),
                    json!({ "type": "message_start", "message": { "id": "msg_demo",
                    "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null,
                    "usage": { "input_tokens": prompt_tokens, "output_tokens": 1 } } }),
                ) + &sse(
                    Some("content_block_start"),
                    json!({ "type": "content_block_start", "index": 0,
                        "content_block": { "type": "text", "text": "" } }),
                ),
                word: Box::new(move |w| {
                    sse(
                        Some("content_block_delta"),
                        json!({ "type": "content_block_delta", "index": 0,
                        "delta": { "type": "text_delta", "text": w } }),
                    )
                }),
                close: sse(Some("content_block_stop"), json!({ "type": "content_block_stop", "index": 0 }))
                    + &sse(
                        Some("message_delta"),
                        json!({ "type": "message_delta",
                        "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                        "usage": { "output_tokens": completion_tokens } }),
                    )
                    + &sse(Some("message_stop"), json!({ "type": "message_stop" })),
            },
        }
    }
}

/// A stream as text: what opens it, each word's event, what closes it.
struct StreamShape {
    open: String,
    word: Box<dyn Fn(&str) -> String + Send>,
    close: String,
}

fn openai_usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0 }
    })
}

async fn rate_limited() -> Response {
    let mut r = Dialect::OpenAi.error(
        StatusCode::TOO_MANY_REQUESTS,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1.",
    );
    r.headers_mut().insert("retry-after", "20".parse().expect("static header"));
    r
}

async fn openai_chat(State(cfg): State<Arc<Config>>, headers: HeaderMap, body: String) -> Response {
    chat(Dialect::OpenAi, &cfg, &headers, &body)
}

async fn anthropic_messages(State(cfg): State<Arc<Config>>, headers: HeaderMap, body: String) -> Response {
    chat(Dialect::Anthropic, &cfg, &headers, &body)
}

/// Vector length when a request names none, and the longest one served.
const DEMO_DIMENSIONS: (usize, usize) = (8, 64);

async fn openai_embeddings(State(cfg): State<Arc<Config>>, headers: HeaderMap, body: String) -> Response {
    let dialect = Dialect::OpenAi;
    if !dialect.authorized(&headers, &cfg.key) {
        return dialect.error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    let req = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    let texts: Vec<&str> = match &req["input"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let dimensions = req["dimensions"].as_u64().map_or(DEMO_DIMENSIONS.0, |d| d as usize);
    if texts.is_empty() || !(1..=DEMO_DIMENSIONS.1).contains(&dimensions) {
        return dialect.error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_value",
            "`input` must be a text or a list of texts, and `dimensions` from 1 to 64.",
        );
    }
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": embed(t, dimensions) }))
        .collect();
    let tokens: u64 = texts.iter().map(|t| count_tokens(t)).sum();
    let body = json!({
        "object": "list", "data": data, "model": req["model"].as_str().unwrap_or("demo"),
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A deterministic unit vector for `text`: byte sums folded over `dimensions` slots.
fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut v = vec![0f32; dimensions];
    for (i, b) in text.bytes().enumerate() {
        v[i % dimensions] += f32::from(b) * if i % 2 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn chat(dialect: Dialect, cfg: &Config, headers: &HeaderMap, body: &str) -> Response {
    if !dialect.authorized(headers, &cfg.key) {
        let (kind, code) = match dialect {
            Dialect::OpenAi => ("invalid_request_error", "invalid_api_key"),
            Dialect::Anthropic => ("authentication_error", ""),
        };
        return dialect.error(StatusCode::UNAUTHORIZED, kind, code, "Incorrect API key provided.");
    }
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return dialect.error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            "The body is not valid JSON.",
        );
    };
    let model = req["model"].as_str().unwrap_or("demo").to_string();
    let prompt = format!("{}{}", system_text(&req), prompt_text(&req));
    let answer = if dialect.wants_json(&req) { classify(&prompt) } else { write_reply(&prompt) };
    let prompt_tokens = count_tokens(&prompt) + 8;
    let completion_tokens = count_tokens(&answer);
    if req["stream"].as_bool() == Some(true) {
        let shape = dialect.stream_events(&model, prompt_tokens, completion_tokens);
        return stream(answer, shape, cfg.word_delay);
    }
    let body = dialect.answer(&model, &answer, prompt_tokens, completion_tokens);
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn stream(answer: String, shape: StreamShape, delay: Duration) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        let _ = tx.send(Ok(shape.open)).await;
        for (i, word) in answer.split_inclusive(' ').enumerate() {
            if i > 0 {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok((shape.word)(word))).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Ok(shape.close)).await;
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The system prompt, where a format keeps it outside the messages (Anthropic).
fn system_text(req: &Value) -> String {
    match &req["system"] {
        Value::String(s) => format!("{s}\n"),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).map(|t| format!("{t}\n")).collect(),
        _ => String::new(),
    }
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
