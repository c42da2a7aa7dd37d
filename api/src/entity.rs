//! sea-orm entities, one module per table (the schema is in `migration`);
//! state columns are the enums of `domain`, stored as their text names.

pub mod org {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orgs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub domain: String,
        pub description: String,
        pub status: crate::domain::OrgStatus,
        pub review_opinion: String,
        pub is_platform: bool,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub username: String,
        pub real_name: String,
        pub password_hash: String,
        pub status: crate::domain::UserStatus,
        pub must_change_password: bool,
        pub failed_logins: i32,
        pub locked_until: i64,
        pub created_at: i64,
        pub last_login_at: i64,
        pub identity_status: crate::domain::IdentityStatus,
        pub identity_kind: String,
        pub identity_number: String,
        pub identity_opinion: String,
        pub identity_reviewer: String,
        pub identity_submitted_at: i64,
        pub identity_reviewed_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod role {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "roles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: Option<i64>,
        pub name: String,
        pub builtin: bool,
        pub permissions: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_role {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub token_hash: String,
        pub user_id: i64,
        pub csrf: String,
        pub created_at: i64,
        pub last_seen: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_token {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub name: String,
        pub token_hash: String,
        pub created_at: i64,
        pub last_used: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod quota {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quotas")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: i64,
        pub nodes: i32,
        pub cpu_millis: i64,
        pub memory_mb: i64,
        pub storage_mb: i64,
        /// Held by nodes and by reservations of provisioning in flight.
        pub used_nodes: i64,
        pub used_cpu_millis: i64,
        pub used_memory_mb: i64,
        pub used_storage_mb: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "requests")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub requester_id: i64,
        pub kind: crate::domain::RequestKind,
        pub chain_id: Option<i64>,
        pub spec: String,
        pub purpose: String,
        pub status: crate::domain::RequestStatus,
        pub progress: String,
        pub error: String,
        pub opinion: String,
        pub approver_id: Option<i64>,
        pub decided_at: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod chain {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub chain_key: String,
        pub org_id: i64,
        pub consensus: String,
        pub suite: String,
        pub driver: String,
        pub state: crate::domain::ChainState,
        pub block_policy: String,
        pub max_nodes: i32,
        pub created_at: i64,
        /// The host running the nodes when only one replica can reach them
        /// (the local driver); `None` when every replica can.
        pub host: Option<String>,
        /// The organization whose sandbox (development chain) this is;
        /// `None` for every chain from a request.
        pub sandbox_of: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod chain_member {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chain_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub chain_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: i64,
        pub joined_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod node {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "nodes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub chain_id: i64,
        pub org_id: i64,
        pub name: String,
        pub consensus_id: i64,
        pub role: crate::domain::NodeKind,
        pub api_url: String,
        pub p2p: String,
        pub cpu_millis: i64,
        pub memory_mb: i64,
        pub storage_mb: i64,
        pub state: crate::domain::NodeState,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contracts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub chain_id: i64,
        pub org_id: i64,
        pub name: String,
        /// `0x` + 40 hex digits once deployed; empty before.
        pub address: String,
        /// The active version (`1.0`, `2.0`, ...).
        pub version: String,
        pub state: crate::domain::ContractState,
        pub deployer_user_id: i64,
        /// The chain address that sent the deployment.
        pub deployer_address: String,
        /// The deployment's transaction id (hex); empty before it is sent.
        pub tx_id: String,
        /// Why the deployment failed.
        pub error: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract_version {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contract_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub contract_id: i64,
        pub version: String,
        pub status: crate::domain::VersionStatus,
        /// Creation code, hex without `0x`.
        pub bytecode: String,
        /// The ABI, JSON.
        pub abi: String,
        /// The Solidity source, when given.
        pub source: String,
        pub tx_id: String,
        pub user_id: i64,
        pub created_at: i64,
        /// Runtime code an upgrade installs, hex without `0x` (empty for
        /// version 1.0).
        pub runtime: String,
        /// Encoded constructor arguments, hex without `0x`.
        pub args: String,
        /// The governance proposal deciding this version (0: none).
        pub proposal_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod invitation {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub chain_id: i64,
        pub from_org_id: i64,
        pub to_org_id: i64,
        pub invited_by: i64,
        pub message: String,
        pub status: crate::domain::InvitationStatus,
        pub created_at: i64,
        pub decided_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub kind: String,
        pub title: String,
        pub body: String,
        pub link: String,
        pub read_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod finding_dismissal {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// A static-analysis finding an organization dismissed, and why.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finding_dismissals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        /// The finding's stable id (32 hex digits).
        pub finding_id: String,
        pub rule: String,
        pub severity: String,
        pub file: String,
        pub contract: String,
        pub function: String,
        pub snippet: String,
        pub reason: String,
        pub user_id: i64,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oplog {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oplog")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub actor_id: Option<i64>,
        pub actor: String,
        pub org_id: Option<i64>,
        pub action: String,
        pub target: String,
        pub result: String,
        pub detail: String,
        pub prev_hash: String,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oplog_head {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// One row (id 1): the last entry's hash; appends lock it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oplog_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub seq: i64,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// The provisioning of one approved request.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub request_id: i64,
        /// `queued`, `running`, `done` or `failed`.
        pub state: String,
        /// Only a replica of this host may run it (`None`: any).
        pub host: Option<String>,
        /// The replica holding the lease.
        pub owner: Option<String>,
        pub lease_until: i64,
        pub attempt: i32,
        /// Whether the request's quota is reserved.
        pub reserved: bool,
        /// Units done (nodes added, for a nodes request).
        pub done: i32,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract_project {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// A project of contract source files of an organization (SPEC SC-6).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contract_projects")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub name: String,
        pub description: String,
        /// Published in the store shared across organizations.
        pub shared: bool,
        /// The shared project it was copied from.
        pub copied_from: Option<i64>,
        /// Its latest revision number (0 before the first file).
        pub head_rev: i64,
        pub created_by: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract_file {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// A file of a contract project as it is now.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contract_files")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_id: i64,
        pub path: String,
        pub content: String,
        /// SHA-256 of the content, hex.
        pub sha256: String,
        /// Bytes.
        pub size: i64,
        /// The revision that wrote it.
        pub rev: i64,
        pub updated_by: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contract_revision {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    /// One change of one file of a contract project: a save (with the
    /// content saved) or a removal.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contract_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_id: i64,
        /// Numbered 1, 2, ... per project.
        pub rev: i64,
        pub path: String,
        pub action: crate::domain::RevisionAction,
        /// What was saved (empty for a removal).
        pub content: String,
        pub sha256: String,
        pub size: i64,
        pub user_id: i64,
        pub message: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod metric_series {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "metric_series")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// `<chain>/<node>/<name>` (`-` for none): what finds the row.
        #[sea_orm(unique)]
        pub key: String,
        pub name: String,
        pub chain_id: Option<i64>,
        pub node_id: Option<i64>,
        pub labels: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod metric_sample {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "metric_samples")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub series_id: i64,
        /// Resolution in seconds: 0 raw, 60 or 3600 rollups.
        #[sea_orm(primary_key, auto_increment = false)]
        pub res: i32,
        /// Ms since 1970 (a rollup: the start of its minute or hour).
        #[sea_orm(primary_key, auto_increment = false)]
        pub ts: i64,
        pub value: f64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert_rule {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alert_rules")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub name: String,
        /// The rest of the rule: `services::alerts::rule::RuleSpec` as
        /// JSON, without the webhook secret and `enabled`.
        pub spec: String,
        /// The rule's own webhook key (HMAC-SHA256), if any.
        pub webhook_secret: Option<String>,
        pub enabled: bool,
        /// `node_down`, `consensus_stalled`, ... for the default rules; one
        /// each per organization.
        pub builtin_key: Option<String>,
        pub created_by: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// No foreign key: the history outlives a deleted rule.
        pub rule_id: i64,
        pub rule_name: String,
        pub org_id: i64,
        pub severity: String,
        pub chain_id: i64,
        pub node_id: Option<i64>,
        /// `<rule>/<target>` while pending or firing, `None` once resolved:
        /// unique, so replicas evaluating at once open one alert.
        #[sea_orm(unique)]
        pub open_key: Option<String>,
        pub state: crate::domain::AlertState,
        pub started_at: i64,
        pub fired_at: Option<i64>,
        pub resolved_at: Option<i64>,
        pub value: Option<f64>,
        pub summary: String,
        pub acknowledged_by: Option<i64>,
        pub acknowledged_by_name: Option<String>,
        pub acknowledged_at: Option<i64>,
        pub ack_note: Option<String>,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert_delivery {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alert_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub alert_id: i64,
        pub org_id: i64,
        /// `firing` or `resolved`.
        pub event: String,
        /// `message`, `email` or `webhook`.
        pub channel: String,
        /// The organization (message), address (e-mail) or URL (webhook).
        pub target: String,
        /// The JSON sent (webhook) or rendered (message, e-mail).
        pub payload: String,
        pub attempts: i32,
        pub status: crate::domain::DeliveryStatus,
        pub last_error: Option<String>,
        /// When a sender may take it next (a claim moves it ahead).
        pub next_attempt_at: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert_channel {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alert_channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: i64,
        /// JSON array of addresses.
        pub emails: String,
        pub webhook_url: Option<String>,
        pub webhook_secret: Option<String>,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
