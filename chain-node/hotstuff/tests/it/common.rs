//! Helpers shared by the cluster tests.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use govchain_consensus::{BlockPolicy, Consensus};
use govchain_crypto::{PrivateKey, Suite};
use govchain_hotstuff::{
    Fault, HotStuffConfig, HotStuffEngine, Validator,
    test_utils::{LoopbackNetwork, MemBlockStore},
};
use govchain_types::Transaction;

pub const SUITE: Suite = Suite::Gm;
pub const CHAIN: &str = "hotstuff-test";

pub use govchain_consensus::memory::wait_until;

/// A distinct (unsigned: the block store does not check) transaction.
pub fn tx(n: u64) -> Transaction {
    govchain_consensus::memory::unsigned_tx(CHAIN, n)
}

/// One member: its durable parts (data dir, block store) outlive restarts.
pub struct Member {
    pub store: Arc<MemBlockStore>,
    pub dir: PathBuf,
    pub engine: Option<HotStuffEngine>,
    pub fault: Fault,
}

/// An in-process group on the loopback network.
pub struct Cluster {
    pub net: LoopbackNetwork,
    pub root: tempfile::TempDir,
    pub keys: BTreeMap<u64, PrivateKey>,
    pub validators: Vec<Validator>,
    pub members: BTreeMap<u64, Member>,
}

impl Cluster {
    /// `n` voters (ids 1..=n) and `learners` learners after them; none started.
    pub fn new(n: u64, learners: u64) -> Cluster {
        let keys: BTreeMap<u64, PrivateKey> =
            (1..=n + learners).map(|id| (id, PrivateKey::generate(SUITE))).collect();
        let validators = keys
            .iter()
            .map(|(id, k)| Validator {
                id: *id,
                name: format!("node{id}"),
                addr: format!("loop-{id}"),
                public_key: k.public_key().to_sec1(),
                voter: *id <= n,
            })
            .collect();
        Cluster {
            net: LoopbackNetwork::new(),
            root: tempfile::tempdir().expect("tempdir"),
            keys,
            validators,
            members: BTreeMap::new(),
        }
    }

    pub fn config(&self, id: u64, dir: PathBuf) -> HotStuffConfig {
        let mut c = HotStuffConfig::new(
            id,
            format!("node{id}"),
            format!("loop-{id}"),
            CHAIN,
            self.keys[&id].clone(),
            self.validators.clone(),
            dir,
        );
        c.round_timeout = Duration::from_millis(400);
        c.block_policy = BlockPolicy { max_wait: Duration::from_millis(5), ..BlockPolicy::default() };
        c.rpc_timeout = Duration::from_secs(2);
        c
    }

    /// Starts (or restarts) member `id` with its existing store and data dir.
    pub async fn start(&mut self, id: u64) -> HotStuffEngine {
        let member = self.add(id);
        let (dir, store, fault) = (member.dir.clone(), member.store.clone(), member.fault);
        let mut c = self.config(id, dir);
        c.fault = fault;
        let engine = HotStuffEngine::start(c, store, self.net.transport(id)).await.expect("start engine");
        self.net.register(&engine);
        self.members.get_mut(&id).expect("member").engine = Some(engine.clone());
        engine
    }

    /// Member `id`'s durable parts, made if new (not started).
    pub fn add(&mut self, id: u64) -> &mut Member {
        let root = self.root.path().to_path_buf();
        self.members.entry(id).or_insert_with(|| Member {
            store: Arc::new(MemBlockStore::new(SUITE, CHAIN)),
            dir: root.join(format!("hs-{id}")),
            engine: None,
            fault: Fault::default(),
        })
    }

    /// Sets the faults member `id` runs with from its next start.
    #[allow(dead_code)]
    pub fn set_fault(&mut self, id: u64, fault: Fault) {
        self.add(id).fault = fault;
    }

    pub async fn start_all(&mut self, ids: &[u64]) {
        for id in ids {
            self.start(*id).await;
        }
    }

    pub fn engine(&self, id: u64) -> &HotStuffEngine {
        self.members[&id].engine.as_ref().expect("running")
    }

    pub fn store(&self, id: u64) -> &MemBlockStore {
        &self.members[&id].store
    }

    /// Takes member `id` off the network and stops it, as a crash would.
    pub async fn crash(&mut self, id: u64) {
        self.net.unregister(id);
        let engine = self.members.get_mut(&id).and_then(|m| m.engine.take()).expect("running");
        engine.shutdown().await.expect("shutdown");
    }

    /// Submits transactions `range` round-robin over `via`, retrying on
    /// `Overloaded`.
    pub async fn submit(&self, via: &[u64], range: std::ops::Range<u64>) {
        for (i, n) in range.enumerate() {
            let id = via[i % via.len()];
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match self.engine(id).submit(vec![tx(n)]) {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => panic!("submit to {id}: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
    }

    /// Waits until members `ids` hold `txs` transactions.
    pub async fn wait_txs(&self, ids: &[u64], txs: usize, timeout: Duration) {
        let ok = wait_until(timeout, || ids.iter().all(|id| self.store(*id).tx_count() >= txs)).await;
        let have: Vec<usize> = ids.iter().map(|id| self.store(*id).tx_count()).collect();
        assert!(ok, "members {ids:?} hold {have:?} transactions, want {txs}\n{}", self.describe());
    }

    /// Asserts members `ids` hold the same chain (identical block ids at every height).
    pub fn assert_same_chain(&self, ids: &[u64]) {
        let first = self.store(ids[0]).block_ids();
        for id in &ids[1..] {
            let other = self.store(*id).block_ids();
            let n = first.len().min(other.len());
            assert_eq!(other[..n], first[..n], "member {id} differs from member {}", ids[0]);
            assert_eq!(other.len(), first.len(), "member {id} has another height than member {}", ids[0]);
        }
    }

    /// Asserts every transaction in `range` is on member `id`, once.
    pub fn assert_all_txs(&self, id: u64, range: std::ops::Range<u64>) {
        let txs = self.store(id).transactions();
        let mut nonces: Vec<u64> = txs.iter().map(|t| t.body.nonce).collect();
        nonces.sort_unstable();
        let len = nonces.len();
        nonces.dedup();
        assert_eq!(nonces.len(), len, "member {id} holds a transaction twice");
        for n in range {
            assert!(nonces.binary_search(&n).is_ok(), "member {id} lacks transaction {n}");
        }
    }

    /// Every running member's state, for failure reports.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (id, m) in &self.members {
            let state = m.engine.as_ref().map_or_else(
                || "down".to_owned(),
                |e| format!("{} running {}", e.describe(), e.is_running()),
            );
            out.push_str(&format!("  [{id}] txs {}: {state}\n", m.store.tx_count()));
        }
        out
    }

    pub async fn shutdown_all(&mut self) {
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            if self.members[&id].engine.is_some() {
                self.crash(id).await;
            }
        }
    }
}
