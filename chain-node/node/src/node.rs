//! The node: admits transactions, hands them to its consensus engine and
//! commits the ordered batches to its ledger. [`crate::builder`] wires it
//! (the only place that constructs an engine).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use govchain_consensus::{Batch, BlockStore, ChainTip, Consensus, ConsensusKind, StoreError};
use govchain_crypto::{Address, PrivateKey, Suite};
use govchain_execution::{
    BlockOutcome, EngineKind, EvmConfig, Executor, TxContext,
    evm::{
        ethtx::{self, EthTxError},
        read_account,
    },
};
use govchain_ledger::Ledger;
use govchain_types::{
    BLOCK_VERSION, Block, BlockHeader, BlockSignature, Hash, HexValue, Receipt, StateWrite, Transaction,
    TxBody, TxStatus, TxType,
    api::{NodeStatus, SubmitMode, SubmitResponse},
    next_state_root, now_ms,
};
use rayon::prelude::*;
use tokio::sync::{broadcast, oneshot};
use tracing::{debug, info};

use crate::{
    Error, Result,
    admission::Admission,
    builder::NodeBuilder,
    certs::Certs,
    config::{Genesis, NodeConfig},
    metrics::Metrics,
    replicated::Peers,
    switch::{ConsensusRecord, Switchable},
    view::LedgerView,
};

/// Most forwarded transaction ids remembered as verified.
const MAX_FORWARDED: usize = 100_000;
/// Committed blocks buffered for slow subscribers.
const EVENT_BUFFER: usize = 1024;

/// A block just committed, as pushed to subscribers.
#[derive(Debug)]
pub struct Committed {
    /// Id of the block.
    pub id: Hash,
    /// The block.
    pub block: Block,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
}

/// See [`Node::ledger_watch`].
#[derive(Debug, Clone)]
pub struct LedgerWatch(Weak<Inner>);

