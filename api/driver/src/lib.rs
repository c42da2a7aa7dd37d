//! Host drivers: where the platform's chain nodes run (SPEC PRV-4, PRV-5,
//! PRV-8). The control plane provisions and operates chains through the
//! [`HostDriver`] trait; this crate has the embedded local process driver
//! ([`LocalDriver`]): every node a supervised child process with its own
//! directory, loopback address and ports; and, with the `kubernetes`
//! feature, the Kubernetes driver (`KubeDriver`): chains as `Chain`
//! resources that the govchain operator runs.
//!
//! Not for: deciding who may do what (the control plane checks tenancy,
//! quotas and approvals before calling a driver), or talking to chains on
//! behalf of users (that is the SDK).

#[cfg(feature = "kubernetes")]
pub mod kube;
mod local;
#[cfg(feature = "test-utils")]
pub mod testing;
mod types;
pub mod validate;

#[cfg(feature = "kubernetes")]
pub use self::kube::{KubeDriver, KubeDriverConfig, NamespaceAccess};
use futures_util::stream::BoxStream;
pub use govchain_logstore::{LogLine, LogType, SearchParams};
pub use local::{CATCH_UP_TIMEOUT, CHAIN_UP_TIMEOUT, ConsensusMember, LocalDriver, NodeProgram};
pub use types::{
    BlockPolicy, BundleFile, ChainAccount, ChainSpec, ConsensusKind, GovernancePolicy, NodeInfo, NodeRole,
    NodeSpec, NodeStatus, ProcessState, Resources,
};

/// Errors of a host driver, by what the caller should tell its client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such chain or node.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is malformed or not possible for this chain (bad spec,
    /// a solo chain asked to add a node).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The request clashes with what exists (a chain id already used, a
    /// lifecycle operation already running on the chain).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Provisioning or running the chain failed; the message says why and
    /// names the node's log.
    #[error("{0}")]
    Failed(String),
    /// A file of the driver could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// The refusal of a driver that cannot reach its nodes' log stores.
