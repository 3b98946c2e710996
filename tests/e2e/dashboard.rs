//! The dashboard as an operator uses it: Debian's Chromium, headless, driven
//! over the DevTools protocol against the real daemon. One test reads every
//! view (connections with their models, limits and visible status reasons;
//! cost by model with tokens; alerts; the audit log) as an admin and as a
//! member, and checks the screenshot's pixels. One drives the forms (add,
//! edit, disable, delete, each with a refusal or a cancelled confirmation
//! first) and checks the API's state after every step. A key typed into a
//! form goes to the API once per save and never comes back.
//!
//! `LLMNODE_SCREENSHOTS=DIR` keeps a PNG of each step for a person to look at.

use crate::support::browser::{Browser, Page};
use crate::support::daemon::{Daemon, KEY, Setup};
use crate::support::leak;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The page logged in with `token` (through the URL fragment), its data drawn.
async fn dashboard<'b>(browser: &'b Browser, d: &Daemon, token: &str) -> Page<'b> {
    let page = browser.open(&format!("{}/dashboard/#token={token}", d.base)).await;
    page.wait_for("document.body.dataset.loaded === 'true'", "the dashboard to load its data").await;
    page
}

/// No test key in anything the page holds or was answered, nor in the
/// daemon's log; and nothing went wrong in the page.
async fn assert_no_key_shown(page: &Page<'_>, d: &Daemon) {
    assert_eq!(page.problems(), Vec::<String>::new(), "the page ran into trouble");
    leak::assert_clean("the dashboard page", &page.everything().await);
    let network = page.network().await;
    assert!(!network.api_bodies.is_empty(), "no API answer was recorded to scan");
    for body in network.api_bodies {
        leak::assert_clean("an API answer to the dashboard", &body);
    }
    d.assert_log_clean();
}

/// Keep a screenshot where `LLMNODE_SCREENSHOTS` points.
async fn keep_screenshot(page: &Page<'_>, name: &str) {
    if let Some(dir) = std::env::var_os("LLMNODE_SCREENSHOTS") {
        page.screenshot(&Path::new(&dir).join(format!("{name}.png"))).await;
    }
}

/// The cell texts of every body row of the table `selector`.
async fn rows(page: &Page<'_>, selector: &str) -> Vec<Vec<String>> {
    let js = format!(
        "[...document.querySelectorAll({})].map((tr) => [...tr.cells].map((c) => c.innerText.trim()))",
        serde_json::to_string(&format!("{selector} tbody tr")).unwrap()
    );
    serde_json::from_value(page.eval(&js).await).unwrap()
}

/// The visible text of connection `name`'s row.
async fn row_text(page: &Page<'_>, name: &str) -> String {
    let js = format!("document.querySelector('tr[data-name=\"{name}\"]').innerText");
    page.eval(&js).await.as_str().unwrap().to_string()
}

fn row(name: &str, action: &str) -> String {
    format!("tr[data-name=\"{name}\"] button[data-action=\"{action}\"]")
}

/// A number as the page groups it.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Pixels of `png` within a few levels of `rgb`.
fn pixels_of(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    pixels.chunks(channels).filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6)).count()
}

