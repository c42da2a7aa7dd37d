//! The pages. Every string comes from [`crate::i18n`]; data comes from the
//! REST API, fetched in the browser once the page is hydrated.

use std::sync::Arc;

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{
    components::{Route, Router, Routes},
    hooks::use_query_map,
    path,
};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    i18n::{self, Key, Lang},
};

pub(crate) fn lang() -> Lang {
    use_context::<Lang>().unwrap_or_default()
}

pub(crate) fn t(k: Key) -> &'static str {
    lang().t(k)
}

/// The whole console: the body of every page.
#[component]
pub fn App() -> impl IntoView {
    provide_context(api::current_lang());
    view! {
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=HomePage/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/password") view=PasswordPage/>
                <Route path=path!("/account") view=AccountPage/>
                <Route path=path!("/orgs") view=OrgsPage/>
                <Route path=path!("/requests") view=crate::requests::RequestsPage/>
                <Route path=path!("/requests/:id") view=crate::requests::RequestPage/>
                <Route path=path!("/approvals") view=crate::requests::ApprovalsPage/>
                <Route path=path!("/chains") view=crate::chains::ChainsPage/>
                <Route path=path!("/chains/:id") view=crate::chains::ChainPage/>
                <Route path=path!("/chains/:id/explorer") view=crate::explorer::ExplorerPage/>
                <Route path=path!("/chains/:id/evidence") view=crate::evidence::EvidencePage/>
                <Route path=path!("/chains/:id/contracts") view=crate::contracts::ContractsPage/>
                <Route path=path!("/ide") view=crate::ide::IdePage/>
                <Route path=path!("/monitor") view=crate::monitor::MonitorPage/>
                <Route path=path!("/logs") view=crate::logs::LogsPage/>
                <Route path=path!("/alerts") view=crate::alerts::AlertsPage/>
                <Route path=path!("/alerts/:id") view=crate::alerts::AlertPage/>
                <Route path=path!("/invitations") view=crate::inbox::InvitationsPage/>
                <Route path=path!("/messages") view=crate::inbox::MessagesPage/>
                <Route path=path!("/users") view=crate::admin::UsersPage/>
                <Route path=path!("/audit") view=crate::admin::AuditPage/>
                <Route path=path!("/roles") view=crate::admin::RolesPage/>
                <Route path=path!("/quotas") view=crate::admin::QuotasPage/>
            </Routes>
        </Router>
    }
}

/// Who is signed in: the body of `GET /api/v1/auth/me`.
#[derive(Clone)]
pub(crate) struct Session(pub(crate) Value);

impl Session {
    pub(crate) fn csrf(&self) -> Option<String> {
        self.0["csrf_token"].as_str().map(str::to_owned)
    }
    pub(crate) fn platform(&self) -> bool {
        self.0["org"]["is_platform"].as_bool().unwrap_or(false)
    }
    pub(crate) fn org_id(&self) -> i64 {
        self.0["org"]["id"].as_i64().unwrap_or_default()
    }
    /// Whether the caller acts for organization `org` (a platform
    /// administrator acts for every one), as the API decides it.
    pub(crate) fn acts_for(&self, org: i64) -> bool {
        (self.platform() && self.may("platform_admin")) || self.org_id() == org
    }
    pub(crate) fn may(&self, perm: &str) -> bool {
        self.0["permissions"].as_array().is_some_and(|a| a.iter().any(|p| p == perm))
    }
    fn must_change_password(&self) -> bool {
        self.0["user"]["must_change_password"].as_bool().unwrap_or(false)
    }
    fn username(&self) -> String {
        txt(&self.0["user"]["username"])
    }
    /// The organization's name; the platform's own in the page's language.
    pub(crate) fn org_name(&self) -> String {
        if self.platform() { t(Key::Platform).to_owned() } else { txt(&self.0["org"]["name"]) }
    }
}

pub(crate) fn txt(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The page's `:id` (0, which names nothing, when it is not a number).
pub(crate) fn id_param() -> impl Fn() -> i64 + Clone + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0))
}

