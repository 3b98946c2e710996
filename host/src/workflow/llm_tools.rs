//! The `tools` and `tool_choice` of an `llm` node, in both the OpenAI form
//! (`{"type": "function", "function": {…}}`) and the short form.

use super::llm_config::{ToolChoiceSpec, ToolSpec};
use super::path::Loc;
use super::shape::{Expect, Obj, StrOrMap, StrictValue};
use super::validate::Checker;
use serde::Deserialize;
use serde_json::{Value, json};

/// The only tool type there is; an enum so serde names it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ToolType {
    Function,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTool {
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
pub(crate) struct RawToolChoice {
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

pub(crate) fn tools(raw: Vec<Obj<RawTool>>, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Vec<ToolSpec> {
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
                    cx.issue(&item, "with `function`, put name, description, parameters and strict inside it");
                }
                (function.name, function.description, function.parameters, function.strict, &function_loc)
            }
            None => {
                if tool.kind.is_some() {
                    cx.issue(&item, "`type: function` needs a `function` object (or drop `type` for the short form)");
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
            cx.issue(&base.key("name"), format!("tool \"{name}\" is defined more than once"));
        }
        let parameters = match parameters.map(|StrictValue(value)| value) {
            None => json!({"type": "object", "properties": {}}),
            Some(schema @ Value::Object(_)) => schema,
            Some(_) => {
                cx.issue(&base.key("parameters"), "must be a JSON Schema object");
                continue;
            }
        };
        out.push(ToolSpec { name, description, parameters, strict });
    }
    out
}

pub(crate) fn tool_choice(
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
                cx.issue(loc, format!("unknown tool_choice \"{word}\"; expected {}", RawToolChoice::EXPECT));
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
                format!("names function \"{name}\", which is not among tools ({})", names.join(", "))
            };
            cx.issue(loc, message);
        }
        _ => {}
    }
    Some(choice)
}

#[cfg(test)]
mod tests {
    use super::super::llm_config::*;
    use super::super::llm_parse::tests::{C, assert_issue, parse, with};
    use serde_json::json;

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
        assert_eq!(config.tools[0].parameters["properties"]["x"]["type"], "string");
        assert_eq!(config.tools[1].parameters, json!({"type": "object", "properties": {}}));
        assert_eq!(config.tool_choice, Some(ToolChoiceSpec::Function("b".into())));
        let short = parse(with(json!({"tools": [{"name": "a"}], "tool_choice": {"function": "a"}}))).unwrap();
        assert_eq!(short.tool_choice, Some(ToolChoiceSpec::Function("a".into())));
        for (word, want) in
            [("auto", ToolChoiceSpec::Auto), ("none", ToolChoiceSpec::None), ("required", ToolChoiceSpec::Required)]
        {
            let config = parse(with(json!({"tools": [{"name": "a"}], "tool_choice": word}))).unwrap();
            assert_eq!(config.tool_choice, Some(want));
        }
    }

    #[test]
    fn tool_errors() {
        let t = format!("{C}.tools");
        assert_issue(
            with(json!({"tools": [{"name": "a"}, {"type": "function", "function": {"name": "a"}}]})),
            &format!("{t}[1].function.name"),
            "tool \"a\" is defined more than once",
        );
        assert_issue(
            with(json!({"tools": [{"name": "a", "parameters": []}]})),
            &format!("{t}[0].parameters"),
            "must be a JSON Schema object",
        );
        assert_issue(with(json!({"tools": [{"description": "x"}]})), &format!("{t}[0]"), "a tool needs a `name`");
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
        assert_issue(with(json!({"tool_choice": "required"})), &format!("{C}.tool_choice"), "needs at least one tool");
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
}
