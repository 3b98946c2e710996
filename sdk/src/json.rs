//! JSON in and out of request and response bodies.

use crate::ProviderError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Serialize a value as a request body.
pub fn body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain data (maps, strings, numbers) cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Parse a response body, with an error that says what was expected and where it broke.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProviderError::malformed(format!("the provider's {what} is not the expected JSON: {e}")))
}

/// Parse JSON text carried inside another document (tool schemas, arguments).
pub fn parse_text(text: &str, what: &str) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(text).map_err(|e| ProviderError::invalid(format!("{what} is not valid JSON: {e}")))
}

/// A sampling parameter as the decimal the user wrote: widening the `f32`
/// directly would send 0.1 as 0.10000000149011612.
pub fn decimal(x: f32) -> Value {
    x.to_string().parse::<f64>().map(Value::from).unwrap_or(Value::Null)
}
