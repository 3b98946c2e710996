//! The conditions alerts and connection status are made of, computed from
//! usage events: one definition, so an alert and a `Warning` always agree.

use super::AlertSettings;
use crate::engine::Limits;
use crate::store::Db;
use crate::store::connection_rows::SecretHint;
use crate::store::usage_rows::{self, Scope, Totals};
use crate::store::{StoreError, day_start_ms};
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
    /// A connection's secret was set more than `rotation_days` ago (once per key).
    KeyAge,
    /// The prompt monitor found a secret, a card number or a volume anomaly.
    Monitor,
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
            Kind::KeyAge => "key_age",
            Kind::Monitor => "monitor",
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
    db: &Db,
    workspace_id: i64,
    settings: &AlertSettings,
    now_ms: i64,
) -> Result<Option<Condition>, StoreError> {
    if settings.daily_spend_usd.is_none() {
        return Ok(None);
    }
    let day = day_start_ms(now_ms);
    let spent = usage_rows::totals(db, Scope { workspace_id, since_ms: day, connection: None })?.cost_nusd;
    Ok(spend_condition(spent, settings, now_ms))
}

/// The spend condition for `spent_nusd` spent today.
pub fn spend_condition(spent_nusd: i64, settings: &AlertSettings, now_ms: i64) -> Option<Condition> {
    let threshold = settings.daily_spend_usd?;
    let spent = usage_rows::usd(spent_nusd);
    (spent >= threshold).then(|| Condition {
        kind: Kind::DailySpend,
        subject: String::new(),
        value: spent,
        threshold,
        window_start_ms: day_start_ms(now_ms),
        message: format!("spend today is ${spent:.4}, at or over the alert threshold of ${threshold:.2}"),
    })
}

/// The keys of connection `name` set more than `rotation_days` ago. The
/// window is the key's own life (from when it was set): one alert per key,
/// and a rotated key starts a new one.
pub fn key_age_conditions(name: &str, keys: &[SecretHint], settings: &AlertSettings, now_ms: i64) -> Vec<Condition> {
    let days = i64::from(settings.rotation_days);
    keys.iter()
        .filter(|k| k.age_days(now_ms) >= days)
        .map(|k| Condition {
            kind: Kind::KeyAge,
            subject: name.to_string(),
            value: k.age_days(now_ms) as f64,
            threshold: days as f64,
            window_start_ms: k.set_ms,
            message: format!(
                "connection `{name}`: its `{}` was set {} days ago; rotate keys every {days} days \
                 (set a new one with `llmnode connections edit {name} --api-key-env VAR`)",
                k.field,
                k.age_days(now_ms)
            ),
        })
        .collect()
}

/// What a connection's conditions are computed from: its last minute, its
/// spend today and its error window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnectionUsage {
    pub last_minute: Totals,
    pub today_nusd: i64,
    pub window: Totals,
}

impl ConnectionUsage {
    /// Read from the store (what `status` shows; the alert watch keeps a tally instead).
    pub fn read(
        db: &Db,
        workspace_id: i64,
        name: &str,
        settings: &AlertSettings,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let scope = |since_ms| Scope { workspace_id, since_ms, connection: Some(name) };
        Ok(ConnectionUsage {
            last_minute: usage_rows::totals(db, scope(now_ms - MINUTE_MS))?,
            today_nusd: usage_rows::totals(db, scope(day_start_ms(now_ms)))?.cost_nusd,
            window: usage_rows::totals(db, scope(now_ms - window_ms(settings)))?,
        })
    }
}

/// The error-rate window in milliseconds.
pub fn window_ms(settings: &AlertSettings) -> i64 {
    (settings.window_secs as i64).saturating_mul(1000).max(1)
}

/// Every condition that holds now for connection `name` with `limits`, read from the store.
pub fn connection(
    db: &Db,
    workspace_id: i64,
    name: &str,
    limits: &Limits,
    settings: &AlertSettings,
    now_ms: i64,
) -> Result<Vec<Condition>, StoreError> {
    let usage = ConnectionUsage::read(db, workspace_id, name, settings, now_ms)?;
    Ok(connection_conditions(name, limits, settings, &usage, now_ms))
}

/// Every condition that holds for connection `name` with `limits` given its `usage`.
pub fn connection_conditions(
    name: &str,
    limits: &Limits,
    settings: &AlertSettings,
    usage: &ConnectionUsage,
    now_ms: i64,
) -> Vec<Condition> {
    let window_ms = window_ms(settings);
    let window_start = now_ms - now_ms.rem_euclid(window_ms);
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
    let minute = &usage.last_minute;
    if let Some(rpm) = limits.rpm.filter(|r| *r > 0) {
        near(Kind::Rpm, minute.requests as f64, rpm.into(), "requests per minute", window_start);
    }
    if let Some(tpm) = limits.tpm.filter(|t| *t > 0) {
        let tokens = (minute.prompt_tokens() + minute.output_tokens) as f64;
        near(Kind::Tpm, tokens, tpm.into(), "tokens per minute", window_start);
    }
    if let Some(budget) = limits.daily_budget_usd.filter(|b| *b > 0.0) {
        let spent = usage_rows::usd(usage.today_nusd);
        near(Kind::Budget, spent, budget, "daily budget in USD", day_start_ms(now_ms));
    }
    let recent = &usage.window;
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
    found
}

/// The alert for a prompt monitor hit in `workflow`: it names the rule, what
/// it did and where, never the text. One per rule and place per `at_ms`
/// (a volume anomaly: per hour).
pub fn monitor_condition(hit: &crate::monitor::Hit, workflow: &str, at_ms: i64) -> Condition {
    use crate::monitor::{Action, Detector};
    let place = hit.place(workflow);
    let done = match hit.action {
        Action::Block => "the node was blocked and nothing was sent",
        Action::Redact => "the match was redacted before sending",
        _ => "the prompt was sent as it was",
    };
    let window_start_ms = match hit.detector {
        Detector::Volume => at_ms - at_ms.rem_euclid(60 * MINUTE_MS),
        _ => at_ms,
    };
    Condition {
        kind: Kind::Monitor,
        subject: format!("{} in {place}", hit.rule),
        value: 1.0,
        threshold: 0.0,
        window_start_ms,
        message: format!("prompt monitor: rule `{}` hit in {place}; {done}", hit.rule),
    }
}
