//! SM2 (GB/T 32918): signatures with an explicit distinguishing ID,
//! public-key encryption, and key exchange ([`KeyExchange`]).
//!
//! [`PrivateKey::sign`](crate::PrivateKey::sign) and
//! [`PublicKey::verify`](crate::PublicKey::verify) already do SM2 with the
//! default ID; this module adds the other IDs, encryption and key exchange.
//!
//! Implementation split, measured by `benches/suites.rs` on one core of the
//! 2-core dev machine: verification runs on `efficient-sm2` over a Z_A digest
//! we compute once per key (~7.9k verifies/s vs ~6.7k for `efficient-sm2`
//! hashing Z_A per call and ~4.1k for RustCrypto `sm2`). Everything touching
//! a secret (signing, decryption, key exchange) runs on RustCrypto's
//! constant-time arithmetic: `efficient-sm2` signs ~2x faster (~24k/s vs
//! ~12k/s) but its fixed-base multiplication branches on and indexes tables
//! by the nonce's bytes, a timing side channel on the key.

mod exchange;

pub use exchange::{Agreement, KeyExchange, Role};

use ::sm2::{
    FieldBytes, NonZeroScalar, ProjectivePoint, Scalar, U256,
    elliptic_curve::{Curve, Group, PrimeField, ops::Reduce, point::AffineCoordinates},
    pke::{DecryptingKey, EncryptingKey, Mode},
};
use sm3::{Digest, Sm3};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, PrivateKey, PublicKey, Result, keys::GmPublic, rng};

/// Parses 64 hex digits at compile time.
const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    assert!(b.len() == 64, "need 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

// Curve parameters of the recommended curve (GB/T 32918.5), as hashed into Z_A.
const CURVE_A: [u8; 32] = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
const CURVE_B: [u8; 32] = hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
const GEN_X: [u8; 32] = hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
const GEN_Y: [u8; 32] = hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");

/// `Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)` (GB/T 32918.2 §5.5).
pub(crate) fn z_digest(id: &[u8], sec1_uncompressed: &[u8; 65]) -> Result<[u8; 32]> {
    let entl = id
        .len()
        .checked_mul(8)
        .and_then(|bits| u16::try_from(bits).ok())
        .ok_or(Error::InvalidLength { what: "SM2 distinguishing ID", expected: 8191, got: id.len() })?;
    let mut h = Sm3::new();
    h.update(entl.to_be_bytes());
    h.update(id);
    h.update(CURVE_A);
    h.update(CURVE_B);
    h.update(GEN_X);
    h.update(GEN_Y);
    h.update(&sec1_uncompressed[1..]);
    Ok(h.finalize().into())
}

/// `e = SM3(Z || M)`.
pub(crate) fn e_digest(z: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(z);
    h.update(msg);
    h.finalize().into()
}

/// The Z digest of `key` under distinguishing ID `id`.
pub fn z_a(key: &PublicKey, id: &[u8]) -> Result<[u8; 32]> {
    key.gm()?;
    z_digest(id, key.sec1_bytes())
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

/// An SM2 private scalar with `(1 + d)^-1` precomputed for signing.
#[derive(Clone)]
pub(crate) struct GmSecret {
    d: NonZeroScalar,
    d_plus_1_inv: Scalar,
}

impl GmSecret {
    /// `None` when `d = n - 1` (then `1 + d` has no inverse and the key cannot sign).
    pub(crate) fn new(key: &::sm2::SecretKey) -> Option<Self> {
        let d = key.to_nonzero_scalar();
        let d_plus_1_inv = Option::<Scalar>::from((*d + Scalar::ONE).invert())?;
        Some(GmSecret { d, d_plus_1_inv })
    }

    pub(crate) fn scalar(&self) -> &NonZeroScalar {
        &self.d
    }

    pub(crate) fn secret_key(&self) -> ::sm2::SecretKey {
        ::sm2::SecretKey::from(self.d)
    }
}

impl Drop for GmSecret {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d_plus_1_inv.zeroize();
    }
}

fn scalar_from_digest(e: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce(&U256::from_be_slice(e))
}

/// GB/T 32918.2 §6.1 steps A4–A6 with a given nonce `k`; `None` if `k` must be redrawn.
fn sign_with_k(secret: &GmSecret, e: &[u8; 32], k: &Scalar) -> Option<(Scalar, Scalar)> {
    let x1 = ProjectivePoint::mul_by_generator(k).to_affine().x();
    let r = scalar_from_digest(e) + <Scalar as Reduce<U256>>::reduce(&U256::from_be_slice(&x1));
    if bool::from(r.is_zero() | (r + k).is_zero()) {
        return None;
    }
    let s = secret.d_plus_1_inv * (*k - r * *secret.d);
    if bool::from(s.is_zero()) {
        return None;
    }
    Some((r, s))
}

fn encode_der(r: &Scalar, s: &Scalar) -> Result<Vec<u8>> {
    let sig = ::sm2::dsa::Signature::from_scalars(r.to_repr(), s.to_repr())
        .map_err(|_| Error::Signing("zero scalar"))?;
    Ok(sig.to_der().to_vec())
}

/// Signs the digest `e = SM3(Z || M)`.
///
/// The nonce is RFC 6979 over `(d, e)` hedged with 32 fresh OS random bytes:
/// a broken RNG then degrades to deterministic signing instead of leaking `d`.
pub(crate) fn sign_digest(secret: &GmSecret, e: &[u8; 32]) -> Result<Vec<u8>> {
    let entropy = Zeroizing::new(rng::bytes32()?);
    let d_bytes = Zeroizing::new(secret.d.to_repr());
    let mut kgen = rfc6979::KGenerator::<Sm3, U256>::new(&d_bytes, e, entropy.as_slice(), &::sm2::Sm2::ORDER);
    let mut k_bytes = Zeroizing::new(FieldBytes::default());
    // Each retry has probability ~2^-255; the bound only guards against a broken generator.
    for _ in 0..16 {
        kgen.fill_next_k(&mut k_bytes);
        let Some(k) = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(*k_bytes)) else { continue };
        if let Some((r, s)) = sign_with_k(secret, e, &k) {
            return encode_der(&r, &s);
        }
    }
    Err(Error::Signing("no usable SM2 nonce"))
}

