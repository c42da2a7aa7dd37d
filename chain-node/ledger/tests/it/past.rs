//! Reads of the state just before a given transaction (`get_before`).

use govchain_ledger::test_utils::{delete, put};

use crate::{block_with, fresh};

#[test]
fn a_key_reads_as_it_stood_before_each_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut b) = fresh(dir.path());
    // Block 0: tx 0 writes a=1; tx 1 writes a=2 then a=3 and b=1.
    // Block 1: tx 0 deletes a; tx 1 leaves it; tx 2 writes a=4.
    let blocks = [
        block_with(
            &mut b,
            0,
            vec![
                vec![put("kv", b"a", b"1")],
                vec![put("kv", b"a", b"2"), put("kv", b"a", b"3"), put("kv", b"b", b"1")],
            ],
        ),
        block_with(
            &mut b,
            10,
            vec![vec![delete("kv", b"a")], vec![put("kv", b"b", b"2")], vec![put("kv", b"a", b"4")]],
        ),
    ];
    for nb in &blocks {
        nb.commit(&ledger).unwrap();
    }
    let at = |height, tx| ledger.get_before("kv", b"a", height, tx).unwrap();
    assert_eq!(at(0, 0), None);
    assert_eq!(at(0, 1), Some(b"1".to_vec()));
    // The last of several writes by one transaction counts.
    assert_eq!(at(1, 0), Some(b"3".to_vec()));
    assert_eq!(at(1, 1), None, "deleted by the transaction before");
    assert_eq!(at(1, 2), None);
    assert_eq!(at(2, 0), Some(b"4".to_vec()), "the state after the last block");
    assert_eq!(ledger.get_before("kv", b"b", 1, 1).unwrap(), Some(b"1".to_vec()));
    assert_eq!(ledger.get_before("kv", b"b", 1, 2).unwrap(), Some(b"2".to_vec()));
    // A key of another contract or one never written reads as absent.
    assert_eq!(ledger.get_before("kvx", b"a", 2, 0).unwrap(), None);
    assert_eq!(ledger.get_before("kv", b"zz", 2, 0).unwrap(), None);
}
