//! A real Kubernetes control plane for govchain's tests, and a test-only node
//! agent that stands in for the kubelet.
//!
//! [`TestEnv::start`] runs etcd, kube-apiserver and kube-controller-manager
//! (the binaries `scripts/k8s-bins.sh` builds, or the directory in
//! `GOVCHAIN_K8S_BIN`) on a loopback subnet of their own and writes an admin
//! kubeconfig. [`TestEnv::start_agent`] adds one Node whose "kubelet" is this
//! crate: it schedules every pending pod onto itself, runs each container as a
//! local process in its own mount namespace (an overlay of `/` plus chroot,
//! the image mapped to a local executable), gives each pod its own loopback
//! IP, writes an `/etc/hosts` with the cluster DNS names into every pod, runs
//! readiness probes, reports pod status, restarts crashed containers, honours
//! graceful deletion, and proxies Service cluster IPs to ready pods (a
//! userspace kube-proxy).
//!
//! Addresses: each environment locks one `127.X.0.0/16` (X in 1..=254, never
//! 127.0.0.0/16, which other tests use): Services get cluster IPs from
//! `127.X.0.0/18` (the apiserver accepts a loopback service range), pods from
//! `127.X.64.0` upward, and the control plane listens on `127.X.255.254`.
//! EndpointSlices cannot hold loopback addresses (the apiserver refuses them),
//! so the endpoint controllers are off and the proxy reads ready pods directly.
//!
//! What it is not: a conformance-grade kubelet. No cgroups, no resource
//! limits, no network isolation (pods share the host network namespace, so a
//! program must bind its pod IP, not `0.0.0.0`), no image pulls, no
//! NetworkPolicy enforcement. It needs root (mounts), util-linux (`unshare`,
//! `setpriv`, `nsenter`, `mount`) and coreutils (`chroot`, `env`).
//!
//! Everything dies with the [`TestEnv`]: dropping it kills every pod process
//! and the control plane; a crashed test process takes them too
//! (`PR_SET_PDEATHSIG` via `setpriv`). Start one environment per test (about
//! 3-5 s): the handle's client lives in the runtime that started it.
//!
//! Not served (they need a real kubelet): `kubectl logs`, `kubectl exec`,
//! port-forward; use [`TestEnv::pod_log`] and [`TestEnv::exec`]. Ignored:
//! security contexts (containers run as the test's user, root), resource
//! limits, `dnsPolicy` (the host's resolv.conf stays), startup probes.
//!
//! ```no_run
//! # async fn demo() -> govchain_testenv::Result<()> {
//! use govchain_testenv::{AgentConfig, TestEnv, TestEnvOptions};
//! let agent = AgentConfig::default().image("govchain/node", "/path/to/govchain-node");
//! let env = TestEnv::start(TestEnvOptions { agent: Some(agent), ..Default::default() }).await?;
//! env.kubectl_ok(["apply", "-f", "crds/examples/chain.yaml"]).await?;
//! let ip = env.resolve("city-ledger-node-0.city-ledger-peers.dept-a.svc.cluster.local");
//! # let _ = ip;
//! # Ok(())
//! # }
//! ```

mod agent;
mod controlplane;
mod pki;
mod proc;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use agent::AgentConfig;

