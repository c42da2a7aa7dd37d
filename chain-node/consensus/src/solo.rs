//! Solo ordering: this node alone orders transactions, in arrival order.
//!
//! For development and for chains with one node. It cuts blocks with the
//! same [`cutter`](crate::cutter) as the replicated engines and commits
//! each straight to the [`BlockStore`], so a node behaves the same
//! whichever engine it runs. Its block policy is the genesis one.

use std::sync::Arc;

use govchain_types::Transaction;
use tokio::task::{AbortHandle, JoinHandle};
use tracing::info;

use crate::{
    BlockPolicy, BlockStore, BoxFuture, Consensus, Leader, Result, Role, Status,
    cutter::{self, BlockSink, Queue, TxList},
};

/// The solo engine.
#[derive(Debug)]
pub struct Solo {
    node_id: String,
    policy: BlockPolicy,
    queue: Queue,
    cutter: AbortHandle,
}

/// Commits every cut block to the store, off the async workers.
struct Commit {
    store: Arc<dyn BlockStore>,
    policy: BlockPolicy,
}

impl BlockSink for Commit {
    type Draft = TxList;

    fn policy(&self) -> BlockPolicy {
        self.policy.clone()
    }

    async fn deliver(&mut self, draft: TxList, timestamp_ms: u64, proposer: &str) -> Result<(), String> {
        let batch = draft.into_batch(timestamp_ms, proposer);
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.apply_batch(batch, None)).await {
            Ok(Ok(_tip)) => Ok(()),
            Ok(Err(e)) => Err(format!("committing a block failed: {e}")),
            Err(e) => Err(format!("committing a block failed: {e}")),
        }
    }
}

impl Solo {
    /// Starts the block cutter on the current tokio runtime; it runs until
    /// every [`Solo`] handle is dropped or the store fails.
    pub fn start(
        node_id: impl Into<String>,
        policy: BlockPolicy,
        capacity: usize,
        store: Arc<dyn BlockStore>,
    ) -> Result<(Solo, JoinHandle<()>)> {
        policy.validate()?;
        let node_id = node_id.into();
        let sink = Commit { store, policy: policy.clone() };
        let (queue, handle) = cutter::spawn(node_id.clone(), capacity, sink);
        info!(target: "govchain::consensus", node = %node_id, "solo engine started");
        Ok((Solo { node_id, policy, queue, cutter: handle.abort_handle() }, handle))
    }
}

