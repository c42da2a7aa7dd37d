//! Logs through the REST API on a real local chain (SPEC OPS-3): a
//! regular-expression search finds what the node wrote, a warning the
//! node logs for a forged transaction is in the day's error download, a
//! file of 29 days ago downloads and one of 31 is refused (and removed
//! when the node restarts), the level turns to debug at run time and debug
//! lines appear without a restart, the live stream carries new lines with
//! the session cookie, an auditor reads but does not change the level,
//! another department sees none of it; the platform's own log is the super
//! admin's.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use govchain_logstore::{LogConfig, LogLine, LogStore, LogType, format_day, today};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    contract_lifecycle::running_chain,
    support::{Client, Db, TestPlatform, eventually},
};

/// The text of a download (the client parses a one-line body as JSON).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

fn messages(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

fn old_line(day: i64, message: &str) -> String {
    let line = LogLine {
        ts: day * 86_400_000 + 3_600_000,
        level: "ERROR".into(),
        kind: LogType::Error,
        target: "govchain::node".into(),
        message: message.into(),
        fields: serde_json::Map::new(),
    };
    serde_json::to_string(&line).unwrap() + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_logs_search_download_stream_and_level_at_run_time() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "logged", "consensus": "solo", "suite": "gm", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = running_chain(&admin, &bob, spec).await;
    let c = bob.get(&format!("/api/v1/chains/{chain}")).await;
    let node = &c["nodes"][0];
    let (node_id, name) = (node["id"].as_i64().unwrap(), node["name"].as_str().unwrap().to_owned());
    let api_url = node["api_url"].as_str().unwrap().to_owned();
    let chain_key = c["chain_key"].as_str().unwrap().to_owned();
    let store: PathBuf =
        tp.hosts().join("orgs").join("tax.gov").join(&chain_key).join(&name).join("data/logs");
    let base = format!("/api/v1/chains/{chain}/nodes/{node_id}");

    // A regular expression finds the node's own start line in its system log.
    let found = eventually("the node's start in its system log", Duration::from_secs(30), || async {
        let v = bob.get(&format!("{base}/logs?type=system&q=%5Egovchain%3A%3Asystem%3A%3Anode%20node%20start(ed%7Cing)&regex=true&from=0")).await;
        (!v.as_array().unwrap().is_empty()).then_some(v)
    })
    .await;
    let first = &found[0];
    assert_eq!((first["type"].as_str(), first["level"].as_str()), (Some("system"), Some("INFO")), "{found}");
    assert!(first["ts"].as_i64().unwrap() > 0 && first["fields"].is_object(), "{found}");
    assert!(messages(&found).iter().all(|m| m.starts_with("node start")), "{found}");
    let none = bob.get(&format!("{base}/logs?type=system&q=no-such-line-anywhere&from=0")).await;
    assert_eq!(none, json!([]));

    // A forged transaction sent to the node: the node refuses it and says so
    // in its error log, which today's download carries.
    let wallet = govchain_sdk::Wallet::new(
        govchain_crypto::PrivateKey::generate(govchain_crypto::Suite::Gm),
        &chain_key,
    );
    let put = |v: &str| govchain_execution::DataCall::Put { key: "k".into(), value: v.into() };
    let mut forged = wallet.data_call(&put("1")).unwrap();
    forged.body.data = govchain_types::Encode::encode(&put("2"));
    let sdk = govchain_sdk::Client::new(&api_url).unwrap();
    let refused = sdk.submit(&forged, govchain_types::api::SubmitMode::Sync).await.unwrap_err();
    assert!(refused.to_string().contains("signature"), "{refused}");
    let today = format_day(today());
    let day = eventually("the warning in today's error log", Duration::from_secs(15), || async {
        let (s, v) =
            bob.call(Method::GET, &format!("{base}/logs/download?type=error&date={today}"), None).await;
        (s == StatusCode::OK && text(&v).contains("transaction refused")).then(|| text(&v))
    })
    .await;
    let lines: Vec<LogLine> = day.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines.iter().all(|l| l.kind == LogType::Error && (l.level == "WARN" || l.level == "ERROR")),
        "{day}"
    );
    assert!(
        lines.iter().any(|l| l.message.contains("signature or certificate")
            && l.text().contains("signature 0 does not verify")),
        "{day}"
    );
    let errors = bob.get(&format!("{base}/logs?type=error&q=REFUSED&from=0")).await;
    assert_eq!(errors.as_array().unwrap().len(), 1, "keyword search ignores case: {errors}");

    // 29 days ago downloads; 31 days ago is outside the window, and the
    // node's store deletes it when it opens again.
    let (d29, d31) = (govchain_logstore::today() - 29, govchain_logstore::today() - 31);
    std::fs::write(
        store.join("error").join(format!("{}.log", format_day(d29))),
        old_line(d29, "old but kept"),
    )
    .unwrap();
    let f31 = store.join("error").join(format!("{}.log", format_day(d31)));
    std::fs::write(&f31, old_line(d31, "too old")).unwrap();
    let (s, v) = bob
        .call(Method::GET, &format!("{base}/logs/download?type=error&date={}", format_day(d29)), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(text(&v).contains("old but kept"));
    let (s, v) = bob
        .call(Method::GET, &format!("{base}/logs/download?type=error&date={}", format_day(d31)), None)
        .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{v}");
    let (s, _) = bob
        .call(Method::GET, &format!("{base}/logs/download?type=error&date={}", format_day(d29 - 1)), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a day with no file");

    // An auditor reads logs and the level but does not change it; another
    // department sees nothing of the chain.
    let v = bob
        .post(
            "/api/v1/users",
            json!({"username": "tax-auditor", "real_name": "Au Ditor", "roles": ["chain_auditor"]}),
        )
        .await;
    let auditor = Client::login(&tp.url, "tax-auditor", v["initial_password"].as_str().unwrap()).await;
    assert!(!auditor.get(&format!("{base}/logs?type=system&from=0")).await.as_array().unwrap().is_empty());
    assert_eq!(
        auditor.get(&format!("{base}/log-level")).await["level"],
        govchain_logstore::DEFAULT_DIRECTIVE
    );
    let (s, _) =
        auditor.call(Method::PUT, &format!("{base}/log-level"), Some(json!({"level": "debug"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other = admin
        .post("/api/v1/orgs", json!({"name": "Land Office", "domain": "land.gov", "admin_username": "lin", "admin_real_name": "Lin"}))
        .await;
    let lin = Client::login(&tp.url, "lin", other["initial_password"].as_str().unwrap()).await;
    for path in [
        format!("{base}/logs"),
        format!("{base}/logs/download?date={today}"),
        format!("{base}/log-level"),
        format!("{base}/logs/stream"),
    ] {
        let resp = lin.http.get(format!("{}{path}", tp.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = lin.call(Method::PUT, &format!("{base}/log-level"), Some(json!({"level": "debug"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bad questions get a 400 that says why.
    for q in ["type=bogus", "regex=true&q=(", "limit=0", "limit=10001", "from=x", "from=20&to=10"] {
        let (s, v) = bob.call(Method::GET, &format!("{base}/logs?{q}"), None).await;
        assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{q}: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    for q in ["", "date=2024-02-30", "date=yesterday", "type=x&date=2024-01-01"] {
        let (s, _) = bob.call(Method::GET, &format!("{base}/logs/download?{q}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
    }
    let (s, v) = bob.call(Method::PUT, &format!("{base}/log-level"), Some(json!({"level": "loud!"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // The live stream (Server-Sent Events, with the session cookie as the
    // console's EventSource sends it) carries a line written after it opened.
    let mut stream = bob.http.get(format!("{}{base}/logs/stream?type=system", tp.url)).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    // Debug at run time: no restart, and debug lines appear.
    let since = govchain_api::now_ms();
    let debug_path = format!("{base}/logs?q=block%20committed&from={since}");
    let set = bob.call(Method::PUT, &format!("{base}/log-level"), Some(json!({"level": "debug"}))).await;
    assert_eq!(set, (StatusCode::OK, json!({"level": "debug"})));
    let pid_before = std::fs::read_to_string(store.join("../../pid")).ok();
    let got = eventually("a debug line after the level change", Duration::from_secs(30), || async {
        bob.post(
            &format!("/api/v1/chains/{chain}/evidence"),
            json!({"digest": format!("{:064x}", govchain_api::now_ms())}),
        )
        .await;
        let v = bob.get(&debug_path).await;
        v.as_array().unwrap().iter().find(|l| l["level"] == "DEBUG").cloned()
    })
    .await;
    assert_eq!(got["target"], "govchain::node", "{got}");
    assert_eq!(std::fs::read_to_string(store.join("../../pid")).ok(), pid_before, "the node restarted");
    assert_eq!(bob.get(&format!("{base}/log-level")).await["level"], "debug");
    // The change is a system event, which the open stream delivers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains("log level changed") {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no log level change on the stream: {seen}");
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, stream.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let event = seen.split("\n\n").find(|e| e.contains("log level changed")).unwrap();
    assert!(event.contains("event: log"), "{event}");
    let data: Value =
        serde_json::from_str(event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(
        (data["type"].as_str(), data["fields"]["to"].as_str()),
        (Some("system"), Some("debug")),
        "{data}"
    );
    drop(stream);
    // Recorded in the operation log.
    let oplog = admin.get("/api/v1/audit?limit=20").await;
    assert!(oplog.to_string().contains("log level debug"), "{oplog}");

    // Back to info: debug lines stop.
    bob.call(Method::PUT, &format!("{base}/log-level"), Some(json!({"level": "info"}))).await;
    eventually("the level back at info", Duration::from_secs(15), || async {
        let v =
            bob.get(&format!("{base}/logs?type=system&q=log%20level%20changed&from={since}&limit=1")).await;
        (v[0]["fields"]["to"] == "info").then_some(())
    })
    .await;
    let quiet = govchain_api::now_ms();
    bob.post(&format!("/api/v1/chains/{chain}/evidence"), json!({"digest": "ab".repeat(32)})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = bob.get(&format!("{base}/logs?q=block%20committed&from={quiet}")).await;
    assert_eq!(v, json!([]), "debug lines at info");

    // A restart opens the store again, which deletes what is past the retention.
    assert!(f31.exists());
    bob.post(&format!("{base}/restart"), json!({})).await;
    eventually("the 31-day-old file removed", Duration::from_secs(30), || async {
        (!f31.exists()).then_some(())
    })
    .await;
    assert!(store.join("error").join(format!("{}.log", format_day(d29))).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_platform_log_is_the_super_admins() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    // The replica's store (support configures it under the platform's
    // directory; `govchain up` installs it, this test writes it).
    let store = LogStore::open(LogConfig::new(tp.dir.path().join("logs"))).unwrap();
    let now = govchain_api::now_ms();
    for (i, level) in ["INFO", "WARN", "INFO"].iter().enumerate() {
        store
            .append(&LogLine {
                ts: now - 100 + i as i64,
                level: (*level).into(),
                kind: if *level == "WARN" { LogType::Error } else { LogType::Run },
                target: "govchain::api".into(),
                message: format!("collector scrape {i} of node-{}", 10 + i),
                fields: serde_json::Map::new(),
            })
            .unwrap();
    }
    let v =
        admin.get(&format!("/api/v1/platform/logs?q=node-1%5B02%5D&regex=true&from={}", now - 1000)).await;
    assert_eq!(
        messages(&v),
        ["collector scrape 2 of node-12", "collector scrape 0 of node-10"],
        "newest first"
    );
    let (s, v) = admin
        .call(
            Method::GET,
            &format!("/api/v1/platform/logs/download?type=error&date={}", format_day(today())),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(text(&v).contains("node-11"), "{v}");
    assert_eq!(admin.get("/api/v1/platform/log-level").await["level"], govchain_logstore::DEFAULT_DIRECTIVE);
    let (s, v) = admin
        .call(Method::PUT, "/api/v1/platform/log-level", Some(json!({"level": "info,govchain::api=debug"})))
        .await;
    assert_eq!((s, v["level"].as_str()), (StatusCode::OK, Some("info,govchain::api=debug")));
    assert_eq!(
        govchain_logstore::read_level(&tp.dir.path().join("logs")).as_deref(),
        Some("info,govchain::api=debug")
    );
    for path in ["/api/v1/platform/logs", "/api/v1/platform/log-level", "/api/v1/platform/logs/stream"] {
        let resp = bob.http.get(format!("{}{path}", tp.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = bob.call(Method::PUT, "/api/v1/platform/log-level", Some(json!({"level": "debug"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
