//! Node and platform logs (SPEC OPS-3, OPS-7): search by keyword or
//! regular expression over a time range, a live stream (Server-Sent
//! Events), a day's file for download and the run-time level. Reads need
//! `monitor_view` and a chain the caller sees (as the monitoring charts);
//! changing a node's level needs `chain_operate` on an own node (as
//! starting and stopping it); the platform's own log is the super admin's.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderValue, header},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use futures_util::{Stream, StreamExt, stream::BoxStream};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    error::{ApiError, ErrorBody, Result},
    services::{
        chains,
        logs::{self, LogLine, LogQuery, LogType},
    },
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(node_logs))
        .routes(routes!(node_log_stream))
        .routes(routes!(node_log_download))
        .routes(routes!(node_log_level, set_node_log_level))
        .routes(routes!(platform_logs))
        .routes(routes!(platform_log_stream))
        .routes(routes!(platform_log_download))
        .routes(routes!(platform_log_level, set_platform_log_level))
}

/// A search of a log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogSearchQuery {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// From, ms since 1970 (default: an hour before `to`).
    pub from: Option<i64>,
    /// To, ms since 1970 (default: now).
    pub to: Option<i64>,
    /// A keyword (case-insensitive) or, with `regex=true`, a regular
    /// expression (at most 512 bytes) matched against the line's target,
    /// message and fields.
    pub q: Option<String>,
    /// Whether `q` is a regular expression (default false).
    pub regex: Option<bool>,
    /// Most lines (default 200, 1 to 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// Which log to stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogStreamQuery {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
}

/// Which day's file.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogDownloadQuery {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// The day, `YYYY-MM-DD` (UTC), today or one of the 30 days before.
    pub date: Option<String>,
}

/// A log line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogLineView {
    /// When, ms since 1970.
    pub ts: i64,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// `run`, `system` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it comes from, e.g. `govchain::node`.
    pub target: String,
    /// The message.
    pub message: String,
    /// The event's other fields.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl From<LogLine> for LogLineView {
    fn from(l: LogLine) -> LogLineView {
        LogLineView {
            ts: l.ts,
            level: l.level,
            kind: l.kind.as_str().into(),
            target: l.target,
            message: l.message,
            fields: l.fields,
        }
    }
}

/// A log level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogLevelView {
    /// A level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or a
    /// filter directive (`info,govchain::node=debug`).
    pub level: String,
}

fn query<T>(q: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request(e.body_text()))
}

fn kind_of(kind: Option<&str>) -> Result<LogType> {
    match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(LogType::Run),
        Some(k) => k.parse().map_err(logs::refused),
    }
}

impl LogSearchQuery {
    fn checked(&self) -> Result<LogQuery> {
        let to = self.to.unwrap_or_else(crate::now_ms);
        let q = LogQuery {
            kind: kind_of(self.kind.as_deref())?,
            from_ms: self.from.unwrap_or(to.saturating_sub(govchain_logstore::DEFAULT_RANGE_MS)),
            to_ms: to,
            pattern: self.q.clone().filter(|q| !q.is_empty()),
            regex: self.regex.unwrap_or(false),
            limit: self.limit.unwrap_or(govchain_logstore::DEFAULT_LIMIT),
        };
        q.check()?;
        Ok(q)
    }
}

fn lines(found: Vec<LogLine>) -> Json<Vec<LogLineView>> {
    Json(found.into_iter().map(LogLineView::from).collect())
}