impl LedgerWatch {
    /// Nothing holds the ledger any more.
    pub fn released(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// A running node. Cheap to clone; all clones share one node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    /// The engine running now (replaced when the chain switches engines).
    consensus: Arc<Switchable>,
    /// The mutual-TLS link to the other members, when the engine has peers.
    peers: Option<Peers>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("node_id", &self.inner.config.node_id).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    config: NodeConfig,
    genesis: Genesis,
    ledger: Ledger,
    executor: Executor,
    key: PrivateKey,
    /// Signer certificates against the genesis CA.
    certs: Certs,
    /// Admitted but not yet committed, so a resubmission is refused.
    /// (With their bodies: a switch of engines hands them to the new one.)
    pending: Mutex<HashMap<Hash, Transaction>>,
    /// The (sender, nonce) pairs of `pending`, so a second transaction
    /// with a pending pair is refused at admission (see `replay.rs`).
    pairs: crate::replay::PendingPairs,
    /// Verified here and forwarded to the leader: not verified again when
    /// the block arrives. Bounded by [`MAX_FORWARDED`]; past it the set is
    /// dropped, which costs only a second verification.
    forwarded: Mutex<HashSet<Hash>>,
    /// Synchronous submitters waiting for their receipt.
    waiters: Mutex<HashMap<Hash, Vec<oneshot::Sender<Receipt>>>>,
    events: broadcast::Sender<Arc<Committed>>,
    metrics: Metrics,
    /// Backpressure: the time-bounded admission queue (`admission.rs`).
    admission: Admission,
    /// How many engine switches this process has seen: the store refuses
    /// the batches of an engine of an older generation.
    generation: AtomicU64,
    /// The last switch a committed block made, for the task that swaps the
    /// engines.
    handover: tokio::sync::watch::Sender<Option<ConsensusRecord>>,
    /// Transactions of batches refused after a switch, for the new engine.
    leftover: Mutex<Vec<Transaction>>,
    /// The height of the switch this node is catching up to (it missed
    /// it); 0 when it is not.
    catch_up_target: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain collections in a valid
    // state, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Node {
    /// Wires and starts the node its config and genesis describe, through
    /// [`NodeBuilder`].
    pub async fn start(config: NodeConfig) -> Result<Node> {
        NodeBuilder::new(config).start().await
    }

    /// Opens the ledger (writing the genesis block on first start) and the
    /// node's key, checked against `genesis`: a node without consensus yet.
    pub(crate) fn open(config: NodeConfig, genesis: Genesis) -> Result<Arc<Inner>> {
        let key_pem = std::fs::read_to_string(&config.key)
            .map_err(|e| Error::Config(format!("cannot read node key {}: {e}", config.key.display())))?;
        let key = PrivateKey::from_pkcs8_pem(&key_pem)
            .map_err(|e| Error::Config(format!("node key {}: {e}", config.key.display())))?;
        if key.suite() != genesis.suite {
            return Err(Error::Config(format!(
                "node key is a {} key but the chain uses {}",
                key.suite(),
                genesis.suite
            )));
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", config.data_dir.display())))?;
        let ledger = Ledger::open(&config.data_dir.join("ledger"), genesis.suite, &genesis.chain_id)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let certs = Certs::new(genesis.suite, genesis.ca.as_ref())?;
        let admission = Admission::new(config.admission_budget(), config.mempool_capacity);
        // Governance members left out of the genesis are its members'
        // organizations (the same list on every node).
        let spec = genesis
            .execution
            .clone()
            .with_governance_members(genesis.members.iter().map(|m| m.organization.as_str()));
        let executor =
            Executor::from_spec(&spec).map_err(|e| Error::Config(format!("genesis execution: {e}")))?;
        let metrics = Metrics::new(Some(config.data_dir.clone()), genesis.ca.is_some());
        // The node's own certificate usually expires before the CA; a file
        // that does not read is refused where it is used (replicated chains).
        let own_cert_not_after = config
            .cert
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|pem| govchain_pki::parse(&pem).ok())
            .map(|info| info.not_after);
        let inner = Arc::new(Inner {
            config,
            genesis,
            ledger,
            executor,
            key,
            certs,
            pending: Mutex::default(),
            pairs: Default::default(),
            forwarded: Mutex::default(),
            waiters: Mutex::default(),
            events,
            metrics,
            admission,
            generation: AtomicU64::new(0),
            handover: tokio::sync::watch::Sender::new(None),
            leftover: Mutex::default(),
            catch_up_target: AtomicU64::new(0),
        });
        inner.ensure_genesis()?;
        inner.metrics.height.set(inner.ledger.height().unwrap_or(0) as i64);
        let expiry = match (inner.certs.ca_not_after(), own_cert_not_after) {
            (Some(ca), Some(own)) => Some(ca.min(own)),
            (ca, own) => ca.or(own),
        };
        if let Some(t) = expiry {
            let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            inner.metrics.cert_expiry_timestamp.set(secs);
        }
        Ok(inner)
    }

    /// The running node over `inner`, ordering through `consensus`.
    pub(crate) fn assemble(inner: Arc<Inner>, consensus: Arc<Switchable>, peers: Option<Peers>) -> Node {
        info!(
            target: "govchain::node",
            node = %inner.config.node_id,
            chain = %inner.genesis.chain_id,
            suite = %inner.genesis.suite,
            consensus = %consensus.status().engine,
            height = inner.ledger.height().unwrap_or(0),
            "node started"
        );
        Node { inner, consensus, peers }
    }

    /// The parts the builder's switch task works with: the node's state (not
    /// kept alive by the task), its engine holder and its peer link.
    pub(crate) fn parts(&self) -> (Weak<Inner>, Arc<Switchable>, Option<Peers>) {
        (Arc::downgrade(&self.inner), self.consensus.clone(), self.peers.clone())
    }

    /// The node again from [`Node::parts`].
    pub(crate) fn from_parts(inner: Arc<Inner>, consensus: Arc<Switchable>, peers: Option<Peers>) -> Node {
        Node { inner, consensus, peers }
    }

    /// Approves a switch of the chain's consensus engine to `consensus`
    /// (SPEC CON-4; `switch.rs`): a `system` transaction to
    /// [`crate::switch::CONTRACT`] signed with the node key, carrying the
    /// block policy in force. Refused while the engine's group differs from
    /// the group the switch carries over. Answers with its receipt: the
    /// approvals so far, and whether this one switched the chain.
    pub async fn approve_switch(&self, consensus: ConsensusKind) -> Result<SubmitResponse> {
        let inner = &self.inner;
        let record = crate::switch::record(&inner.ledger)?;
        let group = crate::switch::effective_genesis(&inner.genesis, record.as_ref());
        crate::switch::check_group(&group.members, self.consensus.membership().map(|m| m.members()))?;
        let request = crate::switch::SwitchRequest { consensus, block_policy: self.consensus.block_policy() };
        let data = serde_json::to_vec(&request).map_err(|e| Error::Internal(e.to_string()))?;
        let now = now_ms();
        let tx = TxBody {
            chain_id: inner.genesis.chain_id.clone(),
            tx_type: TxType::System,
            timestamp_ms: now,
            nonce: now,
            sender: inner.key.address(),
            recipient: crate::switch::CONTRACT.into(),
            data,
            memo: format!("switch consensus to {consensus}"),
            signers: vec![govchain_types::Signer {
                public_key: inner.key.public_key().to_sec1(),
                certificate: None,
            }],
        }
        .sign(&[&inner.key])
        .map_err(|e| Error::Internal(format!("signing the approval: {e}")))?;
        self.submit(tx, SubmitMode::Sync).await
    }

    /// The switch the last committed switching block made, as it changes.
    pub(crate) fn switches(&self) -> tokio::sync::watch::Receiver<Option<ConsensusRecord>> {
        self.inner.handover.subscribe()
    }

    /// The transactions of batches refused after a switch, taken.
    pub(crate) fn take_leftover(&self) -> Vec<Transaction> {
        std::mem::take(&mut *lock(&self.inner.leftover))
    }

    /// The height of the switch this node is catching up to, or 0.
    pub(crate) fn catch_up_target(&self) -> u64 {
        self.inner.catch_up_target.load(Ordering::Acquire)
    }

    /// One look for a switch this node missed (it was down or cut off
    /// across it): when its ledger stood still since the last look
    /// (`last`), or it is catching up already, asks the group's other
    /// members for their last switch, and catches up to the first one past
    /// its tip.
    pub(crate) async fn follow_switches(&self, last: &mut Option<u64>) -> Result<()> {
        let inner = &self.inner;
        let tip = inner.ledger.height().unwrap_or(0);
        let stalled = *last == Some(tip);
        *last = Some(tip);
        let waiting = self.consensus.status().engine == crate::switch::WAITING;
        if !stalled && !waiting && self.catch_up_target() == 0 {
            return Ok(());
        }
        let Some(peers) = &self.peers else { return Ok(()) };
        let mine = crate::switch::record(&inner.ledger)?;
        let group = crate::switch::effective_genesis(&inner.genesis, mine.as_ref());
        for m in group.members.iter().filter(|m| m.name != inner.config.node_id) {
            let Ok(bytes) = peers.fetch(&m.p2p, "/switch/view").await else { continue };
            let Ok(view) = serde_json::from_slice::<crate::switch::SwitchView>(&bytes) else { continue };
            let Some(theirs) = view.record else { continue };
            if theirs.height <= tip || mine.as_ref().is_some_and(|r| r.height >= theirs.height) {
                continue;
            }
            info!(target: crate::logs::SYSTEM, node = %inner.config.node_id, from = %m.name,
                height = theirs.height, consensus = %theirs.consensus,
                "catching up to a switch of engines this node missed");
            return self.catch_up_to_switch(peers, &m.p2p, theirs.height).await;
        }
        Ok(())
    }

    /// Imports the blocks up to the switch at `target` from the member at
    /// `addr`: the engine running here stops (its peers went on without
    /// it), blocks a HotStuff stint committed must prove it
    /// ([`crate::switch::StintCheck`]), and the switch block starts the new
    /// engine as on any node. The handover mark is stored first, so a
    /// restart goes on catching up.
    async fn catch_up_to_switch(&self, peers: &Peers, addr: &str, target: u64) -> Result<()> {
        use govchain_types::Decode;
        let inner = self.inner.clone();
        inner.catch_up_target.fetch_max(target, Ordering::AcqRel);
        if self.consensus.status().engine != crate::switch::WAITING {
            inner.generation.fetch_add(1, Ordering::AcqRel);
            inner.ledger.put_consensus_meta(crate::switch::HANDOVER)?;
            let waiting =
                crate::switch::Waiting::new(inner.config.node_id.clone(), self.consensus.block_policy());
            let old = self.consensus.replace(Arc::new(waiting));
            self.consensus.retire(&old).await;
        }
        let at_tip = |inner: Arc<Inner>| {
            blocking(move || crate::switch::StintCheck::at_tip(&inner.ledger, &inner.genesis))
        };
        let mut check = at_tip(inner.clone()).await?;
        loop {
            let height = inner.ledger.height().unwrap_or(0);
            if height >= target {
                return Ok(());
            }
            let bytes = peers.fetch(addr, &format!("/switch/blocks?from={}", height + 1)).await?;
            let answer: crate::switch::SwitchBlocks = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Internal(format!("blocks from {addr}: {e}")))?;
            if answer.blocks.is_empty() {
                return Err(Error::Internal(format!("{addr} has no block {}", height + 1)));
            }
            for bytes in answer.blocks {
                let block = Block::decode(&bytes.0)
                    .map_err(|e| Error::Internal(format!("block from {addr}: {e}")))?;
                let tip = inner.ledger.tip().ok_or_else(|| Error::Internal("no genesis block".into()))?;
                if block.header.height != tip.height + 1 || block.header.prev_hash != tip.block_id {
                    return Err(Error::Internal(format!(
                        "{addr} sent block {} that does not follow block {}",
                        block.header.height, tip.height
                    )));
                }
                check.check(&block, inner.genesis.suite)?;
                let height = block.header.height;
                let i = inner.clone();
                blocking(move || i.import_block(block, crate::switch::HANDOVER)).await?;
                if crate::switch::record(&inner.ledger)?.is_some_and(|r| r.height == height) {
                    // A switch: the next stint's blocks prove themselves its way.
                    check = at_tip(inner.clone()).await?;
                }
                if height >= target {
                    return Ok(());
                }
            }
        }
    }