#[tokio::test]
async fn the_dashboard_shows_connections_usage_alerts_and_the_audit_log() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    // One failed attempt is enough to alert on, and warn about, the error rate.
    let alerting = json!({ "settings": { "min_requests": 1 } });
    assert_eq!(d.call("PUT", "/api/v1/alerts/settings", &s.admin, Some(alerting)).await.0, 200);
    // Usage to show: three served calls and one failed attempt.
    for model in ["openai/gpt-4o-mini", "openai/gpt-4o-mini", "openai/gpt-4o"] {
        let chat = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        assert_eq!(d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await.0, 200);
    }
    let chat = json!({ "model": "limited/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await.0, 429);
    let (_, limited) = d.call("GET", "/api/v1/connections/limited", &s.admin, None).await;
    assert_eq!(limited["status"], "warning", "{limited}");

    // Served under a strict Content-Security-Policy: no inline script or style.
    let served = d.http.get(format!("{}/dashboard/", d.base)).send().await.unwrap();
    let csp = served.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'") && !csp.contains("unsafe"), "{csp}");

    let browser = Browser::launch();
    let page = dashboard(&browser, &d, &s.admin).await;
    assert!(page.text().await.contains("alice · default · admin"));

    // Connections: models, limits, status with its reasons in plain sight,
    // and every admin action.
    let openai = row_text(&page, "openai").await;
    assert!(openai.contains("gpt-4o-mini (default)"), "no Models column: {openai}");
    let badge = |name: &str| format!("document.querySelector('tr[data-name=\"{name}\"] .badge').className");
    assert_eq!(page.eval(&badge("openai")).await, "badge active");
    assert_eq!(page.eval(&badge("limited")).await, "badge warning");
    let limited_row = row_text(&page, "limited").await;
    let reasons = limited["status_reasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{limited}");
    for reason in reasons {
        assert!(limited_row.contains(reason.as_str().unwrap()), "the reason {reason} is not shown: {limited_row}");
    }
    for name in ["openai", "limited"] {
        for action in ["test", "edit", "disable", "delete"] {
            assert_eq!(page.eval(&format!("!!document.querySelector('{}')", row(name, action))).await, true);
        }
    }

    // Cost by model, with the tokens the API counted.
    let (_, usage) = d.call("GET", "/api/v1/usage?days=30&top=10", &s.admin, None).await;
    let expected: Vec<Vec<String>> = usage["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let n = |f: &str| grouped(m[f].as_u64().unwrap());
            vec![
                m["provider"].as_str().unwrap().into(),
                m["model"].as_str().unwrap().into(),
                n("requests"),
                n("input_tokens"),
                n("output_tokens"),
            ]
        })
        .collect();
    let shown: Vec<Vec<String>> =
        rows(&page, "#models").await.into_iter().map(|mut r| r.drain(..5).collect()).collect();
    assert_eq!(shown, expected);
    assert!(expected.iter().any(|m| m[3] != "0" && m[4] != "0"), "no tokens counted: {usage}");
    assert!(page.text().await.contains("chat.completions"));

    // Requests per day: thirty bars, today's counts all four attempts.
    let bars = page.eval("[...document.querySelectorAll('#chart rect.bar')].map((b) => +b.dataset.requests)").await;
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), 30, "one bar per day of 30");
    assert_eq!(bars.last(), Some(&json!(4)), "today's bar should count 4 requests");

    let shots = tempfile::tempdir().unwrap();
    let shot = shots.path().join("overview.png");
    page.screenshot(&shot).await;
    // The chart's bars (#2f6feb), the Active badge (#12805c) and the Warning badge (#b54708).
    assert!(pixels_of(&shot, [0x2f, 0x6f, 0xeb]) > 300, "no chart bar in the screenshot");
    assert!(pixels_of(&shot, [0x12, 0x80, 0x5c]) > 100, "no Active badge in the screenshot");
    assert!(pixels_of(&shot, [0xb5, 0x47, 0x08]) > 100, "no Warning badge in the screenshot");
    keep_screenshot(&page, "overview").await;

    // Alerts: what fired, as the API lists it.
    page.click("#tabs button[data-view=\"alerts\"]").await;
    page.wait_for("!document.querySelector('#view-alerts').hidden", "the alerts view").await;
    assert_eq!(page.eval("document.querySelector('#view-overview').hidden").await, true);
    let (_, alerts) = d.call("GET", "/api/v1/alerts?days=30", &s.admin, None).await;
    let alerts = alerts["alerts"].as_array().unwrap();
    assert!(alerts.iter().any(|a| a["kind"] == "error_rate" && a["subject"] == "limited"), "{alerts:?}");
    let shown = rows(&page, "#alerts").await;
    assert_eq!(shown.len(), alerts.len());
    for (row, alert) in shown.iter().zip(alerts) {
        assert_eq!(
            (&row[1], &row[2], &row[3]),
            (
                &alert["kind"].as_str().unwrap().into(),
                &alert["subject"].as_str().unwrap().into(),
                &alert["message"].as_str().unwrap().into()
            )
        );
    }
    assert!(page.text().await.contains("at least 1 attempts"), "the thresholds are not shown");
    keep_screenshot(&page, "alerts").await;

    // The audit log, newest first, and filtered by action.
    page.click("#tabs button[data-view=\"audit\"]").await;
    page.wait_for("!document.querySelector('#view-audit').hidden", "the audit view").await;
    let (_, audit) = d.call("GET", "/api/v1/audit?limit=200", &s.admin, None).await;
    let entries = audit["entries"].as_array().unwrap();
    let shown = rows(&page, "#audit").await;
    assert_eq!(shown.len(), entries.len());
    assert_eq!((shown[0][2].as_str(), shown[0][3].as_str()), ("alerts.configure", "default"), "{shown:?}");
    page.type_into("#audit-action", "connection.create").await;
    page.click("#audit-filter button[type=\"submit\"]").await;
    page.wait_for("document.querySelectorAll('#audit tbody tr').length === 2", "the filtered audit log").await;
    let targets: Vec<String> = rows(&page, "#audit").await.into_iter().map(|r| format!("{} {}", r[2], r[3])).collect();
    assert_eq!(targets, ["connection.create limited", "connection.create openai"]);
    keep_screenshot(&page, "audit").await;
    assert_no_key_shown(&page, &d).await;

    // A member reads the same page, with nothing that changes anything and no audit log.
    let member = dashboard(&browser, &d, &s.member).await;
    assert!(member.text().await.contains("bob · default · member"));
    assert_eq!(member.eval("document.querySelectorAll('button[data-action]').length").await, 0);
    for hidden in ["#add", "#tabs button[data-view=\"audit\"]"] {
        assert_eq!(member.eval(&format!("document.querySelector('{hidden}').hidden")).await, true, "{hidden}");
    }
    assert!(row_text(&member, "limited").await.contains(reasons[0].as_str().unwrap()));
    assert!(member.network().await.requests.iter().all(|(r, _)| !r.contains("/api/v1/audit")));
    keep_screenshot(&member, "member").await;
    assert_eq!(member.problems(), Vec::<String>::new(), "the member's page ran into trouble");
}

