//! `govchain bench`: a load generator, open loop (a schedule of `--rate`
//! transactions per second) or closed loop (`--closed-loop`: `--in-flight`
//! submissions at all times, each followed by the next as soon as it
//! commits).
//!
//! Transactions are signed before the timed phase so signing does not take
//! cores from the node. The same run measures this machine's
//! signature-verification rate on all cores (the work a node must do for
//! every transaction) and divides it by the number of nodes sharing the
//! machine: that is the throughput ceiling the chain is compared against.
//!
//! Latency counts from the submission the node admitted to its commit, so
//! queueing in the node shows apart from the client's own backlog (printed
//! as `lag_p99_ms`: how late the open-loop schedule was sent). A busy node
//! answers 503 `overloaded` with `Retry-After`; the bench waits as told and
//! retries up to `--retries` times, and counts those refusals apart from
//! failures.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use govchain_crypto::{Address, PrivateKey};
use govchain_execution::{DataCall, abi::Abi};
use govchain_sdk::{Client, Retry, Wallet};
use govchain_types::{Transaction, TxStatus, api::SubmitMode};
use rayon::prelude::*;

use crate::NodeArg;

/// Arguments of `govchain bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Suite the chain uses; checked against the node.
    #[arg(long)]
    suite: Option<govchain_crypto::Suite>,
    /// Offered load of the open loop, transactions per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Length of the timed phase, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Chain nodes running on this machine (they share its cores).
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// Most requests in flight (the closed loop keeps exactly this many).
    #[arg(long, alias = "concurrency", default_value_t = 512)]
    in_flight: usize,
    /// Closed loop: ignore `--rate`, keep `--in-flight` submissions going
    /// for `--duration` seconds.
    #[arg(long)]
    closed_loop: bool,
    /// Retries of a submission the node refused as overloaded (after its
    /// `Retry-After`).
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Value size of each put, bytes (`data` workload).
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// What each transaction does: `data` (a put of the native data
    /// contract) or `erc20` (a token transfer on the EVM, to a new
    /// recipient each time, from a token the run deploys first). Several,
    /// comma-separated (`data,erc20`), run one after the other against the
    /// same chain and the same verify measurement.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "data")]
    workload: Vec<Workload>,
}

/// The transactions of a run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    /// Puts of the native data contract.
    Data,
    /// ERC-20 transfers on the EVM.
    Erc20,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Workload::Data => "data",
            Workload::Erc20 => "erc20",
        })
    }
}

/// Gas of one token transfer, with room (a first transfer to a new
/// recipient costs about 52,000).
const TRANSFER_GAS: u64 = 100_000;
/// Tokens the bench deploys its token with: more than any run transfers.
const TOKEN_SUPPLY: u64 = 1_000_000_000_000;

const MAX_TXS: u64 = 2_000_000;
/// Most in flight.
const MAX_IN_FLIGHT: usize = 20_000;
/// Transactions signed to measure the verify rate on.
const VERIFY_SAMPLE: usize = 2_000;
/// The verify rate is measured over passes of the sample for at least this
/// long (at most [`VERIFY_PASSES`] passes).
const VERIFY_TIME: Duration = Duration::from_secs(1);
const VERIFY_PASSES: usize = 20;

/// What one worker saw.
#[derive(Default)]
struct Tally {
    /// Commit latency from the admitted submission, and when it committed.
    committed: Vec<(Duration, tokio::time::Instant)>,
    /// How late the open loop sent its transactions.
    lag: Vec<Duration>,
    /// 503 `overloaded` answers.
    refused: u64,
    /// Transactions refused on every attempt.
    gave_up: u64,
    /// Any other error.
    failed: u64,
    first_error: Option<String>,
}

/// One workload's timed phase, as its summary line tells it.
struct Outcome {
    workload: Workload,
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    accepted: usize,
    refused: u64,
    failed: u64,
}

