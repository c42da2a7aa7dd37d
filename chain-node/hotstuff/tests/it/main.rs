//! Integration tests of govchain-hotstuff: the deterministic simulator with
//! Twins, commit certificates, and in-process clusters of real engines over
//! the loopback transport.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "byzantine")]
mod byzantine;
mod certificate;
mod cluster;
mod common;
mod core;
mod http;
mod membership;
mod sim;
