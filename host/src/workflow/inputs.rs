//! Declared run inputs: their types, defaults, and turning what a caller gives
//! (CLI text or typed JSON) into the values templates see.

use super::Workflow;
use super::error::{InputIssue, Issue, WorkflowError};
use super::path::Loc;
use super::shape::{self, Obj};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// The JSON type an input must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Any string; CLI text is taken as-is.
    String,
    /// Any JSON number.
    Number,
    /// A whole number that fits i64 or u64.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object; CLI text is parsed as JSON.
    Object,
    /// A JSON array; CLI text is parsed as JSON.
    Array,
}

impl InputType {
    /// The name used in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Object => "object",
            InputType::Array => "array",
        }
    }

    /// Whether `value` has this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Object => value.is_object(),
            InputType::Array => value.is_array(),
        }
    }

    /// Whether a template may look inside a value of this type (`inputs.x.field`).
    pub fn has_fields(self) -> bool {
        matches!(self, InputType::Object | InputType::Array)
    }

    /// Converts command-line text to a value of this type.
    pub fn parse_text(self, text: &str) -> Result<Value, String> {
        let bad = || format!("expected {}, got {text:?}", self.as_str());
        let trimmed = text.trim();
        match self {
            InputType::String => Ok(Value::String(text.to_owned())),
            InputType::Integer => parse_integer(trimmed).ok_or_else(bad),
            InputType::Number => parse_integer(trimmed)
                .or_else(|| trimmed.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number))
                .ok_or_else(bad),
            InputType::Boolean => match trimmed {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(bad()),
            },
            InputType::Object | InputType::Array => {
                let value: Value =
                    serde_json::from_str(text).map_err(|e| format!("expected {} as JSON: {e}", self.as_str()))?;
                if self.matches(&value) { Ok(value) } else { Err(bad()) }
            }
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_integer(text: &str) -> Option<Value> {
    text.parse::<i64>().map(Value::from).or_else(|_| text.parse::<u64>().map(Value::from)).ok()
}

/// One declared input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// The type a value must have (`type` in the file).
    pub kind: InputType,
    /// Whether a run must give it; false when it has a default.
    pub required: bool,
    /// The value used when a run does not give one; already type-checked.
    pub default: Option<Value>,
    /// For help text.
    pub description: Option<String>,
}

