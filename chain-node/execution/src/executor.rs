//! The block executor: a registry of execution engines, built once from the
//! chain's [`ExecutionSpec`], that hands each transaction to the engine
//! registered for its type.

use govchain_crypto::Address;
use govchain_types::{Hash, Receipt, StateWrite, Transaction, TxStatus, TxType};
use tracing::debug;

use crate::{
    Error, NativeEngine, Result,
    engine::{ExecutionEngine, ExecutionSpec, Scratch, TxEnv},
    state::{Layer, Layered, StateView},
};

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

/// The engines of a chain, and the block executor over them.
///
/// Each [`TxType`] is run by at most one engine; a transaction of a type no
/// engine claims gets a `Failed` receipt, the same on every node. Adding an
/// engine is one [`ExecutorBuilder::engine`] call (and, for chains to name
/// it in their genesis, one [`EngineKind`](crate::EngineKind) variant).
pub struct Executor {
    engines: Vec<Box<dyn ExecutionEngine>>,
    /// Which engine (index into `engines`) runs each transaction type.
    routes: Vec<(TxType, usize)>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<(TxType, &str)> =
            self.routes.iter().map(|&(t, i)| (t, self.engines[i].name())).collect();
        f.debug_struct("Executor").field("routes", &routes).finish()
    }
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers engines, then builds an [`Executor`].
#[derive(Default)]
pub struct ExecutorBuilder {
    executor: Option<Executor>,
}

impl std::fmt::Debug for ExecutorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorBuilder").field("executor", &self.executor).finish()
    }
}

impl ExecutorBuilder {
    /// Registers `engine` for the transaction types it claims. Fails with
    /// [`Error::DuplicateEngine`] if one of them is taken already.
    pub fn engine(mut self, engine: impl ExecutionEngine + 'static) -> Result<Self> {
        self.executor.get_or_insert_with(Executor::empty).register(Box::new(engine))?;
        Ok(self)
    }

    /// [`ExecutorBuilder::engine`] for an engine already boxed.
    pub fn boxed(mut self, engine: Box<dyn ExecutionEngine>) -> Result<Self> {
        self.executor.get_or_insert_with(Executor::empty).register(engine)?;
        Ok(self)
    }

    /// The executor.
    pub fn build(self) -> Executor {
        self.executor.unwrap_or_else(Executor::empty)
    }
}

impl Executor {
    /// An executor with the native engine and its built-in contracts, as a
    /// chain with the default [`ExecutionSpec`] runs.
    pub fn new() -> Self {
        let mut executor = Executor::empty();
        // Cannot fail: the first engine registered finds every type free.
        let _ = executor.register(Box::new(NativeEngine::builtin()));
        executor
    }

    /// An executor with no engine: every transaction is refused.
    pub fn empty() -> Self {
        Executor { engines: Vec::new(), routes: Vec::new() }
    }

    /// A builder to register engines on.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// The executor a chain's genesis asks for: its engines, in order.
    pub fn from_spec(spec: &ExecutionSpec) -> Result<Self> {
        spec.validate()?;
        spec.engines
            .iter()
            .try_fold(Executor::builder(), |b, kind| b.boxed(kind.engine_for(spec)?))
            .map(|b| b.build())
    }

    fn register(&mut self, engine: Box<dyn ExecutionEngine>) -> Result<()> {
        for &t in engine.tx_types() {
            if let Some(&(_, taken)) = self.routes.iter().find(|(r, _)| *r == t) {
                return Err(Error::DuplicateEngine {
                    tx_type: t,
                    engine: engine.name().to_owned(),
                    taken_by: self.engines[taken].name().to_owned(),
                });
            }
        }
        let index = self.engines.len();
        for &t in engine.tx_types() {
            // An engine listing a type twice still gets it once.
            if !self.routes.iter().any(|(r, _)| *r == t) {
                self.routes.push((t, index));
            }
        }
        self.engines.push(engine);
        Ok(())
    }

    /// Names of the registered engines, in registration order.
    pub fn engine_names(&self) -> impl Iterator<Item = &str> {
        self.engines.iter().map(|e| e.name())
    }

    /// The engine that runs transactions of type `tx_type`, if any.
    pub fn engine_for(&self, tx_type: TxType) -> Option<&dyn ExecutionEngine> {
        self.routes.iter().find(|(t, _)| *t == tx_type).map(|&(_, i)| &*self.engines[i])
    }

    /// Executes a block's transactions in order against `view` plus an overlay
    /// of the block's earlier writes; returns one receipt and one write list
    /// per transaction. A rejected transaction gives a `Failed` receipt with
    /// no writes and no events; only a storage failure of `view` is an `Err`.
    /// Engines that meter gas see what the block's earlier transactions
    /// used ([`TxEnv::block_gas_used`]); gas a transaction was charged
    /// counts even when it fails.
    /// Deterministic: the same inputs give the same outputs on every node.
    pub fn execute_block(
        &self,
        view: &dyn StateView,
        txs: &[(&Transaction, TxContext)],
    ) -> Result<BlockOutcome> {
        let mut block = Layer::new();
        let mut block_gas = 0u64;
        let mut outcome =
            BlockOutcome { receipts: Vec::with_capacity(txs.len()), writes: Vec::with_capacity(txs.len()) };
        for (index, (tx, ctx)) in txs.iter().enumerate() {
            let mut scratch = Scratch { block_gas, ..Scratch::default() };
            let result = {
                let committed = Layered { base: view, top: &block };
                let mut env = TxEnv { ctx, committed: &committed, scratch: &mut scratch, read_only: false };
                match self.engine_for(tx.body.tx_type) {
                    Some(engine) => engine.execute(&mut env, tx),
                    None => Err(Error::UnsupportedTxType(tx.body.tx_type)),
                }
            };
            block_gas = block_gas.saturating_add(scratch.gas_used);
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

    /// Runs a native contract call read-only against committed state, for
    /// query endpoints: nothing is kept, and a call that would write fails
    /// with [`Error::ReadOnly`]. Rejections are returned as errors.
    pub fn query(
        &self,
        view: &dyn StateView,
        ctx: TxContext,
        contract: &str,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        self.query_engine(TxType::Invoke, view, ctx, contract, data)
    }

    /// Runs a read-only call of `target` on the engine that runs `tx_type`.
    pub fn query_engine(
        &self,
        tx_type: TxType,
        view: &dyn StateView,
        ctx: TxContext,
        target: &str,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        let engine = self.engine_for(tx_type).ok_or(Error::UnsupportedTxType(tx_type))?;
        let mut scratch = Scratch::default();
        let mut env = TxEnv { ctx: &ctx, committed: view, scratch: &mut scratch, read_only: true };
        engine.query(&mut env, target, data)
    }
}
