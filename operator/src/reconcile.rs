//! One reconcile of a `Chain`: CA -> admin identity -> genesis (create-only)
//! -> membership plan -> node keys -> ConfigMap -> Services, StatefulSets,
//! PDB, NetworkPolicy (server-side apply) -> membership calls -> status.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use govchain_crds::{
    BlockPolicySpec, CertificatesStatus, Chain, ChainMember, ChainMemberStatus, ChainStatus, Consensus,
    Endpoints, MemberStatus, NodeRole, RENEW_CERTIFICATES_ANNOTATION,
};
use govchain_crypto::Suite;
use govchain_node::config::Genesis;
use govchain_types::{BlockPolicy, api::NodeStatus};
use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service},
        networking::v1::NetworkPolicy,
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::{
    Context, Error, FIELD_MANAGER, REQUEUE_PROGRESSING, REQUEUE_READY, Result,
    names::{self, Names, pod_of_node},
    nodes::{self, Admin},
    pki::{self, NodeCertRequest},
    render::{self, GenesisMember},
};

/// ConfigMap key of the operator's membership record.
pub const MEMBERSHIP_KEY: &str = "membership.json";
/// Annotation on a keys Secret: `<pod>` -> the renewal value its certificate was renewed for.
const RENEWED_PREFIX: &str = "renewed.govchain.io/";
/// The Chain's finalizer: its CA and operator identity Secrets live in the
/// CA namespace, out of the garbage collector's reach (owner references do
/// not cross namespaces), and are deleted before the Chain goes.
pub const CA_FINALIZER: &str = "govchain.io/chain-ca";

/// The operator's record of which pods hold a consensus id, kept in the
/// ConfigMap next to the genesis (the cluster keeps it; the operator keeps
/// nothing in memory that a restart would lose).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The next consensus id to hand out (ids are never reused).
    pub next_id: u64,
    /// Pod name -> its entry.
    pub nodes: BTreeMap<String, NodeEntry>,
}

/// One pod's consensus identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Consensus id.
    pub id: u64,
    /// Node group.
    pub group: String,
    /// Index of the pod in its group.
    pub index: i32,
    /// `member` (in consensus with its role) or `joining` (being added).
    pub state: JoinState,
    /// The namespace of a ChainMember's pod (`group` is then the
    /// ChainMember's name); `None` for the chain's own pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where a node is in joining consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinState {
    /// Being added (learner, then promoted when it is a consensus node).
    Joining,
    /// In consensus with its role.
    Member,
}

impl Membership {
    /// Pods of `group` with an entry, counted from index 0 without gaps.
    fn count(&self, names: &Names, group: &str) -> i32 {
        let mut n = 0;
        while self.nodes.get(&names.pod(group, n)).is_some_and(|e| e.group == group && e.namespace.is_none())
        {
            n += 1;
        }
        n
    }

    /// Pods of ChainMember `member` in `ns` with an entry, from index 0.
    fn member_count(&self, member: &str, ns: &str, domain: &str) -> i32 {
        let names = names::member_names(member, ns, domain);
        let mut n = 0;
        while self.nodes.contains_key(&names.node_id(&names::member_pod(member, n))) {
            n += 1;
        }
        n
    }
}

