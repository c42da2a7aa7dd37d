//! The control plane's vocabulary: the states a row can be in (stored as
//! text columns, compared as enums), the tenant a request acts for, and
//! the values that are both stored and sent (a request's spec, a node's
//! resources, a block policy). Nothing here does I/O; every other module
//! may depend on it.

use govchain_crypto::Suite;
use govchain_driver::{BlockPolicy, ConsensusKind, GovernancePolicy, NodeRole, Resources};
use govchain_types::VocabularyError;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, Result},
    validate::refuse,
};

/// Declares a state enum stored as a text column: the ORM's enum support
/// maps each variant to its wire name, and `as_str` gives the same name
/// for the JSON views (which stay strings).
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $($(#[$vdoc])* #[sea_orm(string_value = $text)] $variant,)+
        }

        impl $name {
            /// The stored and sent name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The variant named `s`, if any.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }
    };
}

text_enum! {
    /// An organization's real-name review.
    OrgStatus {
        /// Registered, awaiting the platform's review.
        Pending = "pending",
        /// Reviewed (or created by the platform): may request resources.
        Active = "active",
        /// The review refused it.
        Rejected = "rejected",
    }
}

text_enum! {
    /// Whether an account may log in.
    UserStatus {
        /// It may.
        Active = "active",
        /// Frozen by an administrator.
        Frozen = "frozen",
    }
}

text_enum! {
    /// Where a user's real-name verification is (SPEC ORG-1).
    IdentityStatus {
        /// Nothing submitted yet.
        Unverified = "unverified",
        /// Submitted, awaiting an administrator's review.
        Pending = "pending",
        /// An administrator confirmed it.
        Verified = "verified",
        /// An administrator refused it; the user may submit again.
        Rejected = "rejected",
    }
}

text_enum! {
    /// The kind of identity document a real-name verification names.
    IdentityKind {
        /// The resident identity card (GB 11643: 18 characters, checked).
        ResidentId = "resident_id",
        /// A passport.
        Passport = "passport",
    }
}

text_enum! {
    /// What a resource request asks for.
    RequestKind {
        /// A new chain.
        Chain = "chain",
        /// More nodes on a chain.
        Nodes = "nodes",
    }
}

text_enum! {
    /// Where a resource request is.
    RequestStatus {
        /// Waiting for the platform's decision.
        Pending = "pending",
        /// The platform refused it.
        Rejected = "rejected",
        /// The requester withdrew it.
        Cancelled = "cancelled",
        /// Approved; a job provisions it.
        Provisioning = "provisioning",
        /// Provisioned.
        Running = "running",
        /// Provisioning gave up.
        Failed = "failed",
    }
}

text_enum! {
    /// A chain's desired state.
    ChainState {
        /// Its first nodes are being started.
        Provisioning = "provisioning",
        /// Running.
        Running = "running",
        /// Stopped (data kept).
        Stopped = "stopped",
    }
}

text_enum! {
    /// A contract instance on a chain (SPEC SC-3).
    ContractState {
        /// Its deployment transaction is on its way.
        Deploying = "deploying",
        /// Deployed; takes calls.
        Active = "active",
        /// Refuses calls until unfrozen.
        Frozen = "frozen",
        /// The deployment waits for the approval of a governance proposal.
        Proposed = "proposed",
        /// The deployment failed or its proposal was rejected (the only
        /// state a contract may be deleted in).
        Failed = "failed",
    }
}

text_enum! {
    /// One version of a contract's code.
    VersionStatus {
        /// Saved, not deployed yet (an upgrade's new code).
        Draft = "draft",
        /// Its transaction is on its way.
        Deploying = "deploying",
        /// The code the contract runs.
        Active = "active",
        /// Replaced by a later version.
        Superseded = "superseded",
        /// Its transaction failed.
        Failed = "failed",
    }
}

text_enum! {
    /// A node's desired state.
    NodeState {
        /// Running.
        Running = "running",
        /// Stopped (data kept).
        Stopped = "stopped",
    }
}

text_enum! {
    /// A node's part in consensus.
    NodeKind {
        /// A voter.
        Consensus = "consensus",
        /// A non-voting ledger copy.
        Backup = "backup",
    }
}

impl From<NodeRole> for NodeKind {
    fn from(r: NodeRole) -> NodeKind {
        match r {
            NodeRole::Consensus => NodeKind::Consensus,
            NodeRole::Backup => NodeKind::Backup,
        }
    }
}

text_enum! {
    /// What a revision of a contract project did to its file.
    RevisionAction {
        /// Wrote the file (new or changed).
        Save = "save",
        /// Removed it.
        Delete = "delete",
    }
}

