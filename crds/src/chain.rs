//! `Chain`: a consortium chain the operator runs as StatefulSets of nodes.

use govchain_types::{BlockPolicy, ConsensusKind, VocabularyError, chain::Suite};
use k8s_openapi::{
    api::core::v1::ResourceRequirements,
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::Condition},
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The desired state of a govchain consortium chain: its identity (fixed at
/// creation), its node groups, who may join, and its certificate policy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "govchain.io",
    version = "v1alpha1",
    kind = "Chain",
    namespaced,
    status = "ChainStatus",
    shortname = "gchain",
    category = "govchain",
    derive = "PartialEq",
    doc = "A govchain consortium chain: the operator runs its nodes as StatefulSets, issues their certificates from the chain's CA and reports the chain's health in status.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.ready", description = "Ready nodes / desired nodes"),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".status.nodes", description = "Desired nodes"),
    printcolumn(name = "Height", type_ = "integer", json_path = ".status.height", description = "Highest committed block"),
    printcolumn(name = "Consensus", type_ = "string", json_path = ".spec.consensus", description = "Consensus engine"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40").message("metadata.name must be a DNS label of at most 40 characters starting with a letter (it names the chain's Services)"),
    validation = Rule::new("self.spec.nodeGroups.all(g, size(self.metadata.name) + size(g.name) <= 51)").message("metadata.name and each node group name together must be at most 51 characters (<chain>-<group> names a StatefulSet)")
)]
#[x_kube(
    validation = Rule::new("has(self.chainId) == has(oldSelf.chainId) && (!has(self.chainId) || self.chainId == oldSelf.chainId)").message("chainId is immutable"),
    validation = Rule::new("self.nodeGroups.all(g, self.nodeGroups.exists_one(h, h.name == g.name))").message("node group names must be unique"),
    validation = Rule::new("self.consensus != 'solo' || (size(self.nodeGroups) == 1 && self.nodeGroups[0].role == 'consensus' && self.nodeGroups[0].replicas == 1)").message("a solo chain has exactly one node group, with role consensus and replicas 1"),
    validation = Rule::new("self.consensus == 'solo' || self.nodeGroups.exists(g, g.role == 'consensus' && g.replicas > 0)").message("a raft or hotstuff chain needs a consensus node group with at least one replica"),
    validation = Rule::new("self.consensus != 'solo' || (has(self.blockPolicy) == has(oldSelf.blockPolicy) && (!has(self.blockPolicy) || self.blockPolicy == oldSelf.blockPolicy))").message("a solo chain's blockPolicy is fixed in its genesis"),
    validation = Rule::new("self.nodeGroups.all(g, oldSelf.nodeGroups.all(o, o.name != g.name || o.role == g.role))").message("a node group's role is immutable (add a new group instead)"),
    validation = Rule::new("self.invitations.all(i, self.invitations.exists_one(j, j.__namespace__ == i.__namespace__))").message("invitation namespaces must be unique")
)]
#[serde(rename_all = "camelCase")]
pub struct ChainSpec {
    /// Chain id that transactions name; defaults to the Chain's metadata.name.
    /// 1-51 characters of lower-case letters, digits, '.' and '-', starting and
    /// ending with a letter or digit. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 51), regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub chain_id: Option<String>,

    /// Consensus engine: `raft` (replicated, crash fault tolerant),
    /// `hotstuff` (replicated, Byzantine fault tolerant: n consensus nodes
    /// tolerate floor((n-1)/3) lying ones; every node is known by its key in
    /// the genesis) or `solo` (exactly one consensus node). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("consensus is immutable"))]
    pub consensus: Consensus,

    /// Crypto suite of keys, signatures and certificates: `gm` (SM2/SM3/SM4),
    /// `intl-k1` (secp256k1) or `intl-r1` (P-256). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("cryptoSuite is immutable"))]
    pub crypto_suite: CryptoSuite,

    /// Organization (the `O` of the chain's certificates); defaults to the
    /// Chain's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub organization: Option<String>,

    /// Node image repository; the container image is `<image>:<version>`.
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$"))]
    pub image: String,

    /// Node image tag (for example `0.1.0`). Changing it rolls the nodes one
    /// at a time, each waiting until the previous one has rejoined.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"))]
    pub version: String,

    /// How blocks are cut; unset fields take the defaults. On a raft or
    /// hotstuff chain a change reaches every running node through
    /// consensus, without a restart; a solo chain's policy is fixed in its
    /// genesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_policy: Option<BlockPolicySpec>,

