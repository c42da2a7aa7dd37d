//! Solo ordering: this node alone orders transactions, in arrival order.
//!
//! For development and for chains with one node. It honours the same
//! [`BlockPolicy`] and [`Applier`] contract as the replicated engines, so a
//! node behaves the same whichever engine it runs.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError},
    },
    thread::JoinHandle,
    time::Instant,
};

use govchain_types::{Transaction, now_ms};
use tracing::{error, info};

use crate::{Applier, Batch, BlockPolicy, Consensus, Error, Result, Role, Status};

/// Rough encoded size of a transaction, for the block byte limit; exactness
/// does not matter, only that large payloads count.
fn approx_size(tx: &Transaction) -> usize {
    256 + tx.body.data.len() + tx.body.memo.len() + tx.signatures.iter().map(|s| s.0.len()).sum::<usize>()
}

/// The solo engine.
#[derive(Debug)]
pub struct Solo {
    node_id: String,
    queue: SyncSender<Transaction>,
    capacity: usize,
    pending: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
}

impl Solo {
    /// Starts the block cutter on its own thread; it runs until every
    /// [`Solo`] handle is dropped or the applier fails.
    pub fn start(
        node_id: impl Into<String>,
        policy: BlockPolicy,
        capacity: usize,
        applier: Arc<dyn Applier>,
    ) -> Result<(Solo, JoinHandle<()>)> {
        policy.validate()?;
        let node_id = node_id.into();
        let (queue, rx) = mpsc::sync_channel::<Transaction>(capacity.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicBool::new(true));
        let cutter = Cutter {
            rx,
            policy,
            applier,
            proposer: node_id.clone(),
            pending: pending.clone(),
            running: running.clone(),
            last_timestamp: 0,
        };
        let handle = std::thread::Builder::new()
            .name("solo-cutter".into())
            .spawn(move || cutter.run())
            .map_err(|_| Error::Stopped)?;
        info!(target: "govchain::consensus", node = %node_id, "solo engine started");
        Ok((Solo { node_id, queue, capacity, pending, running }, handle))
    }
}

impl Consensus for Solo {
    fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        if !self.running.load(Ordering::Acquire) {
            return Err(Error::Stopped);
        }
        for tx in txs {
            match self.queue.try_send(tx) {
                Ok(()) => {
                    self.pending.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => return Err(Error::Overloaded { capacity: self.capacity }),
                Err(TrySendError::Disconnected(_)) => return Err(Error::Stopped),
            }
        }
        Ok(())
    }

    fn status(&self) -> Status {
        let running = self.running.load(Ordering::Acquire);
        Status {
            engine: "solo".into(),
            node_id: self.node_id.clone(),
            role: if running { Role::Leader } else { Role::Stopped },
            leader: running.then(|| self.node_id.clone()),
            pending: self.pending.load(Ordering::Relaxed),
        }
    }
}

struct Cutter {
    rx: mpsc::Receiver<Transaction>,
    policy: BlockPolicy,
    applier: Arc<dyn Applier>,
    proposer: String,
    pending: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
    last_timestamp: u64,
}

