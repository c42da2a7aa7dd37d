//! Node and platform logs (SPEC OPS-3): search, live tail, a day's file
//! and the run-time level of a chain node's log store (through the host
//! driver) and of this replica's own store (its directory in
//! [`crate::ApiConfig::logs`]). Callers check who may see which chain;
//! [`visible_node`] is the check the routes use, the same as the
//! monitoring charts': a member organization of the chain sees every node
//! of it.
//!
//! Not for: alert rules (they call [`search`]), or the Prometheus figures.

use std::path::PathBuf;

use futures_util::stream::BoxStream;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use govchain_logstore::{LogConfig, SearchParams};
pub use govchain_logstore::{LogLine, LogType};

use crate::{
    AppState,
    domain::Tenant,
    entity::{chain, node},
    error::{ApiError, Result},
    services::chains,
};

/// A search of one node's (or the platform's) log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// The type searched.
    pub kind: LogType,
    /// From, ms since 1970 (inclusive).
    pub from_ms: i64,
    /// To, ms since 1970 (inclusive).
    pub to_ms: i64,
    /// A keyword (case-insensitive) or, with `regex`, a regular
    /// expression the line's target, message or fields must match.
    pub pattern: Option<String>,
    /// Whether `pattern` is a regular expression.
    pub regex: bool,
    /// Most lines returned (1 to 10000).
    pub limit: usize,
}

impl LogQuery {
    fn params(&self) -> SearchParams {
        SearchParams {
            kind: Some(self.kind),
            from: Some(self.from_ms),
            to: Some(self.to_ms),
            q: self.pattern.clone(),
            regex: Some(self.regex),
            limit: Some(self.limit),
        }
    }

    /// Refuses (400) a range backwards, a limit out of range, a pattern
    /// too long or a regular expression that does not compile.
    pub fn check(&self) -> Result<()> {
        self.params().to_search(crate::now_ms()).map(|_| ()).map_err(refused)
    }
}

/// A log store refusal as the API's: the caller's input is a 400.
pub(crate) fn refused(e: govchain_logstore::Error) -> ApiError {
    match e {
        govchain_logstore::Error::Invalid(m) => ApiError::bad_request(m),
        e => ApiError::internal("reading the log", e),
    }
}

/// A driver refusal of a log call: bad input is a 400, the rest as usual.
fn driver(e: govchain_driver::Error) -> ApiError {
    match e {
        govchain_driver::Error::Invalid(m) => ApiError::bad_request(m),
        e => e.into(),
    }
}

