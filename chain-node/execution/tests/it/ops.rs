//! The result of every `data` operation, across blocks.

use govchain_execution::{DataCall, Entry, Error};
use govchain_types::Encode;
use serde_json::json;

use crate::common::*;

#[test]
fn put_get_and_their_events() {
    let mut c = Chain::new();
    let r = c.run("OrgA", &put("license/1", "granted"));
    let out = ok(&r);
    assert_eq!(out, json!({"key": "license/1", "owner": "OrgA", "created": true, "size": 7}));
    assert_eq!(r.events.len(), 1);
    assert_eq!((r.events[0].contract.as_str(), r.events[0].name.as_str()), ("data", "put"));
    let ev = event_json(&r, 0);
    assert_eq!(ev["value"], "granted");
    assert_eq!(ev["owner"], "OrgA");
    assert_eq!(ev["created"], true);

    let again = c.run_ok("OrgA", &put("license/1", "revoked"));
    assert_eq!(again["created"], false);

    let r = c.run("OrgB", &get("license/1"));
    let out = ok(&r);
    assert_eq!(out["found"], true);
    assert_eq!(out["value"], "revoked");
    assert!(out.get("value_hex").is_none(), "text values show as text only");
    assert_eq!(out["owner"], "OrgA");
    assert_eq!(r.events[0].name, "get");
    let ev = event_json(&r, 0);
    assert_eq!(ev["org"], "OrgB");
    assert_eq!(ev["count"], 1);
    assert_eq!(ev["call"], json!({"op": "get", "key": "license/1"}));

    let missing = c.run_ok("OrgB", &get("nope"));
    assert_eq!(missing, json!({"key": "nope", "found": false}));
}

#[test]
fn binary_keys_and_values_show_as_hex_only() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &DataCall::Put { key: vec![0xff, 1], value: vec![0, 0xfe] });
    let out = c.run_ok("OrgA", &DataCall::Get { key: vec![0xff, 1] });
    assert_eq!(out, json!({"key_hex": "ff01", "found": true, "value_hex": "00fe", "owner": "OrgA"}));
}

#[test]
fn delete_removes_the_value_and_missing_keys_cannot_be_deleted() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v"));
    let r = c.run("OrgA", &del("k"));
    assert_eq!(ok(&r), json!({"key": "k", "owner": "OrgA"}));
    assert_eq!(r.events[0].name, "delete");
    assert_eq!(c.run_ok("OrgA", &get("k"))["found"], false);
    let msg = failed(&c.run("OrgA", &del("k")));
    assert!(msg.starts_with("not found:"), "{msg}");
    let msg = failed(&c.run("OrgA", &del("never")));
    assert!(msg.contains("no value to delete"), "{msg}");
}

#[test]
fn history_is_newest_first_with_deletes_and_limit() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v1")); // height 1
    c.run_ok("OrgA", &put("k", "v2")); // height 2
    c.run_ok("OrgA", &del("k")); // height 3
    c.run_ok("OrgA", &put("k", "v3")); // height 4
    let out = c.run_ok("OrgB", &DataCall::History { key: "k".into(), limit: 10 });
    let e = out["entries"].as_array().unwrap();
    assert_eq!(e.len(), 4);
    let heights: Vec<u64> = e.iter().map(|v| v["height"].as_u64().unwrap()).collect();
    assert_eq!(heights, vec![4, 3, 2, 1]);
    assert_eq!(e[0]["value"], "v3");
    assert_eq!(e[1]["deleted"], true);
    assert!(e[1].get("value").is_none());
    assert_eq!(e[3]["value"], "v1");
    assert_eq!(e[3]["tx_id"], tx_hash(1).to_string());
    assert_eq!(e[3]["timestamp_ms"], 1_700_000_001_000u64);
    let two = c.run_ok("OrgB", &DataCall::History { key: "k".into(), limit: 2 });
    assert_eq!(two["entries"].as_array().unwrap().len(), 2);
    let none = c.run_ok("OrgB", &DataCall::History { key: "other".into(), limit: 2 });
    assert_eq!(none["entries"], json!([]));
}

