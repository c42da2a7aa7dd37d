//! The compiler: solc-js (npm `solc`, pinned at [`SOLC_VERSION`]) run by
//! `node` on a standard-JSON input.
//!
//! **Where the compiler is found** ([`find_solc_js`]), first match wins:
//! 1. [`CompileOptions::solc_js`], a directory holding `node_modules/solc`;
//! 2. the environment variable `GOVCHAIN_SOLC_JS`, the same kind of
//!    directory;
//! 3. `contracts/js` in the repository the running binary lies in (any
//!    ancestor of the binary's directory), then in the current directory
//!    or any of its ancestors;
//! 4. `contracts/js` of the source tree this crate was built from, if it
//!    is still there.
//!
//! An installed binary away from the repository (an image, a `govchain up`
//! host) needs `GOVCHAIN_SOLC_JS` pointing at a copy of `contracts/js`
//! after `npm ci` there, and `node` 18 or newer.
//!
//! Install it with `npm ci --prefix contracts/js` (what
//! `scripts/test-deps.sh` does). `node` is [`CompileOptions::node`], else
//! `GOVCHAIN_NODE`, else `node` on `PATH`. The package's `package.json`
//! must say [`SOLC_VERSION`]; another version is refused rather than used.
//!
//! **Offline and closed.** The script ([`COMPILE_JS`], the file
//! `contracts/js/compile.js`, built into this crate) loads the package's
//! own `soljson.js` and never `loadRemoteVersion`; an import that is not
//! among the given sources is refused.
//!
//! **Bounds.** Number and total size of the sources, a wall-clock timeout
//! (the process is killed), and the size of the compiler's output
//! ([`CompileOptions`]).
//!
//! **Positions.** solc reports byte offsets. Every [`Diagnostic`] carries
//! [`Position`]s in characters, lines and columns (see [`SourceText`]), and
//! its formatted message is rebuilt from them.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    str::FromStr,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Error, Position, Result, SourceText};

/// The solc-js version the toolchain is pinned to.
pub const SOLC_VERSION: &str = "0.8.37";

/// The node script that runs the compiler (`contracts/js/compile.js`).
pub const COMPILE_JS: &str = include_str!("../js/compile.js");

/// Longest accepted source name, in bytes.
const MAX_NAME: usize = 256;

/// The compiler's standard error kept for an error message.
const MAX_STDERR: u64 = 16 * 1024;

/// The EVM version code is compiled for. The chain runs Prague, so nothing
/// newer is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub enum EvmVersion {
    Homestead,
    TangerineWhistle,
    SpuriousDragon,
    Byzantium,
    Constantinople,
    Petersburg,
    Istanbul,
    Berlin,
    London,
    Paris,
    Shanghai,
    Cancun,
    #[default]
    Prague,
}

impl EvmVersion {
    /// Every version, oldest first.
    pub const ALL: [EvmVersion; 13] = [
        Self::Homestead,
        Self::TangerineWhistle,
        Self::SpuriousDragon,
        Self::Byzantium,
        Self::Constantinople,
        Self::Petersburg,
        Self::Istanbul,
        Self::Berlin,
        Self::London,
        Self::Paris,
        Self::Shanghai,
        Self::Cancun,
        Self::Prague,
    ];

    /// The name solc uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Homestead => "homestead",
            Self::TangerineWhistle => "tangerineWhistle",
            Self::SpuriousDragon => "spuriousDragon",
            Self::Byzantium => "byzantium",
            Self::Constantinople => "constantinople",
            Self::Petersburg => "petersburg",
            Self::Istanbul => "istanbul",
            Self::Berlin => "berlin",
            Self::London => "london",
            Self::Paris => "paris",
            Self::Shanghai => "shanghai",
            Self::Cancun => "cancun",
            Self::Prague => "prague",
        }
    }
}

impl FromStr for EvmVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Error::Input(format!(
                "unknown EVM version {s:?} (the chain runs prague; older ones are accepted)"
            ))
        })
    }
}

