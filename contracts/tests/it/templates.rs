//! The templates compiled with solc-js and run on the chain's EVM: results,
//! events and refusals of every function.

use alloy_dyn_abi::DynSolValue;
use alloy_primitives::{Address as EvmAddress, B256, U256, keccak256};
use govchain_contracts::{Compiled, CompiledContract, templates};

use crate::{common::*, evm::*};

fn build(t: &templates::Template) -> Compiled {
    compile_ok(&[(t.file, t.source)])
}

fn contract<'a>(c: &'a Compiled, t: &templates::Template) -> &'a CompiledContract {
    c.contract(t.contract).unwrap()
}

fn b32(text: &str) -> DynSolValue {
    DynSolValue::FixedBytes(keccak256(text.as_bytes()), 32)
}

fn s(text: &str) -> DynSolValue {
    DynSolValue::String(text.into())
}

fn u(n: u64) -> DynSolValue {
    DynSolValue::Uint(U256::from(n), 256)
}

fn as_u64(v: &DynSolValue) -> u64 {
    v.as_uint().unwrap().0.to::<u64>()
}

fn as_addr(v: &DynSolValue) -> EvmAddress {
    v.as_address().unwrap()
}

fn addr(name: &str) -> EvmAddress {
    as_addr(&evm_address(name))
}

fn fields(v: &DynSolValue) -> &[DynSolValue] {
    v.as_tuple().unwrap()
}

fn word(v: &DynSolValue) -> B256 {
    let (w, size) = v.as_fixed_bytes().unwrap();
    assert_eq!(size, 32);
    B256::from_slice(w)
}

/// Asserts a transaction failed with the custom error `name`.
fn refused(result: Result<Outcome, String>, abi: &alloy_json_abi::JsonAbi, name: &str) {
    let message = result.expect_err("the transaction must fail");
    assert!(message.contains(&error_selector(abi, name)), "expected {name}, got {message}");
}

