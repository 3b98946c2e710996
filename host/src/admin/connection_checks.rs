//! What a connection must satisfy before it is stored, whoever adds or edits
//! it (CLI or API): settings in range and consistent, no credential in a
//! plain-text header, and a key wherever its plugin needs one. Each refusal
//! names the setting and says what to do instead.

use super::AdminError;
use crate::escape::{Escaped, quoted_list};
use crate::runtime::bindings::types::AuthScheme;
use crate::store::connection_rows::StoredSettings;
use crate::transport::placement::KEY_HEADERS;

/// The longest timeout a connection may set, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// The most retries a connection may set.
pub const MAX_RETRIES: u32 = 10;

/// A setting as both surfaces name it: `timeout_secs` (`--timeout-secs`).
fn named(field: &str) -> String {
    format!("`{field}` (--{})", field.replace('_', "-"))
}

fn refuse(field: &str, why: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(format!("setting {}: {why}", named(field)))
}

/// Check every public setting of a connection.
pub fn check_settings(s: &StoredSettings) -> Result<(), AdminError> {
    if let Some(u) = &s.base_url {
        url::Url::parse(u).map_err(|e| refuse("base_url", format_args!("\"{}\" is not a URL: {e}", Escaped(u))))?;
    }
    let seconds = [
        ("timeout_secs", s.timeout_secs),
        ("queue_secs", s.queue_secs),
        ("stream_idle_timeout_secs", s.stream_idle_timeout_secs),
    ];
    for (field, value) in seconds {
        if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0 && *v <= MAX_TIMEOUT_SECS)) {
            return Err(refuse(field, format_args!("{v} must be a number of seconds above 0 and at most 3600")));
        }
    }
    if let Some(v) = s.daily_budget_usd.filter(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(refuse("daily_budget_usd", format_args!("{v} must be a positive number of US dollars")));
    }
    if let Some(n) = s.max_retries.filter(|n| *n > MAX_RETRIES) {
        return Err(refuse("max_retries", format_args!("{n} is more than {MAX_RETRIES}")));
    }
    if s.cache_ttl_secs == Some(0) {
        return Err(refuse("cache_ttl_secs", "must be at least 1 second"));
    }
    if let Some(empty) = s.models.iter().position(String::is_empty) {
        return Err(refuse("models", format_args!("model #{} is empty", empty + 1)));
    }
    if let Some(m) = &s.default_model {
        if m.is_empty() {
            return Err(refuse("default_model", "must not be empty"));
        }
        if !s.models.is_empty() && !s.models.contains(m) {
            return Err(refuse(
                "default_model",
                format_args!(
                    "`{}` is not one of the connection's models ({}); add it with --model",
                    Escaped(m),
                    quoted_list(&s.models)
                ),
            ));
        }
    }
    for (name, value) in &s.headers {
        check_header(name, value, s.options.get(crate::connections::AUTH_HEADER_OPTION).map(String::as_str))?;
    }
    Ok(())
}

/// Name fragments of headers that carry credentials.
const SECRET_WORDS: [&str; 6] = ["auth", "token", "secret", "password", "api-key", "apikey"];

/// Refuse a plain-text header that carries a credential: it would be stored
/// unsealed and shown by `connections show`. Secret headers are sealed like a
/// key (`header:NAME` secrets).
fn check_header(name: &str, value: &str, auth_header: Option<&str>) -> Result<(), AdminError> {
    let lower = name.to_ascii_lowercase();
    let credential_value = ["bearer ", "basic "].iter().any(|p| value.to_ascii_lowercase().starts_with(p));
    let credential_name = KEY_HEADERS.contains(&lower.as_str())
        || matches!(lower.as_str(), "proxy-authorization" | "cookie")
        || auth_header.is_some_and(|h| h.eq_ignore_ascii_case(name))
        || SECRET_WORDS.iter().any(|w| lower.contains(w));
    if !(credential_name || credential_value) {
        return Ok(());
    }
    let shown = Escaped(name);
    Err(AdminError::Invalid(format!(
        "header `{shown}` carries a credential: as a plain header it would be stored unsealed and shown by \
         `connections show`. Store it sealed instead, like a key: --secret-env header:{shown}=VAR \
         (in the API: \"secrets\": {{\"header:{shown}\": …}})"
    )))
}

