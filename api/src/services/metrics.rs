//! Monitoring figures in the platform's own database (SPEC OPS-1): the
//! collector scrapes every running node's `/metrics` on an interval and
//! keeps chosen series, together with the platform's own figures; rollups
//! average them per minute and per hour; a retention per resolution drops
//! old rows; charts read a series at the finest resolution still kept for
//! their range, at most [`MAX_POINTS`] points.
//!
//! A raw sample's time is the start of its collection interval, and every
//! write skips a row that exists: replicas that scrape the same node in
//! the same interval write it once.
//!
//! Not here: the Prometheus text of the platform itself (`crate::metrics`),
//! alert rules.

use std::{collections::HashMap, time::Duration};

use futures_util::{StreamExt, stream};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
    sea_query::OnConflict,
};

use crate::{
    AppState,
    domain::{ChainState, NodeState},
    entity::{chain, metric_sample, metric_series, node},
    error::{ApiError, Result},
};

/// Most points a chart gets per series.
pub const MAX_POINTS: i64 = 500;
/// The longest range a chart may ask for.
pub const MAX_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
/// How long one scrape of a node may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes read from one node's `/metrics`.
const MAX_SCRAPE: usize = 1024 * 1024;
/// Nodes scraped at once.
const PARALLEL: usize = 32;

/// Resolutions, in seconds: raw scrapes, minute and hour averages.
pub mod res {
    /// As scraped.
    pub const RAW: i32 = 0;
    /// 1-minute averages.
    pub const MINUTE: i32 = 60;
    /// 1-hour averages.
    pub const HOUR: i32 = 3600;
}

/// How long each resolution is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples (24 h).
    pub raw: Duration,
    /// 1-minute rollups (7 days).
    pub minute: Duration,
    /// 1-hour rollups (30 days).
    pub hour: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(24 * 3600),
            minute: Duration::from_secs(7 * 24 * 3600),
            hour: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with any `_total`, `_bucket` suffix).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Parses the Prometheus text (and OpenMetrics) exposition. Comments and
/// lines that do not parse are skipped; nothing panics on any input.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))?;
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

/// Labels up to the closing `}`, and what follows it.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace() || *c == ',').is_some() {}
        let (start, c) = chars.next()?;
        if c == '}' {
            return Some((labels, &s[start + 1..]));
        }
        let mut end = start + c.len_utf8();
        while let Some((i, c)) = chars.next_if(|(_, c)| *c != '=') {
            end = i + c.len_utf8();
        }
        let key = s[start..end].trim().to_owned();
        chars.next().filter(|(_, c)| *c == '=')?;
        chars.next().filter(|(_, c)| *c == '"')?;
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '"' => break,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        if key.is_empty() {
            return None;
        }
        labels.push((key, value));
    }
}

/// The series kept of a node: stored name and the exported name it is
/// read from (samples of one name summed over their labels).
pub const NODE_SERIES: [(&str, &str); 14] = [
    ("height", "govchain_node_height"),
    ("pending", "govchain_node_pending"),
    ("block_interval_seconds", "govchain_node_block_interval_seconds"),
    ("transactions", "govchain_node_transactions_total"),
    ("peers", "govchain_node_peers"),
    ("is_leader", "govchain_node_is_leader"),
    ("process_cpu_seconds", "govchain_node_process_cpu_seconds"),
    ("process_resident_memory_bytes", "govchain_node_process_resident_memory_bytes"),
    ("process_open_fds", "govchain_node_process_open_fds"),
    ("disk_used_bytes", "govchain_node_disk_used_bytes"),
    ("disk_free_bytes", "govchain_node_disk_free_bytes"),
    ("network_receive_bytes", "govchain_node_network_receive_bytes"),
    ("network_transmit_bytes", "govchain_node_network_transmit_bytes"),
    // When the chain CA stops verifying (the default "certificate
    // expiring" alert rule reads it).
    ("cert_expiry_timestamp_seconds", "govchain_node_cert_expiry_timestamp_seconds"),
];