/// Where a page goes when the API says the caller is not signed in.
pub(crate) fn to_login(e: &ApiErr) {
    if e.code == "session_expired" {
        api::go("/login?expired=1");
    } else {
        api::go("/login?signin=1");
    }
}

/// The header: the product, the language switch, and (once signed in) the
/// menu and the sign-out button.
#[component]
fn Header(#[prop(optional)] session: Option<Session>) -> impl IntoView {
    let l = lang();
    let menu = session.map(|s| {
        let csrf = s.csrf();
        let sign_out = move |_| {
            let csrf = csrf.clone();
            spawn_local(async move {
                let _ = api::post("/api/v1/auth/logout", &json!({}), csrf.as_deref()).await;
                api::go("/login?signed_out=1");
            });
        };
        let orgs = s.may("platform_admin").then(|| {
            view! {
                <a href="/orgs" id="nav-orgs">{t(Key::Organizations)}</a>
                <a href="/quotas" id="nav-quotas">{t(Key::Quotas)}</a>
            }
        });
        let approvals = (s.platform() && s.may("request_approve"))
            .then(|| view! { <a href="/approvals" id="nav-approvals">{t(Key::Approvals)}</a> });
        let requests = (s.may("request_view") || s.may("request_create"))
            .then(|| view! { <a href="/requests" id="nav-requests">{t(Key::Requests)}</a> });
        view! {
            <nav>
                <a href="/" id="nav-home">{t(Key::Home)}</a>
                <a href="/chains" id="nav-chains">{t(Key::Chains)}</a>
                {requests}
                {approvals}
                {s.may("contract_deploy").then(|| view! { <a href="/ide" id="nav-ide">{t(Key::Ide)}</a> })}
                {s.may("monitor_view").then(|| view! {
                    <a href="/monitor" id="nav-monitor">{t(Key::Monitoring)}</a>
                    <a href="/logs" id="nav-logs">{t(Key::Logs)}</a>
                    <a href="/alerts" id="nav-alerts">{t(Key::Alerts)}</a>
                })}
                <a href="/invitations" id="nav-invitations">{t(Key::Invitations)}</a>
                <a href="/messages" id="nav-messages">{t(Key::Messages)}{crate::inbox::unread_badge()}</a>
                {orgs}
                {s.may("user_manage").then(|| view! { <a href="/users" id="nav-users">{t(Key::Users)}</a> })}
                {s.may("role_manage").then(|| view! { <a href="/roles" id="nav-roles">{t(Key::RolesPage)}</a> })}
                {s.may("audit_view").then(|| view! { <a href="/audit" id="nav-audit">{t(Key::AuditLog)}</a> })}
                <a href="/account" id="nav-account">{t(Key::Account)}</a>
            </nav>
            <span class="who" id="who">{s.username()}" · "{s.org_name()}</span>
            <button type="button" id="sign-out" on:click=sign_out>{t(Key::SignOut)}</button>
        }
    });
    view! {
        <header>
            <a class="brand" href="/">{t(Key::Product)}</a>
            {menu}
            <button type="button" id="lang-switch" lang=l.other().tag() on:click=move |_| api::set_lang(l.other())>
                {t(Key::SwitchLang)}
            </button>
        </header>
    }
}

/// A page for signed-in users: fetches who is signed in, sends the others
/// to the sign-in page (saying when the session expired) and users who must
/// change their password to that page.
pub(crate) fn authed<F, V>(title: Key, password_page: bool, body: F) -> impl IntoView
where
    F: Fn(Session) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let me = LocalResource::new(|| api::get("/api/v1/auth/me"));
    let body = Arc::new(body);
    move || match me.get() {
        None => view! {
            <Header/>
            <main><h1>{t(title)}</h1><p class="muted">{t(Key::Loading)}</p></main>
        }
        .into_any(),
        Some(Err(e)) => {
            if e.signed_out() {
                to_login(&e);
            }
            view! {
                <Header/>
                <main><h1>{t(title)}</h1><ErrorLine err=e/></main>
            }
            .into_any()
        }
        Some(Ok(v)) => {
            let session = Session(v);
            if session.must_change_password() && !password_page {
                api::go("/password");
            }
            let content = (*body)(session.clone()).into_any();
            view! {
                <Header session=session/>
                <main><h1>{t(title)}</h1>{content}</main>
            }
            .into_any()
        }
    }
}

