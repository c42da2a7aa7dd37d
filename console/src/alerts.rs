//! Alerts (SPEC OPS-2): the alert history with its states (pending,
//! firing, resolved) and who acknowledged what, one alert with its
//! notifications, the rules (view, edit, enable, disable, delete; the
//! default rules can be edited and disabled, not deleted) with a form for
//! metric and log conditions, a duration, a time window and channels, and
//! the organization's own e-mail recipients and webhook. Reading needs
//! `monitor_view`; changes need `alert_manage` (an auditor reads only).

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, lang, list_of, t, time, to_login, txt},
    i18n::{self, Key, Lang},
    parts::confirm_button,
};

/// Alert states, as the API names them.
const STATES: [&str; 3] = ["pending", "firing", "resolved"];
/// The series a metric condition may name (the API's `known_series`).
const SERIES: [&str; 16] = [
    "up",
    "height",
    "pending",
    "block_interval_seconds",
    "transactions",
    "peers",
    "is_leader",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "disk_used_bytes",
    "disk_free_bytes",
    "disk_used_ratio",
    "network_receive_bytes",
    "network_transmit_bytes",
    "cert_expires_in_seconds",
];
const AGGREGATES: [&str; 5] = ["last", "avg", "max", "min", "increase"];
const OPS: [&str; 6] = [">", ">=", "<", "<=", "==", "!="];
const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];
const SCOPES: [&str; 3] = ["node", "chain", "host"];
const LOG_TYPES: [&str; 3] = ["error", "run", "system"];
/// How often the lists refresh, ms.
const REFRESH_MS: u64 = 10_000;

/// `/alerts?tab=alerts|rules|channels`.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let q = use_query_map();
    authed(Key::Alerts, false, move |s: Session| {
        let first = q.with_untracked(|q| q.get("tab")).unwrap_or_default();
        let tab = RwSignal::new(match first.as_str() {
            "rules" => "rules",
            "channels" => "channels",
            _ => "alerts",
        });
        let manage = s.may("alert_manage");
        let csrf = s.csrf();
        let tab_button = move |code: &'static str, key: Key| {
            view! {
                <button type="button" id=format!("tab-{code}") class=move || if tab.get() == code { "tab active" } else { "tab" }
                    on:click=move |_| tab.set(code)>{t(key)}</button>
            }
        };
        view! {
            <div role="tablist" class="controls" id="alert-tabs">
                {tab_button("alerts", Key::AlertHistory)}
                {tab_button("rules", Key::AlertRules)}
                {tab_button("channels", Key::AlertChannels)}
            </div>
            {move || match tab.get() {
                "rules" => view! { <RulesView manage=manage csrf=csrf.clone()/> }.into_any(),
                "channels" => view! { <ChannelsView manage=manage csrf=csrf.clone()/> }.into_any(),
                _ => view! { <AlertList/> }.into_any(),
            }}
        }
    })
}

/// The alert history, newest first, with a state filter.
#[component]
fn AlertList() -> impl IntoView {
    let l = lang();
    let state = RwSignal::new(String::new());
    let tick = RwSignal::new(0_u32);
    let alerts = LocalResource::new(move || {
        let _ = tick.get();
        let s = state.get();
        let path = if s.is_empty() {
            "/api/v1/alerts?limit=200".to_owned()
        } else {
            format!("/api/v1/alerts?limit=200&state={s}")
        };
        api::get_owned(path)
    });
    api::every(REFRESH_MS, move || tick.update(|n| *n += 1));
    view! {
        <section id="alerts">
            <form class="inline">
                <label>{t(Key::Status)}" "
                    <select id="alert-state" on:change=move |ev| state.set(event_target_value(&ev))>
                        <option value="">{t(Key::All)}</option>
                        {STATES.iter().map(|s| view! { <option value=*s>{i18n::state(l, s)}</option> }).collect_view()}
                    </select>
                </label>
            </form>
            {list_of(alerts, move |rows| {
                if rows.is_empty() {
                    return view! { <p class="muted" id="no-alerts">{t(Key::NoAlerts)}</p> }.into_any();
                }
                view! {
                    <table id="alert-list"><thead><tr>
                        <th>"#"</th><th>{t(Key::Severity)}</th><th>{t(Key::AlertRule)}</th><th>{t(Key::Chain)}</th>
                        <th>{t(Key::Status)}</th><th>{t(Key::StartedAt)}</th><th>{t(Key::FiredAt)}</th>
                        <th>{t(Key::ResolvedAt)}</th><th>{t(Key::AlertSummary)}</th><th>{t(Key::Acknowledged)}</th>
                    </tr></thead>
                    <tbody>{rows.into_iter().map(|a| alert_row(l, &a)).collect_view()}</tbody></table>
                }
                .into_any()
            })}
        </section>
    }
}

