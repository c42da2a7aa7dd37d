//! The rules of the CRD schema (OpenAPI + CEL) in Rust, for callers that
//! want the API server's answer before asking it (the api's Kubernetes
//! driver) and for the operator, which must not act on a spec an older CRD
//! let through.

use std::collections::HashSet;

use crate::{
    BlockPolicySpec, CertificatesSpec, Chain, ChainMember, ChainMemberSpec, ChainSpec, Consensus, NodeGroup,
    NodeRole, StorageSpec,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The spec breaks a rule; the message names every offending field
    /// (`spec.nodeGroups[1].name: ...`), separated by `; `.
    #[error("invalid spec: {0}")]
    Invalid(String),
    /// A CRD did not serialize to YAML.
    #[error("cannot render the CRD as YAML: {0}")]
    Yaml(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest `<chain>-<group>` (a StatefulSet name: its pods' hash label
/// leaves 52 characters, and the pod name adds `-<index>`).
pub const MAX_STATEFULSET_NAME: usize = 52;
/// Longest Chain name (its Services are `<chain>` and `<chain>-peers`).
pub const MAX_CHAIN_NAME: usize = 40;

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, field: impl AsRef<str>, what: impl AsRef<str>) {
        self.0.push(format!("{}: {}", field.as_ref(), what.as_ref()));
    }

    /// Takes in the problems of a nested check.
    fn absorb(&mut self, checked: Result<()>) {
        if let Err(Error::Invalid(e)) = checked {
            self.0.push(e);
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Invalid(self.0.join("; "))) }
    }
}

/// `[a-z0-9]([a-z0-9<extra>]*[a-z0-9])?`: DNS labels (`extra` = "-") and chain ids (".-").
fn is_name(s: &str, extra: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    ok(first) && ok(last) && s.chars().all(|c| ok(c) || extra.contains(c))
}

fn check_len(p: &mut Problems, field: &str, s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    if n < min || n > max {
        p.push(field, format!("must be {min}-{max} characters, got {n}"));
        return false;
    }
    true
}

/// A DNS label of at most `max` characters; `letter_first` for names that
/// must start with a letter (they name Services).
fn check_label(p: &mut Problems, field: &str, v: &str, max: usize, letter_first: bool) {
    if !check_len(p, field, v, 1, max) {
        return;
    }
    if letter_first && !(v.starts_with(|c: char| c.is_ascii_lowercase()) && is_name(v, "-")) {
        p.push(field, "must be a DNS label starting with a letter (a-z, 0-9, '-')");
    } else if !is_name(v, "-") {
        p.push(field, "must be a DNS label (a-z, 0-9, '-')");
    }
}

fn check_range<T: PartialOrd + std::fmt::Display>(p: &mut Problems, field: &str, v: T, min: T, max: T) {
    if v < min || v > max {
        p.push(field, format!("must be in {min}..={max}, got {v}"));
    }
}

fn check_storage(p: &mut Problems, field: &str, s: &StorageSpec) {
    if s.size.0.trim().is_empty() {
        p.push(format!("{field}.size"), "must be a quantity such as 1Gi");
    }
    if let Some(class) = &s.storage_class_name {
        check_len(p, &format!("{field}.storageClassName"), class, 1, 253);
    }
}

fn check_block_policy(p: &mut Problems, b: &BlockPolicySpec) {
    if let Err(e) = b.to_policy() {
        p.push("spec.blockPolicy", e.to_string());
    }
}

fn check_certificates(p: &mut Problems, c: &CertificatesSpec) {
    check_range(p, "spec.certificates.validityDays", c.validity_days, 1, 3650);
    check_range(p, "spec.certificates.renewBeforeDays", c.renew_before_days, 1, 365);
    if c.renew_before_days >= c.validity_days {
        p.push("spec.certificates", "renewBeforeDays must be below validityDays");
    }
}

fn check_group(p: &mut Problems, field: &str, g: &NodeGroup) {
    check_label(p, &format!("{field}.name"), &g.name, 20, false);
    check_range(p, &format!("{field}.replicas"), g.replicas, 0, 32);
    check_storage(p, &format!("{field}.storage"), &g.storage);
}

