//! One attempt: one llm call against one connection, through its plugin and the
//! transport. Every failure comes back classified for the routing policy.

use super::answer::{Answer, StreamAccumulator};
use super::events::Fragment;
use super::prompt_size::PromptSize;
use super::route::ResolvedConnection;
use crate::error_class::ErrorClass;
use crate::runtime::bindings::types::{self, ErrorKind};
use crate::runtime::{PluginCall, PluginError};
use crate::transport::{MAX_RESPONSE_BODY, Transport, TransportError, UpstreamResponse, redact};
use std::time::{Duration, Instant};

/// What a plugin call returns: the call's own fault, or the provider's answer.
type Plugged<T> = Result<Result<T, types::ProviderError>, PluginError>;

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct AttemptError {
    pub class: ErrorClass,
    /// What happened, naming the connection; never contains a secret.
    pub message: String,
    /// The provider's requested wait, if any.
    pub retry_after: Option<Duration>,
    /// Content had already reached the caller (a stream cannot be switched silently).
    pub after_content: bool,
}

/// A served attempt.
#[derive(Debug)]
pub struct Served {
    pub answer: Answer,
    pub time_to_first_token: Option<Duration>,
}

/// Text above which a request that exhausts a plugin's CPU bound while being
/// built is taken to be too large, rather than the plugin to be at fault.
pub const LARGE_REQUEST_BYTES: u64 = 1 << 20;

/// The class the routing policy uses for a provider's error kind.
pub fn class_of(kind: ErrorKind) -> ErrorClass {
    match kind {
        ErrorKind::RateLimit => ErrorClass::RateLimit,
        ErrorKind::Timeout => ErrorClass::Timeout,
        ErrorKind::ServerError => ErrorClass::ServerError,
        ErrorKind::Overloaded => ErrorClass::Overloaded,
        ErrorKind::Auth => ErrorClass::Auth,
        ErrorKind::InvalidRequest => ErrorClass::InvalidRequest,
        ErrorKind::ContextLength => ErrorClass::ContextLength,
        ErrorKind::ContentFilter => ErrorClass::ContentFilter,
        ErrorKind::Other => ErrorClass::Other,
    }
}

/// Error codes a plugin reports for a quota that waiting does not restore
/// (OpenAI's and Azure's `insufficient_quota`; `quota_exceeded` is the SDK's
/// code for any provider's equivalent, e.g. an exhausted credit balance).
pub const QUOTA_CODES: [&str; 2] = ["insufficient_quota", "quota_exceeded"];

/// The class of a provider's error: its kind, except that a rate limit whose
/// code says the quota is exhausted is [`ErrorClass::QuotaExceeded`].
pub fn class_of_error(e: &types::ProviderError) -> ErrorClass {
    match class_of(e.kind) {
        ErrorClass::RateLimit if e.code.as_deref().is_some_and(|c| QUOTA_CODES.contains(&c)) => {
            ErrorClass::QuotaExceeded
        }
        class => class,
    }
}

impl ResolvedConnection {
    fn fail(&self, class: ErrorClass, what: impl std::fmt::Display) -> AttemptError {
        let text = format!("connection `{}` ({}): {what}", self.connection.name, self.connection.provider);
        AttemptError {
            class,
            message: redact::scrub(&text, &self.target.credentials.all()),
            retry_after: None,
            after_content: false,
        }
    }

    /// A plugin call that failed.
    fn plugin_fault(&self, e: PluginError) -> AttemptError {
        match &e {
            PluginError::MemoryLimit { limit_mib, .. } => self.fail(
                ErrorClass::ServerError,
                format_args!("the upstream's answer is too large for the plugin's {limit_mib} MiB memory bound: {e}"),
            ),
            _ => self.fail(ErrorClass::Other, e),
        }
    }

    /// Building the request failed. Running out of memory, or out of CPU on a
    /// request of more than [`LARGE_REQUEST_BYTES`], means the request is too
    /// large for the sandbox: the caller's fault, and no other connection's
    /// plugin would do better.
    fn build_fault(&self, e: PluginError, bytes: u64) -> AttemptError {
        let bound = match &e {
            PluginError::MemoryLimit { limit_mib, .. } => format!("{limit_mib} MiB memory bound"),
            PluginError::CpuLimit { limit_ms, .. } if bytes > LARGE_REQUEST_BYTES => format!("{limit_ms} ms CPU bound"),
            _ => return self.fail(ErrorClass::Other, e),
        };
        self.fail(
            ErrorClass::InvalidRequest,
            format_args!("the request ({bytes} bytes) is too large for the plugin's {bound}: {e}"),
        )
    }

    fn transport_fault(&self, e: TransportError) -> AttemptError {
        self.fail(e.class(), e)
    }

    fn provider_error(&self, e: types::ProviderError, status: Option<u16>) -> AttemptError {
        let class = class_of_error(&e);
        let code = e.code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
        let status = status.map(|s| format!("HTTP {s}, ")).unwrap_or_default();
        let mut err = self.fail(class, format_args!("{status}{class}{code}: {}", e.message));
        err.retry_after = e.retry_after_ms.map(Duration::from_millis);
        err
    }

