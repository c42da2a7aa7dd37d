//! `/metrics` (Prometheus text), `/healthz` and `/readyz` of the operator.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{Error, Result};

/// Labels of the reconcile counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `ok` or `error`.
    pub result: String,
    /// The error category ([`Error::category`]), empty on success.
    pub error: String,
}

/// The operator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles by outcome.
    pub reconciles: Family<Outcome, Counter>,
    /// Reconcile durations.
    pub reconcile_seconds: Histogram,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("govchain_operator");
        let reconciles = Family::<Outcome, Counter>::default();
        let reconcile_seconds = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let leader = Gauge::default();
        registry.register("reconciles", "Chain reconciles, by result and error category", reconciles.clone());
        registry.register("reconcile_seconds", "Time of one Chain reconcile", reconcile_seconds.clone());
        registry.register("leader", "1 while this replica holds the leader lease", leader.clone());
        Metrics { registry, reconciles, reconcile_seconds, leader, ready: AtomicBool::new(false) }
    }
}

impl Metrics {
    /// Counts one reconcile (`error`: its category, `None` on success).
    pub fn reconciled(&self, error: Option<&'static str>, took: Duration) {
        let outcome = Outcome {
            result: if error.is_some() { "error" } else { "ok" }.into(),
            error: error.unwrap_or_default().into(),
        };
        self.reconciles.get_or_create(&outcome).inc();
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    /// Marks the operator ready (`/readyz` answers 200): it reached the API.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listen` until the task is dropped.
pub async fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.render())
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move {
                if m.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready").into_response()
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not connected to the API yet").into_response()
                }
            }),
        )
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::State(format!("cannot listen on {listen}: {e}")))?;
    axum::serve(listener, app).await.map_err(|e| Error::State(format!("metrics server: {e}")))
}
