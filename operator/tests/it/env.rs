//! A test environment with the CRDs installed and the operator running as
//! its own process.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use govchain_crypto::Suite;
use govchain_operator::{
    names::{self, Names},
    nodes::Admin,
    render,
};
use govchain_testenv::{AgentConfig, TestEnv, TestEnvOptions};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, api::ListParams};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The operator's CA namespace: every chain's CA and operator identity
/// Secrets, apart from the departments' namespaces.
pub const CA_NS: &str = "govchain-system";

/// The environment plus the operator process.
pub struct Env {
    pub env: TestEnv,
    operator: Option<Child>,
    log: PathBuf,
    starts: u32,
}

impl Env {
    /// Control plane, node agent (image `govchain/node` -> the node binary), CRDs, operator.
    pub async fn start() -> Env {
        let node = govchain_driver::testing::node_bin();
        let opts = TestEnvOptions {
            agent: Some(AgentConfig::default().image("govchain/node", node)),
            ..TestEnvOptions::default()
        };
        let env = TestEnv::start(opts).await.expect("test environment");
        let log = env.dir().join("logs/operator.log");
        let mut me = Env { env, operator: None, log, starts: 0 };
        for file in ["crds/govchain.io_chains.yaml", "crds/govchain.io_chainmembers.yaml"] {
            me.kubectl(&["apply", "--server-side", "-f", repo().join(file).to_str().unwrap()]).await;
        }
        me.kubectl(&["wait", "--for=condition=Established", "crd/chains.govchain.io", "--timeout=60s"]).await;
        me.kubectl(&["create", "namespace", CA_NS]).await;
        me.start_operator();
        me
    }

    /// Starts the operator (its log appends to `logs/operator.log`).
    pub fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "the operator already runs");
        self.starts += 1;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_govchain-operator"))
            .arg("--kubeconfig")
            .arg(self.env.kubeconfig())
            .args(["--cluster-domain", self.env.cluster_domain()])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--leader-election-namespace", "default"])
            .args(["--ca-namespace", CA_NS])
            .args(["--lease-duration-secs", "6"])
            .env("RUST_LOG", "info,govchain=debug,kube_runtime=warn")
            .env_remove("POD_NAME")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting govchain-operator");
        self.operator = Some(child);
    }

    /// Kills the operator at once (SIGKILL: a crash, no lease release).
    pub fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last `n` lines of the operator's log.
    pub fn operator_log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The operator's admin client of chain `chain` in `ns` (a gm chain): its
    /// identity and CA from the CA namespace, dialing the chain's own pods at
    /// their IPs. `None` while the Secrets are not there.
    pub async fn chain_admin(&self, kube: &kube::Client, ns: &str, chain: &str) -> Option<Admin> {
        let names = Names::new(chain, ns, self.env.cluster_domain());
        let secrets: Api<Secret> = Api::namespaced(kube.clone(), CA_NS);
        let ca = render::secret_text(&secrets.get(&names.ca_secret()).await.ok()?);
        let admin = render::secret_text(&secrets.get(&names.admin_secret()).await.ok()?);
        let pods: Api<Pod> = Api::namespaced(kube.clone(), ns);
        let list =
            pods.list(&ListParams::default().labels(&format!("govchain.io/chain={chain}"))).await.ok()?;
        let addresses: BTreeMap<String, SocketAddr> = list
            .items
            .iter()
            .filter_map(|p| {
                let ip = p.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?;
                Some((names.peer_host(p.metadata.name.as_deref()?), SocketAddr::new(ip, names::P2P_PORT)))
            })
            .collect();
        Admin::from_secrets(Suite::Gm, &ca, &admin, addresses).ok()
    }

    /// kubectl; panics with its stderr when it fails.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        match self.env.kubectl_ok(args).await {
            Ok(out) => out,
            Err(e) => panic!(
                "kubectl {}: {e}\n--- operator log ---\n{}",
                args.join(" "),
                self.operator_log_tail(40)
            ),
        }
    }

    /// kubectl's (success, stdout + stderr) without panicking.
    pub async fn kubectl_try(&self, args: &[&str]) -> (bool, String) {
        let out = self.env.kubectl(args).await.unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// What a failed wait prints: the operator's log tail and `kubectl get`.
    pub async fn diagnostics(&self, ns: &str) -> String {
        let (_, get) = self
            .kubectl_try(&[
                "get",
                "chains,statefulsets,pods,services,configmaps,secrets,pvc",
                "-n",
                ns,
                "-o",
                "wide",
            ])
            .await;
        let (_, chain) = self.kubectl_try(&["get", "chains", "-n", ns, "-o", "yaml"]).await;
        format!(
            "--- kubectl get ---\n{get}\n--- chains ---\n{chain}\n--- operator log (tail) ---\n{}",
            self.operator_log_tail(60)
        )
    }

    /// Polls `check` every 500 ms for at most `timeout`; on timeout panics
    /// with `what` and the diagnostics of `ns`.
    pub async fn wait<T, F, Fut>(&self, what: &str, ns: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}\n{}", self.diagnostics(ns).await);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `kubectl get <what> -o jsonpath=<path>` (empty on failure).
    pub async fn jsonpath(&self, ns: &str, what: &str, path: &str) -> String {
        let (ok, out) = self.kubectl_try(&["get", what, "-n", ns, "-o", &format!("jsonpath={path}")]).await;
        if ok { out } else { String::new() }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_operator();
    }
}
