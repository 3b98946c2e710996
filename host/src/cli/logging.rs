//! Log lines on standard error. Fields and messages carry names, model ids,
//! upstream error messages and plugin log lines; every record is written
//! escaped ([`escape`]) so none of them can forge a log line or drive the
//! terminal. Colours are off: they are escape sequences themselves.

use llmnode::escape::escape;
use std::borrow::Cow;
use std::io::{self, Write};

/// Compiler crates whose debug and trace output is megabytes of IR per plugin;
/// they stay at `warn` unless the filter names them.
const QUIET_TARGETS: &[&str] = &["cranelift_codegen", "cranelift_frontend", "regalloc2", "wasmtime_internal_cranelift"];

/// Log to standard error at `filter` (`info`, `llmnode=debug`, …).
pub fn init(filter: &str) {
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| EscapedStderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
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
