//! Prometheus metrics for the daemon: HTTP requests, llm runs, attempts,
//! failovers, latency and time-to-first-token, tokens and cost, the daemon's
//! connections and refusals.
//!
//! Two registries, two audiences. Series about one workspace's work (runs,
//! attempts, failovers, refusals by a connection's limits, latency, tokens,
//! cost) all carry a `workspace` label and live in the scoped registry: a
//! workspace admin sees only the lines of its own workspace ([`scope`]). Process-wide series (HTTP routes, plugins, connections and
//! caps) would tell one tenant about the others' traffic, so only the
//! daemon's operator sees them, with everything else.
//!
//! `prometheus-client` is the Prometheus project's own Rust client: text
//! exposition, no global registry, lock-free counters. Run metrics are taken
//! from each finished [`RunReport`], so the engine's hot path carries no
//! metrics code at all; the cost is a few atomic adds per attempt after the
//! answer is out. Plugin call counts and time are kept by the runtime (two
//! atomic adds per call) and read at scrape time.

use crate::engine::RunReport;
use crate::runtime::PluginRegistry;
use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

mod scope;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorLabels {
    workspace: String,
    rule: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabels {
    cap: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    wait: &'static str,
}

/// The daemon's load at scrape time, read from its caps and its limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub connections: usize,
    pub requests_in_flight: usize,
    /// Calls admitted by the limits' in-process fallback (Redis unreachable), since the start.
    pub limits_fallback_admissions: u64,
}

