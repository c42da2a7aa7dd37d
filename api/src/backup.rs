//! Backups of the platform database (SPEC OPS-5): full and incremental, a
//! plain export beside each, and a restore that brings them back.
//!
//! A backup is a logical one, read through the database's own driver, so
//! SQLite and PostgreSQL take the same path and no external dump tool is
//! needed. Every table (as the database lists it, so a table a later
//! migration adds is covered without a change here) is read in one
//! read-only snapshot transaction.
//!
//! Layout of a backup directory `<dir>/<id>/`:
//! - `manifest.json`: time, kind, base and parent (incrementals), the
//!   migrations applied, every table with its row count and changes, and
//!   every file with its size and SHA-256;
//! - `data/<table>.json`: `{columns, key, upserts, deletes}`: in a full
//!   backup every row, in an incremental the rows added or changed since
//!   its parent and the keys of the rows deleted since;
//! - `state.json`: the SHA-256 of every row by its primary key, what the
//!   next incremental compares against;
//! - `export/<table>.json`: the whole table as a JSON array of objects,
//!   readable without govchain.
//!
//! A backup is written under a hidden name, read back and checked against
//! its manifest, and only then renamed into place. A restore checks every
//! file of the chain (full, then each incremental by `seq`, each naming its
//! parent) before it touches the target, and writes in one transaction.
//!
//! Not here: copying backups off the machine (point `--backup-dir` at a
//! mounted remote volume), encryption at rest of the files.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection,
    sqlx::{self, Column, Row, TypeInfo, ValueRef},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{AppState, audit, now_ms};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be read or written.
    #[error("database: {0}")]
    Database(String),
    /// A file or directory could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        message: String,
    },
    /// A backup does not match its manifest, or its chain has a gap.
    #[error("{0}")]
    Corrupt(String),
    /// The restore target is refused (not empty, a newer schema).
    #[error("{0}")]
    Refused(String),
    /// No such backup, or nothing an incremental could build on.
    #[error("{0}")]
    NotFound(String),
}

/// This module's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::Database(e.to_string())
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_owned(), message: e.to_string() }
}

/// The version of the layout this code writes and reads.
pub const FORMAT: u32 = 1;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every row.
    Full,
    /// The rows changed and deleted since the previous backup of the chain.
    Incremental,
}

impl Kind {
    /// Parses `full` or `incremental`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "full" => Some(Kind::Full),
            "incremental" => Some(Kind::Incremental),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Incremental => "incremental",
        }
    }
}

/// A table in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TableEntry {
    /// The table's name.
    pub name: String,
    /// Its rows at the time of the backup (what a restore to this backup gives).
    pub rows: u64,
    /// Rows written in this backup: all of them in a full backup, those
    /// added or changed since the parent in an incremental.
    pub upserts: u64,
    /// Rows deleted since the parent (incrementals).
    pub deletes: u64,
}

/// A file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    /// Its path inside the backup's directory.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of its content.
    pub sha256: String,
}

/// What a backup holds (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    /// The layout's version (1).
    pub format: u32,
    /// The backup's id: its directory's name, `<UTC time>-<kind>`.
    pub id: String,
    /// Full or incremental.
    pub kind: Kind,
    /// When it was taken, milliseconds since 1970.
    pub created_at: i64,
    /// The full backup an incremental builds on (None for a full one).
    pub base: Option<String>,
    /// The backup right before this incremental in its chain.
    pub parent: Option<String>,
    /// Its place in the chain: 0 for the full backup, then 1, 2, ...
    pub seq: u32,
    /// `sqlite` or `postgres`: the database it was read from.
    pub backend: String,
    /// The schema migrations applied to that database.
    pub migrations: Vec<String>,
    /// Every table.
    pub tables: Vec<TableEntry>,
    /// Every file but the manifest.
    pub files: Vec<FileEntry>,
    /// Bytes of all files.
    pub bytes: u64,
    /// How long taking it took, milliseconds.
    pub duration_ms: u64,
}

/// When the running platform takes backups, and where.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The directory backups are written to.
    pub dir: PathBuf,
    /// A full backup this often (a day).
    pub full_every: Duration,
    /// An incremental backup this often between full ones (an hour).
    pub incremental_every: Duration,
    /// Full backups kept, each with its incrementals (7); older chains are
    /// removed after a new full backup.
    pub keep: usize,
}

impl Schedule {
    /// The defaults: full daily, incremental hourly, a week kept.
    pub fn new(dir: impl Into<PathBuf>) -> Schedule {
        Schedule {
            dir: dir.into(),
            full_every: Duration::from_secs(24 * 3600),
            incremental_every: Duration::from_secs(3600),
            keep: 7,
        }
    }
}

// --- Reading the database --------------------------------------------------

