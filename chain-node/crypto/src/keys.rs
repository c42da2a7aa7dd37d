//! Key pairs of the three suites: generation, SEC1/PKCS#8/SPKI encodings,
//! signing and verification.

use std::{fmt, sync::Arc};

use ::sm2::elliptic_curve::sec1::ToSec1Point;
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding, ObjectIdentifier};
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};

use crate::{Address, Error, Result, Suite, sm2, sm2::GmSecret};

/// `id-ecPublicKey` (RFC 5480): the algorithm OID OpenSSL 3 writes for all three curves.
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// SM2 curve (GM/T 0006).
const OID_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
/// secp256k1 (SEC 2).
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
/// prime256v1 / secp256r1 / NIST P-256.
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Uncompressed SEC1 point length.
const SEC1_LEN: usize = 65;

fn suite_of_curve(algorithm: ObjectIdentifier, curve: Option<ObjectIdentifier>) -> Result<Suite> {
    if algorithm != ID_EC_PUBLIC_KEY {
        return Err(Error::UnsupportedAlgorithm(format!("algorithm {algorithm}")));
    }
    match curve {
        Some(OID_SM2) => Ok(Suite::Gm),
        Some(OID_SECP256K1) => Ok(Suite::IntlK1),
        Some(OID_PRIME256V1) => Ok(Suite::IntlR1),
        Some(other) => Err(Error::UnsupportedAlgorithm(format!("curve {other}"))),
        None => Err(Error::UnsupportedAlgorithm("EC key without a named curve".to_owned())),
    }
}

fn invalid(suite: Suite, reason: &'static str) -> Error {
    Error::InvalidKey { suite, reason }
}

fn doc_error(err: impl fmt::Display) -> Error {
    Error::InvalidDocument(err.to_string())
}

// ---------------------------------------------------------------------------
// Public keys
// ---------------------------------------------------------------------------

/// A public key of one suite.
///
/// Cheap to clone (an `Arc`); it caches what verification needs — for SM2 the
/// Z_A digest under the default ID, so a verify hashes only the message.
/// Equality and hashing compare suite and point.
#[derive(Clone)]
pub struct PublicKey(Arc<PublicInner>);

struct PublicInner {
    suite: Suite,
    sec1: [u8; SEC1_LEN],
    address: Address,
    kind: PublicKind,
}

pub(crate) enum PublicKind {
    Gm(GmPublic),
    K1(k256::ecdsa::VerifyingKey),
    R1(p256::PublicKey),
}

pub(crate) struct GmPublic {
    pub(crate) point: ::sm2::PublicKey,
    pub(crate) fast: efficient_sm2::PublicKey,
    pub(crate) z_default: [u8; 32],
}

fn uncompressed<P: ToSec1Point<C>, C>(suite: Suite, point: &P) -> Result<[u8; SEC1_LEN]>
where
    C: ::sm2::elliptic_curve::Curve,
    ::sm2::elliptic_curve::FieldBytesSize<C>: ::sm2::elliptic_curve::sec1::ModulusSize,
{
    point.to_sec1_point(false).as_bytes().try_into().map_err(|_| invalid(suite, "point at infinity"))
}

