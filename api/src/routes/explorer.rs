//! The chain explorer (SPEC OPS-4): the latest blocks of a chain, a block,
//! a transaction with its receipt, events and proof of inclusion (checked
//! by the platform against the block header), and a search by height,
//! block hash, transaction id or address. Everyone who sees the chain
//! reads it.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use govchain_types::{
    Encode, Hash,
    api::{BlockRecord, BlockSummary},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{Require, need},
    error::{ApiError, ErrorBody, Result},
    routes::contracts::{EventView, ValueView},
    services::{
        chains,
        explorer::{self, Hit},
    },
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_blocks))
        .routes(routes!(get_block))
        .routes(routes!(get_transaction))
        .routes(routes!(search))
        .routes(routes!(chain_stats))
}

/// A block header.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockHeaderView {
    /// Height (genesis is 0).
    pub height: u64,
    /// The block id (hash of the header).
    pub id: String,
    /// The previous block's id.
    pub prev_hash: String,
    /// Block time, ms since the epoch.
    pub timestamp_ms: u64,
    /// The proposing node.
    pub proposer: String,
    /// Transactions in the block.
    pub tx_count: u32,
    /// Merkle root of the transactions.
    pub tx_root: String,
    /// Merkle root of the receipts.
    pub receipts_root: String,
    /// State root after the block.
    pub state_root: String,
}

impl BlockHeaderView {
    fn new(id: Hash, h: &govchain_types::BlockHeader) -> Self {
        BlockHeaderView {
            height: h.height,
            id: id.to_string(),
            prev_hash: h.prev_hash.to_string(),
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.clone(),
            tx_count: h.tx_count,
            tx_root: h.tx_root.to_string(),
            receipts_root: h.receipts_root.to_string(),
            state_root: h.state_root.to_string(),
        }
    }
}

impl From<BlockSummary> for BlockHeaderView {
    fn from(b: BlockSummary) -> Self {
        BlockHeaderView::new(b.id, &b.header)
    }
}

/// A transaction of a block, in brief.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TxBriefView {
    /// Its id.
    pub tx_id: String,
    /// `invoke`, `evm_create`, `evm_call`, `system` or `ethereum`.
    pub tx_type: String,
    /// The sending address.
    pub sender: String,
    /// The contract called (a native contract's name or an address).
    pub recipient: String,
    /// Client time of creation, ms since the epoch.
    pub timestamp_ms: u64,
}

/// A block with its transactions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The header.
    #[serde(flatten)]
    pub header: BlockHeaderView,
    /// The transactions, in order.
    pub transactions: Vec<TxBriefView>,
    /// Signatures on the block (the proposer's; a commit certificate's).
    pub signatures: usize,
}

/// A committed transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    /// Its id.
    pub tx_id: String,
    /// `invoke`, `evm_create`, `evm_call`, `system` or `ethereum`.
    pub tx_type: String,
    /// The sending address.
    pub sender: String,
    /// The contract called.
    pub recipient: String,
    /// The sender's nonce.
    pub nonce: u64,
    /// Client time of creation, ms since the epoch.
    pub timestamp_ms: u64,
    /// Free text.
    pub memo: String,
    /// Number of signers.
    pub signers: usize,
    /// The payload, `0x` hex.
    pub data: String,
    /// Its block.
    pub height: u64,
    /// Its place in the block.
    pub index: u32,
    /// The block's id.
    pub block_id: String,
    /// The block's time, ms since the epoch.
    pub block_time_ms: u64,
    /// `success` or the failure.
    pub status: String,
    /// Why it failed.
    pub message: String,
    /// What it returned, `0x` hex.
    pub output: String,
    /// The receipt's events: `contract`, `name`, `data` (hex).
    #[schema(value_type = Vec<Object>)]
    pub events: serde_json::Value,
    /// The proof of inclusion: the block header, the transaction's
    /// encoding and the Merkle path to the header's `tx_root`.
    #[schema(value_type = Object)]
    pub proof: serde_json::Value,
    /// Whether the platform checked the proof: the path leads from the
    /// transaction to the header's root and the header hashes to the id.
    pub proof_verified: bool,
    /// The platform's contract it called, if any.
    pub contract: Option<ContractRef>,
    /// The call decoded with that contract's ABI.
    pub input: Option<DecodedInputView>,
    /// Its events decoded with that ABI.
    pub decoded_events: Vec<EventView>,
}

/// One of the platform's contracts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContractRef {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// Its active version.
    pub version: String,
}

/// A decoded call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecodedInputView {
    /// `name(type,…)`.
    pub signature: String,
    /// The arguments.
    pub args: Vec<ValueView>,
}

/// What a search found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHitView {
    /// `block`, `transaction`, `contract` or `account`.
    pub kind: String,
    /// The block's height (a block or a transaction's block).
    pub height: Option<u64>,
    /// The block id or the transaction id.
    pub id: Option<String>,
    /// The contract's id on the platform.
    pub contract_id: Option<i64>,
    /// The contract's name.
    pub name: Option<String>,
    /// The address (a contract or an account).
    pub address: Option<String>,
}

