//! The online switch of a chain's consensus engine (SPEC CON-4): Raft to
//! HotStuff and back, at an agreed height, while the nodes keep running.
//!
//! - **The approvals.** A member approves a switch with a `system`
//!   transaction to [`CONTRACT`], signed with its node key (the key of its
//!   genesis member entry) and made by its own node at `/admin/consensus`.
//!   Every node executes approvals the same way: one per member counts, a
//!   transaction signed by any other key fails, and once a quorum of the
//!   group (n - floor((n-1)/3): 3 of 4) approved the same engine and block
//!   policy, the block that holds the last approval switches the chain. Its
//!   [`ConsensusRecord`] is written to the state (`system`/`consensus`).
//! - **The handover.** That block is stored with [`HANDOVER`] as its
//!   consensus metadata; from then on the store refuses every batch of the
//!   old engine (its transactions are handed to the new one), so no node
//!   applies anything of the old engine after that height. The node starts
//!   the new engine at the same ledger tip, with the group's members and
//!   the policy of the record, keeps the old one serving its peers for
//!   [`GRACE`] (the others commit the switch block through it) and stops
//!   it.
//! - **Each engine's stint** keeps its state apart: the engine that starts
//!   at switch height h keeps it under `<data_dir>/<engine>-<h>`, and
//!   HotStuff counts its epochs from h.
//!
//! Not for: changing the group while switching (the group is the genesis
//! members, or the last switch's; the node refuses to approve a switch while
//! its engine's group differs from it).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use axum::{Router, body::Body, extract::Request, response::IntoResponse};
pub use govchain_consensus::HANDOVER;
use govchain_consensus::{
    BlockPolicy, BoxFuture, Consensus, ConsensusKind, Figure, Leader, Member as GroupMember, Membership,
    Result as ConsensusResult, Role, Status,
};
use govchain_ledger::Ledger;
use govchain_types::{HexValue, StateWrite, Transaction, TxType};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;
use tower_service::Service;
use tracing::{error, info, warn};

use crate::{
    Error, Result,
    config::{Genesis, Member},
    node::lock,
};

/// The recipient of switch approvals.
pub const CONTRACT: &str = "consensus";
/// How long an engine switched away from keeps serving its peers.
pub const GRACE: Duration = Duration::from_secs(3);
/// Longest wait for the new engine's first leader before the old engine
/// stops anyway.
pub const HANDOVER_LIMIT: Duration = Duration::from_secs(15);
/// State key (contract `system`) of the record of the last switch.
const RECORD_KEY: &[u8] = b"consensus";
/// State key (contract `system`) of the approvals gathered so far.
const APPROVALS_KEY: &[u8] = b"consensus/approvals";

/// What a member approves: the engine to switch to, and the block policy
/// it starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    /// The engine after the switch (`raft` or `hotstuff`).
    pub consensus: ConsensusKind,
    /// The block policy after the switch.
    pub block_policy: BlockPolicy,
}

/// A switch that took effect, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusRecord {
    /// The engine from this height on.
    pub consensus: ConsensusKind,
    /// The height of the block that switched the chain.
    pub height: u64,
    /// The group (as genesis members: id, name, peer address, key).
    pub members: Vec<Member>,
    /// The block policy the engine started with.
    pub block_policy: BlockPolicy,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Approvals {
    request: Option<SwitchRequest>,
    approvers: Vec<String>,
}

/// Whether `tx` is a switch approval.
pub(crate) fn is_approval(tx: &Transaction) -> bool {
    tx.body.tx_type == TxType::System && tx.body.recipient == CONTRACT
}

/// The last switch on `ledger`, if the chain ever switched.
pub(crate) fn record(ledger: &Ledger) -> Result<Option<ConsensusRecord>> {
    match ledger.get("system", RECORD_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("the consensus record in the state: {e}"))),
        None => Ok(None),
    }
}

/// The genesis as the engine of `record` starts from: its kind, members
/// and policy in place of the genesis ones.
pub(crate) fn effective_genesis(genesis: &Genesis, record: Option<&ConsensusRecord>) -> Genesis {
    let mut g = genesis.clone();
    if let Some(r) = record {
        g.consensus = r.consensus;
        g.members = r.members.clone();
        g.block_policy = r.block_policy.clone();
    }
    g
}

