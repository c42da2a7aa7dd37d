//! Static analysis over the samples: every planted issue is found at its
//! line, nothing else; clean contracts and the templates give nothing
//! above low; ids survive unrelated edits.

use std::collections::{BTreeSet, HashSet};

use govchain_contracts::{Finding, Rule, Severity, analyse, templates};

use crate::common::*;

/// The `// expect: rule, rule` annotations of a file: (line, rule).
fn expectations(text: &str) -> BTreeSet<(usize, Rule)> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((_, rules)) = line.split_once("// expect:") {
            for rule in rules.split(',').map(str::trim) {
                let rule =
                    Rule::from_id(rule).unwrap_or_else(|| panic!("unknown rule {rule:?} on line {}", i + 1));
                out.insert((i + 1, rule));
            }
        }
    }
    out
}

fn by_file<'a>(findings: &'a [Finding], file: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.file == file).collect()
}

#[test]
fn every_planted_issue_is_found_at_its_line_and_nothing_else() {
    let files = sol_files("samples/vulnerable");
    assert!(files.len() >= 10, "{} samples", files.len());
    let compiled = compile_ok(&as_refs(&files));
    let findings = analyse(&compiled);
    let mut rules_seen = HashSet::new();
    for (name, text) in &files {
        let expected = expectations(text);
        assert!(!expected.is_empty(), "{name} plants nothing");
        let found: BTreeSet<(usize, Rule)> =
            by_file(&findings, name).iter().map(|f| (f.start.line, f.rule)).collect();
        let missed: Vec<_> = expected.difference(&found).collect();
        let unexpected: Vec<_> = found.difference(&expected).collect();
        assert!(
            missed.is_empty() && unexpected.is_empty(),
            "{name}: missed {missed:?}, unexpected {unexpected:?}"
        );
        rules_seen.extend(expected.iter().map(|(_, r)| *r));
    }
    // Every rule is planted somewhere.
    for rule in Rule::ALL {
        assert!(rules_seen.contains(&rule), "no sample plants {rule}");
    }
    // Severities as documented.
    let severity = |file: &str, line: usize| {
        findings.iter().find(|f| f.file.ends_with(file) && f.start.line == line).map(|f| f.severity)
    };
    assert_eq!(severity("Reentrancy.sol", 25), Some(Severity::High));
    assert_eq!(severity("Reentrancy.sol", 40), Some(Severity::Medium), "after transfer");
    assert_eq!(severity("Delegatecall.sol", 15), Some(Severity::Critical));
    assert_eq!(severity("Delegatecall.sol", 37), Some(Severity::Low), "behind an owner check");
    assert_eq!(severity("Selfdestruct.sol", 18), Some(Severity::Critical));
    assert_eq!(severity("TxOrigin.sol", 13), Some(Severity::High));
    assert_eq!(severity("UncheckedCall.sol", 19), Some(Severity::Medium), "send");
    assert_eq!(severity("UnboundedLoop.sol", 15), Some(Severity::Medium));
    assert_eq!(severity("Overflow.sol", 10), Some(Severity::High));
    assert_eq!(severity("Timestamp.sol", 14), Some(Severity::Low));
    assert_eq!(severity("FloatingPragma.sol", 2), Some(Severity::Low));
    assert_eq!(severity("UncheckedBlock.sol", 9), Some(Severity::Low));
    // Most severe first.
    assert!(findings.windows(2).all(|w| w[0].severity >= w[1].severity));
    // Scope, range and text.
    let f = findings.iter().find(|f| f.rule == Rule::TxOrigin).unwrap();
    assert_eq!((f.contract.as_deref(), f.function.as_deref()), (Some("OriginWallet"), Some("withdraw")));
    assert_eq!(f.end.offset - f.start.offset, "tx.origin".len());
    assert_eq!(f.start.column, 17);
    assert!(f.snippet.starts_with("tx.origin"), "{}", f.snippet);
    assert!(f.message.contains("msg.sender") && f.message_zh.contains("msg.sender"));
    let fallback =
        findings.iter().find(|f| f.file.ends_with("Delegatecall.sol") && f.start.line == 29).unwrap();
    assert_eq!(fallback.function.as_deref(), Some("fallback"));
}

#[test]
fn clean_contracts_and_the_templates_give_nothing_above_low() {
    let mut files = sol_files("samples/clean");
    assert!(files.len() >= 3);
    files.extend(templates::ALL.iter().map(|t| (t.file.to_owned(), t.source.to_owned())));
    let compiled = compile_ok(&as_refs(&files));
    let findings = analyse(&compiled);
    let above: Vec<String> =
        findings.iter().filter(|f| f.severity > Severity::Low).map(|f| f.to_string()).collect();
    assert!(above.is_empty(), "{above:#?}");
    // The escrow's deadline is a known low: the clean set is analysed,
    // not skipped.
    assert!(
        findings.iter().any(|f| f.rule == Rule::Timestamp && f.file.ends_with("Escrow.sol")),
        "{findings:#?}"
    );
    // The templates give nothing at all.
    for t in templates::ALL {
        assert!(by_file(&findings, t.file).is_empty(), "{}: {:#?}", t.file, by_file(&findings, t.file));
    }
}

#[test]
fn ids_are_stable_across_unrelated_edits_and_distinct() {
    let files = sol_files("samples/vulnerable");
    let before = analyse(&compile_ok(&as_refs(&files)));
    let ids: HashSet<&str> = before.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids.len(), before.len(), "ids are unique");
    assert!(before.iter().all(|f| f.id.len() == 32 && f.id.bytes().all(|b| b.is_ascii_hexdigit())));

    // Lines added above (a Chinese comment too) move every finding but keep
    // every id.
    let shifted: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| {
            let t = t.replacen("pragma solidity", "// 修订说明：新增注释\n\n\npragma solidity", 1);
            (n.clone(), t)
        })
        .collect();
    let after = analyse(&compile_ok(&as_refs(&shifted)));
    assert_eq!(after.len(), before.len());
    for f in &before {
        let g = after.iter().find(|g| g.id == f.id).unwrap_or_else(|| panic!("{f} lost its id"));
        assert_eq!((g.rule, &g.file), (f.rule, &f.file));
        assert_eq!(g.start.line, f.start.line + 3);
    }
}

#[test]
fn findings_count_characters_and_serialize_with_rule_ids() {
    let source = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
// 钱包：只允许所有者取款。
contract W {
    address owner = msg.sender;
    function take() external { /* 所有者检查 */ require(tx.origin == owner); payable(msg.sender).transfer(1); }
}
";
    let findings = analyse(&compile_ok(&[("W.sol", source)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    let line = source.lines().nth(5).unwrap();
    let col = line.find("tx.origin").map(|b| line[..b].chars().count() + 1).unwrap();
    assert_eq!((f.start.line, f.start.column), (6, col));
    let json = serde_json::to_value(f).unwrap();
    assert_eq!(json["rule"], "tx-origin");
    assert_eq!(json["severity"], "high");
    assert_eq!(json["start"]["line"], 6);
    let back: Finding = serde_json::from_value(json).unwrap();
    assert_eq!(&back, f);
}
