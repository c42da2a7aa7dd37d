//! Users of an organization, their roles and status. Every lookup carries
//! the tenant in its WHERE clause: another organization's user is absent.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, JoinType, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::{
    domain::{IdentityKind, IdentityStatus, Tenant, UserStatus},
    entity::{api_token, org, role, session, user, user_role},
    error::{ApiError, Result},
    now_ms, rbac, validate,
};

/// A user with its role names.
pub type WithRoles = (user::Model, Vec<String>);

/// The role names of each of `users`, in one query.
pub async fn with_roles(db: &impl ConnectionTrait, users: Vec<user::Model>) -> Result<Vec<WithRoles>> {
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let rows = user_role::Entity::find()
        .join(
            JoinType::InnerJoin,
            user_role::Entity::belongs_to(role::Entity)
                .from(user_role::Column::RoleId)
                .to(role::Column::Id)
                .into(),
        )
        .select_also(role::Entity)
        .filter(user_role::Column::UserId.is_in(ids))
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?;
    let mut names: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (ur, r) in rows {
        if let Some(r) = r {
            names.entry(ur.user_id).or_default().push(r.name);
        }
    }
    Ok(users
        .into_iter()
        .map(|u| {
            let roles = names.remove(&u.id).unwrap_or_default();
            (u, roles)
        })
        .collect())
}

/// One user with its role names.
pub async fn with_roles_one(db: &impl ConnectionTrait, u: user::Model) -> Result<WithRoles> {
    with_roles(db, vec![u]).await?.pop().ok_or_else(|| ApiError::internal("reading roles", "no user"))
}

fn scoped(tenant: &Tenant) -> Condition {
    match tenant.only() {
        Some(org) => Condition::all().add(user::Column::OrgId.eq(org)),
        None => Condition::all(),
    }
}

/// A user the tenant may manage; another tenant's user looks absent.
pub async fn find(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .filter(scoped(tenant))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// The tenant's users with their roles (only those whose real-name
/// verification is in `identity`, if given).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    identity: Option<IdentityStatus>,
) -> Result<Vec<WithRoles>> {
    let mut q = user::Entity::find().filter(scoped(tenant));
    if let Some(status) = identity {
        q = q.filter(user::Column::IdentityStatus.eq(status));
    }
    let users = q.order_by_asc(user::Column::Id).all(db).await?;
    with_roles(db, users).await
}

/// A new active account.
pub(crate) fn new_user(
    org_id: i64,
    username: impl Into<String>,
    real_name: impl Into<String>,
    password_hash: String,
    must_change_password: bool,
) -> user::ActiveModel {
    user::ActiveModel {
        org_id: Set(org_id),
        username: Set(username.into()),
        real_name: Set(real_name.into()),
        password_hash: Set(password_hash),
        status: Set(UserStatus::Active),
        must_change_password: Set(must_change_password),
        failed_logins: Set(0),
        locked_until: Set(0),
        created_at: Set(now_ms()),
        last_login_at: Set(0),
        identity_status: Set(IdentityStatus::Unverified),
        identity_kind: Set(String::new()),
        identity_number: Set(String::new()),
        identity_opinion: Set(String::new()),
        identity_reviewer: Set(String::new()),
        identity_submitted_at: Set(0),
        identity_reviewed_at: Set(0),
        ..Default::default()
    }
}

/// Refuses a user name that is taken.
pub async fn check_username_free(db: &impl ConnectionTrait, username: &str) -> Result<()> {
    if user::Entity::find().filter(user::Column::Username.eq(username)).one(db).await?.is_some() {
        return Err(ApiError::conflict(format!("user name `{username}` is taken")));
    }
    Ok(())
}

