//! Store tests against real SQLite files.

use super::*;
use serde_json::json;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join(FILE_NAME)).unwrap();
    (dir, store)
}

#[test]
fn opening_twice_keeps_the_schema_and_data() {
    let (dir, store) = open();
    workspaces::create(store.db(), "acme", |_| Ok::<_, StoreError>(vec![1, 2, 3])).unwrap();
    drop(store);
    let store = Store::open(&dir.path().join(FILE_NAME)).unwrap();
    assert_eq!(workspaces::get(store.db(), "acme").unwrap().wrapped_data_key, vec![1, 2, 3]);
    let mode: String = store.db().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_store_from_a_newer_llmnode_is_refused_untouched() {
    let (dir, store) = open();
    store.db().pragma_update(None, "user_version", migrations::CURRENT + 1).unwrap();
    drop(store);
    let err = Store::open(&dir.path().join(FILE_NAME)).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    assert!(err.to_string().contains("upgrade llmnode"), "{err}");
}

#[test]
fn the_audit_log_is_append_only() {
    let (_dir, store) = open();
    audit::append(store.db(), None, "alice", "connection.create", "openai", &json!({"fields": ["api_key"]})).unwrap();
    let update = store.db().execute("UPDATE audit_log SET actor = 'mallory'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = store.db().execute("DELETE FROM audit_log", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let entries = audit::list(store.db(), &audit::AuditFilter::default()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "alice");
    assert_eq!(entries[0].detail["fields"][0], "api_key");
}

#[test]
fn audit_filters_narrow_and_newest_come_first() {
    let (_dir, store) = open();
    let a = workspaces::create(store.db(), "a", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    let b = workspaces::create(store.db(), "b", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    for (ws, action) in [(a.id, "connection.create"), (b.id, "connection.create"), (a.id, "connection.disable")] {
        audit::append(store.db(), Some(ws), "op", action, "c", &json!({})).unwrap();
    }
    let only_a = audit::AuditFilter { workspace: Some("a".into()), ..Default::default() };
    let listed = audit::list(store.db(), &only_a).unwrap();
    assert_eq!(
        listed.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["connection.disable", "connection.create"]
    );
    let creates = audit::AuditFilter { action: Some("connection.create".into()), limit: Some(1), ..Default::default() };
    let listed = audit::list(store.db(), &creates).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].workspace.as_deref(), Some("b"));
}

#[test]
fn connections_are_per_workspace_and_secrets_replace() {
    let (_dir, store) = open();
    let db = store.db();
    let a = workspaces::create(db, "a", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    let b = workspaces::create(db, "b", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    let settings = connection_rows::StoredSettings { default_model: Some("gpt-4o-mini".into()), ..Default::default() };
    let id = connection_rows::insert(db, a.id, "openai", "openai", &settings).unwrap();
    // The same name in another workspace is a different connection; in the same one, a conflict.
    connection_rows::insert(db, b.id, "openai", "openai", &settings).unwrap();
    let again = connection_rows::insert(db, a.id, "openai", "openai", &settings).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    assert!(connection_rows::find(db, b.id, "missing").unwrap().is_none());

    connection_rows::put_secret(db, id, "api_key", b"sealed-1", "sk-…0001").unwrap();
    connection_rows::put_secret(db, id, "api_key", b"sealed-2", "sk-…0002").unwrap();
    assert_eq!(connection_rows::sealed_secrets(db, id).unwrap(), vec![("api_key".to_string(), b"sealed-2".to_vec())]);
    let row = connection_rows::get(db, a.id, "openai").unwrap();
    assert_eq!(row.secret_hints, vec![("api_key".to_string(), "sk-…0002".to_string())]);
    assert_eq!(row.settings, settings);
    assert!(row.enabled);

    connection_rows::set_enabled(db, id, false).unwrap();
    assert!(!connection_rows::get(db, a.id, "openai").unwrap().enabled);
    connection_rows::delete(db, id).unwrap();
    assert!(connection_rows::find(db, a.id, "openai").unwrap().is_none());
    assert!(connection_rows::sealed_secrets(db, id).unwrap().is_empty(), "secrets go with their connection");
    assert_eq!(connection_rows::list(db, b.id).unwrap().len(), 1);
}

#[test]
fn a_failed_transaction_writes_nothing() {
    let (_dir, mut store) = open();
    let result: Result<(), StoreError> = store.transaction(|tx| {
        workspaces::create(tx, "half", |_| Ok::<_, StoreError>(vec![0]))?;
        Err(StoreError::Malformed { what: "test", detail: "abort".into() })
    });
    assert!(result.is_err());
    assert!(workspaces::find(store.db(), "half").unwrap().is_none());
}

#[test]
fn tokens_are_stored_hashed_scoped_and_revocable() {
    let (dir, store) = open();
    let db = store.db();
    let a = workspaces::create(db, "a", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    let b = workspaces::create(db, "b", |_| Ok::<_, StoreError>(vec![0])).unwrap();
    let alice = users::create_user(db, "alice").unwrap();
    assert!(users::create_user(db, "alice").is_err());
    let token = "lln_test_token_7d6c5b4a39281706f5e4";
    let id = users::insert_token(db, alice, a.id, users::Role::Admin, token).unwrap();
    let grant = users::authenticate(db, token).unwrap().unwrap();
    assert_eq!((grant.user.as_str(), grant.workspace_id, grant.role), ("alice", a.id, users::Role::Admin));
    assert!(users::authenticate(db, "lln_wrong").unwrap().is_none());
    // Revoking from another workspace does nothing; from its own, it ends the token.
    assert!(!users::revoke_token(db, b.id, id).unwrap());
    assert!(users::revoke_token(db, a.id, id).unwrap());
    assert!(users::authenticate(db, token).unwrap().is_none());
    assert!(users::list_tokens(db, a.id).unwrap()[0].revoked_ms.is_some());
    drop(store);
    let bytes = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .flat_map(|e| std::fs::read(e.path()).unwrap())
        .collect::<Vec<u8>>();
    assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "a token is stored in plaintext");
}