text_enum! {
    /// An invitation's answer.
    InvitationStatus {
        /// Not answered yet.
        Pending = "pending",
        /// The invited organization joined.
        Accepted = "accepted",
        /// The invited organization said no.
        Declined = "declined",
    }
}

text_enum! {
    /// An alert's state (SPEC OPS-2).
    AlertState {
        /// The conditions hold, not yet for the rule's duration.
        Pending = "pending",
        /// The conditions held for the duration; notifications went out.
        Firing = "firing",
        /// The conditions stopped holding after it fired.
        Resolved = "resolved",
    }
}

text_enum! {
    /// Where an alert notification stands.
    DeliveryStatus {
        /// Not sent yet, or to be retried at `next_attempt_at`.
        Pending = "pending",
        /// Delivered.
        Sent = "sent",
        /// Given up (after the last attempt, or impossible to send).
        Failed = "failed",
    }
}

/// Whose rows a request may touch: the caller's organization, or every
/// organization for the platform operator. Services put it in their
/// queries' WHERE clauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    /// The acting user.
    pub user_id: i64,
    /// The acting user's organization.
    pub org_id: i64,
    /// Whether the caller sees every organization (the platform operator).
    pub all: bool,
}

impl Tenant {
    /// Whether rows of organization `org_id` are the tenant's.
    pub fn owns(&self, org_id: i64) -> bool {
        self.all || self.org_id == org_id
    }

    /// The organization to restrict a query to (`None`: every one).
    pub fn only(&self) -> Option<i64> {
        (!self.all).then_some(self.org_id)
    }
}

/// Most nodes a chain may have.
pub const MAX_CHAIN_NODES: u32 = 32;

/// Resources of one node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcesView {
    /// CPU, millicores (50 to 64000).
    #[schema(minimum = 50, maximum = 64000)]
    pub cpu_millis: u32,
    /// Memory, MiB (64 to 262144).
    #[schema(minimum = 64, maximum = 262144)]
    pub memory_mb: u32,
    /// Storage, MiB (64 to 16777216).
    #[schema(minimum = 64, maximum = 16777216)]
    pub storage_mb: u32,
}

impl ResourcesView {
    pub(crate) fn check(&self) -> Result<()> {
        if !(50..=64_000).contains(&self.cpu_millis) {
            return Err(refuse("cpu_millis", "cpu_millis must be 50 to 64000"));
        }
        if !(64..=262_144).contains(&self.memory_mb) {
            return Err(refuse("memory_mb", "memory_mb must be 64 to 262144"));
        }
        if !(64..=16_777_216).contains(&self.storage_mb) {
            return Err(refuse("storage_mb", "storage_mb must be 64 to 16777216"));
        }
        Ok(())
    }

    pub(crate) fn to_driver(&self) -> Resources {
        Resources { cpu_millis: self.cpu_millis, memory_mb: self.memory_mb, storage_mb: self.storage_mb }
    }
}

/// When a block is cut. Limits and defaults are the chain vocabulary's
/// (`govchain_types::BlockPolicy`), the ones the node, the drivers and the
/// CRDs check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockPolicyView {
    /// Most transactions per block (1 to 100000).
    pub max_txs: usize,
    /// Most payload bytes per block (1 KiB to 64 MiB).
    pub max_bytes: usize,
    /// Longest wait for more transactions once one is pending, ms (0 to 10000).
    pub max_wait_ms: u64,
}

impl Default for BlockPolicyView {
    fn default() -> BlockPolicyView {
        BlockPolicyView::from(&BlockPolicy::default())
    }
}

impl From<&BlockPolicy> for BlockPolicyView {
    fn from(p: &BlockPolicy) -> BlockPolicyView {
        BlockPolicyView { max_txs: p.max_txs, max_bytes: p.max_bytes, max_wait_ms: p.max_wait_ms() }
    }
}

impl BlockPolicyView {
    pub(crate) fn check(&self) -> Result<()> {
        self.to_driver().map(|_| ())
    }

    /// The policy, checked by the vocabulary's one function; its message
    /// (`max_wait_ms must be 0 to 10000`) is the answer's.
    pub(crate) fn to_driver(&self) -> Result<BlockPolicy> {
        BlockPolicy::from_parts(self.max_txs as u64, self.max_bytes as u64, self.max_wait_ms).map_err(|e| {
            // The vocabulary's message starts with the field it refuses.
            let m = e.to_string();
            match ["max_txs", "max_bytes", "max_wait_ms"].into_iter().find(|f| m.starts_with(f)) {
                Some(f) => refuse(f, m),
                None => ApiError::invalid(m),
            }
        })
    }
}

