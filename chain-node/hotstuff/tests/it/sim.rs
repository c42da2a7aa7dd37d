//! The protocol under the deterministic simulator: many seeds per scenario,
//! safety checked throughout every run, liveness after GST.

use govchain_crypto::Suite;
use govchain_hotstuff::sim::{Report, Scenario, run};

fn many(name: &str, seeds: std::ops::Range<u64>, make: impl Fn(u64) -> Scenario) -> (u64, u64) {
    let mut runs = 0;
    let mut commits = 0;
    let mut events = 0;
    let mut timeouts = 0;
    for seed in seeds {
        let sc = make(seed);
        let r: Report = run(&sc).unwrap_or_else(|e| panic!("{name}: {e}"));
        runs += 1;
        commits += r.commits;
        events += r.events;
        timeouts += r.timeout_rounds;
    }
    println!(
        "{name}: {runs} runs, {commits} ledger commits on honest members, {events} events, {timeouts} TC rounds"
    );
    (runs, commits)
}

fn suite(seed: u64) -> Suite {
    if seed % 2 == 0 { Suite::Gm } else { Suite::IntlR1 }
}

#[test]
fn four_honest_members_with_drops_and_partitions() {
    let (runs, commits) = many("n=4 honest", 0..40, |seed| {
        let mut sc = Scenario::new(suite(seed), 4, seed);
        sc.partitions = 1 + (seed % 3) as usize;
        sc
    });
    assert_eq!(runs, 40);
    assert!(commits > 0);
}
