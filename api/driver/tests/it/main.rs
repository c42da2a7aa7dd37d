//! The local process driver with real `govchain-node` processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod hotstuff;
mod solo;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{
    BlockPolicy, ChainSpec, ConsensusKind, HostDriver, LocalDriver, NodeProgram, NodeRole, NodeSpec,
    NodeStatus, Resources,
};
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::{Hash, TxStatus, api::SubmitMode};

pub use govchain_driver::testing::node_bin;

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
        block_policy: BlockPolicy::default(),
        contract_governance: Default::default(),
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
