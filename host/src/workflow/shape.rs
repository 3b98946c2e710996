//! Serde plumbing that keeps shape errors precise: strict objects, duplicate-key
//! detection, "string or object" fields, and serde errors turned into [`Issue`]s.

use super::error::{Issue, WorkflowError};
use super::path::{self, Loc};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

/// A struct that must be written as a JSON object; serde's derive would also
/// accept an array and read the fields by position, which no author means.
#[derive(Debug)]
pub(crate) struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(ObjVisitor(PhantomData)).map(Obj)
    }
}

/// Any JSON value, but an object that repeats a key is an error instead of
/// silently keeping the last one.
#[derive(Debug)]
pub(crate) struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("numbers must be finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let StrictValue(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// For `#[serde(deserialize_with)]`: a present field is `Some`, even when it is `null`.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    StrictValue::deserialize(d).map(|v| Some(v.0))
}

/// What a "string or something else" field says it expected, for its error message.
pub(crate) trait Expect {
    /// Completes "invalid type: …, expected ___".
    const EXPECT: &'static str;
}

/// A field that is either a string or a JSON object read as `T`.
#[derive(Debug)]
pub(crate) enum StrOrMap<T> {
    Str(String),
    Map(T),
}

impl<'de, T: Deserialize<'de> + Expect> Deserialize<'de> for StrOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expect> Visitor<'de> for V<T> {
            type Value = StrOrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECT)
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrMap::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOrMap::Str(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(StrOrMap::Map)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that is either a string or a JSON array read as `T`.
#[derive(Debug)]
pub(crate) enum StrOrSeq<T> {
    Str(String),
    Seq(T),
}

impl<'de, T: Deserialize<'de> + Expect> Deserialize<'de> for StrOrSeq<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expect> Visitor<'de> for V<T> {
            type Value = StrOrSeq<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECT)
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::deserialize(SeqAccessDeserializer::new(seq)).map(StrOrSeq::Seq)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that is either a boolean or a JSON object read as `T`.
#[derive(Debug)]
pub(crate) enum BoolOrMap<T> {
    Bool(bool),
    Map(T),
}

impl<'de, T: Deserialize<'de> + Expect> Deserialize<'de> for BoolOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expect> Visitor<'de> for V<T> {
            type Value = BoolOrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECT)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(BoolOrMap::Bool(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(BoolOrMap::Map)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// Decodes the whole text without tracking paths: the fast path for valid files.
pub(crate) fn decode_fast<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Whether a decoding error is about the shape of valid JSON (not its syntax).
pub(crate) fn is_shape_error(err: &serde_json::Error) -> bool {
    err.classify() == serde_json::error::Category::Data
}

/// Decodes the whole workflow text: syntax errors by line and column, shape
/// errors by JSON path (with the line and column as a hint).
pub(crate) fn decode_text<T: DeserializeOwned>(text: &str) -> Result<T, WorkflowError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        let (path, inner) = (err.path().clone(), err.into_inner());
        if is_shape_error(&inner) {
            WorkflowError::Invalid(vec![issue(&Loc::Root, &path, &inner)])
        } else {
            syntax(&inner)
        }
    })?;
    de.end().map_err(|err| syntax(&err))?;
    Ok(value)
}

/// Decodes a value already read (a node's `config`), recording a shape error
/// below `loc` instead of failing, so other nodes still get checked.
pub(crate) fn decode_value<T: DeserializeOwned>(value: Value, loc: &Loc<'_>, issues: &mut Vec<Issue>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(decoded) => Some(decoded),
        Err(err) => {
            issues.push(issue(loc, err.path(), err.inner()));
            None
        }
    }
}

/// A JSON syntax error, located by line and column.
pub(crate) fn syntax(err: &serde_json::Error) -> WorkflowError {
    WorkflowError::Syntax { line: err.line(), column: err.column(), message: bare_message(err) }
}

fn issue(loc: &Loc<'_>, below: &serde_path_to_error::Path, err: &serde_json::Error) -> Issue {
    let mut message = bare_message(err);
    if err.line() > 0 {
        message.push_str(&format!(" (line {}, column {})", err.line(), err.column()));
    }
    Issue { path: path::join(loc, below), message }
}

/// serde_json appends " at line L column C" to its messages; we report the position our own way.
fn bare_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(bare) => bare.to_owned(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u32,
        b: Option<bool>,
    }

    #[test]
    fn obj_rejects_arrays_that_derive_would_accept() {
        let mut issues = Vec::new();
        let got: Option<Obj<Pair>> = decode_value(serde_json::json!([1, true]), &Loc::Root, &mut issues);
        assert!(got.is_none());
        assert_eq!(issues[0].path, "$");
        assert!(issues[0].message.contains("expected a JSON object"), "{issues:?}");
    }

    #[test]
    fn obj_keeps_paths_and_unknown_fields() {
        let mut issues = Vec::new();
        let got: Option<Obj<Pair>> = decode_value(serde_json::json!({"a": 1, "c": 2}), &Loc::Root, &mut issues);
        assert!(got.is_none());
        assert_eq!(issues[0].path, "$.c");
        assert!(issues[0].message.starts_with("unknown field `c`"));
        let ok: Option<Obj<Pair>> = decode_value(serde_json::json!({"a": 7, "b": false}), &Loc::Root, &mut issues);
        let pair = ok.map(|o| o.0);
        assert_eq!(pair.as_ref().map(|p| p.a), Some(7));
        assert_eq!(pair.and_then(|p| p.b), Some(false));
    }

    #[test]
    fn strict_value_rejects_duplicate_keys() {
        let err = decode_text::<StrictValue>(r#"{"x": {"k": 1, "k": 2}}"#).unwrap_err();
        let issues = err.issues();
        assert_eq!(issues[0].path, "$.x");
        assert!(issues[0].message.starts_with("duplicate key `k`"), "{err}");
        let ok = decode_text::<StrictValue>(r#"{"x": [1, 2.5, null, "s", {"k": true}]}"#);
        assert_eq!(ok.map(|v| v.0).ok(), Some(serde_json::json!({"x": [1, 2.5, null, "s", {"k": true}]})));
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = decode_text::<StrictValue>("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        match err {
            WorkflowError::Syntax { line, column, message } => {
                assert_eq!((line, column), (3, 7));
                assert_eq!(message, "expected `:`");
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = decode_text::<StrictValue>("{} x").unwrap_err();
        assert!(matches!(err, WorkflowError::Syntax { line: 1, .. }), "{err}");
        let err = decode_text::<StrictValue>("").unwrap_err();
        assert!(matches!(err, WorkflowError::Syntax { .. }), "{err}");
    }
}
