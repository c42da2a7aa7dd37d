//! Execution of govchain transactions: the block executor, the seam for
//! execution engines, and the native (system) contracts.
//!
//! The [`Executor`] runs a committed block's transactions in order against a
//! read-only [`StateView`] of the committed state plus an overlay of the
//! block's earlier writes, and returns one [`Receipt`](govchain_types::Receipt)
//! and one list of [`StateWrite`](govchain_types::StateWrite)s per transaction.
//! It hands each transaction to the [`ExecutionEngine`] registered for its
//! [`TxType`](govchain_types::TxType): the [`NativeEngine`] runs `invoke`
//! transactions, the [`EvmEngine`] (module [`evm`]) runs
//! `evm_create`/`evm_call` transactions. A chain's genesis names its engines ([`ExecutionSpec`]) and
//! every node builds the same executor from it ([`Executor::from_spec`]).
//! Every engine writes through the same [`TxEnv`], so its writes reach the
//! same state store and state root.
//! The same inputs give the same outputs on every node: contracts read state
//! only through the view, iterate ordered maps only, and never look at clocks,
//! randomness or the environment.
//!
//! Built-in contracts:
//! - `data` ([`DataContract`], payload [`DataCall`]): the data-on-chain API of
//!   SPEC SC-2 — put/get/delete/history, their batch forms, key and value
//!   queries, range queries and calls into other contracts; each key belongs
//!   to the organization that first put it.
//! - `evidence` ([`EvidenceContract`], payload [`EvidenceCall`]): trusted
//!   evidence of SPEC GOV-5 — store a document digest once, verify later.
//! - `contracts` ([`ContractsContract`](evm::ContractsContract), payload
//!   [`ContractsCall`]), on chains that run the EVM: the lifecycle of EVM
//!   contracts (versions, upgrade, freeze, access lists) and its
//!   governance (proposals and votes of member organizations).
//!
//! A rejected call (bad payload, permission denied, limit exceeded ...)
//! yields a `Failed` receipt with a message and no writes; it never aborts
//! the block. Only a failure of the state storage itself is an `Err`.
//!
//! Not for: storage (the node implements [`StateView`] over the ledger),
//! transaction admission, signature checks or replay rules (done before
//! execution).

pub mod abi;
mod data;
mod engine;
mod evidence;
pub mod evm;
mod executor;
pub mod json;
mod native;
mod state;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use data::{
    DataCall, DataContract, Entry, MAX_BATCH, MAX_KEY, MAX_LIMIT, MAX_SCAN_BYTES, MAX_SCAN_KEYS, MAX_VALUE,
};
pub use engine::{EngineKind, ExecutionEngine, ExecutionSpec, TxEnv};
pub use evidence::{EvidenceCall, EvidenceContract, EvidenceRecord, MAX_DIGEST, MAX_ID, MAX_META};
pub use evm::{
    ContractsCall, EvmCall, EvmConfig, EvmCreate, EvmEngine, EvmLog, GovernancePolicy, GovernedAction,
};
pub use executor::{BlockOutcome, Executor, ExecutorBuilder, TxContext};
pub use native::{CallEnv, MAX_CALL_DEPTH, NativeContract, NativeEngine};
pub use state::{Layer, Layered, MemState, StateView};

/// Name of the data-on-chain contract ([`DataContract`]).
pub const DATA_CONTRACT: &str = "data";
/// Name of the trusted-evidence contract ([`EvidenceContract`]).
pub const EVIDENCE_CONTRACT: &str = "evidence";

/// Errors of execution. Every variant but [`Error::Storage`] is a rejection
/// of the call and becomes a `Failed` receipt.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state storage failed; the block cannot be executed on this node.
    #[error("state storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The payload does not decode as a call of the contract.
    #[error("invalid payload for contract `{contract}`: {reason}")]
    InvalidPayload {
        /// Contract called.
        contract: String,
        /// Why the payload was refused.
        reason: String,
    },
    /// No contract of that name is registered.
    #[error("unknown contract `{0}`")]
    UnknownContract(String),
    /// No engine of this chain runs transactions of this type.
    #[error("no execution engine of this chain runs `{0}` transactions")]
    UnsupportedTxType(govchain_types::TxType),
    /// The engine answers no read-only queries.
    #[error("the `{0}` engine answers no queries")]
    QueryUnsupported(String),
    /// An argument breaks a rule or a limit.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The caller may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The thing to create exists already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Nested calls went deeper than [`MAX_CALL_DEPTH`].
    #[error("call depth limit of {0} exceeded")]
    CallDepth(usize),
    /// A query (read-only run) tried to write state.
    #[error("a read-only query cannot write state; send the call as a transaction")]
    ReadOnly,
    /// The EVM ran the transaction and it reverted (`REVERT`); the reason
    /// is decoded when the revert data is `Error(string)` or `Panic(uint256)`.
    #[error("execution reverted: {reason} (gas used {gas_used})")]
    Reverted {
        /// The decoded reason, or the revert data in hex.
        reason: String,
        /// Gas the transaction used; it counts toward the block.
        gas_used: u64,
    },
    /// The EVM stopped the transaction (out of gas, invalid opcode, stack
    /// overflow, code size limit ...); all its gas is used.
    #[error("execution halted: {reason} (gas used {gas_used})")]
    Halted {
        /// Why it stopped.
        reason: String,
        /// Gas the transaction used; it counts toward the block.
        gas_used: u64,
    },
    /// The transaction asks for more gas than its block has left.
    #[error(
        "block gas limit reached: the transaction asks for {requested} gas, the block has {remaining} of {limit} left"
    )]
    BlockGasLimit {
        /// The transaction's gas limit.
        requested: u64,
        /// Gas the block has left.
        remaining: u64,
        /// The block's gas limit.
        limit: u64,
    },
    /// A second contract was registered under a taken name.
    #[error("a contract named `{0}` is registered already")]
    DuplicateContract(String),
    /// A second engine was registered for a transaction type.
    #[error("engine `{engine}` claims `{tx_type}` transactions, already run by engine `{taken_by}`")]
    DuplicateEngine {
        /// The type claimed twice.
        tx_type: govchain_types::TxType,
        /// The engine registered second.
        engine: String,
        /// The engine that has it.
        taken_by: String,
    },
}

impl Error {
    /// Wraps a storage failure of a [`StateView`] implementation.
    pub fn storage(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Storage(Box::new(err))
    }

    /// Whether this is a storage failure (an `Err` of the block) rather than a
    /// rejection of the call (a `Failed` receipt).
    pub fn is_storage(&self) -> bool {
        matches!(self, Error::Storage(_))
    }

    /// A stable machine-readable kind, for API error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Storage(_) => "storage",
            Error::InvalidPayload { .. } => "invalid_payload",
            Error::UnknownContract(_) => "unknown_contract",
            Error::UnsupportedTxType(_) => "unsupported_tx_type",
            Error::QueryUnsupported(_) => "query_unsupported",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::PermissionDenied(_) => "permission_denied",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::CallDepth(_) => "call_depth",
            Error::ReadOnly => "read_only",
            Error::Reverted { .. } => "reverted",
            Error::Halted { .. } => "halted",
            Error::BlockGasLimit { .. } => "block_gas_limit",
            Error::DuplicateContract(_) => "duplicate_contract",
            Error::DuplicateEngine { .. } => "duplicate_engine",
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