impl Consensus for Solo {
    fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        self.queue.submit(txs)
    }

    fn status(&self) -> Status {
        let running = self.queue.running();
        Status {
            engine: "solo".into(),
            node_id: self.node_id.clone(),
            role: self.role(),
            leader: running.then(|| self.node_id.clone()),
            pending: self.queue.pending(),
        }
    }

    fn role(&self) -> Role {
        if self.queue.running() { Role::Leader } else { Role::Stopped }
    }

    fn leader(&self) -> Option<Leader> {
        self.queue.running().then(|| Leader { name: self.node_id.clone(), addr: None })
    }

    fn block_policy(&self) -> BlockPolicy {
        self.policy.clone()
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        self.queue.stop();
        self.cutter.abort();
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::Mutex,
        time::{Duration, Instant},
    };

    use govchain_types::{Block, Hash, chain::Suite};

    use super::*;
    use crate::{Batch, ChainTip, Error, StoreError, cutter::tests::tx};

    /// Records batches; optionally slow, to let transactions pile up.
    #[derive(Default)]
    struct Recorder {
        batches: Mutex<Vec<Batch>>,
        delay: Duration,
        fail: bool,
    }

    impl BlockStore for Recorder {
        fn suite(&self) -> Suite {
            Suite::Gm
        }

        fn consensus_meta(&self) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }

        fn tip(&self) -> Result<Option<ChainTip>, StoreError> {
            Ok(None)
        }

        fn apply_batch(&self, batch: Batch, meta: Option<&[u8]>) -> Result<ChainTip, StoreError> {
            assert!(meta.is_none(), "solo keeps no consensus metadata");
            std::thread::sleep(self.delay);
            let mut batches = self.batches.lock().unwrap();
            batches.push(batch);
            let tip = ChainTip {
                height: batches.len() as u64,
                block_id: Hash::ZERO,
                state_root: Hash::ZERO,
                timestamp_ms: 0,
            };
            if self.fail { Err("disk gone".into()) } else { Ok(tip) }
        }

        fn put_meta(&self, _: &[u8]) -> Result<(), StoreError> {
            Ok(())
        }

        fn import_block(&self, _: Block, _: &[u8]) -> Result<ChainTip, StoreError> {
            Err("solo imports nothing".into())
        }

        fn block_bytes(&self, _: u64) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
    }

    async fn wait_for(rec: &Recorder, txs: usize) -> Vec<Batch> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let batches = rec.batches.lock().unwrap().clone();
            if batches.iter().map(|b| b.transactions.len()).sum::<usize>() >= txs || Instant::now() > deadline
            {
                return batches;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_in_arrival_order_and_respects_max_txs() {
        let rec = Arc::new(Recorder { delay: Duration::from_millis(20), ..Default::default() });
        let policy = BlockPolicy { max_txs: 10, ..BlockPolicy::default() };
        let (solo, _h) = Solo::start("n0", policy.clone(), 1000, rec.clone()).unwrap();
        solo.submit((0..95).map(tx).collect()).unwrap();
        let batches = wait_for(&rec, 95).await;
        let nonces: Vec<u64> =
            batches.iter().flat_map(|b| b.transactions.iter().map(|t| t.body.nonce)).collect();
        assert_eq!(nonces, (0..95).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.transactions.len() <= 10));
        // The first block is cut before the rest arrive only if the cutter
        // raced the submit; either way the slow store lets blocks fill up.
        assert!(batches.len() >= 10 && batches.len() <= 11, "{} batches", batches.len());
        let times: Vec<u64> = batches.iter().map(|b| b.timestamp_ms).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "block time must not go back");
        assert_eq!(solo.status().role, Role::Leader);
        assert_eq!(solo.leader(), Some(Leader { name: "n0".into(), addr: None }));
        assert_eq!(solo.block_policy(), policy);
        assert!(solo.membership().is_none(), "a solo group does not change");
        solo.shutdown().await.unwrap();
        assert!(matches!(solo.submit(vec![tx(1)]), Err(Error::Stopped)));
        assert_eq!(solo.role(), Role::Stopped);
    }

    #[tokio::test]
    async fn a_lone_transaction_is_cut_without_waiting_for_a_full_block() {
        let rec = Arc::new(Recorder::default());
        let (solo, _h) = Solo::start("n0", BlockPolicy::default(), 10, rec.clone()).unwrap();
        solo.submit(vec![tx(1)]).unwrap();
        let batches = wait_for(&rec, 1).await;
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].transactions.len(), 1);
        assert_eq!(batches[0].proposer, "n0");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_and_a_failed_store_stops_the_engine() {
        let rec = Arc::new(Recorder { delay: Duration::from_millis(200), fail: true, ..Default::default() });
        let (solo, handle) =
            Solo::start("n0", BlockPolicy { max_txs: 1, ..BlockPolicy::default() }, 2, rec).unwrap();
        let mut refused = false;
        for n in 0..10 {
            if let Err(Error::Overloaded { capacity: 2 }) = solo.submit(vec![tx(n)]) {
                refused = true;
                break;
            }
        }
        assert!(refused, "a queue of 2 must refuse the 4th transaction");
        handle.await.unwrap();
        assert!(matches!(solo.submit(vec![tx(99)]), Err(Error::Stopped)));
        assert_eq!(solo.status().role, Role::Stopped);
        assert_eq!(solo.leader(), None);
    }

    #[tokio::test]
    async fn bad_policies_are_refused() {
        let rec: Arc<dyn BlockStore> = Arc::new(Recorder::default());
        let bad = BlockPolicy { max_txs: 0, ..BlockPolicy::default() };
        assert!(matches!(Solo::start("n0", bad, 1, rec), Err(Error::InvalidPolicy(_))));
    }
}
