//! The Kubernetes host driver (SPEC PRV-8): chains are `govchain.io/v1alpha1`
//! `Chain` custom resources that the govchain operator runs as StatefulSets;
//! this driver writes the resources and reads their status, it never talks
//! to a node itself.
//!
//! Mapping of the [`HostDriver`] operations:
//! - Every organization has a namespace, `<prefix><domain with '.' as '-'>`
//!   (labels `app.kubernetes.io/managed-by: govchain-api`, `govchain.io/org`),
//!   with a ResourceQuota `govchain` that is the sum of what the
//!   organization's chains and chain members in it ask for (pods, PVCs, CPU
//!   and memory requests, storage): recomputed from the resources on every
//!   change, so it reflects every chain of the organization, never one.
//! - `create_chain`: the owner's nodes become node groups `node` (consensus)
//!   and `backup` of a `Chain` in the owner's namespace, named after the
//!   chain id ([`names::chain_name`]); the driver waits until the operator
//!   reports the chain Ready. Nodes are named `<pod>.<namespace>`.
//! - `add_node`: the owner's node raises its group's replicas; an invited
//!   organization's node creates or raises a `ChainMember` in that
//!   organization's namespace (named after the chain; `-backup` for backup
//!   nodes) and adds the namespace to the chain's `spec.invitations`.
//!   A group runs identical pods, so a node asking for other resources than
//!   its group's is refused.
//! - `remove_node`: a StatefulSet scales down from the top, so only a group's
//!   highest-numbered node can go; the operator takes it out of consensus first.
//! - `stop_chain`/`start_chain`: `spec.stopped`. `restart_chain`: the pods are
//!   deleted one at a time, each waited for until it is back and the chain is
//!   Ready again (a rolling restart that keeps a Raft quorum).
//!   `stop_node`/`start_node` are refused (a group runs as a whole);
//!   `restart_node` deletes the node's pod.
//! - `set_block_policy`: `spec.blockPolicy` (checked against the chain
//!   vocabulary's limits first); the operator sets it on the running chain
//!   through the leader, and the driver waits until the Chain is Ready with
//!   `status.blockPolicy` showing it (every node applies it, none restarted).
//! - Quotas are raised before a spec change that needs them and recomputed
//!   when the change fails, so a refused change leaves no raise behind.
//! - `status`: the `Chain` status (heights, readiness, leader, consensus
//!   ids) plus each pod's phase and restarts.
//! - `node_bundle`: node config and genesis from the chain's ConfigMap,
//!   certificates (and the key when asked) from the group's Secret; never
//!   the CA. `node_log`: the pod's log subresource.
//! - The nodes' log stores (`log_search`, `log_day`, `log_follow`,
//!   `log_level`, `set_log_level`): refused (`Conflict`). Each pod keeps its
//!   store on its data volume and serves it on its peer listener's
//!   `/admin/logs*` endpoints, but the platform holds no admin identity for
//!   the pods' peer listeners (the operator does); the pod log stays
//!   available through `node_log`.
//! - `resume` and `shutdown` change nothing: Kubernetes keeps the chains running.
//!
//! Specs are checked with `govchain_crds` before anything is written, and
//! API server refusals keep the server's message.

pub mod names;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ::kube::{
    Client,
    api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams},
};
use futures_util::future::join_all;
use govchain_crds::{
    BlockPolicySpec as CrdPolicy, Chain, ChainMember, ChainMemberSpec, ChainRef, ChainSpec as CrdSpec,
    Consensus, Invitation, NodeGroup, NodeRole as CrdRole, Retention, StorageSpec,
};
use k8s_openapi::{
    api::{
        core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, ResourceRequirements, Secret},
        rbac::v1::RoleBinding,
    },
    apimachinery::pkg::api::resource::Quantity,
};
use tracing::{info, warn};

use self::names::{
    BACKUP_GROUP, CHAIN_KEY_LABEL, CONSENSUS_GROUP, MANAGED_BY, MANAGER, ORG_LABEL, QUOTA_NAME, chain_name,
    member_name, namespace_of, node_name, parse_quantity,
};
use crate::{
    BlockPolicy, BundleFile, ChainAccount, ChainSpec, Error, HostDriver, NodeInfo, NodeRole, NodeSpec,
    NodeStatus, ProcessState, Resources, Result, local::lock, validate,
};

/// The node container's name in the operator's pods.
const NODE_CONTAINER: &str = "node";
/// The RoleBinding of [`NamespaceAccess`] in each organization namespace.
const NAMESPACE_BINDING: &str = "govchain-api";
/// Port of a node's client API.
const API_PORT: u16 = 8600;
/// Port of a node's node-to-node listener.
const P2P_PORT: u16 = 7600;
/// How often waits look at the cluster.
const POLL: Duration = Duration::from_millis(500);
/// Most log lines [`HostDriver::node_log`] returns.
const MAX_LOG_LINES: usize = 100_000;
/// Attempts of a read-modify-write that lost a race (HTTP 409).
const UPDATE_ATTEMPTS: usize = 8;

/// How the Kubernetes driver runs chains.
#[derive(Debug, Clone)]
pub struct KubeDriverConfig {
    /// Node image repository (`govchain/node`).
    pub node_image: String,
    /// Node image tag, e.g. the workspace version `0.1.0`.
    pub node_version: String,
    /// Prefix of every organization namespace (`govchain-`).
    pub namespace_prefix: String,
    /// The cluster's DNS domain (`cluster.local`), for node addresses.
    pub cluster_domain: String,
    /// CPU of a node that asks for none, millicores (100).
    pub default_cpu_millis: u32,
    /// Memory of a node that asks for none, MiB (128).
    pub default_memory_mb: u32,
    /// Storage of a node that asks for none, MiB (1024).
    pub default_storage_mb: u32,
    /// StorageClass of node volumes; the cluster default when `None`.
    pub storage_class: Option<String>,
    /// How long a chain (or a started or restarted node) gets to become
    /// Ready (5 minutes: pods may pull images first).
    pub ready_timeout: Duration,
    /// How long a new node gets to catch up and join (5 minutes, on top of
    /// `ready_timeout`).
    pub catch_up_timeout: Duration,
    /// How long a deletion or a stop gets until the pods are gone (2 minutes).
    pub delete_timeout: Duration,
    /// The api's own read access in each organization namespace (node
    /// bundles come from the ConfigMaps and Secrets there). `None` when the
    /// kubeconfig's rights already cover it (a cluster admin, the tests).
    pub namespace_access: Option<NamespaceAccess>,
}

/// Access the driver grants its own service account in every organization
/// namespace it creates or uses: a RoleBinding `govchain-api` there to a
/// ClusterRole that reads ConfigMaps and Secrets. The api then needs no
/// cluster-wide Secret access, so it cannot read the chain CA Secrets in the
/// operator's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceAccess {
    /// The ClusterRole to bind (the chart's `<api>-namespace`).
    pub cluster_role: String,
    /// Namespace of the api's service account.
    pub service_account_namespace: String,
    /// Name of the api's service account.
    pub service_account: String,
}

