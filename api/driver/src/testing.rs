//! For tests of this crate and of the control plane: the `govchain-node`
//! binary their local drivers run.
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
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("GOVCHAIN_NODE_BIN") {
            return PathBuf::from(bin);
        }
        // target/<profile>/deps/it-<hash>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
        let target_dir = profile_dir.parent().unwrap();
        let bin = profile_dir.join("govchain-node");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "govchain-node", "--bin", "govchain-node"])
            .env("CARGO_TARGET_DIR", target_dir);
        // What cargo sets for this test run only; build scripts that watch
        // these (ring's) would otherwise rebuild for the nested cargo.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let ours = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"]
                .iter()
                .any(|p| name.starts_with(p))
                || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"]
                    .contains(&name.as_ref());
            if ours {
                cmd.env_remove(name.as_ref());
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
            "building govchain-node failed ({status:?}); set GOVCHAIN_NODE_BIN to a built binary"
        );
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// How a local driver in a test runs nodes: [`node_bin`] with `run --config`.
pub fn node_program() -> NodeProgram {
    NodeProgram { exe: node_bin(), args: vec!["run".into(), "--config".into()] }
}
