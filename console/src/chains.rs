//! Chains (SPEC PRV-5..7, OPS-1): the chains the organization is a member
//! of (every one for the platform operator; the API reports heights on a
//! chain's own page only), and one chain with its live
//! height and leader, its nodes, its members and its block policy, which a
//! chain operator edits online.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, lang, list_of, t, time, to_login, txt},
    i18n::{self, Key},
    requests::RESOURCES,
};

#[component]
pub fn ChainsPage() -> impl IntoView {
    authed(Key::Chains, false, |_s: Session| {
        let l = lang();
        let chains = LocalResource::new(|| api::get("/api/v1/chains"));
        view! {
            {list_of(chains, move |cs| if cs.is_empty() {
                view! { <p class="muted" id="no-chains">{t(Key::NoChains)}</p> }.into_any()
            } else {
                view! {
                    <table id="chains"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Status)}</th><th>{t(Key::Consensus)}</th>
                        <th>{t(Key::Suite)}</th><th>{t(Key::Nodes)}</th><th>{t(Key::Created)}</th></tr></thead>
                    <tbody>{cs.into_iter().map(|c| {
                        let id = txt(&c["id"]);
                        view! {
                            <tr data-name=txt(&c["name"])>
                                <td><a href=format!("/chains/{id}")>{txt(&c["name"])}</a></td>
                                <td class=format!("state-{}", txt(&c["state"]))>{i18n::state(l, &txt(&c["state"]))}</td>
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
        move || match (latest.with(Option::is_some), chain.get()) {
            (false, None) => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
            (false, Some(Err(e))) => view! { <ErrorLine err=e/> }.into_any(),
            _ => chain_view(&s, id, latest).into_any(),
        }
    })
}

fn field(
    v: RwSignal<Option<Value>>,
    f: impl Fn(&Value) -> String + Send + Sync + 'static,
) -> impl Fn() -> String {
    move || v.with(|c| c.as_ref().map(&f).unwrap_or_default())
}

fn chain_view(s: &Session, id: i64, c: RwSignal<Option<Value>>) -> impl IntoView + use<> {
    let l = lang();
    let operate = s.may("chain_operate");
    let state = field(c, |c| txt(&c["state"]));
    view! {
        <section id="overview">
            <h2>{field(c, |c| txt(&c["name"]))}</h2>
            <dl class="facts">
                <dt>{t(Key::Status)}</dt><dd id="chain-state" class=move || format!("state-{}", state())>{move || i18n::state(l, &field(c, |c| txt(&c["state"]))())}</dd>
                <dt>{t(Key::Height)}</dt><dd id="chain-height">{field(c, |c| txt(&c["height"]))}</dd>
                <dt>{t(Key::Leader)}</dt><dd id="chain-leader">{field(c, |c| txt(&c["leader"]))}</dd>
                <dt>{t(Key::Consensus)}</dt><dd>{field(c, |c| txt(&c["consensus"]))}</dd>
                <dt>{t(Key::Suite)}</dt><dd>{field(c, |c| txt(&c["suite"]))}</dd>
                <dt>{t(Key::MaxNodes)}</dt><dd>{field(c, |c| txt(&c["max_nodes"]))}</dd>
                <dt>{t(Key::Created)}</dt><dd>{field(c, |c| time(&c["created_at"]))}</dd>
            </dl>
        </section>
        <section id="nodes">
            <h2>{t(Key::Nodes)}</h2>
            <table id="node-list"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Role)}</th><th>{t(Key::Status)}</th>
                <th>{t(Key::Height)}</th><th>{t(Key::RaftRole)}</th><th>{t(Key::Restarts)}</th></tr></thead>
            <tbody>{move || c.with(|c| c.as_ref().and_then(|c| c["nodes"].as_array().cloned()).unwrap_or_default()).into_iter().map(|n| {
                let live = &n["live"];
                view! {
                    <tr data-name=txt(&n["name"]) data-state=txt(&n["state"])>
                        <td>{txt(&n["name"])}</td>
                        <td>{i18n::state(l, &txt(&n["role"]))}</td>
                        <td class=format!("state-{}", txt(&n["state"]))>{i18n::state(l, &txt(&n["state"]))}</td>
                        <td class="height">{txt(&live["height"])}</td>
                        <td>{txt(&live["role"])}</td>
                        <td>{txt(&live["restarts"])}</td>
                    </tr>
                }
            }).collect_view()}</tbody></table>
            {operate.then(|| add_node(s, id))}
        </section>
        <section id="members">
            <h2>{t(Key::Members)}</h2>
            <table id="member-list"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Domain)}</th><th>{t(Key::Joined)}</th></tr></thead>
            <tbody>{move || c.with(|c| c.as_ref().and_then(|c| c["members"].as_array().cloned()).unwrap_or_default()).into_iter().map(|m| view! {
                <tr data-domain=txt(&m["domain"])><td>{txt(&m["name"])}</td><td>{txt(&m["domain"])}</td><td>{time(&m["joined_at"])}</td></tr>
            }).collect_view()}</tbody></table>
        </section>
        <section id="config">
            <h2>{t(Key::BlockPolicy)}</h2>
            {policy(s, id, c, operate)}
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
        (409, _) if e.message.contains("limit") => Key::NodeLimit,
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
                    {move || error.get().filter(|(ef, _)| ef.as_deref() == Some(f)).map(|(_, k)| view! {
                        <span class="error field-error" role="alert" id=format!("{f}-error")>{t(k)}</span>
                    })}
                </label>
            }).collect_view()}
            {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! { <p class="error" role="alert" id="policy-error">{t(k)}</p> })}
            {move || saved.get().then(|| view! { <p class="ok" id="policy-saved">{t(Key::Saved)}</p> })}
            {operate.then(|| view! { <button type="submit">{t(Key::Save)}</button> })}
        </form>
    }
}
