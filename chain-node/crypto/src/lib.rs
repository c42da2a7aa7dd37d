//! Crypto suites of a govchain chain.
//!
//! A chain picks one [`Suite`] at genesis; everything that hashes, signs,
//! verifies or encrypts on that chain goes through it:
//!
//! | suite     | signature                         | hash       | symmetric   | agreement          |
//! |-----------|-----------------------------------|------------|-------------|--------------------|
//! | `gm`      | SM2 (Z_A with ID `1234567812345678`, SM3) | SM3 | SM4-GCM / SM4-CBC | SM2 key exchange, SM2 encryption |
//! | `intl-k1` | ECDSA secp256k1 over Keccak-256, low-s | Keccak-256 (+ SHA-256) | AES-256-GCM | ECDH |
//! | `intl-r1` | ECDSA P-256 over SHA-256          | SHA-256    | AES-256-GCM | ECDH               |
//!
//! Signatures are DER `SEQUENCE { r, s }`; keys travel as SEC1 points, PKCS#8
//! and SPKI PEM, all of which OpenSSL 3 reads and writes.
//!
//! Signature verification is the node's hot path, so each suite uses the
//! fastest implementation that interoperates (measured in `benches/suites.rs`):
//! SM2 verification runs on `efficient-sm2` with the Z_A digest cached per
//! [`PublicKey`]; P-256 on `ring`; secp256k1 on `k256`. SM2 *signing* uses the
//! constant-time RustCrypto arithmetic instead, because `efficient-sm2`'s
//! fixed-base multiplication branches on and indexes by the secret nonce.
//!
//! Not for: certificates (see `govchain-pki`), key custody or storage
//! (callers decide where PEMs live), or transport security.

mod address;
pub mod aes;
pub mod ecdh;
mod hash;
mod keys;
mod rng;
pub mod sm2;
pub mod sm4;
mod suite;

pub use address::Address;
pub use hash::{Hasher, keccak256, sha256, sm3};
pub use keys::{PrivateKey, PublicKey};
pub use suite::Suite;

/// The distinguishing ID every SM2 signature of a chain uses (GM/T 0009-2012 §10).
pub const SM2_DEFAULT_ID: &[u8] = b"1234567812345678";

/// Errors of the crypto suites.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name does not denote a known suite.
    #[error("unknown crypto suite `{0}` (expected gm, intl-k1 or intl-r1)")]
    UnknownSuite(String),
    /// Key bytes do not encode a valid key of the suite (bad length, not on the curve, out of range).
    #[error("invalid {suite} key: {reason}")]
    InvalidKey {
        /// Suite the key was read for.
        suite: Suite,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A PEM/DER key document could not be read.
    #[error("invalid key document: {0}")]
    InvalidDocument(String),
    /// The key document names an algorithm or curve no suite uses.
    #[error("unsupported key algorithm or curve: {0}")]
    UnsupportedAlgorithm(String),
    /// The signature is not a well-formed DER `SEQUENCE { r, s }` with scalars in range.
    #[error("malformed signature")]
    MalformedSignature,
    /// The signature is well formed but does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// Two keys (or a key and an operation) belong to different suites.
    #[error("suite mismatch: expected {expected}, found {found}")]
    SuiteMismatch {
        /// Suite the operation needs.
        expected: Suite,
        /// Suite that was supplied.
        found: Suite,
    },
    /// The suite does not offer this operation.
    #[error("{suite} does not support {operation}")]
    Unsupported {
        /// Suite asked.
        suite: Suite,
        /// The operation.
        operation: &'static str,
    },
    /// An input has the wrong length.
    #[error("invalid {what} length: expected {expected}, got {got}")]
    InvalidLength {
        /// Which input.
        what: &'static str,
        /// Expected length in bytes.
        expected: usize,
        /// Supplied length in bytes.
        got: usize,
    },
    /// Signing could not be performed.
    #[error("signing failed: {0}")]
    Signing(&'static str),
    /// Encryption could not be performed (e.g. empty SM2 plaintext).
    #[error("encryption failed: {0}")]
    Encryption(&'static str),
    /// Ciphertext is malformed, was tampered with, or the key is wrong.
    #[error("decryption failed")]
    Decryption,
    /// An SM2 key exchange step failed (invalid peer point, confirmation mismatch).
    #[error("SM2 key exchange failed: {0}")]
    KeyExchange(&'static str),
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed")]
    Rng,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
