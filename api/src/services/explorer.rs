//! The chain explorer (SPEC OPS-4): blocks, transactions and contracts of a
//! chain as its nodes serve them, read through the first node that
//! answers, with what the platform knows beside them (which of its
//! contracts a transaction called, decoded with that contract's ABI).

use govchain_execution::{
    EvmCall, EvmLog,
    abi::{Abi, DecodedCall, DecodedEvent},
};
use govchain_sdk::Client;
use govchain_types::{
    Decode, Hash, TxType,
    api::{BlockRecord, BlockSummary, TxProof, TxRecord},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::{
    entity::{chain, contract},
    error::{ApiError, Result},
    services::contracts::{self, Refusal},
};

/// Most block headers one page holds.
pub const MAX_BLOCKS: usize = 100;

/// A node refused a read the platform made well formed: it is not the
/// node the platform expects (502).
fn refused(r: Refusal) -> ApiError {
    contracts::node_failed(format!("the node refused the read: {}: {}", r.code, r.message))
}

/// The headers of the chain's latest blocks (below `before`), newest first.
pub async fn blocks(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<BlockSummary>> {
    let limit = limit.clamp(1, MAX_BLOCKS);
    contracts::ask_nodes(db, c, "the block list", |client| async move { client.blocks(before, limit).await })
        .await?
        .map_err(refused)
}

/// The block at a height or with an id (`at`), if the chain has it.
pub async fn block(db: &impl ConnectionTrait, c: &chain::Model, at: &str) -> Result<Option<BlockRecord>> {
    contracts::ask_nodes(db, c, "the block", |client| async move { client.block(at).await })
        .await?
        .map_err(refused)
}

/// A committed transaction with its receipt and proof of inclusion.
pub async fn transaction(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    id: &Hash,
) -> Result<Option<(TxRecord, TxProof)>> {
    contracts::ask_nodes(db, c, "the transaction", |client| record_and_proof(client, id))
        .await?
        .map_err(refused)
}

async fn record_and_proof(
    client: Client,
    id: &Hash,
) -> std::result::Result<Option<(TxRecord, TxProof)>, govchain_sdk::Error> {
    match client.transaction(id).await? {
        Some(record) => Ok(client.proof(id).await?.map(|proof| (record, proof))),
        None => Ok(None),
    }
}

/// Most blocks the statistics cover.
pub const MAX_STATS_BLOCKS: usize = 100;

/// Transactions of the chain's latest blocks, for the explorer's charts.
#[derive(Debug)]
pub struct Stats {
    /// The blocks, newest first.
    pub blocks: Vec<BlockSummary>,
    /// Transactions by type (`invoke`, `evm_create`, `evm_call`, `system`,
    /// `ethereum`) over those blocks.
    pub by_type: std::collections::BTreeMap<String, u64>,
}

/// Statistics of the latest `n` blocks: their headers (time and
/// transaction count) and their transactions by type (read from the blocks
/// that hold any).
pub async fn stats(db: &impl ConnectionTrait, c: &chain::Model, n: usize) -> Result<Stats> {
    let blocks = blocks(db, c, None, n.clamp(1, MAX_STATS_BLOCKS)).await?;
    let mut by_type = std::collections::BTreeMap::new();
    for b in blocks.iter().filter(|b| b.header.tx_count > 0) {
        let Some(full) = block(db, c, &b.header.height.to_string()).await? else { continue };
        for tx in &full.block.transactions {
            *by_type.entry(tx.body.tx_type.to_string()).or_insert(0) += 1;
        }
    }
    Ok(Stats { blocks, by_type })
}

/// The platform's contract at `address` on `c`, with its active ABI.
pub async fn contract_at(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    address: &str,
) -> Result<Option<(contract::Model, Option<Abi>)>> {
    let address = address.to_ascii_lowercase();
    if address.len() != 42 {
        return Ok(None);
    }
    let Some(k) = contract::Entity::find()
        .filter(contract::Column::ChainId.eq(c.id))
        .filter(contract::Column::Address.eq(address))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let (_, v) = contracts::visible(db, c, k.id).await?;
    let abi = Abi::parse(&v.abi).ok();
    Ok(Some((k, abi)))
}

/// A transaction's input and events decoded with the ABI of the contract it
/// called (EVM calls of the platform's contracts).
#[derive(Debug)]
pub struct Decoded {
    pub call: Option<DecodedCall>,
    pub events: Vec<DecodedEvent>,
}

/// Decodes what `record` sent to a contract with `abi`.
pub fn decode(record: &TxRecord, address: &str, abi: &Abi) -> Decoded {
    let call = match record.transaction.body.tx_type {
        TxType::EvmCall => {
            EvmCall::decode(&record.transaction.body.data).ok().and_then(|c| abi.decode_input(&c.input))
        }
        _ => None,
    };
    let events = record
        .receipt
        .events
        .iter()
        .filter_map(EvmLog::from_event)
        .filter(|l| format!("0x{}", hex::encode(l.address)).eq_ignore_ascii_case(address))
        .filter_map(|l| abi.decode_log(&l))
        .collect();
    Decoded { call, events }
}

/// What a search found.
#[derive(Debug)]
pub enum Hit {
    /// A block, by height or id.
    Block { height: u64, id: Hash },
    /// A committed transaction.
    Transaction { id: Hash, height: u64 },
    /// One of the platform's contracts on the chain.
    Contract { id: i64, name: String, address: String },
    /// An account address (nothing the platform deployed).
    Account { address: String },
}

/// Finds what `q` names on `c`: a height, a block id, a transaction id or
/// an address. `None` when it is well formed but nothing on the chain has
/// it; a 422 when it is none of those.
pub async fn search(db: &impl ConnectionTrait, c: &chain::Model, q: &str) -> Result<Option<Hit>> {
    let q = q.trim();
    let hex = q.strip_prefix("0x").or_else(|| q.strip_prefix("0X")).unwrap_or(q);
    let is_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !q.is_empty() && q.len() <= 20 && q.bytes().all(|b| b.is_ascii_digit()) {
        let Ok(height) = q.parse::<u64>() else { return Ok(None) };
        return Ok(block(db, c, &height.to_string()).await?.map(|b| Hit::Block { height, id: b.id }));
    }
    if is_hex && hex.len() == 64 {
        let id: Hash = hex.parse().map_err(|_| ApiError::invalid("a hash is 64 hex digits"))?;
        if let Some(b) = block(db, c, &id.to_string()).await? {
            return Ok(Some(Hit::Block { height: b.block.header.height, id: b.id }));
        }
        return Ok(transaction(db, c, &id)
            .await?
            .map(|(r, _)| Hit::Transaction { id, height: r.receipt.height }));
    }
    if is_hex && hex.len() == 40 {
        let address = format!("0x{}", hex.to_ascii_lowercase());
        return Ok(Some(match contract_at(db, c, &address).await? {
            Some((k, _)) => Hit::Contract { id: k.id, name: k.name, address },
            None => Hit::Account { address },
        }));
    }
    Err(crate::validate::refuse(
        "q",
        "search by block height, block hash, transaction id (64 hex digits) or address (40 hex digits)",
    ))
}
