//! The contract lifecycle on a 4-node Raft chain of each suite: Solidity
//! contracts (compiled with solc-js, `testdata_lifecycle`) deployed and
//! called through different nodes; a governed upgrade that runs only once
//! a second member organization (by chain-CA certificate) approves, and
//! keeps the address and the state; freeze and unfreeze; access lists,
//! also for a contract calling another; every node with the same state
//! root afterwards.

use std::time::{Duration, Instant};

use govchain_crypto::{Address, PrivateKey, Suite, keccak256};
use govchain_execution::{
    EngineKind, EvmCall, EvmConfig, EvmCreate, ExecutionSpec,
    evm::{GovernancePolicy, GovernedAction, testdata_lifecycle::*},
};
use govchain_pki::{ChainCa, IssueRequest, Validity};
use govchain_types::{
    Encode, Receipt, Signer, Transaction, TxBody, TxStatus, TxType, api::SubmitMode, now_ms,
};
use serde_json::{Value, json};

use crate::engines::{Cluster, Engine, until};

const GAS: u64 = 1_000_000;
const CHAIN: &str = "engines";

/// A signer acting for an organization through a chain-CA certificate.
struct Member {
    key: PrivateKey,
    cert: Vec<u8>,
    nonce: std::sync::atomic::AtomicU64,
}

impl Member {
    fn new(ca: &ChainCa, suite: Suite, org: &str) -> Member {
        let key = PrivateKey::generate(suite);
        let public = key.public_key().to_spki_pem().expect("pem");
        let validity = Validity::days_from_now(1).expect("validity");
        let pem = ca.issue(&IssueRequest::user("dev", org, public, validity)).expect("issue");
        let cert = der::pem::decode_vec(pem.as_bytes()).expect("certificate PEM").1;
        Member { key, cert, nonce: std::sync::atomic::AtomicU64::new(now_ms()) }
    }

    fn address(&self) -> Address {
        self.key.public_key().address()
    }

    fn tx(&self, tx_type: TxType, recipient: String, data: Vec<u8>) -> Transaction {
        TxBody {
            chain_id: CHAIN.into(),
            tx_type,
            timestamp_ms: now_ms(),
            nonce: self.nonce.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            sender: self.address(),
            recipient,
            data,
            memo: String::new(),
            signers: vec![Signer {
                public_key: self.key.public_key().to_sec1(),
                certificate: Some(self.cert.clone()),
            }],
        }
        .sign(&[&self.key])
        .expect("sign")
    }

