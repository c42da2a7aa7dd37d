//! Reads of the state as it stood at a past point of the chain, from the
//! per-key history: what a debug trace re-executes a transaction against.

use std::ops::Bound;

use super::{Ledger, collect_history};
use crate::{Result, keys};

impl Ledger {
    /// The value of `key` in `contract`'s state just before transaction
    /// `tx_index` of the block at `height` ran: after the parent block and
    /// the block's transactions before it. `None` when the key did not
    /// exist or was deleted then.
    pub fn get_before(
        &self,
        contract: &str,
        key: &[u8],
        height: u64,
        tx_index: u32,
    ) -> Result<Option<Vec<u8>>> {
        let Some(prefix) = keys::history_prefix(contract, key) else { return Ok(None) };
        // Positions are inverted in the key, so every version written before
        // (height, tx_index) sorts after the first key of that position
        // (write sequence 0), and the newest of them comes first.
        let start = keys::history_key(&prefix, height, tx_index, 0);
        let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        let newest = collect_history(self.history.range::<Vec<u8>, _>((Bound::Excluded(start), end)), 1)?;
        Ok(newest.into_iter().next().and_then(|e| e.value).map(|v| v.0))
    }
}
