//! The host's HTTP: checks where a plugin's request goes, attaches the
//! credential, enforces timeouts and size bounds, and frames streams.
//! Nothing that leaves this module carries a secret.

pub mod auth;
pub mod egress;
pub mod eventstream;
pub mod google_auth;
mod headers;
pub mod placement;
pub mod redact;
pub mod sigv4;
pub mod sse;

pub use auth::Credentials;
pub use egress::{EgressError, EgressPolicy};
pub use placement::{OperatorPlacement, Placement};
pub use sse::{FrameError, SseEvent, SseFramer};

use crate::error_class::ErrorClass;
use crate::runtime::bindings::types::{self, AuthDirective, Method, PreparedRequest};
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// Largest request body a plugin may produce.
pub const MAX_REQUEST_BODY: usize = 32 << 20;
/// Largest non-streamed response body read from an upstream.
pub const MAX_RESPONSE_BODY: usize = 32 << 20;
/// Largest streamed response body read from an upstream, all events together.
pub const MAX_STREAM_BODY: usize = 32 << 20;
/// Longest a stream may last, however steadily it delivers events.
pub const MAX_STREAM_TIME: Duration = Duration::from_secs(3600);
/// Longest URL a plugin may produce.
pub const MAX_URL_LEN: usize = 8192;

/// A failure to talk to an upstream. Messages never contain a secret: URLs are
/// shown with query values masked, and all text is scrubbed of the
/// connection's credentials.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The plugin's URL points somewhere this connection may not go.
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The plugin asked for a header it may not set, or a malformed one.
    #[error("header {name:?} refused: {reason}")]
    BadHeader { name: String, reason: String },
    /// The plugin asked for the key to be placed where this connection does
    /// not allow it; nothing was sent.
    #[error("the plugin's auth directive ({directive}) was refused: {reason}; nothing was sent")]
    AuthRefused { directive: String, reason: String },
    /// The plugin's request exceeds a bound.
    #[error("the plugin's request is too large: {what}")]
    TooLarge { what: String },
    /// The connection's stored key could not be opened (wrong master key,
    /// tampered store); the error names the record, never the key.
    #[error("the connection's key cannot be opened: {detail}")]
    Credential { detail: String },
    /// A stream went silent for longer than the connection's idle timeout.
    #[error("the stream from {url} stalled: nothing for {secs:.1} s")]
    Stalled { url: String, secs: f64 },
    /// No answer (or no next byte of a stream) in time.
    #[error("{url} did not answer within {secs:.1} s")]
    Timeout { url: String, secs: f64 },
    /// A whole body was still arriving when its time was up (a slow drip).
    #[error("the body from {url} was not complete within {secs:.1} s")]
    SlowBody { url: String, secs: f64 },
    /// A stream went on past the longest time any stream may last.
    #[error("the stream from {url} was cut after {secs:.0} s, the longest a stream may last")]
    StreamTooLong { url: String, secs: f64 },
    /// The connection could not be made or broke.
    #[error("request to {url} failed: {detail}")]
    Network { url: String, detail: String },
    /// The upstream answered with a redirect, which is never followed: a
    /// credential must not go anywhere but where the connection points.
    #[error(
        "{url} answered HTTP {status}, a redirect to {location}; llmnode never follows redirects, so the \
         request was not repeated there (point the connection's base URL at the final address)"
    )]
    Redirect { url: String, status: u16, location: String },
    /// The upstream's body exceeded a bound.
    #[error("the response from {url} exceeded {limit} bytes")]
    BodyTooLarge { url: String, limit: usize },
    /// The upstream's event stream is malformed.
    #[error("the event stream from {url} is malformed: {source}")]
    Stream { url: String, source: FrameError },
}

impl TransportError {
    /// How routing should treat this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            TransportError::Timeout { .. }
            | TransportError::Stalled { .. }
            | TransportError::SlowBody { .. }
            | TransportError::StreamTooLong { .. } => ErrorClass::Timeout,
            // An unreachable or broken upstream, one whose stream breaks its
            // framing, or one that redirects, behaves like a failing server.
            TransportError::Network { .. } | TransportError::Stream { .. } | TransportError::Redirect { .. } => {
                ErrorClass::ServerError
            }
            TransportError::Credential { .. } => ErrorClass::Auth,
            _ => ErrorClass::Other,
        }
    }
}