    /// The transactions admitted here and not yet committed.
    pub(crate) fn pending_transactions(&self) -> Vec<Transaction> {
        lock(&self.inner.pending).values().cloned().collect()
    }

    /// Hands `txs`, admitted here before a switch, to the engine running
    /// now: to its queue, or to its leader. They stay pending here, so
    /// their waiters hear of their receipts; a copy already on chain is
    /// dropped when a block is built.
    pub(crate) async fn requeue(&self, txs: Vec<Transaction>) {
        if txs.is_empty() {
            return;
        }
        if self.consensus.takes_submissions() {
            if let Err(e) = self.consensus.submit(txs) {
                debug!(target: "govchain::node", error = %e, "requeueing after a switch");
            }
            return;
        }
        let Some(peers) = &self.peers else { return };
        for tx in txs {
            if let Err(e) = peers.forward(self.consensus.forward_target(), &tx, SubmitMode::Async).await {
                debug!(target: "govchain::node", error = %e, "forwarding after a switch");
            }
        }
    }

    /// The peer link, for the builder to serve once the node exists.
    pub(crate) fn peers(&self) -> Option<&Peers> {
        self.peers.as_ref()
    }

    /// The consensus engine (its status, leader, policy and, on engines
    /// whose group changes, [`Consensus::membership`]).
    pub fn consensus(&self) -> &dyn Consensus {
        &*self.consensus
    }

    /// Stops the consensus engine and the peer listener; the API answers
    /// `stopped` from here on. The ledger closes when the last clone of
    /// the node is dropped.
    pub async fn shutdown(&self) -> Result<()> {
        if let Some(peers) = &self.peers {
            peers.stop();
        }
        self.consensus.shutdown().await?;
        info!(target: "govchain::node", node = %self.inner.config.node_id, "node stopped");
        Ok(())
    }

    /// The chain's suite.
    pub fn suite(&self) -> Suite {
        self.inner.genesis.suite
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The chain's genesis description.
    pub fn genesis(&self) -> &Genesis {
        &self.inner.genesis
    }

    /// The ledger, for queries.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// A watch on this node's ledger: it tells when every part of the node
    /// (its handles, the engine's tasks) has let the ledger go, so its
    /// directory can be opened again.
    pub fn ledger_watch(&self) -> LedgerWatch {
        LedgerWatch(Arc::downgrade(&self.inner))
    }

    /// The executor, for read-only queries.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The metrics' text exposition, with the figures read at scrape time
    /// (consensus role, leader and peers; process and host) brought up to
    /// date first.
    pub fn render_metrics(&self) -> String {
        let c = self.consensus.status();
        let role = role_name(c.role);
        let peers = self
            .consensus
            .membership()
            .map(|m| m.members().iter().filter(|p| p.name != self.inner.config.node_id).count())
            .unwrap_or(0);
        let m = &self.inner.metrics;
        m.set_consensus(&role, c.leader.as_deref(), peers);
        m.set_figures(&self.consensus.figures());
        m.host.refresh();
        m.render()
    }

    /// New committed blocks, for subscribers.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.inner.events.subscribe()
    }

