//! The block cutter (SPEC CON-3, "smart blocks"), written once for every
//! engine.
//!
//! Admitted transactions wait in a bounded [`Queue`]. The cutter takes the
//! first one, then fills a block until the policy says it is full or
//! `max_wait` has passed since that first transaction, and hands the block
//! to its [`BlockSink`]; it cuts the next only once the sink has taken it
//! (committed it, or proposed it and seen it applied). Transactions that
//! arrive meanwhile wait, so a busy chain makes bigger blocks without any
//! tuning. Block time is the proposer's clock, never below the previous
//! block's nor the sink's floor (CON-5).
//!
//! Where a block goes is the engine's business: solo executes it at once,
//! Raft proposes its encoding through the log, the in-memory test engine
//! appends it to a shared log. How a block is held while it fills is the
//! sink's [`Draft`]: a list of transactions ([`TxList`]) or an encoding
//! written as they arrive (Raft's batch writer). Both count the same
//! encoded bytes against `max_bytes`.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use govchain_types::{Encode, Transaction, now_ms};
use tokio::{
    sync::mpsc::{self, error::TryRecvError, error::TrySendError},
    task::JoinHandle,
    time::Instant,
};
use tracing::error;

use crate::{Batch, BlockPolicy, Error, Result};

/// A block being filled.
pub trait Draft: Default + Send + 'static {
    /// Adds the next transaction.
    fn push(&mut self, tx: Transaction);

    /// Transactions so far.
    fn len(&self) -> usize;

    /// Whether it holds no transaction.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encoded bytes of the transactions so far (what `max_bytes` bounds).
    fn bytes(&self) -> usize;
}

/// A draft that keeps the transactions as they are.
#[derive(Debug, Default)]
pub struct TxList {
    txs: Vec<Transaction>,
    bytes: usize,
    scratch: Vec<u8>,
}

impl TxList {
    /// The batch of these transactions.
    pub fn into_batch(self, timestamp_ms: u64, proposer: &str) -> Batch {
        Batch { transactions: self.txs, timestamp_ms, proposer: proposer.to_owned(), certificate: Vec::new() }
    }
}

impl Draft for TxList {
    fn push(&mut self, tx: Transaction) {
        self.scratch.clear();
        tx.encode_to(&mut self.scratch);
        self.bytes += self.scratch.len();
        self.txs.push(tx);
    }

