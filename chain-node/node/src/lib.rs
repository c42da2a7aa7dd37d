//! The govchain chain node: ledger, execution, consensus and the node API,
//! wired together in one place ([`builder::NodeBuilder`], which
//! [`Node::start`] uses).
//!
//! Not for: key custody or the control plane; a node serves one chain.

pub mod admin;
mod admission;
pub mod builder;
mod certs;
pub mod config;
pub mod init;
pub mod logs;
pub mod metrics;
mod node;
mod replay;
mod replicated;
pub mod rpc;
pub mod switch;
mod view;

pub use node::{Committed, LedgerWatch, Node};

use govchain_types::Hash;

/// Errors of the node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config or genesis file is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The transaction is malformed or badly signed.
    #[error("invalid transaction: {0}")]
    InvalidTx(#[from] govchain_types::Error),
    /// An Ethereum-signed transaction is refused (see
    /// [`govchain_execution::evm::ethtx`]).
    #[error("{0}")]
    InvalidEthTx(#[from] govchain_execution::evm::ethtx::EthTxError),
    /// A signer's certificate is refused: no CA on this chain, not from the
    /// chain's CA, not valid now (or at block time), not a user or node
    /// certificate, or not for the signer's key.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// The transaction's timestamp is too far from the node's clock.
    #[error("transaction timestamp {timestamp_ms} is too far from the node's clock ({now_ms})")]
    BadTimestamp {
        /// The transaction's time.
        timestamp_ms: u64,
        /// The node's time.
        now_ms: u64,
    },
    /// The transaction was submitted before.
    #[error("transaction {tx_id} is already {}", if *committed { "committed" } else { "pending" })]
    Duplicate {
        /// Its id.
        tx_id: Hash,
        /// Whether it is already on chain.
        committed: bool,
    },
    /// Another recent transaction (committed, or pending on this node)
    /// used the same `(sender, nonce)` pair.
    #[error(
        "nonce {nonce} of sender {sender} is already used by {} transaction {tx_id}",
        if *committed { "committed" } else { "pending" }
    )]
    NonceUsed {
        /// The sender.
        sender: govchain_crypto::Address,
        /// The nonce.
        nonce: u64,
        /// The transaction that used the pair.
        tx_id: Hash,
        /// Whether that transaction is on chain.
        committed: bool,
    },
    /// A sync submission did not commit in time; it may still commit.
    #[error("transaction {tx_id} was admitted but did not commit in time; query it later")]
    CommitTimeout {
        /// Its id.
        tx_id: Hash,
    },
    /// The node holds as much work as its admission budget allows; the
    /// client should retry after `retry_after_s` (HTTP 503, `Retry-After`).
    #[error(
        "node is busy: it holds {limit} transactions, about {budget_ms} ms of work at the measured \
         {tps} tx/s; retry after {retry_after_s} s"
    )]
    Overloaded {
        /// Most transactions the node holds now.
        limit: usize,
        /// The chain's measured throughput, tx/s.
        tps: u64,
        /// The admission budget, ms.
        budget_ms: u64,
        /// Seconds until the node has drained what it holds.
        retry_after_s: u64,
    },
    /// The consensus engine refused the transaction.
    #[error(transparent)]
    Consensus(#[from] govchain_consensus::Error),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] govchain_ledger::Error),
    /// Execution failed on storage.
    #[error("execution: {0}")]
    Execution(#[from] govchain_execution::Error),
    /// The leader refused a forwarded transaction, or could not be reached.
    #[error("{message}")]
    Forwarded {
        /// HTTP status the leader answered (503 when unreachable).
        status: u16,
        /// The leader's error code.
        code: String,
        /// The leader's message.
        message: String,
    },
    /// The node is stopping.
    #[error("node is shutting down")]
    ShuttingDown,
    /// A fault inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable code for API bodies and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::InvalidTx(govchain_types::Error::BadSignature { .. }) => "bad_signature",
            Error::InvalidTx(govchain_types::Error::WrongChain { .. }) => "wrong_chain",
            Error::InvalidTx(_) => "invalid_transaction",
            Error::InvalidEthTx(govchain_execution::evm::ethtx::EthTxError::NonceTooLow { .. }) => {
                "nonce_too_low"
            }
            Error::InvalidEthTx(_) => "invalid_ethereum_transaction",
            Error::BadTimestamp { .. } => "bad_timestamp",
            Error::BadCertificate(_) => "bad_certificate",
            Error::Duplicate { .. } => "duplicate",
            Error::NonceUsed { .. } => "nonce_used",
            Error::CommitTimeout { .. } => "commit_timeout",
            Error::Overloaded { .. } => "overloaded",
            Error::Consensus(govchain_consensus::Error::Overloaded { .. }) => "overloaded",
            Error::Consensus(govchain_consensus::Error::NotLeader { .. }) => "not_leader",
            Error::Consensus(_) => "consensus",
            Error::Ledger(_) => "ledger",
            Error::Execution(_) => "execution",
            Error::Forwarded { .. } => "forwarded",
            Error::ShuttingDown => "shutting_down",
            Error::Internal(_) => "internal",
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, storage engine
/// internals at `warn`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The default filter directive: `info`, storage engine internals at `warn`.
pub const DEFAULT_LOG_FILTER: &str = govchain_logstore::DEFAULT_DIRECTIVE;

/// Logs to stderr as [`init_tracing`] and into the log store of `config`
/// (`run`, `system`, `error` files; the level changeable at run time).
/// When the store cannot be opened the process logs to stderr only and
/// says why.
pub fn init_logging(config: govchain_logstore::LogConfig) {
    let dir = config.dir.clone();
    if let Err(e) = govchain_logstore::install(config, DEFAULT_LOG_FILTER) {
        init_tracing();
        tracing::warn!(target: "govchain::system::node", dir = %dir.display(), error = %e,
            "log store not opened; logging to stderr only");
    }
}

/// Starts the node from `config`, serves its API until SIGINT/SIGTERM, and
/// prints `node=<id> url=<base url>` to stdout once it listens, then on an
/// `intl-k1` chain running the `evm` engine `eth_rpc=<base url>/v1/eth`
/// (the Ethereum JSON-RPC).
pub async fn run(config: config::NodeConfig) -> Result<()> {
    let listen = config.listen;
    let node_id = config.node_id.clone();
    tracing::info!(target: logs::SYSTEM, node = %node_id, listen = %listen,
        p2p_listen = ?config.p2p_listen, "node starting");
    let node = Node::start(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
    println!("node={} url=http://{addr}", node.config().node_id);
    if let Some(rpc) = eth_rpc_url(&node, &format!("http://{addr}")) {
        println!("eth_rpc={rpc}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(target: logs::SYSTEM, node = %node_id, api = %addr,
        chain = %node.genesis().chain_id, "node started");
    let served = axum::serve(listener, rpc::router(node))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::Internal(e.to_string()));
    match &served {
        Ok(()) => tracing::info!(target: logs::SYSTEM, node = %node_id, "node stopped"),
        Err(e) => {
            tracing::error!(target: logs::SYSTEM, node = %node_id, error = %e, "node stopped on an error")
        }
    }
    served
}

/// The Ethereum JSON-RPC URL of a node serving at `base`, if its chain
/// serves one (an `intl-k1` chain running the `evm` engine).
pub fn eth_rpc_url(node: &Node, base: &str) -> Option<String> {
    (node.suite() == govchain_crypto::Suite::IntlK1 && node.evm_config().is_some())
        .then(|| format!("{base}/v1/eth"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
