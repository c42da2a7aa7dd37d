//! Sandbox chains (SPEC SC-7, issue 13): every organization that deploys
//! contracts gets a development chain of its own, one solo node made on
//! first use, where the web IDE deploys and debugs by default.
//!
//! A sandbox is provisioned through the host driver like an approved
//! chain, but outside the organization's quota: nothing is reserved for
//! its node and nothing given back when it goes. It has no contract
//! governance (deployments go straight through) and no other members.
//! Its transactions are signed with the account the platform holds for
//! the organization on the sandbox chain itself, a key made for that
//! chain alone: a test account, never the organization's account on a
//! production chain.
//!
//! One per organization, across replicas: the unique `sandbox_of` column
//! decides between concurrent creations; the loser waits for the winner's
//! chain instead of making a second one.

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::{
    AppState,
    domain::{ChainRequest, ChainState, ResourcesView},
    entity::{chain, chain_member, org},
    error::{ApiError, Result},
    now_ms,
    services::{chains, provision},
};

/// Every sandbox chain's name.
pub const NAME: &str = "sandbox";
/// The crypto suite of a sandbox unless its creation names another.
pub const DEFAULT_SUITE: &str = "gm";
/// What the sandbox's node is given (recorded, not counted in the quota).
const RESOURCES: ResourcesView = ResourcesView { cpu_millis: 500, memory_mb: 512, storage_mb: 1024 };
/// How long a creation in progress may take before another call takes it
/// over as abandoned (its replica stopped): past the driver's own bound
/// on starting a chain.
const STALE: Duration = Duration::from_secs(180);
/// How often a call waiting for another call's creation looks again.
const POLL: Duration = Duration::from_millis(200);

fn stale_ms() -> i64 {
    i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX)
}

/// The chain a sandbox is.
fn request(suite: &str) -> ChainRequest {
    ChainRequest {
        name: NAME.into(),
        consensus: "solo".into(),
        suite: suite.into(),
        nodes: 1,
        max_nodes: 1,
        block_policy: None,
        resources: RESOURCES,
        contract_governance: None,
    }
}

/// Organization `org_id`'s sandbox chain, if it has one.
pub async fn find(db: &impl ConnectionTrait, org_id: i64) -> Result<Option<chain::Model>> {
    Ok(chain::Entity::find().filter(chain::Column::SandboxOf.eq(org_id)).one(db).await?)
}

/// Organization `o`'s sandbox, made (of `suite`) if it has none; whether
/// this call made it. A creation under way elsewhere is waited for; one
/// abandoned (older than [`STALE`]) is removed and made again.
pub async fn ensure(state: &AppState, o: &org::Model, suite: &str) -> Result<(chain::Model, bool)> {
    let deadline = Instant::now() + STALE;
    loop {
        match find(&state.db, o.id).await? {
            Some(c) if c.state != ChainState::Provisioning => return Ok((c, false)),
            Some(c) if now_ms().saturating_sub(c.created_at) > stale_ms() => {
                take_over(state, &c).await?;
            }
            Some(_) => {}
            None => {
                if let Some(c) = claim(state, o, suite).await? {
                    return Ok((provision(state, o, c, suite).await?, true));
                }
            }
        }
        if Instant::now() > deadline {
            return Err(ApiError::conflict(format!(
                "the sandbox of {} is still being provisioned; ask again shortly",
                o.domain
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Inserts the sandbox's row (provisioning) and membership, unless the
/// organization has a sandbox already (then `None`).
async fn claim(state: &AppState, o: &org::Model, suite: &str) -> Result<Option<chain::Model>> {
    let key = format!("{NAME}-{}", &crate::auth::random_token()[..12]);
    let now = now_ms();
    let mut row = provision::chain_row(state, &key, o.id, &request(suite), now)?;
    row.sandbox_of = Set(Some(o.id));
    let txn = state.db.begin().await?;
    let inserted = chain::Entity::insert(row)
        .on_conflict(OnConflict::column(chain::Column::SandboxOf).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    let c = chain::Entity::find()
        .filter(chain::Column::ChainKey.eq(key.as_str()))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal("reading a sandbox back", key.clone()))?;
    chain_member::ActiveModel { chain_id: Set(c.id), org_id: Set(o.id), joined_at: Set(now) }
        .insert(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(c))
}

/// Has the driver start the claimed sandbox `c` and records its node; a
/// failure removes the chain (row and files) so the next call tries anew.
async fn provision(state: &AppState, o: &org::Model, c: chain::Model, suite: &str) -> Result<chain::Model> {
    let req = request(suite);
    let started = async {
        let spec = provision::chain_spec(&c.chain_key, &o.domain, &req)?;
        let nodes = state.driver.create_chain(&spec).await?;
        let txn = state.db.begin().await?;
        for n in &nodes {
            chains::insert_node_on(&txn, c.id, o.id, n, &req.resources).await?;
        }
        chain::Entity::update_many()
            .col_expr(chain::Column::State, Expr::value(ChainState::Running))
            .filter(chain::Column::Id.eq(c.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok::<_, ApiError>(())
    };
    if let Err(e) = started.await {
        remove(state, &c).await;
        return Err(e);
    }
    chain::Entity::find_by_id(c.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::internal("reading a sandbox back", c.chain_key.clone()))
}

/// Removes an abandoned creation: its row (only while still provisioning,
/// so of two calls taking it over one does) and what the driver made.
async fn take_over(state: &AppState, c: &chain::Model) -> Result<()> {
    let gone = chain::Entity::delete_many()
        .filter(chain::Column::Id.eq(c.id))
        .filter(chain::Column::State.eq(ChainState::Provisioning))
        .exec(&state.db)
        .await?
        .rows_affected;
    if gone == 1 {
        tracing::warn!(target: "govchain::api", chain = %c.chain_key, "took over an abandoned sandbox creation");
        purge(state, &c.chain_key).await;
    }
    Ok(())
}

/// Removes sandbox `c`'s files and row after its creation failed.
async fn remove(state: &AppState, c: &chain::Model) {
    purge(state, &c.chain_key).await;
    if let Err(e) = chain::Entity::delete_by_id(c.id).exec(&state.db).await {
        tracing::error!(target: "govchain::api", chain = %c.chain_key, "removing a failed sandbox: {e}");
    }
}

async fn purge(state: &AppState, key: &str) {
    match state.driver.delete_chain(key).await {
        Ok(()) | Err(govchain_driver::Error::NotFound(_)) => {}
        Err(e) => tracing::warn!(target: "govchain::api", "removing sandbox chain {key}: {e}"),
    }
}
