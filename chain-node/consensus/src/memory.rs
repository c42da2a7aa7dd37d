//! In-memory pieces for tests: a [`BlockStore`] that "executes" batches
//! deterministically, and an engine whose members are in one process and
//! share one log.
//!
//! The [`MemoryGroup`] engine shows the seam from the other side: it orders
//! through the same [`cutter`](crate::cutter) as solo and Raft, drives each
//! member's [`BlockStore`] with exactly-once metadata like Raft, and offers
//! the [`Membership`] capability. What it lacks on purpose: a network (the
//! shared log is the network), elections (the lowest-numbered running voter
//! leads) and durability of the log (it lives as long as the group).
//! Members can be stopped and started again over their store (a crash and
//! a restart), and cut off and healed (a partition): a member catches up
//! from the log when it is back.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use govchain_types::{BLOCK_VERSION, Block, BlockHeader, Encode, Hash, Transaction, chain::Suite};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info};

use crate::{
    Batch, BlockPolicy, BlockStore, BoxFuture, ChainTip, Consensus, Error, Leader, Member, Membership,
    Result, Role, Status, StoreError,
    cutter::{self, BlockSink, Queue, TxList},
};

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
    tx_ids: std::collections::HashSet<Hash>,
}

impl MemInner {
    fn push(&mut self, suite: Suite, block: Block, tip: ChainTip) {
        self.txs += block.transactions.len();
        self.tx_ids.extend(block.transactions.iter().map(|tx| tx.id(suite)));
        self.blocks.push((block, tip));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let genesis = Batch {
            transactions: Vec::new(),
            timestamp_ms: 0,
            proposer: "genesis".into(),
            certificate: Vec::new(),
        };
        let (block, tip) = store.execute(None, &genesis);
        lock(&store.inner).push(suite, block, tip);
        store
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
        (
            Block { header, transactions: batch.transactions.clone(), signatures: batch.certificate.clone() },
            tip,
        )
    }

    /// Every block, genesis first.
    pub fn blocks(&self) -> Vec<Block> {
        lock(&self.inner).blocks.iter().map(|(b, _)| b.clone()).collect()
    }

    /// Ids of every block, genesis first.
    pub fn block_ids(&self) -> Vec<Hash> {
        lock(&self.inner).blocks.iter().map(|(_, t)| t.block_id).collect()
    }

    /// Height of the newest block.
    pub fn height(&self) -> u64 {
        lock(&self.inner).blocks.last().map_or(0, |(_, t)| t.height)
    }

    /// Blocks that came from peers ([`BlockStore::import_block`]) rather
    /// than from the engine's order.
    pub fn imported(&self) -> usize {
        self.imported.load(Ordering::Relaxed)
    }

    /// Number of transactions in all blocks.
    pub fn tx_count(&self) -> usize {
        lock(&self.inner).txs
    }

    /// Every transaction in block order.
    pub fn transactions(&self) -> Vec<Transaction> {
        lock(&self.inner).blocks.iter().flat_map(|(b, _)| b.transactions.clone()).collect()
    }
}

impl BlockStore for MemBlockStore {
    fn suite(&self) -> Suite {
        self.suite
    }

    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(lock(&self.inner).meta.clone())
    }

    fn tip(&self) -> Result<Option<ChainTip>, StoreError> {
        Ok(lock(&self.inner).blocks.last().map(|(_, t)| *t))
    }

    fn apply_batch(&self, batch: Batch, meta: Option<&[u8]>) -> Result<ChainTip, StoreError> {
        let mut inner = lock(&self.inner);
        let (block, tip) = self.execute(inner.blocks.last().map(|(_, t)| t), &batch);
        inner.push(self.suite, block, tip);
        if let Some(meta) = meta {
            inner.meta = Some(meta.to_vec());
        }
        Ok(tip)
    }

    fn put_meta(&self, meta: &[u8]) -> Result<(), StoreError> {
        lock(&self.inner).meta = Some(meta.to_vec());
        Ok(())
    }

    fn import_block(&self, block: Block, meta: &[u8]) -> Result<ChainTip, StoreError> {
        let mut inner = lock(&self.inner);
        let batch = Batch {
            transactions: block.transactions.clone(),
            timestamp_ms: block.header.timestamp_ms,
            proposer: block.header.proposer.clone(),
            certificate: block.signatures.clone(),
        };
        let (mine, tip) = self.execute(inner.blocks.last().map(|(_, t)| t), &batch);
        if mine.header != block.header {
            return Err(format!("block {} re-executes to a different header", block.header.height).into());
        }
        inner.push(self.suite, mine, tip);
        inner.meta = Some(meta.to_vec());
        self.imported.fetch_add(1, Ordering::Relaxed);
        Ok(tip)
    }

    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = lock(&self.inner);
        Ok(usize::try_from(height).ok().and_then(|h| inner.blocks.get(h)).map(|(b, _)| b.encode()))
    }

    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(lock(&self.inner).tx_ids.contains(id))
    }
}

