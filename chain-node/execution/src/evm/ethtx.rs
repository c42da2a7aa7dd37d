//! Ethereum-signed transactions (EIP-2718 envelopes: legacy with EIP-155,
//! EIP-2930 and EIP-1559) on `intl-k1` chains that run the `evm` engine,
//! and read-only calls for the Ethereum JSON-RPC.
//!
//! **Carrier.** A signed envelope travels in a block as a
//! [`TxType::Ethereum`] transaction whose `data` is the raw envelope. The
//! rest of the body is derived from the envelope ([`wrap`]): `chain_id`
//! the chain's name, `nonce` the envelope's nonce, `sender` the recovered
//! signer, `recipient` the `to` address (`0x` + 40 lowercase hex digits)
//! or empty for a deployment, `timestamp_ms` 0, `memo` empty, no signers
//! and no signatures. [`verify`] recovers the signer again and refuses a
//! body that differs in any field from the derived one, so every node
//! re-verifies the same bytes and nothing beside the envelope can be
//! changed.
//!
//! **Hash.** The transaction id is the suite's hash of the raw envelope
//! ([`Transaction::id`]): on `intl-k1` chains Keccak-256, the transaction
//! hash Ethereum tools compute and look receipts up by.
//!
//! **Rules** ([`recover`]): the chain's suite is `intl-k1` (there the
//! recovered Ethereum address is the chain address of the key); the
//! envelope is at most [`MAX_ENVELOPE`] bytes, decodes exactly and is in
//! its canonical encoding (one signed transaction has one byte form, so
//! one id); its type is 0, 1 or 2 (blob and EIP-7702 transactions are
//! refused); it carries the chain id of
//! [`EvmConfig::chain_id`](super::EvmConfig::chain_id) (a legacy
//! transaction must sign it, EIP-155); it moves no value (the chain has no
//! currency); its signature has a low `s` and recovers. Gas prices and
//! fees are accepted whatever they are and never charged.
//!
//! **Nonces**, the same rule as for the chain's own EVM transactions
//! ([module docs](super)): when an Ethereum transaction runs, its nonce
//! must equal the sender's EVM account nonce (what `eth_getTransactionCount`
//! answers), or it fails without effect (`nonce too low` / `nonce too
//! high`). A successful transaction raises the account nonce by one; a
//! reverted or halted one leaves it unchanged, so the sender's next
//! transaction reuses that nonce. Replay is impossible all the same: a
//! block drops every transaction whose id is already on chain (failed ones
//! included), and the id is the hash of the one canonical envelope. Ethereum
//! transactions stay outside the chain's `(sender, nonce)` time-window rule
//! (their timestamp 0 lies outside every window); nodes refuse at admission
//! a nonce below the account nonce.

use alloy_consensus::{Signed, Transaction as _, TxEnvelope, TxLegacy, transaction::SignerRecoverable};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use govchain_crypto::Suite;
use govchain_types::{Hash, Transaction, TxBody, TxType};
use revm::{
    context_interface::result::{ExecutionResult, Output, ResultAndState},
    primitives::{Address, TxKind, keccak256},
};

use super::{EvmEngine, Run, read_account, revert};
use crate::{Error, Result, TxContext, TxEnv, engine::Scratch, state::StateView};

/// Largest raw envelope accepted, in bytes (as Ethereum's transaction
/// pools bound them): room for the largest init code and its arguments.
pub const MAX_ENVELOPE: usize = 128 * 1024;

