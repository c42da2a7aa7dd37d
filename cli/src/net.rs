//! `govchain net`: a whole chain of several nodes on this machine, each a
//! process of its own on its own loopback address.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_crypto::Suite;
use govchain_node::{
    admin::AdminClient,
    config::{Genesis, NodeConfig},
    init::{CONFIG_FILE, NetworkOptions, add_network_node, init_network, set_execution},
};
use govchain_sdk::Client;

/// `govchain net` verbs.
#[derive(Subcommand)]
pub enum NetCmd {
    /// Create keys, a chain CA, node certificates, genesis and per-node configs.
    Init {
        /// Number of nodes.
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// gm, intl-k1 or intl-r1.
        #[arg(long, default_value = "gm")]
        suite: Suite,
        /// Consensus engine: raft (crash fault tolerant), hotstuff (Byzantine
        /// fault tolerant: n nodes tolerate floor((n-1)/3) lying ones), or solo
        /// (one node).
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Chain id.
        #[arg(long, default_value = "local")]
        chain_id: String,
        /// Organization running the nodes.
        #[arg(long, default_value = "local-org")]
        org: String,
        /// Node i listens on 127.0.0.(first-ip + i).
        #[arg(long, default_value_t = 11)]
        first_ip: u8,
        /// Client API port of every node.
        #[arg(long, default_value_t = 8600)]
        api_port: u16,
        /// Node-to-node port of every node.
        #[arg(long, default_value_t = 8700)]
        p2p_port: u16,
    },
    /// Create a chain (unless `--out` already holds one) and start it: one
    /// command for a local replicated chain.
    Up {
        /// Number of nodes (when creating).
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// gm, intl-k1 or intl-r1 (when creating).
        #[arg(long, default_value = "gm")]
        suite: Suite,
        /// Consensus engine (when creating): raft, hotstuff or solo.
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// The chain's directory.
        #[arg(long, default_value = ".govchain/net")]
        out: PathBuf,
    },
    /// Start every node of a directory made by `net init` in the background;
    /// prints `node=<id> url=<url>` per node.
    Start {
        /// The directory.
        dir: PathBuf,
    },
    /// Add a node to a running replicated chain: prepare it, start it, have
    /// the leader add it as a learner (on a hotstuff chain: every voter
    /// approve it), wait until it caught up, promote it.
    AddNode {
        /// The chain's directory.
        dir: PathBuf,
        /// Keep it a non-voting backup ledger node.
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node from a running replicated chain (it leaves consensus
    /// first), then stop it.
    RemoveNode {
        /// The chain's directory.
        dir: PathBuf,
        /// The node's name, e.g. node4.
        name: String,
    },
    /// Change the block policy of a running replicated chain online (agreed
    /// through consensus, applied by every node).
    Policy {
        /// The chain's directory.
        dir: PathBuf,
        /// Most transactions per block.
        #[arg(long)]
        max_txs: usize,
        /// Most payload bytes per block.
        #[arg(long, default_value_t = 8 * 1024 * 1024)]
        max_bytes: usize,
        /// Longest wait for more transactions once one is pending, ms.
        #[arg(long, default_value_t = 2)]
        max_wait_ms: u64,
    },
    /// Switch a running replicated chain's consensus engine (raft to
    /// hotstuff or back) while it serves: every member approves the switch
    /// with a transaction signed by its node key; the block in which a
    /// quorum approved ends the old engine's stint, and every node goes on
    /// with the new one from there. Waits until every node runs it.
    Switch {
        /// The chain's directory.
        dir: PathBuf,
        /// The engine to switch to: raft or hotstuff.
        #[arg(long)]
        consensus: String,
    },
    /// Stop the nodes `net start` started.
    Stop {
        /// The directory.
        dir: PathBuf,
    },
}

/// Runs a `net` verb.
pub async fn run(cmd: NetCmd) -> anyhow::Result<()> {
    match cmd {
        NetCmd::Init { nodes, suite, consensus, out, chain_id, org, first_ip, api_port, p2p_port } => {
            let opts = NetworkOptions {
                chain_id,
                suite,
                consensus,
                nodes,
                organization: org,
                first_ip,
                api_port,
                p2p_port,
            };
            let dirs = init_network(&out, &opts)?;
            set_execution(&dirs, &govchain_execution::ExecutionSpec::with_evm(&opts.chain_id))?;
            for dir in dirs {
                println!("node_dir={}", dir.display());
            }
            println!("{}", govchain_node::init::root_key_note(&out));
            Ok(())
        }
        NetCmd::Start { dir } => start(&dir),
        NetCmd::Up { nodes, suite, consensus, out } => {
            if !out.join(govchain_node::init::CA_DIR).exists() {
                let opts = NetworkOptions {
                    chain_id: "local".into(),
                    suite,
                    consensus,
                    nodes,
                    organization: "local-org".into(),
                    first_ip: 11,
                    api_port: 8600,
                    p2p_port: 8700,
                };
                let dirs = init_network(&out, &opts)?;
                set_execution(&dirs, &govchain_execution::ExecutionSpec::with_evm(&opts.chain_id))?;
                println!("{}", govchain_node::init::root_key_note(&out));
            }
            start(&out)
        }
        NetCmd::AddNode { dir, learner } => add_node(&dir, learner).await,
        NetCmd::Policy { dir, max_txs, max_bytes, max_wait_ms } => {
            let policy =
                serde_json::json!({"max_txs": max_txs, "max_bytes": max_bytes, "max_wait_ms": max_wait_ms});
            Admin::new(&dir)?.post("/admin/policy", policy).await?;
            println!("policy max_txs={max_txs} max_bytes={max_bytes} max_wait_ms={max_wait_ms}");
            Ok(())
        }
        NetCmd::RemoveNode { dir, name } => remove_node(&dir, &name).await,
        NetCmd::Switch { dir, consensus } => switch(&dir, &consensus).await,
        NetCmd::Stop { dir } => stop(&dir),
    }
}

fn node_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(CONFIG_FILE).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("{} holds no node directories (run `govchain net init` first)", dir.display());
    }
    Ok(dirs)
}

