//! Google service-account auth for `google-service-account` directives
//! (Vertex AI): the host signs a JWT with the account's private key (RS256,
//! by `ring`), exchanges it at the account's token URI for an access token,
//! caches the token until shortly before it expires, and sends it as a
//! bearer token. The plugin only names the scopes; neither the key, the
//! signed assertion nor the token ever reaches it.

use super::TransportError;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);
/// The lifetime asked for (Google's maximum).
const LIFETIME_SECS: u64 = 3600;
/// Time allowed for the token exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Most OAuth scopes a plugin may ask for (Vertex AI needs one).
pub const MAX_SCOPES: usize = 16;
/// Longest OAuth scope a plugin may name.
pub const MAX_SCOPE_BYTES: usize = 256;
/// Largest token-endpoint answer read.
const MAX_TOKEN_ANSWER: usize = 64 << 10;

/// The fields of a service-account key file the host needs.
#[derive(serde::Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

fn failed(detail: impl std::fmt::Display) -> TransportError {
    TransportError::Credential { detail: format!("Google service-account auth: {detail}") }
}

/// Access tokens by account and scopes, shared by every request of a transport.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (Secret, Instant)>>,
}

impl TokenCache {
    /// A valid access token for `key_file` (the service-account JSON) and
    /// `scopes`, minted through `client` if none is cached.
    pub async fn token(
        &self,
        client: &reqwest::Client,
        key_file: &Secret,
        scopes: &[String],
    ) -> Result<Secret, TransportError> {
        let key: KeyFile = serde_json::from_str(key_file.expose())
            .map_err(|_| failed("the service-account key is not a JSON key file with client_email and private_key"))?;
        let scope = scopes.join(" ");
        let cache_key = format!("{}\n{scope}", key.client_email);
        // Held across the exchange: concurrent requests wait for one token
        // rather than each minting their own.
        let mut tokens = self.tokens.lock().await;
        if let Some((token, expires)) = tokens.get(&cache_key)
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = exchange(client, &key, &scope).await?;
        tokens.insert(cache_key, (token.clone(), Instant::now() + lifetime));
        Ok(token)
    }
}

/// Check the scopes a plugin names: few, short, printable and without spaces
/// (they are joined with spaces into the assertion and the cache key).
pub fn check_scopes(scopes: &[String]) -> Result<(), TransportError> {
    let too_large = |what: String| Err(TransportError::TooLarge { what });
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return too_large(format!("{} OAuth scopes (1 to {MAX_SCOPES})", scopes.len()));
    }
    for scope in scopes {
        if scope.is_empty() || scope.len() > MAX_SCOPE_BYTES || !scope.bytes().all(|b| b.is_ascii_graphic()) {
            let shown: String = scope.chars().take(64).collect();
            return too_large(format!(
                "OAuth scope {shown:?} (each 1 to {MAX_SCOPE_BYTES} printable characters, no spaces)"
            ));
        }
    }
    Ok(())
}

/// The signed JWT assertion (a credential itself: never logged).
fn assertion(key: &KeyFile, scope: &str, now: u64) -> Result<Secret, TransportError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key.as_bytes())
        .map_err(|_| failed("the private_key is not a PKCS#8 PEM key"))?;
    let pair =
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| failed("the private_key is not an RSA key"))?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": key.client_email,
        "scope": scope,
        "aud": key.token_uri,
        "iat": now,
        "exp": now + LIFETIME_SECS,
    });
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|_| failed("signing the assertion failed"))?;
    Ok(Secret::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))))
}

/// Exchange a fresh assertion for an access token and its lifetime.
async fn exchange(client: &reqwest::Client, key: &KeyFile, scope: &str) -> Result<(Secret, Duration), TransportError> {
    let url = url::Url::parse(&key.token_uri).map_err(|_| failed("the key file's token_uri is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !loopback {
        return Err(failed("the key file's token_uri must be https"));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let jwt = assertion(key, scope, now)?;
    let form = format!(
        "grant_type={}&assertion={}",
        url::form_urlencoded::byte_serialize(b"urn:ietf:params:oauth:grant-type:jwt-bearer").collect::<String>(),
        jwt.expose()
    );
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .timeout(EXCHANGE_TIMEOUT)
        .send()
        .await
        .map_err(|e| failed(format!("the token endpoint could not be reached: {}", e.without_url())))?;
    let status = response.status();
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| failed(format!("reading the token answer: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_ANSWER {
            return Err(failed(format!("the token endpoint's answer exceeds {MAX_TOKEN_ANSWER} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        // OAuth errors name the problem (`invalid_grant`, …) and carry no secret.
        let why = answer["error_description"].as_str().or(answer["error"].as_str()).unwrap_or("no reason given");
        return Err(failed(format!("the token endpoint refused the account (HTTP {}): {why}", status.as_u16())));
    }
    let token = answer["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| failed("no access_token"))?;
    let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(LIFETIME_SECS));
    Ok((Secret::new(token), lifetime))
}
