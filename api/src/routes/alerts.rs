//! Alerts (SPEC OPS-2): rules (list, view, create, edit, enable, disable,
//! delete), the alerts they raise (history with filters, acknowledgement)
//! and their notifications, and the organization's alert channels. Reads
//! need `monitor_view`, changes `alert_manage` (auditors read only); an
//! organization sees its own, the super admin every organization's.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    domain::AlertState,
    entity::{alert, alert_delivery, chain, node},
    error::{ErrorBody, Result},
    page,
    services::alerts::{
        self, AlertFilter, Rule,
        rule::{Combine, Condition, RuleSpec, Scope, Severity, Window},
    },
    validate,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(enable_rule))
        .routes(routes!(disable_rule))
        .routes(routes!(list_alerts))
        .routes(routes!(get_alert))
        .routes(routes!(ack_alert))
        .routes(routes!(alert_deliveries))
        .routes(routes!(get_channels, put_channels))
}

/// A rule's channels as read (the webhook key is never sent back).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelsView {
    /// A message in the message centre.
    pub message: bool,
    /// E-mail to `emails` and the organization's recipients.
    pub email: bool,
    /// Recipients besides the organization's.
    pub emails: Vec<String>,
    /// A signed POST to `webhook_url`, else the organization's webhook.
    pub webhook: bool,
    /// The rule's own webhook.
    pub webhook_url: Option<String>,
    /// Whether the rule has its own webhook key.
    pub has_webhook_secret: bool,
}

/// An alert rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// Id.
    pub id: i64,
    /// The owning organization.
    pub org_id: i64,
    /// Name.
    pub name: String,
    /// A default rule (`node_down`, `consensus_stalled`, `cert_expiring`,
    /// `disk_full`): it can be edited and disabled, not deleted.
    pub builtin: Option<String>,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// What is watched.
    pub scope: Scope,
    /// The chains watched; empty: all of the organization's.
    pub chain_ids: Vec<i64>,
    /// Only these nodes; empty: all.
    pub node_ids: Vec<i64>,
    /// How the conditions are joined.
    pub combine: Combine,
    /// The conditions.
    pub conditions: Vec<Condition>,
    /// Seconds the conditions must hold before the alert fires.
    pub duration_s: i64,
    /// When it may raise alerts; none: always.
    pub window: Option<Window>,
    /// How serious its alerts are.
    pub severity: Severity,
    /// Where notifications go.
    pub channels: ChannelsView,
    /// Created, ms since 1970.
    pub created_at: i64,
    /// Last changed, ms since 1970.
    pub updated_at: i64,
}

impl From<Rule> for RuleView {
    fn from(r: Rule) -> RuleView {
        let s = r.spec;
        RuleView {
            id: r.row.id,
            org_id: r.row.org_id,
            name: r.row.name,
            builtin: r.row.builtin_key,
            enabled: r.row.enabled,
            scope: s.scope,
            chain_ids: s.chain_ids,
            node_ids: s.node_ids,
            combine: s.combine,
            conditions: s.conditions,
            duration_s: s.duration_s,
            window: s.window,
            severity: s.severity,
            channels: ChannelsView {
                message: s.channels.message,
                email: s.channels.email,
                emails: s.channels.emails,
                webhook: s.channels.webhook,
                webhook_url: s.channels.webhook_url,
                has_webhook_secret: r.row.webhook_secret.is_some(),
            },
            created_at: r.row.created_at,
            updated_at: r.row.updated_at,
        }
    }
}

/// The caller organization's rules (every organization's for the super
/// admin), oldest first; the default rules appear once the organization
/// has a chain.
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts",
    responses((status = 200, body = [RuleView]), (status = 403, body = ErrorBody)))]
async fn list_rules(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
) -> Result<Json<Vec<RuleView>>> {
    let rules = alerts::list_rules(&state.read, &auth.tenant()).await?;
    Ok(Json(rules.into_iter().map(RuleView::from).collect()))
}

/// Creates a rule of the caller's organization.
#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts", request_body = RuleSpec,
    responses(
        (status = 201, body = RuleView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`invalid`: a field refused (`details.field`)", body = ErrorBody)))]
async fn create_rule(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<Response> {
    let r = alerts::create_rule(&state.db, &auth.tenant(), spec).await?;
    let detail = format!("alert-rules/{} {}", r.row.id, r.row.name);
    Ok(audit::with_detail(created(RuleView::from(r)), detail))
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody)))]
async fn get_rule(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path(id): Path<i64>,
) -> Result<Json<RuleView>> {
    Ok(Json(alerts::get_rule(&state.read, &auth.tenant(), id).await?.into()))
}

/// Replaces a rule (a default rule keeps its name; leaving out
/// `channels.webhook_secret` keeps the stored key).
#[utoipa::path(put, path = "/api/v1/alert-rules/{id}", tag = "alerts", request_body = RuleSpec,
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 200, body = RuleView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a field refused (`details.field`)", body = ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    Path(id): Path<i64>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<Json<RuleView>> {
    Ok(Json(alerts::update_rule(&state.db, &auth.tenant(), id, spec).await?.into()))
}

