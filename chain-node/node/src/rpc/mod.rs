//! The node's REST/JSON API, WebSocket subscriptions, `/metrics`,
//! `/healthz` and `/readyz`.

mod error;
mod eth;
pub mod trace;
mod ws;

use std::str::FromStr;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, Request, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use govchain_execution::{DATA_CONTRACT, DataContract, TxContext};
use govchain_types::{
    Decode, Encode, Hash, MAX_DATA, Transaction, TxType,
    api::{BlockRecord, BlockSummary, Height, StateValue, SubmitMode, TxProof, TxRecord},
};
use serde::Deserialize;

pub use error::ApiError;

use crate::{Node, view::LedgerView};

/// Largest request body but a JSON transaction's.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Largest transaction, in its canonical encoding: the largest payload plus
/// room for signers, certificates and memo. The same limit holds for both
/// forms a transaction is submitted in (binary is that encoding; JSON is
/// decoded, then measured by it), with the same error.
pub const MAX_TX_BYTES: usize = MAX_DATA + 64 * 1024;
/// Largest JSON transaction body: hex doubles every byte, plus field names.
const MAX_TX_JSON: usize = 2 * MAX_TX_BYTES + 64 * 1024;
/// Most history entries or scan results returned at once.
const MAX_LIMIT: usize = 1000;

/// The node's HTTP router.
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/policy", get(policy))
        .route("/v1/height", get(height))
        .route("/v1/transactions", post(submit).layer(DefaultBodyLimit::max(MAX_TX_JSON)))
        .route("/v1/transactions/{id}", get(transaction))
        .route("/v1/transactions/{id}/receipt", get(receipt))
        .route("/v1/transactions/{id}/proof", get(proof))
        .route("/v1/transactions/{id}/trace", get(trace::get_trace).post(trace::post_trace))
        .route("/v1/blocks", get(blocks))
        .route("/v1/blocks/{at}", get(block))
        .route("/v1/state/{contract}/{key}", get(state))
        .route("/v1/state/{contract}/{key}/history", get(history))
        .route("/v1/data/{key}", get(data_value))
        .route("/v1/data/{key}/history", get(data_history))
        .route("/v1/query/{contract}", post(query))
        .route("/v1/ws", get(ws::upgrade))
        .route("/v1/eth", post(eth::handle))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(json_errors))
        .with_state(node)
}

/// Unknown paths: 404 with the usual body.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {method} {}", uri.path()))
}

/// Gives every client error the `{code, message}` body: rejections made by
/// the framework (a wrong method, a bad path or query, a refused WebSocket
/// upgrade) answer plain text or nothing at all otherwise. Their text
/// becomes the message; headers such as `Allow` stay.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Framework rejections are short texts; anything longer is cut.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let (code, fallback) = match status {
        StatusCode::NOT_FOUND => ("not_found", format!("no route for {method} {path}")),
        // The methods allowed go in the `Allow` header, which the router
        // adds after this layer has run.
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", format!("{method} is not allowed on {path}; see the Allow header"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported content type".to_owned())
        }
        StatusCode::UPGRADE_REQUIRED => {
            ("upgrade_required", format!("{path} takes WebSocket connections only"))
        }
        _ => ("bad_request", format!("bad request to {path}")),
    };
    let message = if text.is_empty() { fallback } else { text };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let body = Json(govchain_types::api::ErrorBody { code: code.to_owned(), message });
    (parts, body).into_response()
}

async fn readyz(State(node): State<Node>) -> Response {
    if node.ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "consensus has no leader").into_response()
    }
}

async fn metrics(State(node): State<Node>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        node.render_metrics(),
    )
        .into_response()
}

/// The block policy in force on this node.
async fn policy(State(node): State<Node>) -> Json<govchain_consensus::BlockPolicy> {
    Json(node.block_policy())
}

async fn status(State(node): State<Node>) -> Json<govchain_types::api::NodeStatus> {
    Json(node.status())
}

