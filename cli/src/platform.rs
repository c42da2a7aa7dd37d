//! `govchain up`: the whole platform on this machine with its embedded
//! defaults — the control plane on SQLite and the local process driver,
//! whose chain nodes are children of this process; or, with `--driver
//! kubernetes`, with chains run by the govchain operator on a Kubernetes
//! cluster.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use govchain_driver::{HostDriver, KubeDriver, KubeDriverConfig, LocalDriver, NamespaceAccess, NodeProgram};

/// Target of the platform's lifecycle events (its `system` log).
const SYSTEM: &str = "govchain::system::platform";

/// Where `govchain up` runs chain nodes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    /// Child processes of this process on loopback addresses.
    Local,
    /// `Chain` resources on a Kubernetes cluster, run by the govchain operator.
    Kubernetes,
}

/// Options of `govchain up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Data directory: the database and every chain's nodes.
    #[arg(long, default_value = ".govchain")]
    pub data: PathBuf,
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL (`postgres://...`); the default is SQLite in the data directory.
    #[arg(long, env = "GOVCHAIN_DATABASE_URL")]
    pub database: Option<String>,
    /// Password of the first super admin (first run only); random and
    /// printed once when not given.
    #[arg(long, env = "GOVCHAIN_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Idle timeout of browser sessions, seconds.
    #[arg(long, default_value_t = 30 * 60)]
    pub idle_timeout_secs: u64,
    /// How often the nodes' metrics are collected into the database, seconds.
    #[arg(long, default_value_t = 15)]
    pub metrics_interval_secs: u64,
    /// How long collected raw metrics are kept, hours (1-minute averages
    /// 7 days, 1-hour averages 30 days unless set below).
    #[arg(long, default_value_t = 24)]
    pub metrics_raw_hours: u64,
    /// How long 1-minute averages are kept, days.
    #[arg(long, default_value_t = 7)]
    pub metrics_minute_days: u64,
    /// How long 1-hour averages are kept, days.
    #[arg(long, default_value_t = 30)]
    pub metrics_hour_days: u64,
    /// Where chain nodes run.
    #[arg(long, value_enum, default_value = "local")]
    pub driver: DriverKind,
    /// Kubernetes driver: the kubeconfig of the cluster (default: KUBECONFIG,
    /// ~/.kube/config or the pod's service account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes driver: the node image repository.
    #[arg(long, default_value = "govchain/node")]
    pub node_image: String,
    /// Kubernetes driver: the node image tag.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub node_version: String,
    /// Kubernetes driver: prefix of the organizations' namespaces.
    #[arg(long, default_value = "govchain-")]
    pub namespace_prefix: String,
    /// Kubernetes driver: the cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Kubernetes driver: StorageClass of node volumes (the cluster's default when not given).
    #[arg(long)]
    pub storage_class: Option<String>,
    /// Kubernetes driver: how long a chain gets to become Ready, seconds.
    #[arg(long, default_value_t = 300)]
    pub ready_timeout_secs: u64,
    /// Kubernetes driver: a ClusterRole (reading ConfigMaps and Secrets) the
    /// api binds to its own service account in each organization namespace,
    /// instead of holding cluster-wide Secret access (the Helm chart's
    /// `<api>-namespace`). Needs --service-account and
    /// --service-account-namespace.
    #[arg(long, env = "GOVCHAIN_NAMESPACE_ROLE")]
    pub namespace_role: Option<String>,
    /// Kubernetes driver: the api's service account (with --namespace-role).
    #[arg(long, env = "GOVCHAIN_SERVICE_ACCOUNT")]
    pub service_account: Option<String>,
    /// Kubernetes driver: the namespace of the api's service account (with
    /// --namespace-role).
    #[arg(long, env = "POD_NAMESPACE")]
    pub service_account_namespace: Option<String>,
    /// Take backups of the platform database into this directory (full and
    /// incremental, each with a JSON export per table); none when not
    /// given. With several replicas, give it to one.
    #[arg(long, env = "GOVCHAIN_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Hours between full backups.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub backup_full_hours: u64,
    /// Minutes between incremental backups.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub backup_incremental_minutes: u64,
    /// Full backups kept, each with its incrementals.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub backup_keep: u64,
    /// This replica's own log store (JSON lines by type: run, system,
    /// error); default `<data>/logs`.
    #[arg(long, env = "GOVCHAIN_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Days of log files kept besides today's.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub log_retention_days: u32,
    /// Most MiB the log files take together; the oldest go first.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub log_budget_mb: u64,
    /// The SMTP server alert e-mails go through; without it e-mail
    /// notifications are recorded as failed.
    #[arg(long, env = "GOVCHAIN_SMTP_HOST", help_heading = "Alert e-mail")]
    pub smtp_host: Option<String>,
    /// Its port.
    #[arg(long, default_value_t = 587, help_heading = "Alert e-mail")]
    pub smtp_port: u16,
    /// How the connection is secured: `starttls` (required), `tls` (SMTPS,
    /// usually port 465) or `none` (a local relay only).
    #[arg(long, default_value = "starttls", help_heading = "Alert e-mail")]
    pub smtp_tls: govchain_api::services::alerts::channels::SmtpTls,
    /// The login, when the server wants one.
    #[arg(long, env = "GOVCHAIN_SMTP_USER", help_heading = "Alert e-mail")]
    pub smtp_user: Option<String>,
    /// Its password.
    #[arg(long, env = "GOVCHAIN_SMTP_PASSWORD", hide_env_values = true, help_heading = "Alert e-mail")]
    pub smtp_password: Option<String>,
    /// The sender, e.g. `govchain <alerts@example.gov>`.
    #[arg(
        long,
        env = "GOVCHAIN_SMTP_FROM",
        default_value = "govchain <alerts@localhost>",
        help_heading = "Alert e-mail"
    )]
    pub smtp_from: String,
}

