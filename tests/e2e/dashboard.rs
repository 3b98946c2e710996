//! The dashboard as a person sees it: Debian's Chromium, headless, renders the
//! page the real daemon serves, logs in with a token in the URL fragment and
//! draws connections, the usage chart and the cost tables. The rendered DOM is
//! checked, and so are the screenshot's pixels.

use crate::support::daemon::Setup;
use crate::support::leak;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Chromium as this machine's kind runs it headless, as root, offline.
fn chromium(profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=8000",
        "--window-size=1280,1000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    cmd.output().expect("chromium is needed for this test (Debian package `chromium`)")
}

#[tokio::test]
async fn the_dashboard_renders_in_headless_chromium() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    // Usage to show: three served calls and one failed attempt.
    for model in ["openai/gpt-4o-mini", "openai/gpt-4o-mini", "openai/gpt-4o"] {
        let chat = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        assert_eq!(d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await.0, 200);
    }
    let chat = json!({ "model": "limited/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await.0, 429);

    let url = format!("{}/dashboard/#token={}", d.base, s.admin);
    let profile = tempfile::tempdir().unwrap();
    let (dom_profile, shot_profile) = (profile.path().join("dom"), profile.path().join("shot"));
    let url2 = url.clone();
    let dom = tokio::task::spawn_blocking(move || chromium(&dom_profile, &["--dump-dom"], &url2)).await.unwrap();
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        html.contains("data-loaded=\"true\""),
        "the page did not load its data:\n{html}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(html.contains("alice · default · admin"), "{html}");
    for needle in [
        "data-name=\"openai\"",
        "data-name=\"limited\"",
        "class=\"badge active\"",
        "data-action=\"test\"",
        "gpt-4o",
        "chat.completions",
    ] {
        assert!(html.contains(needle), "{needle} is not on the page:\n{html}");
    }
    let today_bar = html.matches("class=\"bar\"").count();
    assert_eq!(today_bar, 30, "one bar per day of 30:\n{html}");
    assert!(html.contains("data-requests=\"4\""), "today's bar should count 4 requests:\n{html}");
    leak::assert_clean("the rendered dashboard", &html);
    d.assert_log_clean();

    let shot = profile.path().join("dashboard.png");
    let arg = format!("--screenshot={}", shot.display());
    let out = tokio::task::spawn_blocking(move || chromium(&shot_profile, &[&arg], &url)).await.unwrap();
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let count = |rgb: [u8; 3]| {
        pixels.chunks(channels).filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6)).count()
    };
    // The chart's bar (#2f6feb) and the Active badge (#12805c) are drawn.
    assert!(count([0x2f, 0x6f, 0xeb]) > 300, "no chart bar in the screenshot");
    assert!(count([0x12, 0x80, 0x5c]) > 100, "no Active badge in the screenshot");
}
