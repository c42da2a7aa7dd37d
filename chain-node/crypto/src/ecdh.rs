//! Elliptic-curve Diffie–Hellman for the international suites.
//!
//! The `gm` suite agrees keys with [`sm2::KeyExchange`](crate::sm2::KeyExchange)
//! (or encrypts with [`sm2::encrypt`](crate::sm2::encrypt)) instead.

use crate::{
    Error, PrivateKey, PublicKey, Result, Suite,
    keys::{PublicKind, Secret},
};

/// Raw ECDH: the x-coordinate of `d · P` (32 bytes).
///
/// The output is a shared *secret*, not a uniform key: pass it through a KDF
/// (e.g. [`Suite::hash`] over it and a context string) before using it as a
/// [`Suite::seal`] key.
pub fn agree(private: &PrivateKey, public: &PublicKey) -> Result<[u8; 32]> {
    if private.suite() != public.suite() {
        return Err(Error::SuiteMismatch { expected: private.suite(), found: public.suite() });
    }
    let mut out = [0u8; 32];
    match (private.secret(), public.kind()) {
        (Secret::K1(key), PublicKind::K1(peer)) => {
            let shared = k256::ecdh::diffie_hellman(key.as_nonzero_scalar(), peer.as_affine());
            out.copy_from_slice(shared.raw_secret_bytes());
        }
        (Secret::R1(key), PublicKind::R1(peer)) => {
            let shared = p256::ecdh::diffie_hellman(key.key.to_nonzero_scalar(), peer.as_affine());
            out.copy_from_slice(shared.raw_secret_bytes());
        }
        _ => return Err(Error::Unsupported { suite: Suite::Gm, operation: "ECDH (use sm2::KeyExchange)" }),
    }
    Ok(out)
}
