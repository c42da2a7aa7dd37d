//! Admission control (backpressure): how much work a node takes on before it
//! answers "busy" instead of queueing.
//!
//! The bound is time, not a count. The node measures the chain's committed
//! throughput (transactions per second over the last [`WINDOW`], seen by
//! every member as it commits blocks) and holds at most `admission_budget_ms`
//! of it in flight: transactions being verified, forwarded to the leader,
//! or admitted and waiting for their block. A submission beyond that is
//! refused at once, before any signature work, with HTTP 503, code
//! `overloaded` and a `Retry-After` of the measured time to drain what is
//! held. While the chain is cold (little committed lately) the measure is
//! floored at [`FLOOR_TPS`]; `mempool_capacity` stays the hard upper cap.
//!
//! An admitted transaction that has not committed after [`STALE`] (its
//! batch was dropped when leadership moved, or the chain stalls) frees its
//! place, so a deposed leader does not stay full of transactions that will
//! never commit.
//!
//! A member that forwards to the leader and hears `overloaded` back sheds
//! its own submissions for [`SHED`] before verifying them, so a busy
//! leader does not make every follower verify transactions only to have
//! them refused.
//!
//! Not for: fairness between clients or organizations (first come, first
//! admitted), nor the consensus engine's own queue bound.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_types::Hash;

use crate::{Error, node::lock};

/// How far back committed transactions count toward the throughput.
const WINDOW: Duration = Duration::from_secs(2);
/// Throughput assumed while the chain is cold, tx/s.
pub const FLOOR_TPS: u64 = 200;
/// How long a follower refuses without verifying once the leader said it
/// is overloaded.
const SHED: Duration = Duration::from_millis(100);
/// Least time an admitted transaction keeps its place without committing
/// (at least four budgets).
const STALE: Duration = Duration::from_secs(5);
/// Longest `Retry-After`, seconds.
const MAX_RETRY_AFTER_S: u64 = 30;

/// The admission state of one node. Checks are lock-free; the throughput
/// window is locked once per committed block.
#[derive(Debug)]
pub(crate) struct Admission {
    budget: Duration,
    cap: usize,
    /// Transactions held: being verified or forwarded (a [`Slot`]), or
    /// admitted here and waiting for their block (`queued`).
    held: AtomicUsize,
    /// Admitted here and waiting for their block, with when.
    queued: Mutex<Queued>,
    /// Most transactions held; recomputed at every commit.
    limit: AtomicUsize,
    /// The measured throughput, tx/s (at least [`FLOOR_TPS`]).
    tps: AtomicU64,
    /// Until when (ms after `epoch`) to shed without verifying.
    shed_until_ms: AtomicU64,
    epoch: Instant,
    /// Commits in the last [`WINDOW`]: (when, transactions).
    window: Mutex<VecDeque<(Instant, u64)>>,
}

#[derive(Debug, Default)]
struct Queued {
    since: HashMap<Hash, Instant>,
    last_sweep: Option<Instant>,
}

/// One transaction's place in the node, taken before verification. Dropped,
/// it frees the place; [`Slot::queued`] keeps it until the commit path
/// releases it.
#[derive(Debug)]
#[must_use = "a slot dropped at once frees its place"]
pub(crate) struct Slot<'a> {
    admission: &'a Admission,
}

