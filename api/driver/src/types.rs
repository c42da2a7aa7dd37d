//! What the control plane asks of a host driver and what it gets back:
//! plain serde types it stores and returns as they are.

use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

/// A chain to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// The chain id: 1-64 characters of `a-z`, `0-9`, `-`; also the name of
    /// the chain's directories.
    pub chain: String,
    /// The creating organization's domain (e.g. `market.gov`).
    pub owner_org: String,
    /// Crypto suite.
    pub suite: Suite,
    /// Consensus engine.
    pub consensus: ConsensusKind,
    /// The nodes to start with; on a replicated (raft, hotstuff) chain the
    /// `Consensus` ones are the genesis voters and `Backup` ones join as learners once a leader is up.
    pub nodes: Vec<NodeSpec>,
    /// Initial block policy (checked against its limits by
    /// [`crate::validate::chain_spec`]).
    pub block_policy: BlockPolicy,
    /// Who decides changes to the chain's EVM contracts (SPEC SC-4): the
    /// member organizations that vote, the threshold and the governed
    /// actions; the default governs nothing. Written into the genesis.
    #[serde(default)]
    pub contract_governance: GovernancePolicy,
}

pub use govchain_execution::GovernancePolicy;

pub use govchain_types::chain::{BlockPolicy, ConsensusKind, NodeRole};

/// A node to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// The organization running it (its domain, e.g. `market.gov`): the `O`
    /// of its node certificate and the directory it lives under.
    pub org: String,
    /// Voter or non-voting backup ledger node.
    pub role: NodeRole,
    /// Resources granted to it.
    pub resources: Resources,
}

/// Resources granted to a node. The local driver records them but does not
/// enforce them (no cgroups); drivers for container hosts do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Storage in MiB.
    pub storage_mb: u32,
}

/// A node as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name, unique in the chain: the genesis member name and the `CN` of
    /// its certificate. The local driver names nodes `node<i>.<org>`.
    pub name: String,
    /// Its organization's domain.
    pub org: String,
    /// Its consensus id (0 on a solo chain, which has none).
    pub consensus_id: u64,
    /// Base URL of its client API, e.g. `http://127.0.0.120:14123`.
    pub api_url: String,
    /// `host:port` of its node-to-node (mutual TLS) listener; empty on a solo chain.
    pub p2p: String,
    /// Voter or backup.
    pub role: NodeRole,
}

/// A node's live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Its organization's domain.
    pub org: String,
    /// Its process as the driver sees it.
    pub process: ProcessState,
    /// Whether its API answered the status query just now.
    pub reachable: bool,
    /// Committed height, when reachable.
    pub height: Option<u64>,
    /// The leader's name as this node knows it, when reachable.
    pub leader: Option<String>,
    /// Its consensus role (`leader`, `follower`, `learner`, `stopped`), when reachable.
    pub role: Option<String>,
    /// How often the supervisor restarted it after it died unexpectedly.
    pub restarts: u32,
    /// Base URL of its client API.
    pub api_url: String,
}

/// A node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Running.
    Running,
    /// Stopped on purpose; stays stopped until started.
    Stopped,
    /// Died unexpectedly; the supervisor restarts it after a backoff.
    Crashed,
}

/// An account the platform holds for an organization on a chain
/// ([`HostDriver::account`](crate::HostDriver::account)).
#[derive(Clone)]
pub struct ChainAccount {
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Its user certificate from the chain's operating CA, PEM; `O` is the
    /// organization.
    pub cert_pem: String,
}

impl std::fmt::Debug for ChainAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainAccount").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// One file of a node's download bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative path inside the bundle, e.g. `node.toml` or `ca/root.pem`.
    pub name: String,
    /// The file's bytes.
    pub contents: Vec<u8>,
}
