//! Server-sent events out: framing, and a body that writes everything ready
//! in one chunk (one syscall per burst of tokens, not one per token).

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use std::convert::Infallible;
use tokio::sync::mpsc::UnboundedReceiver;

/// Append one event: an optional `event:` line and one `data:` line (`data`
/// is JSON, which has no raw newlines).
pub fn event(out: &mut String, name: Option<&str>, data: &str) {
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
}

/// A streaming response of the items from `rx`, each framed by `encode`,
/// which returns `false` after the last one. Whatever is queued when the
/// client is ready goes out together.
pub fn response<T: Send + 'static>(
    rx: UnboundedReceiver<T>,
    encode: impl FnMut(T, &mut String) -> bool + Send + 'static,
    extra_headers: Vec<(&'static str, String)>,
) -> Response {
    let chunks = stream::unfold((rx, encode, false), |(mut rx, mut encode, finished)| async move {
        if finished {
            return None;
        }
        let first = rx.recv().await?;
        let mut buf = String::new();
        let mut more = encode(first, &mut buf);
        while more {
            match rx.try_recv() {
                Ok(item) => more = encode(item, &mut buf),
                Err(_) => break,
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(buf)), (rx, encode, !more)))
    });
    let mut response =
        ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(chunks))
            .into_response();
    for (name, value) in extra_headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