impl Cutter {
    fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            let n = batch.transactions.len();
            if let Err(e) = self.applier.apply(batch) {
                error!(target: "govchain::consensus", error = %e, "applying a block failed; solo engine stops");
                break;
            }
            self.pending.fetch_sub(n, Ordering::Relaxed);
        }
        self.running.store(false, Ordering::Release);
    }

    /// Blocks for the first transaction, then fills the block until it is
    /// full, the queue is empty past `max_wait`, or the senders are gone.
    fn next_batch(&mut self) -> Option<Batch> {
        let first = self.rx.recv().ok()?;
        let deadline = Instant::now() + self.policy.max_wait;
        let mut bytes = approx_size(&first);
        let mut txs = vec![first];
        while txs.len() < self.policy.max_txs && bytes < self.policy.max_bytes {
            let next = match self.rx.try_recv() {
                Ok(tx) => tx,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match self.rx.recv_timeout(deadline - now) {
                        Ok(tx) => tx,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            bytes += approx_size(&next);
            txs.push(next);
        }
        self.last_timestamp = self.last_timestamp.max(now_ms());
        Some(Batch { transactions: txs, timestamp_ms: self.last_timestamp, proposer: self.proposer.clone() })
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::Mutex,
        time::{Duration, Instant},
    };

    use govchain_crypto::Address;
    use govchain_types::{TxBody, TxType};

    use super::*;

    fn tx(n: u64) -> Transaction {
        Transaction {
            body: TxBody {
                chain_id: "t".into(),
                tx_type: TxType::Invoke,
                timestamp_ms: 0,
                nonce: n,
                sender: Address([0; 20]),
                recipient: "data".into(),
                data: vec![],
                memo: String::new(),
                signers: vec![],
            },
            signatures: vec![],
        }
    }

    /// Records batches; optionally slow, to let transactions pile up.
    #[derive(Default)]
    struct Recorder {
        batches: Mutex<Vec<Batch>>,
        delay: Duration,
        fail: bool,
    }

    impl Applier for Recorder {
        fn apply(&self, batch: Batch) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
            std::thread::sleep(self.delay);
            self.batches.lock().unwrap().push(batch);
            if self.fail { Err("disk gone".into()) } else { Ok(()) }
        }
    }

    fn wait_for(rec: &Recorder, txs: usize) -> Vec<Batch> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let batches = rec.batches.lock().unwrap().clone();
            if batches.iter().map(|b| b.transactions.len()).sum::<usize>() >= txs || Instant::now() > deadline
            {
                return batches;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn orders_in_arrival_order_and_respects_max_txs() {
        let rec = Arc::new(Recorder { delay: Duration::from_millis(20), ..Default::default() });
        let policy = BlockPolicy { max_txs: 10, ..BlockPolicy::default() };
        let (solo, _h) = Solo::start("n0", policy, 1000, rec.clone()).unwrap();
        solo.submit((0..95).map(tx).collect()).unwrap();
        let batches = wait_for(&rec, 95);
        let nonces: Vec<u64> =
            batches.iter().flat_map(|b| b.transactions.iter().map(|t| t.body.nonce)).collect();
        assert_eq!(nonces, (0..95).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.transactions.len() <= 10));
        // The first block is cut before the rest arrive only if the cutter
        // raced the submit; either way the slow applier lets blocks fill up.
        assert!(batches.len() >= 10 && batches.len() <= 11, "{} batches", batches.len());
        let times: Vec<u64> = batches.iter().map(|b| b.timestamp_ms).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "block time must not go back");
        assert_eq!(solo.status().role, Role::Leader);
    }

    #[test]
    fn a_lone_transaction_is_cut_without_waiting_for_a_full_block() {
        let rec = Arc::new(Recorder::default());
        let (solo, _h) = Solo::start("n0", BlockPolicy::default(), 10, rec.clone()).unwrap();
        solo.submit(vec![tx(1)]).unwrap();
        let batches = wait_for(&rec, 1);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].transactions.len(), 1);
        assert_eq!(batches[0].proposer, "n0");
    }

    #[test]
    fn a_full_queue_is_refused_and_a_failed_applier_stops_the_engine() {
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
        handle.join().unwrap();
        assert!(matches!(solo.submit(vec![tx(99)]), Err(Error::Stopped)));
        assert_eq!(solo.status().role, Role::Stopped);
    }

    #[test]
    fn bad_policies_are_refused() {
        let rec: Arc<dyn Applier> = Arc::new(Recorder::default());
        let bad = BlockPolicy { max_txs: 0, ..BlockPolicy::default() };
        assert!(matches!(Solo::start("n0", bad, 1, rec), Err(Error::InvalidPolicy(_))));
    }
}
