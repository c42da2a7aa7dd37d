//! Invitations to a chain (SPEC PRV-6): the creator invites an
//! organization, which accepts (and becomes a member) or declines.

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
    auth::{Require, need},
    created,
    error::{ApiError, ErrorBody, Result},
    services::{chains, invitations, messages},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(list_invitations))
        .routes(routes!(respond_invitation))
}

/// An invitation as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// Id.
    pub id: i64,
    /// The chain.
    pub chain_id: i64,
    /// The chain's name.
    pub chain_name: String,
    /// Inviting organization.
    pub from_org_id: i64,
    /// Inviting organization's domain.
    pub from_domain: String,
    /// Invited organization.
    pub to_org_id: i64,
    /// Invited organization's domain.
    pub to_domain: String,
    /// Message.
    pub message: String,
    /// `pending`, `accepted` or `declined`.
    pub status: String,
    /// Sent, ms since 1970.
    pub created_at: i64,
    /// Answered, ms since 1970.
    pub decided_at: Option<i64>,
}

impl From<invitations::Named> for InvitationView {
    fn from((i, chain_name, to_domain, from_domain): invitations::Named) -> InvitationView {
        InvitationView {
            id: i.id,
            chain_id: i.chain_id,
            chain_name,
            from_org_id: i.from_org_id,
            from_domain,
            to_org_id: i.to_org_id,
            to_domain,
            message: i.message,
            status: i.status.into(),
            created_at: i.created_at,
            decided_at: i.decided_at,
        }
    }
}

/// Inviting an organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The invited organization's domain.
    #[schema(
        min_length = 3,
        max_length = 50,
        pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
    )]
    pub org_domain: String,
    /// A note for them.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub message: String,
}

/// Invites an organization to the chain. Checked: the organization
/// exists, is not a member yet, and the chain is below its node limit.
#[utoipa::path(post, path = "/api/v1/chains/{id}/invitations", tag = "chains", params(("id" = i64, Path, description = "Chain id")),
    request_body = NewInvitation,
    responses(
        (status = 201, body = InvitationView),
        (status = 404, description = "`not_found`: no such chain, or no active organization with that domain", body = ErrorBody),
        (status = 409, description = "`conflict`: already a member, already invited, the chain is at its node limit or is a sandbox; `details.reason` says which (`already_member`, `already_invited`, `node_limit`, `sandbox`)", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn invite(
    State(state): State<AppState>,
    auth: Require<need::ChainInvite>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewInvitation>,
) -> Result<Response> {
    let c = chains::owned(&state.db, &auth.tenant(), id).await?;
    validate::domain(&req.org_domain)?;
    validate::text("message", &req.message, 2000)?;
    let (i, to) = invitations::invite(&state.db, &c, auth.user_id, &req.org_domain, req.message).await?;
    messages::notify(
        &state.db,
        &state.events,
        to.id,
        "invitation_received",
        &format!("{} invites you to chain {}", auth.org_domain, c.name),
        &format!("/invitations/{}", i.id),
    )
    .await?;
    let detail = format!("invitation {} to {}", i.id, to.domain);
    let view: InvitationView = invitations::named(&state.db, vec![i])
        .await?
        .pop()
        .map(Into::into)
        .ok_or_else(|| ApiError::internal("reading an invitation", "gone"))?;
    Ok(audit::with_detail(created(view), detail))
}

/// Invitations the caller's organization sent or received.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "chains", responses(
        (status = 200, body = [InvitationView])))]
async fn list_invitations(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
) -> Result<Json<Vec<InvitationView>>> {
    Ok(Json(invitations::list(&state.db, &auth.tenant()).await?.into_iter().map(Into::into).collect()))
}

/// Accepts or declines an invitation (`answer` is `accept` or `decline`).
/// Accepting makes the organization a member; it then adds its own nodes
/// (a resource request of kind `nodes`, or within its quota).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/{answer}", tag = "chains",
    params(("id" = i64, Path, description = "Invitation id"), ("answer" = String, Path, description = "accept or decline")),
    responses(
        (status = 200, body = InvitationView),
        (status = 404, description = "`not_found`: no such invitation or answer", body = ErrorBody),
        (status = 409, description = "`conflict`: the invitation was answered already", body = ErrorBody)))]
async fn respond_invitation(
    State(state): State<AppState>,
    auth: Require<need::InvitationRespond>,
    Path((id, answer)): Path<(i64, String)>,
) -> Result<Json<InvitationView>> {
    let accept = match answer.as_str() {
        "accept" => true,
        "decline" => false,
        other => {
            return Err(ApiError::not_found(format!("no invitation answer `{other}` (accept, decline)")));
        }
    };
    let i = invitations::respond(&state.db, auth.org_id, id, accept).await?;
    let verdict = if accept { "accepted" } else { "declined" };
    messages::notify(
        &state.db,
        &state.events,
        i.from_org_id,
        &format!("invitation_{verdict}"),
        &format!("{} {verdict} the invitation to chain {}", auth.org_domain, i.chain_id),
        &format!("/chains/{}", i.chain_id),
    )
    .await?;
    let view = invitations::named(&state.db, vec![i]).await?.pop().map(Into::into);
    Ok(Json(view.ok_or_else(|| ApiError::internal("reading an invitation", "gone"))?))
}
