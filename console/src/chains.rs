//! Chains (SPEC PRV-5..7, OPS-1): the chains the organization is a member
//! of (every one for the platform operator; the API reports heights on a
//! chain's own page only), and one chain with its live
//! height and leader, its nodes, its members and its block policy, which a
//! chain operator edits online.

use std::sync::Arc;

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, lang, list_of, t, time, to_login, txt},
    i18n::{self, Key, Lang},
    parts::{confirm_button, field_error},
    requests::RESOURCES,
};

#[component]
pub fn ChainsPage() -> impl IntoView {
    authed(Key::Chains, false, |_s: Session| {
        let l = lang();
        let chains = LocalResource::new(|| api::get("/api/v1/chains?live=true"));
        api::every(3000, move || chains.refetch());
        view! {
            {list_of(chains, move |cs| if cs.is_empty() {
                view! { <p class="muted" id="no-chains">{t(Key::NoChains)}</p> }.into_any()
            } else {
                view! {
                    <table id="chains"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Status)}</th><th>{t(Key::Health)}</th><th>{t(Key::Height)}</th>
                        <th>{t(Key::Consensus)}</th><th>{t(Key::Suite)}</th><th>{t(Key::Nodes)}</th><th>{t(Key::Created)}</th></tr></thead>
                    <tbody>{cs.into_iter().map(|c| {
                        let id = txt(&c["id"]);
                        view! {
                            <tr data-name=txt(&c["name"]) data-health=txt(&c["health"])>
                                <td><a href=format!("/chains/{id}")>{txt(&c["name"])}</a></td>
                                <td class=format!("state-{}", txt(&c["state"]))>{i18n::state(l, &txt(&c["state"]))}</td>
                                {health_cells(l, &c)}
                                <td>{txt(&c["consensus"])}</td>
                                <td>{txt(&c["suite"])}</td>
                                <td>{c["nodes"].as_array().map_or(0, Vec::len)}</td>
                                <td>{time(&c["created_at"])}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody></table>
                }.into_any()
            })}
        }
    })
}

/// A chain's health and height cells (a dash where the API has none:
/// while provisioning, or when no node answered).
pub(crate) fn health_cells(l: Lang, c: &Value) -> impl IntoView + use<> {
    let health = txt(&c["health"]);
    let shown = if health.is_empty() { "—".to_owned() } else { i18n::state(l, &health) };
    let height = c["height"].as_u64().map_or_else(|| "—".to_owned(), |h| h.to_string());
    view! {
        <td class=format!("health health-{health}")>{shown}</td>
        <td class="height">{height}</td>
    }
}

/// One chain, refreshed every two seconds.
#[component]
pub fn ChainPage() -> impl IntoView {
    let id = id_param();
    authed(Key::Chain, false, move |s: Session| {
        let id = id();
        let chain = LocalResource::new(move || api::get_owned(format!("/api/v1/chains/{id}")));
        api::every(2000, move || chain.refetch());
        // The first answer builds the page; later ones update the live parts.
        let latest = RwSignal::new(None::<Value>);
        Effect::new(move |_| {
            if let Some(Ok(v)) = chain.get() {
                latest.set(Some(v));
            }
        });
        // Built once, when the first answer is in: later answers update the
        // live parts in place, so forms, open questions and outcomes stay.
        let ready = Memo::new(move |_| latest.with(Option::is_some));
        move || {
            if ready.get() {
                return chain_view(&s, id, latest, Arc::new(move || chain.refetch())).into_any();
            }
            match chain.get() {
                Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                _ => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
            }
        }
    })
}

/// A field of node `node` in the latest answer, read reactively.
fn node_field(
    c: RwSignal<Option<Value>>,
    node: i64,
    f: fn(&Value) -> String,
) -> impl Fn() -> String + Clone + Send + Sync + 'static {
    move || {
        c.with(|c| {
            c.as_ref()
                .and_then(|c| c["nodes"].as_array()?.iter().find(|n| n["id"].as_i64() == Some(node)).map(f))
                .unwrap_or_default()
        })
    }
}

fn field(
    v: RwSignal<Option<Value>>,
    f: impl Fn(&Value) -> String + Send + Sync + 'static,
) -> impl Fn() -> String {
    move || v.with(|c| c.as_ref().map(&f).unwrap_or_default())
}

fn chain_view(
    s: &Session,
    id: i64,
    c: RwSignal<Option<Value>>,
    refresh: Arc<dyn Fn() + Send + Sync>,
) -> impl IntoView + use<> {
    let l = lang();
    let owner = c.with_untracked(|c| c.as_ref().and_then(|c| c["org_id"].as_i64())).unwrap_or_default();
    let ours = s.acts_for(owner);
    let operate = s.may("chain_operate");
    let state = field(c, |c| txt(&c["state"]));
    let act = Act::new(s, refresh);
    let act2 = act.clone();
    let s2 = s.clone();
    let several = Memo::new(move |_| {
        c.with(|c| c.as_ref().and_then(|c| c["nodes"].as_array().map(Vec::len)).unwrap_or(0) > 1)
    });
    view! {
        <section id="overview">
            <h2>{field(c, |c| txt(&c["name"]))}</h2>
            <p class="links"><a id="chain-explorer" href=format!("/chains/{id}/explorer")>{t(Key::Explorer)}</a>" · "
                <a id="chain-evidence" href=format!("/chains/{id}/evidence")>{t(Key::Evidence)}</a>" · "
                <a id="chain-contracts" href=format!("/chains/{id}/contracts")>{t(Key::ContractInstances)}</a></p>
            <dl class="facts">
                <dt>{t(Key::Status)}</dt><dd id="chain-state" class=move || format!("state-{}", state())>{move || i18n::state(l, &field(c, |c| txt(&c["state"]))())}</dd>
                <dt>{t(Key::Health)}</dt><dd id="chain-health">{move || {
                    let h = field(c, |c| txt(&c["health"]))();
                    if h.is_empty() { "—".to_owned() } else { i18n::state(l, &h) }
                }}</dd>
                <dt>{t(Key::Height)}</dt><dd id="chain-height">{field(c, |c| txt(&c["height"]))}</dd>
                <dt>{t(Key::Leader)}</dt><dd id="chain-leader">{field(c, |c| txt(&c["leader"]))}</dd>
                <dt>{t(Key::Consensus)}</dt><dd id="chain-consensus">{field(c, |c| txt(&c["consensus"]))}</dd>
                <dt>{t(Key::Suite)}</dt><dd>{field(c, |c| txt(&c["suite"]))}</dd>
                <dt>{t(Key::MaxNodes)}</dt><dd>{field(c, |c| txt(&c["max_nodes"]))}</dd>
                <dt>{t(Key::Created)}</dt><dd>{field(c, |c| time(&c["created_at"]))}</dd>
            </dl>
            {(operate && ours).then(|| chain_actions(&act, s.may("chain_delete"), id))}
            {act.outcome()}
        </section>
        <section id="nodes">
            <h2>{t(Key::Nodes)}</h2>
            <table id="node-list"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Role)}</th><th>{t(Key::Status)}</th>
                <th>{t(Key::Height)}</th><th>{t(Key::RaftRole)}</th><th>{t(Key::Restarts)}</th><th>{t(Key::Actions)}</th></tr></thead>
            // The last node is not removed (the API refuses it too).
            // Rows keyed by node id: the two-second refresh updates their
            // cells and keeps the rows (and an open confirmation) in place.
            <tbody><For
                each=move || c.with(|c| c.as_ref().and_then(|c| c["nodes"].as_array().cloned()).unwrap_or_default())
                key=|n| n["id"].as_i64().unwrap_or_default()
                children=move |n| {
                    let node = n["id"].as_i64().unwrap_or_default();
                    let cell = move |f: fn(&Value) -> String| node_field(c, node, f);
                    let state = cell(|n| txt(&n["state"]));
                    let state2 = state.clone();
                    let state3 = state.clone();
                    view! {
                        <tr data-name=txt(&n["name"]) data-state=state>
                            <td>{txt(&n["name"])}</td>
                            <td>{i18n::state(l, &txt(&n["role"]))}</td>
                            <td class=move || format!("state-{}", state2())>{move || i18n::state(l, &state3())}</td>
                            <td class="height">{cell(|n| txt(&n["live"]["height"]))}</td>
                            <td>{cell(|n| txt(&n["live"]["role"]))}</td>
                            <td>{cell(|n| txt(&n["live"]["restarts"]))}</td>
                            <td class="actions">{node_actions(&s2, &act2, id, &n, ours, several)}</td>
                        </tr>
                    }
                }
            /></tbody></table>
            {operate.then(|| add_node(s, id))}
        </section>
        {s.may("monitor_view").then(|| chain_charts(id))}
        <section id="members">
            <h2>{t(Key::Members)}</h2>
            <table id="member-list"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Domain)}</th><th>{t(Key::Joined)}</th></tr></thead>
            <tbody>{move || c.with(|c| c.as_ref().and_then(|c| c["members"].as_array().cloned()).unwrap_or_default()).into_iter().map(|m| view! {
                <tr data-domain=txt(&m["domain"])><td>{txt(&m["name"])}</td><td>{txt(&m["domain"])}</td><td>{time(&m["joined_at"])}</td></tr>
            }).collect_view()}</tbody></table>
            {(ours && s.may("chain_invite")).then(|| invite(s, id))}
        </section>
        <section id="config">
            <h2>{t(Key::BlockPolicy)}</h2>
            {policy(s, id, c, operate)}
            {operate.then(|| switch_engine(s, id, c))}
        </section>
    }
}

