//! Plugins built for older contract versions, run through the host's shims:
//! the 0.2.0 and 0.3.0 test plugins (plain wit-bindgen, no SDK) serve chat,
//! streams and embeddings through a real engine over loopback; what a newer
//! contract added (modalities, grounding) is derived or refused, never
//! invented.

use crate::embeddings::embedding_node;
use crate::support::{self, Reply, Upstream};
use llmnode::connections::ConnectionSet;
use llmnode::engine::Engine;
use llmnode::runtime::bindings::types::{Capabilities, Modalities};
use llmnode::runtime::{ContractVersion, PluginRegistry};
use serde_json::json;

const KEY: &str = "sk-FAKE-contract-shim-key-0123456789";

/// An upstream speaking the test plugins' OpenAI-style dialect: a whole
/// answer (with reasoning), a stream, and embeddings.
async fn upstream() -> Upstream {
    Upstream::start(|seen| {
        if seen.uri.ends_with("/embeddings") {
            return Reply::json(
                200,
                r#"{"data":[{"embedding":[0.5,0.25]},{"embedding":[1.0,0.0]}],"model":"legacy-embed","usage":{"prompt_tokens":4}}"#,
            );
        }
        if seen.json()["stream"] == true {
            Reply::sse(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", 7)
        } else {
            Reply::json(
                200,
                r#"{"id":"l1","model":"legacy-model","choices":[{"message":{"content":"Hello, old friend","reasoning_content":"Think."},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":2}}}"#,
            )
        }
    })
    .await
}

/// An engine with one connection `old` to the test plugin `wasm` (provider `provider`).
fn engine(wasm: &str, provider: &str, upstream: &Upstream) -> (Engine, PluginRegistry) {
    let plugin = support::runtime().load_file(&support::wasm(wasm)).unwrap();
    let mut registry = PluginRegistry::default();
    registry.insert(plugin);
    let mut set = ConnectionSet::default();
    set.insert(support::connection("old", provider, &upstream.url("/v1"), KEY));
    (Engine::new(&set, &registry).unwrap(), registry)
}

/// Chat whole and streamed, then an embedding node, through connection `old`.
async fn chat_and_embed(engine: &Engine, upstream: &Upstream) {
    for (stream, text) in [(false, "Hello, old friend"), (true, "Hello")] {
        let workflow = support::one_node("old", &[], json!({ "model": "legacy-model", "stream": stream }));
        let report = support::run(engine, &workflow, json!({})).await;
        assert!(report.ok, "{report:#?}");
        let output = report.nodes[0].output.clone().unwrap();
        assert_eq!((output["text"].as_str(), output["finish_reason"].as_str()), (Some(text), Some("stop")), "{output}");
        // Grounding is a 0.4.0 field: an older plugin's answer never has it.
        assert!(output.get("grounding").is_none(), "{output}");
        // $1 in, $2 out per million, from the old plugin's table.
        assert!(report.attempts[0].cost_usd > 0.0, "{:?}", report.attempts[0]);
    }
    let workflow = embedding_node("old", &[], json!({ "model": "legacy-embed", "input": ["one", "two"] }));
    let report = support::run(engine, &workflow, json!({})).await;
    assert!(report.ok, "{report:#?}");
    let vectors = report.nodes[0].embeddings.as_ref().expect("typed vectors");
    assert_eq!(vectors.vectors, vec![vec![0.5, 0.25], vec![1.0, 0.0]]);
    let seen = upstream.seen();
    assert!(seen.iter().all(|s| s.headers["authorization"] == format!("Bearer {KEY}")));
    let embed = seen.iter().find(|s| s.uri == "/v1/embeddings").expect("an embeddings call");
    assert_eq!(embed.json()["input"], json!(["one", "two"]));
}

#[tokio::test]
async fn a_plugin_built_for_contract_0_2_chats_and_embeds_through_its_shim() {
    let upstream = upstream().await;
    let (engine, registry) = engine("test_plugin_contract_v0_2", "legacy-v0-2", &upstream);
    let plugin = registry.get("legacy-v0-2").unwrap();
    assert_eq!((plugin.contract(), plugin.info().contract_version.as_str()), (ContractVersion::V0_2, "0.2.0"));
    // 0.2.0 has no modalities: the shim reads them off the capabilities.
    let chat = plugin.model("legacy-model").unwrap();
    assert_eq!(
        (chat.input_modalities, chat.output_modalities),
        (Modalities::TEXT | Modalities::IMAGE, Modalities::TEXT)
    );
    let embed = plugin.model("legacy-embed").unwrap();
    assert_eq!((embed.input_modalities, embed.output_modalities), (Modalities::TEXT, Modalities::EMBEDDING));
    assert!(chat.cache_write_prices.is_empty() && chat.reasoning_price.is_none());
    chat_and_embed(&engine, &upstream).await;
}

#[tokio::test]
async fn a_plugin_built_for_contract_0_3_reasons_and_embeds_through_its_shim() {
    let upstream = upstream().await;
    let (engine, registry) = engine("test_plugin_contract_v0_3", "legacy-v0-3", &upstream);
    let plugin = registry.get("legacy-v0-3").unwrap();
    assert_eq!((plugin.contract(), plugin.info().contract_version.as_str()), (ContractVersion::V0_3, "0.3.0"));
    let caps = plugin.info().capabilities;
    assert!(
        caps.contains(Capabilities::REASONING | Capabilities::EMBEDDINGS) && !caps.contains(Capabilities::GROUNDING)
    );
    chat_and_embed(&engine, &upstream).await;

    // The request's reasoning crosses the shim; the answer's comes back.
    let workflow = support::one_node("old", &[], json!({ "model": "legacy-model", "reasoning": { "effort": "high" } }));
    let report = support::run(&engine, &workflow, json!({})).await;
    assert!(report.ok, "{report:#?}");
    let output = report.nodes[0].output.clone().unwrap();
    assert_eq!(output["reasoning"], "Think.", "{output}");
    assert_eq!(report.attempts[0].usage.reasoning, 2);
    assert_eq!(upstream.seen().last().unwrap().json()["reasoning_effort"], "high");

    // Grounding is 0.4.0's: a 0.3.0 plugin cannot have announced it, so the
    // node is refused by name before any request goes out.
    let before = upstream.seen().len();
    let workflow =
        support::one_node("old", &[], json!({ "model": "legacy-model", "grounding": { "web_search": true } }));
    let report = support::run(&engine, &workflow, json!({})).await;
    assert!(!report.ok, "{report:#?}");
    let error = format!("{report:?}");
    assert!(error.contains("connection `old`") && error.contains("cannot ground answers"), "{error}");
    assert_eq!(upstream.seen().len(), before, "no request may reach the upstream");
}
