//! The consensus interface of a govchain node and its engines.
//!
//! An engine orders admitted transactions into batches and hands every
//! committed batch, in order, to an [`Applier`] that executes it and writes the
//! block. Engines know nothing of execution or storage. Not for: signature
//! checks (the node admits only verified transactions) or networking of its
//! own beyond what an engine needs.
//!
//! Engines: [`solo`] (one node, development and single-department chains).
//! Raft and a HotStuff-family BFT implement the same [`Consensus`] trait.

pub mod solo;

use std::sync::Arc;

use govchain_types::Transaction;
use serde::{Deserialize, Serialize};

/// Errors of consensus engines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine's queue is full; the client should retry later.
    #[error("transaction queue is full ({capacity} pending); retry later")]
    Overloaded {
        /// Size of the queue.
        capacity: usize,
    },
    /// The engine has stopped (node shutting down or failed).
    #[error("consensus engine has stopped")]
    Stopped,
    /// This node cannot order transactions; the leader can.
    #[error("not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))]
    NotLeader {
        /// Node id of the current leader, when known.
        leader: Option<String>,
    },
    /// A block policy value is out of range.
    #[error("invalid block policy: {0}")]
    InvalidPolicy(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An ordered batch of transactions: the content of the next block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Transactions in their agreed order.
    pub transactions: Vec<Transaction>,
    /// Proposed block time (ms since 1970); the applier keeps block time
    /// monotonic by never going below the parent's.
    pub timestamp_ms: u64,
    /// Node id of the proposer.
    pub proposer: String,
}

/// Executes committed batches. Called from one thread, in commit order.
pub trait Applier: Send + Sync + 'static {
    /// Executes `batch` and durably commits it as the next block. An error
    /// here means the node cannot continue safely (storage failure); the
    /// engine stops.
    fn apply(&self, batch: Batch) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// The role of this node in its consensus group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Orders transactions.
    Leader,
    /// Follows a leader.
    Follower,
    /// Non-voting replica (backup ledger node).
    Learner,
    /// Not taking part (starting or stopped).
    Stopped,
}

/// What an engine reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Engine name, e.g. `solo` or `raft`.
    pub engine: String,
    /// This node's id.
    pub node_id: String,
    /// This node's role.
    pub role: Role,
    /// The leader's node id, when known.
    pub leader: Option<String>,
    /// Transactions waiting to be ordered on this node.
    pub pending: usize,
}

pub use govchain_types::chain::{BlockPolicy, ConsensusKind};

impl From<govchain_types::VocabularyError> for Error {
    fn from(e: govchain_types::VocabularyError) -> Self {
        Error::InvalidPolicy(e.0)
    }
}

/// A consensus engine as the node sees it.
pub trait Consensus: Send + Sync {
    /// Offers admitted (already verified) transactions for ordering. Returns
    /// once they are queued, not when they commit.
    fn submit(&self, txs: Vec<Transaction>) -> Result<()>;

    /// The engine's current view of itself.
    fn status(&self) -> Status;
}

impl<C: Consensus + ?Sized> Consensus for Arc<C> {
    fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        (**self).submit(txs)
    }

    fn status(&self) -> Status {
        (**self).status()
    }
}
