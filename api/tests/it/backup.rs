//! Backups (SPEC OPS-5): a platform with organizations, users, a role, a
//! running chain, requests and operation-log entries is backed up (full),
//! changed (a role deleted, a user and an organization added), backed up
//! again (incremental, twice), then restored into an empty database; the
//! restored platform answers the same and its operation log verifies. A
//! changed file, a missing incremental and a database that is not empty
//! are refused with nothing changed; each backup's export has one file per
//! table with the manifest's row counts.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use govchain_api::{
    ApiConfig,
    backup::{self, Kind, Schedule},
};
use govchain_driver::LocalDriver;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    contract_lifecycle::running_chain,
    support::{ADMIN_PASSWORD, Client, Db, TestPlatform, eventually, node_program, postgres_db},
};

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_on_sqlite() {
    backup_and_restore(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_on_postgres() {
    backup_and_restore(Db::Postgres).await;
}

fn schedule(dir: &Path) -> Schedule {
    let mut s = Schedule::new(dir);
    // Only the first full backup comes from the schedule in this test.
    s.full_every = Duration::from_secs(24 * 3600);
    s.incremental_every = Duration::from_secs(24 * 3600);
    s
}

/// What the platform answers about its data, for comparison: the
/// listings, with the fields a login changes left out.
async fn answers(admin: &Client, last_oplog: Option<i64>) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for (name, path) in [
        ("orgs", "/api/v1/orgs"),
        ("users", "/api/v1/users"),
        ("roles", "/api/v1/roles"),
        ("requests", "/api/v1/requests"),
        ("chains", "/api/v1/chains"),
        ("audit", "/api/v1/audit"),
    ] {
        let mut v = admin.get(path).await;
        if let Some(list) = v.as_array_mut() {
            for item in list.iter_mut() {
                if let Some(o) = item.as_object_mut() {
                    o.remove("last_login_at");
                    if name == "chains" {
                        // What the running nodes report changes by itself.
                        for live in ["height", "leader", "health", "nodes"] {
                            o.remove(live);
                        }
                    }
                }
            }
            if name == "audit" {
                // Only what the backup can hold: entries up to the last one then.
                let last = last_oplog.unwrap_or(i64::MAX);
                list.retain(|e| e["id"].as_i64().is_some_and(|id| id <= last));
            }
        }
        out.insert(name, v);
    }
    out
}

async fn count_orgs(url: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = backup::open(url).await.unwrap();
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM orgs"))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.unwrap();
    n
}

async fn empty_database(db: Db, dir: &Path, name: &str) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join(name).display()),
        Db::Postgres => postgres_db().await,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

