//! The evaluator: on every collection interval, each enabled rule is
//! evaluated on each chain or node in its scope over the raw samples of its
//! window and the node log lines of its lookback, and its alerts move
//! pending -> firing -> resolved. Firing and resolving queue notifications
//! (rows of `alert_deliveries`) in the same transaction as the transition.
//!
//! Several replicas may evaluate at once: an alert is opened under a
//! unique `open_key` (so once), and every transition is an update guarded
//! by the state it leaves, so exactly one replica makes it and queues its
//! notifications.

use std::{collections::HashMap, time::Duration};

use futures_util::{StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Set,
    Statement, TransactionTrait, sea_query::Expr,
};
use serde_json::json;

use crate::{
    AppState,
    domain::{AlertState, ChainState, DeliveryStatus, NodeState},
    entity::{alert, alert_delivery, alert_rule, chain, chain_member, node, org},
    error::Result,
    now_ms,
    services::{
        alerts::{
            self, OrgChannels, Rule,
            rule::{self, Aggregate, CERT_EXPIRES_IN, Condition, DISK_USED_RATIO, LogType, Scope, Verdict},
        },
        logs::{self, LogQuery},
        metrics::SCRAPE_TIMEOUT,
    },
};

/// What one evaluation pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Rules evaluated.
    pub rules: usize,
    /// Alerts opened (pending or straight to firing).
    pub opened: usize,
    /// Alerts that fired.
    pub fired: usize,
    /// Alerts resolved.
    pub resolved: usize,
    /// Pending alerts dropped.
    pub dropped: usize,
}

/// Samples of one rule's targets: `(node, series) -> [(ms, value)]`,
/// oldest first.
type Samples = HashMap<(i64, String), Vec<(i64, f64)>>;

/// Log searches of one rule's nodes: `(node, log type, pattern, regex) ->
/// (matching lines, the newest one's message)`; `None`: no data.
type LogHits = HashMap<(i64, LogType, String, bool), Option<(usize, String)>>;

/// Log searches of one evaluation pass running at once.
const LOG_SEARCHES: usize = 4;

