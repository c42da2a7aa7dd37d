//! A hotstuff chain is provisioned like a raft one, with every genesis
//! member's public key, and commits through any of its nodes.

use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{ConsensusKind, HostDriver, NodeRole};
use govchain_node::config::{Genesis, Member, NodeConfig};

use crate::{driver, node, put, spec, wait_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotstuff_chain_names_every_members_key_in_its_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let mut nodes = vec![node("a.gov", NodeRole::Consensus); 3];
    nodes.push(node("b.gov", NodeRole::Consensus));
    let created = d.create_chain(&spec("bft", Suite::IntlK1, ConsensusKind::Hotstuff, nodes)).await.unwrap();
    assert_eq!(created.len(), 4);
    let status = d.status("bft").await.unwrap();
    assert!(status.iter().all(|s| s.reachable), "{status:#?}");
    // Every voter takes transactions; a write through the other
    // department's node commits on all four.
    put(&created[3].api_url, Suite::IntlK1, "bft", "k1").await;
    wait_status(&d, "bft", "height to grow on every node", |s| s.iter().all(|s| s.height >= Some(1))).await;

    let genesis = Genesis::load(&tmp.path().join("chains/bft/genesis.json")).unwrap();
    assert_eq!(genesis.consensus, ConsensusKind::Hotstuff);
    let names: Vec<&str> = genesis.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["node0.a.gov", "node1.a.gov", "node2.a.gov", "node0.b.gov"]);
    for m in &genesis.members {
        let dir = d.node_dir("bft", &m.name).unwrap();
        let config = NodeConfig::load(&dir.join("node.toml")).unwrap();
        let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&config.key).unwrap()).unwrap();
        assert_eq!(m.public_key(Suite::IntlK1).unwrap(), key.public_key(), "{}", m.name);
        assert_eq!(m.consensus_key, Member::key_hex(&key.public_key()));
        assert_eq!(config.consensus_id, None, "a genesis member takes its id from the genesis");
    }
    d.delete_chain("bft").await.unwrap();
    assert!(!tmp.path().join("chains").join("bft").exists());
    d.shutdown().await;
}
