//! The plugin kit through the real binary, as an integrator and an operator
//! use it: scaffold a plugin in an empty directory, build it for wasm32-wasip2,
//! replay its fixtures, install it by digest and run a workflow through it
//! against a loopback upstream. Also: the Ollama example built and tested only
//! through the kit, and a plugin built for contract 0.1.0 on this host.
//!
//! Plugin builds share one cargo target directory under the workspace's, so
//! the SDK and wit-bindgen are compiled for wasm32 once per machine.

use crate::support::{self, Reply, Upstream};
use llmnode::connections::ConnectionSet;
use llmnode::engine::Engine;
use llmnode::runtime::bindings::types;
use llmnode::runtime::{ContractVersion, PluginError, PluginRegistry};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

const KEY: &str = "sk-test-kit-7f8e9d0c1b2a3f4e5d6c";

/// The shared target directory for plugin builds: `<target>/kit-plugins`.
fn plugin_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/debug/deps/e2e-…
    exe.ancestors().nth(3).unwrap().join("kit-plugins")
}

/// Run the binary in `cwd` with `data` as its data directory.
async fn llmnode(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    let mut cmd = support::llmnode_command(data);
    cmd.current_dir(cwd)
        .args(args)
        .env("CARGO_TARGET_DIR", plugin_target_dir())
        .env("K", KEY)
        .env("LLMNODE_LOG", "warn");
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status.code());
    support::assert_no_leak("stdout", &stdout, KEY);
    support::assert_no_leak("stderr", &stderr, KEY);
    stdout
}

/// `plugin build DIR`: the component's path and the digest it printed.
async fn build(cwd: &Path, data: &Path, dir: &Path) -> (PathBuf, String) {
    let built = ok(&llmnode(cwd, data, &["plugin", "build", dir.to_str().unwrap()]).await);
    let install = built.lines().find_map(|l| l.strip_prefix("install with: llmnode plugins install ")).unwrap();
    let (wasm, sha256) = install.split_once(" --sha256 ").unwrap();
    assert!(built.contains(&format!("sha256        {sha256}")) && built.contains("size "), "{built}");
    assert!(built.contains("contract      llmnode:provider@0.4.0"), "{built}");
    (PathBuf::from(wasm), sha256.to_string())
}

