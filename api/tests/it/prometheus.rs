//! A real Prometheus (Debian's `prometheus`, installed by
//! scripts/test-deps.sh) scrapes a running platform and its chain's nodes
//! on loopback: a query for the height returns every node's value, every
//! metric the shipped rules and dashboard name is served, and `promtool`
//! accepts the shipped rules.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use govchain_api::entity::node;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::support::{Db, TestPlatform};

fn chart_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/govchain/files").join(name)
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: run scripts/test-deps.sh (Debian package prometheus)")
    })
}

/// Kills the Prometheus this test started, however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `govchain_*` names in a rules file or dashboard, without the
/// suffixes a histogram's series carry.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("govchain_node_") || w.starts_with("govchain_api_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    let out = Command::new(tool("promtool"))
        .args(["check", "rules"])
        .arg(chart_file("prometheus-rules.yaml"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("SUCCESS"), "{text}");
    assert!(text.contains("13 rules found"), "{text}");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(chart_file("grafana-dashboard.json")).unwrap())
            .unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_prometheus_scrapes_the_platform_and_its_nodes() {
    let prometheus = tool("prometheus");
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "scraped", "consensus": "raft", "suite": "gm", "nodes": 3,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = crate::contract_lifecycle::running_chain(&admin, &bob, spec).await;
    for i in 0..3u32 {
        bob.post(&format!("/api/v1/chains/{chain}/evidence"), json!({"digest": format!("{:064x}", i + 1)}))
            .await;
    }
    let db = &tp.platform.as_ref().unwrap().state.db;
    let nodes: Vec<String> = node::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.chain_id == chain)
        .map(|n| n.api_url.trim_start_matches("http://").trim_end_matches('/').to_owned())
        .collect();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.starts_with("127.")), "{nodes:?}");
    let platform = tp.url.trim_start_matches("http://").to_owned();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: govchain-platform\n    static_configs:\n      - targets: ['{platform}']\n\
             \x20 - job_name: govchain-nodes\n    static_configs:\n      - targets: [{}]\n",
            chart_file("prometheus-rules.yaml").display(),
            nodes.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _running = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let query = |q: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://127.0.0.1:{port}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?;
            r.json::<Value>().await.ok()
        }
    };
    let heights_of_nodes = async || {
        let v = query("govchain_node_height".into()).await?;
        let result = v["data"]["result"].as_array()?.clone();
        let mut by: Vec<(String, f64)> = result
            .iter()
            .filter_map(|r| {
                Some((r["metric"]["instance"].as_str()?.to_owned(), r["value"][1].as_str()?.parse().ok()?))
            })
            .collect();
        by.sort_by(|a, b| a.0.cmp(&b.0));
        Some(by)
    };

    // Every node's height, as high as the three committed transactions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let heights = loop {
        let got = heights_of_nodes().await.unwrap_or_default();
        if got.len() == nodes.len() && got.iter().all(|(_, h)| *h >= 3.0) {
            break got;
        }
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "Prometheus has not every node's height within 60 s: {got:?}\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut instances: Vec<&str> = heights.iter().map(|(i, _)| i.as_str()).collect();
    instances.sort();
    let mut want: Vec<&str> = nodes.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(instances, want);
    // Each is what the node itself says.
    for (instance, h) in &heights {
        let status: Value =
            http.get(format!("http://{instance}/v1/status")).send().await.unwrap().json().await.unwrap();
        assert!(status["height"].as_f64().unwrap() >= *h, "{instance}: {status} vs {h}");
    }
    // One leader among the three.
    let leaders = query("sum(govchain_node_is_leader)".into()).await.unwrap();
    assert_eq!(leaders["data"]["result"][0]["value"][1], "1", "{leaders}");
    // The platform's own series, and the recording rules evaluate.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let api = query("govchain_api_process_resident_memory_bytes".into()).await.unwrap_or_default();
        let ratio = query("govchain:node_disk_used:ratio".into()).await.unwrap_or_default();
        let n = |v: &Value| v["data"]["result"].as_array().map_or(0, Vec::len);
        if n(&api) == 1 && n(&ratio) == nodes.len() {
            break;
        }
        assert!(Instant::now() < deadline, "platform or rule series missing: {api} {ratio}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every name the shipped rules and dashboard use is served.
    let served: Value = http
        .get(format!("http://127.0.0.1:{port}/api/v1/label/__name__/values"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served: Vec<&str> = served["data"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let used = [
        std::fs::read_to_string(chart_file("prometheus-rules.yaml")).unwrap(),
        std::fs::read_to_string(chart_file("grafana-dashboard.json")).unwrap(),
    ]
    .concat();
    for name in metric_names(&used) {
        assert!(served.contains(&name.as_str()), "{name} is not served; served: {served:?}");
    }
}
