//! govchain's container images and the tools their tests need: builds the
//! `FROM scratch` images of `images/<component>/Containerfile` through
//! `scripts/images.sh` and reports what was built, runs external commands
//! with a time bound, and finds podman, helm and kubectl.
//!
//! Not for: running chains in production or talking to a container engine's
//! API (the api's host drivers do that); the images themselves are defined by
//! the Containerfiles and the script, and the Helm chart lives in
//! `charts/govchain/`. This crate exists so `cargo test --workspace` builds
//! and runs the images and checks the chart.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Errors of image builds and tool lookups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool the caller needs is not installed.
    #[error("{tool} not found: {hint}")]
    MissingTool {
        /// The tool.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// A command could not be started or waited for.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("{command} failed ({status}):\n{stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A command ran past its time bound and was killed.
    #[error("{command} did not finish within {limit:?}; killed")]
    TimedOut {
        /// The command line.
        command: String,
        /// The bound.
        limit: Duration,
    },
    /// A command's output was not what it promises.
    #[error("unexpected output of {command}: {detail}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong.
        detail: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An image `scripts/images.sh` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `govchain/node`: `/govchain-node`.
    Node,
    /// `govchain/operator`: `/govchain-operator`.
    Operator,
    /// `govchain/api`: `/govchain` (the platform binary of the cli crate).
    Api,
}

impl Component {
    /// The name `scripts/images.sh` takes and the image is named after.
    pub fn name(self) -> &'static str {
        match self {
            Component::Node => "node",
            Component::Operator => "operator",
            Component::Api => "api",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An image that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `govchain/<component>:<tag>`.
    pub reference: String,
    /// Size as podman reports it, bytes.
    pub size_bytes: u64,
}

/// The root of the govchain workspace (this crate lives at `images/`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The workspace version: the default image tag and the chart's appVersion.
pub fn workspace_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Builds the images of `components` tagged `tag` with `scripts/images.sh`
/// (static musl binaries in release mode, then `podman build`). Unbounded in
/// time on purpose: a cold release build of the workspace takes minutes.
pub fn build_images(components: &[Component], tag: &str) -> Result<Vec<BuiltImage>> {
    find_tool("podman", "run scripts/podman.sh start (it installs Debian's podman and runc)")?;
    let mut cmd = Command::new(repo_root().join("scripts/images.sh"));
    cmd.arg("--tag").arg(tag).args(components.iter().map(|c| c.name()));
    let command = describe(&cmd);
    let stdout = run_script(&mut cmd)?;
    let images = parse_built(&stdout).map_err(|detail| Error::Output { command: command.clone(), detail })?;
    if images.len() != components.len() {
        return Err(Error::Output {
            command,
            detail: format!("{} images reported for {} components", images.len(), components.len()),
        });
    }
    Ok(images)
}

/// Runs one of the repository's scripts, unbounded in time (they build):
/// its progress goes to our stderr as it happens, and its stdout (the
/// result lines) comes back.
fn run_script(cmd: &mut Command) -> Result<String> {
    let command = describe(cmd);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        return Err(Error::Failed {
            command,
            status: out.status.to_string(),
            stderr: "(see the script's output above)".into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses the `image=<ref> size=<bytes>` lines of `scripts/images.sh`.
fn parse_built(stdout: &str) -> Result<Vec<BuiltImage>, String> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut reference = None;
            let mut size = None;
            for word in line.split_whitespace() {
                if let Some(r) = word.strip_prefix("image=") {
                    reference = Some(r.to_owned());
                } else if let Some(s) = word.strip_prefix("size=") {
                    size = Some(s.parse::<u64>().map_err(|e| format!("size in `{line}`: {e}"))?);
                }
            }
            match (reference, size) {
                (Some(reference), Some(size_bytes)) => Ok(BuiltImage { reference, size_bytes }),
                _ => Err(format!("expected `image=<ref> size=<bytes>`, got `{line}`")),
            }
        })
        .collect()
}

/// The path of `tool` on `PATH`, or [`Error::MissingTool`] with `hint`.
pub fn find_tool(tool: &str, hint: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
        .ok_or_else(|| Error::MissingTool { tool: tool.into(), hint: hint.into() })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The directory holding `helm` and `kubectl`: `$GOVCHAIN_K8S_BIN`, or what
/// `scripts/k8s-bins.sh` prints (it builds them on first use, ~7 minutes,
/// and is a quick lookup afterwards).
pub fn k8s_bin_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("GOVCHAIN_K8S_BIN") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(run_script(&mut Command::new(repo_root().join("scripts/k8s-bins.sh")))?.trim()),
    };
    for tool in ["helm", "kubectl"] {
        if !is_executable(&dir.join(tool)) {
            return Err(Error::MissingTool {
                tool: tool.into(),
                hint: format!("not in {} (GOVCHAIN_K8S_BIN or scripts/k8s-bins.sh)", dir.display()),
            });
        }
    }
    Ok(dir)
}

/// Runs `cmd` to completion with its output captured, killing it after
/// `limit`; a non-zero exit is [`Error::Failed`] with the end of its stderr.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<Output> {
    let out = run_unchecked(cmd, limit)?;
    if !out.status.success() {
        return Err(Error::Failed {
            command: describe(cmd),
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 4000),
        });
    }
    Ok(out)
}

/// Like [`run`], but returns the output of a failed command too (for tests
/// that expect a refusal).
pub fn run_unchecked(cmd: &mut Command, limit: Duration) -> Result<Output> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    // Drained on threads so a chatty command never blocks on a full pipe
    // while we poll for its exit.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::TimedOut { command, limit });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => return Err(Error::Spawn { command, source }),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}

/// A command line for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The last `max` bytes of `s` (on a character boundary).
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_the_script_result_lines() {
        let got =
            parse_built("image=govchain/node:0.1.0 size=12345\n\nimage=govchain/api:t size=7\n").unwrap();
        assert_eq!(
            got,
            vec![
                BuiltImage { reference: "govchain/node:0.1.0".into(), size_bytes: 12345 },
                BuiltImage { reference: "govchain/api:t".into(), size_bytes: 7 },
            ]
        );
        assert!(parse_built("image=govchain/node:0.1.0\n").unwrap_err().contains("expected"));
        assert!(parse_built("image=x size=big\n").unwrap_err().contains("size"));
    }

    #[test]
    fn a_command_past_its_bound_is_killed() {
        let started = Instant::now();
        let err = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, Error::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_failing_command_reports_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"]), Duration::from_secs(10))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("boom") && msg.contains("exit status: 3"), "{msg}");
        let out = run(Command::new("sh").args(["-c", "echo hi"]), Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn a_missing_tool_names_the_hint() {
        let err = find_tool("no-such-tool-govchain", "install it").unwrap_err();
        assert_eq!(err.to_string(), "no-such-tool-govchain not found: install it");
    }
}