/// Approvals a switch needs among `n` members: a BFT quorum (3 of 4, 5 of
/// 7), so the faults a group of `n` tolerates cannot switch it alone.
pub use govchain_hotstuff::types::quorum;

/// The switch approvals of one block, executed in order against the state
/// before the block.
pub(crate) struct Tally<'a> {
    genesis: &'a Genesis,
    height: u64,
    current: Option<ConsensusRecord>,
    approvals: Approvals,
    /// The switch this block made, once it did.
    pub(crate) switched: Option<ConsensusRecord>,
}

/// The outcome of one approval: its receipt output or why it failed, and
/// its state writes.
pub(crate) type Executed = (std::result::Result<Vec<u8>, String>, Vec<StateWrite>);

impl<'a> Tally<'a> {
    pub(crate) fn new(ledger: &Ledger, genesis: &'a Genesis, height: u64) -> Result<Tally<'a>> {
        let approvals = match ledger.get("system", APPROVALS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Internal(format!("switch approvals in the state: {e}")))?,
            None => Approvals::default(),
        };
        Ok(Tally { genesis, height, current: record(ledger)?, approvals, switched: None })
    }

    /// Executes one approval (its signature is already checked).
    pub(crate) fn execute(&mut self, tx: &Transaction) -> Executed {
        match self.approve(tx) {
            Ok((output, writes)) => (Ok(output), writes),
            Err(message) => (Err(message), Vec::new()),
        }
    }

    fn approve(&mut self, tx: &Transaction) -> std::result::Result<(Vec<u8>, Vec<StateWrite>), String> {
        if self.switched.is_some() {
            return Err("this block already switched the chain's consensus".into());
        }
        let group = effective_genesis(self.genesis, self.current.as_ref());
        let request: SwitchRequest =
            serde_json::from_slice(&tx.body.data).map_err(|e| format!("not a switch request: {e}"))?;
        request.block_policy.validate().map_err(|e| format!("block policy: {e}"))?;
        if !group.consensus.replicated() || !request.consensus.replicated() {
            return Err(format!(
                "a switch goes between replicated engines (raft, hotstuff), not from {} to {}",
                group.consensus, request.consensus
            ));
        }
        if request.consensus == group.consensus {
            return Err(format!("the chain already runs {}", group.consensus));
        }
        let [signer] = tx.body.signers.as_slice() else {
            return Err("an approval has exactly one signer, a member's node key".into());
        };
        let key = hex::encode(&signer.public_key);
        let member = group
            .members
            .iter()
            .find(|m| !m.consensus_key.is_empty() && m.consensus_key.eq_ignore_ascii_case(&key))
            .ok_or("the signer is not a member of the chain's consensus group")?;
        if self.approvals.request.as_ref() != Some(&request) {
            // Approvals of another switch lapse: one proposal at a time.
            self.approvals = Approvals { request: Some(request.clone()), approvers: Vec::new() };
        }
        if !self.approvals.approvers.contains(&member.name) {
            self.approvals.approvers.push(member.name.clone());
        }
        let (have, need) = (self.approvals.approvers.len(), quorum(group.members.len()));
        let mut writes = Vec::new();
        if have >= need {
            let record = ConsensusRecord {
                consensus: request.consensus,
                height: self.height,
                members: group.members.clone(),
                block_policy: request.block_policy,
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
            writes.push(write(RECORD_KEY, Some(bytes)));
            writes.push(write(APPROVALS_KEY, None));
            self.approvals = Approvals::default();
            self.current = Some(record.clone());
            self.switched = Some(record);
        } else {
            let bytes = serde_json::to_vec(&self.approvals).map_err(|e| e.to_string())?;
            writes.push(write(APPROVALS_KEY, Some(bytes)));
        }
        let output = serde_json::json!({
            "consensus": request.consensus,
            "approvals": have,
            "needed": need,
            "switched": self.switched.is_some(),
        });
        Ok((output.to_string().into_bytes(), writes))
    }
}

fn write(key: &[u8], value: Option<Vec<u8>>) -> StateWrite {
    StateWrite { contract: "system".into(), key: key.to_vec(), value: value.map(HexValue) }
}

/// Refuses a node's approval while its engine's group is not the group a
/// switch would carry over (members added or removed since genesis or the
/// last switch).
pub(crate) fn check_group(group: &[Member], running: Option<Vec<GroupMember>>) -> Result<()> {
    let Some(running) = running else { return Ok(()) };
    let mut now: Vec<(u64, &str, bool)> = running.iter().map(|m| (m.id, m.name.as_str(), m.voter)).collect();
    let mut then: Vec<(u64, &str, bool)> = group.iter().map(|m| (m.id, m.name.as_str(), true)).collect();
    now.sort_unstable();
    then.sort_unstable();
    if now != then {
        return Err(Error::Consensus(govchain_consensus::Error::Membership(
            "the consensus group changed since genesis or the last switch; a switch carries that group \
             over, so restore it first"
                .into(),
        )));
    }
    Ok(())
}

// ---- the running engine, swapped at a switch ---------------------------

/// The node's consensus: the engine running now, replaced at a switch.
pub(crate) struct Switchable {
    current: RwLock<Arc<dyn Consensus>>,
    /// Engines switched away from, still serving their peers.
    retiring: Mutex<Vec<Arc<dyn Consensus>>>,
    /// The tasks that perform and follow switches.
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Switchable {
    pub(crate) fn new(engine: Arc<dyn Consensus>) -> Switchable {
        Switchable { current: RwLock::new(engine), retiring: Mutex::default(), tasks: Mutex::default() }
    }

    pub(crate) fn current(&self) -> Arc<dyn Consensus> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `engine` in place and returns the one it replaces.
    pub(crate) fn replace(&self, engine: Arc<dyn Consensus>) -> Arc<dyn Consensus> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *current, engine);
        lock(&self.retiring).push(old.clone());
        old
    }

