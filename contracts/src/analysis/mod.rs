//! Static analysis of Solidity over solc's compact AST (SPEC SC-8).
//!
//! [`analyse`] reads the ASTs of a [`Compiled`] and reports [`Finding`]s,
//! each with a [`Rule`], a [`Severity`], the source range in characters
//! and an explanation in English and Chinese. The rules and what they
//! look for (the AST carries solc's name resolution and types, so an
//! identifier is known to be a state variable, a parameter or a local):
//!
//! | rule | severity | finding |
//! |---|---|---|
//! | `reentrancy` | high (medium after `send`/`transfer`) | a state variable written after an external call, low-level call, `send` or `transfer` on the same path through the function; functions with a `nonReentrant`/`lock`-style modifier are skipped |
//! | `tx-origin` | high | `tx.origin` in a condition (`if`, loops, `require`/`assert`, comparisons), except `tx.origin == msg.sender` |
//! | `unchecked-call` | high (medium for `send`) | the `bool` of `call`/`delegatecall`/`staticcall`/`send` dropped or never read |
//! | `controlled-delegatecall` | critical (low behind a sender check) | `delegatecall` on an address taken from a parameter of a public function or from `msg.data`, directly or through locals |
//! | `reachable-selfdestruct` | critical | `selfdestruct` in, or in an internal function called by, a public/external function that has no sender check |
//! | `timestamp` | low | `block.timestamp` (or `now`) in a condition |
//! | `unbounded-loop` | medium | a loop whose condition reads the `.length` of a dynamic storage array |
//! | `floating-pragma` | low | a `pragma solidity` allowing more than one version |
//! | `overflow` | high | `+ - * **`, their assignments, `++`/`--` on integers in a file whose pragma admits a compiler before 0.8 (those wrap silently) |
//! | `unchecked-block` | low | an `unchecked { }` block doing arithmetic |
//!
//! A **sender check** is a condition (as above) that reads `msg.sender`
//! (or calls `_msgSender()`), in the function itself, in one of its
//! modifiers, or in an internal function either of those calls.
//!
//! **Ids.** A finding's [`Finding::id`] hashes the rule, the file, the
//! contract and function, the whitespace-normalized source text of the
//! range and its ordinal among equal ones, and not the offsets: edits
//! elsewhere in the file keep the id, so a recorded dismissal stays
//! attached to it.
//!
//! Not for: proofs. These are pattern checks over one compilation; they
//! can miss what crosses contracts or assembly and can warn about safe
//! code, which is why findings can be dismissed with a reason.

mod ast;
pub mod pragma;
mod rules;

