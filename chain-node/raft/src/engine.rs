//! [`RaftEngine`]: Raft ordering behind [`govchain_consensus::Consensus`]
//! and [`govchain_consensus::Membership`].
//!
//! On the leader the consensus crate's cutter fills a batch straight into
//! its log encoding until the block policy in force says it is full or
//! `max_wait` has passed since its first transaction; the sink here
//! proposes it and waits until it is committed and applied before the next
//! is cut: transactions that arrive meanwhile wait, so a busy chain makes
//! bigger blocks (SPEC CON-3). Block time is the leader's clock but never
//! below the last applied block's (CON-5). Followers and learners refuse
//! `submit` with `NotLeader`, naming the leader, for the node to forward.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Debug,
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use govchain_consensus::{
    BlockPolicy, BlockStore, BoxFuture, Consensus, Leader, Member, Membership, PeerTransport, Role, Status,
    cutter::{self, BlockSink, Draft, Queue},
};
use govchain_types::Transaction;
use openraft::{
    ChangeMembers, Config, Raft, ServerState, Snapshot, SnapshotPolicy,
    error::{ClientWriteError, InitializeError, RaftError},
    raft::{AppendEntriesRequest, VoteRequest},
};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::{
    Command, Error, Node, NodeId, Result, TARGET,
    log_store::LogStore,
    network::{
        self, BLOCKS_REPLY_BYTES, BLOCKS_REPLY_COUNT, BlocksRequest, NetworkFactory, SnapshotBody, paths,
    },
    state_machine::{Shared, StateMachine},
    types::{BatchWriter, TypeConfig},
};

/// How a Raft member runs.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This member's Raft id (unique in the group, never reused).
    pub id: NodeId,
    /// This member's address and name, as peers reach it.
    pub node: Node,
    /// Directory of the Raft log store.
    pub log_dir: PathBuf,
    /// The block policy at genesis; policy entries in the log replace it.
    pub block_policy: BlockPolicy,
    /// Transactions queued on the leader before `submit` answers
    /// `Overloaded`.
    pub queue_capacity: usize,
    /// Leader heartbeat period. openraft also uses it as the timeout of
    /// one append RPC, so it must cover sending and fsyncing
    /// `max_entries_per_append` blocks to a follower.
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time in this range
    /// starts an election.
    pub election_timeout: (Duration, Duration),
    /// Log entries kept after a snapshot before they may be purged; a
    /// member further behind than that catches up by snapshot and blocks.
    pub logs_to_keep: u64,
    /// Entries applied between snapshots (a snapshot costs nothing much:
    /// it is a ledger point).
    pub snapshot_every: u64,
    /// Most entries in one append RPC (entries are whole blocks, up to the
    /// policy's `max_bytes` each).
    pub max_entries_per_append: u64,
    /// How long a member may take to install a snapshot, fetching the
    /// blocks it lacks, before the leader retries.
    pub snapshot_timeout: Duration,
    /// How long a member keeps retrying peers for missing blocks before
    /// giving up (on install it tries again at the next block; on apply
    /// Raft stops on this member).
    pub catch_up_timeout: Duration,
}

impl RaftConfig {
    /// Defaults for a LAN consortium: 200 ms heartbeats, 1-2 s election
    /// timeouts (the failover time), 8 entries per append, snapshots every
    /// 1000 entries keeping 1000.
    pub fn new(id: NodeId, node: Node, log_dir: impl Into<PathBuf>) -> Self {
        RaftConfig {
            id,
            node,
            log_dir: log_dir.into(),
            block_policy: BlockPolicy::default(),
            queue_capacity: 100_000,
            heartbeat_interval: Duration::from_millis(200),
            election_timeout: (Duration::from_millis(1000), Duration::from_millis(2000)),
            logs_to_keep: 1000,
            snapshot_every: 1000,
            max_entries_per_append: 8,
            snapshot_timeout: Duration::from_secs(120),
            catch_up_timeout: Duration::from_secs(60),
        }
    }

    fn openraft(&self) -> Result<Config> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = Config {
            cluster_name: "govchain".into(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            max_payload_entries: self.max_entries_per_append,
            // A follower this far behind gets a snapshot rather than entries.
            replication_lag_threshold: self.logs_to_keep.max(self.snapshot_every) + self.snapshot_every,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.logs_to_keep,
            ..Config::default()
        };
        config.validate().map_err(|e| Error::Config(e.to_string()))
    }
}

