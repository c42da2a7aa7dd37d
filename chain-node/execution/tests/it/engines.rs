//! The execution seam: engines registered by transaction type, a second
//! engine plugged in by one registration, unclaimed types refused alike on
//! every node, and every engine's writes in the same state store and root.

use std::ops::Bound;

use govchain_crypto::Suite;
use govchain_execution::{
    BlockOutcome, EngineKind, Error, ExecutionSpec, Executor, MemState, NativeEngine, StateView, TxContext,
    test_utils::TallyEngine,
};
use govchain_ledger::{Ledger, test_utils::ChainBuilder};
use govchain_types::{Encode, HistoryEntry, Transaction, TxStatus, TxType, next_state_root};

use crate::common::*;

fn tally(org: &str, counter: &str, tx_type: TxType) -> Call {
    Call { org: org.into(), contract: counter.into(), data: Vec::new(), tx_type }
}

fn with_tally() -> Executor {
    Executor::builder()
        .engine(NativeEngine::builtin())
        .unwrap()
        .engine(TallyEngine::new(&[TxType::EvmCall]))
        .unwrap()
        .build()
}

fn execute(exec: &Executor, state: &dyn StateView, txs: &[(Transaction, TxContext)]) -> BlockOutcome {
    let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
    exec.execute_block(state, &refs).unwrap()
}

