//! The log store and state machine: openraft's storage suite, durability
//! across reopening, exactly-once application.

use std::{sync::Arc, time::Duration};

use govchain_consensus::{Batch, BlockPolicy};
use govchain_raft::{
    BlockStore, Command, Entry, LogId, TypeConfig, encode_batch,
    log_store::LogStore,
    state_machine::StateMachine,
    test_utils::{LoopbackNetwork, MemBlockStore},
};
use openraft::{
    CommittedLeaderId, EntryPayload, Membership, RaftLogReader, StorageError, Vote,
    storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine},
    testing::{StoreBuilder, Suite},
};

use crate::common::{CHAIN, SUITE, tx};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogStore::open(dir.path()).expect("log store");
        let sm = state_machine(Arc::new(MemBlockStore::new(SUITE, CHAIN)));
        Ok((dir, log, sm))
    }
}

fn state_machine(store: Arc<MemBlockStore>) -> StateMachine {
    StateMachine::open(
        0,
        store,
        Arc::new(LoopbackNetwork::new()),
        BlockPolicy::default(),
        Duration::from_millis(200),
    )
    .expect("state machine")
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("storage suite");
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn batch_entry(term: u64, index: u64, nonce: u64) -> Entry {
    let batch = Batch {
        transactions: vec![tx(nonce)],
        timestamp_ms: 1000 + index,
        proposer: "node0".into(),
        certificate: vec![],
    };
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(Command::Batch(encode_batch(&batch))) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = LogStore::open(dir.path()).expect("open");
        log.save_vote(&Vote::new(3, 1)).await.expect("vote");
        log.blocking_append((1..=10).map(|i| batch_entry(1, i, i))).await.expect("append");
        log.truncate(log_id(1, 8)).await.expect("truncate");
        log.purge(log_id(1, 3)).await.expect("purge");
        log.save_committed(Some(log_id(1, 6))).await.expect("committed");
    }
    // The flusher thread lets go of the database once the store is dropped.
    let mut log = loop {
        match LogStore::open(dir.path()) {
            Ok(log) => break log,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert_eq!(log.read_vote().await.expect("vote"), Some(Vote::new(3, 1)));
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 7)));
    let entries = log.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    assert_eq!(entries[0], batch_entry(1, 4, 4));
    assert_eq!(log.read_committed().await.expect("committed"), Some(log_id(1, 6)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_applied_exactly_once_across_reopening() {
    let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
    let membership = Entry {
        log_id: log_id(1, 1),
        payload: EntryPayload::Membership(Membership::new(vec![[1u64].into()], ())),
    };
    let policy = BlockPolicy { max_txs: 7, ..BlockPolicy::default() };
    let entries = vec![
        membership,
        batch_entry(1, 2, 20),
        Entry { log_id: log_id(1, 3), payload: EntryPayload::Blank },
        batch_entry(1, 4, 40),
        Entry { log_id: log_id(1, 5), payload: EntryPayload::Normal(Command::Policy(policy.clone())) },
        // Garbage that reached the log: skipped alike on every member.
        Entry { log_id: log_id(1, 6), payload: EntryPayload::Normal(Command::Batch(vec![1, 2, 3])) },
    ];
    let mut sm = state_machine(store.clone());
    let replies = sm.apply(entries.clone()).await.expect("apply");
    assert_eq!(
        replies.iter().map(|r| r.height).collect::<Vec<_>>(),
        vec![None, Some(1), None, Some(2), None, None]
    );
    assert_eq!(store.height(), 2);
    let ids = store.block_ids();

    // A restart reads the applied id back from the store and skips what
    // openraft re-applies.
    let mut sm = state_machine(store.clone());
    let (applied, members) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1, 6)));
    assert_eq!(members.log_id(), &Some(log_id(1, 1)));
    sm.apply(entries).await.expect("re-apply");
    assert_eq!(store.block_ids(), ids, "re-applied entries made blocks");
    sm.apply(vec![batch_entry(2, 7, 70)]).await.expect("apply next");
    assert_eq!(store.height(), 3);
    assert_eq!(store.transactions().iter().map(|t| t.body.nonce).collect::<Vec<_>>(), vec![20, 40, 70]);
    let meta = store.consensus_meta().expect("meta").expect("some");
    assert!(String::from_utf8_lossy(&meta).contains("\"max_txs\":7"), "policy is in the stored metadata");
}
