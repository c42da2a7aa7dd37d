//! govchain-net: mutual TLS between govchain nodes (SPEC CRY-3), authenticated by the chain's
//! own CA, for all three crypto suites.
//!
//! A node has an [`Identity`] (its key and its certificate from the chain's operating CA) and
//! trusts exactly its chain's CA, a [`ChainTrust`] (root + operating CA certificates). From
//! those, [`server_config`] and [`client_config`] build `rustls` configurations that
//!
//! - speak **TLS 1.3 only**; `gm` chains with RFC 8998's `TLS_SM4_GCM_SM3` cipher suite and
//!   `curveSM2` ECDHE only (so every algorithm is an SM algorithm), `intl-k1` / `intl-r1`
//!   with `ring`'s AES-GCM / ChaCha20-Poly1305 suites and X25519 / P-256 / P-384
//!   ([`crypto_provider`]);
//! - verify the peer's certificate with [`govchain_pki::verify_chain`] against this chain's
//!   root and operating CA at the current time — never the system or webpki roots — and require
//!   a **node** certificate (`OU=node`; [`server_config_for`] can admit user certificates too).
//!   A certificate from another chain, outside its validity window, of the wrong kind or
//!   tampered with is refused during the handshake;
//! - sign and verify the TLS 1.3 `CertificateVerify` with the chain suite's key, using the
//!   signature scheme of [`scheme_for`]:
//!
//!   | suite     | scheme                                    | code point |
//!   |-----------|-------------------------------------------|------------|
//!   | `intl-r1` | `ecdsa_secp256r1_sha256` (RFC 8446)       | `0x0403`   |
//!   | `gm`      | `sm2sig_sm3` (RFC 8998), ID [`TLS13_SM2_ID`] | `0x0708` |
//!   | `intl-k1` | ECDSA secp256k1 + SHA-256, private use    | `0xFE03` ([`ECDSA_SECP256K1_SHA256`]) |
//!
//!   Only `intl-r1` is what stock TLS stacks (OpenSSL, browsers) speak; `gm` follows RFC 8998
//!   (which OpenSSL 3.0 does not implement; Tongsuo and GmSSL do, untested here) and `intl-k1`
//!   has no standard TLS scheme at all, so it talks only to govchain;
//! - check the server's name: the name the client dials ([`ServerName`]) must be one of the
//!   certificate's subjectAltNames (a DNS name, or an IP address for an IP), or — for a DNS-style
//!   name — equal its `CN`, the node id. Dialing `127.0.0.1` checks the address; dialing
//!   `node1` pins the node id whatever its address (see [`connect`]).
//!
//! After the handshake [`peer_identity`] reads the verified peer's node id (`CN`) and
//! organization (`O`) from the connection as a [`PeerIdentity`].
//!
//! Session resumption is turned off on both sides, so every connection is verified in full
//! against the certificates and the clock of that moment.
//!
//! Async helpers over `tokio-rustls`: [`accept`] and [`connect`] run one handshake with a
//! time limit; [`TlsListener`] is an `axum::serve` listener that hands out only authenticated
//! connections, and [`PeerAware`] puts the peer's [`PeerIdentity`] into every request's
//! extensions; [`HttpsClient`] makes HTTP/1.1 or HTTP/2 requests with the node's certificate and
//! puts the server's [`PeerIdentity`] into every response's extensions.
//!
//! Revocation is the chain's state, not this crate's: [`ChainTrust::with_revocation`] takes the
//! node's check and refuses revoked certificates during handshakes; dropping connections made
//! before a revocation is the node's job.
//!
//! Not here: RFC 8998's `TLS_SM4_CCM_SM3`, TLS 1.2 and TLCP (GB/T
//! 38636), and the HTTP APIs themselves.

mod config;
mod gm;
mod http;
mod identity;
mod scheme;
mod verify;

pub use config::{
    HANDSHAKE_TIMEOUT, accept, client_config, connect, connect_from, crypto_provider, server_config,
    server_config_for,
};
pub use gm::{CURVE_SM2, TLS13_SM4_GCM_SM3};
pub use http::{HttpsClient, PeerAware, PeerStream, Reply, TlsListener, WithPeer};
pub use identity::{ChainTrust, Identity, PeerIdentity, RevocationCheck, peer_identity};
pub use rustls::pki_types::ServerName;
pub use scheme::{ECDSA_SECP256K1_SHA256, SM2SIG_SM3, TLS13_SM2_ID, scheme_for, signing_key};

pub use govchain_pki::{CertKind, Suite};

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate could not be read or does not verify against the chain.
    #[error("certificate: {0}")]
    Pki(#[from] govchain_pki::Error),
    /// A key could not be read, or a signing operation failed.
    #[error("key: {0}")]
    Crypto(#[from] govchain_crypto::Error),
    /// The key and certificate do not form a usable identity for this chain (key of another
    /// certificate, a CA certificate, not issued by this chain's CA, ...).
    #[error("identity: {0}")]
    Identity(String),
    /// The TLS handshake failed (the peer refused us, or we refused the peer).
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Socket I/O failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// A URI the HTTPS client cannot dial (not `https`, no host, unresolvable).
    #[error("bad address: {0}")]
    Address(String),
    /// An HTTPS request failed (connect, TLS or HTTP).
    #[error("HTTPS request: {0}")]
    Http(#[from] hyper_util::client::legacy::Error),
    /// An HTTPS request got no answer within its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An answer's body could not be read in full (cut short, or over the size limit).
    #[error("reading the answer: {0}")]
    Body(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
