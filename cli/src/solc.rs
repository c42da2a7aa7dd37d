//! `govchain contract compile` and `govchain contract analyse`: the
//! Solidity toolchain of `govchain-contracts` on files.
//!
//! Both need `node` and the pinned solc package: `npm ci --prefix
//! contracts/js` in the repository (`scripts/test-deps.sh` does it), found
//! from the binary's or the current directory, or named with `--solc-js`
//! or `GOVCHAIN_SOLC_JS` (a directory holding `node_modules/solc`).
// Wired into the `contract` subcommand in main.rs; until then only the
// tests below call it.

use std::{path::PathBuf, time::Duration};

use anyhow::{Result, bail};
use clap::Args;
use govchain_contracts::{CompileOptions, EvmVersion, Severity, cli};
use serde_json::json;

/// Compiler settings shared by both verbs.
#[derive(Args, Debug, Clone)]
pub struct CompilerArgs {
    /// Directory holding node_modules/solc (default: GOVCHAIN_SOLC_JS, then
    /// contracts/js above the binary or the current directory).
    #[arg(long)]
    pub solc_js: Option<PathBuf>,
    /// Target EVM version (the chain runs prague; older ones are accepted).
    #[arg(long, default_value = "prague", value_parser = parse_evm_version)]
    pub evm_version: EvmVersion,
    /// Optimizer runs; 0 turns the optimizer off.
    #[arg(long, default_value_t = 200)]
    pub optimize_runs: u32,
    /// Stop the compiler after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

fn parse_evm_version(s: &str) -> Result<EvmVersion, String> {
    s.parse().map_err(|e: govchain_contracts::Error| e.to_string())
}

impl CompilerArgs {
    fn options(&self) -> CompileOptions {
        CompileOptions {
            solc_js: self.solc_js.clone(),
            evm_version: self.evm_version,
            optimizer_runs: (self.optimize_runs > 0).then_some(self.optimize_runs),
            timeout: Duration::from_secs(self.timeout.max(1)),
            ..CompileOptions::default()
        }
    }
}

/// `govchain contract compile <files> [--out dir]`.
#[derive(Args, Debug, Clone)]
pub struct CompileArgs {
    /// Solidity files; they may import each other by relative path.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write `<Contract>.abi`, `.bin`, `.bin-runtime` and
    /// `diagnostics.json` here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the contracts (ABI, bytecode) and diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub compiler: CompilerArgs,
}

/// `govchain contract analyse <files>`.
#[derive(Args, Debug, Clone)]
pub struct AnalyseArgs {
    /// Solidity files; they may import each other by relative path.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the report (diagnostics and findings) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit non-zero) when a finding is at least this severe.
    #[arg(long)]
    pub fail_on: Option<Severity>,
    #[command(flatten)]
    pub compiler: CompilerArgs,
}

/// Compiles; diagnostics go to standard error as
/// `file:line:col: severity: message`; fails on compile errors.
pub fn run_compile(args: &CompileArgs) -> Result<()> {
    let compiled = cli::compile_files(&args.files, &args.compiler.options())?;
    eprint!("{}", cli::render_diagnostics(&compiled.diagnostics));
    let (errors, warnings) = cli::diagnostic_counts(&compiled);
    if let Some(dir) = &args.out {
        for path in cli::write_output(&compiled, dir)? {
            if !args.json {
                println!("wrote {}", path.display());
            }
        }
    }
    if args.json {
        let out = json!({
            "compiler_version": compiled.compiler_version,
            "evm_version": compiled.evm_version,
            "contracts": compiled.contracts,
            "diagnostics": compiled.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if errors == 0 {
        println!("compiled {} contract(s), {warnings} warning(s)", compiled.contracts.len());
    }
    if errors > 0 {
        bail!("{errors} compile error(s)");
    }
    Ok(())
}

/// Analyses; findings by severity on standard output (or JSON); fails on
/// compile errors and, with `--fail-on`, on findings that severe.
pub fn run_analyse(args: &AnalyseArgs) -> Result<()> {
    let report = cli::analyse_files(&args.files, &args.compiler.options())?;
    let errors =
        report.diagnostics.iter().filter(|d| d.severity == govchain_contracts::DiagnosticSeverity::Error);
    let errors: Vec<_> = errors.cloned().collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprint!("{}", cli::render_diagnostics(&errors));
        print!("{}", cli::render_findings(&report.findings));
    }
    if !errors.is_empty() {
        bail!("{} compile error(s); nothing analysed", errors.len());
    }
    if let Some(limit) = args.fail_on {
        let severe = report.findings.iter().filter(|f| f.severity >= limit).count();
        if severe > 0 {
            bail!("{severe} finding(s) at or above {limit}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    enum Verb {
        Compile(CompileArgs),
        Analyse(AnalyseArgs),
    }

    fn repo(path: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path).to_string_lossy().into_owned()
    }

    #[test]
    fn compile_writes_the_build_output_and_fails_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("build");
        let token = repo("contracts/templates/Token.sol");
        let Verb::Compile(args) = Verb::parse_from([
            "x",
            "compile",
            &token,
            "--out",
            out.to_str().unwrap(),
            "--evm-version",
            "cancun",
        ]) else {
            panic!("compile args")
        };
        assert_eq!(args.compiler.evm_version, EvmVersion::Cancun);
        run_compile(&args).unwrap();
        assert!(std::fs::read_to_string(out.join("Token.bin")).unwrap().len() > 1000);
        assert!(out.join("Token.abi").is_file() && out.join("diagnostics.json").is_file());

        let broken = dir.path().join("Broken.sol");
        std::fs::write(&broken, "contract B { uint x = }").unwrap();
        let args = CompileArgs { files: vec![broken], out: None, json: false, compiler: args.compiler };
        let err = run_compile(&args).unwrap_err();
        assert_eq!(err.to_string(), "1 compile error(s)");
        assert!(Verb::try_parse_from(["x", "compile", "A.sol", "--evm-version", "osaka"]).is_err());
    }

    #[test]
    fn analyse_fails_on_findings_as_severe_as_asked() {
        let sample = repo("contracts/samples/vulnerable/Timestamp.sol");
        let Verb::Analyse(args) = Verb::parse_from(["x", "analyse", &sample, "--fail-on", "medium"]) else {
            panic!("analyse args")
        };
        // Two low findings: below medium.
        run_analyse(&args).unwrap();
        let strict = AnalyseArgs { fail_on: Some(Severity::Low), ..args };
        assert_eq!(run_analyse(&strict).unwrap_err().to_string(), "2 finding(s) at or above low");
    }
}
