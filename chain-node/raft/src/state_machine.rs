//! The Raft state machine: committed entries become blocks.
//!
//! Every member applies the same committed entries in the same order to its
//! own [`BlockStore`] (the node's ledger): a batch entry becomes the next
//! block, a membership or block-policy entry changes the consensus metadata.
//! The metadata (last applied log id, membership, block policy, and a pending
//! catch-up target) is an opaque value the store keeps **in the same atomic,
//! durable write as each block**, so after a crash the store says exactly
//! which entry its last block came from and no entry is applied twice
//! (entries at or below the stored log id are skipped when openraft
//! re-applies them).
//!
//! A snapshot is not a copy of the state: it is "the ledger up to height H
//! with block id B" plus the metadata, a few hundred bytes. A member that
//! installs one (a new node with only genesis, or a learner whose missing
//! entries were purged) fetches blocks `tip+1..=H` from its peers over the
//! Raft transport, checks that they chain (heights, parent ids, transaction
//! roots, the last one's id is B), and has the store re-execute each. The
//! target is written to the metadata first, so a crash during the catch-up
//! resumes it before the next block is applied.

// openraft's storage traits fix the error type; it is large but rare.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeSet,
    fmt::Debug,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_consensus::{BlockPolicy, BlockStore, ChainTip, PeerTransport, StoreError};
use govchain_types::{Block, Decode, Hash};
use openraft::{
    AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, storage::RaftStateMachine,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::{
    Applied, Command, Error, LogId, Node, NodeId, Result, StoredMembership, TARGET, network,
    types::{Entry, TypeConfig, decode_batch},
};

/// The snapshot data: the ledger point a snapshot stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// The ledger's newest block at the snapshot's last log id (`None`
    /// before genesis).
    pub tip: Option<ChainTip>,
    /// The block policy in force (`None`: the genesis policy).
    pub policy: Option<BlockPolicy>,
    /// The member that built it, asked first for the blocks.
    pub source: NodeId,
}

/// The consensus metadata stored with every block (JSON: small, and a
/// field added later reads as its default from older stores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Meta {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The policy set through the log; `None` until the first change.
    policy: Option<BlockPolicy>,
    /// A snapshot installed whose blocks the store does not hold yet.
    catch_up: Option<CatchUp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CatchUp {
    tip: ChainTip,
    source: NodeId,
}

impl Meta {
    fn encode(&self) -> Result<Vec<u8>, StorageError<NodeId>> {
        serde_json::to_vec(self).map_err(|e| StorageIOError::write_state_machine(&e).into())
    }
}

/// What the engine reads from the state machine without going through Raft.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The block policy in force on this member.
    pub(crate) policy: watch::Sender<BlockPolicy>,
    /// Block time of the newest block applied, so a new leader never
    /// proposes an earlier one.
    pub(crate) last_block_ms: AtomicU64,
    /// Height of the newest block applied.
    pub(crate) height: AtomicU64,
}

/// The state machine over a [`BlockStore`].
pub struct StateMachine {
    id: NodeId,
    store: Arc<dyn BlockStore>,
    transport: Arc<dyn PeerTransport>,
    meta: Meta,
    /// The store's newest block, as last seen (only this writes the store).
    tip: Option<ChainTip>,
    genesis_policy: BlockPolicy,
    current: Arc<Mutex<Option<Snapshot<TypeConfig>>>>,
    shared: Arc<Shared>,
    catch_up_timeout: Duration,
}

impl Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine").field("id", &self.id).field("meta", &self.meta).finish_non_exhaustive()
    }
}

fn store_err(e: impl std::fmt::Display) -> Error {
    Error::BlockStore(e.to_string())
}

/// Runs a blocking store call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(store_err)?.map_err(store_err)
}

