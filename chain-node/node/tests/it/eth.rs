//! Ethereum-signed transactions and the Ethereum JSON-RPC (`POST /v1/eth`)
//! on a running node: every envelope type deploys and calls a Solidity
//! contract, receipts, blocks and logs have the wire shape tools expect,
//! every refusal has its reason, replay is refused, the protocol's error
//! codes, and a 4-node Raft chain agreeing on the state root with
//! Ethereum transactions in its blocks.

use std::time::{Duration, Instant};

use govchain_crypto::{PrivateKey, Suite, keccak256};
use govchain_execution::{
    EngineKind, EvmConfig, ExecutionSpec,
    evm::{
        contract_address,
        ethtx::testing::{Envelope, Unsigned, sign},
        store::slot_key,
        testdata::COUNTER,
    },
};
use govchain_node::config::Genesis;
use govchain_types::{TxStatus, TxType, api::SubmitMode};
use serde_json::{Value, json};

use crate::{
    engines::{Cluster, Engine},
    evm::{abi, uint as word},
    support::{TestNode, start_with},
};

const CHAIN_ID: u64 = 4242;
const GAS: u64 = 1_000_000;
const WAIT: Duration = Duration::from_secs(30);

fn evm_genesis(g: &mut Genesis) {
    g.execution = ExecutionSpec {
        engines: vec![EngineKind::Native, EngineKind::Evm],
        evm: Some(EvmConfig { chain_id: CHAIN_ID, ..EvmConfig::default() }),
    };
}

async fn evm_node(suite: Suite) -> TestNode {
    start_with(suite, evm_genesis).await
}

fn address_of(key: &[u8; 32]) -> govchain_crypto::Address {
    PrivateKey::from_scalar_bytes(Suite::IntlK1, key).unwrap().address()
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn tx(envelope: Envelope, nonce: u64, to: Option<[u8; 20]>, input: Vec<u8>) -> Unsigned {
    Unsigned { envelope, chain_id: Some(CHAIN_ID), nonce, to, input, gas_limit: GAS, value: 0 }
}

/// The whole JSON-RPC answer to `body`.
async fn post(url: &str, body: &Value) -> Value {
    let response = reqwest::Client::new().post(format!("{url}/v1/eth")).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Calls `method`; the answer's `result`, or its `error` as `Err`.
async fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let answer = post(url, &json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params })).await;
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["jsonrpc"], "2.0");
    match answer.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(answer["result"].clone()),
    }
}

