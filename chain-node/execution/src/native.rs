//! The native engine: contracts compiled into the node, called by name from
//! `invoke` transactions, and the environment they run in.

use std::{collections::BTreeMap, ops::Bound};

use govchain_types::{HistoryEntry, Transaction, TxType};

use crate::{
    DataContract, Error, EvidenceContract, Result, TxContext,
    engine::{ExecutionEngine, Scratch, TxEnv},
    state::{Layered, StateView},
};

/// Deepest nesting of contract calls (the transaction's own call is depth 1);
/// recursion stops here instead of hanging or overflowing a node's stack.
pub const MAX_CALL_DEPTH: usize = 8;

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

/// What a contract sees while it runs: the transaction context, its own
/// storage (committed state + earlier writes of the block + its own writes)
/// and the ability to emit events and call other contracts.
///
/// Storage is namespaced by contract: a contract reads and writes only its own
/// keys; other contracts' data is reached by calling them.
pub struct CallEnv<'a> {
    engine: &'a NativeEngine,
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

    /// The transaction-wide environment, scoped to nothing: reads and
    /// writes through it name their key space. Crate-private so that a
    /// contract stays inside its own storage; only system contracts of
    /// this crate (the EVM's `contracts`) reach other key spaces.
    pub(crate) fn tx_env(&mut self) -> TxEnv<'_> {
        TxEnv {
            ctx: self.ctx,
            committed: self.committed,
            scratch: &mut *self.scratch,
            read_only: self.read_only,
        }
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
        let contract = self.contract;
        self.tx_env().put(contract, key, value)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        let contract = self.contract;
        self.tx_env().delete(contract, key)
    }

    /// Emits an event of the running contract.
    pub fn emit(&mut self, name: &str, data: Vec<u8>) {
        let contract = self.contract;
        self.tx_env().emit(contract, name, data);
    }

    /// Calls `contract` with the same context; its writes and events become
    /// part of this transaction, and its failure fails the transaction.
    pub fn call(&mut self, contract: &str, data: &[u8]) -> Result<Vec<u8>> {
        let engine = self.engine;
        let target = engine.contract(contract)?;
        let mut inner = CallEnv {
            engine,
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

/// The native engine: a registry of [`NativeContract`]s, run by `invoke`
/// transactions naming one as `recipient`.
pub struct NativeEngine {
    contracts: BTreeMap<String, Box<dyn NativeContract>>,
}

impl std::fmt::Debug for NativeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEngine").field("contracts", &self.contracts.keys().collect::<Vec<_>>()).finish()
    }
}

impl NativeEngine {
    /// The engine's name.
    pub const NAME: &'static str = "native";

    /// The engine with the built-in contracts `data` and `evidence`.
    pub fn builtin() -> Self {
        let mut contracts: BTreeMap<String, Box<dyn NativeContract>> = BTreeMap::new();
        for c in [Box::new(DataContract) as Box<dyn NativeContract>, Box::new(EvidenceContract)] {
            contracts.insert(c.name().to_owned(), c);
        }
        NativeEngine { contracts }
    }

    /// The engine with no contract at all.
    pub fn empty() -> Self {
        NativeEngine { contracts: BTreeMap::new() }
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

    fn run(&self, env: &mut TxEnv<'_>, contract: &str, data: &[u8]) -> Result<Vec<u8>> {
        let target = self.contract(contract)?;
        let mut call = CallEnv {
            engine: self,
            ctx: env.ctx,
            committed: env.committed,
            scratch: &mut *env.scratch,
            contract: target.name(),
            depth: 1,
            read_only: env.read_only,
        };
        call.run(target, data)
    }
}

impl ExecutionEngine for NativeEngine {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn tx_types(&self) -> &[TxType] {
        &[TxType::Invoke]
    }

    fn execute(&self, env: &mut TxEnv<'_>, tx: &Transaction) -> Result<Vec<u8>> {
        self.run(env, &tx.body.recipient, &tx.body.data)
    }

    fn query(&self, env: &mut TxEnv<'_>, target: &str, data: &[u8]) -> Result<Vec<u8>> {
        self.run(env, target, data)
    }
}
