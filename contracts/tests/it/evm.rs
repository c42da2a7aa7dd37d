//! A chain's EVM in process: deploy compiled contracts and call them with
//! ABI-encoded arguments, decoding results, events and reverts.

use alloy_dyn_abi::{DecodedEvent, DynSolValue, EventExt, FunctionExt, JsonAbiExt};
use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address as EvmAddress, B256, LogData};
use govchain_contracts::CompiledContract;
use govchain_crypto::Address;
use govchain_execution::{
    EngineKind, EvmCall, EvmConfig, EvmCreate, EvmLog, ExecutionSpec, Executor, MemState, TxContext,
};
use govchain_types::{Encode, Hash, Receipt, Transaction, TxBody, TxStatus, TxType};

const GAS: u64 = 5_000_000;

/// Block time of block 1, in seconds; each block adds one.
pub const T0: u64 = 1_700_000_000;

pub struct Evm {
    state: MemState,
    exec: Executor,
    height: u64,
    nonce: u64,
}

/// A deployed contract and its ABI.
pub struct Deployed {
    pub address: Address,
    pub abi: JsonAbi,
}

/// What a successful transaction gave: the decoded return values and the
/// decoded events (name, values) in order.
#[derive(Debug)]
pub struct Outcome {
    pub values: Vec<DynSolValue>,
    pub events: Vec<(String, DecodedEvent)>,
}

/// A distinct account per name.
pub fn account(name: &str) -> Address {
    let mut a = [0u8; 20];
    for (i, b) in name.bytes().enumerate().take(20) {
        a[i] = b;
    }
    Address(a)
}

pub fn evm_address(name: &str) -> DynSolValue {
    DynSolValue::Address(EvmAddress::from(account(name).0))
}

impl Evm {
    pub fn new() -> Self {
        let spec = ExecutionSpec {
            engines: vec![EngineKind::Native, EngineKind::Evm],
            evm: Some(EvmConfig::default()),
        };
        Evm { state: MemState::new(), exec: Executor::from_spec(&spec).unwrap(), height: 0, nonce: 0 }
    }

    fn context(&self, from: &str, height: u64, tx_id: Hash) -> TxContext {
        TxContext {
            tx_id,
            sender: account(from),
            org: from.to_owned(),
            height,
            timestamp_ms: (T0 + height - 1) * 1000,
        }
    }

    /// Runs one transaction in a block of its own.
    fn block(&mut self, from: &str, tx_type: TxType, to: String, data: Vec<u8>) -> Receipt {
        self.nonce += 1;
        self.height += 1;
        let mut id = [0u8; 32];
        id[24..].copy_from_slice(&self.nonce.to_be_bytes());
        let ctx = self.context(from, self.height, Hash(id));
        let tx = Transaction {
            body: TxBody {
                chain_id: "test".into(),
                tx_type,
                timestamp_ms: 0,
                nonce: self.nonce,
                sender: account(from),
                recipient: to,
                data,
                memo: String::new(),
                signers: Vec::new(),
            },
            signatures: Vec::new(),
        };
        let mut outcome = self.exec.execute_block(&self.state, &[(&tx, ctx.clone())]).unwrap();
        self.state.apply_block([&ctx], &outcome.writes);
        outcome.receipts.remove(0)
    }

    /// Deploys a compiled contract with constructor arguments.
    pub fn deploy(&mut self, from: &str, contract: &CompiledContract, args: &[DynSolValue]) -> Deployed {
        let abi: JsonAbi = serde_json::from_value(contract.abi.clone()).unwrap();
        let mut code = contract.bytecode_bytes().unwrap();
        if let Some(ctor) = abi.constructor() {
            code.extend(ctor.abi_encode_input(args).unwrap());
        }
        let r =
            self.block(from, TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: GAS }.encode());
        assert_eq!(r.status, TxStatus::Success, "deploy {}: {}", contract.name, r.message);
        Deployed { address: Address(r.output.as_slice().try_into().unwrap()), abi }
    }

    fn input(c: &Deployed, function: &str, args: &[DynSolValue]) -> Vec<u8> {
        let f = &c.abi.function(function).unwrap_or_else(|| panic!("no function {function}"))[0];
        f.abi_encode_input(args).unwrap()
    }

    /// Sends a transaction calling `function`; `Err` carries the failed
    /// receipt's message.
    pub fn send(
        &mut self,
        from: &str,
        c: &Deployed,
        function: &str,
        args: &[DynSolValue],
    ) -> Result<Outcome, String> {
        let input = Self::input(c, function, args);
        let r = self.block(
            from,
            TxType::EvmCall,
            c.address.to_string(),
            EvmCall { input, gas_limit: GAS }.encode(),
        );
        if r.status != TxStatus::Success {
            return Err(r.message);
        }
        let f = &c.abi.function(function).unwrap()[0];
        let values = f.abi_decode_output(&r.output).unwrap();
        let events = r
            .events
            .iter()
            .filter_map(EvmLog::from_event)
            .map(|log| {
                assert_eq!(log.address, c.address.0);
                let topics: Vec<B256> = log.topics.iter().map(|t| B256::from(*t)).collect();
                let event = c
                    .abi
                    .events()
                    .find(|e| Some(&e.selector()) == topics.first())
                    .unwrap_or_else(|| panic!("an event of the ABI: {topics:?}"));
                let data = LogData::new(topics, log.data.into()).unwrap();
                (event.name.clone(), event.decode_log(&data).unwrap())
            })
            .collect();
        Ok(Outcome { values, events })
    }

    /// Calls `function` without a transaction (a read).
    pub fn call(
        &self,
        from: &str,
        c: &Deployed,
        function: &str,
        args: &[DynSolValue],
    ) -> Result<Vec<DynSolValue>, String> {
        let input = Self::input(c, function, args);
        let ctx = self.context(from, self.height.max(1), Hash::ZERO);
        let payload = EvmCall { input, gas_limit: GAS }.encode();
        let out = self
            .exec
            .query_engine(TxType::EvmCall, &self.state, ctx, &c.address.to_string(), &payload)
            .map_err(|e| e.to_string())?;
        Ok(c.abi.function(function).unwrap()[0].abi_decode_output(&out).unwrap())
    }

    /// The height of the last block.
    pub fn height(&self) -> u64 {
        self.height
    }
}

/// The 4-byte selector of a custom error, as hex, to find it in a revert
/// message.
pub fn error_selector(abi: &JsonAbi, name: &str) -> String {
    hex::encode(abi.errors.get(name).unwrap_or_else(|| panic!("no error {name}"))[0].selector())
}
