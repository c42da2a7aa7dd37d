//! A tiny in-memory chain: executes blocks and applies their writes.

use govchain_crypto::Address;
use govchain_execution::{BlockOutcome, DataCall, Executor, MemState, TxContext};
use govchain_types::{Encode, Hash, Receipt, Transaction, TxBody, TxStatus, TxType};
use serde_json::Value;

pub struct Chain {
    pub state: MemState,
    pub exec: Executor,
    pub height: u64,
    next_tx: u64,
}

/// One transaction to put in a block.
pub struct Call {
    pub org: String,
    pub contract: String,
    pub data: Vec<u8>,
    pub tx_type: TxType,
}

pub fn data(org: &str, call: &DataCall) -> Call {
    raw(org, "data", call.encode())
}

pub fn raw(org: &str, contract: &str, data: Vec<u8>) -> Call {
    Call { org: org.to_owned(), contract: contract.to_owned(), data, tx_type: TxType::Invoke }
}

pub fn tx(call: &Call, nonce: u64) -> Transaction {
    Transaction {
        body: TxBody {
            chain_id: "test".into(),
            tx_type: call.tx_type,
            timestamp_ms: 0,
            nonce,
            sender: sender(&call.org),
            recipient: call.contract.clone(),
            data: call.data.clone(),
            memo: String::new(),
            signers: Vec::new(),
        },
        signatures: Vec::new(),
    }
}

/// A distinct address per organization.
pub fn sender(org: &str) -> Address {
    let mut a = [0u8; 20];
    for (i, b) in org.bytes().enumerate().take(20) {
        a[i] = b;
    }
    Address(a)
}

pub fn tx_hash(n: u64) -> Hash {
    let mut h = [0u8; 32];
    h[24..].copy_from_slice(&n.to_be_bytes());
    h[0] = 0xab;
    Hash(h)
}

impl Chain {
    pub fn new() -> Self {
        Chain { state: MemState::new(), exec: Executor::new(), height: 0, next_tx: 1 }
    }

    pub fn contexts(&mut self, calls: &[Call]) -> Vec<(Transaction, TxContext)> {
        let height = self.height + 1;
        calls
            .iter()
            .map(|c| {
                let n = self.next_tx;
                self.next_tx += 1;
                let ctx = TxContext {
                    tx_id: tx_hash(n),
                    sender: sender(&c.org),
                    org: c.org.clone(),
                    height,
                    timestamp_ms: 1_700_000_000_000 + height * 1000,
                };
                (tx(c, n), ctx)
            })
            .collect()
    }

    /// Executes one block and commits its writes.
    pub fn block(&mut self, calls: &[Call]) -> BlockOutcome {
        let txs = self.contexts(calls);
        let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
        let outcome = self.exec.execute_block(&self.state, &refs).expect("memory state cannot fail");
        assert_eq!(outcome.receipts.len(), calls.len());
        assert_eq!(outcome.writes.len(), calls.len());
        self.height += 1;
        self.state.apply_block(txs.iter().map(|(_, c)| c), &outcome.writes);
        outcome
    }

    /// One call in a block of its own.
    pub fn run(&mut self, org: &str, call: &DataCall) -> Receipt {
        self.block(&[data(org, call)]).receipts.remove(0)
    }

    pub fn run_ok(&mut self, org: &str, call: &DataCall) -> Value {
        ok(&self.run(org, call))
    }

    pub fn query(&self, org: &str, contract: &str, data: &[u8]) -> govchain_execution::Result<Value> {
        let ctx = TxContext {
            tx_id: Hash::ZERO,
            sender: sender(org),
            org: org.to_owned(),
            height: self.height,
            timestamp_ms: 0,
        };
        let out = self.exec.query(&self.state, ctx, contract, data)?;
        Ok(serde_json::from_slice(&out).expect("output is JSON"))
    }
}

/// The JSON output of a successful receipt.
pub fn ok(r: &Receipt) -> Value {
    assert_eq!(r.status, TxStatus::Success, "failed: {}", r.message);
    assert!(r.message.is_empty());
    serde_json::from_slice(&r.output).expect("output is JSON")
}

/// The message of a failed receipt, after checking it carries nothing else.
pub fn failed(r: &Receipt) -> String {
    assert_eq!(r.status, TxStatus::Failed, "unexpected success: {}", String::from_utf8_lossy(&r.output));
    assert!(r.events.is_empty());
    assert!(r.output.is_empty());
    assert!(!r.message.is_empty());
    r.message.clone()
}

pub fn event_json(r: &Receipt, i: usize) -> Value {
    serde_json::from_slice(&r.events[i].data).expect("event data is JSON")
}

pub fn put(key: &str, value: &str) -> DataCall {
    DataCall::Put { key: key.into(), value: value.into() }
}

pub fn get(key: &str) -> DataCall {
    DataCall::Get { key: key.into() }
}

pub fn del(key: &str) -> DataCall {
    DataCall::Delete { key: key.into() }
}

/// Keys (as text) of a query output's `entries`.
pub fn keys_of(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["key"].as_str().expect("text key").to_owned())
        .collect()
}
