//! The schema, as an ordered list of migrations. `PRAGMA user_version` records
//! how many have been applied; opening a store applies the rest in one
//! transaction, so a store is never left half-upgraded.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// Each entry upgrades the schema by one version. Append only: never edit a
/// migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces, users and tokens, connections and their sealed secrets,
    // plugins, and the append-only audit log.
    r#"
    CREATE TABLE workspaces (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        -- This workspace's data key, wrapped by the master key.
        data_key    BLOB NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE users (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        -- SHA-256 of the token; the token itself is shown once and never stored.
        token_hash    BLOB NOT NULL UNIQUE,
        created_ms    INTEGER NOT NULL,
        revoked_ms    INTEGER
    );
    CREATE TABLE connections (
        id            INTEGER PRIMARY KEY,
        workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        provider      TEXT NOT NULL,
        -- Public settings as JSON (base URL, models, limits, …); never secrets.
        settings      TEXT NOT NULL,
        enabled       INTEGER NOT NULL DEFAULT 1,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL,
        UNIQUE (workspace_id, name)
    );
    CREATE TABLE connection_secrets (
        connection_id  INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        -- `api_key`, `aws_secret_access_key`, `header:NAME`, …
        field          TEXT NOT NULL,
        -- AES-256-GCM under the workspace's data key, bound to (workspace, connection, field).
        sealed         BLOB NOT NULL,
        -- A masked hint for operators, e.g. `sk-…a1b2`.
        hint           TEXT NOT NULL,
        PRIMARY KEY (connection_id, field)
    );
    CREATE TABLE plugins (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        version    TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        file       TEXT NOT NULL,
        added_ms   INTEGER NOT NULL,
        UNIQUE (name, version)
    );
    CREATE TABLE audit_log (
        id            INTEGER PRIMARY KEY,
        at_ms         INTEGER NOT NULL,
        workspace_id  INTEGER,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target        TEXT NOT NULL,
        -- JSON: what changed (field names, never secret values).
        detail        TEXT NOT NULL
    );
    CREATE INDEX audit_by_workspace ON audit_log (workspace_id, at_ms);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
];

/// The schema version this build writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Bring `db` up to [`CURRENT`]; refuse a store written by a newer llmnode.
pub(super) fn apply(db: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > CURRENT {
        return Err(StoreError::TooNew { path: path.to_path_buf(), found, supported: CURRENT });
    }
    if found == CURRENT {
        return Ok(());
    }
    let tx = db.transaction()?;
    for sql in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", CURRENT)?;
    tx.commit()?;
    tracing::info!(from = found, to = CURRENT, "store schema upgraded");
    Ok(())
}
