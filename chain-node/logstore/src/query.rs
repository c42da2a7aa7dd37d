//! Reading: search over a time range, following new lines from another
//! process, a day's files.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use crate::{
    Error, LogLine, LogType, Result, date, io,
    store::{Segment, segments},
};

/// Most lines a search returns.
pub const MAX_LIMIT: usize = 10_000;
/// Most bytes of files a search reads before it stops.
pub const MAX_SCAN_BYTES: u64 = 256 * 1024 * 1024;
/// Longest keyword or regular expression.
pub const MAX_PATTERN: usize = 512;
/// Most bytes [`read_day`] returns.
pub const MAX_DAY_BYTES: u64 = 512 * 1024 * 1024;
/// Compiled size limit of a regular expression.
const REGEX_SIZE: usize = 1024 * 1024;
/// Most bytes one [`Follower::poll`] reads.
const FOLLOW_CHUNK: u64 = 1024 * 1024;

/// What a search matches lines with.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// The text contains this, ignoring case.
    Keyword(String),
    /// The text matches this regular expression.
    Regex(regex::Regex),
}

impl Pattern {
    /// A keyword, or with `regex` a regular expression; refuses an empty
    /// or too long pattern and a regular expression that does not compile
    /// within the size limit.
    pub fn new(text: &str, regex: bool) -> Result<Pattern> {
        if text.is_empty() {
            return Err(Error::Invalid("the search pattern is empty".into()));
        }
        if text.len() > MAX_PATTERN {
            return Err(Error::Invalid(format!("the search pattern is longer than {MAX_PATTERN} bytes")));
        }
        if !regex {
            return Ok(Pattern::Keyword(text.to_lowercase()));
        }
        regex::RegexBuilder::new(text)
            .size_limit(REGEX_SIZE)
            .dfa_size_limit(REGEX_SIZE)
            .build()
            .map(Pattern::Regex)
            .map_err(|e| Error::Invalid(format!("not a usable regular expression: {e}")))
    }

    /// Whether `line` matches.
    pub fn matches(&self, line: &LogLine) -> bool {
        let text = line.text();
        match self {
            Pattern::Keyword(k) => text.to_lowercase().contains(k),
            Pattern::Regex(r) => r.is_match(&text),
        }
    }
}

/// A search of one type's lines.
#[derive(Debug, Clone)]
pub struct Search {
    /// The type.
    pub kind: LogType,
    /// From, ms since 1970 (inclusive).
    pub from_ms: i64,
    /// To, ms since 1970 (inclusive).
    pub to_ms: i64,
    /// Lines must match this, if given.
    pub pattern: Option<Pattern>,
    /// Most lines returned (at most [`MAX_LIMIT`]).
    pub limit: usize,
}

