//! The Ethereum JSON-RPC 2.0 endpoint, `POST /v1/eth`, on `intl-k1`
//! chains that run the `evm` engine: enough of `eth_*`, `net_*` and
//! `web3_*` for ethers.js and similar tools to deploy and call contracts
//! unmodified.
//!
//! **Protocol.** One request object, or a batch array of at most
//! [`MAX_BATCH`]; `id` is echoed as given; a request without `id` is a
//! notification and gets no answer. Errors: -32700 unparsable JSON,
//! -32600 not a request, -32601 unknown method, -32602 bad params, -32000
//! refused (by the node, or on a chain without `intl-k1` or the `evm`
//! engine), 3 reverted (`data` = the revert data, as ethers decodes it),
//! -32603 a fault of the node.
//!
//! **Mapping.** Block number = height, block hash = block id (the suite's
//! hash of the header; Keccak-256 on `intl-k1`), transaction hash =
//! transaction id (for Ethereum-signed transactions the Keccak-256 of the
//! raw envelope). Every transaction of a block is listed, the chain's own
//! ones too (shown with a zero signature and their payload's gas limit).
//! Logs are the receipts' EVM log events (`log0`..`log4`); `logIndex`
//! counts them across the block. A receipt's `gasUsed` is the `evm`
//! engine's `gas_used` event (on failure the gas the message reports).
//! Gas is priced at 0: `eth_gasPrice`, `eth_maxPriorityFeePerGas` and every
//! base fee are 0, balances are 0. State is answered for the latest block
//! only (`latest`, `pending`, `safe`, `finalized` and the current number
//! are accepted; consensus commits final blocks). `pending` nonces are the
//! committed ones.
//!
//! Not for: subscriptions, filters, signing on the node (no accounts),
//! historical state.

use std::str::FromStr;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
};
use govchain_crypto::Suite;
use govchain_execution::{
    EvmCall, EvmCreate, EvmEngine, EvmLog,
    evm::{
        ethtx::{self, CallOutcome, CallRequest, EthTxError},
        read_account, read_code, read_storage,
    },
};
use govchain_types::{Block, Decode, Hash, Receipt, Transaction, TxStatus, TxType};
use serde_json::{Value, json};

use crate::{Error, Node, view::LedgerView};

/// Most requests in one batch.
pub const MAX_BATCH: usize = 100;
/// Most blocks one `eth_getLogs` may scan.
pub const MAX_LOG_BLOCKS: u64 = 1000;
/// Most logs one `eth_getLogs` may return.
pub const MAX_LOGS: usize = 10_000;
/// Gas estimates are tried at most this many times when the first guess
/// is not enough (a binary search up to the per-transaction maximum).
const MAX_ESTIMATE_RUNS: u32 = 32;
/// The ommers hash of a block without ommers (Keccak-256 of RLP `[]`).
const EMPTY_OMMERS: &str = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

/// A JSON-RPC error.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }

    fn refused(message: impl Into<String>) -> Self {
        Self::new(-32000, message)
    }

    fn to_json(&self) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            e["data"] = data.clone();
        }
        e
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        match e {
            Error::Duplicate { .. } => RpcError::refused(format!("already known: {e}")),
            Error::Ledger(_) | Error::Internal(_) | Error::Execution(_) => {
                tracing::error!(target: "govchain::node", "eth JSON-RPC: {e}");
                RpcError::new(-32603, "internal error")
            }
            other => RpcError::refused(other.to_string()),
        }
    }
}

impl From<govchain_ledger::Error> for RpcError {
    fn from(e: govchain_ledger::Error) -> Self {
        Error::Ledger(e).into()
    }
}

impl From<govchain_execution::Error> for RpcError {
    fn from(e: govchain_execution::Error) -> Self {
        if e.is_storage() { Error::Execution(e).into() } else { RpcError::refused(e.to_string()) }
    }
}

type RpcResult<T = Value> = std::result::Result<T, RpcError>;

