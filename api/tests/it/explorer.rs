//! The chain explorer through the REST API on a real gm chain: the latest
//! blocks, a block by height and by id, a contract call's transaction with
//! its receipt, decoded input and events and a proof of inclusion the
//! platform checked, and a search by every kind of key.

use govchain_execution::evm::testdata::COUNTER;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    smart_contracts::counter_abi,
    support::{Db, TestPlatform},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocks_transactions_and_contracts_are_found_by_every_kind_of_search() {
    let mut tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "explorer", "consensus": "solo", "suite": "gm", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = crate::contract_lifecycle::running_chain(&admin, &bob, spec).await;
    let k = bob
        .post(
            &format!("/api/v1/chains/{chain}/contracts"),
            json!({"name": "Counter", "abi": counter_abi(), "bytecode": COUNTER, "constructor_args": [5]}),
        )
        .await;
    let address = k["address"].as_str().unwrap().to_owned();
    let sent = bob
        .post(
            &format!("/api/v1/chains/{chain}/contracts/{}/calls", k["id"]),
            json!({"method": "increment", "args": [3]}),
        )
        .await;
    assert_eq!(sent["success"], true, "{sent}");
    let (tx, height) = (sent["tx_id"].as_str().unwrap().to_owned(), sent["height"].as_u64().unwrap());
    let ex = format!("/api/v1/chains/{chain}");

    // The latest blocks, newest first, a page at a time.
    let blocks = bob.get(&format!("{ex}/blocks?limit=2")).await;
    let heights: Vec<u64> =
        blocks.as_array().unwrap().iter().map(|b| b["height"].as_u64().unwrap()).collect();
    assert_eq!(heights.len(), 2, "{blocks}");
    assert!(heights[0] >= height && heights[1] == heights[0] - 1, "{blocks}");
    let older = bob.get(&format!("{ex}/blocks?before={}&limit=100", heights[1])).await;
    assert_eq!(older.as_array().unwrap().last().unwrap()["height"], 0, "{older}");

    // The call's block, by height and by id, lists it.
    let block = bob.get(&format!("{ex}/blocks/{height}")).await;
    assert!(block["transactions"].as_array().unwrap().iter().any(|t| t["tx_id"] == tx.as_str()), "{block}");
    let block_id = block["id"].as_str().unwrap().to_owned();
    let by_id = bob.get(&format!("{ex}/blocks/0x{block_id}")).await;
    assert_eq!(
        (by_id["height"].as_u64(), by_id["tx_count"].clone()),
        (Some(height), block["tx_count"].clone())
    );

    // The transaction: receipt, the platform's contract, the decoded call and
    // event, and a proof of inclusion that checks against the header.
    let t = bob.get(&format!("{ex}/transactions/{tx}")).await;
    assert_eq!((t["status"].as_str(), t["height"].as_u64()), (Some("success"), Some(height)), "{t}");
    assert_eq!(t["block_id"].as_str(), Some(block_id.as_str()));
    assert_eq!(t["proof_verified"], true, "{t}");
    assert_eq!(t["contract"]["name"], "Counter");
    assert_eq!(t["input"]["signature"], "increment(uint256)", "{t}");
    assert_eq!(t["input"]["args"][0]["value"], "3", "{t}");
    assert_eq!(t["decoded_events"][0]["signature"], "Incremented(address,uint256,uint256)", "{t}");
    assert_eq!(t["decoded_events"][0]["args"][2]["value"], "8", "{t}");

    // Statistics: blocks over time, transactions by type.
    let stats = bob.get(&format!("{ex}/stats?blocks=100")).await;
    let points = stats["blocks"].as_array().unwrap();
    assert_eq!(points.first().unwrap()["height"], 0, "oldest first, from genesis: {stats}");
    assert!(points.windows(2).all(|w| w[0]["height"].as_u64() < w[1]["height"].as_u64()), "{stats}");
    assert_eq!(stats["by_type"]["evm_create"], 1, "{stats}");
    assert_eq!(stats["by_type"]["evm_call"], 1, "{stats}");
    let by_type: u64 = stats["by_type"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(stats["transactions"].as_u64(), Some(by_type), "{stats}");

    // Search: a height, a block hash, a transaction id, the contract's
    // address and another address each find their kind.
    let search = |q: String| {
        let bob = bob.clone();
        let path = format!("{ex}/search?q={q}");
        async move { bob.call(Method::GET, &path, None).await }
    };
    let (_, hit) = search(height.to_string()).await;
    assert_eq!((hit["kind"].as_str(), hit["id"].as_str()), (Some("block"), Some(block_id.as_str())), "{hit}");
    let (_, hit) = search(block_id.clone()).await;
    assert_eq!((hit["kind"].as_str(), hit["height"].as_u64()), (Some("block"), Some(height)), "{hit}");
    let (_, hit) = search(format!("0x{tx}")).await;
    assert_eq!((hit["kind"].as_str(), hit["height"].as_u64()), (Some("transaction"), Some(height)), "{hit}");
    let (_, hit) = search(address.to_uppercase().replacen("0X", "0x", 1)).await;
    assert_eq!(
        (hit["kind"].as_str(), hit["contract_id"].clone()),
        (Some("contract"), k["id"].clone()),
        "{hit}"
    );
    let (_, hit) = search(format!("0x{}", "ab".repeat(20))).await;
    assert_eq!(hit["kind"], "account", "{hit}");

    // A wrong hash or height is a clear "not found"; a wrong shape is refused.
    let wrong = "cd".repeat(32);
    for q in [wrong.clone(), "99999999".to_owned()] {
        let (s, e) = search(q.clone()).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{q}: {e}");
        assert!(e["message"].as_str().unwrap().contains("nothing on chain explorer matches"), "{e}");
    }
    for path in [
        format!("{ex}/transactions/{wrong}"),
        format!("{ex}/blocks/{wrong}"),
        format!("{ex}/blocks/99999999"),
    ] {
        let (s, e) = bob.call(Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
    }
    for (path, field) in [
        (format!("{ex}/search?q=hello"), "q"),
        (format!("{ex}/transactions/nothex"), "tx_id"),
        (format!("{ex}/blocks/nothex"), "at"),
    ] {
        let (s, e): (StatusCode, Value) = bob.call(Method::GET, &path, None).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{path}: {e}"
        );
    }

    // Evidence: a file recorded (hashed here, as the browser does, with the
    // chain's SM3); the same file matches with its record; a file one byte
    // off does not; an id holds one record.
    let file = "许可证 2026-001: 准予经营\n".repeat(200).into_bytes();
    let sm3 = |bytes: &[u8]| hex::encode(govchain_crypto::Suite::Gm.hash(bytes));
    let digest = sm3(&file);
    let ev = format!("{ex}/evidence");
    let (s, r) = bob
        .call(Method::POST, &ev, Some(json!({"digest": digest, "file_name": "permit.pdf", "note": "issued"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["org"].as_str(), r["file_name"].as_str(), r["id"].as_str()),
        (Some("tax.gov"), Some("permit.pdf"), Some(digest.as_str())),
        "{r}"
    );
    let check = admin.get(&format!("{ev}?digest=0x{digest}")).await;
    assert_eq!((check["hash"].as_str(), check["matches"].as_bool()), (Some("sm3"), Some(true)), "{check}");
    assert_eq!(
        (check["record"]["tx_id"].clone(), check["record"]["height"].clone()),
        (r["tx_id"].clone(), r["height"].clone())
    );
    let recorded = bob.get(&format!("{ex}/transactions/{}", r["tx_id"].as_str().unwrap())).await;
    assert_eq!(
        (recorded["recipient"].as_str(), recorded["proof_verified"].as_bool()),
        (Some("evidence"), Some(true)),
        "{recorded}"
    );
    let mut changed = file.clone();
    changed[100] ^= 1;
    let check = bob.get(&format!("{ev}?digest={}", sm3(&changed))).await;
    assert_eq!((check["matches"].as_bool(), check["record"].is_null()), (Some(false), true), "{check}");
    // Under an id, a changed file shows the record it does not match.
    let (s, _) = bob.call(Method::POST, &ev, Some(json!({"digest": digest, "id": "permit-2026-001"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let check = bob.get(&format!("{ev}?digest={}&id=permit-2026-001", sm3(&changed))).await;
    assert_eq!(
        (check["matches"].as_bool(), check["record"]["digest"].as_str()),
        (Some(false), Some(digest.as_str())),
        "{check}"
    );
    let (s, e) = bob.call(Method::POST, &ev, Some(json!({"digest": digest}))).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("already_recorded")), "{e}");
    let (s, e) = bob.call(Method::POST, &ev, Some(json!({"digest": "abc"}))).await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("digest")),
        "{e}"
    );
    tp.stop().await;
}