fn sse(
    lines: BoxStream<'static, LogLine>,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>> {
    let events = lines.filter_map(|l| async move {
        let data = serde_json::to_string(&LogLineView::from(l)).ok()?;
        Some(Ok(SseEvent::default().event("log").data(data)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn attachment(bytes: Vec<u8>, name: &str) -> Response {
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    let disposition = format!("attachment; filename=\"{name}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn date_of(d: &LogDownloadQuery) -> Result<(LogType, String)> {
    let kind = kind_of(d.kind.as_deref())?;
    let date = d.date.clone().ok_or_else(|| ApiError::bad_request("`date` (YYYY-MM-DD) is required"))?;
    Ok((kind, date))
}

/// A node's log lines, newest first: one type, a time range, a keyword or
/// regular expression. At most `limit` lines, and at most 256 MiB of
/// files read per search.
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/logs", tag = "logs",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), LogSearchQuery),
    responses(
        (status = 200, body = [LogLineView]),
        (status = 400, description = "`bad_request`: a type, range, limit or pattern refused", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the chain's driver does not reach its nodes' logs", body = ErrorBody)))]
async fn node_logs(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path((id, node_id)): Path<(i64, i64)>,
    q: std::result::Result<Query<LogSearchQuery>, QueryRejection>,
) -> Result<Json<Vec<LogLineView>>> {
    // Who may see the node first: another tenant learns nothing from a refusal.
    let (c, n) = logs::visible_node(&state.read, &auth.tenant(), id, node_id).await?;
    let q = query(q)?.checked()?;
    Ok(lines(logs::search_node(&state, &c, &n, &q).await?))
}

/// A node's new log lines as it writes them: Server-Sent Events, one `log`
/// event per line (its data a [`LogLineView`]); the stream ends after an
/// hour (reconnect).
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/logs/stream", tag = "logs",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), LogStreamQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = LogLineView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn node_log_stream(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path((id, node_id)): Path<(i64, i64)>,
    q: std::result::Result<Query<LogStreamQuery>, QueryRejection>,
) -> Result<Response> {
    let (c, n) = logs::visible_node(&state.read, &auth.tenant(), id, node_id).await?;
    let kind = kind_of(query(q)?.kind.as_deref())?;
    Ok(sse(logs::follow(&state, &c, &n, kind).await?).into_response())
}

/// A node's log of one type and day (JSON lines), as an attachment; today
/// or one of the 30 days before.
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/logs/download", tag = "logs",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), LogDownloadQuery),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String),
        (status = 400, description = "`bad_request`: no date, not a date, or outside the last 30 days", body = ErrorBody),
        (status = 404, description = "`not_found`: no such chain or node, or no file that day", body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn node_log_download(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path((id, node_id)): Path<(i64, i64)>,
    q: std::result::Result<Query<LogDownloadQuery>, QueryRejection>,
) -> Result<Response> {
    let (c, n) = logs::visible_node(&state.read, &auth.tenant(), id, node_id).await?;
    let (kind, date) = date_of(&query(q)?)?;
    let bytes = logs::day(&state, &c, &n, kind, &date).await?;
    Ok(attachment(bytes, &format!("{}-{kind}-{date}.log", n.name)))
}

/// A node's log level.
#[utoipa::path(get, path = "/api/v1/chains/{id}/nodes/{node_id}/log-level", tag = "logs",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id")),
    responses(
        (status = 200, body = LogLevelView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn node_log_level(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path((id, node_id)): Path<(i64, i64)>,
) -> Result<Json<LogLevelView>> {
    let (c, n) = logs::visible_node(&state.read, &auth.tenant(), id, node_id).await?;
    Ok(Json(LogLevelView { level: logs::level(&state, &c, &n).await? }))
}

/// Changes a node's log level at run time, without a restart (a stopped
/// node starts with it). The node logs the change in its `system` log.
#[utoipa::path(put, path = "/api/v1/chains/{id}/nodes/{node_id}/log-level", tag = "logs",
    params(("id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id")),
    request_body = LogLevelView,
    responses(
        (status = 200, body = LogLevelView),
        (status = 400, description = "`bad_request`: not a level or filter directive", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn set_node_log_level(
    State(state): State<AppState>,
    auth: Require<need::ChainOperate>,
    Path((id, node_id)): Path<(i64, i64)>,
    ApiJson(body): ApiJson<LogLevelView>,
) -> Result<Response> {
    let (c, n) = chains::own_node(&state.db, &auth.tenant(), id, node_id, false).await?;
    let level = logs::set_level(&state, &c, &n, &body.level).await?;
    let detail = format!("node {} log level {level}", n.name);
    Ok(audit::with_detail(Json(LogLevelView { level }), detail))
}

/// This platform replica's own log lines, newest first (super admin).
#[utoipa::path(get, path = "/api/v1/platform/logs", tag = "logs",
    params(LogSearchQuery),
    responses(
        (status = 200, body = [LogLineView]),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "`conflict`: this replica keeps no log store", body = ErrorBody)))]
async fn platform_logs(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    q: std::result::Result<Query<LogSearchQuery>, QueryRejection>,
) -> Result<Json<Vec<LogLineView>>> {
    let q = query(q)?.checked()?;
    Ok(lines(logs::platform_search(&state, &q).await?))
}

/// This replica's new log lines (Server-Sent Events, `log` events; super
/// admin).
#[utoipa::path(get, path = "/api/v1/platform/logs/stream", tag = "logs",
    params(LogStreamQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = LogLineView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn platform_log_stream(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    q: std::result::Result<Query<LogStreamQuery>, QueryRejection>,
) -> Result<Response> {
    let kind = kind_of(query(q)?.kind.as_deref())?;
    Ok(sse(logs::platform_follow(&state, kind).await?).into_response())
}

/// This replica's log of one type and day (JSON lines), as an attachment
/// (super admin).
#[utoipa::path(get, path = "/api/v1/platform/logs/download", tag = "logs",
    params(LogDownloadQuery),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn platform_log_download(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    q: std::result::Result<Query<LogDownloadQuery>, QueryRejection>,
) -> Result<Response> {
    let (kind, date) = date_of(&query(q)?)?;
    let bytes = logs::platform_day(&state, kind, &date).await?;
    Ok(attachment(bytes, &format!("platform-{kind}-{date}.log")))
}

/// This replica's log level (super admin).
#[utoipa::path(get, path = "/api/v1/platform/log-level", tag = "logs",
    responses(
        (status = 200, body = LogLevelView),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn platform_log_level(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
) -> Result<Json<LogLevelView>> {
    Ok(Json(LogLevelView { level: logs::platform_level(&state)? }))
}

/// Changes this replica's log level at run time (super admin); applied
/// within a second and logged in its `system` log.
#[utoipa::path(put, path = "/api/v1/platform/log-level", tag = "logs",
    request_body = LogLevelView,
    responses(
        (status = 200, body = LogLevelView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn set_platform_log_level(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    ApiJson(body): ApiJson<LogLevelView>,
) -> Result<Response> {
    let level = logs::set_platform_level(&state, &body.level).await?;
    let detail = format!("platform log level {level}");
    Ok(audit::with_detail(Json(LogLevelView { level }), detail))
}
