use std::time::Duration;

use govchain_crypto::Suite;
use govchain_execution::DataCall;
use govchain_sdk::Error as SdkError;
use govchain_types::{
    Encode, TxStatus,
    api::{SubmitMode, Subscription, WsMessage},
};
use serde_json::Value;

use crate::support::{start, wallet};

fn put(key: &str, value: &str) -> DataCall {
    DataCall::Put { key: key.into(), value: value.into() }
}

fn output(receipt: &govchain_types::Receipt) -> Value {
    serde_json::from_slice(&receipt.output).expect("receipt output is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_contract_round_trip_in_every_suite() {
    for suite in Suite::ALL {
        let t = start(suite).await;
        let w = wallet(suite);
        let tx = w.data_call(&put("permit/1", "granted")).expect("sign");
        let resp = t.client.submit(&tx, SubmitMode::Sync).await.expect("submit");
        let receipt = resp.receipt.expect("sync returns the receipt");
        assert_eq!(receipt.status, TxStatus::Success, "{suite}: {}", receipt.message);
        assert_eq!(resp.tx_id, tx.id(suite));
        assert_eq!(receipt.height, 1, "first block after genesis");

        let state = t.client.data_value(b"permit/1").await.expect("state");
        assert_eq!(state.last_change_height, Some(1));
        assert_eq!(state.value_utf8.as_deref(), Some("granted"));

        let get = w.data_call(&DataCall::Get { key: "permit/1".into() }).expect("sign");
        let r = t.client.submit(&get, SubmitMode::Sync).await.expect("get").receipt.expect("receipt");
        assert_eq!(r.status, TxStatus::Success);
        assert!(output(&r).to_string().contains("granted"), "{suite}: get output {}", output(&r));
        assert!(r.height > receipt.height, "a read is a transaction of its own block");

        let record = t.client.transaction(&resp.tx_id).await.expect("query").expect("found");
        assert_eq!(record.transaction, tx);
        assert_eq!(record.receipt, receipt);

        let block = t.client.block(&receipt.height.to_string()).await.expect("block").expect("found");
        assert_eq!(block.block.header.tx_count, 1);
        let by_id = t.client.block(&block.id.to_string()).await.expect("block").expect("found");
        assert_eq!(by_id, block);
        let genesis = t.client.block("0").await.expect("genesis").expect("found");
        assert_eq!(block.block.header.prev_hash, genesis.id);
        assert_eq!(block.block.signatures.len(), 1, "proposer signature");

        let proof = t.client.proof(&resp.tx_id).await.expect("proof").expect("found");
        assert_eq!(proof.block_id, block.id);
        assert!(proof.proof.verify(suite, &proof.encoded, &proof.header.tx_root));
        assert_eq!(proof.encoded, tx.encode());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_ownership_and_async_submission() {
    let suite = Suite::Gm;
    let t = start(suite).await;
    let (a, b) = (wallet(suite), wallet(suite));
    for v in ["v1", "v2"] {
        let tx = a.data_call(&put("k", v)).expect("sign");
        t.client.submit(&tx, SubmitMode::Sync).await.expect("put");
    }
    // Another organization may read but not delete or overwrite.
    let steal = b.data_call(&DataCall::Delete { key: "k".into() }).expect("sign");
    let r = t.client.submit(&steal, SubmitMode::Sync).await.expect("submit").receipt.expect("receipt");
    assert_eq!(r.status, TxStatus::Failed);
    assert!(!r.message.is_empty());
    let del = a.data_call(&DataCall::Delete { key: "k".into() }).expect("sign");
    let r = t.client.submit(&del, SubmitMode::Sync).await.expect("submit").receipt.expect("receipt");
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);

    let history = t.client.data_history(b"k", 10).await.expect("history");
    assert_eq!(history.len(), 3, "two puts and a delete: {history:?}");
    assert!(history[0].value.is_none(), "newest first: the delete");
    assert!(history[0].height > history[2].height);

    // Async: admitted at once, committed shortly after.
    let tx = a.data_call(&put("async", "yes")).expect("sign");
    let resp = t.client.submit(&tx, SubmitMode::Async).await.expect("submit");
    assert_eq!(resp.status, "pending");
    assert!(resp.receipt.is_none());
    let mut found = None;
    for _ in 0..200 {
        if let Some(r) = t.client.receipt(&resp.tx_id).await.expect("receipt query") {
            found = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(found.expect("async transaction commits").status, TxStatus::Success);

    // Read-only query: no transaction, same answer.
    let height = t.client.height().await.expect("height");
    let answer =
        t.client.query("data", &DataCall::Get { key: "async".into() }.encode()).await.expect("query");
    assert!(answer.to_string().contains("yes"), "{answer}");
    assert_eq!(t.client.height().await.expect("height"), height, "a query writes no block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transactions_are_refused_with_clear_errors() {
    let suite = Suite::Gm;
    let t = start(suite).await;
    let w = wallet(suite);
    let tx = w.data_call(&put("dup", "1")).expect("sign");
    t.client.submit(&tx, SubmitMode::Sync).await.expect("first");
    let code = |e: SdkError| match e {
        SdkError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other}"),
    };
    assert_eq!(code(t.client.submit(&tx, SubmitMode::Sync).await.unwrap_err()), (409, "duplicate".into()));

    let mut forged = w.data_call(&put("x", "1")).expect("sign");
    forged.body.data = put("x", "2").encode();
    assert_eq!(
        code(t.client.submit(&forged, SubmitMode::Sync).await.unwrap_err()),
        (400, "bad_signature".into())
    );

    let other_chain = govchain_sdk::Wallet::new(govchain_crypto::PrivateKey::generate(suite), "another");
    let tx = other_chain.data_call(&put("x", "1")).expect("sign");
    assert_eq!(code(t.client.submit(&tx, SubmitMode::Sync).await.unwrap_err()), (400, "wrong_chain".into()));

    let wrong_suite = wallet(Suite::IntlR1).data_call(&put("x", "1")).expect("sign");
    assert_eq!(code(t.client.submit(&wrong_suite, SubmitMode::Sync).await.unwrap_err()).0, 400);

    let http = reqwest::Client::new();
    // A fresh connection per request: the server may close a connection
    // whose oversized body it refused without reading it.
    let post = |ct: &'static str, body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("{}/v1/transactions", t.url))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    for (ct, body, status, code) in [
        ("application/json", b"{not json".to_vec(), 400, "invalid_json"),
        ("application/json", b"{\"body\":1}".to_vec(), 400, "invalid_json"),
        ("application/octet-stream", vec![0xff; 64], 400, "invalid_transaction"),
        ("application/octet-stream", vec![], 400, "invalid_transaction"),
        // A body past the size limit is refused from its head, before the
        // client has written it (a client writing on gets a broken pipe):
        // rpc_edges.rs sends such a head alone and reads the 413.
    ] {
        let resp = post(ct, body).await.expect("http");
        assert_eq!(resp.status().as_u16(), status, "{code}");
        let body: Value = resp.json().await.expect("error bodies are JSON");
        assert_eq!(body["code"], code);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let resp = http.get(format!("{}/v1/transactions/nothex", t.url)).send().await.expect("http");
    assert_eq!(resp.status().as_u16(), 400);
    let resp = http.get(format!("{}/v1/blocks/999999", t.url)).send().await.expect("http");
    assert_eq!(resp.status().as_u16(), 404);
    let resp =
        http.post(format!("{}/v1/query/data", t.url)).body("{\"op\":\"nope\"}").send().await.expect("http");
    assert_eq!(resp.status().as_u16(), 400);
    // Still serving after all that.
    assert!(t.client.status().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_blocks_receipts_and_events() {
    let suite = Suite::IntlK1;
    let t = start(suite).await;
    let w = wallet(suite);
    let tx = w.data_call(&put("sub", "scribed")).expect("sign");
    let id = tx.id(suite);
    let mut sub = t
        .client
        .subscribe(&[
            Subscription::Blocks,
            Subscription::Receipts { tx_id: Some(id) },
            Subscription::Events { contract: Some("data".into()), name: Some("put".into()) },
        ])
        .await
        .expect("subscribe");
    t.client.submit(&tx, SubmitMode::Async).await.expect("submit");
    let (mut block, mut receipt, mut event) = (false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(block && receipt && event) {
        let msg =
            tokio::time::timeout_at(deadline, sub.next()).await.expect("in time").expect("ws").expect("open");
        match msg {
            WsMessage::Block { header, .. } => block |= header.tx_count == 1,
            WsMessage::Receipt { receipt: r } => receipt |= r.tx_id == id,
            WsMessage::Event { tx_id, event: e, .. } => event |= tx_id == id && e.name == "put",
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let t = start(Suite::IntlR1).await;
    let w = wallet(Suite::IntlR1);
    t.client.submit(&w.data_call(&put("m", "1")).expect("sign"), SubmitMode::Sync).await.expect("put");
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let resp = http.get(format!("{}{path}", t.url)).send().await.expect("http");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
    let metrics =
        http.get(format!("{}/metrics", t.url)).send().await.expect("http").text().await.expect("text");
    assert!(metrics.contains("govchain_node_height 1"), "{metrics}");
    assert!(metrics.contains("govchain_node_transactions_total{status=\"success\"} 1"), "{metrics}");
    for line in [
        "govchain_node_is_leader 1",
        "govchain_node_consensus_role{role=\"leader\"} 1",
        "govchain_node_consensus_role{role=\"follower\"} 0",
        "govchain_node_peers 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(metrics.contains("govchain_node_leader{leader=\""), "{metrics}");
    assert!(value("govchain_node_last_block_timestamp_seconds") > 1.7e9);
    assert!(value("govchain_node_process_resident_memory_bytes") > 1e6);
    assert!(value("govchain_node_process_open_fds") >= 3.0);
    assert!(value("govchain_node_process_cpu_seconds") > 0.0);
    assert!(value("govchain_node_disk_free_bytes") > 0.0 && value("govchain_node_disk_used_bytes") > 0.0);
    let status = t.client.status().await.expect("status");
    assert_eq!(status.role, "leader");
    assert_eq!(status.consensus, "solo");
    assert_eq!(status.suite, "intl-r1");
    assert_eq!(t.node.ledger().height(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_block_list_pages_headers_newest_first() {
    let t = start(Suite::Gm).await;
    let w = wallet(Suite::Gm);
    for i in 0..3 {
        let tx = w.data_call(&put(&format!("k{i}"), "v")).expect("sign");
        t.client.submit(&tx, SubmitMode::Sync).await.expect("commit");
    }
    let tip = t.client.height().await.expect("height");
    assert!(tip >= 3, "three commits make three blocks at least");

    let page = t.client.blocks(None, 2).await.expect("blocks");
    let heights: Vec<u64> = page.iter().map(|b| b.header.height).collect();
    assert_eq!(heights, [tip, tip - 1]);
    for b in &page {
        let full = t.client.block(&b.header.height.to_string()).await.expect("block").expect("exists");
        assert_eq!((b.id, &b.header), (full.id, &full.block.header));
    }
    // The next page starts below the last height seen; the last one ends at
    // genesis.
    let next = t.client.blocks(Some(tip - 1), 100).await.expect("blocks");
    assert_eq!(next.first().map(|b| b.header.height), Some(tip - 2));
    assert_eq!(next.last().map(|b| b.header.height), Some(0));
    assert!(t.client.blocks(Some(0), 5).await.expect("blocks").is_empty());
    // Past the tip starts at the tip; the cap holds.
    assert_eq!(t.client.blocks(Some(tip + 1_000), 1).await.expect("blocks")[0].header.height, tip);
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/v1/blocks?limit=many", t.url)).send().await.expect("http");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("error bodies are JSON");
    assert_eq!(body["code"], "bad_query");
}