impl KubeDriverConfig {
    /// The defaults with node image `govchain/node:<node_version>`.
    pub fn new(node_version: impl Into<String>) -> KubeDriverConfig {
        KubeDriverConfig {
            node_image: "govchain/node".into(),
            node_version: node_version.into(),
            namespace_prefix: "govchain-".into(),
            cluster_domain: "cluster.local".into(),
            default_cpu_millis: 100,
            default_memory_mb: 128,
            default_storage_mb: 1024,
            storage_class: None,
            ready_timeout: Duration::from_secs(300),
            catch_up_timeout: Duration::from_secs(300),
            delete_timeout: Duration::from_secs(120),
            namespace_access: None,
        }
    }
}

/// The Kubernetes host driver. Cheap to clone.
#[derive(Clone)]
pub struct KubeDriver {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: KubeDriverConfig,
    /// Chain id → (namespace, `Chain` name), as found.
    chains: Mutex<HashMap<String, Loc>>,
    /// Per chain id: held by the lifecycle operation running on it.
    ops: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serializes quota recomputations (each sums a namespace's resources).
    quota: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KubeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeDriver").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// Where a chain's `Chain` lives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loc {
    ns: String,
    name: String,
}

/// One node the spec asks for: a pod of a node group or of a ChainMember.
#[derive(Debug, Clone)]
struct Slot {
    ns: String,
    pod: String,
    /// The node group, or `None` for a ChainMember's pod.
    group: Option<usize>,
    /// The ChainMember, for its pods.
    member: Option<String>,
    ordinal: i32,
    /// Replicas of its group or member.
    replicas: i32,
    role: NodeRole,
    org: String,
}

impl Slot {
    fn name(&self) -> String {
        node_name(&self.pod, &self.ns)
    }
}

/// A chain as it is now: the resource and its members.
struct View {
    loc: Loc,
    chain: Chain,
    members: Vec<ChainMember>,
}

impl View {
    fn slots(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        let org = self.chain.organization();
        for (i, g) in self.chain.spec.node_groups.iter().enumerate() {
            for ordinal in 0..g.replicas {
                out.push(Slot {
                    ns: self.loc.ns.clone(),
                    pod: format!("{}-{}-{ordinal}", self.loc.name, g.name),
                    group: Some(i),
                    member: None,
                    ordinal,
                    replicas: g.replicas,
                    role: g.role.into(),
                    org: org.clone(),
                });
            }
        }
        for m in &self.members {
            let (Some(name), Some(ns)) = (m.metadata.name.clone(), m.metadata.namespace.clone()) else {
                continue;
            };
            let org = m.spec.organization.clone().unwrap_or_else(|| ns.clone());
            for ordinal in 0..m.spec.replicas {
                out.push(Slot {
                    ns: ns.clone(),
                    pod: format!("{name}-{ordinal}"),
                    group: None,
                    member: Some(name.clone()),
                    ordinal,
                    replicas: m.spec.replicas,
                    role: m.spec.role.into(),
                    org: org.clone(),
                });
            }
        }
        out
    }

    fn slot(&self, name: &str) -> Result<Slot> {
        self.slots()
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::NotFound(format!("no node {name} on chain {}", self.loc.name)))
    }

    fn status_of(&self, name: &str) -> Option<&govchain_crds::MemberStatus> {
        self.chain.status.as_ref()?.members.iter().find(|m| m.name == name)
    }

    /// Namespaces holding the chain's pods.
    fn namespaces(&self) -> BTreeSet<String> {
        let mut set: BTreeSet<String> =
            self.members.iter().filter_map(|m| m.metadata.namespace.clone()).collect();
        set.insert(self.loc.ns.clone());
        set
    }
}

fn crd_invalid(e: govchain_crds::Error) -> Error {
    match e {
        govchain_crds::Error::Invalid(m) => Error::Invalid(format!("not a valid Kubernetes chain: {m}")),
        other => Error::Failed(other.to_string()),
    }
}

/// An API server error as the driver's error kinds, with the server's message.
fn api_err(what: &str, e: ::kube::Error) -> Error {
    match &e {
        ::kube::Error::Api(s) => {
            let msg = format!("{what}: {}", if s.message.is_empty() { &s.reason } else { &s.message });
            match s.code {
                400 | 422 => Error::Invalid(msg),
                404 => Error::NotFound(msg),
                409 => Error::Conflict(msg),
                _ => Error::Failed(format!("{msg} (HTTP {})", s.code)),
            }
        }
        _ => Error::Failed(format!("{what}: Kubernetes API: {e}")),
    }
}

fn is_conflict(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(s) if s.code == 404)
}

/// Whether the operator reports the chain Ready for its current generation;
/// `Err` says why not.
fn ready(chain: &Chain) -> Result<(), String> {
    let generation = chain.metadata.generation.unwrap_or(0);
    let Some(st) = &chain.status else {
        return Err("the operator has reported no status yet (is govchain-operator running?)".into());
    };
    let observed = st.observed_generation.unwrap_or(0);
    if observed < generation {
        return Err(format!(
            "the operator has not acted on generation {generation} yet (observed {observed})"
        ));
    }
    let cond = |t: &str| st.conditions.iter().find(|c| c.type_ == t);
    let degraded = cond("Degraded")
        .filter(|c| c.status == "True")
        .map(|c| format!("; Degraded: {} {}", c.reason, c.message))
        .unwrap_or_default();
    match cond("Ready") {
        Some(c) if c.status == "True" && c.observed_generation.unwrap_or(generation) >= generation => Ok(()),
        Some(c) => Err(format!(
            "Ready is {} ({}: {}), {} of {} nodes ready{degraded}",
            c.status, c.reason, c.message, st.ready_nodes, st.nodes
        )),
        None => Err(format!("no Ready condition yet{degraded}")),
    }
}

