//! SM2 key exchange (GB/T 32918.3-2016 §6.1), both roles, with the optional
//! confirmation hashes S1/S2/SA/SB.
//!
//! Message flow, with each side holding its long-term key and the peer's
//! public key and ID:
//!
//! ```text
//! initiator A                                  responder B
//! KeyExchange::new(Initiator, ..)  -- R_A -->  KeyExchange::new(Responder, ..)
//!                                              agree(R_A) -> key, S_B
//!                        <-- R_B, S_B --
//! agree(R_B) -> key; verify_peer_confirmation(S_B); send S_A
//!                        -- S_A -->            verify_peer_confirmation(S_A)
//! ```

use std::fmt;

use ::sm2::{
    FieldBytes, NonZeroScalar, ProjectivePoint, Scalar,
    elliptic_curve::{Generate, Group, PrimeField, sec1::ToSec1Point, subtle::ConstantTimeEq},
};
use sm3::{Digest, Sm3};
use zeroize::{Zeroize, Zeroizing};

use super::{GmSecret, z_a};
use crate::{Error, PrivateKey, PublicKey, Result, rng};

/// Largest shared key [`KeyExchange::agree`] derives, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Which side of the exchange this party is; it fixes the order of Z_A/Z_B
/// and which confirmation hash is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// User A: sends `R_A` first, receives `R_B` and `S_B`, sends `S_A`.
    Initiator,
    /// User B: receives `R_A`, answers with `R_B` and `S_B`, checks `S_A`.
    Responder,
}

/// One party's state in an SM2 key exchange: long-term key, both Z digests
/// and a fresh ephemeral key. Used once, by [`KeyExchange::agree`].
pub struct KeyExchange {
    role: Role,
    secret: GmSecret,
    peer: PublicKey,
    z_initiator: [u8; 32],
    z_responder: [u8; 32],
    ephemeral: NonZeroScalar,
    ephemeral_public: [u8; 65],
}

impl KeyExchange {
    /// Starts an exchange: `own` with ID `own_id` against `peer` with ID
    /// `peer_id`, drawing a fresh ephemeral key from OS randomness.
    pub fn new(
        role: Role,
        own: &PrivateKey,
        own_id: &[u8],
        peer: &PublicKey,
        peer_id: &[u8],
    ) -> Result<Self> {
        let ephemeral = NonZeroScalar::try_generate_from_rng(&mut rng::SysRng).map_err(|_| Error::Rng)?;
        Self::with_ephemeral(role, own, own_id, peer, peer_id, ephemeral)
    }

    /// `new` with a given ephemeral key; tests use it to replay the published example.
    fn with_ephemeral(
        role: Role,
        own: &PrivateKey,
        own_id: &[u8],
        peer: &PublicKey,
        peer_id: &[u8],
        ephemeral: NonZeroScalar,
    ) -> Result<Self> {
        let secret = own.gm()?.clone();
        let own_z = z_a(&own.public_key(), own_id)?;
        let peer_z = z_a(peer, peer_id)?;
        let (z_initiator, z_responder) = match role {
            Role::Initiator => (own_z, peer_z),
            Role::Responder => (peer_z, own_z),
        };
        let ephemeral_public = ProjectivePoint::mul_by_generator(&*ephemeral)
            .to_affine()
            .to_sec1_point(false)
            .as_bytes()
            .try_into()
            .map_err(|_| Error::KeyExchange("ephemeral point at infinity"))?;
        Ok(KeyExchange {
            role,
            secret,
            peer: peer.clone(),
            z_initiator,
            z_responder,
            ephemeral,
            ephemeral_public,
        })
    }

    /// This party's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// This party's ephemeral public key (`R_A` or `R_B`), uncompressed SEC1, to send to the peer.
    pub fn ephemeral_public(&self) -> [u8; 65] {
        self.ephemeral_public
    }