    /// The chain's own node groups (1 to 8, unique names); each becomes a
    /// StatefulSet named `<chain>-<group>`.
    ///
    /// A list keyed by `name` (so the API server can follow each group
    /// across an update and hold its storage immutable).
    #[schemars(length(min = 1, max = 8))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub node_groups: Vec<NodeGroup>,

    /// Namespaces whose ChainMember may join this chain.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub invitations: Vec<Invitation>,

    /// Node certificate validity and renewal.
    #[serde(default)]
    pub certificates: CertificatesSpec,

    /// True scales every node to zero without changing consensus membership
    /// (the chain is stopped); false runs them again.
    #[serde(default)]
    pub stopped: bool,
}

fn default_image() -> String {
    "govchain/node".into()
}

/// Consensus engine of a chain (the CRD's spelling of
/// [`ConsensusKind`]).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Consensus {
    /// Raft (openraft): replicated, tolerates the loss of a minority.
    #[default]
    Raft,
    /// Two-chain HotStuff: replicated, Byzantine fault tolerant (n
    /// consensus nodes tolerate floor((n-1)/3) lying ones).
    Hotstuff,
    /// One node orders blocks; no replication of consensus.
    Solo,
}

impl Consensus {
    /// The name the node's genesis uses (`raft`, `hotstuff`, `solo`).
    pub fn as_str(self) -> &'static str {
        ConsensusKind::from(self).as_str()
    }
}

impl From<Consensus> for ConsensusKind {
    fn from(c: Consensus) -> ConsensusKind {
        match c {
            Consensus::Raft => ConsensusKind::Raft,
            Consensus::Hotstuff => ConsensusKind::Hotstuff,
            Consensus::Solo => ConsensusKind::Solo,
        }
    }
}

impl From<ConsensusKind> for Consensus {
    fn from(c: ConsensusKind) -> Consensus {
        match c {
            ConsensusKind::Raft => Consensus::Raft,
            ConsensusKind::Hotstuff => Consensus::Hotstuff,
            ConsensusKind::Solo => Consensus::Solo,
        }
    }
}

/// Crypto suite of a chain (the CRD's spelling of [`Suite`]).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// SM2 signatures, SM3 hashes, SM4 encryption (GB/T).
    #[default]
    #[serde(rename = "gm")]
    Gm,
    /// ECDSA on secp256k1 with Keccak/SHA-256.
    #[serde(rename = "intl-k1")]
    IntlK1,
    /// ECDSA on NIST P-256 with SHA-256.
    #[serde(rename = "intl-r1")]
    IntlR1,
}

impl CryptoSuite {
    /// The suite's name as the node and `govchain_crypto::Suite` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoSuite::Gm => "gm",
            CryptoSuite::IntlK1 => "intl-k1",
            CryptoSuite::IntlR1 => "intl-r1",
        }
    }
}

impl From<CryptoSuite> for Suite {
    fn from(s: CryptoSuite) -> Suite {
        match s {
            CryptoSuite::Gm => Suite::Gm,
            CryptoSuite::IntlK1 => Suite::IntlK1,
            CryptoSuite::IntlR1 => Suite::IntlR1,
        }
    }
}

impl From<Suite> for CryptoSuite {
    fn from(s: Suite) -> CryptoSuite {
        match s {
            Suite::Gm => CryptoSuite::Gm,
            Suite::IntlK1 => CryptoSuite::IntlK1,
            Suite::IntlR1 => CryptoSuite::IntlR1,
        }
    }
}

/// Block cutting policy; a block is cut when any limit is reached. Unset
/// fields take the chain vocabulary's defaults. The schema's bounds and the
/// API server's refusal messages come from [`BlockPolicy::LIMITS`], the same
/// limits the node, the REST API and the drivers check.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = block_policy_schema)]
pub struct BlockPolicySpec {
    /// Most transactions in one block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_txs: Option<u32>,
    /// Most payload bytes in one block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Longest wait in milliseconds for more transactions once one is
    /// pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_ms: Option<u64>,
}

impl BlockPolicySpec {
    /// The policy this spec asks for: unset fields at their defaults, every
    /// field checked by [`BlockPolicy::from_parts`].
    pub fn to_policy(&self) -> Result<BlockPolicy, VocabularyError> {
        let d = BlockPolicy::default();
        BlockPolicy::from_parts(
            self.max_txs.map_or(d.max_txs as u64, u64::from),
            self.max_bytes.unwrap_or(d.max_bytes as u64),
            self.max_wait_ms.unwrap_or(d.max_wait_ms()),
        )
    }
}