    /// Whether the node can take transactions (consensus running with a
    /// known leader).
    pub fn ready(&self) -> bool {
        self.consensus.status().leader.is_some()
    }

    /// The block policy in force: the genesis one, or on a replicated chain
    /// the last one agreed through consensus.
    pub fn block_policy(&self) -> govchain_consensus::BlockPolicy {
        self.consensus.block_policy()
    }

    /// The node's view of itself.
    pub fn status(&self) -> NodeStatus {
        let c = self.consensus.status();
        let ledger = &self.inner.ledger;
        NodeStatus {
            chain_id: self.inner.genesis.chain_id.clone(),
            suite: self.inner.genesis.suite.to_string(),
            node_id: self.inner.config.node_id.clone(),
            height: ledger.height().unwrap_or(0),
            last_block_id: ledger.last_block_id(),
            state_root: ledger.state_root(),
            consensus: c.engine,
            role: role_name(c.role),
            leader: c.leader,
            pending: c.pending,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The `evm` engine's configuration, if the chain's genesis names the
    /// engine.
    pub fn evm_config(&self) -> Option<EvmConfig> {
        self.inner.evm_config()
    }

    /// Admits a raw Ethereum-signed transaction (an EIP-2718 envelope), as
    /// `eth_sendRawTransaction` does: wraps it as an `ethereum` transaction
    /// ([`ethtx::wrap`]) and submits it without waiting. Returns its id,
    /// the Keccak-256 hash of `raw`.
    pub async fn submit_ethereum(&self, raw: &[u8]) -> Result<Hash> {
        let evm = self.evm_config().ok_or(EthTxError::NoEvm)?;
        let genesis = &self.inner.genesis;
        let tx = ethtx::wrap(raw, genesis.suite, &genesis.chain_id, evm.chain_id)?;
        Ok(self.submit(tx, SubmitMode::Async).await?.tx_id)
    }

    /// Verifies and admits a transaction; with [`SubmitMode::Sync`] waits
    /// for its receipt.
    pub async fn submit(&self, tx: Transaction, mode: SubmitMode) -> Result<SubmitResponse> {
        let result = self.admit(tx, mode).await;
        if let Err(e) = &result {
            self.inner.metrics.reject(e.code());
        }
        result
    }

    async fn admit(&self, tx: Transaction, mode: SubmitMode) -> Result<SubmitResponse> {
        // Backpressure: a place in the node before any work, or 503.
        let slot = self.inner.admission.acquire()?;
        let inner = self.inner.clone();
        // Signature and certificate checks are CPU work: keep them off the
        // async workers, on the fixed pool of one thread per core. (A
        // blocking pool that grows to hundreds of threads under load spends
        // its time waking and parking them.)
        let (reply, verified) = oneshot::channel();
        rayon::spawn(move || {
            let result = inner.verify_tx(&tx).and_then(|id| {
                inner.certs.organization(&tx.body.signers, SystemTime::now())?;
                Ok((tx, id))
            });
            // The submitter may have gone away; nothing to do then.
            let _ = reply.send(result);
        });
        let (tx, id) = verified.await.map_err(|_| Error::ShuttingDown)??;
        let now = now_ms();
        let ethereum = tx.body.tx_type == TxType::Ethereum;
        // (Ethereum transactions have no timestamp.)
        if !ethereum && !tx.body.in_time_window(now) {
            return Err(Error::BadTimestamp { timestamp_ms: tx.body.timestamp_ms, now_ms: now });
        }
        if self.inner.ledger.contains_tx(&id)? {
            return Err(Error::Duplicate { tx_id: id, committed: true });
        }
        if ethereum {
            // Their own nonce rule (evm::ethtx): a nonce already passed is
            // refused early.
            let next =
                read_account(&LedgerView(&self.inner.ledger), &tx.body.sender.0)?.map_or(0, |a| a.nonce);
            if tx.body.nonce < next {
                return Err(EthTxError::NonceTooLow { nonce: tx.body.nonce, next }.into());
            }
        }
        // A (sender, nonce) pair used by a recent committed transaction is
        // refused here already; blocks refuse it too (replay.rs).
        if !ethereum {
            crate::replay::PendingPairs::committed(&self.inner.ledger, &tx.body, now)?;
        }
        // Clients need not know who leads: a member that does not take
        // transactions itself (a Raft follower, a backup node) hands the
        // transaction to the leader (or, under HotStuff, a live voter) over
        // the authenticated peer link.
        if let Some(peers) = &self.peers
            && !self.consensus.takes_submissions()
        {
            {
                let mut forwarded = lock(&self.inner.forwarded);
                if forwarded.len() >= MAX_FORWARDED {
                    forwarded.clear();
                }
                forwarded.insert(id);
            }
            let response = peers
                .forward(self.consensus.forward_target(), &tx, mode)
                .await
                .map_err(|e| self.inner.admission.upstream(e))?;
            // Read-your-writes through this node: answer once this node has
            // applied the block too, so a read that follows sees the write.
            if let Some(receipt) = &response.receipt {
                let deadline = tokio::time::Instant::now() + self.inner.config.sync_timeout();
                while self.inner.ledger.height().is_none_or(|h| h < receipt.height) {
                    if tokio::time::Instant::now() > deadline {
                        return Err(Error::CommitTimeout { tx_id: id });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
            return Ok(response);
        }
        match lock(&self.inner.pending).entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => {
                return Err(Error::Duplicate { tx_id: id, committed: false });
            }
            std::collections::hash_map::Entry::Vacant(place) => {
                place.insert(tx.clone());
            }
        }
        let (sender, nonce) = (tx.body.sender, tx.body.nonce);
        if let Err(e) = if ethereum { Ok(()) } else { self.inner.pairs.admit(&tx.body, id, now) } {
            lock(&self.inner.pending).remove(&id);
            return Err(e);
        }
        let waiter = match mode {
            SubmitMode::Sync => {
                let (send, recv) = oneshot::channel();
                lock(&self.inner.waiters).entry(id).or_default().push(send);
                Some(recv)
            }
            SubmitMode::Async => None,
        };
        // Backpressure: the place stays taken until the commit path frees it.
        slot.queued(id);
        if let Err(e) = self.consensus.submit(vec![tx]) {
            lock(&self.inner.pending).remove(&id);
            self.inner.pairs.release_pair(sender, nonce, id);
            lock(&self.inner.waiters).remove(&id);
            self.inner.admission.unqueue(&id);
            return Err(e.into());
        }
        self.inner.metrics.pending.inc();
        let Some(waiter) = waiter else {
            return Ok(SubmitResponse { tx_id: id, status: "pending".into(), receipt: None });
        };
        match tokio::time::timeout(self.inner.config.sync_timeout(), waiter).await {
            Ok(Ok(receipt)) => {
                Ok(SubmitResponse { tx_id: id, status: "committed".into(), receipt: Some(receipt) })
            }
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => Err(Error::CommitTimeout { tx_id: id }),
        }
    }
}

impl Inner {
    /// The node's configuration.
    pub(crate) fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The chain's genesis.
    pub(crate) fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The `evm` engine's configuration, if the chain runs it.
    pub(crate) fn evm_config(&self) -> Option<EvmConfig> {
        let spec = &self.genesis.execution;
        spec.engines.contains(&EngineKind::Evm).then(|| spec.evm.clone().unwrap_or_default())
    }

    /// Checks a transaction's signatures (or, for an Ethereum-signed one,
    /// its envelope) against this chain; returns its id.
    fn verify_tx(&self, tx: &Transaction) -> Result<Hash> {
        let (suite, chain_id) = (self.genesis.suite, &self.genesis.chain_id);
        if tx.body.tx_type != TxType::Ethereum {
            return Ok(tx.verify(suite, chain_id)?.0);
        }
        let evm = self.evm_config().ok_or(EthTxError::NoEvm)?;
        Ok(ethtx::verify(tx, suite, chain_id, evm.chain_id)?)
    }

    /// The ledger.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The node key.
    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The node key in PKCS#8 PEM (for its TLS identity).
    pub(crate) fn key_pem(&self) -> Result<String> {
        self.key.to_pkcs8_pem().map_err(|e| Error::Internal(format!("node key: {e}")))
    }

    /// Writes block 0 from the genesis document if the ledger is empty; on
    /// later starts checks the ledger belongs to this genesis.
    fn ensure_genesis(&self) -> Result<()> {
        let suite = self.genesis.suite;
        let doc = serde_json::to_vec(&self.genesis).map_err(|e| Error::Config(e.to_string()))?;
        let writes = vec![vec![StateWrite {
            contract: "system".into(),
            key: b"genesis".to_vec(),
            value: Some(HexValue(doc.clone())),
        }]];
        if self.ledger.height().is_some() {
            let stored = self.ledger.get("system", b"genesis")?;
            if stored.as_deref() != Some(doc.as_slice()) {
                return Err(Error::Config(
                    "the ledger in data_dir was created from a different genesis file".into(),
                ));
            }
            return Ok(());
        }
        // The genesis block carries the genesis document as its only
        // transaction (unsigned, type `system`): the chain's configuration is
        // on the ledger and covered by the block id.
        let tx = Transaction {
            body: TxBody {
                chain_id: self.genesis.chain_id.clone(),
                tx_type: TxType::System,
                timestamp_ms: self.genesis.timestamp_ms,
                nonce: 0,
                sender: Address([0; 20]),
                recipient: "system".into(),
                data: doc,
                memo: "genesis".into(),
                signers: vec![],
            },
            signatures: vec![],
        };
        let receipts = vec![Receipt {
            tx_id: tx.id(suite),
            height: 0,
            index: 0,
            status: TxStatus::Success,
            message: String::new(),
            output: b"{}".to_vec(),
            events: vec![],
        }];
        let transactions = vec![tx];
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: self.genesis.chain_id.clone(),
            height: 0,
            prev_hash: Hash::ZERO,
            tx_root: Block::tx_root(suite, &transactions),
            state_root: next_state_root(suite, &Hash::ZERO, &writes),
            receipts_root: Receipt::root(suite, &receipts),
            timestamp_ms: self.genesis.timestamp_ms,
            proposer: "genesis".into(),
            tx_count: 1,
        };
        let block = Block { header, transactions, signatures: vec![] };
        self.ledger.commit(&block, &receipts, &writes)?;
        info!(target: "govchain::node", id = %block.header.id(suite), "genesis block written");
        Ok(())
    }

    /// Turns an ordered batch into the next block: drops transactions
    /// already on chain or repeated, checks every signature this node has not
    /// checked at admission (in parallel), derives each signer's
    /// organization at block time, executes, and builds the header. Nothing
    /// in the header depends on which node ran this, so every replica
    /// builds the same block id.
    fn build_block(&self, batch: Batch) -> Result<(Block, BlockOutcome, Option<ConsensusRecord>)> {
        let suite = self.genesis.suite;
        let parent = self.ledger.tip();
        let parent_time = parent.as_ref().map_or(0, |t| t.timestamp_ms);
        let height = parent.as_ref().map_or(0, |t| t.height + 1);
        let timestamp_ms = batch.timestamp_ms.max(parent_time);

        // An engine may deliver a transaction twice (a client retry through
        // another node); the first one counts.
        let mut seen = HashSet::new();
        let mut txs = Vec::with_capacity(batch.transactions.len());
        for tx in batch.transactions {
            let id = tx.id(suite);
            if seen.insert(id) && !self.ledger.contains_tx(&id)? {
                txs.push((id, tx));
            }
        }
        // Transactions admitted here were verified then; those that came
        // through consensus from another node are verified now, once.
        let admitted: Vec<bool> = {
            let pending = lock(&self.pending);
            let mut forwarded = lock(&self.forwarded);
            txs.iter().map(|(id, _)| pending.contains_key(id) || forwarded.remove(id)).collect()
        };
        let signatures: Vec<std::result::Result<(), String>> = txs
            .par_iter()
            .zip(admitted.par_iter())
            .map(|((_, tx), admitted)| match admitted {
                true => Ok(()),
                false => self.verify_tx(tx).map(drop).map_err(|e| e.to_string()),
            })
            .collect();
        // The organization each transaction acts for, from its certificates
        // at block time (never the wall clock: every node executing this
        // block must reach the same answer). A certificate that no longer
        // verifies (it expired after admission) or that another node should
        // not have admitted fails its transaction here.
        let block_time = UNIX_EPOCH + Duration::from_millis(timestamp_ms);
        let mut orgs: Vec<std::result::Result<String, String>> = txs
            .iter()
            .zip(signatures)
            .map(|((_, tx), signature)| {
                signature?;
                match self.certs.organization(&tx.body.signers, block_time) {
                    Ok(org) => Ok(org.unwrap_or_else(|| tx.body.sender.to_string())),
                    Err(e) => Err(e.to_string()),
                }
            })
            .collect();
        // A (sender, nonce) pair is accepted once within the timestamp
        // window; later users of a pair are refused like bad certificates.
        crate::replay::screen(&self.ledger, &txs, timestamp_ms, &mut orgs)?;
        // Switch approvals are the node's to execute (`switch.rs`), not the
        // executor's: they are set aside here and put back in place below.
        let mut tally = None;
        let mut approvals = Vec::new();
        for (index, ((_, tx), org)) in txs.iter().zip(orgs.iter_mut()).enumerate() {
            if crate::switch::is_approval(tx) && org.is_ok() {
                let tally = match &mut tally {
                    Some(t) => t,
                    None => tally.insert(crate::switch::Tally::new(&self.ledger, &self.genesis, height)?),
                };
                approvals.push((index, tally.execute(tx)));
                *org = Err(String::new());
            }
        }
        let contexts: Vec<(&Transaction, TxContext)> = txs
            .iter()
            .zip(&orgs)
            .filter_map(|((id, tx), org)| {
                let ctx = TxContext {
                    tx_id: *id,
                    sender: tx.body.sender,
                    org: org.as_ref().ok()?.clone(),
                    height,
                    timestamp_ms,
                };
                Some((tx, ctx))
            })
            .collect();
        let executed = self.executor.execute_block(&LedgerView(&self.ledger), &contexts)?;
        let mut outcome = merge_refused(executed, &txs, &orgs, height);
        for (index, (result, writes)) in approvals {
            let receipt = &mut outcome.receipts[index];
            match result {
                Ok(output) => {
                    receipt.status = TxStatus::Success;
                    receipt.output = output;
                }
                Err(message) => receipt.message = message,
            }
            outcome.writes[index] = writes;
        }
        let switched = tally.and_then(|t| t.switched);
        let transactions: Vec<Transaction> = txs.into_iter().map(|(_, tx)| tx).collect();
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: self.genesis.chain_id.clone(),
            height,
            prev_hash: self.ledger.last_block_id(),
            tx_root: Block::tx_root(suite, &transactions),
            state_root: next_state_root(suite, &self.ledger.state_root(), &outcome.writes),
            receipts_root: Receipt::root(suite, &outcome.receipts),
            timestamp_ms,
            proposer: batch.proposer,
            tx_count: transactions.len() as u32,
        };
        // This node's signature over the id: it attests that this node
        // executed and committed the block (each replica adds its own).
        let id = header.id(suite);
        let signature = self.key.sign(&id.0).map_err(|e| Error::Internal(format!("signing block: {e}")))?;
        let mut signatures = Vec::with_capacity(1 + batch.certificate.len());
        signatures.push(BlockSignature {
            node: self.config.node_id.clone(),
            public_key: self.key.public_key().to_sec1(),
            signature,
        });
        // The engine's commit certificate, when it has one, follows.
        signatures.extend(batch.certificate);
        let block = Block { header, transactions, signatures };
        Ok((block, outcome, switched))
    }

    /// Executes `batch` as the next block and commits it durably (with the
    /// consensus engine's metadata, if any), then answers waiters and
    /// subscribers.
    fn execute_and_commit(&self, batch: Batch, meta: Option<&[u8]>) -> Result<()> {
        let started = Instant::now();
        let (block, outcome, switched) = self.build_block(batch)?;
        self.commit_block(block, outcome, meta, switched, started)
    }

    /// Re-executes a block fetched from a peer and commits it only if this
    /// node arrives at the very same header.
    fn import_block(&self, block: Block, meta: &[u8]) -> Result<()> {
        let started = Instant::now();
        let wanted = block.header.clone();
        let batch = Batch {
            transactions: block.transactions,
            timestamp_ms: wanted.timestamp_ms,
            proposer: wanted.proposer.clone(),
            // The peer's own signature comes first; the engine's
            // certificate, if any, follows it.
            certificate: block.signatures.into_iter().skip(1).collect(),
        };
        let (built, outcome, switched) = self.build_block(batch)?;
        if built.header != wanted {
            return Err(Error::Internal(format!(
                "block {} from a peer does not re-execute to the same header (state root {} here, {} there)",
                wanted.height, built.header.state_root, wanted.state_root
            )));
        }
        self.commit_block(built, outcome, Some(meta), switched, started)
    }

    fn commit_block(
        &self,
        block: Block,
        outcome: BlockOutcome,
        meta: Option<&[u8]>,
        switched: Option<ConsensusRecord>,
        started: Instant,
    ) -> Result<()> {
        let height = block.header.height;
        let id = block.header.id(self.genesis.suite);
        // The block that switches engines ends the old engine's stint: the
        // new one finds the handover mark and starts at this block.
        let meta = if switched.is_some() { Some(crate::switch::HANDOVER) } else { meta };
        self.ledger.commit_with(&block, &outcome.receipts, &outcome.writes, meta)?;
        if let Some(record) = switched {
            self.generation.fetch_add(1, Ordering::AcqRel);
            crate::switch::log_switch(&self.config.node_id, &record);
            self.handover.send_replace(Some(record));
        }
        self.pairs.release(&block.transactions);

        let m = &self.metrics;
        m.height.set(height as i64);
        m.blocks.inc();
        m.block_time(block.header.timestamp_ms);
        m.block_txs.observe(block.transactions.len() as f64);
        m.commit_seconds.observe(started.elapsed().as_secs_f64());
        for r in &outcome.receipts {
            let status = if r.status == TxStatus::Success { "success" } else { "failed" };
            m.transactions.get_or_create(&crate::metrics::Outcome { status: status.into() }).inc();
        }
        {
            let mut pending = lock(&self.pending);
            let mut waiters = lock(&self.waiters);
            let before = pending.len();
            for r in &outcome.receipts {
                pending.remove(&r.tx_id);
                for w in waiters.remove(&r.tx_id).into_iter().flatten() {
                    // The submitter may have given up (timeout); nothing to do then.
                    let _ = w.send(r.clone());
                }
            }
            m.pending.dec_by((before - pending.len()) as i64);
            // Backpressure: learn the throughput, free the committed places.
            self.admission.committed(outcome.receipts.iter().map(|r| r.tx_id));
        }
        debug!(target: "govchain::node", height, txs = block.transactions.len(), "block committed");
        // No subscribers is fine.
        let _ = self.events.send(Arc::new(Committed { id, block, receipts: outcome.receipts }));
        Ok(())
    }
}

/// Runs a blocking ledger call off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(e.to_string()))?
}

fn merge_refused(
    executed: BlockOutcome,
    txs: &[(Hash, Transaction)],
    orgs: &[std::result::Result<String, String>],
    height: u64,
) -> BlockOutcome {
    if orgs.iter().all(|o| o.is_ok()) {
        return executed;
    }
    let mut ran = executed.receipts.into_iter().zip(executed.writes);
    let mut outcome =
        BlockOutcome { receipts: Vec::with_capacity(txs.len()), writes: Vec::with_capacity(txs.len()) };
    for (index, ((id, _), org)) in txs.iter().zip(orgs).enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let (receipt, writes) = match org {
            Ok(_) => match ran.next() {
                Some((mut receipt, writes)) => {
                    receipt.index = index;
                    (receipt, writes)
                }
                // The executor returns one receipt per context given; this
                // arm is unreachable but must not lose the transaction.
                None => (refused_receipt(*id, height, index, "not executed".into()), Vec::new()),
            },
            Err(message) => (refused_receipt(*id, height, index, message.clone()), Vec::new()),
        };
        outcome.receipts.push(receipt);
        outcome.writes.push(writes);
    }
    outcome
}

