//! Organizations (SPEC ORG-2): the list, creation by the platform, edits,
//! the real-name review, and the permission picker's list.

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{self, Auth, Require, need},
    created,
    domain::OrgStatus,
    entity::org,
    error::{ErrorBody, Result},
    rbac::Perm,
    routes::users::UserView,
    services::{messages, orgs, users},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org))
        .routes(routes!(review_org))
        .routes(routes!(permissions))
}

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
            status: o.status.into(),
            review_opinion: o.review_opinion,
            is_platform: o.is_platform,
            created_at: o.created_at,
        }
    }
}

/// Organizations: all for the platform operator, otherwise the caller's.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", responses(
        (status = 200, body = [OrgView])))]
async fn list_orgs(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<OrgView>>> {
    Ok(Json(orgs::list(&state.db, &auth.tenant()).await?.into_iter().map(Into::into).collect()))
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
    pub admin: UserView,
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
    _auth: Require<need::PlatformAdmin>,
    ApiJson(req): ApiJson<OrgRequest>,
) -> Result<Response> {
    validate::name("name", &req.name, 128)?;
    validate::domain(&req.domain)?;
    validate::text("description", &req.description, 2000)?;
    validate::username(&req.admin_username)?;
    validate::name("admin_real_name", &req.admin_real_name, 128)?;
    let password = auth::random_password();
    let (o, u) = orgs::create_with_admin(
        &state.db,
        orgs::NewOrg {
            name: req.name,
            domain: req.domain,
            description: req.description,
            status: OrgStatus::Active,
        },
        &req.admin_username,
        &req.admin_real_name,
        auth::hash(&password).await?,
        true,
    )
    .await?;
    let detail = format!("org {} ({})", o.id, o.domain);
    let body = CreatedOrg {
        org: o.into(),
        admin: users::with_roles_one(&state.db, u).await?.into(),
        initial_password: password,
    };
    Ok(audit::with_detail(created(body), detail))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "orgs", params(("id" = i64, Path, description = "Organization id")),
    responses(
        (status = 200, body = OrgView)))]
async fn get_org(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> Result<Json<OrgView>> {
    Ok(Json(orgs::find(&state.db, &auth.tenant(), id).await?.into()))
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
    auth: Require<need::OrgManage>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<OrgUpdate>,
) -> Result<Json<OrgView>> {
    Ok(Json(orgs::update(&state.db, &auth.tenant(), id, req.name, req.description).await?.into()))
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
    auth: Require<need::PlatformAdmin>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Decision>,
) -> Result<Json<OrgView>> {
    validate::text("opinion", &req.opinion, 2000)?;
    let o = orgs::review(&state.db, &auth.tenant(), id, req.approve, &req.opinion).await?;
    messages::notify(
        &state.db,
        &state.events,
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
