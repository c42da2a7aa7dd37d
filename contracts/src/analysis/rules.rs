//! The rules, run per source file (pragmas) and per function or modifier.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    Collector, Index, Rule, Scope, Severity,
    ast::{
        self, any, called_name, callee, child, conditions, is_external_call, is_global_member, kind, list,
        text, walk,
    },
    pragma,
};
use crate::CompiledSource;

/// Floating pragmas; gives whether the file admits a compiler before 0.8.
pub(super) fn pragmas(unit: &Value, source: &CompiledSource, out: &mut Collector<'_>) -> bool {
    let mut admits_pre_08 = false;
    let scope = Scope { contract: None, function: None };
    for p in list(unit, "nodes").iter().filter(|n| kind(n) == "PragmaDirective") {
        if list(p, "literals").first().and_then(Value::as_str) != Some("solidity") {
            continue;
        }
        let Some((start, end, _)) = ast::src(p) else { continue };
        let text = source.text.slice(start, end);
        let constraint = text.trim_start_matches("pragma").trim_start().trim_start_matches("solidity");
        let Some(c) = pragma::parse(constraint.trim_end_matches(';').trim()) else { continue };
        if c.floating {
            out.add(Rule::FloatingPragma, Severity::Low, p, &scope);
        }
        admits_pre_08 |= c.admits_pre_08;
    }
    admits_pre_08
}

/// Every rule that looks inside one function or modifier.
pub(super) fn function(
    index: &Index<'_>,
    f: &Value,
    scope: &Scope<'_>,
    admits_pre_08: bool,
    out: &mut Collector<'_>,
) {
    let body = child(f, "body");
    let mut rule = |rule, severity, node: &Value| out.add(rule, severity, node, scope);
    if kind(f) == "FunctionDefinition" {
        if !guarded_against_reentrancy(f) {
            Reentrancy { index, found: Vec::new() }.run(body, &mut rule);
        }
        unchecked_calls(body, &mut rule);
        delegatecall(index, f, &mut rule);
        selfdestruct(index, f, &mut rule);
    }
    tx_origin(body, &mut rule);
    timestamp(body, &mut rule);
    loops(body, &mut rule);
    arithmetic(body, admits_pre_08, &mut rule);
}

type Report<'r> = dyn FnMut(Rule, Severity, &Value) + 'r;

/// A public or external function, fallback or receive.
fn is_entry(f: &Value) -> bool {
    matches!(text(f, "visibility"), "public" | "external")
        || matches!(text(f, "kind"), "fallback" | "receive")
}

/// Whether the function, a modifier of it, or an internal function either
/// calls has a condition reading `msg.sender`.
fn sender_checked(index: &Index<'_>, f: &Value) -> bool {
    let mut bodies = vec![child(f, "body")];
    for m in list(f, "modifiers") {
        if let Some(decl) = ast::referenced(child(m, "modifierName")).and_then(|id| index.callables.get(&id))
        {
            bodies.push(child(decl, "body"));
        }
    }
    let direct = bodies.clone();
    for body in direct {
        walk(body, &mut |n| {
            if kind(n) == "FunctionCall"
                && let Some(decl) = ast::referenced(callee(n)).and_then(|id| index.callables.get(&id))
            {
                bodies.push(child(decl, "body"));
            }
        });
    }
    bodies.into_iter().any(|b| {
        conditions(b).into_iter().any(|c| {
            any(c, &mut |n| is_global_member(n, "msg", "sender") || called_name(n) == Some("_msgSender"))
        })
    })
}

/// A modifier named like a reentrancy guard.
fn guarded_against_reentrancy(f: &Value) -> bool {
    list(f, "modifiers").iter().any(|m| {
        let name = text(child(m, "modifierName"), "name").to_ascii_lowercase();
        name.contains("reentran") || name.contains("lock") || name.contains("mutex")
    })
}

/// Where a path through a function stands: ended (return, revert), or
/// going on, after an external call or not.
#[derive(Clone, Copy)]
enum Path<'a> {
    Live(Option<&'a Value>),
    Dead,
}

