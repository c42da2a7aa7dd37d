//! `govchain-node`: run a chain node, or create the files for a new one.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use govchain_crypto::Suite;
use govchain_node::{
    config::NodeConfig,
    init::{CONFIG_FILE, InitOptions, init_node_dir, root_key_note},
};

#[derive(Parser)]
#[command(name = "govchain-node", version, about = "govchain chain node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create key, chain CA, node certificate, genesis and config of a new
    /// single-node chain in a directory.
    Init {
        /// Directory to create the node in.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Run a node from its config file.
    Run {
        /// The node's config (node.toml).
        #[arg(long)]
        config: PathBuf,
        /// Overrides the config's `listen` (the client API address). In a
        /// container this is usually the pod's own address, known only at
        /// start.
        #[arg(long, env = "GOVCHAIN_LISTEN")]
        listen: Option<SocketAddr>,
        /// Overrides the config's `p2p_listen` (the mutual-TLS peer address).
        #[arg(long, env = "GOVCHAIN_P2P_LISTEN")]
        p2p_listen: Option<SocketAddr>,
    },
    /// Run a development node in a directory, creating it on first use.
    Dev {
        /// The node directory.
        #[arg(long, default_value = ".govchain/dev-node")]
        data: PathBuf,
        #[command(flatten)]
        chain: ChainArgs,
    },
}

#[derive(clap::Args)]
struct ChainArgs {
    /// Chain id.
    #[arg(long, default_value = "dev")]
    chain_id: String,
    /// Crypto suite: gm, intl-k1 or intl-r1.
    #[arg(long, default_value = "gm")]
    suite: Suite,
    /// Node id.
    #[arg(long, default_value = "node0")]
    node_id: String,
    /// API address.
    #[arg(long, default_value = "127.0.0.1:8600")]
    listen: SocketAddr,
    /// Organization creating the chain.
    #[arg(long, default_value = "dev-org")]
    org: String,
}

impl ChainArgs {
    fn options(&self) -> InitOptions {
        InitOptions {
            chain_id: self.chain_id.clone(),
            suite: self.suite,
            node_id: self.node_id.clone(),
            listen: self.listen,
            organization: self.org.clone(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides = (None, None);
    let config_path = match cli.command {
        Command::Init { out, chain } => {
            let path = init_node_dir(&out, &chain.options())?;
            println!("config={}", path.display());
            println!("{}", root_key_note(&out));
            return Ok(());
        }
        Command::Run { config, listen, p2p_listen } => {
            overrides = (listen, p2p_listen);
            config
        }
        Command::Dev { data, chain } => {
            let path = data.join(CONFIG_FILE);
            if !path.exists() {
                init_node_dir(&data, &chain.options())?;
                eprintln!("{}", root_key_note(&data));
            }
            path
        }
    };
    let mut config = match NodeConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            govchain_node::init_tracing();
            return Err(e.into());
        }
    };
    govchain_node::init_logging(config.log_config());
    tracing::info!(target: govchain_node::logs::SYSTEM, path = %config_path.display(),
        node = %config.node_id, "config loaded");
    if let Some(listen) = overrides.0 {
        config.listen = listen;
    }
    if let Some(p2p) = overrides.1 {
        config.p2p_listen = Some(p2p);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(govchain_node::run(config))?;
    Ok(())
}
