//! `llmnode plugin test`: replay fixtures through a loaded plugin, exactly as
//! the host would call it, and compare the outcome with each fixture's `expect`.

use super::KitError;
use super::call::{self, Call};
use super::fixture::{self, Fixture};
use super::matcher::{self, Mismatch};
use crate::engine::{Answer, StreamAccumulator, class_of};
use crate::runtime::bindings::types;
use crate::runtime::{LoadedPlugin, PluginError};
use crate::transport::SseFramer;
use crate::usage::TokenUsage;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The largest stream event a fixture may hold.
const MAX_EVENT_BYTES: usize = 4 << 20;

/// How one fixture went.
#[derive(Debug)]
pub struct FixtureOutcome {
    /// The fixture file.
    pub file: PathBuf,
    /// Its `description`.
    pub description: Option<String>,
    /// Every difference found; empty when the fixture passed.
    pub mismatches: Vec<Mismatch>,
}

impl FixtureOutcome {
    /// True when the plugin did everything the fixture expects.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Run every fixture in `dir` (or the one file `dir` names). A fixture that is
/// not in the documented format stops the run with an error naming it.
pub fn run_all(plugin: &LoadedPlugin, dir: &Path) -> Result<Vec<FixtureOutcome>, KitError> {
    let files = fixture::files_in(dir)?;
    let fixtures = files.iter().map(|f| Fixture::load(f).map(|x| (f, x))).collect::<Result<Vec<_>, _>>()?;
    fixtures.into_iter().map(|(file, fixture)| run_one(plugin, file, &fixture)).collect()
}

/// Run one loaded fixture.
pub fn run_one(plugin: &LoadedPlugin, file: &Path, fixture: &Fixture) -> Result<FixtureOutcome, KitError> {
    let request = call::parse(fixture.function, &fixture.call)
        .map_err(|detail| KitError::Fixture { file: file.to_path_buf(), detail })?;
    let body = fixture.response_body(file)?;
    let mut mismatches = Vec::new();
    if let Err(fault) = replay(plugin, fixture, &request, body, &mut mismatches) {
        mismatches.push(Mismatch {
            path: "$.call".into(),
            expected: None,
            actual: None,
            note: Some(format!("the plugin failed: {fault}")),
        });
    }
    Ok(FixtureOutcome { file: file.to_path_buf(), description: fixture.description.clone(), mismatches })
}

fn replay(
    plugin: &LoadedPlugin,
    fixture: &Fixture,
    request: &Call,
    body: Vec<u8>,
    out: &mut Vec<Mismatch>,
) -> Result<(), PluginError> {
    let connection = types::ConnectionSettings {
        base_url: fixture.connection.base_url.clone().unwrap_or_else(|| plugin.info().default_base_url.clone()),
        organization: fixture.connection.organization.clone(),
        headers: Vec::new(),
        options: fixture
            .connection
            .options
            .iter()
            .map(|(name, value)| types::Header { name: name.clone(), value: value.clone() })
            .collect(),
    };
    let mut call = plugin.call()?;
    let built = match request {
        Call::Chat(chat) => call.build_request(chat, &connection)?,
        Call::Embeddings(embed) => call.build_embedding_request(embed, &connection)?,
    };
    let prepared = match built {
        Ok(prepared) => prepared,
        Err(refused) => {
            out.push(Mismatch {
                path: "$.call".into(),
                expected: None,
                actual: Some(error_json(&refused)),
                note: Some("build-request refused the call".into()),
            });
            return Ok(());
        }
    };
    let recorded = &fixture.exchange().request;
    let sent = request_json(&prepared);
    let at = format!("$.interactions[{}].request", fixture.interaction);
    if !method_name(prepared.request.method).eq_ignore_ascii_case(&recorded.method) {
        out.push(differs(format!("{at}.method"), json!(recorded.method), sent["method"].clone()));
    }
    if prepared.request.url != recorded.url {
        out.push(differs(format!("{at}.url"), json!(recorded.url), sent["url"].clone()));
    }
    if let Some(want) = &fixture.expect.request {
        out.extend(matcher::contains("$.expect.request", want, &sent));
    }

    let response = &fixture.exchange().response;
    let headers: Vec<types::Header> = response
        .headers
        .iter()
        .map(|(name, v)| types::Header {
            name: name.to_ascii_lowercase(),
            value: v.as_str().map_or_else(|| v.to_string(), str::to_string),
        })
        .collect();
    let outcome = if (200..300).contains(&response.status) {
        let whole = types::HttpResponse { status: response.status, headers, body };
        match request {
            Call::Chat(chat) if chat.stream => stream(&mut call, &whole.body)?.map(|a| to_json(&a)),
            Call::Chat(_) => call.parse_response(&whole)?.map(|r| to_json(&Answer::from_response(r))),
            Call::Embeddings(_) => call.parse_embedding_response(&whole)?.map(|r| embeddings_json(&r)),
        }
    } else {
        Err(call.classify_error(response.status, &headers, &body)?)
    };
    match (outcome, &fixture.expect.response, &fixture.expect.error) {
        (Ok(got), want, None) => {
            if let Some(want) = want {
                out.extend(matcher::contains("$.expect.response", want, &got));
            }
        }
        (Ok(got), _, Some(want)) => out.push(Mismatch {
            path: "$.expect.error".into(),
            expected: Some(want.clone()),
            actual: Some(got),
            note: Some("the plugin parsed an answer, not an error".into()),
        }),
        (Err(error), None, Some(want)) => out.extend(matcher::contains("$.expect.error", want, &error_json(&error))),
        (Err(error), _, None) => out.push(Mismatch {
            path: "$.expect.response".into(),
            expected: fixture.expect.response.clone(),
            actual: Some(error_json(&error)),
            note: Some("the plugin returned an error".into()),
        }),
        (Err(_), Some(_), Some(_)) => unreachable!("Fixture::load refuses both"),
    }
    Ok(())
}

/// Frame the body as server-sent events and feed each to the plugin.
fn stream(
    call: &mut crate::runtime::PluginCall<'_>,
    body: &[u8],
) -> Result<Result<Answer, types::ProviderError>, PluginError> {
    let mut framer = SseFramer::new(MAX_EVENT_BYTES);
    let mut events = Vec::new();
    let framed = framer.feed(body, &mut events).and_then(|()| framer.finish(&mut events));
    if let Err(e) = framed {
        return Ok(Err(types::ProviderError {
            kind: types::ErrorKind::ServerError,
            message: format!("the recorded stream is not valid server-sent events: {e}"),
            code: None,
            retry_after_ms: None,
        }));
    }
    let mut answer = StreamAccumulator::default();
    for event in events {
        match call.parse_stream_event(&types::StreamEvent { event: event.event, data: event.data })? {
            Ok(delta) => answer.apply(delta),
            Err(error) => return Ok(Err(error)),
        }
        if answer.done {
            break;
        }
    }
    Ok(Ok(answer.finish()))
}

fn to_json(answer: &Answer) -> Value {
    serde_json::to_value(answer).unwrap_or_default()
}

/// An embeddings answer, as JSON for `expect.response`.
fn embeddings_json(r: &types::EmbeddingResponse) -> Value {
    let usage = r.usage.as_ref().map(TokenUsage::from_wire);
    json!({ "vectors": r.vectors, "model": r.model, "usage": usage })
}

fn differs(path: String, expected: Value, actual: Value) -> Mismatch {
    Mismatch {
        path,
        expected: Some(expected),
        actual: Some(actual),
        note: Some("the plugin's request differs from the recorded one".into()),
    }
}

fn method_name(m: types::Method) -> &'static str {
    match m {
        types::Method::Get => "GET",
        types::Method::Post => "POST",
    }
}

