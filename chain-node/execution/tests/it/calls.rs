//! `Call` into other contracts, the `evidence` contract, and the depth limit.

use govchain_execution::{DataCall, EvidenceCall, MAX_CALL_DEPTH};
use govchain_types::Encode;
use serde_json::json;

use crate::common::*;

fn store(id: &str, digest: &[u8]) -> EvidenceCall {
    EvidenceCall::Store {
        id: id.into(),
        digest: digest.to_vec(),
        meta: "{\"title\":\"contract scan\"}".into(),
    }
}

#[test]
fn data_call_into_evidence_joins_writes_and_events() {
    let mut c = Chain::new();
    let call = DataCall::Call { contract: "evidence".into(), data: store("doc-1", &[7; 32]).encode() };
    let out = c.block(&[data("OrgA", &call)]);
    let r = &out.receipts[0];
    let body = ok(r);
    assert_eq!(body["contract"], "evidence");
    assert_eq!(body["output"]["id"], "doc-1");
    assert_eq!(body["output"]["owner"], "OrgA");
    assert_eq!(body["output"]["height"], 1);
    let names: Vec<(&str, &str)> = r.events.iter().map(|e| (e.contract.as_str(), e.name.as_str())).collect();
    assert_eq!(names, vec![("data", "call"), ("evidence", "store")]);
    assert_eq!(event_json(r, 0), json!({"org": "OrgA", "contract": "evidence", "depth": 2}));
    assert_eq!(out.writes[0].len(), 1);
    assert_eq!(out.writes[0][0].contract, "evidence", "the callee writes its own storage");
    assert_eq!(out.writes[0][0].key, b"doc-1");
}

#[test]
fn evidence_store_verify_get() {
    let mut c = Chain::new();
    let r = c.block(&[raw("OrgA", "evidence", store("doc-9", &[1; 32]).encode())]).receipts.remove(0);
    let rec = ok(&r);
    assert_eq!(rec["digest"], hex::encode([1u8; 32]));
    assert_eq!(rec["sender"], sender("OrgA").to_string());
    assert_eq!(rec["tx_id"], r.tx_id.to_string());
    assert_eq!(r.events[0].name, "store");

    let r = c.block(&[raw(
        "OrgB",
        "evidence",
        EvidenceCall::Verify { id: "doc-9".into(), digest: vec![1; 32] }.encode(),
    )]);
    let v = ok(&r.receipts[0]);
    assert_eq!(v["matches"], true);
    assert_eq!(v["found"], true);
    assert_eq!(v["record"]["owner"], "OrgA");
    assert_eq!(v["record"]["height"], 1);
    assert_eq!(r.receipts[0].events[0].name, "verify");
    assert_eq!(event_json(&r.receipts[0], 0)["org"], "OrgB");

    let r = c.block(&[raw(
        "OrgB",
        "evidence",
        EvidenceCall::Verify { id: "doc-9".into(), digest: vec![2; 32] }.encode(),
    )]);
    let v = ok(&r.receipts[0]);
    assert_eq!(v["matches"], false);
    assert_eq!(v["record"]["digest"], hex::encode([1u8; 32]), "the stored record is shown for comparison");

    let r = c.block(&[raw(
        "OrgB",
        "evidence",
        EvidenceCall::Verify { id: "nope".into(), digest: vec![2; 32] }.encode(),
    )]);
    assert_eq!(ok(&r.receipts[0]), json!({"id": "nope", "found": false, "matches": false}));

    let r = c.block(&[raw("OrgB", "evidence", EvidenceCall::Get { id: "doc-9".into() }.encode())]);
    assert_eq!(ok(&r.receipts[0])["record"]["meta"], "{\"title\":\"contract scan\"}");
}

#[test]
fn evidence_first_writer_wins() {
    let mut c = Chain::new();
    let out = c.block(&[
        raw("OrgA", "evidence", store("doc", &[1; 32]).encode()),
        raw("OrgB", "evidence", store("doc", &[2; 32]).encode()),
        raw("OrgA", "evidence", store("doc", &[1; 32]).encode()),
    ]);
    ok(&out.receipts[0]);
    let msg = failed(&out.receipts[1]);
    assert!(
        msg.starts_with("conflict: evidence `doc` was stored at height 1 by organization `OrgA`"),
        "{msg}"
    );
    failed(&out.receipts[2]);
    let v = c
        .query("OrgC", "evidence", &EvidenceCall::Verify { id: "doc".into(), digest: vec![1; 32] }.encode())
        .unwrap();
    assert_eq!(v["matches"], true);
}

