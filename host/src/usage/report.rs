//! Usage reports over a workspace's recorded events: requests per day, cost by
//! model, top workflows by cost, and totals per connection, user and token. Data first (the
//! CLI prints it, `--json` and the daemon serve it as is).

use crate::store::Db;
use crate::store::usage_rows::{self, Scope, Totals};
use crate::store::{DAY_MS, StoreError, now_ms};
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// One group's totals, with its cost in dollars.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    #[serde(flatten)]
    pub totals: Totals,
    pub cost_usd: f64,
}

impl From<Totals> for Line {
    fn from(totals: Totals) -> Self {
        Line { cost_usd: totals.cost_usd(), totals }
    }
}

/// A UTC day's usage.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(flatten)]
    pub line: Line,
}

/// A model's usage.
#[derive(Debug, Clone, Serialize)]
pub struct ModelLine {
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub line: Line,
}

/// A named group's usage (a workflow or a connection).
#[derive(Debug, Clone, Serialize)]
pub struct NamedLine {
    pub name: String,
    #[serde(flatten)]
    pub line: Line,
}

/// Every report over the last `days` days.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub workspace: String,
    pub days: u32,
    pub since_ms: i64,
    pub total: Line,
    /// Every day of the range, oldest first, days without events included.
    pub daily: Vec<Day>,
    /// Largest cost first.
    pub by_model: Vec<ModelLine>,
    /// Largest cost first, at most `top` entries.
    pub top_workflows: Vec<NamedLine>,
    /// By name.
    pub by_connection: Vec<NamedLine>,
    /// Per user (the API token's user, or `cli:ACCOUNT`), largest cost first.
    pub by_user: Vec<NamedLine>,
    /// Per API token (`token ID (USER)`; CLI runs as their user), largest cost first.
    pub by_token: Vec<NamedLine>,
}

/// The first millisecond of the UTC day `days - 1` days before today: a
/// `days`-day range that ends now.
pub fn range_start(days: u32, now_ms: i64) -> i64 {
    (now_ms.div_euclid(DAY_MS) - i64::from(days.max(1)) + 1) * DAY_MS
}

/// `YYYY-MM-DD` of a day number (days since the Unix epoch).
pub fn date_of(day: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(day.max(0) as u64 * 86_400);
    humantime::format_rfc3339(t).to_string()[..10].to_string()
}

/// Build every report for `workspace` over the last `days` days, keeping the `top` costliest workflows.
pub fn build(db: &Db, workspace_id: i64, workspace: &str, days: u32, top: usize) -> Result<UsageReport, StoreError> {
    let since_ms = range_start(days, now_ms());
    let scope = Scope { workspace_id, since_ms, connection: None };
    let mut recorded = usage_rows::by_day(db, scope)?.into_iter().peekable();
    let first_day = since_ms / DAY_MS;
    let daily = (first_day..first_day + i64::from(days.max(1)))
        .map(|day| {
            let totals = match recorded.peek() {
                Some((d, _)) if *d == day => recorded.next().map(|(_, t)| t).unwrap_or_default(),
                _ => Totals::default(),
            };
            Day { date: date_of(day), line: totals.into() }
        })
        .collect();
    let named = |rows: Vec<(String, Totals)>| -> Vec<NamedLine> {
        rows.into_iter().map(|(name, t)| NamedLine { name, line: t.into() }).collect()
    };
    let mut top_workflows = named(usage_rows::by_workflow(db, scope)?);
    top_workflows.truncate(top);
    Ok(UsageReport {
        workspace: workspace.to_string(),
        days,
        since_ms,
        total: usage_rows::totals(db, scope)?.into(),
        daily,
        by_model: usage_rows::by_model(db, scope)?
            .into_iter()
            .map(|(provider, model, t)| ModelLine { provider, model, line: t.into() })
            .collect(),
        top_workflows,
        by_connection: named(usage_rows::by_connection(db, scope)?),
        by_user: named(usage_rows::by_user(db, scope)?),
        by_token: named(usage_rows::by_token(db, scope)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_end_today_and_dates_are_utc() {
        let noon_day_3 = 3 * DAY_MS + DAY_MS / 2;
        assert_eq!(range_start(1, noon_day_3), 3 * DAY_MS);
        assert_eq!(range_start(30, noon_day_3), -26 * DAY_MS);
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_000), "2024-10-04");
    }
}
