//! Contracts on chains (SPEC SC-3, API-1): a member organization deploys
//! compiled Solidity (ABI and creation code, the source beside them) as
//! version 1.0, calls its functions with JSON arguments and reads decoded
//! results and events, downloads the build output or the source, and
//! deletes a deployment that failed.

use std::io::Write;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use govchain_execution::{
    EvmLog,
    abi::{Abi, DecodedEvent, NamedValue},
    evm::MAX_INITCODE_SIZE,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    entity::{contract, contract_version},
    error::{ApiError, ErrorBody, Result},
    services::{
        chains,
        contracts::{self, DEFAULT_GAS, Deploy},
    },
    validate,
};

/// Longest source accepted, bytes.
pub(crate) const MAX_SOURCE: usize = 512 * 1024;
/// Longest ABI accepted, bytes of JSON.
pub(crate) const MAX_ABI: usize = 256 * 1024;
/// Most gas a request may name (the chain's own limit may be lower).
const MAX_GAS: u64 = 30_000_000;
/// Most arguments of one call.
const MAX_ARGS: usize = 64;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contracts, deploy_contract))
        .routes(routes!(get_contract, delete_contract))
        .routes(routes!(call_contract))
        .routes(routes!(download_contract))
        .routes(routes!(trace_transaction))
}

/// A contract on a chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// Id.
    pub id: i64,
    /// The chain.
    pub chain_id: i64,
    /// The deploying organization.
    pub org_id: i64,
    /// Name.
    pub name: String,
    /// `0x` address once deployed; empty before and when the deployment
    /// failed.
    pub address: String,
    /// The active version (`1.0`, ...).
    pub version: String,
    /// `deploying`, `proposed` (waiting for a governance proposal),
    /// `active`, `frozen` or `failed`.
    pub state: String,
    /// The user who deployed it.
    pub deployer_user_id: i64,
    /// The chain account that sent the deployment (the organization's).
    pub deployer_address: String,
    /// The deployment's transaction id.
    pub tx_id: String,
    /// Why the deployment failed.
    pub error: String,
    /// Created, ms since 1970.
    pub created_at: i64,
    /// Last changed, ms since 1970.
    pub updated_at: i64,
}

impl From<contract::Model> for ContractView {
    fn from(k: contract::Model) -> Self {
        ContractView {
            id: k.id,
            chain_id: k.chain_id,
            org_id: k.org_id,
            name: k.name,
            address: k.address,
            version: k.version,
            state: k.state.into(),
            deployer_user_id: k.deployer_user_id,
            deployer_address: k.deployer_address,
            tx_id: k.tx_id,
            error: k.error,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// One version of a contract's code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// `1.0`, `2.0`, ...
    pub version: String,
    /// `draft`, `deploying`, `active`, `superseded` or `failed`.
    pub status: String,
    /// The transaction that deployed it.
    pub tx_id: String,
    /// Who deployed it.
    pub user_id: i64,
    /// Whether its source was kept.
    pub has_source: bool,
    /// Created, ms since 1970.
    pub created_at: i64,
}

/// A contract with its ABI and versions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContractDetail {
    /// The contract.
    #[serde(flatten)]
    pub contract: ContractView,
    /// The active version's ABI.
    pub abi: serde_json::Value,
    /// Every version, oldest first.
    pub versions: Vec<VersionView>,
}

/// A deployment.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContract {
    /// A name for people (letters, digits, `_`, `-`, `.`).
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// The ABI (solc's `abi` output).
    pub abi: serde_json::Value,
    /// Creation code (solc's `evm.bytecode.object`), hex, `0x` optional.
    pub bytecode: String,
    /// The Solidity source, kept for download.
    #[serde(default)]
    pub source: String,
    /// Constructor arguments, JSON values in order.
    #[serde(default)]
    pub constructor_args: Vec<serde_json::Value>,
    /// Gas limit (default 10,000,000).
    #[serde(default)]
    pub gas_limit: Option<u64>,
}

/// A call of a contract function.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The function: its name, or `name(type,…)` when overloaded.
    pub method: String,
    /// Arguments, JSON values in order (integers may be strings).
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    /// Run without a transaction even if the function is not `view`.
    #[serde(default)]
    pub read_only: bool,
    /// Gas limit (default 10,000,000).
    #[serde(default)]
    pub gas_limit: Option<u64>,
}

/// A decoded value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValueView {
    /// Parameter name.
    pub name: String,
    /// Solidity type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Value: integers as decimal strings, bytes and addresses as `0x` hex.
    pub value: serde_json::Value,
}

impl From<NamedValue> for ValueView {
    fn from(v: NamedValue) -> Self {
        ValueView { name: v.name, ty: v.ty, value: v.value }
    }
}