impl ChainSpec {
    /// Checks the rules the CRD schema enforces on create (every problem in
    /// one error).
    pub fn validate(&self) -> Result<()> {
        let mut p = Problems::default();
        if let Some(id) = &self.chain_id
            && check_len(&mut p, "spec.chainId", id, 1, 51)
            && !is_name(id, ".-")
        {
            p.push(
                "spec.chainId",
                "must be lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
            );
        }
        if let Some(org) = &self.organization {
            check_len(&mut p, "spec.organization", org, 1, 64);
        }
        if check_len(&mut p, "spec.image", &self.image, 1, 200) && !is_name(&self.image, "._/:-") {
            p.push("spec.image", "must be an image repository such as govchain/node");
        }
        let tag_ok = self.version.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !self.version.starts_with(['.', '-']);
        if check_len(&mut p, "spec.version", &self.version, 1, 128) && !tag_ok {
            p.push("spec.version", "must be an image tag such as 0.1.0");
        }
        if let Some(b) = &self.block_policy {
            check_block_policy(&mut p, b);
        }
        if self.node_groups.is_empty() || self.node_groups.len() > 8 {
            p.push("spec.nodeGroups", format!("must have 1-8 groups, got {}", self.node_groups.len()));
        }
        let mut names = HashSet::new();
        for (i, g) in self.node_groups.iter().enumerate() {
            check_group(&mut p, &format!("spec.nodeGroups[{i}]"), g);
            if !names.insert(g.name.as_str()) {
                p.push("spec", "node group names must be unique");
            }
        }
        match self.consensus {
            Consensus::Solo => {
                let one = matches!(self.node_groups.as_slice(), [g] if g.role == NodeRole::Consensus && g.replicas == 1);
                if !one {
                    p.push(
                        "spec",
                        "a solo chain has exactly one node group, with role consensus and replicas 1",
                    );
                }
            }
            Consensus::Raft | Consensus::Hotstuff => {
                if !self.node_groups.iter().any(|g| g.role == NodeRole::Consensus && g.replicas > 0) {
                    p.push(
                        "spec",
                        "a raft or hotstuff chain needs a consensus node group with at least one replica",
                    );
                }
            }
        }
        if self.invitations.len() > 64 {
            p.push("spec.invitations", "must have at most 64 entries");
        }
        let mut namespaces = HashSet::new();
        for (i, inv) in self.invitations.iter().enumerate() {
            let field = format!("spec.invitations[{i}]");
            check_label(&mut p, &format!("{field}.namespace"), &inv.namespace, 63, false);
            if let Some(org) = &inv.organization {
                check_len(&mut p, &format!("{field}.organization"), org, 1, 64);
            }
            if let Some(n) = inv.max_nodes {
                check_range(&mut p, &format!("{field}.maxNodes"), n, 0, 32);
            }
            if !namespaces.insert(inv.namespace.as_str()) {
                p.push("spec", "invitation namespaces must be unique");
            }
        }
        check_certificates(&mut p, &self.certificates);
        p.finish()
    }

    /// Checks an update from `old` to `self`: [`ChainSpec::validate`] plus
    /// the transition rules (chainId, consensus and cryptoSuite are
    /// immutable; a group keeps its role, storage size and class).
    pub fn validate_update(&self, old: &ChainSpec) -> Result<()> {
        let mut p = Problems::default();
        p.absorb(self.validate());
        if self.chain_id != old.chain_id {
            p.push("spec", "chainId is immutable");
        }
        if self.consensus != old.consensus {
            p.push("spec.consensus", "consensus is immutable");
        }
        if self.crypto_suite != old.crypto_suite {
            p.push("spec.cryptoSuite", "cryptoSuite is immutable");
        }
        if self.consensus == Consensus::Solo && self.block_policy != old.block_policy {
            p.push("spec.blockPolicy", "a solo chain's blockPolicy is fixed in its genesis");
        }
        for g in &self.node_groups {
            for o in old.node_groups.iter().filter(|o| o.name == g.name) {
                if o.role != g.role {
                    p.push("spec", "a node group's role is immutable (add a new group instead)");
                }
                if o.storage.size != g.storage.size
                    || o.storage.storage_class_name != g.storage.storage_class_name
                {
                    p.push("spec", "a node group's storage size and storageClassName are immutable");
                }
            }
        }
        p.finish()
    }
}

