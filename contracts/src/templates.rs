//! The built-in contract templates (SPEC SC-6), as Solidity source. Each
//! compiles with the pinned compiler, passes [`analyse`](crate::analyse)
//! with nothing above low, and is tested on the chain's EVM.

/// One template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The source file name, e.g. `Evidence.sol`.
    pub file: &'static str,
    /// The contract to deploy from it.
    pub contract: &'static str,
    /// What it is for.
    pub summary: &'static str,
    /// The Solidity source.
    pub source: &'static str,
}

/// Evidence storage: a document's hash with metadata; verify by hash.
pub const EVIDENCE: Template = Template {
    file: "Evidence.sol",
    contract: "Evidence",
    summary: "Evidence storage: a document's hash with metadata and submitter; verify a document by its hash.",
    source: include_str!("../templates/Evidence.sol"),
};

/// Traceability: an item's history of steps.
pub const TRACEABILITY: Template = Template {
    file: "Traceability.sol",
    contract: "Traceability",
    summary: "Traceability: an item's history of steps with actor and time, recorded by its owner and handlers.",
    source: include_str!("../templates/Traceability.sol"),
};

/// Records retrievable by the reference of the business transaction that
/// filed them, or by the id logged in the chain transaction's receipt.
pub const RECORD_STORE: Template = Template {
    file: "RecordStore.sol",
    contract: "RecordStore",
    summary: "Retrieval by transaction id: records filed under a business transaction reference, read back by it or by the id in the filing transaction's receipt.",
    source: include_str!("../templates/RecordStore.sol"),
};

/// An ERC-20 token (the EVM benchmark's workload).
pub const TOKEN: Template = Template {
    file: "Token.sol",
    contract: "Token",
    summary: "An ERC-20 token; the whole supply goes to the deployer.",
    source: include_str!("../templates/Token.sol"),
};

/// Every template.
pub const ALL: [Template; 4] = [EVIDENCE, TRACEABILITY, RECORD_STORE, TOKEN];
