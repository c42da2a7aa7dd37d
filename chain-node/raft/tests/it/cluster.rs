//! In-process clusters over the loopback transport.

use std::{collections::BTreeSet, time::Duration};

use govchain_consensus::{BlockPolicy, Consensus, Error as ConsensusError, Role};
use govchain_raft::{Error, NodeId, RaftConfig};

use crate::common::{Cluster, node, retry, tx, wait_until};

const LONG: Duration = Duration::from_secs(20);

fn no_tuning(_: &mut RaftConfig) {}

/// Submits transactions `from..to` on the leader, retrying while leadership
/// settles.
async fn submit(c: &Cluster, from: u64, to: u64) {
    let leader = c.leader().await;
    let txs: Vec<_> = (from..to).map(tx).collect();
    retry(LONG, || async { c.engine(leader).submit(txs.clone()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_commit_and_hold_identical_chains() {
    let mut c = Cluster::new(no_tuning);
    let leader = c.form(&[1, 2, 3]).await;
    assert_eq!(c.engine(leader).role(), Role::Leader);
    for round in 0..5 {
        submit(&c, round * 20, round * 20 + 20).await;
    }
    c.wait_txs(&[1, 2, 3], 100).await;
    c.assert_same_chain(&[1, 2, 3]);
    let nonces: Vec<u64> = c.store(1).transactions().iter().map(|t| t.body.nonce).collect();
    assert_eq!(nonces, (0..100).collect::<Vec<_>>(), "transactions keep submission order");
    let blocks = c.store(1).blocks();
    assert!(
        blocks.windows(2).all(|w| w[0].header.timestamp_ms <= w[1].header.timestamp_ms),
        "block time is monotonic"
    );
    assert!(blocks[1..].iter().all(|b| b.header.proposer == format!("node{leader}")));

    // A follower refuses and names the leader for the node to forward to.
    let follower: NodeId = [1, 2, 3].into_iter().find(|id| *id != leader).expect("follower");
    match c.engine(follower).submit(vec![tx(999)]) {
        Err(ConsensusError::NotLeader { leader: Some(name) }) => assert_eq!(name, format!("node{leader}")),
        other => panic!("follower submit gave {other:?}"),
    }
    let status = c.engine(follower).status();
    assert_eq!((status.engine.as_str(), status.role), ("raft", Role::Follower));
    assert_eq!(status.leader, Some(format!("node{leader}")));
    assert_eq!(c.engine(follower).leader().and_then(|(_, n)| n), Some(node(leader)));
    assert!(matches!(
        c.engine(follower).set_block_policy(BlockPolicy::default()).await,
        Err(Error::NotLeader { leader_id: Some(id), .. }) if id == leader
    ));
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_and_catches_up_after_restart() {
    let mut c = Cluster::new(no_tuning);
    let old = c.form(&[1, 2, 3]).await;
    submit(&c, 0, 30).await;
    c.wait_txs(&[1, 2, 3], 30).await;

    c.crash(old).await;
    let rest: Vec<NodeId> = [1, 2, 3].into_iter().filter(|id| *id != old).collect();
    let new = c.leader().await;
    assert_ne!(new, old);
    submit(&c, 30, 60).await;
    c.wait_txs(&rest, 60).await;
    c.assert_same_chain(&rest);
    assert_eq!(c.store(old).transactions().len(), 30, "the crashed member saw nothing new");

    c.start(old).await;
    c.wait_txs(&[old], 60).await;
    submit(&c, 60, 70).await;
    c.wait_txs(&[1, 2, 3], 70).await;
    c.assert_same_chain(&[1, 2, 3]);
    assert_eq!(c.store(old).transactions().len(), 70, "no block applied twice after the restart");
    c.shutdown_all().await;
}

/// Snapshots every 5 entries and keeps no log behind them, so a late member
/// cannot be sent the entries and must install a snapshot and fetch blocks.
fn purge_eagerly(c: &mut RaftConfig) {
    c.snapshot_every = 5;
    c.logs_to_keep = 0;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_learner_catches_up_by_snapshot_and_block_fetch() {
    let mut c = Cluster::new(purge_eagerly);
    c.form(&[1, 2, 3]).await;
    for round in 0..12 {
        submit(&c, round * 3, round * 3 + 3).await;
        c.wait_txs(&[1, 2, 3], (round as usize + 1) * 3).await;
    }
    let height = c.store(1).height();
    assert!(height >= 12, "one block per round at least, got {height}");

    c.start(4).await;
    assert_eq!(c.engine(4).role(), Role::Learner);
    assert!(!c.engine(4).is_initialized().await.expect("initialized?"));
    let leader = c.leader().await;
    assert!(c.engine(leader).is_initialized().await.expect("initialized?"));
    retry(LONG, || c.engine(leader).add_learner(4, node(4))).await;
    c.wait_txs(&[4], 36).await;
    c.assert_same_chain(&[1, 2, 3, 4]);
    assert!(c.store(4).imported() > 0, "the learner fetched blocks from a peer");
    assert!(c.engine(4).members().learners.contains(&4));
    assert_eq!(c.engine(4).role(), Role::Learner);
    assert!(matches!(c.engine(4).submit(vec![tx(1000)]), Err(ConsensusError::NotLeader { leader: Some(_) })));

    // It keeps following by the log afterwards.
    submit(&c, 36, 40).await;
    c.wait_txs(&[1, 2, 3, 4], 40).await;
    c.assert_same_chain(&[1, 2, 3, 4]);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_grows_to_four_and_shrinks_to_three() {
    let mut c = Cluster::new(no_tuning);
    c.form(&[1, 2, 3]).await;
    submit(&c, 0, 10).await;
    c.wait_txs(&[1, 2, 3], 10).await;

    // 3 -> 4: a learner, then promoted.
    c.start(4).await;
    let leader = c.leader().await;
    retry(LONG, || c.engine(leader).add_learner(4, node(4))).await;
    c.wait_txs(&[4], 10).await;
    assert_eq!(c.engine(4).role(), Role::Learner);
    retry(LONG, || c.engine(leader).promote(4)).await;
    let four: BTreeSet<NodeId> = [1, 2, 3, 4].into();
    assert!(
        wait_until(LONG, || (1..=4).all(|id| c.engine(id).members().voters == four)).await,
        "4 voters everywhere"
    );
    assert!(wait_until(LONG, || c.engine(4).role() == Role::Follower).await);
    submit(&c, 10, 20).await;
    c.wait_txs(&[1, 2, 3, 4], 20).await;

    // 4 -> 3: replace the voter set, leaving out a follower.
    let leader = c.leader().await;
    let gone: NodeId = (1..=4).find(|id| *id != leader).expect("follower");
    let three: BTreeSet<NodeId> = (1..=4).filter(|id| *id != gone).collect();
    retry(LONG, || c.engine(leader).change_membership(three.clone())).await;
    let rest: Vec<NodeId> = three.iter().copied().collect();
    assert!(wait_until(LONG, || rest.iter().all(|id| c.engine(*id).members().voters == three)).await);
    assert!(!c.engine(leader).members().nodes.contains_key(&gone), "a voter left out leaves the group");
    submit(&c, 20, 30).await;
    c.wait_txs(&rest, 30).await;
    c.assert_same_chain(&rest);
    assert!(c.store(gone).transactions().len() < 30, "the removed member gets no new blocks");

    // A learner is removed with remove_node; the voters are untouched.
    c.start(5).await;
    retry(LONG, || c.engine(leader).add_learner(5, node(5))).await;
    assert!(wait_until(LONG, || c.engine(leader).members().learners.contains(&5)).await);
    retry(LONG, || c.engine(leader).remove_node(5)).await;
    let members = c.engine(leader).members();
    assert!(!members.nodes.contains_key(&5) && members.voters == three);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_policy_change_is_applied_on_every_member() {
    let mut c = Cluster::new(no_tuning);
    let leader = c.form(&[1, 2, 3]).await;
    let policy = BlockPolicy { max_txs: 2, max_bytes: 1 << 20, max_wait: Duration::from_millis(50) };
    retry(LONG, || c.engine(leader).set_block_policy(policy.clone())).await;
    assert!(wait_until(LONG, || (1..=3).all(|id| c.engine(id).block_policy() == policy)).await);
    let before = c.store(1).height();
    submit(&c, 0, 9).await;
    c.wait_txs(&[1, 2, 3], 9).await;
    let blocks = c.store(1).blocks();
    let new: Vec<usize> = blocks[before as usize + 1..].iter().map(|b| b.transactions.len()).collect();
    assert!(new.iter().all(|n| *n <= 2), "blocks follow the new policy: {new:?}");
    assert!(new.len() >= 5);
    assert!(matches!(
        c.engine(leader).set_block_policy(BlockPolicy { max_txs: 0, ..policy }).await,
        Err(Error::Consensus(ConsensusError::InvalidPolicy(_)))
    ));
    // A restarted member reads the policy back from its store.
    let follower: NodeId = (1..=3).find(|id| *id != leader).expect("follower");
    c.crash(follower).await;
    let engine = c.start(follower).await;
    assert_eq!(
        engine.block_policy(),
        BlockPolicy { max_txs: 2, max_bytes: 1 << 20, max_wait: Duration::from_millis(50) }
    );
    c.shutdown_all().await;
}
