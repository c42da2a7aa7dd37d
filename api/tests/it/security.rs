//! SPEC ORG-6 against a real server: password policy, lockout after five
//! failures, CSRF protection of session requests, the idle timeout, API
//! tokens, frozen accounts.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, Client, Db, TestPlatform};

#[tokio::test]
async fn lockout_after_five_failures_then_unlock() {
    let tp = TestPlatform::start_with(Db::Sqlite, |c| c.lockout_duration = Duration::from_secs(2)).await;
    let anon = Client::anonymous(&tp.url);
    let attempt = |password: &'static str| {
        let anon = anon.clone();
        async move {
            anon.call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"username": "admin", "password": password})),
            )
            .await
        }
    };
    for i in 0..4 {
        let (s, b) = attempt("wrong-Password-1").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {b}");
    }
    let (s, b) = attempt("wrong-Password-1").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::LOCKED, Some("locked")), "{b}");
    // Locked: even the right password is refused.
    let (s, _) = attempt(ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::LOCKED);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (s, b) = attempt(ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Failures were logged with the name tried.
    let admin = tp.admin().await;
    let log = admin.get("/api/v1/audit?action=auth/login&limit=100").await;
    let failed = log.as_array().unwrap().iter().filter(|e| e["result"] == "unauthorized").count();
    assert_eq!(failed, 4, "{log}");
    assert!(log.as_array().unwrap().iter().any(|e| e["result"] == "locked"));
}

#[test]
fn defaults_are_the_specified_ones() {
    let c = govchain_api::ApiConfig::new("sqlite::memory:", "127.0.0.1:0".parse().unwrap());
    assert_eq!(c.lockout_threshold, 5);
    assert_eq!(c.lockout_duration, Duration::from_secs(15 * 60));
    assert_eq!(c.idle_timeout, Duration::from_secs(30 * 60));
}

#[tokio::test]
async fn csrf_token_required_for_session_writes_not_for_reads() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let mut no_csrf = admin.clone();
    no_csrf.csrf = None;
    let (s, _) = no_csrf.call(Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(s, StatusCode::OK);
    let org = json!({"name": "X", "domain": "x.gov", "admin_username": "xadmin", "admin_real_name": "X"});
    let (s, b) = no_csrf.call(Method::POST, "/api/v1/orgs", Some(org.clone())).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")), "{b}");
    let mut wrong = admin.clone();
    wrong.csrf = Some("0".repeat(64));
    let (s, _) = wrong.call(Method::POST, "/api/v1/orgs", Some(org.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Nothing was created by the refused requests.
    let orgs = admin.get("/api/v1/orgs").await;
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    let (s, _) = admin.call(Method::POST, "/api/v1/orgs", Some(org)).await;
    assert_eq!(s, StatusCode::CREATED);
    // The cookie is HttpOnly and SameSite=Strict.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", tp.url))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
}

#[tokio::test]
async fn idle_sessions_end_and_tokens_work_without_csrf() {
    let tp = TestPlatform::start_with(Db::Sqlite, |c| c.idle_timeout = Duration::from_millis(1500)).await;
    let admin = tp.admin().await;
    let token = admin.post("/api/v1/tokens", json!({"name": "ci"})).await;
    let secret = token["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("gct_"));
    // Activity keeps the session alive past the timeout.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        admin.get("/api/v1/auth/me").await;
    }
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (s, b) = admin.call(Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_expired")), "{b}");
    // A bearer token is not a session: no CSRF header, no idle timeout.
    let mut bot = Client::anonymous(&tp.url);
    bot.bearer = Some(secret);
    let created = bot
        .post(
            "/api/v1/orgs",
            json!({"name": "Y", "domain": "y.gov", "admin_username": "yadmin", "admin_real_name": "Y"}),
        )
        .await;
    assert_eq!(created["org"]["domain"], "y.gov");
    // Revoked tokens stop working.
    let fresh = tp.admin().await;
    let (s, _) = fresh.call(Method::DELETE, &format!("/api/v1/tokens/{}", token["token"]["id"]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = bot.call(Method::GET, "/api/v1/auth/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn password_policy_and_frozen_accounts() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let anon = Client::anonymous(&tp.url);
    for weak in ["short1A!", "alllowercaseletters", "carol-Carol-123"] {
        let (s, b) = anon
            .call(
                Method::POST,
                "/api/v1/auth/register",
                Some(json!({"org_name": "C", "domain": "c.gov", "username": "carol", "password": weak, "real_name": "C"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {b}");
    }
    let created = admin
        .post("/api/v1/users", json!({"username": "dave", "real_name": "Dave", "roles": ["chain_auditor"]}))
        .await;
    let pw = created["initial_password"].as_str().unwrap().to_owned();
    let dave = Client::login(&tp.url, "dave", &pw).await;
    let (s, _) = dave
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"old_password": pw, "new_password": "weak"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = dave
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"old_password": pw, "new_password": "Strong-New-Secret-7"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    admin.post(&format!("/api/v1/users/{}/freeze", created["user"]["id"]), json!({})).await;
    let (s, b) = dave.call(Method::GET, "/api/v1/auth/me", None).await;
    assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN, "{s} {b}");
    let (s, b) = Client::anonymous(&tp.url)
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "dave", "password": "Strong-New-Secret-7"})),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("frozen")), "{b}");
}

#[tokio::test]
async fn openapi_is_served_and_matches_the_committed_file() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let served = Client::anonymous(&tp.url).get("/api/openapi.json").await;
    let generated: serde_json::Value = serde_json::from_str(&govchain_api::openapi_json()).unwrap();
    assert_eq!(served, generated);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let fresh = govchain_api::openapi_json() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "api/openapi.json drifted from the handlers; run `UPDATE_OPENAPI=1 cargo test -p govchain-api --test it openapi` and commit it"
    );
    // Every operation documents its errors.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().unwrap().len() >= 2,
                "{method} {path} documents no error response"
            );
        }
    }
}

