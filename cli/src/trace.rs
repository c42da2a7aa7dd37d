//! `govchain contract trace <txid> [--abi file] [--json]`: the debug trace
//! of a committed EVM transaction from a node
//! (`POST /v1/transactions/{id}/trace`), printed as a step table with the
//! decoded call, its result, logs and storage changes, or as the node's
//! JSON.

// The verb is wired into `govchain contract` by that command's tree; until
// then nothing in the binary calls it.

use std::{fmt::Write as _, path::PathBuf};

use anyhow::{Context, bail};
use govchain_execution::evm::trace::{DecodedValue, EvmTrace};
use serde_json::{Value, json};

/// Arguments of `govchain contract trace`.
#[derive(clap::Args, Debug, Clone)]
pub struct TraceArgs {
    /// Id of the committed transaction (64 hex digits).
    pub txid: String,
    /// The contract's ABI: a JSON file holding the ABI array, or an object
    /// with an `abi` field (a compiler or build artifact), to decode the
    /// call, its return values or revert reason, and its events.
    #[arg(long)]
    pub abi: Option<PathBuf>,
    /// Print the node's JSON trace instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Most steps to record (the node's default is 100,000).
    #[arg(long)]
    pub step_limit: Option<u64>,
    /// Memory bytes to show per step (the node's default is 1,024).
    #[arg(long)]
    pub memory_bytes: Option<usize>,
}

/// Runs `govchain contract trace`.
pub async fn run_trace(args: TraceArgs, node: &str) -> anyhow::Result<()> {
    let abi = args.abi.as_deref().map(read_abi).transpose()?;
    let raw = fetch(node, &args.txid, abi, args.step_limit, args.memory_bytes).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    let trace: EvmTrace =
        serde_json::from_value(raw).context("the node's trace is not in the expected shape")?;
    print!("{}", render(&trace));
    Ok(())
}

/// The ABI array in `path`: the array itself, or the `abi` field of an
/// object.
fn read_abi(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    abi_of(&text).with_context(|| format!("{} holds no contract ABI", path.display()))
}

fn abi_of(text: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text).context("not JSON")?;
    match value {
        Value::Array(_) => Ok(value),
        Value::Object(mut o) => match o.remove("abi") {
            Some(abi @ Value::Array(_)) => Ok(abi),
            _ => bail!("expected a JSON array, or an object with an `abi` array"),
        },
        _ => bail!("expected a JSON array, or an object with an `abi` array"),
    }
}

/// Asks `node` for the trace of `txid`.
async fn fetch(
    node: &str,
    txid: &str,
    abi: Option<Value>,
    step_limit: Option<u64>,
    memory_bytes: Option<usize>,
) -> anyhow::Result<Value> {
    let id = txid.strip_prefix("0x").unwrap_or(txid);
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("transaction id `{txid}` is not 64 hex digits");
    }
    let url = format!("{}/v1/transactions/{id}/trace", node.trim_end_matches('/'));
    let body = json!({"abi": abi, "step_limit": step_limit, "memory_bytes": memory_bytes});
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {node}"))?;
    let status = response.status();
    let answer: Value =
        response.json().await.with_context(|| format!("the node answered {status} without JSON"))?;
    if !status.is_success() {
        let code = answer["code"].as_str().unwrap_or("error");
        let message = answer["message"].as_str().unwrap_or("no message");
        bail!("the node refused the trace ({status}, {code}): {message}");
    }
    Ok(answer)
}

