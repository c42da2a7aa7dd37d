//! A deterministic simulator of the protocol: the same [`Core`] the engine
//! runs, driven by a simulated clock and network from a seeded PRNG, with
//! no threads and no tokio.
//!
//! The network delays, reorders and drops messages and splits members into
//! partitions until a global stabilization time (GST), after which every
//! message arrives within a bound. Twins: a faulty identity runs as two
//! instances with the same key, placed in different partitions, so it
//! equivocates without any code written to make it. Honest members can be
//! crashed and restarted from their store and safety state.
//!
//! Every run checks safety throughout (no two honest members commit
//! different blocks at one height; each member's chain only grows) and
//! liveness after GST (every honest member commits new blocks carrying
//! transactions within a bounded time); [`run`] returns what it saw or the
//! violation.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap},
    sync::Arc,
    time::Duration,
};

use govchain_consensus::{BlockPolicy, BlockStore, memory::MemBlockStore};
use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{Hash, Transaction};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{
    Fault,
    certificate::verify_commit,
    core::{Action, Core, CoreConfig, SigCache},
    safety::MemStorage,
    types::{Message, SyncReply, SyncRequest, Validator},
};

/// Chain id of simulated chains.
pub const CHAIN: &str = "hotstuff-sim";

/// One simulated run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The chain's suite (real signatures).
    pub suite: Suite,
    /// Voting identities (ids 1..=n).
    pub n: u64,
    /// Identities that run as two instances (the faulty ones).
    pub twins: Vec<u64>,
    /// PRNG seed.
    pub seed: u64,
    /// Until GST the instances are split into this many partitions
    /// (re-drawn every `phase_ms`); 1: no partitions.
    pub partitions: usize,
    /// How long a partition layout lasts before GST, ms.
    pub phase_ms: u64,
    /// Chance a message is lost before GST.
    pub drop_rate: f64,
    /// Message delay bounds, ms (after GST the upper bound holds).
    pub delay_ms: (u64, u64),
    /// Global stabilization time, ms.
    pub gst_ms: u64,
    /// How long after GST every honest member must have committed new
    /// transactions, ms.
    pub liveness_ms: u64,
    /// A transaction is submitted to a random honest instance this often, ms.
    pub tx_every_ms: u64,
    /// Crash and restart honest instances before GST.
    pub restarts: bool,
    /// Crash every instance at once before GST, then restart them all.
    pub crash_all: bool,
    /// Identities that never run (down from the start; not honest members
    /// for the checks).
    pub silent: Vec<u64>,
    /// Pick leaders by reputation (false: plain round-robin).
    pub leader_reputation: bool,
    /// Most events processed (a bound on the run's work).
    pub max_events: u64,
}

impl Scenario {
    /// A scenario with defaults: 1 s round timeouts, GST at 8 s, 20 s to
    /// show liveness after it.
    pub fn new(suite: Suite, n: u64, seed: u64) -> Scenario {
        Scenario {
            suite,
            n,
            twins: Vec::new(),
            seed,
            partitions: 1,
            phase_ms: 2_000,
            drop_rate: 0.05,
            delay_ms: (1, 60),
            gst_ms: 8_000,
            liveness_ms: 20_000,
            tx_every_ms: 150,
            restarts: false,
            silent: Vec::new(),
            leader_reputation: true,
            crash_all: false,
            max_events: 400_000,
        }
    }
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Ledger blocks committed, summed over honest instances.
    pub commits: u64,
    /// Highest ledger height an honest instance reached.
    pub height: u64,
    /// Transactions committed on the slowest honest instance.
    pub min_txs: usize,
    /// Rounds entered by a TC, summed over instances.
    pub timeout_rounds: u64,
    /// Events processed.
    pub events: u64,
    /// Restarts done.
    pub restarts: u64,
    /// Highest round an honest instance reached.
    pub rounds: u64,
}

enum Ev {
    Deliver { to: usize, from: u64, msg: Message },
    SyncReq { to: usize, from: usize, req: SyncRequest },
    SyncRep { to: usize, from: u64, reply: SyncReply },
    Tick { to: usize },
    Submit,
    Repartition,
    Crash { at: usize },
    CrashAll,
    Restart { at: usize },
    Check,
}

struct Instance {
    identity: u64,
    honest: bool,
    core: Option<Core>,
    store: Arc<MemBlockStore>,
    safety: MemStorage,
    config: CoreConfig,
    group: usize,
    tick_at: Option<u64>,
    /// Block ids seen at the last check (must stay a prefix).
    seen: Vec<Hash>,
}

struct Sim {
    sc: Scenario,
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: BTreeMap<usize, Ev>,
    next_ev: usize,
    inst: Vec<Instance>,
    sigs: SigCache,
    validators: Vec<Validator>,
    nonce: u64,
    report: Report,
}

