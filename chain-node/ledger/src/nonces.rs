//! The index of `(sender, nonce)` pairs used by recent transactions, so a
//! node can refuse a second transaction with a pair already used.
//!
//! A transaction whose timestamp lies in its block's time window
//! ([`TxBody::in_time_window`]) uses its pair, unless the pair is still
//! *live*: used by a transaction whose timestamp is at most
//! [`MAX_TX_AGE_MS`] older than the block time. Pairs that are no longer
//! live are pruned as blocks commit, so the index holds about one window of
//! transactions. The index is written in the same atomic batch as its block
//! and derives from the blocks alone: every node holds the same one.

use std::collections::BTreeMap;

use fjall::{Keyspace, OwnedWriteBatch as WriteBatch};
use govchain_crypto::Address;
use govchain_types::{Block, Hash, MAX_TX_AGE_MS, TxBody};

use crate::{Error, Result};

/// Pairs pruned at most per commit, so a commit after a long pause does not
/// stall; the rest go with the next commits.
const PRUNE_PER_COMMIT: usize = 4096;

/// The transaction that used a `(sender, nonce)` pair.
///
/// The rule the index keeps, block by block in transaction order: a
/// transaction whose timestamp lies in its block's time window
/// ([`TxBody::in_time_window`]) uses its pair unless the pair is still live
/// ([`NonceUse::live_at`] the block time), whatever its receipt says. A node
/// refuses every later user of a live pair, so on chain a pair is accepted
/// once per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceUse {
    /// Its id.
    pub tx_id: Hash,
    /// Its timestamp, ms since 1970.
    pub timestamp_ms: u64,
}

impl NonceUse {
    /// Whether the pair is still taken at `at_ms` (a block time or a node's
    /// clock): the using transaction's timestamp is at most
    /// [`MAX_TX_AGE_MS`] old.
    pub fn live_at(&self, at_ms: u64) -> bool {
        self.timestamp_ms.saturating_add(MAX_TX_AGE_MS) >= at_ms
    }

    fn encode(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.tx_id.0);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; 40] =
            bytes.try_into().map_err(|_| Error::Corrupt(format!("nonce entry of {} bytes", bytes.len())))?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[..8]);
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[8..]);
        Ok(NonceUse { tx_id: Hash(id), timestamp_ms: u64::from_be_bytes(ts) })
    }
}

type PairKey = [u8; 28];
type TimeKey = [u8; 36];

pub(crate) fn pair_key(sender: &Address, nonce: u64) -> PairKey {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(&sender.0);
    k[20..].copy_from_slice(&nonce.to_be_bytes());
    k
}

fn time_key(timestamp_ms: u64, pair: &PairKey) -> TimeKey {
    let mut k = [0u8; 36];
    k[..8].copy_from_slice(&timestamp_ms.to_be_bytes());
    k[8..].copy_from_slice(pair);
    k
}

/// Reads a pair's use from the index.
pub(crate) fn get(nonces: &Keyspace, pair: &PairKey) -> Result<Option<NonceUse>> {
    nonces.get(pair)?.map(|v| NonceUse::decode(&v)).transpose()
}

/// The changes one batch makes to the index: each key once (a batch gives
/// all its writes one sequence number, so a key written twice in it would
/// keep an arbitrary one).
pub(crate) struct Changes<'a> {
    nonces: &'a Keyspace,
    times: &'a Keyspace,
    pairs: BTreeMap<PairKey, Option<NonceUse>>,
    order: BTreeMap<TimeKey, bool>,
}

impl<'a> Changes<'a> {
    pub(crate) fn new(nonces: &'a Keyspace, times: &'a Keyspace) -> Self {
        Changes { nonces, times, pairs: BTreeMap::new(), order: BTreeMap::new() }
    }

    fn current(&self, pair: &PairKey) -> Result<Option<NonceUse>> {
        match self.pairs.get(pair) {
            Some(change) => Ok(*change),
            None => get(self.nonces, pair),
        }
    }

    /// Forgets up to [`PRUNE_PER_COMMIT`] pairs that are no longer live at
    /// `at_ms`. Run before [`Changes::block`], which then sees them gone.
    pub(crate) fn prune(&mut self, at_ms: u64) -> Result<()> {
        let Some(cutoff) = at_ms.checked_sub(MAX_TX_AGE_MS) else { return Ok(()) };
        // Live means timestamp + age >= at, so timestamps below the cutoff go.
        let end = cutoff.to_be_bytes();
        for guard in self.times.range::<&[u8], _>(..&end[..]).take(PRUNE_PER_COMMIT) {
            let stored = guard.key()?;
            let key = TimeKey::try_from(&stored[..])
                .map_err(|_| Error::Corrupt(format!("nonce time key of {} bytes", stored.len())))?;
            let mut pair = [0u8; 28];
            pair.copy_from_slice(&key[8..]);
            self.order.insert(key, false);
            self.pairs.insert(pair, None);
        }
        Ok(())
    }

    /// Records the pairs used by `block`'s transactions, in block order.
    pub(crate) fn block(&mut self, block: &Block, tx_ids: &[Hash]) -> Result<()> {
        let at = block.header.timestamp_ms;
        for (tx, id) in block.transactions.iter().zip(tx_ids) {
            self.transaction(&tx.body, *id, at)?;
        }
        Ok(())
    }

    fn transaction(&mut self, body: &TxBody, tx_id: Hash, at_ms: u64) -> Result<()> {
        if !body.in_time_window(at_ms) {
            return Ok(());
        }
        let pair = pair_key(&body.sender, body.nonce);
        let old = self.current(&pair)?;
        if old.is_some_and(|u| u.live_at(at_ms)) {
            return Ok(());
        }
        if let Some(old) = old {
            self.order.insert(time_key(old.timestamp_ms, &pair), false);
        }
        let new = NonceUse { tx_id, timestamp_ms: body.timestamp_ms };
        self.order.insert(time_key(new.timestamp_ms, &pair), true);
        self.pairs.insert(pair, Some(new));
        Ok(())
    }

    /// Adds the changes to `batch`.
    pub(crate) fn write(self, batch: &mut WriteBatch) {
        for (pair, change) in self.pairs {
            match change {
                Some(u) => batch.insert(self.nonces, pair, u.encode()),
                None => batch.remove(self.nonces, pair),
            }
        }
        for (key, present) in self.order {
            if present {
                batch.insert(self.times, key, [0u8; 0]);
            } else {
                batch.remove(self.times, key);
            }
        }
    }
}