fn values(list: &[DecodedValue]) -> String {
    list.iter()
        .map(|v| {
            let value = v.value.as_str().map_or_else(|| v.value.to_string(), str::to_owned);
            match v.name.is_empty() {
                true => format!("{} {value}", v.ty),
                false => format!("{} {} = {value}", v.ty, v.name),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shortens a hex word for the table: `0x0000…002a` -> `0x2a`.
fn short(word: &str) -> String {
    let digits = word.trim_start_matches("0x").trim_start_matches('0');
    format!("0x{}", if digits.is_empty() { "0" } else { digits })
}

/// The trace as text: a summary, the decoded call, the step table, the
/// calls, logs and storage changes.
pub fn render(t: &EvmTrace) -> String {
    let mut out = String::new();
    let r = &t.result;
    let _ = writeln!(out, "transaction {} (block {}, index {})", t.tx_id, t.height, t.index);
    let _ = writeln!(out, "{} from {} to {}", t.kind, t.from, if t.to.is_empty() { "-" } else { &t.to });
    let _ = write!(out, "result: {}, gas used {} of {}", r.status, r.gas_used, t.gas_limit);
    if let Some(reason) = &r.revert_reason {
        let _ = write!(out, ", reason: {reason}");
    }
    if let Some(error) = &r.error {
        let _ = write!(out, ", error: {error}");
    }
    let _ = writeln!(out, "\noutput: {}", r.output);
    if let Some(d) = &t.decoded {
        let _ = writeln!(out, "call: {}({})", d.function, values(&d.inputs));
        if let Some(outputs) = &d.outputs {
            let _ = writeln!(out, "returns: ({})", values(outputs));
        }
        if let Some(revert) = &d.revert {
            let _ = writeln!(out, "reverted: {revert}");
        }
    }
    let _ = writeln!(
        out,
        "\n{:>6} {:>5} {:>6} {:<14} {:>10} {:>7}  stack (top first) / storage",
        "step", "depth", "pc", "op", "gas", "cost"
    );
    for (i, s) in t.steps.iter().enumerate() {
        let top: Vec<String> = s.stack.iter().rev().take(3).map(|v| short(v)).collect();
        let mut line = format!(
            "{i:>6} {:>5} {:>6} {:<14} {:>10} {:>7}  [{}]",
            s.depth,
            s.pc,
            s.op,
            s.gas,
            s.gas_cost,
            top.join(", ")
        );
        if s.stack.len() > 3 {
            let _ = write!(line, " +{}", s.stack.len() - 3);
        }
        if let Some(a) = &s.storage {
            let _ = write!(
                line,
                "  {} {}[{}]: {} -> {}",
                a.kind,
                a.address,
                short(&a.slot),
                short(&a.before),
                short(&a.after)
            );
        }
        if let Some(e) = &s.error {
            let _ = write!(line, "  ! {e}");
        }
        let _ = writeln!(out, "{line}");
    }
    if t.truncated {
        let _ = writeln!(out, "… truncated: {} of {} steps recorded", t.steps.len(), t.step_count);
    }
    let _ = writeln!(out, "\ncalls:");
    for (i, c) in t.calls.iter().enumerate() {
        let indent = "  ".repeat(c.depth as usize);
        let outcome = c.error.clone().unwrap_or_else(|| "ok".into());
        let _ = writeln!(
            out,
            "{indent}#{i} {} {} -> {} gas {}/{} {outcome}",
            c.kind, c.caller, c.address, c.gas_used, c.gas_limit
        );
    }
    if !t.logs.is_empty() {
        let _ = writeln!(out, "\nlogs:");
        for l in &t.logs {
            let removed = if l.removed { " (reverted)" } else { "" };
            match &l.decoded {
                Some(e) => {
                    let _ = writeln!(out, "  {} {}({}){removed}", l.address, e.name, values(&e.params));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  {} topics [{}] data {}{removed}",
                        l.address,
                        l.topics.join(", "),
                        l.data
                    );
                }
            }
        }
    }
    if !t.storage_changes.is_empty() {
        let _ = writeln!(out, "\nstorage changes:");
        for c in &t.storage_changes {
            let _ = writeln!(
                out,
                "  {}[{}]: {} -> {}",
                c.address,
                short(&c.slot),
                short(&c.before),
                short(&c.after)
            );
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn word(n: u64) -> String {
        format!("0x{n:064x}")
    }

    fn sample() -> EvmTrace {
        serde_json::from_value(json!({
            "tx_id": "ab".repeat(32), "height": 7, "index": 1, "kind": "call",
            "from": format!("0x{}", "11".repeat(20)), "to": format!("0x{}", "22".repeat(20)),
            "input": "0x7cf5dab00000000000000000000000000000000000000000000000000000000000000005",
            "gas_limit": 100000,
            "result": {"success": true, "status": "success", "gas_used": 45000, "output": word(15)},
            "steps": [
                {"pc": 0, "op": "PUSH1", "opcode": 96, "depth": 1, "call": 0, "gas": 78000, "gas_cost": 3,
                 "stack": [], "memory_size": 0, "memory": []},
                {"pc": 40, "op": "SSTORE", "opcode": 85, "depth": 1, "call": 0, "gas": 70000, "gas_cost": 5000,
                 "stack": ["0x1", "0x2", "0x3", "0xf", "0x0"], "memory_size": 128, "memory": [],
                 "storage": {"kind": "write", "address": format!("0x{}", "22".repeat(20)), "slot": word(0),
                             "before": word(10), "after": word(15)}}
            ],
            "step_count": 300, "truncated": true,
            "calls": [{"parent": null, "depth": 1, "kind": "call", "caller": format!("0x{}", "11".repeat(20)),
                       "address": format!("0x{}", "22".repeat(20)), "code_address": format!("0x{}", "22".repeat(20)),
                       "value": "0x0", "input": "0x", "output": word(15), "gas_limit": 78000, "gas_used": 24000,
                       "success": true, "first_step": 0}],
            "logs": [{"call": 0, "step": 1, "address": format!("0x{}", "22".repeat(20)), "topics": [word(1)],
                      "data": "0x", "removed": false,
                      "decoded": {"name": "Incremented", "signature": "Incremented(uint256)",
                                  "params": [{"name": "newCount", "type": "uint256", "value": "15"}]}}],
            "storage_changes": [{"address": format!("0x{}", "22".repeat(20)), "slot": word(0), "before": word(10), "after": word(15)}],
            "decoded": {"function": "increment", "signature": "increment(uint256)",
                        "inputs": [{"name": "amount", "type": "uint256", "value": "5"}],
                        "outputs": [{"name": "", "type": "uint256", "value": "15"}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_table_shows_the_call_steps_storage_logs_and_truncation() {
        let text = render(&sample());
        assert!(text.contains("result: success, gas used 45000 of 100000"), "{text}");
        assert!(text.contains("call: increment(uint256 amount = 5)"), "{text}");
        assert!(text.contains("returns: (uint256 15)"), "{text}");
        let sstore = text.lines().find(|l| l.contains("SSTORE")).unwrap();
        assert!(sstore.contains("[0x0, 0xf, 0x3] +2"), "{sstore}");
        assert!(sstore.contains(&format!("write 0x{}[0x0]: 0xa -> 0xf", "22".repeat(20))), "{sstore}");
        assert!(text.contains("truncated: 2 of 300 steps recorded"), "{text}");
        assert!(text.contains("Incremented(uint256 newCount = 15)"), "{text}");
        assert!(text.contains("storage changes:"), "{text}");
    }

    #[test]
    fn abi_files_hold_an_array_or_an_artifact_with_one() {
        let abi = r#"[{"type":"function","name":"f","inputs":[],"outputs":[]}]"#;
        assert_eq!(abi_of(abi).unwrap(), serde_json::from_str::<Value>(abi).unwrap());
        let artifact = format!(r#"{{"contractName":"C","abi":{abi}}}"#);
        assert_eq!(abi_of(&artifact).unwrap(), serde_json::from_str::<Value>(abi).unwrap());
        assert!(abi_of(r#"{"bytecode":"00"}"#).is_err());
        assert!(abi_of("not json").is_err());
        assert!(abi_of("5").is_err());
    }

    #[tokio::test]
    async fn bad_ids_and_unreachable_nodes_get_clear_errors() {
        let err = fetch("http://127.0.0.1:9", "xyz", None, None, None).await.unwrap_err();
        assert!(err.to_string().contains("not 64 hex digits"), "{err}");
        let err = fetch("http://127.0.0.1:9", &"ab".repeat(32), None, None, None).await.unwrap_err();
        assert!(err.to_string().contains("cannot reach the node"), "{err}");
    }
}
