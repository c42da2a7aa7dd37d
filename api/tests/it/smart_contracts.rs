//! Contracts through the REST API on a real chain: a department deploys a
//! Solidity contract as version 1.0, calls it (read-only and as a
//! transaction, with decoded results, events and revert reasons),
//! downloads its build output and source, and deletes a failed
//! deployment; refusals for bad input, non-members and the wrong state.

use std::{io::Read, time::Duration};

use govchain_execution::evm::testdata::COUNTER;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

/// The ABI solc gives the `Counter` of `evm::testdata`.
pub fn counter_abi() -> Value {
    let f = |name: &str, inputs: Value, outputs: Value, mutability: &str| json!({"type": "function", "name": name, "inputs": inputs, "outputs": outputs, "stateMutability": mutability});
    let uint = |name: &str| json!({"name": name, "type": "uint256", "internalType": "uint256"});
    json!([
        {"type": "constructor", "inputs": [uint("start")], "stateMutability": "nonpayable"},
        f("count", json!([]), json!([uint("")]), "view"),
        f("owner", json!([]), json!([{"name": "", "type": "address"}]), "view"),
        f("increment", json!([uint("amount")]), json!([uint("")]), "nonpayable"),
        f("fail", json!([]), json!([]), "nonpayable"),
        {"type": "event", "name": "Incremented", "anonymous": false, "inputs": [
            {"name": "by", "type": "address", "indexed": true},
            {"name": "amount", "type": "uint256", "indexed": false},
            {"name": "newCount", "type": "uint256", "indexed": false}]}
    ])
}

const SOURCE: &str =
    "// SPDX-License-Identifier: Apache-2.0\n// 计数器\npragma solidity ^0.8.20;\ncontract Counter {}\n";

