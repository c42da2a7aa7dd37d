//! Evidence on a chain (SPEC GOV-5): a member records a document, and
//! anyone who sees the chain checks a document against the records. The
//! file never leaves the browser: it is read and hashed here, with the
//! chain's own hash (SM3 on gm chains, Keccak-256 on intl-k1, SHA-256 on
//! intl-r1), and only the digest goes to the API.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::{Value, json};

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, id_param, t, time, txt},
    i18n::Key,
};

/// The digest of `data` under the hash of `suite`, hex.
pub(crate) fn digest(suite: &str, data: &[u8]) -> String {
    use sha2::Digest as _;
    let d: [u8; 32] = match suite {
        "gm" => sm3::Sm3::digest(data).into(),
        "intl-k1" => sha3::Keccak256::digest(data).into(),
        _ => sha2::Sha256::digest(data).into(),
    };
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a form shows after it ran.
#[derive(Clone)]
enum Outcome {
    Idle,
    Working,
    Recorded(Value),
    Matches(Value),
    NoMatch(String),
    NoFile,
    Already(String),
    Failed(ApiErr),
}

#[component]
pub fn EvidencePage() -> impl IntoView {
    let id = id_param();
    authed(Key::Evidence, false, move |s: Session| {
        let chain = id();
        let base = format!("/api/v1/chains/{chain}");
        let info = LocalResource::new({
            let base = base.clone();
            move || api::get_owned(base.clone())
        });
        let suite = move || info.get().and_then(Result::ok).map(|c| txt(&c["suite"])).unwrap_or_default();
        let recorded = RwSignal::new(Outcome::Idle);
        let checked = RwSignal::new(Outcome::Idle);
        let note = RwSignal::new(String::new());
        let csrf = s.csrf();
        let record = {
            let base = base.clone();
            move |ev: SubmitEvent| {
                ev.prevent_default();
                let (base, csrf, suite) = (base.clone(), csrf.clone(), suite());
                let note = note.get_untracked();
                recorded.set(Outcome::Working);
                spawn_local(async move {
                    let Some((name, bytes)) = api::read_file("evidence-file").await else {
                        recorded.set(Outcome::NoFile);
                        return;
                    };
                    let body = json!({"digest": digest(&suite, &bytes), "file_name": name, "note": note});
                    recorded.set(
                        match api::post(&format!("{base}/evidence"), &body, csrf.as_deref()).await {
                            Ok(r) => Outcome::Recorded(r),
                            Err(e) if e.code == "already_recorded" => Outcome::Already(e.message),
                            Err(e) => Outcome::Failed(e),
                        },
                    );
                });
            }
        };
        let check = {
            let base = base.clone();
            move |ev: SubmitEvent| {
                ev.prevent_default();
                let (base, suite) = (base.clone(), suite());
                checked.set(Outcome::Working);
                spawn_local(async move {
                    let Some((_, bytes)) = api::read_file("verify-file").await else {
                        checked.set(Outcome::NoFile);
                        return;
                    };
                    let d = digest(&suite, &bytes);
                    checked.set(match api::get_owned(format!("{base}/evidence?digest={d}")).await {
                        Ok(v) if v["matches"].as_bool() == Some(true) => {
                            Outcome::Matches(v["record"].clone())
                        }
                        Ok(_) => Outcome::NoMatch(d),
                        Err(e) => Outcome::Failed(e),
                    });
                });
            }
        };
        view! {
            <p><a id="evidence-back" href=format!("/chains/{chain}")>{t(Key::Chain)}</a></p>
            <p class="muted" id="evidence-lead">{t(Key::EvidenceLead)}" "
                <span id="evidence-hash">{move || match suite().as_str() { "gm" => "SM3", "intl-k1" => "Keccak-256", "" => "", _ => "SHA-256" }}</span></p>
            <section id="evidence-record-section">
                <h2>{t(Key::RecordEvidence)}</h2>
                <form id="evidence-record" on:submit=record>
                    <label>{t(Key::File)}" "<input type="file" id="evidence-file" name="file"/></label>
                    <label>{t(Key::Note)}" "<input name="note" prop:value=move || note.get()
                        on:input=move |ev| note.set(event_target_value(&ev))/></label>
                    <button type="submit">{t(Key::RecordIt)}</button>
                </form>
                {move || outcome(recorded.get(), "evidence-recorded")}
            </section>
            <section id="evidence-verify-section">
                <h2>{t(Key::VerifyEvidence)}</h2>
                <form id="evidence-verify" on:submit=check>
                    <label>{t(Key::File)}" "<input type="file" id="verify-file" name="file"/></label>
                    <button type="submit">{t(Key::VerifyIt)}</button>
                </form>
                {move || outcome(checked.get(), "evidence-match")}
            </section>
        }
    })
}

/// What a form's outcome shows; `shown_id` names the record's box.
fn outcome(o: Outcome, shown_id: &'static str) -> AnyView {
    match o {
        Outcome::Idle => ().into_any(),
        Outcome::Working => view! { <p class="muted">{t(Key::Working)}</p> }.into_any(),
        Outcome::Recorded(r) | Outcome::Matches(r) => {
            let title = if shown_id == "evidence-match" { t(Key::EvidenceMatch) } else { t(Key::EvidenceRecorded) };
            view! {
                <div id=shown_id class="ok">
                    <strong>{title}</strong>
                    <dl class="facts">
                        <dt>{t(Key::Organization)}</dt><dd class="evidence-org">{txt(&r["org"])}</dd>
                        <dt>{t(Key::File)}</dt><dd>{txt(&r["file_name"])}</dd>
                        <dt>{t(Key::TxId)}</dt><dd class="hash evidence-tx">{txt(&r["tx_id"])}</dd>
                        <dt>{t(Key::Height)}</dt><dd class="evidence-height">{txt(&r["height"])}</dd>
                        <dt>{t(Key::Time)}</dt><dd>{time(&r["timestamp_ms"])}</dd>
                        <dt>{t(Key::Digest)}</dt><dd class="hash evidence-digest">{txt(&r["digest"])}</dd>
                    </dl>
                </div>
            }
            .into_any()
        }
        Outcome::NoMatch(d) => view! {
            <div id="evidence-no-match" class="error" role="alert">
                <strong>{t(Key::EvidenceNoMatch)}</strong>
                <p class="hash evidence-digest">{t(Key::Digest)}": "{d}</p>
            </div>
        }
        .into_any(),
        Outcome::NoFile => view! { <p class="error" role="alert" id="evidence-no-file">{t(Key::ChooseFile)}</p> }.into_any(),
        Outcome::Already(m) => view! {
            <p class="error" role="alert" id="evidence-already">{t(Key::AlreadyRecorded)}<span class="code">{m}</span></p>
        }
        .into_any(),
        Outcome::Failed(e) => view! { <ErrorLine err=e/> }.into_any(),
    }
}
