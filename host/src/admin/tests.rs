//! The vault and the store together, on a real SQLite file.

use super::connections::{Edit, NewConnection};
use super::*;
use crate::secret::Secret;
use crate::store::connection_rows::StoredSettings;
use crate::store::{FILE_NAME, audit, connection_rows};
use crate::vault::MasterKey;
use std::collections::BTreeMap;

const KEY_A: &str = "fake-workspace-a-key-for-tests-3f2e1d0c9b8a7f6e5d4c";
const KEY_B: &str = "fake-workspace-b-key-for-tests-0a9b8c7d6e5f4a3b2c1d";

fn admin(dir: &tempfile::TempDir, master: MasterKey) -> Admin {
    let store = Store::open(dir.path().join(FILE_NAME)).unwrap();
    Admin::new(store, Vault::new(master), "alice")
}

/// An admin over a fresh store holding `workspaces`.
fn admin_with(dir: &tempfile::TempDir, workspaces: &[&str]) -> Admin {
    let mut admin = admin(dir, MasterKey::generate());
    for ws in workspaces {
        admin.create_workspace(ws).unwrap();
    }
    admin
}

fn new(name: &str, key: &str) -> NewConnection {
    NewConnection {
        name: name.into(),
        provider: "openai".into(),
        settings: StoredSettings { default_model: Some("gpt-4o-mini".into()), ..Default::default() },
        secrets: BTreeMap::from([("api_key".to_string(), Secret::new(key))]),
        auth: crate::runtime::bindings::types::AuthScheme::ApiKey,
        no_key: false,
    }
}

/// Every byte the store has written (database, WAL, shared memory).
fn store_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        all.extend(std::fs::read(entry.path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn keys_are_never_in_the_database_in_plaintext_and_open_for_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["a"]);
    let row = admin.add_connection("a", new("openai", KEY_A)).unwrap();
    let hints: Vec<(&str, &str)> = row.secret_hints.iter().map(|s| (s.field.as_str(), s.hint.as_str())).collect();
    assert_eq!(hints, vec![("api_key", "fak…5d4c")]);
    let set = admin.connection_set("a").unwrap();
    assert_eq!(set.get("openai").unwrap().credentials.api_key().unwrap().unwrap().expose(), KEY_A);
    drop(set);
    drop(admin);
    let bytes = store_bytes(&dir);
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, KEY_A), "the key is in the store's files in plaintext");
    assert!(!contains(&bytes, &KEY_A[8..]), "part of the key is in the store's files");
}

#[test]
fn a_ciphertext_moved_to_another_row_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["a"]);
    let one = admin.add_connection("a", new("one", KEY_A)).unwrap();
    let two = admin.add_connection("a", new("two", KEY_B)).unwrap();
    let sealed_one = connection_rows::sealed_secrets(admin.store.db(), one.id).unwrap().remove(0).1;
    connection_rows::put_secret(admin.store.db(), two.id, "api_key", &sealed_one, "moved").unwrap();
    let err = admin.connection_set("a").unwrap_err().to_string();
    assert!(err.starts_with("connection `two` in workspace `a`: its secret `api_key` cannot be opened"), "{err}");
    assert!(!err.contains(KEY_A) && !err.contains(KEY_B), "{err}");
}

#[test]
fn workspaces_cannot_see_each_others_connections_or_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["a", "b"]);
    admin.add_connection("a", new("openai", KEY_A)).unwrap();
    admin.add_connection("b", new("openai", KEY_B)).unwrap();
    admin.add_connection("b", new("only-b", KEY_B)).unwrap();
    let a = admin.connection_set("a").unwrap();
    assert!(a.get("only-b").is_none());
    assert_eq!(a.get("openai").unwrap().credentials.api_key().unwrap().unwrap().expose(), KEY_A);
    let err = admin.edit_connection("a", "only-b", Edit::default()).unwrap_err().to_string();
    assert!(err.contains("only-b") && err.contains("not found"), "{err}");

    // Workspace b's data key cannot open a's secrets even with the same master key.
    let ws_a = crate::store::workspaces::get(admin.store.db(), "a").unwrap();
    let ws_b = crate::store::workspaces::get(admin.store.db(), "b").unwrap();
    assert!(admin.vault.data_key(ws_a.id, &ws_b.wrapped_data_key).is_err());
}

