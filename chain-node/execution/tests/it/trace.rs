//! Debug traces: a committed EVM transaction re-executed against the state
//! just before it, every step recorded, decoded with the contract's ABI,
//! and checked against its receipt.

use alloy_dyn_abi::{DynSolValue, JsonAbiExt};
use alloy_json_abi::JsonAbi;
use govchain_crypto::Address;
use govchain_execution::{
    BlockOutcome, EngineKind, EvmCall, EvmConfig, EvmCreate, EvmEngine, ExecutionSpec, Executor, MemState,
    StateView, TxContext,
    evm::{
        testdata::{COUNTER, COUNTER_ABI, FACTORY, deployer_of, forwarder_runtime},
        trace::{EvmTrace, TraceError, TraceOptions},
    },
};
use govchain_types::{Encode, Receipt, Transaction, TxStatus, TxType};
use revm::primitives::U256;

use crate::common::*;

const GAS: u64 = 1_000_000;

/// A chain running the EVM that keeps each block's transactions and the
/// state before it, to trace them afterwards.
struct Traced {
    chain: Chain,
    engine: EvmEngine,
    blocks: Vec<Block>,
}

struct Block {
    before: MemState,
    txs: Vec<(Transaction, TxContext)>,
    outcome: BlockOutcome,
}

fn counter_abi() -> JsonAbi {
    serde_json::from_str(COUNTER_ABI).unwrap()
}

/// Call data for `function` of the Counter with `args`.
fn encode(function: &str, args: &[DynSolValue]) -> Vec<u8> {
    counter_abi().function(function).unwrap()[0].abi_encode_input(args).unwrap()
}

fn uint(n: u64) -> DynSolValue {
    DynSolValue::Uint(U256::from(n), 256)
}

fn word(n: u64) -> String {
    format!("0x{n:064x}")
}

fn deploy(org: &str, code: Vec<u8>) -> Call {
    Call {
        org: org.into(),
        contract: String::new(),
        data: EvmCreate { code, gas_limit: GAS }.encode(),
        tx_type: TxType::EvmCreate,
    }
}

fn call(org: &str, to: &Address, input: Vec<u8>) -> Call {
    Call {
        org: org.into(),
        contract: to.to_string(),
        data: EvmCall { input, gas_limit: GAS }.encode(),
        tx_type: TxType::EvmCall,
    }
}

fn counter_code(start: u64) -> Vec<u8> {
    let mut code = hex::decode(COUNTER).unwrap();
    code.extend_from_slice(&U256::from(start).to_be_bytes::<32>());
    code
}

impl Traced {
    fn new() -> Self {
        let mut chain = Chain::new();
        let spec = ExecutionSpec { engines: vec![EngineKind::Native, EngineKind::Evm], evm: None };
        chain.exec = Executor::from_spec(&spec).unwrap();
        Traced { chain, engine: EvmEngine::new(EvmConfig::default()), blocks: Vec::new() }
    }

    /// Executes and commits one block; returns its receipts.
    fn block(&mut self, calls: &[Call]) -> Vec<Receipt> {
        let before = self.chain.state.clone();
        let txs = self.chain.contexts(calls);
        let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
        let outcome = self.chain.exec.execute_block(&self.chain.state, &refs).unwrap();
        self.chain.height += 1;
        self.chain.state.apply_block(txs.iter().map(|(_, c)| c), &outcome.writes);
        let receipts = outcome.receipts.clone();
        self.blocks.push(Block { before, txs, outcome });
        receipts
    }

    fn deployed(&mut self, org: &str, code: Vec<u8>) -> Address {
        let r = self.block(&[deploy(org, code)]).remove(0);
        assert_eq!(r.status, TxStatus::Success, "{}", r.message);
        Address(r.output.as_slice().try_into().unwrap())
    }

    /// The state just before transaction `index` of `block`: its parent
    /// state plus the writes of the ones before it.
    fn state_before(&self, block: &Block, index: usize) -> MemState {
        let mut state = block.before.clone();
        for (i, (_, ctx)) in block.txs.iter().enumerate().take(index) {
            state.apply(ctx.height, ctx.tx_id, ctx.timestamp_ms, &block.outcome.writes[i]);
        }
        state
    }

    /// The trace of transaction `index` of the newest block.
    fn trace(&self, index: usize, options: &TraceOptions) -> Result<EvmTrace, TraceError> {
        let block = self.blocks.last().unwrap();
        self.trace_over(&self.state_before(block, index), index, options)
    }

    fn trace_over(
        &self,
        state: &dyn StateView,
        index: usize,
        options: &TraceOptions,
    ) -> Result<EvmTrace, TraceError> {
        let block = self.blocks.last().unwrap();
        let (tx, ctx) = &block.txs[index];
        self.engine.trace(state, tx, ctx, &block.outcome.receipts[index], options)
    }
}

