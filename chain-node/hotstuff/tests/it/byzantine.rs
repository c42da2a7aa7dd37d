//! Members that misbehave on purpose (the `byzantine` feature): the honest
//! ones stay safe (one chain) and live (every transaction submitted to
//! them commits on all of them).

use std::time::Duration;

use govchain_hotstuff::{Fault, verify_commit};

use crate::common::{Cluster, SUITE};

const WAIT: Duration = Duration::from_secs(60);

async fn honest_stay_safe_and_live(n: u64, faulty: &[u64], fault: Fault) {
    let mut c = Cluster::new(n, 0);
    for id in faulty {
        c.set_fault(*id, fault);
    }
    let all: Vec<u64> = (1..=n).collect();
    c.start_all(&all).await;
    let honest: Vec<u64> = all.iter().copied().filter(|id| !faulty.contains(id)).collect();
    c.submit(&honest, 0..40).await;
    c.wait_txs(&honest, 40, WAIT).await;
    let ok = crate::common::wait_until(WAIT, || {
        let first = c.store(honest[0]).block_ids();
        honest.iter().all(|id| c.store(*id).block_ids() == first)
    })
    .await;
    assert!(ok, "honest members did not converge\n{}", c.describe());
    c.assert_same_chain(&honest);
    for id in &honest {
        c.assert_all_txs(*id, 0..40);
    }
    for id in faulty {
        assert!(c.engine(*id).stats().misbehaved > 0, "member {id} never misbehaved");
    }
    for b in c.store(honest[0]).blocks().iter().skip(1) {
        verify_commit(b, SUITE, &c.validators).expect("honest blocks carry valid certificates");
    }
    c.shutdown_all().await;
}

fn fault(list: &str) -> Fault {
    Fault::parse(list).expect("fault list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_member_of_four() {
    honest_stay_safe_and_live(4, &[2], fault("equivocate")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_four_withholding_votes() {
    honest_stay_safe_and_live(4, &[3], fault("withhold-votes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_four_forging_signatures_and_certificates() {
    honest_stay_safe_and_live(4, &[1], fault("bad-signatures,bad-certificates")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_four_replaying_old_messages() {
    honest_stay_safe_and_live(4, &[4], fault("replay,equivocate")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_seven_with_every_fault() {
    honest_stay_safe_and_live(7, &[2, 5], fault("all")).await;
}

#[test]
fn fault_lists_parse_and_unknown_names_are_refused() {
    let f = fault("equivocate, withhold-votes,replay");
    assert!(f.equivocate && f.withhold_votes && f.replay && !f.bad_signatures);
    assert!(Fault::parse("melt-down").is_err());
    assert_eq!(Fault::parse("").expect("empty"), Fault::default());
}
