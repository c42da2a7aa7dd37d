//! Trusted evidence (SPEC GOV-5) through the platform: a member
//! organization records a document's digest on a chain (the document
//! itself never reaches the platform: the browser hashes it with the
//! chain's hash), and anyone who sees the chain checks a document's digest
//! against the record. A record is kept by the chain's `evidence` contract
//! under an id, by default the digest in hex, so a file alone finds its
//! record.

use govchain_crypto::Suite;
use govchain_execution::{EVIDENCE_CONTRACT, EvidenceCall, EvidenceRecord};
use govchain_types::{Encode, TxStatus};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use crate::{
    AppState,
    entity::chain,
    error::{ApiError, Result},
    services::contracts::{self, Refusal},
};

/// The name of a suite's hash, as the browser computes it.
pub fn hash_name(suite: Suite) -> &'static str {
    match suite {
        Suite::Gm => "sm3",
        Suite::IntlK1 => "keccak256",
        Suite::IntlR1 => "sha256",
    }
}

/// What the chain's `evidence` contract says of an id.
#[derive(Debug, Deserialize)]
pub struct Lookup {
    pub found: bool,
    #[serde(default)]
    pub record: Option<EvidenceRecord>,
}

/// The record under `id` on `c`, if there is one.
pub async fn get(db: &impl ConnectionTrait, c: &chain::Model, id: &str) -> Result<Option<EvidenceRecord>> {
    let payload = &EvidenceCall::Get { id: id.to_owned() }.encode();
    let answer = contracts::ask_nodes(db, c, "the evidence query", |client| async move {
        client.query(EVIDENCE_CONTRACT, payload).await
    })
    .await?
    .map_err(|Refusal { code, message, .. }| {
        contracts::node_failed(format!("the node refused the evidence query: {code}: {message}"))
    })?;
    let lookup: Lookup = serde_json::from_value(answer.clone()).map_err(|e| {
        contracts::node_failed(format!("the node answered the evidence query with {answer} ({e})"))
    })?;
    Ok(if lookup.found { lookup.record } else { None })
}

/// Records `digest` under `id` for organization `org_domain` (a member of
/// `c`, which the caller checked); an id recorded before is refused (409
/// `already_recorded`, with the first record named).
pub async fn store(
    state: &AppState,
    c: &chain::Model,
    org_domain: &str,
    id: String,
    digest: Vec<u8>,
    meta: String,
) -> Result<EvidenceRecord> {
    if let Some(first) = get(&state.db, c, &id).await? {
        return Err(already(&first));
    }
    let wallet = contracts::wallet(state, c, org_domain).await?;
    let call = EvidenceCall::Store { id: id.clone(), digest, meta };
    let tx = wallet
        .invoke(EVIDENCE_CONTRACT, call.encode(), "evidence")
        .map_err(|e| ApiError::internal("signing the evidence", e))?;
    let receipt = contracts::submit(&state.db, c, &tx).await?;
    if receipt.status != TxStatus::Success {
        // Another store of the id may have come first.
        if let Some(first) = get(&state.db, c, &id).await? {
            return Err(already(&first));
        }
        return Err(ApiError::invalid(format!("the chain did not record it: {}", receipt.message)));
    }
    get(&state.db, c, &id).await?.ok_or_else(|| {
        contracts::node_failed(format!("evidence {id} was committed but the node does not show it"))
    })
}

fn already(first: &EvidenceRecord) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "already_recorded",
        format!(
            "evidence {} was recorded already, by {} at height {} (transaction {})",
            first.id, first.owner, first.height, first.tx_id
        ),
    )
}
