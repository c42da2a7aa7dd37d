//! Contract ABIs (the `abi` a Solidity compiler outputs): call inputs from
//! JSON arguments, and return values, revert data and EVM logs back to
//! JSON, for every client of the EVM engine (the control plane, the CLI,
//! traces).
//!
//! **Arguments** are JSON values, one per parameter: a string is read as
//! the parameter's type reads text (`"0x12…"` for addresses and bytes,
//! `"1000"` or `"1e18"` for integers, `"true"`), a number or boolean as
//! its text, and an array or object (tuples) as nested values, so
//! `["0xab…", "100"]` and `["0xab…", 100]` both call
//! `transfer(address,uint256)`.
//!
//! **Values** come back as JSON: integers as decimal strings (a `uint256`
//! does not fit a JSON number), addresses in EIP-55 checksum form, bytes
//! as `0x` hex, arrays and tuples as arrays.

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt, FunctionExt, JsonAbiExt, Specifier};
use alloy_json_abi::{Function, JsonAbi, Param};
use revm::primitives::B256;
use serde::Serialize;
use serde_json::Value;

use crate::EvmLog;

/// Largest ABI document accepted, bytes.
pub const MAX_ABI_JSON: usize = 1024 * 1024;

/// Why an ABI operation failed; the message is for the caller's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AbiError(pub String);

type Result<T> = std::result::Result<T, AbiError>;

/// A contract's ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abi(JsonAbi);

/// A decoded call: the function's signature and its named arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodedCall {
    /// `name(type,…)`.
    pub signature: String,
    /// The arguments in order.
    pub args: Vec<NamedValue>,
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodedEvent {
    /// The emitting contract, `0x…`.
    pub address: String,
    /// `Name(type,…)`.
    pub signature: String,
    /// The fields in declaration order (indexed ones included).
    pub args: Vec<NamedValue>,
}

/// One parameter and its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedValue {
    /// The parameter's name (empty when the ABI gives none).
    pub name: String,
    /// Its Solidity type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The value as JSON (see the module docs).
    pub value: Value,
}

impl Abi {
    /// Reads an ABI document: the JSON array solc writes (or an object
    /// with an `abi` array, as build artifacts hold it).
    pub fn parse(json: &str) -> Result<Abi> {
        if json.len() > MAX_ABI_JSON {
            return Err(AbiError(format!("the ABI is larger than {MAX_ABI_JSON} bytes")));
        }
        let value: Value =
            serde_json::from_str(json).map_err(|e| AbiError(format!("the ABI is not JSON: {e}")))?;
        Self::from_value(value)
    }

    /// [`Abi::parse`] of a JSON value already read.
    pub fn from_value(value: Value) -> Result<Abi> {
        let value = match value {
            Value::Object(mut o) if o.contains_key("abi") => o.remove("abi").unwrap_or_default(),
            v => v,
        };
        if !value.is_array() {
            return Err(AbiError("an ABI is a JSON array of functions, events and errors".into()));
        }
        let abi: JsonAbi =
            serde_json::from_value(value).map_err(|e| AbiError(format!("not a contract ABI: {e}")))?;
        // Every type must be one the encoder knows.
        for f in abi.functions() {
            resolve_all(&f.inputs).and(resolve_all(&f.outputs)).map_err(|e| in_item(&f.signature(), e))?;
        }
        for e in abi.events() {
            for p in &e.inputs {
                p.resolve().map_err(|err| in_item(&e.signature(), AbiError(err.to_string())))?;
            }
        }
        if let Some(c) = &abi.constructor {
            resolve_all(&c.inputs).map_err(|e| in_item("constructor", e))?;
        }
        Ok(Abi(abi))
    }

