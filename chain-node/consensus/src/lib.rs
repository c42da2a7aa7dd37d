//! The consensus seam of a govchain node: what an engine is to the node, and
//! what the node gives an engine.
//!
//! An engine orders admitted transactions into batches and hands every
//! committed batch, in order, to the node's [`BlockStore`], which executes
//! it and writes the block. Engines know nothing of execution or storage.
//! Not for: signature checks (the node admits only verified transactions),
//! TLS (the node implements [`PeerTransport`] over mutual TLS) or choosing
//! an engine (the node's builder does that, from the genesis
//! [`ConsensusKind`]).
//!
//! The pieces every engine shares:
//! - [`Consensus`]: submit, status, leader, block policy; optionally the
//!   [`Membership`] capability (members, add learner, promote, remove, set
//!   policy) through [`Consensus::membership`].
//! - [`BlockStore`]: the node's ledger as an engine drives it.
//! - [`PeerTransport`]: request/reply bytes to another member.
//! - [`cutter`]: the smart-block cutter (SPEC CON-3), written once and
//!   generic over where a cut block goes ([`cutter::BlockSink`]).
//!
//! Engines: [`solo`] here (one node, development and single-department
//! chains); Raft in `govchain-raft`; with the `test-utils` feature,
//! [`memory`] (an in-process group sharing one log, for tests).
//!
//! # Adding an engine
//! 1. Implement [`Consensus`] (and [`Membership`] if the group changes
//!    through consensus, returned from [`Consensus::membership`]). Order
//!    with [`cutter::spawn`] and a [`cutter::BlockSink`] that takes each cut
//!    block to where the engine agrees on it; apply agreed blocks to the
//!    node's [`BlockStore`] with the engine's metadata (exactly once across
//!    crashes); reach peers through [`PeerTransport`].
//! 2. Add its kind to `govchain_types::chain::ConsensusKind` and one
//!    `EngineFactory` arm to `govchain_node::builder`; nothing else in the
//!    node changes.

pub mod cutter;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(test, feature = "test-utils"))]
pub mod memory;
pub mod solo;
mod store;
mod transport;

use std::{future::Future, pin::Pin, sync::Arc};

use govchain_types::Transaction;
pub use govchain_types::chain::{BlockPolicy, ConsensusKind};
use serde::{Deserialize, Serialize};
pub use store::{BlockStore, ChainTip, HANDOVER, StoreError};
pub use transport::{PeerReply, PeerTransport, TransportError};

/// A boxed, sendable future (what the object-safe async methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// This node cannot do it; the leader can.
    #[error("not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))]
    NotLeader {
        /// Node id (name) of the current leader, when known.
        leader: Option<String>,
    },
    /// A block policy value is out of range.
    #[error("invalid block policy: {0}")]
    InvalidPolicy(String),
    /// A membership change was refused (another in progress, unknown
    /// member, empty voter set).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The engine could not do it now (storage or peers failing); the
    /// message says why.
    #[error("consensus: {0}")]
    Unavailable(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<govchain_types::VocabularyError> for Error {
    fn from(e: govchain_types::VocabularyError) -> Self {
        Error::InvalidPolicy(e.0)
    }
}

/// An ordered batch of transactions: the content of the next block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Transactions in their agreed order.
    pub transactions: Vec<Transaction>,
    /// Proposed block time (ms since 1970); the store keeps block time
    /// monotonic by never going below the parent's.
    pub timestamp_ms: u64,
    /// Node id of the proposer.
    pub proposer: String,
    /// The engine's proof that the batch is committed, appended to the
    /// block's signatures after the node's own (empty for engines without
    /// one: solo, Raft). A BFT engine puts its commit certificate here so a
    /// client can check finality from the block alone.
    pub certificate: Vec<govchain_types::BlockSignature>,
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

/// A figure an engine reports about its progress, for the node's metrics
/// (`govchain_node_consensus_figure{figure="<name>"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figure {
    /// Its name, e.g. `round` (lower case, underscores).
    pub name: &'static str,
    /// Its value now.
    pub value: i64,
}

/// The leader as a member knows it: where to forward client transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// Its node id (name).
    pub name: String,
    /// Its peer address (`host:port`), when the group has a network.
    pub addr: Option<String>,
}

