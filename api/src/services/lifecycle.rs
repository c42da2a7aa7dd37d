//! The lifecycle of deployed contracts (SPEC SC-3, SC-4, SC-5): new code
//! saved as a draft, upgrades that keep the address and the state, freeze
//! and unfreeze, access lists, and the chain's governance (proposals and
//! votes of its member organizations).
//!
//! The chain decides: every change is a transaction of the `contracts`
//! system contract, signed for the caller's organization, and refused by
//! the chain when its rules say no (not the owner, not a member, governed).
//! An action the chain's policy governs is sent as a proposal instead; it
//! runs inside the vote that reaches the threshold. After each change the
//! platform reads the contract's record back from the chain ([`sync`]), so
//! its rows follow what the chain says, also for changes made with the
//! CLI.

use govchain_execution::{abi::Abi, evm::governance::deploy_code_hash};
use govchain_types::{Receipt, TxStatus};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    TransactionTrait,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    AppState,
    domain::{ContractState, VersionStatus},
    entity::{chain, contract, contract_version, org},
    error::{ApiError, Result},
    now_ms,
    services::contracts::{self, DEFAULT_GAS},
};

/// The system contract that keeps the registry, proposals and votes.
const CONTRACTS: &str = "contracts";
/// The most proposals one listing returns (the chain's own limit).
pub const MAX_PROPOSALS: usize = 100;

/// A chain's contract governance, as the chain reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    /// Member organizations that propose and vote.
    pub members: Vec<String>,
    /// Approvals a proposal needs.
    pub threshold: u64,
    /// The actions that need a proposal.
    pub actions: Vec<String>,
    /// Blocks after which an open proposal expires.
    pub proposal_ttl_blocks: u64,
    /// Whether a proposal counts as its proposer's approval.
    pub proposer_votes: bool,
}