/// An in-process consensus group: one cutter orders every member's
/// submissions into one shared log, which every running, reachable member
/// replays into its own [`BlockStore`]. Cheap to clone.
#[derive(Clone)]
pub struct MemoryGroup {
    shared: Arc<Shared>,
    queue: Queue,
}

impl std::fmt::Debug for MemoryGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryGroup").finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<GroupState>,
    /// Bumped on every change members wait for (log, membership, reach).
    changed: watch::Sender<u64>,
}

struct GroupState {
    log: Vec<Batch>,
    members: BTreeMap<u64, Member>,
    /// Members whose engine runs.
    running: BTreeSet<u64>,
    /// Members cut off from the group (a partition).
    isolated: BTreeSet<u64>,
    policy: BlockPolicy,
}

impl GroupState {
    fn reachable(&self, id: u64) -> bool {
        self.running.contains(&id) && !self.isolated.contains(&id) && self.members.contains_key(&id)
    }

    /// The lowest-numbered reachable voter.
    fn leader(&self) -> Option<&Member> {
        self.members.values().find(|m| m.voter && self.reachable(m.id))
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, GroupState> {
        lock(&self.state)
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// Appends cut blocks to the shared log.
struct Append(Arc<Shared>);

impl BlockSink for Append {
    type Draft = TxList;

    fn policy(&self) -> BlockPolicy {
        self.0.state().policy.clone()
    }

    async fn deliver(&mut self, draft: TxList, timestamp_ms: u64, proposer: &str) -> Result<(), String> {
        let batch = draft.into_batch(timestamp_ms, proposer);
        {
            let mut state = self.0.state();
            if state.leader().is_none() {
                // No member can take it, as a Raft leader that lost its
                // quorum drops its batch; clients resubmit.
                return Ok(());
            }
            state.log.push(batch);
        }
        self.0.bump();
        Ok(())
    }
}

impl MemoryGroup {
    /// A group of `voters` (id, name) with `policy`, its cutter queueing up
    /// to `capacity` transactions, on the current tokio runtime. Blocks are
    /// proposed under the first voter's name.
    pub fn new(voters: &[(u64, &str)], policy: BlockPolicy, capacity: usize) -> Result<MemoryGroup> {
        policy.validate()?;
        let members: BTreeMap<u64, Member> = voters
            .iter()
            .map(|(id, name)| {
                (*id, Member { id: *id, name: (*name).to_owned(), addr: String::new(), voter: true })
            })
            .collect();
        let proposer =
            members.values().next().map(|m| m.name.clone()).ok_or(Error::Membership("no voter".into()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(GroupState {
                log: Vec::new(),
                members,
                running: BTreeSet::new(),
                isolated: BTreeSet::new(),
                policy,
            }),
            changed: watch::Sender::new(0),
        });
        let (queue, _cutter) = cutter::spawn(proposer, capacity, Append(shared.clone()));
        Ok(MemoryGroup { shared, queue })
    }

    /// Starts member `id` called `name` over `store` (again, after a stop:
    /// it resumes after the last entry the store holds). It applies the
    /// log once it is a member of the group.
    pub fn start_member(&self, id: u64, name: &str, store: Arc<dyn BlockStore>) -> Result<MemoryMember> {
        let applied = match store.consensus_meta().map_err(|e| Error::Unavailable(e.to_string()))? {
            Some(meta) => {
                let bytes: [u8; 8] = meta
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Unavailable("the store holds another engine's metadata".into()))?;
                u64::from_be_bytes(bytes)
            }
            None => 0,
        };
        self.shared.state().running.insert(id);
        self.shared.bump();
        let task = tokio::spawn(replay(self.shared.clone(), id, store, applied));
        info!(target: "govchain::consensus", id, name, applied, "memory member started");
        Ok(MemoryMember { group: self.clone(), id, name: name.to_owned(), task: Mutex::new(Some(task)) })
    }

    /// Cuts member `id` off the group (a partition): it neither orders nor
    /// receives blocks until [`MemoryGroup::heal`].
    pub fn isolate(&self, id: u64) {
        self.shared.state().isolated.insert(id);
        self.shared.bump();
    }

    /// Ends every partition.
    pub fn heal(&self) {
        self.shared.state().isolated.clear();
        self.shared.bump();
    }

    /// Entries in the shared log.
    pub fn log_len(&self) -> usize {
        self.shared.state().log.len()
    }
}

/// Applies the shared log to `store` from entry `applied` on, while member
/// `id` is a reachable member.
async fn replay(shared: Arc<Shared>, id: u64, store: Arc<dyn BlockStore>, mut applied: u64) {
    let mut changed = shared.changed.subscribe();
    loop {
        let next: Vec<Batch> = {
            let state = shared.state();
            if state.reachable(id) {
                let from = usize::try_from(applied).unwrap_or(usize::MAX);
                state.log.get(from..).map(<[Batch]>::to_vec).unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        for batch in next {
            let meta = (applied + 1).to_be_bytes();
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.apply_batch(batch, Some(&meta))).await {
                Ok(Ok(_)) => applied += 1,
                Ok(Err(e)) => {
                    error!(target: "govchain::consensus", id, error = %e, "the block store failed; the member stops");
                    return;
                }
                Err(e) => {
                    error!(target: "govchain::consensus", id, error = %e, "applying a block panicked; the member stops");
                    return;
                }
            }
        }
        if changed.changed().await.is_err() {
            return;
        }
    }
}

/// One member of a [`MemoryGroup`]: its [`Consensus`] and [`Membership`].
pub struct MemoryMember {
    group: MemoryGroup,
    id: u64,
    name: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MemoryMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMember").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

impl MemoryMember {
    fn state(&self) -> MutexGuard<'_, GroupState> {
        self.group.shared.state()
    }

    fn leader_only(&self) -> Result<()> {
        let state = self.state();
        match state.leader() {
            Some(l) if l.id == self.id => Ok(()),
            l => Err(Error::NotLeader { leader: l.map(|l| l.name.clone()) }),
        }
    }

    fn change(&self, f: impl FnOnce(&mut GroupState) -> Result<()>) -> BoxFuture<'_, Result<()>> {
        let result = self.leader_only().and_then(|()| f(&mut self.state()));
        if result.is_ok() {
            self.group.shared.bump();
        }
        Box::pin(async move { result })
    }
}

impl Consensus for MemoryMember {
    fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        if !self.state().reachable(self.id) {
            return Err(Error::Stopped);
        }
        self.group.queue.submit(txs)
    }

    fn status(&self) -> Status {
        Status {
            engine: "memory".into(),
            node_id: self.name.clone(),
            role: self.role(),
            leader: self.leader().map(|l| l.name),
            pending: self.group.queue.pending(),
        }
    }

    fn role(&self) -> Role {
        let state = self.state();
        if !state.reachable(self.id) {
            return Role::Stopped;
        }
        match state.members.get(&self.id) {
            Some(_) if state.leader().is_some_and(|l| l.id == self.id) => Role::Leader,
            Some(m) if m.voter => Role::Follower,
            Some(_) => Role::Learner,
            None => Role::Stopped,
        }
    }

    fn leader(&self) -> Option<Leader> {
        let state = self.state();
        if !state.reachable(self.id) {
            return None;
        }
        state.leader().map(|l| Leader { name: l.name.clone(), addr: None })
    }

    fn block_policy(&self) -> BlockPolicy {
        self.state().policy.clone()
    }

    fn membership(&self) -> Option<&dyn Membership> {
        Some(self)
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        self.state().running.remove(&self.id);
        self.group.shared.bump();
        Box::pin(async { Ok(()) })
    }
}

impl Membership for MemoryMember {
    fn members(&self) -> Vec<Member> {
        self.state().members.values().cloned().collect()
    }

