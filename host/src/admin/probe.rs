//! A connection's test: the plugin's cheap test request through the real
//! transport, with key validity, reachability and model access reported
//! apart, and the outcome recorded (status reads it back). One definition for
//! the CLI and the daemon.

use super::{Admin, AdminError};
use crate::engine::Routes;
use crate::runtime::PluginRegistry;
use crate::transport::Transport;
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
}

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
        let model = model.or_else(|| route.connection.default_model.clone()).unwrap_or_default();
        let prepared = route
            .plugin
            .call()
            .and_then(|mut c| c.test_request(&route.settings, &model))
            .map_err(|e| AdminError::Refused(format!("plugin `{}` failed: {e}", route.connection.provider)))?
            .map_err(|e| AdminError::Refused(format!("the plugin refused the test request: {}", e.message)))?;
        let transport = Transport::new().map_err(|e| AdminError::Refused(e.to_string()))?;
        let (reachable, key_valid, model_access, detail) = match transport.send(prepared, &route.target).await {
            Err(e) => (false, None, None, e.to_string()),
            Ok(response) => match response.status {
                s @ 200..=299 => (true, Some(true), Some(true), format!("HTTP {s}")),
                s @ (401 | 403) => (true, Some(false), None, format!("HTTP {s}: the key was refused")),
                404 => (true, Some(true), Some(false), format!("HTTP 404: model {model:?} not available")),
                s => (true, None, None, format!("HTTP {s}")),
            },
        };
        let outcome = ProbeOutcome {
            connection: name.to_string(),
            provider: route.connection.provider.clone(),
            model,
            reachable,
            key_valid,
            model_access,
            detail,
        };
        let recorded = serde_json::json!({
            "reachable": outcome.reachable, "key_valid": outcome.key_valid,
            "model_access": outcome.model_access, "model": outcome.model,
        });
        self.record_test(workspace, name, &recorded)?;
        Ok(outcome)
    }
}
