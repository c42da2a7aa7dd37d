//! Chains and nodes (SPEC PRV-5) and invitations (PRV-6). A chain is
//! visible to its member organizations; its creator runs the chain-wide
//! lifecycle, each member runs its own nodes.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use govchain_driver::{ConsensusKind, NodeInfo, NodeSpec, NodeStatus};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::Auth,
    created,
    domain::{
        BlockPolicyView, ChainState, InvitationStatus, NodeKind, NodeState, OrgStatus, ResourcesView,
        parse_role,
    },
    entity::{chain, chain_member, invitation, node, org},
    error::{ApiError, ErrorBody, Result},
    jobs, now_ms,
    rbac::Perm,
    validate,
    workflow::notify,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chains))
        .routes(routes!(get_chain, delete_chain))
        .routes(routes!(stop_chain))
        .routes(routes!(start_chain))
        .routes(routes!(restart_chain))
        .routes(routes!(set_policy))
        .routes(routes!(create_node))
        .routes(routes!(delete_node))
        .routes(routes!(node_action))
        .routes(routes!(node_bundle))
        .routes(routes!(node_log))
        .routes(routes!(invite))
        .routes(routes!(list_invitations))
        .routes(routes!(respond_invitation))
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
    /// Consensus.
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

async fn chain_view(state: &AppState, c: chain::Model, live: bool) -> Result<ChainView> {
    let members =
        chain_member::Entity::find().filter(chain_member::Column::ChainId.eq(c.id)).all(&state.db).await?;
    let mut member_views = Vec::new();
    for m in members {
        if let Some(o) = org::Entity::find_by_id(m.org_id).one(&state.db).await? {
            member_views.push(MemberView {
                org_id: o.id,
                domain: o.domain,
                name: o.name,
                joined_at: m.joined_at,
            });
        }
    }
    let mut nodes: Vec<NodeView> = node::Entity::find()
        .filter(node::Column::ChainId.eq(c.id))
        .order_by_asc(node::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(node_view)
        .collect();
    let (mut height, mut leader) = (None, None);
    if live && c.state != ChainState::Provisioning {
        match state.driver.status(&c.chain_key).await {
            Ok(statuses) => {
                for s in statuses {
                    height = height.max(s.height);
                    if leader.is_none() {
                        leader.clone_from(&s.leader);
                    }
                    if let Some(n) = nodes.iter_mut().find(|n| n.name == s.name) {
                        n.live = Some(s);
                    }
                }
            }
            Err(e) => tracing::warn!(target: "govchain::api", "status of {}: {e}", c.chain_key),
        }
    }
    let block_policy = serde_json::from_str(&c.block_policy).unwrap_or_default();
    Ok(ChainView {
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
        members: member_views,
        nodes,
        height,
        leader,
        created_at: c.created_at,
    })
}

/// A chain the caller's organization is a member of (any for the platform
/// operator); others look absent.
pub(crate) async fn member_chain(state: &AppState, auth: &Auth, id: i64) -> Result<chain::Model> {
    let c = chain::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such chain"))?;
    if auth.sees_all() || is_member(state, c.id, auth.org_id).await? {
        Ok(c)
    } else {
        Err(ApiError::not_found("no such chain"))
    }
}

pub(crate) async fn is_member(state: &AppState, chain_id: i64, org_id: i64) -> Result<bool> {
    Ok(chain_member::Entity::find_by_id((chain_id, org_id)).one(&state.db).await?.is_some())
}

/// A chain whose creator is the caller's organization (or any for the
/// platform operator), with `perm`.
async fn owned_chain(state: &AppState, auth: &Auth, id: i64, perm: Perm) -> Result<chain::Model> {
    auth.require(perm)?;
    let c = member_chain(state, auth, id).await?;
    if !auth.owns(c.org_id) {
        return Err(ApiError::forbidden("only the chain's creating organization may do this"));
    }
    Ok(c)
}

pub(crate) async fn set_chain_state(state: &AppState, id: i64, to: ChainState) -> Result<()> {
    if let Some(c) = chain::Entity::find_by_id(id).one(&state.db).await? {
        let mut a = c.into_active_model();
        a.state = Set(to);
        a.update(&state.db).await?;
    }
    Ok(())
}

/// Records a node the driver started (on a connection or in a transaction).
pub(crate) async fn insert_node_on(
    db: &impl sea_orm::ConnectionTrait,
    chain_id: i64,
    org_id: i64,
    n: &NodeInfo,
    res: &ResourcesView,
) -> Result<node::Model> {
    Ok(node::ActiveModel {
        chain_id: Set(chain_id),
        org_id: Set(org_id),
        name: Set(n.name.clone()),
        consensus_id: Set(i64::try_from(n.consensus_id).unwrap_or(i64::MAX)),
        role: Set(n.role.into()),
        api_url: Set(n.api_url.clone()),
        p2p: Set(n.p2p.clone()),
        cpu_millis: Set(i64::from(res.cpu_millis)),
        memory_mb: Set(i64::from(res.memory_mb)),
        storage_mb: Set(i64::from(res.storage_mb)),
        state: Set(NodeState::Running),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Adds a node of organization `org_id` to a running chain within the
/// organization's quota and the chain's node limit.
pub(crate) async fn add_node(
    state: &AppState,
    org_id: i64,
    chain_id: i64,
    role: &str,
    res: &ResourcesView,
) -> Result<node::Model> {
    add_reserved_node(state, org_id, chain_id, role, res, None).await
}

/// [`add_node`]; with a provisioning job's `lease`, its quota is already
/// reserved and the node counts as the job's progress.
pub(crate) async fn add_reserved_node(
    state: &AppState,
    org_id: i64,
    chain_id: i64,
    role: &str,
    res: &ResourcesView,
    lease: Option<&jobs::Lease>,
) -> Result<node::Model> {
    let role = parse_role(role)?;
    let c = chain::Entity::find_by_id(chain_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such chain"))?;
    if !is_member(state, c.id, org_id).await? {
        return Err(ApiError::forbidden(
            "the organization is not a member of this chain; accept an invitation first",
        ));
    }
    if c.state != ChainState::Running {
        return Err(ApiError::conflict(format!("the chain is {}; nodes join a running chain", c.state)));
    }
    if !c.consensus.parse::<ConsensusKind>().is_ok_and(ConsensusKind::replicated) {
        return Err(ApiError::conflict(format!("a {} chain takes no more nodes", c.consensus)));
    }
    let o = org::Entity::find_by_id(org_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let count = node::Entity::find().filter(node::Column::ChainId.eq(c.id)).count(&state.db).await?;
    if count >= u64::try_from(c.max_nodes).unwrap_or(0) {
        return Err(ApiError::conflict(format!("the chain is at its limit of {} nodes", c.max_nodes)));
    }
    let amount = jobs::Amount::of(1, res);
    if lease.is_none() {
        // The quota is reserved before the driver works and given back if
        // it fails; a job reserved its request's nodes when it began.
        jobs::reserve(&state.db, org_id, amount).await?;
    }
    let spec = NodeSpec { org: o.domain.clone(), role, resources: res.to_driver() };
    let info = match state.driver.add_node(&c.chain_key, &spec).await {
        Ok(info) => info,
        Err(e) => {
            if lease.is_none() {
                jobs::release_logged(state, org_id, amount).await;
            }
            return Err(e.into());
        }
    };
    let stored = async {
        let txn = state.db.begin().await?;
        if let Some(lease) = lease {
            lease.add_done(&txn).await?;
        }
        let n = insert_node_on(&txn, c.id, org_id, &info, res).await?;
        txn.commit().await?;
        Ok::<_, ApiError>(n)
    };
    match stored.await {
        Ok(n) => Ok(n),
        Err(e) => {
            // Not recorded: the node goes again.
            if let Err(r) = state.driver.remove_node(&c.chain_key, &info.name).await {
                tracing::warn!(target: "govchain::api", "removing unrecorded node {}: {r}", info.name);
            }
            if lease.is_none() {
                jobs::release_logged(state, org_id, amount).await;
            }
            Err(e)
        }
    }
}

/// Chains the caller's organization is a member of (all for the platform
/// operator); no live status.
#[utoipa::path(get, path = "/api/v1/chains", tag = "chains", responses(
        (status = 200, body = [ChainView])))]
async fn list_chains(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<ChainView>>> {
    auth.require(Perm::ChainView)?;
    let rows = chain::Entity::find().order_by_asc(chain::Column::Id).all(&state.read).await?;
    let mut out = Vec::new();
    for c in rows {
        if auth.sees_all() || is_member(&state, c.id, auth.org_id).await? {
            out.push(chain_view(&state, c, false).await?);
        }
    }
    Ok(Json(out))
}

/// One chain with the live status of its nodes.
#[utoipa::path(get, path = "/api/v1/chains/{id}", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView)))]
async fn get_chain(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<ChainView>> {
    auth.require(Perm::ChainView)?;
    let c = member_chain(&state, &auth, id).await?;
    Ok(Json(chain_view(&state, c, true).await?))
}

async fn lifecycle(state: &AppState, auth: &Auth, id: i64, verb: &str) -> Result<Json<ChainView>> {
    let c = owned_chain(state, auth, id, Perm::ChainOperate).await?;
    if c.state == ChainState::Provisioning {
        return Err(ApiError::conflict("the chain is still being provisioned"));
    }
    let (to, node_to) = match verb {
        "stop" => {
            state.driver.stop_chain(&c.chain_key).await?;
            (ChainState::Stopped, NodeState::Stopped)
        }
        "start" => {
            state.driver.start_chain(&c.chain_key).await?;
            (ChainState::Running, NodeState::Running)
        }
        _ => {
            state.driver.restart_chain(&c.chain_key).await?;
            (ChainState::Running, NodeState::Running)
        }
    };
    set_chain_state(state, c.id, to).await?;
    node::Entity::update_many()
        .col_expr(node::Column::State, Expr::value(node_to))
        .filter(node::Column::ChainId.eq(c.id))
        .exec(&state.db)
        .await?;
    let c = member_chain(state, auth, id).await?;
    Ok(Json(chain_view(state, c, false).await?))
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
    auth: Auth,
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
    auth: Auth,
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
    auth: Auth,
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
async fn delete_chain(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<StatusCode> {
    let c = owned_chain(&state, &auth, id, Perm::ChainDelete).await?;
    if c.state == ChainState::Provisioning {
        return Err(ApiError::conflict("the chain is still being provisioned"));
    }
    state.driver.delete_chain(&c.chain_key).await?;
    let nodes = node::Entity::find().filter(node::Column::ChainId.eq(c.id)).all(&state.db).await?;
    let txn = state.db.begin().await?;
    for n in nodes {
        jobs::release(&txn, n.org_id, jobs::Amount::node(n.cpu_millis, n.memory_mb, n.storage_mb)).await?;
    }
    chain::Entity::delete_by_id(c.id).exec(&txn).await?;
    txn.commit().await?;
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
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<BlockPolicyView>,
) -> Result<Json<ChainView>> {
    let c = owned_chain(&state, &auth, id, Perm::ChainOperate).await?;
    let policy = p.to_driver()?;
    if c.state != ChainState::Running {
        return Err(ApiError::conflict(format!("the chain is {}; start it first", c.state)));
    }
    state.driver.set_block_policy(&c.chain_key, &policy).await?;
    let mut a = c.into_active_model();
    a.block_policy = Set(serde_json::to_string(&p).map_err(|e| ApiError::internal("storing a policy", e))?);
    let c = a.update(&state.db).await?;
    Ok(Json(chain_view(&state, c, false).await?))
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
        (status = 409, description = "`conflict`: the chain is not a running raft chain, or it is at its node limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn create_node(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewNode>,
) -> Result<Response> {
    auth.require(Perm::ChainOperate)?;
    req.resources.check()?;
    let c = member_chain(&state, &auth, id).await?;
    let n = add_node(&state, auth.org_id, c.id, &req.role, &req.resources).await?;
    let detail = format!("node {} ({})", n.id, n.name);
    Ok(audit::with_detail(created(node_view(n)), detail))
}

/// A node the caller may operate: its own organization's (the chain's
/// creator may also remove any node of its chain).
async fn own_node(
    state: &AppState,
    auth: &Auth,
    chain_id: i64,
    node_id: i64,
    creator_too: bool,
) -> Result<(chain::Model, node::Model)> {
    let c = member_chain(state, auth, chain_id).await?;
    let n = node::Entity::find_by_id(node_id)
        .one(&state.db)
        .await?
        .filter(|n| n.chain_id == c.id)
        .ok_or_else(|| ApiError::not_found("no such node"))?;
    if !(auth.owns(n.org_id) || (creator_too && auth.owns(c.org_id))) {
        return Err(ApiError::forbidden("the node belongs to another organization"));
    }
    Ok((c, n))
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
    auth: Auth,
    Path((id, node_id)): Path<(i64, i64)>,
) -> Result<StatusCode> {
    auth.require(Perm::ChainOperate)?;
    let (c, n) = own_node(&state, &auth, id, node_id, true).await?;
    let count = node::Entity::find().filter(node::Column::ChainId.eq(c.id)).count(&state.db).await?;
    if count <= 1 {
        return Err(ApiError::conflict("the last node cannot be removed; delete the chain instead"));
    }
    state.driver.remove_node(&c.chain_key, &n.name).await?;
    let txn = state.db.begin().await?;
    jobs::release(&txn, n.org_id, jobs::Amount::node(n.cpu_millis, n.memory_mb, n.storage_mb)).await?;
    node::Entity::delete_by_id(n.id).exec(&txn).await?;
    txn.commit().await?;
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
    auth: Auth,
    Path((id, node_id, action)): Path<(i64, i64, String)>,
) -> Result<Json<NodeView>> {
    auth.require(Perm::ChainOperate)?;
    let (c, n) = own_node(&state, &auth, id, node_id, false).await?;
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
    let mut a = n.into_active_model();
    a.state = Set(to);
    Ok(Json(node_view(a.update(&state.db).await?)))
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
    auth: Auth,
    Path((id, node_id)): Path<(i64, i64)>,
    Query(q): Query<BundleQuery>,
) -> Result<Response> {
    auth.require(Perm::NodeDownload)?;
    let (c, n) = own_node(&state, &auth, id, node_id, false).await?;
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
    auth: Auth,
    Path((id, node_id)): Path<(i64, i64)>,
    Query(q): Query<LogQuery>,
) -> Result<String> {
    auth.require(Perm::NodeDownload)?;
    let (c, n) = own_node(&state, &auth, id, node_id, false).await?;
    Ok(state.driver.node_log(&c.chain_key, &n.name, q.lines.unwrap_or(200).clamp(1, 10_000)).await?)
}

/// An invitation as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// Id.
    pub id: i64,
    /// The chain.
    pub chain_id: i64,
    /// The chain's name.
    pub chain_name: String,
    /// Inviting organization.
    pub from_org_id: i64,
    /// Invited organization.
    pub to_org_id: i64,
    /// Invited organization's domain.
    pub to_domain: String,
    /// Message.
    pub message: String,
    /// `pending`, `accepted` or `declined`.
    pub status: String,
    /// Sent, ms since 1970.
    pub created_at: i64,
    /// Answered, ms since 1970.
    pub decided_at: Option<i64>,
}

async fn invitation_view(state: &AppState, i: invitation::Model) -> Result<InvitationView> {
    let chain_name =
        chain::Entity::find_by_id(i.chain_id).one(&state.db).await?.map(|c| c.name).unwrap_or_default();
    let to_domain =
        org::Entity::find_by_id(i.to_org_id).one(&state.db).await?.map(|o| o.domain).unwrap_or_default();
    Ok(InvitationView {
        id: i.id,
        chain_id: i.chain_id,
        chain_name,
        from_org_id: i.from_org_id,
        to_org_id: i.to_org_id,
        to_domain,
        message: i.message,
        status: i.status.into(),
        created_at: i.created_at,
        decided_at: i.decided_at,
    })
}

/// Inviting an organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The invited organization's domain.
    #[schema(
        min_length = 3,
        max_length = 50,
        pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
    )]
    pub org_domain: String,
    /// A note for them.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub message: String,
}

/// Invites an organization to the chain. Checked: the organization
/// exists, is not a member yet, and the chain is below its node limit.
#[utoipa::path(post, path = "/api/v1/chains/{id}/invitations", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    request_body = NewInvitation,
    responses(
        (status = 201, body = InvitationView),
        (status = 404, description = "`not_found`: no such chain, or no active organization with that domain", body = ErrorBody),
        (status = 409, description = "`conflict`: already a member, already invited, or the chain is at its node limit", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn invite(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewInvitation>,
) -> Result<Response> {
    let c = owned_chain(&state, &auth, id, Perm::ChainInvite).await?;
    validate::domain(&req.org_domain)?;
    validate::text("message", &req.message, 2000)?;
    // Check 1: the organization exists (and is an active department).
    let to = org::Entity::find()
        .filter(org::Column::Domain.eq(req.org_domain.as_str()))
        .one(&state.db)
        .await?
        .filter(|o| o.status == OrgStatus::Active && !o.is_platform)
        .ok_or_else(|| {
            ApiError::not_found(format!("no active organization with domain `{}`", req.org_domain))
        })?;
    // Check 2: not a member already, and not invited already.
    if is_member(&state, c.id, to.id).await? {
        return Err(ApiError::conflict(format!("`{}` is already a member of the chain", to.domain)));
    }
    let pending = invitation::Entity::find()
        .filter(invitation::Column::ChainId.eq(c.id))
        .filter(invitation::Column::ToOrgId.eq(to.id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
        .one(&state.db)
        .await?;
    if pending.is_some() {
        return Err(ApiError::conflict(format!("`{}` has a pending invitation to this chain", to.domain)));
    }
    // Check 3: room for at least one more node.
    let count = node::Entity::find().filter(node::Column::ChainId.eq(c.id)).count(&state.db).await?;
    if count >= u64::try_from(c.max_nodes).unwrap_or(0) {
        return Err(ApiError::conflict(format!("the chain is at its limit of {} nodes", c.max_nodes)));
    }
    let i = invitation::ActiveModel {
        chain_id: Set(c.id),
        from_org_id: Set(c.org_id),
        to_org_id: Set(to.id),
        invited_by: Set(auth.user_id),
        message: Set(req.message),
        status: Set(InvitationStatus::Pending),
        created_at: Set(now_ms()),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    notify(
        &state,
        to.id,
        "invitation_received",
        &format!("{} invites you to chain {}", auth.org_domain, c.name),
        &format!("/invitations/{}", i.id),
    )
    .await?;
    let detail = format!("invitation {} to {}", i.id, to.domain);
    Ok(audit::with_detail(created(invitation_view(&state, i).await?), detail))
}

/// Invitations the caller's organization sent or received.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "chains", responses(
        (status = 200, body = [InvitationView])))]
async fn list_invitations(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<InvitationView>>> {
    auth.require(Perm::ChainView)?;
    let rows = invitation::Entity::find().order_by_desc(invitation::Column::Id).all(&state.db).await?;
    let mut out = Vec::new();
    for i in rows {
        if auth.sees_all() || i.to_org_id == auth.org_id || i.from_org_id == auth.org_id {
            out.push(invitation_view(&state, i).await?);
        }
    }
    Ok(Json(out))
}

/// Accepts or declines an invitation (`answer` is `accept` or `decline`).
/// Accepting makes the organization a member; it then adds its own nodes
/// (a resource request of kind `nodes`, or within its quota).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/{answer}", tag = "chains",
    params(("id" = i64, Path, description = "Invitation id"), ("answer" = String, Path, description = "accept or decline")),
    responses(
        (status = 200, body = InvitationView),
        (status = 404, description = "`not_found`: no such invitation or answer", body = ErrorBody),
        (status = 409, description = "`conflict`: the invitation was answered already", body = ErrorBody)))]
async fn respond_invitation(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, answer)): Path<(i64, String)>,
) -> Result<Json<InvitationView>> {
    auth.require(Perm::InvitationRespond)?;
    let accept = match answer.as_str() {
        "accept" => true,
        "decline" => false,
        other => {
            return Err(ApiError::not_found(format!("no invitation answer `{other}` (accept, decline)")));
        }
    };
    let i = invitation::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|i| i.to_org_id == auth.org_id)
        .ok_or_else(|| ApiError::not_found("no such invitation"))?;
    if i.status != InvitationStatus::Pending {
        return Err(ApiError::conflict(format!("the invitation is {} already", i.status)));
    }
    let now = now_ms();
    if accept && !is_member(&state, i.chain_id, i.to_org_id).await? {
        chain_member::ActiveModel {
            chain_id: Set(i.chain_id),
            org_id: Set(i.to_org_id),
            joined_at: Set(now),
        }
        .insert(&state.db)
        .await?;
    }
    let mut a = i.into_active_model();
    a.status = Set(if accept { InvitationStatus::Accepted } else { InvitationStatus::Declined });
    a.decided_at = Set(Some(now));
    let i = a.update(&state.db).await?;
    let verdict = if accept { "accepted" } else { "declined" };
    notify(
        &state,
        i.from_org_id,
        &format!("invitation_{verdict}"),
        &format!("{} {verdict} the invitation to chain {}", auth.org_domain, i.chain_id),
        &format!("/chains/{}", i.chain_id),
    )
    .await?;
    Ok(Json(invitation_view(&state, i).await?))
}
