//! Writing: the files of each type, their rotation, retention and budget,
//! and the `tracing` layer feeding them.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::sync::broadcast;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

use crate::{LogConfig, LogLine, LogType, Result, SYSTEM_TARGET, date, io};

/// How often the budget and retention are checked besides on rotation.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Lines kept for slow live-tail subscribers.
const TAIL_CAPACITY: usize = 1024;

/// A file of the store: `<dir>/<type>/<YYYY-MM-DD>[.N].log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) kind: LogType,
    pub(crate) day: i64,
    pub(crate) index: u32,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

pub(crate) fn segment_name(day: i64, index: u32) -> String {
    match index {
        0 => format!("{}.log", date::format_day(day)),
        n => format!("{}.{n}.log", date::format_day(day)),
    }
}

fn parse_name(name: &str) -> Option<(i64, u32)> {
    let stem = name.strip_suffix(".log")?;
    let (date, index) = match stem.split_once('.') {
        Some((d, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => (d, n.parse().ok()?),
        Some(_) => return None,
        None => (stem, 0),
    };
    Some((date::parse_day(date).ok()?, index))
}

/// The files of one type, oldest first. A missing directory has none.
pub(crate) fn segments(dir: &Path, kind: LogType) -> Result<Vec<Segment>> {
    let type_dir = dir.join(kind.as_str());
    let entries = match std::fs::read_dir(&type_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&type_dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(&type_dir))?;
        let name = entry.file_name();
        let Some((day, index)) = name.to_str().and_then(parse_name) else { continue };
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        found.push(Segment { kind, day, index, path: entry.path(), size });
    }
    found.sort_by_key(|s| (s.day, s.index));
    Ok(found)
}

/// What the store takes on disk after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes of all files.
    pub bytes: u64,
    /// Files kept.
    pub files: usize,
    /// Files deleted by this check.
    pub deleted: usize,
}

struct Open {
    day: i64,
    index: u32,
    file: File,
    size: u64,
}

struct Files {
    open: HashMap<LogType, Open>,
    last_check: Instant,
}

struct Inner {
    config: LogConfig,
    files: Mutex<Files>,
    tail: broadcast::Sender<LogLine>,
}