impl Policy {
    /// Whether `action` (`deploy`, `upgrade`, ...) needs a proposal.
    pub fn governs(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

fn refused(message: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "chain_refused",
        format!("the chain refused it: {message}"),
    )
}

/// A query of the `contracts` system contract on the first node that
/// answers.
pub async fn query(db: &impl ConnectionTrait, c: &chain::Model, op: &Value) -> Result<Value> {
    let payload = &op.to_string().into_bytes();
    let answer =
        contracts::ask_nodes(
            db,
            c,
            "the query",
            |client| async move { client.query(CONTRACTS, payload).await },
        )
        .await?;
    answer
        .map_err(|r| if r.code == "not_found" { ApiError::not_found(r.message) } else { refused(&r.message) })
}

/// The chain's contract governance policy.
pub async fn policy(db: &impl ConnectionTrait, c: &chain::Model) -> Result<Policy> {
    let v = query(db, c, &json!({"op": "policy"})).await?;
    serde_json::from_value(v.clone())
        .map_err(|e| contracts::node_failed(format!("the chain reported an unreadable policy ({e}): {v}")))
}

/// Proposals from number `from` on, at most `limit`.
pub async fn proposals(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    from: u64,
    limit: usize,
) -> Result<Vec<Value>> {
    let v = query(db, c, &json!({"op": "proposals", "from": from, "limit": limit})).await?;
    match v {
        Value::Array(list) => Ok(list),
        other => Err(contracts::node_failed(format!("the chain listed proposals as {other}"))),
    }
}

/// Sends `op` to the `contracts` contract for `org_domain`; a transaction
/// the chain fails is refused with its message.
async fn send(state: &AppState, c: &chain::Model, org_domain: &str, op: &Value) -> Result<Receipt> {
    let wallet = contracts::wallet(state, c, org_domain).await?;
    let tx = wallet
        .invoke(CONTRACTS, op.to_string().into_bytes(), "")
        .map_err(|e| ApiError::internal("signing a contract lifecycle transaction", e))?;
    let r = contracts::submit(&state.db, c, &tx).await?;
    if r.status != TxStatus::Success {
        return Err(refused(&r.message));
    }
    Ok(r)
}

fn output_json(r: &Receipt) -> Result<Value> {
    serde_json::from_slice(&r.output)
        .map_err(|e| contracts::node_failed(format!("the chain answered with unreadable JSON: {e}")))
}

/// New code for a deployed contract, checked.
#[derive(Debug)]
pub struct Draft {
    /// Its ABI.
    pub abi: Abi,
    /// Runtime code (what an upgrade installs).
    pub runtime: Vec<u8>,
    /// Creation code, kept for download (may be empty).
    pub bytecode: Vec<u8>,
    /// The Solidity source, if given.
    pub source: String,
}

fn require_deployed(k: &contract::Model) -> Result<()> {
    if !matches!(k.state, ContractState::Active | ContractState::Frozen) {
        return Err(ApiError::conflict(format!(
            "contract {} is {}: only a deployed contract changes",
            k.name, k.state
        )));
    }
    Ok(())
}

/// Saves `d` as the contract's draft: the version the next upgrade
/// installs (`2.0` after `1.0`, ...). A draft that is not yet proposed is
/// replaced.
pub async fn add_draft(
    state: &AppState,
    c: &chain::Model,
    k: &contract::Model,
    user_id: i64,
    d: Draft,
) -> Result<contract_version::Model> {
    require_deployed(k)?;
    let info = query(&state.db, c, &json!({"op": "info", "address": k.address})).await?;
    let on_chain = info["versions"].as_array().map_or(0, Vec::len);
    let label = format!("{}.0", on_chain + 1);
    let txn = state.db.begin().await?;
    let drafts = contract_version::Entity::find()
        .filter(contract_version::Column::ContractId.eq(k.id))
        .filter(contract_version::Column::Status.eq(VersionStatus::Draft))
        .all(&txn)
        .await?;
    if let Some(p) = drafts.iter().find(|v| v.proposal_id != 0) {
        return Err(ApiError::conflict(format!(
            "draft {} is proposed (proposal {}); it is decided first",
            p.version, p.proposal_id
        )));
    }
    contract_version::Entity::delete_many()
        .filter(contract_version::Column::ContractId.eq(k.id))
        .filter(contract_version::Column::Status.eq(VersionStatus::Draft))
        .exec(&txn)
        .await?;
    let v = contract_version::ActiveModel {
        contract_id: Set(k.id),
        version: Set(label),
        status: Set(VersionStatus::Draft),
        bytecode: Set(hex::encode(&d.bytecode)),
        abi: Set(d.abi.to_json().to_string()),
        source: Set(d.source),
        tx_id: Set(String::new()),
        user_id: Set(user_id),
        created_at: Set(now_ms()),
        runtime: Set(hex::encode(&d.runtime)),
        args: Set(String::new()),
        proposal_id: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(v)
}

/// A change to a deployed contract.
#[derive(Debug)]
pub enum Change {
    /// Install the draft (or the named draft version).
    Upgrade {
        /// The draft's version label, when named.
        version: Option<String>,
    },
    /// Refuse every call.
    Freeze,
    /// Take calls again.
    Unfreeze,
    /// Who may call `method` (`*` for every method); empty opens it.
    Acl {
        /// `name(type,…)` or `*`.
        method: String,
        /// Organizations or `0x` accounts.
        allow: Vec<String>,
    },
}

/// What a change did.
#[derive(Debug)]
pub struct Changed {
    /// The contract as the chain now records it.
    pub contract: contract::Model,
    /// The transaction.
    pub tx_id: String,
    /// Its block.
    pub height: u64,
    /// The proposal, when the chain's policy governs the action.
    pub proposal: Option<Value>,
}

/// Makes `change` to `k` for organization `org_domain`: directly, or as a
/// proposal when the chain's policy governs it (`note` goes with it).
pub async fn change(
    state: &AppState,
    c: &chain::Model,
    k: contract::Model,
    org_domain: &str,
    change: Change,
    note: &str,
) -> Result<Changed> {
    require_deployed(&k)?;
    let mut draft = None;
    let action = match change {
        Change::Upgrade { version } => {
            let d = contract_version::Entity::find()
                .filter(contract_version::Column::ContractId.eq(k.id))
                .filter(contract_version::Column::Status.eq(VersionStatus::Draft))
                .one(&state.db)
                .await?
                .filter(|d| version.as_ref().is_none_or(|want| *want == d.version))
                .ok_or_else(|| match &version {
                    Some(want) => ApiError::not_found(format!("contract {} has no draft {want}", k.name)),
                    None => ApiError::conflict(format!(
                        "contract {} has no draft: save the new code as a version first",
                        k.name
                    )),
                })?;
            if d.proposal_id != 0 {
                return Err(ApiError::conflict(format!(
                    "draft {} is already proposed (proposal {})",
                    d.version, d.proposal_id
                )));
            }
            let action = json!({"op": "upgrade", "address": k.address, "code": format!("0x{}", d.runtime)});
            draft = Some(d);
            action
        }
        Change::Freeze => json!({"op": "freeze", "address": k.address}),
        Change::Unfreeze => json!({"op": "unfreeze", "address": k.address}),
        Change::Acl { method, allow } => {
            json!({"op": "acl", "address": k.address, "method": method, "allow": allow})
        }
    };
    let kind = action["op"].as_str().unwrap_or_default().to_owned();
    let governed = policy(&state.db, c).await?.governs(&kind);
    let op = if governed { json!({"op": "propose", "action": action, "note": note}) } else { action };
    let r = send(state, c, org_domain, &op).await?;
    let proposal = if governed { Some(output_json(&r)?) } else { None };
    if let (Some(p), Some(d)) = (&proposal, draft) {
        let mut dm = d.into_active_model();
        dm.proposal_id = Set(p["id"].as_i64().unwrap_or(0));
        dm.update(&state.db).await?;
    }
    let contract = sync(&state.db, c, k).await?;
    Ok(Changed { contract, tx_id: r.tx_id.to_string(), height: r.height, proposal })
}

/// Reads `k`'s record from the chain and brings its rows in line: the
/// active version, the versions it superseded, frozen or not.
pub async fn sync(
    db: &(impl ConnectionTrait + TransactionTrait),
    c: &chain::Model,
    k: contract::Model,
) -> Result<contract::Model> {
    if k.address.is_empty() || !matches!(k.state, ContractState::Active | ContractState::Frozen) {
        return Ok(k);
    }
    let info = query(db, c, &json!({"op": "info", "address": k.address})).await?;
    let active = info["active_version"].as_str().unwrap_or_default().to_owned();
    let frozen = info["frozen"].as_bool().unwrap_or(false);
    let chain_versions = info["versions"].as_array().cloned().unwrap_or_default();
    let txn = db.begin().await?;
    let rows = contracts::versions(&txn, k.id).await?;
    let known = rows.iter().any(|v| v.version == active);
    for v in rows {
        let status = if v.version == active {
            VersionStatus::Active
        } else if v.status == VersionStatus::Active {
            VersionStatus::Superseded
        } else {
            continue;
        };
        if v.status == status {
            continue;
        }
        let tx_id = chain_versions
            .iter()
            .find(|cv| cv["version"].as_str() == Some(v.version.as_str()))
            .and_then(|cv| cv["tx_id"].as_str())
            .map(str::to_owned);
        let mut vm = v.into_active_model();
        vm.status = Set(status);
        if let Some(tx_id) = tx_id {
            vm.tx_id = Set(tx_id);
        }
        vm.update(&txn).await?;
    }
    let state = if frozen { ContractState::Frozen } else { ContractState::Active };
    let version = if known { active } else { k.version.clone() };
    let k = if k.state != state || k.version != version {
        let mut km = k.into_active_model();
        km.state = Set(state);
        km.version = Set(version);
        km.updated_at = Set(now_ms());
        km.update(&txn).await?
    } else {
        k
    };
    txn.commit().await?;
    Ok(k)
}

/// Proposes the deployment of `init_code` for `org_domain` (the chain's
/// policy governs deployments): the proposal, as the chain reports it.
pub async fn propose_deploy(
    state: &AppState,
    c: &chain::Model,
    org_domain: &str,
    init_code: &[u8],
    note: &str,
) -> Result<Value> {
    let code_hash = format!("0x{}", hex::encode(deploy_code_hash(init_code)));
    let op = json!({"op": "propose", "action": {"op": "deploy", "code_hash": code_hash}, "note": note});
    output_json(&send(state, c, org_domain, &op).await?)
}

/// What a vote did.
#[derive(Debug)]
pub struct Voted {
    /// The proposal after the vote.
    pub proposal: Value,
    /// The vote's transaction.
    pub tx_id: String,
    /// Its block.
    pub height: u64,
    /// Contracts the decision changed, as the platform now records them.
    pub contracts: Vec<contract::Model>,
}

/// Votes on proposal `id` for organization `org_domain`, then carries out
/// what the decision means for the platform's contracts: an approved
/// deployment is sent (by the proposing organization's account), a
/// rejected one fails, a changed contract is read back.
pub async fn vote(
    state: &AppState,
    c: &chain::Model,
    org_domain: &str,
    id: u64,
    approve: bool,
) -> Result<Voted> {
    let r = send(state, c, org_domain, &json!({"op": "vote", "id": id, "approve": approve})).await?;
    let proposal = output_json(&r)?;
    let contracts = settle(state, c, &proposal).await?;
    Ok(Voted { proposal, tx_id: r.tx_id.to_string(), height: r.height, contracts })
}

/// Carries out a decided proposal for the platform's rows (see [`vote`]).
pub async fn settle(state: &AppState, c: &chain::Model, proposal: &Value) -> Result<Vec<contract::Model>> {
    let status = proposal["status"].as_str().unwrap_or_default();
    let id = proposal["id"].as_i64().unwrap_or(0);
    let action = &proposal["action"];
    let mut changed = Vec::new();
    match (action["op"].as_str(), status) {
        (_, "open") => {}
        (Some("deploy"), _) => {
            for (k, v) in proposed_deployments(&state.db, c, id).await? {
                let k = if status == "executed" {
                    let domain = org::Entity::find_by_id(k.org_id)
                        .one(&state.db)
                        .await?
                        .map(|o| o.domain)
                        .ok_or_else(|| {
                            ApiError::internal("settling a deployment", "its organization is gone")
                        })?;
                    let wallet = contracts::wallet(state, c, &domain).await?;
                    let mut code = hex::decode(&v.bytecode).unwrap_or_default();
                    code.extend(hex::decode(&v.args).unwrap_or_default());
                    let tx = wallet
                        .evm_create(code, DEFAULT_GAS)
                        .map_err(|e| ApiError::internal("signing the deployment", e))?;
                    contracts::send_deployment(state, c, k, v, &tx).await?
                } else {
                    contracts::mark_failed(&state.db, k, v, &format!("deployment proposal {id} was {status}"))
                        .await?
                };
                changed.push(k);
            }
        }
        (Some(_), _) => {
            let address = action["address"].as_str().unwrap_or_default().to_lowercase();
            let found = contract::Entity::find()
                .filter(contract::Column::ChainId.eq(c.id))
                .all(&state.db)
                .await?
                .into_iter()
                .filter(|k| k.address.to_lowercase() == address);
            for k in found {
                if status != "executed" && action["op"] == "upgrade" {
                    // The draft can be proposed again.
                    contract_version::Entity::update_many()
                        .col_expr(contract_version::Column::ProposalId, sea_orm::sea_query::Expr::value(0))
                        .filter(contract_version::Column::ContractId.eq(k.id))
                        .filter(contract_version::Column::ProposalId.eq(id))
                        .exec(&state.db)
                        .await?;
                }
                changed.push(sync(&state.db, c, k).await?);
            }
        }
        (None, _) => {}
    }
    Ok(changed)
}

/// The contracts of `c` whose deployment waits for proposal `id`.
async fn proposed_deployments(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    id: i64,
) -> Result<Vec<(contract::Model, contract_version::Model)>> {
    let mut out = Vec::new();
    let waiting = contract::Entity::find()
        .filter(contract::Column::ChainId.eq(c.id))
        .filter(contract::Column::State.eq(ContractState::Proposed))
        .all(db)
        .await?;
    for k in waiting {
        let v = contract_version::Entity::find()
            .filter(contract_version::Column::ContractId.eq(k.id))
            .filter(contract_version::Column::ProposalId.eq(id))
            .one(db)
            .await?;
        if let Some(v) = v {
            out.push((k, v));
        }
    }
    Ok(out)
}
