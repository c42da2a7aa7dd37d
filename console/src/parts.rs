//! Parts several pages share: a list read a page at a time, an action
//! button that asks before it acts, a one-time password shown once, a
//! form's refusal shown next to the field it concerns, a set of
//! checkboxes, and a review's approve-or-reject with an opinion.

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

use crate::{
    api::{self, ApiErr},
    app::{t, to_login},
    i18n::Key,
};

/// Rows of a list the API pages with `limit` and `before` (an id), newest
/// first: the rows read so far, whether a next page may exist, and the
/// last error.
#[derive(Clone, Copy)]
pub(crate) struct Pager {
    /// The rows read so far.
    pub(crate) rows: RwSignal<Vec<Value>>,
    /// Whether the last page was full (so "more" may find rows).
    pub(crate) more: RwSignal<bool>,
    /// The last read's error.
    pub(crate) error: RwSignal<Option<ApiErr>>,
    before: RwSignal<Option<i64>>,
    path: StoredValue<String>,
    size: usize,
}

impl Pager {
    /// A pager over `path` (its own query, without `limit` and `before`),
    /// `size` rows a page; nothing is read until [`load`](Self::load).
    pub(crate) fn new(path: &str, size: usize) -> Pager {
        Pager {
            rows: RwSignal::new(Vec::new()),
            more: RwSignal::new(false),
            error: RwSignal::new(None),
            before: RwSignal::new(None),
            path: StoredValue::new(path.to_owned()),
            size,
        }
    }

    /// Reads from `path` from now on (a changed filter); call
    /// [`load`](Self::load) with `reset` after.
    pub(crate) fn set_path(&self, path: String) {
        self.path.set_value(path);
    }

    /// Reads the first page again (`reset`: after a change, or live news)
    /// or the next one.
    pub(crate) fn load(&self, reset: bool) {
        let this = *self;
        if reset {
            this.before.set(None);
        }
        let base = this.path.get_value();
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut path = format!("{base}{sep}limit={}", this.size);
        if let Some(b) = this.before.get_untracked() {
            path.push_str(&format!("&before={b}"));
        }
        spawn_local(async move {
            match api::get(&path).await {
                Ok(v) => {
                    let page = v.as_array().cloned().unwrap_or_default();
                    this.more.set(page.len() == this.size);
                    this.before.set(page.last().and_then(|r| r["id"].as_i64()));
                    this.rows.update(|rs| {
                        if reset {
                            rs.clear();
                        }
                        rs.extend(page);
                    });
                    this.error.set(None);
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => this.error.set(Some(e)),
            }
        });
    }

    /// The "more" button (id `id`), shown while a next page may exist.
    pub(crate) fn more_button(&self, id: &'static str) -> impl IntoView + use<> {
        let this = *self;
        move || {
            this.more.get().then(|| {
                view! { <button type="button" id=id on:click=move |_| this.load(false)>{t(Key::More)}</button> }
            })
        }
    }
}

/// A button that asks before it acts: the first click shows `question`
/// with a confirm and a cancel button (ids `{id}-confirm`, `{id}-cancel`);
/// only the confirm runs `act`.
pub(crate) fn confirm_button(
    id: String,
    label: Key,
    question: Key,
    act: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    move || {
        let id = id.clone();
        if asking.get() {
            let act = act.clone();
            view! {
                <span class="confirm" role="alertdialog">
                    <span>{t(question)}</span>
                    <button type="button" class="danger" id=format!("{id}-confirm")
                        on:click=move |_| { asking.set(false); act(); }>{t(Key::Confirm)}</button>
                    <button type="button" id=format!("{id}-cancel") on:click=move |_| asking.set(false)>{t(Key::Cancel)}</button>
                </span>
            }
            .into_any()
        } else {
            view! { <button type="button" id=id on:click=move |_| asking.set(true)>{t(label)}</button> }
                .into_any()
        }
    }
}

/// A one-time password, shown once, with a copy button (ids
/// `initial-password`, `copy-password`).
/// `label` and `note` say whose it is (an organization's administrator's,
/// or a user's).
pub(crate) fn one_time_password(label: Key, note: Key, user: String, pw: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy_pw = pw.clone();
    view! {
        <div class="ok" id="created">
            <p>{t(label)}" ("<code>{user}</code>"): "<code id="initial-password">{pw}</code>" "
                <button type="button" id="copy-password" on:click=move |_| { api::copy(&copy_pw); copied.set(true); }>
                    {move || t(if copied.get() { Key::Copied } else { Key::Copy })}
                </button>
            </p>
            <p class="hint">{t(note)}</p>
        </div>
    }
}

/// A form's latest refusal: the field the server named (none: the whole
/// form) and what to say.
pub(crate) type Refusal = RwSignal<Option<(Option<String>, Key)>>;

/// The refusal next to field `f` (id `{f}-error`), while it is `f`'s.
pub(crate) fn field_error(error: Refusal, f: &'static str) -> impl IntoView + Copy + use<> {
    move || {
        error.get().filter(|(ef, _)| ef.as_deref() == Some(f)).map(|(_, k)| {
            view! { <span class="error field-error" role="alert" id=format!("{f}-error")>{t(k)}</span> }
        })
    }
}

/// One checkbox of a set whose ticked values are `chosen`: `value` is
/// sent, `label` shown.
pub(crate) fn check(chosen: RwSignal<Vec<String>>, value: String, label: String) -> impl IntoView {
    let (shown, toggled) = (value.clone(), value.clone());
    view! {
        <label class="check"><input type="checkbox" value=value
            prop:checked=move || chosen.with(|c| c.contains(&shown))
            on:change=move |ev| {
                let on = event_target_checked(&ev);
                let v = toggled.clone();
                chosen.update(|c| { c.retain(|x| *x != v); if on { c.push(v); } });
            }/>{label}</label>
    }
}

/// Approve or reject with an opinion (an `opinion` input, `approve` and
/// `reject` buttons): posts `{approve, opinion}` to `path`, then runs
/// `done`; a refusal goes to `error`.
pub(crate) fn decision(
    path: String,
    csrf: Option<String>,
    error: RwSignal<Option<ApiErr>>,
    done: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let opinion = RwSignal::new(String::new());
    let decide = move |approve: bool| {
        let (path, csrf, done) = (path.clone(), csrf.clone(), done.clone());
        let body = serde_json::json!({"approve": approve, "opinion": opinion.get_untracked()});
        spawn_local(async move {
            match api::post(&path, &body, csrf.as_deref()).await {
                Ok(_) => {
                    error.set(None);
                    done();
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let reject = decide.clone();
    view! {
        <div class="decide">
            <input name="opinion" placeholder=t(Key::Opinion) bind:value=opinion/>
            <button type="button" class="approve" on:click=move |_| decide(true)>{t(Key::Approve)}</button>
            <button type="button" class="reject danger" on:click=move |_| reject(false)>{t(Key::Reject)}</button>
        </div>
    }
}
