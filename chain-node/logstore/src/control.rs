//! The process's subscriber: stderr as before, the store, and a filter
//! that changes at run time (through [`LogHandle::set_level`] or the
//! `level` file).

use std::{
    path::Path,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use tracing::{info, warn};
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt, reload, util::SubscriberInitExt};

use crate::{Error, LogConfig, LogStore, Result, StoreLayer, io, store::CHECK_EVERY};

/// The file in the store's directory holding the level directive in
/// force; writing it changes the level of the running process within
/// about a second.
pub const LEVEL_FILE: &str = "level";
/// Longest directive accepted.
const MAX_DIRECTIVE: usize = 1024;
/// How often the level file is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Target of the store's own system events.
const TARGET: &str = "govchain::system::logs";

static GLOBAL: OnceLock<LogHandle> = OnceLock::new();

/// The installed store and its level. One per process.
pub struct LogHandle {
    store: LogStore,
    reload: reload::Handle<EnvFilter, Registry>,
    directive: Mutex<String>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").field("store", &self.store).finish_non_exhaustive()
    }
}

/// Checks a filter directive (`debug`, `info,govchain::node=debug`, ...)
/// and returns it trimmed.
pub fn validate_directive(directive: &str) -> Result<String> {
    let d = directive.trim();
    if d.is_empty() {
        return Err(Error::Invalid("the log level is empty".into()));
    }
    if d.len() > MAX_DIRECTIVE {
        return Err(Error::Invalid(format!("the log level directive is longer than {MAX_DIRECTIVE} bytes")));
    }
    if d.chars().any(|c| c.is_control()) {
        return Err(Error::Invalid("the log level directive holds control characters".into()));
    }
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |l: &str| LEVELS.contains(&l.to_ascii_lowercase().as_str());
    let is_target = |t: &str| {
        !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
    };
    for part in d.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ok = match part.split_once('=') {
            Some((target, level)) => is_target(target.trim()) && is_level(level.trim()),
            None => is_level(part) || is_target(part),
        };
        if !ok {
            return Err(Error::Invalid(format!(
                "`{part}` is not a level (trace, debug, info, warn, error, off) or `target=level`"
            )));
        }
    }
    EnvFilter::builder()
        .parse(d)
        .map_err(|e| Error::Invalid(format!("not a log level or filter directive: {e}")))?;
    Ok(d.to_owned())
}

/// The filter of a directive. System events (start, stop, configuration
/// and level changes) stay at `info` whatever the level, unless the
/// directive names their target itself: they are the process's audit
/// trail, and a quiet level must not hide who changed what.
fn filter_of(directive: &str) -> Result<EnvFilter> {
    let full = if directive.contains(crate::SYSTEM_TARGET) {
        directive.to_owned()
    } else {
        format!("{directive},{}=info", crate::SYSTEM_TARGET)
    };
    EnvFilter::builder()
        .parse(&full)
        .map_err(|e| Error::Invalid(format!("not a log level or filter directive: {e}")))
}

/// The directive in the `level` file of the store at `dir`, if any.
pub fn read_level(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join(LEVEL_FILE)).ok()?;
    let text = String::from_utf8(text).ok()?;
    validate_directive(&text).ok()
}

/// Writes `directive` (checked) into the `level` file of the store at
/// `dir`; the process writing that store applies it within about a
/// second. Returns the directive written.
pub fn request_level(dir: &Path, directive: &str) -> Result<String> {
    let d = validate_directive(directive)?;
    write_level(dir, &d)?;
    Ok(d)
}

fn write_level(dir: &Path, directive: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(".{LEVEL_FILE}.tmp"));
    std::fs::write(&tmp, format!("{directive}\n")).map_err(io(&tmp))?;
    let path = dir.join(LEVEL_FILE);
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Installs the process's subscriber: the `fmt` layer on stderr as
/// before, the store of `config`, and a filter from the store's `level`
/// file, else `RUST_LOG`, else `default_directive`. Starts a thread that
/// applies changes of the level file and checks the budget once a minute.
/// Fails when a subscriber is installed already.
pub fn install(config: LogConfig, default_directive: &str) -> Result<&'static LogHandle> {
    let store = LogStore::open(config)?;
    let directive = read_level(store.dir())
        .or_else(|| std::env::var("RUST_LOG").ok().and_then(|d| validate_directive(&d).ok()))
        .map_or_else(|| validate_directive(default_directive), Ok)?;
    let (filter, reload) = reload::Layer::new(filter_of(&directive)?);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(StoreLayer::new(store.clone()))
        .try_init()
        .map_err(|_| Error::Installed)?;
    write_level(store.dir(), &directive)?;
    let handle = GLOBAL.get_or_init(|| LogHandle { store, reload, directive: Mutex::new(directive.clone()) });
    info!(target: TARGET, dir = %handle.store.dir().display(), level = %directive,
        retention_days = handle.store.config().retention_days,
        budget_bytes = handle.store.config().budget_bytes, "log store opened");
    std::thread::Builder::new()
        .name("govchain-logs".into())
        .spawn(move || watch(handle, Some(format!("{directive}\n"))))
        .map_err(|e| Error::Io { path: handle.store.dir().to_owned(), source: e })?;
    Ok(handle)
}

/// The store installed in this process, if any.
pub fn global() -> Option<&'static LogHandle> {
    GLOBAL.get()
}

/// The level file's text (at most 4 KiB read).
fn level_text(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Lives as long as the process (the subscriber is global): applies the
/// level file's changes and checks the budget and retention.
fn watch(handle: &'static LogHandle, written: Option<String>) {
    let path = handle.store.dir().join(LEVEL_FILE);
    // Compared by content: two writes within a timer tick share an mtime.
    let mut seen = written;
    let mut last_check = std::time::Instant::now();
    loop {
        std::thread::sleep(WATCH_EVERY);
        let now = level_text(&path);
        if now != seen {
            seen = now;
            match seen.as_deref().map(validate_directive) {
                Some(Ok(d)) if d != handle.level() => {
                    if let Err(e) = handle.apply(&d, "level file") {
                        warn!(target: TARGET, error = %e, "log level not changed");
                    }
                }
                Some(Err(e)) => warn!(target: TARGET, error = %e, "the level file is refused"),
                _ => {}
            }
        }
        if last_check.elapsed() >= CHECK_EVERY {
            last_check = std::time::Instant::now();
            if let Err(e) = handle.store.enforce() {
                warn!(target: TARGET, error = %e, "log retention check failed");
            }
        }
    }
}

impl LogHandle {
    /// The store.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// The directive in force.
    pub fn level(&self) -> String {
        self.directive.lock().map(|d| d.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Changes the level at run time (checked first), keeps it in the
    /// level file (a restart keeps it too) and logs the change as a
    /// `system` event. Returns the directive now in force.
    pub fn set_level(&self, directive: &str) -> Result<String> {
        let d = validate_directive(directive)?;
        self.apply(&d, "api")?;
        write_level(self.store.dir(), &d)?;
        Ok(d)
    }

    fn apply(&self, directive: &str, by: &str) -> Result<()> {
        let filter = filter_of(directive)?;
        self.reload
            .reload(filter)
            .map_err(|e| Error::Invalid(format!("the log filter cannot be changed: {e}")))?;
        let before = {
            let mut d = self.directive.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *d, directive.to_owned())
        };
        info!(target: TARGET, from = %before, to = %directive, by, "log level changed");
        Ok(())
    }
}
