//! The fixture format of `llmnode plugin test` (documented in `sdk/GUIDE.md`):
//! a recorded exchange in the conformance cassette shape, plus the `call`
//! given to the plugin and what the result must contain (`expect`).

use super::KitError;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the fixture shows, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the recording came from (`{repo, path, commit}` in cassettes).
    #[serde(default)]
    pub source: Option<Value>,
    /// Which plugin function the call exercises (default `chat`).
    #[serde(default)]
    pub function: Function,
    /// For `chat`, the request written like an `llm` node's config without
    /// its connections: `model`, `messages`, `stream`, `max_tokens`, `tools`, ….
    /// For `embeddings`: `model`, `inputs`, optional `dimensions`.
    pub call: Value,
    /// The connection the plugin is given (default: its own default base URL).
    #[serde(default)]
    pub connection: FixtureConnection,
    /// Which interaction of `interactions` this fixture replays (default 0).
    #[serde(default)]
    pub interaction: usize,
    /// The recorded exchanges, as in the conformance cassettes.
    pub interactions: Vec<Interaction>,
    /// What the plugin's output must contain.
    pub expect: Expect,
}

/// The plugin functions a fixture can exercise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// `build-request`, then `parse-response`, `parse-stream-event` or `classify-error`.
    #[default]
    Chat,
    /// `build-embedding-request`, then `parse-embedding-response` or `classify-error` (contract 0.2.0).
    Embeddings,
}

/// The non-secret connection settings handed to `build-request`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureConnection {
    /// The connection's base URL (default: the plugin's `default_base_url`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Organization or project id, for providers that take one.
    #[serde(default)]
    pub organization: Option<String>,
    /// Provider options, as `--option NAME=VALUE` gives them.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// One recorded request and its response.
#[derive(Debug, Deserialize)]
pub struct Interaction {
    /// What the recorder sent.
    pub request: RecordedRequest,
    /// What the provider answered.
    pub response: RecordedResponse,
}

/// The request as recorded (its body is informative: compare with `expect.request`).
#[derive(Debug, Deserialize)]
pub struct RecordedRequest {
    /// The HTTP method the plugin's request must use.
    pub method: String,
    /// The absolute URL the plugin's request must have.
    pub url: String,
}

/// The response as recorded: a byte-exact `body_raw`, a parsed `body`, or a
/// `body_file` beside the fixture.
#[derive(Debug, Deserialize)]
pub struct RecordedResponse {
    /// 2xx is parsed as an answer; anything else is classified as an error.
    pub status: u16,
    /// Header values (names are lower-cased before the plugin sees them).
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// The exact body text (for a stream, the `text/event-stream` bytes).
    #[serde(default)]
    pub body_raw: Option<String>,
    /// The body as a JSON value, when the recorder kept only that.
    #[serde(default)]
    pub body: Option<Value>,
    /// A file beside the fixture holding the exact body.
    #[serde(default)]
    pub body_file: Option<String>,
}

/// What the outcome must contain. `response` and `error` exclude each other.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Part of the request the plugin built: `method`, `url`, `headers`, `body`, `auth`.
    #[serde(default)]
    pub request: Option<Value>,
    /// Part of the parsed answer: `text`, `tool_calls`, `finish_reason`, `usage`,
    /// `id`, `served_model`; for embeddings `vectors`, `model`, `usage`.
    #[serde(default)]
    pub response: Option<Value>,
    /// Part of the classified error: `kind`, `message`, `code`, `retry_after_ms`.
    #[serde(default)]
    pub error: Option<Value>,
}

impl Fixture {
    /// Read and check one fixture file; errors name the file and the JSON path.
    pub fn load(file: &Path) -> Result<Self, KitError> {
        let text = std::fs::read_to_string(file).map_err(KitError::io(file))?;
        let bad = |detail: String| KitError::Fixture { file: file.to_path_buf(), detail };
        let mut de = serde_json::Deserializer::from_str(&text);
        let fixture: Fixture = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            bad(format!("at $.{}: {}", if path == "." { String::new() } else { path }, e.inner()))
        })?;
        if fixture.interactions.get(fixture.interaction).is_none() {
            return Err(bad(format!(
                "at $.interaction: there is no interaction {} ({} recorded)",
                fixture.interaction,
                fixture.interactions.len()
            )));
        }
        if fixture.expect.response.is_some() && fixture.expect.error.is_some() {
            return Err(bad("at $.expect: give `response` or `error`, not both".into()));
        }
        Ok(fixture)
    }

    /// The interaction this fixture replays.
    pub fn exchange(&self) -> &Interaction {
        &self.interactions[self.interaction]
    }

    /// The recorded response body's bytes.
    pub fn response_body(&self, file: &Path) -> Result<Vec<u8>, KitError> {
        let r = &self.exchange().response;
        if let Some(raw) = &r.body_raw {
            return Ok(raw.clone().into_bytes());
        }
        if let Some(name) = &r.body_file {
            let path = file.parent().unwrap_or(Path::new(".")).join(name);
            return std::fs::read(&path).map_err(KitError::io(path));
        }
        Ok(r.body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default())
    }
}

/// Every `*.json` file in `dir`, sorted (a single file is taken as is).
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, KitError> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(KitError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(KitError::NoFixtures { dir: dir.to_path_buf() });
    }
    Ok(files)
}
