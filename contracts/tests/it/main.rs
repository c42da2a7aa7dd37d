//! Integration tests of govchain-contracts: the real solc-js compiler (run
//! `npm ci --prefix contracts/js` first; `scripts/test-deps.sh` does), the
//! analysis over the samples, and the templates on the chain's EVM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analysis;
mod cli;
mod common;
mod compiler;
mod evm;
mod templates;
