//! Printing run results for people: the output, and a usage table.

use llmnode::engine::RunReport;
use llmnode::escape::escape;
use llmnode::usage::AttemptRecord;
use std::fmt::Write;

/// The workflow's output: strings as they are, anything else as pretty JSON.
pub fn output_text(report: &RunReport) -> Option<String> {
    Some(match report.output.as_ref()? {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    })
}

/// One row per attempt: node, connection, model, tokens, cost, latency, outcome.
pub fn usage_table(attempts: &[AttemptRecord]) -> String {
    let mut rows: Vec<[String; 8]> = vec![[
        "node".into(),
        "connection".into(),
        "model".into(),
        "in".into(),
        "out".into(),
        "cost (USD)".into(),
        "latency".into(),
        "outcome".into(),
    ]];
    for a in attempts {
        let latency = match a.time_to_first_token {
            Some(t) => format!("{:.0} ms (first token {:.0} ms)", ms(a.latency), ms(t)),
            None => format!("{:.0} ms", ms(a.latency)),
        };
        rows.push([
            escape(&a.node).into_owned(),
            escape(&a.connection).into_owned(),
            escape(&a.model).into_owned(),
            (a.usage.input + a.usage.cache_read + a.usage.cache_write).to_string(),
            a.usage.output.to_string(),
            format!("{:.6}", a.cost_usd),
            latency,
            a.error.map(|c| c.to_string()).unwrap_or_else(|| "ok".into()),
        ]);
    }
    let total: f64 = attempts.iter().map(|a| a.cost_usd).sum();
    let (tin, tout) = attempts.iter().fold((0, 0), |(i, o), a| (i + a.usage.prompt_total(), o + a.usage.output));
    rows.push([
        "total".into(),
        String::new(),
        String::new(),
        tin.to_string(),
        tout.to_string(),
        format!("{total:.6}"),
        String::new(),
        String::new(),
    ]);
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        if n == rows.len() - 1 {
            let _ = writeln!(out, "{}", widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if (3..=5).contains(&i) { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if n == 0 {
            let _ = writeln!(out, "{}", widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
    out
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A time in milliseconds since the Unix epoch as RFC 3339, to the second.
pub fn at(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
