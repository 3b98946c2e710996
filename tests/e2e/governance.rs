//! Governance through the real daemon and CLI: every usage event names who
//! caused it and comes out in the export; API tokens carry their own budget,
//! RPM and allow-lists, enforced beside their connections'; stale keys
//! alert once and their ages are shown.

use crate::support::daemon::{Daemon, Setup};
use crate::support::leak;
use serde_json::{Value, json};
use std::time::Duration;

fn chat(model: &str, max_tokens: u32) -> Value {
    json!({ "model": model, "max_tokens": max_tokens, "messages": [{ "role": "user", "content": "hello there" }] })
}

/// A token made through the CLI with `flags`: (its id, the token).
async fn token(s: &Setup, user: &str, flags: &[&str]) -> (i64, String) {
    let out = s.cli_output(&[&["tokens", "create", "--user", user][..], flags].concat()).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = stderr.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stderr}"));
    (id, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `GET path` as text with `token`: (status, content type, body).
async fn get_raw(d: &Daemon, path: &str, token: &str) -> (u16, String, String) {
    let resp = d.http.get(format!("{}{path}", d.base)).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = resp.text().await.unwrap();
    leak::assert_clean(&format!("GET {path}"), &text);
    (status, kind, text)
}

fn records(csv_text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().clone();
    (header, reader.records().map(Result::unwrap).collect())
}

#[tokio::test]
async fn the_export_names_every_attempts_user_and_token_and_keeps_formulas_text() {
    let s = Setup::new(Duration::ZERO).await;
    // A CLI run whose workflow name a spreadsheet would take for a formula;
    // it fails over from `limited` (429) to `openai`: two attempts.
    let hostile = "=1+2,\"x\"|calc!A0";
    let workflow = json!({ "name": hostile, "nodes": [{ "id": "n", "node_type": "llm", "config": {
        "primary_connection": "limited", "fallback_connections": ["openai"],
        "messages": [{ "role": "user", "content": "hi" }] } }] });
    let file = s.dir.path().join("wf.json");
    std::fs::write(&file, workflow.to_string()).unwrap();
    s.cli(&["run", file.to_str().unwrap(), "--json"]).await;
    let d = s.serve().await;
    let (status, body) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("openai/gpt-4o-mini", 10))).await;
    assert_eq!(status, 200, "{body}");

    let (status, kind, text) = get_raw(&d, "/api/v1/usage/export?from=2000-01-01&format=csv", &s.admin).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{text}");
    let (header, rows) = records(&text);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    assert_eq!(rows.len(), 3, "one row per attempt: {text}");
    let (cli, api): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r[col("user")].starts_with("cli:"));
    assert_eq!(cli.len(), 2, "{text}");
    assert_eq!(cli[0][col("workflow")], format!("'{hostile}"), "the formula is neutralised");
    assert_eq!(cli[0][col("error_class")], *"rate_limit");
    assert_eq!((&cli[1][col("connection")], &cli[1][col("token_id")]), ("openai", ""));
    assert_eq!(&api[0][col("user")], "bob");
    let (_, bob_tokens) = d.call("GET", "/api/v1/me", &s.member, None).await;
    assert_eq!(api[0][col("token_id")], bob_tokens["token_id"].to_string(), "{bob_tokens}");
    assert_eq!(&api[0][col("workspace")], "default");
    assert!(api[0][col("cost_usd")].parse::<f64>().unwrap() > 0.0);

    // JSON Lines carry the same rows; the CLI writes the same export.
    let (_, kind, lines) = get_raw(&d, "/api/v1/usage/export?format=jsonl", &s.admin).await;
    assert_eq!(kind, "application/x-ndjson");
    let users: Vec<String> =
        lines.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["user"].as_str().unwrap().into()).collect();
    assert_eq!(users.len(), 3);
    let from_cli = s.cli(&["usage", "export", "--from", "2000-01-01"]).await;
    assert_eq!(records(&from_cli).1, rows);

    // Members, other workspaces and bad ranges are refused.
    let (status, _, text) = get_raw(&d, "/api/v1/usage/export", &s.member).await;
    assert!(status == 403 && text.contains("admin"), "{status} {text}");
    let (status, _, text) = get_raw(&d, "/api/v1/usage/export?workspace=default", &s.other_admin).await;
    assert!(status == 403 && text.contains("team-b"), "{status} {text}");
    let (status, _, text) = get_raw(&d, "/api/v1/usage/export", &s.other_admin).await;
    assert_eq!((status, records(&text).1.len()), (200, 0), "team-b's export holds none of default's rows");
    let (status, _, text) = get_raw(&d, "/api/v1/usage/export?from=last-week", &s.admin).await;
    assert!(status == 400 && text.contains("YYYY-MM-DD"), "{status} {text}");

    // Reports group by user.
    let by_user = s.cli(&["usage", "--by", "user", "--json"]).await;
    let by_user: Value = serde_json::from_str(&by_user).unwrap();
    let names: Vec<&str> = by_user.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"bob") && names.iter().any(|n| n.starts_with("cli:")), "{by_user}");
    d.assert_log_clean();
}

