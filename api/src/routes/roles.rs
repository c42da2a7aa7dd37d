//! Custom roles (SPEC ORG-3) beside the built-in ones.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Auth, Require, need},
    created,
    entity::role,
    error::{ApiError, ErrorBody, Result},
    rbac::{self, Perm},
    services::roles,
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_roles, create_role)).routes(routes!(update_role, delete_role))
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
    Ok(Json(roles::list(&state.db, auth.org_id).await?.into_iter().map(Into::into).collect()))
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
    auth: Require<need::RoleManage>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Response> {
    check_role(&auth, &req)?;
    let r = roles::create(&state.db, auth.org_id, req.name, &req.permissions).await?;
    let detail = format!("role {}", r.id);
    Ok(audit::with_detail(created(RoleView::from(r)), detail))
}

/// Changes a custom role.
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "orgs", params(("id" = i64, Path, description = "Role id")),
    request_body = RoleRequest, responses(
        (status = 200, body = RoleView),
        (status = 409, description = "`conflict`: built-in roles cannot be changed, or the name is taken", body = ErrorBody),
        (status = 422, description = "`invalid`: a field, or a platform-only permission outside the platform organization", body = ErrorBody)))]
async fn update_role(
    State(state): State<AppState>,
    auth: Require<need::RoleManage>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<RoleView>> {
    let r = roles::own_custom(&state.db, auth.org_id, id).await?;
    check_role(&auth, &req)?;
    Ok(Json(roles::update(&state.db, r, req.name, &req.permissions).await?.into()))
}

/// Deletes a custom role (built-ins cannot be deleted).
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "orgs", params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 204),
        (status = 409, description = "`conflict`: built-in roles cannot be deleted, or the role is in use", body = ErrorBody)))]
async fn delete_role(
    State(state): State<AppState>,
    auth: Require<need::RoleManage>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let r = roles::own_custom(&state.db, auth.org_id, id).await?;
    roles::delete(&state.db, r).await?;
    Ok(StatusCode::NO_CONTENT)
}