#[test]
fn evidence_stores_verifies_and_revokes_a_document_hash() {
    let compiled = build(&templates::EVIDENCE);
    let mut evm = Evm::new();
    let ev = evm.deploy("OrgA", contract(&compiled, &templates::EVIDENCE), &[]);
    let doc = b32("contract-2026-001.pdf");
    let args = [doc.clone(), s("sm3"), s("采购合同 2026-001"), s(r#"{"case":"2026-001"}"#)];
    let out = evm.send("OrgA", &ev, "store", &args).unwrap();
    let stored_at = T0 + evm.height() - 1;
    assert_eq!(out.events.len(), 1);
    let (name, e) = &out.events[0];
    assert_eq!(name, "EvidenceStored");
    assert_eq!(word(&e.indexed[0]), keccak256(b"contract-2026-001.pdf"));
    assert_eq!(as_addr(&e.indexed[1]), addr("OrgA"));
    assert_eq!(e.body[0].as_str(), Some("sm3"));
    assert_eq!(e.body[1].as_str(), Some("采购合同 2026-001"));
    assert_eq!(as_u64(&e.body[2]), stored_at);

    let v = evm.call("anyone", &ev, "verify", std::slice::from_ref(&doc)).unwrap();
    assert_eq!(v[0].as_bool(), Some(true));
    assert_eq!(as_addr(&v[1]), addr("OrgA"));
    assert_eq!(as_u64(&v[2]), stored_at);
    let unknown = evm.call("anyone", &ev, "verify", &[b32("forged.pdf")]).unwrap();
    assert_eq!(unknown[0].as_bool(), Some(false));
    assert_eq!(as_addr(&unknown[1]), EvmAddress::ZERO);

    let record = &evm.call("anyone", &ev, "get", std::slice::from_ref(&doc)).unwrap()[0];
    let r = fields(record);
    assert_eq!(r[2].as_str(), Some("采购合同 2026-001"));
    assert_eq!(r[3].as_str(), Some(r#"{"case":"2026-001"}"#));
    assert_eq!(as_u64(&r[6]), evm.height());
    assert_eq!(as_u64(&evm.call("anyone", &ev, "count", &[]).unwrap()[0]), 1);

    refused(evm.send("OrgB", &ev, "store", &args), &ev.abi, "AlreadyStored");
    let zero = DynSolValue::FixedBytes(B256::ZERO, 32);
    refused(evm.send("OrgB", &ev, "store", &[zero, s("sm3"), s(""), s("")]), &ev.abi, "EmptyHash");
    let long = "x".repeat(4097);
    refused(evm.send("OrgB", &ev, "store", &[b32("b"), s("sm3"), s(&long), s("")]), &ev.abi, "TextTooLong");
    assert!(
        evm.call("anyone", &ev, "get", &[b32("forged.pdf")])
            .unwrap_err()
            .contains(&error_selector(&ev.abi, "NotFound"))
    );

    refused(evm.send("OrgB", &ev, "revoke", &[doc.clone(), s("mine")]), &ev.abi, "NotSubmitter");
    let out = evm.send("OrgA", &ev, "revoke", &[doc.clone(), s("superseded by 2026-002")]).unwrap();
    assert_eq!(out.events[0].0, "EvidenceRevoked");
    assert_eq!(out.events[0].1.body[0].as_str(), Some("superseded by 2026-002"));
    refused(evm.send("OrgA", &ev, "revoke", &[doc.clone(), s("again")]), &ev.abi, "AlreadyRevoked");
    let v = evm.call("anyone", &ev, "verify", std::slice::from_ref(&doc)).unwrap();
    assert_eq!(v[0].as_bool(), Some(false), "a revoked record no longer verifies");
    let r = evm.call("anyone", &ev, "get", &[doc]).unwrap();
    assert_eq!(fields(&r[0])[7].as_bool(), Some(true));
    assert_eq!(fields(&r[0])[8].as_str(), Some("superseded by 2026-002"));
}

#[test]
fn traceability_records_an_items_history_by_its_owner_and_handlers() {
    let compiled = build(&templates::TRACEABILITY);
    let mut evm = Evm::new();
    let tr = evm.deploy("Farm", contract(&compiled, &templates::TRACEABILITY), &[]);
    let item = b32("batch-42");
    evm.send("Farm", &tr, "register", &[item.clone(), s("Rice, 20 t"), s("浙江 杭州")]).unwrap();
    refused(
        evm.send("Mill", &tr, "register", &[item.clone(), s("again"), s("")]),
        &tr.abi,
        "AlreadyRegistered",
    );
    assert_eq!(as_u64(&evm.call("x", &tr, "stepCount", std::slice::from_ref(&item)).unwrap()[0]), 1);
    assert_eq!(
        as_addr(&evm.call("x", &tr, "ownerOf", std::slice::from_ref(&item)).unwrap()[0]),
        addr("Farm")
    );

    let step = [item.clone(), s("milled"), s("Mill 3"), s(r#"{"moisture":"13%"}"#)];
    refused(evm.send("Mill", &tr, "record", &step), &tr.abi, "NotHandler");
    refused(
        evm.send("Mill", &tr, "setHandler", &[item.clone(), evm_address("Mill"), DynSolValue::Bool(true)]),
        &tr.abi,
        "NotOwner",
    );
    evm.send("Farm", &tr, "setHandler", &[item.clone(), evm_address("Mill"), DynSolValue::Bool(true)])
        .unwrap();
    let out = evm.send("Mill", &tr, "record", &step).unwrap();
    assert_eq!(as_u64(&out.values[0]), 1);
    let (name, e) = &out.events[0];
    assert_eq!(name, "StepRecorded");
    assert_eq!(as_u64(&e.indexed[1]), 1);
    assert_eq!(as_addr(&e.indexed[2]), addr("Mill"));
    assert_eq!(e.body[0].as_str(), Some("milled"));
    let milled_at = T0 + evm.height() - 1;
    evm.send("Farm", &tr, "record", &[item.clone(), s("shipped"), s("Port"), s("")]).unwrap();
    refused(evm.send("Farm", &tr, "record", &[b32("nope"), s("x"), s(""), s("")]), &tr.abi, "UnknownItem");

    let one = &evm.call("x", &tr, "step", &[item.clone(), u(1)]).unwrap()[0];
    let one = fields(one);
    assert_eq!(as_addr(&one[0]), addr("Mill"));
    assert_eq!(as_u64(&one[1]), milled_at);
    assert_eq!(one[3].as_str(), Some("milled"));
    assert_eq!(one[5].as_str(), Some(r#"{"moisture":"13%"}"#));
    assert!(
        evm.call("x", &tr, "step", &[item.clone(), u(3)])
            .unwrap_err()
            .contains(&error_selector(&tr.abi, "NoSuchStep"))
    );

    let page = evm.call("x", &tr, "steps", &[item.clone(), u(0), u(10)]).unwrap();
    let actions: Vec<&str> =
        page[0].as_array().unwrap().iter().map(|st| fields(st)[3].as_str().unwrap()).collect();
    assert_eq!(actions, ["registered", "milled", "shipped"]);
    let times: Vec<u64> = page[0].as_array().unwrap().iter().map(|st| as_u64(&fields(st)[1])).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let tail = evm.call("x", &tr, "steps", &[item.clone(), u(2), u(10)]).unwrap();
    assert_eq!(tail[0].as_array().unwrap().len(), 1);
    let past = evm.call("x", &tr, "steps", &[item, u(9), u(10)]).unwrap();
    assert!(past[0].as_array().unwrap().is_empty());
}

#[test]
fn record_store_finds_records_by_transaction_reference_and_receipt_id() {
    let compiled = build(&templates::RECORD_STORE);
    let mut evm = Evm::new();
    let rs = evm.deploy("Dept", contract(&compiled, &templates::RECORD_STORE), &[]);
    let content = DynSolValue::FixedBytes(keccak256(b"approval text"), 32);
    let submit = |reference: &str| [s(reference), s("approval"), content.clone(), s("批准：同意立项")];
    let out = evm.send("Dept", &rs, "submit", &submit("2026-GA-000123")).unwrap();
    let id = word(&out.values[0]);
    assert_eq!(id, keccak256(b"2026-GA-000123"));
    assert_eq!(as_u64(&out.values[1]), 1);
    // From the filing transaction's receipt: the event names the id.
    let (name, e) = &out.events[0];
    assert_eq!(name, "RecordSubmitted");
    assert_eq!(word(&e.indexed[0]), id);
    assert_eq!(as_u64(&e.indexed[1]), 1);
    assert_eq!(as_addr(&e.indexed[2]), addr("Dept"));
    assert_eq!(e.body[0].as_str(), Some("2026-GA-000123"));
    let by_id = evm.call("x", &rs, "get", &[DynSolValue::FixedBytes(id, 32)]).unwrap();
    let r = fields(&by_id[0]);
    assert_eq!(r[2].as_str(), Some("2026-GA-000123"));
    assert_eq!(r[5].as_str(), Some("批准：同意立项"));
    assert_eq!(as_addr(&r[6]), addr("Dept"));
    assert_eq!(as_u64(&r[8]), evm.height());
    let by_ref = evm.call("x", &rs, "getByRef", &[s("2026-GA-000123")]).unwrap();
    assert_eq!(by_ref, by_id);

    refused(evm.send("Clerk", &rs, "submit", &submit("2026-GA-000124")), &rs.abi, "NotWriter");
    refused(
        evm.send("Clerk", &rs, "setWriter", &[evm_address("Clerk"), DynSolValue::Bool(true)]),
        &rs.abi,
        "NotAdmin",
    );
    evm.send("Dept", &rs, "setWriter", &[evm_address("Clerk"), DynSolValue::Bool(true)]).unwrap();
    let second = evm.send("Clerk", &rs, "submit", &submit("2026-GA-000124")).unwrap();
    assert_eq!(as_u64(&second.values[1]), 2);
    refused(evm.send("Clerk", &rs, "submit", &submit("2026-GA-000124")), &rs.abi, "Duplicate");
    refused(evm.send("Clerk", &rs, "submit", &submit("")), &rs.abi, "BadReference");
    assert_eq!(
        evm.call("x", &rs, "getBySeq", &[u(2)]).unwrap()[0],
        evm.call("x", &rs, "getByRef", &[s("2026-GA-000124")]).unwrap()[0]
    );
    assert!(
        evm.call("x", &rs, "getBySeq", &[u(3)]).unwrap_err().contains(&error_selector(&rs.abi, "NotFound"))
    );
    assert!(
        evm.call("x", &rs, "getByRef", &[s("2026-GA-999")])
            .unwrap_err()
            .contains(&error_selector(&rs.abi, "NotFound"))
    );
    assert_eq!(evm.call("x", &rs, "exists", &[s("2026-GA-000124")]).unwrap()[0].as_bool(), Some(true));
    assert_eq!(evm.call("x", &rs, "exists", &[s("2026-GA-999")]).unwrap()[0].as_bool(), Some(false));

    // A correction is a new record; the old one points to it.
    let fix = [s("2026-GA-000123"), s("2026-GA-000123-R1"), s("approval"), content.clone(), s("更正")];
    let out = evm.send("Dept", &rs, "correct", &fix).unwrap();
    let new_id = word(&out.values[0]);
    assert_eq!(as_u64(&out.values[1]), 3);
    assert_eq!(
        out.events.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["RecordSubmitted", "RecordCorrected"]
    );
    let old = evm.call("x", &rs, "getByRef", &[s("2026-GA-000123")]).unwrap();
    assert_eq!(word(&fields(&old[0])[10]), new_id);
    let new = evm.call("x", &rs, "get", &[DynSolValue::FixedBytes(new_id, 32)]).unwrap();
    assert_eq!(word(&fields(&new[0])[9]), id);
    refused(evm.send("Dept", &rs, "correct", &fix), &rs.abi, "AlreadySuperseded");
    assert_eq!(as_u64(&evm.call("x", &rs, "total", &[]).unwrap()[0]), 3);
}

#[test]
fn the_token_transfers_approves_and_refuses_like_erc20() {
    let compiled = build(&templates::TOKEN);
    let mut evm = Evm::new();
    let supply = 1_000_000u64;
    let t =
        evm.deploy("Alice", contract(&compiled, &templates::TOKEN), &[s("Gov Token"), s("GT"), u(supply)]);
    let read = |evm: &Evm, f: &str, args: &[DynSolValue]| evm.call("x", &t, f, args).unwrap().remove(0);
    assert_eq!(read(&evm, "name", &[]).as_str(), Some("Gov Token"));
    assert_eq!(read(&evm, "symbol", &[]).as_str(), Some("GT"));
    assert_eq!(as_u64(&read(&evm, "decimals", &[])), 18);
    assert_eq!(as_u64(&read(&evm, "totalSupply", &[])), supply);
    let balance = |evm: &Evm, who: &str| as_u64(&read(evm, "balanceOf", &[evm_address(who)]));
    assert_eq!(balance(&evm, "Alice"), supply);

    let out = evm.send("Alice", &t, "transfer", &[evm_address("Bob"), u(100)]).unwrap();
    assert_eq!(out.values[0].as_bool(), Some(true));
    let (name, e) = &out.events[0];
    assert_eq!(name, "Transfer");
    assert_eq!((as_addr(&e.indexed[0]), as_addr(&e.indexed[1])), (addr("Alice"), addr("Bob")));
    assert_eq!(as_u64(&e.body[0]), 100);
    assert_eq!((balance(&evm, "Alice"), balance(&evm, "Bob")), (supply - 100, 100));

    refused(
        evm.send("Bob", &t, "transfer", &[evm_address("Carol"), u(101)]),
        &t.abi,
        "ERC20InsufficientBalance",
    );
    let zero = DynSolValue::Address(EvmAddress::ZERO);
    refused(evm.send("Bob", &t, "transfer", &[zero.clone(), u(1)]), &t.abi, "ERC20InvalidReceiver");
    refused(evm.send("Bob", &t, "approve", &[zero, u(1)]), &t.abi, "ERC20InvalidSpender");

    let out = evm.send("Alice", &t, "approve", &[evm_address("Carol"), u(50)]).unwrap();
    assert_eq!(out.events[0].0, "Approval");
    evm.send("Carol", &t, "transferFrom", &[evm_address("Alice"), evm_address("Bob"), u(30)]).unwrap();
    assert_eq!(as_u64(&read(&evm, "allowance", &[evm_address("Alice"), evm_address("Carol")])), 20);
    assert_eq!(balance(&evm, "Bob"), 130);
    refused(
        evm.send("Carol", &t, "transferFrom", &[evm_address("Alice"), evm_address("Bob"), u(30)]),
        &t.abi,
        "ERC20InsufficientAllowance",
    );
    // An unlimited allowance is not spent.
    let max = DynSolValue::Uint(U256::MAX, 256);
    evm.send("Bob", &t, "approve", &[evm_address("Carol"), max.clone()]).unwrap();
    evm.send("Carol", &t, "transferFrom", &[evm_address("Bob"), evm_address("Carol"), u(30)]).unwrap();
    assert_eq!(read(&evm, "allowance", &[evm_address("Bob"), evm_address("Carol")]), max);
    assert_eq!((balance(&evm, "Bob"), balance(&evm, "Carol")), (100, 30));
    assert_eq!(balance(&evm, "Alice") + balance(&evm, "Bob") + balance(&evm, "Carol"), supply);
}
