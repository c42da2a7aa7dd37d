//! Byzantine-fault-tolerant ordering for govchain nodes (SPEC CON-1..CON-5):
//! a two-chain HotStuff engine with rotating leaders, quorum certificates
//! that double as commit certificates, timeout certificates for view
//! changes and safety rules made durable before any signature leaves.
//!
//! What it is for: ordering admitted transactions into batches among `n`
//! voters of which up to `f = n - (floor(2n/3) + 1)` may lie, crash or
//! equivocate, handing every committed batch to the node's [`BlockStore`]
//! exactly once, with a commit certificate a client checks from the block
//! alone ([`verify_commit`]). Not for: executing transactions, storing
//! blocks, admitting transactions (the node does those) or TLS (the node
//! implements [`PeerTransport`] over mutual TLS and mounts [`http::router`]).
//!
//! Pieces:
//! - [`types`]: blocks, votes, certificates, messages and their encodings.
//! - [`safety`]: the voting rules and their durable state.
//! - [`core`]: the protocol as a pure state machine (events in, actions
//!   out) that both the tokio [`engine`] and the deterministic simulator
//!   ([`sim`], with the `test-utils` feature) drive.
//! - [`certificate`]: commit certificates in ledger blocks and
//!   [`verify_commit`].
//! - [`engine`]: [`HotStuffEngine`], the [`govchain_consensus::Consensus`]
//!   implementation; [`http`]: its router and an HTTP transport.
//!
//! # What the node implements
//! - [`BlockStore`] as for Raft, plus [`BlockStore::contains_tx`] (voters
//!   refuse a proposal that repeats a committed transaction, so a ledger
//!   block's transaction root is the certified payload's) and, in
//!   `build_block`, the batch's `certificate` appended after the node's
//!   own block signature.
//! - [`PeerTransport`] over mutual TLS, and [`http::router`] (or
//!   [`HotStuffEngine::handle_rpc`]) on the peer listener.
//!
//! # Durability
//! The safety state (last voted round, locks, the last vote, the highest
//! QC and TC acted on) is a file in the data dir, written atomically and
//! fsynced before any vote or timeout leaves; so is every uncommitted block
//! before this member votes on it (files under `blocks/`, removed once
//! committed or pruned), so a group restarted all at once still holds the
//! blocks its certificates name. The commit point goes with every committed
//! block into the store. A member fetches what it lacks (uncommitted blocks,
//! and committed ledger blocks checked with [`verify_commit`]) from its
//! peers.
//!
//! # Group and block-policy changes
//! Epoch by epoch ([`types::Reconfig`]): a member's operator approves a
//! change (one step: a learner added, a learner promoted, a member
//! removed, or another block policy) through
//! [`govchain_consensus::Membership`]; a leader that approved it proposes
//! it, and a voter votes only for a change it approved, so it commits once
//! a quorum approved it. The block carrying it is the last ledger block of
//! its epoch (the blocks after it in that epoch order nothing); once it
//! commits, the next epoch starts from it with the new members and policy,
//! rounds from 1. Its commit certificate names them, so a member that
//! catches up from peers' ledgers follows the epochs, and [`verify_commit`]
//! checks each block against the members of its own epoch. The member that
//! commits the block first shows the others its certificate, and every
//! member starting an epoch tells the group so (a member added by the
//! change hears of it at once); a member that does not vote also asks a
//! voter for blocks after [`core::LEARNER_POLL_MS`] without a message.
//!
//! # Fault injection
//! With the `byzantine` feature (tests only), [`HotStuffConfig::fault`]
//! makes a member equivocate, withhold votes, corrupt signatures, forge
//! certificates or replay old messages; [`HotStuffConfig::new`] reads it
//! from `GOVCHAIN_BYZANTINE` (a comma list, see [`Fault::parse`]).

pub mod certificate;
pub mod core;
pub mod engine;
pub mod http;
pub mod safety;
#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
pub mod types;

pub use certificate::verify_commit;
pub use core::Fault;
pub use engine::{HotStuffConfig, HotStuffEngine};
pub use govchain_consensus::{BlockStore, PeerTransport};
pub use types::Validator;

/// Errors of the HotStuff engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes from disk or from a peer do not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A message or certificate failed a check (signature, quorum, rule).
    #[error("invalid {0}")]
    Invalid(String),
    /// A commit certificate does not prove the block committed.
    #[error("commit certificate refused: {0}")]
    Certificate(String),
    /// The safety rules refused to sign.
    #[error("safety rules refuse: {0}")]
    Unsafe(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Crypto(String),
    /// The safety state could not be read or made durable.
    #[error("safety storage: {0}")]
    Storage(String),
    /// The block store (the node's ledger) failed or refused a block.
    #[error("block store: {0}")]
    BlockStore(String),
    /// A configuration value is unusable.
    #[error("invalid hotstuff configuration: {0}")]
    Config(String),
    /// An RPC path this engine does not serve.
    #[error("unknown hotstuff RPC path `{0}`")]
    UnknownPath(String),
    /// A consensus-level error (queue full, not a voter, bad policy).
    #[error(transparent)]
    Consensus(#[from] govchain_consensus::Error),
    /// The engine has stopped.
    #[error("hotstuff engine stopped")]
    Stopped,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Tracing target of this crate.
pub(crate) const TARGET: &str = "govchain::hotstuff";