/// One table as read.
#[derive(Debug, Clone)]
struct TableDump {
    name: String,
    columns: Vec<String>,
    key: Vec<String>,
    deps: BTreeSet<String>,
    rows: Vec<Map<String, Value>>,
}

/// Every table, read in one transaction.
#[derive(Debug, Clone)]
struct Snapshot {
    backend: &'static str,
    migrations: Vec<String>,
    tables: Vec<TableDump>,
}

/// sea-orm's table of applied migrations: recorded in the manifest, not
/// restored as data (the target's own migrations fill it).
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Tables a fresh database already has rows in (the migration that makes
/// them inserts them); a restore replaces their rows.
const SEEDED: [&str; 1] = ["oplog_head"];

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn snapshot(db: &DatabaseConnection) -> Result<Snapshot> {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => snapshot_sqlite(db.get_sqlite_connection_pool()).await,
        DatabaseBackend::Postgres => snapshot_pg(db.get_postgres_connection_pool()).await,
        other => Err(Error::Database(format!("{other:?} is not supported"))),
    }
}

async fn snapshot_sqlite(pool: &sqlx::SqlitePool) -> Result<Snapshot> {
    let mut tx = pool.begin().await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut migrations = Vec::new();
    let mut tables = Vec::new();
    for name in names {
        if name == MIGRATIONS_TABLE {
            migrations =
                sqlx::query_scalar(&format!("SELECT version FROM {} ORDER BY version", quote(&name)))
                    .fetch_all(&mut *tx)
                    .await?;
            continue;
        }
        let cols: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid")
                .bind(&name)
                .fetch_all(&mut *tx)
                .await?;
        let mut key: Vec<(i64, String)> =
            cols.iter().filter(|c| c.1 > 0).map(|c| (c.1, c.0.clone())).collect();
        key.sort();
        let key: Vec<String> = key.into_iter().map(|k| k.1).collect();
        let columns: Vec<String> = cols.into_iter().map(|c| c.0).collect();
        let deps: Vec<String> = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list(?)")
            .bind(&name)
            .fetch_all(&mut *tx)
            .await?;
        let mut rows = Vec::new();
        for row in sqlx::query(&select_all(&name, &columns, &key)).fetch_all(&mut *tx).await? {
            rows.push(sqlite_row(&name, &row)?);
        }
        tables.push(TableDump { name, columns, key, deps: deps.into_iter().collect(), rows });
    }
    tx.rollback().await?;
    Ok(Snapshot { backend: "sqlite", migrations, tables: dependency_order(tables) })
}

fn quote_list(names: &[String]) -> String {
    names.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
}

/// Every row of a table in key order (all columns when it has no key).
fn select_all(table: &str, columns: &[String], key: &[String]) -> String {
    let order = if key.is_empty() { columns } else { key };
    format!("SELECT {} FROM {} ORDER BY {}", quote_list(columns), quote(table), quote_list(order))
}

fn sqlite_row(table: &str, row: &sqlx::sqlite::SqliteRow) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let declared_bool = col.type_info().name().eq_ignore_ascii_case("BOOLEAN");
        let raw = row.try_get_raw(i)?;
        let v = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" if declared_bool => Value::Bool(row.try_get_unchecked::<i64, _>(i)? != 0),
                "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i)?),
                "REAL" => Value::from(row.try_get_unchecked::<f64, _>(i)?),
                "TEXT" => Value::from(row.try_get_unchecked::<String, _>(i)?),
                other => {
                    return Err(Error::Database(format!(
                        "{table}.{}: values of type {other} are not supported in backups",
                        col.name()
                    )));
                }
            }
        };
        out.insert(col.name().to_owned(), v);
    }
    Ok(out)
}

