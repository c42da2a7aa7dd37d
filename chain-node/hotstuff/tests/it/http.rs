//! Four engines talking HTTP over 127.0.0.1 sockets.

use std::{sync::Arc, time::Duration};

use govchain_consensus::{BlockPolicy, Consensus};
use govchain_crypto::PrivateKey;
use govchain_hotstuff::{
    HotStuffConfig, HotStuffEngine, Validator,
    http::{HttpTransport, router},
    test_utils::MemBlockStore,
};

use crate::common::{CHAIN, SUITE, tx, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_over_http_commit_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut listeners = Vec::new();
    for _ in 0..4 {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let keys: Vec<PrivateKey> = (0..4).map(|_| PrivateKey::generate(SUITE)).collect();
    let validators: Vec<Validator> = (0..4)
        .map(|i| Validator {
            id: i as u64 + 1,
            name: format!("node{}", i + 1),
            addr: listeners[i].local_addr().unwrap().to_string(),
            public_key: keys[i].public_key().to_sec1(),
            voter: true,
        })
        .collect();
    let mut engines = Vec::new();
    let mut stores = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let v = &validators[i];
        let mut c = HotStuffConfig::new(
            v.id,
            v.name.clone(),
            v.addr.clone(),
            CHAIN,
            keys[i].clone(),
            validators.clone(),
            dir.path().join(&v.name),
        );
        c.round_timeout = Duration::from_millis(500);
        c.block_policy = BlockPolicy { max_wait: Duration::from_millis(5), ..BlockPolicy::default() };
        let store = Arc::new(MemBlockStore::new(SUITE, CHAIN));
        let engine =
            HotStuffEngine::start(c, store.clone(), Arc::new(HttpTransport::new().unwrap())).await.unwrap();
        let app = router(engine.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        engines.push(engine);
        stores.push(store);
    }
    for n in 0..20u64 {
        engines[(n % 4) as usize].submit(vec![tx(n)]).unwrap();
    }
    let ok = wait_until(Duration::from_secs(30), || stores.iter().all(|s| s.tx_count() >= 20)).await;
    assert!(ok, "not every member committed 20 transactions");
    let ok =
        wait_until(Duration::from_secs(10), || stores.iter().all(|s| s.block_ids() == stores[0].block_ids()))
            .await;
    assert!(ok, "members differ");
    for e in &engines {
        e.shutdown().await.unwrap();
    }
}