/// Paging of the block list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlockPage {
    /// Only blocks below this height (the next page).
    pub before: Option<u64>,
    /// At most this many (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The chain's latest blocks, newest first; the next page starts below the
/// last height seen (`before`).
#[utoipa::path(get, path = "/api/v1/chains/{id}/blocks", tag = "explorer",
    params(("id" = i64, Path, description = "Chain id"), BlockPage),
    responses(
        (status = 200, body = [BlockHeaderView]),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the chain has no running node", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn list_blocks(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(p): Query<BlockPage>,
) -> Result<Json<Vec<BlockHeaderView>>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let blocks = explorer::blocks(&state.read, &c, p.before, p.limit.unwrap_or(20)).await?;
    Ok(Json(blocks.into_iter().map(Into::into).collect()))
}

/// A block by height or id, with its transactions.
#[utoipa::path(get, path = "/api/v1/chains/{id}/blocks/{at}", tag = "explorer",
    params(("id" = i64, Path, description = "Chain id"), ("at" = String, Path, description = "Height, block id (64 hex digits) or `latest`")),
    responses(
        (status = 200, body = BlockView),
        (status = 404, description = "`not_found`: no such chain, or no block there", body = ErrorBody),
        (status = 422, description = "`invalid`: neither a height nor a block id", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn get_block(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, at)): Path<(i64, String)>,
) -> Result<Json<BlockView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let at = block_ref(&at)?;
    let b = explorer::block(&state.read, &c, &at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("block {at} on chain {}", c.name)))?;
    Ok(Json(block_view(&c, b)?))
}

/// A committed transaction: its receipt and events, its proof of inclusion
/// (checked), and for a call of one of the platform's contracts the input
/// and events decoded with its ABI.
#[utoipa::path(get, path = "/api/v1/chains/{id}/transactions/{tx_id}", tag = "explorer",
    params(("id" = i64, Path, description = "Chain id"), ("tx_id" = String, Path, description = "Transaction id (64 hex digits)")),
    responses(
        (status = 200, body = TransactionView),
        (status = 404, description = "`not_found`: no such chain, or no such transaction on it", body = ErrorBody),
        (status = 422, description = "`invalid`: not a transaction id", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn get_transaction(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, tx_id)): Path<(i64, String)>,
) -> Result<Json<TransactionView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let tx: Hash = tx_id
        .trim_start_matches("0x")
        .parse()
        .map_err(|_| validate::refuse("tx_id", "a transaction id is 64 hex digits"))?;
    let (record, proof) = explorer::transaction(&state.read, &c, &tx)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("transaction {tx} on chain {}", c.name)))?;
    let suite = suite_of(&c)?;
    let proof_verified = proof.block_id == proof.header.id(suite)
        && proof.encoded == record.transaction.encode()
        && proof.proof.verify(suite, &proof.encoded, &proof.header.tx_root);
    let body = &record.transaction.body;
    let known = explorer::contract_at(&state.read, &c, &body.recipient).await?;
    let (contract, input, decoded_events) = match known {
        Some((k, abi)) => {
            let decoded = abi.as_ref().map(|abi| explorer::decode(&record, &k.address, abi));
            let (call, events) = decoded.map(|d| (d.call, d.events)).unwrap_or_default();
            (
                Some(ContractRef { id: k.id, name: k.name, address: k.address, version: k.version }),
                call.map(|c| DecodedInputView {
                    signature: c.signature,
                    args: c.args.into_iter().map(Into::into).collect(),
                }),
                events.into_iter().map(Into::into).collect(),
            )
        }
        None => (None, None, Vec::new()),
    };
    Ok(Json(TransactionView {
        tx_id: tx.to_string(),
        tx_type: body.tx_type.to_string(),
        sender: body.sender.to_string(),
        recipient: body.recipient.clone(),
        nonce: body.nonce,
        timestamp_ms: body.timestamp_ms,
        memo: body.memo.clone(),
        signers: body.signers.len(),
        data: format!("0x{}", hex::encode(&body.data)),
        height: record.receipt.height,
        index: record.receipt.index,
        block_id: proof.block_id.to_string(),
        block_time_ms: proof.header.timestamp_ms,
        status: json(&record.receipt.status).as_str().unwrap_or_default().to_owned(),
        message: record.receipt.message.clone(),
        output: format!("0x{}", hex::encode(&record.receipt.output)),
        events: json(&record.receipt.events),
        proof: json(&proof),
        proof_verified,
        contract,
        input,
        decoded_events,
    }))
}

/// A block in the statistics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockPointView {
    /// Height.
    pub height: u64,
    /// Block time, ms since the epoch.
    pub timestamp_ms: u64,
    /// Transactions in it.
    pub tx_count: u32,
}

