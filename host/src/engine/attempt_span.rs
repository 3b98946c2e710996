//! What an attempt that reaches a provider tells OpenTelemetry: a client span
//! named and attributed by the GenAI conventions, and the GenAI client
//! metrics. Both carry names, counts and error classes only; prompts and
//! answers only when the operator opted in (see `telemetry`). The
//! export-only fields are kept out of log lines by the log formatter.

use super::route::ResolvedConnection;
use super::routed::Call;
use crate::error_class::ErrorClass;
use crate::telemetry::{self, AttemptMetrics, genai};
use crate::usage::TokenUsage;
use std::time::Duration;
use tracing::Span;
use tracing::field::Empty;

/// The attempt's span, opened as the request goes out. Disabled (and free)
/// unless logging at `info` or exporting.
pub(crate) fn open<C: Call>(call: &C, node: &str, route: &ResolvedConnection, model: &str) -> Span {
    let name = &route.connection.name;
    let span = tracing::info_span!(
        "attempt",
        connection = %name,
        provider = %route.connection.provider,
        model = %model,
        otel.name = %format_args!("{} {model}", C::OPERATION),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = C::OPERATION,
        gen_ai.provider.name = genai::provider_name(&route.connection),
        gen_ai.request.model = %model,
        gen_ai.request.max_tokens = call.requested_max_tokens().map(i64::from),
        gen_ai.request.temperature = call.temperature().map(f64::from),
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        error.type = Empty,
        llmnode.connection = %name,
        llmnode.node = %node,
        llmnode.cost_usd = Empty,
    );
    if capturing(&span) {
        span.record("gen_ai.input.messages", call.input_content());
    }
    span
}

/// How an attempt that reached the provider ended.
pub(crate) struct Outcome<'a, C: Call> {
    pub result: Result<&'a C::Out, ErrorClass>,
    pub usage: &'a TokenUsage,
    pub cost_usd: f64,
    pub duration: Duration,
}

/// Fill in what the attempt used or why it failed, and record its metrics.
pub(crate) fn close<C: Call>(span: &Span, route: &ResolvedConnection, model: &str, outcome: Outcome<'_, C>) {
    let response_model = outcome.result.ok().and_then(C::response_model);
    let error_type = outcome.result.err().map(genai::error_type);
    if !span.is_disabled() {
        match outcome.result {
            Ok(out) => {
                let u = outcome.usage;
                span.record("gen_ai.response.model", response_model);
                span.record("gen_ai.usage.input_tokens", int(u.prompt_total()));
                span.record("gen_ai.usage.output_tokens", int(u.output));
                span.record("gen_ai.usage.cache_read.input_tokens", int(u.cache_read));
                span.record("gen_ai.usage.cache_creation.input_tokens", int(u.cache_write));
                span.record("llmnode.cost_usd", outcome.cost_usd);
                if capturing(span) {
                    span.record("gen_ai.output.messages", C::output_content(out));
                }
            }
            Err(_) => {
                span.record("error.type", error_type);
                span.record("otel.status_code", "error");
            }
        }
    }
    if let Some(active) = telemetry::active() {
        active.record(&AttemptMetrics {
            operation: C::OPERATION,
            provider: genai::provider_name(&route.connection),
            request_model: model,
            response_model,
            connection: &route.connection.name,
            error_type,
            duration: outcome.duration,
            tokens: outcome.result.is_ok().then(|| (outcome.usage.prompt_total(), outcome.usage.output)),
            cost_usd: outcome.cost_usd,
        });
    }
}

/// A count as a signed integer: the OpenTelemetry layer exports unsigned
/// ones as text.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Content goes on the span only when exporting with the opt-in.
fn capturing(span: &Span) -> bool {
    !span.is_disabled() && telemetry::active().is_some_and(|a| a.capture_content())
}
