//! Helpers shared by the cluster tests.

use std::{
    collections::BTreeMap,
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use govchain_consensus::BlockPolicy;
use govchain_crypto::Suite;
use govchain_raft::{
    Node, NodeId, PeerTransport, RaftConfig, RaftEngine,
    test_utils::{LoopbackNetwork, MemBlockStore},
};
use govchain_types::Transaction;

pub const SUITE: Suite = Suite::IntlR1;
pub const CHAIN: &str = "raft-test";

/// A distinct (unsigned: the block store does not check) transaction.
pub fn tx(n: u64) -> Transaction {
    govchain_consensus::memory::unsigned_tx(CHAIN, n)
}

pub fn node(id: NodeId) -> Node {
    Node::new(format!("loop-{id}"), format!("node{id}"))
}

/// Fast timings for tests on a loaded 2-core machine.
pub fn config(id: NodeId, node: Node, dir: PathBuf) -> RaftConfig {
    let mut c = RaftConfig::new(id, node, dir);
    c.heartbeat_interval = Duration::from_millis(100);
    c.election_timeout = (Duration::from_millis(400), Duration::from_millis(800));
    c.block_policy = BlockPolicy { max_wait: Duration::from_millis(5), ..BlockPolicy::default() };
    c.catch_up_timeout = Duration::from_secs(10);
    c.snapshot_timeout = Duration::from_secs(20);
    c
}

pub use govchain_consensus::memory::wait_until;

/// Retries an async call (e.g. an admin call racing a leader change).
pub async fn retry<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>>(
    timeout: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("still failing after {timeout:?}: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// One member: its durable parts (log dir, block store) outlive restarts.
pub struct Member {
    pub store: Arc<MemBlockStore>,
    pub dir: PathBuf,
    pub engine: Option<RaftEngine>,
}

/// An in-process group on the loopback network.
pub struct Cluster {
    pub net: LoopbackNetwork,
    pub root: tempfile::TempDir,
    pub members: BTreeMap<NodeId, Member>,
    pub tune: fn(&mut RaftConfig),
}

impl Cluster {
    pub fn new(tune: fn(&mut RaftConfig)) -> Cluster {
        Cluster {
            net: LoopbackNetwork::new(),
            root: tempfile::tempdir().expect("tempdir"),
            members: BTreeMap::new(),
            tune,
        }
    }

    /// Starts (or restarts) member `id` with its existing store and log.
    pub async fn start(&mut self, id: NodeId) -> RaftEngine {
        let root = self.root.path().to_path_buf();
        let member = self.members.entry(id).or_insert_with(|| Member {
            store: Arc::new(MemBlockStore::new(SUITE, CHAIN)),
            dir: root.join(format!("log-{id}")),
            engine: None,
        });
        let mut c = config(id, node(id), member.dir.clone());
        (self.tune)(&mut c);
        let transport: Arc<dyn PeerTransport> = Arc::new(self.net.clone());
        let engine = RaftEngine::start(c, member.store.clone(), transport).await.expect("start engine");
        self.net.register(&engine);
        member.engine = Some(engine.clone());
        engine
    }

    /// Starts members `ids` and forms the group on the first.
    pub async fn form(&mut self, ids: &[NodeId]) -> NodeId {
        for id in ids {
            self.start(*id).await;
        }
        let members = ids.iter().map(|id| (*id, node(*id))).collect();
        self.engine(ids[0]).initialize(members).await.expect("initialize");
        self.leader().await
    }

    pub fn engine(&self, id: NodeId) -> &RaftEngine {
        self.members[&id].engine.as_ref().expect("running")
    }

    pub fn store(&self, id: NodeId) -> &MemBlockStore {
        &self.members[&id].store
    }

    /// Cuts member `id` off and shuts its Raft down, as a crash would.
    pub async fn crash(&mut self, id: NodeId) {
        self.net.unregister(id);
        let engine = self.members.get_mut(&id).and_then(|m| m.engine.take()).expect("running");
        engine.shutdown().await.expect("shutdown");
    }

    /// The leader all running members agree on.
    pub async fn leader(&self) -> NodeId {
        let mut agreed = None;
        let ok = wait_until(Duration::from_secs(15), || {
            let views: Vec<Option<NodeId>> = self
                .members
                .values()
                .filter_map(|m| m.engine.as_ref())
                .filter(|e| e.members().nodes.contains_key(&e.id()))
                .map(|e| e.leader().map(|(id, _)| id))
                .collect();
            agreed = views.first().copied().flatten();
            agreed.is_some()
                && views.iter().all(|v| *v == agreed)
                && self.members.get(&agreed.unwrap_or(0)).is_some_and(|m| m.engine.is_some())
        })
        .await;
        assert!(ok, "no agreed leader");
        agreed.expect("leader")
    }

    /// Waits until the running members `ids` hold `txs` transactions.
    pub async fn wait_txs(&self, ids: &[NodeId], txs: usize) {
        let ok = wait_until(Duration::from_secs(20), || {
            ids.iter().all(|id| self.store(*id).transactions().len() >= txs)
        })
        .await;
        let have: Vec<usize> = ids.iter().map(|id| self.store(*id).transactions().len()).collect();
        assert!(ok, "members {ids:?} hold {have:?} transactions, want {txs}");
    }

    /// Asserts members `ids` hold the same chain.
    pub fn assert_same_chain(&self, ids: &[NodeId]) {
        let first = self.store(ids[0]).block_ids();
        for id in &ids[1..] {
            assert_eq!(self.store(*id).block_ids(), first, "member {id} differs from member {}", ids[0]);
        }
    }

    pub async fn shutdown_all(&mut self) {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for id in ids {
            if self.members[&id].engine.is_some() {
                self.crash(id).await;
            }
        }
    }
}