/// Statistics of a chain's latest blocks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatsView {
    /// The blocks, oldest first (a time series).
    pub blocks: Vec<BlockPointView>,
    /// Transactions in them.
    pub transactions: u64,
    /// Transactions by type (`invoke`, `evm_create`, `evm_call`, `system`,
    /// `ethereum`).
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Mean time between the blocks, ms (none for fewer than two).
    pub mean_block_ms: Option<u64>,
    /// Transactions per second over the span of the blocks (none for
    /// fewer than two).
    pub tps: Option<f64>,
}

/// How many blocks the statistics cover.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The latest this many blocks (default 50, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub blocks: Option<usize>,
}

/// Statistics of the chain's latest blocks: blocks and transactions over
/// time, and transactions by type.
#[utoipa::path(get, path = "/api/v1/chains/{id}/stats", tag = "explorer",
    params(("id" = i64, Path, description = "Chain id"), StatsQuery),
    responses(
        (status = 200, body = StatsView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the chain has no running node", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn chain_stats(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<StatsView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let s = explorer::stats(&state.read, &c, q.blocks.unwrap_or(50)).await?;
    let mut blocks: Vec<BlockPointView> = s
        .blocks
        .iter()
        .map(|b| BlockPointView {
            height: b.header.height,
            timestamp_ms: b.header.timestamp_ms,
            tx_count: b.header.tx_count,
        })
        .collect();
    blocks.reverse();
    let transactions = blocks.iter().map(|b| u64::from(b.tx_count)).sum();
    let span = match (blocks.first(), blocks.last()) {
        (Some(a), Some(b)) if blocks.len() > 1 => Some(b.timestamp_ms.saturating_sub(a.timestamp_ms)),
        _ => None,
    };
    Ok(Json(StatsView {
        mean_block_ms: span.map(|ms| ms / (blocks.len() as u64 - 1)),
        tps: span.filter(|ms| *ms > 0).map(|ms| transactions as f64 * 1000.0 / ms as f64),
        transactions,
        by_type: s.by_type,
        blocks,
    }))
}

/// What to search for.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A block height, a block hash, a transaction id (64 hex digits) or an
    /// address (40 hex digits), `0x` optional.
    pub q: String,
}

/// Finds a block (by height or hash), a transaction (by id) or a contract or
/// account (by address) on the chain.
#[utoipa::path(get, path = "/api/v1/chains/{id}/search", tag = "explorer",
    params(("id" = i64, Path, description = "Chain id"), SearchQuery),
    responses(
        (status = 200, body = SearchHitView),
        (status = 404, description = "`not_found`: nothing on the chain has that height or hash", body = ErrorBody),
        (status = 422, description = "`invalid`: neither a height, a hash nor an address", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchHitView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    validate::filter("q", &q.q)?;
    let hit = explorer::search(&state.read, &c, &q.q).await?.ok_or_else(|| {
        ApiError::not_found(format!("nothing on chain {} matches `{}`", c.name, q.q.trim()))
    })?;
    let none = SearchHitView {
        kind: String::new(),
        height: None,
        id: None,
        contract_id: None,
        name: None,
        address: None,
    };
    Ok(Json(match hit {
        Hit::Block { height, id } => {
            SearchHitView { kind: "block".into(), height: Some(height), id: Some(id.to_string()), ..none }
        }
        Hit::Transaction { id, height } => SearchHitView {
            kind: "transaction".into(),
            height: Some(height),
            id: Some(id.to_string()),
            ..none
        },
        Hit::Contract { id, name, address } => SearchHitView {
            kind: "contract".into(),
            contract_id: Some(id),
            name: Some(name),
            address: Some(address),
            ..none
        },
        Hit::Account { address } => SearchHitView { kind: "account".into(), address: Some(address), ..none },
    }))
}

/// A block reference as the node reads it: a height, `latest` or a block
/// id (hex, `0x` optional).
fn block_ref(at: &str) -> Result<String> {
    let at = at.trim();
    if at == "latest" || (!at.is_empty() && at.len() <= 20 && at.bytes().all(|b| b.is_ascii_digit())) {
        return Ok(at.to_owned());
    }
    let id: Hash = at
        .trim_start_matches("0x")
        .parse()
        .map_err(|_| validate::refuse("at", "a block is named by its height or its id (64 hex digits)"))?;
    Ok(id.to_string())
}

fn suite_of(c: &crate::entity::chain::Model) -> Result<govchain_crypto::Suite> {
    c.suite.parse().map_err(|e| ApiError::internal("reading the chain's suite", e))
}

fn block_view(c: &crate::entity::chain::Model, b: BlockRecord) -> Result<BlockView> {
    let suite = suite_of(c)?;
    let header = BlockHeaderView::new(b.id, &b.block.header);
    let transactions = b
        .block
        .transactions
        .iter()
        .map(|t| TxBriefView {
            tx_id: t.id(suite).to_string(),
            tx_type: t.body.tx_type.to_string(),
            sender: t.body.sender.to_string(),
            recipient: t.body.recipient.clone(),
            timestamp_ms: t.body.timestamp_ms,
        })
        .collect();
    Ok(BlockView { header, transactions, signatures: b.block.signatures.len() })
}

/// JSON of the node's records, for the fields passed through as they are.
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}