/// The files of a store and the live tail of lines written to them.
/// Cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Files>) -> MutexGuard<'_, Files> {
    // A panic while holding the lock leaves the files usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LogStore {
    /// Opens (creating) the store's directories and applies the retention
    /// and budget once.
    pub fn open(config: LogConfig) -> Result<LogStore> {
        config.validate()?;
        for kind in LogType::ALL {
            let d = config.dir.join(kind.as_str());
            std::fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let store = LogStore {
            inner: Arc::new(Inner {
                config,
                files: Mutex::new(Files { open: HashMap::new(), last_check: Instant::now() }),
                tail,
            }),
        };
        store.enforce()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// Its settings.
    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    /// New lines as they are written (every type; a receiver that lags
    /// loses the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.inner.tail.subscribe()
    }

    /// Appends `line` to the file of its type (its `ts` picks the day),
    /// rotating and checking the budget as needed, and hands it to the
    /// live tail.
    pub fn append(&self, line: &LogLine) -> Result<()> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| crate::Error::Invalid(format!("unwritable log line: {e}")))?;
        text.push('\n');
        let day = date::day_of_ms(line.ts);
        let segment = self.inner.config.segment_bytes();
        let mut files = lock(&self.inner.files);
        let mut rotated = false;
        let current = files.open.get(&line.kind).map(|o| (o.day, o.index, o.size));
        let target = match current {
            Some((d, i, size)) if d == day => {
                if size > 0 && size + text.len() as u64 > segment {
                    rotated = true;
                    Some(i + 1)
                } else {
                    None
                }
            }
            _ => {
                rotated = current.is_some();
                // After a restart, go on in the day's last file.
                let last = segments(self.dir(), line.kind)?
                    .into_iter()
                    .filter(|s| s.day == day)
                    .map(|s| s.index)
                    .max()
                    .unwrap_or(0);
                Some(last)
            }
        };
        if let Some(index) = target {
            let path = self.dir().join(line.kind.as_str()).join(segment_name(day, index));
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            files.open.insert(line.kind, Open { day, index, file, size });
        }
        if let Some(open) = files.open.get_mut(&line.kind) {
            let path = || self.dir().join(line.kind.as_str()).join(segment_name(open.day, open.index));
            open.file.write_all(text.as_bytes()).map_err(|e| io(path())(e))?;
            open.size += text.len() as u64;
        }
        if rotated || files.last_check.elapsed() >= CHECK_EVERY {
            self.enforce_locked(&mut files)?;
        }
        drop(files);
        // No subscriber is no error.
        let _ = self.inner.tail.send(line.clone());
        Ok(())
    }

    /// Deletes files older than the retention, then the oldest files until
    /// the total leaves room for the open files to fill up within the
    /// budget.
    pub fn enforce(&self) -> Result<Usage> {
        let mut files = lock(&self.inner.files);
        self.enforce_locked(&mut files)
    }

    fn enforce_locked(&self, files: &mut Files) -> Result<Usage> {
        files.last_check = Instant::now();
        let config = &self.inner.config;
        let oldest_kept = date::today() - i64::from(config.retention_days);
        let mut all = Vec::new();
        for kind in LogType::ALL {
            all.extend(segments(&config.dir, kind)?);
        }
        let is_open =
            |s: &Segment| files.open.get(&s.kind).is_some_and(|o| o.day == s.day && o.index == s.index);
        let mut usage = Usage::default();
        let mut kept = Vec::new();
        for s in all {
            if s.day < oldest_kept && !is_open(&s) {
                remove(&s.path)?;
                usage.deleted += 1;
            } else {
                kept.push(s);
            }
        }
        let room = config.budget_bytes.saturating_sub(3 * config.segment_bytes());
        let mut total: u64 = kept.iter().map(|s| s.size).sum();
        kept.sort_by_key(|s| (s.day, s.index));
        let mut left = Vec::new();
        for s in kept {
            if total > room && !is_open(&s) {
                remove(&s.path)?;
                total -= s.size;
                usage.deleted += 1;
            } else {
                left.push(s);
            }
        }
        usage.bytes = total;
        usage.files = left.len();
        Ok(usage)
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

/// The types a line of `target` at `level` goes to.
pub(crate) fn kinds_of(target: &str, level: Level) -> &'static [LogType] {
    let bad = level <= Level::WARN;
    if target.starts_with(SYSTEM_TARGET) {
        if bad { &[LogType::System, LogType::Error] } else { &[LogType::System] }
    } else if bad {
        // WARN and ERROR compare below INFO.
        &[LogType::Run, LogType::Error]
    } else {
        &[LogType::Run]
    }
}

/// The `tracing` layer writing every event it sees into a [`LogStore`]. A
/// line that cannot be written is dropped (logging about it would loop).
#[derive(Debug, Clone)]
pub struct StoreLayer {
    store: LogStore,
}

impl StoreLayer {
    /// A layer writing into `store`.
    pub fn new(store: LogStore) -> StoreLayer {
        StoreLayer { store }
    }
}

#[derive(Default)]
struct Visitor {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Visitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, serde_json::Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, Into::into));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, serde_json::Value::String(format!("{value:?}")));
    }
}

impl Visitor {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        match field.name() {
            "message" => {
                self.message = match value {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                }
            }
            // The line's own keys win over fields of the same name.
            "ts" | "level" | "type" | "target" => {
                self.fields.insert(format!("field_{}", field.name()), value);
            }
            name => {
                self.fields.insert(name.to_owned(), value);
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for StoreLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut v = Visitor::default();
        event.record(&mut v);
        let ts = date::now_ms();
        for kind in kinds_of(meta.target(), *meta.level()) {
            let line = LogLine {
                ts,
                level: meta.level().to_string(),
                kind: *kind,
                target: meta.target().to_owned(),
                message: v.message.clone(),
                fields: v.fields.clone(),
            };
            let _ = self.store.append(&line);
        }
    }
}