/// Where and how one connection's requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where requests may go.
    pub egress: EgressPolicy,
    /// Where the key may be put.
    pub placement: Placement,
    /// The connection's secrets.
    pub credentials: Credentials,
    /// Time allowed for the response headers, and again for the whole of a
    /// non-streamed body.
    pub timeout: Duration,
    /// Longest a stream may go without completing an event before it counts
    /// as stalled (bytes that never make an event do not count).
    pub idle_timeout: Duration,
}

/// A pooled HTTP client shared by every call.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    /// Google access tokens minted for service-account connections.
    google: std::sync::Arc<google_auth::TokenCache>,
}

impl Transport {
    /// A client that never follows a redirect: a 3xx comes back to
    /// [`Transport::send`], which turns it into an error.
    pub fn new() -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("llmnode/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| TransportError::Network { url: "(client setup)".into(), detail: e.to_string() })?;
        Ok(Transport { client, google: Default::default() })
    }

    /// Check, authenticate and send a plugin's request; returns once the
    /// response headers arrive.
    pub async fn send(&self, prepared: PreparedRequest, target: &Target) -> Result<UpstreamResponse, TransportError> {
        let PreparedRequest { request, auth } = prepared;
        if request.url.len() > MAX_URL_LEN {
            return Err(TransportError::TooLarge {
                what: format!("URL of {} bytes (at most {MAX_URL_LEN})", request.url.len()),
            });
        }
        if request.body.len() > MAX_REQUEST_BODY {
            return Err(TransportError::TooLarge {
                what: format!("body of {} bytes (at most {MAX_REQUEST_BODY})", request.body.len()),
            });
        }
        target.placement.check(&auth)?;
        let mut url = target.egress.check(&request.url)?;
        let shown = redact::url_for_display(&url);
        let auth_header = auth::directive_header(&auth);
        let mut header_map = headers::build(&request.headers, auth_header)?;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let minted = match &auth {
            AuthDirective::GoogleServiceAccount(scopes) => {
                google_auth::check_scopes(scopes)?;
                let key =
                    target.credentials.google_service_account.as_ref().ok_or_else(|| TransportError::Credential {
                        detail: "this provider needs the connection's google_service_account key file".into(),
                    })?;
                Some(self.google.token(&self.client, &key.open()?, scopes).await?)
            }
            _ => None,
        };
        let body = &request.body;
        auth::apply(&auth, &target.credentials, method.as_str(), &mut header_map, &mut url, body, minted.as_ref())?;

        let builder = self.client.request(method, url).headers(header_map).body(request.body);
        let response = match timeout(target.timeout, builder.send()).await {
            Err(_) => return Err(TransportError::Timeout { url: shown, secs: target.timeout.as_secs_f64() }),
            Ok(Err(e)) => return Err(network_error(e, &shown, &target.credentials)),
            Ok(Ok(r)) => r,
        };
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| response.url().join(l).ok())
                .map(|u| redact::url_for_display(&u))
                .unwrap_or_else(|| "(no location)".into());
            let location = redact::scrub(&location, &target.credentials.all());
            return Err(TransportError::Redirect { url: shown, status: response.status().as_u16(), location });
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| types::Header {
                name: k.as_str().to_string(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        Ok(UpstreamResponse {
            status,
            headers,
            response,
            url: shown,
            timeout: target.timeout,
            idle_timeout: target.idle_timeout,
            streaming: false,
            credentials: target.credentials.clone(),
        })
    }
}

fn network_error(e: reqwest::Error, url: &str, credentials: &Credentials) -> TransportError {
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    TransportError::Network { url: url.to_string(), detail: redact::scrub(&detail, &credentials.all()) }
}

/// An upstream's answer whose body has not been read yet.
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower case.
    pub headers: Vec<types::Header>,
    response: reqwest::Response,
    url: String,
    timeout: Duration,
    idle_timeout: Duration,
    streaming: bool,
    credentials: Credentials,
}

impl UpstreamResponse {
    /// The URL, query values masked, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The next piece of the body, or `None` at its end, within `wait`; a
    /// stream that runs out of it has stalled.
    async fn chunk(&mut self, wait: Duration) -> Result<Option<bytes::Bytes>, TransportError> {
        match timeout(wait, self.response.chunk()).await {
            Err(_) if self.streaming => {
                Err(TransportError::Stalled { url: self.url.clone(), secs: self.timeout.as_secs_f64() })
            }
            Err(_) => Err(TransportError::Timeout { url: self.url.clone(), secs: self.timeout.as_secs_f64() }),
            Ok(Err(e)) => Err(network_error(e, &self.url, &self.credentials)),
            Ok(Ok(c)) => Ok(c),
        }
    }

