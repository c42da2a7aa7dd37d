//! Organizations (SPEC ORG-2), roles (ORG-3) and quotas (PRV-9); the first
//! run's platform organization and super admin.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{self, Auth},
    created,
    entity::{org, quota, role, user, user_role},
    error::{ApiError, ErrorBody, Result},
    now_ms,
    rbac::{self, BUILTIN_ROLES, Perm},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org))
        .routes(routes!(review_org))
        .routes(routes!(permissions))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(update_role, delete_role))
        .routes(routes!(get_quota))
}

/// Domain of the platform operator's organization.
pub const PLATFORM_DOMAIN: &str = "platform";

/// An organization as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Unique domain; it names the organization's nodes.
    pub domain: String,
    /// Description.
    pub description: String,
    /// `pending` (awaiting the real-name review), `active` or `rejected`.
    pub status: String,
    /// The reviewer's opinion.
    pub review_opinion: String,
    /// Whether it is the platform operator.
    pub is_platform: bool,
    /// Created, ms since 1970.
    pub created_at: i64,
}

impl From<org::Model> for OrgView {
    fn from(o: org::Model) -> OrgView {
        OrgView {
            id: o.id,
            name: o.name,
            domain: o.domain,
            description: o.description,
            status: o.status,
            review_opinion: o.review_opinion,
            is_platform: o.is_platform,
            created_at: o.created_at,
        }
    }
}

/// A new organization's fields.
#[derive(Debug, Clone)]
pub(crate) struct NewOrg {
    pub name: String,
    pub domain: String,
    pub description: String,
    pub status: &'static str,
}

/// Creates an organization with its first user as `org_admin`, in one
/// transaction.
pub(crate) async fn create_org_with_admin(
    state: &AppState,
    new: NewOrg,
    username: &str,
    real_name: &str,
    password_hash: String,
    must_change_password: bool,
) -> Result<(org::Model, user::Model)> {
    if org::Entity::find().filter(org::Column::Domain.eq(new.domain.as_str())).one(&state.db).await?.is_some()
    {
        return Err(ApiError::conflict(format!("domain `{}` is taken", new.domain)));
    }
    if user::Entity::find().filter(user::Column::Username.eq(username)).one(&state.db).await?.is_some() {
        return Err(ApiError::conflict(format!("user name `{username}` is taken")));
    }
    let admin_role = builtin_role(state, rbac::ORG_ADMIN).await?;
    let now = now_ms();
    let txn = state.db.begin().await?;
    let o = org::ActiveModel {
        name: Set(new.name),
        domain: Set(new.domain),
        description: Set(new.description),
        status: Set(new.status.to_owned()),
        review_opinion: Set(String::new()),
        is_platform: Set(false),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let u = new_user(o.id, username.to_owned(), real_name.to_owned(), password_hash, must_change_password)
        .insert(&txn)
        .await?;
    user_role::ActiveModel { user_id: Set(u.id), role_id: Set(admin_role.id) }.insert(&txn).await?;
    empty_quota(o.id).insert(&txn).await?;
    txn.commit().await?;
    Ok((o, u))
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
        status: Set("active".into()),
        must_change_password: Set(must_change_password),
        failed_logins: Set(0),
        locked_until: Set(0),
        created_at: Set(now_ms()),
        last_login_at: Set(0),
        ..Default::default()
    }
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

async fn builtin_role(state: &AppState, name: &str) -> Result<role::Model> {
    role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .filter(role::Column::Builtin.eq(true))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::internal("finding a built-in role", name))
}

