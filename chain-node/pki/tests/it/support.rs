//! Shared helpers: subject keys, OpenSSL invocation, DER/PEM surgery.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, SystemTime},
};

use govchain_pki::{ChainCa, RootKey, Suite, Validity};
use pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sm2::elliptic_curve::Generate;

pub const OPENSSL: &str = "/usr/bin/openssl";

/// A subject key pair as PEM strings: (PKCS#8 private, SPKI public).
pub fn subject_key(suite: Suite) -> (String, String) {
    match suite {
        Suite::Gm => {
            let sk = sm2::SecretKey::try_generate().unwrap();
            (
                sk.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                sk.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
        Suite::IntlK1 => {
            let sk = k256::SecretKey::try_generate().unwrap();
            (
                sk.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                sk.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
        Suite::IntlR1 => {
            let sk = p256::SecretKey::try_generate().unwrap();
            (
                sk.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                sk.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
    }
}

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// A fresh CA: root for 10 years, operating CA for 1 year.
pub fn new_ca(suite: Suite, chain_id: &str) -> (ChainCa, RootKey) {
    ChainCa::create(
        suite,
        chain_id,
        "finance.gov.example",
        Validity::days_from_now(3650).unwrap(),
        Validity::days_from_now(365).unwrap(),
    )
    .unwrap()
}

/// A CA whose certificates became valid 30 days ago, so certificates issued in the past can
/// be checked at a past time.
pub fn new_backdated_ca(suite: Suite, chain_id: &str) -> (ChainCa, RootKey) {
    ChainCa::create(
        suite,
        chain_id,
        "finance.gov.example",
        Validity::new(now() - days(30), now() + days(3650)).unwrap(),
        Validity::new(now() - days(30), now() + days(365)).unwrap(),
    )
    .unwrap()
}

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// The OpenSSL CLI; a missing binary fails the test loudly rather than skipping it.
pub fn openssl() -> Command {
    assert!(
        Path::new(OPENSSL).exists(),
        "the OpenSSL 3 CLI is required at {OPENSSL} for these tests (apt-get install openssl)"
    );
    Command::new(OPENSSL)
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn openssl")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A temp dir holding PEM files for OpenSSL.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `openssl x509 -text -noout` on a PEM; panics unless it parses.
pub fn openssl_text(pem: &str) -> String {
    let files = Files::new();
    let path = files.write("cert.pem", pem);
    let out = run(openssl().args(["x509", "-text", "-noout", "-in"]).arg(&path));
    assert!(out.status.success(), "openssl x509 failed: {}", describe(&out));
    stdout(&out)
}

/// Whether OpenSSL accepts `leaf` under `operating` under `root`, optionally for a TLS
/// `purpose`, with `-x509_strict`. Returns (accepted, output).
///
/// GM chains need two steps. OpenSSL 3.0 verifies SM2 signatures with an empty distinguishing
/// ID unless a certificate carries one, and `openssl verify -vfyopt distid:...` sets it on the
/// certificate being verified only, never on the intermediates it loads. So the operating CA
/// is checked as the target under the root, then the leaf under the operating CA taken as a
/// trust anchor (`-partial_chain`), both with the standard ID.
pub fn openssl_verify(
    suite: Suite,
    root: &str,
    operating: &str,
    leaf: &str,
    purpose: Option<&str>,
) -> (bool, String) {
    match suite {
        Suite::Gm => {
            let id = ["-vfyopt", "distid:1234567812345678"];
            let files = Files::new();
            let root_path = files.write("root.pem", root);
            let op_path = files.write("operating.pem", operating);
            let (op_ok, op_out) = verify_run(&id, &root_path, None, &op_path, None);
            let leaf_path = files.write("leaf.pem", leaf);
            let with_partial = [id[0], id[1], "-partial_chain"];
            let (leaf_ok, leaf_out) = verify_run(&with_partial, &op_path, None, &leaf_path, purpose);
            (op_ok && leaf_ok, format!("operating CA: {op_out}\nleaf: {leaf_out}"))
        }
        Suite::IntlK1 | Suite::IntlR1 => openssl_verify_with(&[], root, operating, leaf, purpose),
    }
}

/// One `openssl verify -x509_strict [options] [-purpose p] -CAfile root -untrusted operating
/// leaf` run.
pub fn openssl_verify_with(
    options: &[&str],
    root: &str,
    operating: &str,
    leaf: &str,
    purpose: Option<&str>,
) -> (bool, String) {
    let files = Files::new();
    let root = files.write("root.pem", root);
    let op = files.write("operating.pem", operating);
    let leaf = files.write("leaf.pem", leaf);
    verify_run(options, &root, Some(&op), &leaf, purpose)
}

/// Runs `openssl verify`; "accepted" needs both exit 0 and the `<target>: OK` line.
fn verify_run(
    options: &[&str],
    ca_file: &Path,
    untrusted: Option<&Path>,
    target: &Path,
    purpose: Option<&str>,
) -> (bool, String) {
    let mut cmd = openssl();
    cmd.args(["verify", "-x509_strict"]).args(options);
    if let Some(p) = purpose {
        cmd.args(["-purpose", p]);
    }
    cmd.arg("-CAfile").arg(ca_file);
    if let Some(untrusted) = untrusted {
        cmd.arg("-untrusted").arg(untrusted);
    }
    let out = run(cmd.arg(target));
    let ok_line = format!("{}: OK", target.display());
    let accepted = out.status.success() && stdout(&out).lines().any(|l| l.trim() == ok_line);
    (accepted, describe(&out))
}

pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    assert_eq!(label, "CERTIFICATE");
    der
}

pub fn der_to_pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).unwrap()
}

/// Replaces the first occurrence of `from` by `to` (same length) in `der`.
pub fn replace_bytes(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = der.windows(from.len()).position(|w| w == from).expect("pattern present");
    let mut out = der.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}
