//! A solo chain, and what the driver refuses.

use govchain_crypto::Suite;
use govchain_driver::{
    BlockPolicy, ConsensusKind, Error, HostDriver, LocalDriver, NodeProgram, NodeRole, ProcessState,
    validate::MAX_NODES,
};

use crate::{driver, node, put, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solo_chain_runs_one_node_and_refuses_membership_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let solo = spec("solo-1", Suite::IntlR1, ConsensusKind::Solo, vec![node("x.gov", NodeRole::Consensus)]);
    let created = d.create_chain(&solo).await.unwrap();
    assert_eq!(created.len(), 1);
    let n = &created[0];
    assert_eq!((n.name.as_str(), n.consensus_id, n.p2p.as_str()), ("node0.x.gov", 0, ""));
    let s = d.status("solo-1").await.unwrap();
    assert_eq!(s[0].leader.as_deref(), Some("node0.x.gov"));
    assert_eq!(s[0].process, ProcessState::Running);
    put(&n.api_url, Suite::IntlR1, "solo-1", "s1").await;

    let invalid = |r: Result<_, Error>| matches!(r, Err(Error::Invalid(_)));
    assert!(invalid(d.add_node("solo-1", &node("x.gov", NodeRole::Consensus)).await.map(|_| ())));
    assert!(invalid(d.remove_node("solo-1", "node0.x.gov").await));
    assert!(invalid(d.set_block_policy("solo-1", &BlockPolicy::default()).await));
    assert!(matches!(d.create_chain(&solo).await, Err(Error::Conflict(_))));
    assert!(matches!(d.stop_node("solo-1", "node9.x.gov").await, Err(Error::NotFound(_))));
    assert!(d.node_log("solo-1", "node0.x.gov", 5).await.unwrap().lines().count() <= 5);

    d.restart_chain("solo-1").await.unwrap();
    assert!(d.status("solo-1").await.unwrap()[0].height >= Some(1), "ledger kept");
    d.delete_chain("solo-1").await.unwrap();
    assert!(!tmp.path().join("orgs").join("x.gov").exists());
    d.shutdown().await;
}

#[tokio::test]
async fn bad_specs_and_unknown_chains_are_refused_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let ok = spec("c", Suite::Gm, ConsensusKind::Raft, vec![node("a.gov", NodeRole::Consensus)]);
    let mut bad = vec![
        spec("Bad_Id", Suite::Gm, ConsensusKind::Raft, ok.nodes.clone()),
        spec(&"x".repeat(65), Suite::Gm, ConsensusKind::Raft, ok.nodes.clone()),
        spec("c", Suite::Gm, ConsensusKind::Raft, vec![]),
        spec("c", Suite::Gm, ConsensusKind::Raft, vec![node("a.gov", NodeRole::Consensus); MAX_NODES + 1]),
        spec("c", Suite::Gm, ConsensusKind::Raft, vec![node("a.gov", NodeRole::Backup)]),
        spec("c", Suite::Gm, ConsensusKind::Solo, vec![node("a.gov", NodeRole::Consensus); 2]),
        spec("c", Suite::Gm, ConsensusKind::Raft, vec![node("A.GOV", NodeRole::Consensus)]),
    ];
    let mut owner = ok.clone();
    owner.owner_org = "no spaces.gov".into();
    bad.push(owner);
    let mut policy = ok.clone();
    policy.block_policy.max_bytes = 1;
    bad.push(policy);
    for spec in bad {
        let r = d.create_chain(&spec).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{spec:?}: {r:?}");
    }
    assert_eq!(std::fs::read_dir(tmp.path().join("chains")).unwrap().count(), 0, "nothing made");
    assert_eq!(std::fs::read_dir(tmp.path().join("orgs")).unwrap().count(), 0, "nothing made");
    assert!(matches!(d.start_chain("nope").await, Err(Error::NotFound(_))));
    assert!(matches!(d.status("nope").await, Err(Error::NotFound(_))));
    assert!(matches!(
        d.add_node("nope", &node("a.gov", NodeRole::Consensus)).await,
        Err(Error::Invalid(_) | Error::NotFound(_))
    ));
    assert!(matches!(d.add_node("c", &node("bad org", NodeRole::Consensus)).await, Err(Error::Invalid(_))));
    // The control plane holds it as a trait object.
    let held: std::sync::Arc<dyn HostDriver> = std::sync::Arc::new(d.clone());
    assert_eq!(held.kind(), "local");
}

#[tokio::test]
async fn a_node_that_cannot_start_fails_the_create_naming_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let program = NodeProgram {
        exe: "/bin/sh".into(),
        args: vec!["-c".into(), "echo cannot open the ledger >&2; exit 3".into(), "node".into()],
    };
    let d = LocalDriver::new(tmp.path().to_owned(), program).unwrap();
    let two = vec![node("a.gov", NodeRole::Consensus); 2];
    let err = d.create_chain(&spec("broken", Suite::Gm, ConsensusKind::Raft, two)).await.unwrap_err();
    let Error::Failed(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("exited (exit status: 3)") && message.contains("node.log"), "{message}");
    let name = if message.starts_with("node0.a.gov") { "node0.a.gov" } else { "node1.a.gov" };
    assert!(d.node_log("broken", name, 10).await.unwrap().contains("cannot open the ledger"));
    let s = d.status("broken").await.unwrap();
    assert!(s.iter().all(|s| s.process == ProcessState::Stopped && !s.reachable), "{s:#?}");
    d.delete_chain("broken").await.unwrap();
    assert!(!tmp.path().join("chains").join("broken").exists());
    assert!(!tmp.path().join("orgs").join("a.gov").exists());
}
