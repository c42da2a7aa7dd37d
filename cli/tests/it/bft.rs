//! HotStuff chains of real processes on 127.0.0.x, against lying nodes.
//!
//! Four nodes (f = 1), SM2 on a gm chain: one node equivocates, then is
//! killed with SIGKILL and restarted honest; an honest node is killed and
//! restarted under load; one node is partitioned away (TCP proxies in front
//! of every peer listener, as in `partition.rs`) for long enough that its
//! leader rounds time out, then healed. Seven nodes (f = 2): two byzantine
//! nodes (equivocating, withholding votes, signing badly, replaying) while
//! the five honest ones commit.
//!
//! At the end of each: every acknowledged transaction is on every honest
//! node, every honest node holds the same block at every height, and every
//! block after genesis carries a commit certificate that
//! `govchain_hotstuff::verify_commit` accepts against the genesis members.
//!
//! The byzantine behaviour is compiled in only for tests (the node's
//! `byzantine` feature, enabled by this crate's dev-dependency) and switched
//! on per process by `GOVCHAIN_BYZANTINE`.

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_hotstuff::Validator;
use govchain_sdk::{Client, Wallet};
use govchain_types::{Hash, TxStatus, api::SubmitMode};

use crate::{
    net::{Proc, converged, kill, same_blocks, spawn_with},
    ok,
    partition::{Cut, behind_proxies},
};

/// A HotStuff chain of `n` nodes from `govchain net init`, each peer
/// listener behind a proxy the test can cut.
struct Chain {
    _dir: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    clients: Vec<Client>,
    cut: Arc<Cut>,
    ips: Vec<IpAddr>,
    suite: Suite,
    chain_id: String,
}

async fn chain(n: u8, suite: &str, first: u8, base: u16) -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let o = out.to_str().unwrap();
    let (api, p2p) = (base, base + 1);
    ok(&[
        "net",
        "init",
        "--nodes",
        &n.to_string(),
        "--suite",
        suite,
        "--consensus",
        "hotstuff",
        "--out",
        o,
        "--first-ip",
        &first.to_string(),
        "--api-port",
        &api.to_string(),
        "--p2p-port",
        &p2p.to_string(),
    ]);
    let cut = behind_proxies(&out, first, n, p2p);
    let ips: Vec<IpAddr> = (0..n).map(|i| IpAddr::from([127, 0, 0, first + i])).collect();
    let dirs: Vec<PathBuf> = (0..n).map(|i| out.join(format!("node{i}"))).collect();
    let clients: Vec<Client> =
        ips.iter().map(|ip| Client::new(&format!("http://{ip}:{api}")).unwrap()).collect();
    let suite: Suite = suite.parse().unwrap();
    Chain { _dir: dir, dirs, clients, cut, ips, suite, chain_id: String::new() }
}

impl Chain {
    /// Starts node `i`, lying as `byzantine` says (empty: honest).
    fn start(&self, i: usize, byzantine: &str) -> Proc {
        // The engine's rounds in each node's run log, for a failure's dump.
        let mut env = vec![("RUST_LOG", "warn,govchain::hotstuff=debug")];
        if !byzantine.is_empty() {
            env.push(("GOVCHAIN_BYZANTINE", byzantine));
        }
        spawn_with(&self.dirs[i], &env)
    }

    /// Every node's status and the end of its engine log, for a failure.
    async fn dump(&self) {
        for (i, (dir, c)) in self.dirs.iter().zip(&self.clients).enumerate() {
            eprintln!("--- node{i}: {:?}", c.status().await.map(|s| (s.height, s.role, s.leader)));
            let logs = dir.join("data/logs/run");
            for f in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(f.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().filter(|l| l.contains("hotstuff")).collect();
                for l in &lines[lines.len().saturating_sub(25)..] {
                    eprintln!("{}", l.chars().take(300).collect::<String>());
                }
            }
        }
    }