/// The members of the group as this member last applied them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// Voting members (during a change, those of either configuration).
    pub voters: BTreeSet<NodeId>,
    /// Non-voting members (backup ledger nodes, SPEC LED-5).
    pub learners: BTreeSet<NodeId>,
    /// Every member's address and name.
    pub nodes: BTreeMap<NodeId, Node>,
}

/// A Raft member ordering transactions into blocks. Cheap to clone.
#[derive(Clone)]
pub struct RaftEngine {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    node: Node,
    raft: Raft<TypeConfig>,
    store: Arc<dyn BlockStore>,
    queue: Queue,
    shared: Arc<Shared>,
    cutter: Mutex<Option<JoinHandle<()>>>,
    stopped: AtomicBool,
}

impl Debug for RaftEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftEngine")
            .field("id", &self.inner.id)
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl RaftEngine {
    /// Opens the log store, the state machine over `store` and starts Raft
    /// and the cutter on the current tokio runtime. A new group must then be
    /// [`RaftEngine::initialize`]d on one member; a new member joins when the
    /// leader adds it.
    pub async fn start(
        config: RaftConfig,
        store: Arc<dyn BlockStore>,
        transport: Arc<dyn PeerTransport>,
    ) -> Result<RaftEngine> {
        config.block_policy.validate().map_err(govchain_consensus::Error::from)?;
        let raft_config = Arc::new(config.openraft()?);
        let log_store = LogStore::open(&config.log_dir)?;
        let sm = StateMachine::open(
            config.id,
            store.clone(),
            transport.clone(),
            config.block_policy.clone(),
            config.catch_up_timeout,
        )?;
        let shared = sm.shared();
        let network = NetworkFactory { id: config.id, transport, snapshot_timeout: config.snapshot_timeout };
        let raft = Raft::new(config.id, raft_config, network, log_store, sm)
            .await
            .map_err(|e| Error::Stopped(e.to_string()))?;
        let sink = Propose { raft: raft.clone(), shared: shared.clone() };
        let (queue, cutter) = cutter::spawn(config.node.name.clone(), config.queue_capacity, sink);
        info!(target: TARGET, id = config.id, node = %config.node, "raft engine started");
        Ok(RaftEngine {
            inner: Arc::new(Inner {
                id: config.id,
                node: config.node,
                raft,
                store,
                queue,
                shared,
                cutter: Mutex::new(Some(cutter)),
                stopped: AtomicBool::new(false),
            }),
        })
    }

    /// This member's Raft id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// This member's address and name.
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Forms a new group of `members` (voters). Call on one member of a new
    /// chain; calling it again, or on a member that already holds a log, is
    /// harmless.
    pub async fn initialize(&self, members: BTreeMap<NodeId, Node>) -> Result<()> {
        match self.inner.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(e @ InitializeError::NotInMembers(_))) => {
                Err(Error::Membership(e.to_string()))
            }
            Err(RaftError::Fatal(e)) => Err(Error::Stopped(e.to_string())),
        }
    }

    /// Whether this member holds any Raft state (a log or a vote): false on
    /// a brand-new member until it is initialized or contacted by a leader.
    pub async fn is_initialized(&self) -> Result<bool> {
        self.inner.raft.is_initialized().await.map_err(|e| Error::Stopped(e.to_string()))
    }

    /// Adds `id` at `node` as a learner: a non-voting member that receives
    /// every block (a backup ledger node, SPEC LED-5). Returns once the
    /// change is committed; the learner catches up on its own. Leader only.
    pub async fn add_learner(&self, id: NodeId, node: Node) -> Result<()> {
        let res = self.inner.raft.add_learner(id, node, false).await;
        self.write_result(res.map(|_| ()))
    }

    /// Makes learner `id` a voter. Leader only.
    pub async fn promote(&self, id: NodeId) -> Result<()> {
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id]))).await
    }

    /// Makes exactly `voters` the voting members; voters not listed leave
    /// the group (learners stay learners). Every new voter must already be
    /// a member (a learner). Leader only.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<()> {
        self.change(ChangeMembers::ReplaceAllVoters(voters)).await
    }

    /// Removes member `id`, voter or learner. A leader that removes itself
    /// steps down once the change is committed. Leader only.
    pub async fn remove_node(&self, id: NodeId) -> Result<()> {
        if self.members().voters.contains(&id) {
            self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id]))).await
        } else {
            self.change(ChangeMembers::RemoveNodes(BTreeSet::from([id]))).await
        }
    }

    async fn change(&self, change: ChangeMembers<NodeId, Node>) -> Result<()> {
        let res = self.inner.raft.change_membership(change, false).await;
        self.write_result(res.map(|_| ()))
    }

    /// Changes the block policy of the whole group: a log entry every
    /// member applies at the same point (an online configuration change).
    /// Returns once it is applied here. Leader only.
    pub async fn set_block_policy(&self, policy: BlockPolicy) -> Result<()> {
        policy.validate().map_err(govchain_consensus::Error::from)?;
        let res = self.inner.raft.client_write(Command::Policy(policy)).await;
        self.write_result(res.map(|_| ()))
    }

    fn write_result(&self, res: Result<(), RaftError<NodeId, ClientWriteError<NodeId, Node>>>) -> Result<()> {
        match res {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(Error::NotLeader { leader_id: f.leader_id, leader: f.leader_node })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(Error::Membership(e.to_string()))
            }
            Err(RaftError::Fatal(e)) => Err(Error::Stopped(e.to_string())),
        }
    }

    /// The block policy in force on this member.
    pub fn block_policy(&self) -> BlockPolicy {
        self.inner.shared.policy.borrow().clone()
    }

    /// Height of the newest block this member applied.
    pub fn height(&self) -> u64 {
        self.inner.shared.height.load(Ordering::Acquire)
    }

    /// The leader as this member knows it, with its address.
    pub fn leader(&self) -> Option<(NodeId, Option<Node>)> {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        Some((id, m.membership_config.membership().get_node(&id).cloned()))
    }

    /// This member's role.
    pub fn role(&self) -> Role {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Role::Stopped;
        }
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        if m.running_state.is_err() {
            return Role::Stopped;
        }
        match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Shutdown => Role::Stopped,
            // Decided by the membership rather than the reported state,
            // which reads `Follower` until Raft has started up.
            _ if m.membership_config.membership().voter_ids().any(|id| id == self.inner.id) => Role::Follower,
            _ => Role::Learner,
        }
    }

    /// The group as this member last applied it.
    pub fn members(&self) -> Members {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        Members {
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            nodes: membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
        }
    }

    /// Waits until some member is known as leader and returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId> {
        let m = self
            .inner
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(|e| Error::Stopped(e.to_string()))?;
        m.current_leader.ok_or_else(|| Error::Stopped("no leader".into()))
    }

    /// Serves a Raft RPC from a peer: `path` is one of
    /// [`crate::network::paths`], `body` the request bytes; the reply bytes
    /// go back as the response body. Errors mean the request was malformed
    /// or the path unknown (answer 400/404); Raft's own errors travel inside
    /// the reply.
    pub async fn handle_rpc(&self, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let raft = &self.inner.raft;
        match path {
            paths::APPEND => {
                let req: AppendEntriesRequest<TypeConfig> = network::decode("append request", body)?;
                network::encode(&raft.append_entries(req).await)
            }
            paths::VOTE => {
                let req: VoteRequest<NodeId> = network::decode("vote request", body)?;
                network::encode(&raft.vote(req).await)
            }
            paths::SNAPSHOT => {
                let (vote, meta, data): SnapshotBody = network::decode("snapshot", body)?;
                let snapshot = Snapshot { meta, snapshot: Box::new(data) };
                network::encode(&raft.install_full_snapshot(vote, snapshot).await)
            }
            paths::BLOCKS => {
                let req: BlocksRequest = network::decode("blocks request", body)?;
                let store = self.inner.store.clone();
                let reply = tokio::task::spawn_blocking(move || read_blocks(&*store, req))
                    .await
                    .map_err(|e| Error::BlockStore(e.to_string()))?;
                network::encode(&reply)
            }
            other => Err(Error::UnknownPath(other.chars().take(64).collect())),
        }
    }

    /// Stops Raft and the cutter. Queued transactions are dropped.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.queue.stop();
        if let Some(cutter) = self.inner.cutter.lock().unwrap_or_else(PoisonError::into_inner).take() {
            cutter.abort();
        }
        self.inner.raft.shutdown().await.map_err(|e| Error::Stopped(e.to_string()))?;
        info!(target: TARGET, id = self.inner.id, "raft engine stopped");
        Ok(())
    }

    fn leader_name(&self) -> Option<String> {
        self.leader().map(|(id, node)| node.map_or_else(|| id.to_string(), |n| n.name))
    }
}

