//! Users of an organization (SPEC ORG-1): creating them, their roles,
//! password resets, freezing.

use axum::{
    Json,
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{self, Auth, Require, need},
    created,
    domain::{IdentityStatus, UserStatus},
    error::{ApiError, ErrorBody, Result},
    rbac::{self, Perm},
    routes::orgs::Decision,
    services::messages,
    services::users::{self, WithRoles},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reset_password))
        .routes(routes!(freeze_user))
        .routes(routes!(unfreeze_user))
        .routes(routes!(review_identity))
}

/// A user's real-name verification (SPEC ORG-1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    /// `unverified`, `pending` (awaiting review), `verified` or `rejected`.
    pub status: String,
    /// The document: `resident_id` or `passport` (empty before a submission).
    pub kind: String,
    /// Its number, masked (the full number is not stored).
    pub number: String,
    /// The reviewer's opinion.
    pub opinion: String,
    /// Who reviewed it (user name).
    pub reviewer: String,
    /// Submitted, ms since 1970 (0: never).
    pub submitted_at: i64,
    /// Reviewed, ms since 1970 (0: not yet).
    pub reviewed_at: i64,
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
    /// Real-name verification.
    pub identity: IdentityView,
}

impl From<WithRoles> for UserView {
    fn from((u, roles): WithRoles) -> UserView {
        UserView {
            id: u.id,
            org_id: u.org_id,
            username: u.username,
            real_name: u.real_name,
            status: u.status.into(),
            roles,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            identity: IdentityView {
                status: u.identity_status.into(),
                kind: u.identity_kind,
                number: u.identity_number,
                opinion: u.identity_opinion,
                reviewer: u.identity_reviewer,
                submitted_at: u.identity_submitted_at,
                reviewed_at: u.identity_reviewed_at,
            },
        }
    }
}

/// Which users to list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Only users whose real-name verification is in this state
    /// (`unverified`, `pending`, `verified`, `rejected`).
    pub identity: Option<String>,
}

/// Users of the caller's organization (every user for the platform
/// operator).
#[utoipa::path(get, path = "/api/v1/users", tag = "orgs", params(UserFilter),
    responses(
        (status = 200, body = [UserView]),
        (status = 422, description = "`invalid`: an unknown verification state", body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    Query(filter): Query<UserFilter>,
) -> Result<Json<Vec<UserView>>> {
    let identity = match filter.identity.as_deref() {
        None | Some("") => None,
        Some(s) => Some(IdentityStatus::parse(s).ok_or_else(|| {
            validate::refuse("identity", "identity must be unverified, pending, verified or rejected")
        })?),
    };
    Ok(Json(users::list(&state.db, &auth.tenant(), identity).await?.into_iter().map(Into::into).collect()))
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

/// Creates a user with a random initial password (shown once).
#[utoipa::path(post, path = "/api/v1/users", tag = "orgs", request_body = NewUser,
    responses(
        (status = 201, body = CreatedUser),
        (status = 404, description = "`not_found`: no such organization (`org_id`)", body = ErrorBody),
        (status = 409, description = "`conflict`: the user name is taken", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a role name not offered to the organization", body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<Response> {
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
    let roles = users::resolve_roles(&state.db, org_id, &req.roles).await?;
    if roles.iter().any(|r| r.name == rbac::SUPER_ADMIN) {
        auth.require(Perm::PlatformAdmin)?;
    }
    users::check_username_free(&state.db, &req.username).await?;
    let password = auth::random_password();
    let u =
        users::create(&state.db, org_id, req.username, req.real_name, auth::hash(&password).await?, &roles)
            .await?;
    let detail = format!("user {}", u.id);
    let body =
        CreatedUser { user: users::with_roles_one(&state.db, u).await?.into(), initial_password: password };
    Ok(audit::with_detail(created(body), detail))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView)))]