/// First run: built-in roles, the platform organization and its super
/// admin (password from the config, or random). Returns the admin's
/// credentials when it created them.
pub(crate) async fn bootstrap(state: &AppState) -> Result<Option<(String, String)>> {
    let now = now_ms();
    for b in BUILTIN_ROLES {
        let perms = rbac::store_perms(b.perms);
        match role::Entity::find()
            .filter(role::Column::Name.eq(b.name))
            .filter(role::Column::Builtin.eq(true))
            .one(&state.db)
            .await?
        {
            // A newer version may give a built-in role more permissions.
            Some(r) if r.permissions != perms => {
                let mut a = r.into_active_model();
                a.permissions = Set(perms);
                a.update(&state.db).await?;
            }
            Some(_) => {}
            None => {
                role::ActiveModel {
                    org_id: Set(None),
                    name: Set(b.name.to_owned()),
                    builtin: Set(true),
                    permissions: Set(perms),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&state.db)
                .await?;
            }
        }
    }
    let platform = match org::Entity::find().filter(org::Column::IsPlatform.eq(true)).one(&state.db).await? {
        Some(o) => o,
        None => {
            let o = org::ActiveModel {
                name: Set("Platform operator".into()),
                domain: Set(PLATFORM_DOMAIN.into()),
                description: Set("Runs the platform and approves resource requests".into()),
                status: Set("active".into()),
                review_opinion: Set(String::new()),
                is_platform: Set(true),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&state.db)
            .await?;
            empty_quota(o.id).insert(&state.db).await?;
            o
        }
    };
    if user::Entity::find().filter(user::Column::OrgId.eq(platform.id)).one(&state.db).await?.is_some() {
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
    let super_role = builtin_role(state, rbac::SUPER_ADMIN).await?;
    let u = new_user(
        platform.id,
        username.clone(),
        "Platform administrator",
        auth::hash(&password).await?,
        generated,
    )
    .insert(&state.db)
    .await?;
    user_role::ActiveModel { user_id: Set(u.id), role_id: Set(super_role.id) }.insert(&state.db).await?;
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

/// Organizations: all for the platform operator, otherwise the caller's.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", responses(
        (status = 200, body = [OrgView])))]
async fn list_orgs(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<OrgView>>> {
    let mut q = org::Entity::find();
    if !auth.sees_all() {
        q = q.filter(org::Column::Id.eq(auth.org_id));
    }
    Ok(Json(q.order_by_asc(org::Column::Id).all(&state.db).await?.into_iter().map(Into::into).collect()))
}

/// A new organization, created by the platform operator.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgRequest {
    /// Name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: String,
    /// Unique domain.
    #[schema(
        min_length = 3,
        max_length = 50,
        pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
    )]
    pub domain: String,
    /// Description.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: String,
    /// Its first admin's user name.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-zA-Z0-9._-]{3,64}$")]
    pub admin_username: String,
    /// Their real name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub admin_real_name: String,
}

/// A created organization and its admin's initial password (shown once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedOrg {
    /// The organization (active at once).
    pub org: OrgView,
    /// Its admin.
    pub admin: crate::account::UserView,
    /// The admin's random initial password; shown only now.
    pub initial_password: String,
}

/// Creates an organization with its admin (platform operator only).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = OrgRequest,
    responses(
        (status = 201, body = CreatedOrg),
        (status = 409, description = "`conflict`: the domain or the admin's user name is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<OrgRequest>,
) -> Result<Response> {
    auth.require(Perm::PlatformAdmin)?;
    validate::name("name", &req.name, 128)?;
    validate::domain(&req.domain)?;
    validate::text("description", &req.description, 2000)?;
    validate::username(&req.admin_username)?;
    validate::name("admin_real_name", &req.admin_real_name, 128)?;
    let password = auth::random_password();
    let (o, u) = create_org_with_admin(
        &state,
        NewOrg { name: req.name, domain: req.domain, description: req.description, status: "active" },
        &req.admin_username,
        &req.admin_real_name,
        auth::hash(&password).await?,
        true,
    )
    .await?;
    let detail = format!("org {} ({})", o.id, o.domain);
    let body = CreatedOrg {
        org: o.into(),
        admin: crate::account::user_view(&state, u).await?,
        initial_password: password,
    };
    Ok(audit::with_detail(created(body), detail))
}

async fn visible_org(state: &AppState, auth: &Auth, id: i64) -> Result<org::Model> {
    org::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|o| auth.owns(o.id))
        .ok_or_else(|| ApiError::not_found("no such organization"))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "orgs", params(("id" = i64, Path, description = "Organization id")),
    responses(
        (status = 200, body = OrgView)))]
async fn get_org(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<Json<OrgView>> {
    Ok(Json(visible_org(&state, &auth, id).await?.into()))
}

/// Changes to an organization (the domain is fixed: it names nodes).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgUpdate {
    /// New name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
    /// New description.
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
}

/// Edits an organization.
#[utoipa::path(patch, path = "/api/v1/orgs/{id}", tag = "orgs", params(("id" = i64, Path, description = "Organization id")),
    request_body = OrgUpdate, responses(
        (status = 200, body = OrgView),
        (status = 422, body = ErrorBody)))]
