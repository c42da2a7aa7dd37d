//! Integration tests of the core types.

mod fuzz;
mod roundtrip;
