//! The EVM engine on a running node: a chain whose genesis names `evm`
//! deploys and calls a Solidity contract through the API on every suite,
//! with the contract's state readable from the ledger; a chain that does
//! not name it refuses EVM transactions.

use govchain_crypto::{PrivateKey, Suite, keccak256};
use govchain_execution::{
    EngineKind, EvmCall, EvmConfig, EvmCreate, EvmLog, ExecutionSpec,
    evm::{contract_address, store::slot_key, testdata::COUNTER},
};
use govchain_types::{Encode, Receipt, Transaction, TxBody, TxStatus, TxType, api::SubmitMode, now_ms};

use crate::support::{TestNode, start, start_with};

const GAS: u64 = 1_000_000;

pub fn uint(n: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

pub fn abi(signature: &str, args: &[[u8; 32]]) -> Vec<u8> {
    let mut out = keccak256(signature.as_bytes())[..4].to_vec();
    for a in args {
        out.extend_from_slice(a);
    }
    out
}

pub(crate) fn signed(
    key: &PrivateKey,
    nonce: u64,
    tx_type: TxType,
    recipient: String,
    data: Vec<u8>,
) -> Transaction {
    TxBody {
        chain_id: "test-chain".into(),
        tx_type,
        timestamp_ms: now_ms(),
        nonce,
        sender: key.public_key().address(),
        recipient,
        data,
        memo: String::new(),
        signers: Vec::new(),
    }
    .sign(&[key])
    .expect("sign")
}

fn call(key: &PrivateKey, nonce: u64, to: &govchain_crypto::Address, input: Vec<u8>) -> Transaction {
    signed(key, nonce, TxType::EvmCall, to.to_string(), EvmCall { input, gas_limit: GAS }.encode())
}

async fn submit(t: &TestNode, tx: &Transaction) -> Receipt {
    t.client.submit(tx, SubmitMode::Sync).await.expect("admitted").receipt.expect("receipt")
}

fn output(r: &Receipt) -> &[u8] {
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    &r.output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_whose_genesis_names_evm_runs_solidity_on_every_suite() {
    for suite in Suite::ALL {
        let t = start_with(suite, |g| {
            g.execution = ExecutionSpec {
                engines: vec![EngineKind::Native, EngineKind::Evm],
                evm: Some(EvmConfig { chain_id: 4242, ..EvmConfig::default() }),
            };
        })
        .await;
        let key = PrivateKey::generate(suite);
        let me = key.public_key().address();

        let code = [hex::decode(COUNTER).unwrap(), uint(5).to_vec()].concat();
        let deploy =
            signed(&key, 1, TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: GAS }.encode());
        let r = submit(&t, &deploy).await;
        let counter = contract_address(&me, 0);
        assert_eq!(output(&r), counter.0, "{suite}");

        let r = submit(&t, &call(&key, 2, &counter, abi("increment(uint256)", &[uint(2)]))).await;
        assert_eq!(output(&r), uint(7), "{suite}");
        let log = EvmLog::from_event(&r.events[0]).expect("an EVM log");
        assert_eq!(log.address, counter.0);
        assert_eq!(log.topics[0], keccak256(b"Incremented(address,uint256,uint256)"));
        assert_eq!(log.topics[1][12..], me.0);
        // The receipt is stored as executed.
        let stored = t.client.receipt(&r.tx_id).await.unwrap().expect("stored receipt");
        assert_eq!(stored, r);

        // The contract's storage is ledger state, under the `evm` key space.
        let slot = t.client.state("evm", &slot_key(&counter.0, &uint(0))).await.unwrap();
        assert_eq!(slot.value_hex, Some(hex::encode(uint(7))), "{suite}");

        // A read-only call through the query endpoint, in binary and JSON.
        let count = EvmCall { input: abi("count()", &[]), gas_limit: GAS };
        let answer = t.client.query(&counter.to_string(), &count.encode()).await.unwrap();
        assert_eq!(answer["output"], format!("0x{}", hex::encode(uint(7))));
        let json: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/query/{counter}", t.url))
            .json(&count)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(json, answer);
        // A query runs a writing function but keeps nothing.
        let inc = EvmCall { input: abi("increment(uint256)", &[uint(1)]), gas_limit: GAS };
        let answer = t.client.query(&counter.to_string(), &inc.encode()).await.unwrap();
        assert_eq!(answer["output"], format!("0x{}", hex::encode(uint(8))));
        let fail = EvmCall { input: abi("fail()", &[]), gas_limit: GAS }.encode();
        let err = t.client.query(&counter.to_string(), &fail).await.unwrap_err().to_string();
        assert!(err.contains("execution reverted: always fails"), "{err}");

        // The EVM sees the genesis chain id and the sender's chain address,
        // which on intl-k1 is the key's Ethereum address.
        let r = submit(&t, &call(&key, 3, &counter, abi("env()", &[]))).await;
        let out = output(&r);
        assert_eq!(out[..32], uint(4242));
        assert_eq!(out[96 + 12..128], me.0);
        if suite == Suite::IntlK1 {
            let ethereum = keccak256(&key.public_key().sec1_bytes()[1..]);
            assert_eq!(me.0, ethereum[12..]);
        }

        // A revert is a failed receipt with its reason; the node goes on.
        let r = submit(&t, &call(&key, 4, &counter, abi("fail()", &[]))).await;
        assert_eq!(r.status, TxStatus::Failed);
        assert!(r.message.starts_with("execution reverted: always fails"), "{}", r.message);
        let slot = t.client.state("evm", &slot_key(&counter.0, &uint(0))).await.unwrap();
        assert_eq!(slot.value_hex, Some(hex::encode(uint(7))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_the_evm_engine_refuses_evm_transactions() {
    let t = start(Suite::IntlR1).await;
    let key = PrivateKey::generate(Suite::IntlR1);
    let code = hex::decode(COUNTER).unwrap();
    let deploy =
        signed(&key, 1, TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: GAS }.encode());
    let r = submit(&t, &deploy).await;
    assert_eq!(r.status, TxStatus::Failed);
    assert_eq!(r.message, "no execution engine of this chain runs `evm_create` transactions");
    let count = EvmCall { input: abi("count()", &[]), gas_limit: GAS }.encode();
    let err = t.client.query(&format!("0x{}", "42".repeat(20)), &count).await.unwrap_err().to_string();
    assert!(err.contains("no execution engine of this chain runs `evm_call` transactions"), "{err}");
}
