//! Cost of executing blocks of `data` calls over the in-memory state: puts of
//! new keys, gets, and a value scan over 10k keys.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use govchain_crypto::Address;
use govchain_execution::{DataCall, Executor, MemState, TxContext};
use govchain_types::{Encode, Hash, Transaction, TxBody, TxType};

fn txs(calls: &[DataCall]) -> Vec<(Transaction, TxContext)> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let tx = Transaction {
                body: TxBody {
                    chain_id: "bench".into(),
                    tx_type: TxType::Invoke,
                    timestamp_ms: 0,
                    nonce: i as u64,
                    sender: Address([1; 20]),
                    recipient: "data".into(),
                    data: c.encode(),
                    memo: String::new(),
                    signers: Vec::new(),
                },
                signatures: Vec::new(),
            };
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let ctx = TxContext {
                tx_id: Hash(id),
                sender: Address([1; 20]),
                org: "OrgA".into(),
                height: 1,
                timestamp_ms: 0,
            };
            (tx, ctx)
        })
        .collect()
}

fn run(exec: &Executor, state: &MemState, txs: &[(Transaction, TxContext)]) -> usize {
    let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
    exec.execute_block(state, &refs).unwrap().receipts.len()
}

fn bench(c: &mut Criterion) {
    let exec = Executor::new();
    let n = 1000;
    let puts = txs(&(0..n)
        .map(|i| DataCall::Put { key: format!("key/{i:06}").into(), value: vec![b'x'; 256] })
        .collect::<Vec<_>>());
    // Committed state holding the keys the puts create, for gets and scans.
    let mut state = MemState::new();
    {
        let refs: Vec<(&Transaction, TxContext)> = puts.iter().map(|(t, c)| (t, c.clone())).collect();
        let out = exec.execute_block(&state, &refs).unwrap();
        state.apply_block(puts.iter().map(|(_, c)| c), &out.writes);
    }
    let gets = txs(&(0..n).map(|i| DataCall::Get { key: format!("key/{i:06}").into() }).collect::<Vec<_>>());

    let mut g = c.benchmark_group("block_of_1000");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("put_new_keys", |b| {
        b.iter_batched(MemState::new, |s| run(&exec, &s, &puts), BatchSize::LargeInput)
    });
    g.bench_function("get", |b| b.iter(|| run(&exec, &state, &gets)));
    g.finish();

    let mut big = MemState::new();
    for chunk in 0..10 {
        let calls: Vec<DataCall> = (0..1000)
            .map(|i| DataCall::Put { key: format!("k/{chunk}/{i:04}").into(), value: vec![b'y'; 256] })
            .collect();
        let t = txs(&calls);
        let refs: Vec<(&Transaction, TxContext)> = t.iter().map(|(t, c)| (t, c.clone())).collect();
        let out = exec.execute_block(&big, &refs).unwrap();
        big.apply_block(t.iter().map(|(_, c)| c), &out.writes);
    }
    let scan = txs(&[DataCall::ValueContains { needle: b"needle".to_vec(), start: Vec::new(), limit: 10 }]);
    let mut g = c.benchmark_group("value_contains_10k_keys");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("one_call", |b| b.iter(|| run(&exec, &big, &scan)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
