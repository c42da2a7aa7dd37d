//! etcd, kube-apiserver and kube-controller-manager with envtest-style flags.
//!
//! The flags follow controller-runtime's envtest (client-cert auth with a
//! generated CA, service-account signing key and issuer,
//! `--advertise-address`, RBAC, a secure port only) with three differences:
//! everything listens on the environment's own `127.X.255.254` (fixed ports,
//! so no port races between parallel environments), the service range is
//! loopback, and the ServiceAccount admission plugin stays on because the
//! controller manager runs and creates the `default` ServiceAccounts.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::ServiceAccount;

use crate::proc::{Proc, tail};
use crate::{Bins, Error, Result, Shared, pki};

/// Controllers worth running without a kubelet, cloud or CSI. Not the
/// endpoint controllers: EndpointSlices cannot hold the loopback pod IPs.
const CONTROLLERS: &[&str] = &[
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "root-ca-certificate-publisher-controller",
    "resourcequota-controller",
    "ttl-after-finished-controller",
    "clusterrole-aggregation-controller",
    "service-cidr-controller",
];

fn write(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn wrapped(bin: &Path, setpriv: &Path) -> Command {
    let mut cmd = Command::new(setpriv);
    cmd.arg("--pdeathsig").arg("KILL").arg("--").arg(bin);
    cmd
}

/// Starts the control plane; runs on the environment thread.
pub(crate) async fn start(shared: &Shared, bins: &Bins, timeout: Duration) -> Result<Vec<Proc>> {
    let setpriv = crate::proc::which("setpriv")?;
    let dir = &shared.dir;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io("creating logs dir", e))?;
    let ip = shared.subnet.control_plane_ip();
    let svc_ip = shared.subnet.kubernetes_service_ip();
    let domain = &shared.cluster_domain;
    let port = shared.apiserver_port;

    let pki_dir = dir.join("pki");
    let certs = pki::generate(
        &[IpAddr::V4(ip), IpAddr::V4(svc_ip), IpAddr::V4(Ipv4Addr::LOCALHOST)],
        &[
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{domain}"),
        ],
    )?;
    let p = |name: &str| pki_dir.join(name);
    write(&p("ca.crt"), &certs.ca_cert)?;
    write(&p("apiserver.crt"), &certs.serving_cert)?;
    write(&p("apiserver.key"), &certs.serving_key)?;
    write(&p("admin.crt"), &certs.admin_cert)?;
    write(&p("admin.key"), &certs.admin_key)?;
    write(&p("sa.pub"), &certs.sa_public)?;
    write(&p("sa.key"), &certs.sa_private)?;
    let server = format!("https://{ip}:{port}");
    write(&shared.kubeconfig, &kubeconfig(&server, &certs))?;

    let mut procs = Vec::new();

    // etcd
    let etcd_log = logs.join("etcd.log");
    let mut etcd = wrapped(&bins.get("etcd"), &setpriv);
    etcd.arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls=http://{ip}:2379"))
        .arg(format!("--advertise-client-urls=http://{ip}:2379"))
        .arg(format!("--listen-peer-urls=http://{ip}:2380"))
        .arg(format!("--initial-advertise-peer-urls=http://{ip}:2380"))
        .arg(format!("--initial-cluster=default=http://{ip}:2380"))
        .arg("--unsafe-no-fsync")
        .arg("--log-level=warn");
    procs.push(Proc::spawn("etcd", etcd, &etcd_log)?);
    wait_tcp("etcd", &procs[0], &etcd_log, (ip, 2379), timeout).await?;

    // kube-apiserver
    let api_log = logs.join("kube-apiserver.log");
    let mut api = wrapped(&bins.get("kube-apiserver"), &setpriv);
    api.arg(format!("--etcd-servers=http://{ip}:2379"))
        .arg(format!("--advertise-address={ip}"))
        .arg(format!("--bind-address={ip}"))
        .arg(format!("--secure-port={port}"))
        .arg(format!("--cert-dir={}", dir.join("apiserver-certs").display()))
        .arg(format!("--tls-cert-file={}", p("apiserver.crt").display()))
        .arg(format!("--tls-private-key-file={}", p("apiserver.key").display()))
        .arg(format!("--client-ca-file={}", p("ca.crt").display()))
        .arg(format!("--service-account-issuer={server}/"))
        .arg(format!("--service-account-key-file={}", p("sa.pub").display()))
        .arg(format!("--service-account-signing-key-file={}", p("sa.key").display()))
        .arg("--authorization-mode=RBAC")
        .arg(format!("--service-cluster-ip-range={}", shared.subnet.service_cidr()))
        .arg("--allow-privileged=true")
        // The `kubernetes` Endpoints would hold a loopback address, which
        // the apiserver's own validation refuses.
        .arg("--endpoint-reconciler-type=none");
    procs.push(Proc::spawn("kube-apiserver", api, &api_log)?);
    let client = client(&shared.kubeconfig).await?;
    wait_readyz(&client, &procs[1], &api_log, timeout).await?;

    // kube-controller-manager
    let kcm_log = logs.join("kube-controller-manager.log");
    let mut kcm = wrapped(&bins.get("kube-controller-manager"), &setpriv);
    kcm.arg(format!("--kubeconfig={}", shared.kubeconfig.display()))
        .arg("--leader-elect=false")
        .arg(format!("--controllers={}", CONTROLLERS.join(",")))
        .arg(format!("--service-account-private-key-file={}", p("sa.key").display()))
        .arg(format!("--root-ca-file={}", p("ca.crt").display()))
        .arg("--use-service-account-credentials=false")
        .arg(format!("--bind-address={ip}"))
        .arg("--secure-port=10257")
        .arg(format!("--service-cluster-ip-range={}", shared.subnet.service_cidr()))
        .arg("--concurrent-statefulset-syncs=10")
        .arg("--concurrent-gc-syncs=20");
    procs.push(Proc::spawn("kube-controller-manager", kcm, &kcm_log)?);
    wait_default_sa(&client, &procs[2], &kcm_log, timeout).await?;
    Ok(procs)
}

