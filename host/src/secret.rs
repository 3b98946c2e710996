//! Secrets in memory: never printed, wiped when dropped.

use std::fmt;
use zeroize::Zeroizing;

/// An API key or other credential. `Debug` prints a mask and there is no
/// `Display`, so a secret cannot reach a log line or an error by accident; the
/// bytes are zeroed when the last copy is dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The credential itself: call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A hint safe to show an operator, e.g. `sk-…a1b2`.
    pub fn masked_hint(&self) -> String {
        let s = self.0.as_str();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() < 12 {
            return "…".to_string();
        }
        let head: String = chars.iter().take(3).collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }

    /// True for an empty credential (treated as missing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_hint_never_show_the_secret() {
        let s = Secret::new("sk-test-0123456789abcdef");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.masked_hint(), "sk-…cdef");
        assert_eq!(Secret::new("short").masked_hint(), "…");
    }
}
