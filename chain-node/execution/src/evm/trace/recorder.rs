//! The inspector that records a debug trace while the EVM runs: every
//! step with its stack, a bounded memory snapshot and the storage slot it
//! read or wrote, the call tree, and the logs. Recording stops (the run
//! does not) once the step limit or the byte budget is reached.

use revm::{
    Inspector,
    bytecode::opcode::{self, OpCode},
    context::{ContextTr, JournalTr},
    interpreter::{
        CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, CreateScheme, Interpreter,
        InterpreterResult,
        interpreter::EthInterpreter,
        interpreter_types::{InputsTr, Jumps, LoopControl, MemoryTr},
    },
    primitives::{Address, B256, Log, U256},
    state::EvmState,
};

use super::{StorageAccess, TraceCall, TraceLog, TraceStep, hex_of};
use crate::evm::revert;

/// Bytes a recorded item costs against the budget beyond its payload, so
/// that many small items count too.
const ITEM_OVERHEAD: usize = 64;

/// What the recorder keeps, and how much of it.
pub(super) struct Recorder {
    step_limit: u64,
    memory_bytes: usize,
    budget: usize,
    pub(super) steps: Vec<TraceStep>,
    pub(super) calls: Vec<TraceCall>,
    pub(super) logs: Vec<TraceLog>,
    /// Steps executed, recorded or not.
    pub(super) step_count: u64,
    /// Whether recording stopped before the run ended.
    pub(super) truncated: bool,
    /// The open frames, innermost last: the index of each in `calls`, or
    /// `None` for frames entered after recording stopped.
    open: Vec<Option<usize>>,
    /// The step being executed, completed by `step_end`.
    pending: Option<Pending>,
}

struct Pending {
    step: TraceStep,
    /// For `SSTORE`: the slot's value before it, when the journal had it
    /// already (otherwise it is the slot's original value).
    store: Option<(Address, U256, Option<U256>)>,
}

impl Recorder {
    pub(super) fn new(step_limit: u64, memory_bytes: usize, budget: usize) -> Self {
        Recorder {
            step_limit,
            memory_bytes,
            budget,
            steps: Vec::new(),
            calls: Vec::new(),
            logs: Vec::new(),
            step_count: 0,
            truncated: false,
            open: Vec::new(),
            pending: None,
        }
    }

    /// Takes `bytes` from the budget; false (and recording stops) when it
    /// is spent.
    fn spend(&mut self, bytes: usize) -> bool {
        if self.truncated {
            return false;
        }
        match self.budget.checked_sub(bytes + ITEM_OVERHEAD) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => {
                self.truncated = true;
                false
            }
        }
    }

    fn current_call(&self) -> usize {
        self.open.last().copied().flatten().unwrap_or(0)
    }

    /// A call starting here, its own fields left empty.
    fn frame(&self) -> TraceCall {
        TraceCall {
            parent: self.open.last().copied().flatten(),
            depth: self.open.len() as u64 + 1,
            kind: String::new(),
            caller: String::new(),
            address: String::new(),
            code_address: String::new(),
            value: String::new(),
            input: String::new(),
            output: String::from("0x"),
            gas_limit: 0,
            gas_used: 0,
            success: false,
            error: None,
            first_step: self.steps.len(),
        }
    }

    fn enter(&mut self, call: TraceCall) {
        let cost = call.input.len() + call.address.len() * 3;
        let index = self.spend(cost).then(|| {
            self.calls.push(call);
            self.calls.len() - 1
        });
        self.open.push(index);
    }

    fn leave(&mut self, result: &InterpreterResult, created: Option<Address>) {
        let Some(Some(index)) = self.open.pop() else { return };
        let output_len = result.output.len();
        let keep_output = self.spend(output_len);
        let Some(call) = self.calls.get_mut(index) else { return };
        if let Some(address) = created {
            call.address = hex_of(address.as_slice());
        }
        call.gas_used = call.gas_limit.saturating_sub(result.gas.remaining());
        call.success = result.result.is_ok();
        if keep_output {
            call.output = hex_of(&result.output);
        }
        call.error = if result.result.is_ok() {
            None
        } else if result.result.is_revert() {
            Some(format!("reverted: {}", revert::reason(&result.output)))
        } else {
            Some(format!("{:?}", result.result))
        };
    }
}

fn word(value: &U256) -> String {
    B256::from(*value).to_string()
}

fn slot_of(state: &EvmState, address: &Address, key: &U256) -> Option<(U256, U256)> {
    let slot = state.get(address)?.storage.get(key)?;
    Some((slot.original_value, slot.present_value))
}

