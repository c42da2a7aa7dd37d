//! Resource requests and their approval (SPEC PRV-2..4, PRV-9), the
//! provisioning an approval starts, and the message centre that tells each
//! side what happened (PRV-3).

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, Query, State},
    response::{
        Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use futures_util::Stream;
use govchain_driver::{ChainSpec, ConsensusKind, NodeRole, NodeSpec};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::Auth,
    created,
    domain::{ChainRequest, ChainState, NodesRequest, OrgStatus, RequestSpec, RequestStatus, parse_suite},
    entity::{chain, chain_member, message, org, quota, request},
    error::{ApiError, ErrorBody, Result},
    jobs, now_ms,
    rbac::Perm,
    services::chains,
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, create_request))
        .routes(routes!(get_request))
        .routes(routes!(approve_request))
        .routes(routes!(reject_request))
        .routes(routes!(cancel_request))
        .routes(routes!(list_messages))
        .routes(routes!(read_message))
        .routes(routes!(message_stream))
}

/// A resource request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// What for (the approver reads it).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub purpose: String,
    /// What.
    pub spec: RequestSpec,
}

/// A resource request as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    /// Id.
    pub id: i64,
    /// Requesting organization.
    pub org_id: i64,
    /// Requesting user.
    pub requester_id: i64,
    /// `chain` or `nodes`.
    pub kind: String,
    /// The chain (once it exists).
    pub chain_id: Option<i64>,
    /// What was requested.
    pub spec: RequestSpec,
    /// Why.
    pub purpose: String,
    /// `pending`, `rejected`, `cancelled`, `provisioning`, `running` or
    /// `failed`.
    pub status: String,
    /// What provisioning is doing.
    pub progress: String,
    /// Why it failed.
    pub error: String,
    /// The approver's opinion.
    pub opinion: String,
    /// Who decided.
    pub approver_id: Option<i64>,
    /// When, ms since 1970.
    pub decided_at: Option<i64>,
    /// Submitted, ms since 1970.
    pub created_at: i64,
    /// Last change, ms since 1970.
    pub updated_at: i64,
}

