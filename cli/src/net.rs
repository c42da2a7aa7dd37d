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
use govchain_node::init::{CONFIG_FILE, NetworkOptions, init_network};

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
        /// Consensus engine.
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
    /// Start every node of a directory made by `net init` in the background;
    /// prints `node=<id> url=<url>` per node.
    Start {
        /// The directory.
        dir: PathBuf,
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
            for dir in init_network(&out, &opts)? {
                println!("node_dir={}", dir.display());
            }
            println!("{}", govchain_node::init::root_key_note(&out));
            Ok(())
        }
        NetCmd::Start { dir } => start(&dir),
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
        let log = std::fs::File::create(node.join("node.log"))?;
        let mut child = Command::new(&exe)
            .args(["node", "run", "--config"])
            .arg(node.join(CONFIG_FILE))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting the node in {}", node.display()))?;
        std::fs::write(node.join("pid"), child.id().to_string())?;
        let stdout = child.stdout.take().context("node stdout")?;
        started.push((node, child, stdout));
    }
    // The nodes of a replicated chain start together: each prints its URL
    // once its listeners are up.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (node, mut child, stdout) in started {
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
        println!("{line}");
        if Instant::now() > deadline {
            bail!("nodes took over a minute to start");
        }
        // Keep the pipe drained so the node never blocks on stdout.
        std::thread::spawn(move || lines.for_each(drop));
    }
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
