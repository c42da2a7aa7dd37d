//! `govchain contract`: EVM contracts against a node — deploy, call (ABI
//! encoded with the contract's JSON ABI, return values and events
//! decoded), and their lifecycle through the chain's `contracts` system
//! contract: upgrade, freeze, unfreeze, access lists, proposals and votes,
//! and the registry's record of a contract.

use std::path::{Path, PathBuf};

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt, FunctionExt, JsonAbiExt, Specifier};
use alloy_json_abi::{Function, JsonAbi};
use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_crypto::{Address, PrivateKey};
use govchain_execution::{EvmCall, EvmCreate, EvmLog};
use govchain_sdk::Client;
use govchain_types::{
    Encode, Receipt, Signer, Transaction, TxBody, TxStatus, TxType, api::SubmitMode, now_ms,
};
use serde_json::{Value, json};

use crate::{
    DEFAULT_NODE,
    commands::{SignerFiles, print_json, read_certificate, read_text},
};

/// Gas a transaction may use unless `--gas` says otherwise.
pub const DEFAULT_GAS: u64 = 5_000_000;
/// The system contract of the contract lifecycle.
const CONTRACTS: &str = "contracts";

/// `govchain contract ...`.
#[derive(clap::Args)]
pub struct ContractArgs {
    #[command(subcommand)]
    pub op: ContractOp,
    /// Node API URL.
    #[arg(long, global = true, env = "GOVCHAIN_NODE", default_value = DEFAULT_NODE)]
    pub node: String,
    /// PKCS#8 private key (PEM) that signs.
    #[arg(long = "key", global = true)]
    pub key_file: Option<PathBuf>,
    /// Certificate (PEM) of the signing key from the chain's CA: the
    /// transaction then acts for the certificate's organization.
    #[arg(long = "cert", global = true)]
    pub cert_file: Option<PathBuf>,
    /// Most gas an EVM transaction may use.
    #[arg(long, global = true, default_value_t = DEFAULT_GAS)]
    pub gas: u64,
}

