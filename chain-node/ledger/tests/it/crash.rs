//! kill -9 crash test: a child process commits blocks and prints each height
//! once `commit` returned; the parent kills it at random moments, reopens the
//! ledger and checks that every acknowledged block is there, whole.

use std::{
    collections::BTreeMap,
    env,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use govchain_ledger::test_utils::{ChainBuilder, GENESIS_TIME_MS, delete, put};
use govchain_types::{Encode, Hash, HexValue, HistoryEntry, Signer, StateWrite, TxBody, TxType};
use rand::Rng;

use crate::{CHAIN, SUITE, key, open_small};

const DIR_ENV: &str = "GOVCHAIN_LEDGER_CRASH_DIR";
const ROUNDS: usize = 20;
const TIME_CAP: Duration = Duration::from_secs(90);
const KEYS: u64 = 40;

/// The transactions of block `height`: the same in every run, so the parent
/// knows what each acknowledged block must hold.
fn bodies(height: u64) -> Vec<TxBody> {
    // Signing fills in sender and signers from the key; set them here
    // already so the parent's ids match the child's.
    let key = key();
    let sender = key.address();
    let signer = Signer { public_key: key.public_key().to_sec1(), certificate: None };
    (0..2 + height % 4)
        .map(|i| TxBody {
            chain_id: CHAIN.into(),
            tx_type: TxType::Invoke,
            timestamp_ms: GENESIS_TIME_MS + height * 1000,
            nonce: height * 16 + i,
            sender,
            recipient: "data".into(),
            data: format!("block {height} tx {i} {}", "payload ".repeat(8)).into_bytes(),
            memo: String::new(),
            signers: vec![signer.clone()],
        })
        .collect()
}

fn writes(height: u64) -> Vec<Vec<StateWrite>> {
    (0..2 + height % 4)
        .map(|i| {
            let k = format!("k{:02}", (height * 3 + i) % KEYS);
            let mut w = vec![put("data", k.as_bytes(), format!("v{height}-{i}").as_bytes())];
            if (height + i).is_multiple_of(7) {
                w.push(delete("data", format!("k{:02}", (height + i) % KEYS).as_bytes()));
            }
            w.push(put("meta", b"last", &height.to_be_bytes()));
            w
        })
        .collect()
}

fn tx_id(body: &TxBody) -> Hash {
    Hash(SUITE.hash(&body.encode()))
}

/// The child: commits blocks until killed, acknowledging each one.
#[test]
#[ignore = "child process of crash_kill9_keeps_every_acknowledged_block"]
fn crash_child() {
    let Ok(dir) = env::var(DIR_ENV) else { return };
    let ledger = open_small(Path::new(&dir));
    let mut builder = ChainBuilder::following(&ledger);
    let key = key();
    let mut out = std::io::stdout().lock();
    // Bounded in case the parent is gone without killing us.
    for _ in 0..100_000 {
        let height = builder.next_height();
        let txs = bodies(height).into_iter().map(|b| b.sign(&[&key]).unwrap()).collect();
        let block = builder.block(txs, writes(height));
        block.commit(&ledger).unwrap();
        writeln!(out, "COMMITTED {height} {}", block.block.header.id(SUITE)).unwrap();
        out.flush().unwrap();
    }
}

/// What the state and history must be after blocks `0..=height`.
#[derive(Default)]
struct Model {
    state: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    history: BTreeMap<(String, Vec<u8>), Vec<HistoryEntry>>,
}

impl Model {
    fn up_to(height: u64) -> Model {
        let mut m = Model::default();
        for h in 0..=height {
            for (body, tx_writes) in bodies(h).iter().zip(writes(h)) {
                for w in tx_writes {
                    let k = (w.contract.clone(), w.key.clone());
                    match &w.value {
                        Some(v) => m.state.insert(k.clone(), v.0.clone()),
                        None => m.state.remove(&k),
                    };
                    m.history.entry(k).or_default().insert(
                        0,
                        HistoryEntry {
                            height: h,
                            tx_id: tx_id(body),
                            timestamp_ms: GENESIS_TIME_MS + h * 1000,
                            value: w.value.clone().map(|v| HexValue(v.0)),
                        },
                    );
                }
            }
        }
        m
    }
}

/// Records an acknowledged block; the same height acknowledged twice with
/// another id would mean an acknowledged block was lost and replaced.
fn acknowledge(acked: &mut BTreeMap<u64, String>, (height, id): (u64, String)) {
    if let Some(old) = acked.insert(height, id.clone()) {
        assert_eq!(old, id, "block {height} was acknowledged twice with different ids");
    }
}

fn check_ledger(dir: &Path, acked: &BTreeMap<u64, String>, checked_before: u64) -> u64 {
    let ledger = open_small(dir);
    let height = ledger.height().expect("the ledger has blocks");
    let max_acked = *acked.keys().next_back().expect("something was acknowledged");
    assert!(height >= max_acked, "height {height} after acknowledging {max_acked}");

    for (&h, id) in acked {
        assert_eq!(ledger.block_id_at(h).unwrap().map(|i| i.to_string()).as_ref(), Some(id), "block {h}");
    }
    for &h in acked.range(checked_before..).map(|(h, _)| h) {
        let block = ledger.block_by_height(h).unwrap().expect("acknowledged block present");
        let expected: Vec<Hash> = bodies(h).iter().map(tx_id).collect();
        let found: Vec<Hash> = block.transactions.iter().map(|t| t.id(SUITE)).collect();
        assert_eq!(found, expected, "transactions of block {h}");
        for (i, id) in expected.iter().enumerate() {
            let (tx, receipt) = ledger.transaction(id).unwrap().expect("acknowledged tx present");
            tx.verify(SUITE, CHAIN).unwrap();
            assert_eq!((receipt.height, receipt.index), (h, i as u32));
        }
    }

    let model = Model::up_to(height);
    let state: Vec<_> = ["data", "meta"]
        .iter()
        .flat_map(|c| {
            ledger.scan(c, .., usize::MAX).unwrap().into_iter().map(|(k, v)| ((c.to_string(), k), v))
        })
        .collect();
    assert_eq!(state, model.state.into_iter().collect::<Vec<_>>(), "state at height {height}");
    for ((contract, k), versions) in &model.history {
        let got = ledger.history(contract, k, 5).unwrap();
        assert_eq!(got, versions[..versions.len().min(5)], "history of {contract}/{k:?}");
        assert_eq!(ledger.last_change_height(contract, k).unwrap(), versions.first().map(|v| v.height));
    }
    assert_eq!(ledger.verify_chain().unwrap(), Some(height));
    height
}

#[test]
fn crash_kill9_keeps_every_acknowledged_block() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env::current_exe().unwrap();
    let started = Instant::now();
    let mut rng = rand::thread_rng();
    let mut acked = BTreeMap::new();
    let mut checked = 0;
    let mut rounds = 0;
    let mut mid_recovery_kills = 0;

    while rounds < ROUNDS && started.elapsed() < TIME_CAP {
        rounds += 1;
        let mut child = Command::new(&exe)
            .args(["crash::crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("COMMITTED ") {
                    let (h, id) = rest.split_once(' ').unwrap();
                    tx.send((h.parse::<u64>().unwrap(), id.to_owned())).unwrap();
                }
            }
        });

        // Most rounds kill while blocks are being committed; some kill
        // early, possibly while `open` is repairing the previous crash.
        if rng.gen_bool(0.2) {
            mid_recovery_kills += 1;
            thread::sleep(Duration::from_millis(rng.gen_range(0..40)));
        } else {
            let first = rx.recv_timeout(Duration::from_secs(60)).expect("child commits a block");
            acknowledge(&mut acked, first);
            thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        }
        assert!(child.try_wait().unwrap().is_none(), "child exited before it was killed");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for ack in rx.try_iter() {
            acknowledge(&mut acked, ack);
        }

        if !acked.is_empty() {
            let height = check_ledger(dir.path(), &acked, checked);
            checked = acked.keys().next_back().map_or(0, |h| h + 1);
            eprintln!("round {rounds}: {} blocks acknowledged, ledger at {height}", acked.len());
        }
    }
    assert!(rounds - mid_recovery_kills >= 3, "too few committing rounds in the time cap");
    assert!(acked.len() >= 10, "only {} blocks acknowledged", acked.len());
}

/// A process killed while creating its ledger's index leaves the staging
/// directory (here with a version marker the store cannot read) and no
/// index; the next open makes the index again and the ledger works.
#[test]
fn an_index_left_half_created_by_a_kill_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("index.new");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("version"), b"").unwrap();
    let ledger = open_small(dir.path());
    assert!(!staging.exists() && dir.path().join("index").is_dir());
    let mut builder = ChainBuilder::new(SUITE, CHAIN);
    builder.block(Vec::new(), Vec::new()).commit(&ledger).unwrap();
    drop(ledger);
    assert_eq!(open_small(dir.path()).height(), Some(0));
}