/// Errors of the test environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Kubernetes binary is missing from the bin dir.
    #[error(
        "Kubernetes binary `{name}` not found in {dir} (set GOVCHAIN_K8S_BIN to a directory holding etcd, kube-apiserver, kube-controller-manager, kubectl and helm, or run scripts/k8s-bins.sh)"
    )]
    MissingBinary {
        /// The binary's file name.
        name: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// `scripts/k8s-bins.sh` failed or printed nothing usable.
    #[error("scripts/k8s-bins.sh: {0}")]
    BinScript(String),
    /// A host tool the node agent runs is not installed.
    #[error("`{0}` not found on PATH (the node agent needs util-linux and coreutils)")]
    MissingTool(String),
    /// Certificate generation failed.
    #[error("certificates: {0}")]
    Pki(String),
    /// A component did not become ready.
    #[error("{component} did not become ready: {reason}\n--- last lines of {log} ---\n{tail}")]
    NotReady {
        /// The component (etcd, kube-apiserver, ...).
        component: String,
        /// Why the wait ended.
        reason: String,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The kubeconfig could not be loaded.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// Every loopback subnet is taken by other environments.
    #[error("no free 127.X.0.0/16 subnet (254 test environments running?)")]
    NoSubnet,
    /// [`TestEnv::start_agent`] was called twice.
    #[error("the node agent is already running")]
    AgentRunning,
    /// The environment's own thread is gone.
    #[error("environment thread: {0}")]
    Thread(String),
    /// The node agent failed.
    #[error("node agent: {0}")]
    Agent(String),
    /// A bounded wait ran out.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
    },
    /// A command (kubectl, helm) exited unsuccessfully.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stderr.
        stderr: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start a [`TestEnv`].
#[derive(Debug, Clone)]
pub struct TestEnvOptions {
    /// The cluster DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Start the node agent with this configuration as part of
    /// [`TestEnv::start`] (or later with [`TestEnv::start_agent`]).
    pub agent: Option<AgentConfig>,
    /// Bound on each readiness wait of the control plane (60 s).
    pub startup_timeout: Duration,
    /// Keep the environment directory (logs, pod roots) after drop. Also on
    /// when env `GOVCHAIN_TESTENV_KEEP` is set.
    pub keep_dir: bool,
}

impl Default for TestEnvOptions {
    fn default() -> Self {
        TestEnvOptions {
            cluster_domain: "cluster.local".to_string(),
            agent: None,
            startup_timeout: Duration::from_secs(60),
            keep_dir: false,
        }
    }
}

/// Addresses of one environment (all in its own `127.X.0.0/16`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subnet {
    pub x: u8,
}

impl Subnet {
    pub fn control_plane_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.x, 255, 254)
    }
    pub fn service_cidr(self) -> String {
        format!("127.{}.0.0/18", self.x)
    }
    pub fn kubernetes_service_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.x, 0, 1)
    }
    /// The `n`th pod IP (n from 0), 127.X.64.1 upward; None when exhausted.
    pub fn pod_ip(self, n: u32) -> Option<Ipv4Addr> {
        // 127.X.64.1 ..= 127.X.255.253 minus the .0 and .255 of each /24.
        let per = 254u32;
        let third = 64 + n / per;
        let fourth = 1 + n % per;
        if third > 255 || (third == 255 && fourth >= 254) {
            return None;
        }
        Some(Ipv4Addr::new(127, self.x, third as u8, fourth as u8))
    }
}

/// Locks one free `127.X.0.0/16` for this environment, across processes (a
/// lock file per X under the temp dir; the lock dies with the process).
fn lock_subnet() -> Result<(Subnet, File)> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join("govchain-testenv-subnets");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    // Spread processes over the space so parallel test binaries rarely probe
    // the same lock first.
    let start = std::process::id().wrapping_mul(31) + NEXT.fetch_add(1, Ordering::Relaxed) * 7;
    for i in 0..254u32 {
        let x = ((start + i) % 254 + 1) as u8;
        let path = dir.join(format!("127.{x}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        if file.try_lock().is_ok() {
            return Ok((Subnet { x }, file));
        }
    }
    Err(Error::NoSubnet)
}

/// The Kubernetes binaries.
#[derive(Debug, Clone)]
pub(crate) struct Bins {
    pub dir: PathBuf,
}

