//! Resource requests (SPEC PRV-2..4, PRV-9): the request form with the
//! recommended minimum beside each resource, the organization's requests a
//! page at a time, one request's timeline with live provisioning progress,
//! and the platform's approval queue, which the message stream keeps
//! current without a reload.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, lang, t, time, to_login, txt},
    i18n::{self, Key},
    parts::{Pager, field_error},
};

/// The recommended minimum per node (the CLI's defaults): field, label,
/// lowest and highest value the API takes, recommended value.
pub(crate) const RESOURCES: [(&str, Key, u32, u32, u32); 3] = [
    ("cpu_millis", Key::Cpu, 50, 64_000, 500),
    ("memory_mb", Key::Memory, 64, 262_144, 256),
    ("storage_mb", Key::Storage, 64, 16_777_216, 1024),
];

/// Requests a page of the list shows.
const PAGE: usize = 20;

/// What a request asks for, in a few words.
pub(crate) fn what(spec: &Value) -> String {
    let l = lang();
    match spec["kind"].as_str() {
        Some("chain") => format!(
            "{} · {} · {} · {} {}",
            txt(&spec["name"]),
            txt(&spec["consensus"]),
            txt(&spec["suite"]),
            txt(&spec["nodes"]),
            l.t(Key::NodesUnit)
        ),
        Some("nodes") => format!(
            "{} #{} · {} {} · {}",
            l.t(Key::Chain),
            txt(&spec["chain_id"]),
            txt(&spec["count"]),
            l.t(Key::NodesUnit),
            i18n::state(l, &txt(&spec["role"]))
        ),
        _ => String::new(),
    }
}

/// The field of the request form a refusal concerns (`details.field`, or
/// the field its message starts with), if any.
fn field_of(e: &ApiErr, fields: &[&str]) -> Option<String> {
    if let Some(f) = e.field.as_deref() {
        return Some(f.to_owned());
    }
    let first = e.message.split([' ', ':', '`']).next().unwrap_or_default();
    fields.iter().find(|f| **f == first).map(|f| (*f).to_owned())
}

/// The form's fields, as the API names them.
const FORM_FIELDS: &[&str] = &[
    "name",
    "consensus",
    "suite",
    "nodes",
    "max_nodes",
    "max_txs",
    "max_bytes",
    "max_wait_ms",
    "cpu_millis",
    "memory_mb",
    "storage_mb",
    "purpose",
    "chain_id",
    "count",
    "role",
];

#[component]
pub fn RequestsPage() -> impl IntoView {
    authed(Key::Requests, false, |s: Session| {
        let form = s.may("request_create").then(|| request_form(s.clone()));
        view! {
            {form}
            <section id="request-list">
                <h2>{t(if s.platform() { Key::AllRequests } else { Key::MyRequests })}</h2>
                {request_list()}
            </section>
        }
    })
}

/// The organization's requests (every one for the approver), newest first,
/// filtered by status, a page at a time.
fn request_list() -> impl IntoView {
    let l = lang();
    let pager = Pager::new("/api/v1/requests", PAGE);
    let filter = move |status: String| {
        pager.set_path(if status.is_empty() {
            "/api/v1/requests".to_owned()
        } else {
            format!("/api/v1/requests?status={status}")
        });
        pager.load(true);
    };
    Effect::new(move |_| pager.load(true));
    let options = ["", "pending", "provisioning", "running", "failed", "rejected", "cancelled"];
    view! {
        <label class="inline">{t(Key::Status)}
            <select id="status-filter" on:change=move |ev| filter(event_target_value(&ev))>
                {options.into_iter().map(|o| view! {
                    <option value=o>{if o.is_empty() { t(Key::All).to_owned() } else { i18n::state(l, o) }}</option>
                }).collect_view()}
            </select>
        </label>
        {move || pager.error.get().map(|e| view! { <ErrorLine err=e/> })}
        {move || if pager.rows.with(Vec::is_empty) {
            view! { <p class="muted" id="no-requests">{t(Key::NoRequests)}</p> }.into_any()
        } else {
            view! {
                <table id="requests"><thead><tr><th>"#"</th><th>{t(Key::Kind)}</th><th>{t(Key::What)}</th><th>{t(Key::Status)}</th><th>{t(Key::Created)}</th></tr></thead>
                <tbody>{pager.rows.get().into_iter().map(|r| {
                    let id = txt(&r["id"]);
                    view! {
                        <tr data-id=id.clone() data-status=txt(&r["status"])>
                            <td><a href=format!("/requests/{id}")>{id.clone()}</a></td>
                            <td>{i18n::state(l, &txt(&r["kind"]))}</td>
                            <td>{what(&r["spec"])}</td>
                            <td class=format!("state-{}", txt(&r["status"]))>{i18n::state(l, &txt(&r["status"]))}</td>
                            <td>{time(&r["created_at"])}</td>
                        </tr>
                    }
                }).collect_view()}</tbody></table>
            }.into_any()
        }}
        {pager.more_button("more-requests")}
    }
}

