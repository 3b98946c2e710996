//! Sharing the prompt monitor's volume baselines with every daemon on the
//! store: every [`SYNC`] (the first at start, so a new daemon begins with
//! the fleet's baselines), and once more at shutdown.

use super::state::AppState;
use crate::monitor::volume::SYNC;
use crate::store::{Store, now_ms};
use std::sync::Arc;

/// Sync until the task is aborted.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(SYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store = None;
    loop {
        tick.tick().await;
        let (state, held) = (state.clone(), store.take());
        store = tokio::task::spawn_blocking(move || sync(&state, held)).await.ok().flatten();
    }
}

/// One sync through `store` (a fresh one if `None`); the store to keep
/// using, unless it failed.
pub fn sync(state: &AppState, store: Option<Store>) -> Option<Store> {
    let opened = match store {
        Some(store) => Ok(store),
        None => state.store(),
    };
    let result = opened
        .map_err(|e| e.to_string())
        .and_then(|mut store| state.volume().sync(&mut store, now_ms()).map(|()| store).map_err(|e| e.to_string()));
    match result {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!(%error, "the prompt volume baselines could not be shared through the store");
            None
        }
    }
}