fn ops(trace: &EvmTrace) -> Vec<&str> {
    trace.steps.iter().map(|s| s.op.as_str()).collect()
}

fn writes(trace: &EvmTrace) -> Vec<(u64, String, String, String)> {
    trace
        .steps
        .iter()
        .filter_map(|s| {
            let a = s.storage.as_ref().filter(|a| a.kind == "write")?;
            Some((s.depth, a.slot.clone(), a.before.clone(), a.after.clone()))
        })
        .collect()
}

#[test]
fn a_counter_increment_shows_its_opcodes_storage_write_log_and_decoded_call() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(10));
    let receipt = t.block(&[call("org1", &counter, encode("increment", &[uint(5)]))]).remove(0);
    assert_eq!(receipt.status, TxStatus::Success, "{}", receipt.message);

    let mut trace = t.trace(0, &TraceOptions::default()).unwrap();
    assert_eq!(trace.kind, "call");
    assert_eq!(trace.to, counter.to_string());
    assert_eq!(trace.from, sender("org1").to_string());
    assert!(trace.result.success);
    assert_eq!(trace.result.output, format!("0x{}", hex::encode(&receipt.output)));
    assert_eq!(trace.result.output, word(15));
    assert!(!trace.truncated);
    assert_eq!(trace.step_count, trace.steps.len() as u64);
    let ops = ops(&trace);
    for op in ["PUSH1", "CALLDATALOAD", "SLOAD", "SSTORE", "LOG2", "RETURN"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    // The first step starts with the whole gas of the call and an empty
    // stack; gas only goes down.
    let first = &trace.steps[0];
    assert_eq!((first.pc, first.op.as_str(), first.depth, first.call), (0, "PUSH1", 1, 0));
    assert!(first.stack.is_empty());
    assert!(trace.steps.windows(2).all(|w| w[1].gas <= w[0].gas));
    // count (slot 0): 10 -> 15; byCaller[sender]: 0 -> 5.
    let w = writes(&trace);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0], (1, word(0), word(10), word(15)));
    assert_eq!((w[1].2.clone(), w[1].3.clone()), (word(0), word(5)));
    let sstore = trace.steps.iter().find(|s| s.op == "SSTORE").unwrap();
    assert_eq!(sstore.stack.last().map(String::as_str), Some("0x0"), "slot on top of the stack");
    assert!(sstore.gas_cost > 2000, "a fresh SSTORE costs thousands of gas, not {}", sstore.gas_cost);
    // A read shows the value it found.
    let read = trace.steps.iter().find_map(|s| s.storage.as_ref().filter(|a| a.kind == "read")).unwrap();
    assert_eq!((read.slot.as_str(), read.before.as_str()), (word(0).as_str(), word(10).as_str()));
    assert!(trace.steps.iter().any(|s| s.memory_size >= 0x80 && s.memory.len() >= 4));
    assert_eq!(trace.storage_changes.len(), 2);
    assert_eq!(trace.storage_changes[0].after, word(15));
    // One call, one log, kept.
    assert_eq!(trace.calls.len(), 1);
    assert!(trace.calls[0].success && trace.calls[0].parent.is_none());
    assert_eq!(trace.logs.len(), 1);
    assert!(!trace.logs[0].removed);
    assert_eq!(trace.steps[trace.logs[0].step.unwrap()].op, "LOG2");
    // The gas matches the receipt's.
    let gas: serde_json::Value = serde_json::from_slice(&receipt.events.last().unwrap().data).unwrap();
    assert_eq!(gas["gas_used"].as_u64(), Some(trace.result.gas_used));

    trace.decode_abi(&serde_json::from_str(COUNTER_ABI).unwrap()).unwrap();
    let decoded = trace.decoded.as_ref().unwrap();
    assert_eq!(decoded.function, "increment");
    assert_eq!(decoded.signature, "increment(uint256)");
    assert_eq!((decoded.inputs[0].name.as_str(), decoded.inputs[0].ty.as_str()), ("amount", "uint256"));
    assert_eq!(decoded.inputs[0].value, "5");
    assert_eq!(decoded.outputs.as_ref().unwrap()[0].value, "15");
    let event = trace.logs[0].decoded.as_ref().unwrap();
    assert_eq!(event.signature, "Incremented(address,uint256,uint256)");
    let params: Vec<(&str, &serde_json::Value, bool)> =
        event.params.iter().map(|p| (p.name.as_str(), &p.value, p.indexed)).collect();
    assert_eq!(params[0], ("by", &serde_json::json!(sender("org1").to_string()), true));
    assert_eq!(params[1], ("amount", &serde_json::json!("5"), false));
    assert_eq!(params[2], ("newCount", &serde_json::json!("15"), false));
    // The JSON form round-trips.
    let json = serde_json::to_string(&trace).unwrap();
    assert_eq!(serde_json::from_str::<EvmTrace>(&json).unwrap(), trace);
}

