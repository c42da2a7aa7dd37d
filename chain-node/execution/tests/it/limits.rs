//! Sizes and limits are checked with clear messages.

use govchain_execution::{
    DataCall, Entry, MAX_BATCH, MAX_KEY, MAX_LIMIT, MAX_SCAN_KEYS, MAX_VALUE, StateView as _,
};
use govchain_types::{HexValue, StateWrite};

use crate::common::*;

#[test]
fn key_and_value_sizes() {
    let mut c = Chain::new();
    let msg = failed(&c.run("OrgA", &DataCall::Put { key: vec![b'k'; MAX_KEY + 1], value: vec![] }));
    assert_eq!(msg, format!("invalid argument: a key must be 1 to {MAX_KEY} bytes, got {}", MAX_KEY + 1));
    let msg = failed(&c.run("OrgA", &DataCall::Get { key: vec![] }));
    assert!(msg.contains("a key must be 1 to 1024 bytes, got 0"), "{msg}");
    let msg = failed(&c.run("OrgA", &DataCall::Put { key: "k".into(), value: vec![0; MAX_VALUE + 1] }));
    assert!(msg.contains("value is 1048577 bytes, the limit is 1048576 (1 MiB)"), "{msg}");
    // The limits themselves are allowed.
    c.run_ok("OrgA", &DataCall::Put { key: vec![b'k'; MAX_KEY], value: vec![7; MAX_VALUE] });
    c.run_ok("OrgA", &DataCall::Put { key: "empty".into(), value: vec![] });
    assert_eq!(c.run_ok("OrgA", &get("empty"))["found"], true);
}

#[test]
fn batch_sizes() {
    let mut c = Chain::new();
    let msg = failed(&c.run("OrgA", &DataCall::BatchGet { keys: vec![] }));
    assert!(msg.contains("a batch must hold 1 to 1000 items, got 0"), "{msg}");
    let keys: Vec<Vec<u8>> = (0..=MAX_BATCH).map(|i| format!("k{i}").into_bytes()).collect();
    let msg = failed(&c.run("OrgA", &DataCall::BatchHistory { keys: keys.clone(), limit: 1 }));
    assert!(msg.contains("got 1001"), "{msg}");
    let entries: Vec<Entry> = keys.iter().map(|k| Entry { key: k.clone(), value: vec![1] }).collect();
    failed(&c.run("OrgA", &DataCall::BatchPut { entries: entries.clone() }));
    let out = c.run_ok("OrgA", &DataCall::BatchPut { entries: entries[..MAX_BATCH].to_vec() });
    assert_eq!(out["count"], MAX_BATCH);
    let msg = failed(&c.run(
        "OrgA",
        &DataCall::ValueBatchExact { values: vec![vec![]; MAX_BATCH + 1], start: vec![], limit: 1 },
    ));
    assert!(msg.contains("got 1001"), "{msg}");
}

#[test]
fn limits_are_capped_and_zero_is_refused() {
    let mut c = Chain::new();
    for chunk in 0..2 {
        let entries =
            (0..700).map(|i| Entry { key: format!("k{chunk}{i:04}").into(), value: vec![1] }).collect();
        c.run_ok("OrgA", &DataCall::BatchPut { entries });
    }
    let out = c.run_ok("OrgA", &DataCall::Range { start: vec![], end: None, limit: 5000 });
    assert_eq!(out["count"], MAX_LIMIT);
    assert_eq!(out["complete"], false);
    let out = c.run_ok("OrgA", &DataCall::ValueExact { value: vec![1], start: vec![], limit: u32::MAX });
    assert_eq!(out["count"], MAX_LIMIT);
    let msg = failed(&c.run("OrgA", &DataCall::History { key: "k00000".into(), limit: 0 }));
    assert!(msg.contains("limit must be at least 1"), "{msg}");
}

#[test]
fn value_scans_stop_at_the_budget_and_resume() {
    let mut c = Chain::new();
    // Seed the state directly: far more keys than one scan may walk.
    let n = MAX_SCAN_KEYS + 500;
    let writes: Vec<StateWrite> = (0..n)
        .map(|i| StateWrite {
            contract: "data".into(),
            key: format!("v/{i:06}").into_bytes(),
            value: Some(HexValue(if i == n - 1 { b"needle".to_vec() } else { b"hay".to_vec() })),
        })
        .collect();
    c.state.apply(0, tx_hash(0), 0, &writes);
    assert_eq!(
        c.state
            .scan("data", std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, usize::MAX)
            .unwrap()
            .len(),
        n
    );
    let first = c.run_ok("OrgA", &DataCall::ValueExact { value: "needle".into(), start: vec![], limit: 10 });
    assert_eq!(first["count"], 0);
    assert_eq!(first["scanned"], MAX_SCAN_KEYS);
    assert_eq!(first["complete"], false);
    let next = format!("{:06}\u{0}", MAX_SCAN_KEYS - 1);
    assert_eq!(first["next_start"], next.as_str());
    let rest = c.run_ok(
        "OrgA",
        &DataCall::ValueExact { value: "needle".into(), start: next.into_bytes(), limit: 10 },
    );
    assert_eq!(keys_of(&rest), vec![format!("{:06}", n - 1)]);
    assert_eq!(rest["scanned"], 500);
    assert_eq!(rest["complete"], true);
}

#[test]
fn oversized_query_arguments() {
    let mut c = Chain::new();
    let msg = failed(
        &c.run("OrgA", &DataCall::KeyContains { needle: vec![1; MAX_KEY + 1], start: vec![], limit: 1 }),
    );
    assert!(msg.contains("needle"), "{msg}");
    let msg = failed(&c.run("OrgA", &DataCall::Range { start: vec![0; MAX_KEY + 2], end: None, limit: 1 }));
    assert!(msg.contains("start must be at most 1025 bytes"), "{msg}");
    let msg = failed(&c.run("OrgA", &DataCall::Call { contract: "x".repeat(200), data: vec![] }));
    assert!(msg.contains("contract name"), "{msg}");
}
