//! A connection's status, as every surface shows it (CLI list and show,
//! `--json`, the daemon): one definition from its recent outcomes, its last
//! test and how close it is to its limits.
//!
//! - `Disabled`: the operator turned it off.
//! - `Error`: its last test failed with no served attempt since, the key was
//!   refused on the latest attempt, or its last three attempts all failed.
//! - `Warning`: an alert condition holds ([`crate::alerts::conditions`]):
//!   near its RPM, TPM or daily budget, or failing at the alert's error rate.
//! - `Active` otherwise.

use crate::alerts::{AlertSettings, conditions};
use crate::engine::Limits;
use crate::error_class::ErrorClass;
use crate::store::Db;
use crate::store::audit::{self, AuditFilter};
use crate::store::connection_rows::ConnectionRow;
use crate::store::{StoreError, usage_rows};
use serde::Serialize;
use std::collections::BTreeMap;

/// Consecutive failed attempts that make a connection `Error`.
const FAILED_IN_A_ROW: usize = 3;

/// What an operator sees first about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Active,
    Warning,
    Error,
    Disabled,
}

impl Status {
    /// The name shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Warning => "Warning",
            Status::Error => "Error",
            Status::Disabled => "Disabled",
        }
    }
}

/// A status and why.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStatus {
    pub status: Status,
    pub reasons: Vec<String>,
}

/// The latest test of each connection of a workspace: (passed, when).
pub fn last_tests(db: &Db, workspace: &str) -> Result<BTreeMap<String, (bool, i64)>, StoreError> {
    let filter = AuditFilter {
        workspace: Some(workspace.to_string()),
        action: Some("connection.test".into()),
        limit: Some(1000),
        ..Default::default()
    };
    let mut last = BTreeMap::new();
    // Newest first: the first entry seen for a connection is its latest test.
    for e in audit::list(db, &filter)? {
        let passed = e.detail["reachable"] == true && e.detail["key_valid"] == true && e.detail["model_access"] == true;
        last.entry(e.target).or_insert((passed, e.at_ms));
    }
    Ok(last)
}

/// The status of `row` now.
pub fn of(
    db: &Db,
    row: &ConnectionRow,
    last_test: Option<(bool, i64)>,
    settings: &AlertSettings,
    now_ms: i64,
) -> Result<ConnectionStatus, StoreError> {
    if !row.enabled {
        return Ok(ConnectionStatus { status: Status::Disabled, reasons: vec!["disabled by an operator".into()] });
    }
    let ws = row.workspace_id;
    let mut errors = Vec::new();
    if let Some((false, tested_ms)) = last_test
        && usage_rows::last_success_ms(db, ws, &row.name)?.is_none_or(|ok| ok < tested_ms)
    {
        errors.push("its last test failed".to_string());
    }
    let recent = usage_rows::last_outcomes(db, ws, &row.name, FAILED_IN_A_ROW as u32)?;
    if recent.first().and_then(|c| c.as_deref()) == Some(ErrorClass::Auth.as_str()) {
        errors.push("the provider refused the key on the latest attempt".into());
    } else if recent.len() == FAILED_IN_A_ROW && recent.iter().all(Option::is_some) {
        errors.push(format!("its last {FAILED_IN_A_ROW} attempts failed"));
    }
    if !errors.is_empty() {
        return Ok(ConnectionStatus { status: Status::Error, reasons: errors });
    }
    let s = &row.settings;
    let limits = Limits { rpm: s.rpm, tpm: s.tpm, daily_budget_usd: s.daily_budget_usd, ..Limits::default() };
    let mut found = conditions::connection(db, ws, &row.name, &limits, settings, now_ms)?;
    found.extend(conditions::key_age_conditions(&row.name, &row.secret_hints, settings, now_ms));
    let warnings: Vec<String> = found.into_iter().map(|c| c.message).collect();
    let status = if warnings.is_empty() { Status::Active } else { Status::Warning };
    Ok(ConnectionStatus { status, reasons: warnings })
}
