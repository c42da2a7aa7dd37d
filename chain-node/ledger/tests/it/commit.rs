use std::{
    fs,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use govchain_ledger::{
    Error, Ledger, MAX_KEY_LEN, Rejection,
    test_utils::{ChainBuilder, NewBlock, put},
};
use govchain_types::{Hash, HexValue};

use crate::{SUITE, block_with, fresh};

/// Everything a rejected commit must leave alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tip: Option<govchain_ledger::Tip>,
    files: Vec<(String, u64)>,
    value: Option<Vec<u8>>,
    history: usize,
}

fn snapshot(ledger: &Ledger, dir: &Path) -> Snapshot {
    let mut files: Vec<_> = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    Snapshot {
        tip: ledger.tip(),
        files,
        value: ledger.get("kv", b"a").unwrap(),
        history: ledger.history("kv", b"a", 100).unwrap().len(),
    }
}

fn rejection(result: govchain_ledger::Result<()>) -> Rejection {
    match result {
        Err(Error::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn bad_blocks_are_rejected_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());

    // Genesis must be height 0 with a zero parent.
    let mut skip = b.clone();
    skip.block(Vec::new(), Vec::new());
    let h1 = block_with(&mut skip, 0, vec![vec![put("kv", b"a", b"x")]]);
    assert_eq!(rejection(h1.commit(&ledger)), Rejection::WrongHeight { expected: 0, found: 1 });
    assert_eq!(ledger.height(), None);

    let genesis = block_with(&mut b, 0, vec![vec![put("kv", b"a", b"0")]]);
    genesis.commit(&ledger).unwrap();
    let before = snapshot(&ledger, dir.path());
    let tip = ledger.tip().unwrap();

    let valid =
        block_with(&mut b.clone(), 10, vec![vec![put("kv", b"a", b"1")], vec![put("kv", b"b", b"1")]]);
    let tamper = |f: &dyn Fn(&mut NewBlock)| {
        let mut nb = valid.clone();
        f(&mut nb);
        rejection(nb.commit(&ledger))
    };

    assert_eq!(tamper(&|nb| nb.block.header.height = 5), Rejection::WrongHeight { expected: 1, found: 5 });
    assert_eq!(
        tamper(&|nb| nb.block.header.prev_hash = Hash([9; 32])),
        Rejection::WrongPrevHash { expected: tip.block_id, found: Hash([9; 32]) }
    );
    assert!(matches!(tamper(&|nb| nb.block.header.chain_id = "other".into()), Rejection::WrongChain { .. }));
    assert_eq!(
        tamper(&|nb| nb.block.header.timestamp_ms = tip.timestamp_ms - 1),
        Rejection::TimeBeforeParent { parent: tip.timestamp_ms, found: tip.timestamp_ms - 1 }
    );
    assert_eq!(tamper(&|nb| nb.block.header.tx_count = 3), Rejection::TxCount { header: 3, carried: 2 });
    assert_eq!(tamper(&|nb| nb.block.header.tx_root = Hash([1; 32])), Rejection::TxRoot);
    // A transaction altered after the root was computed.
    assert_eq!(tamper(&|nb| nb.block.transactions[1].body.memo = "changed".into()), Rejection::TxRoot);
    assert_eq!(tamper(&|nb| nb.block.header.receipts_root = Hash([1; 32])), Rejection::ReceiptsRoot);
    assert_eq!(tamper(&|nb| nb.receipts[1].output = b"other".to_vec()), Rejection::ReceiptsRoot);
    assert_eq!(tamper(&|nb| nb.receipts.swap(0, 1)), Rejection::ReceiptMismatch { index: 0 });
    assert_eq!(tamper(&|nb| nb.receipts[1].height = 7), Rejection::ReceiptMismatch { index: 1 });
    assert_eq!(
        tamper(&|nb| {
            nb.receipts.pop();
        }),
        Rejection::CountMismatch { txs: 2, receipts: 1, writes: 2 }
    );
    assert!(matches!(
        tamper(&|nb| nb.writes[0][0].value = Some(HexValue(b"2".to_vec()))),
        Rejection::StateRoot { .. }
    ));
    assert!(matches!(tamper(&|nb| nb.block.header.state_root = Hash([1; 32])), Rejection::StateRoot { .. }));

    // Well-formed blocks that still must not go in.
    let old_tx = genesis.block.transactions[0].clone();
    let replay = b.clone().block(vec![old_tx.clone()], vec![vec![]]);
    assert_eq!(rejection(replay.commit(&ledger)), Rejection::DuplicateTx(old_tx.id(SUITE)));
    let fresh_tx = valid.block.transactions[0].clone();
    let twice = b.clone().block(vec![fresh_tx.clone(), fresh_tx.clone()], vec![vec![], vec![]]);
    assert_eq!(rejection(twice.commit(&ledger)), Rejection::DuplicateTx(fresh_tx.id(SUITE)));
    let huge_key = block_with(
        &mut b.clone(),
        10,
        vec![vec![put("kv", b"a", b"1"), put("kv", &vec![0; MAX_KEY_LEN + 1], b"")]],
    );
    assert_eq!(rejection(huge_key.commit(&ledger)), Rejection::WriteTooLarge { tx: 0, index: 1 });
    let long_contract = block_with(&mut b.clone(), 10, vec![vec![put(&"c".repeat(256), b"a", b"1")]]);
    assert_eq!(rejection(long_contract.commit(&ledger)), Rejection::WriteTooLarge { tx: 0, index: 0 });

    assert_eq!(snapshot(&ledger, dir.path()), before);
    assert_eq!(ledger.verify_chain().unwrap(), Some(0));

    // The untouched block still commits after all those refusals.
    valid.commit(&ledger).unwrap();
    assert_eq!(ledger.height(), Some(1));
    assert_eq!(ledger.get("kv", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(rejection(valid.commit(&ledger)), Rejection::WrongHeight { expected: 2, found: 1 });
    assert_eq!(ledger.verify_chain().unwrap(), Some(1));
}

/// Readers running beside the writer never see a tip whose block, receipts
/// or state are not there yet.
#[test]
fn readers_see_whole_blocks_while_a_writer_commits() {
    const BLOCKS: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    let ledger = Arc::new(ledger);
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let ledger = ledger.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut last_seen = None;
                let mut checks = 0u64;
                while !done.load(Ordering::Acquire) {
                    let Some(tip) = ledger.tip() else { continue };
                    assert!(last_seen <= Some(tip.height), "height went backwards");
                    last_seen = Some(tip.height);
                    let block = ledger.block_by_height(tip.height).unwrap().expect("tip block readable");
                    assert_eq!(block.header.id(SUITE), tip.block_id);
                    for tx in &block.transactions {
                        let (_, receipt) =
                            ledger.transaction(&tx.id(SUITE)).unwrap().expect("tip tx readable");
                        assert_eq!(receipt.height, tip.height);
                    }
                    let counter = ledger.get("kv", b"counter").unwrap().expect("counter written");
                    let counter = u64::from_be_bytes(counter.try_into().unwrap());
                    assert!(counter >= tip.height, "state {counter} behind tip {}", tip.height);
                    checks += 1;
                }
                checks
            })
        })
        .collect();

    for h in 0..BLOCKS {
        let writes =
            (0..5).map(|i| vec![put("kv", b"counter", &h.to_be_bytes()), put("kv", &[i], b"x")]).collect();
        block_with(&mut b, h * 10, writes).commit(&ledger).unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(ledger.verify_chain().unwrap(), Some(BLOCKS - 1));
    assert_eq!(ChainBuilder::following(&ledger).next_height(), BLOCKS);
}
