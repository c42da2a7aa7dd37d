//! The whole journey of SPEC PRV-1..6 against a real control plane on
//! loopback with real node processes, on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_sdk::Wallet;
use govchain_types::api::SubmitMode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually, paths_containing};

const RES: fn() -> Value = || json!({"cpu_millis": 500, "memory_mb": 256, "storage_mb": 1024});

async fn chain(c: &Client, id: i64) -> Value {
    c.get(&format!("/api/v1/chains/{id}")).await
}

/// Heights every node reports, by name (None: unreachable).
fn heights(chain: &Value) -> Vec<(String, Option<u64>)> {
    chain["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_owned(), n["live"]["height"].as_u64()))
        .collect()
}

/// Commits one data-contract write through node `api_url`; returns when committed.
pub(crate) async fn put(api_url: &str, chain_key: &str, key: &str) {
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), chain_key);
    let tx = wallet.data_call(&DataCall::Put { key: key.as_bytes().to_vec(), value: b"v".to_vec() }).unwrap();
    let client = govchain_sdk::Client::new(api_url).unwrap();
    let resp = client.submit(&tx, SubmitMode::Sync).await.unwrap();
    assert_eq!(resp.status, "committed", "{resp:?}");
}

async fn wait_request(c: &Client, id: i64) -> Value {
    eventually("the request to finish provisioning", Duration::from_secs(180), || async {
        let r = c.get(&format!("/api/v1/requests/{id}")).await;
        match r["status"].as_str().unwrap() {
            "running" => Some(r),
            "failed" => panic!("provisioning failed: {r}"),
            _ => None,
        }
    })
    .await
}

