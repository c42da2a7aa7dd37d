//! Debug traces on a running node: `GET|POST /v1/transactions/{id}/trace`
//! re-executes a committed EVM transaction against the ledger's state just
//! before it (earlier transactions of its block included), decodes it
//! with the ABI given, and refuses unknown and non-EVM transactions
//! clearly.

use std::time::Duration;

use govchain_crypto::{PrivateKey, Suite, keccak256};
use govchain_execution::{
    DataCall, EngineKind, EvmCall, EvmConfig, EvmCreate, ExecutionSpec,
    evm::{
        contract_address,
        testdata::{COUNTER, COUNTER_ABI},
        trace::EvmTrace,
    },
};
use govchain_types::{BlockPolicy, Encode, Hash, Receipt, Transaction, TxStatus, TxType, api::SubmitMode};
use serde_json::{Value, json};

use crate::{
    evm::signed,
    support::{TestNode, start_with},
};

const GAS: u64 = 1_000_000;

fn word(n: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

fn hex_word(n: u64) -> String {
    format!("0x{}", hex::encode(word(n)))
}

fn input(signature: &str, args: &[u64]) -> Vec<u8> {
    let mut out = keccak256(signature.as_bytes())[..4].to_vec();
    for a in args {
        out.extend_from_slice(&word(*a));
    }
    out
}

/// Submits `txs` so that they land in one block (the chain cuts a block
/// at three transactions and waits up to 2 s for them), and returns their
/// receipts.
async fn one_block(t: &TestNode, txs: &[Transaction]) -> Vec<Receipt> {
    let (last, first) = txs.split_last().expect("transactions");
    for tx in first {
        t.client.submit(tx, SubmitMode::Async).await.expect("admitted");
    }
    t.client.submit(last, SubmitMode::Sync).await.expect("admitted");
    let mut receipts = Vec::new();
    for tx in txs {
        let id = tx.id(Suite::IntlK1);
        receipts.push(t.client.receipt(&id).await.unwrap().expect("committed with the block"));
    }
    receipts
}

async fn get(t: &TestNode, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", t.url)).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn post(t: &TestNode, path: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", t.url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn trace_of(status: u16, body: Value) -> EvmTrace {
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn sstores(trace: &EvmTrace) -> Vec<(String, String, String)> {
    trace
        .steps
        .iter()
        .filter_map(|s| s.storage.as_ref().filter(|a| a.kind == "write"))
        .map(|a| (a.slot.clone(), a.before.clone(), a.after.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_of_committed_evm_transactions_are_recomputed_decoded_and_bounded() {
    let t = start_with(Suite::IntlK1, |g| {
        g.execution = ExecutionSpec {
            engines: vec![EngineKind::Native, EngineKind::Evm],
            evm: Some(EvmConfig::default()),
        };
        g.block_policy =
            BlockPolicy { max_txs: 3, max_wait: Duration::from_secs(2), ..BlockPolicy::default() };
    })
    .await;
    let key = PrivateKey::generate(Suite::IntlK1);
    let me = key.public_key().address();
    let counter = contract_address(&me, 0);
    let call = |nonce, data: Vec<u8>| {
        signed(
            &key,
            nonce,
            TxType::EvmCall,
            counter.to_string(),
            EvmCall { input: data, gas_limit: GAS }.encode(),
        )
    };

    // One block: deploy (count = 10), increment(1), increment(2).
    let code = [hex::decode(COUNTER).unwrap(), word(10).to_vec()].concat();
    let deploy =
        signed(&key, 1, TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: GAS }.encode());
    let block =
        [deploy, call(2, input("increment(uint256)", &[1])), call(3, input("increment(uint256)", &[2]))];
    let receipts = one_block(&t, &block).await;
    assert!(receipts.iter().all(|r| r.status == TxStatus::Success && r.height == receipts[0].height));
    assert_eq!(receipts.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2]);

    // The third runs on the state the first two left: 11 -> 13.
    let id = receipts[2].tx_id;
    let (status, body) = post(
        &t,
        &format!("/v1/transactions/{id}/trace"),
        &json!({"abi": serde_json::from_str::<Value>(COUNTER_ABI).unwrap()}).to_string(),
    )
    .await;
    let trace = trace_of(status, body);
    assert_eq!((trace.tx_id, trace.height, trace.index), (id, receipts[2].height, 2));
    assert_eq!(trace.to, counter.to_string());
    assert!(trace.result.success);
    assert_eq!(trace.result.output, hex_word(13));
    let ops: Vec<&str> = trace.steps.iter().map(|s| s.op.as_str()).collect();
    for op in ["CALLDATALOAD", "SLOAD", "SSTORE", "LOG2", "RETURN"] {
        assert!(ops.contains(&op), "{op} missing");
    }
    assert_eq!(sstores(&trace)[0], (hex_word(0), hex_word(11), hex_word(13)));
    let decoded = trace.decoded.as_ref().expect("decoded with the ABI");
    assert_eq!(decoded.function, "increment");
    assert_eq!(decoded.inputs[0].value, "2");
    assert_eq!(decoded.outputs.as_ref().unwrap()[0].value, "13");
    let event = trace.logs[0].decoded.as_ref().expect("decoded event");
    assert_eq!(event.name, "Incremented");
    assert_eq!(event.params[0].value, json!(me.to_string()));
    assert_eq!(event.params[2].value, "13");

    // GET: no decoding; the step limit truncates.
    let (status, body) = get(&t, &format!("/v1/transactions/{id}/trace?step_limit=20&memory_bytes=0")).await;
    let short = trace_of(status, body);
    assert!(short.truncated && short.decoded.is_none());
    assert_eq!(short.steps.len(), 20);
    assert_eq!(short.step_count, trace.step_count);
    assert_eq!(short.result, trace.result);

    // The deployment itself traces as a create.
    let (status, body) = get(&t, &format!("/v1/transactions/{}/trace", receipts[0].tx_id)).await;
    let created = trace_of(status, body);
    assert_eq!((created.kind.as_str(), created.to.clone()), ("create", counter.to_string()));

    // Another block: a revert, a native transaction, an increment.
    let put = DataCall::Put { key: "k".into(), value: "v".into() }.encode();
    let native = signed(&key, 4, TxType::Invoke, "data".into(), put);
    let block = [call(5, input("fail()", &[])), native, call(6, input("increment(uint256)", &[4]))];
    let receipts = one_block(&t, &block).await;
    assert_eq!(receipts[0].status, TxStatus::Failed);
    let (status, body) = post(
        &t,
        &format!("/v1/transactions/{}/trace", receipts[0].tx_id),
        &json!({"abi": serde_json::from_str::<Value>(COUNTER_ABI).unwrap(), "step_limit": 5000}).to_string(),
    )
    .await;
    let reverted = trace_of(status, body);
    assert_eq!(reverted.result.status, "reverted");
    assert_eq!(reverted.result.revert_reason.as_deref(), Some("always fails"));
    assert_eq!(reverted.decoded.as_ref().unwrap().revert.as_deref(), Some("always fails"));
    assert_eq!(sstores(&reverted), vec![(hex_word(0), hex_word(13), hex_word(999))]);
    assert!(reverted.storage_changes.is_empty());
    // The increment after them still sees 13: the revert left nothing.
    let (status, body) = get(&t, &format!("/v1/transactions/{}/trace", receipts[2].tx_id)).await;
    assert_eq!(sstores(&trace_of(status, body))[0], (hex_word(0), hex_word(13), hex_word(17)));

    // Clear refusals.
    let (status, body) = get(&t, &format!("/v1/transactions/{}/trace", receipts[1].tx_id)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_evm")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("invoke"), "{body}");
    let (status, body) = get(&t, &format!("/v1/transactions/{}/trace", Hash([7; 32]))).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = get(&t, "/v1/transactions/xyz/trace").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_hash")), "{body}");
    let (status, body) = get(&t, &format!("/v1/transactions/{id}/trace?step_limit=0")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_options")), "{body}");
    let (status, body) = post(&t, &format!("/v1/transactions/{id}/trace"), "{\"abi\": 5}").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_abi")), "{body}");
    let (status, body) = post(&t, &format!("/v1/transactions/{id}/trace"), "{\"steps\": 5}").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")), "{body}");
    // The node keeps committing.
    let r = t.client.submit(&call(7, input("increment(uint256)", &[1])), SubmitMode::Sync).await.unwrap();
    assert_eq!(r.receipt.unwrap().status, TxStatus::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_the_evm_has_no_traces() {
    let t = start_with(Suite::IntlR1, |_| {}).await;
    let key = PrivateKey::generate(Suite::IntlR1);
    let tx = signed(
        &key,
        1,
        TxType::EvmCall,
        format!("0x{}", "11".repeat(20)),
        EvmCall { input: vec![], gas_limit: GAS }.encode(),
    );
    let r = t.client.submit(&tx, SubmitMode::Sync).await.unwrap().receipt.unwrap();
    assert_eq!(r.status, TxStatus::Failed);
    let (status, body) = get(&t, &format!("/v1/transactions/{}/trace", r.tx_id)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_evm")), "{body}");
}
