//! `govchain logs` and `govchain log-level`: a node's or the platform's
//! log through the control plane (search, follow, a day's download, the
//! run-time level).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use super::{ApiOpts, NodeRef, client::Api, connect, emit, resolve_node, write_file};

/// `govchain logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Chain id or name (not with --platform).
    chain: Option<String>,
    /// Node id or name (not with --platform).
    node: Option<String>,
    /// This platform replica's own log instead (super admin).
    #[arg(long)]
    platform: bool,
    /// Log type: run, system or error.
    #[arg(long = "type", default_value = "run")]
    kind: String,
    /// Only lines containing this (case-insensitive), or matching it with --regex.
    #[arg(long)]
    grep: Option<String>,
    /// --grep is a regular expression.
    #[arg(long)]
    regex: bool,
    /// How far back: 30s, 15m, 1h, 7d (default 1h).
    #[arg(long, default_value = "1h")]
    since: String,
    /// Most lines (1 to 10000).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Keep printing new lines as they are written (until Ctrl-C; the
    /// server ends a stream after an hour).
    #[arg(long, conflicts_with = "download")]
    follow: bool,
    /// Download the log of this day (YYYY-MM-DD, one of the last 30 days)
    /// instead of searching.
    #[arg(long, value_name = "DATE")]
    download: Option<String>,
    /// Where --download writes (default `<node>-<type>-<date>.log`).
    #[arg(long, requires = "download")]
    out: Option<PathBuf>,
    #[command(flatten)]
    api: ApiOpts,
}

/// `govchain log-level`.
#[derive(Args, Debug)]
pub struct LogLevelArgs {
    /// Chain id or name (with --platform: the level to set).
    chain: Option<String>,
    /// Node id or name.
    node: Option<String>,
    /// The level to set (trace, debug, info, warn, error) or a filter
    /// directive (info,govchain::node=debug); without it, shows the level.
    level: Option<String>,
    /// This platform replica's level instead (super admin).
    #[arg(long)]
    platform: bool,
    #[command(flatten)]
    api: ApiOpts,
}

impl LogsArgs {
    /// Whether the answer is printed as JSON.
    pub fn json(&self) -> bool {
        self.api.json
    }
}

impl LogLevelArgs {
    /// Whether the answer is printed as JSON.
    pub fn json(&self) -> bool {
        self.api.json
    }
}

/// `30s`, `15m`, `1h`, `7d` in ms.
fn parse_since(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("--since `{s}`: expected a number and s, m, h or d"))?;
    let per = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" | "" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("--since `{s}`: unknown unit `{other}` (s, m, h, d)"),
    };
    if n <= 0 || n > 31 * 24 {
        bail!("--since `{s}`: must be above 0 and at most 31 days");
    }
    let ms = n.saturating_mul(per);
    if ms > 31 * 86_400_000 {
        bail!("--since `{s}`: at most 31 days");
    }
    Ok(ms)
}

/// The base path of the log routes (`/api/v1/chains/{c}/nodes/{n}` or
/// `/api/v1/platform`) and a file name stem.
async fn base(
    api: &Api,
    chain: Option<&String>,
    node: Option<&String>,
    platform: bool,
    opts: &ApiOpts,
) -> anyhow::Result<(String, String)> {
    if platform {
        if chain.is_some() || node.is_some() {
            bail!("--platform takes no chain or node");
        }
        return Ok(("/api/v1/platform".into(), "platform".into()));
    }
    let (Some(chain), Some(node)) = (chain, node) else {
        bail!("give a chain and a node (or --platform)");
    };
    let r = NodeRef { chain: chain.clone(), node: node.clone(), api: opts.clone() };
    let (c, n) = resolve_node(api, &r).await?;
    Ok((format!("/api/v1/chains/{c}/nodes/{n}"), node.replace(['/', '\\'], "_")))
}