/// The platform's own series kept.
pub const PLATFORM_SERIES: [(&str, &str); 6] = [
    ("http_requests", "govchain_api_http_requests_total"),
    ("process_cpu_seconds", "govchain_api_process_cpu_seconds"),
    ("process_resident_memory_bytes", "govchain_api_process_resident_memory_bytes"),
    ("process_open_fds", "govchain_api_process_open_fds"),
    ("db_pool_connections", "govchain_api_db_pool_connections"),
    ("collector_scrapes", "govchain_api_collector_scrapes_total"),
];

/// Series computed when read: the per-second rate of a stored counter.
pub const DERIVED: [(&str, &str); 3] =
    [("tps", "transactions"), ("cpu_cores", "process_cpu_seconds"), ("http_request_rate", "http_requests")];

/// `up`: 1 when the node answered its scrape, 0 when not.
pub const UP: &str = "up";

/// The chosen series of a scrape, summed per name.
pub fn select(samples: &[Sample], chosen: &[(&'static str, &str)]) -> Vec<(&'static str, f64)> {
    chosen
        .iter()
        .filter_map(|(stored, exported)| {
            let mut found = samples.iter().filter(|s| s.name == *exported && s.value.is_finite()).peekable();
            found.peek()?;
            Some((*stored, found.map(|s| s.value).sum()))
        })
        .collect()
}

/// Where a sample belongs: a node of a chain, or the platform (both
/// `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The chain.
    pub chain_id: Option<i64>,
    /// The node.
    pub node_id: Option<i64>,
}

impl Owner {
    /// The platform's own figures.
    pub const PLATFORM: Owner = Owner { chain_id: None, node_id: None };

    fn key(&self, name: &str) -> String {
        let part = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        format!("{}/{}/{name}", part(self.chain_id), part(self.node_id))
    }
}

/// The ids of series by key, so a round looks each up once.
#[derive(Debug, Default)]
pub struct SeriesIds(std::sync::Mutex<HashMap<String, i64>>);

impl SeriesIds {
    async fn id(&self, db: &impl ConnectionTrait, owner: Owner, name: &str) -> Result<i64> {
        let key = owner.key(name);
        if let Some(id) = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok(*id);
        }
        let find =
            || metric_series::Entity::find().filter(metric_series::Column::Key.eq(key.as_str())).one(db);
        let id = match find().await? {
            Some(s) => s.id,
            None => {
                let row = metric_series::ActiveModel {
                    key: sea_orm::Set(key.clone()),
                    name: sea_orm::Set(name.to_owned()),
                    chain_id: sea_orm::Set(owner.chain_id),
                    node_id: sea_orm::Set(owner.node_id),
                    labels: sea_orm::Set("{}".into()),
                    ..Default::default()
                };
                metric_series::Entity::insert(row)
                    .on_conflict(OnConflict::column(metric_series::Column::Key).do_nothing().to_owned())
                    .exec_without_returning(db)
                    .await?;
                find()
                    .await?
                    .ok_or_else(|| ApiError::internal("metric series", format!("{key} vanished")))?
                    .id
            }
        };
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, id);
        Ok(id)
    }
}

