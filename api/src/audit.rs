//! The operation log (SPEC ORG-5): every state-changing request — who, in
//! which organization, when, on what, with what result — in a hash chain:
//! each entry carries the hash of the one before, so a changed, removed or
//! reordered entry breaks every hash after it. Entries are kept (no
//! pruning), which covers the 180-day minimum.

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{
    AppState,
    auth::ActorSlot,
    entity::{oplog, oplog_head},
    error::{ApiError, Outcome, Result},
    now_ms,
};

/// What a handler wants the log entry to say beyond the path (e.g. the id
/// of what it created).
#[derive(Debug, Clone)]
pub struct Detail(pub String);

/// Adds a detail to a response's log entry.
pub fn with_detail(resp: impl IntoResponse, detail: impl Into<String>) -> Response {
    let mut resp = resp.into_response();
    resp.extensions_mut().insert(Detail(detail.into()));
    resp
}

/// The hash of the first entry's predecessor.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Acting user, if known.
    pub actor_id: Option<i64>,
    /// Acting user's name (or the name tried, for a failed login).
    pub actor: String,
    /// The actor's organization.
    pub org_id: Option<i64>,
    /// What was done, e.g. `POST /chains/{id}/stop`.
    pub action: String,
    /// On what, e.g. `chains/7`.
    pub target: String,
    /// `ok` or the error code.
    pub result: String,
    /// More.
    pub detail: String,
}

fn entry_hash(prev: &str, at: i64, e: &Entry) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at.to_string(),
        &e.actor_id.map(|v| v.to_string()).unwrap_or_default(),
        &e.actor,
        &e.org_id.map(|v| v.to_string()).unwrap_or_default(),
        &e.action,
        &e.target,
        &e.result,
        &e.detail,
    ] {
        // Length-prefixed, so no two different entries hash alike.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry to the chain (and waits until it is stored).
pub async fn record(state: &AppState, e: Entry) -> Result<()> {
    state.audit.append(e).await
}

/// Most entries one append transaction stores.
const BATCH: usize = 256;

/// An entry to store, and who waits for it; or no entry, only a wait for
/// everything queued before (a flush).
type Pending = (Option<Entry>, Option<tokio::sync::oneshot::Sender<Result<()>>>);

/// The operation log's writer: appends arrive on a channel and are stored
/// in batches, each batch one transaction that locks the head row, links
/// its entries to the stored head and moves the head. The head lives only
/// in the database, so any number of replicas append to one chain; the
/// lock is held for the few statements of one batch. Entries are stored in
/// the order they were queued.
#[derive(Debug, Clone)]
pub struct Appender {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

impl Appender {
    /// Starts the writer on `db`.
    pub fn start(db: DatabaseConnection) -> Appender {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let entries: Vec<&Entry> = batch.iter().filter_map(|(e, _)| e.as_ref()).collect();
                let stored = if entries.is_empty() { Ok(()) } else { append_batch(&db, &entries).await };
                if let Err(e) = &stored {
                    // Nobody may be waiting for these entries: losing them
                    // must be loud.
                    tracing::error!(target: "govchain::api", "operation log append failed: {e}");
                }
                for (_, reply) in batch.drain(..) {
                    if let Some(reply) = reply {
                        let _ = reply.send(match &stored {
                            Ok(()) => Ok(()),
                            Err(e) => Err(ApiError::internal("appending to the operation log", e)),
                        });
                    }
                }
            }
        });
        Appender { tx }
    }

    /// Appends an entry and waits until it is stored.
    pub async fn append(&self, e: Entry) -> Result<()> {
        self.wait(Some(e)).await
    }

    /// Queues an entry without waiting for its transaction (it waits only
    /// while the queue is full). The action it records is already
    /// committed, so waiting would not narrow the window in which a crash
    /// loses the entry; it would only hold the response. Reads of the log
    /// [`flush`](Self::flush) first, so a caller sees its own actions.
    pub async fn submit(&self, e: Entry) -> Result<()> {
        self.tx
            .send((Some(e), None))
            .await
            .map_err(|_| ApiError::internal("appending to the operation log", "the writer stopped"))
    }

    /// Waits until every entry queued before is stored.
    pub async fn flush(&self) -> Result<()> {
        self.wait(None).await
    }

    async fn wait(&self, entry: Option<Entry>) -> Result<()> {
        let (reply, stored) = tokio::sync::oneshot::channel();
        self.tx
            .send((entry, Some(reply)))
            .await
            .map_err(|_| ApiError::internal("appending to the operation log", "the writer stopped"))?;
        stored
            .await
            .map_err(|_| ApiError::internal("appending to the operation log", "the writer stopped"))?
    }
}

