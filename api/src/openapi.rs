//! The OpenAPI document as a contract: what the handlers' annotations say,
//! completed with what every operation shares (the security schemes and
//! each operation's requirement, the answers the extractors and the router
//! give: 400, 401, 403, 404, 413, 415, 500), closed tagged unions, and the
//! block-policy limits from the one chain vocabulary. Served at
//! `/api/openapi.json` and committed as `api/openapi.json`; the test suites
//! check every answer the API gives against it.

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::{
    ErrorBody,
    auth::{CSRF_HEADER, SESSION_COOKIE, TOKEN_PREFIX},
};

#[derive(OpenApi)]
#[openapi(
    info(title = "govchain control plane", description = "Tenants, roles, resource requests and approval, chain and node lifecycle, invitations, messages and the operation log.\n\nAuthentication: a browser session (the `govchain_session` cookie `POST /api/v1/auth/login` sets, plus its `csrf_token` in the `x-csrf-token` header on every POST, PUT, PATCH and DELETE) or an API token (`Authorization: Bearer gct_...`, no CSRF header). Every failed request answers a JSON `ErrorBody` `{code, message, details?}`; `code` is stable, `message` is for a person."),
    tags(
        (name = "auth", description = "Log in and out, sessions, API tokens"),
        (name = "orgs", description = "Organizations, users, roles and quotas"),
        (name = "requests", description = "Resource requests and their approval"),
        (name = "chains", description = "Chains, nodes and invitations"),
        (name = "contracts", description = "Contracts on chains: deploy, call, upgrade, freeze, govern, trace, download, delete a failed deployment; static analysis and dismissed findings"),
        (name = "explorer", description = "Blocks, transactions and contracts of a chain, and search across them"),
        (name = "evidence", description = "Documents' digests recorded on a chain, and checked against it"),
        (name = "repository", description = "Contract projects of an organization with every file's history, the built-in templates, and the store shared across organizations"),
        (name = "sandbox", description = "An organization's sandbox chain: its development chain of one node, outside its quota, where the web IDE deploys by default"),
        (name = "metrics", description = "Monitoring figures collected from the nodes and the platform, as chart series"),
        (name = "logs", description = "Node and platform logs by type (run, system, error): search, live stream, download of a day, run-time level"),
        (name = "messages", description = "The message centre"),
        (name = "audit", description = "The operation log"),
        (name = "backups", description = "Backups of the platform database: full and incremental, each with a plain JSON export (platform operator)"),
    ),
    components(schemas(ErrorBody)),
)]
pub(crate) struct ApiDoc;

/// Name of the session-cookie security scheme.
const SESSION: &str = "session";
/// Name of the CSRF-header security scheme.
const CSRF: &str = "csrf";
/// Name of the bearer-token security scheme.
const BEARER: &str = "bearer";

/// What an error status means across the API (its `code`s); an
/// operation's own annotation may say more.
fn error_description(status: &str) -> &'static str {
    match status {
        "400" => {
            "`bad_request`: the request cannot be read (a body that is not JSON or does not match the schema, a path or query parameter that does not parse)"
        }
        "401" => "`unauthorized` or `session_expired`: no valid session cookie or API token",
        "403" => {
            "`forbidden` (a permission is missing or the action is not the caller's to take), `frozen` (the account is frozen), `csrf` (a session request that changes state without the `x-csrf-token` header)"
        }
        "404" => "`not_found`: no such resource, or one of another tenant",
        "405" => "`method_not_allowed`",
        "409" => {
            "`conflict`: the resource's state does not allow it (it exists already, it was decided already, ...)"
        }
        "413" => "`too_large`: the body is larger than 1 MiB",
        "415" => "`unsupported_media_type`: send the body as `application/json`",
        "422" => "`invalid`: a field is readable but not acceptable (out of range, not allowed here)",
        "423" => "`locked`: too many failed logins; the account is locked for a while",
        "500" => "`internal`: a fault of the platform (the details are in its log)",
        "502" => "`driver_failed`: the host driver could not carry it out",
        _ => "Error",
    }
}

fn error_response(status: &str) -> Value {
    json!({
        "description": error_description(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Completes the document the annotations give (see the module doc).
pub(crate) fn complete(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                complete_operation(method, op);
            }
        }
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        close_tagged_unions(schemas);
        block_policy_limits(schemas);
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert("securitySchemes".into(), security_schemes());
    }
    doc
}

fn security_schemes() -> Value {
    json!({
        SESSION: {
            "type": "apiKey",
            "in": "cookie",
            "name": SESSION_COOKIE,
            "description": "The browser session `POST /api/v1/auth/login` starts (HttpOnly, SameSite=Strict); it ends after 30 minutes without a request. A POST, PUT, PATCH or DELETE with it also needs the `csrf` header."
        },
        CSRF: {
            "type": "apiKey",
            "in": "header",
            "name": CSRF_HEADER,
            "description": "The session's `csrf_token` (from the login answer or `GET /api/v1/auth/me`), required with the session cookie on every POST, PUT, PATCH and DELETE."
        },
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": format!("{TOKEN_PREFIX}<64 hex digits>"),
            "description": "An API token from `POST /api/v1/tokens`, for the CLI and automation; no CSRF header."
        }
    })
}

