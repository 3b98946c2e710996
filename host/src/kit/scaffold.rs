//! `llmnode plugin new`: a plugin crate outside any llmnode checkout, ready to
//! build, test and install: the SDK by path, a working plugin to edit, a first
//! native test, a fixture and a README.

use super::KitError;
use crate::names::{self, NameKind};
use std::path::{Path, PathBuf};

/// The files of a new plugin: (path in the crate, template).
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("template/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("template/lib.rs.tmpl")),
    ("tests/plugin.rs", include_str!("template/test.rs.tmpl")),
    ("fixtures/hello.json", include_str!("template/hello.json.tmpl")),
    ("README.md", include_str!("template/README.md.tmpl")),
    (".gitignore", include_str!("template/gitignore.tmpl")),
];

/// The SDK of the llmnode source tree this binary was built from.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk")
}

/// Create plugin `name` in `dir`, depending on the SDK at `sdk`. Checks
/// everything before writing the first file; returns the files written.
pub fn create(name: &str, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, KitError> {
    check_name(name)?;
    let sdk = sdk.canonicalize().map_err(|_| KitError::NoSdk { path: sdk.to_path_buf() })?;
    if !sdk.join("Cargo.toml").is_file() {
        return Err(KitError::NoSdk { path: sdk });
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(KitError::io(dir))?.next().is_some() {
        return Err(KitError::Exists { path: dir.to_path_buf() });
    }
    let sdk_text = sdk.to_str().ok_or_else(|| KitError::NoSdk { path: sdk.clone() })?.replace('\\', "/");
    let mut written = Vec::new();
    for (file, template) in FILES {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(KitError::io(parent))?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk_text);
        std::fs::write(&path, text).map_err(KitError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// A name that is both a plugin name (`info.name`, [`NameKind::Plugin`]) and
/// a crate name, which must start with a letter.
fn check_name(name: &str) -> Result<(), KitError> {
    let bad = |reason: String| Err(KitError::BadName { name: name.to_string(), reason });
    if let Some(problem) = names::problem(NameKind::Plugin, name) {
        return bad(problem.to_string());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("must start with a lowercase letter".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_scaffolded_with_the_sdk_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("acme");
        let files = create("acme-ai", &target, &default_sdk()).unwrap();
        assert_eq!(files.len(), FILES.len());
        let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
        let sdk = default_sdk().canonicalize().unwrap();
        assert!(manifest.contains(&format!("llmnode-sdk = {{ path = \"{}\" }}", sdk.display())), "{manifest}");
        let test = std::fs::read_to_string(target.join("tests/plugin.rs")).unwrap();
        assert!(test.contains("use acme_ai::Plugin;") && !test.contains("{{"), "{test}");
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(target.join("fixtures/hello.json")).unwrap()).unwrap();
        assert_eq!(fixture["call"]["model"], "acme-ai-chat");
    }

    #[test]
    fn bad_names_and_occupied_directories_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "Acme", "1acme", "ac me", "acme/x"] {
            let err = create(name, &dir.path().join("x"), &default_sdk()).unwrap_err();
            assert!(matches!(err, KitError::BadName { .. }), "{name}: {err}");
        }
        assert!(!dir.path().join("x").exists());
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let err = create("acme", dir.path(), &default_sdk()).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = create("acme", &dir.path().join("y"), &dir.path().join("no-sdk")).unwrap_err();
        assert!(err.to_string().contains("--sdk PATH"), "{err}");
        assert!(!dir.path().join("y").exists());
    }
}