fn kubeconfig(server: &str, certs: &pki::Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: govchain-testenv
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: govchain-testenv
  context:
    cluster: govchain-testenv
    user: admin
    namespace: default
current-context: govchain-testenv
",
        ca = b64(&certs.ca_cert),
        cert = b64(&certs.admin_cert),
        key = b64(&certs.admin_key),
    )
}

/// The configuration a kubeconfig file describes.
pub(crate) async fn config(path: &PathBuf) -> Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))
}

/// A client from a kubeconfig file, in the calling runtime.
pub(crate) async fn client(path: &PathBuf) -> Result<kube::Client> {
    kube::Client::try_from(config(path).await?).map_err(Error::Kube)
}

fn not_ready(component: &str, log: &Path, reason: String) -> Error {
    Error::NotReady { component: component.to_string(), reason, log: log.to_path_buf(), tail: tail(log, 30) }
}

/// Polls `check` every 100 ms until it is true, the process exits, or
/// `timeout` passes.
async fn wait_until<F, Fut>(
    component: &str,
    proc: &Proc,
    log: &Path,
    timeout: Duration,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(status) = proc.try_wait() {
            return Err(not_ready(component, log, format!("exited with {status}")));
        }
        let last = match check().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready(component, log, format!("not ready within {timeout:?} (last: {last})")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_tcp(
    component: &str,
    proc: &Proc,
    log: &Path,
    addr: (Ipv4Addr, u16),
    timeout: Duration,
) -> Result<()> {
    wait_until(component, proc, log, timeout, || async move {
        tokio::net::TcpStream::connect(addr).await.map(drop).map_err(|e| e.to_string())
    })
    .await
}

async fn wait_readyz(client: &kube::Client, proc: &Proc, log: &Path, timeout: Duration) -> Result<()> {
    wait_until("kube-apiserver", proc, log, timeout, || async {
        let req = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
        match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => Ok(()),
            Ok(body) => Err(body),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

async fn wait_default_sa(client: &kube::Client, proc: &Proc, log: &Path, timeout: Duration) -> Result<()> {
    let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), "default");
    wait_until("kube-controller-manager", proc, log, timeout, || async {
        match sas.get_opt("default").await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("no default ServiceAccount yet".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}