fn interval_ms(interval: Duration) -> i64 {
    i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The window a rule's aggregates reduce: its duration, and at least three
/// collection rounds (so `last` and `increase` have samples) and two rounds
/// slowed by a scrape that times out (a node that hangs, rather than
/// exits, makes every round wait [`SCRAPE_TIMEOUT`]; a shorter window would
/// then hold no sample, and a rule on `up` would never fire).
fn window_ms(duration_s: i64, interval: Duration) -> i64 {
    let round = interval_ms(interval);
    let slow = i64::try_from(SCRAPE_TIMEOUT.as_millis()).unwrap_or(i64::MAX).saturating_add(round);
    duration_s.saturating_mul(1000).max(round.saturating_mul(3)).max(slow.saturating_mul(2))
}

/// How far back a log condition looks for a matching line: the rule's
/// duration plus three collection rounds. A line is first seen by the
/// round after it was written (the alert goes pending), which is at most
/// one round late; the first round past the duration (at most one more
/// round late) still sees it, so one line makes the alert fire, with a
/// round to spare for a slow pass. The condition stops holding, and a
/// firing alert resolves, once the newest matching line is older than this.
fn log_lookback_ms(duration_s: i64, interval: Duration) -> i64 {
    duration_s.saturating_mul(1000).saturating_add(interval_ms(interval).saturating_mul(3))
}

/// Searches each node's logs for each of the rule's log conditions over
/// the lookback before `now` (a few searches at once). A search that fails (a driver without access
/// to the node's log store, a node gone) is no data: a warning, and the
/// condition does not hold on that node.
async fn search_logs(
    state: &AppState,
    rule: &Rule,
    chains: &[chain::Model],
    nodes: &[node::Model],
    now: i64,
) -> LogHits {
    let mut wanted: Vec<(LogType, &str, bool)> = Vec::new();
    for c in &rule.spec.conditions {
        if let Condition::Log { log_type, pattern, regex } = c
            && !wanted.contains(&(*log_type, pattern.as_str(), *regex))
        {
            wanted.push((*log_type, pattern.as_str(), *regex));
        }
    }
    if wanted.is_empty() {
        return LogHits::new();
    }
    let lookback = log_lookback_ms(rule.spec.duration_s, state.config.metrics_interval);
    let from_ms = now.saturating_sub(lookback).max(0);
    let mut searches = Vec::new();
    for n in nodes {
        let Some(c) = chains.iter().find(|c| c.id == n.chain_id) else { continue };
        for (log_type, pattern, regex) in &wanted {
            let q = LogQuery {
                kind: (*log_type).into(),
                from_ms,
                to_ms: now.max(from_ms),
                pattern: Some((*pattern).to_owned()),
                regex: *regex,
                limit: rule::LOG_LIMIT,
            };
            searches.push(search_log(state, rule.row.id, c, n, *log_type, q));
        }
    }
    stream::iter(searches).buffer_unordered(LOG_SEARCHES).collect().await
}

/// One search of [`search_logs`]: its key and what it found.
async fn search_log(
    state: &AppState,
    rule_id: i64,
    c: &chain::Model,
    n: &node::Model,
    log_type: LogType,
    q: LogQuery,
) -> ((i64, LogType, String, bool), Option<(usize, String)>) {
    let found = match logs::search_node(state, c, n, &q).await {
        Ok(lines) => Some((lines.len(), lines.first().map(|l| l.message.clone()).unwrap_or_default())),
        Err(e) => {
            tracing::warn!(
                target: "govchain::api",
                "alert rule {rule_id}: searching the {} log of node {} of chain {}: {}",
                log_type.name(),
                n.name,
                c.name,
                e.message
            );
            None
        }
    };
    ((n.id, log_type, q.pattern.unwrap_or_default(), q.regex), found)
}

/// A condition's series on `node`, computed ones included.
fn points(samples: &Samples, node: i64, series: &str, now: i64) -> Vec<(i64, f64)> {
    let get = |s: &str| samples.get(&(node, s.to_owned())).cloned().unwrap_or_default();
    match series {
        DISK_USED_RATIO => {
            let free: HashMap<i64, f64> = get("disk_free_bytes").into_iter().collect();
            get("disk_used_bytes")
                .into_iter()
                .filter_map(|(t, used)| {
                    let total = used + free.get(&t)?;
                    (total > 0.0).then(|| (t, used / total))
                })
                .collect()
        }
        CERT_EXPIRES_IN => get("cert_expiry_timestamp_seconds")
            .into_iter()
            .map(|(t, v)| (t, v - now as f64 / 1000.0))
            .collect(),
        s => get(s),
    }
}

async fn read_samples(
    db: &impl ConnectionTrait,
    nodes: &[i64],
    names: &[&str],
    from: i64,
) -> Result<Samples> {
    let mut out = Samples::new();
    if nodes.is_empty() || names.is_empty() {
        return Ok(out);
    }
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut ph = |v: sea_orm::Value| {
        values.push(v);
        match backend {
            DatabaseBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    let node_list: Vec<String> = nodes.iter().map(|n| ph((*n).into())).collect();
    let name_list: Vec<String> = names.iter().map(|n| ph((*n).into())).collect();
    let from_ph = ph(from.into());
    let sql = format!(
        "SELECT s.node_id AS node_id, s.name AS name, m.ts AS ts, m.value AS v \
         FROM metric_samples m JOIN metric_series s ON s.id = m.series_id \
         WHERE s.node_id IN ({}) AND s.name IN ({}) AND m.res = 0 AND m.ts >= {from_ph} \
         ORDER BY m.ts",
        node_list.join(", "),
        name_list.join(", "),
    );
    for row in db.query_all(Statement::from_sql_and_values(backend, sql, values)).await? {
        let node: Option<i64> = row.try_get("", "node_id")?;
        let name: String = row.try_get("", "name")?;
        let ts: i64 = row.try_get("", "ts")?;
        let v: f64 = row.try_get("", "v")?;
        if let Some(node) = node {
            out.entry((node, name)).or_default().push((ts, v));
        }
    }
    Ok(out)
}

/// One thing a rule watches, and how its conditions came out on it.
#[derive(Debug)]
struct Target {
    key: String,
    chain: chain::Model,
    node: Option<node::Model>,
    verdict: Verdict,
}

/// Evaluates every enabled rule at `now` (ms) and makes the transitions.
pub async fn evaluate(state: &AppState, now: i64) -> Result<Pass> {
    alerts::ensure_all_defaults(&state.db).await?;
    let rows =
        alert_rule::Entity::find().filter(alert_rule::Column::Enabled.eq(true)).all(&state.read).await?;
    let platform =
        org::Entity::find().filter(org::Column::IsPlatform.eq(true)).one(&state.read).await?.map(|o| o.id);
    let mut pass = Pass::default();
    for row in rows {
        let id = row.id;
        let rule = match Rule::read(row) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "govchain::api", "alert rule {id}: {}", e.message);
                continue;
            }
        };
        pass.rules += 1;
        if let Err(e) = evaluate_rule(state, &rule, platform, now, &mut pass).await {
            tracing::warn!(target: "govchain::api", "evaluating alert rule {id}: {}", e.message);
        }
    }
    Ok(pass)
}

