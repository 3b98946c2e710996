//! The model catalogue: every model the project's brief names is in its
//! plugin's table with its window and prices (so none runs at $0), the
//! context-window check refuses what cannot fit before any HTTP call, and
//! `llmnode models` and `GET /v1/models` show the catalogue with the
//! operator's price overrides applied.

use crate::support::daemon::Setup;
use crate::support::{self, Reply, Upstream};
use llmnode::runtime::bindings::types::Modalities;
use llmnode::usage::{PriceBook, TokenUsage};
use serde_json::{Value, json};
use std::time::Duration;

/// (provider, model, context window) of every model the brief names, and
/// the current generation beside them.
const SEED: &[(&str, &str, u32)] = &[
    ("openai", "gpt-4-turbo", 128_000),
    ("openai", "gpt-4", 8_192),
    ("openai", "gpt-3.5-turbo", 16_385),
    ("openai", "gpt-4o", 128_000),
    ("openai", "gpt-5", 400_000),
    ("azure-openai", "gpt-4-turbo", 128_000),
    ("anthropic", "claude-3-5-sonnet-20241022", 200_000),
    ("anthropic", "claude-3-opus-20240229", 200_000),
    ("anthropic", "claude-3-haiku-20240307", 200_000),
    ("anthropic", "claude-opus-4-5", 200_000),
    ("gemini", "gemini-1.5-pro", 2_097_152),
    ("gemini", "gemini-1.5-flash", 1_048_576),
    ("gemini", "gemini-2.5-pro", 1_048_576),
    ("bedrock", "amazon.titan-text-express-v1", 8_192),
    ("bedrock", "amazon.titan-text-premier-v1:0", 32_000),
    ("bedrock", "amazon.titan-embed-text-v1", 8_192),
    ("bedrock", "amazon.titan-embed-text-v2:0", 8_192),
    ("bedrock", "meta.llama3-1-70b-instruct-v1:0", 128_000),
    ("bedrock", "us.meta.llama3-2-90b-instruct-v1:0", 128_000),
    ("qwen", "qwen2.5-72b-instruct", 131_072),
    ("qwen", "qwen-vl-max", 131_072),
    ("qwen", "qwen-vl-plus", 131_072),
];

#[test]
fn every_seed_model_is_listed_with_its_window_and_priced_above_zero() {
    let registry = support::registry();
    let book = PriceBook::default();
    let usage = TokenUsage { input: 1_000, output: 1_000, ..Default::default() };
    for (provider, model, window) in SEED {
        let plugin = registry.get(provider).unwrap_or_else(|| panic!("no plugin {provider}"));
        let info = plugin.model(model).unwrap_or_else(|| panic!("{provider} does not list {model}"));
        assert_eq!(info.context_window, *window, "{provider}/{model}");
        let prices = book.resolve(provider, model, plugin).unwrap_or_else(|| panic!("{provider}/{model} unpriced"));
        assert!(prices.input > 0.0 && prices.cost(&usage) > 0.0, "{provider}/{model}: {prices:?}");
        assert!(info.input_modalities.contains(Modalities::TEXT), "{provider}/{model}");
    }
    // Modalities and cache lifetimes the tables declare.
    let gemini = registry.get("gemini").unwrap();
    let pro = gemini.model("gemini-1.5-pro").unwrap();
    assert!(pro.input_modalities.contains(Modalities::AUDIO | Modalities::VIDEO | Modalities::DOCUMENT));
    let titan = registry.get("bedrock").unwrap().model("amazon.titan-embed-text-v1").unwrap();
    assert_eq!(titan.output_modalities, Modalities::EMBEDDING);
    let qwen_vl = registry.get("qwen").unwrap().model("qwen-vl-max").unwrap();
    assert!(qwen_vl.input_modalities.contains(Modalities::IMAGE | Modalities::VIDEO));
    let anthropic = registry.get("anthropic").unwrap();
    let opus_3 = book.resolve("anthropic", "claude-3-opus-20240229", anthropic).unwrap();
    assert_eq!((opus_3.cache_write, opus_3.cache_write_long), (Some(18.75), Some(30.0)));
    assert_eq!(
        opus_3.for_cache_ttl(Some(3600)).cost(&TokenUsage { cache_write: 1_000_000, ..Default::default() }),
        30.0
    );
}

/// A one-node workflow asking `model` on `small` (then `large`) about `text`.
fn long_prompt_node(connections: &[&str], model: &Value) -> String {
    json!({
        "name": "long",
        "inputs": { "text": { "type": "string" } },
        "nodes": [{ "id": "n", "node_type": "llm", "config": {
            "primary_connection": connections[0],
            "fallback_connections": &connections[1..],
            "model": model,
            "messages": [{ "role": "user", "content": "{{inputs.text}}" }]
        }}],
        "output": "{{nodes.n.output}}"
    })
    .to_string()
}

