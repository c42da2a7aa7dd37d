use std::{
    collections::{BTreeMap, HashSet},
    fmt, fs,
    ops::{Bound, RangeBounds},
    path::Path,
    sync::{
        Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use govchain_crypto::{Address, Suite};
use govchain_types::{
    Block, Decode, Encode, Hash, HistoryEntry, MAX_TX_AGE_MS, MAX_TX_FUTURE_MS, Receipt, StateWrite,
    Transaction, encoding::encode_list, merkle, next_state_root,
};

use crate::{
    Error, Rejection, Result, Tip,
    blockfile::{self, BlockReader, BlockWriter, RECORD_HEADER},
    keys::{self, BlockEntry, TipEntry, TxEntry},
    nonces::{self, NonceUse},
};

const TARGET: &str = "govchain::ledger";
const META_IDENTITY: &[u8] = b"identity";
const META_TIP: &[u8] = b"tip";
const META_CONSENSUS: &[u8] = b"consensus";
/// Present once the `(sender, nonce)` index covers every committed block
/// (ledgers written before it had the index get it rebuilt on open).
const META_NONCES: &[u8] = b"nonce_index";

/// Tuning of a [`Ledger`].
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// A block file is closed and the next one started once appending would
    /// take it past this many bytes (a larger block gets a file of its own).
    pub block_file_size: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions { block_file_size: 256 * 1024 * 1024 }
    }
}

/// One node's copy of a chain: blocks, index, state and history.
///
/// `Send + Sync`: share it in an `Arc`. Reads never wait for a commit; a
/// commit becomes visible to readers all at once (index, receipts, state and
/// history together) when its batch is applied, and [`Ledger::tip`] moves
/// right after.
pub struct Ledger {
    suite: Suite,
    chain_id: String,
    db: Database,
    meta: Keyspace,
    heights: Keyspace,
    block_ids: Keyspace,
    txs: Keyspace,
    state: Keyspace,
    history: Keyspace,
    /// `(sender, nonce)` -> the recent transaction that used it.
    nonces: Keyspace,
    /// The same pairs ordered by that transaction's timestamp, for pruning.
    nonce_times: Keyspace,
    reader: BlockReader,
    writer: Mutex<BlockWriter>,
    tip: RwLock<Option<TipEntry>>,
    poisoned: AtomicBool,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("suite", &self.suite)
            .field("chain_id", &self.chain_id)
            .field("tip", &self.tip())
            .finish_non_exhaustive()
    }
}

/// The encoded block and, per transaction, where its body and its whole
/// encoding lie in it: `(start, body_end, end)`.
struct EncodedBlock {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize, usize)>,
}

/// Encodes exactly as [`Block::encode`] does, noting the spans on the way so
/// transaction ids and Merkle leaves come from the same bytes without
/// encoding every transaction twice.
fn encode_block(block: &Block) -> EncodedBlock {
    let mut bytes = Vec::new();
    block.header.encode_to(&mut bytes);
    u32::try_from(block.transactions.len()).unwrap_or(u32::MAX).encode_to(&mut bytes);
    let mut spans = Vec::with_capacity(block.transactions.len());
    for tx in &block.transactions {
        let start = bytes.len();
        tx.body.encode_to(&mut bytes);
        let body_end = bytes.len();
        encode_list(&tx.signatures, &mut bytes);
        spans.push((start, body_end, bytes.len()));
    }
    encode_list(&block.signatures, &mut bytes);
    EncodedBlock { bytes, spans }
}

/// The id of `tx`, whose encoded body is `body` ([`Transaction::id`]
/// without encoding the body again).
fn tx_id(suite: Suite, tx: &Transaction, body: &[u8]) -> Hash {
    match tx.body.tx_type {
        govchain_types::TxType::Ethereum => tx.id(suite),
        _ => Hash(suite.hash(body)),
    }
}

