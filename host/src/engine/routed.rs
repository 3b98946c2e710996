//! One routed call, whatever it asks (a chat answer, embeddings): try the
//! route's connections in order until one serves it, passing over resting,
//! disabled or unsuitable ones, holding each attempt's worst case against the
//! connection's limits, retrying where failing over is not an option, and
//! recording every attempt that reached a provider. What differs between
//! kinds of call is behind [`Call`].

use super::Inner;
use super::attempt::AttemptError;
use super::attempt_span;
use super::events::{EventSink, Fragment, NodeStatus, RunEvent};
use super::prompt_size::PromptSize;
use super::report::Skip;
use super::reserve;
use super::route::ResolvedConnection;
use crate::error_class::ErrorClass;
use crate::escape::quoted_list;
use crate::limits::{self, Admission, Hold, Scoped, Used};
use crate::money::nanos;
use crate::principal::Principal;
use crate::transport::Transport;
use crate::usage::{AttemptRecord, TokenUsage};
use crate::workflow::{RouteSpec, Routing};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What one kind of call does on each connection the route tries.
pub(crate) trait Call {
    /// A served attempt's result.
    type Out: Send;

    /// `gen_ai.operation.name`: what the call asks of the model.
    const OPERATION: &'static str;

    /// Why `route` cannot serve this call at all (it is passed over unseen), if so.
    fn unsuitable(&self, route: &ResolvedConnection) -> Option<String> {
        let _ = route;
        None
    }

    /// Aim the request at `model` on `route` before each connection's attempts.
    fn target(&mut self, model: &str, route: &ResolvedConnection);

    /// The request's size: what limits reserve and the sandbox must hold.
    fn size(&self) -> PromptSize;

    /// Fewest tokens the largest text that must fit one context window can be.
    fn min_tokens(&self) -> u64;

    /// The most answer tokens asked for (`None`: the model's maximum output).
    fn max_tokens(&self) -> Option<u32>;

    /// How long cache entries are asked to live (which cache-write price applies).
    fn cache_ttl(&self) -> Option<u32> {
        None
    }

    /// Whether the attempt is sent streamed.
    fn streamed(&self) -> bool {
        false
    }

    /// One attempt on `route`; `on_text` sees streamed text and reasoning as it arrives.
    fn attempt<'a>(
        &'a self,
        route: &'a ResolvedConnection,
        transport: &'a Transport,
        on_text: &'a mut (dyn FnMut(Fragment<'_>) + Send),
    ) -> impl Future<Output = Result<Self::Out, AttemptError>> + Send + 'a;

    /// What a served attempt used.
    fn usage(&self, out: &Self::Out) -> TokenUsage;

    /// When a streamed attempt's first content arrived.
    fn time_to_first_token(out: &Self::Out) -> Option<Duration> {
        let _ = out;
        None
    }

    /// The answer length the caller asked for (not what limits reserve).
    fn requested_max_tokens(&self) -> Option<u32> {
        None
    }

    /// The sampling temperature asked for.
    fn temperature(&self) -> Option<f32> {
        None
    }

    /// The model that served, as the provider named it.
    fn response_model(out: &Self::Out) -> Option<&str> {
        let _ = out;
        None
    }

    /// What was sent, for content capture (see `telemetry::content`).
    fn input_content(&self) -> Option<String> {
        None
    }

    /// What came back, for content capture.
    fn output_content(out: &Self::Out) -> Option<String> {
        let _ = out;
        None
    }
}

/// A served call.
pub(crate) struct Routed<T> {
    pub out: T,
    pub connection: String,
    pub model: String,
    pub cost: f64,
}

/// A call that no connection could serve.
pub(crate) struct Unrouted {
    pub message: String,
}

