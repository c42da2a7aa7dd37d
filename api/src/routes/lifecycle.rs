//! The lifecycle of deployed contracts and the chain's contract governance
//! (SPEC SC-3, SC-4, SC-5): new code saved as a draft version, upgrade
//! (same address, same state), freeze, unfreeze, access lists, proposals
//! and votes. Each is a transaction of the caller's organization; where
//! the chain's policy governs an action it becomes a proposal, and the
//! answer carries it.

use axum::{
    Json,
    extract::{Path, Query, State},
    response::Response,
};
use govchain_execution::{abi::Abi, evm::MAX_CODE_SIZE};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    error::{ErrorBody, Result},
    routes::contracts::{ContractView, MAX_ABI, MAX_SOURCE, VersionView, hex_field, version_view},
    services::{
        chains,
        contracts::{self, require_member},
        lifecycle::{self, Change, Changed, Draft, MAX_PROPOSALS},
    },
    validate,
};

/// Longest note of a proposal.
const MAX_NOTE: usize = 1000;
/// Most entries of one access list (the chain's own limit).
const MAX_ALLOW: usize = 256;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_version))
        .routes(routes!(upgrade_contract))
        .routes(routes!(freeze_contract))
        .routes(routes!(unfreeze_contract))
        .routes(routes!(set_acl))
        .routes(routes!(get_governance))
        .routes(routes!(vote_proposal))
}

/// New code for a deployed contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The new ABI (solc's `abi` output).
    pub abi: serde_json::Value,
    /// Runtime code (solc's `evm.deployedBytecode.object`), hex: what the
    /// upgrade installs. Constructors do not run again.
    pub deployed_bytecode: String,
    /// Creation code, hex, kept for download.
    #[serde(default)]
    pub bytecode: String,
    /// The Solidity source, kept for download.
    #[serde(default)]
    pub source: String,
}

/// An upgrade.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// The draft to install (default: the contract's draft).
    #[serde(default)]
    pub version: Option<String>,
    /// Why, for the proposal where the chain governs upgrades.
    #[serde(default)]
    pub note: String,
}

/// A freeze or unfreeze.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Why, for the proposal where the chain governs the action.
    #[serde(default)]
    pub note: String,
}

/// Who may call a method.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclRequest {
    /// `name(type,…)` of the method, or `*` for every method without a
    /// list of its own.
    pub method: String,
    /// Organizations (domains) or `0x` accounts; empty opens the method to
    /// everyone again.
    pub allow: Vec<String>,
    /// Why, for the proposal where the chain governs access lists.
    #[serde(default)]
    pub note: String,
}

/// What a lifecycle change did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    /// The contract as the chain now records it.
    pub contract: ContractView,
    /// The transaction (the change, or the proposal).
    pub tx_id: String,
    /// Its block.
    pub height: u64,
    /// Where the chain's policy governs the action: the proposal made
    /// (`status` `open` until enough members approve).
    #[schema(value_type = Option<Object>)]
    pub proposal: Option<serde_json::Value>,
}

impl From<Changed> for ChangeView {
    fn from(c: Changed) -> Self {
        ChangeView { contract: c.contract.into(), tx_id: c.tx_id, height: c.height, proposal: c.proposal }
    }
}

