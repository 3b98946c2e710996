//! The leak scan: every key the suite uses is `fake-<what>-key-for-tests-<id>`
//! (AWS secrets and session tokens alike), so one marker finds any of them in
//! text, in a file, or anywhere under a directory (the store, its WAL, logs).

use std::path::Path;

/// The part every test key shares.
pub const MARKER: &[u8] = b"-for-tests-";

/// The first test key in `bytes`, with its offset, if any.
fn find(bytes: &[u8]) -> Option<(usize, String)> {
    let at = bytes.windows(MARKER.len()).position(|w| w == MARKER)?;
    let is_key_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let start = bytes[..at].iter().rposition(|b| !is_key_byte(b)).map_or(0, |p| p + 1);
    let end = bytes[at..].iter().position(|b| !is_key_byte(b)).map_or(bytes.len(), |p| at + p);
    Some((at, String::from_utf8_lossy(&bytes[start..end]).into_owned()))
}

/// Fail, naming `what`, if a test key occurs in `bytes`.
pub fn assert_clean_bytes(what: &str, bytes: &[u8]) {
    if let Some((at, key)) = find(bytes) {
        let from = at.saturating_sub(200);
        let to = (at + 200).min(bytes.len());
        panic!("a test key ({key}) leaked into {what} at byte {at}:\n{}", String::from_utf8_lossy(&bytes[from..to]));
    }
}

/// Fail, naming `what`, if a test key occurs in `text`.
pub fn assert_clean(what: &str, text: &str) {
    assert_clean_bytes(what, text.as_bytes());
}

/// Fail if a test key occurs in the file at `path`.
pub fn assert_clean_file(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("leak scan: cannot read {}: {e}", path.display()));
    assert_clean_bytes(&path.display().to_string(), &bytes);
}

/// Fail if a test key occurs in any file under `dir`; returns how many files
/// were scanned, so a caller can check the scan saw what it expected.
pub fn assert_clean_dir(dir: &Path) -> usize {
    let mut scanned = 0;
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("leak scan: cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scanned += assert_clean_dir(&path);
        } else if path.is_file() {
            assert_clean_file(&path);
            scanned += 1;
        }
    }
    scanned
}

/// Fail if a test key occurs in anything logged so far by this test binary.
pub fn assert_logs_clean() {
    assert_clean("the captured logs", &super::logs::text());
}

#[test]
fn the_scan_finds_every_kind_of_test_key() {
    for key in ["fake-openai-key-for-tests-9c8b", "fake-aws-session-token-for-tests-a0001"] {
        let text = format!("prefix {key} suffix");
        let found = std::panic::catch_unwind(|| assert_clean("sample", &text)).unwrap_err();
        let message = found.downcast_ref::<String>().unwrap();
        assert!(message.contains(key) && message.contains("sample"), "{message}");
    }
    assert_clean("clean text", "no keys here: fake-key, for-tests, sk-…3a4b");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/llmnode.db-wal"), b"\0\x01bin fake-x-key-for-tests-1\0").unwrap();
    assert!(std::panic::catch_unwind(|| assert_clean_dir(dir.path())).is_err(), "a key in a nested file was missed");
}
