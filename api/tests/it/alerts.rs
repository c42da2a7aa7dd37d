//! Alerts end to end on a real chain (SPEC OPS-2): a "node down" rule with
//! a short duration fires when a node process stops, reaches the message
//! centre, a real SMTP server (Debian's python3-aiosmtpd) and a signed
//! webhook (an axum receiver on loopback; a flaky one shows the retries),
//! and resolves with notifications when the node is back. A log rule fires
//! on the warning a forged transaction makes the node write, and resolves
//! once that line is older than the rule's lookback. A rule outside
//! its time window stays quiet; a new chain's organization has the default
//! rules; another organization sees nothing of it; an auditor reads but
//! neither acknowledges nor edits.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode as AxStatus},
    routing::post,
};
use govchain_api::services::alerts::channels::{SmtpConfig, SmtpTls, sign};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

const SECRET: &str = "org-webhook-secret-0123456789";
const FLAKY_SECRET: &str = "rule-webhook-secret-9876543210";
/// How long the test's node-down rule's condition must hold.
const DURATION_S: i64 = 2;
const INTERVAL: Duration = Duration::from_millis(500);
/// How long the test's log rule's condition must hold.
const LOG_DURATION_S: i64 = 1;
/// How far back the log rule looks: its duration and three rounds.
const LOG_LOOKBACK_MS: i64 = LOG_DURATION_S * 1000 + 3 * INTERVAL.as_millis() as i64;

