//! The EVM engine: runs `evm_create` and `evm_call` transactions (Solidity
//! contracts) on `revm`, with contract state in the ledger's state store.
//!
//! **State.** Accounts, code and storage live in the `evm` key space of the
//! state store (layout in [`store`]), read and written through the
//! transaction's [`TxEnv`] like any engine's, so the state root, proofs and
//! history cover them. A transaction that reverts, halts or is refused
//! leaves no writes and no events, and gets a `Failed` receipt.
//!
//! **Determinism.** Every node runs the same rules: hardfork
//! [`SPEC`] (Prague), the chain id of [`EvmConfig::chain_id`], and a block
//! environment taken from the [`TxContext`](crate::TxContext) only: number
//! = height, timestamp = block time in seconds, base fee 0, coinbase the
//! zero address, `PREVRANDAO` zero, `BLOCKHASH` zero. Gas is priced at 0:
//! it bounds work, not money, so accounts need no balance. Storage writes
//! are recorded in a fixed order (accounts by address, slots by index).
//!
//! **Gas.** Each transaction names its gas limit, at most
//! [`EvmConfig::tx_gas_limit_max`]; a transaction asking for more than its
//! block has left of [`EvmConfig::block_gas_limit`] is refused before it
//! runs. Gas used counts toward the block even when the transaction fails,
//! so a block of endless loops ends once its gas is spent.
//!
//! **Senders.** The EVM `CALLER`/`ORIGIN` of a transaction is its sender's
//! chain address ([`Address`](govchain_crypto::Address)): the last 20 bytes
//! of the suite's hash of the uncompressed public key without its `0x04`
//! prefix. On `intl-k1` chains (Keccak-256) that is exactly the Ethereum
//! address of the key; on `gm` (SM3) and `intl-r1` (SHA-256) chains it is
//! the same rule with the suite's hash.
//!
//! **Nonces.** The chain's replay rule (a `(sender, nonce)` pair once) is
//! checked before execution and is separate from the EVM account nonce.
//! The EVM nonce of a sender counts its successful EVM transactions
//! (calls and deployments alike, as on Ethereum); a failed transaction
//! leaves it unchanged. A deployment's address is therefore
//! `keccak256(rlp([sender, nonce]))[12..]` with the sender's EVM nonce
//! before the transaction ([`contract_address`]).
//!
//! **Receipts.** `output` is the return data of a call, or the 20-byte
//! address of a deployed contract. `events` are the EVM logs in order, each
//! as an [`Event`](govchain_types::Event) ([`EvmLog`] converts), then a
//! `deployed` event of the `contracts` registry per contract created
//! ([`registry`]), followed by one `gas_used` event of the `evm` engine with data
//! `{"gas_used": n}`. A failed receipt's message carries the decoded
//! revert reason (`Error(string)`, `Panic(uint256)`) and the gas used.
//!
//! **Lifecycle.** Every deployment is recorded in the contract
//! [`registry`] (version 1.0, deployer, organization, code hash); the
//! `contracts` system contract ([`lifecycle`]) upgrades, freezes and
//! unfreezes contracts and sets their access lists, under the chain's
//! [`governance`] policy. A frozen contract, or one whose access list
//! leaves the caller out, is refused before the EVM runs, and inside it
//! when another contract calls it.
//!
//! **Ethereum-signed transactions** (`ethereum` transactions, on
//! `intl-k1` chains) run like `evm_create`/`evm_call` ones, with the
//! envelope's `to`, input and gas limit, after a nonce check; their
//! envelope, signature and replay rules are in [`ethtx`].
//!
//! Not for: signatures, replay rules (done before execution), ABI
//! encoding (clients). Debug traces re-run a committed transaction
//! through the same EVM ([`trace`]).

pub mod ethtx;
pub mod governance;
pub mod lifecycle;
mod log;
mod payload;
pub mod registry;
mod revert;
pub mod store;
#[cfg(any(test, feature = "test-utils"))]
pub mod testdata;
#[cfg(any(test, feature = "test-utils"))]
pub mod testdata_lifecycle;
pub mod trace;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    str::FromStr,
};