/// Blocks `from..=to` for a peer, capped in count and bytes.
fn read_blocks(store: &dyn BlockStore, req: BlocksRequest) -> Result<Vec<Vec<u8>>, String> {
    let to = req.to.min(req.from.saturating_add(BLOCKS_REPLY_COUNT - 1));
    let mut blocks = Vec::new();
    let mut bytes = 0;
    for height in req.from..=to {
        match store.block_bytes(height).map_err(|e| e.to_string())? {
            Some(b) => {
                bytes += b.len();
                blocks.push(b);
            }
            None => break,
        }
        if bytes >= BLOCKS_REPLY_BYTES {
            break;
        }
    }
    Ok(blocks)
}

fn membership_error(e: Error) -> govchain_consensus::Error {
    use govchain_consensus::Error as C;
    match e {
        Error::NotLeader { leader, leader_id } => {
            C::NotLeader { leader: leader.map(|n| n.name).or_else(|| leader_id.map(|id| id.to_string())) }
        }
        Error::Membership(m) => C::Membership(m),
        Error::Consensus(e) => e,
        e => C::Unavailable(e.to_string()),
    }
}

impl Consensus for RaftEngine {
    fn submit(&self, txs: Vec<Transaction>) -> govchain_consensus::Result<()> {
        match self.role() {
            Role::Leader => self.inner.queue.submit(txs),
            Role::Stopped => Err(govchain_consensus::Error::Stopped),
            Role::Follower | Role::Learner => {
                Err(govchain_consensus::Error::NotLeader { leader: self.leader_name() })
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            engine: "raft".into(),
            node_id: self.inner.node.name.clone(),
            role: self.role(),
            leader: self.leader_name(),
            pending: self.inner.queue.pending(),
        }
    }

    fn role(&self) -> Role {
        RaftEngine::role(self)
    }

    fn leader(&self) -> Option<Leader> {
        let (id, node) = RaftEngine::leader(self)?;
        Some(match node {
            Some(n) => Leader { name: n.name, addr: Some(n.addr) },
            None => Leader { name: id.to_string(), addr: None },
        })
    }

    fn block_policy(&self) -> BlockPolicy {
        RaftEngine::block_policy(self)
    }

    fn membership(&self) -> Option<&dyn Membership> {
        Some(self)
    }

    fn shutdown(&self) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move { RaftEngine::shutdown(self).await.map_err(membership_error) })
    }
}