async fn update_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<OrgUpdate>,
) -> Result<Json<OrgView>> {
    auth.require(Perm::OrgManage)?;
    let o = visible_org(&state, &auth, id).await?;
    let mut a = o.into_active_model();
    if let Some(n) = req.name {
        validate::name("name", &n, 128)?;
        a.name = Set(n);
    }
    if let Some(d) = req.description {
        validate::text("description", &d, 2000)?;
        a.description = Set(d);
    }
    Ok(Json(a.update(&state.db).await?.into()))
}

/// A decision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// The reviewer's opinion.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub opinion: String,
}

/// Reviews a registered organization's real-name verification (platform
/// operator only); a rejected organization cannot submit requests.
#[utoipa::path(post, path = "/api/v1/orgs/{id}/review", tag = "orgs", params(("id" = i64, Path, description = "Organization id")),
    request_body = Decision, responses(
        (status = 200, body = OrgView),
        (status = 409, description = "`conflict`: the organization is not pending review", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn review_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Decision>,
) -> Result<Json<OrgView>> {
    auth.require(Perm::PlatformAdmin)?;
    validate::text("opinion", &req.opinion, 2000)?;
    let o = visible_org(&state, &auth, id).await?;
    if o.status != "pending" {
        return Err(ApiError::conflict(format!("the organization is {}, not pending review", o.status)));
    }
    let status = if req.approve { "active" } else { "rejected" };
    let mut a = o.into_active_model();
    a.status = Set(status.into());
    a.review_opinion = Set(req.opinion.clone());
    let o = a.update(&state.db).await?;
    crate::workflow::notify(
        &state,
        o.id,
        "org_reviewed",
        &format!(
            "The platform {} your organization: {}",
            if req.approve { "approved" } else { "rejected" },
            req.opinion
        ),
        &format!("/orgs/{}", o.id),
    )
    .await?;
    Ok(Json(o.into()))
}

/// A permission the picker offers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionView {
    /// The permission.
    pub name: Perm,
    /// Whether only the platform organization's roles may hold it.
    pub platform_only: bool,
}

/// Every permission (for a custom role's permission picker).
#[utoipa::path(get, path = "/api/v1/permissions", tag = "orgs", responses(
        (status = 200, body = [PermissionView])))]
async fn permissions(_auth: Auth) -> Json<Vec<PermissionView>> {
    Json(Perm::ALL.iter().map(|p| PermissionView { name: *p, platform_only: p.platform_only() }).collect())
}

/// A role as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    /// Id.
    pub id: i64,
    /// Owning organization (none: built-in).
    pub org_id: Option<i64>,
    /// Name.
    pub name: String,
    /// Built-in roles cannot be changed or deleted.
    pub builtin: bool,
    /// What it allows.
    pub permissions: Vec<Perm>,
}

impl From<role::Model> for RoleView {
    fn from(r: role::Model) -> RoleView {
        RoleView {
            id: r.id,
            org_id: r.org_id,
            permissions: rbac::parse_perms(&r.permissions),
            name: r.name,
            builtin: r.builtin,
        }
    }
}

/// Built-in roles and the caller organization's custom roles.
#[utoipa::path(get, path = "/api/v1/roles", tag = "orgs", responses(
        (status = 200, body = [RoleView])))]
async fn list_roles(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<RoleView>>> {
    let roles = role::Entity::find().order_by_asc(role::Column::Id).all(&state.db).await?;
    Ok(Json(
        roles.into_iter().filter(|r| r.builtin || r.org_id == Some(auth.org_id)).map(Into::into).collect(),
    ))
}

/// A custom role.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Name, unique in the organization and not a built-in's.
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: String,
    /// Permissions.
    pub permissions: Vec<Perm>,
}

fn check_role(auth: &Auth, req: &RoleRequest) -> Result<()> {
    validate::name("name", &req.name, 64)?;
    if let Some(p) = req.permissions.iter().find(|p| p.platform_only() && !auth.platform) {
        return Err(ApiError::invalid(format!("`{}` is for the platform organization only", p.name())));
    }
    // Nobody hands out more than they hold.
    if let Some(p) = req.permissions.iter().find(|p| !auth.perms.contains(p)) {
        return Err(ApiError::forbidden(format!("you cannot grant `{}`, which you do not hold", p.name())));
    }
    Ok(())
}