/// An API error in the page's language (the server's English text only in
/// a collapsed detail for support).
#[component]
pub(crate) fn ErrorLine(err: ApiErr) -> impl IntoView {
    let key = match (err.status, err.code.as_str()) {
        (0, _) => Key::NetworkError,
        (403, "forbidden") => Key::Forbidden,
        _ => Key::RequestFailed,
    };
    view! { <p class="error" role="alert">{t(key)}<span class="code">" ["{err.code}"]"</span></p> }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Header/>
        <main><h1>{t(Key::NotFound)}</h1><p><a href="/">{t(Key::BackHome)}</a></p></main>
    }
}

#[component]
fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let notice = move || {
        q.with(|q| {
            if q.get("expired").is_some() {
                Some(Key::SessionExpired)
            } else if q.get("signed_out").is_some() {
                Some(Key::SignedOut)
            } else if q.get("signin").is_some() {
                Some(Key::NotSignedIn)
            } else {
                None
            }
        })
    };
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let body = json!({"username": username.get_untracked(), "password": password.get_untracked()});
            match api::post("/api/v1/auth/login", &body, None).await {
                Ok(v) => {
                    let forced = v["user"]["must_change_password"].as_bool().unwrap_or(false);
                    api::go(if forced { "/password" } else { "/" });
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(match (e.status, e.code.as_str()) {
                        (0, _) => Key::NetworkError,
                        (_, "locked") => Key::Locked,
                        (_, "frozen") => Key::Frozen,
                        (401, _) | (422, _) | (400, _) => Key::WrongCredentials,
                        _ => Key::RequestFailed,
                    }));
                }
            }
        });
    };
    view! {
        <Header/>
        <main class="narrow">
            <h1>{t(Key::SignIn)}</h1>
            {move || notice().map(|k| view! { <p class="notice" id="notice">{t(k)}</p> })}
            <form id="login" on:submit=submit>
                <label>{t(Key::Username)}<input name="username" autocomplete="username" required bind:value=username/></label>
                <label>{t(Key::Password)}<input name="password" type="password" autocomplete="current-password" required bind:value=password/></label>
                {move || error.get().map(|k| view! { <p class="error" role="alert" id="login-error">{t(k)}</p> })}
                <button type="submit" disabled=move || busy.get()>{t(Key::SignIn)}</button>
            </form>
        </main>
    }
}

#[component]
fn PasswordPage() -> impl IntoView {
    authed(Key::ChangePassword, true, |s: Session| {
        let forced = s.must_change_password();
        let csrf = s.csrf();
        let old = RwSignal::new(String::new());
        let new = RwSignal::new(String::new());
        let confirm = RwSignal::new(String::new());
        let error = RwSignal::new(None::<Key>);
        let done = RwSignal::new(false);
        let submit = move |ev: SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            if new.get_untracked() != confirm.get_untracked() {
                error.set(Some(Key::PasswordMismatch));
                return;
            }
            let csrf = csrf.clone();
            spawn_local(async move {
                let body = json!({"old_password": old.get_untracked(), "new_password": new.get_untracked()});
                match api::post("/api/v1/auth/password", &body, csrf.as_deref()).await {
                    Ok(_) => {
                        done.set(true);
                        if forced {
                            api::go("/");
                        }
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(match (e.status, e.code.as_str()) {
                        (0, _) => Key::NetworkError,
                        (403, "forbidden") => Key::WrongCurrentPassword,
                        (422, _) | (400, _) => Key::PasswordPolicy,
                        _ => Key::RequestFailed,
                    })),
                }
            });
        };
        view! {
            {forced.then(|| view! { <p class="notice" id="forced">{t(Key::ForcedChange)}</p> })}
            <form id="password" class="narrow" on:submit=submit>
                <label>{t(Key::CurrentPassword)}<input name="old" type="password" autocomplete="current-password" required bind:value=old/></label>
                <label>{t(Key::NewPassword)}<input name="new" type="password" autocomplete="new-password" required bind:value=new/></label>
                <label>{t(Key::ConfirmPassword)}<input name="confirm" type="password" autocomplete="new-password" required bind:value=confirm/></label>
                <p class="hint">{t(Key::PasswordPolicy)}</p>
                {move || error.get().map(|k| view! { <p class="error" role="alert" id="password-error">{t(k)}</p> })}
                {move || done.get().then(|| view! { <p class="ok" id="password-done">{t(Key::PasswordChanged)}</p> })}
                <button type="submit">{t(Key::Save)}</button>
            </form>
        }
    })
}