    /// Completes the exchange with the peer's ephemeral public key (SEC1,
    /// compressed or not), deriving `key_len` bytes of shared key
    /// (1..=[`MAX_KEY_LEN`]) and both confirmation hashes.
    pub fn agree(self, peer_ephemeral: &[u8], key_len: usize) -> Result<Agreement> {
        if key_len == 0 || key_len > MAX_KEY_LEN {
            return Err(Error::InvalidLength {
                what: "SM2 exchanged key",
                expected: MAX_KEY_LEN,
                got: key_len,
            });
        }
        // Steps B2/A6: the peer's R must be a valid point on the curve.
        let peer_r = ::sm2::PublicKey::from_sec1_bytes(peer_ephemeral)
            .map_err(|_| Error::KeyExchange("peer ephemeral key is not a valid point"))?;
        let peer_r_sec1: [u8; 65] = peer_r
            .to_sec1_point(false)
            .as_bytes()
            .try_into()
            .map_err(|_| Error::KeyExchange("peer ephemeral key is the point at infinity"))?;

        // t = (d + x̄_own · r) mod n;  V = [h·t](P_peer + [x̄_peer] R_peer), h = 1.
        let t = *self.secret.scalar().as_ref() + x_bar(&self.ephemeral_public) * *self.ephemeral.as_ref();
        let peer_static = self.peer.gm()?.point;
        let sum = peer_static.to_projective() + peer_r.to_projective() * x_bar(&peer_r_sec1);
        let v = sum * t;
        if bool::from(v.is_identity()) {
            return Err(Error::KeyExchange("shared point is the point at infinity"));
        }
        let v = Zeroizing::new(v.to_affine().to_sec1_point(false).as_bytes().to_vec());
        let (xv, yv) = (&v[1..33], &v[33..65]);

        let (ra, rb) = match self.role {
            Role::Initiator => (&self.ephemeral_public, &peer_r_sec1),
            Role::Responder => (&peer_r_sec1, &self.ephemeral_public),
        };
        let key = kdf(&[xv, yv, &self.z_initiator, &self.z_responder], key_len);

        let inner: [u8; 32] = Sm3::new()
            .chain_update(xv)
            .chain_update(self.z_initiator)
            .chain_update(self.z_responder)
            .chain_update(&ra[1..])
            .chain_update(&rb[1..])
            .finalize()
            .into();
        let tagged = |tag: u8| -> [u8; 32] {
            Sm3::new().chain_update([tag]).chain_update(yv).chain_update(inner).finalize().into()
        };
        // S_B = S1 uses 0x02, S_A = S2 uses 0x03.
        let (s_b, s_a) = (tagged(0x02), tagged(0x03));
        let (confirmation, expected_peer_confirmation) = match self.role {
            Role::Initiator => (s_a, s_b),
            Role::Responder => (s_b, s_a),
        };
        Ok(Agreement { key, confirmation, expected_peer_confirmation })
    }
}

impl Drop for KeyExchange {
    fn drop(&mut self) {
        self.ephemeral.zeroize();
    }
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("role", &self.role)
            .field("peer", &self.peer.address())
            .field("ephemeral_public", &hex::encode(self.ephemeral_public))
            .finish_non_exhaustive()
    }
}

/// `x̄ = 2^w + (x mod 2^w)` with `w = ⌈⌈log2 n⌉ / 2⌉ - 1 = 127`.
fn x_bar(point_sec1: &[u8; 65]) -> Scalar {
    let mut bytes = FieldBytes::default();
    bytes[16..].copy_from_slice(&point_sec1[17..33]);
    bytes[16] = (bytes[16] & 0x7f) | 0x80;
    // A 128-bit value is always below n, so from_repr cannot fail; fall back to
    // zero only to stay panic-free.
    Option::<Scalar>::from(Scalar::from_repr(bytes)).unwrap_or(Scalar::ZERO)
}

/// GB/T 32918.3 §5.4.3 KDF: `SM3(Z || ct)` for `ct = 1, 2, ..`, truncated.
fn kdf(parts: &[&[u8]], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 32));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Sm3::new();
        for part in parts {
            h.update(part);
        }
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Result of an SM2 key exchange.
pub struct Agreement {
    key: Zeroizing<Vec<u8>>,
    confirmation: [u8; 32],
    expected_peer_confirmation: [u8; 32],
}

impl Agreement {
    /// The shared key (`K_A = K_B`).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The confirmation hash to send to the peer: `S_A` for the initiator,
    /// `S_B` for the responder.
    pub fn confirmation(&self) -> [u8; 32] {
        self.confirmation
    }

    /// Checks the peer's confirmation hash (the initiator checks `S_B` against
    /// its `S1`, the responder checks `S_A` against its `S2`), in constant time.
    pub fn verify_peer_confirmation(&self, peer_confirmation: &[u8]) -> Result<()> {
        if peer_confirmation.len() == 32
            && bool::from(self.expected_peer_confirmation.ct_eq(peer_confirmation))
        {
            Ok(())
        } else {
            Err(Error::KeyExchange("peer confirmation hash does not match"))
        }
    }
}

