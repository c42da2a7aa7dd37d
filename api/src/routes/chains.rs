//! Chains and their nodes (SPEC PRV-5). A chain is visible to its member
//! organizations; its creator runs the chain-wide lifecycle, each member
//! runs its own nodes.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use govchain_driver::NodeStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    domain::{BlockPolicyView, ChainState, NodeKind, NodeState, ResourcesView},
    entity::{chain, node},
    error::{ApiError, ErrorBody, Result},
    now_ms,
    services::chains::{self, Details},
    status,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chains))
        .routes(routes!(get_chain, delete_chain))
        .routes(routes!(stop_chain))
        .routes(routes!(start_chain))
        .routes(routes!(restart_chain))
        .routes(routes!(set_policy))
        .routes(routes!(switch_consensus))
        .routes(routes!(create_node))
        .routes(routes!(delete_node))
        .routes(routes!(node_action))
        .routes(routes!(node_bundle))
        .routes(routes!(node_log))
}

/// A member organization of a chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Organization id.
    pub org_id: i64,
    /// Its domain.
    pub domain: String,
    /// Its name.
    pub name: String,
    /// Joined, ms since 1970.
    pub joined_at: i64,
}

/// A node as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Id.
    pub id: i64,
    /// Name (also its certificate's CN).
    pub name: String,
    /// Owning organization.
    pub org_id: i64,
    /// Consensus id.
    pub consensus_id: i64,
    /// `consensus` or `backup`.
    pub role: String,
    /// Client API address.
    pub api_url: String,
    /// Node-to-node address.
    pub p2p: String,
    /// Resources.
    pub resources: ResourcesView,
    /// Desired state: `running` or `stopped`.
    pub state: String,
    /// Live status polled from the node (chain detail only).
    #[schema(value_type = Option<Object>)]
    pub live: Option<NodeStatus>,
}

/// A chain as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChainView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Chain id on the chain itself.
    pub chain_key: String,
    /// Creating organization.
    pub org_id: i64,
    /// Consensus: `raft`, `hotstuff` or `solo`.
    pub consensus: String,
    /// Crypto suite.
    pub suite: String,
    /// Host driver.
    pub driver: String,
    /// `provisioning`, `running` or `stopped`.
    pub state: String,
    /// Block policy.
    pub block_policy: BlockPolicyView,
    /// Node limit.
    pub max_nodes: i32,
    /// Member organizations.
    pub members: Vec<MemberView>,
    /// Nodes.
    pub nodes: Vec<NodeView>,
    /// Highest height any node reports (chain detail only).
    pub height: Option<u64>,
    /// The leader a node reports (chain detail only).
    pub leader: Option<String>,
    /// With live status: `healthy` (every node meant to run answers, a
    /// leader is known), `degraded` (a majority answers, some node does
    /// not), `down` (no majority or no leader), `stopped`; none while
    /// provisioning or without live status.
    pub health: Option<String>,
    /// Whether this is the creating organization's sandbox: its
    /// development chain of one node, outside its quota, without contract
    /// governance.
    pub sandbox: bool,
    /// Created, ms since 1970.
    pub created_at: i64,
}

fn node_view(n: node::Model) -> NodeView {
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(0);
    NodeView {
        id: n.id,
        name: n.name,
        org_id: n.org_id,
        consensus_id: n.consensus_id,
        role: n.role.into(),
        api_url: n.api_url,
        p2p: n.p2p,
        resources: ResourcesView {
            cpu_millis: to_u32(n.cpu_millis),
            memory_mb: to_u32(n.memory_mb),
            storage_mb: to_u32(n.storage_mb),
        },
        state: n.state.into(),
        live: None,
    }
}

/// The view of `c` from its [`Details`] (no live status).
fn chain_view(c: chain::Model, details: &mut Details) -> ChainView {
    let members = details
        .members
        .remove(&c.id)
        .unwrap_or_default()
        .into_iter()
        .map(|(m, o)| MemberView { org_id: o.id, domain: o.domain, name: o.name, joined_at: m.joined_at })
        .collect();
    let nodes = details.nodes.remove(&c.id).unwrap_or_default().into_iter().map(node_view).collect();
    let block_policy = serde_json::from_str(&c.block_policy).unwrap_or_default();
    ChainView {
        id: c.id,
        name: c.name,
        chain_key: c.chain_key,
        org_id: c.org_id,
        consensus: c.consensus,
        suite: c.suite,
        driver: c.driver,
        state: c.state.into(),
        block_policy,
        max_nodes: c.max_nodes,
        members,
        nodes,
        height: None,
        leader: None,
        health: None,
        sandbox: c.sandbox_of.is_some(),
        created_at: c.created_at,
    }
}

