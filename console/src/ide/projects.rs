//! The IDE's contract projects (SPEC SC-6): the organization's projects and
//! the store shared across organizations; a new project is empty, from a
//! built-in template or a copy of a shared one. The open project's files
//! are listed (a click opens one, unsaved edits kept while switching);
//! saving makes a revision with a message, and the open file's history
//! lists its revisions, any of which opens back into the editor.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, t, time, txt},
    i18n::Key,
};

use super::js;

/// The open project: its detail and its files as edited in the browser.
#[derive(Clone, Copy)]
pub(super) struct Open {
    /// The project (`id`, `name`, `own`, `shared`, ...); `Null` for none.
    pub project: RwSignal<Value>,
    /// `(path, text)` of its files, with unsaved edits.
    pub files: RwSignal<Vec<(String, String)>>,
}

impl Open {
    pub(super) fn new() -> Open {
        Open { project: RwSignal::new(Value::Null), files: RwSignal::new(Vec::new()) }
    }

    fn id(&self) -> Option<i64> {
        self.project.with(|p| p["id"].as_i64())
    }

    /// The Solidity sources to compile: the project's `.sol` files with the
    /// editor's text for the open one, or the open file alone.
    pub(super) fn sources(&self, file: &str, text: &str) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .files
            .get_untracked()
            .into_iter()
            .filter(|(p, _)| p.ends_with(".sol") && p != file)
            .collect();
        all.push((file.to_owned(), text.to_owned()));
        all
    }

    fn load(&self, detail: Value, file: RwSignal<String>, source: RwSignal<String>) {
        let files: Vec<(String, String)> = detail["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (txt(&f["path"]), txt(&f["content"])))
            .collect();
        if let Some((p, text)) = files.iter().find(|(p, _)| p.ends_with(".sol")).or(files.first()) {
            file.set(p.clone());
            source.set(text.clone());
            js::set_value(text);
        }
        self.files.set(files);
        self.project.set(detail);
    }
}