async fn backup_and_restore(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let sched = schedule(&dir);
    let mut p = TestPlatform::start_with(db, |c| c.backup = Some(sched)).await;
    let admin = p.admin().await;

    // The schedule takes a full backup at once when there is none.
    let scheduled = eventually("the scheduled full backup", Duration::from_secs(30), || async {
        let list = admin.get("/api/v1/backups").await;
        list.as_array().unwrap().iter().find(|m| m["kind"] == "full").cloned()
    })
    .await;

    // Data: an organization with its admin and a user, a custom role, a
    // running chain from an approved request, a rejected request.
    let (_tax, bob) = p.tax_bureau(&admin).await;
    bob.post(
        "/api/v1/users",
        json!({"username": "carol", "real_name": "Carol", "roles": ["chain_developer"]}),
    )
    .await;
    let role =
        bob.post("/api/v1/roles", json!({"name": "readers", "permissions": ["chain_view"]})).await["id"]
            .as_i64()
            .unwrap();
    let spec = json!({"kind": "chain", "name": "tax-ledger", "consensus": "solo", "suite": "gm", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = running_chain(&admin, &bob, spec.clone()).await;
    let mut other = spec.clone();
    other["name"] = json!("tax-archive");
    let req = bob.post("/api/v1/requests", json!({"purpose": "archive", "spec": other})).await["id"]
        .as_i64()
        .unwrap();
    admin.post(&format!("/api/v1/requests/{req}/reject"), json!({"opinion": "not now"})).await;

    // Bad input first: nothing is written.
    let (s, v) = admin.call(Method::POST, "/api/v1/backups", Some(json!({"kind": "weekly"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["details"]["field"], "kind");
    let (s, _) = bob.call(Method::POST, "/api/v1/backups", Some(json!({"kind": "full"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let t = std::time::Instant::now();
    let full = admin.post("/api/v1/backups", json!({"kind": "full"})).await;
    let full_ms = t.elapsed().as_millis();
    assert_eq!(full["kind"], "full");
    assert_eq!(full["seq"], 0);
    assert_ne!(full["id"], scheduled["id"]);
    let full_id = full["id"].as_str().unwrap().to_owned();

    // Changes: a deletion, an addition in another organization.
    let (s, _) = bob.call(Method::DELETE, &format!("/api/v1/roles/{role}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Health Bureau", "domain": "health.gov", "admin_username": "hana", "admin_real_name": "Hana"}),
        )
        .await;
    let t = std::time::Instant::now();
    let inc1 = admin.post("/api/v1/backups", json!({"kind": "incremental"})).await;
    let inc_ms = t.elapsed().as_millis();
    assert_eq!(inc1["kind"], "incremental");
    assert_eq!(
        (inc1["base"].as_str(), inc1["parent"].as_str(), inc1["seq"].as_i64()),
        (Some(&*full_id), Some(&*full_id), Some(1))
    );
    let table = |m: &Value, name: &str| {
        m["tables"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap()
    };
    assert_eq!(table(&inc1, "roles")["deletes"], 1, "{inc1}");
    assert_eq!(table(&inc1, "orgs")["upserts"], 1, "{inc1}");
    assert!(table(&inc1, "oplog")["upserts"].as_u64().unwrap() >= 2, "{inc1}");
    assert!(
        inc1["bytes"].as_u64().unwrap() < full["bytes"].as_u64().unwrap(),
        "an incremental holds only the changes (and the export)"
    );

    bob.post("/api/v1/users", json!({"username": "dave", "real_name": "Dave", "roles": ["user"]})).await;
    let before_oplog = admin.get("/api/v1/audit").await;
    let last = before_oplog.as_array().unwrap().iter().filter_map(|e| e["id"].as_i64()).max();
    let before = answers(&admin, last).await;
    let inc2 = admin.post("/api/v1/backups", json!({"kind": "incremental"})).await;
    assert_eq!((inc2["parent"].as_str(), inc2["seq"].as_i64()), (inc1["id"].as_str(), Some(2)));
    let inc2_id = inc2["id"].as_str().unwrap().to_owned();
    eprintln!(
        "backups on {db:?}: full {} bytes in {full_ms} ms, incremental {} bytes in {inc_ms} ms",
        full["bytes"], inc1["bytes"]
    );

    // The list holds all four, newest first, and the log has the actions.
    let list = admin.get("/api/v1/backups").await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&*inc2_id, inc1["id"].as_str().unwrap(), &*full_id, scheduled["id"].as_str().unwrap()]);
    let log = admin.get("/api/v1/audit").await;
    assert!(
        log.as_array().unwrap().iter().any(|e| e["action"] == "BACKUP full" && e["actor"] == "platform"),
        "{log}"
    );
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "POST /backups" && e["result"] == "ok"));

    // The export: one file per table, with the manifest's row counts.
    let orgs_now = before["orgs"].as_array().unwrap().len() as u64;
    for m in [&full, &inc1, &inc2] {
        let export = dir.join(m["id"].as_str().unwrap()).join("export");
        let files = std::fs::read_dir(&export).unwrap().count();
        assert_eq!(files, m["tables"].as_array().unwrap().len());
        for t in m["tables"].as_array().unwrap() {
            let rows: Vec<Value> = serde_json::from_slice(
                &std::fs::read(export.join(format!("{}.json", t["name"].as_str().unwrap()))).unwrap(),
            )
            .unwrap();
            assert_eq!(rows.len() as u64, t["rows"].as_u64().unwrap(), "{} in {}", t["name"], m["id"]);
        }
    }
    assert_eq!(table(&inc2, "orgs")["rows"].as_u64(), Some(orgs_now));

    // Stop the platform (its chain's data stays for the restored one).
    p.stop().await;
    let hosts = p.hosts();

    // A changed file is refused, and the target stays empty.
    let tampered = work.path().join("tampered");
    copy_dir(&dir, &tampered);
    let users_file = tampered.join(&full_id).join("data/users.json");
    let text = std::fs::read_to_string(&users_file).unwrap().replace("carol", "mallory");
    std::fs::write(&users_file, text).unwrap();
    let url = empty_database(db, work.path(), "tampered.db").await;
    let target = govchain_api::connect(&url).await.unwrap();
    let err = backup::restore(&target, &tampered, None, false).await.unwrap_err().to_string();
    assert!(err.contains("does not match its manifest") && err.contains("users.json"), "{err}");
    target.close().await.unwrap();
    assert_eq!(count_orgs(&url).await, 0);

    // A missing incremental is a gap.
    let gap = work.path().join("gap");
    copy_dir(&dir, &gap);
    std::fs::remove_dir_all(gap.join(inc1["id"].as_str().unwrap())).unwrap();
    let target = govchain_api::connect(&url).await.unwrap();
    let err = backup::restore(&target, &gap, None, false).await.unwrap_err().to_string();
    assert!(err.contains("gap") && err.contains(&inc2_id), "{err}");
    target.close().await.unwrap();
    assert_eq!(count_orgs(&url).await, 0);

    // Restore into an empty database and serve it.
    let url = empty_database(db, work.path(), "restored.db").await;
    let target = govchain_api::connect(&url).await.unwrap();
    let done = backup::restore(&target, &dir, None, false).await.unwrap();
    assert_eq!(done.chain, [full_id.clone(), inc1["id"].as_str().unwrap().to_owned(), inc2_id.clone()]);
    // Once it holds data, another restore is refused unless forced.
    let err = backup::restore(&target, &dir, None, false).await.unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    target.close().await.unwrap();

    let mut config = ApiConfig::new(url.clone(), "127.0.0.1:0".parse().unwrap());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    let driver = Arc::new(LocalDriver::new(hosts, node_program()).unwrap());
    let platform = govchain_api::start(config, driver).await.unwrap();
    let restored = TestPlatform {
        url: platform.url.clone(),
        platform: Some(platform),
        dir: tempfile::tempdir().unwrap(),
    };
    let admin = restored.admin().await;
    let after = answers(&admin, last).await;
    for (name, v) in &before {
        if *name != "chains" {
            assert_eq!(&after[name], v, "{name} after the restore");
        }
    }
    // The chain resumes from its nodes' data.
    let chains = eventually("the restored chain to run", Duration::from_secs(60), || async {
        let c = answers(&admin, last).await.remove("chains").unwrap();
        (c == before["chains"]).then_some(c)
    })
    .await;
    assert!(
        chains.as_array().unwrap().iter().any(|c| c["id"] == chain && c["state"] == "running"),
        "{chains}"
    );
    let verify = admin.get("/api/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(
        verify["checked"].as_u64().unwrap() >= before["audit"].as_array().unwrap().len() as u64,
        "{verify}"
    );
    // Users of the restored platform log in with their passwords.
    assert!(admin.get("/api/v1/users").await.as_array().unwrap().iter().any(|u| u["username"] == "dave"));
    // New rows get new ids after the restored ones.
    let org = admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Water Bureau", "domain": "water.gov", "admin_username": "wei", "admin_real_name": "Wei"}),
        )
        .await;
    let max_before =
        before["orgs"].as_array().unwrap().iter().filter_map(|o| o["id"].as_i64()).max().unwrap();
    assert!(org["org"]["id"].as_i64().unwrap() > max_before, "{org}");
    drop(restored);

    // A forced restore replaces what is there with the backup.
    let target = govchain_api::connect(&url).await.unwrap();
    backup::restore(&target, &dir, Some(&full_id), true).await.unwrap();
    target.close().await.unwrap();
    assert_eq!(count_orgs(&url).await, table(&full, "orgs")["rows"].as_i64().unwrap());
}

#[tokio::test]
async fn an_incremental_needs_a_backup_to_build_on() {
    let work = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", work.path().join("g.db").display());
    let db = govchain_api::connect(&url).await.unwrap();
    let err = backup::take(&db, &work.path().join("b"), Kind::Incremental).await.unwrap_err().to_string();
    assert!(err.contains("full backup first"), "{err}");
    let full = backup::take(&db, &work.path().join("b"), Kind::Full).await.unwrap();
    let inc = backup::take(&db, &work.path().join("b"), Kind::Incremental).await.unwrap();
    assert_eq!(inc.parent.as_deref(), Some(full.id.as_str()));
    assert!(inc.tables.iter().all(|t| t.upserts == 0 && t.deletes == 0), "{inc:?}");
    let err = backup::restore(&db, &work.path().join("none"), None, false).await.unwrap_err().to_string();
    assert!(err.contains("not a directory of backups"), "{err}");
}

#[tokio::test]
async fn old_chains_go_and_one_backup_directory_restores() {
    let work = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", work.path().join("g.db").display());
    let db = govchain_api::connect(&url).await.unwrap();
    let dir = work.path().join("b");
    let mut taken = Vec::new();
    for kind in [Kind::Full, Kind::Incremental, Kind::Full, Kind::Incremental, Kind::Full] {
        taken.push(backup::take(&db, &dir, kind).await.unwrap().id);
    }
    let gone = backup::prune(&dir, 2).unwrap();
    assert_eq!(gone, taken[..2]);
    let left: Vec<String> = backup::list(&dir).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(left, taken[2..]);
    // Stale directories of a backup being written are not backups.
    std::fs::create_dir_all(dir.join(".x.partial")).unwrap();
    assert_eq!(backup::list(&dir).unwrap().len(), 3);

    // One incremental's own directory restores its chain (its siblings).
    let target_url = format!("sqlite://{}?mode=rwc", work.path().join("t.db").display());
    let target = govchain_api::connect(&target_url).await.unwrap();
    let done = backup::restore(&target, &dir.join(&taken[3]), None, false).await.unwrap();
    assert_eq!(done.chain, taken[2..4]);
}
