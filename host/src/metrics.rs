//! Prometheus metrics for the daemon: HTTP requests, llm runs, attempts,
//! failovers, latency and time-to-first-token, tokens and cost.
//!
//! `prometheus-client` is the Prometheus project's own Rust client: text
//! exposition, no global registry, lock-free counters. Run metrics are taken
//! from each finished [`RunReport`], so the engine's hot path carries no
//! metrics code at all; the cost is a few atomic adds per attempt after the
//! answer is out. Plugin call counts and time are kept by the runtime (two
//! atomic adds per call) and read at scrape time.

use crate::engine::RunReport;
use crate::runtime::PluginRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    workspace: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    workspace: String,
    connection: String,
    provider: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    workspace: String,
    connection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    workspace: String,
    connection: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailoverLabels {
    workspace: String,
    from: String,
    class: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 100 µs .. ~52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// Every metric the daemon exports, registered once.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram, fn() -> Histogram>,
    runs: Family<RunLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    failovers: Family<FailoverLabels, Counter>,
    local_refusals: Family<ConnectionLabels, Counter>,
    attempt_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram>,
    ttft_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost_nano_usd: Family<ConnectionLabels, Counter>,
    plugin_calls: Family<PluginLabels, Gauge>,
    plugin_busy_seconds: Family<PluginLabels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("llmnode");
        let m = Metrics {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(seconds_histogram),
            runs: Family::default(),
            attempts: Family::default(),
            failovers: Family::default(),
            local_refusals: Family::default(),
            attempt_seconds: Family::new_with_constructor(seconds_histogram),
            ttft_seconds: Family::new_with_constructor(seconds_histogram),
            tokens: Family::default(),
            cost_nano_usd: Family::default(),
            plugin_calls: Family::default(),
            plugin_busy_seconds: Family::default(),
            // Replaced below, once every family is registered in it.
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests by route and status", m.http_requests.clone());
        registry.register("http_request_seconds", "HTTP request latency", m.http_seconds.clone());
        registry.register("llm_requests", "Workflow runs and chat completions, by outcome", m.runs.clone());
        registry.register("llm_attempts", "Attempts against a connection, by outcome", m.attempts.clone());
        registry.register("llm_failovers", "Connections passed over after a failed attempt", m.failovers.clone());
        registry.register(
            "limiter_refusals",
            "Calls refused locally by a connection's RPM, TPM or daily budget",
            m.local_refusals.clone(),
        );
        registry.register(
            "llm_attempt_seconds",
            "Attempt latency, first byte out to last byte in",
            m.attempt_seconds.clone(),
        );
        registry.register("llm_time_to_first_token_seconds", "Time to first streamed token", m.ttft_seconds.clone());
        registry.register("llm_tokens", "Tokens by kind", m.tokens.clone());
        registry.register("llm_cost_nano_usd", "Cost in nano-dollars (exact sums)", m.cost_nano_usd.clone());
        registry.register("plugin_calls", "Calls into a plugin since it was loaded", m.plugin_calls.clone());
        registry.register(
            "plugin_busy_seconds",
            "Time inside a plugin (instantiation included) since it was loaded",
            m.plugin_busy_seconds.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Count one HTTP request on its matched route (never the raw path, which
    /// would make a label per URL).
    pub fn http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels { method: method.to_string(), route: route.to_string(), status };
        self.http_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Count a finished run: its outcome, each attempt, each failover and local refusal.
    pub fn run(&self, workspace: &str, report: &RunReport) {
        let outcome = if report.ok { "ok" } else { "failed" };
        self.runs.get_or_create(&RunLabels { workspace: workspace.to_string(), outcome }).inc();
        let mut attempted = HashSet::new();
        for a in &report.attempts {
            attempted.insert(a.connection.as_str());
            let outcome = a.error.map(|c| c.as_str()).unwrap_or("ok");
            let labels = AttemptLabels {
                workspace: workspace.to_string(),
                connection: a.connection.clone(),
                provider: a.provider.clone(),
                outcome,
            };
            self.attempts.get_or_create(&labels).inc();
            let conn = ConnectionLabels { workspace: workspace.to_string(), connection: a.connection.clone() };
            self.attempt_seconds.get_or_create(&conn).observe(a.latency.as_secs_f64());
            if let Some(t) = a.time_to_first_token {
                self.ttft_seconds.get_or_create(&conn).observe(t.as_secs_f64());
            }
            let kinds = [
                ("input", a.usage.input),
                ("output", a.usage.output),
                ("cache_read", a.usage.cache_read),
                ("cache_write", a.usage.cache_write),
            ];
            for (kind, n) in kinds.into_iter().filter(|(_, n)| *n > 0) {
                let labels = TokenLabels { workspace: workspace.to_string(), connection: a.connection.clone(), kind };
                self.tokens.get_or_create(&labels).inc_by(n);
            }
            let nano = crate::store::usage_rows::to_nusd(a.cost_usd);
            if nano > 0 {
                self.cost_nano_usd.get_or_create(&conn).inc_by(nano as u64);
            }
        }
        for node in &report.nodes {
            for skip in &node.skipped {
                let Some(class) = skip.class else { continue };
                let labels = FailoverLabels {
                    workspace: workspace.to_string(),
                    from: skip.connection.clone(),
                    class: class.as_str(),
                };
                self.failovers.get_or_create(&labels).inc();
                if !attempted.contains(skip.connection.as_str()) && class == crate::error_class::ErrorClass::RateLimit {
                    let conn =
                        ConnectionLabels { workspace: workspace.to_string(), connection: skip.connection.clone() };
                    self.local_refusals.get_or_create(&conn).inc();
                }
            }
        }
    }

    /// The Prometheus text exposition of every metric, with the plugins'
    /// call counts and time read from `plugins` now.
    pub fn render(&self, plugins: &PluginRegistry) -> String {
        for p in plugins.iter() {
            let (calls, busy) = p.call_stats();
            let labels = PluginLabels { plugin: p.name().to_string() };
            self.plugin_calls.get_or_create(&labels).set(i64::try_from(calls).unwrap_or(i64::MAX));
            self.plugin_busy_seconds.get_or_create(&labels).set(busy.as_secs_f64());
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
