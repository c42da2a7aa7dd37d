//! The node against every consensus engine, each wired through
//! [`NodeBuilder`]: solo, Raft (real mutual TLS between in-process nodes on
//! loopback addresses) and the in-memory test engine (an in-process group
//! sharing one log), which plugs in with [`NodeBuilder::engine`] alone.
//!
//! The same scenarios run on each engine where they apply: commit and read
//! through the API; forwarding, learners catching up, promotion, removal and
//! a policy change through consensus; a member stopped and started again
//! over its data directory catching up.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_consensus::{BlockPolicy, BoxFuture, Consensus, Role, memory::MemoryGroup};
use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::{
    DataCall, EngineKind, EvmCall, EvmCreate, ExecutionSpec,
    evm::{store::slot_key, testdata::COUNTER},
};
use govchain_node::{
    Node,
    builder::{Engine as Started, EngineContext, EngineFactory, NodeBuilder},
    config::{Genesis, NodeConfig},
    init::{self, NetworkOptions, add_network_node, init_network},
};
use govchain_sdk::{Client, Wallet};
use govchain_types::{Encode, Hash, Receipt, Transaction, TxBody, TxStatus, TxType, api::SubmitMode};

const SUITE: Suite = Suite::IntlR1;
const CHAIN: &str = "engines";
const WAIT: Duration = Duration::from_secs(30);

/// The engines the node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Solo,
    Raft,
    Memory,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Solo, Engine::Raft, Engine::Memory];
    /// The engines whose group has several members and changes.
    pub const REPLICATED: [Engine; 2] = [Engine::Raft, Engine::Memory];

    fn name(self) -> &'static str {
        match self {
            Engine::Solo => "solo",
            Engine::Raft => "raft",
            Engine::Memory => "memory",
        }
    }
}

/// The in-memory engine as the builder starts it: each node a member of
/// one [`MemoryGroup`], with its genesis consensus id (or `consensus_id`).
struct MemoryEngine(MemoryGroup);

impl EngineFactory for MemoryEngine {
    fn networked(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, ctx: EngineContext<'a>) -> BoxFuture<'a, govchain_node::Result<Started>> {
        Box::pin(async move {
            let id = ctx
                .genesis
                .member(&ctx.config.node_id)
                .map(|m| m.id)
                .or(ctx.config.consensus_id)
                .unwrap_or(1);
            let member = self.0.start_member(id, &ctx.config.node_id, ctx.store)?;
            let consensus: Arc<dyn Consensus> = Arc::new(member);
            Ok(Started { consensus, peer_routes: None })
        })
    }
}

/// A running node with its API on a loopback port.
pub struct Running {
    pub node: Node,
    pub client: Client,
    server: tokio::task::JoinHandle<()>,
}

/// Nodes of one chain on one engine, in one temporary directory.
pub struct Cluster {
    pub engine: Engine,
    pub suite: Suite,
    root: tempfile::TempDir,
    pub configs: Vec<NodeConfig>,
    pub nodes: Vec<Option<Running>>,
    group: Option<MemoryGroup>,
}

/// Each cluster takes its own loopback addresses (127.0.0.x, x from 100).
static NEXT_IP: AtomicU8 = AtomicU8::new(100);

fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind(SocketAddr::from((ip, 0))).expect("bind").local_addr().expect("addr").port()
}

impl Cluster {
    /// `n` nodes of a new chain on `engine`, started.
    pub async fn start(engine: Engine, n: usize) -> Cluster {
        Self::start_with(engine, n, |_| {}).await
    }

    /// Like [`Cluster::start`], after `edit` changed the chain's genesis
    /// (the same on every node).
    pub async fn start_with(engine: Engine, n: usize, edit: impl Fn(&mut Genesis)) -> Cluster {
        Self::start_on(engine, SUITE, n, edit).await
    }

