//! Collected monitoring figures (SPEC OPS-1) as chart series: a chain's
//! nodes, one node, and the platform's own (super admin only). Reads need
//! `monitor_view`; a department sees the chains it is a member of.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{Require, need},
    entity::node,
    error::{ErrorBody, Result},
    services::{
        chains,
        metrics::{self, DERIVED, MAX_RANGE_MS, NODE_SERIES, Owner, PLATFORM_SERIES, Range, UP},
    },
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chain_metrics))
        .routes(routes!(node_metrics))
        .routes(routes!(platform_metrics))
}

/// The range and metrics of a chart.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// Metric names, comma-separated (default: all). Nodes: `up`, `height`,
    /// `pending`, `block_interval_seconds`, `transactions`, `tps`, `peers`,
    /// `is_leader`, `process_cpu_seconds`, `cpu_cores`,
    /// `process_resident_memory_bytes`, `process_open_fds`,
    /// `disk_used_bytes`, `disk_free_bytes`, `network_receive_bytes`,
    /// `network_transmit_bytes`, `cert_expiry_timestamp_seconds`. Platform: `http_requests`,
    /// `http_request_rate`, `process_cpu_seconds`, `cpu_cores`,
    /// `process_resident_memory_bytes`, `process_open_fds`,
    /// `db_pool_connections`, `collector_scrapes`.
    pub metric: Option<String>,
    /// Start, ms since 1970 (default: an hour before `to`).
    pub from: Option<i64>,
    /// End, ms since 1970 (default: now); at most 31 days after `from`.
    pub to: Option<i64>,
    /// Point spacing in ms (raised to the resolution and to keep at most
    /// 500 points per series).
    #[param(minimum = 1)]
    pub step: Option<i64>,
}

/// One point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointView {
    /// Start of the step, ms since 1970.
    pub ts: i64,
    /// The average over the step (a rate per second for `tps`,
    /// `cpu_cores`, `http_request_rate`).
    pub value: f64,
}

/// A series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesView {
    /// The metric.
    pub metric: String,
    /// The node (none for the platform).
    pub node_id: Option<i64>,
    /// The node's name.
    pub node: Option<String>,
    /// Oldest first.
    pub points: Vec<PointView>,
}

/// Series over a range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetricsView {
    /// Start, ms since 1970.
    pub from: i64,
    /// End, ms since 1970.
    pub to: i64,
    /// Point spacing, ms.
    pub step_ms: i64,
    /// The stored resolution read: `raw`, `1m` or `1h`.
    pub resolution: String,
    /// The series, by metric then node.
    pub series: Vec<SeriesView>,
}

fn node_names() -> Vec<&'static str> {
    std::iter::once(UP).chain(NODE_SERIES.iter().map(|(n, _)| *n)).chain(derived_of(&NODE_SERIES)).collect()
}

fn platform_names() -> Vec<&'static str> {
    PLATFORM_SERIES.iter().map(|(n, _)| *n).chain(derived_of(&PLATFORM_SERIES)).collect()
}

fn derived_of(stored: &'static [(&'static str, &'static str)]) -> impl Iterator<Item = &'static str> {
    DERIVED.iter().filter(|(_, src)| stored.iter().any(|(n, _)| n == src)).map(|(d, _)| *d)
}

/// The checked question: metric names among `known`, the range.
fn checked(q: &MetricsQuery, known: &[&'static str], now: i64) -> Result<(Vec<&'static str>, Range)> {
    let names = match q.metric.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => known.to_vec(),
        Some(list) => {
            let mut names = Vec::new();
            for m in list.split(',').map(str::trim) {
                let found = known.iter().find(|k| **k == m).ok_or_else(|| {
                    validate::refuse("metric", format!("unknown metric `{m}`; known: {}", known.join(", ")))
                })?;
                if !names.contains(found) {
                    names.push(*found);
                }
            }
            names
        }
    };
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 3600 * 1000);
    if to <= 0 {
        return Err(validate::refuse("to", "must be a time in ms since 1970"));
    }
    if from < 0 || from >= to {
        return Err(validate::refuse("from", "must be a time in ms since 1970 before `to`"));
    }
    if to - from > MAX_RANGE_MS {
        return Err(validate::refuse("from", "the range may span at most 31 days"));
    }
    if q.step.is_some_and(|s| s <= 0) {
        return Err(validate::refuse("step", "must be a positive number of ms"));
    }
    Ok((names, Range { from, to, step: q.step }))
}

