//! The contract lifecycle through the executor: deployments recorded in
//! the registry, upgrades that keep address and state, freeze and
//! unfreeze, access lists (also between contracts), governance proposals
//! and votes, and clear refusals of bad input.

use govchain_crypto::{Address, keccak256};
use govchain_execution::{
    EngineKind, EvmCall, EvmConfig, EvmCreate, ExecutionSpec, Executor, TxContext,
    evm::{GovernancePolicy, GovernedAction, MAX_CODE_SIZE, read_code, testdata_lifecycle::*},
};
use govchain_types::{Encode, Hash, Receipt, TxStatus, TxType};
use serde_json::{Value, json};

use crate::common::*;

const GAS: u64 = 1_000_000;

fn chain_with(governance: GovernancePolicy) -> Chain {
    let mut chain = Chain::new();
    let spec = ExecutionSpec {
        engines: vec![EngineKind::Native, EngineKind::Evm],
        evm: Some(EvmConfig { governance, ..EvmConfig::default() }),
    };
    chain.exec = Executor::from_spec(&spec).unwrap();
    chain
}

fn governed(members: &[&str], threshold: usize, actions: &[GovernedAction]) -> GovernancePolicy {
    GovernancePolicy {
        members: members.iter().map(|m| m.to_string()).collect(),
        threshold,
        actions: actions.to_vec(),
        ..GovernancePolicy::default()
    }
}