/// Why an Ethereum-signed transaction is refused before it reaches a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthTxError {
    /// The chain's suite is not `intl-k1`.
    #[error(
        "Ethereum-signed transactions are accepted on intl-k1 chains only; this chain uses the {0} suite"
    )]
    WrongSuite(Suite),
    /// The chain does not run the `evm` engine.
    #[error("this chain does not run the evm engine; its genesis must name it in execution.engines")]
    NoEvm,
    /// No bytes at all.
    #[error("the raw transaction is empty")]
    Empty,
    /// Larger than [`MAX_ENVELOPE`].
    #[error("the raw transaction has {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a decodable envelope.
    #[error("not a valid EIP-2718 transaction envelope: {0}")]
    Decode(String),
    /// Decodes, but is not the canonical encoding of what it decodes to.
    #[error("the transaction envelope is not in its canonical encoding")]
    NonCanonical,
    /// A type other than legacy, EIP-2930 and EIP-1559.
    #[error("transaction type {0} is not supported; legacy (0), EIP-2930 (1) and EIP-1559 (2) are")]
    UnsupportedType(u8),
    /// A legacy transaction signed without a chain id.
    #[error("the legacy transaction has no chain id; sign it with EIP-155 replay protection")]
    NoChainId,
    /// Signed for another chain.
    #[error("the transaction is signed for chain id {found}, this chain's id is {expected}")]
    WrongChainId {
        /// This chain's EVM chain id.
        expected: u64,
        /// The envelope's.
        found: u64,
    },
    /// A value transfer.
    #[error("the transaction moves value, but the chain has no currency: value must be 0")]
    Value,
    /// The signature does not recover a signer.
    #[error("invalid transaction signature: {0}")]
    BadSignature(String),
    /// A body field differs from the one derived from the envelope.
    #[error("the transaction body does not match its Ethereum envelope: {0} differs")]
    Mismatch(&'static str),
    /// The nonce is below the sender's account nonce.
    #[error("nonce too low: the transaction's nonce is {nonce}, the sender's next nonce is {next}")]
    NonceTooLow {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's account nonce.
        next: u64,
    },
}

/// A decoded envelope: what the JSON-RPC shows of a transaction and what
/// the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthTx {
    /// Keccak-256 of the raw envelope.
    pub hash: [u8; 32],
    /// The EIP-2718 type: 0 legacy, 1 EIP-2930, 2 EIP-1559.
    pub tx_type: u8,
    /// The chain id signed (`None`: a legacy transaction without EIP-155).
    pub chain_id: Option<u64>,
    /// The sender's nonce.
    pub nonce: u64,
    /// Most gas the transaction may use.
    pub gas_limit: u64,
    /// The gas price (types 0 and 1) or the most fee per gas (type 2).
    pub gas_price: u128,
    /// The priority fee per gas (type 2).
    pub max_priority_fee_per_gas: Option<u128>,
    /// The called address; `None` for a deployment.
    pub to: Option<[u8; 20]>,
    /// The value, 32 bytes big-endian.
    pub value: [u8; 32],
    /// Call data, or init code for a deployment.
    pub input: Vec<u8>,
    /// The access list (types 1 and 2): addresses with their storage keys.
    pub access_list: Vec<([u8; 20], Vec<[u8; 32]>)>,
    /// Signature `r`, 32 bytes big-endian.
    pub r: [u8; 32],
    /// Signature `s`, 32 bytes big-endian.
    pub s: [u8; 32],
    /// Signature parity (`yParity`).
    pub y_parity: bool,
    /// `v` as the envelope encodes it: `chain_id * 2 + 35 + parity` for
    /// an EIP-155 legacy transaction, `27 + parity` for an older one, the
    /// parity for typed ones.
    pub v: u64,
}

fn decode_envelope(raw: &[u8]) -> Result<TxEnvelope, EthTxError> {
    if raw.is_empty() {
        return Err(EthTxError::Empty);
    }
    if raw.len() > MAX_ENVELOPE {
        return Err(EthTxError::TooLarge { len: raw.len(), max: MAX_ENVELOPE });
    }
    let envelope = TxEnvelope::decode_2718_exact(raw).map_err(|e| EthTxError::Decode(e.to_string()))?;
    match &envelope {
        TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
        TxEnvelope::Eip4844(_) => return Err(EthTxError::UnsupportedType(3)),
        TxEnvelope::Eip7702(_) => return Err(EthTxError::UnsupportedType(4)),
    }
    if envelope.encoded_2718() != raw {
        return Err(EthTxError::NonCanonical);
    }
    Ok(envelope)
}

fn legacy_v(tx: &Signed<TxLegacy>) -> u64 {
    let parity = u64::from(tx.signature().v());
    match tx.tx().chain_id {
        Some(id) => id.saturating_mul(2).saturating_add(35 + parity),
        None => 27 + parity,
    }
}