fn time_of(ms: i64) -> String {
    let day = govchain_logstore::format_day(govchain_logstore::day_of_ms(ms));
    let in_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{day}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// One line as people read it.
fn human(line: &Value) -> String {
    let mut out = format!(
        "{} {:5} {}: {}",
        time_of(line["ts"].as_i64().unwrap_or(0)),
        line["level"].as_str().unwrap_or(""),
        line["target"].as_str().unwrap_or(""),
        line["message"].as_str().unwrap_or("")
    );
    if let Some(fields) = line["fields"].as_object() {
        for (k, v) in fields {
            match v {
                Value::String(s) => out.push_str(&format!(" {k}={s}")),
                v => out.push_str(&format!(" {k}={v}")),
            }
        }
    }
    out.push('\n');
    out
}

/// Runs `govchain logs`.
pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let api = connect(args.api.api.as_deref())?;
    let (base, stem) = base(&api, args.chain.as_ref(), args.node.as_ref(), args.platform, &args.api).await?;
    if let Some(date) = &args.download {
        let query = [("type", args.kind.clone()), ("date", date.clone())];
        let bytes = api.download(&format!("{base}/logs/download"), &query).await?;
        let out =
            args.out.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}-{}-{date}.log", args.kind)));
        write_file(&out, &bytes, false)?;
        let raw = json!({"path": out, "bytes": bytes.len()});
        return emit(args.api.json, &raw, || Ok(format!("log={} bytes={}\n", out.display(), bytes.len())));
    }
    if args.follow {
        return follow(&api, &base, &args).await;
    }
    let now = govchain_logstore::now_ms();
    let mut query = vec![
        ("type", args.kind.clone()),
        ("from", (now - parse_since(&args.since)?).to_string()),
        ("to", now.to_string()),
        ("limit", args.limit.to_string()),
    ];
    if let Some(g) = &args.grep {
        query.push(("q", g.clone()));
        query.push(("regex", args.regex.to_string()));
    }
    let raw = api.get_with(&format!("{base}/logs"), &query).await?;
    emit(args.api.json, &raw, || {
        // Newest first from the API; oldest first on a terminal, as a log reads.
        let lines = raw.as_array().cloned().unwrap_or_default();
        Ok(lines.iter().rev().map(human).collect())
    })
}

/// Prints the Server-Sent Events of `{base}/logs/stream` until the stream
/// ends or the process is stopped.
async fn follow(api: &Api, base: &str, args: &LogsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let mut resp = api
        .send(reqwest::Method::GET, &format!("{base}/logs/stream"), &[("type", args.kind.clone())], None)
        .await?;
    let mut buf = String::new();
    while let Some(chunk) = resp.chunk().await.context("reading the log stream")? {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let Ok(v) = serde_json::from_str::<Value>(data.trim()) else { continue };
            if args.grep.as_deref().is_some_and(|g| !v.to_string().to_lowercase().contains(&g.to_lowercase()))
            {
                continue;
            }
            if args.api.json {
                println!("{v}");
            } else {
                print!("{}", human(&v));
            }
            std::io::stdout().flush()?;
        }
        if buf.len() > 1024 * 1024 {
            bail!("the log stream sent a line over 1 MiB");
        }
    }
    Ok(())
}

/// Runs `govchain log-level`.
pub async fn log_level(args: LogLevelArgs) -> anyhow::Result<()> {
    let api = connect(args.api.api.as_deref())?;
    let (base, level) = if args.platform {
        if args.node.is_some() || args.level.is_some() {
            bail!("with --platform give only the level");
        }
        let (base, _) = base(&api, None, None, true, &args.api).await?;
        (base, args.chain.clone())
    } else {
        let (base, _) = base(&api, args.chain.as_ref(), args.node.as_ref(), false, &args.api).await?;
        (base, args.level.clone())
    };
    let path = format!("{base}/log-level");
    let raw = match level {
        Some(level) => api.put(&path, &json!({ "level": level })).await?,
        None => api.get(&path).await?,
    };
    emit(args.api.json, &raw, || Ok(format!("level={}\n", raw["level"].as_str().unwrap_or(""))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn since_reads_units_and_refuses_the_rest() {
        assert_eq!(parse_since("30s").unwrap(), 30_000);
        assert_eq!(parse_since("15m").unwrap(), 900_000);
        assert_eq!(parse_since("2h").unwrap(), 7_200_000);
        assert_eq!(parse_since("7d").unwrap(), 604_800_000);
        for bad in ["", "h", "0h", "-1h", "3w", "40d", "99999999999999999999h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        assert_eq!(time_of(86_400_000 + 3_723_004), "1970-01-02T01:02:03.004Z");
    }
}
