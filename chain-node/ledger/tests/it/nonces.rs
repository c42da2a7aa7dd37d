//! The `(sender, nonce)` index: written with each block, the first use of a
//! pair in its window kept, expired pairs pruned, and all of it durable.

use govchain_crypto::PrivateKey;
use govchain_ledger::{
    Ledger,
    test_utils::{ChainBuilder, GENESIS_TIME_MS},
};
use govchain_types::{MAX_TX_AGE_MS, MAX_TX_FUTURE_MS, Transaction, TxBody, TxType};

use crate::{CHAIN, SUITE, fresh, key};

fn tx_at(k: &PrivateKey, nonce: u64, timestamp_ms: u64, data: &[u8]) -> Transaction {
    TxBody {
        chain_id: CHAIN.into(),
        tx_type: TxType::Invoke,
        timestamp_ms,
        nonce,
        sender: k.address(),
        recipient: "kv".into(),
        data: data.to_vec(),
        memo: String::new(),
        signers: Vec::new(),
    }
    .sign(&[k])
    .unwrap()
}

#[test]
fn the_first_use_of_a_pair_is_kept_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let first = tx_at(&k, 5, GENESIS_TIME_MS, b"first");
    let second = tx_at(&k, 5, GENESIS_TIME_MS + 500, b"second");
    let other = tx_at(&k, 6, GENESIS_TIME_MS, b"other");
    {
        let (ledger, mut b) = fresh(dir.path());
        assert_eq!(ledger.nonce_use(&k.address(), 5).unwrap(), None);
        b.block(vec![first.clone(), other.clone()], vec![]).commit(&ledger).unwrap();
        // A second user of the pair (a node refuses it, but it is on chain)
        // does not take the pair over while the first is live.
        b.block(vec![second.clone()], vec![]).commit(&ledger).unwrap();
        let used = ledger.nonce_use(&k.address(), 5).unwrap().unwrap();
        assert_eq!((used.tx_id, used.timestamp_ms), (first.id(SUITE), GENESIS_TIME_MS));
        assert!(used.live_at(GENESIS_TIME_MS + MAX_TX_AGE_MS));
        assert!(!used.live_at(GENESIS_TIME_MS + MAX_TX_AGE_MS + 1));
    }
    let ledger = Ledger::open(dir.path(), SUITE, CHAIN).unwrap();
    assert_eq!(ledger.nonce_use(&k.address(), 5).unwrap().unwrap().tx_id, first.id(SUITE));
    assert_eq!(ledger.nonce_use(&k.address(), 6).unwrap().unwrap().tx_id, other.id(SUITE));
    assert_eq!(ledger.nonce_use(&k.address(), 7).unwrap(), None);
    assert_eq!(ledger.nonce_use(&PrivateKey::generate(SUITE).address(), 5).unwrap(), None);
}

#[test]
fn expired_pairs_are_pruned_and_can_be_used_again() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    let k = key();
    let old = tx_at(&k, 1, GENESIS_TIME_MS, b"old");
    let kept = tx_at(&k, 2, GENESIS_TIME_MS + 10_000, b"kept");
    b.block(vec![old.clone(), kept.clone()], vec![]).commit(&ledger).unwrap();
    // One block time later than the old pair's window, but within the kept one's.
    let later = GENESIS_TIME_MS + MAX_TX_AGE_MS + 5_000;
    let reuse = tx_at(&k, 1, later, b"again");
    let reuse_kept = tx_at(&k, 2, later, b"again");
    b.block_at(later, vec![reuse.clone(), reuse_kept], vec![]).commit(&ledger).unwrap();
    assert_eq!(ledger.nonce_use(&k.address(), 1).unwrap().unwrap().tx_id, reuse.id(SUITE));
    assert_eq!(ledger.nonce_use(&k.address(), 2).unwrap().unwrap().tx_id, kept.id(SUITE));
    // A block far later prunes both, and a transaction out of its block's
    // window is not indexed at all.
    let much_later = later + MAX_TX_AGE_MS + 1;
    let stale = tx_at(&k, 3, much_later - MAX_TX_AGE_MS - 1, b"stale");
    let future = tx_at(&k, 4, much_later + MAX_TX_FUTURE_MS + 1, b"future");
    b.block_at(much_later, vec![stale, future], vec![]).commit(&ledger).unwrap();
    for nonce in 1..=4 {
        assert_eq!(ledger.nonce_use(&k.address(), nonce).unwrap(), None, "nonce {nonce}");
    }
}

#[test]
fn a_pair_used_twice_in_one_block_keeps_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    let k = key();
    let a = tx_at(&k, 9, GENESIS_TIME_MS + 1, b"a");
    let c = tx_at(&k, 9, GENESIS_TIME_MS + 2, b"c");
    b.block(vec![a.clone(), c], vec![]).commit(&ledger).unwrap();
    assert_eq!(ledger.nonce_use(&k.address(), 9).unwrap().unwrap().tx_id, a.id(SUITE));
    let _ = ChainBuilder::following(&ledger);
}