/// Saves new code as the contract's draft, the version the next upgrade
/// installs (`2.0` after `1.0`); an earlier draft not yet proposed is
/// replaced.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts/{contract_id}/versions", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = NewVersion,
    responses(
        (status = 201, body = VersionView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the contract is not deployed, or its draft is proposed", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn add_version(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<NewVersion>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    let (k, _) = contracts::visible(&state.db, &c, contract_id).await?;
    if !auth.owns(k.org_id) {
        return Err(crate::error::ApiError::forbidden("only the deploying organization adds versions"));
    }
    let draft = check_version(req)?;
    let v = lifecycle::add_draft(&state, &c, &k, auth.user_id, draft).await?;
    let detail = format!("draft {} of contract {} ({}) on chain {}", v.version, k.id, k.name, c.name);
    Ok(audit::with_detail(created(version_view(v)), detail))
}

fn check_version(req: NewVersion) -> Result<Draft> {
    validate::text("source", &req.source, MAX_SOURCE)?;
    if req.abi.to_string().len() > MAX_ABI {
        return Err(validate::refuse("abi", format!("at most {MAX_ABI} bytes of JSON")));
    }
    let abi = Abi::from_value(req.abi).map_err(|e| validate::refuse("abi", e.0))?;
    let runtime = hex_field("deployed_bytecode", &req.deployed_bytecode)?;
    if runtime.is_empty() {
        return Err(validate::refuse("deployed_bytecode", "empty"));
    }
    if runtime.len() > MAX_CODE_SIZE {
        return Err(validate::refuse(
            "deployed_bytecode",
            format!("{} bytes; at most {MAX_CODE_SIZE}", runtime.len()),
        ));
    }
    let bytecode = hex_field("bytecode", &req.bytecode)?;
    Ok(Draft { abi, runtime, bytecode, source: req.source })
}

fn note(text: String) -> Result<String> {
    if !text.is_empty() {
        validate::text("note", &text, MAX_NOTE)?;
    }
    Ok(text)
}

/// Runs a change once the caller is known to be a member of the chain;
/// `checked` validates the request's body (after that, so a caller who may
/// not act learns nothing from it) and gives the change and its note.
async fn run_change(
    state: &AppState,
    auth: &Require<need::ContractDeploy>,
    id: i64,
    contract_id: i64,
    checked: impl FnOnce() -> Result<(Change, String)>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    let (k, _) = contracts::visible(&state.db, &c, contract_id).await?;
    require_member(&state.db, &c, auth.org_id).await?;
    let (change, note) = checked()?;
    let what = format!("{change:?}");
    let (name, kid) = (k.name.clone(), k.id);
    let out = lifecycle::change(state, &c, k, &auth.org_domain, change, &note).await?;
    let detail = match &out.proposal {
        Some(p) => {
            format!("proposed {what} of contract {kid} ({name}) on chain {}: proposal {}", c.name, p["id"])
        }
        None => format!("{what} of contract {kid} ({name}) on chain {} in transaction {}", c.name, out.tx_id),
    };
    Ok(audit::with_detail(Json(ChangeView::from(out)), detail))
}

/// Upgrades the contract to its draft: the same address and state, the
/// new code, the version counting on. Where the chain governs upgrades
/// this makes a proposal, which installs the draft once it passes.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts/{contract_id}/upgrade", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = UpgradeRequest,
    responses(
        (status = 200, body = ChangeView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "`not_found`: no such contract or draft", body = ErrorBody),
        (status = 409, description = "`conflict`: no draft, or the contract is not deployed; `chain_refused`: the chain's rules refuse it (not the owner, ...)", body = ErrorBody),
        (status = 422, description = "`invalid`: a note or version too long", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn upgrade_contract(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<UpgradeRequest>,
) -> Result<Response> {
    run_change(&state, &auth, id, contract_id, || {
        if let Some(v) = &req.version {
            validate::text("version", v, 16)?;
        }
        Ok((Change::Upgrade { version: req.version }, note(req.note)?))
    })
    .await
}

/// Freezes the contract: every call is refused until it is unfrozen.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts/{contract_id}/freeze", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = NoteRequest,
    responses(
        (status = 200, body = ChangeView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`chain_refused`: the chain's rules refuse it", body = ErrorBody),
        (status = 422, description = "`invalid`: a note too long", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn freeze_contract(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<Response> {
    run_change(&state, &auth, id, contract_id, || Ok((Change::Freeze, note(req.note)?))).await
}

/// Unfreezes the contract.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts/{contract_id}/unfreeze", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = NoteRequest,
    responses(
        (status = 200, body = ChangeView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`chain_refused`: the chain's rules refuse it", body = ErrorBody),
        (status = 422, description = "`invalid`: a note too long", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn unfreeze_contract(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<Response> {
    run_change(&state, &auth, id, contract_id, || Ok((Change::Unfreeze, note(req.note)?))).await
}

/// Sets who may call a method of the contract (organizations or
/// accounts); calls from other contracts obey it too. An empty list opens
/// the method again.
#[utoipa::path(put, path = "/api/v1/chains/{id}/contracts/{contract_id}/acl", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = AclRequest,
    responses(
        (status = 200, body = ChangeView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`chain_refused`: the chain's rules refuse it (an unknown method, ...)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn set_acl(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<AclRequest>,
) -> Result<Response> {
    run_change(&state, &auth, id, contract_id, || {
        validate::text("method", &req.method, 256)?;
        if req.allow.len() > MAX_ALLOW {
            return Err(validate::refuse("allow", format!("at most {MAX_ALLOW} entries")));
        }
        for a in &req.allow {
            validate::text("allow", a, 128)?;
        }
        Ok((Change::Acl { method: req.method, allow: req.allow }, note(req.note)?))
    })
    .await
}

/// A chain's contract governance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GovernanceView {
    /// Member organizations that propose and vote.
    pub members: Vec<String>,
    /// Approvals a proposal needs.
    pub threshold: u64,
    /// Actions that need a proposal.
    pub actions: Vec<String>,
    /// Blocks after which an open proposal expires.
    pub proposal_ttl_blocks: u64,
    /// Whether a proposal counts as its proposer's approval.
    pub proposer_votes: bool,
    /// Proposals, oldest first (as the chain records them: `id`, `action`,
    /// `organization`, `status`, `votes`, ...).
    #[schema(value_type = Vec<Object>)]
    pub proposals: Vec<serde_json::Value>,
}

/// Which proposals.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalsQuery {
    /// The first proposal number (default 1).
    pub from: Option<u64>,
    /// At most this many (default and most: 100).
    pub limit: Option<usize>,
}

/// The chain's contract governance policy and its proposals, as the chain
/// records them.
#[utoipa::path(get, path = "/api/v1/chains/{id}/governance", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ProposalsQuery),
    responses((status = 200, body = GovernanceView), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn get_governance(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(q): Query<ProposalsQuery>,
) -> Result<Json<GovernanceView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let p = lifecycle::policy(&state.read, &c).await?;
    let limit = q.limit.unwrap_or(MAX_PROPOSALS).clamp(1, MAX_PROPOSALS);
    let proposals = lifecycle::proposals(&state.read, &c, q.from.unwrap_or(1).max(1), limit).await?;
    Ok(Json(GovernanceView {
        members: p.members,
        threshold: p.threshold,
        actions: p.actions,
        proposal_ttl_blocks: p.proposal_ttl_blocks,
        proposer_votes: p.proposer_votes,
        proposals,
    }))
}

/// A vote.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// Approve (`true`) or reject.
    pub approve: bool,
}

/// What a vote did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoteView {
    /// The proposal after the vote (`executed` when this vote passed it).
    #[schema(value_type = Object)]
    pub proposal: serde_json::Value,
    /// The vote's transaction.
    pub tx_id: String,
    /// Its block.
    pub height: u64,
    /// Contracts the decision changed (a deployment sent once approved,
    /// an upgraded or frozen contract).
    pub contracts: Vec<ContractView>,
}

/// Votes on a proposal for the caller's organization (a member of the
/// chain's governance). The vote that reaches the threshold runs the
/// action; an approved deployment is then sent by the proposing
/// organization's account.
#[utoipa::path(post, path = "/api/v1/chains/{id}/proposals/{proposal_id}/votes", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("proposal_id" = u64, Path, description = "Proposal number")),
    request_body = VoteRequest,
    responses(
        (status = 200, body = VoteView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`chain_refused`: not a member organization, voted already, the proposal is decided or expired", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn vote_proposal(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, proposal_id)): Path<(i64, u64)>,
    ApiJson(req): ApiJson<VoteRequest>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    require_member(&state.db, &c, auth.org_id).await?;
    let out = lifecycle::vote(&state, &c, &auth.org_domain, proposal_id, req.approve).await?;
    let detail = format!(
        "{} proposal {proposal_id} on chain {}: {}",
        if req.approve { "approved" } else { "rejected" },
        c.name,
        out.proposal["status"].as_str().unwrap_or("?")
    );
    let view = VoteView {
        proposal: out.proposal,
        tx_id: out.tx_id,
        height: out.height,
        contracts: out.contracts.into_iter().map(Into::into).collect(),
    };
    Ok(audit::with_detail(Json(view), detail))
}