impl fmt::Debug for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agreement").field("key_len", &self.key.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Suite;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn scalar(s: &str) -> NonZeroScalar {
        Option::from(NonZeroScalar::from_repr(FieldBytes::try_from(h(s).as_slice()).unwrap())).unwrap()
    }

    // GB/T 32918.5-2017 (GM/T 0003.5-2012) key exchange example on the
    // recommended curve, both IDs 1234567812345678, klen = 128 bits; values as
    // in Tencent/TencentKonaSMSuite SM2KeyAgreementTest.java
    // (testSM2KeyAgreement) and the S_A/S_B quoted with them elsewhere.
    const D_A: &str = "81EB26E941BB5AF16DF116495F90695272AE2CD63D6C4AE1678418BE48230029";
    const P_A: &str = "04160E12897DF4EDB61DD812FEB96748FBD3CCF4FFE26AA6F6DB9540AF49C942324A7DAD08BB9A459531694BEB20AA489D6649975E1BFCF8C4741B78B4B223007F";
    const R_A: &str = "D4DE15474DB74D06491C440D305E012400990F3E390C7E87153C12DB2EA60BB3";
    const RA_PUB: &str = "0464CED1BDBC99D590049B434D0FD73428CF608A5DB8FE5CE07F15026940BAE40E376629C7AB21E7DB260922499DDB118F07CE8EAAE3E7720AFEF6A5CC062070C0";
    const D_B: &str = "785129917D45A9EA5437A59356B82338EAADDA6CEB199088F14AE10DEFA229B5";
    const P_B: &str = "046AE848C57C53C7B1B5FA99EB2286AF078BA64C64591B8B566F7357D576F16DFBEE489D771621A27B36C5C7992062E9CD09A9264386F3FBEA54DFF69305621C4D";
    const R_B: &str = "7E07124814B309489125EAED101113164EBF0F3458C5BD88335C1F9D596243D6";
    const RB_PUB: &str = "04ACC27688A6F7B706098BC91FF3AD1BFF7DC2802CDB14CCCCDB0A90471F9BD7072FEDAC0494B2FFC4D6853876C79B8F301C6573AD0AA50F39FC87181E1A1B46FE";
    const K: &str = "6C89347354DE2484C60B4AB1FDE4C6E5";
    const S_B: &str = "D3A0FE15DEE185CEAE907A6B595CC32A266ED7B3367E9983A896DC32FA20F8EB";
    const S_A: &str = "18C7894B3816DF16CF07B05C5EC0BEF5D655D58F779CC1B400A4F3884644DB88";

    #[test]
    fn published_key_exchange_example() {
        let id = crate::SM2_DEFAULT_ID;
        let a = PrivateKey::from_scalar_bytes(Suite::Gm, &h(D_A)).unwrap();
        let b = PrivateKey::from_scalar_bytes(Suite::Gm, &h(D_B)).unwrap();
        assert_eq!(a.public_key().to_sec1(), h(P_A));
        assert_eq!(b.public_key().to_sec1(), h(P_B));

        let init =
            KeyExchange::with_ephemeral(Role::Initiator, &a, id, &b.public_key(), id, scalar(R_A)).unwrap();
        let resp =
            KeyExchange::with_ephemeral(Role::Responder, &b, id, &a.public_key(), id, scalar(R_B)).unwrap();
        assert_eq!(init.ephemeral_public().to_vec(), h(RA_PUB));
        assert_eq!(resp.ephemeral_public().to_vec(), h(RB_PUB));

        let b_side = resp.agree(&h(RA_PUB), 16).unwrap();
        assert_eq!(b_side.key(), h(K));
        assert_eq!(b_side.confirmation().to_vec(), h(S_B));

        let a_side = init.agree(&h(RB_PUB), 16).unwrap();
        assert_eq!(a_side.key(), h(K));
        a_side.verify_peer_confirmation(&h(S_B)).unwrap();
        assert_eq!(a_side.confirmation().to_vec(), h(S_A));
        b_side.verify_peer_confirmation(&a_side.confirmation()).unwrap();
        assert!(b_side.verify_peer_confirmation(&h(S_B)).is_err());
    }

    #[test]
    fn kdf_matches_concatenated_hashes() {
        let out = kdf(&[b"ab", b"c"], 40);
        let mut expect = Sm3::new().chain_update(b"abc").chain_update(1u32.to_be_bytes()).finalize().to_vec();
        expect.extend_from_slice(
            &Sm3::new().chain_update(b"abc").chain_update(2u32.to_be_bytes()).finalize()[..8],
        );
        assert_eq!(out.as_slice(), expect.as_slice());
    }
}
