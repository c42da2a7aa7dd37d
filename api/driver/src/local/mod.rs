//! The local process driver: every node a supervised child process of the
//! platform on this machine, with its own directory, loopback address and
//! ports (`govchain up`, SPEC PRV-8's embedded driver).
//!
//! Node names are `node<i>.<org>` (`node0.market.gov`), `i` counting the
//! organization's nodes on the chain from 0 and never reused: unique in the
//! chain, a valid genesis member name and certificate common name (the org
//! domain is at most 50 characters for that). Files are laid out as
//! [`record`] describes; addresses as [`addr`] describes.
//!
//! Operations on one chain run one at a time (a second waits for the first);
//! `status`, `node_log` and `node_bundle` never wait for them.

mod addr;
mod admin;
mod process;
mod record;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

pub use admin::ConsensusMember;
use admin::{Admin, node_status};
use futures_util::{future::join_all, stream::BoxStream};
use govchain_crypto::PrivateKey;
use govchain_node::{
    config::{Genesis, GenesisCa, Member, NodeConfig},
    init::{CA_DIR, CONFIG_FILE, NODE_CERT_FILE, OPERATING_CERT_FILE, ROOT_CERT_FILE},
};
pub use process::NodeProgram;
use process::{Key, LOG_FILE, Procs};
use record::{ChainRecord, GENESIS_FILE, Layout, NodeRecord};
use tokio::sync::OwnedMutexGuard;
use tracing::{info, warn};

use crate::{
    BlockPolicy, BundleFile, ChainAccount, ChainSpec, Error, HostDriver, LogLine, LogType, NodeInfo,
    NodeRole, NodeSpec, NodeStatus, Result, SearchParams, validate,
};

/// How long a chain (or a started node) gets to answer and elect a leader.
pub const CHAIN_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new node gets to catch up with the chain before promotion.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a change waits for a leader before it is refused.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for every node to run the engine a chain switched to.
const SWITCH_WAIT: Duration = Duration::from_secs(60);
/// How often the supervisor looks at the node processes.
const TICK: Duration = Duration::from_millis(500);
/// Most log lines [`HostDriver::node_log`] returns.
const MAX_LOG_LINES: usize = 100_000;

/// A mutex guard even if a holder panicked: the data are plain records that
/// stay consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The local process driver. Cheap to clone; the nodes it started are
/// killed when the last clone is dropped (call [`HostDriver::shutdown`]
/// first to stop them gracefully).
#[derive(Debug, Clone)]
pub struct LocalDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    program: NodeProgram,
    chains: Mutex<BTreeMap<String, Arc<ChainState>>>,
    procs: Procs,
    /// Set by shutdown: the supervisor restarts nothing any more.
    stopping: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.procs.kill_all();
    }
}

#[derive(Debug)]
struct ChainState {
    /// Held by the lifecycle operation running on the chain.
    op: Arc<tokio::sync::Mutex<()>>,
    record: Mutex<ChainRecord>,
    deleted: AtomicBool,
}

impl ChainState {
    fn new(record: ChainRecord) -> Arc<ChainState> {
        Arc::new(ChainState {
            op: Arc::default(),
            record: Mutex::new(record),
            deleted: AtomicBool::new(false),
        })
    }

    fn snapshot(&self) -> ChainRecord {
        lock(&self.record).clone()
    }
}

fn key(chain: &str, name: &str) -> Key {
    (chain.to_owned(), name.to_owned())
}

fn node_failed(e: govchain_node::Error) -> Error {
    Error::Failed(e.to_string())
}

/// The loopback addresses a node's info names.
fn addrs_of(info: &NodeInfo) -> Vec<SocketAddr> {
    let api = info.api_url.trim_start_matches("http://").parse().ok();
    api.into_iter().chain(info.p2p.parse().ok()).collect()
}

