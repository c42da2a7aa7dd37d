//! The `contracts` system contract: the lifecycle of EVM contracts
//! (upgrade, freeze, unfreeze, access lists), governance proposals and
//! votes, and queries of the [registry](super::registry).
//!
//! Transactions are `invoke` transactions with recipient `contracts` and a
//! JSON [`ContractsCall`] as `data`; queries go to the same contract
//! (`POST /v1/query/contracts`). Every change emits an event of the
//! `contracts` contract, so the lifecycle is auditable from receipts.
//!
//! ```json
//! {"op": "upgrade",  "address": "0x…", "code": "0x<runtime code>"}
//! {"op": "freeze",   "address": "0x…"}
//! {"op": "unfreeze", "address": "0x…"}
//! {"op": "acl",      "address": "0x…", "method": "transfer(address,uint256)", "allow": ["org-a", "0x…"]}
//! {"op": "propose",  "action": {"op": "upgrade", "address": "0x…", "code": "0x…"}, "note": "fix"}
//! {"op": "propose",  "action": {"op": "deploy", "code_hash": "0x<keccak256 of the init code>"}}
//! {"op": "vote",     "id": 1, "approve": true}
//! {"op": "info",     "address": "0x…"}          (query)
//! {"op": "proposal", "id": 1}                   (query)
//! {"op": "proposals", "from": 1, "limit": 50}   (query)
//! {"op": "policy"}                              (query)
//! ```
//!
//! An upgrade takes the new **runtime** code (solc's
//! `evm.deployedBytecode`), at most [`MAX_CODE_SIZE`] bytes: it replaces
//! the code at the same address, and the storage stays. Constructors do
//! not run again, so immutables of the new code must not depend on them.

use std::str::FromStr;

use govchain_crypto::Address as ChainAddress;
use revm::{bytecode::Bytecode, primitives::keccak256};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    EvmConfig, MAX_CODE_SIZE, NAMESPACE as EVM,
    governance::{self, GovernedAction, MAX_LIST},
    hex0x,
    registry::{
        self, CONTRACTS, ContractVersion, DeployApproval, MAX_ACL_METHODS, MAX_ACL_PRINCIPALS, MAX_ORG_NAME,
    },
    store::{self, read_account},
};
use crate::{CallEnv, Error, NativeContract, Result, TxEnv};

/// A change to a contract, sent directly or decided by a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Approve one deployment of init code (with constructor arguments)
    /// whose Keccak-256 is `code_hash`; only through a proposal.
    Deploy {
        /// `0x` + 64 hex digits.
        code_hash: String,
    },
    /// Replace the contract's code with `code` (runtime code), keeping its
    /// address and storage; the version counts on.
    Upgrade {
        /// The contract.
        address: ChainAddress,
        /// The new runtime code.
        #[serde(with = "hex0x")]
        code: Vec<u8>,
    },
    /// Make the contract refuse every call.
    Freeze {
        /// The contract.
        address: ChainAddress,
    },
    /// Let the contract take calls again.
    Unfreeze {
        /// The contract.
        address: ChainAddress,
    },
    /// Set who may call `method` of the contract; an empty `allow` makes
    /// the method open again (or falls back to the `*` list).
    Acl {
        /// The contract.
        address: ChainAddress,
        /// `*` (every method), a selector `0x12345678`, or a signature
        /// `transfer(address,uint256)`.
        method: String,
        /// Accounts (`0x` + 40 hex digits) and organization names.
        allow: Vec<String>,
    },
}

impl Action {
    fn kind(&self) -> GovernedAction {
        match self {
            Action::Deploy { .. } => GovernedAction::Deploy,
            Action::Upgrade { .. } => GovernedAction::Upgrade,
            Action::Freeze { .. } => GovernedAction::Freeze,
            Action::Unfreeze { .. } => GovernedAction::Unfreeze,
            Action::Acl { .. } => GovernedAction::Acl,
        }
    }

    fn address(&self) -> Option<&ChainAddress> {
        match self {
            Action::Deploy { .. } => None,
            Action::Upgrade { address, .. }
            | Action::Freeze { address }
            | Action::Unfreeze { address }
            | Action::Acl { address, .. } => Some(address),
        }
    }
}