/// Every field set from `p`.
impl From<&BlockPolicy> for BlockPolicySpec {
    fn from(p: &BlockPolicy) -> BlockPolicySpec {
        BlockPolicySpec {
            max_txs: u32::try_from(p.max_txs).ok(),
            max_bytes: u64::try_from(p.max_bytes).ok(),
            max_wait_ms: Some(p.max_wait_ms()),
        }
    }
}

/// Writes [`BlockPolicy::LIMITS`] into the schema of [`BlockPolicySpec`]:
/// each field's `minimum`, `maximum`, the range and default in its
/// description, and a CEL rule whose message is
/// [`PolicyLimit::message`](govchain_types::PolicyLimit::message),
/// so the API server refuses an out-of-range value with the words the REST
/// API uses.
fn block_policy_schema(schema: &mut schemars::Schema) {
    for limit in BlockPolicy::LIMITS {
        let Some(field) =
            schema.pointer_mut(&format!("/properties/{}", limit.crd_field)).and_then(|v| v.as_object_mut())
        else {
            continue;
        };
        field.insert("minimum".into(), limit.min.into());
        field.insert("maximum".into(), limit.max.into());
        let described = field.get("description").and_then(|d| d.as_str()).unwrap_or_default();
        let described = format!("{described} {} to {}; default {}.", limit.min, limit.max, limit.default);
        field.insert("description".into(), described.trim_start().into());
        field.insert(
            "x-kubernetes-validations".into(),
            serde_json::json!([{
                "rule": format!("self >= {} && self <= {}", limit.min, limit.max),
                "message": limit.message(),
            }]),
        );
    }
}

/// A group of identical nodes: one StatefulSet.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroup {
    /// Group name, a DNS label of 1-20 characters; unique in the chain. Pods
    /// are named `<chain>-<group>-<index>`.
    #[schemars(length(min = 1, max = 20), regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub name: String,
    /// Number of nodes (0-32). Changing it adds or removes consensus members
    /// one node at a time.
    #[schemars(range(min = 0, max = 32))]
    pub replicas: i32,
    /// `consensus` (voting members) or `backup` (Raft learners that keep a
    /// full ledger copy and are never promoted). Immutable per group.
    #[serde(default)]
    pub role: NodeRole,
    /// CPU and memory requests and limits of each node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Persistent volume of each node (its ledger and state).
    #[serde(default)]
    pub storage: StorageSpec,
}

/// What a node does in consensus (the CRD's spelling of
/// [`govchain_types::NodeRole`]).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A voting member.
    #[default]
    Consensus,
    /// A Raft learner: replicates the ledger, never votes.
    Backup,
}

impl NodeRole {
    /// `consensus` or `backup`.
    pub fn as_str(self) -> &'static str {
        govchain_types::NodeRole::from(self).as_str()
    }
}

impl From<NodeRole> for govchain_types::NodeRole {
    fn from(r: NodeRole) -> govchain_types::NodeRole {
        match r {
            NodeRole::Consensus => govchain_types::NodeRole::Consensus,
            NodeRole::Backup => govchain_types::NodeRole::Backup,
        }
    }
}

impl From<govchain_types::NodeRole> for NodeRole {
    fn from(r: govchain_types::NodeRole) -> NodeRole {
        match r {
            govchain_types::NodeRole::Consensus => NodeRole::Consensus,
            govchain_types::NodeRole::Backup => NodeRole::Backup,
        }
    }
}

/// A node's persistent volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.size == oldSelf.size && has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("a node group's storage size and storageClassName are immutable"))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size (a Kubernetes quantity such as `1Gi`). Immutable per group.
    #[serde(default = "default_size")]
    pub size: Quantity,
    /// StorageClass of the volume; the cluster default when unset. Immutable per group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
    /// What happens to the volumes when the Chain is deleted or the group
    /// scaled down: `Delete` (default) or `Retain`.
    #[serde(default)]
    pub retention: Retention,
}

fn default_size() -> Quantity {
    Quantity("1Gi".into())
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec { size: default_size(), storage_class_name: None, retention: Retention::Delete }
    }
}

/// Fate of a node's volume when its node goes away.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Retention {
    /// Delete the volume with the node.
    #[default]
    Delete,
    /// Keep the volume (and the ledger on it).
    Retain,
}

