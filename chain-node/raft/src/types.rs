//! The openraft type configuration and what travels in the Raft log.

use std::fmt;

use govchain_consensus::{Batch, BlockPolicy, cutter::Draft};
use govchain_types::{
    Decode, Encode, Transaction,
    encoding::{Reader, decode_list, encode_list},
};
use serde::{Deserialize, Serialize};

use crate::state_machine::LedgerSnapshot;

/// A Raft node id. Stable for the life of a node; the node's human name
/// travels in [`Node::name`].
pub type NodeId = u64;

/// Where a Raft member is reached and what it is called: the value kept for
/// every member in the replicated membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Address of the node's Raft RPC endpoint as the transport understands
    /// it, e.g. `127.0.0.1:8601` (the HTTP transport prefixes the scheme).
    pub addr: String,
    /// The node's name, the node id of the rest of govchain (`node0`); what
    /// [`govchain_consensus::Status`] and `NotLeader` report.
    pub name: String,
}

impl Node {
    /// A node at `addr` called `name`.
    pub fn new(addr: impl Into<String>, name: impl Into<String>) -> Self {
        Node { addr: addr.into(), name: name.into() }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)
    }
}

/// An application entry of the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The canonical encoding of a [`Batch`] (see [`encode_batch`]): the
    /// content of the next block.
    Batch(Vec<u8>),
    /// A new block policy, applied on every node at this point of the log.
    Policy(BlockPolicy),
}

/// What applying an entry produced, returned to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Height of the block the entry became, for a batch.
    pub height: Option<u64>,
}

openraft::declare_raft_types!(
    /// The openraft type configuration of govchain. Public because the
    /// storage test suite names it; nodes use [`crate::RaftEngine`].
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = LedgerSnapshot,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);

/// Log ids of this configuration.
pub type LogId = openraft::LogId<NodeId>;
/// Memberships of this configuration.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// Log entries of this configuration.
pub type Entry = openraft::Entry<TypeConfig>;

/// Canonical encoding of a batch: the transaction list, the block time and
/// the proposer, in that order.
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    encode_list(&batch.transactions, &mut out);
    batch.timestamp_ms.encode_to(&mut out);
    batch.proposer.encode_to(&mut out);
    out
}

/// Writes a batch's encoding as transactions arrive, so the cutter encodes
/// each transaction once and knows the exact size so far.
#[derive(Debug)]
pub(crate) struct BatchWriter {
    out: Vec<u8>,
    count: usize,
}

impl Default for BatchWriter {
    fn default() -> Self {
        // Room for the list length, written by `finish`.
        BatchWriter { out: vec![0; 4], count: 0 }
    }
}

/// The cutter fills Raft's blocks straight into their log encoding.
impl Draft for BatchWriter {
    fn push(&mut self, tx: Transaction) {
        tx.encode_to(&mut self.out);
        self.count += 1;
    }

    fn len(&self) -> usize {
        self.count
    }

    /// Encoded bytes of the transactions so far.
    fn bytes(&self) -> usize {
        self.out.len() - 4
    }
}

impl BatchWriter {
    /// The encoding of the batch, as [`encode_batch`] writes it.
    pub(crate) fn finish(mut self, timestamp_ms: u64, proposer: &str) -> Vec<u8> {
        // The queue holds far fewer than 2^32 transactions.
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        self.out[..4].copy_from_slice(&count.to_be_bytes());
        timestamp_ms.encode_to(&mut self.out);
        proposer.encode_to(&mut self.out);
        self.out
    }
}

/// Reads a batch written by [`encode_batch`]; hostile input is an error.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, govchain_types::Error> {
    let mut r = Reader::new(bytes);
    let transactions: Vec<Transaction> = decode_list(&mut r)?;
    let timestamp_ms = u64::decode_from(&mut r)?;
    let proposer = String::decode_from(&mut r)?;
    r.finish()?;
    Ok(Batch { transactions, timestamp_ms, proposer, certificate: Vec::new() })
}

#[cfg(test)]
mod tests {
    use govchain_crypto::Address;
    use govchain_types::{TxBody, TxType};

    use super::*;

    fn tx(n: u64) -> Transaction {
        Transaction {
            body: TxBody {
                chain_id: "c".into(),
                tx_type: TxType::Invoke,
                timestamp_ms: 5,
                nonce: n,
                sender: Address([7; 20]),
                recipient: "data".into(),
                data: vec![1, 2, 3],
                memo: "m".into(),
                signers: vec![],
            },
            signatures: vec![],
        }
    }

    #[test]
    fn batches_round_trip_and_bad_bytes_are_refused() {
        let batch = Batch {
            transactions: vec![tx(1), tx(2)],
            timestamp_ms: 42,
            proposer: "n1".into(),
            certificate: vec![],
        };
        let bytes = encode_batch(&batch);
        assert_eq!(decode_batch(&bytes).unwrap(), batch);
        assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_batch(&longer).is_err());
        assert!(decode_batch(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn the_cutter_writer_encodes_like_encode_batch() {
        let batch = Batch {
            transactions: vec![tx(1), tx(2), tx(3)],
            timestamp_ms: 9,
            proposer: "p".into(),
            certificate: vec![],
        };
        let mut w = BatchWriter::default();
        let mut list = govchain_consensus::cutter::TxList::default();
        for t in &batch.transactions {
            w.push(t.clone());
            list.push(t.clone());
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.bytes(), list.bytes(), "both drafts count the same bytes");
        assert_eq!(w.bytes() + 4 + 8 + 4 + 1, encode_batch(&batch).len());
        assert_eq!(w.finish(9, "p"), encode_batch(&batch));
        assert_eq!(decode_batch(&BatchWriter::default().finish(1, "")).unwrap().transactions, vec![]);
    }
}