fn alert_row(l: Lang, a: &Value) -> impl IntoView + use<> {
    let id = txt(&a["id"]);
    let state = txt(&a["state"]);
    let severity = txt(&a["severity"]);
    let place = match a["node"].as_str() {
        Some(n) => format!("{} / {n}", txt(&a["chain"])),
        None => txt(&a["chain"]),
    };
    let ack = a["acknowledged_by_name"].as_str().map(|who| {
        let note = txt(&a["ack_note"]);
        view! { <span class="who">{who.to_owned()}</span>{(!note.is_empty()).then(|| view! { ": "<span class="note">{note}</span> })} }
    });
    view! {
        <tr data-alert-id=id.clone() data-state=state.clone() class=format!("severity-{severity}")>
            <td><a class="alert-link" href=format!("/alerts/{id}")>"#"{id.clone()}</a></td>
            <td><span class=format!("badge severity-{severity}")>{severity_name(l, &severity)}</span></td>
            <td>{rule_name(l, &txt(&a["rule_name"]))}</td>
            <td>{place}</td>
            <td class=format!("state state-{state}")>{i18n::state(l, &state)}</td>
            <td class="nowrap">{time(&a["started_at"])}</td>
            <td class="nowrap">{time(&a["fired_at"])}</td>
            <td class="nowrap">{time(&a["resolved_at"])}</td>
            <td class="summary">{txt(&a["summary"])}</td>
            <td class="ack">{ack}</td>
        </tr>
    }
}

