//! Where a plugin's request may go: under the connection's base URL (its
//! origin **and** its path prefix), or under a host the operator accepted for
//! that connection. Anything else is refused before a byte leaves the host.
//!
//! The URL is parsed the WHATWG way, which resolves `.` and `..` segments,
//! their percent-encoded forms (`%2e`, `.%2E`, …) and backslashes before the
//! prefix is compared. A segment that a server or proxy behind the origin could
//! still read as a dot segment once it decodes it (`..%2f..`, `%252e%252e`,
//! `..%5c`) is refused outright; an encoded `/` inside an ordinary segment (a
//! Bedrock model ARN) passes.

use url::{Origin, Url};

/// The places one connection may reach.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    scopes: Vec<Scope>,
}

/// One origin and the path prefix below which requests may go there.
#[derive(Debug, Clone)]
struct Scope {
    origin: Origin,
    /// The base path without its trailing `/`; empty means the whole origin.
    prefix: String,
}

impl Scope {
    fn of(url: &Url) -> Self {
        Scope { origin: url.origin(), prefix: url.path().trim_end_matches('/').to_string() }
    }

    /// True if `path` is the prefix itself or lies below it (`/v1` admits
    /// `/v1` and `/v1/chat`, never `/v10` or `/v1x`).
    fn covers(&self, origin: &Origin, path: &str) -> bool {
        if *origin != self.origin {
            return false;
        }
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    fn shown(&self) -> String {
        format!("{}{}/", self.origin.ascii_serialization(), self.prefix)
    }
}

/// A request to a place the policy does not allow.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EgressError {
    /// The URL does not parse or is not http(s).
    #[error("the plugin built an unusable URL ({reason})")]
    BadUrl { reason: String },
    /// The URL leaves every place this connection may reach.
    #[error("the plugin tried to send the request to {target}, but this connection may only reach {allowed}")]
    Refused { target: String, allowed: String },
}

/// How many rounds of percent-decoding a segment is checked through (a
/// proxy that decodes twice sees `%252e` as `.`).
const DECODE_ROUNDS: usize = 3;

