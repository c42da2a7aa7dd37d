//! Child processes that die with the environment.
//!
//! Every process the environment starts is its own process group leader, is
//! started through `setpriv --pdeathsig KILL` from the environment's own
//! thread (so a test process that crashes takes its children with it), and is
//! killed (the whole group) and reaped when its [`Proc`] is dropped.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::{Error, Result};

/// One running child process (the leader of its own process group).
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    child: Mutex<Child>,
    pid: Option<Pid>,
    /// Reaped: the group id may belong to someone else from now on.
    reaped: std::sync::atomic::AtomicBool,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`. `cmd` must not
    /// have been given a program wrapper yet: this puts `setpriv --pdeathsig
    /// KILL` in front when `setpriv` is given.
    pub(crate) fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("opening log {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| Error::io(format!("opening log {}", log.display()), e))?;
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child =
            cmd.spawn().map_err(|e| Error::io(format!("starting {name} ({:?})", cmd.get_program()), e))?;
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        Ok(Proc {
            name: name.to_string(),
            child: Mutex::new(child),
            pid,
            reaped: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid.map(|p| p.as_raw_nonzero().get().unsigned_abs())
    }

    /// The exit status once the process has ended (non-blocking). Whatever
    /// the leader left behind in its group is killed right then (the way a
    /// container's other processes die with it), while the group id is
    /// still certainly ours.
    pub(crate) fn try_wait(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let status = child.try_wait().ok().flatten()?;
        if !self.reaped.swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Some(pid) = self.pid
        {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        Some(status)
    }

    /// Sends `sig` to the whole process group (unless the leader was reaped
    /// already: then the id may have been reused).
    pub(crate) fn signal_group(&self, sig: Signal) {
        if self.reaped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Some(pid) = self.pid {
            // ESRCH (already gone) is the expected outcome after an exit.
            let _ = rustix::process::kill_process_group(pid, sig);
        }
    }

    /// SIGTERM to the group, up to `grace` for the leader to exit, then SIGKILL.
    pub(crate) async fn stop(&self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        self.signal_group(Signal::TERM);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill_and_reap()
    }

    /// SIGKILL to the group and a blocking wait for the leader.
    pub(crate) fn kill_and_reap(&self) -> Option<ExitStatus> {
        self.signal_group(Signal::KILL);
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let status = child.wait().ok();
        self.reaped.store(true, std::sync::atomic::Ordering::SeqCst);
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// The exit code the kubelet reports: the code, or 128 + the signal.
pub(crate) fn exit_code(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

/// Quotes `s` for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `lines` lines of a log file (for error messages).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    all[from..].join("\n")
}

/// Finds `tool` on PATH (the test process's), as an absolute path.
pub(crate) fn which(tool: &str) -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(Into::into))
    {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::MissingTool(tool.to_string()))
}
