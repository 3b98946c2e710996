//! Usage events as stored: one row per attempt, its cost fixed when written.
//! Every report, the budget read back after a restart, alerts and connection
//! status are computed from these rows, so they always agree.

use super::StoreError;
use super::sql::{Db, Row};
use crate::args;
use crate::principal::Principal;
use crate::usage::AttemptRecord;
use serde::Serialize;
use std::collections::HashMap;

pub use crate::money::{nanos as to_nusd, usd};

/// Append one attempt of `workflow`, caused by `by`, at `at_ms`.
pub fn insert(
    db: &Db,
    workspace_id: i64,
    workflow: &str,
    by: &Principal,
    at_ms: i64,
    r: &AttemptRecord,
) -> Result<(), StoreError> {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    db.execute(
        "INSERT INTO usage_events (at_ms, workspace_id, workflow, node, connection, provider, model, \
         input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nusd, \
         latency_ms, ttft_ms, error_class, streamed, unpriced, user_name, token_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        args![
            at_ms,
            workspace_id,
            workflow,
            r.node,
            r.connection,
            r.provider,
            r.model,
            r.usage.input as i64,
            r.usage.output as i64,
            r.usage.cache_read as i64,
            r.usage.cache_write as i64,
            r.usage.reasoning as i64,
            to_nusd(r.cost_usd),
            ms(r.latency),
            r.time_to_first_token.map(ms),
            r.error.map(|c| c.as_str()),
            r.streamed,
            r.unpriced,
            &*by.user,
            by.token_id(),
        ],
    )?;
    // The day's spend that budgets admit against (the connection's and the
    // token's), in the same transaction: an acknowledged call's cost is
    // never missing from its budget.
    let cost = to_nusd(r.cost_usd);
    if cost != 0 {
        let day = at_ms.div_euclid(super::DAY_MS);
        super::limit_rows::book_spend(db, workspace_id, &r.connection, day, cost)?;
        if let Some(token) = &by.token {
            super::limit_rows::book_spend(db, workspace_id, &token.key.connection, day, cost)?;
        }
    }
    Ok(())
}

/// Spend per connection since `since_ms`, in nano-dollars (for budgets after a restart).
pub fn spent_since(db: &Db, workspace_id: i64, since_ms: i64) -> Result<HashMap<String, i64>, StoreError> {
    let rows = db.query(
        "SELECT connection, SUM(cost_nusd) FROM usage_events WHERE workspace_id = ?1 AND at_ms >= ?2 GROUP BY connection",
        args![workspace_id, since_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.into_iter().collect())
}

/// Totals over a set of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    /// Prompt tokens at the full input price.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_nusd: i64,
    /// Requests of models nobody priced, counted at $0.
    pub unpriced: u64,
}

impl Totals {
    /// Count one attempt as its row would be counted (cost rounded as stored).
    pub fn count(&mut self, r: &AttemptRecord) {
        self.requests += 1;
        self.errors += u64::from(r.error.is_some());
        self.input_tokens += r.usage.input;
        self.output_tokens += r.usage.output;
        self.cache_read_tokens += r.usage.cache_read;
        self.cache_write_tokens += r.usage.cache_write;
        self.cost_nusd += to_nusd(r.cost_usd);
        self.unpriced += u64::from(r.unpriced);
    }

    /// Add another group's totals.
    pub fn merge(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cost_nusd += o.cost_nusd;
        self.unpriced += o.unpriced;
    }

    /// Every prompt token, however priced.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// The cost in dollars.
    pub fn cost_usd(&self) -> f64 {
        usd(self.cost_nusd)
    }

    /// Errors as a fraction of requests (0 when there were none).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.errors as f64 / self.requests as f64 }
    }
}

const TOTALS: &str = "COUNT(*), COUNT(error_class), SUM(input_tokens), SUM(output_tokens), \
                      SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_nusd), SUM(unpriced)";

fn totals_at(r: &Row<'_>, first: usize) -> Result<Totals, StoreError> {
    let n = |i: usize| r.get::<Option<i64>>(first + i).map(|v| v.unwrap_or(0));
    Ok(Totals {
        requests: n(0)? as u64,
        errors: n(1)? as u64,
        input_tokens: n(2)? as u64,
        output_tokens: n(3)? as u64,
        cache_read_tokens: n(4)? as u64,
        cache_write_tokens: n(5)? as u64,
        cost_nusd: n(6)?,
        unpriced: n(7)? as u64,
    })
}

/// Which events a query covers: a workspace, from a time on, optionally one connection.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub workspace_id: i64,
    pub since_ms: i64,
    pub connection: Option<&'a str>,
}

impl Scope<'_> {
    const WHERE: &'static str = "workspace_id = ?1 AND at_ms >= ?2 AND (CAST(?3 AS TEXT) IS NULL OR connection = ?3)";
}

/// Totals over `scope`.
pub fn totals(db: &Db, scope: Scope<'_>) -> Result<Totals, StoreError> {
    let sql = format!("SELECT {TOTALS} FROM usage_events WHERE {}", Scope::WHERE);
    db.query_one(&sql, args![scope.workspace_id, scope.since_ms, scope.connection], |r| totals_at(r, 0))
}

/// Totals grouped by `key` (an SQL expression over `usage_events`), largest cost first.
fn grouped(db: &Db, scope: Scope<'_>, key: &str, order: &str) -> Result<Vec<(String, Totals)>, StoreError> {
    let sql = format!(
        "SELECT CAST({key} AS TEXT), {TOTALS} FROM usage_events WHERE {} GROUP BY {key} ORDER BY {order}",
        Scope::WHERE
    );
    db.query(&sql, args![scope.workspace_id, scope.since_ms, scope.connection], |r| Ok((r.get(0)?, totals_at(r, 1)?)))
}

