//! Integration tests of govchain-crypto: published vectors, OpenSSL interop,
//! per-suite round trips and hostile input.

// Test helpers outside `#[test]` fns panic by design: a failed helper is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod garbage;
mod openssl;
mod roundtrip;
mod symmetric;
mod vectors;

/// Decodes hex test data (spaces allowed).
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test hex")
}

/// Small deterministic PRNG so hostile-input tests are reproducible.
#[derive(Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Random bytes of a random length below `max_len`.
    pub fn bytes_upto(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len);
        self.bytes(len)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