#[test]
fn evidence_argument_checks() {
    let mut c = Chain::new();
    for (call, want) in [
        (store("", &[1]), "evidence id must be 1 to 256 bytes"),
        (store(&"x".repeat(257), &[1]), "got 257"),
        (store("d", &[]), "digest must be 1 to 64 bytes"),
        (store("d", &[0; 65]), "got 65"),
        (
            EvidenceCall::Store { id: "d".into(), digest: vec![1], meta: "m".repeat(5000) },
            "meta must be at most 4096",
        ),
    ] {
        let r = c.block(&[raw("OrgA", "evidence", call.encode())]).receipts.remove(0);
        let msg = failed(&r);
        assert!(msg.contains(want), "{msg}");
    }
    let r = c.block(&[raw("OrgA", "evidence", vec![9, 9])]).receipts.remove(0);
    assert!(failed(&r).starts_with("invalid payload for contract `evidence`"));
}

#[test]
fn a_failing_inner_call_fails_the_transaction_and_drops_outer_writes() {
    let mut c = Chain::new();
    c.block(&[raw("OrgA", "evidence", store("doc", &[1; 32]).encode())]);
    // A batch can't mix a put and a call, so nest: data Call -> data BatchPut
    // is fine, then a second tx calls evidence Store on an existing id.
    let out = c.block(&[
        data("OrgA", &DataCall::Call { contract: "data".into(), data: put("x", "1").encode() }),
        data("OrgA", &DataCall::Call { contract: "evidence".into(), data: store("doc", &[2; 32]).encode() }),
        data("OrgA", &DataCall::Call { contract: "nowhere".into(), data: vec![] }),
    ]);
    assert_eq!(ok(&out.receipts[0])["output"]["owner"], "OrgA");
    assert_eq!(out.writes[0].len(), 2);
    assert!(failed(&out.receipts[1]).starts_with("conflict:"));
    assert!(out.writes[1].is_empty());
    assert_eq!(failed(&out.receipts[2]), "unknown contract `nowhere`");
    assert_eq!(c.run_ok("OrgB", &get("x"))["value"], "1");
}

/// `Get` wrapped in `n` data `Call`s: the `Get` runs at depth `n + 1`.
fn nested(n: usize) -> DataCall {
    let mut call = get("k");
    for _ in 0..n {
        call = DataCall::Call { contract: "data".into(), data: call.encode() };
    }
    call
}

#[test]
fn call_depth_is_limited() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "deep"));
    let r = c.run("OrgA", &nested(MAX_CALL_DEPTH - 1));
    let mut out = ok(&r);
    for _ in 0..MAX_CALL_DEPTH - 1 {
        out = out["output"].clone();
    }
    assert_eq!(out["value"], "deep");
    assert_eq!(r.events.len(), MAX_CALL_DEPTH, "one call event per level and the get");
    let msg = failed(&c.run("OrgA", &nested(MAX_CALL_DEPTH)));
    assert_eq!(msg, format!("call depth limit of {MAX_CALL_DEPTH} exceeded"));
    // Far deeper payloads fail the same way, without blowing the stack.
    let msg = failed(&c.run("OrgA", &nested(200)));
    assert!(msg.contains("call depth"), "{msg}");
}

#[test]
fn non_json_outputs_of_callees_are_shown_as_hex() {
    use govchain_execution::{CallEnv, Executor, MemState, NativeContract, NativeEngine, Result, TxContext};
    struct Raw;
    impl NativeContract for Raw {
        fn name(&self) -> &str {
            "raw"
        }
        fn call(&self, _env: &mut CallEnv<'_>, data: &[u8]) -> Result<Vec<u8>> {
            Ok(data.iter().rev().copied().collect())
        }
    }
    let mut native = NativeEngine::builtin();
    native.register(Box::new(Raw)).unwrap();
    assert!(native.register(Box::new(Raw)).is_err(), "names are unique");
    assert_eq!(native.contract_names().collect::<Vec<_>>(), vec!["data", "evidence", "raw"]);
    let exec = Executor::builder().engine(native).unwrap().build();
    let ctx = TxContext {
        tx_id: tx_hash(1),
        sender: sender("OrgA"),
        org: "OrgA".into(),
        height: 1,
        timestamp_ms: 0,
    };
    let out = exec
        .query(
            &MemState::new(),
            ctx,
            "data",
            &DataCall::Call { contract: "raw".into(), data: vec![0xff, 1] }.encode(),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v, json!({"contract": "raw", "output": null, "output_hex": "01ff"}));
}
