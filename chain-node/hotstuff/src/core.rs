//! The protocol as a pure state machine: events in (a message, a local
//! submission, the clock, a sync reply), actions out (send, broadcast,
//! sync request). Committing is the one side effect it does itself: a
//! committed batch goes to the [`BlockStore`] with the commit point in the
//! same durable write, before anything that depends on it.
//!
//! The tokio engine and the deterministic simulator drive this same code;
//! neither adds protocol logic.
//!
//! Pacemaker: the round is one above the highest QC or TC seen. The leader
//! of a round proposes once it holds the QC or TC of the round before and
//! has a reason to: a full block, a transaction that waited `max_wait`,
//! a payload in its chain not yet known committed everywhere, or a round
//! entered by a TC. Votes go to the next round's leader, who forms the QC.
//! A voter arms its round timer only while there is work (pending
//! transactions or an uncommitted payload); when it fires the voter signs
//! and broadcasts a timeout, and resends it with exponential backoff. A
//! quorum of timeouts is a TC; f + 1 timeouts of the current round make
//! a voter time out too, so an honest quorum always forms one.
//!
//! Leader reputation: a voter whose last turn as leader timed out sits
//! out of the rotation until a committed block shows it signing again
//! (see [`Core::leader_of`]), so a crashed, cut-off or mute voter stops
//! costing timed-out rounds in every rotation.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

use govchain_consensus::{Batch, BlockPolicy, BlockStore};
use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{Block, Encode, Hash, Transaction};
use tracing::{debug, warn};

use crate::{
    Error, Result, TARGET,
    certificate::{self, Hop, Link},
    safety::{SafetyRules, SafetyStorage},
    types::{
        BlockFields, CBlock, CommitPoint, Deed, DeedKind, Message, Payload, QuorumCert, Reconfig, SyncReply,
        SyncRequest, SyncRoot, Timeout, TimeoutCert, TimeoutSig, Validator, ValidatorSet, Vote, genesis_cid,
        proposal_digest, timeout_digest, vote_digest,
    },
};

/// How long a member that does not vote goes without a message before it
/// asks a voter for blocks, ms.
pub const LEARNER_POLL_MS: u64 = 2_000;

/// Most ledger blocks in one sync reply.
pub const SYNC_LEDGER_BLOCKS: u64 = 64;
/// Most bytes of ledger blocks in one sync reply (at least one is sent).
pub const SYNC_LEDGER_BYTES: usize = 16 * 1024 * 1024;
/// Round timeouts double per round entered by a TC, up to 2^this times
/// the base: long enough to ride out a slow leader, short enough that an
/// equivocating one costs seconds, not minutes.
pub const MAX_BACKOFF: u32 = 3;
/// Votes are kept for rounds at most this far ahead of the current one.
pub const MAX_ROUNDS_AHEAD: u64 = 64;
/// Blocks kept per round (an honest leader makes one; an equivocating one
/// cannot fill memory).
pub const MAX_BLOCKS_PER_ROUND: usize = 2;
/// Most uncommitted blocks in one sync reply.
pub const SYNC_TREE_BLOCKS: usize = 256;
/// Leader reputation reads the deeds of rounds at least this far behind
/// the round it picks a leader for: every member in that round has
/// committed them (a block commits two rounds after its own on the happy
/// path), so all pick the same leader.
pub const REPUTATION_LAG: u64 = 6;
/// Deeds kept per voter: enough to cover [`REPUTATION_LAG`] rounds (at
/// most two deeds a round) and the last turn before them.
const DEEDS_PER_VOTER: usize = 16;

/// Misbehaviour on purpose, for fault tests (acted on only with the
/// `byzantine` feature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fault {
    /// Two different proposals for one round as leader; two votes per round.
    pub equivocate: bool,
    /// Never vote.
    pub withhold_votes: bool,
    /// Corrupt the signatures of everything sent.
    pub bad_signatures: bool,
    /// Propose with QCs whose signers are forged or repeated.
    pub bad_certificates: bool,
    /// Send old messages again.
    pub replay: bool,
}

impl Fault {
    /// Parses a comma list of `equivocate`, `withhold-votes`,
    /// `bad-signatures`, `bad-certificates`, `replay` (or `all`).
    pub fn parse(list: &str) -> Result<Fault> {
        let mut f = Fault::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "equivocate" => f.equivocate = true,
                "withhold-votes" => f.withhold_votes = true,
                "bad-signatures" => f.bad_signatures = true,
                "bad-certificates" => f.bad_certificates = true,
                "replay" => f.replay = true,
                "all" => {
                    f = Fault {
                        equivocate: true,
                        withhold_votes: false,
                        bad_signatures: true,
                        bad_certificates: true,
                        replay: true,
                    }
                }
                other => return Err(Error::Config(format!("unknown fault `{other}`"))),
            }
        }
        Ok(f)
    }

    fn any(&self) -> bool {
        cfg!(feature = "byzantine") && *self != Fault::default()
    }
}

/// How a core runs.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This member's consensus id.
    pub id: u64,
    /// This member's name.
    pub name: String,
    /// The chain.
    pub chain_id: String,
    /// This member's signing key.
    pub key: PrivateKey,
    /// The members of the first epoch (later ones come from the commit
    /// point).
    pub validators: Vec<Validator>,
    /// Block policy.
    pub block_policy: BlockPolicy,
    /// Most transactions waiting in the mempool.
    pub queue_capacity: usize,
    /// First round timeout, ms (doubled per consecutive TC, up to 8x).
    pub round_timeout_ms: u64,
    /// How far ahead of the local clock a proposal's time may be, ms.
    pub max_clock_ahead_ms: u64,
    /// Misbehaviour (fault tests).
    pub fault: Fault,
    /// Pick leaders by reputation ([`Core::leader_of`]); false: plain
    /// round-robin (the baseline the reputation is measured against).
    pub leader_reputation: bool,
    /// The epoch a store without a commit point starts in: 0 from the
    /// chain's genesis, the switch height on a chain switched to HotStuff
    /// (so the safety rules and block ids of each stint are apart).
    pub first_epoch: u64,
}

/// What a core asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message to member `to`.
    Send {
        /// The member.
        to: u64,
        /// The message.
        msg: Message,
    },
    /// Send a message to every other member.
    Broadcast(Message),
    /// Ask member `to` for what this member lacks; the reply goes to
    /// [`Core::on_sync_reply`].
    Sync {
        /// The member.
        to: u64,
        /// The request.
        req: SyncRequest,
    },
    /// A new epoch started with these members: send to them from now on.
    Members(Vec<Validator>),
}

/// Signatures known valid: (key, digest, signature) hashed. Shared by
/// simulated members so each distinct signature is checked once.
#[derive(Debug, Clone, Default)]
pub struct SigCache(Arc<Mutex<HashSet<[u8; 32]>>>);

impl SigCache {
    const MAX: usize = 200_000;

    fn verify(&self, suite: Suite, key: &govchain_crypto::PublicKey, digest: &Hash, sig: &[u8]) -> bool {
        let mut buf = key.to_sec1();
        buf.extend_from_slice(&digest.0);
        buf.extend_from_slice(sig);
        let k = suite.hash(&buf);
        if self.0.lock().unwrap_or_else(PoisonError::into_inner).contains(&k) {
            return true;
        }
        if key.verify(&digest.0, sig).is_err() {
            return false;
        }
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if set.len() >= Self::MAX {
            set.clear();
        }
        set.insert(k);
        true
    }
}

/// Counters a driver reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Consensus blocks committed (with or without payload).
    pub committed_blocks: u64,
    /// Ledger blocks written from this member's own commits.
    pub applied: u64,
    /// Ledger blocks imported from peers.
    pub imported: u64,
    /// Transactions committed.
    pub committed_txs: u64,
    /// Rounds entered through a TC.
    pub timeout_rounds: u64,
    /// Blocks this member proposed.
    pub proposed: u64,
    /// Times this member misbehaved on purpose (fault tests).
    pub misbehaved: u64,
}

/// A block of the tree above the committed root.
#[derive(Debug, Clone)]
struct Entry {
    block: CBlock,
    tx_ids: Vec<Hash>,
}

/// The last committed block: the tree hangs from it.
#[derive(Debug, Clone)]
struct Root {
    cid: Hash,
    f: BlockFields,
    payload: bool,
    /// Whether its round was entered by a TC (false when not known: a
    /// root taken from a peer or from the commit point).
    after_tc: bool,
}

/// The votes of one round at its next leader: who voted (the first vote of
/// each voter counts), and the signatures per vote digest.
#[derive(Debug, Default)]
struct RoundVotes {
    voters: BTreeSet<u64>,
    by_digest: BTreeMap<Hash, (Vote, BTreeMap<u64, Vec<u8>>)>,
}