use govchain_types::{Transaction, TxType};
use revm::{
    Context, ExecuteEvm, InspectEvm, MainBuilder, MainContext,
    context::TxEnv as EvmTx,
    context_interface::result::{EVMError, ExecutionResult, Output, ResultAndState},
    handler::{MainnetContext, MainnetEvm},
    primitives::{Address, B256, TxKind, U256, hardfork::SpecId},
};
use serde::{Deserialize, Serialize};
use tracing::error;

use self::store::{DbError, StateDb};
pub use self::{
    governance::{GovernancePolicy, GovernedAction},
    lifecycle::{Action, ContractsCall, ContractsContract, Request},
    log::EvmLog,
    payload::{EvmCall, EvmCreate, MAX_CODE_SIZE, MAX_INITCODE_SIZE, hex0x},
    store::{EvmAccount, read_account, read_code, read_storage},
};
use crate::{Error, ExecutionEngine, Result, TxEnv};

/// The engine's name, and the key space of its state.
pub const NAMESPACE: &str = "evm";

/// The hardfork whose rules every node runs: Prague (Cancun plus EIP-7702
/// delegation, the BLS12-381 precompiles and cheaper calldata rules).
/// Contracts should be compiled for `evmVersion` `prague` or older.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// The chain id a chain gets when its genesis leaves it out.
pub const DEFAULT_CHAIN_ID: u64 = 0x676f76; // "gov"

/// The smallest gas any transaction needs (its intrinsic base cost).
pub const MIN_TX_GAS: u64 = 21_000;

/// The `evm` engine's configuration, from the chain's genesis
/// (`execution.evm`); every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvmConfig {
    /// The chain id contracts see (`CHAINID`) and Ethereum tools sign for;
    /// [`DEFAULT_CHAIN_ID`] by default, [`EvmConfig::chain_id_for`] derives
    /// one from a chain's name.
    pub chain_id: u64,
    /// Most gas one transaction may ask for; 30,000,000 by default.
    pub tx_gas_limit_max: u64,
    /// Most gas the transactions of one block may use together, failed
    /// ones included; 100,000,000 by default.
    pub block_gas_limit: u64,
    /// Which contract changes need a vote of the member organizations
    /// ([`GovernancePolicy`]); nothing by default.
    #[serde(skip_serializing_if = "GovernancePolicy::is_default")]
    pub governance: GovernancePolicy,
}

impl Default for EvmConfig {
    fn default() -> Self {
        EvmConfig {
            chain_id: DEFAULT_CHAIN_ID,
            tx_gas_limit_max: 30_000_000,
            block_gas_limit: 100_000_000,
            governance: GovernancePolicy::default(),
        }
    }
}

impl EvmConfig {
    /// Checks the limits: a chain id above 0, and a per-transaction
    /// maximum that fits a transaction's base cost and the block limit.
    pub fn validate(&self) -> Result<()> {
        if self.chain_id == 0 {
            return Err(Error::InvalidArgument("evm.chain_id must be above 0".into()));
        }
        if self.tx_gas_limit_max < MIN_TX_GAS {
            return Err(Error::InvalidArgument(format!(
                "evm.tx_gas_limit_max must be at least {MIN_TX_GAS}, found {}",
                self.tx_gas_limit_max
            )));
        }
        if self.tx_gas_limit_max > self.block_gas_limit {
            return Err(Error::InvalidArgument(format!(
                "evm.tx_gas_limit_max ({}) exceeds evm.block_gas_limit ({})",
                self.tx_gas_limit_max, self.block_gas_limit
            )));
        }
        self.governance.validate()
    }