/// A decoded event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Emitting contract.
    pub address: String,
    /// `Name(type,…)`.
    pub signature: String,
    /// Its fields.
    pub args: Vec<ValueView>,
}

impl From<DecodedEvent> for EventView {
    fn from(e: DecodedEvent) -> Self {
        EventView {
            address: e.address,
            signature: e.signature,
            args: e.args.into_iter().map(Into::into).collect(),
        }
    }
}

/// A log the contract's ABI does not describe.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RawLogView {
    /// Emitting contract.
    pub address: String,
    /// Topics, `0x` hex.
    pub topics: Vec<String>,
    /// Data, `0x` hex.
    pub data: String,
}

impl From<EvmLog> for RawLogView {
    fn from(l: EvmLog) -> Self {
        RawLogView {
            address: format!("0x{}", hex::encode(l.address)),
            topics: l.topics.iter().map(|t| format!("0x{}", hex::encode(t))).collect(),
            data: format!("0x{}", hex::encode(&l.data)),
        }
    }
}

/// What a call did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    /// The transaction; none for a read-only call.
    pub tx_id: Option<String>,
    /// Its block.
    pub height: Option<u64>,
    /// The caller: the organization's chain account (the zero address
    /// for a read-only call).
    pub caller: String,
    /// The contract.
    pub receiver: String,
    /// `name(type,…)` of the function called.
    pub method: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Why it failed (the revert reason).
    pub message: String,
    /// The raw return data, `0x` hex.
    pub output: String,
    /// Decoded return values.
    pub result: Vec<ValueView>,
    /// Decoded events.
    pub events: Vec<EventView>,
    /// Other logs.
    pub raw_logs: Vec<RawLogView>,
}

/// Lists the contracts of a chain, newest first.
#[utoipa::path(get, path = "/api/v1/chains/{id}/contracts", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id")),
    responses((status = 200, body = [ContractView]), (status = 404, body = ErrorBody)))]
async fn list_contracts(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ContractView>>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    Ok(Json(contracts::list(&state.read, c.id).await?.into_iter().map(Into::into).collect()))
}

/// Deploys a contract as version 1.0, signed for the caller's organization
/// (a member of the chain). Answers once the chain has committed it: a
/// deployment the chain fails is recorded as `failed` with the reason in
/// `error` (201 as well), and can then be deleted.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id")), request_body = NewContract,
    responses(
        (status = 201, body = ContractView),
        (status = 403, description = "`forbidden`: no permission, or the organization is not a member of the chain", body = ErrorBody),
        (status = 409, description = "`conflict`: the chain is not running or has no running node", body = ErrorBody),
        (status = 422, description = "`invalid`: a bad name, ABI, bytecode or constructor arguments, or the chain refused the transaction", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn deploy_contract(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewContract>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    contracts::require_member(&state.db, &c, auth.org_id).await?;
    let d = check_deploy(req)?;
    let k = contracts::deploy(&state, &c, auth.org_id, &auth.org_domain, auth.user_id, d).await?;
    let detail = format!("contract {} ({}) on chain {}: {}", k.id, k.name, c.name, k.state);
    Ok(audit::with_detail(created(ContractView::from(k)), detail))
}

fn check_deploy(req: NewContract) -> Result<Deploy> {
    validate::contract_name(&req.name)?;
    if req.source.len() > MAX_SOURCE {
        return Err(validate::refuse("source", format!("at most {MAX_SOURCE} bytes")));
    }
    validate::text("source", &req.source, MAX_SOURCE)?;
    let abi_text = req.abi.to_string();
    if abi_text.len() > MAX_ABI {
        return Err(validate::refuse("abi", format!("at most {MAX_ABI} bytes of JSON")));
    }
    let abi = Abi::from_value(req.abi).map_err(|e| validate::refuse("abi", e.0))?;
    let bytecode = hex_field("bytecode", &req.bytecode)?;
    if bytecode.is_empty() {
        return Err(validate::refuse("bytecode", "empty"));
    }
    if req.constructor_args.len() > MAX_ARGS {
        return Err(validate::refuse("constructor_args", format!("at most {MAX_ARGS}")));
    }
    let args = abi
        .encode_constructor(&req.constructor_args)
        .map_err(|e| validate::refuse("constructor_args", e.0))?;
    if bytecode.len() + args.len() > MAX_INITCODE_SIZE {
        return Err(validate::refuse(
            "bytecode",
            format!(
                "{} bytes with the constructor arguments; at most {MAX_INITCODE_SIZE}",
                bytecode.len() + args.len()
            ),
        ));
    }
    Ok(Deploy { name: req.name, abi, bytecode, args, source: req.source, gas_limit: gas(req.gas_limit)? })
}

/// A hex field (`0x` optional), refused at `field` when it is not hex.
pub(crate) fn hex_field(field: &str, text: &str) -> Result<Vec<u8>> {
    hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|e| validate::refuse(field, format!("not hex: {e}")))
}

fn gas(limit: Option<u64>) -> Result<u64> {
    match limit {
        None => Ok(DEFAULT_GAS),
        Some(g) if (21_000..=MAX_GAS).contains(&g) => Ok(g),
        Some(_) => {
            Err(validate::refuse("gas_limit", format!("gas_limit must be between 21000 and {MAX_GAS}")))
        }
    }
}

/// A contract with its ABI and versions.
#[utoipa::path(get, path = "/api/v1/chains/{id}/contracts/{contract_id}", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    responses((status = 200, body = ContractDetail), (status = 404, body = ErrorBody)))]
async fn get_contract(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, contract_id)): Path<(i64, i64)>,
) -> Result<Json<ContractDetail>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let (k, v) = contracts::visible(&state.read, &c, contract_id).await?;
    let versions = contracts::versions(&state.read, k.id).await?.into_iter().map(version_view).collect();
    let abi = serde_json::from_str(&v.abi).unwrap_or(serde_json::Value::Null);
    Ok(Json(ContractDetail { contract: k.into(), abi, versions }))
}