/// Totals per UTC day (days since the epoch), oldest first.
pub fn by_day(db: &Db, scope: Scope<'_>) -> Result<Vec<(i64, Totals)>, StoreError> {
    grouped(db, scope, "at_ms / 86400000", "1")?
        .into_iter()
        .map(|(day, t)| {
            day.parse().map(|d| (d, t)).map_err(|_| StoreError::Malformed { what: "usage day", detail: day })
        })
        .collect()
}

/// Totals per second (seconds since the epoch), oldest first.
pub fn by_second(db: &Db, scope: Scope<'_>) -> Result<Vec<(i64, Totals)>, StoreError> {
    grouped(db, scope, "at_ms / 1000", "1")?
        .into_iter()
        .map(|(s, t)| s.parse().map(|s| (s, t)).map_err(|_| StoreError::Malformed { what: "usage second", detail: s }))
        .collect()
}

/// Totals per (provider, model), largest cost first.
pub fn by_model(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, String, Totals)>, StoreError> {
    let rows = grouped(db, scope, "provider || '/' || model", "SUM(cost_nusd) DESC, COUNT(*) DESC")?;
    Ok(rows
        .into_iter()
        .map(|(key, t)| {
            let (provider, model) = key.split_once('/').unwrap_or(("", &key));
            (provider.to_string(), model.to_string(), t)
        })
        .collect())
}

/// Totals per workflow, largest cost first.
pub fn by_workflow(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, Totals)>, StoreError> {
    grouped(db, scope, "workflow", "SUM(cost_nusd) DESC, COUNT(*) DESC")
}

/// Totals per connection, by name.
pub fn by_connection(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, Totals)>, StoreError> {
    grouped(db, scope, "connection", "1")
}

/// The error classes of the most recent `n` attempts on a connection, newest
/// first (`None` for a served attempt).
pub fn last_outcomes(db: &Db, workspace_id: i64, connection: &str, n: u32) -> Result<Vec<Option<String>>, StoreError> {
    db.query(
        "SELECT error_class FROM usage_events WHERE workspace_id = ?1 AND connection = ?2 ORDER BY at_ms DESC, id DESC LIMIT ?3",
        args![workspace_id, connection, n],
        |r| r.get(0),
    )
}

/// Time of the newest successful attempt on a connection, if any.
pub fn last_success_ms(db: &Db, workspace_id: i64, connection: &str) -> Result<Option<i64>, StoreError> {
    db.query_one(
        "SELECT MAX(at_ms) FROM usage_events WHERE workspace_id = ?1 AND connection = ?2 AND error_class IS NULL",
        args![workspace_id, connection],
        |r| r.get(0),
    )
}

/// Workflows that have run against a connection, by name.
pub fn workflows_using(db: &Db, workspace_id: i64, connection: &str) -> Result<Vec<String>, StoreError> {
    db.query(
        "SELECT DISTINCT workflow FROM usage_events WHERE workspace_id = ?1 AND connection = ?2 ORDER BY workflow",
        args![workspace_id, connection],
        |r| r.get(0),
    )
}

/// Totals per user (the token's user, or `cli:ACCOUNT`), largest cost first.
pub fn by_user(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, Totals)>, StoreError> {
    grouped(db, scope, "user_name", "SUM(cost_nusd) DESC, COUNT(*) DESC")
}

/// Totals per API token (`token ID (USER)`; a CLI run as its user), largest cost first.
pub fn by_token(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, Totals)>, StoreError> {
    let key = "COALESCE('token ' || CAST(token_id AS TEXT) || ' (' || user_name || ')', user_name)";
    grouped(db, scope, key, "SUM(cost_nusd) DESC, COUNT(*) DESC")
}

/// One usage event as exported: one row per attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub id: i64,
    pub at_ms: i64,
    pub workflow: String,
    pub node: String,
    pub connection: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_nusd: i64,
    pub latency_ms: f64,
    /// `None` when the attempt served its node.
    pub error_class: Option<String>,
    /// Who caused it ('' for events recorded before attribution).
    pub user: String,
    pub token_id: Option<i64>,
}

/// Where an export resumes: after the event at (`at_ms`, `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at_ms: i64,
    pub id: i64,
}

/// Up to `limit` events of a workspace in `[from_ms, to_ms)` after `after`
/// (from the start when `None`), oldest first: an export reads page after
/// page, never the whole table at once.
pub fn export_page(
    db: &Db,
    workspace_id: i64,
    from_ms: i64,
    to_ms: i64,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<ExportRow>, StoreError> {
    let after = after.unwrap_or(Cursor { at_ms: from_ms, id: i64::MIN });
    db.query(
        "SELECT id, at_ms, workflow, node, connection, provider, model, input_tokens, output_tokens, \
         cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nusd, latency_ms, error_class, \
         user_name, token_id FROM usage_events \
         WHERE workspace_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 AND (at_ms > ?4 OR (at_ms = ?4 AND id > ?5)) \
         ORDER BY at_ms, id LIMIT ?6",
        args![workspace_id, from_ms, to_ms, after.at_ms, after.id, limit],
        |r| {
            Ok(ExportRow {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                workflow: r.get(2)?,
                node: r.get(3)?,
                connection: r.get(4)?,
                provider: r.get(5)?,
                model: r.get(6)?,
                input_tokens: r.get(7)?,
                output_tokens: r.get(8)?,
                cache_read_tokens: r.get(9)?,
                cache_write_tokens: r.get(10)?,
                reasoning_tokens: r.get(11)?,
                cost_nusd: r.get(12)?,
                latency_ms: r.get(13)?,
                error_class: r.get(14)?,
                user: r.get(15)?,
                token_id: r.get(16)?,
            })
        },
    )
}