/// One's own account: who one is, the real-name verification (submit,
/// or submit again after a rejection), and the way to the password page.
#[component]
fn AccountPage() -> impl IntoView {
    authed(Key::Account, false, |s: Session| {
        let l = lang();
        let user = s.0["user"].clone();
        let roles = user["roles"]
            .as_array()
            .map(|r| {
                r.iter().map(|n| crate::i18n::role(l, &txt(n))).collect::<Vec<_>>().join(l.t(Key::ListSep))
            })
            .unwrap_or_default();
        // The state as the page shows it: the session's, then each answer's.
        let identity = RwSignal::new(user["identity"].clone());
        let real_name = RwSignal::new(txt(&user["real_name"]));
        let kind = RwSignal::new("resident_id".to_owned());
        let number = RwSignal::new(String::new());
        let error: crate::parts::Refusal = RwSignal::new(None);
        let csrf = s.csrf();
        let submit = move |ev: SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            let body = json!({
                "real_name": real_name.get_untracked().trim(),
                "kind": kind.get_untracked(),
                "number": number.get_untracked().trim(),
            });
            let csrf = csrf.clone();
            spawn_local(async move {
                match api::put("/api/v1/auth/identity", &body, csrf.as_deref()).await {
                    Ok(v) => {
                        identity.set(v["identity"].clone());
                        number.set(String::new());
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => error.set(Some(match (e.status, e.field.clone()) {
                        (0, _) => (None, Key::NetworkError),
                        (409, _) => (None, Key::AlreadyVerified),
                        (_, Some(f)) if f == "number" => (Some(f), Key::InvalidIdNumber),
                        (_, Some(f)) => (Some(f), Key::InvalidField),
                        _ => (None, Key::RequestFailed),
                    })),
                }
            });
        };
        let state = move || txt(&identity.with(|i| i["status"].clone()));
        let form = move || {
            let st = state();
            (st != "verified" && st != "pending").then(|| {
                let submit = submit.clone();
                view! {
                    <form id="identity-form" class="narrow" on:submit=submit>
                        <p class="hint">{t(Key::IdentityLead)}</p>
                        <label>{t(Key::RealName)}<input name="real_name" required bind:value=real_name/>{crate::parts::field_error(error, "real_name")}</label>
                        <label>{t(Key::IdentityDocument)}
                            <select name="kind" prop:value=move || kind.get() on:change=move |ev| kind.set(event_target_value(&ev))>
                                <option value="resident_id">{t(Key::ResidentId)}</option>
                                <option value="passport">{t(Key::Passport)}</option>
                            </select>{crate::parts::field_error(error, "kind")}</label>
                        <label>{t(Key::IdentityNumber)}<input name="number" required autocomplete="off" bind:value=number/>{crate::parts::field_error(error, "number")}</label>
                        {move || error.get().filter(|(f, _)| f.is_none()).map(|(_, k)| view! { <p class="error" role="alert" id="identity-error">{t(k)}</p> })}
                        <button type="submit">{t(if st == "rejected" { Key::ResubmitIdentity } else { Key::Submit })}</button>
                    </form>
                }
            })
        };
        view! {
            <section id="profile">
                <h2>{t(Key::Profile)}</h2>
                <dl class="facts">
                    <dt>{t(Key::Username)}</dt><dd>{txt(&user["username"])}</dd>
                    <dt>{t(Key::RealName)}</dt><dd id="profile-real-name">{move || real_name.get()}</dd>
                    <dt>{t(Key::Organization)}</dt><dd>{s.org_name()}</dd>
                    <dt>{t(Key::Roles)}</dt><dd>{roles}</dd>
                </dl>
                <p><a href="/password" id="to-password">{t(Key::ChangePassword)}</a></p>
            </section>
            <section id="identity">
                <h2>{t(Key::Identity)}</h2>
                {move || {
                    let i = identity.get();
                    let st = txt(&i["status"]);
                    view! {
                        <p id="identity-status" data-status=st.clone()>
                            <span class=format!("state-{st}")>{crate::i18n::identity_state(l, &st)}</span>
                            {(!txt(&i["number"]).is_empty()).then(|| view! {
                                " · "{crate::i18n::identity_kind(l, &txt(&i["kind"]))}" "<code>{txt(&i["number"])}</code>
                            })}
                        </p>
                        {(st == "pending").then(|| view! { <p class="notice">{t(Key::IdentitySubmitted)}</p> })}
                        {(!txt(&i["opinion"]).is_empty()).then(|| view! {
                            <p id="identity-opinion">{t(Key::Opinion)}": "{txt(&i["opinion"])}
                                {(!txt(&i["reviewer"]).is_empty()).then(|| view! { " ("{t(Key::Reviewer)}": "{txt(&i["reviewer"])}")" })}
                            </p>
                        })}
                    }
                }}
                {form}
            </section>
        }
    })
}

