//! A cluster over real sockets: the HTTP transport and the axum router on
//! 127.0.0.1.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use govchain_consensus::Consensus;
use govchain_raft::{
    Node, NodeId, RaftEngine,
    http::{HttpTransport, router},
    test_utils::MemBlockStore,
};

use crate::common::{CHAIN, SUITE, config, retry, tx, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_http_on_loopback() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut listeners = Vec::new();
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        nodes.insert(id, Node::new(addr.to_string(), format!("node{id}")));
        listeners.push((id, listener));
    }
    let transport = Arc::new(HttpTransport::new().expect("client"));
    let mut engines: BTreeMap<NodeId, (RaftEngine, Arc<MemBlockStore>)> = BTreeMap::new();
    let mut servers = Vec::new();
    for (id, listener) in listeners {
        let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
        let c = config(id, nodes[&id].clone(), root.path().join(format!("log-{id}")));
        let engine = RaftEngine::start(c, store.clone(), transport.clone()).await.expect("start");
        let app = router(engine.clone());
        servers.push(tokio::spawn(async move { axum::serve(listener, app).await }));
        engines.insert(id, (engine, store));
    }
    engines[&1].0.initialize(nodes.clone()).await.expect("initialize");
    let leader = engines[&1].0.wait_for_leader(Duration::from_secs(15)).await.expect("leader");
    let leader_engine = engines[&leader].0.clone();
    let txs: Vec<_> = (0..50).map(tx).collect();
    retry(Duration::from_secs(15), || async { leader_engine.submit(txs.clone()) }).await;
    let ok =
        wait_until(Duration::from_secs(20), || engines.values().all(|(_, s)| s.transactions().len() == 50))
            .await;
    assert!(ok, "all members hold the 50 transactions");
    let ids = engines[&1].1.block_ids();
    assert!(engines.values().all(|(_, s)| s.block_ids() == ids), "identical chains");

    // The router refuses what it does not serve.
    let client = reqwest::Client::new();
    let addr = &nodes[&1].addr;
    let resp = client.post(format!("http://{addr}/raft/nope")).body(vec![1]).send().await.expect("post");
    assert_eq!(resp.status().as_u16(), 404);
    let resp =
        client.post(format!("http://{addr}/raft/append")).body(vec![0xff; 3]).send().await.expect("post");
    assert_eq!(resp.status().as_u16(), 400);

    for (engine, _) in engines.values() {
        engine.shutdown().await.expect("shutdown");
    }
    for server in servers {
        server.abort();
    }
}
