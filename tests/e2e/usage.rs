//! Usage events, costs, reports, budgets across restarts and alerts: the real
//! engine and OpenAI plugin against loopback upstreams, recording into a real
//! store file through the usage log and the alert watch.

use crate::support::{self, Reply, Upstream, leak};
use llmnode::admin::Admin;
use llmnode::admin::alerting::WebhookChange;
use llmnode::admin::connections::NewConnection;
use llmnode::alerts::deliver::DeliveryPolicy;
use llmnode::alerts::{AlertSettings, AlertWatch, Deliveries};
use llmnode::engine::{Engine, RunReport};
use llmnode::limits::StoreLimits;
use llmnode::runtime::bindings::types::AuthScheme;
use llmnode::secret::Secret;
use llmnode::store::connection_rows::StoredSettings;
use llmnode::store::usage_rows::{self, Scope};
use llmnode::store::{Store, alert_rows, workspaces};
use llmnode::usage::{Prices, UsageLog, report};
use llmnode::vault::{MasterKey, Vault};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const KEY: &str = "fake-usage-key-for-tests-7d6c5b4a39281706f5e4";
const WS: &str = "default";

/// An OpenAI answer (the spec's example) with the given usage.
fn answer(prompt: u64, cached: u64, completion: u64) -> Vec<u8> {
    let mut body = support::fixture_json("openai/spec-examples/default.response.json");
    body["model"] = json!("gpt-4o-mini");
    body["usage"]["prompt_tokens"] = json!(prompt);
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = json!(cached);
    body["usage"]["completion_tokens"] = json!(completion);
    body["usage"]["total_tokens"] = json!(prompt + completion);
    body.to_string().into_bytes()
}

/// A 500 as OpenAI sends it.
fn server_error() -> Reply {
    Reply::json(500, r#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#)
}

struct Setup {
    _dir: tempfile::TempDir,
    admin: Admin,
}

/// The store (database, WAL) never holds a key in plaintext, whatever the test did.
impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            leak::assert_clean_dir(self._dir.path());
        }
    }
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("llmnode.db")).unwrap();
        let mut admin = Admin::new(store, Vault::new(MasterKey::generate()), "test");
        admin.ensure_workspace(WS).unwrap();
        Setup { _dir: dir, admin }
    }

    fn add(&mut self, name: &str, base_url: &str, settings: StoredSettings) {
        let settings = StoredSettings {
            base_url: Some(base_url.into()),
            default_model: Some("gpt-4o-mini".into()),
            max_retries: Some(0),
            streaming: true,
            ..settings
        };
        let secrets = BTreeMap::from([("api_key".to_string(), Secret::new(KEY))]);
        self.admin
            .add_connection(
                WS,
                NewConnection {
                    name: name.into(),
                    provider: "openai".into(),
                    settings,
                    secrets,
                    auth: AuthScheme::ApiKey,
                    no_key: false,
                },
            )
            .unwrap();
    }

    /// An engine as `llmnode run` builds one: stored connections, the run
    /// context, and a usage log with its alert watch.
    fn engine(&self, policy: DeliveryPolicy) -> (Engine, UsageLog, Deliveries) {
        let set = self.admin.connection_set(WS).unwrap();
        let ctx = self.admin.run_context(WS).unwrap();
        let location = self.admin.store.location();
        let (watch, deliveries) = AlertWatch::start(location, policy).unwrap();
        let log = UsageLog::open(location, Some(Box::new(watch)), None).unwrap();
        let options = ctx.engine_options(&log, StoreLimits::open(location).unwrap());
        (Engine::with_options(&set, &support::registry(), options).unwrap(), log, deliveries)
    }

    fn ws_id(&self) -> i64 {
        workspaces::get(self.admin.store.db(), WS).unwrap().id
    }

    fn alerts(&self) -> Vec<alert_rows::AlertRow> {
        alert_rows::list(self.admin.store.db(), self.ws_id(), 0, 1000).unwrap()
    }
}

fn quick_webhooks() -> DeliveryPolicy {
    DeliveryPolicy { attempts: 4, first_backoff: Duration::from_millis(20), timeout: Duration::from_secs(5) }
}

