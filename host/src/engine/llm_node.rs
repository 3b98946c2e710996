//! One llm node: try its connections in order until one serves it, failing over
//! only on the error classes the node allows, and never after a stream has
//! started delivering content.

use super::Inner;
use super::answer::Answer;
use super::attempt::AttemptError;
use super::events::{EventSink, NodeStatus, RunEvent};
use super::prompt_size::PromptSize;
use super::report::Skip;
use super::reserve;
use crate::error_class::ErrorClass;
use crate::escape::quoted_list;
use crate::limits::{self, Admission, Hold, Used};
use crate::money::nanos;
use crate::runtime::bindings::types;
use crate::usage::AttemptRecord;
use crate::workflow::{LlmConfig, ResponseFormatSpec, Routing};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// A served node.
pub(crate) struct LlmServed {
    pub output: Value,
    pub connection: String,
}

/// A node that no connection could serve.
pub(crate) struct LlmFailed {
    pub message: String,
}

/// Run an llm node whose request is already rendered. Each attempt that was
/// admitted leaves its hold and what it used in `holds`, settled by the
/// caller once the attempts are durable usage events.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    inner: &Inner,
    node: &Arc<str>,
    config: &LlmConfig,
    mut request: types::ChatRequest,
    sink: &dyn EventSink,
    attempts: &mut Vec<AttemptRecord>,
    skipped: &mut Vec<Skip>,
    holds: &mut Vec<(Hold, Used)>,
) -> Result<LlmServed, LlmFailed> {
    let headroom =
        |name: &str| inner.routes.ready.get(name).map_or(1.0, |r| inner.limits.headroom(&r.key, &r.connection.limits));
    let names: Vec<&str> = match &config.routing {
        Routing::Primary(primary) => std::iter::once(primary.as_str()).collect(),
        Routing::Balanced { connections, policy } => inner.balancer.order(connections, *policy, headroom),
    }
    .into_iter()
    .chain(config.fallbacks.iter().map(String::as_str))
    .collect();
    // Connections whose breaker is open are passed over; if that is all of
    // them, the one closest to reopening is tried anyway.
    let open: Vec<Option<Duration>> = names
        .iter()
        .map(|n| match inner.routes.ready.get(*n).map_or(Admission::Allowed, |r| inner.limits.breaker(&r.key)) {
            Admission::Open(left) => Some(left),
            Admission::Allowed => None,
        })
        .collect();
    let least_bad = if open.iter().all(Option::is_some) { (0..names.len()).min_by_key(|&i| open[i]) } else { None };
    let names: Vec<&str> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match (open[i], least_bad) {
            (None, _) => Some(*n),
            (Some(_), Some(pick)) if pick == i => Some(*n),
            (Some(left), _) => {
                tracing::info!(node = %node, connection = n, "connection skipped: circuit open");
                skipped.push(Skip {
                    connection: n.to_string(),
                    class: None,
                    reason: format!(
                        "connection `{n}` is resting after repeated failures ({:.0} s left)",
                        left.as_secs_f64()
                    ),
                });
                None
            }
        })
        .collect();
    let prompt = PromptSize::of(&request);
    let wants_stream = request.stream;
    let cache_ttl = request.cache.as_ref().and_then(|c| c.ttl_seconds);
    for (i, name) in names.iter().enumerate() {
        let is_last = i + 1 == names.len();
        let skip = |skipped: &mut Vec<Skip>, reason: String| {
            tracing::info!(node = %node, connection = name, %reason, "connection skipped");
            skipped.push(Skip { connection: name.to_string(), class: None, reason });
        };
        let Some(route) = inner.routes.ready.get(*name) else {
            let reason = match inner.routes.unusable.get(*name) {
                Some(u) => u.reason.clone(),
                None => "no such connection".to_string(),
            };
            skip(skipped, reason);
            continue;
        };
        if !route.connection.enabled {
            skip(skipped, format!("connection `{name}` is disabled"));
            continue;
        }
        if let Some(why) = &route.connection.pending {
            skip(skipped, why.clone());
            continue;
        }
        let Some(model) = config.model_for(name).or(route.connection.default_model.as_deref()) else {
            skip(skipped, "no model: name one in the node's `model` or set the connection's default model".into());
            continue;
        };
        let allowed = &route.connection.models;
        if !allowed.is_empty() && !allowed.iter().any(|m| m == model) {
            let reason =
                format!("connection `{name}` does not allow model `{model}` (its models: {})", quoted_list(allowed));
            tracing::info!(node = %node, connection = name, %reason, "connection skipped");
            skipped.push(Skip { connection: name.to_string(), class: Some(ErrorClass::InvalidRequest), reason });
            continue;
        }
        request.model.clear();
        request.model.push_str(model);
        // A connection that does not stream serves a streamed node with one
        // whole call, and the answer goes out as a single chunk.
        request.stream = wants_stream && route.connection.streaming;
        if let Some(window) = route.plugin.model(model).map(|m| m.context_window).filter(|w| *w > 0) {
            let estimate = prompt.min_tokens();
            if estimate > u64::from(window) {
                skip(
                    skipped,
                    format!("the prompt (about {estimate} tokens) does not fit {model}'s context window of {window}"),
                );
                continue;
            }
        }

        let prices = inner
            .prices
            .resolve(&route.connection.provider, model, &route.plugin)
            .map(|p| p.for_cache_ttl(cache_ttl.or(route.cache_ttl_secs)));
        let retry_started = Instant::now();
        let mut retries = 0u32;
        loop {
            let span = tracing::info_span!("attempt", connection = %name, provider = %route.connection.provider, model = %model);
            let started = Instant::now();
            let mut streaming = false;
            let mut on_text = |text: &str| {
                if !streaming {
                    streaming = true;
                    sink.emit(RunEvent::Status {
                        node: node.clone(),
                        status: NodeStatus::Streaming,
                        detail: Some(name.to_string()),
                    });
                }
                sink.emit(RunEvent::Text { node: node.clone(), text: text.to_string() });
            };
            let limited = match reserve::ask(route, model, prompt, request.max_tokens, prices.as_ref()) {
                Ok(ask) => limits::acquire(&inner.limits, &route.key, &route.connection.limits, ask).await,
                Err(refusal) => Err(refusal),
            };
            let (result, hold) = match limited {
                Err(refusal) => {
                    let e = AttemptError {
                        class: refusal.class,
                        message: format!("local limit: {}", refusal.message),
                        retry_after: refusal.retry_after,
                        after_content: false,
                    };
                    (Err(e), None)
                }
                Ok(hold) => {
                    let in_flight = inner.balancer.start(name);
                    let result = route.attempt(&inner.transport, &request, &mut on_text).instrument(span).await;
                    drop(in_flight);
                    inner.limits.record(&route.key, result.as_ref().err().map(|e| (e.class, e.retry_after)));
                    (result, Some(hold))
                }
            };
            let usage = result.as_ref().map(|s| s.answer.usage).unwrap_or_default();
            let cost = prices.map_or(0.0, |p| p.cost(&usage));
            // A local refusal never reached the provider: not a usage event.
            let reached_provider = hold.is_some();
            if let Some(hold) = hold {
                let tokens = usage.prompt_total() + usage.output;
                holds.push((hold, Used { requests: 1, tokens, cost: nanos(cost), booked: false }));
            }
            let latency = started.elapsed();
            if result.is_ok() {
                inner.balancer.record_latency(name, latency);
            }
            let mut record = AttemptRecord {
                node: node.to_string(),
                connection: name.to_string(),
                provider: route.connection.provider.clone(),
                model: model.to_string(),
                error: None,
                usage: Default::default(),
                cost_usd: 0.0,
                latency,
                time_to_first_token: None,
                streamed: request.stream,
                unpriced: prices.is_none(),
            };
            match result {
                Ok(served) => {
                    if wants_stream && !request.stream && !served.answer.text.is_empty() {
                        on_text(&served.answer.text);
                    }
                    record.usage = usage;
                    record.cost_usd = cost;
                    record.time_to_first_token = served.time_to_first_token;
                    attempts.push(record);
                    let output = node_output(node, config, served.answer, name, model, cost)?;
                    return Ok(LlmServed { output, connection: name.to_string() });
                }
                Err(e) => {
                    record.error = Some(e.class);
                    if reached_provider {
                        attempts.push(record);
                    }
                    tracing::info!(node = %node, connection = name, class = %e.class, error = %e.message, "attempt failed");
                    if e.after_content {
                        return Err(LlmFailed {
                            message: format!(
                                "{} (the stream had already started, so no other connection was tried)",
                                e.message
                            ),
                        });
                    }
                    let fails_over = config.failover_on.iter().any(|listed| listed.covers(e.class));
                    // Retry here only where failing over is not an option.
                    let policy = route.connection.retry;
                    if let Some(wait) = (is_last || !fails_over)
                        .then(|| policy.delay(retries, e.class, e.retry_after, retry_started.elapsed()))
                        .flatten()
                    {
                        tracing::info!(node = %node, connection = name, class = %e.class, wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        retries += 1;
                        continue;
                    }
                    skipped.push(Skip {
                        connection: name.to_string(),
                        class: Some(e.class),
                        reason: e.message.clone(),
                    });
                    if !fails_over || is_last {
                        let why = if is_last { "" } else { "; this error class does not fail over" };
                        return Err(LlmFailed { message: format!("{}{why}", summary(skipped)) });
                    }
                    sink.emit(RunEvent::Failover {
                        node: node.clone(),
                        from: name.to_string(),
                        reason: e.class.to_string(),
                    });
                }
            }
            break;
        }
    }
    Err(LlmFailed { message: format!("no connection could serve the node: {}", summary(skipped)) })
}

