//! The chain explorer (SPEC OPS-4): a chain's latest blocks, refreshed,
//! and a search by height, block hash, transaction id or address that
//! opens the block (with its transactions), the transaction (receipt,
//! decoded call and events, the proof of inclusion the platform checked),
//! or the contract or account found.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::Value;

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, t, time, txt},
    i18n::Key,
};

/// What the page shows below the search.
#[derive(Clone)]
enum Shown {
    Nothing,
    Block(Value),
    Tx(Value),
    Contract(Value),
    Account(String),
    NotFound(String),
    Refused,
    Failed(ApiErr),
}

/// A hash shortened for a table cell (the whole one in its title).
fn short(h: &str) -> String {
    if h.len() > 18 { format!("{}…{}", &h[..10], &h[h.len() - 6..]) } else { h.to_owned() }
}

#[component]
pub fn ExplorerPage() -> impl IntoView {
    let id = id_param();
    authed(Key::Explorer, false, move |_s: Session| {
        let chain = id();
        let base = format!("/api/v1/chains/{chain}");
        let blocks = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(format!("{base}/blocks?limit=10"))
        });
        api::every(3000, move || blocks.refetch());
        let stats = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(format!("{base}/stats?blocks=50"))
        });
        api::every(5000, move || stats.refetch());
        let shown = RwSignal::new(Shown::Nothing);
        let query = RwSignal::new(String::new());
        let open_block = {
            let base = base.clone();
            move |at: String| {
                let base = base.clone();
                spawn_local(async move {
                    shown.set(match api::get_owned(format!("{base}/blocks/{at}")).await {
                        Ok(b) => Shown::Block(b),
                        Err(e) if e.status == 404 => Shown::NotFound(at),
                        Err(e) => Shown::Failed(e),
                    });
                });
            }
        };
        let open_tx = {
            let base = base.clone();
            move |tx: String| {
                let base = base.clone();
                spawn_local(async move {
                    shown.set(match api::get_owned(format!("{base}/transactions/{tx}")).await {
                        Ok(v) => Shown::Tx(v),
                        Err(e) if e.status == 404 => Shown::NotFound(tx),
                        Err(e) => Shown::Failed(e),
                    });
                });
            }
        };
        let search = {
            let base = base.clone();
            let (open_block, open_tx) = (open_block.clone(), open_tx.clone());
            move |ev: SubmitEvent| {
                ev.prevent_default();
                let q = query.get_untracked().trim().to_owned();
                if q.is_empty() {
                    return;
                }
                let (base, open_block, open_tx) = (base.clone(), open_block.clone(), open_tx.clone());
                spawn_local(async move {
                    let path = format!("{base}/search?q={}", urlencode(&q));
                    match api::get_owned(path).await {
                        Ok(hit) => match hit["kind"].as_str() {
                            Some("block") => open_block(txt(&hit["height"])),
                            Some("transaction") => open_tx(txt(&hit["id"])),
                            Some("contract") => shown.set(Shown::Contract(hit)),
                            _ => shown.set(Shown::Account(txt(&hit["address"]))),
                        },
                        Err(e) if e.status == 404 => shown.set(Shown::NotFound(q)),
                        Err(e) if e.status == 422 => shown.set(Shown::Refused),
                        Err(e) => shown.set(Shown::Failed(e)),
                    }
                });
            }
        };
        let (open_block2, open_tx2) = (open_block.clone(), open_tx.clone());
        view! {
            <p><a id="explorer-back" href=format!("/chains/{chain}")>{t(Key::Chain)}</a></p>
            <form id="explorer-search" class="inline" on:submit=search>
                <input name="q" placeholder=t(Key::SearchHint) prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))/>
                <button type="submit">{t(Key::Search)}</button>
            </form>
            <section id="explorer-result">{move || {
                let (open_block, open_tx) = (open_block2.clone(), open_tx2.clone());
                match shown.get() {
                    Shown::Nothing => ().into_any(),
                    Shown::Block(b) => block_view(b, open_tx).into_any(),
                    Shown::Tx(v) => tx_view(v, open_block).into_any(),
                    Shown::Contract(c) => view! {
                        <div id="explorer-contract"><h3>{t(Key::Contract)}</h3>
                            <dl class="facts">
                                <dt>{t(Key::Name)}</dt><dd class="contract-name">{txt(&c["name"])}</dd>
                                <dt>{t(Key::Address)}</dt><dd class="hash">{txt(&c["address"])}</dd>
                            </dl></div>
                    }.into_any(),
                    Shown::Account(a) => view! {
                        <div id="explorer-account"><h3>{t(Key::Address)}</h3><p class="hash">{a}</p></div>
                    }.into_any(),
                    Shown::NotFound(q) => view! {
                        <p id="explorer-not-found" class="error" role="alert">{t(Key::NothingFound)}" "<span class="code">{q}</span></p>
                    }.into_any(),
                    Shown::Refused => view! {
                        <p id="explorer-refused" class="error" role="alert">{t(Key::SearchHint)}</p>
                    }.into_any(),
                    Shown::Failed(e) => view! { <ErrorLine err=e/> }.into_any(),
                }
            }}</section>
            <section id="chain-stats">
                <h2>{t(Key::Statistics)}</h2>
                {move || match stats.get() {
                    None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                    Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                    Some(Ok(v)) => stats_view(&v).into_any(),
                }}
            </section>
            <section id="latest-blocks">
                <h2>{t(Key::LatestBlocks)}</h2>
                {move || {
                    let open_block = open_block.clone();
                    match blocks.get() {
                        None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                        Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                        Some(Ok(list)) => view! {
                            <table id="block-list"><thead><tr><th>{t(Key::Height)}</th><th>{t(Key::BlockHash)}</th>
                                <th>{t(Key::Time)}</th><th>{t(Key::TxCount)}</th><th>{t(Key::Proposer)}</th></tr></thead>
                            <tbody>{list.as_array().cloned().unwrap_or_default().into_iter().map(|b| {
                                let height = txt(&b["height"]);
                                let open = open_block.clone();
                                let (h2, h3) = (height.clone(), height.clone());
                                view! {
                                    <tr data-height=h3>
                                        <td><a href="#explorer-result" class="open-block" on:click=move |_| open(h2.clone())>{height}</a></td>
                                        <td class="hash" title=txt(&b["id"])>{short(&txt(&b["id"]))}</td>
                                        <td>{time(&b["timestamp_ms"])}</td>
                                        <td>{txt(&b["tx_count"])}</td>
                                        <td>{txt(&b["proposer"])}</td>
                                    </tr>
                                }
                            }).collect_view()}</tbody></table>
                        }.into_any(),
                    }
                }}
            </section>
        }
    })
}

