//! A connection as operators see it, on every surface (CLI list and show, the
//! daemon's API, the dashboard): settings, secret hints, status and 30 days of
//! usage. Never a key.

use super::{Admin, AdminError, effective};
use crate::status::{self, ConnectionStatus};
use crate::store::connection_rows::{self, ConnectionRow};
use crate::store::usage_rows::{self, Totals};
use crate::store::{alert_rows, now_ms, workspaces};
use serde_json::{Value, json};

/// Days of usage an overview covers.
pub const USAGE_DAYS: u32 = 30;

/// One connection with what is shown beside its settings.
pub struct Overview {
    pub row: ConnectionRow,
    pub status: ConnectionStatus,
    /// The last [`USAGE_DAYS`] days.
    pub usage: Totals,
}

impl Overview {
    /// The JSON every surface shows: settings and secret hints, never a key.
    pub fn to_json(&self) -> Value {
        let row = &self.row;
        let now = now_ms();
        json!({
            "name": row.name,
            "provider": row.provider,
            "enabled": row.enabled,
            "status": self.status.status.as_str().to_lowercase(),
            "status_reasons": self.status.reasons,
            "usage_30d": { "requests": self.usage.requests, "errors": self.usage.errors, "cost_usd": self.usage.cost_usd() },
            "settings": row.settings,
            "pending_approval": row.pending_approval,
            "secrets": row.secret_hints.iter().map(|s| json!({
                "field": s.field, "hint": s.hint, "set_ms": s.set_ms, "age_days": s.age_days(now),
            })).collect::<Vec<_>>(),
        })
    }

    /// [`Overview::to_json`] with every setting as it takes effect through
    /// `plugin` and where its value comes from (`"effective"`).
    pub fn to_json_effective(&self, plugin: Option<&crate::runtime::LoadedPlugin>) -> Value {
        let mut value = self.to_json();
        value["effective"] = effective::to_json(&effective::settings(&self.row.settings, plugin));
        value
    }
}

impl Admin {
    /// Every connection of `workspace`, or just `only`, with status and usage.
    pub fn overview(&self, workspace: &str, only: Option<&str>) -> Result<Vec<Overview>, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let rows = match only {
            Some(name) => vec![connection_rows::get(db, ws.id, name)?],
            None => connection_rows::list(db, ws.id)?,
        };
        let tests = status::last_tests(db, workspace)?;
        let settings = alert_rows::settings(db, ws.id)?;
        let now = now_ms();
        let since_ms = crate::usage::report::range_start(USAGE_DAYS, now);
        rows.into_iter()
            .map(|row| {
                let status = status::of(db, &row, tests.get(&row.name).copied(), &settings, now)?;
                let scope = usage_rows::Scope { workspace_id: row.workspace_id, since_ms, connection: Some(&row.name) };
                let usage = usage_rows::totals(db, scope)?;
                Ok(Overview { row, status, usage })
            })
            .collect()
    }

    /// What disabling or deleting a connection would break: the workflows that
    /// ran against it and the stored workflows and routes that name it, so an
    /// operator is told before, not after.
    pub fn connection_used_by(&self, workspace: &str, name: &str) -> Result<Vec<String>, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        connection_rows::get(db, ws.id, name)?;
        let mut used_by = usage_rows::workflows_using(db, ws.id, name)?;
        for stored in crate::store::definition_rows::naming_connection(db, ws.id, name)? {
            if !used_by.contains(&stored) {
                used_by.push(stored);
            }
        }
        Ok(used_by)
    }

    /// Delete a connection unless something still names it (a stored workflow
    /// or a workflow that ran against it); `force` deletes anyway.
    pub fn delete_connection_checked(&mut self, workspace: &str, name: &str, force: bool) -> Result<(), AdminError> {
        let used_by = self.connection_used_by(workspace, name)?;
        if !used_by.is_empty() && !force {
            return Err(AdminError::Refused(format!(
                "connection `{name}` is used by workflow(s) {}; deleting it breaks them. Pass --force (in the API: ?force=true) to delete it anyway",
                used_by.join(", ")
            )));
        }
        self.delete_connection(workspace, name)
    }
}