/// Runs the benchmark: one verify measurement, then each workload's timed
/// phase in turn against the same chain, one summary line each (and a
/// table of them when there are several).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.rate == 0 || args.duration == 0 || args.nodes == 0 || args.in_flight == 0 {
        bail!("--rate, --duration, --nodes and --in-flight must be above 0");
    }
    if args.in_flight > MAX_IN_FLIGHT {
        bail!("--in-flight {} is above {MAX_IN_FLIGHT}", args.in_flight);
    }
    let mut workloads = args.workload.clone();
    workloads.dedup();
    if workloads.is_empty() {
        bail!("--workload names no workload");
    }
    let open_total = args.rate.saturating_mul(args.duration);
    if !args.closed_loop && open_total > MAX_TXS {
        bail!("rate x duration = {open_total} transactions; at most {MAX_TXS} per run");
    }
    let client = Client::new(&args.node.node)?;
    let status = client.status().await.context("node status")?;
    let suite: govchain_crypto::Suite = status.suite.parse()?;
    if let Some(wanted) = args.suite
        && wanted != suite
    {
        bail!("--suite {wanted} but the node's chain uses {suite}");
    }

    let run_id = govchain_types::now_ms();
    let mut verify_limit = None;
    let mut outcomes = Vec::with_capacity(workloads.len());
    for (n, &workload) in workloads.iter().enumerate() {
        if n > 0 {
            // What the last phase left (retries past its window) drains.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // A wallet per workload: the token's supply belongs to its deployer.
        let wallet = Wallet::new(PrivateKey::generate(suite), status.chain_id.clone());
        let signer = Signer::new(workload, &client, wallet, run_id, args.value_size).await?;
        let first =
            if args.closed_loop { VERIFY_SAMPLE as u64 } else { open_total.min(VERIFY_SAMPLE as u64) };
        eprintln!("signing {first} transactions ({workload}, {suite}) ...");
        let mut txs = signer.sign(0..first)?;
        let limit = match verify_limit {
            Some(limit) => limit,
            None => {
                let rate = verify_rate(&txs[..txs.len().min(VERIFY_SAMPLE)], suite, &status.chain_id)?;
                let limit = rate / f64::from(args.nodes);
                eprintln!(
                    "verify rate {rate:.0}/s on {} cores; limit per chain {limit:.0} tx/s",
                    rayon::current_num_threads()
                );
                *verify_limit.insert(limit)
            }
        };
        // The closed loop cannot commit faster than the verify limit: half
        // as much again is enough supply.
        let total = if args.closed_loop {
            ((limit * 1.5) as u64).saturating_mul(args.duration).saturating_add(args.in_flight as u64 * 2)
        } else {
            open_total
        }
        .min(MAX_TXS);
        if total > first {
            eprintln!("signing {} more ...", total - first);
            txs.extend(signer.sign(first..total)?);
        }
        txs.truncate(total as usize);
        outcomes.push(phase(&args, &client, workload, txs, limit).await?);
    }
    let limit = verify_limit.unwrap_or_default();
    if outcomes.len() > 1 {
        println!("| workload | mode | tps | p50 ms | p99 ms | verify limit tx/s | ratio |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for o in &outcomes {
            println!(
                "| {} | {} | {:.0} | {:.1} | {:.1} | {limit:.0} | {:.3} |",
                o.workload,
                if args.closed_loop { "closed" } else { "open" },
                o.tps,
                o.p50_ms,
                o.p99_ms,
                o.tps / limit
            );
        }
    }
    let failed: Vec<String> =
        outcomes.iter().filter(|o| o.failed > 0).map(|o| format!("{} in {}", o.failed, o.workload)).collect();
    if !failed.is_empty() {
        bail!("transactions failed (other than 503 overloaded): {}", failed.join(", "));
    }
    if let Some(o) = outcomes.iter().find(|o| o.accepted == 0) {
        bail!("the {} workload committed nothing ({} refusals)", o.workload, o.refused);
    }
    Ok(())
}

/// Signs a workload's transactions.
struct Signer {
    wallet: Wallet,
    run_id: u64,
    value: Vec<u8>,
    /// The benchmark token (`erc20`).
    token: Option<(Address, Abi)>,
}

impl Signer {
    /// A signer for `workload`; deploys the token first for `erc20`.
    async fn new(
        workload: Workload,
        client: &Client,
        wallet: Wallet,
        run_id: u64,
        value_size: usize,
    ) -> anyhow::Result<Self> {
        let token = match workload {
            Workload::Data => None,
            Workload::Erc20 => Some(deploy_token(client, &wallet).await?),
        };
        Ok(Signer { wallet, run_id, value: vec![b'v'; value_size], token })
    }

