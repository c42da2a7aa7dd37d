//! `govchain backup` and `govchain restore` on a platform's data directory:
//! `govchain up --backup-dir` takes a full backup on its schedule, the CLI
//! adds an incremental to it after the platform stopped, and a restore into
//! a new data directory holds the same rows; a second restore into it, a
//! changed file, a missing directory and a data directory without a
//! database are refused with a clear message.

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{govchain, ok, platform::Up};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {out}"))
}

/// Rows per table a backup's manifest records.
fn rows(backup: &Path) -> Vec<(String, u64)> {
    let m: Value = serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["rows"].as_u64().unwrap()))
        .collect()
}

fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").is_file()).collect()
}

#[test]
fn backup_and_restore_a_data_directory() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let out = work.path().join("backups");
    let mut up = Up::start_with(&data, work.path().join("up.log"), &["--backup-dir", path(&out)]);
    let banner = up.banner();
    assert!(banner.iter().any(|l| l == &format!("backups={}", out.display())), "{banner:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while backups_in(&out).is_empty() {
        assert!(Instant::now() < deadline, "no scheduled backup in {}", out.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up.terminate().success());
    let scheduled = backups_in(&out).remove(0);

    // Against the stopped platform: an incremental on the scheduled full one.
    let inc = ok(&["backup", "--data", path(&data), "--out", path(&out)]);
    assert_eq!(field(&inc, "kind"), "incremental", "{inc}");
    assert_eq!(field(&inc, "parent"), scheduled.file_name().unwrap().to_str().unwrap());
    let inc_dir = PathBuf::from(field(&inc, "path"));

    let restored = work.path().join("restored");
    let r = ok(&["restore", "--from", path(&out), "--data", path(&restored)]);
    assert_eq!(field(&r, "restored"), inc_dir.file_name().unwrap().to_str().unwrap());
    assert_eq!(field(&r, "chain").split(',').count(), 2, "{r}");

    // The restored database holds what the incremental recorded.
    let check = work.path().join("check");
    let again = ok(&["backup", "--data", path(&restored), "--out", path(&check), "--full"]);
    assert_eq!(rows(Path::new(field(&again, "path"))), rows(&inc_dir));
    assert!(rows(&inc_dir).iter().any(|(t, n)| t == "users" && *n == 1), "{:?}", rows(&inc_dir));

    // One backup's own directory restores its chain.
    let single = work.path().join("single");
    let r = ok(&["restore", "--from", path(&inc_dir), "--data", path(&single)]);
    assert_eq!(field(&r, "restored"), inc_dir.file_name().unwrap().to_str().unwrap());

    let err = failed(&govchain(&["restore", "--from", path(&out), "--data", path(&restored)]));
    assert!(err.contains("not empty") && err.contains("--force"), "{err}");
    ok(&["restore", "--from", path(&out), "--data", path(&restored), "--force"]);

    let missing = work.path().join("missing");
    let err =
        failed(&govchain(&["restore", "--from", path(&missing), "--data", path(&work.path().join("d3"))]));
    assert!(err.contains("not a directory of backups"), "{err}");
    assert!(!work.path().join("d3").exists(), "a refused restore created its target");

    let err = failed(&govchain(&["backup", "--data", path(&missing), "--out", path(&out)]));
    assert!(err.contains("data directory"), "{err}");
    let err = failed(&govchain(&["backup", "--data", path(work.path()), "--out", path(&out)]));
    assert!(err.contains("holds no platform database"), "{err}");
    let err = failed(&govchain(&["backup", "--out", path(&out)]));
    assert!(err.contains("--data") || err.contains("required"), "{err}");

    // A changed file of the chain.
    let users = inc_dir.join("export/users.json");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push(' ');
    std::fs::write(&users, text).unwrap();
    let err = failed(&govchain(&["restore", "--from", path(&out), "--data", path(&work.path().join("d4"))]));
    assert!(err.contains("does not match its manifest"), "{err}");
}
