//! A workspace's view of the scoped registry's exposition: the metadata
//! lines, and the samples whose `workspace` label is the workspace's name.
//! Each sample's label set is parsed (keys are plain identifiers; values are
//! quoted with `"`, `\` and newlines escaped by the encoder), so no other
//! label's value can pose as the workspace label and no value can start a
//! line of its own.

/// The lines of `exposition` an admin of `workspace` may read.
pub fn workspace_lines(exposition: &str, workspace: &str) -> String {
    let mut wanted = String::with_capacity(workspace.len());
    escape_into(&mut wanted, workspace);
    let mut out = String::with_capacity(exposition.len() / 4);
    for line in exposition.lines() {
        if line.starts_with('#') || workspace_of(line) == Some(wanted.as_str()) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of a sample line's `workspace` label, as encoded (escaped).
pub(super) fn workspace_of(line: &str) -> Option<&str> {
    let mut rest = &line[line.find('{')? + 1..];
    loop {
        let (key, quoted) = rest.split_once("=\"")?;
        let end = closing_quote(quoted)?;
        if key == "workspace" {
            return Some(&quoted[..end]);
        }
        rest = quoted[end + 1..].strip_prefix(',')?;
    }
}

/// Where an escaped label value ends.
fn closing_quote(value: &str) -> Option<usize> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A label value as the text encoder writes it.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