fn corrupt(what: impl fmt::Display, e: impl fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

impl Ledger {
    /// Opens (or creates) the ledger of `chain_id` under `dir`, repairing the
    /// block files after a crash; see [`Ledger::open_with`].
    pub fn open(dir: &Path, suite: Suite, chain_id: &str) -> Result<Ledger> {
        Self::open_with(dir, suite, chain_id, LedgerOptions::default())
    }

    /// Opens (or creates) the ledger of `chain_id` under `dir`.
    ///
    /// Block-file bytes after the committed tip are removed: a commit wrote
    /// them but crashed before its index batch was durable, so they were
    /// never acknowledged. If the index refers to data the files do not hold,
    /// or the last committed block does not read back intact, this fails with
    /// [`Error::Corrupt`] instead of guessing. A directory of another chain or
    /// suite fails with [`Error::WrongLedger`].
    pub fn open_with(dir: &Path, suite: Suite, chain_id: &str, options: LedgerOptions) -> Result<Ledger> {
        fs::create_dir_all(dir).map_err(|source| Error::Io { op: "create", path: dir.to_owned(), source })?;
        let db = open_index(dir)?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let meta = ks("meta")?;
        let heights = ks("heights")?;
        let block_ids = ks("block_ids")?;
        let txs = ks("txs")?;
        let state = ks("state")?;
        let history = ks("history")?;
        let nonces = ks("nonces")?;
        let nonce_times = ks("nonce_times")?;

        let identity = format!("chain `{chain_id}` with suite {suite}");
        let tip = meta.get(META_TIP)?.map(|v| TipEntry::decode(&v)).transpose()?;
        match meta.get(META_IDENTITY)? {
            Some(found) if *found == *identity.as_bytes() => {}
            Some(found) => {
                return Err(Error::WrongLedger {
                    expected: identity,
                    found: String::from_utf8_lossy(&found).into_owned(),
                });
            }
            None if tip.is_some() => {
                return Err(Error::Corrupt("index has a tip but no chain identity".into()));
            }
            None => {
                let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
                batch.insert(&meta, META_IDENTITY, identity.as_bytes());
                batch.commit()?;
            }
        }

        let blocks_dir = dir.join("blocks");
        let (writer, recovery) =
            BlockWriter::recover(&blocks_dir, options.block_file_size, tip.map(|t| (t.file, t.end)))?;
        if recovery.truncated > 0 || !recovery.removed.is_empty() {
            tracing::warn!(
                target: TARGET,
                truncated_bytes = recovery.truncated,
                removed_files = ?recovery.removed,
                "removed block data of commits that never completed"
            );
        }
        let ledger = Ledger {
            suite,
            chain_id: chain_id.to_owned(),
            db,
            meta,
            heights,
            block_ids,
            txs,
            state,
            history,
            nonces,
            nonce_times,
            reader: BlockReader::new(&blocks_dir),
            writer: Mutex::new(writer),
            tip: RwLock::new(tip),
            poisoned: AtomicBool::new(false),
        };
        if let Some(t) = tip {
            ledger.check_last_block(&t)?;
        }
        if ledger.meta.get(META_NONCES)?.is_none() {
            ledger.rebuild_nonce_index()?;
        }
        tracing::info!(target: TARGET, dir = %dir.display(), height = ?ledger.height(), "ledger opened");
        Ok(ledger)
    }

    /// Indexes the `(sender, nonce)` pairs of the blocks that can still hold
    /// live ones, for a ledger written before the index existed: a block
    /// holds only transactions at most [`MAX_TX_FUTURE_MS`] ahead of its
    /// time, and a pair stays live [`MAX_TX_AGE_MS`] after its timestamp.
    fn rebuild_nonce_index(&self) -> Result<()> {
        let mut blocks = Vec::new();
        if let Some(tip) = self.tip() {
            let oldest = tip.timestamp_ms.saturating_sub(MAX_TX_AGE_MS + MAX_TX_FUTURE_MS);
            for height in (0..=tip.height).rev() {
                let entry = self
                    .block_entry(height)?
                    .ok_or_else(|| Error::Corrupt(format!("no index entry for height {height}")))?;
                let block = self.read_block(&entry)?;
                if block.header.timestamp_ms < oldest {
                    break;
                }
                blocks.push(block);
            }
        }
        let mut changes = nonces::Changes::new(&self.nonces, &self.nonce_times);
        for block in blocks.iter().rev() {
            let ids: Vec<Hash> = block.transactions.iter().map(|tx| tx.id(self.suite)).collect();
            changes.block(block, &ids)?;
        }
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        changes.write(&mut batch);
        batch.insert(&self.meta, META_NONCES, [1u8]);
        batch.commit()?;
        if !blocks.is_empty() {
            tracing::info!(target: TARGET, blocks = blocks.len(), "rebuilt the (sender, nonce) index");
        }
        Ok(())
    }

    /// The recent transaction that used `(sender, nonce)`, if the index
    /// still remembers one; whether it still takes the pair at a given time
    /// is [`NonceUse::live_at`]; the rule is on [`NonceUse`].
    pub fn nonce_use(&self, sender: &Address, nonce: u64) -> Result<Option<NonceUse>> {
        nonces::get(&self.nonces, &nonces::pair_key(sender, nonce))
    }

    /// The tip's block must read back intact and end exactly where the
    /// files now end.
    fn check_last_block(&self, t: &TipEntry) -> Result<()> {
        let entry = self
            .block_entry(t.tip.height)?
            .ok_or_else(|| Error::Corrupt(format!("no index entry for the tip height {}", t.tip.height)))?;
        if entry.loc.file != t.file || entry.loc.end() != t.end || entry.id != t.tip.block_id {
            return Err(Error::Corrupt(format!(
                "index entry of height {} disagrees with the tip",
                t.tip.height
            )));
        }
        let block = self.read_block(&entry)?;
        if block.header.height != t.tip.height {
            return Err(Error::Corrupt(format!("block at the tip has height {}", block.header.height)));
        }
        Ok(())
    }

    /// The crypto suite of the chain.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The chain this ledger holds.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    fn tip_entry(&self) -> Option<TipEntry> {
        *self.tip.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest committed block; `None` before genesis.
    pub fn tip(&self) -> Option<Tip> {
        self.tip_entry().map(|t| t.tip)
    }

    /// Height of the newest block; `None` before genesis.
    pub fn height(&self) -> Option<u64> {
        self.tip().map(|t| t.height)
    }

    /// Id of the newest block; [`Hash::ZERO`] before genesis (what the
    /// genesis block's `prev_hash` must be).
    pub fn last_block_id(&self) -> Hash {
        self.tip().map_or(Hash::ZERO, |t| t.block_id)
    }

    /// State root after the newest block; [`Hash::ZERO`] before genesis (the
    /// `prev` the genesis block's root is computed from).
    pub fn state_root(&self) -> Hash {
        self.tip().map_or(Hash::ZERO, |t| t.state_root)
    }

    /// Appends the next block atomically and durably: returns only once the
    /// block, index, receipts, state and history are on disk, so an
    /// acknowledged block survives `kill -9` and power loss.
    ///
    /// `receipts[i]` and `writes[i]` belong to the block's `i`-th
    /// transaction. Checked first, with nothing written on failure
    /// ([`Error::Rejected`]): the height is the next one, chain id,
    /// `prev_hash` is the tip's id, the time is not before the parent's,
    /// `tx_count`, the transaction, receipts and state roots (the latter via
    /// [`next_state_root`] from [`Ledger::state_root`]), receipts match their
    /// transactions, no transaction is already on chain, keys fit.
    /// Signatures are not checked here.
    ///
    /// Commits are serialised; concurrent readers see all of a block or none.
    pub fn commit(&self, block: &Block, receipts: &[Receipt], writes: &[Vec<StateWrite>]) -> Result<()> {
        self.commit_with(block, receipts, writes, None)
    }

    /// [`Ledger::commit`], also replacing the consensus engine's metadata
    /// (e.g. the Raft log id that produced the block) in the same atomic
    /// batch, so after a crash [`Ledger::consensus_meta`] names exactly the
    /// last block on disk. `None` keeps the previous value.
    pub fn commit_with(
        &self,
        block: &Block,
        receipts: &[Receipt],
        writes: &[Vec<StateWrite>],
        consensus_meta: Option<&[u8]>,
    ) -> Result<()> {
        let started = Instant::now();
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        let prev = self.tip_entry();
        let mut checked = self.check(prev.map(|t| t.tip), block, receipts, writes)?;
        checked.consensus_meta = consensus_meta.map(<[u8]>::to_vec);

        let record = blockfile::frame(&checked.encoded.bytes)?;
        let result = self.write(&mut writer, block, &checked, &record, receipts, writes);
        match result {
            Ok(tip) => {
                *self.tip.write().unwrap_or_else(PoisonError::into_inner) = Some(tip);
                tracing::debug!(
                    target: TARGET,
                    height = block.header.height,
                    txs = block.transactions.len(),
                    bytes = record.len(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "block committed"
                );
                Ok(())
            }
            Err(e) => {
                // The files or the store may now hold part of this block; only
                // the repair in `open` puts them back in a known state.
                self.poisoned.store(true, Ordering::Release);
                tracing::error!(target: TARGET, height = block.header.height, error = %e, "commit failed while writing");
                Err(e)
            }
        }
    }

    fn check(
        &self,
        prev: Option<Tip>,
        block: &Block,
        receipts: &[Receipt],
        writes: &[Vec<StateWrite>],
    ) -> Result<Checked> {
        let h = &block.header;
        let expected = prev.map_or(0, |t| t.height + 1);
        if h.height != expected {
            return Err(Rejection::WrongHeight { expected, found: h.height }.into());
        }
        if h.chain_id != self.chain_id {
            return Err(
                Rejection::WrongChain { expected: self.chain_id.clone(), found: h.chain_id.clone() }.into()
            );
        }
        let prev_id = prev.map_or(Hash::ZERO, |t| t.block_id);
        if h.prev_hash != prev_id {
            return Err(Rejection::WrongPrevHash { expected: prev_id, found: h.prev_hash }.into());
        }
        if let Some(p) = prev
            && h.timestamp_ms < p.timestamp_ms
        {
            return Err(Rejection::TimeBeforeParent { parent: p.timestamp_ms, found: h.timestamp_ms }.into());
        }
        let n = block.transactions.len();
        if h.tx_count as usize != n {
            return Err(Rejection::TxCount { header: h.tx_count, carried: n }.into());
        }
        if receipts.len() != n || writes.len() != n {
            return Err(
                Rejection::CountMismatch { txs: n, receipts: receipts.len(), writes: writes.len() }.into()
            );
        }

        let encoded = encode_block(block);
        let tx_ids: Vec<Hash> = encoded
            .spans
            .iter()
            .zip(&block.transactions)
            .map(|(&(s, b, _), tx)| tx_id(self.suite, tx, &encoded.bytes[s..b]))
            .collect();
        let leaves: Vec<&[u8]> = encoded.spans.iter().map(|&(s, _, e)| &encoded.bytes[s..e]).collect();
        if merkle::root(self.suite, &leaves) != h.tx_root {
            return Err(Rejection::TxRoot.into());
        }
        for (index, (r, id)) in receipts.iter().zip(&tx_ids).enumerate() {
            if r.tx_id != *id || r.height != h.height || r.index as usize != index {
                return Err(Rejection::ReceiptMismatch { index }.into());
            }
        }
        let receipt_bytes: Vec<Vec<u8>> = receipts.iter().map(Encode::encode).collect();
        if merkle::root(self.suite, &receipt_bytes) != h.receipts_root {
            return Err(Rejection::ReceiptsRoot.into());
        }
        let computed = next_state_root(self.suite, &prev.map_or(Hash::ZERO, |t| t.state_root), writes);
        if computed != h.state_root {
            return Err(Rejection::StateRoot { header: h.state_root, computed }.into());
        }
        for (tx, tx_writes) in writes.iter().enumerate() {
            for (index, w) in tx_writes.iter().enumerate() {
                if keys::history_prefix(&w.contract, &w.key).is_none() {
                    return Err(Rejection::WriteTooLarge { tx, index }.into());
                }
            }
        }
        let mut seen = HashSet::with_capacity(n);
        for id in &tx_ids {
            if !seen.insert(*id) || self.txs.contains_key(id.0)? {
                return Err(Rejection::DuplicateTx(*id).into());
            }
        }
        Ok(Checked { encoded, tx_ids, receipt_bytes, block_id: h.id(self.suite), consensus_meta: None })
    }

    fn write(
        &self,
        writer: &mut BlockWriter,
        block: &Block,
        checked: &Checked,
        record: &[u8],
        receipts: &[Receipt],
        writes: &[Vec<StateWrite>],
    ) -> Result<TipEntry> {
        let h = &block.header;
        let loc = writer.append(record)?;
        let (file, end) = writer.position();
        let tip = TipEntry {
            tip: Tip {
                height: h.height,
                block_id: checked.block_id,
                state_root: h.state_root,
                timestamp_ms: h.timestamp_ms,
            },
            file,
            end,
        };

        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let entry = BlockEntry { loc, id: checked.block_id, state_root: h.state_root };
        batch.insert(&self.heights, keys::height_key(h.height), entry.encode());
        batch.insert(&self.block_ids, checked.block_id.0, keys::height_key(h.height));
        let payload = loc.offset + RECORD_HEADER;
        for (index, ((id, &(start, _, end)), receipt)) in
            checked.tx_ids.iter().zip(&checked.encoded.spans).zip(&checked.receipt_bytes).enumerate()
        {
            let tx = TxEntry {
                height: h.height,
                index: index as u32,
                file: loc.file,
                offset: payload + start as u64,
                len: (end - start) as u32,
            };
            batch.insert(&self.txs, id.0, tx.encode_with(receipt));
        }
        // Several writes of one key in a block all share the batch's sequence
        // number, so only the last may reach the state keyspace.
        let mut latest: BTreeMap<Vec<u8>, Option<&[u8]>> = BTreeMap::new();
        for (tx_index, (tx_writes, receipt)) in writes.iter().zip(receipts).enumerate() {
            for (seq, w) in tx_writes.iter().enumerate() {
                let value = w.value.as_ref().map(|v| v.0.as_slice());
                // Checked in `check`: both keys exist for every write.
                if let (Some(state_key), Some(prefix)) =
                    (keys::state_key(&w.contract, &w.key), keys::history_prefix(&w.contract, &w.key))
                {
                    latest.insert(state_key, value);
                    batch.insert(
                        &self.history,
                        keys::history_key(&prefix, h.height, tx_index as u32, seq as u32),
                        keys::history_value(&receipt.tx_id, h.timestamp_ms, value),
                    );
                }
            }
        }
        for (key, value) in latest {
            match value {
                Some(v) => batch.insert(&self.state, key, v),
                None => batch.remove(&self.state, key),
            }
        }
        let mut pairs = nonces::Changes::new(&self.nonces, &self.nonce_times);
        pairs.prune(h.timestamp_ms)?;
        pairs.block(block, &checked.tx_ids)?;
        pairs.write(&mut batch);
        batch.insert(&self.meta, META_TIP, tip.encode());
        if let Some(meta) = &checked.consensus_meta {
            batch.insert(&self.meta, META_CONSENSUS, meta);
        }
        batch.commit()?;
        Ok(tip)
    }

    fn block_entry(&self, height: u64) -> Result<Option<BlockEntry>> {
        self.heights.get(keys::height_key(height))?.map(|v| BlockEntry::decode(&v)).transpose()
    }

    fn read_block(&self, entry: &BlockEntry) -> Result<Block> {
        let bytes = self.reader.record(entry.loc)?;
        let block =
            Block::decode(&bytes).map_err(|e| corrupt(format_args!("block record {:?}", entry.loc), e))?;
        if block.header.id(self.suite) != entry.id {
            return Err(Error::Corrupt(format!(
                "block record {:?} does not hash to its indexed id",
                entry.loc
            )));
        }
        Ok(block)
    }

    /// Replaces the consensus metadata alone, durably (for consensus
    /// entries that make no block: membership or policy changes, no-ops).
    pub fn put_consensus_meta(&self, meta: &[u8]) -> Result<()> {
        // Serialised with commits, so a concurrent block cannot interleave.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.meta, META_CONSENSUS, meta);
        batch.commit()?;
        Ok(())
    }

    /// The consensus metadata stored by the last [`Ledger::commit_with`]
    /// that carried one, or [`Ledger::put_consensus_meta`].
    pub fn consensus_meta(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(META_CONSENSUS)?.map(|v| v.to_vec()))
    }

    /// The block at `height`.
    pub fn block_by_height(&self, height: u64) -> Result<Option<Block>> {
        self.block_entry(height)?.map(|e| self.read_block(&e)).transpose()
    }

    /// The block with id `id`.
    pub fn block_by_id(&self, id: &Hash) -> Result<Option<Block>> {
        match self.height_of(id)? {
            Some(h) => self.block_by_height(h),
            None => Ok(None),
        }
    }

    /// The height of the block with id `id`.
    pub fn height_of(&self, id: &Hash) -> Result<Option<u64>> {
        self.block_ids.get(id.0)?.map(|v| keys::decode_height(&v)).transpose()
    }

    /// The id of the block at `height`, from the index (no block read).
    pub fn block_id_at(&self, height: u64) -> Result<Option<Hash>> {
        Ok(self.block_entry(height)?.map(|e| e.id))
    }

    /// The state root after the block at `height`, from the index.
    pub fn state_root_at(&self, height: u64) -> Result<Option<Hash>> {
        Ok(self.block_entry(height)?.map(|e| e.state_root))
    }

    /// The block at `height` in its canonical encoding, as stored (checksum
    /// checked): what a follower fetching blocks wants, without a re-encode.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>> {
        self.block_entry(height)?.map(|e| self.reader.record(e.loc)).transpose()
    }

    fn tx_entry(&self, id: &Hash) -> Result<Option<(TxEntry, Receipt)>> {
        let Some(v) = self.txs.get(id.0)? else { return Ok(None) };
        let (entry, receipt) = TxEntry::decode(&v)?;
        let receipt = Receipt::decode(receipt).map_err(|e| corrupt(format_args!("receipt of {id}"), e))?;
        Ok(Some((entry, receipt)))
    }

    /// The transaction with id `id` and its receipt. Reads only the
    /// transaction's bytes from the block file, not the whole block.
    pub fn transaction(&self, id: &Hash) -> Result<Option<(Transaction, Receipt)>> {
        let Some((entry, receipt)) = self.tx_entry(id)? else { return Ok(None) };
        let bytes = self.reader.slice(entry.file, entry.offset, entry.len)?;
        let tx = Transaction::decode(&bytes).map_err(|e| corrupt(format_args!("transaction {id}"), e))?;
        // The frame checksum does not cover a slice; the id does.
        if tx.id(self.suite) != *id {
            return Err(Error::Corrupt(format!("stored bytes of transaction {id} hash to another id")));
        }
        Ok(Some((tx, receipt)))
    }

    /// The receipt of transaction `id`.
    pub fn receipt(&self, id: &Hash) -> Result<Option<Receipt>> {
        Ok(self.tx_entry(id)?.map(|(_, r)| r))
    }

    /// Height of the block holding transaction `id` and its position there.
    pub fn tx_position(&self, id: &Hash) -> Result<Option<(u64, u32)>> {
        Ok(self.tx_entry(id)?.map(|(e, _)| (e.height, e.index)))
    }

    /// Whether transaction `id` is on chain (for duplicate rejection; cheap
    /// for absent ids thanks to the store's Bloom filters).
    pub fn contains_tx(&self, id: &Hash) -> Result<bool> {
        Ok(self.txs.contains_key(id.0)?)
    }

    /// The receipts of the block at `height`, in transaction order.
    pub fn block_receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>> {
        let Some(block) = self.block_by_height(height)? else { return Ok(None) };
        let mut out = Vec::with_capacity(block.transactions.len());
        for tx in &block.transactions {
            let id = tx.id(self.suite);
            let (_, receipt) = self.tx_entry(&id)?.ok_or_else(|| {
                Error::Corrupt(format!("transaction {id} of block {height} is not indexed"))
            })?;
            out.push(receipt);
        }
        Ok(Some(out))
    }

    /// The latest value of `key` in `contract`'s state.
    pub fn get(&self, contract: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(k) = keys::state_key(contract, key) else { return Ok(None) };
        Ok(self.state.get(k)?.map(|v| v.to_vec()))
    }

    /// Up to `limit` versions of `key`, newest first: every write and delete
    /// with its height, transaction and block time.
    pub fn history(&self, contract: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        let Some(prefix) = keys::history_prefix(contract, key) else { return Ok(Vec::new()) };
        collect_history(self.history.prefix(&prefix), limit)
    }

    /// Up to `limit` versions of `key` written at or below `height`, newest
    /// first: the first is the key as of that block (a delete if `value` is
    /// `None`).
    pub fn history_at(
        &self,
        contract: &str,
        key: &[u8],
        height: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>> {
        let Some(prefix) = keys::history_prefix(contract, key) else { return Ok(Vec::new()) };
        // Heights are inverted in the key: versions at or below `height`
        // start at its first (smallest) key and run to the prefix's end.
        let start = keys::history_key(&prefix, height, u32::MAX, u32::MAX);
        let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        collect_history(self.history.range::<Vec<u8>, _>((Bound::Included(start), end)), limit)
    }

    /// The newest version of `key` (a write or a delete).
    pub fn last_change(&self, contract: &str, key: &[u8]) -> Result<Option<HistoryEntry>> {
        Ok(self.history(contract, key, 1)?.into_iter().next())
    }

    /// Height of the block that last wrote or deleted `key` (LED-3).
    pub fn last_change_height(&self, contract: &str, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.last_change(contract, key)?.map(|e| e.height))
    }

    /// Iterates `contract`'s current keys within `range` (bounds on the raw
    /// key), in key order; `.rev()` walks backwards. Lazy: filter it (key
    /// contains, value matches) and stop whenever enough was found.
    pub fn iter(&self, contract: &str, range: impl RangeBounds<Vec<u8>>) -> StateIter {
        let Some(prefix) = keys::contract_prefix(contract) else { return StateIter::empty() };
        let join = |k: &Vec<u8>| [prefix.as_slice(), k.as_slice()].concat();
        let start = match range.start_bound() {
            Bound::Included(k) => Bound::Included(join(k)),
            Bound::Excluded(k) => Bound::Excluded(join(k)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let end = match range.end_bound() {
            Bound::Included(k) => Bound::Included(join(k)),
            Bound::Excluded(k) => Bound::Excluded(join(k)),
            Bound::Unbounded => keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded),
        };
        if is_empty_range(&start, &end) {
            return StateIter::empty();
        }
        StateIter { inner: Some(self.state.range::<Vec<u8>, _>((start, end))), skip: prefix.len() }
    }

    /// Iterates `contract`'s current keys starting with `prefix`.
    pub fn iter_prefix(&self, contract: &str, prefix: &[u8]) -> StateIter {
        let Some(mut full) = keys::contract_prefix(contract) else { return StateIter::empty() };
        let skip = full.len();
        full.extend_from_slice(prefix);
        StateIter { inner: Some(self.state.prefix(full)), skip }
    }

    /// Up to `limit` `(key, value)` pairs of `contract` within `range`.
    pub fn scan(
        &self,
        contract: &str,
        range: impl RangeBounds<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.iter(contract, range).take(limit).collect()
    }

    /// Up to `limit` `(key, value)` pairs of `contract` whose key starts with
    /// `prefix`.
    pub fn scan_prefix(
        &self,
        contract: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.iter_prefix(contract, prefix).take(limit).collect()
    }

    /// Re-reads every block from the block files and checks it against the
    /// chain and the index: frame checksums, canonical encoding, heights,
    /// the hash chain, transaction roots and counts, the transaction index
    /// (position, location, receipt, receipts root), block id index, state
    /// roots, the files' layout, and that the tip is the last block. Returns
    /// the height checked up to; `None` before genesis. Takes time linear in
    /// the chain; for audits and tests, not for every start.
    pub fn verify_chain(&self) -> Result<Option<u64>> {
        let Some(tip) = self.tip_entry() else { return Ok(None) };
        let mut prev_id = Hash::ZERO;
        let mut prev_time = 0;
        let mut pos: Option<(u32, u64)> = None;
        for height in 0..=tip.tip.height {
            let fail = |what: String| Error::Corrupt(format!("block {height}: {what}"));
            let entry = self.block_entry(height)?.ok_or_else(|| fail("not indexed".into()))?;
            let laid_out = match pos {
                None => entry.loc.file == 0 && entry.loc.offset == 0,
                Some((file, end)) => {
                    (entry.loc.file == file && entry.loc.offset == end)
                        || (entry.loc.file == file + 1 && entry.loc.offset == 0)
                }
            };
            if !laid_out {
                return Err(fail(format!("record at {:?} does not follow the previous one", entry.loc)));
            }
            pos = Some((entry.loc.file, entry.loc.end()));
            let bytes = self.reader.record(entry.loc)?;
            let block = Block::decode(&bytes).map_err(|e| fail(e.to_string()))?;
            let encoded = encode_block(&block);
            if encoded.bytes != bytes {
                return Err(fail("not in canonical encoding".into()));
            }
            let h = &block.header;
            let id = h.id(self.suite);
            if h.height != height || h.chain_id != self.chain_id {
                return Err(fail(format!("header says height {} of chain `{}`", h.height, h.chain_id)));
            }
            if id != entry.id || h.state_root != entry.state_root {
                return Err(fail("id or state root differs from the index".into()));
            }
            if h.prev_hash != prev_id {
                return Err(fail("previous hash does not match the previous block".into()));
            }
            if h.timestamp_ms < prev_time {
                return Err(fail("block time before the parent's".into()));
            }
            if self.height_of(&id)? != Some(height) {
                return Err(fail("block id index does not point here".into()));
            }
            if h.tx_count as usize != block.transactions.len() {
                return Err(fail("transaction count differs from the header".into()));
            }
            let leaves: Vec<&[u8]> = encoded.spans.iter().map(|&(s, _, e)| &bytes[s..e]).collect();
            if merkle::root(self.suite, &leaves) != h.tx_root {
                return Err(fail("transaction root mismatch".into()));
            }
            let mut receipts = Vec::with_capacity(block.transactions.len());
            for (index, (&(start, body_end, end), tx)) in
                encoded.spans.iter().zip(&block.transactions).enumerate()
            {
                let tx_id = tx_id(self.suite, tx, &bytes[start..body_end]);
                let (tx, receipt) =
                    self.tx_entry(&tx_id)?.ok_or_else(|| fail(format!("transaction {tx_id} not indexed")))?;
                let expected = TxEntry {
                    height,
                    index: index as u32,
                    file: entry.loc.file,
                    offset: entry.loc.offset + RECORD_HEADER + start as u64,
                    len: (end - start) as u32,
                };
                if tx != expected
                    || receipt.tx_id != tx_id
                    || receipt.height != height
                    || receipt.index != tx.index
                {
                    return Err(fail(format!("index entry or receipt of transaction {tx_id} is wrong")));
                }
                receipts.push(receipt.encode());
            }
            if merkle::root(self.suite, &receipts) != h.receipts_root {
                return Err(fail("receipts root mismatch".into()));
            }
            prev_id = id;
            prev_time = h.timestamp_ms;
        }
        if prev_id != tip.tip.block_id || pos != Some((tip.file, tip.end)) {
            return Err(Error::Corrupt("the tip is not the last block of the files".into()));
        }
        let len = self.reader.file_len(tip.file)?;
        if len < tip.end {
            return Err(Error::Corrupt(format!(
                "last block file is {len} bytes, the tip ends at {}",
                tip.end
            )));
        }
        Ok(Some(tip.tip.height))
    }
}

fn collect_history(iter: fjall::Iter, limit: usize) -> Result<Vec<HistoryEntry>> {
    let mut out = Vec::new();
    for guard in iter.take(limit) {
        let (k, v) = guard.into_inner()?;
        out.push(keys::decode_history(&k, &v)?);
    }
    Ok(out)
}

/// What `check` computed and `write` needs.
struct Checked {
    encoded: EncodedBlock,
    tx_ids: Vec<Hash>,
    receipt_bytes: Vec<Vec<u8>>,
    block_id: Hash,
    /// Consensus metadata to store with the block, if any.
    consensus_meta: Option<Vec<u8>>,
}

/// Whether no key can lie within `(start, end)`. The store's range walk
/// expects `start <= end`, so such ranges are answered without it.
fn is_empty_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let (s, s_incl) = match start {
        Bound::Included(s) => (s, true),
        Bound::Excluded(s) => (s, false),
        Bound::Unbounded => return false,
    };
    match end {
        Bound::Included(e) => s > e || (s == e && !s_incl),
        Bound::Excluded(e) => s >= e,
        Bound::Unbounded => false,
    }
}

