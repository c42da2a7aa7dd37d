//! Accounts: log in and out, the current user, password changes,
//! self-registration of a department (SPEC PRV-1), users of an
//! organization (ORG-1) and API tokens.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
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
    auth::{self, ActorSlot, Auth, Via},
    created,
    entity::{api_token, org, role, session, user, user_role},
    error::{ApiError, ErrorBody, Result},
    now_ms,
    orgs::{self, OrgView},
    rbac::{self, Perm},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(register))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reset_password))
        .routes(routes!(freeze_user))
        .routes(routes!(unfreeze_user))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Organization.
    pub org_id: i64,
    /// Login name.
    pub username: String,
    /// Real name.
    pub real_name: String,
    /// `active` or `frozen`.
    pub status: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether the password was set by someone else and should be changed.
    pub must_change_password: bool,
    /// Created, ms since 1970.
    pub created_at: i64,
    /// Last login, ms since 1970 (0: never).
    pub last_login_at: i64,
}

pub(crate) async fn user_view(state: &AppState, u: user::Model) -> Result<UserView> {
    let role_ids: Vec<i64> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(u.id))
        .all(&state.read)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect();
    let roles = role::Entity::find()
        .filter(role::Column::Id.is_in(role_ids))
        .all(&state.read)
        .await?
        .into_iter()
        .map(|r| r.name);
    Ok(UserView {
        id: u.id,
        org_id: u.org_id,
        username: u.username,
        real_name: u.real_name,
        status: u.status,
        roles: roles.collect(),
        must_change_password: u.must_change_password,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    })
}

/// Logging in.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A started session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Who logged in.
    pub user: UserView,
    /// Send this in the `X-CSRF-Token` header with every state-changing
    /// request of this session.
    pub csrf_token: String,
}

/// Logs in: sets the session cookie (HttpOnly, SameSite=Strict). Five
/// failures in a row lock the account for 15 minutes.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "`unauthorized`: wrong user name or password", body = ErrorBody),
        (status = 403, description = "`frozen`: the account is frozen", body = ErrorBody),
        (status = 423, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    slot: Option<axum::Extension<ActorSlot>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response> {
    let now = now_ms();
    // The name tried, as the operation log records it: control characters
    // (NUL cannot even be stored in PostgreSQL) shown as U+FFFD.
    let name: String =
        req.username.chars().take(64).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if let Some(axum::Extension(slot)) = &slot {
        slot.set(None, &name, None);
    }
    let wrong = || ApiError::unauthorized("wrong user name or password");
    // No user name has control characters; such a name is not looked up.
    let found = if req.username.chars().any(char::is_control) {
        None
    } else {
        user::Entity::find().filter(user::Column::Username.eq(req.username.as_str())).one(&state.db).await?
    };
    let Some(u) = found else {
        auth::verify(&req.password, auth::dummy_hash()).await;
        return Err(wrong());
    };
    if let Some(axum::Extension(slot)) = &slot {
        slot.set(Some(u.id), &u.username, Some(u.org_id));
    }
    if u.locked_until > now {
        let minutes = (u.locked_until - now + 59_999) / 60_000;
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "locked",
            format!("too many failed logins; the account is locked for {minutes} more minute(s)"),
        ));
    }
    if !auth::verify(&req.password, &u.password_hash).await {
        let failed = u.failed_logins + 1;
        let threshold = i32::try_from(state.config.lockout_threshold).unwrap_or(i32::MAX);
        let mut active = u.into_active_model();
        if failed >= threshold {
            let lock = i64::try_from(state.config.lockout_duration.as_millis()).unwrap_or(i64::MAX);
            active.failed_logins = Set(0);
            active.locked_until = Set(now.saturating_add(lock));
            active.update(&state.db).await?;
            return Err(ApiError::new(
                StatusCode::LOCKED,
                "locked",
                format!("{threshold} failed logins; the account is locked for a while"),
            ));
        }
        active.failed_logins = Set(failed);
        active.update(&state.db).await?;
        return Err(wrong());
    }
    if u.status != "active" {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "frozen", "the account is frozen"));
    }
    let mut active = u.clone().into_active_model();
    active.failed_logins = Set(0);
    active.locked_until = Set(0);
    active.last_login_at = Set(now);
    let u = active.update(&state.db).await?;
    let token = auth::random_token();
    let csrf = auth::random_token();
    session::ActiveModel {
        token_hash: Set(auth::token_hash(&token)),
        user_id: Set(u.id),
        csrf: Set(csrf.clone()),
        created_at: Set(now),
        last_seen: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", auth::SESSION_COOKIE);
    let body = LoginResponse { user: user_view(&state, u).await?, csrf_token: csrf };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("setting the cookie", e))?,
    );
    Ok(resp)
}