    /// A chain id derived from a chain's name, for genesis tools that want
    /// a distinct id per chain without picking one: the first 6 bytes of
    /// `keccak256("govchain-evm-chain-id:" ‖ name)`, so it stays below
    /// 2^48 (an exact integer in JavaScript), and never 0.
    pub fn chain_id_for(name: &str) -> u64 {
        let hash =
            revm::primitives::keccak256([b"govchain-evm-chain-id:".as_slice(), name.as_bytes()].concat());
        let mut bytes = [0u8; 8];
        bytes[2..].copy_from_slice(&hash[..6]);
        u64::from_be_bytes(bytes).max(1)
    }
}

/// The address a deployment by `sender` with EVM nonce `nonce` creates.
pub fn contract_address(sender: &govchain_crypto::Address, nonce: u64) -> govchain_crypto::Address {
    govchain_crypto::Address(Address::from(sender.0).create(nonce).0.0)
}

/// The EVM engine (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct EvmEngine {
    config: EvmConfig,
}

/// What one run of the EVM asks for.
struct Run {
    kind: TxKind,
    input: Vec<u8>,
    gas_limit: u64,
}

impl EvmEngine {
    /// An engine with `config`; see [`EvmConfig::validate`] for the rules
    /// a genesis must follow.
    pub fn new(config: EvmConfig) -> Self {
        EvmEngine { config }
    }

    /// The configuration.
    pub fn config(&self) -> &EvmConfig {
        &self.config
    }

    fn check_tx_gas(&self, gas_limit: u64) -> Result<()> {
        if gas_limit > self.config.tx_gas_limit_max {
            return Err(Error::InvalidArgument(format!(
                "gas_limit {gas_limit} exceeds the chain's per-transaction maximum of {}",
                self.config.tx_gas_limit_max
            )));
        }
        Ok(())
    }

    /// Reads the transaction's payload into a run.
    fn prepare(&self, tx: &Transaction) -> Result<Run> {
        let body = &tx.body;
        let run = match body.tx_type {
            TxType::EvmCreate => {
                if !body.recipient.is_empty() {
                    return Err(invalid("the recipient of an evm_create transaction must be empty".into()));
                }
                let p: EvmCreate = payload::decode("evm_create payload", &body.data)?;
                if p.code.is_empty() {
                    return Err(invalid("code is empty".into()));
                }
                if p.code.len() > MAX_INITCODE_SIZE {
                    return Err(invalid(format!(
                        "init code of {} bytes exceeds the limit of {MAX_INITCODE_SIZE} bytes (EIP-3860)",
                        p.code.len()
                    )));
                }
                Run { kind: TxKind::Create, input: p.code, gas_limit: p.gas_limit }
            }
            TxType::EvmCall => {
                let to = parse_address(&body.recipient)?;
                let p: EvmCall = payload::decode("evm_call payload", &body.data)?;
                Run { kind: TxKind::Call(to), input: p.input, gas_limit: p.gas_limit }
            }
            TxType::Ethereum => ethtx::run_of(tx)?,
            other => return Err(Error::UnsupportedTxType(other)),
        };
        self.check_tx_gas(run.gas_limit)?;
        Ok(run)
    }

    /// Runs the EVM over the environment's state without writing anything.
    fn transact(&self, env: &TxEnv<'_>, run: Run) -> Result<ResultAndState> {
        if let TxKind::Call(to) = run.kind {
            registry::check_call(env, &to, &run.input)?;
        }
        // Calls between contracts pass the registry's guards (an inspector)
        // while any contract is frozen or has access lists.
        if !registry::any_guarded(env)? {
            return self.run_evm(env, run, (), |evm, tx| evm.transact(tx));
        }
        let mut failure = None;
        let outcome = self.run_evm(env, run, registry::Guard::new(env), |evm, tx| {
            let outcome = evm.inspect_tx(tx);
            failure = evm.inspector.failure.take();
            outcome
        });
        match failure {
            Some(failure) => Err(failure),
            None => outcome,
        }
    }