/// `POST /v1/eth`: one request or a batch.
pub(super) async fn handle(State(node): State<Node>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Json(reply(Value::Null, Err(RpcError::new(-32700, format!("parse error: {e}")))))
                .into_response();
        }
    };
    match request {
        Value::Array(batch) => {
            if batch.is_empty() {
                return Json(reply(Value::Null, Err(RpcError::new(-32600, "empty batch")))).into_response();
            }
            if batch.len() > MAX_BATCH {
                let message = format!("a batch of {} requests exceeds the limit of {MAX_BATCH}", batch.len());
                return Json(reply(Value::Null, Err(RpcError::new(-32600, message)))).into_response();
            }
            let mut answers = Vec::with_capacity(batch.len());
            for request in batch {
                if let Some(answer) = one(&node, request).await {
                    answers.push(answer);
                }
            }
            if answers.is_empty() {
                return axum::http::StatusCode::NO_CONTENT.into_response();
            }
            Json(Value::Array(answers)).into_response()
        }
        request => match one(&node, request).await {
            Some(answer) => Json(answer).into_response(),
            None => axum::http::StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn reply(id: Value, result: RpcResult) -> Value {
    match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_json() }),
    }
}

/// Answers one request; `None` for a notification.
async fn one(node: &Node, request: Value) -> Option<Value> {
    let Value::Object(mut request) = request else {
        return Some(reply(Value::Null, Err(RpcError::new(-32600, "a request must be a JSON object"))));
    };
    let id = request.remove("id");
    let answer_id = id.clone().unwrap_or(Value::Null);
    let valid_id = matches!(id, None | Some(Value::Null | Value::Number(_) | Value::String(_)));
    let version_ok = request.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let method = match request.remove("method") {
        Some(Value::String(m)) if version_ok && valid_id => m,
        _ => {
            let message = "a request needs \"jsonrpc\": \"2.0\", a string \"method\" and a number, string or null \"id\"";
            return Some(reply(answer_id, Err(RpcError::new(-32600, message))));
        }
    };
    let params = match request.remove("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(params)) => params,
        Some(_) => {
            return Some(reply(answer_id, Err(RpcError::invalid_params("params must be an array"))));
        }
    };
    let result = call(node, &method, &params).await;
    id.map(|_| reply(answer_id, result))
}

