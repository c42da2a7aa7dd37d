//! Trusted evidence on a chain (SPEC GOV-5): a member organization records
//! a document's digest (computed in the browser with the chain's hash:
//! SM3 on gm chains, Keccak-256 on intl-k1, SHA-256 on intl-r1), and
//! everyone who sees the chain checks a document's digest against it.

use axum::{
    Json,
    extract::{Path, Query, State},
    response::Response,
};
use govchain_execution::{EvidenceRecord, MAX_ID, MAX_META};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    entity::chain,
    error::{ApiError, ErrorBody, Result},
    services::{chains, contracts, evidence},
    validate,
};

/// Longest file name kept with a record, characters.
const MAX_FILE_NAME: usize = 255;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_evidence, record_evidence))
}

/// A document's digest to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvidence {
    /// The document's digest under the chain's hash, 64 hex digits (`0x`
    /// optional).
    pub digest: String,
    /// The record's id (a document number, say); the digest in hex when
    /// absent, so the file alone finds it.
    #[serde(default)]
    pub id: Option<String>,
    /// The document's file name, kept with the record.
    #[serde(default)]
    pub file_name: Option<String>,
    /// A note kept with the record.
    #[serde(default)]
    pub note: Option<String>,
}

/// A record of evidence on a chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// The record's id.
    pub id: String,
    /// The digest recorded, hex.
    pub digest: String,
    /// The file name given, if any.
    pub file_name: Option<String>,
    /// The note given, if any.
    pub note: Option<String>,
    /// The organization that recorded it (its domain).
    pub org: String,
    /// The address that signed the recording transaction.
    pub sender: String,
    /// The block holding it.
    pub height: u64,
    /// The recording transaction.
    pub tx_id: String,
    /// Block time, ms since the epoch.
    pub timestamp_ms: u64,
}

impl From<EvidenceRecord> for EvidenceView {
    fn from(r: EvidenceRecord) -> Self {
        let meta: Option<serde_json::Value> = serde_json::from_str(&r.meta).ok();
        let field = |k: &str| meta.as_ref().and_then(|m| m[k].as_str()).map(str::to_owned);
        EvidenceView {
            file_name: field("file_name"),
            note: field("note").or_else(|| (meta.is_none() && !r.meta.is_empty()).then(|| r.meta.clone())),
            id: r.id,
            digest: hex::encode(&r.digest),
            org: r.owner,
            sender: r.sender.to_string(),
            height: r.height,
            tx_id: r.tx_id.to_string(),
            timestamp_ms: r.timestamp_ms,
        }
    }
}

/// A document's digest checked against the chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvidenceCheckView {
    /// The chain's hash (`sm3`, `keccak256`, `sha256`): what the digest
    /// must be computed with.
    pub hash: String,
    /// The digest checked, hex.
    pub digest: String,
    /// Whether a record holds exactly this digest.
    pub matches: bool,
    /// The record looked up (by `id`, or by the digest), if there is one.
    pub record: Option<EvidenceView>,
}

/// What to check.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    /// The document's digest under the chain's hash, 64 hex digits.
    pub digest: String,
    /// The record's id, when it was recorded under one; the digest's own
    /// record otherwise.
    pub id: Option<String>,
}

/// Checks a document's digest against the evidence on the chain: `matches`
/// with the record (transaction, height, time, organization), or not.
#[utoipa::path(get, path = "/api/v1/chains/{id}/evidence", tag = "evidence",
    params(("id" = i64, Path, description = "Chain id"), EvidenceQuery),
    responses(
        (status = 200, body = EvidenceCheckView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a digest that is not 64 hex digits", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn check_evidence(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(q): Query<EvidenceQuery>,
) -> Result<Json<EvidenceCheckView>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let digest = digest(&q.digest)?;
    let record_id = match q.id {
        Some(i) => check_id(i)?,
        None => hex::encode(&digest),
    };
    let record = evidence::get(&state.read, &c, &record_id).await?;
    Ok(Json(EvidenceCheckView {
        hash: hash_of(&c)?.to_owned(),
        digest: hex::encode(&digest),
        matches: record.as_ref().is_some_and(|r| r.digest == digest),
        record: record.map(Into::into),
    }))
}

/// Records a document's digest for the caller's organization (a member of
/// the chain): a transaction of the chain's `evidence` contract. Answers
/// once committed, with the record.
#[utoipa::path(post, path = "/api/v1/chains/{id}/evidence", tag = "evidence",
    params(("id" = i64, Path, description = "Chain id")), request_body = NewEvidence,
    responses(
        (status = 201, body = EvidenceView),
        (status = 403, description = "`forbidden`: no permission, or not a member of the chain", body = ErrorBody),
        (status = 409, description = "`already_recorded`: the id holds a record already; `conflict`: the chain is not running", body = ErrorBody),
        (status = 422, description = "`invalid`: a bad digest, id, file name or note", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn record_evidence(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewEvidence>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    contracts::require_member(&state.db, &c, auth.org_id).await?;
    let digest = digest(&req.digest)?;
    let record_id = match req.id {
        Some(i) => check_id(i)?,
        None => hex::encode(&digest),
    };
    let mut meta = serde_json::Map::new();
    if let Some(f) = req.file_name.filter(|f| !f.trim().is_empty()) {
        validate::text("file_name", &f, MAX_FILE_NAME)?;
        meta.insert("file_name".into(), f.trim().into());
    }
    if let Some(n) = req.note.filter(|n| !n.trim().is_empty()) {
        validate::text("note", &n, 2_000)?;
        meta.insert("note".into(), n.trim().into());
    }
    let meta = if meta.is_empty() { String::new() } else { serde_json::Value::Object(meta).to_string() };
    if meta.len() > MAX_META {
        return Err(validate::refuse(
            "note",
            format!("the file name and note take at most {MAX_META} bytes"),
        ));
    }
    let r = evidence::store(&state, &c, &auth.org_domain, record_id, digest, meta).await?;
    let detail = format!("evidence {} on chain {} at height {} ({})", r.id, c.name, r.height, r.tx_id);
    Ok(audit::with_detail(created(EvidenceView::from(r)), detail))
}

fn hash_of(c: &chain::Model) -> Result<&'static str> {
    let suite = c.suite.parse().map_err(|e| ApiError::internal("reading the chain's suite", e))?;
    Ok(evidence::hash_name(suite))
}

/// A digest: 32 bytes, as 64 hex digits.
fn digest(text: &str) -> Result<Vec<u8>> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    match hex::decode(t) {
        Ok(d) if d.len() == 32 => Ok(d),
        _ => Err(validate::refuse(
            "digest",
            "a digest is 64 hex digits: the document's hash under the chain's hash",
        )),
    }
}

/// A record id: 1 to 256 bytes, no control characters.
fn check_id(id: String) -> Result<String> {
    let id = id.trim().to_owned();
    if id.is_empty() || id.len() > MAX_ID {
        return Err(validate::refuse("id", format!("an evidence id is 1 to {MAX_ID} bytes")));
    }
    validate::text("id", &id, MAX_ID)?;
    Ok(id)
}
