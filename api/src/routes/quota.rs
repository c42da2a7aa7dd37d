//! An organization's quota (SPEC PRV-9): what approvals granted and what
//! its nodes and provisioning in flight use.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{Require, need},
    entity::{org, quota},
    error::Result,
    services::orgs,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_quota)).routes(routes!(list_quotas))
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

impl From<quota::Model> for QuotaView {
    fn from(q: quota::Model) -> QuotaView {
        QuotaView {
            nodes: i64::from(q.nodes),
            cpu_millis: q.cpu_millis,
            memory_mb: q.memory_mb,
            storage_mb: q.storage_mb,
            used_nodes: q.used_nodes,
            used_cpu_millis: q.used_cpu_millis,
            used_memory_mb: q.used_memory_mb,
            used_storage_mb: q.used_storage_mb,
        }
    }
}

/// The caller organization's quota: what approvals granted and what its
/// nodes use.
#[utoipa::path(get, path = "/api/v1/quota", tag = "orgs", responses(
        (status = 200, body = QuotaView)))]
async fn get_quota(
    State(state): State<AppState>,
    auth: Require<need::RequestView>,
) -> Result<Json<QuotaView>> {
    Ok(Json(orgs::quota(&state.read, auth.org_id).await?.map(Into::into).unwrap_or_default()))
}

/// One organization's quota, for the platform's overview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgQuotaView {
    /// The organization.
    pub org_id: i64,
    /// Its name.
    pub org_name: String,
    /// Its domain.
    pub domain: String,
    /// `pending`, `active` or `rejected`.
    pub status: String,
    /// What it was granted and uses (all zero before its first approval).
    pub quota: QuotaView,
}

impl From<(org::Model, Option<quota::Model>)> for OrgQuotaView {
    fn from((o, q): (org::Model, Option<quota::Model>)) -> OrgQuotaView {
        OrgQuotaView {
            org_id: o.id,
            org_name: o.name,
            domain: o.domain,
            status: o.status.into(),
            quota: q.map(Into::into).unwrap_or_default(),
        }
    }
}

/// Every department's quota, grant beside use (the platform operator
/// only).
#[utoipa::path(get, path = "/api/v1/quotas", tag = "orgs", responses(
        (status = 200, body = [OrgQuotaView])))]
async fn list_quotas(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
) -> Result<Json<Vec<OrgQuotaView>>> {
    Ok(Json(orgs::quotas(&state.read).await?.into_iter().map(Into::into).collect()))
}
