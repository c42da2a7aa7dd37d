//! Durable storage of one node's copy of a chain (SPEC LED-2, LED-3).
//!
//! Blocks go to append-only block files (`blocks/NNNNNN.blk`, framed records
//! with a CRC32 each); the index (height, block id, transaction id,
//! receipts, the recent `(sender, nonce)` pairs), the contract state, its
//! per-key history and the committed tip live in an embedded LSM store
//! (`fjall`, under `index/`).
//!
//! A commit writes and fsyncs the block record, then writes one durable
//! `fjall` batch with everything else: that batch is the commit point. On
//! open, block-file bytes past the committed tip are cut off (they belong to
//! a commit that was never acknowledged); an index pointing past the data is
//! refused as corruption.
//!
//! Not for: executing transactions or checking their signatures (the
//! execution and consensus crates do that before a block gets here),
//! networking, or archival and pruning (LED-4).

mod blockfile;
mod keys;
mod ledger;
mod nonces;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

use std::path::PathBuf;

use govchain_types::Hash;

pub use keys::{MAX_CONTRACT_LEN, MAX_KEY_LEN};
pub use ledger::{Ledger, LedgerOptions, StateIter};
pub use nonces::NonceUse;

/// The newest committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Its height.
    pub height: u64,
    /// Its id.
    pub block_id: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// Its block time, ms since 1970.
    pub timestamp_ms: u64,
}

/// Why [`Ledger::commit`] refused a block. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The block is not the next one.
    #[error("block height {found}, expected {expected}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The block's height.
        found: u64,
    },
    /// The block is for another chain.
    #[error("block is for chain `{found}`, this ledger holds `{expected}`")]
    WrongChain {
        /// This ledger's chain.
        expected: String,
        /// The block's chain.
        found: String,
    },
    /// `prev_hash` is not the id of the current tip.
    #[error("previous hash {found} is not the tip {expected}")]
    WrongPrevHash {
        /// Id of the tip (zero before genesis).
        expected: Hash,
        /// The block's `prev_hash`.
        found: Hash,
    },
    /// The block time is before its parent's.
    #[error("block time {found} ms is before the parent's {parent} ms")]
    TimeBeforeParent {
        /// The parent's time.
        parent: u64,
        /// The block's time.
        found: u64,
    },
    /// `tx_count` differs from the transactions carried.
    #[error("header counts {header} transactions, the block carries {carried}")]
    TxCount {
        /// `tx_count` in the header.
        header: u32,
        /// Transactions in the block.
        carried: usize,
    },
    /// Transactions, receipts and write lists differ in number.
    #[error("{txs} transactions but {receipts} receipts and {writes} write lists")]
    CountMismatch {
        /// Transactions.
        txs: usize,
        /// Receipts.
        receipts: usize,
        /// Write lists.
        writes: usize,
    },
    /// A receipt's tx id, height or index does not match its transaction.
    #[error("receipt {index} does not belong to transaction {index} of this block")]
    ReceiptMismatch {
        /// Position of the receipt.
        index: usize,
    },
    /// The header's transaction root is not the root of its transactions.
    #[error("transaction root mismatch")]
    TxRoot,
    /// The header's receipts root is not the root of the receipts given.
    #[error("receipts root mismatch")]
    ReceiptsRoot,
    /// The header's state root is not the one the writes lead to.
    #[error("state root mismatch: header {header}, writes give {computed}")]
    StateRoot {
        /// In the header.
        header: Hash,
        /// From the previous root and the writes.
        computed: Hash,
    },
    /// A transaction is already on chain or twice in the block.
    #[error("transaction {0} is already on chain or twice in the block")]
    DuplicateTx(Hash),
    /// A write's contract name or key is longer than the state can hold.
    #[error("write {index} of transaction {tx}: contract name or key too long")]
    WriteTooLarge {
        /// Position of the transaction.
        tx: usize,
        /// Position of the write.
        index: usize,
    },
}

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block was refused; the ledger is unchanged.
    #[error("block refused: {0}")]
    Rejected(#[from] Rejection),
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The embedded key-value store failed.
    #[error("index store: {0}")]
    Store(#[from] fjall::Error),
    /// Stored data contradicts itself (damaged disk or files edited by hand);
    /// the ledger refuses to guess.
    #[error("ledger is corrupt: {0}")]
    Corrupt(String),
    /// The directory holds a ledger of another chain or suite.
    #[error("ledger at this path belongs to {found}, not {expected}")]
    WrongLedger {
        /// Chain and suite asked for.
        expected: String,
        /// Chain and suite stored.
        found: String,
    },
    /// An encoded block is too large for one record.
    #[error("encoded block of {0} bytes is too large")]
    BlockTooLarge(usize),
    /// An earlier commit failed half-way through writing; the ledger takes
    /// no more commits until it is reopened, which repairs the files.
    #[error("an earlier commit failed while writing; reopen the ledger")]
    Poisoned,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