async fn snapshot_pg(pool: &sqlx::PgPool) -> Result<Snapshot> {
    let mut tx = pool.begin().await?;
    // One consistent view of every table while the platform keeps writing.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut migrations = Vec::new();
    let mut tables = Vec::new();
    for name in names {
        if name == MIGRATIONS_TABLE {
            migrations =
                sqlx::query_scalar(&format!("SELECT version::text FROM {} ORDER BY version", quote(&name)))
                    .fetch_all(&mut *tx)
                    .await?;
            continue;
        }
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT kcu.column_name::text FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
               AND tc.table_schema = kcu.table_schema AND tc.table_name = kcu.table_name \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
               AND tc.table_name = $1 ORDER BY kcu.ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let deps: Vec<String> = sqlx::query_scalar(
            "SELECT ccu.table_name::text FROM information_schema.table_constraints tc \
             JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name \
               AND tc.table_schema = ccu.table_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() AND tc.table_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = Vec::new();
        for row in sqlx::query(&select_all(&name, &columns, &key)).fetch_all(&mut *tx).await? {
            rows.push(pg_row(&name, &row)?);
        }
        tables.push(TableDump { name, columns, key, deps: deps.into_iter().collect(), rows });
    }
    tx.rollback().await?;
    Ok(Snapshot { backend: "postgres", migrations, tables: dependency_order(tables) })
}

fn pg_row(table: &str, row: &sqlx::postgres::PgRow) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let v = match col.type_info().name() {
            "INT8" => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
            "INT4" => row.try_get::<Option<i32>, _>(i)?.map(Value::from),
            "INT2" => row.try_get::<Option<i16>, _>(i)?.map(Value::from),
            "BOOL" => row.try_get::<Option<bool>, _>(i)?.map(Value::from),
            "FLOAT8" => row.try_get::<Option<f64>, _>(i)?.map(Value::from),
            "FLOAT4" => row.try_get::<Option<f32>, _>(i)?.map(|v| Value::from(f64::from(v))),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => row.try_get::<Option<String>, _>(i)?.map(Value::from),
            other => {
                return Err(Error::Database(format!(
                    "{table}.{}: values of type {other} are not supported in backups",
                    col.name()
                )));
            }
        };
        out.insert(col.name().to_owned(), v.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// Tables ordered so that every table comes after those its foreign keys
/// point to (a restore inserts in this order); ties by name.
fn dependency_order(tables: Vec<TableDump>) -> Vec<TableDump> {
    let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    let mut left: BTreeMap<String, TableDump> = tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| t.deps.iter().all(|d| d == &t.name || done.contains(d) || !names.contains(d)))
            .map(|t| t.name.clone())
            .collect();
        // A cycle of foreign keys: take the rest by name.
        let ready = if ready.is_empty() { left.keys().cloned().collect() } else { ready };
        for name in ready {
            if let Some(t) = left.remove(&name) {
                done.insert(name);
                out.push(t);
            }
        }
    }
    out
}

fn row_key(key: &[String], row: &Map<String, Value>) -> String {
    if key.is_empty() {
        // No primary key: the row is its own key.
        return format!("#{}", row_hash(row));
    }
    Value::Array(key.iter().map(|k| row.get(k).cloned().unwrap_or(Value::Null)).collect()).to_string()
}

fn row_hash(row: &Map<String, Value>) -> String {
    hex::encode(Sha256::digest(Value::Object(row.clone()).to_string().as_bytes()))
}

// --- Files ------------------------------------------------------------------

/// A table's file in a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DataFile {
    table: String,
    columns: Vec<String>,
    key: Vec<String>,
    upserts: Vec<Map<String, Value>>,
    /// Keys (as in `state.json`) of the rows deleted since the parent.
    deletes: Vec<String>,
}

/// Row hashes by key, by table.
type State = BTreeMap<String, BTreeMap<String, String>>;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A table name as a file name: names from the database are checked, so a
/// strange one cannot leave the backup's directory.
fn table_file(dir: &str, table: &str) -> Result<String> {
    if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Database(format!("table name {table:?} cannot be a file name")));
    }
    Ok(format!("{dir}/{table}.json"))
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let m: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?;
    if m.format != FORMAT {
        return Err(Error::Corrupt(format!("{}: format {} is not {FORMAT}", path.display(), m.format)));
    }
    if dir.file_name().and_then(|n| n.to_str()) != Some(m.id.as_str()) {
        return Err(Error::Corrupt(format!(
            "{}: its id {} is not its directory's name",
            path.display(),
            m.id
        )));
    }
    Ok(m)
}

/// Checks every file of a backup against its manifest.
fn verify_files(dir: &Path, m: &Manifest) -> Result<()> {
    for f in &m.files {
        if f.path.contains("..") || f.path.starts_with('/') {
            return Err(Error::Corrupt(format!("backup {}: file path {:?} is refused", m.id, f.path)));
        }
        let path = dir.join(&f.path);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Corrupt(format!("backup {}: {} cannot be read: {e}", m.id, path.display()))
        })?;
        if bytes.len() as u64 != f.bytes || sha256_hex(&bytes) != f.sha256 {
            return Err(Error::Corrupt(format!(
                "backup {}: {} does not match its manifest (SHA-256 or size differs): the backup was changed or damaged",
                m.id, f.path
            )));
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, rel: &str) -> Result<T> {
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))
}

/// Every backup in `dir` whose manifest reads, oldest first. Directories
/// being written (hidden) and others are skipped.
pub fn list(dir: &Path) -> Result<Vec<Manifest>> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().join("manifest.json").is_file() {
            continue;
        }
        match read_manifest(&e.path()) {
            Ok(m) => out.push(m),
            Err(err) => tracing::warn!(target: "govchain::api", "backup {name} skipped: {err}"),
        }
    }
    out.sort_by(|a, b| (a.created_at, a.seq, &a.id).cmp(&(b.created_at, b.seq, &b.id)));
    Ok(out)
}