fn view_of(raw: &[u8], envelope: &TxEnvelope) -> EthTx {
    let signature = envelope.signature();
    let (tx_type, v) = match envelope {
        TxEnvelope::Legacy(tx) => (0, legacy_v(tx)),
        TxEnvelope::Eip2930(_) => (1, u64::from(signature.v())),
        TxEnvelope::Eip1559(_) => (2, u64::from(signature.v())),
        TxEnvelope::Eip4844(_) => (3, u64::from(signature.v())),
        TxEnvelope::Eip7702(_) => (4, u64::from(signature.v())),
    };
    let access_list = envelope
        .access_list()
        .map(|list| {
            list.iter()
                .map(|item| (item.address.0.0, item.storage_keys.iter().map(|k| k.0).collect()))
                .collect()
        })
        .unwrap_or_default();
    EthTx {
        hash: keccak256(raw).0,
        tx_type,
        chain_id: envelope.chain_id(),
        nonce: envelope.nonce(),
        gas_limit: envelope.gas_limit(),
        gas_price: envelope.gas_price().unwrap_or_else(|| envelope.max_fee_per_gas()),
        max_priority_fee_per_gas: envelope.max_priority_fee_per_gas(),
        to: match envelope.kind() {
            TxKind::Create => None,
            TxKind::Call(to) => Some(to.0.0),
        },
        value: envelope.value().to_be_bytes(),
        input: envelope.input().to_vec(),
        access_list,
        r: signature.r().to_be_bytes(),
        s: signature.s().to_be_bytes(),
        y_parity: signature.v(),
        v,
    }
}

/// Decodes a raw envelope without checking its signature or chain id (for
/// showing a transaction already on chain). Refuses what [`recover`]
/// refuses about the encoding itself: empty, oversized, undecodable,
/// non-canonical or of an unsupported type.
pub fn decode(raw: &[u8]) -> Result<EthTx, EthTxError> {
    decode_envelope(raw).map(|envelope| view_of(raw, &envelope))
}

/// Decodes a raw envelope and checks it against the rules in the [module
/// docs](self) for a chain of `suite` whose EVM chain id is `chain_id`;
/// returns it with its signer's address.
pub fn recover(
    raw: &[u8],
    suite: Suite,
    chain_id: u64,
) -> Result<(EthTx, govchain_crypto::Address), EthTxError> {
    if suite != Suite::IntlK1 {
        return Err(EthTxError::WrongSuite(suite));
    }
    let envelope = decode_envelope(raw)?;
    let tx = view_of(raw, &envelope);
    match tx.chain_id {
        None => return Err(EthTxError::NoChainId),
        Some(found) if found != chain_id => {
            return Err(EthTxError::WrongChainId { expected: chain_id, found });
        }
        Some(_) => {}
    }
    if tx.value != [0; 32] {
        return Err(EthTxError::Value);
    }
    let signer = envelope.recover_signer().map_err(|e| EthTxError::BadSignature(e.to_string()))?;
    Ok((tx, govchain_crypto::Address(signer.0.0)))
}

/// The recipient a body names for a call of `to` (empty for a deployment).
fn recipient_of(to: Option<[u8; 20]>) -> String {
    to.map(|a| format!("0x{}", hex::encode(a))).unwrap_or_default()
}

/// The chain transaction carrying raw envelope `raw` on chain `chain`
/// (its name) of `suite` with EVM chain id `evm_chain_id`, after
/// [`recover`]'s checks.
pub fn wrap(raw: &[u8], suite: Suite, chain: &str, evm_chain_id: u64) -> Result<Transaction, EthTxError> {
    let (tx, sender) = recover(raw, suite, evm_chain_id)?;
    Ok(Transaction {
        body: TxBody {
            chain_id: chain.to_owned(),
            tx_type: TxType::Ethereum,
            timestamp_ms: 0,
            nonce: tx.nonce,
            sender,
            recipient: recipient_of(tx.to),
            data: raw.to_vec(),
            memo: String::new(),
            signers: Vec::new(),
        },
        signatures: Vec::new(),
    })
}

/// Verifies a [`TxType::Ethereum`] transaction as every node does before
/// it executes: [`recover`]'s checks on the envelope, and a body equal in
/// every field to the one [`wrap`] derives. Returns its id.
pub fn verify(tx: &Transaction, suite: Suite, chain: &str, evm_chain_id: u64) -> Result<Hash, EthTxError> {
    let b = &tx.body;
    if b.tx_type != TxType::Ethereum {
        return Err(EthTxError::Mismatch("tx_type"));
    }
    let expected = wrap(&b.data, suite, chain, evm_chain_id)?;
    let e = &expected.body;
    let differs = [
        (b.chain_id != e.chain_id, "chain_id"),
        (b.timestamp_ms != e.timestamp_ms, "timestamp_ms"),
        (b.nonce != e.nonce, "nonce"),
        (b.sender != e.sender, "sender"),
        (b.recipient != e.recipient, "recipient"),
        (b.memo != e.memo, "memo"),
        (!b.signers.is_empty(), "signers"),
        (!tx.signatures.is_empty(), "signatures"),
    ];
    if let Some((_, field)) = differs.iter().find(|(d, _)| *d) {
        return Err(EthTxError::Mismatch(field));
    }
    Ok(tx.id(suite))
}

