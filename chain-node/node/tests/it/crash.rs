//! Crash safety (SPEC LED-2): the real node binary is killed with SIGKILL
//! again and again while clients stream writes; after every restart each
//! acknowledged transaction is on the ledger, the state holds its write and
//! the hash chain verifies.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use govchain_crypto::Suite;
use govchain_execution::DataCall;
use govchain_sdk::Client;
use govchain_types::{Block, Hash, TxStatus, api::SubmitMode};

use crate::support::{init, wallet};

const ROUNDS: usize = 8;
const TIME_CAP: Duration = Duration::from_secs(120);
const WRITERS: usize = 16;

/// Kills the node if the test panics, so no process outlives it.
pub(crate) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn_node(config: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govchain-node"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn govchain-node");
    let stdout = child.stdout.take().expect("stdout");
    let child = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read url line");
    let url =
        line.split_whitespace().find_map(|w| w.strip_prefix("url=")).expect("url= in first line").to_owned();
    (child, url)
}

/// Walks the chain through the API: links, roots and counts of every block.
async fn verify_through_api(client: &Client, suite: Suite) -> u64 {
    let height = client.height().await.expect("height");
    let mut prev = Hash::ZERO;
    for h in 0..=height {
        let b = client.block(&h.to_string()).await.expect("block").expect("present");
        assert_eq!(b.block.header.height, h);
        assert_eq!(b.block.header.prev_hash, prev, "block {h} links to its parent");
        assert_eq!(b.id, b.block.header.id(suite));
        assert_eq!(b.block.header.tx_root, Block::tx_root(suite, &b.block.transactions));
        assert_eq!(b.block.header.tx_count as usize, b.block.transactions.len());
        prev = b.id;
    }
    height
}

#[test]
fn acknowledged_transactions_survive_sigkill() {
    let suite = Suite::Gm;
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("node");
    let config = init(&node_dir, suite, "test-chain");
    let config_path = node_dir.join(govchain_node::init::CONFIG_FILE);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let acked: Arc<Mutex<Vec<(Hash, String)>>> = Arc::default();
    let started = Instant::now();
    let mut seed = started.elapsed().as_nanos() as u64 | 1;
    let mut rounds = 0;
    while rounds < ROUNDS && started.elapsed() < TIME_CAP {
        rounds += 1;
        let (mut child, url) = spawn_node(&config_path);
        let client = Client::new(&url).expect("client");
        let before = acked.lock().unwrap().len();
        // Every acknowledgement so far must have survived the last kill.
        let so_far = acked.lock().unwrap().clone();
        rt.block_on(async {
            for (id, key) in so_far {
                let record = client
                    .transaction(&id)
                    .await
                    .expect("query")
                    .unwrap_or_else(|| panic!("round {rounds}: acknowledged transaction {id} lost"));
                assert_eq!(record.receipt.status, TxStatus::Success);
                let state = client.data_value(key.as_bytes()).await.expect("state");
                assert_eq!(state.value_utf8.as_deref(), Some("v"), "round {rounds}: write of {id} lost");
            }
            verify_through_api(&client, suite).await;
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (client, acked) = (client.clone(), acked.clone());
                rt.spawn(async move {
                    let wallet = wallet(suite);
                    for i in 0.. {
                        let key = format!("r{rounds}-w{w}-{i}");
                        let tx =
                            wallet.data_call(&DataCall::Put { key: key.clone().into(), value: "v".into() });
                        let tx = tx.expect("sign");
                        match client.submit(&tx, SubmitMode::Sync).await {
                            Ok(r) if r.receipt.is_some() => acked.lock().unwrap().push((r.tx_id, key)),
                            _ => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                })
            })
            .collect();
        // xorshift: kill somewhere between 150 and 900 ms into the stream.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 750));
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reap");
        for w in writers {
            w.abort();
        }
        let after = acked.lock().unwrap().len();
        assert!(after > before, "round {rounds}: no transaction was acknowledged before the kill");
    }
    assert!(rounds >= 3, "too few rounds in the time cap");

    // Final check after the last kill, then directly on the files.
    let (child, url) = spawn_node(&config_path);
    let client = Client::new(&url).expect("client");
    let all = acked.lock().unwrap().clone();
    let height = rt.block_on(async {
        for (id, _) in &all {
            assert!(client.transaction(id).await.expect("query").is_some(), "acknowledged {id} lost");
        }
        verify_through_api(&client, suite).await
    });
    drop(child);
    let ledger =
        govchain_ledger::Ledger::open(&config.data_dir.join("ledger"), suite, "test-chain").expect("open");
    assert_eq!(ledger.verify_chain().expect("hash chain verifies"), Some(height));
    eprintln!("{rounds} kills, {} acknowledged transactions, height {height}", acked.lock().unwrap().len());
}