/// `20261205T014519.123Z`.
fn utc_stamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}{:02}{:02}.{:03}Z",
        govchain_logstore::format_day(days).replace('-', ""),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Opens a platform database to back it up, without migrating it (a
/// stopped platform's database stays as its version left it).
pub async fn open(url: &str) -> Result<DatabaseConnection> {
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(2).connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_secs(10)));
    }
    sea_orm::Database::connect(opts).await.map_err(|e| Error::Database(format!("{url}: {e}")))
}

// --- Taking a backup --------------------------------------------------------

/// Only one backup at a time in this process: incrementals form a line.
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes a backup of `db` into `dir` (made if missing): a full one, or an
/// incremental on the newest backup there. Written, read back and checked,
/// then put in place.
pub async fn take(db: &DatabaseConnection, dir: &Path, kind: Kind) -> Result<Manifest> {
    let _one = RUNNING.lock().await;
    let started = std::time::Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    // What an incremental builds on: the newest backup, with its state.
    let parent = match kind {
        Kind::Full => None,
        Kind::Incremental => {
            let newest = list(dir)?.pop().ok_or_else(|| {
                Error::NotFound(format!(
                    "{} holds no backup an incremental could build on: take a full backup first",
                    dir.display()
                ))
            })?;
            let pdir = dir.join(&newest.id);
            verify_files(&pdir, &newest)?;
            let state: State = read_json(&pdir, "state.json")?;
            Some((newest, state))
        }
    };
    let snap = snapshot(db).await?;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || write(&dir, kind, parent, snap, started))
        .await
        .map_err(|e| Error::Database(format!("the backup task failed: {e}")))?
}

fn write(
    dir: &Path,
    kind: Kind,
    parent: Option<(Manifest, State)>,
    snap: Snapshot,
    started: std::time::Instant,
) -> Result<Manifest> {
    let mut created_at = now_ms();
    let mut id = format!("{}-{}", utc_stamp(created_at), kind.name());
    while dir.join(&id).exists() {
        created_at += 1;
        id = format!("{}-{}", utc_stamp(created_at), kind.name());
    }
    let tmp = dir.join(format!(".{id}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    for sub in ["data", "export"] {
        std::fs::create_dir_all(tmp.join(sub)).map_err(|e| io(&tmp, e))?;
    }
    let mut files = Vec::new();
    let mut put = |rel: String, bytes: Vec<u8>| -> Result<()> {
        let path = tmp.join(&rel);
        std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
        files.push(FileEntry { path: rel, bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) });
        Ok(())
    };
    let empty = BTreeMap::new();
    let mut state = State::new();
    let mut tables = Vec::new();
    for t in &snap.tables {
        let hashes: BTreeMap<String, String> =
            t.rows.iter().map(|r| (row_key(&t.key, r), row_hash(r))).collect();
        let before = parent.as_ref().map(|(_, s)| s.get(&t.name).unwrap_or(&empty));
        let (upserts, deletes): (Vec<Map<String, Value>>, Vec<String>) = match before {
            None => (t.rows.clone(), Vec::new()),
            Some(before) => (
                t.rows
                    .iter()
                    .filter(|r| before.get(&row_key(&t.key, r)) != Some(&row_hash(r)))
                    .cloned()
                    .collect(),
                before.keys().filter(|k| !hashes.contains_key(*k)).cloned().collect(),
            ),
        };
        tables.push(TableEntry {
            name: t.name.clone(),
            rows: t.rows.len() as u64,
            upserts: upserts.len() as u64,
            deletes: deletes.len() as u64,
        });
        let data = DataFile {
            table: t.name.clone(),
            columns: t.columns.clone(),
            key: t.key.clone(),
            upserts,
            deletes,
        };
        put(table_file("data", &t.name)?, json(&data))?;
        put(table_file("export", &t.name)?, json(&t.rows))?;
        state.insert(t.name.clone(), hashes);
    }
    put("state.json".into(), json(&state))?;
    let (base, parent_id, seq) = match &parent {
        None => (None, None, 0),
        Some((p, _)) => (
            Some(p.base.clone().unwrap_or_else(|| p.id.clone())),
            Some(p.id.clone()),
            p.seq.saturating_add(1),
        ),
    };
    let mut m = Manifest {
        format: FORMAT,
        id: id.clone(),
        kind,
        created_at,
        base,
        parent: parent_id,
        seq,
        backend: snap.backend.into(),
        migrations: snap.migrations,
        tables,
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        duration_ms: 0,
    };
    m.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let path = tmp.join("manifest.json");
    std::fs::write(&path, json(&m)).map_err(|e| io(&path, e))?;
    // Read back what was written before it counts as a backup.
    let check = (|| {
        let back = read_manifest_at(&tmp, &id)?;
        verify_files(&tmp, &back)?;
        for t in &back.tables {
            let d: DataFile = read_json(&tmp, &table_file("data", &t.name)?)?;
            let e: Vec<Value> = read_json(&tmp, &table_file("export", &t.name)?)?;
            if d.upserts.len() as u64 != t.upserts
                || d.deletes.len() as u64 != t.deletes
                || e.len() as u64 != t.rows
            {
                return Err(Error::Corrupt(format!("backup {id}: table {} reads back differently", t.name)));
            }
        }
        Ok(())
    })();
    if let Err(e) = check {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let fin = dir.join(&id);
    std::fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
    Ok(m)
}

/// The manifest in a directory not (yet) named by its id.
fn read_manifest_at(dir: &Path, id: &str) -> Result<Manifest> {
    let m: Manifest = read_json(dir, "manifest.json")?;
    if m.id != id {
        return Err(Error::Corrupt(format!("backup {id}: the manifest reads back as {}", m.id)));
    }
    Ok(m)
}

/// Pretty JSON of a backup's structures.
fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Maps with string keys and plain values: serializing cannot fail.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

/// Removes the oldest chains (a full backup and its incrementals) beyond
/// the newest `keep` full backups; returns the ids removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<String>> {
    let all = list(dir)?;
    let fulls: Vec<&Manifest> = all.iter().filter(|m| m.kind == Kind::Full).collect();
    if fulls.len() <= keep.max(1) {
        return Ok(Vec::new());
    }
    let old: BTreeSet<&str> = fulls[..fulls.len() - keep.max(1)].iter().map(|m| m.id.as_str()).collect();
    let mut removed = Vec::new();
    for m in &all {
        let chain = m.base.as_deref().unwrap_or(&m.id);
        if old.contains(chain) {
            let path = dir.join(&m.id);
            std::fs::remove_dir_all(&path).map_err(|e| io(&path, e))?;
            removed.push(m.id.clone());
        }
    }
    Ok(removed)
}

