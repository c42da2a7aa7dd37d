//! The EVM engine: Solidity contracts deployed and called through the
//! executor, state in the `evm` key space, receipts with logs, reverts,
//! gas limits per transaction and per block, CREATE from a contract,
//! determinism, and malformed input.

use std::ops::Bound;

use govchain_crypto::{Address, Suite, keccak256};
use govchain_execution::{
    BlockOutcome, EngineKind, Error, EvmCall, EvmConfig, EvmCreate, EvmLog, ExecutionSpec, Executor,
    MemState, StateView, TxContext,
    evm::{self, MAX_INITCODE_SIZE, contract_address, read_account, read_code, read_storage, testdata::*},
};
use govchain_ledger::{Ledger, test_utils::ChainBuilder};
use govchain_types::{Encode, Hash, HistoryEntry, Receipt, Transaction, TxStatus, TxType, next_state_root};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::common::*;

const GAS: u64 = 1_000_000;

fn spec(config: EvmConfig) -> ExecutionSpec {
    ExecutionSpec { engines: vec![EngineKind::Native, EngineKind::Evm], evm: Some(config) }
}

fn evm_chain() -> Chain {
    evm_chain_with(EvmConfig::default())
}

fn evm_chain_with(config: EvmConfig) -> Chain {
    let mut chain = Chain::new();
    chain.exec = Executor::from_spec(&spec(config)).unwrap();
    chain
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn uint(n: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

fn addr_word(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn selector(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// ABI call data: the selector of `signature`, then the argument words.
fn abi(signature: &str, args: &[[u8; 32]]) -> Vec<u8> {
    let mut out = selector(signature).to_vec();
    for a in args {
        out.extend_from_slice(a);
    }
    out
}

fn word_u64(out: &[u8], index: usize) -> u64 {
    let w = &out[index * 32..index * 32 + 32];
    assert!(w[..24].iter().all(|&b| b == 0), "word {index} does not fit u64");
    u64::from_be_bytes(w[24..].try_into().unwrap())
}

fn word_addr(out: &[u8], index: usize) -> Address {
    let w = &out[index * 32..index * 32 + 32];
    assert!(w[..12].iter().all(|&b| b == 0));
    Address(w[12..].try_into().unwrap())
}

fn create(org: &str, code: Vec<u8>, gas_limit: u64) -> Call {
    Call {
        org: org.into(),
        contract: String::new(),
        data: EvmCreate { code, gas_limit }.encode(),
        tx_type: TxType::EvmCreate,
    }
}

fn deploy_counter(org: &str, start: u64) -> Call {
    let mut code = unhex(COUNTER);
    code.extend_from_slice(&uint(start));
    create(org, code, GAS)
}

fn call(org: &str, to: &Address, input: Vec<u8>, gas_limit: u64) -> Call {
    Call {
        org: org.into(),
        contract: to.to_string(),
        data: EvmCall { input, gas_limit }.encode(),
        tx_type: TxType::EvmCall,
    }
}

fn created(r: &Receipt) -> Address {
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    Address(r.output.as_slice().try_into().expect("a 20-byte address"))
}

fn success(r: &Receipt) -> &[u8] {
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    &r.output
}

/// The `gas_used` the engine reports in a successful receipt.
fn gas_used(r: &Receipt) -> u64 {
    let last = r.events.last().expect("a gas_used event");
    assert_eq!((last.contract.as_str(), last.name.as_str()), ("evm", "gas_used"));
    let v: serde_json::Value = serde_json::from_slice(&last.data).unwrap();
    v["gas_used"].as_u64().unwrap()
}

fn query(chain: &Chain, org: &str, to: &Address, input: Vec<u8>) -> govchain_execution::Result<Vec<u8>> {
    let ctx = TxContext {
        tx_id: Hash::ZERO,
        sender: sender(org),
        org: org.into(),
        height: chain.height,
        timestamp_ms: 1_700_000_000_000 + chain.height * 1000,
    };
    let payload = EvmCall { input, gas_limit: GAS }.encode();
    chain.exec.query_engine(TxType::EvmCall, &chain.state, ctx, &to.to_string(), &payload)
}

fn count(chain: &Chain, counter: &Address) -> u64 {
    word_u64(&query(chain, "OrgA", counter, abi("count()", &[])).unwrap(), 0)
}

/// Every key of the `evm` key space, with its value.
fn evm_state(state: &MemState) -> Vec<(Vec<u8>, Vec<u8>)> {
    state.scan("evm", Bound::Unbounded, Bound::Unbounded, usize::MAX).unwrap()
}

#[test]
fn a_contract_is_deployed_called_and_read_back() {
    let mut chain = evm_chain();
    let deployer = sender("OrgA");
    let out = chain.block(&[deploy_counter("OrgA", 5)]);
    let counter = created(&out.receipts[0]);
    assert_eq!(counter, contract_address(&deployer, 0));
    // Contract state, and the registry's record of the deployment.
    assert!(out.writes[0].iter().all(|w| w.contract == "evm" || w.contract == "contracts"));
    // The code is stored under its hash, and it is the runtime part of
    // the creation code.
    let code = read_code(&chain.state, &counter.0).unwrap();
    assert!(!code.is_empty());
    let creation = unhex(COUNTER);
    assert!(creation.windows(code.len()).any(|w| w == code.as_slice()));
    let account = read_account(&chain.state, &counter.0).unwrap().unwrap();
    assert_eq!(account.nonce, 1);
    assert_eq!(account.code_hash, keccak256(&code));
    // The deployer's EVM nonce counts its deployment.
    assert_eq!(read_account(&chain.state, &deployer.0).unwrap().unwrap().nonce, 1);
    assert_eq!(read_storage(&chain.state, &counter.0, &uint(0)).unwrap(), uint(5));
    assert_eq!(count(&chain, &counter), 5);
    assert_eq!(word_addr(&query(&chain, "OrgB", &counter, abi("owner()", &[])).unwrap(), 0), deployer);

    let out = chain.block(&[
        call("OrgB", &counter, abi("increment(uint256)", &[uint(3)]), GAS),
        call("OrgB", &counter, abi("increment(uint256)", &[uint(4)]), GAS),
    ]);
    // The second call of the block sees the first one's write.
    assert_eq!(word_u64(success(&out.receipts[0]), 0), 8);
    assert_eq!(word_u64(success(&out.receipts[1]), 0), 12);
    let r = &out.receipts[1];
    assert_eq!(r.events.len(), 2, "one log and the gas event");
    let log = EvmLog::from_event(&r.events[0]).expect("an EVM log");
    assert_eq!(r.events[0].name, "log2");
    assert_eq!(r.events[0].contract, counter.to_string());
    assert_eq!(log.address, counter.0);
    assert_eq!(
        log.topics,
        vec![keccak256(b"Incremented(address,uint256,uint256)"), addr_word(&sender("OrgB"))]
    );
    assert_eq!(log.data, [uint(4), uint(12)].concat());
    let gas = gas_used(r);
    assert!(gas > 21_000 && gas < GAS, "{gas}");

    assert_eq!(count(&chain, &counter), 12);
    let by =
        query(&chain, "OrgA", &counter, abi("byCaller(address)", &[addr_word(&sender("OrgB"))])).unwrap();
    assert_eq!(word_u64(&by, 0), 7);
    // A query runs a writing function but keeps nothing.
    let before = evm_state(&chain.state);
    let answer = query(&chain, "OrgA", &counter, abi("increment(uint256)", &[uint(1)])).unwrap();
    assert_eq!(word_u64(&answer, 0), 13);
    assert_eq!(count(&chain, &counter), 12);
    assert_eq!(evm_state(&chain.state), before);
    // A reverting query is an error with the reason.
    let err = query(&chain, "OrgA", &counter, abi("fail()", &[])).unwrap_err();
    assert!(matches!(&err, Error::Reverted { reason, .. } if reason == "always fails"), "{err}");
}

#[test]
fn zeroed_slots_destroyed_and_empty_accounts_leave_no_keys() {
    let mut chain = evm_chain();
    let out =
        chain.block(&[create("OrgA", unhex(STORE), GAS), create("OrgA", unhex(SELFDESTRUCT_ON_CREATE), GAS)]);
    let store = created(&out.receipts[0]);
    assert_eq!(read_code(&chain.state, &store.0).unwrap(), unhex("60003560005500"));
    // Destroyed in the transaction that created it: nothing of it is kept,
    // but the deployer's nonce counts the deployment.
    let gone = created(&out.receipts[1]);
    assert_eq!(gone, contract_address(&sender("OrgA"), 1));
    assert!(read_account(&chain.state, &gone.0).unwrap().is_none());
    assert_eq!(out.writes[1].len(), 1, "only the deployer's account: {:?}", out.writes[1]);
    assert_eq!(read_account(&chain.state, &sender("OrgA").0).unwrap().unwrap().nonce, 2);

    let slot = evm::store::slot_key(&store.0, &uint(0));
    chain.block(&[call("OrgB", &store, uint(9).to_vec(), GAS)]);
    assert_eq!(chain.state.get("evm", &slot).unwrap(), Some(uint(9).to_vec()));
    let out = chain.block(&[call("OrgB", &store, uint(0).to_vec(), GAS)]);
    assert!(out.writes[0].iter().any(|w| w.key == slot && w.value.is_none()), "{:?}", out.writes[0]);
    assert_eq!(chain.state.get("evm", &slot).unwrap(), None);
    assert_eq!(chain.state.history("evm", &slot, 10).unwrap().len(), 2);

    // A call to an address with no code succeeds and stores no account for it.
    let nobody = Address([0x42; 20]);
    let out = chain.block(&[call("OrgC", &nobody, vec![1, 2, 3], GAS)]);
    assert!(success(&out.receipts[0]).is_empty());
    assert!(read_account(&chain.state, &nobody.0).unwrap().is_none());
    assert!(out.writes[0].iter().all(|w| w.key == evm::store::account_key(&sender("OrgC").0)));
}

#[test]
fn the_block_environment_comes_from_the_context_and_the_genesis() {
    let config = EvmConfig { chain_id: 4242, ..EvmConfig::default() };
    let mut chain = evm_chain_with(config);
    let counter = created(&chain.block(&[deploy_counter("OrgA", 0)]).receipts[0]);
    chain.block(&[]);
    let out = chain.block(&[call("OrgC", &counter, abi("env()", &[]), GAS)]);
    let env = success(&out.receipts[0]);
    assert_eq!(word_u64(env, 0), 4242);
    assert_eq!(word_u64(env, 1), 3);
    assert_eq!(word_u64(env, 2), 1_700_000_000 + 3);
    assert_eq!(word_addr(env, 3), sender("OrgC"));
}

#[test]
fn a_revert_fails_the_transaction_with_its_reason_and_no_writes() {
    let mut chain = evm_chain();
    let counter = created(&chain.block(&[deploy_counter("OrgA", 1)]).receipts[0]);
    let before = evm_state(&chain.state);
    let out = chain.block(&[
        call("OrgB", &counter, abi("increment(uint256)", &[uint(0)]), GAS),
        call("OrgB", &counter, abi("fail()", &[]), GAS),
        call("OrgB", &counter, abi("overflow()", &[]), GAS),
        call("OrgB", &counter, abi("noSuchFunction()", &[]), GAS),
    ]);
    let messages: Vec<String> = out.receipts.iter().map(failed).collect();
    assert!(
        messages[0].starts_with("execution reverted: amount must be positive (gas used "),
        "{}",
        messages[0]
    );
    assert!(messages[1].starts_with("execution reverted: always fails (gas used "), "{}", messages[1]);
    assert!(messages[2].contains("panic 0x11 (arithmetic overflow or underflow)"), "{}", messages[2]);
    assert!(messages[3].starts_with("execution reverted: no reason given"), "{}", messages[3]);
    assert!(out.writes.iter().all(Vec::is_empty));
    // Not even the sender's nonce moved.
    assert_eq!(evm_state(&chain.state), before);
    assert!(read_account(&chain.state, &sender("OrgB").0).unwrap().is_none());
    assert_eq!(count(&chain, &counter), 1);
}

#[test]
fn an_endless_loop_is_stopped_by_its_gas_and_the_block_goes_on() {
    let mut chain = evm_chain();
    let out = chain.block(&[deploy_counter("OrgA", 0), create("OrgA", unhex(LOOP), GAS)]);
    let counter = created(&out.receipts[0]);
    let looper = created(&out.receipts[1]);
    assert_eq!(read_code(&chain.state, &looper.0).unwrap(), unhex("5b600056"));
    let out = chain.block(&[
        call("OrgB", &looper, Vec::new(), 200_000),
        call("OrgB", &counter, abi("spin()", &[]), 300_000),
        call("OrgB", &counter, abi("increment(uint256)", &[uint(2)]), GAS),
    ]);
    assert_eq!(failed(&out.receipts[0]), "execution halted: out of gas (gas used 200000)");
    assert_eq!(failed(&out.receipts[1]), "execution halted: out of gas (gas used 300000)");
    assert!(out.writes[0].is_empty() && out.writes[1].is_empty());
    assert_eq!(word_u64(success(&out.receipts[2]), 0), 2);
}

#[test]
fn gas_limits_per_transaction_and_per_block_fail_transactions_instead_of_stalling() {
    let config = EvmConfig { tx_gas_limit_max: 500_000, block_gas_limit: 1_000_000, ..EvmConfig::default() };
    let mut chain = evm_chain_with(config);
    let mut deploy = deploy_counter("OrgA", 0);
    deploy.data =
        EvmCreate { code: [unhex(COUNTER), uint(0).to_vec()].concat(), gas_limit: 500_000 }.encode();
    let counter = created(&chain.block(&[deploy]).receipts[0]);

    let too_much = chain.block(&[call("OrgB", &counter, abi("increment(uint256)", &[uint(1)]), 500_001)]);
    assert_eq!(
        failed(&too_much.receipts[0]),
        "invalid argument: gas_limit 500001 exceeds the chain's per-transaction maximum of 500000"
    );

    let out = chain.block(&[
        call("OrgB", &counter, abi("spin()", &[]), 500_000),
        call("OrgB", &counter, abi("increment(uint256)", &[uint(1)]), 100_000),
        call("OrgB", &counter, abi("spin()", &[]), 490_000),
        call("OrgB", &counter, abi("increment(uint256)", &[uint(1)]), 100_000),
    ]);
    assert!(failed(&out.receipts[0]).contains("out of gas"));
    let used = gas_used(&out.receipts[1]);
    assert_eq!(word_u64(success(&out.receipts[1]), 0), 1);
    // The spin and the increment used 500,000 + `used` of the million;
    // 490,000 more does not fit.
    assert_eq!(
        failed(&out.receipts[2]),
        format!(
            "block gas limit reached: the transaction asks for 490000 gas, the block has {} of 1000000 left",
            500_000 - used
        )
    );
    // A smaller transaction still fits behind it.
    assert_eq!(word_u64(success(&out.receipts[3]), 0), 2);
    assert!(out.writes[2].is_empty());

    // The next block starts with its full gas again.
    let next = chain.block(&[call("OrgB", &counter, abi("increment(uint256)", &[uint(1)]), 500_000)]);
    assert_eq!(word_u64(success(&next.receipts[0]), 0), 3);
}

#[test]
fn a_contract_creates_a_contract() {
    let mut chain = evm_chain();
    let factory = created(&chain.block(&[create("OrgA", unhex(FACTORY), GAS)]).receipts[0]);
    let out = chain.block(&[
        call("OrgB", &factory, abi("create(uint256)", &[uint(7)]), GAS),
        call("OrgB", &factory, abi("create(uint256)", &[uint(9)]), GAS),
    ]);
    let first = word_addr(success(&out.receipts[0]), 0);
    let second = word_addr(success(&out.receipts[1]), 0);
    // A contract's nonce starts at 1 and counts its creations.
    assert_eq!(first, contract_address(&factory, 1));
    assert_eq!(second, contract_address(&factory, 2));
    assert_eq!(read_account(&chain.state, &factory.0).unwrap().unwrap().nonce, 3);
    let log = EvmLog::from_event(&out.receipts[0].events[0]).unwrap();
    assert_eq!(log.address, factory.0);
    assert_eq!(log.topics, vec![keccak256(b"Created(address)")]);
    assert_eq!(log.data, addr_word(&first));
    assert_eq!(count(&chain, &first), 7);
    assert_eq!(count(&chain, &second), 9);
    assert_eq!(word_addr(&query(&chain, "OrgA", &first, abi("owner()", &[])).unwrap(), 0), factory);
    // The children share one stored copy of their code.
    assert_eq!(read_code(&chain.state, &first.0).unwrap(), read_code(&chain.state, &second.0).unwrap());
    let code_keys = evm_state(&chain.state).iter().filter(|(k, _)| k[0] == b'c').count();
    assert_eq!(code_keys, 2, "the factory's code and the counters' code");
}

fn mixed_block(counter: &Address) -> Vec<Call> {
    vec![
        deploy_counter("OrgA", 1),
        call("OrgB", counter, abi("increment(uint256)", &[uint(5)]), GAS),
        call("OrgC", counter, abi("fail()", &[]), GAS),
        call("OrgC", counter, abi("spin()", &[]), 100_000),
        call("OrgC", counter, abi("increment(uint256)", &[uint(6)]), GAS),
        create("OrgB", unhex(FACTORY), GAS),
        data("OrgA", &put("k", "v")),
    ]
}

#[test]
fn executing_evm_blocks_twice_on_fresh_states_gives_identical_writes_and_roots() {
    let suite = Suite::IntlK1;
    let mut roots = Vec::new();
    let mut outcomes: Vec<Vec<BlockOutcome>> = Vec::new();
    for node in 0..2 {
        let mut chain = evm_chain();
        let counter = created(&chain.block(&[deploy_counter("OrgA", 0)]).receipts[0]);
        let mut root = Hash::ZERO;
        let mut mine = Vec::new();
        for _ in 0..3 {
            let calls = mixed_block(&counter);
            let txs = chain.contexts(&calls);
            let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
            let out = chain.exec.execute_block(&chain.state, &refs).unwrap();
            // Run again on the same state by a separately built executor.
            let again = Executor::from_spec(&spec(EvmConfig::default())).unwrap();
            assert_eq!(again.execute_block(&chain.state.clone(), &refs).unwrap(), out, "node {node}");
            root = next_state_root(suite, &root, &out.writes);
            chain.height += 1;
            chain.state.apply_block(txs.iter().map(|(_, c)| c), &out.writes);
            mine.push(out);
        }
        roots.push(root);
        outcomes.push(mine);
    }
    assert_eq!(roots[0], roots[1]);
    let enc = |o: &BlockOutcome| {
        (
            o.receipts.iter().map(Encode::encode).collect::<Vec<_>>(),
            o.writes.iter().flatten().map(Encode::encode).collect::<Vec<_>>(),
        )
    };
    for (a, b) in outcomes[0].iter().zip(&outcomes[1]) {
        assert_eq!(enc(a), enc(b));
    }
    // Both paths ran: successes with EVM writes, and failures.
    let first = &outcomes[0][0];
    assert!(first.receipts.iter().any(|r| r.status == TxStatus::Failed));
    assert!(first.writes[1].iter().any(|w| w.contract == "evm" && w.key[0] == b's'));
}

#[test]
fn malformed_payloads_and_oversized_code_fail_without_writes() {
    let mut chain = evm_chain();
    let counter = created(&chain.block(&[deploy_counter("OrgA", 0)]).receipts[0]);
    let mut with_recipient = create("OrgA", unhex(COUNTER), GAS);
    with_recipient.contract = counter.to_string();
    let garbage = |tx_type, recipient: &str| Call {
        org: "OrgA".into(),
        contract: recipient.into(),
        data: vec![0xff, 0x00, 0x01],
        tx_type,
    };
    let mut trailing = call("OrgA", &counter, abi("count()", &[]), GAS);
    trailing.data.push(0);
    let mut short = call("OrgA", &counter, abi("count()", &[]), GAS);
    short.contract = "0x1234".into();
    let mut not_hex = call("OrgA", &counter, abi("count()", &[]), GAS);
    not_hex.contract = format!("0x{}", "zz".repeat(20));
    let mut no_prefix = call("OrgA", &counter, abi("count()", &[]), GAS);
    no_prefix.contract = hex::encode(counter.0);
    let out = chain.block(&[
        garbage(TxType::EvmCreate, ""),
        garbage(TxType::EvmCall, &counter.to_string()),
        trailing,
        short,
        not_hex,
        no_prefix,
        with_recipient,
        create("OrgA", Vec::new(), GAS),
        create("OrgA", vec![0; MAX_INITCODE_SIZE + 1], GAS),
        create("OrgA", unhex(TOO_BIG), GAS),
        create("OrgA", unhex(STARTS_WITH_EF), GAS),
        create("OrgA", unhex("fe"), GAS),
        call("OrgA", &counter, abi("count()", &[]), 20_000),
    ]);
    let m: Vec<String> = out.receipts.iter().map(failed).collect();
    assert!(m[0].starts_with("invalid payload for contract `evm`: evm_create payload"), "{}", m[0]);
    assert!(m[1].starts_with("invalid payload for contract `evm`: evm_call payload"), "{}", m[1]);
    assert!(m[2].starts_with("invalid payload for contract `evm`: evm_call payload"), "{}", m[2]);
    for message in &m[3..6] {
        assert!(message.contains("is not a contract address (0x followed by 40 hex digits)"), "{message}");
    }
    assert!(m[6].contains("the recipient of an evm_create transaction must be empty"), "{}", m[6]);
    assert!(m[7].contains("code is empty"), "{}", m[7]);
    assert!(
        m[8].contains("init code of 49153 bytes exceeds the limit of 49152 bytes (EIP-3860)"),
        "{}",
        m[8]
    );
    assert!(
        m[9].starts_with("execution halted: deployed code exceeds the limit of 24576 bytes (EIP-170)"),
        "{}",
        m[9]
    );
    assert!(m[10].starts_with("execution halted: create contract starting with 0xEF"), "{}", m[10]);
    assert!(m[11].starts_with("execution halted: invalid 0xFE opcode"), "{}", m[11]);
    assert!(m[12].starts_with("invalid argument: transaction refused by the EVM"), "{}", m[12]);
    assert!(out.writes.iter().all(Vec::is_empty));

    // The JSON forms refuse bad hex and unknown fields with a clear error.
    let bad = serde_json::from_str::<EvmCreate>(r#"{"code": "0x60zz", "gas_limit": 1}"#).unwrap_err();
    assert!(bad.to_string().contains("invalid hex"), "{bad}");
    let unknown =
        serde_json::from_str::<EvmCall>(r#"{"input": "0x", "gas_limit": 1, "value": 5}"#).unwrap_err();
    assert!(unknown.to_string().contains("unknown field `value`"), "{unknown}");
    let json: EvmCall = serde_json::from_str(r#"{"input": "06661ABD", "gas_limit": 50000}"#).unwrap();
    assert_eq!(json, EvmCall { input: abi("count()", &[]), gas_limit: 50_000 });
    assert_eq!(serde_json::to_string(&json).unwrap(), r#"{"input":"0x06661abd","gas_limit":50000}"#);
}

#[test]
fn random_payloads_never_panic_and_leave_state_alone_when_refused() {
    let mut chain = evm_chain();
    let counter = created(&chain.block(&[deploy_counter("OrgA", 0)]).receipts[0]);
    let mut rng = StdRng::seed_from_u64(12);
    for _ in 0..10 {
        let calls: Vec<Call> = (0..20)
            .map(|_| {
                let len = rng.gen_range(0..80);
                let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                match rng.gen_range(0..4) {
                    0 => Call {
                        org: "OrgB".into(),
                        contract: String::new(),
                        data: bytes,
                        tx_type: TxType::EvmCreate,
                    },
                    1 => Call {
                        org: "OrgB".into(),
                        contract: counter.to_string(),
                        data: bytes,
                        tx_type: TxType::EvmCall,
                    },
                    // Random init code and random call data, well formed.
                    2 => create("OrgB", bytes, 100_000),
                    _ => call("OrgB", &counter, bytes, 100_000),
                }
            })
            .collect();
        let out = chain.block(&calls);
        for (r, w) in out.receipts.iter().zip(&out.writes) {
            if r.status == TxStatus::Failed {
                assert!(w.is_empty());
                assert!(!r.message.is_empty());
            }
        }
    }
    assert_eq!(count(&chain, &counter), 0);
}

#[test]
fn the_genesis_names_the_evm_engine() {
    let spec: ExecutionSpec = serde_json::from_str(
        r#"{"engines": ["native", "evm"], "evm": {"chain_id": 77, "block_gas_limit": 50000000}}"#,
    )
    .unwrap();
    assert!(!spec.is_default());
    let exec = Executor::from_spec(&spec).unwrap();
    assert_eq!(exec.engine_names().collect::<Vec<_>>(), ["native", "evm"]);
    assert_eq!(exec.engine_for(TxType::EvmCreate).map(|e| e.name()), Some("evm"));
    assert_eq!(exec.engine_for(TxType::EvmCall).map(|e| e.name()), Some("evm"));
    let config = spec.evm.clone().unwrap();
    assert_eq!((config.chain_id, config.block_gas_limit), (77, 50_000_000));
    assert_eq!(config.tx_gas_limit_max, EvmConfig::default().tx_gas_limit_max);
    let back: ExecutionSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
    // Without its own section the engine takes the defaults.
    let plain: ExecutionSpec = serde_json::from_str(r#"{"engines": ["evm"]}"#).unwrap();
    assert_eq!(Executor::from_spec(&plain).unwrap().engine_names().collect::<Vec<_>>(), ["evm"]);
    assert!(!serde_json::to_string(&plain).unwrap().contains("\"evm\":{"));
    // A configuration for an engine the chain does not run, or a bad one, is refused.
    let stray: ExecutionSpec = serde_json::from_str(r#"{"engines": ["native"], "evm": {}}"#).unwrap();
    assert!(Executor::from_spec(&stray).unwrap_err().to_string().contains("which `engines` does not name"));
    let bad: ExecutionSpec = serde_json::from_str(
        r#"{"engines": ["evm"], "evm": {"tx_gas_limit_max": 10, "block_gas_limit": 5}}"#,
    )
    .unwrap();
    assert!(Executor::from_spec(&bad).is_err());
    assert!(serde_json::from_str::<ExecutionSpec>(r#"{"engines": ["evm"], "evm": {"gas": 1}}"#).is_err());
    // A chain that does not name the engine refuses EVM transactions.
    let mut native = Chain::new();
    let out = native.block(&[deploy_counter("OrgA", 0)]);
    assert_eq!(failed(&out.receipts[0]), "no execution engine of this chain runs `evm_create` transactions");
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

/// Contract state lives in the ledger: committed under the header's state
/// root, read back by the next block, with every version in its history.
#[test]
fn contract_state_reaches_the_ledger_its_state_root_and_history() {
    let suite = Suite::IntlK1;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), suite, "test").unwrap();
    let mut builder = ChainBuilder::new(suite, "test");
    builder.block(vec![], vec![]).commit(&ledger).unwrap();
    let mut chain = evm_chain();
    let mut counter = Address::default();
    for round in 0..3u64 {
        let calls = if round == 0 {
            vec![deploy_counter("OrgA", 10)]
        } else {
            vec![call("OrgB", &counter, abi("increment(uint256)", &[uint(round)]), GAS)]
        };
        let txs = chain.contexts(&calls);
        let refs: Vec<(&Transaction, TxContext)> = txs.iter().map(|(t, c)| (t, c.clone())).collect();
        let root_before = ledger.state_root();
        let out = chain.exec.execute_block(&LedgerView(&ledger), &refs).unwrap();
        chain.height += 1;
        if round == 0 {
            counter = created(&out.receipts[0]);
        } else {
            success(&out.receipts[0]);
        }
        let block = builder.block(txs.iter().map(|(t, _)| t.clone()).collect(), out.writes.clone());
        assert_eq!(block.block.header.state_root, next_state_root(suite, &root_before, &out.writes));
        assert_ne!(block.block.header.state_root, root_before);
        block.commit(&ledger).unwrap();
    }
    let view = LedgerView(&ledger);
    assert_eq!(read_storage(&view, &counter.0, &uint(0)).unwrap(), uint(13));
    let slot = evm::store::slot_key(&counter.0, &uint(0));
    let versions: Vec<[u8; 32]> = ledger
        .history("evm", &slot, 10)
        .unwrap()
        .iter()
        .map(|e| e.value.as_ref().unwrap().0.as_slice().try_into().unwrap())
        .collect();
    assert_eq!(versions, vec![uint(13), uint(11), uint(10)]);
}
