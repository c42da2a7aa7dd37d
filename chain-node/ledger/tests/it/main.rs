//! Integration tests of the ledger: queries, rejected commits, concurrent
//! readers and the kill -9 crash test.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commit;
mod crash;
mod nonces;
mod past;
mod queries;

use std::path::Path;

use govchain_crypto::{PrivateKey, Suite};
use govchain_ledger::{
    Ledger, LedgerOptions,
    test_utils::{ChainBuilder, NewBlock, signed_tx},
};
use govchain_types::StateWrite;

pub const CHAIN: &str = "it-chain";
pub const SUITE: Suite = Suite::Gm;

pub fn key() -> PrivateKey {
    PrivateKey::from_scalar_bytes(SUITE, &[3; 32]).unwrap()
}

/// A fresh ledger and a builder for its genesis block.
pub fn fresh(dir: &Path) -> (Ledger, ChainBuilder) {
    (Ledger::open(dir, SUITE, CHAIN).unwrap(), ChainBuilder::new(SUITE, CHAIN))
}

/// Opens with small block files so tests cross file boundaries.
pub fn open_small(dir: &Path) -> Ledger {
    Ledger::open_with(dir, SUITE, CHAIN, LedgerOptions { block_file_size: 4096 }).unwrap()
}

/// A block with one signed transaction per entry of `writes` (nonces from
/// `first_nonce`).
pub fn block_with(b: &mut ChainBuilder, first_nonce: u64, writes: Vec<Vec<StateWrite>>) -> NewBlock {
    let k = key();
    let txs = (0..writes.len() as u64)
        .map(|i| {
            signed_tx(&k, CHAIN, first_nonce + i, "kv", format!("tx {}", first_nonce + i).into_bytes())
                .unwrap()
        })
        .collect();
    b.block(txs, writes)
}
