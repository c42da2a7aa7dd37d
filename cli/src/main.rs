//! `govchain`: the command-line client of govchain nodes and of the
//! control plane, and `govchain up`, the whole platform on one machine.

mod backup;
mod bench;
mod commands;
mod contract;
mod control;
mod net;
mod platform;
mod solc;
mod trace;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use govchain_crypto::Suite;

/// Default node URL when neither `--node` nor `GOVCHAIN_NODE` is given.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8600";

#[derive(Parser)]
#[command(name = "govchain", version, about = "govchain command-line client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the govchain platform on this machine with its embedded
    /// defaults (SQLite, chain nodes as local processes); prints `url=` and,
    /// on the first run, the super admin's login.
    Up(Box<platform::UpArgs>),
    /// Run a single development chain node (solo ordering) in a data
    /// directory and print how to use it.
    Dev {
        /// Data directory.
        #[arg(long, default_value = ".govchain")]
        data: PathBuf,
        /// Address of the node API.
        #[arg(long, default_value = "127.0.0.1:8600")]
        listen: std::net::SocketAddr,
        /// Crypto suite of the development chain.
        #[arg(long, default_value = "gm")]
        suite: Suite,
    },
    #[command(flatten)]
    Control(control::Verb),
    /// Nodes of a chain on the control plane: add, remove, stop, start,
    /// restart, bundle, log.
    ///
    /// Chains and nodes are given by id or name (`govchain chain show`
    /// lists them). The hidden `govchain node run --config <node.toml>` is
    /// what runs one node process (the platform and `net start` use it).
    #[command(subcommand)]
    Node(NodeCmd),
    /// Keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Hash, sign and verify files with a suite.
    #[command(subcommand)]
    Crypto(CryptoCmd),
    /// Certificates from a chain's CA.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Transactions of the data contract.
    Tx(TxArgs),
    /// EVM contracts on a node: deploy, call, upgrade, freeze, unfreeze,
    /// access lists, proposals and votes, info.
    Contract(contract::ContractArgs),
    /// Blocks.
    #[command(subcommand)]
    Block(BlockCmd),
    /// The node's status.
    Status {
        #[command(flatten)]
        node: NodeArg,
    },
    /// A chain of several nodes on this machine (init, start, stop).
    #[command(subcommand)]
    Net(net::NetCmd),
    /// Load generator: submits signed transactions at a rate and reports
    /// throughput and commit latency against the machine's verify limit.
    Bench(bench::BenchArgs),
    /// Back up the platform database (running or stopped) into a directory
    /// of backups: full, or incremental on the newest there, each with a
    /// manifest and a plain JSON export per table.
    Backup(backup::BackupArgs),
    /// Restore the platform database from a directory of backups: the full
    /// backup, then its incrementals in order. Refuses a database that is
    /// not empty (unless --force), a damaged file or a gap in the chain.
    Restore(backup::RestoreArgs),
}

#[derive(clap::Args, Clone, Debug)]
pub struct NodeArg {
    /// Node API URL.
    #[arg(long, env = "GOVCHAIN_NODE", default_value = DEFAULT_NODE)]
    pub node: String,
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Run a chain node in this process from its config file (what `govchain
    /// up` and `net start` launch).
    #[command(hide = true)]
    Run {
        /// The node's config (node.toml).
        #[arg(long)]
        config: PathBuf,
    },
    #[command(flatten)]
    Platform(control::NodeVerb),
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Generate a key pair: writes key.pem (PKCS#8) and pub.pem (SPKI), prints the address.
    Gen {
        /// gm, intl-k1 or intl-r1.
        #[arg(long)]
        suite: Suite,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum CryptoCmd {
    /// Print the suite's hex digest of a file.
    Hash {
        /// gm (SM3), intl-k1 (Keccak-256) or intl-r1 (SHA-256).
        #[arg(long)]
        suite: Suite,
        /// The file.
        file: PathBuf,
    },
    /// Sign a file; writes a DER signature.
    Sign {
        /// PKCS#8 private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signature.
        #[arg(long)]
        out: PathBuf,
        /// The file.
        file: PathBuf,
    },
    /// Verify a file's DER signature; exits non-zero if it does not verify.
    Verify {
        /// SPKI public key (PEM).
        #[arg(long = "pub")]
        public: PathBuf,
        /// The DER signature.
        #[arg(long)]
        sig: PathBuf,
        /// The file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertCmd {
    /// Issue a user or node certificate from the chain's operating CA.
    Issue(commands::IssueArgs),
}

#[derive(clap::Args)]
struct TxArgs {
    #[command(subcommand)]
    op: commands::TxOp,
    /// Node API URL.
    #[arg(long, global = true, env = "GOVCHAIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// PKCS#8 private key (PEM) that signs.
    #[arg(long = "key", global = true)]
    key_file: Option<PathBuf>,
    /// Certificate (PEM) of the signing key from the chain's CA: the
    /// transaction then acts for the certificate's organization.
    #[arg(long = "cert", global = true)]
    cert_file: Option<PathBuf>,
    /// Return once admitted instead of waiting for the commit.
    #[arg(long = "async", global = true)]
    asynchronous: bool,
}

#[derive(Subcommand)]
enum BlockCmd {
    /// A block by height, id or `latest`.
    Get {
        /// Height, block id (hex) or `latest`.
        at: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // Logs to stderr and into the replica's log store under its data dir.
        Command::Up(args) => platform::up(*args).await,
        Command::Dev { data, listen, suite } => commands::dev(data, listen, suite).await,
        Command::Key(KeyCmd::Gen { suite, out }) => commands::key_gen(suite, &out),
        Command::Crypto(CryptoCmd::Hash { suite, file }) => commands::hash(suite, &file),
        Command::Crypto(CryptoCmd::Sign { key, out, file }) => commands::sign(&key, &out, &file),
        Command::Crypto(CryptoCmd::Verify { public, sig, file }) => commands::verify(&public, &sig, &file),
        Command::Cert(CertCmd::Issue(args)) => commands::cert_issue(&args),
        Command::Tx(args) => {
            let signer =
                commands::SignerFiles { key: args.key_file.as_deref(), cert: args.cert_file.as_deref() };
            commands::tx(args.op, &args.node, signer, args.asynchronous).await
        }
        Command::Contract(args) => contract::run(args).await,
        Command::Block(BlockCmd::Get { at, node }) => commands::block_get(&node.node, &at).await,
        Command::Status { node } => commands::status(&node.node).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::Net(cmd) => net::run(cmd).await,
        Command::Node(NodeCmd::Run { config: path }) => {
            let config = match govchain_node::config::NodeConfig::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    govchain_node::init_tracing();
                    return Err(e.into());
                }
            };
            govchain_node::init_logging(config.log_config());
            tracing::info!(target: govchain_node::logs::SYSTEM, path = %path.display(),
                node = %config.node_id, "config loaded");
            Ok(govchain_node::run(config).await?)
        }
        Command::Node(NodeCmd::Platform(verb)) => control::node(verb).await,
        Command::Control(verb) => control::run(verb).await,
    }
}