/// Stores one round's raw samples at time `ts`; existing rows are kept.
/// Returns the rows written.
pub async fn store(
    db: &impl TransactionTrait,
    ids: &SeriesIds,
    ts: i64,
    samples: &[(Owner, &str, f64)],
) -> Result<usize> {
    let txn = db.begin().await?;
    let mut rows = Vec::with_capacity(samples.len());
    for (owner, name, value) in samples {
        let series_id = ids.id(&txn, *owner, name).await?;
        rows.push(metric_sample::ActiveModel {
            series_id: sea_orm::Set(series_id),
            res: sea_orm::Set(res::RAW),
            ts: sea_orm::Set(ts),
            value: sea_orm::Set(*value),
        });
    }
    let written = rows.len();
    // Bounded statements: SQLite allows 32766 parameters, four per row.
    for chunk in rows.chunks(1000) {
        metric_sample::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    metric_sample::Column::SeriesId,
                    metric_sample::Column::Res,
                    metric_sample::Column::Ts,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(written)
}

/// Averages every complete minute of raw samples and every complete hour
/// of minute averages not rolled up yet, as of `now` (ms). A period is
/// complete once `now` is past its end plus `settle` (late writes of the
/// round that straddles it).
pub async fn rollup(db: &impl ConnectionTrait, now: i64, settle: Duration) -> Result<()> {
    for (src, dst) in [(res::RAW, res::MINUTE), (res::MINUTE, res::HOUR)] {
        let width = i64::from(dst) * 1000;
        let newest = scalar(db, &format!("SELECT MAX(ts) FROM metric_samples WHERE res = {dst}")).await?;
        let from = match newest {
            Some(t) => t + width,
            None => match scalar(db, &format!("SELECT MIN(ts) FROM metric_samples WHERE res = {src}")).await?
            {
                Some(t) => t.div_euclid(width) * width,
                None => continue,
            },
        };
        let to = (now - ms(settle)).div_euclid(width) * width;
        if from >= to {
            continue;
        }
        let sql = format!(
            "INSERT INTO metric_samples (series_id, res, ts, value) \
             SELECT series_id, {dst}, (ts / {width}) * {width}, AVG(value) FROM metric_samples \
             WHERE res = {src} AND ts >= {from} AND ts < {to} GROUP BY series_id, (ts / {width}) * {width} \
             ON CONFLICT DO NOTHING"
        );
        db.execute(Statement::from_string(db.get_database_backend(), sql)).await?;
    }
    Ok(())
}

/// Drops samples older than their resolution's retention, as of `now`.
/// Returns the rows dropped.
pub async fn expire(db: &impl ConnectionTrait, now: i64, keep: &Retention) -> Result<u64> {
    let mut dropped = 0;
    for (r, d) in [(res::RAW, keep.raw), (res::MINUTE, keep.minute), (res::HOUR, keep.hour)] {
        let before = now.saturating_sub(ms(d));
        let sql = format!("DELETE FROM metric_samples WHERE res = {r} AND ts < {before}");
        dropped += db.execute(Statement::from_string(db.get_database_backend(), sql)).await?.rows_affected();
    }
    Ok(dropped)
}

async fn scalar(db: &impl ConnectionTrait, sql: &str) -> Result<Option<i64>> {
    let row = db.query_one(Statement::from_string(db.get_database_backend(), sql.to_owned())).await?;
    Ok(match row {
        Some(r) => r.try_get_by_index::<Option<i64>>(0)?,
        None => None,
    })
}

/// What one collection round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Nodes asked.
    pub nodes: usize,
    /// Nodes that answered.
    pub answered: usize,
    /// Sample rows written.
    pub rows: usize,
}

