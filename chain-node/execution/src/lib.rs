//! govchain execution.