/// What to do with a contract.
#[derive(Subcommand)]
pub enum ContractOp {
    /// Deploy creation bytecode (a file of hex, or hex), as version 1.0;
    /// with `--abi` and `--args`, constructor arguments are appended.
    Deploy {
        /// File holding the creation bytecode as hex, or the hex itself.
        bytecode: String,
        /// The contract's JSON ABI (solc's `abi`), for constructor arguments.
        #[arg(long)]
        abi: Option<PathBuf>,
        /// Constructor arguments as a JSON array.
        #[arg(long)]
        args: Option<String>,
    },
    /// Call a method: a transaction, or with `--query` a read-only call.
    Call {
        /// The contract's address.
        address: String,
        /// The contract's JSON ABI.
        #[arg(long)]
        abi: PathBuf,
        /// Method name, or its signature when overloaded (`grant(address)`).
        #[arg(long)]
        method: String,
        /// Arguments as a JSON array (numbers as numbers or strings).
        #[arg(long, default_value = "[]")]
        args: String,
        /// Run read-only on the node: no transaction, no key needed.
        #[arg(long)]
        query: bool,
    },
    /// Replace a contract's code with new runtime bytecode (solc's
    /// `evm.deployedBytecode`), keeping address and state.
    Upgrade {
        /// The contract's address.
        address: String,
        /// File holding the runtime bytecode as hex, or the hex itself.
        bytecode: String,
    },
    /// Make a contract refuse every call.
    Freeze {
        /// The contract's address.
        address: String,
    },
    /// Let a frozen contract take calls again.
    Unfreeze {
        /// The contract's address.
        address: String,
    },
    /// Set who may call a method (`*` for all); no `--allow` opens it.
    Acl {
        /// The contract's address.
        address: String,
        /// `*`, a selector `0x12345678` or a signature `grant(address)`.
        #[arg(long, default_value = "*")]
        method: String,
        /// Accounts (0x addresses) and organizations, comma-separated.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
    },
    /// Propose a governed action to the member organizations.
    Propose {
        #[command(subcommand)]
        action: ProposeAction,
        /// Free text shown with the proposal.
        #[arg(long, global = true, default_value = "")]
        note: String,
    },
    /// Vote on a proposal for your organization.
    Vote {
        /// The proposal's id.
        id: u64,
        /// Approve it.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject it.
        #[arg(long)]
        reject: bool,
    },
    /// The registry's record of a contract: owner, versions, frozen, access lists.
    Info {
        /// The contract's address.
        address: String,
    },
    /// One proposal, or all of them (from an id on) without `id`.
    Proposals {
        /// A proposal's id.
        id: Option<u64>,
        /// First id to list.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
    /// The chain's governance policy: members, threshold, governed actions.
    Policy,
    /// Compile Solidity files with the pinned solc (solc-js through node):
    /// ABI, bytecode and diagnostics at their lines.
    Compile(crate::solc::CompileArgs),
    /// Static analysis of Solidity files: findings by severity with their
    /// source ranges.
    Analyse(crate::solc::AnalyseArgs),
    /// The debug trace of a committed EVM transaction, recomputed by the
    /// node: every step, storage reads and writes, calls, decoded with
    /// `--abi`.
    Trace(crate::trace::TraceArgs),
}

/// The action of a proposal.
#[derive(Subcommand)]
pub enum ProposeAction {
    /// Approve a deployment of this creation bytecode (with `--abi`/`--args`
    /// constructor arguments) by the proposer's organization.
    Deploy {
        /// File holding the creation bytecode as hex, or the hex itself.
        bytecode: String,
        /// The contract's JSON ABI, for constructor arguments.
        #[arg(long)]
        abi: Option<PathBuf>,
        /// Constructor arguments as a JSON array.
        #[arg(long)]
        args: Option<String>,
    },
    /// Upgrade a contract to new runtime bytecode.
    Upgrade {
        /// The contract's address.
        address: String,
        /// File holding the runtime bytecode as hex, or the hex itself.
        bytecode: String,
    },
    /// Freeze a contract.
    Freeze {
        /// The contract's address.
        address: String,
    },
    /// Unfreeze a contract.
    Unfreeze {
        /// The contract's address.
        address: String,
    },
    /// Set a method's access list.
    Acl {
        /// The contract's address.
        address: String,
        /// `*`, a selector or a signature.
        #[arg(long, default_value = "*")]
        method: String,
        /// Accounts and organizations, comma-separated.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
    },
}

/// Signs transactions with a key (and certificate) for one chain.
struct Sender {
    key: PrivateKey,
    certificate: Option<Vec<u8>>,
    chain_id: String,
    nonce: u64,
}

impl Sender {
    fn sign(&mut self, tx_type: TxType, recipient: String, data: Vec<u8>) -> anyhow::Result<Transaction> {
        self.nonce += 1;
        let body = TxBody {
            chain_id: self.chain_id.clone(),
            tx_type,
            timestamp_ms: now_ms(),
            nonce: self.nonce,
            sender: self.key.public_key().address(),
            recipient,
            data,
            memo: String::new(),
            signers: vec![Signer {
                public_key: self.key.public_key().to_sec1(),
                certificate: self.certificate.clone(),
            }],
        };
        Ok(body.sign(&[&self.key])?)
    }
}

/// `govchain contract ...`.
pub async fn run(args: ContractArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.node)?;
    let signer = SignerFiles { key: args.key_file.as_deref(), cert: args.cert_file.as_deref() };
    let gas = args.gas;
    match args.op {
        ContractOp::Compile(a) => crate::solc::run_compile(&a),
        ContractOp::Analyse(a) => crate::solc::run_analyse(&a),
        ContractOp::Trace(a) => crate::trace::run_trace(a, &args.node).await,
        ContractOp::Deploy { bytecode, abi, args: ctor } => {
            let code = creation_code(&bytecode, abi.as_deref(), ctor.as_deref())?;
            let mut sender = sender(&client, signer).await?;
            let tx =
                sender.sign(TxType::EvmCreate, String::new(), EvmCreate { code, gas_limit: gas }.encode())?;
            let receipt = submit(&client, &tx).await?;
            let abi = abi.as_deref().map(read_abi).transpose()?;
            let mut view = receipt_view(&receipt, abi.as_ref(), None)?;
            if receipt.status == TxStatus::Success {
                let address: [u8; 20] =
                    receipt.output.as_slice().try_into().context("the receipt's output is not an address")?;
                view["address"] = json!(Address(address).to_string());
            }
            finish(&receipt, &view)
        }
        ContractOp::Call { address, abi, method, args: values, query } => {
            let to = parse_address(&address)?;
            let abi = read_abi(&abi)?;
            let function = find_function(&abi, &method)?;
            let input = encode_call(function, &values)?;
            if query {
                let payload = EvmCall { input, gas_limit: gas }.encode();
                let out = client.query(&to.to_string(), &payload).await?;
                let text = out["output"].as_str().context("the node's answer has no output")?;
                let data = hex::decode(text.trim_start_matches("0x")).context("output hex")?;
                return print_json(&json!({ "output": text, "decoded": decode_output(function, &data)? }));
            }
            let mut sender = sender(&client, signer).await?;
            let tx =
                sender.sign(TxType::EvmCall, to.to_string(), EvmCall { input, gas_limit: gas }.encode())?;
            let receipt = submit(&client, &tx).await?;
            let view = receipt_view(&receipt, Some(&abi), Some(function))?;
            finish(&receipt, &view)
        }
        ContractOp::Upgrade { address, bytecode } => {
            let op = json!({"op": "upgrade", "address": parse_address(&address)?, "code": hex0x(&read_code(&bytecode)?)});
            lifecycle(&client, signer, op).await
        }
        ContractOp::Freeze { address } => {
            lifecycle(&client, signer, json!({"op": "freeze", "address": parse_address(&address)?})).await
        }
        ContractOp::Unfreeze { address } => {
            lifecycle(&client, signer, json!({"op": "unfreeze", "address": parse_address(&address)?})).await
        }
        ContractOp::Acl { address, method, allow } => {
            let op =
                json!({"op": "acl", "address": parse_address(&address)?, "method": method, "allow": allow});
            lifecycle(&client, signer, op).await
        }
        ContractOp::Propose { action, note } => {
            let action = proposal_action(action)?;
            lifecycle(&client, signer, json!({"op": "propose", "action": action, "note": note})).await
        }
        ContractOp::Vote { id, approve, reject } => {
            let approve = approve && !reject;
            lifecycle(&client, signer, json!({"op": "vote", "id": id, "approve": approve})).await
        }
        ContractOp::Info { address } => {
            query(&client, json!({"op": "info", "address": parse_address(&address)?})).await
        }
        ContractOp::Proposals { id: Some(id), .. } => {
            query(&client, json!({"op": "proposal", "id": id})).await
        }
        ContractOp::Proposals { id: None, from } => {
            query(&client, json!({"op": "proposals", "from": from})).await
        }
        ContractOp::Policy => query(&client, json!({"op": "policy"})).await,
    }
}

