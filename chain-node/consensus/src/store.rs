//! The node's ledger as an engine drives it.

use govchain_types::{Block, Hash, chain::Suite};
use serde::{Deserialize, Serialize};

use crate::Batch;

/// The consensus metadata a node stores with the block that switches its
/// chain to another engine (SPEC CON-4): the engine started after the
/// switch finds it and starts afresh at the ledger tip, as on a store that
/// never had metadata (its members and policy come from its config).
pub const HANDOVER: &[u8] = b"govchain:handover";

/// Errors a [`BlockStore`] reports.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// The newest block of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Its height (genesis is 0).
    pub height: u64,
    /// Its id (the suite's hash of its header).
    pub block_id: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// Its block time, ms since 1970.
    pub timestamp_ms: u64,
}

/// The node's ledger as a consensus engine drives it. Called from one task
/// at a time, in commit order, on a blocking-capable thread.
///
/// `meta` is an opaque value of the engine; the store keeps the latest one
/// and returns it from [`BlockStore::consensus_meta`]. Writes that carry a
/// `meta` must store it atomically with the block and be durable when they
/// return: that is what makes application exactly-once across crashes for
/// an engine with a log of its own. An engine without one (solo) passes
/// `None`.
///
/// Block ids must be a deterministic function of the parent and the batch
/// (the header holds no per-node data), so every member computes the same
/// chain.
pub trait BlockStore: Send + Sync + 'static {
    /// The chain's crypto suite (block ids are its hash of the header).
    fn suite(&self) -> Suite;

    /// The metadata stored by the last [`BlockStore::apply_batch`],
    /// [`BlockStore::import_block`] or [`BlockStore::put_meta`]; `None` on a
    /// store that never had one.
    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// The newest block; `None` before genesis.
    fn tip(&self) -> Result<Option<ChainTip>, StoreError>;

    /// Executes `batch` as the next block (block time never below the
    /// parent's) and stores `meta`, if any, with it, atomically and durably.
    /// An error means the store is broken: the engine stops.
    fn apply_batch(&self, batch: Batch, meta: Option<&[u8]>) -> Result<ChainTip, StoreError>;

    /// Stores `meta` alone, durably (entries that make no block: leader
    /// no-ops, membership and block-policy changes, a catch-up target).
    fn put_meta(&self, meta: &[u8]) -> Result<(), StoreError>;

    /// Re-executes `block`, fetched from a peer, as the next block, refusing
    /// it unless the result has the same header (hence the same id), and
    /// stores `meta` with it, atomically and durably. Parent and height are
    /// already checked against the tip; signatures are the store's to check.
    fn import_block(&self, block: Block, meta: &[u8]) -> Result<ChainTip, StoreError>;

    /// The canonical encoding of the block at `height`, to serve a peer that
    /// is catching up; `None` if there is none.
    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether a committed block holds the transaction with id `id` (the
    /// suite's [`govchain_types::Transaction::id`]); an engine that must not
    /// order a transaction twice asks. Stores that cannot tell answer
    /// `false` (the node drops repeats when it builds a block anyway).
    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError> {
        let _ = id;
        Ok(false)
    }
}
