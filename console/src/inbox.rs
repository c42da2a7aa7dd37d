//! Invitations and the message centre (SPEC PRV-6, ORG-5), both kept
//! current by the message stream: an invitation or a message sent to the
//! organization appears without a reload.

use leptos::{prelude::*, task::spawn_local};
use serde_json::json;

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, lang, list_of, t, time, to_login, txt},
    i18n::{self, Key, Lang},
    parts::Pager,
};

/// Invitations the organization received (answered here) and sent.
#[component]
pub fn InvitationsPage() -> impl IntoView {
    authed(Key::Invitations, false, |s: Session| {
        let l = lang();
        let invitations = LocalResource::new(|| api::get("/api/v1/invitations"));
        api::subscribe("/api/v1/messages/stream", move |_| invitations.refetch());
        let me = s.org_id();
        let answer = s.may("invitation_respond");
        let csrf = s.csrf();
        let error = RwSignal::new(None::<ApiErr>);
        view! {
            <p class="lead">{t(Key::InvitationsLead)}</p>
            {move || error.get().map(|e| view! { <ErrorLine err=e/> })}
            {list_of(invitations, move |is| if is.is_empty() {
                view! { <p class="muted" id="no-invitations">{t(Key::NoInvitations)}</p> }.into_any()
            } else {
                let csrf = csrf.clone();
                view! {
                    <table id="invitations"><thead><tr><th>{t(Key::Chain)}</th><th>{t(Key::Direction)}</th><th>{t(Key::Counterparty)}</th>
                        <th>{t(Key::Note)}</th><th>{t(Key::Status)}</th><th>{t(Key::Created)}</th><th>{t(Key::Actions)}</th></tr></thead>
                    <tbody>{is.into_iter().map(|i| {
                        let id = i["id"].as_i64().unwrap_or_default();
                        let chain = txt(&i["chain_id"]);
                        let received = i["to_org_id"].as_i64() == Some(me);
                        let status = txt(&i["status"]);
                        let pending = status == "pending";
                        let csrf = csrf.clone();
                        let respond = move |verb: &'static str| {
                            let csrf = csrf.clone();
                            spawn_local(async move {
                                match api::post(&format!("/api/v1/invitations/{id}/{verb}"), &json!({}), csrf.as_deref()).await {
                                    Ok(_) => { error.set(None); invitations.refetch(); }
                                    Err(e) if e.signed_out() => to_login(&e),
                                    Err(e) => error.set(Some(e)),
                                }
                            });
                        };
                        let respond2 = respond.clone();
                        view! {
                            <tr data-id=id data-chain=txt(&i["chain_name"]) data-status=status.clone()>
                                <td><a href=format!("/chains/{chain}")>{txt(&i["chain_name"])}</a></td>
                                <td>{t(if received { Key::Received } else { Key::Sent })}</td>
                                <td class="counterparty">{txt(&i[if received { "from_domain" } else { "to_domain" }])}</td>
                                <td>{txt(&i["message"])}</td>
                                <td class=format!("state-{status}")>{if pending { t(Key::AwaitingAnswer).to_owned() } else { i18n::state(l, &status) }}</td>
                                <td>{time(&i["created_at"])}</td>
                                <td>{(received && pending && answer).then(|| view! {
                                    <button type="button" class="accept" on:click=move |_| respond("accept")>{t(Key::Accept)}</button>
                                    <button type="button" class="decline" on:click=move |_| respond2("decline")>{t(Key::Decline)}</button>
                                })}
                                {(received && status == "accepted").then(|| view! {
                                    <a class="next-step" href="/requests">{t(Key::RequestNodes)}</a>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody></table>
                }.into_any()
            })}
        }
    })
}

/// How many messages the centre reads at a time.
const PAGE: usize = 30;

/// The message centre: the organization's messages, newest first, a page
/// at a time, unread ones marked; new ones arrive on their own.
#[component]
pub fn MessagesPage() -> impl IntoView {
    authed(Key::Messages, false, |s: Session| {
        let l = lang();
        let pager = Pager::new("/api/v1/messages", PAGE);
        Effect::new(move |_| pager.load(true));
        api::subscribe("/api/v1/messages/stream", move |_| pager.load(true));
        let only_unread = RwSignal::new(false);
        let filter = move |unread: bool| {
            only_unread.set(unread);
            pager.set_path(
                if unread { "/api/v1/messages?unread=true" } else { "/api/v1/messages" }.to_owned(),
            );
            pager.load(true);
        };
        let csrf = s.csrf();
        let mark = move |id: i64| {
            let csrf = csrf.clone();
            spawn_local(async move {
                match api::post(&format!("/api/v1/messages/{id}/read"), &json!({}), csrf.as_deref()).await {
                    Ok(m) => pager.rows.update(|rs| {
                        if let Some(r) = rs.iter_mut().find(|r| r["id"].as_i64() == Some(id)) {
                            *r = m;
                        }
                    }),
                    Err(e) if e.signed_out() => to_login(&e),
                    Err(e) => pager.error.set(Some(e)),
                }
            });
        };
        view! {
            <label class="inline"><input type="checkbox" id="only-unread"
                on:change=move |ev| filter(event_target_checked(&ev))/>{t(Key::OnlyUnread)}</label>
            {move || pager.error.get().map(|e| view! { <ErrorLine err=e/> })}
            {move || if pager.rows.with(Vec::is_empty) {
                view! { <p class="muted" id="no-messages">{t(if only_unread.get() { Key::NoUnread } else { Key::NoMessages })}</p> }.into_any()
            } else {
                let mark = mark.clone();
                view! {
                    <ul class="messages" id="messages">{pager.rows.get().into_iter().map(|m| {
                        let id = m["id"].as_i64().unwrap_or_default();
                        let read = m["read"].as_bool().unwrap_or(false);
                        let mark = mark.clone();
                        view! {
                            <li data-id=id data-kind=txt(&m["kind"]) class:unread=!read>
                                <span class="when">{time(&m["created_at"])}</span>
                                <b>{message_kind(l, &txt(&m["kind"]))}</b>
                                {(l == Lang::En).then(|| view! { <span class="title">{txt(&m["title"])}</span> })}
                                {target(&txt(&m["link"]))}
                                {(!read).then(|| view! {
                                    <button type="button" class="mark-read" on:click=move |_| mark(id)>{t(Key::MarkRead)}</button>
                                })}
                            </li>
                        }
                    }).collect_view()}</ul>
                }.into_any()
            }}
            {pager.more_button("more-messages")}
        }
    })
}

/// What a message is about, in the page's language (the server's title
/// is English; it shows beside this on English pages).
pub(crate) fn message_kind(l: Lang, kind: &str) -> &'static str {
    let key = match kind {
        "request_submitted" => Key::MsgRequestSubmitted,
        "request_approved" => Key::MsgRequestApproved,
        "request_rejected" => Key::MsgRequestRejected,
        "request_running" => Key::MsgRequestRunning,
        "request_failed" => Key::MsgRequestFailed,
        "org_registered" => Key::MsgOrgRegistered,
        "org_reviewed" => Key::MsgOrgReviewed,
        "invitation_received" => Key::MsgInvitationReceived,
        "alert" => Key::MsgAlert,
        "invitation_accepted" => Key::MsgInvitationAccepted,
        "invitation_declined" => Key::MsgInvitationDeclined,
        "identity_submitted" => Key::MsgIdentitySubmitted,
        "identity_reviewed" => Key::MsgIdentityReviewed,
        _ => Key::MsgOther,
    };
    l.t(key)
}

/// The console page a message's link names (`/requests/7`, `/chains/3`,
/// `/invitations/2`, `/orgs/4`, `/alerts/5`, `/users?identity=pending`), as a
/// link.
pub(crate) fn target(link: &str) -> Option<impl IntoView + use<>> {
    if let Some(query) = link.strip_prefix("/users?") {
        let href = format!("/users?{query}");
        return Some(view! { <a class="target" href=href>{t(Key::Users)}</a> }.into_any());
    }
    let mut parts = link.trim_start_matches('/').splitn(2, '/');
    let (what, id) = (parts.next()?, parts.next().unwrap_or_default().to_owned());
    let (href, key) = match what {
        "requests" => (format!("/requests/{id}"), Key::Request),
        "chains" => (format!("/chains/{id}"), Key::Chain),
        "invitations" => ("/invitations".to_owned(), Key::Invitations),
        "orgs" => ("/orgs".to_owned(), Key::Organizations),
        "alerts" => (format!("/alerts/{id}"), Key::Alert),
        _ => return None,
    };
    Some(view! { <a class="target" href=href>{t(key)}" #"{id}</a> }.into_any())
}

/// The organization's unread messages, for the header's badge (read as
/// the page opens; more than 99 show as 99+). It does not hold a stream of
/// its own: a browser keeps few connections per server, and the pages
/// that need live news hold one.
pub(crate) fn unread_badge() -> impl IntoView {
    let unread = LocalResource::new(|| api::get("/api/v1/messages?unread=true&limit=100"));
    move || {
        let n = unread.get().and_then(Result::ok).and_then(|v| v.as_array().map(Vec::len)).unwrap_or(0);
        (n > 0).then(|| {
            view! { <span class="badge" id="unread-count">{if n > 99 { "99+".to_owned() } else { n.to_string() }}</span> }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds the API sends all have a label of their own.
    #[test]
    fn every_message_kind_the_api_sends_has_a_label() {
        for kind in [
            "request_submitted",
            "request_approved",
            "request_rejected",
            "request_running",
            "request_failed",
            "org_registered",
            "org_reviewed",
            "invitation_received",
            "invitation_accepted",
            "invitation_declined",
            "identity_submitted",
            "identity_reviewed",
        ] {
            assert_ne!(message_kind(Lang::En, kind), Lang::En.t(Key::MsgOther), "{kind}");
            assert_ne!(message_kind(Lang::Zh, kind), Lang::Zh.t(Key::MsgOther), "{kind}");
        }
    }
}
