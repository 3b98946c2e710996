//! JSON paths for error messages, built on the stack so a valid workflow never
//! pays for rendering paths it will not report.

use std::fmt::{self, Write};

/// A location in the workflow JSON, as a chain of borrowed parent links.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc<'a> {
    /// The document itself: `$`.
    Root,
    /// An object member: `parent.key`.
    Key(&'a Loc<'a>, &'a str),
    /// An array element: `parent[index]`.
    Index(&'a Loc<'a>, usize),
}

impl<'a> Loc<'a> {
    /// The member `key` of this object.
    pub(crate) fn key(&'a self, key: &'a str) -> Loc<'a> {
        Loc::Key(self, key)
    }

    /// The element `index` of this array.
    pub(crate) fn index(&'a self, index: usize) -> Loc<'a> {
        Loc::Index(self, index)
    }
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Root => f.write_char('$'),
            Loc::Key(parent, key) => {
                parent.fmt(f)?;
                write_key(f, key)
            }
            Loc::Index(parent, index) => {
                parent.fmt(f)?;
                write!(f, "[{index}]")
            }
        }
    }
}

/// Writes `.key` for plain keys and `["key"]` for keys a reader could misparse.
pub(crate) fn write_key(out: &mut impl Write, key: &str) -> fmt::Result {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { write!(out, ".{key}") } else { write!(out, "[{key:?}]") }
}

/// Renders `loc` followed by the segments serde reported below it.
pub(crate) fn join(loc: &Loc<'_>, below: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = loc.to_string();
    for segment in below {
        // Writing to a String cannot fail.
        let _ = match segment {
            Segment::Seq { index } => write!(out, "[{index}]"),
            Segment::Map { key } => write_key(&mut out, key),
            Segment::Enum { variant } => write_key(&mut out, variant),
            Segment::Unknown => Ok(()),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys_and_indexes() {
        let root = Loc::Root;
        let nodes = root.key("nodes");
        let first = nodes.index(1);
        let config = first.key("config");
        assert_eq!(config.to_string(), "$.nodes[1].config");
        let odd = config.key("a b");
        assert_eq!(odd.to_string(), "$.nodes[1].config[\"a b\"]");
        assert_eq!(Loc::Root.to_string(), "$");
    }
}