#[tokio::test]
async fn scaffold_build_test_install_and_run_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (cwd, data) = (dir.path().join("work"), dir.path().join("data"));
    std::fs::create_dir(&cwd).unwrap();
    ok(&llmnode(&cwd, &data, &["init"]).await);

    let created = ok(&llmnode(&cwd, &data, &["plugin", "new", "acme-ai"]).await);
    assert!(created.contains("fixtures/hello.json") && created.contains("README.md"), "{created}");
    let crate_dir = cwd.join("acme-ai");
    let (wasm, sha256) = build(&cwd, &data, &crate_dir).await;
    assert!(wasm.ends_with("wasm32-wasip2/plugin/acme_ai.wasm"), "{}", wasm.display());

    // The scaffold's first test passes natively, as its README says.
    let mut cargo = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&crate_dir).args(["test", "--quiet"]).env("CARGO_TARGET_DIR", plugin_target_dir());
    let native = tokio::task::spawn_blocking(move || cargo.output().unwrap()).await.unwrap();
    let (stdout, stderr) = text(&native);
    assert!(native.status.success() && stdout.contains("2 passed"), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let passed =
        ok(&llmnode(&cwd, &data, &["plugin", "test", wasm.to_str().unwrap(), "--fixtures", "acme-ai/fixtures"]).await);
    assert!(passed.contains("ok   acme-ai/fixtures/hello.json") && passed.contains("1 passed, 0 failed"), "{passed}");

    // A fixture the plugin does not satisfy: non-zero exit, the JSON path and both values.
    let mut wrong: Value =
        serde_json::from_str(&std::fs::read_to_string(crate_dir.join("fixtures/hello.json")).unwrap()).unwrap();
    wrong["expect"]["response"]["text"] = json!("Goodbye!");
    wrong["expect"]["request"]["auth"] = json!({ "header": "x-api-key" });
    std::fs::create_dir(cwd.join("failing")).unwrap();
    std::fs::write(cwd.join("failing/wrong.json"), wrong.to_string()).unwrap();
    let failed = llmnode(&cwd, &data, &["plugin", "test", wasm.to_str().unwrap(), "--fixtures", "failing"]).await;
    let (stdout, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("FAIL failing/wrong.json"), "{stdout}");
    assert!(stdout.contains(r#"$.expect.response.text: expected "Goodbye!", got "Hello!""#), "{stdout}");
    assert!(stdout.contains(r#"$.expect.request.auth: expected {"header":"x-api-key"}, got "bearer""#), "{stdout}");
    assert!(stderr.contains("1 of 1 fixtures failed against plugin `acme-ai`"), "{stderr}");

    // A fixture not in the format: exit 2, the file and the JSON path named.
    std::fs::write(cwd.join("failing/wrong.json"), r#"{"call": {}, "interactions": [{"request": {"method": "POST", "url": "x"}, "response": {"status": "ok"}}], "expect": {}}"#).unwrap();
    let bad = llmnode(&cwd, &data, &["plugin", "test", wasm.to_str().unwrap(), "--fixtures", "failing"]).await;
    let (_, stderr) = text(&bad);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("failing/wrong.json") && stderr.contains("at $.interactions[0].response.status"),
        "{stderr}"
    );

    // A wrong digest is refused before anything is copied or recorded.
    let wrong_digest = "0".repeat(64);
    let refused =
        llmnode(&cwd, &data, &["plugins", "install", wasm.to_str().unwrap(), "--sha256", &wrong_digest]).await;
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&sha256) && stderr.contains("nothing was installed"), "{stderr}");
    assert!(!data.join("plugins").exists());
    assert!(!ok(&llmnode(&cwd, &data, &["plugins", "list"]).await).contains("acme-ai"));

    // The right digest installs it, compiled once into the artifact cache.
    let installed =
        ok(&llmnode(&cwd, &data, &["plugins", "install", wasm.to_str().unwrap(), "--sha256", &sha256]).await);
    assert!(installed.contains("installed plugin `acme-ai` 0.1.0 (contract 0.4.0"), "{installed}");
    let cached: Vec<_> = std::fs::read_dir(data.join("cache/plugins"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&sha256) && n.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let list = ok(&llmnode(&cwd, &data, &["plugins", "list"]).await);
    assert!(list.lines().any(|l| l.starts_with("acme-ai") && l.contains("0.4.0")), "{list}");

    // A workflow runs through it: the host adds the key, the plugin never sees it.
    let upstream = Upstream::start(|_| {
        Reply::json(
            200,
            r#"{"id":"c1","object":"chat.completion","model":"acme-ai-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hi from acme"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3}}"#,
        )
    })
    .await;
    let connections = format!(
        "[[connection]]\nname = \"acme\"\nprovider = \"acme-ai\"\nbase_url = \"{}\"\napi_key_env = \"K\"\ndefault_model = \"acme-ai-chat\"\n",
        upstream.url("/v1")
    );
    std::fs::write(cwd.join("connections.toml"), connections).unwrap();
    std::fs::write(cwd.join("hello.json"), support::one_node("acme", &[], json!({ "model": "acme-ai-chat" }))).unwrap();
    let run = ok(&llmnode(&cwd, &data, &["run", "hello.json", "--connections", "connections.toml", "--json"]).await);
    let report: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["output"]["text"], "Hi from acme", "{report}");
    let seen = upstream.seen();
    assert_eq!((seen.len(), seen[0].uri.as_str()), (1, "/v1/chat/completions"));
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}"));

    ok(&llmnode(&cwd, &data, &["plugins", "remove", "acme-ai"]).await);
    assert!(!ok(&llmnode(&cwd, &data, &["plugins", "list"]).await).contains("acme-ai"));
}

#[tokio::test]
async fn the_ollama_example_is_built_and_tested_only_through_the_kit() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let data = tempfile::tempdir().unwrap();
    let (wasm, _) = build(&root, data.path(), &root.join("examples/third-party-plugin")).await;
    let fixtures = root.join("examples/third-party-plugin/fixtures");
    let tested = ok(&llmnode(
        &root,
        data.path(),
        &["plugin", "test", wasm.to_str().unwrap(), "--fixtures", fixtures.to_str().unwrap()],
    )
    .await);
    assert!(
        tested.contains("4 passed, 0 failed") && tested.contains("ok   ") && tested.contains("embeddings.json"),
        "{tested}"
    );

    // Embeddings (contract 0.2.0 and later), through the host's runtime.
    let plugin = support::runtime().load_file(&wasm).unwrap();
    assert_eq!(plugin.contract(), ContractVersion::latest());
    assert!(plugin.info().capabilities.contains(types::Capabilities::EMBEDDINGS));
    let connection = types::ConnectionSettings {
        base_url: "http://127.0.0.1:11434/v1".into(),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    };
    let request = types::EmbeddingRequest {
        model: "nomic-embed-text".into(),
        inputs: vec!["a".into(), "b".into()],
        dimensions: None,
    };
    let mut call = plugin.call().unwrap();
    let prepared = call.build_embedding_request(&request, &connection).unwrap().unwrap();
    assert_eq!(prepared.request.url, "http://127.0.0.1:11434/v1/embeddings");
    let body = br#"{"object":"list","data":[{"embedding":[0.5,0.25],"index":0},{"embedding":[1.0,0.0],"index":1}],"model":"nomic-embed-text","usage":{"prompt_tokens":2}}"#;
    let response = types::HttpResponse { status: 200, headers: Vec::new(), body: body.to_vec() };
    let parsed = call.parse_embedding_response(&response).unwrap().unwrap();
    assert_eq!(parsed.vectors, vec![vec![0.5, 0.25], vec![1.0, 0.0]]);
}