/// The controller's error policy: log, count, retry soon.
pub fn error_policy(chain: Arc<Chain>, err: &Error, _ctx: Arc<crate::Context>) -> Action {
    warn!(target: "govchain::operator", chain = %chain.name_any(), namespace = ?chain.namespace(), error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Reconciles one Chain.
pub async fn reconcile(chain: Arc<Chain>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = Reconciler::new(&chain, &ctx).run().await;
    ctx.metrics.reconciled(result.as_ref().err().map(Error::category), started.elapsed());
    if let Err(e) = &result {
        let event = Event {
            type_: EventType::Warning,
            reason: e.category().into(),
            note: Some(truncate(&e.to_string(), 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(pe) = ctx.recorder.publish(&event, &chain.object_ref(&())).await {
            warn!(target: "govchain::operator", error = %pe, "cannot publish an event");
        }
    }
    result
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// What was seen of one pod.
#[derive(Debug, Clone, Default)]
struct PodView {
    ip: Option<String>,
    ready: bool,
    image: String,
    status: Option<NodeStatus>,
    /// The block policy the node applies (`GET /v1/policy`).
    policy: Option<BlockPolicy>,
}

struct Reconciler<'a> {
    chain: &'a Chain,
    ctx: &'a Context,
    names: Names,
    ns: String,
    events: Vec<(EventType, String, String)>,
    /// ChainMembers referring to this chain, with their verdict.
    members: Vec<MemberPlan>,
}

/// A group of node pods in the membership: one of the chain's node groups,
/// or a ChainMember's pods in its own namespace.
struct Slot {
    /// The group's name (the ChainMember's name for a member).
    group: String,
    /// A ChainMember's namespace and names.
    member: Option<(String, Names)>,
    /// How events and progress name it.
    label: String,
    /// Its pods with a membership entry (from index 0).
    count: i32,
}

impl Slot {
    /// Pod `index` of the group.
    fn pod(&self, names: &Names, index: i32) -> String {
        match &self.member {
            None => names.pod(&self.group, index),
            Some(_) => names::member_pod(&self.group, index),
        }
    }

    /// Membership key of pod `index` (the pod name, or a member pod's node id).
    fn key(&self, names: &Names, index: i32) -> String {
        match &self.member {
            None => names.pod(&self.group, index),
            Some((_, mnames)) => mnames.node_id(&names::member_pod(&self.group, index)),
        }
    }

    /// Namespace of its pods.
    fn namespace<'s>(&'s self, chain_ns: &'s str) -> &'s str {
        self.member.as_ref().map_or(chain_ns, |(ns, _)| ns.as_str())
    }
}

/// What one membership step needs of the observed chain.
struct Step<'a> {
    admin: &'a Admin,
    leader: Option<&'a String>,
    pods: &'a BTreeMap<String, PodView>,
    /// Whether the group changes through consensus (raft, hotstuff).
    replicated: bool,
}

/// Whose node keys a Secret holds.
enum KeyHolder {
    /// A node group of the chain (its Secret in the chain's namespace).
    Group(String),
    /// A ChainMember (its Secret in its own namespace).
    Member(Box<MemberPlan>),
}

/// One node whose keys a [`KeyHolder`]'s Secret holds.
struct HeldNode {
    /// Pod name (and the prefix of its entries in the Secret).
    pod: String,
    /// Its membership key (and key among the observed pods).
    key: String,
    /// Node id: its certificate's CN.
    node_id: String,
    /// Its certificate's O.
    org: String,
    /// Its peer DNS name (a SAN).
    peer_host: String,
}

impl HeldNode {
    fn request(&self, validity_days: u32) -> NodeCertRequest<'_> {
        NodeCertRequest {
            node_id: &self.node_id,
            organization: &self.org,
            dns_names: vec![self.peer_host.clone(), "localhost".into()],
            validity_days,
        }
    }
}

/// The renewal marks among a keys Secret's annotations.
fn renewed_marks(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(k, _)| k.starts_with(RENEWED_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What the reconcile makes of one ChainMember of the chain.
#[derive(Debug, Clone)]
struct MemberPlan {
    member: ChainMember,
    /// Namespace.
    ns: String,
    /// Nodes it may run now (0 when refused or being deleted).
    target: i32,
    /// The `O` of its certificates.
    org: String,
    /// Why it runs fewer nodes than asked (the invitation's maxNodes).
    limited: Option<String>,
    /// Why it is refused (reason, message), when it is.
    refused: Option<(String, String)>,
}

impl<'a> Reconciler<'a> {
    fn new(chain: &'a Chain, ctx: &'a Context) -> Reconciler<'a> {
        let ns = chain.namespace().unwrap_or_default();
        let names = Names::new(&chain.name_any(), &ns, &ctx.cluster_domain);
        Reconciler { chain, ctx, names, ns, events: Vec::new(), members: Vec::new() }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }

    /// Node id of a membership key (pod name here, node id for a member's pod).
    fn key_node_id(&self, key: &str) -> String {
        if names::is_member_key(key) { key.to_string() } else { self.names.node_id(key) }
    }

    /// Peer DNS name of a membership key.
    fn key_peer_host(&self, key: &str) -> String {
        if names::is_member_key(key) {
            names::member_peer_host(key, &self.names.domain).unwrap_or_else(|| key.to_string())
        } else {
            self.names.peer_host(key)
        }
    }

    /// `host:port` of a membership key's peer listener.
    fn key_p2p(&self, key: &str) -> String {
        format!("{}:{}", self.key_peer_host(key), names::P2P_PORT)
    }

    fn event(&mut self, type_: EventType, reason: &str, note: String) {
        info!(target: "govchain::operator", chain = %self.names.chain, namespace = %self.ns, reason, %note);
        self.events.push((type_, reason.into(), note));
    }

    async fn publish_events(&mut self) {
        let reference = self.chain.object_ref(&());
        for (type_, reason, note) in self.events.drain(..) {
            let event = Event {
                type_,
                reason: reason.clone(),
                note: Some(truncate(&note, 1000)),
                action: reason,
                secondary: None,
            };
            if let Err(e) = self.ctx.recorder.publish(&event, &reference).await {
                warn!(target: "govchain::operator", error = %e, "cannot publish an event");
            }
        }
    }

    async fn run(mut self) -> Result<Action> {
        if self.chain.meta().deletion_timestamp.is_some() {
            // Children go with the garbage collector (owner references); PVCs
            // with the StatefulSets' retention policy. The consensus the
            // members' finalizers guard goes with the chain. The CA and the
            // operator identity live in another namespace: deleted here.
            for m in self.load_members().await? {
                crate::member::set_finalizer(self.ctx, &m, false).await?;
            }
            let secrets: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.ctx.ca_namespace);
            for name in [self.names.ca_secret(), self.names.admin_secret()] {
                match secrets.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            crate::set_finalizer(&self.ctx.client, self.chain, CA_FINALIZER, false).await?;
            return Ok(Action::await_change());
        }
        // Before the CA exists: its Secret is no child the collector sees.
        crate::set_finalizer(&self.ctx.client, self.chain, CA_FINALIZER, true).await?;
        if let Err(e) = self.chain.validate() {
            self.refuse(&e.to_string()).await?;
            return Ok(Action::await_change());
        }
        let result = self.converge().await;
        self.publish_events().await;
        result
    }

    /// Records an invalid spec in status (Degraded) and stops there.
    async fn refuse(&mut self, why: &str) -> Result<()> {
        let mut status = self.chain.status.clone().unwrap_or_default();
        let generation = self.chain.meta().generation;
        let changed = set_condition(&mut status.conditions, "Degraded", true, "InvalidSpec", why, generation);
        set_condition(&mut status.conditions, "Ready", false, "InvalidSpec", why, generation);
        set_condition(&mut status.conditions, "Progressing", false, "InvalidSpec", why, generation);
        status.observed_generation = generation;
        if changed {
            self.event(EventType::Warning, "InvalidSpec", why.into());
        }
        self.write_status(&status).await?;
        self.publish_events().await;
        Ok(())
    }

    async fn converge(&mut self) -> Result<Action> {
        let chain = self.chain;
        let suite = pki::suite(chain.spec.crypto_suite.as_str())?;

        // 1. The chain CA: created once, never regenerated.
        let ca_data = self
            .create_once_secret(&self.names.ca_secret(), "CreatedCA", || {
                pki::new_ca(suite, &chain.chain_id(), &chain.organization())
            })
            .await?;
        let ca = pki::load_ca(suite, &ca_data)?;
        let admin_data = self
            .create_once_secret(&self.names.admin_secret(), "CreatedAdminIdentity", || {
                let req = NodeCertRequest {
                    node_id: names::ADMIN_NAME,
                    organization: names::ADMIN_ORG,
                    dns_names: vec![names::ADMIN_NAME.into()],
                    validity_days: govchain_node::init::NODE_CERT_DAYS,
                };
                let (key, cert) = pki::issue_new(&ca, &req)?;
                Ok(BTreeMap::from([(names::ADMIN_KEY.into(), key), (names::ADMIN_CERT.into(), cert)]))
            })
            .await?;

        // 2. The genesis: written once with the first members.
        let mut config = self.ensure_genesis(&ca).await?;
        let genesis: Genesis = serde_json::from_str(config.get(names::GENESIS_KEY).map_or("", |s| s))
            .map_err(|e| Error::State(format!("{}: genesis.json: {e}", self.names.config_map())))?;
        let mut membership: Membership = config
            .get(MEMBERSHIP_KEY)
            .map(|s| serde_json::from_str(s))
            .transpose()
            .map_err(|e| Error::State(format!("{}: {MEMBERSHIP_KEY}: {e}", self.names.config_map())))?
            .unwrap_or_default();

        // 3. Who may join (ChainMembers), and what runs now.
        self.plan_members().await?;
        let pods = self.observe().await?;
        let leader = leader_of(&pods, &self.ns);
        let healthy = |m: &Membership| {
            leader.is_some()
                && m.nodes.keys().all(|pod| pods.get(pod).is_some_and(|p| p.ready))
                && m.nodes.values().all(|e| e.state == JoinState::Member)
        };

        // 4. Membership plan, one node at a time.
        let replicated = chain.spec.consensus != Consensus::Solo;
        let admin_client = self.admin(suite, &ca_data, &admin_data, &pods)?;
        let mut replicas: BTreeMap<String, i32> = BTreeMap::new();
        let mut progressing: Vec<String> = Vec::new();
        for group in &chain.spec.node_groups {
            let slot = Slot {
                group: group.name.clone(),
                member: None,
                label: group.name.clone(),
                count: membership.count(&self.names, &group.name),
            };
            let n = if chain.spec.stopped {
                0
            } else {
                let step = Step { admin: &admin_client, leader: leader.as_ref(), pods: &pods, replicated };
                let healthy = healthy(&membership);
                self.step(&slot, group.replicas, healthy, &mut membership, &step, &mut progressing).await?
            };
            if n < slot.count {
                config.remove(&format!("{}.toml", slot.pod(&self.names, n)));
            }
            replicas.insert(group.name.clone(), n);
        }

        // 4b. The ChainMembers' nodes, one at a time together with the chain's own.
        let domain = self.names.domain.clone();
        let mut member_replicas: BTreeMap<(String, String), i32> = BTreeMap::new();
        for plan in self.members.clone() {
            let name = plan.member.name_any();
            let mnames = names::member_names(&name, &plan.ns, &domain);
            let slot = Slot {
                group: name.clone(),
                label: format!("ChainMember {}/{name}", plan.ns),
                count: membership.member_count(&name, &plan.ns, &domain),
                member: Some((plan.ns.clone(), mnames)),
            };
            let n = if chain.spec.stopped {
                0
            } else {
                let step = Step { admin: &admin_client, leader: leader.as_ref(), pods: &pods, replicated };
                let healthy = healthy(&membership);
                self.step(&slot, plan.target, healthy, &mut membership, &step, &mut progressing).await?
            };
            member_replicas.insert((plan.ns.clone(), name), n);
        }

        // 5. Node keys and certificates, then the ConfigMap with every node config.
        let certs = self.ensure_keys(&ca, &membership).await?;
        for (pod, entry) in membership.nodes.iter().filter(|(_, e)| e.namespace.is_none()) {
            let genesis_member = genesis.members.iter().any(|m| m.name == self.names.node_id(pod));
            let id = (replicated && !genesis_member).then_some(entry.id);
            config.insert(format!("{pod}.toml"), render::node_config(&self.names, pod, replicated, id)?);
        }
        config.insert(
            MEMBERSHIP_KEY.into(),
            serde_json::to_string(&membership).map_err(|e| Error::State(e.to_string()))?,
        );
        self.apply::<ConfigMap>(&self.names.config_map(), render::config_map(chain, &self.names, &config)?)
            .await?;

        // 6. Services, StatefulSets, PDB, NetworkPolicy.
        self.apply::<Service>(&self.names.peers_service(), render::peers_service(chain, &self.names)?)
            .await?;
        self.apply::<Service>(&self.names.client_service(), render::client_service(chain, &self.names)?)
            .await?;
        for group in &chain.spec.node_groups {
            let n = replicas.get(&group.name).copied().unwrap_or(0);
            let sts = render::statefulset(chain, &self.names, group, n)?;
            self.apply::<StatefulSet>(&self.names.statefulset(&group.name), sts).await?;
        }
        self.apply::<PodDisruptionBudget>(&self.names.client_service(), render::pdb(chain, &self.names)?)
            .await?;
        self.apply::<NetworkPolicy>(
            &self.names.client_service(),
            render::network_policy(chain, &self.names)?,
        )
        .await?;

        // 6b. The ChainMembers' keys, configs, Services and StatefulSets in their namespaces.
        let genesis_json = config.get(names::GENESIS_KEY).cloned().unwrap_or_default();
        let mut member_certs = BTreeMap::new();
        for plan in self.members.clone() {
            let name = plan.member.name_any();
            let n = member_replicas.get(&(plan.ns.clone(), name.clone())).copied().unwrap_or(0);
            let has_nodes =
                membership.nodes.values().any(|e| e.namespace.as_ref() == Some(&plan.ns) && e.group == name);
            if plan.refused.is_some() && !has_nodes {
                continue;
            }
            member_certs.extend(self.apply_member(&ca, &genesis_json, &membership, &plan, n).await?);
        }

        // 7. Drive joining nodes (learner, catch up, promote).
        for (pod, entry) in membership.nodes.clone() {
            if entry.state != JoinState::Joining {
                continue;
            }
            let role = match &entry.namespace {
                Some(ns) => self
                    .members
                    .iter()
                    .find(|p| &p.ns == ns && p.member.name_any() == entry.group)
                    .map(|p| p.member.spec.role),
                None => chain.spec.node_groups.iter().find(|g| g.name == entry.group).map(|g| g.role),
            };
            if self.drive_join(&admin_client, leader.as_ref(), &pods, &pod, &entry, role).await? {
                if let Some(e) = membership.nodes.get_mut(&pod) {
                    e.state = JoinState::Member;
                }
                self.event(
                    EventType::Normal,
                    "NodeJoined",
                    format!("{pod} (consensus id {}) joined consensus", entry.id),
                );
                config.insert(
                    MEMBERSHIP_KEY.into(),
                    serde_json::to_string(&membership).map_err(|e| Error::State(e.to_string()))?,
                );
                self.apply::<ConfigMap>(
                    &self.names.config_map(),
                    render::config_map(chain, &self.names, &config)?,
                )
                .await?;
            } else {
                progressing.push(format!("{pod} joining"));
            }
        }

        // 7b. The block policy: spec.blockPolicy onto the running chain.
        if replicated && !chain.spec.stopped {
            self.converge_policy(&admin_client, leader.as_ref(), &membership, &pods, &mut progressing)
                .await?;
        }

        // 8. Forced or due certificate renewal, one node at a time.
        let renewed_for =
            self.renew_certificates(&ca, &membership, &pods, healthy(&membership), &mut progressing).await?;

        // 9. Status (the chain's and its members'), finalizers of members that left.
        self.finish_members(&membership, &pods).await?;
        let mut certs = certs;
        certs.extend(member_certs);
        let ready = self
            .write_chain_status(&membership, &pods, leader.as_ref(), &progressing, certs, renewed_for)
            .await?;
        Ok(if ready { Action::requeue(REQUEUE_READY) } else { Action::requeue(REQUEUE_PROGRESSING) })
    }

    /// Creates a Secret in the CA namespace once (a 409 means it exists:
    /// read it). Never updates it.
    async fn create_once_secret(
        &mut self,
        name: &str,
        reason: &str,
        make: impl FnOnce() -> Result<BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>> {
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.ctx.ca_namespace);
        if let Some(s) = api.get_opt(name).await? {
            return Ok(render::secret_text(&s));
        }
        let data = make()?;
        let secret = render::ca_secret(self.chain, &self.names, &self.ctx.ca_namespace, name, &data);
        match api
            .create(
                &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() },
                &secret,
            )
            .await
        {
            Ok(_) => {
                self.event(
                    EventType::Normal,
                    reason,
                    format!("created Secret {}/{name}", self.ctx.ca_namespace),
                );
                Ok(data)
            }
            Err(e) if is_conflict(&e) => Ok(render::secret_text(&api.get(name).await?)),
            Err(e) => Err(e.into()),
        }
    }

    /// The ConfigMap's data; creates it with the genesis when there is none.
    async fn ensure_genesis(&mut self, ca: &govchain_pki::ChainCa) -> Result<BTreeMap<String, String>> {
        let api: Api<ConfigMap> = self.api();
        let name = self.names.config_map();
        if let Some(cm) = api.get_opt(&name).await?
            && let Some(data) = cm.data.filter(|d| d.contains_key(names::GENESIS_KEY))
        {
            return Ok(data);
        }
        let chain = self.chain;
        let replicated = chain.spec.consensus != Consensus::Solo;
        let mut membership = Membership { next_id: 1, nodes: BTreeMap::new() };
        let mut first = Vec::new();
        for group in chain.spec.node_groups.iter().filter(|g| g.role == NodeRole::Consensus) {
            let n = if chain.spec.stopped { 0 } else { group.replicas };
            for index in 0..n {
                let pod = self.names.pod(&group.name, index);
                let id = membership.next_id;
                membership.next_id += 1;
                first.push(GenesisMember { id, pod: pod.clone(), consensus_key: String::new() });
                membership.nodes.insert(
                    pod,
                    NodeEntry {
                        id,
                        group: group.name.clone(),
                        index,
                        state: JoinState::Member,
                        namespace: None,
                    },
                );
            }
        }
        if chain.spec.consensus == Consensus::Hotstuff {
            // Members are known by their keys: the first nodes' keys (kept in
            // their group's Secret, never regenerated) come before the genesis.
            let certs = self.ensure_keys(ca, &membership).await?;
            for m in &mut first {
                let cert = certs
                    .get(&m.pod)
                    .ok_or_else(|| Error::State(format!("no certificate was issued for {}", m.pod)))?;
                m.consensus_key = pki::consensus_key(cert, ca.suite())?;
            }
        }
        let genesis = render::genesis(chain, &self.names, ca, &first, now_ms())?;
        let genesis_json = serde_json::to_string_pretty(&genesis).map_err(|e| Error::State(e.to_string()))?;
        let mut data = BTreeMap::from([
            (names::GENESIS_KEY.to_string(), genesis_json),
            (
                MEMBERSHIP_KEY.to_string(),
                serde_json::to_string(&membership).map_err(|e| Error::State(e.to_string()))?,
            ),
        ]);
        for pod in membership.nodes.keys() {
            data.insert(format!("{pod}.toml"), render::node_config(&self.names, pod, replicated, None)?);
        }
        let value = render::config_map(chain, &self.names, &data)?;
        let cm: ConfigMap = serde_json::from_value(value).map_err(|e| Error::State(e.to_string()))?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
        match api.create(&pp, &cm).await {
            Ok(_) => {
                self.event(
                    EventType::Normal,
                    "CreatedGenesis",
                    format!("genesis of chain {} with {} consensus members", genesis.chain_id, first.len()),
                );
                Ok(data)
            }
            Err(e) if is_conflict(&e) => {
                let cm = api.get(&name).await?;
                let data = cm.data.unwrap_or_default();
                if !data.contains_key(names::GENESIS_KEY) {
                    return Err(Error::State(format!("ConfigMap {name} exists without a genesis")));
                }
                Ok(data)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Server-side apply of one object (force: the operator owns these fields).
    async fn apply<K>(&self, name: &str, value: serde_json::Value) -> Result<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.apply_in(&self.ns, name, value).await
    }

    /// Pods of the chain (and of its ChainMembers, keyed by node id) with
    /// what their nodes say.
    async fn observe(&self) -> Result<BTreeMap<String, PodView>> {
        let join = |l: BTreeMap<String, String>| {
            l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        };
        let mut found: Vec<(Pod, String)> = Vec::new();
        let pods: Api<Pod> = self.api();
        let list =
            pods.list(&ListParams::default().labels(&join(render::selector(&self.names, None)))).await?;
        found.extend(list.items.into_iter().map(|p| {
            let key = p.name_any();
            (p, key)
        }));
        for plan in &self.members {
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &plan.ns);
            let selector = join(crate::member::selector(&plan.member.name_any()));
            let list = api.list(&ListParams::default().labels(&selector)).await?;
            found.extend(list.items.into_iter().map(|p| {
                let key = format!("{}.{}", p.name_any(), plan.ns);
                (p, key)
            }));
        }
        let mut views = BTreeMap::new();
        let mut queries = Vec::new();
        for (pod, name) in found {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let status = pod.status.clone().unwrap_or_default();
            let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            let image = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let ip = status.pod_ip.clone().filter(|ip| !ip.is_empty());
            if let Some(ip) = ip.clone() {
                let http = self.ctx.http.clone();
                let name = name.clone();
                queries.push(async move {
                    let (status, policy) = tokio::join!(nodes::status(&http, &ip), nodes::policy(&http, &ip));
                    (name, status, policy)
                });
            }
            views.insert(name, PodView { ip, ready, image, status: None, policy: None });
        }
        for (name, status, policy) in futures_util::future::join_all(queries).await {
            if let Some(v) = views.get_mut(&name) {
                v.status = status;
                v.policy = policy;
            }
        }
        Ok(views)
    }

    fn admin(
        &self,
        suite: Suite,
        ca: &BTreeMap<String, String>,
        admin: &BTreeMap<String, String>,
        pods: &BTreeMap<String, PodView>,
    ) -> Result<Admin> {
        let addresses: BTreeMap<String, SocketAddr> = pods
            .iter()
            .filter_map(|(pod, v)| {
                let ip = v.ip.as_deref()?.parse().ok()?;
                Some((self.key_peer_host(pod), SocketAddr::new(ip, names::P2P_PORT)))
            })
            .collect();
        Admin::from_secrets(suite, ca, admin, addresses)
    }

    /// Moves `slot` one node toward `target` while the chain is `healthy`:
    /// records a new entry (joining; a learner first) or takes its last node
    /// out of consensus. Returns how many pods the group runs now.
    async fn step(
        &mut self,
        slot: &Slot,
        target: i32,
        healthy: bool,
        membership: &mut Membership,
        step: &Step<'_>,
        progressing: &mut Vec<String>,
    ) -> Result<i32> {
        let count = slot.count;
        let adding = step.replicated && target > count && healthy;
        let ns = slot.namespace(&self.ns).to_owned();
        if let Some(why) = self.volume_in_the_way(adding, &ns, &slot.pod(&self.names, count)).await? {
            progressing.push(why);
            return Ok(count);
        }
        if adding {
            let key = slot.key(&self.names, count);
            let id = membership.next_id.max(1);
            membership.next_id = id + 1;
            let entry = NodeEntry {
                id,
                group: slot.group.clone(),
                index: count,
                state: JoinState::Joining,
                namespace: slot.member.as_ref().map(|(ns, _)| ns.clone()),
            };
            membership.nodes.insert(key.clone(), entry);
            self.event(
                EventType::Normal,
                "NodeAdding",
                format!("adding {key} (consensus id {id}) of {}", slot.label),
            );
            progressing.push(format!("adding {key}"));
            return Ok(count + 1);
        }
        if step.replicated && target < count && healthy {
            let key = slot.key(&self.names, count - 1);
            let id = membership.nodes.get(&key).map_or(0, |e| e.id);
            self.remove_member(step.admin, step.leader, step.pods, id).await?;
            membership.nodes.remove(&key);
            self.event(
                EventType::Normal,
                "NodeRemoved",
                format!("{key} (consensus id {id}) of {} left consensus", slot.label),
            );
            progressing.push(format!("removing {key}"));
            return Ok(count - 1);
        }
        if target != count {
            progressing.push(format!("{}: {count} of {target} nodes", slot.label));
        }
        Ok(count)
    }

    /// Whether a volume left by a node that left consensus (storage retention
    /// `Retain`) sits where `pod`, about to be added (`adding`), would mount
    /// its ledger: a new consensus id must not start on an old node's data,
    /// and the kept data is not the operator's to delete. `Some(why)` holds
    /// the addition back until the claim is gone.
    async fn volume_in_the_way(&self, adding: bool, ns: &str, pod: &str) -> Result<Option<String>> {
        if !adding {
            return Ok(None);
        }
        let claim = format!("{}-{pod}", names::DATA_VOLUME);
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), ns);
        Ok(api.get_opt(&claim).await?.map(|pvc| {
            if pvc.metadata.deletion_timestamp.is_some() {
                format!("adding {pod} waits for the volume {ns}/{claim} of a removed node to be deleted")
            } else {
                format!(
                    "adding {pod} waits: the volume {ns}/{claim} holds the ledger of a node that left \
                     consensus (storage retention Retain); delete it to add {pod}"
                )
            }
        }))
    }

    async fn remove_member(
        &mut self,
        admin: &Admin,
        leader: Option<&String>,
        pods: &BTreeMap<String, PodView>,
        id: u64,
    ) -> Result<()> {
        let Some(leader) = leader.filter(|l| pods.contains_key(l.as_str())) else {
            return Err(Error::Node("no leader to take a node out of consensus".into()));
        };
        let addr = self.key_p2p(leader);
        let members = admin.members(&addr).await?;
        if members.iter().any(|m| m.id == id) {
            admin.post(&addr, "/admin/remove", json!({"id": id})).await?;
        }
        Ok(())
    }

    /// One step of adding `pod` to consensus; true once it is in with its role.
    async fn drive_join(
        &mut self,
        admin: &Admin,
        leader: Option<&String>,
        pods: &BTreeMap<String, PodView>,
        pod: &str,
        entry: &NodeEntry,
        role: Option<NodeRole>,
    ) -> Result<bool> {
        let (Some(leader), Some(view)) = (leader, pods.get(pod)) else {
            return Ok(false);
        };
        // Its API answers: the process runs and can be added.
        let Some(status) = view.status.as_ref() else {
            return Ok(false);
        };
        let addr = self.key_p2p(leader);
        let members = admin.members(&addr).await?;
        let wanted_voter = role != Some(NodeRole::Backup);
        match members.iter().find(|m| m.id == entry.id) {
            None => {
                let body = json!({"id": entry.id, "name": self.key_node_id(pod), "addr": self.key_p2p(pod)});
                admin.post(&addr, "/admin/learner", body).await?;
                self.event(EventType::Normal, "NodeLearner", format!("{pod} added as a learner"));
                Ok(!wanted_voter)
            }
            Some(m) if m.role == "learner" && wanted_voter => {
                let leader_height =
                    pods.get(leader.as_str()).and_then(|v| v.status.as_ref()).map_or(0, |s| s.height);
                // Promote only once it holds the chain, so the group never waits on it.
                if status.height + 2 < leader_height {
                    return Ok(false);
                }
                admin.post(&addr, "/admin/promote", json!({"id": entry.id})).await?;
                self.event(EventType::Normal, "NodePromoted", format!("{pod} promoted to voter"));
                Ok(true)
            }
            Some(_) => Ok(true),
        }
    }

    /// Brings the running chain to `spec.blockPolicy` (unset fields at their
    /// defaults): when a node of the membership applies another policy and
    /// the leader does too, the leader gets the spec's through its admin
    /// endpoint (`/admin/policy`, agreed through consensus, applied by every
    /// node without a restart); while any reachable node still differs the
    /// chain is progressing (not Ready).
    async fn converge_policy(
        &mut self,
        admin: &Admin,
        leader: Option<&String>,
        membership: &Membership,
        pods: &BTreeMap<String, PodView>,
        progressing: &mut Vec<String>,
    ) -> Result<()> {
        let wanted =
            self.chain.block_policy().map_err(|e| Error::Invalid(format!("spec.blockPolicy: {e}")))?;
        let applied = |key: &String| pods.get(key).and_then(|v| v.policy.as_ref());
        let behind: Vec<&String> =
            membership.nodes.keys().filter(|k| applied(k).is_some_and(|p| *p != wanted)).collect();
        if behind.is_empty() {
            return Ok(());
        }
        let Some(leader) = leader.filter(|l| applied(l).is_some()) else {
            progressing.push("block policy: waiting for a leader to change it".into());
            return Ok(());
        };
        if let Some(was) = applied(leader).filter(|p| **p != wanted) {
            let body = serde_json::to_value(&wanted).map_err(|e| Error::State(e.to_string()))?;
            admin.post(&self.key_p2p(leader), "/admin/policy", body).await?;
            self.event(
                EventType::Normal,
                "BlockPolicyChanged",
                format!("block policy {} (was {})", show_policy(&wanted), show_policy(was)),
            );
        }
        progressing.push(format!(
            "block policy: {} of {} nodes apply it",
            membership.nodes.len() - behind.len(),
            membership.nodes.len()
        ));
        Ok(())
    }

    /// Keys and certificates for every pod of the chain's node groups with
    /// an entry. Returns every certificate (membership key -> PEM).
    async fn ensure_keys(
        &mut self,
        ca: &govchain_pki::ChainCa,
        membership: &Membership,
    ) -> Result<BTreeMap<String, String>> {
        let mut certs = BTreeMap::new();
        for group in &self.chain.spec.node_groups {
            certs.extend(self.ensure_held_keys(ca, &KeyHolder::Group(group.name.clone()), membership).await?);
        }
        Ok(certs)
    }

    /// The Secret of `holder` with the chain's CA certificates and a key and
    /// certificate for each of its nodes with an entry: existing keys and
    /// certificates are kept, a missing certificate is issued for the
    /// existing key, a missing key is generated. Keys of nodes no longer in
    /// the membership are dropped. Returns the certificates by membership key.
    async fn ensure_held_keys(
        &mut self,
        ca: &govchain_pki::ChainCa,
        holder: &KeyHolder,
        membership: &Membership,
    ) -> Result<BTreeMap<String, String>> {
        let (ns, name, nodes) = self.held_nodes(holder, membership);
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &ns);
        let existing = api.get_opt(&name).await?;
        let annotations = existing.as_ref().map(|s| s.annotations().clone()).unwrap_or_default();
        let old = existing.as_ref().map(render::secret_text).unwrap_or_default();
        let mut data = BTreeMap::from([
            (names::ROOT_CERT.to_string(), ca.root_cert_pem().to_string()),
            (names::OPERATING_CERT.to_string(), ca.operating_cert_pem().to_string()),
        ]);
        let validity_days = self.chain.spec.certificates.validity_days;
        let mut certs = BTreeMap::new();
        for node in &nodes {
            let (key_name, cert_name) = (format!("{}.key.pem", node.pod), format!("{}.cert.pem", node.pod));
            let (k, c) = match (old.get(&key_name), old.get(&cert_name)) {
                (Some(k), Some(c)) => (k.clone(), c.clone()),
                (Some(k), None) => (k.clone(), pki::issue_for_key(ca, k, &node.request(validity_days))?),
                _ => pki::issue_new(ca, &node.request(validity_days))?,
            };
            certs.insert(node.key.clone(), c.clone());
            data.insert(key_name, k);
            data.insert(cert_name, c);
        }
        if existing.is_none() || data != old {
            let value = self.keys_secret(holder, &data, renewed_marks(&annotations))?;
            self.apply_in::<Secret>(&ns, &name, value).await?;
        }
        Ok(certs)
    }

    /// The Secret holding `holder`'s node keys, with `data` and the
    /// renewal marks `renewed` (annotations).
    fn keys_secret(
        &self,
        holder: &KeyHolder,
        data: &BTreeMap<String, String>,
        renewed: BTreeMap<String, String>,
    ) -> Result<serde_json::Value> {
        let mut value = match holder {
            KeyHolder::Group(group) => {
                let name = self.names.keys_secret(group);
                let secret = render::secret(self.chain, &self.names, &name, Some(group), data)?;
                serde_json::to_value(&secret).map_err(|e| Error::State(e.to_string()))?
            }
            KeyHolder::Member(plan) => crate::member::secret(self.chain, &plan.member, data)?,
        };
        if !renewed.is_empty() {
            value["metadata"]["annotations"] = json!(renewed);
        }
        Ok(value)
    }

    /// Where `holder`'s keys are (namespace, Secret) and its nodes.
    fn held_nodes(&self, holder: &KeyHolder, membership: &Membership) -> (String, String, Vec<HeldNode>) {
        match holder {
            KeyHolder::Group(group) => {
                let nodes = membership
                    .nodes
                    .iter()
                    .filter(|(_, e)| &e.group == group && e.namespace.is_none())
                    .map(|(pod, _)| HeldNode {
                        pod: pod.clone(),
                        key: pod.clone(),
                        node_id: self.names.node_id(pod),
                        org: self.chain.organization(),
                        peer_host: self.names.peer_host(pod),
                    })
                    .collect();
                (self.ns.clone(), self.names.keys_secret(group), nodes)
            }
            KeyHolder::Member(plan) => {
                let name = plan.member.name_any();
                let mnames = names::member_names(&name, &plan.ns, &self.names.domain);
                let nodes = membership
                    .nodes
                    .iter()
                    .filter(|(_, e)| e.namespace.as_ref() == Some(&plan.ns) && e.group == name)
                    .map(|(key, e)| {
                        let pod = names::member_pod(&name, e.index);
                        HeldNode {
                            key: key.clone(),
                            node_id: key.clone(),
                            org: plan.org.clone(),
                            peer_host: mnames.peer_host(&pod),
                            pod,
                        }
                    })
                    .collect();
                (plan.ns.clone(), crate::member::keys_secret_name(&name), nodes)
            }
        }
    }

    /// Renews node certificates one node at a time, the chain's own and its
    /// ChainMembers' (their Secrets in their namespaces; the CA key stays
    /// here): all of them when the renewal annotation has a new value, and
    /// any that expires within `renewBeforeDays`. Returns the annotation
    /// value once every node carries a certificate renewed for it.
    async fn renew_certificates(
        &mut self,
        ca: &govchain_pki::ChainCa,
        membership: &Membership,
        pods: &BTreeMap<String, PodView>,
        healthy: bool,
        progressing: &mut Vec<String>,
    ) -> Result<Option<String>> {
        let chain = self.chain;
        let wanted = chain.annotations().get(RENEW_CERTIFICATES_ANNOTATION).cloned();
        let done_for =
            chain.status.as_ref().and_then(|s| s.certificates.as_ref()).and_then(|c| c.renewed_for.clone());
        let renew_before = u64::from(chain.spec.certificates.renew_before_days) * 86_400;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let validity_days = chain.spec.certificates.validity_days;
        let holders: Vec<KeyHolder> = chain
            .spec
            .node_groups
            .iter()
            .map(|g| KeyHolder::Group(g.name.clone()))
            .chain(self.members.iter().map(|p| KeyHolder::Member(Box::new(p.clone()))))
            .collect();
        for holder in &holders {
            let (ns, name, nodes) = self.held_nodes(holder, membership);
            let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &ns);
            let Some(secret) = api.get_opt(&name).await? else { continue };
            let annotations = secret.annotations().clone();
            let data = render::secret_text(&secret);
            for node in nodes {
                let HeldNode { pod, key, .. } = &node;
                let cert = data.get(&format!("{pod}.cert.pem")).cloned().unwrap_or_default();
                let due = pki::not_after(&cert).is_ok_and(|t| t < now + renew_before);
                let forced = wanted.as_ref().is_some_and(|w| {
                    Some(w) != done_for.as_ref()
                        && annotations.get(&format!("{RENEWED_PREFIX}{pod}")) != Some(w)
                });
                if !due && !forced {
                    continue;
                }
                if !healthy {
                    // One node at a time: the previous one must have rejoined first.
                    progressing.push("certificate renewal waits for every node to be ready".into());
                    return Ok(None);
                }
                let private_key = data.get(&format!("{pod}.key.pem")).cloned().unwrap_or_default();
                let new_cert = pki::issue_for_key(ca, &private_key, &node.request(validity_days))?;
                let mut new_data = data.clone();
                new_data.insert(format!("{pod}.cert.pem"), new_cert);
                let mut marks = renewed_marks(&annotations);
                if let Some(w) = &wanted {
                    marks.insert(format!("{RENEWED_PREFIX}{pod}"), w.clone());
                }
                let value = self.keys_secret(holder, &new_data, marks)?;
                self.apply_in::<Secret>(&ns, &name, value).await?;
                // The node reads its certificate at start: restart it.
                if pods.contains_key(key) {
                    let pods_api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
                    match pods_api.delete(pod, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.event(
                    EventType::Normal,
                    "CertificateRenewed",
                    format!("renewed the certificate of {ns}/{pod} and restarted it"),
                );
                progressing.push(format!("renewing the certificate of {ns}/{pod}"));
                return Ok(None);
            }
        }
        // Every node carries a certificate renewed for the wanted value.
        Ok(wanted.or(done_for))
    }

    /// The ChainMembers that name this chain.
    async fn load_members(&self) -> Result<Vec<ChainMember>> {
        let api: Api<ChainMember> = Api::all(self.ctx.client.clone());
        let list = api.list(&ListParams::default()).await?;
        let mut members: Vec<ChainMember> = list
            .items
            .into_iter()
            .filter(|m| m.spec.chain.namespace == self.ns && m.spec.chain.name == self.names.chain)
            .collect();
        members.sort_by_key(|m| (m.namespace(), m.name_any()));
        Ok(members)
    }

    /// Decides for every ChainMember: invited (within maxNodes) or refused;
    /// an accepted one gets the finalizer before anything of it exists.
    async fn plan_members(&mut self) -> Result<()> {
        let chain = self.chain;
        let mut used: BTreeMap<String, i32> = BTreeMap::new();
        let mut plans = Vec::new();
        for member in self.load_members().await? {
            let ns = member.namespace().unwrap_or_default();
            let deleting = member.meta().deletion_timestamp.is_some();
            let invitation = chain.spec.invitations.iter().find(|i| i.namespace == ns);
            let refused = if chain.spec.consensus == Consensus::Solo {
                Some((
                    "SoloChain".to_string(),
                    format!(
                        "Chain {}/{} runs solo consensus and takes no members",
                        self.ns, self.names.chain
                    ),
                ))
            } else if invitation.is_none() {
                Some((
                    "NotInvited".to_string(),
                    format!(
                        "Chain {}/{} does not invite namespace {ns} (its spec.invitations)",
                        self.ns, self.names.chain
                    ),
                ))
            } else {
                None
            };
            let mut target = if refused.is_some() || deleting { 0 } else { member.spec.replicas };
            let mut limited = None;
            if let Some(max) = invitation.and_then(|i| i.max_nodes) {
                let u = used.entry(ns.clone()).or_default();
                let room = (max - *u).max(0);
                if target > room {
                    limited = Some(format!(
                        "namespace {ns} may run {max} nodes on chain {}; {} asked, {room} granted",
                        self.names.chain, member.spec.replicas
                    ));
                    target = room;
                }
                *u += target;
            }
            let org = invitation
                .and_then(|i| i.organization.clone())
                .or_else(|| member.spec.organization.clone())
                .unwrap_or_else(|| ns.clone());
            if refused.is_none() && !deleting {
                crate::member::set_finalizer(self.ctx, &member, true).await?;
            }
            plans.push(MemberPlan { member, ns, target, org, limited, refused });
        }
        self.members = plans;
        Ok(())
    }

    /// Server-side apply of one object in `ns`.
    async fn apply_in<K>(&self, ns: &str, name: &str, value: serde_json::Value) -> Result<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.ctx.client.clone(), ns);
        Ok(api.patch(name, &crate::member::apply_params(), &Patch::Apply(&value)).await?)
    }

    /// A ChainMember's keys (issued here from the chain CA; only node keys
    /// and certificates reach its namespace), ConfigMap, headless and client
    /// Services and StatefulSet with `replicas` pods. Returns its certificates by key.
    async fn apply_member(
        &mut self,
        ca: &govchain_pki::ChainCa,
        genesis_json: &str,
        membership: &Membership,
        plan: &MemberPlan,
        replicas: i32,
    ) -> Result<BTreeMap<String, String>> {
        let chain = self.chain;
        let member = &plan.member;
        let name = member.name_any();
        let mnames = names::member_names(&name, &plan.ns, &self.names.domain);
        let entries: Vec<(&String, &NodeEntry)> = membership
            .nodes
            .iter()
            .filter(|(_, e)| e.namespace.as_ref() == Some(&plan.ns) && e.group == name)
            .collect();
        let certs = self.ensure_held_keys(ca, &KeyHolder::Member(Box::new(plan.clone())), membership).await?;
        let mut config = BTreeMap::from([(names::GENESIS_KEY.to_string(), genesis_json.to_string())]);
        for (_, e) in &entries {
            let pod = names::member_pod(&name, e.index);
            config.insert(format!("{pod}.toml"), render::node_config(&mnames, &pod, true, Some(e.id))?);
        }
        self.apply_in::<ConfigMap>(
            &plan.ns,
            &crate::member::config_map_name(&name),
            crate::member::config_map(chain, member, &config)?,
        )
        .await?;
        self.apply_in::<Service>(
            &plan.ns,
            &mnames.peers_service(),
            crate::member::peers_service(chain, member, &mnames)?,
        )
        .await?;
        self.apply_in::<Service>(
            &plan.ns,
            &mnames.client_service(),
            crate::member::client_service(chain, member, &mnames)?,
        )
        .await?;
        self.apply_in::<StatefulSet>(
            &plan.ns,
            &name,
            crate::member::statefulset(chain, member, &mnames, replicas)?,
        )
        .await?;
        Ok(certs)
    }

    /// Releases the finalizer of members whose nodes all left consensus and
    /// writes every member's status.
    async fn finish_members(
        &mut self,
        membership: &Membership,
        pods: &BTreeMap<String, PodView>,
    ) -> Result<()> {
        let domain = self.names.domain.clone();
        for plan in self.members.clone() {
            let member = &plan.member;
            let name = member.name_any();
            let count = membership.member_count(&name, &plan.ns, &domain);
            let deleting = member.meta().deletion_timestamp.is_some();
            if count == 0 && (deleting || plan.refused.is_some()) {
                crate::member::set_finalizer(self.ctx, member, false).await?;
            }
            if deleting {
                continue;
            }
            if let Some((reason, message)) = &plan.refused {
                crate::member::refuse(self.ctx, member, reason, message).await?;
                continue;
            }
            let entries: Vec<(&String, &NodeEntry)> = membership
                .nodes
                .iter()
                .filter(|(_, e)| e.namespace.as_ref() == Some(&plan.ns) && e.group == name)
                .collect();
            let ready_nodes =
                entries.iter().filter(|(k, _)| pods.get(*k).is_some_and(|v| v.ready)).count() as i32;
            let joined = entries.iter().all(|(_, e)| e.state == JoinState::Member);
            let nodes = member.spec.replicas;
            let ready = ready_nodes == nodes && count == nodes && joined && !self.chain.spec.stopped;
            let old = member.status.clone().unwrap_or_default();
            let generation = member.meta().generation;
            let mut status = ChainMemberStatus {
                observed_generation: generation,
                conditions: old.conditions.clone(),
                nodes,
                ready_nodes,
                ready: format!("{ready_nodes}/{nodes}"),
            };
            let (reason, message) = if ready {
                ("AllNodesReady".to_string(), format!("{ready_nodes}/{nodes} nodes ready and in consensus"))
            } else if let Some(l) = &plan.limited {
                ("MaxNodesExceeded".to_string(), l.clone())
            } else if self.chain.spec.stopped {
                ("Stopped".to_string(), "the chain is stopped".to_string())
            } else {
                (
                    "NodesNotReady".to_string(),
                    format!("{ready_nodes}/{nodes} nodes ready, {count} in consensus"),
                )
            };
            let changed =
                set_condition(&mut status.conditions, "Ready", ready, &reason, &message, generation);
            set_condition(&mut status.conditions, "Progressing", !ready, &reason, &message, generation);
            let degraded = plan.limited.is_some();
            set_condition(
                &mut status.conditions,
                "Degraded",
                degraded,
                if degraded { "MaxNodesExceeded" } else { "AsExpected" },
                plan.limited.as_deref().unwrap_or("no problem seen"),
                generation,
            );
            if status != old {
                crate::member::write_status(self.ctx, member, &status).await?;
            }
            if changed {
                let t = if ready { EventType::Normal } else { EventType::Warning };
                crate::member::event(
                    self.ctx,
                    member,
                    t,
                    "ConditionChanged",
                    &format!("Ready={ready}: {message}"),
                )
                .await;
            }
        }
        Ok(())
    }

    async fn write_chain_status(
        &mut self,
        membership: &Membership,
        pods: &BTreeMap<String, PodView>,
        leader: Option<&String>,
        progressing: &[String],
        certs: BTreeMap<String, String>,
        renewed_for: Option<String>,
    ) -> Result<bool> {
        let chain = self.chain;
        let old = chain.status.clone().unwrap_or_default();
        let generation = chain.meta().generation;
        let mut status = ChainStatus { conditions: old.conditions.clone(), ..ChainStatus::default() };
        let desired: i32 = if chain.spec.stopped {
            0
        } else {
            chain.spec.node_groups.iter().map(|g| g.replicas).sum::<i32>()
                + self.members.iter().map(|p| p.target).sum::<i32>()
        };
        let ready_nodes =
            membership.nodes.keys().filter(|p| pods.get(*p).is_some_and(|v| v.ready)).count() as i32;
        status.nodes = desired;
        status.ready_nodes = ready_nodes;
        status.ready = format!("{ready_nodes}/{desired}");
        status.leader = leader.map(|l| self.key_node_id(l));
        status.height =
            pods.values().filter_map(|v| v.status.as_ref()).map(|s| s.height).max().unwrap_or(old.height);
        status.block_policy = leader
            .and_then(|l| pods.get(l))
            .and_then(|v| v.policy.as_ref())
            .map(BlockPolicySpec::from)
            .or_else(|| old.block_policy.clone());
        status.genesis_hash = old.genesis_hash.clone();
        if status.genesis_hash.is_none()
            && let Some(ip) = pods.values().find(|v| v.ready).and_then(|v| v.ip.clone())
        {
            status.genesis_hash = nodes::genesis_hash(&self.ctx.http, &ip).await;
        }
        status.endpoints = Some(Endpoints {
            client: self.names.client_endpoint(),
            peers: membership.nodes.keys().map(|p| self.key_p2p(p)).collect(),
        });
        let earliest = certs
            .iter()
            .filter(|(pod, _)| membership.nodes.contains_key(*pod))
            .filter_map(|(_, pem)| pki::not_after(pem).ok())
            .min()
            .and_then(|s| Timestamp::from_second(s as i64).ok())
            .map(|t| t.to_string());
        status.certificates = Some(CertificatesStatus { earliest_expiry: earliest, renewed_for });
        let roles: HashMap<&str, NodeRole> =
            chain.spec.node_groups.iter().map(|g| (g.name.as_str(), g.role)).collect();
        status.members = membership
            .nodes
            .iter()
            .map(|(pod, e)| {
                let v = pods.get(pod).cloned().unwrap_or_default();
                let role = match &e.namespace {
                    Some(ns) => self
                        .members
                        .iter()
                        .find(|p| &p.ns == ns && p.member.name_any() == e.group)
                        .map_or(NodeRole::Consensus, |p| p.member.spec.role),
                    None => roles.get(e.group.as_str()).copied().unwrap_or_default(),
                };
                MemberStatus {
                    name: self.key_node_id(pod),
                    id: e.id,
                    group: e.group.clone(),
                    namespace: e.namespace.clone().unwrap_or_else(|| self.ns.clone()),
                    role: role.as_str().into(),
                    ready: v.ready,
                    height: v.status.map_or(0, |s| s.height),
                    image: v.image,
                }
            })
            .collect();
        status.observed_generation = generation;

        let images_current =
            membership.nodes.keys().all(|p| pods.get(p).is_none_or(|v| v.image == chain.node_image()));
        let ready = !chain.spec.stopped
            && progressing.is_empty()
            && images_current
            && ready_nodes == desired
            && leader.is_some();
        let (ready_reason, ready_msg) = if chain.spec.stopped {
            ("Stopped", "the chain is stopped".to_string())
        } else if ready {
            (
                "AllNodesReady",
                format!(
                    "{ready_nodes}/{desired} nodes ready, leader {}",
                    status.leader.clone().unwrap_or_default()
                ),
            )
        } else if leader.is_none() {
            ("NoLeader", format!("{ready_nodes}/{desired} nodes ready, no leader yet"))
        } else {
            ("NodesNotReady", format!("{ready_nodes}/{desired} nodes ready"))
        };
        let is_progressing = !ready && !chain.spec.stopped;
        let progress_msg = if progressing.is_empty() {
            if images_current { ready_msg.clone() } else { format!("rolling out {}", chain.node_image()) }
        } else {
            progressing.join("; ")
        };
        let degraded = !chain.spec.stopped && leader.is_none() && old.genesis_hash.is_some();
        let mut transitions = Vec::new();
        if set_condition(&mut status.conditions, "Ready", ready, ready_reason, &ready_msg, generation) {
            transitions.push((
                if ready { EventType::Normal } else { EventType::Warning },
                format!("Ready={ready}: {ready_msg}"),
            ));
        }
        let progress_reason = if is_progressing { "Reconciling" } else { "Reconciled" };
        if set_condition(
            &mut status.conditions,
            "Progressing",
            is_progressing,
            progress_reason,
            &progress_msg,
            generation,
        ) {
            transitions.push((EventType::Normal, format!("Progressing={is_progressing}: {progress_msg}")));
        }
        let (degraded_reason, degraded_msg) = if degraded {
            ("NoLeader", "the chain lost its leader")
        } else {
            ("AsExpected", "no problem seen")
        };
        if set_condition(
            &mut status.conditions,
            "Degraded",
            degraded,
            degraded_reason,
            degraded_msg,
            generation,
        ) {
            transitions.push((
                if degraded { EventType::Warning } else { EventType::Normal },
                format!("Degraded={degraded}: {degraded_msg}"),
            ));
        }
        for (t, note) in transitions {
            self.event(t, "ConditionChanged", note);
        }
        if old != status {
            self.write_status(&status).await?;
        }
        Ok(ready)
    }

    async fn write_status(&self, status: &ChainStatus) -> Result<()> {
        let api: Api<Chain> = self.api();
        let patch = json!({"status": status});
        api.patch_status(&self.names.chain, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }
}

/// A policy as events show it.
fn show_policy(p: &BlockPolicy) -> String {
    format!("max_txs={} max_bytes={} max_wait_ms={}", p.max_txs, p.max_bytes, p.max_wait_ms())
}

/// The membership key of the leader most nodes name (the chain's pods are
/// in `ns`; a leader elsewhere is a ChainMember's node).
fn leader_of(pods: &BTreeMap<String, PodView>, ns: &str) -> Option<String> {
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    for s in pods.values().filter_map(|v| v.status.as_ref()) {
        if let Some(l) = &s.leader {
            let key = match l.split_once('.') {
                Some((_, n)) if n == ns => pod_of_node(l).to_string(),
                _ => l.clone(),
            };
            *votes.entry(key).or_default() += 1;
        }
    }
    votes.into_iter().max_by_key(|(_, n)| *n).map(|(pod, _)| pod).filter(|p| pods.contains_key(p))
}

/// Sets a condition; keeps its transition time when the status does not
/// change. True when the status (True/False) changed or it is new.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> bool {
    let status = if value { "True" } else { "False" };
    let now = Time(Timestamp::now());
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let changed = c.status != status;
            if changed {
                c.last_transition_time = now;
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message.into();
            c.observed_generation = generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.into(),
                status: status.into(),
                reason: reason.into(),
                message: message.into(),
                observed_generation: generation,
                last_transition_time: now,
            });
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut c = Vec::new();
        assert!(set_condition(&mut c, "Ready", false, "NoLeader", "x", Some(1)));
        let t = c[0].last_transition_time.clone();
        assert!(!set_condition(&mut c, "Ready", false, "NoLeader", "y", Some(2)));
        assert_eq!(c[0].last_transition_time, t);
        assert_eq!(c[0].observed_generation, Some(2));
        assert!(set_condition(&mut c, "Ready", true, "AllNodesReady", "z", Some(2)));
    }

    #[test]
    fn membership_counts_from_zero_without_gaps() {
        let names = Names::new("c", "n", "cluster.local");
        let mut m = Membership::default();
        for i in [0, 1, 3] {
            m.nodes.insert(
                names.pod("core", i),
                NodeEntry {
                    id: i as u64 + 1,
                    group: "core".into(),
                    index: i,
                    state: JoinState::Member,
                    namespace: None,
                },
            );
        }
        assert_eq!(m.count(&names, "core"), 2);
        assert_eq!(m.count(&names, "other"), 0);
    }
}