fn check_chain_name(p: &mut Problems, name: &str, groups: impl Iterator<Item = usize>) {
    check_label(p, "metadata.name", name, MAX_CHAIN_NAME, true);
    for g in groups {
        if name.len() + 1 + g > MAX_STATEFULSET_NAME {
            p.push(
                "metadata.name",
                format!("<name>-<group> must be at most {MAX_STATEFULSET_NAME} characters (it names a StatefulSet)"),
            );
        }
    }
}

impl Chain {
    /// [`ChainSpec::validate`] plus the rules on the Chain's name (it names
    /// Services and StatefulSets).
    pub fn validate(&self) -> Result<()> {
        let mut p = Problems::default();
        let name = self.metadata.name.as_deref().unwrap_or_default();
        check_chain_name(&mut p, name, self.spec.node_groups.iter().map(|g| g.name.len()));
        p.absorb(self.spec.validate());
        p.finish()
    }
}

impl ChainMemberSpec {
    /// Checks the rules the CRD schema enforces on create.
    pub fn validate(&self) -> Result<()> {
        let mut p = Problems::default();
        for (field, v) in
            [("spec.chain.namespace", &self.chain.namespace), ("spec.chain.name", &self.chain.name)]
        {
            check_label(&mut p, field, v, 63, false);
        }
        if let Some(org) = &self.organization {
            check_len(&mut p, "spec.organization", org, 1, 64);
        }
        check_range(&mut p, "spec.replicas", self.replicas, 0, 32);
        check_storage(&mut p, "spec.storage", &self.storage);
        p.finish()
    }

    /// Checks an update from `old`: chain, organization and role are immutable.
    pub fn validate_update(&self, old: &ChainMemberSpec) -> Result<()> {
        let mut p = Problems::default();
        p.absorb(self.validate());
        if self.chain != old.chain {
            p.push("spec.chain", "chain is immutable");
        }
        if self.organization != old.organization {
            p.push("spec.organization", "organization is immutable");
        }
        if self.role != old.role {
            p.push("spec.role", "role is immutable");
        }
        p.finish()
    }
}

impl ChainMember {
    /// [`ChainMemberSpec::validate`] plus the rules on the name (it names a
    /// StatefulSet `<name>` and its pods).
    pub fn validate(&self) -> Result<()> {
        let mut p = Problems::default();
        let name = self.metadata.name.as_deref().unwrap_or_default();
        check_label(&mut p, "metadata.name", name, MAX_STATEFULSET_NAME, true);
        p.absorb(self.spec.validate());
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChainRef, CryptoSuite, Invitation};

    fn group(name: &str, replicas: i32) -> NodeGroup {
        NodeGroup {
            name: name.into(),
            replicas,
            role: NodeRole::Consensus,
            resources: None,
            storage: StorageSpec::default(),
        }
    }

    fn spec() -> ChainSpec {
        serde_json::from_value(serde_json::json!({
            "version": "0.1.0",
            "nodeGroups": [{"name": "core", "replicas": 4}],
        }))
        .unwrap()
    }

    #[test]
    fn defaults_fill_a_minimal_spec() {
        let s = spec();
        assert_eq!(s.consensus, Consensus::Raft);
        assert_eq!(s.crypto_suite, CryptoSuite::Gm);
        assert_eq!(s.image, "govchain/node");
        assert_eq!(s.certificates, CertificatesSpec { validity_days: 365, renew_before_days: 30 });
        assert_eq!(s.node_groups[0].storage.size.0, "1Gi");
        s.validate().unwrap();
    }

