//! `{{ path }}` templates: parsed once when the workflow loads, rendered per run
//! without re-scanning the text.

use serde_json::Value;
use std::fmt::{self, Write};
use std::ops::Range;

/// Where a template finds the values its references name; the executor implements it.
pub trait Lookup {
    /// The resolved value of run input `name`, if the run has one.
    fn input(&self, name: &str) -> Option<&Value>;
    /// The output of node `id`, if it has finished.
    fn node_output(&self, id: &str) -> Option<&Value>;
}

/// What a reference starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `inputs.NAME`: a run input.
    Input(String),
    /// `nodes.ID.output`: the output of another node.
    Node(String),
}

/// One `{{ … }}` in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The input or node the path starts at.
    pub target: Target,
    /// Object keys or array indexes below the target (after `inputs.NAME` or `nodes.ID.output`).
    pub path: Vec<String>,
    /// Byte offset of the `{{` in the template text, for error messages.
    pub offset: usize,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Input(name) => write!(f, "inputs.{name}")?,
            Target::Node(id) => write!(f, "nodes.{id}.output")?,
        }
        for segment in &self.path {
            write!(f, ".{segment}")?;
        }
        Ok(())
    }
}

impl Reference {
    /// Follows the path in `ctx`; borrowing, so the executor can clone only what it keeps.
    pub fn resolve<'v, L: Lookup + ?Sized>(&self, ctx: &'v L) -> Result<&'v Value, TemplateError> {
        let mut value = match &self.target {
            Target::Input(name) => {
                ctx.input(name).ok_or_else(|| self.unresolved(name, "is not an input of this run"))?
            }
            Target::Node(id) => {
                ctx.node_output(id).ok_or_else(|| self.unresolved(id, "is not a node with an output yet"))?
            }
        };
        for segment in &self.path {
            value = match value {
                Value::Object(map) => {
                    map.get(segment).ok_or_else(|| self.unresolved(segment, "is not a key of the object"))?
                }
                Value::Array(items) => {
                    let index = parse_index(segment)
                        .ok_or_else(|| self.unresolved(segment, "is not an index into an array"))?;
                    items.get(index).ok_or_else(|| {
                        self.unresolved(segment, format!("is out of range for an array of length {}", items.len()))
                    })?
                }
                other => {
                    let reason = format!("cannot be looked up in {}", kind_of(other));
                    return Err(self.unresolved(segment, reason));
                }
            };
        }
        Ok(value)
    }

    fn unresolved(&self, segment: &str, reason: impl Into<String>) -> TemplateError {
        TemplateError::Unresolved { path: self.to_string(), segment: segment.to_owned(), reason: reason.into() }
    }
}

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` with no `}}` after it.
    #[error("unclosed `{{{{` at byte {offset}")]
    Unclosed {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// `{{ }}` with nothing inside.
    #[error("empty reference at byte {offset}")]
    EmptyPath {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// A path that starts with neither `inputs` nor `nodes`.
    #[error("unknown reference root `{root}` at byte {offset}; a path starts with `inputs.` or `nodes.`")]
    UnknownRoot {
        /// Byte offset of the `{{`.
        offset: usize,
        /// The first segment that was found instead.
        root: String,
    },
    /// A path with a known root but the wrong form.
    #[error("malformed reference `{path}` at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the `{{`.
        offset: usize,
        /// The text between the braces, trimmed.
        path: String,
        /// What form was expected.
        reason: &'static str,
    },
    /// At render time, a path that does not lead to a value.
    #[error("cannot resolve `{path}`: `{segment}` {reason}")]
    Unresolved {
        /// The whole reference, e.g. `nodes.x.output.json.items.0.name`.
        path: String,
        /// The segment that could not be followed.
        segment: String,
        /// Why it could not be followed.
        reason: String,
    },
}

/// Literal text or a reference, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A byte range of the source (kept as a range so literals cost no allocation).
    Literal(Range<usize>),
    Ref(Reference),
}

/// A parsed template; rendering walks the pieces instead of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
    literal_len: usize,
}

impl Template {
    /// Splits `text` into literal and reference pieces, rejecting malformed references.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_owned(text.to_owned())
    }

    /// Like [`Template::parse`], reusing the caller's string.
    pub fn parse_owned(source: String) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal_len = 0;
        let mut literal_start = 0;
        let mut pos = 0;
        while let Some(found) = source.get(pos..).and_then(|rest| rest.find("{{")) {
            let mut open = pos + found;
            // In `{{{x}}}` the reference is the innermost `{{`; extra braces are literal.
            while source.as_bytes().get(open + 2) == Some(&b'{') {
                open += 1;
            }
            let inner_start = open + 2;
            let close = source
                .get(inner_start..)
                .and_then(|rest| rest.find("}}"))
                .map(|found| inner_start + found)
                .ok_or(TemplateError::Unclosed { offset: open })?;
            let inner = source.get(inner_start..close).unwrap_or_default();
            let reference = parse_reference(inner, open)?;
            if open > literal_start {
                literal_len += open - literal_start;
                pieces.push(Piece::Literal(literal_start..open));
            }
            pieces.push(Piece::Ref(reference));
            pos = close + 2;
            literal_start = pos;
        }
        if source.len() > literal_start {
            literal_len += source.len() - literal_start;
            pieces.push(Piece::Literal(literal_start..source.len()));
        }
        Ok(Template { source, pieces, literal_len })
    }

    /// Text taken as it is, `{{` included: for content that comes from a
    /// caller (e.g. the OpenAI-compatible endpoint), never from a workflow.
    pub fn literal(source: String) -> Template {
        let len = source.len();
        let pieces = if len > 0 { vec![Piece::Literal(0..len)] } else { Vec::new() };
        Template { source, pieces, literal_len: len }
    }

    /// The text the template was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every reference, in order of appearance (repeats included).
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            Piece::Literal(_) => None,
        })
    }

    /// True when the template has no references, so its text is its value.
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Literal(_)))
    }

    /// The reference when the template is exactly one `{{ … }}` and nothing else.
    pub fn as_single_reference(&self) -> Option<&Reference> {
        match self.pieces.as_slice() {
            [Piece::Ref(reference)] => Some(reference),
            _ => None,
        }
    }

    /// Renders with values from `ctx`: strings as-is, anything else as compact JSON.
    pub fn render<L: Lookup + ?Sized>(&self, ctx: &L) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.literal_len);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(range) => out.push_str(self.source.get(range.clone()).unwrap_or_default()),
                Piece::Ref(reference) => match reference.resolve(ctx)? {
                    Value::String(text) => out.push_str(text),
                    // Writing into a String cannot fail; Display for Value is compact JSON.
                    other => {
                        let _ = write!(out, "{other}");
                    }
                },
            }
        }
        Ok(out)
    }
}

fn parse_reference(inner: &str, offset: usize) -> Result<Reference, TemplateError> {
    let path = inner.trim();
    if path.is_empty() {
        return Err(TemplateError::EmptyPath { offset });
    }
    let malformed = |reason| TemplateError::Malformed { offset, path: path.to_owned(), reason };
    let mut segments = path.split('.');
    for segment in path.split('.') {
        if segment.is_empty() {
            return Err(malformed("a path segment is empty"));
        }
        if segment.chars().any(|c| c.is_whitespace() || c == '{' || c == '}') {
            return Err(malformed("path segments cannot contain spaces or braces"));
        }
    }
    let target = match segments.next().unwrap_or_default() {
        "inputs" => {
            let name = segments.next().ok_or_else(|| malformed("expected `inputs.NAME`"))?;
            Target::Input(name.to_owned())
        }
        "nodes" => {
            let id = segments.next().ok_or_else(|| malformed("expected `nodes.ID.output`"))?;
            if segments.next() != Some("output") {
                return Err(malformed("expected `nodes.ID.output`"));
            }
            Target::Node(id.to_owned())
        }
        root => {
            return Err(TemplateError::UnknownRoot { offset, root: root.to_owned() });
        }
    };
    Ok(Reference { target, path: segments.map(str::to_owned).collect(), offset })
}

/// Array indexes are plain decimal digits (no sign, no spaces).
fn parse_index(segment: &str) -> Option<usize> {
    if segment.bytes().all(|b| b.is_ascii_digit()) { segment.parse().ok() } else { None }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    /// A plain in-memory [`Lookup`] for tests.
    #[derive(Default)]
    pub(crate) struct Ctx {
        pub inputs: HashMap<String, Value>,
        pub outputs: HashMap<String, Value>,
    }

    impl Lookup for Ctx {
        fn input(&self, name: &str) -> Option<&Value> {
            self.inputs.get(name)
        }
        fn node_output(&self, id: &str) -> Option<&Value> {
            self.outputs.get(id)
        }
    }

    pub(crate) fn ctx() -> Ctx {
        let mut ctx = Ctx::default();
        ctx.inputs.insert("ticket".into(), json!("printer on fire"));
        ctx.inputs.insert("n".into(), json!(3));
        ctx.inputs.insert("obj".into(), json!({"a": {"b": [10, 20]}}));
        ctx.outputs.insert(
            "x".into(),
            json!({"text": "hi", "json": {"items": [{"name": "first"}, {"name": "second"}], "ok": true}}),
        );
        ctx
    }

    #[test]
    fn literal_only() {
        let t = Template::parse("héllo { world } ✓").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.references().count(), 0);
        let out = t.render(&ctx()).unwrap();
        assert_eq!(out, "héllo { world } ✓");
        // Exactly one allocation, sized to the text.
        assert_eq!(out.capacity(), out.len());
        assert_eq!(Template::parse("").unwrap().render(&ctx()).unwrap(), "");
    }

    #[test]
    fn spaces_adjacent_and_unicode() {
        let t = Template::parse("«{{inputs.ticket}}{{  inputs.n  }}»{{\tnodes.x.output.text }}").unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), "«printer on fire3»hi");
        let refs: Vec<String> = t.references().map(|r| r.to_string()).collect();
        assert_eq!(refs, ["inputs.ticket", "inputs.n", "nodes.x.output.text"]);
        let offsets: Vec<usize> = t.references().map(|r| r.offset).collect();
        assert_eq!(offsets, [2, 19, 37]);
    }

    #[test]
    fn single_braces_and_stray_closers_are_literal() {
        let t = Template::parse("{ {inputs.n} }} {{inputs.n}}}").unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), "{ {inputs.n} }} 3}");
        assert_eq!(t.references().count(), 1);
        let t = Template::parse(r#"{"n": {{{inputs.n}}}, "s": "{{inputs.ticket}}"}"#).unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), r#"{"n": {3}, "s": "printer on fire"}"#);
        assert_eq!(t.references().next().map(|r| r.offset), Some(7));
    }

    #[test]
    fn nested_paths_and_array_indexes() {
        let t = Template::parse("{{nodes.x.output.json.items.1.name}} {{inputs.obj.a.b.0}} {{nodes.x.output.json.ok}}")
            .unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), "second 10 true");
    }

    #[test]
    fn non_strings_render_as_compact_json() {
        let t = Template::parse("{{inputs.obj}}|{{nodes.x.output.json.items.0}}").unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), r#"{"a":{"b":[10,20]}}|{"name":"first"}"#);
    }

    #[test]
    fn parse_errors_carry_offsets() {
        assert_eq!(Template::parse("ab {{inputs.n").unwrap_err(), TemplateError::Unclosed { offset: 3 });
        assert_eq!(Template::parse("é{{  }}").unwrap_err(), TemplateError::EmptyPath { offset: 2 });
        assert_eq!(
            Template::parse("x {{ foo.bar }}").unwrap_err(),
            TemplateError::UnknownRoot { offset: 2, root: "foo".into() }
        );
        let err = Template::parse("{{nodes.x}}").unwrap_err();
        assert!(
            matches!(&err, TemplateError::Malformed { offset: 0, reason, .. } if reason.contains("nodes.ID.output")),
            "{err:?}"
        );
        let err = Template::parse("{{nodes.x.text}}").unwrap_err();
        assert!(matches!(err, TemplateError::Malformed { .. }));
        let err = Template::parse("{{inputs}}").unwrap_err();
        assert!(err.to_string().contains("expected `inputs.NAME`"), "{err}");
        let err = Template::parse("{{inputs..a}}").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = Template::parse("{{inputs.a b}}").unwrap_err();
        assert!(err.to_string().contains("spaces"), "{err}");
        let err = Template::parse("{{ {{inputs.a}} }}").unwrap_err();
        assert!(err.to_string().contains("braces"), "{err}");
        assert_eq!(Template::parse("{{inputs.a}} {{").unwrap_err(), TemplateError::Unclosed { offset: 13 });
    }

    #[test]
    fn missing_segments_name_path_and_segment() {
        let cases = [
            (
                "{{nodes.x.output.json.items.5.name}}",
                "nodes.x.output.json.items.5.name",
                "5",
                "out of range for an array of length 2",
            ),
            ("{{nodes.x.output.json.nope}}", "nodes.x.output.json.nope", "nope", "not a key"),
            ("{{nodes.x.output.json.items.first}}", "nodes.x.output.json.items.first", "first", "not an index"),
            ("{{nodes.x.output.text.len}}", "nodes.x.output.text.len", "len", "cannot be looked up in a string"),
            ("{{nodes.y.output}}", "nodes.y.output", "y", "not a node with an output"),
            ("{{inputs.zz}}", "inputs.zz", "zz", "not an input"),
            ("{{inputs.obj.a.b.-1}}", "inputs.obj.a.b.-1", "-1", "not an index"),
        ];
        for (text, want_path, want_segment, want_reason) in cases {
            let err = Template::parse(text).unwrap().render(&ctx()).unwrap_err();
            match &err {
                TemplateError::Unresolved { path, segment, reason } => {
                    assert_eq!(path, want_path);
                    assert_eq!(segment, want_segment);
                    assert!(reason.contains(want_reason), "{text}: {reason}");
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
            assert!(err.to_string().starts_with(&format!("cannot resolve `{want_path}`")));
        }
    }

    #[test]
    fn single_reference_detection() {
        let t = Template::parse("{{ nodes.x.output.json }}").unwrap();
        assert_eq!(t.as_single_reference().map(|r| r.target.clone()), Some(Target::Node("x".into())));
        assert!(Template::parse(" {{nodes.x.output}}").unwrap().as_single_reference().is_none());
        assert!(Template::parse("{{inputs.a}}{{inputs.b}}").unwrap().as_single_reference().is_none());
        assert_eq!(Template::parse("a{{inputs.a}}").unwrap().as_str(), "a{{inputs.a}}");
    }
}