#[derive(Debug)]
struct Pending {
    id: Hash,
    tx: Transaction,
    bytes: usize,
    arrived_ms: u64,
}

/// The local pool of submitted and gossiped transactions.
#[derive(Debug, Default)]
struct Mempool {
    entries: VecDeque<Pending>,
    ids: HashSet<Hash>,
}

impl Mempool {
    fn remove(&mut self, ids: &[Hash]) {
        let gone: HashSet<&Hash> = ids.iter().filter(|id| self.ids.remove(*id)).collect();
        if !gone.is_empty() {
            self.entries.retain(|p| !gone.contains(&p.id));
        }
    }
}

/// One member's protocol state.
pub struct Core {
    cfg: CoreConfig,
    suite: Suite,
    vset: ValidatorSet,
    store: Arc<dyn BlockStore>,
    safety: SafetyRules,
    sigs: SigCache,
    epoch: u64,
    genesis: Hash,
    root: Root,
    tree: BTreeMap<Hash, Entry>,
    high_qc: QuorumCert,
    high_tc: Option<TimeoutCert>,
    commit_qc: Option<QuorumCert>,
    round: u64,
    proposed_round: u64,
    timed_out_round: u64,
    backoff: u32,
    timer: Option<u64>,
    leader_wait: Option<u64>,
    votes: BTreeMap<u64, RoundVotes>,
    timeouts: BTreeMap<u64, BTreeMap<u64, TimeoutSig>>,
    mempool: Mempool,
    buffered: Option<(u64, CBlock, Option<TimeoutCert>)>,
    sync_asked: Option<u64>,
    sync_misses: usize,
    verified_qcs: HashSet<[u8; 32]>,
    reputation: Vec<Deed>,
    /// When a member that does not vote next asks a voter for blocks, after
    /// that long without a message (it hears of an epoch it missed even on
    /// an idle chain).
    poll_at: u64,
    /// The block policy of the epoch.
    policy: BlockPolicy,
    /// The group change this member's operator asked for, until an epoch
    /// with it starts (a voter votes for no other).
    approved: Option<Reconfig>,
    sent: VecDeque<Message>,
    now: u64,
    out: Vec<Action>,
    stats: Stats,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("id", &self.cfg.id)
            .field("epoch", &self.epoch)
            .field("round", &self.round)
            .field("root_round", &self.root.f.round)
            .field("height", &self.root.f.height)
            .finish_non_exhaustive()
    }
}

fn store_err(e: impl std::fmt::Display) -> Error {
    Error::BlockStore(e.to_string())
}

impl Core {
    /// Opens a member over `store` (its commit point, or the ledger tip as
    /// the epoch's genesis) and its safety state.
    pub fn new(
        cfg: CoreConfig,
        store: Arc<dyn BlockStore>,
        safety: Box<dyn SafetyStorage>,
        sigs: SigCache,
        now: u64,
    ) -> Result<Core> {
        let suite = store.suite();
        if cfg.block_policy.validate().is_err() {
            return Err(Error::Config("block policy out of range".into()));
        }
        let tip =
            store.tip().map_err(store_err)?.ok_or_else(|| Error::BlockStore("no genesis block".into()))?;
        let meta = store.consensus_meta().map_err(store_err)?;
        let point = match meta {
            // Switched from another engine: the tip is this epoch's genesis.
            Some(bytes) if bytes == govchain_consensus::HANDOVER => None,
            Some(bytes) => Some(crate::types::decode::<CommitPoint>("commit point", &bytes)?),
            None => None,
        };
        let reputation = point.as_ref().map(|p| p.reputation.clone()).unwrap_or_default();
        let members = match &point {
            Some(p) if !p.validators.is_empty() => p.validators.clone(),
            _ => cfg.validators.clone(),
        };
        let vset = ValidatorSet::new(suite, members)?;
        let policy =
            point.as_ref().and_then(|p| p.policy.clone()).unwrap_or_else(|| cfg.block_policy.clone());
        let point_known = point.is_some();
        let (epoch, genesis, root, high_qc, commit_qc) = match point {
            Some(p) => {
                let commit_qc = p.high_qc.clone().filter(|qc| qc.commit == p.cid);
                let high_qc = p.high_qc.clone().unwrap_or_else(|| QuorumCert::genesis(p.epoch, p.genesis));
                let payload = p.fields.tx_root != Block::tx_root(suite, &[]);
                let root = Root { cid: p.cid, f: p.fields, payload, after_tc: false };
                (p.epoch, p.genesis, root, high_qc, commit_qc)
            }
            None => {
                let epoch = cfg.first_epoch;
                let genesis = genesis_cid(suite, &cfg.chain_id, epoch, tip.height, &tip.block_id);
                let f = BlockFields {
                    height: tip.height,
                    timestamp_ms: tip.timestamp_ms,
                    tx_root: Block::tx_root(suite, &[]),
                    ..BlockFields::default()
                };
                let root = Root { cid: genesis, f, payload: false, after_tc: false };
                (epoch, genesis, root, QuorumCert::genesis(epoch, genesis), None)
            }
        };
        if root.f.height != tip.height {
            return Err(Error::BlockStore(format!(
                "commit point at height {} but the ledger is at {}",
                root.f.height, tip.height
            )));
        }
        // A voter that committed here before (a commit point) must find its
        // safety state (a wiped or unrestored data dir is refused).
        let required = point_known && vset.is_voter(cfg.id);
        let safety = SafetyRules::open(suite, cfg.id, cfg.key.clone(), epoch, safety, required)?;
        let high_tc = safety.data().high_tc.clone().filter(|t| t.epoch == epoch);
        let high_qc = match safety.data().high_qc.clone() {
            Some(qc) if qc.epoch == epoch && qc.round > high_qc.round => qc,
            _ => high_qc,
        };
        let round = high_qc.round.max(high_tc.as_ref().map_or(0, |t| t.round)) + 1;
        let mut core = Core {
            suite,
            vset,
            store,
            safety,
            sigs,
            epoch,
            genesis,
            root,
            tree: BTreeMap::new(),
            high_qc,
            high_tc,
            commit_qc,
            round,
            proposed_round: 0,
            timed_out_round: 0,
            backoff: 0,
            timer: None,
            leader_wait: None,
            votes: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            mempool: Mempool::default(),
            buffered: None,
            sync_asked: None,
            sync_misses: 0,
            verified_qcs: HashSet::new(),
            reputation,
            poll_at: now.saturating_add(LEARNER_POLL_MS),
            policy,
            approved: None,
            sent: VecDeque::new(),
            now,
            out: Vec::new(),
            stats: Stats::default(),
            cfg,
        };
        core.restore_blocks()?;
        Ok(core)
    }

    // ----- accessors -----

    /// This member's id.
    pub fn id(&self) -> u64 {
        self.cfg.id
    }

    /// The current round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Ledger height of the last committed block.
    pub fn height(&self) -> u64 {
        self.root.f.height
    }

    /// Round and cid of the last committed block.
    pub fn committed(&self) -> (u64, Hash) {
        (self.root.f.round, self.root.cid)
    }

    /// The leader of the current round.
    pub fn leader(&self) -> u64 {
        let plain = self.plain_turn(self.round, self.high_qc.round, &self.high_qc.cid);
        self.leader_of(self.round, plain)
    }

    /// Whether block `cid` (in the tree, or the root) is from a round
    /// entered by a TC.
    fn after_tc(&self, cid: &Hash) -> bool {
        if *cid == self.root.cid {
            return self.root.after_tc;
        }
        self.tree.get(cid).is_some_and(|e| e.block.qc.round + 1 < e.block.round)
    }

    /// Whether the leader of `round`, extending the QC of `qc_round` on
    /// block `parent`, takes its turn plainly round-robin: that round or
    /// its parent's came after a timeout (what the block itself shows, so
    /// proposer and voters agree). Members whose reputations disagree make
    /// rounds time out; the two plain rounds that follow certify two
    /// blocks in a row, which commits, and the commits bring the
    /// reputations together again.
    fn plain_turn(&self, round: u64, qc_round: u64, parent: &Hash) -> bool {
        qc_round + 1 < round || self.after_tc(parent)
    }