async fn height(State(node): State<Node>) -> Json<Height> {
    Json(Height { height: node.ledger().height().unwrap_or(0) })
}

#[derive(Deserialize)]
struct SubmitParams {
    #[serde(default)]
    mode: SubmitMode,
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        status => ApiError::new(status, "bad_body", e.body_text()),
    })
}

/// The one error of a transaction over [`MAX_TX_BYTES`], whichever form it
/// came in.
fn tx_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the transaction is larger than {MAX_TX_BYTES} bytes in its canonical encoding \
             (its payload may hold at most {MAX_DATA} bytes)"
        ),
    )
}

/// Accepts a transaction as JSON (`application/json`) or in the canonical
/// binary encoding (`application/octet-stream`).
async fn submit(
    State(node): State<Node>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    // A body declared longer than either form of a transaction can be is
    // refused from its head, before a byte of it is read. One a little over
    // is read, so that a client still sending it gets the answer.
    let limit = MAX_TX_JSON;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(tx_too_large());
    }
    // Past the limit the body cannot hold a transaction within MAX_TX_BYTES
    // in either form: answer as for one that is too large.
    let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            tx_too_large()
        } else {
            ApiError::bad_request("bad_body", format!("reading the request body: {e}"))
        }
    })?;
    let tx = if binary {
        if body.len() > MAX_TX_BYTES {
            return Err(tx_too_large());
        }
        Transaction::decode(&body).map_err(|e| ApiError::bad_request("invalid_transaction", e.to_string()))?
    } else {
        let tx: Transaction = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("transaction JSON: {e}")))?;
        if tx.encode().len() > MAX_TX_BYTES {
            return Err(tx_too_large());
        }
        tx
    };
    let response = match node.submit(tx, params.mode).await {
        Ok(r) => r,
        Err(e) => {
            // Forged or foreign-signed transactions are security events (SPEC
            // OPS-7): they go to the error log, not only to the caller.
            if matches!(
                e,
                crate::Error::InvalidTx(govchain_types::Error::BadSignature { .. })
                    | crate::Error::BadCertificate(_)
            ) {
                tracing::warn!(target: "govchain::node", error = %e, "transaction refused: its signature or certificate does not verify");
            }
            return Err(e.into());
        }
    };
    let code = if response.receipt.is_some() { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((code, Json(response)).into_response())
}

fn parse_hash(s: &str) -> Result<Hash, ApiError> {
    Hash::from_str(s).map_err(|e| ApiError::bad_request("bad_hash", e.to_string()))
}

async fn transaction(State(node): State<Node>, Path(id): Path<String>) -> Result<Json<TxRecord>, ApiError> {
    let id = parse_hash(&id)?;
    let (transaction, receipt) =
        node.ledger().transaction(&id)?.ok_or_else(|| ApiError::not_found(format!("transaction {id}")))?;
    Ok(Json(TxRecord { tx_id: id, transaction, receipt }))
}

