//! Refusals that keep an account or an installation from harm: resetting
//! one's own password, a refused first admin password; and the operation
//! log's chain under concurrent appends.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ADMIN_PASSWORD, Client, Db, TestPlatform};

#[tokio::test]
async fn resetting_ones_own_password_is_refused() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let me = admin.get("/api/v1/auth/me").await;
    let my_id = me["user"]["id"].as_i64().unwrap();
    let (s, body) = admin.call(Method::POST, &format!("/api/v1/users/{my_id}/reset-password"), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("your own password"), "{body}");
    assert!(body.get("initial_password").is_none(), "{body}");
    // Nothing changed: the old password still works, the session goes on.
    Client::login(&tp.url, "admin", ADMIN_PASSWORD).await;
    admin.get("/api/v1/auth/me").await;
    // Another user's password is still reset by the administrator.
    let created = admin
        .post(
            "/api/v1/users",
            json!({"username": "carol", "real_name": "Carol", "roles": ["chain_operator"]}),
        )
        .await;
    let carol = created["user"]["id"].as_i64().unwrap();
    let reset = admin.post(&format!("/api/v1/users/{carol}/reset-password"), json!({})).await;
    let password = reset["initial_password"].as_str().unwrap();
    Client::login(&tp.url, "carol", password).await;
    let log = admin.get("/api/v1/audit?action=reset-password").await;
    assert!(log.as_array().unwrap().iter().any(|e| e["result"] == "conflict"), "{log}");
}

#[tokio::test]
async fn a_refused_admin_password_touches_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("govchain.db");
    let mut config = govchain_api::ApiConfig::new(
        format!("sqlite://{}?mode=rwc", file.display()),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.admin_password = Some("password".into());
    let driver = std::sync::Arc::new(
        govchain_driver::LocalDriver::new(dir.path().join("hosts"), crate::support::node_program()).unwrap(),
    );
    let err = govchain_api::start(config, driver).await.unwrap_err().to_string();
    assert!(err.contains("admin password is refused"), "{err}");
    assert!(!file.exists(), "the database was created before the password was checked");
}

async fn concurrent_appends_verify(db: Db) {
    let tp = TestPlatform::start(db).await;
    let admin = tp.admin().await;
    // 100 state-changing requests at once (each appends to the log).
    let mut tasks = Vec::new();
    for i in 0..100 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            admin
                .call(
                    Method::POST,
                    "/api/v1/roles",
                    Some(json!({"name": format!("role{i}"), "permissions": ["chain_view"]})),
                )
                .await
                .0
        }));
    }
    for t in tasks {
        let s = tokio::time::timeout(Duration::from_secs(60), t).await.unwrap().unwrap();
        assert_eq!(s, StatusCode::CREATED);
    }
    let report = admin.get("/api/v1/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["checked"].as_u64().unwrap() >= 100, "{report}");
}

#[tokio::test]
async fn concurrent_appends_verify_sqlite() {
    concurrent_appends_verify(Db::Sqlite).await;
}

#[tokio::test]
async fn concurrent_appends_verify_postgres() {
    concurrent_appends_verify(Db::Postgres).await;
}
