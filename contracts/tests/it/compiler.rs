//! The compiler through node: output, diagnostics in characters, imports,
//! limits, and a missing node or solc.

use std::{path::PathBuf, time::Duration};

use govchain_contracts::{
    CompileOptions, DiagnosticSeverity, Error, EvmVersion, SOLC_VERSION, compile, solc::find_solc_js,
    templates,
};

use crate::common::*;

const COUNTER: &str = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

contract Counter {
    uint256 public count;
    event Bumped(uint256 count);

    function bump() external returns (uint256) {
        count += 1;
        emit Bumped(count);
        return count;
    }
}
";

#[test]
fn a_contract_compiles_to_abi_bytecode_and_ast() {
    let compiled = compile_ok(&[("Counter.sol", COUNTER)]);
    assert!(compiled.compiler_version.starts_with(SOLC_VERSION), "{}", compiled.compiler_version);
    assert_eq!(compiled.evm_version, EvmVersion::Prague);
    assert!(compiled.diagnostics.is_empty(), "{:?}", compiled.diagnostics);
    let c = compiled.contract("Counter").expect("Counter is compiled");
    assert_eq!(c.file, "Counter.sol");
    let names: Vec<&str> = c.abi.as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["Bumped", "bump", "count"]);
    let selector = hex::encode(&alloy_primitives::keccak256(b"bump()")[..4]);
    assert_eq!(c.method_identifiers.get("bump()"), Some(&selector));
    let code = c.bytecode_bytes().unwrap();
    assert!(code.len() > 100);
    let runtime = hex::decode(&c.deployed_bytecode).unwrap();
    // The runtime code is part of the creation code.
    assert!(code.windows(runtime.len()).any(|w| w == runtime.as_slice()));
    let source = compiled.source("Counter.sol").unwrap();
    let ast = source.ast.as_ref().unwrap();
    assert_eq!(ast["nodeType"], "SourceUnit");
    assert_eq!(ast["nodes"][1]["name"], "Counter");
    let node = compiled.contract_ast(c).unwrap();
    assert_eq!(node["nodeType"], "ContractDefinition");
    assert_eq!(node["name"], "Counter");
    // Same input, same bytecode (no metadata hash in the code).
    let again = compile_ok(&[("Counter.sol", COUNTER)]);
    assert_eq!(again.contract("Counter").unwrap().bytecode, c.bytecode);
}