#[test]
fn a_second_engine_plugs_in_by_one_registration() {
    let mut chain = Chain::new();
    chain.exec = with_tally();
    assert_eq!(chain.exec.engine_names().collect::<Vec<_>>(), ["native", "tally"]);
    assert_eq!(chain.exec.engine_for(TxType::EvmCall).map(|e| e.name()), Some("tally"));
    assert_eq!(chain.exec.engine_for(TxType::Invoke).map(|e| e.name()), Some("native"));

    let out = chain.block(&[
        data("OrgA", &put("k", "v")),
        tally("OrgA", "votes", TxType::EvmCall),
        tally("OrgB", "votes", TxType::EvmCall),
    ]);
    for r in &out.receipts {
        assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    }
    // The second tally call of the block sees the first one's write.
    assert_eq!(String::from_utf8_lossy(&out.receipts[2].output), r#"{"count":2}"#);
    assert_eq!(out.receipts[1].events[0].contract, "tally");
    assert_eq!(out.writes[1][0].contract, "tally");
    assert_eq!(chain.state.get("tally", b"votes").unwrap(), Some(2u64.to_be_bytes().to_vec()));
    // Native queries still work beside it, and the engine answers its own.
    assert_eq!(chain.query("OrgA", "data", &get("k").encode()).unwrap()["value"], "v");
    let ctx = TxContext {
        tx_id: tx_hash(0),
        sender: sender("OrgA"),
        org: "OrgA".into(),
        height: 1,
        timestamp_ms: 0,
    };
    let q = chain.exec.query_engine(TxType::EvmCall, &chain.state, ctx, "votes", b"").unwrap();
    assert_eq!(q, br#"{"count":2}"#);
}

#[test]
fn a_failed_transaction_of_another_engine_leaves_nothing() {
    let mut chain = Chain::new();
    chain.exec = with_tally();
    let mut fail = tally("OrgA", "votes", TxType::EvmCall);
    fail.data = b"fail".to_vec();
    let out = chain.block(&[
        tally("OrgA", "votes", TxType::EvmCall),
        fail,
        tally("OrgA", "votes", TxType::EvmCall),
    ]);
    assert_eq!(failed(&out.receipts[1]), "invalid argument: asked to fail");
    assert!(out.writes[1].is_empty());
    assert_eq!(String::from_utf8_lossy(&out.receipts[2].output), r#"{"count":2}"#);
}

#[test]
fn transaction_types_no_engine_runs_are_refused_alike_on_every_node() {
    let calls = [
        tally("OrgA", "votes", TxType::EvmCall),
        tally("OrgA", "0xabc", TxType::EvmCreate),
        tally("OrgA", "system", TxType::System),
        data("OrgA", &put("k", "v")),
    ];
    let mut chain = Chain::new();
    let txs = chain.contexts(&calls);
    let one = execute(&Executor::new(), &chain.state, &txs);
    let other = execute(&Executor::from_spec(&ExecutionSpec::default()).unwrap(), &chain.state, &txs);
    assert_eq!(one, other);
    let enc = |o: &BlockOutcome| o.receipts.iter().map(Encode::encode).collect::<Vec<_>>();
    assert_eq!(enc(&one), enc(&other));
    assert_eq!(failed(&one.receipts[0]), "no execution engine of this chain runs `evm_call` transactions");
    assert_eq!(failed(&one.receipts[1]), "no execution engine of this chain runs `evm_create` transactions");
    assert_eq!(failed(&one.receipts[2]), "no execution engine of this chain runs `system` transactions");
    assert!(one.writes[..3].iter().all(Vec::is_empty));
    assert_eq!(one.receipts[3].status, TxStatus::Success);
    // An executor without any engine refuses everything, still one receipt each.
    let none = execute(&Executor::empty(), &chain.state, &txs);
    assert!(none.receipts.iter().all(|r| r.status == TxStatus::Failed));
    assert!(failed(&none.receipts[3]).contains("`invoke`"));
}

#[test]
fn a_type_is_run_by_one_engine_only() {
    let err = Executor::builder()
        .engine(NativeEngine::builtin())
        .unwrap()
        .engine(TallyEngine::new(&[TxType::EvmCall, TxType::Invoke]))
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEngine { tx_type: TxType::Invoke, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "engine `tally` claims `invoke` transactions, already run by engine `native`"
    );
    // Naming a type twice in one engine is not a conflict.
    let exec =
        Executor::builder().engine(TallyEngine::new(&[TxType::EvmCall, TxType::EvmCall])).unwrap().build();
    assert_eq!(exec.engine_for(TxType::EvmCall).map(|e| e.name()), Some("tally"));
}

#[test]
fn the_genesis_names_the_engines() {
    let spec: ExecutionSpec = serde_json::from_str("{}").unwrap();
    assert_eq!(spec, ExecutionSpec::default());
    assert!(spec.is_default());
    assert_eq!(spec.engines, [EngineKind::Native]);
    let exec = Executor::from_spec(&spec).unwrap();
    assert_eq!(exec.engine_names().collect::<Vec<_>>(), ["native"]);
    let bad = serde_json::from_str::<ExecutionSpec>(r#"{"engines": ["wasm"]}"#).unwrap_err();
    assert!(bad.to_string().contains("unknown variant `wasm`"), "{bad}");
    let twice = ExecutionSpec { engines: vec![EngineKind::Native, EngineKind::Native], evm: None };
    assert!(matches!(Executor::from_spec(&twice), Err(Error::DuplicateEngine { .. })));
    let none = ExecutionSpec { engines: vec![], evm: None };
    assert_eq!(Executor::from_spec(&none).unwrap().engine_names().count(), 0);
}

/// The ledger as an executor reads it (as the node does).
struct LedgerView<'a>(&'a Ledger);

impl StateView for LedgerView<'_> {
    fn get(&self, contract: &str, key: &[u8]) -> govchain_execution::Result<Option<Vec<u8>>> {
        self.0.get(contract, key).map_err(govchain_execution::Error::storage)
    }

    fn scan(
        &self,
        contract: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> govchain_execution::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let range = (start.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec));
        self.0.scan(contract, range, limit).map_err(govchain_execution::Error::storage)
    }

    fn history(
        &self,
        contract: &str,
        key: &[u8],
        limit: usize,
    ) -> govchain_execution::Result<Vec<HistoryEntry>> {
        self.0.history(contract, key, limit).map_err(govchain_execution::Error::storage)
    }
}

/// The test engine's writes are committed to a real ledger under the state
/// root the header carries, and read back from it by the next block.
#[test]
fn another_engines_writes_reach_the_ledger_and_its_state_root() {
    let suite = Suite::IntlR1;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), suite, "test").unwrap();
    let mut builder = ChainBuilder::new(suite, "test");
    builder.block(vec![], vec![]).commit(&ledger).unwrap();

    let exec = with_tally();
    let mut chain = Chain::new();
    chain.exec = with_tally();
    for expected in 1..=2u64 {
        let txs = chain.contexts(&[
            tally("OrgA", "votes", TxType::EvmCall),
            data("OrgA", &put(&format!("k{expected}"), "v")),
        ]);
        let root_before = ledger.state_root();
        let out = execute(&exec, &LedgerView(&ledger), &txs);
        assert!(out.receipts.iter().all(|r| r.status == TxStatus::Success));
        assert_eq!(String::from_utf8_lossy(&out.receipts[0].output), format!("{{\"count\":{expected}}}"));
        let block = builder.block(txs.iter().map(|(t, _)| t.clone()).collect(), out.writes.clone());
        // The root covers both engines' writes; leaving either out changes it.
        assert_eq!(block.block.header.state_root, next_state_root(suite, &root_before, &out.writes));
        let native_only = [Vec::new(), out.writes[1].clone()];
        assert_ne!(block.block.header.state_root, next_state_root(suite, &root_before, &native_only));
        block.commit(&ledger).unwrap();
        assert_eq!(ledger.get("tally", b"votes").unwrap(), Some(expected.to_be_bytes().to_vec()));
        assert_eq!(ledger.history("tally", b"votes", 10).unwrap().len() as u64, expected);
    }
    // The same blocks over the in-memory state give the same writes.
    let mut mem = MemState::new();
    let mut again = Chain::new();
    let txs = again.contexts(&[tally("OrgA", "votes", TxType::EvmCall)]);
    let out = execute(&exec, &mem, &txs);
    mem.apply_block(txs.iter().map(|(_, c)| c), &out.writes);
    assert_eq!(mem.get("tally", b"votes").unwrap(), Some(1u64.to_be_bytes().to_vec()));
}
