//! The contract registry: what the chain knows about each EVM contract
//! beyond its code and storage, kept in the `contracts` key space of the
//! state store (so history, proofs and state roots cover it).
//!
//! Keys of the `contracts` key space:
//!
//! | key | value |
//! |-----|-------|
//! | `i` ‖ address (20) | [`ContractInfo`] as JSON: owner, versions, active version |
//! | `g` ‖ address (20) | [`GuardRecord`] as JSON: frozen flag and access lists; absent when open |
//! | `G` | number of `g` records (`u64` BE); absent or 0: no contract is guarded |
//! | `d` ‖ init code hash (32) | [`DeployApproval`] as JSON: a governed deployment approved |
//! | `p` ‖ id (`u64` BE) | a [`Proposal`](super::governance::Proposal) as JSON |
//! | `N` | the last proposal id (`u64` BE) |
//!
//! **Guards.** A frozen contract refuses every call; a contract with access
//! lists refuses callers outside them. The engine checks the transaction's
//! own call before the EVM runs ([`check_call`]) and every call one
//! contract makes to another while it runs ([`Guard`], a revm inspector),
//! so contracts calling each other obey the same rules. Inside the EVM the
//! caller of an inner call is the calling contract's address (the executing
//! contract for `DELEGATECALL`/`CALLCODE`); organizations match the
//! transaction's own caller only, so a contract that is to call a guarded
//! one must be listed by address. An inner call that is refused reverts
//! with `Error(string)` naming the contract and why, which Solidity's
//! high-level calls pass on to the transaction.
//!
//! While no contract is guarded (`G` is 0), the EVM runs without the
//! inspector, at full speed.

use std::collections::BTreeMap;

use govchain_crypto::Address as ChainAddress;
use govchain_types::Hash;
use revm::{
    Inspector,
    context_interface::ContextTr,
    interpreter::{
        CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, Gas, InstructionResult,
        InterpreterResult, InterpreterTypes,
    },
    primitives::{Address, Bytes},
    state::EvmState,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, TxEnv};

/// The key space of the registry, and the name of the native contract
/// that changes it ([`ContractsContract`](super::ContractsContract)).
pub const CONTRACTS: &str = "contracts";

/// The version label a deployment gets; upgrades count on (`2.0`, `3.0` ...).
pub const FIRST_VERSION: &str = "1.0";

/// Most principals in one access list.
pub const MAX_ACL_PRINCIPALS: usize = 256;
/// Most access lists (methods) per contract.
pub const MAX_ACL_METHODS: usize = 256;
/// Longest organization name in an access list.
pub const MAX_ORG_NAME: usize = 128;

const INFO: u8 = b'i';
const GUARD: u8 = b'g';
const GUARDED: &[u8] = b"G";
const APPROVAL: u8 = b'd';

fn key(tag: u8, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(tag);
    k.extend_from_slice(id);
    k
}

/// One version of a contract's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractVersion {
    /// `1.0` for the deployment, then `2.0`, `3.0` ...
    pub version: String,
    /// Keccak-256 of the runtime code, `0x`-prefixed hex.
    pub code_hash: String,
    /// The account that sent the deployment or upgrade.
    pub deployer: ChainAddress,
    /// The organization it acted for.
    pub organization: String,
    /// The proposal that decided it, for governed changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u64>,
    /// Height of the block that made it.
    pub height: u64,
    /// The transaction that made it.
    pub tx_id: Hash,
    /// Block time, ms since 1970.
    pub timestamp_ms: u64,
}

impl ContractVersion {
    /// Version `version` with code `code_hash`, made by the transaction of
    /// `ctx`, decided by `proposal` if governed.
    pub(crate) fn new(
        ctx: &crate::TxContext,
        version: String,
        code_hash: &[u8; 32],
        proposal: Option<u64>,
    ) -> Self {
        ContractVersion {
            version,
            code_hash: format!("0x{}", hex::encode(code_hash)),
            deployer: ctx.sender,
            organization: ctx.org.clone(),
            proposal,
            height: ctx.height,
            tx_id: ctx.tx_id,
            timestamp_ms: ctx.timestamp_ms,
        }
    }
}