fn refused_receipt(tx_id: Hash, height: u64, index: u32, message: String) -> Receipt {
    Receipt {
        tx_id,
        height,
        index,
        status: TxStatus::Failed,
        message,
        output: Vec::new(),
        events: Vec::new(),
    }
}

/// The ledger as a consensus engine drives it. An engine of an older
/// `generation` (switched away from) changes nothing: its batches go to
/// the new engine, its metadata nowhere.
pub(crate) struct LedgerStore(pub(crate) Arc<Inner>, pub(crate) u64);

impl LedgerStore {
    /// The store for the engine of the current generation.
    pub(crate) fn current(inner: Arc<Inner>) -> LedgerStore {
        let generation = inner.generation.load(Ordering::Acquire);
        LedgerStore(inner, generation)
    }

    fn retired(&self) -> bool {
        self.0.generation.load(Ordering::Acquire) != self.1
    }
}

fn tip_of(ledger: &Ledger) -> Option<ChainTip> {
    ledger.tip().map(|t| ChainTip {
        height: t.height,
        block_id: t.block_id,
        state_root: t.state_root,
        timestamp_ms: t.timestamp_ms,
    })
}

fn tip_after(ledger: &Ledger) -> std::result::Result<ChainTip, StoreError> {
    tip_of(ledger).ok_or_else(|| "no block after a commit".into())
}

