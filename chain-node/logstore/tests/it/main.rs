//! The log store on real files: rotation, retention, the disk budget under
//! a flood, search, following, a day's download and the run-time level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, time::Duration};

use govchain_logstore::{
    Follower, LogConfig, LogLine, LogStore, LogType, Pattern, Search, format_day, read_day, search, today,
};

fn line(ts: i64, kind: LogType, level: &str, message: &str) -> LogLine {
    LogLine {
        ts,
        level: level.into(),
        kind,
        target: "govchain::test".into(),
        message: message.into(),
        fields: serde_json::Map::new(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    for kind in ["run", "system", "error"] {
        for e in std::fs::read_dir(dir.join(kind)).unwrap() {
            total += e.unwrap().metadata().unwrap().len();
        }
    }
    total
}

fn files(dir: &Path, kind: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_flood_of_lines_stays_within_the_budget_and_rotates_into_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let budget = 2 * 1024 * 1024;
    let store = LogStore::open(LogConfig { budget_bytes: budget, ..LogConfig::new(tmp.path()) }).unwrap();
    let ts = now_ms();
    let mut max_seen = 0;
    for i in 0..200_000u32 {
        let kind = if i % 10 == 0 { LogType::Error } else { LogType::Run };
        store
            .append(&line(ts, kind, "INFO", &format!("flood line {i} with some padding to look real")))
            .unwrap();
        if i % 5_000 == 0 {
            max_seen = max_seen.max(dir_size(tmp.path()));
        }
    }
    let size = dir_size(tmp.path());
    assert!(size <= budget, "{size} bytes on disk, budget {budget}");
    assert!(max_seen <= budget, "{max_seen} bytes on disk at one point, budget {budget}");
    // Rotated into segments, and the oldest deleted: today's first file is gone.
    let run = files(tmp.path(), "run");
    assert!(run.len() > 2, "{run:?}");
    assert!(!run.contains(&format!("{}.log", format_day(today()))), "{run:?}");
    // The newest lines are there.
    let found =
        search(tmp.path(), &Search { kind: LogType::Run, from_ms: ts, to_ms: ts, pattern: None, limit: 1 })
            .unwrap();
    assert_eq!(found[0].message, "flood line 199999 with some padding to look real");
}

#[test]
fn files_older_than_the_retention_are_deleted_and_recent_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let today = today();
    for kind in ["run", "error"] {
        std::fs::create_dir_all(tmp.path().join(kind)).unwrap();
        for age in [29, 30, 31, 45] {
            let day = format_day(today - age);
            let text = serde_json::to_string(&line(
                (today - age) * 86_400_000 + 1000,
                LogType::Error,
                "WARN",
                "old",
            ))
            .unwrap();
            std::fs::write(tmp.path().join(kind).join(format!("{day}.log")), text + "\n").unwrap();
        }
    }
    std::fs::write(tmp.path().join("run").join("not-a-log.txt"), "kept").unwrap();
    let store = LogStore::open(LogConfig::new(tmp.path())).unwrap();
    for kind in ["run", "error"] {
        let names = files(tmp.path(), kind);
        assert!(names.contains(&format!("{}.log", format_day(today - 29))), "{names:?}");
        assert!(names.contains(&format!("{}.log", format_day(today - 30))), "{names:?}");
        assert!(!names.contains(&format!("{}.log", format_day(today - 31))), "{names:?}");
        assert!(!names.contains(&format!("{}.log", format_day(today - 45))), "{names:?}");
    }
    assert!(tmp.path().join("run/not-a-log.txt").exists());
    let day = read_day(tmp.path(), LogType::Error, &format_day(today - 29)).unwrap().unwrap();
    assert!(String::from_utf8(day).unwrap().contains("\"old\""));
    assert!(read_day(tmp.path(), LogType::Error, &format_day(today - 31)).unwrap().is_none());
    assert!(read_day(tmp.path(), LogType::Error, "2024-02-30").is_err());
    drop(store);
}

#[test]
fn search_by_keyword_and_regex_newest_first_within_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LogStore::open(LogConfig::new(tmp.path())).unwrap();
    let ts = now_ms();
    for i in 0..100 {
        store.append(&line(ts - 100 + i, LogType::Run, "INFO", &format!("block {i} committed"))).unwrap();
    }
    store.append(&line(ts, LogType::Run, "INFO", "Peer LOST contact")).unwrap();
    let q = |pattern: Option<Pattern>, from_ms: i64, limit: usize| Search {
        kind: LogType::Run,
        from_ms,
        to_ms: ts,
        pattern,
        limit,
    };
    let found = search(tmp.path(), &q(Some(Pattern::new("lost", false).unwrap()), 0, 10)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, "Peer LOST contact");
    let found =
        search(tmp.path(), &q(Some(Pattern::new(r"^govchain::test block [0-9]*7 ", true).unwrap()), 0, 100))
            .unwrap();
    let names: Vec<&str> = found.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(names[..3], ["block 97 committed", "block 87 committed", "block 77 committed"]);
    assert_eq!(found.len(), 10);
    // The range and the limit hold.
    let found = search(tmp.path(), &q(None, ts - 5, 1000)).unwrap();
    assert_eq!(found.len(), 6);
    assert_eq!(search(tmp.path(), &q(None, 0, 3)).unwrap().len(), 3);
    // Bad patterns are refused, not run.
    assert!(Pattern::new("(", true).is_err());
    assert!(Pattern::new(&"a".repeat(600), false).is_err());
    assert!(Pattern::new("a{1000}{1000}{1000}", true).is_err());
    assert!(Pattern::new("", false).is_err());
    // And the store's files are JSON lines with the keys promised.
    let raw =
        std::fs::read_to_string(tmp.path().join("run").join(format!("{}.log", format_day(today())))).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    for key in ["ts", "level", "type", "target", "message"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
}

#[test]
fn a_follower_sees_new_lines_across_rotations() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        LogStore::open(LogConfig { budget_bytes: 1024 * 1024, ..LogConfig::new(tmp.path()) }).unwrap();
    let ts = now_ms();
    store.append(&line(ts, LogType::Run, "INFO", "before")).unwrap();
    let mut follower = Follower::new(tmp.path(), LogType::Run).unwrap();
    assert!(follower.poll().unwrap().is_empty());
    let mut seen = Vec::new();
    // 64 KiB segments: these lines span several files.
    for round in 0..5 {
        for i in 0..300 {
            store
                .append(&line(ts, LogType::Run, "INFO", &format!("r{round} l{i} {}", "x".repeat(100))))
                .unwrap();
        }
        for _ in 0..10 {
            let got = follower.poll().unwrap();
            if got.is_empty() {
                break;
            }
            seen.extend(got);
        }
    }
    assert!(files(tmp.path(), "run").len() > 2);
    assert_eq!(seen.len(), 1500);
    assert!(seen[0].message.starts_with("r0 l0 "));
    assert!(seen[1499].message.starts_with("r4 l299 "));
}

