//! `govchain alerts` (the alert history, acknowledgement, notifications)
//! and `govchain alert-rules` (list, show, create from a JSON or YAML file,
//! enable, disable, delete): thin calls of `/api/v1/alerts` and
//! `/api/v1/alert-rules`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use govchain_api::routes::alerts::{AlertView, DeliveryView, RuleView};
use serde_json::{Value, json};

use super::{
    ApiOpts, PageOpts,
    client::{connect, decode},
    emit,
    show::{opt, or_dash, table, time},
};

/// `govchain alerts`.
#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(subcommand)]
    cmd: Option<AlertsCmd>,
    /// Only `pending`, `firing` or `resolved` alerts.
    #[arg(long)]
    state: Option<String>,
    /// Only of this chain (id).
    #[arg(long)]
    chain: Option<i64>,
    /// Only of this rule (id).
    #[arg(long)]
    rule: Option<i64>,
    #[command(flatten)]
    page: PageOpts,
    #[command(flatten)]
    pub(super) api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum AlertsCmd {
    /// Acknowledge an alert, with a note.
    Ack {
        /// Alert id.
        id: i64,
        /// What is being done about it.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The notifications of an alert: channel, target, attempts, status.
    Deliveries {
        /// Alert id.
        id: i64,
    },
}

/// `govchain alert-rules`.
#[derive(Args, Debug)]
pub struct AlertRulesArgs {
    #[command(subcommand)]
    cmd: Option<RulesCmd>,
    #[command(flatten)]
    pub(super) api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum RulesCmd {
    /// List the rules (the default).
    List,
    /// One rule, as JSON.
    Show {
        /// Rule id.
        id: i64,
    },
    /// Create a rule from a JSON or YAML file (`-` for stdin) holding the
    /// body of `POST /api/v1/alert-rules`.
    Create {
        /// The file.
        file: PathBuf,
    },
    /// Replace a rule with the one in a JSON or YAML file.
    Update {
        /// Rule id.
        id: i64,
        /// The file.
        file: PathBuf,
    },
    /// Turn a rule on.
    Enable {
        /// Rule id.
        id: i64,
    },
    /// Turn a rule off.
    Disable {
        /// Rule id.
        id: i64,
    },
    /// Delete a rule (default rules can only be disabled).
    Delete {
        /// Rule id.
        id: i64,
    },
}

fn alert_rows(list: &[AlertView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                a.state.clone(),
                a.severity.clone(),
                a.rule_name.clone(),
                a.chain.clone().unwrap_or_else(|| a.chain_id.to_string()),
                opt(a.node.clone()),
                time(a.fired_at.unwrap_or(a.started_at)),
                opt(a.resolved_at.map(time)),
                opt(a.acknowledged_by_name.clone()),
                or_dash(&a.summary),
            ]
        })
        .collect();
    table(&["ID", "STATE", "SEVERITY", "RULE", "CHAIN", "NODE", "SINCE", "RESOLVED", "ACK", "WHAT"], &rows)
}

/// Runs `govchain alerts`.
pub async fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let AlertsArgs { cmd, state, chain, rule, page, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    match cmd {
        None => {
            let mut q: Vec<(&str, String)> = Vec::new();
            q.extend(state.map(|s| ("state", s)));
            q.extend(chain.map(|c| ("chain_id", c.to_string())));
            q.extend(rule.map(|r| ("rule_id", r.to_string())));
            q.extend(page.query());
            let raw = api.get_with("/api/v1/alerts", &q).await?;
            emit(opts.json, &raw, || Ok(alert_rows(&decode::<Vec<AlertView>>(&raw)?)))
        }
        Some(AlertsCmd::Ack { id, note }) => {
            let raw = api.post(&format!("/api/v1/alerts/{id}/ack"), &json!({ "note": note })).await?;
            emit(opts.json, &raw, || Ok(alert_rows(&[decode::<AlertView>(&raw)?])))
        }
        Some(AlertsCmd::Deliveries { id }) => {
            let raw = api.get(&format!("/api/v1/alerts/{id}/deliveries")).await?;
            emit(opts.json, &raw, || {
                let list: Vec<DeliveryView> = decode(&raw)?;
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.to_string(),
                            d.event.clone(),
                            d.channel.clone(),
                            d.target.clone(),
                            d.attempts.to_string(),
                            d.status.clone(),
                            opt(d.last_error.clone()),
                        ]
                    })
                    .collect();
                Ok(table(&["ID", "EVENT", "CHANNEL", "TARGET", "ATTEMPTS", "STATUS", "ERROR"], &rows))
            })
        }
    }
}

/// A rule body from a JSON or YAML file (YAML reads JSON too).
fn read_rule(file: &PathBuf) -> anyhow::Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the rule from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    serde_yaml::from_str(&text).with_context(|| format!("{} is neither JSON nor YAML", file.display()))
}

fn rule_rows(list: &[RuleView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let targets = if r.chain_ids.is_empty() {
                "all chains".to_owned()
            } else {
                r.chain_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            };
            vec![
                r.id.to_string(),
                r.name.clone(),
                if r.enabled { "on".into() } else { "off".into() },
                format!("{:?}", r.scope).to_lowercase(),
                targets,
                format!("{:?}", r.severity).to_lowercase(),
                format!("{}s", r.duration_s),
                opt(r.builtin.clone()),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ENABLED", "SCOPE", "CHAINS", "SEVERITY", "FOR", "DEFAULT"], &rows)
}

/// Runs `govchain alert-rules`.
pub async fn alert_rules(args: AlertRulesArgs) -> anyhow::Result<()> {
    let AlertRulesArgs { cmd, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    let one = |raw: Value| -> anyhow::Result<()> {
        emit(opts.json, &raw, || Ok(rule_rows(&[decode::<RuleView>(&raw)?])))
    };
    match cmd.unwrap_or(RulesCmd::List) {
        RulesCmd::List => {
            let raw = api.get("/api/v1/alert-rules").await?;
            emit(opts.json, &raw, || Ok(rule_rows(&decode::<Vec<RuleView>>(&raw)?)))
        }
        RulesCmd::Show { id } => {
            let raw = api.get(&format!("/api/v1/alert-rules/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&raw)?);
            Ok(())
        }
        RulesCmd::Create { file } => one(api.post("/api/v1/alert-rules", &read_rule(&file)?).await?),
        RulesCmd::Update { id, file } => {
            one(api.put(&format!("/api/v1/alert-rules/{id}"), &read_rule(&file)?).await?)
        }
        RulesCmd::Enable { id } => {
            one(api.post(&format!("/api/v1/alert-rules/{id}/enable"), &json!({})).await?)
        }
        RulesCmd::Disable { id } => {
            one(api.post(&format!("/api/v1/alert-rules/{id}/disable"), &json!({})).await?)
        }
        RulesCmd::Delete { id } => {
            api.delete(&format!("/api/v1/alert-rules/{id}")).await?;
            if !opts.json {
                println!("deleted alert rule {id}");
            }
            Ok(())
        }
    }
}
