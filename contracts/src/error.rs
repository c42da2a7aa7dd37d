//! The crate's error type.

use std::path::PathBuf;

/// Why compiling or analysing could not be done at all. Errors in the
/// Solidity code are not among them: they are diagnostics of a
/// [`Compiled`](crate::Compiled).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `node` could not be started.
    #[error(
        "cannot run node ({node}): {reason}. Install Node.js 18 or newer (Debian: `apt-get install nodejs npm`), or name it with GOVCHAIN_NODE"
    )]
    NodeMissing {
        /// The program that was tried.
        node: String,
        /// What the system said.
        reason: String,
    },
    /// The solc npm package was not found or is not the pinned version.
    #[error(
        "{0}. Install it with `npm ci --prefix contracts/js` in the govchain repository, and point GOVCHAIN_SOLC_JS at the directory holding node_modules/solc if it is elsewhere"
    )]
    SolcMissing(String),
    /// The input is refused before compiling (too large, bad name, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// The compiler ran longer than allowed and was stopped.
    #[error("the compiler took longer than {0:?} and was stopped")]
    Timeout(std::time::Duration),
    /// The compiler's output was larger than allowed.
    #[error("the compiler's output exceeds {0} bytes")]
    OutputTooLarge(usize),
    /// The compiler process failed or answered something unreadable.
    #[error("the compiler failed: {0}")]
    Compiler(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
