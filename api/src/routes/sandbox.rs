//! An organization's sandbox chain (SPEC SC-7, issue 13): its development
//! chain of one node, made on first use outside its quota, where the web
//! IDE deploys, calls and debugs by default. The chain is then an ordinary
//! chain of the organization (`/api/v1/chains/{id}/...`), listed with
//! `sandbox: true`.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Auth, Require, need},
    created,
    domain::{ChainState, OrgStatus, parse_suite},
    entity::{chain, org},
    error::{ApiError, ErrorBody, Result},
    routes::chains::{ChainView, one_view},
    services::{contracts, orgs, sandbox},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_sandbox, create_sandbox))
}

/// A sandbox chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SandboxView {
    /// The chain (`sandbox` is true).
    #[serde(flatten)]
    pub chain: ChainView,
    /// The address of the test account that deploys and calls on it: a key
    /// the platform holds for the organization on this chain only, never
    /// its account on a production chain. None until the chain runs.
    pub test_account: Option<String>,
}

/// Which organization's sandbox.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SandboxQuery {
    /// Another organization's (the platform operator); by default the
    /// caller's own.
    pub org_id: Option<i64>,
}

/// Asks for a sandbox.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSandbox {
    /// Another organization's (the platform operator); by default the
    /// caller's own.
    #[serde(default)]
    pub org_id: Option<i64>,
    /// Crypto suite when it is made: `gm` (default), `intl-k1` or
    /// `intl-r1`. An existing sandbox keeps its own.
    #[serde(default)]
    #[schema(pattern = "^(gm|intl-k1|intl-r1)$")]
    pub suite: Option<String>,
}

/// The organization `org_id` names for the caller: its own by default,
/// any for the platform operator; another looks absent.
async fn target(state: &AppState, auth: &Auth, org_id: Option<i64>) -> Result<org::Model> {
    if org_id.is_some_and(|id| id <= 0) {
        return Err(validate::refuse("org_id", "org_id is an organization's id"));
    }
    orgs::find(&state.db, &auth.tenant(), org_id.unwrap_or(auth.org_id)).await
}

async fn view(state: &AppState, o: &org::Model, c: chain::Model) -> Result<SandboxView> {
    let test_account = match c.state {
        ChainState::Running => Some(contracts::wallet(state, &c, &o.domain).await?.address().to_string()),
        _ => None,
    };
    Ok(SandboxView { chain: one_view(state, c, false).await?, test_account })
}

/// The organization's sandbox chain.
#[utoipa::path(get, path = "/api/v1/sandbox", tag = "sandbox", params(SandboxQuery),
    responses(
        (status = 200, body = SandboxView),
        (status = 404, description = "`not_found`: no such organization, or it has no sandbox yet (`POST` makes it)", body = ErrorBody)))]
async fn get_sandbox(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Query(q): Query<SandboxQuery>,
) -> Result<Json<SandboxView>> {
    let o = target(&state, &auth, q.org_id).await?;
    let c = sandbox::find(&state.db, o.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{} has no sandbox chain yet", o.domain)))?;
    Ok(Json(view(&state, &o, c).await?))
}

/// The organization's sandbox chain, made if it has none: one solo node
/// through the host driver, outside the quota, without contract
/// governance, the organization its only member. Answers once it runs
/// (201 when this call made it, 200 when it existed; concurrent calls get
/// the same chain).
#[utoipa::path(post, path = "/api/v1/sandbox", tag = "sandbox", request_body = NewSandbox,
    responses(
        (status = 200, body = SandboxView),
        (status = 201, body = SandboxView),
        (status = 403, description = "`forbidden`: no permission, or the organization is not active yet", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: another call is still making it", body = ErrorBody),
        (status = 422, description = "`invalid`: a bad `org_id` or `suite`", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn create_sandbox(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    ApiJson(req): ApiJson<NewSandbox>,
) -> Result<Response> {
    let suite = req.suite.unwrap_or_else(|| sandbox::DEFAULT_SUITE.into());
    parse_suite(&suite)?;
    let o = target(&state, &auth, req.org_id).await?;
    if o.status != OrgStatus::Active {
        return Err(ApiError::forbidden(format!(
            "{} is {}: its sandbox opens once the platform approved its registration",
            o.domain, o.status
        )));
    }
    let (c, made) = sandbox::ensure(&state, &o, &suite).await?;
    let detail = format!(
        "sandbox chain {} ({}) of {}: {}",
        c.id,
        c.chain_key,
        o.domain,
        if made { "created" } else { "exists" }
    );
    let v = view(&state, &o, c).await?;
    let resp = if made { created(v) } else { (StatusCode::OK, Json(v)).into_response() };
    Ok(audit::with_detail(resp, detail))
}