impl UpArgs {
    fn kube_config(&self) -> anyhow::Result<KubeDriverConfig> {
        let mut c = KubeDriverConfig::new(self.node_version.clone());
        if let Some(role) = &self.namespace_role {
            let (Some(account), Some(ns)) = (&self.service_account, &self.service_account_namespace) else {
                anyhow::bail!(
                    "--namespace-role needs --service-account and --service-account-namespace (the api's own service account)"
                );
            };
            c.namespace_access = Some(NamespaceAccess {
                cluster_role: role.clone(),
                service_account_namespace: ns.clone(),
                service_account: account.clone(),
            });
        }
        c.node_image.clone_from(&self.node_image);
        c.namespace_prefix.clone_from(&self.namespace_prefix);
        c.cluster_domain.clone_from(&self.cluster_domain);
        c.storage_class.clone_from(&self.storage_class);
        c.ready_timeout = std::time::Duration::from_secs(self.ready_timeout_secs.max(1));
        Ok(c)
    }
}

/// The id of the host whose nodes live in `data` (made on first use).
fn host_id(data: &std::path::Path) -> anyhow::Result<String> {
    let path = data.join("host-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() && id.len() <= 64 {
            return Ok(id.to_owned());
        }
    }
    let id = format!("host-{}", &govchain_api::auth::random_token()[..16]);
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Runs the platform until SIGINT or SIGTERM; then stops the chain nodes
/// (their data stays and the next `up` resumes them).
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    // A refused setting fails before anything is created.
    let mut settings = govchain_api::ApiConfig::new(String::new(), args.listen);
    settings.admin_password.clone_from(&args.admin_password);
    settings.check()?;
    std::fs::create_dir_all(&args.data).with_context(|| format!("creating {}", args.data.display()))?;
    let data = std::fs::canonicalize(&args.data)?;
    let logs = govchain_logstore::LogConfig {
        dir: args.log_dir.clone().unwrap_or_else(|| data.join("logs")),
        retention_days: args.log_retention_days,
        budget_bytes: args.log_budget_mb.saturating_mul(1024 * 1024),
    };
    logs.validate()?;
    govchain_node::init_logging(logs.clone());
    tracing::info!(target: SYSTEM, data = %data.display(), listen = %args.listen, driver = ?args.driver,
        "platform starting");
    let database = match args.database.clone() {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", data.join("govchain.db").display()),
    };
    let driver: Arc<dyn HostDriver> = match args.driver {
        DriverKind::Local => {
            let exe = std::env::current_exe().context("locating the govchain binary")?;
            let program = NodeProgram { exe, args: vec!["node".into(), "run".into(), "--config".into()] };
            Arc::new(LocalDriver::new(data.join("hosts"), program)?)
        }
        DriverKind::Kubernetes => Arc::new(
            KubeDriver::connect(args.kubeconfig.as_deref(), args.kube_config()?)
                .await
                .context("connecting to Kubernetes")?,
        ),
    };
    let mut config = govchain_api::ApiConfig::new(database, args.listen);
    config.admin_password = args.admin_password;
    if args.driver == DriverKind::Local {
        // Chain nodes run on this machine: jobs on its chains stay with
        // replicas using this data directory.
        config.host = Some(host_id(&data)?);
    }
    config.idle_timeout = std::time::Duration::from_secs(args.idle_timeout_secs.max(1));
    if let Some(dir) = &args.backup_dir {
        let mut s = govchain_api::backup::Schedule::new(dir);
        s.full_every = std::time::Duration::from_secs(args.backup_full_hours * 3600);
        s.incremental_every = std::time::Duration::from_secs(args.backup_incremental_minutes * 60);
        s.keep = usize::try_from(args.backup_keep).unwrap_or(usize::MAX);
        config.backup = Some(s);
    }
    config.metrics_interval = std::time::Duration::from_secs(args.metrics_interval_secs.max(1));
    config.metrics_retention = govchain_api::services::metrics::Retention {
        raw: std::time::Duration::from_secs(args.metrics_raw_hours.max(1) * 3600),
        minute: std::time::Duration::from_secs(args.metrics_minute_days.max(1) * 86_400),
        hour: std::time::Duration::from_secs(args.metrics_hour_days.max(1) * 86_400),
    };
    config.smtp = args.smtp_host.as_ref().map(|host| govchain_api::services::alerts::channels::SmtpConfig {
        host: host.clone(),
        port: args.smtp_port,
        tls: args.smtp_tls,
        username: args.smtp_user.clone(),
        password: args.smtp_password.clone(),
        from: args.smtp_from.clone(),
    });
    config.ui = Some(govchain_console::server::wrap);
    config.logs = Some(logs);
    let platform = govchain_api::start(config, driver).await?;
    println!("url={}", platform.url);
    println!("console={}/", platform.url);
    if let Some((user, password)) = &platform.first_admin {
        println!("admin={user} password={password}");
        println!("note: the password is shown only now; change it after logging in");
    }
    println!("openapi={}/api/openapi.json", platform.url);
    if let Some(b) = &platform.state.config.backup {
        println!("backups={}", b.dir.display());
    }
    println!("data={}", data.display());
    tracing::info!(target: SYSTEM, url = %platform.url, "platform started");
    let exe = std::env::current_exe().map_or_else(|_| "govchain".into(), |p| p.display().to_string());
    println!("try: {exe} login --api {} --user {}", platform.url, platform.state.config.admin_username);
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    if args.driver == DriverKind::Kubernetes {
        eprintln!("stopping: the chains keep running on Kubernetes");
    } else {
        eprintln!("stopping: chain nodes are stopped, their data is kept");
    }
    tracing::info!(target: SYSTEM, "platform stopping");
    platform.shutdown().await;
    tracing::info!(target: SYSTEM, "platform stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        up: UpArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<KubeDriverConfig> {
        Up::try_parse_from(std::iter::once("up").chain(args.iter().copied())).unwrap().up.kube_config()
    }

    #[test]
    fn namespace_role_binds_the_named_service_account() {
        let c = config(&[
            "--namespace-role=gc-govchain-api-namespace",
            "--service-account=gc-govchain-api",
            "--service-account-namespace=govchain-system",
        ])
        .unwrap();
        assert_eq!(
            c.namespace_access,
            Some(NamespaceAccess {
                cluster_role: "gc-govchain-api-namespace".into(),
                service_account_namespace: "govchain-system".into(),
                service_account: "gc-govchain-api".into(),
            })
        );
        assert_eq!(config(&[]).unwrap().namespace_access, None);
    }

    #[tokio::test]
    async fn a_refused_admin_password_is_said_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut args =
            Up::try_parse_from(["up", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()])
                .unwrap()
                .up;
        args.admin_password = Some("short".into());
        args.database = None;
        let err = up(args).await.unwrap_err().to_string();
        assert!(err.contains("admin password is refused") && err.contains("10 to 128"), "{err}");
        assert!(!data.exists(), "the data directory was created before the password was checked");
    }

    #[test]
    fn namespace_role_without_its_service_account_is_refused() {
        let err = config(&["--namespace-role=r", "--service-account=a"]).unwrap_err().to_string();
        assert!(err.contains("--service-account-namespace"), "{err}");
    }
}