async fn call(engine: &Engine, workflow_name: &str, connection: &str, fallbacks: &[&str]) -> RunReport {
    let mut wf: Value = serde_json::from_str(&support::one_node(connection, fallbacks, json!({}))).unwrap();
    wf["name"] = json!(workflow_name);
    support::run(engine, &wf.to_string(), json!({})).await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_are_priced_once_at_the_cache_price() {
    let upstream = Upstream::start(|_| Reply::json(200, answer(2_006, 1_920, 300))).await;
    let mut s = Setup::new();
    s.add("oa", &upstream.url("/v1"), StoredSettings::default());

    // The plugin's table: gpt-4o-mini at $0.15 input, $0.075 cached input, $0.60 output per million.
    let (engine, log, _) = s.engine(quick_webhooks());
    let report = call(&engine, "wf", "oa", &[]).await;
    assert!(report.ok, "{report:?}");
    let a = &report.attempts[0];
    // OpenAI counts cached tokens inside prompt_tokens; they are priced once, at the cached price.
    assert_eq!((a.usage.input, a.usage.cache_read, a.usage.output), (86, 1_920, 300));
    let by_table = (86.0 * 0.15 + 1_920.0 * 0.075 + 300.0 * 0.60) / 1e6;
    assert!(close(a.cost_usd, by_table), "{} != {by_table}", a.cost_usd);
    log.flush().await;

    // An operator override wins from the next engine on; the cost is fixed when recorded.
    let custom = Prices { input: 2.0, output: 8.0, cache_read: Some(0.5), ..Default::default() };
    s.admin.set_price(WS, "openai", "gpt-4o-mini", custom).unwrap();
    let (engine, log2, _) = s.engine(quick_webhooks());
    let report = call(&engine, "wf", "oa", &[]).await;
    let by_override = (86.0 * 2.0 + 1_920.0 * 0.5 + 300.0 * 8.0) / 1e6;
    assert!(close(report.attempts[0].cost_usd, by_override), "{}", report.attempts[0].cost_usd);

    let scope = Scope { workspace_id: s.ws_id(), since_ms: 0, connection: None };
    let totals = usage_rows::totals(s.admin.store.db(), scope).unwrap();
    assert_eq!(totals.requests, 2);
    assert_eq!(totals.cost_nusd, usage_rows::to_nusd(by_table) + usage_rows::to_nusd(by_override));
    log.close().await;
    log2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_recorded_and_the_reports_match_the_events() {
    let healthy = Upstream::start(|_| Reply::json(200, answer(120, 0, 40))).await;
    let failing = Upstream::start(|_| server_error()).await;
    let mut s = Setup::new();
    s.add("primary", &failing.url("/v1"), StoredSettings::default());
    s.add("backup", &healthy.url("/v1"), StoredSettings::default());
    let (engine, log, _) = s.engine(quick_webhooks());

    let mut reports = Vec::new();
    for i in 0..5 {
        reports.push(call(&engine, "summarize", "primary", &["backup"]).await);
        if i < 2 {
            reports.push(call(&engine, "classify", "backup", &[]).await);
        }
    }
    assert!(reports.iter().all(|r| r.ok));
    log.flush().await;

    let attempts: Vec<_> = reports.iter().flat_map(|r| &r.attempts).collect();
    let expected_cost: i64 = attempts.iter().map(|a| usage_rows::to_nusd(a.cost_usd)).sum();
    // 3 failed attempts on the primary (then its breaker opens and it is
    // passed over: not an attempt), 5 + 2 served by the backup.
    assert_eq!(attempts.len(), 10);

    let r = report::build(s.admin.store.db(), s.ws_id(), WS, 30, 10).unwrap();
    assert_eq!(r.total.totals.requests, 10);
    assert_eq!(r.total.totals.errors, 3);
    assert_eq!(r.total.totals.cost_nusd, expected_cost);
    assert_eq!(r.total.totals.input_tokens, 7 * 120);
    assert_eq!(r.total.totals.output_tokens, 7 * 40);
    assert_eq!(r.daily.len(), 30);
    assert_eq!(r.daily.last().unwrap().line.totals.requests, 10, "today's bar holds every event");
    assert_eq!(r.daily.iter().map(|d| d.line.totals.requests).sum::<u64>(), 10);

    let names = |lines: &[report::NamedLine]| -> Vec<(String, u64, u64)> {
        lines.iter().map(|l| (l.name.clone(), l.line.totals.requests, l.line.totals.errors)).collect()
    };
    assert_eq!(
        names(&r.by_connection),
        vec![("backup".to_string(), 7, 0), ("primary".to_string(), 3, 3)],
        "per-connection totals"
    );
    // Top workflows by cost: summarize served 5 times, classify twice.
    assert_eq!(names(&r.top_workflows), vec![("summarize".to_string(), 8, 3), ("classify".to_string(), 2, 0)]);
    assert_eq!(r.by_model.len(), 1);
    assert_eq!((r.by_model[0].provider.as_str(), r.by_model[0].model.as_str()), ("openai", "gpt-4o-mini"));
    assert_eq!(r.by_model[0].line.totals.cost_nusd, expected_cost);

    // The events carry what the report summarizes; no key anywhere in the file.
    let bytes = std::fs::read(sqlite_file(&s.admin.store)).unwrap();
    assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key is in the store file");
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_holds_across_a_restart() {
    // Each answer costs (5 × 0.15 + 1000 × 0.60) / 1e6 = $0.00060075; a call
    // reserves its bound first: the 6-byte prompt as 6 tokens and 1000 output
    // tokens, $0.0006009. A $0.003 budget fits four calls, not five.
    let upstream = Upstream::start(|_| Reply::json(200, answer(5, 0, 1_000))).await;
    let mut s = Setup::new();
    s.add("oa", &upstream.url("/v1"), StoredSettings { daily_budget_usd: Some(0.003), ..Default::default() });
    let wf = support::one_node("oa", &[], json!({ "max_tokens": 1000 }));

    let (engine, log, _) = s.engine(quick_webhooks());
    for _ in 0..2 {
        assert!(support::run(&engine, &wf, json!({})).await.ok);
    }
    drop(engine);
    log.close().await;

    // A new engine (a restarted process) reads today's spend back: two more
    // calls fit, not four.
    let (engine, log, _) = s.engine(quick_webhooks());
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let report = support::run(&engine, &wf, json!({})).await;
        if !report.ok {
            assert!(report.nodes[0].error.as_deref().unwrap().contains("daily budget"), "{report:?}");
        }
        outcomes.push(report.ok);
    }
    assert_eq!(outcomes, [true, true, false, false]);
    assert_eq!(upstream.seen().len(), 4, "a refused call never reaches the provider");
    log.flush().await;
    let scope = Scope { workspace_id: s.ws_id(), since_ms: 0, connection: None };
    let totals = usage_rows::totals(s.admin.store.db(), scope).unwrap();
    assert_eq!(totals.requests, 4, "local refusals are not usage events");
    assert!(totals.cost_usd() <= 0.003);
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_alert_fires_once_at_its_threshold_and_posts_the_webhook() {
    // $0.00075 per call; the threshold is reached by the third call exactly.
    let upstream = Upstream::start(|_| Reply::json(200, answer(1_000, 0, 1_000))).await;
    let hook_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hook_calls.clone();
    let webhook = Upstream::start(move |_| {
        // The first delivery fails; the retry lands.
        match counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Reply::json(503, "busy"),
            _ => Reply::json(200, "{}"),
        }
    })
    .await;
    let mut s = Setup::new();
    s.add("oa", &upstream.url("/v1"), StoredSettings::default());
    let hook_url = webhook.url("/hooks/T0KEN-c2VjcmV0LXdlYmhvb2s");
    let settings = AlertSettings { daily_spend_usd: Some(0.00225), ..Default::default() };
    s.admin.configure_alerts(WS, settings, WebhookChange::Set(Secret::new(hook_url.clone()))).unwrap();

    let (engine, log, deliveries) = s.engine(quick_webhooks());
    for expected in [0, 0, 1, 1, 1] {
        assert!(call(&engine, "wf", "oa", &[]).await.ok);
        log.flush().await;
        let fired: Vec<_> = s.alerts().into_iter().filter(|a| a.kind == "daily_spend").collect();
        assert_eq!(fired.len(), expected, "{fired:?}");
    }
    drop(engine);
    log.close().await;
    deliveries.finish(Duration::from_secs(10)).await;

    let alert = &s.alerts()[0];
    assert!(alert.delivered_ms.is_some() && alert.delivery_attempts == 2, "{alert:?}");
    let posts = webhook.seen();
    assert_eq!(posts.len(), 2);
    let body = posts[1].json();
    assert_eq!((body["kind"].as_str(), body["workspace"].as_str()), (Some("daily_spend"), Some(WS)));
    assert!(close(body["threshold"].as_f64().unwrap(), 0.00225));
    // The webhook URL carries a token: sealed at rest, never in an alert or the audit log.
    let bytes = std::fs::read(sqlite_file(&s.admin.store)).unwrap();
    let token = "T0KEN-c2VjcmV0LXdlYmhvb2s";
    assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "the webhook token is in the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_alert_fires_at_five_percent_and_not_below() {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failing = fail.clone();
    let upstream = Upstream::start(move |_| match failing.load(std::sync::atomic::Ordering::SeqCst) {
        true => server_error(),
        false => Reply::json(200, answer(10, 0, 5)),
    })
    .await;
    let mut s = Setup::new();
    s.add("oa", &upstream.url("/v1"), StoredSettings::default());
    let settings = AlertSettings { window_secs: 3600, ..Default::default() };
    s.admin.configure_alerts(WS, settings, WebhookChange::Keep).unwrap();
    let (engine, log, _) = s.engine(quick_webhooks());
    let error_alerts = |s: &Setup| s.alerts().into_iter().filter(|a| a.kind == "error_rate").count();

    for _ in 0..20 {
        assert!(call(&engine, "wf", "oa", &[]).await.ok);
    }
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // 1 failure in 21 attempts: 4.8%, under the threshold.
    assert!(!call(&engine, "wf", "oa", &[]).await.ok);
    log.flush().await;
    assert_eq!(error_alerts(&s), 0);
    // 2 in 22: 9.1%: the alert fires, once, however many more fail in the window.
    for _ in 0..3 {
        assert!(!call(&engine, "wf", "oa", &[]).await.ok);
        log.flush().await;
        assert_eq!(error_alerts(&s), 1);
    }
    let alert = &s.alerts()[0];
    assert!(alert.message.contains("2 of 22 attempts failed"), "{alert:?}");
    // The same condition makes the connection's status a warning (then an error after three in a row).
    let row = llmnode::store::connection_rows::get(s.admin.store.db(), s.ws_id(), "oa").unwrap();
    let status = llmnode::status::of(s.admin.store.db(), &row, None, &settings, llmnode::store::now_ms()).unwrap();
    assert_eq!(status.status, llmnode::status::Status::Error, "{status:?}");
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_alert_fires_at_eighty_percent_of_the_limit() {
    let upstream = Upstream::start(|_| Reply::json(200, answer(10, 0, 5))).await;
    let mut s = Setup::new();
    s.add("oa", &upstream.url("/v1"), StoredSettings { rpm: Some(10), ..Default::default() });
    let (engine, log, _) = s.engine(quick_webhooks());
    let rpm_alerts = |s: &Setup| s.alerts().into_iter().filter(|a| a.kind == "rpm").count();
    let row = || llmnode::store::connection_rows::get(s.admin.store.db(), s.ws_id(), "oa").unwrap();
    let status =
        || llmnode::status::of(s.admin.store.db(), &row(), None, &AlertSettings::default(), llmnode::store::now_ms());
    for n in 1..=9 {
        assert!(call(&engine, "wf", "oa", &[]).await.ok);
        log.flush().await;
        // 8 of 10 requests in a minute is the threshold.
        assert_eq!(rpm_alerts(&s), usize::from(n >= 8), "after {n} requests");
        let expected = if n >= 8 { llmnode::status::Status::Warning } else { llmnode::status::Status::Active };
        assert_eq!(status().unwrap().status, expected, "after {n} requests");
    }
    log.close().await;
}

/// The store's file (these tests run on SQLite).
fn sqlite_file(store: &llmnode::store::Store) -> std::path::PathBuf {
    match store.location() {
        llmnode::store::Location::Sqlite(path) => path.clone(),
        other => panic!("expected a SQLite store, found {other}"),
    }
}