use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Compiled, Position};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; often fine.
    Low,
    /// Likely a bug under some use.
    Medium,
    /// Likely exploitable.
    High,
    /// Anyone can take funds or destroy the contract.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    /// `low`, `medium`, `high` or `critical`, any case.
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Low, Self::Medium, Self::High, Self::Critical]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown severity {s:?} (low, medium, high, critical)"))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about (see the module doc for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Rule {
    Reentrancy,
    TxOrigin,
    UncheckedCall,
    ControlledDelegatecall,
    ReachableSelfdestruct,
    Timestamp,
    UnboundedLoop,
    FloatingPragma,
    Overflow,
    UncheckedBlock,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 10] = [
        Rule::Reentrancy,
        Rule::TxOrigin,
        Rule::UncheckedCall,
        Rule::ControlledDelegatecall,
        Rule::ReachableSelfdestruct,
        Rule::Timestamp,
        Rule::UnboundedLoop,
        Rule::FloatingPragma,
        Rule::Overflow,
        Rule::UncheckedBlock,
    ];

    /// The rule id, e.g. `tx-origin`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Reentrancy => "reentrancy",
            Rule::TxOrigin => "tx-origin",
            Rule::UncheckedCall => "unchecked-call",
            Rule::ControlledDelegatecall => "controlled-delegatecall",
            Rule::ReachableSelfdestruct => "reachable-selfdestruct",
            Rule::Timestamp => "timestamp",
            Rule::UnboundedLoop => "unbounded-loop",
            Rule::FloatingPragma => "floating-pragma",
            Rule::Overflow => "overflow",
            Rule::UncheckedBlock => "unchecked-block",
        }
    }

    /// The rule with id `id`.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// A short explanation: English, Chinese.
    pub fn explanation(self) -> (&'static str, &'static str) {
        match self {
            Rule::Reentrancy => (
                "State is written after an external call: a call back into the contract sees the old value. Update state before calling out (checks-effects-interactions) or use a reentrancy guard.",
                "外部调用之后才写入状态变量，重入的调用会看到旧值。请先更新状态再调用外部合约（检查-生效-交互），或使用重入锁。",
            ),
            Rule::TxOrigin => (
                "tx.origin is used for authorization: a contract the account calls can act in its name. Use msg.sender.",
                "用 tx.origin 做权限判断，账户调用的恶意合约可以冒用其身份。请改用 msg.sender。",
            ),
            Rule::UncheckedCall => (
                "The success flag of a low-level call is ignored, so a failed call goes unnoticed. Check it, e.g. require(ok).",
                "忽略了底层调用返回的成功标志，调用失败不会被发现。请检查它，例如 require(ok)。",
            ),
            Rule::ControlledDelegatecall => (
                "delegatecall to an address the caller chooses runs foreign code with this contract's storage and balance.",
                "delegatecall 的目标地址由调用者决定，外部代码会以本合约的存储和余额运行。",
            ),
            Rule::ReachableSelfdestruct => (
                "selfdestruct is reachable from a public function without a sender check: anyone can trigger it.",
                "公开函数可以触发 selfdestruct 且没有调用者检查，任何人都能执行。",
            ),
            Rule::Timestamp => (
                "block.timestamp decides a condition; the block's proposer sets it within limits. Do not use it for randomness or exact deadlines.",
                "条件依赖 block.timestamp，出块节点可在一定范围内决定其值。不要用它产生随机数或判断精确时限。",
            ),
            Rule::UnboundedLoop => (
                "The loop runs once per element of a storage array: as the array grows, the call needs more gas than a block allows and can no longer be made. Paginate or bound it.",
                "循环次数取决于存储数组的长度，数组增长后调用所需 gas 会超过区块上限而无法执行。请分页或设置上限。",
            ),
            Rule::FloatingPragma => (
                "The pragma allows several compiler versions, so the contract may be built with one it was not tested with. Pin the version.",
                "pragma 允许多个编译器版本，合约可能用未经测试的版本编译。请固定版本。",
            ),
            Rule::Overflow => (
                "Arithmetic in a file that admits compilers before 0.8, where integers wrap around silently on overflow. Require 0.8 or newer, or use checked math.",
                "该文件允许 0.8 之前的编译器，整数溢出会静默回绕。请要求 0.8 及以上版本或使用安全运算。",
            ),
            Rule::UncheckedBlock => (
                "Arithmetic in an unchecked block wraps around on overflow; make sure it cannot overflow.",
                "unchecked 代码块中的算术溢出会回绕，请确认不会溢出。",
            ),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id (32 hex digits) to record a dismissal against.
    pub id: String,
    /// The rule.
    pub rule: Rule,
    /// How bad.
    pub severity: Severity,
    /// The source file.
    pub file: String,
    /// The contract it is in, if any.
    pub contract: Option<String>,
    /// The function or modifier it is in, if any.
    pub function: Option<String>,
    /// Where the range starts (characters, line, column).
    pub start: Position,
    /// Where it ends (exclusive).
    pub end: Position,
    /// The first line of the range's source text, trimmed.
    pub snippet: String,
    /// Explanation in English.
    pub message: String,
    /// Explanation in Chinese.
    pub message_zh: String,
}

impl fmt::Display for Finding {
    /// `file:line:col: severity: rule: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}: {}",
            self.file, self.start.line, self.start.column, self.severity, self.rule, self.message
        )
    }
}

/// Analyses every source of `compiled` that has an AST. Findings come
/// most severe first, then by file and place. A compilation with errors
/// has incomplete ASTs; analyse only one without.
pub fn analyse(compiled: &Compiled) -> Vec<Finding> {
    // The walks recurse as deep as the AST; see `DEEP_STACK`.
    let on_deep_stack = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("analyse".into())
            .stack_size(crate::solc::DEEP_STACK)
            .spawn_scoped(s, || analyse_here(compiled))
            .ok()
            .map(|t| t.join())
    });
    match on_deep_stack {
        Some(Ok(findings)) => findings,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread to be had: analyse here.
        None => analyse_here(compiled),
    }
}