    /// Stops every engine switched away from now (a new switch does not
    /// wait for the grace period of the last).
    pub(crate) async fn retire_all(&self) {
        let retiring: Vec<_> = lock(&self.retiring).drain(..).collect();
        for engine in &retiring {
            stop(engine).await;
        }
    }

    /// Stops a retired engine for good.
    pub(crate) async fn retire(&self, engine: &Arc<dyn Consensus>) {
        stop(engine).await;
        lock(&self.retiring).retain(|e| !Arc::ptr_eq(e, engine));
    }

    pub(crate) fn add_task(&self, task: AbortHandle) {
        lock(&self.tasks).push(task);
    }
}

async fn stop(engine: &Arc<dyn Consensus>) {
    if let Err(e) = engine.shutdown().await {
        warn!(target: "govchain::node", error = %e, "stopping the engine switched away from");
    }
}

impl Consensus for Switchable {
    fn submit(&self, txs: Vec<Transaction>) -> ConsensusResult<()> {
        self.current().submit(txs)
    }

    fn status(&self) -> Status {
        self.current().status()
    }

    fn role(&self) -> Role {
        self.current().role()
    }

    fn leader(&self) -> Option<Leader> {
        self.current().leader()
    }

    fn takes_submissions(&self) -> bool {
        self.current().takes_submissions()
    }

    fn forward_target(&self) -> Option<Leader> {
        self.current().forward_target()
    }

    fn block_policy(&self) -> BlockPolicy {
        self.current().block_policy()
    }

    fn membership(&self) -> Option<&dyn Membership> {
        self.current().membership().is_some().then_some(self as &dyn Membership)
    }

    fn figures(&self) -> Vec<Figure> {
        self.current().figures()
    }

    fn shutdown(&self) -> BoxFuture<'_, ConsensusResult<()>> {
        Box::pin(async move {
            for task in lock(&self.tasks).drain(..) {
                task.abort();
            }
            self.retire_all().await;
            self.current().shutdown().await
        })
    }
}

fn no_membership() -> govchain_consensus::Error {
    govchain_consensus::Error::Membership("this chain's consensus group does not change".into())
}

impl Membership for Switchable {
    fn members(&self) -> Vec<GroupMember> {
        self.current().membership().map(|m| m.members()).unwrap_or_default()
    }

