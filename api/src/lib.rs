//! The govchain control plane: organizations, users and roles, the
//! approval workflow (a department requests a chain or nodes, the platform
//! operator approves, the platform provisions through a host driver), chain
//! and node lifecycle, invitations, a message centre and a hash-chained
//! operation log, as a REST API described by OpenAPI.
//!
//! Not here: the chain node itself (`govchain-node`), where nodes run
//! (`govchain-driver`), the console UI.
//!
//! Layers, each importing only those below it: `routes` (one module per
//! resource: extract the caller, its permission and the body, call a
//! service, map to the wire type) -> `services` (the queries, each taking a
//! connection and the tenant it acts for, tenancy in the WHERE clause) ->
//! `entity`, `domain` (state enums, the tenant, stored values), `error`.
//! `auth` (the caller and the `Require` permission extractor) and `audit`
//! (the operation log) sit below the routes; `jobs` runs provisioning.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod domain;
pub mod entity;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod migration;
pub mod openapi;
pub mod page;
pub mod rbac;
pub mod routes;
pub mod services;
pub mod status;
pub mod validate;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequest, Request},
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use govchain_driver::HostDriver;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ErrorBody, Result};

/// How the control plane runs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `sqlite://<path>?mode=rwc` (embedded) or `postgres://...`.
    pub database_url: String,
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Failed logins before the account locks (5).
    pub lockout_threshold: u32,
    /// How long a locked account stays locked (15 minutes).
    pub lockout_duration: Duration,
    /// A session ends after this long without a request (30 minutes).
    pub idle_timeout: Duration,
    /// Mark the session cookie `Secure` (when served over HTTPS).
    pub secure_cookies: bool,
    /// The first super admin's user name.
    pub admin_username: String,
    /// The first super admin's password; random (and printed once) when
    /// `None`.
    pub admin_password: Option<String>,
    /// This replica's name in job leases (random when `None`).
    pub replica: Option<String>,
    /// The host whose chain nodes this replica's driver runs, when only
    /// replicas on that host can reach them (the local driver: a stable id
    /// of its data directory). Jobs on chains of another host are left to
    /// that host's replicas. `None`: every replica reaches every node
    /// (Kubernetes).
    pub host: Option<String>,
    /// How long a provisioning job's lease lasts without a heartbeat; a
    /// replica that stops for longer loses its jobs to another (15 s).
    pub job_lease: Duration,
    /// Wraps the API's router, e.g. with the web console, which answers its
    /// own pages and passes every other request on to the API.
    pub ui: Option<fn(Router) -> Router>,
    /// Scheduled backups of the database (SPEC OPS-5), and where
    /// `POST /api/v1/backups` writes; none when `None`. One replica of a
    /// deployment takes them.
    pub backup: Option<backup::Schedule>,
    /// How often the collector scrapes the nodes' `/metrics` (15 s).
    pub metrics_interval: Duration,
    /// How long collected figures are kept per resolution.
    pub metrics_retention: services::metrics::Retention,
    /// This replica's own log store (SPEC OPS-3), which
    /// `/api/v1/platform/logs*` read; none when `None`. The process
    /// installs it (`govchain_logstore::install`); the API only reads its
    /// files and writes its level file.
    pub logs: Option<govchain_logstore::LogConfig>,
    /// The SMTP server alert e-mails go through; none: e-mail
    /// notifications fail with a note saying so.
    pub smtp: Option<services::alerts::channels::SmtpConfig>,
}

impl ApiConfig {
    /// The defaults of SPEC ORG-6 with this database and address.
    pub fn new(database_url: impl Into<String>, listen: SocketAddr) -> ApiConfig {
        ApiConfig {
            database_url: database_url.into(),
            listen,
            lockout_threshold: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            idle_timeout: Duration::from_secs(30 * 60),
            secure_cookies: false,
            admin_username: "admin".into(),
            admin_password: None,
            replica: None,
            host: None,
            job_lease: Duration::from_secs(15),
            ui: None,
            backup: None,
            metrics_interval: Duration::from_secs(15),
            metrics_retention: services::metrics::Retention::default(),
            logs: None,
            smtp: None,
        }
    }

    /// Refuses settings that would fail only after the database was
    /// touched: the first super admin's name and password.
    pub fn check(&self) -> Result<(), StartError> {
        validate::username(&self.admin_username).map_err(|e| StartError::Setup(e.message))?;
        if let Some(s) = &self.smtp {
            s.check().map_err(StartError::Setup)?;
        }
        if let Some(p) = &self.admin_password {
            auth::check_password_policy(p, &self.admin_username)
                .map_err(|e| StartError::Setup(format!("the admin password is refused: {}", e.message)))?;
        }
        Ok(())
    }
}