async fn ok(url: &str, method: &str, params: Value) -> Value {
    rpc(url, method, params).await.unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn refused(url: &str, method: &str, params: Value) -> (i64, String) {
    let e = rpc(url, method, params).await.expect_err(method);
    (e["code"].as_i64().unwrap(), e["message"].as_str().unwrap().to_owned())
}

/// Sends a raw transaction and waits for its receipt through the JSON-RPC.
async fn send(url: &str, raw: &[u8]) -> Value {
    let hash = ok(url, "eth_sendRawTransaction", json!([hex0x(raw)])).await;
    assert_eq!(hash, hex0x(&keccak256(raw)), "the hash is keccak256 of the envelope");
    receipt(url, &hash).await
}

async fn receipt(url: &str, hash: &Value) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = ok(url, "eth_getTransactionReceipt", json!([hash])).await;
        if !r.is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quantity(n: u64) -> Value {
    json!(format!("{n:#x}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_envelope_type_deploys_and_calls_a_contract_through_json_rpc() {
    let t = evm_node(Suite::IntlK1).await;
    let url = &t.url;
    let key = [0x11; 32];
    let me = address_of(&key);
    assert_eq!(ok(url, "eth_chainId", json!([])).await, quantity(CHAIN_ID));
    assert_eq!(ok(url, "net_version", json!([])).await, json!(CHAIN_ID.to_string()));
    assert!(ok(url, "web3_clientVersion", json!([])).await.as_str().unwrap().starts_with("govchain/"));
    assert_eq!(ok(url, "eth_accounts", json!([])).await, json!([]));
    assert_eq!(ok(url, "eth_syncing", json!([])).await, json!(false));
    assert_eq!(ok(url, "eth_gasPrice", json!([])).await, quantity(0));
    assert_eq!(ok(url, "eth_maxPriorityFeePerGas", json!([])).await, quantity(0));
    let nonce = |n| async move {
        ok(url, "eth_getTransactionCount", json!([me.to_string(), "pending"])).await == quantity(n)
    };
    assert!(nonce(0).await);

    // Deploy with a legacy (EIP-155) transaction.
    let code = [hex::decode(COUNTER).unwrap(), word(5).to_vec()].concat();
    let raw = sign(&key, &tx(Envelope::Legacy, 0, None, code));
    let r = send(url, &raw).await;
    let counter = contract_address(&me, 0);
    assert_eq!(r["status"], "0x1", "{r}");
    assert_eq!(r["contractAddress"], counter.to_string());
    assert_eq!(r["from"], me.to_string());
    assert_eq!(r["to"], Value::Null);
    assert_eq!(r["type"], "0x0");
    assert_ne!(r["gasUsed"], "0x0");
    let block = ok(url, "eth_getBlockByNumber", json!([r["blockNumber"], false])).await;
    assert_eq!(block["hash"], r["blockHash"]);
    assert!(block["transactions"].as_array().unwrap().contains(&r["transactionHash"]));
    assert_eq!(ok(url, "eth_getBlockByHash", json!([r["blockHash"], false])).await, block);
    assert!(nonce(1).await);
    let deployed = ok(url, "eth_getCode", json!([counter.to_string(), "latest"])).await;
    assert!(deployed.as_str().unwrap().len() > 100, "{deployed}");

    // Calls with EIP-2930 and EIP-1559 transactions; logs with indexes.
    let topic = hex0x(&keccak256(b"Incremented(address,uint256,uint256)"));
    let inc = |n| abi("increment(uint256)", &[word(n)]);
    let r = send(url, &sign(&key, &tx(Envelope::Eip2930, 1, Some(counter.0), inc(2)))).await;
    assert_eq!((r["status"].as_str(), r["type"].as_str()), (Some("0x1"), Some("0x1")), "{r}");
    let log = &r["logs"][0];
    assert_eq!(log["address"], counter.to_string());
    assert_eq!(log["topics"][0], topic);
    assert_eq!(log["topics"][1], hex0x(&[[0u8; 12].as_slice(), &me.0].concat()));
    assert_eq!(log["logIndex"], "0x0");
    assert_eq!(log["transactionHash"], r["transactionHash"]);
    assert_ne!(r["logsBloom"], hex0x(&[0; 256]));
    let raw = sign(&key, &tx(Envelope::Eip1559, 2, Some(counter.0), inc(3)));
    let r = send(url, &raw).await;
    assert_eq!((r["status"].as_str(), r["type"].as_str()), (Some("0x1"), Some("0x2")), "{r}");
    let seen = ok(url, "eth_getTransactionByHash", json!([r["transactionHash"]])).await;
    assert_eq!(seen["from"], me.to_string());
    assert_eq!(seen["to"], counter.to_string());
    assert_eq!(seen["nonce"], "0x2");
    assert_eq!(seen["type"], "0x2");
    assert_eq!(seen["chainId"], quantity(CHAIN_ID));
    assert_eq!(seen["input"], hex0x(&inc(3)));
    assert_eq!(seen["blockHash"], r["blockHash"]);
    let full = ok(url, "eth_getBlockByNumber", json!([r["blockNumber"], true])).await;
    assert_eq!(full["transactions"][0]["hash"], r["transactionHash"]);

    // Reads of the state the transactions wrote.
    let count = json!({ "to": counter.to_string(), "data": hex0x(&abi("count()", &[])) });
    assert_eq!(ok(url, "eth_call", json!([count, "latest"])).await, hex0x(&word(10)));
    assert_eq!(
        ok(url, "eth_getStorageAt", json!([counter.to_string(), "0x0", "latest"])).await,
        hex0x(&word(10))
    );
    assert_eq!(ok(url, "eth_getBalance", json!([me.to_string(), "latest"])).await, quantity(0));
    let logs = ok(
        url,
        "eth_getLogs",
        json!([{ "fromBlock": "0x0", "address": counter.to_string(), "topics": [topic] }]),
    )
    .await;
    assert_eq!(logs.as_array().unwrap().len(), 2, "{logs}");
    let estimate = ok(
        url,
        "eth_estimateGas",
        json!([{ "from": me.to_string(), "to": counter.to_string(), "data": hex0x(&inc(1)) }]),
    )
    .await;
    let estimate = u64::from_str_radix(estimate.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!((21_000..GAS).contains(&estimate), "{estimate}");

    // A revert: the call and the estimate answer code 3 with the revert
    // data; as a transaction it fails and leaves the nonce as it was.
    let fail =
        json!({ "from": me.to_string(), "to": counter.to_string(), "data": hex0x(&abi("fail()", &[])) });
    for method in ["eth_call", "eth_estimateGas"] {
        let e = rpc(url, method, json!([fail])).await.expect_err(method);
        assert_eq!(e["code"], 3, "{e}");
        assert_eq!(e["message"], "execution reverted: always fails");
        assert!(e["data"].as_str().unwrap().starts_with("0x08c379a0"), "{e}");
    }
    let failing = sign(&key, &tx(Envelope::Eip1559, 3, Some(counter.0), abi("fail()", &[])));
    let r = send(url, &failing).await;
    assert_eq!(r["status"], "0x0", "{r}");
    assert_ne!(r["gasUsed"], "0x0", "a revert used gas");
    assert_eq!(r["logs"], json!([]));
    assert!(nonce(3).await, "a failed transaction leaves the nonce unchanged");

    // Replay of any of them is refused, and so is a used nonce.
    for raw in [&raw, &failing] {
        let (code, message) = refused(url, "eth_sendRawTransaction", json!([hex0x(raw)])).await;
        assert_eq!(code, -32000);
        assert!(message.contains("already known"), "{message}");
    }
    let stale = sign(&key, &tx(Envelope::Eip1559, 2, Some(counter.0), inc(9)));
    let (_, message) = refused(url, "eth_sendRawTransaction", json!([hex0x(&stale)])).await;
    assert!(message.starts_with("nonce too low"), "{message}");
    // A nonce ahead of the account's is admitted, then fails without effect.
    let ahead = sign(&key, &tx(Envelope::Legacy, 7, Some(counter.0), inc(9)));
    let r = send(url, &ahead).await;
    assert_eq!(r["status"], "0x0");
    let id = govchain_types::Hash(keccak256(&ahead));
    let stored = t.node.ledger().receipt(&id).unwrap().unwrap();
    assert!(stored.message.contains("nonce too high"), "{}", stored.message);
    assert_eq!(ok(url, "eth_call", json!([count])).await, hex0x(&word(10)));
    // The reused nonce 3 is still free: the next transaction takes it.
    let r = send(url, &sign(&key, &tx(Envelope::Legacy, 3, Some(counter.0), inc(1)))).await;
    assert_eq!(r["status"], "0x1");
    assert!(nonce(4).await);
    let (tx_on_chain, _) = t.node.ledger().transaction(&id).unwrap().unwrap();
    assert_eq!(tx_on_chain.body.tx_type, TxType::Ethereum);
    assert_eq!(tx_on_chain.body.sender, me);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ethereum_transactions_are_refused_with_their_reason() {
    let t = evm_node(Suite::IntlK1).await;
    let url = &t.url;
    let key = [0x22; 32];
    let send_raw =
        |raw: Vec<u8>| async move { refused(url, "eth_sendRawTransaction", json!([hex0x(&raw)])).await };
    let call = || tx(Envelope::Eip1559, 0, Some([9; 20]), vec![1]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "the raw transaction is empty"),
        (hex::decode("deadbeef").unwrap(), "not a valid EIP-2718 transaction envelope"),
        (vec![0x02; 200 * 1024], "more than the limit of 131072"),
        (
            sign(&key, &Unsigned { chain_id: Some(1), ..call() }),
            "signed for chain id 1, this chain's id is 4242",
        ),
        (sign(&key, &Unsigned { chain_id: None, envelope: Envelope::Legacy, ..call() }), "EIP-155"),
        (sign(&key, &Unsigned { value: 5, ..call() }), "value must be 0"),
    ];
    for (raw, reason) in cases {
        let (code, message) = send_raw(raw).await;
        assert_eq!(code, -32000, "{message}");
        assert!(message.contains(reason), "{message} should say {reason}");
    }
    // A high `s` (the other of the two valid signatures) is refused (EIP-2).
    let mut high_s = sign(&key, &call());
    let at = high_s.len() - 33;
    assert_eq!(high_s[at], 0xa0, "s is 32 bytes long for this key and transaction");
    high_s[at + 1] = 0xff;
    let (_, message) = send_raw(high_s).await;
    assert!(message.contains("invalid transaction signature"), "{message}");
    let (code, _) = refused(url, "eth_sendRawTransaction", json!(["0xzz"])).await;
    assert_eq!(code, -32602);

    // A body that does not match its envelope is refused on the REST path too.
    let raw = sign(&key, &call());
    let mut wrapped =
        govchain_execution::evm::ethtx::wrap(&raw, Suite::IntlK1, "test-chain", CHAIN_ID).expect("wraps");
    wrapped.body.nonce = 1;
    let err = t.node.submit(wrapped, SubmitMode::Sync).await.unwrap_err();
    assert_eq!(err.code(), "invalid_ethereum_transaction");
    assert!(err.to_string().contains("nonce differs"), "{err}");
    // Nothing was admitted.
    assert_eq!(ok(url, "eth_blockNumber", json!([])).await, quantity(0));

    // Other suites, and chains without the evm engine, refuse.
    let r1 = evm_node(Suite::IntlR1).await;
    let (code, message) = refused(&r1.url, "eth_sendRawTransaction", json!([hex0x(&raw)])).await;
    assert_eq!(code, -32000);
    assert!(message.contains("intl-k1 chains only"), "{message}");
    let (_, message) = refused(&r1.url, "eth_chainId", json!([])).await;
    assert!(message.contains("intl-k1 chains only"), "{message}");
    let native = start_with(Suite::IntlK1, |_| {}).await;
    let (_, message) = refused(&native.url, "eth_sendRawTransaction", json!([hex0x(&raw)])).await;
    assert!(message.contains("does not run the evm engine"), "{message}");
    let err = native.node.submit_ethereum(&raw).await.unwrap_err();
    assert_eq!(err.code(), "invalid_ethereum_transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_rpc_speaks_the_protocol_and_its_error_codes() {
    let t = evm_node(Suite::IntlK1).await;
    let url = &t.url;
    // A batch keeps ids and order; a notification gets no answer.
    let batch = json!([
        { "jsonrpc": "2.0", "id": "a", "method": "eth_chainId" },
        { "jsonrpc": "2.0", "method": "eth_blockNumber" },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": [] },
        { "jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": [] },
        { "id": 4, "method": "eth_chainId" },
        { "jsonrpc": "2.0", "id": 5, "method": "eth_getBalance", "params": { "a": 1 } },
        17,
    ]);
    let answers = post(url, &batch).await;
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 6, "{answers:?}");
    assert_eq!(answers[0], json!({ "jsonrpc": "2.0", "id": "a", "result": quantity(CHAIN_ID) }));
    assert_eq!((answers[1]["id"].clone(), answers[1]["error"]["code"].clone()), (json!(2), json!(-32601)));
    assert_eq!(answers[2]["id"], 3);
    assert_eq!(answers[2]["result"], "0x0");
    assert_eq!((answers[3]["id"].clone(), answers[3]["error"]["code"].clone()), (json!(4), json!(-32600)));
    assert_eq!(answers[4]["error"]["code"], -32602);
    assert_eq!((answers[5]["id"].clone(), answers[5]["error"]["code"].clone()), (Value::Null, json!(-32600)));

    let code = |v: Value| v["error"]["code"].as_i64();
    let raw = reqwest::Client::new().post(format!("{url}/v1/eth")).body("{not json").send().await.unwrap();
    assert_eq!(code(raw.json().await.unwrap()), Some(-32700));
    assert_eq!(code(post(url, &json!([])).await), Some(-32600));
    let too_many: Vec<Value> =
        (0..101).map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "eth_chainId" })).collect();
    assert_eq!(code(post(url, &json!(too_many)).await), Some(-32600));

    // Bad parameters, unknown things, bounded log queries, latest state only.
    let bad = [
        ("eth_getBalance", json!(["0x12", "latest"])),
        ("eth_getTransactionCount", json!([])),
        ("eth_getTransactionReceipt", json!(["0x1234"])),
        ("eth_getBlockByNumber", json!(["sometime", false])),
        ("eth_call", json!(["to"])),
    ];
    for (method, params) in bad {
        assert_eq!(refused(url, method, params.clone()).await.0, -32602, "{method} {params}");
    }
    let unknown = hex0x(&[0xab; 32]);
    assert_eq!(ok(url, "eth_getTransactionReceipt", json!([unknown])).await, Value::Null);
    assert_eq!(ok(url, "eth_getTransactionByHash", json!([unknown])).await, Value::Null);
    assert_eq!(ok(url, "eth_getBlockByHash", json!([unknown, false])).await, Value::Null);
    assert_eq!(ok(url, "eth_getBlockByNumber", json!(["0x999", false])).await, Value::Null);
    let genesis = ok(url, "eth_getBlockByNumber", json!(["earliest", false])).await;
    assert_eq!(genesis["number"], "0x0");
    assert_eq!(genesis["baseFeePerGas"], "0x0");
    let (code, message) =
        refused(url, "eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": "0x5000" }])).await;
    assert_eq!(code, -32000);
    assert!(message.contains("more than 1000 blocks"), "{message}");
    assert_eq!(ok(url, "eth_getLogs", json!([{}])).await, json!([]));
    let (code, message) = refused(url, "eth_getCode", json!([hex0x(&[1; 20]), "0x5"])).await;
    assert_eq!(code, -32000);
    assert!(message.contains("not committed yet"), "{message}");
    let history = ok(url, "eth_feeHistory", json!(["0x4", "latest", [50]])).await;
    assert_eq!(history["baseFeePerGas"], json!(["0x0", "0x0"]), "one block so far");
}