fn proposal_action(action: ProposeAction) -> anyhow::Result<Value> {
    Ok(match action {
        ProposeAction::Deploy { bytecode, abi, args } => {
            let code = creation_code(&bytecode, abi.as_deref(), args.as_deref())?;
            let hash = govchain_crypto::keccak256(&code);
            json!({"op": "deploy", "code_hash": hex0x(&hash)})
        }
        ProposeAction::Upgrade { address, bytecode } => {
            json!({"op": "upgrade", "address": parse_address(&address)?, "code": hex0x(&read_code(&bytecode)?)})
        }
        ProposeAction::Freeze { address } => json!({"op": "freeze", "address": parse_address(&address)?}),
        ProposeAction::Unfreeze { address } => json!({"op": "unfreeze", "address": parse_address(&address)?}),
        ProposeAction::Acl { address, method, allow } => {
            json!({"op": "acl", "address": parse_address(&address)?, "method": method, "allow": allow})
        }
    })
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse_address(text: &str) -> anyhow::Result<Address> {
    text.trim().parse().with_context(|| format!("`{text}` is not a contract address (0x and 40 hex digits)"))
}

/// Bytecode from a file of hex, or hex given directly.
fn read_code(arg: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(arg);
    let text = if path.is_file() { read_text(path)? } else { arg.to_owned() };
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")).unwrap_or(digits);
    if digits.is_empty() {
        bail!("the bytecode is empty");
    }
    hex::decode(digits).with_context(|| {
        if path.is_file() {
            format!("{arg} does not hold bytecode as hex")
        } else {
            format!("`{}` is neither a file nor hex bytecode", arg.chars().take(60).collect::<String>())
        }
    })
}

fn read_abi(path: &Path) -> anyhow::Result<JsonAbi> {
    let text = read_text(path)?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    // Either the ABI array itself or a solc contract output holding it.
    let abi = value.get("abi").cloned().unwrap_or(value);
    serde_json::from_value(abi).with_context(|| format!("{} is not a contract ABI", path.display()))
}

fn creation_code(bytecode: &str, abi: Option<&Path>, args: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut code = read_code(bytecode)?;
    let abi = abi.map(read_abi).transpose()?;
    let values = args.map(parse_args).transpose()?.unwrap_or_default();
    match (abi.as_ref().and_then(|a| a.constructor.as_ref()), values.is_empty()) {
        (Some(ctor), _) => {
            let values = typed_values(&ctor.inputs, &values, "the constructor")?;
            code.extend(ctor.abi_encode_input(&values).context("encoding the constructor arguments")?);
        }
        (None, true) => {}
        (None, false) if abi.is_none() => bail!("--args needs --abi to encode the constructor arguments"),
        (None, false) => bail!("the ABI has no constructor, so it takes no --args"),
    }
    Ok(code)
}

fn parse_args(text: &str) -> anyhow::Result<Vec<Value>> {
    match serde_json::from_str(text).context("--args must be a JSON array")? {
        Value::Array(values) => Ok(values),
        _ => bail!("--args must be a JSON array, like '[\"0x…\", 5]'"),
    }
}

fn find_function<'a>(abi: &'a JsonAbi, method: &str) -> anyhow::Result<&'a Function> {
    let (name, by_signature) = match method.split_once('(') {
        Some((name, _)) => (name, true),
        None => (method, false),
    };
    let candidates = abi.function(name).with_context(|| format!("the ABI has no method `{name}`"))?;
    if by_signature {
        return candidates
            .iter()
            .find(|f| f.signature() == method.replace(' ', ""))
            .with_context(|| format!("the ABI has no method with signature `{method}`"));
    }
    match candidates.as_slice() {
        [only] => Ok(only),
        many => bail!(
            "`{name}` is overloaded; name one by signature: {}",
            many.iter().map(Function::signature).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn encode_call(function: &Function, args: &str) -> anyhow::Result<Vec<u8>> {
    let values = parse_args(args)?;
    let values = typed_values(&function.inputs, &values, &format!("`{}`", function.signature()))?;
    function
        .abi_encode_input(&values)
        .with_context(|| format!("encoding the arguments of {}", function.signature()))
}

/// JSON arguments as the ABI types of `params`.
fn typed_values(
    params: &[alloy_json_abi::Param],
    values: &[Value],
    what: &str,
) -> anyhow::Result<Vec<DynSolValue>> {
    if params.len() != values.len() {
        bail!("{what} takes {} arguments, --args has {}", params.len(), values.len());
    }
    params
        .iter()
        .zip(values)
        .map(|(p, v)| {
            let ty = p.resolve().with_context(|| format!("the ABI type of `{}`", p.name))?;
            to_value(&ty, v).with_context(|| format!("argument `{}` ({})", p.name, ty))
        })
        .collect()
}

fn to_value(ty: &DynSolType, v: &Value) -> anyhow::Result<DynSolValue> {
    match (ty, v) {
        (DynSolType::Array(inner), Value::Array(items)) => {
            Ok(DynSolValue::Array(items.iter().map(|i| to_value(inner, i)).collect::<anyhow::Result<_>>()?))
        }
        (DynSolType::FixedArray(inner, n), Value::Array(items)) => {
            if items.len() != *n {
                bail!("expected {n} elements, found {}", items.len());
            }
            Ok(DynSolValue::FixedArray(
                items.iter().map(|i| to_value(inner, i)).collect::<anyhow::Result<_>>()?,
            ))
        }
        (DynSolType::Tuple(types), Value::Array(items)) => {
            if items.len() != types.len() {
                bail!("expected {} fields, found {}", types.len(), items.len());
            }
            let fields =
                types.iter().zip(items).map(|(t, i)| to_value(t, i)).collect::<anyhow::Result<_>>()?;
            Ok(DynSolValue::Tuple(fields))
        }
        (_, Value::String(s)) => Ok(ty.coerce_str(s)?),
        (_, Value::Number(n)) => Ok(ty.coerce_str(&n.to_string())?),
        (_, Value::Bool(b)) => Ok(ty.coerce_str(&b.to_string())?),
        (_, other) => bail!("cannot read {other} as {ty}"),
    }
}

/// A decoded value as JSON: integers as decimal strings, bytes and
/// addresses as `0x` hex.
fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => json!(i.to_string()),
        DynSolValue::Uint(u, _) => json!(u.to_string()),
        DynSolValue::FixedBytes(w, size) => json!(hex0x(&w[..*size])),
        DynSolValue::Address(a) => json!(format!("0x{}", hex::encode(a.as_slice()))),
        DynSolValue::Function(f) => json!(hex0x(f.as_slice())),
        DynSolValue::Bytes(b) => json!(hex0x(b)),
        DynSolValue::String(s) => json!(s),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        #[allow(unreachable_patterns)]
        other => json!(format!("{other:?}")),
    }
}

