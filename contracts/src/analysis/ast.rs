//! Reading solc's compact AST (`serde_json::Value`): node kinds, source
//! ranges, and walks.

use serde_json::Value;

/// The node's `nodeType`, or `""`.
pub fn kind(node: &Value) -> &str {
    node.get("nodeType").and_then(Value::as_str).unwrap_or("")
}

/// A string field, or `""`.
pub fn text<'a>(node: &'a Value, field: &str) -> &'a str {
    node.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The node's `id`.
pub fn id(node: &Value) -> Option<i64> {
    node.get("id").and_then(Value::as_i64)
}

/// The declaration an identifier or member access refers to.
pub fn referenced(node: &Value) -> Option<i64> {
    node.get("referencedDeclaration").and_then(Value::as_i64)
}

/// The type string solc gave an expression, or `""`.
pub fn type_string(node: &Value) -> &str {
    node.get("typeDescriptions").and_then(|t| t.get("typeString")).and_then(Value::as_str).unwrap_or("")
}

/// The byte range and source id of `src` ("start:length:source").
pub fn src(node: &Value) -> Option<(usize, usize, u64)> {
    let mut parts = text(node, "src").split(':');
    let start = parts.next()?.parse().ok()?;
    let len: usize = parts.next()?.parse().ok()?;
    let file = parts.next()?.parse().ok()?;
    Some((start, start + len, file))
}

/// A child node or `Value::Null`.
pub fn child<'a>(node: &'a Value, field: &str) -> &'a Value {
    node.get(field).unwrap_or(&Value::Null)
}

/// The elements of an array field (empty if absent).
pub fn list<'a>(node: &'a Value, field: &str) -> &'a [Value] {
    node.get(field).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Calls `f` on `node` and every AST node below it, parents first, in
/// source order of the fields solc writes (which is evaluation order for
/// the expressions this analysis cares about).
pub fn walk<'a>(node: &'a Value, f: &mut impl FnMut(&'a Value)) {
    match node {
        Value::Object(map) => {
            if map.contains_key("nodeType") {
                f(node);
            }
            for (key, value) in map {
                // Type descriptions and documentation are not code.
                if key != "typeDescriptions" && key != "documentation" && key != "typeName" {
                    walk(value, f);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// Whether `pred` holds for `node` or a node below it.
pub fn any(node: &Value, pred: &mut impl FnMut(&Value) -> bool) -> bool {
    let mut found = false;
    walk(node, &mut |n| found = found || pred(n));
    found
}

/// Drops `FunctionCallOptions` (`x.call{value: v}`) around a callee.
pub fn callee(call: &Value) -> &Value {
    let e = child(call, "expression");
    if kind(e) == "FunctionCallOptions" { child(e, "expression") } else { e }
}

/// `base.member` where `base` is the identifier `base` (`msg.sender`,
/// `tx.origin`, `block.timestamp`).
pub fn is_global_member(node: &Value, base: &str, member: &str) -> bool {
    kind(node) == "MemberAccess"
        && text(node, "memberName") == member
        && kind(child(node, "expression")) == "Identifier"
        && text(child(node, "expression"), "name") == base
}

/// The name of the function or identifier called, if the callee is a plain
/// identifier (`require`, `selfdestruct`, an internal function).
pub fn called_name(call: &Value) -> Option<&str> {
    let e = callee(call);
    (kind(call) == "FunctionCall" && kind(e) == "Identifier").then(|| text(e, "name"))
}

/// A low-level call on an address: `call`, `delegatecall`, `staticcall`,
/// `send` or `transfer`; gives the member name.
pub fn low_level(call: &Value) -> Option<&str> {
    if kind(call) != "FunctionCall" {
        return None;
    }
    let e = callee(call);
    let member = text(e, "memberName");
    let on_address = type_string(child(e, "expression")).starts_with("address");
    (kind(e) == "MemberAccess"
        && on_address
        && matches!(member, "call" | "delegatecall" | "staticcall" | "send" | "transfer"))
    .then_some(member)
}

/// A call of another contract's external function (not `this.f()`).
pub fn is_external_call(call: &Value) -> bool {
    if kind(call) != "FunctionCall" || text(call, "kind") != "functionCall" {
        return false;
    }
    let e = callee(call);
    let base = child(e, "expression");
    kind(e) == "MemberAccess"
        && type_string(e).contains(" external")
        && !(kind(base) == "Identifier" && text(base, "name") == "this")
}

/// The condition expressions in a body: of `if`, loops and `?:`, the first
/// argument of `require`/`assert`, and comparisons anywhere.
pub fn conditions(body: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    walk(body, &mut |n| match kind(n) {
        "IfStatement" | "WhileStatement" | "DoWhileStatement" | "ForStatement" | "Conditional" => {
            let c = child(n, "condition");
            if !c.is_null() {
                out.push(c);
            }
        }
        "FunctionCall" if matches!(called_name(n), Some("require" | "assert")) => {
            if let Some(first) = list(n, "arguments").first() {
                out.push(first);
            }
        }
        "BinaryOperation" if matches!(text(n, "operator"), "==" | "!=" | "<" | ">" | "<=" | ">=") => {
            out.push(n)
        }
        _ => {}
    });
    out
}
