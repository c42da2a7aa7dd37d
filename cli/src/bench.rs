//! `govchain bench`: an open-loop load generator.
//!
//! Transactions are signed before the timed phase so signing does not take
//! cores from the node. The same run measures this machine's
//! signature-verification rate on all cores (the work a node must do for
//! every transaction) and divides it by the number of nodes sharing the
//! machine: that is the throughput ceiling the chain is compared against.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use govchain_crypto::PrivateKey;
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::{Transaction, api::SubmitMode};
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
    /// Offered load, transactions per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Length of the timed phase, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Chain nodes running on this machine (they share its cores).
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// Most requests in flight.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Value size of each put, bytes.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
}

const MAX_TXS: u64 = 2_000_000;

/// Runs the benchmark and prints one summary line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.rate == 0 || args.duration == 0 || args.nodes == 0 || args.concurrency == 0 {
        bail!("--rate, --duration, --nodes and --concurrency must be above 0");
    }
    let total = args.rate.saturating_mul(args.duration);
    if total > MAX_TXS {
        bail!("rate x duration = {total} transactions; at most {MAX_TXS} per run");
    }
    let client = Client::new(&args.node.node)?;
    let status = client.status().await.context("node status")?;
    let suite: govchain_crypto::Suite = status.suite.parse()?;
    if let Some(wanted) = args.suite
        && wanted != suite
    {
        bail!("--suite {wanted} but the node's chain uses {suite}");
    }

    eprintln!("signing {total} transactions ({suite}) ...");
    let wallet = Wallet::new(PrivateKey::generate(suite), status.chain_id.clone());
    let run_id = govchain_types::now_ms();
    let value = vec![b'v'; args.value_size];
    let txs: Vec<Transaction> = (0..total)
        .into_par_iter()
        .map(|i| {
            let call =
                DataCall::Put { key: format!("bench-{run_id}-{i}").into_bytes(), value: value.clone() };
            wallet.data_call(&call)
        })
        .collect::<Result<_, _>>()?;

    let sample = &txs[..txs.len().min(20_000)];
    let verify_started = Instant::now();
    let verified = sample.par_iter().filter(|tx| tx.verify(suite, &status.chain_id).is_ok()).count();
    let verify_rate = verified as f64 / verify_started.elapsed().as_secs_f64();
    if verified != sample.len() {
        bail!("{} of {} own transactions failed verification", sample.len() - verified, sample.len());
    }
    let verify_limit = verify_rate / f64::from(args.nodes);
    eprintln!(
        "verify rate {verify_rate:.0}/s on {} cores; limit per chain {verify_limit:.0} tx/s",
        rayon::current_num_threads()
    );

    let txs = Arc::new(txs);
    let next = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = tokio::time::Instant::now();
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (txs, next, client) = (txs.clone(), next.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut last_done = start;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(tx) = txs.get(i) else { break };
                let due = start + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due).await;
                // Latency counts from the scheduled time, so a saturated
                // node shows as queueing delay, not as a lower offered rate.
                match client.submit(tx, SubmitMode::Sync).await {
                    Ok(r) if r.receipt.is_some() => {
                        last_done = tokio::time::Instant::now();
                        latencies.push(last_done.duration_since(due));
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures, last_done)
        }));
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut failures = 0;
    let mut end = start;
    for w in workers {
        let (l, f, last) = w.await?;
        latencies.extend(l);
        failures += f;
        end = end.max(last);
    }
    latencies.sort_unstable();
    let elapsed = end.duration_since(start).as_secs_f64().max(1e-9);
    let committed = latencies.len();
    let tps = committed as f64 / elapsed;
    let pct = |p: f64| {
        latencies
            .get(((committed as f64 * p).ceil() as usize).saturating_sub(1).min(committed.saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    eprintln!("committed {committed} of {total} in {elapsed:.2}s, {failures} failed");
    println!(
        "tps={tps:.0} p50_ms={:.1} p99_ms={:.1} verify_limit_tps={verify_limit:.0} ratio={:.3}",
        pct(0.50),
        pct(0.99),
        tps / verify_limit
    );
    if failures > 0 {
        bail!("{failures} transactions failed");
    }
    Ok(())
}
