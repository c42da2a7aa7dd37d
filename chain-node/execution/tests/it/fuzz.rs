//! Hostile payloads never panic and give `Failed` receipts.

use govchain_execution::{DataCall, Entry, EvidenceCall};
use govchain_types::{Decode, Encode, TxStatus};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::common::*;

#[test]
fn random_bytes_give_failed_receipts() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut chain = Chain::new();
    chain.run_ok("OrgA", &put("k", "v"));
    for round in 0..40 {
        let calls: Vec<Call> = (0..50)
            .map(|i| {
                let len = rng.gen_range(0..64);
                let mut bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                // Half of them start with a valid tag, to get past the first byte.
                if i % 2 == 0 && !bytes.is_empty() {
                    bytes[0] = rng.gen_range(1..=16);
                }
                let contract = if round % 4 == 0 { "evidence" } else { "data" };
                raw("OrgA", contract, bytes)
            })
            .collect();
        let out = chain.block(&calls);
        for (call, r) in calls.iter().zip(&out.receipts) {
            let decodes = if call.contract == "data" {
                DataCall::decode(&call.data).is_ok()
            } else {
                EvidenceCall::decode(&call.data).is_ok()
            };
            if !decodes {
                assert_eq!(r.status, TxStatus::Failed);
                assert!(r.message.starts_with("invalid payload"), "{}", r.message);
            }
        }
    }
}

#[test]
fn mutated_valid_payloads_never_panic() {
    let mut rng = StdRng::seed_from_u64(1);
    let seeds = [
        DataCall::BatchPut { entries: vec![Entry { key: "a".into(), value: "b".into() }] },
        DataCall::Range { start: "a".into(), end: Some("z".into()), limit: 3 },
        DataCall::ValueBatchExact { values: vec!["v".into()], start: vec![], limit: 2 },
        DataCall::Call { contract: "evidence".into(), data: EvidenceCall::Get { id: "x".into() }.encode() },
        DataCall::History { key: "k".into(), limit: 2 },
    ];
    let mut chain = Chain::new();
    chain.run_ok("OrgA", &put("k", "v"));
    let mut outcomes = [0usize; 2];
    for _ in 0..20 {
        let calls: Vec<Call> = (0..50)
            .map(|_| {
                let mut bytes = seeds[rng.gen_range(0..seeds.len())].encode();
                match rng.gen_range(0..3) {
                    0 => {
                        let i = rng.gen_range(0..bytes.len());
                        bytes[i] = rng.r#gen();
                    }
                    1 => bytes.truncate(rng.gen_range(0..bytes.len())),
                    _ => bytes.push(rng.r#gen()),
                }
                raw("OrgA", "data", bytes)
            })
            .collect();
        for r in chain.block(&calls).receipts {
            match r.status {
                TxStatus::Success => outcomes[0] += 1,
                TxStatus::Failed => {
                    assert!(!r.message.is_empty());
                    outcomes[1] += 1;
                }
            }
        }
    }
    assert!(outcomes[1] > 0, "mutations must produce failures: {outcomes:?}");
}
