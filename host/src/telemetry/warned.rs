//! Export failures on the log. The SDK's exporters fail quietly (its own
//! diagnostics are off), so an operator whose collector is down or whose
//! endpoint is wrong would see nothing at all; these wrappers say so on
//! standard error, at most once a minute per signal. The message is the
//! exporter's (an HTTP status or a connection error naming the endpoint),
//! scrubbed of every collector credential the `OTEL_*` variables hold
//! (header values, an endpoint's password and query values).

use crate::escape::Escaped;
use crate::secret::Secret;
use crate::transport::redact::scrub;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after one warning the next failure stays quiet.
const QUIET: Duration = Duration::from_secs(60);

/// An exporter whose failures are warned about.
#[derive(Debug)]
pub struct Warned<E> {
    inner: E,
    signal: &'static str,
    credentials: Vec<Secret>,
    last: Mutex<Option<Instant>>,
}

impl<E> Warned<E> {
    /// Wrap `inner`, exporting `signal` (`traces`, `metrics`) with `credentials`.
    pub fn new(inner: E, signal: &'static str, credentials: Vec<Secret>) -> Self {
        Warned { inner, signal, credentials, last: Mutex::new(None) }
    }

    fn seen(&self, result: OTelSdkResult) -> OTelSdkResult {
        if let Err(e) = &result {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|at| at.elapsed() >= QUIET) {
                *last = Some(Instant::now());
                let message = scrub(&e.to_string(), &self.credentials);
                tracing::warn!(
                    target: "llmnode::telemetry",
                    "OpenTelemetry: exporting {} failed: {} (further failures are quiet for a minute)",
                    self.signal,
                    Escaped(&message)
                );
            }
        }
        result
    }
}

impl<E: SpanExporter> SpanExporter for Warned<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.seen(result)
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Warned<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.seen(result)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
