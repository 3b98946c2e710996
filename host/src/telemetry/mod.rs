//! OpenTelemetry export: the engine's workflow, node and attempt spans and
//! the GenAI client metrics, sent over OTLP/HTTP to where the standard
//! `OTEL_EXPORTER_OTLP_*` variables say ([`config`]). Without an endpoint
//! nothing is started: no exporter, no layer, no instruments, and the engine
//! skips every recording (its spans stay disabled at the default log level).
//!
//! Spans and metrics carry names, models, token counts, costs and error
//! classes ([`genai`]); never a key, and never a prompt or an answer unless
//! the operator opts in with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`
//! ([`content`]). Log events are not exported: only spans, whose fields the
//! engine chooses.

mod config;
pub mod content;
pub mod genai;
mod metrics;
mod warned;

pub use config::{OtelConfig, Protocol, Signal};
pub use metrics::AttemptMetrics;

use metrics::Instruments;
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use warned::Warned;

/// Why export could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL `{0}` is not supported: llmnode exports over HTTP (`http/protobuf` or `http/json`)"
    )]
    Protocol(String),
    #[error(
        "{0} holds a user name or password: the HTTP client would log it; put the collector's credentials in \
         OTEL_EXPORTER_OTLP_HEADERS (e.g. `authorization=Basic …`) instead"
    )]
    CredentialsInEndpoint(String),
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// What the engine consults per attempt once export has started.
pub struct Active {
    capture_content: bool,
    instruments: Option<Instruments>,
}

impl Active {
    /// Whether prompts and answers go on attempt spans (the operator's opt-in).
    pub fn capture_content(&self) -> bool {
        self.capture_content
    }

    /// Record one attempt's metrics, if metrics are exported.
    pub fn record(&self, attempt: &AttemptMetrics<'_>) {
        if let Some(instruments) = &self.instruments {
            instruments.record(attempt);
        }
    }
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// The running export, if any: `None` costs the engine one atomic load.
pub fn active() -> Option<&'static Active> {
    ACTIVE.get()
}

/// Whether a span field is for export only (kept out of log lines): the
/// conventions' names and ours.
pub fn export_only(field: &str) -> bool {
    field.starts_with("gen_ai.") || field.starts_with("llmnode.") || field.starts_with("otel.") || field == "error.type"
}

/// The exporters of one process; [`Telemetry::shutdown`] flushes them.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Start exporting what `config` asks for. Exports run on the SDK's own
    /// threads (batched spans, periodic metrics), off the request path.
    pub fn start(config: &OtelConfig) -> Result<Self, TelemetryError> {
        let mut resource =
            Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        if let Some(name) = &config.service_name {
            resource = resource.with_service_name(name.clone());
        }
        let resource = resource.build();
        let credentials = config::credentials(|name| std::env::var(name).ok());
        let tracer = match config.traces {
            None => None,
            Some(signal) => {
                let exporter = SpanExporter::builder().with_http().with_protocol(protocol(signal.protocol)).build()?;
                let exporter = Warned::new(exporter, "traces", credentials.clone());
                Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.clone()).build())
            }
        };
        let meter = match config.metrics {
            None => None,
            Some(signal) => {
                let exporter =
                    MetricExporter::builder().with_http().with_protocol(protocol(signal.protocol)).build()?;
                let reader = PeriodicReader::builder(Warned::new(exporter, "metrics", credentials)).build();
                Some(SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build())
            }
        };
        let instruments = meter.as_ref().map(|m| Instruments::new(&m.meter("llmnode")));
        let _ = ACTIVE.set(Active { capture_content: config.capture_content, instruments });
        Ok(Telemetry { tracer, meter })
    }

    /// The layer that turns the engine's spans into OpenTelemetry spans, with
    /// its own filter: the engine's spans at `info` whatever the log filter
    /// says, and no log events.
    pub fn layer<S>(&self) -> Option<impl Layer<S> + use<S>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer = self.tracer.as_ref()?.tracer("llmnode");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false);
        Some(layer.with_filter(filter_fn(exported)))
    }

    /// Export what is still buffered and stop.
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer {
            let _ = tracer.shutdown();
        }
        if let Some(meter) = self.meter {
            let _ = meter.shutdown();
        }
    }
}

/// The engine's spans, at `info` or above; never an event.
fn exported(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("llmnode::engine") && *meta.level() <= Level::INFO
}

fn protocol(p: Protocol) -> opentelemetry_otlp::Protocol {
    match p {
        Protocol::Protobuf => opentelemetry_otlp::Protocol::HttpBinary,
        Protocol::Json => opentelemetry_otlp::Protocol::HttpJson,
    }
}
