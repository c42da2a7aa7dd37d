//! Resource requests (SPEC PRV-2..4): a department submits, the platform
//! operator approves or rejects, provisioning follows on the request.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::Uri,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Auth, Require, need},
    created,
    domain::{RequestSpec, RequestStatus, Tenant},
    entity::request,
    error::{ApiError, ErrorBody, Result},
    page,
    rbac::Perm,
    services::requests,
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, create_request))
        .routes(routes!(get_request))
        .routes(routes!(approve_request))
        .routes(routes!(reject_request))
        .routes(routes!(cancel_request))
}

/// The platform's approver sees every request; anyone else needs
/// `request_view` and sees its organization's.
fn reader(auth: &Auth) -> Result<Tenant> {
    let approver = auth.perms.contains(&Perm::RequestApprove) && auth.platform;
    if !approver {
        auth.require(Perm::RequestView)?;
    }
    Ok(Tenant { all: approver, ..auth.tenant() })
}

/// A resource request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// What for (the approver reads it).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub purpose: String,
    /// What.
    pub spec: RequestSpec,
}

/// A resource request as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    /// Id.
    pub id: i64,
    /// Requesting organization.
    pub org_id: i64,
    /// Requesting user.
    pub requester_id: i64,
    /// `chain` or `nodes`.
    pub kind: String,
    /// The chain (once it exists).
    pub chain_id: Option<i64>,
    /// What was requested.
    pub spec: RequestSpec,
    /// Why.
    pub purpose: String,
    /// `pending`, `rejected`, `cancelled`, `provisioning`, `running` or
    /// `failed`.
    pub status: String,
    /// What provisioning is doing.
    pub progress: String,
    /// Why it failed.
    pub error: String,
    /// The approver's opinion.
    pub opinion: String,
    /// Who decided.
    pub approver_id: Option<i64>,
    /// When, ms since 1970.
    pub decided_at: Option<i64>,
    /// Submitted, ms since 1970.
    pub created_at: i64,
    /// Last change, ms since 1970.
    pub updated_at: i64,
}

fn view(r: request::Model) -> Result<RequestView> {
    let spec =
        serde_json::from_str(&r.spec).map_err(|e| ApiError::internal("reading a stored request", e))?;
    Ok(RequestView {
        id: r.id,
        org_id: r.org_id,
        requester_id: r.requester_id,
        kind: r.kind.into(),
        chain_id: r.chain_id,
        spec,
        purpose: r.purpose,
        status: r.status.into(),
        progress: r.progress,
        error: r.error,
        opinion: r.opinion,
        approver_id: r.approver_id,
        decided_at: r.decided_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Submits a resource request; the platform operator is told at once.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = NewRequest,
    responses(
        (status = 201, body = RequestView),
        (status = 403, description = "`forbidden`: the organization is not active yet or not a member of the chain", body = ErrorBody),
        (status = 404, description = "`not_found`: no such chain (a nodes request)", body = ErrorBody),
        (status = 409, description = "`conflict`: the organization has a chain of that name, or nodes are asked of a sandbox chain", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_request(
    State(state): State<AppState>,
    auth: Require<need::RequestCreate>,
    ApiJson(req): ApiJson<NewRequest>,
) -> Result<Response> {
    validate::text("purpose", &req.purpose, 2000)?;
    if req.purpose.trim().is_empty() {
        return Err(ApiError::invalid("purpose must say what the resources are for"));
    }
    req.spec.check()?;
    let org = (auth.org_domain.as_str(), auth.org_status);
    let r =
        requests::create(&state.db, &state.read, &state.events, &auth.tenant(), org, req.spec, req.purpose)
            .await?;
    let detail = format!("request {}", r.id);
    Ok(audit::with_detail(created(view(r)?), detail))
}

/// Filters of the request list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// Only requests in this status (e.g. `pending` for the approval queue).
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub status: Option<String>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1)]
    pub limit: Option<u64>,
    /// Only requests older than this id (the next page).
    pub before: Option<i64>,
}

/// Requests: the caller organization's, or every one for the approver (the
/// approval queue is `?status=pending`), newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(RequestFilter),
    responses(
        (status = 200, body = [RequestView], headers(("Link" = String, description = "The next page (`<path?…&before=ID>; rel=\"next\"`), when this one is full")))))]
async fn list_requests(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    Query(f): Query<RequestFilter>,
) -> Result<Response> {
    let tenant = reader(&auth)?;
    let status = match &f.status {
        Some(s) => {
            validate::filter("status", s)?;
            // No request is in a status that does not exist.
            let Some(s) = RequestStatus::parse(s) else {
                return Ok(page::respond(&uri, Vec::<RequestView>::new(), None));
            };
            Some(s)
        }
        None => None,
    };
    let (rows, next) = requests::list(&state.read, &tenant, status, f.before, f.limit).await?;
    Ok(page::respond(&uri, rows.into_iter().map(view).collect::<Result<Vec<_>>>()?, next))
}

/// One request, with its provisioning progress.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestView)))]
async fn get_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>> {
    let tenant = reader(&auth)?;
    Ok(Json(view(requests::find(&state.db, &tenant, id).await?)?))
}

/// The approver's opinion.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Opinion {
    /// Why.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub opinion: String,
}

async fn decide(
    state: &AppState,
    auth: &Auth,
    id: i64,
    approve: bool,
    opinion: String,
) -> Result<request::Model> {
    if !auth.platform {
        return Err(ApiError::forbidden("only the platform operator approves requests"));
    }
    validate::text("opinion", &opinion, 2000)?;
    let tenant = Tenant { all: true, ..auth.tenant() };
    requests::decide(&state.db, &state.events, &tenant, id, approve, opinion, || state.jobs.wake()).await
}

/// Approves a pending request (platform operator): the grant is added to
/// the organization's quota and provisioning starts; follow it on the
/// request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    request_body = Opinion, responses(
        (status = 200, body = RequestView),
        (status = 403, description = "`forbidden`: only the platform operator approves", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn approve_request(
    State(state): State<AppState>,
    auth: Require<need::RequestApprove>,
    Path(id): Path<i64>,
    ApiJson(op): ApiJson<Opinion>,
) -> Result<Json<RequestView>> {
    let r = decide(&state, &auth.auth, id, true, op.opinion).await?;
    Ok(Json(view(r)?))
}

/// Rejects a pending request with an opinion.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    request_body = Opinion, responses(
        (status = 200, body = RequestView),
        (status = 403, description = "`forbidden`: only the platform operator rejects", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn reject_request(
    State(state): State<AppState>,
    auth: Require<need::RequestApprove>,
    Path(id): Path<i64>,
    ApiJson(op): ApiJson<Opinion>,
) -> Result<Json<RequestView>> {
    Ok(Json(view(decide(&state, &auth.auth, id, false, op.opinion).await?)?))
}

/// Withdraws the organization's own pending request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", params(("id" = i64, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestView),
        (status = 409, description = "`conflict`: the request is not pending", body = ErrorBody)))]
async fn cancel_request(
    State(state): State<AppState>,
    auth: Require<need::RequestCreate>,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>> {
    Ok(Json(view(requests::cancel(&state.db, auth.org_id, id).await?)?))
}