/// Ends the session (or does nothing for a token).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204)))]
async fn logout(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> Result<Response> {
    if auth.via == Via::Session {
        let cookie = auth::cookie(&headers, auth::SESSION_COOKIE);
        if let Some(token) = cookie {
            session::Entity::delete_many()
                .filter(session::Column::TokenHash.eq(auth::token_hash(&token)))
                .exec(&state.db)
                .await?;
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("govchain_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

/// The current user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: UserView,
    /// Its organization.
    pub org: OrgView,
    /// What it may do.
    pub permissions: Vec<Perm>,
    /// The session's CSRF token (absent for API tokens).
    pub csrf_token: Option<String>,
}

/// Who is logged in, with their organization and permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, body = MeView)))]
async fn me(State(state): State<AppState>, auth: Auth) -> Result<Json<MeView>> {
    let u = user::Entity::find_by_id(auth.user_id)
        .one(&state.read)
        .await?
        .ok_or_else(|| ApiError::unauthorized("gone"))?;
    let o = org::Entity::find_by_id(auth.org_id)
        .one(&state.read)
        .await?
        .ok_or_else(|| ApiError::unauthorized("gone"))?;
    Ok(Json(MeView {
        user: user_view(&state, u).await?,
        org: o.into(),
        permissions: auth.perms.iter().copied().collect(),
        csrf_token: auth.csrf.clone(),
    }))
}

/// Changing one's own password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new one (the password policy applies).
    #[schema(min_length = 10, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub new_password: String,
}

/// Changes the caller's password; other sessions of the user end.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204),
        (status = 403, description = "`forbidden`: the current password is wrong", body = ErrorBody),
        (status = 422, description = "`invalid`: the new password does not meet the password policy", body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode> {
    let u = user::Entity::find_by_id(auth.user_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("gone"))?;
    if !auth::verify(&req.old_password, &u.password_hash).await {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    auth::check_password_policy(&req.new_password, &u.username)?;
    let mut active = u.into_active_model();
    active.password_hash = Set(auth::hash(&req.new_password).await?);
    active.must_change_password = Set(false);
    active.update(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A department registering itself (SPEC PRV-1).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Organization name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub org_name: String,
    /// Unique domain; it names the organization's nodes.
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
    /// The first user (the organization's admin).
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-zA-Z0-9._-]{3,64}$")]
    pub username: String,
    /// Their password (the password policy applies).
    #[schema(min_length = 10, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub password: String,
    /// Their real name, for the real-name review.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub real_name: String,
}

/// What registration created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The organization, `pending` until the platform reviews it.
    pub org: OrgView,
    /// Its admin.
    pub user: UserView,
}

/// Registers a department and its admin. The organization may log in at
/// once and submit requests once the platform operator approved its
/// real-name review.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest, security(()),
    responses(
        (status = 201, body = Registered),
        (status = 409, description = "`conflict`: the domain or the user name is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    slot: Option<axum::Extension<ActorSlot>>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response> {
    validate::name("org_name", &req.org_name, 128)?;
    validate::domain(&req.domain)?;
    validate::text("description", &req.description, 2000)?;
    validate::username(&req.username)?;
    validate::name("real_name", &req.real_name, 128)?;
    auth::check_password_policy(&req.password, &req.username)?;
    if let Some(axum::Extension(slot)) = &slot {
        slot.set(None, &req.username, None);
    }
    let hash = auth::hash(&req.password).await?;
    let (o, u) = orgs::create_org_with_admin(
        &state,
        orgs::NewOrg {
            name: req.org_name,
            domain: req.domain,
            description: req.description,
            status: "pending",
        },
        &req.username,
        &req.real_name,
        hash,
        false,
    )
    .await?;
    if let Some(axum::Extension(slot)) = &slot {
        slot.set(Some(u.id), &u.username, Some(o.id));
    }
    crate::workflow::notify_platform(
        &state,
        "org_registered",
        &format!("{} ({}) registered and awaits review", o.name, o.domain),
        &format!("/orgs/{}", o.id),
    )
    .await?;
    let body = Registered { org: o.into(), user: user_view(&state, u).await? };
    Ok(audit::with_detail(created(body), "registered"))
}

/// An API token as listed (the secret is shown only at creation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Created, ms since 1970.
    pub created_at: i64,
    /// Last used, ms since 1970.
    pub last_used: i64,
}

/// A new API token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// The token.
    pub token: TokenView,
    /// The secret: send `Authorization: Bearer <secret>`. Shown only now.
    pub secret: String,
}

/// Naming a new API token.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What it is for.
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: String,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth",
    responses(
        (status = 200, body = [TokenView])))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<TokenView>>> {
    let tokens = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(auth.user_id))
        .order_by_asc(api_token::Column::Id)
        .all(&state.db)
        .await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenView { id: t.id, name: t.name, created_at: t.created_at, last_used: t.last_used })
            .collect(),
    ))
}