#[test]
fn batch_operations() {
    let mut c = Chain::new();
    let entries: Vec<Entry> =
        (0..5).map(|i| Entry { key: format!("b{i}").into(), value: format!("v{i}").into() }).collect();
    let r = c.run("OrgA", &DataCall::BatchPut { entries });
    let out = ok(&r);
    assert_eq!(out["count"], 5);
    assert_eq!(out["results"][4]["key"], "b4");
    assert_eq!(r.events.len(), 5, "one put event per entry");
    assert!(r.events.iter().all(|e| e.name == "put"));

    let out = c.run_ok("OrgB", &DataCall::BatchGet { keys: vec!["b1".into(), "zz".into(), "b3".into()] });
    assert_eq!(out["count"], 3);
    assert_eq!(out["results"][0]["value"], "v1");
    assert_eq!(out["results"][1]["found"], false);
    assert_eq!(out["results"][2]["value"], "v3");

    let r = c.run("OrgA", &DataCall::BatchDelete { keys: vec!["b0".into(), "b1".into()] });
    assert_eq!(ok(&r)["count"], 2);
    assert_eq!(r.events.len(), 2);
    assert_eq!(c.run_ok("OrgA", &get("b0"))["found"], false);

    // All or nothing: b9 does not exist, so b2 stays.
    let msg = failed(&c.run("OrgA", &DataCall::BatchDelete { keys: vec!["b2".into(), "b9".into()] }));
    assert!(msg.contains("b9"), "{msg}");
    assert_eq!(c.run_ok("OrgA", &get("b2"))["found"], true);

    let out = c.run_ok("OrgA", &DataCall::BatchHistory { keys: vec!["b0".into(), "b2".into()], limit: 5 });
    assert_eq!(out["results"][0]["entries"].as_array().unwrap().len(), 2, "put + delete");
    assert_eq!(out["results"][0]["entries"][0]["deleted"], true);
    assert_eq!(out["results"][1]["entries"].as_array().unwrap().len(), 1);
}

fn fill(c: &mut Chain) {
    let entries = [
        ("apple", "red"),
        ("apricot", "orange"),
        ("banana", "yellow"),
        ("blueberry", "blue"),
        ("cherry", "red"),
        ("date", "brown"),
        ("grape", "red wine"),
    ]
    .iter()
    .map(|(k, v)| Entry { key: k.as_bytes().to_vec(), value: v.as_bytes().to_vec() })
    .collect();
    c.run_ok("OrgA", &DataCall::BatchPut { entries });
}

#[test]
fn key_queries() {
    let mut c = Chain::new();
    fill(&mut c);
    let out = c.run_ok("OrgB", &DataCall::KeyExact { key: "banana".into() });
    assert_eq!(keys_of(&out), vec!["banana"]);
    assert_eq!(out["entries"][0]["value"], "yellow");
    assert_eq!(out["complete"], true);
    let out = c.run_ok("OrgB", &DataCall::KeyExact { key: "kiwi".into() });
    assert_eq!(out["count"], 0);

    let out = c.run_ok(
        "OrgB",
        &DataCall::KeyBatchExact { keys: vec!["date".into(), "kiwi".into(), "apple".into()] },
    );
    assert_eq!(keys_of(&out), vec!["date", "apple"], "request order, missing keys skipped");

    let r = c.run("OrgB", &DataCall::KeyContains { needle: "ap".into(), start: Vec::new(), limit: 10 });
    let out = ok(&r);
    assert_eq!(keys_of(&out), vec!["apple", "apricot", "grape"]);
    assert_eq!(out["complete"], true);
    assert_eq!(out["scanned"], 7);
    assert_eq!(r.events[0].name, "key_contains");
    assert_eq!(event_json(&r, 0)["count"], 3);

    let out = c.run_ok("OrgB", &DataCall::KeyContains { needle: "ap".into(), start: Vec::new(), limit: 2 });
    assert_eq!(keys_of(&out), vec!["apple", "apricot"]);
    assert_eq!(out["complete"], false);
    let next = out["next_start"].as_str().unwrap();
    assert_eq!(next, "apricot\0");
    let rest = c.run_ok("OrgB", &DataCall::KeyContains { needle: "ap".into(), start: next.into(), limit: 2 });
    assert_eq!(keys_of(&rest), vec!["grape"]);
    assert_eq!(rest["complete"], true);
}

#[test]
fn value_queries() {
    let mut c = Chain::new();
    fill(&mut c);
    let out = c.run_ok("OrgB", &DataCall::ValueExact { value: "red".into(), start: Vec::new(), limit: 10 });
    assert_eq!(keys_of(&out), vec!["apple", "cherry"]);
    let out = c.run_ok("OrgB", &DataCall::ValueExact { value: "red".into(), start: "b".into(), limit: 10 });
    assert_eq!(keys_of(&out), vec!["cherry"], "start is honoured");
    let out =
        c.run_ok("OrgB", &DataCall::ValueContains { needle: "re".into(), start: Vec::new(), limit: 10 });
    assert_eq!(keys_of(&out), vec!["apple", "cherry", "grape"]);
    let out = c.run_ok(
        "OrgB",
        &DataCall::ValueBatchExact {
            values: vec!["blue".into(), "brown".into(), "nope".into()],
            start: Vec::new(),
            limit: 10,
        },
    );
    assert_eq!(keys_of(&out), vec!["blueberry", "date"]);
    let out =
        c.run_ok("OrgB", &DataCall::ValueContains { needle: "zzz".into(), start: Vec::new(), limit: 10 });
    assert_eq!(out["count"], 0);
    assert_eq!(out["complete"], true);
}