/// The position solc reports in bytes becomes characters: the Chinese text
/// before the error, on earlier lines and on its own line, moves nothing.
#[test]
fn positions_are_characters_so_chinese_comments_do_not_shift_them() {
    let source = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
// 合约说明：这是一个计数器，注释里有中文。
contract Note { string public note = unicode\"计数器\"; }
contract A { /* 中文注释 */ function f() public { uint x = 1 } }
";
    let compiled = compile(&[("A.sol", source)], &options()).unwrap();
    assert!(compiled.has_errors());
    assert!(compiled.contracts.iter().all(|c| c.bytecode.is_empty()));
    let d = &compiled.diagnostics[0];
    assert_eq!(d.severity, DiagnosticSeverity::Error);
    assert_eq!(d.kind, "ParserError");
    assert_eq!(d.file.as_deref(), Some("A.sol"));
    // `}` right after `uint x = 1 `: solc expected a `;` there.
    let line5 = source.lines().nth(4).unwrap();
    let col = line5.chars().position(|c| c == '1').unwrap() + 3;
    assert_eq!(line5.chars().nth(col - 1), Some('}'));
    let start = d.start.unwrap();
    assert_eq!((start.line, start.column), (5, col));
    let before: usize = source.lines().take(4).map(|l| l.chars().count() + 1).sum();
    assert_eq!(start.offset, before + col - 1);
    // The byte column would be larger: the check above would fail on bytes.
    assert!(line5.len() > line5.chars().count());
    assert_eq!(d.to_string(), format!("A.sol:5:{col}: error: Expected ';' but got '}}'"));
    assert!(d.formatted.contains(&format!("--> A.sol:5:{col}:")), "{}", d.formatted);
    assert!(d.formatted.contains(line5), "{}", d.formatted);

    // A warning (unused variable) after Chinese text, on a compiling file.
    let warn = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
contract W { function f() public pure { /* 未使用的变量 */ uint 数量x = 1; } }
";
    let compiled = compile(&[("W.sol", warn)], &options()).unwrap();
    // Non-ASCII identifiers are refused by solc: the error points at the
    // identifier, counted in characters.
    let d = &compiled.diagnostics[0];
    let line3 = warn.lines().nth(2).unwrap();
    let at = line3.chars().position(|c| c == '数').unwrap() + 1;
    assert_eq!(d.start.map(|p| (p.line, p.column)), Some((3, at)), "{d:?}");
}

#[test]
fn warnings_come_with_the_contract() {
    let source = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
// 中文
contract W { function f(uint 未用) public pure returns (uint) { uint unused = 1; return 2; } }
"
    .replace("uint 未用", "uint a");
    let compiled = compile_ok(&[("W.sol", &source)]);
    let warnings: Vec<_> =
        compiled.diagnostics.iter().filter(|d| d.severity == DiagnosticSeverity::Warning).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.start.unwrap().line == 4));
    assert!(warnings.iter().any(|w| w.message.contains("Unused local variable")));
    assert_eq!(compiled.diagnostics_for("W.sol").count(), 2);
    assert!(compiled.contract("W").unwrap().bytecode_bytes().is_ok());
}

#[test]
fn imports_resolve_among_the_given_sources_only() {
    let lib = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
library Math { function twice(uint256 x) internal pure returns (uint256) { return 2 * x; } }
";
    let main = "// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
import \"./lib/Math.sol\";
contract UsesMath { function f(uint256 x) external pure returns (uint256) { return Math.twice(x); } }
";
    let compiled = compile_ok(&[("src/Main.sol", main), ("src/lib/Math.sol", lib)]);
    assert!(compiled.contract("UsesMath").is_some());
    assert!(compiled.contract("Math").is_some());

    let missing = compile(&[("src/Main.sol", main)], &options()).unwrap();
    assert!(missing.has_errors());
    let d = &missing.diagnostics[0];
    assert!(d.message.contains("not among the given sources"), "{d:?}");
    assert_eq!(d.start.map(|p| p.line), Some(3));
}

#[test]
fn evm_versions_up_to_prague_are_offered() {
    assert_eq!("paris".parse::<EvmVersion>().unwrap(), EvmVersion::Paris);
    assert_eq!("Prague".parse::<EvmVersion>().unwrap(), EvmVersion::Prague);
    assert!(matches!("osaka".parse::<EvmVersion>(), Err(Error::Input(_))));
    // PUSH0 (0x5f) exists from shanghai on; paris code must not use it.
    let options = CompileOptions { evm_version: EvmVersion::Paris, optimizer_runs: None, ..options() };
    let paris = compile(&[("Counter.sol", COUNTER)], &options).unwrap();
    assert_eq!(paris.evm_version, EvmVersion::Paris);
    let prague = compile_ok(&[("Counter.sol", COUNTER)]);
    assert_ne!(paris.contract("Counter").unwrap().bytecode, prague.contract("Counter").unwrap().bytecode);
}

#[test]
fn bad_input_is_refused_before_compiling() {
    let refused = |sources: &[(&str, &str)], options: &CompileOptions| match compile(sources, options) {
        Err(Error::Input(m)) => m,
        other => panic!("expected an input error, got {other:?}"),
    };
    assert!(refused(&[], &options()).contains("no source"));
    assert!(refused(&[("A.sol", COUNTER), ("A.sol", COUNTER)], &options()).contains("twice"));
    assert!(refused(&[("", COUNTER)], &options()).contains("source name"));
    assert!(refused(&[("a\nb.sol", COUNTER)], &options()).contains("source name"));
    let small = CompileOptions { max_source_bytes: 100, ..options() };
    assert!(refused(&[("A.sol", COUNTER)], &small).contains("bytes of source"));
    let few = CompileOptions { max_sources: 1, ..options() };
    assert!(refused(&[("A.sol", COUNTER), ("B.sol", COUNTER)], &few).contains("source files"));
}