/// A distinct unsigned transaction (the simulated store does not check
/// signatures).
pub fn tx(n: u64) -> Transaction {
    govchain_consensus::memory::unsigned_tx(CHAIN, n)
}

/// Runs one scenario; `Err` names the first violation.
pub fn run(sc: &Scenario) -> Result<Report, String> {
    let mut sim = Sim::new(sc.clone())?;
    sim.run()?;
    Ok(sim.report)
}

impl Sim {
    fn new(sc: Scenario) -> Result<Sim, String> {
        let mut rng = StdRng::seed_from_u64(sc.seed);
        // Keys from the seed too, so a seed replays a run exactly.
        let keys: Vec<PrivateKey> = (0..sc.n)
            .map(|_| {
                loop {
                    let scalar: [u8; 32] = rng.r#gen();
                    if let Ok(key) = PrivateKey::from_scalar_bytes(sc.suite, &scalar) {
                        break key;
                    }
                }
            })
            .collect();
        let validators: Vec<Validator> = (1..=sc.n)
            .map(|id| Validator {
                id,
                name: format!("node{id}"),
                addr: format!("sim-{id}"),
                public_key: keys[(id - 1) as usize].public_key().to_sec1(),
                voter: true,
            })
            .collect();
        let mut inst = Vec::new();
        for id in 1..=sc.n {
            let copies = if sc.twins.contains(&id) { 2 } else { 1 };
            for _ in 0..copies {
                let config = CoreConfig {
                    id,
                    name: format!("node{id}"),
                    chain_id: CHAIN.into(),
                    key: keys[(id - 1) as usize].clone(),
                    validators: validators.clone(),
                    block_policy: BlockPolicy {
                        max_txs: 20,
                        max_bytes: 1024 * 1024,
                        max_wait: Duration::from_millis(20),
                    },
                    queue_capacity: 10_000,
                    round_timeout_ms: 1_000,
                    max_clock_ahead_ms: 10_000,
                    fault: Fault::default(),
                    leader_reputation: sc.leader_reputation,
                    first_epoch: 0,
                };
                inst.push(Instance {
                    identity: id,
                    honest: copies == 1 && !sc.silent.contains(&id),
                    core: None,
                    store: Arc::new(MemBlockStore::new(sc.suite, CHAIN)),
                    safety: MemStorage::default(),
                    config,
                    group: 0,
                    tick_at: None,
                    seen: Vec::new(),
                });
            }
        }
        let _ = rng.r#gen::<u64>();
        let mut sim = Sim {
            sc,
            rng,
            now: 1_000_000,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_ev: 0,
            inst,
            sigs: SigCache::default(),
            validators,
            nonce: 0,
            report: Report::default(),
        };
        for i in 0..sim.inst.len() {
            if !sim.sc.silent.contains(&sim.inst[i].identity) {
                sim.start(i)?;
            }
        }
        Ok(sim)
    }

    fn start(&mut self, i: usize) -> Result<(), String> {
        let inst = &mut self.inst[i];
        let store: Arc<dyn BlockStore> = inst.store.clone();
        let core =
            Core::new(inst.config.clone(), store, Box::new(inst.safety.clone()), self.sigs.clone(), self.now)
                .map_err(|e| format!("instance {i}: start: {e}"))?;
        inst.core = Some(core);
        inst.tick_at = None;
        Ok(())
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        let id = self.next_ev;
        self.next_ev += 1;
        self.events.insert(id, ev);
        self.queue.push(Reverse((at, self.seq, id)));
    }

    fn gst(&self) -> bool {
        self.now >= 1_000_000 + self.sc.gst_ms
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.gst() || self.inst[a].group == self.inst[b].group
    }

    fn delay(&mut self) -> u64 {
        let (lo, hi) = self.sc.delay_ms;
        self.rng.gen_range(lo..=hi.max(lo))
    }

    fn lost(&mut self) -> bool {
        !self.gst() && self.rng.gen_bool(self.sc.drop_rate)
    }

