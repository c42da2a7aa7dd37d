//! Integration tests of govchain-pki: issuing for each suite, cross-checked with the OpenSSL
//! CLI, and our own verifier's rejections.

// Test helpers outside `#[test]` fns panic by design: a failed helper is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod chain;
mod support;
mod tls;
