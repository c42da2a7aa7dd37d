//! Integration tests of govchain-raft: openraft's storage suite on the log
//! store and state machine, in-process clusters over the loopback transport
//! and a cluster over real HTTP sockets on 127.0.0.1.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catch_up;
mod cluster;
mod common;
mod http;
mod storage;