#[test]
fn a_transaction_in_the_middle_of_a_block_sees_the_writes_before_it() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(100));
    let receipts = t.block(&[
        call("org1", &counter, encode("increment", &[uint(1)])),
        call("org2", &counter, encode("increment", &[uint(2)])),
        call("org1", &counter, encode("increment", &[uint(3)])),
    ]);
    assert!(receipts.iter().all(|r| r.status == TxStatus::Success));
    let trace = t.trace(1, &TraceOptions::default()).unwrap();
    assert_eq!((trace.index, trace.height), (1, 2));
    assert_eq!(writes(&trace)[0], (1, word(0), word(101), word(103)));
    assert_eq!(trace.result.output, word(103));
    let last = t.trace(2, &TraceOptions::default()).unwrap();
    assert_eq!(writes(&last)[0], (1, word(0), word(103), word(106)));
    // Over the parent state alone the middle one returns 102, not the
    // receipt's 103: the trace refuses to show it.
    let parent = t.blocks.last().unwrap().before.clone();
    match t.trace_over(&parent, 1, &TraceOptions::default()) {
        Err(TraceError::Diverged(why)) => assert!(why.contains("receipt"), "{why}"),
        other => panic!("expected a divergence, got {:?}", other.map(|t| t.result)),
    }
}

#[test]
fn an_inner_call_runs_at_depth_two_under_its_caller() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(0));
    let forwarder = t.deployed("org1", deployer_of(&forwarder_runtime(&counter.0)));
    t.block(&[call("org2", &forwarder, encode("increment", &[uint(7)]))]);
    let mut trace = t.trace(0, &TraceOptions::default()).unwrap();
    assert!(trace.result.success);
    assert_eq!(trace.result.output, word(7));
    assert_eq!(trace.calls.len(), 2);
    let inner = &trace.calls[1];
    assert_eq!((inner.kind.as_str(), inner.parent, inner.depth), ("call", Some(0), 2));
    assert_eq!((inner.caller.clone(), inner.address.clone()), (forwarder.to_string(), counter.to_string()));
    assert_eq!(inner.output, word(7));
    assert!(inner.success && inner.gas_used > 0 && inner.gas_used < inner.gas_limit);
    let call_step = &trace.steps[inner.first_step - 1];
    assert_eq!((call_step.op.as_str(), call_step.depth, call_step.call), ("CALL", 1, 0));
    let inner_steps: Vec<_> = trace.steps.iter().filter(|s| s.call == 1).collect();
    assert!(inner_steps.iter().all(|s| s.depth == 2));
    assert!(inner_steps.iter().any(|s| s.op == "SSTORE"));
    assert_eq!(writes(&trace)[0], (2, word(0), word(0), word(7)));
    // The counter's event comes from the inner call; the counter saw the
    // forwarder as its caller.
    assert_eq!((trace.logs[0].call, trace.logs[0].address.clone()), (1, counter.to_string()));
    trace.decode_abi(&serde_json::from_str(COUNTER_ABI).unwrap()).unwrap();
    let by = &trace.logs[0].decoded.as_ref().unwrap().params[0].value;
    assert_eq!(by, &serde_json::json!(forwarder.to_string()));
}

#[test]
fn a_contract_creating_another_shows_the_create_at_depth_two() {
    let mut t = Traced::new();
    let factory = t.deployed("org1", hex::decode(FACTORY).unwrap());
    let mut input = hex::decode("780900dc").unwrap();
    input.extend_from_slice(&U256::from(42).to_be_bytes::<32>());
    t.block(&[call("org1", &factory, input)]);
    let trace = t.trace(0, &TraceOptions::default()).unwrap();
    assert!(trace.result.success);
    let create = &trace.calls[1];
    assert_eq!(
        (create.kind.as_str(), create.depth, create.caller.clone()),
        ("create", 2, factory.to_string())
    );
    assert_eq!(create.address.len(), 42);
    assert!(ops(&trace).contains(&"CREATE"));
    // The constructor stores `start` at depth 2.
    assert!(writes(&trace).contains(&(2, word(0), word(0), word(42))));
}

