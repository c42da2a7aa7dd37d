//! Ordering throughput and idle latency of a 3-member Raft group in one
//! process (loopback transport, fjall logs fsynced on this disk, in-memory
//! block stores), against a baseline measured in the same run: the solo
//! engine feeding the same kind of block store, i.e. cutting and applying
//! with no log, no replication and no fsync.

// A benchmark has nothing to recover to: any failure should abort it loudly.
#![allow(clippy::expect_used, missing_docs)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govchain_consensus::{BlockPolicy, Consensus, solo::Solo};
use govchain_crypto::{Address, Suite};
use govchain_raft::{
    Node, RaftConfig, RaftEngine,
    test_utils::{LoopbackNetwork, MemBlockStore},
};
use govchain_types::{Sig, Transaction, TxBody, TxType};
use tokio::runtime::Runtime;

const SUITE: Suite = Suite::IntlR1;
const CHAIN: &str = "bench";
/// Transactions per measured round, offered in chunks as many clients would.
const TXS: u64 = 5000;
const CHUNK: u64 = 50;

/// A transaction of realistic size (the stores do not check signatures).
fn tx(n: u64) -> Transaction {
    Transaction {
        body: TxBody {
            chain_id: CHAIN.into(),
            tx_type: TxType::Invoke,
            timestamp_ms: 0,
            nonce: n,
            sender: Address([1; 20]),
            recipient: "data".into(),
            data: vec![0x5a; 120],
            memo: String::new(),
            signers: vec![],
        },
        signatures: vec![Sig(vec![0x30; 72])],
    }
}

struct Group {
    engines: Vec<RaftEngine>,
    stores: Vec<Arc<MemBlockStore>>,
    leader: usize,
    _dir: tempfile::TempDir,
}

async fn group() -> Group {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = LoopbackNetwork::new();
    let mut engines = Vec::new();
    let mut stores = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let node = Node::new(format!("loop-{id}"), format!("node{id}"));
        members.insert(id, node.clone());
        let mut c = RaftConfig::new(id, node, dir.path().join(format!("log-{id}")));
        c.heartbeat_interval = Duration::from_millis(100);
        c.election_timeout = (Duration::from_millis(400), Duration::from_millis(800));
        let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
        let engine = RaftEngine::start(c, store.clone(), Arc::new(net.clone())).await.expect("start");
        net.register(&engine);
        engines.push(engine);
        stores.push(store);
    }
    engines[0].initialize(members).await.expect("initialize");
    let leader = engines[0].wait_for_leader(Duration::from_secs(10)).await.expect("leader");
    Group { engines, stores, leader: (leader - 1) as usize, _dir: dir }
}

async fn wait_for(stores: &[Arc<MemBlockStore>], txs: usize) {
    while stores.iter().any(|s| s.tx_count() < txs) {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Offers `from..from+TXS` and waits until every member holds them.
async fn round(g: &Group, from: u64) -> Duration {
    let started = Instant::now();
    let mut n = from;
    while n < from + TXS {
        let chunk: Vec<Transaction> = (n..n + CHUNK).map(tx).collect();
        g.engines[g.leader].submit(chunk).expect("submit");
        n += CHUNK;
        tokio::task::yield_now().await;
    }
    wait_for(&g.stores, (from + TXS) as usize).await;
    started.elapsed()
}

fn solo_round(solo: &Solo, store: &MemBlockStore, from: u64) -> Duration {
    let started = Instant::now();
    let mut n = from;
    while n < from + TXS {
        solo.submit((n..n + CHUNK).map(tx).collect()).expect("submit");
        n += CHUNK;
    }
    while store.tx_count() < (from + TXS) as usize {
        std::thread::sleep(Duration::from_micros(500));
    }
    started.elapsed()
}

fn ordering(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let g = rt.block_on(group());

    // Idle latency: one transaction at a time, until the leader has its block.
    let mut latencies = Vec::new();
    rt.block_on(async {
        for i in 0..30u64 {
            let started = Instant::now();
            g.engines[g.leader].submit(vec![tx(1_000_000 + i)]).expect("submit");
            wait_for(&g.stores[g.leader..=g.leader], (i + 1) as usize).await;
            latencies.push(started.elapsed());
        }
    });
    latencies.sort();
    let base = g.stores[0].tx_count() as u64;
    let blocks_before = g.stores[0].height();
    let raft = rt.block_on(round(&g, base));
    let blocks = g.stores[0].height() - blocks_before;

    let solo_store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
    let _runtime = rt.enter();
    let (solo, _cutter) =
        Solo::start("solo", BlockPolicy::default(), 100_000, solo_store.clone()).expect("solo");
    let solo_time = solo_round(&solo, &solo_store, 0);
    println!(
        "raft (3 members, loopback, fsynced logs): {TXS} txs in {:.0} ms = {:.0} tx/s in {blocks} blocks \
         ({:.0} txs/block); idle commit latency p50 {:.1} ms, max {:.1} ms; \
         solo baseline {:.0} tx/s; ratio raft/solo time {:.1}x",
        raft.as_secs_f64() * 1e3,
        TXS as f64 / raft.as_secs_f64(),
        TXS as f64 / blocks.max(1) as f64,
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        TXS as f64 / solo_time.as_secs_f64(),
        raft.as_secs_f64() / solo_time.as_secs_f64(),
    );

    let mut next = base + TXS;
    let mut bench = c.benchmark_group("raft");
    bench.throughput(Throughput::Elements(TXS)).sample_size(10);
    bench.bench_function("order_5000_txs_3_members", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(round(&g, next));
                next += TXS;
            }
            total
        })
    });
    bench.finish();
    rt.block_on(async {
        for e in &g.engines {
            e.shutdown().await.expect("shutdown");
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    targets = ordering
}
criterion_main!(benches);