/// The lines of `search` in the store at `dir`, newest first. Stops at
/// `limit` lines or after [`MAX_SCAN_BYTES`] bytes read; lines that do not
/// parse are skipped.
pub fn search(dir: &Path, search: &Search) -> Result<Vec<LogLine>> {
    if search.from_ms > search.to_ms {
        return Err(Error::Invalid("`from` is after `to`".into()));
    }
    let limit = search.limit.clamp(1, MAX_LIMIT);
    let (first, last) = (date::day_of_ms(search.from_ms), date::day_of_ms(search.to_ms));
    let mut files: Vec<Segment> =
        segments(dir, search.kind)?.into_iter().filter(|s| s.day >= first && s.day <= last).collect();
    files.reverse();
    let mut found = Vec::new();
    let mut scanned = 0u64;
    for s in files {
        if scanned >= MAX_SCAN_BYTES {
            break;
        }
        let text = read_text(&s.path, MAX_SCAN_BYTES - scanned)?;
        scanned += text.len() as u64;
        for raw in text.lines().rev() {
            let Ok(line) = serde_json::from_str::<LogLine>(raw) else { continue };
            if line.ts < search.from_ms || line.ts > search.to_ms {
                continue;
            }
            if search.pattern.as_ref().is_some_and(|p| !p.matches(&line)) {
                continue;
            }
            found.push(line);
            if found.len() >= limit {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// At most the last `max` bytes of a file, as text (from the first whole
/// line when cut). A file deleted meanwhile reads as empty.
fn read_text(path: &Path, max: u64) -> Result<String> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let len = file.metadata().map_err(io(path))?.len();
    let cut = len > max;
    if cut {
        file.seek(SeekFrom::Start(len - max)).map_err(io(path))?;
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(io(path))?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut && let Some(nl) = text.find('\n') {
        text.drain(..=nl);
    }
    Ok(text)
}

/// The files of `kind` for the day `date` (`YYYY-MM-DD`) in order.
pub fn day_files(dir: &Path, kind: LogType, date: &str) -> Result<Vec<PathBuf>> {
    let day = date::parse_day(date)?;
    Ok(segments(dir, kind)?.into_iter().filter(|s| s.day == day).map(|s| s.path).collect())
}

/// The lines of `kind` of the day `date` (`YYYY-MM-DD`), its files
/// concatenated (JSON lines), at most [`MAX_DAY_BYTES`] (the newest cut
/// off). `None` when the store has no file of that day.
pub fn read_day(dir: &Path, kind: LogType, date: &str) -> Result<Option<Vec<u8>>> {
    let files = day_files(dir, kind, date)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for path in files {
        let room = MAX_DAY_BYTES.saturating_sub(out.len() as u64);
        if room == 0 {
            break;
        }
        match std::fs::File::open(&path) {
            Ok(f) => {
                f.take(room).read_to_end(&mut out).map_err(io(&path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(Some(out))
}

/// Follows the newest file of one type from another process: each
/// [`poll`](Follower::poll) returns the whole lines written since the
/// last, moving on to newer files as they appear.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    kind: LogType,
    /// The file read, by (day, index), and how far.
    at: Option<(i64, u32, u64)>,
}

impl Follower {
    /// Starts at the end of the newest file of `kind` (lines written from
    /// now on).
    pub fn new(dir: impl Into<PathBuf>, kind: LogType) -> Result<Follower> {
        let dir = dir.into();
        let at = segments(&dir, kind)?.last().map(|s| (s.day, s.index, s.size));
        Ok(Follower { dir, kind, at })
    }

    /// The lines written since the last poll (at most about 1 MiB).
    pub fn poll(&mut self) -> Result<Vec<LogLine>> {
        let files = segments(&self.dir, self.kind)?;
        let mut lines = Vec::new();
        // Bounded: at most one move per file that exists.
        for _ in 0..=files.len() {
            let next = match self.at {
                None => files.first(),
                Some((d, i, _)) => files.iter().find(|s| (s.day, s.index) >= (d, i)),
            };
            let Some(s) = next else { break };
            let offset = match self.at {
                Some((d, i, off)) if (d, i) == (s.day, s.index) => off,
                _ => 0,
            };
            let (read, consumed) = read_from(&s.path, offset)?;
            lines.extend(read.lines().filter_map(|l| serde_json::from_str::<LogLine>(l).ok()));
            self.at = Some((s.day, s.index, offset + consumed));
            let newer = files.iter().any(|f| (f.day, f.index) > (s.day, s.index));
            if consumed > 0 && offset + consumed < s.size || !newer {
                break;
            }
            // This file is read to its end and a newer one exists.
            if let Some(f) = files.iter().find(|f| (f.day, f.index) > (s.day, s.index)) {
                self.at = Some((f.day, f.index, 0));
            }
        }
        Ok(lines)
    }
}

/// Whole lines from `offset`, and how many bytes they took.
fn read_from(path: &Path, offset: u64) -> Result<(String, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), 0)),
        Err(e) => return Err(io(path)(e)),
    };
    file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    let mut bytes = Vec::new();
    file.take(FOLLOW_CHUNK).read_to_end(&mut bytes).map_err(io(path))?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    bytes.truncate(whole);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), whole as u64))
}

/// Lines a search returns unless told.
pub const DEFAULT_LIMIT: usize = 200;
/// The range a search covers unless told: the last hour.
pub const DEFAULT_RANGE_MS: i64 = 3600 * 1000;

/// A search as the admin endpoints and the API take it in their query
/// strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchParams {
    /// `run` (default), `system` or `error`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LogType>,
    /// From, ms since 1970 (default: an hour before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// To, ms since 1970 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// Keyword (case-insensitive) or, with `regex`, a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Whether `q` is a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<bool>,
    /// Most lines (default 200, at most 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl SearchParams {
    /// The checked search, `now` filling the defaults.
    pub fn to_search(&self, now_ms: i64) -> Result<Search> {
        let to = self.to.unwrap_or(now_ms);
        let from = self.from.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
        if from < 0 || to < 0 {
            return Err(Error::Invalid("`from` and `to` are times in ms since 1970".into()));
        }
        if from > to {
            return Err(Error::Invalid("`from` is after `to`".into()));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::Invalid(format!("`limit` must be 1 to {MAX_LIMIT}")));
        }
        let pattern = match self.q.as_deref().filter(|q| !q.is_empty()) {
            Some(q) => Some(Pattern::new(q, self.regex.unwrap_or(false))?),
            None => None,
        };
        Ok(Search { kind: self.kind.unwrap_or(LogType::Run), from_ms: from, to_ms: to, pattern, limit })
    }
}

/// Checks a download's date: a `YYYY-MM-DD` within the last
/// `retention_days` days (today included). Returns the day.
pub fn check_download_day(date: &str, retention_days: u32, today: i64) -> Result<i64> {
    let day = date::parse_day(date)?;
    if day > today || day < today - i64::from(retention_days) {
        return Err(Error::Invalid(format!(
            "{date} is outside the last {retention_days} days kept ({} to {})",
            date::format_day(today - i64::from(retention_days)),
            date::format_day(today)
        )));
    }
    Ok(day)
}

/// How long a followed stream lasts before it ends (the caller reconnects).
pub const FOLLOW_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
/// How often [`follow`] reads the files.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The lines `follower` finds, read every half second off the async
/// threads, for [`FOLLOW_FOR`] at most. Needs a Tokio runtime.
pub fn follow(follower: Follower) -> futures_util::stream::BoxStream<'static, LogLine> {
    use futures_util::StreamExt;
    let until = tokio::time::Instant::now() + FOLLOW_FOR;
    let polls = futures_util::stream::unfold(Some(follower), move |f| async move {
        let mut f = f?;
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
        let (f, lines) = tokio::task::spawn_blocking(move || {
            let lines = f.poll().unwrap_or_default();
            (f, lines)
        })
        .await
        .ok()?;
        Some((futures_util::stream::iter(lines), Some(f)))
    });
    Box::pin(polls.flatten())
}