#[tokio::test]
async fn a_plugin_built_for_contract_0_1_runs_on_this_host() {
    let plugin = support::runtime().load_file(&support::wasm("test_plugin_contract_v0_1")).unwrap();
    assert_eq!((plugin.contract(), plugin.info().contract_version.as_str()), (ContractVersion::V0_1, "0.1.0"));
    assert_eq!(plugin.info().models[0].capabilities, types::Capabilities::STREAMING);

    let upstream = Upstream::start(|seen| {
        if seen.json()["stream"] == true {
            Reply::sse(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", 7)
        } else {
            Reply::json(200, r#"{"id":"l1","model":"legacy-model","choices":[{"message":{"content":"Hello, 0.1"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":3}}"#)
        }
    })
    .await;
    let mut registry = PluginRegistry::default();
    registry.insert(plugin);
    let mut set = ConnectionSet::default();
    set.insert(support::connection("old", "legacy-v0-1", &upstream.url("/v1"), KEY));
    let engine = Engine::new(&set, &registry).unwrap();
    for (stream, text) in [(false, "Hello, 0.1"), (true, "Hello")] {
        let workflow =
            support::one_node("old", &[], json!({ "model": "legacy-model", "stream": stream, "max_tokens": 9 }));
        let report = support::run(&engine, &workflow, json!({})).await;
        assert!(report.ok, "{report:#?}");
        let output = report.nodes[0].output.clone().unwrap();
        assert_eq!(output["text"], text, "{output}");
        assert_eq!(output["finish_reason"], "stop", "{output}");
        assert!(report.attempts[0].usage.output > 0, "{:?}", report.attempts[0]);
    }
    let seen = upstream.seen();
    assert_eq!(seen[0].json()["max_tokens"], 9);
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}"));

    // 0.1.0 has no embeddings: the host says so rather than calling into nothing.
    let plugin = registry.get("legacy-v0-1").unwrap();
    let request = types::EmbeddingRequest { model: "legacy-model".into(), inputs: vec!["x".into()], dimensions: None };
    let connection = types::ConnectionSettings {
        base_url: upstream.url("/v1"),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    };
    let err = plugin.call().unwrap().build_embedding_request(&request, &connection).unwrap_err();
    assert!(matches!(err, PluginError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("built against contract 0.1.0"), "{err}");
}

#[tokio::test]
async fn a_plugin_for_an_unknown_contract_version_is_refused_by_name() {
    // The 0.1.0 plugin with its export renamed to 0.9.0 throughout (same
    // length, so the component stays well-formed).
    let wasm = std::fs::read(support::wasm("test_plugin_contract_v0_1")).unwrap();
    let (from, to) = (b"llmnode:provider/provider@0.1.0", b"llmnode:provider/provider@0.9.0");
    let mut patched = wasm.clone();
    let mut renamed = 0;
    for i in 0..wasm.len() - from.len() {
        if &wasm[i..i + from.len()] == from {
            patched[i..i + to.len()].copy_from_slice(to);
            renamed += 1;
        }
    }
    assert!(renamed > 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("future.wasm");
    std::fs::write(&file, &patched).unwrap();
    let out = llmnode(dir.path(), &dir.path().join("data"), &["plugins", "inspect", file.to_str().unwrap()]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("future.wasm") && stderr.contains("exports llmnode:provider@0.9.0"), "{stderr}");
    assert!(stderr.contains("(supported: 0.1.0, 0.2.0, 0.3.0, 0.4.0)"), "{stderr}");
}