fn start(dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the govchain binary")?;
    let mut started = Vec::new();
    for node in node_dirs(dir)? {
        if let Some(pid) = read_pid(&node)
            && alive(pid)
        {
            bail!("{} is already running (pid {pid}); `govchain net stop` first", node.display());
        }
        let (child, stdout) = spawn(&exe, &node)?;
        started.push((node, child, stdout));
    }
    // The nodes of a replicated chain start together: each prints its URL
    // once its listeners are up.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (node, child, stdout) in started {
        let line = url_line(&node, child, stdout)?;
        println!("{line}");
        let genesis = Genesis::load(&node.join("genesis.json"))?;
        let evm = genesis.execution.engines.contains(&govchain_execution::EngineKind::Evm);
        if let Some(url) = line.split("url=").nth(1).filter(|_| evm && genesis.suite == Suite::IntlK1) {
            println!("eth_rpc={}/v1/eth", url.trim());
        }
        if Instant::now() > deadline {
            bail!("nodes took over a minute to start");
        }
    }
    Ok(())
}

fn spawn(exe: &Path, node: &Path) -> anyhow::Result<(std::process::Child, std::process::ChildStdout)> {
    let log = std::fs::File::create(node.join("node.log"))?;
    let mut child = Command::new(exe)
        .args(["node", "run", "--config"])
        .arg(node.join(CONFIG_FILE))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the node in {}", node.display()))?;
    std::fs::write(node.join("pid"), child.id().to_string())?;
    let stdout = child.stdout.take().context("node stdout")?;
    Ok((child, stdout))
}

/// Waits for the node's `node=.. url=..` line.
fn url_line(
    node: &Path,
    mut child: std::process::Child,
    stdout: std::process::ChildStdout,
) -> anyhow::Result<String> {
    let mut lines = BufReader::new(stdout).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("url=") => break line,
            Some(Ok(_)) => continue,
            _ => {
                let _ = child.wait();
                bail!("node in {} exited; see {}", node.display(), node.join("node.log").display());
            }
        }
    };
    // Keep the pipe drained so the node never blocks on stdout.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(line)
}