fn decode_output(function: &Function, data: &[u8]) -> anyhow::Result<Value> {
    let values = function.abi_decode_output(data).with_context(|| {
        format!("the return data does not decode as the outputs of {}", function.signature())
    })?;
    Ok(Value::Array(values.iter().map(to_json).collect()))
}

/// The receipt as JSON, with the return value and the events decoded
/// where the ABI knows them.
fn receipt_view(
    receipt: &Receipt,
    abi: Option<&JsonAbi>,
    function: Option<&Function>,
) -> anyhow::Result<Value> {
    let mut view = serde_json::to_value(receipt)?;
    if let (Some(function), TxStatus::Success) = (function, receipt.status) {
        view["decoded"] = decode_output(function, &receipt.output)?;
    }
    let mut events = Vec::new();
    for event in &receipt.events {
        let shown = match EvmLog::from_event(event) {
            Some(log) => decode_log(abi, &log),
            None => json!({
                "contract": event.contract,
                "name": event.name,
                "data": serde_json::from_slice::<Value>(&event.data)
                    .unwrap_or_else(|_| json!(hex0x(&event.data))),
            }),
        };
        events.push(shown);
    }
    view["events"] = Value::Array(events);
    Ok(view)
}

fn decode_log(abi: Option<&JsonAbi>, log: &EvmLog) -> Value {
    let address = Address(log.address).to_string();
    let decoded = abi.and_then(|abi| {
        let topic0 = log.topics.first()?;
        let event = abi.events().find(|e| !e.anonymous && e.selector().0 == *topic0)?;
        let topics = log.topics.iter().map(|t| alloy_primitives::B256::from(*t));
        let d = event.decode_log_parts(topics, &log.data).ok()?;
        let (mut indexed, mut body) = (d.indexed.iter(), d.body.iter());
        let args: serde_json::Map<String, Value> = event
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let v = if p.indexed { indexed.next() } else { body.next() }?;
                let name = if p.name.is_empty() { format!("arg{i}") } else { p.name.clone() };
                Some((name, to_json(v)))
            })
            .collect();
        Some(json!({ "address": address, "event": event.signature(), "args": args }))
    });
    decoded.unwrap_or_else(|| {
        json!({
            "address": address,
            "topics": log.topics.iter().map(|t| hex0x(t)).collect::<Vec<_>>(),
            "data": hex0x(&log.data),
        })
    })
}