fn view(r: request::Model) -> Result<RequestView> {
    let spec =
        serde_json::from_str(&r.spec).map_err(|e| ApiError::internal("reading a stored request", e))?;
    Ok(RequestView {
        id: r.id,
        org_id: r.org_id,
        requester_id: r.requester_id,
        kind: r.kind.into(),
        chain_id: r.chain_id,
        spec,
        purpose: r.purpose,
        status: r.status.into(),
        progress: r.progress,
        error: r.error,
        opinion: r.opinion,
        approver_id: r.approver_id,
        decided_at: r.decided_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Submits a resource request; the platform operator is told at once.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = NewRequest,
    responses(
        (status = 201, body = RequestView),
        (status = 403, description = "`forbidden`: the organization is not active yet or not a member of the chain", body = ErrorBody),
        (status = 404, description = "`not_found`: no such chain (a nodes request)", body = ErrorBody),
        (status = 409, description = "`conflict`: the organization has a chain of that name", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_request(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<NewRequest>,
) -> Result<Response> {
    auth.require(Perm::RequestCreate)?;
    validate::text("purpose", &req.purpose, 2000)?;
    if req.purpose.trim().is_empty() {
        return Err(ApiError::invalid("purpose must say what the resources are for"));
    }
    req.spec.check()?;
    let o = org::Entity::find_by_id(auth.org_id)
        .one(&state.read)
        .await?
        .ok_or_else(|| ApiError::unauthorized("gone"))?;
    if o.status != OrgStatus::Active {
        return Err(ApiError::forbidden(format!(
            "the organization is {}: requests open once the platform approved its registration",
            o.status
        )));
    }
    let chain_id = match &req.spec {
        RequestSpec::Chain(c) => {
            let taken = chain::Entity::find()
                .filter(chain::Column::OrgId.eq(auth.org_id))
                .filter(chain::Column::Name.eq(c.name.as_str()))
                .one(&state.read)
                .await?;
            if taken.is_some() {
                return Err(ApiError::conflict(format!("the organization already has a chain `{}`", c.name)));
            }
            None
        }
        RequestSpec::Nodes(r) => {
            let c = chains::visible(&state.db, &auth.tenant(), r.chain_id).await?;
            // The nodes would be the requesting organization's own: seeing
            // every chain (the platform operator) is not membership.
            if !chains::is_member(&state.db, c.id, auth.org_id).await? {
                return Err(ApiError::forbidden(
                    "the organization is not a member of this chain; accept an invitation first",
                ));
            }
            Some(c.id)
        }
    };
    let now = now_ms();
    let r = request::ActiveModel {
        org_id: Set(auth.org_id),
        requester_id: Set(auth.user_id),
        kind: Set(req.spec.kind()),
        chain_id: Set(chain_id),
        spec: Set(serde_json::to_string(&req.spec).map_err(|e| ApiError::internal("storing a request", e))?),
        purpose: Set(req.purpose),
        status: Set(RequestStatus::Pending),
        progress: Set("waiting for approval".into()),
        error: Set(String::new()),
        opinion: Set(String::new()),
        approver_id: Set(None),
        decided_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    crate::services::messages::notify_platform(
        &state.db,
        &state.events,
        "request_submitted",
        &format!("{} requests {} ({} node(s)): {}", o.domain, r.kind, req.spec.nodes(), r.purpose),
        &format!("/requests/{}", r.id),
    )
    .await?;
    let detail = format!("request {}", r.id);
    Ok(audit::with_detail(created(view(r)?), detail))
}

/// Filters of the request list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// Only requests in this status (e.g. `pending` for the approval queue).
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub status: Option<String>,
}

/// Requests: the caller organization's, or every one for the approver (the
/// approval queue is `?status=pending`).
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(RequestFilter),
    responses(
        (status = 200, body = [RequestView])))]
async fn list_requests(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<RequestFilter>,
) -> Result<Json<Vec<RequestView>>> {
    let approver = auth.perms.contains(&Perm::RequestApprove) && auth.platform;
    if !approver {
        auth.require(Perm::RequestView)?;
    }
    let mut q = request::Entity::find();
    if !approver {
        q = q.filter(request::Column::OrgId.eq(auth.org_id));
    }
    if let Some(s) = &f.status {
        validate::filter("status", s)?;
        // No request is in a status that does not exist.
        let Some(s) = RequestStatus::parse(s) else { return Ok(Json(Vec::new())) };
        q = q.filter(request::Column::Status.eq(s));
    }
    let rows = q.order_by_desc(request::Column::Id).limit(1000).all(&state.read).await?;
    Ok(Json(rows.into_iter().map(view).collect::<Result<_>>()?))
}

async fn visible_request(state: &AppState, auth: &Auth, id: i64) -> Result<request::Model> {
    let approver = auth.perms.contains(&Perm::RequestApprove) && auth.platform;
    request::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|r| approver || r.org_id == auth.org_id)
        .ok_or_else(|| ApiError::not_found("no such request"))
}

/// One request, with its provisioning progress.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestView)))]
async fn get_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>> {
    if !(auth.perms.contains(&Perm::RequestApprove) && auth.platform) {
        auth.require(Perm::RequestView)?;
    }
    Ok(Json(view(visible_request(&state, &auth, id).await?)?))
}

/// The approver's opinion.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Opinion {
    /// Why.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub opinion: String,
}

async fn decide(
    state: &AppState,
    auth: &Auth,
    id: i64,
    approve: bool,
    opinion: String,
) -> Result<request::Model> {
    auth.require(Perm::RequestApprove)?;
    if !auth.platform {
        return Err(ApiError::forbidden("only the platform operator approves requests"));
    }
    validate::text("opinion", &opinion, 2000)?;
    let r = visible_request(state, auth, id).await?;
    if r.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let now = now_ms();
    let txn = state.db.begin().await?;
    // Decided once: of two approvers (on any replicas) one wins, the other
    // finds it no longer pending.
    let won = request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(if approve { RequestStatus::Provisioning } else { RequestStatus::Rejected }),
        )
        .col_expr(
            request::Column::Progress,
            Expr::value(if approve { "approved; provisioning" } else { "rejected" }),
        )
        .col_expr(request::Column::Opinion, Expr::value(opinion.clone()))
        .col_expr(request::Column::ApproverId, Expr::value(auth.user_id))
        .col_expr(request::Column::DecidedAt, Expr::value(now))
        .col_expr(request::Column::UpdatedAt, Expr::value(now))
        .filter(request::Column::Id.eq(r.id))
        .filter(request::Column::Status.eq(RequestStatus::Pending))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !won {
        return Err(ApiError::conflict("the request was decided meanwhile"));
    }
    if approve {
        let spec: RequestSpec =
            serde_json::from_str(&r.spec).map_err(|e| ApiError::internal("reading a request", e))?;
        grant(&txn, r.org_id, &spec).await?;
        // More nodes run where the chain's nodes run.
        let host = match r.chain_id {
            Some(c) => chain::Entity::find_by_id(c).one(&txn).await?.and_then(|c| c.host),
            None => None,
        };
        crate::jobs::enqueue(&txn, r.id, host).await?;
    }
    txn.commit().await?;
    if approve {
        state.jobs.wake();
    }
    let r = request::Entity::find_by_id(r.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such request"))?;
    let verdict = if approve { "approved" } else { "rejected" };
    notify(
        state,
        r.org_id,
        &format!("request_{verdict}"),
        &format!("Request {} was {verdict}: {opinion}", r.id),
        &format!("/requests/{}", r.id),
    )
    .await?;
    Ok(r)
}

/// Approves a pending request (platform operator): the grant is added to
/// the organization's quota and provisioning starts; follow it on the
/// request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    request_body = Opinion, responses(
        (status = 200, body = RequestView),
        (status = 403, description = "`forbidden`: only the platform operator approves", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn approve_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(op): ApiJson<Opinion>,
) -> Result<Json<RequestView>> {
    let r = decide(&state, &auth, id, true, op.opinion).await?;
    Ok(Json(view(r)?))
}

/// Rejects a pending request with an opinion.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    request_body = Opinion, responses(
        (status = 200, body = RequestView),
        (status = 403, description = "`forbidden`: only the platform operator rejects", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn reject_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(op): ApiJson<Opinion>,
) -> Result<Json<RequestView>> {
    Ok(Json(view(decide(&state, &auth, id, false, op.opinion).await?)?))
}

/// Withdraws the organization's own pending request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestView),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody)))]
async fn cancel_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>> {
    auth.require(Perm::RequestCreate)?;
    let r = request::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|r| r.org_id == auth.org_id)
        .ok_or_else(|| ApiError::not_found("no such request"))?;
    if r.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let mut a = r.into_active_model();
    a.status = Set(RequestStatus::Cancelled);
    a.progress = Set("cancelled by the requester".into());
    a.updated_at = Set(now_ms());
    Ok(Json(view(a.update(&state.db).await?)?))
}