/// The request form: a new chain or more nodes on a chain the organization
/// is a member of. A refusal shows next to its field; nothing typed is lost.
fn request_form(s: Session) -> impl IntoView {
    let csrf = s.csrf();
    let kind = RwSignal::new("chain".to_owned());
    let text = |v: &str| RwSignal::new(v.to_owned());
    let name = text("");
    let consensus = text("raft");
    let suite = text("gm");
    let nodes = text("4");
    let max_nodes = text("16");
    let max_txs = text("5000");
    let max_bytes = text("8388608");
    let max_wait_ms = text("2");
    let chain_id = text("");
    let count = text("1");
    let role = text("consensus");
    let res: [RwSignal<String>; 3] = RESOURCES.map(|(_, _, _, _, rec)| RwSignal::new(rec.to_string()));
    let purpose = text("");
    let error = RwSignal::new(None::<(Option<String>, Key)>);
    let submitted = RwSignal::new(None::<i64>);
    let chains = LocalResource::new(|| api::get("/api/v1/chains"));
    let num = |v: RwSignal<String>| -> Value {
        let raw = v.get_untracked();
        raw.trim().parse::<u64>().map_or(Value::String(raw), Value::from)
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        submitted.set(None);
        let resources = json!({
            "cpu_millis": num(res[0]), "memory_mb": num(res[1]), "storage_mb": num(res[2]),
        });
        let spec = if kind.get_untracked() == "chain" {
            json!({
                "kind": "chain", "name": name.get_untracked().trim(), "consensus": consensus.get_untracked(),
                "suite": suite.get_untracked(), "nodes": num(nodes), "max_nodes": num(max_nodes),
                "block_policy": {"max_txs": num(max_txs), "max_bytes": num(max_bytes), "max_wait_ms": num(max_wait_ms)},
                "resources": resources,
            })
        } else {
            json!({
                "kind": "nodes", "chain_id": num(chain_id), "count": num(count), "role": role.get_untracked(),
                "resources": resources,
            })
        };
        let body = json!({"purpose": purpose.get_untracked(), "spec": spec});
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::post("/api/v1/requests", &body, csrf.as_deref()).await {
                Ok(v) => {
                    submitted.set(v["id"].as_i64());
                    name.set(String::new());
                    purpose.set(String::new());
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => {
                    let key = match (e.status, e.code.as_str()) {
                        (0, _) => Key::NetworkError,
                        (409, _) => Key::ChainNameTaken,
                        (403, _) if e.message.contains("not a member") => Key::NotMember,
                        (403, _) if e.message.contains("organization is") => Key::OrgNotActive,
                        (403, _) => Key::Forbidden,
                        (404, _) => Key::NoSuchChain,
                        (400 | 413 | 415 | 422, _) => Key::InvalidField,
                        _ => Key::RequestFailed,
                    };
                    let field =
                        if e.status == 409 { Some("name".to_owned()) } else { field_of(&e, FORM_FIELDS) };
                    error.set(Some((field, key)));
                }
            }
        });
    };
    // The refusal next to its field (`id`: `<field>-error`).
    let input = move |f: &'static str, label: Key, v: RwSignal<String>, hint: String| {
        view! {
            <label>{t(label)}<input name=f bind:value=v/>
                <span class="hint">{hint}</span>{field_error(error, f)}</label>
        }
    };
    let select = move |f: &'static str, label: Key, v: RwSignal<String>, options: Vec<(String, String)>| {
        view! {
            <label>{t(label)}
                <select name=f on:change=move |ev| v.set(event_target_value(&ev)) prop:value=move || v.get()>
                    {options.into_iter().map(|(value, text)| view! { <option value=value>{text}</option> }).collect_view()}
                </select>{field_error(error, f)}</label>
        }
    };
    let l = lang();
    let kinds =
        vec![("chain".into(), l.t(Key::KindChain).into()), ("nodes".into(), l.t(Key::KindNodes).into())];
    // The engines' own names, the same in both languages; the hint below
    // says what the chosen one tolerates.
    let consensuses = vec![
        ("raft".into(), "Raft".into()),
        ("hotstuff".into(), "HotStuff (BFT)".into()),
        ("solo".into(), l.t(Key::Solo).into()),
    ];
    let suites = vec![
        ("gm".into(), l.t(Key::SuiteGm).into()),
        ("intl-k1".into(), "secp256k1 / SHA-256".into()),
        ("intl-r1".into(), "P-256 / SHA-256".into()),
    ];
    let roles =
        vec![("consensus".into(), i18n::state(l, "consensus")), ("backup".into(), i18n::state(l, "backup"))];
    let range = |lo: u64, hi: u64| format!("{lo}–{hi}");
    view! {
        <section id="request-new">
            <h2>{t(Key::NewRequest)}</h2>
            <form id="request-form" on:submit=submit>
                {select("kind", Key::Kind, kind, kinds)}
                {move || if kind.get() == "chain" {
                    view! {
                        {input("name", Key::ChainName, name, "a-z 0-9 -".into())}
                        {select("consensus", Key::Consensus, consensus, consensuses.clone())}
                        {move || consensus_hint(&consensus.get()).map(|k| view! {
                            <p class="hint" id="consensus-hint">{t(k)}</p>
                        })}
                        {select("suite", Key::Suite, suite, suites.clone())}
                        {input("nodes", Key::NodeCount, nodes, range(1, 32))}
                        {input("max_nodes", Key::MaxNodes, max_nodes, range(1, 32))}
                        <fieldset><legend>{t(Key::BlockPolicy)}</legend>
                            {input("max_txs", Key::MaxTxs, max_txs, range(1, 100_000))}
                            {input("max_bytes", Key::MaxBytes, max_bytes, range(1024, 67_108_864))}
                            {input("max_wait_ms", Key::MaxWaitMs, max_wait_ms, range(0, 10_000))}
                        </fieldset>
                    }.into_any()
                } else {
                    let options = move || {
                        chains.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default()
                    };
                    view! {
                        <label>{t(Key::Chain)}
                            <select name="chain_id" on:change=move |ev| chain_id.set(event_target_value(&ev))>
                                <option value="">"—"</option>
                                {move || options().into_iter().map(|c| view! {
                                    <option value=txt(&c["id"])>{format!("{} (#{})", txt(&c["name"]), txt(&c["id"]))}</option>
                                }).collect_view()}
                            </select>{field_error(error, "chain_id")}</label>
                        {input("count", Key::NodeCount, count, range(1, 32))}
                        {select("role", Key::Role, role, roles.clone())}
                    }.into_any()
                }}
                <fieldset><legend>{t(Key::ResourcesPerNode)}</legend>
                    {RESOURCES.into_iter().zip(res).map(|((f, label, lo, hi, rec), v)| {
                        input(f, label, v, format!("{} · {} {rec}", range(lo.into(), hi.into()), t(Key::Recommended)))
                    }).collect_view()}
                </fieldset>
                <label>{t(Key::Purpose)}<textarea name="purpose" required bind:value=purpose></textarea>{field_error(error, "purpose")}</label>
                {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! {
                    <p class="error" role="alert" id="request-error">{t(k)}</p>
                })}
                <button type="submit">{t(Key::Submit)}</button>
            </form>
            {move || submitted.get().map(|id| view! {
                <p class="ok" id="request-submitted">{t(Key::RequestSubmitted)}" "
                    <a href=format!("/requests/{id}")>{format!("#{id}")}</a></p>
            })}
        </section>
    }
}

