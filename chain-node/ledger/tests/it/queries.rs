use std::ops::Bound;

use govchain_crypto::Suite;
use govchain_ledger::{
    Ledger,
    test_utils::{NewBlock, delete, put},
};
use govchain_types::{Encode, Hash, HexValue, HistoryEntry};

use crate::{CHAIN, SUITE, block_with, fresh, open_small};

/// Four blocks exercising overwrites, deletes, an empty block and two
/// contracts whose names and keys are prefixes of each other.
fn sample_chain(ledger: &Ledger, b: &mut govchain_ledger::test_utils::ChainBuilder) -> Vec<NewBlock> {
    let blocks = vec![
        block_with(
            b,
            0,
            vec![
                vec![put("kv", b"a", b"1"), put("kv", b"b", b"1"), put("kvx", b"a", b"x")],
                vec![put("kv", b"ab", b"2")],
            ],
        ),
        block_with(
            b,
            10,
            vec![
                vec![put("kv", b"a", b"2"), put("kv", b"a", b"3")],
                vec![delete("kv", b"b"), put("k", b"va", b"y")],
            ],
        ),
        b.block(Vec::new(), Vec::new()),
        block_with(b, 20, vec![vec![put("kv", b"b", b"4"), put("kv", b"c", b"5")]]),
    ];
    for nb in &blocks {
        nb.commit(ledger).unwrap();
    }
    blocks
}

fn v(s: &[u8]) -> Option<Vec<u8>> {
    Some(s.to_vec())
}

