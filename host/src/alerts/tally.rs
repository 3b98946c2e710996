//! Running usage totals for the alert watch, kept from the batches it is
//! handed instead of re-read from the store after every commit (a re-read
//! scans the whole day and grows with traffic: at a few thousand calls per
//! second it became most of the writer thread's time).
//!
//! A workspace's tally is read from the store once, then advanced by each
//! committed batch. Writes by anyone else (another process running
//! workflows, an operator changing settings or limits) move the store's
//! [`crate::store::usage_marks`] past what this writer's own commits explain;
//! the tally is then dropped and read again, as it is when the UTC day turns.
//! (The shared limits write on every admission: they must not count, or the
//! tally would be re-read, scanning the day, after every call.)

use super::AlertSettings;
use super::conditions::{ConnectionUsage, window_ms};
use crate::engine::Limits;
use crate::store::Db;
use crate::store::connection_rows::SecretHint;
use crate::store::usage_rows::{self, Scope, Totals};
use crate::store::{StoreError, alert_rows, connection_rows, day_start_ms};
use crate::usage::AttemptRecord;
use std::collections::{HashMap, VecDeque};

const MINUTE_MS: i64 = 60_000;

/// One connection: usage per second over the horizon, and spend today.
#[derive(Debug, Default)]
struct ConnectionTally {
    seconds: VecDeque<(i64, Totals)>,
    today_nusd: i64,
}

/// One workspace's settings, limits and connections.
#[derive(Debug)]
pub struct WorkspaceTally {
    pub settings: AlertSettings,
    pub limits: HashMap<String, Limits>,
    /// Each connection's secrets, with when they were set.
    pub keys: HashMap<String, Vec<SecretHint>>,
    today_nusd: i64,
    connections: HashMap<String, ConnectionTally>,
}

/// Every workspace the watch has seen since the store last changed under it.
#[derive(Debug, Default)]
pub struct Tally {
    /// The store's usage marks after the last commit seen.
    marks: (i64, i64),
    day: i64,
    workspaces: HashMap<i64, WorkspaceTally>,
}

/// Seconds kept per connection: the last minute, or the error window if longer.
fn horizon_ms(settings: &AlertSettings) -> i64 {
    window_ms(settings).max(MINUTE_MS)
}

impl Tally {
    /// After a commit of `written` usage events by this writer: drop
    /// everything if anyone else changed the configuration or wrote usage
    /// since the last commit, or the day turned.
    pub fn sync(&mut self, db: &Db, now_ms: i64, written: usize) -> Result<(), StoreError> {
        let (config, newest) = crate::store::usage_marks(db)?;
        let day = day_start_ms(now_ms);
        let explained = (self.marks.0, self.marks.1 + written as i64);
        if (config, newest) != explained || day != self.day {
            self.workspaces.clear();
            self.day = day;
        }
        self.marks = (config, newest);
        Ok(())
    }

    /// Count records just committed for `workspace_id` at `at_ms`. Tallies not
    /// read yet are skipped: when they are read, the store includes them.
    pub fn add(&mut self, workspace_id: i64, at_ms: i64, records: &[AttemptRecord]) {
        let Some(ws) = self.workspaces.get_mut(&workspace_id) else { return };
        let second = at_ms.div_euclid(1000);
        for r in records {
            let cost = usage_rows::to_nusd(r.cost_usd);
            ws.today_nusd += cost;
            let Some(c) = ws.connections.get_mut(&r.connection) else { continue };
            c.today_nusd += cost;
            match c.seconds.back_mut() {
                Some((s, totals)) if *s == second => totals.count(r),
                _ => {
                    let mut totals = Totals::default();
                    totals.count(r);
                    c.seconds.push_back((second, totals));
                }
            }
        }
    }

    /// The workspace's tally, read from the store if it is not kept yet.
    pub fn workspace(&mut self, db: &Db, workspace_id: i64) -> Result<&mut WorkspaceTally, StoreError> {
        if !self.workspaces.contains_key(&workspace_id) {
            let settings = alert_rows::settings(db, workspace_id)?;
            let mut limits = HashMap::new();
            let mut keys = HashMap::new();
            for row in connection_rows::list(db, workspace_id)? {
                let s = row.settings;
                let l = Limits { rpm: s.rpm, tpm: s.tpm, daily_budget_usd: s.daily_budget_usd, ..Limits::default() };
                limits.insert(row.name.clone(), l);
                keys.insert(row.name, row.secret_hints);
            }
            let today = Scope { workspace_id, since_ms: self.day, connection: None };
            let today_nusd = usage_rows::totals(db, today)?.cost_nusd;
            let ws = WorkspaceTally { settings, limits, keys, today_nusd, connections: HashMap::new() };
            self.workspaces.insert(workspace_id, ws);
        }
        Ok(self.workspaces.get_mut(&workspace_id).expect("inserted above"))
    }
}