impl Bins {
    const ALL: [&'static str; 5] = ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm"];

    pub fn get(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    async fn find() -> Result<Bins> {
        let dir = match std::env::var_os("GOVCHAIN_K8S_BIN") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let root =
                    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf();
                let script = root.join("scripts/k8s-bins.sh");
                let out = tokio::process::Command::new("bash")
                    .arg(&script)
                    .current_dir(&root)
                    .kill_on_drop(true)
                    .output()
                    .await
                    .map_err(|e| Error::io(format!("running {}", script.display()), e))?;
                if !out.status.success() {
                    return Err(Error::BinScript(format!(
                        "{}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    )));
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
                PathBuf::from(line.ok_or_else(|| Error::BinScript("printed no bin dir".into()))?.trim())
            }
        };
        for name in Self::ALL {
            if !dir.join(name).is_file() {
                return Err(Error::MissingBinary { name: name.to_string(), dir });
            }
        }
        Ok(Bins { dir })
    }
}

/// (namespace, pod, container).
pub(crate) type ContainerKey = (String, String, String);

/// State shared between the [`TestEnv`] handle and its thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub subnet: Subnet,
    pub cluster_domain: String,
    pub kubeconfig: PathBuf,
    pub apiserver_port: u16,
    /// Every DNS name the agent publishes (FQDNs and `<svc>.<ns>.svc`).
    pub dns: Mutex<BTreeMap<String, IpAddr>>,
    /// Running containers: (namespace, pod, container) -> (pod uid, pid).
    pub pids: Mutex<BTreeMap<ContainerKey, (String, u32)>>,
}

impl Shared {
    pub fn pod_log_path(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir.join("logs/pods").join(namespace).join(format!("{name}.log"))
    }
}

/// The environment's own thread: a current-thread tokio runtime that runs the
/// node agent and from which every child process is started (so
/// `PR_SET_PDEATHSIG`, which follows the parent *thread*, fires exactly when
/// the environment ends or the process dies).
#[derive(Debug)]
struct EnvThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl EnvThread {
    fn spawn(name: String) -> Result<EnvThread> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stop_rx.await;
                });
                // Dropping the runtime drops every agent task, whose process
                // handles kill and reap their process groups.
                drop(runtime);
            })
            .map_err(|e| Error::io("starting the environment thread", e))?;
        let handle = handle_rx.recv().map_err(|e| Error::Thread(e.to_string()))?.map_err(Error::Thread)?;
        Ok(EnvThread { handle, stop: Some(stop_tx), join: Some(join) })
    }

    /// Runs `fut` on the environment thread and awaits its result.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.handle.spawn(fut).await.map_err(|e| Error::Thread(e.to_string()))?
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// A running control plane (and, once started, the node agent). Dropping it
/// stops everything.
pub struct TestEnv {
    shared: Arc<Shared>,
    bins: Bins,
    client: kube::Client,
    thread: EnvThread,
    /// etcd, kube-apiserver, kube-controller-manager (stopped in reverse).
    control: Vec<proc::Proc>,
    agent_started: bool,
    dir: Option<tempfile::TempDir>,
    _subnet_lock: File,
}

