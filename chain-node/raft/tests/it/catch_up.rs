//! Installing a snapshot: blocks fetched from a peer, checked and
//! re-executed; a catch-up that could not finish resumes after a restart.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use govchain_consensus::{Batch, BlockPolicy};
use govchain_raft::{
    BlockStore, Command, Entry, LogId, RaftEngine, StoredMembership, encode_batch,
    state_machine::{LedgerSnapshot, StateMachine},
    test_utils::{LoopbackNetwork, MemBlockStore},
};
use openraft::{CommittedLeaderId, EntryPayload, Membership, SnapshotMeta, storage::RaftStateMachine};

use crate::common::{CHAIN, SUITE, config, node, tx};

const PEER: u64 = 1;
const ME: u64 = 9;

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, PEER), index)
}

/// A peer whose ledger holds `blocks` blocks, serving them over `net`.
async fn peer(net: &LoopbackNetwork, dir: &std::path::Path, blocks: u64) -> (RaftEngine, Arc<MemBlockStore>) {
    let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
    let engine =
        RaftEngine::start(config(PEER, node(PEER), dir.join("peer")), store.clone(), Arc::new(net.clone()))
            .await
            .expect("peer");
    for h in 0..blocks {
        let batch = Batch {
            transactions: vec![tx(h)],
            timestamp_ms: 5000 + h,
            proposer: "node1".into(),
            certificate: vec![],
        };
        store.apply_batch(batch, Some(b"{}")).expect("block");
    }
    net.register(&engine);
    (engine, store)
}

fn snapshot_of(store: &MemBlockStore) -> (SnapshotMeta<u64, govchain_raft::Node>, Box<LedgerSnapshot>) {
    let membership = Membership::new(vec![[PEER].into()], BTreeMap::from([(PEER, node(PEER))]));
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(40)),
        last_membership: StoredMembership::new(Some(log_id(1)), membership),
        snapshot_id: "test".into(),
    };
    let data = LedgerSnapshot { tip: store.tip().expect("tip"), policy: None, source: PEER };
    (meta, Box::new(data))
}

fn open(store: Arc<MemBlockStore>, net: &LoopbackNetwork) -> StateMachine {
    StateMachine::open(ME, store, Arc::new(net.clone()), BlockPolicy::default(), Duration::from_millis(300))
        .expect("state machine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_install_fetches_checks_and_reexecutes_the_missing_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = LoopbackNetwork::new();
    // More blocks than one reply carries (256), so fetching takes rounds.
    let (engine, peer_store) = peer(&net, dir.path(), 300).await;
    let mine = Arc::new(MemBlockStore::new(SUITE, CHAIN));
    let mut sm = open(mine.clone(), &net);
    let (meta, data) = snapshot_of(&peer_store);
    sm.install_snapshot(&meta, data).await.expect("install");
    assert_eq!(mine.block_ids(), peer_store.block_ids());
    assert_eq!(mine.imported(), 300);
    assert_eq!(sm.applied_state().await.expect("applied").0, Some(log_id(40)));
    let current = sm.get_current_snapshot().await.expect("current").expect("some");
    assert_eq!(current.meta, meta);
    engine.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_catch_up_resumes_before_the_next_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = LoopbackNetwork::new();
    let (engine, peer_store) = peer(&net, dir.path(), 12).await;
    let (meta, data) = snapshot_of(&peer_store);

    // The peer is unreachable during the install: the snapshot is taken but
    // the blocks are still missing.
    let mine = Arc::new(MemBlockStore::new(SUITE, CHAIN));
    let mut sm = open(mine.clone(), &LoopbackNetwork::new());
    sm.install_snapshot(&meta, data).await.expect("install is postponed, not failed");
    assert_eq!(mine.height(), 0);
    drop(sm);

    // After a restart the next batch first brings the ledger to the
    // snapshot's block, then goes on top of it.
    let mut sm = open(mine.clone(), &net);
    assert_eq!(sm.applied_state().await.expect("applied").0, Some(log_id(40)));
    let batch = Batch {
        transactions: vec![tx(777)],
        timestamp_ms: 9000,
        proposer: "node1".into(),
        certificate: vec![],
    };
    let entry =
        Entry { log_id: log_id(41), payload: EntryPayload::Normal(Command::Batch(encode_batch(&batch))) };
    let replies = sm.apply(vec![entry]).await.expect("apply");
    assert_eq!(replies[0].height, Some(13));
    assert_eq!(mine.block_ids()[..13], peer_store.block_ids()[..]);
    assert_eq!(mine.transactions().last().map(|t| t.body.nonce), Some(777));
    engine.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_of_another_chain_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = LoopbackNetwork::new();
    let (engine, peer_store) = peer(&net, dir.path(), 3).await;
    let (meta, data) = snapshot_of(&peer_store);
    // Same heights, different genesis: block 1 does not follow our block 0.
    let other = Arc::new(MemBlockStore::new(SUITE, "another-chain"));
    let mut sm = open(other.clone(), &net);
    sm.install_snapshot(&meta, data).await.expect("postponed");
    assert_eq!(other.height(), 0, "no foreign block imported");
    let batch =
        Batch { transactions: vec![tx(1)], timestamp_ms: 1, proposer: "node1".into(), certificate: vec![] };
    let entry =
        Entry { log_id: log_id(41), payload: EntryPayload::Normal(Command::Batch(encode_batch(&batch))) };
    assert!(sm.apply(vec![entry]).await.is_err(), "applying on top of a foreign snapshot stops raft");
    assert_eq!(other.height(), 0);
    engine.shutdown().await.expect("shutdown");
}