impl StateMachine {
    /// Opens the state machine of member `id` over `store`, reading the
    /// metadata it holds. `genesis_policy` is in force until the log changes
    /// it; `transport` reaches peers for the blocks of a snapshot, trying
    /// for at most `catch_up_timeout` each time.
    pub fn open(
        id: NodeId,
        store: Arc<dyn BlockStore>,
        transport: Arc<dyn PeerTransport>,
        genesis_policy: BlockPolicy,
        catch_up_timeout: Duration,
    ) -> Result<StateMachine> {
        let meta = match store.consensus_meta().map_err(store_err)? {
            // A switch from another engine: Raft starts afresh at the tip.
            Some(bytes) if bytes == govchain_consensus::HANDOVER => Meta::default(),
            Some(bytes) => serde_json::from_slice::<Meta>(&bytes)
                .map_err(|e| Error::Decode { what: "consensus metadata", reason: e.to_string() })?,
            None => Meta::default(),
        };
        let tip = store.tip().map_err(store_err)?;
        let policy = meta.policy.clone().unwrap_or_else(|| genesis_policy.clone());
        let shared = Arc::new(Shared {
            policy: watch::Sender::new(policy),
            last_block_ms: AtomicU64::new(tip.map_or(0, |t| t.timestamp_ms)),
            height: AtomicU64::new(tip.map_or(0, |t| t.height)),
        });
        info!(target: TARGET, id, last_applied = ?meta.last_applied, height = ?tip.map(|t| t.height),
            catch_up = ?meta.catch_up.as_ref().map(|c| c.tip.height), "state machine opened");
        Ok(StateMachine {
            id,
            store,
            transport,
            meta,
            tip,
            genesis_policy,
            current: Arc::default(),
            shared,
            catch_up_timeout,
        })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn set_tip(&mut self, tip: ChainTip) {
        self.tip = Some(tip);
        self.shared.last_block_ms.fetch_max(tip.timestamp_ms, Ordering::AcqRel);
        self.shared.height.store(tip.height, Ordering::Release);
    }

    fn publish_policy(&self) {
        let policy = self.meta.policy.clone().unwrap_or_else(|| self.genesis_policy.clone());
        self.shared.policy.send_if_modified(|p| {
            let changed = *p != policy;
            *p = policy;
            changed
        });
    }

    async fn put_meta(&self, meta: &Meta) -> Result<(), StorageError<NodeId>> {
        let bytes = meta.encode()?;
        let store = self.store.clone();
        blocking(move || store.put_meta(&bytes))
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e).into())
    }

    /// Brings the store to a pending snapshot's block, retrying peers until
    /// `catch_up_timeout` passes.
    async fn finish_catch_up(&mut self) -> Result<(), Error> {
        let Some(target) = self.meta.catch_up.clone() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.catch_up_timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.catch_up_round(&target).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e @ Error::Sync(_)) => {
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    warn!(target: TARGET, error = %e, "catching up to the snapshot; will retry");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
        let mut meta = self.meta.clone();
        meta.catch_up = None;
        self.put_meta(&meta).await.map_err(store_err)?;
        self.meta = meta;
        info!(target: TARGET, height = target.tip.height, "caught up to the snapshot");
        Ok(())
    }

    /// One pass over the peers. `Ok(true)` once the store holds the target
    /// block, `Ok(false)` after progress, [`Error::Sync`] when no peer gave a
    /// usable block; any other error is the store's and final.
    async fn catch_up_round(&mut self, target: &CatchUp) -> Result<bool, Error> {
        let local = self.tip;
        if let Some(local) = local
            && local.height >= target.tip.height
        {
            if local.height == target.tip.height && local.block_id == target.tip.block_id {
                return Ok(true);
            }
            // The store holds other blocks than the group agreed on: a
            // ledger from another chain or restored from elsewhere.
            return Err(Error::BlockStore(format!(
                "the ledger is at height {} ({}) but the snapshot is at {} ({})",
                local.height, local.block_id, target.tip.height, target.tip.block_id
            )));
        }
        let from = local.map_or(0, |t| t.height + 1);
        let mut peers = vec![target.source];
        let members: BTreeSet<NodeId> = self.meta.membership.nodes().map(|(id, _)| *id).collect();
        peers.extend(members.into_iter().filter(|id| *id != target.source));
        peers.retain(|id| *id != self.id);
        let mut last_err = String::from("no peer to fetch blocks from");
        for peer in peers {
            let Some(node) = self.meta.membership.membership().get_node(&peer).cloned() else {
                continue;
            };
            match network::fetch_blocks(&*self.transport, peer, &node, from, target.tip.height).await {
                Ok(blocks) if !blocks.is_empty() => {
                    self.import(local, blocks, target).await?;
                    return Ok(false);
                }
                Ok(_) => last_err = format!("peer {peer} has no block {from}"),
                Err(e) => last_err = e.to_string(),
            }
        }
        Err(Error::Sync(last_err))
    }

    /// Checks fetched blocks against the chain so far and has the store
    /// re-execute them.
    async fn import(
        &mut self,
        mut tip: Option<ChainTip>,
        blocks: Vec<Vec<u8>>,
        target: &CatchUp,
    ) -> Result<()> {
        let suite = self.store.suite();
        let meta = self.meta.encode().map_err(store_err)?;
        for bytes in blocks {
            let block = Block::decode(&bytes)
                .map_err(|e| Error::Sync(format!("a fetched block does not decode: {e}")))?;
            let h = &block.header;
            let expected = tip.map_or(0, |t| t.height + 1);
            let parent = tip.map_or(Hash::ZERO, |t| t.block_id);
            if h.height != expected || h.height > target.tip.height {
                return Err(Error::Sync(format!("fetched block has height {}, wanted {expected}", h.height)));
            }
            if h.prev_hash != parent {
                return Err(Error::Sync(format!(
                    "fetched block {} does not follow block {parent}",
                    h.height
                )));
            }
            if h.tx_count as usize != block.transactions.len()
                || Block::tx_root(suite, &block.transactions) != h.tx_root
            {
                return Err(Error::Sync(format!("fetched block {} has wrong transactions", h.height)));
            }
            let id = h.id(suite);
            if h.height == target.tip.height && id != target.tip.block_id {
                return Err(Error::Sync(format!(
                    "fetched block {} is {id}, the snapshot says {}",
                    h.height, target.tip.block_id
                )));
            }
            let store = self.store.clone();
            let meta = meta.clone();
            let new_tip = blocking(move || store.import_block(block, &meta)).await?;
            if new_tip.block_id != id {
                return Err(Error::BlockStore(format!(
                    "re-executing block {} gave id {}, the peer's is {id}",
                    new_tip.height, new_tip.block_id
                )));
            }
            debug!(target: TARGET, height = new_tip.height, "imported a block from a peer");
            self.set_tip(new_tip);
            tip = Some(new_tip);
        }
        Ok(())
    }

    fn snapshot_of(&self, tip: Option<ChainTip>) -> Snapshot<TypeConfig> {
        let last = self.meta.last_applied;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, tip.map_or(0, |t| t.height)),
            None => "empty".to_owned(),
        };
        Snapshot {
            meta: SnapshotMeta {
                last_log_id: last,
                last_membership: self.meta.membership.clone(),
                snapshot_id,
            },
            snapshot: Box::new(LedgerSnapshot { tip, policy: self.meta.policy.clone(), source: self.id }),
        }
    }
}