pub(crate) fn version_view(v: contract_version::Model) -> VersionView {
    VersionView {
        version: v.version,
        status: v.status.into(),
        tx_id: v.tx_id,
        user_id: v.user_id,
        has_source: !v.source.is_empty(),
        created_at: v.created_at,
    }
}

/// Deletes a contract whose deployment failed (any other is refused).
#[utoipa::path(delete, path = "/api/v1/chains/{id}/contracts/{contract_id}", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the contract is deployed (only a failed deployment is deleted)", body = ErrorBody)))]
async fn delete_contract(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path((id, contract_id)): Path<(i64, i64)>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    let (k, _) = contracts::visible(&state.db, &c, contract_id).await?;
    if !auth.owns(k.org_id) {
        return Err(ApiError::forbidden("only the deploying organization deletes its contract"));
    }
    let detail = format!("contract {} ({}) on chain {}", k.id, k.name, c.name);
    contracts::delete(&state.db, k).await?;
    Ok(audit::with_detail(StatusCode::NO_CONTENT, detail))
}

/// Calls a function. `view` and `pure` functions (and `read_only`
/// requests) run on a node without a transaction; others are a
/// transaction signed for the caller's organization (a member of the
/// chain, with the `contract_deploy` permission), answered once
/// committed. A call the contract reverts answers 200 with `success`
/// false and the reason in `message`.
#[utoipa::path(post, path = "/api/v1/chains/{id}/contracts/{contract_id}/calls", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id")),
    request_body = CallRequest,
    responses(
        (status = 200, body = CallView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the contract is not active, or the chain is not running", body = ErrorBody),
        (status = 422, description = "`invalid`: no such function, arguments that do not fit its ABI, or the chain refused the transaction", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn call_contract(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, contract_id)): Path<(i64, i64)>,
    ApiJson(req): ApiJson<CallRequest>,
) -> Result<Response> {
    let c = chains::visible(&state.db, &auth.tenant(), id).await?;
    let (k, v) = contracts::visible(&state.db, &c, contract_id).await?;
    if req.args.len() > MAX_ARGS {
        return Err(validate::refuse("args", format!("at most {MAX_ARGS}")));
    }
    validate::text("method", &req.method, 256)?;
    let gas_limit = gas(req.gas_limit)?;
    let may_send = auth.perms.contains(&crate::rbac::Perm::ContractDeploy);
    let caller = may_send.then_some((auth.org_id, auth.org_domain.as_str()));
    let out =
        contracts::call(&state, &c, &k, &v, caller, &req.method, &req.args, req.read_only, gas_limit).await?;
    let detail = match &out.tx_id {
        Some(tx) => format!("{} of contract {} ({}) in transaction {tx}", out.signature, k.id, k.name),
        None => format!("{} of contract {} ({}), read-only", out.signature, k.id, k.name),
    };
    let view = CallView {
        tx_id: out.tx_id,
        height: out.height,
        caller: out.caller,
        receiver: k.address,
        method: out.signature,
        success: out.success,
        message: out.message,
        output: format!("0x{}", hex::encode(&out.output)),
        result: out.result.into_iter().map(Into::into).collect(),
        events: out.events.into_iter().map(Into::into).collect(),
        raw_logs: out.raw_logs.into_iter().map(Into::into).collect(),
    };
    Ok(audit::with_detail(Json(view), detail))
}

/// What to download.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `build` (default: a zip of the ABI, the creation code and where it
    /// is deployed) or `source` (the Solidity source).
    pub what: Option<String>,
    /// A version other than the active one.
    pub version: Option<String>,
}

