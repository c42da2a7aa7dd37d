//! The local process driver with real `govchain-node` processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod solo;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{
    BlockPolicySpec, ChainSpec, ConsensusKind, HostDriver, LocalDriver, NodeProgram, NodeRole, NodeSpec,
    NodeStatus, Resources,
};
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::{Hash, TxStatus, api::SubmitMode};

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

pub fn driver(root: &Path) -> LocalDriver {
    LocalDriver::new(
        root.to_owned(),
        NodeProgram { exe: node_bin(), args: vec!["run".into(), "--config".into()] },
    )
    .unwrap()
}

pub fn node(org: &str, role: NodeRole) -> NodeSpec {
    NodeSpec {
        org: org.into(),
        role,
        resources: Resources { cpu_millis: 500, memory_mb: 256, storage_mb: 1024 },
    }
}

pub fn spec(chain: &str, suite: Suite, consensus: ConsensusKind, nodes: Vec<NodeSpec>) -> ChainSpec {
    ChainSpec {
        chain: chain.into(),
        owner_org: "a.gov".into(),
        suite,
        consensus,
        nodes,
        block_policy: BlockPolicySpec::default(),
    }
}

/// Polls the chain's status until `ok` holds for it (bounded).
pub async fn wait_status(
    d: &LocalDriver,
    chain: &str,
    what: &str,
    ok: impl Fn(&[NodeStatus]) -> bool,
) -> Vec<NodeStatus> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = d.status(chain).await.unwrap();
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within 60 s: {s:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes one key through `api_url` and waits for its receipt.
pub async fn put(api_url: &str, suite: Suite, chain: &str, key: &str) -> Hash {
    let wallet = Wallet::new(PrivateKey::generate(suite), chain);
    let tx = wallet.data_call(&DataCall::Put { key: key.into(), value: b"v".to_vec() }).unwrap();
    let r = Client::new(api_url).unwrap().submit(&tx, SubmitMode::Sync).await.unwrap();
    assert_eq!(r.receipt.map(|r| r.status), Some(TxStatus::Success), "{key} committed");
    r.tx_id
}

/// The pid in a node directory's pid file.
pub fn pid_of(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("pid")).unwrap().trim().parse().unwrap()
}

/// Whether `pid` is a live process (a zombie is not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// Kills processes the test let go of (an abandoned driver's nodes) if the
/// test ends before a driver took them over.
#[derive(Debug)]
pub struct KillOnDrop(pub Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            if alive(*pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}
