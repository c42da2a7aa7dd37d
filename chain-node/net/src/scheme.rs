//! TLS 1.3 `CertificateVerify` signature schemes per suite: signing with a node key and
//! verifying a peer's signature.

use std::{fmt, sync::Arc};

use govchain_crypto::{PrivateKey, PublicKey, Suite};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rustls::{
    SignatureAlgorithm, SignatureScheme,
    pki_types::SubjectPublicKeyInfoDer,
    sign::{Signer, SigningKey},
};

use crate::{Error, Result};

/// `sm2sig_sm3` (RFC 8998 §2 and §3.2.1): SM2 over SM3 with the distinguishing ID
/// [`TLS13_SM2_ID`]. rustls knows no SM2, so it travels as an unknown code point.
pub const SM2SIG_SM3: SignatureScheme = SignatureScheme::Unknown(0x0708);

/// ECDSA on secp256k1 over SHA-256, DER-encoded `(r, s)` with low `s`. TLS assigns no code
/// point to secp256k1, so govchain uses `0xFE03` from RFC 8446's private-use range
/// `0xFE00..=0xFFFF`. The low byte is 3 (ECDSA) on purpose: rustls filters out schemes whose
/// low byte names RSA-PKCS#1, DSA or anonymous signatures from TLS 1.3 handshakes.
pub const ECDSA_SECP256K1_SHA256: SignatureScheme = SignatureScheme::Unknown(0xFE03);

/// The SM2 distinguishing ID of TLS 1.3 signatures (RFC 8998 §3.2.1). Certificates themselves
/// are signed with the default ID `1234567812345678` (see `govchain-pki`).
pub const TLS13_SM2_ID: &[u8] = b"TLSv1.3+GM+Cipher+Suite";

/// The one signature scheme a chain of `suite` uses in TLS 1.3 handshakes.
pub const fn scheme_for(suite: Suite) -> SignatureScheme {
    match suite {
        Suite::Gm => SM2SIG_SM3,
        Suite::IntlK1 => ECDSA_SECP256K1_SHA256,
        Suite::IntlR1 => SignatureScheme::ECDSA_NISTP256_SHA256,
    }
}

/// A node key that signs TLS 1.3 handshakes with its suite's scheme.
#[derive(Clone)]
pub(crate) struct TlsKey {
    key: Arc<KeyKind>,
    /// The key's SPKI DER, for rustls' `SigningKey::public_key`.
    spki_der: Vec<u8>,
}

enum KeyKind {
    /// SM2 and P-256 keys sign through govchain-crypto.
    Gm(PrivateKey),
    R1(PrivateKey),
    /// govchain-crypto's k1 keys sign Keccak-256 digests (the chain's transaction rule); TLS
    /// needs SHA-256, so the handshake key is a plain k256 key.
    K1(k256::ecdsa::SigningKey),
}

impl TlsKey {
    /// Reads a PKCS#8 PEM private key of any suite.
    pub(crate) fn from_pkcs8_pem(pem: &str) -> Result<(Self, PublicKey)> {
        let key = PrivateKey::from_pkcs8_pem(pem)?;
        let public = key.public_key();
        let kind = match key.suite() {
            Suite::Gm => KeyKind::Gm(key),
            Suite::IntlR1 => KeyKind::R1(key),
            Suite::IntlK1 => {
                use pkcs8::DecodePrivateKey;
                let k1 = k256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .map_err(|e| Error::Identity(format!("secp256k1 key: {e}")))?;
                KeyKind::K1(k1)
            }
        };
        let spki_der = spki_der(&public)?;
        Ok((Self { key: Arc::new(kind), spki_der }, public))
    }

    fn suite(&self) -> Suite {
        match &*self.key {
            KeyKind::Gm(_) => Suite::Gm,
            KeyKind::R1(_) => Suite::IntlR1,
            KeyKind::K1(_) => Suite::IntlK1,
        }
    }

    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        match &*self.key {
            KeyKind::Gm(key) => Ok(govchain_crypto::sm2::sign_with_id(key, TLS13_SM2_ID, message)?),
            KeyKind::R1(key) => Ok(key.sign(message)?),
            KeyKind::K1(key) => {
                let digest = govchain_crypto::sha256(message);
                let sig: k256::ecdsa::Signature = key
                    .sign_prehash(&digest)
                    .map_err(|_| govchain_crypto::Error::Signing("secp256k1 signing failed"))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

fn spki_der(public: &PublicKey) -> Result<Vec<u8>> {
    let pem = public.to_spki_pem()?;
    let (_, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|e| Error::Identity(format!("public key PEM: {e}")))?;
    Ok(der)
}

impl fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsKey").field("suite", &self.suite()).finish_non_exhaustive()
    }
}

impl SigningKey for TlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = scheme_for(self.suite());
        if offered.contains(&scheme) {
            Some(Box::new(TlsSigner { key: self.clone(), scheme }))
        } else {
            tracing::debug!(
                target: "govchain::net",
                suite = %self.suite(),
                ?offered,
                "peer does not accept this chain's signature scheme"
            );
            None
        }
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki_der.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        // rustls consults this only to pick TLS 1.2 cipher suites, and TLS 1.2 is off. SM2 has
        // no TLS 1.2 algorithm number of its own; it is an elliptic-curve signature like ECDSA.
        SignatureAlgorithm::ECDSA
    }
}

