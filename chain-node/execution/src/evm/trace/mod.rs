//! Debug traces of EVM transactions (SPEC SC-7): a committed transaction
//! re-executed on demand against the state it first ran on, with every
//! step recorded.
//!
//! [`EvmEngine::trace`] runs the transaction through the very EVM the
//! engine runs (same chain id, hardfork, block environment and gas rules)
//! with a recording inspector, over a [`StateView`] of the state just
//! before it: its parent block's state plus the writes of the transactions
//! before it in its own block. The re-executed result must match the
//! receipt (success or the same failure message, the same output, logs and
//! gas used); otherwise the trace is refused as diverged rather than shown
//! wrong.
//!
//! A trace is bounded: at most [`TraceOptions::step_limit`] steps are
//! recorded, each with at most [`TraceOptions::memory_bytes`] of memory,
//! and all recorded stacks, memory, inputs, outputs and logs together take
//! at most [`BUDGET_BYTES`]; past a bound the run goes on unrecorded and
//! [`EvmTrace::truncated`] is set. With the contract's ABI,
//! [`EvmTrace::decode_abi`] adds the decoded function, arguments, return
//! values or revert reason, and events.
//!
//! Traces are never stored; nothing here writes state.

mod abi;
mod recorder;

use govchain_types::{Hash, Receipt, Transaction, TxStatus, TxType};
use revm::{
    InspectEvm,
    context_interface::result::{ExecutionResult, Output, ResultAndState},
    primitives::TxKind,
};
use serde::{Deserialize, Serialize};

pub use self::abi::{DecodedCall, DecodedEvent, DecodedValue};
use self::recorder::Recorder;
use super::{EvmEngine, EvmLog, NAMESPACE, output_of, revert};
use crate::{Error, TxContext, engine::Scratch, engine::TxEnv, state::StateView};

/// Steps recorded when a request names no limit.
pub const DEFAULT_STEP_LIMIT: u64 = 100_000;
/// The highest step limit a request may ask for.
pub const MAX_STEP_LIMIT: u64 = 1_000_000;
/// Memory bytes shown per step when a request names no limit.
pub const DEFAULT_MEMORY_BYTES: usize = 1024;
/// The most memory bytes a request may ask to see per step.
pub const MAX_MEMORY_BYTES: usize = 64 * 1024;
/// The most bytes of stacks, memory, call data, return data and logs one
/// trace records, whatever the limits asked for.
pub const BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// How much of a run to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceOptions {
    /// Most steps recorded, 1 to [`MAX_STEP_LIMIT`]; [`DEFAULT_STEP_LIMIT`]
    /// by default.
    pub step_limit: u64,
    /// Most memory bytes shown per step (from offset 0), 0 to
    /// [`MAX_MEMORY_BYTES`]; [`DEFAULT_MEMORY_BYTES`] by default. Every
    /// step reports the full memory size.
    pub memory_bytes: usize,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions { step_limit: DEFAULT_STEP_LIMIT, memory_bytes: DEFAULT_MEMORY_BYTES }
    }
}

impl TraceOptions {
    /// Checks the limits are within their ranges.
    pub fn validate(&self) -> Result<(), TraceError> {
        if !(1..=MAX_STEP_LIMIT).contains(&self.step_limit) {
            return Err(TraceError::InvalidOptions(format!(
                "step_limit must be between 1 and {MAX_STEP_LIMIT}, found {}",
                self.step_limit
            )));
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(TraceError::InvalidOptions(format!(
                "memory_bytes must be at most {MAX_MEMORY_BYTES}, found {}",
                self.memory_bytes
            )));
        }
        Ok(())
    }
}

/// Why a transaction has no trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The transaction is not run by the EVM.
    #[error(
        "transaction is a `{0}` transaction; only evm_create and evm_call transactions have an EVM trace"
    )]
    NotEvm(TxType),
    /// The transaction was refused before the EVM ran it (bad payload,
    /// gas above a limit ...), so there are no steps to show.
    #[error("the transaction never ran in the EVM: {0}")]
    NotExecuted(String),
    /// Re-executing the transaction gave another result than its receipt.
    #[error("the trace diverged from the committed receipt: {0}")]
    Diverged(String),
    /// The trace options are out of range.
    #[error("invalid trace options: {0}")]
    InvalidOptions(String),
    /// The ABI given for decoding is not a contract ABI.
    #[error("invalid ABI: {0}")]
    BadAbi(String),
    /// Reading the state failed.
    #[error(transparent)]
    Execution(#[from] Error),
}

