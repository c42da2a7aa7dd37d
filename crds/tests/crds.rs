//! The committed CRD YAML (in `crds/` and the chart's `crds/`) matches the
//! Rust types, and the examples parse and validate as the API server would
//! judge them. `UPDATE_CRDS=1 cargo test -p govchain-crds` rewrites the YAML.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use govchain_crds::{Chain, ChainMember, Consensus, NodeRole};
use govchain_types::BlockPolicy;
use kube::CustomResourceExt;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_crds_match_the_types() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    let dirs = [repo().join("crds"), repo().join("charts/govchain/crds")];
    let mut drifted = Vec::new();
    for (file, yaml) in govchain_crds::all_crds().unwrap() {
        for dir in &dirs {
            let path = dir.join(file);
            if update {
                std::fs::create_dir_all(dir).unwrap();
                std::fs::write(&path, &yaml).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(committed) if committed == yaml => {}
                Ok(_) => drifted.push(format!("{} differs", path.display())),
                Err(e) => drifted.push(format!("{}: {e}", path.display())),
            }
        }
    }
    assert!(
        drifted.is_empty(),
        "CRD YAML drifted from crds/src; run `UPDATE_CRDS=1 cargo test -p govchain-crds`:\n{}",
        drifted.join("\n")
    );
}

fn docs(file: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(repo().join("crds/examples").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> T {
    let doc = docs(file).into_iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap();
    serde_yaml::from_value(doc).unwrap()
}

#[test]
fn example_chain_is_a_valid_four_node_raft_chain() {
    let chain: Chain = of_kind("chain.yaml", "Chain");
    chain.validate().unwrap();
    assert_eq!(chain.metadata.name.as_deref(), Some("city-ledger"));
    assert_eq!(chain.metadata.namespace.as_deref(), Some("dept-a"));
    assert_eq!(chain.spec.consensus, Consensus::Raft);
    assert_eq!(chain.spec.version, "0.1.0");
    let nodes: i32 = chain.spec.node_groups.iter().map(|g| g.replicas).sum();
    assert_eq!(nodes, 4);
    assert_eq!(chain.chain_id(), "city-ledger");
    assert_eq!(chain.node_image(), "govchain/node:0.1.0");
}

#[test]
fn example_chain_member_is_valid() {
    let member: ChainMember = of_kind("chainmember.yaml", "ChainMember");
    member.validate().unwrap();
    assert_eq!(member.spec.chain.name, "city-ledger");
    assert_eq!(member.spec.role, NodeRole::Backup);
}

#[test]
fn invalid_example_is_refused_with_every_reason() {
    let chain: Chain = of_kind("invalid-chain.yaml", "Chain");
    let err = chain.validate().unwrap_err().to_string();
    assert!(err.contains("a solo chain has exactly one node group"), "{err}");
    assert!(err.contains("node group names must be unique"), "{err}");
    assert!(err.contains(&BlockPolicy::MAX_WAIT_MS.message()), "{err}");
}

#[test]
fn block_policy_bounds_and_messages_are_the_vocabulary_limits() {
    let crd = serde_json::to_value(Chain::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let fields = spec["blockPolicy"]["properties"].as_object().unwrap();
    assert_eq!(fields.len(), BlockPolicy::LIMITS.len());
    for limit in BlockPolicy::LIMITS {
        let f = &fields[limit.crd_field];
        // The generator writes bounds as numbers (JSON floats); the limits are exact in f64.
        assert_eq!(f["minimum"].as_f64(), Some(limit.min as f64), "{}", limit.crd_field);
        assert_eq!(f["maximum"].as_f64(), Some(limit.max as f64), "{}", limit.crd_field);
        let rules = f["x-kubernetes-validations"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["message"], limit.message().as_str());
        assert_eq!(rules[0]["rule"], format!("self >= {} && self <= {}", limit.min, limit.max).as_str());
        let described = f["description"].as_str().unwrap();
        assert!(described.ends_with(&format!("{} to {}; default {}.", limit.min, limit.max, limit.default)));
    }
    // The Rust check of a spec says the same.
    let mut chain: Chain = of_kind("chain.yaml", "Chain");
    chain.spec.block_policy.as_mut().unwrap().max_wait_ms = Some(BlockPolicy::MAX_WAIT_MS.max + 1);
    let err = chain.validate().unwrap_err().to_string();
    assert!(err.contains(&BlockPolicy::MAX_WAIT_MS.message()), "{err}");
    chain.spec.block_policy.as_mut().unwrap().max_wait_ms = Some(BlockPolicy::MAX_WAIT_MS.max);
    chain.validate().unwrap();
}

#[test]
fn crd_carries_the_cel_rules_and_printer_columns() {
    let yaml = govchain_crds::chain_crd_yaml().unwrap();
    for needle in [
        "consensus is immutable",
        "cryptoSuite is immutable",
        "chainId is immutable",
        "node group names must be unique",
        "a solo chain has exactly one node group",
        "x-kubernetes-validations",
        "jsonPath: .status.ready",
        "jsonPath: .status.height",
        "- gchain",
        "- govchain",
        "default: govchain/node",
        "default: 1Gi",
        "maxItems: 8",
    ] {
        assert!(yaml.contains(needle), "the Chain CRD lacks `{needle}`");
    }
    let member = govchain_crds::chain_member_crd_yaml().unwrap();
    assert!(member.contains("- gcmember") && member.contains("chain is immutable"));
}