fn merge<'a>(a: Path<'a>, b: Path<'a>) -> Path<'a> {
    match (a, b) {
        (Path::Dead, x) | (x, Path::Dead) => x,
        (Path::Live(x), Path::Live(y)) => Path::Live(x.or(y)),
    }
}

/// State writes after external calls, statement by statement along the
/// paths of the function (loops walked twice, so a call late in the body
/// reaches a write early in it).
struct Reentrancy<'i, 'a> {
    index: &'i Index<'a>,
    found: Vec<(&'a Value, &'a Value)>,
}

impl<'a> Reentrancy<'_, 'a> {
    fn run(mut self, body: &'a Value, report: &mut Report<'_>) {
        self.stmt(body, Path::Live(None));
        for (write, call) in self.found {
            let soft = matches!(ast::low_level(call), Some("send" | "transfer"));
            report(Rule::Reentrancy, if soft { Severity::Medium } else { Severity::High }, write);
        }
    }

    fn stmts(&mut self, list: &'a [Value], mut p: Path<'a>) -> Path<'a> {
        for s in list {
            p = self.stmt(s, p);
        }
        p
    }

    fn stmt(&mut self, s: &'a Value, p: Path<'a>) -> Path<'a> {
        if matches!(p, Path::Dead) || s.is_null() {
            return p;
        }
        match kind(s) {
            "Block" | "UncheckedBlock" => self.stmts(list(s, "statements"), p),
            "ExpressionStatement" => {
                let e = child(s, "expression");
                let p = self.expr(e, p);
                if called_name(e) == Some("revert") { Path::Dead } else { p }
            }
            "VariableDeclarationStatement" => self.expr(child(s, "initialValue"), p),
            "EmitStatement" => self.expr(child(s, "eventCall"), p),
            "Return" => {
                self.expr(child(s, "expression"), p);
                Path::Dead
            }
            "RevertStatement" | "Break" | "Continue" | "Throw" => Path::Dead,
            "IfStatement" => {
                let p = self.expr(child(s, "condition"), p);
                let t = self.stmt(child(s, "trueBody"), p);
                let f = self.stmt(child(s, "falseBody"), p);
                merge(t, f)
            }
            "ForStatement" | "WhileStatement" | "DoWhileStatement" => {
                let p = self.stmt(child(s, "initializationExpression"), p);
                let mut at_check = self.expr(child(s, "condition"), p);
                for _ in 0..2 {
                    let after = self.stmt(child(s, "body"), at_check);
                    let after = self.stmt(child(s, "loopExpression"), after);
                    let after = self.expr(child(s, "condition"), after);
                    at_check = merge(at_check, after);
                }
                at_check
            }
            "TryStatement" => {
                let p = self.expr(child(s, "externalCall"), p);
                list(s, "clauses")
                    .iter()
                    .fold(Path::Dead, |acc, c| merge(acc, self.stmt(child(c, "block"), p)))
            }
            _ => p,
        }
    }

    /// Reports the writes of `e` if a call came before, then notes a call
    /// in `e`.
    fn expr(&mut self, e: &'a Value, p: Path<'a>) -> Path<'a> {
        if e.is_null() {
            return p;
        }
        if let Path::Live(Some(call)) = p {
            walk(e, &mut |n| {
                if let Some(target) = written(n)
                    && writes_state(self.index, target)
                {
                    self.found.push((n, call));
                }
            });
        }
        let mut call = None;
        walk(e, &mut |n| {
            let outward = matches!(ast::low_level(n), Some(m) if m != "staticcall") || is_external_call(n);
            if call.is_none() && outward {
                call = Some(n);
            }
        });
        match (p, call) {
            (Path::Live(None), Some(c)) => Path::Live(Some(c)),
            _ => p,
        }
    }
}

/// The expression a node writes to: the left side of an assignment, the
/// operand of `++`, `--` or `delete`, the array of `push`/`pop`.
fn written(n: &Value) -> Option<&Value> {
    match kind(n) {
        "Assignment" => Some(child(n, "leftHandSide")),
        "UnaryOperation" if matches!(text(n, "operator"), "++" | "--" | "delete") => {
            Some(child(n, "subExpression"))
        }
        "FunctionCall" => {
            let e = callee(n);
            let base = child(e, "expression");
            (kind(e) == "MemberAccess"
                && matches!(text(e, "memberName"), "push" | "pop")
                && ast::type_string(base).contains("storage"))
            .then_some(base)
        }
        _ => None,
    }
}

