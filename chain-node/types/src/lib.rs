//! Core types of a govchain chain and their one canonical binary encoding:
//! transactions, blocks, receipts, events, hashes and Merkle proofs.
//!
//! Pure data, no I/O: every other crate depends on it. Not for: storage,
//! execution or networking.

pub mod api;
mod block;
pub mod chain;
pub mod encoding;
mod hash;
pub mod merkle;
mod receipt;
mod state;
mod tx;

pub use block::{BLOCK_VERSION, Block, BlockHeader, BlockSignature};
pub use chain::{BlockPolicy, ConsensusKind, NodeRole, PolicyLimit, VocabularyError};
pub use encoding::{Decode, Encode};
pub use hash::{Hash, hex_bytes};
pub use merkle::MerkleProof;
pub use receipt::{Event, Receipt, TxStatus};
pub use state::{HexValue, HistoryEntry, StateWrite, next_state_root};
pub use tx::{
    MAX_CHAIN_ID, MAX_DATA, MAX_MEMO, MAX_RECIPIENT, MAX_SIGNERS, MAX_TX_AGE_MS, MAX_TX_FUTURE_MS, Sig,
    Signer, Transaction, TxBody, TxType,
};

/// Errors of decoding and checking core types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ended inside a value.
    #[error("input ends early: wanted {wanted} bytes, {remaining} left")]
    UnexpectedEnd {
        /// Bytes the value needed.
        wanted: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length is above what is allowed for the field.
    #[error("{what} too long: {len} > {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes left after the value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// An enum tag that names no variant.
    #[error("invalid {what} tag {tag}")]
    InvalidTag {
        /// The enum.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// Text that is not a 32-byte hex hash.
    #[error("`{0}` is not a 32-byte hex hash")]
    InvalidHash(String),
    /// The transaction names another chain.
    #[error("transaction is for chain `{found}`, this is `{expected}`")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The chain named.
        found: String,
    },
    /// The transaction has no signer.
    #[error("transaction has no signer")]
    NoSigner,
    /// An Ethereum-signed transaction was given to the suite's signature
    /// check; the `evm` engine's rules verify those.
    #[error("an Ethereum-signed transaction is verified by the evm engine's rules, not by the chain's suite")]
    EthereumSigned,
    /// Signers and signatures differ in number.
    #[error("{signers} signers but {signatures} signatures")]
    SignatureCount {
        /// Signers listed.
        signers: usize,
        /// Signatures given.
        signatures: usize,
    },
    /// A signer's public key is not a key of this chain's suite.
    #[error("signer {index}: invalid public key: {source}")]
    BadSigner {
        /// Position of the signer.
        index: usize,
        /// Why the key was refused.
        source: govchain_crypto::Error,
    },
    /// A signature does not verify.
    #[error("signature {index} does not verify: {source}")]
    BadSignature {
        /// Position of the signature.
        index: usize,
        /// Why it failed.
        source: govchain_crypto::Error,
    },
    /// `sender` is not the first signer's address.
    #[error("sender is not the address of the first signer")]
    SenderMismatch,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Crypto(govchain_crypto::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since 1970 by the system clock (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
