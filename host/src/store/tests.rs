//! Store tests: every domain operation against a real SQLite file and a real
//! PostgreSQL database (a private server this test process starts).

use super::*;
use crate::alerts::{Condition, Kind as AlertKind};
use crate::usage::{AttemptRecord, Prices, TokenUsage};
use serde_json::json;

/// A fresh store of each backend (the temp dir keeps the SQLite file alive).
fn each_backend(mut test: impl FnMut(Store, &Location)) {
    let dir = tempfile::tempdir().unwrap();
    let locations =
        [Location::Sqlite(dir.path().join(FILE_NAME)), Location::Postgres(super::test_postgres::shared().database())];
    for location in &locations {
        let store = Store::open(location).unwrap_or_else(|e| panic!("{location}: {e}"));
        test(store, location);
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join(FILE_NAME)).unwrap();
    (dir, store)
}

#[test]
fn opening_twice_keeps_the_schema_and_data() {
    each_backend(|store, location| {
        workspaces::create(store.db(), "acme", |_| Ok::<_, StoreError>(vec![1, 2, 3])).unwrap();
        drop(store);
        let store = Store::open(location).unwrap();
        assert_eq!(workspaces::get(store.db(), "acme").unwrap().wrapped_data_key, vec![1, 2, 3]);
        if let Some(lite) = store.db().as_sqlite() {
            let mode: String = lite.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
        }
    });
}

#[test]
fn a_store_from_a_newer_llmnode_is_refused_untouched() {
    let (dir, store) = open();
    store.db().as_sqlite().unwrap().pragma_update(None, "user_version", migrations::CURRENT + 1).unwrap();
    drop(store);
    let err = Store::open(dir.path().join(FILE_NAME)).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    assert!(err.to_string().contains("upgrade llmnode"), "{err}");

    // On PostgreSQL, from a fresh process's point of view (the pool of this
    // URL has migrated once already, so a second URL to the same database).
    let url = super::test_postgres::shared().database();
    let store = Store::open(Location::Postgres(url.clone())).unwrap();
    store.db().execute("UPDATE llmnode_schema SET version = ?1", crate::args![migrations::CURRENT + 1]).unwrap();
    drop(store);
    let err = Store::open(Location::Postgres(format!("{url}?application_name=newer"))).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
}

#[test]
fn the_audit_log_is_append_only() {
    each_backend(|store, _| {
        audit::append(store.db(), None, "alice", "connection.create", "openai", &json!({"fields": ["api_key"]}))
            .unwrap();
        let update = store.db().execute("UPDATE audit_log SET actor = 'mallory'", crate::args![]);
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = store.db().execute("DELETE FROM audit_log", crate::args![]);
        assert!(delete.unwrap_err().to_string().contains("append-only"));
        let entries = audit::list(store.db(), &audit::AuditFilter::default()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].actor, "alice");
        assert_eq!(entries[0].detail["fields"][0], "api_key");
    });
}

#[test]
fn audit_filters_narrow_and_newest_come_first() {
    each_backend(|store, _| {
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
        let creates =
            audit::AuditFilter { action: Some("connection.create".into()), limit: Some(1), ..Default::default() };
        let listed = audit::list(store.db(), &creates).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].workspace.as_deref(), Some("b"));
    });
}

