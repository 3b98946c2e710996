//! The workflow's `output`: any JSON value whose strings are templates, so the
//! result can be shaped (objects, arrays) rather than being one string.

use super::path::Loc;
use super::template::{Lookup, Template, TemplateError};
use super::validate::Checker;
use serde_json::{Map, Value};

/// A JSON value with its string leaves parsed as templates.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputSpec {
    /// A string leaf. Exactly one reference renders as the referenced value itself.
    Template(Template),
    /// A number, boolean or null, copied as-is.
    Literal(Value),
    /// An array of outputs.
    Array(Vec<OutputSpec>),
    /// An object of outputs, in serde_json's key order (sorted, unless its
    /// `preserve_order` feature is on).
    Object(Vec<(String, OutputSpec)>),
}

impl OutputSpec {
    /// Renders the final result of a run from the node outputs in `ctx`.
    pub fn render<L: Lookup + ?Sized>(&self, ctx: &L) -> Result<Value, TemplateError> {
        Ok(match self {
            OutputSpec::Template(template) => match template.as_single_reference() {
                Some(reference) => reference.resolve(ctx)?.clone(),
                None => Value::String(template.render(ctx)?),
            },
            OutputSpec::Literal(value) => value.clone(),
            OutputSpec::Array(items) => {
                Value::Array(items.iter().map(|item| item.render(ctx)).collect::<Result<_, _>>()?)
            }
            OutputSpec::Object(members) => {
                let mut map = Map::new();
                for (key, member) in members {
                    map.insert(key.clone(), member.render(ctx)?);
                }
                Value::Object(map)
            }
        })
    }

    /// Builds the spec from the raw JSON, checking every template; `None` if any is invalid.
    pub(crate) fn build(value: Value, loc: &Loc<'_>, cx: &mut Checker<'_, '_>) -> Option<Self> {
        match value {
            Value::String(text) => cx.template(loc, text).map(OutputSpec::Template),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.into_iter().enumerate() {
                    match OutputSpec::build(item, &loc.index(i), cx) {
                        Some(spec) => out.push(spec),
                        None => ok = false,
                    }
                }
                ok.then_some(OutputSpec::Array(out))
            }
            Value::Object(map) => {
                let mut out = Vec::with_capacity(map.len());
                let mut ok = true;
                for (key, member) in map {
                    match OutputSpec::build(member, &loc.key(&key), cx) {
                        Some(spec) => out.push((key, spec)),
                        None => ok = false,
                    }
                }
                ok.then_some(OutputSpec::Object(out))
            }
            other => Some(OutputSpec::Literal(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Workflow;
    use super::super::template::tests::ctx;
    use super::*;
    use serde_json::json;

    fn output_of(output: Value) -> Result<Option<OutputSpec>, super::super::WorkflowError> {
        let doc = json!({
            "name": "w",
            "inputs": {"ticket": {"type": "string"}},
            "nodes": [{"id": "x", "node_type": "template", "config": {"template": "t"}}],
            "output": output,
        });
        Workflow::parse(&doc.to_string()).map(|w| w.output)
    }

    #[test]
    fn single_reference_yields_the_value_itself() {
        let spec = output_of(json!("{{nodes.x.output.json}}")).unwrap().unwrap();
        assert_eq!(spec.render(&ctx()).unwrap(), json!({"items": [{"name": "first"}, {"name": "second"}], "ok": true}));
    }

    #[test]
    fn nested_shapes_render_with_strings_and_literals() {
        let spec = output_of(json!({
            "category": "{{nodes.x.output.json.items.0.name}}",
            "summary": "ticket: {{inputs.ticket}}",
            "flags": [true, 1, null, "{{ nodes.x.output.json.ok }}"],
        }))
        .unwrap()
        .unwrap();
        assert_eq!(
            spec.render(&ctx()).unwrap(),
            json!({
                "category": "first",
                "summary": "ticket: printer on fire",
                "flags": [true, 1, null, true],
            })
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        let spec = output_of(json!(["{{nodes.x.output.json.nope}}"])).unwrap().unwrap();
        let err = spec.render(&ctx()).unwrap_err();
        assert!(err.to_string().contains("nodes.x.output.json.nope"), "{err}");
    }

    #[test]
    fn absent_output_is_none() {
        let doc = json!({
            "name": "w",
            "nodes": [{"id": "x", "node_type": "template", "config": {"template": "t"}}],
        });
        assert!(Workflow::parse(&doc.to_string()).unwrap().output.is_none());
    }

    #[test]
    fn output_template_errors_are_located() {
        let err = output_of(json!({"a": ["ok", "{{nodes.x}}"], "b": "{{inputs.nope}}", "c d": "{{nodes.q.output}}"}))
            .unwrap_err();
        let issues = err.issues();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["$.output.a[1]", "$.output.b", "$.output[\"c d\"]"]);
        assert!(issues[0].message.contains("nodes.ID.output"), "{err}");
        assert!(issues[1].message.contains("unknown input \"nope\""), "{err}");
        assert!(issues[2].message.contains("unknown node \"q\""), "{err}");
    }
}