/// The run an Ethereum transaction asks for (its envelope was verified
/// before execution; here it is only decoded).
pub(super) fn run_of(tx: &Transaction) -> Result<Run> {
    let eth = decode(&tx.body.data).map_err(|e| super::invalid(e.to_string()))?;
    if eth.nonce != tx.body.nonce {
        return Err(super::invalid(EthTxError::Mismatch("nonce").to_string()));
    }
    let kind = match eth.to {
        Some(to) => TxKind::Call(Address::from(to)),
        None => TxKind::Create,
    };
    Ok(Run { kind, input: eth.input, gas_limit: eth.gas_limit })
}

/// Fails an Ethereum transaction whose nonce is not its sender's EVM
/// account nonce (see the [module docs](self)).
pub(super) fn check_nonce(env: &TxEnv<'_>, tx: &Transaction) -> Result<()> {
    let next = read_account(&env.view(), &env.ctx().sender.0)?.map_or(0, |a| a.nonce);
    let nonce = tx.body.nonce;
    match nonce.cmp(&next) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(Error::InvalidArgument(format!(
            "nonce too low: the transaction's nonce is {nonce}, the sender's next nonce is {next}"
        ))),
        std::cmp::Ordering::Greater => Err(Error::InvalidArgument(format!(
            "nonce too high: the transaction's nonce is {nonce}, the sender's next nonce is {next}"
        ))),
    }
}

/// A read-only call or deployment, as `eth_call` and `eth_estimateGas`
/// ask for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// The caller (`CALLER`, `ORIGIN`); the zero address when not given.
    pub from: [u8; 20],
    /// The called contract; `None` runs `input` as init code.
    pub to: Option<[u8; 20]>,
    /// Call data or init code.
    pub input: Vec<u8>,
    /// Most gas the run may use; at most the chain's per-transaction
    /// maximum.
    pub gas_limit: u64,
}