    /// The leader of `round`: round-robin (by id) over the voters that do
    /// not sit out, or over all voters when fewer than a quorum remain or
    /// the turn is `plain` (see `plain_turn`).
    /// A voter sits out when its last deed in the rounds before
    /// `round - LAG` is a failed turn as leader; signing a QC a committed
    /// block carries (or leading one) brings it back. With no failures this
    /// is plain round-robin.
    ///
    /// A function of the committed chain alone, so members that committed
    /// the same blocks agree. One that has not committed that far yet (or
    /// took blocks from a peer's ledger) may disagree for a while, which
    /// costs liveness (a round times out), never safety: votes stay bound
    /// by the safety rules whoever proposes.
    pub fn leader_of(&self, round: u64, plain: bool) -> u64 {
        let rr = self.vset.leader(round);
        if plain || !self.cfg.leader_reputation {
            return rr;
        }
        let out = self.sitting_out(round);
        if out.is_empty() {
            return rr;
        }
        let candidates: Vec<u64> = self.vset.voter_ids().filter(|id| !out.contains(id)).collect();
        if candidates.len() < self.vset.quorum() {
            return rr;
        }
        let i = usize::try_from(round % candidates.len() as u64).unwrap_or(0);
        candidates[i]
    }

    /// The voter that proposed the last committed block, if known.
    pub fn last_proposer(&self) -> Option<u64> {
        self.id_named(&self.root.f.proposer)
    }

    /// The voters that sit out of the rotation for `round`: those whose
    /// last deed before `round - LAG` is a failed turn.
    pub fn sitting_out(&self, round: u64) -> BTreeSet<u64> {
        let hi = round.saturating_sub(REPUTATION_LAG);
        let mut out = BTreeSet::new();
        for d in self.reputation.iter().take_while(|d| d.round < hi) {
            if d.kind == DeedKind::Failed {
                out.insert(d.voter);
            } else {
                out.remove(&d.voter);
            }
        }
        out
    }

    /// Notes what the committed block of `round` shows: a failed turn for
    /// the leader of the round before when its parent (of `parent_round`,
    /// if known) is older than that, its `author` leading, its QC's
    /// `signers` signing. Blocks are noted in commit order, each once.
    fn note(&mut self, round: u64, parent: Option<(u64, Hash)>, author: Option<u64>, signers: &[u64]) {
        if self.reputation.last().is_some_and(|d| d.round >= round) {
            return;
        }
        let mut deeds = Vec::new();
        if let Some((p, parent_cid)) = parent
            && round > p + 1
        {
            let failed = round - 1;
            let voter = self.leader_of(failed, self.plain_turn(failed, p, &parent_cid));
            deeds.push(Deed { round: failed, voter, kind: DeedKind::Failed });
        }
        deeds.extend(author.map(|voter| Deed { round, voter, kind: DeedKind::Led }));
        deeds.extend(signers.iter().map(|&voter| Deed { round, voter, kind: DeedKind::Signed }));
        for d in deeds {
            if !self.vset.is_voter(d.voter) {
                continue;
            }
            self.reputation.push(d);
            let mine = self.reputation.iter().filter(|e| e.voter == d.voter).count();
            if mine > DEEDS_PER_VOTER
                && let Some(oldest) = self.reputation.iter().position(|e| e.voter == d.voter)
            {
                self.reputation.remove(oldest);
            }
        }
    }

    /// The voter id of the member named `name`.
    fn id_named(&self, name: &str) -> Option<u64> {
        self.vset.members().iter().find(|v| v.name == name).map(|v| v.id)
    }

    /// Whether this member votes.
    pub fn is_voter(&self) -> bool {
        self.vset.is_voter(self.cfg.id)
    }

    /// The members.
    pub fn validators(&self) -> &ValidatorSet {
        &self.vset
    }

    /// The change of the group this member's operator approves: this
    /// member proposes it when it leads, and votes for no other. Refused
    /// unless it is one step from the current members
    /// ([`Reconfig::check_step`]).
    pub fn approve(&mut self, next: Reconfig, now: u64) -> Result<Vec<Action>> {
        self.now = self.now.max(now);
        next.check_step(self.suite, &self.vset, &self.policy)?;
        self.approved = Some(next);
        self.finish(Ok(()))
    }

    /// Whether the uncommitted chain ending at `cid` holds a block that
    /// ends the epoch (the blocks after it order nothing).
    fn epoch_ending(&self, mut cid: Hash) -> bool {
        while let Some(e) = self.tree.get(&cid) {
            if e.block.payload.reconfig.is_some() {
                return true;
            }
            cid = e.block.parent();
        }
        false
    }

    /// Transactions waiting here.
    pub fn pending(&self) -> usize {
        self.mempool.entries.len()
    }

