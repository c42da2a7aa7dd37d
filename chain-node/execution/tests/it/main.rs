//! Integration tests of govchain-execution: the executor with its built-in
//! contracts, run over the in-memory state block after block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod calls;
mod common;
mod determinism;
mod engines;
mod evm;
mod fuzz;
mod lifecycle;
mod limits;
mod model;
mod ops;
mod overlay;
mod ownership;
mod trace;
