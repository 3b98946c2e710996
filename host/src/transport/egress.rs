//! Where a plugin's request may go: the origin of the connection's base URL, and
//! any extra hosts the operator accepted for that connection. Anything else is
//! refused before a byte leaves the host.

use url::{Origin, Url};

/// The origins one connection may reach.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    origins: Vec<Origin>,
}

/// A request to a place the policy does not allow.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EgressError {
    /// The URL does not parse or is not http(s).
    #[error("the plugin built an unusable URL ({reason})")]
    BadUrl { reason: String },
    /// The URL's origin is not allowed for this connection.
    #[error("the plugin tried to send the request to {origin}, but this connection may only reach {allowed}")]
    Refused { origin: String, allowed: String },
}

impl EgressPolicy {
    /// Allow the base URL's origin plus `extra` origins (URLs or `host[:port]`, https assumed).
    pub fn new(base_url: &Url, extra: &[String]) -> Self {
        let mut origins = vec![base_url.origin()];
        for host in extra {
            let parsed = Url::parse(host).or_else(|_| Url::parse(&format!("https://{host}")));
            if let Ok(url) = parsed {
                origins.push(url.origin());
            }
        }
        EgressPolicy { origins }
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
        self.allows(&parsed)?;
        Ok(parsed)
    }

    /// Check an already-parsed URL (also used for redirects).
    pub fn allows(&self, url: &Url) -> Result<(), EgressError> {
        let origin = url.origin();
        if self.origins.contains(&origin) {
            return Ok(());
        }
        Err(EgressError::Refused {
            origin: origin.ascii_serialization(),
            allowed: self.origins.iter().map(Origin::ascii_serialization).collect::<Vec<_>>().join(", "),
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
}