impl fmt::Display for EvmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to compile.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// A directory holding `node_modules/solc`; see the module doc for the
    /// search when `None`.
    pub solc_js: Option<PathBuf>,
    /// The `node` program; `GOVCHAIN_NODE` or `node` on `PATH` when `None`.
    pub node: Option<PathBuf>,
    /// The target EVM version.
    pub evm_version: EvmVersion,
    /// Optimizer runs, or `None` for no optimizer.
    pub optimizer_runs: Option<u32>,
    /// At most this many source files.
    pub max_sources: usize,
    /// At most this many bytes of source in all.
    pub max_source_bytes: usize,
    /// The compiler is killed after this long.
    pub timeout: Duration,
    /// At most this many bytes of compiler output.
    pub max_output_bytes: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            solc_js: None,
            node: None,
            evm_version: EvmVersion::Prague,
            optimizer_runs: Some(200),
            max_sources: 100,
            max_source_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_secs(120),
            max_output_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The severity of a compiler diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagnosticSeverity {
    /// The code does not compile.
    Error,
    /// It compiles, but something deserves a look.
    Warning,
    /// A note.
    Info,
}

impl DiagnosticSeverity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One error, warning or note of the compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error, warning or info.
    pub severity: DiagnosticSeverity,
    /// solc's kind, e.g. `ParserError`, `TypeError`, `Warning`.
    pub kind: String,
    /// solc's error code, if any.
    pub code: Option<String>,
    /// The message alone.
    pub message: String,
    /// The message with its place and the source line, for people.
    pub formatted: String,
    /// The source file it is about, if any.
    pub file: Option<String>,
    /// Where it starts (characters), if known.
    pub start: Option<Position>,
    /// Where it ends (characters, exclusive), if known.
    pub end: Option<Position>,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: severity: message`, or `severity: message` without
    /// a place.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.start) {
            (Some(file), Some(p)) => write!(f, "{file}:{}:{}: ", p.line, p.column)?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        write!(f, "{}: {}", self.severity.as_str(), self.message)
    }
}

/// One compiled contract (or library or interface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledContract {
    /// The source file it is declared in.
    pub file: String,
    /// Its name.
    pub name: String,
    /// The ABI (JSON array).
    pub abi: Value,
    /// Creation bytecode, lowercase hex without `0x`; empty for interfaces
    /// and abstract contracts. Unlinked library references stay as solc's
    /// `__$…$__` placeholders.
    pub bytecode: String,
    /// Runtime bytecode, the same form.
    pub deployed_bytecode: String,
    /// Function signature to 4-byte selector (hex).
    pub method_identifiers: BTreeMap<String, String>,
}

impl CompiledContract {
    /// The creation bytecode as bytes; an error if it still has unlinked
    /// library references.
    pub fn bytecode_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(&self.bytecode).map_err(|e| {
            Error::Input(format!("the bytecode of {} is not plain hex (unlinked library?): {e}", self.name))
        })
    }
}

/// One source file as compiled: its text and AST.
#[derive(Debug, Clone, Serialize)]
pub struct CompiledSource {
    /// The name it was given under.
    pub name: String,
    /// solc's source id (the third part of AST `src` fields).
    pub id: u64,
    /// The compact AST, absent when the file did not parse.
    pub ast: Option<Value>,
    /// The text.
    #[serde(skip)]
    pub text: SourceText,
}

/// The result of a compilation that ran, whether or not the code compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Compiled {
    /// The compiler's full version string.
    pub compiler_version: String,
    /// The EVM version compiled for.
    pub evm_version: EvmVersion,
    /// The contracts, by file then name.
    pub contracts: Vec<CompiledContract>,
    /// The sources in input order, with their ASTs.
    pub sources: Vec<CompiledSource>,
    /// Errors, warnings and notes, errors first.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Whether any diagnostic is an error (then there is no bytecode).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == DiagnosticSeverity::Error)
    }

    /// The first contract named `name`.
    pub fn contract(&self, name: &str) -> Option<&CompiledContract> {
        self.contracts.iter().find(|c| c.name == name)
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&CompiledSource> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The AST node (`ContractDefinition`) of a compiled contract, from its
    /// file's AST.
    pub fn contract_ast(&self, contract: &CompiledContract) -> Option<&Value> {
        let unit = self.source(&contract.file)?.ast.as_ref()?;
        unit.get("nodes")?.as_array()?.iter().find(|n| {
            n.get("nodeType").and_then(Value::as_str) == Some("ContractDefinition")
                && n.get("name").and_then(Value::as_str) == Some(contract.name.as_str())
        })
    }

    /// The diagnostics about one file.
    pub fn diagnostics_for<'a>(&'a self, file: &'a str) -> impl Iterator<Item = &'a Diagnostic> + 'a {
        self.diagnostics.iter().filter(move |d| d.file.as_deref() == Some(file))
    }
}

/// Compiles `sources` (name, text), which may import each other by name.
///
/// Solidity errors give an `Ok` with error diagnostics; an `Err` means the
/// compiler could not be run or the input was refused.
pub fn compile(sources: &[(&str, &str)], options: &CompileOptions) -> Result<Compiled> {
    check_input(sources, options)?;
    let solc_dir = find_solc_js(options.solc_js.as_deref())?;
    let node = node_program(options);
    let input = standard_input(sources, options);
    let answer = run_node(&node, &solc_dir, input.to_string().as_bytes(), options)?;
    let answer = read_answer(&answer)?;
    if !answer.version.starts_with(SOLC_VERSION) {
        return Err(Error::SolcMissing(format!(
            "the compiler in {} is {}, not the pinned {SOLC_VERSION}",
            solc_dir.display(),
            answer.version
        )));
    }
    Ok(read_output(sources, answer, options.evm_version))
}

/// Compiles `sources` like [`compile`] and gives solc's standard-JSON
/// output as it is, with the compiler's version string: what a browser
/// running the same pinned solc-js holds after compiling, for
/// [`read_standard_output`].
pub fn standard_output(sources: &[(&str, &str)], options: &CompileOptions) -> Result<(String, Value)> {
    check_input(sources, options)?;
    let solc_dir = find_solc_js(options.solc_js.as_deref())?;
    let node = node_program(options);
    let input = standard_input(sources, options);
    let answer = run_node(&node, &solc_dir, input.to_string().as_bytes(), options)?;
    let mut answer: Value = parse_deep(&answer)?;
    let version = answer["version"].as_str().unwrap_or_default().to_owned();
    Ok((version, answer["output"].take()))
}

/// Reads solc's standard-JSON `output` for `sources`, compiled elsewhere
/// (the console runs the pinned solc-js in the browser) by compiler
/// `version`: the same [`Compiled`] as [`compile`] gives, positions in
/// characters, so [`crate::analyse`] runs over it. Output of another
/// compiler version is refused.
pub fn read_standard_output(sources: &[(&str, &str)], version: &str, output: &[u8]) -> Result<Compiled> {
    check_input(sources, &CompileOptions::default())?;
    if !version.starts_with(SOLC_VERSION) {
        return Err(Error::Input(format!(
            "the output is of compiler {version:?}; the platform reads that of the pinned {SOLC_VERSION}"
        )));
    }
    let output: Output = parse_deep(output)?;
    Ok(read_output(
        sources,
        Answer { version: version.to_owned(), output },
        CompileOptions::default().evm_version,
    ))
}

/// Stack for reading the output and walking ASTs: an AST is as deep as
/// the code's nesting (a sum of 300 terms is 300 levels), more than
/// serde_json's default limit of 128 allows.
pub(crate) const DEEP_STACK: usize = 64 * 1024 * 1024;

/// Parses the script's answer without a depth limit, on a thread with a
/// stack for it (solc itself gives up at a depth of about a thousand).
fn read_answer(bytes: &[u8]) -> Result<Answer> {
    parse_deep(bytes)
}

/// Parses JSON of any depth on a thread with a stack for it.
fn parse_deep<T: serde::de::DeserializeOwned + Send>(bytes: &[u8]) -> Result<T> {
    let parse = || {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        de.disable_recursion_limit();
        T::deserialize(&mut de).map_err(|e| Error::Compiler(format!("unreadable compiler output: {e}")))
    };
    thread::scope(|s| {
        thread::Builder::new()
            .name("solc-output".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(s, parse)
            .map_err(|e| Error::Compiler(format!("cannot start a thread to read the output: {e}")))?
            .join()
            .map_err(|_| Error::Compiler("reading the compiler output failed".into()))?
    })
}

fn check_input(sources: &[(&str, &str)], options: &CompileOptions) -> Result<()> {
    if sources.is_empty() {
        return Err(Error::Input("no source files".into()));
    }
    if sources.len() > options.max_sources {
        return Err(Error::Input(format!("{} source files, at most {}", sources.len(), options.max_sources)));
    }
    let total: usize = sources.iter().map(|(_, t)| t.len()).sum();
    if total > options.max_source_bytes {
        return Err(Error::Input(format!("{total} bytes of source, at most {}", options.max_source_bytes)));
    }
    let mut seen = HashSet::new();
    for (name, _) in sources {
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::Input(format!(
                "source name {name:?}: 1 to {MAX_NAME} bytes, no control characters"
            )));
        }
        if !seen.insert(*name) {
            return Err(Error::Input(format!("source name {name:?} given twice")));
        }
    }
    Ok(())
}

/// Where the solc package is: see the module doc.
pub fn find_solc_js(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return check_solc_dir(dir);
    }
    if let Some(dir) = std::env::var_os("GOVCHAIN_SOLC_JS") {
        return check_solc_dir(Path::new(&dir));
    }
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let cwd = std::env::current_dir().ok();
    for start in exe_dir.iter().chain(cwd.iter()) {
        for dir in start.ancestors() {
            let candidate = dir.join("contracts").join("js");
            if candidate.join("node_modules/solc/package.json").is_file() {
                return check_solc_dir(&candidate);
            }
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    if built_from.join("node_modules/solc/package.json").is_file() {
        return check_solc_dir(&built_from);
    }
    Err(Error::SolcMissing(format!(
        "the solc npm package ({SOLC_VERSION}) was not found: no contracts/js/node_modules/solc above the binary, the current directory or the source tree, and GOVCHAIN_SOLC_JS is not set"
    )))
}

fn check_solc_dir(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("node_modules/solc/package.json");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| Error::SolcMissing(format!("{} cannot be read: {e}", manifest.display())))?;
    let version = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    if version != SOLC_VERSION {
        return Err(Error::SolcMissing(format!(
            "{} is solc {version:?}, not the pinned {SOLC_VERSION}",
            manifest.display()
        )));
    }
    Ok(dir.to_path_buf())
}

fn node_program(options: &CompileOptions) -> PathBuf {
    options
        .node
        .clone()
        .or_else(|| std::env::var_os("GOVCHAIN_NODE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("node"))
}

fn standard_input(sources: &[(&str, &str)], options: &CompileOptions) -> Value {
    let sources: serde_json::Map<String, Value> =
        sources.iter().map(|(n, t)| ((*n).to_owned(), json!({ "content": t }))).collect();
    let optimizer = match options.optimizer_runs {
        Some(runs) => json!({ "enabled": true, "runs": runs }),
        None => json!({ "enabled": false }),
    };
    json!({
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": options.evm_version.as_str(),
            "optimizer": optimizer,
            // Same source, same bytecode: no metadata hash in the code.
            "metadata": { "bytecodeHash": "none", "appendCBOR": false },
            "outputSelection": {
                "*": {
                    "": ["ast"],
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"],
                },
            },
        },
    })
}

/// What a read of the compiler's standard output ended with.
enum Drained {
    Done(Vec<u8>),
    TooLarge,
    Failed(std::io::Error),
}

/// Runs the script; returns its standard output.
fn run_node(node: &Path, solc_dir: &Path, input: &[u8], options: &CompileOptions) -> Result<Vec<u8>> {
    let mut child = Command::new(node)
        .arg("-e")
        .arg(COMPILE_JS)
        .arg(solc_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::NodeMissing { node: node.display().to_string(), reason: e.to_string() })?;
    let deadline = Instant::now() + options.timeout;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Compiler("the compiler's pipes were not opened".into()));
    };
    let input = input.to_vec();
    // A failed write shows as the process's own failure below.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let limit = options.max_output_bytes;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = Vec::new();
        let result = match stdout.take(limit as u64 + 1).read_to_end(&mut out) {
            Ok(_) if out.len() > limit => Drained::TooLarge,
            Ok(_) => Drained::Done(out),
            Err(e) => Drained::Failed(e),
        };
        let _ = tx.send(result);
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.take(MAX_STDERR).read_to_string(&mut text);
        text
    });
    let stop = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    let outcome = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let out = match outcome {
        Ok(Drained::Done(out)) => out,
        Ok(Drained::TooLarge) => {
            stop(&mut child);
            return Err(Error::OutputTooLarge(limit));
        }
        Ok(Drained::Failed(e)) => {
            stop(&mut child);
            return Err(Error::Compiler(format!("reading the compiler's output: {e}")));
        }
        Err(_) => {
            stop(&mut child);
            return Err(Error::Timeout(options.timeout));
        }
    };
    // The output is closed, so the process is ending; it still gets only
    // the time left.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                stop(&mut child);
                return Err(Error::Timeout(options.timeout));
            }
            Err(e) => return Err(Error::Compiler(format!("waiting for the compiler: {e}"))),
        }
    };
    let _ = writer.join();
    let stderr = errors.join().unwrap_or_default();
    if !status.success() {
        let text = stderr.trim();
        if text.contains("Maximum call stack size exceeded") {
            return Err(Error::Input(
                "the code nests too deeply for the compiler (its stack ran out)".into(),
            ));
        }
        if text.contains("cannot load solc") {
            return Err(Error::SolcMissing(text.to_owned()));
        }
        return Err(Error::Compiler(format!("node exited with {status}: {text}")));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Answer {
    version: String,
    output: Output,
}

#[derive(Deserialize, Default)]
struct Output {
    #[serde(default)]
    errors: Vec<RawError>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    contracts: BTreeMap<String, BTreeMap<String, RawContract>>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    severity: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "errorCode")]
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(rename = "formattedMessage", default)]
    formatted: String,
    #[serde(rename = "sourceLocation")]
    location: Option<RawLocation>,
}

#[derive(Deserialize)]
struct RawLocation {
    file: String,
    start: i64,
    end: i64,
}

#[derive(Deserialize)]
struct RawSource {
    id: u64,
    ast: Option<Value>,
}

#[derive(Deserialize)]
struct RawContract {
    #[serde(default)]
    abi: Value,
    #[serde(default)]
    evm: RawEvm,
}

#[derive(Deserialize, Default)]
struct RawEvm {
    #[serde(default)]
    bytecode: RawCode,
    #[serde(rename = "deployedBytecode", default)]
    deployed: RawCode,
    #[serde(rename = "methodIdentifiers", default)]
    method_identifiers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawCode {
    #[serde(default)]
    object: String,
}

fn read_output(sources: &[(&str, &str)], answer: Answer, evm_version: EvmVersion) -> Compiled {
    let Answer { version, output } = answer;
    let Output { errors, sources: mut raw_sources, contracts } = output;
    let sources: Vec<CompiledSource> = sources
        .iter()
        .map(|(name, text)| {
            let raw = raw_sources.remove(*name);
            CompiledSource {
                name: (*name).to_owned(),
                id: raw.as_ref().map_or(u64::MAX, |r| r.id),
                ast: raw.and_then(|r| r.ast),
                text: SourceText::new(*text),
            }
        })
        .collect();
    let mut diagnostics: Vec<Diagnostic> = errors.into_iter().map(|e| diagnostic(e, &sources)).collect();
    diagnostics.sort_by_key(|d| d.severity);
    let contracts = contracts
        .into_iter()
        .flat_map(|(file, by_name)| {
            by_name.into_iter().map(move |(name, c)| CompiledContract {
                file: file.clone(),
                name,
                abi: c.abi,
                bytecode: c.evm.bytecode.object,
                deployed_bytecode: c.evm.deployed.object,
                method_identifiers: c.evm.method_identifiers,
            })
        })
        .collect();
    Compiled { compiler_version: version, evm_version, contracts, sources, diagnostics }
}

fn diagnostic(e: RawError, sources: &[CompiledSource]) -> Diagnostic {
    let severity = match e.severity.as_str() {
        "error" => DiagnosticSeverity::Error,
        "warning" => DiagnosticSeverity::Warning,
        _ => DiagnosticSeverity::Info,
    };
    let mut d = Diagnostic {
        severity,
        kind: e.kind,
        code: e.code,
        message: e.message,
        formatted: e.formatted,
        file: None,
        start: None,
        end: None,
    };
    let Some(loc) = e.location else { return d };
    let source = sources.iter().find(|s| s.name == loc.file);
    d.file = Some(loc.file);
    let (Some(source), Ok(start), Ok(end)) = (source, usize::try_from(loc.start), usize::try_from(loc.end))
    else {
        return d;
    };
    let (start, end) = (source.text.position(start), source.text.position(end.max(start)));
    d.formatted = format_located(&d, &source.name, &source.text, start, end);
    d.start = Some(start);
    d.end = Some(end);
    d
}

/// solc's layout, with character columns and carets.
fn format_located(d: &Diagnostic, file: &str, text: &SourceText, start: Position, end: Position) -> String {
    let line = text.line_text(start.line);
    let number = start.line.to_string();
    let pad = " ".repeat(number.len());
    let width = if end.line == start.line { end.column.saturating_sub(start.column).max(1) } else { 1 };
    let lead: String =
        line.chars().take(start.column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    format!(
        "{}: {}\n{pad}--> {file}:{}:{}:\n{pad} |\n{number} | {line}\n{pad} | {lead}{}\n",
        d.kind,
        d.message,
        start.line,
        start.column,
        "^".repeat(width)
    )
}
