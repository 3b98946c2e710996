//! Every log line the library emits during the tests, at every level, kept in
//! memory so tests can scan it for keys.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

fn buffer() -> &'static Mutex<Vec<u8>> {
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        buffer().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        Capture
    }
}

/// Route tracing output into the buffer: llmnode's own at trace level (spans
/// included), every other crate at debug, except the compiler's IR dumps,
/// which are megabytes per plugin and carry no request data.
pub fn install() {
    use tracing::Level;
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = Targets::new()
        .with_default(Level::DEBUG)
        .with_target("llmnode", Level::TRACE)
        .with_target("cranelift", Level::WARN)
        .with_target("cranelift_codegen", Level::WARN)
        .with_target("regalloc2", Level::WARN)
        .with_target("wasmtime", Level::INFO)
        .with_target("wasmtime_internal_cranelift", Level::WARN);
    let fmt = tracing_subscriber::fmt::layer()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(Capture)
        .with_ansi(false);
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).try_init();
}

/// Everything logged so far.
pub fn text() -> String {
    String::from_utf8_lossy(&buffer().lock().unwrap()).into_owned()
}