fn block_view(b: Value, open_tx: impl Fn(String) + Clone + 'static) -> impl IntoView {
    let txs = b["transactions"].as_array().cloned().unwrap_or_default();
    view! {
        <div id="explorer-block">
            <h3>{t(Key::Block)}" "{txt(&b["height"])}</h3>
            <dl class="facts">
                <dt>{t(Key::Height)}</dt><dd class="block-height">{txt(&b["height"])}</dd>
                <dt>{t(Key::BlockHash)}</dt><dd class="hash block-id">{txt(&b["id"])}</dd>
                <dt>{t(Key::PrevHash)}</dt><dd class="hash">{txt(&b["prev_hash"])}</dd>
                <dt>{t(Key::Time)}</dt><dd>{time(&b["timestamp_ms"])}</dd>
                <dt>{t(Key::Proposer)}</dt><dd>{txt(&b["proposer"])}</dd>
                <dt>{t(Key::TxCount)}</dt><dd>{txt(&b["tx_count"])}</dd>
            </dl>
            <table class="block-txs"><thead><tr><th>{t(Key::TxId)}</th><th>{t(Key::TxType)}</th><th>{t(Key::Sender)}</th><th>{t(Key::Recipient)}</th></tr></thead>
            <tbody>{txs.into_iter().map(|tx| {
                let id = txt(&tx["tx_id"]);
                let (open, id2, id3) = (open_tx.clone(), id.clone(), id.clone());
                view! {
                    <tr data-tx=id3>
                        <td class="hash"><a href="#explorer-result" class="open-tx" on:click=move |_| open(id2.clone())>{short(&id)}</a></td>
                        <td>{txt(&tx["tx_type"])}</td>
                        <td class="hash">{short(&txt(&tx["sender"]))}</td>
                        <td class="hash">{short(&txt(&tx["recipient"]))}</td>
                    </tr>
                }
            }).collect_view()}</tbody></table>
        </div>
    }
}

