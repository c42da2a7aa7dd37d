//! The lifecycle of contracts and the chain's contract governance through
//! the REST API, on real chains: a draft version, an upgrade that keeps
//! the address and the state, freeze and unfreeze with the chain's own
//! message, access lists, the debug trace of a call; on a chain whose policy governs deployments and
//! upgrades, both wait for the second member organization's vote.

use std::time::Duration;

use govchain_execution::evm::testdata_lifecycle::{
    PERMITS_V1, PERMITS_V1_ABI, PERMITS_V2_ABI, PERMITS_V2_RUNTIME,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

const HOLDER: &str = "0x00000000000000000000000000000000000000aa";

async fn call(c: &Client, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    c.call(method, path, Some(body)).await
}

/// Requests a chain as `user`, has `admin` approve it, waits for it to run.
pub async fn running_chain(admin: &Client, user: &Client, spec: Value) -> i64 {
    let req = user.post("/api/v1/requests", json!({"purpose": "contracts", "spec": spec})).await;
    let req_id = req["id"].as_i64().unwrap_or_else(|| panic!("request refused: {req}"));
    admin.post(&format!("/api/v1/requests/{req_id}/approve"), json!({"opinion": "ok"})).await;
    eventually("the chain to run", Duration::from_secs(120), || async {
        let r = user.get(&format!("/api/v1/requests/{req_id}")).await;
        match r["status"].as_str().unwrap() {
            "running" => r["chain_id"].as_i64(),
            "failed" => panic!("provisioning failed: {r}"),
            _ => None,
        }
    })
    .await
}

fn chain_spec(name: &str, suite: &str, governance: Option<Value>) -> Value {
    let mut spec = json!({"kind": "chain", "name": name, "consensus": "solo", "suite": suite, "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    if let Some(g) = governance {
        spec["contract_governance"] = g;
    }
    spec
}

fn deploy_permits() -> Value {
    json!({"name": "Permits", "abi": serde_json::from_str::<Value>(PERMITS_V1_ABI).unwrap(),
        "bytecode": PERMITS_V1, "source": "// v1"})
}

fn v2() -> Value {
    json!({"abi": serde_json::from_str::<Value>(PERMITS_V2_ABI).unwrap(),
        "deployed_bytecode": format!("0x{PERMITS_V2_RUNTIME}"), "source": "// v2"})
}

async fn view(c: &Client, calls: &str, method: &str, args: Value) -> Value {
    let r = c.post(calls, json!({"method": method, "args": args})).await;
    assert_eq!(r["success"], true, "{method}: {r}");
    r["result"][0]["value"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_freeze_and_access_lists_through_the_api() {
    let mut tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let chain_id = running_chain(&admin, &bob, chain_spec("lifecycle", "gm", None)).await;
    let base = format!("/api/v1/chains/{chain_id}/contracts");
    let (s, k) = call(&bob, Method::POST, &base, deploy_permits()).await;
    assert_eq!((s, k["state"].as_str()), (StatusCode::CREATED, Some("active")), "{k}");
    let address = k["address"].as_str().unwrap().to_owned();
    let one = format!("{base}/{}", k["id"]);
    let calls = format!("{one}/calls");
    let granted = bob.post(&calls, json!({"method": "grant", "args": [HOLDER]})).await;
    assert_eq!(granted["result"][0]["value"], "1", "{granted}");

    // --- The debug trace of that call: its storage writes and decoded
    // argument; a missing or malformed transaction id is refused.
    let trace = bob.get(&format!("{one}/transactions/{}/trace", granted["tx_id"].as_str().unwrap())).await;
    assert!(trace["steps"].as_array().unwrap().iter().any(|s| s["op"] == "SSTORE"), "{trace}");
    assert_eq!(trace["storage_changes"].as_array().unwrap().len(), 2, "grants[holder] and total: {trace}");
    assert_eq!(trace["decoded"]["signature"], "grant(address)", "{trace}");
    assert_eq!(trace["decoded"]["inputs"][0]["value"].as_str().unwrap().to_lowercase(), HOLDER);
    let (s, e) = bob.call(Method::GET, &format!("{one}/transactions/{}/trace", "ab".repeat(32)), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = bob.call(Method::GET, &format!("{one}/transactions/nothex/trace"), None).await;
    assert_eq!((s, e["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("tx_id")), "{e}");

    // The chain's policy governs nothing here.
    let g = bob.get(&format!("/api/v1/chains/{chain_id}/governance")).await;
    assert_eq!((g["actions"].clone(), g["proposals"].clone()), (json!([]), json!([])), "{g}");

    // --- An upgrade needs a draft; bad drafts are refused at the field.
    let (s, e) = call(&bob, Method::POST, &format!("{one}/upgrade"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().contains("no draft"), "{e}");
    for (body, field) in [
        (json!({"abi": [], "deployed_bytecode": "0xzz"}), "deployed_bytecode"),
        (json!({"abi": [], "deployed_bytecode": ""}), "deployed_bytecode"),
        (json!({"abi": [], "deployed_bytecode": "00".repeat(24_577)}), "deployed_bytecode"),
        (json!({"abi": {"x": 1}, "deployed_bytecode": "00"}), "abi"),
    ] {
        let (s, e) = call(&bob, Method::POST, &format!("{one}/versions"), body).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{e}"
        );
    }
    let (s, draft) = call(&bob, Method::POST, &format!("{one}/versions"), v2()).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    assert_eq!((draft["version"].as_str(), draft["status"].as_str()), (Some("2.0"), Some("draft")));
    assert_eq!(view(&bob, &calls, "version", json!([])).await, "1.0", "a draft changes nothing");

    // --- The upgrade: same address, same state, new code and ABI.
    let (s, up) = call(&bob, Method::POST, &format!("{one}/upgrade"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["proposal"], Value::Null);
    assert_eq!(up["contract"]["version"], "2.0");
    assert_eq!(up["contract"]["address"].as_str(), Some(address.as_str()));
    let detail = bob.get(&one).await;
    let statuses: Vec<(String, String)> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap().into(), v["status"].as_str().unwrap().into()))
        .collect();
    assert_eq!(statuses, [("1.0".into(), "superseded".into()), ("2.0".into(), "active".into())]);
    assert_eq!(detail["versions"][1]["tx_id"].as_str().unwrap().len(), 64, "{detail}");
    assert!(detail["abi"].as_array().unwrap().iter().any(|f| f["name"] == "revoke"), "the new ABI");
    assert_eq!(view(&bob, &calls, "version", json!([])).await, "2.0");
    assert_eq!(view(&bob, &calls, "total", json!([])).await, "1", "the state is kept");
    let granted = bob.post(&calls, json!({"method": "grant", "args": [HOLDER]})).await;
    assert_eq!(granted["result"][0]["value"], "3", "version 2 counts a grant twice: {granted}");
    let zip = bob.http.get(format!("{}{one}/download?version=2.0", tp.url)).send().await.unwrap();
    assert_eq!(zip.status(), StatusCode::OK);

    // --- Freeze: calls fail with the chain's message; unfreeze.
    let (s, f) = call(&bob, Method::POST, &format!("{one}/freeze"), json!({"note": "audit"})).await;
    assert_eq!((s, f["contract"]["state"].as_str()), (StatusCode::OK, Some("frozen")), "{f}");
    for method in ["grant", "total"] {
        let args = if method == "grant" { json!([HOLDER]) } else { json!([]) };
        let r = bob.post(&calls, json!({"method": method, "args": args})).await;
        assert_eq!(r["success"], false, "{r}");
        assert!(r["message"].as_str().unwrap().contains("is frozen"), "{r}");
    }
    let (s, e) = call(&bob, Method::POST, &format!("{one}/freeze"), json!({})).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("chain_refused")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("frozen already"), "{e}");
    let (s, u) = call(&bob, Method::POST, &format!("{one}/unfreeze"), json!({})).await;
    assert_eq!((s, u["contract"]["state"].as_str()), (StatusCode::OK, Some("active")), "{u}");
    assert_eq!(view(&bob, &calls, "total", json!([])).await, "3");

    // --- An access list that leaves tax.gov out refuses its calls; an
    // empty list opens the method again.
    let acl = format!("{one}/acl");
    let (s, a) =
        call(&bob, Method::PUT, &acl, json!({"method": "grant(address)", "allow": ["market.gov"]})).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let r = bob.post(&calls, json!({"method": "grant", "args": [HOLDER]})).await;
    assert_eq!(r["success"], false, "{r}");
    assert!(r["message"].as_str().unwrap().contains("not on the access list"), "{r}");
    assert_eq!(view(&bob, &calls, "total", json!([])).await, "3", "other methods stay open");
    let (s, e) = call(&bob, Method::PUT, &acl, json!({"method": "nope(", "allow": ["x.gov"]})).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("chain_refused")), "{e}");
    let (s, _) = call(&bob, Method::PUT, &acl, json!({"method": "grant(address)", "allow": []})).await;
    assert_eq!(s, StatusCode::OK);
    let r = bob.post(&calls, json!({"method": "grant", "args": [HOLDER]})).await;
    assert_eq!(r["success"], true, "{r}");

    // --- The platform operator is no member: it changes nothing.
    let (s, e) = call(&admin, Method::POST, &format!("{one}/freeze"), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    tp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn governed_deployments_and_upgrades_wait_for_the_second_members_vote() {
    let mut tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let created = admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Market Supervision", "domain": "market.gov", "admin_username": "alice", "admin_real_name": "Alice Wang"}),
        )
        .await;
    let alice = Client::login(&tp.url, "alice", created["initial_password"].as_str().unwrap()).await;

    // A policy naming an action that does not exist is refused.
    let bad = chain_spec("governed", "intl-k1", Some(json!({"actions": ["destroy"]})));
    let (s, e) = call(&bob, Method::POST, "/api/v1/requests", json!({"purpose": "x", "spec": bad})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["message"].as_str().unwrap().contains("destroy"), "{e}");

    let policy =
        json!({"members": ["tax.gov", "market.gov"], "threshold": 2, "actions": ["deploy", "upgrade"]});
    let chain_id = running_chain(&admin, &bob, chain_spec("governed", "intl-k1", Some(policy))).await;
    let inv = bob
        .post(&format!("/api/v1/chains/{chain_id}/invitations"), json!({"org_domain": "market.gov"}))
        .await;
    alice.post(&format!("/api/v1/invitations/{}/accept", inv["id"]), json!({})).await;
    let governance = format!("/api/v1/chains/{chain_id}/governance");
    let g = alice.get(&governance).await;
    assert_eq!(g["members"], json!(["tax.gov", "market.gov"]), "{g}");
    assert_eq!((g["threshold"].as_u64(), g["actions"].clone()), (Some(2), json!(["deploy", "upgrade"])));

    // --- The deployment waits for market.gov's approval.
    let base = format!("/api/v1/chains/{chain_id}/contracts");
    let (s, k) = call(&bob, Method::POST, &base, deploy_permits()).await;
    assert_eq!((s, k["state"].as_str()), (StatusCode::CREATED, Some("proposed")), "{k}");
    assert_eq!(k["address"], "");
    let one = format!("{base}/{}", k["id"]);
    let proposals = alice.get(&governance).await["proposals"].clone();
    assert_eq!(proposals.as_array().unwrap().len(), 1, "{proposals}");
    let p = &proposals[0];
    assert_eq!((p["status"].as_str(), p["action"]["op"].as_str()), (Some("open"), Some("deploy")), "{p}");
    assert_eq!(p["organization"], "tax.gov");
    let id = p["id"].as_u64().unwrap();
    let (s, e) = call(
        &bob,
        Method::POST,
        &format!("/api/v1/chains/{chain_id}/proposals/{id}/votes"),
        json!({"approve": true}),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("chain_refused")),
        "a proposer votes once: {e}"
    );
    let voted = alice
        .post(&format!("/api/v1/chains/{chain_id}/proposals/{id}/votes"), json!({"approve": true}))
        .await;
    assert_eq!(voted["proposal"]["status"], "executed", "{voted}");
    let deployed = &voted["contracts"][0];
    assert_eq!(
        (deployed["state"].as_str(), deployed["version"].as_str()),
        (Some("active"), Some("1.0")),
        "{voted}"
    );
    let address = deployed["address"].as_str().unwrap().to_owned();
    assert_eq!(bob.get(&one).await["versions"][0]["status"], "active");
    let calls = format!("{one}/calls");
    bob.post(&calls, json!({"method": "grant", "args": [HOLDER]})).await;

    // --- The upgrade is proposed, then runs on the second vote.
    let (s, _) = call(&bob, Method::POST, &format!("{one}/versions"), v2()).await;
    assert_eq!(s, StatusCode::CREATED);
    let up = bob.post(&format!("{one}/upgrade"), json!({"note": "grants count twice"})).await;
    assert_eq!(up["proposal"]["status"], "open", "{up}");
    assert_eq!(up["proposal"]["note"], "grants count twice");
    assert_eq!(up["contract"]["version"], "1.0", "not before the vote");
    let (s, e) = call(&bob, Method::POST, &format!("{one}/upgrade"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "a draft is proposed once: {e}");
    assert_eq!(view(&bob, &calls, "version", json!([])).await, "1.0");
    let id = up["proposal"]["id"].as_u64().unwrap();
    let voted = alice
        .post(&format!("/api/v1/chains/{chain_id}/proposals/{id}/votes"), json!({"approve": true}))
        .await;
    assert_eq!(voted["proposal"]["status"], "executed", "{voted}");
    assert_eq!(voted["contracts"][0]["version"], "2.0", "{voted}");
    assert_eq!(voted["contracts"][0]["address"].as_str(), Some(address.as_str()));
    assert_eq!(view(&bob, &calls, "version", json!([])).await, "2.0");
    assert_eq!(view(&bob, &calls, "total", json!([])).await, "1");

    // --- Freezing is not governed here, and only the owner does it.
    let (s, e) = call(&alice, Method::POST, &format!("{one}/freeze"), json!({})).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("chain_refused")), "{e}");
    let (s, f) = call(&bob, Method::POST, &format!("{one}/freeze"), json!({})).await;
    assert_eq!((s, f["contract"]["state"].as_str()), (StatusCode::OK, Some("frozen")), "{f}");

    // --- A rejected deployment fails and can be deleted.
    let mut second = deploy_permits();
    second["name"] = json!("Permits2");
    second["bytecode"] = json!(format!("{PERMITS_V1}00"));
    let (_, k2) = call(&bob, Method::POST, &base, second).await;
    assert_eq!(k2["state"], "proposed", "{k2}");
    let proposals = alice.get(&governance).await["proposals"].clone();
    let id = proposals.as_array().unwrap().last().unwrap()["id"].as_u64().unwrap();
    let voted = alice
        .post(&format!("/api/v1/chains/{chain_id}/proposals/{id}/votes"), json!({"approve": false}))
        .await;
    assert_eq!(voted["proposal"]["status"], "rejected", "{voted}");
    assert_eq!(voted["contracts"][0]["state"], "failed", "{voted}");
    let (s, _) = bob.call(Method::DELETE, &format!("{base}/{}", k2["id"]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    tp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn static_analysis_of_a_compilation_made_elsewhere() {
    let mut tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let options = govchain_contracts::CompileOptions::default();
    let body = |name: &str, text: &str| {
        let (version, output) = govchain_contracts::standard_output(&[(name, text)], &options).unwrap();
        json!({"sources": [{"name": name, "content": text}], "compiler_version": version, "output": output})
    };

    // A planted reentrancy is found, at its line, with its severity.
    let vulnerable = include_str!("../../../contracts/samples/vulnerable/Reentrancy.sol");
    let report = bob.post("/api/v1/contracts/analysis", body("Reentrancy.sol", vulnerable)).await;
    let findings = report["findings"].as_array().unwrap();
    let reentrancy: Vec<&Value> = findings.iter().filter(|f| f["rule"] == "reentrancy").collect();
    assert!(!reentrancy.is_empty(), "{report}");
    let line = vulnerable
        .lines()
        .position(|l| l.contains("balances[msg.sender] = 0; // expect: reentrancy"))
        .unwrap()
        + 1;
    assert!(
        reentrancy.iter().any(|f| f["start"]["line"].as_u64() == Some(line as u64)),
        "line {line}: {report}"
    );
    assert!(["critical", "high"].contains(&reentrancy[0]["severity"].as_str().unwrap()), "{report}");
    assert!(findings.iter().all(|f| f["dismissal"].is_null()), "{report}");

    // Bob dismisses it with a reason: recorded, shown beside the finding in
    // the next analysis (of his organization only), in the operation log,
    // and withdrawn again.
    let f = reentrancy[0];
    let dismissal = |reason: &str| {
        json!({"finding_id": f["id"], "rule": f["rule"], "severity": f["severity"], "file": f["file"],
               "contract": f["contract"], "function": f["function"], "snippet": f["snippet"], "reason": reason})
    };
    let dismissals = "/api/v1/contracts/analysis/dismissals";
    let (s, d) =
        call(&bob, Method::POST, dismissals, dismissal("  the callee is our own audited vault  ")).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["reason"], "the callee is our own audited vault", "{d}");
    let (s, e) = call(&bob, Method::POST, dismissals, dismissal("again")).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("already_dismissed")), "{e}");
    let again = bob.post("/api/v1/contracts/analysis", body("Reentrancy.sol", vulnerable)).await;
    let shown = again["findings"].as_array().unwrap().iter().find(|g| g["id"] == f["id"]).unwrap().clone();
    assert_eq!(shown["dismissal"]["reason"], "the callee is our own audited vault", "{again}");
    assert_eq!(shown["dismissal"]["id"], d["id"], "{again}");
    let theirs = admin.post("/api/v1/contracts/analysis", body("Reentrancy.sol", vulnerable)).await;
    assert!(theirs["findings"].as_array().unwrap().iter().all(|g| g["dismissal"].is_null()), "{theirs}");
    assert_eq!(bob.get(dismissals).await.as_array().unwrap().len(), 1);
    assert_eq!(admin.get(&format!("{dismissals}?org_id={}", d["org_id"])).await[0]["id"], d["id"]);
    let log = admin.get("/api/v1/audit?action=dismissals&limit=10").await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"].as_str().unwrap_or("").contains("own audited vault")),
        "{log}"
    );
    // No reason, an unknown rule, a made-up id: refused, nothing recorded.
    for (field, bad) in [
        ("reason", dismissal("   ")),
        ("rule", {
            let mut b = dismissal("r");
            b["rule"] = json!("no-such-rule");
            b
        }),
        ("finding_id", {
            let mut b = dismissal("r");
            b["finding_id"] = json!("xyz");
            b
        }),
    ] {
        let (s, e) = call(&bob, Method::POST, dismissals, bad).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{e}"
        );
    }
    let (s, _) = admin.call(Method::DELETE, &format!("{dismissals}/{}", d["id"]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "the platform withdraws any organization's dismissal");
    let (s, _) = bob.call(Method::DELETE, &format!("{dismissals}/{}", d["id"]), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let after = bob.post("/api/v1/contracts/analysis", body("Reentrancy.sol", vulnerable)).await;
    assert!(after["findings"].as_array().unwrap().iter().all(|g| g["dismissal"].is_null()), "{after}");

    // A clean contract has nothing above low.
    let clean = include_str!("../../../contracts/samples/clean/Vault.sol");
    let report = bob.post("/api/v1/contracts/analysis", body("Vault.sol", clean)).await;
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["severity"] == "low"), "{report}");

    // Output of another compiler, or no output at all, is refused.
    let mut other = body("Vault.sol", clean);
    other["compiler_version"] = json!("0.4.26+commit.4563c3fc");
    for bad in [
        other,
        json!({"sources": [{"name": "a.sol", "content": ""}], "compiler_version": "0.8.37", "output": []}),
    ] {
        let (s, e) = call(&bob, Method::POST, "/api/v1/contracts/analysis", bad).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("output")),
            "{e}"
        );
    }
    tp.stop().await;
}
