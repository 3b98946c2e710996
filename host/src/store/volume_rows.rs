//! The prompt monitor's hourly prompt bytes per sender, added to by every
//! process on the store in batches (see [`crate::monitor::volume::Volume::sync`]).

use super::StoreError;
use super::sql::Db;
use crate::args;
use crate::monitor::volume::Sender;

/// The store's key of a workflow's volume.
pub fn workflow_key(workspace: i64, name: &str) -> String {
    format!("workflow:{workspace}:{name}")
}

/// The store's key of an API token's volume.
pub fn token_key(id: i64) -> String {
    format!("token:{id}")
}

/// A sender read back from its key.
pub enum OwnedSender {
    Workflow(i64, String),
    Token(i64),
}

impl OwnedSender {
    pub fn as_sender(&self) -> Sender<'_> {
        match self {
            OwnedSender::Workflow(workspace, name) => Sender::Workflow { workspace: *workspace, name },
            OwnedSender::Token(id) => Sender::Token(*id),
        }
    }
}

/// The sender `key` names, if it is one of ours.
pub fn parse_key(key: &str) -> Option<OwnedSender> {
    if let Some(rest) = key.strip_prefix("workflow:") {
        let (workspace, name) = rest.split_once(':')?;
        return Some(OwnedSender::Workflow(workspace.parse().ok()?, name.to_string()));
    }
    key.strip_prefix("token:")?.parse().ok().map(OwnedSender::Token)
}

/// Add each (key, hour, bytes) to the stored totals, and drop the hours
/// before `keep_from`, which no baseline reads any more. Run it in a
/// transaction: one commit for the whole batch.
pub fn add(db: &Db, counts: &[(String, i64, u64)], keep_from: i64) -> Result<(), StoreError> {
    for (key, hour, bytes) in counts {
        db.execute(
            "INSERT INTO volume_hours (sender, hour, bytes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (sender, hour) DO UPDATE SET bytes = volume_hours.bytes + ?3",
            args![key, *hour, *bytes as i64],
        )?;
    }
    db.execute("DELETE FROM volume_hours WHERE hour < ?1", args![keep_from])?;
    Ok(())
}

/// Every sender's (key, hour, bytes) from hour `from` on.
pub fn since(db: &Db, from: i64) -> Result<Vec<(String, i64, u64)>, StoreError> {
    db.query("SELECT sender, hour, bytes FROM volume_hours WHERE hour >= ?1", args![from], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<i64>(2)?.max(0) as u64))
    })
}
