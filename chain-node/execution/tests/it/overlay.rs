//! Reads inside a block see the block's earlier writes; failed transactions
//! leave nothing behind.

use govchain_execution::{DataCall, Entry};
use govchain_types::{HexValue, StateWrite};

use crate::common::*;

#[test]
fn put_then_get_in_the_same_block_sees_the_value() {
    let mut c = Chain::new();
    let out = c.block(&[data("OrgA", &put("k", "v")), data("OrgB", &get("k"))]);
    let got = ok(&out.receipts[1]);
    assert_eq!(got["value"], "v");
    assert_eq!(got["owner"], "OrgA");
}

#[test]
fn delete_then_get_in_the_same_block_sees_nothing() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v"));
    let out = c.block(&[
        data("OrgA", &del("k")),
        data("OrgA", &get("k")),
        data("OrgA", &DataCall::Range { start: Vec::new(), end: None, limit: 10 }),
        data("OrgA", &DataCall::KeyExact { key: "k".into() }),
    ]);
    assert_eq!(ok(&out.receipts[1])["found"], false);
    assert_eq!(ok(&out.receipts[2])["count"], 0);
    assert_eq!(ok(&out.receipts[3])["count"], 0);
    // After commit the same holds.
    assert_eq!(c.run_ok("OrgA", &get("k"))["found"], false);
}

#[test]
fn history_within_a_block_lists_the_block_versions_first() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v1"));
    let out = c.block(&[
        data("OrgA", &put("k", "v2")),
        data("OrgA", &del("k")),
        data("OrgA", &put("k", "v3")),
        data("OrgA", &DataCall::History { key: "k".into(), limit: 10 }),
    ]);
    let h = ok(&out.receipts[3]);
    let e = h["entries"].as_array().unwrap();
    let shown: Vec<String> =
        e.iter().map(|v| v.get("value").and_then(|x| x.as_str()).unwrap_or("<deleted>").to_owned()).collect();
    assert_eq!(shown, vec!["v3", "<deleted>", "v2", "v1"]);
    assert_eq!(e[0]["height"], 2);
    assert_eq!(e[0]["tx_id"], out.receipts[2].tx_id.to_string());
    assert_eq!(e[3]["height"], 1);
}

#[test]
fn a_failed_transaction_leaves_no_writes_for_later_transactions() {
    let mut c = Chain::new();
    c.run_ok("OrgB", &put("theirs", "x"));
    // The batch's first entry is fine, the second belongs to OrgB: all fails.
    let batch = DataCall::BatchPut {
        entries: vec![
            Entry { key: "mine".into(), value: "1".into() },
            Entry { key: "theirs".into(), value: "2".into() },
        ],
    };
    let out = c.block(&[data("OrgA", &batch), data("OrgA", &get("mine")), data("OrgB", &put("mine", "b"))]);
    failed(&out.receipts[0]);
    assert!(out.writes[0].is_empty());
    assert_eq!(ok(&out.receipts[1])["found"], false);
    // Nothing of OrgA's failed batch claimed `mine`: OrgB may take it.
    assert_eq!(ok(&out.receipts[2])["owner"], "OrgB");
}

#[test]
fn write_lists_are_exact() {
    let mut c = Chain::new();
    let out = c.block(&[data("OrgA", &put("k", "v")), data("OrgA", &put("k", "w")), data("OrgA", &del("k"))]);
    let w = |key: &str, v: Option<&str>| StateWrite {
        contract: "data".into(),
        key: key.as_bytes().to_vec(),
        value: v.map(|v| HexValue(v.as_bytes().to_vec())),
    };
    assert_eq!(
        out.writes[0],
        vec![w("o/k", Some("OrgA")), w("v/k", Some("v"))],
        "first put records the owner"
    );
    assert_eq!(out.writes[1], vec![w("v/k", Some("w"))]);
    assert_eq!(out.writes[2], vec![w("v/k", None)]);
}

#[test]
fn range_and_value_queries_merge_block_writes_with_committed_state() {
    let mut c = Chain::new();
    let entries = (0..20).map(|i| Entry { key: format!("k{i:02}").into(), value: "old".into() }).collect();
    c.run_ok("OrgA", &DataCall::BatchPut { entries });
    let out = c.block(&[
        data("OrgA", &DataCall::BatchDelete { keys: (0..5).map(|i| format!("k{i:02}").into()).collect() }),
        data("OrgA", &put("k07", "new")),
        data("OrgA", &put("k05x", "new")),
        data("OrgA", &DataCall::Range { start: Vec::new(), end: None, limit: 4 }),
        data("OrgA", &DataCall::ValueExact { value: "new".into(), start: Vec::new(), limit: 10 }),
    ]);
    let range = ok(&out.receipts[3]);
    assert_eq!(keys_of(&range), vec!["k05", "k05x", "k06", "k07"]);
    assert_eq!(range["entries"][3]["value"], "new");
    assert_eq!(keys_of(&ok(&out.receipts[4])), vec!["k05x", "k07"]);
}