#[test]
fn connections_are_per_workspace_and_secrets_replace() {
    each_backend(|store, _| {
        let db = store.db();
        let a = workspaces::create(db, "a", |_| Ok::<_, StoreError>(vec![0])).unwrap();
        let b = workspaces::create(db, "b", |_| Ok::<_, StoreError>(vec![0])).unwrap();
        let settings =
            connection_rows::StoredSettings { default_model: Some("gpt-4o-mini".into()), ..Default::default() };
        let id = connection_rows::insert(db, a.id, "openai", "openai", &settings).unwrap();
        // The same name in another workspace is a different connection; in the same one, a conflict.
        connection_rows::insert(db, b.id, "openai", "openai", &settings).unwrap();
        let again = connection_rows::insert(db, a.id, "openai", "openai", &settings).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        assert!(connection_rows::find(db, b.id, "missing").unwrap().is_none());

        connection_rows::put_secret(db, id, "api_key", b"sealed-1", "sk-…0001").unwrap();
        connection_rows::put_secret(db, id, "api_key", b"sealed-2", "sk-…0002").unwrap();
        assert_eq!(
            connection_rows::sealed_secrets(db, id).unwrap(),
            vec![("api_key".to_string(), b"sealed-2".to_vec())]
        );
        let row = connection_rows::get(db, a.id, "openai").unwrap();
        let hints: Vec<(&str, &str)> = row.secret_hints.iter().map(|s| (s.field.as_str(), s.hint.as_str())).collect();
        assert_eq!(hints, vec![("api_key", "sk-…0002")]);
        assert!(row.secret_hints[0].set_ms >= row.created_ms, "a secret's age starts when it is set");
        assert_eq!(row.settings, settings);
        assert!(row.enabled);

        connection_rows::set_enabled(db, id, false).unwrap();
        assert!(!connection_rows::get(db, a.id, "openai").unwrap().enabled);
        connection_rows::delete(db, id).unwrap();
        assert!(connection_rows::find(db, a.id, "openai").unwrap().is_none());
        assert!(connection_rows::sealed_secrets(db, id).unwrap().is_empty(), "secrets go with their connection");
        assert_eq!(connection_rows::list(db, b.id).unwrap().len(), 1);
    });
}