    fn deploy(&self, code: &str) -> Transaction {
        let code = hex::decode(code).expect("hex");
        self.tx(TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: GAS }.encode())
    }

    fn call(&self, to: &Address, input: Vec<u8>) -> Transaction {
        self.tx(TxType::EvmCall, to.to_string(), EvmCall { input, gas_limit: GAS }.encode())
    }

    fn contracts(&self, op: Value) -> Transaction {
        self.tx(TxType::Invoke, "contracts".into(), op.to_string().into_bytes())
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

/// Submits through node `i` and waits for the receipt, and for every node
/// to hold its block (so a read through any node sees it); retries
/// refusals while a leader settles.
async fn submit(c: &Cluster, i: usize, tx: &Transaction) -> Receipt {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.node(i).submit(tx.clone(), SubmitMode::Sync).await {
            Ok(r) => {
                let receipt = r.receipt.expect("sync answers with the receipt");
                c.converged(receipt.height).await;
                return receipt;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("{}: submit through node{i}: {e}; retrying", c.suite);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{}: submit through node{i}: {e}", c.suite),
        }
    }
}

fn ok(r: &Receipt) -> &[u8] {
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    &r.output
}

fn ok_json(r: &Receipt) -> Value {
    serde_json::from_slice(ok(r)).expect("JSON output")
}

fn refused(r: &Receipt, expected: &str) {
    assert_eq!(r.status, TxStatus::Failed, "unexpected success");
    assert!(r.message.contains(expected), "expected `{expected}` in: {}", r.message);
}

fn client(c: &Cluster, i: usize) -> &govchain_sdk::Client {
    &c.nodes[i].as_ref().expect("running").client
}

/// A read-only call of an EVM contract through node `i`: the return data.
async fn read(c: &Cluster, i: usize, to: &Address, input: Vec<u8>) -> Result<Vec<u8>, String> {
    let payload = EvmCall { input, gas_limit: GAS }.encode();
    let out = client(c, i).query(&to.to_string(), &payload).await.map_err(|e| e.to_string())?;
    let text = out["output"].as_str().expect("output");
    Ok(hex::decode(text.trim_start_matches("0x")).expect("hex"))
}

async fn uint(c: &Cluster, i: usize, to: &Address, input: Vec<u8>) -> u64 {
    let out = read(c, i, to, input).await.expect("query");
    u64::from_be_bytes(out[24..32].try_into().expect("word"))
}

async fn version(c: &Cluster, i: usize, to: &Address) -> String {
    let out = read(c, i, to, abi("version()", &[])).await.expect("query");
    let len = u64::from_be_bytes(out[56..64].try_into().expect("word")) as usize;
    String::from_utf8(out[64..64 + len].to_vec()).expect("utf-8")
}

async fn info(c: &Cluster, i: usize, to: &Address) -> Value {
    let op = json!({"op": "info", "address": to}).to_string();
    client(c, i).query("contracts", op.as_bytes()).await.expect("info")
}

async fn lifecycle_on_a_raft_chain(suite: Suite) {
    let governance = GovernancePolicy {
        members: vec!["org-a".into(), "org-b".into(), "org-c".into()],
        threshold: 2,
        actions: vec![GovernedAction::Upgrade],
        ..GovernancePolicy::default()
    };
    let c = Cluster::start_on(Engine::Raft, suite, 4, |g| {
        g.execution = ExecutionSpec {
            engines: vec![EngineKind::Native, EngineKind::Evm],
            evm: Some(EvmConfig { governance: governance.clone(), ..EvmConfig::default() }),
        };
    })
    .await;
    c.leader().await;
    let ca = c.ca();
    let (a, b, org_c, outsider) = (
        Member::new(&ca, suite, "org-a"),
        Member::new(&ca, suite, "org-b"),
        Member::new(&ca, suite, "org-c"),
        Member::new(&ca, suite, "org-x"),
    );
    let holder = outsider.address();

    // Deploy (version 1.0, owned by org-a) and call through other nodes.
    let r = submit(&c, 0, &a.deploy(PERMITS_V1)).await;
    let permits = Address(ok(&r).try_into().expect("an address"));
    for i in 1..3 {
        ok(&submit(&c, i, &b.call(&permits, abi("grant(address)", &[word(&holder)]))).await);
    }
    let i = info(&c, 3, &permits).await;
    assert_eq!((i["owner"].as_str(), i["active_version"].as_str()), (Some("org-a"), Some("1.0")), "{suite}");
    assert_eq!(i["versions"][0]["deployer"], a.address().to_string());
    assert_eq!(uint(&c, 3, &permits, abi("total()", &[])).await, 2);

    // The upgrade is governed: it runs once a second member approves.
    let code = format!("0x{PERMITS_V2_RUNTIME}");
    refused(
        &submit(&c, 0, &a.contracts(json!({"op": "upgrade", "address": permits, "code": code}))).await,
        "`upgrade` is governed",
    );
    let propose = json!({"op": "propose", "action": {"op": "upgrade", "address": permits, "code": code}});
    let p = ok_json(&submit(&c, 1, &a.contracts(propose)).await);
    let id = p["id"].as_u64().expect("id");
    assert_eq!(p["status"], "open");
    let vote = json!({"op": "vote", "id": id, "approve": true});
    refused(&submit(&c, 2, &outsider.contracts(vote.clone())).await, "`org-x` is not a member organization");
    refused(&submit(&c, 2, &a.contracts(vote.clone())).await, "has voted on proposal");
    assert_eq!(version(&c, 2, &permits).await, "1.0");
    let r = submit(&c, 3, &b.contracts(vote.clone())).await;
    assert_eq!(ok_json(&r)["status"], "executed", "{suite}");
    assert!(r.events.iter().any(|e| e.contract == "contracts" && e.name == "upgraded"));
    // Same address, same state, the new code.
    assert_eq!(version(&c, 0, &permits).await, "2.0");
    assert_eq!(uint(&c, 0, &permits, abi("grants(address)", &[word(&holder)])).await, 2);
    let r = submit(&c, 0, &b.call(&permits, abi("grant(address)", &[word(&holder)]))).await;
    assert_eq!(u64::from_be_bytes(ok(&r)[24..32].try_into().expect("word")), 4, "{suite}");
    let i = info(&c, 1, &permits).await;
    assert_eq!(
        (i["active_version"].as_str(), i["versions"][1]["proposal"].as_u64()),
        (Some("2.0"), Some(id))
    );
    refused(&submit(&c, 1, &org_c.contracts(vote)).await, "is executed");

    // Frozen: calls are refused, also from another contract; then unfrozen.
    let relay = Address(ok(&submit(&c, 2, &org_c.deploy(RELAY)).await).try_into().expect("an address"));
    let via_relay = abi("grantVia(address,address)", &[word(&permits), word(&holder)]);
    refused(
        &submit(&c, 0, &b.contracts(json!({"op": "freeze", "address": permits}))).await,
        "belongs to organization `org-a`",
    );
    ok(&submit(&c, 0, &a.contracts(json!({"op": "freeze", "address": permits}))).await);
    let frozen = format!("contract {permits} is frozen");
    refused(&submit(&c, 1, &b.call(&permits, abi("grant(address)", &[word(&holder)]))).await, &frozen);
    refused(&submit(&c, 2, &org_c.call(&relay, via_relay.clone())).await, &frozen);
    let err =
        read(&c, 3, &permits, abi("total()", &[])).await.expect_err("a frozen contract refuses queries");
    assert!(err.contains(&frozen), "{err}");
    ok(&submit(&c, 3, &a.contracts(json!({"op": "unfreeze", "address": permits}))).await);
    ok(&submit(&c, 2, &org_c.call(&relay, via_relay.clone())).await);
    assert_eq!(uint(&c, 2, &permits, abi("total()", &[])).await, 6);

    // Access list: only org-b may grant; its calls through the relay are
    // the relay's, which is not listed.
    let acl = json!({"op": "acl", "address": permits, "method": "grant(address)", "allow": ["org-b"]});
    ok(&submit(&c, 1, &a.contracts(acl)).await);
    refused(
        &submit(&c, 2, &org_c.call(&permits, abi("grant(address)", &[word(&holder)]))).await,
        "not on the access list",
    );
    ok(&submit(&c, 3, &b.call(&permits, abi("grant(address)", &[word(&holder)]))).await);
    let r = submit(&c, 0, &b.call(&relay, via_relay)).await;
    refused(&r, &format!("calling contract {relay} is not on the access list"));

    // Every node holds the same chain and the same state.
    let height = r.height;
    c.converged(height).await;
    let mut roots = Vec::new();
    until(&format!("{suite}: every node at height {height}"), || {
        roots = c.running().map(|n| (n.ledger().height().unwrap_or(0), n.ledger().state_root())).collect();
        roots.iter().all(|(h, _)| *h == height)
    })
    .await;
    assert!(roots.iter().all(|(_, root)| *root == roots[0].1), "{suite}: state roots differ: {roots:?}");
    let infos: Vec<Value> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(info(&c, i, &permits).await);
        }
        v
    };
    assert!(infos.iter().all(|x| *x == infos[0]), "{suite}: the registry differs between nodes");
    assert_eq!(infos[0]["acl"]["0x70284d19"], json!(["org-b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_a_gm_raft_chain() {
    lifecycle_on_a_raft_chain(Suite::Gm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_an_intl_k1_raft_chain() {
    lifecycle_on_a_raft_chain(Suite::IntlK1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_an_intl_r1_raft_chain() {
    lifecycle_on_a_raft_chain(Suite::IntlR1).await;
}
