//! Reading an `llm` node's `config`: a raw form where every field is optional
//! (so serde reports unknown or mistyped fields precisely), then checks that
//! need several fields at once, then the typed [`LlmConfig`].

use super::llm_config::{
    CacheSpec, LlmConfig, LoadBalancing, MessageRole, MessageSpec, ModelSpec, PartSpec,
    ResponseFormatSpec, Routing, ToolCallSpec, ToolChoiceSpec, ToolSpec, WeightedConnection,
};
use super::path::Loc;
use super::shape::{BoolOrMap, Expect, Obj, StrOrMap, StrOrSeq, StrictValue};
use super::validate::Checker;
use crate::error_class::ErrorClass;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// The `config` of an `llm` node as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLlmConfig {
    primary_connection: Option<String>,
    fallback_connections: Option<Vec<String>>,
    connections: Option<Vec<StrOrMap<RawWeighted>>>,
    load_balancing: Option<LoadBalancing>,
    failover_on: Option<Vec<ErrorClass>>,
    model: Option<StrOrMap<RawModelMap>>,
    messages: Option<Vec<Obj<RawMessage>>>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u64>,
    stop: Option<StrOrSeq<RawStops>>,
    tools: Option<Vec<Obj<RawTool>>>,
    tool_choice: Option<StrOrMap<RawToolChoice>>,
    response_format: Option<Obj<RawResponseFormat>>,
    cache: Option<BoolOrMap<RawCache>>,
    /// Not an llm field: lets the fast pass read a `template` node's config
    /// with this same struct (see `raw`). Rejected in an llm node.
    template: Option<String>,
}

impl RawLlmConfig {
    /// Whether this is a valid `template` node config: `template` and nothing else.
    pub(crate) fn is_template_only(&self) -> bool {
        // Exhaustive on purpose: a new field must be considered here.
        matches!(
            self,
            RawLlmConfig {
                primary_connection: None,
                fallback_connections: None,
                connections: None,
                load_balancing: None,
                failover_on: None,
                model: None,
                messages: None,
                stream: None,
                temperature: None,
                top_p: None,
                max_tokens: None,
                stop: None,
                tools: None,
                tool_choice: None,
                response_format: None,
                cache: None,
                template: Some(_),
            }
        )
    }