impl LocalDriver {
    /// A driver keeping its chains under `root` and running nodes with
    /// `program`. Re-adopts the chains recorded under `root` (without
    /// starting them: that is [`HostDriver::resume`]) and starts the
    /// supervisor thread.
    pub fn new(root: PathBuf, program: NodeProgram) -> Result<LocalDriver> {
        if program.exe.is_absolute() && !program.exe.is_file() {
            return Err(Error::Invalid(format!("node program {} does not exist", program.exe.display())));
        }
        let layout = Layout { root };
        for dir in [layout.chains(), layout.orgs()] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        }
        let inner = Arc::new(Inner {
            layout,
            program,
            chains: Mutex::default(),
            procs: Procs::default(),
            stopping: AtomicBool::new(false),
        });
        let driver = LocalDriver { inner };
        driver.adopt();
        let weak = Arc::downgrade(&driver.inner);
        std::thread::Builder::new()
            .name("govchain-driver-supervisor".into())
            .spawn(move || supervise(weak))
            .map_err(|e| Error::Failed(format!("cannot start the supervisor thread: {e}")))?;
        Ok(driver)
    }

    /// The directory the driver keeps its chains in.
    pub fn root(&self) -> &Path {
        &self.inner.layout.root
    }

    /// A node's directory (key, certificate, config, `data/`, `node.log`, `pid`).
    pub fn node_dir(&self, chain: &str, name: &str) -> Result<PathBuf> {
        let record = self.state(chain)?.snapshot();
        let node = record.node(name)?;
        Ok(self.inner.layout.node_dir(chain, &node.info.org, name))
    }

    /// A node's log store directory and settings, from its config
    /// (`<node dir>/data/logs` unless the config says otherwise).
    fn log_dir(&self, chain: &str, name: &str) -> Result<(PathBuf, govchain_logstore::LogConfig)> {
        let dir = self.node_dir(chain, name)?;
        let config = match NodeConfig::load(&dir.join(CONFIG_FILE)) {
            Ok(c) => c.log_config(),
            Err(_) => govchain_logstore::LogConfig::new(dir.join("data").join("logs")),
        };
        Ok((config.dir.clone(), config))
    }

    /// The consensus members (voters and learners) as the chain's leader
    /// reports them; a replicated chain only.
    pub async fn consensus_members(&self, chain: &str) -> Result<Vec<ConsensusMember>> {
        let record = self.state(chain)?.snapshot();
        if !record.spec.consensus.replicated() {
            return Err(Error::Invalid(format!("chain {chain} runs solo consensus: no consensus group")));
        }
        let admin = Admin::load(&self.inner.layout.chain_dir(chain), record.spec.suite)?;
        admin.members(&leader_p2p(&record.nodes).await?).await
    }

    /// Leaves every node running but unsupervised and forgotten, as if the
    /// platform had died; a later driver's `resume` must clean up.
    #[cfg(feature = "test-utils")]
    pub fn abandon(self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.procs.abandon();
    }

    /// Loads the records on disk of chains not held yet.
    fn adopt(&self) {
        let (records, bad) = self.inner.layout.load_all();
        for (path, e) in bad {
            warn!(target: "govchain::driver", path = %path.display(), error = %e, "unreadable chain record; chain skipped");
        }
        let mut chains = lock(&self.inner.chains);
        for r in records {
            if !chains.contains_key(&r.spec.chain) {
                addr::reserve(r.nodes.iter().flat_map(|n| addrs_of(&n.info)));
                chains.insert(r.spec.chain.clone(), ChainState::new(r));
            }
        }
    }

    fn state(&self, chain: &str) -> Result<Arc<ChainState>> {
        lock(&self.inner.chains)
            .get(chain)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no chain {chain}")))
    }

    /// The chain, with its operation lock held.
    async fn locked(&self, chain: &str) -> Result<(Arc<ChainState>, OwnedMutexGuard<()>)> {
        let state = self.state(chain)?;
        let guard = state.op.clone().lock_owned().await;
        if state.deleted.load(Ordering::SeqCst) {
            return Err(Error::NotFound(format!("no chain {chain}")));
        }
        Ok((state, guard))
    }

    /// Saves `record` and makes it the chain's.
    fn commit(&self, state: &ChainState, record: ChainRecord) -> Result<()> {
        self.inner.layout.save(&record)?;
        *lock(&state.record) = record;
        Ok(())
    }

    fn dir_of(&self, chain: &str, node: &NodeRecord) -> PathBuf {
        self.inner.layout.node_dir(chain, &node.info.org, &node.info.name)
    }

    fn log_of(&self, chain: &str, node: &NodeRecord) -> String {
        self.dir_of(chain, node).join(LOG_FILE).display().to_string()
    }

    fn start_proc(&self, chain: &str, node: &NodeRecord) -> Result<()> {
        let dir = self.dir_of(chain, node);
        self.inner
            .procs
            .start(&self.inner.program, &key(chain, &node.info.name), &dir)
            .map_err(|e| Error::Failed(format!("cannot start {}: {e}", node.info.name)))
    }

    /// Stops every process of the chain at once.
    async fn stop_all(&self, chain: &str) {
        let keys = self.inner.procs.keys_of(chain);
        join_all(keys.iter().map(|k| self.inner.procs.stop(k))).await;
    }

    /// Crash counts now, so waits can tell a node died while they waited.
    fn exits(&self, chain: &str, nodes: &[NodeRecord]) -> BTreeMap<String, u32> {
        nodes
            .iter()
            .map(|n| (n.info.name.clone(), self.inner.procs.info(&key(chain, &n.info.name)).exits))
            .collect()
    }

    /// Fails if a node of `nodes` died since `exits`.
    fn check_alive(&self, chain: &str, nodes: &[NodeRecord], exits: &BTreeMap<String, u32>) -> Result<()> {
        for n in nodes {
            let p = self.inner.procs.info(&key(chain, &n.info.name));
            if p.exits > exits.get(&n.info.name).copied().unwrap_or(0) {
                return Err(Error::Failed(format!(
                    "{} exited ({}); see {}",
                    n.info.name,
                    p.last_exit.unwrap_or_default(),
                    self.log_of(chain, n)
                )));
            }
        }
        Ok(())
    }

    /// Waits until every node of `nodes` answers its status and, with
    /// `leader`, every consensus node among them knows a leader.
    async fn wait_up(
        &self,
        chain: &str,
        nodes: &[NodeRecord],
        exits: &BTreeMap<String, u32>,
        leader: bool,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive(chain, nodes, exits)?;
            let statuses = join_all(nodes.iter().map(|n| node_status(&n.info.api_url))).await;
            let down: Vec<&NodeRecord> =
                nodes.iter().zip(&statuses).filter(|(_, s)| s.is_none()).map(|(n, _)| n).collect();
            let leaderless: Vec<&NodeRecord> = nodes
                .iter()
                .zip(&statuses)
                .filter(|(n, s)| {
                    leader
                        && n.info.role == NodeRole::Consensus
                        && s.as_ref().is_some_and(|s| s.leader.is_none())
                })
                .map(|(n, _)| n)
                .collect();
            if down.is_empty() && leaderless.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let list = |v: &[&NodeRecord]| {
                    v.iter()
                        .map(|n| format!("{} (log {})", n.info.name, self.log_of(chain, n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::Failed(if down.is_empty() {
                    format!("no leader within {timeout:?}: {} know none", list(&leaderless))
                } else {
                    format!("{} did not answer within {timeout:?}", list(&down))
                }));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `node` holds every block the other nodes hold.
    async fn wait_caught_up(
        &self,
        chain: &str,
        node: &NodeRecord,
        others: &[NodeRecord],
        exits: &BTreeMap<String, u32>,
    ) -> Result<()> {
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            self.check_alive(chain, std::slice::from_ref(node), exits)?;
            let target = join_all(others.iter().map(|n| node_status(&n.info.api_url)))
                .await
                .into_iter()
                .flatten()
                .map(|s| s.height)
                .max();
            let height = node_status(&node.info.api_url).await.map(|s| s.height);
            if let (Some(h), Some(t)) = (height, target)
                && h >= t
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "{} did not catch up within {CATCH_UP_TIMEOUT:?} (height {height:?} of {target:?}); see {}",
                    node.info.name,
                    self.log_of(chain, node)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Writes the CA, admin identity, genesis and every node directory of a
    /// new chain into `record` (which holds the spec); nothing runs yet.
    fn provision(&self, record: &mut ChainRecord) -> Result<()> {
        let spec = record.spec.clone();
        let layout = &self.inner.layout;
        let dir = layout.chain_dir(&spec.chain);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        let ca =
            govchain_node::init::create_chain_ca(&dir.join(CA_DIR), spec.suite, &spec.chain, &spec.owner_org)
                .map_err(node_failed)?;
        admin::issue_identity(&dir, &ca)?;
        let replicated = spec.consensus.replicated();
        // Voters first, so genesis members get the low ids.
        let ordered = spec
            .nodes
            .iter()
            .filter(|n| n.role == NodeRole::Consensus)
            .chain(spec.nodes.iter().filter(|n| n.role == NodeRole::Backup));
        let mut planned = Vec::new();
        for n in ordered {
            let name = record.next_name(&n.org);
            let id = if replicated {
                record.next_id += 1;
                record.next_id - 1
            } else {
                0
            };
            let addrs = addr::allocate()?;
            if !replicated {
                addr::release([addrs.p2p]);
            }
            let info = NodeInfo {
                name,
                org: n.org.clone(),
                consensus_id: id,
                api_url: format!("http://{}", addrs.api),
                p2p: if replicated { addrs.p2p.to_string() } else { String::new() },
                role: n.role,
            };
            record.nodes.push(NodeRecord { info, resources: n.resources, stopped: false });
            // The key before the genesis: a member is known by its public key.
            planned.push((addrs, PrivateKey::generate(spec.suite)));
        }
        let genesis = Genesis {
            chain_id: spec.chain.clone(),
            suite: spec.suite,
            consensus: spec.consensus,
            timestamp_ms: govchain_types::now_ms(),
            organization: spec.owner_org.clone(),
            block_policy: spec.block_policy.clone(),
            ca: Some(GenesisCa {
                root_cert_pem: ca.root_cert_pem().to_owned(),
                operating_cert_pem: ca.operating_cert_pem().to_owned(),
            }),
            execution: govchain_execution::ExecutionSpec::with_evm(&spec.chain)
                .with_contract_governance(spec.contract_governance.clone()),
            members: record
                .nodes
                .iter()
                .zip(&planned)
                .filter(|(n, _)| replicated && n.info.role == NodeRole::Consensus)
                .map(|(n, (_, key))| Member {
                    id: n.info.consensus_id,
                    name: n.info.name.clone(),
                    organization: n.info.org.clone(),
                    p2p: n.info.p2p.clone(),
                    consensus_key: Member::key_hex(&key.public_key()),
                })
                .collect(),
        };
        genesis.validate().map_err(node_failed)?;
        let json =
            serde_json::to_string_pretty(&genesis).map_err(|e| Error::Failed(format!("genesis: {e}")))?;
        let path = dir.join(GENESIS_FILE);
        std::fs::write(&path, &json).map_err(|source| Error::Io { path, source })?;
        for (n, (addrs, key)) in record.nodes.iter().zip(&planned) {
            let config = node_config(&n.info, addrs, replicated && n.info.role == NodeRole::Backup);
            let node_dir = layout.node_dir(&spec.chain, &n.info.org, &n.info.name);
            govchain_node::init::write_member_dir(&node_dir, &ca, key, &n.info.org, addrs.ip, &config, &json)
                .map_err(node_failed)?;
        }
        layout.save(record)
    }

    /// Removes every file of a chain and frees its addresses.
    async fn purge_chain(&self, chain: &str, record: &ChainRecord) -> Result<()> {
        let layout = &self.inner.layout;
        for dir in layout.node_dirs(chain) {
            process::kill_stale(&dir).await;
            layout.purge(&dir)?;
        }
        layout.purge(&layout.chain_dir(chain))?;
        addr::release(record.nodes.iter().flat_map(|n| addrs_of(&n.info)));
        Ok(())
    }

    /// Starts a node just written for a running chain, adds it as a learner
    /// ([`LocalDriver::change_group`]), waits until it caught up and
    /// promotes it unless it is a backup. On failure after the learner was
    /// added, takes it out of consensus again (best effort).
    async fn join(&self, record: &ChainRecord, node: &NodeRecord) -> Result<()> {
        let chain = record.spec.chain.as_str();
        let others: Vec<NodeRecord> =
            record.nodes.iter().filter(|n| n.info.name != node.info.name).cloned().collect();
        let exits = self.exits(chain, std::slice::from_ref(node));
        self.start_proc(chain, node)?;
        self.wait_up(chain, std::slice::from_ref(node), &exits, false, CHAIN_UP_TIMEOUT).await?;
        let id = node.info.consensus_id;
        // Its key: the members of a hotstuff chain check its votes with it.
        let pub_path = self.dir_of(chain, node).join("pub.pem");
        let pem =
            std::fs::read_to_string(&pub_path).map_err(|source| Error::Io { path: pub_path, source })?;
        let key = govchain_crypto::PublicKey::from_spki_pem(&pem)
            .map_err(|e| Error::Failed(format!("{}: {e}", node.info.name)))?;
        let body = serde_json::json!({"id": id, "name": node.info.name, "addr": node.info.p2p,
            "public_key": hex::encode(key.to_sec1())});
        self.change_group(record, &others, "/admin/learner", body).await?;
        let joined = async {
            // Promote only once it holds the chain, so the group never waits on it.
            self.wait_caught_up(chain, node, &others, &exits).await?;
            if node.info.role == NodeRole::Consensus {
                self.change_group(record, &others, "/admin/promote", serde_json::json!({"id": id})).await?;
            }
            Ok(())
        }
        .await;
        if joined.is_err()
            && let Err(e) =
                self.change_group(record, &others, "/admin/remove", serde_json::json!({"id": id})).await
        {
            warn!(target: "govchain::driver", %chain, node = %node.info.name, error = %e, "cannot take a failed node out of consensus");
        }
        joined
    }

    /// Sends a change of the consensus group or its block policy: to the
    /// leader on a raft chain; on a hotstuff chain, where each call is the
    /// approval of the node it reaches, to every running consensus node of
    /// `voters` at once. It is in force once any of them answers (a quorum of voters
    /// approved it); the others' failures are logged.
    async fn change_group(
        &self,
        record: &ChainRecord,
        voters: &[NodeRecord],
        path: &str,
        body: serde_json::Value,
    ) -> Result<()> {
        let chain = record.spec.chain.as_str();
        if record.spec.consensus != govchain_types::chain::ConsensusKind::Hotstuff {
            let admin = Admin::load(&self.inner.layout.chain_dir(chain), record.spec.suite)?;
            return admin.post(|| leader_p2p(&record.nodes), path, body).await;
        }
        self.every_voter(record, voters, path, body).await
    }

    /// Sends a change to each running consensus node among `voters`: each
    /// call is that node's approval. Taken once any took it.
    async fn every_voter(
        &self,
        record: &ChainRecord,
        voters: &[NodeRecord],
        path: &str,
        body: serde_json::Value,
    ) -> Result<()> {
        let chain = record.spec.chain.as_str();
        let admin = Admin::load(&self.inner.layout.chain_dir(chain), record.spec.suite)?;
        let running: Vec<&NodeRecord> = voters
            .iter()
            .filter(|n| {
                n.info.role == NodeRole::Consensus
                    && !n.info.p2p.is_empty()
                    && self.inner.procs.info(&key(chain, &n.info.name)).state == crate::ProcessState::Running
            })
            .collect();
        let calls = running.iter().map(|n| {
            let addr = n.info.p2p.clone();
            admin.post(
                move || {
                    let addr = addr.clone();
                    async move { Ok(addr) }
                },
                path,
                body.clone(),
            )
        });
        let answers = join_all(calls).await;
        let mut first = None;
        let mut taken = false;
        for (n, answer) in running.iter().zip(answers) {
            match answer {
                Ok(()) => taken = true,
                Err(e) => {
                    warn!(target: "govchain::driver", %chain, node = %n.info.name, path, error = %e, "a voter did not take a change of the group");
                    first.get_or_insert(e);
                }
            }
        }
        match (taken, first) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(Error::Conflict(format!("chain {chain} has no running consensus node"))),
        }
    }

    /// Refuses a membership or policy change on a chain without a leader:
    /// at once when none of its consensus nodes runs, else after a few
    /// seconds' wait for an election.
    async fn require_leader(&self, chain: &str, nodes: &[NodeRecord]) -> Result<()> {
        let no_leader = || Error::Conflict(format!("chain {chain} has no leader: start it first"));
        let running = nodes.iter().any(|n| {
            n.info.role == NodeRole::Consensus
                && self.inner.procs.info(&key(chain, &n.info.name)).state == crate::ProcessState::Running
        });
        if !running {
            return Err(no_leader());
        }
        let deadline = Instant::now() + LEADER_WAIT;
        while leader_p2p(nodes).await.is_err() {
            if Instant::now() > deadline {
                return Err(no_leader());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    /// Starts the nodes of a chain and waits until they answer and have a leader.
    async fn start_nodes(&self, chain: &str, nodes: &[NodeRecord]) -> Result<()> {
        let exits = self.exits(chain, nodes);
        for n in nodes {
            self.start_proc(chain, n)?;
        }
        self.wait_up(chain, nodes, &exits, true, CHAIN_UP_TIMEOUT).await
    }
}

/// A log store refusal as the driver's: bad input is `Invalid`.
fn log_error(e: govchain_logstore::Error) -> Error {
    match e {
        govchain_logstore::Error::Invalid(m) => Error::Invalid(m),
        govchain_logstore::Error::Io { path, source } => Error::Io { path, source },
        e => Error::Failed(e.to_string()),
    }
}

/// Runs a log store call off the async threads.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> govchain_logstore::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Failed(format!("{what}: {e}")))?
        .map_err(log_error)
}

fn node_config(info: &NodeInfo, addrs: &addr::NodeAddrs, joins: bool) -> NodeConfig {
    let replicated = !info.p2p.is_empty();
    NodeConfig {
        node_id: info.name.clone(),
        listen: addrs.api,
        data_dir: "data".into(),
        key: "key.pem".into(),
        genesis: GENESIS_FILE.into(),
        mempool_capacity: 100_000,
        admission_budget_ms: govchain_node::config::DEFAULT_ADMISSION_BUDGET_MS,
        sync_timeout_ms: 30_000,
        p2p_listen: replicated.then_some(addrs.p2p),
        cert: Some(NODE_CERT_FILE.into()),
        // Genesis members take their id from the genesis.
        consensus_id: joins.then_some(info.consensus_id),
        logs: Default::default(),
    }
}

/// The leader's peer address, asking the nodes who leads.
async fn leader_p2p(nodes: &[NodeRecord]) -> Result<String> {
    let statuses = join_all(nodes.iter().map(|n| node_status(&n.info.api_url))).await;
    statuses
        .into_iter()
        .flatten()
        .filter_map(|s| s.leader)
        .find_map(|l| nodes.iter().find(|n| n.info.name == l && !n.info.p2p.is_empty()))
        .map(|n| n.info.p2p.clone())
        .ok_or_else(|| Error::Failed("no node reports a leader".into()))
}

fn supervise(weak: Weak<Inner>) {
    loop {
        std::thread::sleep(TICK);
        let Some(inner) = weak.upgrade() else { return };
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        inner.procs.tick(&inner.program);
    }
}

#[async_trait::async_trait]
impl HostDriver for LocalDriver {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn create_chain(&self, spec: &ChainSpec) -> Result<Vec<NodeInfo>> {
        validate::chain_spec(spec)?;
        let chain = spec.chain.as_str();
        let (state, _guard) = {
            let mut chains = lock(&self.inner.chains);
            if chains.contains_key(chain) || self.inner.layout.chain_dir(chain).exists() {
                return Err(Error::Conflict(format!("chain {chain} already exists")));
            }
            let record = ChainRecord {
                spec: spec.clone(),
                nodes: Vec::new(),
                next_id: 1,
                next_index: BTreeMap::new(),
            };
            let state = ChainState::new(record);
            let guard = state
                .op
                .clone()
                .try_lock_owned()
                .map_err(|_| Error::Conflict(format!("chain {chain} is being created")))?;
            chains.insert(chain.to_owned(), state.clone());
            (state, guard)
        };
        let mut record = state.snapshot();
        if let Err(e) = self.provision(&mut record) {
            // Nothing ran: leave no trace.
            state.deleted.store(true, Ordering::SeqCst);
            lock(&self.inner.chains).remove(chain);
            if let Err(p) = self.purge_chain(chain, &record).await {
                warn!(target: "govchain::driver", %chain, error = %p, "cannot remove the files of a failed chain");
            }
            return Err(e);
        }
        *lock(&state.record) = record.clone();
        info!(target: "govchain::driver", %chain, nodes = record.nodes.len(), "chain provisioned; starting");
        let voters: Vec<NodeRecord> =
            record.nodes.iter().filter(|n| n.info.role == NodeRole::Consensus).cloned().collect();
        let mut up = self.start_nodes(chain, &voters).await;
        if up.is_ok() {
            for backup in record.nodes.iter().filter(|n| n.info.role == NodeRole::Backup) {
                up = self.join(&record, backup).await;
                if up.is_err() {
                    break;
                }
            }
        }
        if let Err(e) = up {
            // The files stay for the logs; delete_chain removes them.
            self.stop_all(chain).await;
            return Err(e);
        }
        info!(target: "govchain::driver", %chain, "chain running");
        Ok(record.nodes.into_iter().map(|n| n.info).collect())
    }

    async fn start_chain(&self, chain: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        for n in &mut record.nodes {
            n.stopped = false;
        }
        self.commit(&state, record.clone())?;
        self.start_nodes(chain, &record.nodes).await
    }

    async fn stop_chain(&self, chain: &str) -> Result<()> {
        let (_state, _guard) = self.locked(chain).await?;
        self.stop_all(chain).await;
        Ok(())
    }

    async fn restart_chain(&self, chain: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        for n in &mut record.nodes {
            n.stopped = false;
        }
        self.commit(&state, record.clone())?;
        self.stop_all(chain).await;
        self.start_nodes(chain, &record.nodes).await
    }

    async fn delete_chain(&self, chain: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        state.deleted.store(true, Ordering::SeqCst);
        self.stop_all(chain).await;
        for k in self.inner.procs.keys_of(chain) {
            self.inner.procs.forget(&k);
        }
        lock(&self.inner.chains).remove(chain);
        self.purge_chain(chain, &state.snapshot()).await?;
        info!(target: "govchain::driver", %chain, "chain deleted");
        Ok(())
    }

    async fn add_node(&self, chain: &str, node: &NodeSpec) -> Result<NodeInfo> {
        validate::org_domain(&node.org)?;
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        if !record.spec.consensus.replicated() {
            return Err(Error::Invalid(format!("chain {chain} runs solo consensus: one node only")));
        }
        if record.nodes.len() >= validate::MAX_NODES {
            return Err(Error::Invalid(format!(
                "chain {chain} has {} nodes, the most a chain has",
                record.nodes.len()
            )));
        }
        self.require_leader(chain, &record.nodes).await?;
        let layout = &self.inner.layout;
        let chain_dir = layout.chain_dir(chain);
        let ca = govchain_node::init::load_chain_ca(&chain_dir.join(CA_DIR), record.spec.suite)
            .map_err(node_failed)?;
        let genesis_path = chain_dir.join(GENESIS_FILE);
        let genesis = std::fs::read_to_string(&genesis_path)
            .map_err(|source| Error::Io { path: genesis_path, source })?;
        let name = record.next_name(&node.org);
        let id = record.next_id;
        record.next_id += 1;
        let addrs = addr::allocate()?;
        let info = NodeInfo {
            name: name.clone(),
            org: node.org.clone(),
            consensus_id: id,
            api_url: format!("http://{}", addrs.api),
            p2p: addrs.p2p.to_string(),
            role: node.role,
        };
        let dir = layout.node_dir(chain, &node.org, &name);
        let config = node_config(&info, &addrs, true);
        let node_key = PrivateKey::generate(record.spec.suite);
        if let Err(e) = govchain_node::init::write_member_dir(
            &dir, &ca, &node_key, &node.org, addrs.ip, &config, &genesis,
        ) {
            addr::release([addrs.api, addrs.p2p]);
            let _ = layout.purge(&dir);
            return Err(node_failed(e));
        }
        let new = NodeRecord { info, resources: node.resources, stopped: false };
        record.nodes.push(new.clone());
        self.commit(&state, record.clone())?;
        info!(target: "govchain::driver", %chain, node = %name, org = %node.org, "adding a node");
        if let Err(e) = self.join(&record, &new).await {
            // Out of the record; its files stay for the log until the chain goes.
            let k = key(chain, &name);
            self.inner.procs.stop(&k).await;
            self.inner.procs.forget(&k);
            record.nodes.retain(|n| n.info.name != name);
            self.commit(&state, record)?;
            addr::release([addrs.api, addrs.p2p]);
            return Err(e);
        }
        info!(target: "govchain::driver", %chain, node = %name, "node joined");
        Ok(new.info)
    }

    async fn remove_node(&self, chain: &str, name: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        let node = record.node(name)?.clone();
        if !record.spec.consensus.replicated() {
            return Err(Error::Invalid(format!(
                "{name} is the only node of solo chain {chain}; delete the chain instead"
            )));
        }
        let voters = record.nodes.iter().filter(|n| n.info.role == NodeRole::Consensus).count();
        if node.info.role == NodeRole::Consensus && voters == 1 {
            return Err(Error::Invalid(format!("{name} is the last consensus node of chain {chain}")));
        }
        self.require_leader(chain, &record.nodes).await?;
        let body = serde_json::json!({"id": node.info.consensus_id});
        self.change_group(&record, &record.nodes, "/admin/remove", body).await?;
        let k = key(chain, name);
        self.inner.procs.stop(&k).await;
        self.inner.procs.forget(&k);
        let dir = self.dir_of(chain, &node);
        process::kill_stale(&dir).await;
        self.inner.layout.purge(&dir)?;
        addr::release(addrs_of(&node.info));
        record.nodes.retain(|n| n.info.name != name);
        self.commit(&state, record)?;
        info!(target: "govchain::driver", %chain, node = %name, "node removed");
        Ok(())
    }

    async fn start_node(&self, chain: &str, name: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        let node = record.node(name)?.clone();
        if let Some(n) = record.nodes.iter_mut().find(|n| n.info.name == name) {
            n.stopped = false;
        }
        self.commit(&state, record)?;
        let exits = self.exits(chain, std::slice::from_ref(&node));
        self.start_proc(chain, &node)?;
        self.wait_up(chain, std::slice::from_ref(&node), &exits, false, CHAIN_UP_TIMEOUT).await
    }

    async fn stop_node(&self, chain: &str, name: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        record.node(name)?;
        if let Some(n) = record.nodes.iter_mut().find(|n| n.info.name == name) {
            n.stopped = true;
        }
        self.commit(&state, record)?;
        self.inner.procs.stop(&key(chain, name)).await;
        Ok(())
    }

    async fn restart_node(&self, chain: &str, name: &str) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        let node = record.node(name)?.clone();
        if let Some(n) = record.nodes.iter_mut().find(|n| n.info.name == name) {
            n.stopped = false;
        }
        self.commit(&state, record)?;
        let k = key(chain, name);
        self.inner.procs.stop(&k).await;
        let exits = self.exits(chain, std::slice::from_ref(&node));
        self.start_proc(chain, &node)?;
        self.wait_up(chain, std::slice::from_ref(&node), &exits, false, CHAIN_UP_TIMEOUT).await
    }

    async fn status(&self, chain: &str) -> Result<Vec<NodeStatus>> {
        let record = self.state(chain)?.snapshot();
        let statuses = join_all(record.nodes.iter().map(|n| node_status(&n.info.api_url))).await;
        Ok(record
            .nodes
            .iter()
            .zip(statuses)
            .map(|(n, s)| {
                let p = self.inner.procs.info(&key(chain, &n.info.name));
                NodeStatus {
                    name: n.info.name.clone(),
                    org: n.info.org.clone(),
                    process: p.state,
                    reachable: s.is_some(),
                    height: s.as_ref().map(|s| s.height),
                    leader: s.as_ref().and_then(|s| s.leader.clone()),
                    role: s.map(|s| s.role),
                    restarts: p.restarts,
                    api_url: n.info.api_url.clone(),
                }
            })
            .collect())
    }

    async fn set_block_policy(&self, chain: &str, policy: &BlockPolicy) -> Result<()> {
        validate::block_policy(policy)?;
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        if !record.spec.consensus.replicated() {
            return Err(Error::Invalid(format!(
                "chain {chain} runs solo consensus, whose block policy is fixed in its genesis"
            )));
        }
        self.require_leader(chain, &record.nodes).await?;
        let body = serde_json::to_value(policy).map_err(|e| Error::Failed(format!("block policy: {e}")))?;
        self.change_group(&record, &record.nodes, "/admin/policy", body).await?;
        record.spec.block_policy = policy.clone();
        self.commit(&state, record)?;
        info!(target: "govchain::driver", %chain, ?policy, "block policy changed");
        Ok(())
    }

    async fn switch_consensus(
        &self,
        chain: &str,
        consensus: govchain_types::chain::ConsensusKind,
    ) -> Result<()> {
        let (state, _guard) = self.locked(chain).await?;
        let mut record = state.snapshot();
        let from = record.spec.consensus;
        if !from.replicated() || !consensus.replicated() {
            return Err(Error::Invalid(format!(
                "a chain switches between raft and hotstuff, not from {from} to {consensus}"
            )));
        }
        if from == consensus {
            return Err(Error::Invalid(format!("chain {chain} already runs {consensus}")));
        }
        self.require_leader(chain, &record.nodes).await?;
        let body = serde_json::json!({ "consensus": consensus });
        self.every_voter(&record, &record.nodes, "/admin/consensus", body).await?;
        // Every running consensus node goes on with the new engine.
        let running: Vec<&NodeRecord> = record
            .nodes
            .iter()
            .filter(|n| {
                self.inner.procs.info(&key(chain, &n.info.name)).state == crate::ProcessState::Running
            })
            .collect();
        let deadline = Instant::now() + SWITCH_WAIT;
        loop {
            let statuses = join_all(running.iter().map(|n| node_status(&n.info.api_url))).await;
            // Each runs it and knows its leader: the chain takes
            // transactions again.
            if statuses
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| s.consensus == consensus.as_str() && s.leader.is_some()))
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "chain {chain}: not every node runs {consensus} a minute after the switch was approved"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        record.spec.consensus = consensus;
        self.commit(&state, record)?;
        info!(target: "govchain::driver", %chain, %from, to = %consensus, "consensus engine switched");
        Ok(())
    }

    async fn node_bundle(&self, chain: &str, name: &str, include_key: bool) -> Result<Vec<BundleFile>> {
        let record = self.state(chain)?.snapshot();
        let node = record.node(name)?;
        let dir = self.dir_of(chain, node);
        let ca = self.inner.layout.chain_dir(chain).join(CA_DIR);
        let mut files = vec![
            ("node.toml".to_owned(), dir.join(CONFIG_FILE)),
            ("genesis.json".to_owned(), dir.join(GENESIS_FILE)),
            (NODE_CERT_FILE.to_owned(), dir.join(NODE_CERT_FILE)),
            (format!("ca/{ROOT_CERT_FILE}"), ca.join(ROOT_CERT_FILE)),
            (format!("ca/{OPERATING_CERT_FILE}"), ca.join(OPERATING_CERT_FILE)),
        ];
        if include_key {
            files.push(("key.pem".to_owned(), dir.join("key.pem")));
        }
        files
            .into_iter()
            .map(|(name, path)| {
                let contents = std::fs::read(&path).map_err(|source| Error::Io { path, source })?;
                Ok(BundleFile { name, contents })
            })
            .collect()
    }

    async fn account(&self, chain: &str, org: &str) -> Result<ChainAccount> {
        validate::org_domain(org)?;
        let record = self.state(chain)?.snapshot();
        let chain_dir = self.inner.layout.chain_dir(chain);
        let (suite, org) = (record.spec.suite, org.to_owned());
        tokio::task::spawn_blocking(move || admin::account(&chain_dir, suite, &org))
            .await
            .map_err(|e| Error::Failed(format!("the account: {e}")))?
    }

    async fn node_log(&self, chain: &str, name: &str, lines: usize) -> Result<String> {
        let dir = self.node_dir(chain, name)?;
        let lines = lines.min(MAX_LOG_LINES);
        let path = dir.join(LOG_FILE);
        tokio::task::spawn_blocking(move || process::tail(&dir, lines))
            .await
            .map_err(|e| Error::Failed(format!("reading the log: {e}")))?
            .map_err(|source| Error::Io { path, source })
    }

    async fn log_search(&self, chain: &str, name: &str, search: &SearchParams) -> Result<Vec<LogLine>> {
        let (dir, _) = self.log_dir(chain, name)?;
        let search = search.to_search(govchain_logstore::now_ms()).map_err(log_error)?;
        blocking("searching the log", move || govchain_logstore::search(&dir, &search)).await
    }

    async fn log_day(&self, chain: &str, name: &str, kind: LogType, date: &str) -> Result<Option<Vec<u8>>> {
        let (dir, config) = self.log_dir(chain, name)?;
        govchain_logstore::check_download_day(date, config.retention_days, govchain_logstore::today())
            .map_err(log_error)?;
        let date = date.to_owned();
        blocking("reading the log", move || govchain_logstore::read_day(&dir, kind, &date)).await
    }

    async fn log_follow(
        &self,
        chain: &str,
        name: &str,
        kind: LogType,
    ) -> Result<BoxStream<'static, LogLine>> {
        let (dir, _) = self.log_dir(chain, name)?;
        let follower =
            blocking("following the log", move || govchain_logstore::Follower::new(dir, kind)).await?;
        Ok(govchain_logstore::follow(follower))
    }

    async fn log_level(&self, chain: &str, name: &str) -> Result<String> {
        let (dir, _) = self.log_dir(chain, name)?;
        Ok(govchain_logstore::read_level(&dir)
            .unwrap_or_else(|| govchain_node::DEFAULT_LOG_FILTER.to_owned()))
    }

    async fn set_log_level(&self, chain: &str, name: &str, level: &str) -> Result<String> {
        let (dir, _) = self.log_dir(chain, name)?;
        let level = level.to_owned();
        blocking("setting the log level", move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| govchain_logstore::Error::Io { path: dir.clone(), source: e })?;
            govchain_logstore::request_level(&dir, &level)
        })
        .await
    }

    async fn resume(&self, chains: &[String]) -> Result<()> {
        self.adopt();
        // Whatever a previous run left running goes first: it holds the ports.
        let ours: Vec<u32> =
            self.inner.procs.keys().iter().filter_map(|k| self.inner.procs.info(k).pid).collect();
        let held: Vec<String> = lock(&self.inner.chains).keys().cloned().collect();
        let dirs: Vec<PathBuf> = held.iter().flat_map(|c| self.inner.layout.node_dirs(c)).collect();
        let stale = dirs.iter().filter(|d| process::stale_pid(d).is_some_and(|pid| !ours.contains(&pid)));
        let killed = join_all(stale.map(|d| process::kill_stale(d))).await;
        let killed = killed.into_iter().flatten().count();
        if killed > 0 {
            info!(target: "govchain::driver", killed, "stopped nodes left from a previous run");
        }
        let started = join_all(chains.iter().map(|chain| async move {
            let (state, _guard) = self.locked(chain).await?;
            let nodes: Vec<NodeRecord> = state.snapshot().nodes.into_iter().filter(|n| !n.stopped).collect();
            self.start_nodes(chain, &nodes).await
        }))
        .await;
        let failed: Vec<String> =
            chains.iter().zip(started).filter_map(|(c, r)| r.err().map(|e| format!("{c}: {e}"))).collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Failed(format!("resuming chains failed: {}", failed.join("; "))))
        }
    }

    async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let keys = self.inner.procs.keys();
        join_all(keys.iter().map(|k| self.inner.procs.stop(k))).await;
        info!(target: "govchain::driver", nodes = keys.len(), "every node stopped");
    }
}
