//! Every connection setting does what it says, checked the way an operator
//! meets it: through the real binary and daemon, against a loopback upstream
//! that records what arrives. One table walks every `connections add` flag
//! and every API field; an ignored setting fails it.

use crate::support::daemon::{Daemon, KEY, Setup};
use crate::support::{self, Reply, Seen, Upstream, llmnode_command};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

/// An OpenAI answer.
fn openai_answer() -> Vec<u8> {
    support::fixture("openai/spec-examples/default.response.json")
}

/// An Anthropic answer that wrote `cache_write` prompt tokens to the cache.
pub fn anthropic_answer(cache_write: u32) -> String {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{ "type": "text", "text": "Hello from the cache." }],
        "stop_reason": "end_turn",
        "usage": { "input_tokens": 10, "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": 0, "output_tokens": 5 }
    })
    .to_string()
}

/// The upstream every case talks to; the path says how it behaves:
/// `/slow/` answers in two pieces 2 s apart, `/stall/` streams with a 2 s
/// silence, `/flaky/` always fails with 500; otherwise it answers as the
/// provider the path names (Anthropic's `/messages`, OpenAI's
/// `/chat/completions`, model lookups).
async fn upstream() -> Upstream {
    let sse = support::fixture("openai/sse/plain-text.sse");
    Upstream::start(move |seen: &Seen| {
        let uri = seen.uri.as_str();
        let streamed = serde_json::from_slice::<Value>(&seen.body).is_ok_and(|b| b["stream"] == json!(true));
        if uri.contains("/flaky/") {
            return Reply::json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#);
        }
        if uri.ends_with("/messages") {
            return Reply::json(200, anthropic_answer(1_000_000));
        }
        if uri.contains("/models/") {
            return Reply::json(200, r#"{"id":"gpt-4o-mini","object":"model","owned_by":"system"}"#);
        }
        let mut reply = if streamed { Reply::sse(&sse, sse.len()) } else { Reply::json(200, openai_answer()) };
        if uri.contains("/slow/") || uri.contains("/stall/") {
            let body = reply.chunks.concat();
            // The first event whole, then a silence.
            let cut = if streamed { body.windows(2).position(|w| w == b"\n\n").unwrap() + 2 } else { body.len() / 2 };
            reply.chunks = vec![body[..cut].to_vec(), body[cut..].to_vec()];
            reply.delay = Duration::from_secs(2);
        }
        reply
    })
    .await
}

/// What one connection did: the requests it sent and each run's report.
struct Observed {
    seen: Vec<Seen>,
    reports: Vec<Value>,
}

impl Observed {
    fn body(&self, i: usize) -> Value {
        self.seen[i].json()
    }

    fn header(&self, i: usize, name: &str) -> Option<String> {
        self.seen[i].headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }

    fn served(&self, i: usize) -> bool {
        self.reports[i]["ok"] == json!(true)
    }

    fn error(&self, i: usize) -> String {
        self.reports[i]["nodes"][0]["error"].as_str().unwrap_or_default().to_string()
    }
}

type Check = fn(&Observed, &Observed) -> Result<(), String>;

/// The setting refused the call before anything was sent, saying `why`.
fn refused_before_sending(w: &Observed, b: &Observed, why: &str) -> Result<(), String> {
    expect(w.seen.is_empty() && w.error(0).contains(why), w.error(0))?;
    expect(b.served(0), b.error(0))
}

/// The call failed, saying `why`, where the one without the setting was served.
fn failed_where_the_baseline_served(w: &Observed, b: &Observed, why: &str) -> Result<(), String> {
    expect(!w.served(0) && w.error(0).contains(why), w.error(0))?;
    expect(b.served(0), b.error(0))
}

/// The connection with a key sends it; the one without sends none.
fn sends_the_key(w: &Observed, b: &Observed) -> Result<(), String> {
    let (w, b) = (w.header(0, "authorization"), b.header(0, "authorization"));
    expect(w == Some(format!("Bearer {KEY}")) && b.is_none(), format!("{:?} vs {b:?}", w.is_some()))
}

/// One setting: the connection with it (`with`) and without it (`base`),
/// the same on the API, and what must differ.
struct Case {
    /// The setting, as the API names it (a settings field, `secrets.FIELD`, `no_key` or `provider`).
    field: &'static str,
    provider: &'static str,
    /// Where on the upstream the connection points.
    path: &'static str,
    with: &'static [&'static str],
    base: &'static [&'static str],
    /// The same as `with`, as API fields: `settings`, `secrets`, `no_key`.
    api: fn() -> Value,
    /// The node's config beside its messages.
    node: fn() -> Value,
    runs: usize,
    check: Check,
    /// `connections edit` can apply it to an existing connection.
    editable: bool,
}

