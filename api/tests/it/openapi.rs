//! The OpenAPI document itself: its shape (security, every error answer
//! with its body, limits as keywords, satisfiable request schemas) and the
//! router's own refusals (unknown path, wrong method, unparsable path or
//! query parameter, wrong content type), which must be JSON `ErrorBody`s
//! like every other error. Every answer here also passes the contract
//! check of the shared client (`contract.rs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform};

fn doc() -> Value {
    serde_json::from_str(&govchain_api::openapi_json()).unwrap()
}

/// Validates `instance` against `schema` with the document's components.
fn valid(doc: &Value, schema: Value, instance: &Value) -> Result<(), String> {
    let mut root = schema;
    root["components"] = doc["components"].clone();
    let v = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&root).unwrap();
    let errors: Vec<String> =
        v.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

#[test]
fn every_operation_documents_its_security_and_errors() {
    let doc = doc();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], govchain_api::auth::SESSION_COOKIE);
    assert_eq!(schemes["csrf"]["name"], govchain_api::auth::CSRF_HEADER);
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let mut public = Vec::new();
    let (mut ops, mut answers) = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{name}: no security"));
            let responses = op["responses"].as_object().unwrap();
            answers += responses.len();
            let mut must = vec!["500"];
            if security.is_empty() {
                public.push(name.clone());
            } else {
                must.extend(["401", "403"]);
                let writes = method != "get";
                for req in security {
                    let req = req.as_object().unwrap();
                    assert!(req.keys().all(|k| schemes.contains_key(k)), "{name}: unknown scheme in {req:?}");
                    if req.contains_key("session") {
                        assert_eq!(req.contains_key("csrf"), writes, "{name}: CSRF header with the session");
                    }
                }
            }
            if op.get("requestBody").is_some() {
                must.extend(["400", "413", "415"]);
            }
            if path.contains('{') {
                must.extend(["400", "404"]);
            }
            for status in must {
                assert!(responses.contains_key(status), "{name} does not list {status}");
            }
            for (status, r) in responses {
                if status.starts_with(['4', '5']) {
                    assert_eq!(
                        r.pointer("/content/application~1json/schema/$ref").and_then(Value::as_str),
                        Some("#/components/schemas/ErrorBody"),
                        "{name} {status}: the error body is not an ErrorBody"
                    );
                    assert!(
                        !r["description"].as_str().unwrap_or_default().is_empty(),
                        "{name} {status}: no text"
                    );
                }
            }
        }
    }
    public.sort();
    assert_eq!(public, ["POST /api/v1/auth/login", "POST /api/v1/auth/register"]);
    println!("OpenAPI document: {ops} operations, {answers} (operation, status) answers documented");
}

#[test]
fn request_spec_is_a_closed_tagged_union() {
    let doc = doc();
    // The README's example request.
    let readme = json!({"purpose": "licence registry", "spec": {"kind": "chain", "name": "permits", "consensus": "raft",
        "suite": "gm", "nodes": 4, "resources": {"cpu_millis": 500, "memory_mb": 256, "storage_mb": 1024}}});
    valid(&doc, schema("NewRequest"), &readme).unwrap();
    let nodes = json!({"kind": "nodes", "chain_id": 1, "count": 2, "role": "backup",
        "resources": {"cpu_millis": 500, "memory_mb": 256, "storage_mb": 1024}});
    valid(&doc, schema("RequestSpec"), &nodes).unwrap();
    let spec = doc["components"]["schemas"]["RequestSpec"].clone();
    assert_eq!(spec["discriminator"]["propertyName"], "kind", "{spec}");
    // Each branch is closed and needs its tag.
    let mut bad = Vec::new();
    let mut unknown = readme["spec"].clone();
    unknown["zz"] = json!(1);
    bad.push(("an unknown field", unknown));
    let mut untagged = readme["spec"].clone();
    untagged.as_object_mut().unwrap().remove("kind");
    bad.push(("no kind", untagged));
    let mut mixed = nodes.clone();
    mixed["kind"] = json!("chain");
    bad.push(("a nodes body tagged chain", mixed));
    let mut big = readme["spec"].clone();
    big["nodes"] = json!(33);
    bad.push(("33 nodes", big));
    for (what, v) in bad {
        assert!(valid(&doc, schema("RequestSpec"), &v).is_err(), "{what} passes RequestSpec: {v}");
    }
}

#[test]
fn limits_are_schema_keywords() {
    let doc = doc();
    let s = &doc["components"]["schemas"];
    let register = &s["RegisterRequest"]["properties"];
    assert_eq!(register["username"]["maxLength"], 64);
    assert_eq!(register["username"]["minLength"], 3);
    assert!(register["username"]["pattern"].is_string());
    assert_eq!(register["password"]["minLength"], 10);
    assert_eq!(register["description"]["maxLength"], 2000);
    assert_eq!(s["ResourcesView"]["properties"]["cpu_millis"]["minimum"], 50);
    for l in govchain_types::chain::BlockPolicy::LIMITS {
        let p = &s["BlockPolicyView"]["properties"][l.field];
        assert_eq!((p["minimum"].as_u64(), p["maximum"].as_u64()), (Some(l.min), Some(l.max)), "{}", l.field);
    }
    // The keywords refuse what the server refuses.
    let user = json!({"org_name": "Market", "domain": "market.gov", "username": "al", "password": "Market-Secret-42", "real_name": "A"});
    assert!(valid(&doc, schema("RegisterRequest"), &user).is_err());
    let user = json!({"org_name": "Market\u{7}", "domain": "market.gov", "username": "alice", "password": "Market-Secret-42", "real_name": "A"});
    assert!(valid(&doc, schema("RegisterRequest"), &user).is_err());
    let user = json!({"org_name": "Market", "domain": "Market..gov", "username": "alice", "password": "Market-Secret-42", "real_name": "A"});
    assert!(valid(&doc, schema("RegisterRequest"), &user).is_err());
    let user = json!({"org_name": "市场监管局", "domain": "market.gov", "username": "alice", "password": "Market-Secret-42", "real_name": "A", "description": "line\nline"});
    valid(&doc, schema("RegisterRequest"), &user).unwrap();
    let policy = json!({"max_txs": 1000, "max_bytes": 1 << 20, "max_wait_ms": 30_000});
    assert!(valid(&doc, schema("BlockPolicyView"), &policy).is_err());
}