#[component]
fn HomePage() -> impl IntoView {
    authed(Key::Home, false, |s: Session| {
        if s.platform() { platform_home(s).into_any() } else { department_home(s).into_any() }
    })
}

/// A list the API returns, or an error line.
pub(crate) fn list_of(
    r: LocalResource<Result<Value, ApiErr>>,
    f: impl Fn(Vec<Value>) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    move || match r.get() {
        None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
        Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
        Some(Ok(v)) => f(v.as_array().cloned().unwrap_or_default()),
    }
}

/// Counts of a field's values, in a stable order.
fn counts<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::<String, usize>::new();
    for v in values {
        *m.entry(txt(v)).or_default() += 1;
    }
    m.into_iter().collect()
}

fn state_counts(id: &'static str, items: Vec<(String, usize)>) -> impl IntoView {
    let l = lang();
    let total: usize = items.iter().map(|(_, n)| n).sum();
    view! {
        <ul class="counts" id=id>
            <li><b>{total}</b>" "{t(Key::Total)}</li>
            {items.into_iter().map(|(k, n)| view! { <li class=format!("state-{k}")><b>{n}</b>" "{i18n::state(l, &k)}</li> }).collect_view()}
        </ul>
    }
}

fn platform_home(s: Session) -> impl IntoView {
    let l = lang();
    let pending = LocalResource::new(|| api::get("/api/v1/requests?status=pending"));
    let orgs = LocalResource::new(|| api::get("/api/v1/orgs"));
    let chains = LocalResource::new(|| api::get("/api/v1/chains"));
    let audit = s.may("audit_view").then(|| LocalResource::new(|| api::get("/api/v1/audit?limit=10")));
    view! {
        <p class="lead">{t(Key::PlatformOverview)}</p>
        <div class="grid">
            <section id="pending">
                <h2>{t(Key::PendingApprovals)}</h2>
                {list_of(pending, move |rs| if rs.is_empty() {
                    view! { <p class="muted">{t(Key::NoPending)}</p> }.into_any()
                } else {
                    view! {
                        <table><thead><tr><th>"#"</th><th>{t(Key::Kind)}</th><th>{t(Key::Description)}</th><th>{t(Key::Created)}</th></tr></thead>
                        <tbody>{rs.into_iter().map(|r| view! {
                            <tr><td>{txt(&r["id"])}</td><td>{i18n::state(l, &txt(&r["kind"]))}</td><td>{txt(&r["purpose"])}</td><td>{time(&r["created_at"])}</td></tr>
                        }).collect_view()}</tbody></table>
                    }.into_any()
                })}
            </section>
            <section id="orgs">
                <h2><a href="/orgs">{t(Key::Organizations)}</a></h2>
                {list_of(orgs, |os| state_counts("org-counts", counts(os.iter().filter(|o| o["is_platform"] != true).map(|o| &o["status"]))).into_any())}
            </section>
            <section id="chains">
                <h2>{t(Key::Chains)}</h2>
                {list_of(chains, |cs| {
                    let nodes: Vec<Value> = cs.iter().flat_map(|c| c["nodes"].as_array().cloned().unwrap_or_default()).collect();
                    view! {
                        {state_counts("chain-counts", counts(cs.iter().map(|c| &c["state"])))}
                        <h3>{t(Key::Nodes)}</h3>
                        {state_counts("node-counts", counts(nodes.iter().map(|n| &n["state"])))}
                    }.into_any()
                })}
            </section>
            {audit.map(|a| view! {
                <section id="operations">
                    <h2>{t(Key::RecentOperations)}</h2>
                    {list_of(a, |es| if es.is_empty() {
                        view! { <p class="muted">{t(Key::NoOperations)}</p> }.into_any()
                    } else {
                        view! {
                            <table><thead><tr><th>{t(Key::Time)}</th><th>{t(Key::Operator)}</th><th>{t(Key::Action)}</th><th>{t(Key::Result)}</th></tr></thead>
                            <tbody>{es.into_iter().map(|e| view! {
                                <tr><td>{time(&e["at"])}</td><td>{txt(&e["actor"])}</td><td><code>{txt(&e["action"])}</code></td><td>{txt(&e["result"])}</td></tr>
                            }).collect_view()}</tbody></table>
                        }.into_any()
                    })}
                </section>
            })}
        </div>
    }
}

