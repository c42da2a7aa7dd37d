//! Static analysis of Solidity (SPEC SC-8) and the dismissal of its
//! findings: a developer runs the platform's analysis over a compilation
//! made with the pinned solc-js (the console compiles in the browser),
//! and dismisses a finding that does not apply with a reason, recorded
//! for the organization (and in the operation log) and shown beside the
//! finding in every later analysis until withdrawn.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, Uri},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    entity::finding_dismissal,
    error::{ApiError, ErrorBody, Result},
    page,
    services::findings::{self, Dismiss},
    validate,
};

/// Longest reason, characters.
const MAX_REASON: usize = 2_000;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyse_sources))
        .routes(routes!(list_dismissals, dismiss_finding))
        .routes(routes!(withdraw_dismissal))
}

/// One source file of a compilation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Its name, as the compilation named it (`Bank.sol`).
    pub name: String,
    /// Its text.
    pub content: String,
}

/// A compilation to analyse: the sources and solc's standard-JSON output
/// for them, as the pinned solc-js gave it (the console compiles in the
/// browser).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    /// The sources, in the order compiled.
    pub sources: Vec<SourceFile>,
    /// The compiler's version string (solc-js `version()`); it must be the
    /// platform's pinned version.
    pub compiler_version: String,
    /// solc's standard-JSON output (with the `ast` of every source).
    #[schema(value_type = Object)]
    pub output: serde_json::Value,
}

/// Findings of the static analysis.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnalysisView {
    /// Most severe first: `id` (stable, to record a dismissal against),
    /// `rule`, `severity` (`critical`, `high`, `medium`, `low`), `file`,
    /// `contract`, `function`, `start` and `end` (`offset` in characters,
    /// `line`, `column`), `snippet`, `message`, `message_zh`, and
    /// `dismissal` (the caller's organization's, or null).
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
    /// The compiler's errors (then the analysis is not run) and warnings,
    /// with their positions in characters.
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<serde_json::Value>,
}

/// Runs the platform's static analysis (SPEC SC-8: reentrancy, tx.origin,
/// unchecked calls, delegatecall, selfdestruct, timestamps, unbounded
/// loops, floating pragma, overflow before 0.8, ...) over a compilation
/// made with the pinned solc-js.
#[utoipa::path(post, path = "/api/v1/contracts/analysis", tag = "contracts",
    request_body = AnalysisRequest,
    responses(
        (status = 200, body = AnalysisView),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`invalid`: no sources, another compiler version, output that is not solc's", body = ErrorBody)))]
async fn analyse_sources(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    ApiJson(req): ApiJson<AnalysisRequest>,
) -> Result<Json<AnalysisView>> {
    if !req.output.is_object() {
        return Err(validate::refuse("output", "solc's standard-JSON output is an object"));
    }
    let output = serde_json::to_vec(&req.output).map_err(|e| ApiError::internal("reading the output", e))?;
    let AnalysisRequest { sources, compiler_version, .. } = req;
    // Reading the output and walking its ASTs is CPU work: off the async
    // workers.
    let (diagnostics, findings) = tokio::task::spawn_blocking(move || {
        let sources: Vec<(&str, &str)> =
            sources.iter().map(|f| (f.name.as_str(), f.content.as_str())).collect();
        govchain_contracts::read_standard_output(&sources, &compiler_version, &output).map(|compiled| {
            let findings =
                if compiled.has_errors() { Vec::new() } else { govchain_contracts::analyse(&compiled) };
            (compiled.diagnostics, findings)
        })
    })
    .await
    .map_err(|e| ApiError::internal("running the analysis", e))?
    .map_err(|e| validate::refuse("output", e.to_string()))?;
    let ids: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    let mut dismissed = findings::of_org(&state.read, auth.org_id, &ids).await?;
    let findings = findings
        .iter()
        .filter_map(|f| {
            let mut v = serde_json::to_value(f).ok()?;
            let d = dismissed.remove(&f.id).map(DismissalView::from);
            v["dismissal"] = serde_json::to_value(d).ok()?;
            Some(v)
        })
        .collect();
    Ok(Json(AnalysisView {
        findings,
        diagnostics: diagnostics.iter().filter_map(|d| serde_json::to_value(d).ok()).collect(),
    }))
}

/// A finding to dismiss, as the analysis reported it, and why.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDismissal {
    /// The finding's `id` (32 hex digits).
    pub finding_id: String,
    /// Its `rule` (`reentrancy`, `tx-origin`, ...).
    pub rule: String,
    /// Its `severity`.
    pub severity: String,
    /// Its `file`.
    pub file: String,
    /// Its `contract`, if any.
    #[serde(default)]
    pub contract: Option<String>,
    /// Its `function`, if any.
    #[serde(default)]
    pub function: Option<String>,
    /// Its `snippet`.
    #[serde(default)]
    pub snippet: String,
    /// Why it does not apply (required).
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// A dismissed finding.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DismissalView {
    /// Id of the dismissal.
    pub id: i64,
    /// The organization that dismissed it.
    pub org_id: i64,
    /// The finding's id.
    pub finding_id: String,
    /// Its rule.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Its file.
    pub file: String,
    /// Its contract (empty when none).
    pub contract: String,
    /// Its function (empty when none).
    pub function: String,
    /// Its snippet.
    pub snippet: String,
    /// Why it was dismissed.
    pub reason: String,
    /// Who dismissed it.
    pub user_id: i64,
    /// When, ms since the epoch.
    pub created_at: i64,
}