impl<CTX> Inspector<CTX, EthInterpreter> for Recorder
where
    CTX: ContextTr<Journal: JournalTr<State = EvmState>>,
{
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, context: &mut CTX) {
        self.step_count += 1;
        self.pending = None;
        if self.truncated {
            return;
        }
        if self.steps.len() as u64 >= self.step_limit {
            self.truncated = true;
            return;
        }
        let stack = interp.stack.data();
        let memory_size = interp.memory.size();
        let shown = memory_size.min(self.memory_bytes);
        if !self.spend(stack.len() * 32 + shown) {
            return;
        }
        let op = interp.bytecode.opcode();
        let address = interp.input.target_address();
        let top = |n: usize| stack.len().checked_sub(n + 1).and_then(|i| stack.get(i)).copied();
        let store = match (op, top(0)) {
            (opcode::SSTORE, Some(key)) => {
                let before = slot_of(context.journal_ref().evm_state(), &address, &key).map(|(_, now)| now);
                Some((address, key, before))
            }
            _ => None,
        };
        let storage = match (op, top(0)) {
            // The value read is known once the step has run.
            (opcode::SLOAD, Some(key)) => Some(StorageAccess {
                kind: "read".into(),
                address: hex_of(address.as_slice()),
                slot: word(&key),
                before: String::new(),
                after: String::new(),
            }),
            _ => None,
        };
        let memory = interp.memory.slice(0..shown).chunks(32).map(hex::encode).collect();
        let step = TraceStep {
            pc: interp.bytecode.pc() as u64,
            op: OpCode::new(op).map_or_else(|| format!("0x{op:02x}"), |o| o.as_str().to_owned()),
            opcode: op,
            depth: interp.input.depth as u64 + 1,
            call: self.current_call(),
            gas: interp.gas.remaining(),
            gas_cost: 0,
            stack: stack.iter().map(|v| format!("{v:#x}")).collect(),
            memory_size,
            memory,
            storage,
            error: None,
        };
        self.pending = Some(Pending { step, store });
    }

    fn step_end(&mut self, interp: &mut Interpreter<EthInterpreter>, context: &mut CTX) {
        let Some(Pending { mut step, store }) = self.pending.take() else { return };
        step.gas_cost = step.gas.saturating_sub(interp.gas.remaining());
        let result = interp.bytecode.action().as_ref().and_then(|a| a.instruction_result());
        let failed = result.filter(|r| !r.is_ok());
        if let Some(r) = failed {
            step.error = Some(format!("{r:?}"));
        }
        if let Some(read) = step.storage.as_mut() {
            match interp.stack.data().last().filter(|_| failed.is_none()) {
                Some(value) => {
                    read.before = word(value);
                    read.after = read.before.clone();
                }
                None => step.storage = None,
            }
        }
        if let Some((address, key, before)) = store
            && let Some((original, now)) = slot_of(context.journal_ref().evm_state(), &address, &key)
        {
            step.storage = Some(StorageAccess {
                kind: "write".into(),
                address: hex_of(address.as_slice()),
                slot: word(&key),
                before: word(&before.unwrap_or(original)),
                after: word(&now),
            });
        }
        self.steps.push(step);
    }

    fn log(&mut self, _context: &mut CTX, log: Log) {
        if !self.spend(log.data.data.len() + log.data.topics().len() * 32) {
            return;
        }
        self.logs.push(TraceLog {
            call: self.current_call(),
            // Logs arrive while their step runs, before `step_end` records it.
            step: self.pending.as_ref().map(|_| self.steps.len()),
            address: hex_of(log.address.as_slice()),
            topics: log.data.topics().iter().map(|t| t.to_string()).collect(),
            data: hex_of(&log.data.data),
            removed: false,
            decoded: None,
        });
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let kind = match inputs.scheme {
            CallScheme::Call => "call",
            CallScheme::CallCode => "callcode",
            CallScheme::DelegateCall => "delegatecall",
            CallScheme::StaticCall => "staticcall",
        };
        let input = inputs.input.bytes(context);
        self.enter(TraceCall {
            kind: kind.into(),
            caller: hex_of(inputs.caller.as_slice()),
            address: hex_of(inputs.target_address.as_slice()),
            code_address: hex_of(inputs.bytecode_address.as_slice()),
            value: format!("{:#x}", inputs.value.get()),
            input: hex_of(&input),
            gas_limit: inputs.gas_limit,
            ..self.frame()
        });
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.leave(&outcome.result, None);
    }

    fn create(&mut self, _context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        let kind = match inputs.scheme() {
            CreateScheme::Create2 { .. } => "create2",
            _ => "create",
        };
        self.enter(TraceCall {
            kind: kind.into(),
            caller: hex_of(inputs.caller().as_slice()),
            value: format!("{:#x}", inputs.value()),
            input: hex_of(inputs.init_code()),
            gas_limit: inputs.gas_limit(),
            ..self.frame()
        });
        None
    }

    fn create_end(&mut self, _context: &mut CTX, _inputs: &CreateInputs, outcome: &mut CreateOutcome) {
        self.leave(&outcome.result, outcome.address);
    }
}
