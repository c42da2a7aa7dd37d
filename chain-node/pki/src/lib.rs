//! govchain pki.