/// SPEC ORG-1: a user submits their real-name verification (the number
/// checked, stored masked), their organization's admin reviews it; nobody
/// reviews their own, another tenant's admin sees no such user, a decided
/// one is not decided again, and renaming a verified user undoes it.
#[tokio::test]
async fn real_name_verification_is_submitted_checked_and_reviewed() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let created = bob
        .post("/api/v1/users", json!({"username": "tina", "real_name": "Tina", "roles": ["chain_operator"]}))
        .await;
    let tina_id = created["user"]["id"].as_i64().unwrap();
    assert_eq!(created["user"]["identity"]["status"], "unverified");
    let tina = Client::login(&tp.url, "tina", created["initial_password"].as_str().unwrap()).await;

    let submit = |c: &Client, body: Value| {
        let c = c.clone();
        async move { c.call(Method::PUT, "/api/v1/auth/identity", Some(body)).await }
    };
    // Refusals name their field, and change nothing.
    for (body, field) in [
        (json!({"real_name": "谭娜", "kind": "resident_id", "number": "110105194912310021"}), "number"),
        (json!({"real_name": "谭娜", "kind": "resident_id", "number": "11010519490230002X"}), "number"),
        (json!({"real_name": "谭娜", "kind": "driving_licence", "number": "11010519491231002X"}), "kind"),
        (json!({"real_name": " ", "kind": "passport", "number": "E12345678"}), "real_name"),
    ] {
        let (s, b) = submit(&tina, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert_eq!(b["details"]["field"], field, "{b}");
    }
    assert_eq!(tina.get("/api/v1/auth/me").await["user"]["identity"]["status"], "unverified");

    let (s, b) =
        submit(&tina, json!({"real_name": "谭娜", "kind": "resident_id", "number": "11010519491231002x"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["real_name"], "谭娜");
    assert_eq!(b["identity"]["status"], "pending");
    assert_eq!(b["identity"]["number"], "110105********002X");
    // The full number is nowhere in the database.
    let dir = tp.hosts().parent().unwrap().to_owned();
    let mut stored = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("govchain.db") {
            stored.extend(std::fs::read(p).unwrap());
        }
    }
    assert!(stored.windows(10).any(|w| w == b"110105****"), "the masked number is stored");
    assert!(!stored.windows(18).any(|w| w.eq_ignore_ascii_case(b"11010519491231002X")));

    // The tenant's admin is told and finds it in the pending filter.
    let msgs = bob.get("/api/v1/messages").await;
    assert!(msgs.as_array().unwrap().iter().any(|m| m["kind"] == "identity_submitted"), "{msgs}");
    let pending = bob.get("/api/v1/users?identity=pending").await;
    let ids: Vec<i64> = pending.as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![tina_id]);
    let (s, _) = bob.call(Method::GET, "/api/v1/users?identity=maybe", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant's admin: no such user. Oneself: refused.
    let other = admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Water", "domain": "water.gov", "admin_username": "wendy", "admin_real_name": "W"}),
        )
        .await;
    let wendy = Client::login(&tp.url, "wendy", other["initial_password"].as_str().unwrap()).await;
    let review = format!("/api/v1/users/{tina_id}/identity-review");
    let (s, _) = wendy.call(Method::POST, &review, Some(json!({"approve": true}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let bob_id = bob.get("/api/v1/auth/me").await["user"]["id"].as_i64().unwrap();
    let (s, b) = bob
        .call(
            Method::POST,
            &format!("/api/v1/users/{bob_id}/identity-review"),
            Some(json!({"approve": true})),
        )
        .await;
    assert_eq!((s, b["details"]["reason"].as_str()), (StatusCode::CONFLICT, Some("own")), "{b}");
    // Tina cannot review herself either: she has no user management.
    let (s, _) = tina.call(Method::POST, &review, Some(json!({"approve": true}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Rejected with an opinion, resubmitted, approved; not decided twice.
    let (s, b) =
        bob.call(Method::POST, &review, Some(json!({"approve": false, "opinion": "照片不清晰"}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["identity"]["status"].as_str(), b["identity"]["opinion"].as_str()),
        (Some("rejected"), Some("照片不清晰"))
    );
    assert_eq!(b["identity"]["reviewer"], "bob");
    let (s, _) = bob.call(Method::POST, &review, Some(json!({"approve": true}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = submit(&tina, json!({"real_name": "谭娜", "kind": "passport", "number": "E12345678"})).await;
    assert_eq!((s, b["identity"]["number"].as_str()), (StatusCode::OK, Some("E*****678")), "{b}");
    let (s, b) = admin.call(Method::POST, &review, Some(json!({"approve": true, "opinion": "ok"}))).await;
    assert_eq!((s, b["identity"]["status"].as_str()), (StatusCode::OK, Some("verified")), "{b}");
    let (s, b) = submit(&tina, json!({"real_name": "谭娜", "kind": "passport", "number": "E12345678"})).await;
    assert_eq!((s, b["details"]["reason"].as_str()), (StatusCode::CONFLICT, Some("already_verified")), "{b}");

    // A new real name is no longer the verified one.
    let b = bob
        .call(Method::PATCH, &format!("/api/v1/users/{tina_id}"), Some(json!({"real_name": "Tina Tan"})))
        .await
        .1;
    assert_eq!(b["identity"]["status"], "unverified", "{b}");
}
