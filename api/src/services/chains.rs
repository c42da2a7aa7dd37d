//! Chains and nodes (SPEC PRV-5). A chain is its member organizations':
//! every query here carries the membership (or the platform operator's
//! view of all) in its WHERE clause, and a list reads its members and
//! nodes in one query each, not one per chain.

use std::collections::BTreeMap;

use govchain_driver::{ConsensusKind, NodeInfo, NodeSpec};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set, TransactionTrait,
    sea_query::{Expr, Query},
};

use crate::{
    AppState,
    domain::{ChainState, NodeState, ResourcesView, Tenant, parse_role},
    entity::{chain, chain_member, node, org},
    error::{ApiError, Result},
    jobs, now_ms,
};

/// Chains organization `org_id` is a member of.
fn member_of(org_id: i64) -> Condition {
    Condition::all().add(
        chain::Column::Id.in_subquery(
            Query::select()
                .column(chain_member::Column::ChainId)
                .from(chain_member::Entity)
                .and_where(chain_member::Column::OrgId.eq(org_id))
                .to_owned(),
        ),
    )
}

/// The chains the tenant sees: its organization's memberships, or all.
fn scoped(tenant: &Tenant) -> Select<chain::Entity> {
    match tenant.only() {
        Some(org) => chain::Entity::find().filter(member_of(org)),
        None => chain::Entity::find(),
    }
}

