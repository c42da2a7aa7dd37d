//! The block executor, the call environment and the contract trait.

use std::{collections::BTreeMap, ops::Bound};

use govchain_crypto::Address;
use govchain_types::{
    Event, Hash, HexValue, HistoryEntry, Receipt, StateWrite, Transaction, TxStatus, TxType,
};
use tracing::debug;

use crate::{
    DataContract, Error, EvidenceContract, Result,
    state::{Layer, Layered, StateView},
};

/// Deepest nesting of contract calls (the transaction's own call is depth 1);
/// recursion stops here instead of hanging or overflowing a node's stack.
pub const MAX_CALL_DEPTH: usize = 8;

/// Who runs a transaction, and where in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxContext {
    /// Id of the transaction.
    pub tx_id: Hash,
    /// Address of the first signer.
    pub sender: Address,
    /// The signer's organization as the node determined it: the certificate's
    /// `O`, or the sender address in dev mode.
    pub org: String,
    /// Height of the block holding the transaction.
    pub height: u64,
    /// Block time, ms since 1970; the same for every transaction of a block.
    pub timestamp_ms: u64,
}

/// The result of executing a block: `receipts[i]` and `writes[i]` belong to
/// the block's `i`-th transaction. A failed transaction has no writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockOutcome {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// The state writes of each transaction, in execution order.
    pub writes: Vec<Vec<StateWrite>>,
}

/// A native (system) contract, compiled into the node.
///
/// `call` must be deterministic: it may look only at the payload, the
/// [`CallEnv`] (context and state) and its own constant configuration.
pub trait NativeContract: Send + Sync {
    /// The name transactions use as `recipient`.
    fn name(&self) -> &str;

    /// Executes one call; the returned bytes become the receipt's `output`.
    /// Any error other than [`Error::Storage`] rejects the whole transaction.
    fn call(&self, env: &mut CallEnv<'_>, data: &[u8]) -> Result<Vec<u8>>;
}

/// Writes and events of the running transaction, kept until it succeeds.
#[derive(Debug, Default)]
struct Scratch {
    layer: Layer,
    writes: Vec<StateWrite>,
    events: Vec<Event>,
}

/// What a contract sees while it runs: the transaction context, its own
/// storage (committed state + earlier writes of the block + its own writes)
/// and the ability to emit events and call other contracts.
///
/// Storage is namespaced by contract: a contract reads and writes only its own
/// keys; other contracts' data is reached by calling them.
pub struct CallEnv<'a> {
    executor: &'a Executor,
    ctx: &'a TxContext,
    committed: &'a dyn StateView,
    scratch: &'a mut Scratch,
    contract: &'a str,
    depth: usize,
    read_only: bool,
}

impl std::fmt::Debug for CallEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallEnv")
            .field("ctx", self.ctx)
            .field("contract", &self.contract)
            .field("depth", &self.depth)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl<'a> CallEnv<'a> {
    /// The transaction context.
    pub fn ctx(&self) -> &TxContext {
        self.ctx
    }

    /// The name of the running contract.
    pub fn contract(&self) -> &str {
        self.contract
    }

    /// Nesting depth of this call (1 for the transaction's own call).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether this is a read-only query rather than a transaction.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn view(&self) -> Layered<'_> {
        Layered { base: self.committed, top: &self.scratch.layer }
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.view().get(self.contract, key)
    }

    /// Up to `limit` entries within the bounds, ascending by key.
    pub fn scan(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.view().scan(self.contract, start, end, limit)
    }

    /// Up to `limit` versions of `key`, newest first, this block's included.
    pub fn history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        self.view().history(self.contract, key, limit)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(key, Some(value.to_vec()))
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.write(key, None)
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let ctx = self.ctx;
        self.scratch.layer.record(self.contract, key, value.clone(), ctx.tx_id, ctx.height, ctx.timestamp_ms);
        self.scratch.writes.push(StateWrite {
            contract: self.contract.to_owned(),
            key: key.to_vec(),
            value: value.map(HexValue),
        });
        Ok(())
    }

    /// Emits an event of the running contract.
    pub fn emit(&mut self, name: &str, data: Vec<u8>) {
        self.scratch.events.push(Event { contract: self.contract.to_owned(), name: name.to_owned(), data });
    }

    /// Calls `contract` with the same context; its writes and events become
    /// part of this transaction, and its failure fails the transaction.
    pub fn call(&mut self, contract: &str, data: &[u8]) -> Result<Vec<u8>> {
        let executor = self.executor;
        let target = executor.contract(contract)?;
        let mut inner = CallEnv {
            executor,
            ctx: self.ctx,
            committed: self.committed,
            scratch: &mut *self.scratch,
            contract: target.name(),
            depth: self.depth + 1,
            read_only: self.read_only,
        };
        inner.run(target, data)
    }

    fn run(&mut self, target: &dyn NativeContract, data: &[u8]) -> Result<Vec<u8>> {
        if self.depth > MAX_CALL_DEPTH {
            return Err(Error::CallDepth(MAX_CALL_DEPTH));
        }
        target.call(self, data)
    }
}

