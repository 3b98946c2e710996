//! Every error the daemon answers is the JSON error format, whoever produced
//! it (our handlers, axum's extractors and method routing, the caps): bodies
//! over the limit are a 413 naming the bound, wherever they are sent.

use crate::support::daemon::{Daemon, Setup};
use llmnode::server::MAX_BODY;
use serde_json::{Value, json};
use std::time::Duration;

/// Send `method path` with `token`, `content_type` and `body`: (status, headers, text).
async fn send(
    d: &Daemon,
    method: &str,
    path: &str,
    token: &str,
    body: Option<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = d.http.request(method.parse().unwrap(), format!("{}{path}", d.base));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    crate::support::leak::assert_clean(&format!("the answer to {method} {path}"), &text);
    (status, headers, text)
}

/// Fail unless a non-2xx answer is the JSON error format; returns its code.
fn error_code(what: &str, status: u16, headers: &reqwest::header::HeaderMap, text: &str) -> String {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{what}: {status} as {content_type:?}: {text:?}");
    let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: {status} not JSON: {text:?}"));
    let error = &body["error"];
    // The Anthropic-compatible endpoint answers in Anthropic's envelope, with our code inside.
    if what.contains("/v1/messages") {
        assert_eq!(body["type"], "error", "{what}: not Anthropic's format: {text}");
        assert!(
            error["type"].as_str().is_some_and(|t| t.ends_with("_error") || t == "request_too_large"),
            "{what}: {text}"
        );
    }
    for field in ["code", "message", "type"] {
        assert!(error[field].as_str().is_some_and(|v| !v.is_empty()), "{what}: {status} without {field}: {text}");
    }
    error["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bodies_over_the_limit_are_a_json_413_naming_the_bound_everywhere() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    // Valid JSON, one byte over the limit.
    let over = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_BODY + 1 - r#"{"x":""}"#.len()));
    assert_eq!(over.len(), MAX_BODY + 1);
    let targets = [
        ("PUT", "/api/v1/workflows/big", &s.member),
        ("PUT", "/api/v1/routes/big", &s.admin),
        ("POST", "/api/v1/run", &s.member),
        ("POST", "/api/v1/workflows/big/run", &s.member),
        ("POST", "/v1/chat/completions", &s.member),
        ("POST", "/v1/messages", &s.member),
        ("POST", "/api/v1/connections", &s.admin),
        ("PATCH", "/api/v1/connections/openai", &s.admin),
        ("PUT", "/api/v1/alerts/settings", &s.admin),
    ];
    for (method, path, token) in targets {
        for chunked in [false, true] {
            let body = match chunked {
                false => reqwest::Body::from(over.clone()),
                // No Content-Length: the bound holds on what arrives.
                true => reqwest::Body::wrap_stream(futures_util::stream::iter(
                    over.clone()
                        .into_bytes()
                        .chunks(1 << 20)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>(),
                )),
            };
            let (status, headers, text) = send(&d, method, path, token, Some(body)).await;
            let what = format!("{method} {path} (chunked: {chunked})");
            assert_eq!(status, 413, "{what}: {text}");
            assert_eq!(error_code(&what, status, &headers, &text), "payload_too_large");
            assert!(text.contains("8 MiB"), "{what}: the bound is not named: {text}");
        }
    }
    // At the limit exactly, the body is read (and refused for what it says).
    let at = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_BODY - r#"{"x":""}"#.len()));
    let (status, headers, text) = send(&d, "PUT", "/api/v1/workflows/big", &s.member, Some(at.into())).await;
    assert_eq!((status, error_code("at the limit", status, &headers, &text).as_str()), (400, "invalid_request"));
    // Nothing was stored.
    for list in ["/api/v1/workflows", "/api/v1/routes"] {
        let (status, body) = d.call("GET", list, &s.admin, None).await;
        assert_eq!(status, 200);
        assert!(body.as_object().unwrap().values().all(|v| v == &json!([])), "{list}: {body}");
    }
}

#[tokio::test]
async fn every_error_answer_on_every_route_is_the_json_error_format() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let (_, _, doc) = send(&d, "GET", "/openapi.json", "", None).await;
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let mut check = |what: String, status: u16, headers: &reqwest::header::HeaderMap, text: &str| {
        *seen.entry(status).or_default() += 1;
        if status >= 400 {
            let code = error_code(&what, status, headers, text);
            let expected = match status {
                405 => Some("method_not_allowed"),
                413 => Some("payload_too_large"),
                401 => Some("unauthorized"),
                403 => Some("forbidden"),
                404 => Some("not_found"),
                _ => None,
            };
            assert!(expected.is_none_or(|e| e == code), "{what}: {status} with code {code}");
        }
    };

    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let path = path.replace("{name}", "no-such-thing");
        for method in methods {
            let documented = operations.get(method.to_lowercase()).is_some();
            let bad_bodies: &[Option<&str>] = match documented && method != "GET" && method != "DELETE" {
                true => &[None, Some("{not json"), Some("[1, 2]"), Some(r#"{"inputs": "x", "secrets": 7}"#)],
                false => &[None],
            };
            for token in ["", "lln_not-a-token", s.member.as_str(), s.admin.as_str(), s.other_admin.as_str()] {
                for body in bad_bodies {
                    let (status, headers, text) =
                        send(&d, method, &path, token, body.map(|b| reqwest::Body::from(b.to_string()))).await;
                    let what = format!("{method} {path} (body {body:?})");
                    check(what.clone(), status, &headers, &text);
                    if !documented {
                        assert_eq!(status, 405, "{what}: {text}");
                        assert!(headers.contains_key("allow"), "{what}: a 405 without Allow");
                    }
                }
            }
        }
    }

    // Extractors' own refusals: a path segment that is not UTF-8, queries
    // that do not decode, an unknown endpoint.
    let odd = [
        ("GET", "/api/v1/workflows/%FF%FE"),
        ("PUT", "/api/v1/routes/%C0"),
        ("DELETE", "/api/v1/connections/openai?force=maybe"),
        ("POST", "/api/v1/connections/openai/test?model=a&model=b"),
        ("GET", "/api/v1/usage?days=-1"),
        ("GET", "/api/v1/usage?top=lots"),
        ("GET", "/api/v1/nothing-here"),
        ("POST", "/healthz"),
        ("DELETE", "/dashboard/"),
    ];
    for (method, path) in odd {
        let (status, headers, text) = send(&d, method, path, &s.admin, Some("{}".into())).await;
        assert!(status >= 400, "{method} {path}: {status} {text}");
        check(format!("{method} {path}"), status, &headers, &text);
    }
    let (status, headers, text) = send(&d, "GET", "/api/v1/usage?days=-1", &s.admin, None).await;
    assert_eq!((status, error_code("a bad query", status, &headers, &text).as_str()), (400, "invalid_request"));
    for status in [400, 401, 403, 404, 405] {
        assert!(seen.get(&status).is_some_and(|n| *n > 0), "the walk never met a {status}: {seen:?}");
    }
    d.assert_log_clean();
}
