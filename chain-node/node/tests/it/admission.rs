//! Backpressure through the real API: a node with a small admission budget
//! flooded with submissions refuses the excess with 503 `overloaded` and a
//! `Retry-After`, the SDK reports it as retryable, and retrying as told
//! gets every transaction committed.

use std::time::Duration;

use futures_util::future::join_all;
use govchain_crypto::Suite;
use govchain_execution::DataCall;
use govchain_node::Node;
use govchain_sdk::{Client, Error as SdkError, Retry};
use govchain_types::api::SubmitMode;

use crate::support::{init, wallet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_node_refuses_with_503_and_retry_after_and_retries_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = init(&dir.path().join("node"), Suite::IntlR1, "test-chain");
    // 50 ms of the cold floor (50 tx/s): three transactions in flight.
    config.admission_budget_ms = 50;
    let node = Node::start(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, govchain_node::rpc::router(node.clone())).into_future());
    let client = Client::new(&url).unwrap();

    let w = wallet(Suite::IntlR1);
    let txs: Vec<_> = (0..300)
        .map(|i| w.data_call(&DataCall::Put { key: format!("k{i}").into(), value: b"v".to_vec() }).unwrap())
        .collect();
    let answers = join_all(txs.iter().map(|tx| client.submit(tx, SubmitMode::Sync))).await;
    let mut refused = Vec::new();
    let mut committed = 0;
    for (tx, answer) in txs.iter().zip(answers) {
        match answer {
            Ok(r) => {
                assert!(r.receipt.is_some(), "a sync submission answers with its receipt");
                committed += 1;
            }
            Err(e @ SdkError::Overloaded { .. }) => {
                let wait = e.retry_after().expect("a refusal carries Retry-After");
                assert!((1..=30).contains(&wait.as_secs()), "Retry-After {wait:?}");
                assert!(e.to_string().contains("node is busy"), "{e}");
                refused.push(tx);
            }
            Err(e) => panic!("only overload refusals expected, got {e}"),
        }
    }
    assert!(committed > 0, "the node admitted up to its limit");
    assert!(!refused.is_empty(), "300 at once exceed three in flight");
    assert_eq!(
        node.metrics().render().lines().find(|l| l.contains("reason=\"overloaded\"")).map(|l| {
            l.rsplit(' ').next().unwrap_or_default().trim().parse::<usize>().unwrap_or_default()
        }),
        Some(refused.len()),
        "each refusal counted once in the metrics"
    );

    // The raw answer: 503, Retry-After in seconds, a {code, message} body.
    let raw = reqwest::Client::new();
    let flood = join_all((0..40).map(|i| {
        let tx = w.data_call(&DataCall::Put { key: format!("raw{i}").into(), value: b"v".to_vec() }).unwrap();
        raw.post(format!("{url}/v1/transactions?mode=sync"))
            .header("content-type", "application/octet-stream")
            .body(govchain_types::Encode::encode(&tx))
            .send()
    }))
    .await;
    let busy = flood.into_iter().map(Result::unwrap).find(|r| r.status() == 503).expect("a 503 among 40");
    let secs: u64 = busy.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs >= 1);
    let body: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    assert!(body["message"].as_str().unwrap().contains("retry after"), "{body}");

    // Retrying as told: every refused transaction commits.
    let retry =
        Retry { retries: 5, default_wait: Duration::from_millis(100), max_wait: Duration::from_secs(2) };
    for tx in refused {
        let done = client.submit_retrying(tx, SubmitMode::Sync, retry).await.unwrap();
        assert!(done.response.receipt.is_some());
    }
}