/// Adds an approved request's resources to the organization's quota.
async fn grant(db: &impl ConnectionTrait, org_id: i64, spec: &RequestSpec) -> Result<()> {
    let n = i64::from(spec.nodes());
    let res = spec.resources();
    let add = |col: quota::Column, v: i64| Expr::col(col).add(v);
    // One UPDATE adding to the row, so concurrent grants cannot lose each other.
    let updated = quota::Entity::update_many()
        .col_expr(quota::Column::Nodes, add(quota::Column::Nodes, n))
        .col_expr(quota::Column::CpuMillis, add(quota::Column::CpuMillis, n * i64::from(res.cpu_millis)))
        .col_expr(quota::Column::MemoryMb, add(quota::Column::MemoryMb, n * i64::from(res.memory_mb)))
        .col_expr(quota::Column::StorageMb, add(quota::Column::StorageMb, n * i64::from(res.storage_mb)))
        .filter(quota::Column::OrgId.eq(org_id))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::internal(
            "granting a quota",
            format!("organization {org_id} has no quota row"),
        ));
    }
    Ok(())
}

/// Runs a job this replica claimed: reserves the quota (once per job),
/// provisions, and records `running` or `failed`, telling the requester
/// either way. A step that finds the job taken over stops quietly.
pub(crate) async fn run_job(state: &AppState, lease: &jobs::Lease) {
    let request_id = lease.request_id;
    let r = match request::Entity::find_by_id(request_id).one(&state.db).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(target: "govchain::api", "reading request {request_id}: {e}");
            return;
        }
    };
    let spec: std::result::Result<RequestSpec, _> = serde_json::from_str(&r.spec);
    let outcome = match &spec {
        Ok(spec) => provision(state, lease, &r, spec).await,
        Err(e) => Err(ApiError::internal("reading a request", e)),
    };
    if outcome.as_ref().err().is_some_and(jobs::is_lost) {
        return;
    }
    let (status, progress, error, title) = match &outcome {
        Ok(what) => (
            RequestStatus::Running,
            format!("running: {what}"),
            String::new(),
            format!("Request {request_id} is running: {what}"),
        ),
        Err(e) => (
            RequestStatus::Failed,
            "failed".to_owned(),
            e.message.clone(),
            format!("Request {request_id} failed: {}", e.message),
        ),
    };
    if outcome.is_err() {
        // Give back what was reserved and not used, end the job and the
        // request, all at once and only while the job is still ours.
        let failed = async {
            let txn = state.db.begin().await?;
            lease.check(&txn).await?;
            let job = crate::entity::job::Entity::find_by_id(lease.job_id)
                .one(&txn)
                .await?
                .ok_or_else(jobs::lost)?;
            if let (true, Ok(spec)) = (job.reserved, &spec) {
                let left = spec.nodes().saturating_sub(u32::try_from(job.done).unwrap_or(0));
                jobs::release(&txn, r.org_id, jobs::Amount::of(left, spec.resources())).await?;
            }
            lease.finish(&txn, jobs::state::FAILED).await?;
            set_progress(&txn, request_id, Some(status), &progress, &error).await?;
            // A chain this request began and did not finish goes.
            if let (Some(cid), Ok(RequestSpec::Chain(_))) =
                (r.chain_id.or(job_chain(&txn, request_id).await?), &spec)
            {
                chain::Entity::delete_many()
                    .filter(chain::Column::Id.eq(cid))
                    .filter(chain::Column::State.eq(ChainState::Provisioning))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok::<_, ApiError>(())
        };
        if let Err(e) = failed.await {
            if !jobs::is_lost(&e) {
                tracing::error!(target: "govchain::api", "recording the failure of request {request_id}: {e}");
            }
            return;
        }
    }
    let kind = if outcome.is_ok() { "request_running" } else { "request_failed" };
    let done = async {
        notify(state, r.org_id, kind, &title, &format!("/requests/{request_id}")).await?;
        audit::record(
            state,
            audit::Entry {
                actor_id: None,
                actor: "system".into(),
                org_id: Some(r.org_id),
                action: "provision".into(),
                target: format!("requests/{request_id}"),
                result: if outcome.is_ok() { "ok".into() } else { "failed".into() },
                detail: if outcome.is_ok() { progress.clone() } else { error.clone() },
            },
        )
        .await
    };
    if let Err(e) = done.await {
        tracing::error!(target: "govchain::api", "recording the outcome of request {request_id}: {e}");
    }
}