    #[test]
    fn every_rule_is_enforced() {
        let bad = |f: &dyn Fn(&mut ChainSpec), needle: &str| {
            let mut s = spec();
            f(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "expected `{needle}` in `{err}`");
        };
        bad(&|s| s.chain_id = Some("Bad_Id".into()), "spec.chainId");
        bad(&|s| s.chain_id = Some("a".repeat(52)), "spec.chainId: must be 1-51");
        bad(&|s| s.version = "-x".into(), "spec.version");
        bad(&|s| s.node_groups.clear(), "spec.nodeGroups: must have 1-8");
        bad(&|s| s.node_groups = (0..9).map(|i| group(&format!("g{i}"), 1)).collect(), "1-8 groups");
        bad(&|s| s.node_groups.push(group("core", 1)), "node group names must be unique");
        bad(&|s| s.node_groups[0].replicas = 33, "spec.nodeGroups[0].replicas");
        bad(&|s| s.node_groups[0].name = "Core".into(), "spec.nodeGroups[0].name");
        bad(&|s| s.consensus = Consensus::Solo, "a solo chain");
        bad(&|s| s.node_groups[0].role = NodeRole::Backup, "a raft or hotstuff chain needs a consensus");
        bad(
            &|s| s.block_policy = Some(BlockPolicySpec { max_txs: Some(0), ..Default::default() }),
            "spec.blockPolicy: max_txs must be 1 to 100000",
        );
        bad(
            &|s| s.block_policy = Some(BlockPolicySpec { max_wait_ms: Some(30_000), ..Default::default() }),
            "spec.blockPolicy: max_wait_ms must be 0 to 10000",
        );
        bad(&|s| s.certificates.renew_before_days = 365, "renewBeforeDays must be below");
        bad(
            &|s| {
                let inv = Invitation { namespace: "dept-b".into(), organization: None, max_nodes: None };
                s.invitations = vec![inv.clone(), inv];
            },
            "invitation namespaces must be unique",
        );
    }

    #[test]
    fn hotstuff_takes_node_groups_as_raft_does() {
        let mut s: ChainSpec = serde_json::from_value(serde_json::json!({
            "version": "0.1.0",
            "consensus": "hotstuff",
            "nodeGroups": [{"name": "core", "replicas": 4}, {"name": "copies", "replicas": 2, "role": "backup"}],
        }))
        .unwrap();
        assert_eq!(s.consensus, Consensus::Hotstuff);
        assert_eq!(s.consensus.as_str(), "hotstuff");
        assert_eq!(govchain_types::ConsensusKind::from(s.consensus), govchain_types::ConsensusKind::Hotstuff);
        s.validate().unwrap();
        s.node_groups[0].replicas = 0;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("a raft or hotstuff chain needs a consensus node group"), "{err}");
        // Immutable like every consensus.
        let old = spec();
        let mut new = spec();
        new.consensus = Consensus::Hotstuff;
        assert!(new.validate_update(&old).unwrap_err().to_string().contains("consensus is immutable"));
        for bad in ["HotStuff", "bft", "pbft"] {
            let v = serde_json::json!({"version": "0.1.0", "consensus": bad, "nodeGroups": [{"name": "c", "replicas": 1}]});
            assert!(serde_json::from_value::<ChainSpec>(v).is_err(), "{bad}");
        }
    }

    #[test]
    fn solo_with_one_node_is_valid() {
        let mut s = spec();
        s.consensus = Consensus::Solo;
        s.node_groups[0].replicas = 1;
        s.validate().unwrap();
    }

    #[test]
    fn identity_and_group_shape_are_immutable() {
        let old = spec();
        let mut new = spec();
        new.node_groups[0].replicas = 5;
        new.node_groups.push(group("extra", 1));
        new.validate_update(&old).unwrap();
        let refused = |f: &dyn Fn(&mut ChainSpec), needle: &str| {
            let mut s = spec();
            f(&mut s);
            let err = s.validate_update(&old).unwrap_err().to_string();
            assert!(err.contains(needle), "expected `{needle}` in `{err}`");
        };
        refused(&|s| s.crypto_suite = CryptoSuite::IntlR1, "cryptoSuite is immutable");
        refused(&|s| s.chain_id = Some("other".into()), "chainId is immutable");
        refused(&|s| s.node_groups[0].storage.size.0 = "2Gi".into(), "storage size");
    }

    #[test]
    fn chain_and_member_names_are_checked() {
        let chain = Chain::new(&"x".repeat(41), spec());
        assert!(chain.validate().unwrap_err().to_string().contains("metadata.name"));
        let chain = Chain::new("1ledger", spec());
        assert!(chain.validate().is_err());
        Chain::new("city-ledger", spec()).validate().unwrap();
        let member = ChainMember::new(
            "dept-b-nodes",
            ChainMemberSpec {
                chain: ChainRef { namespace: "dept-a".into(), name: "city-ledger".into() },
                organization: None,
                replicas: 40,
                role: NodeRole::Backup,
                resources: None,
                storage: StorageSpec::default(),
            },
        );
        assert!(member.validate().unwrap_err().to_string().contains("spec.replicas"));
    }
}
