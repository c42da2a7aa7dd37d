//! Debug traces of committed EVM transactions (SPEC SC-7):
//! `GET /v1/transactions/{id}/trace` and, with the contract's ABI for
//! decoding, `POST /v1/transactions/{id}/trace`.
//!
//! The trace is recomputed on demand: the transaction is re-executed by
//! the chain's EVM engine over the ledger's state as it stood just before
//! it (its parent block plus the earlier transactions of its block, read
//! from the per-key history), and the result is checked against its
//! receipt. Limits come from the query (`GET`) or the body (`POST`):
//! `step_limit` (1 to 1,000,000, default 100,000) and `memory_bytes` per
//! step (0 to 65,536, default 1,024). The answer is an
//! [`EvmTrace`](govchain_execution::evm::trace::EvmTrace).

use std::ops::Bound;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::BytesRejection, rejection::QueryRejection},
    http::StatusCode,
};
use govchain_execution::{
    EngineKind, EvmEngine, StateView, TxContext,
    evm::trace::{EvmTrace, TraceError, TraceOptions},
};
use govchain_ledger::Ledger;
use govchain_types::{Hash, HistoryEntry, TxType};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{ApiError, body_bytes, parse_hash};
use crate::Node;

/// The body of `POST /v1/transactions/{id}/trace`; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceRequest {
    /// The contract's ABI (the JSON array solc writes), to decode the
    /// call, its result and its events.
    pub abi: Option<serde_json::Value>,
    /// Most steps recorded.
    pub step_limit: Option<u64>,
    /// Most memory bytes shown per step.
    pub memory_bytes: Option<usize>,
}

/// The query of `GET /v1/transactions/{id}/trace`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceQuery {
    /// Most steps recorded.
    pub step_limit: Option<u64>,
    /// Most memory bytes shown per step.
    pub memory_bytes: Option<usize>,
}

/// `GET /v1/transactions/{id}/trace`.
pub(super) async fn get_trace(
    State(node): State<Node>,
    Path(id): Path<String>,
    query: Result<Query<TraceQuery>, QueryRejection>,
) -> Result<Json<EvmTrace>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let request = TraceRequest { abi: None, step_limit: q.step_limit, memory_bytes: q.memory_bytes };
    run(node, &id, request).await
}

/// `POST /v1/transactions/{id}/trace` with a [`TraceRequest`].
pub(super) async fn post_trace(
    State(node): State<Node>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EvmTrace>, ApiError> {
    let body = body_bytes(body)?;
    let request: TraceRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TraceRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("trace request JSON: {e}")))?
    };
    run(node, &id, request).await
}

/// Traces computed at once; each may take a transaction's gas of CPU and
/// up to `evm::trace::BUDGET_BYTES` of memory, so more wait for a turn.
const CONCURRENT_TRACES: usize = 2;
static TRACES: Semaphore = Semaphore::const_new(CONCURRENT_TRACES);

async fn run(node: Node, id: &str, request: TraceRequest) -> Result<Json<EvmTrace>, ApiError> {
    let id = parse_hash(id)?;
    let _turn = TRACES.acquire().await.map_err(|e| ApiError::internal(format!("trace turn: {e}")))?;
    // Re-execution is CPU work of up to a full transaction's gas plus the
    // recording; keep it off the async workers.
    tokio::task::spawn_blocking(move || trace(&node, id, request))
        .await
        .map_err(|e| ApiError::internal(format!("trace task: {e}")))?
        .map(Json)
}

/// The trace of transaction `id`, decoded with the request's ABI if any.
pub fn trace(node: &Node, id: Hash, request: TraceRequest) -> Result<EvmTrace, ApiError> {
    let defaults = TraceOptions::default();
    let options = TraceOptions {
        step_limit: request.step_limit.unwrap_or(defaults.step_limit),
        memory_bytes: request.memory_bytes.unwrap_or(defaults.memory_bytes),
    };
    options.validate().map_err(refusal)?;
    let ledger = node.ledger();
    let (tx, receipt) =
        ledger.transaction(&id)?.ok_or_else(|| ApiError::not_found(format!("transaction {id}")))?;
    if !matches!(tx.body.tx_type, TxType::EvmCreate | TxType::EvmCall) {
        return Err(refusal(TraceError::NotEvm(tx.body.tx_type)));
    }
    let execution = &node.genesis().execution;
    if !execution.engines.contains(&EngineKind::Evm) {
        return Err(ApiError::bad_request(
            "not_evm",
            "this chain runs no EVM; its transactions have no EVM trace",
        ));
    }
    let engine = EvmEngine::new(execution.evm.clone().unwrap_or_default());
    let header = ledger.block_by_height(receipt.height)?.map(|b| b.header).ok_or_else(|| {
        ApiError::new(
            StatusCode::GONE,
            "state_unavailable",
            format!(
                "block {} of transaction {id} is not on this node; its state cannot be rebuilt",
                receipt.height
            ),
        )
    })?;
    let ctx = TxContext {
        tx_id: id,
        sender: tx.body.sender,
        // The EVM does not look at the organization.
        org: String::new(),
        height: receipt.height,
        timestamp_ms: header.timestamp_ms,
    };
    let before = StateBefore { ledger, height: receipt.height, index: receipt.index };
    let mut trace = engine.trace(&before, &tx, &ctx, &receipt, &options).map_err(refusal)?;
    if let Some(abi) = &request.abi {
        trace.decode_abi(abi).map_err(refusal)?;
    }
    Ok(trace)
}

/// The answer to a trace that cannot be given.
fn refusal(e: TraceError) -> ApiError {
    let status = match &e {
        TraceError::Diverged(_) => StatusCode::CONFLICT,
        TraceError::Execution(inner) if inner.is_storage() => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.kind(), e.to_string())
}

/// The ledger's state just before transaction `index` of block `height`.
/// Only point reads are answered: the EVM reads nothing else, and a past
/// state has no index to scan.
struct StateBefore<'a> {
    ledger: &'a Ledger,
    height: u64,
    index: u32,
}

impl StateView for StateBefore<'_> {
    fn get(&self, contract: &str, key: &[u8]) -> govchain_execution::Result<Option<Vec<u8>>> {
        self.ledger
            .get_before(contract, key, self.height, self.index)
            .map_err(govchain_execution::Error::storage)
    }

    fn scan(
        &self,
        contract: &str,
        _start: Bound<&[u8]>,
        _end: Bound<&[u8]>,
        _limit: usize,
    ) -> govchain_execution::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Err(unavailable(contract, "key ranges"))
    }

    fn history(
        &self,
        contract: &str,
        _key: &[u8],
        _limit: usize,
    ) -> govchain_execution::Result<Vec<HistoryEntry>> {
        Err(unavailable(contract, "key history"))
    }
}

fn unavailable(contract: &str, what: &str) -> govchain_execution::Error {
    govchain_execution::Error::InvalidArgument(format!(
        "a trace cannot read {what} of `{contract}` as they stood before the transaction"
    ))
}
