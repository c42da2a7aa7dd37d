//! Hostile input against a real server (SPEC ORG-6: SQL injection and XSS
//! protection): malformed, oversized and mistyped bodies on every endpoint
//! that takes one; injection, markup, control characters, huge and
//! non-Latin strings in every text field of every body; junk in every kind
//! of path and query parameter. Nothing may answer 5xx; a refusal is a
//! clear 4xx with a JSON `{code, message}`; free text is stored and read
//! back byte for byte (inert); the database keeps working afterwards; every
//! response carries the headers that keep a browser from sniffing or
//! running it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url, header};
use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, Client, Db, TestPlatform, eventually};

/// Strings an attacker tries in text fields, besides the long ones made at
/// run time.
const HOSTILE: [&str; 19] = [
    "'; DROP TABLE users;--",
    "\" OR 1=1 --",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(document.cookie)>",
    "\u{0}",
    "a\u{0}b",
    "\u{1}\u{7}\u{1b}[31m\u{7f}",
    "line\r\nSet-Cookie: govchain_session=stolen",
    "市场监管局 🚀🔥 Ω≈ç \u{202e}txt.exe",
    "../../etc/passwd",
    "${jndi:ldap://127.0.0.1:1389/a}",
    "{{7*7}}",
    "=cmd|' /C calc'!A0",
    "\t=cmd|' /C calc'!A0",
    "%_%",
    "%s%n%x",
    "",
    "   ",
];

fn hostile() -> Vec<String> {
    let mut all: Vec<String> = HOSTILE.iter().map(|s| (*s).to_owned()).collect();
    all.push("A".repeat(10_000));
    all.push("界🚀".repeat(5_000));
    all
}

