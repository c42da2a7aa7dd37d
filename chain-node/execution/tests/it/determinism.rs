//! The same block over the same state gives the same outcome, every time.

use govchain_execution::{DataCall, Entry, EvidenceCall, Executor, TxContext};
use govchain_types::{Encode, Transaction};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::common::*;

fn random_call(rng: &mut StdRng) -> Call {
    let org = ["OrgA", "OrgB", "OrgC"][rng.gen_range(0..3)];
    let key = |rng: &mut StdRng| format!("k{}", rng.gen_range(0..12)).into_bytes();
    let call = match rng.gen_range(0..10) {
        0..=2 => DataCall::Put { key: key(rng), value: vec![rng.r#gen(); rng.gen_range(0..6)] },
        3 => DataCall::Delete { key: key(rng) },
        4 => DataCall::Get { key: key(rng) },
        5 => DataCall::History { key: key(rng), limit: rng.gen_range(1..5) },
        6 => DataCall::BatchPut {
            entries: (0..rng.gen_range(1..4)).map(|_| Entry { key: key(rng), value: vec![1, 2] }).collect(),
        },
        7 => DataCall::Range { start: key(rng), end: None, limit: rng.gen_range(1..8) },
        8 => DataCall::ValueContains { needle: vec![1], start: vec![], limit: 5 },
        _ => {
            let id = format!("doc{}", rng.gen_range(0..4));
            DataCall::Call {
                contract: "evidence".into(),
                data: EvidenceCall::Store { id, digest: vec![rng.r#gen(); 32], meta: String::new() }.encode(),
            }
        }
    };
    data(org, &call)
}

#[test]
fn executing_a_block_twice_gives_identical_receipts_and_writes() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut chain = Chain::new();
    for _ in 0..5 {
        let calls: Vec<Call> = (0..40).map(|_| random_call(&mut rng)).collect();
        let txs = chain.contexts(&calls);
        let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
        let first = chain.exec.execute_block(&chain.state, &refs).unwrap();
        let second = chain.exec.execute_block(&chain.state, &refs).unwrap();
        let other_node = Executor::new().execute_block(&chain.state.clone(), &refs).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, other_node);
        // Byte-identical encodings, which is what the block's roots hash.
        let enc = |o: &govchain_execution::BlockOutcome| {
            (
                o.receipts.iter().map(Encode::encode).collect::<Vec<_>>(),
                o.writes.iter().flatten().map(Encode::encode).collect::<Vec<_>>(),
            )
        };
        assert_eq!(enc(&first), enc(&other_node));
        // The seed mixes successes and failures, so both paths are covered.
        assert!(first.receipts.iter().any(|r| r.status == govchain_types::TxStatus::Failed));
        assert!(first.receipts.iter().any(|r| r.status == govchain_types::TxStatus::Success));
        chain.height += 1;
        chain.state.apply_block(txs.iter().map(|(_, c)| c), &first.writes);
    }
}