/// One collection round at `now` (ms): scrapes the running nodes of the
/// running chains this replica reaches, adds the platform's own figures,
/// stores them at the start of the current interval, rolls up and expires.
pub async fn collect(state: &AppState, ids: &SeriesIds, http: &reqwest::Client, now: i64) -> Result<Round> {
    let interval = ms(state.config.metrics_interval).max(1);
    let ts = now.div_euclid(interval) * interval;
    let chains =
        chain::Entity::find().filter(chain::Column::State.eq(ChainState::Running)).all(&state.read).await?;
    let mine: Vec<i64> =
        chains.iter().filter(|c| c.host.is_none() || c.host == state.config.host).map(|c| c.id).collect();
    let nodes = node::Entity::find()
        .filter(node::Column::ChainId.is_in(mine))
        .filter(node::Column::State.eq(NodeState::Running))
        .all(&state.read)
        .await?;
    let scraped: Vec<(node::Model, Option<String>)> = stream::iter(nodes)
        .map(|n| async move {
            let text = scrape(http, &n.api_url).await;
            (n, text)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut samples: Vec<(Owner, &str, f64)> = Vec::new();
    let mut round = Round { nodes: scraped.len(), ..Round::default() };
    for (n, text) in &scraped {
        let owner = Owner { chain_id: Some(n.chain_id), node_id: Some(n.id) };
        state.metrics.scraped(text.is_some());
        samples.push((owner, UP, if text.is_some() { 1.0 } else { 0.0 }));
        if let Some(text) = text {
            round.answered += 1;
            samples.extend(select(&parse(text), &NODE_SERIES).into_iter().map(|(k, v)| (owner, k, v)));
        }
    }
    let own = parse(&state.metrics.render());
    samples.extend(select(&own, &PLATFORM_SERIES).into_iter().map(|(k, v)| (Owner::PLATFORM, k, v)));
    round.rows = store(&state.db, ids, ts, &samples).await?;
    rollup(&state.db, now, state.config.metrics_interval).await?;
    expire(&state.db, now, &state.config.metrics_retention).await?;
    Ok(round)
}

async fn scrape(http: &reqwest::Client, api_url: &str) -> Option<String> {
    let url = format!("{}/metrics", api_url.trim_end_matches('/'));
    let ask = async {
        let resp = http.get(&url).send().await.ok()?.error_for_status().ok()?;
        let body = resp.bytes().await.ok()?;
        (body.len() <= MAX_SCRAPE).then(|| String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, ask).await.ok().flatten()
}

/// Runs [`collect`] every `metrics_interval` until the task is aborted.
pub fn spawn_collector(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let ids = SeriesIds::default();
        let http = reqwest::Client::builder().timeout(SCRAPE_TIMEOUT).build().unwrap_or_default();
        let mut tick = tokio::time::interval(state.config.metrics_interval.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = collect(&state, &ids, &http, crate::now_ms()).await {
                tracing::warn!(target: "govchain::api", "metrics collection: {}", e.message);
            }
        }
    })
}

/// A chart's question.
#[derive(Debug, Clone)]
pub struct Range {
    /// Start, ms since 1970 (inclusive).
    pub from: i64,
    /// End, ms since 1970 (exclusive).
    pub to: i64,
    /// The point spacing asked for, ms (raised to keep [`MAX_POINTS`]).
    pub step: Option<i64>,
}

/// A series as a chart reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric.
    pub name: String,
    /// The node (`None`: the platform).
    pub node_id: Option<i64>,
    /// `(ms since 1970, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// What [`read`] answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The resolution read (0, 60 or 3600 s).
    pub res: i32,
    /// The point spacing, ms.
    pub step: i64,
    /// The series.
    pub series: Vec<Series>,
}

/// The resolution a range starting at `from` is read at: the finest still
/// kept that far back.
pub fn resolution(from: i64, now: i64, keep: &Retention) -> i32 {
    if from >= now - ms(keep.raw) {
        res::RAW
    } else if from >= now - ms(keep.minute) {
        res::MINUTE
    } else {
        res::HOUR
    }
}

/// The point spacing: what was asked, at least the resolution and wide
/// enough for [`MAX_POINTS`] over the range.
pub fn step_for(range: &Range, res: i32, interval: Duration) -> i64 {
    let span = (range.to - range.from).max(1);
    let floor = if res == res::RAW { ms(interval).max(1000) } else { i64::from(res) * 1000 };
    let fit = (span + MAX_POINTS - 1) / MAX_POINTS;
    range.step.unwrap_or(0).max(floor).max(fit)
}

