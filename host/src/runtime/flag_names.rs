//! The names of a model's capability and modality flags, as every output
//! (CLI tables and JSON, the HTTP API) spells them: the contract's own
//! kebab-case words, in the contract's order.

use super::bindings::types::{Capabilities, Modalities};

/// Every capability flag and its name.
const CAPABILITIES: [(Capabilities, &str); 9] = [
    (Capabilities::STREAMING, "streaming"),
    (Capabilities::TOOLS, "tools"),
    (Capabilities::JSON_MODE, "json-mode"),
    (Capabilities::JSON_SCHEMA, "json-schema"),
    (Capabilities::VISION, "vision"),
    (Capabilities::PROMPT_CACHING, "prompt-caching"),
    (Capabilities::EMBEDDINGS, "embeddings"),
    (Capabilities::REASONING, "reasoning"),
    (Capabilities::GROUNDING, "grounding"),
];

/// Every modality flag and its name.
const MODALITIES: [(Modalities, &str); 6] = [
    (Modalities::TEXT, "text"),
    (Modalities::IMAGE, "image"),
    (Modalities::AUDIO, "audio"),
    (Modalities::VIDEO, "video"),
    (Modalities::DOCUMENT, "document"),
    (Modalities::EMBEDDING, "embedding"),
];

/// The names of the capabilities in `c`.
pub fn capability_names(c: Capabilities) -> Vec<&'static str> {
    CAPABILITIES.iter().filter(|(f, _)| c.contains(*f)).map(|(_, n)| *n).collect()
}

/// The names of the modalities in `m`.
pub fn modality_names(m: Modalities) -> Vec<&'static str> {
    MODALITIES.iter().filter(|(f, _)| m.contains(*f)).map(|(_, n)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_a_name() {
        assert_eq!(capability_names(Capabilities::all()).len(), CAPABILITIES.len());
        assert_eq!(modality_names(Modalities::all()).len(), MODALITIES.len());
        assert_eq!(modality_names(Modalities::TEXT | Modalities::IMAGE), ["text", "image"]);
    }
}