    /// The ABI as solc's JSON array.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or(Value::Null)
    }

    /// The function `method` names: a name (when not overloaded) or a full
    /// signature `name(type,…)`.
    pub fn function(&self, method: &str) -> Result<&Function> {
        if method.contains('(') {
            let name = method.split('(').next().unwrap_or_default();
            return self
                .0
                .function(name)
                .and_then(|fs| fs.iter().find(|f| f.signature() == method.replace(' ', "")))
                .ok_or_else(|| AbiError(format!("the ABI has no function {method}")));
        }
        match self.0.function(method).map(Vec::as_slice) {
            Some([f]) => Ok(f),
            Some(many) if !many.is_empty() => Err(AbiError(format!(
                "{method} is overloaded; name one of {}",
                many.iter().map(Function::signature).collect::<Vec<_>>().join(", ")
            ))),
            _ => Err(AbiError(format!("the ABI has no function {method}"))),
        }
    }

    /// Whether calling `f` changes nothing (`view` or `pure`).
    pub fn is_read_only(f: &Function) -> bool {
        matches!(
            f.state_mutability,
            alloy_json_abi::StateMutability::View | alloy_json_abi::StateMutability::Pure
        )
    }

    /// The input of a call of `method` with `args`: its selector and the
    /// encoded arguments.
    pub fn encode_call(&self, method: &str, args: &[Value]) -> Result<Vec<u8>> {
        let f = self.function(method)?;
        let values = coerce_all(&f.inputs, args).map_err(|e| in_item(&f.signature(), e))?;
        f.abi_encode_input(&values).map_err(|e| in_item(&f.signature(), AbiError(e.to_string())))
    }

    /// The encoded constructor arguments (to append to the creation code);
    /// empty for a contract without a constructor and no arguments.
    pub fn encode_constructor(&self, args: &[Value]) -> Result<Vec<u8>> {
        match &self.0.constructor {
            Some(c) => {
                let values = coerce_all(&c.inputs, args).map_err(|e| in_item("constructor", e))?;
                c.abi_encode_input(&values).map_err(|e| in_item("constructor", AbiError(e.to_string())))
            }
            None if args.is_empty() => Ok(Vec::new()),
            None => Err(AbiError(format!(
                "the contract has no constructor, but {} arguments were given",
                args.len()
            ))),
        }
    }

    /// The return values of `method` in `output`.
    pub fn decode_output(&self, method: &str, output: &[u8]) -> Result<Vec<NamedValue>> {
        let f = self.function(method)?;
        let values = f
            .abi_decode_output(output)
            .map_err(|e| AbiError(format!("the output of {} does not decode: {e}", f.signature())))?;
        Ok(named(&f.outputs, values))
    }

    /// The call `input` makes, when its selector is one of this ABI's
    /// functions and its arguments decode.
    pub fn decode_input(&self, input: &[u8]) -> Option<DecodedCall> {
        let selector: [u8; 4] = input.get(..4)?.try_into().ok()?;
        let f = self.0.function_by_selector(selector.into())?;
        let values = f.abi_decode_input(&input[4..]).ok()?;
        Some(DecodedCall { signature: f.signature(), args: named(&f.inputs, values) })
    }

    /// The event `log` is, when its first topic is one of this ABI's
    /// events and its fields decode.
    pub fn decode_log(&self, log: &EvmLog) -> Option<DecodedEvent> {
        let topic0 = B256::from(*log.topics.first()?);
        let event = self.0.events().find(|e| !e.anonymous && e.selector() == topic0)?;
        let decoded = event.decode_log_parts(log.topics.iter().map(|t| B256::from(*t)), &log.data).ok()?;
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let args = event
            .inputs
            .iter()
            .filter_map(|p| {
                let v = if p.indexed { indexed.next() } else { body.next() }?;
                Some(NamedValue { name: p.name.clone(), ty: p.ty.clone(), value: to_json(&v) })
            })
            .collect();
        Some(DecodedEvent {
            address: format!("0x{}", hex::encode(log.address)),
            signature: event.signature(),
            args,
        })
    }
}

fn in_item(item: &str, e: AbiError) -> AbiError {
    AbiError(format!("{item}: {}", e.0))
}

fn resolve_all(params: &[Param]) -> Result<Vec<DynSolType>> {
    params.iter().map(|p| p.resolve().map_err(|e| AbiError(e.to_string()))).collect()
}

fn coerce_all(params: &[Param], args: &[Value]) -> Result<Vec<DynSolValue>> {
    if params.len() != args.len() {
        return Err(AbiError(format!("takes {} arguments, {} given", params.len(), args.len())));
    }
    let types = resolve_all(params)?;
    types
        .iter()
        .zip(params)
        .zip(args)
        .map(|((ty, p), arg)| {
            let what = if p.name.is_empty() { p.ty.clone() } else { format!("{} {}", p.ty, p.name) };
            ty.coerce_str(&as_text(arg)).map_err(|e| AbiError(format!("argument `{what}`: {e}")))
        })
        .collect()
}