impl BlockStore for LedgerStore {
    fn suite(&self) -> Suite {
        self.0.genesis.suite
    }

    fn consensus_meta(&self) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.ledger.consensus_meta()?)
    }

    fn tip(&self) -> std::result::Result<Option<ChainTip>, StoreError> {
        Ok(tip_of(&self.0.ledger))
    }

    fn apply_batch(&self, batch: Batch, meta: Option<&[u8]>) -> std::result::Result<ChainTip, StoreError> {
        if self.retired() {
            lock(&self.0.leftover).extend(batch.transactions);
            return tip_after(&self.0.ledger);
        }
        self.0.execute_and_commit(batch, meta)?;
        tip_after(&self.0.ledger)
    }

    fn put_meta(&self, meta: &[u8]) -> std::result::Result<(), StoreError> {
        if self.retired() {
            return Ok(());
        }
        Ok(self.0.ledger.put_consensus_meta(meta)?)
    }

    fn import_block(&self, block: Block, meta: &[u8]) -> std::result::Result<ChainTip, StoreError> {
        if self.retired() {
            return tip_after(&self.0.ledger);
        }
        self.0.import_block(block, meta)?;
        tip_after(&self.0.ledger)
    }

    fn block_bytes(&self, height: u64) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.ledger.block_bytes(height)?)
    }

    fn contains_tx(&self, id: &Hash) -> std::result::Result<bool, StoreError> {
        Ok(self.0.ledger.contains_tx(id)?)
    }
}

