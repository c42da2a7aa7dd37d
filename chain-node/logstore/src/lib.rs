//! The log store of govchain nodes and platform replicas (SPEC OPS-3,
//! OPS-7): a `tracing` layer writing every event as a JSON line
//! `{ts, level, type, target, message, fields...}` into
//! `<dir>/<type>/<YYYY-MM-DD>[.N].log`, by type:
//!
//! - `run`: the process's operational events (every event that is not a
//!   `system` one, warnings and errors included);
//! - `error`: warnings and errors (also in `run`, or in `system` for a
//!   system event);
//! - `system`: process lifecycle, configuration, membership, policy and
//!   log-level changes: events whose target starts with
//!   [`SYSTEM_TARGET`].
//!
//! Files are daily (UTC) and cut into segments of a size derived from the
//! disk budget; files older than the retention and, when the total passes
//! the budget, the oldest files are deleted, on every rotation and once a
//! minute, so the logs never fill the disk. The level is changed at run
//! time through [`LogHandle::set_level`] or by writing the `level` file in
//! the store's directory (what the platform's local driver does).
//!
//! Also here: search over a time range by keyword or regular expression
//! ([`search`]), following new lines ([`LogStore::subscribe`] in the
//! writing process, [`Follower`] from another process), a day's files
//! ([`read_day`]).
//!
//! Not for: shipping logs elsewhere, or metrics. stderr output stays as the
//! `fmt` layer writes it.

mod control;
mod date;
mod query;
mod store;

use std::{path::PathBuf, str::FromStr};

use serde::{Deserialize, Serialize};

pub use control::{LEVEL_FILE, LogHandle, global, install, read_level, request_level, validate_directive};
pub use date::{day_of_ms, format_day, now_ms, parse_day, today};
pub use query::{
    DEFAULT_LIMIT, DEFAULT_RANGE_MS, FOLLOW_FOR, Follower, MAX_DAY_BYTES, MAX_LIMIT, MAX_PATTERN,
    MAX_SCAN_BYTES, Pattern, Search, SearchParams, check_download_day, day_files, follow, read_day, search,
};
pub use store::{LogStore, StoreLayer, Usage};

/// The filter directive of a process unless told otherwise: `info`,
/// storage engine internals at `warn`.
pub const DEFAULT_DIRECTIVE: &str = "info,fjall=warn,lsm_tree=warn";
/// Events whose target starts with this are `system` events.
pub const SYSTEM_TARGET: &str = "govchain::system";
/// Days of logs kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Disk budget of the store by default (1 GiB).
pub const DEFAULT_BUDGET_BYTES: u64 = 1024 * 1024 * 1024;
/// The smallest budget accepted (1 MiB).
pub const MIN_BUDGET_BYTES: u64 = 1024 * 1024;
/// The longest retention accepted (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Errors of the log store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting, query or level directive is not acceptable; the message
    /// says which and why.
    #[error("{0}")]
    Invalid(String),
    /// A file or directory of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A global subscriber is installed already (the store is installed
    /// once per process).
    #[error("a tracing subscriber is installed already")]
    Installed,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// The type of a log line, and the directory it is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    /// Operational events.
    Run,
    /// Process lifecycle and configuration changes.
    System,
    /// Warnings and errors.
    Error,
}

impl LogType {
    /// Every type.
    pub const ALL: [LogType; 3] = [LogType::Run, LogType::System, LogType::Error];

    /// Its name, also its directory's.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Run => "run",
            LogType::System => "system",
            LogType::Error => "error",
        }
    }
}

impl std::fmt::Display for LogType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "run" => Ok(LogType::Run),
            "system" => Ok(LogType::System),
            "error" => Ok(LogType::Error),
            other => Err(Error::Invalid(format!("unknown log type `{other}`; known: run, system, error"))),
        }
    }
}

/// One line of the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When, ms since 1970.
    pub ts: i64,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The file it is kept in.
    #[serde(rename = "type")]
    pub kind: LogType,
    /// The event's target (`govchain::node`, ...).
    pub target: String,
    /// The message.
    pub message: String,
    /// The event's other fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl LogLine {
    /// The text searches match: target, message and the fields as
    /// `key=value`.
    pub fn text(&self) -> String {
        let mut text = format!("{} {}", self.target, self.message);
        for (k, v) in &self.fields {
            match v {
                serde_json::Value::String(s) => text.push_str(&format!(" {k}={s}")),
                v => text.push_str(&format!(" {k}={v}")),
            }
        }
        text
    }
}

/// Where and how much a store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The store's directory.
    pub dir: PathBuf,
    /// Days of files kept besides today's ([`DEFAULT_RETENTION_DAYS`]).
    pub retention_days: u32,
    /// Most bytes all files together take ([`DEFAULT_BUDGET_BYTES`]).
    pub budget_bytes: u64,
}

impl LogConfig {
    /// The defaults in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            retention_days: DEFAULT_RETENTION_DAYS,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        }
    }

    /// Refuses a retention of 0 or above [`MAX_RETENTION_DAYS`] days and a
    /// budget below [`MIN_BUDGET_BYTES`].
    pub fn validate(&self) -> Result<()> {
        if self.retention_days == 0 || self.retention_days > MAX_RETENTION_DAYS {
            return Err(Error::Invalid(format!(
                "log retention must be 1 to {MAX_RETENTION_DAYS} days, not {}",
                self.retention_days
            )));
        }
        if self.budget_bytes < MIN_BUDGET_BYTES {
            return Err(Error::Invalid(format!(
                "log budget must be at least {MIN_BUDGET_BYTES} bytes, not {}",
                self.budget_bytes
            )));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(Error::Invalid("the log directory is empty".into()));
        }
        Ok(())
    }

    /// The size a file is cut at: a sixteenth of the budget, between
    /// 16 KiB and 16 MiB, so the three open files never take more than
    /// the room kept free for them.
    pub fn segment_bytes(&self) -> u64 {
        (self.budget_bytes / 16).clamp(16 * 1024, 16 * 1024 * 1024)
    }
}
