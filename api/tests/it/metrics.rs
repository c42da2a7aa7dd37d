//! Monitoring through the REST API on a real chain: the collector stores
//! every node's figures, a chain's height series rises, tenancy holds, the
//! platform's own figures are the super admin's; and the collector's
//! storage cost at 100 chains of 4 nodes, printed.

use std::time::{Duration, Instant};

use govchain_api::services::metrics::{self, Owner, SeriesIds, parse, select};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform};

fn now_ms() -> i64 {
    govchain_api::now_ms()
}

/// The points of `metric` of node `node` in a metrics answer.
fn points(v: &Value, metric: &str) -> Vec<f64> {
    v["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metric"] == metric)
        .flat_map(|s| s["points"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_collector_stores_node_figures_and_charts_respect_tenancy() {
    collector_and_charts(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_collector_and_charts_on_postgres() {
    collector_and_charts(Db::Postgres).await;
}

async fn collector_and_charts(db: Db) {
    let tp = TestPlatform::start_with(db, |c| c.metrics_interval = Duration::from_millis(500)).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "watched", "consensus": "solo", "suite": "gm", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = crate::contract_lifecycle::running_chain(&admin, &bob, spec).await;
    let since = now_ms() - 60_000;

    // Blocks keep coming while the collector scrapes: the height series of
    // the node rises.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0u32;
    let chart = loop {
        i += 1;
        let digest = format!("{i:064x}");
        bob.post(&format!("/api/v1/chains/{chain}/evidence"), json!({"digest": digest})).await;
        let v = bob
            .get(&format!("/api/v1/metrics/chains/{chain}?metric=height,up,tps&from={since}&step=500"))
            .await;
        let h = points(&v, "height");
        let mut distinct = h.clone();
        distinct.dedup();
        if distinct.len() >= 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "no rising height series within 60 s: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let h = points(&chart, "height");
    assert!(h.windows(2).all(|w| w[1] >= w[0]) && h.last() > h.first(), "{chart}");
    assert_eq!(chart["resolution"], "raw");
    let node = chart["series"][0]["node"].as_str().unwrap_or_default().to_owned();
    assert!(!node.is_empty(), "{chart}");
    assert!(points(&chart, "up").iter().all(|u| *u == 1.0), "{chart}");
    assert!(!points(&chart, "tps").is_empty(), "{chart}");
    let node_id = chart["series"][0]["node_id"].as_i64().unwrap();

    // A 30-day chart reads hourly averages; the newest part, not rolled up
    // into any hour yet, comes from the raw samples, so a new chain's long
    // chart is not empty.
    let month = bob
        .get(&format!("/api/v1/metrics/chains/{chain}?metric=height&from={}", now_ms() - 30 * 86_400_000))
        .await;
    assert_eq!(month["resolution"], "1h", "{month}");
    assert!(points(&month, "height").last().is_some_and(|h| *h >= 1.0), "{month}");

    // One node's process and host figures.
    let v = bob
        .get(&format!(
            "/api/v1/metrics/nodes/{chain}/{node_id}?metric=process_resident_memory_bytes,disk_free_bytes,is_leader&from={since}"
        ))
        .await;
    assert!(points(&v, "process_resident_memory_bytes").iter().all(|m| *m > 1e6), "{v}");
    assert!(!points(&v, "disk_free_bytes").is_empty(), "{v}");
    assert_eq!(points(&v, "is_leader").last(), Some(&1.0), "{v}");

    // Another department sees nothing of the chain; the platform's own
    // figures are the super admin's.
    let other = admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Land Office", "domain": "land.gov", "admin_username": "lin", "admin_real_name": "Lin"}),
        )
        .await;
    let lin = Client::login(&tp.url, "lin", other["initial_password"].as_str().unwrap()).await;
    for path in
        [format!("/api/v1/metrics/chains/{chain}"), format!("/api/v1/metrics/nodes/{chain}/{node_id}")]
    {
        let (s, body) = lin.call(Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = bob.call(Method::GET, "/api/v1/metrics/platform", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let v = admin.get(&format!("/api/v1/metrics/platform?from={since}")).await;
    assert!(
        points(&v, "process_open_fds").iter().all(|f| *f >= 3.0)
            && !points(&v, "process_open_fds").is_empty()
    );
    assert!(!points(&v, "http_requests").is_empty(), "{v}");

    // Refused questions name their field.
    for (q, field) in [
        ("metric=nonsense", "metric"),
        ("from=20&to=10", "from"),
        ("from=0&to=9999999999999", "from"),
        ("step=0", "step"),
        ("to=-5", "to"),
    ] {
        let (s, body) = bob.call(Method::GET, &format!("/api/v1/metrics/chains/{chain}?{q}"), None).await;
        assert_eq!(
            (s, body["details"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{q}"
        );
    }
    let (s, _) = bob.call(Method::GET, &format!("/api/v1/metrics/chains/{chain}?from=x"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The platform's /metrics counts requests by route pattern.
    let text = reqwest::get(format!("{}/metrics", tp.url)).await.unwrap().text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("govchain_api_http_requests_total{")
            && l.contains("route=\"/api/v1/metrics/chains/{id}\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("govchain_api_process_resident_memory_bytes"), "{text}");
    assert!(text.contains("govchain_api_collector_scrapes_total{result=\"ok\"}"), "{text}");
}

/// A node's scrape as it looks with a few hundred transactions committed.
fn synthetic_scrape(chain: usize, node: usize, round: usize) -> String {
    let mut s = String::new();
    let h = 1000 + round;
    s.push_str("# HELP govchain_node_height Committed block height\n# TYPE govchain_node_height gauge\n");
    s.push_str(&format!("govchain_node_height {h}\n"));
    s.push_str(&format!("govchain_node_blocks_total {h}\n"));
    s.push_str(&format!("govchain_node_transactions_total{{status=\"success\"}} {}\n", h * 7));
    s.push_str(&format!("govchain_node_transactions_total{{status=\"failed\"}} {}\n", chain + node));
    s.push_str("govchain_node_pending 3\ngovchain_node_block_interval_seconds 1.0\n");
    s.push_str(&format!("govchain_node_peers 3\ngovchain_node_is_leader {}\n", u8::from(node == 0)));
    for r in ["leader", "follower", "learner", "stopped"] {
        s.push_str(&format!("govchain_node_consensus_role{{role=\"{r}\"}} {}\n", u8::from(r == "leader")));
    }
    for b in ["0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1.0", "2.0", "+Inf"] {
        s.push_str(&format!("govchain_node_commit_seconds_bucket{{le=\"{b}\"}} {h}\n"));
    }
    s.push_str(&format!(
        "govchain_node_process_cpu_seconds {}\ngovchain_node_process_resident_memory_bytes 52428800\n\
         govchain_node_process_open_fds 40\ngovchain_node_disk_used_bytes 1073741824\n\
         govchain_node_disk_free_bytes 9663676416\ngovchain_node_network_receive_bytes {}\n\
         govchain_node_network_transmit_bytes {}\ngovchain_node_cert_expiry_timestamp_seconds 1.9e9\n# EOF\n",
        round as f64 * 0.1,
        round * 1000,
        round * 900
    ));
    s
}

/// Not a timing assertion: prints what collecting 100 chains x 4 nodes
/// costs per round (parse, select and store in SQLite, plus rollup and
/// retention) and the database growth per day at a 15 s interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_cost_at_100_chains_of_4_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.db");
    let db = govchain_api::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
    let ids = SeriesIds::default();
    let keep = metrics::Retention::default();
    let (chains, nodes, rounds) = (100usize, 4usize, 8usize);
    let texts: Vec<Vec<String>> = (0..rounds)
        .map(|r| (0..chains * nodes).map(|i| synthetic_scrape(i / nodes, i % nodes, r)).collect())
        .collect();
    let cpu =
        || govchain_hoststats::cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
    let db_size = async || {
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
        std::fs::metadata(&file).unwrap().len()
    };
    let start = 50 * 24 * 3_600_000i64;
    let mut cpu_per_round = Vec::new();
    let mut rows = 0;
    let before = db_size().await;
    for (r, round) in texts.iter().enumerate() {
        let (c0, t0) = (cpu(), Instant::now());
        let mut samples: Vec<(Owner, &str, f64)> = Vec::new();
        for (i, text) in round.iter().enumerate() {
            let owner = Owner { chain_id: Some((i / nodes) as i64 + 1), node_id: Some(i as i64 + 1) };
            samples.push((owner, metrics::UP, 1.0));
            samples
                .extend(select(&parse(text), &metrics::NODE_SERIES).into_iter().map(|(k, v)| (owner, k, v)));
        }
        let now = start + r as i64 * 15_000;
        rows = metrics::store(&db, &ids, now, &samples).await.unwrap();
        metrics::rollup(&db, now, Duration::from_secs(15)).await.unwrap();
        metrics::expire(&db, now, &keep).await.unwrap();
        let (cpu_s, wall) = (cpu() - c0, t0.elapsed());
        // The first round also creates every series row.
        if r > 0 {
            cpu_per_round.push((cpu_s, wall));
        }
    }
    assert_eq!(rows, chains * nodes * (metrics::NODE_SERIES.len() + 1), "every node's chosen series stored");
    let grown = db_size().await.saturating_sub(before);
    let per_row = grown as f64 / (rows * rounds) as f64;
    let rounds_per_day = 24.0 * 3600.0 / 15.0;
    let cpu_mean = cpu_per_round.iter().map(|c| c.0).sum::<f64>() / cpu_per_round.len() as f64;
    let wall_mean = cpu_per_round.iter().map(|c| c.1.as_secs_f64()).sum::<f64>() / cpu_per_round.len() as f64;
    let raw_day = per_row * rows as f64 * rounds_per_day;
    // Kept at steady state: 24 h raw, 7 days of minutes, 30 days of hours.
    let steady = per_row * rows as f64 * (rounds_per_day + 7.0 * 1440.0 + 30.0 * 24.0);
    println!(
        "collector, {chains} chains x {nodes} nodes, {rows} rows per round: CPU {:.1} ms per round ({:.2}% of one core at 15 s), wall {:.1} ms; {per_row:.0} bytes per row; raw growth {:.0} MB per day; steady state with rollups {:.0} MB",
        cpu_mean * 1000.0,
        cpu_mean / 15.0 * 100.0,
        wall_mean * 1000.0,
        raw_day / 1e6,
        steady / 1e6
    );
}

/// Not a timing assertion: prints how long a chain's 30-day dashboard
/// takes to read (its six charts, four nodes) from a SQLite database that
/// holds 30 days of hourly averages of 100 chains x 4 nodes, plus their
/// newest minute averages and raw samples (the part a long chart reads
/// from finer resolutions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_query_time_for_30_days() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.db");
    let db = govchain_api::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
    let ids = SeriesIds::default();
    let (chains, nodes) = (100usize, 4usize);
    let hour = 3_600_000i64;
    let now = 80 * 24 * hour + 20 * 60_000;
    // One scrape of every node makes the series rows (and the newest raw samples).
    let texts: Vec<String> = (0..chains * nodes).map(|i| synthetic_scrape(i / nodes, i % nodes, 1)).collect();
    let mut samples: Vec<(Owner, &str, f64)> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let owner = Owner { chain_id: Some((i / nodes) as i64 + 1), node_id: Some(i as i64 + 1) };
        samples.push((owner, metrics::UP, 1.0));
        samples.extend(select(&parse(text), &metrics::NODE_SERIES).into_iter().map(|(k, v)| (owner, k, v)));
    }
    let last_hour = (now / hour - 1) * hour;
    for t in (last_hour + hour..now).step_by(15_000).take(4) {
        metrics::store(&db, &ids, t, &samples).await.unwrap();
    }
    // 30 days of hours, and the last two hours of minutes, written by SQL.
    let fill = |res: i64, width: i64, count: i64, end: i64| {
        format!(
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < {}) \
             INSERT INTO metric_samples (series_id, res, ts, value) \
             SELECT s.id, {res}, {end} - (k.i + 1) * {width}, {count} - k.i FROM metric_series s, k WHERE true \
             ON CONFLICT DO NOTHING",
            count - 1
        )
    };
    db.execute_unprepared(&fill(3600, hour, 30 * 24, last_hour + hour)).await.unwrap();
    db.execute_unprepared(&fill(60, 60_000, 120, last_hour + hour)).await.unwrap();
    let rows: i64 = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM metric_samples",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let keep = metrics::Retention::default();
    let range = metrics::Range { from: now - 30 * 24 * hour, to: now, step: None };
    let names = ["height", "tps", "pending", "block_interval_seconds", "peers", "up"];
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let a = metrics::read(
            &db,
            Owner { chain_id: Some(42), node_id: None },
            &names,
            &range,
            now,
            &keep,
            Duration::from_secs(15),
        )
        .await
        .unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(a.res, metrics::res::HOUR);
        assert_eq!(a.series.len(), names.len() * nodes, "every chart has its four nodes ({rows} rows)");
        // At most 500 points: 1.44 h apart, up to the newest raw samples.
        let newest = now - a.step;
        assert!(
            a.series.iter().all(|s| s.points.len() >= 490 && s.points.last().is_some_and(|p| p.0 >= newest)),
            "30 days of points and the newest, not rolled up yet: {:?} points, last {:?}, now {now}, step {}",
            a.series.iter().map(|s| s.points.len()).collect::<Vec<_>>(),
            a.series[0].points.last(),
            a.step
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "30-day chain dashboard ({} series, {} nodes) over {rows} stored samples of {chains} chains x {nodes} nodes: median {:.1} ms, slowest {:.1} ms (debug build)",
        names.len(),
        nodes,
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// The rollup, retention and chart SQL on PostgreSQL (the unit tests run
/// them on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_and_retention_on_postgres() {
    let db = govchain_api::connect(&crate::support::postgres_db().await).await.unwrap();
    let ids = SeriesIds::default();
    let owner = Owner { chain_id: Some(7), node_id: Some(9) };
    let start = 40 * 24 * 3_600_000i64;
    // Two hours of 15 s scrapes, height rising by one each.
    for i in 0..480i64 {
        metrics::store(&db, &ids, start + i * 15_000, &[(owner, "height", i as f64)]).await.unwrap();
    }
    let end = start + 480 * 15_000;
    metrics::rollup(&db, end + 15_000, Duration::from_secs(15)).await.unwrap();
    let keep = metrics::Retention::default();
    let range = metrics::Range { from: start, to: end, step: None };
    let read = |now: i64| {
        let (db, range) = (&db, &range);
        async move {
            metrics::read(
                db,
                Owner { chain_id: Some(7), node_id: None },
                &["height"],
                range,
                now,
                &keep,
                Duration::from_secs(15),
            )
            .await
            .unwrap()
        }
    };
    let minutes = read(end + 2 * 24 * 3_600_000).await;
    assert_eq!(minutes.res, metrics::res::MINUTE);
    assert_eq!(minutes.series[0].points.len(), 120);
    assert_eq!(minutes.series[0].points[0], (start, 1.5));
    let hours = read(end + 20 * 24 * 3_600_000).await;
    assert_eq!(hours.series[0].points, vec![(start, 119.5), (start + 3_600_000, 359.5)]);
    assert_eq!(metrics::expire(&db, end + 25 * 3_600_000, &keep).await.unwrap(), 480);
    assert_eq!(metrics::expire(&db, end + 31 * 24 * 3_600_000, &keep).await.unwrap(), 120 + 2);
}
