//! The Solidity toolchain of govchain.
//!
//! - [`compile`]: runs the pinned solc-js compiler (npm `solc` 0.8.37)
//!   through `node` on a standard-JSON input, and returns per contract its
//!   ABI, bytecode and deployed bytecode, per file its AST, and the
//!   diagnostics with positions in **characters** (solc counts bytes, so a
//!   Chinese comment would shift them). Where the compiler is found is
//!   described in [`solc`].
//! - [`analyse`]: static analysis of the compiled AST ([`analysis`]):
//!   reentrancy, `tx.origin` authorization, unchecked low-level calls,
//!   caller-controlled `delegatecall`, reachable `selfdestruct`, timestamp
//!   dependence, unbounded loops over storage arrays, floating pragmas and
//!   arithmetic that can overflow. Each finding has a stable id, so a
//!   dismissal can be recorded against it.
//! - [`templates`]: the contract templates (evidence, traceability,
//!   records by transaction reference, an ERC-20-style token), compiled and
//!   tested on the chain's EVM.
//! - [`cli`]: the work behind `govchain contract compile` and
//!   `govchain contract analyse`.
//!
//! Not for: deploying or calling contracts (the SDK and the EVM engine),
//! ABI encoding, or the browser compiler of the console (it loads the same
//! solc package in the page).

pub mod analysis;
pub mod cli;
mod error;
mod position;
pub mod solc;
pub mod templates;

pub use analysis::{Finding, Rule, Severity, analyse};
pub use error::{Error, Result};
pub use position::{Position, SourceText};
pub use solc::{
    CompileOptions, Compiled, CompiledContract, CompiledSource, Diagnostic, DiagnosticSeverity, EvmVersion,
    SOLC_VERSION, compile, read_standard_output, standard_output,
};
