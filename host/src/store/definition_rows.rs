//! Named definitions the daemon keeps per workspace: stored workflows (run by
//! name) and chat routes (a model name of the OpenAI-compatible endpoint
//! mapped to connections, failover and balancing). Both are validated before
//! they are stored; each row remembers the connections it names.

use super::sql::{Backend, Db, Row};
use super::{StoreError, now_ms};
use crate::args;
use serde::Serialize;

/// What a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A workflow, run by name.
    Workflow,
    /// A model name of the OpenAI-compatible endpoint.
    Route,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Route => "route",
        }
    }

    /// The name rule its names follow.
    pub fn name_kind(self) -> crate::names::NameKind {
        match self {
            Kind::Workflow => crate::names::NameKind::Workflow,
            Kind::Route => crate::names::NameKind::Route,
        }
    }
}

/// One stored definition.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionRow {
    pub name: String,
    pub body: serde_json::Value,
    pub connections: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// Create or replace `name`; true when it was new.
pub fn put(
    db: &Db,
    workspace_id: i64,
    kind: Kind,
    name: &str,
    body: &str,
    connections: &[String],
) -> Result<bool, StoreError> {
    let now = now_ms();
    let names = serde_json::to_string(connections).unwrap_or_else(|_| "[]".into());
    let existed = get(db, workspace_id, kind, name)?.is_some();
    db.execute(
        "INSERT INTO definitions (workspace_id, kind, name, body, connections, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
         ON CONFLICT (workspace_id, kind, name) DO UPDATE SET body = ?4, connections = ?5, updated_ms = ?6",
        args![workspace_id, kind.as_str(), name, body, names, now],
    )?;
    Ok(!existed)
}

fn row(r: &Row<'_>) -> Result<(String, String, String, i64, i64), StoreError> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode((name, body, connections, created_ms, updated_ms): (String, String, String, i64, i64)) -> DefinitionRow {
    DefinitionRow {
        name,
        // Only validated JSON is ever stored.
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        connections: serde_json::from_str(&connections).unwrap_or_default(),
        created_ms,
        updated_ms,
    }
}

/// The definition `name`, if stored.
pub fn get(db: &Db, workspace_id: i64, kind: Kind, name: &str) -> Result<Option<DefinitionRow>, StoreError> {
    let found = db.query_opt(
        "SELECT name, body, connections, created_ms, updated_ms FROM definitions \
         WHERE workspace_id = ?1 AND kind = ?2 AND name = ?3",
        args![workspace_id, kind.as_str(), name],
        row,
    )?;
    Ok(found.map(decode))
}

/// Every definition of `kind`, by name.
pub fn list(db: &Db, workspace_id: i64, kind: Kind) -> Result<Vec<DefinitionRow>, StoreError> {
    let rows = db.query(
        "SELECT name, body, connections, created_ms, updated_ms FROM definitions \
         WHERE workspace_id = ?1 AND kind = ?2 ORDER BY name",
        args![workspace_id, kind.as_str()],
        row,
    )?;
    Ok(rows.into_iter().map(decode).collect())
}

/// Delete `name`; false if it was not stored.
pub fn delete(db: &Db, workspace_id: i64, kind: Kind, name: &str) -> Result<bool, StoreError> {
    let n = db.execute(
        "DELETE FROM definitions WHERE workspace_id = ?1 AND kind = ?2 AND name = ?3",
        args![workspace_id, kind.as_str(), name],
    )?;
    Ok(n == 1)
}

/// Names of the stored workflows and routes that name `connection`.
pub fn naming_connection(db: &Db, workspace_id: i64, connection: &str) -> Result<Vec<String>, StoreError> {
    // The one statement whose JSON functions differ between the backends.
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT d.kind, d.name FROM definitions d, json_each(d.connections) c \
             WHERE d.workspace_id = ?1 AND c.value = ?2 ORDER BY d.kind DESC, d.name"
        }
        Backend::Postgres => {
            "SELECT d.kind, d.name FROM definitions d, json_array_elements_text(d.connections::json) c(value) \
             WHERE d.workspace_id = ?1 AND c.value = ?2 ORDER BY d.kind DESC, d.name"
        }
    };
    let rows = db.query(sql, args![workspace_id, connection], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))?;
    Ok(rows.into_iter().map(|(kind, name)| if kind == "route" { format!("{name} (route)") } else { name }).collect())
}
