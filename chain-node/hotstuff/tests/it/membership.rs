//! Group changes through epochs: a member added as a learner, promoted,
//! another removed, while clients keep submitting; every block verifies
//! against the members of its own epoch.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_consensus::{BlockPolicy, Consensus, Error as ConsensusError, Membership, Role};
use govchain_crypto::PrivateKey;
use govchain_hotstuff::{HotStuffEngine, Validator, certificate::reconfig_of, verify_commit};

use crate::common::{Cluster, SUITE, tx, wait_until};

const WAIT: Duration = Duration::from_secs(60);

/// Submits transactions 0.. round-robin over `engines` until `stop`, one
/// every 2 ms, retrying refusals; returns how many were taken.
fn load(
    engines: Vec<HotStuffEngine>,
    stop: Arc<AtomicBool>,
    taken: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0u64;
        // Bounded: at most 5,000 transactions or 120 s.
        let end = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Acquire) && n < 5_000 && Instant::now() < end {
            let engine = &engines[usize::try_from(n).unwrap_or(0) % engines.len()];
            if engine.submit(vec![tx(n)]).is_ok() {
                n += 1;
                taken.store(n, Ordering::Release);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

/// Waits for the same change asked of every engine in `voters` (`calls`,
/// in that order); each answers once it is in force there.
async fn approve_all(
    voters: &[HotStuffEngine],
    calls: Vec<govchain_consensus::BoxFuture<'_, govchain_consensus::Result<()>>>,
) {
    for (res, e) in futures_util::future::join_all(calls).await.into_iter().zip(voters) {
        res.unwrap_or_else(|err| panic!("member {}: {err}\n{}", e.id(), e.describe()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_grows_to_five_and_shrinks_to_four_under_load() {
    let mut c = Cluster::new(4, 0);
    // Member 5 knows the genesis group only: it is no member yet.
    let key5 = PrivateKey::generate(SUITE);
    c.keys.insert(5, key5.clone());
    c.start_all(&[1, 2, 3, 4, 5]).await;
    assert_eq!(c.engine(5).role(), Role::Learner);

    let stop = Arc::new(AtomicBool::new(false));
    let taken = Arc::new(AtomicU64::new(0));
    let loader = load(
        vec![c.engine(1).clone(), c.engine(3).clone(), c.engine(4).clone()],
        stop.clone(),
        taken.clone(),
    );
    let ok = wait_until(WAIT, || taken.load(Ordering::Acquire) >= 200).await;
    assert!(ok, "no load\n{}", c.describe());

    // 4 -> 4 + a learner: every voter approves.
    let genesis: Vec<HotStuffEngine> = (1..=4).map(|id| c.engine(id).clone()).collect();
    let key = key5.public_key().to_sec1();
    let calls =
        genesis.iter().map(|e| e.add_learner(5, "node5".into(), "loop-5".into(), key.clone())).collect();
    approve_all(&genesis, calls).await;
    let ok = wait_until(WAIT, || c.engine(5).epoch() == 1).await;
    assert!(ok, "member 5 did not follow into epoch 1\n{}", c.describe());
    assert_eq!(c.engine(5).role(), Role::Learner);

    // The learner becomes the fifth voter.
    approve_all(&genesis, genesis.iter().map(|e| e.promote(5)).collect()).await;
    let ok = wait_until(WAIT, || c.engine(5).epoch() == 2 && c.engine(5).role() != Role::Learner).await;
    assert!(ok, "member 5 is no voter in epoch 2\n{}", c.describe());
    let ok = wait_until(WAIT, || taken.load(Ordering::Acquire) >= 600).await;
    assert!(ok, "the load stalled with five voters\n{}", c.describe());

    // 5 -> 4: member 2 leaves; four of the five voters approve (a quorum).
    let rest: Vec<HotStuffEngine> = [1, 3, 4, 5].iter().map(|id| c.engine(*id).clone()).collect();
    approve_all(&rest, rest.iter().map(|e| e.remove(2)).collect()).await;
    let before = taken.load(Ordering::Acquire);
    let ok = wait_until(WAIT, || taken.load(Ordering::Acquire) >= before + 300).await;
    assert!(ok, "the load stalled after the removal\n{}", c.describe());

    // The block policy changes online the same way: smaller blocks from
    // the next epoch on.
    let small = BlockPolicy { max_txs: 7, ..c.engine(1).block_policy() };
    approve_all(&rest, rest.iter().map(|e| e.set_block_policy(small.clone())).collect()).await;
    let before = taken.load(Ordering::Acquire);
    let ok = wait_until(WAIT, || taken.load(Ordering::Acquire) >= before + 200).await;
    assert!(ok, "the load stalled after the policy change\n{}", c.describe());
    stop.store(true, Ordering::Release);
    loader.await.expect("load task");
    let total = taken.load(Ordering::Acquire);

    let members = [1, 3, 4, 5];
    c.wait_txs(&members, usize::try_from(total).unwrap_or(usize::MAX), WAIT).await;
    c.assert_same_chain(&members);
    for id in members {
        c.assert_all_txs(id, 0..total);
        assert_eq!(c.engine(id).epoch(), 4, "member {id}");
        assert_eq!(c.engine(id).block_policy(), small, "member {id}");
        let ids: Vec<(u64, bool)> = c.engine(id).validators().iter().map(|v| (v.id, v.voter)).collect();
        assert_eq!(ids, [(1, true), (3, true), (4, true), (5, true)], "member {id}");
    }
    assert!(c.store(5).imported() > 0, "member 5 caught up from certified blocks");

    // Member 2 is out: it takes no transactions and its chain stops at the
    // block that removed it (a prefix of the others').
    assert!(matches!(c.engine(2).submit(vec![tx(1_000_000)]), Err(ConsensusError::NotLeader { .. })));
    let two = c.store(2).block_ids();
    assert_eq!(two[..], c.store(1).block_ids()[..two.len()]);

    // Every block verifies against its own epoch's members, and the four
    // epoch-ending blocks name the next members; blocks after the policy
    // change keep to it.
    let mut validators: Vec<Validator> = c.validators.clone();
    let mut ends = 0;
    let mut after_policy = 0;
    for b in c.store(1).blocks().iter().skip(1) {
        verify_commit(b, SUITE, &validators).unwrap_or_else(|e| panic!("block {}: {e}", b.header.height));
        if ends == 4 {
            assert!(
                b.transactions.len() <= 7,
                "block {} holds {} transactions",
                b.header.height,
                b.transactions.len()
            );
            after_policy += 1;
        }
        if let Some(next) = reconfig_of(b).expect("link") {
            validators = next.validators;
            ends += 1;
        }
    }
    assert_eq!(ends, 4);
    assert!(after_policy > 20, "{after_policy} blocks after the policy change");
    // A block checked against the wrong epoch's members is refused: one of
    // the last epoch that member 5 signed, against the genesis members.
    let blocks = c.store(1).blocks();
    let signed_by_5 = blocks
        .iter()
        .rev()
        .take(after_policy)
        .find(|b| b.signatures.iter().any(|s| s.node == "node5"))
        .expect("member 5 signed blocks of the last epoch");
    let refused =
        verify_commit(signed_by_5, SUITE, &c.validators).expect_err("checked against the genesis members");
    assert!(refused.to_string().contains("node5"), "{refused}");

    // A change must be one step, and an unknown member cannot be promoted.
    let mut bad = c.engine(1).validators();
    bad.retain(|v| v.id != 4);
    bad[0].voter = false;
    let refused = c.engine(1).change_members(bad).await;
    assert!(refused.is_err(), "two changes at once were taken");
    assert!(matches!(c.engine(1).promote(42).await, Err(ConsensusError::Membership(_))));
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_approved_by_too_few_voters_does_not_commit_and_a_restart_keeps_the_epoch() {
    let mut c = Cluster::new(4, 0);
    let key5 = PrivateKey::generate(SUITE);
    c.keys.insert(5, key5.clone());
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..20).await;
    c.wait_txs(&[1, 2, 3, 4], 20, WAIT).await;
    // One voter alone cannot add a member (a quorum of three must): the
    // leaders that did not approve it propose without it, and the one that
    // did finds no votes for its block.
    let lone = c.engine(1).clone();
    let key = key5.public_key().to_sec1();
    let asked = tokio::spawn(async move { lone.add_learner(5, "node5".into(), "loop-5".into(), key).await });
    c.submit(&[2, 3, 4], 20..60).await;
    c.wait_txs(&[1, 2, 3, 4], 60, WAIT).await;
    assert_eq!(c.engine(2).epoch(), 0);
    asked.abort();

    // With the others' approval it commits; a restarted member resumes in
    // the new epoch with its members.
    let key = key5.public_key().to_sec1();
    let all: Vec<HotStuffEngine> = (1..=4).map(|id| c.engine(id).clone()).collect();
    let calls = all.iter().map(|e| e.add_learner(5, "node5".into(), "loop-5".into(), key.clone())).collect();
    approve_all(&all, calls).await;
    c.crash(3).await;
    c.start(3).await;
    assert_eq!(c.engine(3).epoch(), 1);
    assert_eq!(c.engine(3).validators().len(), 5);
    c.submit(&[1, 2, 3, 4], 60..80).await;
    c.wait_txs(&[1, 2, 3, 4], 80, WAIT).await;
    c.assert_same_chain(&[1, 2, 3, 4]);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_commits_on_an_idle_chain() {
    let mut c = Cluster::new(4, 0);
    let key5 = PrivateKey::generate(SUITE);
    c.keys.insert(5, key5.clone());
    c.start_all(&[1, 2, 3, 4, 5]).await;
    c.submit(&[1], 0..5).await;
    c.wait_txs(&[1, 2, 3, 4], 5, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all: Vec<HotStuffEngine> = (1..=4).map(|id| c.engine(id).clone()).collect();
    let key = key5.public_key().to_sec1();
    let calls = all.iter().map(|e| e.add_learner(5, "node5".into(), "loop-5".into(), key.clone())).collect();
    approve_all(&all, calls).await;
    let ok =
        wait_until(WAIT, || c.engine(5).epoch() == 1 && c.store(5).height() == c.store(1).height()).await;
    assert!(ok, "member 5 did not follow\n{}", c.describe());
    approve_all(&all, all.iter().map(|e| e.promote(5)).collect()).await;
    c.submit(&[5], 5..10).await;
    c.wait_txs(&[1, 2, 3, 4, 5], 10, WAIT).await;
    c.assert_same_chain(&[1, 2, 3, 4, 5]);
    c.shutdown_all().await;
}