/// Creates a custom role in the caller's organization.
#[utoipa::path(post, path = "/api/v1/roles", tag = "orgs", request_body = RoleRequest,
    responses(
        (status = 201, body = RoleView),
        (status = 409, description = "`conflict`: a role of that name exists", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a platform-only permission outside the platform organization", body = ErrorBody)))]
async fn create_role(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Response> {
    auth.require(Perm::RoleManage)?;
    check_role(&auth, &req)?;
    let clash = role::Entity::find()
        .filter(role::Column::Name.eq(req.name.as_str()))
        .all(&state.db)
        .await?
        .into_iter()
        .any(|r| r.builtin || r.org_id == Some(auth.org_id));
    if clash {
        return Err(ApiError::conflict(format!("a role `{}` exists", req.name)));
    }
    let r = role::ActiveModel {
        org_id: Set(Some(auth.org_id)),
        name: Set(req.name),
        builtin: Set(false),
        permissions: Set(rbac::store_perms(&req.permissions)),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let detail = format!("role {}", r.id);
    Ok(audit::with_detail(created(RoleView::from(r)), detail))
}

async fn own_custom_role(state: &AppState, auth: &Auth, id: i64) -> Result<role::Model> {
    let r = role::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|r| r.builtin || r.org_id == Some(auth.org_id))
        .ok_or_else(|| ApiError::not_found("no such role"))?;
    if r.builtin {
        return Err(ApiError::conflict("built-in roles cannot be changed or deleted"));
    }
    Ok(r)
}

/// Changes a custom role.
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "orgs", params(("id" = i64, Path, description = "Role id")),
    request_body = RoleRequest, responses(
        (status = 200, body = RoleView),
        (status = 409, description = "`conflict`: built-in roles cannot be changed, or the name is taken", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a platform-only permission outside the platform organization", body = ErrorBody)))]
async fn update_role(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<RoleView>> {
    auth.require(Perm::RoleManage)?;
    let r = own_custom_role(&state, &auth, id).await?;
    check_role(&auth, &req)?;
    let mut a = r.into_active_model();
    a.name = Set(req.name);
    a.permissions = Set(rbac::store_perms(&req.permissions));
    Ok(Json(a.update(&state.db).await?.into()))
}

/// Deletes a custom role (built-ins cannot be deleted).
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "orgs", params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 204),
        (status = 409, description = "`conflict`: built-in roles cannot be deleted, or the role is in use", body = ErrorBody)))]
async fn delete_role(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<StatusCode> {
    auth.require(Perm::RoleManage)?;
    let r = own_custom_role(&state, &auth, id).await?;
    role::Entity::delete_by_id(r.id).exec(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an organization was granted and what it uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    /// Nodes granted.
    pub nodes: i64,
    /// CPU granted, millicores.
    pub cpu_millis: i64,
    /// Memory granted, MiB.
    pub memory_mb: i64,
    /// Storage granted, MiB.
    pub storage_mb: i64,
    /// Nodes in use.
    pub used_nodes: i64,
    /// CPU in use.
    pub used_cpu_millis: i64,
    /// Memory in use.
    pub used_memory_mb: i64,
    /// Storage in use.
    pub used_storage_mb: i64,
}

/// The grant and usage of organization `org_id`.
pub(crate) async fn quota_of(state: &AppState, org_id: i64) -> Result<QuotaView> {
    // Usage lives on the row: nodes and reservations in flight.
    let q = quota::Entity::find_by_id(org_id).one(&state.read).await?;
    Ok(q.map(|q| QuotaView {
        nodes: i64::from(q.nodes),
        cpu_millis: q.cpu_millis,
        memory_mb: q.memory_mb,
        storage_mb: q.storage_mb,
        used_nodes: q.used_nodes,
        used_cpu_millis: q.used_cpu_millis,
        used_memory_mb: q.used_memory_mb,
        used_storage_mb: q.used_storage_mb,
    })
    .unwrap_or_default())
}

/// The caller organization's quota: what approvals granted and what its
/// nodes use.
#[utoipa::path(get, path = "/api/v1/quota", tag = "orgs", responses(
        (status = 200, body = QuotaView)))]
async fn get_quota(State(state): State<AppState>, auth: Auth) -> Result<Json<QuotaView>> {
    auth.require(Perm::RequestView)?;
    Ok(Json(quota_of(&state, auth.org_id).await?))
}
