//! Integration tests of the node: its API against a real server on
//! loopback, the same scenarios on every consensus engine wired through the
//! builder, and crash safety against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admission;
mod api;
mod certs;
mod crash;
mod engines;
mod eth;
mod evm;
mod lifecycle;
mod rpc_edges;
mod support;
mod trace;
