//! Shared test machinery: a programmable upstream on loopback that records what
//! it receives, the built plugins, a log capture for leak scans, and headless
//! Chromium to drive the dashboard.

pub mod browser;
pub mod chat;
pub mod daemon;
pub mod leak;
pub mod logs;
pub mod otlp_receiver;
/// A private PostgreSQL server, shared with the library's store tests.
#[path = "../../../host/src/store/test_postgres.rs"]
pub mod postgres;
pub mod raw;
pub mod redis_server;
pub mod smtp_server;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use llmnode::connections::{Connection, ConnectionSet};
use llmnode::demo::LoopbackServer;
use llmnode::engine::{Engine, NoEvents, RunReport};
use llmnode::runtime::bindings::types;
use llmnode::runtime::{PluginRegistry, PluginRuntime, RuntimeConfig};
use llmnode::secret::Secret;
use llmnode::workflow::Workflow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// Every byte of the request as text, for leak scans.
    pub fn all_text(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.uri);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }
}

/// What the upstream answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body pieces, sent with `delay` between them.
    pub chunks: Vec<Vec<u8>>,
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.into()],
            delay: Duration::ZERO,
        }
    }

    /// An event stream, cut into pieces of `piece` bytes to exercise framing.
    pub fn sse(bytes: &[u8], piece: usize) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks: bytes.chunks(piece.max(1)).map(<[u8]>::to_vec).collect(),
            delay: Duration::ZERO,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct UpstreamState {
    seen: Mutex<Vec<Seen>>,
    handler: Box<Handler>,
}

/// A loopback HTTP server answering with `handler` and recording every request.
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<UpstreamState>,
    _server: LoopbackServer,
}

impl Upstream {
    /// Start on an ephemeral port.
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(UpstreamState { seen: Mutex::new(Vec::new()), handler: Box::new(handler) });
        let app = Router::new().fallback(serve).with_state(state.clone());
        let server = LoopbackServer::start(app).await.expect("bind loopback");
        Upstream { addr: server.addr(), state, _server: server }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn serve(
    State(state): State<Arc<UpstreamState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen { method, uri: uri.to_string(), headers, body };
    let reply = (state.handler)(&seen);
    state.seen.lock().unwrap().push(seen);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let (chunks, delay) = (reply.chunks, reply.delay);
    tokio::spawn(async move {
        for (i, c) in chunks.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(c)).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in reply.headers {
        response = response.header(k, v);
    }
    response.body(Body::from_stream(stream)).unwrap()
}

/// Path of a plugin built by the host's build script, e.g. `test_plugin_hostile`.
pub fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("LLMNODE_WASM_DIR")).join(format!("llmnode_{name}.wasm"))
}

/// One runtime for the whole test binary (its artifact cache in a temp dir).
pub fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<(PluginRuntime, tempfile::TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            logs::install();
            let dir = tempfile::tempdir().unwrap();
            let rt = PluginRuntime::new(RuntimeConfig::default(), Some(dir.path())).unwrap();
            (rt, dir)
        })
        .0
}

/// Bundled plugins plus the hostile test plugin.
pub fn registry() -> PluginRegistry {
    static REGISTRY: OnceLock<PluginRegistry> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let mut r = PluginRegistry::load(runtime(), None).unwrap();
            r.insert(runtime().load_file(&wasm("test_plugin_hostile")).unwrap());
            r
        })
        .clone()
}

/// A one-message chat request for `model`, as the engine hands it to a plugin.
pub fn chat_request(model: &str) -> types::ChatRequest {
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
        reasoning: None,
        grounding: None,
    }
}

/// Plain connection settings for a plugin call against `base_url`.
pub fn plugin_settings(base_url: &str) -> types::ConnectionSettings {
    types::ConnectionSettings {
        base_url: base_url.into(),
        organization: None,
        headers: Vec::new(),
        options: Vec::new(),
    }
}

/// A connection to `base_url` through `provider` with `key`.
pub fn connection(name: &str, provider: &str, base_url: &str, key: &str) -> Connection {
    Connection::with_key(name, provider, base_url.into(), "gpt-4o-mini", Secret::new(key))
}