async fn call(node: &Node, method: &str, params: &[Value]) -> RpcResult {
    if method == "web3_clientVersion" {
        return Ok(json!(format!("govchain/{}", env!("CARGO_PKG_VERSION"))));
    }
    let known = KNOWN.contains(&method);
    if !known {
        return Err(RpcError::new(-32601, format!("method `{method}` is not served")));
    }
    let eth = Eth::of(node)?;
    match method {
        "eth_chainId" => Ok(quantity(eth.chain_id)),
        "net_version" => Ok(json!(eth.chain_id.to_string())),
        "net_listening" => Ok(json!(true)),
        "eth_syncing" => Ok(json!(false)),
        "eth_accounts" => Ok(json!([])),
        "eth_blockNumber" => Ok(quantity(eth.tip())),
        "eth_gasPrice" | "eth_maxPriorityFeePerGas" => Ok(quantity(0)),
        "eth_feeHistory" => eth.fee_history(params),
        "eth_getBalance" => {
            address(param(params, 0, "address")?)?;
            eth.latest_only(params.get(1))?;
            Ok(quantity(0))
        }
        "eth_getTransactionCount" => {
            let who = address(param(params, 0, "address")?)?;
            eth.latest_only(params.get(1))?;
            let nonce = read_account(&eth.view(), &who)?.map_or(0, |a| a.nonce);
            Ok(quantity(nonce))
        }
        "eth_getCode" => {
            let who = address(param(params, 0, "address")?)?;
            eth.latest_only(params.get(1))?;
            Ok(data(&read_code(&eth.view(), &who)?))
        }
        "eth_getStorageAt" => {
            let who = address(param(params, 0, "address")?)?;
            let slot = word(param(params, 1, "slot")?)?;
            eth.latest_only(params.get(2))?;
            Ok(data(&read_storage(&eth.view(), &who, &slot)?))
        }
        "eth_sendRawTransaction" => {
            let raw = bytes(param(params, 0, "raw transaction")?, "raw transaction")?;
            let id = node.submit_ethereum(&raw).await?;
            Ok(data(&id.0))
        }
        "eth_call" => {
            let req = eth.call_request(param(params, 0, "transaction")?)?;
            eth.latest_only(params.get(1))?;
            match eth.simulate(&req)? {
                CallOutcome::Success { output, .. } => Ok(data(&output)),
                other => Err(failure(other)),
            }
        }
        "eth_estimateGas" => {
            let req = eth.call_request(param(params, 0, "transaction")?)?;
            eth.latest_only(params.get(1))?;
            eth.estimate_gas(req)
        }
        "eth_getBlockByNumber" => {
            let height = eth.block_number(param(params, 0, "block")?)?;
            let full = flag(params.get(1))?;
            match height.map(|h| eth.node.ledger().block_by_height(h)).transpose()?.flatten() {
                Some(block) => eth.block_json(&block, full),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockByHash" => {
            let id = hash(param(params, 0, "block hash")?)?;
            let full = flag(params.get(1))?;
            match eth.node.ledger().block_by_id(&id)? {
                Some(block) => eth.block_json(&block, full),
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionByHash" => {
            let id = hash(param(params, 0, "transaction hash")?)?;
            match eth.node.ledger().transaction(&id)? {
                Some((tx, receipt)) => {
                    let block_id = eth.block_id(receipt.height)?;
                    Ok(eth.tx_json(&tx, &receipt, &block_id))
                }
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionReceipt" => {
            let id = hash(param(params, 0, "transaction hash")?)?;
            match eth.node.ledger().transaction(&id)? {
                Some((tx, receipt)) => eth.receipt_json(&tx, &receipt),
                None => Ok(Value::Null),
            }
        }
        "eth_getLogs" => eth.logs(param(params, 0, "filter")?),
        _ => Err(RpcError::new(-32601, format!("method `{method}` is not served"))),
    }
}

/// The methods served besides `web3_clientVersion`.
const KNOWN: &[&str] = &[
    "eth_chainId",
    "net_version",
    "net_listening",
    "eth_syncing",
    "eth_accounts",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_sendRawTransaction",
    "eth_call",
    "eth_estimateGas",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getLogs",
];

/// The revert or halt of a read-only run as the error ethers decodes.
fn failure(outcome: CallOutcome) -> RpcError {
    match outcome {
        CallOutcome::Revert { data: revert, reason, .. } => {
            RpcError { code: 3, message: format!("execution reverted: {reason}"), data: Some(data(&revert)) }
        }
        CallOutcome::Halt { reason, .. } => RpcError::refused(format!("execution halted: {reason}")),
        CallOutcome::Success { .. } => RpcError::new(-32603, "internal error"),
    }
}

/// The node, checked to serve Ethereum JSON-RPC.
struct Eth<'a> {
    node: &'a Node,
    engine: EvmEngine,
    chain_id: u64,
}

impl<'a> Eth<'a> {
    fn of(node: &'a Node) -> RpcResult<Self> {
        if node.suite() != Suite::IntlK1 {
            return Err(RpcError::refused(
                EthTxError::WrongSuite(node.suite())
                    .to_string()
                    .replace("Ethereum-signed transactions are accepted", "Ethereum JSON-RPC is served"),
            ));
        }
        let config = node.evm_config().ok_or_else(|| RpcError::refused(EthTxError::NoEvm.to_string()))?;
        Ok(Eth { node, chain_id: config.chain_id, engine: EvmEngine::new(config) })
    }

    fn view(&self) -> LedgerView<'a> {
        LedgerView(self.node.ledger())
    }

    fn tip(&self) -> u64 {
        self.node.ledger().height().unwrap_or(0)
    }

    /// Refuses a block parameter naming other state than the latest.
    fn latest_only(&self, block: Option<&Value>) -> RpcResult<()> {
        let Some(block) = block else { return Ok(()) };
        let tip = self.tip();
        match self.block_number(block)? {
            Some(h) if h == tip => Ok(()),
            Some(h) if h > tip => {
                Err(RpcError::refused(format!("block {h} is not committed yet (latest is {tip})")))
            }
            _ => Err(RpcError::refused(format!(
                "this node answers state for the latest block ({tip}) only, not for block {block}"
            ))),
        }
    }

    /// A block parameter as a height (`None`: no such block).
    fn block_number(&self, block: &Value) -> RpcResult<Option<u64>> {
        let tip = self.tip();
        match block {
            Value::String(tag) => match tag.as_str() {
                "latest" | "pending" | "safe" | "finalized" => Ok(Some(tip)),
                "earliest" => Ok(Some(0)),
                text => Ok(Some(parse_quantity(text)?)),
            },
            Value::Object(o) => {
                if let Some(n) = o.get("blockNumber") {
                    return self.block_number(n);
                }
                if let Some(h) = o.get("blockHash") {
                    return Ok(self.node.ledger().height_of(&hash(h)?)?);
                }
                Err(RpcError::invalid_params("a block object needs blockNumber or blockHash"))
            }
            other => Err(RpcError::invalid_params(format!("`{other}` is not a block number or tag"))),
        }
    }

    fn block_id(&self, height: u64) -> RpcResult<Hash> {
        self.node.ledger().block_id_at(height)?.ok_or_else(|| {
            RpcError::new(-32603, format!("block {height} of a committed transaction is missing"))
        })
    }

    fn call_request(&self, tx: &Value) -> RpcResult<CallRequest> {
        let Value::Object(o) = tx else {
            return Err(RpcError::invalid_params("the transaction must be an object"));
        };
        let opt = |name: &str| o.get(name).filter(|v| !v.is_null());
        if let Some(value) = opt("value")
            && parse_u256(value)? != [0; 32]
        {
            return Err(RpcError::refused(EthTxError::Value.to_string()));
        }
        let max = self.engine.config().tx_gas_limit_max;
        Ok(CallRequest {
            from: opt("from").map(address).transpose()?.unwrap_or([0; 20]),
            to: opt("to").map(address).transpose()?,
            input: opt("input")
                .or_else(|| opt("data"))
                .map(|v| bytes(v, "input"))
                .transpose()?
                .unwrap_or_default(),
            gas_limit: opt("gas").map(value_quantity).transpose()?.unwrap_or(max),
        })
    }

    fn simulate(&self, req: &CallRequest) -> RpcResult<CallOutcome> {
        let tip = self.node.ledger().tip();
        let (height, time) = tip.map_or((0, 0), |t| (t.height, t.timestamp_ms));
        Ok(ethtx::simulate(&self.engine, &self.view(), height, time, req)?)
    }

    /// The least gas found to succeed: first the gas used plus a margin
    /// (refunds and the 63/64 rule can need more than is used), then a
    /// bounded binary search up to the cap.
    fn estimate_gas(&self, mut req: CallRequest) -> RpcResult {
        let cap = req.gas_limit;
        let used = match self.simulate(&req)? {
            CallOutcome::Success { gas_used, .. } => gas_used,
            other => return Err(failure(other)),
        };
        let guess = cap.min(used.saturating_add(used / 4).saturating_add(10_000));
        req.gas_limit = guess;
        if matches!(self.simulate(&req)?, CallOutcome::Success { .. }) {
            return Ok(quantity(guess));
        }
        let (mut lo, mut hi) = (guess, cap);
        for _ in 0..MAX_ESTIMATE_RUNS {
            if hi - lo <= 1 {
                break;
            }
            req.gas_limit = lo + (hi - lo) / 2;
            if matches!(self.simulate(&req)?, CallOutcome::Success { .. }) {
                hi = req.gas_limit;
            } else {
                lo = req.gas_limit;
            }
        }
        Ok(quantity(hi))
    }

    fn fee_history(&self, params: &[Value]) -> RpcResult {
        let count = value_quantity(param(params, 0, "block count")?)?.clamp(1, 1024);
        let newest = self.block_number(param(params, 1, "newest block")?)?.unwrap_or(0).min(self.tip());
        let count = count.min(newest + 1);
        let oldest = newest + 1 - count;
        let percentiles = params.get(2).and_then(Value::as_array).map_or(0, Vec::len);
        let mut result = json!({
            "oldestBlock": quantity(oldest),
            "baseFeePerGas": vec![quantity(0); count as usize + 1],
            "gasUsedRatio": vec![json!(0.0); count as usize],
        });
        if percentiles > 0 {
            result["reward"] = json!(vec![vec![quantity(0); percentiles]; count as usize]);
        }
        Ok(result)
    }

    fn block_json(&self, block: &Block, full: bool) -> RpcResult {
        let h = &block.header;
        let suite = self.node.suite();
        let id = h.id(suite);
        let receipts = self.node.ledger().block_receipts(h.height)?.unwrap_or_default();
        let gas_used: u64 = receipts.iter().map(gas_used).sum();
        let mut bloom = [0u8; 256];
        for log in receipts.iter().flat_map(|r| r.events.iter().filter_map(EvmLog::from_event)) {
            add_to_bloom(&mut bloom, &log);
        }
        let transactions: Vec<Value> = block
            .transactions
            .iter()
            .zip(&receipts)
            .map(|(tx, receipt)| if full { self.tx_json(tx, receipt, &id) } else { data(&receipt.tx_id.0) })
            .collect();
        Ok(json!({
            "number": quantity(h.height),
            "hash": data(&id.0),
            "parentHash": data(&h.prev_hash.0),
            "mixHash": data(&[0; 32]),
            "nonce": "0x0000000000000000",
            "sha3Uncles": EMPTY_OMMERS,
            "logsBloom": data(&bloom),
            "transactionsRoot": data(&h.tx_root.0),
            "stateRoot": data(&h.state_root.0),
            "receiptsRoot": data(&h.receipts_root.0),
            "miner": data(&[0; 20]),
            "difficulty": quantity(0),
            "totalDifficulty": quantity(0),
            "extraData": "0x",
            "size": quantity(govchain_types::Encode::encode(block).len() as u64),
            "gasLimit": quantity(self.engine.config().block_gas_limit),
            "gasUsed": quantity(gas_used),
            "timestamp": quantity(h.timestamp_ms / 1000),
            "baseFeePerGas": quantity(0),
            "transactions": transactions,
            "uncles": [],
        }))
    }

    /// A committed transaction in the shape of `eth_getTransactionByHash`.
    fn tx_json(&self, tx: &Transaction, receipt: &Receipt, block_id: &Hash) -> Value {
        let b = &tx.body;
        let mut out = json!({
            "hash": data(&receipt.tx_id.0),
            "blockHash": data(&block_id.0),
            "blockNumber": quantity(receipt.height),
            "transactionIndex": quantity(u64::from(receipt.index)),
            "from": data(&b.sender.0),
            "value": quantity(0),
            "chainId": quantity(self.chain_id),
        });
        let eth = (b.tx_type == TxType::Ethereum).then(|| ethtx::decode(&b.data).ok()).flatten();
        if let Some(e) = eth {
            let fields = json!({
                "type": quantity(u64::from(e.tx_type)),
                "nonce": quantity(e.nonce),
                "to": e.to.map(|a| data(&a)),
                "gas": quantity(e.gas_limit),
                "gasPrice": quantity_u128(e.gas_price),
                "input": data(&e.input),
                "v": quantity(e.v),
                "r": quantity_bytes(&e.r),
                "s": quantity_bytes(&e.s),
            });
            merge(&mut out, fields);
            if let Some(id) = e.chain_id {
                out["chainId"] = quantity(id);
            }
            if e.tx_type > 0 {
                out["yParity"] = quantity(u64::from(e.y_parity));
                out["accessList"] = e
                    .access_list
                    .iter()
                    .map(|(a, keys)| {
                        json!({ "address": data(a), "storageKeys": keys.iter().map(|k| data(k)).collect::<Vec<_>>() })
                    })
                    .collect();
            }
            if let Some(tip) = e.max_priority_fee_per_gas {
                out["maxPriorityFeePerGas"] = quantity_u128(tip);
                out["maxFeePerGas"] = quantity_u128(e.gas_price);
            }
            return out;
        }
        let (to, input, gas) = native_call(tx);
        merge(
            &mut out,
            json!({
                "type": quantity(0),
                "nonce": quantity(b.nonce),
                "to": to.map(|a| data(&a)),
                "gas": quantity(gas),
                "gasPrice": quantity(0),
                "input": data(&input),
                "v": quantity(0),
                "r": quantity(0),
                "s": quantity(0),
            }),
        );
        out
    }

    fn receipt_json(&self, tx: &Transaction, receipt: &Receipt) -> RpcResult {
        let block_id = self.block_id(receipt.height)?;
        let receipts = self.node.ledger().block_receipts(receipt.height)?.unwrap_or_default();
        let earlier = receipts.iter().take(receipt.index as usize);
        let cumulative: u64 = earlier.clone().map(gas_used).sum::<u64>() + gas_used(receipt);
        let first_log = earlier.map(|r| logs_of(r).count()).sum::<usize>();
        let mut bloom = [0u8; 256];
        let logs: Vec<Value> = logs_of(receipt)
            .enumerate()
            .map(|(i, log)| {
                add_to_bloom(&mut bloom, &log);
                log_json(&log, receipt, &block_id, first_log + i)
            })
            .collect();
        let (to, deploys, ty) = match tx.body.tx_type {
            TxType::Ethereum => match ethtx::decode(&tx.body.data) {
                Ok(e) => (e.to, e.to.is_none(), e.tx_type),
                Err(_) => (None, false, 0),
            },
            TxType::EvmCreate => (None, true, 0),
            _ => (native_call(tx).0, false, 0),
        };
        let success = receipt.status == TxStatus::Success;
        let contract =
            (deploys && success).then(|| <[u8; 20]>::try_from(receipt.output.as_slice()).ok()).flatten();
        Ok(json!({
            "transactionHash": data(&receipt.tx_id.0),
            "transactionIndex": quantity(u64::from(receipt.index)),
            "blockHash": data(&block_id.0),
            "blockNumber": quantity(receipt.height),
            "from": data(&tx.body.sender.0),
            "to": to.map(|a| data(&a)),
            "cumulativeGasUsed": quantity(cumulative),
            "gasUsed": quantity(gas_used(receipt)),
            "effectiveGasPrice": quantity(0),
            "contractAddress": contract.map(|a| data(&a)),
            "logs": logs,
            "logsBloom": data(&bloom),
            "status": quantity(u64::from(success)),
            "type": quantity(u64::from(ty)),
        }))
    }

    fn logs(&self, filter: &Value) -> RpcResult {
        let Value::Object(f) = filter else {
            return Err(RpcError::invalid_params("the filter must be an object"));
        };
        let opt = |name: &str| f.get(name).filter(|v| !v.is_null());
        let tip = self.tip();
        let (from, to) = if let Some(h) = opt("blockHash") {
            match self.node.ledger().height_of(&hash(h)?)? {
                Some(height) => (height, height),
                None => return Err(RpcError::refused(format!("unknown block {h}"))),
            }
        } else {
            let bound = |name: &str| -> RpcResult<u64> {
                Ok(opt(name).map(|v| self.block_number(v)).transpose()?.flatten().unwrap_or(tip))
            };
            (bound("fromBlock")?, bound("toBlock")?)
        };
        if to.saturating_sub(from) >= MAX_LOG_BLOCKS {
            return Err(RpcError::refused(format!(
                "the block range {from}..={to} spans more than {MAX_LOG_BLOCKS} blocks; ask for a smaller range"
            )));
        }
        let to = to.min(tip);
        if from > to {
            return Ok(json!([]));
        }
        let addresses: Vec<[u8; 20]> = match opt("address") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.iter().map(address).collect::<RpcResult<_>>()?,
            Some(one) => vec![address(one)?],
        };
        let topics: Vec<Vec<[u8; 32]>> = match opt("topics") {
            None => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|t| match t {
                    Value::Null => Ok(Vec::new()),
                    Value::Array(any) => any.iter().map(word).collect(),
                    one => Ok(vec![word(one)?]),
                })
                .collect::<RpcResult<_>>()?,
            Some(_) => return Err(RpcError::invalid_params("topics must be an array")),
        };
        let matches = |log: &EvmLog| {
            (addresses.is_empty() || addresses.contains(&log.address))
                && topics
                    .iter()
                    .enumerate()
                    .all(|(i, want)| want.is_empty() || log.topics.get(i).is_some_and(|t| want.contains(t)))
        };
        let mut out = Vec::new();
        for height in from..=to {
            let receipts = self.node.ledger().block_receipts(height)?.unwrap_or_default();
            let block_id = self.block_id(height)?;
            let mut index = 0;
            for receipt in &receipts {
                for log in logs_of(receipt) {
                    if matches(&log) {
                        if out.len() >= MAX_LOGS {
                            return Err(RpcError::refused(format!(
                                "more than {MAX_LOGS} logs match; ask for a smaller range"
                            )));
                        }
                        out.push(log_json(&log, receipt, &block_id, index));
                    }
                    index += 1;
                }
            }
        }
        Ok(Value::Array(out))
    }
}