/// One chain's view, with the live status of its nodes when `live`.
pub(crate) async fn one_view(state: &AppState, c: chain::Model, live: bool) -> Result<ChainView> {
    let mut details = chains::details(&state.db, std::slice::from_ref(&c)).await?;
    let mut view = chain_view(c, &mut details);
    if live {
        add_live(state, &mut view).await;
    }
    Ok(view)
}

/// Adds the nodes' live status (from the shared poll), the chain's height,
/// leader and health to `view`.
async fn add_live(state: &AppState, view: &mut ChainView) {
    match view.state.as_str() {
        s if s == ChainState::Stopped.as_str() => view.health = Some("stopped".into()),
        s if s == ChainState::Running.as_str() => {}
        _ => return,
    }
    let polled = state.status.get(state.driver.as_ref(), &view.chain_key).await;
    let statuses = match polled.as_ref() {
        Ok(statuses) => statuses.as_slice(),
        Err(_) => &[],
    };
    for s in statuses {
        view.height = view.height.max(s.height);
        if view.leader.is_none() {
            view.leader.clone_from(&s.leader);
        }
        if let Some(n) = view.nodes.iter_mut().find(|n| n.name == s.name) {
            n.live = Some(s.clone());
        }
    }
    if view.health.is_none() {
        let names = |f: &dyn Fn(&NodeView) -> bool| -> Vec<&str> {
            view.nodes.iter().filter(|n| f(n)).map(|n| n.name.as_str()).collect()
        };
        let consensus = names(&|n| n.role == NodeKind::Consensus.as_str());
        let meant = names(&|n| n.state == NodeState::Running.as_str());
        view.health = Some(status::health(statuses, &consensus, &meant).to_owned());
    }
}

/// Whether to add live status to a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChainsQuery {
    /// Add each chain's height, leader, health and nodes' status (polled
    /// at most once a second per chain, shared by every caller).
    pub live: Option<bool>,
}

/// Chains the caller's organization is a member of (all for the platform
/// operator); with `live=true`, each with its live status.
#[utoipa::path(get, path = "/api/v1/chains", tag = "chains", params(ChainsQuery), responses(
        (status = 200, body = [ChainView])))]
async fn list_chains(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Query(q): Query<ChainsQuery>,
) -> Result<Json<Vec<ChainView>>> {
    let rows = chains::list(&state.read, &auth.tenant()).await?;
    let mut details = chains::details(&state.read, &rows).await?;
    let mut views: Vec<ChainView> = rows.into_iter().map(|c| chain_view(c, &mut details)).collect();
    if q.live == Some(true) {
        // A few chains' polls at a time: each is one request per node.
        let state = &state;
        futures_util::stream::iter(views.iter_mut())
            .for_each_concurrent(LIVE_POLLS, |v| add_live(state, v))
            .await;
    }
    Ok(Json(views))
}

/// Chains a live list polls at once.
const LIVE_POLLS: usize = 8;

/// One chain with the live status of its nodes.
#[utoipa::path(get, path = "/api/v1/chains/{id}", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView)))]
async fn get_chain(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
) -> Result<Json<ChainView>> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    Ok(Json(one_view(&state, c, true).await?))
}

async fn lifecycle(
    state: &AppState,
    auth: &Require<need::ChainOperate>,
    id: i64,
    verb: &str,
) -> Result<Json<ChainView>> {
    let c = chains::owned(&state.db, &auth.tenant(), id).await?;
    let c = chains::lifecycle(state, c, verb).await?;
    state.status.forget(&c.chain_key);
    Ok(Json(one_view(state, c, false).await?))
}