#[test]
fn a_failed_transaction_writes_nothing() {
    each_backend(|mut store, _| {
        let result: Result<(), StoreError> = store.transaction(|tx| {
            workspaces::create(tx, "half", |_| Ok::<_, StoreError>(vec![0]))?;
            Err(StoreError::Malformed { what: "test", detail: "abort".into() })
        });
        assert!(result.is_err());
        assert!(workspaces::find(store.db(), "half").unwrap().is_none());
    });
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
    let id = users::insert_token(db, alice, a.id, users::Role::Admin, token, &Default::default()).unwrap();
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

fn attempt(connection: &str, cost_usd: f64, error: bool) -> AttemptRecord {
    AttemptRecord {
        node: "n".into(),
        connection: connection.into(),
        provider: "openai".into(),
        model: "gpt-4o".into(),
        error: error.then_some(crate::error_class::ErrorClass::ServerError),
        usage: TokenUsage { input: 100, output: 20, cache_read: 5, ..Default::default() },
        cost_usd,
        latency: std::time::Duration::from_millis(12),
        time_to_first_token: Some(std::time::Duration::from_millis(3)),
        streamed: true,
        unpriced: false,
    }
}

/// Every query of every module once, on both backends: the SQL they share
/// must mean the same on each (types, aggregates, upserts, `RETURNING`).
#[test]
fn every_module_works_on_both_backends() {
    each_backend(|mut store, location| {
        let ws = store.transaction(|tx| workspaces::create(tx, "w", |_| Ok::<_, StoreError>(vec![7]))).unwrap();
        let db = store.db();
        let at = day_start_ms(now_ms()) + 1_000;
        // Tokens carry their own limits and allow-lists.
        let alice = users::create_user(db, "alice").unwrap();
        let policy = users::TokenPolicy { rpm: Some(5), models: vec!["m1".into()], ..Default::default() };
        let token_id = users::insert_token(db, alice, ws.id, users::Role::Member, "lln_t", &policy).unwrap();
        assert_eq!(users::authenticate(db, "lln_t").unwrap().unwrap().policy, policy, "{location}");
        let tighter = users::TokenPolicy { daily_budget_usd: Some(0.5), routes: vec!["r".into()], ..policy };
        assert!(users::set_policy(db, ws.id, token_id, &tighter).unwrap());
        assert!(!users::set_policy(db, ws.id + 1, token_id, &tighter).unwrap(), "another workspace's token");
        assert_eq!(users::list_tokens(db, ws.id).unwrap()[0].policy, tighter);

        // Usage: totals, groupings, the day's booked spend (the token's too).
        let by_token = crate::principal::Principal::token("alice", ws.id, token_id, tighter);
        let by_cli = crate::principal::Principal::cli("cli:ops");
        usage_rows::insert(db, ws.id, "wf-a", &by_token, at, &attempt("c1", 0.25, false)).unwrap();
        usage_rows::insert(db, ws.id, "wf-b", &by_cli, at + 1, &attempt("c1", 0.5, true)).unwrap();
        usage_rows::insert(db, ws.id, "wf-a", &by_token, at + 2, &attempt("c2", 1.0, false)).unwrap();
        let all = usage_rows::Scope { workspace_id: ws.id, since_ms: 0, connection: None };
        let t = usage_rows::totals(db, all).unwrap();
        assert_eq!((t.requests, t.errors, t.input_tokens, t.cache_read_tokens), (3, 1, 300, 15), "{location}");
        assert_eq!(t.cost_nusd, 1_750_000_000, "{location}");
        let c1 = usage_rows::Scope { connection: Some("c1"), ..all };
        assert_eq!(usage_rows::totals(db, c1).unwrap().requests, 2);
        let by_day = usage_rows::by_day(db, all).unwrap();
        assert_eq!(by_day, vec![(at / DAY_MS, t)], "{location}");
        let by_model = usage_rows::by_model(db, all).unwrap();
        assert_eq!((by_model[0].0.as_str(), by_model[0].1.as_str()), ("openai", "gpt-4o"));
        let by_wf: Vec<String> = usage_rows::by_workflow(db, all).unwrap().into_iter().map(|(w, _)| w).collect();
        assert_eq!(by_wf, ["wf-a", "wf-b"], "largest cost first");
        assert_eq!(usage_rows::by_connection(db, all).unwrap().len(), 2);
        assert_eq!(usage_rows::by_second(db, all).unwrap()[0].0, at / 1000);
        assert_eq!(usage_rows::last_outcomes(db, ws.id, "c1", 5).unwrap(), vec![Some("server_error".into()), None]);
        assert_eq!(usage_rows::last_success_ms(db, ws.id, "c1").unwrap(), Some(at));
        assert_eq!(usage_rows::workflows_using(db, ws.id, "c1").unwrap(), ["wf-a", "wf-b"]);
        assert_eq!(usage_rows::spent_since(db, ws.id, 0).unwrap()["c2"], 1_000_000_000);
        let day = at / DAY_MS;
        assert_eq!(limit_rows::budget(db, ws.id, "c1", day).unwrap(), (750_000_000, 0), "booked with the events");
        let token_key = crate::limits::LimitKey::token(ws.id, token_id);
        assert_eq!(limit_rows::budget(db, ws.id, &token_key.connection, day).unwrap(), (1_250_000_000, 0));
        let users: Vec<(String, u64)> =
            usage_rows::by_user(db, all).unwrap().into_iter().map(|(u, t)| (u, t.requests)).collect();
        assert_eq!(users, [("alice".to_string(), 2), ("cli:ops".to_string(), 1)], "{location}");
        let tokens: Vec<String> = usage_rows::by_token(db, all).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(tokens, [format!("token {token_id} (alice)"), "cli:ops".to_string()], "{location}");
        // Export: page after page, oldest first, each row attributed.
        let first = usage_rows::export_page(db, ws.id, at, at + 3, None, 2).unwrap();
        assert_eq!(first.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [at, at + 1], "{location}");
        assert_eq!((first[0].user.as_str(), first[0].token_id), ("alice", Some(token_id)));
        assert_eq!((first[1].user.as_str(), first[1].token_id), ("cli:ops", None));
        assert_eq!(first[1].error_class.as_deref(), Some("server_error"));
        let cursor = usage_rows::Cursor { at_ms: first[1].at_ms, id: first[1].id };
        let rest = usage_rows::export_page(db, ws.id, at, at + 3, Some(cursor), 2).unwrap();
        assert_eq!((rest.len(), rest[0].connection.as_str(), rest[0].cost_nusd), (1, "c2", 1_000_000_000));
        assert!(usage_rows::export_page(db, ws.id, at + 3, at + 10, None, 2).unwrap().is_empty(), "`to` is exclusive");

        // Limits: windows, holds and their reaping, breakers.
        limit_rows::set_window(db, ws.id, "c1", "rpm", &[1, 2, 3]).unwrap();
        limit_rows::set_window(db, ws.id, "c1", "rpm", &[4, 5]).unwrap();
        assert_eq!(limit_rows::window(db, ws.id, "c1", "rpm").unwrap(), vec![4, 5]);
        assert!(limit_rows::window(db, ws.id, "c1", "tpm").unwrap().is_empty());
        limit_rows::beat(db, "alive", now_ms()).unwrap();
        let kept = limit_rows::hold(db, "alive", ws.id, "c1", day, 10).unwrap();
        limit_rows::hold(db, "dead", ws.id, "c1", day, 5).unwrap();
        assert_eq!(limit_rows::budget(db, ws.id, "c1", day).unwrap().1, 15);
        assert_eq!(limit_rows::reap(db, now_ms() - 10_000).unwrap(), 1, "the holder that never beat");
        assert_eq!(limit_rows::release(db, kept).unwrap(), Some((day, 10)));
        assert_eq!(limit_rows::release(db, kept).unwrap(), None, "released once");
        assert_eq!(limit_rows::budget(db, ws.id, "c1", day).unwrap().1, 0);
        limit_rows::set_breaker(db, ws.id, "c1", 3, Some(42)).unwrap();
        assert_eq!(limit_rows::breaker(db, ws.id, "c1").unwrap(), Some((3, Some(42))));
        store.transaction(|tx| limit_rows::lock(tx, ws.id, "c1")).unwrap();

        // Definitions name connections (a JSON array, searched per backend).
        let db = store.db();
        use definition_rows::Kind;
        assert!(definition_rows::put(db, ws.id, Kind::Route, "r", "{}", &["c1".into(), "c2".into()]).unwrap());
        assert!(!definition_rows::put(db, ws.id, Kind::Route, "r", "{\"a\":1}", &["c2".into()]).unwrap());
        definition_rows::put(db, ws.id, Kind::Workflow, "wf", "{}", &["c2".into()]).unwrap();
        assert_eq!(definition_rows::naming_connection(db, ws.id, "c2").unwrap(), ["wf", "r (route)"], "{location}");
        assert!(definition_rows::naming_connection(db, ws.id, "c1").unwrap().is_empty());
        assert_eq!(definition_rows::get(db, ws.id, Kind::Route, "r").unwrap().unwrap().body, json!({"a": 1}));
        assert!(definition_rows::delete(db, ws.id, Kind::Route, "r").unwrap());

        // Alerts fire once per condition and window.
        let c = Condition {
            kind: AlertKind::ErrorRate,
            subject: "c1".into(),
            value: 0.5,
            threshold: 0.1,
            window_start_ms: at,
            message: "m".into(),
        };
        let id = alert_rows::fire(db, ws.id, &c, at).unwrap().expect("fires");
        assert_eq!(alert_rows::fire(db, ws.id, &c, at + 5).unwrap(), None, "once per window");
        alert_rows::record_delivery(db, id, None).unwrap();
        let listed = alert_rows::list(db, ws.id, 0, 10).unwrap();
        assert_eq!((listed.len(), listed[0].delivery_attempts), (1, 1));
        assert!(listed[0].delivered_ms.is_some());

        // Prices and plugins.
        let p = Prices {
            input: 1.5,
            output: 2.0,
            cache_read: Some(0.1),
            cache_write: None,
            cache_write_long: None,
            reasoning: None,
        };
        price_rows::set(db, ws.id, "openai", "m", &p).unwrap();
        price_rows::set(db, ws.id, "openai", "m", &Prices { input: 3.0, reasoning: Some(9.5), ..p }).unwrap();
        let stored = &price_rows::list(db, ws.id).unwrap()[0].prices;
        assert_eq!((stored.input, stored.reasoning), (3.0, Some(9.5)));
        price_rows::unset(db, ws.id, "openai", "m").unwrap();
        assert!(price_rows::unset(db, ws.id, "openai", "m").is_err());
        let plugin = plugin_rows::NewPlugin {
            name: "x",
            version: "1.0.0",
            contract_version: "0.2.0",
            sha256: "ab",
            file: "x.wasm",
        };
        plugin_rows::upsert(db, plugin).unwrap();
        plugin_rows::upsert(db, plugin_rows::NewPlugin { sha256: "cd", ..plugin }).unwrap();
        assert_eq!(plugin_rows::list(db).unwrap()[0].sha256, "cd");
        assert_eq!(plugin_rows::remove(db, "x").unwrap().len(), 1);

        // The configuration's version moves with every audited change.
        let before = config_version::current(db).unwrap();
        store.transaction(|tx| audit::append(tx, Some(ws.id), "op", "connection.edit", "c1", &json!({}))).unwrap();
        let db = store.db();
        assert_eq!(config_version::current(db).unwrap(), before + 1);
        let changes = audit::changes_since(db, before).unwrap();
        assert_eq!(changes, vec![(before + 1, Some(ws.id), "connection.edit".to_string())]);
        let (config, newest) = usage_marks(db).unwrap();
        assert_eq!(config, before + 1);
        assert!(newest >= 3, "{newest}");
    });
}

#[test]
fn approvals_gate_serving_until_decided_and_workspace_settings_round_trip() {
    use approval_rows::ApprovalKind;
    each_backend(|store, location| {
        let db = store.db();
        let ws = workspaces::create(db, "acme", |_| Ok::<_, StoreError>(vec![1])).unwrap();
        assert_eq!(ws.settings, workspaces::WorkspaceSettings::default());
        let mut settings = ws.settings;
        settings.require_approval = true;
        settings.monitor.secrets = crate::monitor::Action::Block;
        workspaces::put_settings(db, ws.id, &settings).unwrap();
        assert_eq!(workspaces::get(db, "acme").unwrap().settings, settings, "{location}");

        let conn = connection_rows::insert(db, ws.id, "c", "openai", &Default::default()).unwrap();
        let create =
            approval_rows::insert(db, ws.id, ApprovalKind::ConnectionCreate, "c", &json!({}), "api:a").unwrap();
        let plugin = json!({ "version": "1", "sha256": "ab" });
        let old = approval_rows::insert(db, ws.id, ApprovalKind::PluginInstall, "p", &plugin, "cli:x").unwrap();
        assert!(approval_rows::decide(db, old, "approved", "api:b").unwrap());
        assert!(!approval_rows::decide(db, old, "rejected", "api:b").unwrap(), "decided once");
        let newer = approval_rows::insert(db, ws.id, ApprovalKind::PluginInstall, "p", &plugin, "cli:x").unwrap();
        let gates: Vec<i64> = approval_rows::serving_gates(db, ws.id).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(gates, vec![create, newer], "{location}: the latest install of a plugin gates it");
        assert_eq!(connection_rows::get(db, ws.id, "c").unwrap().pending_approval, Some(create));

        let edit = approval_rows::insert(db, ws.id, ApprovalKind::ConnectionEdit, "c", &json!({}), "api:a").unwrap();
        approval_rows::put_secret(db, edit, "api_key", b"sealed", "sk-…1234").unwrap();
        approval_rows::cancel_for_connection(db, ws.id, "c", "api:b").unwrap();
        assert!(approval_rows::take_secrets(db, edit).unwrap().is_empty(), "cancelled edits drop their secrets");
        assert_eq!(approval_rows::get(db, ws.id, edit).unwrap().unwrap().state, "cancelled");
        assert_eq!(approval_rows::list(db, ws.id, true).unwrap().len(), 1, "only the plugin is still pending");
        assert_eq!(connection_rows::get(db, ws.id, "c").unwrap().pending_approval, None);
        connection_rows::delete(db, conn).unwrap();
    });
}

#[test]
fn alert_channels_round_trip_and_replace_by_name() {
    use crate::alerts::channel::{ChannelSettings, WebhookFormat, WebhookSettings};
    each_backend(|store, _| {
        let ws = workspaces::create(store.db(), "acme", |_| Ok::<_, StoreError>(vec![1])).unwrap();
        let hook = |format, sealed: &[u8]| alert_rows::ChannelRow {
            name: "chat".into(),
            settings: ChannelSettings::Webhook(WebhookSettings { format }),
            secret_sealed: Some(sealed.to_vec()),
            hint: "https://hooks.example/…".into(),
        };
        alert_rows::put_channel(store.db(), ws.id, &hook(WebhookFormat::Json, b"one")).unwrap();
        alert_rows::put_channel(store.db(), ws.id, &hook(WebhookFormat::Slack, b"two")).unwrap();
        let rows = alert_rows::channels(store.db(), ws.id).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].settings, ChannelSettings::Webhook(WebhookSettings { format: WebhookFormat::Slack }));
        assert_eq!(rows[0].secret_sealed.as_deref(), Some(&b"two"[..]));
        assert!(alert_rows::remove_channel(store.db(), ws.id, "chat").unwrap());
        assert!(!alert_rows::remove_channel(store.db(), ws.id, "chat").unwrap());
    });
}

