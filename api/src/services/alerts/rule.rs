//! An alert rule as a value (SPEC OPS-2): its conditions, how they are
//! joined, its active time window and its channels; validation, and the
//! pure evaluation of conditions over samples and of the window at a time.
//! Nothing here touches the database.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::Result,
    services::{
        logs,
        metrics::{NODE_SERIES, UP},
    },
    validate,
};

/// Most conditions of one rule.
pub const MAX_CONDITIONS: usize = 8;
/// The longest duration a condition may have to hold (raw samples are
/// kept 24 h).
pub const MAX_DURATION_S: i64 = 6 * 3600;
/// Most explicit targets of one rule.
pub const MAX_TARGETS: usize = 100;
/// Most e-mail recipients of one rule or organization.
pub const MAX_EMAILS: usize = 20;
/// Longest log pattern.
pub const MAX_PATTERN: usize = 500;
/// Most matching lines one log condition counts on one node per
/// evaluation (a summary shows `1000+`).
pub const LOG_LIMIT: usize = 1000;
/// Most characters of the newest matching line a summary quotes.
const QUOTED_CHARS: usize = 120;

/// `used / (used + free)` of a node's data volume, 0..1, computed from
/// `disk_used_bytes` and `disk_free_bytes`.
pub const DISK_USED_RATIO: &str = "disk_used_ratio";
/// Seconds until the chain CA stops verifying (negative once it has),
/// computed from `cert_expiry_timestamp_seconds` at evaluation time.
pub const CERT_EXPIRES_IN: &str = "cert_expires_in_seconds";

/// The series a metric condition may name: every stored node series, `up`,
/// and the two computed ones.
pub fn known_series() -> Vec<&'static str> {
    std::iter::once(UP)
        .chain(NODE_SERIES.iter().map(|(n, _)| *n))
        .chain([DISK_USED_RATIO, CERT_EXPIRES_IN])
        .collect()
}

/// The stored series a condition's series is computed from.
pub fn sources(series: &str) -> Vec<&'static str> {
    match series {
        DISK_USED_RATIO => vec!["disk_used_bytes", "disk_free_bytes"],
        CERT_EXPIRES_IN => vec!["cert_expiry_timestamp_seconds"],
        s => known_series().into_iter().filter(|k| *k == s).collect(),
    }
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A chain: one alert per chain, firing when any of its nodes meets
    /// the conditions.
    Chain,
    /// A chain node: one alert per node.
    Node,
    /// The host figures (CPU, memory, disk, network) a node exports of its
    /// own process and data volume: one alert per node.
    Host,
}

/// How a rule's conditions are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Every condition holds.
    #[default]
    And,
    /// At least one holds.
    Or,
}

/// How a condition reduces the samples of its window to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The newest sample.
    Last,
    /// The mean.
    Avg,
    /// The largest.
    Max,
    /// The smallest.
    Min,
    /// How much a counter or gauge rose from the first to the last sample
    /// (drops, e.g. a restart, count as starting over); needs two samples.
    Increase,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Op {
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less or equal.
    #[serde(rename = "<=")]
    Le,
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    /// Whether `value op threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }

    /// As written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// A node log's type (SPEC OPS-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogType {
    /// The node's run log.
    Run,
    /// System events.
    System,
    /// Errors.
    Error,
}

impl LogType {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Run => "run",
            LogType::System => "system",
            LogType::Error => "error",
        }
    }
}