#[tokio::test]
async fn a_prompt_over_gpt_3_5_turbo_s_16k_is_refused_before_any_call_and_fits_128k() {
    let answer = support::fixture("openai/spec-examples/default.response.json");
    let upstream = Upstream::start(move |_| Reply::json(200, answer.clone())).await;
    let engine = support::engine(vec![support::connection("o", "openai", &upstream.url("/v1"), "sk-FAKE-window-key")]);
    // About 20 000 tokens at the fewest (4 bytes a token): over 16 385, far under 128 000.
    let prompt = "word ".repeat(16_000);

    let report =
        support::run(&engine, &long_prompt_node(&["o"], &json!("gpt-3.5-turbo")), json!({ "text": prompt })).await;
    assert!(!report.ok, "{report:#?}");
    assert!(upstream.seen().is_empty(), "no HTTP call may go out");
    let reason = &report.nodes[0].skipped[0].reason;
    assert!(reason.contains("gpt-3.5-turbo's context window of 16385") && reason.contains("20000 tokens"), "{reason}");
    let error = report.nodes[0].error.clone().unwrap_or_default();
    assert!(error.contains("gpt-3.5-turbo") && error.contains("16385"), "{error}");

    for model in ["gpt-4o", "gpt-4-turbo"] {
        let report = support::run(&engine, &long_prompt_node(&["o"], &json!(model)), json!({ "text": prompt })).await;
        assert!(report.ok, "{model}: {report:#?}");
        // Priced from the table: 19 in, 10 out.
        let attempt = &report.attempts[0];
        assert!(!attempt.unpriced && attempt.cost_usd > 0.0, "{attempt:?}");
    }
    let report = support::run(&engine, &long_prompt_node(&["o"], &json!("gpt-4-turbo")), json!({ "text": "hi" })).await;
    assert!(
        (report.attempts[0].cost_usd - (19.0 * 10.0 + 10.0 * 30.0) / 1e6).abs() < 1e-12,
        "{:?}",
        report.attempts[0]
    );
}

#[tokio::test]
async fn the_catalogue_command_and_the_models_endpoint_show_windows_modalities_and_charged_prices() {
    let s = Setup::new(Duration::ZERO).await;
    s.cli(&["prices", "set", "openai", "gpt-4o-mini", "--input", "0.1", "--output", "0.2"]).await;

    let listed: Value = serde_json::from_str(&s.cli(&["models", "--connection", "openai", "--json"]).await).unwrap();
    let entries = listed.as_array().unwrap();
    assert!(entries.iter().all(|e| e["connection"] == "openai"), "{listed}");
    let find =
        |model: &str| entries.iter().find(|e| e["model"] == model).unwrap_or_else(|| panic!("{model}: {listed}"));
    let mini = find("gpt-4o-mini");
    assert_eq!((mini["context_window"].as_u64(), mini["max_output_tokens"].as_u64()), (Some(128_000), Some(16_384)));
    assert_eq!(mini["input_modalities"], json!(["text", "image"]));
    assert_eq!(mini["output_modalities"], json!(["text"]));
    assert!(mini["capabilities"].as_array().unwrap().contains(&json!("vision")), "{mini}");
    assert_eq!((mini["prices"]["input"].as_f64(), mini["price_source"].as_str()), (Some(0.1), Some("override")));
    let turbo = find("gpt-3.5-turbo");
    assert_eq!((turbo["context_window"].as_u64(), turbo["prices"]["output"].as_f64()), (Some(16_385), Some(1.5)));
    assert_eq!(turbo["price_source"], "plugin");
    assert_eq!(find("text-embedding-3-small")["output_modalities"], json!(["embedding"]));

    let table = s.cli(&["models"]).await;
    let row = table.lines().find(|l| l.starts_with("openai") && l.contains(" gpt-4-turbo ")).expect(&table);
    assert!(row.contains("128000") && row.contains("text,image") && row.contains("10") && row.contains("30"), "{row}");
    assert!(table.lines().any(|l| l.starts_with("limited")), "every connection is listed:\n{table}");
    assert!(table.contains("(override)"), "{table}");

    let out = s.cli_output(&["models", "--connection", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no connection `nope`"));

    let d = s.serve().await;
    let (status, list) = d.call("GET", "/v1/models", &s.admin, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    let model = |id: &str| list["data"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned();
    let mini = model("openai/gpt-4o-mini").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((mini["object"].as_str(), mini["owned_by"].as_str()), (Some("model"), Some("openai")));
    assert_eq!(mini["context_window"], 128_000);
    assert_eq!((mini["prices"]["input"].as_f64(), mini["price_source"].as_str()), (Some(0.1), Some("override")));
    assert_eq!(mini["connection"], "openai");
    // The default model's own id: the same catalogue fields.
    assert_eq!(model("gpt-4o-mini").unwrap()["input_modalities"], json!(["text", "image"]));
    d.assert_log_clean();
}