/// Adds a node of the caller's organization within its quota; a refusal
/// (quota used up, node limit) shows in place.
fn add_node(s: &Session, id: i64) -> impl IntoView + use<> {
    let csrf = s.csrf();
    let role = RwSignal::new("consensus".to_owned());
    let error = RwSignal::new(None::<Key>);
    let added = RwSignal::new(None::<String>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        added.set(None);
        let resources: serde_json::Map<String, Value> =
            RESOURCES.iter().map(|(f, _, _, _, rec)| ((*f).to_owned(), Value::from(*rec))).collect();
        let body = json!({"role": role.get_untracked(), "resources": resources});
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::post(&format!("/api/v1/chains/{id}/nodes"), &body, csrf.as_deref()).await {
                Ok(v) => added.set(Some(txt(&v["name"]))),
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(refusal(&e))),
            }
        });
    };
    let l = lang();
    view! {
        <form id="add-node" class="inline" on:submit=submit>
            <select name="role" on:change=move |ev| role.set(event_target_value(&ev))>
                <option value="consensus">{i18n::state(l, "consensus")}</option>
                <option value="backup">{i18n::state(l, "backup")}</option>
            </select>
            <button type="submit">{t(Key::AddNode)}</button>
            {move || error.get().map(|k| view! { <span class="error" role="alert" id="add-node-error">{t(k)}</span> })}
            {move || added.get().map(|n| view! { <span class="ok" id="node-added">{t(Key::NodeAdded)}" "<code>{n}</code></span> })}
        </form>
    }
}