/// A role as the API spells it (`leader`, `follower`, ...).
fn role_name(role: govchain_consensus::Role) -> String {
    serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use govchain_execution::DataCall;
    use govchain_pki::{ChainCa, IssueRequest, Validity};
    use govchain_types::{Encode, Signer};

    use super::*;
    use crate::init::{self, InitOptions};

    const HOUR: Duration = Duration::from_secs(3600);

    fn put(key: &PrivateKey, certificate: Option<Vec<u8>>, k: &str, nonce: u64) -> Transaction {
        TxBody {
            chain_id: "c".into(),
            tx_type: TxType::Invoke,
            timestamp_ms: now_ms(),
            nonce,
            sender: key.address(),
            recipient: "data".into(),
            data: DataCall::Put { key: k.into(), value: b"v".to_vec() }.encode(),
            memo: String::new(),
            signers: vec![Signer { public_key: key.public_key().to_sec1(), certificate }],
        }
        .sign(&[key])
        .expect("sign")
    }

    /// A certificate valid when admitted but expired at block time fails its
    /// transaction in execution, with receipts still in block order.
    #[test]
    fn certificates_are_checked_at_block_time() {
        let suite = Suite::IntlR1;
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = InitOptions {
            chain_id: "c".into(),
            suite,
            node_id: "n".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            organization: "city".into(),
        };
        let config =
            NodeConfig::load(&init::init_node_dir(dir.path(), &opts).expect("init")).expect("config");
        let ca_dir = dir.path().join(init::CA_DIR);
        let read = |f: &str| std::fs::read_to_string(ca_dir.join(f)).expect("read");
        let ca = ChainCa::load(
            suite,
            &read(init::ROOT_CERT_FILE),
            &read(init::OPERATING_CERT_FILE),
            &read(init::OPERATING_KEY_FILE),
        )
        .expect("ca");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let node = runtime.block_on(Node::start(config)).expect("start");

        let key = PrivateKey::generate(suite);
        let now = SystemTime::now();
        let validity = Validity::new(now - HOUR, now + HOUR).expect("validity");
        let pem = ca
            .issue(&IssueRequest::user(
                "alice",
                "dept-a",
                key.public_key().to_spki_pem().expect("pem"),
                validity,
            ))
            .expect("issue");
        let der = der::pem::decode_vec(pem.as_bytes()).expect("pem").1;
        let plain = PrivateKey::generate(suite);

        let block = |txs: Vec<Transaction>, at: SystemTime| {
            let timestamp_ms = at.duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64;
            node.inner
                .execute_and_commit(
                    Batch {
                        transactions: txs.clone(),
                        timestamp_ms,
                        proposer: "n".into(),
                        certificate: vec![],
                    },
                    None,
                )
                .expect("commit");
            txs.iter()
                .map(|tx| node.ledger().receipt(&tx.id(suite)).expect("ledger").expect("committed"))
                .collect::<Vec<_>>()
        };
        let ok = block(vec![put(&key, Some(der.clone()), "a", 1)], now);
        assert_eq!(ok[0].status, TxStatus::Success, "{}", ok[0].message);
        assert!(String::from_utf8_lossy(&ok[0].output).contains("dept-a"));

        // Two hours later the certificate has expired; its neighbours run.
        let later = block(
            vec![put(&plain, None, "b", 2), put(&key, Some(der), "c", 3), put(&plain, None, "d", 4)],
            now + 2 * HOUR,
        );
        let shape: Vec<_> = later.iter().map(|r| (r.index, r.status, r.height)).collect();
        assert_eq!(
            shape,
            [(0, TxStatus::Success, 2), (1, TxStatus::Failed, 2), (2, TxStatus::Success, 2)],
            "{later:?}"
        );
        assert!(later[1].message.contains("expired"), "{}", later[1].message);
        assert!(later[1].events.is_empty() && later[1].output.is_empty());
        let value =
            |k: &str| node.ledger().get("data", &govchain_execution::DataContract::value_key(k.as_bytes()));
        assert!(value("b").expect("get").is_some() && value("d").expect("get").is_some());
        assert_eq!(value("c").expect("get"), None, "a refused transaction writes nothing");
        let header = node.ledger().block_by_height(2).expect("block").expect("present").header;
        assert_eq!(header.receipts_root, Receipt::root(suite, &later), "receipts in block order");
    }
}