/// What the registry records for one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractInfo {
    /// The contract's address; it never changes across versions.
    pub address: ChainAddress,
    /// The owning organization: the deployer's, at version 1.0. Only it
    /// (or governance) may upgrade, freeze, unfreeze or set access lists.
    pub owner: String,
    /// The version that runs (the last one).
    pub active_version: String,
    /// Every version, oldest first.
    pub versions: Vec<ContractVersion>,
}

/// The guard of a contract: frozen or not, and who may call which method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRecord {
    /// A frozen contract refuses every call.
    #[serde(default)]
    pub frozen: bool,
    /// Method (`0x` + 8 hex digits of the selector, or `*` for every
    /// method) -> the accounts (`0x` addresses) and organizations that may
    /// call it. A method without a list of its own takes the `*` list; no
    /// list at all means open.
    #[serde(default)]
    pub acl: BTreeMap<String, Vec<String>>,
}

impl GuardRecord {
    fn is_open(&self) -> bool {
        !self.frozen && self.acl.is_empty()
    }

    /// Why `caller` (with organization `org`, if it is the transaction's
    /// own caller) may not call `contract` with `input`, if it may not.
    pub fn refusal(
        &self,
        contract: &Address,
        caller: &Address,
        org: Option<&str>,
        input: &[u8],
    ) -> Option<String> {
        if self.frozen {
            return Some(format!(
                "contract {} is frozen; it refuses calls until it is unfrozen",
                lower(contract)
            ));
        }
        let method = input.get(..4).map(|s| format!("0x{}", hex::encode(s)));
        let list = method.as_ref().and_then(|m| self.acl.get(m)).or_else(|| self.acl.get("*"))?;
        let caller_text = lower(caller);
        if list.iter().any(|p| *p == caller_text || org.is_some_and(|o| o == p)) {
            return None;
        }
        let who = match org {
            Some(org) => format!("caller {caller_text} (organization `{org}`)"),
            None => format!("calling contract {caller_text}"),
        };
        Some(format!(
            "{who} is not on the access list of contract {} for method {}",
            lower(contract),
            method.as_deref().unwrap_or("* (call without a selector)")
        ))
    }
}

fn lower(address: &Address) -> String {
    ChainAddress(address.0.0).to_string()
}

/// A governed deployment that was approved: an `evm_create` whose init
/// code (with constructor arguments) has this hash may then run once, sent
/// by a member of `organization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployApproval {
    /// The organization that proposed it.
    pub organization: String,
    /// The proposal that approved it.
    pub proposal: u64,
}

fn read_json<T: serde::de::DeserializeOwned>(env: &TxEnv<'_>, key: &[u8], what: &str) -> Result<Option<T>> {
    env.get(CONTRACTS, key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| Error::storage(Corrupt(format!("{what}: {e}"))))
        })
        .transpose()
}

pub(crate) fn write_json<T: Serialize>(env: &mut TxEnv<'_>, key: &[u8], value: &T) -> Result<()> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("cannot encode: {e}")))?;
    env.put(CONTRACTS, key, &bytes)
}

/// A registry record that this engine could not have written.
#[derive(Debug, thiserror::Error)]
#[error("corrupt contract registry: {0}")]
struct Corrupt(String);

/// The registry's record of `address`, if it is a registered contract.
pub fn read_info(env: &TxEnv<'_>, address: &[u8; 20]) -> Result<Option<ContractInfo>> {
    read_json(env, &key(INFO, address), "contract info")
}

/// [`read_info`], failing with a clear error when the contract is unknown.
pub(crate) fn info_of(env: &TxEnv<'_>, address: &ChainAddress) -> Result<ContractInfo> {
    read_info(env, &address.0)?
        .ok_or_else(|| Error::NotFound(format!("contract {address} is not in the contract registry")))
}

pub(crate) fn write_info(env: &mut TxEnv<'_>, info: &ContractInfo) -> Result<()> {
    write_json(env, &key(INFO, &info.address.0), info)
}

/// The guard of `address` (open when none is stored).
pub fn read_guard(env: &TxEnv<'_>, address: &[u8; 20]) -> Result<GuardRecord> {
    Ok(read_json(env, &key(GUARD, address), "contract guard")?.unwrap_or_default())
}

