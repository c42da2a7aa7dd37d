//! A hotstuff chain through the REST API: requested, stored and approved
//! like a raft one; the driver writes a genesis naming every member's
//! public key, and the chain runs.

use std::{path::Path, sync::Arc, time::Duration};

use govchain_crypto::{PrivateKey, PublicKey, Suite};
use govchain_driver::{LocalDriver, NodeProgram, testing::node_bin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

/// The real node, started by a shell that first keeps a copy of what the
/// driver wrote into the node's directory (the driver removes a chain that
/// did not start).
fn recording_node(saved: &Path) -> NodeProgram {
    let script = format!(
        r#"d="{}/$(basename "$PWD")"; mkdir -p "$d" && cp genesis.json key.pem "$d/" && exec "{}" run --config "$1""#,
        saved.display(),
        node_bin().display()
    );
    NodeProgram { exe: "/bin/sh".into(), args: vec!["-c".into(), script, "node".into()] }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files `request` as bob, approves it as the admin, and waits until the
/// platform provisioned it; returns the request as it ended.
async fn approved(admin: &Client, bob: &Client, request: Value) -> Value {
    let req = bob.post("/api/v1/requests", request).await;
    let id = req["id"].as_i64().unwrap_or_else(|| panic!("refused: {req}"));
    admin.post(&format!("/api/v1/requests/{id}/approve"), json!({"opinion": "ok"})).await;
    let done = eventually("the request to end", Duration::from_secs(120), || async {
        let r = bob.get(&format!("/api/v1/requests/{id}")).await;
        matches!(r["status"].as_str(), Some("failed" | "running")).then_some(r)
    })
    .await;
    assert_eq!(done["status"], "running", "{done}");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hotstuff_chain_request_is_approved_and_its_genesis_names_every_members_key() {
    let saved = tempfile::tempdir().unwrap();
    let program = recording_node(saved.path());
    let tp = TestPlatform::start_on(
        Db::Sqlite,
        |_| {},
        move |dir| Arc::new(LocalDriver::new(dir.join("hosts"), program).unwrap()),
    )
    .await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = |consensus: &str| {
        json!({"kind": "chain", "name": "bft", "consensus": consensus, "suite": "intl-k1", "nodes": 4,
            "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}})
    };

    // Any other name gets the vocabulary's one refusal, at the field.
    let (s, e) =
        bob.call(Method::POST, "/api/v1/requests", Some(json!({"purpose": "p", "spec": spec("pbft")}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["message"], "unknown consensus `pbft`; one of: raft, hotstuff, solo", "{e}");
    assert_eq!(e["details"]["field"], "consensus", "{e}");

    let done = approved(&admin, &bob, json!({"purpose": "a BFT registry", "spec": spec("hotstuff")})).await;
    assert_eq!(done["spec"]["consensus"], "hotstuff", "{done}");
    let chains = bob.get("/api/v1/chains").await;
    assert_eq!(chains[0]["consensus"], "hotstuff", "{chains}");

    // Every node got the same genesis, naming the four voters by their keys.
    let mut dirs: Vec<_> = std::fs::read_dir(saved.path()).unwrap().map(|d| d.unwrap().path()).collect();
    dirs.sort();
    assert_eq!(dirs.len(), 4, "{dirs:?}");
    let text = read(&dirs[0].join("genesis.json"));
    assert!(dirs.iter().all(|d| read(&d.join("genesis.json")) == text), "one genesis");
    let genesis: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (genesis["consensus"].as_str(), genesis["suite"].as_str()),
        (Some("hotstuff"), Some("intl-k1"))
    );
    let members = genesis["members"].as_array().unwrap();
    assert_eq!(members.len(), 4, "{genesis}");
    for d in &dirs {
        let name = d.file_name().unwrap().to_str().unwrap();
        let m = members.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{name}: {genesis}"));
        let key = hex::decode(m["consensus_key"].as_str().unwrap()).unwrap();
        let node_key = PrivateKey::from_pkcs8_pem(&read(&d.join("key.pem"))).unwrap();
        assert_eq!(PublicKey::from_sec1(Suite::IntlK1, &key).unwrap(), node_key.public_key(), "{name}");
    }

    // A fifth consensus node joins through a request: every voter approves
    // the change (one epoch for the learner, one for its promotion); then
    // one of the first four leaves (a third epoch).
    let chain_id = chains[0]["id"].as_i64().unwrap();
    let more = json!({"purpose": "p", "spec": {"kind": "nodes", "chain_id": chain_id, "count": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}}});
    approved(&admin, &bob, more).await;
    let c = bob.get(&format!("/api/v1/chains/{chain_id}")).await;
    let nodes = c["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 5, "{c}");
    let fifth = nodes.iter().find(|n| !members.iter().any(|m| m["name"] == n["name"])).unwrap().clone();
    let fifth_api = govchain_sdk::Client::new(fifth["api_url"].as_str().unwrap()).unwrap();
    let status = fifth_api.status().await.unwrap();
    assert_eq!(status.consensus, "hotstuff");
    assert_ne!(status.role, "learner", "the fifth node was promoted");
    let gone = &nodes[0];
    let (s, e) =
        bob.call(Method::DELETE, &format!("/api/v1/chains/{chain_id}/nodes/{}", gone["id"]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let c = bob.get(&format!("/api/v1/chains/{chain_id}")).await;
    assert_eq!(c["nodes"].as_array().unwrap().len(), 4, "{c}");
    // The four that remain go on committing: an empty ledger block per
    // epoch change came first, so the height grew by at least three.
    let remaining: Vec<govchain_sdk::Client> = c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| govchain_sdk::Client::new(n["api_url"].as_str().unwrap()).unwrap())
        .collect();
    let height = eventually("the four nodes to agree", Duration::from_secs(30), || async {
        let mut hs = Vec::new();
        for r in &remaining {
            hs.push(r.status().await.ok()?.height);
        }
        (hs.iter().all(|h| *h == hs[0]) && hs[0] >= 3).then_some(hs[0])
    })
    .await;
    // The block policy changes online through every voter too (a fourth
    // epoch).
    let wanted = json!({"max_txs": 7, "max_bytes": 65536, "max_wait_ms": 5});
    let (s, changed) =
        bob.call(Method::PUT, &format!("/api/v1/chains/{chain_id}/policy"), Some(wanted.clone())).await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["block_policy"], wanted);
    eprintln!("hotstuff chain through the API: 4 -> 5 -> 4 nodes, height {height}, policy changed");
}

/// A running raft chain switches to hotstuff and back through the REST API
/// (SPEC CON-4), committing before, between and after; wrong engines are
/// refused at the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_chain_switches_its_consensus_engine_and_back() {
    let tp = TestPlatform::start_on(
        Db::Sqlite,
        |_| {},
        |dir| {
            Arc::new(LocalDriver::new(dir.join("hosts"), govchain_driver::testing::node_program()).unwrap())
        },
    )
    .await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "switching", "consensus": "raft", "suite": "gm", "nodes": 4,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    approved(&admin, &bob, json!({"purpose": "p", "spec": spec})).await;
    let chain = bob.get("/api/v1/chains").await[0].clone();
    let (chain_id, key) = (chain["id"].as_i64().unwrap(), chain["chain_key"].as_str().unwrap().to_owned());
    let c = bob.get(&format!("/api/v1/chains/{chain_id}")).await;
    let urls: Vec<String> =
        c["nodes"].as_array().unwrap().iter().map(|n| n["api_url"].as_str().unwrap().to_owned()).collect();
    crate::journey::put(&urls[0], &key, "before").await;

    let path = format!("/api/v1/chains/{chain_id}/consensus");
    let (s, e) = bob.call(Method::PUT, &path, Some(json!({"consensus": "pbft"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"]["field"], "consensus", "{e}");
    let (s, e) = bob.call(Method::PUT, &path, Some(json!({"consensus": "raft"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["message"].as_str().unwrap().contains("already runs raft"), "{e}");

    for (engine, key_written) in [("hotstuff", "on-hotstuff"), ("raft", "back-on-raft")] {
        let (s, view) = bob.call(Method::PUT, &path, Some(json!({ "consensus": engine }))).await;
        assert_eq!(s, StatusCode::OK, "{view}");
        assert_eq!(view["consensus"], engine, "{view}");
        for url in &urls {
            let status = govchain_sdk::Client::new(url).unwrap().status().await.unwrap();
            assert_eq!(status.consensus, engine, "{url}");
        }
        for url in &urls {
            crate::journey::put(url, &key, &format!("{key_written}-{url}")).await;
        }
    }
    let c = bob.get(&format!("/api/v1/chains/{chain_id}")).await;
    assert_eq!(c["consensus"], "raft", "{c}");
}
