//! The node agent: a test-only stand-in for the kubelet (and the scheduler,
//! and kube-proxy) of one Node.
//!
//! It watches Pods, Services, ConfigMaps, Secrets and PersistentVolumeClaims
//! into reflector stores and works from those in short polling loops: every
//! pending pod is bound to this node, every pod bound here gets a worker task
//! ([`pod`]) that runs its containers, the DNS view ([`dns`]) and the service
//! proxy ([`proxy`]) are recomputed from the stores, and claims are marked
//! Bound (their data is a directory per claim that outlives the pods).

mod dns;
mod node;
mod pod;
mod probe;
mod proxy;
mod volumes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{
    Binding, ConfigMap, ObjectReference, PersistentVolumeClaim, Pod, Secret, Service,
};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use crate::proc::which;
use crate::{Error, Result, Shared};

/// How the node agent runs pods.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Node's name (`govchain-testenv-node`).
    pub node_name: String,
    /// Image repository (tag and digest ignored, e.g. `govchain/node`) ->
    /// the local executable that stands for it. The executable is
    /// bind-mounted at the container's `command[0]` (or at `/<last path
    /// segment of the repository>` when the container has no command). A
    /// container whose image is not listed runs its `command[0]` from the
    /// host's own file system when that is an absolute path that exists
    /// there (`busybox`-style tests); otherwise it waits in
    /// `ErrImagePull`.
    pub images: BTreeMap<String, PathBuf>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig { node_name: "govchain-testenv-node".to_string(), images: BTreeMap::new() }
    }
}

impl AgentConfig {
    /// Adds an image repository -> executable mapping.
    pub fn image(mut self, repository: impl Into<String>, executable: impl Into<PathBuf>) -> Self {
        self.images.insert(repository.into(), executable.into());
        self
    }
}

/// Absolute paths of the host tools the agent runs (so a pod's own PATH
/// cannot change them).
#[derive(Debug)]
pub(crate) struct Tools {
    setpriv: PathBuf,
    unshare: PathBuf,
    sh: PathBuf,
    mount: PathBuf,
    mkdir: PathBuf,
    touch: PathBuf,
    chroot: PathBuf,
    env: PathBuf,
    nsenter: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools> {
        Ok(Tools {
            setpriv: which("setpriv")?,
            unshare: which("unshare")?,
            sh: which("sh")?,
            mount: which("mount")?,
            mkdir: which("mkdir")?,
            touch: which("touch")?,
            chroot: which("chroot")?,
            env: which("env")?,
            nsenter: which("nsenter")?,
        })
    }
}

/// What every agent task shares.
pub(crate) struct Ctx {
    shared: Arc<Shared>,
    client: kube::Client,
    node: String,
    images: BTreeMap<String, PathBuf>,
    tools: Tools,
    pods: Store<Pod>,
    services: Store<Service>,
    configmaps: Store<ConfigMap>,
    secrets: Store<Secret>,
    claims: Store<PersistentVolumeClaim>,
    next_ip: AtomicU32,
    dns: std::sync::RwLock<dns::View>,
}

impl Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Ctx {
    fn get<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        store.get(&ObjectRef::new(name).within(namespace))
    }
    pub(crate) fn configmap(&self, ns: &str, name: &str) -> Option<Arc<ConfigMap>> {
        Self::get(&self.configmaps, ns, name)
    }
    pub(crate) fn secret(&self, ns: &str, name: &str) -> Option<Arc<Secret>> {
        Self::get(&self.secrets, ns, name)
    }
    pub(crate) fn claim(&self, ns: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        Self::get(&self.claims, ns, name)
    }
    pub(crate) fn pod(&self, ns: &str, name: &str) -> Option<Arc<Pod>> {
        Self::get(&self.pods, ns, name)
    }
    pub(crate) fn service(&self, ns: &str, name: &str) -> Option<Arc<Service>> {
        Self::get(&self.services, ns, name)
    }
    pub(crate) fn allocate_ip(&self) -> Option<std::net::Ipv4Addr> {
        self.shared.subnet.pod_ip(self.next_ip.fetch_add(1, Ordering::Relaxed))
    }
}

/// Starts a reflector for `K` (all namespaces) and returns its store once
/// the first list has arrived.
async fn reflect<K>(client: &kube::Client) -> Result<Store<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::debug!(target: "govchain::testenv", error = %e, "watch error");
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), reader.wait_until_ready())
        .await
        .map_err(|_| Error::Agent(format!("no initial list of {} within 30 s", K::kind(&()))))?
        .map_err(|e| Error::Agent(e.to_string()))?;
    Ok(reader)
}