    /// The block policy in force.
    pub fn policy(&self) -> &BlockPolicy {
        &self.policy
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Round of the highest QC.
    pub fn high_qc_round(&self) -> u64 {
        self.high_qc.round
    }

    /// A one-line account of the state, for failure reports.
    pub fn describe(&self) -> String {
        format!(
            "id {} epoch {} round {} leader {} out {:?} high_qc {} high_tc {} root r{}/h{} tree {} pending {} timer {:?} wait {:?} voted {} proposed {} sync {:?}",
            self.cfg.id,
            self.epoch,
            self.round,
            self.leader(),
            self.sitting_out(self.round),
            self.high_qc.round,
            self.high_tc.as_ref().map_or(0, |t| t.round),
            self.root.f.round,
            self.root.f.height,
            self.tree.len(),
            self.mempool.entries.len(),
            self.timer.map(|t| t.saturating_sub(self.now)),
            self.leader_wait.map(|t| t.saturating_sub(self.now)),
            self.safety.data().last_voted_round,
            self.proposed_round,
            self.sync_asked.map(|t| self.now.saturating_sub(t)),
        )
    }

    /// When [`Core::on_tick`] is next due (ms), if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        let retry = if self.needs_sync() {
            Some(self.sync_asked.map_or(self.now, |at| at.saturating_add(self.cfg.round_timeout_ms)))
        } else {
            None
        };
        let poll = (!self.is_voter()).then_some(self.poll_at);
        [self.timer, self.leader_wait, retry, poll].into_iter().flatten().min()
    }

    // ----- events -----

    /// A message from member `from`. Invalid messages are dropped (logged);
    /// only a failing store is an error.
    pub fn on_message(&mut self, from: u64, msg: Message, now: u64) -> Result<Vec<Action>> {
        self.now = self.now.max(now);
        // A member that hears from the group needs no poll.
        self.poll_at = self.now.saturating_add(LEARNER_POLL_MS);
        if self.cfg.fault.replay && self.cfg.fault.any() && !matches!(msg, Message::Txs(_)) {
            self.sent.push_back(msg.clone());
            if self.sent.len() > 64 {
                self.sent.pop_front();
            }
        }
        let res = match msg {
            Message::Proposal { block, tc } => self.on_proposal(from, block, tc),
            Message::Vote(v) => self.on_vote(v),
            Message::Timeout(t) => self.on_timeout(from, t),
            Message::Certs { high_qc, high_tc } => self.on_certs(from, high_qc, high_tc),
            Message::Txs(txs) => {
                if self.is_voter() {
                    // Full or repeated: the submitter's own pool still has them.
                    let _ = self.add_to_mempool(txs);
                }
                Ok(())
            }
        };
        self.finish(res)
    }

    /// Transactions submitted here: queued, and gossiped to the other
    /// voters. [`Error::Consensus`] `Overloaded` when the pool is full.
    pub fn submit(&mut self, txs: Vec<Transaction>, now: u64) -> Result<Vec<Action>> {
        self.now = self.now.max(now);
        let added = self.add_to_mempool(txs)?;
        if !added.is_empty() {
            self.out.push(Action::Broadcast(Message::Txs(added)));
        }
        self.finish(Ok(()))
    }

    /// The clock moved on.
    pub fn on_tick(&mut self, now: u64) -> Result<Vec<Action>> {
        self.now = self.now.max(now);
        let mut res = Ok(());
        if self.timer.is_some_and(|t| t <= self.now) {
            self.timer = None;
            res = self.local_timeout();
            if self.timer.is_none() {
                self.arm(true);
            }
        }
        if !self.is_voter() && self.poll_at <= self.now {
            self.poll_at = self.now.saturating_add(LEARNER_POLL_MS);
            let me = self.cfg.id;
            self.sync_misses += 1;
            self.request_sync(me);
        }
        if self.needs_sync()
            && self.sync_asked.is_none_or(|at| at.saturating_add(self.cfg.round_timeout_ms) <= self.now)
        {
            // The last request got no useful answer: ask another member.
            self.sync_misses += 1;
            let me = self.cfg.id;
            self.request_sync(me);
        }
        if self.cfg.fault.replay && self.cfg.fault.any() {
            let n = self.sent.len();
            if n > 0 {
                let msg = self.sent[usize::try_from(self.now).unwrap_or(0) % n].clone();
                self.out.push(Action::Broadcast(msg));
                self.stats.misbehaved += 1;
            }
        }
        self.finish(res)
    }

    /// What this member sends a peer that asked to catch up.
    pub fn serve_sync(&self, req: SyncRequest) -> Result<SyncReply> {
        if req.epoch > self.epoch {
            return Ok(SyncReply::default());
        }
        // An asker in an older epoch gets ledger blocks only: it follows
        // the epochs through them.
        let older = req.epoch < self.epoch;
        let mut reply = SyncReply { high_qc: (!older).then(|| self.high_qc.clone()), ..SyncReply::default() };
        let to = self.root.f.height.min(req.ledger_from.saturating_add(SYNC_LEDGER_BLOCKS - 1));
        let mut bytes = 0;
        for h in req.ledger_from.max(1)..=to {
            let Some(b) = self.store.block_bytes(h).map_err(store_err)? else { break };
            bytes += b.len();
            reply.ledger.push(b);
            if bytes >= SYNC_LEDGER_BYTES {
                break;
            }
        }
        if older {
            return Ok(reply);
        }
        if let Some(commit_qc) = &self.commit_qc {
            reply.root = Some(SyncRoot { fields: self.root.f.clone(), commit_qc: commit_qc.clone() });
        }
        let mut blocks: Vec<&Entry> = self.tree.values().collect();
        blocks.sort_by_key(|e| e.block.round);
        let mut bytes = 0;
        for e in blocks.into_iter().take(SYNC_TREE_BLOCKS) {
            // Parents first: a cut keeps what was sent usable.
            bytes += e.block.payload.transactions.iter().map(|t| t.encode().len()).sum::<usize>();
            reply.blocks.push(e.block.clone());
            if bytes >= SYNC_LEDGER_BYTES {
                break;
            }
        }
        Ok(reply)
    }

    /// A peer's answer to this member's sync request.
    pub fn on_sync_reply(&mut self, from: u64, reply: SyncReply, now: u64) -> Result<Vec<Action>> {
        self.now = self.now.max(now);
        let res = self.apply_sync(from, reply);
        let res = match res {
            Ok(()) => match self.buffered.take() {
                Some((from, block, tc)) => self.on_proposal(from, block, tc),
                None => Ok(()),
            },
            e => e,
        };
        let helped = res.is_ok() && self.buffered.is_none() && self.info(&self.high_qc.cid).is_some();
        self.sync_misses = if helped { 0 } else { self.sync_misses + 1 };
        // The next request may go out soon, not at once: a burst of
        // messages naming the same missing block asks once.
        self.sync_asked = Some(self.now.saturating_sub(self.cfg.round_timeout_ms).saturating_add(20));
        self.finish(res)
    }

    fn finish(&mut self, res: Result<()>) -> Result<Vec<Action>> {
        match res {
            Ok(()) => {}
            Err(e @ (Error::BlockStore(_) | Error::Storage(_))) => return Err(e),
            Err(e) => debug!(target: TARGET, id = self.cfg.id, error = %e, "message dropped"),
        }
        if let Err(e) = self.try_propose() {
            match e {
                Error::BlockStore(_) | Error::Storage(_) => return Err(e),
                e => debug!(target: TARGET, id = self.cfg.id, error = %e, "no proposal"),
            }
        }
        if self.timer.is_none() {
            self.arm(false);
        }
        Ok(std::mem::take(&mut self.out))
    }

    // ----- checks -----

    fn verify_sig(&self, voter: u64, digest: &Hash, sig: &[u8]) -> Result<()> {
        let key = self.vset.key(voter).ok_or_else(|| Error::Invalid(format!("{voter} is not a voter")))?;
        if self.sigs.verify(self.suite, key, digest, sig) {
            Ok(())
        } else {
            Err(Error::Invalid(format!("signature of {voter}")))
        }
    }

    fn verify_qc(&mut self, qc: &QuorumCert) -> Result<()> {
        if qc.epoch != self.epoch {
            return Err(Error::Invalid(format!("QC of epoch {}", qc.epoch)));
        }
        if qc.round == 0 {
            if qc.cid == self.genesis && qc.votes.is_empty() && qc.commit == Hash::ZERO {
                return Ok(());
            }
            return Err(Error::Invalid("QC of round 0 is not the genesis".into()));
        }
        let key = self.suite.hash(&qc.encode());
        if self.verified_qcs.contains(&key) {
            return Ok(());
        }
        if qc.votes.len() < self.vset.quorum() || qc.votes.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Invalid(format!("QC of round {}: too few or repeated signers", qc.round)));
        }
        let digest = qc.digest(self.suite);
        for (voter, sig) in &qc.votes {
            self.verify_sig(*voter, &digest, sig)?;
        }
        if self.verified_qcs.len() > 10_000 {
            self.verified_qcs.clear();
        }
        self.verified_qcs.insert(key);
        Ok(())
    }

    fn verify_tc(&self, tc: &TimeoutCert) -> Result<()> {
        if tc.epoch != self.epoch {
            return Err(Error::Invalid(format!("TC of epoch {}", tc.epoch)));
        }
        if tc.signers.len() < self.vset.quorum() || tc.signers.windows(2).any(|w| w[0].voter >= w[1].voter) {
            return Err(Error::Invalid(format!("TC of round {}: too few or repeated signers", tc.round)));
        }
        for s in &tc.signers {
            let digest = timeout_digest(self.suite, tc.epoch, tc.round, s.high_qc_round);
            self.verify_sig(s.voter, &digest, &s.signature)?;
        }
        Ok(())
    }

    // ----- the block tree -----

    /// (round, height, timestamp, payload?) of a block in the tree or the
    /// root.
    fn info(&self, cid: &Hash) -> Option<(u64, u64, u64, bool)> {
        if *cid == self.root.cid {
            return Some((
                self.root.f.round,
                self.root.f.height,
                self.root.f.timestamp_ms,
                self.root.payload,
            ));
        }
        self.tree.get(cid).map(|e| {
            (e.block.round, e.block.height, e.block.payload.timestamp_ms, e.block.payload.is_ledger())
        })
    }

    /// Tx ids in the uncommitted chain ending at `cid` (inclusive).
    fn chain_tx_ids(&self, mut cid: Hash) -> HashSet<Hash> {
        let mut out = HashSet::new();
        while let Some(e) = self.tree.get(&cid) {
            out.extend(e.tx_ids.iter().copied());
            cid = e.block.parent();
        }
        out
    }

    /// Whether the chain ending at `cid` holds a payload not yet known
    /// committed by everyone: one in the uncommitted part, or in `cid` or
    /// its parent (a QC on them is what commits a payload everywhere).
    fn chain_needs_commit(&self, cid: Hash) -> bool {
        let mut at = cid;
        let mut depth = 0;
        loop {
            match self.tree.get(&at) {
                Some(e) => {
                    if e.block.payload.is_ledger() {
                        return true;
                    }
                    at = e.block.parent();
                }
                None => {
                    return depth < 2 && at == self.root.cid && self.info(&at).is_some_and(|i| i.3);
                }
            }
            depth += 1;
        }
    }

    fn has_work(&self) -> bool {
        (self.is_voter() && (!self.mempool.entries.is_empty() || self.approved.is_some()))
            || self.tree.values().any(|e| e.block.payload.is_ledger())
    }

    /// Checks a block against its parent and the ledger (no signatures).
    fn validate_block(&self, block: &CBlock) -> Result<()> {
        let Some((parent_round, parent_height, parent_ts, _)) = self.info(&block.parent()) else {
            return Err(Error::Invalid("unknown parent".into()));
        };
        if parent_round != block.qc.round || block.round <= parent_round {
            return Err(Error::Invalid("QC round does not match the parent".into()));
        }
        let txs = &block.payload.transactions;
        if self.epoch_ending(block.parent()) && block.payload.is_ledger() {
            return Err(Error::Invalid("a block after the end of its epoch orders something".into()));
        }
        if let Some(next) = &block.payload.reconfig {
            next.check_step(self.suite, &self.vset, &self.policy)?;
        }
        if block.height != parent_height + u64::from(block.payload.is_ledger()) {
            return Err(Error::Invalid(format!(
                "height {} after parent height {parent_height}",
                block.height
            )));
        }
        let ts = block.payload.timestamp_ms;
        if ts < parent_ts || ts > self.now.saturating_add(self.cfg.max_clock_ahead_ms) {
            return Err(Error::Invalid(format!("block time {ts} (parent {parent_ts}, clock {})", self.now)));
        }
        let author = self.vset.member(block.author).map(|v| v.name.as_str());
        if author != Some(block.payload.proposer.as_str()) {
            return Err(Error::Invalid("proposer name is not the author's".into()));
        }
        let policy = &self.policy;
        if txs.len() > policy.max_txs {
            return Err(Error::Invalid(format!("{} transactions", txs.len())));
        }
        let bytes: usize = txs.iter().map(|t| t.encode().len()).sum();
        if bytes > policy.max_bytes {
            return Err(Error::Invalid(format!("{bytes} payload bytes")));
        }
        if !txs.is_empty() {
            let ancestors = self.chain_tx_ids(block.parent());
            let mut seen = HashSet::new();
            for tx in txs {
                let id = tx.id(self.suite);
                if !seen.insert(id)
                    || ancestors.contains(&id)
                    || self.store.contains_tx(&id).map_err(store_err)?
                {
                    return Err(Error::Invalid(format!("transaction {id} repeated")));
                }
            }
        }
        Ok(())
    }

    /// Adds a checked block to the tree, durably (before any vote on it).
    fn insert(&mut self, block: CBlock, cid: Hash) -> Result<()> {
        self.safety.save_block(&cid, &block.encode())?;
        let tx_ids = block.payload.transactions.iter().map(|t| t.id(self.suite)).collect();
        self.tree.insert(cid, Entry { block, tx_ids });
        Ok(())
    }

    // ----- proposals and votes -----

    fn on_proposal(&mut self, from: u64, block: CBlock, tc: Option<TimeoutCert>) -> Result<()> {
        if block.epoch > self.epoch {
            // The group moved on without this member: its ledger shows how.
            self.request_sync(from);
            return Ok(());
        }
        if block.epoch != self.epoch {
            return Err(Error::Invalid(format!("proposal of epoch {}", block.epoch)));
        }
        // The leader check needs the parent (a proposal waiting for it is
        // checked when it comes back after the sync).
        if self.info(&block.parent()).is_some()
            && block.author
                != self.leader_of(block.round, self.plain_turn(block.round, block.qc.round, &block.parent()))
        {
            return Err(Error::Invalid(format!("{} does not lead round {}", block.author, block.round)));
        }
        let cid = block.cid(self.suite, &self.cfg.chain_id);
        // A block already in the tree is a repeat, or came first with a sync
        // reply (a member that timed out asks a peer to sync, and the peer
        // may answer with the proposal it just made): the proposal still
        // asks for this member's vote unless it voted or timed out in that
        // round already.
        let known = self.tree.contains_key(&cid);
        if block.round <= self.root.f.round || (known && self.safety.data().last_voted_round >= block.round) {
            return Ok(());
        }
        if !known
            && self.tree.values().filter(|e| e.block.round == block.round).count() >= MAX_BLOCKS_PER_ROUND
        {
            return Err(Error::Invalid(format!("too many blocks for round {}", block.round)));
        }
        self.verify_sig(block.author, &proposal_digest(self.suite, &cid), &block.signature)?;
        self.verify_qc(&block.qc)?;
        if let Some(tc) = &tc {
            self.verify_tc(tc)?;
        }
        self.process_qc(&block.qc, from)?;
        if let Some(tc) = &tc {
            self.process_tc(tc);
        }
        if block.round != self.round {
            if known {
                return Ok(());
            }
            return Err(Error::Invalid(format!("proposal of round {} in round {}", block.round, self.round)));
        }
        if self.info(&block.parent()).is_none() {
            self.buffered = Some((from, block, tc));
            self.request_sync(from);
            return Ok(());
        }
        let grand_round = self.tree.get(&block.parent()).map_or(0, |e| e.block.qc.round);
        if !known {
            self.validate_block(&block)?;
            self.insert(block.clone(), cid)?;
        }
        if !self.is_voter() {
            return Ok(());
        }
        if let Some(next) = &block.payload.reconfig
            && self.approved.as_ref() != Some(next)
        {
            debug!(target: TARGET, id = self.cfg.id, round = block.round, "vote refused: group change not approved here");
            return Ok(());
        }
        if self.cfg.fault.withhold_votes && self.cfg.fault.any() {
            self.stats.misbehaved += 1;
            return Ok(());
        }
        let entering_tc = tc.as_ref().or(self.high_tc.as_ref()).filter(|t| t.round + 1 == block.round);
        let mut vote = match self.safety.vote(&block, cid, grand_round, entering_tc) {
            Ok(vote) => vote,
            Err(Error::Unsafe(reason)) => {
                debug!(target: TARGET, id = self.cfg.id, round = block.round, reason, "vote refused");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let next = self.leader_of(block.round + 1, self.after_tc(&cid));
        if self.cfg.fault.any() {
            if self.cfg.fault.bad_signatures {
                corrupt(&mut vote.signature);
                self.stats.misbehaved += 1;
            }
            if self.cfg.fault.equivocate {
                // A second vote, for a block that does not exist.
                let fake = Hash(self.suite.hash(&cid.0));
                let digest = vote_digest(self.suite, vote.epoch, vote.round, &fake, &vote.commit);
                if let Ok(signature) = self.cfg.key.sign(&digest.0) {
                    let v2 = Vote { cid: fake, signature, ..vote.clone() };
                    self.stats.misbehaved += 1;
                    self.send_or_handle(next, Message::Vote(v2))?;
                }
            }
        }
        self.send_or_handle(next, Message::Vote(vote))
    }

    fn send_or_handle(&mut self, to: u64, msg: Message) -> Result<()> {
        if to == self.cfg.id {
            match msg {
                Message::Vote(v) => self.on_vote(v),
                _ => Ok(()),
            }
        } else {
            self.out.push(Action::Send { to, msg });
            Ok(())
        }
    }

    fn on_vote(&mut self, vote: Vote) -> Result<()> {
        if vote.epoch != self.epoch || self.leader_of(vote.round + 1, self.after_tc(&vote.cid)) != self.cfg.id
        {
            return Err(Error::Invalid("vote not for this member".into()));
        }
        if vote.round + 1 < self.round || vote.round > self.round + MAX_ROUNDS_AHEAD {
            return Ok(());
        }
        let digest = vote_digest(self.suite, vote.epoch, vote.round, &vote.cid, &vote.commit);
        self.verify_sig(vote.voter, &digest, &vote.signature)?;
        let RoundVotes { voters, by_digest } = self.votes.entry(vote.round).or_default();
        if !voters.insert(vote.voter) {
            return Ok(());
        }
        let round = vote.round;
        let voter = vote.voter;
        let sig = vote.signature.clone();
        let slot = by_digest.entry(digest).or_insert_with(|| (vote, BTreeMap::new()));
        slot.1.insert(voter, sig);
        if slot.1.len() != self.vset.quorum() {
            return Ok(());
        }
        let v = &slot.0;
        let qc = QuorumCert {
            epoch: v.epoch,
            round,
            cid: v.cid,
            commit: v.commit,
            votes: slot.1.iter().map(|(id, s)| (*id, s.clone())).collect(),
        };
        let key = self.suite.hash(&qc.encode());
        self.verified_qcs.insert(key);
        self.process_qc(&qc, voter)
    }

    // ----- certificates, commits, rounds -----

    fn process_qc(&mut self, qc: &QuorumCert, from: u64) -> Result<()> {
        if qc.round > self.high_qc.round {
            let parent_round = match self.tree.get(&qc.cid) {
                Some(e) => {
                    if e.block.round != qc.round {
                        return Err(Error::Invalid("QC round differs from its block's".into()));
                    }
                    e.block.qc.round
                }
                None => 0,
            };
            self.high_qc = qc.clone();
            self.safety.observe_qc(qc, parent_round);
            if self.info(&qc.cid).is_none() {
                self.request_sync(from);
            }
        }
        if qc.commit != Hash::ZERO && qc.round > self.root.f.round + 1 {
            if let Some(e) = self.tree.get(&qc.cid)
                && e.block.parent() != qc.commit
            {
                return Err(Error::Invalid("QC commit cid is not its block's parent".into()));
            }
            if self.tree.contains_key(&qc.commit) {
                self.commit(qc.commit, qc)?;
            } else if qc.commit != self.root.cid {
                self.request_sync(from);
            }
        }
        self.advance();
        Ok(())
    }

    fn process_tc(&mut self, tc: &TimeoutCert) {
        if self.high_tc.as_ref().is_none_or(|h| tc.round > h.round) {
            self.high_tc = Some(tc.clone());
        }
        self.advance();
    }

    fn advance(&mut self) {
        let tc_round = self.high_tc.as_ref().map_or(0, |t| t.round);
        let next = self.high_qc.round.max(tc_round) + 1;
        if next <= self.round {
            return;
        }
        let by_tc = tc_round > self.high_qc.round;
        if by_tc {
            self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
            self.stats.timeout_rounds += 1;
        } else {
            self.backoff = 0;
        }
        self.round = next;
        self.timer = None;
        self.leader_wait = None;
        let keep = next.saturating_sub(2);
        self.votes = self.votes.split_off(&keep);
        self.timeouts = self.timeouts.split_off(&next.saturating_sub(1));
        self.arm(false);
    }

    fn arm(&mut self, resend: bool) {
        if !self.is_voter() || !(resend || self.has_work()) {
            return;
        }
        let ms = self.cfg.round_timeout_ms.saturating_mul(1 << self.backoff);
        self.timer = Some(self.now.saturating_add(ms));
    }

    /// Commits `cid` and its uncommitted ancestors, in order, with `qc`
    /// (whose commit cid is `cid`) as their certificate.
    fn commit(&mut self, cid: Hash, qc: &QuorumCert) -> Result<()> {
        let mut chain = Vec::new();
        let mut at = cid;
        while at != self.root.cid {
            let Some(e) = self.tree.get(&at) else {
                // A gap below: the blocks come with a sync.
                return Ok(());
            };
            chain.push(at);
            at = e.block.parent();
        }
        chain.reverse();
        // The blocks from each one's child up to `cid`, for its link.
        let hops: Vec<(Hop, Option<Hash>)> = chain
            .iter()
            .filter_map(|c| self.tree.get(c))
            .map(|e| {
                let hop = Hop {
                    round: e.block.round,
                    height: e.block.height,
                    tx_root: Block::tx_root(self.suite, &e.block.payload.transactions),
                    timestamp_ms: e.block.payload.timestamp_ms,
                    proposer: e.block.payload.proposer.clone(),
                };
                (hop, e.block.payload.reconfig.as_ref().map(|r| r.digest(self.suite)))
            })
            .collect();
        for (i, c) in chain.iter().enumerate() {
            let Some(entry) = self.tree.get(c).cloned() else { continue };
            let b = &entry.block;
            let signers: Vec<u64> = b.qc.votes.iter().map(|(id, _)| *id).collect();
            self.note(b.round, Some((b.qc.round, b.parent())), Some(b.author), &signers);
            let fields = BlockFields::of(b, self.suite);
            let (point, ends_epoch) =
                self.point_of(*c, &fields, Some(qc.clone()), b.payload.reconfig.as_ref())?;
            if b.payload.is_ledger() {
                let later = &hops[i + 1..];
                let link = Link {
                    epoch: b.epoch,
                    round: b.round,
                    parent: b.parent(),
                    cert_round: qc.round,
                    cert_cid: qc.cid,
                    hops: later.iter().map(|(h, _)| h.clone()).collect(),
                    reconfig: b.payload.reconfig.clone(),
                    hop_reconfigs: later
                        .iter()
                        .enumerate()
                        .filter_map(|(at, (_, d))| d.map(|d| (at as u64, d)))
                        .collect(),
                };
                let batch = Batch {
                    transactions: b.payload.transactions.clone(),
                    timestamp_ms: b.payload.timestamp_ms,
                    proposer: b.payload.proposer.clone(),
                    certificate: certificate::certificate(&link, qc, &self.vset),
                };
                let tip = self.store.apply_batch(batch, Some(&point.encode())).map_err(store_err)?;
                if tip.height != b.height {
                    warn!(target: TARGET, id = self.cfg.id, want = b.height, got = tip.height, "ledger height differs");
                }
                self.mempool.remove(&entry.tx_ids);
                self.stats.applied += 1;
                self.stats.committed_txs += b.payload.transactions.len() as u64;
            } else if i + 1 == chain.len() {
                self.store.put_meta(&point.encode()).map_err(store_err)?;
            }
            self.stats.committed_blocks += 1;
            if ends_epoch {
                // The others commit it on the certificate that committed it
                // here (they may have seen only this member's copy: the QC
                // formed at this leader), and go on into the next epoch with
                // it, before this member's first message of that epoch.
                // What follows the block in this epoch orders nothing.
                self.out.push(Action::Broadcast(Message::Certs { high_qc: qc.clone(), high_tc: None }));
                return self.start_epoch(point);
            }
            let after_tc = b.qc.round + 1 < b.round;
            self.root = Root { cid: *c, f: fields, payload: b.payload.is_ledger(), after_tc };
        }
        self.commit_qc = Some(qc.clone());
        self.prune()?;
        debug!(target: TARGET, id = self.cfg.id, round = self.root.f.round, height = self.root.f.height, "committed");
        Ok(())
    }

    /// The commit point to store with the committed block `cid` (of
    /// `fields`, committed by `high_qc` when known), and whether the block
    /// ends its epoch: when it carries `reconfig`, the point starts the
    /// next epoch instead (its genesis is that block; its members and
    /// policy the reconfiguration's), so a restart resumes there.
    fn point_of(
        &self,
        cid: Hash,
        fields: &BlockFields,
        high_qc: Option<QuorumCert>,
        reconfig: Option<&Reconfig>,
    ) -> Result<(CommitPoint, bool)> {
        let Some(r) = reconfig else {
            let point = CommitPoint {
                epoch: self.epoch,
                genesis: self.genesis,
                cid,
                fields: fields.clone(),
                high_qc,
                reputation: self.reputation.clone(),
                validators: self.vset.members().to_vec(),
                policy: Some(self.policy.clone()),
            };
            return Ok((point, false));
        };
        let next = r.check_step(self.suite, &self.vset, &self.policy)?;
        let epoch = self.epoch + 1;
        let genesis = genesis_cid(self.suite, &self.cfg.chain_id, epoch, fields.height, &cid);
        let point = CommitPoint {
            epoch,
            genesis,
            cid: genesis,
            fields: BlockFields {
                height: fields.height,
                timestamp_ms: fields.timestamp_ms,
                tx_root: Block::tx_root(self.suite, &[]),
                ..BlockFields::default()
            },
            high_qc: None,
            reputation: Vec::new(),
            validators: next.members().to_vec(),
            policy: Some(r.policy.clone()),
        };
        Ok((point, true))
    }

    /// Enters the epoch `point` starts (already stored with the block that
    /// ended the last one): its members, rounds from 1, an empty tree.
    fn start_epoch(&mut self, point: CommitPoint) -> Result<()> {
        self.vset = ValidatorSet::new(self.suite, point.validators.clone())?;
        if let Some(policy) = &point.policy {
            self.policy = policy.clone();
        }
        self.safety.enter_epoch(point.epoch)?;
        self.epoch = point.epoch;
        self.genesis = point.genesis;
        self.root = Root { cid: point.cid, f: point.fields, payload: false, after_tc: false };
        self.high_qc = QuorumCert::genesis(self.epoch, self.genesis);
        self.high_tc = None;
        self.commit_qc = None;
        self.round = 1;
        self.proposed_round = 0;
        self.timed_out_round = 0;
        self.backoff = 0;
        self.timer = None;
        self.leader_wait = None;
        self.votes.clear();
        self.timeouts.clear();
        self.buffered = None;
        self.sync_asked = None;
        self.sync_misses = 0;
        self.verified_qcs.clear();
        self.reputation.clear();
        if self.approved.as_ref().is_some_and(|a| a.check_step(self.suite, &self.vset, &self.policy).is_err())
        {
            // Done (or overtaken by another change).
            self.approved = None;
        }
        self.prune()?;
        self.out.push(Action::Members(self.vset.members().to_vec()));
        // A member new to the group (or one that missed the change) hears
        // of the epoch now rather than with its first proposal, which an
        // idle chain may not make for long: it asks for the blocks.
        self.out.push(Action::Broadcast(Message::Certs { high_qc: self.high_qc.clone(), high_tc: None }));
        debug!(target: TARGET, id = self.cfg.id, epoch = self.epoch, height = self.root.f.height, "epoch started");
        Ok(())
    }

    /// Keeps only the blocks that descend from the root.
    fn prune(&mut self) -> Result<()> {
        let mut entries: Vec<(Hash, Entry)> = std::mem::take(&mut self.tree).into_iter().collect();
        entries.sort_by_key(|(_, e)| e.block.round);
        let mut keep: HashSet<Hash> = HashSet::from([self.root.cid]);
        for (cid, e) in entries {
            if e.block.round > self.root.f.round && keep.contains(&e.block.parent()) {
                keep.insert(cid);
                self.tree.insert(cid, e);
            } else {
                self.safety.remove_block(&cid)?;
            }
        }
        Ok(())
    }

    /// Puts the stored blocks that descend from the root back in the tree
    /// (a restart); the others are forgotten.
    fn restore_blocks(&mut self) -> Result<()> {
        let mut blocks = Vec::new();
        for bytes in self.safety.load_blocks()? {
            let block: CBlock = crate::types::decode("stored block", &bytes)?;
            let cid = block.cid(self.suite, &self.cfg.chain_id);
            blocks.push((cid, block));
        }
        blocks.sort_by_key(|(_, b)| b.round);
        for (cid, block) in blocks {
            if block.epoch == self.epoch {
                let tx_ids = block.payload.transactions.iter().map(|t| t.id(self.suite)).collect();
                self.tree.insert(cid, Entry { block, tx_ids });
            }
        }
        self.prune()
    }

    // ----- timeouts -----

    fn local_timeout(&mut self) -> Result<()> {
        if !self.is_voter() {
            return Ok(());
        }
        let round = self.round;
        let tc = self.high_tc.clone().filter(|t| t.round + 1 == round);
        let mut signature = self.safety.timeout(self.epoch, round, &self.high_qc, tc.as_ref())?;
        self.timed_out_round = round;
        if self.cfg.fault.bad_signatures && self.cfg.fault.any() {
            corrupt(&mut signature);
            self.stats.misbehaved += 1;
        }
        let t = Timeout {
            epoch: self.epoch,
            round,
            high_qc: self.high_qc.clone(),
            high_tc: self.high_tc.clone(),
            voter: self.cfg.id,
            signature,
        };
        debug!(target: TARGET, id = self.cfg.id, round, "timeout");
        self.out.push(Action::Broadcast(Message::Timeout(t.clone())));
        // A member that lags (missed a proposal, restarted) catches up from
        // a peer, a different one each round; transactions that waited a
        // whole round go out again in case the leader missed them.
        let voters: Vec<u64> = self.vset.voter_ids().filter(|v| *v != self.cfg.id).collect();
        if !voters.is_empty() {
            let peer = voters[usize::try_from(round).unwrap_or(0) % voters.len()];
            self.request_sync(peer);
        }
        let stale = self.now.saturating_sub(self.cfg.round_timeout_ms);
        let again: Vec<Transaction> = self
            .mempool
            .entries
            .iter()
            .filter(|p| p.arrived_ms <= stale)
            .take(self.policy.max_txs)
            .map(|p| p.tx.clone())
            .collect();
        if !again.is_empty() {
            self.out.push(Action::Broadcast(Message::Txs(again)));
        }
        let me = self.cfg.id;
        self.on_timeout(me, t)
    }

    fn on_timeout(&mut self, from: u64, t: Timeout) -> Result<()> {
        if t.epoch > self.epoch {
            self.request_sync(from);
            return Ok(());
        }
        if t.epoch != self.epoch {
            return Err(Error::Invalid(format!("timeout of epoch {}", t.epoch)));
        }
        let digest = timeout_digest(self.suite, t.epoch, t.round, t.high_qc.round);
        self.verify_sig(t.voter, &digest, &t.signature)?;
        self.verify_qc(&t.high_qc)?;
        if let Some(tc) = &t.high_tc {
            self.verify_tc(tc)?;
        }
        self.process_qc(&t.high_qc, from)?;
        if let Some(tc) = &t.high_tc {
            self.process_tc(tc);
        }
        if t.round < self.round {
            // It lags: show it the certificates that moved this member on.
            if t.voter != self.cfg.id {
                let msg = Message::Certs { high_qc: self.high_qc.clone(), high_tc: self.high_tc.clone() };
                self.out.push(Action::Send { to: t.voter, msg });
            }
            return Ok(());
        }
        if t.round > self.round {
            // An honest member in a later round carries the QC or TC that
            // entered it (processed above): only a liar is still ahead, and
            // its rounds are not kept.
            return Ok(());
        }
        let sigs = self.timeouts.entry(t.round).or_default();
        sigs.entry(t.voter).or_insert(TimeoutSig {
            voter: t.voter,
            high_qc_round: t.high_qc.round,
            signature: t.signature,
        });
        let count = sigs.len();
        if count > self.vset.f() && t.round == self.round && self.timed_out_round < self.round {
            self.local_timeout()?;
        }
        let sigs = self.timeouts.get(&t.round).map(|s| s.len()).unwrap_or(0);
        if sigs >= self.vset.quorum() && self.high_tc.as_ref().is_none_or(|h| h.round < t.round) {
            let signers: Vec<TimeoutSig> =
                self.timeouts.get(&t.round).map(|s| s.values().cloned().collect()).unwrap_or_default();
            let tc = TimeoutCert { epoch: self.epoch, round: t.round, signers };
            self.process_tc(&tc);
        }
        Ok(())
    }

    fn on_certs(&mut self, from: u64, qc: QuorumCert, tc: Option<TimeoutCert>) -> Result<()> {
        if qc.epoch > self.epoch {
            self.request_sync(from);
            return Ok(());
        }
        self.verify_qc(&qc)?;
        if let Some(tc) = &tc {
            self.verify_tc(tc)?;
        }
        self.process_qc(&qc, from)?;
        if let Some(tc) = &tc {
            self.process_tc(tc);
        }
        Ok(())
    }

    /// Whether this member lacks a block it knows of (the one its high QC
    /// certifies, or a proposal's parent).
    fn needs_sync(&self) -> bool {
        self.buffered.is_some()
            || (self.high_qc.round > self.root.f.round && self.info(&self.high_qc.cid).is_none())
    }

    // ----- proposing -----

    fn try_propose(&mut self) -> Result<()> {
        self.leader_wait = None;
        let round = self.round;
        let plain = self.plain_turn(round, self.high_qc.round, &self.high_qc.cid);
        if !self.is_voter() || self.leader_of(round, plain) != self.cfg.id || self.proposed_round >= round {
            return Ok(());
        }
        let by_qc = self.high_qc.round + 1 == round;
        let tc = self.high_tc.clone().filter(|t| t.round + 1 == round);
        if !by_qc && tc.is_none() {
            return Ok(());
        }
        let parent = self.high_qc.cid;
        let Some((_, parent_height, parent_ts, _)) = self.info(&parent) else {
            return Ok(());
        };
        let exclude = self.chain_tx_ids(parent);
        let policy = self.policy.clone();
        let ending = self.epoch_ending(parent);
        // The change this member approved, unless one is under way.
        let reconfig = if ending { None } else { self.approved.clone() };
        let mut txs = Vec::new();
        let mut bytes = 0;
        let mut oldest = None;
        let mut full = false;
        for p in self.mempool.entries.iter().filter(|_| !ending) {
            if exclude.contains(&p.id) {
                continue;
            }
            if txs.len() == policy.max_txs || bytes + p.bytes > policy.max_bytes {
                full = true;
                break;
            }
            oldest = Some(oldest.map_or(p.arrived_ms, |o: u64| o.min(p.arrived_ms)));
            bytes += p.bytes;
            txs.push(p.tx.clone());
        }
        full |= txs.len() == policy.max_txs;
        let max_wait = u64::try_from(policy.max_wait.as_millis()).unwrap_or(u64::MAX);
        let waited = oldest.is_some_and(|o| o.saturating_add(max_wait) <= self.now);
        let drive = self.chain_needs_commit(parent) || reconfig.is_some();
        if !(full || waited || drive || tc.is_some()) {
            self.leader_wait = oldest.map(|o| o.saturating_add(max_wait));
            return Ok(());
        }
        self.leader_wait = None;
        self.proposed_round = round;
        let payload = Payload {
            transactions: txs,
            timestamp_ms: self.now.max(parent_ts),
            proposer: self.cfg.name.clone(),
            reconfig,
        };
        let height = parent_height + u64::from(payload.is_ledger());
        let mut block = CBlock {
            epoch: self.epoch,
            round,
            qc: self.high_qc.clone(),
            height,
            payload,
            author: self.cfg.id,
            signature: Vec::new(),
        };
        self.sign_block(&mut block)?;
        self.stats.proposed += 1;
        debug!(target: TARGET, id = self.cfg.id, round, height, txs = block.payload.transactions.len(), "propose");
        if self.cfg.fault.any() {
            return self.propose_faulty(block, tc);
        }
        self.out.push(Action::Broadcast(Message::Proposal { block: block.clone(), tc: tc.clone() }));
        let me = self.cfg.id;
        self.on_proposal(me, block, tc)
    }

    fn sign_block(&self, block: &mut CBlock) -> Result<()> {
        let cid = block.cid(self.suite, &self.cfg.chain_id);
        block.signature = self
            .cfg
            .key
            .sign(&proposal_digest(self.suite, &cid).0)
            .map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(())
    }

    /// A faulty leader's proposal: forged certificates, bad signatures, and
    /// a second, different block for half of the members.
    fn propose_faulty(&mut self, mut block: CBlock, tc: Option<TimeoutCert>) -> Result<()> {
        let f = self.cfg.fault;
        self.stats.misbehaved += 1;
        if f.bad_certificates && !block.qc.votes.is_empty() {
            let first = block.qc.votes[0].clone();
            block.qc.votes = vec![first; self.vset.quorum()];
            self.sign_block(&mut block)?;
        }
        if f.bad_signatures {
            corrupt(&mut block.signature);
        }
        let others: Vec<u64> =
            self.vset.members().iter().map(|v| v.id).filter(|id| *id != self.cfg.id).collect();
        if f.equivocate {
            let mut second = block.clone();
            second.payload.timestamp_ms += 1;
            second.payload.transactions.reverse();
            self.sign_block(&mut second)?;
            for (i, to) in others.iter().enumerate() {
                let b = if i % 2 == 0 { block.clone() } else { second.clone() };
                self.out.push(Action::Send { to: *to, msg: Message::Proposal { block: b, tc: tc.clone() } });
            }
        } else {
            self.out.push(Action::Broadcast(Message::Proposal { block: block.clone(), tc: tc.clone() }));
        }
        let me = self.cfg.id;
        self.on_proposal(me, block, tc)
    }

    // ----- mempool -----

    fn add_to_mempool(&mut self, txs: Vec<Transaction>) -> Result<Vec<Transaction>> {
        let mut added = Vec::new();
        for tx in txs {
            let id = tx.id(self.suite);
            if self.mempool.ids.contains(&id) || self.store.contains_tx(&id).map_err(store_err)? {
                continue;
            }
            if self.mempool.entries.len() >= self.cfg.queue_capacity {
                if added.is_empty() {
                    return Err(
                        govchain_consensus::Error::Overloaded { capacity: self.cfg.queue_capacity }.into()
                    );
                }
                break;
            }
            let bytes = tx.encode().len();
            self.mempool.ids.insert(id);
            self.mempool.entries.push_back(Pending { id, tx: tx.clone(), bytes, arrived_ms: self.now });
            added.push(tx);
        }
        Ok(added)
    }

    // ----- sync -----

    fn request_sync(&mut self, from: u64) {
        let again_after = self.cfg.round_timeout_ms;
        if self.sync_asked.is_some_and(|at| at.saturating_add(again_after) > self.now) {
            return;
        }
        // The member that showed the missing block first; another one after
        // each sync that did not bring it.
        self.sync_asked = Some(self.now);
        let peers: Vec<u64> = self.vset.voter_ids().filter(|v| *v != self.cfg.id).collect();
        let to = if self.sync_misses == 0 && from != self.cfg.id && self.vset.member(from).is_some() {
            from
        } else if peers.is_empty() {
            return;
        } else {
            peers[(self.sync_misses + usize::try_from(from).unwrap_or(0)) % peers.len()]
        };
        self.out.push(Action::Sync {
            to,
            req: SyncRequest { epoch: self.epoch, ledger_from: self.root.f.height + 1 },
        });
    }

    fn apply_sync(&mut self, from: u64, reply: SyncReply) -> Result<()> {
        let full = reply.ledger.len() as u64 >= SYNC_LEDGER_BLOCKS;
        for bytes in &reply.ledger {
            let block: Block = crate::types::decode("ledger block", bytes)?;
            if block.header.height != self.root.f.height + 1 {
                continue;
            }
            self.import(block)?;
        }
        if let Some(root) = reply.root {
            self.adopt_root(root)?;
        }
        // A block a QC in this reply certifies came from its round's leader
        // whoever this member takes that to be (it may not have committed
        // what the leader choice reads yet).
        let certified: HashMap<Hash, QuorumCert> = reply
            .blocks
            .iter()
            .map(|b| &b.qc)
            .chain(reply.high_qc.as_ref())
            .map(|qc| (qc.cid, qc.clone()))
            .collect();
        for block in reply.blocks {
            if block.epoch != self.epoch || block.round <= self.root.f.round {
                continue;
            }
            let cid = block.cid(self.suite, &self.cfg.chain_id);
            if self.tree.contains_key(&cid)
                || self.info(&block.parent()).is_none()
                || self.tree.values().filter(|e| e.block.round == block.round).count() >= MAX_BLOCKS_PER_ROUND
            {
                continue;
            }
            if block.author
                != self.leader_of(block.round, self.plain_turn(block.round, block.qc.round, &block.parent()))
            {
                match certified.get(&cid) {
                    Some(qc) if qc.round == block.round => self.verify_qc(qc)?,
                    _ => return Err(Error::Invalid("synced block from a non-leader".into())),
                }
            }
            self.verify_sig(block.author, &proposal_digest(self.suite, &cid), &block.signature)?;
            self.verify_qc(&block.qc)?;
            self.validate_block(&block)?;
            let qc = block.qc.clone();
            self.insert(block, cid)?;
            self.process_qc(&qc, from)?;
        }
        if let Some(qc) = reply.high_qc {
            self.verify_qc(&qc)?;
            self.process_qc(&qc, from)?;
        }
        if full {
            self.request_sync(from);
        }
        Ok(())
    }

    /// Imports a committed ledger block a peer sent, checked by its
    /// certificate.
    fn import(&mut self, block: Block) -> Result<()> {
        let tip = self.store.tip().map_err(store_err)?.ok_or_else(|| Error::BlockStore("no tip".into()))?;
        if block.header.prev_hash != tip.block_id || block.header.height != tip.height + 1 {
            return Err(Error::Invalid("ledger block does not follow the tip".into()));
        }
        certificate::verify_commit(&block, self.suite, self.vset.members())?;
        let Some((_, link)) = certificate::link_of(&block)? else {
            return Err(Error::Invalid("ledger block without a link".into()));
        };
        if link.epoch != self.epoch {
            return Err(Error::Invalid("ledger block of another epoch".into()));
        }
        let cid = certificate::block_cid(&block, &link, self.suite);
        let fields = BlockFields {
            round: link.round,
            parent: link.parent,
            height: block.header.height,
            tx_root: block.header.tx_root,
            timestamp_ms: block.header.timestamp_ms,
            proposer: block.header.proposer.clone(),
        };
        // The certificate is the QC that commits this block when it links
        // straight to it: keep it so this member can serve it on.
        let commit_qc = certificate::commit_qc(&block, &link, &self.vset, cid);
        // Its proposer only: the signers this member would have noted (of
        // the QC the block carries) are not in the ledger.
        self.note(link.round, None, self.id_named(&fields.proposer), &[]);
        let (point, ends_epoch) = self.point_of(cid, &fields, commit_qc.clone(), link.reconfig.as_ref())?;
        let ids: Vec<Hash> = block.transactions.iter().map(|t| t.id(self.suite)).collect();
        let txs = block.transactions.len() as u64;
        // The peer's signature first; the certificate follows it.
        self.store.import_block(block, &point.encode()).map_err(store_err)?;
        self.mempool.remove(&ids);
        self.stats.imported += 1;
        self.stats.committed_txs += txs;
        if ends_epoch {
            return self.start_epoch(point);
        }
        self.root = Root { cid, f: fields, payload: true, after_tc: false };
        self.commit_qc = commit_qc;
        self.prune()?;
        Ok(())
    }

    fn adopt_root(&mut self, root: SyncRoot) -> Result<()> {
        let f = &root.fields;
        if f.round <= self.root.f.round || f.height != self.root.f.height {
            return Ok(());
        }
        let cid = f.cid(self.suite, &self.cfg.chain_id, self.epoch);
        if root.commit_qc.commit != cid || f.round.checked_add(1) != Some(root.commit_qc.round) {
            return Err(Error::Invalid("sync root is not what its QC commits".into()));
        }
        self.verify_qc(&root.commit_qc)?;
        self.note(f.round, None, self.id_named(&f.proposer), &[]);
        let (point, _) = self.point_of(cid, f, Some(root.commit_qc.clone()), None)?;
        self.store.put_meta(&point.encode()).map_err(store_err)?;
        // Same height as this member's root: only empty blocks lie between.
        let payload = f.tx_root != Block::tx_root(self.suite, &[]);
        self.root = Root { cid, f: f.clone(), payload, after_tc: false };
        self.commit_qc = Some(root.commit_qc.clone());
        self.prune()?;
        let qc = root.commit_qc;
        let me = self.cfg.id;
        self.process_qc(&qc, me)
    }
}

fn corrupt(sig: &mut [u8]) {
    if let Some(last) = sig.last_mut() {
        *last ^= 0x55;
    }
}
