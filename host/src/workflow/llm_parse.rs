//! Reading an `llm` node's `config`: a raw form where every field is optional
//! (so serde reports unknown or mistyped fields precisely), then checks that
//! need several fields at once, then the typed [`LlmConfig`]. Messages and
//! tools have their own files.

use super::llm_config::{CacheSpec, Effort, GroundingSpec, LlmConfig, ReasoningSpec, ResponseFormatSpec};
use super::llm_messages::{RawMessage, messages};
use super::llm_tools::{RawTool, RawToolChoice, tool_choice, tools};
use super::path::Loc;
use super::route_parse::{self, raw_config_with_route, take_route};
use super::shape::{BoolOrMap, Expect, Obj, StrOrMap, StrOrSeq, StrictValue};
use super::validate::Checker;
use serde::Deserialize;

raw_config_with_route! {
    /// The `config` of an `llm` node as written.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawLlmConfig {
        messages: Option<Vec<Obj<RawMessage>>>,
        stream: Option<bool>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        max_tokens: Option<u64>,
        stop: Option<StrOrSeq<RawStops>>,
        tools: Option<Vec<Obj<RawTool>>>,
        tool_choice: Option<StrOrMap<RawToolChoice>>,
        response_format: Option<StrOrMap<RawResponseFormat>>,
        cache: Option<BoolOrMap<RawCache>>,
        reasoning: Option<Obj<RawReasoning>>,
        grounding: Option<Obj<RawGrounding>>,
        /// Not an llm field: lets the fast pass read a `template` node's config
        /// with this same struct (see `raw`). Rejected in an llm node.
        template: Option<String>,
    }
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
                reasoning: None,
                grounding: None,
                template: Some(_),
            }
        )
    }

    /// The template of a config for which [`Self::is_template_only`] holds.
    pub(crate) fn into_template_only(self) -> Option<String> {
        if self.is_template_only() { self.template } else { None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct RawStops(Vec<String>);

impl Expect for RawStops {
    const EXPECT: &'static str = "a stop string or an array of strings";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponseFormat {
    #[serde(rename = "type")]
    kind: FormatType,
    json_schema: Option<Obj<RawJsonSchema>>,
}

impl Expect for RawResponseFormat {
    const EXPECT: &'static str =
        "\"text\", \"json_object\", or an object such as {\"type\": \"json_schema\", \"json_schema\": …}";
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReasoning {
    effort: Option<RawEffort>,
    budget_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrounding {
    web_search: Option<bool>,
    dynamic_threshold: Option<f64>,
}

impl Expect for RawGrounding {
    const EXPECT: &'static str = "an object such as {\"web_search\": true}";
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawEffort {
    Low,
    Medium,
    High,
}

impl Expect for RawCache {
    const EXPECT: &'static str = "a boolean or {\"enabled\": …, \"ttl_seconds\": …}";
}

/// Checks a raw config and builds the typed one; `None` when anything was reported.
pub(crate) fn convert(raw: RawLlmConfig, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<LlmConfig> {
    let before = cx.issue_count();
    if raw.template.is_some() {
        cx.issue(&loc.key("template"), "unknown field `template` in an llm node's config");
    }
    let route = route_parse::convert(take_route!(raw), loc, cx);
    let messages = messages(raw.messages, loc, cx);
    let tools = tools(raw.tools.unwrap_or_default(), &loc.key("tools"), cx);
    let tool_choice = raw.tool_choice.and_then(|choice| tool_choice(choice, &tools, &loc.key("tool_choice"), cx));
    let stop = match raw.stop {
        None => Vec::new(),
        Some(StrOrSeq::Str(one)) => vec![one],
        Some(StrOrSeq::Seq(RawStops(list))) => list,
    };
    if stop.len() > 4 {
        cx.issue(&loc.key("stop"), format!("at most 4 stop sequences are allowed, got {}", stop.len()));
    }
    let temperature = unit_range(raw.temperature, 2.0, &loc.key("temperature"), cx);
    let top_p = unit_range(raw.top_p, 1.0, &loc.key("top_p"), cx);
    let max_tokens = positive(raw.max_tokens, &loc.key("max_tokens"), cx);
    let response_format = raw.response_format.and_then(|format| {
        let here = loc.key("response_format");
        match format {
            StrOrMap::Map(format) => response_format(format, &here, cx),
            StrOrMap::Str(word) => response_format_word(&word, &here, cx),
        }
    });
    let cache = raw.cache.map(|cache| match cache {
        BoolOrMap::Bool(enabled) => CacheSpec { enabled, ttl_seconds: None },
        BoolOrMap::Map(RawCache { enabled, ttl_seconds }) => CacheSpec {
            enabled: enabled.unwrap_or(true),
            ttl_seconds: positive(ttl_seconds, &loc.key("cache").key("ttl_seconds"), cx),
        },
    });
    let reasoning = raw.reasoning.and_then(|Obj(r)| reasoning(r, &loc.key("reasoning"), cx));
    let grounding = raw.grounding.and_then(|Obj(g)| grounding(g, &loc.key("grounding"), cx));
    // Everything above is checked before bailing out, so one pass reports every problem.
    let config = LlmConfig {
        route: route?,
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
        reasoning,
        grounding,
    };
    (cx.issue_count() == before).then_some(config)
}

fn response_format(raw: RawResponseFormat, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<ResponseFormatSpec> {
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
            Some(ResponseFormatSpec::JsonSchema { name: spec.name, schema, strict: spec.strict.unwrap_or(true) })
        }
    }
}

/// The short form `"response_format": "json_object"` (or `"text"`), as the
/// object form with that `type`.
fn response_format_word(word: &str, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<ResponseFormatSpec> {
    match word {
        "text" => Some(ResponseFormatSpec::Text),
        "json_object" => Some(ResponseFormatSpec::JsonObject),
        "json_schema" => {
            cx.issue(loc, "json_schema needs the object form: {\"type\": \"json_schema\", \"json_schema\": {\"name\": …, \"schema\": {…}}}");
            None
        }
        other => {
            cx.issue(
                loc,
                format!(
                    "unknown response format \"{other}\"; expected \"text\", \"json_object\" or the json_schema object"
                ),
            );
            None
        }
    }
}

/// A sampling parameter within `0..=max`.
fn unit_range(value: Option<f64>, max: f64, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<f32> {
    let value = value?;
    if (0.0..=max).contains(&value) {
        Some(value as f32)
    } else {
        cx.issue(loc, format!("must be between 0 and {max}, got {value}"));
        None
    }
}

/// `reasoning`: an effort or a token budget, exactly one.
fn reasoning(raw: RawReasoning, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<ReasoningSpec> {
    match (raw.effort, raw.budget_tokens) {
        (Some(effort), None) => Some(ReasoningSpec::Effort(match effort {
            RawEffort::Low => Effort::Low,
            RawEffort::Medium => Effort::Medium,
            RawEffort::High => Effort::High,
        })),
        (None, Some(n)) => positive(Some(n), &loc.key("budget_tokens"), cx).map(ReasoningSpec::BudgetTokens),
        (Some(_), Some(_)) => {
            cx.issue(loc, "set either `effort` or `budget_tokens`, not both");
            None
        }
        (None, None) => {
            cx.issue(loc, "expected {\"effort\": \"low\"|\"medium\"|\"high\"} or {\"budget_tokens\": N}");
            None
        }
    }
}

/// `grounding`: `web_search` (the one kind there is) on or off, and an
/// optional dynamic-retrieval threshold within 0..=1 when on.
fn grounding(raw: RawGrounding, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<GroundingSpec> {
    let threshold = unit_range(raw.dynamic_threshold, 1.0, &loc.key("dynamic_threshold"), cx);
    match raw.web_search {
        Some(true) => Some(GroundingSpec { dynamic_threshold: threshold }),
        Some(false) if raw.dynamic_threshold.is_some() => {
            cx.issue(&loc.key("dynamic_threshold"), "applies only with \"web_search\": true");
            None
        }
        Some(false) => None,
        None => {
            cx.issue(loc, "expected {\"web_search\": true} (optionally with \"dynamic_threshold\": 0 to 1)");
            None
        }
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
pub(crate) mod tests {
    use super::super::llm_config::*;
    use super::super::route_spec::*;
    use super::super::{NodeKind, Workflow, WorkflowError};
    use crate::error_class::ErrorClass;
    use serde_json::{Value, json};

    /// Parses a one-node workflow around `config`.
    pub(crate) fn parse(config: Value) -> Result<LlmConfig, WorkflowError> {
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

    pub(crate) fn with(extra: Value) -> Value {
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
            Err(err) => err.issues().iter().map(|i| (i.path.clone(), i.message.clone())).collect(),
        }
    }

    /// Asserts exactly one issue, at `path`, whose message contains `needle`.
    pub(crate) fn assert_issue(config: Value, path: &str, needle: &str) {
        let got = issues(config);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, path, "{got:?}");
        assert!(got[0].1.contains(needle), "{:?} lacks {needle:?}", got[0].1);
    }

    pub(crate) const C: &str = "$.nodes[0].config";

    #[test]
    fn primary_form_with_defaults() {
        let config = parse(with(json!({"fallback_connections": ["b1", "b2"]}))).unwrap();
        assert_eq!(config.route.routing, Routing::Primary("p".into()));
        assert_eq!(config.route.fallbacks, ["b1", "b2"]);
        assert_eq!(config.route.failover_on, ErrorClass::DEFAULT_FAILOVER);
        assert_eq!(config.route.connection_names().collect::<Vec<_>>(), ["p", "b1", "b2"]);
        assert!(!config.stream);
        assert_eq!(config.route.model, None);
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
            config.route.routing,
            Routing::Balanced {
                connections: vec![
                    WeightedConnection { name: "a".into(), weight: 1 },
                    WeightedConnection { name: "b".into(), weight: 3 },
                ],
                policy: LoadBalancing::Weighted,
            }
        );
        assert_eq!(config.route.failover_on, [ErrorClass::Overloaded, ErrorClass::Auth]);
        assert_eq!(config.route.model_for("a"), Some("gpt-4o"));
        assert_eq!(config.route.model_for("b"), None);
        assert_eq!(config.route.model_for("c"), Some("llama3"));
        assert!(config.stream);
        let default_policy = parse(json!({
            "connections": ["a"],
            "messages": [{"role": "user", "content": "x"}],
        }))
        .unwrap();
        assert!(matches!(default_policy.route.routing, Routing::Balanced { policy: LoadBalancing::RoundRobin, .. }));
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
        assert_issue(with(json!({"primary_connection": ""})), &format!("{C}.primary_connection"), "must not be empty");
        assert_issue(
            with(json!({"primary_connection": "a/b"})),
            &format!("{C}.primary_connection"),
            "a connection name must not contain `/`",
        );
        assert_issue(
            json!({"connections": ["ok", "x\u{1b}"], "messages": [{"role": "user", "content": "x"}]}),
            &format!("{C}.connections[1]"),
            "a connection name must not contain control",
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
        assert_issue(with(json!({"model": ["m"]})), &format!("{C}.model"), "expected a model name or an object");
        assert_issue(with(json!({"model": ""})), &format!("{C}.model"), "must not be empty");
        let config = parse(with(json!({"model": "m"}))).unwrap();
        assert_eq!(config.route.model, Some(ModelSpec::Single("m".into())));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_located() {
        assert_issue(with(json!({"temprature": 1})), &format!("{C}.temprature"), "unknown field `temprature`");
        assert_issue(with(json!({"stream": "yes"})), &format!("{C}.stream"), "expected a boolean");
        assert_issue(json!("x"), C, "expected a JSON object");
        assert_issue(json!({"primary_connection": "p"}), C, "missing field `messages`");
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
        assert_issue(with(json!({"temperature": -0.1})), &format!("{C}.temperature"), "between 0 and 2");
        assert_issue(with(json!({"top_p": 1.01})), &format!("{C}.top_p"), "must be between 0 and 1");
        assert_issue(with(json!({"max_tokens": 0})), &format!("{C}.max_tokens"), "from 1 to");
        assert_issue(with(json!({"max_tokens": 5_000_000_000u64})), &format!("{C}.max_tokens"), "from 1 to");
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
        assert_issue(with(json!({"stop": ["1", 2]})), &format!("{C}.stop[1]"), "expected a string");
    }

    #[test]
    fn response_formats() {
        let text = parse(with(json!({"response_format": {"type": "text"}}))).unwrap();
        assert_eq!(text.response_format, Some(ResponseFormatSpec::Text));
        let obj = parse(with(json!({"response_format": {"type": "json_object"}}))).unwrap();
        assert_eq!(obj.response_format, Some(ResponseFormatSpec::JsonObject));
        let word = parse(with(json!({"response_format": "json_object"}))).unwrap();
        assert_eq!(word.response_format, Some(ResponseFormatSpec::JsonObject));
        let schema = parse(with(json!({"response_format": {"type": "json_schema", "json_schema": {
            "name": "r", "schema": {"type": "object"}}}})))
        .unwrap();
        assert_eq!(
            schema.response_format,
            Some(ResponseFormatSpec::JsonSchema { name: "r".into(), schema: json!({"type": "object"}), strict: true })
        );
        let rf = format!("{C}.response_format");
        assert_issue(
            with(json!({"response_format": {"type": "yaml"}})),
            &format!("{rf}.type"),
            "unknown variant `yaml`, expected one of `text`, `json_object`, `json_schema`",
        );
        assert_issue(with(json!({"response_format": {"type": "json_schema"}})), &rf, "needs a `json_schema` object");
        assert_issue(
            with(json!({"response_format": {"type": "json_object", "json_schema": {"name": "r", "schema": {}}}})),
            &format!("{rf}.json_schema"),
            "only allowed with type json_schema",
        );
        assert_issue(
            with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": "s"}}})),
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
    fn grounding_forms_and_errors_name_the_path() {
        let on = parse(with(json!({"grounding": {"web_search": true}}))).unwrap();
        assert_eq!(on.grounding, Some(GroundingSpec { dynamic_threshold: None }));
        let dynamic = parse(with(json!({"grounding": {"web_search": true, "dynamic_threshold": 0.5}}))).unwrap();
        assert_eq!(dynamic.grounding, Some(GroundingSpec { dynamic_threshold: Some(0.5) }));
        assert_eq!(parse(with(json!({"grounding": {"web_search": false}}))).unwrap().grounding, None);
        assert_issue(
            with(json!({"grounding": {"web_search": true, "dynamic_threshold": 2}})),
            &format!("{C}.grounding.dynamic_threshold"),
            "between 0 and 1",
        );
        assert_issue(
            with(json!({"grounding": {"web_search": false, "dynamic_threshold": 0.2}})),
            &format!("{C}.grounding.dynamic_threshold"),
            "only with",
        );
        assert_issue(with(json!({"grounding": {}})), &format!("{C}.grounding"), "web_search");
        assert_issue(
            with(json!({"grounding": {"google_search": true}})),
            &format!("{C}.grounding.google_search"),
            "web_search",
        );
        assert_issue(with(json!({"grounding": true})), &format!("{C}.grounding"), "object");
    }

    #[test]
    fn reasoning_forms_and_errors_name_the_path() {
        let effort = parse(with(json!({"reasoning": {"effort": "high"}}))).unwrap();
        assert_eq!(effort.reasoning, Some(ReasoningSpec::Effort(Effort::High)));
        let budget = parse(with(json!({"reasoning": {"budget_tokens": 2048}}))).unwrap();
        assert_eq!(budget.reasoning, Some(ReasoningSpec::BudgetTokens(2048)));
        assert_issue(
            with(json!({"reasoning": {"effort": "max"}})),
            &format!("{C}.reasoning.effort"),
            "unknown variant",
        );
        assert_issue(
            with(json!({"reasoning": {"budget_tokens": 0}})),
            &format!("{C}.reasoning.budget_tokens"),
            "from 1 to",
        );
        assert_issue(
            with(json!({"reasoning": {"effort": "low", "budget_tokens": 9}})),
            &format!("{C}.reasoning"),
            "not both",
        );
        assert_issue(with(json!({"reasoning": {}})), &format!("{C}.reasoning"), "budget_tokens");
        assert_issue(with(json!({"reasoning": "high"})), &format!("{C}.reasoning"), "object");
    }

    #[test]
    fn cache_forms() {
        let on = parse(with(json!({"cache": true}))).unwrap();
        assert_eq!(on.cache, Some(CacheSpec { enabled: true, ttl_seconds: None }));
        let ttl = parse(with(json!({"cache": {"ttl_seconds": 300}}))).unwrap();
        assert_eq!(ttl.cache, Some(CacheSpec { enabled: true, ttl_seconds: Some(300) }));
        let off = parse(with(json!({"cache": {"enabled": false}}))).unwrap();
        assert_eq!(off.cache.map(|c| c.enabled), Some(false));
        assert_issue(with(json!({"cache": {"ttl_seconds": 0}})), &format!("{C}.cache.ttl_seconds"), "from 1 to");
        assert_issue(with(json!({"cache": "yes"})), &format!("{C}.cache"), "expected a boolean or {\"enabled\"");
    }
}