#[test]
fn the_compiler_is_bounded_in_time_and_output() {
    // Starting node and loading solc alone takes far longer than 1 ms.
    let hurried = CompileOptions { timeout: Duration::from_millis(1), ..options() };
    assert!(matches!(compile(&[("A.sol", COUNTER)], &hurried), Err(Error::Timeout(_))));
    let terse = CompileOptions { max_output_bytes: 1000, ..options() };
    assert!(matches!(compile(&[("A.sol", COUNTER)], &terse), Err(Error::OutputTooLarge(1000))));
}

#[test]
fn a_missing_node_or_solc_is_an_error_saying_how_to_install_it() {
    let no_node = CompileOptions { node: Some(PathBuf::from("/nonexistent/node")), ..options() };
    let err = compile(&[("A.sol", COUNTER)], &no_node).unwrap_err();
    assert!(matches!(err, Error::NodeMissing { .. }));
    assert!(err.to_string().contains("Install Node.js"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let no_solc = CompileOptions { solc_js: Some(empty.path().to_path_buf()), ..options() };
    let err = compile(&[("A.sol", COUNTER)], &no_solc).unwrap_err();
    assert!(matches!(err, Error::SolcMissing(_)));
    assert!(err.to_string().contains("npm ci --prefix contracts/js"), "{err}");

    // Another version of the package is refused, not used.
    let other = tempfile::tempdir().unwrap();
    let pkg = other.path().join("node_modules/solc");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("package.json"), r#"{"name": "solc", "version": "0.8.19"}"#).unwrap();
    let err = find_solc_js(Some(other.path())).unwrap_err();
    assert!(err.to_string().contains("0.8.19"), "{err}");

    // Found from the current directory (the crate's) when nothing is named.
    if std::env::var_os("GOVCHAIN_SOLC_JS").is_none() {
        let found = find_solc_js(None).unwrap();
        assert_eq!(found.canonicalize().unwrap(), solc_dir().canonicalize().unwrap());
    }
}

#[test]
fn the_templates_compile_without_warnings() {
    for t in templates::ALL {
        let compiled = compile_ok(&[(t.file, t.source)]);
        assert!(compiled.diagnostics.is_empty(), "{}: {:?}", t.file, compiled.diagnostics);
        let c = compiled.contract(t.contract).unwrap();
        assert!(!c.bytecode_bytes().unwrap().is_empty());
    }
}

/// An AST deeper than serde_json's default limit (128) is read and
/// analysed; code too deep for solc itself is a clear error.
#[test]
fn deeply_nested_code_is_read_or_refused_clearly() {
    let contract = |body: String| {
        format!(
            "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.37;\ncontract D {{ function f(uint a) public pure returns (uint) {{ {body} return a; }} }}\n"
        )
    };
    // 150 nested blocks: an AST over 300 levels deep.
    let deep = contract(format!("{} a += 1; {}", "{".repeat(150), "}".repeat(150)));
    let compiled = compile_ok(&[("D.sol", &deep)]);
    assert!(compiled.source("D.sol").unwrap().ast.is_some());
    assert!(govchain_contracts::analyse(&compiled).is_empty());
    // A sum of 2000 terms exhausts solc's own stack.
    let too_deep = contract(format!("a = {};", vec!["a"; 2000].join(" + ")));
    match compile(&[("D.sol", &too_deep)], &options()) {
        Err(Error::Input(m)) => assert!(m.contains("nests too deeply"), "{m}"),
        other => panic!("expected a clear error, got {other:?}"),
    }
}
