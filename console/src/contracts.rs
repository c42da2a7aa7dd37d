//! The contracts of a chain (SPEC SC-3, SC-4): each with its version,
//! state, deployer and address; upgrade to its draft, freeze, unfreeze,
//! delete of a failed deployment, download of its build (ABI and bytecode
//! zip) or source, its versions; and the chain's contract governance: the
//! policy, the proposals with their votes, and the caller's vote.

use leptos::{prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, lang, list_of, t, time, txt},
    i18n::{self, Key},
};

/// What the last action answered.
#[derive(Clone, Debug)]
enum Outcome {
    Idle,
    Working,
    /// The change ran; the proposal it became, where the chain governs it.
    Done(Value),
    Failed(ApiErr),
}

#[component]
pub fn ContractsPage() -> impl IntoView {
    let id = id_param();
    authed(Key::ContractInstances, false, move |s: Session| {
        let chain = id();
        let base = format!("/api/v1/chains/{chain}");
        let list = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(format!("{base}/contracts"))
        });
        let governance = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(format!("{base}/governance"))
        });
        let info = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(base.clone())
        });
        // Every 3 s while a deployment or a proposal is under way (a vote
        // of another organization shows without a reload), else every 15 s:
        // each refresh reads every contract's versions again.
        let ticks = StoredValue::new(0u32);
        api::every(3000, move || {
            let moving = list.with_untracked(|r| {
                r.as_ref().and_then(|r| r.as_ref().ok()).is_some_and(|v| {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .any(|k| k["state"] == "deploying" || k["state"] == "proposed")
                })
            }) || governance.with_untracked(|r| {
                r.as_ref().and_then(|r| r.as_ref().ok()).is_some_and(|g| {
                    g["proposals"].as_array().into_iter().flatten().any(|p| p["status"] == "open")
                })
            });
            ticks.update_value(|t| *t += 1);
            if moving || ticks.get_value().is_multiple_of(5) {
                list.refetch();
                governance.refetch();
            }
        });
        let outcome = RwSignal::new(Outcome::Idle);
        let may = s.may("contract_deploy");
        let csrf = s.csrf();
        let act = {
            let (base, csrf) = (base.clone(), csrf.clone());
            move |path: String, body: Value, delete: bool| {
                let (url, csrf) = (format!("{base}/{path}"), csrf.clone());
                outcome.set(Outcome::Working);
                spawn_local(async move {
                    let r = if delete {
                        api::delete(&url, csrf.as_deref()).await
                    } else {
                        api::post(&url, &body, csrf.as_deref()).await
                    };
                    outcome.set(match r {
                        Ok(v) => Outcome::Done(v),
                        Err(e) => Outcome::Failed(e),
                    });
                    list.refetch();
                    governance.refetch();
                });
            }
        };
        let name = move || info.get().and_then(Result::ok).map(|c| txt(&c["name"])).unwrap_or_default();
        let my_domain = s.0["org"]["domain"].as_str().unwrap_or_default().to_owned();
        let act_rows = act.clone();
        let base_rows = base.clone();
        view! {
            <p><a id="contracts-back" href=format!("/chains/{chain}")>{t(Key::Chain)}" "{name}</a>" · "
                <a id="contracts-ide" href="/ide">{t(Key::Ide)}</a></p>
            {move || outcome_view(outcome.get())}
            {list_of(list, move |ks| if ks.is_empty() {
                view! { <p class="muted" id="no-contracts">{t(Key::NoContracts)}</p> }.into_any()
            } else {
                let act = act_rows.clone();
                let base = base_rows.clone();
                view! {
                    <table id="contracts"><thead><tr>
                        <th>{t(Key::Name)}</th><th>{t(Key::Version)}</th><th>{t(Key::Status)}</th>
                        <th>{t(Key::Deployer)}</th><th>{t(Key::ContractAddress)}</th><th>{t(Key::Created)}</th><th>{t(Key::Actions)}</th>
                    </tr></thead>
                    <tbody>{ks.into_iter().map(|k| row(&base, chain, k, may, act.clone())).collect_view()}</tbody></table>
                }.into_any()
            })}
            <section id="governance">
                <h2>{t(Key::Governance)}</h2>
                {move || match governance.get() {
                    None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                    Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                    Some(Ok(g)) => governance_view(&g, &my_domain, may, act.clone()).into_any(),
                }}
            </section>
        }
    })
}