    fn len(&self) -> usize {
        self.txs.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Where cut blocks go. The cutter calls it from one task, one block at a
/// time.
pub trait BlockSink: Send + 'static {
    /// How this sink holds a block while it fills.
    type Draft: Draft;

    /// The policy for the next block, read when its first transaction
    /// arrives (an engine that changes policy through consensus returns the
    /// one in force).
    fn policy(&self) -> BlockPolicy;

    /// Block time must not go below this (e.g. the newest applied block's
    /// time, so a new leader never proposes an earlier one).
    fn floor_ms(&self) -> u64 {
        0
    }

    /// Takes a cut block; the next is cut once this returns. `Err` stops
    /// the cutter (the engine cannot go on, e.g. its store failed); a block
    /// the engine could not get committed but can live without (leadership
    /// moved) is logged by the sink and answered `Ok`.
    fn deliver(
        &mut self,
        draft: Self::Draft,
        timestamp_ms: u64,
        proposer: &str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// The submitting side of a cutter: a bounded queue of admitted
/// transactions. Cheap to clone; the cutter ends when every clone is gone.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::Sender<Transaction>,
    capacity: usize,
    pending: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
}

impl Queue {
    /// Queues `txs` in order; [`Error::Overloaded`] when the queue is full
    /// (the transactions before the one refused stay queued),
    /// [`Error::Stopped`] once the cutter has ended.
    pub fn submit(&self, txs: Vec<Transaction>) -> Result<()> {
        if !self.running() {
            return Err(Error::Stopped);
        }
        for tx in txs {
            match self.tx.try_send(tx) {
                Ok(()) => {
                    self.pending.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => return Err(Error::Overloaded { capacity: self.capacity }),
                Err(TrySendError::Closed(_)) => return Err(Error::Stopped),
            }
        }
        Ok(())
    }

    /// Transactions queued or in the block being cut and not yet delivered.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Whether the cutter still runs.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Refuses every submission from now on ([`Error::Stopped`]); for an
    /// engine stopping its cutter.
    pub fn stop(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// The queue's size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Starts a cutter on the current tokio runtime, proposing as `proposer`,
/// with room for `capacity` queued transactions. It runs until every
/// [`Queue`] clone is dropped, the sink fails, or the task is aborted.
pub fn spawn<S: BlockSink>(proposer: impl Into<String>, capacity: usize, sink: S) -> (Queue, JoinHandle<()>) {
    let capacity = capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let pending = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let cutter =
        Cutter { rx, sink, proposer: proposer.into(), pending: pending.clone(), running: running.clone() };
    let handle = tokio::spawn(cutter.run());
    (Queue { tx, capacity, pending, running }, handle)
}

struct Cutter<S> {
    rx: mpsc::Receiver<Transaction>,
    sink: S,
    proposer: String,
    pending: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
}

impl<S: BlockSink> Cutter<S> {
    async fn run(mut self) {
        let mut last_ms = 0;
        while let Some(first) = self.rx.recv().await {
            let policy = self.sink.policy();
            let deadline = Instant::now() + policy.max_wait;
            let mut draft = S::Draft::default();
            draft.push(first);
            while draft.len() < policy.max_txs && draft.bytes() < policy.max_bytes {
                let tx = match self.rx.try_recv() {
                    Ok(tx) => tx,
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => match tokio::time::timeout_at(deadline, self.rx.recv()).await
                    {
                        Ok(Some(tx)) => tx,
                        Ok(None) | Err(_) => break,
                    },
                };
                draft.push(tx);
            }
            last_ms = last_ms.max(now_ms()).max(self.sink.floor_ms());
            let n = draft.len();
            let delivered = self.sink.deliver(draft, last_ms, &self.proposer).await;
            self.pending.fetch_sub(n, Ordering::Relaxed);
            if let Err(e) = delivered {
                error!(target: "govchain::consensus", error = %e, "a cut block could not be committed; the cutter stops");
                break;
            }
        }
        self.running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        sync::Mutex,
        time::{Duration, Instant},
    };

    use govchain_crypto::Address;
    use govchain_types::{TxBody, TxType};

    use super::*;

    /// A transaction with nonce `n` and a 100-byte payload.
    pub(crate) fn tx(n: u64) -> Transaction {
        Transaction {
            body: TxBody {
                chain_id: "t".into(),
                tx_type: TxType::Invoke,
                timestamp_ms: 0,
                nonce: n,
                sender: Address([0; 20]),
                recipient: "data".into(),
                data: vec![0; 100],
                memo: String::new(),
                signers: vec![],
            },
            signatures: vec![],
        }
    }

    #[derive(Clone)]
    struct Collect {
        policy: BlockPolicy,
        floor: u64,
        out: Arc<Mutex<Vec<Batch>>>,
    }

    impl BlockSink for Collect {
        type Draft = TxList;

        fn policy(&self) -> BlockPolicy {
            self.policy.clone()
        }

        fn floor_ms(&self) -> u64 {
            self.floor
        }

        async fn deliver(&mut self, draft: TxList, timestamp_ms: u64, proposer: &str) -> Result<(), String> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.out.lock().unwrap().push(draft.into_batch(timestamp_ms, proposer));
            Ok(())
        }
    }

    #[tokio::test]
    async fn blocks_respect_max_bytes_and_the_floor_of_block_time() {
        let one = tx(0).encode().len();
        let policy = BlockPolicy { max_bytes: one * 3, ..BlockPolicy::default() };
        let floor = now_ms() + 60_000;
        let sink = Collect { policy, floor, out: Arc::default() };
        let (queue, _h) = spawn("p", 100, sink.clone());
        queue.submit((0..10).map(tx).collect()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.out.lock().unwrap().iter().map(|b| b.transactions.len()).sum::<usize>() < 10 {
            assert!(Instant::now() < deadline, "not all delivered");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let batches = sink.out.lock().unwrap().clone();
        assert!(batches.iter().all(|b| b.transactions.len() <= 3), "{batches:?}");
        assert!(batches.iter().all(|b| b.timestamp_ms >= floor && b.proposer == "p"));
        assert_eq!(queue.pending(), 0);
    }
}