/// A webhook call as received.
#[derive(Debug, Clone)]
struct Call {
    path: &'static str,
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

/// `/ok` answers 200; `/flaky` answers 500 to its first two calls, then 200.
async fn webhook_receiver() -> (String, Receiver) {
    async fn ok(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxStatus {
        r.calls.lock().unwrap().push(Call { path: "/ok", headers, body, answered: 200 });
        AxStatus::OK
    }
    async fn flaky(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxStatus {
        let mut calls = r.calls.lock().unwrap();
        let before = calls.iter().filter(|c| c.path == "/flaky").count();
        let status = if before < 2 { AxStatus::INTERNAL_SERVER_ERROR } else { AxStatus::OK };
        calls.push(Call { path: "/flaky", headers, body, answered: status.as_u16() });
        status
    }
    let r = Receiver::default();
    let app = Router::new().route("/ok", post(ok)).route("/flaky", post(flaky)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

/// A real SMTP server storing what it receives in a Maildir.
struct Smtp {
    port: u16,
    maildir: PathBuf,
    _child: tokio::process::Child,
}

async fn smtp_server(dir: &Path) -> Smtp {
    // Debian's python3-aiosmtpd lives beside Debian's python3, whatever
    // `python3` a PATH finds first.
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect("aiosmtpd is missing: install Debian's python3-aiosmtpd (scripts/test-deps.sh)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let maildir = dir.join("maildir");
    let child = tokio::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting aiosmtpd");
    eventually("the SMTP server to listen", Duration::from_secs(20), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await;
    Smtp { port, maildir, _child: child }
}

impl Smtp {
    /// The mails received so far (raw).
    fn mails(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
    }
}

fn alert_rule(name: &str, chain: i64) -> Value {
    json!({
        "name": name,
        "scope": "node",
        "chain_ids": [chain],
        "conditions": [{"kind": "metric", "series": "up", "aggregate": "last", "op": "==", "threshold": 0}],
        "duration_s": DURATION_S,
        "severity": "critical",
        "channels": {"message": true, "email": true, "emails": ["oncall@tax.gov"], "webhook": true}
    })
}

/// The calls of `path` whose body says `event`, with a verified signature.
fn signed_calls(r: &Receiver, path: &str, event: &str, secret: &str) -> Vec<Value> {
    r.calls()
        .into_iter()
        .filter(|c| c.path == path && c.answered == 200)
        .filter_map(|c| {
            let v: Value = serde_json::from_slice(&c.body).ok()?;
            (v["event"] == event).then_some((c, v))
        })
        .map(|(c, v)| {
            let sig = c.headers.get("x-govchain-signature").and_then(|h| h.to_str().ok()).unwrap_or_default();
            assert_eq!(sig, sign(secret.as_bytes(), &c.body), "the signature verifies over the raw body");
            let ts: i64 = c.headers["x-govchain-timestamp"].to_str().unwrap().parse().unwrap();
            assert!((ts - govchain_api::now_ms() / 1000).abs() < 120, "a current timestamp: {ts}");
            assert_eq!(c.headers["x-govchain-event"], event);
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_node_fires_and_resolves_through_every_channel() {
    alert_journey(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_alert_journey_on_postgres() {
    alert_journey(Db::Postgres).await;
}

async fn alert_journey(db: Db) {
    let scratch = tempfile::tempdir().unwrap();
    let smtp = smtp_server(scratch.path()).await;
    let (hook, receiver) = webhook_receiver().await;
    let smtp_port = smtp.port;
    let mut tp = TestPlatform::start_with(db, |c| {
        c.metrics_interval = INTERVAL;
        c.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "govchain <alerts@govchain.test>".into(),
        });
    })
    .await;
    let admin = tp.admin().await;
    let (_, bob) = tp.tax_bureau(&admin).await;
    let spec = json!({"kind": "chain", "name": "watched", "consensus": "solo", "suite": "gm", "nodes": 1,
        "resources": {"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256}});
    let chain = crate::contract_lifecycle::running_chain(&admin, &bob, spec).await;

    // The new chain's organization has the four default rules.
    let rules = bob.get("/api/v1/alert-rules").await;
    let mut builtin: Vec<&str> =
        rules.as_array().unwrap().iter().filter_map(|r| r["builtin"].as_str()).collect();
    builtin.sort_unstable();
    assert_eq!(builtin, ["cert_expiring", "consensus_stalled", "disk_full", "node_down"], "{rules}");
    let node_down = rules.as_array().unwrap().iter().find(|r| r["builtin"] == "node_down").unwrap();
    assert_eq!(node_down["conditions"][0]["series"], "up", "{node_down}");
    let (s, body) = bob.call(Method::DELETE, &format!("/api/v1/alert-rules/{}", node_down["id"]), None).await;
    assert_eq!((s, body["details"]["reason"].as_str()), (StatusCode::CONFLICT, Some("builtin")));

    // The organization's channels, then its rules.
    let ch = bob
        .call(
            Method::PUT,
            "/api/v1/alert-channels",
            Some(json!({"emails": ["ops@tax.gov"], "webhook_url": format!("{hook}/ok"), "webhook_secret": SECRET})),
        )
        .await;
    assert_eq!(ch.0, StatusCode::OK, "{}", ch.1);
    assert_eq!(
        (ch.1["has_webhook_secret"].as_bool(), ch.1["smtp_configured"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(ch.1.get("webhook_secret").is_none(), "the key is never sent back: {}", ch.1);
    let fast = bob.post("/api/v1/alert-rules", alert_rule("Node down fast", chain)).await;
    let fast_id = fast["id"].as_i64().unwrap_or_else(|| panic!("{fast}"));
    let mut flaky = alert_rule("Node down, flaky hook", chain);
    flaky["channels"] = json!({"message": false, "email": false, "webhook": true,
        "webhook_url": format!("{hook}/flaky"), "webhook_secret": FLAKY_SECRET});
    let flaky_id = bob.post("/api/v1/alert-rules", flaky).await["id"].as_i64().unwrap();
    // A window that opens six hours from now.
    let minute = (govchain_api::now_ms() / 60_000) % 1440;
    let hhmm = |m: i64| format!("{:02}:{:02}", (m % 1440) / 60, m % 60);
    let mut night = alert_rule("Only later", chain);
    night["window"] =
        json!({"days": [], "start": hhmm(minute + 360), "end": hhmm(minute + 420), "utc_offset_minutes": 0});
    let night_id = bob.post("/api/v1/alert-rules", night).await["id"].as_i64().unwrap();
    // The certificate expiry is collected: a rule with a far horizon fires
    // at once (duration 0), telling when the first certificate ends.
    let mut cert = alert_rule("Certificate within 30 years", chain);
    cert["conditions"] = json!([{"kind": "metric", "series": "cert_expires_in_seconds", "aggregate": "last",
        "op": "<", "threshold": 30.0 * 365.0 * 86400.0}]);
    cert["duration_s"] = json!(0);
    cert["channels"] = json!({"message": false});
    let cert_id = bob.post("/api/v1/alert-rules", cert).await["id"].as_i64().unwrap();
    // A log rule is kept as written; a bad regular expression is refused.
    let log = json!({"name": "Panics", "scope": "node", "conditions": [
        {"kind": "log", "log_type": "error", "pattern": "panic|fatal", "regex": true}]});
    let log_rule = bob.post("/api/v1/alert-rules", log.clone()).await;
    assert_eq!(log_rule["conditions"][0]["pattern"], "panic|fatal", "{log_rule}");
    let mut bad = log;
    bad["conditions"][0]["pattern"] = json!("(unclosed");
    let (s, body) = bob.call(Method::POST, "/api/v1/alert-rules", Some(bad)).await;
    assert_eq!(
        (s, body["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("conditions.pattern"))
    );
    let (s, _) = bob.call(Method::POST, "/api/v1/alert-rules", Some(json!({"name": "x"}))).await;
    assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
    // A log rule on the warning a node writes when it refuses a transaction.
    let refusals = json!({"name": "Refused transactions", "scope": "node", "chain_ids": [chain],
        "conditions": [{"kind": "log", "log_type": "error", "pattern": "transaction refused"}],
        "duration_s": LOG_DURATION_S, "severity": "warning", "channels": {"message": true}});
    let refusals_id = bob.post("/api/v1/alert-rules", refusals).await["id"].as_i64().unwrap();

    // The node runs and is scraped: nothing fires.
    let c = bob.get(&format!("/api/v1/chains/{chain}")).await;
    let key = c["chain_key"].as_str().unwrap().to_owned();
    let node_name = c["nodes"][0]["name"].as_str().unwrap().to_owned();
    tokio::time::sleep(INTERVAL * 6).await;
    let none = bob.get(&format!("/api/v1/alerts?chain_id={chain}&state=firing")).await;
    assert!(
        none.as_array().unwrap().iter().all(|a| a["rule_id"] != fast_id && a["rule_id"] != refusals_id),
        "nothing fires while the node runs: {none}"
    );

    // A second evaluator on the same database, as another replica would
    // run: every transition and its notifications still happen once.
    let replica = {
        let state = tp.platform.as_ref().unwrap().state.clone();
        tokio::spawn(async move {
            for _ in 0..3000 {
                let _ =
                    govchain_api::services::alerts::evaluator::evaluate(&state, govchain_api::now_ms()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let cert_alert = eventually("the certificate alert", Duration::from_secs(20), || async {
        bob.get(&format!("/api/v1/alerts?rule_id={cert_id}&state=firing"))
            .await
            .as_array()
            .unwrap()
            .first()
            .cloned()
    })
    .await;
    let left = cert_alert["value"].as_f64().unwrap();
    eprintln!("certificate expires in {} days", left / 86400.0);
    assert!(
        left > 300.0 * 86400.0 && left < 366.0 * 86400.0,
        "the node certificate (365 days) ends first: {cert_alert}"
    );

    // A forged transaction: the node refuses it and writes a warning to its
    // error log. One line makes the log rule go pending, then fire after its
    // duration; the alert resolves once the line is older than the lookback.
    let node_id = c["nodes"][0]["id"].as_i64().unwrap();
    let api_url = c["nodes"][0]["api_url"].as_str().unwrap().to_owned();
    let wallet =
        govchain_sdk::Wallet::new(govchain_crypto::PrivateKey::generate(govchain_crypto::Suite::Gm), &key);
    let put = |v: &str| govchain_execution::DataCall::Put { key: "k".into(), value: v.into() };
    let mut forged = wallet.data_call(&put("1")).unwrap();
    forged.body.data = govchain_types::Encode::encode(&put("2"));
    let sent_at = govchain_api::now_ms();
    let sdk = govchain_sdk::Client::new(&api_url).unwrap();
    let refused = sdk.submit(&forged, govchain_types::api::SubmitMode::Sync).await.unwrap_err();
    assert!(refused.to_string().contains("signature"), "{refused}");
    let line = eventually("the warning in the node's error log", Duration::from_secs(15), || async {
        let v = bob
            .get(&format!(
                "/api/v1/chains/{chain}/nodes/{node_id}/logs?type=error&q=transaction%20refused&from={}",
                sent_at - 1000
            ))
            .await;
        v.as_array().unwrap().first().cloned()
    })
    .await;
    let written_at = line["ts"].as_i64().unwrap();
    let log_fired = eventually("the log alert to fire", Duration::from_secs(20), || async {
        let v = bob.get(&format!("/api/v1/alerts?state=firing&rule_id={refusals_id}")).await;
        v.as_array().unwrap().first().cloned()
    })
    .await;
    let log_alert = log_fired["id"].as_i64().unwrap();
    let log_fired_at = log_fired["fired_at"].as_i64().unwrap();
    assert!(
        log_fired_at - log_fired["started_at"].as_i64().unwrap() >= LOG_DURATION_S * 1000,
        "pending first: {log_fired}"
    );
    assert!(
        log_fired_at - written_at <= LOG_LOOKBACK_MS,
        "fired while the line was in the lookback: {log_fired}"
    );
    let summary = log_fired["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(r#"error log ~ "transaction refused": 1 line, newest "transaction refused: "#)
            && summary.contains(line["message"].as_str().unwrap()),
        "{log_fired}"
    );
    assert_eq!(
        (log_fired["value"].as_f64(), log_fired["node"].as_str()),
        (Some(1.0), Some(node_name.as_str()))
    );
    let msg = eventually("the log alert's firing message", Duration::from_secs(20), || async {
        let v = bob.get("/api/v1/messages").await;
        v.as_array().unwrap().iter().find(|m| m["link"] == format!("/alerts/{log_alert}")).cloned()
    })
    .await;
    assert!(msg["title"].as_str().unwrap().contains("FIRING"), "{msg}");
    let log_resolved = eventually("the log alert to resolve", Duration::from_secs(20), || async {
        let v = bob.get(&format!("/api/v1/alerts/{log_alert}")).await;
        (v["state"] == "resolved").then_some(v)
    })
    .await;
    let log_resolved_at = log_resolved["resolved_at"].as_i64().unwrap();
    eprintln!(
        "log alert: line written at +0 ms, pending at +{} ms, firing at +{} ms, resolved at +{} ms (lookback {LOG_LOOKBACK_MS} ms)",
        log_fired["started_at"].as_i64().unwrap() - written_at,
        log_fired_at - written_at,
        log_resolved_at - written_at
    );
    assert!(
        log_resolved_at - written_at > LOG_LOOKBACK_MS,
        "it holds while the line is in the lookback: {log_resolved}"
    );
    assert!(
        log_resolved_at - written_at <= LOG_LOOKBACK_MS + 4 * INTERVAL.as_millis() as i64 + 1500,
        "resolved {} ms after the line: {log_resolved}",
        log_resolved_at - written_at
    );
    eventually("the log alert's resolved message", Duration::from_secs(20), || async {
        bob.get("/api/v1/messages")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|m| {
                m["link"] == format!("/alerts/{log_alert}")
                    && m["title"].as_str().unwrap_or("").contains("RESOLVED")
            })
            .then_some(())
    })
    .await;
    assert_eq!(bob.get(&format!("/api/v1/alerts?rule_id={refusals_id}")).await.as_array().unwrap().len(), 1);

    // The node's process stops (as a crash would: the platform still wants
    // it running).
    let driver = tp.platform.as_ref().unwrap().state.driver.clone();
    let stopped_at = govchain_api::now_ms();
    driver.stop_node(&key, &node_name).await.unwrap();
    let fired = eventually("the node-down alert to fire", Duration::from_secs(30), || async {
        let v = bob.get(&format!("/api/v1/alerts?state=firing&rule_id={fast_id}")).await;
        v.as_array().unwrap().first().cloned()
    })
    .await;
    let alert_id = fired["id"].as_i64().unwrap();
    let fired_at = fired["fired_at"].as_i64().unwrap();
    assert!(fired_at - fired["started_at"].as_i64().unwrap() >= DURATION_S * 1000, "pending first: {fired}");
    // Within the duration, a scrape to notice, and an evaluation round or two.
    let limit = DURATION_S * 1000 + 4 * INTERVAL.as_millis() as i64 + 1500;
    assert!(fired_at - stopped_at <= limit, "fired {} ms after the stop: {fired}", fired_at - stopped_at);
    assert_eq!(
        (fired["node"].as_str(), fired["chain"].as_str()),
        (Some(node_name.as_str()), Some("watched"))
    );
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["value"], 0.0);

    // The message centre, the mail server and the webhook have it.
    let msg = eventually("the firing message", Duration::from_secs(20), || async {
        let v = bob.get("/api/v1/messages").await;
        v.as_array().unwrap().iter().find(|m| m["link"] == format!("/alerts/{alert_id}")).cloned()
    })
    .await;
    assert!(msg["title"].as_str().unwrap().contains("FIRING"), "{msg}");
    assert_eq!(msg["kind"], "alert");
    eventually("two firing mails", Duration::from_secs(30), || async {
        let mails: Vec<String> = smtp
            .mails()
            .into_iter()
            .filter(|m| m.contains("[FIRING]") && m.contains("Node down fast"))
            .collect();
        let to = |a: &str| mails.iter().any(|m| m.contains(&format!("To: {a}")));
        (to("oncall@tax.gov") && to("ops@tax.gov")).then_some(())
    })
    .await;
    let hooks = eventually("a signed firing webhook", Duration::from_secs(20), || async {
        let v = signed_calls(&receiver, "/ok", "firing", SECRET);
        (!v.is_empty()).then_some(v)
    })
    .await;
    assert_eq!(hooks[0]["alert"]["id"], alert_id);
    assert_eq!(hooks[0]["alert"]["state"], "firing");

    // The flaky receiver failed twice, then took it: three attempts.
    let flaky_alert = bob.get(&format!("/api/v1/alerts?rule_id={flaky_id}")).await[0]["id"].as_i64().unwrap();
    let d = eventually("the flaky webhook to be delivered", Duration::from_secs(30), || async {
        let v = bob.get(&format!("/api/v1/alerts/{flaky_alert}/deliveries")).await;
        let d = v
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == "webhook" && d["event"] == "firing")
            .cloned()?;
        (d["status"] == "sent").then_some(d)
    })
    .await;
    assert_eq!(d["attempts"], 3, "{d}");
    let flaky_calls: Vec<u16> =
        receiver.calls().iter().filter(|c| c.path == "/flaky").map(|c| c.answered).collect();
    assert_eq!(&flaky_calls[..3], [500, 500, 200]);
    assert_eq!(signed_calls(&receiver, "/flaky", "firing", FLAKY_SECRET).len(), 1);
    let deliveries = bob.get(&format!("/api/v1/alerts/{alert_id}/deliveries")).await;
    let mut channels: Vec<&str> =
        deliveries.as_array().unwrap().iter().map(|d| d["channel"].as_str().unwrap()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["email", "email", "message", "webhook"], "{deliveries}");

    // The rule whose window is closed raised nothing.
    let quiet = bob.get(&format!("/api/v1/alerts?rule_id={night_id}")).await;
    assert_eq!(quiet, json!([]), "outside its window a rule does not fire");

    // Another organization sees none of it; an auditor reads but cannot act.
    let other = admin
        .post(
            "/api/v1/orgs",
            json!({"name": "Land Office", "domain": "land.gov", "admin_username": "lin", "admin_real_name": "Lin"}),
        )
        .await;
    let lin = Client::login(&tp.url, "lin", other["initial_password"].as_str().unwrap()).await;
    assert_eq!(lin.get("/api/v1/alerts").await, json!([]));
    let theirs = lin.get("/api/v1/alert-rules").await;
    assert!(theirs.as_array().unwrap().iter().all(|r| r["org_id"] == other["org"]["id"]), "{theirs}");
    for (m, path, body) in [
        (Method::GET, format!("/api/v1/alert-rules/{fast_id}"), None),
        (Method::PUT, format!("/api/v1/alert-rules/{fast_id}"), Some(alert_rule("mine now", chain))),
        (Method::POST, format!("/api/v1/alert-rules/{fast_id}/disable"), None),
        (Method::DELETE, format!("/api/v1/alert-rules/{fast_id}"), None),
        (Method::GET, format!("/api/v1/alerts/{alert_id}"), None),
        (Method::GET, format!("/api/v1/alerts/{alert_id}/deliveries"), None),
        (Method::POST, format!("/api/v1/alerts/{alert_id}/ack"), Some(json!({"note": "not mine"}))),
    ] {
        let (s, body) = lin.call(m.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {body}");
    }
    // Nor may it watch a chain it is not a member of.
    let (s, body) = lin.call(Method::POST, "/api/v1/alert-rules", Some(alert_rule("spy", chain))).await;
    assert_eq!((s, body["details"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("chain_ids")));
    let created = bob
        .post(
            "/api/v1/users",
            json!({"username": "tax-auditor", "real_name": "Auditor", "roles": ["chain_auditor"]}),
        )
        .await;
    let auditor = Client::login(&tp.url, "tax-auditor", created["initial_password"].as_str().unwrap()).await;
    let seen = auditor.get(&format!("/api/v1/alerts/{alert_id}")).await;
    assert_eq!(seen["id"], alert_id);
    assert!(!auditor.get("/api/v1/alert-rules").await.as_array().unwrap().is_empty());
    for (m, path, body) in [
        (Method::POST, format!("/api/v1/alerts/{alert_id}/ack"), Some(json!({"note": "seen"}))),
        (Method::POST, "/api/v1/alert-rules".to_owned(), Some(alert_rule("auditor's", chain))),
        (Method::POST, format!("/api/v1/alert-rules/{fast_id}/disable"), None),
        (Method::PUT, "/api/v1/alert-channels".to_owned(), Some(json!({"emails": []}))),
    ] {
        let (s, _) = auditor.call(m.clone(), &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {path}");
    }

    // Bob acknowledges it.
    let acked =
        bob.post(&format!("/api/v1/alerts/{alert_id}/ack"), json!({"note": "restarting the node"})).await;
    assert_eq!(
        (acked["acknowledged_by_name"].as_str(), acked["ack_note"].as_str()),
        (Some("bob"), Some("restarting the node"))
    );

    // The node is back: the alert resolves, and says so everywhere.
    driver.start_node(&key, &node_name).await.unwrap();
    let resolved = eventually("the alert to resolve", Duration::from_secs(60), || async {
        let v = bob.get(&format!("/api/v1/alerts/{alert_id}")).await;
        (v["state"] == "resolved").then_some(v)
    })
    .await;
    assert!(resolved["resolved_at"].as_i64().unwrap() >= fired_at);
    assert_eq!(resolved["acknowledged_by_name"], "bob", "the acknowledgement stays in the history");
    eventually("the resolved notifications", Duration::from_secs(30), || async {
        let msg = bob.get("/api/v1/messages").await.as_array().unwrap().iter().any(|m| {
            m["link"] == format!("/alerts/{alert_id}")
                && m["title"].as_str().unwrap_or("").contains("RESOLVED")
        });
        let mail = smtp.mails().iter().any(|m| m.contains("[RESOLVED]") && m.contains("Node down fast"));
        let hook =
            signed_calls(&receiver, "/ok", "resolved", SECRET).iter().any(|v| v["alert"]["id"] == alert_id);
        (msg && mail && hook).then_some(())
    })
    .await;

    // One alert, one notification per channel and event, for all the
    // evaluators.
    replica.abort();
    assert_eq!(bob.get(&format!("/api/v1/alerts?rule_id={fast_id}")).await.as_array().unwrap().len(), 1);
    let deliveries = eventually("every notification sent", Duration::from_secs(20), || async {
        let v = bob.get(&format!("/api/v1/alerts/{alert_id}/deliveries")).await;
        v.as_array().unwrap().iter().all(|d| d["status"] == "sent").then_some(v)
    })
    .await;
    let mut sent: Vec<(String, String)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["event"].to_string(), d["channel"].to_string()))
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 8, "{deliveries}");
    sent.dedup();
    assert_eq!(sent.len(), 6, "two e-mails, one message and one webhook per event: {deliveries}");

    // The super admin sees every organization's alerts; the changes are in
    // the operation log.
    let all = admin.get("/api/v1/alerts?state=resolved").await;
    assert!(all.as_array().unwrap().iter().any(|a| a["id"] == alert_id), "{all}");
    let log = admin.get("/api/v1/audit?limit=500").await;
    let actions: Vec<String> =
        log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap_or("").to_owned()).collect();
    for a in ["POST /alert-rules", "PUT /alert-channels", "POST /alerts/{id}/ack", "DELETE /alert-rules/{id}"]
    {
        assert!(actions.iter().any(|x| x == a), "{a} missing from the operation log: {actions:?}");
    }
    let started = Instant::now();
    tp.stop().await;
    assert!(started.elapsed() < Duration::from_secs(30));
}
