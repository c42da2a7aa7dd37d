//! The node's Prometheus metrics (`govchain_node_*`): the chain as this
//! node sees it (height, blocks, transactions, pending, block time and
//! interval, consensus role and leader, peers, CA expiry) and its own
//! process and host figures ([`HostStats`]), which it reads itself so the
//! names are the same however the node runs.

use std::{path::PathBuf, sync::atomic::AtomicU64};

use govchain_hoststats::HostStats;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Label of a rejected submission.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// Error code of the rejection.
    pub reason: String,
}

/// Label of an executed transaction.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `success` or `failed`.
    pub status: String,
}

/// Label of the consensus role gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabel {
    /// `leader`, `follower`, `learner` or `stopped`.
    pub role: String,
}

/// Label of the leader gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaderLabel {
    /// The leader's node id.
    pub leader: String,
}

/// Label of an engine's progress figure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FigureLabel {
    /// The figure's name (`round`, `epoch`, `timeout_rounds`, ...).
    pub figure: String,
}

/// The roles the role gauge always carries (one is 1, the rest 0).
pub const ROLES: [&str; 4] = ["leader", "follower", "learner", "stopped"];

/// A gauge holding a float.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric the node exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Committed height.
    pub height: Gauge,
    /// Blocks committed since start.
    pub blocks: Counter,
    /// Transactions committed, by outcome.
    pub transactions: Family<Outcome, Counter>,
    /// Submissions refused, by reason.
    pub rejected: Family<Reason, Counter>,
    /// Transactions admitted and waiting for their block.
    pub pending: Gauge,
    /// Time to execute and durably commit one block.
    pub commit_seconds: Histogram,
    /// Transactions per block.
    pub block_txs: Histogram,
    /// Time of the newest block (its header time), seconds since 1970.
    pub last_block_timestamp: FloatGauge,
    /// Header time between the newest block and its parent.
    pub block_interval_seconds: FloatGauge,
    /// 1 for this node's consensus role, 0 for the others.
    pub role: Family<RoleLabel, Gauge>,
    /// 1 while this node is the leader.
    pub is_leader: Gauge,
    /// 1 for the leader this node knows (no series while none is known).
    pub leader: Family<LeaderLabel, Gauge>,
    /// Other members of the consensus group this node knows.
    pub peers: Gauge,
    /// The consensus engine's progress figures (HotStuff: round, epoch,
    /// rounds entered by a timeout certificate, voters sitting out).
    pub consensus_figures: Family<FigureLabel, Gauge>,
    /// When the node's certificate or the chain CA (root and operating)
    /// stops verifying, whichever comes first, seconds since 1970 (absent
    /// on a chain without a CA).
    pub cert_expiry_timestamp: FloatGauge,
    /// Process and host figures.
    pub host: HostStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None, false)
    }
}

impl Metrics {
    /// The node's metrics; disk figures of `data_dir`'s filesystem, the CA
    /// expiry only when `with_ca`.
    pub fn new(data_dir: Option<PathBuf>, with_ca: bool) -> Self {
        let mut registry = Registry::with_prefix("govchain_node");
        let height = Gauge::default();
        let blocks = Counter::default();
        let transactions = Family::<Outcome, Counter>::default();
        let rejected = Family::<Reason, Counter>::default();
        let pending = Gauge::default();
        let commit_seconds = Histogram::new([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]);
        let block_txs = Histogram::new([1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0]);
        registry.register("height", "Committed block height", height.clone());
        registry.register("blocks", "Blocks committed since start", blocks.clone());
        registry.register("transactions", "Transactions committed, by outcome", transactions.clone());
        registry.register("rejected", "Submissions refused, by reason", rejected.clone());
        registry.register("pending", "Admitted transactions waiting for a block", pending.clone());
        registry.register("commit_seconds", "Time to execute and commit a block", commit_seconds.clone());
        registry.register("block_transactions", "Transactions per block", block_txs.clone());
        let last_block_timestamp = FloatGauge::default();
        let block_interval_seconds = FloatGauge::default();
        let role = Family::<RoleLabel, Gauge>::default();
        let is_leader = Gauge::default();
        let leader = Family::<LeaderLabel, Gauge>::default();
        let peers = Gauge::default();
        let consensus_figures = Family::<FigureLabel, Gauge>::default();
        let cert_expiry_timestamp = FloatGauge::default();
        registry.register(
            "last_block_timestamp_seconds",
            "Header time of the newest block",
            last_block_timestamp.clone(),
        );
        registry.register(
            "block_interval_seconds",
            "Header time between the newest block and its parent",
            block_interval_seconds.clone(),
        );
        registry.register("consensus_role", "1 for this node's consensus role", role.clone());
        registry.register("is_leader", "1 while this node is the consensus leader", is_leader.clone());
        registry.register("leader", "1 for the leader this node knows", leader.clone());
        registry.register("peers", "Other members of the consensus group this node knows", peers.clone());
        registry.register(
            "consensus_figure",
            "A figure of the consensus engine's progress (HotStuff: round, epoch, timeout_rounds, sitting_out)",
            consensus_figures.clone(),
        );
        if with_ca {
            registry.register(
                "cert_expiry_timestamp_seconds",
                "When the node certificate or the chain CA certificates stop verifying, whichever is first",
                cert_expiry_timestamp.clone(),
            );
        }
        let host = HostStats::register(&mut registry, data_dir);
        Metrics {
            registry,
            height,
            blocks,
            transactions,
            rejected,
            pending,
            commit_seconds,
            block_txs,
            last_block_timestamp,
            block_interval_seconds,
            role,
            is_leader,
            leader,
            peers,
            consensus_figures,
            cert_expiry_timestamp,
            host,
        }
    }

    /// Sets the consensus gauges: `role` (one of [`ROLES`]), the known
    /// leader and the peers.
    pub fn set_consensus(&self, role: &str, leader: Option<&str>, peers: usize) {
        for r in ROLES {
            self.role.get_or_create(&RoleLabel { role: r.to_owned() }).set(i64::from(r == role));
        }
        self.is_leader.set(i64::from(role == "leader"));
        self.leader.clear();
        if let Some(l) = leader {
            self.leader.get_or_create(&LeaderLabel { leader: l.to_owned() }).set(1);
        }
        self.peers.set(i64::try_from(peers).unwrap_or(i64::MAX));
    }

    /// Sets the engine's progress figures (those it no longer reports go).
    pub fn set_figures(&self, figures: &[govchain_consensus::Figure]) {
        self.consensus_figures.clear();
        for f in figures {
            self.consensus_figures.get_or_create(&FigureLabel { figure: f.name.to_owned() }).set(f.value);
        }
    }

    /// Records a committed block's header time (ms since 1970); the
    /// interval is from the block committed before it here (none for the
    /// first block after a start).
    pub fn block_time(&self, timestamp_ms: u64) {
        let now = timestamp_ms as f64 / 1000.0;
        let before = self.last_block_timestamp.set(now);
        if before > 0.0 {
            self.block_interval_seconds.set((now - before).max(0.0));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Counts a refused submission.
    pub fn reject(&self, reason: &str) {
        self.rejected.get_or_create(&Reason { reason: reason.to_owned() }).inc();
    }
}