/// Parses a DER SM2 signature into `(r, s)` byte strings, checking
/// `r, s ∈ [1, n-1]` and `r + s ≢ 0 (mod n)` (GB/T 32918.2 §7.1 B1, B2, B5).
fn parse_signature(sig_der: &[u8]) -> Result<([u8; 32], [u8; 32])> {
    let sig = ::sm2::dsa::Signature::from_der(sig_der).map_err(|_| Error::MalformedSignature)?;
    let (r, s) = (sig.r(), sig.s());
    if bool::from((*r + *s).is_zero()) {
        return Err(Error::MalformedSignature);
    }
    Ok((r.to_repr().into(), s.to_repr().into()))
}

/// Verifies a DER signature over digest `e` with `efficient-sm2`.
pub(crate) fn verify_digest(key: &GmPublic, e: &[u8; 32], sig_der: &[u8]) -> Result<()> {
    let (r, s) = parse_signature(sig_der)?;
    let sig = efficient_sm2::Signature::new(&r, &s).map_err(|_| Error::MalformedSignature)?;
    // efficient-sm2 compares x1 against (r - e) mod n in the field, so an
    // x1 >= n (probability ~2^-128) is a false reject, never a false accept.
    sig.verify_digest(&key.fast, e).map_err(|_| Error::BadSignature)
}

/// Signs `msg` with distinguishing ID `id` (DER `SEQUENCE { r, s }`).
///
/// `PrivateKey::sign` is this with [`SM2_DEFAULT_ID`](crate::SM2_DEFAULT_ID).
pub fn sign_with_id(key: &PrivateKey, id: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
    let secret = key.gm()?;
    let z = z_a(&key.public_key(), id)?;
    sign_digest(secret, &e_digest(&z, msg))
}

/// Verifies a DER signature made with distinguishing ID `id`.
pub fn verify_with_id(key: &PublicKey, id: &[u8], msg: &[u8], sig_der: &[u8]) -> Result<()> {
    let gm = key.gm()?;
    let z = z_a(key, id)?;
    verify_digest(gm, &e_digest(&z, msg), sig_der)
}

// ---------------------------------------------------------------------------
// Public-key encryption
// ---------------------------------------------------------------------------

/// Encoding of an SM2 ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CipherFormat {
    /// GM/T 0009 `SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }`,
    /// as `openssl pkeyutl -encrypt` writes for SM2 keys.
    #[default]
    Der,
    /// Raw `C1 || C3 || C2` with an uncompressed `C1` (GB/T 32918.4-2016).
    C1C3C2,
}

fn rc_public(key: &PublicKey) -> Result<::sm2::PublicKey> {
    Ok(key.gm()?.point)
}

fn encrypt_with_rng<R: ::sm2::elliptic_curve::rand_core::TryCryptoRng>(
    key: &PublicKey,
    plaintext: &[u8],
    format: CipherFormat,
    rng: &mut R,
) -> Result<Vec<u8>> {
    if plaintext.is_empty() {
        return Err(Error::Encryption("SM2 cannot encrypt an empty message"));
    }
    let enc = EncryptingKey::new_with_mode(rc_public(key)?, Mode::C1C3C2);
    let out = match format {
        CipherFormat::Der => enc.encrypt_der(rng, plaintext),
        CipherFormat::C1C3C2 => enc.encrypt(rng, plaintext),
    };
    out.map_err(|_| Error::Encryption("SM2 encryption failed"))
}