impl Slot<'_> {
    /// Transaction `id` is in this node's pending set: the place stays taken
    /// until [`Admission::committed`] releases it (or it goes stale).
    pub(crate) fn queued(self, id: Hash) {
        let admission = self.admission;
        std::mem::forget(self);
        if lock(&admission.queued).since.insert(id, Instant::now()).is_some() {
            // Already queued (cannot happen: the pending set refuses a
            // repeat); keep one place per transaction.
            admission.held.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.admission.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Holds at most `budget` of measured throughput, never more than `cap`.
    pub(crate) fn new(budget: Duration, cap: usize) -> Admission {
        let admission = Admission {
            budget,
            cap: cap.max(1),
            held: AtomicUsize::new(0),
            queued: Mutex::default(),
            limit: AtomicUsize::new(0),
            tps: AtomicU64::new(FLOOR_TPS),
            shed_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            window: Mutex::default(),
        };
        admission.limit.store(admission.limit_for(FLOOR_TPS), Ordering::Release);
        admission
    }

    fn limit_for(&self, tps: u64) -> usize {
        let n = (tps as f64 * self.budget.as_secs_f64()).ceil() as usize;
        n.clamp(1, self.cap)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Takes a place for one transaction, or refuses with
    /// [`Error::Overloaded`].
    pub(crate) fn acquire(&self) -> Result<Slot<'_>, Error> {
        if self.now_ms() < self.shed_until_ms.load(Ordering::Acquire) {
            return Err(self.overloaded());
        }
        let limit = self.limit.load(Ordering::Acquire);
        let take = || {
            self.held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| (held < limit).then_some(held + 1))
        };
        if take().is_ok() {
            return Ok(Slot { admission: self });
        }
        // Full: places of transactions that will not commit come back.
        if self.sweep(Instant::now()) > 0 && take().is_ok() {
            return Ok(Slot { admission: self });
        }
        Err(self.overloaded())
    }

    /// The refusal, with the time the node needs to drain what it holds.
    pub(crate) fn overloaded(&self) -> Error {
        let tps = self.tps.load(Ordering::Acquire).max(1);
        let held = self.held.load(Ordering::Acquire) as u64;
        let retry_after_s = held.div_ceil(tps).clamp(1, MAX_RETRY_AFTER_S);
        Error::Overloaded {
            limit: self.limit.load(Ordering::Acquire),
            tps,
            budget_ms: self.budget.as_millis() as u64,
            retry_after_s,
        }
    }

    /// Frees the places of transactions queued longer than [`STALE`] (at
    /// most once a second); returns how many.
    fn sweep(&self, now: Instant) -> usize {
        let stale = STALE.max(self.budget * 4);
        let mut queued = lock(&self.queued);
        if queued.last_sweep.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            return 0;
        }
        queued.last_sweep = Some(now);
        let before = queued.since.len();
        queued.since.retain(|_, at| now.duration_since(*at) < stale);
        let freed = before - queued.since.len();
        drop(queued);
        self.release(freed);
        freed
    }

    /// Transaction `id` was queued but the consensus engine refused it:
    /// its place is free.
    pub(crate) fn unqueue(&self, id: &Hash) {
        if lock(&self.queued).since.remove(id).is_some() {
            self.release(1);
        }
    }

    fn release(&self, n: usize) {
        if n > 0 {
            // Never below 0: a release is only ever for a queued slot.
            let _ =
                self.held.fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| Some(h.saturating_sub(n)));
        }
    }

    /// A block with these transactions was committed: those admitted here
    /// free their places, and the throughput is measured.
    pub(crate) fn committed(&self, ids: impl ExactSizeIterator<Item = Hash>) {
        let txs = ids.len() as u64;
        let released = {
            let mut queued = lock(&self.queued);
            if queued.since.is_empty() {
                0
            } else {
                ids.filter(|id| queued.since.remove(id).is_some()).count()
            }
        };
        self.release(released);
        let now = Instant::now();
        self.sweep(now);
        let tps = {
            let mut window = lock(&self.window);
            window.push_back((now, txs));
            while window.front().is_some_and(|(at, _)| now.duration_since(*at) > WINDOW) {
                window.pop_front();
            }
            let total: u64 = window.iter().map(|(_, n)| n).sum();
            // A node younger than the window divides by its age, not the
            // whole window (but never by less than a quarter of it).
            let span = self.epoch.elapsed().clamp(WINDOW / 4, WINDOW);
            (total as f64 / span.as_secs_f64()) as u64
        };
        let tps = tps.max(FLOOR_TPS);
        self.tps.store(tps, Ordering::Release);
        self.limit.store(self.limit_for(tps), Ordering::Release);
    }

    /// Turns the leader's `overloaded` answer to a forwarded transaction into
    /// this node's own refusal (with its `Retry-After`), and sheds new
    /// submissions for a moment; any other error passes through.
    pub(crate) fn upstream(&self, e: Error) -> Error {
        match e {
            Error::Forwarded { status: 503, ref code, .. } if code == "overloaded" => {
                self.shed_until_ms.fetch_max(self.now_ms() + SHED.as_millis() as u64, Ordering::AcqRel);
                self.overloaded()
            }
            e => e,
        }
    }

    /// Transactions held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Most transactions held now.
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(e: &Error) -> u64 {
        match e {
            Error::Overloaded { retry_after_s, .. } => *retry_after_s,
            other => panic!("expected overloaded, got {other:?}"),
        }
    }

    #[test]
    fn a_cold_node_holds_the_floor_and_refuses_beyond_it() {
        let a = Admission::new(Duration::from_millis(1500), 100_000);
        assert_eq!(a.limit(), 300, "200 tx/s for 1.5 s");
        let slots: Vec<_> = (0..300).map(|_| a.acquire().expect("under the limit")).collect();
        let refused = a.acquire().expect_err("at the limit");
        assert_eq!(refused.code(), "overloaded");
        assert_eq!(retry_after(&refused), 2, "300 held at 200 tx/s drain in 1.5 s");
        drop(slots);
        assert_eq!(a.held(), 0, "dropped slots free their places");
        assert!(a.acquire().is_ok());
    }

    #[test]
    fn queued_slots_are_released_by_commits_and_throughput_sets_the_limit() {
        let a = Admission::new(Duration::from_secs(1), 100_000);
        let ids: Vec<Hash> = (0..100u8).map(|i| Hash([i; 32])).collect();
        for id in &ids {
            a.acquire().expect("room").queued(*id);
        }
        assert_eq!(a.held(), 100, "queued slots stay taken");
        // 5000 transactions committed within the first half second of the
        // node's life count over a quarter of the window: 10,000 tx/s; 60
        // of them were admitted here.
        let others = (0..4940u32).map(|i| {
            let mut h = [0xff; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            Hash(h)
        });
        a.committed(ids[..60].iter().copied().chain(others).collect::<Vec<_>>().into_iter());
        assert_eq!(a.held(), 40);
        assert_eq!(a.limit(), 10_000);
        a.committed(ids.clone().into_iter());
        assert_eq!(a.held(), 0, "each place freed once");
    }

    #[test]
    fn the_hard_cap_bounds_the_limit() {
        let a = Admission::new(Duration::from_secs(60), 500);
        a.committed((0..1_000_000u32).map(|i| Hash([(i % 251) as u8; 32])).collect::<Vec<_>>().into_iter());
        assert_eq!(a.limit(), 500);
    }

    #[test]
    fn places_of_transactions_that_never_commit_come_back() {
        let a = Admission::new(Duration::from_millis(50), 100_000);
        assert_eq!(a.limit(), 10);
        for i in 0..10u8 {
            a.acquire().expect("room").queued(Hash([i; 32]));
        }
        assert!(a.acquire().is_err(), "full");
        // Their batch was dropped (leadership moved): later they are stale.
        let later = Instant::now() + STALE + Duration::from_secs(1);
        assert_eq!(a.sweep(later), 10);
        assert_eq!(a.held(), 0);
        assert!(a.acquire().is_ok());
    }

    #[test]
    fn a_leader_overload_sheds_here_for_a_moment() {
        let a = Admission::new(Duration::from_millis(1500), 100_000);
        let from_leader = Error::Forwarded { status: 503, code: "overloaded".into(), message: "busy".into() };
        assert_eq!(a.upstream(from_leader).code(), "overloaded");
        assert!(a.acquire().is_err(), "shedding right after the leader refused");
        std::thread::sleep(SHED + Duration::from_millis(20));
        assert!(a.acquire().is_ok(), "admitting again after the shed time");
        let other = Error::Forwarded { status: 400, code: "bad_signature".into(), message: "x".into() };
        assert_eq!(a.upstream(other).code(), "forwarded");
    }
}