/// A message-centre event, pushed to connected clients of its organization.
#[derive(Debug, Clone)]
pub struct Event {
    /// Recipient organization.
    pub org_id: i64,
    /// The message.
    pub message: entity::message::Model,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database: every write, and reads that must see the latest
    /// writes (on SQLite its one writer connection).
    pub db: DatabaseConnection,
    /// Reads (on SQLite a pool of readers beside the writer; on
    /// PostgreSQL the same pool as `db`).
    pub read: DatabaseConnection,
    /// Where chain nodes run.
    pub driver: Arc<dyn HostDriver>,
    /// Settings.
    pub config: Arc<ApiConfig>,
    /// Message-centre events.
    pub events: broadcast::Sender<Event>,
    /// The operation log's writer.
    pub audit: audit::Appender,
    /// This replica in the provisioning jobs.
    pub jobs: Arc<jobs::Worker>,
    /// The nodes' live status, shared by the pages that show it.
    pub status: Arc<status::StatusCache>,
    /// The control plane's own Prometheus metrics.
    pub metrics: Arc<metrics::ApiMetrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("driver", &self.driver.kind()).finish_non_exhaustive()
    }
}

/// Most bytes of a request body.
pub const MAX_BODY: usize = 1024 * 1024;

/// Milliseconds since 1970.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A JSON body whose rejections are JSON errors (`bad_request` for a body
/// that is not JSON or does not match the schema, 413 for one too large).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    e.status(),
                    "too_large",
                    format!("the body is larger than {MAX_BODY} bytes"),
                ))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::auth::routes())
        .merge(routes::users::routes())
        .merge(routes::orgs::routes())
        .merge(routes::roles::routes())
        .merge(routes::quota::routes())
        .merge(routes::requests::routes())
        .merge(routes::messages::routes())
        .merge(routes::chains::routes())
        .merge(routes::contracts::routes())
        .merge(routes::findings::routes())
        .merge(routes::explorer::routes())
        .merge(routes::metrics::routes())
        .merge(routes::logs::routes())
        .merge(routes::evidence::routes())
        .merge(routes::sandbox::routes())
        .merge(routes::repository::routes())
        .merge(routes::lifecycle::routes())
        .merge(routes::invitations::routes())
        .merge(routes::audit::routes())
        .merge(routes::backups::routes())
        .merge(routes::alerts::routes())
}

/// The OpenAPI description of the API, as served at `/api/openapi.json`.
pub fn openapi() -> serde_json::Value {
    openapi::complete(&api_router().split_for_parts().1)
}

/// The description as pretty JSON (what is committed as `api/openapi.json`).
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi()).unwrap_or_default()
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    let (router, doc) = api_router().split_for_parts();
    let doc = Arc::new(serde_json::to_string_pretty(&openapi::complete(&doc)).unwrap_or_default());
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::log_mutations))
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::serve))
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Rejections axum makes itself (a path or query parameter that does not
/// parse, a method the route does not take) come as plain text or empty;
/// this gives them the `{code, message}` body every other error has.
async fn json_errors(req: Request, next: Next) -> Response {
    use axum::http::StatusCode;
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Axum's rejection texts are one short line.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let body =
        serde_json::to_vec(&ErrorBody { code: code.into(), message, details: None }).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Headers that keep a browser from sniffing, framing or running what the
/// API returns.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Why the control plane did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database {0}")]
    Database(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {0}")]
    Listen(String),
    /// Setup failed.
    #[error("{0}")]
    Setup(String),
}

/// A running control plane.
#[derive(Debug)]
pub struct Platform {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// On the first start only: the super admin's user name and password.
    pub first_admin: Option<(String, String)>,
    /// The shared state.
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
    backups: Option<tokio::task::JoinHandle<()>>,
    collector: tokio::task::JoinHandle<()>,
    alerting: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Platform {
    /// Stops serving, then stops every chain node the driver started (data
    /// stays; the next start resumes the chains).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // No new jobs; a job in flight is abandoned with its lease, which
        // another replica (or the next start) takes over once it expires.
        self.worker.abort();
        if let Some(b) = &self.backups {
            b.abort();
        }
        self.collector.abort();
        self.alerting.abort();
        self.state.jobs.stop();
        // Open event streams would hold a graceful shutdown forever; give
        // requests in flight a moment, then close what is left.
        if tokio::time::timeout(Duration::from_secs(5), &mut self.server).await.is_err() {
            self.server.abort();
        }
        // The operation log entries of the last requests.
        if let Err(e) = self.state.audit.flush().await {
            tracing::error!(target: "govchain::api", "operation log at shutdown: {e}");
        }
        self.state.driver.shutdown().await;
    }
}

/// Opens (and migrates) the database.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StartError> {
    Ok(connect_pools(url).await?.0)
}

/// Opens (and migrates) the database: the writer and the readers.
///
/// SQLite (WAL): one writer connection, so writers queue in the pool
/// instead of meeting SQLITE_BUSY, and a pool of readers that never wait
/// for it; a busy timeout covers another process on the same file.
/// PostgreSQL: one pool for both.
pub async fn connect_pools(url: &str) -> Result<(DatabaseConnection, DatabaseConnection), StartError> {
    let sqlite = url.starts_with("sqlite:");
    let memory = sqlite && url.contains(":memory:");
    let open = |max: u32| {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(max)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        if sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        }
        opts
    };
    let connect = |opts: ConnectOptions| async move {
        Database::connect(opts).await.map_err(|e| StartError::Database(format!("{url}: {e}")))
    };
    let db = connect(open(if sqlite { 1 } else { PG_POOL })).await?;
    migration::up(&db).await.map_err(|e| StartError::Database(format!("migration: {e}")))?;
    // An in-memory database is one connection's own.
    let read = if sqlite && !memory { connect(open(SQLITE_READERS)).await? } else { db.clone() };
    Ok((db, read))
}

