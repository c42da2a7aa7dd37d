//! Resource requests and their approval (SPEC PRV-2..4, PRV-9). A
//! department sees its own requests, the platform's approver every one:
//! the queries carry the tenant. An approval grants the quota and queues
//! the provisioning job in the transaction that decides the request.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, Select, Set, TransactionTrait, sea_query::Expr,
};
use tokio::sync::broadcast;

use crate::{
    Event,
    domain::{OrgStatus, RequestSpec, RequestStatus, Tenant},
    entity::{chain, quota, request},
    error::{ApiError, Result},
    jobs, now_ms, page,
    services::{chains, messages},
};

fn scoped(tenant: &Tenant) -> Select<request::Entity> {
    match tenant.only() {
        Some(org) => request::Entity::find().filter(request::Column::OrgId.eq(org)),
        None => request::Entity::find(),
    }
}

/// A page of the tenant's requests, newest first, in `status` if given,
/// and where the next page starts.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    status: Option<RequestStatus>,
    before: Option<i64>,
    limit: Option<u64>,
) -> Result<(Vec<request::Model>, Option<i64>)> {
    let mut q = scoped(tenant);
    if let Some(s) = status {
        q = q.filter(request::Column::Status.eq(s));
    }
    let page = (page::DEFAULT, page::MAX);
    Ok(page::fetch(db, q, request::Column::Id, before, limit, page, |r| r.id).await?)
}

/// One of the tenant's requests; another tenant's looks absent.
pub async fn find(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<request::Model> {
    scoped(tenant)
        .filter(request::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such request"))
}

/// Submits a request of the tenant's organization (its domain and status as
/// the caller's authentication read them; it must be active);
/// the platform operator is told at once.
/// (`read` serves the checks, `db` the writes.)
pub async fn create(
    db: &DatabaseConnection,
    read: &DatabaseConnection,
    events: &broadcast::Sender<Event>,
    tenant: &Tenant,
    (domain, status): (&str, OrgStatus),
    spec: RequestSpec,
    purpose: String,
) -> Result<request::Model> {
    if status != OrgStatus::Active {
        return Err(ApiError::forbidden(format!(
            "the organization is {status}: requests open once the platform approved its registration"
        )));
    }
    let chain_id = match &spec {
        RequestSpec::Chain(c) => {
            let taken = chain::Entity::find()
                .filter(chain::Column::OrgId.eq(tenant.org_id))
                .filter(chain::Column::Name.eq(c.name.as_str()))
                .one(read)
                .await?;
            if taken.is_some() {
                return Err(ApiError::conflict(format!("the organization already has a chain `{}`", c.name)));
            }
            None
        }
        RequestSpec::Nodes(r) => {
            let c = chains::visible(read, tenant, r.chain_id).await?;
            if c.sandbox_of.is_some() {
                return Err(ApiError::conflict("a sandbox chain takes no more nodes"));
            }
            // The nodes would be the requesting organization's own: seeing
            // every chain (the platform operator) is not membership.
            if !chains::is_member(read, c.id, tenant.org_id).await? {
                return Err(ApiError::forbidden(
                    "the organization is not a member of this chain; accept an invitation first",
                ));
            }
            Some(c.id)
        }
    };
    let platform = messages::platform_id(read).await?;
    let now = now_ms();
    // The request and the approver's message in one transaction: one turn
    // at the writer.
    let txn = db.begin().await?;
    let r = request::ActiveModel {
        org_id: Set(tenant.org_id),
        requester_id: Set(tenant.user_id),
        kind: Set(spec.kind()),
        chain_id: Set(chain_id),
        spec: Set(serde_json::to_string(&spec).map_err(|e| ApiError::internal("storing a request", e))?),
        purpose: Set(purpose),
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
    .insert(&txn)
    .await?;
    let title = format!("{domain} requests {} ({} node(s)): {}", r.kind, spec.nodes(), r.purpose);
    let m =
        messages::store(&txn, platform, "request_submitted", &title, &format!("/requests/{}", r.id)).await?;
    txn.commit().await?;
    messages::push(events, m);
    Ok(r)
}

/// Decides a pending request (the caller is the platform's approver);
/// `wake` is called once an approval's job is queued.
pub async fn decide(
    db: &DatabaseConnection,
    events: &broadcast::Sender<Event>,
    tenant: &Tenant,
    id: i64,
    approve: bool,
    opinion: String,
    wake: impl FnOnce(),
) -> Result<request::Model> {
    let r = find(db, tenant, id).await?;
    if r.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let now = now_ms();
    let txn = db.begin().await?;
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
        .col_expr(request::Column::ApproverId, Expr::value(tenant.user_id))
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
        jobs::enqueue(&txn, r.id, host).await?;
    }
    txn.commit().await?;
    if approve {
        wake();
    }
    let r = request::Entity::find_by_id(r.id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such request"))?;
    let verdict = if approve { "approved" } else { "rejected" };
    messages::notify(
        db,
        events,
        r.org_id,
        &format!("request_{verdict}"),
        &format!("Request {} was {verdict}: {opinion}", r.id),
        &format!("/requests/{}", r.id),
    )
    .await?;
    Ok(r)
}

/// Withdraws a pending request of organization `org_id`.
pub async fn cancel(db: &impl ConnectionTrait, org_id: i64, id: i64) -> Result<request::Model> {
    let r = request::Entity::find_by_id(id)
        .filter(request::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such request"))?;
    if r.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!("the request is {}, not pending", r.status)));
    }
    let mut a = r.into_active_model();
    a.status = Set(RequestStatus::Cancelled);
    a.progress = Set("cancelled by the requester".into());
    a.updated_at = Set(now_ms());
    Ok(a.update(db).await?)
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
