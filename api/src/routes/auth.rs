//! Log in and out, the current user, password changes, self-registration
//! of a department (SPEC PRV-1) and API tokens.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{self, ActorSlot, Auth, Via},
    created,
    domain::{IdentityKind, OrgStatus},
    error::{ApiError, ErrorBody, Result},
    rbac::{self, Perm},
    routes::{orgs::OrgView, users::UserView},
    services::{accounts, messages, orgs, users},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(submit_identity))
        .routes(routes!(register))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
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
    let slot = slot.as_ref().map(|axum::Extension(s)| s);
    let s =
        accounts::login(&state.db, &state.read, &state.config, slot, &req.username, &req.password).await?;
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{}={}; Path=/; HttpOnly; SameSite=Strict{secure}", auth::SESSION_COOKIE, s.token);
    let user = users::with_roles_one(&state.read, s.user).await?.into();
    let mut resp = Json(LoginResponse { user, csrf_token: s.csrf }).into_response();
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
    if auth.via == Via::Session
        && let Some(token) = auth::cookie(&headers, auth::SESSION_COOKIE)
    {
        accounts::logout(&state.db, &token).await?;
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
    let u = accounts::me(&state.read, auth.user_id).await?;
    let o = orgs::own(&state.read, auth.org_id).await?;
    Ok(Json(MeView {
        user: users::with_roles_one(&state.read, u).await?.into(),
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
    accounts::change_password(&state.db, auth.user_id, &req.old_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own real-name verification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentitySubmission {
    /// The real name as the document shows it.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub real_name: String,
    /// The document: `resident_id` or `passport`.
    pub kind: String,
    /// Its number: 18 characters with a valid check character for a
    /// resident identity card, 5 to 17 letters and digits for a passport.
    /// Checked, then stored only masked.
    #[schema(min_length = 5, max_length = 18)]
    pub number: String,
}

/// Submits (or, after a rejection, resubmits) the caller's real-name
/// verification for their organization's admin to review.
#[utoipa::path(put, path = "/api/v1/auth/identity", tag = "auth", request_body = IdentitySubmission,
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "`conflict`: already verified (`details.reason`: `already_verified`)", body = ErrorBody),
        (status = 422, description = "`invalid`: a field (`details.field`: `real_name`, `kind` or `number`)", body = ErrorBody)))]
async fn submit_identity(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<IdentitySubmission>,
) -> Result<Json<UserView>> {
    validate::name("real_name", &req.real_name, 128)?;
    let kind = IdentityKind::parse(&req.kind)
        .ok_or_else(|| validate::refuse("kind", "kind must be resident_id or passport"))?;
    let masked = validate::identity_number(kind, &req.number)?;
    let u = accounts::me(&state.db, auth.user_id).await?;
    let u = users::submit_identity(&state.db, u, req.real_name, kind, masked).await?;
    messages::notify(
        &state.db,
        &state.events,
        u.org_id,
        "identity_submitted",
        &format!("{} submitted a real-name verification for review", u.username),
        "/users?identity=pending",
    )
    .await?;
    // An organization's admin may be its only one: the platform reviews too.
    if auth.roles.iter().any(|r| r == rbac::ORG_ADMIN) {
        messages::notify_platform(
            &state.db,
            &state.events,
            "identity_submitted",
            &format!("{} ({}) submitted a real-name verification for review", u.username, auth.org_domain),
            "/users?identity=pending",
        )
        .await?;
    }
    Ok(Json(users::with_roles_one(&state.db, u).await?.into()))
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
    let (o, u) = orgs::create_with_admin(
        &state.db,
        orgs::NewOrg {
            name: req.org_name,
            domain: req.domain,
            description: req.description,
            status: OrgStatus::Pending,
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
    messages::notify_platform(
        &state.db,
        &state.events,
        "org_registered",
        &format!("{} ({}) registered and awaits review", o.name, o.domain),
        &format!("/orgs/{}", o.id),
    )
    .await?;
    let body = Registered { org: o.into(), user: users::with_roles_one(&state.read, u).await?.into() };
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

impl From<crate::entity::api_token::Model> for TokenView {
    fn from(t: crate::entity::api_token::Model) -> TokenView {
        TokenView { id: t.id, name: t.name, created_at: t.created_at, last_used: t.last_used }
    }
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
    Ok(Json(accounts::tokens(&state.db, auth.user_id).await?.into_iter().map(Into::into).collect()))
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
    let (t, secret) = accounts::create_token(&state.db, auth.user_id, req.name).await?;
    let detail = format!("token {}", t.id);
    Ok(audit::with_detail(created(NewToken { token: t.into(), secret }), detail))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204)))]
async fn delete_token(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<StatusCode> {
    accounts::delete_token(&state.db, auth.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