/// One operation: its security requirement and every answer the shared
/// machinery can give. An operation annotated `security(())` is public.
fn complete_operation(method: &str, op: &mut Value) {
    let Some(op) = op.as_object_mut() else { return };
    let public = op.get("security").is_some();
    let changes = !matches!(method, "get" | "head" | "options");
    if public {
        op.insert("security".into(), json!([]));
    } else if changes {
        op.insert("security".into(), json!([{SESSION: [], CSRF: []}, {BEARER: []}]));
    } else {
        op.insert("security".into(), json!([{SESSION: []}, {BEARER: []}]));
    }
    let params: Vec<String> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p["in"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut add: Vec<&str> = vec!["500"];
    if !public {
        add.extend(["401", "403"]);
    }
    if op.contains_key("requestBody") {
        add.extend(["400", "413", "415"]);
    }
    if !params.is_empty() {
        add.push("400");
    }
    if params.iter().any(|p| p == "path") {
        add.push("404");
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for status in add {
        match responses.get_mut(status) {
            None => {
                responses.insert(status.into(), error_response(status));
            }
            // An operation's own 403 comes on top of the shared ones.
            Some(r) if status == "403" => {
                let own = r.get("description").and_then(Value::as_str).unwrap_or_default();
                let all = if own.is_empty() {
                    error_description(status).to_owned()
                } else {
                    format!("{own}; or else {}", error_description(status))
                };
                r["description"] = json!(all);
            }
            Some(_) => {}
        }
    }
    // Annotated errors without a text get the shared one.
    for (status, r) in responses.iter_mut() {
        if status.starts_with(['4', '5'])
            && r.get("description").and_then(Value::as_str).is_none_or(str::is_empty)
        {
            r["description"] = json!(error_description(status));
        }
    }
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(sorted);
}

/// A serde internally tagged enum (`#[serde(tag = "kind")]`) over structs
/// that refuse unknown fields comes out of the derive as `oneOf` of
/// `allOf [closed struct, {kind}]`, which nothing satisfies (the closed
/// struct refuses `kind`). Each branch becomes the struct with the tag as
/// its first, required property, and the union gets a discriminator.
/// A union to rewrite: its name, its new schema and the closed branches.
type Rewrite = (String, Value, Vec<(String, Value)>);

fn close_tagged_unions(schemas: &mut Map<String, Value>) {
    let mut rewrites: Vec<Rewrite> = Vec::new();
    for (name, schema) in schemas.iter() {
        let Some(branches) = schema.get("oneOf").and_then(Value::as_array) else { continue };
        let mut tag_name: Option<String> = None;
        let mut mapping = Map::new();
        let mut new_branches = Vec::new();
        let mut closed = Vec::new();
        for b in branches {
            let parts = b.get("allOf").and_then(Value::as_array);
            let (Some(target), Some(tag)) = (
                parts.and_then(|p| p.iter().find_map(|s| s.get("$ref").and_then(Value::as_str))),
                parts.and_then(|p| p.iter().find(|s| s.get("$ref").is_none())),
            ) else {
                break;
            };
            let Some((tag_key, tag_schema)) = tag
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| if p.len() == 1 { p.iter().next() } else { None })
            else {
                break;
            };
            let Some(value) = tag_schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) else {
                break;
            };
            let Some(struct_name) = target.strip_prefix("#/components/schemas/") else { break };
            let Some(mut body) = schemas.get(struct_name).cloned() else { break };
            tag_name = Some(tag_key.clone());
            let mut props = Map::new();
            props.insert(
                tag_key.clone(),
                json!({"type": "string", "const": value, "description": "The variant."}),
            );
            if let Some(p) = body.get("properties").and_then(Value::as_object) {
                props.extend(p.clone());
            }
            body["properties"] = Value::Object(props);
            let mut required = vec![json!(tag_key)];
            if let Some(r) = body.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
            body["required"] = Value::Array(required);
            if let Some(d) = b.get("description") {
                body["description"] = d.clone();
            }
            mapping.insert(value.as_str().unwrap_or_default().to_owned(), json!(target));
            new_branches.push(json!({"$ref": target}));
            closed.push((struct_name.to_owned(), body));
        }
        if let (Some(tag), true) = (tag_name, new_branches.len() == branches.len()) {
            let mut union = json!({
                "oneOf": new_branches,
                "discriminator": {"propertyName": tag, "mapping": mapping},
            });
            if let Some(d) = schema.get("description") {
                union["description"] = d.clone();
            }
            rewrites.push((name.clone(), union, closed));
        }
    }
    for (name, union, closed) in rewrites {
        schemas.insert(name, union);
        for (n, s) in closed {
            schemas.insert(n, s);
        }
    }
}

/// The block policy's bounds, from the chain vocabulary's limits.
fn block_policy_limits(schemas: &mut Map<String, Value>) {
    let Some(props) = schemas.get_mut("BlockPolicyView").and_then(|s| s.get_mut("properties")) else {
        return;
    };
    for l in govchain_types::chain::BlockPolicy::LIMITS {
        if let Some(p) = props.get_mut(l.field).and_then(Value::as_object_mut) {
            p.insert("minimum".into(), json!(l.min));
            p.insert("maximum".into(), json!(l.max));
        }
    }
}