/// Polls `check` until it returns `Ok(Ok(v))`; `Ok(Err(why))` is "not yet",
/// and the timeout error says the last why.
async fn wait<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, String>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let why = match check().await? {
            Ok(v) => return Ok(v),
            Err(why) => why,
        };
        if Instant::now() > deadline {
            return Err(Error::Failed(format!("{what}: not done within {timeout:?}: {why}")));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn quantity(s: String) -> Quantity {
    Quantity(s)
}

impl KubeDriver {
    /// A driver using `client` (which decides the cluster and the rights).
    pub fn new(client: Client, config: KubeDriverConfig) -> KubeDriver {
        KubeDriver {
            inner: Arc::new(Inner {
                client,
                config,
                chains: Mutex::default(),
                ops: Mutex::default(),
                quota: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A driver for the cluster of the kubeconfig at `kubeconfig` (its
    /// current context), or, without one, of the usual places (`KUBECONFIG`,
    /// `~/.kube/config`, the pod's service account in a cluster). Fails
    /// unless the API server answers and the govchain CRDs are installed.
    pub async fn connect(kubeconfig: Option<&Path>, config: KubeDriverConfig) -> Result<KubeDriver> {
        let cfg = match kubeconfig {
            Some(path) => {
                let kc = ::kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| Error::Invalid(format!("kubeconfig {}: {e}", path.display())))?;
                ::kube::Config::from_custom_kubeconfig(kc, &::kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| Error::Invalid(format!("kubeconfig {}: {e}", path.display())))?
            }
            None => ::kube::Config::infer()
                .await
                .map_err(|e| Error::Invalid(format!("no Kubernetes configuration found: {e}")))?,
        };
        let client = Client::try_from(cfg).map_err(|e| Error::Failed(format!("Kubernetes client: {e}")))?;
        let driver = KubeDriver::new(client, config);
        driver.check_crds().await?;
        Ok(driver)
    }

    /// The driver's settings.
    pub fn config(&self) -> &KubeDriverConfig {
        &self.inner.config
    }

    /// Fails unless the `Chain` resource is served.
    async fn check_crds(&self) -> Result<()> {
        let chains: Api<Chain> = Api::all(self.inner.client.clone());
        match chains.list(&ListParams::default().limit(1)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(Error::Failed(
                "the govchain.io CRDs are not installed in the cluster (kubectl apply -f crds/)".into(),
            )),
            Err(e) => Err(api_err("listing Chains", e)),
        }
    }

    fn client(&self) -> Client {
        self.inner.client.clone()
    }

    fn chain_api(&self, ns: &str) -> Api<Chain> {
        Api::namespaced(self.client(), ns)
    }

    fn member_api(&self, ns: &str) -> Api<ChainMember> {
        Api::namespaced(self.client(), ns)
    }

    fn pod_api(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client(), ns)
    }

    /// The operation lock of chain `key`.
    async fn op_lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = lock(&self.inner.ops).entry(key.to_owned()).or_default().clone();
        m.lock_owned().await
    }

    /// Where chain `key`'s `Chain` is: cached, else found by its label.
    async fn locate(&self, key: &str) -> Result<Loc> {
        if let Some(loc) = lock(&self.inner.chains).get(key) {
            return Ok(loc.clone());
        }
        let all: Api<Chain> = Api::all(self.client());
        let found = all
            .list(&ListParams::default().labels(&format!("{CHAIN_KEY_LABEL}={key}")))
            .await
            .map_err(|e| api_err("finding the chain", e))?;
        let loc = found
            .items
            .iter()
            .find_map(|c| Some(Loc { ns: c.metadata.namespace.clone()?, name: c.metadata.name.clone()? }))
            .ok_or_else(|| Error::NotFound(format!("no chain {key}")))?;
        lock(&self.inner.chains).insert(key.to_owned(), loc.clone());
        Ok(loc)
    }

    /// The ChainMembers (in any namespace) that join the chain at `loc`.
    async fn members_of(&self, loc: &Loc) -> Result<Vec<ChainMember>> {
        let all: Api<ChainMember> = Api::all(self.client());
        let list = all.list(&ListParams::default()).await.map_err(|e| api_err("listing ChainMembers", e))?;
        Ok(list
            .items
            .into_iter()
            .filter(|m| m.spec.chain.namespace == loc.ns && m.spec.chain.name == loc.name)
            .collect())
    }

    async fn view(&self, key: &str) -> Result<View> {
        let loc = self.locate(key).await?;
        let chain = match self.chain_api(&loc.ns).get(&loc.name).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => {
                lock(&self.inner.chains).remove(key);
                return Err(Error::NotFound(format!("no chain {key}")));
            }
            Err(e) => return Err(api_err("reading the chain", e)),
        };
        let members = self.members_of(&loc).await?;
        Ok(View { loc, chain, members })
    }

    /// Reads the chain, lets `change` edit it, checks the result with the
    /// CRD rules and writes it; retried when another writer came between.
    async fn update_chain(&self, loc: &Loc, change: impl Fn(&mut Chain) -> Result<()>) -> Result<Chain> {
        let api = self.chain_api(&loc.ns);
        for _ in 0..UPDATE_ATTEMPTS {
            let old = api.get(&loc.name).await.map_err(|e| api_err("reading the chain", e))?;
            let mut new = old.clone();
            change(&mut new)?;
            new.spec.validate_update(&old.spec).map_err(crd_invalid)?;
            new.validate().map_err(crd_invalid)?;
            match api.replace(&loc.name, &PostParams::default(), &new).await {
                Ok(c) => return Ok(c),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(api_err("updating the chain", e)),
            }
        }
        Err(Error::Conflict(format!("chain {} keeps changing under the driver; try again", loc.name)))
    }

    /// As [`KubeDriver::update_chain`] for a ChainMember.
    async fn update_member(
        &self,
        ns: &str,
        name: &str,
        change: impl Fn(&mut ChainMember) -> Result<()>,
    ) -> Result<ChainMember> {
        let api = self.member_api(ns);
        for _ in 0..UPDATE_ATTEMPTS {
            let old = api.get(name).await.map_err(|e| api_err("reading the chain member", e))?;
            let mut new = old.clone();
            change(&mut new)?;
            new.spec.validate_update(&old.spec).map_err(crd_invalid)?;
            new.validate().map_err(crd_invalid)?;
            match api.replace(name, &PostParams::default(), &new).await {
                Ok(m) => return Ok(m),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(api_err("updating the chain member", e)),
            }
        }
        Err(Error::Conflict(format!("chain member {name} keeps changing under the driver; try again")))
    }

    /// The namespace of `org`, created (with its labels) when missing.
    async fn ensure_namespace(&self, org: &str) -> Result<String> {
        let ns = namespace_of(&self.inner.config.namespace_prefix, org)?;
        let api: Api<Namespace> = Api::all(self.client());
        match api.get_opt(&ns).await.map_err(|e| api_err("reading a namespace", e))? {
            Some(existing) => {
                let labels = existing.metadata.labels.unwrap_or_default();
                match labels.get(ORG_LABEL) {
                    Some(o) if o == org => {}
                    Some(other) => {
                        return Err(Error::Conflict(format!(
                            "namespace {ns} belongs to organization {other}, not {org}"
                        )));
                    }
                    None => {
                        let patch = serde_json::json!({"metadata": {"labels": {ORG_LABEL: org}}});
                        api.patch(&ns, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map_err(|e| api_err("labelling a namespace", e))?;
                    }
                }
            }
            None => {
                let obj: Namespace = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": ns, "labels": {MANAGED_BY: MANAGER, ORG_LABEL: org}}
                }))
                .map_err(|e| Error::Failed(format!("namespace object: {e}")))?;
                match api.create(&PostParams::default(), &obj).await {
                    Ok(_) => info!(target: "govchain::driver", namespace = %ns, %org, "namespace created"),
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => return Err(api_err("creating a namespace", e)),
                }
            }
        }
        self.grant_namespace_access(&ns).await?;
        Ok(ns)
    }

    /// Binds the api's service account to its namespace ClusterRole in `ns`
    /// (server-side apply: idempotent, repaired if edited).
    async fn grant_namespace_access(&self, ns: &str) -> Result<()> {
        let Some(access) = &self.inner.config.namespace_access else { return Ok(()) };
        let binding = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": NAMESPACE_BINDING, "namespace": ns, "labels": {MANAGED_BY: MANAGER}},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": access.cluster_role,
            },
            "subjects": [{
                "kind": "ServiceAccount",
                "name": access.service_account,
                "namespace": access.service_account_namespace,
            }],
        });
        let api: Api<RoleBinding> = Api::namespaced(self.client(), ns);
        api.patch(NAMESPACE_BINDING, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&binding))
            .await
            .map_err(|e| api_err("binding the api's role in the organization namespace", e))?;
        Ok(())
    }

    /// A node's resource requests (its memory also a limit: a grant is a cap).
    fn requirements(&self, r: &Resources) -> ResourceRequirements {
        let c = &self.inner.config;
        let cpu = if r.cpu_millis == 0 { c.default_cpu_millis } else { r.cpu_millis };
        let mem = if r.memory_mb == 0 { c.default_memory_mb } else { r.memory_mb };
        let requests = BTreeMap::from([
            ("cpu".to_owned(), quantity(format!("{cpu}m"))),
            ("memory".to_owned(), quantity(format!("{mem}Mi"))),
        ]);
        let limits = BTreeMap::from([("memory".to_owned(), quantity(format!("{mem}Mi")))]);
        ResourceRequirements { requests: Some(requests), limits: Some(limits), ..Default::default() }
    }

    fn storage(&self, r: &Resources) -> StorageSpec {
        let c = &self.inner.config;
        let mb = if r.storage_mb == 0 { c.default_storage_mb } else { r.storage_mb };
        StorageSpec {
            size: quantity(format!("{mb}Mi")),
            storage_class_name: c.storage_class.clone(),
            retention: Retention::Delete,
        }
    }

    /// Refuses a node whose resources differ from its group's: a group's
    /// pods are identical.
    fn same_shape(
        &self,
        group: &str,
        have: (&Option<ResourceRequirements>, &StorageSpec),
        node: &Resources,
    ) -> Result<()> {
        let want = self.requirements(node);
        let storage = self.storage(node);
        if have.0.as_ref() != Some(&want) || have.1.size != storage.size {
            let show = |r: Option<&ResourceRequirements>, s: &Quantity| {
                let get = |k: &str| {
                    r.and_then(|r| r.requests.as_ref()).and_then(|q| q.get(k)).map_or("-", |q| q.0.as_str())
                };
                format!("cpu {}, memory {}, storage {}", get("cpu"), get("memory"), s.0)
            };
            return Err(Error::Invalid(format!(
                "node group {group} runs identical nodes with {}; a node with {} cannot join it on Kubernetes",
                show(have.0.as_ref(), &have.1.size),
                show(Some(&want), &storage.size)
            )));
        }
        Ok(())
    }

    /// Sets the namespace's ResourceQuota to the sum of what its chains and
    /// chain members ask for; `pending` objects (about to be written) count
    /// instead of their current versions.
    async fn sync_quota(
        &self,
        ns: &str,
        pending_chain: Option<&Chain>,
        pending_member: Option<&ChainMember>,
    ) -> Result<()> {
        let _guard = self.inner.quota.lock().await;
        let mut chains = self
            .chain_api(ns)
            .list(&ListParams::default())
            .await
            .map_err(|e| api_err("listing the namespace's chains", e))?
            .items;
        let mut members = self
            .member_api(ns)
            .list(&ListParams::default())
            .await
            .map_err(|e| api_err("listing the namespace's chain members", e))?
            .items;
        if let Some(p) = pending_chain {
            chains.retain(|c| c.metadata.name != p.metadata.name);
            chains.push(p.clone());
        }
        if let Some(p) = pending_member {
            members.retain(|m| m.metadata.name != p.metadata.name);
            members.push(p.clone());
        }
        let mut sum = Sum::default();
        for c in chains.iter().filter(|c| c.metadata.deletion_timestamp.is_none()) {
            for g in &c.spec.node_groups {
                sum.add(g.replicas, g.resources.as_ref(), &g.storage);
            }
        }
        for m in members.iter().filter(|m| m.metadata.deletion_timestamp.is_none()) {
            sum.add(m.spec.replicas, m.spec.resources.as_ref(), &m.spec.storage);
        }
        let mib = |bytes: f64| format!("{}Mi", (bytes / 1_048_576.0).ceil());
        let quota = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": ns, "labels": {MANAGED_BY: MANAGER}},
            "spec": {"hard": {
                "pods": sum.pods.to_string(),
                "persistentvolumeclaims": sum.pods.to_string(),
                "requests.cpu": format!("{}m", (sum.cpu * 1000.0).ceil()),
                "requests.memory": mib(sum.memory),
                "requests.storage": mib(sum.storage),
            }}
        });
        let api: Api<ResourceQuota> = Api::namespaced(self.client(), ns);
        api.patch(QUOTA_NAME, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&quota))
            .await
            .map_err(|e| api_err("setting the namespace's ResourceQuota", e))?;
        info!(target: "govchain::driver", namespace = %ns, pods = sum.pods, "resource quota set");
        Ok(())
    }

    /// The outcome of a change that [`Self::sync_quota`] raised `ns`'s quota
    /// for: when it failed, the quota goes back to what the namespace's
    /// resources ask for (the raise is not left behind).
    async fn lower_quota_unless_done<T>(&self, ns: &str, changed: Result<T>) -> Result<T> {
        if changed.is_err() {
            self.resync_quotas([ns.to_owned()]).await;
        }
        changed
    }

    /// Recomputes quotas after a change, logging (not failing) on errors:
    /// the change itself already happened.
    async fn resync_quotas(&self, namespaces: impl IntoIterator<Item = String>) {
        for ns in namespaces {
            if let Err(e) = self.sync_quota(&ns, None, None).await {
                warn!(target: "govchain::driver", namespace = %ns, error = %e, "cannot update the resource quota");
            }
        }
    }

    fn node_info(&self, view: &View, slot: &Slot) -> NodeInfo {
        let solo = view.chain.spec.consensus == Consensus::Solo;
        let peers = view.chain.status.as_ref().and_then(|s| s.endpoints.as_ref()).map(|e| e.peers.as_slice());
        let prefix = format!("{}.", slot.pod);
        let p2p =
            peers.and_then(|p| p.iter().find(|a| a.starts_with(&prefix)).cloned()).unwrap_or_else(|| {
                format!(
                    "{}.{}-peers.{}.svc.{}:{P2P_PORT}",
                    slot.pod, view.loc.name, slot.ns, self.inner.config.cluster_domain
                )
            });
        let host = p2p.rsplit_once(':').map_or(p2p.as_str(), |(h, _)| h).to_owned();
        let name = slot.name();
        NodeInfo {
            consensus_id: view.status_of(&name).map_or(0, |m| m.id),
            name,
            org: slot.org.clone(),
            api_url: format!("http://{host}:{API_PORT}"),
            p2p: if solo { String::new() } else { p2p },
            role: slot.role,
        }
    }

    /// Waits until the chain is Ready for its generation and every node of
    /// `names` is in its status and ready.
    async fn wait_ready(&self, loc: &Loc, names: &[String], what: &str, timeout: Duration) -> Result<Chain> {
        let api = self.chain_api(&loc.ns);
        wait(what, timeout, || async {
            let c = api.get(&loc.name).await.map_err(|e| api_err("reading the chain", e))?;
            if let Err(why) = ready(&c) {
                return Ok(Err(why));
            }
            let members = c.status.as_ref().map(|s| s.members.as_slice()).unwrap_or_default();
            let waiting: Vec<&str> = names
                .iter()
                .filter(|n| !members.iter().any(|m| &m.name == *n && m.ready))
                .map(String::as_str)
                .collect();
            if waiting.is_empty() {
                Ok(Ok(c))
            } else {
                Ok(Err(format!("not ready yet: {}", waiting.join(", "))))
            }
        })
        .await
    }

    /// Waits until none of the pods of `slots` exists.
    async fn wait_pods_gone(&self, slots: &[Slot], what: &str) -> Result<()> {
        wait(what, self.inner.config.delete_timeout, || async {
            let found = join_all(slots.iter().map(|s| async move {
                self.pod_api(&s.ns).get_opt(&s.pod).await.map(|p| p.map(|_| s.name()))
            }))
            .await;
            let mut left = Vec::new();
            for f in found {
                if let Some(n) = f.map_err(|e| api_err("reading a pod", e))? {
                    left.push(n);
                }
            }
            if left.is_empty() {
                Ok(Ok(()))
            } else {
                Ok(Err(format!("pods still there: {}", left.join(", "))))
            }
        })
        .await
    }

    /// The owner's node groups for `nodes` (all of the owner's organization).
    fn groups(&self, nodes: &[&NodeSpec]) -> Result<Vec<NodeGroup>> {
        let mut groups = Vec::new();
        for (role, name) in [(NodeRole::Consensus, CONSENSUS_GROUP), (NodeRole::Backup, BACKUP_GROUP)] {
            let of_role: Vec<&&NodeSpec> = nodes.iter().filter(|n| n.role == role).collect();
            let Some(first) = of_role.first() else { continue };
            if of_role.iter().any(|n| n.resources != first.resources) {
                return Err(Error::Invalid(format!(
                    "on Kubernetes the {name} nodes of an organization run as one group with one size; give them the same resources"
                )));
            }
            groups.push(NodeGroup {
                name: name.into(),
                replicas: i32::try_from(of_role.len()).unwrap_or(i32::MAX),
                role: role.into(),
                resources: Some(self.requirements(&first.resources)),
                storage: self.storage(&first.resources),
            });
        }
        Ok(groups)
    }

    /// Adds one node to the chain (the operation lock held); returns the
    /// node, once it is ready, and the namespaces whose quota changed.
    async fn add(&self, key: &str, node: &NodeSpec) -> Result<NodeInfo> {
        validate::org_domain(&node.org)?;
        let view = self.view(key).await?;
        if view.chain.spec.consensus == Consensus::Solo {
            return Err(Error::Invalid(format!("chain {key} runs solo consensus: one node only")));
        }
        if view.slots().len() >= validate::MAX_NODES {
            return Err(Error::Invalid(format!(
                "chain {key} has {} nodes, the most a chain has",
                view.slots().len()
            )));
        }
        let loc = view.loc.clone();
        let ns = self.ensure_namespace(&node.org).await?;
        let backup = node.role == NodeRole::Backup;
        let new_pod = if ns == loc.ns {
            // One of the owner's groups grows (or the backup group appears).
            let group_name = if backup { BACKUP_GROUP } else { CONSENSUS_GROUP };
            let mut pending = view.chain.clone();
            let groups = &mut pending.spec.node_groups;
            let at = match groups.iter().position(|g| g.role == CrdRole::from(node.role)) {
                Some(i) => {
                    let g = &groups[i];
                    self.same_shape(&g.name, (&g.resources, &g.storage), &node.resources)?;
                    i
                }
                None => {
                    groups.push(NodeGroup {
                        name: group_name.into(),
                        replicas: 0,
                        role: node.role.into(),
                        resources: Some(self.requirements(&node.resources)),
                        storage: self.storage(&node.resources),
                    });
                    groups.len() - 1
                }
            };
            let g = &mut groups[at];
            let ordinal = g.replicas;
            g.replicas += 1;
            let pod = format!("{}-{}-{ordinal}", loc.name, g.name);
            let wanted = g.clone();
            self.sync_quota(&ns, Some(&pending), None).await?;
            let grown = self
                .update_chain(&loc, |c| {
                    let gs = &mut c.spec.node_groups;
                    match gs.iter_mut().find(|g| g.name == wanted.name) {
                        Some(g) if g.replicas + 1 == wanted.replicas => g.replicas = wanted.replicas,
                        Some(g) => {
                            return Err(Error::Conflict(format!(
                                "node group {} changed meanwhile ({} replicas)",
                                g.name, g.replicas
                            )));
                        }
                        None => gs.push(wanted.clone()),
                    }
                    Ok(())
                })
                .await;
            self.lower_quota_unless_done(&ns, grown).await?;
            pod
        } else {
            // An invited organization: its ChainMember, and an invitation for its namespace.
            let org = node.org.clone();
            let invited = ns.clone();
            self.update_chain(&loc, |c| {
                if !c.spec.invitations.iter().any(|i| i.namespace == invited) {
                    c.spec.invitations.push(Invitation {
                        namespace: invited.clone(),
                        organization: Some(org.clone()),
                        max_nodes: None,
                    });
                }
                Ok(())
            })
            .await?;
            let name = member_name(&loc.name, backup);
            let existing = view.members.iter().find(|m| {
                m.metadata.namespace.as_deref() == Some(ns.as_str())
                    && m.metadata.name.as_deref() == Some(&name)
            });
            match existing {
                Some(m) => {
                    self.same_shape(&name, (&m.spec.resources, &m.spec.storage), &node.resources)?;
                    let ordinal = m.spec.replicas;
                    let mut pending = m.clone();
                    pending.spec.replicas += 1;
                    self.sync_quota(&ns, None, Some(&pending)).await?;
                    let grown = self
                        .update_member(&ns, &name, |m| {
                            if m.spec.replicas != ordinal {
                                return Err(Error::Conflict(format!(
                                    "chain member {name} changed meanwhile ({} replicas)",
                                    m.spec.replicas
                                )));
                            }
                            m.spec.replicas += 1;
                            Ok(())
                        })
                        .await;
                    self.lower_quota_unless_done(&ns, grown).await?;
                    format!("{name}-{ordinal}")
                }
                None => {
                    let mut member = ChainMember::new(
                        &name,
                        ChainMemberSpec {
                            chain: ChainRef { namespace: loc.ns.clone(), name: loc.name.clone() },
                            organization: Some(node.org.clone()),
                            replicas: 1,
                            role: node.role.into(),
                            resources: Some(self.requirements(&node.resources)),
                            storage: self.storage(&node.resources),
                        },
                    );
                    member.metadata.namespace = Some(ns.clone());
                    member.metadata.labels = Some(BTreeMap::from([
                        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
                        (CHAIN_KEY_LABEL.to_owned(), key.to_owned()),
                        (ORG_LABEL.to_owned(), node.org.clone()),
                    ]));
                    member.validate().map_err(crd_invalid)?;
                    self.sync_quota(&ns, None, Some(&member)).await?;
                    let created = self
                        .member_api(&ns)
                        .create(&PostParams::default(), &member)
                        .await
                        .map_err(|e| api_err("creating the chain member", e));
                    self.lower_quota_unless_done(&ns, created).await?;
                    format!("{name}-0")
                }
            }
        };
        let node_name = node_name(&new_pod, &ns);
        info!(target: "govchain::driver", chain = %key, node = %node_name, org = %node.org, "adding a node");
        let timeout = self.inner.config.ready_timeout + self.inner.config.catch_up_timeout;
        let joined = self
            .wait_ready(&loc, std::slice::from_ref(&node_name), &format!("node {node_name} joining"), timeout)
            .await;
        if let Err(e) = joined {
            // Take it back out (the operator removes it from consensus), so
            // the platform's record and the cluster agree.
            if let Err(undo) = self.shrink(key, &node_name).await {
                warn!(target: "govchain::driver", node = %node_name, error = %undo, "cannot take back a node that did not join");
            }
            self.resync_quotas([ns.clone()]).await;
            return Err(e);
        }
        let view = self.view(key).await?;
        let slot = view.slot(&node_name)?;
        info!(target: "govchain::driver", chain = %key, node = %node_name, "node joined");
        Ok(self.node_info(&view, &slot))
    }

    /// Lowers the replicas of the group of `name`, which must be its highest
    /// ordinal; does not wait.
    async fn shrink(&self, key: &str, name: &str) -> Result<Slot> {
        let view = self.view(key).await?;
        let slot = view.slot(name)?;
        if slot.ordinal + 1 != slot.replicas {
            let base = slot.pod.rsplit_once('-').map_or(slot.pod.as_str(), |(b, _)| b);
            let top = node_name(&format!("{base}-{}", slot.replicas - 1), &slot.ns);
            return Err(Error::Invalid(format!(
                "on Kubernetes a node group scales down from its highest-numbered node: {top} can be removed, not {name}"
            )));
        }
        match (&slot.group, &slot.member) {
            (Some(i), _) => {
                let i = *i;
                let replicas = slot.replicas;
                self.update_chain(&view.loc, |c| {
                    let g = c.spec.node_groups.get_mut(i).filter(|g| g.replicas == replicas).ok_or_else(
                        || Error::Conflict(format!("the node group of {name} changed meanwhile")),
                    )?;
                    g.replicas -= 1;
                    Ok(())
                })
                .await?;
            }
            (None, Some(member)) => {
                let replicas = slot.replicas;
                self.update_member(&slot.ns, member, |m| {
                    if m.spec.replicas != replicas {
                        return Err(Error::Conflict(format!("chain member {member} changed meanwhile")));
                    }
                    m.spec.replicas -= 1;
                    Ok(())
                })
                .await?;
            }
            (None, None) => return Err(Error::Failed(format!("{name} belongs to no group"))),
        }
        Ok(slot)
    }

    async fn set_stopped(&self, key: &str, stopped: bool) -> Result<()> {
        let view = self.view(key).await?;
        let slots = view.slots();
        let names: Vec<String> = slots.iter().map(Slot::name).collect();
        self.update_chain(&view.loc, |c| {
            c.spec.stopped = stopped;
            Ok(())
        })
        .await?;
        if stopped {
            self.wait_pods_gone(&slots, &format!("stopping chain {key}")).await?;
            // And the operator has seen it.
            let api = self.chain_api(&view.loc.ns);
            wait(&format!("stopping chain {key}"), self.inner.config.delete_timeout, || async {
                let c = api.get(&view.loc.name).await.map_err(|e| api_err("reading the chain", e))?;
                let generation = c.metadata.generation.unwrap_or(0);
                let observed = c.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
                Ok(if observed >= generation {
                    Ok(())
                } else {
                    Err("the operator has not acted yet".to_owned())
                })
            })
            .await?;
            info!(target: "govchain::driver", chain = %key, "chain stopped");
        } else {
            self.wait_ready(
                &view.loc,
                &names,
                &format!("starting chain {key}"),
                self.inner.config.ready_timeout,
            )
            .await?;
            info!(target: "govchain::driver", chain = %key, "chain started");
        }
        Ok(())
    }

    /// Deletes a node's pod and waits until a new one is ready and the chain
    /// is Ready again.
    async fn restart_pod(&self, view: &View, slot: &Slot) -> Result<()> {
        let api = self.pod_api(&slot.ns);
        let old_uid = match api.get_opt(&slot.pod).await.map_err(|e| api_err("reading a pod", e))? {
            Some(p) => p.metadata.uid,
            None => None,
        };
        match api.delete(&slot.pod, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_err("deleting a pod", e)),
        }
        let name = slot.name();
        let timeout = self.inner.config.ready_timeout;
        wait(&format!("restarting {name}"), timeout, || async {
            let Some(p) = api.get_opt(&slot.pod).await.map_err(|e| api_err("reading a pod", e))? else {
                return Ok(Err("no new pod yet".into()));
            };
            if p.metadata.uid == old_uid || p.metadata.deletion_timestamp.is_some() {
                return Ok(Err("the old pod is still terminating".into()));
            }
            let ready = p
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            Ok(if ready { Ok(()) } else { Err("the new pod is not ready yet".into()) })
        })
        .await?;
        self.wait_ready(&view.loc, std::slice::from_ref(&name), &format!("restarting {name}"), timeout)
            .await?;
        Ok(())
    }
}