    /// Transactions `range` of the workload, signed on all cores.
    fn sign(&self, range: std::ops::Range<u64>) -> anyhow::Result<Vec<Transaction>> {
        range
            .into_par_iter()
            .map(|i| match &self.token {
                None => {
                    let key = format!("bench-{}-{i}", self.run_id).into_bytes();
                    Ok(self.wallet.data_call(&DataCall::Put { key, value: self.value.clone() })?)
                }
                Some((token, abi)) => {
                    let to = recipient(self.run_id, i).to_string();
                    let input = abi
                        .encode_call("transfer", &[to.into(), 1.into()])
                        .map_err(|e| anyhow::anyhow!("a transfer: {e}"))?;
                    Ok(self.wallet.evm_call(token, input, TRANSFER_GAS)?)
                }
            })
            .collect()
    }
}

/// This machine's signature-verification rate over `sample`, on all cores.
fn verify_rate(sample: &[Transaction], suite: govchain_crypto::Suite, chain_id: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut verified = 0;
    for _ in 0..VERIFY_PASSES {
        let ok = sample.par_iter().filter(|tx| tx.verify(suite, chain_id).is_ok()).count();
        if ok != sample.len() {
            bail!("{} of {} own transactions failed verification", sample.len() - ok, sample.len());
        }
        verified += ok;
        if started.elapsed() >= VERIFY_TIME {
            break;
        }
    }
    Ok(verified as f64 / started.elapsed().as_secs_f64())
}

/// The timed phase of one workload over `txs`; prints its summary line.
async fn phase(
    args: &BenchArgs,
    client: &Client,
    workload: Workload,
    txs: Vec<Transaction>,
    verify_limit: f64,
) -> anyhow::Result<Outcome> {
    let retry = Retry { retries: args.retries, ..Retry::default() };
    let txs = Arc::new(txs);
    let next = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let window = Duration::from_secs(args.duration);
    let start = tokio::time::Instant::now();
    let closed = args.closed_loop;
    let mut workers = Vec::with_capacity(args.in_flight);
    for _ in 0..args.in_flight {
        let (txs, next, client) = (txs.clone(), next.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(tx) = txs.get(i) else { break };
                if closed {
                    if start.elapsed() >= window {
                        break;
                    }
                } else {
                    let due = start + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due).await;
                    t.lag.push(due.elapsed());
                }
                // The closed loop retries no refusal past its window.
                let until = closed.then_some(start + window);
                submit(&client, tx, retry, until, &mut t).await;
            }
            t
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.committed.extend(t.committed);
        all.lag.extend(t.lag);
        all.refused += t.refused;
        all.gave_up += t.gave_up;
        all.failed += t.failed;
        all.first_error = all.first_error.or(t.first_error);
    }
    if closed && next.load(Ordering::Relaxed) >= txs.len() {
        eprintln!("warning: the closed loop ran out of signed transactions before --duration");
    }

    // Throughput over the offered window (or up to the last commit if that
    // came first): the tail of retries after it does not dilute it.
    let last = all.committed.iter().map(|(_, at)| *at).max().unwrap_or(start);
    let span = last.duration_since(start).min(window);
    let in_span = all.committed.iter().filter(|(_, at)| at.duration_since(start) <= span).count();
    let tps = in_span as f64 / span.as_secs_f64().max(1e-9);
    let mut latencies: Vec<Duration> = all.committed.iter().map(|(d, _)| *d).collect();
    let accepted = latencies.len();
    eprintln!(
        "committed {accepted} of {} sent in {:.2}s ({in_span} within {:.2}s); {} refusals (503 overloaded), \
         {} gave up after {} retries, {} failed",
        next.load(Ordering::Relaxed).min(txs.len()),
        last.duration_since(start).as_secs_f64(),
        span.as_secs_f64(),
        all.refused,
        all.gave_up,
        args.retries,
        all.failed
    );
    if let Some(e) = &all.first_error {
        eprintln!("first failure: {e}");
    }
    let (p50_ms, p99_ms) = (percentile(&mut latencies, 0.50), percentile(&mut latencies, 0.99));
    println!(
        "workload={workload} mode={} tps={tps:.0} p50_ms={p50_ms:.1} p99_ms={p99_ms:.1} accepted={accepted} \
         refused={} gave_up={} failed={} lag_p99_ms={:.1} verify_limit_tps={verify_limit:.0} ratio={:.3}",
        if closed { "closed" } else { "open" },
        all.refused,
        all.gave_up,
        all.failed,
        percentile(&mut all.lag, 0.99),
        tps / verify_limit
    );
    Ok(Outcome { workload, tps, p50_ms, p99_ms, accepted, refused: all.refused, failed: all.failed })
}

