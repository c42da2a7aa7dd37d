//! Admission control (backpressure): how much work a node takes on before it
//! answers "busy" instead of queueing.
//!
//! The bound is time, not a count. The node estimates the chain's capacity
//! from its committed throughput (transactions per second between the
//! commits of the last [`WINDOW`], seen by every member as it commits
//! blocks) and holds at most `admission_budget_ms` of it in flight:
//! transactions being verified, forwarded to the leader, or admitted and
//! waiting for their block. A submission beyond that is refused at once,
//! before any signature work, with HTTP 503, code `overloaded` and a
//! `Retry-After` of the measured time to drain what is held.
//!
//! The throughput equals the capacity only while the node has a backlog
//! (more of its own transactions wait than the last block took): then it
//! sets the estimate, down as well as up. Without a backlog it is only a
//! lower bound and can raise the estimate, never lower it; so a lightly
//! loaded or idle chain keeps the capacity it last showed. Until a backlog
//! has shown it, the estimate is [`FLOOR_TPS`]: low, because a chain slower
//! than its estimate queues more than its budget. `mempool_capacity` stays
//! the hard upper cap.
//!
//! An admitted transaction that has not committed after four times the
//! time to drain what is held (at least four budgets) frees its place: its
//! batch was dropped when leadership moved, or the chain stalls, and a
//! deposed leader must not stay full of transactions that will never commit.
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
/// Least time between the first and the last commit measured (a burst of
/// blocks applied at once is not a rate).
const MIN_SPAN: Duration = Duration::from_millis(250);
/// Capacity assumed until a backlog has measured it, tx/s.
pub const FLOOR_TPS: u64 = 50;
/// How long a follower refuses without verifying once the leader said it
/// is overloaded.
const SHED: Duration = Duration::from_millis(100);
/// How many drain times (or budgets, whichever is longer) an admitted
/// transaction keeps its place without committing.
const STALE_DRAINS: u32 = 4;
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
    /// The estimated capacity, tx/s (see the module doc).
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

    /// How long an admitted transaction keeps its place without
    /// committing: [`STALE_DRAINS`] times the time to drain what is held at
    /// the estimated capacity, or times the budget if that is longer.
    fn stale_after(&self) -> Duration {
        let held = self.held.load(Ordering::Acquire) as f64;
        let tps = self.tps.load(Ordering::Acquire).max(1) as f64;
        self.budget.max(Duration::from_secs_f64(held / tps)) * STALE_DRAINS
    }

    /// Frees the places of transactions queued longer than
    /// [`Admission::stale_after`] (at most once a second); returns how many.
    fn sweep(&self, now: Instant) -> usize {
        let stale = self.stale_after();
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
    /// free their places, and the capacity estimate learns from the
    /// throughput.
    pub(crate) fn committed(&self, ids: impl ExactSizeIterator<Item = Hash>) {
        self.committed_at(ids, Instant::now());
    }

    fn committed_at(&self, ids: impl ExactSizeIterator<Item = Hash>, now: Instant) {
        let txs = ids.len();
        let (released, waiting) = {
            let mut queued = lock(&self.queued);
            let released = if queued.since.is_empty() {
                0
            } else {
                ids.filter(|id| queued.since.remove(id).is_some()).count()
            };
            (released, queued.since.len())
        };
        self.release(released);
        self.sweep(now);
        let Some(measured) = self.measure(now, txs as u64) else { return };
        // A backlog: more of this node's transactions wait than the block
        // took, so the chain committed as fast as it can.
        let backlog = waiting > 0 && waiting >= txs;
        let estimate = self.tps.load(Ordering::Acquire);
        let tps = if backlog { measured } else { estimate.max(measured) }.max(1);
        self.tps.store(tps, Ordering::Release);
        self.limit.store(self.limit_for(tps), Ordering::Release);
    }

    /// The throughput between the commits of the last [`WINDOW`], tx/s;
    /// `None` until two commits fall in it (an idle spell before them does
    /// not count).
    fn measure(&self, now: Instant, txs: u64) -> Option<u64> {
        // (`MIN_SPAN` is not zero: no division by zero below.)
        let mut window = lock(&self.window);
        window.push_back((now, txs));
        while window.front().is_some_and(|(at, _)| now.duration_since(*at) > WINDOW) {
            window.pop_front();
        }
        let &(first, first_txs) = window.front()?;
        let span = now.duration_since(first);
        if window.len() < 2 || span < MIN_SPAN {
            return None;
        }
        let total: u64 = window.iter().map(|(_, n)| n).sum::<u64>() - first_txs;
        Some((total as f64 / span.as_secs_f64()) as u64)
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
        assert_eq!(a.limit(), 75, "50 tx/s for 1.5 s");
        let slots: Vec<_> = (0..75).map(|_| a.acquire().expect("under the limit")).collect();
        let refused = a.acquire().expect_err("at the limit");
        assert_eq!(refused.code(), "overloaded");
        assert_eq!(retry_after(&refused), 2, "75 held at 50 tx/s drain in 1.5 s");
        drop(slots);
        assert_eq!(a.held(), 0, "dropped slots free their places");
        assert!(a.acquire().is_ok());
    }

    fn ids(range: std::ops::Range<u32>) -> Vec<Hash> {
        range
            .map(|i| {
                let mut h = [0xff; 32];
                h[..4].copy_from_slice(&i.to_be_bytes());
                Hash(h)
            })
            .collect()
    }

    #[test]
    fn queued_slots_are_released_by_commits_each_once() {
        let a = Admission::new(Duration::from_secs(1), 100_000);
        let mine = ids(0..40);
        for id in &mine {
            a.acquire().expect("room").queued(*id);
        }
        assert_eq!(a.held(), 40, "queued slots stay taken");
        let block: Vec<Hash> = mine[..30].iter().copied().chain(ids(1000..1070)).collect();
        a.committed(block.into_iter());
        assert_eq!(a.held(), 10, "30 of the block's 100 were admitted here");
        a.committed(mine.clone().into_iter());
        assert_eq!(a.held(), 0, "each place freed once");
    }

    #[test]
    fn a_backlog_sets_the_capacity_down_and_up_and_without_one_it_only_rises() {
        let a = Admission::new(Duration::from_secs(1), 100_000);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 50 admitted here; blocks of 10 every 500 ms: 20 tx/s with a backlog.
        let mine = ids(0..50);
        for id in &mine {
            a.acquire().expect("room").queued(*id);
        }
        for (k, block) in mine[..30].chunks(10).enumerate() {
            a.committed_at(block.iter().copied(), at(500 * k as u64));
        }
        assert_eq!(a.limit(), 20, "a backlog measured 20 tx/s: one second of it");
        for (k, block) in mine[30..].chunks(10).enumerate() {
            a.committed_at(block.iter().copied(), at(1500 + 500 * k as u64));
        }
        assert_eq!(a.held(), 0);
        // No backlog: 5 tx/s of others' blocks do not lower the estimate ...
        for k in 0..4u32 {
            a.committed_at(ids(100 + k..101 + k).into_iter(), at(2200 + 200 * u64::from(k)));
        }
        assert_eq!(a.limit(), 20, "without a backlog the estimate does not fall");
        // ... but a faster chain raises it: 100 every 250 ms is 400 tx/s.
        for k in 0..3u32 {
            a.committed_at(
                ids(1000 * (k + 2)..1000 * (k + 2) + 100).into_iter(),
                at(5000 + 250 * u64::from(k)),
            );
        }
        assert_eq!(a.limit(), 400);
        // An idle spell does not dilute the next measure, and a burst of
        // blocks applied at once is not a rate.
        a.committed_at(ids(9000..9500).into_iter(), at(20_000));
        a.committed_at(ids(9500..10_000).into_iter(), at(20_010));
        assert_eq!(a.limit(), 400, "500 in 10 ms is no measure");
    }

    #[test]
    fn the_hard_cap_bounds_the_limit() {
        let a = Admission::new(Duration::from_secs(60), 500);
        let t0 = Instant::now();
        a.committed_at(ids(0..1000).into_iter(), t0);
        a.committed_at(ids(1000..100_000).into_iter(), t0 + Duration::from_secs(1));
        assert_eq!(a.limit(), 500);
    }

    #[test]
    fn places_of_transactions_that_never_commit_come_back() {
        let a = Admission::new(Duration::from_millis(60), 100_000);
        assert_eq!(a.limit(), 3);
        for i in 0..3u8 {
            a.acquire().expect("room").queued(Hash([i; 32]));
        }
        assert!(a.acquire().is_err(), "full");
        // 3 held at 50 tx/s drain in 60 ms: stale after four budgets.
        let stale = a.stale_after();
        assert!(stale >= Duration::from_millis(240) && stale < Duration::from_millis(241), "{stale:?}");
        // (A sweep runs at most once a second.)
        let later = Instant::now() + Duration::from_millis(1100);
        // Their batch was dropped (leadership moved): later they are stale.
        assert_eq!(a.sweep(later), 3);
        assert_eq!(a.held(), 0);
        assert!(a.acquire().is_ok());
    }

    #[test]
    fn a_slow_chain_keeps_places_for_four_drain_times() {
        let a = Admission::new(Duration::from_millis(50), 100_000);
        let slots: Vec<_> = (0..3).map(|_| a.acquire().expect("room")).collect();
        a.tps.store(1, Ordering::Release);
        assert_eq!(a.stale_after(), Duration::from_secs(12), "3 held at 1 tx/s drain in 3 s");
        drop(slots);
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