async fn targets(state: &AppState, rule: &Rule, platform: Option<i64>, now: i64) -> Result<Vec<Target>> {
    let spec = &rule.spec;
    let db = &state.read;
    // The chains the organization is a member of (every chain for the
    // platform's own rules), running.
    let mut q = chain::Entity::find().filter(chain::Column::State.eq(ChainState::Running));
    if platform != Some(rule.row.org_id) {
        let member: Vec<i64> = chain_member::Entity::find()
            .filter(chain_member::Column::OrgId.eq(rule.row.org_id))
            .all(db)
            .await?
            .into_iter()
            .map(|m| m.chain_id)
            .collect();
        q = q.filter(chain::Column::Id.is_in(member));
    }
    if !spec.chain_ids.is_empty() {
        q = q.filter(chain::Column::Id.is_in(spec.chain_ids.clone()));
    }
    let chains = q.all(db).await?;
    let mut nq = node::Entity::find()
        .filter(node::Column::ChainId.is_in(chains.iter().map(|c| c.id).collect::<Vec<_>>()))
        .filter(node::Column::State.eq(NodeState::Running));
    if !spec.node_ids.is_empty() {
        nq = nq.filter(node::Column::Id.is_in(spec.node_ids.clone()));
    }
    let nodes = nq.all(db).await?;
    let from = now - window_ms(spec.duration_s, state.config.metrics_interval);
    let node_ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let samples = read_samples(db, &node_ids, &spec.sources(), from).await?;
    let log_hits = search_logs(state, rule, &chains, &nodes, now).await;
    let verdict_of = |n: &node::Model| {
        rule::evaluate(
            &spec.conditions,
            spec.combine,
            |series, agg: Aggregate| rule::aggregate(agg, &points(&samples, n.id, series, now)),
            |log_type, pattern, regex| {
                log_hits.get(&(n.id, log_type, pattern.to_owned(), regex)).cloned().flatten()
            },
        )
    };
    let mut out = Vec::new();
    for c in chains {
        let mine: Vec<&node::Model> = nodes.iter().filter(|n| n.chain_id == c.id).collect();
        match spec.scope {
            Scope::Chain => {
                let verdicts: Vec<(&node::Model, Verdict)> =
                    mine.iter().map(|n| (*n, verdict_of(n))).collect();
                let verdict = match verdicts.iter().find(|(_, v)| v.holds) {
                    Some((n, v)) => Verdict { summary: format!("{}: {}", n.name, v.summary), ..v.clone() },
                    None => Verdict {
                        holds: false,
                        value: verdicts.first().and_then(|(_, v)| v.value),
                        summary: String::new(),
                    },
                };
                out.push(Target { key: format!("{}/c{}", rule.row.id, c.id), chain: c, node: None, verdict });
            }
            Scope::Node | Scope::Host => {
                for n in mine {
                    out.push(Target {
                        key: format!("{}/n{}", rule.row.id, n.id),
                        chain: c.clone(),
                        node: Some(n.clone()),
                        verdict: verdict_of(n),
                    });
                }
            }
        }
    }
    Ok(out)
}

