//! Checks of what the control plane asks for, before anything is created.

use crate::{BlockPolicy, ChainSpec, Error, NodeRole, Result};

/// Longest chain id.
pub const MAX_CHAIN_ID: usize = 64;
/// Longest organization domain this driver takes: a node is named
/// `node<i>.<org>`, and that must fit the 64 characters of a certificate
/// common name and a genesis member name.
pub const MAX_ORG_DOMAIN: usize = 50;
/// Most nodes of one chain.
pub const MAX_NODES: usize = 32;

/// A chain id: 1-64 characters of `a-z`, `0-9`, `-`, not starting or ending
/// with `-` (it names directories and appears in certificates).
pub fn chain_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CHAIN_ID
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "chain id `{id}` must be 1-{MAX_CHAIN_ID} characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )))
    }
}

/// An organization domain: dot-separated labels of `a-z`, `0-9`, `-` (not
/// starting or ending with `-`), at most [`MAX_ORG_DOMAIN`] characters,
/// e.g. `market.gov`.
pub fn org_domain(org: &str) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !org.is_empty() && org.len() <= MAX_ORG_DOMAIN && org.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "organization domain `{org}` must be at most {MAX_ORG_DOMAIN} characters of dot-separated labels of a-z, 0-9 and '-'"
        )))
    }
}

/// A block policy within the chain vocabulary's limits
/// ([`BlockPolicy::validate`]); the error carries its message
/// (`max_wait_ms must be 0 to 10000`), the one every boundary gives.
pub fn block_policy(p: &BlockPolicy) -> Result<()> {
    p.validate().map_err(|e| Error::Invalid(e.to_string()))
}

/// A whole chain spec.
pub fn chain_spec(spec: &ChainSpec) -> Result<()> {
    chain_id(&spec.chain)?;
    org_domain(&spec.owner_org)?;
    for n in &spec.nodes {
        org_domain(&n.org)?;
    }
    if spec.nodes.is_empty() || spec.nodes.len() > MAX_NODES {
        return Err(Error::Invalid(format!("a chain has 1 to {MAX_NODES} nodes, not {}", spec.nodes.len())));
    }
    let voters = spec.nodes.iter().filter(|n| n.role == NodeRole::Consensus).count();
    if !spec.consensus.replicated() && (spec.nodes.len() != 1 || voters != 1) {
        return Err(Error::Invalid(format!(
            "a {} chain has exactly one node, a consensus node",
            spec.consensus
        )));
    }
    if voters == 0 {
        return Err(Error::Invalid(format!("a {} chain needs at least one consensus node", spec.consensus)));
    }
    block_policy(&spec.block_policy)?;
    spec.contract_governance.validate().map_err(|e| Error::Invalid(format!("contract governance: {e}")))
}

#[cfg(test)]
mod tests {
    use govchain_crypto::Suite;

    use super::*;
    use crate::{ConsensusKind, NodeSpec, Resources};

    fn node(org: &str, role: NodeRole) -> NodeSpec {
        NodeSpec { org: org.into(), role, resources: Resources::default() }
    }

    fn spec() -> ChainSpec {
        ChainSpec {
            chain: "c-1".into(),
            owner_org: "a.gov".into(),
            suite: Suite::Gm,
            consensus: ConsensusKind::Raft,
            nodes: vec![node("a.gov", NodeRole::Consensus), node("b.gov", NodeRole::Backup)],
            block_policy: BlockPolicy::default(),
            contract_governance: Default::default(),
        }
    }

    fn refused(spec: ChainSpec) -> String {
        match chain_spec(&spec) {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn chain_specs_are_checked_before_anything_is_made() {
        chain_spec(&spec()).expect("valid");
        let long = "a".repeat(MAX_CHAIN_ID);
        chain_spec(&ChainSpec { chain: long.clone(), ..spec() }).expect("64 characters");
        for bad in ["", "A", "a_b", "-a", "a-", "a.b", "a/b", &format!("{long}a")] {
            assert!(refused(ChainSpec { chain: bad.into(), ..spec() }).contains("chain id"), "{bad}");
        }
        for bad in ["", "A.gov", "a..gov", ".gov", "a.gov.", "-a.gov", "a b", &"a".repeat(51)] {
            assert!(refused(ChainSpec { owner_org: bad.into(), ..spec() }).contains("domain"), "{bad}");
            let mut s = spec();
            s.nodes[0].org = bad.into();
            assert!(refused(s).contains("domain"), "{bad}");
        }
        assert!(refused(ChainSpec { nodes: vec![], ..spec() }).contains("1 to 32"));
        let many = vec![node("a.gov", NodeRole::Consensus); MAX_NODES + 1];
        assert!(refused(ChainSpec { nodes: many, ..spec() }).contains("1 to 32"));
        let backups = vec![node("a.gov", NodeRole::Backup)];
        assert!(refused(ChainSpec { nodes: backups, ..spec() }).contains("consensus node"));
        assert!(refused(ChainSpec { consensus: ConsensusKind::Solo, ..spec() }).contains("solo"));
        let solo = ChainSpec {
            consensus: ConsensusKind::Solo,
            nodes: vec![node("a.gov", NodeRole::Consensus)],
            ..spec()
        };
        chain_spec(&solo).expect("one solo node");
        // A hotstuff chain takes nodes as raft does: voters and backups.
        let bft = ChainSpec { consensus: ConsensusKind::Hotstuff, ..spec() };
        chain_spec(&bft).expect("hotstuff with a backup");
        let backups = vec![node("a.gov", NodeRole::Backup)];
        let e = refused(ChainSpec { nodes: backups, ..bft });
        assert_eq!(e, "a hotstuff chain needs at least one consensus node");
        for (policy, message) in [
            (BlockPolicy { max_txs: 0, ..BlockPolicy::default() }, "max_txs must be 1 to 100000"),
            (BlockPolicy { max_bytes: 10, ..BlockPolicy::default() }, "max_bytes must be 1024 to 67108864"),
            (
                BlockPolicy { max_wait: std::time::Duration::from_millis(10_001), ..BlockPolicy::default() },
                "max_wait_ms must be 0 to 10000",
            ),
        ] {
            assert_eq!(refused(ChainSpec { block_policy: policy, ..spec() }), message);
        }
    }
}