/// Resource sums of a namespace.
#[derive(Default)]
struct Sum {
    pods: i64,
    /// Cores.
    cpu: f64,
    /// Bytes.
    memory: f64,
    /// Bytes.
    storage: f64,
}

impl Sum {
    fn add(&mut self, replicas: i32, res: Option<&ResourceRequirements>, storage: &StorageSpec) {
        let n = f64::from(replicas.max(0));
        self.pods += i64::from(replicas.max(0));
        let req = |k: &str| {
            res.and_then(|r| r.requests.as_ref().and_then(|q| q.get(k)).or_else(|| r.limits.as_ref()?.get(k)))
                .and_then(|q| parse_quantity(&q.0))
                .unwrap_or(0.0)
        };
        self.cpu += n * req("cpu");
        self.memory += n * req("memory");
        self.storage += n * parse_quantity(&storage.size.0).unwrap_or(0.0);
    }
}

#[async_trait::async_trait]
impl HostDriver for KubeDriver {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    async fn create_chain(&self, spec: &ChainSpec) -> Result<Vec<NodeInfo>> {
        validate::chain_spec(spec)?;
        let key = spec.chain.as_str();
        let name = chain_name(key)?;
        let _op = self.op_lock(key).await;
        let cfg = &self.inner.config;
        let own: Vec<&NodeSpec> = spec.nodes.iter().filter(|n| n.org == spec.owner_org).collect();
        let invited: Vec<&NodeSpec> = spec.nodes.iter().filter(|n| n.org != spec.owner_org).collect();
        if !spec.contract_governance.is_default() {
            return Err(Error::Invalid(
                "the Chain resource does not carry a contract governance policy yet; create the chain without one".into(),
            ));
        }
        if !own.iter().any(|n| n.role == NodeRole::Consensus) {
            return Err(Error::Invalid(
                "on Kubernetes the creating organization runs the chain's first consensus nodes".into(),
            ));
        }
        let mut chain = Chain::new(
            &name,
            CrdSpec {
                chain_id: Some(key.to_owned()),
                consensus: spec.consensus.into(),
                crypto_suite: spec.suite.into(),
                organization: Some(spec.owner_org.clone()),
                image: cfg.node_image.clone(),
                version: cfg.node_version.clone(),
                block_policy: Some(CrdPolicy::from(&spec.block_policy)),
                node_groups: self.groups(&own)?,
                invitations: Vec::new(),
                certificates: Default::default(),
                stopped: false,
            },
        );
        let ns = namespace_of(&cfg.namespace_prefix, &spec.owner_org)?;
        chain.metadata.namespace = Some(ns.clone());
        chain.metadata.labels = Some(BTreeMap::from([
            (MANAGED_BY.to_owned(), MANAGER.to_owned()),
            (CHAIN_KEY_LABEL.to_owned(), key.to_owned()),
            (ORG_LABEL.to_owned(), spec.owner_org.clone()),
        ]));
        chain.validate().map_err(crd_invalid)?;
        match self.locate(key).await {
            Ok(_) => return Err(Error::Conflict(format!("chain {key} already exists"))),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        self.ensure_namespace(&spec.owner_org).await?;
        self.sync_quota(&ns, Some(&chain), None).await?;
        let created = self.chain_api(&ns).create(&PostParams::default(), &chain).await;
        if let Err(e) = created {
            self.resync_quotas([ns.clone()]).await;
            return Err(api_err(&format!("creating chain {name} in {ns}"), e));
        }
        let loc = Loc { ns: ns.clone(), name: name.clone() };
        lock(&self.inner.chains).insert(key.to_owned(), loc.clone());
        info!(target: "govchain::driver", chain = %key, namespace = %ns, resource = %name, "Chain created; waiting for Ready");
        let view = self.view(key).await?;
        let names: Vec<String> = view.slots().iter().map(Slot::name).collect();
        self.wait_ready(&loc, &names, &format!("chain {key} coming up"), cfg.ready_timeout).await?;
        let mut infos = Vec::new();
        for node in invited {
            infos.push(self.add(key, node).await?);
        }
        let view = self.view(key).await?;
        let mut all: Vec<NodeInfo> =
            view.slots().iter().filter(|s| s.group.is_some()).map(|s| self.node_info(&view, s)).collect();
        all.extend(infos);
        info!(target: "govchain::driver", chain = %key, nodes = all.len(), "chain running");
        Ok(all)
    }