/// The chain and node for a caller that sees the chain (a member
/// organization, or the platform operator): 404 for a chain it does not
/// see and for a node not of the chain.
pub async fn visible_node(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    chain_id: i64,
    node_id: i64,
) -> Result<(chain::Model, node::Model)> {
    let c = chains::visible(db, tenant, chain_id).await?;
    let n = node::Entity::find_by_id(node_id)
        .filter(node::Column::ChainId.eq(c.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such node"))?;
    Ok((c, n))
}

/// The node of a chain, whoever asks (for the platform's own callers,
/// alert rules among them): 404 for a node not of the chain.
async fn node_of(
    db: &impl ConnectionTrait,
    chain_id: i64,
    node_id: i64,
) -> Result<(chain::Model, node::Model)> {
    let c = chain::Entity::find_by_id(chain_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such chain"))?;
    let n = node::Entity::find_by_id(node_id)
        .filter(node::Column::ChainId.eq(c.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such node"))?;
    Ok((c, n))
}

/// The lines of node `node_id` of chain `chain_id` matching `q`, newest
/// first. No tenancy here: the caller decides who may see the chain.
pub async fn search(state: &AppState, chain_id: i64, node_id: i64, q: &LogQuery) -> Result<Vec<LogLine>> {
    q.check()?;
    let (c, n) = node_of(&state.read, chain_id, node_id).await?;
    search_node(state, &c, &n, q).await
}

/// As [`search`], for a chain and node already read.
pub async fn search_node(
    state: &AppState,
    c: &chain::Model,
    n: &node::Model,
    q: &LogQuery,
) -> Result<Vec<LogLine>> {
    q.check()?;
    state.driver.log_search(&c.chain_key, &n.name, &q.params()).await.map_err(driver)
}

/// The node's new `kind` lines as it writes them.
pub async fn follow(
    state: &AppState,
    c: &chain::Model,
    n: &node::Model,
    kind: LogType,
) -> Result<BoxStream<'static, LogLine>> {
    state.driver.log_follow(&c.chain_key, &n.name, kind).await.map_err(driver)
}

/// The node's `kind` log of `date` (`YYYY-MM-DD`, within the last 30
/// days); 404 when it kept no file that day.
pub async fn day(
    state: &AppState,
    c: &chain::Model,
    n: &node::Model,
    kind: LogType,
    date: &str,
) -> Result<Vec<u8>> {
    check_day(date, govchain_logstore::DEFAULT_RETENTION_DAYS)?;
    state
        .driver
        .log_day(&c.chain_key, &n.name, kind, date)
        .await
        .map_err(driver)?
        .ok_or_else(|| ApiError::not_found(format!("node {} kept no {kind} log on {date}", n.name)))
}

/// Refuses (400) a date that is not `YYYY-MM-DD` within the last
/// `retention_days` days.
pub fn check_day(date: &str, retention_days: u32) -> Result<()> {
    govchain_logstore::check_download_day(date, retention_days, govchain_logstore::today())
        .map(|_| ())
        .map_err(refused)
}

/// The node's level directive.
pub async fn level(state: &AppState, c: &chain::Model, n: &node::Model) -> Result<String> {
    state.driver.log_level(&c.chain_key, &n.name).await.map_err(driver)
}

/// Changes the node's level at run time; returns the directive set.
pub async fn set_level(state: &AppState, c: &chain::Model, n: &node::Model, level: &str) -> Result<String> {
    govchain_logstore::validate_directive(level).map_err(refused)?;
    state.driver.set_log_level(&c.chain_key, &n.name, level).await.map_err(driver)
}

// ---- this replica's own log ------------------------------------------

/// This replica's log store: 409 when it keeps none.
pub fn platform_store(state: &AppState) -> Result<LogConfig> {
    state.config.logs.clone().ok_or_else(|| {
        ApiError::conflict("this platform replica keeps no log store (started without a data dir)")
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> govchain_logstore::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("reading the log", e))?
        .map_err(refused)
}

/// The replica's lines matching `q`, newest first.
pub async fn platform_search(state: &AppState, q: &LogQuery) -> Result<Vec<LogLine>> {
    let dir = platform_store(state)?.dir;
    let search = q.params().to_search(crate::now_ms()).map_err(refused)?;
    blocking(move || govchain_logstore::search(&dir, &search)).await
}

/// The replica's `kind` log of `date`.
pub async fn platform_day(state: &AppState, kind: LogType, date: &str) -> Result<Vec<u8>> {
    check_day(date, govchain_logstore::DEFAULT_RETENTION_DAYS)?;
    let config = platform_store(state)?;
    let (dir, d) = (config.dir, date.to_owned());
    blocking(move || govchain_logstore::read_day(&dir, kind, &d))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("the platform kept no {kind} log on {date}")))
}

/// The replica's new `kind` lines as it writes them (for an hour at most).
pub async fn platform_follow(state: &AppState, kind: LogType) -> Result<BoxStream<'static, LogLine>> {
    let dir: PathBuf = platform_store(state)?.dir;
    let follower = blocking(move || govchain_logstore::Follower::new(dir, kind)).await?;
    Ok(govchain_logstore::follow(follower))
}

/// The replica's level directive.
pub fn platform_level(state: &AppState) -> Result<String> {
    let dir = platform_store(state)?.dir;
    Ok(govchain_logstore::read_level(&dir).unwrap_or_else(|| govchain_logstore::DEFAULT_DIRECTIVE.to_owned()))
}

/// Changes the replica's level at run time (applied within a second by
/// the store installed in this process).
pub async fn set_platform_level(state: &AppState, level: &str) -> Result<String> {
    govchain_logstore::validate_directive(level).map_err(refused)?;
    let dir = platform_store(state)?.dir;
    let level = level.to_owned();
    blocking(move || govchain_logstore::request_level(&dir, &level)).await
}