/// An engine over `connections` and the test registry.
pub fn engine(connections: Vec<Connection>) -> Engine {
    let mut set = ConnectionSet::default();
    for c in connections {
        set.insert(c);
    }
    Engine::new(&set, &registry()).unwrap()
}

/// Parse a workflow, check it against the engine, and run it with `inputs`.
pub async fn run(engine: &Engine, workflow: &str, inputs: serde_json::Value) -> RunReport {
    let wf = Workflow::parse(workflow).unwrap_or_else(|e| panic!("test workflow invalid: {e}"));
    engine.check(&wf).unwrap();
    let serde_json::Value::Object(map) = inputs else { panic!("inputs must be an object") };
    let inputs = wf.resolve_input_values(map).unwrap();
    engine.run(Arc::new(wf), inputs, &llmnode::principal::Principal::cli("cli:test"), Arc::new(NoEvents)).await
}

/// A one-node workflow calling `connection` (then `fallbacks`) with `config` merged in.
pub fn one_node(connection: &str, fallbacks: &[&str], config: serde_json::Value) -> String {
    let mut cfg = serde_json::json!({
        "primary_connection": connection,
        "fallback_connections": fallbacks,
        "messages": [{ "role": "user", "content": "Hello!" }],
    });
    for (k, v) in config.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    serde_json::json!({
        "name": "test",
        "nodes": [{ "id": "n", "node_type": "llm", "config": cfg }],
        "output": "{{nodes.n.output}}"
    })
    .to_string()
}

/// The `llmnode` binary with `data` as its data directory, trace logs on, run
/// from the repository root, and none of the caller's llmnode settings.
pub fn llmnode_command(data: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llmnode"));
    cmd.current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
        .env("LLMNODE_DATA_DIR", data)
        .env("LLMNODE_LOG", "trace")
        .env_remove("LLMNODE_MASTER_KEY")
        .env_remove("LLMNODE_CONNECTIONS")
        .env_remove("LLMNODE_PLUGINS_DIR");
    cmd
}

/// Fail if `key` occurs in `haystack`, which may rightly hold other keys (a
/// request carries its own connection's key).
pub fn assert_key_absent(what: &str, haystack: &str, key: &str) {
    assert!(!haystack.contains(key), "the key leaked into {what}:\n{haystack}");
}

/// Fail if `key`, or any other test key, occurs anywhere in `haystack`.
pub fn assert_no_leak(what: &str, haystack: &str, key: &str) {
    assert_key_absent(what, haystack, key);
    leak::assert_clean(what, haystack);
}

/// A fixture file's bytes.
pub fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A fixture file as JSON.
pub fn fixture_json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// A data directory prepared through the CLI for spend alerts: connection
/// `oa` to an OpenAI upstream, `gpt-4o-mini` priced at $1 and $2 per million
/// tokens. Every command runs with `env` set (the key in `K`).
pub struct PricedCli {
    pub data: PathBuf,
    env: Vec<(String, String)>,
}

impl PricedCli {
    pub async fn new(dir: &std::path::Path, base_url: &str, env: &[(&str, &str)]) -> PricedCli {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cli = PricedCli { data: dir.join("data"), env };
        let add = format!(
            "connections add oa --provider openai --api-key-env K --base-url {base_url} --default-model gpt-4o-mini"
        );
        for line in ["init", &add, "prices set openai gpt-4o-mini --input 1 --output 2"] {
            let out = cli.run(line).await;
            assert!(out.status.success(), "llmnode {line}: {}", String::from_utf8_lossy(&out.stderr));
        }
        cli
    }

    /// Run the words of `line`.
    pub async fn run(&self, line: &str) -> std::process::Output {
        self.run_args(line.split_whitespace().map(String::from).collect()).await
    }

    /// Run `args`.
    pub async fn run_args(&self, args: Vec<String>) -> std::process::Output {
        let mut cmd = llmnode_command(&self.data);
        cmd.args(&args).envs(self.env.iter().map(|(k, v)| (k, v)));
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    }
}
