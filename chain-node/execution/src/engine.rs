//! The seam between the block executor and the engines that run
//! transactions: [`ExecutionEngine`], the per-transaction environment
//! [`TxEnv`] it works through, and the chain's choice of engines
//! ([`ExecutionSpec`]).

use std::ops::Bound;

use govchain_types::{Event, HexValue, HistoryEntry, StateWrite, Transaction, TxType};
use serde::{Deserialize, Serialize};

use crate::{
    Error, EvmConfig, EvmEngine, NativeEngine, Result, TxContext,
    state::{Layer, Layered, StateView},
};

/// An execution engine: runs the transactions of the types it claims.
///
/// The executor hands each transaction to the one engine registered for its
/// [`TxType`]. An engine reads and writes state only through the [`TxEnv`] it
/// is given, so its writes land in the same state store and state root as
/// every other engine's, and a failed transaction leaves nothing behind.
///
/// `execute` must be deterministic: it may look only at the transaction, the
/// environment and its own constant configuration (no clock, randomness or
/// I/O), or the nodes of a chain diverge.
pub trait ExecutionEngine: Send + Sync {
    /// A short name, for logs and refusal messages (`native`, `evm`).
    fn name(&self) -> &str;

    /// The transaction types this engine runs; each type is run by at most
    /// one engine of an executor.
    fn tx_types(&self) -> &[TxType];

    /// Runs one transaction; the returned bytes become the receipt's
    /// `output`. Any error other than [`Error::Storage`] fails the
    /// transaction (a `Failed` receipt, no writes, no events).
    fn execute(&self, env: &mut TxEnv<'_>, tx: &Transaction) -> Result<Vec<u8>>;

    /// Runs a read-only call of `target` with `data` (for query endpoints);
    /// the environment refuses writes with [`Error::ReadOnly`].
    fn query(&self, env: &mut TxEnv<'_>, target: &str, data: &[u8]) -> Result<Vec<u8>> {
        let _ = (env, target, data);
        Err(Error::QueryUnsupported(self.name().to_owned()))
    }
}

/// Writes and events of the running transaction, kept until it succeeds,
/// and its gas, which counts toward the block whether it succeeds or not.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) layer: Layer,
    pub(crate) writes: Vec<StateWrite>,
    pub(crate) events: Vec<Event>,
    /// Gas used by the block's earlier transactions.
    pub(crate) block_gas: u64,
    /// Gas charged to this transaction.
    pub(crate) gas_used: u64,
}

/// What an engine sees while it runs one transaction: the context, the state
/// (committed state + earlier writes of the block + this transaction's own
/// writes) in named key spaces, and a place for events.
///
/// Key spaces (`namespace`) are the state's contracts: the native engine
/// gives each contract its own, another engine picks names of its own (e.g.
/// `evm`). Every write is recorded as a [`StateWrite`] of the block.
pub struct TxEnv<'a> {
    pub(crate) ctx: &'a TxContext,
    pub(crate) committed: &'a dyn StateView,
    pub(crate) scratch: &'a mut Scratch,
    pub(crate) read_only: bool,
}

impl std::fmt::Debug for TxEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxEnv")
            .field("ctx", self.ctx)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl<'a> TxEnv<'a> {
    /// The transaction context.
    pub fn ctx(&self) -> &TxContext {
        self.ctx
    }

    /// Whether this is a read-only query rather than a transaction.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn view(&self) -> Layered<'_> {
        Layered { base: self.committed, top: &self.scratch.layer }
    }

    /// The current value of `key` in `namespace`.
    pub fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.view().get(namespace, key)
    }

    /// Up to `limit` entries of `namespace` within the bounds, ascending.
    pub fn scan(
        &self,
        namespace: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.view().scan(namespace, start, end, limit)
    }

    /// Up to `limit` versions of `key`, newest first, this block's included.
    pub fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        self.view().history(namespace, key, limit)
    }

    /// Sets `key` of `namespace` to `value`.
    pub fn put(&mut self, namespace: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(namespace, key, Some(value.to_vec()))
    }

    /// Deletes `key` of `namespace`.
    pub fn delete(&mut self, namespace: &str, key: &[u8]) -> Result<()> {
        self.write(namespace, key, None)
    }

    fn write(&mut self, namespace: &str, key: &[u8], value: Option<Vec<u8>>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let ctx = self.ctx;
        self.scratch.layer.record(namespace, key, value.clone(), ctx.tx_id, ctx.height, ctx.timestamp_ms);
        self.scratch.writes.push(StateWrite {
            contract: namespace.to_owned(),
            key: key.to_vec(),
            value: value.map(HexValue),
        });
        Ok(())
    }

    /// Emits an event on behalf of `source` (a contract or engine name).
    pub fn emit(&mut self, source: &str, name: &str, data: Vec<u8>) {
        self.scratch.events.push(Event { contract: source.to_owned(), name: name.to_owned(), data });
    }

    /// Gas used by the block's earlier transactions, for engines that meter
    /// gas against a per-block limit (0 in a query).
    pub fn block_gas_used(&self) -> u64 {
        self.scratch.block_gas
    }

    /// Charges `gas` to this transaction. Unlike writes and events, charged
    /// gas counts toward the block even when the transaction fails, so a
    /// block of failing transactions still fills up.
    pub fn charge_gas(&mut self, gas: u64) {
        self.scratch.gas_used = self.scratch.gas_used.saturating_add(gas);
    }

    /// Gas charged to this transaction so far.
    pub fn gas_charged(&self) -> u64 {
        self.scratch.gas_used
    }
}