/// Encrypts to an SM2 public key, in the GM/T 0009 DER form OpenSSL uses.
pub fn encrypt(key: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>> {
    encrypt_as(key, plaintext, CipherFormat::Der)
}

/// Encrypts to an SM2 public key in the given format.
pub fn encrypt_as(key: &PublicKey, plaintext: &[u8], format: CipherFormat) -> Result<Vec<u8>> {
    encrypt_with_rng(key, plaintext, format, &mut rng::SysRng)
}

/// Decrypts a GM/T 0009 DER ciphertext (e.g. from `openssl pkeyutl -encrypt`).
pub fn decrypt(key: &PrivateKey, ciphertext: &[u8]) -> Result<Vec<u8>> {
    decrypt_as(key, ciphertext, CipherFormat::Der)
}

/// Decrypts a ciphertext in the given format; any malformation or a failed
/// C3 check is [`Error::Decryption`].
pub fn decrypt_as(key: &PrivateKey, ciphertext: &[u8], format: CipherFormat) -> Result<Vec<u8>> {
    let dec = DecryptingKey::new_with_mode(*key.gm()?.scalar(), Mode::C1C3C2);
    let out = match format {
        CipherFormat::Der => dec.decrypt_der(ciphertext),
        CipherFormat::C1C3C2 => dec.decrypt(ciphertext),
    };
    out.map_err(|_| Error::Decryption)
}

#[cfg(test)]
pub(crate) mod test_rng {
    use std::convert::Infallible;

    use ::sm2::elliptic_curve::rand_core::{TryCryptoRng, TryRng};

    /// Replays fixed bytes: drives the published examples' fixed nonces.
    pub(crate) struct Fixed(pub Vec<u8>);

    impl TryRng for Fixed {
        type Error = Infallible;

        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            unimplemented!("only fill_bytes is used")
        }

        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            unimplemented!("only fill_bytes is used")
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            assert!(self.0.len() >= dst.len(), "fixed RNG exhausted");
            let rest = self.0.split_off(dst.len());
            dst.copy_from_slice(&self.0);
            self.0 = rest;
            Ok(())
        }
    }

    impl TryCryptoRng for Fixed {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Suite;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // GM/T 0003.5-2012 / GB/T 32918.5 Annex A (recommended curve, default ID
    // 1234567812345678), as used in openssl/openssl test/sm2_internal_test.c
    // (`sm2_sig_test`); e from the same annex as quoted in gmalglib's SM2 test.
    const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
    const E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
    const R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
    const S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

    #[test]
    fn published_signature_with_fixed_nonce() {
        let key = PrivateKey::from_scalar_bytes(Suite::Gm, &h(D)).unwrap();
        let z = z_a(&key.public_key(), crate::SM2_DEFAULT_ID).unwrap();
        let e = e_digest(&z, b"message digest");
        assert_eq!(e.to_vec(), h(E));
        let k = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::try_from(h(K).as_slice()).unwrap()))
            .unwrap();
        let (r, s) = sign_with_k(key.gm().unwrap(), &e, &k).unwrap();
        assert_eq!(r.to_repr().to_vec(), h(R));
        assert_eq!(s.to_repr().to_vec(), h(S));
    }

    #[test]
    fn published_encryption_with_fixed_nonce() {
        // GM/T 0003.5-2012 Annex C, DER-serialized per GM/T 0009-2012 §7.2, from
        // openssl/openssl test/sm2_internal_test.c (`sm2_crypt_test`).
        let expected = h(concat!(
            "307C",
            "022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73",
            "022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0",
            "042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766",
            "041321886CA989CA9C7D58087307CA93092D651EFA"
        ));
        let key = PrivateKey::from_scalar_bytes(Suite::Gm, &h(D)).unwrap();
        let ct = encrypt_with_rng(
            &key.public_key(),
            b"encryption standard",
            CipherFormat::Der,
            &mut test_rng::Fixed(h(K)),
        )
        .unwrap();
        assert_eq!(ct, expected);
        assert_eq!(decrypt(&key, &ct).unwrap(), b"encryption standard");
    }

    #[test]
    fn t_equal_zero_is_rejected() {
        // r + s = n must be refused before any curve arithmetic.
        let r = Scalar::from(5u64);
        let s = -r;
        let der = encode_der(&r, &s).unwrap();
        assert!(matches!(parse_signature(&der), Err(Error::MalformedSignature)));
    }

    #[test]
    fn key_n_minus_1_cannot_sign() {
        let n_minus_1 = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54122");
        assert!(PrivateKey::from_scalar_bytes(Suite::Gm, &n_minus_1).is_err());
        let n_minus_2 = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54121");
        let key = PrivateKey::from_scalar_bytes(Suite::Gm, &n_minus_2).unwrap();
        let sig = key.sign(b"edge").unwrap();
        key.public_key().verify(b"edge", &sig).unwrap();
    }

    #[test]
    fn curve_constants_match_rustcrypto() {
        use ::sm2::elliptic_curve::sec1::ToSec1Point;
        let g = ::sm2::AffinePoint::GENERATOR.to_sec1_point(false);
        assert_eq!(&g.as_bytes()[1..33], GEN_X);
        assert_eq!(&g.as_bytes()[33..], GEN_Y);
        assert_eq!(
            ::sm2::Sm2::ORDER.to_be_bytes().as_slice(),
            &hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123")
        );
    }
}
