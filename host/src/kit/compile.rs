//! `llmnode plugin build`: compile a plugin crate for `wasm32-wasip2` with its
//! `plugin` profile, and find the component cargo produced.

use super::KitError;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The profile the scaffold declares (small, no unwinding).
pub const PROFILE: &str = "plugin";

/// Build the plugin crate in `dir` and return the path of its `.wasm`.
/// Cargo's progress and diagnostics go to this process's stderr.
pub fn build(dir: &Path) -> Result<PathBuf, KitError> {
    let manifest = dir.join("Cargo.toml");
    let fail = |detail: String| KitError::Build { dir: dir.to_path_buf(), detail };
    if !manifest.is_file() {
        return Err(fail("it has no Cargo.toml (is it a plugin crate made by `llmnode plugin new`?)".into()));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--target", TARGET, "--profile", PROFILE, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(format!("cannot run cargo: {e}")))?;
    let mut wasm = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(found) = cdylib_wasm(&line) {
                wasm = Some(found);
            }
        }
    }
    let status = child.wait().map_err(|e| fail(format!("cargo did not finish: {e}")))?;
    if !status.success() {
        return Err(fail(format!("cargo exited with {status} (its errors are above)")));
    }
    wasm.ok_or_else(|| fail("cargo built no cdylib; the crate needs `crate-type = [\"cdylib\"]`".into()))
}

/// The `.wasm` of a `compiler-artifact` message for a cdylib, if `line` is one.
fn cdylib_wasm(line: &str) -> Option<PathBuf> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" || !msg["target"]["kind"].as_array()?.iter().any(|k| k == "cdylib") {
        return None;
    }
    msg["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_found_in_cargos_messages() {
        let artifact = r#"{"reason":"compiler-artifact","target":{"kind":["cdylib","rlib"]},"filenames":["/t/x.rlib","/t/x.wasm"]}"#;
        assert_eq!(cdylib_wasm(artifact), Some(PathBuf::from("/t/x.wasm")));
        let dependency = r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libserde.rlib"]}"#;
        assert_eq!(cdylib_wasm(dependency), None);
        assert_eq!(cdylib_wasm("not json"), None);
    }

    #[test]
    fn a_directory_without_a_crate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(err.to_string().contains("has no Cargo.toml"), "{err}");
    }
}