/// A refusal of a chain operation in the page's language.
fn refusal(e: &ApiErr) -> Key {
    match (e.status, e.code.as_str()) {
        (0, _) => Key::NetworkError,
        (_, "quota_exceeded") => Key::QuotaExceeded,
        (409, _) if e.reason.as_deref() == Some("node_limit") => Key::NodeLimit,
        (409, _) if e.message.contains("last node") => Key::LastNode,
        (409, _) if e.message.contains("provisioned") => Key::ChainProvisioning,
        (409, _) => Key::ChainNotRunning,
        (403, _) => Key::Forbidden,
        (400 | 422, _) => Key::InvalidField,
        _ => Key::RequestFailed,
    }
}

/// The block policy; a chain operator edits it online.
fn policy(s: &Session, id: i64, c: RwSignal<Option<Value>>, operate: bool) -> impl IntoView + use<> {
    let csrf = s.csrf();
    let now = move |f: &'static str| {
        c.with_untracked(|c| c.as_ref().map(|c| txt(&c["block_policy"][f])).unwrap_or_default())
    };
    let fields = [("max_txs", Key::MaxTxs), ("max_bytes", Key::MaxBytes), ("max_wait_ms", Key::MaxWaitMs)];
    let values = fields.map(|(f, _)| RwSignal::new(now(f)));
    let error = RwSignal::new(None::<(Option<String>, Key)>);
    let saved = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        saved.set(false);
        let body: serde_json::Map<String, Value> = fields
            .iter()
            .zip(values)
            .map(|((f, _), v)| {
                let raw = v.get_untracked();
                ((*f).to_owned(), raw.trim().parse::<u64>().map_or(Value::String(raw), Value::from))
            })
            .collect();
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::put(&format!("/api/v1/chains/{id}/policy"), &Value::Object(body), csrf.as_deref())
                .await
            {
                Ok(_) => saved.set(true),
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => {
                    let first = e.message.split(' ').next().unwrap_or_default().to_owned();
                    let field =
                        e.field.clone().or_else(|| fields.iter().any(|(f, _)| *f == first).then_some(first));
                    error.set(Some((field, refusal(&e))));
                }
            }
        });
    };
    view! {
        <form id="policy" on:submit=submit>
            {fields.into_iter().zip(values).map(|((f, label), v)| view! {
                <label>{t(label)}<input name=f bind:value=v disabled=!operate/>
                    {field_error(error, f)}
                </label>
            }).collect_view()}
            {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! { <p class="error" role="alert" id="policy-error">{t(k)}</p> })}
            {move || saved.get().then(|| view! { <p class="ok" id="policy-saved">{t(Key::Saved)}</p> })}
            {operate.then(|| view! { <button type="submit">{t(Key::Save)}</button> })}
        </form>
    }
}

