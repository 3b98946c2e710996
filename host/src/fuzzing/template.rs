//! Target for `{{ path }}` templates: parsing keeps the source, and a parsed
//! template renders (or fails cleanly) against any context.

use crate::workflow::{Lookup, Target, Template};
use serde_json::{Value, json};

/// A run with one input and one finished node, both nested.
struct Context {
    input: Value,
    output: Value,
}

impl Lookup for Context {
    fn input(&self, name: &str) -> Option<&Value> {
        (name == "x").then_some(&self.input)
    }

    fn node_output(&self, id: &str) -> Option<&Value> {
        (id == "n").then_some(&self.output)
    }
}

/// Parse `data` as a template; render what parses.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = Template::parse(text) else { return };
    assert_eq!(parsed.as_str(), text, "parsing changed the template's text");
    let ctx = Context {
        input: json!({ "a": [1, "two", { "b": null }], "s": "text" }),
        output: json!({ "text": "hi", "json": { "k": [true, 2.5] } }),
    };
    for reference in parsed.references() {
        assert!(reference.offset < text.len().max(1), "a reference points past the text");
        assert!(matches!(&reference.target, Target::Input(_) | Target::Node(_)));
        let _ = reference.resolve(&ctx);
    }
    let rendered = parsed.render(&ctx);
    if parsed.is_literal() {
        assert!(matches!(rendered.as_deref(), Ok(r) if r == text), "a literal template rendered as something else");
    }
}
