//! Log lines on standard error. Fields and messages carry names, model ids,
//! upstream error messages and plugin log lines; every record is written
//! escaped ([`escape`]) so none of them can forge a log line or drive the
//! terminal. Colours are off: they are escape sequences themselves.

use super::log_fields::LogFields;
use llmnode::escape::escape;
use llmnode::telemetry::{OtelConfig, Telemetry};
use std::borrow::Cow;
use std::io::{self, Write};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Compiler crates whose debug and trace output is megabytes of IR per plugin;
/// they stay at `warn` unless the filter names them.
const QUIET_TARGETS: &[&str] = &["cranelift_codegen", "cranelift_frontend", "regalloc2", "wasmtime_internal_cranelift"];

/// Log to standard error at `filter` (`info`, `llmnode=debug`, …), and start
/// OpenTelemetry export if the `OTEL_*` variables ask for it; the caller
/// shuts the export down (flushing it) when the command ends. The log filter
/// applies to log lines only: export has its own (see `llmnode::telemetry`).
pub fn init(filter: &str) -> Option<Telemetry> {
    let mut directives = filter.to_string();
    for target in QUIET_TARGETS {
        if !filter.contains(target) {
            directives.push_str(&format!(",{target}=warn"));
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("warning: log filter `{}` is invalid ({e}); logging warnings only", escape(filter));
        tracing_subscriber::EnvFilter::new("warn")
    });
    let log = tracing_subscriber::fmt::layer()
        .fmt_fields(LogFields)
        .with_writer(|| EscapedStderr)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter);
    let telemetry = match OtelConfig::from_env().and_then(|c| c.map(|c| Telemetry::start(&c)).transpose()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("warning: OpenTelemetry export is off: {}", escape(&e.to_string()));
            None
        }
    };
    let export = telemetry.as_ref().and_then(Telemetry::layer);
    let _ = tracing_subscriber::registry().with(log).with(export).try_init();
    telemetry
}

/// Standard error, taking one whole record per write: the formatter renders
/// an event into one buffer, ending in its line feed, and writes it at once.
/// That line feed is kept; any other, and every other unsafe character, is
/// escaped.
struct EscapedStderr;

impl Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (record, end) = match text.strip_suffix('\n') {
            Some(record) => (record, "\n"),
            None => (&*text, ""),
        };
        let mut err = io::stderr().lock();
        match escape(record) {
            Cow::Borrowed(_) => err.write_all(buf)?,
            Cow::Owned(escaped) => {
                err.write_all(escaped.as_bytes())?;
                err.write_all(end.as_bytes())?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
