//! `govchain up`: the whole platform on this machine with its embedded
//! defaults — the control plane on SQLite and the local process driver,
//! whose chain nodes are children of this process.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use govchain_driver::{LocalDriver, NodeProgram};

/// Options of `govchain up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Data directory: the database and every chain's nodes.
    #[arg(long, default_value = ".govchain")]
    pub data: PathBuf,
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL (`postgres://...`); the default is SQLite in the data directory.
    #[arg(long, env = "GOVCHAIN_DATABASE_URL")]
    pub database: Option<String>,
    /// Password of the first super admin (first run only); random and
    /// printed once when not given.
    #[arg(long, env = "GOVCHAIN_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Idle timeout of browser sessions, seconds.
    #[arg(long, default_value_t = 30 * 60)]
    pub idle_timeout_secs: u64,
}

/// Runs the platform until SIGINT or SIGTERM; then stops the chain nodes
/// (their data stays and the next `up` resumes them).
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data).with_context(|| format!("creating {}", args.data.display()))?;
    let data = std::fs::canonicalize(&args.data)?;
    let database = match args.database {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", data.join("govchain.db").display()),
    };
    let exe = std::env::current_exe().context("locating the govchain binary")?;
    let program = NodeProgram { exe, args: vec!["node".into(), "run".into(), "--config".into()] };
    let driver = Arc::new(LocalDriver::new(data.join("hosts"), program)?);
    let mut config = govchain_api::ApiConfig::new(database, args.listen);
    config.admin_password = args.admin_password;
    config.idle_timeout = std::time::Duration::from_secs(args.idle_timeout_secs.max(1));
    let platform = govchain_api::start(config, driver).await?;
    println!("url={}", platform.url);
    if let Some((user, password)) = &platform.first_admin {
        println!("admin={user} password={password}");
        println!("note: the password is shown only now; change it after logging in");
    }
    println!("openapi={}/api/openapi.json", platform.url);
    println!("data={}", data.display());
    let exe = std::env::current_exe().map_or_else(|_| "govchain".into(), |p| p.display().to_string());
    println!("try: {exe} login --api {} --user {}", platform.url, platform.state.config.admin_username);
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping: chain nodes are stopped, their data is kept");
    platform.shutdown().await;
    Ok(())
}