impl WorkspaceTally {
    /// The workspace's spend today, in nano-dollars.
    pub fn today_nusd(&self) -> i64 {
        self.today_nusd
    }

    /// A connection's usage as of `now_ms`, read from the store the first time.
    pub fn connection(
        &mut self,
        db: &Db,
        workspace_id: i64,
        day: i64,
        name: &str,
        now_ms: i64,
    ) -> Result<ConnectionUsage, StoreError> {
        let horizon = horizon_ms(&self.settings);
        if !self.connections.contains_key(name) {
            let scope = |since_ms| Scope { workspace_id, since_ms, connection: Some(name) };
            let seconds = usage_rows::by_second(db, scope(now_ms - horizon))?.into();
            let today_nusd = usage_rows::totals(db, scope(day))?.cost_nusd;
            self.connections.insert(name.to_string(), ConnectionTally { seconds, today_nusd });
        }
        let c = self.connections.get_mut(name).expect("inserted above");
        // A second counts while any of it is inside a range.
        let oldest = (now_ms - horizon).div_euclid(1000);
        while c.seconds.front().is_some_and(|(s, _)| *s < oldest) {
            c.seconds.pop_front();
        }
        let since = |ms: i64| {
            let first = (now_ms - ms).div_euclid(1000);
            let mut t = Totals::default();
            c.seconds.iter().filter(|(s, _)| *s >= first).for_each(|(_, x)| t.merge(x));
            t
        };
        Ok(ConnectionUsage {
            last_minute: since(MINUTE_MS),
            today_nusd: c.today_nusd,
            window: since(window_ms(&self.settings)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, workspaces};
    use crate::usage::TokenUsage;
    use std::time::Duration;

    fn record(connection: &str, failed: bool) -> AttemptRecord {
        AttemptRecord {
            node: "n".into(),
            connection: connection.into(),
            provider: "openai".into(),
            model: "m".into(),
            error: failed.then_some(crate::error_class::ErrorClass::ServerError),
            usage: TokenUsage { input: 10, output: 5, ..Default::default() },
            cost_usd: 0.001,
            latency: Duration::from_millis(3),
            time_to_first_token: None,
            streamed: false,
            unpriced: false,
        }
    }

    /// The tally agrees with a fresh read of the store after every commit,
    /// and a write by another connection is noticed.
    #[test]
    fn the_tally_matches_the_store_and_notices_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let ws = store.transaction(|tx| workspaces::create(tx, "w", |_| Ok::<_, StoreError>(vec![1]))).unwrap();
        let mut tally = Tally::default();
        let now = crate::store::now_ms();
        let by = crate::principal::Principal::cli("cli:test");
        for i in 0..5 {
            let batch = vec![record("a", i % 2 == 0), record("b", false)];
            store
                .transaction(|tx| -> Result<(), StoreError> {
                    for r in &batch {
                        usage_rows::insert(tx, ws.id, "wf", &by, now, r)?;
                    }
                    Ok(())
                })
                .unwrap();
            tally.sync(store.db(), now, batch.len()).unwrap();
            tally.add(ws.id, now, &batch);
            let day = tally.day;
            let w = tally.workspace(store.db(), ws.id).unwrap();
            let kept = w.connection(store.db(), ws.id, day, "a", now).unwrap();
            let settings = w.settings;
            let read = ConnectionUsage::read(store.db(), ws.id, "a", &settings, now).unwrap();
            assert_eq!(kept, read, "after batch {i}");
        }
        let other = Store::open(&path).unwrap();
        // The shared limits' writes on every admission are not a reason to re-read.
        crate::store::limit_rows::set_window(other.db(), ws.id, "a", "rpm", &[1, 2]).unwrap();
        tally.sync(store.db(), now, 0).unwrap();
        assert!(!tally.workspaces.is_empty(), "a limits write dropped the tally");
        usage_rows::insert(other.db(), ws.id, "wf", &by, now, &record("a", true)).unwrap();
        tally.sync(store.db(), now, 0).unwrap();
        assert!(tally.workspaces.is_empty(), "a write by another connection went unnoticed");
        let day = tally.day;
        let w = tally.workspace(store.db(), ws.id).unwrap();
        assert_eq!(w.connection(store.db(), ws.id, day, "a", now).unwrap().window.requests, 6);
    }
}