/// Submits `tx` synchronously, retrying refusals as the node asks (not
/// after `until`).
async fn submit(
    client: &Client,
    tx: &Transaction,
    retry: Retry,
    until: Option<tokio::time::Instant>,
    t: &mut Tally,
) {
    let mut attempt = 0;
    loop {
        let sent = tokio::time::Instant::now();
        match client.submit(tx, SubmitMode::Sync).await {
            Ok(r) if r.receipt.as_ref().is_some_and(|r| r.status == TxStatus::Success) => {
                let now = tokio::time::Instant::now();
                t.committed.push((now.duration_since(sent), now));
                return;
            }
            Ok(r) if r.receipt.is_some() => {
                t.failed += 1;
                let message = r.receipt.map(|r| r.message).unwrap_or_default();
                t.first_error.get_or_insert_with(|| format!("{}: failed: {message}", r.tx_id));
                return;
            }
            Ok(r) => {
                t.failed += 1;
                t.first_error
                    .get_or_insert_with(|| format!("{}: answered `{}` without a receipt", r.tx_id, r.status));
                return;
            }
            Err(e) if e.is_overloaded() => {
                t.refused += 1;
                let wait = retry.wait(&e);
                let late = until.is_some_and(|u| tokio::time::Instant::now() + wait >= u);
                if attempt >= retry.retries || late {
                    t.gave_up += 1;
                    return;
                }
                attempt += 1;
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                t.failed += 1;
                t.first_error.get_or_insert_with(|| e.to_string());
                return;
            }
        }
    }
}

/// The benchmark token: the ERC-20 template compiled with the pinned
/// solc, deployed with [`TOKEN_SUPPLY`] for `wallet`. Its address and ABI.
async fn deploy_token(client: &Client, wallet: &Wallet) -> anyhow::Result<(Address, Abi)> {
    let t = govchain_contracts::templates::TOKEN;
    eprintln!("compiling the {} template ...", t.contract);
    let compiled = tokio::task::spawn_blocking(move || {
        govchain_contracts::compile(&[(t.file, t.source)], &govchain_contracts::CompileOptions::default())
    })
    .await??;
    let token = compiled.contract(t.contract).context("the compiled template has no Token contract")?;
    let abi = Abi::from_value(token.abi.clone()).map_err(|e| anyhow::anyhow!("the token's ABI: {e}"))?;
    let mut code = token.bytecode_bytes()?;
    let args = abi
        .encode_constructor(&["Bench".into(), "BNCH".into(), TOKEN_SUPPLY.to_string().into()])
        .map_err(|e| anyhow::anyhow!("the token's constructor: {e}"))?;
    code.extend_from_slice(&args);
    let tx = wallet.evm_create(code, 5_000_000)?;
    let r = client.submit(&tx, SubmitMode::Sync).await.context("deploying the benchmark token")?;
    let receipt = r.receipt.context("the token deployment was admitted but not committed")?;
    if receipt.status != TxStatus::Success {
        bail!(
            "deploying the benchmark token failed: {} (does the chain's genesis name the evm engine?)",
            receipt.message
        );
    }
    let address: [u8; 20] =
        receipt.output.as_slice().try_into().context("the deployment's output is not a 20-byte address")?;
    eprintln!("token deployed at {}", Address(address));
    Ok((Address(address), abi))
}

/// A distinct recipient for transfer `i` of run `run_id`.
fn recipient(run_id: u64, i: u64) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&run_id.to_be_bytes());
    a[12..].copy_from_slice(&i.to_be_bytes());
    Address(a)
}

/// The `p` quantile in ms (sorts `values`).
fn percentile(values: &mut [Duration], p: f64) -> f64 {
    values.sort_unstable();
    let n = values.len();
    values
        .get(((n as f64 * p).ceil() as usize).saturating_sub(1).min(n.saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
