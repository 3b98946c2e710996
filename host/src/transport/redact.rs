//! The last line of defence: scrub known secret values from any text that leaves
//! the transport (errors, upstream bodies echoed in messages, URLs).

use crate::secret::Secret;

const MASK: &str = "[REDACTED]";

/// Replace every occurrence of any of `secrets` in `text`.
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let value = s.expose();
        // Very short values would mangle ordinary text; real keys are long.
        if value.len() >= 8 && out.contains(value) {
            out = out.replace(value, MASK);
        }
    }
    out
}

/// Replace every occurrence of any of `secrets` in an upstream's body, before
/// a plugin parses it: an upstream that reflects the key (in an echo, a debug
/// field, an error inside a 200) cannot hand it to the caller.
pub fn scrub_bytes(body: &mut Vec<u8>, secrets: &[Secret]) {
    for s in secrets {
        let value = s.expose().as_bytes();
        if value.len() < 8 || memchr::memmem::find(body, value).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(body.len());
        let mut rest = &body[..];
        while let Some(at) = memchr::memmem::find(rest, value) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(MASK.as_bytes());
            rest = &rest[at + value.len()..];
        }
        out.extend_from_slice(rest);
        *body = out;
    }
}

/// A URL for logs and errors: the query string's values are masked, whatever
/// they are, since a provider may carry a key there.
pub fn url_for_display(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, _)| (k.into_owned(), MASK.to_string())).collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_secrets_from_bodies() {
        let mut body = b"{\"echo\":\"sk-abcdefgh and sk-abcdefgh\",\"x\":1}".to_vec();
        scrub_bytes(&mut body, &[Secret::new("sk-abcdefgh"), Secret::new("short")]);
        assert_eq!(body, b"{\"echo\":\"[REDACTED] and [REDACTED]\",\"x\":1}");
    }

    #[test]
    fn scrubs_secrets_and_query_values() {
        let key = Secret::new("sk-test-abcdefghijklmnop");
        assert_eq!(scrub("bad key sk-test-abcdefghijklmnop!", std::slice::from_ref(&key)), "bad key [REDACTED]!");
        let url = url::Url::parse("https://x.test/v1?key=sk-test-abcdefghijklmnop&alt=sse").unwrap();
        let shown = url_for_display(&url);
        assert!(!shown.contains("sk-test"), "{shown}");
        assert!(shown.contains("alt="), "{shown}");
    }
}
