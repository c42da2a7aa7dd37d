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
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, Event, audit,
    auth::Auth,
    chains::{self, BlockPolicyView, ResourcesView},
    created,
    entity::{chain, chain_member, message, org, quota, request},
    error::{ApiError, ErrorBody, Result},
    now_ms,
    rbac::Perm,
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

/// Most nodes a chain may have.
pub const MAX_CHAIN_NODES: u32 = 32;

/// What is requested.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestSpec {
    /// A new chain with the requesting organization's nodes.
    Chain(ChainRequest),
    /// More nodes of the requesting organization on a chain it is a member
    /// of (after accepting an invitation, or its own chain).
    Nodes(NodesRequest),
}

/// A new chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainRequest {
    /// Chain name: 1-40 of a-z, 0-9, '-'.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z][a-z0-9-]{0,39}$")]
    pub name: String,
    /// `raft` (or `solo` for a single node).
    #[schema(pattern = "^(raft|solo)$")]
    pub consensus: String,
    /// Crypto suite: `gm`, `intl-k1` or `intl-r1`.
    #[schema(pattern = "^(gm|intl-k1|intl-r1)$")]
    pub suite: String,
    /// The requesting organization's nodes.
    #[schema(minimum = 1, maximum = 32)]
    pub nodes: u32,
    /// Node limit of the chain across all member organizations.
    #[serde(default = "default_max_nodes")]
    #[schema(minimum = 1, maximum = 32)]
    pub max_nodes: u32,
    /// Block policy (defaults: 5000 transactions, 8 MiB, 2 ms).
    #[serde(default)]
    pub block_policy: Option<BlockPolicyView>,
    /// Resources per node.
    pub resources: ResourcesView,
}

fn default_max_nodes() -> u32 {
    16
}

/// More nodes on a chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodesRequest {
    /// The chain.
    pub chain_id: i64,
    /// How many nodes.
    #[schema(minimum = 1, maximum = 32)]
    pub count: u32,
    /// `consensus` (voting) or `backup` (a non-voting ledger copy).
    #[serde(default = "default_role")]
    #[schema(pattern = "^(consensus|backup)$")]
    pub role: String,
    /// Resources per node.
    pub resources: ResourcesView,
}

fn default_role() -> String {
    "consensus".into()
}