    fn add_learner(
        &self,
        id: u64,
        name: String,
        addr: String,
        public_key: Vec<u8>,
    ) -> BoxFuture<'_, ConsensusResult<()>> {
        let engine = self.current();
        Box::pin(async move {
            let m = engine.membership().ok_or_else(no_membership)?;
            m.add_learner(id, name, addr, public_key).await
        })
    }

    fn promote(&self, id: u64) -> BoxFuture<'_, ConsensusResult<()>> {
        let engine = self.current();
        Box::pin(async move { engine.membership().ok_or_else(no_membership)?.promote(id).await })
    }

    fn remove(&self, id: u64) -> BoxFuture<'_, ConsensusResult<()>> {
        let engine = self.current();
        Box::pin(async move { engine.membership().ok_or_else(no_membership)?.remove(id).await })
    }

    fn set_block_policy(&self, policy: BlockPolicy) -> BoxFuture<'_, ConsensusResult<()>> {
        let engine = self.current();
        Box::pin(async move { engine.membership().ok_or_else(no_membership)?.set_block_policy(policy).await })
    }
}

// ---- the engines' peer routes, swapped at a switch ---------------------

/// The first path segment of an engine's stint: `<engine>` for the engine
/// the chain began with, `<engine>-<h>` for one a switch at height h
/// started. Each stint's messages go to that stint only, so an engine that
/// runs again after a switch back never hears the old stint's members.
pub(crate) fn stint_segment(kind: ConsensusKind, stint: Option<u64>) -> String {
    match stint {
        None => kind.as_str().to_owned(),
        Some(h) => format!("{kind}-{h}"),
    }
}

/// The peer routes of the running engines, each under its stint's first
/// path segment ([`stint_segment`]); an engine switched away from keeps its
/// routes through the grace period.
#[derive(Clone, Default)]
pub(crate) struct EngineRoutes(Arc<RwLock<HashMap<String, Router>>>);

impl EngineRoutes {
    pub(crate) fn install(&self, segment: String, router: Router) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(segment, router);
    }

    pub(crate) fn remove(&self, segment: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(segment);
    }

    /// The fallback of the peer listener: the request to the engine stint
    /// its path names (under the engine's own path, `/<engine>/...`), or 404.
    pub(crate) async fn serve(self, mut request: Request<Body>) -> axum::response::Response {
        let path = request.uri().path().trim_start_matches('/');
        let (segment, rest) = path.split_once('/').unwrap_or((path, ""));
        let router = self.0.read().unwrap_or_else(|e| e.into_inner()).get(segment).cloned();
        let Some(mut router) = router else {
            return (axum::http::StatusCode::NOT_FOUND, "no such engine on this node").into_response();
        };
        if let Some((engine, _)) = segment.split_once('-') {
            let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
            match format!("/{engine}/{rest}{query}").parse() {
                Ok(uri) => *request.uri_mut() = uri,
                Err(_) => return (axum::http::StatusCode::BAD_REQUEST, "bad path").into_response(),
            }
        }
        match router.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// An engine stint's transport: its paths (`<engine>/...`) go to the same
/// stint on the peers (`<engine>-<h>/...`).
pub(crate) struct StintTransport {
    pub(crate) inner: Arc<dyn govchain_consensus::PeerTransport>,
    pub(crate) segment: String,
}

impl govchain_consensus::PeerTransport for StintTransport {
    fn send<'a>(
        &'a self,
        target: u64,
        addr: &'a str,
        path: &'a str,
        body: Vec<u8>,
    ) -> govchain_consensus::PeerReply<'a> {
        Box::pin(async move {
            let path = match path.split_once('/') {
                Some((_, rest)) => format!("{}/{rest}", self.segment),
                None => path.to_owned(),
            };
            self.inner.send(target, addr, &path, body).await
        })
    }
}

// ---- a node that missed a switch --------------------------------------

/// How often a node whose ledger stands still asks its peers whether the
/// chain switched engines without it (it was down or cut off across the
/// switch, and its engine's peers are gone).
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// The engine name a node catching up to a switch reports.
pub const WAITING: &str = "switching";
/// Most blocks one `/switch/blocks` answer carries.
pub const BLOCKS_PER_FETCH: usize = 32;

/// What a node tells a peer about its switches (`/switch/view`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwitchView {
    /// Its last switch.
    pub record: Option<ConsensusRecord>,
}

/// Blocks a peer serves a node catching up to a switch (`/switch/blocks`):
/// their canonical encodings, from the height asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SwitchBlocks {
    /// Consecutive blocks.
    pub blocks: Vec<HexValue>,
}