/// The `inputs` object as written, in file order, duplicates rejected.
#[derive(Debug, Default)]
pub(crate) struct RawInputs(pub Vec<(String, RawInput)>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInput {
    #[serde(rename = "type")]
    kind: InputType,
    required: Option<bool>,
    #[serde(default, deserialize_with = "shape::present")]
    default: Option<Value>,
    description: Option<String>,
}

impl<'de> Deserialize<'de> for RawInputs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawInputs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping input names to declarations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawInputs, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !seen.insert(name.clone()) {
                        return Err(de::Error::custom(format_args!("input `{name}` is declared twice")));
                    }
                    let Obj(input) = map.next_value::<Obj<RawInput>>()?;
                    out.push((name, input));
                }
                Ok(RawInputs(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Checks the declarations; bad ones are reported and left out.
pub(crate) fn convert(raw: RawInputs, loc: &Loc<'_>, issues: &mut Vec<Issue>) -> Vec<(String, InputSpec)> {
    let mut out = Vec::with_capacity(raw.0.len());
    for (name, input) in raw.0 {
        let here = loc.key(&name);
        if !super::is_valid_id(&name) {
            issues.push(Issue {
                path: here.to_string(),
                message: "input names may contain only ASCII letters, digits, `_` and `-`".into(),
            });
        }
        if let Some(default) = &input.default {
            if !input.kind.matches(default) {
                issues.push(Issue {
                    path: here.key("default").to_string(),
                    message: format!("default {default} is not of type {}", input.kind),
                });
            }
            if input.required == Some(true) {
                issues.push(Issue {
                    path: here.key("required").to_string(),
                    message: "an input with a default is never required; drop one of them".into(),
                });
            }
        }
        // Kept even when invalid (the parse fails anyway) so references to it are not
        // also reported as unknown.
        out.push((
            name,
            InputSpec {
                kind: input.kind,
                required: input.required.unwrap_or(input.default.is_none()),
                default: input.default,
                description: input.description,
            },
        ));
    }
    out
}

impl Workflow {
    /// Resolves `--input k=v` pairs: text converted per declared type, defaults
    /// applied; every problem reported at once.
    pub fn resolve_inputs(&self, provided: Vec<(String, String)>) -> Result<Map<String, Value>, WorkflowError> {
        let mut values = Map::new();
        let mut issues = Vec::new();
        let mut given = HashSet::new();
        for (name, text) in provided {
            let Some(spec) = self.declared(&name, &mut issues) else {
                continue;
            };
            if !given.insert(name.clone()) {
                issues.push(InputIssue { name, message: "is given more than once".into() });
                continue;
            }
            match spec.kind.parse_text(&text) {
                Ok(value) => {
                    values.insert(name, value);
                }
                Err(message) => issues.push(InputIssue { name, message }),
            }
        }
        self.finish_inputs(values, issues)
    }

    /// Resolves typed JSON inputs (e.g. from an API call): type-checked, defaults applied.
    pub fn resolve_input_values(&self, provided: Map<String, Value>) -> Result<Map<String, Value>, WorkflowError> {
        let mut values = Map::new();
        let mut issues = Vec::new();
        for (name, value) in provided {
            let Some(spec) = self.declared(&name, &mut issues) else {
                continue;
            };
            if spec.kind.matches(&value) {
                values.insert(name, value);
            } else {
                issues.push(InputIssue { message: format!("expected {}, got {value}", spec.kind), name });
            }
        }
        self.finish_inputs(values, issues)
    }

    fn declared(&self, name: &str, issues: &mut Vec<InputIssue>) -> Option<&InputSpec> {
        let found = self.inputs.iter().find(|(n, _)| n == name).map(|(_, s)| s);
        if found.is_none() {
            let message = if self.inputs.is_empty() {
                "is not declared; this workflow declares no inputs".to_owned()
            } else {
                let names: Vec<&str> = self.inputs.iter().map(|(n, _)| n.as_str()).collect();
                format!("is not declared; declared inputs: {}", names.join(", "))
            };
            issues.push(InputIssue { name: name.to_owned(), message });
        }
        found
    }

    fn finish_inputs(
        &self,
        mut values: Map<String, Value>,
        mut issues: Vec<InputIssue>,
    ) -> Result<Map<String, Value>, WorkflowError> {
        for (name, spec) in &self.inputs {
            // An input given with a bad value is already reported; "missing" would mislead.
            if values.contains_key(name) || issues.iter().any(|issue| issue.name == *name) {
                continue;
            }
            if let Some(default) = &spec.default {
                values.insert(name.clone(), default.clone());
            } else if spec.required {
                issues.push(InputIssue {
                    name: name.clone(),
                    message: format!("is required ({}) but was not given", spec.kind),
                });
            }
        }
        if issues.is_empty() { Ok(values) } else { Err(WorkflowError::Inputs(issues)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A workflow declaring `inputs`, given as JSON text so declaration order is kept.
    fn workflow(inputs: &str) -> Result<Workflow, WorkflowError> {
        let text = format!(
            r#"{{"name": "w", "inputs": {inputs},
                "nodes": [{{"id": "x", "node_type": "template", "config": {{"template": "t"}}}}]}}"#
        );
        Workflow::parse(&text)
    }

    fn all_types() -> Workflow {
        workflow(
            r#"{
                "s": {"type": "string"},
                "n": {"type": "number", "required": false},
                "i": {"type": "integer", "required": false},
                "b": {"type": "boolean", "default": false},
                "o": {"type": "object", "required": false},
                "a": {"type": "array", "default": [1]}
            }"#,
        )
        .unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn input_issues(err: WorkflowError) -> Vec<(String, String)> {
        match err {
            WorkflowError::Inputs(issues) => issues.into_iter().map(|i| (i.name, i.message)).collect(),
            other => panic!("expected input issues, got {other:?}"),
        }
    }

    #[test]
    fn declarations_keep_file_order_and_required_defaults() {
        let w = all_types();
        let names: Vec<&str> = w.inputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["s", "n", "i", "b", "o", "a"]);
        let s = &w.inputs[0].1;
        assert_eq!((s.kind, s.required), (InputType::String, true));
        let b = &w.inputs[3].1;
        assert_eq!((b.kind, b.required), (InputType::Boolean, false));
        assert_eq!(b.default, Some(json!(false)));
    }

    #[test]
    fn text_is_converted_per_type() {
        let got = all_types()
            .resolve_inputs(pairs(&[("s", " 42 "), ("n", "2.5"), ("i", "-7"), ("b", "true"), ("o", r#"{"k": [1]}"#)]))
            .unwrap();
        assert_eq!(Value::Object(got), json!({"s": " 42 ", "n": 2.5, "i": -7, "b": true, "o": {"k": [1]}, "a": [1]}));
        let got = all_types().resolve_inputs(pairs(&[("s", ""), ("n", "3"), ("i", "18446744073709551615")])).unwrap();
        assert_eq!(got["n"], json!(3));
        assert!(got["n"].is_i64());
        assert_eq!(got["i"], json!(u64::MAX));
        assert!(!got.contains_key("o"));
    }

    #[test]
    fn bad_text_names_the_input() {
        let err = all_types()
            .resolve_inputs(pairs(&[("s", "x"), ("n", "inf"), ("i", "1.5"), ("b", "yes"), ("o", "[1]"), ("a", "{")]))
            .unwrap_err();
        let issues = input_issues(err);
        let names: Vec<&str> = issues.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n", "i", "b", "o", "a"]);
        assert_eq!(issues[0].1, "expected number, got \"inf\"");
        assert_eq!(issues[1].1, "expected integer, got \"1.5\"");
        assert_eq!(issues[3].1, "expected object, got \"[1]\"");
        assert!(issues[4].1.starts_with("expected array as JSON: "), "{issues:?}");
    }

    #[test]
    fn unknown_missing_and_repeated_inputs() {
        let err = all_types().resolve_inputs(pairs(&[("zz", "1"), ("b", "true"), ("b", "false")])).unwrap_err();
        let display = err.to_string();
        let issues = input_issues(err);
        assert_eq!(
            issues,
            [
                ("zz".to_string(), "is not declared; declared inputs: s, n, i, b, o, a".to_string()),
                ("b".to_string(), "is given more than once".to_string()),
                ("s".to_string(), "is required (string) but was not given".to_string()),
            ]
        );
        assert!(display.starts_with("input \"zz\": is not declared"), "{display}");
        let none = workflow("{}").unwrap();
        let issues = input_issues(none.resolve_inputs(pairs(&[("a", "1")])).unwrap_err());
        assert_eq!(issues[0].1, "is not declared; this workflow declares no inputs");
    }

    #[test]
    fn typed_values_are_checked() {
        let mut provided = Map::new();
        provided.insert("s".into(), json!(5));
        provided.insert("i".into(), json!(2.0));
        provided.insert("o".into(), json!({"x": 1}));
        let issues = input_issues(all_types().resolve_input_values(provided).unwrap_err());
        assert_eq!(
            issues,
            [
                ("i".to_string(), "expected integer, got 2.0".to_string()),
                ("s".to_string(), "expected string, got 5".to_string()),
            ]
        );
        let mut provided = Map::new();
        provided.insert("s".into(), json!("hi"));
        provided.insert("n".into(), json!(1e3));
        let got = all_types().resolve_input_values(provided).unwrap();
        assert_eq!(Value::Object(got), json!({"s": "hi", "n": 1000.0, "b": false, "a": [1]}));
    }

    #[test]
    fn declaration_errors_are_located() {
        let err =
            workflow(r#"{"a": {"type": "integer", "default": "x"}, "b b": {"type": "string"}, "c": {"type": "date"}}"#)
                .unwrap_err();
        assert_eq!(err.issues()[0].path, "$.inputs.c.type");
        assert!(err.issues()[0].message.contains("unknown variant `date`"), "{err}");

        let err = workflow(
            r#"{
                "a": {"type": "integer", "default": "x"},
                "b b": {"type": "string"},
                "c": {"type": "string", "default": null},
                "d": {"type": "string", "default": "x", "required": true}
            }"#,
        )
        .unwrap_err();
        let got: Vec<(&str, &str)> = err.issues().iter().map(|i| (i.path.as_str(), i.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("$.inputs.a.default", "default \"x\" is not of type integer"),
                ("$.inputs[\"b b\"]", "input names may contain only ASCII letters, digits, `_` and `-`"),
                ("$.inputs.c.default", "default null is not of type string"),
                ("$.inputs.d.required", "an input with a default is never required; drop one of them"),
            ]
        );
    }

    #[test]
    fn duplicate_and_unknown_declaration_fields() {
        let text = r#"{"name":"w","inputs":{"a":{"type":"string"},"a":{"type":"string"}},
            "nodes":[{"id":"x","node_type":"template","config":{"template":"t"}}]}"#;
        let err = Workflow::parse(text).unwrap_err();
        assert_eq!(err.issues()[0].path, "$.inputs");
        assert!(err.issues()[0].message.starts_with("input `a` is declared twice"), "{err}");
        let err = workflow(r#"{"a": {"type": "string", "optional": true}}"#).unwrap_err();
        assert_eq!(err.issues()[0].path, "$.inputs.a.optional");
        assert!(err.issues()[0].message.starts_with("unknown field `optional`"), "{err}");
    }
}
