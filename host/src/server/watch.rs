//! Live configuration: the daemon polls the audit log, which every change
//! appends to (from the API or from the CLI in another process). When it
//! moves, built engines and verified tokens are dropped so the next request
//! sees the new connections, routes and revocations; plugin changes reload
//! the plugin set.

use super::state::AppState;
use std::sync::Arc;
use std::time::Duration;

/// How often the audit log is polled.
pub const POLL: Duration = Duration::from_secs(1);

/// Poll until the task is aborted.
pub async fn run(state: Arc<AppState>) {
    let mut seen = latest(&state).unwrap_or(0);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(now) = latest(&state) else { continue };
        if now == seen {
            continue;
        }
        if plugins_changed(&state, seen) {
            state.reload_plugins();
        }
        state.invalidate();
        tracing::info!(from = seen, to = now, "configuration changed; engines rebuilt on next use");
        seen = now;
    }
}

fn latest(state: &AppState) -> Option<i64> {
    let store = state.store().ok()?;
    store.db().query_row("SELECT COALESCE(MAX(id), 0) FROM audit_log", [], |r| r.get(0)).ok()
}

fn plugins_changed(state: &AppState, since: i64) -> bool {
    let Ok(store) = state.store() else { return false };
    store
        .db()
        .query_row("SELECT EXISTS (SELECT 1 FROM audit_log WHERE id > ?1 AND action LIKE 'plugin.%')", [since], |r| {
            r.get(0)
        })
        .unwrap_or(false)
}