#[component]
pub(super) fn Projects(
    open: Open,
    file: RwSignal<String>,
    source: RwSignal<String>,
    templates: LocalResource<Result<Value, ApiErr>>,
    csrf: Option<String>,
) -> impl IntoView {
    let list = LocalResource::new(|| api::get("/api/v1/contract-projects"));
    let error = RwSignal::new(None::<ApiErr>);
    let saved = RwSignal::new(None::<Value>);
    let history = LocalResource::new(move || {
        let (id, path) = (open.id(), file.get());
        let _ = saved.get();
        async move {
            match id {
                Some(id) => Some(
                    api::get_owned(format!("/api/v1/contract-projects/{id}/files/history?path={path}")).await,
                ),
                None => None,
            }
        }
    });
    let choose = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev);
        saved.set(None);
        if id.is_empty() {
            open.project.set(Value::Null);
            open.files.set(Vec::new());
            return;
        }
        spawn_local(async move {
            match api::get_owned(format!("/api/v1/contract-projects/{id}")).await {
                Ok(d) => open.load(d, file, source),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let switch_to = move |path: String| {
        let (current, text) = (file.get_untracked(), source.get_untracked());
        open.files.update(|fs| {
            if let Some(f) = fs.iter_mut().find(|(p, _)| *p == current) {
                f.1 = text;
            }
        });
        let next = open.files.with_untracked(|fs| fs.iter().find(|(p, _)| *p == path).map(|f| f.1.clone()));
        if let Some(text) = next {
            file.set(path);
            source.set(text.clone());
            js::set_value(&text);
        }
    };
    let new_name = RwSignal::new(String::new());
    let new_from = RwSignal::new(String::new());
    let create = {
        let csrf = csrf.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let mut body = json!({"name": new_name.get_untracked()});
            let from = new_from.get_untracked();
            let csrf = csrf.clone();
            spawn_local(async move {
                // Uploaded files first; then a template, a shared project or
                // the editor's text.
                let uploaded = api::read_files("new-project-files").await;
                if !uploaded.is_empty() {
                    let mut files = Vec::new();
                    for (name, bytes) in uploaded {
                        match String::from_utf8(bytes) {
                            Ok(content) => files.push(json!({"path": name, "content": content})),
                            Err(_) => {
                                error.set(Some(ApiErr {
                                    status: 422,
                                    code: "invalid".into(),
                                    message: format!("{name} is not UTF-8 text"),
                                    field: Some("files".into()),
                                    reason: None,
                                }));
                                return;
                            }
                        }
                    }
                    body["files"] = json!(files);
                } else {
                    match from.split_once(':') {
                        Some(("template", name)) => body["template"] = json!(name),
                        Some(("shared", id)) => body["from_shared"] = json!(id.parse::<i64>().unwrap_or(0)),
                        _ => {
                            body["files"] =
                                json!([{"path": file.get_untracked(), "content": source.get_untracked()}])
                        }
                    }
                }
                match api::post("/api/v1/contract-projects", &body, csrf.as_deref()).await {
                    Ok(d) => {
                        error.set(None);
                        open.load(d, file, source);
                        list.refetch();
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let message = RwSignal::new(String::new());
    let save = {
        let csrf = csrf.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let Some(id) = open.id() else { return };
            let (path, content) = (file.get_untracked(), source.get_untracked());
            let body = json!({"path": path, "content": content, "message": message.get_untracked()});
            let csrf = csrf.clone();
            spawn_local(async move {
                match api::put(&format!("/api/v1/contract-projects/{id}/files"), &body, csrf.as_deref()).await
                {
                    Ok(r) => {
                        error.set(None);
                        open.files.update(|fs| match fs.iter_mut().find(|(p, _)| *p == path) {
                            Some(f) => f.1 = content,
                            None => fs.push((path, content)),
                        });
                        message.set(String::new());
                        saved.set(Some(r));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let share = move |_| {
        let Some(id) = open.id() else { return };
        let shared = open.project.with_untracked(|p| p["shared"] == true);
        let csrf = csrf.clone();
        spawn_local(async move {
            let path = format!("/api/v1/contract-projects/{id}/share");
            let r = if shared {
                api::delete(&path, csrf.as_deref()).await
            } else {
                api::post(&path, &json!({}), csrf.as_deref()).await
            };
            match r {
                Ok(_) => {
                    open.project.update(|p| p["shared"] = json!(!shared));
                    list.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let restore = move |rev: i64| {
        let Some(id) = open.id() else { return };
        spawn_local(async move {
            match api::get_owned(format!("/api/v1/contract-projects/{id}/revisions/{rev}")).await {
                Ok(r) => {
                    let text = txt(&r["content"]);
                    source.set(text.clone());
                    js::set_value(&text);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let projects =
        move || list.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default();
    view! {
        <section id="ide-projects">
            <div class="ide-bar">
                <label>{t(Key::Project)}" "
                    <select id="ide-project" on:change=choose prop:value=move || open.id().map(|i| i.to_string()).unwrap_or_default()>
                        <option value="">{t(Key::NoProject)}</option>
                        {move || projects().into_iter().map(|p| {
                            let label = if p["own"] == true { txt(&p["name"]) } else { format!("{} · {}", txt(&p["name"]), t(Key::SharedStore)) };
                            view! { <option value=txt(&p["id"]) data-own=txt(&p["own"])>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {move || (open.project.with(|p| p["own"] == true)).then(|| view! {
                    <button type="button" id="ide-share" data-shared=move || open.project.with(|p| p["shared"].to_string()) on:click=share.clone()>
                        {move || if open.project.with(|p| p["shared"] == true) { t(Key::Unshare) } else { t(Key::Share) }}
                    </button>
                })}
            </div>
            <details id="ide-new-project">
                <summary>{t(Key::NewProject)}</summary>
                <form class="ide-bar" on:submit=create>
                    <label>{t(Key::Name)}" "<input id="new-project-name" required prop:value=move || new_name.get()
                        on:input=move |ev| new_name.set(event_target_value(&ev))/></label>
                    <label>{t(Key::StartFrom)}" "
                        <select id="new-project-from" on:change=move |ev| new_from.set(event_target_value(&ev))>
                            <option value="">{t(Key::EditorText)}</option>
                            {move || templates.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default()
                                .into_iter().map(|x| view! { <option value=format!("template:{}", txt(&x["name"]))>{t(Key::Template)}" "{txt(&x["name"])}</option> })
                                .collect_view()}
                            {move || projects().into_iter().filter(|p| p["own"] != true).map(|p| view! {
                                <option value=format!("shared:{}", txt(&p["id"]))>{t(Key::SharedStore)}" "{txt(&p["name"])}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>{t(Key::OrUpload)}" "<input type="file" id="new-project-files" multiple accept=".sol,.json,.md"/></label>
                    <button type="submit" id="new-project-create">{t(Key::Create)}</button>
                </form>
            </details>
            {move || error.get().map(|e| view! { <div id="ide-project-error"><ErrorLine err=e/></div> })}
            {move || open.id().map(|_| view! {
                <ul id="ide-files" class="files">
                    {move || open.files.get().into_iter().map(|(p, _)| {
                        let current = p == file.get();
                        let path = p.clone();
                        view! { <li><button type="button" class=if current { "file current" } else { "file" } data-path=p.clone()
                            on:click=move |_| switch_to(path.clone())>{p.clone()}</button></li> }
                    }).collect_view()}
                </ul>
                <form class="ide-bar" id="ide-save-form" on:submit=save.clone()>
                    <input id="ide-save-message" placeholder=t(Key::SaveMessage) prop:value=move || message.get()
                        on:input=move |ev| message.set(event_target_value(&ev))/>
                    <button type="submit" id="ide-save">{t(Key::Save)}</button>
                    {move || saved.get().map(|r| view! { <span class="ok" id="ide-saved" data-revision=txt(&r["revision"])>
                        {t(Key::Saved)}" #"{txt(&r["revision"])}</span> })}
                </form>
                <details id="ide-history-box">
                    <summary>{t(Key::History)}" · "{move || file.get()}</summary>
                    {move || history.get().flatten().map(|r| match r {
                        Err(e) => view! { <ErrorLine err=e/> }.into_any(),
                        Ok(v) => view! {
                            <ul id="ide-history" class="plain">
                                {v.as_array().cloned().unwrap_or_default().into_iter().map(|h| {
                                    let rev = h["revision"].as_i64().unwrap_or(0);
                                    view! {
                                        <li class="revision" data-revision=rev.to_string() data-action=txt(&h["action"])>
                                            "#"{rev}" · "{txt(&h["action"])}" · "{time(&h["created_at"])}" · "{txt(&h["message"])}
                                            " · "{txt(&h["size"])}" B "
                                            {(h["action"] != "delete").then(|| view! {
                                                <button type="button" class="link restore" on:click=move |_| restore(rev)>{t(Key::OpenRevision)}</button>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    })}
                </details>
            })}
        </section>
    }
}
