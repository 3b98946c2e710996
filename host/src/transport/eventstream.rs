//! AWS event-stream framing (`application/vnd.amazon.eventstream`, Bedrock's
//! ConverseStream), done by the host like SSE so plugins see whole messages.
//! Decoding is AWS's own `aws-smithy-eventstream`: lengths and both CRC32
//! checksums are verified, so a corrupt or truncated frame is an error, never
//! a garbled event.
//!
//! Each message becomes an event: `event` is the `:event-type` header (for an
//! in-stream exception `exception:` + `:exception-type`, for an error
//! `error:` + `:error-code`) and `data` the payload as text (JSON for Bedrock).

use super::sse::{FrameError, SseEvent};
use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::BytesMut;

/// The content type that selects this framing.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Incremental decoder: feed bytes as they arrive, take messages as they complete.
#[derive(Debug)]
pub struct EventStreamFramer {
    buffer: BytesMut,
    max_message_bytes: usize,
}

impl Default for EventStreamFramer {
    fn default() -> Self {
        EventStreamFramer::new(super::sse::DEFAULT_MAX_EVENT_BYTES)
    }
}

/// Total length, headers length, prelude CRC, (headers, payload), message CRC.
const MIN_MESSAGE_BYTES: usize = 16;

impl EventStreamFramer {
    /// A framer that refuses messages larger than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        EventStreamFramer { buffer: BytesMut::new(), max_message_bytes }
    }

    /// Take `bytes`; push every message they complete onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        self.buffer.extend_from_slice(bytes);
        // Each message starts with its total length: cut whole messages off
        // the buffer and let the decoder verify them (lengths, both CRCs).
        while let Some(prefix) = self.buffer.first_chunk::<4>() {
            let total = u32::from_be_bytes(*prefix) as usize;
            if total > self.max_message_bytes {
                return Err(FrameError::TooLarge { limit: self.max_message_bytes });
            }
            if total < MIN_MESSAGE_BYTES {
                return Err(FrameError::Corrupt { detail: format!("a message claims a length of {total} bytes") });
            }
            if self.buffer.len() < total {
                break;
            }
            let frame = self.buffer.split_to(total).freeze();
            let message = read_message_from(frame).map_err(|e| FrameError::Corrupt { detail: e.to_string() })?;
            out.push(event_of(&message)?);
        }
        Ok(())
    }

    /// The stream ended: anything left over is a truncated message.
    pub fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        match self.buffer.len() {
            0 => Ok(()),
            bytes => Err(FrameError::Truncated { bytes }),
        }
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
        HeaderValue::String(s) => Some(s.as_str()),
        _ => None,
    })
}

fn event_of(message: &Message) -> Result<SseEvent, FrameError> {
    let event = match header(message, ":message-type").unwrap_or("event") {
        "event" => header(message, ":event-type").map(str::to_string),
        "exception" => Some(format!("exception:{}", header(message, ":exception-type").unwrap_or("unknown"))),
        other => Some(format!("{other}:{}", header(message, ":error-code").unwrap_or("unknown"))),
    };
    let data = std::str::from_utf8(message.payload())
        .map_err(|_| FrameError::Corrupt { detail: "a message payload is not UTF-8 text".into() })?
        .to_string();
    Ok(SseEvent { event, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bedrock").join(name)
    }

    fn frame_all(bytes: &[u8], piece: usize) -> Result<Vec<SseEvent>, FrameError> {
        let mut framer = EventStreamFramer::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            framer.feed(chunk, &mut out)?;
        }
        framer.finish(&mut out)?;
        Ok(out)
    }

    /// Recorded Bedrock streams decode to exactly the recorded frames, however the bytes arrive.
    #[test]
    fn recorded_bedrock_streams_decode_frame_for_frame() {
        for stream in ["converse-stream-text.1", "converse-stream-tool-use.1", "converse-stream-tool-use-2-turns.1"] {
            let bytes = std::fs::read(fixture(&format!("recorded/{stream}.response.bin"))).unwrap();
            let frames: serde_json::Value = serde_json::from_slice(
                &std::fs::read(fixture(&format!("recorded/{stream}.response.frames.json"))).unwrap(),
            )
            .unwrap();
            let frames = frames.as_array().unwrap();
            for piece in [1, 7, 64, bytes.len()] {
                let events = frame_all(&bytes, piece).unwrap();
                assert_eq!(events.len(), frames.len(), "{stream} in pieces of {piece}");
                for (e, f) in events.iter().zip(frames) {
                    assert_eq!(e.event.as_deref(), f["headers"][":event-type"]["value"].as_str(), "{stream}");
                    assert_eq!(e.data, f["payload"].as_str().unwrap(), "{stream}");
                }
            }
        }
    }

    /// The framing vectors: the valid ones decode, every corrupt one is refused.
    #[test]
    fn corrupt_frames_are_refused_and_valid_ones_decode() {
        let vectors: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("eventstream-vectors/decoded.json")).unwrap()).unwrap();
        let vectors = vectors["vectors"].as_object().unwrap();
        assert_eq!(vectors.len(), 11);
        for (name, v) in vectors {
            let bytes = std::fs::read(fixture(&format!("eventstream-vectors/{name}.bin"))).unwrap();
            let result = frame_all(&bytes, 5);
            if name.starts_with("valid_") {
                let events = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let payload = v["decoded"][0]["payload"].as_str().unwrap_or_default();
                assert_eq!(events.len(), 1, "{name}");
                assert_eq!(events[0].data, payload, "{name}");
            } else {
                assert!(result.is_err(), "{name} was accepted: {result:?}");
            }
        }
    }

    #[test]
    fn a_stream_cut_inside_a_message_is_an_error_and_exceptions_are_named() {
        let bytes = std::fs::read(fixture("recorded/converse-stream-text.1.response.bin")).unwrap();
        let cut = frame_all(&bytes[..bytes.len() - 3], 100);
        assert!(matches!(cut, Err(FrameError::Truncated { .. })), "{cut:?}");
        // An in-stream exception, as Bedrock sends one mid-stream.
        let mut message = Message::new(&br#"{"message":"Too many tokens"}"#[..]);
        for (k, v) in [(":message-type", "exception"), (":exception-type", "throttlingException")] {
            message = message.add_header(aws_smithy_types::event_stream::Header::new(k, HeaderValue::String(v.into())));
        }
        let mut buf = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&message, &mut buf).unwrap();
        let events = frame_all(&buf, 3).unwrap();
        assert_eq!(events[0].event.as_deref(), Some("exception:throttlingException"));
    }
}