impl TraceError {
    /// A stable machine-readable kind, for API error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            TraceError::NotEvm(_) => "not_evm",
            TraceError::NotExecuted(_) => "not_executed",
            TraceError::Diverged(_) => "trace_diverged",
            TraceError::InvalidOptions(_) => "invalid_options",
            TraceError::BadAbi(_) => "invalid_abi",
            TraceError::Execution(e) => e.kind(),
        }
    }
}

/// The trace of one transaction. Bytes are `0x`-prefixed lowercase hex;
/// addresses are `0x` and 40 hex digits; storage slots and values are
/// 32-byte words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvmTrace {
    /// The transaction.
    pub tx_id: Hash,
    /// The height of its block.
    pub height: u64,
    /// Its position in the block.
    pub index: u32,
    /// `call` or `create`.
    pub kind: String,
    /// The sender (`CALLER`/`ORIGIN` of the outermost call).
    pub from: String,
    /// The called contract, or the created one (empty when creation
    /// failed).
    pub to: String,
    /// Call data, or init code with constructor arguments.
    pub input: String,
    /// The transaction's gas limit.
    pub gas_limit: u64,
    /// The outcome, identical to the receipt's.
    pub result: TraceResult,
    /// The executed steps, in order, as far as recorded.
    pub steps: Vec<TraceStep>,
    /// Steps executed, including any not recorded.
    pub step_count: u64,
    /// Whether recording stopped at a limit before the run ended.
    pub truncated: bool,
    /// The call tree: the outermost call first, then every call or create
    /// in the order it started; [`TraceStep::call`] and
    /// [`TraceCall::parent`] index into it.
    pub calls: Vec<TraceCall>,
    /// The logs emitted, in order, including those of calls that reverted
    /// later (`removed`).
    pub logs: Vec<TraceLog>,
    /// The transaction's net storage changes (empty when it failed).
    pub storage_changes: Vec<StorageChange>,
    /// The decoded call, when an ABI was given ([`EvmTrace::decode_abi`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<DecodedCall>,
}

/// How the transaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceResult {
    /// Whether it succeeded.
    pub success: bool,
    /// `success`, `reverted` or `halted`.
    pub status: String,
    /// Gas used, as the receipt counts it.
    pub gas_used: u64,
    /// Return data, the created address, or the revert data.
    pub output: String,
    /// The decoded revert reason (`Error(string)`, `Panic(uint256)`, else hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_reason: Option<String>,
    /// Why the EVM halted (out of gas, invalid opcode ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One executed instruction, as the machine stood before it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// Program counter.
    pub pc: u64,
    /// Opcode name (`PUSH1`, `SSTORE` ...).
    pub op: String,
    /// Opcode byte.
    pub opcode: u8,
    /// Call depth, 1 for the outermost call.
    pub depth: u64,
    /// The call this step runs in (index into [`EvmTrace::calls`]).
    pub call: usize,
    /// Gas remaining before the step.
    pub gas: u64,
    /// Gas the step cost (for calls and creates, with the gas passed on).
    pub gas_cost: u64,
    /// The whole stack, bottom first, as hex numbers.
    pub stack: Vec<String>,
    /// Memory size in bytes.
    pub memory_size: usize,
    /// Memory from offset 0 as 32-byte words in hex (no prefix), at most
    /// [`TraceOptions::memory_bytes`] of it.
    pub memory: Vec<String>,
    /// The storage slot an `SLOAD` read or an `SSTORE` wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageAccess>,
    /// Why the step stopped its call (`Revert`, `OutOfGas` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A storage slot read or written by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageAccess {
    /// `read` (`SLOAD`) or `write` (`SSTORE`).
    pub kind: String,
    /// The account whose storage it is.
    pub address: String,
    /// The slot.
    pub slot: String,
    /// The value before the step.
    pub before: String,
    /// The value after it (equal to `before` for a read).
    pub after: String,
}

/// A call or create, with its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceCall {
    /// The calling call (index into [`EvmTrace::calls`]); `None` for the
    /// outermost.
    pub parent: Option<usize>,
    /// Depth, 1 for the outermost.
    pub depth: u64,
    /// `call`, `staticcall`, `delegatecall`, `callcode`, `create` or `create2`.
    pub kind: String,
    /// Who called (`CALLER` inside the call).
    pub caller: String,
    /// Whose storage and address the code runs as; for a create, the new
    /// contract (empty when it failed).
    pub address: String,
    /// Whose code runs (differs from `address` for delegatecall and
    /// callcode; empty for a create).
    pub code_address: String,
    /// Value passed, in hex.
    pub value: String,
    /// Call data, or init code.
    pub input: String,
    /// Return data, or the deployed code.
    pub output: String,
    /// Gas given to the call.
    pub gas_limit: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Whether it succeeded.
    pub success: bool,
    /// Why it failed (`reverted: <reason>`, `OutOfGas` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Index of its first step in [`EvmTrace::steps`].
    pub first_step: usize,
}