/// What the consensus `kind` chosen in the request form tolerates.
fn consensus_hint(kind: &str) -> Option<Key> {
    match kind {
        "raft" => Some(Key::RaftHint),
        "hotstuff" => Some(Key::HotstuffHint),
        _ => None,
    }
}

/// The steps a request goes through, and how far this one got.
fn timeline(r: &Value) -> impl IntoView + use<> {
    let l = lang();
    let status = txt(&r["status"]);
    let decided = r["decided_at"].as_i64().is_some();
    let step = |key: Key, done: bool, at: String, note: String| {
        view! {
            <li class=if done { "done" } else { "todo" }>
                <b>{l.t(key)}</b>" "<span class="muted">{at}</span>
                {(!note.is_empty()).then(|| view! { <div class="note">{note}</div> })}
            </li>
        }
    };
    let outcome = match status.as_str() {
        "rejected" => Key::StateRejected,
        "cancelled" => Key::StateCancelled,
        _ => Key::Approved,
    };
    let opinion = txt(&r["opinion"]);
    let ended = matches!(status.as_str(), "running" | "failed");
    view! {
        <ol class="timeline" id="timeline">
            {step(Key::Submitted, true, time(&r["created_at"]), txt(&r["purpose"]))}
            {step(if decided || status == "cancelled" { outcome } else { Key::AwaitingApproval }, decided || status == "cancelled", time(&r["decided_at"]),
                if opinion.is_empty() { String::new() } else { format!("{}: {opinion}", l.t(Key::Opinion)) })}
            // The provisioning job's own words (data, as the driver reports them) only while it runs.
            {matches!(status.as_str(), "provisioning" | "running" | "failed").then(|| step(Key::StateProvisioning, true, String::new(),
                if status == "provisioning" { txt(&r["progress"]) } else { String::new() }))}
            {ended.then(|| step(if status == "running" { Key::StateRunning } else { Key::StateFailed }, true, time(&r["updated_at"]), txt(&r["error"])))}
        </ol>
    }
}

