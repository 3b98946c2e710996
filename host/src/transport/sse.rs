//! Server-sent event framing, done by the host so every plugin sees whole events
//! and no plugin has to get the line rules right.
//!
//! Follows the HTML living standard's parsing rules: lines end in CRLF, LF or CR
//! (also when a CRLF is split across reads); `:` lines are comments; `data:`
//! lines join with `\n`; one leading space after the colon is dropped. An event
//! left unterminated at the end of the stream is still delivered (some providers
//! omit the final blank line). Sizes are bounded against hostile upstreams.

/// One framed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The joined `data:` lines.
    pub data: String,
}

/// The stream broke its framing rules (SSE or AWS event stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// One event grew past the bound.
    #[error("a server-sent event exceeded {limit} bytes")]
    TooLarge { limit: usize },
    /// An event's bytes are not UTF-8.
    #[error("a server-sent event is not valid UTF-8 (at byte {offset} of the stream)")]
    InvalidUtf8 { offset: u64 },
    /// A binary event-stream message is corrupt (bad length, header or checksum).
    #[error("an event-stream message is corrupt: {detail}")]
    Corrupt { detail: String },
    /// The stream ended inside a binary message.
    #[error("the event stream ended inside a message ({bytes} bytes of it received)")]
    Truncated { bytes: usize },
}

/// Incremental SSE parser: feed bytes as they arrive, take events as they complete.
#[derive(Debug)]
pub struct SseFramer {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    skip_lf: bool,
    at_start: bool,
    consumed: u64,
    max_event_bytes: usize,
}

/// Default bound on one event: generous for tool-call JSON, small for memory.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

impl Default for SseFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseFramer {
    /// A framer that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseFramer {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            skip_lf: false,
            at_start: true,
            consumed: 0,
            max_event_bytes,
        }
    }

    /// Feed the next bytes; completed events are pushed onto `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        while !bytes.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    self.consumed += 1;
                    continue;
                }
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.line.extend_from_slice(&bytes[..i]);
                    self.check_size()?;
                    self.skip_lf = bytes[i] == b'\r';
                    self.consumed += i as u64 + 1;
                    bytes = &bytes[i + 1..];
                    self.end_line(out)?;
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    self.check_size()?;
                    self.consumed += bytes.len() as u64;
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    /// The bound, checked whenever the pending line grows, so that it trips
    /// at the same place however the stream was cut into reads (a line
    /// always holds at least as many bytes as it adds to the event).
    fn check_size(&self) -> Result<(), FrameError> {
        if self.line.len() + self.data.len() > self.max_event_bytes {
            return Err(FrameError::TooLarge { limit: self.max_event_bytes });
        }
        Ok(())
    }

    /// The stream ended: deliver an event that was not closed by a blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        if !self.line.is_empty() {
            self.end_line(out)?;
        }
        self.dispatch(out)
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.at_start) && line.starts_with(b"\xEF\xBB\xBF") {
            // A UTF-8 byte order mark may precede the first line; it is
            // stripped once the line is whole, however the reads cut it.
            line.drain(..3);
        }
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(self.utf8(value.to_vec())?),
            _ => {} // `id`, `retry` and unknown fields do not matter to llm streams
        }
        self.line = line;
        self.line.clear();
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        if !self.has_data {
            self.event = None;
            return Ok(());
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        out.push(SseEvent { event: self.event.take(), data: self.utf8(data)? });
        Ok(())
    }

    fn utf8(&self, bytes: Vec<u8>) -> Result<String, FrameError> {
        String::from_utf8(bytes).map_err(|_| FrameError::InvalidUtf8 { offset: self.consumed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_in_chunks(input: &[u8], chunk: usize) -> Vec<SseEvent> {
        let mut f = SseFramer::default();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            f.feed(c, &mut out).unwrap();
        }
        f.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn frames_identically_whatever_the_chunking() {
        let input = b"event: ping\r\ndata: {\"a\":1}\r\n\r\n: comment\n\ndata: x\ndata:y\r\rdata: [DONE]\n\n";
        let expected = vec![
            SseEvent { event: Some("ping".into()), data: "{\"a\":1}".into() },
            SseEvent { event: None, data: "x\ny".into() },
            SseEvent { event: None, data: "[DONE]".into() },
        ];
        for chunk in 1..=input.len() {
            assert_eq!(frame_in_chunks(input, chunk), expected, "chunk size {chunk}");
        }
    }

    #[test]
    fn delivers_an_unterminated_last_event_and_drops_empty_ones() {
        assert_eq!(
            frame_in_chunks(b"\xEF\xBB\xBFevent: a\n\nevent: message_stop\ndata: {}", 5),
            vec![SseEvent { event: Some("message_stop".into()), data: "{}".into() }]
        );
    }

    #[test]
    fn strips_a_byte_order_mark_split_across_reads() {
        for chunk in 1..=4 {
            let events = frame_in_chunks(b"\xEF\xBB\xBFdata: a\n\n", chunk);
            assert_eq!(events, vec![SseEvent { event: None, data: "a".into() }], "chunk size {chunk}");
        }
    }

    #[test]
    fn the_size_bound_trips_alike_whatever_the_chunking() {
        // The value fits the bound, the line with its `data: ` does not.
        let input = format!("data: {}\r\n\r\n", "v".repeat(14));
        for chunk in 1..=input.len() {
            let mut f = SseFramer::new(16);
            let mut out = Vec::new();
            let result = input.as_bytes().chunks(chunk).try_for_each(|c| f.feed(c, &mut out));
            assert_eq!(result, Err(FrameError::TooLarge { limit: 16 }), "chunk size {chunk}");
        }
    }

    #[test]
    fn bounds_event_size_and_rejects_invalid_utf8() {
        let mut f = SseFramer::new(16);
        let mut out = Vec::new();
        assert_eq!(f.feed(&[b'a'; 40], &mut out), Err(FrameError::TooLarge { limit: 16 }));
        let mut f = SseFramer::default();
        assert!(matches!(f.feed(b"data: \xff\xfe\n\n", &mut out), Err(FrameError::InvalidUtf8 { .. })));
    }
}