fn guarded_count(env: &TxEnv<'_>) -> Result<u64> {
    let Some(bytes) = env.get(CONTRACTS, GUARDED)? else { return Ok(0) };
    let bytes: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::storage(Corrupt(format!("guard count has {} bytes", bytes.len()))))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Whether any contract of the chain is frozen or has access lists.
pub(crate) fn any_guarded(env: &TxEnv<'_>) -> Result<bool> {
    Ok(guarded_count(env)? > 0)
}

/// Stores the guard of `address`, deleting it when it is open, and keeps
/// the count of guarded contracts.
pub(crate) fn write_guard(env: &mut TxEnv<'_>, address: &[u8; 20], guard: &GuardRecord) -> Result<()> {
    let k = key(GUARD, address);
    let existed = env.get(CONTRACTS, &k)?.is_some();
    let count = guarded_count(env)?;
    let count = match (existed, guard.is_open()) {
        (false, false) => count.saturating_add(1),
        (true, true) => count.saturating_sub(1),
        _ => count,
    };
    if guard.is_open() {
        if existed {
            env.delete(CONTRACTS, &k)?;
        }
    } else {
        write_json(env, &k, guard)?;
    }
    env.put(CONTRACTS, GUARDED, &count.to_be_bytes())
}

/// Checks the transaction's own call of `to` by the transaction's sender:
/// refused with [`Error::PermissionDenied`] when `to` is frozen or its
/// access list leaves the sender out.
pub(crate) fn check_call(env: &TxEnv<'_>, to: &Address, input: &[u8]) -> Result<()> {
    if !any_guarded(env)? {
        return Ok(());
    }
    let ctx = env.ctx();
    let guard = read_guard(env, &to.0.0)?;
    match guard.refusal(to, &Address::from(ctx.sender.0), Some(&ctx.org), input) {
        Some(why) => Err(Error::PermissionDenied(why)),
        None => Ok(()),
    }
}

/// The revm inspector that applies guards to the calls contracts make to
/// each other (the transaction's own call is checked by [`check_call`]).
pub(crate) struct Guard<'e, 'a> {
    env: &'e TxEnv<'a>,
    /// Whether the transaction's own frame has started.
    started: bool,
    /// A storage failure met while checking; the transaction's result is
    /// then this error.
    pub(crate) failure: Option<Error>,
}

impl<'e, 'a> Guard<'e, 'a> {
    pub(crate) fn new(env: &'e TxEnv<'a>) -> Self {
        Guard { env, started: false, failure: None }
    }
}

/// The ABI encoding of `Error(string)` with `message`, as Solidity's
/// `revert("...")` returns it.
fn error_string(message: &str) -> Bytes {
    let text = message.as_bytes();
    let padded = text.len().div_ceil(32) * 32;
    let mut out = Vec::with_capacity(4 + 64 + padded);
    out.extend_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
    let mut word = [0u8; 32];
    word[31] = 32;
    out.extend_from_slice(&word);
    word = [0u8; 32];
    word[24..].copy_from_slice(&(text.len() as u64).to_be_bytes());
    out.extend_from_slice(&word);
    out.extend_from_slice(text);
    out.resize(4 + 64 + padded, 0);
    out.into()
}

impl<CTX: ContextTr, INTR: InterpreterTypes> Inspector<CTX, INTR> for Guard<'_, '_> {
    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        if !std::mem::replace(&mut self.started, true) {
            return None;
        }
        let requester = match inputs.scheme {
            CallScheme::DelegateCall | CallScheme::CallCode => inputs.target_address,
            CallScheme::Call | CallScheme::StaticCall => inputs.caller,
        };
        let guard = match read_guard(self.env, &inputs.bytecode_address.0.0) {
            Ok(guard) => guard,
            Err(e) => {
                self.failure.get_or_insert(e);
                return Some(refused(inputs, Bytes::new()));
            }
        };
        if guard.is_open() {
            return None;
        }
        let input = inputs.input.bytes(context);
        let why = guard.refusal(&inputs.bytecode_address, &requester, None, &input)?;
        Some(refused(inputs, error_string(&why)))
    }

    fn create(&mut self, _context: &mut CTX, _inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.started = true;
        None
    }
}