impl From<LogType> for logs::LogType {
    fn from(t: LogType) -> Self {
        match t {
            LogType::Run => logs::LogType::Run,
            LogType::System => logs::LogType::System,
            LogType::Error => logs::LogType::Error,
        }
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// A collected series, reduced over the rule's duration (at least the
    /// last few collection rounds), compared with a threshold.
    Metric {
        /// `up`, a node series (`height`, `pending`, `peers`,
        /// `disk_used_bytes`, ...), `disk_used_ratio` (0..1) or
        /// `cert_expires_in_seconds`.
        series: String,
        /// How the window's samples become one value.
        aggregate: Aggregate,
        /// The comparison.
        op: Op,
        /// The threshold.
        threshold: f64,
    },
    /// A line in the node's `log_type` log matching `pattern`: a keyword
    /// (ignoring case) or, with `regex`, a regular expression (`(?i)` to
    /// ignore case), over the line's target, message and fields. It holds
    /// while such a line was written within the lookback, the rule's
    /// `duration_s` plus three collection rounds: one line is enough for
    /// the alert to go pending and fire after `duration_s`, and the alert
    /// resolves once no matching line is that recent. Its value is the
    /// number of lines found (at most 1000); a node whose log cannot be
    /// searched (the Kubernetes driver) does not meet it.
    Log {
        /// Which log.
        log_type: LogType,
        /// A keyword, or a regular expression.
        pattern: String,
        /// Whether `pattern` is a regular expression.
        #[serde(default)]
        regex: bool,
    },
}

/// When a rule may raise alerts: on these days, between these times, in
/// this offset from UTC. `end` before `start` spans midnight (into the
/// next day). Outside it no alert starts and pending ones are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// ISO weekdays, 1 (Monday) to 7 (Sunday); empty: every day.
    #[serde(default)]
    pub days: Vec<u8>,
    /// `HH:MM`, inclusive.
    #[schema(example = "08:00")]
    pub start: String,
    /// `HH:MM`, exclusive; equal to `start`: the whole day.
    #[schema(example = "18:00")]
    pub end: String,
    /// Minutes east of UTC the times are in (China: 480).
    #[serde(default)]
    #[schema(minimum = -720, maximum = 840)]
    pub utc_offset_minutes: i32,
}

