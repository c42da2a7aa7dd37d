//! ABI decoding of a trace: the function called, its arguments, its
//! return values or revert reason, and the events, from the contract's
//! ABI (the JSON array solc writes).

use alloy_dyn_abi::{DynSolValue, EventExt, FunctionExt, JsonAbiExt};
use alloy_json_abi::{EventParam, JsonAbi, Param};
use revm::primitives::B256;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{EvmTrace, TraceError, hex_of};

/// The outermost call, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedCall {
    /// The function's name, or `constructor` for a deployment.
    pub function: String,
    /// Its signature, e.g. `increment(uint256)`.
    pub signature: String,
    /// The arguments (empty for a deployment, whose arguments are not
    /// separable from the init code without the bytecode's length).
    pub inputs: Vec<DecodedValue>,
    /// The return values, when the call succeeded and they decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<DecodedValue>>,
    /// The revert reason: a custom error of the ABI with its arguments,
    /// or the standard `Error(string)`/`Panic(uint256)` reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<String>,
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedEvent {
    /// The event's name.
    pub name: String,
    /// Its signature, e.g. `Incremented(address,uint256,uint256)`.
    pub signature: String,
    /// Its parameters in declaration order.
    pub params: Vec<DecodedValue>,
}

/// One decoded value. Integers are decimal strings (they may exceed what
/// JSON numbers hold), bytes and addresses `0x` hex, arrays and tuples
/// JSON arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedValue {
    /// The parameter's name (may be empty).
    pub name: String,
    /// Its Solidity type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Its value.
    pub value: Value,
    /// For event parameters: whether it is indexed (a topic).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub indexed: bool,
}

/// A value as JSON.
fn to_json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => json!(i.to_string()),
        DynSolValue::Uint(u, _) => json!(u.to_string()),
        DynSolValue::FixedBytes(word, size) => json!(hex_of(&word[..(*size).min(32)])),
        DynSolValue::Address(a) => json!(hex_of(a.as_slice())),
        DynSolValue::Function(f) => json!(hex_of(f.as_slice())),
        DynSolValue::Bytes(b) => json!(hex_of(b)),
        DynSolValue::String(s) => json!(s),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        #[allow(unreachable_patterns)]
        other => json!(format!("{other:?}")),
    }
}

fn values(params: &[Param], decoded: &[DynSolValue]) -> Vec<DecodedValue> {
    params
        .iter()
        .zip(decoded)
        .map(|(p, v)| DecodedValue {
            name: p.name.clone(),
            ty: p.selector_type().into_owned(),
            value: to_json(v),
            indexed: false,
        })
        .collect()
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).unwrap_or_default()
}

/// A custom error of the ABI that `data` is, with its arguments.
fn custom_error(abi: &JsonAbi, data: &[u8]) -> Option<String> {
    let selector = data.get(..4)?;
    abi.errors().find(|e| e.selector().as_slice() == selector).and_then(|e| {
        let args = e.abi_decode_input(&data[4..]).ok()?;
        let shown: Vec<String> = args.iter().map(|v| to_json(v).to_string()).collect();
        Some(format!("{}({})", e.name, shown.join(", ")))
    })
}

fn event_params(inputs: &[EventParam], indexed: &[DynSolValue], body: &[DynSolValue]) -> Vec<DecodedValue> {
    let (mut topics, mut data) = (indexed.iter(), body.iter());
    inputs
        .iter()
        .filter_map(|p| {
            let value = if p.indexed { topics.next() } else { data.next() }?;
            Some(DecodedValue {
                name: p.name.clone(),
                ty: p.selector_type().into_owned(),
                value: to_json(value),
                indexed: p.indexed,
            })
        })
        .collect()
}

impl EvmTrace {
    /// Decodes the outermost call, its result and the logs with `abi`, the
    /// contract's ABI as a JSON array. Logs whose first topic is no event
    /// of the ABI stay undecoded; a call whose selector is no function of
    /// it gets no decoded call.
    pub fn decode_abi(&mut self, abi: &Value) -> Result<(), TraceError> {
        let abi: JsonAbi =
            serde_json::from_value(abi.clone()).map_err(|e| TraceError::BadAbi(e.to_string()))?;
        let input = unhex(&self.input);
        let revert_data = (self.result.status == "reverted").then(|| unhex(&self.result.output));
        let revert = revert_data
            .as_deref()
            .map(|data| custom_error(&abi, data).or(self.result.revert_reason.clone()).unwrap_or_default());
        self.decoded = if self.kind == "create" {
            abi.constructor().map(|c| DecodedCall {
                function: "constructor".into(),
                signature: format!(
                    "constructor({})",
                    c.inputs.iter().map(|p| p.selector_type().into_owned()).collect::<Vec<_>>().join(",")
                ),
                inputs: Vec::new(),
                outputs: None,
                revert: revert.clone(),
            })
        } else {
            input.get(..4).and_then(|selector| {
                let f = abi.functions().find(|f| f.selector().as_slice() == selector)?;
                let inputs = f.abi_decode_input(&input[4..]).ok()?;
                let outputs = match self.result.success {
                    true => {
                        f.abi_decode_output(&unhex(&self.result.output)).ok().map(|o| values(&f.outputs, &o))
                    }
                    false => None,
                };
                Some(DecodedCall {
                    function: f.name.clone(),
                    signature: f.signature(),
                    inputs: values(&f.inputs, &inputs),
                    outputs,
                    revert: revert.clone(),
                })
            })
        };
        for log in &mut self.logs {
            let topics: Vec<B256> = log.topics.iter().filter_map(|t| t.parse().ok()).collect();
            let Some(first) = topics.first() else { continue };
            let Some(event) = abi.events().find(|e| !e.anonymous && e.selector() == *first) else { continue };
            if let Ok(decoded) = event.decode_log_parts(topics.iter().copied(), &unhex(&log.data)) {
                log.decoded = Some(DecodedEvent {
                    name: event.name.clone(),
                    signature: event.signature(),
                    params: event_params(&event.inputs, &decoded.indexed, &decoded.body),
                });
            }
        }
        Ok(())
    }
}