fn resources() -> Value {
    json!({"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256})
}

/// A response as the checks need it.
struct Raw {
    status: StatusCode,
    json: Value,
}

/// A request body as sent, for the contract check.
enum Sent {
    Json(Value),
    Bytes(Vec<u8>),
    Other,
}

enum Body {
    None,
    Json(Value),
    /// Bytes with this content type (None: no content type at all).
    Bytes(Option<&'static str>, Vec<u8>),
    /// JSON bytes streamed without a length.
    Stream(Vec<u8>),
}

#[derive(Default)]
struct Ctx {
    base: String,
    sent: usize,
    malformed: usize,
    hostile_cells: usize,
    stored: usize,
    refused: usize,
    probes: usize,
    failures: Vec<String>,
    n: usize,
}

impl Ctx {
    fn next(&mut self) -> usize {
        self.n += 1;
        self.n
    }

    /// Sends one request and checks what every response must be: no 5xx,
    /// the security headers, and a JSON `{code, message}` on every 4xx.
    async fn send(&mut self, client: &Client, method: Method, path: &str, body: Body) -> Raw {
        let mut req = client.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = &client.csrf {
            req = req.header("x-csrf-token", c);
        }
        if let Some(b) = &client.bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        let sent = match &body {
            Body::Json(v) => Sent::Json(v.clone()),
            Body::Bytes(Some("application/json"), b) => Sent::Bytes(b.clone()),
            _ => Sent::Other,
        };
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Bytes(Some(ct), b) => req.header(header::CONTENT_TYPE, ct).body(b),
            Body::Bytes(None, b) => req.body(b),
            Body::Stream(b) => {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    b.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
                req.header(header::CONTENT_TYPE, "application/json")
                    .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
            }
        };
        self.sent += 1;
        let what = format!("{method} {}", short(path));
        // What was sent as a JSON value, for the contract's request check.
        let request: Option<Value> = match &sent {
            Sent::Json(v) => Some(v.clone()),
            Sent::Bytes(b) => serde_json::from_slice(b).ok(),
            Sent::Other => None,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                // The server may close a connection on a body it refuses
                // before reading it all; that is a refusal, not a fault.
                if e.is_request() || e.is_body() {
                    return Raw { status: StatusCode::PAYLOAD_TOO_LARGE, json: Value::Null };
                }
                panic!("{what}: {}", short(&e.to_string()));
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        if headers.get("x-content-type-options").and_then(|v| v.to_str().ok()) != Some("nosniff") {
            self.failures.push(format!("{what}: {status} without x-content-type-options: nosniff"));
        }
        if headers.get("content-security-policy").is_none() {
            self.failures.push(format!("{what}: {status} without content-security-policy"));
        }
        let text = resp.text().await.unwrap_or_default();
        if let Err(e) = crate::contract::check(&crate::contract::Exchange {
            method: &method,
            path,
            request: request.as_ref(),
            status,
            content_type: headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            body: &text,
        }) {
            self.failures.push(e);
        }
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_server_error() {
            self.failures.push(format!("{what}: {status} {}", short(&text)));
        } else if status.is_client_error() && !(json["code"].is_string() && json["message"].is_string()) {
            self.failures.push(format!(
                "{what}: {status} with a body that is not {{code, message}}: {}",
                short(&text)
            ));
        }
        Raw { status, json }
    }

    /// A hostile value in a text field: refused with a 4xx, or accepted —
    /// then `read_back` must give it back byte for byte.
    fn judge(&mut self, what: &str, r: &Raw, h: &str, read_back: Option<&Value>) {
        self.hostile_cells += 1;
        if r.status.is_client_error() {
            self.refused += 1;
        } else if r.status.is_success() {
            match read_back {
                Some(v) if v.as_str() == Some(h) => self.stored += 1,
                Some(v) => self.failures.push(format!(
                    "{what}: stored {} as {}",
                    short(&json!(h).to_string()),
                    short(&v.to_string())
                )),
                None => self.failures.push(format!(
                    "{what}: accepted {} but nothing to read back",
                    short(&json!(h).to_string())
                )),
            }
        } else if !r.status.is_server_error() {
            self.failures.push(format!("{what}: unexpected {}", r.status));
        }
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(160).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// `path?k=v` with `v` percent-encoded.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = Url::parse(&format!("http://x{path}")).unwrap();
    for (k, v) in pairs {
        u.query_pairs_mut().append_pair(k, v);
    }
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

/// `prefix/<segment>/suffix` with the segment percent-encoded.
fn with_segment(prefix: &str, segment: &str, suffix: &str) -> String {
    let mut u = Url::parse(&format!("http://x{prefix}")).unwrap();
    u.path_segments_mut().unwrap().push(segment);
    format!("{}{suffix}", u.path())
}

fn set(body: &mut Value, pointer: &str, v: Value) {
    let shown = body.to_string();
    *body.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer} in {shown}")) = v;
}

/// A value of another JSON type than `v`, which no field of type `v`'s
/// accepts.
fn wrong_type(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(42),
        Value::Number(_) => json!("7"),
        Value::Bool(_) => json!("true"),
        Value::Array(_) => json!("chain_view"),
        Value::Object(_) => json!(5),
        Value::Null => json!([]),
    }
}

/// Every field of a body, as JSON pointers (nested objects included).
fn pointers(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(m) = v {
        for (k, val) in m {
            let p = format!("{prefix}/{k}");
            out.push(p.clone());
            pointers(val, &p, out);
        }
    }
}

/// Sets `body` with nothing usable in it: every way a body can be broken.
async fn malformed(ctx: &mut Ctx, client: &Client, method: Method, path: &str, valid: Value) {
    let mut raw: Vec<(String, Vec<u8>)> =
        ["{", "[]", "null", "\"text\"", "42", "{\"a\":}", "{\"a\" 1}", "", "{}}"]
            .iter()
            .map(|s| ((*s).to_owned(), s.as_bytes().to_vec()))
            .collect();
    raw.push(("100000 nested arrays".into(), "[".repeat(100_000).into_bytes()));
    raw.push(("invalid UTF-8".into(), b"{\"name\": \"\xff\xfe\"}".to_vec()));
    raw.push(("lone surrogate".into(), br#"{"name": "\ud800"}"#.to_vec()));
    raw.push(("trailing garbage".into(), format!("{valid} xyz").into_bytes()));
    let mut unknown = valid.clone();
    unknown["zz_unknown"] = json!(1);
    raw.push(("unknown field".into(), unknown.to_string().into_bytes()));
    let mut ptrs = Vec::new();
    pointers(&valid, "", &mut ptrs);
    for p in &ptrs {
        let mut b = valid.clone();
        let wrong = wrong_type(b.pointer(p).unwrap());
        set(&mut b, p, wrong);
        raw.push((format!("wrong type at {p}"), b.to_string().into_bytes()));
        if let Some(Value::Object(_)) = valid.pointer(p) {
            let mut b = valid.clone();
            b.pointer_mut(p).unwrap()["zz_unknown"] = json!(1);
            raw.push((format!("unknown field in {p}"), b.to_string().into_bytes()));
        }
    }
    for (what, bytes) in raw {
        let r = ctx.send(client, method.clone(), path, Body::Bytes(Some("application/json"), bytes)).await;
        ctx.malformed += 1;
        if !r.status.is_client_error() {
            ctx.failures
                .push(format!("{method} {path} with {what}: {} {}, expected a 4xx", r.status, r.json));
        }
    }
    // The right JSON under the wrong content type, or none. Sent before the
    // oversized bodies: a streamed body refused at 1 MiB is refused before it
    // is all sent, and the client's next request must not share that
    // connection's fate.
    let bytes = valid.to_string().into_bytes();
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None] {
        let r = ctx.send(client, method.clone(), path, Body::Bytes(ct, bytes.clone())).await;
        ctx.malformed += 1;
        if r.status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
            ctx.failures.push(format!("{method} {path} as {ct:?}: {}, expected 415", r.status));
        }
    }
    // Over 1 MiB, with a length and streamed without one.
    let big = json!({"name": "a".repeat(1_100_000)}).to_string().into_bytes();
    for body in [Body::Bytes(Some("application/json"), big.clone()), Body::Stream(big)] {
        let r = ctx.send(client, method.clone(), path, body).await;
        ctx.malformed += 1;
        if r.status != StatusCode::PAYLOAD_TOO_LARGE {
            ctx.failures.push(format!("{method} {path} with 1.1 MB: {}, expected 413", r.status));
        }
    }
}

async fn login_works(base: &str, user: &str, password: &str) -> bool {
    let (s, _) = Client::anonymous(base)
        .call(Method::POST, "/api/v1/auth/login", Some(json!({"username": user, "password": password})))
        .await;
    s == StatusCode::OK
}

async fn bad_input(db: Db) {
    let started = Instant::now();
    let tp = TestPlatform::start(db).await;
    let base = tp.url.clone();
    let admin = tp.admin().await;
    let anon = Client::anonymous(&base);
    let mut ctx = Ctx { base: base.clone(), ..Ctx::default() };

    // Org X with a running solo chain; org Y to invite; a role, a user and
    // a decided request to edit; a user whose password changes.
    let x = admin
        .post("/api/v1/orgs", json!({"name": "Xeno", "domain": "xeno.gov", "admin_username": "xeno-admin", "admin_real_name": "X"}))
        .await;
    let x_org = x["org"]["id"].as_i64().unwrap();
    let xa = Client::login(&base, "xeno-admin", x["initial_password"].as_str().unwrap()).await;
    let y = admin
        .post("/api/v1/orgs", json!({"name": "Yonder", "domain": "yonder.gov", "admin_username": "yonder-admin", "admin_real_name": "Y"}))
        .await;
    let ya = Client::login(&base, "yonder-admin", y["initial_password"].as_str().unwrap()).await;
    let req = xa
        .post(
            "/api/v1/requests",
            json!({"purpose": "p", "spec": {"kind": "chain", "name": "xeno-ledger", "consensus": "solo",
            "suite": "gm", "nodes": 1, "resources": resources()}}),
        )
        .await;
    admin.post(&format!("/api/v1/requests/{}/approve", req["id"]), json!({})).await;
    let chain = eventually("the chain to run", Duration::from_secs(120), || async {
        let r = xa.get(&format!("/api/v1/requests/{}", req["id"])).await;
        assert_ne!(r["status"], "failed", "{r}");
        (r["status"] == "running").then(|| r["chain_id"].as_i64().unwrap())
    })
    .await;
    let node = xa.get(&format!("/api/v1/chains/{chain}")).await["nodes"][0]["id"].as_i64().unwrap();
    let role =
        admin.post("/api/v1/roles", json!({"name": "edit-me", "permissions": ["chain_view"]})).await["id"]
            .as_i64()
            .unwrap();
    let user = admin
        .post(
            "/api/v1/users",
            json!({"username": "edit-me-user", "real_name": "E", "roles": ["user"], "org_id": x_org}),
        )
        .await["user"]["id"]
        .as_i64()
        .unwrap();
    let pw_user = admin
        .post("/api/v1/users", json!({"username": "pw-user", "real_name": "P", "roles": ["user"]}))
        .await;
    let mut pw = pw_user["initial_password"].as_str().unwrap().to_owned();
    let pwc = Client::login(&base, "pw-user", &pw).await;
    let chain_spec = |name: &str| json!({"kind": "chain", "name": name, "consensus": "solo", "suite": "gm", "nodes": 1, "resources": resources()});
    let decided =
        admin.post("/api/v1/requests", json!({"purpose": "p", "spec": chain_spec("decided")})).await["id"]
            .as_i64()
            .unwrap();
    admin.post(&format!("/api/v1/requests/{decided}/reject"), json!({"opinion": "no"})).await;

    // --- Broken bodies on every endpoint that reads one.
    let register = |n: usize| {
        json!({"org_name": format!("Reg {n}"), "domain": format!("reg{n}.gov"), "description": "",
            "username": format!("reg{n}"), "password": format!("Register-Secret-{n}x"), "real_name": "R"})
    };
    let new_org = |n: usize| {
        json!({"name": format!("Org {n}"), "domain": format!("org{n}.gov"), "description": "",
            "admin_username": format!("orgadmin{n}"), "admin_real_name": "A"})
    };
    let bodies: Vec<(&Client, Method, String, Value)> = vec![
        (
            &anon,
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"username": "nobody-here", "password": "x"}),
        ),
        (&anon, Method::POST, "/api/v1/auth/register".into(), register(0)),
        (
            &pwc,
            Method::POST,
            "/api/v1/auth/password".into(),
            json!({"old_password": "a", "new_password": "b"}),
        ),
        (&admin, Method::POST, "/api/v1/tokens".into(), json!({"name": "t"})),
        (&admin, Method::POST, "/api/v1/orgs".into(), new_org(0)),
        (&admin, Method::PATCH, format!("/api/v1/orgs/{x_org}"), json!({"name": "X2", "description": "d"})),
        (
            &admin,
            Method::POST,
            format!("/api/v1/orgs/{x_org}/review"),
            json!({"approve": false, "opinion": "o"}),
        ),
        (&admin, Method::POST, "/api/v1/roles".into(), json!({"name": "r", "permissions": ["chain_view"]})),
        (
            &admin,
            Method::PUT,
            format!("/api/v1/roles/{role}"),
            json!({"name": "r", "permissions": ["chain_view"]}),
        ),
        (
            &admin,
            Method::POST,
            "/api/v1/users".into(),
            json!({"username": "u0", "real_name": "U", "roles": ["user"], "org_id": x_org}),
        ),
        (
            &admin,
            Method::PATCH,
            format!("/api/v1/users/{user}"),
            json!({"real_name": "U2", "roles": ["user"]}),
        ),
        (&admin, Method::POST, "/api/v1/requests".into(), json!({"purpose": "p", "spec": chain_spec("c0")})),
        (
            &admin,
            Method::POST,
            "/api/v1/requests".into(),
            json!({"purpose": "p", "spec": {"kind": "nodes", "chain_id": chain, "count": 1, "role": "backup", "resources": resources()}}),
        ),
        (&admin, Method::POST, format!("/api/v1/requests/{decided}/approve"), json!({"opinion": "o"})),
        (&admin, Method::POST, format!("/api/v1/requests/{decided}/reject"), json!({"opinion": "o"})),
        (
            &xa,
            Method::PUT,
            format!("/api/v1/chains/{chain}/policy"),
            json!({"max_txs": 10, "max_bytes": 4096, "max_wait_ms": 1}),
        ),
        (
            &xa,
            Method::POST,
            format!("/api/v1/chains/{chain}/nodes"),
            json!({"role": "consensus", "resources": resources()}),
        ),
        (
            &xa,
            Method::POST,
            format!("/api/v1/chains/{chain}/invitations"),
            json!({"org_domain": "yonder.gov", "message": "m"}),
        ),
    ];
    let body_endpoints = bodies.len();
    for (client, method, path, valid) in &bodies {
        malformed(&mut ctx, client, method.clone(), path, valid.clone()).await;
    }

    // --- Hostile strings in every text field.
    let strings = hostile();
    let mut fields = 0;
    let mut count = |n: usize| fields += n;

    // Login: never a match, never a lockout of a real account.
    count(2);
    for h in &strings {
        for (user, password) in [(h.as_str(), "Whatever-1234"), ("nobody-here", h.as_str())] {
            let r = ctx
                .send(
                    &anon,
                    Method::POST,
                    "/api/v1/auth/login",
                    Body::Json(json!({"username": user, "password": password})),
                )
                .await;
            ctx.judge("login", &r, h, None);
        }
    }

    // Every attempt is in the operation log, however odd the name tried.
    let log = admin.get("/api/v1/audit?action=auth/login&result=unauthorized&limit=10000").await;
    let logged = log.as_array().unwrap().len();
    if logged < 2 * strings.len() {
        ctx.failures.push(format!(
            "{} failed logins were tried, {logged} are in the operation log",
            2 * strings.len()
        ));
    }

    // Registration: every field.
    let reg_fields = ["/org_name", "/domain", "/description", "/username", "/password", "/real_name"];
    count(reg_fields.len());
    for h in &strings {
        for f in reg_fields {
            let n = ctx.next();
            let mut b = register(n);
            set(&mut b, f, json!(h));
            let r = ctx.send(&anon, Method::POST, "/api/v1/auth/register", Body::Json(b.clone())).await;
            let back = if r.status.is_success() {
                let org = admin.get(&format!("/api/v1/orgs/{}", r.json["org"]["id"])).await;
                let u = admin.get(&format!("/api/v1/users/{}", r.json["user"]["id"])).await;
                match f {
                    "/org_name" => Some(org["name"].clone()),
                    "/domain" => Some(org["domain"].clone()),
                    "/description" => Some(org["description"].clone()),
                    "/username" => Some(u["username"].clone()),
                    "/real_name" => Some(u["real_name"].clone()),
                    _ => login_works(&base, b["username"].as_str().unwrap(), h).await.then(|| json!(h)),
                }
            } else {
                None
            };
            ctx.judge(&format!("register {f}"), &r, h, back.as_ref());
        }
    }

    // Password change: the old one is only compared; a new one that meets
    // the policy must log in as given.
    count(2);
    for h in &strings {
        let r = ctx
            .send(
                &pwc,
                Method::POST,
                "/api/v1/auth/password",
                Body::Json(json!({"old_password": h, "new_password": "Fine-Password-99"})),
            )
            .await;
        ctx.judge("password old_password", &r, h, None);
        let r = ctx
            .send(
                &pwc,
                Method::POST,
                "/api/v1/auth/password",
                Body::Json(json!({"old_password": pw, "new_password": h})),
            )
            .await;
        let back = if r.status.is_success() {
            let works = login_works(&base, "pw-user", h).await;
            pw.clone_from(h);
            works.then(|| json!(h))
        } else {
            None
        };
        ctx.judge("password new_password", &r, h, back.as_ref());
    }

    // API token names.
    count(1);
    for h in &strings {
        let r = ctx.send(&admin, Method::POST, "/api/v1/tokens", Body::Json(json!({"name": h}))).await;
        let back = if r.status.is_success() {
            let id = r.json["token"]["id"].clone();
            admin
                .get("/api/v1/tokens")
                .await
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id)
                .map(|t| t["name"].clone())
        } else {
            None
        };
        ctx.judge("token name", &r, h, back.as_ref());
    }

    // Organizations: creation, edits, the review opinion.
    let org_fields = ["/name", "/domain", "/description", "/admin_username", "/admin_real_name"];
    count(org_fields.len() + 3);
    for h in &strings {
        for f in org_fields {
            let n = ctx.next();
            let mut b = new_org(n);
            set(&mut b, f, json!(h));
            let r = ctx.send(&admin, Method::POST, "/api/v1/orgs", Body::Json(b)).await;
            let back = if r.status.is_success() {
                let org = admin.get(&format!("/api/v1/orgs/{}", r.json["org"]["id"])).await;
                let u = admin.get(&format!("/api/v1/users/{}", r.json["admin"]["id"])).await;
                Some(match f {
                    "/name" => org["name"].clone(),
                    "/domain" => org["domain"].clone(),
                    "/description" => org["description"].clone(),
                    "/admin_username" => u["username"].clone(),
                    _ => u["real_name"].clone(),
                })
            } else {
                None
            };
            ctx.judge(&format!("create org {f}"), &r, h, back.as_ref());
        }
        for f in ["/name", "/description"] {
            let mut b = json!({"name": "Xeno", "description": "d"});
            set(&mut b, f, json!(h));
            let r = ctx.send(&admin, Method::PATCH, &format!("/api/v1/orgs/{x_org}"), Body::Json(b)).await;
            let back = if r.status.is_success() {
                Some(admin.get(&format!("/api/v1/orgs/{x_org}")).await[&f[1..]].clone())
            } else {
                None
            };
            ctx.judge(&format!("edit org {f}"), &r, h, back.as_ref());
        }
        // A fresh pending registration to review.
        let n = ctx.next();
        let pending = anon.post("/api/v1/auth/register", register(n)).await["org"]["id"].as_i64().unwrap();
        let r = ctx
            .send(
                &admin,
                Method::POST,
                &format!("/api/v1/orgs/{pending}/review"),
                Body::Json(json!({"approve": false, "opinion": h})),
            )
            .await;
        let back = if r.status.is_success() {
            Some(admin.get(&format!("/api/v1/orgs/{pending}")).await["review_opinion"].clone())
        } else {
            None
        };
        ctx.judge("review opinion", &r, h, back.as_ref());
    }

    // Roles: names and permission names.
    count(4);
    for h in &strings {
        let find = |id: Value| {
            let admin = admin.clone();
            async move {
                admin
                    .get("/api/v1/roles")
                    .await
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["id"] == id)
                    .map(|r| r["name"].clone())
            }
        };
        let r = ctx
            .send(
                &admin,
                Method::POST,
                "/api/v1/roles",
                Body::Json(json!({"name": h, "permissions": ["chain_view"]})),
            )
            .await;
        let back = if r.status.is_success() { find(r.json["id"].clone()).await } else { None };
        ctx.judge("create role name", &r, h, back.as_ref());
        let n = ctx.next();
        let r = ctx
            .send(
                &admin,
                Method::POST,
                "/api/v1/roles",
                Body::Json(json!({"name": format!("perm-{n}"), "permissions": [h]})),
            )
            .await;
        ctx.judge("create role permissions[0]", &r, h, None);
        let r = ctx
            .send(
                &admin,
                Method::PUT,
                &format!("/api/v1/roles/{role}"),
                Body::Json(json!({"name": h, "permissions": []})),
            )
            .await;
        let back = if r.status.is_success() { find(json!(role)).await } else { None };
        ctx.judge("edit role name", &r, h, back.as_ref());
        let r = ctx
            .send(
                &admin,
                Method::PUT,
                &format!("/api/v1/roles/{role}"),
                Body::Json(json!({"name": "edit-me", "permissions": [h]})),
            )
            .await;
        ctx.judge("edit role permissions[0]", &r, h, None);
    }

    // Users: names, real names, role names.
    count(5);
    for h in &strings {
        for f in ["/username", "/real_name", "/roles/0"] {
            let n = ctx.next();
            let mut b =
                json!({"username": format!("user{n}"), "real_name": "U", "roles": ["user"], "org_id": x_org});
            set(&mut b, f, json!(h));
            let r = ctx.send(&admin, Method::POST, "/api/v1/users", Body::Json(b)).await;
            let back = if r.status.is_success() {
                let u = admin.get(&format!("/api/v1/users/{}", r.json["user"]["id"])).await;
                match f {
                    "/username" => Some(u["username"].clone()),
                    "/real_name" => Some(u["real_name"].clone()),
                    _ => None,
                }
            } else {
                None
            };
            ctx.judge(&format!("create user {f}"), &r, h, back.as_ref());
        }
        for f in ["/real_name", "/roles/0"] {
            let mut b = json!({"real_name": "E", "roles": ["user"]});
            set(&mut b, f, json!(h));
            let r = ctx.send(&admin, Method::PATCH, &format!("/api/v1/users/{user}"), Body::Json(b)).await;
            let back = if r.status.is_success() && f == "/real_name" {
                Some(admin.get(&format!("/api/v1/users/{user}")).await["real_name"].clone())
            } else {
                None
            };
            ctx.judge(&format!("edit user {f}"), &r, h, back.as_ref());
        }
    }

    // Resource requests: the purpose is free text; the rest are names from
    // fixed sets. Then the approver's opinion.
    let req_fields = ["/purpose", "/spec/name", "/spec/consensus", "/spec/suite", "/spec/kind"];
    count(req_fields.len() + 4);
    for h in &strings {
        for f in req_fields {
            let n = ctx.next();
            let mut b = json!({"purpose": "p", "spec": chain_spec(&format!("hc{n}"))});
            set(&mut b, f, json!(h));
            let r = ctx.send(&admin, Method::POST, "/api/v1/requests", Body::Json(b)).await;
            let back = if r.status.is_success() {
                let stored = admin.get(&format!("/api/v1/requests/{}", r.json["id"])).await;
                Some(if f == "/purpose" {
                    stored["purpose"].clone()
                } else {
                    stored.pointer(f).cloned().unwrap_or_default()
                })
            } else {
                None
            };
            ctx.judge(&format!("request {f}"), &r, h, back.as_ref());
        }
        let b = json!({"purpose": "p", "spec": {"kind": "nodes", "chain_id": chain, "count": 1, "role": h, "resources": resources()}});
        let r = ctx.send(&admin, Method::POST, "/api/v1/requests", Body::Json(b)).await;
        ctx.judge("nodes request /spec/role", &r, h, None);
        // Approving a decided request: refused, whatever the opinion.
        let r = ctx
            .send(
                &admin,
                Method::POST,
                &format!("/api/v1/requests/{decided}/approve"),
                Body::Json(json!({"opinion": h})),
            )
            .await;
        ctx.judge("approve opinion", &r, h, None);
        let n = ctx.next();
        let fresh = admin
            .post("/api/v1/requests", json!({"purpose": "p", "spec": chain_spec(&format!("rj{n}"))}))
            .await["id"]
            .as_i64()
            .unwrap();
        let r = ctx
            .send(
                &admin,
                Method::POST,
                &format!("/api/v1/requests/{fresh}/reject"),
                Body::Json(json!({"opinion": h})),
            )
            .await;
        let back = if r.status.is_success() {
            Some(admin.get(&format!("/api/v1/requests/{fresh}")).await["opinion"].clone())
        } else {
            None
        };
        ctx.judge("reject opinion", &r, h, back.as_ref());
        // The node role of a node to add.
        let r = ctx
            .send(
                &xa,
                Method::POST,
                &format!("/api/v1/chains/{chain}/nodes"),
                Body::Json(json!({"role": h, "resources": resources()})),
            )
            .await;
        ctx.judge("add node role", &r, h, None);
    }

    // Invitations: the domain, and the note (Y declines each, to be invitable again).
    count(2);
    for h in &strings {
        let r = ctx
            .send(
                &xa,
                Method::POST,
                &format!("/api/v1/chains/{chain}/invitations"),
                Body::Json(json!({"org_domain": h})),
            )
            .await;
        ctx.judge("invitation org_domain", &r, h, None);
        let r = ctx
            .send(
                &xa,
                Method::POST,
                &format!("/api/v1/chains/{chain}/invitations"),
                Body::Json(json!({"org_domain": "yonder.gov", "message": h})),
            )
            .await;
        let back = if r.status.is_success() {
            let id = r.json["id"].clone();
            let stored = ya
                .get("/api/v1/invitations")
                .await
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id)
                .cloned();
            ya.post(&format!("/api/v1/invitations/{id}/decline"), json!({})).await;
            stored.map(|i| i["message"].clone())
        } else {
            None
        };
        ctx.judge("invitation message", &r, h, back.as_ref());
    }

    // --- Path and query parameters.
    let bad_ids = [
        "abc",
        "1.5",
        "-1",
        "0",
        "99999999999999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "1 OR 1=1",
        "1;DROP TABLE users",
        "1'--",
        "\u{0}",
        "../../etc/passwd",
        "%00",
        "1e3",
        "0x10",
        " 1",
    ];
    let id_paths: Vec<(Method, String, String)> = vec![
        (Method::GET, "/api/v1/orgs".into(), String::new()),
        (Method::PATCH, "/api/v1/orgs".into(), String::new()),
        (Method::GET, "/api/v1/users".into(), String::new()),
        (Method::POST, "/api/v1/users".into(), "/freeze".into()),
        (Method::GET, "/api/v1/requests".into(), String::new()),
        (Method::POST, "/api/v1/requests".into(), "/cancel".into()),
        (Method::GET, "/api/v1/chains".into(), String::new()),
        (Method::DELETE, "/api/v1/chains".into(), String::new()),
        (Method::POST, "/api/v1/chains".into(), "/stop".into()),
        (Method::GET, "/api/v1/chains".into(), format!("/nodes/{node}/log")),
        (Method::GET, format!("/api/v1/chains/{chain}/nodes"), "/bundle".into()),
        (Method::POST, format!("/api/v1/chains/{chain}/nodes"), "/restart".into()),
        (Method::DELETE, "/api/v1/roles".into(), String::new()),
        (Method::DELETE, "/api/v1/tokens".into(), String::new()),
        (Method::POST, "/api/v1/messages".into(), "/read".into()),
        (Method::POST, "/api/v1/invitations".into(), "/accept".into()),
    ];
    for (method, prefix, suffix) in &id_paths {
        for bad in bad_ids {
            let path = with_segment(prefix, bad, suffix);
            let body = if *method == Method::PATCH { Body::Json(json!({})) } else { Body::None };
            let r = ctx.send(&admin, method.clone(), &path, body).await;
            ctx.probes += 1;
            if !r.status.is_client_error() {
                ctx.failures.push(format!("{method} {path}: {} {}, expected a 4xx", r.status, r.json));
            }
        }
    }
    for h in &strings {
        // A URL has a length limit of its own: the long strings go in cut.
        let h = &h.chars().take(2000).collect::<String>();
        for path in [
            with_segment(&format!("/api/v1/chains/{chain}/nodes/{node}"), h, ""),
            with_segment("/api/v1/invitations/1", h, ""),
        ] {
            let r = ctx.send(&xa, Method::POST, &path, Body::None).await;
            ctx.probes += 1;
            if !r.status.is_client_error() {
                ctx.failures.push(format!("POST {}: {}, expected a 4xx", short(&path), r.status));
            }
        }
        // Filters: no match, or only exact matches; never another tenant's.
        let r =
            ctx.send(&xa, Method::GET, &with_query("/api/v1/requests", &[("status", h)]), Body::None).await;
        ctx.probes += 1;
        if r.status.is_success() && r.json.as_array().is_none_or(|a| !a.is_empty()) {
            ctx.failures.push(format!("GET /requests?status={}: {}", short(h), short(&r.json.to_string())));
        }
        for (key, exact) in [("actor", true), ("action", false), ("result", true)] {
            let r = ctx
                .send(
                    &admin,
                    Method::GET,
                    &with_query("/api/v1/audit", &[(key, h), ("limit", "10000")]),
                    Body::None,
                )
                .await;
            ctx.probes += 1;
            if let Some(entries) = r.json.as_array() {
                for e in entries {
                    let v = e[key].as_str().unwrap_or_default();
                    if (exact && v != h) || (!exact && !v.contains(h.as_str())) {
                        ctx.failures.push(format!("GET /audit?{key}={}: the filter matched {e}", short(h)));
                        break;
                    }
                }
            }
            let r = ctx.send(&xa, Method::GET, &with_query("/api/v1/audit", &[(key, h)]), Body::None).await;
            ctx.probes += 1;
            if let Some(entries) = r.json.as_array()
                && entries.iter().any(|e| e["org_id"].as_i64() != Some(x_org))
            {
                ctx.failures
                    .push(format!("GET /audit?{key}={} by X shows other organizations' entries", short(h)));
            }
        }
        let r = ctx
            .send(&admin, Method::GET, &with_query("/api/v1/audit/export", &[("actor", h)]), Body::None)
            .await;
        ctx.probes += 1;
        if r.status.is_success() && r.json != Value::Null {
            ctx.failures.push(format!("GET /audit/export?actor={}: not CSV", short(h)));
        }
        let r = ctx
            .send(&admin, Method::GET, &with_query("/api/v1/messages", &[("unread", h)]), Body::None)
            .await;
        ctx.probes += 1;
        if !r.status.is_client_error() && !r.status.is_success() {
            ctx.failures.push(format!("GET /messages?unread={}: {}", short(h), r.status));
        }
    }
    for q in [
        "/api/v1/audit?org_id=abc",
        "/api/v1/audit?limit=-1",
        "/api/v1/audit?limit=99999999999999999999999",
        "/api/v1/audit?from=abc",
        "/api/v1/audit?to=1e9",
        "/api/v1/audit?org_id=1%20OR%201=1",
        "/api/v1/messages?unread=maybe",
    ] {
        let r = ctx.send(&admin, Method::GET, q, Body::None).await;
        ctx.probes += 1;
        if r.status != StatusCode::BAD_REQUEST {
            ctx.failures.push(format!("GET {q}: {}, expected 400", r.status));
        }
    }
    for q in ["?lines=-1", "?lines=abc", "?lines=99999999999999999999999", "?include_key=maybe"] {
        let path = if q.contains("include_key") {
            format!("/api/v1/chains/{chain}/nodes/{node}/bundle{q}")
        } else {
            format!("/api/v1/chains/{chain}/nodes/{node}/log{q}")
        };
        let r = ctx.send(&xa, Method::GET, &path, Body::None).await;
        ctx.probes += 1;
        if r.status != StatusCode::BAD_REQUEST {
            ctx.failures.push(format!("GET {path}: {}, expected 400", r.status));
        }
    }
    // An unknown endpoint and a wrong method are refused the same way.
    for (method, path) in [
        (Method::GET, "/api/v1/nothing-here"),
        (Method::GET, "/api/v1/../../etc/passwd"),
        (Method::PATCH, "/api/v1/chains"),
    ] {
        let r = ctx.send(&admin, method.clone(), path, Body::None).await;
        ctx.probes += 1;
        if !r.status.is_client_error() {
            ctx.failures.push(format!("{method} {path}: {}", r.status));
        }
    }

    // The export defuses formulas: no field a spreadsheet would run.
    let (s, csv) = admin.call(Method::GET, "/api/v1/audit/export?limit=1000000", None).await;
    assert_eq!(s, StatusCode::OK);
    let csv = csv.as_str().unwrap_or_default().to_owned();
    for field in csv_fields(&csv) {
        if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            ctx.failures.push(format!("the audit export has a field a spreadsheet runs: {}", short(&field)));
        }
    }

    // The database still works: log in, list, the log's hash chain holds.
    let fresh = Client::login(&base, "admin", ADMIN_PASSWORD).await;
    for path in [
        "/api/v1/orgs",
        "/api/v1/users",
        "/api/v1/requests",
        "/api/v1/roles",
        "/api/v1/audit",
        "/api/v1/chains",
    ] {
        assert!(!fresh.get(path).await.as_array().unwrap().is_empty(), "{path} is empty");
    }
    assert!(login_works(&base, "pw-user", &pw).await, "pw-user cannot log in with the password it set");
    let v = fresh.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    let users = fresh.get("/api/v1/users").await;
    assert!(users.as_array().unwrap().iter().any(|u| u["username"] == "admin"));

    println!(
        "bad input ({db:?}): {} requests in {} s: {} broken bodies on {body_endpoints} endpoints; {} hostile strings x {fields} text fields \
         = {} cells ({} stored inert, {} refused 4xx); {} path and query probes; {} failures",
        ctx.sent,
        started.elapsed().as_secs(),
        ctx.malformed,
        strings.len(),
        ctx.hostile_cells,
        ctx.stored,
        ctx.refused,
        ctx.probes,
        ctx.failures.len()
    );
    assert!(ctx.failures.is_empty(), "{} failures:\n{}", ctx.failures.len(), ctx.failures.join("\n"));
}

/// The fields of a CSV text (quoted fields may hold commas, quotes and
/// line breaks).
fn csv_fields(csv: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') | (false, '\n') => out.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() {
        out.push(field);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_on_sqlite() {
    bad_input(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_on_postgres() {
    bad_input(Db::Postgres).await;
}
