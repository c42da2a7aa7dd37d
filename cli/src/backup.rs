//! `govchain backup` and `govchain restore`: the platform database to a
//! directory of backups and back (SPEC OPS-5), for a running or a stopped
//! platform. The running platform takes its own on a schedule with
//! `govchain up --backup-dir`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use govchain_api::backup::{self, Kind};

/// Which database: a platform data directory's SQLite or a URL.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// The platform's data directory (its SQLite database `govchain.db`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Database URL (`postgres://...` or `sqlite://...`).
    #[arg(long)]
    pub database: Option<String>,
}

/// Options of `govchain backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub target: Target,
    /// The directory of backups (made if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Take a full backup (the default when the directory holds none).
    #[arg(long, conflicts_with = "incremental")]
    pub full: bool,
    /// Take an incremental backup: the changes since the newest backup in
    /// the directory (the default when it holds one).
    #[arg(long)]
    pub incremental: bool,
}

/// Options of `govchain restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub target: Target,
    /// The directory of backups, or one backup's directory.
    #[arg(long)]
    pub from: PathBuf,
    /// The backup to restore to (its id); the newest by default. Its full
    /// backup and the incrementals up to it are applied in order.
    #[arg(long)]
    pub to: Option<String>,
    /// Replace the data of a database that is not empty.
    #[arg(long)]
    pub force: bool,
}

fn sqlite_url(data: &Path, create: bool) -> anyhow::Result<String> {
    if create {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    }
    let data =
        std::fs::canonicalize(data).with_context(|| format!("the data directory {}", data.display()))?;
    let file = data.join("govchain.db");
    if !create && !file.is_file() {
        anyhow::bail!("{} holds no platform database (govchain.db)", data.display());
    }
    Ok(format!("sqlite://{}?mode={}", file.display(), if create { "rwc" } else { "rw" }))
}

/// `govchain backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = match (&args.target.data, &args.target.database) {
        (Some(d), _) => sqlite_url(d, false)?,
        (None, Some(u)) => u.clone(),
        (None, None) => anyhow::bail!("give --data or --database"),
    };
    let has_full = || -> anyhow::Result<bool> {
        Ok(args.out.is_dir() && backup::list(&args.out)?.iter().any(|m| m.kind == Kind::Full))
    };
    let kind = if !args.full && (args.incremental || has_full()?) { Kind::Incremental } else { Kind::Full };
    let db = backup::open(&url).await?;
    let m = backup::take(&db, &args.out, kind).await?;
    db.close().await.ok();
    println!("backup={}", m.id);
    println!("kind={}", serde_json::to_value(m.kind)?.as_str().unwrap_or_default());
    if let Some(p) = &m.parent {
        println!("parent={p}");
    }
    println!("path={}", args.out.join(&m.id).display());
    println!("tables={}", m.tables.len());
    println!("rows={}", m.tables.iter().map(|t| t.rows).sum::<u64>());
    println!("changed={}", m.tables.iter().map(|t| t.upserts + t.deletes).sum::<u64>());
    println!("bytes={}", m.bytes);
    println!("ms={}", m.duration_ms);
    Ok(())
}

/// `govchain restore`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    // Refuse a damaged or broken chain before the target is created or migrated.
    backup::plan(&args.from, args.to.as_deref())?;
    let url = match (&args.target.data, &args.target.database) {
        (Some(d), _) => sqlite_url(d, true)?,
        (None, Some(u)) => u.clone(),
        (None, None) => anyhow::bail!("give --data or --database"),
    };
    let db = govchain_api::connect(&url).await?;
    let done = backup::restore(&db, &args.from, args.to.as_deref(), args.force).await?;
    db.close().await.ok();
    println!("restored={}", done.chain.last().cloned().unwrap_or_default());
    println!("chain={}", done.chain.join(","));
    println!("tables={}", done.tables);
    println!("rows={}", done.rows);
    Ok(())
}
