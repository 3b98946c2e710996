//! Live configuration: every change (from the API of any daemon, or from
//! the CLI in another process) bumps the store's configuration version and
//! is recorded in the audit log under it. The daemon polls the version (and
//! on PostgreSQL wakes at once on the notification the change's commit
//! sends), then reads what changed since the version it last applied. Only what a
//! change touched is rebuilt: a connection or route change drops that
//! workspace's engine (rebuilt on its next use; limits live outside engines,
//! so nothing they count is lost), a stored workflow or a connection test
//! rebuilds nothing, a plugin change reloads the plugins and every engine.
//! Verified tokens are forgotten on every change, so a revocation applies
//! within a second.

use super::state::AppState;
use crate::store::{audit, config_version};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the version is read (a change applies within this, or at once
/// when the store notifies).
pub const POLL: Duration = Duration::from_millis(250);

/// What a batch of audit entries asks the daemon to rebuild.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rebuild {
    pub plugins: bool,
    /// Every workspace (a change not tied to one).
    pub all: bool,
    pub workspaces: BTreeSet<i64>,
}

/// Actions that change nothing an engine holds.
fn engine_neutral(action: &str) -> bool {
    action.starts_with("workflow.")
        || action == "connection.test"
        || action == "approval.refused"
        || action.starts_with("token.")
        || action.starts_with("user.")
}

/// Decide what `changes` (workspace id, action) require.
pub fn plan(changes: &[(i64, Option<i64>, String)]) -> Rebuild {
    let mut r = Rebuild::default();
    for (_, workspace, action) in changes {
        if action.starts_with("plugin.") {
            r.plugins = true;
            r.all = true;
        } else if engine_neutral(action) {
            continue;
        } else {
            match workspace {
                Some(id) => {
                    r.workspaces.insert(*id);
                }
                None => r.all = true,
            }
        }
    }
    r
}

/// Watch until the task is aborted.
pub async fn run(state: Arc<AppState>) {
    let current = |state: &AppState| state.store().ok().and_then(|s| config_version::current(s.db()).ok());
    let mut seen = current(&state).unwrap_or(0);
    let wakeups = match config_version::wakeups(state.location()) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no change notifications; polling only");
            None
        }
    };
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match &wakeups {
            Some(notify) => tokio::select! {
                _ = tick.tick() => {}
                _ = notify.notified() => {}
            },
            None => {
                tick.tick().await;
            }
        }
        if current(&state).is_none_or(|v| v == seen) {
            continue;
        }
        let Some(changes) = state.store().ok().and_then(|s| audit::changes_since(s.db(), seen).ok()) else {
            continue;
        };
        let Some(&(newest, _, _)) = changes.last() else { continue };
        let rebuild = plan(&changes);
        if rebuild.plugins {
            state.reload_plugins();
        }
        state.invalidate(&rebuild);
        tracing::info!(from = seen, to = newest, ?rebuild, "configuration changed");
        seen = newest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_change_touched_is_rebuilt() {
        let c = |ws: Option<i64>, a: &str| (0, ws, a.to_string());
        let r = plan(&[c(Some(1), "workflow.create"), c(Some(2), "connection.test"), c(Some(1), "token.revoke")]);
        assert_eq!(r, Rebuild::default(), "stored workflows, tests and tokens rebuild no engine");
        let r = plan(&[c(Some(2), "connection.edit"), c(Some(3), "route.create")]);
        assert_eq!(r.workspaces, BTreeSet::from([2, 3]));
        assert!(!r.all && !r.plugins);
        let r = plan(&[c(None, "plugin.install")]);
        assert!(r.plugins && r.all);
    }
}