    fn run(&mut self) -> Result<(), String> {
        let start = self.now;
        let end = start + self.sc.gst_ms + self.sc.liveness_ms;
        self.schedule(start + 1, Ev::Submit);
        self.schedule(start + 1, Ev::Repartition);
        self.schedule(start + 500, Ev::Check);
        if self.sc.restarts {
            let honest: Vec<usize> = (0..self.inst.len()).filter(|i| self.inst[*i].honest).collect();
            for k in 0..2 {
                let at = honest[self.rng.gen_range(0..honest.len())];
                let t = start + self.rng.gen_range(500..self.sc.gst_ms.max(501)) + k;
                self.schedule(t, Ev::Crash { at });
            }
        }
        if self.sc.crash_all {
            let t = start + self.rng.gen_range(500..self.sc.gst_ms.max(501));
            self.schedule(t, Ev::CrashAll);
        }
        for i in 0..self.inst.len() {
            self.reschedule_tick(i);
        }
        let mut gst_txs: Option<Vec<usize>> = None;
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            if at > end {
                break;
            }
            self.report.events += 1;
            if self.report.events > self.sc.max_events {
                return Err(format!("seed {}: more than {} events", self.sc.seed, self.sc.max_events));
            }
            self.now = at;
            if gst_txs.is_none() && self.gst() {
                gst_txs = Some(self.honest_txs());
            }
            let Some(ev) = self.events.remove(&id) else { continue };
            self.step(ev)?;
        }
        self.now = end;
        self.check()?;
        // Liveness: every honest instance committed more transactions after GST.
        let before = gst_txs.unwrap_or_else(|| self.honest_txs());
        let after = self.honest_txs();
        for (k, (b, a)) in before.iter().zip(&after).enumerate() {
            if a <= b {
                return Err(format!(
                    "seed {}: honest instance {k} committed no transaction in {} ms after GST ({b} -> {a})\n{}",
                    self.sc.seed,
                    self.sc.liveness_ms,
                    self.describe()
                ));
            }
        }
        self.report.min_txs = after.iter().copied().min().unwrap_or(0);
        // Certificates: the longest honest chain's blocks prove themselves.
        if let Some(best) = self.inst.iter().filter(|i| i.honest).max_by_key(|i| i.store.height()) {
            for block in best.store.blocks().iter().skip(1) {
                verify_commit(block, self.sc.suite, &self.validators)
                    .map_err(|e| format!("seed {}: {e}", self.sc.seed))?;
            }
        }
        for i in &self.inst {
            if i.honest {
                self.report.commits += i.store.height();
                self.report.height = self.report.height.max(i.store.height());
                self.report.rounds = self.report.rounds.max(i.core.as_ref().map_or(0, Core::round));
            }
            if let Some(c) = &i.core {
                self.report.timeout_rounds += c.stats().timeout_rounds;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        for (k, i) in self.inst.iter().enumerate() {
            let state = i.core.as_ref().map_or_else(|| "down".to_owned(), Core::describe);
            out.push_str(&format!(
                "  [{k}] honest {} group {} txs {}: {state}\n",
                i.honest,
                i.group,
                i.store.tx_count()
            ));
        }
        out
    }

    fn honest_txs(&self) -> Vec<usize> {
        self.inst.iter().filter(|i| i.honest).map(|i| i.store.tx_count()).collect()
    }

    fn step(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::Deliver { to, from, msg } => {
                let now = self.now;
                let Some(core) = self.inst[to].core.as_mut() else { return Ok(()) };
                let actions = core.on_message(from, msg, now).map_err(|e| format!("instance {to}: {e}"))?;
                self.route(to, actions);
            }
            Ev::SyncReq { to, from, req } => {
                let Some(core) = self.inst[to].core.as_ref() else { return Ok(()) };
                let reply = core.serve_sync(req).map_err(|e| format!("instance {to}: {e}"))?;
                let identity = self.inst[to].identity;
                if self.connected(to, from) && !self.lost() {
                    let d = self.delay();
                    self.schedule(self.now + d, Ev::SyncRep { to: from, from: identity, reply });
                }
            }
            Ev::SyncRep { to, from, reply } => {
                let now = self.now;
                let Some(core) = self.inst[to].core.as_mut() else { return Ok(()) };
                let actions =
                    core.on_sync_reply(from, reply, now).map_err(|e| format!("instance {to}: {e}"))?;
                self.route(to, actions);
            }
            Ev::Tick { to } => {
                self.inst[to].tick_at = None;
                let now = self.now;
                let Some(core) = self.inst[to].core.as_mut() else { return Ok(()) };
                let actions = core.on_tick(now).map_err(|e| format!("instance {to}: {e}"))?;
                self.route(to, actions);
            }
            Ev::Submit => {
                let honest: Vec<usize> = (0..self.inst.len())
                    .filter(|i| self.inst[*i].honest && self.inst[*i].core.is_some())
                    .collect();
                if !honest.is_empty() {
                    let to = honest[self.rng.gen_range(0..honest.len())];
                    self.nonce += 1;
                    let now = self.now;
                    let t = tx(self.sc.seed.wrapping_mul(1_000_003).wrapping_add(self.nonce));
                    if let Some(core) = self.inst[to].core.as_mut()
                        && let Ok(actions) = core.submit(vec![t], now)
                    {
                        self.route(to, actions);
                    }
                }
                let every = self.sc.tx_every_ms;
                let jitter = self.rng.gen_range(0..=every);
                self.schedule(self.now + every / 2 + jitter, Ev::Submit);
            }
            Ev::Repartition => {
                if !self.gst() {
                    self.repartition();
                    self.schedule(self.now + self.sc.phase_ms, Ev::Repartition);
                }
            }
            Ev::Crash { at } => {
                if !self.gst() && self.inst[at].core.is_some() {
                    self.inst[at].core = None;
                    self.inst[at].tick_at = None;
                    let back = self.rng.gen_range(200..3_000);
                    self.schedule(self.now + back, Ev::Restart { at });
                }
            }
            Ev::CrashAll => {
                for at in 0..self.inst.len() {
                    if self.inst[at].core.take().is_some() {
                        self.inst[at].tick_at = None;
                        let back = self.rng.gen_range(100..1_500);
                        self.schedule(self.now + back, Ev::Restart { at });
                    }
                }
            }
            Ev::Restart { at } => {
                self.start(at)?;
                self.report.restarts += 1;
                self.reschedule_tick(at);
            }
            Ev::Check => {
                self.check()?;
                if std::env::var("HOTSTUFF_SIM_TRACE").is_ok_and(|s| s == self.sc.seed.to_string()) {
                    println!("t={} gst={}\n{}", self.now - 1_000_000, self.gst(), self.describe());
                }
                self.schedule(self.now + 500, Ev::Check);
            }
        }
        Ok(())
    }

