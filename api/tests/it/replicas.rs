//! Two api replicas (separate processes) on one real PostgreSQL: 200
//! concurrent clients spread over both create requests, approvers on both
//! race to decide them, approved chains and nodes are provisioned by
//! whichever replica claims the job; then a replica is killed (SIGKILL) in
//! the middle of a provisioning and the other takes the job over once its
//! lease expires.
//!
//! Each replica is this test binary run again as a server
//! ([`replica_process`]) with its own data directory: with the local
//! driver a chain's nodes are children of the replica that provisioned it,
//! so jobs on an existing chain go to that replica (the chain's `host`),
//! and a replica taking over a chain job starts that chain afresh under
//! itself (the dead replica's attempt is abandoned with it).

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, Client, eventually, node_program, postgres_db};

/// What a replica prints before its URL.
const URL_MARKER: &str = "replica-url=";
/// The lease of the replicas' jobs in this test.
const LEASE_MS: u64 = 3000;
const CLIENTS: usize = 200;
const ORGS: usize = 4;
/// Chain requests approved (the rest are rejected).
const APPROVED_CHAINS: usize = 3;

const RES: fn() -> Value = || json!({"cpu_millis": 100, "memory_mb": 64, "storage_mb": 128});

/// A replica: this binary running [`replica_process`].
struct Replica {
    name: String,
    url: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// Starts replica `name` on database `db`; [`Replica::wait`] gives its URL.
    fn spawn(name: &str, db: &str, root: &Path) -> (Replica, mpsc::Receiver<String>) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["replicas::replica_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("GOVCHAIN_REPLICA_DB", db)
            .env("GOVCHAIN_REPLICA_DIR", &dir)
            .env("GOVCHAIN_REPLICA_NAME", name)
            .env("GOVCHAIN_NODE_BIN", &node_program().exe)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The test harness of the child writes `test <name> ... ` before
            // the test runs and its output follows on the same line: look
            // for the marker anywhere in a line. The sender goes when the
            // child's stdout closes (it exited).
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once(URL_MARKER) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        (Replica { name: name.to_owned(), url: String::new(), dir, child: Some(child) }, rx)
    }