fn tx_view(v: Value, open_block: impl Fn(String) + Clone + 'static) -> impl IntoView {
    let height = txt(&v["height"]);
    let h2 = height.clone();
    let verified = v["proof_verified"].as_bool() == Some(true);
    let input = (!v["input"].is_null()).then(|| {
        let args = v["input"]["args"].as_array().cloned().unwrap_or_default();
        view! {
            <dt>{t(Key::Input)}</dt>
            <dd class="tx-input"><code>{txt(&v["input"]["signature"])}</code>" "
                {args.into_iter().map(|a| view! { <span class="arg">{txt(&a["name"])}" = "{txt(&a["value"])}" "</span> }).collect_view()}
            </dd>
        }
    });
    let events = v["decoded_events"].as_array().cloned().unwrap_or_default();
    view! {
        <div id="explorer-tx">
            <h3>{t(Key::Transaction)}</h3>
            <dl class="facts">
                <dt>{t(Key::TxId)}</dt><dd class="hash tx-id">{txt(&v["tx_id"])}</dd>
                <dt>{t(Key::Status)}</dt><dd class="tx-status">{txt(&v["status"])}" "{txt(&v["message"])}</dd>
                <dt>{t(Key::Height)}</dt><dd><a href="#explorer-result" class="open-block" on:click=move |_| open_block(h2.clone())>{height}</a></dd>
                <dt>{t(Key::BlockHash)}</dt><dd class="hash">{txt(&v["block_id"])}</dd>
                <dt>{t(Key::Time)}</dt><dd>{time(&v["block_time_ms"])}</dd>
                <dt>{t(Key::TxType)}</dt><dd>{txt(&v["tx_type"])}</dd>
                <dt>{t(Key::Sender)}</dt><dd class="hash">{txt(&v["sender"])}</dd>
                <dt>{t(Key::Recipient)}</dt><dd class="hash">{txt(&v["recipient"])}</dd>
                {(!v["contract"].is_null()).then(|| view! {
                    <dt>{t(Key::Contract)}</dt><dd class="contract-name">{txt(&v["contract"]["name"])}" "{txt(&v["contract"]["version"])}</dd>
                })}
                {input}
                <dt>{t(Key::Proof)}</dt>
                <dd id="proof-verified" class=if verified { "ok" } else { "error" }>
                    {if verified { t(Key::ProofVerified) } else { t(Key::ProofNotVerified) }}
                </dd>
            </dl>
            {(!events.is_empty()).then(|| view! {
                <h4>{t(Key::Events)}</h4>
                <ul class="tx-events">{events.into_iter().map(|e| {
                    let args = e["args"].as_array().cloned().unwrap_or_default();
                    view! { <li><code>{txt(&e["signature"])}</code>" "
                        {args.into_iter().map(|a| view! { <span class="arg">{txt(&a["name"])}" = "{txt(&a["value"])}" "</span> }).collect_view()}
                    </li> }
                }).collect_view()}</ul>
            })}
        </div>
    }
}

/// Transactions per block over the latest blocks (a bar chart, oldest on
/// the left) and by type.
fn stats_view(v: &Value) -> impl IntoView + use<> {
    let points = v["blocks"].as_array().cloned().unwrap_or_default();
    let most = points.iter().filter_map(|p| p["tx_count"].as_u64()).max().unwrap_or(0).max(1);
    let (w, h) = (600.0_f64, 120.0_f64);
    let step = w / points.len().max(1) as f64;
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let n = p["tx_count"].as_u64().unwrap_or(0);
            let bh = (n as f64 / most as f64 * (h - 10.0)).max(if n > 0 { 2.0 } else { 0.0 });
            view! {
                <rect class="bar" data-height=txt(&p["height"]) data-txs=n.to_string()
                    x=format!("{:.1}", i as f64 * step + 1.0) y=format!("{:.1}", h - bh)
                    width=format!("{:.1}", (step - 2.0).max(1.0)) height=format!("{bh:.1}")>
                    <title>{format!("#{}: {n}", txt(&p["height"]))}</title>
                </rect>
            }
        })
        .collect_view();
    let types: Vec<(String, String)> = v["by_type"]
        .as_object()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), txt(n))).collect())
        .unwrap_or_default();
    view! {
        <p class="muted">{t(Key::TxPerBlock)}" · "{t(Key::TxCount)}": "{txt(&v["transactions"])}
            " · "{t(Key::MeanBlockTime)}": "{v["mean_block_ms"].as_u64().map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))}
            " · TPS: "{v["tps"].as_f64().map_or_else(|| "—".to_owned(), |x| format!("{x:.2}"))}</p>
        <svg id="tx-chart" viewBox=format!("0 0 {w} {h}") width="100%" height="120" role="img">
            <line x1="0" y1=format!("{h}") x2=format!("{w}") y2=format!("{h}") stroke="#9aa5b1"/>
            {bars}
        </svg>
        <h3>{t(Key::ByType)}</h3>
        <dl id="tx-types" class="facts">{types.into_iter().map(|(k, n)| view! {
            <dt>{k.clone()}</dt><dd data-type=k>{n}</dd>
        }).collect_view()}</dl>
    }
}

/// `q` for a query string: what is not a letter, a digit or `-._~` as
/// percent escapes of its UTF-8 bytes.
fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