/// Deletes a rule; its alerts stay in the history (the open ones closed).
#[utoipa::path(delete, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: a default rule (`details.reason` = `builtin`)", body = ErrorBody)))]
async fn delete_rule(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    alerts::delete_rule(&state.db, &auth.tenant(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns a rule on.
#[utoipa::path(post, path = "/api/v1/alert-rules/{id}/enable", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody)))]
async fn enable_rule(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    Path(id): Path<i64>,
) -> Result<Json<RuleView>> {
    Ok(Json(alerts::set_enabled(&state.db, &auth.tenant(), id, true).await?.into()))
}

/// Turns a rule off: its pending alerts are dropped, its firing ones
/// resolved (without notifications).
#[utoipa::path(post, path = "/api/v1/alert-rules/{id}/disable", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody)))]
async fn disable_rule(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    Path(id): Path<i64>,
) -> Result<Json<RuleView>> {
    Ok(Json(alerts::set_enabled(&state.db, &auth.tenant(), id, false).await?.into()))
}

/// An alert.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    /// Id.
    pub id: i64,
    /// The rule that raised it (it may since be deleted).
    pub rule_id: i64,
    /// The rule's name then.
    pub rule_name: String,
    /// The organization.
    pub org_id: i64,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// The chain.
    pub chain_id: i64,
    /// Its name.
    pub chain: Option<String>,
    /// The node (none for a chain-scoped rule).
    pub node_id: Option<i64>,
    /// Its name.
    pub node: Option<String>,
    /// When the conditions began to hold, ms since 1970.
    pub started_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// The first metric condition's value when it fired.
    pub value: Option<f64>,
    /// What held, e.g. `max(up) == 0 (0)`.
    pub summary: String,
    /// Who acknowledged it (user id).
    pub acknowledged_by: Option<i64>,
    /// Their user name.
    pub acknowledged_by_name: Option<String>,
    /// When.
    pub acknowledged_at: Option<i64>,
    /// Their note.
    pub ack_note: Option<String>,
}

fn alert_view(a: alert::Model, chains: &HashMap<i64, String>, nodes: &HashMap<i64, String>) -> AlertView {
    AlertView {
        chain: chains.get(&a.chain_id).cloned(),
        node: a.node_id.and_then(|n| nodes.get(&n).cloned()),
        id: a.id,
        rule_id: a.rule_id,
        rule_name: a.rule_name,
        org_id: a.org_id,
        severity: a.severity,
        state: a.state.as_str().to_owned(),
        chain_id: a.chain_id,
        node_id: a.node_id,
        started_at: a.started_at,
        fired_at: a.fired_at,
        resolved_at: a.resolved_at,
        value: a.value,
        summary: a.summary,
        acknowledged_by: a.acknowledged_by,
        acknowledged_by_name: a.acknowledged_by_name,
        acknowledged_at: a.acknowledged_at,
        ack_note: a.ack_note,
    }
}

/// The names of the chains and nodes of `alerts`: two queries.
async fn views(state: &AppState, alerts: Vec<alert::Model>) -> Result<Vec<AlertView>> {
    let chain_ids: Vec<i64> = alerts.iter().map(|a| a.chain_id).collect();
    let node_ids: Vec<i64> = alerts.iter().filter_map(|a| a.node_id).collect();
    let chains: HashMap<i64, String> = chain::Entity::find()
        .filter(chain::Column::Id.is_in(chain_ids))
        .all(&state.read)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let nodes: HashMap<i64, String> = node::Entity::find()
        .filter(node::Column::Id.is_in(node_ids))
        .all(&state.read)
        .await?
        .into_iter()
        .map(|n| (n.id, n.name))
        .collect();
    Ok(alerts.into_iter().map(|a| alert_view(a, &chains, &nodes)).collect())
}

/// Filters of the alert history.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only `pending`, `firing` or `resolved` alerts.
    pub state: Option<String>,
    /// Only of this chain.
    pub chain_id: Option<i64>,
    /// Only of this rule.
    pub rule_id: Option<i64>,
    /// Only started at or after this time, ms since 1970.
    pub since: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1)]
    pub limit: Option<u64>,
    /// Only alerts older than this id (the next page).
    pub before: Option<i64>,
}

/// The caller organization's alerts (every organization's for the super
/// admin), newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses(
        (status = 200, body = [AlertView], headers(("Link" = String, description = "The next page, when this one is full"))),
        (status = 422, description = "`invalid`: an unknown state", body = ErrorBody)))]
async fn list_alerts(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    uri: Uri,
    Query(q): Query<AlertsQuery>,
) -> Result<Response> {
    let s = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            AlertState::parse(s)
                .ok_or_else(|| validate::refuse("state", "one of pending, firing, resolved"))?,
        ),
    };
    let f = AlertFilter {
        state: s,
        chain_id: q.chain_id,
        rule_id: q.rule_id,
        since: q.since,
        before: q.before,
        limit: q.limit,
    };
    let (rows, next) = alerts::list_alerts(&state.read, &auth.tenant(), &f).await?;
    Ok(page::respond(&uri, views(&state, rows).await?, next))
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = AlertView), (status = 404, body = ErrorBody)))]
async fn get_alert(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path(id): Path<i64>,
) -> Result<Json<AlertView>> {
    let a = alerts::get_alert(&state.read, &auth.tenant(), id).await?;
    Ok(Json(views(&state, vec![a]).await?.remove(0)))
}

