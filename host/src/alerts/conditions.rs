//! The conditions alerts and connection status are made of, computed from
//! usage events: one definition, so an alert and a `Warning` always agree.

use super::AlertSettings;
use crate::engine::Limits;
use crate::store::usage_rows::{self, Scope};
use crate::store::{StoreError, day_start_ms};
use rusqlite::Connection;
use serde::Serialize;

const MINUTE_MS: i64 = 60_000;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The workspace's spend today reached the threshold.
    DailySpend,
    /// A connection used `limit_pct` of its requests per minute.
    Rpm,
    /// A connection used `limit_pct` of its tokens per minute.
    Tpm,
    /// A connection spent `limit_pct` of its daily budget.
    Budget,
    /// A connection's attempts failed at `error_rate_pct` or more within the window.
    ErrorRate,
}

impl Kind {
    /// The snake_case name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DailySpend => "daily_spend",
            Kind::Rpm => "rpm",
            Kind::Tpm => "tpm",
            Kind::Budget => "budget",
            Kind::ErrorRate => "error_rate",
        }
    }
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub kind: Kind,
    /// The connection it is about; empty for the workspace.
    pub subject: String,
    pub value: f64,
    pub threshold: f64,
    /// The start of the window it holds in: one alert per condition per window.
    pub window_start_ms: i64,
    pub message: String,
}

/// The workspace's spend today, if it reached the configured threshold.
pub fn workspace_spend(
    db: &Connection,
    workspace_id: i64,
    settings: &AlertSettings,
    now_ms: i64,
) -> Result<Option<Condition>, StoreError> {
    let Some(threshold) = settings.daily_spend_usd else { return Ok(None) };
    let day = day_start_ms(now_ms);
    let spent = usage_rows::totals(db, Scope { workspace_id, since_ms: day, connection: None })?.cost_usd();
    Ok((spent >= threshold).then(|| Condition {
        kind: Kind::DailySpend,
        subject: String::new(),
        value: spent,
        threshold,
        window_start_ms: day,
        message: format!("spend today is ${spent:.4}, at or over the alert threshold of ${threshold:.2}"),
    }))
}

/// Every condition that holds now for connection `name` with `limits`.
pub fn connection(
    db: &Connection,
    workspace_id: i64,
    name: &str,
    limits: &Limits,
    settings: &AlertSettings,
    now_ms: i64,
) -> Result<Vec<Condition>, StoreError> {
    let window_ms = (settings.window_secs as i64).saturating_mul(1000).max(1);
    let window_start = now_ms - now_ms.rem_euclid(window_ms);
    let scope = |since_ms| Scope { workspace_id, since_ms, connection: Some(name) };
    let share = settings.limit_pct / 100.0;
    let mut found = Vec::new();
    let mut near = |kind: Kind, value: f64, limit: f64, unit: &str, window_start_ms: i64| {
        let threshold = limit * share;
        if value >= threshold {
            found.push(Condition {
                kind,
                subject: name.to_string(),
                value,
                threshold,
                window_start_ms,
                message: format!(
                    "connection `{name}` is at {:.0}% of its {unit} ({value:.4} of {limit})",
                    100.0 * value / limit
                ),
            });
        }
    };
    if limits.rpm.is_some() || limits.tpm.is_some() {
        let minute = usage_rows::totals(db, scope(now_ms - MINUTE_MS))?;
        if let Some(rpm) = limits.rpm.filter(|r| *r > 0) {
            near(Kind::Rpm, minute.requests as f64, rpm.into(), "requests per minute", window_start);
        }
        if let Some(tpm) = limits.tpm.filter(|t| *t > 0) {
            let tokens = (minute.prompt_tokens() + minute.output_tokens) as f64;
            near(Kind::Tpm, tokens, tpm.into(), "tokens per minute", window_start);
        }
    }
    if let Some(budget) = limits.daily_budget_usd.filter(|b| *b > 0.0) {
        let day = day_start_ms(now_ms);
        let spent = usage_rows::totals(db, scope(day))?.cost_usd();
        near(Kind::Budget, spent, budget, "daily budget in USD", day);
    }
    let recent = usage_rows::totals(db, scope(now_ms - window_ms))?;
    let rate_pct = 100.0 * recent.error_rate();
    if recent.requests >= settings.min_requests.max(1) && rate_pct >= settings.error_rate_pct {
        found.push(Condition {
            kind: Kind::ErrorRate,
            subject: name.to_string(),
            value: rate_pct,
            threshold: settings.error_rate_pct,
            window_start_ms: window_start,
            message: format!(
                "connection `{name}`: {} of {} attempts failed in the last {} s ({rate_pct:.1}%, alert at {}%)",
                recent.errors, recent.requests, settings.window_secs, settings.error_rate_pct
            ),
        });
    }
    Ok(found)
}
