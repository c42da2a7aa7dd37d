//! Backpressure on a replicated chain of real processes on 127.0.0.x: the
//! chain's capacity is measured with `govchain bench --closed-loop`, then it
//! is offered three times that (open loop, enough in flight to fill the
//! node's admission queue). It keeps committing at least 90% of its
//! capacity, the p99 commit latency of admitted transactions (from their
//! submission) stays under 2 s, and every refusal is a 503 `overloaded`.

use std::{process::Command, time::Instant};

use govchain_sdk::Client;

use crate::net::{Started, leader_among};

/// Seconds of each phase.
const PHASE_S: u64 = 6;
/// Most submissions the bench keeps in flight.
const MAX_IN_FLIGHT: f64 = 16_000.0;

/// The bench's summary line as `name=value` pairs.
struct Summary(String);

impl Summary {
    fn get(&self, name: &str) -> f64 {
        self.0
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name}= missing in {}", self.0))
            .parse()
            .unwrap_or_else(|e| panic!("{name} in {}: {e}", self.0))
    }
}

fn bench(url: &str, args: &[&str]) -> Summary {
    let out = Command::new(env!("CARGO_BIN_EXE_govchain"))
        .args(["bench", "--node", url, "--suite", "gm", "--nodes", "4"])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("bench {args:?}:\n{stderr}{stdout}");
    assert!(out.status.success(), "bench {args:?} failed:\n{stdout}\n{stderr}");
    Summary(stdout.lines().last().unwrap_or_default().to_owned())
}

/// `govchain_node_rejected_total` by reason, summed over the nodes.
async fn rejections(urls: &[String]) -> Vec<(String, f64)> {
    let mut by_reason: Vec<(String, f64)> = Vec::new();
    for url in urls {
        let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
        for line in text.lines().filter(|l| l.starts_with("govchain_node_rejected_total{")) {
            let reason = line.split('"').nth(1).unwrap_or_default().to_owned();
            let n: f64 = line.rsplit(' ').next().unwrap_or_default().parse().unwrap_or(0.0);
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, total)) => *total += n,
                None => by_reason.push((reason, n)),
            }
        }
    }
    by_reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_offered_three_times_its_capacity_keeps_committing_and_refuses_with_503() {
    // Alone on the machine's cores: the two phases are compared.
    let _cpu = crate::exclusive_cpu();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let o = out.to_str().unwrap();
    let base = 36_000 + (std::process::id() % 1_000) as u16 * 2;
    let first = 81u8;
    crate::ok(&[
        "net",
        "init",
        "--nodes",
        "4",
        "--suite",
        "gm",
        "--out",
        o,
        "--first-ip",
        &first.to_string(),
        "--api-port",
        &base.to_string(),
        "--p2p-port",
        &(base + 1).to_string(),
    ]);
    crate::ok(&["net", "start", o]);
    let _guard = Started(out.clone());
    let urls: Vec<String> = (0..4u8).map(|i| format!("http://127.0.0.{}:{base}", first + i)).collect();
    let clients: Vec<Client> = urls.iter().map(|u| Client::new(u).unwrap()).collect();
    let leader = leader_among(&clients, None).await;
    let url = &urls[leader.trim_start_matches("node").parse::<usize>().unwrap()];

    // Capacity: a closed loop with more in flight than the node admits.
    let capacity = bench(url, &["--closed-loop", "--in-flight", "4000", "--duration", &PHASE_S.to_string()]);
    let tps = capacity.get("tps");
    assert!(tps > 0.0, "the chain committed nothing");
    assert_eq!(capacity.get("failed"), 0.0);

    // Three times that, open loop, every transaction tried once; in flight
    // room for all that the node admits and for the refusals.
    let rate = (3.0 * tps).ceil() as u64;
    let in_flight = (rate as f64 * 2.0).clamp(4000.0, MAX_IN_FLIGHT) as u64;
    let before = rejections(&urls).await;
    let overload = bench(
        url,
        &[
            "--rate",
            &rate.to_string(),
            "--in-flight",
            &in_flight.to_string(),
            "--retries",
            "0",
            "--duration",
            &PHASE_S.to_string(),
        ],
    );
    let after = rejections(&urls).await;
    let count =
        |v: &[(String, f64)], reason: &str| v.iter().find(|(r, _)| r == reason).map_or(0.0, |(_, n)| *n);

    let kept = overload.get("tps") / tps;
    let p99 = overload.get("p99_ms");
    let refused = overload.get("refused");
    eprintln!(
        "capacity {tps:.0} tx/s (ratio {:.3}); offered {rate} tx/s: committed {:.0} tx/s ({:.0}% of capacity), \
         p50 {:.0} ms, p99 {p99:.0} ms, {} admitted, {refused} refused; {:.1} s in all",
        capacity.get("ratio"),
        overload.get("tps"),
        kept * 100.0,
        overload.get("p50_ms"),
        overload.get("accepted"),
        started.elapsed().as_secs_f64()
    );
    assert!(kept >= 0.9, "committed {:.0} tx/s under overload, below 90% of {tps:.0}", overload.get("tps"));
    assert!(p99 < 2000.0, "p99 commit latency {p99} ms from submission");
    assert!(refused > 0.0, "three times the capacity was never refused");
    // The bench counts a 503 `overloaded` as a refusal and anything else
    // (another status, a timeout, a dropped connection) as a failure.
    assert_eq!(overload.get("failed"), 0.0, "a submission failed other than with 503");
    assert_eq!(overload.get("accepted") + overload.get("gave_up"), rate as f64 * PHASE_S as f64);
    // The nodes agree: every refusal they counted in that phase was
    // `overloaded`, as many as the bench saw.
    let new: Vec<(String, f64)> =
        after.iter().map(|(r, n)| (r.clone(), n - count(&before, r))).filter(|(_, n)| *n > 0.0).collect();
    assert!(new.iter().all(|(r, _)| r == "overloaded"), "other refusals: {new:?}");
    assert_eq!(count(&new, "overloaded"), refused, "node and bench count the refusals alike");
}
