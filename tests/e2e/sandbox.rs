//! The sandbox holds against a deliberately hostile plugin: each attack fails
//! that call only, with a clear error naming the plugin, and the host and every
//! other plugin keep working.

use crate::support::{self, Reply, Upstream};
use llmnode::engine::NodeStatus;
use llmnode::runtime::bindings::types;
use llmnode::runtime::{PluginError, PluginRuntime, RuntimeConfig};
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-sandbox-4f9a8b7c6d5e4f3a2b1c";

fn request(model: &str) -> types::ChatRequest {
    types::ChatRequest {
        model: model.into(),
        messages: vec![types::Message {
            role: types::Role::User,
            content: vec![types::ContentPart::Text("hi".into())],
            name: None,
            tool_call_id: None,
            tool_calls: Vec::new(),
            cache_breakpoint: false,
        }],
        tools: Vec::new(),
        tool_choice: None,
        response_format: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        stream: false,
        cache: None,
    }
}

fn settings() -> types::ConnectionSettings {
    types::ConnectionSettings {
        base_url: "http://127.0.0.1:9/v1".into(),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    }
}

fn build(model: &str) -> Result<Result<types::PreparedRequest, types::ProviderError>, PluginError> {
    let registry = support::registry();
    let plugin = registry.get("hostile").unwrap();
    plugin.call()?.build_request(&request(model), &settings())
}

/// After any attack, the host still serves real calls.
fn host_still_works() {
    let registry = support::registry();
    let openai = registry.get("openai").unwrap();
    let built = openai.call().unwrap().build_request(&request("gpt-4o-mini"), &settings()).unwrap().unwrap();
    assert!(built.request.url.ends_with("/chat/completions"));
}

#[test]
fn an_infinite_loop_is_stopped_at_the_cpu_deadline() {
    let started = Instant::now();
    let err = build("loop").unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, PluginError::CpuLimit { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("`hostile`") && text.contains("CPU time limit") && text.contains("build-request"), "{text}");
    // 200 ms deadline on 5 ms ticks; generous bound for a loaded CI machine.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    host_still_works();
}

#[test]
fn a_memory_bomb_hits_the_memory_bound() {
    let err = build("memory-bomb").unwrap_err();
    assert!(matches!(err, PluginError::MemoryLimit { limit_mib: 64, .. }), "{err}");
    assert!(err.to_string().contains("memory limit (64 MiB)"), "{err}");
    host_still_works();
}

#[test]
fn a_panic_fails_only_that_call() {
    let err = build("panic").unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("panicked"), "{err}");
    // The same plugin serves its next call from a fresh instance.
    assert!(build("env").unwrap().is_ok());
    host_still_works();
}

#[test]
fn the_plugin_sees_no_environment_files_or_network() {
    let body = |model: &str| String::from_utf8(build(model).unwrap().unwrap().request.body).unwrap();
    assert_eq!(body("env"), "", "the sandbox exposed environment variables");
    let files = body("files");
    assert!(!files.contains("READ") && !files.contains("LISTED"), "{files}");
    assert!(files.contains("DENIED /etc/passwd"), "{files}");
    let socket = body("socket");
    assert!(socket.starts_with("DENIED"), "{socket}");
}

#[test]
fn a_flood_of_log_lines_is_capped() {
    assert!(build("log-flood").unwrap().is_ok());
    let lines = support::logs::text().lines().filter(|l| l.contains("flood line")).count();
    assert!((1..=RuntimeConfig::default().max_log_lines_per_call as usize).contains(&lines), "{lines} lines logged");
}

#[test]
fn garbage_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.wasm");
    std::fs::write(&path, b"\0asm\x0d\0\x01\0 definitely not a component").unwrap();
    let err = support::runtime().load_file(&path).unwrap_err();
    assert!(matches!(err, PluginError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("broken.wasm"), "{err}");
    let missing = support::runtime().load_file(&dir.path().join("absent.wasm")).unwrap_err();
    assert!(missing.to_string().contains("absent.wasm"), "{missing}");
}

#[test]
fn a_tampered_artifact_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(support::wasm("plugin_openai")).unwrap();
    let first = PluginRuntime::new(RuntimeConfig::default(), Some(dir.path())).unwrap();
    first.load(&wasm, "openai.wasm".into()).unwrap();
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("the first load caches an artifact");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();

    let second = PluginRuntime::new(RuntimeConfig::default(), Some(dir.path())).unwrap();
    let plugin = second.load(&wasm, "openai.wasm".into()).unwrap();
    assert_eq!(plugin.name(), "openai");
    assert_ne!(std::fs::read(&artifact).unwrap(), bytes, "the tampered entry was replaced");
    assert!(support::logs::text().contains("failed its integrity check"));
}

/// Attacks on the transport: the plugin builds a request that would leak the key
/// or go elsewhere. Nothing is sent, and the error names the problem.
#[tokio::test]
async fn requests_to_other_origins_or_with_smuggled_credentials_are_refused() {
    let upstream = Upstream::start(|_| Reply::json(200, "{}")).await;
    let engine = support::engine(vec![support::connection("h", "hostile", &upstream.url("/v1"), KEY)]);
    for (attack, expected) in [
        ("exfiltrate", "may only reach"),
        ("smuggle-authorization", "set by the host only"),
        ("huge-headers", "headers"),
    ] {
        let report = support::run(&engine, &support::one_node("h", &[], json!({ "model": attack })), json!({})).await;
        assert!(!report.ok, "{attack} succeeded");
        assert_eq!(report.nodes[0].status, NodeStatus::Failed);
        let error = report.nodes[0].error.clone().unwrap();
        assert!(error.contains(expected), "{attack}: {error}");
        assert!(error.contains("connection `h` (hostile)"), "{attack}: {error}");
        support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    }
    assert!(upstream.seen().is_empty(), "a refused request reached the upstream");
    support::assert_no_leak("the logs", &support::logs::text(), KEY);
}
