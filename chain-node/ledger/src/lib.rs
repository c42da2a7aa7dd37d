//! govchain ledger.
