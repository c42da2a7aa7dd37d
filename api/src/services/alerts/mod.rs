//! Alerts (SPEC OPS-2): an organization's rules, the alerts they raise,
//! the notifications of those alerts, and its channel settings. Every
//! query here names the tenant's organization (or none for the platform
//! operator, who sees all); another tenant's rule or alert looks absent.
//!
//! `rule` is the rule as a value (pure), `evaluator` turns samples and node
//! log searches into alert state transitions, `channels` sends the
//! notifications.
//!
//! Not here: collecting the figures (`services::metrics`), storing and
//! searching logs (`services::logs`).

pub mod channels;
pub mod evaluator;
pub mod rule;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition as Where, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::OnConflict,
};

use crate::{
    domain::{AlertState, Tenant},
    entity::{alert, alert_channel, alert_delivery, alert_rule, chain_member, node},
    error::{ApiError, Result},
    now_ms, page,
    services::chains,
};
pub use rule::RuleSpec;

/// A stored rule with its spec read.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The row.
    pub row: alert_rule::Model,
    /// What it says (`enabled` and the webhook secret from the row).
    pub spec: RuleSpec,
}

impl Rule {
    /// Reads a row; a spec that no longer parses (written by a newer
    /// version) is an error for this rule only.
    pub fn read(row: alert_rule::Model) -> Result<Rule> {
        let mut spec: RuleSpec = serde_json::from_str(&row.spec)
            .map_err(|e| ApiError::internal("reading an alert rule", format!("rule {}: {e}", row.id)))?;
        spec.enabled = row.enabled;
        spec.channels.webhook_secret = row.webhook_secret.clone();
        Ok(Rule { row, spec })
    }
}

fn stored_spec(spec: &RuleSpec) -> String {
    // The webhook secret has its own column.
    let mut spec = spec.clone();
    spec.channels.webhook_secret = None;
    serde_json::to_string(&spec).unwrap_or_else(|_| "{}".into())
}

fn rules_of(tenant: &Tenant) -> sea_orm::Select<alert_rule::Entity> {
    match tenant.only() {
        Some(org) => alert_rule::Entity::find().filter(alert_rule::Column::OrgId.eq(org)),
        None => alert_rule::Entity::find(),
    }
}