/// A member of a consensus group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Consensus id, unique in the group, above 0, never reused.
    pub id: u64,
    /// Node id (name).
    pub name: String,
    /// Peer address (`host:port`).
    pub addr: String,
    /// Whether it votes (false: a learner, a backup ledger node).
    pub voter: bool,
}

/// A consensus engine as the node sees it.
pub trait Consensus: Send + Sync {
    /// Offers admitted (already verified) transactions for ordering. Returns
    /// once they are queued, not when they commit. A member that cannot
    /// order answers [`Error::NotLeader`] naming the leader, for the node to
    /// forward to.
    fn submit(&self, txs: Vec<Transaction>) -> Result<()>;

    /// The engine's current view of itself.
    fn status(&self) -> Status;

    /// This node's role (cheaper than [`Consensus::status`]).
    fn role(&self) -> Role {
        self.status().role
    }

    /// The leader as this node knows it.
    fn leader(&self) -> Option<Leader>;

    /// Whether this member takes client transactions itself rather than
    /// forwarding them to [`Consensus::leader`]: the leader of a
    /// leader-based engine (the default), every voter of an engine whose
    /// members share pending transactions (HotStuff, whose leader rotates
    /// every round).
    fn takes_submissions(&self) -> bool {
        self.role() == Role::Leader
    }

    /// Where a member that does not take submissions itself sends them:
    /// the leader (the default). An engine whose leader changes every
    /// round names a member it knows to be live instead.
    fn forward_target(&self) -> Option<Leader> {
        self.leader()
    }

    /// The block policy in force here: the genesis one, or the last one
    /// agreed through consensus.
    fn block_policy(&self) -> BlockPolicy;

    /// The membership capability, for engines whose group changes through
    /// consensus; `None` for a fixed group (solo).
    fn membership(&self) -> Option<&dyn Membership> {
        None
    }

    /// Figures of the engine's progress beyond role and leader (rounds,
    /// epochs, view changes), read when the node's metrics are scraped;
    /// none by default.
    fn figures(&self) -> Vec<Figure> {
        Vec::new()
    }

    /// Stops the engine; queued transactions are dropped.
    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Changing a consensus group and its block policy through consensus (SPEC
/// CON-2, LED-5). Every call but [`Membership::members`] is for the leader;
/// others answer [`Error::NotLeader`].
pub trait Membership: Send + Sync {
    /// The group as this member last applied it.
    fn members(&self) -> Vec<Member>;

    /// Adds a non-voting member that receives every block; returns once
    /// the change is committed (the learner catches up on its own).
    /// `public_key` is its node key (SEC1 in the chain's suite), for
    /// engines whose members sign consensus messages (empty: not given;
    /// such engines refuse).
    fn add_learner(
        &self,
        id: u64,
        name: String,
        addr: String,
        public_key: Vec<u8>,
    ) -> BoxFuture<'_, Result<()>>;

    /// Makes learner `id` a voter.
    fn promote(&self, id: u64) -> BoxFuture<'_, Result<()>>;

    /// Removes member `id`, voter or learner.
    fn remove(&self, id: u64) -> BoxFuture<'_, Result<()>>;

    /// Changes the block policy of the whole group at one point of its
    /// order; returns once it is in force here.
    fn set_block_policy(&self, policy: BlockPolicy) -> BoxFuture<'_, Result<()>>;
}

impl<C: Consensus + ?Sized> Consensus for Arc<C> {
    fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        (**self).submit(txs)
    }

    fn status(&self) -> Status {
        (**self).status()
    }

    fn role(&self) -> Role {
        (**self).role()
    }

    fn leader(&self) -> Option<Leader> {
        (**self).leader()
    }

    fn takes_submissions(&self) -> bool {
        (**self).takes_submissions()
    }

    fn forward_target(&self) -> Option<Leader> {
        (**self).forward_target()
    }

    fn block_policy(&self) -> BlockPolicy {
        (**self).block_policy()
    }

    fn membership(&self) -> Option<&dyn Membership> {
        (**self).membership()
    }

    fn figures(&self) -> Vec<Figure> {
        (**self).figures()
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        (**self).shutdown()
    }
}