/// Iterator over one contract's current state: `(key, value)` with the raw
/// key, in key order (double-ended). Reads a consistent snapshot taken when
/// it was created.
pub struct StateIter {
    inner: Option<fjall::Iter>,
    skip: usize,
}

impl fmt::Debug for StateIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateIter").field("skip", &self.skip).finish_non_exhaustive()
    }
}

impl StateIter {
    fn empty() -> Self {
        StateIter { inner: None, skip: 0 }
    }

    fn convert(&self, guard: fjall::Guard) -> Result<(Vec<u8>, Vec<u8>)> {
        let (k, v) = guard.into_inner()?;
        let key =
            k.get(self.skip..).ok_or_else(|| Error::Corrupt("state key shorter than its prefix".into()))?;
        Ok((key.to_vec(), v.to_vec()))
    }
}

impl Iterator for StateIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let guard = self.inner.as_mut()?.next()?;
        Some(self.convert(guard))
    }
}

impl DoubleEndedIterator for StateIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        let guard = self.inner.as_mut()?.next_back()?;
        Some(self.convert(guard))
    }
}

mod past;

/// Opens the index in `dir`, creating it whole: a new index is made in a
/// staging directory and renamed into place, so a process killed while
/// creating it leaves no index or a complete one. (The store writes its
/// version marker after its directory: a kill between the two left an
/// index that no later open could read, and a node that could not start
/// again after being killed in its first second.)
fn open_index(dir: &Path) -> Result<Database> {
    let index = dir.join("index");
    if !index.exists() {
        let staging = dir.join("index.new");
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(blockfile::io_err("remove", &staging))?;
        }
        drop(Database::builder(&staging).open()?);
        fs::rename(&staging, &index).map_err(blockfile::io_err("rename", &staging))?;
        blockfile::sync_dir(dir)?;
    }
    Ok(Database::builder(index).open()?)
}

#[cfg(test)]
mod tests;
