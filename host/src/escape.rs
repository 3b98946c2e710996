//! Text a person reads (a terminal, a log line) may hold values someone else
//! chose: a name stored before names were checked, a model id, an upstream's
//! error message, a plugin's version string. Shown raw, a line feed forges a
//! line and an escape sequence drives the terminal; here every such character
//! is written as a visible escape instead (`\n`, `\x1b`, `\u{202e}`). JSON
//! output stays JSON, with the same characters as `\u` escapes.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// True for a character that must never reach a terminal or a log line raw:
/// C0 controls (tab and line feed included), DEL, C1 controls, the Unicode
/// line and paragraph separators, and the invisible format characters that
/// reorder or hide text (bidi overrides and isolates, zero-width characters,
/// the byte order mark, tags).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Write `c`, one of [`is_unsafe`]'s, as a visible escape.
fn write_escaped(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\0' => out.write_str("\\0"),
        c if c.is_ascii() => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// `text` with every unsafe character escaped; borrowed when there is none,
/// so the common case costs one scan and no allocation.
pub fn escape(text: &str) -> Cow<'_, str> {
    match text.find(is_unsafe) {
        None => Cow::Borrowed(text),
        Some(first) => {
            let mut out = String::with_capacity(text.len() + 8);
            out.push_str(&text[..first]);
            let _ = Escaped(&text[first..]).write_to(&mut out);
            Cow::Owned(out)
        }
    }
}

/// [`escape`] applied line by line: the line feeds of a message made of
/// several lines are kept, everything else is escaped. For text whose lines
/// we wrote ourselves, around values already escaped.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.contains(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// Displays a string escaped, honouring width and alignment (`{:<16}`), so
/// table cells line up without an intermediate `String` when nothing needs
/// escaping.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl Escaped<'_> {
    fn write_to(self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_unsafe) {
            out.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write_escaped(out, c)?;
            rest = &rest[at + c.len_utf8()..];
        }
        out.write_str(rest)
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match escape(self.0) {
            Cow::Borrowed(s) if f.width().is_none() && f.precision().is_none() => f.write_str(s),
            shown => f.pad(&shown),
        }
    }
}

/// Names as a message lists them: `` `a`, `b` ``, each escaped.
pub fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|n| format!("`{}`", Escaped(n.as_ref()))).collect::<Vec<_>>().join(", ")
}

/// JSON text with the unsafe characters serde leaves raw (DEL, C1 controls,
/// format characters) written as `\u` escapes: the same JSON value, safe on a
/// terminal. Serde escapes C0 controls inside strings itself, so those left
/// are the layout of pretty output and stay; outside strings JSON is ASCII, so
/// every other unsafe character is inside one and its escape is valid there.
pub fn escape_json(json: String) -> String {
    let left_raw = |c: char| c >= '\u{7f}' && is_unsafe(c);
    if !json.contains(left_raw) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if left_raw(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_are_escaped_and_the_rest_is_borrowed() {
        assert!(matches!(escape("plain-name é 名前 🙂"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb\r\t\0"), "a\\nb\\r\\t\\0");
        assert_eq!(escape("\x1b[31mred\x07\x7f"), "\\x1b[31mred\\x07\\x7f");
        assert_eq!(
            escape("\u{9b}2J \u{202e}txt.exe \u{2028} \u{feff}"),
            "\\u{9b}2J \\u{202e}txt.exe \\u{2028} \\u{feff}"
        );
        assert_eq!(escape("tag\u{e0041}"), "tag\\u{e0041}");
        // What comes out is printable: escaping twice changes nothing.
        let once = escape("x\u{1b}\n\u{85}\u{200b}").into_owned();
        assert!(!once.contains(is_unsafe), "{once}");
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn lines_keep_their_breaks_but_nothing_else() {
        assert!(matches!(escape_lines("one\ntwo"), Cow::Borrowed(_)));
        assert_eq!(escape_lines("one\r\ntwo\x1b[2J"), "one\\r\ntwo\\x1b[2J");
    }

    #[test]
    fn padding_applies_to_the_escaped_form() {
        assert_eq!(format!("[{:<6}]", Escaped("a\nb")), "[a\\nb  ]");
        assert_eq!(format!("[{:>4}]", Escaped("ab")), "[  ab]");
        assert_eq!(format!("{}", Escaped("ok")), "ok");
    }

    #[test]
    fn json_stays_the_same_json() {
        let value = serde_json::json!({ "name": "a\u{7f}b\u{9b}c\u{202e}d\u{e0041}\n" });
        let text = escape_json(serde_json::to_string(&value).unwrap());
        assert!(!text.contains(is_unsafe), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
        let pretty = escape_json(serde_json::to_string_pretty(&value).unwrap());
        assert!(pretty.starts_with("{\n  \"name\": \"a\\u007fb"), "{pretty}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&pretty).unwrap(), value);
        assert_eq!(escape_json("{\"a\":1}".into()), "{\"a\":1}");
    }
}
