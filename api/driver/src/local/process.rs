//! Node processes: spawning, logs, stopping, and the supervisor that
//! restarts nodes that die unexpectedly.
//!
//! A node's stdout and stderr go through one pipe into `node.log` in its
//! directory (appended; rotated at 10 MiB keeping one `node.log.1`), copied
//! by a thread of the driver so the file can be rotated under a running
//! node. Nodes stay in the platform's process group: a Ctrl-C at its
//! terminal stops them too (and an interrupted test run leaves none behind);
//! the platform's own shutdown stops the supervisor first, so nothing is
//! restarted then. The pid goes to `pid` in the node directory;
//! a later run kills a process it finds there only if that process still
//! runs this node's config (`/proc/<pid>/cmdline`), never an unrelated
//! process that reused the pid.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use govchain_node::init::CONFIG_FILE;
use tracing::{info, warn};

use super::lock;
use crate::ProcessState;

/// What runs a node: `exe args... <config path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgram {
    /// The executable.
    pub exe: PathBuf,
    /// Arguments before the config path, e.g. `["run", "--config"]` for
    /// `govchain-node` or `["node", "run", "--config"]` for `govchain`.
    pub args: Vec<String>,
}

/// How long a node gets to stop after SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// The first restart delay; it doubles per crash up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A node that ran this long is healthy again: its next crash waits
/// [`FIRST_BACKOFF`].
const STABLE: Duration = Duration::from_secs(60);
/// `node.log` is rotated when it would grow past this.
pub(crate) const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// The log file inside a node directory.
pub(crate) const LOG_FILE: &str = "node.log";
const PID_FILE: &str = "pid";

/// (chain, node name)
pub(crate) type Key = (String, String);

/// One node's process as the driver tracks it.
#[derive(Debug)]
struct Proc {
    dir: PathBuf,
    child: Option<Child>,
    /// Whether it should run; false once stopped on purpose.
    wanted: bool,
    restarts: u32,
    /// Exits nobody asked for (crashes), for waits that fail fast.
    exits: u32,
    last_exit: Option<String>,
    backoff: Duration,
    restart_at: Option<Instant>,
    started_at: Instant,
    log: Arc<Mutex<LogSink>>,
}

/// Every node process of a driver.
#[derive(Debug, Default)]
pub(crate) struct Procs {
    map: Mutex<BTreeMap<Key, Proc>>,
}

/// What waits need to know about a node's process.
#[derive(Debug, Clone)]
pub(crate) struct ProcInfo {
    pub(crate) state: ProcessState,
    pub(crate) restarts: u32,
    pub(crate) exits: u32,
    pub(crate) last_exit: Option<String>,
    pub(crate) pid: Option<u32>,
}

impl Procs {
    /// Starts the node in `dir` unless it runs already.
    pub(crate) fn start(&self, program: &NodeProgram, key: &Key, dir: &Path) -> std::io::Result<()> {
        let mut map = lock(&self.map);
        let p = map.entry(key.clone()).or_insert_with(|| Proc {
            dir: dir.to_owned(),
            child: None,
            wanted: false,
            restarts: 0,
            exits: 0,
            last_exit: None,
            backoff: FIRST_BACKOFF,
            restart_at: None,
            started_at: Instant::now(),
            log: Arc::new(Mutex::new(LogSink::new(dir.join(LOG_FILE)))),
        });
        p.restart_at = None;
        // Exited but not reaped by the supervisor yet: start it anew now.
        if let Some(child) = &mut p.child
            && let Ok(Some(status)) = child.try_wait()
        {
            lock(&p.log).note(&format!("exited ({status})"));
            p.child = None;
        }
        if p.child.is_none() {
            // Not wanted unless it started: the supervisor would never get to it.
            p.wanted = false;
            p.child = Some(spawn(program, &p.dir, &p.log)?);
            p.started_at = Instant::now();
        }
        p.wanted = true;
        Ok(())
    }

