//! Names from the OpenTelemetry GenAI semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/gen-ai/>): what a provider,
//! an operation and a failure are called on spans and metrics.

use crate::connections::Connection;
use crate::error_class::ErrorClass;

/// `gen_ai.operation.name` of a chat completion.
pub const CHAT: &str = "chat";
/// `gen_ai.operation.name` of an embeddings call.
pub const EMBEDDINGS: &str = "embeddings";

/// `gen_ai.provider.name`: the convention's well-known value where there is
/// one, else our provider id.
pub fn provider_name(connection: &Connection) -> &str {
    match connection.provider.as_str() {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "azure-openai" => "azure.ai.openai",
        "bedrock" => "aws.bedrock",
        // One plugin serves both Google APIs; a Vertex AI project says which.
        "gemini" if connection.options.contains_key("vertex_project") => "gcp.vertex_ai",
        "gemini" => "gcp.gemini",
        other => other,
    }
}

/// `error.type`: our error class (a low-cardinality, documented set).
pub fn error_type(class: ErrorClass) -> &'static str {
    class.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn providers_take_the_well_known_names() {
        let mut c = Connection::with_key("c", "gemini", "http://h".into(), "m", Secret::new("k"));
        assert_eq!(provider_name(&c), "gcp.gemini");
        c.options.insert("vertex_project".into(), "p".into());
        assert_eq!(provider_name(&c), "gcp.vertex_ai");
        for (ours, theirs) in [
            ("openai", "openai"),
            ("anthropic", "anthropic"),
            ("azure-openai", "azure.ai.openai"),
            ("bedrock", "aws.bedrock"),
            ("qwen", "qwen"),
        ] {
            c.provider = ours.into();
            assert_eq!(provider_name(&c), theirs);
        }
    }
}
