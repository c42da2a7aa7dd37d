//! Builders of valid chains for tests here and in other crates (feature
//! `test-utils`): headers with correct roots, matching receipts, signed
//! transactions.

use govchain_crypto::{Address, PrivateKey, Suite};
use govchain_types::{
    BLOCK_VERSION, Block, BlockHeader, Event, Hash, HexValue, Receipt, StateWrite, Transaction, TxBody,
    TxStatus, TxType, next_state_root,
};

use crate::{Ledger, Result};

/// Block time of a genesis block built by [`ChainBuilder::new`].
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;

/// A block ready for [`Ledger::commit`], with what execution would produce.
#[derive(Debug, Clone)]
pub struct NewBlock {
    /// The block.
    pub block: Block,
    /// One successful receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// The writes per transaction.
    pub writes: Vec<Vec<StateWrite>>,
}

impl NewBlock {
    /// Commits the block to `ledger`.
    pub fn commit(&self, ledger: &Ledger) -> Result<()> {
        ledger.commit(&self.block, &self.receipts, &self.writes)
    }
}

/// Builds consecutive valid blocks of one chain.
#[derive(Debug, Clone)]
pub struct ChainBuilder {
    suite: Suite,
    chain_id: String,
    next_height: u64,
    prev_id: Hash,
    state_root: Hash,
    last_time_ms: u64,
}

impl ChainBuilder {
    /// A builder whose next block is the genesis block.
    pub fn new(suite: Suite, chain_id: &str) -> Self {
        ChainBuilder {
            suite,
            chain_id: chain_id.to_owned(),
            next_height: 0,
            prev_id: Hash::ZERO,
            state_root: Hash::ZERO,
            last_time_ms: GENESIS_TIME_MS - 1000,
        }
    }

    /// A builder continuing `ledger`'s chain from its tip.
    pub fn following(ledger: &Ledger) -> Self {
        let mut b = ChainBuilder::new(ledger.suite(), ledger.chain_id());
        if let Some(tip) = ledger.tip() {
            b.next_height = tip.height + 1;
            b.prev_id = tip.block_id;
            b.state_root = tip.state_root;
            b.last_time_ms = tip.timestamp_ms;
        }
        b
    }

    /// Height of the next block built.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    /// The next block, one second after the previous one.
    pub fn block(&mut self, txs: Vec<Transaction>, writes: Vec<Vec<StateWrite>>) -> NewBlock {
        let time = self.last_time_ms + 1000;
        self.block_at(time, txs, writes)
    }

    /// The next block at block time `timestamp_ms`. `writes` is padded with
    /// empty lists to one per transaction.
    pub fn block_at(
        &mut self,
        timestamp_ms: u64,
        txs: Vec<Transaction>,
        mut writes: Vec<Vec<StateWrite>>,
    ) -> NewBlock {
        writes.resize(txs.len().max(writes.len()), Vec::new());
        let height = self.next_height;
        let receipts: Vec<Receipt> = txs
            .iter()
            .enumerate()
            .map(|(index, tx)| Receipt {
                tx_id: tx.id(self.suite),
                height,
                index: index as u32,
                status: TxStatus::Success,
                message: String::new(),
                output: Vec::new(),
                events: vec![Event {
                    contract: tx.body.recipient.clone(),
                    name: "call".into(),
                    data: tx.body.nonce.to_be_bytes().to_vec(),
                }],
            })
            .collect();
        let state_root = next_state_root(self.suite, &self.state_root, &writes);
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: self.chain_id.clone(),
            height,
            prev_hash: self.prev_id,
            tx_root: Block::tx_root(self.suite, &txs),
            state_root,
            receipts_root: Receipt::root(self.suite, &receipts),
            timestamp_ms,
            proposer: "node-0".into(),
            tx_count: txs.len() as u32,
        };
        self.prev_id = header.id(self.suite);
        self.state_root = state_root;
        self.next_height += 1;
        self.last_time_ms = timestamp_ms;
        NewBlock { block: Block { header, transactions: txs, signatures: Vec::new() }, receipts, writes }
    }
}

/// A native-contract call signed by `key`.
pub fn signed_tx(
    key: &PrivateKey,
    chain_id: &str,
    nonce: u64,
    recipient: &str,
    data: Vec<u8>,
) -> govchain_types::Result<Transaction> {
    TxBody {
        chain_id: chain_id.to_owned(),
        tx_type: TxType::Invoke,
        timestamp_ms: GENESIS_TIME_MS + nonce,
        nonce,
        sender: Address([0; 20]),
        recipient: recipient.to_owned(),
        data,
        memo: String::new(),
        signers: Vec::new(),
    }
    .sign(&[key])
}

/// A write of `value` to `key`.
pub fn put(contract: &str, key: &[u8], value: &[u8]) -> StateWrite {
    StateWrite { contract: contract.to_owned(), key: key.to_vec(), value: Some(HexValue(value.to_vec())) }
}

/// A delete of `key`.
pub fn delete(contract: &str, key: &[u8]) -> StateWrite {
    StateWrite { contract: contract.to_owned(), key: key.to_vec(), value: None }
}