#[test]
fn the_installed_store_sorts_events_by_type_and_changes_level_at_run_time() {
    let tmp = tempfile::tempdir().unwrap();
    let handle = govchain_logstore::install(LogConfig::new(tmp.path()), "info").unwrap();
    let mut tail = handle.store().subscribe();
    tracing::debug!(target: "govchain::node", "hidden debug line");
    tracing::info!(target: "govchain::node", height = 7u64, "block committed");
    tracing::warn!(target: "govchain::node", "peer unreachable");
    tracing::info!(target: "govchain::system::node", "node started");
    let q = |kind| Search { kind, from_ms: 0, to_ms: i64::MAX / 2, pattern: None, limit: 100 };
    let run: Vec<String> =
        search(tmp.path(), &q(LogType::Run)).unwrap().into_iter().map(|l| l.message).collect();
    assert_eq!(run, ["peer unreachable", "block committed"]);
    let error: Vec<String> =
        search(tmp.path(), &q(LogType::Error)).unwrap().into_iter().map(|l| l.message).collect();
    assert_eq!(error, ["peer unreachable"]);
    let system = search(tmp.path(), &q(LogType::System)).unwrap();
    assert!(system.iter().any(|l| l.message == "node started"));
    assert!(system.iter().any(|l| l.message == "log store opened"));
    let block = search(tmp.path(), &q(LogType::Run)).unwrap().pop().unwrap();
    assert_eq!(block.fields["height"], 7);
    assert_eq!(tail.try_recv().unwrap().message, "block committed");

    // Through the handle.
    assert!(handle.set_level("no such level!").is_err());
    assert_eq!(handle.set_level("debug").unwrap(), "debug");
    tracing::debug!(target: "govchain::node", "visible debug line");
    let run: Vec<String> =
        search(tmp.path(), &q(LogType::Run)).unwrap().into_iter().map(|l| l.message).collect();
    assert_eq!(run[0], "visible debug line");
    assert!(!run.iter().any(|m| m == "hidden debug line"));
    let system = search(tmp.path(), &q(LogType::System)).unwrap();
    assert!(system[0].message == "log level changed" && system[0].fields["to"] == "debug", "{system:?}");

    // Through the level file, as another process does it.
    govchain_logstore::request_level(tmp.path(), "warn").unwrap();
    assert!(govchain_logstore::request_level(tmp.path(), "").is_err());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handle.level() != "warn" {
        assert!(
            std::time::Instant::now() < deadline,
            "the level file was not applied: {:?} {:?}",
            handle.level(),
            search(tmp.path(), &q(LogType::System))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!(target: "govchain::node", "hidden info line");
    let run = search(tmp.path(), &q(LogType::Run)).unwrap();
    assert!(!run.iter().any(|l| l.message == "hidden info line"));
    assert_eq!(govchain_logstore::read_level(tmp.path()).as_deref(), Some("warn"));
}