#[test]
fn a_stores_one_webhook_becomes_its_webhook_channel_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        let lite = rusqlite::Connection::open(&path).unwrap();
        for sql in &migrations::MIGRATIONS[..9] {
            lite.execute_batch(sql).unwrap();
        }
        lite.pragma_update(None, "user_version", 9).unwrap();
        lite.execute_batch(
            "INSERT INTO workspaces (id, name, data_key, created_ms) VALUES (1, 'acme', x'01', 0);
             INSERT INTO alert_settings (workspace_id, settings, webhook_sealed, webhook_hint, updated_ms)
                 VALUES (1, '{\"daily_spend_usd\": 2.0}', x'0a0b', 'https://hooks.example/…', 5);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let channels = alert_rows::channels(store.db(), 1).unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!((channels[0].name.as_str(), channels[0].settings.kind()), ("webhook", "webhook"));
    assert_eq!(channels[0].secret_sealed.as_deref(), Some(&[0x0a, 0x0b][..]));
    assert_eq!(channels[0].hint, "https://hooks.example/…");
    assert_eq!(alert_rows::settings(store.db(), 1).unwrap().daily_spend_usd, Some(2.0));
}

#[test]
fn volume_baselines_are_shared_by_every_process_on_the_store() {
    use crate::monitor::volume::{Sender, Volume};
    const HOUR_MS: i64 = 3_600_000;
    each_backend(|store, location| {
        let mut first = store;
        let mut second = Store::open(location).unwrap();
        let (a, b) = (Volume::default(), Volume::default());
        let wf = Sender::Workflow { workspace: 1, name: "w" };
        let t0 = 1_000 * HOUR_MS;
        // Daemon A saw a steady 200 KB an hour for a day; B saw nothing.
        for h in 0..24 {
            assert_eq!(a.add(wf, 200_000, t0 + h * HOUR_MS), None);
        }
        let now = t0 + 24 * HOUR_MS;
        a.sync(&mut first, now).unwrap();
        b.sync(&mut second, now).unwrap();
        // A takes 1.5 MB this hour (under 10x), shares it; B's 600 KB more crosses.
        assert_eq!(a.add(wf, 1_500_000, now), None);
        a.sync(&mut first, now).unwrap();
        b.sync(&mut second, now).unwrap();
        let hit = b.add(wf, 600_000, now + 1).expect("B sees A's baseline and A's bytes this hour");
        assert_eq!((hit.bytes, hit.average, hit.first), (2_100_000, 200_000, true));
        // Counts are added once: syncing again changes nothing.
        b.sync(&mut second, now).unwrap();
        b.sync(&mut second, now).unwrap();
        assert_eq!(b.add(wf, 0, now + 2).map(|h| (h.bytes, h.first)), Some((2_100_000, false)));
        a.sync(&mut first, now).unwrap();
        assert_eq!(a.add(wf, 0, now + 3).map(|h| h.bytes), Some(2_100_000));
        // Another sender is counted apart; hours past the trailing day are dropped.
        assert_eq!(b.add(Sender::Token(7), 1_000, now), None);
        b.sync(&mut second, now + 30 * HOUR_MS).unwrap();
        assert!(volume_rows::since(second.db(), 0).unwrap().is_empty());
    });
}