pub(crate) fn parse_suite(s: &str) -> Result<Suite> {
    s.parse().map_err(|_| refuse("suite", format!("suite `{s}` is not offered (gm, intl-k1, intl-r1)")))
}

pub(crate) fn parse_role(s: &str) -> Result<NodeRole> {
    s.parse().map_err(|_| refuse("role", format!("node role `{s}` is not one of consensus, backup")))
}

/// What is requested.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestSpec {
    /// A new chain with the requesting organization's nodes.
    Chain(ChainRequest),
    /// More nodes of the requesting organization on a chain it is a member
    /// of (after accepting an invitation, or its own chain).
    Nodes(NodesRequest),
}

/// A new chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainRequest {
    /// Chain name: 1-40 of a-z, 0-9, '-'.
    #[schema(min_length = 1, max_length = 40, pattern = "^[a-z][a-z0-9-]{0,39}$")]
    pub name: String,
    /// `raft` (crash fault tolerant), `hotstuff` (Byzantine fault tolerant:
    /// n consensus nodes tolerate floor((n-1)/3) lying ones) or `solo` (a
    /// single node).
    #[schema(pattern = "^(raft|hotstuff|solo)$")]
    pub consensus: String,
    /// Crypto suite: `gm`, `intl-k1` or `intl-r1`.
    #[schema(pattern = "^(gm|intl-k1|intl-r1)$")]
    pub suite: String,
    /// The requesting organization's nodes.
    #[schema(minimum = 1, maximum = 32)]
    pub nodes: u32,
    /// Node limit of the chain across all member organizations.
    #[serde(default = "default_max_nodes")]
    #[schema(minimum = 1, maximum = 32)]
    pub max_nodes: u32,
    /// Block policy (defaults: 5000 transactions, 8 MiB, 2 ms).
    #[serde(default)]
    pub block_policy: Option<BlockPolicyView>,
    /// Resources per node.
    pub resources: ResourcesView,
    /// Who decides changes to the chain's contracts (SPEC SC-4); by
    /// default nothing needs a proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_governance: Option<ContractGovernanceView>,
}

/// A chain's contract governance: the actions in `actions` need a proposal
/// of a member organization and `threshold` approvals of the members.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractGovernanceView {
    /// Member organizations (domains) that propose and vote; by default
    /// the organizations running the chain's first nodes.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub members: Vec<String>,
    /// Approvals a proposal needs; 0 (the default) means a majority.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 64)]
    pub threshold: u32,
    /// The actions that need a proposal: `deploy`, `upgrade`, `freeze`,
    /// `unfreeze`, `acl`.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Blocks after which an open proposal expires (0: 10,000).
    #[serde(default)]
    pub proposal_ttl_blocks: u64,
}

impl ContractGovernanceView {
    /// The chain's policy, checked.
    pub(crate) fn to_policy(&self) -> Result<GovernancePolicy> {
        let mut actions = Vec::with_capacity(self.actions.len());
        for a in &self.actions {
            let parsed = serde_json::from_value(serde_json::Value::String(a.clone())).map_err(|_| {
                refuse(
                    "contract_governance.actions",
                    format!("`{a}` is not a governed action (deploy, upgrade, freeze, unfreeze, acl)"),
                )
            })?;
            actions.push(parsed);
        }
        for m in &self.members {
            crate::validate::domain(m).map_err(|e| refuse("contract_governance.members", e.message))?;
        }
        let policy = GovernancePolicy {
            members: self.members.clone(),
            threshold: self.threshold as usize,
            actions,
            proposal_ttl_blocks: self.proposal_ttl_blocks,
            proposer_abstains: false,
        };
        policy.validate().map_err(|e| refuse("contract_governance", e.to_string()))?;
        Ok(policy)
    }
}

fn default_max_nodes() -> u32 {
    16
}

/// More nodes on a chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodesRequest {
    /// The chain.
    pub chain_id: i64,
    /// How many nodes.
    #[schema(minimum = 1, maximum = 32)]
    pub count: u32,
    /// `consensus` (voting) or `backup` (a non-voting ledger copy).
    #[serde(default = "default_role")]
    #[schema(pattern = "^(consensus|backup)$")]
    pub role: String,
    /// Resources per node.
    pub resources: ResourcesView,
}

pub(crate) fn default_role() -> String {
    NodeKind::Consensus.into()
}

