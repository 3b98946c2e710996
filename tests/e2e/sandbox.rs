//! The sandbox holds against a deliberately hostile plugin: each attack fails
//! that call only, with a clear error naming the plugin, and the host and every
//! other plugin keep working. (`hostile_plugins.rs` runs the attacks that need
//! the engine, the transport or the artifact cache.)

use crate::support;
use llmnode::runtime::bindings::types;
use llmnode::runtime::{PluginError, RuntimeConfig};
use std::time::{Duration, Instant};

fn build(model: &str) -> Result<Result<types::PreparedRequest, types::ProviderError>, PluginError> {
    let registry = support::registry();
    let plugin = registry.get("hostile").unwrap();
    plugin.call()?.build_request(&support::chat_request(model), &support::plugin_settings("http://127.0.0.1:9/v1"))
}

/// After any attack, the host still serves real calls.
fn host_still_works() {
    let registry = support::registry();
    let openai = registry.get("openai").unwrap();
    let settings = support::plugin_settings("http://127.0.0.1:9/v1");
    let built =
        openai.call().unwrap().build_request(&support::chat_request("gpt-4o-mini"), &settings).unwrap().unwrap();
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
fn a_plugin_log_line_can_neither_forge_a_line_nor_drive_the_terminal() {
    assert!(build("log-forge").unwrap().is_ok());
    let logs = support::logs::text();
    let line = logs.lines().find(|l| l.contains("forge-attempt")).expect("the plugin's line is logged");
    assert!(
        line.contains("forge-attempt\\r\\n2026-01-01T00:00:00Z  WARN forged line\\x1b[2J\\x07\\u{9b}\\u{202e}\\0"),
        "{line}"
    );
    assert!(!logs.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")), "a plugin forged a log line");
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
