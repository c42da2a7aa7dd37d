//! Integration tests of the core types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzz;
mod roundtrip;
mod tx_json;
