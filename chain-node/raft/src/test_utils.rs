//! An in-memory [`BlockStore`] and an in-process transport, for tests of
//! this crate and of the node.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use govchain_consensus::Batch;
use govchain_crypto::Suite;
use govchain_types::{BLOCK_VERSION, Block, BlockHeader, Encode, Hash, Transaction};

use crate::{BlockStore, BoxFuture, ChainTip, Error, NodeId, RaftEngine, RaftTransport, Result, StoreError};

/// A ledger in memory that "executes" a batch deterministically: the state
/// root after a block is the hash of the previous root and the block's
/// transaction root. It starts with a genesis block (height 0), as a node's
/// ledger does. Meta and block change together under one lock, like the
/// node's atomic write.
#[derive(Debug)]
pub struct MemBlockStore {
    suite: Suite,
    chain_id: String,
    inner: Mutex<MemInner>,
    imported: AtomicUsize,
}

#[derive(Debug, Default)]
struct MemInner {
    blocks: Vec<(Block, ChainTip)>,
    meta: Option<Vec<u8>>,
    txs: usize,
}

impl MemInner {
    fn push(&mut self, block: Block, tip: ChainTip) {
        self.txs += block.transactions.len();
        self.blocks.push((block, tip));
    }
}

impl MemBlockStore {
    /// A store of chain `chain_id` holding its genesis block.
    pub fn new(suite: Suite, chain_id: &str) -> MemBlockStore {
        let store = MemBlockStore {
            suite,
            chain_id: chain_id.to_owned(),
            inner: Mutex::default(),
            imported: AtomicUsize::new(0),
        };
        let genesis = Batch { transactions: Vec::new(), timestamp_ms: 0, proposer: "genesis".into() };
        let mut inner = store.lock();
        let (block, tip) = store.execute(None, &genesis);
        inner.push(block, tip);
        drop(inner);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn execute(&self, parent: Option<&ChainTip>, batch: &Batch) -> (Block, ChainTip) {
        let tx_root = Block::tx_root(self.suite, &batch.transactions);
        let prev_root = parent.map_or(Hash::ZERO, |p| p.state_root);
        let mut seed = prev_root.0.to_vec();
        seed.extend_from_slice(&tx_root.0);
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: self.chain_id.clone(),
            height: parent.map_or(0, |p| p.height + 1),
            prev_hash: parent.map_or(Hash::ZERO, |p| p.block_id),
            tx_root,
            state_root: Hash(self.suite.hash(&seed)),
            receipts_root: Hash::ZERO,
            timestamp_ms: batch.timestamp_ms.max(parent.map_or(0, |p| p.timestamp_ms)),
            proposer: batch.proposer.clone(),
            tx_count: u32::try_from(batch.transactions.len()).unwrap_or(u32::MAX),
        };
        let tip = ChainTip {
            height: header.height,
            block_id: header.id(self.suite),
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        };
        (Block { header, transactions: batch.transactions.clone(), signatures: Vec::new() }, tip)
    }

    /// Every block, genesis first.
    pub fn blocks(&self) -> Vec<Block> {
        self.lock().blocks.iter().map(|(b, _)| b.clone()).collect()
    }

    /// Ids of every block, genesis first.
    pub fn block_ids(&self) -> Vec<Hash> {
        self.lock().blocks.iter().map(|(_, t)| t.block_id).collect()
    }

    /// Height of the newest block.
    pub fn height(&self) -> u64 {
        self.lock().blocks.last().map_or(0, |(_, t)| t.height)
    }

    /// Blocks that came from peers ([`BlockStore::import_block`]) rather
    /// than from the log.
    pub fn imported(&self) -> usize {
        self.imported.load(Ordering::Relaxed)
    }

    /// Number of transactions in all blocks.
    pub fn tx_count(&self) -> usize {
        self.lock().txs
    }

    /// Every transaction in block order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.lock().blocks.iter().flat_map(|(b, _)| b.transactions.clone()).collect()
    }
}

impl BlockStore for MemBlockStore {
    fn suite(&self) -> Suite {
        self.suite
    }

    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().meta.clone())
    }

    fn tip(&self) -> Result<Option<ChainTip>, StoreError> {
        Ok(self.lock().blocks.last().map(|(_, t)| *t))
    }

    fn apply_batch(&self, batch: Batch, meta: &[u8]) -> Result<ChainTip, StoreError> {
        let mut inner = self.lock();
        let (block, tip) = self.execute(inner.blocks.last().map(|(_, t)| t), &batch);
        inner.push(block, tip);
        inner.meta = Some(meta.to_vec());
        Ok(tip)
    }

    fn put_meta(&self, meta: &[u8]) -> Result<(), StoreError> {
        self.lock().meta = Some(meta.to_vec());
        Ok(())
    }

    fn import_block(&self, block: Block, meta: &[u8]) -> Result<ChainTip, StoreError> {
        let mut inner = self.lock();
        let batch = Batch {
            transactions: block.transactions.clone(),
            timestamp_ms: block.header.timestamp_ms,
            proposer: block.header.proposer.clone(),
        };
        let (mine, tip) = self.execute(inner.blocks.last().map(|(_, t)| t), &batch);
        if mine.header != block.header {
            return Err(format!("block {} re-executes to a different header", block.header.height).into());
        }
        inner.push(mine, tip);
        inner.meta = Some(meta.to_vec());
        self.imported.fetch_add(1, Ordering::Relaxed);
        Ok(tip)
    }

    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.lock();
        Ok(usize::try_from(height).ok().and_then(|h| inner.blocks.get(h)).map(|(b, _)| b.encode()))
    }
}

/// An in-process network: [`RaftTransport::send`] calls the target
/// engine's [`RaftEngine::handle_rpc`] with the serialized request, so every
/// message still goes through the wire format. Unregistering a member cuts
/// it off (a crash or a partition as its peers see it).
#[derive(Debug, Clone, Default)]
pub struct LoopbackNetwork {
    members: Arc<Mutex<HashMap<NodeId, RaftEngine>>>,
}

impl LoopbackNetwork {
    /// An empty network.
    pub fn new() -> LoopbackNetwork {
        LoopbackNetwork::default()
    }

    /// Makes `engine` reachable under its id.
    pub fn register(&self, engine: &RaftEngine) {
        self.members.lock().unwrap_or_else(PoisonError::into_inner).insert(engine.id(), engine.clone());
    }

    /// Makes member `id` unreachable.
    pub fn unregister(&self, id: NodeId) {
        self.members.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }
}

impl RaftTransport for LoopbackNetwork {
    fn send<'a>(
        &'a self,
        target: NodeId,
        _addr: &'a str,
        path: &'a str,
        body: Vec<u8>,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let engine = self.members.lock().unwrap_or_else(PoisonError::into_inner).get(&target).cloned();
            let Some(engine) = engine else {
                return Err(Error::Unreachable { target, reason: "not on the loopback network".into() });
            };
            engine.handle_rpc(path, &body).await
        })
    }
}
