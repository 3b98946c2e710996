//! Alerts: a workspace's spend over a threshold, a connection near its RPM,
//! TPM or daily budget, failing too often, or with a key older than the
//! workspace's rotation period. Conditions are computed from
//! the usage events ([`conditions`], also the source of each connection's
//! [`crate::status`]); the [`watch`] checks them after every usage commit,
//! records each condition once per window (deduplicated by the store) and
//! hands new alerts to the log and the workspace's [`channel`]s (webhooks
//! and email), which [`deliver`] retries.

pub mod channel;
pub mod conditions;
pub mod deliver;
mod email;
pub mod tally;
pub mod watch;
mod webhook;

pub use channel::{Channel, ChannelSettings};
pub use conditions::{Condition, Kind};
pub use watch::{AlertWatch, Deliveries};

use serde::{Deserialize, Serialize};

/// A workspace's alert thresholds. The defaults are on without any setup
/// (log events only); a spend threshold and channels are the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Alert when the workspace's spend today (UTC) reaches this many dollars.
    pub daily_spend_usd: Option<f64>,
    /// Alert when a connection uses this percentage of its RPM, TPM or daily budget.
    pub limit_pct: f64,
    /// Alert when this percentage of a connection's attempts fail within the window.
    pub error_rate_pct: f64,
    /// The window errors are counted over, and within which an alert fires once.
    pub window_secs: u64,
    /// Fewer attempts than this in the window never make an error-rate alert.
    pub min_requests: u64,
    /// Alert once per key when a connection's secret was set more than this
    /// many days ago (quarterly by default).
    pub rotation_days: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            daily_spend_usd: None,
            limit_pct: 80.0,
            error_rate_pct: 5.0,
            window_secs: 300,
            min_requests: 20,
            rotation_days: 90,
        }
    }
}

impl AlertSettings {
    /// Refuse thresholds that could never fire or would always fire.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(usd) = self.daily_spend_usd
            && !(usd.is_finite() && usd > 0.0)
        {
            return Err(format!("daily spend threshold must be a positive number of dollars, not {usd}"));
        }
        for (name, pct) in [("limit", self.limit_pct), ("error rate", self.error_rate_pct)] {
            if !(pct.is_finite() && pct > 0.0 && pct <= 100.0) {
                return Err(format!("{name} percentage must be in (0, 100], not {pct}"));
            }
        }
        if self.rotation_days == 0 {
            return Err("the key rotation period must be at least one day".into());
        }
        if self.window_secs == 0 {
            return Err("the alert window must be at least one second".into());
        }
        Ok(())
    }
}
