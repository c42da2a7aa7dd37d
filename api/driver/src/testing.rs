//! For tests of this crate, the control plane and the operator: the
//! `govchain-node` binary their drivers run, and the `govchain-operator`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use crate::NodeProgram;

/// The `govchain-node` binary: `GOVCHAIN_NODE_BIN`, else built with cargo
/// into this test's target directory (a no-op when it is fresh, so a stale
/// node is never tested).
pub fn node_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("govchain-node", "GOVCHAIN_NODE_BIN")).clone()
}

/// The `govchain-operator` binary: `GOVCHAIN_OPERATOR_BIN`, else built like
/// [`node_bin`].
pub fn operator_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("govchain-operator", "GOVCHAIN_OPERATOR_BIN")).clone()
}

/// The binary `name` of the workspace package of the same name: the path in
/// env `override_var`, else built with cargo into the running test's target
/// directory and profile.
fn workspace_bin(name: &str, override_var: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(override_var) {
        return PathBuf::from(bin);
    }
    // target/<profile>/deps/it-<hash>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let target_dir = profile_dir.parent().unwrap();
    let bin = profile_dir.join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", name, "--bin", name])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    // What cargo sets for this test run only; build scripts that watch
    // these (ring's) would otherwise rebuild for the nested cargo.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        let ours = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"]
            .iter()
            .any(|p| var.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"]
                .contains(&var.as_ref());
        if ours {
            cmd.env_remove(var.as_ref());
        }
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => panic!("cannot tell the profile from {}", exe.display()),
    }
    let status = cmd.status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "building {name} failed ({status:?}); set {override_var} to a built binary"
    );
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// How a local driver in a test runs nodes: [`node_bin`] with `run --config`.
pub fn node_program() -> NodeProgram {
    NodeProgram { exe: node_bin(), args: vec!["run".into(), "--config".into()] }
}