/// A JSON argument as the text `DynSolType::coerce_str` reads: strings
/// as they are, numbers and booleans as written, arrays and objects
/// (tuples, by their values in order) in the bracket syntax.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(as_text).collect::<Vec<_>>().join(",")),
        Value::Object(fields) => format!("({})", fields.values().map(as_text).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn named(params: &[Param], values: Vec<DynSolValue>) -> Vec<NamedValue> {
    params
        .iter()
        .zip(values)
        .map(|(p, v)| NamedValue { name: p.name.clone(), ty: p.ty.clone(), value: to_json(&v) })
        .collect()
}

/// A value as JSON (see the module docs).
pub fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::FixedBytes(w, size) => Value::String(format!("0x{}", hex::encode(&w[..*size]))),
        DynSolValue::Address(a) => Value::String(a.to_checksum(None)),
        DynSolValue::Function(f) => Value::String(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Bytes(b) => Value::String(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const TOKEN_ABI: &str = r#"[
        {"type":"constructor","inputs":[{"name":"supply","type":"uint256"}],"stateMutability":"nonpayable"},
        {"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],
         "outputs":[{"name":"","type":"bool"}],"stateMutability":"nonpayable"},
        {"type":"function","name":"balanceOf","inputs":[{"name":"who","type":"address"}],
         "outputs":[{"name":"","type":"uint256"}],"stateMutability":"view"},
        {"type":"function","name":"f","inputs":[{"name":"x","type":"uint8"}],"outputs":[],"stateMutability":"pure"},
        {"type":"function","name":"f","inputs":[{"name":"x","type":"string"}],"outputs":[],"stateMutability":"pure"},
        {"type":"event","name":"Transfer","anonymous":false,"inputs":[
            {"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},
            {"name":"value","type":"uint256","indexed":false}]}
    ]"#;

    #[test]
    fn calls_encode_from_json_and_decode_back() {
        let abi = Abi::parse(TOKEN_ABI).unwrap();
        let to = "0x00000000000000000000000000000000000000aa";
        let input = abi.encode_call("transfer", &[Value::from(to), Value::from(100)]).unwrap();
        assert_eq!(hex::encode(&input[..4]), "a9059cbb");
        assert_eq!(input.len(), 4 + 64);
        assert_eq!(input, abi.encode_call("transfer(address, uint256)", &[to.into(), "100".into()]).unwrap());
        let call = abi.decode_input(&input).unwrap();
        assert_eq!(call.signature, "transfer(address,uint256)");
        assert_eq!(call.args[1].value, Value::from("100"));
        assert_eq!(call.args[0].name, "to");
        let mut word = [0u8; 32];
        word[31] = 1;
        assert_eq!(abi.decode_output("transfer", &word).unwrap()[0].value, Value::Bool(true));
        assert_eq!(abi.encode_constructor(&["1000".into()]).unwrap().len(), 32);
    }

    #[test]
    fn logs_decode_with_indexed_fields_in_place() {
        let abi = Abi::parse(TOKEN_ABI).unwrap();
        let sig = revm::primitives::keccak256("Transfer(address,address,uint256)");
        let mut from = [0u8; 32];
        from[31] = 1;
        let mut to = [0u8; 32];
        to[31] = 2;
        let mut data = vec![0u8; 32];
        data[31] = 7;
        let log = EvmLog { address: [9; 20], topics: vec![sig.0, from, to], data };
        let e = abi.decode_log(&log).unwrap();
        assert_eq!(e.signature, "Transfer(address,address,uint256)");
        let names: Vec<&str> = e.args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["from", "to", "value"]);
        assert_eq!(e.args[2].value, Value::from("7"));
        assert_eq!(abi.decode_log(&EvmLog { topics: vec![[0; 32]], ..log }), None);
    }

    #[test]
    fn bad_abis_and_arguments_get_clear_errors() {
        let abi = Abi::parse(TOKEN_ABI).unwrap();
        let err = |r: Result<Vec<u8>>| r.unwrap_err().0;
        assert_eq!(err(abi.encode_call("nope", &[])), "the ABI has no function nope");
        assert!(err(abi.encode_call("f", &[1.into()])).starts_with("f is overloaded; name one of f(uint8)"));
        assert_eq!(
            err(abi.encode_call("transfer", &[])),
            "transfer(address,uint256): takes 2 arguments, 0 given"
        );
        assert!(
            err(abi.encode_call("transfer", &["0x12".into(), 1.into()]))
                .starts_with("transfer(address,uint256): argument `address to`:")
        );
        assert!(err(abi.encode_call("f(uint8)", &[300.into()])).contains("argument `uint8 x`"));
        assert!(abi.decode_output("balanceOf", &[1, 2]).unwrap_err().0.contains("does not decode"));
        assert_eq!(Abi::parse("{}").unwrap_err().0, "an ABI is a JSON array of functions, events and errors");
        assert!(Abi::parse("[{\"type\":\"function\"}]").unwrap_err().0.starts_with("not a contract ABI"));
        assert!(Abi::parse("nope").unwrap_err().0.starts_with("the ABI is not JSON"));
        let odd = r#"[{"type":"function","name":"g","inputs":[{"name":"x","type":"uint7"}],"outputs":[],"stateMutability":"pure"}]"#;
        assert!(Abi::parse(odd).is_err());
        assert!(Abi::parse(&format!("{{\"abi\": {TOKEN_ABI}}}")).is_ok());
    }
}
