use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

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