/// Serve `call` through `spec`. Each attempt that was admitted leaves its
/// hold and what it used in `holds`, settled by the caller once the attempts
/// are durable usage events.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<C: Call>(
    inner: &Inner,
    by: &Principal,
    node: &Arc<str>,
    spec: &RouteSpec,
    call: &mut C,
    sink: &dyn EventSink,
    attempts: &mut Vec<AttemptRecord>,
    skipped: &mut Vec<Skip>,
    holds: &mut Vec<(Hold, Used)>,
) -> Result<Routed<C::Out>, Unrouted> {
    let names = candidates(inner, node, spec, skipped);
    let size = call.size();
    let min_tokens = call.min_tokens();
    for (i, name) in names.iter().enumerate() {
        let is_last = i + 1 == names.len();
        let skip = |skipped: &mut Vec<Skip>, reason: String| {
            tracing::info!(node = %node, connection = name, %reason, "connection skipped");
            skipped.push(Skip { connection: name.to_string(), class: None, reason, awaiting_approval: false });
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
            tracing::info!(node = %node, connection = name, reason = %why, "connection skipped");
            skipped.push(Skip {
                connection: name.to_string(),
                class: None,
                reason: why.clone(),
                awaiting_approval: true,
            });
            continue;
        }
        let Some(model) = spec.model_for(name).or(route.connection.default_model.as_deref()) else {
            skip(skipped, "no model: name one in the node's `model` or set the connection's default model".into());
            continue;
        };
        let allowed = &route.connection.models;
        let refusal = if !allowed.is_empty() && !allowed.iter().any(|m| m == model) {
            Some(format!("connection `{name}` does not allow model `{model}` (its models: {})", quoted_list(allowed)))
        } else {
            call.unsuitable(route)
        };
        if let Some(reason) = refusal {
            tracing::info!(node = %node, connection = name, %reason, "connection skipped");
            skipped.push(Skip {
                connection: name.to_string(),
                class: Some(ErrorClass::InvalidRequest),
                reason,
                awaiting_approval: false,
            });
            continue;
        }
        if let Some(Err(reason)) = by.token.as_ref().map(|t| t.check_model(model)) {
            tracing::info!(node = %node, connection = name, %reason, "connection skipped");
            skipped.push(Skip {
                connection: name.to_string(),
                class: Some(ErrorClass::Forbidden),
                reason,
                awaiting_approval: false,
            });
            continue;
        }
        call.target(model, route);
        if let Some(window) = route.plugin.model(model).map(|m| m.context_window).filter(|w| *w > 0)
            && min_tokens > u64::from(window)
        {
            skip(
                skipped,
                format!("the input (about {min_tokens} tokens) does not fit {model}'s context window of {window}"),
            );
            continue;
        }

        let prices = inner
            .prices
            .resolve(&route.connection.provider, model, &route.plugin)
            .map(|p| p.for_cache_ttl(call.cache_ttl().or(route.cache_ttl_secs)));
        // The connection's limits and the caller's token's, held together.
        let connection_key = Scoped { key: &route.key, limits: &route.connection.limits };
        let token_limits = by.token.as_ref().filter(|t| t.limits.any()).map(|t| (&t.key, &t.limits));
        let both;
        let keys: &[Scoped<'_>] = match token_limits {
            Some((key, limits)) => {
                both = [connection_key, Scoped { key, limits }];
                &both
            }
            None => std::slice::from_ref(&connection_key),
        };
        let retry_started = Instant::now();
        let mut retries = 0u32;
        loop {
            let started = Instant::now();
            let mut streaming = false;
            let mut on_text = |fragment: Fragment<'_>| {
                if !streaming {
                    streaming = true;
                    sink.emit(RunEvent::Status {
                        node: node.clone(),
                        status: NodeStatus::Streaming,
                        detail: Some(name.to_string()),
                    });
                }
                sink.emit(match fragment {
                    Fragment::Text(text) => RunEvent::Text { node: node.clone(), text: text.to_string() },
                    Fragment::Reasoning(text) => RunEvent::Reasoning { node: node.clone(), text: text.to_string() },
                });
            };
            let limited = match reserve::ask(route, token_limits, model, size, call.max_tokens(), prices.as_ref()) {
                Ok(ask) => limits::acquire(&inner.limits, keys, ask).await,
                Err(refusal) => Err(refusal),
            };
            let (result, reached) = match limited {
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
                    let span = attempt_span::open(call, node, route, model);
                    let in_flight = inner.balancer.start(name);
                    let call_started = Instant::now();
                    let result = call.attempt(route, &inner.transport, &mut on_text).instrument(span.clone()).await;
                    let duration = call_started.elapsed();
                    drop(in_flight);
                    inner.limits.record(&route.key, result.as_ref().err().map(|e| (e.class, e.retry_after)));
                    (result, Some((hold, span, duration)))
                }
            };
            let usage = result.as_ref().map(|out| call.usage(out)).unwrap_or_default();
            let cost = prices.map_or(0.0, |p| p.cost(&usage));
            // A local refusal never reached the provider: not a usage event.
            let reached_provider = reached.is_some();
            if let Some((hold, span, duration)) = reached {
                let tokens = usage.prompt_total() + usage.output;
                holds.push((hold, Used { requests: 1, tokens, cost: nanos(cost), booked: false }));
                let result = result.as_ref().map_err(|e| e.class);
                let outcome = attempt_span::Outcome::<C> { result, usage: &usage, cost_usd: cost, duration };
                attempt_span::close(&span, route, model, outcome);
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
                streamed: call.streamed(),
                unpriced: prices.is_none(),
            };
            match result {
                Ok(out) => {
                    record.usage = usage;
                    record.cost_usd = cost;
                    record.time_to_first_token = C::time_to_first_token(&out);
                    attempts.push(record);
                    return Ok(Routed { out, connection: name.to_string(), model: model.to_string(), cost });
                }
                Err(e) => {
                    record.error = Some(e.class);
                    if reached_provider {
                        attempts.push(record);
                    }
                    tracing::info!(node = %node, connection = name, class = %e.class, error = %e.message, "attempt failed");
                    if e.after_content {
                        return Err(Unrouted {
                            message: format!(
                                "{} (the stream had already started, so no other connection was tried)",
                                e.message
                            ),
                        });
                    }
                    let fails_over = spec.failover_on.iter().any(|listed| listed.covers(e.class));
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
                        awaiting_approval: false,
                    });
                    if !fails_over || is_last {
                        let why = if is_last { "" } else { "; this error class does not fail over" };
                        return Err(Unrouted { message: format!("{}{why}", summary(skipped)) });
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
    Err(Unrouted { message: format!("no connection could serve the node: {}", summary(skipped)) })
}

/// The connections to try, in order: the primary or the balanced pool, then
/// the fallbacks. Connections whose breaker is open are passed over; if that
/// is all of them, the one closest to reopening is tried anyway.
fn candidates<'s>(inner: &Inner, node: &Arc<str>, spec: &'s RouteSpec, skipped: &mut Vec<Skip>) -> Vec<&'s str> {
    let headroom =
        |name: &str| inner.routes.ready.get(name).map_or(1.0, |r| inner.limits.headroom(&r.key, &r.connection.limits));
    let names: Vec<&str> = match &spec.routing {
        Routing::Primary(primary) => std::iter::once(primary.as_str()).collect(),
        Routing::Balanced { connections, policy } => inner.balancer.order(connections, *policy, headroom),
    }
    .into_iter()
    .chain(spec.fallbacks.iter().map(String::as_str))
    .collect();
    let open: Vec<Option<Duration>> = names
        .iter()
        .map(|n| match inner.routes.ready.get(*n).map_or(Admission::Allowed, |r| inner.limits.breaker(&r.key)) {
            Admission::Open(left) => Some(left),
            Admission::Allowed => None,
        })
        .collect();
    let least_bad = if open.iter().all(Option::is_some) { (0..names.len()).min_by_key(|&i| open[i]) } else { None };
    names
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
                    awaiting_approval: false,
                });
                None
            }
        })
        .collect()
}

fn summary(skipped: &[Skip]) -> String {
    if skipped.len() == 1 {
        return skipped[0].reason.clone();
    }
    skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>().join("; then ")
}
