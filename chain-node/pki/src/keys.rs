//! Suite-specific key handling for the CA: key generation, PKCS#8 / SPKI codecs, certificate
//! signatures and their verification.
//!
//! Keys cross this crate's API as PEM strings (PKCS#8 private keys, SPKI public keys) so the
//! crate does not depend on `govchain-crypto`'s key types; this module is the only place that
//! knows the three concrete curve crates.

use der::{Encode, asn1::ObjectIdentifier, oid::AssociatedOid, pem::LineEnding};
use govchain_crypto::Suite;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sm2::dsa::signature::{Keypair, SignatureEncoding, Signer, Verifier};
use spki::{
    AlgorithmIdentifierOwned, DecodePublicKey, Document, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The SM2 distinguishing identifier used for every certificate signature.
///
/// GB/T 35276-2017 and RFC 8998 name `1234567812345678` as the default ID, and GM tools
/// (GmSSL, Tongsuo, BouncyCastle) sign and verify certificates with it.
///
/// OpenSSL 3.0 does not: it signs and verifies SM2 certificate signatures with an *empty* ID
/// unless told otherwise, and `openssl verify -vfyopt distid:1234567812345678` applies the ID
/// to the target certificate only, not to intermediates loaded with `-untrusted`. A one-step
/// `openssl verify -CAfile root.pem -untrusted operating.pem leaf.pem` therefore fails on a
/// standard GM chain ("certificate signature failure" at depth 1), with or without
/// `-vfyopt`. What works with OpenSSL 3.0.x (checked by this crate's tests on 3.0.19) is one
/// step per signature:
///
/// ```text
/// openssl verify -vfyopt distid:1234567812345678 -CAfile root.pem operating.pem
/// openssl verify -vfyopt distid:1234567812345678 -partial_chain -CAfile operating.pem leaf.pem
/// ```
///
/// (`-vfyopt hexdistid:31323334353637383132333435363738` is equivalent; OpenSSL 1.1.1's
/// `-sm2-id` option is gone in 3.0; OpenSSL itself signs standard SM2 certificates only with
/// `-sigopt distid:1234567812345678`.) OpenSSL-based TLS stacks likewise check SM2 chains with
/// the empty ID, which matters only if GM certificates are ever fed to them.
pub const SM2_DEFAULT_DISTID: &str = "1234567812345678";

/// `SM2-with-SM3` (GB/T 33560, draft-shen-sm2-ecdsa): the GM certificate signature.
pub(crate) const SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
/// `ecdsa-with-SHA256` (RFC 5758): the certificate signature of both international suites.
pub(crate) const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-ecPublicKey` (RFC 5480): the SPKI algorithm of all three suites (the curve is the
/// parameter, so SM2 keys are EC keys on the SM2 curve, as OpenSSL writes them).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// The certificate signature algorithm of a suite.
pub(crate) fn signature_oid(suite: Suite) -> ObjectIdentifier {
    match suite {
        Suite::Gm => SM2_WITH_SM3,
        Suite::IntlK1 | Suite::IntlR1 => ECDSA_WITH_SHA256,
    }
}

/// The named curve of a suite's keys.
fn curve_oid(suite: Suite) -> ObjectIdentifier {
    match suite {
        Suite::Gm => sm2::Sm2::OID,
        Suite::IntlK1 => k256::Secp256k1::OID,
        Suite::IntlR1 => p256::NistP256::OID,
    }
}

/// Which suite an SPKI belongs to, judged by its algorithm and named curve.
pub(crate) fn suite_of_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Suite> {
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(Error::Key(format!("public key algorithm {} is not id-ecPublicKey", spki.algorithm.oid)));
    }
    let curve: ObjectIdentifier = spki
        .algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| Error::Key("EC public key without a named curve".into()))?
        .decode_as()
        .map_err(|e| Error::Key(format!("EC curve parameter is not an OID: {e}")))?;
    Suite::ALL
        .into_iter()
        .find(|suite| curve_oid(*suite) == curve)
        .ok_or_else(|| Error::Key(format!("unsupported curve {curve}")))
}

/// A public key of a known suite, checked to be a valid curve point.
#[derive(Clone, Debug)]
pub(crate) enum PublicKey {
    Sm2(sm2::PublicKey),
    K1(k256::PublicKey),
    R1(p256::PublicKey),
}

impl PublicKey {
    /// Decodes an SPKI (DER) and requires it to belong to `suite`.
    pub(crate) fn from_spki_der(suite: Suite, der: &[u8]) -> Result<Self> {
        let spki = SubjectPublicKeyInfoOwned::try_from(der)
            .map_err(|e| Error::Key(format!("not a SubjectPublicKeyInfo: {e}")))?;
        Self::from_spki(suite, &spki)
    }

    /// Requires `spki` to belong to `suite` and to hold a valid point of its curve.
    pub(crate) fn from_spki(suite: Suite, spki: &SubjectPublicKeyInfoOwned) -> Result<Self> {
        let found = suite_of_spki(spki)?;
        if found != suite {
            return Err(Error::SuiteMismatch { expected: suite, found: found.name().to_owned() });
        }
        let der = spki.to_der().map_err(|e| Error::Key(format!("cannot re-encode SPKI: {e}")))?;
        let bad_point = |e: spki::Error| Error::Key(format!("invalid {suite} public key: {e}"));
        Ok(match suite {
            Suite::Gm => Self::Sm2(sm2::PublicKey::from_public_key_der(&der).map_err(bad_point)?),
            Suite::IntlK1 => Self::K1(k256::PublicKey::from_public_key_der(&der).map_err(bad_point)?),
            Suite::IntlR1 => Self::R1(p256::PublicKey::from_public_key_der(&der).map_err(bad_point)?),
        })
    }

    /// Decodes an SPKI PEM (`PUBLIC KEY`) and requires it to belong to `suite`.
    pub(crate) fn from_spki_pem(suite: Suite, pem: &str) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| Error::Key(format!("public key is not PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(Error::Key(format!("expected a `PUBLIC KEY` PEM, found `{label}`")));
        }
        Self::from_spki_der(suite, &der)
    }

    pub(crate) fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        let der = self.to_public_key_der().map_err(encode_err)?;
        SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).map_err(encode_err)
    }

    /// Verifies a certificate signature (`sig_der` is the BIT STRING content: a DER
    /// `SEQUENCE { r, s }` for all three suites) over `msg`.
    pub(crate) fn verify(&self, msg: &[u8], sig_der: &[u8]) -> bool {
        match self {
            Self::Sm2(pk) => {
                let Ok(vk) = sm2::dsa::VerifyingKey::new(SM2_DEFAULT_DISTID, *pk) else {
                    return false;
                };
                let Ok(sig) = sm2::dsa::Signature::from_der(sig_der) else {
                    return false;
                };
                vk.verify(msg, &sig).is_ok()
            }
            Self::K1(pk) => {
                let Ok(sig) = k256::ecdsa::Signature::from_der(sig_der) else {
                    return false;
                };
                // k256 rejects high-S signatures (a Bitcoin malleability rule). X.509 has no
                // such rule and OpenSSL emits high-S about half the time, so normalise first.
                let sig = sig.normalize_s();
                k256::ecdsa::VerifyingKey::from(pk).verify(msg, &sig).is_ok()
            }
            Self::R1(pk) => {
                let Ok(sig) = p256::ecdsa::Signature::from_der(sig_der) else {
                    return false;
                };
                p256::ecdsa::VerifyingKey::from(pk).verify(msg, &sig).is_ok()
            }
        }
    }
}

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<Document> {
        match self {
            Self::Sm2(pk) => pk.to_public_key_der(),
            Self::K1(pk) => pk.to_public_key_der(),
            Self::R1(pk) => pk.to_public_key_der(),
        }
    }
}

/// A CA signing key (root or operating), in memory only while it is used.
#[derive(Clone)]
pub(crate) enum SigningKey {
    Sm2(sm2::dsa::SigningKey),
    K1(k256::ecdsa::SigningKey),
    R1(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("suite", &self.suite()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub(crate) fn generate(suite: Suite) -> Result<Self> {
        use sm2::elliptic_curve::Generate;
        Ok(match suite {
            Suite::Gm => {
                let secret = sm2::SecretKey::try_generate().map_err(Error::Random)?;
                Self::Sm2(
                    sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &secret)
                        .map_err(|e| Error::Key(format!("cannot build SM2 signing key: {e}")))?,
                )
            }
            Suite::IntlK1 => {
                let secret = k256::SecretKey::try_generate().map_err(Error::Random)?;
                Self::K1(k256::ecdsa::SigningKey::from(&secret))
            }
            Suite::IntlR1 => {
                let secret = p256::SecretKey::try_generate().map_err(Error::Random)?;
                Self::R1(p256::ecdsa::SigningKey::from(&secret))
            }
        })
    }

    /// Decodes a PKCS#8 PEM (`PRIVATE KEY`) and requires it to belong to `suite`.
    pub(crate) fn from_pkcs8_pem(suite: Suite, pem: &str) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| Error::Key(format!("private key is not PEM: {e}")))?;
        let der = Zeroizing::new(der);
        if label != "PRIVATE KEY" {
            return Err(Error::Key(format!("expected a PKCS#8 `PRIVATE KEY` PEM, found `{label}`")));
        }
        let bad = |e: pkcs8::Error| Error::Key(format!("not a PKCS#8 {suite} private key: {e}"));
        Ok(match suite {
            Suite::Gm => {
                let secret = sm2::SecretKey::from_pkcs8_der(&der).map_err(bad)?;
                Self::Sm2(
                    sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &secret)
                        .map_err(|e| Error::Key(format!("cannot build SM2 signing key: {e}")))?,
                )
            }
            Suite::IntlK1 => Self::K1(k256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(bad)?),
            Suite::IntlR1 => Self::R1(p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(bad)?),
        })
    }

    /// PKCS#8 PEM of the private key (wiped from memory when dropped).
    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let pem = match self {
            Self::Sm2(sk) => sm2::SecretKey::from(sk.as_nonzero_scalar()).to_pkcs8_pem(LineEnding::LF),
            Self::K1(sk) => sk.to_pkcs8_pem(LineEnding::LF),
            Self::R1(sk) => sk.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map_err(|e| Error::Encode(format!("cannot encode PKCS#8 key: {e}")))
    }

    pub(crate) fn suite(&self) -> Suite {
        match self {
            Self::Sm2(_) => Suite::Gm,
            Self::K1(_) => Suite::IntlK1,
            Self::R1(_) => Suite::IntlR1,
        }
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        match self {
            Self::Sm2(sk) => PublicKey::Sm2(sm2::PublicKey::from(sk.verifying_key())),
            Self::K1(sk) => PublicKey::K1(k256::PublicKey::from(sk.verifying_key())),
            Self::R1(sk) => PublicKey::R1(p256::PublicKey::from(sk.verifying_key())),
        }
    }

    /// Signs `msg` (a DER `TBSCertificate`) and returns the DER `SEQUENCE { r, s }` that goes
    /// into the certificate's signature BIT STRING.
    pub(crate) fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let failed = |e: sm2::dsa::signature::Error| Error::Encode(format!("signing failed: {e}"));
        Ok(match self {
            Self::Sm2(sk) => {
                // The sm2 crate's `Signature` is raw r||s; X.509 (GB/T 20518, RFC 8998)
                // carries the DER form.
                let sig: sm2::dsa::Signature = sk.try_sign(msg).map_err(failed)?;
                sig.to_der().to_vec()
            }
            Self::K1(sk) => {
                let sig: k256::ecdsa::DerSignature = sk.try_sign(msg).map_err(failed)?;
                sig.to_vec()
            }
            Self::R1(sk) => {
                let sig: p256::ecdsa::DerSignature = sk.try_sign(msg).map_err(failed)?;
                sig.to_vec()
            }
        })
    }

    /// True when `spki` is this key's public half.
    pub(crate) fn matches(&self, spki: SubjectPublicKeyInfoRef<'_>) -> bool {
        let Ok(ours) = self.public_key().to_public_key_der() else {
            return false;
        };
        spki.to_der().is_ok_and(|theirs| theirs == ours.as_bytes())
    }
}

// The x509-cert builder asks its signer for the public key and the signature algorithm
// identifier; the signature itself is made by `sign_der`, outside the builder.
impl Keypair for SigningKey {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        self.public_key()
    }
}

impl DynSignatureAlgorithmIdentifier for SigningKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        // Both OIDs are used with absent parameters (RFC 5758 §3.2, GB/T 33560).
        Ok(AlgorithmIdentifierOwned { oid: signature_oid(self.suite()), parameters: None })
    }
}

fn encode_err(e: impl std::fmt::Display) -> Error {
    Error::Encode(e.to_string())
}

#[cfg(test)]
mod tests {
    use der::referenced::OwnedToRef;

    use super::*;

    #[test]
    fn pkcs8_roundtrip_keeps_the_key_and_checks_the_suite() {
        for suite in Suite::ALL {
            let key = SigningKey::generate(suite).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            let back = SigningKey::from_pkcs8_pem(suite, &pem).unwrap();
            let spki = key.public_key().to_spki().unwrap();
            assert!(back.matches(spki.owned_to_ref()));
            for other in Suite::ALL.into_iter().filter(|s| *s != suite) {
                assert!(SigningKey::from_pkcs8_pem(other, &pem).is_err(), "{suite} as {other}");
            }
        }
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message_and_key() {
        for suite in Suite::ALL {
            let key = SigningKey::generate(suite).unwrap();
            let other = SigningKey::generate(suite).unwrap();
            let sig = key.sign_der(b"tbs").unwrap();
            assert!(key.public_key().verify(b"tbs", &sig));
            assert!(!key.public_key().verify(b"tbx", &sig));
            assert!(!other.public_key().verify(b"tbs", &sig));
            assert!(!key.public_key().verify(b"tbs", &sig[1..]));
        }
    }

    #[test]
    fn spki_suite_detection() {
        for suite in Suite::ALL {
            let spki = SigningKey::generate(suite).unwrap().public_key().to_spki().unwrap();
            assert_eq!(suite_of_spki(&spki).unwrap(), suite);
        }
    }
}
