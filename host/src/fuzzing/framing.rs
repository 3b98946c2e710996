//! Targets for the stream framers: framing must not depend on how the bytes
//! were cut into reads, and must stay within its bounds.

use crate::transport::eventstream::EventStreamFramer;
use crate::transport::{FrameError, SseEvent, SseFramer};

/// Small bound, so the fuzzer reaches the size checks quickly.
const MAX_EVENT_BYTES: usize = 4096;

/// What both framers offer the transport.
trait Framer {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError>;
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError>;
}

impl Framer for SseFramer {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        SseFramer::feed(self, bytes, out)
    }
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        SseFramer::finish(self, out)
    }
}

impl Framer for EventStreamFramer {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        EventStreamFramer::feed(self, bytes, out)
    }
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        EventStreamFramer::finish(self, out)
    }
}

/// Frame `body` read in pieces of the given sizes (cycled); the events up to
/// the first error, and the error.
fn frame(mut framer: impl Framer, body: &[u8], pieces: &[u8]) -> (Vec<SseEvent>, Option<FrameError>) {
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = pieces.iter().map(|&p| usize::from(p).max(1)).cycle();
    while !rest.is_empty() {
        let n = if pieces.is_empty() { rest.len() } else { sizes.next().unwrap_or(1).min(rest.len()) };
        let (piece, tail) = rest.split_at(n);
        if let Err(e) = framer.feed(piece, &mut out) {
            return (out, Some(e));
        }
        rest = tail;
    }
    let end = framer.finish(&mut out).err();
    (out, end)
}

/// The first byte says how many of the next bytes are read sizes; the rest is
/// the body. Framing the body whole and in those pieces must agree.
fn same_in_any_pieces<F: Framer>(data: &[u8], new: impl Fn() -> F) {
    let (pieces, body) = match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n % 16).min(rest.len())),
        None => (&[][..], data),
    };
    let whole = frame(new(), body, &[]);
    let cut = frame(new(), body, pieces);
    assert_eq!(whole, cut, "framing depends on how the stream was cut (pieces {pieces:?})");
    for event in &whole.0 {
        assert!(event.data.len() <= MAX_EVENT_BYTES, "an event of {} bytes passed the bound", event.data.len());
    }
}

/// The SSE framer.
pub fn sse(data: &[u8]) {
    same_in_any_pieces(data, || SseFramer::new(MAX_EVENT_BYTES));
}

/// The AWS event-stream decoder.
pub fn eventstream(data: &[u8]) {
    same_in_any_pieces(data, || EventStreamFramer::new(MAX_EVENT_BYTES));
}
