//! The contract IDE (SPEC SC-7, SC-8): a Solidity editor (CodeMirror,
//! loaded by this page only), compiled in the browser by the pinned
//! solc-js in a web worker, the compiler's errors and warnings marked at
//! their lines, the platform's static analysis with dismissals, deployment
//! (by default to the organization's sandbox chain, with the test account
//! the platform holds for it; on a real chain under its governance), a call
//! form generated from the ABI, and the debugger of a transaction.

mod debugger;
pub(crate) mod js;
mod projects;

use leptos::{html::Div, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, lang, t, txt},
    i18n::{Key, Lang},
};

/// What a new editor holds.
const STARTER: &str = "// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

contract Counter {
    uint256 public count;

    event Counted(address indexed by, uint256 count);

    function add(uint256 n) public returns (uint256) {
        count += n;
        emit Counted(msg.sender, count);
        return count;
    }
}
";

/// The value of the chain choice that means the organization's sandbox.
const SANDBOX: &str = "sandbox";

/// The standard-JSON input of a compilation: the settings of the
/// platform's toolchain (`govchain-contracts`), so the browser's bytecode
/// is the server's.
pub(crate) fn standard_input(sources: &[(String, String)]) -> Value {
    let sources: serde_json::Map<String, Value> =
        sources.iter().map(|(n, t)| (n.clone(), json!({ "content": t }))).collect();
    json!({
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": "prague",
            "optimizer": { "enabled": true, "runs": 200 },
            "metadata": { "bytecodeHash": "none", "appendCBOR": false },
            "outputSelection": {
                "*": {
                    "": ["ast"],
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers", "storageLayout"],
                },
            },
        },
    })
}

/// One compiled contract.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Built {
    pub file: String,
    pub name: String,
    pub abi: Value,
    pub bytecode: String,
    pub deployed: String,
    /// solc's `storageLayout`: where the state variables live.
    pub layout: Value,
}

/// The contracts of solc's output that have code (not interfaces).
pub(crate) fn built(output: &Value) -> Vec<Built> {
    let mut out = Vec::new();
    if let Some(files) = output["contracts"].as_object() {
        for (file, cs) in files {
            for (name, c) in cs.as_object().into_iter().flatten() {
                let bytecode = txt(&c["evm"]["bytecode"]["object"]);
                if bytecode.is_empty() {
                    continue;
                }
                out.push(Built {
                    file: file.clone(),
                    name: name.clone(),
                    abi: c["abi"].clone(),
                    bytecode,
                    deployed: txt(&c["evm"]["deployedBytecode"]["object"]),
                    layout: c["storageLayout"].clone(),
                });
            }
        }
    }
    out
}

/// Where the compile button left things.
#[derive(Clone, Debug)]
enum Compiled {
    Idle,
    Working,
    /// The compiler ran: its version and how many errors it reported.
    Done {
        version: String,
        errors: usize,
    },
    Failed(String),
    Refused(ApiErr),
}

/// A deployment as the page shows it.
#[derive(Clone, Debug)]
enum Deployed {
    Idle,
    Working,
    /// The contract (as the API answers it) on a chain, its ABI and
    /// (when compiled here) its storage layout.
    Done {
        chain: i64,
        contract: Value,
        abi: Value,
        layout: Value,
    },
    /// New code saved as a contract's draft version.
    Draft {
        chain: i64,
        version: Value,
    },
    Failed(ApiErr),
}

#[component]
pub fn IdePage() -> impl IntoView {
    authed(Key::Ide, false, |s: Session| ide(s))
}