async fn get_user(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<Json<UserView>> {
    // Oneself needs no permission.
    if id != auth.user_id {
        auth.require(Perm::UserManage)?;
    }
    let u = users::find(&state.db, &auth.tenant(), id).await?;
    Ok(Json(users::with_roles_one(&state.db, u).await?.into()))
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
    auth: Require<need::UserManage>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Json<UserView>> {
    let u = users::find(&state.db, &auth.tenant(), id).await?;
    if let Some(names) = &req.roles {
        // Changing roles needs more than managing users.
        auth.require(Perm::RoleManage)?;
        let roles = users::resolve_roles(&state.db, u.org_id, names).await?;
        if roles.iter().any(|r| r.name == rbac::SUPER_ADMIN) {
            auth.require(Perm::PlatformAdmin)?;
        }
        if u.id == auth.user_id
            && !roles.iter().any(|r| r.name == rbac::SUPER_ADMIN || r.name == rbac::ORG_ADMIN)
        {
            return Err(ApiError::conflict("you cannot take your own administrator role away"));
        }
        users::set_roles(&state.db, u.id, &roles).await?;
    }
    let u = users::rename(&state.db, u, req.real_name).await?;
    Ok(Json(users::with_roles_one(&state.db, u).await?.into()))
}

/// Sets a new random password for a user (shown once) and ends their
/// sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = CreatedUser),
        (status = 409, description = "`conflict`: one's own password is changed with the old one (`POST /auth/password`), not reset", body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    Path(id): Path<i64>,
) -> Result<Json<CreatedUser>> {
    let u = users::find(&state.db, &auth.tenant(), id).await?;
    // A leaked session or token must not become a password: one's own
    // password changes only with the old one (POST /auth/password).
    if u.id == auth.user_id {
        return Err(ApiError::conflict(
            "you cannot reset your own password; change it with the current one (POST /api/v1/auth/password)",
        ));
    }
    let password = auth::random_password();
    let u = users::reset_password(&state.db, u, auth::hash(&password).await?).await?;
    Ok(Json(CreatedUser {
        user: users::with_roles_one(&state.db, u).await?.into(),
        initial_password: password,
    }))
}

async fn set_status(state: &AppState, auth: &Auth, id: i64, status: UserStatus) -> Result<Json<UserView>> {
    let u = users::find(&state.db, &auth.tenant(), id).await?;
    if u.id == auth.user_id {
        return Err(ApiError::conflict("you cannot freeze yourself"));
    }
    let u = users::set_status(&state.db, u, status).await?;
    Ok(Json(users::with_roles_one(&state.db, u).await?.into()))
}

/// Freezes a user: their sessions and tokens end and they cannot log in.
#[utoipa::path(post, path = "/api/v1/users/{id}/freeze", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "`conflict`: one cannot freeze oneself", body = ErrorBody)))]
async fn freeze_user(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    Path(id): Path<i64>,
) -> Result<Json<UserView>> {
    set_status(&state, &auth, id, UserStatus::Frozen).await
}

/// Unfreezes a user.
#[utoipa::path(post, path = "/api/v1/users/{id}/unfreeze", tag = "orgs", params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = 409, body = ErrorBody)))]
async fn unfreeze_user(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    Path(id): Path<i64>,
) -> Result<Json<UserView>> {
    set_status(&state, &auth, id, UserStatus::Active).await
}

/// Decides a user's pending real-name verification (their organization's
/// admin or the platform); the user's organization is told.
#[utoipa::path(post, path = "/api/v1/users/{id}/identity-review", tag = "orgs",
    params(("id" = i64, Path, description = "User id")), request_body = Decision,
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "`conflict`: not pending review (`details.reason`: `not_pending`), or one's own (`own`)", body = ErrorBody),
        (status = 422, description = "`invalid`: the opinion", body = ErrorBody)))]
async fn review_identity(
    State(state): State<AppState>,
    auth: Require<need::UserManage>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Decision>,
) -> Result<Json<UserView>> {
    validate::text("opinion", &req.opinion, 2000)?;
    let u = users::find(&state.db, &auth.tenant(), id).await?;
    if u.id == auth.user_id {
        return Err(ApiError::conflict("you cannot review your own real-name verification")
            .with_details(serde_json::json!({"reason": "own"})));
    }
    let u = users::review_identity(&state.db, u, &auth.username, req.approve, &req.opinion).await?;
    let verdict = if req.approve { "approved" } else { "rejected" };
    let opinion = if req.opinion.is_empty() { String::new() } else { format!(": {}", req.opinion) };
    messages::notify(
        &state.db,
        &state.events,
        u.org_id,
        "identity_reviewed",
        &format!("The real-name verification of {} was {verdict}{opinion}", u.username),
        &format!("/users?identity={}", u.identity_status),
    )
    .await?;
    Ok(Json(users::with_roles_one(&state.db, u).await?.into()))
}
