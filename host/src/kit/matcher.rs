//! "The actual value contains the expected one": the comparison behind a
//! fixture's `expect`. Objects match when every expected key matches (extra
//! actual keys are fine), arrays when they have the same length and match
//! element by element, numbers by value (`5` equals `5.0`), anything else
//! when equal. Every difference is reported with its JSON path.

use serde_json::Value;

/// One difference between what a fixture expects and what the plugin did.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where in the fixture file, e.g. `$.expect.response.usage.output`.
    pub path: String,
    /// What the fixture says (`None`: the fixture expected nothing here).
    pub expected: Option<Value>,
    /// What the plugin produced (`None`: it produced nothing here).
    pub actual: Option<Value>,
    /// Why, when it is more than "they differ".
    pub note: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(nothing)".to_string(), Value::to_string);
        write!(f, "{}: expected {}, got {}", self.path, show(&self.expected), show(&self.actual))?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

/// Every place where `actual` does not contain `expected`, under `path`.
pub fn contains(path: &str, expected: &Value, actual: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(path, expected, Some(actual), &mut out);
    out
}

fn walk(path: &str, expected: &Value, actual: Option<&Value>, out: &mut Vec<Mismatch>) {
    let differ = |out: &mut Vec<Mismatch>, note: Option<String>| {
        out.push(Mismatch { path: path.to_string(), expected: Some(expected.clone()), actual: actual.cloned(), note })
    };
    match (expected, actual) {
        (Value::Object(want), Some(Value::Object(got))) => {
            for (key, w) in want {
                walk(&format!("{path}.{key}"), w, got.get(key), out);
            }
        }
        (Value::Array(want), Some(Value::Array(got))) => {
            if want.len() != got.len() {
                return differ(out, Some(format!("{} elements expected, {} found", want.len(), got.len())));
            }
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                walk(&format!("{path}[{i}]"), w, Some(g), out);
            }
        }
        (Value::Number(w), Some(Value::Number(g))) => {
            if w != g && w.as_f64() != g.as_f64() {
                differ(out, None);
            }
        }
        (_, Some(got)) if got == expected => {}
        _ => differ(out, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_subset_matches_and_each_difference_names_its_path() {
        let actual = json!({ "text": "hi", "usage": { "input": 3, "output": 5 }, "tool_calls": [{ "name": "f" }] });
        assert!(contains("$", &json!({ "usage": { "output": 5.0 } }), &actual).is_empty());
        let found = contains(
            "$.expect.response",
            &json!({ "text": "hello", "usage": { "output": 6 }, "tool_calls": [], "model": "m" }),
            &actual,
        );
        let paths: Vec<_> = found.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.expect.response.model",
                "$.expect.response.text",
                "$.expect.response.tool_calls",
                "$.expect.response.usage.output"
            ]
        );
        assert_eq!(found[0].to_string(), r#"$.expect.response.model: expected "m", got (nothing)"#);
        assert_eq!(found[1].to_string(), r#"$.expect.response.text: expected "hello", got "hi""#);
        assert!(found[2].to_string().contains("0 elements expected, 1 found"));
    }
}