/// The request the plugin built, as JSON for `expect.request`.
fn request_json(p: &types::PreparedRequest) -> Value {
    let headers: Map<String, Value> =
        p.request.headers.iter().map(|h| (h.name.to_ascii_lowercase(), json!(h.value))).collect();
    let body = serde_json::from_slice::<Value>(&p.request.body)
        .unwrap_or_else(|_| json!(String::from_utf8_lossy(&p.request.body)));
    let auth = match &p.auth {
        types::AuthDirective::None => json!("none"),
        types::AuthDirective::Bearer => json!("bearer"),
        types::AuthDirective::Header(name) => json!({ "header": name }),
        types::AuthDirective::Query(name) => json!({ "query": name }),
        types::AuthDirective::AwsSigv4(s) => json!({ "aws_sigv4": { "service": s.service, "region": s.region } }),
        types::AuthDirective::GoogleServiceAccount(scopes) => json!({ "google_service_account": scopes }),
    };
    json!({ "method": method_name(p.request.method), "url": p.request.url, "headers": headers, "body": body, "auth": auth })
}

/// A classified error, as JSON for `expect.error`.
fn error_json(e: &types::ProviderError) -> Value {
    json!({ "kind": class_of(e.kind).as_str(), "message": e.message, "code": e.code, "retry_after_ms": e.retry_after_ms })
}
