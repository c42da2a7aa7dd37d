//! govchain PKI: the per-chain certificate authority (SPEC CRY-2, issuing part).
//!
//! Each chain has a two-level CA whose algorithms follow the chain's crypto suite (SM2 with
//! SM3 on `gm` chains, ECDSA with SHA-256 on secp256k1 / P-256 for `intl-k1` / `intl-r1`):
//!
//! - a **root CA**, self-signed and long-lived, whose key is handed out once by
//!   [`ChainCa::create`] as a [`RootKey`] to be stored offline; it only ever signs operating CAs
//!   ([`ChainCa::create`], [`ChainCa::rotate_operating`]);
//! - an online **operating CA**, signed by the root, which issues X.509 v3 **node** certificates
//!   (TLS server + client, with subjectAltNames, for node-to-node mutual TLS) and **user**
//!   certificates (TLS client) with [`ChainCa::issue`].
//!
//! [`verify_chain`] checks a leaf against its chain with this crate's own verifier, and
//! [`parse`] reads a certificate's fields. Keys cross the API as PEM strings (PKCS#8 private,
//! SPKI public) so the crate stays independent of `govchain-crypto`'s key types.
//!
//! Not here: certificate revocation, freezing and renewal policy (on-chain state kept by the
//! ledger), distributed-CA mode, CSR handling, and key custody of the operating key (the
//! caller stores [`CaKeyPair`]).
//!
//! SM2 signatures use the standard default distinguishing ID [`SM2_DEFAULT_DISTID`]
//! (`1234567812345678`). OpenSSL 3.0 assumes an empty ID and cannot be told otherwise for
//! intermediates, so it checks a GM chain one signature at a time (see [`SM2_DEFAULT_DISTID`]
//! for the commands); the international suites verify with a plain `openssl verify -CAfile
//! root.pem -untrusted operating.pem leaf.pem`.

mod ca;
mod cert;
mod keys;
mod profile;

pub use ca::{CaKeyPair, ChainCa, RootKey};
pub use cert::{CertInfo, CertRole, parse, to_der, verify_chain};
pub use govchain_crypto::Suite;
pub use keys::SM2_DEFAULT_DISTID;
pub use profile::{CLOCK_SKEW_ALLOWANCE, CertKind, IssueRequest, Validity};

/// Errors of the PKI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not exactly one well-formed PEM/DER X.509 certificate.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// A key is malformed, not of an EC curve we know, or not the expected key.
    #[error("bad key: {0}")]
    Key(String),
    /// A key or certificate belongs to another crypto suite than the chain's.
    #[error("expected a {expected} key or certificate, found {found}")]
    SuiteMismatch {
        /// The chain's suite.
        expected: Suite,
        /// What was found instead.
        found: String,
    },
    /// An issuing request breaks the profile's rules (names, SANs, validity).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A certificate does not follow the govchain profile (names, extensions, constraints).
    #[error("certificate outside the govchain profile: {0}")]
    Profile(String),
    /// A certificate's signature does not verify with its issuer's key.
    #[error("bad signature on the {0}")]
    BadSignature(CertRole),
    /// A certificate's validity ended before the verification time.
    #[error("the {0} has expired")]
    Expired(CertRole),
    /// A certificate's validity starts after the verification time.
    #[error("the {0} is not yet valid")]
    NotYetValid(CertRole),
    /// Issuer names or key identifiers do not link the chain together.
    #[error("certificates do not form a chain: {0}")]
    ChainMismatch(String),
    /// The operating system's random source failed.
    #[error("OS random source failed: {0}")]
    Random(getrandom::Error),
    /// Encoding a certificate or key failed (an internal fault, not bad input).
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