/// Whether writing `target` writes a state variable.
fn writes_state(index: &Index<'_>, target: &Value) -> bool {
    match kind(target) {
        "Identifier" => ast::referenced(target).is_some_and(|id| index.state_vars.contains(&id)),
        "IndexAccess" => writes_state(index, child(target, "baseExpression")),
        "MemberAccess" => writes_state(index, child(target, "expression")),
        "TupleExpression" => list(target, "components").iter().any(|c| writes_state(index, c)),
        _ => false,
    }
}

/// Low-level calls whose `bool` is dropped or never read.
fn unchecked_calls(body: &Value, report: &mut Report<'_>) {
    let severity = |call: &Value| match ast::low_level(call) {
        Some("call" | "delegatecall") => Some(Severity::High),
        Some("send" | "staticcall") => Some(Severity::Medium),
        _ => None,
    };
    let reads = |id: i64| {
        let mut count = 0;
        walk(body, &mut |n| {
            if kind(n) == "Identifier" && ast::referenced(n) == Some(id) {
                count += 1;
            }
        });
        count
    };
    walk(body, &mut |s| match kind(s) {
        "ExpressionStatement" => {
            let e = child(s, "expression");
            if let Some(sev) = severity(e) {
                report(Rule::UncheckedCall, sev, e);
            } else if kind(e) == "Assignment"
                && let Some(sev) = severity(child(e, "rightHandSide"))
            {
                // `ok = x.send(v)` or `(ok, data) = x.call(d)`: the flag must
                // be read again after this assignment.
                let lhs = child(e, "leftHandSide");
                let flag =
                    if kind(lhs) == "TupleExpression" { list(lhs, "components").first() } else { Some(lhs) };
                let used = flag.and_then(ast::referenced).is_some_and(|id| reads(id) >= 2);
                if !used {
                    report(Rule::UncheckedCall, sev, child(e, "rightHandSide"));
                }
            }
        }
        "VariableDeclarationStatement" => {
            let init = child(s, "initialValue");
            if let Some(sev) = severity(init) {
                let flag = list(s, "declarations").first().and_then(ast::id);
                if flag.is_none_or(|id| reads(id) == 0) {
                    report(Rule::UncheckedCall, sev, init);
                }
            }
        }
        _ => {}
    });
}

/// `delegatecall` on an address derived from a public function's
/// parameters or `msg.data`.
fn delegatecall(index: &Index<'_>, f: &Value, report: &mut Report<'_>) {
    if !is_entry(f) {
        return;
    }
    let body = child(f, "body");
    let mut tainted: HashSet<i64> =
        list(child(f, "parameters"), "parameters").iter().filter_map(ast::id).collect();
    let mentions = |e: &Value, tainted: &HashSet<i64>| {
        any(e, &mut |n| {
            is_global_member(n, "msg", "data")
                || (kind(n) == "Identifier" && ast::referenced(n).is_some_and(|id| tainted.contains(&id)))
        })
    };
    // Twice, so a value passed along in any order of statements is seen.
    for _ in 0..2 {
        let mut more = Vec::new();
        walk(body, &mut |n| match kind(n) {
            "VariableDeclarationStatement" if mentions(child(n, "initialValue"), &tainted) => {
                more.extend(list(n, "declarations").iter().filter_map(ast::id));
            }
            "Assignment" if mentions(child(n, "rightHandSide"), &tainted) => {
                let lhs = child(n, "leftHandSide");
                if kind(lhs) == "Identifier"
                    && let Some(id) = ast::referenced(lhs)
                    && !index.state_vars.contains(&id)
                {
                    more.push(id);
                }
            }
            _ => {}
        });
        tainted.extend(more);
    }
    let mut hits = Vec::new();
    walk(body, &mut |n| {
        if ast::low_level(n) == Some("delegatecall") && mentions(child(callee(n), "expression"), &tainted) {
            hits.push(n);
        }
    });
    if hits.is_empty() {
        return;
    }
    let severity = if sender_checked(index, f) { Severity::Low } else { Severity::Critical };
    for n in hits {
        report(Rule::ControlledDelegatecall, severity, n);
    }
}

