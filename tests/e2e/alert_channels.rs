//! Alert channels through the real binary: a spend alert mailed to a real
//! SMTP server on loopback (AUTH in plain text to a local relay through the
//! CLI; STARTTLS required, under a certificate from a private CA, through the
//! daemon's API) and posted to a webhook in Slack's shape, with every output,
//! log and byte on disk searched for the SMTP password and the webhook URL.

use crate::support::daemon::Setup;
use crate::support::smtp_server::SmtpServer;
use crate::support::{self, Reply, Upstream, leak};
use serde_json::{Value, json};
use std::process::Output;
use std::time::{Duration, Instant};

const KEY: &str = "fake-alerts-key-for-tests-0c4e8a21";
const SMTP_PASSWORD: &str = "fake-smtp-key-for-tests-3e7a5c19";
/// The Slack webhook's path, a secret as Slack's are.
const SLACK_PATH: &str = "/services/T000/B000/fake-slack-key-for-tests-b41d";

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status.code());
    leak::assert_clean("stdout", &stdout);
    leak::assert_clean("stderr (trace logs)", &stderr);
    stdout
}

#[tokio::test]
async fn a_spend_alert_is_mailed_and_posted_to_slack_and_their_secrets_stay_sealed() {
    let body = support::fixture("openai/spec-examples/default.response.json");
    let upstream = Upstream::start(move |_| Reply::json(200, body.clone())).await;
    let slack = Upstream::start(|_| Reply::json(200, "ok")).await;
    let smtp = SmtpServer::plain("alerts", SMTP_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let slack_url = slack.url(SLACK_PATH);
    let env = [("K", KEY), ("SMTP_PW", SMTP_PASSWORD), ("SLACK", slack_url.as_str())];
    let cli = support::PricedCli::new(dir.path(), &upstream.url("/v1"), &env).await;
    ok(&cli.run("alerts set --daily-spend-usd 0.00005").await);

    // A password sent in plain text off this machine is refused, naming why.
    let far = "alerts channel add email far --smtp-host smtp.example.com --starttls opportunistic --auth plain \
         --username alerts --password-env SMTP_PW --from alerts@example.test --to ops@example.test";
    let refused = cli.run(far).await;
    assert!(!refused.status.success());
    leak::assert_clean("stderr", &String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("plain text"), "{refused:?}");

    let mut email = words(&format!(
        "alerts channel add email ops --smtp-host 127.0.0.1 --smtp-port {} --starttls none --auth plain \
         --username alerts --password-env SMTP_PW --to ops@example.test --to oncall@example.test --from",
        smtp.port
    ));
    email.push("llmnode alerts <alerts@example.test>".into());
    let added = ok(&cli.run_args(email).await);
    assert!(added.contains(&format!("smtp://127.0.0.1:{}", smtp.port)), "{added}");
    ok(&cli.run("alerts channel add webhook chat --url-env SLACK --format slack").await);
    let channels: Value = serde_json::from_str(&ok(&cli.run("alerts channel list --json").await)).unwrap();
    assert_eq!(channels.as_array().unwrap().len(), 2, "{channels}");
    assert_eq!(channels[1]["settings"]["username"], json!("alerts"), "{channels}");
    assert!(!channels.to_string().contains("services"), "the webhook's path is shown: {channels}");

    let wf = dir.path().join("wf.json");
    std::fs::write(&wf, support::one_node("oa", &[], json!({}))).unwrap();
    for _ in 0..2 {
        ok(&cli.run(&format!("run {}", wf.display())).await);
    }

    // The second run crossed $0.00005: one mail, through AUTH PLAIN, to both recipients.
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    // Quoted-printable: long lines are folded with soft breaks.
    let mail = &mails[0].replace("=\r\n", "");
    assert!(mail.contains("X-Test-TLS: no\r\nX-Test-Login: PLAIN:alerts\r\n"), "{mail}");
    assert!(mail.contains("X-Test-Rcpt: ops@example.test,oncall@example.test"), "{mail}");
    assert!(mail.contains("Subject: [llmnode] daily_spend alert in workspace default\r\n"), "{mail}");
    assert!(mail.contains("From: \"llmnode alerts\" <alerts@example.test>"), "{mail}");
    assert!(mail.contains("spend today is $0.0001, at or over the alert threshold of $0.00"), "{mail}");
    leak::assert_clean("the mail", mail);

    // Slack's incoming-webhook shape: a fallback `text` and the `blocks`.
    let posts = slack.seen();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].uri, SLACK_PATH);
    let post = posts[0].json();
    assert_eq!(post.as_object().unwrap().keys().collect::<Vec<_>>(), ["blocks", "text"], "{post}");
    assert!(post["text"].as_str().unwrap().starts_with("llmnode daily_spend alert in workspace default: spend"));
    assert_eq!(post["blocks"][0]["type"], json!("section"));
    assert_eq!(post["blocks"][0]["text"]["type"], json!("mrkdwn"));
    assert!(post["blocks"][0]["text"]["text"].as_str().unwrap().contains("spend today is"), "{post}");
    assert_eq!(post["blocks"][1]["type"], json!("context"));

    let alerts: Value = serde_json::from_str(&ok(&cli.run("alerts list --json").await)).unwrap();
    assert!(alerts[0]["delivered_ms"].is_i64() && alerts[0]["delivery_attempts"] == json!(2), "{alerts}");
    let audit = ok(&cli.run("audit --json --action alerts.channel.put").await);
    assert!(audit.contains("\"secret\": \"set\"") || audit.contains("\"secret\":\"set\""), "{audit}");
    ok(&cli.run("alerts show").await);
    ok(&cli.run("alerts channel remove chat").await);
    let gone = cli.run("alerts channel remove chat").await;
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("alert channel `chat` not found"));
    // Sealed at rest: neither secret is anywhere in the data directory.
    assert!(leak::assert_clean_dir(&cli.data) > 0);
}

