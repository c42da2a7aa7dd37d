//! The govchain Kubernetes operator: reconciles `Chain` resources
//! (`govchain-crds`) into the chain CA and node certificates (Secrets), the
//! genesis and node configs (a ConfigMap), one StatefulSet per node group,
//! headless and client Services, a PodDisruptionBudget and a NetworkPolicy,
//! and reports the chain's health (read from the nodes) in the Chain's
//! status. Day-2 changes go through consensus membership one node at a time.
//!
//! Reconcile = read -> validate (pure, `govchain-crds`) -> build the desired
//! objects (pure, [`render`]) -> apply (server-side apply, field manager
//! `govchain-operator`, force; create-only for what must never change: the
//! CA and the genesis) -> status. Every step is idempotent, so an operator
//! killed at any point converges when it starts again.
//!
//! Not for: running nodes itself (the kubelet does), the api's approvals
//! (the api's Kubernetes driver writes `Chain` resources).

pub mod leader;
pub mod member;
pub mod metrics;
pub mod names;
pub mod nodes;
pub mod pki;
pub mod reconcile;
pub mod render;

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use govchain_crds::{Chain, ChainMember};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Secret, Service},
};
use kube::{
    Api, Client,
    runtime::{
        Controller,
        events::{Recorder, Reporter},
        reflector::ObjectRef,
        watcher,
    },
};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "govchain-operator";

/// Errors of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a call.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The Chain's spec breaks a rule (the CRD's, checked again here).
    #[error("{0}")]
    Invalid(String),
    /// Certificates or keys could not be made or read.
    #[error("certificates: {0}")]
    Pki(String),
    /// A node did not answer as expected (status, membership calls).
    #[error("nodes: {0}")]
    Node(String),
    /// A stored object (genesis, config) does not parse.
    #[error("stored state: {0}")]
    State(String),
}

impl Error {
    /// A short category: the `error` label of the reconcile metric and the
    /// reason of the Warning Event.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApi",
            Error::Invalid(_) => "InvalidSpec",
            Error::Pki(_) => "Certificates",
            Error::Node(_) => "Nodes",
            Error::State(_) => "StoredState",
        }
    }
}

/// Result of the operator.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What every reconcile shares.
#[derive(Clone)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The cluster DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Namespace of the chains' CA Secrets ([`Settings::ca_namespace`]).
    pub ca_namespace: String,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Plain HTTP client for the nodes' client API.
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cluster_domain", &self.cluster_domain)
            .field("ca_namespace", &self.ca_namespace)
            .finish_non_exhaustive()
    }
}

/// Operator settings (the binary's flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster DNS domain.
    pub cluster_domain: String,
    /// Watch only this namespace (all when `None`).
    pub namespace: Option<String>,
    /// Where the chains' CA and operator-identity Secrets live: a namespace
    /// only the operator reads, apart from the departments' (whose
    /// namespaces hold node keys and CA certificates only).
    pub ca_namespace: String,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, settings: &Settings, metrics: Arc<metrics::Metrics>) -> Result<Context> {
        let reporter =
            Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        let http = reqwest::Client::builder()
            .timeout(nodes::STATUS_TIMEOUT)
            .build()
            .map_err(|e| Error::Node(format!("HTTP client: {e}")))?;
        Ok(Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            cluster_domain: settings.cluster_domain.clone(),
            ca_namespace: settings.ca_namespace.clone(),
            metrics,
            http,
        })
    }
}

/// Runs the Chain controller until the stream ends (shutdown signal).
pub async fn run_controller(ctx: Arc<Context>, namespace: Option<&str>) {
    let client = ctx.client.clone();
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let (chains, sts, svc, cms, secrets) = (
        api::<Chain>(&client, namespace),
        api::<StatefulSet>(&client, namespace),
        api::<Service>(&client, namespace),
        api::<ConfigMap>(&client, namespace),
        api::<Secret>(&client, namespace),
    );
    let owned = || {
        watcher::Config::default().labels(&format!("{}={}", govchain_crds::labels::MANAGED_BY, FIELD_MANAGER))
    };
    // ChainMembers live in other namespaces: watched cluster-wide, each
    // wakes the Chain it names (whose reconcile drives it).
    let members: Api<ChainMember> = Api::all(client.clone());
    let chain_of =
        |m: ChainMember| Some(ObjectRef::<Chain>::new(&m.spec.chain.name).within(&m.spec.chain.namespace));
    let member_controller =
        Controller::new(Api::<ChainMember>::all(client.clone()), watcher::Config::default())
            .shutdown_on_signal()
            .run(member::reconcile, member::error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(target: "govchain::operator", error = %e, "member reconcile stream");
                }
            });
    let chain_controller = Controller::new(chains, watcher::Config::default())
        .watches(members, watcher::Config::default(), chain_of)
        .owns(sts, owned())
        .owns(svc, owned())
        .owns(cms, owned())
        .owns(secrets, owned())
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(target: "govchain::operator", error = %e, "reconcile stream");
            }
        });
    futures_util::join!(chain_controller, member_controller);
}

/// Adds (`present`) or removes `finalizer` on `obj`: a merge patch of the
/// finalizer list guarded by the object's resourceVersion (a conflict is
/// retried by the next reconcile); an object already gone is fine.
pub async fn set_finalizer<K>(client: &Client, obj: &K, finalizer: &str, present: bool) -> Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let has = obj.meta().finalizers.iter().flatten().any(|f| f == finalizer);
    if has == present {
        return Ok(());
    }
    let mut list: Vec<String> =
        obj.meta().finalizers.iter().flatten().filter(|f| *f != finalizer).cloned().collect();
    if present {
        list.push(finalizer.into());
    }
    let api: Api<K> = Api::namespaced(client.clone(), obj.meta().namespace.as_deref().unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {"finalizers": list, "resourceVersion": obj.meta().resource_version},
    });
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// How soon to look again while a chain is not Ready.
pub const REQUEUE_PROGRESSING: Duration = Duration::from_secs(3);
/// How often to refresh the status of a Ready chain.
pub const REQUEUE_READY: Duration = Duration::from_secs(10);
