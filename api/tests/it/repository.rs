//! The contract repository (SPEC SC-6) through the REST API: projects from
//! an upload, a built-in template or a shared project; every save and
//! removal a revision with its author, time, message, size and digest;
//! old revisions readable; the shared store read and copied by others but
//! changed only by its organization; refusals at the field that change
//! nothing; every write in the operation log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Client, Db, TestPlatform};

const PROJECTS: &str = "/api/v1/contract-projects";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
}

/// A refusal at `field` (422), or the status and body when it is not one.
async fn refused(c: &Client, method: Method, path: &str, body: Option<Value>, field: &str) {
    let (s, e) = c.call(method.clone(), path, body).await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
        "{method} {path}: {e}"
    );
}

/// A new organization's admin, logged in.
async fn department(tp: &TestPlatform, admin: &Client, name: &str, domain: &str, user: &str) -> Client {
    let v = admin
        .post(
            "/api/v1/orgs",
            json!({"name": name, "domain": domain, "admin_username": user, "admin_real_name": "Admin"}),
        )
        .await;
    Client::login(&tp.url, user, v["initial_password"].as_str().unwrap()).await
}

/// A user of `org_admin`'s organization with one built-in role, logged in.
async fn member(tp: &TestPlatform, org_admin: &Client, user: &str, role: &str) -> Client {
    let v = org_admin
        .post("/api/v1/users", json!({"username": user, "real_name": "Someone", "roles": [role]}))
        .await;
    Client::login(&tp.url, user, v["initial_password"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repository_on_sqlite() {
    projects_revisions_templates_and_the_shared_store(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repository_on_postgres() {
    projects_revisions_templates_and_the_shared_store(Db::Postgres).await;
}

async fn projects_revisions_templates_and_the_shared_store(db: Db) {
    let mut tp = TestPlatform::start(db).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let mia = department(&tp, &admin, "Market Supervision", "market.gov", "mia").await;
    let auditor = member(&tp, &bob, "tax-auditor", "chain_auditor").await;
    let dev = member(&tp, &bob, "tax-dev", "chain_developer").await;

    // --- The built-in templates, as the contracts crate ships them.
    let templates = bob.get("/api/v1/contract-templates").await;
    let mut listed = names(&templates);
    listed.sort();
    assert_eq!(listed, ["Evidence", "RecordStore", "Token", "Traceability"]);
    let token_source = include_str!("../../../contracts/templates/Token.sol");
    let token = templates.as_array().unwrap().iter().find(|t| t["name"] == "Token").unwrap();
    assert_eq!((token["file"].as_str(), token["source"].as_str()), (Some("Token.sol"), Some(token_source)));

    // --- An upload: each file its own revision.
    let bank = "pragma solidity 0.8.37;\ncontract Bank {}\n";
    let readme = "# Bank\n";
    let (s, p) = bob
        .call(
            Method::POST,
            PROJECTS,
            Some(json!({"name": "Bank", "description": "deposits",
                "files": [{"path": "src/Bank.sol", "content": bank}, {"path": "README.md", "content": readme}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(
        (p["revision"].as_i64(), p["file_count"].as_i64(), &p["own"]),
        (Some(2), Some(2), &json!(true))
    );
    let bank_id = id(&p);
    let one = format!("{PROJECTS}/{bank_id}");
    let f = p["files"].as_array().unwrap().iter().find(|f| f["path"] == "src/Bank.sol").unwrap().clone();
    assert_eq!(
        (f["sha256"].as_str(), f["size"].as_i64()),
        (Some(sha256(bank).as_str()), Some(bank.len() as i64))
    );

    // From a template: its file and summary.
    let (s, t) =
        dev.call(Method::POST, PROJECTS, Some(json!({"name": "My token", "template": "Token"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["files"][0]["path"].as_str(), t["files"][0]["content"].as_str()),
        (Some("Token.sol"), Some(token_source))
    );
    assert!(t["description"].as_str().unwrap().contains("ERC-20"), "{t}");

    // --- A save is a revision with its author, message, size and digest;
    // the old revision keeps the old text.
    let bank2 = "pragma solidity 0.8.37;\ncontract Bank { uint256 public total; }\n";
    let (s, r) = dev
        .call(
            Method::PUT,
            &format!("{one}/files"),
            Some(json!({"path": "src/Bank.sol", "content": bank2, "message": "a total"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!((r["revision"].as_i64(), r["action"].as_str()), (Some(3), Some("save")), "{r}");
    let dev_id = dev.get("/api/v1/auth/me").await["user"]["id"].clone();
    let history = bob.get(&format!("{one}/files/history?path=src/Bank.sol")).await;
    let revs: Vec<(i64, String, String, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["revision"].as_i64().unwrap(),
                h["message"].as_str().unwrap().to_owned(),
                h["sha256"].as_str().unwrap().to_owned(),
                h["size"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revs,
        [
            (3, "a total".to_owned(), sha256(bank2), bank2.len() as i64),
            (1, "uploaded".to_owned(), sha256(bank), bank.len() as i64)
        ]
    );
    assert_eq!(history[0]["user_id"], dev_id, "{history}");
    assert!(history[0]["created_at"].as_i64().unwrap() >= history[1]["created_at"].as_i64().unwrap());
    assert_eq!(bob.get(&format!("{one}/revisions/1")).await["content"], bank);
    assert_eq!(bob.get(&format!("{one}/revisions/3")).await["content"], bank2);
    let (s, _) = bob.call(Method::GET, &format!("{one}/revisions/99"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A removal is a revision too; the file's history stays.
    let (s, e) = bob.call(Method::DELETE, &format!("{one}/files?path=README.md&message=gone"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let now = bob.get(&one).await;
    assert_eq!(now["files"].as_array().unwrap().len(), 1, "{now}");
    assert_eq!((now["revision"].as_i64(), now["files"][0]["content"].as_str()), (Some(4), Some(bank2)));
    let h = bob.get(&format!("{one}/files/history?path=README.md")).await;
    assert_eq!(
        (h[0]["action"].as_str(), h[0]["message"].as_str(), h[0]["revision"].as_i64()),
        (Some("delete"), Some("gone"), Some(4))
    );
    assert_eq!(bob.get(&format!("{one}/revisions/2")).await["content"], readme);
    let (s, _) = bob.call(Method::DELETE, &format!("{one}/files?path=README.md"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(bob.get(&format!("{one}/files/history")).await.as_array().unwrap().len(), 4);

    // --- Refusals name the field and change nothing.
    let big = "x".repeat(512 * 1024 + 1);
    let file = |path: &str, content: &str| json!({"path": path, "content": content});
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"name": "ok", "description": "bell\u{7}"}), "description"),
        (json!({"name": "ok", "files": [file("../x.sol", "")]}), "files[0].path"),
        (json!({"name": "ok", "files": [file("/abs.sol", "")]}), "files[0].path"),
        (json!({"name": "ok", "files": [file("a.txt", "")]}), "files[0].path"),
        (json!({"name": "ok", "files": [file("a/./b.sol", "")]}), "files[0].path"),
        (json!({"name": "ok", "files": [file(&format!("{}.sol", "a".repeat(197)), "")]}), "files[0].path"),
        (json!({"name": "ok", "files": [file("a.sol", ""), file("a.sol", "")]}), "files[1].path"),
        (json!({"name": "ok", "files": [file("a.sol", &big)]}), "files[0].content"),
        (
            json!({"name": "ok", "files": (0..101).map(|i| file(&format!("f{i}.sol"), "")).collect::<Vec<_>>()}),
            "files",
        ),
        (json!({"name": "ok", "template": "Nope"}), "template"),
        (json!({"name": "ok", "template": "Token", "files": []}), "template"),
        (json!({"name": "ok", "from_shared": bank_id}), "from_shared"),
    ] {
        refused(&bob, Method::POST, PROJECTS, Some(body), field).await;
    }
    let (s, e) = bob.call(Method::POST, PROJECTS, Some(json!({"name": "Bank"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    for (body, field) in [
        (json!({"path": "..", "content": ""}), "path"),
        (json!({"path": "a.sol", "content": big}), "content"),
        (json!({"path": "a.sol", "content": "", "message": "m".repeat(1001)}), "message"),
    ] {
        refused(&bob, Method::PUT, &format!("{one}/files"), Some(body), field).await;
    }
    refused(&bob, Method::DELETE, &format!("{one}/files?path=../src/Bank.sol"), None, "path").await;
    refused(&bob, Method::GET, &format!("{one}/files/history?path=/etc/x.sol"), None, "path").await;
    let mut projects = names(&bob.get(PROJECTS).await);
    projects.sort();
    assert_eq!(projects, ["Bank", "My token"]);
    assert_eq!(bob.get(&one).await, now, "a refusal changed the project");

    // At most 100 files: the 101st save is refused.
    let files: Vec<Value> = (0..100).map(|i| file(&format!("f{i}.sol"), "")).collect();
    let full = bob.post(PROJECTS, json!({"name": "Full", "files": files})).await;
    assert_eq!(full["file_count"], 100);
    let full_files = format!("{PROJECTS}/{}/files", id(&full));
    refused(&bob, Method::PUT, &full_files, Some(file("f100.sol", "")), "path").await;
    let (s, r) = bob.call(Method::PUT, &full_files, Some(file("f0.sol", "changed"))).await;
    assert_eq!((s, r["revision"].as_i64()), (StatusCode::OK, Some(101)), "an existing file still saves: {r}");

    // --- Tenancy: another department sees nothing of a private project.
    assert!(!names(&mia.get(PROJECTS).await).contains(&"Bank".to_owned()));
    for path in [one.clone(), format!("{one}/files/history"), format!("{one}/revisions/1")] {
        let (s, _) = mia.call(Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = mia.call(Method::PUT, &format!("{one}/files"), Some(file("x.sol", ""))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = mia.call(Method::POST, &format!("{one}/share"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The auditor reads, changes nothing.
    assert_eq!(auditor.get(&one).await["id"], bank_id);
    let (s, _) = auditor.call(Method::PUT, &format!("{one}/files"), Some(file("x.sol", ""))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = auditor.call(Method::POST, PROJECTS, Some(json!({"name": "Mine"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // --- Shared: others read and copy, never change; the copy is theirs.
    let shared = bob.post(&format!("{one}/share"), json!({})).await;
    assert_eq!(shared["shared"], true, "{shared}");
    let theirs = mia.get(PROJECTS).await;
    let listed = theirs.as_array().unwrap().iter().find(|p| p["id"] == bank_id).unwrap();
    assert_eq!((&listed["shared"], &listed["own"]), (&json!(true), &json!(false)), "{theirs}");
    assert_eq!(mia.get(&one).await["files"][0]["content"], bank2);
    assert_eq!(mia.get(&format!("{one}/revisions/1")).await["content"], bank);
    let (s, e) = mia.call(Method::PUT, &format!("{one}/files"), Some(file("src/Bank.sol", "evil"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, _) = mia.call(Method::DELETE, &format!("{one}/files?path=src/Bank.sol"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = mia.call(Method::DELETE, &format!("{one}/share"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, copy) =
        mia.call(Method::POST, PROJECTS, Some(json!({"name": "Our bank", "from_shared": bank_id}))).await;
    assert_eq!(s, StatusCode::CREATED, "{copy}");
    assert_eq!(
        (copy["copied_from"].as_i64(), copy["description"].as_str()),
        (Some(bank_id), Some("deposits"))
    );
    assert_eq!(copy["files"][0]["content"], bank2);
    let copy_one = format!("{PROJECTS}/{}", id(&copy));
    let (s, r) =
        mia.call(Method::PUT, &format!("{copy_one}/files"), Some(file("src/Bank.sol", "ours"))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(bob.get(&one).await["files"][0]["content"], bank2, "the copy's change reached the original");

    // Withdrawn: gone from the others' view, their copy stays theirs.
    let (s, _) = bob.call(Method::DELETE, &format!("{one}/share"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = mia.call(Method::GET, &one, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(mia.get(&copy_one).await["files"][0]["content"], "ours");
    refused(
        &mia,
        Method::POST,
        PROJECTS,
        Some(json!({"name": "Again", "from_shared": bank_id})),
        "from_shared",
    )
    .await;

    // The platform reads every project, changes none of them.
    assert_eq!(admin.get(&copy_one).await["files"][0]["content"], "ours");
    assert!(names(&admin.get(PROJECTS).await).contains(&"Our bank".to_owned()));
    let (s, _) = admin.call(Method::PUT, &format!("{copy_one}/files"), Some(file("x.sol", ""))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Every write is in the operation log.
    let log = admin.get("/api/v1/audit?action=contract-projects&limit=100").await;
    let details: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["detail"].as_str()).collect();
    for needle in [
        "(Bank): 2 file(s)",
        "saved src/Bank.sol as revision 3",
        "removed README.md in revision 4",
        "(Bank) shared",
        "(Bank) no longer shared",
        "(Our bank): 1 file(s)",
    ] {
        assert!(details.iter().any(|d| d.contains(needle)), "{needle}: {details:?}");
    }
    tp.stop().await;
}
