//! The one rule every name an operator or a plugin chooses must follow, at
//! every entry point (CLI, daemon API, connections files, workflow files,
//! plugin install): 1 to [`MAX_NAME_CHARS`] characters, none of them a control
//! or invisible formatting character ([`crate::escape::is_unsafe`]), no
//! leading or trailing whitespace, and no `/` in a name that becomes a path
//! segment or part of a `CONNECTION/MODEL` model id. A name can then never
//! forge a line of output, drive a terminal, or be impossible to address.

use crate::escape::{self, Escaped};
use std::fmt;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// How much of a refused name its error shows, in characters.
const SHOWN_CHARS: usize = 40;

/// What is being named; errors say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Connection,
    Workspace,
    User,
    Route,
    Workflow,
    /// A plugin's name (its `info.name`, the provider connections refer to):
    /// also a crate and file name, so `a-z`, `0-9`, `-` and `_` only.
    Plugin,
    /// A plugin's version: part of the installed file's name.
    PluginVersion,
    AlertChannel,
}

impl NameKind {
    /// How errors call it.
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Connection => "connection name",
            NameKind::Workspace => "workspace name",
            NameKind::User => "user name",
            NameKind::Route => "route name",
            NameKind::Workflow => "workflow name",
            NameKind::Plugin => "plugin name",
            NameKind::PluginVersion => "plugin version",
            NameKind::AlertChannel => "alert channel name",
        }
    }

    /// Users are the only names that are never a path segment or a model id.
    fn allows_slash(self) -> bool {
        self == NameKind::User
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_NAME_CHARS} characters (it has {0})")]
    TooLong(usize),
    #[error("must not contain control or invisible formatting characters (it has U+{:04X})", *.0 as u32)]
    Unprintable(char),
    #[error("must not begin or end with whitespace")]
    EdgeWhitespace,
    #[error("must not contain `/` (it is used in paths and in CONNECTION/MODEL model ids)")]
    Slash,
    #[error("may contain only a-z, 0-9, `-` and `_`")]
    PluginAlphabet,
}

/// A name was refused: which kind of name, the name (escaped, shortened), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {shown} {problem}")]
pub struct NameError {
    pub kind: NameKind,
    pub problem: NameProblem,
    shown: String,
}

/// Refuse `name` as a `kind` unless it follows the rule.
pub fn check(kind: NameKind, name: &str) -> Result<(), NameError> {
    match problem(kind, name) {
        None => Ok(()),
        Some(problem) => Err(NameError { kind, problem, shown: shown(name) }),
    }
}

/// What is wrong with `name` as a `kind`, if anything: for callers that
/// report it at their own location (a workflow's `$.name`).
pub fn problem(kind: NameKind, name: &str) -> Option<NameProblem> {
    if name.trim().is_empty() {
        return Some(NameProblem::Empty);
    }
    if name.len() > MAX_NAME_CHARS {
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Some(NameProblem::TooLong(chars));
        }
    }
    if let Some(c) = name.chars().find(|&c| escape::is_unsafe(c)) {
        return Some(NameProblem::Unprintable(c));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Some(NameProblem::EdgeWhitespace);
    }
    if name.contains('/') && !kind.allows_slash() {
        return Some(NameProblem::Slash);
    }
    let plugin_alphabet = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if kind == NameKind::Plugin && !name.bytes().all(plugin_alphabet) {
        return Some(NameProblem::PluginAlphabet);
    }
    None
}

/// `name` quoted and escaped, its first [`SHOWN_CHARS`] characters only.
fn shown(name: &str) -> String {
    match name.char_indices().nth(SHOWN_CHARS) {
        None => format!("\"{}\"", Escaped(name)),
        Some((cut, _)) => format!("\"{}…\"", Escaped(&name[..cut])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NameKind; 7] = [
        NameKind::Connection,
        NameKind::Workspace,
        NameKind::User,
        NameKind::Route,
        NameKind::Workflow,
        NameKind::Plugin,
        NameKind::PluginVersion,
    ];

    #[test]
    fn ordinary_names_pass() {
        for name in ["openai", "team-b", "prod_eu.1", "gpt-4o:mini", "Équipe Nord", "名前", "a"] {
            assert_eq!(problem(NameKind::Connection, name), None, "{name}");
        }
        assert_eq!(problem(NameKind::User, "org/alice"), None);
        assert_eq!(problem(NameKind::Plugin, "acme-ai_2"), None);
        assert_eq!(problem(NameKind::PluginVersion, "1.2.3-rc.1+build.5"), None);
        assert_eq!(problem(NameKind::Route, &"x".repeat(MAX_NAME_CHARS)), None);
        assert_eq!(problem(NameKind::Route, &"é".repeat(MAX_NAME_CHARS)), None, "characters, not bytes");
    }

    #[test]
    fn every_kind_refuses_the_same_hostile_names() {
        for kind in ALL {
            for (name, want) in [
                ("", NameProblem::Empty),
                ("  ", NameProblem::Empty),
                ("a\nb", NameProblem::Unprintable('\n')),
                ("a\r\nb", NameProblem::Unprintable('\r')),
                ("\u{1b}[31mred", NameProblem::Unprintable('\u{1b}')),
                ("nul\0", NameProblem::Unprintable('\0')),
                ("bell\u{7}", NameProblem::Unprintable('\u{7}')),
                ("c1\u{9b}", NameProblem::Unprintable('\u{9b}')),
                ("rtl\u{202e}", NameProblem::Unprintable('\u{202e}')),
                ("zw\u{200b}sp", NameProblem::Unprintable('\u{200b}')),
                (" lead", NameProblem::EdgeWhitespace),
                ("trail ", NameProblem::EdgeWhitespace),
            ] {
                assert_eq!(problem(kind, name), Some(want), "{kind} {name:?}");
            }
            let long = "n".repeat(5000);
            assert_eq!(problem(kind, &long), Some(NameProblem::TooLong(5000)), "{kind}");
            let slash = if kind.allows_slash() { None } else { Some(NameProblem::Slash) };
            assert_eq!(problem(kind, "a/b"), slash, "{kind}");
        }
        assert_eq!(problem(NameKind::Plugin, "Acme AI"), Some(NameProblem::PluginAlphabet));
    }

    #[test]
    fn errors_name_the_kind_and_show_the_name_escaped_and_short() {
        let err = check(NameKind::Connection, "a\nb\u{1b}").unwrap_err().to_string();
        assert_eq!(
            err,
            "connection name \"a\\nb\\x1b\" must not contain control or invisible formatting characters (it has U+000A)"
        );
        let err = check(NameKind::Workspace, &"w".repeat(5000)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("workspace name \"{}…\" must be at most 128", "w".repeat(40))), "{err}");
        assert!(err.len() < 200, "{err}");
        let err = check(NameKind::Route, "a/b").unwrap_err().to_string();
        assert!(err.contains("route name \"a/b\" must not contain `/`"), "{err}");
    }
}