fn merge(out: &mut Value, fields: Value) {
    if let (Value::Object(o), Value::Object(f)) = (out, fields) {
        o.extend(f);
    }
}

/// The called address, input and gas limit of one of the chain's own
/// transactions, as far as it has them.
fn native_call(tx: &Transaction) -> (Option<[u8; 20]>, Vec<u8>, u64) {
    let b = &tx.body;
    let to = govchain_crypto::Address::from_str(&b.recipient).ok().map(|a| a.0);
    match b.tx_type {
        TxType::EvmCall => match EvmCall::decode(&b.data) {
            Ok(c) => (to, c.input, c.gas_limit),
            Err(_) => (to, Vec::new(), 0),
        },
        TxType::EvmCreate => match EvmCreate::decode(&b.data) {
            Ok(c) => (None, c.code, c.gas_limit),
            Err(_) => (None, Vec::new(), 0),
        },
        _ => (to, b.data.clone(), 0),
    }
}

/// The EVM logs of a receipt, in order.
fn logs_of(receipt: &Receipt) -> impl Iterator<Item = EvmLog> + Clone + '_ {
    receipt.events.iter().filter_map(EvmLog::from_event)
}

fn log_json(log: &EvmLog, receipt: &Receipt, block_id: &Hash, index: usize) -> Value {
    json!({
        "address": data(&log.address),
        "topics": log.topics.iter().map(|t| data(t)).collect::<Vec<_>>(),
        "data": data(&log.data),
        "blockNumber": quantity(receipt.height),
        "blockHash": data(&block_id.0),
        "transactionHash": data(&receipt.tx_id.0),
        "transactionIndex": quantity(u64::from(receipt.index)),
        "logIndex": quantity(index as u64),
        "removed": false,
    })
}

