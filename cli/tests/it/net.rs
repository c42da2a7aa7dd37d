//! A replicated (Raft) chain of real processes on 127.0.0.x: writes through
//! any node, the leader and then a follower killed with SIGKILL under load,
//! both restarted; at the end every acknowledged transaction is on every
//! node, and all nodes hold the same blocks and state root.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::{Hash, TxStatus, api::SubmitMode};

use crate::ok;

const NODES: usize = 4;
const WRITERS: usize = 8;

/// A node process started by the test (so it can be killed and restarted).
pub struct Proc(Option<Child>);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(dir: &Path) -> Proc {
    spawn_with(dir, &[])
}

/// Starts the node of `dir` with extra environment variables.
pub fn spawn_with(dir: &Path, env: &[(&str, &str)]) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("test-node.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_govchain"))
        .args(["node", "run", "--config"])
        .arg(dir.join("node.toml"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(Some(child))
}

/// Kills a node process with SIGKILL and reaps it.
pub fn kill(p: &mut Proc) {
    if let Some(mut c) = p.0.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// The name of the node that reports itself leader among `clients`,
/// other than `not` (a leader cut off or killed).
pub async fn leader_among(clients: &[Client], not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for c in clients {
            if let Ok(s) = c.status().await
                && s.role == "leader"
                && Some(s.node_id.as_str()) != not
            {
                return s.node_id;
            }
        }
        assert!(Instant::now() < deadline, "no leader (other than {not:?}) within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The index of a `nodeN` name.
fn index(name: &str) -> usize {
    name.trim_start_matches("node").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_chain_survives_leader_and_follower_kills_without_losing_or_forking() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    // Ports from the process id, so parallel runs on one machine differ.
    let base = 20_000 + (std::process::id() % 2_000) as u16 * 2;
    ok(&[
        "net",
        "init",
        "--nodes",
        &NODES.to_string(),
        "--suite",
        "gm",
        "--out",
        out.to_str().unwrap(),
        "--first-ip",
        "21",
        "--api-port",
        &base.to_string(),
        "--p2p-port",
        &(base + 1).to_string(),
    ]);
    let dirs: Vec<_> = (0..NODES).map(|i| out.join(format!("node{i}"))).collect();
    let mut procs: Vec<Proc> = dirs.iter().map(|d| spawn(d)).collect();
    let clients: Vec<Client> =
        (0..NODES).map(|i| Client::new(&format!("http://127.0.0.{}:{base}", 21 + i)).unwrap()).collect();
    // Every node's API answers once it has started.
    for c in &clients {
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.status().await.is_err() {
            assert!(Instant::now() < deadline, "node did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let chain_id = clients[0].status().await.unwrap().chain_id;
    let leader = index(&leader_among(&clients, None).await);

    // Bounded load through every node (followers forward to the leader).
    let acked: Arc<Mutex<Vec<Hash>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (clients, acked, stop, chain_id) =
                (clients.clone(), acked.clone(), stop.clone(), chain_id.clone());
            tokio::spawn(async move {
                let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), chain_id);
                for i in 0..2_000u32 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let call = DataCall::Put { key: format!("w{w}-{i}").into(), value: "v".into() };
                    let tx = wallet.data_call(&call).unwrap();
                    let node = &clients[(w + i as usize) % clients.len()];
                    match node.submit(&tx, SubmitMode::Sync).await {
                        Ok(r) if r.receipt.as_ref().is_some_and(|r| r.status == TxStatus::Success) => {
                            // Read-your-writes through the node that took the write.
                            if i % 50 == 0 {
                                let seen = node.transaction(&r.tx_id).await.ok().flatten();
                                assert!(
                                    seen.is_some(),
                                    "{} does not see its own committed write",
                                    node.base_url()
                                );
                            }
                            acked.lock().unwrap().push(r.tx_id);
                        }
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();

    let acked_count = || acked.lock().unwrap().len();
    let wait_acks = |more: usize| {
        let target = acked_count() + more;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acked_count() < target {
                assert!(Instant::now() < deadline, "writes stalled at {} acknowledgements", acked_count());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_acks(100).await;

    // Kill the leader; the others elect a new one and keep committing.
    kill(&mut procs[leader]);
    let new_leader = index(&leader_among(&clients, Some(&format!("node{leader}"))).await);
    assert_ne!(new_leader, leader);
    wait_acks(100).await;

    // Kill a follower too (2 of 4 alive would stall: restart the first one first).
    procs[leader] = spawn(&dirs[leader]);
    let follower = (0..NODES).find(|&i| i != new_leader && i != leader).unwrap();
    kill(&mut procs[follower]);
    wait_acks(100).await;
    procs[follower] = spawn(&dirs[follower]);
    wait_acks(50).await;

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // Every node converges on the same height and state root.
    let (height, root) = converged(&clients).await;
    // Same block at every height on every node: no fork, nothing committed twice.
    same_blocks(&clients, height).await;
    // Every acknowledged transaction is on every node, exactly once.
    for c in &clients {
        for id in &acked {
            let record = c.transaction(id).await.unwrap();
            assert!(record.is_some(), "acknowledged {id} missing on {}", c.base_url());
        }
    }
    eprintln!("{} acknowledged transactions, height {height}, state root {root}", acked.len());
}

/// Stops a `net start`ed chain when the test ends, however it ends.
pub struct Started(pub std::path::PathBuf);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_govchain")).args(["net", "stop"]).arg(&self.0).output();
    }
}

/// Asserts every node holds the same block id at every height up to `height`.
pub async fn same_blocks(clients: &[Client], height: u64) {
    for h in 0..=height {
        let mut ids = Vec::new();
        for c in clients {
            ids.push(c.block(&h.to_string()).await.unwrap().unwrap().id);
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "fork at height {h}: {ids:?}");
    }
}

pub async fn converged(clients: &[Client]) -> (u64, Hash) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = Vec::new();
        for c in clients {
            if let Ok(s) = c.status().await {
                seen.push((s.height, s.state_root));
            }
        }
        if seen.len() == clients.len() && seen.windows(2).all(|w| w[0] == w[1]) {
            return seen[0];
        }
        assert!(Instant::now() < deadline, "nodes did not converge: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_grows_to_five_and_shrinks_to_four_under_load() {
    let base = 24_000 + (std::process::id() % 2_000) as u16 * 2;
    membership_4_5_4("raft", Suite::IntlR1, 51, base).await;
}

/// The same on a hotstuff chain of gm (SM2) nodes: each change is approved
/// by every voter and ends an epoch; every block verifies against the
/// members of its own epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotstuff_membership_grows_to_five_and_shrinks_to_four_under_load() {
    let base = 44_000 + (std::process::id() % 1_000) as u16 * 2;
    membership_4_5_4("hotstuff", Suite::Gm, 91, base).await;
}

/// A chain of four nodes made by `govchain net init` on 127.0.0.`first`..
/// (API port `base`, peer port `base + 1`) and started with `net start`:
/// its temporary directory, the chain's directory, and the guard that
/// stops it.
fn four_nodes(
    consensus: &str,
    suite: Suite,
    first: u8,
    base: u16,
) -> (tempfile::TempDir, std::path::PathBuf, Started) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let o = out.to_str().unwrap();
    let (api, p2p) = (base.to_string(), (base + 1).to_string());
    ok(&[
        "net",
        "init",
        "--nodes",
        "4",
        "--suite",
        &suite.to_string(),
        "--consensus",
        consensus,
        "--out",
        o,
        "--first-ip",
        &first.to_string(),
        "--api-port",
        &api,
        "--p2p-port",
        &p2p,
    ]);
    let started = ok(&["net", "start", o]);
    let guard = Started(out.clone());
    assert_eq!(started.lines().filter(|l| l.contains("url=")).count(), 4, "{started}");
    (dir, out, guard)
}

/// A chain of four nodes under load grows to five (a learner that catches
/// up, then is promoted) and shrinks to four (node1 leaves); every
/// acknowledged transaction is on the four that remain.
/// On a hotstuff chain, every block verifies against its epoch's members.
async fn membership_4_5_4(consensus: &str, suite: Suite, first: u8, base: u16) {
    let (_dir, out, _guard) = four_nodes(consensus, suite, first, base);
    let o = out.to_str().unwrap();
    let client =
        |i: usize| Client::new(&format!("http://127.0.0.{}:{base}", usize::from(first) + i)).unwrap();
    let chain_id = client(0).status().await.unwrap().chain_id;

    let acked: Arc<Mutex<Vec<Hash>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        // Not through node1, which leaves.
        let clients: Vec<Client> = [0, 2, 3].into_iter().map(client).collect();
        tokio::spawn(async move {
            let wallet = Wallet::new(PrivateKey::generate(suite), chain_id);
            for i in 0..5_000u32 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let tx = wallet
                    .data_call(&DataCall::Put { key: format!("m{i}").into(), value: "v".into() })
                    .unwrap();
                if let Ok(r) = clients[i as usize % clients.len()].submit(&tx, SubmitMode::Sync).await
                    && r.receipt.is_some()
                {
                    acked.lock().unwrap().push(r.tx_id);
                }
            }
        })
    };

    let t0 = Instant::now();
    let phase = |what: &str| {
        eprintln!("{consensus}: {what} at {:?}, {} acknowledged", t0.elapsed(), acked.lock().unwrap().len())
    };
    more(&acked, 20, "before the changes").await;
    phase("load running");
    // Grow: node4 joins as a learner, catches up, is promoted.
    let added = ok(&["net", "add-node", o]);
    phase("node4 added and promoted");
    assert!(added.contains("node=node4"), "{added}");
    let five: Vec<Client> = (0..5).map(client).collect();
    converged(&five).await;
    assert_ne!(client(4).status().await.unwrap().role, "learner", "node4 was promoted to a voter");
    // Shrink: node1 leaves consensus first, then stops.
    more(&acked, 20, "with five voters").await;
    phase("20 more with five voters");
    ok(&["net", "remove-node", o, "node1"]);
    phase("node1 removed");
    let four: Vec<Client> = [0, 2, 3, 4].into_iter().map(client).collect();
    more(&acked, 50, "after removing node1").await;
    phase("50 more after the removal");
    // The block policy changes online too.
    ok(&["net", "policy", o, "--max-txs", "7"]);
    more(&acked, 20, "after the policy change").await;
    phase("20 more after the policy change");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let (height, _) = converged(&four).await;
    let acked = acked.lock().unwrap().clone();
    for c in &four {
        for id in &acked {
            assert!(
                c.transaction(id).await.unwrap().is_some(),
                "acknowledged {id} missing on {}",
                c.base_url()
            );
        }
    }
    eprintln!("{consensus} membership 4 -> 5 -> 4: {} acknowledged, height {height}", acked.len());
    if consensus == "hotstuff" {
        verify_epochs(&out, &four, height).await;
    }
}

/// The online switch (SPEC CON-4): a raft chain of four gm nodes switches
/// to hotstuff and back to raft while writers keep it busy. Every
/// acknowledged transaction is on every node, all hold the same blocks, and
/// every block of the hotstuff stint proves its commit with a certificate
/// of the members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consensus_switches_from_raft_to_hotstuff_and_back_under_load() {
    let (first, base) = (121u8, 46_000 + (std::process::id() % 1_000) as u16 * 2);
    let (_dir, out, _guard) = four_nodes("raft", Suite::Gm, first, base);
    let o = out.to_str().unwrap();
    let client =
        |i: usize| Client::new(&format!("http://127.0.0.{}:{base}", usize::from(first) + i)).unwrap();
    let four: Vec<Client> = (0..4).map(client).collect();
    let chain_id = client(0).status().await.unwrap().chain_id;

    // Two writers, each through every node in turn; a refusal during a
    // switch (no leader yet) or from a node that is down is retried with
    // the next transaction.
    let acked: Arc<Mutex<Vec<Hash>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (acked, stop, chain_id) = (acked.clone(), stop.clone(), chain_id.clone());
            let clients = four.clone();
            tokio::spawn(async move {
                let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), chain_id);
                for i in 0..5_000u32 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("s{w}-{i}");
                    let tx = wallet.data_call(&DataCall::Put { key: key.into(), value: "v".into() }).unwrap();
                    let c = &clients[(i as usize + w) % clients.len()];
                    match c.submit(&tx, SubmitMode::Sync).await {
                        Ok(r) if r.receipt.is_some() => acked.lock().unwrap().push(r.tx_id),
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    let phase = |what: &str| {
        eprintln!("switch: {what} at {:?}, {} acknowledged", t0.elapsed(), acked.lock().unwrap().len())
    };
    more(&acked, 30, "on raft").await;
    phase("load running on raft");
    let to_hotstuff = ok(&["net", "switch", o, "--consensus", "hotstuff"]);
    assert!(to_hotstuff.contains("consensus=hotstuff"), "{to_hotstuff}");
    phase("switched to hotstuff");
    more(&acked, 60, "on hotstuff").await;
    phase("60 more on hotstuff");
    // Every node restarts on the engine of the last switch.
    ok(&["net", "stop", o]);
    ok(&["net", "start", o]);
    for c in &four {
        assert_eq!(c.status().await.unwrap().consensus, "hotstuff", "{} after a restart", c.base_url());
    }
    more(&acked, 30, "after restarting every node").await;
    phase("30 more after restarting every node on hotstuff");
    // An approval signed by a key that is not a member's fails.
    let outsider = PrivateKey::generate(Suite::Gm);
    let forged = govchain_types::TxBody {
        chain_id: chain_id.clone(),
        tx_type: govchain_types::TxType::System,
        timestamp_ms: govchain_types::now_ms(),
        nonce: 1,
        sender: outsider.address(),
        recipient: "consensus".into(),
        data: br#"{"consensus":"raft","block_policy":{"max_txs":500,"max_bytes":8388608,"max_wait_ms":2}}"#
            .to_vec(),
        memo: String::new(),
        signers: vec![govchain_types::Signer {
            public_key: outsider.public_key().to_sec1(),
            certificate: None,
        }],
    }
    .sign(&[&outsider])
    .unwrap();
    let r = four[1].submit(&forged, SubmitMode::Sync).await.unwrap().receipt.unwrap();
    assert_eq!(r.status, TxStatus::Failed);
    assert!(r.message.contains("not a member"), "{}", r.message);
    // A second approval of the engine already running is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_govchain"))
        .args(["net", "switch", o, "--consensus", "hotstuff"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("already runs hotstuff"), "{said}");
    // node3 is down across the switch back (killed, as by a crash): the
    // other three approve, and it catches up through the switch when it
    // runs again.
    let pid = std::fs::read_to_string(out.join("node3/pid")).unwrap();
    let killed = Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
    assert!(killed.success());
    let to_raft = ok(&["net", "switch", o, "--consensus", "raft"]);
    assert!(to_raft.contains("consensus=raft"), "{to_raft}");
    phase("switched back to raft without node3");
    more(&acked, 60, "on raft again").await;
    phase("60 more on raft again");
    // Past the grace period, in which the others' hotstuff would still
    // have served it the switch block: node3 must find the switch itself.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _node3 = spawn(&out.join("node3"));
    converged(&four).await;
    assert_eq!(four[3].status().await.unwrap().consensus, "raft", "node3 after catching up");
    phase("node3 caught up through the switch");
    let log = std::fs::read_to_string(out.join("node3/test-node.log")).unwrap();
    assert!(
        log.contains("catching up to a switch of engines this node missed"),
        "node3 did not catch up:\n{log}"
    );
    more(&acked, 30, "with node3 back").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let (height, _) = converged(&four).await;
    let acked = acked.lock().unwrap().clone();
    for c in &four {
        for id in &acked {
            assert!(
                c.transaction(id).await.unwrap().is_some(),
                "acknowledged {id} missing on {}",
                c.base_url()
            );
        }
    }
    same_blocks(&four, height).await;

    // The two blocks that switched, from their approvals' receipts.
    let mut switches = Vec::new();
    for h in 1..=height {
        let block = four[0].block(&h.to_string()).await.unwrap().unwrap().block;
        for tx in block.transactions.iter().filter(|t| t.body.recipient == "consensus") {
            let record = four[0].transaction(&tx.id(Suite::Gm)).await.unwrap().unwrap();
            if record.receipt.status != TxStatus::Success {
                continue;
            }
            let output: serde_json::Value = serde_json::from_slice(&record.receipt.output).unwrap();
            if output["switched"] == true {
                switches.push((h, output["consensus"].as_str().unwrap().to_owned()));
            }
        }
    }
    assert_eq!(switches.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(), ["hotstuff", "raft"]);
    let (on, off) = (switches[0].0, switches[1].0);
    // Hotstuff ordered the blocks after the first switch up to the one
    // that switched back: each carries a commit certificate of the members.
    let validators = crate::bft::genesis_validators(&out.join("node0"));
    let mut stint_txs = 0;
    for h in on + 1..=off {
        let block = four[0].block(&h.to_string()).await.unwrap().unwrap().block;
        govchain_hotstuff::verify_commit(&block, Suite::Gm, &validators)
            .unwrap_or_else(|e| panic!("block {h} of the hotstuff stint does not prove its commit: {e}"));
        stint_txs += block.transactions.len();
    }
    for h in [on, off + 1] {
        let block = four[0].block(&h.to_string()).await.unwrap().unwrap().block;
        assert!(govchain_hotstuff::verify_commit(&block, Suite::Gm, &validators).is_err(), "raft block {h}");
    }
    assert!(stint_txs >= 60, "{stint_txs} transactions in the hotstuff stint");
    eprintln!(
        "switch raft -> hotstuff at {on} -> raft at {off}: {} acknowledged, height {height}, {stint_txs} in the hotstuff stint",
        acked.len()
    );
}

/// Waits (a minute at most) until the test's writers had `n` more
/// transactions acknowledged.
async fn more(acked: &Mutex<Vec<Hash>>, n: usize, what: &str) {
    let target = acked.lock().unwrap().len() + n;
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < target {
        assert!(Instant::now() < deadline, "no progress {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every block of a hotstuff chain verifies against the members of its own
/// epoch: the genesis members, then those each epoch-ending block names.
async fn verify_epochs(out: &std::path::Path, four: &[Client], height: u64) {
    let mut validators = crate::bft::genesis_validators(&out.join("node0"));
    let mut epochs = 0;
    for h in 1..=height {
        let block = four[0].block(&h.to_string()).await.unwrap().unwrap().block;
        govchain_hotstuff::verify_commit(&block, Suite::Gm, &validators)
            .unwrap_or_else(|e| panic!("block {h} does not prove its commit in epoch {epochs}: {e}"));
        if let Some(next) = govchain_hotstuff::certificate::reconfig_of(&block).unwrap() {
            validators = next.validators;
            epochs += 1;
        }
    }
    // A learner added, promoted, a member removed, the policy changed:
    // four epochs ended.
    assert_eq!(epochs, 4, "height {height}");
    // The nodes' metrics show the engine's progress.
    let text = reqwest::get(format!("{}/metrics", four[0].base_url())).await.unwrap().text().await.unwrap();
    let figure = |name: &str| -> i64 {
        let key = format!("govchain_node_consensus_figure{{figure=\"{name}\"}} ");
        let line =
            text.lines().find(|l| l.starts_with(&key)).unwrap_or_else(|| panic!("no {key} in\n{text}"));
        line[key.len()..].trim().parse().unwrap()
    };
    assert_eq!(figure("epoch"), 4);
    assert!(figure("round") >= 1);
    assert!(figure("timeout_rounds") >= 0 && figure("sitting_out") >= 0);
    let voters: Vec<&str> = validators.iter().filter(|v| v.voter).map(|v| v.name.as_str()).collect();
    assert_eq!(voters, ["node0", "node2", "node3", "node4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_policy_change_and_a_new_node_catching_up_thousands_of_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let base = 28_000 + (std::process::id() % 2_000) as u16 * 2;
    let o = out.to_str().unwrap();
    let (api, p2p) = (base.to_string(), (base + 1).to_string());
    ok(&[
        "net",
        "init",
        "--nodes",
        "3",
        "--suite",
        "intl-r1",
        "--out",
        o,
        "--first-ip",
        "61",
        "--api-port",
        &api,
        "--p2p-port",
        &p2p,
    ]);
    ok(&["net", "start", o]);
    let _guard = Started(out.clone());
    let client = |i: usize| Client::new(&format!("http://127.0.0.{}:{base}", 61 + i)).unwrap();
    let policy = |c: Client| async move {
        reqwest::get(format!("{}/v1/policy", c.base_url()))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };

    // Online config change: one transaction per block, agreed by all.
    assert_ne!(policy(client(0)).await["max_txs"], 1);
    ok(&["net", "policy", o, "--max-txs", "1"]);
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while policy(client(i)).await["max_txs"] != 1 {
            assert!(Instant::now() < deadline, "node{i} did not apply the new policy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Invalid policies are refused with a message.
    let bad = crate::govchain(&["net", "policy", o, "--max-txs", "0"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("max_txs"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Build a ledger of a few thousand blocks (bounded in count and time).
    const BLOCKS: u64 = 2_500;
    let chain_id = client(0).status().await.unwrap().chain_id;
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let (c, chain_id) = (client(w % 3), chain_id.clone());
            tokio::spawn(async move {
                let wallet = Wallet::new(PrivateKey::generate(Suite::IntlR1), chain_id);
                let deadline = Instant::now() + Duration::from_secs(180);
                for i in 0..BLOCKS {
                    if Instant::now() > deadline || c.height().await.unwrap_or(0) >= BLOCKS {
                        break;
                    }
                    let tx = wallet
                        .data_call(&DataCall::Put { key: format!("b{w}-{i}").into(), value: "v".into() });
                    let _ = c.submit(&tx.unwrap(), SubmitMode::Sync).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let height = client(0).height().await.unwrap();
    assert!(height >= BLOCKS, "only {height} blocks in the time cap");
    let block = client(0).block(&(height / 2).to_string()).await.unwrap().unwrap();
    assert_eq!(block.block.transactions.len(), 1, "the policy of one transaction per block holds");

    // A new node joins with an empty ledger and catches up to all of it.
    let started = Instant::now();
    let added = ok(&["net", "add-node", o]);
    assert!(added.contains("node=node3"), "{added}");
    let all: Vec<Client> = (0..4).map(client).collect();
    let (h, _) = converged(&all).await;
    assert!(h >= height);
    for at in [1, height / 2, height] {
        let want = client(0).block(&at.to_string()).await.unwrap().unwrap().id;
        assert_eq!(client(3).block(&at.to_string()).await.unwrap().unwrap().id, want, "block {at}");
    }
    eprintln!("node3 caught up with {height} blocks in {:.1}s", started.elapsed().as_secs_f64());
}