// --- Restoring ---------------------------------------------------------------

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The backups applied, the full one first.
    pub chain: Vec<String>,
    /// Tables written.
    pub tables: usize,
    /// Rows written.
    pub rows: u64,
}

/// The chain that restores to `to` (the newest backup in `from` when
/// None): the full backup, then each incremental in order, every file
/// checked against its manifest. `from` is a directory of backups, or one
/// backup's own directory (then its siblings hold the rest of its chain).
pub fn plan(from: &Path, to: Option<&str>) -> Result<(PathBuf, Vec<Manifest>)> {
    let (dir, to) = if from.join("manifest.json").is_file() {
        let m = read_manifest(from)?;
        let parent = from.parent().map(Path::to_owned).unwrap_or_default();
        (parent, Some(to.map_or(m.id, str::to_owned)))
    } else {
        (from.to_owned(), to.map(str::to_owned))
    };
    if !dir.is_dir() {
        return Err(Error::NotFound(format!("{} is not a directory of backups", dir.display())));
    }
    let all = list(&dir)?;
    let by_id: BTreeMap<&str, &Manifest> = all.iter().map(|m| (m.id.as_str(), m)).collect();
    let target = match &to {
        Some(id) => *by_id
            .get(id.as_str())
            .ok_or_else(|| Error::NotFound(format!("{} holds no backup {id}", dir.display())))?,
        None => all.last().ok_or_else(|| Error::NotFound(format!("{} holds no backup", dir.display())))?,
    };
    let mut chain = vec![target.clone()];
    while let Some(parent) = chain.last().and_then(|m| m.parent.clone()) {
        let child = chain.last().map(|m| (m.id.clone(), m.seq, m.base.clone())).unwrap_or_default();
        let p = by_id.get(parent.as_str()).ok_or_else(|| {
            Error::Corrupt(format!(
                "the chain has a gap: incremental {} builds on {parent}, which is not in {}",
                child.0,
                dir.display()
            ))
        })?;
        let base_of_p = p.base.clone().unwrap_or_else(|| p.id.clone());
        if p.seq.saturating_add(1) != child.1 || Some(&base_of_p) != child.2.as_ref() {
            return Err(Error::Corrupt(format!(
                "the chain has a gap: incremental {} (number {}) does not follow {} (number {})",
                child.0, child.1, p.id, p.seq
            )));
        }
        chain.push((*p).clone());
        if chain.len() > 100_000 {
            return Err(Error::Corrupt("the chain of incrementals loops".into()));
        }
    }
    chain.reverse();
    match chain.first() {
        Some(f) if f.kind == Kind::Full && f.seq == 0 => {}
        _ => return Err(Error::Corrupt("the chain does not start with a full backup".into())),
    }
    for m in &chain {
        verify_files(&dir.join(&m.id), m)?;
    }
    Ok((dir, chain))
}

