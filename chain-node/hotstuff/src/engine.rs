//! [`HotStuffEngine`]: the protocol core on a thread of its own, the
//! network on tokio.
//!
//! The core runs on one OS thread: every input (a peer's message, a local
//! submission, a sync request or reply, the clock) goes through one
//! channel, so the core needs no locks, and it writes committed blocks to
//! the [`BlockStore`] from that thread (a blocking-capable one, as the
//! store wants). What the core asks to send goes to one tokio task per
//! peer, in order, through a bounded queue (a slow peer loses messages,
//! which the protocol tolerates, rather than holding memory).

use std::{
    collections::BTreeMap,
    fmt::Debug,
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        mpsc as std_mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

use govchain_consensus::{
    BlockPolicy, BlockStore, BoxFuture, Consensus, Figure, Leader, Member, Membership, PeerTransport, Role,
    Status,
};
use govchain_crypto::PrivateKey;
use govchain_types::{Encode, Transaction, now_ms};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::{
    Error, Fault, Result, TARGET,
    core::{Action, Core, CoreConfig, SigCache, Stats},
    safety::FileStorage,
    types::{Message, Reconfig, SyncReply, SyncRequest, Validator, decode},
};

/// The peer paths this engine serves, relative to the peer's root.
pub mod paths {
    /// Proposals, votes and timeouts.
    pub const MSG: &str = "hotstuff/msg";
    /// Transactions gossiped from the member they were submitted to.
    pub const TXS: &str = "hotstuff/txs";
    /// Catching up: committed ledger blocks and uncommitted consensus
    /// blocks.
    pub const SYNC: &str = "hotstuff/sync";
    /// Every path, for routers.
    pub const ALL: [&str; 3] = [MSG, TXS, SYNC];
}

/// How long a member waits for a group change it approved to commit.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Messages queued for one peer before new ones are dropped.
const PEER_QUEUE: usize = 1024;
/// Most transactions gossiped to a peer in one request: what queued while
/// the last request was under way goes in the next, up to this many.
const GOSSIP_BATCH: usize = 2_000;

/// How a HotStuff member runs.
#[derive(Debug, Clone)]
pub struct HotStuffConfig {
    /// This member's consensus id (unique in the group, above 0).
    pub id: u64,
    /// This member's name (node id).
    pub name: String,
    /// This member's peer address.
    pub addr: String,
    /// The chain's id (part of every block id).
    pub chain_id: String,
    /// The node key: signs proposals, votes and timeouts.
    pub key: PrivateKey,
    /// The group: voters and learners.
    pub validators: Vec<Validator>,
    /// Where the safety state is kept (fsynced before every signature).
    pub data_dir: PathBuf,
    /// The block policy.
    pub block_policy: BlockPolicy,
    /// Transactions waiting on this member before `submit` answers
    /// `Overloaded`.
    pub queue_capacity: usize,
    /// The first round timeout (doubled after each round that timed out,
    /// up to 8 times).
    pub round_timeout: Duration,
    /// How far ahead of this member's clock a proposal's time may be.
    pub max_clock_ahead: Duration,
    /// How long to wait for one peer call.
    pub rpc_timeout: Duration,
    /// Misbehaviour, for fault tests (acted on only with the `byzantine`
    /// feature; [`HotStuffConfig::new`] reads `GOVCHAIN_BYZANTINE` then).
    pub fault: Fault,
    /// The epoch to start in on a store without a commit point: 0 on a
    /// chain that began with HotStuff, the switch height on a chain
    /// switched to it.
    pub first_epoch: u64,
}

impl HotStuffConfig {
    /// Defaults for a LAN consortium: 1 s round timeouts, 10 s of clock
    /// skew allowed, 5 s per peer call.
    pub fn new(
        id: u64,
        name: impl Into<String>,
        addr: impl Into<String>,
        chain_id: impl Into<String>,
        key: PrivateKey,
        validators: Vec<Validator>,
        data_dir: impl Into<PathBuf>,
    ) -> HotStuffConfig {
        HotStuffConfig {
            id,
            name: name.into(),
            addr: addr.into(),
            chain_id: chain_id.into(),
            key,
            validators,
            data_dir: data_dir.into(),
            block_policy: BlockPolicy::default(),
            queue_capacity: 100_000,
            round_timeout: Duration::from_secs(1),
            max_clock_ahead: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(5),
            fault: fault_from_env(),
            first_epoch: 0,
        }
    }
}

/// The faults named in `GOVCHAIN_BYZANTINE` (comma list), with the
/// `byzantine` feature; none otherwise (an unknown name is refused at
/// [`HotStuffEngine::start`] by [`check_fault_env`]).
fn fault_from_env() -> Fault {
    if !cfg!(feature = "byzantine") {
        return Fault::default();
    }
    std::env::var("GOVCHAIN_BYZANTINE").ok().and_then(|list| Fault::parse(&list).ok()).unwrap_or_default()
}

/// Refuses a `GOVCHAIN_BYZANTINE` naming an unknown fault (with the
/// `byzantine` feature): a fault test must not run an honest node by
/// mistake.
fn check_fault_env() -> Result<()> {
    if cfg!(feature = "byzantine")
        && let Ok(list) = std::env::var("GOVCHAIN_BYZANTINE")
    {
        Fault::parse(&list).map_err(|e| Error::Config(format!("GOVCHAIN_BYZANTINE: {e}")))?;
    }
    Ok(())
}

enum Input {
    Msg(u64, Message),
    Approve(Reconfig, oneshot::Sender<Result<()>>),
    Submit(Vec<Transaction>),
    SyncRequest(SyncRequest, oneshot::Sender<Result<SyncReply>>),
    SyncReply(u64, SyncReply),
    Stop,
}

/// What the core thread publishes for the rest of the node.
#[derive(Debug, Default)]
struct Shared {
    round: AtomicU64,
    height: AtomicU64,
    leader: AtomicU64,
    /// Who proposed the last committed block (0: none yet).
    last_proposer: AtomicU64,
    pending: AtomicUsize,
    failed: AtomicBool,
    /// Voters out of the leader rotation for the current round.
    sitting_out: AtomicUsize,
    epoch: AtomicU64,
    /// What the current epoch is: its members and policy.
    view: Mutex<EpochView>,
    stats: Mutex<Stats>,
    describe: Mutex<String>,
}

/// The current epoch as the core last published it.
#[derive(Debug, Default)]
struct EpochView {
    members: Vec<Validator>,
    voter: bool,
    policy: BlockPolicy,
}

/// A HotStuff member ordering transactions into blocks. Cheap to clone.
#[derive(Clone)]
pub struct HotStuffEngine {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    name: String,
    capacity: usize,
    input: std_mpsc::Sender<Input>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stopped: AtomicBool,
}

impl Debug for HotStuffEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotStuffEngine")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl HotStuffEngine {
    /// Opens the safety state in `config.data_dir`, resumes from the
    /// store's commit point (or starts the epoch at its tip) and starts
    /// the core thread and the peer tasks on the current tokio runtime.
    pub async fn start(
        config: HotStuffConfig,
        store: Arc<dyn BlockStore>,
        transport: Arc<dyn PeerTransport>,
    ) -> Result<HotStuffEngine> {
        config.block_policy.validate().map_err(govchain_consensus::Error::from)?;
        check_fault_env()?;
        if config.round_timeout.is_zero() {
            return Err(Error::Config("round_timeout must be above 0".into()));
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let core_config = CoreConfig {
            id: config.id,
            name: config.name.clone(),
            chain_id: config.chain_id.clone(),
            key: config.key.clone(),
            validators: config.validators.clone(),
            block_policy: config.block_policy.clone(),
            queue_capacity: config.queue_capacity,
            round_timeout_ms: ms(config.round_timeout),
            max_clock_ahead_ms: ms(config.max_clock_ahead),
            fault: config.fault,
            leader_reputation: true,
            first_epoch: config.first_epoch,
        };
        let data_dir = config.data_dir.clone();
        let core = tokio::task::spawn_blocking(move || {
            let safety = FileStorage::open(&data_dir)?;
            Core::new(core_config, store, Box::new(safety), SigCache::default(), now_ms())
        })
        .await
        .map_err(|e| Error::Config(e.to_string()))??;
        let shared = Arc::new(Shared::default());
        publish_members(&core, &shared);
        publish(&core, &shared);

        let (input, rx) = std_mpsc::channel();
        let (actions_tx, actions_rx) = mpsc::unbounded_channel();
        let dispatcher = tokio::spawn(dispatch(
            config.id,
            core.validators().members().to_vec(),
            transport,
            config.rpc_timeout,
            actions_rx,
            input.clone(),
        ));
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hotstuff-{}", config.id))
            .spawn(move || run_core(core, rx, actions_tx, thread_shared))
            .map_err(|e| Error::Config(format!("starting the core thread: {e}")))?;
        info!(target: TARGET, id = config.id, name = %config.name, "hotstuff engine started");
        Ok(HotStuffEngine {
            inner: Arc::new(Inner {
                id: config.id,
                name: config.name,
                capacity: config.queue_capacity,
                input,
                shared,
                thread: Mutex::new(Some(thread)),
                dispatcher: Mutex::new(Some(dispatcher)),
                stopped: AtomicBool::new(false),
            }),
        })
    }

    /// This member's consensus id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// This member's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Height of the newest block this member committed.
    pub fn height(&self) -> u64 {
        self.inner.shared.height.load(Ordering::Acquire)
    }

    /// The current round.
    pub fn round(&self) -> u64 {
        self.inner.shared.round.load(Ordering::Acquire)
    }

    /// The current epoch (0 until the group first changes).
    pub fn epoch(&self) -> u64 {
        self.inner.shared.epoch.load(Ordering::Acquire)
    }

    fn view(&self) -> std::sync::MutexGuard<'_, EpochView> {
        self.inner.shared.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The members of the current epoch.
    pub fn validators(&self) -> Vec<Validator> {
        self.view().members.clone()
    }

    fn is_voter(&self) -> bool {
        self.view().voter
    }

    fn member(&self, id: u64) -> Option<Validator> {
        self.view().members.iter().find(|v| v.id == id).cloned()
    }

    /// The block policy of the current epoch.
    pub fn policy(&self) -> BlockPolicy {
        self.view().policy.clone()
    }

    /// Asks for a change of the group (this member's approval of it) and
    /// waits until an epoch with exactly `next` starts here, up to
    /// [`CHANGE_TIMEOUT`]. The change commits once a quorum of the current
    /// voters approved it: the operator asks every voter.
    pub async fn change_members(&self, next: Vec<Validator>) -> Result<()> {
        self.reconfigure(Reconfig { validators: next, policy: self.policy() }).await
    }

    /// Asks for the next epoch's configuration (members and block policy,
    /// one of them changed by one step) and waits until it is in force
    /// here, as [`HotStuffEngine::change_members`] does.
    pub async fn reconfigure(&self, change: Reconfig) -> Result<()> {
        let from_epoch = self.epoch();
        // As the core publishes them: sorted by id.
        let mut next = change.validators.clone();
        next.sort_by_key(|v| v.id);
        let policy = change.policy.clone();
        let (tx, rx) = oneshot::channel();
        self.send(Input::Approve(change, tx))?;
        rx.await.map_err(|_| Error::Stopped)??;
        let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
        loop {
            if self.epoch() > from_epoch {
                let view = self.view();
                if view.members == next && view.policy == policy {
                    return Ok(());
                }
                // One change per epoch: the one that came in was another.
                return Err(Error::Consensus(govchain_consensus::Error::Membership(
                    "another change of the group committed first; ask again".into(),
                )));
            }
            if !self.is_running() {
                return Err(Error::Stopped);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Consensus(govchain_consensus::Error::Unavailable(format!(
                    "the change of the group did not commit within {} s: a quorum of voters must approve it",
                    CHANGE_TIMEOUT.as_secs()
                ))));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Counters of the core.
    pub fn stats(&self) -> Stats {
        *self.inner.shared.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A one-line account of the core's state (round, certificates,
    /// commit point, timers), for logs and failure reports.
    pub fn describe(&self) -> String {
        self.inner.shared.describe.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether the engine runs (not shut down, its store not failed).
    pub fn is_running(&self) -> bool {
        !self.inner.stopped.load(Ordering::Acquire) && !self.inner.shared.failed.load(Ordering::Acquire)
    }

    fn send(&self, input: Input) -> Result<()> {
        if !self.is_running() {
            return Err(Error::Stopped);
        }
        self.inner.input.send(input).map_err(|_| Error::Stopped)
    }

    /// Serves a peer call: `path` is one of [`paths`], `body` its bytes;
    /// the reply bytes go back as the response body. Malformed bodies and
    /// unknown paths are errors (answer 400/404).
    pub async fn handle_rpc(&self, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        match path {
            paths::MSG | paths::TXS => {
                let (from, msg): (u64, Message) = decode_envelope(body)?;
                if !self.view().members.iter().any(|v| v.id == from) {
                    return Err(Error::Invalid(format!("message from unknown member {from}")));
                }
                self.send(Input::Msg(from, msg))?;
                Ok(Vec::new())
            }
            paths::SYNC => {
                let req: SyncRequest = decode("sync request", body)?;
                let (tx, rx) = oneshot::channel();
                self.send(Input::SyncRequest(req, tx))?;
                let reply = rx.await.map_err(|_| Error::Stopped)??;
                Ok(reply.encode())
            }
            other => Err(Error::UnknownPath(other.chars().take(64).collect())),
        }
    }

    /// Stops the core thread and the peer tasks. Queued transactions are
    /// dropped.
    pub async fn shutdown(&self) -> Result<()> {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = self.inner.input.send(Input::Stop);
        let thread = self.inner.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(d) = self.inner.dispatcher.lock().unwrap_or_else(PoisonError::into_inner).take() {
            d.abort();
        }
        info!(target: TARGET, id = self.inner.id, "hotstuff engine stopped");
        Ok(())
    }

    fn leader_member(&self) -> Option<Validator> {
        self.member(self.inner.shared.leader.load(Ordering::Acquire))
    }

    fn role_now(&self) -> Role {
        if !self.is_running() {
            Role::Stopped
        } else if !self.is_voter() {
            Role::Learner
        } else if self.inner.shared.leader.load(Ordering::Acquire) == self.inner.id {
            Role::Leader
        } else {
            Role::Follower
        }
    }
}

/// The body of a message: (sender id, message).
pub(crate) fn envelope(from: u64, msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    from.encode_to(&mut out);
    msg.encode_to(&mut out);
    out
}

fn decode_envelope(body: &[u8]) -> Result<(u64, Message)> {
    decode("hotstuff message", body)
}

fn publish_members(core: &Core, shared: &Shared) {
    shared.epoch.store(core.epoch(), Ordering::Release);
    *shared.view.lock().unwrap_or_else(PoisonError::into_inner) = EpochView {
        members: core.validators().members().to_vec(),
        voter: core.is_voter(),
        policy: core.policy().clone(),
    };
}

fn publish(core: &Core, shared: &Shared) {
    if shared.epoch.load(Ordering::Acquire) != core.epoch() {
        publish_members(core, shared);
    }
    shared.round.store(core.round(), Ordering::Release);
    shared.height.store(core.height(), Ordering::Release);
    shared.leader.store(core.leader(), Ordering::Release);
    shared.last_proposer.store(core.last_proposer().unwrap_or(0), Ordering::Release);
    shared.pending.store(core.pending(), Ordering::Release);
    shared.sitting_out.store(core.sitting_out(core.round()).len(), Ordering::Release);
    *shared.stats.lock().unwrap_or_else(PoisonError::into_inner) = core.stats();
    *shared.describe.lock().unwrap_or_else(PoisonError::into_inner) = core.describe();
}

fn run_core(
    mut core: Core,
    rx: std_mpsc::Receiver<Input>,
    actions: mpsc::UnboundedSender<Action>,
    shared: Arc<Shared>,
) {
    loop {
        let now = now_ms();
        let wait = core.next_deadline().map_or(1_000, |d| d.saturating_sub(now).min(1_000));
        let input = match rx.recv_timeout(Duration::from_millis(wait)) {
            Ok(i) => Some(i),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let now = now_ms();
        let res = match input {
            Some(Input::Stop) => break,
            Some(Input::Msg(from, msg)) => core.on_message(from, msg, now),
            Some(Input::Approve(next, reply)) => match core.approve(next, now) {
                Ok(out) => {
                    let _ = reply.send(Ok(()));
                    Ok(out)
                }
                Err(e @ (Error::BlockStore(_) | Error::Storage(_))) => Err(e),
                Err(e) => {
                    let _ = reply
                        .send(Err(Error::Consensus(govchain_consensus::Error::Membership(e.to_string()))));
                    Ok(Vec::new())
                }
            },
            Some(Input::Submit(txs)) => match core.submit(txs, now) {
                Err(Error::Consensus(e)) => {
                    warn!(target: TARGET, error = %e, "transactions dropped");
                    Ok(Vec::new())
                }
                r => r,
            },
            Some(Input::SyncRequest(req, reply)) => {
                let _ = reply.send(core.serve_sync(req));
                Ok(Vec::new())
            }
            Some(Input::SyncReply(from, reply)) => core.on_sync_reply(from, reply, now),
            None => Ok(Vec::new()),
        };
        let res = res.and_then(|mut out| {
            if core.next_deadline().is_some_and(|d| d <= now) {
                out.extend(core.on_tick(now)?);
            }
            Ok(out)
        });
        match res {
            Ok(out) => {
                for a in out {
                    let _ = actions.send(a);
                }
            }
            Err(e) => {
                error!(target: TARGET, id = core.id(), error = %e, "hotstuff core stopped");
                shared.failed.store(true, Ordering::Release);
                break;
            }
        }
        publish(&core, &shared);
    }
}

enum PeerJob {
    Msg(Vec<u8>, &'static str),
    Sync(Vec<u8>),
}

/// The queues to one peer and the tasks that drain them.
struct PeerLink {
    addr: String,
    jobs: mpsc::Sender<PeerJob>,
    gossip: mpsc::Sender<Vec<Transaction>>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn link_to(
    me: u64,
    v: &Validator,
    transport: &Arc<dyn PeerTransport>,
    rpc_timeout: Duration,
    input: &std_mpsc::Sender<Input>,
) -> PeerLink {
    let (jobs, mut rx) = mpsc::channel::<PeerJob>(PEER_QUEUE);
    let (gossip, mut txs_rx) = mpsc::channel::<Vec<Transaction>>(PEER_QUEUE);
    let (id, addr) = (v.id, v.addr.clone());
    let (transport_, input) = (transport.clone(), input.clone());
    let addr_ = addr.clone();
    let messages = tokio::spawn(async move {
        let (transport, addr) = (transport_, addr_);
        while let Some(job) = rx.recv().await {
            match job {
                PeerJob::Msg(body, path) => {
                    // Lost or late is the protocol's business (it resends).
                    let _ = tokio::time::timeout(rpc_timeout, transport.send(id, &addr, path, body)).await;
                }
                PeerJob::Sync(body) => {
                    let reply =
                        tokio::time::timeout(rpc_timeout, transport.send(id, &addr, paths::SYNC, body)).await;
                    if let Ok(Ok(bytes)) = reply {
                        match decode::<SyncReply>("sync reply", &bytes) {
                            Ok(r) => {
                                let _ = input.send(Input::SyncReply(id, r));
                            }
                            Err(e) => warn!(target: TARGET, peer = id, error = %e, "bad sync reply"),
                        }
                    }
                }
            }
        }
    });
    let transport = transport.clone();
    let addr_ = addr.clone();
    let gossiping = tokio::spawn(async move {
        while let Some(mut batch) = txs_rx.recv().await {
            while batch.len() < GOSSIP_BATCH {
                match txs_rx.try_recv() {
                    Ok(more) => batch.extend(more),
                    Err(_) => break,
                }
            }
            let body = envelope(me, &Message::Txs(batch));
            let _ = tokio::time::timeout(rpc_timeout, transport.send(id, &addr_, paths::TXS, body)).await;
        }
    });
    PeerLink { addr, jobs, gossip, tasks: [messages, gossiping] }
}

/// Takes the core's actions to the peers. Each peer has two ordered
/// queues, each drained by a task of its own: the protocol's messages
/// (proposals, votes, timeouts, sync requests), and gossiped transactions,
/// sent in batches of what queued while the previous batch was under way —
/// so a vote never waits behind a stream of submissions, and a busy chain
/// gossips in few requests. A new epoch brings its members' links; the
/// links to members that left go (kept as sync sources until then).
async fn dispatch(
    me: u64,
    validators: Vec<Validator>,
    transport: Arc<dyn PeerTransport>,
    rpc_timeout: Duration,
    mut actions: mpsc::UnboundedReceiver<Action>,
    input: std_mpsc::Sender<Input>,
) {
    let mut peers: BTreeMap<u64, PeerLink> = BTreeMap::new();
    let connect = |peers: &mut BTreeMap<u64, PeerLink>, members: &[Validator]| {
        peers.retain(|id, link| members.iter().any(|v| v.id == *id && v.addr == link.addr));
        for v in members.iter().filter(|v| v.id != me) {
            peers.entry(v.id).or_insert_with(|| link_to(me, v, &transport, rpc_timeout, &input));
        }
    };
    connect(&mut peers, &validators);
    while let Some(action) = actions.recv().await {
        match action {
            // Full queues: the peer is slow or gone; the protocol resends
            // what matters, and a transaction stays with its member.
            Action::Send { to, msg: Message::Txs(txs) } => {
                if let Some(link) = peers.get(&to) {
                    let _ = link.gossip.try_send(txs);
                }
            }
            Action::Broadcast(Message::Txs(txs)) => {
                for link in peers.values() {
                    let _ = link.gossip.try_send(txs.clone());
                }
            }
            Action::Send { to, msg } => {
                if let Some(link) = peers.get(&to) {
                    let _ = link.jobs.try_send(PeerJob::Msg(envelope(me, &msg), path_of(&msg)));
                }
            }
            Action::Broadcast(msg) => {
                let (path, body) = (path_of(&msg), envelope(me, &msg));
                for link in peers.values() {
                    let _ = link.jobs.try_send(PeerJob::Msg(body.clone(), path));
                }
            }
            Action::Sync { to, req } => {
                if let Some(link) = peers.get(&to) {
                    let _ = link.jobs.try_send(PeerJob::Sync(req.encode()));
                }
            }
            Action::Members(members) => connect(&mut peers, &members),
        }
    }
}

fn path_of(msg: &Message) -> &'static str {
    match msg {
        Message::Txs(_) => paths::TXS,
        _ => paths::MSG,
    }
}

fn consensus_error(e: Error) -> govchain_consensus::Error {
    match e {
        Error::Consensus(e) => e,
        Error::Stopped => govchain_consensus::Error::Stopped,
        e => govchain_consensus::Error::Unavailable(e.to_string()),
    }
}

impl Consensus for HotStuffEngine {
    fn submit(&self, txs: Vec<Transaction>) -> govchain_consensus::Result<()> {
        if !self.is_running() {
            return Err(govchain_consensus::Error::Stopped);
        }
        if !self.is_voter() {
            let leader = Consensus::forward_target(self).map(|l| l.name);
            return Err(govchain_consensus::Error::NotLeader { leader });
        }
        let pending = self.inner.shared.pending.load(Ordering::Acquire);
        if pending + txs.len() > self.inner.capacity {
            return Err(govchain_consensus::Error::Overloaded { capacity: self.inner.capacity });
        }
        self.send(Input::Submit(txs)).map_err(consensus_error)
    }

    fn status(&self) -> Status {
        Status {
            engine: "hotstuff".into(),
            node_id: self.inner.name.clone(),
            role: self.role_now(),
            leader: self.leader_member().map(|v| v.name),
            pending: self.inner.shared.pending.load(Ordering::Acquire),
        }
    }

    fn role(&self) -> Role {
        self.role_now()
    }

    fn leader(&self) -> Option<Leader> {
        self.leader_member().map(|v| Leader { name: v.name, addr: Some(v.addr) })
    }

    /// Every running voter takes transactions (and passes them to the
    /// others); a learner forwards them to a voter.
    fn takes_submissions(&self) -> bool {
        self.is_voter() && self.is_running()
    }

    /// The voter that proposed the last committed block: live lately,
    /// where the leader of the current round may be down. The round's
    /// leader before anything committed.
    fn forward_target(&self) -> Option<Leader> {
        let id = self.inner.shared.last_proposer.load(Ordering::Acquire);
        self.member(id)
            .filter(|v| v.voter)
            .or_else(|| self.leader_member())
            .map(|v| Leader { name: v.name, addr: Some(v.addr) })
    }

    fn block_policy(&self) -> BlockPolicy {
        self.policy()
    }

    fn membership(&self) -> Option<&dyn Membership> {
        Some(self)
    }

    /// The round, the epoch, the rounds entered through a timeout
    /// certificate since start, and the voters sitting out of the leader
    /// rotation.
    fn figures(&self) -> Vec<Figure> {
        let shared = &self.inner.shared;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        vec![
            Figure { name: "round", value: n(self.round()) },
            Figure { name: "epoch", value: n(self.epoch()) },
            Figure { name: "timeout_rounds", value: n(self.stats().timeout_rounds) },
            Figure { name: "sitting_out", value: n(shared.sitting_out.load(Ordering::Acquire) as u64) },
        ]
    }

    fn shutdown(&self) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move { HotStuffEngine::shutdown(self).await.map_err(consensus_error) })
    }
}

/// Group and block-policy changes go through an epoch change each. Every
/// voter's operator asks for the same change (each call is that voter's
/// approval); it commits once a quorum of the current voters approved it,
/// and each call returns when it is in force on that member.
impl Membership for HotStuffEngine {
    fn members(&self) -> Vec<Member> {
        self.validators()
            .into_iter()
            .map(|v| Member { id: v.id, name: v.name, addr: v.addr, voter: v.voter })
            .collect()
    }

    fn add_learner(
        &self,
        id: u64,
        name: String,
        addr: String,
        public_key: Vec<u8>,
    ) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move {
            if public_key.is_empty() {
                return Err(govchain_consensus::Error::Membership(
                    "a hotstuff member needs its public key (SEC1 in the chain's suite)".into(),
                ));
            }
            let mut next = self.validators();
            next.push(Validator { id, name, addr, public_key, voter: false });
            self.change_members(next).await.map_err(consensus_error)
        })
    }

    fn promote(&self, id: u64) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move {
            let mut next = self.validators();
            match next.iter_mut().find(|v| v.id == id) {
                Some(v) => v.voter = true,
                None => return Err(govchain_consensus::Error::Membership(format!("no member {id}"))),
            }
            self.change_members(next).await.map_err(consensus_error)
        })
    }

    fn remove(&self, id: u64) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move {
            let mut next = self.validators();
            next.retain(|v| v.id != id);
            self.change_members(next).await.map_err(consensus_error)
        })
    }

    fn set_block_policy(&self, policy: BlockPolicy) -> BoxFuture<'_, govchain_consensus::Result<()>> {
        Box::pin(async move {
            policy.validate()?;
            let change = Reconfig { validators: self.validators(), policy };
            self.reconfigure(change).await.map_err(consensus_error)
        })
    }
}