    /// Builds the EVM for one run over `env`'s state, exactly as every node
    /// runs it (the rules of the [module docs](self)), with `inspector`
    /// watching, and runs `go` on it: a plain run, a guarded one and a
    /// traced one ([`trace`]) see the same environment.
    fn run_evm<I>(
        &self,
        env: &TxEnv<'_>,
        run: Run,
        inspector: I,
        go: impl FnOnce(
            &mut EngineEvm<'_, '_, I>,
            EvmTx,
        ) -> std::result::Result<ResultAndState, EVMError<DbError>>,
    ) -> Result<ResultAndState> {
        let ctx = env.ctx();
        let caller = Address::from(ctx.sender.0);
        let nonce = read_account(&env.view(), &ctx.sender.0)?.map_or(0, |a| a.nonce);
        let tx = EvmTx {
            caller,
            gas_limit: run.gas_limit,
            gas_price: 0,
            kind: run.kind,
            value: U256::ZERO,
            data: run.input.into(),
            nonce,
            chain_id: Some(self.config.chain_id),
            ..EvmTx::default()
        };
        let config = &self.config;
        let mut evm = Context::mainnet()
            .with_db(StateDb { env })
            .modify_cfg_chained(|cfg| {
                cfg.set_spec_and_mainnet_gas_params(SPEC);
                cfg.chain_id = config.chain_id;
                cfg.limit_contract_code_size = Some(MAX_CODE_SIZE);
                cfg.limit_contract_initcode_size = Some(MAX_INITCODE_SIZE);
            })
            .modify_block_chained(|block| {
                block.number = U256::from(ctx.height);
                block.timestamp = U256::from(ctx.timestamp_ms / 1000);
                block.gas_limit = config.block_gas_limit;
                block.basefee = 0;
                block.beneficiary = Address::ZERO;
                block.difficulty = U256::ZERO;
                block.prevrandao = Some(B256::ZERO);
            })
            .build_mainnet_with_inspector(inspector);
        // The EVM is not expected to panic; if it ever does, the transaction
        // fails alike on every node instead of taking the node down.
        let outcome = catch_unwind(AssertUnwindSafe(|| go(&mut evm, tx))).map_err(|_| {
            error!(target: "govchain::execution", tx = %ctx.tx_id, "the EVM panicked; the transaction fails");
            Error::InvalidArgument("the EVM failed on this transaction".into())
        })?;
        outcome.map_err(|e| match e {
            EVMError::Database(DbError(e)) => e,
            EVMError::Transaction(e) => {
                Error::InvalidArgument(format!("transaction refused by the EVM: {e}"))
            }
            other => Error::InvalidArgument(format!("the EVM refused the transaction: {other}")),
        })
    }
}

/// The EVM the engine runs, over a transaction's state, with inspector `I`.
type EngineEvm<'e, 'a, I> = MainnetEvm<MainnetContext<StateDb<'e, 'a>>, I>;

fn invalid(reason: String) -> Error {
    Error::InvalidPayload { contract: NAMESPACE.to_owned(), reason }
}

fn parse_address(text: &str) -> Result<Address> {
    govchain_crypto::Address::from_str(text).map(|a| Address::from(a.0)).map_err(|_| {
        invalid(format!(
            "recipient `{}` is not a contract address (0x followed by 40 hex digits)",
            text.chars().take(64).collect::<String>()
        ))
    })
}

/// The result of a run as the receipt's output, or the failure.
fn output_of(result: ExecutionResult) -> Result<(Vec<u8>, Vec<EvmLog>, u64)> {
    match result {
        ExecutionResult::Success { gas, logs, output, .. } => {
            let out = match output {
                Output::Create(_, Some(address)) => address.0.to_vec(),
                Output::Create(_, None) => Vec::new(),
                Output::Call(data) => data.to_vec(),
            };
            Ok((out, logs.into_iter().map(EvmLog::from).collect(), gas.tx_gas_used()))
        }
        ExecutionResult::Revert { gas, output, .. } => {
            Err(Error::Reverted { reason: revert::reason(&output), gas_used: gas.tx_gas_used() })
        }
        ExecutionResult::Halt { reason, gas, .. } => {
            Err(Error::Halted { reason: revert::halt(&reason), gas_used: gas.tx_gas_used() })
        }
    }
}

