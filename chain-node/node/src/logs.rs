//! The node's own log over its mutual-TLS peer listener (SPEC OPS-3):
//! search, live tail, a day's file and the run-time level, from the log
//! store installed by [`crate::init_logging`]. Never on the public client
//! API: logs may name keys, peers and callers.

use std::time::Duration;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, rejection::QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use govchain_logstore::{LogHandle, LogType, SearchParams};
use serde::{Deserialize, Serialize};

use crate::rpc::ApiError;

/// Target of the node's process lifecycle and configuration events (the
/// `system` log).
pub const SYSTEM: &str = "govchain::system::node";
/// The longest a live tail stays open; the caller reconnects.
pub const STREAM_FOR: Duration = govchain_logstore::FOLLOW_FOR;

/// The level as `/admin/log-level` shows and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevel {
    /// A level (`debug`) or a full filter directive (`info,govchain::node=debug`).
    pub level: String,
}

/// What to follow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamParams {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type", default)]
    pub kind: Option<LogType>,
}

/// A day's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileParams {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type", default)]
    pub kind: Option<LogType>,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// The admin routes of the log (`/admin/logs`, `/admin/logs/stream`,
/// `/admin/logs/file`, `/admin/log-level`).
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/admin/logs", get(search))
        .route("/admin/logs/stream", get(stream))
        .route("/admin/logs/file", get(file))
        .route("/admin/log-level", get(level).put(set_level))
}

fn handle() -> Result<&'static LogHandle, ApiError> {
    govchain_logstore::global().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_log_store", "this process keeps no log store")
    })
}

fn invalid(e: govchain_logstore::Error) -> ApiError {
    match e {
        govchain_logstore::Error::Invalid(m) => ApiError::bad_request("invalid", m),
        e => ApiError::internal(e.to_string()),
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request("invalid", e.body_text()))
}

async fn search(q: Result<Query<SearchParams>, QueryRejection>) -> Result<Response, ApiError> {
    let h = handle()?;
    let search = query(q)?.to_search(govchain_logstore::now_ms()).map_err(invalid)?;
    let dir = h.store().dir().to_owned();
    let lines = tokio::task::spawn_blocking(move || govchain_logstore::search(&dir, &search))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(invalid)?;
    Ok(Json(lines).into_response())
}

async fn stream(q: Result<Query<StreamParams>, QueryRejection>) -> Result<Response, ApiError> {
    let h = handle()?;
    let kind = query(q)?.kind.unwrap_or(LogType::Run);
    let rx = h.store().subscribe();
    let until = tokio::time::Instant::now() + STREAM_FOR;
    let lines = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Ok(line)) if line.kind == kind => {
                    let mut text = serde_json::to_vec(&line).unwrap_or_default();
                    text.push(b'\n');
                    return Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), rx));
                }
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    });
    let mut resp = Body::from_stream(lines).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

async fn file(q: Result<Query<FileParams>, QueryRejection>) -> Result<Response, ApiError> {
    let h = handle()?;
    let p = query(q)?;
    let kind = p.kind.unwrap_or(LogType::Run);
    govchain_logstore::check_download_day(
        &p.date,
        h.store().config().retention_days,
        govchain_logstore::today(),
    )
    .map_err(invalid)?;
    let dir = h.store().dir().to_owned();
    let date = p.date.clone();
    let bytes = tokio::task::spawn_blocking(move || govchain_logstore::read_day(&dir, kind, &date))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(invalid)?
        .ok_or_else(|| ApiError::not_found(format!("the {kind} log of {}", p.date)))?;
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

async fn level() -> Result<Json<LogLevel>, ApiError> {
    Ok(Json(LogLevel { level: handle()?.level() }))
}

async fn set_level(
    body: Result<Json<LogLevel>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<LogLevel>, ApiError> {
    let h = handle()?;
    let Json(body) = body.map_err(|e| ApiError::bad_request("invalid", e.body_text()))?;
    let level = h.set_level(&body.level).map_err(invalid)?;
    Ok(Json(LogLevel { level }))
}