    /// Stops the node: SIGTERM, SIGKILL after [`STOP_GRACE`]. It stays
    /// stopped. Returns how it ended, if it ran.
    pub(crate) async fn stop(&self, key: &Key) -> Option<String> {
        let (child, dir, log) = {
            let mut map = lock(&self.map);
            let p = map.get_mut(key)?;
            p.wanted = false;
            p.restart_at = None;
            (p.child.take(), p.dir.clone(), p.log.clone())
        };
        let _ = std::fs::remove_file(dir.join(PID_FILE));
        let child = child?;
        let how = terminate(child).await;
        lock(&log).note(&format!("stopped by the driver ({how})"));
        info!(target: "govchain::driver", chain = %key.0, node = %key.1, %how, "node stopped");
        Some(how)
    }

    /// Forgets a stopped node (after its files are purged).
    pub(crate) fn forget(&self, key: &Key) {
        lock(&self.map).remove(key);
    }

    /// The node's process state.
    pub(crate) fn info(&self, key: &Key) -> ProcInfo {
        let map = lock(&self.map);
        match map.get(key) {
            None => {
                ProcInfo { state: ProcessState::Stopped, restarts: 0, exits: 0, last_exit: None, pid: None }
            }
            Some(p) => ProcInfo {
                state: match (&p.child, p.wanted) {
                    (Some(_), _) => ProcessState::Running,
                    (None, true) => ProcessState::Crashed,
                    (None, false) => ProcessState::Stopped,
                },
                restarts: p.restarts,
                exits: p.exits,
                last_exit: p.last_exit.clone(),
                pid: p.child.as_ref().map(Child::id),
            },
        }
    }

    /// Every tracked node of `chain`.
    pub(crate) fn keys_of(&self, chain: &str) -> Vec<Key> {
        lock(&self.map).keys().filter(|(c, _)| c == chain).cloned().collect()
    }

    /// Every tracked node.
    pub(crate) fn keys(&self) -> Vec<Key> {
        lock(&self.map).keys().cloned().collect()
    }

