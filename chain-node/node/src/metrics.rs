//! The node's Prometheus metrics (`govchain_node_*`).

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
}

impl Default for Metrics {
    fn default() -> Self {
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
        Metrics { registry, height, blocks, transactions, rejected, pending, commit_seconds, block_txs }
    }
}

impl Metrics {
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