fn ide(s: Session) -> impl IntoView {
    let l = lang();
    let file = RwSignal::new("Contract.sol".to_owned());
    let source = RwSignal::new(STARTER.to_owned());
    let compiled = RwSignal::new(Compiled::Idle);
    let diagnostics = RwSignal::new(Vec::<Value>::new());
    let findings = RwSignal::new(Vec::<Value>::new());
    let contracts = RwSignal::new(Vec::<Built>::new());
    let chosen = RwSignal::new(String::new());
    let target = RwSignal::new(SANDBOX.to_owned());
    let deployed = RwSignal::new(Deployed::Idle);
    // Deploy as a new contract (empty) or as a new version of this one.
    let as_version = RwSignal::new(String::new());
    let csrf = s.csrf();
    let editor_ref = NodeRef::<Div>::new();
    let editor_ready = RwSignal::new(false);
    let open = projects::Open::new();

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(el) = editor_ref.get() {
            js::load(move || {
                js::mount(&el, &source.get_untracked(), move |text| source.set(text));
                editor_ready.set(true);
            });
        }
    });
    on_cleanup(js::unmount);

    let chains = LocalResource::new(|| api::get("/api/v1/chains"));
    // `?chain=&contract=`: a deployed contract to call and debug.
    let query = leptos_router::hooks::use_query_map();
    let opened = query.with_untracked(|q| {
        let n = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
        n("chain").zip(n("contract"))
    });
    if let Some((chain, kid)) = opened {
        spawn_local(async move {
            deployed.set(match api::get_owned(format!("/api/v1/chains/{chain}/contracts/{kid}")).await {
                Ok(d) => Deployed::Done { chain, abi: d["abi"].clone(), contract: d, layout: Value::Null },
                Err(e) => Deployed::Failed(e),
            });
        });
    }
    let templates = LocalResource::new(|| api::get("/api/v1/contract-templates"));
    // The contracts already on the chosen chain (the sandbox's once it
    // exists), which new code may become a version of.
    let existing = LocalResource::new(move || {
        let target = target.get();
        async move {
            let chain = if target == SANDBOX {
                api::get("/api/v1/sandbox").await.ok().and_then(|c| c["id"].as_i64())
            } else {
                target.parse().ok()
            };
            match chain {
                Some(c) => api::get_owned(format!("/api/v1/chains/{c}/contracts")).await.ok(),
                None => None,
            }
        }
    });
    let use_template = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev);
        let list = templates
            .get_untracked()
            .and_then(Result::ok)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        if let Some(tpl) = list.iter().find(|x| txt(&x["name"]) == name) {
            let text = txt(&tpl["source"]);
            file.set(txt(&tpl["file"]));
            source.set(text.clone());
            js::set_value(&text);
        }
    };

    let compile = {
        let csrf = csrf.clone();
        move |_| {
            let sources = open.sources(&file.get_untracked(), &source.get_untracked());
            let csrf = csrf.clone();
            compiled.set(Compiled::Working);
            spawn_local(async move {
                let input = standard_input(&sources).to_string();
                let (version, output) = match js::compile(input).await {
                    Ok(r) => r,
                    Err(e) => {
                        compiled.set(Compiled::Failed(e));
                        return;
                    }
                };
                let output: Value = serde_json::from_str(&output).unwrap_or(Value::Null);
                let body = json!({
                    "sources": sources.iter().map(|(n, c)| json!({"name": n, "content": c})).collect::<Vec<_>>(),
                    "compiler_version": version,
                    "output": output,
                });
                match api::post("/api/v1/contracts/analysis", &body, csrf.as_deref()).await {
                    Ok(r) => {
                        let diags = r["diagnostics"].as_array().cloned().unwrap_or_default();
                        let errors = diags.iter().filter(|d| d["severity"] == "error").count();
                        js::set_diagnostics(&markers(&diags, &file.get_untracked()));
                        diagnostics.set(diags);
                        findings.set(r["findings"].as_array().cloned().unwrap_or_default());
                        let cs = if errors == 0 { built(&output) } else { Vec::new() };
                        if !cs.iter().any(|c| c.name == chosen.get_untracked()) {
                            chosen.set(cs.last().map(|c| c.name.clone()).unwrap_or_default());
                        }
                        contracts.set(cs);
                        compiled.set(Compiled::Done { version, errors });
                    }
                    Err(e) => compiled.set(Compiled::Refused(e)),
                }
            });
        }
    };

    let deploy = {
        let csrf = csrf.clone();
        move |_| {
            let Some(c) = contracts.get_untracked().into_iter().find(|c| c.name == chosen.get_untracked())
            else {
                return;
            };
            let (csrf, target, src) = (csrf.clone(), target.get_untracked(), source.get_untracked());
            let version_of = as_version.get_untracked();
            let args = read_args("ctor-arg");
            deployed.set(Deployed::Working);
            spawn_local(async move {
                let chain = match chain_of(&target, csrf.as_deref()).await {
                    Ok(id) => id,
                    Err(e) => {
                        deployed.set(Deployed::Failed(e));
                        return;
                    }
                };
                if !version_of.is_empty() {
                    let body = json!({"abi": c.abi, "deployed_bytecode": c.deployed, "bytecode": c.bytecode, "source": src});
                    let path = format!("/api/v1/chains/{chain}/contracts/{version_of}/versions");
                    deployed.set(match api::post(&path, &body, csrf.as_deref()).await {
                        Ok(v) => Deployed::Draft { chain, version: v },
                        Err(e) => Deployed::Failed(e),
                    });
                    return;
                }
                let constructor =
                    c.abi.as_array().and_then(|a| a.iter().find(|f| f["type"] == "constructor")).cloned();
                let body = json!({
                    "name": c.name,
                    "abi": c.abi,
                    "bytecode": c.bytecode,
                    "source": src,
                    "constructor_args": typed_args(constructor.as_ref(), &args),
                });
                let path = format!("/api/v1/chains/{chain}/contracts");
                deployed.set(match api::post(&path, &body, csrf.as_deref()).await {
                    Ok(k) => Deployed::Done { chain, contract: k, abi: c.abi, layout: c.layout },
                    Err(e) => Deployed::Failed(e),
                });
                existing.refetch();
            });
        }
    };

    let chain_options = move || {
        let cs = chains.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default();
        cs.into_iter()
            .filter(|c| c["state"] == "running" && c["sandbox"] != true)
            .map(|c| view! { <option value=txt(&c["id"])>{txt(&c["name"])}</option> })
            .collect_view()
    };

    view! {
        <p class="muted" id="ide-lead">{t(Key::IdeLead)}</p>
        <projects::Projects open file source templates csrf=csrf.clone()/>
        <div class="ide-bar" id="ide-toolbar">
            <label>{t(Key::File)}" "<input id="ide-file" prop:value=move || file.get()
                on:input=move |ev| file.set(event_target_value(&ev))/></label>
            <label>{t(Key::Template)}" "<select id="ide-template" on:change=use_template>
                <option value="">"—"</option>
                {move || templates.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default()
                    .into_iter().map(|x| view! { <option value=txt(&x["name"]) title=txt(&x["description"])>{txt(&x["name"])}</option> })
                    .collect_view()}
            </select></label>
            <button type="button" id="ide-compile" on:click=compile
                disabled=move || matches!(compiled.get(), Compiled::Working)>{t(Key::Compile)}</button>
            {move || compile_status(compiled.get())}
        </div>
        <div class="ide-editor" id="ide-editor" node_ref=editor_ref
            data-ready=move || editor_ready.get().then_some("1")></div>
        <textarea id="ide-source" class="ide-fallback" rows="18" hidden=move || editor_ready.get()
            prop:value=move || source.get() on:input=move |ev| source.set(event_target_value(&ev))></textarea>
        <section id="ide-problems">
            <h2>{t(Key::Problems)}</h2>
            {move || problems(diagnostics.get())}
        </section>
        <section id="ide-findings">
            <h2>{t(Key::Findings)}</h2>
            {move || finding_list(l, findings, csrf.clone())}
        </section>
        <section id="ide-deploy">
            <h2>{t(Key::Deploy)}</h2>
            <div class="ide-bar">
                <label>{t(Key::Contract)}" "
                    <select id="ide-contract" prop:value=move || chosen.get()
                        on:change=move |ev| chosen.set(event_target_value(&ev))>
                        {move || contracts.get().into_iter().map(|c| {
                            let n = c.name.clone();
                            view! { <option value=n.clone()>{n.clone()}" ("{c.file.clone()}")"</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>{t(Key::TargetChain)}" "
                    <select id="ide-chain" prop:value=move || target.get()
                        on:change=move |ev| target.set(event_target_value(&ev))>
                        <option value=SANDBOX>{t(Key::Sandbox)}</option>
                        {chain_options}
                    </select>
                </label>
                <label>{t(Key::DeployAs)}" "
                    <select id="ide-deploy-as" prop:value=move || as_version.get()
                        on:change=move |ev| as_version.set(event_target_value(&ev))>
                        <option value="">{t(Key::NewContract)}</option>
                        {move || existing.get().flatten().and_then(|v| v.as_array().cloned()).unwrap_or_default().into_iter()
                            .filter(|k| k["state"] == "active")
                            .map(|k| view! { <option value=txt(&k["id"])>{t(Key::NewVersionOf)}" "{txt(&k["name"])}" "{txt(&k["version"])}</option> })
                            .collect_view()}
                    </select>
                </label>
            </div>
            {move || {
                let c = contracts.get().into_iter().find(|c| c.name == chosen.get());
                let ctor = c.and_then(|c| c.abi.as_array().and_then(|a| a.iter().find(|f| f["type"] == "constructor").cloned()));
                arg_inputs(ctor.as_ref(), "ctor-arg")
            }}
            <button type="button" id="ide-deploy-btn" on:click=deploy
                disabled=move || contracts.get().is_empty() || matches!(deployed.get(), Deployed::Working)>
                {t(Key::Deploy)}</button>
            {move || {
                // The chain's name, or "our sandbox chain" for the sandbox.
                let names = chains.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default();
                let name = move |id: i64| {
                    names.iter().find(|c| c["id"].as_i64() == Some(id)).map_or_else(
                        || if target.get_untracked() == SANDBOX { t(Key::Sandbox).to_owned() } else { id.to_string() },
                        |c| if c["sandbox"] == true { t(Key::Sandbox).to_owned() } else { txt(&c["name"]) },
                    )
                };
                deployed_view(deployed.get(), name)
            }}
        </section>
        {move || match deployed.get() {
            Deployed::Done { chain, contract, abi, layout } if contract["state"] == "active" || contract["state"] == "frozen" => {
                view! { <CallForm chain contract abi layout csrf=s.csrf()/> }.into_any()
            }
            _ => ().into_any(),
        }}
    }
}

/// The chain to deploy to: the organization's sandbox (created on first
/// use) or a chain chosen by id.
async fn chain_of(target: &str, csrf: Option<&str>) -> Result<i64, ApiErr> {
    if target == SANDBOX {
        let c = api::post("/api/v1/sandbox", &json!({}), csrf).await?;
        return Ok(c["id"].as_i64().unwrap_or(0));
    }
    Ok(target.parse().unwrap_or(0))
}

/// The editor's markers for the diagnostics of `file`.
fn markers(diags: &[Value], file: &str) -> Value {
    Value::Array(
        diags
            .iter()
            .filter(|d| d["file"].as_str().is_none_or(|f| f == file) && d["start"].is_object())
            .map(|d| {
                json!({
                    "line": d["start"]["line"], "column": d["start"]["column"],
                    "endLine": d["end"]["line"], "endColumn": d["end"]["column"],
                    "severity": d["severity"], "message": d["message"],
                })
            })
            .collect(),
    )
}

fn compile_status(c: Compiled) -> AnyView {
    match c {
        Compiled::Idle => ().into_any(),
        Compiled::Working => view! { <span class="muted" id="ide-compiling">{t(Key::Working)}</span> }.into_any(),
        Compiled::Done { version, errors } => {
            let (class, key) = if errors == 0 { ("ok", Key::CompiledOk) } else { ("error", Key::CompileErrors) };
            view! {
                <span id="ide-compiled" class=class data-errors=errors.to_string()>{t(key)}
                    " · solc "<span id="ide-solc-version">{version}</span></span>
            }
            .into_any()
        }
        Compiled::Failed(m) => {
            view! { <span id="ide-compile-failed" class="error" role="alert">{t(Key::CompilerFailed)}" "{m}</span> }
                .into_any()
        }
        Compiled::Refused(e) => view! { <ErrorLine err=e/> }.into_any(),
    }
}

fn problems(diags: Vec<Value>) -> AnyView {
    if diags.is_empty() {
        return view! { <p class="muted" id="ide-no-problems">{t(Key::NoProblems)}</p> }.into_any();
    }
    view! {
        <ul id="ide-diagnostics" class="diagnostics">
            {diags.into_iter().map(|d| {
                let line = d["start"]["line"].as_u64();
                let place = line.map(|n| format!("{}:{}", n, d["start"]["column"].as_u64().unwrap_or(1))).unwrap_or_default();
                view! {
                    <li class=format!("diag {}", txt(&d["severity"])) data-line=line.map(|n| n.to_string())
                        data-severity=txt(&d["severity"])>
                        <button type="button" class="link goto" on:click=move |_| if let Some(n) = line { js::goto_line(n) }>
                            {txt(&d["file"])}":"{place}</button>" "
                        <b>{txt(&d["kind"])}</b>": "{txt(&d["message"])}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// The analysis' findings, most severe first, each with its line (a click
/// shows it in the editor) and its dismissal or a form to dismiss it.
fn finding_list(l: Lang, findings: RwSignal<Vec<Value>>, csrf: Option<String>) -> AnyView {
    let list = findings.get();
    if list.is_empty() {
        return view! { <p class="muted" id="ide-no-findings">{t(Key::NoFindings)}</p> }.into_any();
    }
    view! {
        <ul id="ide-finding-list" class="findings">
            {list.into_iter().enumerate().map(|(i, f)| {
                let line = f["start"]["line"].as_u64();
                let message = if l == Lang::Zh { txt(&f["message_zh"]) } else { txt(&f["message"]) };
                let dismissal = f["dismissal"].clone();
                let sev = txt(&f["severity"]);
                view! {
                    <li class=format!("finding sev-{sev}") data-rule=txt(&f["rule"]) data-severity=sev.clone()
                        data-line=line.map(|n| n.to_string())>
                        <span class=format!("badge sev-{sev}")>{severity(&sev)}</span>" "
                        <b>{txt(&f["rule"])}</b>" "
                        <button type="button" class="link goto" on:click=move |_| if let Some(n) = line { js::goto_line(n) }>
                            {t(Key::Line)}" "{line.map(|n| n.to_string()).unwrap_or_default()}</button>
                        <p>{message}</p>
                        {if dismissal.is_object() {
                            view! { <p class="muted dismissed">{t(Key::Dismissed)}": "{txt(&dismissal["reason"])}</p> }.into_any()
                        } else {
                            dismiss_form(findings, i, f.clone(), csrf.clone()).into_any()
                        }}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

fn severity(s: &str) -> &'static str {
    t(match s {
        "critical" => Key::SevCritical,
        "high" => Key::SevHigh,
        "medium" => Key::SevMedium,
        _ => Key::SevLow,
    })
}

fn dismiss_form(findings: RwSignal<Vec<Value>>, i: usize, f: Value, csrf: Option<String>) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiErr>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!({
            "finding_id": f["id"], "rule": f["rule"], "severity": f["severity"], "file": f["file"],
            "contract": f["contract"], "function": f["function"], "snippet": f["snippet"],
            "reason": reason.get_untracked(),
        });
        let csrf = csrf.clone();
        spawn_local(async move {
            match api::post("/api/v1/contracts/analysis/dismissals", &body, csrf.as_deref()).await {
                Ok(d) => findings.update(|fs| {
                    if let Some(f) = fs.get_mut(i) {
                        f["dismissal"] = d;
                    }
                }),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="dismiss" on:submit=submit>
            <input class="dismiss-reason" placeholder=t(Key::DismissReason) required
                prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
            <button type="submit" class="dismiss-btn">{t(Key::Dismiss)}</button>
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
        </form>
    }
}

/// Inputs for a function's (or constructor's) parameters, each with class
/// `class` in order.
fn arg_inputs(f: Option<&Value>, class: &'static str) -> AnyView {
    let inputs = f.and_then(|f| f["inputs"].as_array().cloned()).unwrap_or_default();
    if inputs.is_empty() {
        return ().into_any();
    }
    view! {
        <div class="args">
            {inputs.into_iter().map(|p| view! {
                <label>{txt(&p["name"])}" "<span class="muted">{txt(&p["type"])}</span>" "
                    <input class=class data-type=txt(&p["type"])/></label>
            }).collect_view()}
        </div>
    }
    .into_any()
}

/// The values typed into the inputs of class `class`, in order.
fn read_args(class: &str) -> Vec<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return Vec::new() };
        let list = doc.get_elements_by_class_name(class);
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            .map(|e| e.value())
            .collect()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = class;
        Vec::new()
    }
}

/// Typed text as the JSON values the API takes: booleans, arrays and
/// tuples parsed as JSON, everything else (numbers too, which may exceed
/// what JSON numbers hold) as strings.
pub(crate) fn typed_args(f: Option<&Value>, texts: &[String]) -> Vec<Value> {
    let types: Vec<String> = f
        .and_then(|f| f["inputs"].as_array())
        .map(|ps| ps.iter().map(|p| txt(&p["type"])).collect())
        .unwrap_or_default();
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let ty = types.get(i).map(String::as_str).unwrap_or("");
            let text = text.trim();
            if ty == "bool" {
                Value::Bool(text == "true" || text == "1")
            } else if ty.ends_with(']') || ty.starts_with("tuple") {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
            } else {
                Value::String(text.to_owned())
            }
        })
        .collect()
}

fn deployed_view(d: Deployed, chain_name: impl Fn(i64) -> String) -> AnyView {
    match d {
        Deployed::Idle => ().into_any(),
        Deployed::Working => view! { <p class="muted" id="ide-deploying">{t(Key::Working)}</p> }.into_any(),
        Deployed::Failed(e) => view! { <div id="ide-deploy-failed"><ErrorLine err=e/></div> }.into_any(),
        Deployed::Draft { chain, version } => view! {
            <p class="ok" id="ide-draft-saved" data-version=txt(&version["version"])>{t(Key::DraftSaved)}" "
                <b>{txt(&version["version"])}</b>" · "
                <a href=format!("/chains/{chain}/contracts")>{t(Key::ContractInstances)}</a></p>
        }
        .into_any(),
        Deployed::Done { chain, contract: k, .. } => {
            let state = txt(&k["state"]);
            let waiting = (state == "proposed").then(|| {
                view! { <p class="muted" id="ide-awaiting-votes">{t(Key::AwaitingVotes)}" "
                <a href=format!("/chains/{chain}/contracts")>{t(Key::ContractInstances)}</a></p> }
            });
            view! {
                <div id="ide-deployed" class=if state == "failed" { "error" } else { "ok" } data-state=state.clone()>
                    <dl class="facts">
                        <dt>{t(Key::Contract)}</dt><dd>{txt(&k["name"])}" "{txt(&k["version"])}</dd>
                        <dt>{t(Key::Status)}</dt><dd id="ide-deploy-state">{crate::i18n::state(lang(), &state)}</dd>
                        <dt>{t(Key::Deployer)}</dt><dd class="hash" id="ide-deployer">{txt(&k["deployer_address"])}</dd>
                        <dt>{t(Key::ContractAddress)}</dt><dd class="hash" id="ide-address">{txt(&k["address"])}</dd>
                        <dt>{t(Key::TxId)}</dt><dd class="hash" id="ide-deploy-tx">{txt(&k["tx_id"])}</dd>
                        <dt>{t(Key::Chain)}</dt><dd><a id="ide-deploy-chain" href=format!("/chains/{chain}/contracts")>{chain_name(chain)}</a></dd>
                    </dl>
                    {waiting}
                    {(!txt(&k["error"]).is_empty()).then(|| view! { <p class="error">{txt(&k["error"])}</p> })}
                </div>
            }
            .into_any()
        }
    }
}

/// A form for the functions of a deployed contract's ABI: a call shows
/// the caller, the receiver, the transaction, the decoded result and the
/// events, and opens the debugger on its transaction.
#[component]
fn CallForm(chain: i64, contract: Value, abi: Value, layout: Value, csrf: Option<String>) -> impl IntoView {
    let functions: Vec<Value> = abi
        .as_array()
        .map(|a| a.iter().filter(|f| f["type"] == "function").cloned().collect())
        .unwrap_or_default();
    let first = functions.first().map(signature).unwrap_or_default();
    let method = RwSignal::new(first);
    let result = RwSignal::new(None::<Result<Value, ApiErr>>);
    let debug_tx = RwSignal::new(String::new());
    let kid = contract["id"].as_i64().unwrap_or(0);
    let fns = functions.clone();
    let current = move || fns.iter().find(|f| signature(f) == method.get()).cloned();
    let call = {
        let current = current.clone();
        move |_| {
            let Some(f) = current() else { return };
            let args = typed_args(Some(&f), &read_args("call-arg"));
            let read_only = matches!(f["stateMutability"].as_str(), Some("view" | "pure"));
            let body = json!({ "method": signature(&f), "args": args, "read_only": read_only });
            let csrf = csrf.clone();
            result.set(None);
            spawn_local(async move {
                let path = format!("/api/v1/chains/{chain}/contracts/{kid}/calls");
                let r = api::post(&path, &body, csrf.as_deref()).await;
                if let Ok(v) = &r
                    && let Some(tx) = v["tx_id"].as_str()
                {
                    debug_tx.set(tx.to_owned());
                }
                result.set(Some(r));
            });
        }
    };
    view! {
        <section id="ide-call">
            <h2>{t(Key::CallMethod)}</h2>
            <p class="muted">{t(Key::ContractAddress)}" "<span class="hash">{txt(&contract["address"])}</span></p>
            <label>{t(Key::Method)}" "
                <select id="ide-method" prop:value=move || method.get() on:change=move |ev| method.set(event_target_value(&ev))>
                    {functions.iter().map(|f| { let s = signature(f); view! { <option value=s.clone()>{s.clone()}</option> } }).collect_view()}
                </select>
            </label>
            {move || arg_inputs(current().as_ref(), "call-arg")}
            <button type="button" id="ide-call-btn" on:click=call>{t(Key::Call)}</button>
            {move || match result.get() {
                None => ().into_any(),
                Some(Err(e)) => view! { <div id="ide-call-failed"><ErrorLine err=e/></div> }.into_any(),
                Some(Ok(v)) => call_result(&v).into_any(),
            }}
        </section>
        <debugger::Debugger chain contract=kid tx=debug_tx layout/>
    }
}

/// `name(type,…)` of an ABI function.
pub(crate) fn signature(f: &Value) -> String {
    let types: Vec<String> = f["inputs"].as_array().into_iter().flatten().map(|p| txt(&p["type"])).collect();
    format!("{}({})", txt(&f["name"]), types.join(","))
}

fn call_result(v: &Value) -> impl IntoView {
    let ok = v["success"].as_bool().unwrap_or(false);
    view! {
        <div id="ide-call-result" class=if ok { "ok" } else { "error" } data-success=ok.to_string()>
            <dl class="facts">
                <dt>{t(Key::Method)}</dt><dd>{txt(&v["method"])}</dd>
                <dt>{t(Key::Caller)}</dt><dd class="hash" id="ide-caller">{txt(&v["caller"])}</dd>
                <dt>{t(Key::Receiver)}</dt><dd class="hash" id="ide-receiver">{txt(&v["receiver"])}</dd>
                <dt>{t(Key::TxId)}</dt><dd class="hash" id="ide-call-tx">{txt(&v["tx_id"])}</dd>
                <dt>{t(Key::Height)}</dt><dd>{txt(&v["height"])}</dd>
            </dl>
            {(!ok).then(|| view! { <p class="error" id="ide-call-message">{txt(&v["message"])}</p> })}
            <h3>{t(Key::ReturnValues)}</h3>
            <ul id="ide-result">{values(&v["result"])}</ul>
            <h3>{t(Key::Events)}</h3>
            <ul id="ide-events">
                {v["events"].as_array().into_iter().flatten().map(|e| view! {
                    <li><b>{txt(&e["signature"])}</b><ul>{values(&e["args"])}</ul></li>
                }).collect_view()}
            </ul>
        </div>
    }
}

/// Decoded values as list items: `name (type) = value`.
pub(crate) fn values(list: &Value) -> impl IntoView + use<> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let value = match &x["value"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            view! {
                <li class="value" data-name=txt(&x["name"])>
                    <b>{txt(&x["name"])}</b>" "<span class="muted">"("{txt(&x["type"])}")"</span>" = "
                    <span class="hash">{value}</span>
                </li>
            }
        })
        .collect_view()
}