/// `GET /api/v1/connections/NAME` as the admin.
async fn connection(d: &Daemon, s: &Setup, name: &str) -> (u16, Value) {
    d.call("GET", &format!("/api/v1/connections/{name}"), &s.admin, None).await
}

/// The audit entries of `action` on `target`.
async fn audited(d: &Daemon, s: &Setup, action: &str, target: &str) -> Vec<Value> {
    let (_, audit) = d.call("GET", &format!("/api/v1/audit?action={action}&target={target}"), &s.admin, None).await;
    audit["entries"].as_array().unwrap().clone()
}

async fn field(page: &Page<'_>, selector: &str, property: &str) -> Value {
    page.eval(&format!("document.querySelector('{selector}').{property}")).await
}

#[tokio::test]
async fn an_admin_adds_edits_disables_and_deletes_a_connection_with_the_forms() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let browser = Browser::launch();
    let page = dashboard(&browser, &d, &s.admin).await;
    let editor_open = "document.querySelector('#editor').open";
    let editor_error = "document.querySelector('#editor-error').textContent";

    // Add, first with a base URL the API refuses: the form says why, stays
    // open, and nothing is stored.
    page.click("#add").await;
    page.wait_for(editor_open, "the add form").await;
    page.type_into("#f-name", "backup").await;
    page.choose("#f-provider", "openai").await;
    page.type_into("#f-base_url", "not a url").await;
    page.type_into("#f-default_model", "gpt-4o-mini").await;
    page.type_into("#f-rpm", "60").await;
    page.type_into("#f-api_key", KEY).await;
    keep_screenshot(&page, "add-form").await;
    page.click("#editor-save").await;
    page.wait_for(&format!("{editor_error} !== ''"), "the refusal").await;
    let error = page.eval(editor_error).await;
    assert!(error.as_str().unwrap().contains("base_url"), "{error}");
    assert_eq!(page.eval(editor_open).await, true);
    assert_eq!(connection(&d, &s, "backup").await.0, 404);
    assert!(audited(&d, &s, "connection.create", "backup").await.is_empty());

    page.type_into("#f-base_url", &s.upstream.base_url()).await;
    page.click("#editor-save").await;
    page.wait_for(&format!("!{editor_open} && document.querySelector('tr[data-name=\"backup\"]')"), "the new row")
        .await;
    let (status, added) = connection(&d, &s, "backup").await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["provider"], "openai");
    let settings = &added["settings"];
    assert_eq!((&settings["rpm"], &settings["default_model"]), (&json!(60), &json!("gpt-4o-mini")));
    assert_eq!(settings["base_url"], json!(s.upstream.base_url()));
    assert_eq!(added["secrets"][0]["field"], "api_key");
    let hint = added["secrets"][0]["hint"].as_str().unwrap().to_string();
    let shown = row_text(&page, "backup").await;
    for needle in [hint.as_str(), "60 rpm", "gpt-4o-mini (default)"] {
        assert!(shown.contains(needle), "{needle} is not in the new row: {shown}");
    }
    let notice = "document.querySelector('#notice').textContent";
    page.wait_for(&format!("{notice}.startsWith('backup added')"), "the notice").await;
    assert_eq!(page.eval(notice).await, json!(format!("backup added; its key shows only as {hint}")));
    assert_eq!(audited(&d, &s, "connection.create", "backup").await.len(), 1);
    // The key went out with each Save, to the create endpoint only; the
    // field is empty again and the key is in nothing the page holds.
    let network = page.network().await;
    let carried: Vec<&str> = network
        .requests
        .iter()
        .filter(|(request, body)| request.contains(KEY) || body.as_deref().is_some_and(|b| b.contains(KEY)))
        .map(|(request, _)| request.as_str())
        .collect();
    let create = format!("POST {}/api/v1/connections", d.base);
    assert_eq!(carried, [create.as_str(), create.as_str()], "one request per Save, none other");
    assert_eq!(field(&page, "#f-api_key", "value").await, "");
    assert_no_key_shown(&page, &d).await;

    // It works. Its test reports each finding apart: the key typed into the
    // form is the one the upstream accepts (the simulated provider lists no
    // models, so that part fails, and says so). A call runs through it and a
    // stored workflow names it.
    page.click(&row("backup", "test")).await;
    page.wait_for("document.querySelector('#notice').textContent.startsWith('backup: test failed')", "the test").await;
    let notice = page.eval("document.querySelector('#notice').textContent").await;
    assert!(notice.as_str().unwrap().contains("reachable, key accepted, model gpt-4o-mini not available"), "{notice}");
    assert_eq!(audited(&d, &s, "connection.test", "backup").await.len(), 1);
    let chat = json!({ "model": "backup/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await.0, 200);
    let nightly = json!({
        "name": "nightly",
        "nodes": [{ "id": "a", "node_type": "llm", "config": {
            "primary_connection": "backup", "messages": [{ "role": "user", "content": "hi" }] } }],
        "output": "{{nodes.a.output.text}}"
    });
    assert_eq!(d.call("PUT", "/api/v1/workflows/nightly", &s.member, Some(nightly)).await.0, 201);

    // Edit its RPM. The form shows what is set and no key; a value the API
    // refuses changes nothing; the saved edit changes only the RPM.
    page.click(&row("backup", "edit")).await;
    page.wait_for(editor_open, "the edit form").await;
    assert_eq!(field(&page, "#f-name", "readOnly").await, true);
    assert_eq!(field(&page, "#f-rpm", "value").await, "60");
    assert_eq!(field(&page, "#f-api_key", "value").await, "");
    let placeholder = field(&page, "#f-api_key", "placeholder").await;
    assert!(placeholder.as_str().unwrap().contains(&hint), "{placeholder}");
    page.type_into("#f-rpm", "fast").await;
    page.click("#editor-save").await;
    page.wait_for(&format!("{editor_error} !== ''"), "the refusal").await;
    assert!(page.eval(editor_error).await.as_str().unwrap().contains("rpm"));
    assert_eq!(connection(&d, &s, "backup").await.1["settings"]["rpm"], 60);
    page.type_into("#f-rpm", "120").await;
    keep_screenshot(&page, "edit-form").await;
    page.click("#editor-save").await;
    page.wait_for(&format!("!{editor_open}"), "the edit form to close").await;
    page.wait_for("document.querySelector('tr[data-name=\"backup\"]').innerText.includes('120 rpm')", "the new RPM")
        .await;
    let (_, edited) = connection(&d, &s, "backup").await;
    assert_eq!(edited["settings"]["rpm"], 120);
    assert_eq!(
        (&edited["settings"]["default_model"], &edited["settings"]["base_url"]),
        (&settings["default_model"], &settings["base_url"])
    );
    assert_eq!(edited["secrets"], added["secrets"], "the key is unchanged");
    let edits = audited(&d, &s, "connection.edit", "backup").await;
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["detail"]["changed"], json!(["rpm"]));

    // Disable: the confirmation names the workflows that use it. Cancel
    // changes nothing; confirming disables it, and the row says so in words.
    let (_, used) = d.call("GET", "/api/v1/connections/backup/used-by", &s.admin, None).await;
    let used: Vec<String> = serde_json::from_value(used["used_by"].clone()).unwrap();
    assert_eq!(used, ["chat.completions", "nightly"]);
    let named = "[...document.querySelectorAll('#confirm-used li')].map((li) => li.textContent)";
    page.click(&row("backup", "disable")).await;
    page.wait_for("document.querySelector('#confirm').open", "the confirmation").await;
    assert_eq!(page.eval(named).await, json!(used));
    page.click("#confirm-cancel").await;
    page.wait_for("!document.querySelector('#confirm').open", "the confirmation to close").await;
    assert_eq!(connection(&d, &s, "backup").await.1["enabled"], true);
    page.click(&row("backup", "disable")).await;
    page.wait_for("document.querySelector('#confirm').open", "the confirmation").await;
    page.click("#confirm-ok").await;
    page.wait_for(
        "document.querySelector('tr[data-name=\"backup\"]').dataset.enabled === 'false'",
        "the row to show it disabled",
    )
    .await;
    let (_, disabled) = connection(&d, &s, "backup").await;
    assert_eq!((&disabled["enabled"], &disabled["status"]), (&json!(false), &json!("disabled")));
    let shown = row_text(&page, "backup").await;
    assert!(shown.contains(disabled["status_reasons"][0].as_str().unwrap()), "{shown}");
    assert_eq!(page.eval(&format!("!!document.querySelector('{}')", row("backup", "enable"))).await, true);
    assert_eq!(audited(&d, &s, "connection.disable", "backup").await.len(), 1);

    // Delete: the same names, then gone (forced past exactly those workflows).
    page.click(&row("backup", "delete")).await;
    page.wait_for("document.querySelector('#confirm').open", "the confirmation").await;
    assert_eq!(page.eval(named).await, json!(used));
    assert_eq!(page.eval("document.querySelector('#confirm-title').textContent").await, "Delete backup?");
    keep_screenshot(&page, "confirm-delete").await;
    page.click("#confirm-ok").await;
    page.wait_for("!document.querySelector('tr[data-name=\"backup\"]')", "the row to go").await;
    assert_eq!(connection(&d, &s, "backup").await.0, 404);
    assert_eq!(audited(&d, &s, "connection.delete", "backup").await.len(), 1);
    let (_, all) = d.call("GET", "/api/v1/connections", &s.admin, None).await;
    let names: Vec<&str> = all["connections"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["limited", "openai"], "nothing else changed");
    assert_eq!(page.eval("document.querySelector('#notice').textContent").await, "backup deleted");

    assert_no_key_shown(&page, &d).await;
    assert!(leak::assert_clean_dir(&s.data()) > 0);
}