    /// Waits (bounded) for the replica to serve; fails at once if it exits.
    fn wait(&mut self, url: &mpsc::Receiver<String>) {
        match url.recv_timeout(Duration::from_secs(90)) {
            Ok(u) => self.url = u,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.as_mut().map(|c| c.wait());
                panic!("replica {} exited before it served: {status:?}", self.name)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("replica {} did not serve within 90 s", self.name),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: the replica stops its nodes and exits.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
        // Nodes of a killed replica outlive it: stop every node process
        // whose pid file is under this replica's directory.
        for pid_file in crate::support::paths_containing(&self.dir, "pid") {
            if pid_file.file_name().is_some_and(|n| n == "pid") {
                let Ok(pid) = std::fs::read_to_string(&pid_file) else { continue };
                let Ok(pid) = pid.trim().parse::<i32>() else { continue };
                let dir = pid_file.parent().unwrap().to_string_lossy().into_owned();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&dir) {
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }
        }
    }
}

/// A replica server: run by [`two_replicas_on_postgres`] as a child
/// process, never on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a replica process that two_replicas_on_postgres starts"]
async fn replica_process() {
    let (Ok(db), Ok(dir), Ok(name)) = (
        std::env::var("GOVCHAIN_REPLICA_DB"),
        std::env::var("GOVCHAIN_REPLICA_DIR"),
        std::env::var("GOVCHAIN_REPLICA_NAME"),
    ) else {
        panic!("run by two_replicas_on_postgres only");
    };
    let mut config = govchain_api::ApiConfig::new(db, "127.0.0.1:0".parse().unwrap());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.replica = Some(name.clone());
    config.host = Some(name);
    config.job_lease = Duration::from_millis(LEASE_MS);
    let driver = govchain_driver::LocalDriver::new(Path::new(&dir).join("hosts"), node_program()).unwrap();
    let platform = govchain_api::start(config, Arc::new(driver)).await.unwrap();
    println!("{URL_MARKER}{}", platform.url);
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    term.recv().await;
    platform.shutdown().await;
}

/// Milliseconds since 1970 (the clock the replicas write leases in).
fn unix_ms() -> i64 {
    i64::try_from(std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_millis()).unwrap()
}

async fn query(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap()
}

async fn wait_running(c: &Client, id: i64, limit: Duration) -> Value {
    eventually(&format!("request {id} to run"), limit, || async {
        let r = c.get(&format!("/api/v1/requests/{id}")).await;
        match r["status"].as_str().unwrap() {
            "running" => Some(r),
            "failed" => panic!("provisioning failed: {r}"),
            _ => None,
        }
    })
    .await
}

/// Both replicas decide request `id` at once; exactly one decision wins.
async fn decide_on_both(admins: &[Client; 2], id: i64, approve: bool) {
    let verb = if approve { "approve" } else { "reject" };
    let path = format!("/api/v1/requests/{id}/{verb}");
    let (a, b) = tokio::join!(
        admins[0].call(Method::POST, &path, Some(json!({"opinion": "ok"}))),
        admins[1].call(Method::POST, &path, Some(json!({"opinion": "ok"}))),
    );
    let won = [a.0, b.0].iter().filter(|s| **s == StatusCode::OK).count();
    let lost = [a.0, b.0].iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((won, lost), (1, 1), "request {id}: {a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgres() {
    let started = Instant::now();
    let url = postgres_db().await;
    let db = Database::connect(url.clone()).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    // Both start at once on the empty database: one migrates it and
    // creates the platform under the setup lock, the other then finds both
    // done.
    let (mut r1, u1) = Replica::spawn("r1", &url, root.path());
    let (mut r2, u2) = Replica::spawn("r2", &url, root.path());
    r1.wait(&u1);
    r2.wait(&u2);
    println!("two replicas serving at {:.1} s", started.elapsed().as_secs_f64());
    let admins = [
        Client::login(&r1.url, "admin", ADMIN_PASSWORD).await,
        Client::login(&r2.url, "admin", ADMIN_PASSWORD).await,
    ];

    // Departments, each logged in on both replicas.
    let mut orgs: Vec<(i64, [Client; 2])> = Vec::new();
    for o in 0..ORGS {
        let created = admins[o % 2]
            .post(
                "/api/v1/orgs",
                json!({"name": format!("Dept {o}"), "domain": format!("d{o}.gov"),
                    "admin_username": format!("boss{o}"), "admin_real_name": "Boss"}),
            )
            .await;
        let id = created["org"]["id"].as_i64().unwrap();
        let password = created["initial_password"].as_str().unwrap().to_owned();
        let (s, _) = admins[0]
            .call(Method::POST, &format!("/api/v1/orgs/{id}/review"), Some(json!({"approve": true})))
            .await;
        assert!(s.is_success() || s == StatusCode::CONFLICT, "{s}");
        let user = format!("boss{o}");
        orgs.push((
            id,
            [Client::login(&r1.url, &user, &password).await, Client::login(&r2.url, &user, &password).await],
        ));
    }

    // 200 clients at once, alternating replicas, each submitting a request.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let c = orgs[i % ORGS].1[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let spec = json!({"purpose": "replicas", "spec": {"kind": "chain", "name": format!("c{i}"),
                "consensus": "raft", "suite": "intl-k1", "nodes": 1, "resources": RES()}});
            let (s, r) = c.call(Method::POST, "/api/v1/requests", Some(spec)).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            (i % ORGS, r["id"].as_i64().unwrap())
        }));
    }
    let mut requests = Vec::new();
    for t in tasks {
        requests.push(t.await.unwrap());
    }
    println!("{CLIENTS} requests over two replicas in {:.2} s", t.elapsed().as_secs_f64());

    // Both replicas decide every request at once: one of each pair wins.
    // A few chains (of different organizations) are approved.
    let mut approved: Vec<(usize, i64)> = Vec::new();
    let mut tasks = Vec::new();
    for (n, (org, id)) in requests.iter().copied().enumerate() {
        let approve = n < APPROVED_CHAINS;
        if approve {
            approved.push((org, id));
        }
        let admins = admins.clone();
        tasks.push(tokio::spawn(async move { decide_on_both(&admins, id, approve).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut chains = Vec::new();
    for (org, id) in &approved {
        let r = wait_running(&orgs[*org].1[0], *id, Duration::from_secs(120)).await;
        chains.push((*org, r["chain_id"].as_i64().unwrap()));
    }
    println!("{APPROVED_CHAINS} chains running at {:.1} s", started.elapsed().as_secs_f64());

    // A node more on each chain, requested through both replicas and
    // approved on both at once; the job runs on the chain's host.
    let mut node_requests = Vec::new();
    for (n, (org, chain_id)) in chains.iter().enumerate() {
        let (s, r) = orgs[*org].1[n % 2]
            .call(
                Method::POST,
                "/api/v1/requests",
                Some(json!({"purpose": "one more", "spec": {"kind": "nodes", "chain_id": chain_id, "count": 1, "resources": RES()}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["id"].as_i64().unwrap();
        decide_on_both(&admins, id, true).await;
        node_requests.push((*org, id));
        approved.push((*org, id));
    }
    for (org, id) in &node_requests {
        wait_running(&orgs[*org].1[1], *id, Duration::from_secs(120)).await;
    }
    println!("node requests running at {:.1} s", started.elapsed().as_secs_f64());

    // One node of quota to spare for the first chain's organization, and
    // ten clients racing for it on both replicas: at most one gets it;
    // the others are refused, and what a failed attempt reserved comes back.
    let (org0, chain0) = chains[0];
    let org0_id = orgs[org0].0;
    db.execute_unprepared(&format!(
        "UPDATE quotas SET nodes = nodes + 1, cpu_millis = cpu_millis + 100, memory_mb = memory_mb + 64, \
         storage_mb = storage_mb + 128 WHERE org_id = {org0_id}"
    ))
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = orgs[org0].1[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            c.call(Method::POST, &format!("/api/v1/chains/{chain0}/nodes"), Some(json!({"resources": RES()})))
                .await
        }));
    }
    let mut outcomes: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        assert!(
            s == StatusCode::CREATED || body["code"] == "quota_exceeded" || s == StatusCode::NOT_FOUND,
            "{s} {body}"
        );
        *outcomes.entry(s.as_u16()).or_default() += 1;
    }
    println!("ten racing node additions: {outcomes:?}");
    assert!(outcomes.get(&201).copied().unwrap_or(0) <= 1, "{outcomes:?}");

    // Kill the replica that holds a chain job while it provisions.
    let (s, r) = orgs[1].1[0]
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"purpose": "failover", "spec": {"kind": "chain", "name": "failover",
                "consensus": "raft", "suite": "intl-k1", "nodes": 3, "resources": RES()}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let failover_id = r["id"].as_i64().unwrap();
    decide_on_both(&admins, failover_id, true).await;
    approved.push((1, failover_id));
    // Once the replica that claimed the job has begun the chain (its row is
    // there, the driver is starting the nodes), it dies.
    let (owner, claimed, begun) = eventually("a replica to begin the chain", Duration::from_secs(30), || {
        let db = db.clone();
        async move {
            let rows = query(
                &db,
                &format!(
                    "SELECT j.owner, j.attempt, c.id AS chain_id FROM jobs j \
                     JOIN requests r ON r.id = j.request_id JOIN chains c ON c.id = r.chain_id \
                     WHERE j.request_id = {failover_id} AND j.state = 'running' AND c.state = 'provisioning'"
                ),
            )
            .await;
            let row = rows.first()?;
            let owner: String = row.try_get::<Option<String>>("", "owner").ok().flatten()?;
            Some((owner, row.try_get::<i32>("", "attempt").ok()?, row.try_get::<i64>("", "chain_id").ok()?))
        }
    })
    .await;
    let (victim, survivor) = if owner == r1.name { (&mut r1, &mut r2) } else { (&mut r2, &mut r1) };
    victim.kill();
    let killed = Instant::now();
    let killed_ms = unix_ms();
    println!("killed {} (SIGKILL) while it provisioned request {failover_id}", victim.name);
    // The victim renews no more: its lease ends at `lease_until`.
    let rows = query(&db, &format!("SELECT lease_until FROM jobs WHERE request_id = {failover_id}")).await;
    let expires_ms: i64 = rows[0].try_get("", "lease_until").unwrap();
    let survivor_name = survivor.name.clone();
    let (attempt, taken_ms) =
        eventually("the other replica to take the job over", Duration::from_secs(60), || {
            let (db, name) = (db.clone(), survivor_name.clone());
            async move {
                let rows = query(
                    &db,
                    &format!("SELECT owner, state, attempt FROM jobs WHERE request_id = {failover_id}"),
                )
                .await;
                let row = rows.first()?;
                let owner: Option<String> = row.try_get("", "owner").ok().flatten();
                let state: String = row.try_get("", "state").ok()?;
                let attempt: i32 = row.try_get("", "attempt").ok()?;
                (owner.as_deref() == Some(name.as_str()) || state == "done").then_some((attempt, unix_ms()))
            }
        })
        .await;
    let taken_over = killed.elapsed();
    assert_eq!(attempt, claimed + 1, "the job was not taken over: the victim finished before the kill");
    assert!(
        taken_ms >= expires_ms,
        "taken over at {taken_ms} ms, before the victim's lease expired at {expires_ms} ms"
    );
    let survivor_client = Client::login(&survivor.url, "admin", ADMIN_PASSWORD).await;
    let done = wait_running(&survivor_client, failover_id, Duration::from_secs(120)).await;
    let running = killed.elapsed();
    println!(
        "failover: lease {LEASE_MS} ms; the victim's lease expired {:.1} s after the kill; \
         taken over {:.1} s after the kill; request running {:.1} s after the kill",
        (expires_ms - killed_ms) as f64 / 1000.0,
        taken_over.as_secs_f64(),
        running.as_secs_f64()
    );
    let chain = survivor_client.get(&format!("/api/v1/chains/{}", done["chain_id"])).await;
    assert_eq!(chain["state"], "running", "{chain}");
    // The survivor began the chain afresh; the victim's attempt is gone.
    assert_ne!(done["chain_id"], begun, "{done}");
    let left = query(&db, &format!("SELECT id FROM chains WHERE id = {begun}")).await;
    assert!(left.is_empty(), "the killed replica's attempt at the chain is still recorded");

    // Every approved request ran exactly once; the rest were rejected.
    for (_, id) in &approved {
        let r = survivor_client.get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!(r["status"], "running", "{r}");
        // The log entry follows the status (written once the request runs).
        let count = || async {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM oplog WHERE action = 'provision' AND target = 'requests/{id}'"
            );
            let n: i64 = query(&db, &sql).await[0].try_get("", "n").unwrap();
            n
        };
        eventually(&format!("request {id}'s provision log entry"), Duration::from_secs(10), || async {
            (count().await > 0).then_some(())
        })
        .await;
        let n = count().await;
        assert_eq!(n, 1, "request {id} was recorded as provisioned {n} times");
    }
    let rows = query(&db, "SELECT status, COUNT(*) AS n FROM requests GROUP BY status").await;
    let by_status: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| (r.try_get::<String>("", "status").unwrap(), r.try_get::<i64>("", "n").unwrap()))
        .collect();
    assert_eq!(by_status.get("rejected").copied(), Some((CLIENTS - APPROVED_CHAINS) as i64), "{by_status:?}");
    assert_eq!(by_status.get("running").copied(), Some(approved.len() as i64), "{by_status:?}");

    // No quota over-granted: usage is exactly what the nodes hold, within the grant.
    let rows = query(
        &db,
        "SELECT q.org_id, q.nodes, q.used_nodes, q.cpu_millis, q.used_cpu_millis, \
         (SELECT COUNT(*) FROM nodes n WHERE n.org_id = q.org_id) AS held, \
         (SELECT COALESCE(SUM(cpu_millis), 0) FROM nodes n WHERE n.org_id = q.org_id)::BIGINT AS held_cpu \
         FROM quotas q",
    )
    .await;
    for r in rows {
        let get =
            |c: &str| r.try_get::<i64>("", c).unwrap_or_else(|_| i64::from(r.try_get::<i32>("", c).unwrap()));
        let (org, granted, used, held) = (get("org_id"), get("nodes"), get("used_nodes"), get("held"));
        assert!(used <= granted, "organization {org}: {used} nodes used of {granted} granted");
        assert_eq!(used, held, "organization {org}: usage {used} but {held} nodes");
        assert_eq!(get("used_cpu_millis"), get("held_cpu"), "organization {org}");
        assert!(get("used_cpu_millis") <= get("cpu_millis"), "organization {org}");
    }

    // The operation log, appended by both replicas, verifies.
    let report = survivor_client.get("/api/v1/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["checked"].as_u64().unwrap() > (2 * CLIENTS) as u64, "{report}");
    println!(
        "operation log: {} entries verify; whole test {:.1} s",
        report["checked"],
        started.elapsed().as_secs_f64()
    );
    survivor.stop();
}
