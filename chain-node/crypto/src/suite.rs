use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, Hasher, Result, aes, sm4};

/// The crypto suite of a chain, fixed at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Suite {
    /// SM2 signatures, encryption and key exchange, SM3 hash, SM4 cipher.
    #[serde(rename = "gm")]
    Gm,
    /// ECDSA over secp256k1, Keccak-256 (and SHA-256), AES-256-GCM, ECDH.
    #[serde(rename = "intl-k1")]
    IntlK1,
    /// ECDSA over P-256 (secp256r1), SHA-256, AES-256-GCM, ECDH.
    #[serde(rename = "intl-r1")]
    IntlR1,
}

impl Suite {
    /// Every suite, in a fixed order.
    pub const ALL: [Suite; 3] = [Suite::Gm, Suite::IntlK1, Suite::IntlR1];

    /// The suite's name as used in configs, CLIs and CRDs.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Gm => "gm",
            Suite::IntlK1 => "intl-k1",
            Suite::IntlR1 => "intl-r1",
        }
    }

    /// Hash of `data` under the suite: SM3 (gm), Keccak-256 (intl-k1) or SHA-256 (intl-r1).
    pub fn hash(self, data: &[u8]) -> [u8; 32] {
        match self {
            Suite::Gm => crate::sm3(data),
            Suite::IntlK1 => crate::keccak256(data),
            Suite::IntlR1 => crate::sha256(data),
        }
    }

    /// Incremental form of [`Suite::hash`].
    pub fn hasher(self) -> Hasher {
        Hasher::new(self)
    }

    /// Key length of the suite's AEAD: 16 (SM4-GCM) or 32 (AES-256-GCM).
    pub const fn seal_key_len(self) -> usize {
        match self {
            Suite::Gm => sm4::KEY_LEN,
            Suite::IntlK1 | Suite::IntlR1 => aes::KEY_LEN,
        }
    }

    /// Authenticated encryption with the suite's AEAD (gm: SM4-GCM, intl: AES-256-GCM).
    ///
    /// Returns `ciphertext || 16-byte tag`. The nonce must never repeat under one key.
    pub fn seal(self, key: &[u8], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        match self {
            Suite::Gm => sm4::gcm_encrypt(key, nonce, aad, plaintext),
            Suite::IntlK1 | Suite::IntlR1 => aes::gcm_encrypt(key, nonce, aad, plaintext),
        }
    }

    /// Inverse of [`Suite::seal`]; fails on a wrong key, nonce, AAD or any tampering.
    pub fn open(self, key: &[u8], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        match self {
            Suite::Gm => sm4::gcm_decrypt(key, nonce, aad, sealed),
            Suite::IntlK1 | Suite::IntlR1 => aes::gcm_decrypt(key, nonce, aad, sealed),
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::ALL
            .into_iter()
            .find(|suite| suite.name() == s)
            .ok_or_else(|| Error::UnknownSuite(s.to_owned()))
    }
}
