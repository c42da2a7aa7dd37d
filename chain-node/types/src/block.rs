use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

use crate::{
    Hash, Result, Transaction,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
    hash::hex_bytes,
    merkle::{self, MerkleProof},
};

/// Version of the block format written by this software.
pub const BLOCK_VERSION: u32 = 1;

/// The block header (Beijing data format: height, id, version, previous
/// hash, Merkle roots, timestamp in ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Format version.
    pub version: u32,
    /// The chain the block belongs to.
    pub chain_id: String,
    /// Position in the chain; genesis is 0.
    pub height: u64,
    /// Id of the block at `height - 1` (zero for genesis).
    pub prev_hash: Hash,
    /// Merkle root over the encoded transactions.
    pub tx_root: Hash,
    /// Digest of the state after executing this block.
    pub state_root: Hash,
    /// Merkle root over the encoded receipts.
    pub receipts_root: Hash,
    /// Block time, ms since 1970; never below the parent's.
    pub timestamp_ms: u64,
    /// Node id of the proposer.
    pub proposer: String,
    /// Number of transactions.
    pub tx_count: u32,
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.version.encode_to(out);
        self.chain_id.encode_to(out);
        self.height.encode_to(out);
        self.prev_hash.encode_to(out);
        self.tx_root.encode_to(out);
        self.state_root.encode_to(out);
        self.receipts_root.encode_to(out);
        self.timestamp_ms.encode_to(out);
        self.proposer.encode_to(out);
        self.tx_count.encode_to(out);
    }
}

impl Decode for BlockHeader {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BlockHeader {
            version: u32::decode_from(r)?,
            chain_id: String::decode_from(r)?,
            height: u64::decode_from(r)?,
            prev_hash: Hash::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
            state_root: Hash::decode_from(r)?,
            receipts_root: Hash::decode_from(r)?,
            timestamp_ms: u64::decode_from(r)?,
            proposer: String::decode_from(r)?,
            tx_count: u32::decode_from(r)?,
        })
    }
}

impl BlockHeader {
    /// The block id: the suite's hash of the encoded header.
    pub fn id(&self, suite: Suite) -> Hash {
        Hash(suite.hash(&self.encode()))
    }
}

/// A node's signature over a block id (the proposer's, and under BFT the
/// commit certificate's members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSignature {
    /// Node id of the signer.
    pub node: String,
    /// SEC1 public key of the node.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// DER signature over the block id.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl Encode for BlockSignature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.node.encode_to(out);
        self.public_key.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for BlockSignature {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BlockSignature {
            node: String::decode_from(r)?,
            public_key: Vec::decode_from(r)?,
            signature: Vec::decode_from(r)?,
        })
    }
}

/// A block: header, transactions and the signatures that commit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The header; its hash is the block id.
    pub header: BlockHeader,
    /// The ordered transactions.
    pub transactions: Vec<Transaction>,
    /// Proposer signature and, where the consensus has one, the commit
    /// certificate.
    pub signatures: Vec<BlockSignature>,
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        encode_list(&self.transactions, out);
        encode_list(&self.signatures, out);
    }
}

impl Decode for Block {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Block {
            header: BlockHeader::decode_from(r)?,
            transactions: decode_list(r)?,
            signatures: decode_list(r)?,
        })
    }
}

impl Block {
    /// The transaction Merkle root over `txs` (as the header must carry).
    pub fn tx_root(suite: Suite, txs: &[Transaction]) -> Hash {
        let leaves: Vec<Vec<u8>> = txs.iter().map(Encode::encode).collect();
        merkle::root(suite, &leaves)
    }

    /// Inclusion proof of the `index`-th transaction against `tx_root`.
    pub fn prove_tx(&self, suite: Suite, index: usize) -> Option<MerkleProof> {
        let leaves: Vec<Vec<u8>> = self.transactions.iter().map(Encode::encode).collect();
        merkle::prove(suite, &leaves, index)
    }
}
