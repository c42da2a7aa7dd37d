//! The durable Raft log: entries, vote, committed and last purged log ids in
//! a fjall database of their own (not the ledger's: the log is rewritten and
//! purged, the ledger only grows).
//!
//! Entries are written to fjall's journal as soon as they are appended, so
//! they can be read back (and replicated) at once; the append is
//! acknowledged to openraft only after a flusher thread has fsynced the
//! journal. Appends that arrive while a fsync runs share the next one, so a
//! busy leader pays one fsync per group of appends, not per append. Votes and
//! truncations are fsynced before the call returns.

// openraft's storage traits fix the error type; it is large but rare.
#![allow(clippy::result_large_err)]

use std::{
    fmt::Debug,
    ops::{Bound, RangeBounds},
    path::Path,
    sync::{Arc, Mutex, PoisonError, mpsc},
};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::{
    AnyError, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
    storage::{LogFlushed, RaftLogStorage},
};
use tracing::{debug, error};

use crate::{
    Error, LogId, NodeId, Result, TARGET,
    types::{Entry, TypeConfig},
};

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";

/// The Raft log store. Cheap to clone: clones share the database and serve
/// as openraft's log readers.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

struct Inner {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
    /// Hands acknowledgements to the flusher thread, in append order.
    flush: Mutex<mpsc::Sender<LogFlushed<TypeConfig>>>,
}

impl LogStore {
    /// Opens (creating if needed) the log store in `dir`.
    pub fn open(dir: &Path) -> Result<LogStore> {
        let db = Database::builder(dir).open().map_err(log_err)?;
        let log = db.keyspace("log", KeyspaceCreateOptions::default).map_err(log_err)?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default).map_err(log_err)?;
        let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
        let flusher_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher(&flusher_db, &rx))
            .map_err(|e| Error::LogStore(format!("cannot start the flusher thread: {e}")))?;
        Ok(LogStore { inner: Arc::new(Inner { db, log, meta, flush: Mutex::new(tx) }) })
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError<NodeId>> {
        let Some(bytes) = self.inner.meta.get(key).map_err(|e| StorageIOError::read(&e))? else {
            return Ok(None);
        };
        postcard::from_bytes(&bytes).map(Some).map_err(|e| StorageIOError::read(&e).into())
    }

    fn last_purged(&self) -> Result<Option<LogId>, StorageError<NodeId>> {
        self.get_meta(PURGED)
    }

    fn read_range(&self, start: u64, end: Bound<u64>) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let lo = start.to_be_bytes();
        let iter = match end {
            Bound::Excluded(e) if e <= start => return Ok(Vec::new()),
            Bound::Excluded(e) => self.inner.log.range(lo..e.to_be_bytes()),
            Bound::Included(e) if e < start => return Ok(Vec::new()),
            Bound::Included(e) => self.inner.log.range(lo..=e.to_be_bytes()),
            Bound::Unbounded => self.inner.log.range(lo..),
        };
        let mut entries = Vec::new();
        for guard in iter {
            let (_, value) = guard.into_inner().map_err(|e| StorageIOError::read_logs(&e))?;
            let entry: Entry = postcard::from_bytes(&value).map_err(|e| StorageIOError::read_logs(&e))?;
            entries.push(entry);
        }
        Ok(entries)
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError<NodeId>> {
        let Some(guard) = self.inner.log.last_key_value() else {
            return Ok(None);
        };
        let (_, value) = guard.into_inner().map_err(|e| StorageIOError::read_logs(&e))?;
        let entry: Entry = postcard::from_bytes(&value).map_err(|e| StorageIOError::read_logs(&e))?;
        Ok(Some(entry.log_id))
    }

    /// Keys of the entries at `range`, oldest first.
    fn keys_in(&self, range: impl RangeBounds<[u8; 8]>) -> Result<Vec<fjall::UserKey>, StorageError<NodeId>> {
        self.inner
            .log
            .range(range)
            .map(|g| g.key().map_err(|e| StorageIOError::read_logs(&e).into()))
            .collect()
    }
}

/// Acknowledges appends once the journal holding them is on disk.
fn flusher(db: &Database, rx: &mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        // Everything queued so far was written before this fsync starts, so
        // one fsync covers it all.
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let result = db.persist(PersistMode::SyncAll);
        if let Err(e) = &result {
            error!(target: TARGET, error = %e, "fsync of the raft log failed");
        }
        for cb in waiting {
            cb.log_io_completed(
                result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())),
            );
        }
    }
    debug!(target: TARGET, "raft log flusher stopped");
}

fn log_err(e: impl std::fmt::Display) -> Error {
    Error::LogStore(e.to_string())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StorageError<NodeId>> {
    postcard::to_stdvec(value).map_err(|e| StorageIOError::write(&e).into())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        self.read_range(start, range.end_bound().cloned())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut batch = self.inner.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.inner.meta, VOTE, encode(vote)?);
        batch.commit().map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<NodeId>> {
        // Not fsynced: a lost value only means re-applying from the state
        // machine's own applied id, which the state machine skips.
        let mut batch = self.inner.db.batch();
        batch.insert(&self.inner.meta, COMMITTED, encode(&committed)?);
        batch.commit().map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = self.inner.db.batch();
        for entry in entries {
            batch.insert(&self.inner.log, entry.log_id.index.to_be_bytes(), encode(&entry)?);
        }
        batch.commit().map_err(|e| StorageIOError::write_logs(&e))?;
        self.inner.flush.lock().unwrap_or_else(PoisonError::into_inner).send(callback).map_err(|_| {
            StorageIOError::write_logs(AnyError::error("the raft log flusher has stopped")).into()
        })
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let keys = self.keys_in(log_id.index.to_be_bytes()..)?;
        let mut batch = self.inner.db.batch().durability(Some(PersistMode::SyncAll));
        for key in keys {
            batch.remove(&self.inner.log, key);
        }
        batch.commit().map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let keys = self.keys_in(..=log_id.index.to_be_bytes())?;
        // The purged id and the removals land together, so the log never
        // claims entries it no longer has.
        let mut batch = self.inner.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.inner.meta, PURGED, encode(&log_id)?);
        for key in keys {
            batch.remove(&self.inner.log, key);
        }
        batch.commit().map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