impl TestEnv {
    /// Starts etcd, kube-apiserver and kube-controller-manager, and the node
    /// agent when `opts.agent` is set. Returns once the apiserver is ready
    /// and the controller manager has created the `default` ServiceAccount.
    /// A missing binary or a component that does not come up is an error
    /// (with the tail of its log), never a skip.
    pub async fn start(opts: TestEnvOptions) -> Result<TestEnv> {
        let started = Instant::now();
        let bins = Bins::find().await?;
        let (subnet, subnet_lock) = lock_subnet()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("govchain-testenv-127.{}-", subnet.x))
            .tempdir()
            .map_err(|e| Error::io("creating the environment directory", e))?;
        let keep = opts.keep_dir || std::env::var_os("GOVCHAIN_TESTENV_KEEP").is_some();
        let dir_path = dir.path().to_path_buf();
        let shared = Arc::new(Shared {
            dir: dir_path.clone(),
            subnet,
            cluster_domain: opts.cluster_domain.clone(),
            kubeconfig: dir_path.join("kubeconfig"),
            apiserver_port: 6443,
            dns: Mutex::new(BTreeMap::new()),
            pids: Mutex::new(BTreeMap::new()),
        });
        let mut thread = EnvThread::spawn(format!("govchain-testenv-127.{}", subnet.x))?;
        let control = {
            let shared = shared.clone();
            let bins = bins.clone();
            let timeout = opts.startup_timeout;
            thread.run(async move { controlplane::start(&shared, &bins, timeout).await }).await
        };
        let control = match control {
            Ok(c) => c,
            Err(e) => {
                thread.stop();
                if keep {
                    let _ = dir.keep();
                }
                return Err(e);
            }
        };
        let client = controlplane::client(&shared.kubeconfig).await?;
        let mut env = TestEnv {
            shared,
            bins,
            client,
            thread,
            control,
            agent_started: false,
            dir: Some(dir),
            _subnet_lock: subnet_lock,
        };
        if keep && let Some(dir) = env.dir.take() {
            let _ = dir.keep();
        }
        if let Some(agent) = opts.agent {
            env.start_agent(agent).await?;
        }
        tracing::info!(
            target: "govchain::testenv",
            dir = %env.shared.dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "test environment up"
        );
        Ok(env)
    }

    /// Starts the node agent (one Node, the scheduler, the pod runner and the
    /// service proxy). Returns once the Node is registered and Ready.
    pub async fn start_agent(&mut self, config: AgentConfig) -> Result<()> {
        if self.agent_started {
            return Err(Error::AgentRunning);
        }
        self.agent_started = true;
        let shared = self.shared.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        self.thread.handle.spawn(async move {
            agent::run(shared, config, ready_tx).await;
        });
        ready_rx.await.map_err(|_| Error::Agent("the agent stopped while starting".into()))?
    }

    /// The admin kubeconfig (client certificate with `O=system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.shared.kubeconfig
    }

    /// A client with admin rights (a clone of one made at start, in the
    /// caller's runtime: a client's connections live in the runtime that
    /// made it, so a test that uses the environment from another runtime
    /// takes [`TestEnv::new_client`]).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A new admin client, made in the calling runtime.
    pub async fn new_client(&self) -> Result<kube::Client> {
        kube::Client::try_from(self.config().await?).map_err(Error::Kube)
    }

    /// The admin client configuration (what the kubeconfig says), e.g. for
    /// an operator run in the test process.
    pub async fn config(&self) -> Result<kube::Config> {
        controlplane::config(&self.shared.kubeconfig).await
    }

    /// The apiserver's URL (`https://127.X.255.254:6443`).
    pub fn apiserver_url(&self) -> String {
        format!("https://{}:{}", self.shared.subnet.control_plane_ip(), self.shared.apiserver_port)
    }

    /// The directory holding etcd, kube-apiserver, kube-controller-manager,
    /// kubectl and helm.
    pub fn bin_dir(&self) -> &Path {
        &self.bins.dir
    }

    /// The environment's directory: `logs/` (one file per component, one per
    /// pod under `logs/pods/<ns>/<name>.log`), `pki/`, `pods/`, `volumes/`.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The cluster DNS domain.
    pub fn cluster_domain(&self) -> &str {
        &self.shared.cluster_domain
    }

    /// The loopback range Service cluster IPs come from (`127.X.0.0/18`).
    pub fn service_cidr(&self) -> String {
        self.shared.subnet.service_cidr()
    }

    /// Runs the environment's kubectl with `--kubeconfig` (asynchronously: the
    /// agent keeps running while kubectl waits).
    pub async fn kubectl<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("kubectl", args, None).await
    }

    /// Like [`TestEnv::kubectl`] with `input` on stdin (`kubectl apply -f -`).
    pub async fn kubectl_with_input<I, S>(&self, args: I, input: &[u8]) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("kubectl", args, Some(input)).await
    }

    /// Runs kubectl and returns its stdout, or [`Error::Command`] with its
    /// stderr when it fails.
    pub async fn kubectl_ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.kubectl(&args).await?;
        checked("kubectl", &args, out)
    }

    /// Runs the environment's helm with `--kubeconfig` and helm's cache,
    /// config and data dirs inside the environment directory.
    pub async fn helm<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("helm", args, None).await
    }

    async fn tool<I, S>(&self, name: &str, args: I, input: Option<&[u8]>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(self.bins.get(name));
        cmd.arg("--kubeconfig")
            .arg(&self.shared.kubeconfig)
            .args(args)
            .kill_on_drop(true)
            .stdin(if input.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if name == "helm" {
            let helm = self.shared.dir.join("helm");
            cmd.env("HELM_CACHE_HOME", helm.join("cache"))
                .env("HELM_CONFIG_HOME", helm.join("config"))
                .env("HELM_DATA_HOME", helm.join("data"));
        }
        let mut child = cmd.spawn().map_err(|e| Error::io(format!("running {name}"), e))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(input).await.map_err(|e| Error::io(format!("writing {name}'s stdin"), e))?;
        }
        child.wait_with_output().await.map_err(|e| Error::io(format!("running {name}"), e))
    }

    /// The address a cluster DNS name resolves to in this environment (what a
    /// pod's `/etc/hosts` says): `<svc>.<ns>.svc[.<domain>]`,
    /// `<hostname>.<subdomain>.<ns>.svc.<domain>`. A trailing dot is ignored.
    pub fn resolve(&self, name: &str) -> Option<IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let dns = self.shared.dns.lock().unwrap_or_else(|e| e.into_inner());
        dns.get(&name).copied()
    }

    /// Everything the pod's containers wrote to stdout and stderr so far (all
    /// containers, all restarts, and earlier pods of the same name), with a
    /// header line per container start. Empty when there is none.
    pub fn pod_log(&self, namespace: &str, name: &str) -> String {
        let bytes = std::fs::read(self.shared.pod_log_path(namespace, name)).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The path of that log file.
    pub fn pod_log_path(&self, namespace: &str, name: &str) -> PathBuf {
        self.shared.pod_log_path(namespace, name)
    }

    /// Process ids of the running containers of a pod (one per running
    /// container; each is its container's process group leader).
    pub fn pod_pids(&self, namespace: &str, name: &str) -> Vec<u32> {
        let pids = self.shared.pids.lock().unwrap_or_else(|e| e.into_inner());
        pids.iter()
            .filter(|((ns, pod, _), _)| ns == namespace && pod == name)
            .map(|(_, (_, pid))| *pid)
            .collect()
    }

    /// Runs `command` inside a running container (its mount and UTS
    /// namespaces, root, working directory and environment), the way
    /// `kubectl exec` would; `container` None means the pod's first running
    /// container. (`kubectl exec` and `kubectl logs` themselves need a real
    /// kubelet; use this and [`TestEnv::pod_log`].)
    pub async fn exec<S: AsRef<OsStr>>(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[S],
    ) -> Result<Output> {
        let pid = {
            let pids = self.shared.pids.lock().unwrap_or_else(|e| e.into_inner());
            pids.iter()
                .find(|((ns, p, c), _)| ns == namespace && p == pod && container.is_none_or(|want| want == c))
                .map(|(_, (_, pid))| *pid)
        };
        let pid = pid.ok_or_else(|| {
            Error::Agent(format!("no running container {container:?} in pod {namespace}/{pod}"))
        })?;
        let environ = std::fs::read(format!("/proc/{pid}/environ"))
            .map_err(|e| Error::io(format!("reading the environment of pid {pid}"), e))?;
        let env = environ
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<Vec<_>>();
        tokio::process::Command::new(proc::which("nsenter")?)
            .arg("-t")
            .arg(pid.to_string())
            .args(["-m", "-u", "-r", "-w", "--"])
            .args(command)
            .env_clear()
            .envs(env)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::io("running nsenter", e))
    }

    /// Process ids of the control plane (etcd, kube-apiserver,
    /// kube-controller-manager), for tests that check nothing outlives the
    /// environment.
    pub fn control_plane_pids(&self) -> Vec<u32> {
        self.control.iter().filter_map(|p| p.pid()).collect()
    }
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("dir", &self.shared.dir)
            .field("apiserver", &self.apiserver_url())
            .field("bin_dir", &self.bins.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // The agent first (its runtime drop kills every pod), then the
        // control plane, newest first.
        self.thread.stop();
        while let Some(p) = self.control.pop() {
            tracing::debug!(target: "govchain::testenv", component = p.name(), "stopping");
            drop(p);
        }
    }
}

fn checked(tool: &str, args: &[std::ffi::OsString], out: Output) -> Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let command = std::iter::once(tool.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    Err(Error::Command {
        command,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Polls `check` every 100 ms until it yields `Some`, for at most `timeout`;
/// the error names `what`. For tests: a bounded wait with a clear message,
/// never a timed assertion.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout { what: what.to_string(), timeout });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
