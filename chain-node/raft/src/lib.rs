//! Raft ordering for govchain nodes (SPEC CON-1, CON-2, CON-3, LED-5), on
//! openraft 0.9.25 (pinned exactly; storage v2, generic snapshot data).
//!
//! What it is for: ordering admitted transactions into batches with a
//! crash-fault-tolerant Raft group, turning every committed batch into the
//! next block on every member exactly once, and changing the group (learners
//! as backup ledger nodes, promotion, removal) and the block policy through
//! the log while the chain keeps serving. Not for: executing transactions,
//! storing blocks (the node's ledger does both behind [`BlockStore`]),
//! verifying signatures (the node admits only verified transactions) or TLS
//! (the node wraps [`http::router`] and implements [`PeerTransport`] over
//! mutual TLS).
//!
//! Pieces, each in its own module:
//! - [`log_store`]: the durable Raft log, vote and committed/purged ids in
//!   fjall; an append is acknowledged only once it is fsynced.
//! - [`state_machine`]: applies committed entries to a [`BlockStore`]; a
//!   snapshot is "the ledger up to height H", installed by fetching the
//!   missing blocks from peers and checking their hash chain.
//! - [`network`]: openraft's network over the small [`PeerTransport`] trait,
//!   and the server-side dispatcher [`RaftEngine::handle_rpc`].
//! - [`http`]: plain HTTP/1.1 client and axum router for that transport.
//! - [`engine`]: [`RaftEngine`], the [`govchain_consensus::Consensus`]
//!   implementation with the smart-block cutter and the admin calls.
//!
//! # What the node implements
//! - [`BlockStore`] over its ledger: execute a batch as the next block and
//!   store the opaque consensus metadata in the same atomic, durable write
//!   (`Ledger::commit_with(.., Some(meta))`); store the metadata alone
//!   (`Ledger::put_consensus_meta`) and read it back
//!   (`Ledger::consensus_meta`); re-execute a block fetched from a peer and
//!   refuse it unless the header comes out the same; serve block bytes by
//!   height (`Ledger::block_bytes`). Block ids must not depend on which
//!   member executed the block (no per-node data in the header).
//! - [`PeerTransport`] over HTTPS with mutual TLS (or use
//!   [`http::HttpTransport::with_client`] with a TLS-enabled `reqwest`
//!   client), and mount [`http::router`] (or call
//!   [`RaftEngine::handle_rpc`]) on its peer-facing server.
//! - Forwarding of client transactions to the leader when `submit` answers
//!   `NotLeader` (it names the leader; [`RaftEngine::leader`] gives its
//!   address). Transactions queued on a leader that loses leadership before
//!   proposing them are dropped (logged); clients resubmit.
//! - Bootstrapping: [`RaftEngine::initialize`] on one member of a new chain
//!   with the initial voters; later members start empty (genesis only) and
//!   are added by the leader ([`RaftEngine::add_learner`], then
//!   [`RaftEngine::promote`] for a voter).

pub mod engine;
pub mod http;
pub mod log_store;
pub mod network;
pub mod state_machine;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
mod types;

pub use engine::{Members, RaftConfig, RaftEngine};
pub use govchain_consensus::{BlockStore, BoxFuture, ChainTip, PeerTransport, StoreError, TransportError};
pub use types::{
    Applied, Command, Entry, LogId, Node, NodeId, StoredMembership, TypeConfig, decode_batch, encode_batch,
};

/// Errors of the Raft engine and its storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This node is not the leader; the leader can do it.
    #[error("not the leader (leader: {})", leader.as_ref().map_or_else(|| "unknown".to_owned(), ToString::to_string))]
    NotLeader {
        /// Raft id of the leader, when known.
        leader_id: Option<NodeId>,
        /// The leader's address and name, when known.
        leader: Option<Node>,
    },
    /// The Raft log store failed (disk).
    #[error("raft log store: {0}")]
    LogStore(String),
    /// The block store (the node's ledger) failed or refused a block.
    #[error("block store: {0}")]
    BlockStore(String),
    /// Bytes from disk or from a peer do not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A peer could not be reached (connection refused, timeout).
    #[error("peer {target} unreachable: {reason}")]
    Unreachable {
        /// The peer's Raft id.
        target: NodeId,
        /// What went wrong.
        reason: String,
    },
    /// A peer answered with an error status or a malformed reply.
    #[error("RPC to peer {target} failed: {reason}")]
    Rpc {
        /// The peer's Raft id.
        target: NodeId,
        /// What went wrong.
        reason: String,
    },
    /// An RPC path this engine does not serve.
    #[error("unknown raft RPC path `{0}`")]
    UnknownPath(String),
    /// Catching up to a snapshot failed: no peer served the missing blocks,
    /// or they do not chain up to the snapshot's block.
    #[error("catching up to the snapshot failed: {0}")]
    Sync(String),
    /// A membership change was refused (another in progress, unknown
    /// learner, empty voter set).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// A block policy value is out of range.
    #[error(transparent)]
    Consensus(#[from] govchain_consensus::Error),
    /// A configuration value is unusable.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// Raft has stopped (shut down, or a storage failure made it stop).
    #[error("raft stopped: {0}")]
    Stopped(String),
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Unreachable { target, reason } => Error::Unreachable { target, reason },
            TransportError::Rpc { target, reason } => Error::Rpc { target, reason },
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Tracing target of this crate.
pub(crate) const TARGET: &str = "govchain::raft";
