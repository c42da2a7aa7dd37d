//! The operation log (SPEC ORG-5): listing, CSV export, verifying the
//! hash chain.

use axum::{
    Json,
    extract::{Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    audit::{self, OplogEntry, VerifyReport},
    auth::{Require, need},
    error::Result,
    services::audit::{self as audit_svc, OplogFilter},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(export)).routes(routes!(verify))
}

/// Lists operation log entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(OplogFilter),
    responses(
        (status = 200, body = [OplogEntry])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Require<need::AuditView>,
    Query(f): Query<OplogFilter>,
) -> Result<Json<Vec<OplogEntry>>> {
    state.audit.flush().await?;
    Ok(Json(
        audit_svc::query(&state.db, &auth.tenant(), &f, 10_000).await?.into_iter().map(Into::into).collect(),
    ))
}

/// Exports operation log entries as CSV.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(OplogFilter),
    responses(
        (status = 200, content_type = "text/csv", body = String)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Require<need::AuditExport>,
    Query(f): Query<OplogFilter>,
) -> Result<Response> {
    state.audit.flush().await?;
    let mut out = String::from("id,at,actor_id,actor,org_id,action,target,result,detail,prev_hash,hash\n");
    for m in audit_svc::query(&state.db, &auth.tenant(), &f, 1_000_000).await? {
        let fields = [
            m.id.to_string(),
            m.at.to_string(),
            m.actor_id.map(|v| v.to_string()).unwrap_or_default(),
            m.actor,
            m.org_id.map(|v| v.to_string()).unwrap_or_default(),
            m.action,
            m.target,
            m.result,
            m.detail,
            m.prev_hash,
            m.hash,
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    resp.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"oplog.csv\""));
    Ok(resp)
}

/// Quotes a CSV field; a leading `= + - @`, tab or carriage return is
/// prefixed with `'` so a spreadsheet does not run it as a formula (OWASP
/// CSV injection).
fn csv_field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{f}") } else { f.to_owned() };
    if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f }
}

/// Verifies the operation log's chain of hashes.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, body = VerifyReport)))]
pub async fn verify(
    State(state): State<AppState>,
    _auth: Require<need::AuditView>,
) -> Result<Json<VerifyReport>> {
    state.audit.flush().await?;
    Ok(Json(audit::verify_chain(&state.db).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("\t=cmd()"), "'\t=cmd()");
    }
}