/// Builds a snapshot captured when the builder was made.
#[derive(Debug)]
pub struct SnapshotBuilder {
    snapshot: Snapshot<TypeConfig>,
    current: Arc<Mutex<Option<Snapshot<TypeConfig>>>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(self.snapshot.clone());
        Ok(self.snapshot.clone())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError<NodeId>> {
        Ok((self.meta.last_applied, self.meta.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        // Metadata changes not yet stored with a block.
        let mut unsaved = false;
        for entry in entries {
            let log_id = entry.log_id;
            if Some(log_id) <= self.meta.last_applied {
                // Re-applied after a restart: its effect is already stored.
                replies.push(Applied::default());
                continue;
            }
            let mut meta = self.meta.clone();
            meta.last_applied = Some(log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => meta.membership = StoredMembership::new(Some(log_id), m),
                EntryPayload::Normal(Command::Policy(policy)) => match policy.validate() {
                    Ok(()) => meta.policy = Some(policy),
                    Err(e) => warn!(target: TARGET, %log_id, error = %e, "ignoring an invalid block policy"),
                },
                EntryPayload::Normal(Command::Batch(bytes)) => match decode_batch(&bytes) {
                    Ok(batch) => {
                        if self.meta.catch_up.is_some() {
                            self.finish_catch_up().await.map_err(|e| StorageIOError::apply(log_id, &e))?;
                            meta.catch_up = None;
                        }
                        let encoded = meta.encode()?;
                        let store = self.store.clone();
                        let new_tip = blocking(move || store.apply_batch(batch, Some(&encoded))).await.map_err(|e| {
                            error!(target: TARGET, %log_id, error = %e, "the block store failed; raft stops");
                            StorageIOError::apply(log_id, &e)
                        })?;
                        self.meta = meta;
                        unsaved = false;
                        self.set_tip(new_tip);
                        replies.push(Applied { height: Some(new_tip.height) });
                        continue;
                    }
                    // The same bytes reach every member, so every member
                    // skips the entry alike.
                    Err(e) => error!(target: TARGET, %log_id, error = %e, "skipping an undecodable batch"),
                },
            }
            self.meta = meta;
            unsaved = true;
            replies.push(Applied::default());
        }
        if unsaved {
            let meta = self.meta.clone();
            self.put_meta(&meta).await?;
        }
        self.publish_policy();
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Captured here, between applies, so the point matches the applied
        // log id; with a catch-up pending it is the target.
        let tip = self.meta.catch_up.as_ref().map(|c| c.tip).or(self.tip);
        SnapshotBuilder { snapshot: self.snapshot_of(tip), current: self.current.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<LedgerSnapshot>, StorageError<NodeId>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<LedgerSnapshot>,
    ) -> Result<(), StorageError<NodeId>> {
        info!(target: TARGET, snapshot = %meta, height = ?snapshot.tip.map(|t| t.height), "installing a snapshot");
        let local = self.tip;
        let new = Meta {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            policy: snapshot.policy.clone(),
            catch_up: snapshot
                .tip
                .filter(|t| local != Some(*t))
                .map(|tip| CatchUp { tip, source: snapshot.source }),
        };
        if snapshot.tip.is_none() && local.is_some() {
            // The group has no block yet but this store has: not this chain.
            return Err(StorageIOError::write_snapshot(
                Some(meta.signature()),
                AnyError::error("the snapshot has no block but the local ledger has"),
            )
            .into());
        }
        // Stored before any block is fetched, so a crash resumes the catch-up.
        self.put_meta(&new).await?;
        self.meta = new;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Snapshot { meta: meta.clone(), snapshot: snapshot.clone() });
        if let Err(e) = self.finish_catch_up().await {
            match e {
                // Peers may come back: the next block applied retries.
                Error::Sync(_) => warn!(target: TARGET, error = %e, "catch-up to the snapshot postponed"),
                e => return Err(StorageIOError::write_snapshot(Some(meta.signature()), &e).into()),
            }
        }
        self.publish_policy();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self.current.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }
}