    /// Like [`Cluster::start_with`], for a chain of `suite`.
    pub async fn start_on(engine: Engine, suite: Suite, n: usize, edit: impl Fn(&mut Genesis)) -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let first_ip = NEXT_IP.fetch_add(8, Ordering::Relaxed);
        let ip = Ipv4Addr::new(127, 0, 0, first_ip);
        let opts = NetworkOptions {
            chain_id: CHAIN.into(),
            suite,
            consensus: if engine == Engine::Solo { "solo" } else { "raft" }.into(),
            nodes: n,
            organization: "org-test".into(),
            first_ip,
            api_port: free_port(ip),
            p2p_port: free_port(ip),
        };
        let dirs = init_network(root.path(), &opts).expect("init network");
        let configs: Vec<NodeConfig> = dirs.iter().map(|d| load(d)).collect();
        for config in &configs {
            let mut genesis = Genesis::load(&config.genesis).expect("genesis");
            edit(&mut genesis);
            let json = serde_json::to_string_pretty(&genesis).expect("json");
            std::fs::write(&config.genesis, json).expect("write genesis");
        }
        let group = (engine == Engine::Memory).then(|| {
            let voters: Vec<(u64, String)> =
                (1..=n as u64).map(|id| (id, format!("node{}", id - 1))).collect();
            let voters: Vec<(u64, &str)> = voters.iter().map(|(id, name)| (*id, name.as_str())).collect();
            let policy = BlockPolicy { max_wait: Duration::from_millis(5), ..BlockPolicy::default() };
            MemoryGroup::new(&voters, policy, 10_000).expect("memory group")
        });
        let mut c = Cluster { engine, suite, root, configs, nodes: Vec::new(), group };
        for i in 0..n {
            c.nodes.push(None);
            c.run(i).await;
        }
        c
    }

    /// Starts (or starts again) node `i` through the builder.
    pub async fn run(&mut self, i: usize) {
        let mut builder = NodeBuilder::new(self.configs[i].clone());
        if let Some(group) = &self.group {
            builder = builder.engine(MemoryEngine(group.clone()));
        }
        let node =
            builder.start().await.unwrap_or_else(|e| panic!("{}: node{i} starts: {e}", self.engine.name()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let router = govchain_node::rpc::router(node.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let client = Client::new(&url).expect("client");
        self.nodes[i] = Some(Running { node, client, server });
    }

    /// Stops node `i` (engine, peer listener, API) and lets its ledger go.
    pub async fn stop(&mut self, i: usize) {
        let running = self.nodes[i].take().expect("running");
        running.server.abort();
        let _ = running.server.await;
        running.node.shutdown().await.expect("shutdown");
        let watch = running.node.ledger_watch();
        drop(running.node);
        // The engine's tasks end with their aborts: the ledger is opened
        // again once they have dropped it.
        until(&format!("{}: node{i} lets its ledger go", self.engine.name()), || watch.released()).await;
    }

    /// Prepares one more node of the chain; returns its index.
    pub fn add(&mut self) -> usize {
        let added = add_network_node(self.root.path()).expect("add node");
        self.configs.push(load(&added.dir));
        self.nodes.push(None);
        self.configs.len() - 1
    }

    /// The chain's online CA (init_network keeps it beside the node directories).
    pub fn ca(&self) -> govchain_pki::ChainCa {
        let ca = self.root.path().join(init::CA_DIR);
        let read = |f: &str| std::fs::read_to_string(ca.join(f)).expect("read CA file");
        govchain_pki::ChainCa::load(
            self.suite,
            &read(init::ROOT_CERT_FILE),
            &read(init::OPERATING_CERT_FILE),
            &read(init::OPERATING_KEY_FILE),
        )
        .expect("load CA")
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i].as_ref().expect("running").node
    }

    pub fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten().map(|r| &r.node)
    }

    /// The index of the node all running members agree leads.
    pub async fn leader(&self) -> usize {
        let mut found = None;
        until(&format!("{}: an agreed leader", self.engine.name()), || {
            let leaders: Vec<Option<String>> =
                self.running().map(|n| n.consensus().leader().map(|l| l.name)).collect();
            found = leaders
                .first()
                .cloned()
                .flatten()
                .filter(|l| leaders.iter().all(|x| x.as_deref() == Some(l)));
            found.as_ref().is_some_and(|name| {
                self.running().any(|n| &n.config().node_id == name && n.consensus().role() == Role::Leader)
            })
        })
        .await;
        let name = found.expect("leader");
        self.configs.iter().position(|c| c.node_id == name).expect("a node of the cluster")
    }

    /// Waits until every running node holds block `height` with one id.
    pub async fn converged(&self, height: u64) -> Hash {
        let mut id = Hash::ZERO;
        until(&format!("{}: every node at height {height}", self.engine.name()), || {
            let ids: Vec<Option<Hash>> = self
                .running()
                .map(|n| n.ledger().block_by_height(height).ok().flatten().map(|b| b.header.id(self.suite)))
                .collect();
            match ids.first().copied().flatten() {
                Some(first) if ids.iter().all(|x| *x == Some(first)) => {
                    id = first;
                    true
                }
                _ => false,
            }
        })
        .await;
        id
    }
}