fn no_log_store(kind: &str) -> Error {
    Error::Conflict(format!(
        "the {kind} driver does not reach the nodes' log stores; the node log (`/log`) shows what the host keeps"
    ))
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A host driver: where chain nodes run (local processes here; Kubernetes,
/// Docker and managed hosts later). Every method is safe to call
/// concurrently; operations on one chain run one at a time.
#[async_trait::async_trait]
pub trait HostDriver: Send + Sync + std::fmt::Debug {
    /// The driver's kind, e.g. `local`.
    fn kind(&self) -> &'static str;

    /// Generates the chain's CA, node keys and certificates, genesis and
    /// configs, starts every node, and waits (bounded) until a leader exists
    /// and every node answers its status. Returns the nodes.
    async fn create_chain(&self, spec: &ChainSpec) -> Result<Vec<NodeInfo>>;

    /// Starts every node that is not running (including nodes stopped one
    /// by one) and waits until they answer and a leader exists. Idempotent.
    async fn start_chain(&self, chain: &str) -> Result<()>;

    /// Stops every node: SIGTERM, then SIGKILL after 10 s. The supervisor
    /// does not restart them.
    async fn stop_chain(&self, chain: &str) -> Result<()>;

    /// Stops and starts every node.
    async fn restart_chain(&self, chain: &str) -> Result<()>;

    /// Stops every node and removes every file of the chain, of every
    /// organization.
    async fn delete_chain(&self, chain: &str) -> Result<()>;

    /// A new node of `node.org` (the creator's or an invited organization):
    /// key and node certificate with `O=org` from the chain's operating CA,
    /// started, added as a learner through the leader, waited for until it
    /// caught up (bounded), then promoted unless `node.role` is `Backup`.
    async fn add_node(&self, chain: &str, node: &NodeSpec) -> Result<NodeInfo>;

    /// Takes a node out of consensus first, then stops it and removes its files.
    async fn remove_node(&self, chain: &str, name: &str) -> Result<()>;

    /// Starts one node and waits until it answers.
    async fn start_node(&self, chain: &str, name: &str) -> Result<()>;

    /// Stops one node (SIGTERM, SIGKILL after 10 s); it stays stopped.
    async fn stop_node(&self, chain: &str, name: &str) -> Result<()>;

    /// Stops and starts one node.
    async fn restart_node(&self, chain: &str, name: &str) -> Result<()>;

    /// Live status polled from the nodes with short timeouts; a node that is
    /// down is reported as such, not as an error.
    async fn status(&self, chain: &str) -> Result<Vec<NodeStatus>>;

    /// Changes the block policy online: agreed through consensus, applied by
    /// every node without a restart. Refused (`Invalid`, with the
    /// vocabulary's message) when a field is out of range.
    async fn set_block_policy(&self, chain: &str, policy: &BlockPolicy) -> Result<()>;

    /// Switches a running replicated chain's consensus engine (raft to
    /// hotstuff or back) while it serves: every running consensus node
    /// approves, and from the block in which a quorum approved, every node
    /// runs the new engine. Returns once the running nodes run it and know
    /// its leader. Refused
    /// (`Invalid`) for solo, for the engine the chain runs already, and
    /// (`Conflict`) by drivers that cannot do it yet.
    async fn switch_consensus(
        &self,
        chain: &str,
        consensus: govchain_types::chain::ConsensusKind,
    ) -> Result<()> {
        let _ = (chain, consensus);
        Err(Error::Conflict(format!(
            "the {} driver does not switch a chain's consensus engine yet",
            self.kind()
        )))
    }

    /// The files to download for one node: `node.toml`, `genesis.json`, the
    /// node certificate and the CA certificates (never a CA key); with
    /// `include_key` also the node's private key.
    async fn node_bundle(&self, chain: &str, name: &str, include_key: bool) -> Result<Vec<BundleFile>>;

    /// The last `lines` lines of the node's log.
    async fn node_log(&self, chain: &str, name: &str, lines: usize) -> Result<String>;

    /// The lines of a node's log store matching `search` (checked by the
    /// caller or refused `Invalid`), newest first. A driver without access
    /// to its nodes' log stores refuses (`Conflict`, saying so).
    async fn log_search(&self, chain: &str, name: &str, search: &SearchParams) -> Result<Vec<LogLine>> {
        let _ = (chain, name, search);
        Err(no_log_store(self.kind()))
    }

    /// A node's `kind` log of the day `date` (`YYYY-MM-DD`, within the
    /// node's retention) as JSON lines; `None` when it has no file of that
    /// day.
    async fn log_day(&self, chain: &str, name: &str, kind: LogType, date: &str) -> Result<Option<Vec<u8>>> {
        let _ = (chain, name, kind, date);
        Err(no_log_store(self.kind()))
    }

    /// A node's new `kind` lines as it writes them (the stream ends after
    /// an hour at the latest; the caller reconnects).
    async fn log_follow(
        &self,
        chain: &str,
        name: &str,
        kind: LogType,
    ) -> Result<BoxStream<'static, LogLine>> {
        let _ = (chain, name, kind);
        Err(no_log_store(self.kind()))
    }

    /// A node's log level directive.
    async fn log_level(&self, chain: &str, name: &str) -> Result<String> {
        let _ = (chain, name);
        Err(no_log_store(self.kind()))
    }

    /// Changes a node's log level at run time (no restart; a stopped node
    /// starts with it). `level` is checked; returns the directive set.
    async fn set_log_level(&self, chain: &str, name: &str, level: &str) -> Result<String> {
        let _ = (chain, name, level);
        Err(no_log_store(self.kind()))
    }

    /// The account the platform holds for organization `org` on `chain`, to
    /// deploy and call contracts for it: a key of the chain's suite and a
    /// user certificate from the chain's CA naming `org`, so the chain sees
    /// the organization as the sender. Made on first use and kept with the
    /// chain (the same account every time); gone when the chain is deleted.
    async fn account(&self, chain: &str, org: &str) -> Result<ChainAccount>;

    /// At platform start: `chains` are the ones that should run. Kills
    /// processes left from a previous run, starts those chains' nodes and
    /// re-adopts the driver's view of every chain it holds.
    async fn resume(&self, chains: &[String]) -> Result<()>;

    /// At platform shutdown: stops every node the driver started.
    async fn shutdown(&self);
}
