//! A JSON request body whose decode errors name the field at fault but never
//! echo a string value back: a key pasted into the wrong field must not come
//! back in an error, a log line or a proxy's access log.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest request body accepted (a workflow with many nodes fits easily).
pub const MAX_BODY: usize = 8 << 20;

/// The answer to a body over [`MAX_BODY`]: 413, naming the bound.
pub fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the request body is over the limit of {} MiB ({MAX_BODY} bytes)",
        MAX_BODY >> 20
    ))
}

/// A decoded JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            _ => ApiError::Invalid(format!("the request body could not be read: {}", e.body_text())),
        })?;
        decode(&bytes).map(JsonBody)
    }
}

/// Decode `bytes`, reporting the JSON path and the error without quoted values.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    decode_as(bytes, "JSON body")
}

/// [`decode`], naming what was decoded (e.g. `settings`) in the error.
pub fn decode_as<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = without_quoted(&e.into_inner().to_string());
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        ApiError::Invalid(format!("invalid {what}{at}: {inner}"))
    })
}

/// `text` with every double-quoted run replaced by `"…"`; serde quotes the
/// offending value there, and it may be a secret.
pub fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match (c, inside) {
            ('"', false) => {
                out.push_str("\"…\"");
                inside = true;
            }
            ('"', true) => inside = false,
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        rpm: Option<u32>,
    }

    #[test]
    fn a_string_in_the_wrong_place_is_not_echoed() {
        let err = decode::<Body>(br#"{"rpm": "fake-openai-key-for-tests-123"}"#).unwrap_err().to_string();
        assert!(err.contains("`rpm`"), "{err}");
        assert!(!err.contains("fake-openai-key"), "{err}");
    }

    #[test]
    fn quoted_runs_are_masked() {
        assert_eq!(without_quoted(r#"unknown variant "abc", expected "x""#), r#"unknown variant "…", expected "…""#);
    }
}