/// Gas a receipt's transaction used: the `evm` engine's `gas_used` event,
/// or for a failed EVM transaction the `(gas used N)` of its message; 0
/// for transactions of other engines.
fn gas_used(receipt: &Receipt) -> u64 {
    if let Some(event) = receipt.events.iter().find(|e| e.contract == "evm" && e.name == "gas_used") {
        return serde_json::from_slice::<Value>(&event.data)
            .ok()
            .and_then(|v| v.get("gas_used").and_then(Value::as_u64))
            .unwrap_or(0);
    }
    receipt
        .message
        .rsplit_once("(gas used ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Adds a log's address and topics to a 2048-bit bloom filter (the
/// Ethereum `logsBloom` rule: 3 bits from each item's Keccak-256).
fn add_to_bloom(bloom: &mut [u8; 256], log: &EvmLog) {
    let mut add = |item: &[u8]| {
        let h = govchain_crypto::keccak256(item);
        for i in [0, 2, 4] {
            let bit = ((usize::from(h[i]) << 8) | usize::from(h[i + 1])) & 2047;
            bloom[255 - bit / 8] |= 1 << (bit % 8);
        }
    };
    add(&log.address);
    for t in &log.topics {
        add(t);
    }
}

fn param<'v>(params: &'v [Value], index: usize, name: &str) -> RpcResult<&'v Value> {
    params.get(index).ok_or_else(|| RpcError::invalid_params(format!("missing parameter {index} ({name})")))
}