/// The consensus of a node catching up to a switch it missed: it orders
/// nothing until the new engine starts.
pub(crate) struct Waiting {
    node_id: String,
    policy: BlockPolicy,
}

impl Waiting {
    pub(crate) fn new(node_id: String, policy: BlockPolicy) -> Waiting {
        Waiting { node_id, policy }
    }
}

impl Consensus for Waiting {
    fn submit(&self, _txs: Vec<Transaction>) -> ConsensusResult<()> {
        Err(govchain_consensus::Error::Unavailable(
            "the node is catching up to a switch of its chain's consensus engine".into(),
        ))
    }

    fn status(&self) -> Status {
        Status {
            engine: WAITING.into(),
            node_id: self.node_id.clone(),
            role: Role::Stopped,
            leader: None,
            pending: 0,
        }
    }

    fn leader(&self) -> Option<Leader> {
        None
    }

    fn block_policy(&self) -> BlockPolicy {
        self.policy.clone()
    }
}

/// The HotStuff members of `genesis` (its members and their keys).
pub(crate) fn hotstuff_validators(genesis: &Genesis) -> Result<Vec<govchain_hotstuff::Validator>> {
    genesis
        .members
        .iter()
        .map(|m| {
            Ok(govchain_hotstuff::Validator {
                id: m.id,
                name: m.name.clone(),
                addr: m.p2p.clone(),
                public_key: m.public_key(genesis.suite)?.to_sec1(),
                voter: true,
            })
        })
        .collect()
}

/// Checks the blocks a node imports while catching up to a switch: those
/// HotStuff committed must carry a commit certificate of their epoch's
/// members (Raft stints have none: like Raft itself, the node trusts the
/// member it catches up from).
pub(crate) struct StintCheck {
    /// The HotStuff members of the block after the last one seen, while in
    /// a HotStuff stint.
    validators: Option<Vec<govchain_hotstuff::Validator>>,
}

impl StintCheck {
    /// The check of the block after `ledger`'s tip: from the start of its
    /// stint (the last switch, or genesis), the epochs HotStuff went
    /// through up to the tip.
    pub(crate) fn at_tip(ledger: &Ledger, genesis: &Genesis) -> Result<StintCheck> {
        let record = record(ledger)?;
        let group = effective_genesis(genesis, record.as_ref());
        if group.consensus != ConsensusKind::Hotstuff {
            return Ok(StintCheck { validators: None });
        }
        let mut validators = hotstuff_validators(&group)?;
        let start = record.map_or(0, |r| r.height);
        for h in start + 1..=ledger.height().unwrap_or(0) {
            let block = ledger.block_by_height(h)?.ok_or_else(|| Error::Internal(format!("no block {h}")))?;
            if let Some(next) = reconfig(&block)? {
                validators = next;
            }
        }
        Ok(StintCheck { validators: Some(validators) })
    }

    /// Refuses `block` (the next one) unless its stint's engine proves it.
    pub(crate) fn check(
        &mut self,
        block: &govchain_types::Block,
        suite: govchain_crypto::Suite,
    ) -> Result<()> {
        if let Some(validators) = &mut self.validators {
            govchain_hotstuff::verify_commit(block, suite, validators)
                .map_err(|e| Error::Internal(format!("block {} from a peer: {e}", block.header.height)))?;
            if let Some(next) = reconfig(block)? {
                *validators = next;
            }
        }
        Ok(())
    }
}

fn reconfig(block: &govchain_types::Block) -> Result<Option<Vec<govchain_hotstuff::Validator>>> {
    govchain_hotstuff::certificate::reconfig_of(block)
        .map(|r| r.map(|r| r.validators))
        .map_err(|e| Error::Internal(format!("block {}: {e}", block.header.height)))
}

/// Logs the switch a block made.
pub(crate) fn log_switch(node: &str, record: &ConsensusRecord) {
    info!(target: crate::logs::SYSTEM, node, consensus = %record.consensus, height = record.height,
        "the chain switched its consensus engine");
}

/// Logs a switch the node could not carry out.
pub(crate) fn log_failure(node: &str, record: &ConsensusRecord, e: &Error) {
    error!(target: crate::logs::SYSTEM, node, consensus = %record.consensus, height = record.height,
        error = %e, "could not start the engine the chain switched to");
}