fn is_selfdestruct(n: &Value) -> bool {
    matches!(called_name(n), Some("selfdestruct" | "suicide"))
}

/// `selfdestruct` reachable from an entry point without a sender check:
/// in it, or in an internal function it calls.
fn selfdestruct(index: &Index<'_>, f: &Value, report: &mut Report<'_>) {
    if !is_entry(f) {
        return;
    }
    let body = child(f, "body");
    let mut hits = Vec::new();
    walk(body, &mut |n| {
        if is_selfdestruct(n) {
            hits.push(n);
        } else if kind(n) == "FunctionCall"
            && let Some(decl) = ast::referenced(callee(n)).and_then(|id| index.callables.get(&id))
            && !is_entry(decl)
            && any(child(decl, "body"), &mut is_selfdestruct)
        {
            hits.push(n);
        }
    });
    if !hits.is_empty() && !sender_checked(index, f) {
        for n in hits {
            report(Rule::ReachableSelfdestruct, Severity::Critical, n);
        }
    }
}

/// `tx.origin` in conditions, except compared with `msg.sender`.
fn tx_origin(body: &Value, report: &mut Report<'_>) {
    let mut allowed = HashSet::new();
    walk(body, &mut |n| {
        if kind(n) == "BinaryOperation" && matches!(text(n, "operator"), "==" | "!=") {
            let (l, r) = (child(n, "leftExpression"), child(n, "rightExpression"));
            for (a, b) in [(l, r), (r, l)] {
                if is_global_member(a, "tx", "origin") && is_global_member(b, "msg", "sender") {
                    allowed.extend(ast::src(a));
                }
            }
        }
    });
    for c in conditions(body) {
        walk(c, &mut |n| {
            if is_global_member(n, "tx", "origin") && !ast::src(n).is_some_and(|s| allowed.contains(&s)) {
                report(Rule::TxOrigin, Severity::High, n);
            }
        });
    }
}

/// `block.timestamp` or `now` in conditions.
fn timestamp(body: &Value, report: &mut Report<'_>) {
    for c in conditions(body) {
        walk(c, &mut |n| {
            if is_global_member(n, "block", "timestamp")
                || (kind(n) == "Identifier" && text(n, "name") == "now")
            {
                report(Rule::Timestamp, Severity::Low, n);
            }
        });
    }
}

/// Loops whose condition reads a dynamic storage array's length.
fn loops(body: &Value, report: &mut Report<'_>) {
    walk(body, &mut |n| {
        if matches!(kind(n), "ForStatement" | "WhileStatement" | "DoWhileStatement")
            && any(child(n, "condition"), &mut |c| {
                kind(c) == "MemberAccess"
                    && text(c, "memberName") == "length"
                    && ast::type_string(child(c, "expression")).contains("[] storage")
            })
        {
            report(Rule::UnboundedLoop, Severity::Medium, n);
        }
    });
}

/// Whether a node is integer arithmetic that can overflow.
fn is_arithmetic(n: &Value) -> bool {
    let integer = |e: &Value| {
        let t = ast::type_string(e);
        t.starts_with("uint") || t.starts_with("int") && !t.starts_with("int_const")
    };
    match kind(n) {
        "BinaryOperation" => matches!(text(n, "operator"), "+" | "-" | "*" | "**") && integer(n),
        "Assignment" => {
            matches!(text(n, "operator"), "+=" | "-=" | "*=") && integer(child(n, "leftHandSide"))
        }
        "UnaryOperation" => matches!(text(n, "operator"), "++" | "--") && integer(child(n, "subExpression")),
        _ => false,
    }
}

/// Overflowing arithmetic before 0.8; `unchecked` blocks doing arithmetic.
fn arithmetic(body: &Value, admits_pre_08: bool, report: &mut Report<'_>) {
    walk(body, &mut |n| {
        if admits_pre_08 && is_arithmetic(n) {
            report(Rule::Overflow, Severity::High, n);
        }
        if kind(n) == "UncheckedBlock" && any(n, &mut is_arithmetic) {
            report(Rule::UncheckedBlock, Severity::Low, n);
        }
    });
}
