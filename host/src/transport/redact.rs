//! The last line of defence: scrub known secret values from any text that leaves
//! the transport (errors, upstream bodies echoed in messages, URLs).

use crate::secret::Secret;

const MASK: &str = "[REDACTED]";

/// Shorter values are not scrubbed: they would mangle ordinary text, and
/// real keys are long.
const MIN_SECRET_LEN: usize = 8;

/// The secrets worth scrubbing for.
fn scrubbable(secrets: &[Secret]) -> impl Iterator<Item = &str> {
    secrets.iter().map(Secret::expose).filter(|v| v.len() >= MIN_SECRET_LEN)
}

/// Replace every occurrence of any of `secrets` in `text`.
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    scrub_in_place(&mut out, secrets);
    out
}

/// [`scrub`] in place, allocating only when a secret is found (once per
/// stream event, on the hot path).
pub fn scrub_in_place(text: &mut String, secrets: &[Secret]) {
    for value in scrubbable(secrets) {
        if text.contains(value) {
            *text = text.replace(value, MASK);
        }
    }
}

/// Replace every occurrence of any of `secrets` in an upstream's body, before
/// a plugin parses it: an upstream that reflects the key (in an echo, a debug
/// field, an error inside a 200) cannot hand it to the caller.
pub fn scrub_bytes(body: &mut Vec<u8>, secrets: &[Secret]) {
    for value in scrubbable(secrets).map(str::as_bytes) {
        if memchr::memmem::find(body, value).is_none() {
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
