//! The work behind `govchain contract compile` and `govchain contract
//! analyse`: read files, compile, write the build output, and render
//! diagnostics and findings as text or JSON. The CLI only parses
//! arguments and prints.

use std::{
    collections::HashMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde::Serialize;

use crate::{
    CompileOptions, Compiled, Diagnostic, DiagnosticSeverity, Error, Finding, Result, Severity, analyse,
    compile,
};

/// Source files read from disk: (name, text). The name is the path as
/// given, without a leading `./`, so imports between the files resolve
/// as they do on disk.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|source| Error::Io { path: p.clone(), source })?;
            let name = p.to_string_lossy();
            Ok((name.strip_prefix("./").unwrap_or(&name).to_owned(), text))
        })
        .collect()
}

/// Compiles files from disk.
pub fn compile_files(paths: &[PathBuf], options: &CompileOptions) -> Result<Compiled> {
    let sources = read_sources(paths)?;
    let refs: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    compile(&refs, options)
}

/// Writes the build output into `dir` (created if needed): per contract
/// `<Name>.abi` (JSON), `<Name>.bin` and `<Name>.bin-runtime` (hex), where
/// `<Name>` is `<file stem>.<Contract>` when two files declare the same
/// contract name; and `diagnostics.json` with every diagnostic. Returns
/// the files written.
pub fn write_output(compiled: &Compiled, dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut names: HashMap<&str, usize> = HashMap::new();
    for c in &compiled.contracts {
        *names.entry(&c.name).or_default() += 1;
    }
    let mut written = Vec::new();
    let mut write = |name: String, bytes: Vec<u8>| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
        Ok(())
    };
    for c in &compiled.contracts {
        let base = if names.get(c.name.as_str()).copied().unwrap_or(0) > 1 {
            let stem =
                Path::new(&c.file).file_stem().map_or_else(|| c.file.clone(), |s| s.to_string_lossy().into());
            format!("{stem}.{}", c.name)
        } else {
            c.name.clone()
        };
        let abi = serde_json::to_vec_pretty(&c.abi).map_err(|e| Error::Compiler(e.to_string()))?;
        write(format!("{base}.abi"), abi)?;
        write(format!("{base}.bin"), c.bytecode.clone().into_bytes())?;
        write(format!("{base}.bin-runtime"), c.deployed_bytecode.clone().into_bytes())?;
    }
    let diagnostics =
        serde_json::to_vec_pretty(&compiled.diagnostics).map_err(|e| Error::Compiler(e.to_string()))?;
    write("diagnostics.json".into(), diagnostics)?;
    Ok(written)
}

/// The diagnostics, one `file:line:col: severity: message` line each.
pub fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().fold(String::new(), |mut out, d| {
        let _ = writeln!(out, "{d}");
        out
    })
}

/// Counts of diagnostics: (errors, warnings).
pub fn diagnostic_counts(compiled: &Compiled) -> (usize, usize) {
    let count = |s| compiled.diagnostics.iter().filter(|d| d.severity == s).count();
    (count(DiagnosticSeverity::Error), count(DiagnosticSeverity::Warning))
}

/// What `govchain contract analyse --json` prints.
#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    /// The compiler's version.
    pub compiler_version: String,
    /// The compiler's diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// The findings, most severe first; empty when the code did not compile.
    pub findings: Vec<Finding>,
}

/// Compiles and analyses files from disk. With compile errors there are
/// no findings (the AST is incomplete) and the diagnostics say why.
pub fn analyse_files(paths: &[PathBuf], options: &CompileOptions) -> Result<AnalysisReport> {
    let compiled = compile_files(paths, options)?;
    let findings = if compiled.has_errors() { Vec::new() } else { analyse(&compiled) };
    Ok(AnalysisReport {
        compiler_version: compiled.compiler_version,
        diagnostics: compiled.diagnostics,
        findings,
    })
}

/// The findings grouped by severity, most severe first, with a count line.
pub fn render_findings(findings: &[Finding]) -> String {
    let mut out = String::new();
    for severity in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low] {
        let group: Vec<&Finding> = findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} ({}):", severity.as_str().to_uppercase(), group.len());
        for f in group {
            let place = match (&f.contract, &f.function) {
                (Some(c), Some(func)) => format!(" in {c}.{func}"),
                (Some(c), None) => format!(" in {c}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {}:{}:{}: {}{place}: {}",
                f.file, f.start.line, f.start.column, f.rule, f.message
            );
            let _ = writeln!(out, "      {}", f.snippet);
            let _ = writeln!(out, "      id {}", f.id);
        }
    }
    let _ = writeln!(out, "{} finding(s)", findings.len());
    out
}