async fn sender(client: &Client, signer: SignerFiles<'_>) -> anyhow::Result<Sender> {
    let key_path = signer.key.context("--key <key.pem> is required to sign transactions")?;
    let key = PrivateKey::from_pkcs8_pem(&read_text(key_path)?).context("private key")?;
    let certificate = signer.cert.map(|path| read_certificate(path, &key)).transpose()?;
    let status = client.status().await?;
    if status.suite != key.suite().to_string() {
        bail!("the key is a {} key but the chain uses {}", key.suite(), status.suite);
    }
    // Nonces from the clock, like the SDK's wallet, so runs never repeat one.
    Ok(Sender { key, certificate, chain_id: status.chain_id, nonce: now_ms().saturating_mul(1000) })
}

async fn submit(client: &Client, tx: &Transaction) -> anyhow::Result<Receipt> {
    let response = client.submit(tx, SubmitMode::Sync).await?;
    response.receipt.context("the node answered without a receipt")
}

/// Prints the receipt view; a failed transaction is an error of the command.
fn finish(receipt: &Receipt, view: &Value) -> anyhow::Result<()> {
    print_json(view)?;
    if receipt.status != TxStatus::Success {
        bail!("transaction failed: {}", receipt.message);
    }
    Ok(())
}

async fn lifecycle(client: &Client, signer: SignerFiles<'_>, op: Value) -> anyhow::Result<()> {
    let mut sender = sender(client, signer).await?;
    let tx = sender.sign(TxType::Invoke, CONTRACTS.into(), op.to_string().into_bytes())?;
    let receipt = submit(client, &tx).await?;
    let mut view = receipt_view(&receipt, None, None)?;
    if let Ok(output) = serde_json::from_slice::<Value>(&receipt.output) {
        view["output"] = output;
    }
    finish(&receipt, &view)
}