async fn journey(db: Db) {
    let mut tp = TestPlatform::start(db).await;
    let admin = tp.admin().await;

    // The approver's live message stream, opened before anything happens.
    let stream_resp = admin.http.get(format!("{}/api/v1/messages/stream", tp.url)).send().await.unwrap();
    assert_eq!(stream_resp.status(), StatusCode::OK);
    crate::contract::assert_answer(&crate::contract::Exchange {
        method: &Method::GET,
        path: "/api/v1/messages/stream",
        request: None,
        status: stream_resp.status(),
        content_type: stream_resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        body: "",
    });
    let mut stream = stream_resp.bytes_stream();

    // Department A registers itself; until the platform reviews it, it cannot request.
    let anon = Client::anonymous(&tp.url);
    let (s, reg) = anon
        .call(
            Method::POST,
            "/api/v1/auth/register",
            Some(
                json!({"org_name": "Market Supervision", "domain": "market.gov", "description": "市场监管局",
                "username": "alice", "password": "Market-Secret-42", "real_name": "Alice Zhang"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["org"]["status"], "pending");
    let a_org = reg["org"]["id"].as_i64().unwrap();
    let a = Client::login(&tp.url, "alice", "Market-Secret-42").await;
    let chain_req = json!({"purpose": "licence registry shared with tax", "spec": {"kind": "chain", "name": "permits",
        "consensus": "raft", "suite": "gm", "nodes": 4, "resources": RES()}});
    let (s, body) = a.call(Method::POST, "/api/v1/requests", Some(chain_req.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a pending organization cannot request: {body}");
    admin
        .post(&format!("/api/v1/orgs/{a_org}/review"), json!({"approve": true, "opinion": "verified"}))
        .await;

    // A requests a 4-node raft gm chain; the approver sees it at once.
    let submitted = Instant::now();
    let (s, req) = a.call(Method::POST, "/api/v1/requests", Some(chain_req)).await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    let req_id = req["id"].as_i64().unwrap();
    let pushed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen = String::new();
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("request_submitted") {
                return seen;
            }
        }
        panic!("the message stream ended");
    })
    .await
    .expect("the approver was not told within 10 s");
    assert!(pushed.contains("market.gov"), "{pushed}");
    let queue = admin.get("/api/v1/requests?status=pending").await;
    assert!(queue.as_array().unwrap().iter().any(|r| r["id"].as_i64() == Some(req_id)));
    // A's quota grants nothing before approval.
    assert_eq!(a.get("/api/v1/quota").await["nodes"], 0);

    // Approval provisions it; the request shows progress to running.
    let approved = Instant::now();
    admin
        .post(&format!("/api/v1/requests/{req_id}/approve"), json!({"opinion": "approved for the pilot"}))
        .await;
    let done = wait_request(&a, req_id).await;
    let to_running = approved.elapsed();
    let chain_id = done["chain_id"].as_i64().unwrap();
    // The notice follows the status (written once the request runs).
    let kinds: Vec<String> = eventually("the request_running message", Duration::from_secs(10), || async {
        let kinds: Vec<String> = a
            .get("/api/v1/messages")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.contains(&"request_running".to_owned()).then_some(kinds)
    })
    .await;
    assert!(kinds.contains(&"request_approved".to_owned()), "{kinds:?}");
    let quota = a.get("/api/v1/quota").await;
    assert_eq!((quota["nodes"].as_i64(), quota["used_nodes"].as_i64()), (Some(4), Some(4)), "{quota}");

    // The chain runs: four nodes, a leader, and its height grows.
    let c = chain(&a, chain_id).await;
    assert_eq!(c["state"], "running");
    assert_eq!(c["nodes"].as_array().unwrap().len(), 4);
    assert!(c["leader"].is_string(), "{c}");
    let key = c["chain_key"].as_str().unwrap().to_owned();
    let node0 = c["nodes"][0]["api_url"].as_str().unwrap().to_owned();
    let h0 = c["height"].as_u64().unwrap();
    put(&node0, &key, "first").await;
    let first_block = approved.elapsed();
    // Live status is polled at most once a second per chain: the new
    // height shows within that.
    eventually("the new height in the chain's view", Duration::from_secs(5), || async {
        (chain(&a, chain_id).await["height"].as_u64()? > h0).then_some(())
    })
    .await;
    // The list with live status says the same, and the chain is healthy.
    let listed = a.get("/api/v1/chains?live=true").await;
    let mine = listed.as_array().unwrap().iter().find(|c| c["id"] == chain_id).unwrap().clone();
    assert_eq!(mine["health"], "healthy", "{mine}");
    assert!(mine["height"].as_u64().unwrap() > h0, "{mine}");
    assert!(a.get("/api/v1/chains").await[0]["health"].is_null(), "no live status unless asked");
    // A node goes away behind the platform's back: the chain is degraded
    // (three of four answer), then healthy again once it is back.
    let live_health = || async {
        let listed = a.get("/api/v1/chains?live=true").await;
        let c = listed.as_array().unwrap().iter().find(|c| c["id"] == chain_id).cloned().unwrap();
        c["health"].as_str().unwrap_or_default().to_owned()
    };
    let victim = c["nodes"][3]["name"].as_str().unwrap().to_owned();
    let driver = tp.platform.as_ref().unwrap().state.driver.clone();
    driver.stop_node(&key, &victim).await.unwrap();
    eventually("the chain to read degraded", Duration::from_secs(10), || async {
        (live_health().await == "degraded").then_some(())
    })
    .await;
    driver.start_node(&key, &victim).await.unwrap();
    eventually("the chain to read healthy again", Duration::from_secs(30), || async {
        (live_health().await == "healthy").then_some(())
    })
    .await;
    println!(
        "measured: submit-to-approve {:?}, approve-to-running {to_running:?}, approve-to-first-committed-block {first_block:?} (4-node raft gm, {db:?})",
        approved - submitted
    );

    // The platform creates department B; A invites B (three checks), B accepts in its message centre.
    let (b_org, b) = tp.tax_bureau(&admin).await;
    let (s, _) = a
        .call(
            Method::POST,
            &format!("/api/v1/chains/{chain_id}/invitations"),
            Some(json!({"org_domain": "nobody.gov"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "check 1: the invited organization must exist");
    let (s, _) = a
        .call(
            Method::POST,
            &format!("/api/v1/chains/{chain_id}/invitations"),
            Some(json!({"org_domain": "market.gov"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "check 2: not already a member");
    // B cannot see A's chain before it joins.
    let (s, _) = b.call(Method::GET, &format!("/api/v1/chains/{chain_id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let inv = a
        .post(
            &format!("/api/v1/chains/{chain_id}/invitations"),
            json!({"org_domain": "tax.gov", "message": "join us"}),
        )
        .await;
    let b_msgs = b.get("/api/v1/messages?unread=true").await;
    assert!(b_msgs.as_array().unwrap().iter().any(|m| m["kind"] == "invitation_received"), "{b_msgs}");
    b.post(&format!("/api/v1/invitations/{}/accept", inv["id"]), json!({})).await;
    assert!(
        chain(&b, chain_id).await["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["org_id"].as_i64() == Some(b_org))
    );

    // B adds its own node: without a grant the quota refuses; with an approved request it joins and catches up.
    let (s, body) = b
        .call(Method::POST, &format!("/api/v1/chains/{chain_id}/nodes"), Some(json!({"resources": RES()})))
        .await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("quota_exceeded")), "{body}");
    for i in 0..20 {
        put(&node0, &key, &format!("before-b/{i}")).await;
    }
    let breq = b
        .post(
            "/api/v1/requests",
            json!({"purpose": "tax node", "spec": {"kind": "nodes", "chain_id": chain_id, "count": 1, "resources": RES()}}),
        )
        .await;
    admin.post(&format!("/api/v1/requests/{}/approve", breq["id"]), json!({"opinion": "ok"})).await;
    wait_request(&b, breq["id"].as_i64().unwrap()).await;
    let c = chain(&b, chain_id).await;
    assert_eq!(c["nodes"].as_array().unwrap().len(), 5, "{c}");
    let b_node =
        c["nodes"].as_array().unwrap().iter().find(|n| n["org_id"].as_i64() == Some(b_org)).unwrap().clone();
    assert_eq!(b_node["role"], "consensus");
    put(&node0, &key, "after-b").await;
    eventually("B's node to catch up", Duration::from_secs(60), || async {
        let c = chain(&b, chain_id).await;
        let hs = heights(&c);
        let max = hs.iter().filter_map(|h| h.1).max()?;
        let bh = hs.iter().find(|h| h.0 == b_node["name"].as_str().unwrap())?.1?;
        (bh == max).then_some(())
    })
    .await;
    // B's node serves the chain's data.
    let b_api = govchain_sdk::Client::new(b_node["api_url"].as_str().unwrap()).unwrap();
    assert!(b_api.status().await.unwrap().height >= c["height"].as_u64().unwrap());

    // A stops and starts the chain; the height continues.
    let before = chain(&a, chain_id).await["height"].as_u64().unwrap();
    let stopped = a.post(&format!("/api/v1/chains/{chain_id}/stop"), json!({})).await;
    assert_eq!(stopped["state"], "stopped");
    let c = chain(&a, chain_id).await;
    assert!(heights(&c).iter().all(|h| h.1.is_none()), "stopped nodes still answer: {c}");
    a.post(&format!("/api/v1/chains/{chain_id}/start"), json!({})).await;
    let c = eventually("the chain to answer again", Duration::from_secs(60), || async {
        let c = chain(&a, chain_id).await;
        (c["height"].as_u64()? >= before && c["leader"].is_string()).then_some(c)
    })
    .await;
    assert_eq!(c["state"], "running");
    put(&node0, &key, "after-restart").await;
    // Live status may be up to a second old.
    eventually("the height to grow after the restart", Duration::from_secs(5), || async {
        (chain(&a, chain_id).await["height"].as_u64()? > before).then_some(())
    })
    .await;

    // B cannot stop or delete A's chain.
    let (s, _) = b.call(Method::POST, &format!("/api/v1/chains/{chain_id}/stop"), Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Deleting the chain removes its processes and data.
    let urls: Vec<String> =
        c["nodes"].as_array().unwrap().iter().map(|n| n["api_url"].as_str().unwrap().to_owned()).collect();
    let (s, body) = a.call(Method::DELETE, &format!("/api/v1/chains/{chain_id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    for u in &urls {
        assert!(govchain_sdk::Client::new(u).unwrap().status().await.is_err(), "{u} still answers");
    }
    assert!(paths_containing(&tp.hosts(), &key).is_empty(), "files of {key} remain");
    let (s, _) = a.call(Method::GET, &format!("/api/v1/chains/{chain_id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Everything was recorded, and the record's hash chain holds.
    let log = admin.get("/api/v1/audit?limit=1000").await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for wanted in
        ["POST /requests/{id}/approve", "POST /chains/{id}/stop", "DELETE /chains/{id}", "provision"]
    {
        assert!(actions.contains(&wanted), "no {wanted} in {actions:?}");
    }
    let v = admin.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    // A department sees only its own entries.
    let a_log = a.get("/api/v1/audit?limit=1000").await;
    assert!(a_log.as_array().unwrap().iter().all(|e| e["org_id"].as_i64() == Some(a_org)));
    tp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_on_sqlite() {
    journey(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_on_postgres() {
    journey(Db::Postgres).await;
}