impl Membership for RaftEngine {
    fn members(&self) -> Vec<Member> {
        let m = RaftEngine::members(self);
        m.nodes
            .iter()
            .map(|(id, n)| Member {
                id: *id,
                name: n.name.clone(),
                addr: n.addr.clone(),
                voter: m.voters.contains(id),
            })
            .collect()
    }

    fn add_learner(
        &self,
        id: u64,
        name: String,
        addr: String,
        _public_key: Vec<u8>,
    ) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move {
            RaftEngine::add_learner(self, id, Node::new(addr, name)).await.map_err(membership_error)
        })
    }

    fn promote(&self, id: u64) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move { RaftEngine::promote(self, id).await.map_err(membership_error) })
    }

    fn remove(&self, id: u64) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move { self.remove_node(id).await.map_err(membership_error) })
    }

    fn set_block_policy(&self, policy: BlockPolicy) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move { RaftEngine::set_block_policy(self, policy).await.map_err(membership_error) })
    }
}

/// Where the leader's cut blocks go: proposed through the log, one at a
/// time, each awaited until applied here.
struct Propose {
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
}

impl BlockSink for Propose {
    type Draft = BatchWriter;

    fn policy(&self) -> BlockPolicy {
        self.shared.policy.borrow().clone()
    }

    fn floor_ms(&self) -> u64 {
        self.shared.last_block_ms.load(Ordering::Acquire)
    }

    async fn deliver(&mut self, draft: BatchWriter, timestamp_ms: u64, proposer: &str) -> Result<(), String> {
        let n = draft.len();
        let bytes = draft.finish(timestamp_ms, proposer);
        if let Err(e) = self.raft.client_write(Command::Batch(bytes)).await {
            // Leadership moved (or Raft stopped) while the batch was in
            // hand; its clients time out and resubmit to the new leader.
            warn!(target: TARGET, txs = n, error = %e, "a batch was not committed; its transactions are dropped");
        }
        Ok(())
    }
}