/// Runs the agent until the environment's runtime is dropped; reports the
/// outcome of registration through `ready`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    config: AgentConfig,
    ready: tokio::sync::oneshot::Sender<Result<()>>,
) {
    let ctx = match setup(shared, config).await {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    tokio::spawn(node::heartbeat(ctx.clone()));
    let _ = ready.send(Ok(()));
    main_loop(ctx).await;
}

async fn setup(shared: Arc<Shared>, config: AgentConfig) -> Result<Arc<Ctx>> {
    let tools = Tools::find()?;
    for (image, exe) in &config.images {
        if !exe.is_file() {
            return Err(Error::Agent(format!("image {image}: executable {} does not exist", exe.display())));
        }
    }
    let client = crate::controlplane::client(&shared.kubeconfig).await?;
    let (pods, services, configmaps, secrets, claims) = tokio::try_join!(
        reflect::<Pod>(&client),
        reflect::<Service>(&client),
        reflect::<ConfigMap>(&client),
        reflect::<Secret>(&client),
        reflect::<PersistentVolumeClaim>(&client),
    )?;
    let ctx = Arc::new(Ctx {
        shared,
        client,
        node: config.node_name,
        images: config.images,
        tools,
        pods,
        services,
        configmaps,
        secrets,
        claims,
        next_ip: AtomicU32::new(0),
        dns: Default::default(),
    });
    node::register(&ctx).await?;
    Ok(ctx)
}

/// Binding, pod workers, DNS, the proxy and claims, every 200 ms.
async fn main_loop(ctx: Arc<Ctx>) {
    let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut bind_tried: HashMap<String, Instant> = HashMap::new();
    let mut claims_seen: HashMap<String, (PathBuf, Option<Instant>)> = HashMap::new();
    let mut proxy = proxy::Proxy::new(ctx.clone());
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let pods = ctx.pods.state();
        let mut present = HashSet::new();
        for pod in &pods {
            let Some(uid) = pod.metadata.uid.clone() else {
                continue;
            };
            present.insert(uid.clone());
            let spec = pod.spec.as_ref();
            let node_name = spec.and_then(|s| s.node_name.as_deref()).unwrap_or("");
            if node_name.is_empty() {
                let retry = bind_tried.get(&uid).is_none_or(|t| t.elapsed() > Duration::from_secs(2));
                if retry && schedulable(pod) {
                    bind_tried.insert(uid.clone(), Instant::now());
                    tokio::spawn(bind(ctx.clone(), pod.clone()));
                }
            } else if node_name == ctx.node && !workers.contains_key(&uid) {
                workers.insert(uid.clone(), tokio::spawn(pod::run(ctx.clone(), pod.clone())));
            }
        }
        // A worker's entry goes only once its pod left the store, so a pod
        // whose worker ended is never started twice.
        workers.retain(|uid, handle| present.contains(uid) || !handle.is_finished());
        bind_tried.retain(|uid, _| present.contains(uid));

        let view = dns::View::build(&ctx, &pods);
        {
            let mut published = ctx.shared.dns.lock().unwrap_or_else(|e| e.into_inner());
            *published = view.global();
        }
        *ctx.dns.write().unwrap_or_else(|e| e.into_inner()) = view;

        proxy.reconcile();
        sync_claims(&ctx, &mut claims_seen);
    }
}

fn schedulable(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let finished =
        matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
    pod.metadata.deletion_timestamp.is_none()
        && !finished
        && spec.scheduling_gates.as_ref().is_none_or(|g| g.is_empty())
}

/// The scheduler's one decision: this node.
async fn bind(ctx: Arc<Ctx>, pod: Arc<Pod>) {
    let (Some(ns), Some(name)) = (pod.metadata.namespace.clone(), pod.metadata.name.clone()) else {
        return;
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(ctx.node.clone()),
            ..Default::default()
        },
    };
    match api
        .create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding)
        .await
    {
        Ok(_) => tracing::debug!(target: "govchain::testenv", %ns, %name, "bound"),
        Err(e) => tracing::debug!(target: "govchain::testenv", %ns, %name, error = %e, "binding failed"),
    }
}

/// Marks every claim Bound (the agent is also the storage: a directory per
/// claim, see [`volumes`]) and removes the data of claims that are gone (the
/// `Delete` reclaim policy).
fn sync_claims(ctx: &Arc<Ctx>, seen: &mut HashMap<String, (PathBuf, Option<Instant>)>) {
    let claims = ctx.claims.state();
    let present: HashSet<String> = claims.iter().filter_map(|c| c.metadata.uid.clone()).collect();
    seen.retain(|uid, (dir, _)| {
        let keep = present.contains(uid);
        if !keep {
            let _ = std::fs::remove_dir_all(dir);
        }
        keep
    });
    for claim in claims {
        let (Some(uid), Some(ns), Some(name)) =
            (claim.metadata.uid.clone(), claim.metadata.namespace.clone(), claim.metadata.name.clone())
        else {
            continue;
        };
        let entry =
            seen.entry(uid.clone()).or_insert_with(|| (volumes::claim_dir(ctx, &ns, &name, &uid), None));
        let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        let recent = entry.1.is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        if bound || claim.metadata.deletion_timestamp.is_some() || recent {
            continue;
        }
        entry.1 = Some(Instant::now());
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let spec = claim.spec.clone().unwrap_or_default();
            let capacity = spec.resources.and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
            let patch = serde_json::json!({"status": {
                "phase": "Bound",
                "accessModes": spec.access_modes.unwrap_or_default(),
                "capacity": {"storage": capacity},
            }});
            let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
            if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::debug!(target: "govchain::testenv", %ns, %name, error = %e, "claim status");
            }
        });
    }
}

/// Now, as the apiserver's time type.
pub(crate) fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())
}