/// Stops every node of the chain (data is kept).
#[utoipa::path(post, path = "/api/v1/chains/{id}/stop", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView),
        (status = 409, description = "`conflict`: the chain is being provisioned, or the host driver refuses in its state", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn stop_chain(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
) -> Result<Json<ChainView>> {
    lifecycle(&state, &auth, id, "stop").await
}

/// Starts every node of the chain; it continues from its stored ledger.
#[utoipa::path(post, path = "/api/v1/chains/{id}/start", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView),
        (status = 409, description = "`conflict`: the chain is being provisioned, or the host driver refuses in its state", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn start_chain(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
) -> Result<Json<ChainView>> {
    lifecycle(&state, &auth, id, "start").await
}

/// Restarts every node of the chain.
#[utoipa::path(post, path = "/api/v1/chains/{id}/restart", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView),
        (status = 409, description = "`conflict`: the chain is being provisioned, or the host driver refuses in its state", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn restart_chain(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
) -> Result<Json<ChainView>> {
    lifecycle(&state, &auth, id, "restart").await
}

/// Deletes the chain: every node stops and all its data is purged.
#[utoipa::path(delete, path = "/api/v1/chains/{id}", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 204),
        (status = 409, description = "`conflict`: the chain is being provisioned", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn delete_chain(
    State(state): State<AppState>,
    auth: Require<need::ChainDelete>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let c = chains::owned(&state.db, &auth.tenant(), id).await?;
    chains::delete(&state, c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the block policy online: agreed through consensus, every node
/// applies it without a restart.
#[utoipa::path(put, path = "/api/v1/chains/{id}/policy", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    request_body = BlockPolicyView, responses(
        (status = 200, body = ChainView),
        (status = 409, description = "`conflict`: the chain is not running", body = ErrorBody),
        (status = 422, description = "`invalid`: a limit is out of its range", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn set_policy(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<BlockPolicyView>,
) -> Result<Json<ChainView>> {
    let c = chains::owned(&state.db, &auth.tenant(), id).await?;
    let policy = p.to_driver()?;
    if c.state != ChainState::Running {
        return Err(ApiError::conflict(format!("the chain is {}; start it first", c.state)));
    }
    state.driver.set_block_policy(&c.chain_key, &policy).await?;
    let stored = serde_json::to_string(&p).map_err(|e| ApiError::internal("storing a policy", e))?;
    let c = chains::set_policy(&state.db, c, stored).await?;
    Ok(Json(one_view(&state, c, false).await?))
}

/// The engine to switch a chain to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSwitch {
    /// `raft` or `hotstuff`.
    #[schema(pattern = "^(raft|hotstuff)$")]
    pub consensus: String,
}

/// Switches the chain's consensus engine (raft to hotstuff or back) while
/// it serves: every consensus node approves with a transaction signed by
/// its node key, and from the block in which a quorum approved, every node
/// runs the new engine; no acknowledged transaction is lost. Answers once
/// the running nodes run it and know its leader.
#[utoipa::path(put, path = "/api/v1/chains/{id}/consensus", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    request_body = ConsensusSwitch, responses(
        (status = 200, body = ChainView),
        (status = 409, description = "`conflict`: the chain is not running, or its host driver cannot switch engines", body = ErrorBody),
        (status = 422, description = "`invalid`: not raft or hotstuff, the engine the chain runs already, a solo chain, or a group changed since the chain began", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn switch_consensus(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<ConsensusSwitch>,
) -> Result<Json<ChainView>> {
    let c = chains::owned(&state.db, &auth.tenant(), id).await?;
    let kind: govchain_driver::ConsensusKind =
        req.consensus.parse().map_err(|e: govchain_types::VocabularyError| {
            ApiError::invalid(e.to_string()).with_details(serde_json::json!({"field": "consensus"}))
        })?;
    if c.state != ChainState::Running {
        return Err(ApiError::conflict(format!("the chain is {}; start it first", c.state)));
    }
    state.driver.switch_consensus(&c.chain_key, kind).await?;
    let c = chains::set_consensus(&state.db, c, kind.as_str().to_owned()).await?;
    state.status.forget(&c.chain_key);
    Ok(Json(one_view(&state, c, false).await?))
}

/// A node to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// `consensus` or `backup`.
    #[serde(default = "consensus_role")]
    #[schema(pattern = "^(consensus|backup)$")]
    pub role: String,
    /// Resources.
    pub resources: ResourcesView,
}

fn consensus_role() -> String {
    NodeKind::Consensus.into()
}

/// Adds a node of the caller's organization to a chain it is a member of,
/// within its quota; the node catches up, then joins consensus.
#[utoipa::path(post, path = "/api/v1/chains/{id}/nodes", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    request_body = NewNode, responses(
        (status = 201, body = NodeView),
        (status = 403, description = "`forbidden` (not the caller's organization's chain, no permission), `quota_exceeded` (the organization's quota is used up)", body = ErrorBody),
        (status = 409, description = "`conflict`: the chain is not a running replicated (raft or hotstuff) chain, or it is at its node limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn create_node(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewNode>,
) -> Result<Response> {
    req.resources.check()?;
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    let n = chains::add_node(&state, auth.org_id, c.id, &req.role, &req.resources, None).await?;
    state.status.forget(&c.chain_key);
    let detail = format!("node {} ({})", n.id, n.name);
    Ok(audit::with_detail(created(node_view(n)), detail))
}

/// Removes a node: it leaves consensus first, then stops and its data is
/// purged.
#[utoipa::path(delete, path = "/api/v1/chains/{id}/nodes/{node_id}", tag = "chains",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id")),
    responses(
        (status = 204),
        (status = 409, description = "`conflict`: the last node cannot be removed", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn delete_node(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path((id, node_id)): Path<(i64, i64)>,
) -> Result<StatusCode> {
    let (c, n) = chains::own_node(&state.db, &auth.tenant(), id, node_id, true).await?;
    chains::remove_node(&state, &c, n).await?;
    state.status.forget(&c.chain_key);
    Ok(StatusCode::NO_CONTENT)
}

/// Stops, starts or restarts one node (`action` is `stop`, `start` or
/// `restart`).
#[utoipa::path(post, path = "/api/v1/chains/{id}/nodes/{node_id}/{action}", tag = "chains",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"),
        ("action" = String, Path, description = "stop, start or restart")),
    responses(
        (status = 200, body = NodeView),
        (status = 404, description = "`not_found`: no such chain, node or action", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn node_action(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path((id, node_id, action)): Path<(i64, i64, String)>,
) -> Result<Json<NodeView>> {
    let (c, n) = chains::own_node(&state.db, &auth.tenant(), id, node_id, false).await?;
    let to = match action.as_str() {
        "stop" => {
            state.driver.stop_node(&c.chain_key, &n.name).await?;
            NodeState::Stopped
        }
        "start" => {
            state.driver.start_node(&c.chain_key, &n.name).await?;
            NodeState::Running
        }
        "restart" => {
            state.driver.restart_node(&c.chain_key, &n.name).await?;
            NodeState::Running
        }
        other => return Err(ApiError::not_found(format!("no node action `{other}` (stop, start, restart)"))),
    };
    state.status.forget(&c.chain_key);
    Ok(Json(node_view(chains::set_node_state(&state.db, n, to).await?)))
}

/// Options of a node bundle.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BundleQuery {
    /// Include the node's private key (never the CA's).
    pub include_key: Option<bool>,
}

/// Downloads a node's configuration and certificates as a tar archive.
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/bundle", tag = "chains",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), BundleQuery),
    responses(
        (status = 200, content_type = "application/x-tar", body = Vec<u8>),
        (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn node_bundle(
    State(state): State<AppState>,
    auth: Require<need::NodeDownload>,
    Path((id, node_id)): Path<(i64, i64)>,
    Query(q): Query<BundleQuery>,
) -> Result<Response> {
    let (c, n) = chains::own_node(&state.db, &auth.tenant(), id, node_id, false).await?;
    let files = state.driver.node_bundle(&c.chain_key, &n.name, q.include_key.unwrap_or(false)).await?;
    let mut tar = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.contents.len() as u64);
        header.set_mode(if f.name.ends_with("key.pem") { 0o600 } else { 0o644 });
        header.set_mtime(u64::try_from(now_ms() / 1000).unwrap_or(0));
        tar.append_data(&mut header, format!("{}/{}", n.name, f.name), f.contents.as_slice())
            .map_err(|e| ApiError::internal("building the bundle", e))?;
    }
    let bytes = tar.into_inner().map_err(|e| ApiError::internal("building the bundle", e))?;
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    let disposition = format!("attachment; filename=\"{}.tar\"", n.name);
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// How much of the log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Last lines (default 200, at most 10000).
    pub lines: Option<usize>,
}

/// The last lines of a node's log.
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/log", tag = "chains",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), LogQuery),
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn node_log(
    State(state): State<AppState>,
    auth: Require<need::NodeDownload>,
    Path((id, node_id)): Path<(i64, i64)>,
    Query(q): Query<LogQuery>,
) -> Result<String> {
    let (c, n) = chains::own_node(&state.db, &auth.tenant(), id, node_id, false).await?;
    Ok(state.driver.node_log(&c.chain_key, &n.name, q.lines.unwrap_or(200).clamp(1, 10_000)).await?)
}
