//! Backups of the platform database (SPEC OPS-5) for the platform
//! operator: the list with manifests, and a backup taken now. Restoring is
//! `govchain restore` against a stopped platform.

use axum::{Json, extract::State, response::Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    backup::{self, Kind, Manifest},
    created,
    error::{ApiError, ErrorBody, Result},
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, take))
}

/// A backup to take now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBackup {
    /// `full` or `incremental` (the changes since the newest backup).
    #[schema(pattern = "^(full|incremental)$")]
    pub kind: String,
}

fn dir(state: &AppState) -> Result<std::path::PathBuf> {
    state
        .config
        .backup
        .as_ref()
        .map(|s| s.dir.clone())
        .ok_or_else(|| ApiError::conflict("backups are not configured: start the platform with --backup-dir"))
}

fn failed(e: backup::Error) -> ApiError {
    match e {
        backup::Error::NotFound(m) => ApiError::conflict(m),
        e => ApiError::internal("backup", e),
    }
}

/// The backups in the platform's backup directory with their manifests,
/// newest first.
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups",
    responses(
        (status = 200, body = [Manifest]),
        (status = 409, description = "`conflict`: the platform runs without a backup directory", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
) -> Result<Json<Vec<Manifest>>> {
    let dir = dir(&state)?;
    let mut all = tokio::task::spawn_blocking(move || backup::list(&dir))
        .await
        .map_err(|e| ApiError::internal("listing backups", e))?
        .map_err(failed)?;
    all.reverse();
    Ok(Json(all))
}

/// Takes a backup now: a full one, or an incremental on the newest backup.
/// Answers with its manifest once it was written and checked.
#[utoipa::path(post, path = "/api/v1/backups", tag = "backups", request_body = NewBackup,
    responses(
        (status = 201, body = Manifest),
        (status = 409, description = "`conflict`: the platform runs without a backup directory, or an incremental has no backup to build on", body = ErrorBody),
        (status = 422, description = "`invalid`: `kind` is neither `full` nor `incremental`", body = ErrorBody)))]
async fn take(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    ApiJson(req): ApiJson<NewBackup>,
) -> Result<Response> {
    let kind =
        Kind::parse(&req.kind).ok_or_else(|| validate::refuse("kind", "kind is `full` or `incremental`"))?;
    let dir = dir(&state)?;
    let m = backup::run_now(&state, &dir, kind).await.map_err(failed)?;
    let detail = format!("{} backup {}: {} tables, {} bytes", req.kind, m.id, m.tables.len(), m.bytes);
    Ok(audit::with_detail(created(m), detail))
}