/// A 4-node Raft chain on intl-k1: Ethereum-signed transactions sent
/// through every member (followers forward them) commit once, and every
/// member reaches the same state root and the same receipts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_node_raft_chain_agrees_on_the_state_root_with_ethereum_transactions() {
    let c = Cluster::start_on(Engine::Raft, Suite::IntlK1, 4, evm_genesis).await;
    c.leader().await;
    let key = [0x33; 32];
    let me = address_of(&key);
    let counter = contract_address(&me, 0);
    let code = [hex::decode(COUNTER).unwrap(), word(1).to_vec()].concat();
    let raws = [
        sign(&key, &tx(Envelope::Legacy, 0, None, code)),
        sign(&key, &tx(Envelope::Eip2930, 1, Some(counter.0), abi("increment(uint256)", &[word(2)]))),
        sign(&key, &tx(Envelope::Eip1559, 2, Some(counter.0), abi("fail()", &[]))),
        sign(&key, &tx(Envelope::Eip1559, 2, Some(counter.0), abi("increment(uint256)", &[word(3)]))),
    ];
    let mut height = 0;
    for (i, raw) in raws.iter().enumerate() {
        let node = c.node(i % 4);
        let deadline = Instant::now() + WAIT;
        let id = loop {
            match node.submit_ethereum(raw).await {
                Ok(id) => break id,
                Err(e) if Instant::now() < deadline && e.code() != "invalid_ethereum_transaction" => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("node{}: {e}", i % 4),
            }
        };
        assert_eq!(id.0, keccak256(raw));
        let deadline = Instant::now() + WAIT;
        let receipt = loop {
            if let Some(r) = node.ledger().receipt(&id).unwrap() {
                break r;
            }
            assert!(Instant::now() < deadline, "no receipt for transaction {i}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(receipt.status == TxStatus::Success, i != 2, "transaction {i}: {}", receipt.message);
        height = height.max(receipt.height);
    }
    c.converged(height).await;
    let leader = c.node(0).ledger();
    let root = leader.state_root();
    for node in c.running() {
        let ledger = node.ledger();
        assert_eq!(ledger.state_root(), root);
        for raw in &raws {
            let id = govchain_types::Hash(keccak256(raw));
            assert_eq!(ledger.receipt(&id).unwrap(), leader.receipt(&id).unwrap());
        }
        let count = ledger.get("evm", &slot_key(&counter.0, &word(0))).unwrap();
        assert_eq!(count, Some(word(6).to_vec()));
    }
}