async fn answer(
    state: &AppState,
    owner: Owner,
    q: &MetricsQuery,
    known: &[&'static str],
    nodes: &[node::Model],
) -> Result<Json<MetricsView>> {
    let now = crate::now_ms();
    let (names, range) = checked(q, known, now)?;
    let a = metrics::read(
        &state.read,
        owner,
        &names,
        &range,
        now,
        &state.config.metrics_retention,
        state.config.metrics_interval,
    )
    .await?;
    let resolution = match a.res {
        metrics::res::RAW => "raw",
        metrics::res::MINUTE => "1m",
        _ => "1h",
    };
    Ok(Json(MetricsView {
        from: range.from,
        to: range.to,
        step_ms: a.step,
        resolution: resolution.into(),
        series: a
            .series
            .into_iter()
            .map(|s| SeriesView {
                node: s.node_id.and_then(|id| nodes.iter().find(|n| n.id == id).map(|n| n.name.clone())),
                metric: s.name,
                node_id: s.node_id,
                points: s.points.into_iter().map(|(ts, value)| PointView { ts, value }).collect(),
            })
            .collect(),
    }))
}

/// Every node's series of a chain the caller sees.
#[utoipa::path(get, path = "/api/v1/metrics/chains/{id}", tag = "metrics",
    params(("id" = i64, Path, description = "Chain id"), MetricsQuery),
    responses(
        (status = 200, body = MetricsView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a metric, range or step refused (`details.field`)", body = ErrorBody)))]
async fn chain_metrics(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path(id): Path<i64>,
    Query(q): Query<MetricsQuery>,
) -> Result<Json<MetricsView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let nodes = chains::nodes_of(&state.read, c.id).await?;
    answer(&state, Owner { chain_id: Some(c.id), node_id: None }, &q, &node_names(), &nodes).await
}

/// One node's series.
#[utoipa::path(get, path = "/api/v1/metrics/nodes/{chain_id}/{node_id}", tag = "metrics",
    params(("chain_id" = i64, Path, description = "Chain id"), ("node_id" = i64, Path, description = "Node id"), MetricsQuery),
    responses(
        (status = 200, body = MetricsView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a metric, range or step refused (`details.field`)", body = ErrorBody)))]
async fn node_metrics(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path((chain_id, node_id)): Path<(i64, i64)>,
    Query(q): Query<MetricsQuery>,
) -> Result<Json<MetricsView>> {
    let c = chains::visible(&state.read, &auth.tenant(), chain_id).await?;
    let nodes: Vec<node::Model> =
        chains::nodes_of(&state.read, c.id).await?.into_iter().filter(|n| n.id == node_id).collect();
    if nodes.is_empty() {
        return Err(crate::ApiError::not_found("no such node"));
    }
    answer(&state, Owner { chain_id: Some(c.id), node_id: Some(node_id) }, &q, &node_names(), &nodes).await
}

/// The platform's own series (super admin only).
#[utoipa::path(get, path = "/api/v1/metrics/platform", tag = "metrics",
    params(MetricsQuery),
    responses(
        (status = 200, body = MetricsView),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`invalid`: a metric, range or step refused (`details.field`)", body = ErrorBody)))]
async fn platform_metrics(
    State(state): State<AppState>,
    _auth: Require<need::PlatformAdmin>,
    Query(q): Query<MetricsQuery>,
) -> Result<Json<MetricsView>> {
    answer(&state, Owner::PLATFORM, &q, &platform_names(), &[]).await
}