async fn query(client: &Client, op: Value) -> anyhow::Result<()> {
    print_json(&client.query(CONTRACTS, op.to_string().as_bytes()).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ABI: &str = r#"[
      {"type":"constructor","inputs":[{"name":"start","type":"uint256"}],"stateMutability":"nonpayable"},
      {"type":"function","name":"grant","inputs":[{"name":"holder","type":"address"}],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"nonpayable"},
      {"type":"function","name":"set","inputs":[{"name":"xs","type":"uint8[]"},{"name":"s","type":"string"}],"outputs":[],"stateMutability":"nonpayable"},
      {"type":"function","name":"set","inputs":[{"name":"x","type":"uint8"}],"outputs":[],"stateMutability":"nonpayable"}
    ]"#;

    fn abi() -> JsonAbi {
        serde_json::from_str(ABI).unwrap()
    }

    #[test]
    fn calls_encode_as_solidity_does() {
        let abi = abi();
        let grant = find_function(&abi, "grant").unwrap();
        let input = encode_call(grant, r#"["0x00000000000000000000000000000000000000aa"]"#).unwrap();
        assert_eq!(hex::encode(&input[..4]), "70284d19");
        assert_eq!(input[35], 0xaa);
        let set = find_function(&abi, "set(uint8[],string)").unwrap();
        assert!(encode_call(set, r#"[[1, "2"], "hi"]"#).is_ok());
        assert!(find_function(&abi, "set").unwrap_err().to_string().contains("overloaded"));
        assert!(find_function(&abi, "nope").is_err());
        let err = encode_call(grant, "[]").unwrap_err().to_string();
        assert!(err.contains("takes 1 arguments"), "{err}");
        assert!(encode_call(grant, r#"["not an address"]"#).is_err());
        assert!(encode_call(grant, r#"{"a":1}"#).is_err());
    }

    #[test]
    fn constructor_arguments_are_appended_to_the_creation_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abi.json");
        std::fs::write(&path, ABI).unwrap();
        let code = creation_code("0x6001", Some(&path), Some("[7]")).unwrap();
        assert_eq!(code.len(), 2 + 32);
        assert_eq!(code[33], 7);
        assert!(creation_code("6001", None, Some("[7]")).unwrap_err().to_string().contains("needs --abi"));
        assert!(read_code("zz").unwrap_err().to_string().contains("neither a file nor hex"));
    }

    #[test]
    fn outputs_decode_to_json() {
        let abi = abi();
        let grant = find_function(&abi, "grant").unwrap();
        let mut word = [0u8; 32];
        word[31] = 5;
        assert_eq!(decode_output(grant, &word).unwrap(), json!(["5"]));
        assert!(decode_output(grant, &[1, 2]).is_err());
    }
}