/// Talks to the members' admin endpoints with node0's identity (the
/// chain's operator holds it).
struct Admin {
    client: AdminClient,
    nodes: Vec<NodeConfig>,
    consensus: govchain_types::chain::ConsensusKind,
}

impl Admin {
    fn new(dir: &Path) -> anyhow::Result<Admin> {
        let nodes: Vec<NodeConfig> = node_dirs(dir)?
            .iter()
            .map(|d| NodeConfig::load(&d.join(CONFIG_FILE)))
            .collect::<Result<_, _>>()?;
        let first = nodes.first().context("no node")?;
        let genesis = Genesis::load(&first.genesis)?;
        let ca = genesis.ca.as_ref().context("the chain has no CA")?;
        let trust = govchain_net::ChainTrust::new(genesis.suite, &ca.root_cert_pem, &ca.operating_cert_pem)?;
        let cert = first.cert.as_ref().context("node0 has no certificate")?;
        let identity = govchain_net::Identity::from_pem(
            &std::fs::read_to_string(&first.key)?,
            &std::fs::read_to_string(cert)?,
            &trust,
        )?;
        let https = govchain_net::HttpsClient::new(govchain_net::client_config(&identity, &trust)?);
        // A hotstuff change answers once in force, within a minute.
        let client = AdminClient::new(https, Duration::from_secs(90));
        Ok(Admin { client, nodes, consensus: genesis.consensus })
    }

    fn api(&self, name: &str) -> anyhow::Result<Client> {
        let node =
            self.nodes.iter().find(|n| n.node_id == name).with_context(|| format!("no node {name}"))?;
        Ok(Client::new(&format!("http://{}", node.listen))?)
    }