/// `/alerts/:id`: one alert, its acknowledgement and its notifications.
#[component]
pub fn AlertPage() -> impl IntoView {
    let id = id_param();
    authed(Key::Alert, false, move |s: Session| {
        let id = id();
        let l = lang();
        let tick = RwSignal::new(0_u32);
        let alert = LocalResource::new(move || {
            let _ = tick.get();
            api::get_owned(format!("/api/v1/alerts/{id}"))
        });
        let deliveries = LocalResource::new(move || {
            let _ = tick.get();
            api::get_owned(format!("/api/v1/alerts/{id}/deliveries"))
        });
        api::every(REFRESH_MS, move || tick.update(|n| *n += 1));
        let manage = s.may("alert_manage");
        let csrf = s.csrf();
        view! {
            <p><a href="/alerts" id="back-to-alerts">{t(Key::AlertHistory)}</a></p>
            {move || match alert.get() {
                None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                Some(Ok(a)) => view! { <AlertDetail a=a manage=manage csrf=csrf.clone() tick=tick/> }.into_any(),
            }}
            <section id="notifications">
                <h2>{t(Key::Notifications)}</h2>
                {list_of(deliveries, move |rows| {
                    if rows.is_empty() {
                        return view! { <p class="muted" id="no-deliveries">{t(Key::NoNotifications)}</p> }.into_any();
                    }
                    view! {
                        <table id="deliveries"><thead><tr>
                            <th>{t(Key::Kind)}</th><th>{t(Key::Channel)}</th><th>{t(Key::Recipient)}</th>
                            <th>{t(Key::Status)}</th><th>{t(Key::Attempts)}</th><th>{t(Key::Time)}</th><th>{t(Key::LastError)}</th>
                        </tr></thead>
                        <tbody>{rows.into_iter().map(|d| {
                            let channel = txt(&d["channel"]);
                            let status = txt(&d["status"]);
                            view! {
                                <tr data-channel=channel.clone() data-status=status.clone() data-event=txt(&d["event"])>
                                    <td>{i18n::state(l, &txt(&d["event"]))}</td>
                                    <td>{channel_name(l, &channel)}</td>
                                    <td class="target">{if channel == "message" {
                                        format!("{} #{}", l.t(Key::Organization), txt(&d["target"]))
                                    } else {
                                        txt(&d["target"])
                                    }}</td>
                                    <td class=format!("state state-{status}")>{delivery_status(l, &status)}</td>
                                    <td>{txt(&d["attempts"])}</td>
                                    <td class="nowrap">{time(&d["updated_at"])}</td>
                                    <td class="error-text">{txt(&d["last_error"])}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody></table>
                    }
                    .into_any()
                })}
            </section>
        }
    })
}

#[component]
fn AlertDetail(a: Value, manage: bool, csrf: Option<String>, tick: RwSignal<u32>) -> impl IntoView {
    let l = lang();
    let id = a["id"].as_i64().unwrap_or_default();
    let state = txt(&a["state"]);
    let severity = txt(&a["severity"]);
    let chain_href = format!("/chains/{}", txt(&a["chain_id"]));
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiErr>);
    let ack = move |ev: SubmitEvent| {
        ev.prevent_default();
        let csrf = csrf.clone();
        let body = json!({"note": note.get_untracked()});
        spawn_local(async move {
            match api::post(&format!("/api/v1/alerts/{id}/ack"), &body, csrf.as_deref()).await {
                Ok(_) => {
                    error.set(None);
                    tick.update(|n| *n += 1);
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let acked = a["acknowledged_by_name"].as_str().map(|who| {
        let (who, at, note) = (who.to_owned(), time(&a["acknowledged_at"]), txt(&a["ack_note"]));
        view! { <span id="acked-by">{who}</span>" · "{at}{(!note.is_empty()).then(|| view! { " · "<span id="ack-note-text">{note}</span> })} }
    });
    // A pending alert is not acknowledged: it may still go away by itself.
    let may_ack = manage && state != "pending";
    let value = a["value"].as_f64().map(|v| format!("{v}"));
    view! {
        <dl id="alert-detail" class="facts" data-state=state.clone()>
            <dt>{t(Key::AlertRule)}</dt><dd>{rule_name(l, &txt(&a["rule_name"]))}</dd>
            <dt>{t(Key::Severity)}</dt><dd><span class=format!("badge severity-{severity}")>{severity_name(l, &severity)}</span></dd>
            <dt>{t(Key::Status)}</dt><dd id="alert-state-value" class=format!("state state-{state}")>{i18n::state(l, &state)}</dd>
            <dt>{t(Key::Chain)}</dt><dd><a href=chain_href>{txt(&a["chain"])}</a></dd>
            <dt>{t(Key::Node)}</dt><dd>{txt(&a["node"])}</dd>
            <dt>{t(Key::StartedAt)}</dt><dd>{time(&a["started_at"])}</dd>
            <dt>{t(Key::FiredAt)}</dt><dd>{time(&a["fired_at"])}</dd>
            <dt>{t(Key::ResolvedAt)}</dt><dd>{time(&a["resolved_at"])}</dd>
            <dt>{t(Key::Value)}</dt><dd>{value}</dd>
            <dt>{t(Key::AlertSummary)}</dt><dd id="alert-summary">{txt(&a["summary"])}</dd>
            <dt>{t(Key::Acknowledged)}</dt><dd>{acked}</dd>
        </dl>
        {may_ack.then(|| view! {
            <form id="ack-form" class="inline" on:submit=ack>
                <input id="ack-note" name="note" maxlength="1000" placeholder=t(Key::AckNote) bind:value=note/>
                <button type="submit" id="ack-submit">{t(Key::Acknowledge)}</button>
            </form>
        })}
        {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
    }
}

/// The rules, and the form for a new one or one being edited.
#[component]
fn RulesView(manage: bool, csrf: Option<String>) -> impl IntoView {
    let l = lang();
    let tick = RwSignal::new(0_u32);
    let rules = LocalResource::new(move || {
        let _ = tick.get();
        api::get("/api/v1/alert-rules")
    });
    let chains = LocalResource::new(|| api::get("/api/v1/chains"));
    // Some(Null): a new rule; Some(rule): that rule.
    let editing = RwSignal::new(None::<Value>);
    let error = RwSignal::new(None::<ApiErr>);
    let act = {
        let csrf = csrf.clone();
        move |path: String, delete: bool| {
            let csrf = csrf.clone();
            spawn_local(async move {
                let r = if delete {
                    api::delete(&path, csrf.as_deref()).await
                } else {
                    api::post(&path, &json!({}), csrf.as_deref()).await
                };
                match r {
                    Ok(_) => {
                        error.set(None);
                        tick.update(|n| *n += 1);
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let chain_name = move |id: &Value| {
        chains
            .get()
            .and_then(Result::ok)
            .and_then(|cs| cs.as_array()?.iter().find(|c| c["id"] == *id).map(|c| txt(&c["name"])))
            .unwrap_or_else(|| format!("#{}", txt(id)))
    };
    view! {
        <section id="alert-rules">
            {manage.then(|| view! {
                <p><button type="button" id="new-rule" on:click=move |_| editing.set(Some(Value::Null))>{t(Key::NewAlertRule)}</button></p>
            })}
            {move || editing.get().map(|r| view! { <RuleForm rule=r chains=chains csrf=csrf.clone() editing=editing tick=tick/> })}
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
            {list_of(rules, move |rows| {
                if rows.is_empty() {
                    return view! { <p class="muted" id="no-rules">{t(Key::NoAlertRules)}</p> }.into_any();
                }
                let act = act.clone();
                view! {
                    <table id="rule-list"><thead><tr>
                        <th>{t(Key::Name)}</th><th>{t(Key::Scope)}</th><th>{t(Key::Conditions)}</th><th>{t(Key::Duration)}</th>
                        <th>{t(Key::ActiveWindow)}</th><th>{t(Key::Severity)}</th><th>{t(Key::Channels)}</th>
                        <th>{t(Key::Status)}</th>{manage.then(|| view! { <th>{t(Key::Actions)}</th> })}
                    </tr></thead>
                    <tbody>{rows.into_iter().map(|r| {
                        let id = r["id"].as_i64().unwrap_or_default();
                        let enabled = r["enabled"].as_bool().unwrap_or(false);
                        let builtin = r["builtin"].as_str().is_some();
                        let chains_text = r["chain_ids"].as_array().filter(|a| !a.is_empty())
                            .map(|a| a.iter().map(chain_name).collect::<Vec<_>>().join(", "));
                        let (toggle, remove, edit_rule) = (act.clone(), act.clone(), r.clone());
                        view! {
                            <tr data-rule-id=id.to_string() data-enabled=enabled.to_string() data-builtin=builtin.to_string()>
                                <td class="name">{rule_name(l, &txt(&r["name"]))}{builtin.then(|| view! { " "<span class="badge">{t(Key::Default)}</span> })}</td>
                                <td>{scope_name(l, &txt(&r["scope"]))}{chains_text.map(|c| view! { <br/><span class="muted">{c}</span> })}</td>
                                <td class="conditions">{conditions_text(l, &r)}</td>
                                <td>{seconds(l, r["duration_s"].as_i64().unwrap_or(0))}</td>
                                <td>{window_text(l, &r["window"])}</td>
                                <td><span class=format!("badge severity-{}", txt(&r["severity"]))>{severity_name(l, &txt(&r["severity"]))}</span></td>
                                <td>{channels_text(l, &r["channels"])}</td>
                                <td class="enabled">{if enabled { t(Key::Enabled) } else { t(Key::Disabled) }}</td>
                                {manage.then(|| view! {
                                    <td class="actions">
                                        <button type="button" class="rule-edit" on:click=move |_| editing.set(Some(edit_rule.clone()))>{t(Key::Edit)}</button>
                                        <button type="button" class="rule-toggle" on:click=move |_| {
                                            toggle(format!("/api/v1/alert-rules/{id}/{}", if enabled { "disable" } else { "enable" }), false)
                                        }>{if enabled { t(Key::Disable) } else { t(Key::Enable) }}</button>
                                        {(!builtin).then(|| confirm_button(format!("rule-{id}-delete"), Key::Delete, Key::ConfirmDeleteRule,
                                            move || remove(format!("/api/v1/alert-rules/{id}"), true)))}
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}</tbody></table>
                }
                .into_any()
            })}
        </section>
    }
}

/// One condition row of the form.
#[derive(Clone, Copy)]
struct CondRow {
    key: usize,
    kind: RwSignal<String>,
    series: RwSignal<String>,
    aggregate: RwSignal<String>,
    op: RwSignal<String>,
    threshold: RwSignal<String>,
    log_type: RwSignal<String>,
    pattern: RwSignal<String>,
    regex: RwSignal<bool>,
}

impl CondRow {
    fn new(key: usize, c: &Value) -> CondRow {
        let s = |k: &str, d: &str| RwSignal::new(c[k].as_str().unwrap_or(d).to_owned());
        CondRow {
            key,
            kind: s("kind", "metric"),
            series: s("series", "up"),
            aggregate: s("aggregate", "last"),
            op: s("op", "=="),
            threshold: RwSignal::new(
                c["threshold"].as_f64().map_or_else(|| "0".to_owned(), |v| format!("{v}")),
            ),
            log_type: s("log_type", "error"),
            pattern: s("pattern", ""),
            regex: RwSignal::new(c["regex"].as_bool().unwrap_or(false)),
        }
    }

    /// The condition as the API takes it; `None` when the threshold is
    /// not a number.
    fn to_json(self) -> Option<Value> {
        if self.kind.get_untracked() == "log" {
            return Some(json!({
                "kind": "log",
                "log_type": self.log_type.get_untracked(),
                "pattern": self.pattern.get_untracked(),
                "regex": self.regex.get_untracked(),
            }));
        }
        let threshold: f64 =
            self.threshold.get_untracked().trim().parse().ok().filter(|v: &f64| v.is_finite())?;
        Some(json!({
            "kind": "metric",
            "series": self.series.get_untracked(),
            "aggregate": self.aggregate.get_untracked(),
            "op": self.op.get_untracked(),
            "threshold": threshold,
        }))
    }
}

/// A select of `options` (shown as themselves) bound to `value`.
fn select_of(
    class: &'static str,
    options: &'static [&'static str],
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <select class=class on:change=move |ev| value.set(event_target_value(&ev))>
            {options.iter().map(|o| view! { <option value=*o selected=move || value.get() == *o>{*o}</option> }).collect_view()}
        </select>
    }
}

/// The form of a new rule (`rule` null) or of `rule`.
#[component]
fn RuleForm(
    rule: Value,
    chains: LocalResource<Result<Value, ApiErr>>,
    csrf: Option<String>,
    editing: RwSignal<Option<Value>>,
    tick: RwSignal<u32>,
) -> impl IntoView {
    let l = lang();
    let id = rule["id"].as_i64();
    let text = |k: &str, d: &str| RwSignal::new(rule[k].as_str().unwrap_or(d).to_owned());
    let name = text("name", "");
    let scope = text("scope", "node");
    let combine = text("combine", "and");
    let severity = text("severity", "warning");
    let chain = RwSignal::new(rule["chain_ids"].get(0).map(txt).unwrap_or_default());
    let node_ids = rule["node_ids"].clone();
    let duration = RwSignal::new(rule["duration_s"].as_i64().unwrap_or(60).to_string());
    let window = &rule["window"];
    let window_on = RwSignal::new(window.is_object());
    let days = RwSignal::new(
        window["days"]
            .as_array()
            .map(|d| d.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    let start = RwSignal::new(window["start"].as_str().unwrap_or("08:00").to_owned());
    let end = RwSignal::new(window["end"].as_str().unwrap_or("18:00").to_owned());
    let offset =
        RwSignal::new(window["utc_offset_minutes"].as_i64().unwrap_or_else(browser_offset).to_string());
    let ch = &rule["channels"];
    let message = RwSignal::new(ch["message"].as_bool().unwrap_or(true));
    let email = RwSignal::new(ch["email"].as_bool().unwrap_or(false));
    let emails = RwSignal::new(
        ch["emails"].as_array().map(|a| a.iter().map(txt).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
    );
    let webhook = RwSignal::new(ch["webhook"].as_bool().unwrap_or(false));
    let webhook_url = RwSignal::new(ch["webhook_url"].as_str().unwrap_or_default().to_owned());
    let webhook_secret = RwSignal::new(String::new());
    let has_secret = ch["has_webhook_secret"].as_bool().unwrap_or(false);
    let enabled = rule["enabled"].as_bool().unwrap_or(true);
    let first: Vec<Value> = rule["conditions"].as_array().cloned().unwrap_or_else(|| vec![json!({})]);
    let next_key = StoredValue::new(first.len());
    let conds = RwSignal::new(first.iter().enumerate().map(|(i, c)| CondRow::new(i, c)).collect::<Vec<_>>());
    let error = RwSignal::new(None::<ApiErr>);
    let not_a_number = RwSignal::new(false);
    let add = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        conds.update(|c| c.push(CondRow::new(key, &json!({}))));
    };
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(conditions) =
            conds.get_untracked().into_iter().map(CondRow::to_json).collect::<Option<Vec<_>>>()
        else {
            not_a_number.set(true);
            return;
        };
        not_a_number.set(false);
        let mut channels = json!({
            "message": message.get_untracked(),
            "email": email.get_untracked(),
            "emails": split_list(&emails.get_untracked()),
            "webhook": webhook.get_untracked(),
            "webhook_url": Some(webhook_url.get_untracked().trim().to_owned()).filter(|u| !u.is_empty()),
        });
        let secret = webhook_secret.get_untracked();
        if !secret.is_empty() {
            channels["webhook_secret"] = json!(secret);
        }
        let chain_ids: Vec<i64> = chain.get_untracked().parse().ok().into_iter().collect();
        let window = window_on.get_untracked().then(|| {
            json!({
                "days": days.get_untracked(),
                "start": start.get_untracked(),
                "end": end.get_untracked(),
                "utc_offset_minutes": offset.get_untracked().trim().parse::<i64>().unwrap_or(0),
            })
        });
        let body = json!({
            "name": name.get_untracked().trim(),
            "scope": scope.get_untracked(),
            "chain_ids": chain_ids,
            "node_ids": if chain_ids.is_empty() { json!([]) } else { node_ids.clone() },
            "combine": combine.get_untracked(),
            "conditions": conditions,
            "duration_s": duration.get_untracked().trim().parse::<i64>().unwrap_or(-1),
            "window": window,
            "severity": severity.get_untracked(),
            "channels": channels,
            "enabled": enabled,
        });
        let csrf = csrf.clone();
        spawn_local(async move {
            let r = match id {
                Some(id) => api::put(&format!("/api/v1/alert-rules/{id}"), &body, csrf.as_deref()).await,
                None => api::post("/api/v1/alert-rules", &body, csrf.as_deref()).await,
            };
            match r {
                Ok(_) => {
                    editing.set(None);
                    tick.update(|n| *n += 1);
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let day_names: [(u64, Key); 7] = [
        (1, Key::Mon),
        (2, Key::Tue),
        (3, Key::Wed),
        (4, Key::Thu),
        (5, Key::Fri),
        (6, Key::Sat),
        (7, Key::Sun),
    ];
    view! {
        <form id="rule-form" class="card" on:submit=save>
            <h2>{if id.is_some() { t(Key::EditAlertRule) } else { t(Key::NewAlertRule) }}</h2>
            <label>{t(Key::Name)}" "<input id="rule-name" required maxlength="100" bind:value=name/></label>
            <label>{t(Key::Scope)}" "
                <select id="rule-scope" on:change=move |ev| scope.set(event_target_value(&ev))>
                    {SCOPES.iter().map(|s| view! { <option value=*s selected=move || scope.get() == *s>{scope_name(l, s)}</option> }).collect_view()}
                </select>
            </label>
            <label>{t(Key::Chain)}" "
                <select id="rule-chain" on:change=move |ev| chain.set(event_target_value(&ev))>
                    <option value="">{t(Key::AllMyChains)}</option>
                    {move || chains.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default().into_iter().map(|c| {
                        let cid = txt(&c["id"]);
                        let shown = cid.clone();
                        view! { <option value=cid selected=move || chain.get() == shown>{txt(&c["name"])}</option> }
                    }).collect_view()}
                </select>
            </label>
            <fieldset id="rule-conditions">
                <legend>{t(Key::Conditions)}" "
                    <select id="rule-combine" on:change=move |ev| combine.set(event_target_value(&ev))>
                        <option value="and" selected=move || combine.get() == "and">{t(Key::AllOf)}</option>
                        <option value="or" selected=move || combine.get() == "or">{t(Key::AnyOf)}</option>
                    </select>
                </legend>
                <For each=move || conds.get() key=|c| c.key children=move |c: CondRow| {
                    let kind = c.kind;
                    view! {
                        <div class="condition inline">
                            <select class="cond-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                                <option value="metric" selected=move || kind.get() == "metric">{t(Key::Metric)}</option>
                                <option value="log" selected=move || kind.get() == "log">{t(Key::LogKeyword)}</option>
                            </select>
                            {move || if kind.get() == "log" {
                                view! {
                                    {select_of("cond-log-type", &LOG_TYPES, c.log_type)}
                                    <input class="cond-pattern" required maxlength="500" placeholder=t(Key::KeywordOrRegex) bind:value=c.pattern/>
                                    <label class="check"><input type="checkbox" class="cond-regex" bind:checked=c.regex/>{t(Key::RegexMatch)}</label>
                                }.into_any()
                            } else {
                                view! {
                                    {select_of("cond-agg", &AGGREGATES, c.aggregate)}
                                    {select_of("cond-series", &SERIES, c.series)}
                                    {select_of("cond-op", &OPS, c.op)}
                                    <input class="cond-threshold" inputmode="decimal" size="10" bind:value=c.threshold/>
                                }.into_any()
                            }}
                            <button type="button" class="cond-remove"
                                on:click=move |_| conds.update(|cs| cs.retain(|x| x.key != c.key))>{t(Key::Remove)}</button>
                        </div>
                    }
                }/>
                <button type="button" id="add-condition" on:click=add>{t(Key::AddCondition)}</button>
            </fieldset>
            <label>{t(Key::DurationSeconds)}" "<input id="rule-duration" type="number" min="0" max="21600" bind:value=duration/></label>
            <fieldset id="rule-window">
                <legend><label class="check"><input type="checkbox" id="rule-window-on" bind:checked=window_on/>{t(Key::OnlyWithin)}</label></legend>
                {move || window_on.get().then(|| view! {
                    <div class="inline">
                        {day_names.iter().map(|(d, key)| {
                            let d = *d;
                            view! {
                                <label class="check"><input type="checkbox" class="window-day" value=d.to_string()
                                    prop:checked=move || days.with(|ds| ds.contains(&d))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        days.update(|ds| { ds.retain(|x| *x != d); if on { ds.push(d); ds.sort_unstable(); } });
                                    }/>{t(*key)}</label>
                            }
                        }).collect_view()}
                    </div>
                    <div class="inline">
                        <label>{t(Key::From)}" "<input type="time" id="rule-window-start" bind:value=start/></label>
                        <label>{t(Key::To)}" "<input type="time" id="rule-window-end" bind:value=end/></label>
                        <label>{t(Key::UtcOffsetMinutes)}" "<input type="number" id="rule-window-offset" min="-840" max="840" bind:value=offset/></label>
                    </div>
                    <p class="muted">{t(Key::WindowNote)}</p>
                })}
            </fieldset>
            <label>{t(Key::Severity)}" "
                <select id="rule-severity" on:change=move |ev| severity.set(event_target_value(&ev))>
                    {SEVERITIES.iter().map(|s| view! { <option value=*s selected=move || severity.get() == *s>{severity_name(l, s)}</option> }).collect_view()}
                </select>
            </label>
            <fieldset id="rule-channels">
                <legend>{t(Key::Channels)}</legend>
                <label class="check"><input type="checkbox" id="ch-message" bind:checked=message/>{t(Key::MessageCentre)}</label>
                <div class="inline">
                    <label class="check"><input type="checkbox" id="ch-email" bind:checked=email/>{t(Key::Email)}</label>
                    <input id="ch-emails" size="40" placeholder=t(Key::ExtraRecipients) bind:value=emails/>
                </div>
                <div class="inline">
                    <label class="check"><input type="checkbox" id="ch-webhook" bind:checked=webhook/>{t(Key::Webhook)}</label>
                    <input id="ch-webhook-url" size="40" placeholder="http://" bind:value=webhook_url/>
                    <input id="ch-webhook-secret" type="password" autocomplete="new-password" size="24"
                        placeholder=if has_secret { t(Key::SecretKept) } else { t(Key::WebhookSecret) } bind:value=webhook_secret/>
                </div>
                <p class="muted">{t(Key::ChannelsNote)}</p>
            </fieldset>
            {move || not_a_number.get().then(|| view! { <p class="error" role="alert" id="threshold-error">{t(Key::ThresholdNotNumber)}</p> })}
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
            <div class="inline">
                <button type="submit" id="rule-save">{t(Key::Save)}</button>
                <button type="button" id="rule-cancel" on:click=move |_| editing.set(None)>{t(Key::Cancel)}</button>
            </div>
        </form>
    }
}

/// The organization's own recipients and webhook, used by every rule with
/// that channel on (a rule may add recipients or name its own webhook).
#[component]
fn ChannelsView(manage: bool, csrf: Option<String>) -> impl IntoView {
    let current = LocalResource::new(|| api::get("/api/v1/alert-channels"));
    let emails = RwSignal::new(String::new());
    let webhook_url = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let has_secret = RwSignal::new(false);
    let smtp = RwSignal::new(None::<bool>);
    Effect::new(move |_| {
        if let Some(Ok(v)) = current.get() {
            emails.set(
                v["emails"]
                    .as_array()
                    .map(|a| a.iter().map(txt).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
            );
            webhook_url.set(v["webhook_url"].as_str().unwrap_or_default().to_owned());
            has_secret.set(v["has_webhook_secret"].as_bool().unwrap_or(false));
            smtp.set(v["smtp_configured"].as_bool());
        }
    });
    let outcome = RwSignal::new(None::<Result<(), ApiErr>>);
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let mut body = json!({
            "emails": split_list(&emails.get_untracked()),
            "webhook_url": Some(webhook_url.get_untracked().trim().to_owned()).filter(|u| !u.is_empty()),
        });
        let s = secret.get_untracked();
        if !s.is_empty() {
            body["webhook_secret"] = json!(s);
        }
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::put("/api/v1/alert-channels", &body, csrf.as_deref()).await {
                Ok(_) => {
                    outcome.set(Some(Ok(())));
                    secret.set(String::new());
                    current.refetch();
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    view! {
        <section id="alert-channels">
            <p class="muted">{t(Key::OrgChannelsLead)}</p>
            {move || smtp.get().map(|on| view! {
                <p id="smtp-state" data-configured=on.to_string() class=if on { "ok" } else { "muted" }>
                    {if on { t(Key::SmtpConfigured) } else { t(Key::SmtpMissing) }}
                </p>
            })}
            {move || match current.get() {
                Some(Err(e)) => Some(view! { <ErrorLine err=e/> }),
                _ => None,
            }}
            <form id="channels-form" on:submit=save>
                <label>{t(Key::Email)}" "<input id="org-emails" size="60" disabled=!manage placeholder=t(Key::ExtraRecipients) bind:value=emails/></label>
                <label>{t(Key::Webhook)}" "<input id="org-webhook-url" size="60" disabled=!manage placeholder="http://" bind:value=webhook_url/></label>
                {manage.then(|| view! {
                    <label>{t(Key::WebhookSecret)}" "<input id="org-webhook-secret" type="password" autocomplete="new-password"
                        placeholder=move || if has_secret.get() { t(Key::SecretKept) } else { "" } bind:value=secret/></label>
                    <button type="submit" id="channels-save">{t(Key::Save)}</button>
                })}
            </form>
            {move || outcome.get().map(|o| match o {
                Ok(()) => view! { <p class="ok" id="channels-saved">{t(Key::Saved)}</p> }.into_any(),
                Err(e) => view! { <ErrorLine err=e/> }.into_any(),
            })}
        </section>
    }
}

/// The browser's offset from UTC in minutes (east positive), as a rule's
/// window takes it; 0 on the server.
fn browser_offset() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        -(js_sys::Date::new_0().get_timezone_offset() as i64)
    }
    #[cfg(not(feature = "hydrate"))]
    0
}

/// `a, b; c` (commas, semicolons, spaces or new lines) as a list.
fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', ' ', '\n']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

/// A rule's name; the default rules' (named in English by the API) in the
/// page's language while they keep that name.
fn rule_name(l: Lang, name: &str) -> String {
    [Key::RuleNodeDown, Key::RuleConsensusStalled, Key::RuleCertExpiring, Key::RuleDiskFull]
        .into_iter()
        .find(|k| i18n::en(*k) == name)
        .map_or_else(|| name.to_owned(), |k| l.t(k).to_owned())
}

fn severity_name(l: Lang, s: &str) -> String {
    match s {
        "info" => l.t(Key::SevInfo).to_owned(),
        "warning" => l.t(Key::SevWarning).to_owned(),
        "critical" => l.t(Key::SevCritical).to_owned(),
        other => other.to_owned(),
    }
}

fn scope_name(l: Lang, s: &str) -> String {
    match s {
        "chain" => l.t(Key::Chain).to_owned(),
        "node" => l.t(Key::Node).to_owned(),
        "host" => l.t(Key::Host).to_owned(),
        other => other.to_owned(),
    }
}

fn channel_name(l: Lang, c: &str) -> String {
    match c {
        "message" => l.t(Key::MessageCentre).to_owned(),
        "email" => l.t(Key::Email).to_owned(),
        "webhook" => l.t(Key::Webhook).to_owned(),
        other => other.to_owned(),
    }
}

/// The channels a rule notifies: `Message centre, E-mail`.
fn channels_text(l: Lang, ch: &Value) -> String {
    ["message", "email", "webhook"]
        .into_iter()
        .filter(|c| ch[*c] == true)
        .map(|c| channel_name(l, c))
        .collect::<Vec<_>>()
        .join(l.t(Key::ListSep))
}

fn delivery_status(l: Lang, s: &str) -> String {
    match s {
        "sent" => l.t(Key::Delivered).to_owned(),
        other => i18n::state(l, other),
    }
}

/// `n s`, `n min`, `n h`.
fn seconds(l: Lang, s: i64) -> String {
    let (n, unit) = if s >= 3600 && s % 3600 == 0 {
        (s / 3600, if l == Lang::Zh { " 小时" } else { " h" })
    } else if s >= 60 && s % 60 == 0 {
        (s / 60, if l == Lang::Zh { " 分钟" } else { " min" })
    } else {
        (s, if l == Lang::Zh { " 秒" } else { " s" })
    };
    format!("{n}{unit}")
}

/// A rule's conditions as a line: `last(up) == 0 and error log ~ /panic/`.
fn conditions_text(l: Lang, r: &Value) -> String {
    let join = if r["combine"] == "or" { l.t(Key::Or) } else { l.t(Key::And) };
    r["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    if c["kind"] == "log" {
                        let p = txt(&c["pattern"]);
                        let shown = if c["regex"] == true { format!("/{p}/") } else { format!("\"{p}\"") };
                        format!("{} ~ {shown}", log_name(l, &txt(&c["log_type"])))
                    } else {
                        format!(
                            "{}({}) {} {}",
                            txt(&c["aggregate"]),
                            txt(&c["series"]),
                            txt(&c["op"]),
                            txt(&c["threshold"])
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join(&format!(" {join} "))
        })
        .unwrap_or_default()
}

fn log_name(l: Lang, kind: &str) -> String {
    let key = match kind {
        "run" => Key::LogRun,
        "system" => Key::LogSystem,
        "error" => Key::LogError,
        other => return other.to_owned(),
    };
    l.t(key).to_owned()
}

/// `Mon–Fri 08:00–18:00 (UTC+8)`, or "always".
fn window_text(l: Lang, w: &Value) -> String {
    if !w.is_object() {
        return l.t(Key::Always).to_owned();
    }
    let days: Vec<u64> =
        w["days"].as_array().map(|d| d.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let names = [Key::Mon, Key::Tue, Key::Wed, Key::Thu, Key::Fri, Key::Sat, Key::Sun];
    let days_text = if days.is_empty() || days.len() == 7 {
        l.t(Key::EveryDay).to_owned()
    } else {
        days.iter()
            .filter_map(|d| names.get(usize::try_from(*d).ok()?.checked_sub(1)?))
            .map(|k| l.t(*k))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let offset = w["utc_offset_minutes"].as_i64().unwrap_or(0);
    let zone = match (offset / 60, offset.rem_euclid(60)) {
        (h, 0) => format!("UTC{h:+}"),
        (h, m) => format!("UTC{h:+}:{m:02}"),
    };
    format!("{days_text} {}–{} ({zone})", txt(&w["start"]), txt(&w["end"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_lines() {
        let r = json!({"combine": "and", "conditions": [
            {"kind": "metric", "series": "up", "aggregate": "last", "op": "==", "threshold": 0.0},
            {"kind": "log", "log_type": "error", "pattern": "panic|fatal", "regex": true}]});
        assert_eq!(conditions_text(Lang::En, &r), "last(up) == 0.0 and Error log ~ /panic|fatal/");
        let w = json!({"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00", "utc_offset_minutes": 480});
        assert_eq!(window_text(Lang::En, &w), "Mon Tue Wed Thu Fri 08:00–18:00 (UTC+8)");
        assert_eq!(window_text(Lang::En, &Value::Null), "always");
        assert_eq!(seconds(Lang::En, 120), "2 min");
        assert_eq!(rule_name(Lang::Zh, "Node down"), "节点宕机");
        assert_eq!(rule_name(Lang::Zh, "节点无响应"), "节点无响应");
        assert_eq!(seconds(Lang::Zh, 45), "45 秒");
        assert_eq!(split_list("a@x.gov, b@y.gov;\nc@z.gov"), vec!["a@x.gov", "b@y.gov", "c@z.gov"]);
    }
}