async fn evaluate_rule(
    state: &AppState,
    rule: &Rule,
    platform: Option<i64>,
    now: i64,
    pass: &mut Pass,
) -> Result<()> {
    let spec = &rule.spec;
    let active = spec.window.as_ref().is_none_or(|w| w.active(now));
    let targets = targets(state, rule, platform, now).await?;
    let mut open: HashMap<String, alert::Model> = alert::Entity::find()
        .filter(alert::Column::RuleId.eq(rule.row.id))
        .filter(alert::Column::State.is_in([AlertState::Pending, AlertState::Firing]))
        .all(&state.db)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.open_key.clone()?, a)))
        .collect();
    let channels = alerts::org_channels(&state.read, rule.row.org_id).await?;
    let duration_ms = spec.duration_s.saturating_mul(1000);
    for t in &targets {
        let current = open.remove(&t.key);
        match (t.verdict.holds, current) {
            (true, None) if active => {
                let firing = duration_ms == 0;
                if let Some(a) = open_alert(state, rule, t, firing, now, &channels).await? {
                    pass.opened += 1;
                    pass.fired += usize::from(a.state == AlertState::Firing);
                }
            }
            (true, Some(a)) if a.state == AlertState::Pending && !active => {
                pass.dropped += drop_pending(&state.db, &a).await?;
            }
            (true, Some(a)) if a.state == AlertState::Pending && now - a.started_at >= duration_ms => {
                pass.fired += transition(state, rule, t, &a, AlertState::Firing, now, &channels).await?;
            }
            (false, Some(a)) if a.state == AlertState::Pending => {
                pass.dropped += drop_pending(&state.db, &a).await?;
            }
            (false, Some(a)) if a.state == AlertState::Firing => {
                pass.resolved += transition(state, rule, t, &a, AlertState::Resolved, now, &channels).await?;
            }
            _ => {}
        }
    }
    // Alerts of targets no longer watched (a node removed or stopped on
    // purpose, a chain left): dropped or resolved.
    for (_, a) in open {
        if a.state == AlertState::Pending {
            pass.dropped += drop_pending(&state.db, &a).await?;
        } else {
            let chain = chain::Entity::find_by_id(a.chain_id).one(&state.read).await?;
            let node = match a.node_id {
                Some(id) => node::Entity::find_by_id(id).one(&state.read).await?,
                None => None,
            };
            if let Some(chain) = chain {
                let gone = Target {
                    key: a.open_key.clone().unwrap_or_default(),
                    chain,
                    node,
                    verdict: Verdict { holds: false, value: None, summary: "no longer watched".into() },
                };
                pass.resolved +=
                    transition(state, rule, &gone, &a, AlertState::Resolved, now, &channels).await?;
            } else {
                pass.resolved += close_quietly(&state.db, &a, now).await?;
            }
        }
    }
    Ok(())
}

async fn drop_pending(db: &impl ConnectionTrait, a: &alert::Model) -> Result<usize> {
    let n = alert::Entity::delete_many()
        .filter(alert::Column::Id.eq(a.id))
        .filter(alert::Column::State.eq(AlertState::Pending))
        .exec(db)
        .await?
        .rows_affected;
    Ok(usize::from(n == 1))
}

async fn close_quietly(db: &impl ConnectionTrait, a: &alert::Model, now: i64) -> Result<usize> {
    let n = alert::Entity::update_many()
        .col_expr(alert::Column::State, Expr::value(AlertState::Resolved))
        .col_expr(alert::Column::OpenKey, Expr::value(Option::<String>::None))
        .col_expr(alert::Column::ResolvedAt, Expr::value(now))
        .col_expr(alert::Column::UpdatedAt, Expr::value(now))
        .filter(alert::Column::Id.eq(a.id))
        .filter(alert::Column::State.eq(AlertState::Firing))
        .exec(db)
        .await?
        .rows_affected;
    Ok(usize::from(n == 1))
}