fn word(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn abi(signature: &str, args: &[[u8; 32]]) -> Vec<u8> {
    let mut out = keccak256(signature.as_bytes())[..4].to_vec();
    for a in args {
        out.extend_from_slice(a);
    }
    out
}

fn uint_of(out: &[u8]) -> u64 {
    u64::from_be_bytes(out[24..32].try_into().unwrap())
}

fn deploy(org: &str, code: &str) -> Call {
    Call {
        org: org.into(),
        contract: String::new(),
        data: EvmCreate { code: hex::decode(code).unwrap(), gas_limit: GAS }.encode(),
        tx_type: TxType::EvmCreate,
    }
}

fn evm_call(org: &str, to: &Address, input: Vec<u8>) -> Call {
    Call {
        org: org.into(),
        contract: to.to_string(),
        data: EvmCall { input, gas_limit: GAS }.encode(),
        tx_type: TxType::EvmCall,
    }
}

fn lc(org: &str, op: Value) -> Call {
    raw(org, "contracts", op.to_string().into_bytes())
}

fn one(chain: &mut Chain, call: Call) -> Receipt {
    chain.block(&[call]).receipts.remove(0)
}

fn created(r: &Receipt) -> Address {
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    Address(r.output.as_slice().try_into().unwrap())
}

fn evm_query(chain: &Chain, org: &str, to: &Address, input: Vec<u8>) -> govchain_execution::Result<Vec<u8>> {
    let ctx = TxContext {
        tx_id: Hash::ZERO,
        sender: sender(org),
        org: org.into(),
        height: chain.height,
        timestamp_ms: 0,
    };
    let payload = EvmCall { input, gas_limit: GAS }.encode();
    chain.exec.query_engine(TxType::EvmCall, &chain.state, ctx, &to.to_string(), &payload)
}

fn total(chain: &Chain, permits: &Address) -> u64 {
    uint_of(&evm_query(chain, "Reader", permits, abi("total()", &[])).unwrap())
}

fn grants(chain: &Chain, permits: &Address, holder: &Address) -> u64 {
    uint_of(&evm_query(chain, "Reader", permits, abi("grants(address)", &[word(holder)])).unwrap())
}

fn grant(org: &str, permits: &Address, holder: &Address) -> Call {
    evm_call(org, permits, abi("grant(address)", &[word(holder)]))
}

fn info(chain: &Chain, permits: &Address) -> Value {
    chain
        .query("Reader", "contracts", json!({"op": "info", "address": permits}).to_string().as_bytes())
        .unwrap()
}

fn upgrade(org: &str, address: &Address) -> Call {
    lc(org, json!({"op": "upgrade", "address": address, "code": format!("0x{PERMITS_V2_RUNTIME}")}))
}

fn version_string(chain: &Chain, permits: &Address) -> String {
    let out = evm_query(chain, "Reader", permits, abi("version()", &[])).unwrap();
    let len = uint_of(&out[32..64]) as usize;
    String::from_utf8(out[64..64 + len].to_vec()).unwrap()
}

/// A chain with `PermitsV1` deployed by OrgA and two grants to `holder`.
fn with_permits(governance: GovernancePolicy) -> (Chain, Address, Address) {
    let mut chain = chain_with(governance);
    let permits = created(&one(&mut chain, deploy("OrgA", PERMITS_V1)));
    let holder = sender("Holder");
    for _ in 0..2 {
        let r = one(&mut chain, grant("OrgB", &permits, &holder));
        assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    }
    (chain, permits, holder)
}

#[test]
fn deployments_are_recorded_and_upgrades_keep_address_and_state() {
    let mut chain = chain_with(GovernancePolicy::default());
    let r = one(&mut chain, deploy("OrgA", PERMITS_V1));
    let permits = created(&r);
    let deployed =
        r.events.iter().find(|e| e.contract == "contracts" && e.name == "deployed").expect("event");
    let event: Value = serde_json::from_slice(&deployed.data).unwrap();
    assert_eq!(event["address"], permits.to_string());
    let v1_hash = format!("0x{}", hex::encode(keccak256(&read_code(&chain.state, &permits.0).unwrap())));
    let i = info(&chain, &permits);
    assert_eq!(i["owner"], "OrgA");
    assert_eq!(i["active_version"], "1.0");
    assert_eq!(i["frozen"], false);
    assert_eq!(i["versions"][0]["code_hash"], v1_hash);
    assert_eq!(i["versions"][0]["deployer"], sender("OrgA").to_string());
    assert_eq!(i["versions"][0]["organization"], "OrgA");
    assert_eq!(i["versions"][0]["height"], 1);

    let holder = sender("Holder");
    for _ in 0..2 {
        assert_eq!(one(&mut chain, grant("OrgB", &permits, &holder)).status, TxStatus::Success);
    }
    assert_eq!((total(&chain, &permits), version_string(&chain, &permits).as_str()), (2, "1.0"));

    // Only the owner's organization may upgrade.
    let msg = failed(&one(&mut chain, upgrade("OrgB", &permits)));
    assert!(msg.contains("belongs to organization `OrgA`") && msg.contains("`OrgB`"), "{msg}");

    let r = one(&mut chain, upgrade("OrgA", &permits));
    let out = ok(&r);
    assert_eq!(out["version"], "2.0");
    assert_eq!(r.events[0].name, "upgraded");
    // Same address, same storage, new code.
    assert_eq!(version_string(&chain, &permits), "2.0");
    assert_eq!((total(&chain, &permits), grants(&chain, &permits, &holder)), (2, 2));
    let r = one(&mut chain, grant("OrgB", &permits, &holder));
    assert_eq!(uint_of(&r.output), 4, "version 2 grants two: {}", r.message);
    assert_eq!(grants(&chain, &permits, &holder), 4);
    let i = info(&chain, &permits);
    assert_eq!(i["active_version"], "2.0");
    assert_eq!(i["versions"].as_array().unwrap().len(), 2);
    assert_eq!(i["versions"][0]["code_hash"], v1_hash);
    assert_eq!(i["versions"][1]["code_hash"], out["code_hash"]);

    let msg = failed(&one(&mut chain, upgrade("OrgA", &permits)));
    assert!(msg.contains("runs this code already"), "{msg}");
}

#[test]
fn a_frozen_contract_refuses_calls_until_it_is_unfrozen() {
    let (mut chain, permits, holder) = with_permits(GovernancePolicy::default());
    let relay = created(&one(&mut chain, deploy("OrgC", RELAY)));
    let via_relay =
        |org: &str| evm_call(org, &relay, abi("grantVia(address,address)", &[word(&permits), word(&holder)]));
    assert_eq!(one(&mut chain, via_relay("OrgC")).status, TxStatus::Success);
    assert_eq!(total(&chain, &permits), 3);

    let msg = failed(&one(&mut chain, lc("OrgB", json!({"op": "freeze", "address": permits}))));
    assert!(msg.contains("permission denied"), "{msg}");
    let r = one(&mut chain, lc("OrgA", json!({"op": "freeze", "address": permits})));
    assert_eq!(ok(&r)["frozen"], true);
    assert_eq!(r.events[0].name, "frozen");
    assert_eq!(info(&chain, &permits)["frozen"], true);

    let frozen = format!("contract {permits} is frozen");
    let msg = failed(&one(&mut chain, grant("OrgB", &permits, &holder)));
    assert!(msg.contains(&frozen), "{msg}");
    let err = evm_query(&chain, "OrgB", &permits, abi("total()", &[])).unwrap_err().to_string();
    assert!(err.contains(&frozen), "{err}");
    // A contract calling it is refused too, with the same reason.
    let msg = failed(&one(&mut chain, via_relay("OrgC")));
    assert!(msg.contains("reverted") && msg.contains(&frozen), "{msg}");
    let msg = failed(&one(&mut chain, lc("OrgA", json!({"op": "freeze", "address": permits}))));
    assert!(msg.contains("frozen already"), "{msg}");

    assert_eq!(
        ok(&one(&mut chain, lc("OrgA", json!({"op": "unfreeze", "address": permits}))))["frozen"],
        false
    );
    assert_eq!(one(&mut chain, via_relay("OrgC")).status, TxStatus::Success);
    assert_eq!(total(&chain, &permits), 4);
    let msg = failed(&one(&mut chain, lc("OrgA", json!({"op": "unfreeze", "address": permits}))));
    assert!(msg.contains("is not frozen"), "{msg}");
}

#[test]
fn access_lists_refuse_callers_outside_them_also_between_contracts() {
    let (mut chain, permits, holder) = with_permits(GovernancePolicy::default());
    let relay = created(&one(&mut chain, deploy("OrgB", RELAY)));
    let via_relay =
        |org: &str| evm_call(org, &relay, abi("grantVia(address,address)", &[word(&permits), word(&holder)]));
    let acl = |method: &str, allow: Value| {
        lc("OrgA", json!({"op": "acl", "address": permits, "method": method, "allow": allow}))
    };

    let r = one(&mut chain, acl("grant(address)", json!(["OrgB"])));
    assert_eq!(ok(&r)["method"], "0x70284d19");
    assert_eq!(info(&chain, &permits)["acl"]["0x70284d19"], json!(["OrgB"]));

    let msg = failed(&one(&mut chain, grant("OrgC", &permits, &holder)));
    assert!(
        msg.contains("organization `OrgC`")
            && msg.contains("not on the access list")
            && msg.contains("0x70284d19"),
        "{msg}"
    );
    assert_eq!(one(&mut chain, grant("OrgB", &permits, &holder)).status, TxStatus::Success);
    // Methods without a list of their own stay open.
    assert_eq!(total(&chain, &permits), 3);
    // OrgB calling through its relay: the relay is the caller, and it is not listed.
    let msg = failed(&one(&mut chain, via_relay("OrgB")));
    assert!(msg.contains(&format!("calling contract {relay} is not on the access list")), "{msg}");
    // Listing the relay's address lets it (and anyone through it) in.
    ok(&one(
        &mut chain,
        acl("0x70284d19", json!(["OrgB", relay.to_string().to_uppercase().replace("0X", "0x")])),
    ));
    assert_eq!(one(&mut chain, via_relay("OrgC")).status, TxStatus::Success);
    assert_eq!(total(&chain, &permits), 4);

    // `*` covers every method without a list of its own.
    ok(&one(&mut chain, acl("*", json!([sender("OrgD").to_string()]))));
    let err = evm_query(&chain, "OrgC", &permits, abi("total()", &[])).unwrap_err().to_string();
    assert!(err.contains("not on the access list") && err.contains("0x2ddbd13a"), "{err}");
    assert!(evm_query(&chain, "OrgD", &permits, abi("total()", &[])).is_ok());
    // Empty lists open the methods again.
    ok(&one(&mut chain, acl("*", json!([]))));
    ok(&one(&mut chain, acl("grant(address)", json!([]))));
    assert_eq!(info(&chain, &permits)["acl"], json!({}));
    assert_eq!(one(&mut chain, grant("OrgC", &permits, &holder)).status, TxStatus::Success);
}

#[test]
fn a_governed_upgrade_runs_only_after_the_threshold_of_member_votes() {
    let policy =
        governed(&["OrgA", "OrgB", "OrgC", "OrgD"], 3, &[GovernedAction::Upgrade, GovernedAction::Freeze]);
    let (mut chain, permits, holder) = with_permits(policy);
    let msg = failed(&one(&mut chain, upgrade("OrgA", &permits)));
    assert!(
        msg.contains("`upgrade` is governed") && msg.contains("3 of the 4 member organizations"),
        "{msg}"
    );

    let propose = json!({"op": "propose", "action": {"op": "upgrade", "address": permits, "code": format!("0x{PERMITS_V2_RUNTIME}")}, "note": "v2"});
    let msg = failed(&one(&mut chain, lc("Outsider", propose.clone())));
    assert!(msg.contains("`Outsider` is not a member organization"), "{msg}");
    let r = one(&mut chain, lc("OrgA", propose));
    let p = ok(&r);
    assert_eq!(
        (p["id"].as_u64(), p["status"].as_str(), p["threshold"].as_u64()),
        (Some(1), Some("open"), Some(3))
    );
    assert_eq!(p["votes"][0]["organization"], "OrgA", "the proposer's organization approves");
    assert_eq!(r.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["proposed", "voted"]);

    let vote = |org: &str, approve: bool| lc(org, json!({"op": "vote", "id": 1, "approve": approve}));
    let msg = failed(&one(&mut chain, vote("OrgA", true)));
    assert!(msg.contains("`OrgA` has voted on proposal 1 already"), "{msg}");
    let msg = failed(&one(&mut chain, vote("Outsider", true)));
    assert!(msg.contains("not a member organization"), "{msg}");
    assert_eq!(ok(&one(&mut chain, vote("OrgB", true)))["status"], "open");
    assert_eq!(ok(&one(&mut chain, vote("OrgD", false)))["status"], "open");
    // Two approvals of three: still version 1.
    assert_eq!(version_string(&chain, &permits), "1.0");

    let r = one(&mut chain, vote("OrgC", true));
    let p = ok(&r);
    assert_eq!(p["status"], "executed");
    assert_eq!(p["result"]["version"], "2.0");
    let names: Vec<&str> = r.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["voted", "upgraded", "executed"]);
    assert_eq!(version_string(&chain, &permits), "2.0");
    assert_eq!((total(&chain, &permits), grants(&chain, &permits, &holder)), (2, 2));
    let i = info(&chain, &permits);
    assert_eq!(
        (i["versions"][1]["proposal"].as_u64(), i["versions"][1]["organization"].as_str()),
        (Some(1), Some("OrgC"))
    );
    let msg = failed(&one(&mut chain, vote("OrgD", true)));
    assert!(msg.contains("proposal 1 is executed"), "{msg}");

    // A proposal that too many members reject is rejected; ungoverned
    // actions still go to the owner directly.
    let r =
        one(&mut chain, lc("OrgB", json!({"op": "propose", "action": {"op": "freeze", "address": permits}})));
    assert_eq!(ok(&r)["id"], 2);
    assert_eq!(
        ok(&one(&mut chain, lc("OrgC", json!({"op": "vote", "id": 2, "approve": false}))))["status"],
        "open"
    );
    let p = ok(&one(&mut chain, lc("OrgD", json!({"op": "vote", "id": 2, "approve": false}))));
    assert_eq!(p["status"], "rejected");
    assert_eq!(info(&chain, &permits)["frozen"], false);
    ok(&one(
        &mut chain,
        lc("OrgA", json!({"op": "acl", "address": permits, "method": "*", "allow": ["OrgA"]})),
    ));

    let listed = chain.query("Reader", "contracts", br#"{"op":"proposals"}"#).unwrap();
    let statuses: Vec<&str> =
        listed.as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["executed", "rejected"]);
    let policy = chain.query("Reader", "contracts", br#"{"op":"policy"}"#).unwrap();
    assert_eq!(
        (policy["threshold"].as_u64(), policy["actions"].clone()),
        (Some(3), json!(["upgrade", "freeze"]))
    );
}

#[test]
fn proposals_expire_after_their_time() {
    let policy = GovernancePolicy {
        proposal_ttl_blocks: 2,
        ..governed(&["OrgA", "OrgB"], 2, &[GovernedAction::Freeze])
    };
    let (mut chain, permits, _) = with_permits(policy);
    let p = ok(&one(
        &mut chain,
        lc("OrgA", json!({"op": "propose", "action": {"op": "freeze", "address": permits}})),
    ));
    assert_eq!(p["expires_at"], p["height"].as_u64().unwrap() + 2);
    chain.block(&[]);
    chain.block(&[]);
    let msg = failed(&one(&mut chain, lc("OrgB", json!({"op": "vote", "id": 1, "approve": true}))));
    assert!(msg.contains("proposal 1 expired at height"), "{msg}");
    let p = chain.query("Reader", "contracts", br#"{"op":"proposal","id":1}"#).unwrap();
    assert_eq!(p["status"], "expired");
}

#[test]
fn governed_deployments_need_an_approved_proposal() {
    let mut chain = chain_with(governed(&["OrgA", "OrgB"], 2, &[GovernedAction::Deploy]));
    let init = hex::decode(PERMITS_V1).unwrap();
    let hash = format!("0x{}", hex::encode(keccak256(&init)));
    let msg = failed(&one(&mut chain, deploy("OrgA", PERMITS_V1)));
    assert!(msg.contains("deployments are governed") && msg.contains(&hash), "{msg}");

    let propose = json!({"op": "propose", "action": {"op": "deploy", "code_hash": hash}});
    assert_eq!(ok(&one(&mut chain, lc("OrgA", propose)))["status"], "open");
    let p = ok(&one(&mut chain, lc("OrgB", json!({"op": "vote", "id": 1, "approve": true}))));
    assert_eq!(p["status"], "executed");
    let msg = failed(&one(&mut chain, deploy("OrgB", PERMITS_V1)));
    assert!(msg.contains("approved for organization `OrgA` (proposal 1)"), "{msg}");
    let permits = created(&one(&mut chain, deploy("OrgA", PERMITS_V1)));
    assert_eq!(info(&chain, &permits)["versions"][0]["proposal"], 1);
    // The approval is used up.
    let msg = failed(&one(&mut chain, deploy("OrgA", PERMITS_V1)));
    assert!(msg.contains("has no approval"), "{msg}");
}

#[test]
fn bad_lifecycle_input_gets_clear_errors() {
    let (mut chain, permits, _) = with_permits(GovernancePolicy::default());
    let mut check = |org: &str, op: Value, expected: &str| {
        let msg = failed(&one(&mut chain, lc(org, op.clone())));
        assert!(msg.contains(expected), "{op}: {msg}");
    };
    check("OrgA", json!({"op": "delete", "address": permits}), "unknown op `delete`");
    check("OrgA", json!({"op": "freeze", "address": "0x1234"}), "invalid address `0x1234`");
    check("OrgA", json!({"op": "freeze"}), "missing field `address`");
    check("OrgA", json!({"address": permits}), "missing field `op`");
    check(
        "OrgA",
        json!({"op": "deploy", "code_hash": format!("0x{}", "ab".repeat(32))}),
        "only through a proposal",
    );
    check("OrgA", json!({"op": "freeze", "address": permits, "extra": 1}), "unknown field `extra`");
    let unknown = sender("Nobody");
    check(
        "OrgA",
        json!({"op": "freeze", "address": unknown}),
        &format!("contract {unknown} is not in the contract registry"),
    );
    let big = format!("0x{}", "00".repeat(MAX_CODE_SIZE + 1));
    check(
        "OrgA",
        json!({"op": "upgrade", "address": permits, "code": big}),
        "exceeds the limit of 24576 bytes",
    );
    check("OrgA", json!({"op": "upgrade", "address": permits, "code": "0x"}), "code is empty");
    check("OrgA", json!({"op": "upgrade", "address": permits, "code": "0xef00"}), "EIP-3541");
    check("OrgA", json!({"op": "upgrade", "address": permits, "code": "0xzz"}), "invalid hex");
    check(
        "OrgA",
        json!({"op": "acl", "address": permits, "method": "grant(", "allow": []}),
        "is not a signature",
    );
    check(
        "OrgA",
        json!({"op": "acl", "address": permits, "method": "0x12", "allow": []}),
        "is not `*`, a selector",
    );
    check(
        "OrgA",
        json!({"op": "acl", "address": permits, "method": "*", "allow": ["0x12"]}),
        "invalid address",
    );
    check(
        "OrgA",
        json!({"op": "acl", "address": permits, "method": "*", "allow": [""]}),
        "organization name",
    );
    // Without member organizations there is nothing to propose or vote on.
    check(
        "OrgA",
        json!({"op": "propose", "action": {"op": "freeze", "address": permits}}),
        "no member organizations",
    );
    check("OrgA", json!({"op": "vote", "id": 1, "approve": true}), "no member organizations");
    let msg = failed(&one(&mut chain, raw("OrgA", "contracts", b"\xff not json".to_vec())));
    assert!(msg.contains("invalid payload for contract `contracts`"), "{msg}");
    // Writes are refused in queries.
    let err =
        chain.query("OrgA", "contracts", json!({"op": "freeze", "address": permits}).to_string().as_bytes());
    assert!(err.unwrap_err().to_string().contains("read-only"));
    assert!(
        chain
            .query("OrgA", "contracts", br#"{"op":"proposal","id":7}"#)
            .unwrap_err()
            .to_string()
            .contains("proposal 7 does not exist")
    );

    let mut chain = chain_with(governed(&["OrgA", "OrgB"], 2, &[GovernedAction::Freeze]));
    let permits = created(&one(&mut chain, deploy("OrgA", PERMITS_V1)));
    let msg = failed(&one(&mut chain, lc("OrgA", json!({"op": "vote", "id": 9, "approve": true}))));
    assert!(msg.contains("proposal 9 does not exist"), "{msg}");
    let msg = failed(&one(
        &mut chain,
        lc("OrgA", json!({"op": "propose", "action": {"op": "deploy", "code_hash": "0x12"}})),
    ));
    assert!(msg.contains("code_hash must be 0x followed by 64 hex digits"), "{msg}");
    let msg = failed(&one(
        &mut chain,
        lc("OrgA", json!({"op": "propose", "action": {"op": "unfreeze", "address": permits}})),
    ));
    assert!(msg.contains("is not frozen"), "a proposal that cannot run is refused: {msg}");

    // Policies that cannot work are refused when the executor is built.
    for (policy, expected) in [
        (governed(&["OrgA"], 2, &[]), "threshold 2 exceeds the 1 member organizations"),
        (governed(&[], 0, &[GovernedAction::Upgrade]), "no member organizations"),
        (governed(&["OrgA", "OrgA"], 1, &[]), "named twice"),
    ] {
        let spec = ExecutionSpec {
            engines: vec![EngineKind::Native, EngineKind::Evm],
            evm: Some(EvmConfig { governance: policy, ..EvmConfig::default() }),
        };
        let err = Executor::from_spec(&spec).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn a_chain_without_the_evm_has_no_contracts_contract() {
    let chain = Chain::new();
    let err = chain.query("OrgA", "contracts", br#"{"op":"policy"}"#).unwrap_err().to_string();
    assert!(err.contains("unknown contract `contracts`"), "{err}");
}