fn department_home(s: Session) -> impl IntoView {
    let l = lang();
    // Health and height live: the API polls each chain at most once a second.
    let chains = LocalResource::new(|| api::get("/api/v1/chains?live=true"));
    api::every(3000, move || chains.refetch());
    let requests = LocalResource::new(|| api::get("/api/v1/requests"));
    let quota = LocalResource::new(|| api::get("/api/v1/quota"));
    let invitations = LocalResource::new(|| api::get("/api/v1/invitations"));
    let messages = LocalResource::new(|| api::get("/api/v1/messages?limit=5"));
    let me = s.org_id();
    view! {
        <p class="lead">{t(Key::MyDashboard)}" · "{s.org_name()}</p>
        <div class="grid">
            <section id="my-chains">
                <h2>{t(Key::MyChains)}</h2>
                {list_of(chains, move |cs| if cs.is_empty() {
                    view! { <p class="muted">{t(Key::NoChains)}</p> }.into_any()
                } else {
                    view! {
                        <table><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Status)}</th><th>{t(Key::Health)}</th><th>{t(Key::Height)}</th>
                            <th>{t(Key::Consensus)}</th><th>{t(Key::Nodes)}</th></tr></thead>
                        <tbody>{cs.into_iter().map(|c| view! {
                            <tr data-name=txt(&c["name"]) data-health=txt(&c["health"])>
                            <td><a href=format!("/chains/{}", txt(&c["id"]))>{txt(&c["name"])}</a></td><td>{i18n::state(l, &txt(&c["state"]))}</td>
                            {crate::chains::health_cells(l, &c)}
                            <td>{txt(&c["consensus"])}</td><td>{c["nodes"].as_array().map_or(0, Vec::len)}</td></tr>
                        }).collect_view()}</tbody></table>
                    }.into_any()
                })}
            </section>
            <section id="my-requests">
                <h2>{t(Key::MyRequests)}</h2>
                {list_of(requests, move |rs| if rs.is_empty() {
                    view! { <p class="muted">{t(Key::NoRequests)}</p> }.into_any()
                } else {
                    view! {
                        <table><thead><tr><th>"#"</th><th>{t(Key::Kind)}</th><th>{t(Key::Status)}</th><th>{t(Key::Created)}</th></tr></thead>
                        <tbody>{rs.into_iter().map(|r| view! {
                            <tr><td>{txt(&r["id"])}</td><td>{i18n::state(l, &txt(&r["kind"]))}</td><td>{i18n::state(l, &txt(&r["status"]))}</td><td>{time(&r["created_at"])}</td></tr>
                        }).collect_view()}</tbody></table>
                    }.into_any()
                })}
            </section>
            <section id="quota">
                <h2>{t(Key::Quota)}</h2>
                {move || match quota.get() {
                    None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
                    Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
                    Some(Ok(q)) => {
                        let row = |k: Key, granted: &str, used: &str| view! {
                            <tr><td>{t(k)}</td><td>{txt(&q[granted])}</td><td>{txt(&q[used])}</td></tr>
                        };
                        view! {
                            <table><thead><tr><th></th><th>{t(Key::Granted)}</th><th>{t(Key::Used)}</th></tr></thead>
                            <tbody>
                                {row(Key::Nodes, "nodes", "used_nodes")}
                                {row(Key::Cpu, "cpu_millis", "used_cpu_millis")}
                                {row(Key::Memory, "memory_mb", "used_memory_mb")}
                                {row(Key::Storage, "storage_mb", "used_storage_mb")}
                            </tbody></table>
                        }.into_any()
                    }
                }}
            </section>
            <section id="my-invitations">
                <h2>{t(Key::PendingInvitations)}</h2>
                {list_of(invitations, move |is| {
                    let pending: Vec<Value> = is.into_iter()
                        .filter(|i| i["to_org_id"].as_i64() == Some(me) && i["status"] == "pending")
                        .collect();
                    if pending.is_empty() {
                        view! { <p class="muted">{t(Key::NoInvitations)}</p> }.into_any()
                    } else {
                        view! {
                            <ul class="plain">{pending.into_iter().map(|i| view! {
                                <li><a href="/invitations">{txt(&i["chain_name"])}</a>" · "{txt(&i["from_domain"])}" · "{time(&i["created_at"])}</li>
                            }).collect_view()}</ul>
                        }.into_any()
                    }
                })}
            </section>
            <section id="latest-messages">
                <h2>{t(Key::LatestMessages)}</h2>
                {list_of(messages, move |ms| if ms.is_empty() {
                    view! { <p class="muted">{t(Key::NoMessages)}</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain">{ms.into_iter().map(|m| view! {
                            <li class:unread=m["read"] != true>{time(&m["created_at"])}" · "{crate::inbox::message_kind(l, &txt(&m["kind"]))}" "{crate::inbox::target(&txt(&m["link"]))}</li>
                        }).collect_view()}</ul>
                        <a href="/messages">{t(Key::Messages)}" →"</a>
                    }.into_any()
                })}
            </section>
        </div>
    }
}