async fn job_chain(db: &impl ConnectionTrait, request_id: i64) -> Result<Option<i64>> {
    Ok(request::Entity::find_by_id(request_id).one(db).await?.and_then(|r| r.chain_id))
}

async fn provision(
    state: &AppState,
    lease: &jobs::Lease,
    r: &request::Model,
    spec: &RequestSpec,
) -> Result<String> {
    if !lease.reserved {
        let txn = state.db.begin().await?;
        lease.set_reserved(&txn).await?;
        jobs::reserve(&txn, r.org_id, jobs::Amount::of(spec.nodes(), spec.resources())).await?;
        txn.commit().await?;
    }
    match spec {
        RequestSpec::Chain(c) => provision_chain(state, lease, r, c).await,
        RequestSpec::Nodes(n) => provision_nodes(state, lease, r, n).await,
    }
}

async fn set_progress(
    db: &impl ConnectionTrait,
    id: i64,
    status: Option<RequestStatus>,
    progress: &str,
    error: &str,
) -> Result<()> {
    let mut q = request::Entity::update_many()
        .col_expr(request::Column::Progress, Expr::value(progress))
        .col_expr(request::Column::Error, Expr::value(error))
        .col_expr(request::Column::UpdatedAt, Expr::value(now_ms()));
    if let Some(s) = status {
        q = q.col_expr(request::Column::Status, Expr::value(s));
    }
    q.filter(request::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Progress text, written only while the job is ours.
async fn job_progress(state: &AppState, lease: &jobs::Lease, id: i64, progress: &str) -> Result<()> {
    let txn = state.db.begin().await?;
    lease.check(&txn).await?;
    set_progress(&txn, id, None, progress, "").await?;
    txn.commit().await?;
    Ok(())
}

async fn provision_chain(
    state: &AppState,
    lease: &jobs::Lease,
    r: &request::Model,
    c: &ChainRequest,
) -> Result<String> {
    let o = org::Entity::find_by_id(r.org_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    // A replica that lost this job may have begun the chain: that attempt
    // goes (with the driver's copy, where this replica reaches it).
    if let Some(old) = r.chain_id
        && let Some(ch) = chain::Entity::find_by_id(old).one(&state.db).await?
        && ch.state == ChainState::Provisioning
    {
        match state.driver.delete_chain(&ch.chain_key).await {
            Ok(()) | Err(govchain_driver::Error::NotFound(_)) => {}
            Err(e) => tracing::warn!(target: "govchain::api",
                "removing an earlier attempt at chain {}: {e}", ch.chain_key),
        }
        chain::Entity::delete_by_id(ch.id).exec(&state.db).await?;
    }
    let policy = c.block_policy.clone().unwrap_or_default();
    let key = format!("{}-{}", c.name, &crate::auth::random_token()[..8]);
    let now = now_ms();
    let txn = state.db.begin().await?;
    lease.check(&txn).await?;
    let ch = chain::ActiveModel {
        name: Set(c.name.clone()),
        chain_key: Set(key.clone()),
        org_id: Set(o.id),
        consensus: Set(c.consensus.clone()),
        suite: Set(c.suite.clone()),
        driver: Set(state.driver.kind().into()),
        state: Set(ChainState::Provisioning),
        block_policy: Set(
            serde_json::to_string(&policy).map_err(|e| ApiError::internal("storing a policy", e))?
        ),
        max_nodes: Set(i32::try_from(c.max_nodes).unwrap_or(16)),
        created_at: Set(now),
        host: Set(state.jobs.host.clone()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    chain_member::ActiveModel { chain_id: Set(ch.id), org_id: Set(o.id), joined_at: Set(now) }
        .insert(&txn)
        .await?;
    request::Entity::update_many()
        .col_expr(request::Column::ChainId, Expr::value(ch.id))
        .col_expr(
            request::Column::Progress,
            Expr::value(format!("generating keys and certificates, starting {} node(s)", c.nodes)),
        )
        .col_expr(request::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(request::Column::Id.eq(r.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let spec = ChainSpec {
        chain: key.clone(),
        owner_org: o.domain.clone(),
        suite: parse_suite(&c.suite)?,
        consensus: c.consensus.parse::<ConsensusKind>().map_err(|e| ApiError::invalid(e.to_string()))?,
        nodes: (0..c.nodes)
            .map(|_| NodeSpec {
                org: o.domain.clone(),
                role: NodeRole::Consensus,
                resources: c.resources.to_driver(),
            })
            .collect(),
        block_policy: policy.to_driver()?,
    };
    let started = std::time::Instant::now();
    let cleanup = |key: String| async move {
        if let Err(e) = state.driver.delete_chain(&key).await {
            tracing::warn!(target: "govchain::api", "cleaning up failed chain {key}: {e}");
        }
    };
    match state.driver.create_chain(&spec).await {
        Ok(nodes) => {
            let what = format!(
                "chain {} with {} node(s), up in {} ms",
                c.name,
                nodes.len(),
                started.elapsed().as_millis()
            );
            let finish = async {
                let txn = state.db.begin().await?;
                lease.finish(&txn, jobs::state::DONE).await?;
                for n in &nodes {
                    chains::insert_node_on(&txn, ch.id, o.id, n, &c.resources).await?;
                }
                chain::Entity::update_many()
                    .col_expr(chain::Column::State, Expr::value(ChainState::Running))
                    .filter(chain::Column::Id.eq(ch.id))
                    .exec(&txn)
                    .await?;
                set_progress(&txn, r.id, Some(RequestStatus::Running), &format!("running: {what}"), "")
                    .await?;
                txn.commit().await?;
                Ok::<_, ApiError>(())
            };
            if let Err(e) = finish.await {
                cleanup(key).await;
                return Err(e);
            }
            Ok(what)
        }
        Err(e) => {
            let err = ApiError::from(e);
            cleanup(key).await;
            chain::Entity::delete_by_id(ch.id).exec(&state.db).await?;
            Err(err)
        }
    }
}

async fn provision_nodes(
    state: &AppState,
    lease: &jobs::Lease,
    r: &request::Model,
    n: &NodesRequest,
) -> Result<String> {
    let mut names = Vec::new();
    let from = u32::try_from(lease.done).unwrap_or(0);
    for i in from..n.count {
        job_progress(
            state,
            lease,
            r.id,
            &format!("adding node {} of {}; it catches up, then joins consensus", i + 1, n.count),
        )
        .await?;
        let node = chains::add_node(state, r.org_id, n.chain_id, &n.role, &n.resources, Some(lease)).await?;
        names.push(node.name);
    }
    let what = format!("node(s) {} joined", names.join(", "));
    let txn = state.db.begin().await?;
    lease.finish(&txn, jobs::state::DONE).await?;
    set_progress(&txn, r.id, Some(RequestStatus::Running), &format!("running: {what}"), "").await?;
    txn.commit().await?;
    Ok(what)
}

/// At start: chains that should run here are started again. Provisioning
/// in flight is left to the jobs: a job whose replica stopped is taken over
/// once its lease expires, by this replica or another.
pub(crate) async fn recover(state: &AppState) -> Result<()> {
    let here = match &state.jobs.host {
        Some(h) => sea_orm::Condition::any()
            .add(chain::Column::Host.is_null())
            .add(chain::Column::Host.eq(h.as_str())),
        None => sea_orm::Condition::all().add(chain::Column::Host.is_null()),
    };
    let running: Vec<String> = chain::Entity::find()
        .filter(chain::Column::State.eq(ChainState::Running))
        .filter(here)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| c.chain_key)
        .collect();
    state.driver.resume(&running).await.map_err(ApiError::from)?;
    Ok(())
}

/// A message in the message centre.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// Id.
    pub id: i64,
    /// Recipient organization.
    pub org_id: i64,
    /// What happened, e.g. `request_submitted`, `invitation_received`.
    pub kind: String,
    /// Text.
    pub title: String,
    /// Where to look, e.g. `/requests/7`.
    pub link: String,
    /// Whether someone read it.
    pub read: bool,
    /// When, ms since 1970.
    pub created_at: i64,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> MessageView {
        MessageView {
            id: m.id,
            org_id: m.org_id,
            kind: m.kind,
            title: m.title,
            link: m.link,
            read: m.read_at.is_some(),
            created_at: m.created_at,
        }
    }
}

/// Puts a message in organization `org_id`'s message centre and pushes it
/// to its connected clients.
pub async fn notify(state: &AppState, org_id: i64, kind: &str, title: &str, link: &str) -> Result<()> {
    crate::services::messages::notify(&state.db, &state.events, org_id, kind, title, link).await
}

/// Filters of the message list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// Only unread messages.
    pub unread: Option<bool>,
}

/// The caller organization's messages, newest first.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", params(MessageFilter),
    responses(
        (status = 200, body = [MessageView])))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<MessageFilter>,
) -> Result<Json<Vec<MessageView>>> {
    let mut q = message::Entity::find().filter(message::Column::OrgId.eq(auth.org_id));
    if f.unread == Some(true) {
        q = q.filter(message::Column::ReadAt.is_null());
    }
    let rows = q.order_by_desc(message::Column::Id).limit(500).all(&state.read).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Marks a message read.
#[utoipa::path(post, path = "/api/v1/messages/{id}/read", tag = "messages", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, body = MessageView)))]
async fn read_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<MessageView>> {
    let m = message::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|m| m.org_id == auth.org_id)
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    let mut a = m.into_active_model();
    a.read_at = Set(Some(now_ms()));
    Ok(Json(a.update(&state.db).await?.into()))
}

/// New messages of the caller's organization as they arrive
/// (Server-Sent Events, one `message` event each).
#[utoipa::path(get, path = "/api/v1/messages/stream", tag = "messages",
    responses(
        (status = 200, content_type = "text/event-stream", body = MessageView)))]
async fn message_stream(
    State(state): State<AppState>,
    auth: Auth,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>> {
    let org_id = auth.org_id;
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(state.events.subscribe()).filter_map(move |e| {
            let e = e.ok()?;
            if e.org_id != org_id {
                return None;
            }
            let data = serde_json::to_string(&MessageView::from(e.message)).ok()?;
            Some(Ok(SseEvent::default().event("message").data(data)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