fn flag(v: Option<&Value>) -> RpcResult<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(RpcError::invalid_params(format!("`{other}` is not a boolean"))),
    }
}

fn quantity(n: u64) -> Value {
    json!(format!("{n:#x}"))
}

fn quantity_u128(n: u128) -> Value {
    json!(format!("{n:#x}"))
}

/// A big-endian number as a quantity (no leading zeros).
fn quantity_bytes(bytes: &[u8]) -> Value {
    let digits = hex::encode(bytes);
    let trimmed = digits.trim_start_matches('0');
    json!(format!("0x{}", if trimmed.is_empty() { "0" } else { trimmed }))
}

fn data(bytes: &[u8]) -> Value {
    json!(format!("0x{}", hex::encode(bytes)))
}

fn strip_0x(text: &str) -> Option<&str> {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
}

fn parse_quantity(text: &str) -> RpcResult<u64> {
    let digits = strip_0x(text)
        .ok_or_else(|| RpcError::invalid_params(format!("`{text}` is not a 0x-prefixed hex quantity")))?;
    u64::from_str_radix(digits, 16)
        .map_err(|_| RpcError::invalid_params(format!("`{text}` is not a hex quantity below 2^64")))
}

fn value_quantity(v: &Value) -> RpcResult<u64> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => {
            n.as_u64().ok_or_else(|| RpcError::invalid_params(format!("`{n}` is not a quantity")))
        }
        other => Err(RpcError::invalid_params(format!("`{other}` is not a quantity"))),
    }
}

