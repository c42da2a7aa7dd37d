//! Shared helpers: compile options pointing at this repository's solc.

use std::path::{Path, PathBuf};

use govchain_contracts::{CompileOptions, Compiled, DiagnosticSeverity, compile};

/// `contracts/js`, the directory holding node_modules/solc.
pub fn solc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

pub fn options() -> CompileOptions {
    CompileOptions { solc_js: Some(solc_dir()), ..CompileOptions::default() }
}

/// Compiles and fails the test on compiler errors.
pub fn compile_ok(sources: &[(&str, &str)]) -> Compiled {
    let compiled = compile(sources, &options()).expect("the compiler runs");
    let errors: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagnosticSeverity::Error)
        .map(|d| d.formatted.clone())
        .collect();
    assert!(errors.is_empty(), "compile errors:\n{}", errors.join("\n"));
    compiled
}

/// The `.sol` files of a directory under `contracts/`, by name: (path
/// relative to `contracts/`, text).
pub fn sol_files(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(root.join(dir))
        .expect("the directory exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sol"))
        .map(|p| {
            let name = p.strip_prefix(root).expect("under the crate").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

pub fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect()
}