/// Opens an alert for `t` (pending, or firing with its notifications);
/// `None` when another replica opened it first.
async fn open_alert(
    state: &AppState,
    rule: &Rule,
    t: &Target,
    firing: bool,
    now: i64,
    channels: &OrgChannels,
) -> Result<Option<alert::Model>> {
    let txn = state.db.begin().await?;
    let row = alert::ActiveModel {
        rule_id: Set(rule.row.id),
        rule_name: Set(rule.row.name.clone()),
        org_id: Set(rule.row.org_id),
        severity: Set(rule.spec.severity.name().to_owned()),
        chain_id: Set(t.chain.id),
        node_id: Set(t.node.as_ref().map(|n| n.id)),
        open_key: Set(Some(t.key.clone())),
        state: Set(if firing { AlertState::Firing } else { AlertState::Pending }),
        started_at: Set(now),
        fired_at: Set(firing.then_some(now)),
        resolved_at: Set(None),
        value: Set(t.verdict.value),
        summary: Set(t.verdict.summary.clone()),
        acknowledged_by: Set(None),
        acknowledged_by_name: Set(None),
        acknowledged_at: Set(None),
        ack_note: Set(None),
        updated_at: Set(now),
        ..Default::default()
    };
    let inserted = alert::Entity::insert(row)
        .on_conflict(sea_orm::sea_query::OnConflict::column(alert::Column::OpenKey).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    if inserted != 1 {
        return Ok(None);
    }
    let a = alert::Entity::find()
        .filter(alert::Column::OpenKey.eq(t.key.as_str()))
        .one(&txn)
        .await?
        .ok_or_else(|| crate::ApiError::internal("opening an alert", "the row vanished"))?;
    if firing {
        enqueue(&txn, state, rule, t, &a, "firing", now, channels).await?;
    }
    txn.commit().await?;
    Ok(Some(a))
}

/// Moves `a` to `to` (firing or resolved) if it is still as read, and
/// queues the notifications; 1 when this replica made the move.
async fn transition(
    state: &AppState,
    rule: &Rule,
    t: &Target,
    a: &alert::Model,
    to: AlertState,
    now: i64,
    channels: &OrgChannels,
) -> Result<usize> {
    let txn = state.db.begin().await?;
    let mut q = alert::Entity::update_many()
        .col_expr(alert::Column::State, Expr::value(to))
        .col_expr(alert::Column::UpdatedAt, Expr::value(now))
        .filter(alert::Column::Id.eq(a.id))
        .filter(alert::Column::State.eq(a.state));
    q = match to {
        AlertState::Firing => q
            .col_expr(alert::Column::FiredAt, Expr::value(now))
            .col_expr(alert::Column::Value, Expr::value(t.verdict.value))
            .col_expr(alert::Column::Summary, Expr::value(t.verdict.summary.clone())),
        _ => q
            .col_expr(alert::Column::ResolvedAt, Expr::value(now))
            .col_expr(alert::Column::OpenKey, Expr::value(Option::<String>::None)),
    };
    if q.exec(&txn).await?.rows_affected != 1 {
        return Ok(0);
    }
    let moved = alert::Entity::find_by_id(a.id)
        .one(&txn)
        .await?
        .ok_or_else(|| crate::ApiError::internal("moving an alert", "the row vanished"))?;
    let event = if to == AlertState::Firing { "firing" } else { "resolved" };
    enqueue(&txn, state, rule, t, &moved, event, now, channels).await?;
    txn.commit().await?;
    Ok(1)
}

/// The JSON of a notification (the webhook's body).
pub fn payload(a: &alert::Model, chain: &str, node: Option<&str>, event: &str) -> serde_json::Value {
    json!({
        "event": event,
        "alert": {
            "id": a.id,
            "rule_id": a.rule_id,
            "rule_name": a.rule_name,
            "org_id": a.org_id,
            "severity": a.severity,
            "state": a.state.as_str(),
            "chain_id": a.chain_id,
            "chain": chain,
            "node_id": a.node_id,
            "node": node,
            "started_at": a.started_at,
            "fired_at": a.fired_at,
            "resolved_at": a.resolved_at,
            "value": a.value,
            "summary": a.summary,
        },
        "link": format!("/alerts/{}", a.id),
    })
}

/// Queues the notifications of `event` on `a` through the rule's channels.
#[allow(clippy::too_many_arguments)]
async fn enqueue(
    db: &impl ConnectionTrait,
    state: &AppState,
    rule: &Rule,
    t: &Target,
    a: &alert::Model,
    event: &str,
    now: i64,
    org: &OrgChannels,
) -> Result<()> {
    let ch = &rule.spec.channels;
    let body = payload(a, &t.chain.name, t.node.as_ref().map(|n| n.name.as_str()), event).to_string();
    let mut rows: Vec<(&str, String, Option<String>)> = Vec::new();
    if ch.message {
        rows.push(("message", rule.row.org_id.to_string(), None));
    }
    if ch.email {
        let mut to: Vec<&String> = ch.emails.iter().chain(org.emails.iter()).collect();
        to.sort();
        to.dedup();
        let none = state
            .config
            .smtp
            .is_none()
            .then(|| "no SMTP server is configured (govchain up --smtp-host)".to_owned());
        rows.extend(to.into_iter().map(|e| ("email", e.clone(), none.clone())));
    }
    if ch.webhook
        && let Some(url) = ch.webhook_url.as_ref().or(org.webhook_url.as_ref())
    {
        rows.push(("webhook", url.clone(), None));
    }
    for (channel, target, impossible) in rows {
        alert_delivery::ActiveModel {
            alert_id: Set(a.id),
            org_id: Set(a.org_id),
            event: Set(event.to_owned()),
            channel: Set(channel.to_owned()),
            target: Set(target),
            payload: Set(body.clone()),
            attempts: Set(0),
            status: Set(if impossible.is_some() { DeliveryStatus::Failed } else { DeliveryStatus::Pending }),
            last_error: Set(impossible),
            next_attempt_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Evaluates on every collection interval and sends due notifications
/// every second, until the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(super::channels::SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let every = state.config.metrics_interval.max(Duration::from_millis(100));
        let tick_len = every.min(Duration::from_secs(1));
        let mut tick = tokio::time::interval(tick_len);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_eval: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            if last_eval.is_none_or(|t| t.elapsed() >= every) {
                last_eval = Some(tokio::time::Instant::now());
                if let Err(e) = evaluate(&state, now_ms()).await {
                    tracing::warn!(target: "govchain::api", "alert evaluation: {}", e.message);
                }
            }
            if let Err(e) = super::channels::deliver_due(&state, &http, now_ms()).await {
                tracing::warn!(target: "govchain::api", "alert notifications: {}", e.message);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_series_and_windows() {
        let mut s = Samples::new();
        s.insert((1, "disk_used_bytes".into()), vec![(0, 90.0), (10, 50.0), (20, 1.0)]);
        s.insert((1, "disk_free_bytes".into()), vec![(0, 10.0), (10, 50.0)]);
        s.insert((1, "cert_expiry_timestamp_seconds".into()), vec![(0, 1000.0)]);
        assert_eq!(points(&s, 1, DISK_USED_RATIO, 0), vec![(0, 0.9), (10, 0.5)]);
        assert_eq!(points(&s, 1, CERT_EXPIRES_IN, 400_000), vec![(0, 600.0)]);
        assert!(points(&s, 2, "up", 0).is_empty());
        assert_eq!(window_ms(0, Duration::from_millis(500)), 11_000);
        assert_eq!(window_ms(0, Duration::from_secs(15)), 45_000);
        assert_eq!(window_ms(60, Duration::from_secs(15)), 60_000);
        assert_eq!(log_lookback_ms(0, Duration::from_secs(15)), 45_000);
        assert_eq!(log_lookback_ms(60, Duration::from_secs(15)), 105_000);
        assert_eq!(log_lookback_ms(1, Duration::from_millis(500)), 2_500);
    }
}