/// A call of the `contracts` contract: a JSON object tagged by `op`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractsCall {
    /// A change sent directly by the contract's owner: `upgrade`,
    /// `freeze`, `unfreeze` or `acl` (a `deploy` is approved only through
    /// a proposal).
    Change(Action),
    /// Governance or a query.
    Request(Request),
}

/// The calls of the `contracts` contract other than direct changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Propose `action` to the member organizations.
    Propose {
        /// What runs when the proposal passes.
        action: Action,
        /// Free text, at most [`MAX_NOTE`] bytes.
        #[serde(default)]
        note: String,
    },
    /// Vote on proposal `id` for the sender's organization.
    Vote {
        /// The proposal.
        id: u64,
        /// Approve (`true`) or reject.
        approve: bool,
    },
    /// Query: the registry's record of a contract with its guard.
    Info {
        /// The contract.
        address: ChainAddress,
    },
    /// Query: one proposal.
    Proposal {
        /// The proposal.
        id: u64,
    },
    /// Query: proposals from id `from` on.
    Proposals {
        /// First id (1 when left out).
        #[serde(default)]
        from: u64,
        /// Most to return, at most 100 (100 when left out).
        #[serde(default)]
        limit: usize,
    },
    /// Query: the governance policy in force.
    Policy,
}

/// The `op`s of [`Action`]s.
const ACTION_OPS: [&str; 5] = ["deploy", "upgrade", "freeze", "unfreeze", "acl"];
/// The `op`s of [`Request`]s.
const REQUEST_OPS: [&str; 6] = ["propose", "vote", "info", "proposal", "proposals", "policy"];