fn hhmm(field: &str, s: &str) -> Result<i64> {
    let bad = || validate::refuse(field, format!("`{s}` is not a time HH:MM (00:00 to 23:59)"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Window {
    /// Refuses days outside 1..=7, times that are not `HH:MM`, offsets
    /// beyond -12:00..+14:00.
    pub fn check(&self) -> Result<()> {
        if self.days.iter().any(|d| !(1..=7).contains(d)) || self.days.len() > 7 {
            return Err(validate::refuse("window.days", "days are 1 (Monday) to 7 (Sunday)"));
        }
        hhmm("window.start", &self.start)?;
        hhmm("window.end", &self.end)?;
        if !(-720..=840).contains(&self.utc_offset_minutes) {
            return Err(validate::refuse("window.utc_offset_minutes", "must be between -720 and 840"));
        }
        Ok(())
    }

    /// Whether the window is open at `now` (ms since 1970). A window that
    /// does not check is never open.
    pub fn active(&self, now: i64) -> bool {
        let (Ok(start), Ok(end)) = (hhmm("", &self.start), hhmm("", &self.end)) else {
            return false;
        };
        let local_min = now.div_euclid(60_000) + i64::from(self.utc_offset_minutes);
        let day_index = local_min.div_euclid(1440);
        let minute = local_min.rem_euclid(1440);
        // 1970-01-01 was a Thursday (ISO 4).
        let weekday = |d: i64| (d + 3).rem_euclid(7) + 1;
        let on = |d: i64| self.days.is_empty() || self.days.iter().any(|x| i64::from(*x) == weekday(d));
        if start == end {
            on(day_index)
        } else if start < end {
            on(day_index) && minute >= start && minute < end
        } else {
            // Overnight: the evening part belongs to today, the morning
            // part to the day before.
            (minute >= start && on(day_index)) || (minute < end && on(day_index - 1))
        }
    }
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    #[default]
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where a rule's notifications go, on firing and on resolving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// A message in the organization's message centre, linking to the
    /// alert.
    #[serde(default = "yes")]
    pub message: bool,
    /// E-mail to `emails` and the organization's recipients
    /// (`/api/v1/alert-channels`), through the platform's SMTP server.
    #[serde(default)]
    pub email: bool,
    /// Recipients besides the organization's.
    #[serde(default)]
    pub emails: Vec<String>,
    /// A signed POST to `webhook_url`, else to the organization's webhook.
    #[serde(default)]
    pub webhook: bool,
    /// This rule's own webhook (`http://`; `https://` is not supported
    /// yet).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key of this rule's webhook. Write-only: reads
    /// answer `has_webhook_secret`; an update without it keeps the stored
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub webhook_secret: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            message: true,
            email: false,
            emails: Vec::new(),
            webhook: false,
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

/// Refuses an address that is not `local@domain` of printable characters.
pub fn check_email(field: &str, e: &str) -> Result<()> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && e.chars().all(|c| c.is_ascii_graphic())
        && e.matches('@').count() == 1;
    if ok { Ok(()) } else { Err(validate::refuse(field, format!("`{e}` is not an e-mail address"))) }
}

/// Refuses a URL that is not `http://host...` of at most 2000 characters.
/// The API's HTTP client has no TLS yet, so an `https://` webhook is
/// refused here rather than failing at every delivery.
pub fn check_url(field: &str, u: &str) -> Result<()> {
    if u.starts_with("https://") {
        return Err(validate::refuse(field, "https:// webhooks are not supported yet; use http://"));
    }
    let rest = u.strip_prefix("http://");
    let ok = u.len() <= 2000
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && u.chars().all(|c| c.is_ascii_graphic());
    if ok { Ok(()) } else { Err(validate::refuse(field, "must be an http:// URL")) }
}

/// Refuses a webhook secret shorter than 16 or longer than 200 bytes.
pub fn check_secret(field: &str, s: &str) -> Result<()> {
    if (16..=200).contains(&s.len()) {
        Ok(())
    } else {
        Err(validate::refuse(field, "must be 16 to 200 characters"))
    }
}

impl Channels {
    /// Refuses bad addresses and URLs.
    pub fn check(&self) -> Result<()> {
        if self.emails.len() > MAX_EMAILS {
            return Err(validate::refuse("channels.emails", format!("at most {MAX_EMAILS} recipients")));
        }
        for e in &self.emails {
            check_email("channels.emails", e)?;
        }
        if let Some(u) = &self.webhook_url {
            check_url("channels.webhook_url", u)?;
        }
        if let Some(s) = &self.webhook_secret {
            check_secret("channels.webhook_secret", s)?;
        }
        Ok(())
    }
}

/// A rule as written by its owner (create and update take the whole of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Shown in lists and notifications (1 to 100 characters).
    pub name: String,
    /// What is watched.
    pub scope: Scope,
    /// The chains watched; empty: every chain of the organization (also
    /// chains it joins later).
    #[serde(default)]
    pub chain_ids: Vec<i64>,
    /// Only these nodes (of those chains); empty: all their nodes.
    #[serde(default)]
    pub node_ids: Vec<i64>,
    /// How the conditions are joined.
    #[serde(default)]
    pub combine: Combine,
    /// 1 to 8 conditions.
    pub conditions: Vec<Condition>,
    /// Seconds the conditions must hold before the alert fires (0 to
    /// 21600); also the window metric aggregates reduce, and, plus three
    /// collection rounds, how far back log conditions look.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 21600)]
    pub duration_s: i64,
    /// When the rule may raise alerts; none: always.
    #[serde(default)]
    pub window: Option<Window>,
    /// How serious its alerts are.
    #[serde(default)]
    pub severity: Severity,
    /// Where notifications go.
    #[serde(default)]
    pub channels: Channels,
    /// Whether it is evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl RuleSpec {
    /// Refuses what cannot be evaluated: unknown series, thresholds that
    /// are not numbers, bad regular expressions, windows, addresses.
    pub fn check(&self) -> Result<()> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(validate::refuse("name", "1 to 100 characters, no control characters"));
        }
        if self.conditions.is_empty() || self.conditions.len() > MAX_CONDITIONS {
            return Err(validate::refuse("conditions", format!("1 to {MAX_CONDITIONS} conditions")));
        }
        let known = known_series();
        for c in &self.conditions {
            match c {
                Condition::Metric { series, threshold, .. } => {
                    if !known.contains(&series.as_str()) {
                        return Err(validate::refuse(
                            "conditions.series",
                            format!("unknown series `{series}`; known: {}", known.join(", ")),
                        ));
                    }
                    if !threshold.is_finite() {
                        return Err(validate::refuse("conditions.threshold", "must be a finite number"));
                    }
                }
                Condition::Log { pattern, regex, .. } => {
                    if pattern.is_empty() || pattern.len() > MAX_PATTERN {
                        return Err(validate::refuse(
                            "conditions.pattern",
                            format!("1 to {MAX_PATTERN} bytes"),
                        ));
                    }
                    if *regex {
                        regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| {
                            validate::refuse("conditions.pattern", format!("not a regular expression: {e}"))
                        })?;
                    }
                }
            }
        }
        if !(0..=MAX_DURATION_S).contains(&self.duration_s) {
            return Err(validate::refuse("duration_s", format!("0 to {MAX_DURATION_S} seconds")));
        }
        if self.chain_ids.len() > MAX_TARGETS || self.node_ids.len() > MAX_TARGETS {
            return Err(validate::refuse("chain_ids", format!("at most {MAX_TARGETS} targets")));
        }
        if !self.node_ids.is_empty() && self.scope == Scope::Chain {
            return Err(validate::refuse("node_ids", "a chain-scoped rule watches whole chains"));
        }
        if let Some(w) = &self.window {
            w.check()?;
        }
        self.channels.check()
    }

    /// The stored series its metric conditions read.
    pub fn sources(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self
            .conditions
            .iter()
            .filter_map(|c| match c {
                Condition::Metric { series, .. } => Some(sources(series)),
                Condition::Log { .. } => None,
            })
            .flatten()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Reduces `points` (oldest first); `None` without enough samples.
pub fn aggregate(agg: Aggregate, points: &[(i64, f64)]) -> Option<f64> {
    let values = points.iter().map(|(_, v)| *v).filter(|v| v.is_finite());
    match agg {
        Aggregate::Last => points.iter().rev().map(|(_, v)| *v).find(|v| v.is_finite()),
        Aggregate::Avg => {
            let (n, sum) = values.fold((0u32, 0.0), |(n, s), v| (n + 1, s + v));
            (n > 0).then(|| sum / f64::from(n))
        }
        Aggregate::Max => values.reduce(f64::max),
        Aggregate::Min => values.reduce(f64::min),
        Aggregate::Increase => {
            let v: Vec<f64> = values.collect();
            (v.len() >= 2)
                .then(|| v.windows(2).map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] }).sum::<f64>())
        }
    }
}

