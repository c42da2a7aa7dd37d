//! Provisioning an approved request (SPEC PRV-4): run by the job a
//! replica claimed (see `jobs`), it reserves the quota once, has the host
//! driver start the chain or nodes, and records `running` or `failed`,
//! telling the requester either way. At start, chains that should run are
//! resumed.

use govchain_driver::{ChainSpec, ConsensusKind, NodeRole, NodeSpec};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
    sea_query::Expr,
};

use crate::{
    AppState, audit,
    domain::{ChainRequest, ChainState, NodesRequest, RequestSpec, RequestStatus, parse_suite},
    entity::{chain, chain_member, org, request},
    error::{ApiError, Result},
    jobs, now_ms,
    services::{chains, messages},
};

/// [`run_job`] as the job worker's [`jobs::Runner`].
pub(crate) fn job_runner(
    state: AppState,
    lease: jobs::Lease,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { run_job(&state, &lease).await })
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
        messages::notify(
            &state.db,
            &state.events,
            r.org_id,
            kind,
            &title,
            &format!("/requests/{request_id}"),
        )
        .await?;
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
    let key = format!("{}-{}", c.name, &crate::auth::random_token()[..8]);
    let now = now_ms();
    let txn = state.db.begin().await?;
    lease.check(&txn).await?;
    let ch = chain_row(state, &key, o.id, c, now)?.insert(&txn).await?;
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
    let spec = chain_spec(&key, &o.domain, c)?;
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
            // The default alert rules watch it from now on.
            if let Err(e) = crate::services::alerts::ensure_defaults(&state.db, o.id).await {
                tracing::warn!(target: "govchain::api", "default alert rules of org {}: {}", o.id, e.message);
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

/// The row of chain `key` of organization `org_id` as `c` describes it,
/// provisioning from `now` on the hosts of this replica's driver.
pub(crate) fn chain_row(
    state: &AppState,
    key: &str,
    org_id: i64,
    c: &ChainRequest,
    now: i64,
) -> Result<chain::ActiveModel> {
    let policy = c.block_policy.clone().unwrap_or_default();
    Ok(chain::ActiveModel {
        name: Set(c.name.clone()),
        chain_key: Set(key.to_owned()),
        org_id: Set(org_id),
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
    })
}

/// What the host driver gets for chain `key` of organization `owner`
/// (its domain) as `c` describes it: every first node is the owner's.
pub(crate) fn chain_spec(key: &str, owner: &str, c: &ChainRequest) -> Result<ChainSpec> {
    Ok(ChainSpec {
        chain: key.to_owned(),
        owner_org: owner.to_owned(),
        suite: parse_suite(&c.suite)?,
        consensus: c.consensus.parse::<ConsensusKind>().map_err(|e| ApiError::invalid(e.to_string()))?,
        nodes: (0..c.nodes)
            .map(|_| NodeSpec {
                org: owner.to_owned(),
                role: NodeRole::Consensus,
                resources: c.resources.to_driver(),
            })
            .collect(),
        block_policy: c.block_policy.clone().unwrap_or_default().to_driver()?,
        contract_governance: match &c.contract_governance {
            Some(g) => g.to_policy()?,
            None => Default::default(),
        },
    })
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
