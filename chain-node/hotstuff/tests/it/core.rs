//! The protocol core driven by hand, for orderings the clusters hit only
//! by chance.

use std::{sync::Arc, time::Duration};

use govchain_consensus::BlockPolicy;
use govchain_crypto::PrivateKey;
use govchain_hotstuff::{
    Fault, Validator,
    core::{Action, Core, CoreConfig, SigCache},
    safety::MemStorage,
    test_utils::MemBlockStore,
    types::{Message, SyncRequest},
};

use crate::common::{CHAIN, SUITE, tx};

fn group(n: u64) -> Vec<Core> {
    let keys: Vec<PrivateKey> = (0..n).map(|_| PrivateKey::generate(SUITE)).collect();
    let validators: Vec<Validator> = (1..=n)
        .map(|id| Validator {
            id,
            name: format!("node{id}"),
            addr: format!("core-{id}"),
            public_key: keys[(id - 1) as usize].public_key().to_sec1(),
            voter: true,
        })
        .collect();
    let sigs = SigCache::default();
    (1..=n)
        .map(|id| {
            let config = CoreConfig {
                id,
                name: format!("node{id}"),
                chain_id: CHAIN.into(),
                key: keys[(id - 1) as usize].clone(),
                validators: validators.clone(),
                block_policy: BlockPolicy {
                    max_txs: 20,
                    max_bytes: 1024 * 1024,
                    max_wait: Duration::from_millis(20),
                },
                queue_capacity: 1_000,
                round_timeout_ms: 1_000,
                max_clock_ahead_ms: 10_000,
                fault: Fault::default(),
                leader_reputation: true,
                first_epoch: 0,
            };
            let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
            Core::new(config, store, Box::new(MemStorage::default()), sigs.clone(), 1_000_000).unwrap()
        })
        .collect()
}

/// A member that timed out asks a peer to sync; the peer may be the
/// leader that just proposed, and its reply, with the new block, may come
/// before the proposal. The proposal must still get this member's vote, or
/// with one member down the round cannot form a QC.
#[test]
fn a_member_that_synced_a_proposals_block_first_still_votes_on_it() {
    let mut cores = group(4);
    let now = 1_000_000;
    let round = cores[0].round();
    let leader = cores[0].leader();
    let next = cores[0].leader_of(round + 1, false);
    let l = (leader - 1) as usize;
    cores[l].submit(vec![tx(1)], now).unwrap();
    let actions = cores[l].on_tick(now + 50).unwrap();
    let proposal = actions
        .iter()
        .find_map(|a| match a {
            Action::Broadcast(m @ Message::Proposal { .. }) => Some(m.clone()),
            _ => None,
        })
        .expect("the leader proposes");
    let m = (1..=4u64).find(|id| *id != leader && *id != next).unwrap();
    let mi = (m - 1) as usize;
    let req = SyncRequest { epoch: cores[mi].epoch(), ledger_from: cores[mi].height() + 1 };
    let reply = cores[l].serve_sync(req).unwrap();
    assert!(!reply.blocks.is_empty(), "the sync reply carries the proposed block");
    cores[mi].on_sync_reply(leader, reply, now + 60).unwrap();
    let actions = cores[mi].on_message(leader, proposal.clone(), now + 70).unwrap();
    let voted = |actions: &[Action]| {
        actions.iter().any(
            |a| matches!(a, Action::Send { to, msg: Message::Vote(v) } if *to == next && v.round == round),
        )
    };
    assert!(voted(&actions), "member {m} votes on a proposal whose block it synced first: {actions:?}");
    // The same proposal again asks for nothing more.
    let again = cores[mi].on_message(leader, proposal, now + 80).unwrap();
    assert!(!voted(&again), "{again:?}");
}
