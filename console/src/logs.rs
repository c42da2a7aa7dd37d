//! Logs (SPEC OPS-2): a node's log, or the platform's own for the super
//! admin, by type (run, system, error); live as the node writes it, a
//! search by keyword or regular expression over a time range, a day's file
//! to download (today or one of the 30 days before), and the log level,
//! which a chain operator changes at run time.

use leptos::{either::Either, ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, t, to_login, txt},
    i18n::{Key, Lang},
    monitor::{Picker, RANGES},
};

/// The log types, as the API names them.
const TYPES: [(&str, Key); 3] = [("run", Key::LogRun), ("system", Key::LogSystem), ("error", Key::LogError)];
/// The levels offered; a filter directive can be set through the API.
const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
/// Most lines kept on the page while following.
const KEEP: usize = 1000;

/// `/logs?chain=&node=&type=` (and `source=platform` for the super admin).
#[component]
pub fn LogsPage() -> impl IntoView {
    let q = use_query_map();
    authed(Key::Logs, false, move |s: Session| {
        let query = |k: &str| q.with_untracked(|q| q.get(k));
        let super_admin = s.platform() && s.may("platform_admin");
        let platform = RwSignal::new(super_admin && query("source").as_deref() == Some("platform"));
        let pick = Picker::with_prefix("logs", query("chain"), query("node"));
        let kind = RwSignal::new(
            query("type").and_then(|k| TYPES.iter().find(|(c, _)| *c == k).map(|(c, _)| *c)).unwrap_or("run"),
        );
        // Where this node's (or the platform's) log endpoints are.
        let base = move || -> Option<String> {
            if platform.get() {
                Some("/api/v1/platform".to_owned())
            } else {
                pick.chain.get().zip(pick.node.get()).map(|(c, n)| format!("/api/v1/chains/{c}/nodes/{n}"))
            }
        };
        let operate = s.may("chain_operate");
        let csrf = s.csrf();
        view! {
            <section id="log-source" class="controls">
                {super_admin.then(|| view! {
                    <div role="tablist">
                        <button type="button" id="source-nodes" class=move || if platform.get() { "tab" } else { "tab active" }
                            on:click=move |_| platform.set(false)>{t(Key::Nodes)}</button>
                        <button type="button" id="source-platform" class=move || if platform.get() { "tab active" } else { "tab" }
                            on:click=move |_| platform.set(true)>{t(Key::Platform)}</button>
                    </div>
                })}
                {move || (!platform.get()).then(|| view! { {pick.chain_select()}{pick.node_select()} })}
                <div role="tablist" id="log-types">{TYPES.iter().map(|(code, label)| {
                    let code = *code;
                    view! {
                        <button type="button" id=format!("type-{code}") class=move || if kind.get() == code { "tab active" } else { "tab" }
                            on:click=move |_| kind.set(code)>{t(*label)}</button>
                    }
                }).collect_view()}</div>
            </section>
            {move || match base() {
                None => Either::Left(view! { <p class="muted" id="no-target">{t(Key::NoChains)}</p> }),
                Some(b) => {
                    // The level is the platform's or the node's own, whatever the type.
                    let may_set = if platform.get_untracked() { super_admin } else { operate };
                    Either::Right(view! {
                        <LogView base=b.clone() kind=kind/>
                        <LevelControl base=b may_set=may_set csrf=csrf.clone()/>
                    })
                }
            }}
        }
    })
}

