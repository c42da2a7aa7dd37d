//! Real engines in one process over the loopback network.

use std::time::Duration;

use govchain_consensus::{Consensus, Error as ConsensusError, Role};
use govchain_hotstuff::HotStuffEngine;

use crate::common::{Cluster, wait_until};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_commit_everything_everywhere_with_identical_blocks() {
    let mut c = Cluster::new(4, 1);
    c.start_all(&[1, 2, 3, 4, 5]).await;
    c.submit(&[1, 2, 3, 4], 0..60).await;
    c.wait_txs(&[1, 2, 3, 4, 5], 60, WAIT).await;
    c.assert_same_chain(&[1, 2, 3, 4, 5]);
    for id in 1..=5 {
        c.assert_all_txs(id, 0..60);
    }
    // The learner never votes nor proposes, and sends clients to a voter.
    assert_eq!(c.engine(5).role(), Role::Learner);
    assert!(matches!(
        c.engine(5).submit(vec![crate::common::tx(999)]),
        Err(ConsensusError::NotLeader { leader: Some(_) })
    ));
    assert_eq!(c.engine(5).stats().proposed, 0);
    assert_eq!(c.engine(1).status().engine, "hotstuff");
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_member_rejoins_from_its_data_dir_and_catches_up() {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..20).await;
    c.wait_txs(&[1, 2, 3, 4], 20, WAIT).await;
    c.crash(4).await;
    c.submit(&[1, 2, 3], 20..60).await;
    c.wait_txs(&[1, 2, 3], 60, WAIT).await;
    c.start(4).await;
    c.submit(&[1, 2, 3, 4], 60..80).await;
    c.wait_txs(&[1, 2, 3, 4], 80, WAIT).await;
    let ok = wait_until(WAIT, || c.store(4).block_ids() == c.store(1).block_ids()).await;
    assert!(ok, "member 4 did not reach the others' chain");
    c.assert_same_chain(&[1, 2, 3, 4]);
    c.assert_all_txs(4, 0..80);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_group_restarts_and_goes_on() {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..30).await;
    c.wait_txs(&[1, 2, 3, 4], 30, WAIT).await;
    for id in 1..=4 {
        c.crash(id).await;
    }
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 30..60).await;
    c.wait_txs(&[1, 2, 3, 4], 60, WAIT).await;
    let ok = wait_until(WAIT, || (2..=4).all(|id| c.store(id).block_ids() == c.store(1).block_ids())).await;
    assert!(ok, "members differ after the restart\n{}", c.describe());
    for id in 1..=4 {
        c.assert_all_txs(id, 0..60);
    }
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_others_keep_committing_while_a_leader_is_cut_off() {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..10).await;
    c.wait_txs(&[1, 2, 3, 4], 10, WAIT).await;
    // Whoever leads now is cut off from everyone; the others time out of its
    // rounds (TCs) and go on.
    let leader = c.engine(1).leader().map(|l| l.name).expect("a leader");
    let cut: u64 = leader.trim_start_matches("node").parse().expect("id");
    c.net.isolate(cut, &[1, 2, 3, 4]);
    let others: Vec<u64> = (1..=4).filter(|id| *id != cut).collect();
    c.submit(&others, 10..50).await;
    c.wait_txs(&others, 50, WAIT).await;
    // The cut-off member's turn may not have come yet (a busy machine can
    // commit all of that before it does): keep the others busy, a few
    // transactions at a time, until one of its rounds times out (bounded).
    let tc_rounds =
        |c: &Cluster| -> u64 { others.iter().map(|id| c.engine(*id).stats().timeout_rounds).sum() };
    let mut n = 50;
    while tc_rounds(&c) == 0 && n < 150 {
        c.submit(&others, n..n + 5).await;
        n += 5;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.wait_txs(&others, usize::try_from(n).unwrap(), WAIT).await;
    assert!(tc_rounds(&c) > 0, "no round was entered by a TC\n{}", c.describe());
    c.net.heal();
    c.submit(&others, n..n + 10).await;
    c.wait_txs(&[1, 2, 3, 4], usize::try_from(n + 10).unwrap(), WAIT).await;
    let ok = wait_until(WAIT, || c.store(cut).block_ids() == c.store(others[0]).block_ids()).await;
    assert!(ok, "the cut-off member did not catch up");
    c.assert_same_chain(&[1, 2, 3, 4]);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_members_commit_with_two_silent() {
    let mut c = Cluster::new(7, 0);
    c.start_all(&[1, 2, 3, 4, 5]).await;
    c.submit(&[1, 2, 3, 4, 5], 0..40).await;
    c.wait_txs(&[1, 2, 3, 4, 5], 40, Duration::from_secs(60)).await;
    c.assert_same_chain(&[1, 2, 3, 4, 5]);
    for id in 1..=5 {
        c.assert_all_txs(id, 0..40);
    }
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_an_empty_ledger_catches_up_from_certified_blocks() {
    let mut c = Cluster::new(4, 1);
    c.start_all(&[1, 2, 3, 5]).await;
    c.submit(&[1, 2, 3], 0..30).await;
    c.wait_txs(&[1, 2, 3], 30, WAIT).await;
    // Member 4 starts late with nothing but the genesis block.
    c.start(4).await;
    c.submit(&[1, 2, 3, 4], 30..40).await;
    c.wait_txs(&[1, 2, 3, 4, 5], 40, WAIT).await;
    let ok = wait_until(WAIT, || c.store(4).block_ids() == c.store(1).block_ids()).await;
    assert!(ok, "member 4 did not reach the others' chain\n{}", c.describe());
    assert!(c.store(4).imported() > 0, "member 4 imported no certified block");
    c.assert_same_chain(&[1, 2, 3, 4, 5]);
    c.assert_all_txs(4, 0..40);
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_starts_from_an_existing_ledger_tip() {
    use govchain_consensus::{Batch, BlockStore};
    let mut c = Cluster::new(4, 0);
    // Every member's ledger already holds the same three blocks (another
    // engine made them); the epoch's genesis is that tip.
    for id in 1..=4 {
        c.add(id);
        for h in 0..3u64 {
            let batch = Batch {
                transactions: vec![crate::common::tx(10_000 + h)],
                timestamp_ms: 1_000 + h,
                proposer: "old".into(),
                certificate: vec![],
            };
            c.store(id).apply_batch(batch, None).expect("pre-existing block");
        }
    }
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..12).await;
    c.wait_txs(&[1, 2, 3, 4], 15, WAIT).await;
    c.assert_same_chain(&[1, 2, 3, 4]);
    let blocks = c.store(1).blocks();
    assert_eq!(blocks[3].header.proposer, "old");
    assert!(blocks[4..].iter().all(|b| b.header.proposer.starts_with("node")));
    for b in &blocks[4..] {
        govchain_hotstuff::verify_commit(b, crate::common::SUITE, &c.validators).expect("certified");
    }
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_calls_with_bad_bodies_or_paths_are_errors() {
    let mut c = Cluster::new(4, 0);
    let e = c.start(1).await;
    assert!(matches!(
        e.handle_rpc("hotstuff/msg", &[0xff; 40]).await,
        Err(govchain_hotstuff::Error::Decode { .. })
    ));
    assert!(matches!(
        e.handle_rpc("hotstuff/sync", &[1, 2]).await,
        Err(govchain_hotstuff::Error::Decode { .. })
    ));
    assert!(matches!(
        e.handle_rpc("hotstuff/nope", &[]).await,
        Err(govchain_hotstuff::Error::UnknownPath(_))
    ));
    // A well-formed message naming a sender outside the group.
    let mut body = 99u64.to_be_bytes().to_vec();
    body.extend(govchain_types::Encode::encode(&govchain_hotstuff::types::Message::Txs(vec![])));
    assert!(e.handle_rpc("hotstuff/txs", &body).await.is_err());
    assert!(e.is_running(), "bad input does not stop the engine");
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_transactions_fills_bigger_blocks() {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    let started = std::time::Instant::now();
    c.submit(&[1, 2, 3, 4], 0..2000).await;
    c.wait_txs(&[1, 2, 3, 4], 2000, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    c.assert_same_chain(&[1, 2, 3, 4]);
    c.assert_all_txs(1, 0..2000);
    let blocks = c.store(1).height();
    println!(
        "4 members, loopback, debug build: 2000 transactions in {blocks} blocks, {:.2} s ({:.0} tx/s)",
        elapsed.as_secs_f64(),
        2000.0 / elapsed.as_secs_f64()
    );
    // Transactions that arrive while a block is in flight wait for the
    // next one (SPEC CON-3): far fewer blocks than transactions.
    assert!(blocks < 500, "{blocks} blocks for 2000 transactions");
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_whose_safety_state_is_gone_refuses_to_start() {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..10).await;
    c.wait_txs(&[1, 2, 3, 4], 10, WAIT).await;
    c.crash(4).await;
    // The ledger (the member's block store) stays; the safety state goes.
    let dir = c.add(4).dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    let config = c.config(4, dir);
    let store = c.add(4).store.clone();
    let refused = HotStuffEngine::start(config, store, c.net.transport(4)).await;
    let Err(err) = refused else { panic!("a start without the safety state") };
    let err = err.to_string();
    assert!(err.contains("safety state"), "{err}");
    // The others go on without it.
    c.submit(&[1, 2, 3], 10..20).await;
    c.wait_txs(&[1, 2, 3], 20, WAIT).await;
    c.shutdown_all().await;
}