    async fn start_chain(&self, chain: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        self.set_stopped(chain, false).await
    }

    async fn stop_chain(&self, chain: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        self.set_stopped(chain, true).await
    }

    async fn restart_chain(&self, chain: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        let view = self.view(chain).await?;
        if view.chain.spec.stopped {
            return self.set_stopped(chain, false).await;
        }
        // Backups first, then voters from the highest ordinal: one at a time,
        // so a Raft quorum stays up throughout.
        let mut slots = view.slots();
        slots.sort_by_key(|s| (s.role == NodeRole::Consensus, std::cmp::Reverse(s.ordinal)));
        for s in &slots {
            self.restart_pod(&view, s).await?;
        }
        info!(target: "govchain::driver", %chain, nodes = slots.len(), "chain restarted pod by pod");
        Ok(())
    }

    async fn delete_chain(&self, chain: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        let view = match self.view(chain).await {
            Ok(v) => v,
            // Already gone (a failed provisioning, or removed with kubectl).
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let slots = view.slots();
        let namespaces = view.namespaces();
        for m in &view.members {
            let (Some(name), Some(ns)) = (&m.metadata.name, &m.metadata.namespace) else { continue };
            match self.member_api(ns).delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_err("deleting a chain member", e)),
            }
        }
        let api = self.chain_api(&view.loc.ns);
        match api.delete(&view.loc.name, &DeleteParams::foreground()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_err("deleting the chain", e)),
        }
        let loc = view.loc.clone();
        wait(&format!("deleting chain {chain}"), self.inner.config.delete_timeout, || async {
            let chain_left =
                api.get_opt(&loc.name).await.map_err(|e| api_err("reading the chain", e))?.is_some();
            let members_left = self.members_of(&loc).await?.len();
            Ok(if chain_left || members_left > 0 {
                Err(format!("the Chain ({chain_left}) or {members_left} ChainMember(s) still exist"))
            } else {
                Ok(())
            })
        })
        .await?;
        self.wait_pods_gone(&slots, &format!("deleting chain {chain}")).await?;
        lock(&self.inner.chains).remove(chain);
        self.resync_quotas(namespaces).await;
        info!(target: "govchain::driver", %chain, "chain deleted");
        Ok(())
    }

    async fn add_node(&self, chain: &str, node: &NodeSpec) -> Result<NodeInfo> {
        let _op = self.op_lock(chain).await;
        self.add(chain, node).await
    }

    async fn remove_node(&self, chain: &str, name: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        let view = self.view(chain).await?;
        let slot = view.slot(name)?;
        if view.chain.spec.consensus == Consensus::Solo {
            return Err(Error::Invalid(format!(
                "{name} is the only node of solo chain {chain}; delete the chain instead"
            )));
        }
        let voters = view.slots().iter().filter(|s| s.role == NodeRole::Consensus).count();
        if slot.role == NodeRole::Consensus && voters == 1 {
            return Err(Error::Invalid(format!("{name} is the last consensus node of chain {chain}")));
        }
        self.shrink(chain, name).await?;
        let api = self.chain_api(&view.loc.ns);
        let loc = view.loc.clone();
        wait(&format!("removing {name}"), self.inner.config.ready_timeout, || async {
            let c = api.get(&loc.name).await.map_err(|e| api_err("reading the chain", e))?;
            if let Err(why) = ready(&c) {
                return Ok(Err(why));
            }
            let listed = c.status.as_ref().is_some_and(|s| s.members.iter().any(|m| m.name == name));
            Ok(if listed { Err(format!("{name} is still a member")) } else { Ok(()) })
        })
        .await?;
        self.wait_pods_gone(std::slice::from_ref(&slot), &format!("removing {name}")).await?;
        self.resync_quotas([slot.ns.clone()]).await;
        info!(target: "govchain::driver", %chain, node = %name, "node removed");
        Ok(())
    }

    async fn start_node(&self, chain: &str, name: &str) -> Result<()> {
        self.view(chain).await?.slot(name)?;
        Err(Error::Invalid(format!(
            "Kubernetes runs a node group as a whole; start the chain or scale the group instead of starting {name}"
        )))
    }

    async fn stop_node(&self, chain: &str, name: &str) -> Result<()> {
        self.view(chain).await?.slot(name)?;
        Err(Error::Invalid(format!(
            "Kubernetes runs a node group as a whole; stop the chain or scale the group instead of stopping {name}"
        )))
    }

    async fn restart_node(&self, chain: &str, name: &str) -> Result<()> {
        let _op = self.op_lock(chain).await;
        let view = self.view(chain).await?;
        let slot = view.slot(name)?;
        if view.chain.spec.stopped {
            return Err(Error::Conflict(format!("chain {chain} is stopped; start it first")));
        }
        self.restart_pod(&view, &slot).await
    }

    async fn status(&self, chain: &str) -> Result<Vec<NodeStatus>> {
        let view = self.view(chain).await?;
        let slots = view.slots();
        let pods =
            join_all(slots.iter().map(|s| async move { self.pod_api(&s.ns).get_opt(&s.pod).await })).await;
        let leader = view.chain.status.as_ref().and_then(|s| s.leader.clone());
        let stopped = view.chain.spec.stopped;
        let mut out = Vec::new();
        for (slot, pod) in slots.iter().zip(pods) {
            let pod = pod.map_err(|e| api_err("reading a pod", e))?;
            let name = slot.name();
            let member = view.status_of(&name);
            let container = pod
                .as_ref()
                .and_then(|p| p.status.as_ref()?.container_statuses.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.name == NODE_CONTAINER).or(cs.first()));
            let crashed = container.is_some_and(|c| {
                c.state.as_ref().is_some_and(|s| {
                    s.terminated.is_some()
                        || s.waiting.as_ref().is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
                })
            }) || pod.as_ref().and_then(|p| p.status.as_ref()?.phase.as_deref())
                == Some("Failed");
            let process = match &pod {
                None => ProcessState::Stopped,
                Some(_) if stopped => ProcessState::Stopped,
                Some(_) if crashed => ProcessState::Crashed,
                Some(_) => ProcessState::Running,
            };
            let reachable = pod.is_some() && !stopped && member.is_some_and(|m| m.ready);
            let role = reachable.then(|| {
                if leader.as_deref() == Some(name.as_str()) {
                    "leader"
                } else if slot.role == NodeRole::Backup {
                    "learner"
                } else {
                    "follower"
                }
                .to_owned()
            });
            out.push(NodeStatus {
                org: slot.org.clone(),
                process,
                reachable,
                height: member.filter(|_| reachable).map(|m| m.height),
                leader: leader.clone().filter(|_| reachable),
                role,
                restarts: container.map_or(0, |c| u32::try_from(c.restart_count).unwrap_or(0)),
                api_url: self.node_info(&view, slot).api_url,
                name,
            });
        }
        Ok(out)
    }

    async fn set_block_policy(&self, chain: &str, policy: &BlockPolicy) -> Result<()> {
        validate::block_policy(policy)?;
        let _op = self.op_lock(chain).await;
        let view = self.view(chain).await?;
        if view.chain.spec.consensus == Consensus::Solo {
            return Err(Error::Invalid(format!(
                "chain {chain} runs solo consensus, whose block policy is fixed in its genesis"
            )));
        }
        // The operator sets it on the running chain through the leader and
        // reports it in status once every node applies it.
        let wanted = CrdPolicy::from(policy);
        self.update_chain(&view.loc, |c| {
            c.spec.block_policy = Some(wanted.clone());
            Ok(())
        })
        .await?;
        let api = self.chain_api(&view.loc.ns);
        wait(&format!("applying the block policy of {chain}"), self.inner.config.ready_timeout, || async {
            let c = api.get(&view.loc.name).await.map_err(|e| api_err("reading the chain", e))?;
            if let Err(why) = ready(&c) {
                return Ok(Err(why));
            }
            let applied = c.status.as_ref().and_then(|s| s.block_policy.as_ref());
            Ok(if applied == Some(&wanted) {
                Ok(())
            } else {
                Err(format!("the chain applies {applied:?}, not yet {wanted:?}"))
            })
        })
        .await?;
        info!(target: "govchain::driver", %chain, ?policy, "block policy changed on every node");
        Ok(())
    }

    async fn account(&self, chain: &str, org: &str) -> Result<ChainAccount> {
        // The api holds no access to the chain CA's Secret here (the
        // operator keeps it), so it cannot certify a key of its own.
        Err(Error::Conflict(format!(
            "chain {chain} runs on Kubernetes, where the platform holds no account for {org} yet: sign \
             contract transactions with a key certified by the chain's CA and send them to a node"
        )))
    }

    async fn node_bundle(&self, chain: &str, name: &str, include_key: bool) -> Result<Vec<BundleFile>> {
        let view = self.view(chain).await?;
        let slot = view.slot(name)?;
        let selector = format!("{}={}", govchain_crds::labels::CHAIN, view.loc.name);
        let maps: Api<ConfigMap> = Api::namespaced(self.client(), &slot.ns);
        // The operator labels every ConfigMap and Secret of the chain (its
        // members' too) with the chain's name.
        let configs = maps
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| api_err("listing the chain's ConfigMaps", e))?
            .items;
        let config_key = format!("{}.toml", slot.pod);
        let data_of = |m: &ConfigMap, k: &str| m.data.as_ref().and_then(|d| d.get(k)).cloned();
        let node_toml = configs.iter().find_map(|m| data_of(m, &config_key));
        let genesis = configs
            .iter()
            .find(|m| data_of(m, &config_key).is_some())
            .and_then(|m| data_of(m, "genesis.json"))
            .or_else(|| configs.iter().find_map(|m| data_of(m, "genesis.json")));
        let (Some(node_toml), Some(genesis)) = (node_toml, genesis) else {
            return Err(Error::Failed(format!(
                "the operator has not written the configuration of {name} yet (no ConfigMap in {} with {config_key} and genesis.json)",
                slot.ns
            )));
        };
        let secrets: Api<Secret> = Api::namespaced(self.client(), &slot.ns);
        let cert_key = format!("{}.cert.pem", slot.pod);
        let found = secrets
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| api_err("listing the chain's Secrets", e))?
            .items
            .into_iter()
            .find(|s| s.data.as_ref().is_some_and(|d| d.contains_key(&cert_key)));
        let Some(data) = found.and_then(|s| s.data) else {
            return Err(Error::Failed(format!(
                "the operator has not issued the certificate of {name} yet (no Secret in {} with {cert_key})",
                slot.ns
            )));
        };
        let file = |key: &str, name: &str| -> Result<BundleFile> {
            let v = data
                .get(key)
                .ok_or_else(|| Error::Failed(format!("the key Secret of {} has no {key}", slot.pod)))?;
            Ok(BundleFile { name: name.to_owned(), contents: v.0.clone() })
        };
        use govchain_node::init::{NODE_CERT_FILE, OPERATING_CERT_FILE, ROOT_CERT_FILE};
        let mut files = vec![
            BundleFile { name: "node.toml".into(), contents: node_toml.into_bytes() },
            BundleFile { name: "genesis.json".into(), contents: genesis.into_bytes() },
            file(&cert_key, NODE_CERT_FILE)?,
            file("root.pem", &format!("ca/{ROOT_CERT_FILE}"))?,
            file("operating.pem", &format!("ca/{OPERATING_CERT_FILE}"))?,
        ];
        if include_key {
            files.push(file(&format!("{}.key.pem", slot.pod), "key.pem")?);
        }
        Ok(files)
    }

    async fn node_log(&self, chain: &str, name: &str, lines: usize) -> Result<String> {
        let view = self.view(chain).await?;
        let slot = view.slot(name)?;
        let params = LogParams {
            container: Some(NODE_CONTAINER.into()),
            tail_lines: Some(i64::try_from(lines.clamp(1, MAX_LOG_LINES)).unwrap_or(1)),
            ..Default::default()
        };
        match self.pod_api(&slot.ns).logs(&slot.pod, &params).await {
            Ok(log) => Ok(log),
            Err(e) if is_not_found(&e) => Err(Error::NotFound(format!(
                "no log of {name}: pod {} in {} does not exist (is the chain stopped?)",
                slot.pod, slot.ns
            ))),
            Err(e) => Err(Error::Failed(format!(
                "the log of {name} (pod {} in {}) is not available from Kubernetes: {e}",
                slot.pod, slot.ns
            ))),
        }
    }

    async fn resume(&self, chains: &[String]) -> Result<()> {
        // Kubernetes keeps the chains running; only check they are there.
        let all: Api<Chain> = Api::all(self.client());
        let list = all
            .list(&ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER}")))
            .await
            .map_err(|e| api_err("listing the platform's chains", e))?;
        let mut found = lock(&self.inner.chains);
        for c in &list.items {
            let key = c.metadata.labels.as_ref().and_then(|l| l.get(CHAIN_KEY_LABEL));
            if let (Some(key), Some(ns), Some(name)) = (key, &c.metadata.namespace, &c.metadata.name) {
                found.insert(key.clone(), Loc { ns: ns.clone(), name: name.clone() });
            }
        }
        let missing: Vec<&String> = chains.iter().filter(|c| !found.contains_key(*c)).collect();
        if !missing.is_empty() {
            warn!(target: "govchain::driver", ?missing, "chains the platform runs have no Chain resource in the cluster");
        }
        info!(target: "govchain::driver", chains = list.items.len(), "Kubernetes chains found");
        Ok(())
    }

    async fn shutdown(&self) {}
}