/// An engine a chain can name in its genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// The native contracts compiled into the node ([`NativeEngine`]): runs
    /// `invoke` transactions.
    Native,
    /// The Ethereum virtual machine ([`EvmEngine`]): runs `evm_create` and
    /// `evm_call` transactions, configured by [`ExecutionSpec::evm`].
    Evm,
}

impl EngineKind {
    /// A fresh engine of this kind, in its default configuration.
    pub fn engine(self) -> Box<dyn ExecutionEngine> {
        match self {
            EngineKind::Native => Box::new(NativeEngine::builtin()),
            EngineKind::Evm => Box::new(EvmEngine::new(EvmConfig::default())),
        }
    }

    /// A fresh engine of this kind, configured as `spec` says.
    /// A chain that also runs the EVM gets the `contracts` system contract
    /// (the EVM's lifecycle and governance) in its native engine.
    pub fn engine_for(self, spec: &ExecutionSpec) -> Result<Box<dyn ExecutionEngine>> {
        Ok(match self {
            EngineKind::Native => {
                let mut native = NativeEngine::builtin();
                if spec.engines.contains(&EngineKind::Evm) {
                    let config = spec.evm.clone().unwrap_or_default();
                    native.register(Box::new(crate::evm::ContractsContract::new(config)))?;
                }
                Box::new(native)
            }
            EngineKind::Evm => {
                let config = spec.evm.clone().unwrap_or_default();
                config.validate()?;
                Box::new(EvmEngine::new(config))
            }
        })
    }
}

/// The execution engines a chain runs, as its genesis names them; every
/// node of the chain builds the same [`Executor`](crate::Executor) from it.
///
/// In a genesis document (`execution`), a chain running Solidity beside
/// the native contracts:
///
/// ```json
/// {"engines": ["native", "evm"], "evm": {"chain_id": 4242}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSpec {
    /// The engines, each at most once. Transaction types no engine claims
    /// are refused (a `Failed` receipt) on every node alike.
    #[serde(default = "ExecutionSpec::default_engines")]
    pub engines: Vec<EngineKind>,
    /// Configuration of the `evm` engine (chain id, gas limits); its
    /// defaults ([`EvmConfig::default`]) when left out. Only allowed when
    /// `engines` names `evm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm: Option<EvmConfig>,
}

impl ExecutionSpec {
    fn default_engines() -> Vec<EngineKind> {
        vec![EngineKind::Native]
    }

    /// Checks that the engines' configurations fit the engines named.
    pub fn validate(&self) -> Result<()> {
        if let Some(evm) = &self.evm {
            if !self.engines.contains(&EngineKind::Evm) {
                return Err(Error::InvalidArgument(
                    "execution.evm configures the `evm` engine, which `engines` does not name".into(),
                ));
            }
            evm.validate()?;
        }
        Ok(())
    }

    /// The native contracts and the EVM, with the EVM chain id derived from
    /// the chain's name ([`EvmConfig::chain_id_for`]) and the default gas
    /// limits: what the platform gives every chain it creates.
    pub fn with_evm(chain_name: &str) -> Self {
        ExecutionSpec {
            engines: vec![EngineKind::Native, EngineKind::Evm],
            evm: Some(EvmConfig { chain_id: EvmConfig::chain_id_for(chain_name), ..EvmConfig::default() }),
        }
    }

    /// Whether this is the default (native contracts only); a genesis
    /// leaves the default out of its JSON, so older documents stay
    /// byte-identical.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for ExecutionSpec {
    fn default() -> Self {
        ExecutionSpec { engines: Self::default_engines(), evm: None }
    }
}