impl PublicKey {
    fn build(suite: Suite, sec1: [u8; SEC1_LEN], kind: PublicKind) -> Self {
        let digest = suite.hash(&sec1[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&digest[12..]);
        PublicKey(Arc::new(PublicInner { suite, sec1, address: Address(address), kind }))
    }

    pub(crate) fn from_gm_point(point: ::sm2::PublicKey) -> Result<Self> {
        let sec1 = uncompressed(Suite::Gm, &point)?;
        let fast = efficient_sm2::PublicKey::from_slice(&sec1[1..]);
        let z_default = sm2::z_digest(crate::SM2_DEFAULT_ID, &sec1)?;
        Ok(Self::build(Suite::Gm, sec1, PublicKind::Gm(GmPublic { point, fast, z_default })))
    }

    fn from_k1(key: k256::ecdsa::VerifyingKey) -> Result<Self> {
        let sec1 = uncompressed(Suite::IntlK1, key.as_affine())?;
        Ok(Self::build(Suite::IntlK1, sec1, PublicKind::K1(key)))
    }

    fn from_r1(key: p256::PublicKey) -> Result<Self> {
        let sec1 = uncompressed(Suite::IntlR1, &key)?;
        Ok(Self::build(Suite::IntlR1, sec1, PublicKind::R1(key)))
    }

    /// Reads a SEC1 point (33-byte compressed or 65-byte uncompressed).
    ///
    /// Rejects the point at infinity and points not on the suite's curve.
    pub fn from_sec1(suite: Suite, bytes: &[u8]) -> Result<PublicKey> {
        let bad = || invalid(suite, "not a valid SEC1 point on the curve");
        match suite {
            Suite::Gm => Self::from_gm_point(::sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| bad())?),
            Suite::IntlK1 => {
                Self::from_k1(k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| bad())?)
            }
            Suite::IntlR1 => Self::from_r1(p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| bad())?),
        }
    }

    /// The uncompressed SEC1 encoding (`0x04 || x || y`, 65 bytes).
    pub fn to_sec1(&self) -> Vec<u8> {
        self.0.sec1.to_vec()
    }

    /// The uncompressed SEC1 encoding, borrowed.
    pub fn sec1_bytes(&self) -> &[u8; SEC1_LEN] {
        &self.0.sec1
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` (SPKI) PEM as written by
    /// `openssl pkey -pubout`; the suite comes from the curve OID.
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey> {
        let (label, doc) = spki::Document::from_pem(pem).map_err(doc_error)?;
        if label != "PUBLIC KEY" {
            return Err(Error::InvalidDocument(format!("expected a PUBLIC KEY PEM, found {label}")));
        }
        Self::from_spki_der(doc.as_bytes())
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(der).map_err(doc_error)?;
        let curve = info.algorithm.parameters_oid().ok();
        let suite = suite_of_curve(info.algorithm.oid, curve)?;
        let point = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::InvalidDocument("public key BIT STRING has unused bits".to_owned()))?;
        Self::from_sec1(suite, point)
    }

    /// The `-----BEGIN PUBLIC KEY-----` (SPKI) PEM, readable by OpenSSL 3.
    pub fn to_spki_pem(&self) -> Result<String> {
        let pem = match &self.0.kind {
            PublicKind::Gm(gm) => gm.point.to_public_key_pem(LineEnding::LF),
            PublicKind::K1(key) => k256::PublicKey::from(key).to_public_key_pem(LineEnding::LF),
            PublicKind::R1(key) => key.to_public_key_pem(LineEnding::LF),
        };
        pem.map_err(doc_error)
    }

    /// The suite this key belongs to.
    pub fn suite(&self) -> Suite {
        self.0.suite
    }

    /// The account address: last 20 bytes of `suite.hash(x || y)`.
    pub fn address(&self) -> Address {
        self.0.address
    }

    pub(crate) fn kind(&self) -> &PublicKind {
        &self.0.kind
    }

    pub(crate) fn gm(&self) -> Result<&GmPublic> {
        match &self.0.kind {
            PublicKind::Gm(gm) => Ok(gm),
            _ => Err(Error::SuiteMismatch { expected: Suite::Gm, found: self.suite() }),
        }
    }

    /// Verifies a DER signature over `msg` (see the crate docs for each suite's rule).
    ///
    /// Malformed DER, out-of-range scalars and (on `intl-k1`) high-s
    /// signatures are [`Error::MalformedSignature`]; a well-formed signature
    /// that does not match is [`Error::BadSignature`].
    pub fn verify(&self, msg: &[u8], sig_der: &[u8]) -> Result<()> {
        match &self.0.kind {
            PublicKind::Gm(gm) => {
                let e = sm2::e_digest(&gm.z_default, msg);
                sm2::verify_digest(gm, &e, sig_der)
            }
            PublicKind::K1(key) => {
                let sig = k256::ecdsa::Signature::from_der(sig_der).map_err(|_| Error::MalformedSignature)?;
                // Ethereum-style chains accept only low-s, so (r, n - s) cannot replay a transaction.
                if bool::from(::sm2::elliptic_curve::scalar::IsHigh::is_high(&*sig.s())) {
                    return Err(Error::MalformedSignature);
                }
                key.verify_prehash(&crate::keccak256(msg), &sig).map_err(|_| Error::BadSignature)
            }
            PublicKind::R1(_) => {
                // Parsing first only classifies the failure; ring re-parses strictly.
                p256::ecdsa::Signature::from_der(sig_der).map_err(|_| Error::MalformedSignature)?;
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.0.sec1[..])
                    .verify(msg, sig_der)
                    .map_err(|_| Error::BadSignature)
            }
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.suite == other.0.suite && self.0.sec1 == other.0.sec1
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::hash::Hash::hash(&self.0.suite, state);
        std::hash::Hash::hash(&self.0.sec1, state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("suite", &self.0.suite)
            .field("sec1", &hex::encode(self.0.sec1))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Private keys
// ---------------------------------------------------------------------------

/// A private key of one suite, with its public key.
///
/// `Debug` shows only the suite and address. Secret scalars are zeroized on
/// drop (RustCrypto types, and our SM2 signing state); the copy inside ring's
/// P-256 signer is not, as ring does not offer that.
#[derive(Clone)]
pub struct PrivateKey {
    public: PublicKey,
    secret: Secret,
}

#[derive(Clone)]
pub(crate) enum Secret {
    Gm(GmSecret),
    K1(k256::ecdsa::SigningKey),
    R1(R1Secret),
}

#[derive(Clone)]
pub(crate) struct R1Secret {
    pub(crate) key: p256::SecretKey,
    /// ring signs P-256 ~5x faster than RustCrypto; it cannot export keys, so
    /// `key` stays alongside for PKCS#8 and ECDH.
    signer: Arc<EcdsaKeyPair>,
}

impl PrivateKey {
    /// Generates a fresh key from OS randomness.
    ///
    /// # Panics
    /// If the operating system's random number generator fails: no key can be
    /// made safely then. Use [`PrivateKey::try_generate`] to handle that case.
    #[allow(clippy::expect_used)]
    pub fn generate(suite: Suite) -> PrivateKey {
        Self::try_generate(suite).expect("OS random number generator failed; cannot generate a key")
    }

    /// Generates a fresh key from OS randomness; fails only if the OS RNG does.
    pub fn try_generate(suite: Suite) -> Result<PrivateKey> {
        // Rejection sampling: a uniform 256-bit string is a valid scalar with
        // overwhelming probability on all three curves.
        for _ in 0..64 {
            let candidate = zeroize::Zeroizing::new(crate::rng::bytes32()?);
            match Self::from_scalar_bytes(suite, candidate.as_slice()) {
                Ok(key) => return Ok(key),
                Err(Error::InvalidKey { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Rng)
    }

    /// Builds a key from its 32-byte big-endian private scalar.
    ///
    /// The scalar must be in `[1, n-1]` (SM2: `[1, n-2]`, since signing inverts `1 + d`).
    pub fn from_scalar_bytes(suite: Suite, bytes: &[u8]) -> Result<PrivateKey> {
        if bytes.len() != 32 {
            return Err(Error::InvalidLength { what: "private scalar", expected: 32, got: bytes.len() });
        }
        let out_of_range = || invalid(suite, "private scalar out of range");
        match suite {
            Suite::Gm => {
                let key = ::sm2::SecretKey::from_slice(bytes).map_err(|_| out_of_range())?;
                let secret = GmSecret::new(&key).ok_or_else(out_of_range)?;
                let public = PublicKey::from_gm_point(key.public_key())?;
                Ok(PrivateKey { public, secret: Secret::Gm(secret) })
            }
            Suite::IntlK1 => {
                let key = k256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| out_of_range())?;
                let public = PublicKey::from_k1(*key.verifying_key())?;
                Ok(PrivateKey { public, secret: Secret::K1(key) })
            }
            Suite::IntlR1 => {
                let key = p256::SecretKey::from_slice(bytes).map_err(|_| out_of_range())?;
                let public = PublicKey::from_r1(key.public_key())?;
                let signer = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    bytes,
                    public.sec1_bytes(),
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|_| invalid(suite, "ring rejected the P-256 key"))?;
                Ok(PrivateKey { public, secret: Secret::R1(R1Secret { key, signer: Arc::new(signer) }) })
            }
        }
    }

    /// Reads a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM such as
    /// `openssl genpkey -algorithm SM2` (or `-algorithm EC -pkeyopt
    /// ec_paramgen_curve:secp256k1|prime256v1`) writes; the suite comes from the curve OID.
    pub fn from_pkcs8_pem(pem: &str) -> Result<PrivateKey> {
        let (label, doc) = pkcs8::SecretDocument::from_pem(pem).map_err(doc_error)?;
        if label != "PRIVATE KEY" {
            return Err(Error::InvalidDocument(format!(
                "expected a PRIVATE KEY (PKCS#8) PEM, found {label}"
            )));
        }
        Self::from_pkcs8_der(doc.as_bytes())
    }

    /// Reads a DER PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der).map_err(doc_error)?;
        let curve = info.algorithm.parameters_oid().ok();
        let suite = suite_of_curve(info.algorithm.oid, curve)?;
        let scalar = match suite {
            Suite::Gm => ::sm2::SecretKey::from_pkcs8_der(der).map_err(doc_error)?.to_bytes(),
            Suite::IntlK1 => k256::SecretKey::from_pkcs8_der(der).map_err(doc_error)?.to_bytes(),
            Suite::IntlR1 => p256::SecretKey::from_pkcs8_der(der).map_err(doc_error)?.to_bytes(),
        };
        let scalar = zeroize::Zeroizing::new(scalar);
        tracing::debug!(target: "govchain::crypto", %suite, "loaded PKCS#8 private key");
        Self::from_scalar_bytes(suite, scalar.as_slice())
    }

    /// The `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM, readable by `openssl pkey`.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let pem = match &self.secret {
            Secret::Gm(gm) => gm.secret_key().to_pkcs8_pem(LineEnding::LF),
            Secret::K1(key) => k256::SecretKey::from(key.as_nonzero_scalar()).to_pkcs8_pem(LineEnding::LF),
            Secret::R1(r1) => r1.key.to_pkcs8_pem(LineEnding::LF),
        };
        Ok(pem.map_err(doc_error)?.as_str().to_owned())
    }

    /// The suite this key belongs to.
    pub fn suite(&self) -> Suite {
        self.public.suite()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The account address of the public key.
    pub fn address(&self) -> Address {
        self.public.address()
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    pub(crate) fn gm(&self) -> Result<&GmSecret> {
        match &self.secret {
            Secret::Gm(gm) => Ok(gm),
            _ => Err(Error::SuiteMismatch { expected: Suite::Gm, found: self.suite() }),
        }
    }

    /// Signs `msg`, returning a DER `SEQUENCE { r, s }`.
    ///
    /// gm: SM2 with Z_A over the default ID `1234567812345678`, randomized
    /// (hedged RFC 6979) nonce; intl-k1: ECDSA over Keccak-256(msg), RFC 6979,
    /// low-s; intl-r1: ECDSA over SHA-256(msg) (`openssl dgst -sha256 -verify` accepts it).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        match &self.secret {
            Secret::Gm(gm) => {
                let z = &self.public.gm()?.z_default;
                sm2::sign_digest(gm, &sm2::e_digest(z, msg))
            }
            Secret::K1(key) => {
                let sig: k256::ecdsa::Signature = key
                    .sign_prehash(&crate::keccak256(msg))
                    .map_err(|_| Error::Signing("secp256k1 signing failed"))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Secret::R1(r1) => r1
                .signer
                .sign(&ring::rand::SystemRandom::new(), msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| Error::Rng),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("suite", &self.suite())
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}