/// Downloads a contract's build output (zip: `<name>.abi.json`,
/// `<name>.bin`, `deployment.json`) or its source (`<name>.sol`).
#[utoipa::path(get, path = "/api/v1/chains/{id}/contracts/{contract_id}/download", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id"), DownloadQuery),
    responses(
        (status = 200, content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "`not_found`: no such contract or version, or no source was kept", body = ErrorBody)))]
async fn download_contract(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, contract_id)): Path<(i64, i64)>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let (k, active) = contracts::visible(&state.read, &c, contract_id).await?;
    let v = match &q.version {
        None => active,
        Some(want) => contracts::versions(&state.read, k.id)
            .await?
            .into_iter()
            .find(|v| &v.version == want)
            .ok_or_else(|| ApiError::not_found(format!("contract {} has no version {want}", k.name)))?,
    };
    let (bytes, content_type, file) = match q.what.as_deref().unwrap_or("build") {
        "source" if v.source.is_empty() => {
            return Err(ApiError::not_found(format!("no source was kept for version {}", v.version)));
        }
        "source" => (v.source.into_bytes(), "text/plain; charset=utf-8", format!("{}.sol", k.name)),
        "build" => {
            (build_zip(&c.chain_key, &k, &v)?, "application/zip", format!("{}-{}.zip", k.name, v.version))
        }
        other => return Err(ApiError::not_found(format!("no download `{other}` (build, source)"))),
    };
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(h) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    Ok(resp)
}

fn build_zip(chain_key: &str, k: &contract::Model, v: &contract_version::Model) -> Result<Vec<u8>> {
    let abi: serde_json::Value = serde_json::from_str(&v.abi).unwrap_or(serde_json::Value::Null);
    let deployment = serde_json::json!({
        "chain": chain_key,
        "name": k.name,
        "address": k.address,
        "version": v.version,
        "status": v.status.as_str(),
        "tx_id": v.tx_id,
        "deployer_address": k.deployer_address,
        "created_at": v.created_at,
    });
    let files = [
        (format!("{}.abi.json", k.name), serde_json::to_vec_pretty(&abi).unwrap_or_default()),
        (format!("{}.bin", k.name), v.bytecode.clone().into_bytes()),
        ("deployment.json".to_owned(), serde_json::to_vec_pretty(&deployment).unwrap_or_default()),
    ];
    let failed = |e: &dyn std::fmt::Display| ApiError::internal("building the zip", e);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name, options).map_err(|e| failed(&e))?;
        zip.write_all(&bytes).map_err(|e| failed(&e))?;
    }
    Ok(zip.finish().map_err(|e| failed(&e))?.into_inner())
}

/// How much of a trace to record.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraceQuery {
    /// Most steps recorded (the node's default and limit apply).
    pub step_limit: Option<u64>,
    /// Most memory bytes shown per step.
    pub memory_bytes: Option<usize>,
}

/// The debug trace of a transaction (SPEC SC-7), recomputed by a node
/// against the state before it: every step (pc, opcode, gas, stack,
/// memory, storage reads and writes with before and after, depth), the
/// call tree, the logs and the storage changes, with the call, its result
/// and its events decoded by the contract's active ABI.
#[utoipa::path(get, path = "/api/v1/chains/{id}/contracts/{contract_id}/transactions/{tx_id}/trace", tag = "contracts",
    params(("id" = i64, Path, description = "Chain id"), ("contract_id" = i64, Path, description = "Contract id"),
        ("tx_id" = String, Path, description = "Transaction id, 64 hex digits"), TraceQuery),
    responses(
        (status = 200, description = "The node's trace (`steps`, `calls`, `logs`, `storage_changes`, `decoded`, ...)", body = Object),
        (status = 404, description = "`not_found`: no such chain, contract or transaction", body = ErrorBody),
        (status = 409, description = "`trace_diverged`: the re-execution differs from the receipt", body = ErrorBody),
        (status = 422, description = "`invalid`: a malformed id; `not_traceable`: not an EVM transaction, or not executed", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn trace_transaction(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, contract_id, tx_id)): Path<(i64, i64, String)>,
    Query(q): Query<TraceQuery>,
) -> Result<Json<serde_json::Value>> {
    let c = chains::visible(&state.read, &auth.tenant(), id).await?;
    let (_, v) = contracts::visible(&state.read, &c, contract_id).await?;
    let tx: govchain_types::Hash = tx_id
        .trim_start_matches("0x")
        .parse()
        .map_err(|_| validate::refuse("tx_id", "a transaction id is 64 hex digits"))?;
    let abi: Option<serde_json::Value> = serde_json::from_str(&v.abi).ok();
    let trace = contracts::trace(&state.read, &c, &tx, abi.as_ref(), q.step_limit, q.memory_bytes).await?;
    Ok(Json(trace))
}