/// Rows by key (as in `state.json`).
type Rows = BTreeMap<String, Map<String, Value>>;

/// A table to restore: its name, the columns written, its rows.
type Restoring = (String, Vec<String>, Rows);

/// The tables the chain restores to: rows by key, in the full backup's
/// table order (new tables of incrementals after).
fn replay(dir: &Path, chain: &[Manifest]) -> Result<Vec<Restoring>> {
    let mut order: Vec<String> = Vec::new();
    let mut tables: BTreeMap<String, (Vec<String>, Rows)> = BTreeMap::new();
    for m in chain {
        let bdir = dir.join(&m.id);
        for t in &m.tables {
            let d: DataFile = read_json(&bdir, &table_file("data", &t.name)?)?;
            let entry = tables.entry(t.name.clone()).or_insert_with(|| {
                order.push(t.name.clone());
                (Vec::new(), BTreeMap::new())
            });
            entry.0.clone_from(&d.columns);
            if m.kind == Kind::Full {
                entry.1.clear();
            }
            for k in &d.deletes {
                entry.1.remove(k);
            }
            for r in d.upserts {
                entry.1.insert(row_key(&d.key, &r), r);
            }
            if entry.1.len() as u64 != t.rows {
                return Err(Error::Corrupt(format!(
                    "backup {}: table {} restores to {} rows, its manifest says {}",
                    m.id,
                    t.name,
                    entry.1.len(),
                    t.rows
                )));
            }
        }
        // A table gone from a later backup is gone.
        let now: BTreeSet<&str> = m.tables.iter().map(|t| t.name.as_str()).collect();
        order.retain(|n| now.contains(n.as_str()));
        tables.retain(|n, _| now.contains(n.as_str()));
    }
    Ok(order.into_iter().filter_map(|n| tables.remove(&n).map(|(cols, rows)| (n, cols, rows))).collect())
}

/// Restores the chain to `to` (or the newest backup) from `from` into
/// `db`, whose schema is migrated already. Refuses, changing nothing, a
/// damaged file, a gap in the chain, a backup of a newer schema, and a
/// target that holds data (unless `force`: then its rows are replaced).
pub async fn restore(
    db: &DatabaseConnection,
    from: &Path,
    to: Option<&str>,
    force: bool,
) -> Result<Restored> {
    let (from, to) = (from.to_owned(), to.map(str::to_owned));
    let (chain, tables) = tokio::task::spawn_blocking(move || {
        let (dir, chain) = plan(&from, to.as_deref())?;
        let tables = replay(&dir, &chain)?;
        Ok::<_, Error>((chain, tables))
    })
    .await
    .map_err(|e| Error::Database(format!("the restore task failed: {e}")))??;
    let Some(last) = chain.last() else {
        return Err(Error::NotFound("no backup to restore".into()));
    };
    let target = snapshot(db).await?;
    let known: BTreeSet<&String> = target.migrations.iter().collect();
    if let Some(m) = last.migrations.iter().find(|m| !known.contains(m)) {
        return Err(Error::Refused(format!(
            "backup {} has migration {m}, which this govchain does not know: restore it with the version that took it",
            last.id
        )));
    }
    let held: Vec<String> = target
        .tables
        .iter()
        .filter(|t| !t.rows.is_empty() && !SEEDED.contains(&t.name.as_str()))
        .map(|t| format!("{} ({} rows)", t.name, t.rows.len()))
        .collect();
    if !held.is_empty() && !force {
        return Err(Error::Refused(format!(
            "the target database is not empty: {}; restore into an empty one, or pass --force to replace its data",
            held.join(", ")
        )));
    }
    let target_tables: BTreeMap<&str, &TableDump> =
        target.tables.iter().map(|t| (t.name.as_str(), t)).collect();
    for (name, cols, _) in &tables {
        let t = target_tables
            .get(name.as_str())
            .ok_or_else(|| Error::Refused(format!("the target database has no table {name}")))?;
        if let Some(c) = cols.iter().find(|c| !t.columns.contains(c)) {
            return Err(Error::Refused(format!("the target's table {name} has no column {c}")));
        }
    }
    // Clear children before parents: the target's own order, reversed.
    let clear: Vec<String> = target.tables.iter().rev().map(|t| t.name.clone()).collect();
    let rows: u64 = tables.iter().map(|t| t.2.len() as u64).sum();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => write_sqlite(db.get_sqlite_connection_pool(), &clear, &tables).await?,
        DatabaseBackend::Postgres => write_pg(db.get_postgres_connection_pool(), &clear, &tables).await?,
        other => return Err(Error::Database(format!("{other:?} is not supported"))),
    }
    Ok(Restored { chain: chain.iter().map(|m| m.id.clone()).collect(), tables: tables.len(), rows })
}

