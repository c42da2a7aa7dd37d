//! `govchain-operator`: runs the Chain controller under leader election and
//! serves `/metrics`, `/healthz`, `/readyz`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use govchain_operator::{
    Context, Settings,
    leader::{Elector, LeaseConfig},
    metrics::{self, Metrics},
};

/// The govchain Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "govchain-operator", version)]
struct Args {
    /// Kubeconfig file; in-cluster configuration (or $KUBECONFIG) when unset.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Cluster DNS domain the nodes' peer names use.
    #[arg(long, default_value = "cluster.local", env = "GOVCHAIN_CLUSTER_DOMAIN")]
    cluster_domain: String,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_listen: SocketAddr,
    /// Namespace of the leader-election Lease (default: the operator's own, $POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "govchain-operator")]
    leader_election_name: String,
    /// Seconds a leader's claim lasts without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_secs: u64,
    /// Watch only this namespace (all namespaces when unset).
    #[arg(long)]
    namespace: Option<String>,
    /// Namespace of every chain's CA and operator-identity Secrets, which
    /// only the operator reads (default: the leader-election namespace, the
    /// operator's own).
    #[arg(long, env = "GOVCHAIN_CA_NAMESPACE")]
    ca_namespace: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_runtime=warn,kube_client=warn".into()),
        )
        .init();
    let args = Args::parse();
    let client = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                    .await
                    .context("kubeconfig")?;
            kube::Client::try_from(config).context("Kubernetes client")?
        }
        None => kube::Client::try_default().await.context("in-cluster Kubernetes client")?,
    };
    let metrics = Arc::new(Metrics::default());
    let server = tokio::spawn(metrics::serve(args.metrics_listen, metrics.clone()));
    client.apiserver_version().await.context("reaching the Kubernetes API")?;
    metrics.set_ready(true);

    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let own_namespace = args.leader_election_namespace.clone().unwrap_or_else(|| "default".into());
    let lease = LeaseConfig {
        namespace: own_namespace.clone(),
        name: args.leader_election_name.clone(),
        identity,
        duration: Duration::from_secs(args.lease_duration_secs.max(2)),
        retry: Duration::from_secs((args.lease_duration_secs / 3).max(1)),
    };
    let elector = Elector::new(client.clone(), lease);
    tracing::info!(target: "govchain::operator", "waiting for the leader lease");
    elector.acquire().await?;
    metrics.leader.set(1);

    let settings = Settings {
        cluster_domain: args.cluster_domain.clone(),
        namespace: args.namespace.clone(),
        ca_namespace: args.ca_namespace.clone().unwrap_or(own_namespace),
    };
    let ctx = Arc::new(Context::new(client, &settings, metrics.clone())?);
    tokio::select! {
        () = govchain_operator::run_controller(ctx, settings.namespace.as_deref()) => {
            tracing::info!(target: "govchain::operator", "shutting down");
            elector.release().await;
        }
        () = elector.hold() => {
            metrics.leader.set(0);
            anyhow::bail!("lost the leader lease; exiting so a fresh start competes again");
        }
        r = server => {
            r.context("metrics server task")?.context("metrics server")?;
        }
    }
    Ok(())
}