#[test]
fn rotation_keeps_every_connection_usable_and_a_wrong_master_key_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["a", "b"]);
    admin.add_connection("a", new("openai", KEY_A)).unwrap();
    admin.add_connection("b", new("openai", KEY_B)).unwrap();
    assert_eq!(admin.rotate_master_key(MasterKey::generate()).unwrap(), 2);
    assert_eq!(
        admin.connection_set("b").unwrap().get("openai").unwrap().credentials.api_key().unwrap().unwrap().expose(),
        KEY_B
    );

    // A second Admin with some other master key: reading fails clearly, rotating writes nothing.
    let mut wrong = self::admin(&dir, MasterKey::generate());
    let err = wrong.connection_set("a").unwrap_err();
    assert!(matches!(err, AdminError::Vault(crate::vault::VaultError::WrongMasterKey)), "{err}");
    let audit_rows = audit::list(wrong.store.db(), &Default::default()).unwrap().len();
    let wrapped: Vec<Vec<u8>> =
        crate::store::workspaces::list(wrong.store.db()).unwrap().into_iter().map(|w| w.wrapped_data_key).collect();
    assert!(wrong.rotate_master_key(MasterKey::generate()).is_err());
    let after: Vec<Vec<u8>> =
        crate::store::workspaces::list(wrong.store.db()).unwrap().into_iter().map(|w| w.wrapped_data_key).collect();
    assert_eq!(wrapped, after, "a failed rotation changed data keys");
    assert_eq!(audit::list(wrong.store.db(), &Default::default()).unwrap().len(), audit_rows);
    // The rotated admin still works.
    assert!(admin.connection_set("a").is_ok());
}

#[test]
fn every_action_leaves_its_audit_row_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["a"]);
    admin.add_connection("a", new("openai", KEY_A)).unwrap();
    let settings = StoredSettings { default_model: Some("gpt-4.1".into()), rpm: Some(60), ..Default::default() };
    let edit = Edit {
        settings: Some(settings),
        set_secrets: BTreeMap::from([("api_key".to_string(), Secret::new(KEY_B))]),
        remove_secrets: Vec::new(),
    };
    admin.edit_connection("a", "openai", edit).unwrap();
    admin.record_test("a", "openai", &serde_json::json!({ "key_valid": true })).unwrap();
    admin.set_connection_enabled("a", "openai", false).unwrap();
    admin.set_connection_enabled("a", "openai", true).unwrap();
    admin.rotate_master_key(MasterKey::generate()).unwrap();
    admin.delete_connection("a", "openai").unwrap();

    let entries = audit::list(admin.store.db(), &Default::default()).unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "workspace.create",
            "connection.create",
            "connection.edit",
            "connection.test",
            "connection.disable",
            "connection.enable",
            "vault.rotate",
            "connection.delete"
        ]
    );
    assert!(entries.iter().all(|e| e.actor == "alice"));
    let edit = entries.iter().find(|e| e.action == "connection.edit").unwrap();
    assert_eq!(edit.detail["changed"], serde_json::json!(["default_model", "rpm", "secret:api_key"]));
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B), "a key reached the audit log");
}

#[test]
fn an_unknown_workspace_is_refused_with_the_existing_names_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = admin_with(&dir, &["default", "team-b"]);
    let before = audit::list(admin.store.db(), &Default::default()).unwrap().len();
    let err = admin.add_connection("team-c", new("openai", KEY_A)).unwrap_err().to_string();
    assert_eq!(err, "workspace `team-c` not found (workspaces: `default`, `team-b`)");
    assert!(crate::store::workspaces::find(admin.store.db(), "team-c").unwrap().is_none());
    assert_eq!(audit::list(admin.store.db(), &Default::default()).unwrap().len(), before);
    let err = admin.create_workspace("team-b").unwrap_err().to_string();
    assert!(err.contains("workspace `team-b` already exists"), "{err}");
}
