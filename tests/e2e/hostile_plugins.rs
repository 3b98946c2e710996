//! Hostile plugins run through the engine, inside its async runtime, against a
//! real upstream on loopback: each attack fails that call with a clear error
//! naming the plugin, nothing unsafe reaches the upstream, no key leaks, and
//! the next call through a good plugin succeeds. (`sandbox.rs` holds the
//! runtime-level bounds: CPU, memory, panics, log floods, garbage files.)

use crate::support::{self, Reply, Upstream, leak};
use llmnode::engine::{Engine, NodeStatus};
use llmnode::runtime::bindings::types::AuthScheme;
use llmnode::runtime::{PluginError, PluginRuntime, RuntimeConfig};
use llmnode::transport::Transport;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KEY: &str = "fake-hostile-key-for-tests-5a6b7c8d9e0f";

/// A loopback upstream answering every request like OpenAI, an engine with a
/// hostile connection `h` and a good OpenAI one `ok`, both pointing at it.
struct World {
    upstream: Upstream,
    engine: Engine,
}

async fn world() -> World {
    let body = support::fixture("openai/spec-examples/default.response.json");
    let upstream = Upstream::start(move |_| Reply::json(200, body.clone())).await;
    let url = upstream.url("/v1");
    let engine = support::engine(vec![
        support::connection("h", "hostile", &url, KEY),
        support::connection("ok", "openai", &url, KEY),
    ]);
    World { upstream, engine }
}

impl World {
    /// Run the hostile connection with `attack` as the model; the node's error.
    async fn attack(&self, attack: &str) -> String {
        let workflow = support::one_node("h", &[], json!({ "model": attack }));
        let report = support::run(&self.engine, &workflow, json!({})).await;
        assert!(!report.ok, "{attack} succeeded");
        assert_eq!(report.nodes[0].status, NodeStatus::Failed);
        let error = report.nodes[0].error.clone().unwrap();
        assert!(error.contains("connection `h` (hostile)"), "{attack}: the error does not name the plugin: {error}");
        support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
        error
    }

    /// The good plugin still answers, through the same engine.
    async fn good_call_succeeds(&self) {
        let report = support::run(&self.engine, &support::one_node("ok", &[], json!({})), json!({})).await;
        assert!(report.ok, "the host stopped serving good calls: {report:#?}");
        assert!(!report.nodes[0].output.as_ref().unwrap()["text"].as_str().unwrap().is_empty());
    }

    /// Bodies of the requests that reached the upstream from the hostile plugin.
    fn hostile_bodies(&self) -> Vec<String> {
        self.upstream
            .seen()
            .iter()
            .filter(|s| !s.body.starts_with(b"{"))
            .map(|s| String::from_utf8_lossy(&s.body).into_owned())
            .collect()
    }
}

#[tokio::test]
async fn println_from_a_plugin_goes_nowhere_and_disturbs_nothing() {
    let w = world().await;
    // The request was built and sent: printing neither failed the call nor
    // panicked the engine; the error is the hostile plugin refusing to parse.
    let error = w.attack("println").await;
    assert!(error.contains("hostile plugins parse nothing"), "{error}");
    let bodies = w.hostile_bodies();
    assert!(!bodies.is_empty() && bodies.iter().all(|b| b == "printed 200 lines"), "{bodies:?}");
    assert!(!support::logs::text().contains("hostile stdout line"), "plugin stdout reached the host's logs");
    w.good_call_succeeds().await;
    leak::assert_logs_clean();
}

