//! A provider plugin as one was written for contract 0.3.0: plain
//! wit-bindgen against `wit/v0.3`, no SDK, chat in the shared OpenAI-style
//! dialect (the 0.1.0 test plugin's `dialect`) with a request's reasoning sent as
//! `reasoning_effort`, and embeddings, so the end-to-end tests run them
//! through the host's 0.3.0 shim.

wit_bindgen::generate!({
    path: "../../../wit/v0.3",
    world: "plugin",
});

#[path = "../../contract-v0-1/src/dialect.rs"]
mod dialect;
#[path = "../../contract-v0-2/src/embeddings.rs"]
mod embeddings;

use exports::llmnode::provider::provider::Guest;
use llmnode::provider::types::*;
use serde_json::json;

struct Legacy;

impl Guest for Legacy {
    fn info() -> PluginInfo {
        let chat = Capabilities::STREAMING | Capabilities::REASONING;
        dialect::info(
            "0.3.0",
            vec![dialect::model("legacy-model", chat), dialect::model("legacy-embed", Capabilities::EMBEDDINGS)],
            chat | Capabilities::EMBEDDINGS,
        )
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let mut body = dialect::chat_body(&request);
        if let Some(reasoning) = &request.reasoning {
            body["reasoning_effort"] = json!(match reasoning {
                Reasoning::Effort(ReasoningEffort::Low) => "low",
                Reasoning::Effort(ReasoningEffort::Medium) | Reasoning::BudgetTokens(_) => "medium",
                Reasoning::Effort(ReasoningEffort::High) => "high",
            });
        }
        Ok(dialect::post(&connection, "chat/completions", &body))
    }

    dialect::forwarded!();
    embeddings::forwarded!();
}

export!(Legacy);