fn refused(inputs: &CallInputs, output: Bytes) -> CallOutcome {
    CallOutcome::new(
        InterpreterResult::new(InstructionResult::Revert, output, Gas::new(inputs.gas_limit)),
        inputs.return_memory_offset.clone(),
    )
}

/// The contracts a transaction created, with their code hashes, by address.
pub(crate) fn created(state: &EvmState) -> Vec<(Address, [u8; 32])> {
    let mut out: Vec<(Address, [u8; 32])> = state
        .iter()
        .filter(|(_, a)| {
            a.is_created() && !a.is_selfdestructed() && a.info.code_hash != revm::primitives::KECCAK_EMPTY
        })
        .map(|(address, a)| (*address, a.info.code_hash.0))
        .collect();
    out.sort_unstable_by_key(|(address, _)| *address);
    out
}

/// Records version 1.0 of each contract a successful transaction created,
/// owned by the transaction's organization, with a `deployed` event each.
/// `approved` is the init code hash of a governed deployment, whose
/// approval is used up.
pub(crate) fn record_deployments(
    env: &mut TxEnv<'_>,
    created: &[(Address, [u8; 32])],
    approved: Option<&[u8; 32]>,
) -> Result<()> {
    let proposal = match approved {
        Some(hash) => {
            let approval = read_approval(env, hash)?;
            env.delete(CONTRACTS, &key(APPROVAL, hash))?;
            approval.map(|a| a.proposal)
        }
        None => None,
    };
    for (address, code_hash) in created {
        let ctx = env.ctx().clone();
        let version = ContractVersion::new(&ctx, FIRST_VERSION.to_owned(), code_hash, proposal);
        let info = ContractInfo {
            address: ChainAddress(address.0.0),
            owner: ctx.org.clone(),
            active_version: FIRST_VERSION.to_owned(),
            versions: vec![version.clone()],
        };
        write_info(env, &info)?;
        let event = serde_json::json!({ "address": info.address, "version": version });
        env.emit(CONTRACTS, "deployed", event.to_string().into_bytes());
    }
    Ok(())
}

/// The approval of a governed deployment of init code `init_hash`, if any.
pub(crate) fn read_approval(env: &TxEnv<'_>, init_hash: &[u8; 32]) -> Result<Option<DeployApproval>> {
    read_json(env, &key(APPROVAL, init_hash), "deploy approval")
}

pub(crate) fn write_approval(
    env: &mut TxEnv<'_>,
    init_hash: &[u8; 32],
    approval: &DeployApproval,
) -> Result<()> {
    write_json(env, &key(APPROVAL, init_hash), approval)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn error_strings_decode_as_solidity_reverts() {
        let out = error_string("contract 0x01 is frozen");
        assert_eq!(super::super::revert::reason(&out), "contract 0x01 is frozen");
        assert_eq!(out.len(), 4 + 64 + 32);
    }

    #[test]
    fn access_lists_fall_back_to_the_wildcard_and_match_accounts_or_organizations() {
        let c = Address::repeat_byte(1);
        let alice = Address::repeat_byte(2);
        let mut g = GuardRecord::default();
        assert!(g.refusal(&c, &alice, Some("org-a"), &[1, 2, 3, 4]).is_none());
        g.acl.insert("*".into(), vec!["org-b".into()]);
        g.acl.insert("0x01020304".into(), vec![lower(&alice)]);
        assert!(g.refusal(&c, &alice, Some("org-a"), &[1, 2, 3, 4, 9]).is_none());
        let why = g.refusal(&c, &alice, Some("org-a"), &[9, 9, 9, 9]).unwrap();
        assert!(why.contains("not on the access list") && why.contains("0x09090909"), "{why}");
        assert!(g.refusal(&c, &alice, Some("org-b"), &[]).is_none());
        assert!(g.refusal(&c, &alice, None, &[]).unwrap().contains("calling contract"));
        g.frozen = true;
        assert!(g.refusal(&c, &alice, Some("org-b"), &[]).unwrap().contains("is frozen"));
    }
}