/// Which form field an organization-creation error concerns.
#[derive(Clone, Copy, PartialEq)]
enum OrgField {
    Name,
    Domain,
    Admin,
    RealName,
    Form,
}

#[component]
fn OrgsPage() -> impl IntoView {
    authed(Key::Organizations, false, |s: Session| {
        let l = lang();
        let orgs = LocalResource::new(|| api::get("/api/v1/orgs"));
        let csrf = s.csrf();
        let name = RwSignal::new(String::new());
        let domain = RwSignal::new(String::new());
        let description = RwSignal::new(String::new());
        let admin = RwSignal::new(String::new());
        let real_name = RwSignal::new(String::new());
        let error = RwSignal::new(None::<(OrgField, Key)>);
        let created = RwSignal::new(None::<(String, String)>);
        let submit = move |ev: SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            created.set(None);
            let csrf = csrf.clone();
            spawn_local(async move {
                let body = json!({
                    "name": name.get_untracked(), "domain": domain.get_untracked(),
                    "description": description.get_untracked(),
                    "admin_username": admin.get_untracked(), "admin_real_name": real_name.get_untracked(),
                });
                match api::post("/api/v1/orgs", &body, csrf.as_deref()).await {
                    Ok(v) => {
                        created.set(Some((txt(&v["admin"]["username"]), txt(&v["initial_password"]))));
                        for f in [name, domain, description, admin, real_name] {
                            f.set(String::new());
                        }
                        orgs.refetch();
                    }
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => {
                        let m = e.message.as_str();
                        error.set(Some(match (e.status, e.code.as_str()) {
                            (0, _) => (OrgField::Form, Key::NetworkError),
                            (409, _) if m.starts_with("domain") => (OrgField::Domain, Key::DomainTaken),
                            (409, _) => (OrgField::Admin, Key::UsernameTaken),
                            (403, _) => (OrgField::Form, Key::Forbidden),
                            (422 | 400, _) if m.contains("domain") => (OrgField::Domain, Key::InvalidField),
                            (422 | 400, _) if m.contains("admin_real_name") => {
                                (OrgField::RealName, Key::InvalidField)
                            }
                            (422 | 400, _) if m.contains("user") => (OrgField::Admin, Key::InvalidField),
                            (422 | 400, _) if m.contains("name") => (OrgField::Name, Key::InvalidField),
                            _ => (OrgField::Form, Key::RequestFailed),
                        }));
                    }
                }
            });
        };
        // A registration awaiting review: approve or reject with an opinion.
        let review_error = RwSignal::new(None::<ApiErr>);
        let review_csrf = s.csrf();
        let review = move |id: i64| {
            let path = format!("/api/v1/orgs/{id}/review");
            crate::parts::decision(path, review_csrf.clone(), review_error, move || orgs.refetch())
        };
        let field_error = move |f: OrgField, id: &'static str| {
            move || {
                error
                    .get()
                    .filter(|(ef, _)| *ef == f)
                    .map(|(_, k)| view! { <span class="error field-error" role="alert" id=id>{t(k)}</span> })
            }
        };
        view! {
            <section id="org-list">
                {list_of(orgs, move |os| {
                    let review = review.clone();
                    view! {
                    <table><thead><tr><th>{t(Key::Name)}</th><th>{t(Key::Domain)}</th><th>{t(Key::Status)}</th><th>{t(Key::Created)}</th><th>{t(Key::Decision)}</th></tr></thead>
                    <tbody>{os.into_iter().map(|o| {
                        let id = o["id"].as_i64().unwrap_or_default();
                        let pending = o["status"] == "pending";
                        view! {
                        <tr data-domain=txt(&o["domain"]) data-status=txt(&o["status"])>
                            <td>{if o["is_platform"] == true { t(Key::Platform).to_owned() } else { txt(&o["name"]) }}</td>
                            <td>{txt(&o["domain"])}</td><td>{i18n::state(l, &txt(&o["status"]))}</td><td>{time(&o["created_at"])}</td>
                            <td>{pending.then(|| review(id))}</td>
                        </tr>
                    }}).collect_view()}</tbody></table>
                }.into_any()})}
                {move || review_error.get().map(|e| view! { <ErrorLine err=e/> })}
            </section>
            <section id="org-create">
                <h2>{t(Key::CreateOrg)}</h2>
                <form id="create-org" on:submit=submit>
                    <label>{t(Key::Name)}<input name="name" required bind:value=name/>{field_error(OrgField::Name, "name-error")}</label>
                    <label>{t(Key::Domain)}<input name="domain" required placeholder="dept.example" bind:value=domain/>{field_error(OrgField::Domain, "domain-error")}</label>
                    <label>{t(Key::Description)}<input name="description" bind:value=description/></label>
                    <label>{t(Key::AdminUsername)}<input name="admin_username" required bind:value=admin/>{field_error(OrgField::Admin, "admin-error")}</label>
                    <label>{t(Key::AdminRealName)}<input name="admin_real_name" required bind:value=real_name/>{field_error(OrgField::RealName, "real-name-error")}</label>
                    {field_error(OrgField::Form, "form-error")}
                    <button type="submit">{t(Key::Create)}</button>
                </form>
                {move || created.get().map(|(user, pw)| crate::parts::one_time_password(Key::InitialPassword, Key::InitialPasswordNote, user, pw))}
            </section>
        }
    })
}

/// `YYYY-MM-DD HH:MM` (UTC) of a time in ms since 1970.
pub(crate) fn time(v: &Value) -> String {
    let Some(ms) = v.as_i64() else { return String::new() };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00");
        assert_eq!(time(&json!(1_796_301_296_000_i64)), "2026-12-03 12:34");
        assert_eq!(time(&json!(951_782_400_000_i64)), "2000-02-29 00:00");
        assert_eq!(time(&json!("x")), "");
    }
}