/// Readers beside the SQLite writer.
const SQLITE_READERS: u32 = 4;
/// Connections of one replica to PostgreSQL (the server's default limit
/// is 100: three replicas fit).
const PG_POOL: u32 = 32;

/// Starts the control plane: opens and migrates the database, creates the
/// platform organization, built-in roles and first super admin on the
/// first run, resumes the chains that should be running, takes part in
/// provisioning, and serves.
pub async fn start(config: ApiConfig, driver: Arc<dyn HostDriver>) -> Result<Platform, StartError> {
    config.check()?;
    if let Some(b) = &config.backup {
        std::fs::create_dir_all(&b.dir)
            .map_err(|e| StartError::Setup(format!("the backup directory {}: {e}", b.dir.display())))?;
    }
    let (db, read) = connect_pools(&config.database_url).await?;
    let config_url = config.database_url.clone();
    let (events, _) = broadcast::channel(1024);
    let jobs = Arc::new(jobs::Worker::new(&config));
    let state = AppState {
        audit: audit::Appender::start(db.clone()),
        db,
        read,
        driver,
        config: Arc::new(config),
        events,
        jobs,
        status: Arc::default(),
        metrics: Arc::new(metrics::ApiMetrics::new(metrics::sqlite_dir(&config_url))),
    };
    // Computed once, off the async workers, before the first login needs it.
    let _ = tokio::task::spawn_blocking(|| auth::dummy_hash().len()).await;
    // Under the setup lock: replicas starting at once create the first administrator once.
    let first_admin = migration::exclusive(&state.db, services::orgs::bootstrap(&state))
        .await
        .map_err(|e| StartError::Database(e.to_string()))?
        .map_err(|e| StartError::Setup(e.message))?;
    services::provision::recover(&state).await.map_err(|e| StartError::Setup(e.message))?;
    services::alerts::ensure_all_defaults(&state.db).await.map_err(|e| StartError::Setup(e.message))?;
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(|e| StartError::Listen(format!("{}: {e}", state.config.listen)))?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen(e.to_string()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = state.config.ui.map_or_else(|| app(state.clone()), |wrap| wrap(app(state.clone())));
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
        if let Err(e) = serve.await {
            tracing::error!(target: "govchain::api", "server: {e}");
        }
    });
    let worker = jobs::spawn(state.clone(), services::provision::job_runner);
    let backups = state.config.backup.clone().map(|s| tokio::spawn(backup::schedule(state.clone(), s)));
    let collector = services::metrics::spawn_collector(state.clone());
    let alerting = services::alerts::evaluator::spawn(state.clone());
    Ok(Platform {
        url: format!("http://{addr}"),
        addr,
        first_admin,
        state,
        server,
        worker,
        backups,
        collector,
        alerting,
        stop: Some(stop),
    })
}

/// A 201 response with a JSON body.
pub(crate) fn created<T: serde::Serialize>(v: T) -> Response {
    (axum::http::StatusCode::CREATED, axum::Json(v)).into_response()
}