/// The search form, the live switch, the lines, and the day download, for
/// the log endpoints under `base`.
#[component]
fn LogView(base: String, kind: RwSignal<&'static str>) -> impl IntoView {
    let lines = RwSignal::new(Vec::<Value>::new());
    let error = RwSignal::new(None::<ApiErr>);
    let searched = RwSignal::new(false);
    let pattern = RwSignal::new(String::new());
    let regex = RwSignal::new(false);
    let range = RwSignal::new(1_usize);
    let live = RwSignal::new(false);
    let day = RwSignal::new(today());
    let base = StoredValue::new(base);
    let search = move || {
        let to = api::now_ms();
        let from = to - RANGES[range.get_untracked().min(RANGES.len() - 1)].1;
        let mut path =
            format!("{}/logs?type={}&from={from}&to={to}&limit=500", base.get_value(), kind.get_untracked());
        let p = pattern.get_untracked();
        if !p.trim().is_empty() {
            path.push_str(&format!("&q={}&regex={}", encode(p.trim()), regex.get_untracked()));
        }
        spawn_local(async move {
            match api::get_owned(path).await {
                Ok(v) => {
                    lines.set(v.as_array().cloned().unwrap_or_default());
                    error.set(None);
                    searched.set(true);
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // A new type shows its own lines.
    Effect::new(move |_| {
        let _ = kind.get();
        search();
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        live.set(false);
        search();
    };
    let l = crate::app::lang();
    view! {
        <section id="log-search">
            <form id="log-form" class="inline" on:submit=submit>
                <input name="q" placeholder=t(Key::KeywordOrRegex) bind:value=pattern/>
                <label class="check"><input type="checkbox" name="regex" bind:checked=regex/>{t(Key::RegexMatch)}</label>
                <select name="range" on:change=move |ev| range.set(event_target_value(&ev).parse().unwrap_or(1))>
                    {RANGES.iter().enumerate().map(|(i, (code, _))| view! {
                        <option value=i.to_string() selected=move || range.get() == i>{last_range(l, code)}</option>
                    }).collect_view()}
                </select>
                <button type="submit">{t(Key::Search)}</button>
                <label class="check"><input type="checkbox" id="log-live" bind:checked=live/>{t(Key::Live)}</label>
            </form>
            <form class="inline" id="log-download-form">
                <label>{t(Key::Day)}" "<input type="date" name="day" bind:value=day/></label>
                <a id="log-download" class="button" download=""
                    href=move || format!("{}/logs/download?type={}&date={}", base.get_value(), kind.get(), day.get())>
                    {t(Key::DownloadDay)}
                </a>
            </form>
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
            // While following, each new line of this type goes on top.
            {move || live.get().then(|| {
                let path = format!("{}/logs/stream?type={}", base.get_value(), kind.get());
                api::subscribe_to(&path, "log", move |data| {
                    if let Ok(line) = serde_json::from_str::<Value>(&data) {
                        lines.update(|ls| {
                            ls.insert(0, line);
                            ls.truncate(KEEP);
                        });
                    }
                });
                view! { <p class="live" id="log-following">{t(Key::Following)}</p> }
            })}
            {move || {
                let ls = lines.get();
                if ls.is_empty() {
                    return searched.get().then(|| view! { <p class="muted" id="no-lines">{t(Key::NoLines)}</p> }).into_any();
                }
                view! {
                    <table id="log-lines" class="log"><thead><tr><th>{t(Key::Time)}</th><th>{t(Key::Level)}</th>
                        <th>{t(Key::Source)}</th><th>{t(Key::Content)}</th></tr></thead>
                    <tbody>{ls.into_iter().map(|line| {
                        let level = txt(&line["level"]);
                        let class = format!("level level-{}", level.to_lowercase());
                        let data_level = level.clone();
                        let fields = line["fields"].as_object().filter(|f| !f.is_empty())
                            .map(|f| f.iter().map(|(k, v)| format!("{k}={}", txt(v))).collect::<Vec<_>>().join(" "));
                        view! {
                            <tr data-level=data_level>
                                <td class="nowrap">{seconds(&line["ts"])}</td>
                                <td class=class>{level}</td>
                                <td class="target">{txt(&line["target"])}</td>
                                <td class="message">{txt(&line["message"])}{fields.map(|f| view! { " "<span class="fields">{f}</span> })}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody></table>
                }
                .into_any()
            }}
        </section>
    }
}

/// The current level, and (for those who may) a select and an apply
/// button that change it at run time.
#[component]
fn LevelControl(base: String, may_set: bool, csrf: Option<String>) -> impl IntoView {
    let path = format!("{base}/log-level");
    let read_path = path.clone();
    let current = LocalResource::new(move || api::get_owned(read_path.clone()));
    let chosen = RwSignal::new(String::from("info"));
    Effect::new(move |_| {
        if let Some(Ok(v)) = current.get() {
            chosen.set(txt(&v["level"]));
        }
    });
    let outcome = RwSignal::new(None::<Result<(), ApiErr>>);
    let apply = move |_| {
        let (path, csrf) = (path.clone(), csrf.clone());
        let body = json!({"level": chosen.get_untracked()});
        spawn_local(async move {
            match api::put(&path, &body, csrf.as_deref()).await {
                Ok(_) => {
                    outcome.set(Some(Ok(())));
                    current.refetch();
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    view! {
        <section id="log-level">
            <h2>{t(Key::LogLevel)}</h2>
            <p>{t(Key::Current)}": "<code id="current-level">{move || current.get().and_then(Result::ok).map(|v| txt(&v["level"])).unwrap_or_default()}</code></p>
            {may_set.then(|| view! {
                <div class="inline">
                    <select id="level-choice" on:change=move |ev| chosen.set(event_target_value(&ev))>
                        {LEVELS.iter().map(|lv| view! { <option value=*lv selected=move || chosen.get() == *lv>{*lv}</option> }).collect_view()}
                    </select>
                    <button type="button" id="level-apply" on:click=apply>{t(Key::Apply)}</button>
                </div>
            })}
            {move || outcome.get().map(|o| match o {
                Ok(()) => view! { <p class="ok" id="level-changed">{t(Key::LevelChanged)}</p> }.into_any(),
                Err(e) => view! { <ErrorLine err=e/> }.into_any(),
            })}
        </section>
    }
}

/// "The last …" of a range code, in the page's language.
fn last_range(l: Lang, code: &str) -> String {
    let (n, unit) = code.split_at(code.len() - 1);
    match (l, unit) {
        (Lang::Zh, "m") => format!("最近 {n} 分钟"),
        (Lang::Zh, "h") => format!("最近 {n} 小时"),
        (Lang::Zh, _) => format!("最近 {n} 天"),
        (Lang::En, "m") => format!("last {n} min"),
        (Lang::En, "h") => format!("last {n} h"),
        (Lang::En, _) => format!("last {n} days"),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
fn seconds(v: &Value) -> String {
    let Some(ms) = v.as_i64() else { return String::new() };
    format!("{}:{:02}", crate::app::time(v), ms.div_euclid(1000).rem_euclid(60))
}

/// Today's date, `YYYY-MM-DD` (UTC), as the download takes it.
fn today() -> String {
    crate::app::time(&Value::from(api::now_ms())).get(..10).unwrap_or_default().to_owned()
}

/// `s` as a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_encoded_for_the_query() {
        assert_eq!(encode("height=\\d+ & 错误"), "height%3D%5Cd%2B%20%26%20%E9%94%99%E8%AF%AF");
        assert_eq!(seconds(&Value::from(1_796_301_296_789_i64)), "2026-12-03 12:34:56");
        assert_eq!(last_range(Lang::Zh, "24h"), "最近 24 小时");
    }
}