/// A chain the tenant's organization is a member of (any for the platform
/// operator); others look absent.
pub async fn visible(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<chain::Model> {
    scoped(tenant)
        .filter(chain::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such chain"))
}

/// The chains the tenant sees, oldest first.
pub async fn list(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<chain::Model>> {
    Ok(scoped(tenant).order_by_asc(chain::Column::Id).all(db).await?)
}

/// A chain the tenant created (any for the platform operator): the
/// chain-wide lifecycle is its creator's.
pub async fn owned(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<chain::Model> {
    let c = visible(db, tenant, id).await?;
    if !tenant.owns(c.org_id) {
        return Err(ApiError::forbidden("only the chain's creating organization may do this"));
    }
    Ok(c)
}

/// The nodes of chain `chain_id`, oldest first.
pub async fn nodes_of(db: &impl ConnectionTrait, chain_id: i64) -> Result<Vec<node::Model>> {
    Ok(node::Entity::find()
        .filter(node::Column::ChainId.eq(chain_id))
        .order_by_asc(node::Column::Id)
        .all(db)
        .await?)
}

/// Whether organization `org_id` is a member of chain `chain_id`.
pub async fn is_member(db: &impl ConnectionTrait, chain_id: i64, org_id: i64) -> Result<bool> {
    Ok(chain_member::Entity::find_by_id((chain_id, org_id)).one(db).await?.is_some())
}

/// The members (with their organizations) and nodes of `chains`: two
/// queries whatever their number.
#[derive(Debug, Default)]
pub struct Details {
    /// Members by chain id.
    pub members: BTreeMap<i64, Vec<(chain_member::Model, org::Model)>>,
    /// Nodes by chain id, oldest first.
    pub nodes: BTreeMap<i64, Vec<node::Model>>,
}

/// Reads the [`Details`] of `chains`.
pub async fn details(db: &impl ConnectionTrait, chains: &[chain::Model]) -> Result<Details> {
    let ids: Vec<i64> = chains.iter().map(|c| c.id).collect();
    let mut out = Details::default();
    let members = chain_member::Entity::find()
        .join(
            JoinType::InnerJoin,
            chain_member::Entity::belongs_to(org::Entity)
                .from(chain_member::Column::OrgId)
                .to(org::Column::Id)
                .into(),
        )
        .select_also(org::Entity)
        .filter(chain_member::Column::ChainId.is_in(ids.clone()))
        .order_by_asc(chain_member::Column::ChainId)
        .order_by_asc(chain_member::Column::OrgId)
        .all(db)
        .await?;
    for (m, o) in members {
        if let Some(o) = o {
            out.members.entry(m.chain_id).or_default().push((m, o));
        }
    }
    let nodes = node::Entity::find()
        .filter(node::Column::ChainId.is_in(ids))
        .order_by_asc(node::Column::Id)
        .all(db)
        .await?;
    for n in nodes {
        out.nodes.entry(n.chain_id).or_default().push(n);
    }
    Ok(out)
}

/// Nodes of chain `chain_id`.
pub async fn node_count(db: &impl ConnectionTrait, chain_id: i64) -> Result<u64> {
    Ok(node::Entity::find().filter(node::Column::ChainId.eq(chain_id)).count(db).await?)
}

/// Refuses a chain at its node limit, and a sandbox, which stays its
/// organization's one node.
pub async fn check_room(db: &impl ConnectionTrait, c: &chain::Model) -> Result<()> {
    if c.sandbox_of.is_some() {
        return Err(ApiError::conflict("a sandbox chain is its organization's one node")
            .with_details(serde_json::json!({"reason": "sandbox"})));
    }
    if node_count(db, c.id).await? >= u64::try_from(c.max_nodes).unwrap_or(0) {
        return Err(ApiError::conflict(format!("the chain is at its limit of {} nodes", c.max_nodes))
            .with_details(serde_json::json!({"reason": "node_limit"})));
    }
    Ok(())
}

/// Stops, starts or restarts a chain's nodes through the driver and
/// records the new state on the chain and its nodes.
pub async fn lifecycle(state: &AppState, c: chain::Model, verb: &str) -> Result<chain::Model> {
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
    let mut a = c.into_active_model();
    a.state = Set(to);
    let c = a.update(&state.db).await?;
    node::Entity::update_many()
        .col_expr(node::Column::State, Expr::value(node_to))
        .filter(node::Column::ChainId.eq(c.id))
        .exec(&state.db)
        .await?;
    Ok(c)
}

/// Deletes a chain: the driver purges it, its nodes' quota goes back (a
/// sandbox's node took none).
pub async fn delete(state: &AppState, c: chain::Model) -> Result<()> {
    if c.state == ChainState::Provisioning {
        return Err(ApiError::conflict("the chain is still being provisioned"));
    }
    state.driver.delete_chain(&c.chain_key).await?;
    let nodes = match c.sandbox_of {
        Some(_) => Vec::new(),
        None => node::Entity::find().filter(node::Column::ChainId.eq(c.id)).all(&state.db).await?,
    };
    // One release per member organization, not per node.
    let mut by_org: BTreeMap<i64, jobs::Amount> = BTreeMap::new();
    for n in nodes {
        let a = by_org.entry(n.org_id).or_insert(jobs::Amount {
            nodes: 0,
            cpu_millis: 0,
            memory_mb: 0,
            storage_mb: 0,
        });
        a.nodes += 1;
        a.cpu_millis += n.cpu_millis;
        a.memory_mb += n.memory_mb;
        a.storage_mb += n.storage_mb;
    }
    let txn = state.db.begin().await?;
    for (org_id, amount) in by_org {
        jobs::release(&txn, org_id, amount).await?;
    }
    crate::services::contracts::delete_of_chain(&txn, c.id).await?;
    chain::Entity::delete_by_id(c.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Records a new block policy (already applied by the driver).
pub async fn set_policy(db: &impl ConnectionTrait, c: chain::Model, stored: String) -> Result<chain::Model> {
    let mut a = c.into_active_model();
    a.block_policy = Set(stored);
    Ok(a.update(db).await?)
}

/// Stores the engine a chain switched to.
pub async fn set_consensus(
    db: &impl ConnectionTrait,
    c: chain::Model,
    consensus: String,
) -> Result<chain::Model> {
    let mut a = c.into_active_model();
    a.consensus = Set(consensus);
    Ok(a.update(db).await?)
}

/// Records a node the driver started (on a connection or in a transaction).
pub(crate) async fn insert_node_on(
    db: &impl ConnectionTrait,
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
/// organization's quota and the chain's node limit; with a provisioning
/// job's `lease`, its quota is already reserved and the node counts as the
/// job's progress.
pub(crate) async fn add_node(
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
    if !is_member(&state.db, c.id, org_id).await? {
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
    check_room(&state.db, &c).await?;
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

/// A node the tenant may operate: its own organization's (with
/// `creator_too`, the chain's creator may also act on any node of it).
pub async fn own_node(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    chain_id: i64,
    node_id: i64,
    creator_too: bool,
) -> Result<(chain::Model, node::Model)> {
    let c = visible(db, tenant, chain_id).await?;
    let n = node::Entity::find_by_id(node_id)
        .filter(node::Column::ChainId.eq(c.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such node"))?;
    if !(tenant.owns(n.org_id) || (creator_too && tenant.owns(c.org_id))) {
        return Err(ApiError::forbidden("the node belongs to another organization"));
    }
    Ok((c, n))
}

/// Removes a node: it leaves consensus, stops, its data is purged and its
/// quota goes back. The last node stays (the chain is deleted instead).
pub async fn remove_node(state: &AppState, c: &chain::Model, n: node::Model) -> Result<()> {
    if node_count(&state.db, c.id).await? <= 1 {
        return Err(ApiError::conflict("the last node cannot be removed; delete the chain instead"));
    }
    state.driver.remove_node(&c.chain_key, &n.name).await?;
    let txn = state.db.begin().await?;
    jobs::release(&txn, n.org_id, jobs::Amount::node(n.cpu_millis, n.memory_mb, n.storage_mb)).await?;
    node::Entity::delete_by_id(n.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Records a node's new desired state.
pub async fn set_node_state(db: &impl ConnectionTrait, n: node::Model, to: NodeState) -> Result<node::Model> {
    let mut a = n.into_active_model();
    a.state = Set(to);
    Ok(a.update(db).await?)
}