/// Creates an API token acting as the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 201, body = NewToken),
        (status = 422, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response> {
    validate::name("name", &req.name, 64)?;
    let secret = format!("{}{}", auth::TOKEN_PREFIX, auth::random_token());
    let t = api_token::ActiveModel {
        user_id: Set(auth.user_id),
        name: Set(req.name),
        token_hash: Set(auth::token_hash(&secret)),
        created_at: Set(now_ms()),
        last_used: Set(0),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let detail = format!("token {}", t.id);
    let token = TokenView { id: t.id, name: t.name, created_at: t.created_at, last_used: t.last_used };
    Ok(audit::with_detail(created(NewToken { token, secret }), detail))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204)))]
async fn delete_token(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<StatusCode> {
    let res = api_token::Entity::delete_many()
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::UserId.eq(auth.user_id))
        .exec(&state.db)
        .await?;
    if res.rows_affected == 0 {
        return Err(ApiError::not_found("no such token"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Finds a user the caller may manage (own organization, or any for the
/// platform operator); another tenant's user looks absent.
async fn visible_user(state: &AppState, auth: &Auth, id: i64) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|u| auth.owns(u.org_id))
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// Users of the caller's organization (every user for the platform
/// operator).
#[utoipa::path(get, path = "/api/v1/users", tag = "orgs",
    responses(
        (status = 200, body = [UserView])))]
async fn list_users(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<UserView>>> {
    auth.require(Perm::UserManage)?;
    let mut q = user::Entity::find();
    if !auth.sees_all() {
        q = q.filter(user::Column::OrgId.eq(auth.org_id));
    }
    let mut out = Vec::new();
    for u in q.order_by_asc(user::Column::Id).all(&state.db).await? {
        out.push(user_view(&state, u).await?);
    }
    Ok(Json(out))
}

/// A new user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-zA-Z0-9._-]{3,64}$")]
    pub username: String,
    /// Real name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub real_name: String,
    /// Role names (built-in or the organization's custom roles).
    #[schema(max_items = 16)]
    pub roles: Vec<String>,
    /// Organization (the platform operator only; others create in their own).
    pub org_id: Option<i64>,
}

/// A created user with its initial password (shown once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserView,
    /// Random initial password; shown only now.
    pub initial_password: String,
}

/// Resolves role names for a user of `org_id`: built-ins, or custom roles
/// of that organization; `super_admin` only in the platform organization.
async fn resolve_roles(state: &AppState, org_id: i64, names: &[String]) -> Result<Vec<role::Model>> {
    let target = org::Entity::find_by_id(org_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such organization"))?;
    let mut out = Vec::new();
    for name in names {
        validate::name("role", name, 64)?;
        let r = role::Entity::find()
            .filter(role::Column::Name.eq(name.as_str()))
            .all(&state.db)
            .await?
            .into_iter()
            .find(|r| r.builtin || r.org_id == Some(org_id))
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

async fn set_roles(state: &AppState, user_id: i64, roles: &[role::Model]) -> Result<()> {
    let txn = state.db.begin().await?;
    user_role::Entity::delete_many().filter(user_role::Column::UserId.eq(user_id)).exec(&txn).await?;
    for r in roles {
        user_role::ActiveModel { user_id: Set(user_id), role_id: Set(r.id) }.insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Creates a user with a random initial password (shown once).
#[utoipa::path(post, path = "/api/v1/users", tag = "orgs", request_body = NewUser,
    responses(
        (status = 201, body = CreatedUser),
        (status = 404, description = "`not_found`: no such organization (`org_id`)", body = ErrorBody),
        (status = 409, description = "`conflict`: the user name is taken", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a role name not offered to the organization", body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<Response> {
    auth.require(Perm::UserManage)?;
    validate::username(&req.username)?;
    validate::name("real_name", &req.real_name, 128)?;
    let org_id = match req.org_id {
        Some(id) if id != auth.org_id => {
            if !auth.sees_all() {
                return Err(ApiError::not_found("no such organization"));
            }
            id
        }
        _ => auth.org_id,
    };
    let roles = resolve_roles(&state, org_id, &req.roles).await?;
    if roles.iter().any(|r| r.name == rbac::SUPER_ADMIN) {
        auth.require(Perm::PlatformAdmin)?;
    }
    if user::Entity::find()
        .filter(user::Column::Username.eq(req.username.as_str()))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!("user name `{}` is taken", req.username)));
    }
    let password = auth::random_password();
    let u = crate::orgs::new_user(org_id, req.username, req.real_name, auth::hash(&password).await?, true)
        .insert(&state.db)
        .await?;
    set_roles(&state, u.id, &roles).await?;
    let detail = format!("user {}", u.id);
    let body = CreatedUser { user: user_view(&state, u).await?, initial_password: password };
    Ok(audit::with_detail(created(body), detail))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView)))]
async fn get_user(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<Json<UserView>> {
    if id != auth.user_id {
        auth.require(Perm::UserManage)?;
    }
    let u = visible_user(&state, &auth, id).await?;
    Ok(Json(user_view(&state, u).await?))
}

/// Changes to a user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New real name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub real_name: Option<String>,
    /// New role names (replacing the old).
    #[schema(max_items = 16)]
    pub roles: Option<Vec<String>>,
}

/// Edits a user's real name or roles.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    request_body = UserUpdate, responses(
        (status = 200, body = UserView),
        (status = 409, description = "`conflict`: one's own administrator role cannot be taken away", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a role name not offered to the organization", body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Json<UserView>> {
    auth.require(Perm::UserManage)?;
    let u = visible_user(&state, &auth, id).await?;
    if let Some(names) = &req.roles {
        auth.require(Perm::RoleManage)?;
        let roles = resolve_roles(&state, u.org_id, names).await?;
        if roles.iter().any(|r| r.name == rbac::SUPER_ADMIN) {
            auth.require(Perm::PlatformAdmin)?;
        }
        if u.id == auth.user_id
            && !roles.iter().any(|r| r.name == rbac::SUPER_ADMIN || r.name == rbac::ORG_ADMIN)
        {
            return Err(ApiError::conflict("you cannot take your own administrator role away"));
        }
        set_roles(&state, u.id, &roles).await?;
    }
    let mut active = u.into_active_model();
    if let Some(n) = req.real_name {
        validate::name("real_name", &n, 128)?;
        active.real_name = Set(n);
    }
    let u = active.update(&state.db).await?;
    Ok(Json(user_view(&state, u).await?))
}

/// Sets a new random password for a user (shown once) and ends their
/// sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = CreatedUser),
        (status = 409, description = "`conflict`: one's own password is changed with the old one (`POST /auth/password`), not reset", body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<CreatedUser>> {
    auth.require(Perm::UserManage)?;
    let u = visible_user(&state, &auth, id).await?;
    // A leaked session or token must not become a password: one's own
    // password changes only with the old one (POST /auth/password).
    if u.id == auth.user_id {
        return Err(ApiError::conflict(
            "you cannot reset your own password; change it with the current one (POST /api/v1/auth/password)",
        ));
    }
    let password = auth::random_password();
    let mut active = u.into_active_model();
    active.password_hash = Set(auth::hash(&password).await?);
    active.must_change_password = Set(true);
    active.failed_logins = Set(0);
    active.locked_until = Set(0);
    let u = active.update(&state.db).await?;
    session::Entity::delete_many().filter(session::Column::UserId.eq(u.id)).exec(&state.db).await?;
    Ok(Json(CreatedUser { user: user_view(&state, u).await?, initial_password: password }))
}

async fn set_status(state: &AppState, auth: &Auth, id: i64, status: &str) -> Result<Json<UserView>> {
    auth.require(Perm::UserManage)?;
    let u = visible_user(state, auth, id).await?;
    if u.id == auth.user_id {
        return Err(ApiError::conflict("you cannot freeze yourself"));
    }
    let mut active = u.into_active_model();
    active.status = Set(status.to_owned());
    let u = active.update(&state.db).await?;
    if status == "frozen" {
        session::Entity::delete_many().filter(session::Column::UserId.eq(u.id)).exec(&state.db).await?;
        api_token::Entity::delete_many().filter(api_token::Column::UserId.eq(u.id)).exec(&state.db).await?;
    }
    Ok(Json(user_view(state, u).await?))
}

/// Freezes a user: their sessions and tokens end and they cannot log in.
#[utoipa::path(post, path = "/api/v1/users/{id}/freeze", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "`conflict`: one cannot freeze oneself", body = ErrorBody)))]
async fn freeze_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<UserView>> {
    set_status(&state, &auth, id, "frozen").await
}

/// Unfreezes a user.
#[utoipa::path(post, path = "/api/v1/users/{id}/unfreeze", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = 409, body = ErrorBody)))]
async fn unfreeze_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<UserView>> {
    set_status(&state, &auth, id, "active").await
}