    async fn wait_started(&mut self, nodes: &[usize]) {
        for &i in nodes {
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.clients[i].status().await.is_err() {
                assert!(Instant::now() < deadline, "node{i} did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.chain_id = self.clients[nodes[0]].status().await.unwrap().chain_id;
    }

    /// The genesis members as the engine's validators.
    fn validators(&self) -> Vec<Validator> {
        genesis_validators(&self.dirs[0])
    }
}

/// The genesis members in `node`'s `genesis.json` as the engine's
/// validators.
pub fn genesis_validators(node: &std::path::Path) -> Vec<Validator> {
    let text = std::fs::read_to_string(node.join("genesis.json")).unwrap();
    let genesis: serde_json::Value = serde_json::from_str(&text).unwrap();
    genesis["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Validator {
            id: m["id"].as_u64().unwrap(),
            name: m["name"].as_str().unwrap().to_owned(),
            addr: m["p2p"].as_str().unwrap().to_owned(),
            public_key: hex::decode(m["consensus_key"].as_str().unwrap()).unwrap(),
            voter: true,
        })
        .collect()
}

/// Writers submitting through `through` (honest nodes) until stopped; every
/// committed transaction's id lands in the shared list.
struct Load {
    acked: Arc<Mutex<Vec<Hash>>>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(chain: &Chain, through: &[usize], writers: usize) -> Load {
        let acked: Arc<Mutex<Vec<Hash>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<Client> = through.iter().map(|&i| chain.clients[i].clone()).collect();
        let writers = (0..writers)
            .map(|w| {
                let (clients, acked, stop) = (clients.clone(), acked.clone(), stop.clone());
                let wallet = Wallet::new(PrivateKey::generate(chain.suite), chain.chain_id.clone());
                tokio::spawn(async move {
                    for i in 0..5_000u32 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let call = DataCall::Put { key: format!("w{w}-{i}").into(), value: "v".into() };
                        let tx = wallet.data_call(&call).unwrap();
                        let node = &clients[(w + i as usize) % clients.len()];
                        match node.submit(&tx, SubmitMode::Sync).await {
                            Ok(r) if r.receipt.as_ref().is_some_and(|r| r.status == TxStatus::Success) => {
                                acked.lock().unwrap().push(r.tx_id);
                            }
                            _ => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
            })
            .collect();
        Load { acked, stop, writers }
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits for `more` acknowledgements (bounded).
    async fn wait(&self, chain: &Chain, more: usize, what: &str) {
        let target = self.count() + more;
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.count() < target {
            if Instant::now() > deadline {
                chain.dump().await;
                panic!("{what}: writes stalled at {} acknowledgements", self.count());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) -> Vec<Hash> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

/// The end state of a run on the honest nodes: one history, every
/// acknowledged transaction everywhere, every block certified.
async fn check_history(chain: &Chain, honest: &[usize], acked: &[Hash]) -> u64 {
    let clients: Vec<Client> = honest.iter().map(|&i| chain.clients[i].clone()).collect();
    let (height, root) = converged(&clients).await;
    same_blocks(&clients, height).await;
    for c in &clients {
        for id in acked {
            assert!(
                c.transaction(id).await.unwrap().is_some(),
                "acknowledged {id} missing on {}",
                c.base_url()
            );
        }
    }
    let validators = chain.validators();
    for h in 1..=height {
        let block = clients[0].block(&h.to_string()).await.unwrap().unwrap().block;
        govchain_hotstuff::verify_commit(&block, chain.suite, &validators)
            .unwrap_or_else(|e| panic!("block {h} does not prove its commit: {e}"));
    }
    eprintln!("{} acknowledged transactions, height {height}, state root {root}", acked.len());
    height
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_survive_an_equivocating_node_a_kill_and_a_partition() {
    let base = 36_000 + (std::process::id() % 1_000) as u16 * 4;
    let mut chain = chain(4, "gm", 31, base).await;
    // node3 lies first: two proposals and two votes for a round.
    let mut procs: Vec<Proc> =
        (0..4).map(|i| chain.start(i, if i == 3 { "equivocate" } else { "" })).collect();
    chain.wait_started(&[0, 1, 2, 3]).await;
    let load = Load::start(&chain, &[0, 1, 2], 6);
    load.wait(&chain, 100, "with node3 equivocating").await;

    // node3 killed with SIGKILL, restarted honest from its data (its safety
    // state says what it signed while it lied).
    kill(&mut procs[3]);
    load.wait(&chain, 30, "with node3 down").await;
    procs[3] = chain.start(3, "");
    load.wait(&chain, 50, "after node3 restarted").await;

    // An honest node killed under load and restarted.
    kill(&mut procs[1]);
    load.wait(&chain, 50, "with node1 down").await;
    procs[1] = chain.start(1, "");
    load.wait(&chain, 50, "after node1 restarted").await;

    // node2 partitioned away: its rounds as leader (and the rounds whose
    // votes go to it) time out and the others move on through timeout
    // certificates, committing; then it heals and catches up.
    chain.cut.isolate(chain.ips[2]);
    // What reached node2 before the cut may still be applied: its height
    // is read once that settled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = chain.clients[2].height().await.unwrap();
    let majority_height = chain.clients[0].height().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while chain.clients[0].height().await.unwrap() < majority_height + 3 {
        if Instant::now() > deadline {
            chain.dump().await;
            panic!("the three connected nodes did not commit while node2 was partitioned");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chain.clients[2].height().await.unwrap(), before, "the partitioned node committed alone");
    chain.cut.heal();
    load.wait(&chain, 50, "after healing").await;

    let acked = load.finish().await;
    let height = check_history(&chain, &[0, 1, 2, 3], &acked).await;
    assert!(height > before);
    drop(procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_nodes_stay_safe_and_live_with_two_byzantine() {
    let base = 40_000 + (std::process::id() % 1_000) as u16 * 4;
    let mut chain = chain(7, "intl-r1", 41, base).await;
    let lies = ["", "", "", "", "", "equivocate,replay", "withhold-votes,bad-signatures,bad-certificates"];
    let procs: Vec<Proc> = (0..7).map(|i| chain.start(i, lies[i])).collect();
    chain.wait_started(&[0, 1, 2, 3, 4, 5, 6]).await;
    let load = Load::start(&chain, &[0, 1, 2, 3, 4], 12);
    load.wait(&chain, 60, "with two byzantine nodes").await;
    let acked = load.finish().await;
    check_history(&chain, &[0, 1, 2, 3, 4], &acked).await;
    drop(procs);
}