/// The outcome of a rule's conditions on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the joined conditions hold.
    pub holds: bool,
    /// The value of the first metric condition that had one; for a rule
    /// of log conditions only, the lines the first of them found (the one
    /// that held, if any). For the alert's `value`.
    pub value: Option<f64>,
    /// What held, e.g. `last(up) == 0 (0)` or `error log ~ /panic|fatal/:
    /// 3 lines, newest "…"`.
    pub summary: String,
}

/// Evaluates `conditions` joined by `combine`; `value_of` gives a metric
/// condition's reduced value, `log_hits` a log condition's matching lines
/// within its lookback and the newest one's message (`None` for either:
/// no data, which never holds). A log condition holds on one line or more.
pub fn evaluate(
    conditions: &[Condition],
    combine: Combine,
    mut value_of: impl FnMut(&str, Aggregate) -> Option<f64>,
    mut log_hits: impl FnMut(LogType, &str, bool) -> Option<(usize, String)>,
) -> Verdict {
    let mut results = Vec::with_capacity(conditions.len());
    let mut value = None;
    let mut lines: Option<usize> = None;
    let mut parts = Vec::new();
    for c in conditions {
        let ok = match c {
            Condition::Metric { series, aggregate: agg, op, threshold } => {
                let v = value_of(series, *agg);
                if value.is_none() {
                    value = v;
                }
                let ok = v.is_some_and(|v| op.holds(v, *threshold));
                if ok {
                    let shown = v.map(|v| format!("{v}")).unwrap_or_default();
                    parts.push(format!("{}({series}) {} {threshold} ({shown})", agg_name(*agg), op.symbol()));
                }
                ok
            }
            Condition::Log { log_type, pattern, regex } => {
                let hits = log_hits(*log_type, pattern, *regex);
                let count = hits.as_ref().map(|(n, _)| *n);
                if lines.is_none_or(|n| n == 0) && count.is_some() {
                    lines = count;
                }
                match hits {
                    Some((n, newest)) if n >= 1 => {
                        parts.push(log_summary(*log_type, pattern, *regex, n, &newest));
                        true
                    }
                    _ => false,
                }
            }
        };
        results.push(ok);
    }
    let holds = match combine {
        Combine::And => !results.is_empty() && results.iter().all(|r| *r),
        Combine::Or => results.iter().any(|r| *r),
    };
    let metric = conditions.iter().any(|c| matches!(c, Condition::Metric { .. }));
    if !metric {
        value = lines.map(|n| n as f64);
    }
    let join = if combine == Combine::And { " and " } else { " or " };
    Verdict { holds, value, summary: parts.join(join) }
}