/// A log emitted by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLog {
    /// The call that emitted it.
    pub call: usize,
    /// The `LOG` step (index into [`EvmTrace::steps`]), if recorded.
    pub step: Option<usize>,
    /// The emitting contract.
    pub address: String,
    /// Topics, 32-byte words.
    pub topics: Vec<String>,
    /// Data.
    pub data: String,
    /// Whether a revert undid it (it is not in the receipt).
    pub removed: bool,
    /// The decoded event, when an ABI was given and names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<DecodedEvent>,
}

/// A storage slot the transaction changed, before and after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageChange {
    /// The account.
    pub address: String,
    /// The slot.
    pub slot: String,
    /// Its value before the transaction.
    pub before: String,
    /// Its value after.
    pub after: String,
}

pub(crate) fn hex_of(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// How the messages of transactions that ran in the EVM and failed start
/// ([`Error::Reverted`], [`Error::Halted`]); every other failure (a bad
/// payload or signature, gas over a limit, a refusal by the EVM's checks)
/// came before the EVM ran.
const RAN_AND_FAILED: [&str; 2] = ["execution reverted:", "execution halted:"];

impl EvmEngine {
    /// Re-executes the committed EVM transaction `tx` (run in `ctx`, with
    /// `receipt`) over `before`, the state just before it (its parent
    /// block's state plus the writes of the earlier transactions of its
    /// block), and records its trace. The result must match the receipt,
    /// or this fails with [`TraceError::Diverged`].
    pub fn trace(
        &self,
        before: &dyn StateView,
        tx: &Transaction,
        ctx: &TxContext,
        receipt: &Receipt,
        options: &TraceOptions,
    ) -> Result<EvmTrace, TraceError> {
        options.validate()?;
        if !matches!(tx.body.tx_type, TxType::EvmCreate | TxType::EvmCall) {
            return Err(TraceError::NotEvm(tx.body.tx_type));
        }
        if receipt.status != TxStatus::Success
            && !RAN_AND_FAILED.iter().any(|p| receipt.message.starts_with(p))
        {
            return Err(TraceError::NotExecuted(receipt.message.clone()));
        }
        let run = self.prepare(tx).map_err(|e| {
            TraceError::Diverged(format!(
                "the payload is refused now ({e}); the receipt says {}",
                describe(receipt)
            ))
        })?;
        let (kind, to) = match run.kind {
            TxKind::Create => ("create", String::new()),
            TxKind::Call(to) => ("call", hex_of(to.as_slice())),
        };
        let input = hex_of(&run.input);
        let gas_limit = run.gas_limit;
        let mut scratch = Scratch::default();
        let env = TxEnv { ctx, committed: before, scratch: &mut scratch, read_only: false };
        let mut recorder = Recorder::new(options.step_limit, options.memory_bytes, BUDGET_BYTES);
        let ResultAndState { result, state } =
            match self.run_evm(&env, run, &mut recorder, |evm, tx| evm.inspect_tx(tx)) {
                Ok(outcome) => outcome,
                Err(e) if e.is_storage() => return Err(e.into()),
                Err(e) => {
                    return Err(TraceError::Diverged(format!(
                        "the EVM now refuses it ({e}); the receipt says {}",
                        describe(receipt)
                    )));
                }
            };
        check(&result, receipt)?;
        let mut storage_changes = Vec::new();
        if result.is_success() {
            let mut accounts: Vec<_> = state.iter().collect();
            accounts.sort_by_key(|(address, _)| **address);
            for (address, account) in accounts {
                let mut slots: Vec<_> = account.storage.iter().filter(|(_, s)| s.is_changed()).collect();
                slots.sort_by_key(|(slot, _)| **slot);
                for (slot, value) in slots {
                    storage_changes.push(StorageChange {
                        address: hex_of(address.as_slice()),
                        slot: revm::primitives::B256::from(*slot).to_string(),
                        before: revm::primitives::B256::from(value.original_value).to_string(),
                        after: revm::primitives::B256::from(value.present_value).to_string(),
                    });
                }
            }
        }
        let to = match &result {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => {
                hex_of(address.as_slice())
            }
            _ => to,
        };
        let Recorder { steps, calls, mut logs, step_count, truncated, .. } = recorder;
        // A log is undone when its call or any caller of it failed; calls
        // come after their callers, so one pass settles it.
        let mut undone = Vec::with_capacity(calls.len());
        for call in &calls {
            let parent = call.parent.and_then(|p| undone.get(p).copied()).unwrap_or(false);
            undone.push(parent || !call.success);
        }
        for log in &mut logs {
            log.removed = undone.get(log.call).copied().unwrap_or(true);
        }
        Ok(EvmTrace {
            tx_id: ctx.tx_id,
            height: receipt.height,
            index: receipt.index,
            kind: kind.into(),
            from: hex_of(&ctx.sender.0),
            to,
            input,
            gas_limit,
            result: trace_result(&result),
            steps,
            step_count,
            truncated,
            calls,
            logs,
            storage_changes,
            decoded: None,
        })
    }
}

fn trace_result(result: &ExecutionResult) -> TraceResult {
    let gas_used = result.tx_gas_used();
    match result {
        ExecutionResult::Success { output, .. } => {
            let output = match output {
                Output::Call(data) => hex_of(data),
                Output::Create(_, address) => address.map(|a| hex_of(a.as_slice())).unwrap_or_default(),
            };
            TraceResult {
                success: true,
                status: "success".into(),
                gas_used,
                output,
                revert_reason: None,
                error: None,
            }
        }
        ExecutionResult::Revert { output, .. } => TraceResult {
            success: false,
            status: "reverted".into(),
            gas_used,
            output: hex_of(output),
            revert_reason: Some(revert::reason(output)),
            error: None,
        },
        ExecutionResult::Halt { reason, .. } => TraceResult {
            success: false,
            status: "halted".into(),
            gas_used,
            output: "0x".into(),
            revert_reason: None,
            error: Some(revert::halt(reason)),
        },
    }
}

fn describe(receipt: &Receipt) -> String {
    match receipt.status {
        TxStatus::Success => format!("success with output {}", hex_of(&receipt.output)),
        _ => format!("failed: {}", receipt.message),
    }
}

/// The gas a successful receipt reports in its last event.
fn receipt_gas(receipt: &Receipt) -> Option<u64> {
    let last = receipt.events.last().filter(|e| e.contract == NAMESPACE && e.name == "gas_used")?;
    serde_json::from_slice::<serde_json::Value>(&last.data).ok()?.get("gas_used")?.as_u64()
}

/// Whether the re-executed `result` is what the receipt recorded: the same
/// failure message, or success with the same output, logs and gas used.
fn check(result: &ExecutionResult, receipt: &Receipt) -> Result<(), TraceError> {
    let diverged = |what: String| Err(TraceError::Diverged(what));
    match (output_of(result.clone()), receipt.status) {
        (Ok((output, logs, gas_used)), TxStatus::Success) => {
            if output != receipt.output {
                return diverged(format!(
                    "the re-execution returned {}, the receipt {}",
                    hex_of(&output),
                    hex_of(&receipt.output)
                ));
            }
            if receipt_gas(receipt) != Some(gas_used) {
                return diverged(format!(
                    "the re-execution used {gas_used} gas, the receipt says {:?}",
                    receipt_gas(receipt)
                ));
            }
            let events: Vec<_> = logs.iter().map(EvmLog::to_event).collect();
            // The receipt also holds the platform's own events (a
            // deployment's record, the gas used): only the logs compare.
            let recorded: Vec<_> =
                receipt.events.iter().filter(|e| EvmLog::from_event(e).is_some()).cloned().collect();
            if events != recorded {
                return diverged(format!(
                    "the re-execution emitted {} logs unlike the receipt's {}",
                    events.len(),
                    recorded.len()
                ));
            }
            Ok(())
        }
        (Err(e), TxStatus::Failed) if e.to_string() == receipt.message => Ok(()),
        (Ok(_), _) => diverged(format!("the re-execution succeeded; the receipt says {}", describe(receipt))),
        (Err(e), _) => {
            diverged(format!("the re-execution failed ({e}); the receipt says {}", describe(receipt)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_of_evm_failures_have_the_prefixes_looked_for() {
        let reverted = Error::Reverted { reason: "r".into(), gas_used: 1 }.to_string();
        let halted = Error::Halted { reason: "h".into(), gas_used: 1 }.to_string();
        assert!(reverted.starts_with(RAN_AND_FAILED[0]), "{reverted}");
        assert!(halted.starts_with(RAN_AND_FAILED[1]), "{halted}");
        let refused = Error::BlockGasLimit { requested: 2, remaining: 1, limit: 3 }.to_string();
        assert!(!RAN_AND_FAILED.iter().any(|p| refused.starts_with(p)));
    }

    #[test]
    fn options_are_checked() {
        assert!(TraceOptions::default().validate().is_ok());
        let o = |step_limit, memory_bytes| TraceOptions { step_limit, memory_bytes };
        assert!(o(0, 0).validate().is_err());
        assert!(o(MAX_STEP_LIMIT + 1, 0).validate().is_err());
        assert!(o(MAX_STEP_LIMIT, MAX_MEMORY_BYTES).validate().is_ok());
        assert!(o(1, MAX_MEMORY_BYTES + 1).validate().is_err());
    }
}