    /// Run `request` against this connection. `on_text` sees each streamed text
    /// and reasoning fragment as it arrives (a non-streamed answer arrives whole, in the result).
    pub async fn attempt(
        &self,
        transport: &Transport,
        request: &types::ChatRequest,
        on_text: &mut (dyn FnMut(Fragment<'_>) + Send),
    ) -> Result<Served, AttemptError> {
        let started = Instant::now();
        let (mut call, prepared) =
            self.prepare(|| PromptSize::of(request).bytes(), |call, settings| call.build_request(request, settings))?;
        let response = transport.send(prepared, &self.target).await.map_err(|e| self.transport_fault(e))?;

        if !response.is_success() || !request.stream {
            let parsed = self.whole(call, response, |call, whole| call.parse_response(whole)).await?;
            return Ok(Served { answer: Answer::from_response(parsed), time_to_first_token: None });
        }

        let mut events = response.events();
        let mut acc = StreamAccumulator::default();
        let mut first_token: Option<Duration> = None;
        let after = |mut e: AttemptError, first: Option<Duration>| {
            e.after_content = first.is_some();
            e
        };
        loop {
            let event = match events.next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => return Err(after(self.transport_fault(e), first_token)),
            };
            let wire = types::StreamEvent { event: event.event, data: event.data };
            let delta = call
                .parse_stream_event(&wire)
                .map_err(|e| after(self.plugin_fault(e), first_token))?
                .map_err(|e| after(self.provider_error(e, None), first_token))?;
            // Reasoning is content too: once the caller has seen some, the
            // attempt cannot be switched silently.
            let content = !delta.text.is_empty() || !delta.reasoning.is_empty() || !delta.tool_calls.is_empty();
            if content && first_token.is_none() {
                first_token = Some(started.elapsed());
            }
            if !delta.reasoning.is_empty() {
                on_text(Fragment::Reasoning(&delta.reasoning));
            }
            if !delta.text.is_empty() {
                on_text(Fragment::Text(&delta.text));
            }
            acc.apply(delta);
            if acc.done {
                break;
            }
        }
        if !acc.is_complete() {
            let e = self.fail(ErrorClass::ServerError, "the stream ended before the provider finished its answer");
            return Err(after(e, first_token));
        }
        Ok(Served { answer: acc.finish(), time_to_first_token: first_token })
    }

    /// Build the request in a fresh plugin instance, which then serves the
    /// rest of this attempt (its answer, or each event of its stream) and no
    /// other: one instance per attempt, never shared between calls.
    /// `bytes` measures the request, should building it exhaust a bound.
    fn prepare(
        &self,
        bytes: impl FnOnce() -> u64,
        build: impl FnOnce(&mut PluginCall<'_>, &types::ConnectionSettings) -> Plugged<types::PreparedRequest>,
    ) -> Result<(PluginCall<'_>, types::PreparedRequest), AttemptError> {
        let mut call = self.plugin.call().map_err(|e| self.plugin_fault(e))?;
        let prepared = build(&mut call, &self.settings)
            .map_err(|e| self.build_fault(e, bytes()))?
            .map_err(|e| self.provider_error(e, None))?;
        Ok((call, prepared))
    }

    /// Read a whole answer and `parse` a success; a non-2xx answer is
    /// classified by the plugin and returned as the attempt's error.
    async fn whole<T>(
        &self,
        mut call: PluginCall<'_>,
        response: UpstreamResponse,
        parse: impl FnOnce(&mut PluginCall<'_>, &types::HttpResponse) -> Plugged<T>,
    ) -> Result<T, AttemptError> {
        let (status, headers, body) = response.body(MAX_RESPONSE_BODY).await.map_err(|e| self.transport_fault(e))?;
        if !(200..300).contains(&status) {
            let e = call.classify_error(status, &headers, &body).map_err(|e| self.plugin_fault(e))?;
            return Err(self.provider_error(e, Some(status)));
        }
        parse(&mut call, &types::HttpResponse { status, headers, body })
            .map_err(|e| self.plugin_fault(e))?
            .map_err(|e| self.provider_error(e, Some(status)))
    }

    /// Embed `request.inputs` through this connection: one vector per input,
    /// in order, or an error classified like a chat attempt's.
    pub async fn embed(
        &self,
        transport: &Transport,
        request: &types::EmbeddingRequest,
    ) -> Result<types::EmbeddingResponse, AttemptError> {
        let (call, prepared) = self.prepare(
            || request.inputs.iter().map(|t| t.len() as u64).sum(),
            |call, settings| call.build_embedding_request(request, settings),
        )?;
        let response = transport.send(prepared, &self.target).await.map_err(|e| self.transport_fault(e))?;
        let parsed = self.whole(call, response, |call, whole| call.parse_embedding_response(whole)).await?;
        if parsed.vectors.len() != request.inputs.len() {
            let (got, asked) = (parsed.vectors.len(), request.inputs.len());
            return Err(self.fail(
                ErrorClass::ServerError,
                format_args!("the provider answered {got} vector(s) for {asked} input(s)"),
            ));
        }
        Ok(parsed)
    }
}