/// Resolves role names for a user of `org_id`, in one query: built-ins,
/// or custom roles of that organization; `super_admin` only in the
/// platform organization.
pub async fn resolve_roles(
    db: &impl ConnectionTrait,
    org_id: i64,
    names: &[String],
) -> Result<Vec<role::Model>> {
    let target = org::Entity::find_by_id(org_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such organization"))?;
    for name in names {
        validate::name("role", name, 64)?;
    }
    let offered = role::Entity::find()
        .filter(role::Column::Name.is_in(names.iter().map(String::as_str)))
        .filter(Condition::any().add(role::Column::Builtin.eq(true)).add(role::Column::OrgId.eq(org_id)))
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for name in names {
        let r = offered
            .iter()
            .find(|r| &r.name == name)
            .cloned()
            .ok_or_else(|| ApiError::invalid(format!("no role `{name}` in this organization")))?;
        if r.name == rbac::SUPER_ADMIN && !target.is_platform {
            return Err(ApiError::invalid("super_admin belongs to the platform organization only"));
        }
        out.push(r);
    }
    if out.len() > 16 {
        return Err(ApiError::invalid("at most 16 roles"));
    }
    Ok(out)
}

/// Replaces a user's roles.
pub async fn set_roles(db: &impl TransactionTrait, user_id: i64, roles: &[role::Model]) -> Result<()> {
    let txn = db.begin().await?;
    user_role::Entity::delete_many().filter(user_role::Column::UserId.eq(user_id)).exec(&txn).await?;
    if !roles.is_empty() {
        let rows = roles.iter().map(|r| user_role::ActiveModel { user_id: Set(user_id), role_id: Set(r.id) });
        user_role::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Creates a user of organization `org_id` with a password someone else
/// chose (it must be changed) and `roles`.
pub async fn create(
    db: &DatabaseConnection,
    org_id: i64,
    username: String,
    real_name: String,
    password_hash: String,
    roles: &[role::Model],
) -> Result<user::Model> {
    let u = new_user(org_id, username, real_name, password_hash, true).insert(db).await?;
    set_roles(db, u.id, roles).await?;
    Ok(u)
}

/// A new real name.
pub async fn rename(
    db: &impl ConnectionTrait,
    u: user::Model,
    real_name: Option<String>,
) -> Result<user::Model> {
    let verified = matches!(u.identity_status, IdentityStatus::Pending | IdentityStatus::Verified);
    let same = real_name.as_ref().is_none_or(|n| *n == u.real_name);
    let mut active = u.into_active_model();
    if let Some(n) = real_name {
        validate::name("real_name", &n, 128)?;
        active.real_name = Set(n);
    }
    // A verification (or one under review) was of the old name.
    if verified && !same {
        active.identity_status = Set(IdentityStatus::Unverified);
        active.identity_opinion = Set("the real name changed after the verification".into());
    }
    Ok(active.update(db).await?)
}

/// A user's own real-name verification: the name and the document (its
/// number already checked and masked by [`validate::identity_number`]),
/// pending an administrator's review. Refused once verified.
pub async fn submit_identity(
    db: &impl ConnectionTrait,
    u: user::Model,
    real_name: String,
    kind: IdentityKind,
    masked_number: String,
) -> Result<user::Model> {
    if u.identity_status == IdentityStatus::Verified {
        return Err(ApiError::conflict("your real name is already verified")
            .with_details(serde_json::json!({"reason": "already_verified"})));
    }
    let mut active = u.into_active_model();
    active.real_name = Set(real_name);
    active.identity_status = Set(IdentityStatus::Pending);
    active.identity_kind = Set(kind.as_str().to_owned());
    active.identity_number = Set(masked_number);
    active.identity_opinion = Set(String::new());
    active.identity_reviewer = Set(String::new());
    active.identity_submitted_at = Set(now_ms());
    active.identity_reviewed_at = Set(0);
    Ok(active.update(db).await?)
}

/// Decides a pending real-name verification. Conditional on its still
/// being pending, so two reviewers cannot both decide it.
pub async fn review_identity(
    db: &impl ConnectionTrait,
    u: user::Model,
    reviewer: &str,
    approve: bool,
    opinion: &str,
) -> Result<user::Model> {
    use sea_orm::sea_query::Expr;
    let status = if approve { IdentityStatus::Verified } else { IdentityStatus::Rejected };
    let done = user::Entity::update_many()
        .col_expr(user::Column::IdentityStatus, Expr::value(status.as_str()))
        .col_expr(user::Column::IdentityOpinion, Expr::value(opinion))
        .col_expr(user::Column::IdentityReviewer, Expr::value(reviewer))
        .col_expr(user::Column::IdentityReviewedAt, Expr::value(now_ms()))
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::IdentityStatus.eq(IdentityStatus::Pending))
        .exec(db)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::conflict(format!(
            "the real-name verification is {}, not pending review",
            u.identity_status
        ))
        .with_details(serde_json::json!({"reason": "not_pending"})));
    }
    user::Entity::find_by_id(u.id).one(db).await?.ok_or_else(|| ApiError::not_found("no such user"))
}

/// Sets a password hash someone else chose (the user must change it) and
/// ends the user's sessions.
pub async fn reset_password(db: &impl ConnectionTrait, u: user::Model, hash: String) -> Result<user::Model> {
    let mut active = u.into_active_model();
    active.password_hash = Set(hash);
    active.must_change_password = Set(true);
    active.failed_logins = Set(0);
    active.locked_until = Set(0);
    let u = active.update(db).await?;
    session::Entity::delete_many().filter(session::Column::UserId.eq(u.id)).exec(db).await?;
    Ok(u)
}

/// Freezes or unfreezes; a frozen user's sessions and tokens end.
pub async fn set_status(
    db: &impl ConnectionTrait,
    u: user::Model,
    status: UserStatus,
) -> Result<user::Model> {
    let mut active = u.into_active_model();
    active.status = Set(status);
    let u = active.update(db).await?;
    if status == UserStatus::Frozen {
        session::Entity::delete_many().filter(session::Column::UserId.eq(u.id)).exec(db).await?;
        api_token::Entity::delete_many().filter(api_token::Column::UserId.eq(u.id)).exec(db).await?;
    }
    Ok(u)
}
