use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use crate::{govchain, ok};

pub(crate) struct Up {
    child: Child,
    pub(crate) url: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `govchain dev` on a free loopback port, waiting for its `url=` line.
pub(crate) fn up(suite: &str) -> Up {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_govchain"))
        .args(["dev", "--listen", "127.0.0.1:0", "--suite", suite, "--data"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.split_whitespace().find_map(|w| w.strip_prefix("url=")) {
            url = Some(u.to_owned());
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Up { child, url: url.expect("govchain up prints url="), dir }
}

#[test]
fn up_then_put_get_history_and_blocks_through_the_cli() {
    let node = up("gm");
    let key_dir = node.dir.path().join("me");
    let key_dir = key_dir.to_str().unwrap();
    ok(&["key", "gen", "--suite", "gm", "--out", key_dir]);
    let key = format!("{key_dir}/key.pem");
    let tx = |args: &[&str]| {
        let mut all = vec!["tx"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--key", &key, "--node", &node.url]);
        ok(&all)
    };
    let put: serde_json::Value = serde_json::from_str(&tx(&["put", "permit/7", "granted"])).unwrap();
    assert_eq!(put["status"], "committed");
    assert_eq!(put["receipt"]["status"], "success");
    assert_eq!(put["receipt"]["events"][0]["data"]["key"], "permit/7", "event data shown as JSON: {put}");
    let get: serde_json::Value = serde_json::from_str(&tx(&["get", "permit/7"])).unwrap();
    assert_eq!(get["receipt"]["output"]["value"], "granted", "{get}");
    tx(&["put", "permit/7", "revoked"]);
    let history: serde_json::Value = serde_json::from_str(&tx(&["history", "permit/7"])).unwrap();
    let entries = history["receipt"]["output"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{history}");
    assert_eq!(entries[0]["value"], "revoked");
    let found: serde_json::Value =
        serde_json::from_str(&tx(&["call", r#"{"op":"key_contains","needle":"permit"}"#])).unwrap();
    assert_eq!(found["receipt"]["output"]["count"], 1, "{found}");

    let block: serde_json::Value =
        serde_json::from_str(&ok(&["block", "get", "latest", "--node", &node.url])).unwrap();
    assert!(block["header"]["height"].as_u64().unwrap() >= 4, "{block}");
    let id = block["id"].as_str().unwrap();
    let same: serde_json::Value =
        serde_json::from_str(&ok(&["block", "get", id, "--node", &node.url])).unwrap();
    assert_eq!(same, block);

    // A key of another suite is refused before anything is sent.
    let r1 = node.dir.path().join("r1");
    ok(&["key", "gen", "--suite", "intl-r1", "--out", r1.to_str().unwrap()]);
    let r1_key = r1.join("key.pem");
    let out = govchain(&["tx", "put", "a", "b", "--key", r1_key.to_str().unwrap(), "--node", &node.url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chain uses gm"));
    // Bad call JSON and an unreachable node are clear errors.
    let out = govchain(&["tx", "call", "{\"op\":\"nope\"}", "--key", &key, "--node", &node.url]);
    assert!(!out.status.success());
    let out = govchain(&["status", "--node", "http://127.0.0.1:1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach node"));
}

#[test]
fn bench_prints_throughput_latency_and_the_verify_limit() {
    let node = up("intl-r1");
    let out = ok(&["bench", "--node", &node.url, "--suite", "intl-r1", "--rate", "200", "--duration", "2"]);
    let line = out.lines().last().unwrap();
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name}= missing in {line}"))
            .parse()
            .unwrap()
    };
    assert!(field("tps") > 0.0);
    assert!(field("p99_ms") >= field("p50_ms"));
    assert!(field("verify_limit_tps") > 0.0);
    assert!((field("ratio") - field("tps") / field("verify_limit_tps")).abs() < 0.01, "{line}");
    // Every transaction of the run committed (400 puts plus genesis).
    let status: serde_json::Value = serde_json::from_str(&ok(&["status", "--node", &node.url])).unwrap();
    assert!(status["height"].as_u64().unwrap() >= 1);
    let wrong = govchain(&["bench", "--node", &node.url, "--suite", "gm", "--rate", "10", "--duration", "1"]);
    assert!(!wrong.status.success(), "a suite mismatch is refused");
}
