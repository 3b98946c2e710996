//! Checks on the headers a plugin asks for: only ordinary, well-formed headers
//! within size bounds. Credentials, routing and framing headers are the host's.

use super::TransportError;
use crate::runtime::bindings::types::Header;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Framing and routing headers, and those meant for proxies or sessions: a
/// plugin never sets them, and an API key never goes into one of them.
const FRAMING_AND_ROUTING: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-authenticate",
    "cookie",
];

/// Credential headers: only the host writes them.
const CREDENTIALS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-amz-security-token",
    "x-amz-date",
    "x-amz-content-sha256",
];

/// Most headers one request may carry.
pub const MAX_HEADERS: usize = 64;
/// Most header bytes (names plus values) one request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Build the header map, refusing reserved names (and `auth_header`, the one the
/// auth directive will write), malformed names or values, and oversize sets.
pub fn build(headers: &[Header], auth_header: Option<&str>) -> Result<HeaderMap, TransportError> {
    if headers.len() > MAX_HEADERS {
        return Err(TransportError::BadHeader {
            name: format!("{} headers", headers.len()),
            reason: format!("a request may carry at most {MAX_HEADERS} headers"),
        });
    }
    let total: usize = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    if total > MAX_HEADER_BYTES {
        return Err(TransportError::BadHeader {
            name: "all headers".into(),
            reason: format!("{total} bytes exceed the {MAX_HEADER_BYTES}-byte bound"),
        });
    }
    let mut map = HeaderMap::with_capacity(headers.len() + 2);
    for h in headers {
        let bad = |reason: &str| TransportError::BadHeader { name: truncate(&h.name), reason: reason.into() };
        let lower = h.name.to_ascii_lowercase();
        let reserved = FRAMING_AND_ROUTING.contains(&lower.as_str()) || CREDENTIALS.contains(&lower.as_str());
        if reserved || auth_header.is_some_and(|a| a.eq_ignore_ascii_case(&lower)) {
            return Err(bad("this header is set by the host only (credentials and framing never come from a plugin)"));
        }
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let value =
            HeaderValue::from_str(&h.value).map_err(|_| bad("the value has characters not allowed in a header"))?;
        map.append(name, value);
    }
    Ok(map)
}

fn truncate(name: &str) -> String {
    name.chars().take(64).collect()
}