fn analyse_here(compiled: &Compiled) -> Vec<Finding> {
    let index = Index::new(compiled);
    let mut out = Collector { compiled, raw: Vec::new(), seen: HashSet::new() };
    for source in &compiled.sources {
        let Some(unit) = &source.ast else { continue };
        let admits_pre_08 = rules::pragmas(unit, source, &mut out);
        for contract in ast::list(unit, "nodes").iter().filter(|n| ast::kind(n) == "ContractDefinition") {
            for member in ast::list(contract, "nodes") {
                if matches!(ast::kind(member), "FunctionDefinition" | "ModifierDefinition")
                    && !ast::child(member, "body").is_null()
                {
                    let scope =
                        Scope { contract: Some(ast::text(contract, "name")), function: Some(name(member)) };
                    rules::function(&index, member, &scope, admits_pre_08, &mut out);
                }
            }
        }
    }
    out.finish()
}

/// A function's name for people: its name, or its kind (`constructor`,
/// `fallback`, `receive`).
fn name(function: &Value) -> &str {
    match ast::text(function, "name") {
        "" => ast::text(function, "kind"),
        n => n,
    }
}

/// What the rules look up across files.
struct Index<'a> {
    state_vars: HashSet<i64>,
    /// Functions and modifiers by id.
    callables: HashMap<i64, &'a Value>,
}

impl<'a> Index<'a> {
    fn new(compiled: &'a Compiled) -> Self {
        let mut index = Index { state_vars: HashSet::new(), callables: HashMap::new() };
        for unit in compiled.sources.iter().filter_map(|s| s.ast.as_ref()) {
            ast::walk(unit, &mut |n| match ast::kind(n) {
                "VariableDeclaration" if n.get("stateVariable").and_then(Value::as_bool) == Some(true) => {
                    index.state_vars.extend(ast::id(n));
                }
                "FunctionDefinition" | "ModifierDefinition" => {
                    if let Some(id) = ast::id(n) {
                        index.callables.insert(id, n);
                    }
                }
                _ => {}
            });
        }
        index
    }
}

/// Where a node is: contract and function.
struct Scope<'a> {
    contract: Option<&'a str>,
    function: Option<&'a str>,
}

struct Raw {
    rule: Rule,
    severity: Severity,
    file: usize,
    start: usize,
    end: usize,
    contract: Option<String>,
    function: Option<String>,
}

/// Gathers findings, once per rule and node.
struct Collector<'c> {
    compiled: &'c Compiled,
    raw: Vec<Raw>,
    seen: HashSet<(Rule, usize, usize, u64)>,
}

impl Collector<'_> {
    fn add(&mut self, rule: Rule, severity: Severity, node: &Value, scope: &Scope<'_>) {
        let Some((start, end, file_id)) = ast::src(node) else { return };
        let Some(file) = self.compiled.sources.iter().position(|s| s.id == file_id) else { return };
        if !self.seen.insert((rule, start, end, file_id)) {
            return;
        }
        self.raw.push(Raw {
            rule,
            severity,
            file,
            start,
            end,
            contract: scope.contract.map(str::to_owned),
            function: scope.function.map(str::to_owned),
        });
    }

    fn finish(self) -> Vec<Finding> {
        let mut raw = self.raw;
        raw.sort_by_key(|r| (r.file, r.start, r.end, r.rule));
        let mut ordinals: HashMap<[u8; 32], u32> = HashMap::new();
        let mut findings: Vec<Finding> = raw
            .into_iter()
            .map(|r| {
                let source = &self.compiled.sources[r.file];
                let slice = source.text.slice(r.start, r.end);
                let normalized = slice.split_whitespace().collect::<Vec<_>>().join(" ");
                let mut h = Sha256::new();
                for part in [
                    r.rule.id(),
                    &source.name,
                    r.contract.as_deref().unwrap_or(""),
                    r.function.as_deref().unwrap_or(""),
                    &normalized,
                ] {
                    h.update((part.len() as u64).to_be_bytes());
                    h.update(part.as_bytes());
                }
                let base: [u8; 32] = h.finalize().into();
                let ordinal = ordinals.entry(base).or_insert(0);
                *ordinal += 1;
                let id: [u8; 32] =
                    Sha256::new().chain_update(base).chain_update(ordinal.to_be_bytes()).finalize().into();
                let (en, zh) = r.rule.explanation();
                Finding {
                    id: hex::encode(&id[..16]),
                    rule: r.rule,
                    severity: r.severity,
                    file: source.name.clone(),
                    contract: r.contract,
                    function: r.function,
                    start: source.text.position(r.start),
                    end: source.text.position(r.end),
                    snippet: slice.lines().next().unwrap_or("").trim().chars().take(160).collect(),
                    message: en.to_owned(),
                    message_zh: zh.to_owned(),
                }
            })
            .collect();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.file.cmp(&b.file))
                .then(a.start.offset.cmp(&b.start.offset))
        });
        findings
    }
}