impl RequestSpec {
    fn nodes(&self) -> u32 {
        match self {
            RequestSpec::Chain(c) => c.nodes,
            RequestSpec::Nodes(n) => n.count,
        }
    }
    fn resources(&self) -> &ResourcesView {
        match self {
            RequestSpec::Chain(c) => &c.resources,
            RequestSpec::Nodes(n) => &n.resources,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            RequestSpec::Chain(_) => "chain",
            RequestSpec::Nodes(_) => "nodes",
        }
    }
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
        kind: r.kind,
        chain_id: r.chain_id,
        spec,
        purpose: r.purpose,
        status: r.status,
        progress: r.progress,
        error: r.error,
        opinion: r.opinion,
        approver_id: r.approver_id,
        decided_at: r.decided_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn check_spec(spec: &RequestSpec) -> Result<()> {
    let n = spec.nodes();
    if n == 0 || n > MAX_CHAIN_NODES {
        return Err(ApiError::invalid(format!("node count must be 1 to {MAX_CHAIN_NODES}")));
    }
    spec.resources().check()?;
    match spec {
        RequestSpec::Chain(c) => {
            validate::chain_name(&c.name)?;
            chains::parse_suite(&c.suite)?;
            let kind: ConsensusKind = c.consensus.parse().map_err(|_| {
                ApiError::invalid(format!("consensus `{}` is not offered (raft, solo)", c.consensus))
            })?;
            if kind.max_voters().is_some_and(|most| c.nodes as usize > most) {
                return Err(ApiError::invalid(format!("{kind} ordering runs exactly one node; use raft")));
            }
            if c.max_nodes < c.nodes || c.max_nodes > MAX_CHAIN_NODES {
                return Err(ApiError::invalid(format!("max_nodes must be from nodes to {MAX_CHAIN_NODES}")));
            }
            if let Some(p) = &c.block_policy {
                p.check()?;
            }
        }
        RequestSpec::Nodes(r) => {
            chains::parse_role(&r.role)?;
        }
    }
    Ok(())
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
    check_spec(&req.spec)?;
    let o = org::Entity::find_by_id(auth.org_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("gone"))?;
    if o.status != "active" {
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
                .one(&state.db)
                .await?;
            if taken.is_some() {
                return Err(ApiError::conflict(format!("the organization already has a chain `{}`", c.name)));
            }
            None
        }
        RequestSpec::Nodes(r) => {
            let c = chains::member_chain(&state, &auth, r.chain_id).await?;
            // The nodes would be the requesting organization's own: seeing
            // every chain (the platform operator) is not membership.
            if !chains::is_member(&state, c.id, auth.org_id).await? {
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
        kind: Set(req.spec.kind().into()),
        chain_id: Set(chain_id),
        spec: Set(serde_json::to_string(&req.spec).map_err(|e| ApiError::internal("storing a request", e))?),
        purpose: Set(req.purpose),
        status: Set("pending".into()),
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
    notify_platform(
        &state,
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
        q = q.filter(request::Column::Status.eq(s.as_str()));
    }
    let rows = q.order_by_desc(request::Column::Id).limit(1000).all(&state.db).await?;
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
    if r.status != "pending" {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let now = now_ms();
    let mut a = r.into_active_model();
    a.status = Set(if approve { "provisioning" } else { "rejected" }.into());
    a.progress = Set(if approve { "approved; provisioning" } else { "rejected" }.into());
    a.opinion = Set(opinion.clone());
    a.approver_id = Set(Some(auth.user_id));
    a.decided_at = Set(Some(now));
    a.updated_at = Set(now);
    let r = a.update(&state.db).await?;
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
    let spec: RequestSpec =
        serde_json::from_str(&r.spec).map_err(|e| ApiError::internal("reading a request", e))?;
    grant(&state, r.org_id, &spec).await?;
    let task_state = state.clone();
    let request_id = r.id;
    tokio::spawn(async move { provision(task_state, request_id, spec).await });
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
    if r.status != "pending" {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let mut a = r.into_active_model();
    a.status = Set("cancelled".into());
    a.progress = Set("cancelled by the requester".into());
    a.updated_at = Set(now_ms());
    Ok(Json(view(a.update(&state.db).await?)?))
}

/// Adds an approved request's resources to the organization's quota.
async fn grant(state: &AppState, org_id: i64, spec: &RequestSpec) -> Result<()> {
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
        .exec(&state.db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::internal(
            "granting a quota",
            format!("organization {org_id} has no quota row"),
        ));
    }
    Ok(())
}

async fn set_progress(
    state: &AppState,
    id: i64,
    status: Option<&str>,
    progress: &str,
    error: &str,
) -> Result<()> {
    if let Some(r) = request::Entity::find_by_id(id).one(&state.db).await? {
        let mut a = r.into_active_model();
        if let Some(s) = status {
            a.status = Set(s.into());
        }
        a.progress = Set(progress.into());
        a.error = Set(error.into());
        a.updated_at = Set(now_ms());
        a.update(&state.db).await?;
    }
    Ok(())
}

/// Runs an approved request to `running` or `failed`, telling the
/// requester either way.
async fn provision(state: AppState, request_id: i64, spec: RequestSpec) {
    let outcome = match &spec {
        RequestSpec::Chain(c) => provision_chain(&state, request_id, c).await,
        RequestSpec::Nodes(n) => provision_nodes(&state, request_id, n).await,
    };
    let Ok(Some(r)) = request::Entity::find_by_id(request_id).one(&state.db).await else { return };
    let (status, progress, error, title) = match &outcome {
        Ok(what) => (
            "running",
            format!("running: {what}"),
            String::new(),
            format!("Request {request_id} is running: {what}"),
        ),
        Err(e) => (
            "failed",
            "failed".to_owned(),
            e.message.clone(),
            format!("Request {request_id} failed: {}", e.message),
        ),
    };
    let kind = if outcome.is_ok() { "request_running" } else { "request_failed" };
    let done = async {
        set_progress(&state, request_id, Some(status), &progress, &error).await?;
        notify(&state, r.org_id, kind, &title, &format!("/requests/{request_id}")).await?;
        audit::record(
            &state,
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

/// Checks a provisioning of `n` nodes with `res` each against the
/// organization's quota.
pub(crate) async fn check_quota(state: &AppState, org_id: i64, n: u32, res: &ResourcesView) -> Result<()> {
    let q = crate::orgs::quota_of(state, org_id).await?;
    let n = i64::from(n);
    let over = |what: &str, used: i64, add: i64, granted: i64| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "{what}: {used} in use + {add} requested exceeds the {granted} granted; submit a resource request"
            ),
        )
    };
    if q.used_nodes + n > q.nodes {
        return Err(over("nodes", q.used_nodes, n, q.nodes));
    }
    let cpu = n * i64::from(res.cpu_millis);
    if q.used_cpu_millis + cpu > q.cpu_millis {
        return Err(over("cpu millicores", q.used_cpu_millis, cpu, q.cpu_millis));
    }
    let mem = n * i64::from(res.memory_mb);
    if q.used_memory_mb + mem > q.memory_mb {
        return Err(over("memory MiB", q.used_memory_mb, mem, q.memory_mb));
    }
    let storage = n * i64::from(res.storage_mb);
    if q.used_storage_mb + storage > q.storage_mb {
        return Err(over("storage MiB", q.used_storage_mb, storage, q.storage_mb));
    }
    Ok(())
}

async fn provision_chain(state: &AppState, request_id: i64, c: &ChainRequest) -> Result<String> {
    let r = request::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))?;
    let o = org::Entity::find_by_id(r.org_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let _guard = state.quota_lock.lock().await;
    check_quota(state, o.id, c.nodes, &c.resources).await?;
    let policy = c.block_policy.clone().unwrap_or_default();
    let key = format!("{}-{}", c.name, &crate::auth::random_token()[..8]);
    let now = now_ms();
    let ch = chain::ActiveModel {
        name: Set(c.name.clone()),
        chain_key: Set(key.clone()),
        org_id: Set(o.id),
        consensus: Set(c.consensus.clone()),
        suite: Set(c.suite.clone()),
        driver: Set(state.driver.kind().into()),
        state: Set("provisioning".into()),
        block_policy: Set(
            serde_json::to_string(&policy).map_err(|e| ApiError::internal("storing a policy", e))?
        ),
        max_nodes: Set(i32::try_from(c.max_nodes).unwrap_or(16)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    chain_member::ActiveModel { chain_id: Set(ch.id), org_id: Set(o.id), joined_at: Set(now) }
        .insert(&state.db)
        .await?;
    let mut a = r.into_active_model();
    a.chain_id = Set(Some(ch.id));
    a.progress = Set(format!("generating keys and certificates, starting {} node(s)", c.nodes));
    a.updated_at = Set(now_ms());
    a.update(&state.db).await?;
    let spec = ChainSpec {
        chain: key.clone(),
        owner_org: o.domain.clone(),
        suite: chains::parse_suite(&c.suite)?,
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
    match state.driver.create_chain(&spec).await {
        Ok(nodes) => {
            for n in &nodes {
                chains::insert_node(state, ch.id, o.id, n, &c.resources).await?;
            }
            chains::set_chain_state(state, ch.id, "running").await?;
            Ok(format!(
                "chain {} with {} node(s), up in {} ms",
                c.name,
                nodes.len(),
                started.elapsed().as_millis()
            ))
        }
        Err(e) => {
            let err = ApiError::from(e);
            if let Err(cleanup) = state.driver.delete_chain(&key).await {
                tracing::warn!(target: "govchain::api", "cleaning up failed chain {key}: {cleanup}");
            }
            chain::Entity::delete_by_id(ch.id).exec(&state.db).await?;
            Err(err)
        }
    }
}

async fn provision_nodes(state: &AppState, request_id: i64, n: &NodesRequest) -> Result<String> {
    let r = request::Entity::find_by_id(request_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))?;
    let mut names = Vec::new();
    for i in 0..n.count {
        set_progress(
            state,
            request_id,
            None,
            &format!("adding node {} of {}; it catches up, then joins consensus", i + 1, n.count),
            "",
        )
        .await?;
        let node = chains::add_node(state, r.org_id, n.chain_id, &n.role, &n.resources).await?;
        names.push(node.name);
    }
    Ok(format!("node(s) {} joined", names.join(", ")))
}

/// At start: provisioning that a stopped platform interrupted is marked
/// failed (and its half-made chain removed); chains that should run are
/// started again.
pub(crate) async fn recover(state: &AppState) -> Result<()> {
    for r in request::Entity::find().filter(request::Column::Status.eq("provisioning")).all(&state.db).await?
    {
        set_progress(
            state,
            r.id,
            Some("failed"),
            "failed",
            "the platform stopped during provisioning; submit the request again",
        )
        .await?;
    }
    for c in chain::Entity::find().filter(chain::Column::State.eq("provisioning")).all(&state.db).await? {
        if let Err(e) = state.driver.delete_chain(&c.chain_key).await {
            tracing::warn!(target: "govchain::api", "removing half-made chain {}: {e}", c.chain_key);
        }
        chain::Entity::delete_by_id(c.id).exec(&state.db).await?;
    }
    let running: Vec<String> = chain::Entity::find()
        .filter(chain::Column::State.eq("running"))
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
    let m = message::ActiveModel {
        org_id: Set(org_id),
        kind: Set(kind.into()),
        title: Set(title.chars().take(1000).collect()),
        body: Set(String::new()),
        link: Set(link.into()),
        read_at: Set(None),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    // Nobody listening is fine: the message is stored.
    let _ = state.events.send(Event { org_id, message: m.into() });
    Ok(())
}

/// Messages for the platform operator.
pub async fn notify_platform(state: &AppState, kind: &str, title: &str, link: &str) -> Result<()> {
    let platform = org::Entity::find()
        .filter(org::Column::IsPlatform.eq(true))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::internal("finding the platform organization", "missing"))?;
    notify(state, platform.id, kind, title, link).await
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
    let rows = q.order_by_desc(message::Column::Id).limit(500).all(&state.db).await?;
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
            let data = serde_json::to_string(&e.message).ok()?;
            Some(Ok(SseEvent::default().event("message").data(data)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
