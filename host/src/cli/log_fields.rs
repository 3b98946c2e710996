//! Span and event fields on log lines as the default formatter writes them,
//! less those meant only for OpenTelemetry export (`gen_ai.*`, `llmnode.*`,
//! `otel.*`, `error.type`): log lines stay as they were, and captured prompts
//! and answers never reach a log.

use llmnode::telemetry::export_only;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, FormatFields, Writer};

/// The default field formatter, skipping export-only fields.
#[derive(Default)]
pub struct LogFields;

impl<'w> FormatFields<'w> for LogFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Logged(DefaultVisitor::new(writer, true));
        fields.record(&mut visitor);
        visitor.0.finish()
    }

    /// Fields recorded later: appended only if one of them is logged, so a
    /// span filled in for export does not gain a stray separator.
    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if !added.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            current.fields.push_str(&added);
        }
        Ok(())
    }
}

/// Passes on every field but the export-only ones.
struct Logged<'a>(DefaultVisitor<'a>);

macro_rules! forward {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(&mut self, field: &Field, value: $ty) {
            if !export_only(field.name()) {
                self.0.$method(field, value);
            }
        })*
    };
}

impl Visit for Logged<'_> {
    forward!(
        record_debug(&dyn fmt::Debug),
        record_str(&str),
        record_error(&(dyn std::error::Error + 'static)),
        record_f64(f64),
        record_i64(i64),
        record_u64(u64),
        record_i128(i128),
        record_u128(u128),
        record_bool(bool),
        record_bytes(&[u8]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::DefaultFields;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(fields: impl for<'w> FormatFields<'w> + Send + Sync + 'static) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(fields)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!(
                "attempt",
                connection = "c",
                model = "m",
                otel.name = "chat m",
                gen_ai.input.messages = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            span.record("gen_ai.input.messages", "the secret prompt");
            span.record("error.type", "timeout");
            let _in = span.enter();
            tracing::info!(node = "n", llmnode.cost_usd = 1.5, "attempt failed");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_lines_are_as_before_without_export_fields() {
        let ours = logged(LogFields);
        assert_eq!(
            ours,
            " INFO attempt{connection=\"c\" model=\"m\"}: llmnode::cli::log_fields::tests: attempt failed node=\"n\"\n"
        );
        // The same line the default formatter writes for the fields we keep.
        let default = logged(DefaultFields::new());
        assert!(default.contains("the secret prompt") && default.contains("otel.name"), "{default}");
    }
}
