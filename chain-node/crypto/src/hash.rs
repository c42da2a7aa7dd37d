//! The suites' hash functions, one-shot and incremental.

use sha2::Digest as _;

use crate::Suite;

/// SM3 (GB/T 32905) of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(data).into()
}

/// Keccak-256 (the pre-standard SHA-3 padding Ethereum uses) of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    sha3::Keccak256::digest(data).into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Incremental hasher of a suite; see [`Suite::hasher`].
#[derive(Debug, Clone)]
pub struct Hasher(Inner);

#[derive(Debug, Clone)]
enum Inner {
    Sm3(sm3::Sm3),
    Keccak256(sha3::Keccak256),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub(crate) fn new(suite: Suite) -> Self {
        Hasher(match suite {
            Suite::Gm => Inner::Sm3(sm3::Sm3::new()),
            Suite::IntlK1 => Inner::Keccak256(sha3::Keccak256::new()),
            Suite::IntlR1 => Inner::Sha256(sha2::Sha256::new()),
        })
    }

    /// Feeds more input.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Inner::Sm3(h) => h.update(data),
            Inner::Keccak256(h) => h.update(data),
            Inner::Sha256(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> [u8; 32] {
        match self.0 {
            Inner::Sm3(h) => h.finalize().into(),
            Inner::Keccak256(h) => h.finalize().into(),
            Inner::Sha256(h) => h.finalize().into(),
        }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