fn summary(skipped: &[Skip]) -> String {
    if skipped.len() == 1 {
        return skipped[0].reason.clone();
    }
    skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>().join("; then ")
}

/// The node's output value: what templates and the workflow output read.
fn node_output(
    node: &str,
    config: &LlmConfig,
    answer: Answer,
    connection: &str,
    model: &str,
    cost: f64,
) -> Result<Value, LlmFailed> {
    let wants_json =
        matches!(config.response_format, Some(ResponseFormatSpec::JsonObject | ResponseFormatSpec::JsonSchema { .. }));
    let json_text = answer.text.trim().to_string();
    let mut out = json!({
        "text": answer.text,
        "tool_calls": answer.tool_calls.iter().map(|c| json!({
            "id": c.id,
            "name": c.name,
            "arguments": serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| Value::String(c.arguments.clone())),
        })).collect::<Vec<_>>(),
        "finish_reason": answer.finish_reason,
        "model": answer.served_model.as_deref().unwrap_or(model),
        "connection": connection,
        "usage": answer.usage,
        "cost_usd": cost,
    });
    if let Some(r) = &answer.reasoning {
        out["reasoning"] = json!(r);
    }
    // A turn that only calls tools has no JSON answer yet.
    let only_tools = json_text.is_empty() && !out["tool_calls"].as_array().is_none_or(Vec::is_empty);
    if wants_json && !only_tools {
        match serde_json::from_str::<Value>(&json_text) {
            Ok(v) => out["json"] = v,
            Err(e) => {
                return Err(LlmFailed {
                    message: format!(
                        "node `{node}` asked for JSON, but the answer from connection `{connection}` is not valid JSON ({e})"
                    ),
                });
            }
        }
    }
    Ok(out)
}