/// Series `names` (stored or [`DERIVED`]) of `owner` (a chain's nodes when
/// `owner.node_id` is `None` and `owner.chain_id` is set), over `range`,
/// averaged per step.
pub async fn read(
    db: &impl ConnectionTrait,
    owner: Owner,
    names: &[&str],
    range: &Range,
    now: i64,
    keep: &Retention,
    interval: Duration,
) -> Result<Answer> {
    let r = resolution(range.from, now, keep);
    let step = step_for(range, r, interval);
    let mut stored: Vec<&str> =
        names.iter().map(|n| DERIVED.iter().find(|(d, _)| d == n).map_or(*n, |(_, src)| *src)).collect();
    stored.sort_unstable();
    stored.dedup();
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut ph = |v: sea_orm::Value| {
        values.push(v);
        match backend {
            DatabaseBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    let owner_sql = match owner {
        Owner { chain_id: None, .. } => "s.chain_id IS NULL AND s.node_id IS NULL".to_owned(),
        Owner { chain_id: Some(c), node_id: None } => format!("s.chain_id = {}", ph(c.into())),
        Owner { chain_id: Some(c), node_id: Some(n) } => {
            format!("s.chain_id = {} AND s.node_id = {}", ph(c.into()), ph(n.into()))
        }
    };
    let in_list: Vec<String> = stored.iter().map(|n| ph((*n).into())).collect();
    let spans = spans(db, r, range).await?;
    let when: Vec<String> =
        spans.iter().map(|(res, a, b)| format!("(m.res = {res} AND m.ts >= {a} AND m.ts < {b})")).collect();
    // The series first (SQLite keeps the order of a CROSS JOIN), then each
    // one's samples by the primary key (series, resolution, time), not
    // every series' samples of the range by the time index.
    let sql = format!(
        "SELECT s.name AS name, s.node_id AS node_id, (m.ts / {step}) * {step} AS b, AVG(m.value) AS v \
         FROM metric_series s CROSS JOIN metric_samples m \
         WHERE m.series_id = s.id AND {owner_sql} AND s.name IN ({}) AND ({}) \
         GROUP BY s.name, s.node_id, (m.ts / {step}) * {step} ORDER BY s.name, s.node_id, b",
        in_list.join(", "),
        if when.is_empty() { "1 = 0".to_owned() } else { when.join(" OR ") },
    );
    let rows = db.query_all(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut by: Vec<Series> = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let node_id: Option<i64> = row.try_get("", "node_id")?;
        let b: i64 = row.try_get("", "b")?;
        let v: f64 = row.try_get("", "v")?;
        match by.last_mut() {
            Some(s) if s.name == name && s.node_id == node_id => s.points.push((b, v)),
            _ => by.push(Series { name, node_id, points: vec![(b, v)] }),
        }
    }
    let mut series = Vec::new();
    for want in names {
        match DERIVED.iter().find(|(d, _)| d == want) {
            Some((d, src)) => series.extend(by.iter().filter(|s| s.name == *src).map(|s| Series {
                name: (*d).to_owned(),
                node_id: s.node_id,
                points: rate(&s.points),
            })),
            None => series.extend(by.iter().filter(|s| s.name == *want).cloned()),
        }
    }
    Ok(Answer { res: r, step, series })
}

/// Which stored resolution answers which part of `range`, read at `r`:
/// `r` up to the end of its latest rollup, then the next finer one up to
/// the end of its own, and raw samples for the rest. So the newest part of
/// a long range, not rolled up yet, is drawn too (a new platform's 30-day
/// chart is not empty for its first hour).
async fn spans(db: &impl ConnectionTrait, r: i32, range: &Range) -> Result<Vec<(i32, i64, i64)>> {
    let order: &[i32] = match r {
        res::HOUR => &[res::HOUR, res::MINUTE, res::RAW],
        res::MINUTE => &[res::MINUTE, res::RAW],
        _ => &[res::RAW],
    };
    let mut spans = Vec::new();
    let mut start = range.from;
    for (i, res) in order.iter().enumerate() {
        if start >= range.to {
            break;
        }
        let end = if i + 1 == order.len() {
            range.to
        } else {
            let newest = scalar(db, &format!("SELECT MAX(ts) FROM metric_samples WHERE res = {res}")).await?;
            newest.map_or(start, |t| t + i64::from(*res) * 1000).clamp(start, range.to)
        };
        if end > start {
            spans.push((*res, start, end));
            start = end;
        }
    }
    Ok(spans)
}

/// The per-second rate between successive points of a counter; a drop (a
/// restart) starts over instead of counting as negative.
pub fn rate(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    points
        .windows(2)
        .filter_map(|w| {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            let dt = (t1 - t0) as f64 / 1000.0;
            (dt > 0.0 && v1 >= v0).then(|| (t1, (v1 - v0) / dt))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_text_format_and_survives_garbage() {
        let text = "# HELP govchain_node_height Committed block height\n# TYPE govchain_node_height gauge\n\
                    govchain_node_height 42\n\
                    govchain_node_transactions_total{status=\"success\"} 10\n\
                    govchain_node_transactions_total{status=\"failed\",x=\"a \\\"q\\\" ,}\"} 2 1700000000\n\
                    bad{ 1\n{x=\"1\"} 2\nname{k=\"unterminated} 3\n9lives 1\nnovalue\nh_bucket{le=\"+Inf\"} +Inf\n# EOF\n";
        let s = parse(text);
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!(s[0], Sample { name: "govchain_node_height".into(), labels: vec![], value: 42.0 });
        assert_eq!(s[2].labels[1], ("x".into(), "a \"q\" ,}".into()));
        assert_eq!(s[3].value, f64::INFINITY);
        let chosen = select(&s, &NODE_SERIES);
        assert_eq!(chosen, vec![("height", 42.0), ("transactions", 12.0)]);
        // Arbitrary bytes never panic.
        for junk in [
            "{",
            "a{",
            "a{b",
            "a{b=",
            "a{b=\"",
            "a{b=\"\\",
            "a{=\"x\"} 1",
            "\u{fffd}{\u{fffd}=\"é\"} 1",
            "a 1e999",
        ] {
            let _ = parse(junk);
        }
    }

    #[test]
    fn resolution_and_step_keep_charts_small() {
        let keep = Retention::default();
        let now = 100 * 24 * 3600 * 1000;
        let interval = Duration::from_secs(15);
        let hour = 3600 * 1000;
        assert_eq!(resolution(now - hour, now, &keep), res::RAW);
        assert_eq!(resolution(now - 2 * 24 * hour, now, &keep), res::MINUTE);
        assert_eq!(resolution(now - 20 * 24 * hour, now, &keep), res::HOUR);
        let r = Range { from: now - 15 * 60 * 1000, to: now, step: None };
        assert_eq!(step_for(&r, res::RAW, interval), 15_000);
        let r = Range { from: now - 30 * 24 * hour, to: now, step: Some(1000) };
        let step = step_for(&r, res::HOUR, interval);
        assert!((r.to - r.from) / step <= MAX_POINTS, "{step}");
        assert_eq!(
            rate(&[(0, 10.0), (10_000, 30.0), (20_000, 5.0), (30_000, 15.0)]),
            vec![(10_000, 2.0), (30_000, 1.0)]
        );
    }

    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    async fn count(db: &impl ConnectionTrait, r: i32) -> i64 {
        scalar(db, &format!("SELECT COUNT(*) FROM metric_samples WHERE res = {r}"))
            .await
            .unwrap()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn rollups_average_complete_periods_and_retention_drops_old_rows() {
        let db = crate::connect("sqlite::memory:").await.unwrap();
        let ids = SeriesIds::default();
        let node = Owner { chain_id: Some(1), node_id: Some(2) };
        // Three hours of synthetic 15 s scrapes: height rises by one per scrape.
        let start = 10 * 24 * HOUR;
        let scrapes = 3 * 240;
        for i in 0..scrapes {
            let ts = start + i * 15_000;
            store(&db, &ids, ts, &[(node, "height", i as f64), (Owner::PLATFORM, "process_open_fds", 7.0)])
                .await
                .unwrap();
        }
        // A second write of the same round is kept once.
        store(&db, &ids, start, &[(node, "height", 999.0)]).await.unwrap();
        assert_eq!(count(&db, res::RAW).await, 2 * scrapes);
        let end = start + scrapes * 15_000;
        // Not before the last round of a period has settled.
        rollup(&db, end, Duration::from_secs(15)).await.unwrap();
        assert_eq!((count(&db, res::MINUTE).await, count(&db, res::HOUR).await), (2 * 179, 2 * 2));
        rollup(&db, end + 15_000, Duration::from_secs(15)).await.unwrap();
        // 180 complete minutes per series; 3 complete hours.
        assert_eq!(count(&db, res::MINUTE).await, 2 * 180);
        assert_eq!(count(&db, res::HOUR).await, 2 * 3);
        // Running again adds nothing.
        rollup(&db, end + 15_000, Duration::from_secs(15)).await.unwrap();
        assert_eq!(count(&db, res::MINUTE).await, 2 * 180);
        let keep = Retention::default();
        let range = Range { from: start, to: end, step: None };
        let a = read(&db, node, &["height"], &range, end + 2 * 24 * HOUR, &keep, Duration::from_secs(15))
            .await
            .unwrap();
        assert_eq!(a.res, res::MINUTE);
        let pts = &a.series[0].points;
        assert_eq!(pts.len(), 180);
        // Minute 0 averages heights 0..4 (the second write was skipped).
        assert_eq!(pts[0], (start, 1.5));
        assert_eq!(pts[1], (start + MIN, 5.5));
        let a = read(&db, node, &["height"], &range, end + 20 * 24 * HOUR, &keep, Duration::from_secs(15))
            .await
            .unwrap();
        assert_eq!(a.res, res::HOUR);
        // Hour 0: the mean of heights 0..239.
        assert_eq!(
            a.series[0].points,
            vec![(start, 119.5), (start + HOUR, 359.5), (start + 2 * HOUR, 599.5)]
        );
        // The raw read, thinned to at most 500 points, and the derived rate.
        let raw =
            read(&db, node, &["height", "tps"], &range, end, &keep, Duration::from_secs(15)).await.unwrap();
        assert_eq!(raw.res, res::RAW);
        assert!(raw.series[0].points.len() as i64 <= MAX_POINTS);
        assert!(raw.series[0].points.windows(2).all(|w| w[1].1 > w[0].1), "height rises");
        assert!(raw.series.iter().all(|s| s.name != "tps"), "no transactions series, no tps");
        let fds =
            read(&db, Owner::PLATFORM, &["process_open_fds"], &range, end, &keep, Duration::from_secs(15))
                .await
                .unwrap();
        assert_eq!(fds.series.len(), 1);
        assert_eq!(fds.series[0].node_id, None);
        // A day later the raw rows are past 24 h, the rollups are not.
        let dropped = expire(&db, end + 25 * HOUR, &keep).await.unwrap();
        assert_eq!(dropped, 2 * scrapes as u64);
        assert_eq!(count(&db, res::RAW).await, 0);
        assert_eq!(count(&db, res::MINUTE).await, 2 * 180);
        // Past 7 days the minutes go, past 30 days the hours.
        expire(&db, end + 8 * 24 * HOUR, &keep).await.unwrap();
        assert_eq!((count(&db, res::MINUTE).await, count(&db, res::HOUR).await), (0, 6));
        expire(&db, end + 31 * 24 * HOUR, &keep).await.unwrap();
        assert_eq!(count(&db, res::HOUR).await, 0);
    }

    #[tokio::test]
    async fn a_long_range_reads_what_is_not_rolled_up_yet_from_finer_rows() {
        let db = crate::connect("sqlite::memory:").await.unwrap();
        let ids = SeriesIds::default();
        let node = Owner { chain_id: Some(1), node_id: Some(2) };
        // A chain started 55 s before the hour, scraped every second.
        let hour_end = 20 * 24 * HOUR;
        let start = hour_end - 55_000;
        let now = hour_end + 38_000;
        for (i, ts) in (start..now).step_by(1000).enumerate() {
            store(&db, &ids, ts, &[(node, "height", i as f64)]).await.unwrap();
            rollup(&db, ts + 500, Duration::from_secs(1)).await.unwrap();
        }
        let keep = Retention::default();
        for from in [now - 30 * 24 * HOUR, now - 3 * 24 * HOUR, now - HOUR] {
            let range = Range { from, to: now, step: None };
            let a = read(&db, node, &["height"], &range, now, &keep, Duration::from_secs(1)).await.unwrap();
            let pts = &a.series.first().map(|s| s.points.clone()).unwrap_or_default();
            assert!(!pts.is_empty(), "resolution {}: no points", a.res);
            assert!(pts.last().is_some_and(|p| p.1 > 50.0), "resolution {}: {pts:?}", a.res);
        }
    }
}
