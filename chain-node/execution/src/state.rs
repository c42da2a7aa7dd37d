//! The state seen by contracts: the committed state behind [`StateView`],
//! overlaid with the writes of the running block and transaction.

use std::{collections::BTreeMap, ops::Bound};

use govchain_types::{Hash, HexValue, HistoryEntry, StateWrite};

use crate::Result;

/// Committed contract state, read-only. Each contract has its own key space.
///
/// The node implements this over the ledger; [`MemState`] is an in-memory
/// implementation. Implementations must be deterministic: the same committed
/// state gives the same answers on every node.
pub trait StateView {
    /// The value of `key` in `contract`'s storage.
    fn get(&self, contract: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` live entries of `contract` with keys within the bounds,
    /// ascending by key.
    fn scan(
        &self,
        contract: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Up to `limit` versions of `key`, newest first (deletes included, as
    /// entries without a value). Several writes of one key by one transaction
    /// are several versions, in write order.
    fn history(&self, contract: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>>;
}

/// Whether the bounds select no key at all. `BTreeMap::range` panics on such
/// bounds, and views may be asked for them by hostile payloads.
pub(crate) fn bounds_empty(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// Writes made on top of a state, with every version kept so that history
/// within a block is exact.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    /// contract -> key -> versions, oldest first.
    keys: BTreeMap<String, BTreeMap<Vec<u8>, Vec<HistoryEntry>>>,
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one write made by transaction `tx_id`.
    pub fn record(
        &mut self,
        contract: &str,
        key: &[u8],
        value: Option<Vec<u8>>,
        tx_id: Hash,
        height: u64,
        timestamp_ms: u64,
    ) {
        let versions = self.keys.entry(contract.to_owned()).or_default().entry(key.to_vec()).or_default();
        versions.push(HistoryEntry { height, tx_id, timestamp_ms, value: value.map(HexValue) });
    }

    /// Appends every version of `other` after this layer's versions.
    pub fn absorb(&mut self, other: Layer) {
        for (contract, keys) in other.keys {
            let mine = self.keys.entry(contract).or_default();
            for (key, versions) in keys {
                mine.entry(key).or_default().extend(versions);
            }
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The latest write of `key`: `Some(None)` when it was deleted, `None`
    /// when this layer did not touch it.
    fn latest(&self, contract: &str, key: &[u8]) -> Option<Option<&[u8]>> {
        let versions = self.keys.get(contract)?.get(key)?;
        versions.last().map(|v| v.value.as_ref().map(|h| h.0.as_slice()))
    }

    fn range<'a>(
        &'a self,
        contract: &str,
        start: Bound<&'a [u8]>,
        end: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let keys = if bounds_empty(start, end) { None } else { self.keys.get(contract) };
        keys.into_iter().flat_map(move |m| {
            m.range::<[u8], _>((start, end)).filter_map(|(k, versions)| {
                versions.last().map(|v| (k.as_slice(), v.value.as_ref().map(|h| h.0.as_slice())))
            })
        })
    }
}

/// A [`StateView`] of `base` with the writes of `top` applied. Layers stack:
/// the executor reads through committed state + block layer + transaction layer.
#[derive(Clone, Copy)]
pub struct Layered<'a> {
    /// The state below.
    pub base: &'a dyn StateView,
    /// The writes on top of it.
    pub top: &'a Layer,
}

impl std::fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered").field("top", self.top).finish_non_exhaustive()
    }
}

impl StateView for Layered<'_> {
    fn get(&self, contract: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.top.latest(contract, key) {
            Some(value) => Ok(value.map(<[u8]>::to_vec)),
            None => self.base.get(contract, key),
        }
    }

    fn scan(
        &self,
        contract: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if limit == 0 || bounds_empty(start, end) {
            return Ok(Vec::new());
        }
        // Each delete in the range can hide at most one base entry, so asking
        // the base for that many more entries than wanted is enough: if the
        // base answer is cut off at key L, at least `limit` merged entries lie
        // at or below L, so nothing the base did not return can rank among
        // the first `limit`.
        let deleted = self.top.range(contract, start, end).filter(|(_, v)| v.is_none()).count();
        let base = self.base.scan(contract, start, end, limit.saturating_add(deleted))?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().collect();
        for (key, value) in self.top.range(contract, start, end) {
            match value {
                Some(v) => merged.insert(key.to_vec(), v.to_vec()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    fn history(&self, contract: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        let mut out: Vec<HistoryEntry> = self
            .top
            .keys
            .get(contract)
            .and_then(|m| m.get(key))
            .map(|versions| versions.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default();
        if out.len() < limit {
            out.extend(self.base.history(contract, key, limit - out.len())?);
        }
        Ok(out)
    }
}

/// Contract state held in memory, with full history: for tests, simulations
/// (e.g. an IDE's in-memory chain) and tools. Not a ledger: nothing is durable.
#[derive(Debug, Default, Clone)]
pub struct MemState {
    /// contract -> key -> versions, oldest first.
    layer: Layer,
}

impl MemState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the writes of one transaction, as the ledger does on commit.
    pub fn apply(&mut self, height: u64, tx_id: Hash, timestamp_ms: u64, writes: &[StateWrite]) {
        for w in writes {
            let value = w.value.as_ref().map(|v| v.0.clone());
            self.layer.record(&w.contract, &w.key, value, tx_id, height, timestamp_ms);
        }
    }

    /// Applies a block's outcome: `writes[i]` belongs to `contexts[i]`.
    pub fn apply_block<'c>(
        &mut self,
        contexts: impl IntoIterator<Item = &'c crate::TxContext>,
        writes: &[Vec<StateWrite>],
    ) {
        for (ctx, tx_writes) in contexts.into_iter().zip(writes) {
            self.apply(ctx.height, ctx.tx_id, ctx.timestamp_ms, tx_writes);
        }
    }

    /// Number of live keys of `contract`.
    pub fn len(&self, contract: &str) -> usize {
        self.layer.range(contract, Bound::Unbounded, Bound::Unbounded).filter(|(_, v)| v.is_some()).count()
    }

    /// Whether `contract` has no live key.
    pub fn is_empty(&self, contract: &str) -> bool {
        self.len(contract) == 0
    }
}

impl StateView for MemState {
    fn get(&self, contract: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.layer.latest(contract, key).flatten().map(<[u8]>::to_vec))
    }

    fn scan(
        &self,
        contract: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .layer
            .range(contract, start, end)
            .filter_map(|(k, v)| v.map(|v| (k.to_vec(), v.to_vec())))
            .take(limit)
            .collect())
    }

    fn history(&self, contract: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        Ok(self
            .layer
            .keys
            .get(contract)
            .and_then(|m| m.get(key))
            .map(|versions| versions.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        Hash([n; 32])
    }

    fn keys(v: &[(Vec<u8>, Vec<u8>)]) -> Vec<&[u8]> {
        v.iter().map(|(k, _)| k.as_slice()).collect()
    }

    #[test]
    fn inverted_or_empty_bounds_select_nothing_instead_of_panicking() {
        let mut s = MemState::new();
        s.apply(
            1,
            h(1),
            0,
            &[StateWrite { contract: "c".into(), key: b"b".to_vec(), value: Some(HexValue(b"1".to_vec())) }],
        );
        let b: &[u8] = b"b";
        let a: &[u8] = b"a";
        assert!(s.scan("c", Bound::Included(b), Bound::Excluded(a), 10).unwrap().is_empty());
        assert!(s.scan("c", Bound::Excluded(b), Bound::Excluded(b), 10).unwrap().is_empty());
        assert_eq!(s.scan("c", Bound::Included(b), Bound::Included(b), 10).unwrap().len(), 1);
        let top = Layer::new();
        let l = Layered { base: &s, top: &top };
        assert!(l.scan("c", Bound::Included(b), Bound::Excluded(a), 10).unwrap().is_empty());
    }

    #[test]
    fn layered_scan_fills_the_limit_past_deleted_base_keys() {
        let mut s = MemState::new();
        let writes: Vec<StateWrite> = (0u8..10)
            .map(|i| StateWrite { contract: "c".into(), key: vec![i], value: Some(HexValue(vec![i])) })
            .collect();
        s.apply(1, h(1), 0, &writes);
        let mut top = Layer::new();
        for i in [0u8, 1, 2, 4] {
            top.record("c", &[i], None, h(2), 2, 0);
        }
        top.record("c", &[3], Some(b"new".to_vec()), h(2), 2, 0);
        let l = Layered { base: &s, top: &top };
        let got = l.scan("c", Bound::Unbounded, Bound::Unbounded, 3).unwrap();
        assert_eq!(keys(&got), vec![&[3u8][..], &[5], &[6]]);
        assert_eq!(got[0].1, b"new");
        assert_eq!(l.get("c", &[4]).unwrap(), None);
        assert_eq!(l.get("c", &[9]).unwrap(), Some(vec![9]));
    }

    #[test]
    fn layered_history_puts_layer_versions_first_and_respects_the_limit() {
        let mut s = MemState::new();
        let w = |v: &[u8]| StateWrite {
            contract: "c".into(),
            key: b"k".to_vec(),
            value: Some(HexValue(v.to_vec())),
        };
        s.apply(1, h(1), 10, &[w(b"a")]);
        s.apply(2, h(2), 20, &[w(b"b")]);
        let mut top = Layer::new();
        top.record("c", b"k", None, h(3), 3, 30);
        top.record("c", b"k", Some(b"c".to_vec()), h(4), 3, 30);
        let l = Layered { base: &s, top: &top };
        let hist = l.history("c", b"k", 3).unwrap();
        let ids: Vec<Hash> = hist.iter().map(|e| e.tx_id).collect();
        assert_eq!(ids, vec![h(4), h(3), h(2)]);
        assert!(hist[1].value.is_none());
        assert_eq!(l.history("c", b"k", 10).unwrap().len(), 4);
    }
}