    /// Read the whole body, refusing more than `limit` bytes or a body that
    /// takes longer than the connection's timeout to arrive.
    pub async fn body(mut self, limit: usize) -> Result<(u16, Vec<types::Header>, Vec<u8>), TransportError> {
        let deadline = Instant::now() + self.timeout;
        let mut body = Vec::with_capacity(self.response.content_length().unwrap_or(0).min(limit as u64) as usize);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = match self.chunk(left).await {
                Err(TransportError::Timeout { url, secs }) if !body.is_empty() => {
                    return Err(TransportError::SlowBody { url, secs });
                }
                other => other?,
            };
            let Some(chunk) = chunk else { break };
            if body.len() + chunk.len() > limit {
                return Err(TransportError::BodyTooLarge { url: self.url, limit });
            }
            body.extend_from_slice(&chunk);
        }
        redact::scrub_bytes(&mut body, &self.credentials.all());
        Ok((self.status, self.headers, body))
    }

    /// Read the body as server-sent events.
    pub fn events(mut self) -> EventStream {
        // Between events the bound is the idle timeout: a stalled stream ends
        // with a clear error instead of holding the caller for the full timeout.
        self.timeout = self.idle_timeout;
        self.streaming = true;
        let framer = Framer::for_response(&self.headers);
        let now = Instant::now();
        let secrets = self.credentials.all();
        EventStream {
            secrets,
            response: self,
            framer,
            ready: Vec::new(),
            next: 0,
            ended: false,
            received: 0,
            started: now,
            last_event: now,
        }
    }
}

/// How a streamed body is cut into events, chosen by its content type.
enum Framer {
    Sse(SseFramer),
    Aws(eventstream::EventStreamFramer),
}

impl Framer {
    fn for_response(headers: &[types::Header]) -> Self {
        let content_type = headers.iter().find(|h| h.name == "content-type").map(|h| h.value.as_str());
        match content_type {
            Some(ct) if ct.starts_with(eventstream::CONTENT_TYPE) => Framer::Aws(Default::default()),
            _ => Framer::Sse(Default::default()),
        }
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        match self {
            Framer::Sse(f) => f.feed(bytes, out),
            Framer::Aws(f) => f.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        match self {
            Framer::Sse(f) => f.finish(out),
            Framer::Aws(f) => f.finish(out),
        }
    }
}

/// Events from a streaming response (SSE or AWS event stream), framed by the host.
pub struct EventStream {
    response: UpstreamResponse,
    /// The connection's secrets, scrubbed from every event before a plugin
    /// parses it (opened once per stream, dropped with it).
    secrets: Vec<crate::secret::Secret>,
    framer: Framer,
    ready: Vec<SseEvent>,
    next: usize,
    ended: bool,
    /// Body bytes read so far (bounded by [`MAX_STREAM_BODY`]).
    received: usize,
    started: Instant,
    /// When the last event was completed: the idle bound runs from here, so
    /// a drip of bytes that never makes an event still stalls.
    last_event: Instant,
}

impl EventStream {
    /// The next event, or `None` when the stream has ended.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, TransportError> {
        loop {
            if self.next < self.ready.len() {
                let mut event =
                    std::mem::replace(&mut self.ready[self.next], SseEvent { event: None, data: String::new() });
                redact::scrub_in_place(&mut event.data, &self.secrets);
                self.next += 1;
                self.last_event = Instant::now();
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            self.ready.clear();
            self.next = 0;
            let stream_error = |source, url: &str| TransportError::Stream { url: url.to_string(), source };
            if self.started.elapsed() >= MAX_STREAM_TIME {
                let url = self.response.url.clone();
                return Err(TransportError::StreamTooLong { url, secs: MAX_STREAM_TIME.as_secs_f64() });
            }
            let idle_left = self.response.timeout.saturating_sub(self.last_event.elapsed());
            let wait = idle_left.min(MAX_STREAM_TIME.saturating_sub(self.started.elapsed()));
            match self.response.chunk(wait).await? {
                Some(bytes) => {
                    self.received += bytes.len();
                    if self.received > MAX_STREAM_BODY {
                        let url = self.response.url.clone();
                        return Err(TransportError::BodyTooLarge { url, limit: MAX_STREAM_BODY });
                    }
                    self.framer.feed(&bytes, &mut self.ready).map_err(|e| stream_error(e, &self.response.url))?
                }
                None => {
                    self.ended = true;
                    self.framer.finish(&mut self.ready).map_err(|e| stream_error(e, &self.response.url))?;
                }
            }
        }
    }
}
