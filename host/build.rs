//! Builds every plugin in `plugins/` and `tests/plugins/` as a `wasm32-wasip2`
//! component, so that `cargo build` and `cargo test` always run against real,
//! current plugins. First-party plugins are then bundled into the binary.
//!
//! The nested cargo uses its own target directory (sharing the outer one would
//! deadlock on its lock) and a clean environment (host RUSTFLAGS and wrappers do
//! not apply to guests).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const GUEST_TARGET: &str = "wasm32-wasip2";
const GUEST_PROFILE: &str = "plugin";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ sits inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in ["wit", "sdk", "plugins", "tests/plugins", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let guests: Vec<(String, PathBuf)> =
        ["plugins", "tests/plugins"].iter().flat_map(|dir| crates_in(&root.join(dir))).collect();

    // <target>/<profile>/build/<pkg>/out → <target>/wasm-plugins
    let guest_target_dir =
        out_dir.ancestors().nth(4).map(|t| t.join("wasm-plugins")).unwrap_or_else(|| out_dir.join("wasm-plugins"));

    ensure_guest_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", GUEST_TARGET, "--profile", GUEST_PROFILE])
        .arg("--target-dir")
        .arg(&guest_target_dir);
    for (name, _) in &guests {
        cmd.args(["-p", name]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("could not start cargo to build the plugins");
    assert!(status.success(), "building the wasm32-wasip2 plugins failed (see the output above)");

    let built = guest_target_dir.join(GUEST_TARGET).join(GUEST_PROFILE);
    for (name, _) in &guests {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let from = built.join(&file);
        let to = out_dir.join(&file);
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {} failed: {e}", from.display()));
        let var = name.trim_start_matches("llmnode-").replace('-', "_").to_uppercase();
        println!("cargo:rustc-env=LLMNODE_WASM_{var}={}", to.display());
    }
    println!("cargo:rustc-env=LLMNODE_WASM_DIR={}", out_dir.display());
}

/// rustup installs the targets listed in `rust-toolchain.toml` only when it
/// installs the toolchain itself; a machine that already had the toolchain
/// lacks the guest target. Add it (once) rather than fail with "can't find
/// crate for `std`".
fn ensure_guest_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|root| root.join("lib/rustlib").join(GUEST_TARGET).is_dir()) {
        return;
    }
    println!("cargo:warning=the {GUEST_TARGET} target is missing; running `rustup target add {GUEST_TARGET}`");
    let added =
        Command::new("rustup").args(["target", "add", GUEST_TARGET]).status().map(|s| s.success()).unwrap_or(false);
    assert!(
        added,
        "the {GUEST_TARGET} target is not installed and `rustup target add {GUEST_TARGET}` failed; \
         install it by hand, then build again"
    );
}

/// (package name, directory) of each crate directly below `dir`.
fn crates_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter_map(|path| {
            let manifest = fs::read_to_string(path.join("Cargo.toml")).ok()?;
            let name = manifest.lines().find_map(|l| {
                let v = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_string())
            })?;
            Some((name, path))
        })
        .collect();
    found.sort();
    found
}