fn none() -> Value {
    json!({})
}

fn expect(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn cases() -> Vec<Case> {
    let plain = Case {
        field: "",
        provider: "openai",
        path: "/v1",
        with: &[],
        base: &[],
        api: none,
        node: none,
        runs: 1,
        check: |_, _| Ok(()),
        editable: true,
    };
    vec![
        Case {
            field: "base_url",
            path: "/alt/v1",
            api: || json!({ "settings": {} }),
            check: |w, b| {
                let (w, b) = (&w.seen[0].uri, &b.seen[0].uri);
                expect(w.contains("/alt/v1/chat/completions") && !b.contains("/alt/"), format!("{w} vs {b}"))
            },
            ..plain
        },
        Case {
            field: "organization",
            with: &["--organization", "org-settings"],
            api: || json!({ "settings": { "organization": "org-settings" } }),
            check: |w, b| {
                let (w, b) = (w.header(0, "openai-organization"), b.header(0, "openai-organization"));
                expect(w.as_deref() == Some("org-settings") && b.is_none(), format!("{w:?} vs {b:?}"))
            },
            ..plain
        },
        Case {
            field: "headers",
            with: &["--header", "x-trace=abc"],
            api: || json!({ "settings": { "headers": { "x-trace": "abc" } } }),
            check: |w, b| {
                let (w, b) = (w.header(0, "x-trace"), b.header(0, "x-trace"));
                expect(w.as_deref() == Some("abc") && b.is_none(), format!("{w:?} vs {b:?}"))
            },
            ..plain
        },
        Case {
            field: "options",
            provider: "qwen",
            with: &["--option", "enable_thinking=false"],
            api: || json!({ "settings": { "options": { "enable_thinking": "false" } } }),
            check: |w, b| {
                let (w, b) = (w.body(0)["enable_thinking"].clone(), b.body(0)["enable_thinking"].clone());
                expect(w == json!(false) && b.is_null(), format!("{w} vs {b}"))
            },
            ..plain
        },
        Case {
            field: "models",
            with: &["--model", "gpt-4o", "--model", "gpt-4o-mini"],
            api: || json!({ "settings": { "models": ["gpt-4o", "gpt-4o-mini"] } }),
            node: || json!({ "model": "gpt-4.1" }),
            check: |w, b| {
                let says = "does not allow model `gpt-4.1` (its models: `gpt-4o`, `gpt-4o-mini`)";
                expect(w.seen.is_empty() && w.error(0).contains(says), w.error(0))?;
                expect(b.served(0), "the baseline was not served")
            },
            ..plain
        },
        Case {
            field: "default_model",
            with: &["--default-model", "gpt-4.1"],
            api: || json!({ "settings": { "default_model": "gpt-4.1" } }),
            check: |w, b| {
                let (w, b) = (w.body(0)["model"].clone(), b.body(0)["model"].clone());
                expect(w == json!("gpt-4.1") && b == json!("gpt-4o-mini"), format!("{w} vs {b}"))
            },
            ..plain
        },
        Case {
            field: "rpm",
            with: &["--rpm", "1"],
            api: || json!({ "settings": { "rpm": 1 } }),
            runs: 2,
            check: |w, b| {
                expect(w.seen.len() == 1 && w.error(1).contains("1 requests per minute"), w.error(1))?;
                expect(b.seen.len() == 2, "the baseline was limited")
            },
            ..plain
        },
        Case {
            field: "tpm",
            with: &["--tpm", "5"],
            api: || json!({ "settings": { "tpm": 5 } }),
            check: |w, b| refused_before_sending(w, b, "5 tokens per minute"),
            ..plain
        },
        Case {
            field: "daily_budget_usd",
            with: &["--daily-budget-usd", "0.0000001"],
            api: || json!({ "settings": { "daily_budget_usd": 0.0000001 } }),
            check: |w, b| refused_before_sending(w, b, "daily budget"),
            ..plain
        },
        Case {
            field: "timeout_secs",
            path: "/slow/v1",
            with: &["--timeout-secs", "1", "--max-retries", "0"],
            base: &["--max-retries", "0"],
            api: || json!({ "settings": { "timeout_secs": 1.0, "max_retries": 0 } }),
            check: |w, b| failed_where_the_baseline_served(w, b, "not complete within 1.0 s"),
            ..plain
        },
        Case {
            field: "queue_secs",
            with: &["--rpm", "1", "--queue-secs", "30", "--max-retries", "0"],
            base: &["--rpm", "1", "--max-retries", "0"],
            api: || json!({ "settings": { "rpm": 1, "queue_secs": 30.0, "max_retries": 0 } }),
            // The window is seeded with a request 50 s old: with a queue the
            // call waits for it to leave, without one it is refused.
            check: |w, b| {
                expect(w.served(0), w.error(0))?;
                expect(!b.served(0) && b.error(0).contains("requests per minute"), b.error(0))
            },
            ..plain
        },
        Case {
            field: "stream_idle_timeout_secs",
            path: "/stall/v1",
            with: &["--stream-idle-timeout-secs", "1", "--max-retries", "0"],
            base: &["--max-retries", "0"],
            api: || json!({ "settings": { "stream_idle_timeout_secs": 1.0, "max_retries": 0 } }),
            node: || json!({ "stream": true }),
            check: |w, b| failed_where_the_baseline_served(w, b, "stalled: nothing for 1.0 s"),
            ..plain
        },
        Case {
            field: "max_retries",
            path: "/flaky/v1",
            with: &["--max-retries", "1"],
            api: || json!({ "settings": { "max_retries": 1 } }),
            check: |w, b| {
                expect(w.seen.len() == 2 && b.seen.len() == 3, format!("{} vs {}", w.seen.len(), b.seen.len()))
            },
            ..plain
        },
        Case {
            field: "prompt_caching",
            provider: "anthropic",
            path: "",
            with: &["--prompt-caching", "true"],
            api: || json!({ "settings": { "prompt_caching": true } }),
            check: |w, b| {
                let (w, b) = (w.body(0).to_string(), b.body(0).to_string());
                expect(w.contains("cache_control") && !b.contains("cache_control"), format!("{w}\nvs\n{b}"))
            },
            ..plain
        },
        Case {
            field: "prompt_caching",
            provider: "anthropic",
            path: "",
            with: &["--prompt-caching", "false"],
            api: || json!({ "settings": { "prompt_caching": false } }),
            // A node asks for caching; the connection says never.
            node: || json!({ "cache": true }),
            check: |w, b| {
                let (w, b) = (w.body(0).to_string(), b.body(0).to_string());
                expect(!w.contains("cache_control") && b.contains("cache_control"), format!("{w}\nvs\n{b}"))
            },
            ..plain
        },
        Case {
            field: "cache_ttl_secs",
            provider: "anthropic",
            path: "",
            with: &["--prompt-caching", "true", "--cache-ttl-secs", "3600"],
            base: &["--prompt-caching", "true"],
            api: || json!({ "settings": { "prompt_caching": true, "cache_ttl_secs": 3600 } }),
            check: |w, b| {
                let (w, b) = (w.body(0).to_string(), b.body(0).to_string());
                expect(w.contains(r#""ttl":"1h""#) && !b.contains(r#""ttl""#), format!("{w}\nvs\n{b}"))
            },
            ..plain
        },
        Case {
            field: "streaming",
            with: &["--streaming", "false"],
            api: || json!({ "settings": { "streaming": false } }),
            node: || json!({ "stream": true }),
            check: |w, b| {
                let (ws, bs) = (w.body(0)["stream"].clone(), b.body(0)["stream"].clone());
                expect(ws != json!(true) && bs == json!(true), format!("{ws} vs {bs}"))?;
                expect(w.served(0) && b.served(0), format!("{} / {}", w.error(0), b.error(0)))
            },
            ..plain
        },
        Case {
            field: "secrets.api_key",
            with: &["--api-key-env", "K"],
            base: &["--no-key"],
            api: || json!({ "secrets": { "api_key": KEY } }),
            check: sends_the_key,
            ..plain
        },
        Case {
            field: "secrets.api_key",
            with: &["--api-key-stdin"],
            base: &["--no-key"],
            api: || json!({ "secrets": { "api_key": KEY } }),
            check: sends_the_key,
            ..plain
        },
        Case {
            field: "secrets.header:NAME",
            with: &["--api-key-env", "K", "--secret-env", "header:x-extra=K"],
            base: &["--api-key-env", "K"],
            api: || json!({ "secrets": { "api_key": KEY, "header:x-extra": KEY } }),
            check: |w, b| {
                let (w, b) = (w.header(0, "x-extra"), b.header(0, "x-extra"));
                expect(w.as_deref() == Some(KEY) && b.is_none(), format!("{:?} vs {b:?}", w.is_some()))
            },
            ..plain
        },
        Case {
            field: "no_key",
            with: &["--no-key"],
            base: &[],
            api: || json!({ "no_key": true }),
            // Without a key or --no-key the connection is refused at add: no runs.
            runs: 0,
            check: |_, _| Ok(()),
            editable: false,
            ..plain
        },
        Case {
            field: "provider",
            provider: "anthropic",
            path: "",
            api: || json!({}),
            check: |w, b| {
                let (w, b) = (&w.seen[0].uri, &b.seen[0].uri);
                expect(w.ends_with("/v1/messages") && b.ends_with("/chat/completions"), format!("{w} vs {b}"))
            },
            editable: false,
            ..plain
        },
    ]
}

/// Run the CLI with `stdin`; (exit status, stdout, stderr).
async fn cli(s: &Setup, args: Vec<String>, stdin: &'static str) -> Output {
    let mut cmd = llmnode_command(&s.data());
    cmd.args(&args).env("K", KEY).env("LLMNODE_LOG", "warn").stdin(Stdio::piped()).stdout(Stdio::piped());
    cmd.stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    support::leak::assert_clean("CLI output", &String::from_utf8_lossy(&out.stdout));
    support::leak::assert_clean("CLI errors", &String::from_utf8_lossy(&out.stderr));
    out
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `connections add NAME` with the case's provider and base URL, `flags`,
/// and a key and default model unless `flags` chooses them.
fn add_args(name: &str, provider: &str, url: &str, flags: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["connections", "add", name, "--base-url", url].map(String::from).to_vec();
    if !flags.contains(&"--provider") {
        args.extend(["--provider".to_string(), provider.to_string()]);
    }
    let keyed = flags.iter().any(|f| matches!(*f, "--api-key-env" | "--api-key-stdin" | "--no-key"));
    if !keyed {
        args.extend(["--api-key-env".into(), "K".into()]);
    }
    if !flags.contains(&"--default-model") {
        let model = match provider {
            "anthropic" => "claude-sonnet-4-5",
            "qwen" => "qwen-plus",
            _ => "gpt-4o-mini",
        };
        args.extend(["--default-model".into(), model.into()]);
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    args
}

/// Seed the connection's RPM window with one request 50 s old.
fn seed_rpm_window(s: &Setup, connection: &str) {
    let store = llmnode::store::Store::open(s.data().join(llmnode::store::FILE_NAME)).unwrap();
    let ws = llmnode::store::workspaces::get(store.db(), "default").unwrap();
    let mut window = llmnode::limits::window::Window::default();
    let now = llmnode::store::now_ms();
    window.add(now - 50_000, 1);
    llmnode::store::limit_rows::set_window(store.db(), ws.id, connection, "rpm", &window.to_bytes()).unwrap();
}

/// Add the connection, run the case's node `runs` times, and collect what
/// reached the upstream under its path.
async fn observe(s: &Setup, up: &Upstream, case: &Case, name: &str, flags: &[&str]) -> Observed {
    let url = up.url(&format!("/{name}{}", case.path));
    let provider = if flags.contains(&"--provider") { "anthropic" } else { case.provider };
    let add = cli(s, add_args(name, case.provider, &url, flags), KEY).await;
    assert!(add.status.success(), "{}: add {name}: {}", case.field, text(&add));
    if case.field == "queue_secs" {
        seed_rpm_window(s, name);
    }
    let mut node = (case.node)();
    node["model"] = node.get("model").cloned().unwrap_or(Value::Null);
    if node["model"].is_null() {
        node.as_object_mut().unwrap().remove("model");
    }
    let wf = s.dir.path().join(format!("{name}.json"));
    std::fs::write(&wf, support::one_node(name, &[], node)).unwrap();
    let mut reports = Vec::new();
    for _ in 0..case.runs {
        let out = cli(s, vec!["run".into(), wf.display().to_string(), "--json".into()], "").await;
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}: {provider} run gave no report: {}", case.field, text(&out)));
        reports.push(report);
    }
    let prefix = format!("/{name}/");
    let seen = up.seen().into_iter().filter(|r| r.uri.starts_with(&prefix)).collect();
    Observed { seen, reports }
}

/// The stored settings and secret fields of a connection, as the API shows them.
async fn stored(d: &Daemon, token: &str, name: &str) -> (Value, Vec<String>) {
    let (status, c) = d.call("GET", &format!("/api/v1/connections/{name}"), token, None).await;
    assert_eq!(status, 200, "{c}");
    let mut settings = c["settings"].clone();
    settings.as_object_mut().unwrap().remove("base_url");
    let fields = c["secrets"].as_array().unwrap().iter().map(|s| s["field"].as_str().unwrap().to_string()).collect();
    (settings, fields)
}

/// The long flags `connections add` accepts, but the global ones.
fn add_flags(help: &str) -> BTreeSet<String> {
    let global = ["--data-dir", "--store", "--plugins-dir", "--log", "--workspace", "--help", "--version"];
    help.lines()
        .filter_map(|l| l.trim_start().split([' ', ',']).find(|w| w.starts_with("--")))
        .map(str::to_string)
        .filter(|f| !global.contains(&f.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_connection_setting_changes_what_is_sent_or_allowed() {
    let s = Setup::new(Duration::ZERO).await;
    let up = upstream().await;
    let d = s.serve().await;
    let cases = cases();

    // Every flag and every API field has a case: a setting added without one fails here.
    let help = s.cli(&["connections", "add", "--help"]).await;
    let covered: BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.with.iter().chain(c.base))
        .filter(|f| f.starts_with("--"))
        .map(|f| f.to_string())
        .collect();
    let mut needed = add_flags(&help);
    // Every case passes these two; their own cases vary them.
    for (flag, field) in [("--provider", "provider"), ("--base-url", "base_url")] {
        assert!(cases.iter().any(|c| c.field == field));
        needed.remove(flag);
    }
    let missing: Vec<&String> = needed.difference(&covered).collect();
    assert!(missing.is_empty(), "flags with no case: {missing:?}");
    let (_, spec) = d.call("GET", "/openapi.json", &s.admin, None).await;
    let schemas = &spec["components"]["schemas"];
    let fields: BTreeSet<String> = schemas["ConnectionSettings"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .chain(["secrets.api_key", "secrets.header:NAME", "no_key", "provider"].map(String::from))
        .collect();
    let with_case: BTreeSet<String> = cases.iter().map(|c| c.field.to_string()).collect();
    let missing: Vec<&String> = fields.difference(&with_case).collect();
    assert!(missing.is_empty(), "API fields with no case: {missing:?}");
    for key in schemas["NewConnection"]["properties"].as_object().unwrap().keys() {
        assert!(["name", "provider", "settings", "secrets", "no_key"].contains(&key.as_str()), "{key} has no case");
    }

    // Each case, all at once: the connection with the setting and without.
    let runs = cases.iter().enumerate().map(|(i, case)| {
        let (s, up) = (&s, &up);
        async move {
            let with_name = format!("c{i}-with");
            let base_name = format!("c{i}-base");
            let base_flags: Vec<&str> = match case.field {
                "provider" => vec!["--provider", "openai"],
                _ => case.base.to_vec(),
            };
            let with_flags: Vec<&str> = match case.field {
                "provider" => vec!["--provider", "anthropic"],
                _ => case.with.to_vec(),
            };
            if case.field == "no_key" {
                let url = up.url("/v1");
                let keyless = ["connections", "add", &base_name, "--provider", "openai", "--base-url", &url];
                let refused = cli(s, keyless.map(String::from).to_vec(), "").await;
                let why = text(&refused);
                assert!(!refused.status.success() && why.contains("needs credentials"), "{why}");
                let refused = cli(s, add_args(&base_name, "openai", &up.url("/v1"), &["--no-key"]), "").await;
                assert!(refused.status.success(), "{}", text(&refused));
                return (case, with_name, None);
            }
            let base_case = Case {
                provider: if case.field == "provider" { "openai" } else { case.provider },
                path: if case.field == "base_url" { "/v1" } else { case.path },
                ..*case
            };
            let with = observe(s, up, case, &with_name, &with_flags).await;
            let base = observe(s, up, &base_case, &base_name, &base_flags).await;
            if let Err(why) = (case.check)(&with, &base) {
                panic!("setting `{}` ({:?}) had no effect: {why}", case.field, case.with);
            }
            (case, with_name, Some(()))
        }
    });
    // A few at a time: the timing cases must not starve on a busy machine.
    let mut done: Vec<_> = futures_util::stream::iter(runs).buffered(2).collect().await;
    done.sort_by_key(|(_, name, _)| name.clone());

    // The API's fields, and `connections edit`'s flags, store exactly what `add` stored.
    for (i, (case, with_name, _)) in done.into_iter().enumerate() {
        if case.field == "provider" {
            continue;
        }
        let api_name = format!("c{i}-api");
        let mut body = (case.api)();
        let provider = case.provider;
        body["name"] = json!(api_name);
        body["provider"] = json!(provider);
        let settings = body.get("settings").cloned().unwrap_or(json!({}));
        let mut settings = settings.as_object().unwrap().clone();
        settings.insert("base_url".into(), json!(up.url("/api")));
        let add = add_args("x", provider, "u", case.with);
        if let Some(at) = add.iter().position(|a| a == "--default-model") {
            settings.entry("default_model").or_insert(json!(add[at + 1]));
        }
        body["settings"] = Value::Object(settings);
        if body.get("secrets").is_none() && body.get("no_key").is_none() {
            body["secrets"] = json!({ "api_key": KEY });
        }
        let (status, created) = d.call("POST", "/api/v1/connections", &s.admin, Some(body.clone())).await;
        assert_eq!(status, 201, "{}: {body} → {created}", case.field);
        if case.field == "no_key" {
            let mut refused = body.clone();
            refused["name"] = json!(format!("c{i}-api-refused"));
            refused.as_object_mut().unwrap().remove("no_key");
            let (status, answer) = d.call("POST", "/api/v1/connections", &s.admin, Some(refused)).await;
            assert_eq!(status, 400, "{answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains("needs credentials"), "{answer}");
            continue;
        }
        assert_eq!(stored(&d, &s.admin, &api_name).await, stored(&d, &s.admin, &with_name).await, "{}", case.field);

        if case.editable {
            let edit_name = format!("c{i}-edit");
            let keyed = case.with.iter().any(|f| f.starts_with("--api-key"));
            let first: &[&str] = if keyed { &["--no-key"] } else { &[] };
            let add = cli(&s, add_args(&edit_name, provider, &up.url("/e"), first), "").await;
            assert!(add.status.success(), "{}", text(&add));
            let mut edit: Vec<String> = ["connections", "edit", &edit_name].map(String::from).to_vec();
            edit.extend(case.with.iter().map(|f| f.to_string()));
            let edited = cli(&s, edit, KEY).await;
            assert!(edited.status.success(), "{}: {}", case.field, text(&edited));
            assert_eq!(
                stored(&d, &s.admin, &edit_name).await,
                stored(&d, &s.admin, &with_name).await,
                "{}",
                case.field
            );
        }
    }
    d.assert_log_clean();
}
