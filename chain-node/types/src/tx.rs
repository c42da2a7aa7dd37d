use govchain_crypto::{Address, PrivateKey, PublicKey, Suite};
use serde::{Deserialize, Serialize};

use crate::{
    Error, Hash, Result,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
    hash::hex_bytes,
};

/// Longest chain id accepted.
pub const MAX_CHAIN_ID: usize = 64;
/// Longest recipient (contract name or address) accepted.
pub const MAX_RECIPIENT: usize = 128;
/// Longest memo accepted.
pub const MAX_MEMO: usize = 1024;
/// Most signers on one transaction.
pub const MAX_SIGNERS: usize = 16;
/// Largest payload of one transaction.
pub const MAX_DATA: usize = 1024 * 1024;
/// How old a transaction's timestamp may be, against the node's clock at
/// admission and against the block time at execution. A `(sender, nonce)`
/// pair is remembered as long as its transaction's timestamp is this young,
/// so the set of remembered pairs stays bounded.
pub const MAX_TX_AGE_MS: u64 = 24 * 60 * 60 * 1000;
/// How far in the future a transaction's timestamp may lie, against the
/// same clocks.
pub const MAX_TX_FUTURE_MS: u64 = 10 * 60 * 1000;

/// What a transaction does; decides how `recipient` and `data` are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxType {
    /// Call of a native (system) contract named by `recipient`.
    Invoke,
    /// Deployment of an EVM contract; `data` is the init code.
    EvmCreate,
    /// Call of an EVM contract at the address in `recipient`.
    EvmCall,
    /// Chain administration (config, membership) decided by consensus.
    System,
    /// An Ethereum-signed transaction (EIP-2718 envelope: legacy with
    /// EIP-155, EIP-2930 or EIP-1559) on an `intl-k1` chain running the
    /// `evm` engine. `data` is the raw signed envelope, which every node
    /// re-verifies; the other body fields are derived from it (see
    /// [`Transaction::id`] and the `evm` engine's `ethtx` module): `nonce`
    /// and `sender` are the envelope's nonce and recovered signer,
    /// `recipient` its `to` (`0x` + 40 hex digits, empty for a
    /// deployment), `timestamp_ms` 0, `memo` empty, no signers and no
    /// signatures.
    Ethereum,
}

impl TxType {
    /// The name as JSON spells it (`invoke`, `evm_call`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TxType::Invoke => "invoke",
            TxType::EvmCreate => "evm_create",
            TxType::EvmCall => "evm_call",
            TxType::System => "system",
            TxType::Ethereum => "ethereum",
        }
    }

    fn tag(self) -> u8 {
        match self {
            TxType::Invoke => 1,
            TxType::EvmCreate => 2,
            TxType::EvmCall => 3,
            TxType::System => 4,
            TxType::Ethereum => 5,
        }
    }
}

impl std::fmt::Display for TxType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Encode for TxType {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
    }
}

impl Decode for TxType {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        match u8::decode_from(r)? {
            1 => Ok(TxType::Invoke),
            2 => Ok(TxType::EvmCreate),
            3 => Ok(TxType::EvmCall),
            4 => Ok(TxType::System),
            5 => Ok(TxType::Ethereum),
            tag => Err(Error::InvalidTag { what: "tx type", tag }),
        }
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Address {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Address(r.array()?))
    }
}

/// One party that signs a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// SEC1 public key of the chain's suite.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// DER X.509 certificate from the chain CA, when the signer has one; it
    /// binds the key to an organization.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_hex")]
    pub certificate: Option<Vec<u8>>,
}

impl Encode for Signer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.public_key.encode_to(out);
        self.certificate.encode_to(out);
    }
}

impl Decode for Signer {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Signer { public_key: Vec::decode_from(r)?, certificate: Option::decode_from(r)? })
    }
}

/// The signed part of a transaction (everything but the signatures).
///
/// Its JSON form refuses unknown fields: a field the node would drop is not
/// signed, and a client that misspells one should hear so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxBody {
    /// The chain this transaction is meant for; replay elsewhere fails.
    pub chain_id: String,
    /// What the transaction does.
    pub tx_type: TxType,
    /// Client time of creation, ms since 1970.
    pub timestamp_ms: u64,
    /// Per-sender number; a (sender, nonce) pair is accepted once while its
    /// transaction's timestamp is within [`MAX_TX_AGE_MS`] of the block time.
    pub nonce: u64,
    /// Address of the first signer.
    pub sender: Address,
    /// Contract name (native) or address (EVM) called.
    pub recipient: String,
    /// Call payload, read by the recipient.
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    /// Free text for humans.
    #[serde(default)]
    pub memo: String,
    /// The signers, the sender first.
    pub signers: Vec<Signer>,
}

impl Encode for TxBody {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.tx_type.encode_to(out);
        self.timestamp_ms.encode_to(out);
        self.nonce.encode_to(out);
        self.sender.encode_to(out);
        self.recipient.encode_to(out);
        self.data.encode_to(out);
        self.memo.encode_to(out);
        encode_list(&self.signers, out);
    }
}