type Tables = [Restoring];

/// Binds a row's values, in the order of `cols`, to a query; a NULL as
/// `$null` (the type the database's casts expect).
macro_rules! bind_row {
    ($q:ident, $row:expr, $cols:expr, $table:expr, $null:ty) => {{
        let mut q = $q;
        for c in $cols {
            q = match $row.get(c).unwrap_or(&Value::Null) {
                Value::Null => q.bind(None::<$null>),
                Value::Bool(b) => q.bind(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => q.bind(i),
                    None => q.bind(n.as_f64().unwrap_or(0.0)),
                },
                Value::String(s) => q.bind(s.clone()),
                other => {
                    return Err(Error::Corrupt(format!(
                        "{}.{c}: value {other} is not a column value",
                        $table
                    )));
                }
            };
        }
        q
    }};
}

/// Rows per INSERT statement (PostgreSQL takes at most 65535 parameters).
fn chunk_rows(columns: usize) -> usize {
    (4000 / columns.max(1)).max(1)
}

async fn write_sqlite(pool: &sqlx::SqlitePool, clear: &[String], tables: &Tables) -> Result<()> {
    let mut tx = pool.begin().await?;
    for t in clear {
        if t != MIGRATIONS_TABLE {
            sqlx::query(&format!("DELETE FROM {}", quote(t))).execute(&mut *tx).await?;
        }
    }
    for (name, cols, rows) in tables {
        let rows: Vec<&Map<String, Value>> = rows.values().collect();
        for chunk in rows.chunks(chunk_rows(cols.len())) {
            let one = format!("({})", vec!["?"; cols.len()].join(", "));
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                quote(name),
                cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                vec![one; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = bind_row!(q, r, cols, name, i64);
            }
            q.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn write_pg(pool: &sqlx::PgPool, clear: &[String], tables: &Tables) -> Result<()> {
    let mut tx = pool.begin().await?;
    for t in clear {
        if t != MIGRATIONS_TABLE {
            sqlx::query(&format!("DELETE FROM {}", quote(t))).execute(&mut *tx).await?;
        }
    }
    for (name, cols, rows) in tables {
        let types: BTreeMap<String, String> = sqlx::query_as(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let rows: Vec<&Map<String, Value>> = rows.values().collect();
        for chunk in rows.chunks(chunk_rows(cols.len())) {
            let mut n = 0;
            let mut values = Vec::with_capacity(chunk.len());
            for _ in chunk {
                let one: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        n += 1;
                        // Parameters carry their Rust type; the cast makes a
                        // NULL or a widened integer fit the column.
                        format!("${n}::{}", quote(types.get(c).map_or("text", String::as_str)))
                    })
                    .collect();
                values.push(format!("({})", one.join(", ")));
            }
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                quote(name),
                cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = bind_row!(q, r, cols, name, String);
            }
            q.execute(&mut *tx).await?;
        }
        // Ids the platform hands out next continue after the restored ones.
        for c in cols {
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                .bind(quote(name))
                .bind(c)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(seq) = seq {
                sqlx::query(&format!(
                    "SELECT setval($1::regclass, COALESCE((SELECT MAX({col}) FROM {t}), 0) + 1, false)",
                    col = quote(c),
                    t = quote(name)
                ))
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

// --- The schedule -------------------------------------------------------------

/// Takes a backup for the running platform, after the operation log's
/// queued entries are stored (the log entries of requests already answered
/// belong in it).
pub async fn run_now(state: &AppState, dir: &Path, kind: Kind) -> Result<Manifest> {
    if let Err(e) = state.audit.flush().await {
        tracing::warn!(target: "govchain::api", "operation log before a backup: {e}");
    }
    take(&state.db, dir, kind).await
}

/// Records a scheduled backup in the operation log (a request's backup is
/// recorded by the request's middleware).
async fn record(state: &AppState, kind: Kind, out: &Result<Manifest>) {
    let (target, result, detail) = match out {
        Ok(m) => (
            format!("backups/{}", m.id),
            "ok".to_owned(),
            format!("{} backup {}: {} tables, {} bytes", kind.name(), m.id, m.tables.len(), m.bytes),
        ),
        Err(e) => ("backups".to_owned(), "backup_failed".to_owned(), format!("{} backup: {e}", kind.name())),
    };
    let e = audit::Entry {
        actor_id: None,
        actor: "platform".into(),
        org_id: None,
        action: format!("BACKUP {}", kind.name()),
        target,
        result,
        detail,
    };
    if let Err(e) = state.audit.append(e).await {
        tracing::error!(target: "govchain::api", "operation log of a backup: {e}");
    }
}

/// What the schedule does next, given the backups there and the time.
fn due(s: &Schedule, backups: &[Manifest], now: i64) -> (Option<Kind>, Duration) {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let last_full = backups.iter().filter(|m| m.kind == Kind::Full).map(|m| m.created_at).max();
    let last = backups.iter().map(|m| m.created_at).max();
    let Some(full) = last_full else { return (Some(Kind::Full), Duration::ZERO) };
    if now.saturating_sub(full) >= ms(s.full_every) {
        return (Some(Kind::Full), Duration::ZERO);
    }
    let last = last.unwrap_or(full);
    if now.saturating_sub(last) >= ms(s.incremental_every) {
        return (Some(Kind::Incremental), Duration::ZERO);
    }
    let next = (full.saturating_add(ms(s.full_every))).min(last.saturating_add(ms(s.incremental_every)));
    (None, Duration::from_millis(u64::try_from(next.saturating_sub(now)).unwrap_or(0)))
}

/// The platform's backup loop: a full backup when none is younger than
/// `full_every`, else an incremental when the newest backup is older than
/// `incremental_every`; after a full backup, chains beyond `keep` go.
pub async fn schedule(state: AppState, s: Schedule) {
    loop {
        let backups = match list(&s.dir) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(target: "govchain::api", "backups: {e}");
                Vec::new()
            }
        };
        let (kind, wait) = due(&s, &backups, now_ms());
        if let Some(kind) = kind {
            let out = run_now(&state, &s.dir, kind).await;
            record(&state, kind, &out).await;
            match out {
                Ok(m) => {
                    tracing::info!(target: "govchain::api", "backup {} ({} bytes, {} ms)", m.id, m.bytes, m.duration_ms);
                    if kind == Kind::Full {
                        match prune(&s.dir, s.keep) {
                            Ok(gone) if !gone.is_empty() => {
                                tracing::info!(target: "govchain::api", "backups removed: {}", gone.join(", "));
                            }
                            Ok(_) => {}
                            Err(e) => tracing::error!(target: "govchain::api", "pruning backups: {e}"),
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(target: "govchain::api", "backup failed: {e}");
                    // Try again later, not in a tight loop.
                    tokio::time::sleep(s.incremental_every.min(Duration::from_secs(60))).await;
                }
            }
            continue;
        }
        tokio::time::sleep(wait.clamp(Duration::from_millis(100), Duration::from_secs(3600))).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn stamps_are_utc() {
        assert_eq!(utc_stamp(0), "19700101T000000.000Z");
        assert_eq!(utc_stamp(1_796_435_119_123), "20261205T014519.123Z");
        assert_eq!(utc_stamp(951_782_400_000), "20000229T000000.000Z");
    }

    fn m(kind: Kind, at: i64) -> Manifest {
        Manifest {
            format: FORMAT,
            id: format!("{at}"),
            kind,
            created_at: at,
            base: None,
            parent: None,
            seq: 0,
            backend: "sqlite".into(),
            migrations: vec![],
            tables: vec![],
            files: vec![],
            bytes: 0,
            duration_ms: 0,
        }
    }

    #[test]
    fn schedule_takes_full_then_incrementals() {
        let s = Schedule::new("/x");
        let h = 3_600_000;
        assert_eq!(due(&s, &[], 5).0, Some(Kind::Full));
        assert_eq!(due(&s, &[m(Kind::Full, 0)], h / 2), (None, Duration::from_millis(h as u64 / 2)));
        assert_eq!(due(&s, &[m(Kind::Full, 0)], h).0, Some(Kind::Incremental));
        assert_eq!(due(&s, &[m(Kind::Full, 0), m(Kind::Incremental, 23 * h)], 24 * h).0, Some(Kind::Full));
    }

    #[test]
    fn tables_follow_their_foreign_keys() {
        let t = |name: &str, deps: &[&str]| TableDump {
            name: name.into(),
            columns: vec![],
            key: vec![],
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            rows: vec![],
        };
        let order: Vec<String> =
            dependency_order(vec![t("a", &["c"]), t("b", &[]), t("c", &["b", "c"]), t("d", &["zz"])])
                .into_iter()
                .map(|t| t.name)
                .collect();
        assert_eq!(order, ["b", "d", "c", "a"]);
    }

    #[test]
    fn table_names_stay_inside_the_backup() {
        assert!(table_file("data", "../x").is_err());
        assert!(table_file("data", "").is_err());
        assert_eq!(table_file("data", "orgs").unwrap(), "data/orgs.json");
    }
}
