//! Usage the store could not take: when a commit fails (the store is
//! unreachable, a PostgreSQL failover), the writer appends the group's
//! attempts to a local file in the data directory, syncs it, and only then
//! acknowledges them. An answered call's usage is therefore never lost to an
//! outage either; the next commit that succeeds replays the file into the
//! store and removes it.
//!
//! A crash between a replay's commit and the file's removal replays it again
//! on restart: usage is counted twice rather than lost (budgets err on the
//! safe side). The file holds names, models, tokens and costs: never a key.

use super::AttemptRecord;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The spool's file name in the data directory.
pub const FILE_NAME: &str = "usage-spool.jsonl";

/// One group's batch, as spooled.
#[derive(Debug, Serialize, Deserialize)]
pub struct Spooled {
    pub workspace_id: i64,
    pub workflow: String,
    /// Who caused them (the token's user, or `cli:ACCOUNT`).
    pub user: String,
    /// Through which API token, if one.
    pub token_id: Option<i64>,
    pub at_ms: i64,
    pub records: Vec<AttemptRecord>,
}

impl Spooled {
    /// Who caused them, as the usage writer books them (a token's spend
    /// counts against its own budget too).
    pub fn principal(&self) -> std::sync::Arc<crate::principal::Principal> {
        match self.token_id {
            Some(id) => crate::principal::Principal::token(&self.user, self.workspace_id, id, Default::default()),
            None => crate::principal::Principal::cli(&self.user),
        }
    }
}

/// How long a look that found no spool is trusted: another process's spool
/// is noticed within this, and the writer does not ask the file system for
/// every group it commits.
const RECHECK_MS: i64 = 1000;

/// The spool file of one data directory.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
    /// When a look last found no spool (ms since the epoch; `i64::MIN`: look next time).
    found_none_at: Arc<AtomicI64>,
}

impl Spool {
    /// The spool in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Spool {
        Spool { path: data_dir.join(FILE_NAME), found_none_at: Arc::new(AtomicI64::new(i64::MIN)) }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if something waits to be replayed (looked up at most every
    /// [`RECHECK_MS`] unless this process spooled since).
    pub fn pending(&self) -> bool {
        let now = crate::store::now_ms();
        if now.saturating_sub(self.found_none_at.load(Ordering::Relaxed)) < RECHECK_MS {
            return false;
        }
        let there = self.path.exists();
        if !there {
            self.found_none_at.store(now, Ordering::Relaxed);
        }
        there
    }

    /// Append `batches` durably (written and synced before this returns).
    pub fn append(&self, batches: impl IntoIterator<Item = Spooled>) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path)?;
        let mut text = Vec::new();
        for b in batches {
            serde_json::to_writer(&mut text, &b)?;
            text.push(b'\n');
        }
        file.write_all(&text)?;
        self.found_none_at.store(i64::MIN, Ordering::Relaxed);
        file.sync_data()
    }

    /// Everything spooled, oldest first. A line cut short by a crash while
    /// it was appended (never acknowledged) is skipped.
    pub fn read(&self) -> std::io::Result<Vec<Spooled>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            match serde_json::from_str(&line) {
                Ok(spooled) => out.push(spooled),
                Err(e) => tracing::warn!(error = %e, "a torn line of the usage spool was skipped"),
            }
        }
        Ok(out)
    }

    /// Forget what was replayed.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TokenUsage;
    use std::time::Duration;

    fn batch(workflow: &str) -> Spooled {
        let record = AttemptRecord {
            node: "n".into(),
            connection: "c".into(),
            provider: "openai".into(),
            model: "m".into(),
            error: Some(crate::error_class::ErrorClass::RateLimit),
            usage: TokenUsage { input: 10, output: 5, ..Default::default() },
            cost_usd: 0.25,
            latency: Duration::from_micros(1500),
            time_to_first_token: Some(Duration::from_millis(2)),
            streamed: true,
            unpriced: false,
        };
        Spooled {
            workspace_id: 3,
            workflow: workflow.into(),
            user: "alice".into(),
            token_id: Some(7),
            at_ms: 42,
            records: vec![record],
        }
    }

    /// What goes in comes out the same, a line torn by a crash is skipped,
    /// and clearing twice is fine.
    #[test]
    fn spooled_batches_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::in_dir(dir.path());
        assert!(!spool.pending() && spool.read().unwrap().is_empty());
        spool.append([batch("a")]).unwrap();
        spool.append([batch("b")]).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(spool.path()).unwrap();
        f.write_all(b"{\"workspace_id\":3,\"workf").unwrap();
        let read = spool.read().unwrap();
        assert_eq!(read.iter().map(|s| s.workflow.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let r = &read[0].records[0];
        assert_eq!(
            (r.latency, r.time_to_first_token, r.error),
            (
                Duration::from_micros(1500),
                Some(Duration::from_millis(2)),
                Some(crate::error_class::ErrorClass::RateLimit)
            )
        );
        spool.clear().unwrap();
        spool.clear().unwrap();
        assert!(!spool.pending());
    }
}
