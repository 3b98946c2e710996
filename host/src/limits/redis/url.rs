//! The operator's `--limits redis://…` address. It may carry a password, so
//! it is kept as a [`Secret`] and only ever shown scrubbed (`redis://***@host:port/db`).

use crate::secret::Secret;
use std::fmt;

/// A parsed `redis://[user[:password]@]host:port[/db]` address.
#[derive(Clone)]
pub struct RedisUrl {
    full: Secret,
    shown: String,
}

/// Why a `--limits` address was refused (never quoting a password).
#[derive(Debug, thiserror::Error)]
#[error("--limits {shown}: {reason}")]
pub struct RedisUrlError {
    shown: String,
    reason: String,
}

impl RedisUrl {
    /// Check `text` is a Redis address this build can reach.
    pub fn parse(text: &str) -> Result<Self, RedisUrlError> {
        let bad = |shown: String, reason: &str| RedisUrlError { shown, reason: reason.to_string() };
        let url = url::Url::parse(text).map_err(|e| bad("(unparsable)".into(), &format!("not a URL ({e})")))?;
        let shown = scrub(&url);
        match url.scheme() {
            "redis" => {}
            "rediss" => return Err(bad(shown, "TLS (`rediss://`) is not supported by this build; use `redis://`")),
            other => return Err(bad(shown, &format!("the scheme is `{other}`, expected `redis://HOST:PORT[/DB]`"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(shown, "no host (write `redis://HOST:PORT[/DB]`)"));
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() && db.parse::<u16>().is_err() {
            return Err(bad(shown, "the path must be a database number (e.g. `/0`)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(shown, "no query or fragment is accepted"));
        }
        Ok(RedisUrl { full: Secret::new(text), shown })
    }

    /// The whole address, password included: for the client only.
    pub(super) fn expose(&self) -> &str {
        self.full.expose()
    }

    /// `text` (an error from the client) with the address's password, and
    /// the whole address, replaced by `***`.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(self.full.expose(), &self.shown);
        if let Some(password) = url::Url::parse(self.full.expose()).ok().and_then(|u| u.password().map(str::to_owned))
            && !password.is_empty()
        {
            let decoded = percent_encoding::percent_decode_str(&password).decode_utf8_lossy().into_owned();
            out = out.replace(&password, "***").replace(&decoded, "***");
        }
        out
    }
}

/// The address with any user name and password replaced by `***`.
fn scrub(url: &url::Url) -> String {
    let who = if url.username().is_empty() && url.password().is_none() { "" } else { "***@" };
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{who}{host}{port}{}", url.scheme(), url.path())
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = RedisUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RedisUrl::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown_and_bad_addresses_say_why() {
        let url = RedisUrl::parse("redis://user:hunter2-secret@127.0.0.1:6390/3").unwrap();
        assert_eq!(url.to_string(), "redis://***@127.0.0.1:6390/3");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "redis://user:hunter2-secret@127.0.0.1:6390/3");
        for (text, why) in [
            ("rediss://:hunter2-secret@h:1", "TLS"),
            ("postgres://:hunter2-secret@h:1", "scheme is `postgres`"),
            ("redis://:hunter2-secret@h:1/x", "database number"),
            ("redis://:hunter2-secret@h:1/0?a=b", "query"),
            ("nonsense hunter2-secret", "not a URL"),
        ] {
            let e = RedisUrl::parse(text).err().unwrap().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
