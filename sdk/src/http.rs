//! Building HTTP request templates (the host authenticates and sends them).

use crate::{Header, HttpRequest, Method};

/// A JSON `POST` to `url`.
pub fn post(url: String, body: Vec<u8>) -> HttpRequest {
    HttpRequest { method: Method::Post, url, headers: vec![header("content-type", "application/json")], body }
}

/// A `GET` of `url`.
pub fn get(url: String) -> HttpRequest {
    HttpRequest { method: Method::Get, url, headers: Vec::new(), body: Vec::new() }
}

/// A header.
pub fn header(name: &str, value: &str) -> Header {
    Header { name: name.to_string(), value: value.to_string() }
}

/// Value of the first header called `name` (case-insensitive).
pub fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}

/// `base` and `path` joined with exactly one slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// `text` percent-encoded for use as one URL path segment or query value
/// (every byte but RFC 3986's unreserved characters is escaped), so a name an
/// operator chose cannot change the path or smuggle in a query.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