impl RequestSpec {
    pub(crate) fn nodes(&self) -> u32 {
        match self {
            RequestSpec::Chain(c) => c.nodes,
            RequestSpec::Nodes(n) => n.count,
        }
    }

    pub(crate) fn resources(&self) -> &ResourcesView {
        match self {
            RequestSpec::Chain(c) => &c.resources,
            RequestSpec::Nodes(n) => &n.resources,
        }
    }

    pub(crate) fn kind(&self) -> RequestKind {
        match self {
            RequestSpec::Chain(_) => RequestKind::Chain,
            RequestSpec::Nodes(_) => RequestKind::Nodes,
        }
    }

    /// Checks what the schema cannot say: counts, names, the suite and the
    /// consensus offered, the block policy's limits.
    pub(crate) fn check(&self) -> Result<()> {
        let n = self.nodes();
        if n == 0 || n > MAX_CHAIN_NODES {
            let field = if matches!(self, RequestSpec::Chain(_)) { "nodes" } else { "count" };
            return Err(refuse(field, format!("node count must be 1 to {MAX_CHAIN_NODES}")));
        }
        self.resources().check()?;
        match self {
            RequestSpec::Chain(c) => {
                crate::validate::chain_name(&c.name)?;
                parse_suite(&c.suite)?;
                // The vocabulary's message: it lists every kind offered.
                let kind: ConsensusKind =
                    c.consensus.parse().map_err(|e: VocabularyError| refuse("consensus", e.to_string()))?;
                if kind.max_voters().is_some_and(|most| c.nodes as usize > most) {
                    return Err(refuse(
                        "nodes",
                        format!("{kind} ordering runs exactly one node; use raft or hotstuff"),
                    ));
                }
                if c.max_nodes < c.nodes || c.max_nodes > MAX_CHAIN_NODES {
                    return Err(refuse(
                        "max_nodes",
                        format!("max_nodes must be from nodes to {MAX_CHAIN_NODES}"),
                    ));
                }
                if let Some(p) = &c.block_policy {
                    p.check()?;
                }
                if let Some(g) = &c.contract_governance {
                    g.to_policy()?;
                }
            }
            RequestSpec::Nodes(r) => {
                parse_role(&r.role)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        use sea_orm::{ActiveEnum, Iterable};
        for s in RequestStatus::iter() {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.to_value(), s.as_str());
        }
        assert_eq!(RequestStatus::parse("approved"), None);
        assert_eq!(ChainState::Provisioning.to_string(), "provisioning");
        assert_eq!(NodeKind::from(NodeRole::Backup), NodeKind::Backup);
    }

    #[test]
    fn a_chain_request_offers_every_consensus_kind_and_refuses_others_in_its_words() {
        let chain = |consensus: &str, nodes: u32| {
            RequestSpec::Chain(
                serde_json::from_value(serde_json::json!({
                    "name": "permits", "consensus": consensus, "suite": "gm", "nodes": nodes,
                    "resources": {"cpu_millis": 500, "memory_mb": 256, "storage_mb": 1024},
                }))
                .expect("a chain request"),
            )
        };
        for kind in ConsensusKind::ALL {
            let nodes = if kind.replicated() { 4 } else { 1 };
            chain(kind.as_str(), nodes).check().unwrap_or_else(|e| panic!("{kind}: {}", e.message));
        }
        chain("hotstuff", 1).check().expect("one BFT node tolerates no fault, but runs");
        let field = |e: &ApiError| e.details.as_ref().and_then(|d| d["field"].as_str()).map(str::to_owned);
        for bad in ["pbft", "HotStuff", "Raft", ""] {
            let e = chain(bad, 4).check().expect_err(bad);
            let vocabulary = bad.parse::<ConsensusKind>().expect_err(bad).to_string();
            assert_eq!(e.message, vocabulary, "{bad}");
            assert!(e.message.ends_with("one of: raft, hotstuff, solo"), "{}", e.message);
            assert_eq!(field(&e).as_deref(), Some("consensus"));
        }
        let e = chain("solo", 2).check().expect_err("two solo nodes");
        assert_eq!(e.message, "solo ordering runs exactly one node; use raft or hotstuff");
        assert_eq!(field(&e).as_deref(), Some("nodes"));
    }

    #[test]
    fn tenant_scopes() {
        let own = Tenant { user_id: 1, org_id: 2, all: false };
        assert!(own.owns(2) && !own.owns(3));
        assert_eq!(own.only(), Some(2));
        let all = Tenant { all: true, ..own };
        assert!(all.owns(3));
        assert_eq!(all.only(), None);
    }
}
