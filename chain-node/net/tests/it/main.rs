//! Integration tests of govchain-net: mutual-TLS handshakes and HTTPS between nodes of one
//! chain on 127.0.0.1 for every suite, the refusals, and OpenSSL interop for `intl-r1`.

// Test helpers outside `#[test]` fns panic by design: a failed helper is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod handshake;
mod http;
mod openssl;
mod support;