fn seconds_histogram() -> Histogram {
    // 100 µs .. ~52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// Every metric the daemon exports, registered once.
pub struct Metrics {
    /// Series labelled with their `workspace`.
    scoped: Registry,
    /// Process-wide series: the operator's alone.
    process: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram, fn() -> Histogram>,
    runs: Family<RunLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    failovers: Family<FailoverLabels, Counter>,
    monitor_hits: Family<MonitorLabels, Counter>,
    local_refusals: Family<ConnectionLabels, Counter>,
    attempt_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram>,
    ttft_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost_nano_usd: Family<ConnectionLabels, Counter>,
    plugin_calls: Family<PluginLabels, Gauge>,
    plugin_busy_seconds: Family<PluginLabels, Gauge<f64, AtomicU64>>,
    connections: Gauge,
    requests_in_flight: Gauge,
    limits_fallback_admissions: Gauge,
    cap_refusals: Family<CapLabels, Counter>,
    timeouts: Family<WaitLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut scoped = Registry::with_prefix("llmnode");
        let mut process = Registry::with_prefix("llmnode");
        let m = Metrics {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(seconds_histogram),
            runs: Family::default(),
            attempts: Family::default(),
            failovers: Family::default(),
            monitor_hits: Family::default(),
            local_refusals: Family::default(),
            attempt_seconds: Family::new_with_constructor(seconds_histogram),
            ttft_seconds: Family::new_with_constructor(seconds_histogram),
            tokens: Family::default(),
            cost_nano_usd: Family::default(),
            plugin_calls: Family::default(),
            plugin_busy_seconds: Family::default(),
            connections: Gauge::default(),
            requests_in_flight: Gauge::default(),
            limits_fallback_admissions: Gauge::default(),
            cap_refusals: Family::default(),
            timeouts: Family::default(),
            // Replaced below, once every family is registered in them.
            scoped: Registry::default(),
            process: Registry::default(),
        };
        scoped.register("llm_requests", "Workflow runs and chat completions, by outcome", m.runs.clone());
        scoped.register("llm_attempts", "Attempts against a connection, by outcome", m.attempts.clone());
        scoped.register("llm_failovers", "Connections passed over after a failed attempt", m.failovers.clone());
        scoped.register(
            "monitor_hits",
            "Prompt monitor hits, by rule and what the workspace's policy did",
            m.monitor_hits.clone(),
        );
        scoped.register(
            "limiter_refusals",
            "Calls refused locally by a connection's RPM, TPM or daily budget",
            m.local_refusals.clone(),
        );
        scoped.register(
            "llm_attempt_seconds",
            "Attempt latency, first byte out to last byte in",
            m.attempt_seconds.clone(),
        );
        scoped.register("llm_time_to_first_token_seconds", "Time to first streamed token", m.ttft_seconds.clone());
        scoped.register("llm_tokens", "Tokens by kind", m.tokens.clone());
        scoped.register("llm_cost_nano_usd", "Cost in nano-dollars (exact sums)", m.cost_nano_usd.clone());

        process.register("http_requests", "HTTP requests by route and status", m.http_requests.clone());
        process.register("http_request_seconds", "HTTP request latency", m.http_seconds.clone());
        process.register("plugin_calls", "Calls into a plugin since it was loaded", m.plugin_calls.clone());
        process.register(
            "plugin_busy_seconds",
            "Time inside a plugin (instantiation included) since it was loaded",
            m.plugin_busy_seconds.clone(),
        );
        process.register("daemon_connections", "Client connections open now", m.connections.clone());
        process.register(
            "daemon_requests_in_flight",
            "Requests whose answer is not finished (a stream counts until it ends)",
            m.requests_in_flight.clone(),
        );
        process.register(
            "limits_fallback_admissions",
            "Calls admitted at this daemon's share of RPM/TPM while the shared limits (Redis) were unreachable",
            m.limits_fallback_admissions.clone(),
        );
        process.register(
            "daemon_cap_refusals",
            "Connections and requests refused at a cap (503, or closed past the refusal slots)",
            m.cap_refusals.clone(),
        );
        process.register(
            "daemon_timeouts",
            "Connections closed for sending no request head in time, idling too long, or reading nothing of an answer",
            m.timeouts.clone(),
        );
        Metrics { scoped, process, ..m }
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
        for hit in &report.monitor {
            let labels =
                MonitorLabels { workspace: workspace.to_string(), rule: hit.rule, action: hit.action.as_str() };
            self.monitor_hits.get_or_create(&labels).inc();
        }
    }

    /// Count a connection or request refused at `cap` (`connections` or `in_flight`).
    pub fn cap_refusal(&self, cap: &'static str) {
        self.cap_refusals.get_or_create(&CapLabels { cap }).inc();
    }

    /// Count a connection closed by a timeout (`wait` is `header` or `idle`).
    pub fn timeout(&self, wait: &'static str) {
        self.timeouts.get_or_create(&WaitLabels { wait }).inc();
    }

    /// The operator's exposition: every series, with the plugins' call
    /// counts and time, and the daemon's load, read now.
    pub fn render_all(&self, plugins: &PluginRegistry, load: Load) -> String {
        for p in plugins.iter() {
            let (calls, busy) = p.call_stats();
            let labels = PluginLabels { plugin: p.name().to_string() };
            self.plugin_calls.get_or_create(&labels).set(i64::try_from(calls).unwrap_or(i64::MAX));
            self.plugin_busy_seconds.get_or_create(&labels).set(busy.as_secs_f64());
        }
        self.connections.set(i64::try_from(load.connections).unwrap_or(i64::MAX));
        self.requests_in_flight.set(i64::try_from(load.requests_in_flight).unwrap_or(i64::MAX));
        self.limits_fallback_admissions.set(i64::try_from(load.limits_fallback_admissions).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.process);
        let _ = text::encode_registry(&mut out, &self.scoped);
        let _ = text::encode_eof(&mut out);
        out
    }

    /// A workspace admin's exposition: the series of `workspace` alone.
    pub fn render_workspace(&self, workspace: &str) -> String {
        let mut all = String::new();
        let _ = text::encode_registry(&mut all, &self.scoped);
        let mut out = scope::workspace_lines(&all, workspace);
        let _ = text::encode_eof(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{NodeReport, Skip};
    use crate::error_class::ErrorClass;
    use crate::usage::{AttemptRecord, TokenUsage};

    /// A run served by `connection` after `limited` refused locally: every
    /// scoped family gets a series.
    fn report(connection: &str) -> RunReport {
        let skip = Skip {
            connection: "limited".into(),
            class: Some(ErrorClass::RateLimit),
            reason: "rpm".into(),
            awaiting_approval: false,
        };
        RunReport {
            workflow: "w".into(),
            ok: true,
            output: None,
            error: None,
            nodes: vec![NodeReport::failed("n", "x".into(), vec![skip], 1.0)],
            attempts: vec![AttemptRecord {
                node: "n".into(),
                connection: connection.into(),
                provider: "openai".into(),
                model: "m".into(),
                error: None,
                usage: TokenUsage { input: 7, output: 3, ..Default::default() },
                cost_usd: 0.5,
                latency: Duration::from_millis(5),
                time_to_first_token: Some(Duration::from_millis(2)),
                streamed: true,
                unpriced: false,
            }],
            monitor: vec![crate::monitor::Hit {
                rule: "jwt",
                detector: crate::monitor::Detector::Secrets,
                action: crate::monitor::Action::Alert,
                node: "n".into(),
                message: Some(0),
                sender: None,
            }],
            elapsed_ms: 5.0,
        }
    }

    fn samples(text: &str) -> impl Iterator<Item = &str> {
        text.lines().filter(|l| !l.starts_with('#'))
    }

    #[test]
    fn a_workspace_sees_only_its_own_series_whatever_the_names() {
        let m = Metrics::default();
        m.run("default", &report("secret-conn"));
        // Names made to pose as another workspace's label, or to start a line.
        m.run("team-b", &report("x\",workspace=\"default"));
        m.run("team-b\"}", &report("y\nllmnode_llm_tokens_total{workspace=\"team-b\"} 99"));
        m.run("team", &report("prefix-only"));
        m.http("GET", "/v1/models", 200, Duration::from_millis(1));
        m.cap_refusal("connections");

        let b = m.render_workspace("team-b");
        assert!(samples(&b).count() > 10, "{b}");
        for line in samples(&b) {
            assert_eq!(scope::workspace_of(line), Some("team-b"), "{line}");
        }
        assert!(b.contains("llmnode_llm_attempt_seconds_bucket{"), "histograms are shown too:\n{b}");
        for absent in ["secret-conn", "prefix-only", " 99", "http_requests", "daemon_", "plugin_"] {
            assert!(!b.contains(absent), "{absent} in:\n{b}");
        }
        let posing = "llmnode_llm_tokens_total{workspace=\"team-b\",connection=\"x\\\",workspace=\\\"default\",kind=\"input\"} 7";
        assert!(b.contains(posing), "{b}");
        assert!(b.ends_with("# EOF\n"), "{b}");
        assert!(!m.render_workspace("team").contains("team-b"));
        let odd = m.render_workspace("team-b\"}");
        assert!(samples(&odd).count() > 10 && odd.contains(" 99\","), "{odd}");
        assert!(samples(&odd).all(|l| scope::workspace_of(l) == Some("team-b\\\"}")), "{odd}");
        assert!(samples(&m.render_workspace("nobody")).next().is_none());
    }

    #[test]
    fn every_scoped_series_is_labelled_by_workspace_and_the_operator_sees_all() {
        let m = Metrics::default();
        m.run("default", &report("openai"));
        m.http("GET", "/v1/models", 200, Duration::from_millis(1));
        m.cap_refusal("in_flight");
        m.timeout("idle");
        let mut scoped = String::new();
        text::encode_registry(&mut scoped, &m.scoped).unwrap();
        let families: HashSet<&str> = samples(&scoped).map(|l| &l[..l.find('{').unwrap_or(l.len())]).collect();
        assert!(families.len() >= 8, "not every scoped family has a series: {families:?}");
        for line in samples(&scoped) {
            assert_eq!(scope::workspace_of(line), Some("default"), "a scoped series without its workspace: {line}");
        }
        let load = Load { connections: 3, requests_in_flight: 2, limits_fallback_admissions: 4 };
        let all = m.render_all(&PluginRegistry::default(), load);
        for needle in [
            "llmnode_http_requests_total{",
            "llmnode_daemon_connections 3",
            "llmnode_daemon_requests_in_flight 2",
            "llmnode_limits_fallback_admissions 4",
            "llmnode_daemon_cap_refusals_total{cap=\"in_flight\"} 1",
            "llmnode_daemon_timeouts_total{wait=\"idle\"} 1",
            "llmnode_llm_tokens_total{workspace=\"default\"",
        ] {
            assert!(all.contains(needle), "{needle} missing:\n{all}");
        }
        assert_eq!(all.matches("# EOF").count(), 1, "{all}");
    }
}
