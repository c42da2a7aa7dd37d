//! RFC 8998 record protection and key exchange for `gm` chains: the `TLS_SM4_GCM_SM3` cipher
//! suite (SM4-GCM records, SM3 transcript hash, HKDF over HMAC-SM3) and ECDHE over `curveSM2`.
//! With `sm2sig_sm3` handshake signatures ([`crate::SM2SIG_SM3`]) every algorithm of a gm
//! chain's TLS is an SM algorithm.

use std::fmt;

use govchain_crypto::{Hasher, Suite};
use rustls::{
    CipherSuite, CipherSuiteCommon, ContentType, NamedGroup, ProtocolVersion, SupportedCipherSuite,
    Tls13CipherSuite,
    crypto::{
        ActiveKeyExchange, SharedSecret, SupportedKxGroup,
        cipher::{
            AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, MessageDecrypter, MessageEncrypter,
            Nonce, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload, Tls13AeadAlgorithm,
            UnsupportedOperationError, make_tls13_aad,
        },
        hash::{self, HashAlgorithm},
        hmac,
        tls13::HkdfUsingHmac,
    },
    version::TLS13,
};
use sm2::elliptic_curve::{Generate, point::AffineCoordinates, sec1::ToSec1Point};

/// `TLS_SM4_GCM_SM3` (RFC 8998 §2: `{0x00, 0xC6}`).
pub static TLS13_SM4_GCM_SM3: SupportedCipherSuite = SupportedCipherSuite::Tls13(&Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: CipherSuite::Unknown(0x00C6),
        hash_provider: &Sm3,
        // As for AES-GCM (RFC 8446 §5.5): SM4 is a 128-bit block cipher in the same mode.
        confidentiality_limit: 1 << 24,
    },
    hkdf_provider: &HkdfUsingHmac(&HmacSm3),
    aead_alg: &Sm4Gcm,
    quic: None,
});

/// `curveSM2` (RFC 8998 §2: `0x0029`): ECDHE over the SM2 curve as RFC 8446 §7.4.2 does it for
/// the NIST curves — uncompressed points in the key shares, the shared point's x-coordinate as
/// the secret. (Not the SM2 key exchange protocol of GB/T 32918.3.)
pub static CURVE_SM2: &dyn SupportedKxGroup = &CurveSm2;

const SM3_LEN: usize = 32;
const SM3_BLOCK_LEN: usize = 64;

struct Sm3;

impl hash::Hash for Sm3 {
    fn start(&self) -> Box<dyn hash::Context> {
        Box::new(Sm3Context(Suite::Gm.hasher()))
    }

    fn hash(&self, data: &[u8]) -> hash::Output {
        hash::Output::new(&govchain_crypto::sm3(data))
    }

    fn output_len(&self) -> usize {
        SM3_LEN
    }

    fn algorithm(&self) -> HashAlgorithm {
        // TLS has no HashAlgorithm number for SM3 (only TLS 1.2 used them). rustls compares the
        // value across suites (resumption, HelloRetryRequest), so it must only differ from the
        // SHA-2 numbers; 7 is unassigned.
        HashAlgorithm::Unknown(7)
    }
}

struct Sm3Context(Hasher);

impl hash::Context for Sm3Context {
    fn fork_finish(&self) -> hash::Output {
        hash::Output::new(&self.0.clone().finalize())
    }

    fn fork(&self) -> Box<dyn hash::Context> {
        Box::new(Sm3Context(self.0.clone()))
    }

    fn finish(self: Box<Self>) -> hash::Output {
        hash::Output::new(&self.0.finalize())
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}

/// HMAC (RFC 2104) over SM3, the PRF of HKDF-SM3.
struct HmacSm3;

impl hmac::Hmac for HmacSm3 {
    fn with_key(&self, key: &[u8]) -> Box<dyn hmac::Key> {
        let mut block = [0u8; SM3_BLOCK_LEN];
        if key.len() > SM3_BLOCK_LEN {
            block[..SM3_LEN].copy_from_slice(&govchain_crypto::sm3(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Suite::Gm.hasher();
        let mut outer = Suite::Gm.hasher();
        inner.update(&block.map(|b| b ^ 0x36));
        outer.update(&block.map(|b| b ^ 0x5c));
        Box::new(HmacSm3Key { inner, outer })
    }

    fn hash_output_len(&self) -> usize {
        SM3_LEN
    }
}

/// SM3 states after absorbing the padded key (the key itself is not kept).
struct HmacSm3Key {
    inner: Hasher,
    outer: Hasher,
}

impl hmac::Key for HmacSm3Key {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> hmac::Tag {
        let mut inner = self.inner.clone();
        inner.update(first);
        for part in middle {
            inner.update(part);
        }
        inner.update(last);
        let mut outer = self.outer.clone();
        outer.update(&inner.finalize());
        hmac::Tag::new(&outer.finalize())
    }

    fn tag_len(&self) -> usize {
        SM3_LEN
    }
}

struct Sm4Gcm;

impl Tls13AeadAlgorithm for Sm4Gcm {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Sm4GcmRecords { key, iv })
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Sm4GcmRecords { key, iv })
    }

