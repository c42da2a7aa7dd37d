//! End-to-end tests of the `govchain` command: keys and crypto against the
//! OpenSSL CLI, transactions, blocks and the load generator against a
//! node started with `govchain dev`, and the control-plane verbs against
//! the platform started with `govchain up`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup;
mod bft;
mod cert;
mod crypto;
mod net;
mod node;
mod overload;
mod partition;
mod platform;

use std::{
    path::Path,
    process::{Command, Output},
};

pub fn govchain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govchain")).args(args).output().expect("run govchain")
}

pub fn ok(args: &[&str]) -> String {
    let out = govchain(args);
    assert!(
        out.status.success(),
        "govchain {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn openssl(args: &[&str], dir: &Path) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is required (scripts/test-deps.sh installs it)")
}