    /// The leader's peer address, asking the nodes' APIs who leads.
    async fn leader(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for n in &self.nodes {
                if let Ok(s) = Client::new(&format!("http://{}", n.listen))?.status().await
                    && let Some(leader) = s.leader
                    && let Some(l) = self.nodes.iter().find(|n| n.node_id == leader)
                    && let Some(p2p) = l.p2p_listen
                {
                    return Ok(p2p.to_string());
                }
            }
            if Instant::now() > deadline {
                bail!("no node reports a leader");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The engine the chain runs now (it may have switched since genesis),
    /// as the first node that answers reports it.
    async fn running(&self) -> govchain_types::chain::ConsensusKind {
        for n in &self.nodes {
            if let Ok(client) = self.api(&n.node_id)
                && let Ok(s) = client.status().await
                && let Ok(kind) = s.consensus.parse()
            {
                return kind;
            }
        }
        self.consensus
    }

    /// Sends a change to the leader; on a hotstuff chain, where each call
    /// is the approval of the node it goes to, to every voter at once (the
    /// change is in force once any answers: a quorum approved it).
    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let leader = self.leader().await?;
        if self.running().await != govchain_types::chain::ConsensusKind::Hotstuff {
            return self.post_to(&leader, path, &body).await;
        }
        let members = self.members(&leader).await?;
        let voters: Vec<&str> =
            members.iter().filter(|m| m.role == "voter").map(|m| m.addr.as_str()).collect();
        for r in self.post_each(&voters, path, &body).await? {
            eprintln!("warning: {r}");
        }
        Ok(())
    }

    /// Sends `body` to `path` on each node at `addrs` at once; refused when
    /// none took it, else the refusals of those that did not.
    async fn post_each(
        &self,
        addrs: &[&str],
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Vec<String>> {
        let answers = futures_util::future::join_all(addrs.iter().map(|a| self.post_to(a, path, body))).await;
        let refusals: Vec<String> = addrs
            .iter()
            .zip(answers)
            .filter_map(|(addr, answer)| answer.err().map(|e| format!("{addr}: {e:#}")))
            .collect();
        if refusals.len() == addrs.len() {
            bail!("{path}: no node took it: {}", refusals.join("; "));
        }
        Ok(refusals)
    }

    async fn post_to(&self, addr: &str, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        Ok(self.client.post(addr, path, body).await?)
    }

    /// The consensus group as the node at `addr` knows it.
    async fn members(&self, addr: &str) -> anyhow::Result<Vec<govchain_node::admin::ConsensusMember>> {
        Ok(self.client.members(addr).await?)
    }
}

async fn switch(dir: &Path, consensus: &str) -> anyhow::Result<()> {
    let kind: govchain_types::chain::ConsensusKind = consensus.parse()?;
    let admin = Admin::new(dir)?;
    // Every node of the directory is asked; the members' approvals count.
    let body = serde_json::json!({ "consensus": kind });
    let addrs: Vec<String> = admin.nodes.iter().filter_map(|n| n.p2p_listen.map(|a| a.to_string())).collect();
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let refusals = admin.post_each(&addrs, "/admin/consensus", &body).await?;
    // Done once every node that answers runs the new engine, and a quorum
    // does (a node that is down catches up through the switch when it
    // starts again).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (mut running, mut down) = (Vec::new(), Vec::new());
        for n in &admin.nodes {
            match admin.api(&n.node_id)?.status().await {
                Ok(s) if s.leader.is_some() => running.push((s.consensus, s.height)),
                Ok(s) => running.push((format!("{} (no leader yet)", s.consensus), s.height)),
                Err(_) => down.push(n.node_id.as_str()),
            }
        }
        if running.len() >= govchain_node::switch::quorum(admin.nodes.len())
            && running.iter().all(|(c, _)| c == kind.as_str())
        {
            let height = running.iter().map(|(_, h)| *h).min().unwrap_or(0);
            for r in refusals {
                eprintln!("warning: {r}");
            }
            if !down.is_empty() {
                eprintln!("warning: not answering (they catch up when they run again): {}", down.join(", "));
            }
            println!("consensus={kind} height={height}");
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the chain did not switch to {kind} within a minute: {}", refusals.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_node(dir: &Path, learner: bool) -> anyhow::Result<()> {
    let added = add_network_node(dir)?;
    let exe = std::env::current_exe().context("locating the govchain binary")?;
    let (child, stdout) = spawn(&exe, &added.dir)?;
    let line = url_line(&added.dir, child, stdout)?;
    let admin = Admin::new(dir)?;
    // Its key: the members of a hotstuff chain check its votes with it.
    let key =
        govchain_crypto::PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(added.dir.join("key.pem"))?)?;
    let public_key = hex::encode(key.public_key().to_sec1());
    admin
        .post(
            "/admin/learner",
            serde_json::json!({"id": added.id, "name": added.name, "addr": added.p2p, "public_key": public_key}),
        )
        .await?;
    // Promote only once it holds the chain, so the group never waits on it.
    let new = admin.api(&added.name)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut target = 0;
        for n in &admin.nodes {
            if n.node_id != added.name
                && let Ok(s) = Client::new(&format!("http://{}", n.listen))?.status().await
            {
                target = target.max(s.height);
            }
        }
        if new.status().await.is_ok_and(|s| s.height >= target) {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} did not catch up within 5 minutes", added.name);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !learner {
        admin.post("/admin/promote", serde_json::json!({"id": added.id})).await?;
    }
    println!("{line}");
    Ok(())
}

async fn remove_node(dir: &Path, name: &str) -> anyhow::Result<()> {
    let admin = Admin::new(dir)?;
    let node = admin.nodes.iter().find(|n| n.node_id == name).with_context(|| format!("no node {name}"))?;
    let genesis = Genesis::load(&node.genesis)?;
    let id = genesis
        .member(name)
        .map(|m| m.id)
        .or(node.consensus_id)
        .with_context(|| format!("{name} has no consensus id"))?;
    admin.post("/admin/remove", serde_json::json!({"id": id})).await?;
    let node_dir = dir.join(name);
    if let Some(pid) = read_pid(&node_dir) {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = std::fs::remove_file(node_dir.join("pid"));
    }
    println!("removed {name}");
    Ok(())
}

fn read_pid(node: &Path) -> Option<u32> {
    std::fs::read_to_string(node.join("pid")).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn stop(dir: &Path) -> anyhow::Result<()> {
    let mut running = Vec::new();
    for node in node_dirs(dir)? {
        if let Some(pid) = read_pid(&node)
            && alive(pid)
        {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            running.push((node, pid));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (node, pid) in running {
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_file(node.join("pid"));
        println!("stopped {}", node.display());
    }
    Ok(())
}