impl From<finding_dismissal::Model> for DismissalView {
    fn from(m: finding_dismissal::Model) -> Self {
        DismissalView {
            id: m.id,
            org_id: m.org_id,
            finding_id: m.finding_id,
            rule: m.rule,
            severity: m.severity,
            file: m.file,
            contract: m.contract,
            function: m.function,
            snippet: m.snippet,
            reason: m.reason,
            user_id: m.user_id,
            created_at: m.created_at,
        }
    }
}

/// Filters of the dismissal list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DismissalFilter {
    /// Only this organization's (the platform operator; others see only
    /// their own).
    pub org_id: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1)]
    pub limit: Option<u64>,
    /// Only dismissals older than this id (the next page).
    pub before: Option<i64>,
}

/// The dismissed findings of the caller's organization (the platform
/// operator: of every organization), newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/contracts/analysis/dismissals", tag = "contracts", params(DismissalFilter),
    responses(
        (status = 200, body = [DismissalView], headers(("Link" = String, description = "The next page (`<path?…&before=ID>; rel=\"next\"`), when this one is full"))),
        (status = 403, body = ErrorBody)))]
async fn list_dismissals(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    uri: Uri,
    Query(f): Query<DismissalFilter>,
) -> Result<Response> {
    let (rows, next) = findings::list(&state.read, &auth.tenant(), f.org_id, f.before, f.limit).await?;
    Ok(page::respond(&uri, rows.into_iter().map(DismissalView::from).collect(), next))
}

/// Dismisses a finding for the caller's organization, with a reason; later
/// analyses show the dismissal beside it.
#[utoipa::path(post, path = "/api/v1/contracts/analysis/dismissals", tag = "contracts",
    request_body = NewDismissal,
    responses(
        (status = 201, body = DismissalView),
        (status = 403, body = ErrorBody),
        (status = 409, description = "`already_dismissed`: the organization dismissed this finding already", body = ErrorBody),
        (status = 422, description = "`invalid`: no reason, or a finding the analysis does not report that way", body = ErrorBody)))]
async fn dismiss_finding(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    ApiJson(req): ApiJson<NewDismissal>,
) -> Result<Response> {
    let d = check_dismissal(req)?;
    let detail = format!("finding {} ({}, {} in {}): {}", d.finding_id, d.rule, d.severity, d.file, d.reason);
    let stored = findings::dismiss(&state.db, auth.org_id, auth.user_id, d).await?;
    Ok(audit::with_detail(created(DismissalView::from(stored)), detail))
}

/// Withdraws a dismissal: the finding shows as open again.
#[utoipa::path(delete, path = "/api/v1/contracts/analysis/dismissals/{id}", tag = "contracts",
    params(("id" = i64, Path, description = "Dismissal id")),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn withdraw_dismissal(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
) -> Result<Response> {
    let d = findings::withdraw(&state.db, &auth.tenant(), id).await?;
    let detail = format!("dismissal {id} of finding {} ({} in {})", d.finding_id, d.rule, d.file);
    Ok(audit::with_detail(StatusCode::NO_CONTENT, detail))
}

/// Checks a dismissal: a finding as the analysis reports one, and a reason.
fn check_dismissal(req: NewDismissal) -> Result<Dismiss> {
    let finding_id = req.finding_id.trim().to_ascii_lowercase();
    if finding_id.len() != 32 || !finding_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(validate::refuse(
            "finding_id",
            "a finding id is 32 hex digits, as the analysis reports it",
        ));
    }
    if govchain_contracts::Rule::from_id(&req.rule).is_none() {
        return Err(validate::refuse("rule", format!("no analysis rule is called `{}`", req.rule)));
    }
    let severity: govchain_contracts::Severity = req
        .severity
        .parse()
        .map_err(|_| validate::refuse("severity", "the severity is critical, high, medium or low"))?;
    if req.file.trim().is_empty() {
        return Err(validate::refuse("file", "the finding's file is required"));
    }
    validate::text("file", &req.file, 256)?;
    let contract = req.contract.unwrap_or_default();
    let function = req.function.unwrap_or_default();
    validate::text("contract", &contract, 128)?;
    validate::text("function", &function, 128)?;
    validate::text("snippet", &req.snippet, 1_000)?;
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(validate::refuse("reason", "a dismissal needs a reason"));
    }
    validate::text("reason", &reason, MAX_REASON)?;
    Ok(Dismiss {
        finding_id,
        rule: req.rule,
        severity: severity.as_str().to_owned(),
        file: req.file,
        contract,
        function,
        snippet: req.snippet,
        reason,
    })
}