/// True if `segment`, decoded as a lenient server might (repeatedly, with
/// `/` and `\` as separators), holds a `.` or `..` part.
fn hides_dot_segment(segment: &str) -> bool {
    let mut text = segment.to_string();
    for _ in 0..DECODE_ROUNDS {
        if text.split(['/', '\\']).any(|part| part == "." || part == "..") {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    text.split(['/', '\\']).any(|part| part == "." || part == "..")
}

impl EgressPolicy {
    /// Allow requests under `base_url`, plus under each of `extra` (URLs,
    /// whose path is a prefix too, or `host[:port]`, https assumed, for the
    /// whole origin).
    pub fn new(base_url: &Url, extra: &[String]) -> Self {
        let mut scopes = vec![Scope::of(base_url)];
        for host in extra {
            let parsed = Url::parse(host).or_else(|_| Url::parse(&format!("https://{host}")));
            if let Ok(url) = parsed
                && matches!(url.scheme(), "http" | "https")
            {
                scopes.push(Scope::of(&url));
            }
        }
        EgressPolicy { scopes }
    }

    /// Parse `url` and check it against the policy.
    pub fn check(&self, url: &str) -> Result<Url, EgressError> {
        let parsed = Url::parse(url).map_err(|e| EgressError::BadUrl { reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EgressError::BadUrl { reason: format!("scheme {:?} is not http or https", parsed.scheme()) });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EgressError::BadUrl { reason: "credentials in the URL are not allowed".into() });
        }
        if parsed.fragment().is_some() {
            return Err(EgressError::BadUrl { reason: "a URL fragment is not allowed".into() });
        }
        let path = parsed.path();
        if path.contains('%') && path.split('/').any(hides_dot_segment) {
            return Err(EgressError::BadUrl {
                reason: "the path holds an encoded dot segment or separator, which a server could resolve \
                         outside the connection's base URL"
                    .into(),
            });
        }
        let origin = parsed.origin();
        if self.scopes.iter().any(|s| s.covers(&origin, path)) {
            return Ok(parsed);
        }
        Err(EgressError::Refused {
            target: format!("{}{}", origin.ascii_serialization(), path),
            allowed: self.scopes.iter().map(Scope::shown).collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_base_origin_and_accepted_hosts_pass() {
        let base = Url::parse("https://api.openai.com/v1").unwrap();
        let p = EgressPolicy::new(&base, &["eu.api.example.com".into()]);
        assert!(p.check("https://api.openai.com/v1/chat/completions").is_ok());
        assert!(p.check("https://api.openai.com/v1").is_ok());
        assert!(p.check("https://eu.api.example.com/x").is_ok());
        for bad in [
            "http://api.openai.com/v1/chat/completions",
            "https://api.openai.com:8443/v1",
            "https://api.openai.com.evil.com/v1",
            "https://evil.com/?to=https://api.openai.com",
        ] {
            assert!(matches!(p.check(bad), Err(EgressError::Refused { .. })), "{bad}");
        }
        for bad in ["file:///etc/passwd", "https://user:pw@api.openai.com/v1", "not a url"] {
            assert!(matches!(p.check(bad), Err(EgressError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn the_base_path_is_a_prefix_no_spelling_of_a_dot_segment_leaves() {
        let base = Url::parse("https://gw.example.com/acct-1/gw/openai").unwrap();
        let p = EgressPolicy::new(&base, &[]);
        for good in [
            "https://gw.example.com/acct-1/gw/openai/chat/completions",
            "https://gw.example.com/acct-1/gw/openai/x/../chat/completions?api-version=1",
            "https://gw.example.com/acct-1/gw/openai",
            "https://gw.example.com/acct-1/gw/openai/model/arn%3Aaws%3Abedrock%3Aus%3A1%3Aprofile%2Fus.nova/converse",
            "https://gw.example.com/acct-1/gw/openai/a%2Eb",
        ] {
            assert!(p.check(good).is_ok(), "{good}");
        }
        for bad in [
            "https://gw.example.com/acct-2/gw/openai/chat/completions",
            "https://gw.example.com/acct-1/gw/openai-evil/x",
            "https://gw.example.com/evil",
            "https://gw.example.com/acct-1/gw/openai/../../../acct-2/gw/openai",
            "https://gw.example.com/acct-1/gw/openai/%2e%2e/%2e%2e/x",
            "https://gw.example.com/acct-1/gw/openai/.%2E/x",
            "https://gw.example.com/acct-1/gw/openai\\..\\..\\x",
        ] {
            assert!(matches!(p.check(bad), Err(EgressError::Refused { .. })), "{bad}: {:?}", p.check(bad));
        }
        for bad in [
            "https://gw.example.com/acct-1/gw/openai/%252e%252e/x",
            "https://gw.example.com/acct-1/gw/openai/..%2fx",
            "https://gw.example.com/acct-1/gw/openai/a%2F..%2F..%2Fx",
            "https://gw.example.com/acct-1/gw/openai/..%5Cx",
            "https://gw.example.com/acct-1/gw/openai/%25252e%25252e/x",
        ] {
            assert!(matches!(p.check(bad), Err(EgressError::BadUrl { .. })), "{bad}: {:?}", p.check(bad));
        }
    }

    #[test]
    fn an_accepted_host_given_as_a_url_is_pinned_to_its_path() {
        let base = Url::parse("https://api.example.com").unwrap();
        let p = EgressPolicy::new(&base, &["https://files.example.com/uploads/".into()]);
        assert!(p.check("https://api.example.com/anything").is_ok());
        assert!(p.check("https://files.example.com/uploads/a").is_ok());
        assert!(p.check("https://files.example.com/other").is_err());
    }
}