    /// The template of a config for which [`Self::is_template_only`] holds.
    pub(crate) fn into_template_only(self) -> Option<String> {
        if self.is_template_only() {
            self.template
        } else {
            None
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeighted {
    name: String,
    weight: Option<u64>,
}

impl Expect for RawWeighted {
    const EXPECT: &'static str = "a connection name or {\"name\": …, \"weight\": …}";
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawModelMap(BTreeMap<String, String>);

impl Expect for RawModelMap {
    const EXPECT: &'static str =
        "a model name or an object mapping connection names to model names";
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawStops(Vec<String>);

impl Expect for RawStops {
    const EXPECT: &'static str = "a stop string or an array of strings";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    role: MessageRole,
    content: Option<StrOrSeq<RawParts>>,
    name: Option<String>,
    tool_call_id: Option<String>,
    tool_calls: Option<Vec<Obj<RawToolCall>>>,
    cache: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawParts(Vec<Obj<RawPart>>);

impl Expect for RawParts {
    const EXPECT: &'static str = "a template string or an array of content parts";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    #[serde(rename = "type")]
    kind: PartType,
    text: Option<String>,
    image_url: Option<Obj<RawImageUrl>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartType {
    Text,
    ImageUrl,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImageUrl {
    url: String,
    detail: Option<String>,
}

/// The only tool type there is; an enum so serde names it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToolType {
    Function,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolCall {
    id: String,
    #[serde(rename = "type")]
    _kind: Option<ToolType>,
    function: Obj<RawFunctionCall>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    #[serde(rename = "type")]
    kind: Option<ToolType>,
    function: Option<Obj<RawFunction>>,
    name: Option<String>,
    description: Option<String>,
    parameters: Option<StrictValue>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    description: Option<String>,
    parameters: Option<StrictValue>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolChoice {
    #[serde(rename = "type")]
    _kind: Option<ToolType>,
    function: StrOrMap<RawFunctionName>,
}

impl Expect for RawToolChoice {
    const EXPECT: &'static str =
        "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunctionName {
    name: String,
}

impl Expect for RawFunctionName {
    const EXPECT: &'static str = "a function name or {\"name\": …}";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponseFormat {
    #[serde(rename = "type")]
    kind: FormatType,
    json_schema: Option<Obj<RawJsonSchema>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FormatType {
    Text,
    JsonObject,
    JsonSchema,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonSchema {
    name: String,
    schema: StrictValue,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    enabled: Option<bool>,
    ttl_seconds: Option<u64>,
}

impl Expect for RawCache {
    const EXPECT: &'static str = "a boolean or {\"enabled\": …, \"ttl_seconds\": …}";
}

/// Where in a node's config a connection is named, for precise error paths.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConnectionSite {
    Primary,
    Pool(usize),
    Fallback(usize),
}

impl ConnectionSite {
    /// The JSON path of this site below the node's `config`.
    pub(crate) fn path(self, config: &Loc<'_>) -> String {
        match self {
            ConnectionSite::Primary => config.key("primary_connection").to_string(),
            ConnectionSite::Pool(i) => config.key("connections").index(i).to_string(),
            ConnectionSite::Fallback(i) => config.key("fallback_connections").index(i).to_string(),
        }
    }
}

/// Every connection a config names, with where it is named, in routing order.
pub(crate) fn connection_sites(config: &LlmConfig) -> impl Iterator<Item = (&str, ConnectionSite)> {
    let (primary, pool) = match &config.routing {
        Routing::Primary(name) => (Some(name.as_str()), &[][..]),
        Routing::Balanced { connections, .. } => (None, connections.as_slice()),
    };
    let primary = primary.map(|name| (name, ConnectionSite::Primary));
    let pool = pool
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), ConnectionSite::Pool(i)));
    let fallbacks = config
        .fallbacks
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), ConnectionSite::Fallback(i)));
    primary.into_iter().chain(pool).chain(fallbacks)
}

/// Checks a raw config and builds the typed one; `None` when anything was reported.
pub(crate) fn convert(
    raw: RawLlmConfig,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<LlmConfig> {
    let before = cx.issue_count();
    if raw.template.is_some() {
        cx.issue(
            &loc.key("template"),
            "unknown field `template` in an llm node's config",
        );
    }
    let routing = routing(
        raw.primary_connection,
        raw.connections,
        raw.load_balancing,
        loc,
        cx,
    );
    let messages = messages(raw.messages, loc, cx);
    let tools = tools(raw.tools.unwrap_or_default(), &loc.key("tools"), cx);
    let tool_choice = raw
        .tool_choice
        .and_then(|choice| tool_choice(choice, &tools, &loc.key("tool_choice"), cx));
    let stop = match raw.stop {
        None => Vec::new(),
        Some(StrOrSeq::Str(one)) => vec![one],
        Some(StrOrSeq::Seq(RawStops(list))) => list,
    };
    if stop.len() > 4 {
        cx.issue(
            &loc.key("stop"),
            format!("at most 4 stop sequences are allowed, got {}", stop.len()),
        );
    }
    let temperature = unit_range(raw.temperature, 2.0, &loc.key("temperature"), cx);
    let top_p = unit_range(raw.top_p, 1.0, &loc.key("top_p"), cx);
    let max_tokens = positive(raw.max_tokens, &loc.key("max_tokens"), cx);
    let response_format = raw
        .response_format
        .and_then(|Obj(format)| response_format(format, &loc.key("response_format"), cx));
    let cache = raw.cache.map(|cache| match cache {
        BoolOrMap::Bool(enabled) => CacheSpec {
            enabled,
            ttl_seconds: None,
        },
        BoolOrMap::Map(RawCache {
            enabled,
            ttl_seconds,
        }) => CacheSpec {
            enabled: enabled.unwrap_or(true),
            ttl_seconds: positive(ttl_seconds, &loc.key("cache").key("ttl_seconds"), cx),
        },
    });
    // Everything above is checked before bailing out, so one pass reports every problem.
    let config = LlmConfig {
        routing: routing?,
        failover_on: raw
            .failover_on
            .unwrap_or_else(|| ErrorClass::DEFAULT_FAILOVER.to_vec()),
        fallbacks: raw.fallback_connections.unwrap_or_default(),
        model: raw.model.map(|model| match model {
            StrOrMap::Str(name) => ModelSpec::Single(name),
            StrOrMap::Map(RawModelMap(map)) => ModelSpec::PerConnection(map),
        }),
        messages: messages?,
        stream: raw.stream.unwrap_or(false),
        temperature,
        top_p,
        max_tokens,
        stop,
        tools,
        tool_choice,
        response_format,
        cache,
    };
    check_connections(&config, loc, cx);
    (cx.issue_count() == before).then_some(config)
}

fn routing(
    primary: Option<String>,
    pool: Option<Vec<StrOrMap<RawWeighted>>>,
    policy: Option<LoadBalancing>,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<Routing> {
    match (primary, pool) {
        (Some(name), None) => {
            if policy.is_some() {
                cx.issue(
                    &loc.key("load_balancing"),
                    "load_balancing only applies to `connections`, not `primary_connection`",
                );
            }
            Some(Routing::Primary(name))
        }
        (None, Some(pool)) => {
            let pool_loc = loc.key("connections");
            if pool.is_empty() {
                cx.issue(&pool_loc, "must list at least one connection");
            }
            let mut connections = Vec::with_capacity(pool.len());
            for (i, item) in pool.into_iter().enumerate() {
                let (name, weight) = match item {
                    StrOrMap::Str(name) => (name, 1),
                    StrOrMap::Map(RawWeighted { name, weight }) => {
                        let weight_loc = pool_loc.index(i);
                        let weight_loc = weight_loc.key("weight");
                        let weight = match weight.map(u32::try_from) {
                            None => 1,
                            Some(Ok(w)) if w > 0 => w,
                            Some(_) => {
                                cx.issue(&weight_loc, "must be an integer from 1 to 4294967295");
                                1
                            }
                        };
                        (name, weight)
                    }
                };
                connections.push(WeightedConnection { name, weight });
            }
            Some(Routing::Balanced {
                connections,
                policy: policy.unwrap_or_default(),
            })
        }
        (Some(_), Some(_)) => {
            cx.issue(
                loc,
                "give either `primary_connection` or `connections`, not both",
            );
            None
        }
        (None, None) => {
            cx.issue(
                loc,
                "no connection: give `primary_connection` or `connections`",
            );
            None
        }
    }
}

/// Names must be non-empty and used once per node; a model map may only name used connections.
fn check_connections(config: &LlmConfig, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) {
    let mut seen = HashSet::new();
    for (name, site) in connection_sites(config) {
        if name.is_empty() {
            cx.issue_at(site.path(loc), "a connection name must not be empty".into());
        } else if !seen.insert(name) {
            cx.issue_at(
                site.path(loc),
                format!("connection \"{name}\" is named more than once in this node"),
            );
        }
    }
    let model_loc = loc.key("model");
    match &config.model {
        Some(ModelSpec::Single(model)) if model.is_empty() => {
            cx.issue(&model_loc, "must not be empty");
        }
        Some(ModelSpec::PerConnection(models)) => {
            for (connection, model) in models {
                let here = model_loc.key(connection);
                if !seen.contains(connection.as_str()) {
                    let used: Vec<&str> = config.connection_names().collect();
                    cx.issue(
                        &here,
                        format!(
                            "connection \"{connection}\" is not used by this node (it uses {})",
                            used.join(", ")
                        ),
                    );
                } else if model.is_empty() {
                    cx.issue(&here, "must not be empty");
                }
            }
        }
        _ => {}
    }
}

fn messages(
    raw: Option<Vec<Obj<RawMessage>>>,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<Vec<MessageSpec>> {
    let Some(raw) = raw else {
        cx.issue(loc, "missing field `messages`");
        return None;
    };
    let list_loc = loc.key("messages");
    if raw.is_empty() {
        cx.issue(&list_loc, "must have at least one message");
    }
    let mut tool_call_ids: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, Obj(message)) in raw.into_iter().enumerate() {
        if let Some(spec) = self::message(message, &list_loc.index(i), &mut tool_call_ids, cx) {
            out.push(spec);
        }
    }
    Some(out)
}

fn message(
    raw: RawMessage,
    loc: &Loc<'_>,
    tool_call_ids: &mut Vec<String>,
    cx: &mut Checker<'_, '_>,
) -> Option<MessageSpec> {
    let role = raw.role;
    let tool_calls: Vec<ToolCallSpec> = raw
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|Obj(call)| ToolCallSpec {
            id: call.id,
            name: call.function.0.name,
            arguments: call.function.0.arguments,
        })
        .collect();
    if !tool_calls.is_empty() && role != MessageRole::Assistant {
        cx.issue(
            &loc.key("tool_calls"),
            "only assistant messages have tool_calls",
        );
    }
    tool_call_ids.extend(tool_calls.iter().map(|call| call.id.clone()));
    match (&raw.tool_call_id, role) {
        (None, MessageRole::Tool) => cx.issue(loc, "a tool message needs `tool_call_id`"),
        (Some(id), MessageRole::Tool) if !tool_call_ids.contains(id) => cx.issue(
            &loc.key("tool_call_id"),
            format!("no earlier assistant message has a tool call with id \"{id}\""),
        ),
        (Some(_), role) if role != MessageRole::Tool => cx.issue(
            &loc.key("tool_call_id"),
            "only tool messages have tool_call_id",
        ),
        _ => {}
    }
    let content_loc = loc.key("content");
    let content = match raw.content {
        None if role == MessageRole::Assistant && !tool_calls.is_empty() => Some(Vec::new()),
        None => {
            let what = match role {
                MessageRole::System => "a system message needs `content`",
                MessageRole::User => "a user message needs `content`",
                MessageRole::Assistant => "an assistant message needs `content` (or `tool_calls`)",
                MessageRole::Tool => "a tool message needs `content`",
            };
            cx.issue(loc, what);
            None
        }
        Some(StrOrSeq::Str(text)) => cx
            .template(&content_loc, text)
            .map(|t| vec![PartSpec::Text(t)]),
        Some(StrOrSeq::Seq(RawParts(parts))) => {
            if parts.is_empty() {
                cx.issue(&content_loc, "must have at least one part");
            }
            let mut out = Vec::with_capacity(parts.len());
            let mut ok = true;
            for (j, Obj(raw_part)) in parts.into_iter().enumerate() {
                match part(raw_part, &content_loc.index(j), cx) {
                    Some(p) => out.push(p),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    };
    Some(MessageSpec {
        role,
        content: content?,
        name: raw.name,
        tool_call_id: raw.tool_call_id,
        tool_calls,
        cache: raw.cache.unwrap_or(false),
    })
}

fn part(raw: RawPart, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<PartSpec> {
    match raw.kind {
        PartType::Text => {
            if raw.image_url.is_some() {
                cx.issue(&loc.key("image_url"), "not allowed in a text part");
            }
            let Some(text) = raw.text else {
                cx.issue(loc, "a text part needs `text`");
                return None;
            };
            cx.template(&loc.key("text"), text).map(PartSpec::Text)
        }
        PartType::ImageUrl => {
            if raw.text.is_some() {
                cx.issue(&loc.key("text"), "not allowed in an image_url part");
            }
            let Some(Obj(image)) = raw.image_url else {
                cx.issue(loc, "an image_url part needs `image_url`");
                return None;
            };
            let url_loc = loc.key("image_url");
            let url = cx.template(&url_loc.key("url"), image.url)?;
            Some(PartSpec::Image {
                url,
                detail: image.detail,
            })
        }
    }
}

fn tools(raw: Vec<Obj<RawTool>>, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Vec<ToolSpec> {
    let mut out: Vec<ToolSpec> = Vec::with_capacity(raw.len());
    for (i, Obj(tool)) in raw.into_iter().enumerate() {
        let item = loc.index(i);
        let function_loc = item.key("function");
        let (name, description, parameters, strict, base) = match tool.function {
            Some(Obj(function)) => {
                if tool.name.is_some()
                    || tool.description.is_some()
                    || tool.parameters.is_some()
                    || tool.strict.is_some()
                {
                    cx.issue(
                        &item,
                        "with `function`, put name, description, parameters and strict inside it",
                    );
                }
                (
                    function.name,
                    function.description,
                    function.parameters,
                    function.strict,
                    &function_loc,
                )
            }
            None => {
                if tool.kind.is_some() {
                    cx.issue(
                        &item,
                        "`type: function` needs a `function` object (or drop `type` for the short form)",
                    );
                    continue;
                }
                let Some(name) = tool.name else {
                    cx.issue(&item, "a tool needs a `name`");
                    continue;
                };
                (name, tool.description, tool.parameters, tool.strict, &item)
            }
        };
        if name.is_empty() {
            cx.issue(&base.key("name"), "must not be empty");
        } else if out.iter().any(|t| t.name == name) {
            cx.issue(
                &base.key("name"),
                format!("tool \"{name}\" is defined more than once"),
            );
        }
        let parameters = match parameters.map(|StrictValue(value)| value) {
            None => json!({"type": "object", "properties": {}}),
            Some(schema @ Value::Object(_)) => schema,
            Some(_) => {
                cx.issue(&base.key("parameters"), "must be a JSON Schema object");
                continue;
            }
        };
        out.push(ToolSpec {
            name,
            description,
            parameters,
            strict,
        });
    }
    out
}

fn tool_choice(
    raw: StrOrMap<RawToolChoice>,
    tools: &[ToolSpec],
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<ToolChoiceSpec> {
    let choice = match raw {
        StrOrMap::Str(word) => match word.as_str() {
            "auto" => ToolChoiceSpec::Auto,
            "none" => ToolChoiceSpec::None,
            "required" => ToolChoiceSpec::Required,
            _ => {
                cx.issue(
                    loc,
                    format!(
                        "unknown tool_choice \"{word}\"; expected {}",
                        RawToolChoice::EXPECT
                    ),
                );
                return None;
            }
        },
        StrOrMap::Map(choice) => ToolChoiceSpec::Function(match choice.function {
            StrOrMap::Str(name) => name,
            StrOrMap::Map(RawFunctionName { name }) => name,
        }),
    };
    match &choice {
        ToolChoiceSpec::Required if tools.is_empty() => {
            cx.issue(loc, "\"required\" needs at least one tool in `tools`");
        }
        ToolChoiceSpec::Function(name) if !tools.iter().any(|t| t.name == *name) => {
            let message = if tools.is_empty() {
                format!("names function \"{name}\" but no tools are defined")
            } else {
                let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                format!(
                    "names function \"{name}\", which is not among tools ({})",
                    names.join(", ")
                )
            };
            cx.issue(loc, message);
        }
        _ => {}
    }
    Some(choice)
}

fn response_format(
    raw: RawResponseFormat,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<ResponseFormatSpec> {
    let schema_loc = loc.key("json_schema");
    match (raw.kind, raw.json_schema) {
        (FormatType::Text | FormatType::JsonObject, Some(_)) => {
            cx.issue(&schema_loc, "only allowed with type json_schema");
            None
        }
        (FormatType::Text, None) => Some(ResponseFormatSpec::Text),
        (FormatType::JsonObject, None) => Some(ResponseFormatSpec::JsonObject),
        (FormatType::JsonSchema, None) => {
            cx.issue(loc, "type json_schema needs a `json_schema` object");
            None
        }
        (FormatType::JsonSchema, Some(Obj(spec))) => {
            if spec.name.is_empty() {
                cx.issue(&schema_loc.key("name"), "must not be empty");
            }
            let StrictValue(schema) = spec.schema;
            if !schema.is_object() {
                cx.issue(&schema_loc.key("schema"), "must be a JSON Schema object");
            }
            Some(ResponseFormatSpec::JsonSchema {
                name: spec.name,
                schema,
                strict: spec.strict.unwrap_or(true),
            })
        }
    }
}

/// A sampling parameter within `0..=max`.
fn unit_range(
    value: Option<f64>,
    max: f64,
    loc: &Loc<'_>,
    cx: &mut Checker<'_, '_>,
) -> Option<f32> {
    let value = value?;
    if (0.0..=max).contains(&value) {
        Some(value as f32)
    } else {
        cx.issue(loc, format!("must be between 0 and {max}, got {value}"));
        None
    }
}

/// A count that must be at least 1 and fit a u32.
fn positive(value: Option<u64>, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<u32> {
    match u32::try_from(value?) {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            cx.issue(loc, "must be an integer from 1 to 4294967295");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::llm_config::*;
    use super::super::{NodeKind, Workflow, WorkflowError};
    use crate::error_class::ErrorClass;
    use serde_json::{Value, json};

    /// Parses a one-node workflow around `config`.
    fn parse(config: Value) -> Result<LlmConfig, WorkflowError> {
        let doc = json!({
            "name": "w",
            "inputs": {"ticket": {"type": "string"}},
            "nodes": [{"id": "n", "node_type": "llm", "config": config}],
        });
        let workflow = Workflow::parse(&doc.to_string())?;
        match workflow.nodes.into_iter().next().map(|n| n.kind) {
            Some(NodeKind::Llm(config)) => Ok(*config),
            other => panic!("expected an llm node, got {other:?}"),
        }
    }

    fn with(extra: Value) -> Value {
        let mut config = json!({
            "primary_connection": "p",
            "messages": [{"role": "user", "content": "hi {{inputs.ticket}}"}],
        });
        if let (Some(base), Value::Object(extra)) = (config.as_object_mut(), extra) {
            base.extend(extra);
        }
        config
    }

    /// The (path, message) pairs of a rejected config.
    fn issues(config: Value) -> Vec<(String, String)> {
        match parse(config) {
            Ok(config) => panic!("expected errors, parsed {config:?}"),
            Err(err) => err
                .issues()
                .iter()
                .map(|i| (i.path.clone(), i.message.clone()))
                .collect(),
        }
    }

    /// Asserts exactly one issue, at `path`, whose message contains `needle`.
    fn assert_issue(config: Value, path: &str, needle: &str) {
        let got = issues(config);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, path, "{got:?}");
        assert!(got[0].1.contains(needle), "{:?} lacks {needle:?}", got[0].1);
    }

    const C: &str = "$.nodes[0].config";

    #[test]
    fn primary_form_with_defaults() {
        let config = parse(with(json!({"fallback_connections": ["b1", "b2"]}))).unwrap();
        assert_eq!(config.routing, Routing::Primary("p".into()));
        assert_eq!(config.fallbacks, ["b1", "b2"]);
        assert_eq!(config.failover_on, ErrorClass::DEFAULT_FAILOVER);
        assert_eq!(
            config.connection_names().collect::<Vec<_>>(),
            ["p", "b1", "b2"]
        );
        assert!(!config.stream);
        assert_eq!(config.model, None);
        assert_eq!(config.messages.len(), 1);
        assert_eq!(config.messages[0].role, MessageRole::User);
        assert!(!config.messages[0].cache);
        match &config.messages[0].content[..] {
            [PartSpec::Text(t)] => assert_eq!(t.as_str(), "hi {{inputs.ticket}}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn balanced_form_with_weights_and_model_map() {
        let config = parse(json!({
            "connections": ["a", {"name": "b", "weight": 3}],
            "load_balancing": "weighted",
            "fallback_connections": ["c"],
            "failover_on": ["overloaded", "auth"],
            "model": {"a": "gpt-4o", "c": "llama3"},
            "messages": [{"role": "user", "content": "x"}],
            "stream": true,
        }))
        .unwrap();
        assert_eq!(
            config.routing,
            Routing::Balanced {
                connections: vec![
                    WeightedConnection {
                        name: "a".into(),
                        weight: 1
                    },
                    WeightedConnection {
                        name: "b".into(),
                        weight: 3
                    },
                ],
                policy: LoadBalancing::Weighted,
            }
        );
        assert_eq!(
            config.failover_on,
            [ErrorClass::Overloaded, ErrorClass::Auth]
        );
        assert_eq!(config.model_for("a"), Some("gpt-4o"));
        assert_eq!(config.model_for("b"), None);
        assert_eq!(config.model_for("c"), Some("llama3"));
        assert!(config.stream);
        let default_policy = parse(json!({
            "connections": ["a"],
            "messages": [{"role": "user", "content": "x"}],
        }))
        .unwrap();
        assert!(matches!(
            default_policy.routing,
            Routing::Balanced {
                policy: LoadBalancing::RoundRobin,
                ..
            }
        ));
    }

    #[test]
    fn routing_errors() {
        assert_issue(
            json!({"primary_connection": "p", "connections": ["a"], "messages": [{"role": "user", "content": "x"}]}),
            C,
            "not both",
        );
        assert_issue(
            json!({"messages": [{"role": "user", "content": "x"}]}),
            C,
            "give `primary_connection` or `connections`",
        );
        assert_issue(
            with(json!({"load_balancing": "random"})),
            &format!("{C}.load_balancing"),
            "only applies to `connections`",
        );
        assert_issue(
            json!({"connections": [], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections"),
            "at least one connection",
        );
        assert_issue(
            json!({"connections": ["a", {"name": "b", "weight": 0}], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1].weight"),
            "from 1 to",
        );
        assert_issue(
            json!({"connections": ["a", {"name": "b", "weight": -2}], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1].weight"),
            "invalid value: integer `-2`",
        );
        assert_issue(
            json!({"connections": ["a", {"name": "b", "wait": 2}], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1].wait"),
            "unknown field `wait`",
        );
        assert_issue(
            json!({"connections": ["a", 7], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1]"),
            "expected a connection name or",
        );
        assert_issue(
            json!({"connections": ["a"], "load_balancing": "fastest", "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.load_balancing"),
            "unknown variant `fastest`",
        );
        assert_issue(
            with(json!({"failover_on": ["rate_limit", "boom"]})),
            &format!("{C}.failover_on[1]"),
            "unknown variant `boom`",
        );
        assert_issue(
            with(json!({"primary_connection": ""})),
            &format!("{C}.primary_connection"),
            "must not be empty",
        );
    }

    #[test]
    fn a_connection_named_twice_is_an_error() {
        assert_issue(
            with(json!({"fallback_connections": ["b", "p"]})),
            &format!("{C}.fallback_connections[1]"),
            "connection \"p\" is named more than once",
        );
        assert_issue(
            json!({"connections": ["a", {"name": "a", "weight": 2}], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1]"),
            "connection \"a\" is named more than once",
        );
    }

    #[test]
    fn model_map_keys_must_be_used_connections() {
        assert_issue(
            with(json!({"fallback_connections": ["b"], "model": {"p": "m1", "zz": "m2"}})),
            &format!("{C}.model.zz"),
            "connection \"zz\" is not used by this node (it uses p, b)",
        );
        assert_issue(
            with(json!({"model": {"p": 3}})),
            &format!("{C}.model.p"),
            "invalid type: integer `3`, expected a string",
        );
        assert_issue(
            with(json!({"model": ["m"]})),
            &format!("{C}.model"),
            "expected a model name or an object",
        );
        assert_issue(
            with(json!({"model": ""})),
            &format!("{C}.model"),
            "must not be empty",
        );
        let config = parse(with(json!({"model": "m"}))).unwrap();
        assert_eq!(config.model, Some(ModelSpec::Single("m".into())));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_located() {
        assert_issue(
            with(json!({"temprature": 1})),
            &format!("{C}.temprature"),
            "unknown field `temprature`",
        );
        assert_issue(
            with(json!({"stream": "yes"})),
            &format!("{C}.stream"),
            "expected a boolean",
        );
        assert_issue(json!("x"), C, "expected a JSON object");
        assert_issue(
            json!({"primary_connection": "p"}),
            C,
            "missing field `messages`",
        );
    }

    #[test]
    fn sampling_parameters() {
        let config = parse(with(json!({
            "temperature": 0, "top_p": 1, "max_tokens": 512, "stop": "END"
        })))
        .unwrap();
        assert_eq!(config.temperature, Some(0.0));
        assert_eq!(config.top_p, Some(1.0));
        assert_eq!(config.max_tokens, Some(512));
        assert_eq!(config.stop, ["END"]);
        let config = parse(with(json!({"stop": ["a", "b"], "temperature": 1.5}))).unwrap();
        assert_eq!(config.stop, ["a", "b"]);
        assert_eq!(config.temperature, Some(1.5));

        assert_issue(
            with(json!({"temperature": 2.5})),
            &format!("{C}.temperature"),
            "must be between 0 and 2, got 2.5",
        );
        assert_issue(
            with(json!({"temperature": -0.1})),
            &format!("{C}.temperature"),
            "between 0 and 2",
        );
        assert_issue(
            with(json!({"top_p": 1.01})),
            &format!("{C}.top_p"),
            "must be between 0 and 1",
        );
        assert_issue(
            with(json!({"max_tokens": 0})),
            &format!("{C}.max_tokens"),
            "from 1 to",
        );
        assert_issue(
            with(json!({"max_tokens": 5_000_000_000u64})),
            &format!("{C}.max_tokens"),
            "from 1 to",
        );
        assert_issue(
            with(json!({"max_tokens": 1.5})),
            &format!("{C}.max_tokens"),
            "invalid type: floating point `1.5`",
        );
        assert_issue(
            with(json!({"stop": ["1", "2", "3", "4", "5"]})),
            &format!("{C}.stop"),
            "at most 4 stop sequences are allowed, got 5",
        );
        assert_issue(
            with(json!({"stop": ["1", 2]})),
            &format!("{C}.stop[1]"),
            "expected a string",
        );
    }

    #[test]
    fn messages_parts_and_images() {
        let config = parse(with(json!({"messages": [
            {"role": "system", "content": "sys", "cache": true},
            {"role": "user", "name": "bob", "content": [
                {"type": "text", "text": "look: {{inputs.ticket}}"},
                {"type": "image_url", "image_url": {"url": "{{inputs.ticket}}", "detail": "low"}}
            ]},
        ]})))
        .unwrap();
        let [system, user] = &config.messages[..] else {
            panic!("{:?}", config.messages)
        };
        assert_eq!(system.role, MessageRole::System);
        assert!(system.cache);
        assert_eq!(user.name.as_deref(), Some("bob"));
        match &user.content[..] {
            [PartSpec::Text(t), PartSpec::Image { url, detail }] => {
                assert_eq!(t.as_str(), "look: {{inputs.ticket}}");
                assert_eq!(url.as_str(), "{{inputs.ticket}}");
                assert_eq!(detail.as_deref(), Some("low"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn message_errors() {
        let m = format!("{C}.messages");
        assert_issue(with(json!({"messages": []})), &m, "at least one message");
        assert_issue(
            with(json!({"messages": [{"role": "robot", "content": "x"}]})),
            &format!("{m}[0].role"),
            "unknown variant `robot`, expected one of `system`, `user`, `assistant`, `tool`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user"}]})),
            &format!("{m}[0]"),
            "a user message needs `content`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": null}]})),
            &format!("{m}[0]"),
            "a user message needs `content`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": []}]})),
            &format!("{m}[0].content"),
            "at least one part",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]})),
            &format!("{m}[0].content[0]"),
            "needs `text`",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "video", "text": "x"}]}]}),
            ),
            &format!("{m}[0].content[0].type"),
            "unknown variant `video`",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"uri": "x"}}]}]}),
            ),
            &format!("{m}[0].content[0].image_url.uri"),
            "unknown field `uri`",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "{{ nope }}"}}]}]}),
            ),
            &format!("{m}[0].content[0].image_url.url"),
            "unknown reference root `nope`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})),
            &format!("{m}[0].content[0]"),
            "needs `image_url`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": "{{inputs.ticket"}]})),
            &format!("{m}[0].content"),
            "unclosed `{{` at byte 0",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "content": 5}]})),
            &format!("{m}[0].content"),
            "expected a template string or an array of content parts",
        );
    }

    #[test]
    fn tool_messages_and_calls() {
        let config = parse(with(json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
        ]})))
        .unwrap();
        let assistant = &config.messages[1];
        assert!(assistant.content.is_empty());
        assert_eq!(
            assistant.tool_calls,
            [ToolCallSpec {
                id: "call_1".into(),
                name: "get".into(),
                arguments: "{\"city\":\"Oslo\"}".into()
            }]
        );
        assert_eq!(config.messages[2].tool_call_id.as_deref(), Some("call_1"));

        let m = format!("{C}.messages");
        assert_issue(
            with(json!({"messages": [{"role": "tool", "content": "x"}]})),
            &format!("{m}[0]"),
            "needs `tool_call_id`",
        );
        assert_issue(
            with(json!({"messages": [{"role": "tool", "tool_call_id": "zz", "content": "x"}]})),
            &format!("{m}[0].tool_call_id"),
            "no earlier assistant message has a tool call with id \"zz\"",
        );
        assert_issue(
            with(json!({"messages": [{"role": "user", "tool_call_id": "zz", "content": "x"}]})),
            &format!("{m}[0].tool_call_id"),
            "only tool messages",
        );
        assert_issue(
            with(
                json!({"messages": [{"role": "user", "content": "x", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}),
            ),
            &format!("{m}[0].tool_calls"),
            "only assistant messages have tool_calls",
        );
        assert_issue(
            with(json!({"messages": [{"role": "assistant"}]})),
            &format!("{m}[0]"),
            "an assistant message needs `content` (or `tool_calls`)",
        );
        assert_issue(
            with(json!({"messages": [{"role": "assistant", "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": {}}}]}]})),
            &format!("{m}[0].tool_calls[0].function.arguments"),
            "expected a string",
        );
    }

    #[test]
    fn tools_in_both_forms() {
        let config = parse(with(json!({
            "tools": [
                {"type": "function", "function": {"name": "a", "description": "A", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}, "strict": true}},
                {"name": "b"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "b"}},
        })))
        .unwrap();
        assert_eq!(config.tools.len(), 2);
        assert_eq!(config.tools[0].name, "a");
        assert_eq!(config.tools[0].description.as_deref(), Some("A"));
        assert_eq!(config.tools[0].strict, Some(true));
        assert_eq!(
            config.tools[0].parameters["properties"]["x"]["type"],
            "string"
        );
        assert_eq!(
            config.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            config.tool_choice,
            Some(ToolChoiceSpec::Function("b".into()))
        );
        let short = parse(with(
            json!({"tools": [{"name": "a"}], "tool_choice": {"function": "a"}}),
        ))
        .unwrap();
        assert_eq!(
            short.tool_choice,
            Some(ToolChoiceSpec::Function("a".into()))
        );
        for (word, want) in [
            ("auto", ToolChoiceSpec::Auto),
            ("none", ToolChoiceSpec::None),
            ("required", ToolChoiceSpec::Required),
        ] {
            let config =
                parse(with(json!({"tools": [{"name": "a"}], "tool_choice": word}))).unwrap();
            assert_eq!(config.tool_choice, Some(want));
        }
    }

    #[test]
    fn tool_errors() {
        let t = format!("{C}.tools");
        assert_issue(
            with(
                json!({"tools": [{"name": "a"}, {"type": "function", "function": {"name": "a"}}]}),
            ),
            &format!("{t}[1].function.name"),
            "tool \"a\" is defined more than once",
        );
        assert_issue(
            with(json!({"tools": [{"name": "a", "parameters": []}]})),
            &format!("{t}[0].parameters"),
            "must be a JSON Schema object",
        );
        assert_issue(
            with(json!({"tools": [{"description": "x"}]})),
            &format!("{t}[0]"),
            "a tool needs a `name`",
        );
        assert_issue(
            with(json!({"tools": [{"type": "function", "name": "a"}]})),
            &format!("{t}[0]"),
            "needs a `function` object",
        );
        assert_issue(
            with(json!({"tools": [{"type": "function", "name": "x", "function": {"name": "a"}}]})),
            &format!("{t}[0]"),
            "put name, description, parameters and strict inside it",
        );
        assert_issue(
            with(json!({"tools": [{"type": "retrieval", "function": {"name": "a"}}]})),
            &format!("{t}[0].type"),
            "unknown variant `retrieval`, expected `function`",
        );
        assert_issue(
            with(json!({"tools": [{"name": "a"}], "tool_choice": {"function": "b"}})),
            &format!("{C}.tool_choice"),
            "names function \"b\", which is not among tools (a)",
        );
        assert_issue(
            with(json!({"tool_choice": {"type": "function", "function": {"name": "b"}}})),
            &format!("{C}.tool_choice"),
            "no tools are defined",
        );
        assert_issue(
            with(json!({"tool_choice": "required"})),
            &format!("{C}.tool_choice"),
            "needs at least one tool",
        );
        assert_issue(
            with(json!({"tools": [{"name": "a"}], "tool_choice": "always"})),
            &format!("{C}.tool_choice"),
            "unknown tool_choice \"always\"",
        );
        assert_issue(
            with(json!({"tools": [{"name": "a"}], "tool_choice": {"function": {"nam": "a"}}})),
            &format!("{C}.tool_choice.function.nam"),
            "unknown field `nam`",
        );
    }

    #[test]
    fn response_formats() {
        let text = parse(with(json!({"response_format": {"type": "text"}}))).unwrap();
        assert_eq!(text.response_format, Some(ResponseFormatSpec::Text));
        let obj = parse(with(json!({"response_format": {"type": "json_object"}}))).unwrap();
        assert_eq!(obj.response_format, Some(ResponseFormatSpec::JsonObject));
        let schema = parse(with(
            json!({"response_format": {"type": "json_schema", "json_schema": {
            "name": "r", "schema": {"type": "object"}}}}),
        ))
        .unwrap();
        assert_eq!(
            schema.response_format,
            Some(ResponseFormatSpec::JsonSchema {
                name: "r".into(),
                schema: json!({"type": "object"}),
                strict: true
            })
        );
        let rf = format!("{C}.response_format");
        assert_issue(
            with(json!({"response_format": {"type": "yaml"}})),
            &format!("{rf}.type"),
            "unknown variant `yaml`, expected one of `text`, `json_object`, `json_schema`",
        );
        assert_issue(
            with(json!({"response_format": {"type": "json_schema"}})),
            &rf,
            "needs a `json_schema` object",
        );
        assert_issue(
            with(
                json!({"response_format": {"type": "json_object", "json_schema": {"name": "r", "schema": {}}}}),
            ),
            &format!("{rf}.json_schema"),
            "only allowed with type json_schema",
        );
        assert_issue(
            with(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": "s"}}}),
            ),
            &format!("{rf}.json_schema.schema"),
            "must be a JSON Schema object",
        );
        assert_issue(
            with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "r"}}})),
            &format!("{rf}.json_schema"),
            "missing field `schema`",
        );
    }

    #[test]
    fn cache_forms() {
        let on = parse(with(json!({"cache": true}))).unwrap();
        assert_eq!(
            on.cache,
            Some(CacheSpec {
                enabled: true,
                ttl_seconds: None
            })
        );
        let ttl = parse(with(json!({"cache": {"ttl_seconds": 300}}))).unwrap();
        assert_eq!(
            ttl.cache,
            Some(CacheSpec {
                enabled: true,
                ttl_seconds: Some(300)
            })
        );
        let off = parse(with(json!({"cache": {"enabled": false}}))).unwrap();
        assert_eq!(off.cache.map(|c| c.enabled), Some(false));
        assert_issue(
            with(json!({"cache": {"ttl_seconds": 0}})),
            &format!("{C}.cache.ttl_seconds"),
            "from 1 to",
        );
        assert_issue(
            with(json!({"cache": "yes"})),
            &format!("{C}.cache"),
            "expected a boolean or {\"enabled\"",
        );
    }
}