#[tokio::test]
async fn a_tokens_own_budget_rpm_and_allow_lists_hold_while_its_connection_has_room() {
    let s = Setup::new(Duration::ZERO).await;
    let (budget_id, budgeted) = token(&s, "bob", &["--daily-budget-usd", "0.01"]).await;
    let (rpm_id, paced) = token(&s, "bob", &["--rpm", "2"]).await;
    let (_, routed) = token(&s, "carol", &["-w", "team-b", "--routes", "smart"]).await;
    let (_, modelled) = token(&s, "bob", &["--models", "gpt-4o"]).await;
    let listed = s.cli(&["tokens", "list"]).await;
    assert!(listed.contains("$0.01/day") && listed.contains("2 rpm") && listed.contains("models gpt-4o"), "{listed}");
    let d = s.serve().await;
    let (status, _) = d
        .call(
            "PUT",
            "/api/v1/routes/smart",
            &s.other_admin,
            Some(json!({ "primary_connection": "elsewhere", "model": "gpt-4o-mini" })),
        )
        .await;
    assert_eq!(status, 201);

    // Budget: a worst case of 20 000 answer tokens ($0.012) does not fit the
    // token's $0.01, though the connection (no budget) has room.
    let (status, body) = d.call("POST", "/v1/chat/completions", &budgeted, Some(chat("openai/gpt-4o-mini", 10))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        d.call("POST", "/v1/chat/completions", &budgeted, Some(chat("openai/gpt-4o-mini", 20_000))).await;
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("token {budget_id} would exceed its daily budget of $0.01")), "{message}");
    let (status, body) =
        d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("openai/gpt-4o-mini", 20_000))).await;
    assert_eq!(status, 200, "the connection itself has room: {body}");

    // RPM: the third request in a minute is refused for the token alone.
    for _ in 0..2 {
        let (status, body) = d.call("POST", "/v1/chat/completions", &paced, Some(chat("openai/gpt-4o-mini", 10))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = d.call("POST", "/v1/chat/completions", &paced, Some(chat("openai/gpt-4o-mini", 10))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.to_string().contains(&format!("token {rpm_id} is at its limit of 2 requests per minute")), "{body}");
    let (status, body) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("openai/gpt-4o-mini", 10))).await;
    assert_eq!(status, 200, "another token on the same connection: {body}");

    // Routes: only the listed route, and no workflows.
    let (status, body) = d.call("POST", "/v1/chat/completions", &routed, Some(chat("elsewhere/gpt-4o-mini", 10))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("route(s) `smart` only"), "{body}");
    let (status, body) = d.call("POST", "/v1/chat/completions", &routed, Some(chat("smart", 10))).await;
    assert_eq!(status, 200, "{body}");
    // The same allow-list on every endpoint that names a route.
    let messages = json!({ "model": "elsewhere/gpt-4o-mini", "max_tokens": 10, "messages": [{ "role": "user", "content": "hi" }] });
    let (status, body) = d.call("POST", "/v1/messages", &routed, Some(messages)).await;
    assert!(status == 403 && body.to_string().contains("route(s) `smart` only"), "{status} {body}");
    let embed = json!({ "model": "elsewhere/text-embedding-3-small", "input": "hi" });
    let (status, body) = d.call("POST", "/v1/embeddings", &routed, Some(embed)).await;
    assert!(status == 403 && body.to_string().contains("route(s) `smart` only"), "{status} {body}");
    let inline = json!({ "workflow": { "name": "w", "nodes": [{ "id": "n", "node_type": "llm", "config": {
        "primary_connection": "elsewhere", "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] } }] } });
    let (status, body) = d.call("POST", "/api/v1/run", &routed, Some(inline)).await;
    assert!(status == 403 && body.to_string().contains("may not run workflows"), "{status} {body}");

    // Models: a model outside the list is refused, naming the list.
    let (status, body) = d.call("POST", "/v1/chat/completions", &modelled, Some(chat("openai/gpt-4o-mini", 10))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("its models: `gpt-4o`"), "{body}");

    // Lifting a limit applies to the next call.
    s.cli(&["tokens", "limit", &rpm_id.to_string()]).await;
    let lifted = async || d.call("POST", "/v1/chat/completions", &paced, Some(chat("openai/gpt-4o-mini", 10))).await.0;
    let mut status = lifted().await;
    for _ in 0..30 {
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = lifted().await;
    }
    assert_eq!(status, 200, "the lifted RPM still applied");
    let bad = s.cli_output(&["tokens", "limit", &rpm_id.to_string(), "--rpm", "0"]).await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("at least 1"));
    d.assert_log_clean();
}

#[tokio::test]
async fn a_stale_key_raises_one_alert_and_ages_are_shown() {
    let s = Setup::new(Duration::ZERO).await;
    let listed = s.cli(&["connections", "list"]).await;
    assert!(listed.contains("key age") && listed.contains("0 d"), "{listed}");
    // The key of `openai` was set 100 days ago (the quarterly default is 90).
    {
        let store = llmnode::store::Store::open(s.data().join(llmnode::store::FILE_NAME)).unwrap();
        let set = llmnode::store::now_ms() - 100 * llmnode::store::DAY_MS;
        let n = store
            .db()
            .execute(
                "UPDATE connection_secrets SET set_ms = ?1 WHERE connection_id = \
                 (SELECT c.id FROM connections c JOIN workspaces w ON w.id = c.workspace_id \
                  WHERE c.name = 'openai' AND w.name = 'default')",
                llmnode::args![set],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let d = s.serve().await;
    for _ in 0..3 {
        let (status, body) =
            d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("openai/gpt-4o-mini", 10))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = d.call("GET", "/api/v1/alerts", &s.admin, None).await;
    let stale: Vec<&Value> = body["alerts"].as_array().unwrap().iter().filter(|a| a["kind"] == "key_age").collect();
    assert_eq!(stale.len(), 1, "one alert per stale key: {body}");
    assert_eq!(stale[0]["subject"], "openai");
    assert!(stale[0]["message"].as_str().unwrap().contains("set 100 days ago"), "{body}");

    let (_, shown) = d.call("GET", "/api/v1/connections/openai", &s.admin, None).await;
    let shown = if shown["connection"].is_object() { shown["connection"].clone() } else { shown };
    assert_eq!(shown["secrets"][0]["age_days"], 100, "{shown}");
    assert!(shown["status_reasons"].to_string().contains("100 days ago"), "{shown}");
    let show = s.cli(&["connections", "show", "openai"]).await;
    assert!(show.contains("set 100 days ago"), "{show}");
    let (_, fresh) = d.call("GET", "/api/v1/connections/limited", &s.admin, None).await;
    assert!(fresh.to_string().contains("\"age_days\":0"), "{fresh}");

    // A longer rotation period makes the key current again.
    s.cli(&["alerts", "set", "--rotation-days", "365"]).await;
    assert!(s.cli(&["alerts", "show"]).await.contains("every 365 days"));
    d.assert_log_clean();
}