/// The tenant's rules (every organization's for the platform operator),
/// oldest first.
pub async fn list_rules(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<Rule>> {
    let rows = rules_of(tenant).order_by_asc(alert_rule::Column::Id).limit(1000).all(db).await?;
    rows.into_iter().map(Rule::read).collect()
}

/// One of the tenant's rules.
pub async fn get_rule(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<Rule> {
    let row = rules_of(tenant)
        .filter(alert_rule::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such alert rule"))?;
    Rule::read(row)
}

/// Refuses targets the organization `org_id` does not see: chains it is
/// not a member of, nodes not on the rule's chains.
async fn check_targets(db: &impl ConnectionTrait, tenant: &Tenant, spec: &RuleSpec) -> Result<()> {
    let mut chain_ids = Vec::new();
    for id in &spec.chain_ids {
        let c = chains::visible(db, tenant, *id)
            .await
            .map_err(|_| crate::validate::refuse("chain_ids", format!("no chain {id} you can see")))?;
        chain_ids.push(c.id);
    }
    for id in &spec.node_ids {
        let n = node::Entity::find_by_id(*id).one(db).await?;
        let ok = match n {
            None => false,
            Some(n) if chain_ids.is_empty() => chains::visible(db, tenant, n.chain_id).await.is_ok(),
            Some(n) => chain_ids.contains(&n.chain_id),
        };
        if !ok {
            return Err(crate::validate::refuse("node_ids", format!("no node {id} on the rule's chains")));
        }
    }
    Ok(())
}

/// Creates a rule of the tenant's organization.
pub async fn create_rule(db: &impl ConnectionTrait, tenant: &Tenant, spec: RuleSpec) -> Result<Rule> {
    spec.check()?;
    check_targets(db, tenant, &spec).await?;
    let now = now_ms();
    let row = alert_rule::ActiveModel {
        org_id: Set(tenant.org_id),
        name: Set(spec.name.trim().to_owned()),
        spec: Set(stored_spec(&spec)),
        webhook_secret: Set(spec.channels.webhook_secret.clone()),
        enabled: Set(spec.enabled),
        builtin_key: Set(None),
        created_by: Set(Some(tenant.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Rule::read(row)
}

/// Replaces a rule's spec; a default rule keeps its name. An update that
/// leaves out the webhook secret keeps the stored one.
pub async fn update_rule(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
    mut spec: RuleSpec,
) -> Result<Rule> {
    let old = get_rule(db, tenant, id).await?;
    spec.check()?;
    check_targets(db, &Tenant { org_id: old.row.org_id, ..*tenant }, &spec).await?;
    if old.row.builtin_key.is_some() {
        spec.name = old.row.name.clone();
    }
    let secret = spec.channels.webhook_secret.clone().or(old.row.webhook_secret.clone());
    let mut a = old.row.into_active_model();
    a.name = Set(spec.name.trim().to_owned());
    a.spec = Set(stored_spec(&spec));
    a.webhook_secret = Set(secret);
    a.enabled = Set(spec.enabled);
    a.updated_at = Set(now_ms());
    let row = a.update(db).await?;
    if !spec.enabled {
        close_open(db, id).await?;
    }
    Rule::read(row)
}

/// Turns a rule on or off; off drops its pending alerts and resolves its
/// firing ones (without notifications).
pub async fn set_enabled(db: &impl ConnectionTrait, tenant: &Tenant, id: i64, enabled: bool) -> Result<Rule> {
    let old = get_rule(db, tenant, id).await?;
    let mut a = old.row.into_active_model();
    a.enabled = Set(enabled);
    a.updated_at = Set(now_ms());
    let row = a.update(db).await?;
    if !enabled {
        close_open(db, id).await?;
    }
    Rule::read(row)
}

/// Deletes a rule (not a default one: those can be disabled); its alerts
/// stay in the history, the open ones closed.
pub async fn delete_rule(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<()> {
    let old = get_rule(db, tenant, id).await?;
    if old.row.builtin_key.is_some() {
        return Err(ApiError::conflict("a default rule cannot be deleted; disable it instead")
            .with_details(serde_json::json!({"reason": "builtin"})));
    }
    close_open(db, id).await?;
    alert_rule::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Drops a rule's pending alerts and resolves its firing ones.
async fn close_open(db: &impl ConnectionTrait, rule_id: i64) -> Result<()> {
    alert::Entity::delete_many()
        .filter(alert::Column::RuleId.eq(rule_id))
        .filter(alert::Column::State.eq(AlertState::Pending))
        .exec(db)
        .await?;
    let now = now_ms();
    alert::Entity::update_many()
        .col_expr(alert::Column::State, sea_orm::sea_query::Expr::value(AlertState::Resolved))
        .col_expr(alert::Column::OpenKey, sea_orm::sea_query::Expr::value(Option::<String>::None))
        .col_expr(alert::Column::ResolvedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(alert::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(alert::Column::RuleId.eq(rule_id))
        .filter(alert::Column::State.eq(AlertState::Firing))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives organization `org_id` the default rules it lacks (one each;
/// replicas doing it at once insert each once).
pub async fn ensure_defaults(db: &impl ConnectionTrait, org_id: i64) -> Result<()> {
    let now = now_ms();
    for (key, spec) in rule::defaults() {
        let row = alert_rule::ActiveModel {
            org_id: Set(org_id),
            name: Set(spec.name.clone()),
            spec: Set(stored_spec(&spec)),
            webhook_secret: Set(None),
            enabled: Set(true),
            builtin_key: Set(Some(key.to_owned())),
            created_by: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        alert_rule::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([alert_rule::Column::OrgId, alert_rule::Column::BuiltinKey])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Gives every organization that is a member of a chain the default rules
/// it lacks.
pub async fn ensure_all_defaults(db: &impl ConnectionTrait) -> Result<()> {
    let orgs: Vec<i64> = chain_member::Entity::find()
        .select_only()
        .column(chain_member::Column::OrgId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let have: Vec<i64> = alert_rule::Entity::find()
        .select_only()
        .column(alert_rule::Column::OrgId)
        .filter(alert_rule::Column::BuiltinKey.is_not_null())
        .group_by(alert_rule::Column::OrgId)
        .having(
            sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Expr::col(alert_rule::Column::Id).count())
                .gte(rule::defaults().len() as i64),
        )
        .into_tuple()
        .all(db)
        .await?;
    for org in orgs.into_iter().filter(|o| !have.contains(o)) {
        ensure_defaults(db, org).await?;
    }
    Ok(())
}

/// What a list of alerts is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only in this state.
    pub state: Option<AlertState>,
    /// Only of this chain.
    pub chain_id: Option<i64>,
    /// Only of this rule.
    pub rule_id: Option<i64>,
    /// Only started at or after this time (ms since 1970).
    pub since: Option<i64>,
    /// The page: ids below this.
    pub before: Option<i64>,
    /// The page's size.
    pub limit: Option<u64>,
}

fn alerts_of(tenant: &Tenant) -> sea_orm::Select<alert::Entity> {
    match tenant.only() {
        Some(org) => alert::Entity::find().filter(alert::Column::OrgId.eq(org)),
        None => alert::Entity::find(),
    }
}

/// A page of the tenant's alerts, newest first.
pub async fn list_alerts(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    f: &AlertFilter,
) -> Result<(Vec<alert::Model>, Option<i64>)> {
    let mut w = Where::all();
    if let Some(s) = f.state {
        w = w.add(alert::Column::State.eq(s));
    }
    if let Some(c) = f.chain_id {
        w = w.add(alert::Column::ChainId.eq(c));
    }
    if let Some(r) = f.rule_id {
        w = w.add(alert::Column::RuleId.eq(r));
    }
    if let Some(t) = f.since {
        w = w.add(alert::Column::StartedAt.gte(t));
    }
    let q = alerts_of(tenant).filter(w);
    Ok(page::fetch(db, q, alert::Column::Id, f.before, f.limit, (page::DEFAULT, page::MAX), |a| a.id).await?)
}

/// One of the tenant's alerts.
pub async fn get_alert(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<alert::Model> {
    alerts_of(tenant)
        .filter(alert::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such alert"))
}

/// Records who acknowledged an alert, when, and their note (a later
/// acknowledgement replaces it).
pub async fn acknowledge(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
    username: &str,
    note: &str,
) -> Result<alert::Model> {
    let a = get_alert(db, tenant, id).await?;
    if a.state == AlertState::Pending {
        return Err(ApiError::conflict("a pending alert has not fired yet"));
    }
    let now = now_ms();
    let mut m = a.into_active_model();
    m.acknowledged_by = Set(Some(tenant.user_id));
    m.acknowledged_by_name = Set(Some(username.to_owned()));
    m.acknowledged_at = Set(Some(now));
    m.ack_note = Set(Some(note.to_owned()));
    m.updated_at = Set(now);
    Ok(m.update(db).await?)
}

/// The notifications of one of the tenant's alerts, oldest first.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
) -> Result<Vec<alert_delivery::Model>> {
    let a = get_alert(db, tenant, id).await?;
    Ok(alert_delivery::Entity::find()
        .filter(alert_delivery::Column::AlertId.eq(a.id))
        .order_by_asc(alert_delivery::Column::Id)
        .limit(1000)
        .all(db)
        .await?)
}

/// An organization's channel settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgChannels {
    /// Recipients of every rule with e-mail on.
    pub emails: Vec<String>,
    /// The webhook of every rule with webhooks on and none of its own.
    pub webhook_url: Option<String>,
    /// Its HMAC-SHA256 key.
    pub webhook_secret: Option<String>,
    /// Last change (ms since 1970); `None`: never set.
    pub updated_at: Option<i64>,
}

/// Organization `org_id`'s channel settings.
pub async fn org_channels(db: &impl ConnectionTrait, org_id: i64) -> Result<OrgChannels> {
    Ok(match alert_channel::Entity::find_by_id(org_id).one(db).await? {
        None => OrgChannels::default(),
        Some(r) => OrgChannels {
            emails: serde_json::from_str(&r.emails).unwrap_or_default(),
            webhook_url: r.webhook_url,
            webhook_secret: r.webhook_secret,
            updated_at: Some(r.updated_at),
        },
    })
}

/// Replaces organization `org_id`'s channel settings; `secret: None`
/// keeps the stored key (unless the webhook is removed).
pub async fn set_org_channels(
    db: &impl ConnectionTrait,
    org_id: i64,
    emails: Vec<String>,
    webhook_url: Option<String>,
    secret: Option<String>,
) -> Result<OrgChannels> {
    if emails.len() > rule::MAX_EMAILS {
        return Err(crate::validate::refuse("emails", format!("at most {} recipients", rule::MAX_EMAILS)));
    }
    for e in &emails {
        rule::check_email("emails", e)?;
    }
    if let Some(u) = &webhook_url {
        rule::check_url("webhook_url", u)?;
    }
    if let Some(s) = &secret {
        rule::check_secret("webhook_secret", s)?;
    }
    let old = org_channels(db, org_id).await?;
    let secret = match &webhook_url {
        None => None,
        Some(_) => secret.or(old.webhook_secret),
    };
    let row = alert_channel::ActiveModel {
        org_id: Set(org_id),
        emails: Set(serde_json::to_string(&emails).unwrap_or_else(|_| "[]".into())),
        webhook_url: Set(webhook_url),
        webhook_secret: Set(secret),
        updated_at: Set(now_ms()),
    };
    alert_channel::Entity::insert(row)
        .on_conflict(
            OnConflict::column(alert_channel::Column::OrgId)
                .update_columns([
                    alert_channel::Column::Emails,
                    alert_channel::Column::WebhookUrl,
                    alert_channel::Column::WebhookSecret,
                    alert_channel::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    org_channels(db, org_id).await
}