    /// One supervision round: reaps nodes that exited and restarts the ones
    /// that should run once their backoff has passed.
    pub(crate) fn tick(&self, program: &NodeProgram) {
        let now = Instant::now();
        let mut map = lock(&self.map);
        for ((chain, node), p) in map.iter_mut() {
            if let Some(child) = &mut p.child {
                match child.try_wait() {
                    Ok(None) => {
                        if now.duration_since(p.started_at) > STABLE {
                            p.backoff = FIRST_BACKOFF;
                        }
                    }
                    Ok(Some(status)) => {
                        p.child = None;
                        p.exits += 1;
                        let how = status.to_string();
                        lock(&p.log)
                            .note(&format!("exited unexpectedly ({how}); restarting in {:?}", p.backoff));
                        warn!(target: "govchain::driver", %chain, %node, %how, backoff = ?p.backoff, "node died; restarting");
                        p.last_exit = Some(how);
                        p.restart_at = Some(now + p.backoff);
                    }
                    Err(e) => {
                        warn!(target: "govchain::driver", %chain, %node, error = %e, "cannot check the node process")
                    }
                }
            } else if p.wanted && p.restart_at.is_some_and(|at| at <= now) {
                match spawn(program, &p.dir, &p.log) {
                    Ok(child) => {
                        p.child = Some(child);
                        p.restarts += 1;
                        p.started_at = now;
                        p.restart_at = None;
                    }
                    Err(e) => {
                        warn!(target: "govchain::driver", %chain, %node, error = %e, "cannot restart the node");
                        p.restart_at = Some(now + p.backoff);
                    }
                }
                p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// Leaves every process running but no longer tracked (as if the
    /// platform had died); only for tests of `resume`.
    #[cfg(feature = "test-utils")]
    pub(crate) fn abandon(&self) {
        for p in lock(&self.map).values_mut() {
            p.wanted = false;
            p.child = None;
        }
    }

    /// Kills every child at once (the driver is dropped without `shutdown`).
    pub(crate) fn kill_all(&self) {
        for p in lock(&self.map).values_mut() {
            p.wanted = false;
            if let Some(mut child) = p.child.take() {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(p.dir.join(PID_FILE));
            }
        }
    }
}

fn spawn(program: &NodeProgram, dir: &Path, log: &Arc<Mutex<LogSink>>) -> std::io::Result<Child> {
    kill_stale_now(dir);
    let config = dir.join(CONFIG_FILE);
    let (mut reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(&program.exe);
    cmd.args(&program.args)
        .arg(&config)
        .current_dir(dir)
        .stdin(Stdio::null())
        // A file, not a terminal: no colour codes in the log.
        .env("NO_COLOR", "1")
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let child = cmd.spawn()?;
    // Our copies of the pipe's write end go with the command, so the reader
    // sees the end of the file when the node exits.
    drop(cmd);
    std::fs::write(dir.join(PID_FILE), child.id().to_string())?;
    lock(log).note(&format!("started pid {}: {} {}", child.id(), program.exe.display(), config.display()));
    let sink = log.clone();
    std::thread::Builder::new().name("govchain-node-log".into()).spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => lock(&sink).write(&buf[..n]),
            }
        }
    })?;
    Ok(child)
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`]; returns how it ended.
async fn terminate(mut child: Child) -> String {
    signal(child.id(), rustix::process::Signal::TERM);
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => break,
        }
    }
    let _ = child.kill();
    match child.wait() {
        Ok(status) => format!("killed after {STOP_GRACE:?}: {status}"),
        Err(e) => format!("killed after {STOP_GRACE:?}: {e}"),
    }
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// The pid in `dir/pid` if that process still runs this node's config.
pub(crate) fn stale_pid(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(PID_FILE)).ok()?.trim().parse().ok()?;
    runs_config(pid, &dir.join(CONFIG_FILE)).then_some(pid)
}

/// Whether process `pid` runs with `config` on its command line (a zombie
/// has an empty one: it runs nothing).
pub(crate) fn runs_config(pid: u32, config: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let config = config.as_os_str().as_encoded_bytes();
    cmdline.split(|b| *b == 0).any(|arg| arg == config)
}

/// Stops a process a previous run left in `dir`: SIGTERM, SIGKILL after
/// [`STOP_GRACE`]. Returns its pid if there was one.
pub(crate) async fn kill_stale(dir: &Path) -> Option<u32> {
    let pid = stale_pid(dir)?;
    let config = dir.join(CONFIG_FILE);
    warn!(target: "govchain::driver", pid, dir = %dir.display(), "stopping a node left from a previous run");
    signal(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + STOP_GRACE;
    while runs_config(pid, &config) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if runs_config(pid, &config) {
        signal(pid, rustix::process::Signal::KILL);
    }
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    Some(pid)
}

/// Like [`kill_stale`] but at once (SIGKILL) and blocking briefly: used
/// right before a spawn, where the old process would hold the ports.
fn kill_stale_now(dir: &Path) {
    let Some(pid) = stale_pid(dir) else { return };
    warn!(target: "govchain::driver", pid, dir = %dir.display(), "killing a node left from a previous run");
    signal(pid, rustix::process::Signal::KILL);
    let config = dir.join(CONFIG_FILE);
    let deadline = Instant::now() + Duration::from_secs(2);
    while runs_config(pid, &config) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `node.log` with rotation.
#[derive(Debug)]
struct LogSink {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    failed: bool,
}

impl LogSink {
    fn new(path: PathBuf) -> LogSink {
        LogSink { path, file: None, size: 0, failed: false }
    }

    /// A line of the driver's own, marked so it stands out from the node's.
    fn note(&mut self, what: &str) {
        let now = std::time::SystemTime::now();
        self.write(format!("{} --- govchain-driver: {what}\n", rfc3339(now)).as_bytes());
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_write(bytes) {
            self.file = None;
            // Once: a full disk would otherwise log this for every line.
            if !self.failed {
                warn!(target: "govchain::driver", path = %self.path.display(), error = %e, "cannot write the node log");
            }
            self.failed = true;
        }
    }

    fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        if self.size > 0 && self.size + bytes.len() as u64 > LOG_ROTATE_BYTES {
            self.file = None;
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(&self.path, old)?;
            self.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?);
            self.size = 0;
        }
        if let Some(file) = &mut self.file {
            file.write_all(bytes)?;
            self.size += bytes.len() as u64;
        }
        self.failed = false;
        Ok(())
    }
}

/// `2026-11-21T10:34:17.868Z`, like the node's own log lines.
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        d.subsec_millis()
    )
}

/// The last `lines` lines of the node's log (reaching into `node.log.1`
/// when the current file is shorter).
pub(crate) fn tail(dir: &Path, lines: usize) -> std::io::Result<String> {
    let mut text = Vec::new();
    let mut old = dir.join(LOG_FILE).into_os_string();
    old.push(".1");
    for path in [PathBuf::from(old), dir.join(LOG_FILE)] {
        match std::fs::read(&path) {
            Ok(bytes) => text.extend_from_slice(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let mut out = all[from..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_keeping_one_old_file_and_tail_reads_across() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = LogSink::new(dir.path().join(LOG_FILE));
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(LOG_ROTATE_BYTES / 1024) {
            sink.write(line.as_bytes());
        }
        sink.write(b"first of the new file\n");
        let len = |f: &str| std::fs::metadata(dir.path().join(f)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len("node.log.1"), LOG_ROTATE_BYTES);
        assert_eq!(len(LOG_FILE), 22);
        for _ in 0..(LOG_ROTATE_BYTES / 1024) {
            sink.write(line.as_bytes());
        }
        assert!(len("node.log.1") <= LOG_ROTATE_BYTES && len(LOG_FILE) <= LOG_ROTATE_BYTES);
        assert!(!dir.path().join("node.log.2").exists(), "one old file only");
        let t = tail(dir.path(), 3).expect("tail");
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().all(|l| l.len() == 1023), "{t}");
        sink.note("hello");
        assert!(tail(dir.path(), 1).expect("tail").contains("govchain-driver"));
        assert_eq!(tail(&dir.path().join("none"), 5).expect("no log yet"), "");
    }

    #[test]
    fn driver_lines_carry_the_time_like_the_nodes_lines() {
        let at = |secs: u64, ms: u64| {
            rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_257_257, 790), "2026-11-21T10:34:17.790Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn a_pid_file_names_a_stale_node_only_if_it_runs_that_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join(CONFIG_FILE);
        let mut other = Command::new("sleep").arg("30").spawn().expect("sleep");
        std::fs::write(dir.path().join(PID_FILE), other.id().to_string()).expect("pid");
        // Another program behind the pid: not ours to kill.
        assert_eq!(stale_pid(dir.path()), None);
        let _ = other.kill();
        let _ = other.wait();
        // A process with this node's config on its command line is.
        let mut node = Command::new("sh").args(["-c", "sleep 30; true"]).arg(&config).spawn().expect("sh");
        std::fs::write(dir.path().join(PID_FILE), node.id().to_string()).expect("pid");
        // Right after exec the kernel may not show the new command line yet.
        let deadline = Instant::now() + Duration::from_secs(2);
        while stale_pid(dir.path()).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stale_pid(dir.path()), Some(node.id()));
        kill_stale_now(dir.path());
        assert!(!runs_config(node.id(), &config), "killed");
        assert!(node.wait().is_ok());
        std::fs::write(dir.path().join(PID_FILE), "garbage").expect("pid");
        assert_eq!(stale_pid(dir.path()), None);
    }
}