async fn call(c: &Client, path: &str, body: Value) -> (StatusCode, Value) {
    c.call(Method::POST, path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_department_deploys_calls_downloads_and_deletes_contracts() {
    let mut tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "contracts", "consensus": "solo", "suite": "intl-k1", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let req = bob.post("/api/v1/requests", json!({"purpose": "contracts", "spec": spec})).await;
    let req_id = req["id"].as_i64().unwrap();
    admin.post(&format!("/api/v1/requests/{req_id}/approve"), json!({"opinion": "ok"})).await;
    let chain_id = eventually("the chain to run", Duration::from_secs(120), || async {
        let r = bob.get(&format!("/api/v1/requests/{req_id}")).await;
        match r["status"].as_str().unwrap() {
            "running" => r["chain_id"].as_i64(),
            "failed" => panic!("provisioning failed: {r}"),
            _ => None,
        }
    })
    .await;
    let base = format!("/api/v1/chains/{chain_id}/contracts");
    assert_eq!(bob.get(&base).await, json!([]));

    // --- Deploy: version 1.0, active, at an address, from tax.gov's account.
    let deploy = json!({"name": "Counter", "abi": counter_abi(), "bytecode": format!("0x{COUNTER}"),
        "constructor_args": ["5"], "source": SOURCE});
    let (s, k) = call(&bob, &base, deploy.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert_eq!((k["state"].as_str(), k["version"].as_str()), (Some("active"), Some("1.0")), "{k}");
    let address = k["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("0x") && address.len() == 42, "{address}");
    assert_eq!(k["tx_id"].as_str().unwrap().len(), 64);
    let deployer = k["deployer_address"].as_str().unwrap().to_owned();
    let id = k["id"].as_i64().unwrap();
    let one = format!("{base}/{id}");
    let detail = bob.get(&one).await;
    assert_eq!(detail["versions"][0]["version"], "1.0");
    assert_eq!(detail["versions"][0]["status"], "active");
    assert_eq!(detail["versions"][0]["has_source"], true);
    assert_eq!(detail["abi"].as_array().unwrap().len(), 6);
    // The same organization's account deploys every time.
    let (_, k2) = call(
        &bob,
        &base,
        json!({"name": "Counter2", "abi": counter_abi(), "bytecode": COUNTER,
        "constructor_args": [1]}),
    )
    .await;
    assert_eq!(k2["deployer_address"].as_str(), Some(deployer.as_str()));
    assert_ne!(k2["address"].as_str(), Some(address.as_str()));
    assert_eq!(bob.get(&base).await.as_array().unwrap().len(), 2);

    // --- Calls: a view without a transaction, then a transaction with its
    // decoded result and event, then a revert with its reason.
    let calls = format!("{one}/calls");
    let read = bob.post(&calls, json!({"method": "count"})).await;
    assert_eq!(
        (read["tx_id"].clone(), read["result"][0]["value"].clone()),
        (Value::Null, json!("5")),
        "{read}"
    );
    let sent = bob.post(&calls, json!({"method": "increment", "args": [3]})).await;
    assert_eq!(sent["success"], true, "{sent}");
    assert_eq!(sent["method"], "increment(uint256)");
    assert_eq!(sent["result"][0]["value"], "8");
    assert_eq!(
        (sent["caller"].as_str(), sent["receiver"].as_str()),
        (Some(deployer.as_str()), Some(address.as_str()))
    );
    assert_eq!(sent["tx_id"].as_str().unwrap().len(), 64);
    let event = &sent["events"][0];
    assert_eq!(event["signature"], "Incremented(address,uint256,uint256)");
    assert_eq!(event["args"][0]["value"].as_str().unwrap().to_lowercase(), deployer.to_lowercase());
    assert_eq!(
        (event["args"][1]["value"].clone(), event["args"][2]["value"].clone()),
        (json!("3"), json!("8"))
    );
    assert_eq!(bob.post(&calls, json!({"method": "count"})).await["result"][0]["value"], "8");
    let reverted = bob.post(&calls, json!({"method": "increment", "args": ["0"]})).await;
    assert_eq!(reverted["success"], false, "{reverted}");
    assert!(reverted["message"].as_str().unwrap().contains("amount must be positive"), "{reverted}");
    assert_eq!(bob.post(&calls, json!({"method": "count"})).await["result"][0]["value"], "8");

    // --- Bad calls are refused, naming what is wrong.
    for (body, needle) in [
        (json!({"method": "nope"}), "no function nope"),
        (json!({"method": "increment", "args": []}), "takes 1 arguments, 0 given"),
        (json!({"method": "increment", "args": ["minus one"]}), "argument `uint256 amount`"),
        (json!({"method": "increment", "args": [1], "gas_limit": 5}), "gas_limit"),
    ] {
        let (s, e) = call(&bob, &calls, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(needle), "{body}: {e}");
    }

    // --- Downloads: the build output as a zip, and the source.
    let resp = bob.http.get(format!("{}{one}/download", tp.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut read_entry = |name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    assert_eq!(read_entry("Counter.bin"), COUNTER);
    let abi: Value = serde_json::from_str(&read_entry("Counter.abi.json")).unwrap();
    assert!(abi.as_array().unwrap().iter().any(|i| i["name"] == "increment"));
    let deployment: Value = serde_json::from_str(&read_entry("deployment.json")).unwrap();
    assert_eq!(
        (deployment["address"].as_str(), deployment["version"].as_str()),
        (Some(address.as_str()), Some("1.0"))
    );
    let source = bob.http.get(format!("{}{one}/download?what=source", tp.url)).send().await.unwrap();
    assert_eq!(source.text().await.unwrap(), SOURCE);
    let (s, _) = bob.call(Method::GET, &format!("{base}/{}/download?what=source", k2["id"]), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no source was given for Counter2");

    // --- A deployment the chain fails is kept as failed, then deleted;
    // a deployed contract cannot be deleted.
    let (s, failed) = call(&bob, &base, json!({"name": "Broken", "abi": [], "bytecode": "fe"})).await;
    assert_eq!(s, StatusCode::CREATED, "{failed}");
    assert_eq!(failed["state"], "failed");
    assert!(!failed["error"].as_str().unwrap().is_empty(), "{failed}");
    assert_eq!(failed["address"], "");
    let (s, e) = bob.call(Method::DELETE, &one, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, _) = bob.call(Method::DELETE, &format!("{base}/{}", failed["id"]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(bob.get(&base).await.as_array().unwrap().len(), 2);

    // --- Bad deployments are refused at the field.
    for (body, field) in [
        (json!({"name": "x y", "abi": [], "bytecode": "00"}), "name"),
        (json!({"name": "C", "abi": {"nope": 1}, "bytecode": "00"}), "abi"),
        (json!({"name": "C", "abi": [], "bytecode": "0xzz"}), "bytecode"),
        (json!({"name": "C", "abi": [], "bytecode": ""}), "bytecode"),
        (json!({"name": "C", "abi": [], "bytecode": "00".repeat(49_153)}), "bytecode"),
        (
            json!({"name": "C", "abi": counter_abi(), "bytecode": COUNTER, "constructor_args": []}),
            "constructor_args",
        ),
    ] {
        let (s, e) = call(&bob, &base, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(e["details"]["field"], field, "{e}");
    }
    assert_eq!(bob.get(&base).await.as_array().unwrap().len(), 2, "nothing recorded for refused deployments");

    // --- The platform operator sees the chain but is no member: it reads
    // and queries, and cannot send transactions for an organization.
    assert_eq!(admin.get(&base).await.as_array().unwrap().len(), 2);
    let (s, e) = call(&admin, &base, deploy).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(admin.post(&calls, json!({"method": "count"})).await["result"][0]["value"], "8");
    let (s, e) = call(&admin, &calls, json!({"method": "increment", "args": [1]})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    tp.stop().await;
}
