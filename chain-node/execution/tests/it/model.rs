//! Random puts and deletes over several blocks, checked against a plain map
//! after every transaction, so the overlay merge is tested where it is subtle
//! (deletes hiding committed keys near the limit).

use std::collections::BTreeMap;

use govchain_execution::{DataCall, Entry};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::common::*;

#[test]
fn range_and_history_match_a_model_within_and_across_blocks() {
    let mut rng = StdRng::seed_from_u64(99);
    let mut chain = Chain::new();
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for block in 0..12 {
        let mut calls = Vec::new();
        // What each range call in this block must return.
        let mut expected = Vec::new();
        for step in 0..30 {
            let key = format!("k{:02}", rng.gen_range(0..40));
            match rng.gen_range(0..4) {
                0 | 1 => {
                    let value = format!("b{block}s{step}");
                    calls.push(data(
                        "OrgA",
                        &DataCall::BatchPut {
                            entries: vec![Entry { key: key.clone().into(), value: value.clone().into() }],
                        },
                    ));
                    model.insert(key.clone(), value);
                    *versions.entry(key).or_default() += 1;
                    expected.push(None);
                }
                2 if model.contains_key(&key) => {
                    calls.push(data("OrgA", &del(&key)));
                    model.remove(&key);
                    *versions.entry(key).or_default() += 1;
                    expected.push(None);
                }
                _ => {
                    let start = format!("k{:02}", rng.gen_range(0..40));
                    let limit = rng.gen_range(1..12);
                    calls.push(data(
                        "OrgB",
                        &DataCall::Range { start: start.clone().into(), end: None, limit },
                    ));
                    let want: Vec<(String, String)> = model
                        .range(start..)
                        .take(limit as usize)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    expected.push(Some(want));
                }
            }
        }
        let out = chain.block(&calls);
        for (r, want) in out.receipts.iter().zip(expected) {
            let body = ok(r);
            if let Some(want) = want {
                let got: Vec<(String, String)> = body["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e["key"].as_str().unwrap().to_owned(), e["value"].as_str().unwrap().to_owned()))
                    .collect();
                assert_eq!(got, want, "block {block}");
            }
        }
    }
    // Across blocks, after commit: full contents and per-key version counts.
    let all = chain.run_ok("OrgB", &DataCall::Range { start: vec![], end: None, limit: 1000 });
    assert_eq!(keys_of(&all), model.keys().cloned().collect::<Vec<_>>());
    for (key, n) in versions {
        let h = chain.run_ok("OrgB", &DataCall::History { key: key.clone().into(), limit: 1000 });
        assert_eq!(h["entries"].as_array().unwrap().len(), n, "{key}");
    }
}
