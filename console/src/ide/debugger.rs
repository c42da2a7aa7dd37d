//! The debugger of a contract transaction (SPEC SC-7): the node re-executes
//! it on the state before it and answers every step; this page shows the
//! decoded call with its arguments and return values, the storage it
//! changed, and, step by step (forward and back), the opcode and gas, the
//! stack, the memory, the storage read or written (before and after) and
//! the call stack.

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, t, txt},
    i18n::Key,
};

/// Most steps asked for, and memory bytes per step.
const STEP_LIMIT: u32 = 20_000;
const MEMORY_BYTES: u32 = 1024;
/// Rows of the step list shown around the current step.
const WINDOW: usize = 12;

#[component]
pub(super) fn Debugger(chain: i64, contract: i64, tx: RwSignal<String>, layout: Value) -> impl IntoView {
    let trace = RwSignal::new(None::<Result<Value, ApiErr>>);
    let at = RwSignal::new(0usize);
    let load = move || {
        let id = tx.get_untracked().trim().to_owned();
        if id.is_empty() {
            return;
        }
        trace.set(None);
        at.set(0);
        spawn_local(async move {
            let path = format!(
                "/api/v1/chains/{chain}/contracts/{contract}/transactions/{id}/trace?step_limit={STEP_LIMIT}&memory_bytes={MEMORY_BYTES}"
            );
            trace.set(Some(api::get_owned(path).await));
        });
    };
    let steps =
        move || trace.with(|t| t.as_ref().and_then(|r| r.as_ref().ok()).map_or(0, |v| step_list(v).len()));
    let go = move |to: usize| at.set(to.min(steps().saturating_sub(1)));
    let next_write = move |_| {
        let from = at.get_untracked() + 1;
        let found = trace.with_untracked(|t| {
            t.as_ref().and_then(|r| r.as_ref().ok()).and_then(|v| {
                step_list(v).iter().skip(from).position(|s| s["storage"]["kind"] == "write").map(|p| p + from)
            })
        });
        if let Some(i) = found {
            at.set(i);
        }
    };
    view! {
        <section id="ide-debugger">
            <h2>{t(Key::Debugger)}</h2>
            <form class="ide-bar" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); load() }>
                <label>{t(Key::TxId)}" "<input id="dbg-tx" class="hash" size="66" prop:value=move || tx.get()
                    on:input=move |ev| tx.set(event_target_value(&ev))/></label>
                <button type="submit" id="dbg-load">{t(Key::DebugIt)}</button>
            </form>
            {move || match trace.get() {
                None => ().into_any(),
                Some(Err(e)) => view! { <div id="dbg-failed"><ErrorLine err=e/></div> }.into_any(),
                Some(Ok(v)) => {
                    let n = step_list(&v).len();
                    let names = layout.clone();
                    view! {
                        {summary(&v, &layout)}
                        <div class="ide-bar" id="dbg-nav">
                            <button type="button" id="dbg-first" on:click=move |_| go(0)>"⏮"</button>
                            <button type="button" id="dbg-prev" on:click=move |_| go(at.get_untracked().saturating_sub(1))>{t(Key::StepBack)}</button>
                            <button type="button" id="dbg-next" on:click=move |_| go(at.get_untracked() + 1)>{t(Key::StepForward)}</button>
                            <button type="button" id="dbg-next-write" on:click=next_write>{t(Key::NextWrite)}</button>
                            <button type="button" id="dbg-last" on:click=move |_| go(usize::MAX)>"⏭"</button>
                            <span id="dbg-pos">{t(Key::Step)}" "{move || at.get() + 1}" / "{n}</span>
                        </div>
                        {move || trace.with(|tr| {
                            let Some(Ok(v)) = tr else { return ().into_any() };
                            step_view(v, &names, at.get(), at).into_any()
                        })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

fn step_list(v: &Value) -> &[Value] {
    v["steps"].as_array().map_or(&[], Vec::as_slice)
}

/// The call, its result, its decoded arguments and return values, and the
/// storage it changed.
fn summary(v: &Value, layout: &Value) -> impl IntoView + use<> {
    let d = &v["decoded"];
    let r = &v["result"];
    view! {
        <dl class="facts" id="dbg-summary">
            <dt>{t(Key::Method)}</dt><dd id="dbg-signature">{txt(&d["signature"])}</dd>
            <dt>{t(Key::Status)}</dt><dd id="dbg-status">{txt(&r["status"])}</dd>
            <dt>{t(Key::GasUsed)}</dt><dd>{txt(&r["gas_used"])}</dd>
            <dt>{t(Key::Sender)}</dt><dd class="hash">{txt(&v["from"])}</dd>
            <dt>{t(Key::Recipient)}</dt><dd class="hash">{txt(&v["to"])}</dd>
        </dl>
        {v["truncated"].as_bool().unwrap_or(false).then(|| view! { <p class="muted">{t(Key::TraceTruncated)}" "{txt(&v["step_count"])}</p> })}
        {(!txt(&d["revert"]).is_empty()).then(|| view! { <p class="error" id="dbg-revert">{txt(&d["revert"])}</p> })}
        <h3>{t(Key::Arguments)}</h3>
        <ul id="dbg-args">{super::values(&d["inputs"])}</ul>
        <h3>{t(Key::ReturnValues)}</h3>
        <ul id="dbg-returns">{super::values(&d["outputs"])}</ul>
        <h3>{t(Key::StorageChanges)}</h3>
        <table id="dbg-storage-changes">
            <thead><tr><th>{t(Key::Address)}</th><th>{t(Key::Variable)}</th><th>{t(Key::Slot)}</th><th>{t(Key::Before)}</th><th>{t(Key::After)}</th></tr></thead>
            <tbody>
                {v["storage_changes"].as_array().into_iter().flatten().map(|c| view! {
                    <tr class="storage-change">
                        <td class="hash">{txt(&c["address"])}</td><td class="var">{variable(layout, &txt(&c["slot"]))}</td>
                        <td class="hash slot">{txt(&c["slot"])}</td>
                        <td class="hash before">{txt(&c["before"])}</td><td class="hash after">{txt(&c["after"])}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The list of steps around step `i` (a click moves there), and step `i`:
/// opcode, gas, storage access, stack, memory and call stack.
fn step_view(v: &Value, layout: &Value, i: usize, at: RwSignal<usize>) -> impl IntoView + use<> {
    let steps = step_list(v);
    let Some(s) = steps.get(i) else { return ().into_any() };
    let from = i.saturating_sub(WINDOW / 2);
    let rows = steps
        .iter()
        .enumerate()
        .skip(from)
        .take(WINDOW)
        .map(|(j, s)| {
            let write = s["storage"]["kind"] == "write";
            let class = match (j == i, write) {
                (true, _) => "step current",
                (false, true) => "step write",
                _ => "step",
            };
            view! {
                <tr class=class data-step=j.to_string() on:click=move |_| at.set(j)>
                    <td>{j + 1}</td><td>{txt(&s["pc"])}</td><td class="op">{txt(&s["op"])}</td>
                    <td>{txt(&s["gas"])}</td><td>{txt(&s["gas_cost"])}</td><td>{txt(&s["depth"])}</td>
                </tr>
            }
        })
        .collect_view();
    let access = &s["storage"];
    let calls = v["calls"].as_array().cloned().unwrap_or_default();
    let mut stack_of_calls = Vec::new();
    let mut c = s["call"].as_u64().map(|c| c as usize);
    while let Some(ci) = c {
        let Some(call) = calls.get(ci) else { break };
        stack_of_calls.push(call.clone());
        c = call["parent"].as_u64().map(|p| p as usize);
        if stack_of_calls.len() > calls.len() {
            break;
        }
    }
    view! {
        <div class="debug-grid">
            <table id="dbg-steps">
                <thead><tr><th>"#"</th><th>"pc"</th><th>{t(Key::Opcode)}</th><th>{t(Key::Gas)}</th><th>{t(Key::GasCost)}</th><th>{t(Key::Depth)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <div id="dbg-step" data-op=txt(&s["op"]) data-step=i.to_string()>
                <dl class="facts">
                    <dt>{t(Key::Opcode)}</dt><dd id="dbg-op">{txt(&s["op"])}</dd>
                    <dt>"pc"</dt><dd>{txt(&s["pc"])}</dd>
                    <dt>{t(Key::Gas)}</dt><dd>{txt(&s["gas"])}" (−"{txt(&s["gas_cost"])}")"</dd>
                    <dt>{t(Key::Depth)}</dt><dd>{txt(&s["depth"])}</dd>
                </dl>
                {access.is_object().then(|| view! {
                    <dl class="facts" id="dbg-access" data-kind=txt(&access["kind"])>
                        <dt>{t(Key::StorageAccess)}</dt><dd>{txt(&access["kind"])}</dd>
                        <dt>{t(Key::Variable)}</dt><dd id="dbg-access-var">{variable(layout, &txt(&access["slot"]))}</dd>
                        <dt>{t(Key::Slot)}</dt><dd class="hash">{txt(&access["slot"])}</dd>
                        <dt>{t(Key::Before)}</dt><dd class="hash" id="dbg-access-before">{txt(&access["before"])}</dd>
                        <dt>{t(Key::After)}</dt><dd class="hash" id="dbg-access-after">{txt(&access["after"])}</dd>
                    </dl>
                })}
                <h3>{t(Key::Stack)}</h3>
                <ol id="dbg-stack" class="hash">
                    {s["stack"].as_array().into_iter().flatten().rev().map(|x| view! { <li>{txt(x)}</li> }).collect_view()}
                </ol>
                <h3>{t(Key::VmMemory)}" ("{txt(&s["memory_size"])}" B)"</h3>
                <ol id="dbg-memory" class="hash" start="0">
                    {s["memory"].as_array().into_iter().flatten().map(|x| view! { <li>{txt(x)}</li> }).collect_view()}
                </ol>
                <h3>{t(Key::CallStack)}</h3>
                <ol id="dbg-callstack">
                    {stack_of_calls.into_iter().map(|c| view! {
                        <li><b>{txt(&c["kind"])}</b>" "<span class="hash">{txt(&c["caller"])}</span>" → "
                            <span class="hash">{txt(&c["address"])}</span></li>
                    }).collect_view()}
                </ol>
            </div>
        </div>
    }
    .into_any()
}

/// The state variables solc's storage layout puts at `slot` (`0x` hex),
/// or a dash: a mapping's or an array's entries live at hashed slots.
fn variable(layout: &Value, slot: &str) -> String {
    let hex = slot.trim_start_matches("0x").trim_start_matches('0');
    let Ok(n) = u128::from_str_radix(if hex.is_empty() { "0" } else { hex }, 16) else { return "—".into() };
    let names: Vec<String> = layout["storage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| txt(&e["slot"]).parse::<u128>().ok() == Some(n))
        .map(|e| txt(&e["label"]))
        .collect();
    if names.is_empty() { "—".into() } else { names.join(", ") }
}