fn pairs(items: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

fn entry(blocks: &[NewBlock], height: u64, tx: usize, value: Option<&[u8]>) -> HistoryEntry {
    let block = &blocks[height as usize].block;
    HistoryEntry {
        height,
        tx_id: block.transactions[tx].id(SUITE),
        timestamp_ms: block.header.timestamp_ms,
        value: value.map(|v| HexValue(v.to_vec())),
    }
}

fn check_everything(ledger: &Ledger, blocks: &[NewBlock]) {
    let last = &blocks[3].block.header;
    assert_eq!(ledger.height(), Some(3));
    assert_eq!(ledger.last_block_id(), last.id(SUITE));
    assert_eq!(ledger.state_root(), last.state_root);

    for (h, nb) in blocks.iter().enumerate() {
        let h = h as u64;
        let id = nb.block.header.id(SUITE);
        assert_eq!(ledger.block_by_height(h).unwrap().as_ref(), Some(&nb.block));
        assert_eq!(ledger.block_by_id(&id).unwrap().as_ref(), Some(&nb.block));
        assert_eq!(ledger.block_bytes(h).unwrap(), Some(nb.block.encode()));
        assert_eq!(ledger.block_id_at(h).unwrap(), Some(id));
        assert_eq!(ledger.height_of(&id).unwrap(), Some(h));
        assert_eq!(ledger.state_root_at(h).unwrap(), Some(nb.block.header.state_root));
        assert_eq!(ledger.block_receipts(h).unwrap().as_ref(), Some(&nb.receipts));
        for (i, (tx, receipt)) in nb.block.transactions.iter().zip(&nb.receipts).enumerate() {
            let tx_id = tx.id(SUITE);
            assert_eq!(ledger.transaction(&tx_id).unwrap(), Some((tx.clone(), receipt.clone())));
            assert_eq!(ledger.receipt(&tx_id).unwrap().as_ref(), Some(receipt));
            assert_eq!(ledger.tx_position(&tx_id).unwrap(), Some((h, i as u32)));
            assert!(ledger.contains_tx(&tx_id).unwrap());
        }
    }
    let unknown = Hash([0xee; 32]);
    assert_eq!(ledger.block_by_height(4).unwrap(), None);
    assert_eq!(ledger.block_by_id(&unknown).unwrap(), None);
    assert_eq!(ledger.transaction(&unknown).unwrap(), None);
    assert_eq!(ledger.receipt(&unknown).unwrap(), None);
    assert!(!ledger.contains_tx(&unknown).unwrap());

    assert_eq!(ledger.get("kv", b"a").unwrap(), v(b"3"));
    assert_eq!(ledger.get("kv", b"ab").unwrap(), v(b"2"));
    assert_eq!(ledger.get("kv", b"b").unwrap(), v(b"4"));
    assert_eq!(ledger.get("kvx", b"a").unwrap(), v(b"x"));
    assert_eq!(ledger.get("k", b"va").unwrap(), v(b"y"));
    assert_eq!(ledger.get("kv", b"zz").unwrap(), None);
    assert_eq!(ledger.get("nobody", b"a").unwrap(), None);
    assert_eq!(ledger.get(&"x".repeat(300), b"a").unwrap(), None);

    // History: newest first, both writes of one transaction, deletes kept.
    let a_history = vec![
        entry(blocks, 1, 0, Some(b"3")),
        entry(blocks, 1, 0, Some(b"2")),
        entry(blocks, 0, 0, Some(b"1")),
    ];
    assert_eq!(ledger.history("kv", b"a", 10).unwrap(), a_history);
    assert_eq!(ledger.history("kv", b"a", 2).unwrap(), a_history[..2]);
    assert_eq!(ledger.history("kv", b"a", 0).unwrap(), vec![]);
    let b_history =
        vec![entry(blocks, 3, 0, Some(b"4")), entry(blocks, 1, 1, None), entry(blocks, 0, 0, Some(b"1"))];
    assert_eq!(ledger.history("kv", b"b", 10).unwrap(), b_history);
    // `a` and `ab` keep separate histories.
    assert_eq!(ledger.history("kv", b"ab", 10).unwrap(), vec![entry(blocks, 0, 1, Some(b"2"))]);
    assert_eq!(ledger.history("kv", b"zz", 10).unwrap(), vec![]);
    assert_eq!(ledger.history_at("kv", b"b", 2, 10).unwrap(), b_history[1..]);
    assert_eq!(ledger.history_at("kv", b"b", 0, 10).unwrap(), b_history[2..]);
    assert_eq!(ledger.history_at("kv", b"b", 99, 1).unwrap(), b_history[..1]);
    assert_eq!(ledger.history_at("kv", b"c", 2, 10).unwrap(), vec![]);

    assert_eq!(ledger.last_change_height("kv", b"b").unwrap(), Some(3));
    assert_eq!(ledger.last_change_height("kv", b"ab").unwrap(), Some(0));
    assert_eq!(ledger.last_change_height("kv", b"zz").unwrap(), None);
    assert_eq!(ledger.last_change("kv", b"a").unwrap(), Some(a_history[0].clone()));

    // Scans: whole contract, limits, bounds of every kind, reverse.
    let all = pairs(&[(b"a", b"3"), (b"ab", b"2"), (b"b", b"4"), (b"c", b"5")]);
    assert_eq!(ledger.scan("kv", .., 100).unwrap(), all);
    assert_eq!(ledger.scan("kv", .., 2).unwrap(), all[..2]);
    assert_eq!(ledger.scan("kv", b"ab".to_vec()..b"c".to_vec(), 100).unwrap(), all[1..3]);
    assert_eq!(ledger.scan("kv", b"ab".to_vec()..=b"c".to_vec(), 100).unwrap(), all[1..]);
    assert_eq!(ledger.scan("kv", (Bound::Excluded(b"a".to_vec()), Bound::Unbounded), 100).unwrap(), all[1..]);
    assert_eq!(ledger.scan("kv", ..b"b".to_vec(), 100).unwrap(), all[..2]);
    assert_eq!(ledger.scan("kv", b"c".to_vec()..b"a".to_vec(), 100).unwrap(), vec![]);
    assert_eq!(ledger.scan("kv", b"b".to_vec()..b"b".to_vec(), 100).unwrap(), vec![]);
    assert_eq!(ledger.scan("kv", b"b".to_vec()..=b"b".to_vec(), 100).unwrap(), all[2..3]);
    assert_eq!(ledger.scan("kvx", .., 100).unwrap(), pairs(&[(b"a", b"x")]));
    assert_eq!(ledger.scan("k", .., 100).unwrap(), pairs(&[(b"va", b"y")]));
    assert_eq!(ledger.scan("nobody", .., 100).unwrap(), vec![]);
    assert_eq!(ledger.scan_prefix("kv", b"a", 100).unwrap(), all[..2]);
    assert_eq!(ledger.scan_prefix("kv", b"", 100).unwrap(), all);
    assert_eq!(ledger.scan_prefix("kv", b"q", 100).unwrap(), vec![]);
    let rev: Vec<_> = ledger.iter("kv", ..).rev().collect::<Result<_, _>>().unwrap();
    assert_eq!(rev, all.iter().rev().cloned().collect::<Vec<_>>());
    // Value filters run over the lazy iterator and stop at the limit.
    let with_value: Vec<_> = ledger
        .iter("kv", ..)
        .filter(|r| r.as_ref().map_or(true, |(_, v)| v.as_slice() > b"2".as_slice()))
        .take(1)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(with_value, all[..1]);
}

#[test]
fn every_query_answers_from_the_committed_chain_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    assert_eq!(ledger.height(), None);
    assert_eq!(ledger.last_block_id(), Hash::ZERO);
    assert_eq!(ledger.state_root(), Hash::ZERO);
    assert_eq!(ledger.verify_chain().unwrap(), None);
    assert_eq!(ledger.block_by_height(0).unwrap(), None);

    let blocks = sample_chain(&ledger, &mut b);
    check_everything(&ledger, &blocks);
    assert_eq!(ledger.verify_chain().unwrap(), Some(3));
    drop(ledger);

    let ledger = Ledger::open(dir.path(), SUITE, CHAIN).unwrap();
    check_everything(&ledger, &blocks);
    assert_eq!(ledger.verify_chain().unwrap(), Some(3));
    assert_eq!(ledger.suite(), Suite::Gm);
    assert_eq!(ledger.chain_id(), CHAIN);
}

