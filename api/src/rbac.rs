//! Permissions and the built-in roles (SPEC ORG-3).
//!
//! A user holds roles; a role is a set of permissions. Roles are scoped to
//! an organization: built-in roles are shared by every organization, custom
//! roles belong to the organization that made them. Tenancy (which rows a
//! user may see at all) is separate: `domain::Tenant`, in the services' queries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One thing a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Perm {
    /// Platform operator: see every tenant, create organizations, review
    /// organizations' real-name verification.
    PlatformAdmin,
    /// Platform operator: approve or reject resource requests.
    RequestApprove,
    /// Edit the own organization.
    OrgManage,
    /// Create users in the own organization, reset passwords, freeze.
    UserManage,
    /// Create, edit and delete custom roles; assign roles.
    RoleManage,
    /// Submit resource requests.
    RequestCreate,
    /// See the organization's requests and quotas.
    RequestView,
    /// See chains and their nodes.
    ChainView,
    /// Start, stop, restart chains and nodes; change configuration; add and
    /// remove nodes within the quota.
    ChainOperate,
    /// Delete chains.
    ChainDelete,
    /// Invite organizations to a chain.
    ChainInvite,
    /// Accept or decline invitations.
    InvitationRespond,
    /// Download node configuration and certificates; read node logs.
    NodeDownload,
    /// Deploy contracts.
    ContractDeploy,
    /// Monitoring views.
    MonitorView,
    /// Create, edit, disable and delete alert rules, set the alert
    /// channels, acknowledge alerts.
    AlertManage,
    /// Read the operation log.
    AuditView,
    /// Export the operation log.
    AuditExport,
}

impl Perm {
    /// Every permission, in a fixed order (the permission picker's list).
    pub const ALL: [Perm; 18] = [
        Perm::PlatformAdmin,
        Perm::RequestApprove,
        Perm::OrgManage,
        Perm::UserManage,
        Perm::RoleManage,
        Perm::RequestCreate,
        Perm::RequestView,
        Perm::ChainView,
        Perm::ChainOperate,
        Perm::ChainDelete,
        Perm::ChainInvite,
        Perm::InvitationRespond,
        Perm::NodeDownload,
        Perm::ContractDeploy,
        Perm::MonitorView,
        Perm::AlertManage,
        Perm::AuditView,
        Perm::AuditExport,
    ];

    /// Its name in the API (`chain_operate`).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Whether only the platform organization's roles may hold it.
    pub fn platform_only(self) -> bool {
        matches!(self, Perm::PlatformAdmin | Perm::RequestApprove)
    }
}

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    /// Its name, stable in the API.
    pub name: &'static str,
    /// What it may do.
    pub perms: &'static [Perm],
}

use Perm::*;

/// Super admin (the platform operator): everything.
pub const SUPER_ADMIN: &str = "super_admin";
/// An organization's administrator.
pub const ORG_ADMIN: &str = "org_admin";

/// The built-in roles; they cannot be edited or deleted.
pub const BUILTIN_ROLES: [BuiltinRole; 6] = [
    BuiltinRole { name: SUPER_ADMIN, perms: &Perm::ALL },
    BuiltinRole {
        name: ORG_ADMIN,
        perms: &[
            OrgManage,
            UserManage,
            RoleManage,
            RequestCreate,
            RequestView,
            ChainView,
            ChainOperate,
            ChainDelete,
            ChainInvite,
            InvitationRespond,
            NodeDownload,
            ContractDeploy,
            MonitorView,
            AlertManage,
            AuditView,
            AuditExport,
        ],
    },
    BuiltinRole { name: "chain_developer", perms: &[RequestView, ChainView, ContractDeploy, MonitorView] },
    // Everything about chains except deploying contracts (SPEC ORG-3).
    BuiltinRole {
        name: "chain_operator",
        perms: &[
            RequestCreate,
            RequestView,
            ChainView,
            ChainOperate,
            ChainDelete,
            ChainInvite,
            InvitationRespond,
            NodeDownload,
            MonitorView,
            AlertManage,
        ],
    },
    // Monitoring, logs, archives and downloads; changes nothing.
    BuiltinRole {
        name: "chain_auditor",
        perms: &[RequestView, ChainView, NodeDownload, MonitorView, AuditView, AuditExport],
    },
    BuiltinRole { name: "user", perms: &[ChainView] },
];

/// Parses a stored permission list (JSON array of names); unknown names
/// (from a newer version) are skipped rather than granting anything.
pub fn parse_perms(stored: &str) -> Vec<Perm> {
    let names: Vec<serde_json::Value> = serde_json::from_str(stored).unwrap_or_default();
    names.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect()
}

/// Stores a permission list.
pub fn store_perms(perms: &[Perm]) -> String {
    serde_json::to_string(perms).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_operator_cannot_deploy() {
        let stored = store_perms(&Perm::ALL);
        assert_eq!(parse_perms(&stored), Perm::ALL.to_vec());
        assert_eq!(parse_perms(r#"["chain_view","from_the_future"]"#), vec![ChainView]);
        let op = BUILTIN_ROLES.iter().find(|r| r.name == "chain_operator").unwrap();
        assert!(!op.perms.contains(&ContractDeploy));
        for r in BUILTIN_ROLES.iter().filter(|r| r.name != SUPER_ADMIN) {
            assert!(r.perms.iter().all(|p| !p.platform_only()), "{} holds a platform permission", r.name);
        }
        assert_eq!(ChainOperate.name(), "chain_operate");
    }
}
