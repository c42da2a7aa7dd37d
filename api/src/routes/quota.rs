//! An organization's quota (SPEC PRV-9): what approvals granted and what
//! its nodes and provisioning in flight use.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{Require, need},
    entity::quota,
    error::Result,
    services::orgs,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_quota))
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
