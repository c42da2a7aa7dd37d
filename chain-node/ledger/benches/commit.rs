//! Commit throughput of blocks of 1000 transactions, against a baseline
//! measured in the same run: appending the same encoded block to a file and
//! fsyncing it, the floor of any durable commit on this disk.
//!
//! Transactions are signed once and then varied by nonce: the ledger does not
//! check signatures, and the bytes keep a real signature's size.

// A benchmark has nothing to recover to: any failure should abort it loudly.
#![allow(clippy::expect_used)]
use std::{
    fs::OpenOptions,
    io::Write,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govchain_crypto::{PrivateKey, Suite};
use govchain_ledger::{
    Ledger,
    test_utils::{ChainBuilder, NewBlock, put, signed_tx},
};
use govchain_types::{Encode, Transaction};

const SUITE: Suite = Suite::Gm;
const CHAIN: &str = "bench";
const TXS: usize = 1000;

struct Source {
    template: Transaction,
    nonce: u64,
}

impl Source {
    fn new() -> Self {
        let key = PrivateKey::from_scalar_bytes(SUITE, &[5; 32]).expect("valid scalar");
        let template = signed_tx(&key, CHAIN, 0, "data", vec![0x5a; 120]).expect("signing works");
        Source { template, nonce: 0 }
    }

    fn block(&mut self, b: &mut ChainBuilder) -> NewBlock {
        let mut txs = Vec::with_capacity(TXS);
        let mut writes = Vec::with_capacity(TXS);
        for _ in 0..TXS {
            self.nonce += 1;
            let mut tx = self.template.clone();
            tx.body.nonce = self.nonce;
            txs.push(tx);
            let key = format!("record/{:016x}", self.nonce.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            writes.push(vec![put("data", key.as_bytes(), &[0x33; 64])]);
        }
        b.block(txs, writes)
    }
}

/// Average seconds per block: ledger commit, then bare append + fsync.
fn measure(blocks: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(dir.path(), SUITE, CHAIN).expect("open");
    let mut b = ChainBuilder::new(SUITE, CHAIN);
    let mut src = Source::new();
    let prepared: Vec<NewBlock> = (0..blocks).map(|_| src.block(&mut b)).collect();
    let started = Instant::now();
    for nb in &prepared {
        nb.commit(&ledger).expect("commit");
    }
    let commit = started.elapsed().as_secs_f64() / blocks as f64;

    let mut file =
        OpenOptions::new().create(true).append(true).open(dir.path().join("baseline")).expect("file");
    let encoded: Vec<Vec<u8>> = prepared.iter().map(|nb| nb.block.encode()).collect();
    let started = Instant::now();
    for bytes in &encoded {
        file.write_all(bytes).expect("write");
        file.sync_data().expect("sync");
    }
    let baseline = started.elapsed().as_secs_f64() / blocks as f64;
    (commit, baseline)
}

fn commit(c: &mut Criterion) {
    let (commit, baseline) = measure(30);
    println!(
        "commit of {TXS}-tx blocks: {:.2} ms/block = {:.0} tx/s; bare append+fsync of the block: {:.2} ms; ratio {:.2}x",
        commit * 1e3,
        TXS as f64 / commit,
        baseline * 1e3,
        commit / baseline
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(dir.path(), SUITE, CHAIN).expect("open");
    let mut b = ChainBuilder::new(SUITE, CHAIN);
    let mut src = Source::new();
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(TXS as u64)).sample_size(10);
    group.bench_function("commit_1000_tx_block", |bench| {
        bench.iter_custom(|iters| {
            let prepared: Vec<NewBlock> = (0..iters).map(|_| src.block(&mut b)).collect();
            let started = Instant::now();
            for nb in &prepared {
                nb.commit(&ledger).expect("commit");
            }
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(2));
    targets = commit
}
criterion_main!(benches);
