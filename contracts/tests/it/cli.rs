//! The work behind `govchain contract compile` and `analyse`.

use std::path::PathBuf;

use govchain_contracts::{Rule, Severity, cli};

use crate::common::*;

fn sample(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn compile_writes_abi_bytecode_and_diagnostics_per_contract() {
    let dir = tempfile::tempdir().unwrap();
    let files = [sample("templates/Token.sol"), sample("samples/clean/Vault.sol")];
    let compiled = cli::compile_files(&files, &options()).unwrap();
    assert_eq!(cli::diagnostic_counts(&compiled), (0, 0));
    let written = cli::write_output(&compiled, dir.path()).unwrap();
    let names: Vec<String> =
        written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in
        ["Token.abi", "Token.bin", "Token.bin-runtime", "Vault.abi", "IERC20.abi", "diagnostics.json"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    let abi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("Token.abi")).unwrap()).unwrap();
    assert!(abi.as_array().unwrap().iter().any(|i| i["name"] == "transferFrom"));
    let bin = std::fs::read_to_string(dir.path().join("Token.bin")).unwrap();
    assert!(hex::decode(&bin).unwrap().len() > 500);
    // The interface has no code.
    assert!(std::fs::read_to_string(dir.path().join("IERC20.bin")).unwrap().is_empty());
}

#[test]
fn compile_errors_render_as_file_line_col_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Broken.sol");
    std::fs::write(
        &path,
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.37;\n// 注释\ncontract B { uint x = }\n",
    )
    .unwrap();
    let compiled = cli::compile_files(std::slice::from_ref(&path), &options()).unwrap();
    assert_eq!(cli::diagnostic_counts(&compiled).0, 1);
    let text = cli::render_diagnostics(&compiled.diagnostics);
    assert_eq!(text, format!("{}:4:23: error: Expected primary expression.\n", path.display()));
    // Unreadable files are an error naming the file.
    let missing = dir.path().join("Missing.sol");
    let err = cli::compile_files(&[missing], &options()).unwrap_err();
    assert!(err.to_string().contains("Missing.sol"), "{err}");
}

#[test]
fn analyse_reports_findings_by_severity_as_text_and_json() {
    let files = [sample("samples/vulnerable/Selfdestruct.sol"), sample("samples/vulnerable/Timestamp.sol")];
    let report = cli::analyse_files(&files, &options()).unwrap();
    let rules: Vec<(Severity, Rule)> = report.findings.iter().map(|f| (f.severity, f.rule)).collect();
    assert_eq!(
        rules,
        [
            (Severity::Critical, Rule::ReachableSelfdestruct),
            (Severity::Critical, Rule::ReachableSelfdestruct),
            (Severity::Low, Rule::Timestamp),
            (Severity::Low, Rule::Timestamp)
        ]
    );
    let text = cli::render_findings(&report.findings);
    assert!(text.starts_with("CRITICAL (2):\n"), "{text}");
    assert!(text.contains("LOW (2):"), "{text}");
    assert!(text.contains("Selfdestruct.sol:18:9: reachable-selfdestruct in Killable.kill: "), "{text}");
    assert!(text.ends_with("4 finding(s)\n"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][0]["rule"], "reachable-selfdestruct");
    assert!(json["compiler_version"].as_str().unwrap().starts_with("0.8.37"));
    // A file that does not compile has diagnostics and no findings.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("B.sol");
    std::fs::write(&broken, "contract {").unwrap();
    let report = cli::analyse_files(&[broken], &options()).unwrap();
    assert!(report.findings.is_empty());
    assert!(!report.diagnostics.is_empty());
}