#[tokio::test]
async fn the_daemon_mails_over_starttls_to_a_server_it_was_told_to_trust_and_survives_one_it_was_not() {
    let s = Setup::new(Duration::ZERO).await;
    let smtp = SmtpServer::starttls("alerts", SMTP_PASSWORD);
    s.cli(&["alerts", "set", "--daily-spend-usd", "0.0000001"]).await;
    let d = s.serve().await;
    let ca = std::fs::read_to_string(smtp.ca.as_ref().unwrap()).unwrap();
    let email = |ca: Option<&str>| {
        json!({ "settings": { "kind": "email", "host": "127.0.0.1", "port": smtp.port, "starttls": "required",
            "auth": "login", "username": "alerts", "from": "alerts@example.test", "to": ["ops@example.test"],
            "ca_pem": ca }, "secret": SMTP_PASSWORD })
    };
    let (status, out) = d.call("PUT", "/api/v1/alerts/channels/ops", &s.admin, Some(email(Some(&ca)))).await;
    assert_eq!(status, 200, "{out}");
    leak::assert_clean("the API's answer", &out.to_string());
    // Without the CA the server's certificate is not trusted: that channel fails, alone.
    let (status, out) = d.call("PUT", "/api/v1/alerts/channels/zz-untrusting", &s.admin, Some(email(None))).await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = d.call("PUT", "/api/v1/alerts/channels/ops", &s.member, Some(email(Some(&ca)))).await;
    assert_eq!(status, 403, "{out}");
    let mut bad = email(Some(&ca));
    bad["settings"]["to"] = json!([]);
    let (status, out) = d.call("PUT", "/api/v1/alerts/channels/bad", &s.admin, Some(bad)).await;
    assert_eq!(status, 400, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("at least one recipient"), "{out}");
    let (_, listed) = d.call("GET", "/api/v1/alerts/channels", &s.member, None).await;
    assert_eq!(listed["channels"].as_array().unwrap().len(), 2, "{listed}");
    leak::assert_clean("the channel list", &listed.to_string());

    let chat = json!({ "model": "openai/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, out) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat)).await;
    assert_eq!(status, 200, "{out}");
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("X-Test-TLS: yes\r\nX-Test-Login: LOGIN:alerts\r\n"), "{}", mails[0]);
    assert!(mails[0].contains("daily_spend alert in workspace default"), "{}", mails[0]);

    // The untrusting channel's failure is noted on the alert; the daemon serves on.
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let (_, alerts) = d.call("GET", "/api/v1/alerts", &s.member, None).await;
        let alert = alerts["alerts"][0].clone();
        if alert["delivery_error"].is_string() || Instant::now() > deadline {
            break alert;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let error = alert["delivery_error"].as_str().unwrap_or_default();
    assert!(error.contains("email channel `zz-untrusting`"), "{alert}");
    assert!(alert["delivered_ms"].is_i64(), "{alert}");
    // A certificate that is not trusted will not become trusted: not retried
    // (the first retry would come after about a second).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, alerts) = d.call("GET", "/api/v1/alerts", &s.member, None).await;
    assert_eq!(alerts["alerts"][0]["delivery_attempts"], json!(2), "{alerts}");
    let (status, _) = d.call("GET", "/api/v1/alerts/channels", &s.member, None).await;
    assert_eq!(status, 200);
    let (status, _) = d.call("DELETE", "/api/v1/alerts/channels/zz-untrusting", &s.admin, None).await;
    assert_eq!(status, 204);
    d.assert_log_clean();
    leak::assert_clean_dir(&s.data());
}
