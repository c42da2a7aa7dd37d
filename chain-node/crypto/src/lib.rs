//! Crypto suites of a govchain chain.
//!
//! A chain picks one suite at genesis; everything that hashes, signs, verifies
//! or encrypts on that chain goes through it. Not for: certificates (see
//! `govchain-pki`) or key custody.

mod suite;

pub use suite::Suite;

/// Errors of the crypto suites.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name does not denote a known suite.
    #[error("unknown crypto suite `{0}` (expected gm, intl-k1 or intl-r1)")]
    UnknownSuite(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