async fn receipt(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> Result<Json<govchain_types::Receipt>, ApiError> {
    let id = parse_hash(&id)?;
    let receipt =
        node.ledger().receipt(&id)?.ok_or_else(|| ApiError::not_found(format!("receipt of {id}")))?;
    Ok(Json(receipt))
}

async fn proof(State(node): State<Node>, Path(id): Path<String>) -> Result<Json<TxProof>, ApiError> {
    let id = parse_hash(&id)?;
    let receipt =
        node.ledger().receipt(&id)?.ok_or_else(|| ApiError::not_found(format!("transaction {id}")))?;
    let block = node.ledger().block_by_height(receipt.height)?.ok_or_else(|| {
        ApiError::internal(format!("block {} of a committed transaction is missing", receipt.height))
    })?;
    let index = receipt.index as usize;
    let suite = node.suite();
    let proof = block
        .prove_tx(suite, index)
        .ok_or_else(|| ApiError::internal(format!("transaction index {index} outside its block")))?;
    let encoded = block.transactions[index].encode();
    Ok(Json(TxProof { tx_id: id, block_id: block.header.id(suite), header: block.header, encoded, proof }))
}

/// A block by height, by id (64 hex digits), or `latest`.
async fn block(State(node): State<Node>, Path(at): Path<String>) -> Result<Json<BlockRecord>, ApiError> {
    let ledger = node.ledger();
    let block = if at == "latest" {
        ledger.block_by_height(ledger.height().unwrap_or(0))?
    } else if let Ok(h) = at.parse::<u64>() {
        ledger.block_by_height(h)?
    } else {
        ledger.block_by_id(&parse_hash(&at)?)?
    };
    let block = block.ok_or_else(|| ApiError::not_found(format!("block {at}")))?;
    Ok(Json(BlockRecord { id: block.header.id(node.suite()), block }))
}

/// Most headers one block-list page holds.
const MAX_BLOCK_PAGE: usize = 100;

#[derive(Deserialize)]
struct BlockPage {
    /// Only blocks below this height (the next page); from the tip when
    /// absent.
    #[serde(default)]
    before: Option<u64>,
    /// At most this many (default 20, at most [`MAX_BLOCK_PAGE`]).
    #[serde(default)]
    limit: Option<usize>,
}

/// The headers of the latest blocks, newest first, a page at a time.
async fn blocks(
    State(node): State<Node>,
    q: Result<Query<BlockPage>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<BlockSummary>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(20).clamp(1, MAX_BLOCK_PAGE);
    let ledger = node.ledger();
    let Some(tip) = ledger.height() else { return Ok(Json(Vec::new())) };
    let top = match q.before {
        Some(0) => return Ok(Json(Vec::new())),
        Some(b) => tip.min(b - 1),
        None => tip,
    };
    let mut out = Vec::with_capacity(limit);
    for h in (0..=top).rev().take(limit) {
        let block = ledger
            .block_by_height(h)?
            .ok_or_else(|| ApiError::internal(format!("block {h} below the tip {tip} is missing")))?;
        out.push(BlockSummary { id: block.header.id(node.suite()), header: block.header });
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct KeyParams {
    /// `utf8` (default) or `hex`: how the key in the path is written.
    #[serde(default)]
    key_encoding: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn decode_key(key: &str, params: &KeyParams) -> Result<Vec<u8>, ApiError> {
    match params.key_encoding.as_deref() {
        None | Some("utf8") => Ok(key.as_bytes().to_vec()),
        Some("hex") => hex::decode(key.strip_prefix("0x").unwrap_or(key))
            .map_err(|e| ApiError::bad_request("bad_key", format!("key is not hex: {e}"))),
        Some(other) => {
            Err(ApiError::bad_request("bad_query", format!("key_encoding `{other}` is not utf8 or hex")))
        }
    }
}

fn query_params(
    q: Result<Query<KeyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<KeyParams, ApiError> {
    q.map(|Query(p)| p).map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
}

/// Raw contract storage: `key` is the storage key.
async fn state(
    State(node): State<Node>,
    Path((contract, key)): Path<(String, String)>,
    params: Result<Query<KeyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StateValue>, ApiError> {
    let params = query_params(params)?;
    let key = decode_key(&key, &params)?;
    state_value(&node, contract, key)
}

/// A key of the data contract, as its users name it.
async fn data_value(
    State(node): State<Node>,
    Path(key): Path<String>,
    params: Result<Query<KeyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StateValue>, ApiError> {
    let params = query_params(params)?;
    let key = DataContract::value_key(&decode_key(&key, &params)?);
    state_value(&node, DATA_CONTRACT.to_owned(), key)
}

/// History of a key of the data contract.
async fn data_history(
    State(node): State<Node>,
    Path(key): Path<String>,
    params: Result<Query<KeyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<govchain_types::HistoryEntry>>, ApiError> {
    let params = query_params(params)?;
    let key = DataContract::value_key(&decode_key(&key, &params)?);
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    Ok(Json(node.ledger().history(DATA_CONTRACT, &key, limit)?))
}

fn state_value(node: &Node, contract: String, key: Vec<u8>) -> Result<Json<StateValue>, ApiError> {
    let value = node.ledger().get(&contract, &key)?;
    let last_change_height = node.ledger().last_change_height(&contract, &key)?;
    Ok(Json(StateValue {
        contract,
        key_hex: hex::encode(&key),
        value_utf8: value.as_ref().and_then(|v| String::from_utf8(v.clone()).ok()),
        value_hex: value.map(hex::encode),
        last_change_height,
    }))
}

async fn history(
    State(node): State<Node>,
    Path((contract, key)): Path<(String, String)>,
    params: Result<Query<KeyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<govchain_types::HistoryEntry>>, ApiError> {
    let params = query_params(params)?;
    let key = decode_key(&key, &params)?;
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    Ok(Json(node.ledger().history(&contract, &key, limit)?))
}

/// Runs a contract call read-only against committed state. The body is the
/// call payload: canonical bytes (`application/octet-stream`), or for the
/// data and evidence contracts and EVM contracts its JSON form. A
/// `contract` starting with `0x` is an EVM contract address: the payload
/// is an [`EvmCall`](govchain_execution::EvmCall), run by the chain's `evm`
/// engine from the zero address, and the answer is `{"output": "0x..."}`
/// (the return data).
async fn query(
    State(node): State<Node>,
    Path(contract): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let payload = if binary { body.to_vec() } else { call_from_json(&contract, &body)? };
    let ledger = node.ledger();
    let height = ledger.height().unwrap_or(0);
    let ctx = TxContext {
        tx_id: Hash::ZERO,
        sender: govchain_crypto::Address([0; 20]),
        org: String::new(),
        height,
        timestamp_ms: govchain_types::now_ms(),
    };
    let failed = |e: govchain_execution::Error| ApiError::bad_request("query_failed", e.to_string());
    if is_evm_address(&contract) {
        let output = node
            .executor()
            .query_engine(TxType::EvmCall, &LedgerView(ledger), ctx, &contract, &payload)
            .map_err(failed)?;
        return Ok(
            Json(serde_json::json!({ "output": format!("0x{}", hex::encode(output)) })).into_response()
        );
    }
    let output = node.executor().query(&LedgerView(ledger), ctx, &contract, &payload).map_err(failed)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], output).into_response())
}

/// Whether a query names an EVM contract (by address) rather than a native one.
fn is_evm_address(contract: &str) -> bool {
    contract.starts_with("0x") || contract.starts_with("0X")
}

/// The canonical payload of a call given in a contract's JSON form.
fn call_from_json(contract: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let bad =
        |e: serde_json::Error| ApiError::bad_request("invalid_call", format!("{contract} call JSON: {e}"));
    match contract {
        DATA_CONTRACT => {
            Ok(serde_json::from_slice::<govchain_execution::DataCall>(body).map_err(bad)?.encode())
        }
        govchain_execution::EVIDENCE_CONTRACT => {
            Ok(serde_json::from_slice::<govchain_execution::EvidenceCall>(body).map_err(bad)?.encode())
        }
        govchain_execution::evm::registry::CONTRACTS => {
            let call = serde_json::from_slice::<govchain_execution::ContractsCall>(body).map_err(bad)?;
            Ok(call.to_json())
        }
        address if is_evm_address(address) => {
            Ok(serde_json::from_slice::<govchain_execution::EvmCall>(body).map_err(bad)?.encode())
        }
        other => Err(ApiError::bad_request(
            "invalid_call",
            format!("contract `{other}` takes only binary payloads (application/octet-stream)"),
        )),
    }
}
