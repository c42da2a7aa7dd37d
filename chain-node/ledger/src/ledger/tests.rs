//! Crash-repair cases that need the file layout; the query and rejection
//! tests live in `tests/it`.

use std::{fs, io::Write, path::Path};

use govchain_crypto::PrivateKey;

use super::*;
use crate::test_utils::{ChainBuilder, NewBlock, put, signed_tx};

const CHAIN: &str = "unit";

fn key() -> PrivateKey {
    PrivateKey::from_scalar_bytes(Suite::Gm, &[7; 32]).unwrap()
}

fn block(b: &mut ChainBuilder, k: &PrivateKey, n: u64) -> NewBlock {
    let txs: Vec<_> =
        (0..3).map(|i| signed_tx(k, CHAIN, n * 10 + i, "kv", vec![i as u8; 40]).unwrap()).collect();
    let writes = (0..3).map(|i| vec![put("kv", format!("k{i}").as_bytes(), &n.to_be_bytes())]).collect();
    b.block(txs, writes)
}

/// A ledger at height `n - 1` plus the builder for the next block.
fn ledger_with(dir: &Path, n: u64) -> (Ledger, ChainBuilder) {
    let ledger = Ledger::open(dir, Suite::Gm, CHAIN).unwrap();
    let mut b = ChainBuilder::new(Suite::Gm, CHAIN);
    let k = key();
    for i in 0..n {
        block(&mut b, &k, i).commit(&ledger).unwrap();
    }
    (ledger, b)
}

fn block_file(dir: &Path) -> std::path::PathBuf {
    dir.join("blocks").join(blockfile::file_name(0))
}

#[test]
fn spans_encode_exactly_like_block_encode() {
    let mut b = ChainBuilder::new(Suite::Gm, CHAIN);
    let nb = block(&mut b, &key(), 0);
    let enc = encode_block(&nb.block);
    assert_eq!(enc.bytes, nb.block.encode());
    for (tx, &(s, body_end, e)) in nb.block.transactions.iter().zip(&enc.spans) {
        assert_eq!(&enc.bytes[s..e], tx.encode().as_slice());
        assert_eq!(&enc.bytes[s..body_end], tx.body.encode().as_slice());
    }
}

#[test]
fn torn_tail_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = ledger_with(dir.path(), 3);
    let committed_len = fs::metadata(block_file(dir.path())).unwrap().len();
    drop(ledger);

    // Half a record: a crash in the middle of the append.
    let next = block(&mut b, &key(), 3);
    let record = blockfile::frame(&next.block.encode()).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(block_file(dir.path())).unwrap();
    f.write_all(&record[..record.len() / 2]).unwrap();
    drop(f);

    let ledger = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap();
    assert_eq!(ledger.height(), Some(2));
    assert_eq!(fs::metadata(block_file(dir.path())).unwrap().len(), committed_len);
    next.commit(&ledger).unwrap();
    assert_eq!(ledger.verify_chain().unwrap(), Some(3));
}

#[test]
fn written_but_unindexed_block_is_dropped_and_can_be_committed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = ledger_with(dir.path(), 2);
    let root_before = ledger.state_root();
    drop(ledger);

    // The whole record reached the file but the index batch did not.
    let next = block(&mut b, &key(), 2);
    let record = blockfile::frame(&next.block.encode()).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(block_file(dir.path())).unwrap();
    f.write_all(&record).unwrap();
    drop(f);

    let ledger = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap();
    assert_eq!(ledger.height(), Some(1));
    assert_eq!(ledger.state_root(), root_before);
    let tx_id = next.block.transactions[0].id(Suite::Gm);
    assert!(!ledger.contains_tx(&tx_id).unwrap());
    next.commit(&ledger).unwrap();
    assert!(ledger.contains_tx(&tx_id).unwrap());
    assert_eq!(ledger.verify_chain().unwrap(), Some(2));
}

#[test]
fn index_beyond_the_data_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = ledger_with(dir.path(), 2);
    drop(ledger);
    let path = block_file(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 10).unwrap();
    let err = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn damaged_last_block_refuses_to_open_and_damaged_old_block_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = ledger_with(dir.path(), 3);
    let first = ledger.block_entry(0).unwrap().unwrap().loc;
    drop(ledger);
    let path = block_file(dir.path());
    let mut raw = fs::read(&path).unwrap();

    // An old block: open still works (it only checks the tip), but reading
    // the block and the full verification both notice.
    raw[(first.offset + RECORD_HEADER + 20) as usize] ^= 0x40;
    fs::write(&path, &raw).unwrap();
    let ledger = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap();
    assert!(matches!(ledger.block_by_height(0), Err(Error::Corrupt(_))));
    assert!(matches!(ledger.verify_chain(), Err(Error::Corrupt(_))));
    drop(ledger);

    let last = raw.len() - 5;
    raw[last] ^= 0x40;
    fs::write(&path, &raw).unwrap();
    let err = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn another_chain_or_suite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(ledger_with(dir.path(), 1));
    let err = Ledger::open(dir.path(), Suite::Gm, "other").unwrap_err();
    assert!(matches!(err, Error::WrongLedger { .. }), "{err}");
    let err = Ledger::open(dir.path(), Suite::IntlR1, CHAIN).unwrap_err();
    assert!(matches!(err, Error::WrongLedger { .. }), "{err}");
    assert_eq!(Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap().height(), Some(0));
}

#[test]
fn ledger_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Ledger>();
}

/// A ledger written before the `(sender, nonce)` index existed gets it
/// rebuilt from its recent blocks when opened.
#[test]
fn the_nonce_index_is_rebuilt_for_a_ledger_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let (ledger, _) = ledger_with(dir.path(), 3);
    let used = ledger.nonce_use(&k.address(), 21).unwrap().unwrap();
    // Make it look like an older ledger: no marker, no index.
    let mut batch = ledger.db.batch().durability(Some(PersistMode::SyncAll));
    batch.remove(&ledger.meta, META_NONCES);
    for nonce in [0u64, 1, 2, 10, 11, 12, 20, 21, 22] {
        batch.remove(&ledger.nonces, nonces::pair_key(&k.address(), nonce));
    }
    batch.commit().unwrap();
    assert_eq!(ledger.nonce_use(&k.address(), 21).unwrap(), None);
    drop(ledger);

    let ledger = Ledger::open(dir.path(), Suite::Gm, CHAIN).unwrap();
    assert_eq!(ledger.nonce_use(&k.address(), 21).unwrap(), Some(used));
    for nonce in [0u64, 1, 2, 10, 11, 12, 20, 22] {
        assert!(ledger.nonce_use(&k.address(), nonce).unwrap().is_some(), "nonce {nonce}");
    }
    assert!(ledger.meta.get(META_NONCES).unwrap().is_some());
}
