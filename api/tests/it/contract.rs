//! The OpenAPI document as a contract the suites enforce: every answer the
//! test clients get is looked up in the document (the operation by method
//! and path template, the response by status) and its body validated
//! against that response's schema, with the document's `components` at hand
//! for `$ref`s (OpenAPI 3.1 schemas are JSON Schema 2020-12). An answer
//! with a status the operation does not list, a content type it does not
//! list, or a body its schema refuses is a failure. A request body a 2xx
//! answer accepted must satisfy the operation's request schema too (a
//! schema stricter than the server lies as much as a looser one).
//!
//! Answers outside the document (an unknown path or a method the path does
//! not take) must be 404 or 405 with an `ErrorBody`.

use std::{
    collections::{BTreeSet, HashMap},
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Paths the API serves outside the document.
const UNDOCUMENTED: [&str; 2] = ["/healthz", "/api/openapi.json"];

struct Operation {
    method: String,
    template: String,
    segments: Vec<Option<String>>,
    op: Value,
}

struct Contract {
    doc: Value,
    ops: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    seen: Mutex<BTreeSet<(String, String)>>,
}

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(&govchain_api::openapi_json()).expect("the OpenAPI document is JSON");
        let mut ops = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| if s.starts_with('{') { None } else { Some(s.to_owned()) })
                    .collect();
                ops.push(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments,
                    op: op.clone(),
                });
            }
        }
        Contract { doc, ops, validators: Mutex::default(), seen: Mutex::default() }
    })
}

impl Contract {
    /// The operations whose template matches `path`, the most literal first.
    fn matching(&self, path: &str) -> Vec<&Operation> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut found: Vec<(usize, &Operation)> = self
            .ops
            .iter()
            .filter(|o| {
                o.segments.len() == parts.len()
                    && o.segments.iter().zip(&parts).all(|(s, p)| match s {
                        Some(lit) => lit == p,
                        None => !p.is_empty(),
                    })
            })
            .map(|o| (o.segments.iter().filter(|s| s.is_some()).count(), o))
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        let best = found.first().map(|f| f.0);
        found.into_iter().filter(|f| Some(f.0) == best).map(|f| f.1).collect()
    }

    /// A validator of `schema` (a schema of the document, found by `key`).
    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().unwrap();
        if let Some(v) = cache.get(key) {
            return Ok(v.clone());
        }
        let mut root = schema.clone();
        if let Value::Object(m) = &mut root {
            m.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
            m.insert("components".into(), self.doc["components"].clone());
        }
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map_err(|e| format!("the document's schema at {key} does not compile: {e}"))?;
        let v = Arc::new(v);
        cache.insert(key.to_owned(), v.clone());
        Ok(v)
    }

    fn validate(&self, key: &str, schema: &Value, instance: &Value) -> Result<(), String> {
        let v = self.validator(key, schema)?;
        let errors: Vec<String> =
            v.iter_errors(instance).take(5).map(|e| format!("at `{}`: {e}", e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

/// What a test client sent and got, for [`check`].
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// Path and query, as sent.
    pub path: &'a str,
    /// The JSON request body, if one was sent as JSON.
    pub request: Option<&'a Value>,
    pub status: StatusCode,
    pub content_type: Option<&'a str>,
    pub body: &'a str,
}

/// Checks one answer against the document; `Err` says what the document
/// does not allow.
pub fn check(x: &Exchange<'_>) -> Result<(), String> {
    let c = contract();
    let path = x.path.split(['?', '#']).next().unwrap_or_default();
    let what = format!("{} {path} answered {}", x.method, x.status.as_u16());
    let media = x.content_type.map(|ct| ct.split(';').next().unwrap_or_default().trim().to_owned());
    if UNDOCUMENTED.contains(&path) {
        return Ok(());
    }
    let candidates = c.matching(path);
    let Some(operation) = candidates.iter().find(|o| o.method == x.method.as_str()) else {
        // Not an operation of the document: the router's own refusals.
        let expected =
            if candidates.is_empty() { StatusCode::NOT_FOUND } else { StatusCode::METHOD_NOT_ALLOWED };
        if x.status != expected {
            return Err(format!(
                "{what}: no operation of the document matches, so only {expected} is allowed"
            ));
        }
        let body: Value =
            serde_json::from_str(x.body).map_err(|_| format!("{what}: the body is not JSON: {}", x.body))?;
        return c
            .validate("ErrorBody", &json!({"$ref": "#/components/schemas/ErrorBody"}), &body)
            .map_err(|e| format!("{what}: not an ErrorBody: {e}; body {}", short(x.body)));
    };
    let op_name = format!("{} {}", operation.method, operation.template);
    let status = x.status.as_u16().to_string();
    let responses = &operation.op["responses"];
    let (key, response) = match (responses.get(&status), responses.get("default")) {
        (Some(r), _) => (status.clone(), r),
        (None, Some(r)) => ("default".to_owned(), r),
        (None, None) => {
            let listed: Vec<&String> = responses.as_object().map(|m| m.keys().collect()).unwrap_or_default();
            return Err(format!(
                "{what}: the document lists no {status} for {op_name} (it lists {listed:?}); body {}",
                short(x.body)
            ));
        }
    };
    if c.seen.lock().unwrap().insert((op_name.clone(), key.clone())) {
        note_seen(&op_name, &key);
    }
    let content = response.get("content").and_then(Value::as_object);
    match content {
        None if x.body.is_empty() => {}
        None => {
            return Err(format!(
                "{what}: {op_name} {key} has no body in the document, got {}",
                short(x.body)
            ));
        }
        Some(content) => {
            let media = media
                .ok_or_else(|| format!("{what}: no content type; the document says {:?}", content.keys()))?;
            let Some(entry) = content.get(&media) else {
                return Err(format!("{what}: content type {media}; the document says {:?}", content.keys()));
            };
            if media == "application/json" {
                let body: Value = serde_json::from_str(x.body)
                    .map_err(|e| format!("{what}: the body is not JSON ({e}): {}", short(x.body)))?;
                let pointer = format!("{op_name} {key}");
                c.validate(&pointer, &entry["schema"], &body).map_err(|e| {
                    format!(
                        "{what}: the body fails the schema of {op_name} {key}: {e}; body {}",
                        short(x.body)
                    )
                })?;
            }
        }
    }
    // An accepted body satisfies the request schema.
    if let (true, Some(request)) = (x.status.is_success(), x.request)
        && let Some(schema) = operation.op.pointer("/requestBody/content/application~1json/schema")
    {
        c.validate(&format!("{op_name} request"), schema, request).map_err(|e| {
            format!(
                "{what}: the server accepted a body the request schema of {op_name} refuses: {e}; body {}",
                short(&request.to_string())
            )
        })?;
    }
    Ok(())
}

/// Checks and panics with the reason on a violation.
pub fn assert_answer(x: &Exchange<'_>) {
    if let Err(e) = check(x) {
        panic!("the answer breaks the OpenAPI document: {e}");
    }
}

/// Appends a first-seen (operation, status) to the file
/// `GOVCHAIN_CONTRACT_SEEN` names, when it is set: the union over the
/// suites shows how much of the document real answers covered.
fn note_seen(op: &str, status: &str) {
    let Ok(path) = std::env::var("GOVCHAIN_CONTRACT_SEEN") else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{op} {status}");
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s.to_owned()
    }
}
