//! A hotstuff chain is provisioned like a raft one, with every genesis
//! member's public key; its nodes refuse to start until the engine is part
//! of the build.

use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{ConsensusKind, Error, HostDriver, NodeRole};
use govchain_node::config::{Genesis, Member, NodeConfig};

use crate::{driver, node, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotstuff_chain_names_every_members_key_in_its_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let mut nodes = vec![node("a.gov", NodeRole::Consensus); 4];
    nodes.push(node("b.gov", NodeRole::Backup));
    let err = d.create_chain(&spec("bft", Suite::IntlK1, ConsensusKind::Hotstuff, nodes)).await.unwrap_err();
    // The engine is not built in yet: the nodes say so and exit.
    let Error::Failed(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("node.log"), "{message}");
    let log = d.node_log("bft", "node0.a.gov", 50).await.unwrap();
    assert!(log.contains("the hotstuff engine is not part of this build yet"), "{log}");

    let genesis = Genesis::load(&tmp.path().join("chains/bft/genesis.json")).unwrap();
    assert_eq!(genesis.consensus, ConsensusKind::Hotstuff);
    let names: Vec<&str> = genesis.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["node0.a.gov", "node1.a.gov", "node2.a.gov", "node3.a.gov"], "voters only");
    for m in &genesis.members {
        let dir = d.node_dir("bft", &m.name).unwrap();
        let config = NodeConfig::load(&dir.join("node.toml")).unwrap();
        let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&config.key).unwrap()).unwrap();
        assert_eq!(m.public_key(Suite::IntlK1).unwrap(), key.public_key(), "{}", m.name);
        assert_eq!(m.consensus_key, Member::key_hex(&key.public_key()));
        assert_eq!(config.consensus_id, None, "a genesis member takes its id from the genesis");
    }
    // The backup joins later with a key of its own, in no genesis entry.
    let backup = d.node_dir("bft", "node0.b.gov").unwrap();
    let config = NodeConfig::load(&backup.join("node.toml")).unwrap();
    assert_eq!(config.consensus_id, Some(5));
    let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&config.key).unwrap()).unwrap();
    assert!(genesis.members.iter().all(|m| m.consensus_key != Member::key_hex(&key.public_key())));
    d.delete_chain("bft").await.unwrap();
    assert!(!tmp.path().join("chains").join("bft").exists());
    d.shutdown().await;
}
