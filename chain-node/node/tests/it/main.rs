//! Integration tests of the node: its API against a real server on
//! loopback, and crash safety against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admission;
mod api;
mod certs;
mod crash;
mod support;