/// `error log ~ /panic|fatal/: 3 lines, newest "…"` (a keyword quoted,
/// the newest line's message cut at [`QUOTED_CHARS`] characters).
fn log_summary(log_type: LogType, pattern: &str, regex: bool, n: usize, newest: &str) -> String {
    let pattern = if regex { format!("/{pattern}/") } else { format!("\"{pattern}\"") };
    let count = match n {
        1 => "1 line".to_owned(),
        n if n >= LOG_LIMIT => format!("{LOG_LIMIT}+ lines"),
        n => format!("{n} lines"),
    };
    let flat: String = newest.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut quoted: String = flat.chars().take(QUOTED_CHARS).collect();
    if flat.chars().count() > QUOTED_CHARS {
        quoted.push('…');
    }
    format!("{} log ~ {pattern}: {count}, newest \"{quoted}\"", log_type.name())
}

fn agg_name(a: Aggregate) -> &'static str {
    match a {
        Aggregate::Last => "last",
        Aggregate::Avg => "avg",
        Aggregate::Max => "max",
        Aggregate::Min => "min",
        Aggregate::Increase => "increase",
    }
}

/// The default rules every organization with chains gets: `(builtin key,
/// rule)`.
pub fn defaults() -> Vec<(&'static str, RuleSpec)> {
    let metric = |series: &str, aggregate, op, threshold| Condition::Metric {
        series: series.into(),
        aggregate,
        op,
        threshold,
    };
    let rule = |name: &str, scope, combine, conditions, duration_s, severity| RuleSpec {
        name: name.into(),
        scope,
        chain_ids: Vec::new(),
        node_ids: Vec::new(),
        combine,
        conditions,
        duration_s,
        window: None,
        severity,
        channels: Channels { message: true, email: true, webhook: true, ..Channels::default() },
        enabled: true,
    };
    vec![
        (
            "node_down",
            rule(
                "Node down",
                Scope::Node,
                Combine::And,
                vec![metric(UP, Aggregate::Max, Op::Eq, 0.0)],
                60,
                Severity::Critical,
            ),
        ),
        (
            "consensus_stalled",
            rule(
                "Consensus stalled",
                Scope::Chain,
                Combine::And,
                vec![
                    metric("height", Aggregate::Increase, Op::Le, 0.0),
                    metric("pending", Aggregate::Min, Op::Gt, 0.0),
                ],
                120,
                Severity::Critical,
            ),
        ),
        (
            "cert_expiring",
            rule(
                "Certificate expiring within 30 days",
                Scope::Node,
                Combine::And,
                vec![metric(CERT_EXPIRES_IN, Aggregate::Last, Op::Lt, 30.0 * 86400.0)],
                0,
                Severity::Warning,
            ),
        ),
        (
            "disk_full",
            rule(
                "Disk above 85%",
                Scope::Host,
                Combine::And,
                vec![metric(DISK_USED_RATIO, Aggregate::Last, Op::Gt, 0.85)],
                300,
                Severity::Warning,
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(series: &str, aggregate: Aggregate, op: Op, threshold: f64) -> Condition {
        Condition::Metric { series: series.into(), aggregate, op, threshold }
    }

    #[test]
    fn aggregates_reduce_windows() {
        let p = [(0, 3.0), (1, 1.0), (2, f64::NAN), (3, 5.0)];
        assert_eq!(aggregate(Aggregate::Last, &p), Some(5.0));
        assert_eq!(aggregate(Aggregate::Avg, &p), Some(3.0));
        assert_eq!(aggregate(Aggregate::Max, &p), Some(5.0));
        assert_eq!(aggregate(Aggregate::Min, &p), Some(1.0));
        // 3 -> 1 is a restart (counts 1), 1 -> 5 counts 4.
        assert_eq!(aggregate(Aggregate::Increase, &p), Some(5.0));
        assert_eq!(aggregate(Aggregate::Increase, &[(0, 7.0)]), None);
        assert_eq!(aggregate(Aggregate::Last, &[]), None);
        assert_eq!(aggregate(Aggregate::Avg, &[]), None);
    }

    /// No log lines anywhere.
    fn no_logs(_: LogType, _: &str, _: bool) -> Option<(usize, String)> {
        Some((0, String::new()))
    }

    #[test]
    fn conditions_join_with_and_or_and_no_data_never_holds() {
        let stalled = [
            metric("height", Aggregate::Increase, Op::Le, 0.0),
            metric("pending", Aggregate::Min, Op::Gt, 0.0),
        ];
        let data = |height: Option<f64>, pending: Option<f64>| {
            move |s: &str, _a: Aggregate| if s == "height" { height } else { pending }
        };
        assert!(evaluate(&stalled, Combine::And, data(Some(0.0), Some(3.0)), no_logs).holds);
        assert!(!evaluate(&stalled, Combine::And, data(Some(2.0), Some(3.0)), no_logs).holds);
        assert!(!evaluate(&stalled, Combine::And, data(Some(0.0), Some(0.0)), no_logs).holds);
        assert!(evaluate(&stalled, Combine::Or, data(Some(2.0), Some(3.0)), no_logs).holds);
        assert!(!evaluate(&stalled, Combine::Or, data(None, None), no_logs).holds);
        let v = evaluate(&stalled, Combine::And, data(Some(0.0), Some(3.0)), no_logs);
        assert_eq!(v.value, Some(0.0));
        assert_eq!(v.summary, "increase(height) <= 0 (0) and min(pending) > 0 (3)");
        for (op, yes) in [
            (Op::Gt, false),
            (Op::Ge, true),
            (Op::Lt, false),
            (Op::Le, true),
            (Op::Eq, true),
            (Op::Ne, false),
        ] {
            assert_eq!(op.holds(1.0, 1.0), yes, "{op:?}");
        }
    }

    #[test]
    fn log_conditions_hold_on_one_line_and_join_with_metrics() {
        let panics = Condition::Log { log_type: LogType::Error, pattern: "panic|fatal".into(), regex: true };
        let refused = Condition::Log { log_type: LogType::Run, pattern: "refused".into(), regex: false };
        let down = metric("up", Aggregate::Last, Op::Eq, 0.0);
        let up = |v: f64| move |_: &str, _: Aggregate| Some(v);
        // Error lines: three panics, the newest long and on two lines; no
        // run line refused.
        let long = format!("panic at block 7\n{}", "x".repeat(200));
        let hits = |t: LogType, p: &str, regex: bool| match (t, p, regex) {
            (LogType::Error, "panic|fatal", true) => Some((3, long.clone())),
            (LogType::Run, "refused", false) => Some((0, String::new())),
            _ => None,
        };

        let v = evaluate(std::slice::from_ref(&panics), Combine::And, up(1.0), hits);
        assert!(v.holds);
        assert_eq!(v.value, Some(3.0), "a rule of log conditions only: the line count");
        let quoted: String = format!("panic at block 7 {}", "x".repeat(200)).chars().take(120).collect();
        assert_eq!(v.summary, format!("error log ~ /panic|fatal/: 3 lines, newest \"{quoted}…\""));
        assert!(!evaluate(std::slice::from_ref(&refused), Combine::And, up(1.0), hits).holds);
        let v = evaluate(std::slice::from_ref(&refused), Combine::And, up(1.0), hits);
        assert_eq!(v.value, Some(0.0));
        // No data (the log cannot be searched) never holds.
        let v = evaluate(std::slice::from_ref(&panics), Combine::Or, up(1.0), |_, _, _| None);
        assert_eq!((v.holds, v.value), (false, None));

        // Joined: `and` needs both, `or` either; the value stays the metric's.
        let both = [down.clone(), panics.clone()];
        let v = evaluate(&both, Combine::And, up(0.0), hits);
        assert!(v.holds);
        assert_eq!(v.value, Some(0.0));
        assert!(
            v.summary.starts_with("last(up) == 0 (0) and error log ~ /panic|fatal/: 3 lines"),
            "{}",
            v.summary
        );
        assert!(!evaluate(&both, Combine::And, up(1.0), hits).holds);
        let v = evaluate(&both, Combine::Or, up(1.0), hits);
        assert!(v.holds);
        assert_eq!(v.value, Some(1.0));
        assert!(v.summary.starts_with("error log ~ /panic|fatal/"), "{}", v.summary);
        assert!(!evaluate(&both, Combine::Or, up(1.0), no_logs).holds);
        let two_logs = [refused.clone(), panics.clone()];
        assert!(!evaluate(&two_logs, Combine::And, up(1.0), hits).holds);
        let v = evaluate(&two_logs, Combine::Or, up(1.0), hits);
        assert!(v.holds);
        assert_eq!(v.value, Some(3.0), "the count of the log condition that held");

        // A keyword is quoted; one line, and a capped count.
        let one = |_: LogType, _: &str, _: bool| Some((1, "transaction refused".to_owned()));
        let v = evaluate(std::slice::from_ref(&refused), Combine::And, up(1.0), one);
        assert_eq!(v.summary, r#"run log ~ "refused": 1 line, newest "transaction refused""#);
        let many = |_: LogType, _: &str, _: bool| Some((LOG_LIMIT, "x".to_owned()));
        let v = evaluate(std::slice::from_ref(&refused), Combine::And, up(1.0), many);
        assert_eq!(v.summary, r#"run log ~ "refused": 1000+ lines, newest "x""#);
        for t in [LogType::Run, LogType::System, LogType::Error] {
            assert_eq!(logs::LogType::from(t).as_str(), t.name());
        }
    }

    /// 2026-12-07 was a Monday; ms at `hh:mm` UTC that day plus `days`.
    fn at(days: i64, hh: i64, mm: i64) -> i64 {
        let monday = 20_794; // days from 1970-01-01 to 2026-12-07
        ((monday + days) * 1440 + hh * 60 + mm) * 60_000
    }

    #[test]
    fn windows_follow_days_times_and_offsets() {
        let office = Window {
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "17:00".into(),
            utc_offset_minutes: 480,
        };
        office.check().unwrap();
        // Monday 01:00 UTC is 09:00 in Beijing.
        assert!(office.active(at(0, 1, 0)));
        assert!(!office.active(at(0, 0, 59)));
        assert!(!office.active(at(0, 9, 0)), "17:00 local is the end");
        // Saturday 02:00 UTC: a Saturday in Beijing too.
        assert!(!office.active(at(5, 2, 0)));
        // Sunday 23:30 UTC is Monday 07:30 local: not yet.
        assert!(!office.active(at(6, 23, 30)));
        let night =
            Window { days: vec![5], start: "22:00".into(), end: "06:00".into(), utc_offset_minutes: 0 };
        assert!(night.active(at(4, 23, 0)), "Friday evening");
        assert!(night.active(at(5, 5, 59)), "Saturday morning belongs to Friday's night");
        assert!(!night.active(at(5, 23, 0)), "Saturday evening");
        assert!(!night.active(at(4, 5, 0)), "Friday morning belongs to Thursday");
        let always =
            Window { days: vec![], start: "00:00".into(), end: "00:00".into(), utc_offset_minutes: 0 };
        assert!(always.active(at(3, 12, 0)));
        for bad in [
            Window { days: vec![0], ..always.clone() },
            Window { start: "24:00".into(), ..always.clone() },
            Window { end: "9:00".into(), ..always.clone() },
            Window { utc_offset_minutes: 900, ..always.clone() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specs_are_checked_and_defaults_pass() {
        for (_, d) in defaults() {
            d.check().unwrap();
        }
        let ok = defaults().remove(0).1;
        let mut bad = ok.clone();
        bad.conditions = vec![metric("nonsense", Aggregate::Last, Op::Gt, 1.0)];
        assert_eq!(bad.check().unwrap_err().details.unwrap()["field"], "conditions.series");
        bad.conditions = vec![metric("up", Aggregate::Last, Op::Gt, f64::INFINITY)];
        assert!(bad.check().is_err());
        bad.conditions = vec![Condition::Log { log_type: LogType::Run, pattern: "(".into(), regex: true }];
        assert!(bad.check().is_err());
        bad.conditions = vec![Condition::Log { log_type: LogType::Run, pattern: "(".into(), regex: false }];
        bad.check().unwrap();
        let mut bad = ok.clone();
        bad.channels.emails = vec!["not-an-address".into()];
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.channels.webhook_url = Some("ftp://x".into());
        assert!(bad.check().is_err());
        bad.channels.webhook_url = Some("https://hooks.example.gov/x".into());
        assert!(bad.check().unwrap_err().message.contains("not supported"));
        bad.channels.webhook_url = Some("http://hooks.example.gov/x".into());
        bad.channels.emails.clear();
        bad.check().unwrap();
        let mut bad = ok;
        bad.duration_s = -1;
        assert!(bad.check().is_err());
        let parsed: Condition =
            serde_json::from_str(r#"{"kind":"log","log_type":"error","pattern":"disk.*full","regex":true}"#)
                .unwrap();
        assert!(matches!(parsed, Condition::Log { regex: true, .. }));
        let parsed: Condition = serde_json::from_str(
            r#"{"kind":"metric","series":"up","aggregate":"last","op":"==","threshold":0}"#,
        )
        .unwrap();
        assert_eq!(parsed, metric("up", Aggregate::Last, Op::Eq, 0.0));
    }
}