    fn add_learner(
        &self,
        id: u64,
        name: String,
        addr: String,
        _public_key: Vec<u8>,
    ) -> BoxFuture<'_, Result<()>> {
        self.change(move |s| {
            if s.members.contains_key(&id) {
                return Err(Error::Membership(format!("{id} is already a member")));
            }
            s.members.insert(id, Member { id, name, addr, voter: false });
            Ok(())
        })
    }

    fn promote(&self, id: u64) -> BoxFuture<'_, Result<()>> {
        self.change(move |s| match s.members.get_mut(&id) {
            Some(m) => {
                m.voter = true;
                Ok(())
            }
            None => Err(Error::Membership(format!("{id} is not a member"))),
        })
    }

    fn remove(&self, id: u64) -> BoxFuture<'_, Result<()>> {
        self.change(move |s| {
            if !s.members.contains_key(&id) {
                return Err(Error::Membership(format!("{id} is not a member")));
            }
            if s.members.values().all(|m| m.id == id || !m.voter) {
                return Err(Error::Membership("the last voter cannot leave".into()));
            }
            s.members.remove(&id);
            Ok(())
        })
    }

    fn set_block_policy(&self, policy: BlockPolicy) -> BoxFuture<'_, Result<()>> {
        self.change(move |s| {
            policy.validate()?;
            s.policy = policy;
            Ok(())
        })
    }
}

