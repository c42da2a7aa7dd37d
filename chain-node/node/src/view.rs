use std::ops::Bound;

use govchain_execution::StateView;
use govchain_ledger::Ledger;
use govchain_types::HistoryEntry;

/// The committed ledger state as the executor reads it.
pub(crate) struct LedgerView<'a>(pub &'a Ledger);

impl StateView for LedgerView<'_> {
    fn get(&self, contract: &str, key: &[u8]) -> govchain_execution::Result<Option<Vec<u8>>> {
        self.0.get(contract, key).map_err(storage)
    }

    fn scan(
        &self,
        contract: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> govchain_execution::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let range = (start.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec));
        self.0.scan(contract, range, limit).map_err(storage)
    }

    fn history(
        &self,
        contract: &str,
        key: &[u8],
        limit: usize,
    ) -> govchain_execution::Result<Vec<HistoryEntry>> {
        self.0.history(contract, key, limit).map_err(storage)
    }
}

fn storage(e: govchain_ledger::Error) -> govchain_execution::Error {
    govchain_execution::Error::storage(e)
}