#[test]
fn a_reverted_transaction_shows_its_reason_and_changes_nothing() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(3));
    let receipt = t.block(&[call("org1", &counter, encode("fail", &[]))]).remove(0);
    assert_eq!(receipt.status, TxStatus::Failed);
    let mut trace = t.trace(0, &TraceOptions::default()).unwrap();
    assert!(!trace.result.success);
    assert_eq!(trace.result.status, "reverted");
    assert_eq!(trace.result.revert_reason.as_deref(), Some("always fails"));
    assert!(receipt.message.contains("always fails"));
    // The write happened before the revert, and was undone.
    assert_eq!(writes(&trace), vec![(1, word(0), word(3), word(999))]);
    assert!(trace.storage_changes.is_empty());
    let last = trace.steps.last().unwrap();
    assert_eq!((last.op.as_str(), last.error.as_deref()), ("REVERT", Some("Revert")));
    assert_eq!(trace.calls[0].error.as_deref(), Some("reverted: always fails"));
    trace.decode_abi(&serde_json::from_str(COUNTER_ABI).unwrap()).unwrap();
    let decoded = trace.decoded.unwrap();
    assert_eq!((decoded.function.as_str(), decoded.revert.as_deref()), ("fail", Some("always fails")));
    assert!(decoded.outputs.is_none());
}

#[test]
fn the_step_limit_truncates_the_recording_but_not_the_run() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(0));
    t.block(&[call("org1", &counter, encode("increment", &[uint(1)]))]);
    let full = t.trace(0, &TraceOptions::default()).unwrap();
    let cut = t.trace(0, &TraceOptions { step_limit: 10, memory_bytes: 0 }).unwrap();
    assert!(cut.truncated);
    assert_eq!(cut.steps.len(), 10);
    assert_eq!(cut.step_count, full.step_count);
    assert!(full.step_count > 100);
    assert_eq!(cut.result, full.result);
    assert_eq!(
        cut.steps[..],
        full.steps[..10]
            .iter()
            .cloned()
            .map(|mut s| {
                s.memory.clear();
                s
            })
            .collect::<Vec<_>>()[..]
    );
    assert!(cut.steps.iter().all(|s| s.memory.is_empty()));
    // Memory is cut per step as asked.
    let narrow = t.trace(0, &TraceOptions { step_limit: 1000, memory_bytes: 64 }).unwrap();
    assert!(narrow.steps.iter().any(|s| s.memory_size > 64));
    assert!(narrow.steps.iter().all(|s| s.memory.len() <= 2));
    for bad in [
        TraceOptions { step_limit: 0, memory_bytes: 0 },
        TraceOptions { step_limit: 10_000_000, memory_bytes: 0 },
    ] {
        assert!(matches!(t.trace(0, &bad), Err(TraceError::InvalidOptions(_))));
    }
}

#[test]
fn deployments_are_traced_and_decoded_as_constructors() {
    let mut t = Traced::new();
    t.block(&[deploy("org1", counter_code(9))]);
    let mut trace = t.trace(0, &TraceOptions::default()).unwrap();
    assert_eq!(trace.kind, "create");
    assert_eq!(trace.calls[0].kind, "create");
    assert_eq!(trace.to, trace.calls[0].address);
    assert_eq!(trace.to, trace.result.output);
    assert!(ops(&trace).contains(&"CODECOPY"));
    assert!(writes(&trace).contains(&(1, word(0), word(0), word(9))));
    trace.decode_abi(&serde_json::from_str(COUNTER_ABI).unwrap()).unwrap();
    assert_eq!(trace.decoded.unwrap().signature, "constructor(uint256)");
}

#[test]
fn non_evm_and_never_run_transactions_have_no_trace() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(0));
    t.block(&[
        data("org1", &put("k", "v")),
        Call {
            org: "org1".into(),
            contract: counter.to_string(),
            data: b"not a payload".to_vec(),
            tx_type: TxType::EvmCall,
        },
    ]);
    let err = t.trace(0, &TraceOptions::default()).unwrap_err();
    assert!(matches!(err, TraceError::NotEvm(TxType::Invoke)), "{err}");
    assert_eq!(err.kind(), "not_evm");
    let err = t.trace(1, &TraceOptions::default()).unwrap_err();
    assert!(matches!(err, TraceError::NotExecuted(_)), "{err}");
    assert!(err.to_string().contains("evm_call payload"), "{err}");
}

#[test]
fn a_bad_abi_is_refused_and_a_foreign_abi_decodes_nothing() {
    let mut t = Traced::new();
    let counter = t.deployed("org1", counter_code(0));
    t.block(&[call("org1", &counter, encode("increment", &[uint(1)]))]);
    let mut trace = t.trace(0, &TraceOptions::default()).unwrap();
    let err = trace.decode_abi(&serde_json::json!({"not": "an abi"})).unwrap_err();
    assert_eq!(err.kind(), "invalid_abi");
    let other = serde_json::json!([{"type":"function","name":"other","inputs":[],"outputs":[],"stateMutability":"view"}]);
    trace.decode_abi(&other).unwrap();
    assert!(trace.decoded.is_none());
    assert!(trace.logs[0].decoded.is_none());
}