#[derive(Debug)]
struct TlsSigner {
    key: TlsKey,
    scheme: SignatureScheme,
}

impl Signer for TlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.key.sign_message(message).map_err(|e| rustls::Error::General(format!("signing failed: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// A rustls signing key for a PKCS#8 PEM private key of any suite, signing with
/// [`scheme_for`] its suite. [`crate::Identity`] uses it; it is public for callers that build
/// their own `rustls::sign::CertifiedKey` (e.g. to reload certificates at run time).
pub fn signing_key(key_pem: &str) -> Result<Arc<dyn SigningKey>> {
    let (key, _) = TlsKey::from_pkcs8_pem(key_pem)?;
    Ok(Arc::new(key))
}

/// Verifies a TLS 1.3 handshake signature `sig` (DER `(r, s)`) over `message` by `key` with
/// `scheme`, which must be the scheme of the key's suite.
pub(crate) fn verify(key: &PublicKey, scheme: SignatureScheme, message: &[u8], sig: &[u8]) -> bool {
    if scheme != scheme_for(key.suite()) {
        return false;
    }
    match key.suite() {
        Suite::Gm => govchain_crypto::sm2::verify_with_id(key, TLS13_SM2_ID, message, sig).is_ok(),
        Suite::IntlR1 => key.verify(message, sig).is_ok(),
        Suite::IntlK1 => {
            let Ok(verifying) = k256::ecdsa::VerifyingKey::from_sec1_bytes(key.sec1_bytes()) else {
                return false;
            };
            let Ok(sig) = k256::ecdsa::Signature::from_der(sig) else {
                return false;
            };
            // Plain ECDSA accepts both s and n - s; other signers need not normalize.
            let sig = sig.normalize_s();
            verifying.verify_prehash(&govchain_crypto::sha256(message), &sig).is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_suite_signs_and_verifies_with_its_scheme_only() {
        for suite in [Suite::Gm, Suite::IntlK1, Suite::IntlR1] {
            let key = PrivateKey::generate(suite);
            let pem = key.to_pkcs8_pem().unwrap();
            let (tls_key, public) = TlsKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(public, key.public_key());
            let signer = tls_key.choose_scheme(&[scheme_for(suite)]).unwrap();
            assert_eq!(signer.scheme(), scheme_for(suite));
            let msg = b"TLS 1.3, server CertificateVerify\0transcript";
            let sig = signer.sign(msg).unwrap();
            assert!(verify(&public, scheme_for(suite), msg, &sig), "{suite}");
            assert!(!verify(&public, scheme_for(suite), b"other message", &sig), "{suite}");
            for other in [Suite::Gm, Suite::IntlK1, Suite::IntlR1] {
                if other != suite {
                    assert!(!verify(&public, scheme_for(other), msg, &sig), "{suite} as {other}");
                    assert!(tls_key.choose_scheme(&[scheme_for(other)]).is_none());
                }
            }
        }
    }

    #[test]
    fn sm2_handshake_signatures_use_the_rfc_8998_id() {
        let key = PrivateKey::generate(Suite::Gm);
        let (tls_key, public) = TlsKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        let msg = b"handshake";
        let sig = tls_key.sign_message(msg).unwrap();
        govchain_crypto::sm2::verify_with_id(&public, b"TLSv1.3+GM+Cipher+Suite", msg, &sig).unwrap();
        // Not the default ID that transactions and certificates use.
        assert!(public.verify(msg, &sig).is_err());
    }

    #[test]
    fn secp256k1_handshake_signatures_are_over_sha256() {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let key = PrivateKey::generate(Suite::IntlK1);
        let (tls_key, public) = TlsKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        let msg = b"handshake";
        let sig = tls_key.sign_message(msg).unwrap();
        let verifying = k256::ecdsa::VerifyingKey::from_sec1_bytes(public.sec1_bytes()).unwrap();
        let parsed = k256::ecdsa::Signature::from_der(&sig).unwrap();
        verifying.verify_prehash(&govchain_crypto::sha256(msg), &parsed).unwrap();
        // Not the chain's Keccak-256 transaction rule.
        assert!(public.verify(msg, &sig).is_err());
    }
}