#[tokio::test]
async fn router_refusals_are_json_error_bodies() {
    let tp = TestPlatform::start(Db::Sqlite).await;
    let admin = tp.admin().await;
    let anon = Client::anonymous(&tp.url);
    // Every call below is also checked against the document by the client.
    for (client, method, path, body, status, code) in [
        (&anon, Method::GET, "/api/v1/nope", None, StatusCode::NOT_FOUND, "not_found"),
        (&anon, Method::GET, "/nope", None, StatusCode::NOT_FOUND, "not_found"),
        (
            &admin,
            Method::POST,
            "/api/v1/chains/1/nodes/2/3/4",
            Some(json!({})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (&anon, Method::DELETE, "/api/v1/orgs", None, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            &admin,
            Method::PUT,
            "/api/v1/auth/login",
            Some(json!({})),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (&admin, Method::GET, "/api/v1/chains/abc", None, StatusCode::BAD_REQUEST, "bad_request"),
        (
            &admin,
            Method::GET,
            "/api/v1/chains/99999999999999999999999",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (&admin, Method::GET, "/api/v1/audit?limit=-1", None, StatusCode::BAD_REQUEST, "bad_request"),
        (&admin, Method::GET, "/api/v1/messages?unread=maybe", None, StatusCode::BAD_REQUEST, "bad_request"),
        (&admin, Method::GET, "/api/v1/chains/7", None, StatusCode::NOT_FOUND, "not_found"),
        (&anon, Method::GET, "/api/v1/chains/7", None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": 5})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        let (s, b) = client.call(method.clone(), path, body).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{method} {path}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {b}");
    }
    // A 405 names the methods the path takes in its header.
    let resp = anon.http.delete(format!("{}/api/v1/orgs", tp.url)).send().await.unwrap();
    let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    // A refused field is named.
    let (_, b) = admin.call(Method::POST, "/api/v1/tokens", Some(json!({"name": "a\u{0}"}))).await;
    assert_eq!(b["details"]["field"], "name", "{b}");
    // A body sent as another content type.
    let resp = admin
        .http
        .post(format!("{}/api/v1/tokens", tp.url))
        .header("x-csrf-token", admin.csrf.clone().unwrap())
        .header("content-type", "text/plain")
        .body("{\"name\": \"x\"}")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = resp.text().await.unwrap();
    crate::contract::assert_answer(&crate::contract::Exchange {
        method: &Method::POST,
        path: "/api/v1/tokens",
        request: None,
        status,
        content_type: ct.as_deref(),
        body: &text,
    });
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
}

#[test]
fn the_contract_check_refuses_what_the_document_does_not_allow() {
    use crate::contract::{Exchange, check};
    let x = |method: &'static Method,
             path: &'static str,
             status: u16,
             ct: Option<&'static str>,
             body: &'static str| {
        check(&Exchange {
            method,
            path,
            request: None,
            status: StatusCode::from_u16(status).unwrap(),
            content_type: ct,
            body,
        })
    };
    let json = Some("application/json");
    let err = r#"{"code": "not_found", "message": "no such chain"}"#;
    assert!(x(&Method::GET, "/api/v1/chains/7", 404, json, err).is_ok());
    // A status the operation does not list.
    assert!(x(&Method::GET, "/api/v1/chains/7", 418, json, err).is_err());
    // A body its schema refuses, or of another type.
    assert!(x(&Method::GET, "/api/v1/chains/7", 200, json, "{}").is_err());
    assert!(x(&Method::GET, "/api/v1/chains/7", 404, json, r#"{"code": 4}"#).is_err());
    assert!(x(&Method::GET, "/api/v1/chains/7", 404, Some("text/plain"), "not found").is_err());
    // Outside the document only the router's JSON refusals.
    assert!(x(&Method::GET, "/api/v1/nope", 404, json, err).is_ok());
    assert!(x(&Method::GET, "/api/v1/nope", 404, None, "").is_err());
    assert!(x(&Method::DELETE, "/api/v1/orgs", 404, json, err).is_err());
    // An accepted body the request schema refuses.
    let body = json!({"name": "a".repeat(65)});
    let accepted = check(&Exchange {
        method: &Method::POST,
        path: "/api/v1/tokens",
        request: Some(&body),
        status: StatusCode::CREATED,
        content_type: json,
        body: r#"{"token": {"id": 1, "name": "n", "created_at": 0, "last_used": 0}, "secret": "gct_x"}"#,
    });
    assert!(accepted.is_err(), "{accepted:?}");
}