impl Drop for MemoryMember {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// A distinct unsigned transaction of `chain_id` with nonce `n` (and `n`
/// as its payload): test input for block stores that do not check
/// signatures, as [`MemBlockStore`].
pub fn unsigned_tx(chain_id: &str, n: u64) -> Transaction {
    Transaction {
        body: govchain_types::TxBody {
            chain_id: chain_id.into(),
            tx_type: govchain_types::TxType::Invoke,
            timestamp_ms: 0,
            nonce: n,
            sender: Default::default(),
            recipient: "data".into(),
            data: n.to_be_bytes().to_vec(),
            memo: String::new(),
            signers: vec![],
        },
        signatures: vec![],
    }
}

/// Polls `cond` every 20 ms until it holds (true) or `timeout` passes
/// (false).
pub async fn wait_until(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn tx(n: u64) -> Transaction {
        unsigned_tx("m", n)
    }

    async fn until(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not met in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_replay_one_log_and_a_restarted_or_isolated_member_catches_up() {
        let group = MemoryGroup::new(&[(1, "a"), (2, "b")], BlockPolicy::default(), 100).unwrap();
        let stores: Vec<Arc<MemBlockStore>> =
            (0..3).map(|_| Arc::new(MemBlockStore::new(Suite::Gm, "m"))).collect();
        let a = group.start_member(1, "a", stores[0].clone()).unwrap();
        let b = group.start_member(2, "b", stores[1].clone()).unwrap();
        assert_eq!((a.role(), b.role()), (Role::Leader, Role::Follower));
        b.submit((0..10).map(tx).collect()).unwrap();
        until(|| stores[0].tx_count() == 10 && stores[1].tx_count() == 10).await;
        assert_eq!(stores[0].block_ids(), stores[1].block_ids());

        // A learner catches up from the start; a follower may not add it.
        let refused = b.membership().unwrap().add_learner(3, "c".into(), String::new(), Vec::new()).await;
        assert!(matches!(refused, Err(Error::NotLeader { leader: Some(ref l) }) if l == "a"), "{refused:?}");
        let c = group.start_member(3, "c", stores[2].clone()).unwrap();
        assert_eq!(c.role(), Role::Stopped, "not a member yet");
        a.membership().unwrap().add_learner(3, "c".into(), String::new(), Vec::new()).await.unwrap();
        until(|| stores[2].tx_count() == 10).await;
        assert_eq!(c.role(), Role::Learner);

        // Stopped, then started again over its store: it resumes.
        b.shutdown().await.unwrap();
        a.submit((10..20).map(tx).collect()).unwrap();
        until(|| stores[0].tx_count() == 20).await;
        assert_eq!(stores[1].tx_count(), 10);
        let b = group.start_member(2, "b", stores[1].clone()).unwrap();
        until(|| stores[1].tx_count() == 20).await;

        // The leader cut off: the next voter leads, the old one catches up.
        group.isolate(1);
        assert_eq!(b.role(), Role::Leader);
        assert!(matches!(a.submit(vec![tx(99)]), Err(Error::Stopped)));
        b.submit((20..25).map(tx).collect()).unwrap();
        until(|| stores[1].tx_count() == 25 && stores[2].tx_count() == 25).await;
        assert_eq!(stores[0].tx_count(), 20);
        group.heal();
        until(|| stores[0].tx_count() == 25).await;
        assert_eq!(stores[0].block_ids(), stores[2].block_ids());

        let policy = BlockPolicy { max_txs: 7, ..BlockPolicy::default() };
        a.membership().unwrap().set_block_policy(policy.clone()).await.unwrap();
        assert_eq!(c.block_policy(), policy);
        a.membership().unwrap().remove(3).await.unwrap();
        assert_eq!(a.membership().unwrap().members().len(), 2);
    }
}