/// The registry of native contracts, and the block executor over it.
pub struct Executor {
    contracts: BTreeMap<String, Box<dyn NativeContract>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("contracts", &self.contracts.keys().collect::<Vec<_>>()).finish()
    }
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    /// An executor with the built-in contracts `data` and `evidence`.
    pub fn new() -> Self {
        let mut contracts: BTreeMap<String, Box<dyn NativeContract>> = BTreeMap::new();
        for c in [Box::new(DataContract) as Box<dyn NativeContract>, Box::new(EvidenceContract)] {
            contracts.insert(c.name().to_owned(), c);
        }
        Executor { contracts }
    }

    /// An executor with no contract at all.
    pub fn empty() -> Self {
        Executor { contracts: BTreeMap::new() }
    }

    /// Adds a native contract. Every node of a chain must register the same
    /// contracts, or their states diverge.
    pub fn register(&mut self, contract: Box<dyn NativeContract>) -> Result<()> {
        let name = contract.name().to_owned();
        if self.contracts.contains_key(&name) {
            return Err(Error::DuplicateContract(name));
        }
        self.contracts.insert(name, contract);
        Ok(())
    }

    /// Names of the registered contracts, sorted.
    pub fn contract_names(&self) -> impl Iterator<Item = &str> {
        self.contracts.keys().map(String::as_str)
    }

    fn contract(&self, name: &str) -> Result<&dyn NativeContract> {
        self.contracts
            .get(name)
            .map(|c| &**c)
            .ok_or_else(|| Error::UnknownContract(name.chars().take(128).collect()))
    }

    /// Executes a block's transactions in order against `view` plus an overlay
    /// of the block's earlier writes; returns one receipt and one write list
    /// per transaction. A rejected call gives a `Failed` receipt with no
    /// writes and no events; only a storage failure of `view` is an `Err`.
    /// Deterministic: the same inputs give the same outputs on every node.
    pub fn execute_block(
        &self,
        view: &dyn StateView,
        txs: &[(&Transaction, TxContext)],
    ) -> Result<BlockOutcome> {
        let mut block = Layer::new();
        let mut outcome =
            BlockOutcome { receipts: Vec::with_capacity(txs.len()), writes: Vec::with_capacity(txs.len()) };
        for (index, (tx, ctx)) in txs.iter().enumerate() {
            let mut scratch = Scratch::default();
            let result = {
                let committed = Layered { base: view, top: &block };
                self.execute_tx(&committed, tx, ctx, &mut scratch)
            };
            let mut receipt = Receipt {
                tx_id: ctx.tx_id,
                height: ctx.height,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                status: TxStatus::Success,
                message: String::new(),
                output: Vec::new(),
                events: Vec::new(),
            };
            match result {
                Ok(output) => {
                    receipt.output = output;
                    receipt.events = scratch.events;
                    block.absorb(scratch.layer);
                    outcome.writes.push(scratch.writes);
                }
                Err(err) if err.is_storage() => return Err(err),
                Err(err) => {
                    debug!(target: "govchain::execution", tx = %ctx.tx_id, kind = err.kind(), "transaction failed: {err}");
                    receipt.status = TxStatus::Failed;
                    receipt.message = err.to_string();
                    outcome.writes.push(Vec::new());
                }
            }
            outcome.receipts.push(receipt);
        }
        Ok(outcome)
    }

    fn execute_tx(
        &self,
        committed: &dyn StateView,
        tx: &Transaction,
        ctx: &TxContext,
        scratch: &mut Scratch,
    ) -> Result<Vec<u8>> {
        if tx.body.tx_type != TxType::Invoke {
            return Err(Error::UnsupportedTxType(tx.body.tx_type));
        }
        self.run(committed, ctx, &tx.body.recipient, &tx.body.data, scratch, false)
    }

    fn run(
        &self,
        committed: &dyn StateView,
        ctx: &TxContext,
        contract: &str,
        data: &[u8],
        scratch: &mut Scratch,
        read_only: bool,
    ) -> Result<Vec<u8>> {
        let target = self.contract(contract)?;
        let mut env =
            CallEnv { executor: self, ctx, committed, scratch, contract: target.name(), depth: 1, read_only };
        env.run(target, data)
    }

    /// Runs a call read-only against committed state, for query endpoints:
    /// nothing is kept, and a call that would write fails with
    /// [`Error::ReadOnly`]. Rejections are returned as errors.
    pub fn query(
        &self,
        view: &dyn StateView,
        ctx: TxContext,
        contract: &str,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        let mut scratch = Scratch::default();
        self.run(view, &ctx, contract, data, &mut scratch, true)
    }
}
