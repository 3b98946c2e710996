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
