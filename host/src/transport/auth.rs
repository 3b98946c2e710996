//! Applying a plugin's auth directive. This is the only place a credential is
//! put on the wire; the plugin never sees it.

use super::TransportError;
use crate::runtime::bindings::types::AuthDirective;
use crate::secret::Secret;
use crate::vault::SealedSecret;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// A credential as the transport receives it.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// Already in memory (from an environment variable).
    Plain(Secret),
    /// Sealed in the store; opened only while a request is signed.
    Sealed(SealedSecret),
}

impl KeyMaterial {
    fn open(&self) -> Result<Secret, TransportError> {
        match self {
            KeyMaterial::Plain(s) => Ok(s.clone()),
            KeyMaterial::Sealed(s) => Ok(s.open()?),
        }
    }
}

/// The secrets a connection holds, handed to the transport for one request.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The provider API key, for bearer, header and query directives.
    pub api_key: Option<KeyMaterial>,
    /// Custom headers whose values are secret (e.g. a gateway token), by
    /// name; sent on every request, opened only while it is built.
    pub headers: Vec<(String, KeyMaterial)>,
}

impl Credentials {
    /// Credentials with a key already in memory.
    pub fn plain(api_key: Option<Secret>) -> Self {
        Credentials { api_key: api_key.map(KeyMaterial::Plain), headers: Vec::new() }
    }

    /// The API key, opened now if sealed; drop it as soon as it is on the wire.
    pub fn api_key(&self) -> Result<Option<Secret>, TransportError> {
        self.api_key.as_ref().map(KeyMaterial::open).transpose()
    }

    /// Every secret, for scrubbing text that leaves the transport (a sealed
    /// one that cannot be opened cannot have been sent either).
    pub fn all(&self) -> Vec<Secret> {
        let headers = self.headers.iter().filter_map(|(_, m)| m.open().ok());
        self.api_key().ok().flatten().into_iter().chain(headers).collect()
    }
}

/// The header name a directive writes, so a plugin cannot set it itself.
pub fn directive_header(directive: &AuthDirective) -> Option<&str> {
    match directive {
        AuthDirective::Bearer => Some("authorization"),
        AuthDirective::Header(name) => Some(name),
        _ => None,
    }
}

/// Attach the credential the directive asks for to `headers` or `url`. A
/// connection without an API key sends none (local OpenAI-compatible servers
/// need none; a provider that does answers 401, classified as `auth`).
pub fn apply(
    directive: &AuthDirective,
    credentials: &Credentials,
    headers: &mut HeaderMap,
    url: &mut url::Url,
) -> Result<(), TransportError> {
    // Secret custom headers first: the directive's own header wins over them.
    for (name, material) in &credentials.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TransportError::BadHeader { name: name.clone(), reason: "not a valid header name".into() })?;
        headers.insert(header, sensitive(material.open()?.expose())?);
    }
    let needs_key = matches!(directive, AuthDirective::Bearer | AuthDirective::Header(_) | AuthDirective::Query(_));
    let key = if needs_key { credentials.api_key()?.filter(|k| !k.is_empty()) } else { None };
    let Some(key) = key else {
        return match directive {
            AuthDirective::AwsSigv4(_) => Err(TransportError::UnsupportedAuth { scheme: "aws-sigv4" }),
            AuthDirective::GoogleServiceAccount(_) => {
                Err(TransportError::UnsupportedAuth { scheme: "google-service-account" })
            }
            _ => Ok(()),
        };
    };
    match directive {
        AuthDirective::Bearer => {
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", key.expose()));
            let value = sensitive(&bearer)?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
            Ok(())
        }
        AuthDirective::Header(name) => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| TransportError::BadHeader {
                name: name.clone(),
                reason: "not a valid header name".into(),
            })?;
            headers.insert(name, sensitive(key.expose())?);
            Ok(())
        }
        AuthDirective::Query(param) => {
            url.query_pairs_mut().append_pair(param, key.expose());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A header value marked sensitive (HTTP/2 never indexes it; debug output hides it).
fn sensitive(value: &str) -> Result<HeaderValue, TransportError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| TransportError::BadHeader {
        name: "credential".into(),
        reason: "the stored credential contains characters not allowed in a header".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_sent_and_the_directive_wins_over_them() {
        let credentials = Credentials {
            api_key: Some(KeyMaterial::Plain(Secret::new("sk-real"))),
            headers: vec![
                ("x-gateway-token".into(), KeyMaterial::Plain(Secret::new("gw-1"))),
                ("authorization".into(), KeyMaterial::Plain(Secret::new("Bearer not-this"))),
            ],
        };
        let mut headers = HeaderMap::new();
        let mut url = url::Url::parse("https://api.example.com/v1").unwrap();
        apply(&AuthDirective::Bearer, &credentials, &mut headers, &mut url).unwrap();
        assert_eq!(headers["x-gateway-token"], "gw-1");
        assert!(headers["x-gateway-token"].is_sensitive());
        assert_eq!(headers["authorization"], "Bearer sk-real");
        let all: Vec<String> = credentials.all().iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(all, ["sk-real", "gw-1", "Bearer not-this"], "every secret is scrubbed from errors");
    }
}
