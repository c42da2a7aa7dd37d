//! `ChainMember`: a department's node group, in its own namespace, that joins
//! a `Chain` in another namespace.

use k8s_openapi::{api::core::v1::ResourceRequirements, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{NodeRole, StorageSpec};

/// A node group of this namespace that joins a Chain elsewhere; the Chain
/// must list this namespace in `spec.invitations`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "govchain.io",
    version = "v1alpha1",
    kind = "ChainMember",
    namespaced,
    status = "ChainMemberStatus",
    shortname = "gcmember",
    category = "govchain",
    derive = "PartialEq",
    doc = "A department's node group that joins a govchain Chain in another namespace through an invitation; its node certificates are issued by the Chain's operator without the CA key leaving the Chain's namespace.",
    printcolumn(name = "Chain", type_ = "string", json_path = ".spec.chain.name", description = "The Chain joined"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.ready", description = "Ready nodes / desired nodes"),
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role", description = "consensus or backup"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 52").message("metadata.name must be a DNS label of at most 52 characters starting with a letter (it names a StatefulSet)")
)]
#[serde(rename_all = "camelCase")]
pub struct ChainMemberSpec {
    /// The Chain this group joins. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("chain is immutable"))]
    pub chain: ChainRef,
    /// Organization of these nodes (the `O` of their certificates); defaults
    /// to this namespace. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("organization is immutable"))]
    pub organization: Option<String>,
    /// Number of nodes (0-32), added and removed one at a time through consensus.
    #[schemars(range(min = 0, max = 32))]
    pub replicas: i32,
    /// `consensus` (voting members) or `backup` (learners). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("role is immutable"))]
    pub role: NodeRole,
    /// CPU and memory requests and limits of each node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Persistent volume of each node.
    #[serde(default)]
    pub storage: StorageSpec,
}

/// A reference to a Chain in another namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChainRef {
    /// Namespace of the Chain.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub namespace: String,
    /// Name of the Chain.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub name: String,
}

/// What the operator observed of a ChainMember's nodes.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChainMemberStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded` (for example: not invited), each
    /// with its observedGeneration.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Desired number of nodes.
    #[serde(default)]
    pub nodes: i32,
    /// Nodes that answer ready.
    #[serde(default)]
    pub ready_nodes: i32,
    /// `readyNodes/nodes`, for `kubectl get`.
    #[serde(default)]
    pub ready: String,
}