/// How a read-only run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned: the return data (the deployed code for a deployment).
    Success {
        /// Return data.
        output: Vec<u8>,
        /// Gas used.
        gas_used: u64,
    },
    /// It reverted with this data (`Error(string)` for a `require` reason).
    Revert {
        /// The raw revert data.
        data: Vec<u8>,
        /// Its decoded reason.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
    /// It halted (out of gas, invalid opcode ...).
    Halt {
        /// Why, in words.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
}

/// Runs `req` read-only against `view` in a block at `height` and time
/// `timestamp_ms`, with `engine`'s rules; nothing is written. A refusal
/// before the EVM runs (gas above the maximum, gas below the intrinsic
/// cost) is an `Err`.
pub fn simulate(
    engine: &EvmEngine,
    view: &dyn StateView,
    height: u64,
    timestamp_ms: u64,
    req: &CallRequest,
) -> Result<CallOutcome> {
    engine.check_tx_gas(req.gas_limit)?;
    let ctx = TxContext {
        tx_id: Hash::ZERO,
        sender: govchain_crypto::Address(req.from),
        org: String::new(),
        height,
        timestamp_ms,
    };
    let mut scratch = Scratch::default();
    let env = TxEnv { ctx: &ctx, committed: view, scratch: &mut scratch, read_only: true };
    let kind = match req.to {
        Some(to) => TxKind::Call(Address::from(to)),
        None => TxKind::Create,
    };
    let run = Run { kind, input: req.input.clone(), gas_limit: req.gas_limit };
    let ResultAndState { result, .. } = engine.transact(&env, run)?;
    Ok(match result {
        ExecutionResult::Success { gas, output, .. } => {
            let output = match output {
                Output::Call(data) => data.to_vec(),
                Output::Create(code, _) => code.to_vec(),
            };
            CallOutcome::Success { output, gas_used: gas.tx_gas_used() }
        }
        ExecutionResult::Revert { gas, output, .. } => CallOutcome::Revert {
            reason: revert::reason(&output),
            data: output.to_vec(),
            gas_used: gas.tx_gas_used(),
        },
        ExecutionResult::Halt { reason, gas, .. } => {
            CallOutcome::Halt { reason: revert::halt(&reason), gas_used: gas.tx_gas_used() }
        }
    })
}

/// Signs Ethereum transactions for tests.
#[cfg(any(test, feature = "test-utils"))]
pub mod testing {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};

    /// The envelope type to sign.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Envelope {
        /// Type 0 (with EIP-155 when a chain id is given).
        Legacy,
        /// Type 1.
        Eip2930,
        /// Type 2.
        Eip1559,
    }

    /// What to sign.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Unsigned {
        /// The envelope type.
        pub envelope: Envelope,
        /// The chain id (`None`: a legacy transaction without EIP-155).
        pub chain_id: Option<u64>,
        /// The nonce.
        pub nonce: u64,
        /// The called address; `None` deploys `input`.
        pub to: Option<[u8; 20]>,
        /// Call data or init code.
        pub input: Vec<u8>,
        /// Gas limit.
        pub gas_limit: u64,
        /// Value in wei.
        pub value: u64,
    }

    /// The raw signed envelope of `tx`, signed with the secp256k1 secret
    /// scalar `key`.
    ///
    /// # Panics
    /// If `key` is not a valid secret scalar (tests only).
    #[allow(clippy::expect_used)]
    pub fn sign(key: &[u8; 32], tx: &Unsigned) -> Vec<u8> {
        let signing = k256::ecdsa::SigningKey::from_slice(key).expect("a valid secp256k1 key");
        let to = tx.to.map_or(TxKind::Create, |a| TxKind::Call(Address::from(a)));
        let input = Bytes::from(tx.input.clone());
        let value = U256::from(tx.value);
        let chain_id = tx.chain_id.unwrap_or(1);
        let sig = |hash: B256| {
            let (sig, recid) = signing.sign_prehash_recoverable(hash.as_slice());
            let bytes = sig.to_bytes();
            Signature::new(
                U256::from_be_slice(&bytes[..32]),
                U256::from_be_slice(&bytes[32..]),
                recid.is_y_odd(),
            )
        };
        let envelope: TxEnvelope = match tx.envelope {
            Envelope::Legacy => {
                let t = TxLegacy {
                    chain_id: tx.chain_id,
                    nonce: tx.nonce,
                    gas_price: 1,
                    gas_limit: tx.gas_limit,
                    to,
                    value,
                    input,
                };
                let s = sig(t.signature_hash());
                t.into_signed(s).into()
            }
            Envelope::Eip2930 => {
                let t = TxEip2930 {
                    chain_id,
                    nonce: tx.nonce,
                    gas_price: 0,
                    gas_limit: tx.gas_limit,
                    to,
                    value,
                    access_list: Default::default(),
                    input,
                };
                let s = sig(t.signature_hash());
                t.into_signed(s).into()
            }
            Envelope::Eip1559 => {
                let t = TxEip1559 {
                    chain_id,
                    nonce: tx.nonce,
                    gas_limit: tx.gas_limit,
                    max_fee_per_gas: 7,
                    max_priority_fee_per_gas: 2,
                    to,
                    value,
                    access_list: Default::default(),
                    input,
                };
                let s = sig(t.signature_hash());
                t.into_signed(s).into()
            }
        };
        envelope.encoded_2718()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::{
        testing::{Envelope, Unsigned, sign},
        *,
    };

    const KEY: [u8; 32] = [0x42; 32];
    const CHAIN: u64 = 4242;

    fn unsigned(envelope: Envelope) -> Unsigned {
        Unsigned {
            envelope,
            chain_id: Some(CHAIN),
            nonce: 3,
            to: Some([9; 20]),
            input: vec![1, 2, 3],
            gas_limit: 100_000,
            value: 0,
        }
    }

    fn address_of_key() -> govchain_crypto::Address {
        govchain_crypto::PrivateKey::from_scalar_bytes(Suite::IntlK1, &KEY).unwrap().address()
    }

    #[test]
    fn every_envelope_type_recovers_the_chain_address_of_its_key() {
        for (envelope, ty) in [(Envelope::Legacy, 0), (Envelope::Eip2930, 1), (Envelope::Eip1559, 2)] {
            let raw = sign(&KEY, &unsigned(envelope));
            let (tx, sender) = recover(&raw, Suite::IntlK1, CHAIN).unwrap();
            assert_eq!(sender, address_of_key(), "type {ty}");
            assert_eq!((tx.tx_type, tx.nonce, tx.to, tx.gas_limit), (ty, 3, Some([9; 20]), 100_000));
            assert_eq!(tx.input, vec![1, 2, 3]);
            assert_eq!(tx.hash, keccak256(&raw).0);
            let wrapped = wrap(&raw, Suite::IntlK1, "dept", CHAIN).unwrap();
            assert_eq!(wrapped.id(Suite::IntlK1).0, tx.hash, "the id is the Ethereum hash");
            assert_eq!(wrapped.body.recipient, format!("0x{}", "09".repeat(20)));
            assert_eq!(verify(&wrapped, Suite::IntlK1, "dept", CHAIN).unwrap().0, tx.hash);
            if envelope == Envelope::Legacy {
                assert_eq!(tx.v, CHAIN * 2 + 35 + u64::from(tx.y_parity), "EIP-155 v");
            }
        }
    }

    #[test]
    fn bad_envelopes_are_refused_with_their_reason() {
        let good = sign(&KEY, &unsigned(Envelope::Eip1559));
        let err = |raw: &[u8]| recover(raw, Suite::IntlK1, CHAIN).unwrap_err();
        assert_eq!(err(&[]), EthTxError::Empty);
        assert!(matches!(err(b"\x02garbage"), EthTxError::Decode(_)));
        assert!(matches!(err(&[0xff; 40]), EthTxError::Decode(_)));
        assert!(matches!(err(&vec![0x02; MAX_ENVELOPE + 1]), EthTxError::TooLarge { .. }));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(err(&trailing), EthTxError::Decode(_)));
        assert_eq!(
            recover(&good, Suite::IntlK1, 7).unwrap_err(),
            EthTxError::WrongChainId { expected: 7, found: CHAIN }
        );
        assert_eq!(recover(&good, Suite::Gm, CHAIN).unwrap_err(), EthTxError::WrongSuite(Suite::Gm));
        let pre155 = sign(&KEY, &Unsigned { chain_id: None, ..unsigned(Envelope::Legacy) });
        assert_eq!(err(&pre155), EthTxError::NoChainId);
        let paying = sign(&KEY, &Unsigned { value: 1, ..unsigned(Envelope::Eip2930) });
        assert_eq!(err(&paying), EthTxError::Value);
        // A flipped byte of the signature's `s` recovers nobody or someone
        // else; either way it is not the key's transaction.
        let mut tampered = good.clone();
        let at = tampered.len() - 2;
        tampered[at] ^= 0x01;
        match recover(&tampered, Suite::IntlK1, CHAIN) {
            Err(EthTxError::BadSignature(_)) => {}
            Ok((_, sender)) => assert_ne!(sender, address_of_key()),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_body_that_differs_from_its_envelope_is_refused() {
        let raw = sign(&KEY, &unsigned(Envelope::Legacy));
        let good = wrap(&raw, Suite::IntlK1, "dept", CHAIN).unwrap();
        let check = |tx: &Transaction| verify(tx, Suite::IntlK1, "dept", CHAIN).unwrap_err();
        let mut t = good.clone();
        t.body.nonce += 1;
        assert_eq!(check(&t), EthTxError::Mismatch("nonce"));
        let mut t = good.clone();
        t.body.sender = govchain_crypto::Address([1; 20]);
        assert_eq!(check(&t), EthTxError::Mismatch("sender"));
        let mut t = good.clone();
        t.body.timestamp_ms = 5;
        assert_eq!(check(&t), EthTxError::Mismatch("timestamp_ms"));
        let mut t = good.clone();
        t.body.memo = "hi".into();
        assert_eq!(check(&t), EthTxError::Mismatch("memo"));
        let mut t = good.clone();
        t.body.recipient = String::new();
        assert_eq!(check(&t), EthTxError::Mismatch("recipient"));
        let mut t = good.clone();
        t.body.chain_id = "other".into();
        assert_eq!(check(&t), EthTxError::Mismatch("chain_id"));
        assert_eq!(
            verify(&good, Suite::IntlK1, "dept", CHAIN + 1).unwrap_err(),
            EthTxError::WrongChainId { expected: CHAIN + 1, found: CHAIN }
        );
        // The suite's own check refuses it.
        assert!(good.verify(Suite::IntlK1, "dept").is_err());
    }
}