    /// Splits the instances into groups; the two instances of a twin are
    /// always in different groups.
    fn repartition(&mut self) {
        let groups = self.sc.partitions.max(1);
        let mut twin_seen = BTreeSet::new();
        for i in 0..self.inst.len() {
            let g = if !self.inst[i].honest && !twin_seen.insert(self.inst[i].identity) {
                // The second twin: away from the first.
                let first =
                    self.inst[..i].iter().position(|o| o.identity == self.inst[i].identity).unwrap_or(0);
                (self.inst[first].group + 1 + self.rng.gen_range(0..groups.max(2) - 1)) % groups.max(2)
            } else {
                self.rng.gen_range(0..groups)
            };
            self.inst[i].group = g;
        }
    }

    fn route(&mut self, from_inst: usize, actions: Vec<Action>) {
        let identity = self.inst[from_inst].identity;
        for action in actions {
            match action {
                Action::Send { to, msg } => {
                    for j in 0..self.inst.len() {
                        if self.inst[j].identity == to && j != from_inst {
                            self.deliver(from_inst, j, identity, msg.clone());
                        }
                    }
                }
                Action::Broadcast(msg) => {
                    for j in 0..self.inst.len() {
                        if self.inst[j].identity != identity {
                            self.deliver(from_inst, j, identity, msg.clone());
                        }
                    }
                }
                Action::Sync { to, req } => {
                    let target = (0..self.inst.len())
                        .find(|j| self.inst[*j].identity == to && self.connected(from_inst, *j));
                    if let Some(j) = target
                        && !self.lost()
                    {
                        let d = self.delay();
                        self.schedule(self.now + d, Ev::SyncReq { to: j, from: from_inst, req });
                    }
                }
                // The simulated group never changes.
                Action::Members(_) => {}
            }
        }
        self.reschedule_tick(from_inst);
    }

    fn deliver(&mut self, a: usize, b: usize, from: u64, msg: Message) {
        if self.connected(a, b) && !self.lost() {
            let d = self.delay();
            self.schedule(self.now + d, Ev::Deliver { to: b, from, msg });
        }
    }

    fn reschedule_tick(&mut self, i: usize) {
        let Some(deadline) = self.inst[i].core.as_ref().and_then(Core::next_deadline) else { return };
        let at = deadline.max(self.now);
        if self.inst[i].tick_at.is_none_or(|t| t > at) {
            self.inst[i].tick_at = Some(at);
            self.schedule(at, Ev::Tick { to: i });
        }
    }

    /// Safety: honest chains agree at every height and only grow.
    fn check(&mut self) -> Result<(), String> {
        let seed = self.sc.seed;
        let mut reference: Vec<Hash> = Vec::new();
        for (k, inst) in self.inst.iter_mut().enumerate() {
            if !inst.honest {
                continue;
            }
            let ids = inst.store.block_ids();
            if ids.len() < inst.seen.len() || ids[..inst.seen.len()] != inst.seen[..] {
                return Err(format!("seed {seed}: instance {k}'s chain is not an extension of what it was"));
            }
            let common = ids.len().min(reference.len());
            if ids[..common] != reference[..common] {
                let h = (0..common).find(|h| ids[*h] != reference[*h]).unwrap_or(0);
                return Err(format!("seed {seed}: honest instances commit different blocks at height {h}"));
            }
            if ids.len() > reference.len() {
                reference = ids.clone();
            }
            inst.seen = ids;
        }
        Ok(())
    }
}
