//! Applying a plugin's auth directive. This is the only place a credential is
//! put on the wire; the plugin never sees it.

use super::TransportError;
use super::sigv4::{self, AwsKeys, SignOptions};
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
    /// The plaintext, for as long as the caller holds it.
    pub fn open(&self) -> Result<Secret, TransportError> {
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
    /// AWS keys, for SigV4 directives.
    pub aws_access_key_id: Option<KeyMaterial>,
    pub aws_secret_access_key: Option<KeyMaterial>,
    /// Present for temporary (STS) credentials.
    pub aws_session_token: Option<KeyMaterial>,
    /// A Google service-account key file (JSON), for Vertex AI.
    pub google_service_account: Option<KeyMaterial>,
}

/// The secret fields a connection may hold (besides `header:NAME`).
pub const SECRET_FIELDS: [&str; 5] =
    ["api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "google_service_account"];

impl Credentials {
    /// Credentials with a key already in memory.
    pub fn plain(api_key: Option<Secret>) -> Self {
        Credentials { api_key: api_key.map(KeyMaterial::Plain), ..Default::default() }
    }

    /// Put `material` in the slot `field` names ([`SECRET_FIELDS`] or
    /// `header:NAME`); the one place field names are interpreted.
    pub fn set(&mut self, field: &str, material: KeyMaterial) -> Result<(), String> {
        let slot = match field {
            "api_key" => &mut self.api_key,
            "aws_access_key_id" => &mut self.aws_access_key_id,
            "aws_secret_access_key" => &mut self.aws_secret_access_key,
            "aws_session_token" => &mut self.aws_session_token,
            "google_service_account" => &mut self.google_service_account,
            _ => match field.strip_prefix("header:") {
                Some(name) if !name.is_empty() => {
                    self.headers.push((name.to_string(), material));
                    return Ok(());
                }
                _ => {
                    return Err(format!(
                        "unknown secret field `{field}` (known: {}, header:NAME)",
                        SECRET_FIELDS.join(", ")
                    ));
                }
            },
        };
        *slot = Some(material);
        Ok(())
    }

    /// Refuse a field name no connection can use, before anything is stored.
    pub fn check_field(field: &str) -> Result<(), String> {
        Credentials::default().set(field, KeyMaterial::Plain(Secret::new(String::new())))
    }

    /// The API key, opened now if sealed; drop it as soon as it is on the wire.
    pub fn api_key(&self) -> Result<Option<Secret>, TransportError> {
        self.api_key.as_ref().map(KeyMaterial::open).transpose()
    }

    /// Every secret, for scrubbing text that leaves the transport (a sealed
    /// one that cannot be opened cannot have been sent either).
    pub fn all(&self) -> Vec<Secret> {
        let single = [
            &self.api_key,
            &self.aws_access_key_id,
            &self.aws_secret_access_key,
            &self.aws_session_token,
            &self.google_service_account,
        ];
        let headers = self.headers.iter().map(|(_, m)| m);
        single.into_iter().flatten().chain(headers).filter_map(|m| m.open().ok()).collect()
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
/// `method` and `body` are what SigV4 signs; `minted` is the access token the
/// transport obtained for a `google-service-account` directive.
pub fn apply(
    directive: &AuthDirective,
    credentials: &Credentials,
    method: &str,
    headers: &mut HeaderMap,
    url: &mut url::Url,
    body: &[u8],
    minted: Option<&Secret>,
) -> Result<(), TransportError> {
    // Secret custom headers first: the directive's own header wins over them.
    for (name, material) in &credentials.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TransportError::BadHeader { name: name.clone(), reason: "not a valid header name".into() })?;
        headers.insert(header, sensitive(material.open()?.expose())?);
    }
    let key = || Ok::<_, TransportError>(credentials.api_key()?.filter(|k| !k.is_empty()));
    match directive {
        AuthDirective::None => Ok(()),
        AuthDirective::Bearer => {
            if let Some(key) = key()? {
                let bearer = zeroize::Zeroizing::new(format!("Bearer {}", key.expose()));
                headers.insert(reqwest::header::AUTHORIZATION, sensitive(&bearer)?);
            }
            Ok(())
        }
        AuthDirective::Header(name) => {
            if let Some(key) = key()? {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| TransportError::BadHeader {
                    name: name.clone(),
                    reason: "not a valid header name".into(),
                })?;
                headers.insert(name, sensitive(key.expose())?);
            }
            Ok(())
        }
        AuthDirective::Query(param) => {
            if let Some(key) = key()? {
                url.query_pairs_mut().append_pair(param, key.expose());
            }
            Ok(())
        }
        AuthDirective::AwsSigv4(p) => sign_aws(credentials, &p.service, &p.region, method, headers, url, body),
        AuthDirective::GoogleServiceAccount(_) => {
            let token = minted.ok_or_else(|| TransportError::Credential {
                detail: "no access token was minted for the google-service-account directive".into(),
            })?;
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
            headers.insert(reqwest::header::AUTHORIZATION, sensitive(&bearer)?);
            Ok(())
        }
    }
}

fn sign_aws(
    credentials: &Credentials,
    service: &str,
    region: &str,
    method: &str,
    headers: &mut HeaderMap,
    url: &url::Url,
    body: &[u8],
) -> Result<(), TransportError> {
    let open = |m: &Option<KeyMaterial>| m.as_ref().map(KeyMaterial::open).transpose();
    let (Some(id), Some(secret)) = (open(&credentials.aws_access_key_id)?, open(&credentials.aws_secret_access_key)?)
    else {
        return Err(TransportError::Credential {
            detail: "SigV4 needs the connection's aws_access_key_id and aws_secret_access_key".into(),
        });
    };
    let token = open(&credentials.aws_session_token)?;
    let keys = AwsKeys { access_key_id: &id, secret_access_key: &secret, session_token: token.as_ref() };
    let sent: Vec<(&str, &str)> = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    let added = sigv4::sign(
        method,
        url.as_str(),
        &sent,
        body,
        &keys,
        service,
        region,
        std::time::SystemTime::now(),
        SignOptions::default(),
    )?;
    for (name, value, secret) in added {
        let mut v = HeaderValue::from_str(&value).map_err(|_| TransportError::BadHeader {
            name: name.into(),
            reason: "the signature produced a value not allowed in a header".into(),
        })?;
        v.set_sensitive(secret || name == "authorization");
        headers.insert(name, v);
    }
    Ok(())
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
        let mut credentials = Credentials::plain(Some(Secret::new("sk-real")));
        credentials.set("header:x-gateway-token", KeyMaterial::Plain(Secret::new("gw-1"))).unwrap();
        credentials.set("header:authorization", KeyMaterial::Plain(Secret::new("Bearer not-this"))).unwrap();
        assert!(credentials.set("aws_secret", KeyMaterial::Plain(Secret::new("x"))).is_err());
        let mut headers = HeaderMap::new();
        let mut url = url::Url::parse("https://api.example.com/v1").unwrap();
        apply(&AuthDirective::Bearer, &credentials, "POST", &mut headers, &mut url, b"", None).unwrap();
        assert_eq!(headers["x-gateway-token"], "gw-1");
        assert!(headers["x-gateway-token"].is_sensitive());
        assert_eq!(headers["authorization"], "Bearer sk-real");
        let all: Vec<String> = credentials.all().iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(all, ["sk-real", "gw-1", "Bearer not-this"], "every secret is scrubbed from errors");
    }
}
