//! Grounding with Google Search, end to end: a node's `grounding` option
//! becomes the Gemini plugin's search tool, and the answer's
//! `groundingMetadata` (Google's SDK test response,
//! `tests/fixtures/gemini/firebase-mock-responses/googleai/unary-success-google-search-grounding.json`)
//! comes back typed in the node output, in `llmnode run` and in the
//! OpenAI-compatible response, whole or streamed. A connection whose plugin
//! cannot ground is passed over before any request leaves.

use crate::gemini::{exchange, run};
use crate::support::daemon::{KEY as DAEMON_KEY, Setup};
use crate::support::{self, Reply, Upstream};
use serde_json::{Value, json};
use std::time::Duration;

const FIXTURE: &str = "gemini/firebase-mock-responses/googleai/unary-success-google-search-grounding.json";

/// The grounding every test expects, read from the fixture by hand: three
/// supports (the first at the start of the answer, so without `startIndex`
/// on the wire), two web sources, one query.
fn check_grounding(label: &str, g: &Value) {
    assert_eq!(g["web_search_queries"], json!(["current weather in London"]), "{label}: {g}");
    let sources = g["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{label}: {g}");
    assert!(
        sources[0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("https://vertexaisearch.cloud.google.com/grounding-api-redirect/")
    );
    assert_eq!(sources[0]["title"], "accuweather.com");
    assert_eq!(
        sources[1],
        json!({ "uri": "https://www.google.com/search?q=weather+in+London", "title": "Weather information for locality: London" })
    );
    let supports = g["supports"].as_array().unwrap();
    assert_eq!(supports.len(), 3, "{label}: {g}");
    assert_eq!(
        (&supports[0]["start_index"], &supports[0]["end_index"], &supports[0]["source_indices"]),
        (&json!(0), &json!(56), &json!([0])),
        "{label}: {g}"
    );
    assert_eq!(supports[0]["text"], "The current weather in London, United Kingdom is cloudy.");
    assert_eq!((&supports[1]["start_index"], &supports[1]["end_index"]), (&json!(57), &json!(123)));
    assert!((supports[1]["confidence_scores"][0].as_f64().unwrap() - 0.98559904).abs() < 1e-6);
    assert!(g["search_entry_point"].as_str().unwrap().contains("current weather in London"));
}

/// The fixture as a stream: the answer in two chunks, the grounding metadata,
/// finish reason and counts on the last one (where Gemini sends them).
fn as_stream() -> Vec<u8> {
    let whole: Value = serde_json::from_slice(&support::fixture(FIXTURE)).unwrap();
    let text = whole["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap().to_string();
    let (head, tail) = text.split_at(57);
    let mut first = whole.clone();
    first["candidates"][0] = json!({ "content": { "parts": [{ "text": head }], "role": "model" } });
    first.as_object_mut().unwrap().remove("usageMetadata");
    let mut last = whole;
    last["candidates"][0]["content"]["parts"][0]["text"] = json!(tail);
    format!("data: {first}\r\n\r\ndata: {last}\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn a_grounded_node_sends_the_search_tool_and_gets_the_sources_back() {
    let answer = support::fixture(FIXTURE);
    let cfg = json!({ "model": "gemini-2.0-flash", "grounding": { "web_search": true } });
    let (seen, output) = exchange(cfg, move || Reply::json(200, answer.clone())).await;
    assert_eq!(seen.json()["tools"], json!([{ "google_search": {} }]));
    assert!(output["text"].as_str().unwrap().starts_with("The current weather in London"));
    check_grounding("whole", &output["grounding"]);

    // Streamed: the metadata on the final chunk ends up on the output.
    let sse = as_stream();
    let cfg = json!({ "model": "gemini-2.0-flash", "stream": true, "grounding": { "web_search": true } });
    let (seen, output) = exchange(cfg, move || Reply::sse(&sse, 64)).await;
    assert!(seen.uri.ends_with(":streamGenerateContent?alt=sse"), "{}", seen.uri);
    assert!(output["text"].as_str().unwrap().ends_with("humidity is around 41%.\n"), "{output}");
    check_grounding("streamed", &output["grounding"]);

    // Without the option, no search tool goes out.
    let answer = support::fixture(FIXTURE);
    let (seen, _) = exchange(json!({ "model": "gemini-2.0-flash" }), move || Reply::json(200, answer.clone())).await;
    assert!(seen.json().get("tools").is_none(), "{}", seen.json());
}

#[tokio::test]
async fn gemini_1_5_gets_search_retrieval_with_its_dynamic_threshold() {
    let answer = support::fixture(FIXTURE);
    let cfg = json!({ "model": "gemini-1.5-pro", "grounding": { "web_search": true, "dynamic_threshold": 0.3 } });
    let (seen, output) = exchange(cfg, move || Reply::json(200, answer.clone())).await;
    let tool = &seen.json()["tools"][0]["google_search_retrieval"]["dynamic_retrieval_config"];
    assert_eq!(tool["mode"], "MODE_DYNAMIC");
    assert!((tool["dynamic_threshold"].as_f64().unwrap() - 0.3).abs() < 1e-6, "{tool}");
    check_grounding("1.5", &output["grounding"]);

    // A threshold means nothing to a newer model: refused, nothing sent.
    let cfg = json!({ "model": "gemini-2.5-flash", "grounding": { "web_search": true, "dynamic_threshold": 0.3 } });
    let (report, seen) = run(cfg, || Reply::json(500, "unreachable")).await;
    assert!(!report.ok && seen.is_empty(), "{report:#?}");
    assert!(format!("{report:?}").contains("Gemini 1.5 models only"), "{report:?}");
}

#[tokio::test]
async fn a_connection_that_cannot_ground_is_passed_over_by_name() {
    let openai = Upstream::start(|_| Reply::json(500, "must not be called")).await;
    let answer = support::fixture(FIXTURE);
    let gemini = Upstream::start(move |_| Reply::json(200, answer.clone())).await;
    let engine = support::engine(vec![
        support::connection("o", "openai", &openai.url("/v1"), "sk-FAKE-grounding-openai"),
        support::connection("g", "gemini", &gemini.url(""), "fake-gemini-key-grounding"),
    ]);
    let cfg = json!({ "model": { "o": "gpt-4o", "g": "gemini-2.0-flash" }, "grounding": { "web_search": true } });
    let report = support::run(&engine, &support::one_node("o", &["g"], cfg), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.nodes[0].connection.as_deref(), Some("g"));
    let skipped = format!("{:?}", report.nodes[0].skipped);
    assert!(skipped.contains("connection `o`: its plugin (openai) cannot ground answers"), "{skipped}");
    assert!(openai.seen().is_empty());

    // With only that connection, the node fails with the same reason.
    let only_o = json!({ "model": "gpt-4o", "grounding": { "web_search": true } });
    let report = support::run(&engine, &support::one_node("o", &[], only_o), json!({})).await;
    assert!(!report.ok);
    assert!(format!("{report:?}").contains("cannot ground answers on a web search"), "{report:?}");
    assert!(openai.seen().is_empty());
}

#[tokio::test]
async fn run_output_and_the_openai_compatible_api_carry_the_grounding() {
    let s = Setup::new(Duration::ZERO).await;
    let answer = support::fixture(FIXTURE);
    let sse = as_stream();
    let gemini = Upstream::start(move |seen| {
        if seen.uri.contains("alt=sse") { Reply::sse(&sse, 64) } else { Reply::json(200, answer.clone()) }
    })
    .await;
    let base = gemini.url("");
    let add = ["connections", "add", "g", "--provider", "gemini", "--api-key-env", "K", "--base-url", &base];
    s.cli(&[&add[..], &["--default-model", "gemini-2.0-flash"]].concat()).await;

    let workflow = s.dir.path().join("grounded.json");
    let wf = support::one_node("g", &[], json!({ "grounding": { "web_search": true } }));
    std::fs::write(&workflow, wf).unwrap();
    let printed: Value = serde_json::from_str(&s.cli(&["run", workflow.to_str().unwrap(), "--json"]).await).unwrap();
    check_grounding("llmnode run", &printed["output"]["grounding"]);
    let plain = s.cli(&["run", workflow.to_str().unwrap()]).await;
    assert!(plain.contains("\"web_search_queries\"") && plain.contains("accuweather.com"), "{plain}");

    let d = s.serve().await;
    let chat = json!({ "model": "g/gemini-2.0-flash", "messages": [{ "role": "user", "content": "Weather in London?" }],
                       "grounding": { "web_search": true } });
    let (status, body) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    check_grounding("chat.completion", &body["grounding"]);
    assert_eq!(gemini.seen().last().unwrap().json()["tools"], json!([{ "google_search": {} }]));

    let mut streamed = chat;
    streamed["stream"] = json!(true);
    let text = d
        .http
        .post(format!("{}/v1/chat/completions", d.base))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body(streamed.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let last = chunks.iter().rfind(|c| c["choices"][0]["finish_reason"].is_string()).expect("a finishing chunk");
    check_grounding("chat.completion.chunk", &last["grounding"]);
    assert!(chunks.iter().filter(|c| c.get("grounding").is_some()).count() == 1, "{text}");
    support::assert_no_leak("the stream", &text, DAEMON_KEY);
    d.assert_log_clean();
}