fn load(dir: &Path) -> NodeConfig {
    NodeConfig::load(&dir.join(init::CONFIG_FILE)).expect("config")
}

/// Polls `cond` every 20 ms for up to [`WAIT`].
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn wallet() -> Wallet {
    Wallet::new(PrivateKey::generate(SUITE), CHAIN)
}

/// Puts `key` through node `i` and waits for its receipt; retries while a
/// leader settles. Returns the block height.
async fn put(c: &Cluster, i: usize, w: &Wallet, key: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let tx = w.data_call(&DataCall::Put { key: key.into(), value: "v".into() }).expect("sign");
        match c.node(i).submit(tx, SubmitMode::Sync).await {
            Ok(r) => {
                let receipt = r.receipt.expect("sync answers with the receipt");
                assert_eq!(receipt.status, TxStatus::Success, "{}", receipt.message);
                return receipt.height;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("{}: put {key} through node{i}: {e}; retrying", c.engine.name());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{}: put {key} through node{i}: {e}", c.engine.name()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_commits_reads_and_reports_itself_through_the_api() {
    for engine in Engine::ALL {
        let c = Cluster::start(engine, 1).await;
        let client = &c.nodes[0].as_ref().expect("running").client;
        let w = wallet();
        let tx =
            w.data_call(&DataCall::Put { key: "permit/1".into(), value: "granted".into() }).expect("sign");
        let deadline = Instant::now() + WAIT;
        let resp = loop {
            match client.submit(&tx, SubmitMode::Sync).await {
                Ok(r) => break r,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{engine:?}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{engine:?}: submit: {e}"),
            }
        };
        let receipt = resp.receipt.expect("receipt");
        assert_eq!(receipt.status, TxStatus::Success, "{engine:?}: {}", receipt.message);
        let state = client.data_value(b"permit/1").await.expect("state");
        assert_eq!(state.value_utf8.as_deref(), Some("granted"), "{engine:?}");
        let status = client.status().await.expect("status");
        assert_eq!(status.consensus, engine.name());
        assert_eq!((status.role.as_str(), status.leader.as_deref()), ("leader", Some("node0")), "{engine:?}");
        assert_eq!(status.height, receipt.height);
        let node = c.node(0);
        assert_eq!(node.block_policy(), node.consensus().block_policy());
        assert!(node.ready(), "{engine:?}");
        assert_eq!(node.consensus().membership().is_some(), engine != Engine::Solo, "{engine:?}");
        assert!(node.ledger().verify_chain().expect("verifies").is_some());
        let mut c = c;
        c.stop(0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_engines_forward_add_promote_remove_and_change_policy() {
    for engine in Engine::REPLICATED {
        let mut c = Cluster::start(engine, 3).await;
        let leader = c.leader().await;
        let w = wallet();
        // Any member takes a client's transaction (a follower hands it on).
        let mut height = 0;
        for i in 0..3 {
            height = height.max(put(&c, i, &w, &format!("k{i}")).await);
        }
        c.converged(height).await;

        // A fourth node joins as a learner and catches up, then votes.
        let new = c.add();
        c.run(new).await;
        let (id, name) = (c.configs[new].consensus_id.expect("id"), c.configs[new].node_id.clone());
        let addr = c.configs[new].p2p_listen.expect("p2p").to_string();
        let group = c.node(leader).consensus().membership().expect("membership");
        group.add_learner(id, name.clone(), addr, Vec::new()).await.expect("add learner");
        c.converged(height).await;
        until("the learner's role", || c.node(new).consensus().role() == Role::Learner).await;
        group.promote(id).await.expect("promote");
        until("the promoted member's role", || c.node(new).consensus().role() == Role::Follower).await;
        let height = put(&c, new, &w, "from-the-new-member").await;
        c.converged(height).await;

        // A policy change through consensus reaches every member.
        let policy = BlockPolicy { max_txs: 77, ..c.node(leader).block_policy() };
        let group = c.node(leader).consensus().membership().expect("membership");
        group.set_block_policy(policy.clone()).await.expect("set policy");
        until("the policy on every member", || c.running().all(|n| n.block_policy() == policy)).await;
        let bad = BlockPolicy { max_txs: 0, ..policy.clone() };
        let refused = group.set_block_policy(bad).await.expect_err("max_txs 0 is refused");
        assert!(refused.to_string().contains("max_txs"), "{engine:?}: {refused}");

        // A follower leaves; the rest keep committing.
        let gone = (0..3).find(|i| *i != leader).expect("a follower");
        let gone_id = c.configs[gone].consensus_id.or_else(|| {
            let genesis = Genesis::load(&c.configs[gone].genesis).ok()?;
            genesis.member(&c.configs[gone].node_id).map(|m| m.id)
        });
        group.remove(gone_id.expect("id")).await.expect("remove");
        until("the member list", || group.members().len() == 3).await;
        c.stop(gone).await;
        let height = put(&c, leader, &w, "after-removal").await;
        c.converged(height).await;
        let group = c.node(leader).consensus().membership().expect("membership");
        let voters = group.members().iter().filter(|m| m.voter).count();
        assert_eq!(voters, 3, "{engine:?}");
        for i in 0..c.nodes.len() {
            if c.nodes[i].is_some() {
                c.stop(i).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_starts_again_over_its_data_and_catches_up() {
    for engine in Engine::ALL {
        let n = if engine == Engine::Solo { 1 } else { 3 };
        let mut c = Cluster::start(engine, n).await;
        let leader = c.leader().await;
        let w = wallet();
        let height = put(&c, leader, &w, "before").await;
        c.converged(height).await;
        // Solo stops its only node; the others stop a follower and write on.
        let stopped = if n == 1 { 0 } else { (0..n).find(|i| *i != leader).expect("a follower") };
        c.stop(stopped).await;
        let mut height = height;
        if n > 1 {
            for k in 0..5 {
                height = put(&c, leader, &w, &format!("while-stopped-{k}")).await;
            }
        }
        c.run(stopped).await;
        let id = c.converged(height).await;
        assert_ne!(id, Hash::ZERO);
        let value =
            c.node(stopped).ledger().get("data", &govchain_execution::DataContract::value_key(b"before"));
        assert!(value.expect("read").is_some(), "{engine:?}: the write before the stop is kept");
        // And it takes part again.
        let leader = c.leader().await;
        let height = put(&c, stopped, &w, "after").await;
        c.converged(height).await;
        assert!(c.node(leader).ledger().verify_chain().expect("verifies").is_some());
        for i in 0..n {
            c.stop(i).await;
        }
    }
}

/// A partition on the in-memory engine (Raft's runs against the real
/// binary behind TCP proxies in the CLI's suite): the cut-off leader stops
/// ordering, the rest elect the next voter and go on, and the old leader
/// catches up once healed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_is_replaced_and_catches_up_when_healed() {
    let c = Cluster::start(Engine::Memory, 3).await;
    let group = c.group.clone().expect("memory group");
    let w = wallet();
    let old = c.leader().await;
    let height = put(&c, old, &w, "before").await;
    c.converged(height).await;
    group.isolate(old as u64 + 1);
    assert_eq!(c.node(old).consensus().role(), Role::Stopped);
    assert!(!c.node(old).ready(), "a cut-off member is not ready");
    let new = (0..3).find(|i| *i != old).expect("another member");
    let mut height = height;
    for k in 0..5 {
        height = put(&c, new, &w, &format!("during-{k}")).await;
    }
    assert!(c.node(old).ledger().height().expect("height") < height, "the cut-off member got no block");
    group.heal();
    c.converged(height).await;
    let mut c = c;
    for i in 0..3 {
        c.stop(i).await;
    }
}

/// Submits the transaction `make` builds for a fresh chain nonce through
/// node `i` and waits for its receipt; retries while a leader settles.
async fn submit_evm(c: &Cluster, i: usize, nonce: &AtomicU64, make: impl Fn(u64) -> Transaction) -> Receipt {
    let deadline = Instant::now() + WAIT;
    loop {
        match c.node(i).submit(make(nonce.fetch_add(1, Ordering::Relaxed)), SubmitMode::Sync).await {
            Ok(r) => return r.receipt.expect("sync answers with the receipt"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("{}: evm transaction through node{i}: {e}; retrying", c.engine.name());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{}: evm transaction through node{i}: {e}", c.engine.name()),
        }
    }
}

fn evm_tx(key: &PrivateKey, nonce: u64, tx_type: TxType, recipient: String, data: Vec<u8>) -> Transaction {
    TxBody {
        chain_id: CHAIN.into(),
        tx_type,
        timestamp_ms: govchain_types::now_ms(),
        nonce,
        sender: key.public_key().address(),
        recipient,
        data,
        memo: String::new(),
        signers: Vec::new(),
    }
    .sign(&[key])
    .expect("sign")
}

fn word(n: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

/// An EVM chain on the replicated engines: every member executes the
/// contract's transactions to the same state root, and a node that joins
/// afterwards catches up to the same root and contract state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_transactions_reach_one_state_root_on_every_member_and_a_late_joiner() {
    let gas = 1_000_000;
    for engine in Engine::REPLICATED {
        let mut c = Cluster::start_with(engine, 3, |g| {
            g.execution = ExecutionSpec { engines: vec![EngineKind::Native, EngineKind::Evm], evm: None };
        })
        .await;
        let leader = c.leader().await;
        let key = PrivateKey::generate(SUITE);
        let nonce = AtomicU64::new(1);
        let code = [hex::decode(COUNTER).expect("hex"), word(1).to_vec()].concat();
        let deploy = |n| {
            let payload = EvmCreate { code: code.clone(), gas_limit: gas }.encode();
            evm_tx(&key, n, TxType::EvmCreate, String::new(), payload)
        };
        let r = submit_evm(&c, leader, &nonce, deploy).await;
        assert_eq!(r.status, TxStatus::Success, "{engine:?}: {}", r.message);
        let counter = govchain_crypto::Address(r.output.as_slice().try_into().expect("an address"));
        let mut height = r.height;
        // Calls through every member, a failing one among them.
        let selector = |sig: &str| govchain_crypto::keccak256(sig.as_bytes())[..4].to_vec();
        let increment = [selector("increment(uint256)"), word(2).to_vec()].concat();
        let fail = selector("fail()");
        for (i, input) in [(0, &increment), (1, &fail), (2, &increment)] {
            let call = |n| {
                let payload = EvmCall { input: input.clone(), gas_limit: gas }.encode();
                evm_tx(&key, n, TxType::EvmCall, counter.to_string(), payload)
            };
            let r = submit_evm(&c, i, &nonce, call).await;
            assert_eq!(r.status == TxStatus::Success, input == &increment, "{engine:?}: {}", r.message);
            height = height.max(r.height);
        }
        c.converged(height).await;
        let slot = slot_key(&counter.0, &word(0));
        let root = c.node(leader).ledger().state_root();
        for node in c.running() {
            assert_eq!(node.ledger().state_root(), root, "{engine:?}");
            assert_eq!(node.ledger().get("evm", &slot).expect("read"), Some(word(5).to_vec()), "{engine:?}");
        }

        // A fourth node joins as a learner and catches up to the same state.
        let new = c.add();
        c.run(new).await;
        let (id, name) = (c.configs[new].consensus_id.expect("id"), c.configs[new].node_id.clone());
        let addr = c.configs[new].p2p_listen.expect("p2p").to_string();
        let group = c.node(leader).consensus().membership().expect("membership");
        group.add_learner(id, name, addr, Vec::new()).await.expect("add learner");
        c.converged(height).await;
        let joined = c.node(new).ledger();
        assert_eq!(joined.state_root(), root, "{engine:?}");
        assert_eq!(joined.get("evm", &slot).expect("read"), Some(word(5).to_vec()), "{engine:?}");
        assert!(joined.verify_chain().expect("verifies").is_some());
        for i in 0..c.nodes.len() {
            if c.nodes[i].is_some() {
                c.stop(i).await;
            }
        }
    }
}
