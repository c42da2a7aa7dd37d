//! An organization's sandbox chain (SPEC SC-7, issue 13) on real nodes:
//! made once under concurrent asks, outside the quota, listed as a
//! sandbox; a template compiled with the pinned solc-js is deployed there
//! through the ordinary deploy endpoint by the sandbox's test account, then
//! called, traced and found in the explorer; the sandbox takes no members
//! or nodes, and deleting it gives back no quota it never took.

use govchain_contracts::CompileOptions;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform};

const HOLDER: &str = "0x00000000000000000000000000000000000000aa";

async fn used_nodes(c: &Client) -> (i64, i64) {
    let q = c.get("/api/v1/quota").await;
    (q["nodes"].as_i64().unwrap(), q["used_nodes"].as_i64().unwrap())
}

fn sandboxes(chains: &Value) -> Vec<Value> {
    chains.as_array().unwrap().iter().filter(|c| c["sandbox"] == true).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_on_sqlite() {
    a_sandbox_is_made_once_outside_the_quota_and_runs_contracts(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_on_postgres() {
    a_sandbox_is_made_once_outside_the_quota_and_runs_contracts(Db::Postgres).await;
}

async fn a_sandbox_is_made_once_outside_the_quota_and_runs_contracts(db: Db) {
    let mut tp = TestPlatform::start(db).await;
    let admin = tp.admin().await;
    let (org, bob) = tp.tax_bureau(&admin).await;

    // None yet; a suite not offered is refused at the field, nothing made.
    let (s, e) = bob.call(Method::GET, "/api/v1/sandbox", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = bob.call(Method::POST, "/api/v1/sandbox", Some(json!({"suite": "rsa"}))).await;
    assert_eq!((s, e["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("suite")), "{e}");
    let (s, e) = bob.call(Method::POST, "/api/v1/sandbox", Some(json!({"org_id": 0}))).await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("org_id")),
        "{e}"
    );
    assert!(sandboxes(&admin.get("/api/v1/chains").await).is_empty());

    // Two asks at once: one makes it (201), the other gets the same (200).
    let (one, two) = tokio::join!(
        bob.call(Method::POST, "/api/v1/sandbox", Some(json!({}))),
        bob.call(Method::POST, "/api/v1/sandbox", Some(json!({}))),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED], "{} / {}", one.1, two.1);
    let sb = one.1;
    assert_eq!(sb["id"], two.1["id"], "two sandboxes: {sb} / {}", two.1);
    assert_eq!(
        (&sb["sandbox"], &sb["state"], &sb["consensus"], &sb["suite"], &sb["org_id"]),
        (&json!(true), &json!("running"), &json!("solo"), &json!("gm"), &json!(org)),
        "{sb}"
    );
    assert_eq!(sb["nodes"].as_array().unwrap().len(), 1, "{sb}");
    assert_eq!(sb["members"].as_array().unwrap().len(), 1, "{sb}");
    let chain = sb["id"].as_i64().unwrap();
    let account = sb["test_account"].as_str().unwrap().to_owned();
    assert!(account.starts_with("0x") && account.len() == 42, "{sb}");

    // One sandbox in the platform, listed in the organization's chains;
    // outside the quota (nothing granted, nothing used).
    let all = sandboxes(&admin.get("/api/v1/chains").await);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(sandboxes(&bob.get("/api/v1/chains").await)[0]["id"], chain);
    assert_eq!(bob.get("/api/v1/sandbox").await["id"], chain);
    assert_eq!(admin.get(&format!("/api/v1/sandbox?org_id={org}")).await["id"], chain);
    assert_eq!(used_nodes(&bob).await, (0, 0));
    // The platform asks for it on bob's behalf: the same chain.
    let (s, again) = admin.call(Method::POST, "/api/v1/sandbox", Some(json!({"org_id": org}))).await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &json!(chain)), "{again}");
    // Nobody else's organization is reachable through org_id.
    let (s, e) = bob.call(Method::GET, "/api/v1/sandbox?org_id=1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");

    // No governance: the policy governs nothing.
    let g = bob.get(&format!("/api/v1/chains/{chain}/governance")).await;
    assert_eq!(g["actions"], json!([]), "{g}");

    // --- A built-in template, compiled with the pinned solc-js,
    // deployed through the ordinary endpoint by the test account.
    let source = govchain_contracts::templates::TOKEN.source;
    let compiled = govchain_contracts::compile(&[("Token.sol", source)], &CompileOptions::default()).unwrap();
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    let k = compiled.contract("Token").unwrap();
    let base = format!("/api/v1/chains/{chain}/contracts");
    let (s, deployed) = bob
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "Token", "abi": k.abi, "bytecode": k.bytecode, "source": source,
                "constructor_args": ["Sandbox", "SBX", "1000"]})),
        )
        .await;
    assert_eq!((s, deployed["state"].as_str()), (StatusCode::CREATED, Some("active")), "{deployed}");
    assert_eq!(deployed["deployer_address"].as_str().unwrap().to_lowercase(), account.to_lowercase());
    let calls = format!("{base}/{}/calls", deployed["id"]);
    let balance = |who: String| {
        let (bob, calls) = (bob.clone(), calls.clone());
        async move {
            let r = bob.post(&calls, json!({"method": "balanceOf", "args": [who]})).await;
            r["result"][0]["value"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(balance(account.clone()).await, "1000");
    let sent = bob.post(&calls, json!({"method": "transfer", "args": [HOLDER, "10"]})).await;
    assert_eq!(sent["success"], true, "{sent}");
    assert_eq!(sent["caller"].as_str().unwrap().to_lowercase(), account.to_lowercase(), "{sent}");
    assert_eq!(balance(HOLDER.into()).await, "10");
    assert_eq!(balance(account.clone()).await, "990");
    let tx = sent["tx_id"].as_str().unwrap();
    let trace = bob.get(&format!("{base}/{}/transactions/{tx}/trace", deployed["id"])).await;
    assert_eq!(trace["decoded"]["signature"], "transfer(address,uint256)", "{trace}");
    let found = bob.get(&format!("/api/v1/chains/{chain}/transactions/{tx}")).await;
    assert!(found.to_string().contains(tx), "{found}");

    // --- The sandbox is the organization's alone and stays one node.
    tp_other_org(&admin).await;
    let (s, e) = bob
        .call(
            Method::POST,
            &format!("/api/v1/chains/{chain}/invitations"),
            Some(json!({"org_domain": "market.gov"})),
        )
        .await;
    assert_eq!((s, e["details"]["reason"].as_str()), (StatusCode::CONFLICT, Some("sandbox")), "{e}");
    let (s, e) = bob
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"purpose": "more", "spec": {"kind": "nodes", "chain_id": chain, "count": 1,
                "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}}})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    // --- Deleted, it gives back nothing (it took nothing); the next ask
    // makes a new one.
    let (s, e) = bob.call(Method::DELETE, &format!("/api/v1/chains/{chain}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    assert_eq!(used_nodes(&bob).await, (0, 0));
    let (s, e) = bob.call(Method::GET, "/api/v1/sandbox", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, fresh) = bob.call(Method::POST, "/api/v1/sandbox", Some(json!({"suite": "intl-k1"}))).await;
    assert_eq!((s, &fresh["suite"]), (StatusCode::CREATED, &json!("intl-k1")), "{fresh}");
    assert_ne!(fresh["id"], chain);
    assert_ne!(fresh["test_account"].as_str().unwrap().to_lowercase(), account.to_lowercase());

    // Every creation is in the operation log.
    let log = admin.get("/api/v1/audit?action=sandbox&limit=20").await;
    let details: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(details.iter().filter(|d| d.ends_with("created")).count(), 2, "{log}");
    tp.stop().await;
}

/// A second department, to invite.
async fn tp_other_org(admin: &Client) {
    admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Market Supervision", "domain": "market.gov", "admin_username": "mia",
                "admin_real_name": "Mia Wu"}),
        )
        .await;
}
