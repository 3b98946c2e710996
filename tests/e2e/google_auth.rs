//! Google service-account auth done by the host: a loopback token endpoint
//! verifies the host's RS256 assertion with the account's public key and
//! issues a token, which reaches the provider as a bearer token, is cached,
//! and never shows in an error.

use crate::support::{self, Reply, Upstream};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use llmnode::runtime::bindings::types;
use llmnode::secret::Secret;
use llmnode::transport::auth::KeyMaterial;
use llmnode::transport::{Target, Transport};
use serde_json::{Value, json};

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const TOKEN: &str = "ya29.test-access-token-5c1d";

/// Check the assertion in a token request as Google would: signature, issuer, audience, scope.
fn verify_assertion(body: &[u8], audience: &str) -> Result<(), String> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).ok_or(format!("no {k}"));
    if get("grant_type")? != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return Err("wrong grant_type".into());
    }
    let jwt = get("assertion")?;
    let (signed, signature) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    let public_key = support::fixture("google/test-service-account.pub.der");
    let public_key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key);
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|e| e.to_string())?;
    public_key.verify(signed.as_bytes(), &signature).map_err(|_| "bad signature".to_string())?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ok = claims["iss"] == "llmnode-test@llmnode-test.iam.gserviceaccount.com"
        && claims["aud"] == audience
        && claims["scope"] == SCOPE
        && claims["iat"].as_u64().unwrap().abs_diff(now) < 60
        && claims["exp"].as_u64().unwrap() == claims["iat"].as_u64().unwrap() + 3600;
    if ok { Ok(()) } else { Err(format!("bad claims {claims}")) }
}

fn key_file(token_uri: &str) -> String {
    let mut key = support::fixture_json("google/test-service-account.json");
    key["token_uri"] = json!(token_uri);
    key.to_string()
}

/// A Vertex-like connection on `vertex` whose key file points at `tokens`.
fn vertex_target(tokens: &Upstream, vertex: &Upstream) -> Target {
    let key = key_file(&tokens.url("/token"));
    let mut c = support::connection("vertex", "gemini", &vertex.url(""), "unused");
    c.credentials.set("google_service_account", KeyMaterial::Plain(Secret::new(key))).unwrap();
    c.target(&url::Url::parse(&vertex.url("")).unwrap(), types::AuthScheme::ApiKey)
}

fn request(url: String) -> types::PreparedRequest {
    types::PreparedRequest {
        request: types::HttpRequest { method: types::Method::Post, url, headers: Vec::new(), body: b"{}".to_vec() },
        auth: types::AuthDirective::GoogleServiceAccount(vec![SCOPE.into()]),
    }
}

#[tokio::test]
async fn the_host_mints_caches_and_sends_a_service_account_token() {
    let tokens = Upstream::start(move |seen| {
        // The audience is the key file's token URI.
        let audience = format!("http://{}/token", seen.headers["host"].to_str().unwrap());
        match verify_assertion(&seen.body, &audience) {
            Ok(()) => Reply::json(200, json!({ "access_token": TOKEN, "expires_in": 3599 }).to_string()),
            Err(why) => Reply::json(400, json!({ "error": "invalid_grant", "error_description": why }).to_string()),
        }
    })
    .await;
    let vertex = Upstream::start(|_| Reply::json(200, "{}")).await;
    let target = vertex_target(&tokens, &vertex);
    let transport = Transport::new().unwrap();
    for _ in 0..3 {
        let response = transport.send(request(vertex.url("/v1/projects/p/x:generateContent")), &target).await.unwrap();
        assert_eq!(response.status, 200);
    }
    let seen = vertex.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.headers["authorization"] == format!("Bearer {TOKEN}")));
    assert_eq!(tokens.seen().len(), 1, "the token is cached until it nears expiry");
}

#[tokio::test]
async fn a_refused_account_is_a_clear_credential_error_without_the_key() {
    let tokens = Upstream::start(|_| {
        Reply::json(400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
    })
    .await;
    let vertex = Upstream::start(|_| Reply::json(200, "{}")).await;
    let target = vertex_target(&tokens, &vertex);
    let err = Transport::new().unwrap().send(request(vertex.url("/v1/x")), &target).await.err().unwrap();
    let message = err.to_string();
    assert!(message.contains("Invalid JWT Signature") && message.contains("HTTP 400"), "{message}");
    let private_key =
        support::fixture_json("google/test-service-account.json")["private_key"].as_str().unwrap().to_string();
    let key_body = private_key.lines().nth(1).unwrap();
    support::assert_no_leak("the error", &message, key_body);
    assert!(vertex.seen().is_empty(), "nothing is sent without a token");

    // No key file at all: the error says what the connection lacks.
    let bare = support::connection("vertex", "gemini", &vertex.url(""), "unused");
    let target = bare.target(&url::Url::parse(&vertex.url("")).unwrap(), types::AuthScheme::GoogleServiceAccount);
    let err = Transport::new().unwrap().send(request(vertex.url("/v1/x")), &target).await.err().unwrap();
    assert!(err.to_string().contains("google_service_account"), "{err}");
}

#[tokio::test]
async fn a_hostile_token_endpoint_or_scope_list_is_refused_with_a_bound() {
    // A token answer far larger than any real one is not read to the end.
    let tokens = Upstream::start(|_| {
        let padding = "x".repeat(200 << 10);
        Reply::json(200, json!({ "access_token": TOKEN, "padding": padding }).to_string())
    })
    .await;
    let vertex = Upstream::start(|_| Reply::json(200, "{}")).await;
    let target = vertex_target(&tokens, &vertex);
    let transport = Transport::new().unwrap();
    let err = transport.send(request(vertex.url("/v1/x")), &target).await.err().unwrap();
    assert!(err.to_string().contains("exceeds 65536 bytes"), "{err}");

    // Scopes are joined with spaces: one that holds a space would smuggle more.
    let mut smuggling = request(vertex.url("/v1/x"));
    smuggling.auth = types::AuthDirective::GoogleServiceAccount(vec![format!("{SCOPE} https://evil.example/all")]);
    let err = transport.send(smuggling, &target).await.err().unwrap();
    assert!(err.to_string().contains("printable characters, no spaces"), "{err}");
    assert!(vertex.seen().is_empty(), "nothing is sent without a token");
}