/// A quantity of up to 256 bits, as 32 bytes big-endian.
fn parse_u256(v: &Value) -> RpcResult<[u8; 32]> {
    let text = v.as_str().ok_or_else(|| RpcError::invalid_params(format!("`{v}` is not a hex quantity")))?;
    let digits = strip_0x(text).filter(|d| !d.is_empty() && d.len() <= 64).ok_or_else(|| {
        RpcError::invalid_params(format!("`{text}` is not a hex quantity of up to 256 bits"))
    })?;
    let padded = format!("{digits:0>64}");
    let mut out = [0u8; 32];
    hex::decode_to_slice(&padded, &mut out)
        .map_err(|_| RpcError::invalid_params(format!("`{text}` is not a hex quantity")))?;
    Ok(out)
}

/// A 32-byte word: a storage slot or topic (any hex of up to 64 digits).
fn word(v: &Value) -> RpcResult<[u8; 32]> {
    parse_u256(v)
}

fn bytes(v: &Value, what: &str) -> RpcResult<Vec<u8>> {
    let bad = || RpcError::invalid_params(format!("{what} must be 0x-prefixed hex bytes"));
    let text = v.as_str().ok_or_else(bad)?;
    hex::decode(strip_0x(text).ok_or_else(bad)?).map_err(|_| bad())
}

fn address(v: &Value) -> RpcResult<[u8; 20]> {
    let text = v.as_str().unwrap_or_default();
    govchain_crypto::Address::from_str(text)
        .map(|a| a.0)
        .map_err(|_| RpcError::invalid_params(format!("`{v}` is not an address (0x and 40 hex digits)")))
}

fn hash(v: &Value) -> RpcResult<Hash> {
    let text = v.as_str().unwrap_or_default();
    let digits = strip_0x(text).filter(|d| d.len() == 64);
    digits.and_then(|d| Hash::from_str(d).ok()).ok_or_else(|| {
        RpcError::invalid_params(format!("`{v}` is not a 32-byte hash (0x and 64 hex digits)"))
    })
}