/// The approver's opinion and the two decisions, for a pending request.
fn decide_form<F: Fn() + Clone + Send + Sync + 'static>(
    s: &Session,
    id: i64,
    done: F,
) -> impl IntoView + use<F> {
    let csrf = s.csrf();
    let opinion = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiErr>);
    let decide = move |verb: &'static str| {
        let csrf = csrf.clone();
        let done = done.clone();
        move |_| {
            let csrf = csrf.clone();
            let done = done.clone();
            spawn_local(async move {
                let body = json!({"opinion": opinion.get_untracked()});
                match api::post(&format!("/api/v1/requests/{id}/{verb}"), &body, csrf.as_deref()).await {
                    Ok(_) => done(),
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    view! {
        <div class="decide" data-id=id>
            <input name="opinion" placeholder=t(Key::Opinion) bind:value=opinion/>
            <button type="button" class="approve" on:click=decide("approve")>{t(Key::Approve)}</button>
            <button type="button" class="reject danger" on:click=decide("reject")>{t(Key::Reject)}</button>
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
        </div>
    }
}

/// One request: what it asks for, its timeline, live progress while it is
/// pending or provisioning, and the decision for the approver.
#[component]
pub fn RequestPage() -> impl IntoView {
    let id = id_param();
    authed(Key::Request, false, move |s: Session| {
        let l = lang();
        let id = id();
        let r = LocalResource::new(move || api::get_owned(format!("/api/v1/requests/{id}")));
        // Live while it may still change.
        api::every(1000, move || {
            let open = r
                .get_untracked()
                .and_then(Result::ok)
                .is_none_or(|v| matches!(v["status"].as_str(), Some("pending" | "provisioning")));
            if open {
                r.refetch();
            }
        });
        let approver = s.platform() && s.may("request_approve");
        // The decision form is built once while the request is pending, not
        // on every refresh, so an opinion being typed stays.
        let pending = Memo::new(move |_| {
            r.get().and_then(Result::ok).is_some_and(|v| v["status"].as_str() == Some("pending"))
        });
        let s2 = s.clone();
        let decide = move || (approver && pending.get()).then(|| decide_form(&s2, id, move || r.refetch()));
        let page = move || match r.get() {
            None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
            Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
            Some(Ok(v)) => {
                let status = txt(&v["status"]);
                let chain = v["chain_id"].as_i64().filter(|_| status == "running" || v["kind"] == "nodes");
                view! {
                    <dl class="facts" id="request" data-status=status.clone()>
                        <dt>"#"</dt><dd>{txt(&v["id"])}</dd>
                        <dt>{t(Key::Kind)}</dt><dd>{i18n::state(l, &txt(&v["kind"]))}</dd>
                        <dt>{t(Key::What)}</dt><dd>{what(&v["spec"])}</dd>
                        <dt>{t(Key::Status)}</dt><dd id="request-status" class=format!("state-{status}")>{i18n::state(l, &status)}</dd>
                        {chain.map(|c| view! { <dt>{t(Key::Chain)}</dt><dd><a id="request-chain" href=format!("/chains/{c}")>{format!("#{c}")}</a></dd> })}
                    </dl>
                    {timeline(&v)}
                }
                .into_any()
            }
        };
        view! { {page} {decide} }
    })
}

/// The platform's approval queue: pending requests, kept current by the
/// message stream (a new request arrives without a reload).
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    authed(Key::Approvals, false, |s: Session| {
        let l = lang();
        let pending = LocalResource::new(|| api::get("/api/v1/requests?status=pending&limit=500"));
        api::subscribe("/api/v1/messages/stream", move |_| pending.refetch());
        let rows = move || {
            pending.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default()
        };
        // Whether there are rows (None: not read yet, or refused): the
        // table is built when this changes, not on every refresh.
        let has_rows = Memo::new(move |_| match pending.get() {
            Some(Ok(v)) => Some(v.as_array().is_some_and(|a| !a.is_empty())),
            _ => None,
        });
        let s2 = s.clone();
        view! {
            <p class="lead">{t(Key::ApprovalsLead)}</p>
            {move || match has_rows.get() {
                None => match pending.get() {
                    Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                    _ => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                },
                Some(false) => view! { <p class="muted" id="queue-empty">{t(Key::NoPending)}</p> }.into_any(),
                Some(true) => {
                    let s = s2.clone();
                    // Rows keyed by request id: a new request adds its row
                    // and keeps the others, with any opinion being typed.
                    view! {
                        <table id="queue"><thead><tr><th>"#"</th><th>{t(Key::Kind)}</th><th>{t(Key::What)}</th><th>{t(Key::Purpose)}</th><th>{t(Key::Created)}</th><th>{t(Key::Decision)}</th></tr></thead>
                        <tbody><For each=rows key=|r| r["id"].as_i64().unwrap_or_default() children=move |r| {
                            let id = r["id"].as_i64().unwrap_or_default();
                            view! {
                                <tr data-id=id>
                                    <td><a href=format!("/requests/{id}")>{id}</a></td>
                                    <td>{i18n::state(l, &txt(&r["kind"]))}</td>
                                    <td>{what(&r["spec"])}</td>
                                    <td>{txt(&r["purpose"])}</td>
                                    <td>{time(&r["created_at"])}</td>
                                    <td>{decide_form(&s, id, move || pending.refetch())}</td>
                                </tr>
                            }
                        }/></tbody></table>
                    }.into_any()
                }
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replicated_kinds_say_what_they_tolerate() {
        assert_eq!(consensus_hint("raft"), Some(Key::RaftHint));
        assert_eq!(consensus_hint("hotstuff"), Some(Key::HotstuffHint));
        assert_eq!(consensus_hint("solo"), None);
        for l in [i18n::Lang::Zh, i18n::Lang::En] {
            assert!(l.t(Key::HotstuffHint).contains("⌊(n−1)/3⌋"), "{l:?}");
        }
    }
}