impl Serialize for ContractsCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ContractsCall::Change(action) => action.serialize(s),
            ContractsCall::Request(request) => request.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ContractsCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Value::deserialize(d)?;
        let op =
            value.get("op").and_then(Value::as_str).ok_or_else(|| D::Error::custom("missing field `op`"))?;
        if ACTION_OPS.contains(&op) {
            Action::deserialize(value).map(ContractsCall::Change).map_err(D::Error::custom)
        } else if REQUEST_OPS.contains(&op) {
            Request::deserialize(value).map(ContractsCall::Request).map_err(D::Error::custom)
        } else {
            Err(D::Error::custom(format!(
                "unknown op `{}`, expected one of {}",
                op.chars().take(64).collect::<String>(),
                ACTION_OPS
                    .iter()
                    .chain(&REQUEST_OPS)
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

impl ContractsCall {
    /// The JSON payload of this call.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these types cannot fail: no maps with non-string keys.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Longest proposal note, in bytes.
pub const MAX_NOTE: usize = 1024;

/// The `contracts` native contract (see the [module docs](self)); a chain
/// whose genesis names the `evm` engine registers it in its native engine.
#[derive(Debug, Clone)]
pub struct ContractsContract {
    config: EvmConfig,
}

impl ContractsContract {
    /// The contract, governed by `config.governance`.
    pub fn new(config: EvmConfig) -> Self {
        ContractsContract { config }
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidPayload { contract: CONTRACTS.to_owned(), reason }
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("cannot encode the answer: {e}")))
}

impl NativeContract for ContractsContract {
    fn name(&self) -> &str {
        CONTRACTS
    }

    fn call(&self, env: &mut CallEnv<'_>, data: &[u8]) -> Result<Vec<u8>> {
        let call: ContractsCall = serde_json::from_slice(data).map_err(|e| invalid(e.to_string()))?;
        let env = &mut env.tx_env();
        let policy = &self.config.governance;
        let request = match call {
            ContractsCall::Change(action) => return self.direct(env, action),
            ContractsCall::Request(request) => request,
        };
        let out = match request {
            Request::Propose { action, note } => {
                if note.len() > MAX_NOTE {
                    return Err(invalid(format!("note of {} bytes exceeds {MAX_NOTE}", note.len())));
                }
                check(env, &action)?;
                let p = governance::propose(env, policy, action, note, |env, p| {
                    apply(env, &p.action, Some((p.id, &p.organization)))
                })?;
                to_json(&p)?
            }
            Request::Vote { id, approve } => {
                let p = governance::vote(env, policy, id, approve, |env, p| {
                    apply(env, &p.action, Some((p.id, &p.organization)))
                })?;
                to_json(&p)?
            }
            Request::Info { address } => {
                let info = registry::info_of(env, &address)?;
                let guard = registry::read_guard(env, &address.0)?;
                to_json(&json!({
                    "address": info.address,
                    "owner": info.owner,
                    "active_version": info.active_version,
                    "versions": info.versions,
                    "frozen": guard.frozen,
                    "acl": guard.acl,
                }))?
            }
            Request::Proposal { id } => to_json(&governance::read_proposal(env, id)?)?,
            Request::Proposals { from, limit } => {
                let limit = if limit == 0 { MAX_LIST } else { limit };
                to_json(&governance::list_proposals(env, from, limit)?)?
            }
            Request::Policy => to_json(&json!({
                "members": policy.members,
                "threshold": policy.required(),
                "actions": policy.actions,
                "proposal_ttl_blocks": policy.ttl(),
                "proposer_votes": !policy.proposer_abstains,
            }))?,
        };
        Ok(out)
    }
}

impl ContractsContract {
    /// An action sent directly: allowed to the contract's owner when the
    /// policy does not govern it.
    fn direct(&self, env: &mut TxEnv<'_>, action: Action) -> Result<Vec<u8>> {
        let policy = &self.config.governance;
        let kind = action.kind();
        if kind == GovernedAction::Deploy {
            return Err(Error::PermissionDenied(
                "a deployment is approved only through a proposal ({\"op\":\"propose\",\"action\":{\"op\":\"deploy\",…}}); deploy with an evm_create transaction".into(),
            ));
        }
        if policy.governs(kind) {
            return Err(Error::PermissionDenied(format!(
                "`{}` is governed on this chain: send {{\"op\":\"propose\",\"action\":{{\"op\":\"{}\",…}}}} and it runs once {}",
                kind.as_str(),
                kind.as_str(),
                policy.describe()
            )));
        }
        if let Some(address) = action.address() {
            let info = registry::info_of(env, address)?;
            let org = &env.ctx().org;
            if info.owner != *org {
                return Err(Error::PermissionDenied(format!(
                    "contract {address} belongs to organization `{}`; only it or a governance proposal may {} it (the caller's organization is `{org}`)",
                    info.owner,
                    kind.as_str()
                )));
            }
        }
        to_json(&apply(env, &action, None)?)
    }
}

/// The canonical form of an access-list method: `*` or `0x` + 8 hex digits.
pub fn method_key(method: &str) -> Result<String> {
    let method = method.trim();
    if method == "*" {
        return Ok("*".into());
    }
    if method.contains('(') {
        if !method.ends_with(')') || method.len() > 1024 || method.contains(char::is_whitespace) {
            return Err(invalid(format!(
                "method `{method}` is not a signature like `transfer(address,uint256)`"
            )));
        }
        return Ok(format!("0x{}", hex::encode(&keccak256(method.as_bytes())[..4])));
    }
    let digits = method.strip_prefix("0x").unwrap_or(method);
    let mut selector = [0u8; 4];
    hex::decode_to_slice(digits, &mut selector).map_err(|_| {
        invalid(format!(
            "method `{}` is not `*`, a selector (0x + 8 hex digits) or a signature",
            method.chars().take(80).collect::<String>()
        ))
    })?;
    Ok(format!("0x{}", hex::encode(selector)))
}

/// The canonical form of an access-list principal: a lowercase `0x`
/// address, or an organization name.
fn principal(p: &str) -> Result<String> {
    let p = p.trim();
    if p.starts_with("0x") || p.starts_with("0X") {
        return ChainAddress::from_str(p)
            .map(|a| a.to_string())
            .map_err(|e| invalid(format!("access list entry: {e}")));
    }
    if p.is_empty() || p.len() > MAX_ORG_NAME || p.chars().any(char::is_control) {
        return Err(invalid(format!(
            "access list entry `{p}` must be an address or an organization name of 1 to {MAX_ORG_NAME} bytes"
        )));
    }
    Ok(p.to_owned())
}

fn code_hash_arg(text: &str) -> Result<[u8; 32]> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut hash = [0u8; 32];
    hex::decode_to_slice(digits, &mut hash)
        .map_err(|_| invalid("code_hash must be 0x followed by 64 hex digits".into()))?;
    Ok(hash)
}

fn check_code(code: &[u8]) -> Result<()> {
    if code.is_empty() {
        return Err(invalid("code is empty".into()));
    }
    if code.len() > MAX_CODE_SIZE {
        return Err(invalid(format!(
            "runtime code of {} bytes exceeds the limit of {MAX_CODE_SIZE} bytes (EIP-170)",
            code.len()
        )));
    }
    if code[0] == 0xef {
        return Err(invalid("code starting with 0xEF is reserved (EIP-3541)".into()));
    }
    Bytecode::new_raw_checked(code.to_vec().into())
        .map_err(|e| invalid(format!("code does not decode: {e}")))?;
    Ok(())
}

/// Checks that `action` can run now, without changing anything.
fn check(env: &TxEnv<'_>, action: &Action) -> Result<()> {
    if let Some(address) = action.address() {
        registry::info_of(env, address)?;
    }
    match action {
        Action::Deploy { code_hash } => {
            let hash = code_hash_arg(code_hash)?;
            if registry::read_approval(env, &hash)?.is_some() {
                return Err(Error::Conflict(format!(
                    "init code {code_hash} is approved for deployment already"
                )));
            }
        }
        Action::Upgrade { address, code } => {
            check_code(code)?;
            let account = read_account(&env.view(), &address.0)?
                .filter(|a| a.has_code())
                .ok_or_else(|| Error::NotFound(format!("no contract code at {address}")))?;
            if account.code_hash == keccak256(code).0 {
                return Err(Error::Conflict(format!("contract {address} runs this code already")));
            }
        }
        Action::Freeze { address } => {
            if registry::read_guard(env, &address.0)?.frozen {
                return Err(Error::Conflict(format!("contract {address} is frozen already")));
            }
        }
        Action::Unfreeze { address } => {
            if !registry::read_guard(env, &address.0)?.frozen {
                return Err(Error::Conflict(format!("contract {address} is not frozen")));
            }
        }
        Action::Acl { address, method, allow } => {
            method_key(method)?;
            if allow.len() > MAX_ACL_PRINCIPALS {
                return Err(invalid(format!("an access list holds at most {MAX_ACL_PRINCIPALS} entries")));
            }
            for p in allow {
                principal(p)?;
            }
            let guard = registry::read_guard(env, &address.0)?;
            if guard.acl.len() >= MAX_ACL_METHODS && !guard.acl.contains_key(&method_key(method)?) {
                return Err(invalid(format!("a contract has at most {MAX_ACL_METHODS} access lists")));
            }
        }
    }
    Ok(())
}

/// Runs `action` (checked first), decided by `proposal` (its id and the
/// proposing organization) or by the owner; returns what it did, as JSON.
fn apply(env: &mut TxEnv<'_>, action: &Action, decided_by: Option<(u64, &str)>) -> Result<Value> {
    let proposal = decided_by.map(|(id, _)| id);
    check(env, action)?;
    let ctx = env.ctx().clone();
    let (name, result) = match action {
        Action::Deploy { code_hash } => {
            let hash = code_hash_arg(code_hash)?;
            let organization = decided_by.map_or_else(|| ctx.org.clone(), |(_, org)| org.to_owned());
            let approval = DeployApproval { organization, proposal: proposal.unwrap_or(0) };
            registry::write_approval(env, &hash, &approval)?;
            ("deploy_approved", json!({ "code_hash": code_hash, "organization": approval.organization }))
        }
        Action::Upgrade { address, code } => {
            let hash = keccak256(code).0;
            let ckey = store::code_key(&hash);
            if env.get(EVM, &ckey)?.is_none() {
                env.put(EVM, &ckey, code)?;
            }
            let mut account = read_account(&env.view(), &address.0)?
                .ok_or_else(|| Error::NotFound(format!("no contract code at {address}")))?;
            account.code_hash = hash;
            env.put(EVM, &store::account_key(&address.0), &account.encode())?;
            let mut info = registry::info_of(env, address)?;
            let version = format!("{}.0", info.versions.len() + 1);
            info.versions.push(ContractVersion::new(&ctx, version.clone(), &hash, proposal));
            info.active_version = version.clone();
            registry::write_info(env, &info)?;
            (
                "upgraded",
                json!({ "address": address, "version": version, "code_hash": format!("0x{}", hex::encode(hash)) }),
            )
        }
        Action::Freeze { address } | Action::Unfreeze { address } => {
            let frozen = matches!(action, Action::Freeze { .. });
            let mut guard = registry::read_guard(env, &address.0)?;
            guard.frozen = frozen;
            registry::write_guard(env, &address.0, &guard)?;
            (if frozen { "frozen" } else { "unfrozen" }, json!({ "address": address, "frozen": frozen }))
        }
        Action::Acl { address, method, allow } => {
            let method = method_key(method)?;
            let mut allow = allow.iter().map(|p| principal(p)).collect::<Result<Vec<_>>>()?;
            allow.sort();
            allow.dedup();
            let mut guard = registry::read_guard(env, &address.0)?;
            if allow.is_empty() {
                guard.acl.remove(&method);
            } else {
                guard.acl.insert(method.clone(), allow.clone());
            }
            registry::write_guard(env, &address.0, &guard)?;
            ("acl_changed", json!({ "address": address, "method": method, "allow": allow }))
        }
    };
    let mut event = result.clone();
    if let (Some(id), Some(map)) = (proposal, event.as_object_mut()) {
        map.insert("proposal".into(), json!(id));
    }
    env.emit(CONTRACTS, name, event.to_string().into_bytes());
    Ok(result)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn methods_take_wildcards_selectors_and_signatures() {
        assert_eq!(method_key("*").unwrap(), "*");
        assert_eq!(method_key("0xA9059CBB").unwrap(), "0xa9059cbb");
        assert_eq!(method_key("transfer(address,uint256)").unwrap(), "0xa9059cbb");
        assert!(method_key("0x1234").is_err());
        assert!(method_key("transfer(address").is_err());
        assert!(method_key("").is_err());
    }

    #[test]
    fn principals_are_addresses_or_organization_names() {
        assert_eq!(
            principal("0xAB00000000000000000000000000000000000001").unwrap(),
            "0xab00000000000000000000000000000000000001"
        );
        assert!(principal("0x12").is_err());
        assert_eq!(principal(" org-a ").unwrap(), "org-a");
        assert!(principal("").is_err());
        assert!(principal("a\nb").is_err());
    }

    #[test]
    fn calls_parse_from_their_json_form_and_refuse_unknown_ops() {
        let call: ContractsCall = serde_json::from_str(r#"{"op":"vote","id":3,"approve":false}"#).unwrap();
        assert_eq!(call, ContractsCall::Request(Request::Vote { id: 3, approve: false }));
        let freeze: ContractsCall =
            serde_json::from_str(r#"{"op":"freeze","address":"0x0000000000000000000000000000000000000001"}"#)
                .unwrap();
        assert!(matches!(freeze, ContractsCall::Change(Action::Freeze { .. })));
        assert_eq!(serde_json::from_slice::<ContractsCall>(&freeze.to_json()).unwrap(), freeze);
        let back: ContractsCall = serde_json::from_slice(&call.to_json()).unwrap();
        assert_eq!(back, call);
        let err = serde_json::from_str::<ContractsCall>(r#"{"op":"delete","address":"0x00"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown op `delete`, expected one of `deploy`"), "{err}");
        assert!(serde_json::from_str::<ContractsCall>(r#"{"op":"freeze","address":"0x12"}"#).is_err());
    }
}