#[tokio::test]
async fn another_admin_approves_a_pending_connection_in_the_approvals_view() {
    let s = Setup::new(Duration::ZERO).await;
    s.cli(&["workspaces", "set", "--require-approval"]).await;
    let dave = s.second_admin("dave").await;
    let d = s.serve().await;
    let add = json!({ "name": "fresh", "provider": "openai", "secrets": { "api_key": KEY },
        "settings": { "base_url": s.upstream.base_url(), "default_model": "gpt-4o-mini" } });
    let (status, created) = d.call("POST", "/api/v1/connections", &s.admin, Some(add)).await;
    assert_eq!(status, 202, "{created}");
    let id = created["pending_approval"].as_i64().unwrap();
    let browser = Browser::launch();

    // The requester sees it pending; their Approve is refused, and the page says why.
    let page = dashboard(&browser, &d, &s.admin).await;
    page.click("#tabs button[data-view=\"approvals\"]").await;
    let listed = rows(&page, "#approvals").await;
    assert_eq!(
        listed[0][..4],
        [id.to_string(), "connection.create".into(), "fresh".into(), "api:alice (token 1)".into()]
    );
    page.click(&format!("#approvals button[data-action=\"approve #{id}\"]")).await;
    let notice = "document.querySelector('#notice').textContent";
    page.wait_for(&format!("{notice}.includes('cannot approve')"), "the refusal").await;
    assert_eq!(audited(&d, &s, "approval.refused", "fresh").await.len(), 1);

    // Another admin approves it from the same view: the table empties, the API agrees.
    let page = dashboard(&browser, &d, &dave).await;
    page.click("#tabs button[data-view=\"approvals\"]").await;
    page.click(&format!("#approvals button[data-action=\"approve #{id}\"]")).await;
    page.wait_for(&format!("{notice}.startsWith('#{id} approved')"), "the approval").await;
    assert!(rows(&page, "#approvals").await.is_empty());
    let (_, shown) = connection(&d, &s, "fresh").await;
    assert_eq!(shown["pending_approval"], Value::Null, "{shown}");
    let approved = audited(&d, &s, "approval.approve", "fresh").await;
    assert!(approved[0]["actor"].as_str().unwrap().starts_with("api:dave"), "{approved:?}");
    assert_no_key_shown(&page, &d).await;
}