/// The secret fields that authenticate under `scheme`, any one of which
/// (or, for SigV4, both) the connection must hold.
fn needed(scheme: AuthScheme) -> Option<(&'static [&'static str], &'static str)> {
    match scheme {
        AuthScheme::None => None,
        // A Vertex connection of an API-key plugin holds a service-account key instead.
        AuthScheme::ApiKey => {
            Some((&["api_key"], "--api-key-env VAR or --api-key-stdin (in the API: secrets.api_key)"))
        }
        AuthScheme::AwsSigv4 => Some((
            &["aws_access_key_id", "aws_secret_access_key"],
            "--secret-env aws_access_key_id=VAR --secret-env aws_secret_access_key=VAR",
        )),
        AuthScheme::GoogleServiceAccount => {
            Some((&["google_service_account"], "--secret-env google_service_account=VAR"))
        }
    }
}

fn scheme_name(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::None => "none",
        AuthScheme::ApiKey => "api-key",
        AuthScheme::AwsSigv4 => "aws-sigv4",
        AuthScheme::GoogleServiceAccount => "google-service-account",
    }
}

/// Refuse a connection without the credential its plugin's `scheme` needs,
/// unless the operator said the server takes none (`no_key`): without one,
/// every call (and the connection's test) would reach the provider
/// unauthenticated.
pub fn check_key(provider: &str, scheme: AuthScheme, secrets: &[&str], no_key: bool) -> Result<(), AdminError> {
    let Some((fields, how)) = needed(scheme) else { return Ok(()) };
    let holds = |f: &str| secrets.contains(&f);
    let has_key = match scheme {
        AuthScheme::AwsSigv4 => fields.iter().all(|f| holds(f)),
        _ => fields.iter().any(|f| holds(f)) || holds("google_service_account"),
    };
    if has_key || no_key {
        return Ok(());
    }
    Err(AdminError::Invalid(format!(
        "provider `{}` needs credentials (its plugin declares auth `{}`) and none were given: pass {how}, \
         or --no-key for a server that takes none, e.g. a local OpenAI-compatible one (in the API: \"no_key\": true)",
        Escaped(provider),
        scheme_name(scheme)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_plain_headers_are_refused_with_the_sealed_form() {
        for (name, value) in [
            ("Authorization", "Bearer sk-1"),
            ("x-api-key", "k-123"),
            ("X-Gateway-Token", "tok-456"),
            ("x-custom", "Basic dXNlcjpwYXNz"),
        ] {
            let err = check_header(name, value, None).unwrap_err().to_string();
            assert!(err.contains(&format!("--secret-env header:{name}=VAR")), "{err}");
            assert!(!err.contains(value), "{err}");
        }
        assert!(check_header("x-request-source", "llmnode", None).is_ok());
        assert!(check_header("x-route", "eu", Some("X-Route")).is_err());
    }

    #[test]
    fn a_plugin_that_needs_a_key_gets_one_unless_the_operator_waives_it() {
        let err = check_key("openai", AuthScheme::ApiKey, &[], false).unwrap_err().to_string();
        assert!(err.contains("provider `openai` needs credentials") && err.contains("--api-key-env"), "{err}");
        assert!(check_key("openai", AuthScheme::ApiKey, &["api_key"], false).is_ok());
        assert!(check_key("gemini", AuthScheme::ApiKey, &["google_service_account"], false).is_ok());
        assert!(check_key("openai", AuthScheme::ApiKey, &[], true).is_ok());
        assert!(check_key("ollama", AuthScheme::None, &[], false).is_ok());
        let err = check_key("bedrock", AuthScheme::AwsSigv4, &["aws_access_key_id"], false).unwrap_err();
        assert!(err.to_string().contains("aws_secret_access_key=VAR"), "{err}");
    }

    #[test]
    fn settings_out_of_range_or_inconsistent_name_the_setting() {
        let bad = [
            (StoredSettings { timeout_secs: Some(-1.0), ..Default::default() }, "`timeout_secs` (--timeout-secs)"),
            (StoredSettings { queue_secs: Some(f64::NAN), ..Default::default() }, "`queue_secs`"),
            (StoredSettings { daily_budget_usd: Some(0.0), ..Default::default() }, "`daily_budget_usd`"),
            (StoredSettings { max_retries: Some(11), ..Default::default() }, "`max_retries`"),
            (StoredSettings { base_url: Some("not a url".into()), ..Default::default() }, "`base_url`"),
            (
                StoredSettings { models: vec!["a".into()], default_model: Some("b".into()), ..Default::default() },
                "`b` is not one of the connection's models (`a`)",
            ),
        ];
        for (settings, says) in bad {
            let err = check_settings(&settings).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let ok = StoredSettings { models: vec!["a".into()], default_model: Some("a".into()), ..Default::default() };
        check_settings(&ok).unwrap();
    }
}