/// Switches a running replicated chain to the other consensus engine
/// (raft or hotstuff) online; the answer is the chain as it runs then.
fn switch_engine(s: &Session, id: i64, c: RwSignal<Option<Value>>) -> impl IntoView + use<> {
    let csrf = s.csrf();
    let current = move || c.with(|c| c.as_ref().map(|c| txt(&c["consensus"])).unwrap_or_default());
    let chosen = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<Key>);
    let done = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let target = match chosen.get_untracked() {
            t if !t.is_empty() => t,
            _ if current() == "raft" => "hotstuff".to_owned(),
            _ => "raft".to_owned(),
        };
        busy.set(true);
        error.set(None);
        done.set(false);
        let csrf = csrf.clone();
        spawn_local(async move {
            let body = json!({ "consensus": target });
            let result = api::put(&format!("/api/v1/chains/{id}/consensus"), &body, csrf.as_deref()).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    c.set(Some(view));
                    done.set(true);
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(refusal(&e))),
            }
        });
    };
    let replicated = move || matches!(current().as_str(), "raft" | "hotstuff");
    view! {
        <Show when=replicated>
            <form id="switch-engine" class="inline" on:submit=submit.clone()>
                <p class="lead">{t(Key::SwitchEngineLead)}</p>
                <select name="consensus" on:change=move |ev| chosen.set(event_target_value(&ev))>
                    {move || {
                        let now = current();
                        ["hotstuff", "raft"].into_iter().filter(|k| *k != now).map(|k| view! { <option value=k>{k}</option> }).collect_view()
                    }}
                </select>
                <button type="submit" disabled=move || busy.get()>{t(Key::SwitchEngine)}</button>
                {move || busy.get().then(|| view! { <span class="working">{t(Key::Working)}</span> })}
                {move || error.get().map(|k| view! { <span class="error" role="alert" id="switch-error">{t(k)}</span> })}
                {move || done.get().then(|| view! { <span class="ok" id="switch-done">{t(Key::Switched)}</span> })}
            </form>
        </Show>
    }
}