/// An acknowledgement.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// What is being done about it (at most 1000 characters).
    #[serde(default)]
    pub note: String,
}

/// Acknowledges a firing or resolved alert: who, when, with a note.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", request_body = AckRequest,
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, body = AlertView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`conflict`: the alert is still pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn ack_alert(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<AckRequest>,
) -> Result<Json<AlertView>> {
    if body.note.chars().count() > 1000 || body.note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(validate::refuse("note", "at most 1000 characters, no control characters"));
    }
    let a = alerts::acknowledge(&state.db, &auth.tenant(), id, &auth.username, body.note.trim()).await?;
    Ok(Json(views(&state, vec![a]).await?.remove(0)))
}

/// A notification of an alert.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// Id (also the webhook's `X-Govchain-Delivery`).
    pub id: i64,
    /// The alert.
    pub alert_id: i64,
    /// `firing` or `resolved`.
    pub event: String,
    /// `message`, `email` or `webhook`.
    pub channel: String,
    /// The organization id (message), address (e-mail) or URL (webhook).
    pub target: String,
    /// Attempts made.
    pub attempts: i32,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending), ms since 1970.
    pub next_attempt_at: i64,
    /// Queued, ms since 1970.
    pub created_at: i64,
    /// Last attempt, ms since 1970.
    pub updated_at: i64,
}

impl From<alert_delivery::Model> for DeliveryView {
    fn from(d: alert_delivery::Model) -> DeliveryView {
        DeliveryView {
            id: d.id,
            alert_id: d.alert_id,
            event: d.event,
            channel: d.channel,
            target: d.target,
            attempts: d.attempts,
            status: d.status.as_str().to_owned(),
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The notifications of an alert, oldest first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/deliveries", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = [DeliveryView]), (status = 404, body = ErrorBody)))]
async fn alert_deliveries(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<DeliveryView>>> {
    let rows = alerts::deliveries(&state.read, &auth.tenant(), id).await?;
    Ok(Json(rows.into_iter().map(DeliveryView::from).collect()))
}

/// The caller organization's alert channels.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgChannelsView {
    /// The organization.
    pub org_id: i64,
    /// Recipients of every rule with e-mail on.
    pub emails: Vec<String>,
    /// The webhook of every rule with webhooks on and none of its own.
    pub webhook_url: Option<String>,
    /// Whether a webhook key is stored (it is never sent back).
    pub has_webhook_secret: bool,
    /// Whether the platform has an SMTP server for e-mail.
    pub smtp_configured: bool,
    /// Last change, ms since 1970 (none: never set).
    pub updated_at: Option<i64>,
}

/// New alert channels of the caller's organization.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgChannelsRequest {
    /// Recipients (at most 20).
    #[serde(default)]
    pub emails: Vec<String>,
    /// The webhook (`http://`; `https://` is not supported yet); none
    /// removes it and its key.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Its HMAC-SHA256 key (16 to 200 characters); none keeps the stored
    /// one.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

fn channels_view(state: &AppState, org_id: i64, c: alerts::OrgChannels) -> OrgChannelsView {
    OrgChannelsView {
        org_id,
        emails: c.emails,
        webhook_url: c.webhook_url,
        has_webhook_secret: c.webhook_secret.is_some(),
        smtp_configured: state.config.smtp.is_some(),
        updated_at: c.updated_at,
    }
}

/// The caller organization's alert channels: e-mail recipients and the
/// webhook every rule uses unless it names its own.
#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts",
    responses((status = 200, body = OrgChannelsView), (status = 403, body = ErrorBody)))]
async fn get_channels(
    State(state): State<AppState>,
    auth: Require<need::MonitorView>,
) -> Result<Json<OrgChannelsView>> {
    let c = alerts::org_channels(&state.read, auth.org_id).await?;
    Ok(Json(channels_view(&state, auth.org_id, c)))
}

/// Replaces the caller organization's alert channels.
#[utoipa::path(put, path = "/api/v1/alert-channels", tag = "alerts", request_body = OrgChannelsRequest,
    responses(
        (status = 200, body = OrgChannelsView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`invalid`: a field refused (`details.field`)", body = ErrorBody)))]
async fn put_channels(
    State(state): State<AppState>,
    auth: Require<need::AlertManage>,
    ApiJson(body): ApiJson<OrgChannelsRequest>,
) -> Result<Response> {
    let c =
        alerts::set_org_channels(&state.db, auth.org_id, body.emails, body.webhook_url, body.webhook_secret)
            .await?;
    Ok(Json(channels_view(&state, auth.org_id, c)).into_response())
}