#[tokio::test]
async fn waiting_is_refused_at_once_and_clock_spinning_meets_the_cpu_deadline() {
    let w = world().await;
    let started = Instant::now();
    let error = w.attack("sleep").await;
    assert!(error.contains("tried to wait") && error.contains("crashed in build-request"), "{error}");
    // The plugin asked for 30 s; the host did not lend it a thread for that.
    assert!(started.elapsed() < Duration::from_secs(5), "a sleeping plugin held the host for {:?}", started.elapsed());

    let started = Instant::now();
    let error = w.attack("clock-spin").await;
    assert!(error.contains("CPU time limit"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(w.upstream.seen().is_empty());
    w.good_call_succeeds().await;
}

#[tokio::test]
async fn a_flood_of_resource_handles_is_stopped() {
    let w = world().await;
    let error = w.attack("handle-flood").await;
    assert!(error.contains("crashed in build-request") && error.contains("more than 1024 resource handles"), "{error}");
    assert!(w.upstream.seen().is_empty());
    w.good_call_succeeds().await;
}

#[tokio::test]
async fn inside_the_engine_the_plugin_sees_no_environment_files_sockets_or_names() {
    let w = world().await;
    for probe in ["env", "files", "socket", "udp-dns"] {
        w.attack(probe).await;
    }
    let bodies = w.hostile_bodies();
    // Each probe's request is sent (and retried) as the plugin built it.
    let bodies: Vec<String> = {
        let mut unique = bodies.clone();
        unique.dedup();
        unique
    };
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(bodies[0], "", "the sandbox exposed environment variables");
    assert!(bodies[1].contains("DENIED /etc/passwd") && !bodies[1].contains("READ"), "{}", bodies[1]);
    assert!(bodies[2].starts_with("DENIED"), "{}", bodies[2]);
    assert!(bodies[3].contains("UDP DENIED") && bodies[3].contains("DNS DENIED"), "{}", bodies[3]);
    w.good_call_succeeds().await;
}

#[tokio::test]
async fn oversize_output_is_refused_before_anything_is_sent() {
    let w = world().await;
    for (attack, expected) in [
        ("huge-url", "URL of"),
        ("huge-headers", "at most 64 headers"),
        ("huge-header-value", "32768-byte bound"),
        // An API-key connection refuses the directive before its scopes are
        // read (google_auth.rs bounds the scopes of a service-account one).
        ("scope-flood", "holds no service-account key"),
    ] {
        let error = w.attack(attack).await;
        assert!(error.contains(expected), "{attack}: {error}");
    }
    assert!(w.upstream.seen().is_empty(), "an oversize request reached the upstream");
    w.good_call_succeeds().await;
}

/// A body one byte over the bound, built by the real plugin and handed to the
/// real transport. (Through the engine a debug build spends about the whole CPU
/// deadline copying 32 MiB out of the sandbox, so the plugin gets more time.)
#[tokio::test]
async fn a_request_body_over_32_mib_is_refused_by_the_transport() {
    let w = world().await;
    let config = RuntimeConfig { cpu_deadline: Duration::from_secs(30), ..RuntimeConfig::default() };
    let runtime = PluginRuntime::new(config, None).unwrap();
    let plugin = runtime.load_file(&support::wasm("test_plugin_hostile")).unwrap();
    let base = w.upstream.url("/v1");
    let request = support::chat_request("huge-body");
    let prepared = plugin.call().unwrap().build_request(&request, &support::plugin_settings(&base)).unwrap().unwrap();
    let target =
        support::connection("h", "hostile", &base, KEY).target(&url::Url::parse(&base).unwrap(), AuthScheme::ApiKey);
    let err = Transport::new().unwrap().send(prepared, &target).await.err().expect("a 32 MiB + 1 body was sent");
    assert!(err.to_string().contains("body of 33554433 bytes (at most 33554432)"), "{err}");
    assert!(w.upstream.seen().is_empty());
    w.good_call_succeeds().await;
}

/// The plugin builds a request that would leak the key, go elsewhere, or
/// confuse the upstream's routing and framing. Nothing is sent.
#[tokio::test]
async fn requests_elsewhere_or_with_smuggled_credentials_or_routing_headers_are_refused() {
    let w = world().await;
    let host_only = "set by the host only";
    let mut attacks = vec![
        ("exfiltrate".to_string(), "may only reach"),
        ("userinfo-url".to_string(), "credentials in the URL are not allowed"),
        ("key-in-host-header".to_string(), "an API key may only be sent in"),
    ];
    for header in [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "x-api-key",
        "X-Api-Key",
        "Host",
        "Cookie",
        "Content-Length",
        "Transfer-Encoding",
    ] {
        attacks.push((format!("smuggle:{header}"), host_only));
    }
    for (attack, expected) in &attacks {
        let error = w.attack(attack).await;
        assert!(error.contains(expected), "{attack}: {error}");
    }
    assert!(w.upstream.seen().is_empty(), "a refused request reached the upstream");
    w.good_call_succeeds().await;
    leak::assert_logs_clean();
}

#[tokio::test]
async fn a_plugin_built_for_contract_9_is_refused_naming_the_versions() {
    let path = support::wasm("test_plugin_future_contract");
    let err = support::runtime().load_file(&path).unwrap_err();
    assert!(matches!(err, PluginError::Contract { .. }), "{err}");
    let text = err.to_string();
    for needle in ["llmnode_test_plugin_future_contract.wasm", "llmnode:provider@9.0.0", "supported: 0.1.0, 0.2.0"] {
        assert!(text.contains(needle), "missing {needle:?}: {text}");
    }
    world().await.good_call_succeeds().await;
}

/// The `.cwasm` entries of a cache directory.
fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    found.sort();
    found
}

/// Precompiled artifacts are native code: one flipped, swapped with another
/// plugin's, or cut short is never loaded; the plugin is compiled again and
/// works, and the damaged entry is replaced.
#[test]
fn tampered_swapped_or_truncated_artifacts_are_never_loaded() {
    support::logs::install();
    let plugins = [("hostile", "test_plugin_hostile", "env"), ("openai", "plugin_openai", "gpt-4o-mini")];
    let wasm: Vec<Vec<u8>> = plugins.iter().map(|(_, file, _)| std::fs::read(support::wasm(file)).unwrap()).collect();
    // Compile once; each kind of damage gets its own copy of the cache.
    let pristine = tempfile::tempdir().unwrap();
    let first = PluginRuntime::new(RuntimeConfig::default(), Some(pristine.path())).unwrap();
    for ((name, _, _), bytes) in plugins.iter().zip(&wasm) {
        first.load(bytes, format!("{name}.wasm")).unwrap();
    }
    assert_eq!(artifacts(pristine.path()).len(), 2, "each load caches an artifact");

    let tampered = |damage: &dyn Fn(&[PathBuf])| {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(pristine.path()).unwrap() {
            let from = entry.unwrap().path();
            std::fs::copy(&from, dir.path().join(from.file_name().unwrap())).unwrap();
        }
        let before = artifacts(dir.path());
        damage(&before);
        let damaged: Vec<Vec<u8>> = before.iter().map(|p| std::fs::read(p).unwrap()).collect();

        let second = PluginRuntime::new(RuntimeConfig::default(), Some(dir.path())).unwrap();
        for ((name, _, model), bytes) in plugins.iter().zip(&wasm) {
            let plugin = second.load(bytes, format!("{name}.wasm")).unwrap();
            assert_eq!(plugin.name(), *name);
            let settings = support::plugin_settings("https://example.invalid/v1");
            let built =
                plugin.call().unwrap().build_request(&support::chat_request(model), &settings).unwrap().unwrap();
            assert!(built.request.url.starts_with("https://example.invalid/"), "{name}");
        }
        let after: Vec<Vec<u8>> = before.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(after.iter().zip(&damaged).any(|(a, d)| a != d), "the damaged entries were not replaced");
    };

    let flip = |paths: &[PathBuf]| {
        let mut bytes = std::fs::read(&paths[0]).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&paths[0], bytes).unwrap();
    };
    let swap = |paths: &[PathBuf]| {
        let (a, b) = (std::fs::read(&paths[0]).unwrap(), std::fs::read(&paths[1]).unwrap());
        std::fs::write(&paths[0], b).unwrap();
        std::fs::write(&paths[1], a).unwrap();
    };
    let truncate = |paths: &[PathBuf]| {
        let bytes = std::fs::read(&paths[0]).unwrap();
        std::fs::write(&paths[0], &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(&paths[1], &bytes[..10]).unwrap();
    };
    for damage in [&flip as &dyn Fn(&[PathBuf]), &swap, &truncate] {
        tampered(damage);
    }
    let logs = support::logs::text();
    assert!(logs.matches("failed its integrity check").count() >= 5, "every damaged entry is reported");
}

/// A request too large for the sandbox (6 MB of control characters: six
/// bytes each once a plugin writes them as JSON) is the caller's fault, named
/// with the bound it met: `invalid_request`, no failover, nothing sent. (A
/// hostile plugin's own loop on a small request stays a plugin fault:
/// `sandbox.rs`.)
#[tokio::test]
async fn a_request_too_large_for_the_plugin_memory_is_an_invalid_request() {
    let w = world().await;
    let messages = json!([{ "role": "user", "content": "\u{1}".repeat(6 << 20) }]);
    let node = support::one_node("ok", &["h"], json!({ "model": "model-with-no-table-entry", "messages": messages }));
    let report = support::run(&w.engine, &node, json!({})).await;
    assert!(!report.ok);
    let error = report.nodes[0].error.clone().unwrap();
    // Whichever bound it meets first (memory, or CPU on a loaded machine) is named.
    let named = error.contains("too large for the plugin's 64 MiB memory bound")
        || error.contains("too large for the plugin's 200 ms CPU bound");
    assert!(named, "{error}");
    assert_eq!(report.attempts[0].error, Some(llmnode::error_class::ErrorClass::InvalidRequest), "{report:#?}");
    assert_eq!(report.attempts.len(), 1, "an invalid request neither retries nor fails over");
    assert!(w.upstream.seen().is_empty());
    w.good_call_succeeds().await;
}