#[test]
fn chains_spanning_many_block_files_read_back_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_small(dir.path());
    let mut b = govchain_ledger::test_utils::ChainBuilder::new(SUITE, CHAIN);
    let mut blocks = Vec::new();
    for h in 0..30u64 {
        let writes = (0..4)
            .map(|i| vec![put("kv", format!("k{}", (h + i) % 7).as_bytes(), &h.to_be_bytes())])
            .collect();
        let nb = block_with(&mut b, h * 10, writes);
        nb.commit(&ledger).unwrap();
        blocks.push(nb);
    }
    let files = std::fs::read_dir(dir.path().join("blocks")).unwrap().count();
    assert!(files > 3, "only {files} block files");
    assert_eq!(ledger.verify_chain().unwrap(), Some(29));
    drop(ledger);
    let ledger = open_small(dir.path());
    for (h, nb) in blocks.iter().enumerate() {
        assert_eq!(ledger.block_by_height(h as u64).unwrap().as_ref(), Some(&nb.block));
        let tx = &nb.block.transactions[3];
        assert_eq!(ledger.transaction(&tx.id(SUITE)).unwrap().map(|(t, _)| t).as_ref(), Some(tx));
    }
    assert_eq!(ledger.verify_chain().unwrap(), Some(29));
    let writes_of_k0 = (0..30u64).flat_map(|h| (0..4).map(move |i| (h + i) % 7)).filter(|k| *k == 0).count();
    assert_eq!(ledger.history("kv", b"k0", 100).unwrap().len(), writes_of_k0);
}

#[test]
fn consensus_metadata_commits_with_its_block_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    assert_eq!(ledger.consensus_meta().unwrap(), None);
    let first = b.block(Vec::new(), Vec::new());
    ledger.commit_with(&first.block, &first.receipts, &first.writes, Some(b"log-1")).unwrap();
    assert_eq!(ledger.consensus_meta().unwrap().as_deref(), Some(&b"log-1"[..]));
    // A plain commit keeps the last value; a rejected one changes nothing.
    let second = b.block(Vec::new(), Vec::new());
    second.commit(&ledger).unwrap();
    assert_eq!(ledger.consensus_meta().unwrap().as_deref(), Some(&b"log-1"[..]));
    assert!(ledger.commit_with(&second.block, &second.receipts, &second.writes, Some(b"log-x")).is_err());
    assert_eq!(ledger.consensus_meta().unwrap().as_deref(), Some(&b"log-1"[..]));
    let third = b.block(Vec::new(), Vec::new());
    ledger.commit_with(&third.block, &third.receipts, &third.writes, Some(b"log-3")).unwrap();
    assert_eq!(ledger.consensus_meta().unwrap().as_deref(), Some(&b"log-3"[..]));
    ledger.put_consensus_meta(b"log-4").unwrap();
    drop(ledger);
    let ledger = Ledger::open(dir.path(), SUITE, CHAIN).unwrap();
    assert_eq!(ledger.consensus_meta().unwrap().as_deref(), Some(&b"log-4"[..]));
    assert_eq!(ledger.height(), Some(2));
}
