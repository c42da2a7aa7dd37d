//! One 4-node raft chain through its whole life: create, write, online
//! policy change, bundle, a node of another organization joining and
//! leaving, stop/start with data kept, a SIGKILLed node restarted by the
//! supervisor, a platform crash and resume, delete.

use std::time::Duration;

use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{BlockPolicy, ConsensusKind, HostDriver, NodeRole, ProcessState};
use govchain_execution::{EvmConfig, evm::testdata};
use govchain_sdk::{Client, Wallet};
use govchain_types::{TxStatus, api::SubmitMode};

use crate::{KillOnDrop, alive, driver, node, pid_of, put, spec, wait_status};

const CHAIN: &str = "life";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raft_chain_through_its_whole_life() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let d = driver(root);
    let nodes = vec![node("a.gov", NodeRole::Consensus); 4];

    // --- create: four nodes of a.gov, every one answering, one leader.
    let created = d.create_chain(&spec(CHAIN, Suite::Gm, ConsensusKind::Raft, nodes)).await.unwrap();
    let names: Vec<&str> = created.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node0.a.gov", "node1.a.gov", "node2.a.gov", "node3.a.gov"]);
    assert_eq!(created.iter().map(|n| n.consensus_id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let status = d.status(CHAIN).await.unwrap();
    assert!(status.iter().all(|s| s.reachable && s.process == ProcessState::Running), "{status:#?}");
    let leader = status[0].leader.clone().expect("a leader");
    assert!(status.iter().all(|s| s.leader.as_deref() == Some(leader.as_str())), "{status:#?}");
    // Each organization's files under its own directory; CA keys private.
    let node_dir = |org: &str, name: &str| root.join("orgs").join(org).join(CHAIN).join(name);
    assert!(node_dir("a.gov", "node3.a.gov").join("node.toml").is_file());
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["root-key.pem", "operating-key.pem"] {
            let path = root.join("chains").join(CHAIN).join("ca").join(key);
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{key}");
        }
    }

    // --- a transaction through a follower commits; height grows.
    let follower = created.iter().find(|n| n.name != leader).unwrap();
    let h0 = Client::new(&follower.api_url).unwrap().height().await.unwrap();
    let first = put(&follower.api_url, Suite::Gm, CHAIN, "k1").await;
    wait_status(&d, CHAIN, "height to grow on every node", |s| s.iter().all(|s| s.height > Some(h0))).await;

    // --- online block policy change, applied by every node.
    let policy = BlockPolicy::from_parts(7, 64 * 1024, 5).unwrap();
    d.set_block_policy(CHAIN, &policy).await.unwrap();
    for n in &created {
        let url = format!("{}/v1/policy", n.api_url);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let p: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            if p["max_txs"] == 7 && p["max_bytes"] == 64 * 1024 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{} kept {p}", n.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let bad = BlockPolicy { max_txs: 0, ..policy };
    match d.set_block_policy(CHAIN, &bad).await {
        Err(govchain_driver::Error::Invalid(m)) => assert_eq!(m, BlockPolicy::MAX_TXS.message()),
        other => panic!("a policy out of range: {other:?}"),
    }

    // --- the bundle holds config, genesis, certificates, never a CA key.
    let bundle = d.node_bundle(CHAIN, "node1.a.gov", false).await.unwrap();
    let names: Vec<&str> = bundle.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["node.toml", "genesis.json", "node-cert.pem", "ca/root.pem", "ca/operating.pem"]);
    assert!(bundle.iter().all(|f| !String::from_utf8_lossy(&f.contents).contains("PRIVATE KEY")));
    let with_key = d.node_bundle(CHAIN, "node1.a.gov", true).await.unwrap();
    let key = with_key.iter().find(|f| f.name == "key.pem").expect("key with include_key");
    assert!(String::from_utf8_lossy(&key.contents).contains("PRIVATE KEY"));
    assert_eq!(with_key.len(), 6);

    // --- the platform's chains run Solidity: the genesis names the evm
    // engine with a chain id of this chain, and a contract deploys.
    let genesis = bundle.iter().find(|f| f.name == "genesis.json").expect("genesis in the bundle");
    let genesis: serde_json::Value = serde_json::from_slice(&genesis.contents).unwrap();
    assert_eq!(genesis["execution"]["engines"], serde_json::json!(["native", "evm"]), "{genesis}");
    assert_eq!(genesis["execution"]["evm"]["chain_id"], EvmConfig::chain_id_for(CHAIN));
    // Deployed from the account the platform holds for a.gov: the same
    // account every time, certified by the chain's CA for a.gov.
    let account = d.account(CHAIN, "a.gov").await.unwrap();
    assert_eq!(d.account(CHAIN, "a.gov").await.unwrap().key_pem, account.key_pem);
    let info = govchain_pki::parse(&account.cert_pem).unwrap();
    assert_eq!((info.organization.as_str(), info.common_name.as_str()), ("a.gov", "contracts.a.gov"));
    assert_ne!(d.account(CHAIN, "b.gov").await.unwrap().key_pem, account.key_pem);
    assert!(matches!(d.account(CHAIN, "../x").await, Err(govchain_driver::Error::Invalid(_))));
    let key = PrivateKey::from_pkcs8_pem(&account.key_pem).unwrap();
    let der = govchain_pki::to_der(&account.cert_pem).unwrap();
    let create = Wallet::new(key, CHAIN)
        .with_certificate(der)
        .evm_create(hex::decode(format!("{}{:064x}", testdata::COUNTER, 5)).unwrap(), 1_000_000)
        .unwrap();
    let client = Client::new(&created[0].api_url).unwrap();
    let r = client.submit(&create, SubmitMode::Sync).await.unwrap().receipt.expect("a receipt");
    assert_eq!((r.status, r.output.len()), (TxStatus::Success, 20), "{}", r.message);
    let log = d.node_log(CHAIN, "node1.a.gov", 10_000).await.unwrap();
    assert!(log.contains("--- govchain-driver: started pid") && log.contains("node started"), "{log}");
    assert!(!log.contains('\x1b'), "no colour codes in the log file");
    assert_eq!(d.node_log(CHAIN, "node1.a.gov", 3).await.unwrap().lines().count(), 3);

    // --- a node of an invited organization joins, catches up, votes.
    let added = d.add_node(CHAIN, &node("b.gov", NodeRole::Consensus)).await.unwrap();
    assert_eq!((added.name.as_str(), added.org.as_str(), added.consensus_id), ("node0.b.gov", "b.gov", 5));
    let cert = std::fs::read_to_string(node_dir("b.gov", "node0.b.gov").join("node-cert.pem")).unwrap();
    let info = govchain_pki::parse(&cert).unwrap();
    assert_eq!((info.organization.as_str(), info.common_name.as_str()), ("b.gov", "node0.b.gov"));
    let members = d.consensus_members(CHAIN).await.unwrap();
    assert_eq!(members.len(), 5, "{members:?}");
    assert!(members.iter().all(|m| m.role == "voter"), "{members:?}");
    let s = wait_status(&d, CHAIN, "node0.b.gov to catch up", |s| {
        s.len() == 5 && s.iter().all(|n| n.height.is_some() && n.height == s[0].height)
    })
    .await;
    assert!(s[4].role.as_deref() == Some("follower") || s[4].role.as_deref() == Some("leader"), "{s:#?}");
    // ... and leaves: out of consensus, process and files gone.
    let pid = pid_of(&node_dir("b.gov", "node0.b.gov"));
    d.remove_node(CHAIN, "node0.b.gov").await.unwrap();
    let members = d.consensus_members(CHAIN).await.unwrap();
    assert_eq!(members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().len(), 4, "{members:?}");
    assert!(members.iter().all(|m| m.name.ends_with(".a.gov")), "{members:?}");
    assert!(!alive(pid));
    assert!(!root.join("orgs").join("b.gov").exists(), "b.gov's files are gone");
    assert_eq!(d.status(CHAIN).await.unwrap().len(), 4);
    assert!(matches!(d.remove_node(CHAIN, "node0.b.gov").await, Err(govchain_driver::Error::NotFound(_))));
    // A backup node stays a learner; it leaves the same way.
    let backup = d.add_node(CHAIN, &node("c.gov", NodeRole::Backup)).await.unwrap();
    assert_eq!((backup.name.as_str(), backup.consensus_id), ("node0.c.gov", 6), "ids are never reused");
    let members = d.consensus_members(CHAIN).await.unwrap();
    let learner = members.iter().find(|m| m.name == "node0.c.gov").expect("a member");
    assert_eq!(learner.role, "learner");
    let s = wait_status(&d, CHAIN, "the backup to know the leader", |s| s[4].leader.is_some()).await;
    assert_eq!(s[4].role.as_deref(), Some("learner"));
    d.remove_node(CHAIN, "node0.c.gov").await.unwrap();
    assert_eq!(d.consensus_members(CHAIN).await.unwrap().len(), 4);

    // --- stop: every process gone; start: the ledger continues.
    let height = d.status(CHAIN).await.unwrap().iter().filter_map(|s| s.height).max().unwrap();
    let pids: Vec<u32> = created.iter().map(|n| pid_of(&node_dir("a.gov", &n.name))).collect();
    d.stop_chain(CHAIN).await.unwrap();
    let stopped = d.status(CHAIN).await.unwrap();
    assert!(stopped.iter().all(|s| s.process == ProcessState::Stopped && !s.reachable), "{stopped:#?}");
    assert!(pids.iter().all(|p| !alive(*p)), "processes gone");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        d.status(CHAIN).await.unwrap().iter().all(|s| s.process == ProcessState::Stopped),
        "not restarted"
    );
    // Changes need a running chain.
    let refused = d.add_node(CHAIN, &node("b.gov", NodeRole::Consensus)).await;
    assert!(matches!(refused, Err(govchain_driver::Error::Conflict(_))), "{refused:?}");
    d.start_chain(CHAIN).await.unwrap();
    let s = d.status(CHAIN).await.unwrap();
    assert!(s.iter().all(|s| s.reachable && s.height >= Some(height)), "data kept: {s:#?}");
    let client = Client::new(&created[2].api_url).unwrap();
    assert!(client.transaction(&first).await.unwrap().is_some(), "old transaction still there");
    put(&created[2].api_url, Suite::Gm, CHAIN, "k2").await;

    // --- SIGKILL one node: the supervisor brings it back.
    let victim = node_dir("a.gov", "node2.a.gov");
    let pid = pid_of(&victim);
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let s = wait_status(&d, CHAIN, "the supervisor to restart node2.a.gov", |s| {
        s[2].restarts >= 1 && s[2].reachable && s[2].process == ProcessState::Running
    })
    .await;
    assert_eq!(s[2].name, "node2.a.gov");
    assert_ne!(pid_of(&victim), pid);
    assert!(s.iter().enumerate().all(|(i, s)| i == 2 || s.restarts == 0), "{s:#?}");
    // A stopped node stays stopped; started again it answers.
    d.stop_node(CHAIN, "node3.a.gov").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = d.status(CHAIN).await.unwrap();
    assert_eq!((s[3].process, s[3].reachable), (ProcessState::Stopped, false));
    d.restart_node(CHAIN, "node3.a.gov").await.unwrap();
    assert!(d.status(CHAIN).await.unwrap()[3].reachable);

    // --- the platform dies with the nodes running; a new driver resumes.
    let before: Vec<u32> = created.iter().map(|n| pid_of(&node_dir("a.gov", &n.name))).collect();
    let _orphans = KillOnDrop(before.clone());
    d.abandon();
    assert!(before.iter().all(|p| alive(*p)), "abandoned nodes keep running");
    let d = driver(root);
    d.resume(&[CHAIN.to_owned()]).await.unwrap();
    assert!(before.iter().all(|p| !alive(*p)), "stale processes killed");
    let after: Vec<u32> = created.iter().map(|n| pid_of(&node_dir("a.gov", &n.name))).collect();
    assert!(after.iter().all(|p| alive(*p) && !before.contains(p)));
    let s = d.status(CHAIN).await.unwrap();
    assert!(s.iter().all(|s| s.reachable && s.process == ProcessState::Running), "{s:#?}");
    put(&created[0].api_url, Suite::Gm, CHAIN, "k3").await;
    // The online policy survived in the record and on the chain.
    let p: serde_json::Value =
        reqwest::get(format!("{}/v1/policy", created[1].api_url)).await.unwrap().json().await.unwrap();
    assert_eq!(p["max_txs"], 7);

    // --- delete: nothing of the chain is left.
    d.delete_chain(CHAIN).await.unwrap();
    assert!(after.iter().all(|p| !alive(*p)), "no process left");
    assert!(!root.join("chains").join(CHAIN).exists());
    for org in std::fs::read_dir(root.join("orgs")).unwrap() {
        assert!(!org.unwrap().path().join(CHAIN).exists());
    }
    assert!(matches!(d.status(CHAIN).await, Err(govchain_driver::Error::NotFound(_))));
    d.shutdown().await;
}
