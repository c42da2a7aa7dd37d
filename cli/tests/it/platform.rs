//! `govchain up` as a new user meets it: the real binary serves the
//! control plane, and everything after that goes through the CLI's
//! control-plane verbs — the admin logs in, creates a department, the
//! department requests a 4-node raft gm chain, the admin approves, the
//! department waits for it, writes through a node, stops and starts and
//! deletes it, and the operation log verifies. SIGTERM stops the platform
//! with its nodes; a second `up` on the same data directory creates no new
//! admin, resumes the chain that was kept and brings back nothing that was
//! deleted.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use serde_json::Value;

/// `govchain up` in its own process group (its nodes join that group), so
/// that whatever happens the test can end every process it caused.
pub(crate) struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Up {
    fn start(data: &Path, log: PathBuf) -> Up {
        Up::start_with(data, log, &[])
    }

    /// `govchain up` with more options.
    pub(crate) fn start_with(data: &Path, log: PathBuf, extra: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_govchain"))
            .arg("up")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("GOVCHAIN_ADMIN_PASSWORD")
            .env_remove("GOVCHAIN_DATABASE_URL")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // A thread drains stdout for as long as the process lives, so it
        // never blocks on a full pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Up { child, lines, log }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap()
    }

    /// What `up` prints before it serves, up to its last line (`data=`).
    pub(crate) fn banner(&mut self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let last = line.starts_with("data=");
                    out.push(line);
                    if last {
                        return out;
                    }
                }
                Err(e) => panic!("govchain up printed {out:?} and then {e:?}; log:\n{}", self.log_text()),
            }
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to `up` alone (as a service manager or `kill` sends it);
    /// it must stop its nodes itself.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        kill_process(self.pid(), Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "govchain up still runs 45 s after SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // After a failure: SIGTERM the whole group, give it a moment, then
        // SIGKILL whatever of the group is left (nodes included).
        let group = self.pid();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill_process_group(group, Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = kill_process_group(group, Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes whose command line mentions `dir` (nodes run with configs
/// under the data directory), other than `except`.
fn processes_under(dir: &Path, except: Option<u32>) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if Some(pid) == except || pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Files and directories under `dir` whose path contains `needle`.
fn paths_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.to_string_lossy().contains(needle) {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// Waits (bounded) until exactly `n` processes mention `dir`.
fn expect_processes(dir: &Path, except: Option<u32>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = processes_under(dir, except);
        if found.len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} processes under {}, found {found:#?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CLI with its own config file and nothing from the caller's
/// environment that would change what it talks to.
struct Cli {
    config: PathBuf,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_govchain"));
        cmd.args(args).env("GOVCHAIN_CONFIG", &self.config);
        for var in ["GOVCHAIN_API", "GOVCHAIN_TOKEN", "GOVCHAIN_PASSWORD", "GOVCHAIN_NEW_PASSWORD"] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn output(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }

    /// Runs a verb that must succeed; its stdout.
    fn ok_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> String {
        let out = self.output(args, env, stdin);
        assert!(
            out.status.success(),
            "govchain {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, &[], None)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// Runs a verb that must fail; its stderr.
    fn fails(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.output(args, env, None);
        assert!(
            !out.status.success(),
            "govchain {args:?} succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

/// The value of `key=` among whitespace-separated `key=value` words.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key}= in {text:?}"))
}

fn fetch(url: &str) -> (u16, String) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let resp = reqwest::get(url).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn a_new_user_runs_the_platform_and_a_chain_through_the_cli() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let data = root.join("data");
    let mut up = Up::start(&data, root.join("up.log"));
    let banner = up.banner();
    let first = banner.join("\n");
    let url = field(&first, "url").to_owned();
    let admin_line = banner.iter().find(|l| l.starts_with("admin=")).expect("first run prints the admin");
    let (admin_user, admin_password) = (field(admin_line, "admin"), field(admin_line, "password"));
    assert_eq!(field(&first, "openapi"), format!("{url}/api/openapi.json"));
    let (status, doc) = fetch(&format!("{url}/api/openapi.json"));
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["paths"]["/api/v1/requests/{id}/approve"].is_object(), "{doc}");

    // The platform admin logs in; the token lands in a private config file.
    let admin = Cli { config: root.join("admin.json") };
    let out = admin.ok_with(
        &["login", "--api", &url, "--user", admin_user],
        &[("GOVCHAIN_PASSWORD", admin_password)],
        None,
    );
    assert_eq!(field(&out, "user"), admin_user);
    assert_eq!(field(&out, "org"), "platform");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&admin.config).unwrap().permissions().mode() & 0o777, 0o600);
    let stored: Value = serde_json::from_slice(&std::fs::read(&admin.config).unwrap()).unwrap();
    let admin_token = stored["token"].as_str().unwrap().to_owned();
    assert!(admin_token.starts_with("gct_"), "{stored}");
    assert!(admin.ok(&["whoami"]).contains("platform_admin"));

    // It creates a department; its admin's initial password is printed once.
    let out = admin.ok(&[
        "org",
        "create",
        "--name",
        "Market Supervision",
        "--domain",
        "market.gov",
        "--admin-username",
        "alice",
        "--admin-real-name",
        "Alice Zhang",
    ]);
    let initial = field(&out, "password").to_owned();
    assert!(admin.ok(&["org", "list"]).contains("market.gov"));

    // The department logs in with its own config, the password piped in.
    let dept = Cli { config: root.join("dept.json") };
    let out = dept.ok_with(&["login", "--api", &url, "--user", "alice"], &[], Some(&format!("{initial}\n")));
    assert_eq!(field(&out, "org"), "market.gov");
    // Its stored token is never sent to another control plane.
    let err = dept.fails(&["chains", "--api", "http://127.0.0.1:9"], &[]);
    assert!(err.contains("is for"), "{err}");

    // It requests a chain; only the platform may approve it.
    let out = dept.ok(&[
        "request",
        "chain",
        "--name",
        "permits",
        "--nodes",
        "4",
        "--consensus",
        "raft",
        "--suite",
        "gm",
        "--purpose",
        "licence registry",
    ]);
    let request = field(&out, "request").to_owned();
    assert_eq!(field(&out, "status"), "pending");
    let err = dept.fails(&["approve", &request], &[]);
    assert!(err.contains("forbidden"), "{err}");
    assert!(admin.ok(&["requests", "--status", "pending"]).contains("chain permits"));
    let approved = Instant::now();
    admin.ok(&["approve", &request, "--opinion", "approved for the pilot"]);
    let out = dept.ok(&["request", "show", &request, "--wait", "--timeout", "120"]);
    assert_eq!(field(&out, "status"), "running", "{out}");
    let to_running = approved.elapsed();
    assert!(dept.ok(&["chains"]).contains("permits"));

    // Four node processes of this data directory run; a write commits.
    let up_pid = up.child.id();
    expect_processes(&data, Some(up_pid), 4);
    let chain = dept.json(&["chain", "show", "permits"]);
    assert_eq!(chain["state"], "running", "{chain}");
    assert_eq!(chain["nodes"].as_array().unwrap().len(), 4);
    let node_url = chain["nodes"][0]["api_url"].as_str().unwrap().to_owned();
    let chain_key = chain["chain_key"].as_str().unwrap().to_owned();
    assert!(!paths_containing(&data, &chain_key).is_empty(), "the chain's files are named by its key");
    let me = root.join("me");
    crate::ok(&["key", "gen", "--suite", "gm", "--out", me.to_str().unwrap()]);
    let key = me.join("key.pem");
    let tx = |node: &str, args: &[&str]| -> Value {
        let mut all = vec!["tx"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--key", key.to_str().unwrap(), "--node", node]);
        let resp: Value = serde_json::from_str(&crate::ok(&all)).unwrap();
        assert_eq!(resp["status"], "committed", "{resp}");
        resp
    };
    tx(&node_url, &["put", "greeting", "hello"]);

    // The department's other views and verbs.
    assert!(dept.ok(&["messages", "--unread"]).contains("request_running"));
    let node0 = chain["nodes"][0]["name"].as_str().unwrap().to_owned();
    assert!(!dept.ok(&["node", "log", "permits", &node0, "--lines", "5"]).trim().is_empty());
    // Its logs: the node's start in its system log, found by a regular
    // expression; the level to debug at run time, recorded in the system
    // log of the day, downloaded; the platform's own log is the admin's.
    let out =
        dept.ok(&["logs", "permits", &node0, "--type", "system", "--grep", "node start(ed|ing)", "--regex"]);
    assert!(out.contains("node started"), "{out}");
    assert_eq!(field(&dept.ok(&["log-level", "permits", &node0, "debug"]), "level"), "debug");
    assert_eq!(field(&dept.ok(&["log-level", "permits", &node0]), "level"), "debug");
    let err = dept.fails(&["log-level", "permits", &node0, "very loud"], &[]);
    assert!(err.contains("bad_request"), "{err}");
    let today = govchain_logstore::format_day(govchain_logstore::today());
    let day = root.join("node0-system.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        dept.ok(&[
            "logs",
            "permits",
            &node0,
            "--type",
            "system",
            "--download",
            &today,
            "--out",
            day.to_str().unwrap(),
        ]);
        if std::fs::read_to_string(&day).unwrap().contains("\"to\":\"debug\"") {
            break;
        }
        assert!(Instant::now() < deadline, "no level change in {}", std::fs::read_to_string(&day).unwrap());
        std::thread::sleep(Duration::from_millis(300));
    }
    dept.ok(&["log-level", "permits", &node0, "info"]);
    let out = admin.ok(&["logs", "--platform", "--type", "system", "--grep", "platform started"]);
    assert!(out.contains("govchain::system::platform: platform started"), "{out}");
    let err = dept.fails(&["logs", "--platform"], &[]);
    assert!(err.contains("forbidden"), "{err}");
    let tar = root.join("node0.tar");
    dept.ok(&["node", "bundle", "permits", &node0, "--out", tar.to_str().unwrap()]);
    let bytes = std::fs::read(&tar).unwrap();
    assert!(bytes.windows(node0.len()).any(|w| w == node0.as_bytes()), "no {node0} in the bundle");
    let out = dept.ok(&["chain", "policy", "permits", "--max-txs", "500"]);
    assert_eq!(field(&out, "max_txs"), "500");
    let err = dept.fails(&["node", "add", "permits"], &[]);
    assert!(err.contains("quota_exceeded"), "{err}");
    let err = dept.fails(&["invite", "permits", "--org", "nobody.gov"], &[]);
    assert!(err.contains("not_found"), "{err}");
    let out = dept.ok(&[
        "user",
        "create",
        "--username",
        "bob",
        "--real-name",
        "Bob Li",
        "--role",
        "chain_operator",
    ]);
    assert!(field(&out, "password").len() >= 10, "{out}");
    assert_eq!(field(&dept.ok(&["user", "freeze", "bob"]), "status"), "frozen");
    assert!(dept.ok(&["user", "list"]).contains("frozen"));
    assert!(dept.ok(&["role", "list"]).contains("chain_operator"));

    // Alert rules: the defaults, one from a YAML file, disabled and deleted;
    // the alert history lists nothing firing.
    let rules = dept.ok(&["alert-rules"]);
    for default in ["node_down", "consensus_stalled", "cert_expiring", "disk_full"] {
        assert!(rules.contains(default), "{rules}");
    }
    let rule_file = root.join("rule.yaml");
    std::fs::write(
        &rule_file,
        "name: height stuck\nscope: chain\nduration_s: 300\nconditions:\n  - kind: metric\n    series: height\n    \
         aggregate: increase\n    op: \"<=\"\n    threshold: 0\n",
    )
    .unwrap();
    let created = dept.json(&["alert-rules", "create", rule_file.to_str().unwrap()]);
    assert_eq!(
        (created["name"].as_str(), created["scope"].as_str()),
        (Some("height stuck"), Some("chain")),
        "{created}"
    );
    let rule_id = created["id"].to_string();
    assert_eq!(dept.json(&["alert-rules", "disable", &rule_id])["enabled"], false);
    assert!(dept.ok(&["alert-rules", "delete", &rule_id]).contains("deleted"));
    let builtin = dept.json(&["alert-rules"]).as_array().unwrap()[0]["id"].to_string();
    let err = dept.fails(&["alert-rules", "delete", &builtin], &[]);
    assert!(err.contains("conflict"), "{err}");
    assert_eq!(dept.json(&["alerts", "--state", "firing"]), serde_json::json!([]));

    // Stop: the nodes' processes end; start: they come back and commit again.
    let out = dept.ok(&["chain", "stop", "permits"]);
    assert_eq!(field(&out, "state"), "stopped");
    expect_processes(&data, Some(up_pid), 0);
    let out = dept.ok(&["chain", "start", "permits"]);
    assert_eq!(field(&out, "state"), "running");
    expect_processes(&data, Some(up_pid), 4);
    tx(&node_url, &["put", "greeting", "again"]);

    // The operation log recorded the approval and its hash chain holds.
    assert!(admin.ok(&["audit", "--action", "approve"]).contains("/approve"));
    let out = admin.ok(&["audit", "verify"]);
    assert!(out.starts_with("ok "), "{out}");
    assert!(field(&out, "checked").parse::<u64>().unwrap() > 10, "{out}");
    let csv_path = root.join("oplog.csv");
    let out = admin.ok(&["audit", "export", "--out", csv_path.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("id,at,actor_id,actor"), "{csv}");
    assert!(field(&out, "entries").parse::<usize>().unwrap() > 5, "{out}");

    // Deleting the chain ends its processes.
    dept.ok(&["chain", "delete", "permits"]);
    expect_processes(&data, Some(up_pid), 0);
    assert_eq!(dept.json(&["chains"]), Value::Array(vec![]));

    // A rejected request ends a wait with an error carrying the opinion.
    let out = dept.ok(&[
        "request",
        "chain",
        "--name",
        "spare",
        "--nodes",
        "1",
        "--consensus",
        "solo",
        "--purpose",
        "spare",
    ]);
    let spare = field(&out, "request").to_owned();
    assert_eq!(field(&admin.ok(&["reject", &spare, "--opinion", "not needed"]), "status"), "rejected");
    let err = dept.fails(&["request", "show", &spare, "--wait"], &[]);
    assert!(err.contains("rejected: not needed"), "{err}");

    // A second chain, one solo node, stays for the restart below.
    let out = dept.ok(&[
        "request",
        "chain",
        "--name",
        "ledger",
        "--nodes",
        "1",
        "--consensus",
        "solo",
        "--purpose",
        "kept",
    ]);
    let request = field(&out, "request").to_owned();
    admin.ok(&["approve", &request]);
    let out = dept.ok(&["request", "show", &request, "--wait", "--timeout", "120"]);
    assert_eq!(field(&out, "status"), "running", "{out}");
    let ledger = dept.json(&["chain", "show", "ledger"]);
    let ledger_url = ledger["nodes"][0]["api_url"].as_str().unwrap().to_owned();
    tx(&ledger_url, &["put", "permit/1", "granted"]);
    expect_processes(&data, Some(up_pid), 1);

    // The department changes its initial password; the new one logs in.
    let new_password =
        [("GOVCHAIN_PASSWORD", initial.as_str()), ("GOVCHAIN_NEW_PASSWORD", "Market-Secret-42")];
    assert!(dept.ok_with(&["passwd"], &new_password, None).contains("password changed"));
    let err =
        dept.fails(&["login", "--api", &url, "--user", "alice"], &[("GOVCHAIN_PASSWORD", initial.as_str())]);
    assert!(err.contains("unauthorized"), "{err}");
    dept.ok_with(
        &["login", "--api", &url, "--user", "alice"],
        &[("GOVCHAIN_PASSWORD", "Market-Secret-42")],
        None,
    );

    // SIGTERM stops the platform; nothing of this data directory remains.
    let status = up.terminate();
    assert!(status.success(), "govchain up exited with {status}:\n{}", up.log_text());
    expect_processes(&root, None, 0);
    drop(up);

    // The second run keeps the admin (no new password) and resumes nothing deleted.
    let mut up = Up::start(&data, root.join("up2.log"));
    let banner = up.banner();
    let again = banner.join("\n");
    let url2 = field(&again, "url").to_owned();
    assert!(!again.contains("admin=") && !again.contains("password"), "{again}");
    let with_token = [("GOVCHAIN_TOKEN", admin_token.as_str())];
    let chains: Value =
        serde_json::from_str(&admin.ok_with(&["chains", "--json", "--api", &url2], &with_token, None))
            .unwrap();
    let names: Vec<&str> = chains.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ledger"], "{chains}");
    assert_eq!(chains[0]["state"], "running", "{chains}");
    expect_processes(&data, Some(up.child.id()), 1);
    assert_eq!(paths_containing(&data, &chain_key), Vec::<PathBuf>::new());
    // The resumed chain kept its data and takes writes.
    let history = tx(&ledger_url, &["history", "permit/1"]);
    assert_eq!(history["receipt"]["output"]["entries"][0]["value"], "granted", "{history}");
    tx(&ledger_url, &["put", "permit/1", "renewed"]);

    // A login on the new address replaces the stored one; logging out
    // revokes its token.
    admin.ok_with(
        &["login", "--api", &url2, "--user", admin_user],
        &[("GOVCHAIN_PASSWORD", admin_password)],
        None,
    );
    let stored: Value = serde_json::from_slice(&std::fs::read(&admin.config).unwrap()).unwrap();
    let new_token = stored["token"].as_str().unwrap().to_owned();
    assert!(admin.ok(&["whoami"]).contains(&url2));
    let out = admin.ok(&["logout"]);
    assert!(out.contains("logged out"), "{out}");
    assert!(!admin.config.exists());
    let err = admin.fails(&["whoami"], &[]);
    assert!(err.contains("not logged in"), "{err}");
    let err = admin.fails(&["whoami", "--api", &url2], &[("GOVCHAIN_TOKEN", new_token.as_str())]);
    assert!(err.contains("unauthorized"), "{err}");
    let status = up.terminate();
    assert!(status.success(), "{status}");
    expect_processes(&root, None, 0);
    println!(
        "measured: approve-to-running {to_running:?} (4-node raft gm through `govchain up`), whole test {:?}",
        started.elapsed()
    );
}