impl Decode for TxBody {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(TxBody {
            chain_id: String::decode_from(r)?,
            tx_type: TxType::decode_from(r)?,
            timestamp_ms: u64::decode_from(r)?,
            nonce: u64::decode_from(r)?,
            sender: Address::decode_from(r)?,
            recipient: String::decode_from(r)?,
            data: Vec::decode_from(r)?,
            memo: String::decode_from(r)?,
            signers: decode_list(r)?,
        })
    }
}

/// A signed transaction: the body and one signature per signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// What was signed.
    pub body: TxBody,
    /// DER signatures over the encoded body, in signer order.
    pub signatures: Vec<Sig>,
}

/// A DER signature (hex in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sig(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl Encode for Sig {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for Sig {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Sig(Vec::decode_from(r)?))
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.body.encode_to(out);
        encode_list(&self.signatures, out);
    }
}

impl Decode for Transaction {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Transaction { body: TxBody::decode_from(r)?, signatures: decode_list(r)? })
    }
}

impl TxBody {
    /// Whether the timestamp lies within the window around `at_ms` (a
    /// node's clock, or a block time): at most [`MAX_TX_AGE_MS`] old and at
    /// most [`MAX_TX_FUTURE_MS`] ahead.
    pub fn in_time_window(&self, at_ms: u64) -> bool {
        let ts = self.timestamp_ms;
        ts <= at_ms.saturating_add(MAX_TX_FUTURE_MS) && ts.saturating_add(MAX_TX_AGE_MS) >= at_ms
    }

    /// The body's signers set to the public keys of `keys`, sender set to the
    /// first key's address, then signed by every key.
    pub fn sign(mut self, keys: &[&PrivateKey]) -> Result<Transaction> {
        let first = keys.first().ok_or(Error::NoSigner)?;
        self.sender = first.public_key().address();
        if self.signers.len() != keys.len() {
            self.signers = keys
                .iter()
                .map(|k| Signer { public_key: k.public_key().to_sec1(), certificate: None })
                .collect();
        }
        let bytes = self.encode();
        let signatures = keys
            .iter()
            .map(|k| k.sign(&bytes).map(Sig).map_err(Error::Crypto))
            .collect::<Result<Vec<_>>>()?;
        Ok(Transaction { body: self, signatures })
    }
}

impl Transaction {
    /// The transaction id: the suite's hash of the encoded body. Signatures
    /// are outside it, so re-encoding a signature cannot change the id.
    ///
    /// An [`TxType::Ethereum`] transaction's id is the suite's hash of its
    /// raw envelope (`data`) instead: on `intl-k1` chains that is
    /// Keccak-256, the transaction hash Ethereum tools expect. The rest of
    /// its body is derived from the envelope and checked against it, so
    /// the envelope determines the whole transaction.
    pub fn id(&self, suite: Suite) -> Hash {
        match self.body.tx_type {
            TxType::Ethereum => Hash(suite.hash(&self.body.data)),
            _ => Hash(suite.hash(&self.body.encode())),
        }
    }

    /// Checks shape limits, the chain id, the sender and every signature;
    /// returns the id and the signers' keys.
    ///
    /// [`TxType::Ethereum`] transactions carry no signers of the suite and
    /// are refused here with [`Error::EthereumSigned`]: the `evm` engine's
    /// rules verify them.
    pub fn verify(&self, suite: Suite, chain_id: &str) -> Result<(Hash, Vec<PublicKey>)> {
        let b = &self.body;
        if b.tx_type == TxType::Ethereum {
            return Err(Error::EthereumSigned);
        }
        check_len("chain_id", b.chain_id.len(), MAX_CHAIN_ID)?;
        check_len("recipient", b.recipient.len(), MAX_RECIPIENT)?;
        check_len("memo", b.memo.len(), MAX_MEMO)?;
        check_len("data", b.data.len(), MAX_DATA)?;
        check_len("signers", b.signers.len(), MAX_SIGNERS)?;
        if b.chain_id != chain_id {
            return Err(Error::WrongChain { expected: chain_id.to_owned(), found: b.chain_id.clone() });
        }
        if b.signers.is_empty() {
            return Err(Error::NoSigner);
        }
        if b.signers.len() != self.signatures.len() {
            return Err(Error::SignatureCount {
                signers: b.signers.len(),
                signatures: self.signatures.len(),
            });
        }
        let bytes = b.encode();
        let mut keys = Vec::with_capacity(b.signers.len());
        for (index, (signer, sig)) in b.signers.iter().zip(&self.signatures).enumerate() {
            let key = PublicKey::from_sec1(suite, &signer.public_key)
                .map_err(|source| Error::BadSigner { index, source })?;
            key.verify(&bytes, &sig.0).map_err(|source| Error::BadSignature { index, source })?;
            keys.push(key);
        }
        if keys[0].address() != b.sender {
            return Err(Error::SenderMismatch);
        }
        Ok((Hash(suite.hash(&bytes)), keys))
    }
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::TooLong { what: field, len, max });
    }
    Ok(())
}

/// Serde helper: `Option<Vec<u8>>` as an optional hex string.
mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom))
            .transpose()
    }
}