/// Runs chain and node actions for the page: one in flight at a time, its
/// refusal (or "done") shown in place, the page refreshed after.
#[derive(Clone)]
struct Act {
    csrf: Option<String>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<Key>>,
    done: RwSignal<bool>,
    refresh: Arc<dyn Fn() + Send + Sync>,
}

impl Act {
    fn new(s: &Session, refresh: Arc<dyn Fn() + Send + Sync>) -> Act {
        Act {
            csrf: s.csrf(),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            done: RwSignal::new(false),
            refresh,
        }
    }

    /// `POST path` (or `DELETE` with `delete`); then `after` on success.
    fn run(&self, path: String, delete: bool, after: impl FnOnce() + 'static) {
        if self.busy.get_untracked() {
            return;
        }
        let this = self.clone();
        this.busy.set(true);
        this.error.set(None);
        this.done.set(false);
        spawn_local(async move {
            let csrf = this.csrf.as_deref();
            let result = if delete {
                api::delete(&path, csrf).await
            } else {
                api::post(&path, &json!({}), csrf).await
            };
            this.busy.set(false);
            match result {
                Ok(_) => {
                    this.done.set(true);
                    (this.refresh)();
                    after();
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => this.error.set(Some(refusal(&e))),
            }
        });
    }

    /// The outcome line: working, done, or the refusal.
    fn outcome(&self) -> impl IntoView + use<> {
        let (busy, error, done) = (self.busy, self.error, self.done);
        move || {
            if busy.get() {
                Some(view! { <p class="muted" id="action-busy">{t(Key::Working)}</p> }.into_any())
            } else if let Some(k) = error.get() {
                Some(view! { <p class="error" role="alert" id="action-error">{t(k)}</p> }.into_any())
            } else {
                done.get().then(|| view! { <p class="ok" id="action-done">{t(Key::Done)}</p> }.into_any())
            }
        }
    }
}

/// Stop, start, restart and (with `delete`) delete the chain, each asked
/// first.
fn chain_actions(act: &Act, delete: bool, id: i64) -> impl IntoView + use<> {
    let verbs = [
        ("stop", Key::Stop, Key::ConfirmStopChain),
        ("start", Key::Start, Key::ConfirmStartChain),
        ("restart", Key::Restart, Key::ConfirmRestartChain),
    ];
    let remove = act.clone();
    view! {
        <div class="actions" id="chain-actions">
            {verbs.into_iter().map(|(verb, label, question)| {
                let act = act.clone();
                confirm_button(format!("chain-{verb}"), label, question, move || {
                    act.run(format!("/api/v1/chains/{id}/{verb}"), false, || ());
                })
            }).collect_view()}
            {delete.then(|| confirm_button("chain-delete".into(), Key::Delete, Key::ConfirmDeleteChain, move || {
                remove.run(format!("/api/v1/chains/{id}"), true, || api::go("/chains"));
            }))}
        </div>
    }
}

/// A node's actions, for those who may take them: stop, start and restart
/// its own organization's nodes; remove them (the chain's creator any
/// node); download its bundle (certificates and configuration).
fn node_actions(
    s: &Session,
    act: &Act,
    chain: i64,
    n: &Value,
    chain_ours: bool,
    several: Memo<bool>,
) -> impl IntoView + use<> {
    let node = n["id"].as_i64().unwrap_or_default();
    let name = txt(&n["name"]);
    let mine = s.acts_for(n["org_id"].as_i64().unwrap_or_default());
    let operate = s.may("chain_operate");
    let verbs = [
        ("stop", Key::Stop, Key::ConfirmStopNode),
        ("start", Key::Start, Key::ConfirmStartNode),
        ("restart", Key::Restart, Key::ConfirmRestartNode),
    ];
    let base = format!("/api/v1/chains/{chain}/nodes/{node}");
    let remove = act.clone();
    let (remove_path, remove_id) = (base.clone(), name.clone());
    view! {
        {(operate && mine).then(|| verbs.into_iter().map(|(verb, label, question)| {
            let (act, path) = (act.clone(), format!("{base}/{verb}"));
            confirm_button(format!("{name}-{verb}"), label, question, move || act.run(path.clone(), false, || ()))
        }).collect_view())}
        {(operate && (mine || chain_ours)).then_some(move || several.get().then(|| {
            let (remove, path) = (remove.clone(), remove_path.clone());
            confirm_button(format!("{remove_id}-remove"), Key::Remove, Key::ConfirmRemoveNode, move || {
                remove.run(path.clone(), true, || ());
            })
        }))}
        {(s.may("node_download") && mine).then(|| view! {
            <a class="download" id=format!("{name}-bundle") href=format!("{base}/bundle") download>{t(Key::Bundle)}</a>
        })}
    }
}

/// Invites an organization (by domain) to the chain; the refusals (no such
/// organization, already a member or invited, node limit, a malformed
/// domain) show in place and the domain typed stays.
fn invite(s: &Session, id: i64) -> impl IntoView + use<> {
    let csrf = s.csrf();
    let domain = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let sent = RwSignal::new(None::<String>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        sent.set(None);
        let to = domain.get_untracked().trim().to_owned();
        let body = json!({"org_domain": to, "message": note.get_untracked()});
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::post(&format!("/api/v1/chains/{id}/invitations"), &body, csrf.as_deref()).await {
                Ok(_) => {
                    sent.set(Some(to));
                    domain.set(String::new());
                    note.set(String::new());
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(match (e.status, e.reason.as_deref()) {
                    (404, _) => Key::NoSuchOrg,
                    (409, Some("already_member")) => Key::AlreadyMember,
                    (409, Some("already_invited")) => Key::AlreadyInvited,
                    (409, Some("node_limit")) => Key::NodeLimit,
                    (400 | 422, _) => Key::InvalidDomain,
                    _ => refusal(&e),
                })),
            }
        });
    };
    view! {
        <form id="invite" class="inline" on:submit=submit>
            <label>{t(Key::InviteDomain)}<input name="org_domain" required bind:value=domain/></label>
            <label>{t(Key::Note)}<input name="message" bind:value=note/></label>
            <button type="submit">{t(Key::Invite)}</button>
            {move || error.get().map(|k| view! { <span class="error" role="alert" id="invite-error">{t(k)}</span> })}
            {move || sent.get().map(|d| view! { <span class="ok" id="invite-sent">{t(Key::InvitationSent)}" "<code>{d}</code></span> })}
        </form>
    }
}

/// The chain's own charts over the last hour (its nodes' height,
/// transactions per second, pending transactions and block interval),
/// read every 15 s, and a link to the whole dashboard.
fn chain_charts(id: i64) -> impl IntoView {
    let range = RwSignal::new(1);
    let refresh = RwSignal::new(15);
    view! {
        <section id="chain-charts">
            <h2>{t(Key::Monitoring)}</h2>
            <p class="links"><a id="chain-dashboard" href=format!("/monitor?chain={id}")>{t(Key::FullDashboard)}</a></p>
            <crate::monitor::Charts path=format!("/api/v1/metrics/chains/{id}") defs=&crate::monitor::CHAIN_PAGE_CHARTS range=range refresh=refresh/>
        </section>
    }
}
