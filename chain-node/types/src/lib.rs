//! govchain types.
