//! The control plane's own Prometheus metrics (`govchain_api_*`), served at
//! `/metrics`: HTTP requests by route, method and status with a latency
//! histogram, the database pool, the collector's scrapes, and the
//! process's own figures.
//!
//! Not here: the figures collected from the nodes into the database
//! (`services::metrics`).

use std::{path::PathBuf, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use govchain_hoststats::HostStats;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::AppState;

/// Labels of a served request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/api/v1/chains/{id}`), or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The status code.
    pub status: String,
}

/// Label of a latency observation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The route's pattern.
    pub route: String,
}

/// Label of a collector scrape.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScrapeResult {
    /// `ok` or `failed`.
    pub result: String,
}

/// Every metric the control plane exports.
#[derive(Debug)]
pub struct ApiMetrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to answer a request, by route.
    pub latency: Family<RouteLabel, Histogram>,
    /// Connections open in the database pool (the writer's on SQLite).
    pub db_connections: Gauge,
    /// Idle connections in that pool.
    pub db_idle: Gauge,
    /// Node scrapes by the collector.
    pub scrapes: Family<ScrapeResult, Counter>,
    /// Process and host figures.
    pub host: HostStats,
}

impl ApiMetrics {
    /// The metrics; disk figures of `data_dir`'s filesystem (the SQLite
    /// file's directory), none for `None`.
    pub fn new(data_dir: Option<PathBuf>) -> ApiMetrics {
        let mut registry = Registry::with_prefix("govchain_api");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let db_connections = Gauge::default();
        let db_idle = Gauge::default();
        let scrapes = Family::<ScrapeResult, Counter>::default();
        registry.register("http_requests", "Requests served, by route, method and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Connections open in the database pool",
            db_connections.clone(),
        );
        registry.register("db_pool_idle", "Idle connections in the database pool", db_idle.clone());
        registry.register("collector_scrapes", "Node scrapes by the metrics collector", scrapes.clone());
        let host = HostStats::register(&mut registry, data_dir);
        ApiMetrics { registry, requests, latency, db_connections, db_idle, scrapes, host }
    }

    /// The text exposition, process figures read now.
    pub fn render(&self) -> String {
        self.host.refresh();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Counts a node scrape.
    pub fn scraped(&self, ok: bool) {
        self.scrapes.get_or_create(&ScrapeResult { result: if ok { "ok" } else { "failed" }.into() }).inc();
    }
}

/// The directory of an SQLite database URL's file (`None` for memory or
/// PostgreSQL).
pub fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    let dir = std::path::Path::new(path).parent()?.to_owned();
    Some(if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir })
}

/// Counts and times every request under its route pattern (never the raw
/// path, which would make a series per id).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.latency.get_or_create(&RouteLabel { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels { route, method, status: resp.status().as_u16().to_string() })
        .inc();
    resp
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> Response {
    if let Some(pool) = pool_of(&state.db) {
        state.metrics.db_connections.set(i64::from(pool.0));
        state.metrics.db_idle.set(i64::try_from(pool.1).unwrap_or(i64::MAX));
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// Open and idle connections of the pool behind `db`.
fn pool_of(db: &sea_orm::DatabaseConnection) -> Option<(u32, usize)> {
    match db {
        sea_orm::DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let p = db.get_sqlite_connection_pool();
            Some((p.size(), p.num_idle()))
        }
        sea_orm::DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let p = db.get_postgres_connection_pool();
            Some((p.size(), p.num_idle()))
        }
        _ => None,
    }
}