/// One contract: its facts, its downloads and the actions its state
/// allows; its versions below.
fn row<A>(base: &str, chain: i64, k: Value, may: bool, act: A) -> impl IntoView + use<A>
where
    A: Fn(String, Value, bool) + Clone + Send + Sync + 'static,
{
    let l = lang();
    let kid = txt(&k["id"]);
    let state = txt(&k["state"]);
    let dl = format!("{base}/contracts/{kid}/download");
    let detail = LocalResource::new({
        let url = format!("{base}/contracts/{kid}");
        move || api::get_owned(url.clone())
    });
    let button = |class: &'static str, label: Key, path: String, delete: bool| {
        let act = act.clone();
        view! { <button type="button" class=class on:click=move |_| act(path.clone(), json!({}), delete)>{t(label)}</button> }
    };
    let draft = move || {
        detail.get().and_then(Result::ok).and_then(|d| {
            d["versions"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["status"] == "draft").map(|v| txt(&v["version"])))
        })
    };
    let active = state == "active";
    let upgrade = {
        let act = act.clone();
        let path = format!("contracts/{kid}/upgrade");
        move || {
            let act = act.clone();
            let path = path.clone();
            (may && active).then(draft).flatten().map(|v| {
                view! {
                    <button type="button" class="upgrade" data-version=v.clone()
                        on:click=move |_| act(path.clone(), json!({}), false)>{t(Key::Upgrade)}" → "{v.clone()}</button>
                }
            })
        }
    };
    view! {
        <tr class="contract" data-name=txt(&k["name"]) data-state=state.clone() data-id=kid.clone()>
            <td>{txt(&k["name"])}</td>
            <td class="version">{txt(&k["version"])}</td>
            <td class=format!("state state-{state}")>{i18n::state(l, &state)}</td>
            <td class="hash">{txt(&k["deployer_address"])}</td>
            <td class="hash address">{txt(&k["address"])}</td>
            <td>{time(&k["created_at"])}</td>
            <td class="actions">
                {(state == "active" || state == "frozen").then(|| view! {
                    <a class="open-ide" href=format!("/ide?chain={chain}&contract={kid}")>{t(Key::OpenInIde)}</a>" "
                })}
                <a class="download-zip" href=dl.clone() download="">{t(Key::DownloadBuild)}</a>" "
                <a class="download-source" href=format!("{dl}?what=source") download="">{t(Key::DownloadSource)}</a>" "
                {upgrade}
                {(may && state == "active").then(|| button("freeze", Key::Freeze, format!("contracts/{kid}/freeze"), false))}
                {(may && state == "frozen").then(|| button("unfreeze", Key::Unfreeze, format!("contracts/{kid}/unfreeze"), false))}
                {(may && state == "failed").then(|| button("delete", Key::Delete, format!("contracts/{kid}"), true))}
            </td>
        </tr>
        <tr class="versions-row"><td colspan="7">
            {move || detail.get().and_then(Result::ok).map(|d| view! {
                <ul class="versions">
                    {d["versions"].as_array().into_iter().flatten().map(|v| view! {
                        <li class="version-item" data-status=txt(&v["status"])>
                            <b>{txt(&v["version"])}</b>" · "{i18n::state(l, &txt(&v["status"]))}" · "{time(&v["created_at"])}
                            " "<span class="hash">{txt(&v["tx_id"])}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </td></tr>
    }
}

/// The chain's contract governance: the policy, then the proposals (newest
/// first) with their votes, and buttons for the caller's organization's
/// vote on the open ones it has not voted on.
fn governance_view<A>(g: &Value, my_domain: &str, may: bool, act: A) -> impl IntoView + use<A>
where
    A: Fn(String, Value, bool) + Clone + Send + Sync + 'static,
{
    let members: Vec<String> = g["members"].as_array().into_iter().flatten().map(txt).collect();
    let member = members.iter().any(|m| m == my_domain);
    let actions: Vec<String> = g["actions"].as_array().into_iter().flatten().map(txt).collect();
    let mut proposals = g["proposals"].as_array().cloned().unwrap_or_default();
    proposals.reverse();
    view! {
        <dl class="facts" id="governance-policy">
            <dt>{t(Key::Members)}</dt><dd>{members.join(", ")}</dd>
            <dt>{t(Key::Threshold)}</dt><dd id="governance-threshold">{txt(&g["threshold"])}</dd>
            <dt>{t(Key::GovernedActions)}</dt><dd id="governance-actions">{if actions.is_empty() { "—".to_owned() } else { actions.join(", ") }}</dd>
        </dl>
        {if proposals.is_empty() {
            view! { <p class="muted" id="no-proposals">{t(Key::NoProposals)}</p> }.into_any()
        } else {
            view! {
                <table id="proposals"><thead><tr>
                    <th>"#"</th><th>{t(Key::Action)}</th><th>{t(Key::Organization)}</th><th>{t(Key::Status)}</th>
                    <th>{t(Key::Votes)}</th><th></th>
                </tr></thead>
                <tbody>{proposals.into_iter().map(|p| {
                    let pid = txt(&p["id"]);
                    let status = txt(&p["status"]);
                    let voted = p["votes"].as_array().into_iter().flatten().any(|v| v["organization"] == my_domain);
                    let can_vote = may && member && status == "open" && !voted;
                    let vote = |approve: bool, class: &'static str, key: Key| {
                        let act = act.clone();
                        let path = format!("proposals/{pid}/votes");
                        view! { <button type="button" class=class on:click=move |_| act(path.clone(), json!({"approve": approve}), false)>{t(key)}</button> }
                    };
                    view! {
                        <tr class="proposal" data-id=pid.clone() data-status=status.clone()>
                            <td>{pid.clone()}</td>
                            <td>{txt(&p["action"]["op"])}" "<span class="muted">{txt(&p["note"])}</span></td>
                            <td>{txt(&p["organization"])}</td>
                            <td class="status">{i18n::state(lang(), &status)}</td>
                            <td><ul class="votes">{p["votes"].as_array().into_iter().flatten().map(|v| view! {
                                <li>{txt(&v["organization"])}": "{if v["approve"] == true { t(Key::Approve) } else { t(Key::Reject) }}</li>
                            }).collect_view()}</ul></td>
                            <td>{can_vote.then(|| view! { {vote(true, "vote-approve", Key::Approve)}" "{vote(false, "vote-reject", Key::Reject)} })}</td>
                        </tr>
                    }
                }).collect_view()}</tbody></table>
            }.into_any()
        }}
    }
}

fn outcome_view(o: Outcome) -> AnyView {
    match o {
        Outcome::Idle => ().into_any(),
        Outcome::Working => {
            view! { <p class="muted" id="contracts-working">{t(Key::Working)}</p> }.into_any()
        }
        Outcome::Done(v) => {
            let proposal = v["proposal"].clone();
            if proposal.is_object() {
                view! { <p class="ok" id="contracts-outcome" data-proposal=txt(&proposal["id"])>
                {t(Key::ProposalMade)}" #"{txt(&proposal["id"])}</p> }
                .into_any()
            } else {
                view! { <p class="ok" id="contracts-outcome">{t(Key::Done)}</p> }.into_any()
            }
        }
        Outcome::Failed(e) => view! { <div id="contracts-failed"><ErrorLine err=e/></div> }.into_any(),
    }
}