#[test]
fn range_is_half_open_ascending_and_resumable() {
    let mut c = Chain::new();
    fill(&mut c);
    let out =
        c.run_ok("OrgB", &DataCall::Range { start: "apricot".into(), end: Some("cherry".into()), limit: 10 });
    assert_eq!(keys_of(&out), vec!["apricot", "banana", "blueberry"]);
    assert_eq!(out["complete"], true);
    assert!(out.get("next_start").is_none());
    let out = c.run_ok("OrgB", &DataCall::Range { start: Vec::new(), end: None, limit: 3 });
    assert_eq!(keys_of(&out), vec!["apple", "apricot", "banana"]);
    assert_eq!(out["complete"], false);
    assert_eq!(out["next_start"], "banana\u{0}");
    let rest = c.run_ok("OrgB", &DataCall::Range { start: "banana\u{0}".into(), end: None, limit: 10 });
    assert_eq!(keys_of(&rest), vec!["blueberry", "cherry", "date", "grape"]);
    // Exactly `limit` left: complete, no resume point.
    let out = c.run_ok("OrgB", &DataCall::Range { start: "date".into(), end: None, limit: 2 });
    assert_eq!(keys_of(&out), vec!["date", "grape"]);
    assert_eq!(out["complete"], true);
    // An inverted range is empty, not an error.
    let out = c.run_ok("OrgB", &DataCall::Range { start: "z".into(), end: Some("a".into()), limit: 2 });
    assert_eq!(out["count"], 0);
}

#[test]
fn owner_records_do_not_leak_into_queries() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v"));
    // The contract keeps `o/k` next to `v/k`; only user keys are visible.
    let out = c.run_ok("OrgA", &DataCall::Range { start: Vec::new(), end: None, limit: 10 });
    assert_eq!(keys_of(&out), vec!["k"]);
    let out =
        c.run_ok("OrgA", &DataCall::ValueContains { needle: "Org".into(), start: Vec::new(), limit: 10 });
    assert_eq!(out["count"], 0);
}

#[test]
fn json_payloads_become_the_same_calls() {
    let mut c = Chain::new();
    let call: DataCall = serde_json::from_str(r#"{"op":"put","key":"j","value":{"hex":"00ff"}}"#).unwrap();
    c.run_ok("OrgA", &call);
    let call: DataCall = serde_json::from_str(r#"{"op":"get","key":"j"}"#).unwrap();
    assert_eq!(c.run_ok("OrgA", &call)["value_hex"], "00ff");
}

#[test]
fn queries_read_committed_state_and_never_write() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v"));
    let out = c.query("OrgB", "data", &get("k").encode()).unwrap();
    assert_eq!(out["value"], "v");
    let err = c.query("OrgA", "data", &put("k", "w").encode()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err}");
    let err = c.query("OrgA", "data", &put("fresh", "w").encode()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly));
    assert_eq!(c.run_ok("OrgA", &get("k"))["value"], "v");
    assert_eq!(c.run_ok("OrgA", &get("fresh"))["found"], false);
    let err = c.query("OrgA", "data", &[99]).unwrap_err();
    assert_eq!(err.kind(), "invalid_payload");
    let err = c.query("OrgA", "nope", &[]).unwrap_err();
    assert_eq!(err.kind(), "unknown_contract");
}

#[test]
fn unknown_contracts_and_non_invoke_transactions_fail() {
    let mut c = Chain::new();
    let r = c.block(&[raw("OrgA", "nope", get("k").encode())]).receipts.remove(0);
    assert_eq!(failed(&r), "unknown contract `nope`");
    let mut call = data("OrgA", &put("k", "v"));
    call.tx_type = govchain_types::TxType::EvmCall;
    let r = c.block(&[call]).receipts.remove(0);
    assert_eq!(failed(&r), "no execution engine of this chain runs `evm_call` transactions");
    let r = c.block(&[raw("OrgA", "data", vec![0xee])]).receipts.remove(0);
    assert!(failed(&r).starts_with("invalid payload for contract `data`"));
}

#[test]
fn receipts_carry_tx_id_height_and_index() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("a", "1"));
    let out = c.block(&[data("OrgA", &get("a")), data("OrgA", &del("zz")), data("OrgA", &get("a"))]);
    let idx: Vec<u32> = out.receipts.iter().map(|r| r.index).collect();
    assert_eq!(idx, vec![0, 1, 2]);
    assert!(out.receipts.iter().all(|r| r.height == 2));
    assert_eq!(out.receipts[0].tx_id, tx_hash(2));
    assert_eq!(out.receipts[2].tx_id, tx_hash(4));
    assert_eq!(out.receipts[1].status, govchain_types::TxStatus::Failed);
    assert!(out.writes.iter().all(Vec::is_empty), "reads and failures write nothing");
}
