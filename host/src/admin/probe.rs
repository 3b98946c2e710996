//! A connection's test: the plugin's cheap test request through the real
//! transport, with key validity, reachability and model access reported
//! apart, and the outcome recorded (status reads it back). One definition for
//! the CLI and the daemon.

use super::{Admin, AdminError};
use crate::engine::{ResolvedConnection, Routes, class_of_error};
use crate::error_class::ErrorClass;
use crate::escape::quoted_list;
use crate::runtime::PluginRegistry;
use crate::runtime::bindings::types;
use crate::transport::{MAX_RESPONSE_BODY, Transport, redact};
use serde::Serialize;

/// What a connection test found. `None` means the test could not tell.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOutcome {
    pub connection: String,
    pub provider: String,
    pub model: String,
    pub reachable: bool,
    pub key_valid: Option<bool>,
    pub model_access: Option<bool>,
    /// What happened, e.g. `HTTP 401: the key was refused`; never a secret.
    pub detail: String,
    /// The model that answered the test call, as the provider named it.
    pub answered_model: Option<String>,
    /// The first words of the test call's answer, when it was a chat call.
    pub answer: Option<String>,
}

/// Words of a test answer shown.
const ANSWER_WORDS: usize = 12;

impl ProbeOutcome {
    /// Reachable, key accepted and model available.
    pub fn passed(&self) -> bool {
        self.reachable && self.key_valid == Some(true) && self.model_access == Some(true)
    }
}

impl Admin {
    /// Test connection `name` of `workspace` with `model` (default: the
    /// connection's default model) and record the outcome in the audit log.
    pub async fn probe_connection(
        &mut self,
        workspace: &str,
        name: &str,
        model: Option<String>,
        plugins: &PluginRegistry,
    ) -> Result<ProbeOutcome, AdminError> {
        let set = self.connection_set(workspace)?;
        let routes = Routes::resolve(&set, plugins, 0);
        let route = match (routes.ready.get(name), routes.unusable.get(name)) {
            (Some(r), _) => r.clone(),
            (None, Some(u)) => {
                return Err(AdminError::Refused(format!("connection `{name}` cannot be used: {}", u.reason)));
            }
            (None, None) => {
                return Err(crate::store::StoreError::NotFound {
                    what: "connection",
                    name: name.into(),
                    scope: format!(" in workspace `{workspace}`"),
                }
                .into());
            }
        };
        let model = model.or_else(|| route.connection.default_model.clone()).ok_or_else(|| {
            AdminError::Invalid(format!(
                "connection `{name}` has no default model: name the model to test (--model MODEL, in the API ?model=MODEL)"
            ))
        })?;
        let allowed = &route.connection.models;
        if !allowed.is_empty() && !allowed.contains(&model) {
            return Err(AdminError::Invalid(format!(
                "connection `{name}` does not allow model `{model}` (its models: {})",
                quoted_list(allowed)
            )));
        }
        let prepared = route
            .plugin
            .call()
            .and_then(|mut c| c.test_request(&route.settings, &model))
            .map_err(|e| AdminError::Refused(format!("plugin `{}` failed: {e}", route.connection.provider)))?
            .map_err(|e| AdminError::Refused(format!("the plugin refused the test request: {}", e.message)))?;
        let transport = Transport::new().map_err(|e| AdminError::Refused(e.to_string()))?;
        let mut found = Found::default();
        match transport.send(prepared, &route.target).await {
            Err(e) => found.detail = e.to_string(),
            Ok(response) => match response.body(MAX_RESPONSE_BODY).await {
                Err(e) => found.detail = e.to_string(),
                Ok((status, headers, body)) => found = judge(&route, &model, status, headers, body),
            },
        }
        let Found { reachable, key_valid, model_access, detail, answered_model, answer } = found;
        let outcome = ProbeOutcome {
            connection: name.to_string(),
            provider: route.connection.provider.clone(),
            model,
            reachable,
            key_valid,
            model_access,
            detail: redact::scrub(&detail, &route.target.credentials.all()),
            answered_model,
            answer: answer.map(|a| redact::scrub(&a, &route.target.credentials.all())),
        };
        let recorded = serde_json::json!({
            "reachable": outcome.reachable, "key_valid": outcome.key_valid,
            "model_access": outcome.model_access, "model": outcome.model,
        });
        self.record_test(workspace, name, &recorded)?;
        Ok(outcome)
    }
}

/// What one test answer says.
#[derive(Default)]
struct Found {
    reachable: bool,
    key_valid: Option<bool>,
    model_access: Option<bool>,
    detail: String,
    answered_model: Option<String>,
    answer: Option<String>,
}

/// Read the test call's answer: a success shows who answered and how; a
/// failure is classified by the plugin, so an exhausted quota says so.
fn judge(route: &ResolvedConnection, model: &str, status: u16, headers: Vec<types::Header>, body: Vec<u8>) -> Found {
    let reached = |key_valid, model_access, detail: String| Found {
        reachable: true,
        key_valid,
        model_access,
        detail,
        ..Found::default()
    };
    if (200..300).contains(&status) {
        let (answered_model, answer) = read_answer(route, status, headers, body);
        return Found { answered_model, answer, ..reached(Some(true), Some(true), format!("HTTP {status}")) };
    }
    let error = route.plugin.call().and_then(|mut c| c.classify_error(status, &headers, &body));
    let (class, message) = match &error {
        Ok(e) => (class_of_error(e), e.message.as_str()),
        Err(_) => (ErrorClass::Other, ""),
    };
    let said = if message.is_empty() { String::new() } else { format!(": {message}") };
    match (status, class) {
        (401 | 403, _) | (_, ErrorClass::Auth) => {
            reached(Some(false), None, format!("HTTP {status}: the key was refused"))
        }
        (_, ErrorClass::QuotaExceeded) => reached(
            Some(true),
            None,
            format!("HTTP {status}: quota exceeded (the key works; its account has no quota left){said}"),
        ),
        (_, ErrorClass::RateLimit) => {
            reached(Some(true), None, format!("HTTP {status}: rate limited (the key works; try again later){said}"))
        }
        (404, _) => reached(Some(true), Some(false), format!("HTTP 404: model {model:?} not available{said}")),
        (_, class) => reached(None, None, format!("HTTP {status}: {class}{said}")),
    }
}

/// The model that answered and the first words of its answer: the plugin
/// parses a chat answer; any other (e.g. a model lookup) names its model in
/// `model` or `id`.
fn read_answer(
    route: &ResolvedConnection,
    status: u16,
    headers: Vec<types::Header>,
    body: Vec<u8>,
) -> (Option<String>, Option<String>) {
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let named = json.as_ref().and_then(|v| v["model"].as_str().or(v["id"].as_str())).map(str::to_string);
    let response = types::HttpResponse { status, headers, body };
    match route.plugin.call().and_then(|mut c| c.parse_response(&response)) {
        Ok(Ok(parsed)) => {
            let words: Vec<&str> = parsed.text.split_whitespace().collect();
            let mut text = words.iter().take(ANSWER_WORDS).copied().collect::<Vec<_>>().join(" ");
            if words.len() > ANSWER_WORDS {
                text.push_str(" …");
            }
            (parsed.model.or(named), Some(text))
        }
        _ => (named, None),
    }
}