impl ExecutionEngine for EvmEngine {
    fn name(&self) -> &str {
        NAMESPACE
    }

    fn tx_types(&self) -> &[TxType] {
        &[TxType::EvmCreate, TxType::EvmCall, TxType::Ethereum]
    }

    fn execute(&self, env: &mut TxEnv<'_>, tx: &Transaction) -> Result<Vec<u8>> {
        let run = self.prepare(tx)?;
        if tx.body.tx_type == TxType::Ethereum {
            ethtx::check_nonce(env, tx)?;
        }
        let limit = self.config.block_gas_limit;
        let remaining = limit.saturating_sub(env.block_gas_used());
        if run.gas_limit > remaining {
            return Err(Error::BlockGasLimit { requested: run.gas_limit, remaining, limit });
        }
        let approved = match run.kind {
            TxKind::Create => governance::check_deploy(env, &self.config.governance, &run.input)?,
            TxKind::Call(_) => None,
        };
        let ResultAndState { result, state } = self.transact(env, run)?;
        env.charge_gas(result.tx_gas_used());
        let (output, logs, gas_used) = output_of(result)?;
        let created = registry::created(&state);
        store::commit(env, state)?;
        for log in &logs {
            let event = log.to_event();
            env.emit(&event.contract, &event.name, event.data);
        }
        registry::record_deployments(env, &created, approved.as_ref())?;
        env.emit(NAMESPACE, "gas_used", format!("{{\"gas_used\":{gas_used}}}").into_bytes());
        Ok(output)
    }

    /// Runs a call read-only, as `eth_call` does: `target` is the contract
    /// address and `data` an [`EvmCall`] payload; the caller is the
    /// context's sender. Nothing is written; the return data is the answer.
    fn query(&self, env: &mut TxEnv<'_>, target: &str, data: &[u8]) -> Result<Vec<u8>> {
        let to = parse_address(target)?;
        let p: EvmCall = payload::decode("evm_call payload", data)?;
        self.check_tx_gas(p.gas_limit)?;
        let run = Run { kind: TxKind::Call(to), input: p.input, gas_limit: p.gas_limit };
        let ResultAndState { result, .. } = self.transact(env, run)?;
        output_of(result).map(|(output, _, _)| output)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked() {
        assert!(EvmConfig::default().validate().is_ok());
        let c = |chain_id, tx, block| EvmConfig {
            chain_id,
            tx_gas_limit_max: tx,
            block_gas_limit: block,
            ..EvmConfig::default()
        };
        assert!(c(0, 30_000_000, 30_000_000).validate().is_err());
        assert!(c(1, 20_999, 30_000_000).validate().is_err());
        assert!(c(1, 30_000_001, 30_000_000).validate().is_err());
        assert!(c(1, 21_000, 21_000).validate().is_ok());
    }

    #[test]
    fn derived_chain_ids_are_stable_distinct_and_small() {
        let a = EvmConfig::chain_id_for("dept-a");
        assert_eq!(a, EvmConfig::chain_id_for("dept-a"));
        assert_ne!(a, EvmConfig::chain_id_for("dept-b"));
        assert!(a > 0 && a < 1 << 48);
    }

    #[test]
    fn contract_addresses_follow_the_ethereum_rule() {
        // A deployment by 0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0 with
        // nonce 0 creates 0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d.
        let sender =
            govchain_crypto::Address::from_str("0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0").unwrap();
        let expected =
            govchain_crypto::Address::from_str("0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d").unwrap();
        assert_eq!(contract_address(&sender, 0), expected);
        assert_ne!(contract_address(&sender, 1), expected);
    }
}