impl Retention {
    /// `Delete` or `Retain`, as a StatefulSet's PVC retention policy spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Retention::Delete => "Delete",
            Retention::Retain => "Retain",
        }
    }
}

/// A namespace whose ChainMember may join the chain.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// The invited namespace.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
    /// Organization the invited nodes' certificates carry; defaults to the
    /// ChainMember's own organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub organization: Option<String>,
    /// Most nodes the invited namespace may run (0-32); unlimited when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 32))]
    pub max_nodes: Option<i32>,
}

/// Node certificate policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = Rule::new("self.renewBeforeDays < self.validityDays").message("certificates.renewBeforeDays must be below certificates.validityDays"))]
#[serde(rename_all = "camelCase")]
pub struct CertificatesSpec {
    /// Validity of a node certificate in days (1-3650).
    #[serde(default = "default_validity_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub validity_days: u32,
    /// Renew a node certificate this many days before it expires (1-365).
    #[serde(default = "default_renew_before_days")]
    #[schemars(range(min = 1, max = 365))]
    pub renew_before_days: u32,
}

fn default_validity_days() -> u32 {
    365
}

fn default_renew_before_days() -> u32 {
    30
}

impl Default for CertificatesSpec {
    fn default() -> Self {
        CertificatesSpec {
            validity_days: default_validity_days(),
            renew_before_days: default_renew_before_days(),
        }
    }
}

/// What the operator observed of a chain.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChainStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (every desired node runs and the chain has a leader),
    /// `Progressing` (the operator is changing something) and `Degraded`
    /// (something needs attention), each with its observedGeneration.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Desired number of nodes (the chain's own groups).
    #[serde(default)]
    pub nodes: i32,
    /// Nodes that answer ready.
    #[serde(default)]
    pub ready_nodes: i32,
    /// `readyNodes/nodes`, for `kubectl get`.
    #[serde(default)]
    pub ready: String,
    /// Name of the node that leads consensus, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Highest committed block height seen on any node.
    #[serde(default)]
    pub height: u64,
    /// The block policy in force, as the leader reports it (`GET /v1/policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_policy: Option<BlockPolicySpec>,
    /// Hex hash of the genesis block; fixed for the chain's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
    /// Where clients and peers reach the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// Node certificate state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesStatus>,
    /// Every node of the chain, including ChainMember nodes.
    #[serde(default)]
    pub members: Vec<MemberStatus>,
}

/// Addresses of a chain.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Client API (REST/JSON): `http://<chain>.<namespace>.svc.<clusterDomain>:8600`.
    #[serde(default)]
    pub client: String,
    /// Node-to-node (mutual TLS) addresses of the nodes.
    #[serde(default)]
    pub peers: Vec<String>,
}

/// Node certificate state.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesStatus {
    /// Earliest notAfter of the nodes' certificates (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_expiry: Option<String>,
    /// The value of the `govchain.io/renew-certificates` annotation whose
    /// renewal finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_for: Option<String>,
}

/// One node of the chain.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Node name (its node id and certificate CN): `<pod>.<namespace>`.
    pub name: String,
    /// Consensus id (never reused).
    #[serde(default)]
    pub id: u64,
    /// Node group (or ChainMember name) it belongs to.
    #[serde(default)]
    pub group: String,
    /// Namespace its pod runs in.
    #[serde(default)]
    pub namespace: String,
    /// `consensus` or `backup`.
    #[serde(default)]
    pub role: String,
    /// Whether the node answers ready.
    #[serde(default)]
    pub ready: bool,
    /// Its committed height.
    #[serde(default)]
    pub height: u64,
    /// The container image it runs.
    #[serde(default)]
    pub image: String,
}

impl Chain {
    /// The chain id: `spec.chainId`, or the Chain's name.
    pub fn chain_id(&self) -> String {
        self.spec.chain_id.clone().unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    /// The organization: `spec.organization`, or the Chain's namespace.
    pub fn organization(&self) -> String {
        self.spec.organization.clone().unwrap_or_else(|| self.metadata.namespace.clone().unwrap_or_default())
    }

    /// The node container image, `<image>:<version>`.
    pub fn node_image(&self) -> String {
        format!("{}:{}", self.spec.image, self.spec.version)
    }

    /// The block policy `spec.blockPolicy` asks for (the defaults for what
    /// it leaves out), checked by the chain vocabulary.
    pub fn block_policy(&self) -> Result<BlockPolicy, VocabularyError> {
        self.spec.block_policy.clone().unwrap_or_default().to_policy()
    }
}