    fn key_len(&self) -> usize {
        govchain_crypto::sm4::KEY_LEN
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: Iv,
    ) -> Result<rustls::ConnectionTrafficSecrets, UnsupportedOperationError> {
        // Only for handing keys to kernel TLS, which has no SM4-GCM here.
        Err(UnsupportedOperationError)
    }
}

/// One direction's record key (RFC 8446 §5.2-5.3: per-record nonce = IV xor sequence number,
/// the record header as associated data).
struct Sm4GcmRecords {
    key: AeadKey,
    iv: Iv,
}

impl MessageEncrypter for Sm4GcmRecords {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, rustls::Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        // TLSInnerPlaintext: content || type (no padding).
        let mut inner = Vec::with_capacity(msg.payload.len() + 1);
        inner.extend_from_slice(&msg.payload.to_vec());
        inner.extend_from_slice(&msg.typ.to_array());
        let nonce = Nonce::new(&self.iv, seq).0;
        let sealed =
            govchain_crypto::sm4::gcm_encrypt(self.key.as_ref(), &nonce, &make_tls13_aad(total_len), &inner)
                .map_err(|_| rustls::Error::EncryptError)?;
        let mut payload = PrefixedPayload::with_capacity(total_len);
        payload.extend_from_slice(&sealed);
        // TLS 1.3 records carry the legacy version 0x0303 (RFC 8446 §5.1).
        Ok(OutboundOpaqueMessage::new(ContentType::ApplicationData, ProtocolVersion::TLSv1_2, payload))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + govchain_crypto::sm4::TAG_LEN
    }
}

impl MessageDecrypter for Sm4GcmRecords {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, rustls::Error> {
        let payload = &mut msg.payload;
        if payload.len() < govchain_crypto::sm4::TAG_LEN {
            return Err(rustls::Error::DecryptError);
        }
        let nonce = Nonce::new(&self.iv, seq).0;
        let plain = govchain_crypto::sm4::gcm_decrypt(
            self.key.as_ref(),
            &nonce,
            &make_tls13_aad(payload.len()),
            payload,
        )
        .map_err(|_| rustls::Error::DecryptError)?;
        payload[..plain.len()].copy_from_slice(&plain);
        payload.truncate(plain.len());
        msg.into_tls13_unpadded_message()
    }
}

struct CurveSm2;

impl fmt::Debug for CurveSm2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("curveSM2")
    }
}

const CURVE_SM2_GROUP: NamedGroup = NamedGroup::Unknown(0x0029);

impl SupportedKxGroup for CurveSm2 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = sm2::SecretKey::try_generate().map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        Ok(Box::new(Sm2Ephemeral { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        CURVE_SM2_GROUP
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == TLS13.version
    }
}

/// An ephemeral curveSM2 key; its scalar is wiped when dropped (RustCrypto `SecretKey`).
struct Sm2Ephemeral {
    secret: sm2::SecretKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for Sm2Ephemeral {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        // RFC 8446 §4.2.8.2: only the uncompressed form is allowed.
        if peer_pub_key.len() != 65 || peer_pub_key[0] != 0x04 {
            return Err(rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare));
        }
        // from_sec1_bytes checks the point is on the curve (no invalid-curve attacks) and
        // not the identity.
        let peer = sm2::PublicKey::from_sec1_bytes(peer_pub_key)
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = (peer.to_projective() * *self.secret.to_nonzero_scalar()).to_affine();
        Ok(SharedSecret::from(shared.x().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        CURVE_SM2_GROUP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::hmac::Hmac as _;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_sm3_matches_openssl() {
        // `printf 'The quick brown fox jumps over the lazy dog' | openssl dgst -sm3 -hmac key`
        let tag = HmacSm3.with_key(b"key").sign(&[b"The quick brown fox ", b"jumps over the lazy dog"]);
        assert_eq!(hex(tag.as_ref()), "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398");
    }

    #[test]
    fn hmac_sm3_hashes_long_keys_first() {
        let long = [0x61u8; 100];
        let direct = HmacSm3.with_key(&long).sign(&[b"msg"]);
        let hashed = HmacSm3.with_key(&govchain_crypto::sm3(&long)).sign(&[b"msg"]);
        assert_eq!(direct.as_ref(), hashed.as_ref());
        assert_ne!(direct.as_ref(), HmacSm3.with_key(&long[..64]).sign(&[b"msg"]).as_ref());
    }

    #[test]
    fn curve_sm2_agrees_and_refuses_bad_shares() {
        let a = CurveSm2.start().unwrap();
        let b = CurveSm2.start().unwrap();
        let (a_pub, b_pub) = (a.pub_key().to_vec(), b.pub_key().to_vec());
        assert_eq!(a_pub.len(), 65);
        let sa = a.complete(&b_pub).unwrap();
        let sb = b.complete(&a_pub).unwrap();
        assert_eq!(sa.secret_bytes(), sb.secret_bytes());
        assert_eq!(sa.secret_bytes().len(), 32);

        let mut off_curve = b_pub.clone();
        off_curve[64] ^= 1;
        assert!(CurveSm2.start().unwrap().complete(&off_curve).is_err());
        assert!(CurveSm2.start().unwrap().complete(&b_pub[..33]).is_err());
        assert!(CurveSm2.start().unwrap().complete(&[]).is_err());
    }
}