async fn append_batch(db: &DatabaseConnection, entries: &[&Entry]) -> std::result::Result<(), DbErr> {
    let txn = db.begin().await?;
    // The first statement writes the head row: PostgreSQL locks the row
    // until commit (another replica's append waits here), SQLite takes the
    // database's write lock. Only then is the head read.
    let n = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    oplog_head::Entity::update_many()
        .col_expr(oplog_head::Column::Seq, Expr::col(oplog_head::Column::Seq).add(n))
        .filter(oplog_head::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    let head = oplog_head::Entity::find_by_id(1)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the operation log head".into()))?;
    let mut prev = head.hash;
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let at = now_ms();
        // The stored name is at most 128 characters; the hash covers what is stored.
        let e = Entry { actor: e.actor.chars().take(128).collect(), ..(*e).clone() };
        let hash = entry_hash(&prev, at, &e);
        rows.push(oplog::ActiveModel {
            at: Set(at),
            actor_id: Set(e.actor_id),
            actor: Set(e.actor.clone()),
            org_id: Set(e.org_id),
            action: Set(e.action.clone()),
            target: Set(e.target.clone()),
            result: Set(e.result.clone()),
            detail: Set(e.detail.clone()),
            prev_hash: Set(std::mem::replace(&mut prev, hash.clone())),
            hash: Set(hash),
            ..Default::default()
        });
    }
    oplog::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    oplog_head::Entity::update_many()
        .col_expr(oplog_head::Column::Hash, Expr::value(prev))
        .filter(oplog_head::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// Middleware: logs every state-changing request after it ran.
pub async fn log_mutations(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let slot = ActorSlot::default();
    req.extensions_mut().insert(slot.clone());
    let template = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let action = format!("{} {}", req.method(), template.trim_start_matches("/api/v1"));
    let target = req.uri().path().trim_start_matches("/api/v1/").to_owned();
    let resp = next.run(req).await;
    let result = if resp.status().is_success() {
        "ok".to_owned()
    } else {
        resp.extensions()
            .get::<Outcome>()
            .map(|o| o.0.to_owned())
            .unwrap_or_else(|| resp.status().to_string())
    };
    let detail = resp.extensions().get::<Detail>().map(|d| d.0.clone()).unwrap_or_default();
    let (actor_id, actor, org_id) =
        slot.0.lock().ok().and_then(|s| s.clone()).unwrap_or((None, "anonymous".into(), None));
    let entry = Entry { actor_id, actor, org_id, action, target, result, detail };
    if let Err(e) = state.audit.submit(entry).await {
        // The action already happened; losing its record must be loud.
        tracing::error!(target: "govchain::api", "operation log append failed: {e}");
    }
    resp
}

/// An operation log entry as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OplogEntry {
    /// Sequence number.
    pub id: i64,
    /// When, ms since 1970.
    pub at: i64,
    /// Acting user id.
    pub actor_id: Option<i64>,
    /// Acting user name.
    pub actor: String,
    /// Acting user's organization.
    pub org_id: Option<i64>,
    /// Method and route.
    pub action: String,
    /// The concrete path.
    pub target: String,
    /// `ok` or an error code.
    pub result: String,
    /// More.
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl From<oplog::Model> for OplogEntry {
    fn from(m: oplog::Model) -> OplogEntry {
        OplogEntry {
            id: m.id,
            at: m.at,
            actor_id: m.actor_id,
            actor: m.actor,
            org_id: m.org_id,
            action: m.action,
            target: m.target,
            result: m.result,
            detail: m.detail,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Result of checking the hash chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    /// Whether every entry's hash is right and links to its predecessor.
    pub ok: bool,
    /// Entries checked.
    pub checked: u64,
    /// The first entry that does not verify.
    pub first_bad_id: Option<i64>,
}

/// Checks the whole chain of hashes.
pub async fn verify_chain(db: &impl ConnectionTrait) -> Result<VerifyReport> {
    let mut prev = GENESIS.to_owned();
    let mut checked = 0;
    let mut after = i64::MIN;
    loop {
        let page = oplog::Entity::find()
            .filter(oplog::Column::Id.gt(after))
            .order_by_asc(oplog::Column::Id)
            .limit(1000)
            .all(db)
            .await?;
        if page.is_empty() {
            return Ok(VerifyReport { ok: true, checked, first_bad_id: None });
        }
        for m in page {
            after = m.id;
            let e = Entry {
                actor_id: m.actor_id,
                actor: m.actor.clone(),
                org_id: m.org_id,
                action: m.action.clone(),
                target: m.target.clone(),
                result: m.result.clone(),
                detail: m.detail.clone(),
            };
            if m.prev_hash != prev || entry_hash(&prev, m.at, &e) != m.hash {
                return Ok(VerifyReport { ok: false, checked, first_bad_id: Some(m.id) });
            }
            checked += 1;
            prev = m.hash;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field() {
        let e = Entry {
            actor_id: Some(1),
            actor: "a".into(),
            org_id: Some(2),
            action: "POST /x".into(),
            target: "x".into(),
            result: "ok".into(),
            detail: String::new(),
        };
        let base = entry_hash(GENESIS, 5, &e);
        let mut other = e.clone();
        other.result = "forbidden".into();
        assert_ne!(base, entry_hash(GENESIS, 5, &other));
        assert_ne!(base, entry_hash(GENESIS, 6, &e));
        let mut split = e.clone();
        split.actor = "aP".into();
        split.action = "OST /x".into();
        assert_ne!(base, entry_hash(GENESIS, 5, &split));
    }
}
