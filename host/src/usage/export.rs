//! Usage events out, one row per attempt, as CSV (RFC 4180, through the `csv`
//! crate) or JSON Lines: for billing, chargeback and a spreadsheet. Events
//! are read page by page ([`usage_rows::export_page`]) and written as they
//! come, so an export never holds the whole table in memory.
//!
//! A text cell that a spreadsheet would take for a formula (it begins with
//! `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a leading
//! `'`, so a workflow named `=HYPERLINK(…)` stays text.

use crate::store::usage_rows::usd;
use crate::store::usage_rows::{self, Cursor, ExportRow};
use crate::store::{Db, StoreError};
use serde_json::json;
use std::borrow::Cow;

/// Rows per page read from the store.
pub const PAGE: u32 = 500;

/// The columns, in order (also the JSON Lines keys).
pub const COLUMNS: [&str; 17] = [
    "time",
    "workspace",
    "workflow",
    "node",
    "connection",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
    "error_class",
    "user",
    "token_id",
];

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
    Jsonl,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("format {other:?} is not one of: csv, jsonl")),
        }
    }
}

impl Format {
    /// The media type served.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }
}

/// `YYYY-MM-DD` (a UTC day: its first millisecond, or with `end_of_day` the
/// first of the next day) or an RFC 3339 time, in milliseconds.
pub fn parse_time(text: &str, end_of_day: bool) -> Result<i64, String> {
    let bad = || format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time (2025-01-31T12:00:00Z)");
    let (stamp, day) = match text.len() {
        10 => (format!("{text}T00:00:00Z"), true),
        _ => (text.to_string(), false),
    };
    let t = humantime::parse_rfc3339_weak(&stamp).map_err(|_| bad())?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis() as i64;
    Ok(if day && end_of_day { ms + crate::store::DAY_MS } else { ms })
}

/// `ms` as an RFC 3339 time with milliseconds.
fn time_of(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `text` as a spreadsheet shows it: never a formula.
fn cell(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// Writes rows into a buffer the caller drains after each page.
pub struct Encoder {
    workspace: String,
    csv: Option<csv::Writer<Vec<u8>>>,
    jsonl: Vec<u8>,
}

impl Encoder {
    /// An encoder for `workspace`'s rows; a CSV starts with its header.
    pub fn new(format: Format, workspace: &str) -> Self {
        let csv = (format == Format::Csv).then(|| {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(COLUMNS);
            w
        });
        Encoder { workspace: workspace.to_string(), csv, jsonl: Vec::new() }
    }

    /// Append one row.
    pub fn row(&mut self, r: &ExportRow) {
        let time = time_of(r.at_ms);
        let cost = usd(r.cost_nusd);
        match &mut self.csv {
            Some(w) => {
                let n = |v: i64| v.to_string();
                let record: [Cow<'_, str>; 17] = [
                    Cow::Owned(time),
                    cell(&self.workspace),
                    cell(&r.workflow),
                    cell(&r.node),
                    cell(&r.connection),
                    cell(&r.provider),
                    cell(&r.model),
                    Cow::Owned(n(r.input_tokens)),
                    Cow::Owned(n(r.output_tokens)),
                    Cow::Owned(n(r.cache_read_tokens)),
                    Cow::Owned(n(r.cache_write_tokens)),
                    Cow::Owned(n(r.reasoning_tokens)),
                    Cow::Owned(format!("{cost:.9}")),
                    Cow::Owned(format!("{:.3}", r.latency_ms)),
                    cell(r.error_class.as_deref().unwrap_or("")),
                    cell(&r.user),
                    Cow::Owned(r.token_id.map(|t| t.to_string()).unwrap_or_default()),
                ];
                let _ = w.write_record(record.iter().map(|c| c.as_bytes()));
            }
            None => {
                let line = json!({
                    "time": time, "workspace": self.workspace, "workflow": r.workflow, "node": r.node,
                    "connection": r.connection, "provider": r.provider, "model": r.model,
                    "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                    "cache_read_tokens": r.cache_read_tokens, "cache_write_tokens": r.cache_write_tokens,
                    "reasoning_tokens": r.reasoning_tokens, "cost_usd": cost, "latency_ms": r.latency_ms,
                    "error_class": r.error_class, "user": r.user, "token_id": r.token_id,
                });
                let _ = serde_json::to_writer(&mut self.jsonl, &line);
                self.jsonl.push(b'\n');
            }
        }
    }

    /// Everything written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        match self.csv.take() {
            Some(w) => {
                // A fresh writer over an empty buffer takes the next page.
                self.csv = Some(csv::Writer::from_writer(Vec::new()));
                w.into_inner().unwrap_or_default()
            }
            None => std::mem::take(&mut self.jsonl),
        }
    }
}

/// Write `workspace_id`'s events in `[from_ms, to_ms)` page by page: `out`
/// gets each page's bytes (the header with the first) and returns false to
/// stop early (the reader went away).
pub fn export(
    db: &Db,
    workspace_id: i64,
    encoder: &mut Encoder,
    from_ms: i64,
    to_ms: i64,
    mut out: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = usage_rows::export_page(db, workspace_id, from_ms, to_ms, after, PAGE)?;
        for r in &page {
            encoder.row(r);
        }
        let bytes = encoder.take();
        if !bytes.is_empty() && !out(bytes) {
            return Ok(());
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(Cursor { at_ms: last.at_ms, id: last.id }),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workflow: &str) -> ExportRow {
        ExportRow {
            id: 1,
            at_ms: 1_700_000_000_123,
            workflow: workflow.into(),
            node: "n".into(),
            connection: "c".into(),
            provider: "openai".into(),
            model: "m".into(),
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            cost_nusd: 1_500,
            latency_ms: 12.5,
            error_class: None,
            user: "cli:ops".into(),
            token_id: None,
        }
    }

    #[test]
    fn formulas_stay_text_and_cells_are_quoted() {
        let mut e = Encoder::new(Format::Csv, "w");
        e.row(&row("=cmd|' /C calc'!A0"));
        e.row(&row("a,\"b\"\nc"));
        let text = String::from_utf8(e.take()).unwrap();
        let mut lines = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = lines.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][2], "'=cmd|' /C calc'!A0");
        assert_eq!(&rows[1][2], "a,\"b\"\nc", "quoted, not split");
        assert_eq!(&rows[0][0], "2023-11-14T22:13:20.123Z");
        assert_eq!(&rows[0][12], "0.000001500");
        assert_eq!(&rows[0][15], "cli:ops");
    }

    #[test]
    fn dates_are_utc_days_and_times_are_exact() {
        assert_eq!(parse_time("1970-01-02", false).unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-02", true).unwrap(), 2 * 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", true).unwrap(), 1_000);
        assert!(parse_time("yesterday", false).unwrap_err().contains("YYYY-MM-DD"));
    }
}
