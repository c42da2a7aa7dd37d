//! Organizations (SPEC ORG-2) and their quotas (PRV-9); the first run's
//! platform organization and super admin. An organization sees itself, the
//! platform operator every one: the queries carry the tenant.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Select, Set, TransactionTrait,
};

use crate::{
    AppState, audit, auth,
    domain::{OrgStatus, Tenant},
    entity::{org, quota, user, user_role},
    error::{ApiError, Result},
    now_ms, rbac,
    services::{roles, users},
    validate,
};

/// Domain of the platform operator's organization.
pub const PLATFORM_DOMAIN: &str = "platform";

/// A new organization's fields.
#[derive(Debug, Clone)]
pub struct NewOrg {
    /// Name.
    pub name: String,
    /// Unique domain.
    pub domain: String,
    /// Description.
    pub description: String,
    /// `pending` (registered) or `active` (created by the platform).
    pub status: OrgStatus,
}

/// Creates an organization with its first user as `org_admin`, in one
/// transaction.
pub async fn create_with_admin(
    db: &DatabaseConnection,
    new: NewOrg,
    username: &str,
    real_name: &str,
    password_hash: String,
    must_change_password: bool,
) -> Result<(org::Model, user::Model)> {
    if org::Entity::find().filter(org::Column::Domain.eq(new.domain.as_str())).one(db).await?.is_some() {
        return Err(ApiError::conflict(format!("domain `{}` is taken", new.domain)));
    }
    users::check_username_free(db, username).await?;
    let admin_role = roles::builtin(db, rbac::ORG_ADMIN).await?;
    let now = now_ms();
    let txn = db.begin().await?;
    let o = org::ActiveModel {
        name: Set(new.name),
        domain: Set(new.domain),
        description: Set(new.description),
        status: Set(new.status),
        review_opinion: Set(String::new()),
        is_platform: Set(false),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let u =
        users::new_user(o.id, username.to_owned(), real_name.to_owned(), password_hash, must_change_password)
            .insert(&txn)
            .await?;
    user_role::ActiveModel { user_id: Set(u.id), role_id: Set(admin_role.id) }.insert(&txn).await?;
    empty_quota(o.id).insert(&txn).await?;
    txn.commit().await?;
    Ok((o, u))
}

/// Every organization has a quota row from its creation; approvals add to it.
fn empty_quota(org_id: i64) -> quota::ActiveModel {
    quota::ActiveModel {
        org_id: Set(org_id),
        nodes: Set(0),
        cpu_millis: Set(0),
        memory_mb: Set(0),
        storage_mb: Set(0),
        used_nodes: Set(0),
        used_cpu_millis: Set(0),
        used_memory_mb: Set(0),
        used_storage_mb: Set(0),
    }
}

/// First run: built-in roles, the platform organization and its super
/// admin (password from the config, or random). Returns the admin's
/// credentials when it created them.
pub(crate) async fn bootstrap(state: &AppState) -> Result<Option<(String, String)>> {
    let db = &state.db;
    roles::ensure_builtins(db).await?;
    let platform = match org::Entity::find().filter(org::Column::IsPlatform.eq(true)).one(db).await? {
        Some(o) => o,
        None => {
            let o = org::ActiveModel {
                name: Set("Platform operator".into()),
                domain: Set(PLATFORM_DOMAIN.into()),
                description: Set("Runs the platform and approves resource requests".into()),
                status: Set(OrgStatus::Active),
                review_opinion: Set(String::new()),
                is_platform: Set(true),
                created_at: Set(now_ms()),
                ..Default::default()
            }
            .insert(db)
            .await?;
            empty_quota(o.id).insert(db).await?;
            o
        }
    };
    if user::Entity::find().filter(user::Column::OrgId.eq(platform.id)).one(db).await?.is_some() {
        return Ok(None);
    }
    let username = state.config.admin_username.clone();
    validate::username(&username)?;
    let (password, generated) = match &state.config.admin_password {
        Some(p) => {
            auth::check_password_policy(p, &username)?;
            (p.clone(), false)
        }
        None => (auth::random_password(), true),
    };
    let super_role = roles::builtin(db, rbac::SUPER_ADMIN).await?;
    let u = users::new_user(
        platform.id,
        username.clone(),
        "Platform administrator",
        auth::hash(&password).await?,
        generated,
    )
    .insert(db)
    .await?;
    user_role::ActiveModel { user_id: Set(u.id), role_id: Set(super_role.id) }.insert(db).await?;
    audit::record(
        state,
        audit::Entry {
            actor_id: None,
            actor: "system".into(),
            org_id: Some(platform.id),
            action: "bootstrap".into(),
            target: format!("users/{}", u.id),
            result: "ok".into(),
            detail: format!("created the platform organization and super admin `{username}`"),
        },
    )
    .await?;
    Ok(Some((username, password)))
}

fn scoped(tenant: &Tenant) -> Select<org::Entity> {
    match tenant.only() {
        Some(id) => org::Entity::find().filter(org::Column::Id.eq(id)),
        None => org::Entity::find(),
    }
}

/// The tenant's organizations.
pub async fn list(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<org::Model>> {
    Ok(scoped(tenant).order_by_asc(org::Column::Id).all(db).await?)
}

/// One of the tenant's organizations; another looks absent.
pub async fn find(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<org::Model> {
    scoped(tenant)
        .filter(org::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such organization"))
}

/// Renames or redescribes one of the tenant's organizations.
pub async fn update(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
    name: Option<String>,
    description: Option<String>,
) -> Result<org::Model> {
    let mut a = find(db, tenant, id).await?.into_active_model();
    if let Some(n) = name {
        validate::name("name", &n, 128)?;
        a.name = Set(n);
    }
    if let Some(d) = description {
        validate::text("description", &d, 2000)?;
        a.description = Set(d);
    }
    Ok(a.update(db).await?)
}

/// Decides a pending organization's real-name review.
pub async fn review(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
    approve: bool,
    opinion: &str,
) -> Result<org::Model> {
    let o = find(db, tenant, id).await?;
    if o.status != OrgStatus::Pending {
        return Err(ApiError::conflict(format!("the organization is {}, not pending review", o.status)));
    }
    let mut a = o.into_active_model();
    a.status = Set(if approve { OrgStatus::Active } else { OrgStatus::Rejected });
    a.review_opinion = Set(opinion.to_owned());
    Ok(a.update(db).await?)
}

/// Organization `org_id` itself, for its own caller.
pub async fn own(db: &impl ConnectionTrait, org_id: i64) -> Result<org::Model> {
    org::Entity::find_by_id(org_id).one(db).await?.ok_or_else(|| ApiError::unauthorized("gone"))
}

/// The grant and usage of organization `org_id` (usage lives on the row:
/// nodes and reservations in flight).
pub async fn quota(db: &impl ConnectionTrait, org_id: i64) -> Result<Option<quota::Model>> {
    Ok(quota::Entity::find_by_id(org_id).one(db).await?)
}

/// Every department (not the platform itself) with its quota, by name
/// (two queries whatever their number).
pub async fn quotas(db: &impl ConnectionTrait) -> Result<Vec<(org::Model, Option<quota::Model>)>> {
    let orgs = org::Entity::find()
        .filter(org::Column::IsPlatform.eq(false))
        .order_by_asc(org::Column::Name)
        .all(db)
        .await?;
    let mut quotas: std::collections::BTreeMap<i64, quota::Model> = quota::Entity::find()
        .filter(quota::Column::OrgId.is_in(orgs.iter().map(|o| o.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|q| (q.org_id, q))
        .collect();
    Ok(orgs
        .into_iter()
        .map(|o| {
            let q = quotas.remove(&o.id);
            (o, q)
        })
        .collect())
}
