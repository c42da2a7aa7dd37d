//! Administration (SPEC ORG-2..4, ORG-6): the organization's users
//! (create with a one-time password shown once, reset a password, freeze
//! and unfreeze, each asked first), roles with a permission picker, and the
//! operation log (filters, a page at a time, CSV export, verification of
//! its chain of hashes).

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, lang, list_of, t, time, to_login, txt},
    i18n::{self, Key},
    parts::{Pager, check, confirm_button, field_error, one_time_password},
};

/// How many operation log entries the page reads at a time.
const AUDIT_PAGE: usize = 100;

/// The organization's users (every user for the platform operator).
#[component]
pub fn UsersPage() -> impl IntoView {
    authed(Key::Users, false, |s: Session| {
        let l = lang();
        // `?identity=pending` (where a submission's message points) filters
        // on the real-name verification's state.
        let q = leptos_router::hooks::use_query_map();
        let identity = RwSignal::new(q.with_untracked(|q| q.get("identity")).unwrap_or_default());
        let users = LocalResource::new(move || {
            let state = identity.get();
            let query = if state.is_empty() { String::new() } else { format!("?identity={state}") };
            api::get_owned(format!("/api/v1/users{query}"))
        });
        let roles = LocalResource::new(|| api::get("/api/v1/roles"));
        let review_csrf = s.csrf();
        let csrf = s.csrf();
        let me = txt(&s.0["user"]["id"]);
        // The latest one-time password (a new user's, or a reset's).
        let issued = RwSignal::new(None::<(String, String)>);
        let error = RwSignal::new(None::<ApiErr>);
        let act = move |path: String| {
            let csrf = csrf.clone();
            spawn_local(async move {
                match api::post(&path, &json!({}), csrf.as_deref()).await {
                    Ok(v) => {
                        error.set(None);
                        if let Some(pw) = v["initial_password"].as_str() {
                            issued.set(Some((txt(&v["user"]["username"]), pw.to_owned())));
                        }
                        users.refetch();
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(e)),
                }
            });
        };
        view! {
            {new_user(&s, roles, issued, move || users.refetch())}
            {move || issued.get().map(|(user, pw)| one_time_password(Key::OneTimePassword, Key::OneTimePasswordNote, user, pw))}
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
            <section id="user-list">
                <h2>{t(Key::Users)}</h2>
                <label class="filter">{t(Key::Identity)}
                    <select id="identity-filter" prop:value=move || identity.get()
                        on:change=move |ev| identity.set(event_target_value(&ev))>
                        <option value="">{t(Key::AllStates)}</option>
                        {["unverified", "pending", "verified", "rejected"].map(|v| view! {
                            <option value=v selected=move || identity.get() == v>{i18n::identity_state(l, v)}</option>
                        }).collect_view()}
                    </select>
                </label>
                {list_of(users, move |us| {
                    let act = act.clone();
                    let me = me.clone();
                    let review_csrf = review_csrf.clone();
                    view! {
                        <table id="users"><thead><tr><th>{t(Key::Username)}</th><th>{t(Key::RealName)}</th><th>{t(Key::Roles)}</th>
                            <th>{t(Key::Status)}</th><th>{t(Key::Identity)}</th><th>{t(Key::LastLogin)}</th><th>{t(Key::Actions)}</th></tr></thead>
                        <tbody>{us.into_iter().map(|u| {
                            let id = txt(&u["id"]);
                            let name = txt(&u["username"]);
                            let status = txt(&u["status"]);
                            let frozen = status == "frozen";
                            let (reset, freeze) = (act.clone(), act.clone());
                            let (reset_path, freeze_path) = (
                                format!("/api/v1/users/{id}/reset-password"),
                                format!("/api/v1/users/{id}/{}", if frozen { "unfreeze" } else { "freeze" }),
                            );
                            let oneself = id == me;
                            let idn = &u["identity"];
                            let id_state = txt(&idn["status"]);
                            let review = (id_state == "pending" && !oneself).then(|| {
                                let path = format!("/api/v1/users/{id}/identity-review");
                                crate::parts::decision(path, review_csrf.clone(), error, move || users.refetch())
                            });
                            view! {
                                <tr data-name=name.clone() data-status=status.clone() data-identity=id_state.clone()>
                                    <td>{name.clone()}</td>
                                    <td>{txt(&u["real_name"])}</td>
                                    <td>{u["roles"].as_array().map(|r| r.iter().map(|n| i18n::role(l, &txt(n))).collect::<Vec<_>>().join(l.t(Key::ListSep))).unwrap_or_default()}</td>
                                    <td class=format!("state-{status}")>{i18n::state(l, &status)}</td>
                                    <td class="identity">
                                        <span class=format!("state-{id_state}")>{i18n::identity_state(l, &id_state)}</span>
                                        {(!txt(&idn["number"]).is_empty()).then(|| view! {
                                            " "<span class="muted">{i18n::identity_kind(l, &txt(&idn["kind"]))}" "<code>{txt(&idn["number"])}</code></span>
                                        })}
                                        {(!txt(&idn["opinion"]).is_empty()).then(|| view! { <p class="hint">{txt(&idn["opinion"])}</p> })}
                                        {review}
                                    </td>
                                    <td>{if u["last_login_at"].as_i64().unwrap_or(0) > 0 { time(&u["last_login_at"]) } else { "—".to_owned() }}</td>
                                    <td class="actions">{(!oneself).then(|| view! {
                                        {confirm_button(format!("{name}-reset"), Key::ResetPassword, Key::ConfirmReset, move || reset(reset_path.clone()))}
                                        {confirm_button(
                                            format!("{name}-{}", if frozen { "unfreeze" } else { "freeze" }),
                                            if frozen { Key::Unfreeze } else { Key::Freeze },
                                            if frozen { Key::ConfirmUnfreeze } else { Key::ConfirmFreeze },
                                            move || freeze(freeze_path.clone()),
                                        )}
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody></table>
                    }.into_any()
                })}
            </section>
        }
    })
}

/// The form that creates a user: name, real name and roles (the ones the
/// organization may give); the one-time password shows once, with a copy
/// button.
fn new_user<F: Fn() + Clone + Send + Sync + 'static>(
    s: &Session,
    roles: LocalResource<Result<Value, ApiErr>>,
    issued: RwSignal<Option<(String, String)>>,
    done: F,
) -> impl IntoView + use<F> {
    let (l, platform) = (lang(), s.platform());
    let csrf = s.csrf();
    let username = RwSignal::new(String::new());
    let real_name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    let error = RwSignal::new(None::<(Option<String>, Key)>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let body = json!({
            "username": username.get_untracked().trim(),
            "real_name": real_name.get_untracked().trim(),
            "roles": chosen.get_untracked(),
        });
        let (csrf, done) = (csrf.clone(), done.clone());
        spawn_local(async move {
            match api::post("/api/v1/users", &body, csrf.as_deref()).await {
                Ok(v) => {
                    issued.set(Some((txt(&v["user"]["username"]), txt(&v["initial_password"]))));
                    username.set(String::new());
                    real_name.set(String::new());
                    chosen.set(Vec::new());
                    done();
                }
                Err(e) if e.signed_out() => to_login(&e),
                Err(e) => error.set(Some(match (e.status, e.field.clone()) {
                    (409, _) => (Some("username".into()), Key::UsernameTaken),
                    (0, _) => (None, Key::NetworkError),
                    (403, _) => (None, Key::Forbidden),
                    (_, field) => (field, Key::InvalidField),
                })),
            }
        });
    };
    view! {
        <section id="user-new">
            <h2>{t(Key::NewUser)}</h2>
            <form id="user-form" on:submit=submit>
                <label>{t(Key::Username)}<input name="username" required bind:value=username/>{field_error(error, "username")}</label>
                <label>{t(Key::RealName)}<input name="real_name" required bind:value=real_name/>{field_error(error, "real_name")}</label>
                <fieldset id="user-roles"><legend>{t(Key::Roles)}</legend>
                    {move || roles.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default().into_iter()
                        // Roles with the platform's own permissions are the
                        // platform's to give.
                        .filter(|r| platform || !r["permissions"].as_array().is_some_and(|ps| ps.iter().any(|p| p == "platform_admin" || p == "request_approve")))
                        .map(|r| {
                            let name = txt(&r["name"]);
                            check(chosen, name.clone(), i18n::role(l, &name))
                        }).collect_view()}
                    {field_error(error, "roles")}
                </fieldset>
                {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! { <p class="error" role="alert" id="user-error">{t(k)}</p> })}
                <button type="submit">{t(Key::Create)}</button>
            </form>
        </section>
    }
}

/// The operation log: filters, the newest entries first, CSV export of the
/// same selection, and verification of the chain of hashes.
#[component]
pub fn AuditPage() -> impl IntoView {
    authed(Key::AuditLog, false, |s: Session| {
        let actor = RwSignal::new(String::new());
        let action = RwSignal::new(String::new());
        let result = RwSignal::new(String::new());
        let query = RwSignal::new(String::new());
        let pager = Pager::new("/api/v1/audit", AUDIT_PAGE);
        Effect::new(move |_| pager.load(true));
        let apply = move |ev: SubmitEvent| {
            ev.prevent_default();
            let mut q = String::new();
            for (key, v) in [("actor", actor), ("action", action), ("result", result)] {
                let v = v.get_untracked();
                if !v.trim().is_empty() {
                    q.push_str(&format!("&{key}={}", encode(v.trim())));
                }
            }
            pager.set_path(format!("/api/v1/audit?{}", q.trim_start_matches('&')));
            pager.load(true);
            query.set(q);
        };
        let verified = RwSignal::new(None::<Result<Value, ApiErr>>);
        let verify = move |_| {
            spawn_local(async move { verified.set(Some(api::get("/api/v1/audit/verify").await)) });
        };
        let export = s.may("audit_export");
        view! {
            <form id="audit-filter" class="inline" on:submit=apply>
                <label>{t(Key::Operator)}<input name="actor" bind:value=actor/></label>
                <label>{t(Key::Action)}<input name="action" bind:value=action/></label>
                <label>{t(Key::Result)}<input name="result" bind:value=result/></label>
                <button type="submit">{t(Key::Filter)}</button>
                {export.then(|| view! {
                    <a class="download" id="audit-export" href=move || format!("/api/v1/audit/export?limit=10000{}", query.get()) download>{t(Key::ExportCsv)}</a>
                })}
                <button type="button" id="audit-verify" on:click=verify>{t(Key::VerifyChain)}</button>
            </form>
            {move || verified.get().map(|r| match r {
                Ok(v) if v["ok"].as_bool() == Some(true) => view! {
                    <p class="ok" id="audit-verified">{t(Key::ChainIntact)}" ("{txt(&v["checked"])}")"</p>
                }.into_any(),
                Ok(v) => view! {
                    <p class="error" role="alert" id="audit-broken">{t(Key::ChainBroken)}" #"{txt(&v["first_bad_id"])}</p>
                }.into_any(),
                Err(e) => view! { <ErrorLine err=e/> }.into_any(),
            })}
            {move || pager.error.get().map(|e| view! { <ErrorLine err=e/> })}
            {move || if pager.rows.with(Vec::is_empty) {
                view! { <p class="muted" id="no-entries">{t(Key::NoOperations)}</p> }.into_any()
            } else {
                view! {
                    <table id="audit"><thead><tr><th>"#"</th><th>{t(Key::Time)}</th><th>{t(Key::Operator)}</th><th>{t(Key::Action)}</th>
                        <th>{t(Key::Result)}</th><th>{t(Key::Detail)}</th></tr></thead>
                    <tbody>{pager.rows.get().into_iter().map(|e| view! {
                        <tr data-id=txt(&e["id"]) data-result=txt(&e["result"])>
                            <td>{txt(&e["id"])}</td><td>{time(&e["at"])}</td><td>{txt(&e["actor"])}</td>
                            <td><code>{txt(&e["action"])}</code></td><td>{txt(&e["result"])}</td><td>{txt(&e["detail"])}</td>
                        </tr>
                    }).collect_view()}</tbody></table>
                }.into_any()
            }}
            {pager.more_button("more-entries")}
        }
    })
}

/// Roles: the built-in ones (read-only) and the organization's own, made
/// and edited with a permission picker (the platform's own permissions
/// only for the platform).
#[component]
pub fn RolesPage() -> impl IntoView {
    authed(Key::RolesPage, false, |s: Session| {
        let l = lang();
        let roles = LocalResource::new(|| api::get("/api/v1/roles"));
        let perms = LocalResource::new(|| api::get("/api/v1/permissions"));
        let platform = s.platform();
        let csrf = s.csrf();
        // The role being edited (None: a new one), its name and permissions.
        let editing = RwSignal::new(None::<i64>);
        let name = RwSignal::new(String::new());
        let chosen = RwSignal::new(Vec::<String>::new());
        let error = RwSignal::new(None::<(Option<String>, Key)>);
        let saved = RwSignal::new(false);
        let refusal = |e: &ApiErr| match (e.status, e.field.clone()) {
            (0, _) => (None, Key::NetworkError),
            (403, _) => (None, Key::Forbidden),
            (409, _) => (Some("name".to_owned()), Key::RoleTaken),
            (_, field) => (field.or(Some("name".into())), Key::InvalidField),
        };
        let csrf2 = csrf.clone();
        let submit = move |ev: SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            saved.set(false);
            let body = json!({"name": name.get_untracked().trim(), "permissions": chosen.get_untracked()});
            let csrf = csrf2.clone();
            spawn_local(async move {
                let r = match editing.get_untracked() {
                    Some(id) => api::put(&format!("/api/v1/roles/{id}"), &body, csrf.as_deref()).await,
                    None => api::post("/api/v1/roles", &body, csrf.as_deref()).await,
                };
                match r {
                    Ok(_) => {
                        saved.set(true);
                        editing.set(None);
                        name.set(String::new());
                        chosen.set(Vec::new());
                        roles.refetch();
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(refusal(&e))),
                }
            });
        };
        let remove = move |id: i64| {
            let csrf = csrf.clone();
            spawn_local(async move {
                match api::delete(&format!("/api/v1/roles/{id}"), csrf.as_deref()).await {
                    Ok(_) => roles.refetch(),
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(match e.status {
                        409 => (None, Key::RoleInUse),
                        _ => refusal(&e),
                    })),
                }
            });
        };
        view! {
            <section id="role-list">
                <h2>{t(Key::RolesPage)}</h2>
                {list_of(roles, move |rs| {
                    let remove = remove.clone();
                    view! {
                        <table id="roles"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Kind)}</th><th>{t(Key::Permissions)}</th><th>{t(Key::Actions)}</th></tr></thead>
                        <tbody>{rs.into_iter().map(|r| {
                            let id = r["id"].as_i64().unwrap_or_default();
                            let builtin = r["builtin"].as_bool().unwrap_or(false);
                            let role_perms: Vec<String> = r["permissions"].as_array().map(|a| a.iter().map(txt).collect()).unwrap_or_default();
                            let (role_name, perms2) = (txt(&r["name"]), role_perms.clone());
                            let remove = remove.clone();
                            view! {
                                <tr data-name=txt(&r["name"])>
                                    <td>{i18n::role(l, &txt(&r["name"]))}</td>
                                    <td>{t(if builtin { Key::BuiltIn } else { Key::Custom })}</td>
                                    <td class="perms">{role_perms.iter().map(|p| i18n::permission(l, p)).collect::<Vec<_>>().join(l.t(Key::ListSep))}</td>
                                    <td class="actions">{(!builtin).then(|| view! {
                                        <button type="button" class="edit" on:click=move |_| {
                                            editing.set(Some(id));
                                            name.set(role_name.clone());
                                            chosen.set(perms2.clone());
                                            error.set(None);
                                            saved.set(false);
                                        }>{t(Key::Edit)}</button>
                                        {confirm_button(format!("role-{id}-delete"), Key::Delete, Key::ConfirmDeleteRole, move || remove(id))}
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody></table>
                    }.into_any()
                })}
            </section>
            <section id="role-edit">
                <h2>{move || t(if editing.get().is_some() { Key::EditRole } else { Key::NewRole })}</h2>
                <form id="role-form" on:submit=submit>
                    <label>{t(Key::Name)}<input name="name" required bind:value=name/>{field_error(error, "name")}</label>
                    <fieldset id="role-perms"><legend>{t(Key::Permissions)}</legend>
                        {move || perms.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default().into_iter()
                            .filter(|p| platform || p["platform_only"] != true)
                            .map(|p| {
                                let perm = txt(&p["name"]);
                                check(chosen, perm.clone(), i18n::permission(l, &perm))
                            }).collect_view()}
                        {field_error(error, "permissions")}
                    </fieldset>
                    {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! { <p class="error" role="alert" id="role-error">{t(k)}</p> })}
                    {move || saved.get().then(|| view! { <p class="ok" id="role-saved">{t(Key::Saved)}</p> })}
                    <button type="submit">{move || t(if editing.get().is_some() { Key::Save } else { Key::Create })}</button>
                </form>
            </section>
        }
    })
}

/// Every department's quota, grant beside use (the platform operator).
#[component]
pub fn QuotasPage() -> impl IntoView {
    authed(Key::Quotas, false, |_s: Session| {
        let l = lang();
        let quotas = LocalResource::new(|| api::get("/api/v1/quotas"));
        view! {
            <p class="lead">{t(Key::QuotasLead)}</p>
            {list_of(quotas, move |qs| if qs.is_empty() {
                view! { <p class="muted" id="no-quotas">{t(Key::NoOrgs)}</p> }.into_any()
            } else {
                let cell = |q: &Value, used: &str, granted: &str| {
                    let (u, g) = (q[used].as_i64().unwrap_or(0), q[granted].as_i64().unwrap_or(0));
                    let full = g > 0 && u >= g;
                    view! { <td class:full=full>{u}" / "{g}</td> }
                };
                view! {
                    <table id="quotas"><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Domain)}</th><th>{t(Key::Status)}</th>
                        <th>{t(Key::Nodes)}</th><th>{t(Key::Cpu)}</th><th>{t(Key::Memory)}</th><th>{t(Key::Storage)}</th></tr></thead>
                    <tbody>{qs.into_iter().map(|o| {
                        let q = &o["quota"];
                        view! {
                            <tr data-domain=txt(&o["domain"])>
                                <td>{txt(&o["org_name"])}</td><td>{txt(&o["domain"])}</td>
                                <td>{i18n::state(l, &txt(&o["status"]))}</td>
                                {cell(q, "used_nodes", "nodes")}
                                {cell(q, "used_cpu_millis", "cpu_millis")}
                                {cell(q, "used_memory_mb", "memory_mb")}
                                {cell(q, "used_storage_mb", "storage_mb")}
                            </tr>
                        }
                    }).collect_view()}</tbody></table>
                    <p class="hint">{t(Key::QuotasNote)}</p>
                }.into_any()
            })}
        }
    })
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("POST /chains"), "POST%20%2Fchains");
        assert_eq!(encode("审计"), "%E5%AE%A1%E8%AE%A1");
        assert_eq!(encode("a&b=c"), "a%26b%3Dc");
    }
}
