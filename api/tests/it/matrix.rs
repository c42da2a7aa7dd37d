//! SPEC ORG-3 and ORG-4 as a table: every endpoint of the API, called by
//! every built-in role of the owning organization (A) and of another tenant
//! (B), by the admin of an organization that is a member of A's chain but
//! not its creator (C), by the platform's super admin and anonymously, each
//! call judged allowed or denied against a table written by hand from the
//! spec, not from the handlers:
//!
//! - a permission is needed as `rbac.rs` documents it (ORG-3); an
//!   organization's users act only on its own rows (ORG-4), and another
//!   tenant's row is a 404 that answers exactly like a row that does not
//!   exist, so existence does not leak;
//! - the chain-wide lifecycle (stop, start, restart, policy, invite,
//!   delete) belongs to the creating organization, nodes to the
//!   organization that runs them (the creator may also remove them),
//!   membership lets an organization see the chain and add its own nodes;
//! - approval, organizations and their review belong to the platform; its
//!   super admin sees and runs every tenant's chains, users and
//!   organization, but does not speak for a tenant where the act is the
//!   tenant's own: answering an invitation, reading its messages, revoking
//!   someone's API token, withdrawing its request, editing its custom roles,
//!   or adding nodes to a chain the platform is not a member of.
//!
//! Allowed means the call got past authorization: not 401, 403 or 404
//! (a 409 or 422 from a deliberately incomplete body counts). Destructive
//! calls run the denied callers first, check that the target is unchanged,
//! then the allowed callers (on throwaway targets where one allowed call
//! would remove what the next needs). Listings of B's users must hold
//! nothing of A's, and the other way round.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

/// A check of the state between steps that records a failure and goes on,
/// so one run reports every wrong cell.
macro_rules! expect_eq {
    ($m:expr, $l:expr, $r:expr $(,)?) => {
        expect_eq!($m, $l, $r, "{}", stringify!($l))
    };
    ($m:expr, $l:expr, $r:expr, $($msg:tt)+) => {{
        let (l, r) = (&$l, &$r);
        if *l != *r {
            $m.failures.push(format!("{} (line {}): {:?} != {:?}", format!($($msg)+), line!(), l, r));
        }
    }};
}

macro_rules! expect {
    ($m:expr, $c:expr $(,)?) => {
        expect!($m, $c, "{}", stringify!($c))
    };
    ($m:expr, $c:expr, $($msg:tt)+) => {
        if !$c {
            $m.failures.push(format!("{} (line {})", format!($($msg)+), line!()));
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Dev,
    Op,
    Aud,
    Plain,
}

const ROLES: [Role; 5] = [Role::Admin, Role::Dev, Role::Op, Role::Aud, Role::Plain];

impl Role {
    /// The built-in role's name.
    fn builtin(self) -> &'static str {
        match self {
            Role::Admin => "org_admin",
            Role::Dev => "chain_developer",
            Role::Op => "chain_operator",
            Role::Aud => "chain_auditor",
            Role::Plain => "user",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dev => "dev",
            Role::Op => "op",
            Role::Aud => "aud",
            Role::Plain => "user",
        }
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// A user of organization A (owner of every target).
    A(Role),
    /// A user of organization B (another tenant).
    B(Role),
    /// The admin of organization C: a member of A's chain, not its creator.
    C,
    /// The platform's super admin.
    Super,
    /// No session.
    Anon,
}

use Role::{Admin, Aud, Dev, Op, Plain};
use Who::{A, Anon, B, C, Super};

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            A(r) => write!(f, "A:{}", r.builtin()),
            B(r) => write!(f, "B:{}", r.builtin()),
            C => write!(f, "C:org_admin(member)"),
            Super => write!(f, "super_admin"),
            Anon => write!(f, "anonymous"),
        }
    }
}

const A_ALL: [Who; 5] = [A(Admin), A(Dev), A(Op), A(Aud), A(Plain)];
const B_ALL: [Who; 5] = [B(Admin), B(Dev), B(Op), B(Aud), B(Plain)];

/// Every caller with a session.
fn authenticated() -> Vec<Who> {
    [&A_ALL[..], &B_ALL[..], &[C, Super]].concat()
}

/// One caller and its session.
struct Caller {
    who: Who,
    username: String,
    password: String,
    client: Client,
}

/// A's rows the matrix aims at.
#[derive(Debug, Clone, Copy)]
struct T {
    org: i64,
    /// A's running solo chain.
    chain: i64,
    /// Throwaway chains of A for the deletes before the last.
    spare1: i64,
    spare2: i64,
    /// The chain's one node.
    node: i64,
    /// A's plain user.
    user: i64,
    /// A user whose password is reset and who is frozen.
    victim: i64,
    /// An API token of A's admin.
    token: i64,
    /// A's custom role.
    role: i64,
    /// A's fulfilled request.
    req: i64,
    /// Pending requests of A: to approve (with a bad opinion), reject, cancel.
    approve_req: i64,
    reject_req: i64,
    cancel_req: i64,
    /// A message of A.
    msg: i64,
    /// Invitations addressed to A: one to decline, one to accept.
    decline_inv: i64,
    accept_inv: i64,
    /// A contract A deployed on its chain.
    contract: i64,
    /// Dismissals of analysis findings by A: one for each allowed withdrawer.
    dismissals: [i64; 3],
    /// A's contract project (private, one file) and one it shares.
    project: i64,
    share_project: i64,
    /// A's alert rule (edited, enabled, disabled) and three to delete, one
    /// per allowed caller.
    alert_rule: i64,
    del_rules: [i64; 3],
    /// A firing alert of A.
    alert: i64,
}

/// An id nobody has.
const GHOST: i64 = 987_654_321;

impl T {
    /// The same targets with every id replaced by one that does not exist.
    fn ghost(&self) -> T {
        T {
            org: GHOST,
            chain: GHOST,
            spare1: GHOST,
            spare2: GHOST,
            node: GHOST,
            user: GHOST,
            victim: GHOST,
            token: GHOST,
            role: GHOST,
            req: GHOST,
            approve_req: GHOST,
            reject_req: GHOST,
            cancel_req: GHOST,
            msg: GHOST,
            decline_inv: GHOST,
            accept_inv: GHOST,
            contract: GHOST,
            dismissals: [GHOST; 3],
            project: GHOST,
            share_project: GHOST,
            alert_rule: GHOST,
            del_rules: [GHOST; 3],
            alert: GHOST,
        }
    }
}

type PathFn = fn(&T, Who) -> String;
type BodyFn = fn(&T, &Caller) -> Option<Value>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// Server-Sent Events: judge the status, do not read the endless body.
    Stream,
    /// Call with a second session of the caller (logout ends it).
    FreshSession,
}

/// One endpoint with its targets and who may call it.
struct Row {
    /// The OpenAPI operation, `METHOD /api/v1/...`.
    op: &'static str,
    /// Which variant of the operation (`stop` of a `{action}`).
    variant: &'static str,
    method: Method,
    path: PathFn,
    body: BodyFn,
    allowed: Vec<Who>,
    kind: Kind,
}

impl Row {
    fn new(op: &'static str, path: PathFn, allowed: &[Who]) -> Row {
        let method = Method::from_bytes(op.split(' ').next().unwrap().as_bytes()).unwrap();
        Row { op, variant: "", method, path, body: |_, _| None, allowed: allowed.to_vec(), kind: Kind::Plain }
    }
    fn body(mut self, body: BodyFn) -> Row {
        self.body = body;
        self
    }
    fn variant(mut self, v: &'static str) -> Row {
        self.variant = v;
        self
    }
    fn kind(mut self, k: Kind) -> Row {
        self.kind = k;
        self
    }
    fn label(&self) -> String {
        if self.variant.is_empty() { self.op.to_owned() } else { format!("{} [{}]", self.op, self.variant) }
    }
}

/// What every allowed caller of a row gets, where all get the same: the
/// bodies the rows send make these outcomes certain (a `{}` login is a 400,
/// a solo chain takes no node and keeps its genesis policy, A is already
/// reviewed). Rows whose first allowed call changes what the next one meets
/// (an invitation answered twice) have none.
fn answer(op: &str, variant: &str) -> Option<StatusCode> {
    let (method, path) = op.split_once(' ').unwrap();
    Some(match (method, path, variant) {
        ("POST", "/api/v1/auth/login" | "/api/v1/auth/register", _) => StatusCode::BAD_REQUEST,
        ("POST", "/api/v1/auth/password" | "/api/v1/requests/{id}/approve", _) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ("PUT", "/api/v1/auth/identity", _) => StatusCode::UNPROCESSABLE_ENTITY,
        (
            "GET",
            "/api/v1/chains/{id}/nodes/{node_id}/logs/download" | "/api/v1/platform/logs/download",
            _,
        ) => StatusCode::BAD_REQUEST,
        (
            "POST",
            "/api/v1/orgs/{id}/review" | "/api/v1/chains/{id}/nodes" | "/api/v1/users/{id}/identity-review",
            _,
        )
        | ("DELETE", "/api/v1/chains/{id}/nodes/{node_id}", _) => StatusCode::CONFLICT,
        ("PUT", "/api/v1/chains/{id}/policy" | "/api/v1/chains/{id}/consensus", _)
        | ("POST", "/api/v1/chains/{id}/contracts" | "/api/v1/chains/{id}/evidence", _) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ("DELETE", "/api/v1/chains/{id}/contracts/{contract_id}", _)
        | ("POST", "/api/v1/chains/{id}/proposals/{proposal_id}/votes", _) => StatusCode::CONFLICT,
        (
            "POST",
            "/api/v1/contracts/analysis"
            | "/api/v1/contracts/analysis/dismissals"
            | "/api/v1/sandbox"
            | "/api/v1/contract-projects"
            | "/api/v1/alert-rules",
            _,
        )
        | ("PUT", "/api/v1/alert-rules/{id}", _)
        | ("PUT" | "DELETE", "/api/v1/contract-projects/{id}/files", _) => StatusCode::UNPROCESSABLE_ENTITY,
        (
            "GET",
            "/api/v1/chains/{id}/contracts/{contract_id}/transactions/{tx_id}/trace"
            | "/api/v1/chains/{id}/transactions/{tx_id}",
            _,
        ) => StatusCode::UNPROCESSABLE_ENTITY,
        (
            "POST",
            "/api/v1/chains/{id}/contracts/{contract_id}/versions"
            | "/api/v1/chains/{id}/contracts/{contract_id}/upgrade"
            | "/api/v1/chains/{id}/contracts/{contract_id}/freeze"
            | "/api/v1/chains/{id}/contracts/{contract_id}/unfreeze",
            _,
        )
        | ("PUT", "/api/v1/chains/{id}/contracts/{contract_id}/acl", _) => StatusCode::UNPROCESSABLE_ENTITY,
        ("POST", "/api/v1/auth/logout", _) | ("DELETE", _, _) => StatusCode::NO_CONTENT,
        (
            "POST",
            "/api/v1/tokens" | "/api/v1/orgs" | "/api/v1/roles" | "/api/v1/users" | "/api/v1/requests"
            | "/api/v1/backups",
            _,
        ) => StatusCode::CREATED,
        (
            "POST",
            "/api/v1/chains/{id}/invitations"
            | "/api/v1/requests/{id}/cancel"
            | "/api/v1/invitations/{id}/{answer}",
            _,
        ) => {
            return None;
        }
        _ => StatusCode::OK,
    })
}

struct Matrix {
    base: String,
    callers: Vec<Caller>,
    t: T,
    ops: BTreeSet<&'static str>,
    rows: usize,
    cells: usize,
    ghosts: usize,
    failures: Vec<String>,
}

impl Matrix {
    fn caller(&self, who: Who) -> &Caller {
        self.callers.iter().find(|c| c.who == who).unwrap()
    }

    async fn send(&self, row: &Row, caller: &Caller, t: &T) -> (StatusCode, Value) {
        let path = (row.path)(t, caller.who);
        let body = (row.body)(t, caller);
        match row.kind {
            Kind::Stream => {
                let resp = tokio::time::timeout(
                    Duration::from_secs(10),
                    caller.client.http.get(format!("{}{path}", self.base)).send(),
                )
                .await
                .expect("the stream did not answer within 10 s")
                .unwrap();
                let status = resp.status();
                let content_type =
                    resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                // An open stream's body never ends: only a refusal's is read.
                let text =
                    if status.is_success() { String::new() } else { resp.text().await.unwrap_or_default() };
                crate::contract::assert_answer(&crate::contract::Exchange {
                    method: &Method::GET,
                    path: &path,
                    request: None,
                    status,
                    content_type: content_type.as_deref(),
                    body: &text,
                });
                (status, Value::Null)
            }
            Kind::FreshSession if caller.who != Anon => {
                let fresh = Client::login(&self.base, &caller.username, &caller.password).await;
                let out = fresh.call(row.method.clone(), &path, body).await;
                // Only the fresh session ended; the caller's own still works.
                let (s, _) = fresh.call(Method::GET, "/api/v1/auth/me", None).await;
                let (own, _) = caller.client.call(Method::GET, "/api/v1/auth/me", None).await;
                if out.0.is_success() && (s != StatusCode::UNAUTHORIZED || own != StatusCode::OK) {
                    panic!("logout of {} left the session alive ({s}) or ended another ({own})", caller.who);
                }
                out
            }
            _ => caller.client.call(row.method.clone(), &path, body).await,
        }
    }

    async fn cell(&mut self, row: &Row, who: Who) {
        let caller = self.caller(who);
        let (status, body) = self.send(row, caller, &self.t).await;
        let allowed = row.allowed.contains(&who);
        let denied_as = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
        if std::env::var_os("MATRIX_VERBOSE").is_some() {
            println!(
                "{:<70} {:<28} {status} {} {}",
                row.label(),
                who.to_string(),
                if allowed { "allowed" } else { "denied" },
                body.to_string().chars().take(200).collect::<String>()
            );
        }
        let verdict = if status.is_server_error() {
            Some("a server error")
        } else if allowed && denied_as.contains(&status) {
            Some("denied, expected allowed")
        } else if allowed {
            answer(row.op, row.variant)
                .is_some_and(|a| a != status)
                .then_some("allowed, but not the expected answer")
        } else if who == Anon {
            (status != StatusCode::UNAUTHORIZED).then_some("expected 401")
        } else if status != StatusCode::FORBIDDEN && status != StatusCode::NOT_FOUND {
            Some("allowed, expected denied (403/404)")
        } else {
            None
        };
        if let Some(why) = verdict {
            self.failures.push(format!("{} by {who}: {status} {body} ({why})", row.label()));
        }
        // Another tenant's row answers exactly like a row that does not exist.
        if matches!(who, B(_)) && !allowed {
            let ghost = self.t.ghost();
            let caller = self.caller(who);
            let same_request = (row.path)(&ghost, who) == (row.path)(&self.t, who)
                && (row.body)(&ghost, caller) == (row.body)(&self.t, caller);
            if !same_request {
                let (gs, gb) = self.send(row, caller, &ghost).await;
                self.ghosts += 1;
                if (gs, &gb["code"]) != (status, &body["code"]) {
                    self.failures.push(format!(
                        "{} by {who}: A's row answers {status} {body}, a missing one {gs} {gb}: existence leaks",
                        row.label()
                    ));
                }
            }
        }
        self.cells += 1;
    }

    fn count(&mut self, row: &Row) {
        self.ops.insert(row.op);
        self.rows += 1;
    }

    /// Every caller the row denies, in caller order.
    async fn denied(&mut self, row: &Row) {
        self.count(row);
        let whos: Vec<Who> =
            self.callers.iter().map(|c| c.who).filter(|w| !row.allowed.contains(w)).collect();
        for w in whos {
            self.cell(row, w).await;
        }
    }

    /// The allowed callers, in the row's order.
    async fn allowed(&mut self, row: &Row) {
        for w in row.allowed.clone() {
            self.cell(row, w).await;
        }
    }

    async fn check(&mut self, row: Row) {
        self.denied(&row).await;
        self.allowed(&row).await;
    }
}

fn resources() -> Value {
    json!({"cpu_millis": 100, "memory_mb": 128, "storage_mb": 256})
}

fn chain_request(name: &str) -> Value {
    json!({"purpose": "matrix", "spec": {"kind": "chain", "name": name, "consensus": "solo", "suite": "gm",
        "nodes": 1, "resources": resources()}})
}

/// Creates an organization (as the super admin); returns its id and its
/// admin's initial password.
async fn new_org(admin: &Client, name: &str, domain: &str, username: &str) -> (i64, String) {
    let v = admin
        .post(
            "/api/v1/orgs",
            json!({"name": name, "domain": domain, "admin_username": username, "admin_real_name": "Admin"}),
        )
        .await;
    (v["org"]["id"].as_i64().unwrap(), v["initial_password"].as_str().unwrap().to_owned())
}

/// Creates a user with one role; returns its id and initial password.
async fn new_user(org_admin: &Client, username: &str, role: &str) -> (i64, String) {
    let v = org_admin
        .post("/api/v1/users", json!({"username": username, "real_name": "Someone", "roles": [role]}))
        .await;
    (v["user"]["id"].as_i64().unwrap(), v["initial_password"].as_str().unwrap().to_owned())
}

async fn wait_running(c: &Client, request: i64) -> i64 {
    eventually("a solo chain to run", Duration::from_secs(120), || async {
        let r = c.get(&format!("/api/v1/requests/{request}")).await;
        match r["status"].as_str().unwrap() {
            "running" => r["chain_id"].as_i64(),
            "failed" => panic!("provisioning failed: {r}"),
            _ => None,
        }
    })
    .await
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn ids(v: &Value) -> BTreeSet<i64> {
    v.as_array().unwrap().iter().map(id).collect()
}

/// What one organization has, to look for in another's listings.
#[derive(Debug, Default)]
struct Owned {
    org: i64,
    users: BTreeSet<i64>,
    by_list: BTreeMap<&'static str, BTreeSet<i64>>,
}

/// Collects organization `org`'s rows: through the super admin (who sees
/// every tenant) and, for what is per organization or per user, through
/// its own users.
async fn owned(admin: &Client, org: i64, own: &[&Caller]) -> Owned {
    let of_org = |v: Value, key: &str| -> BTreeSet<i64> {
        v.as_array().unwrap().iter().filter(|x| x[key].as_i64() == Some(org)).map(id).collect()
    };
    let mut o = Owned { org, ..Owned::default() };
    o.users = of_org(admin.get("/api/v1/users").await, "org_id");
    o.by_list.insert("/api/v1/users", o.users.clone());
    o.by_list.insert("/api/v1/chains", of_org(admin.get("/api/v1/chains").await, "org_id"));
    let requests = of_org(admin.get("/api/v1/requests").await, "org_id");
    o.by_list.insert("/api/v1/requests", requests.clone());
    o.by_list.insert("/api/v1/requests?status=pending", requests);
    o.by_list.insert("/api/v1/orgs", BTreeSet::from([org]));
    let invitations: BTreeSet<i64> = admin
        .get("/api/v1/invitations")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["from_org_id"].as_i64() == Some(org) || i["to_org_id"].as_i64() == Some(org))
        .map(id)
        .collect();
    o.by_list.insert("/api/v1/invitations", invitations);
    let admin_of_org = own[0];
    o.by_list.insert("/api/v1/messages", ids(&admin_of_org.client.get("/api/v1/messages").await));
    o.by_list.insert("/api/v1/roles", of_org(admin_of_org.client.get("/api/v1/roles").await, "org_id"));
    let mut tokens = BTreeSet::new();
    for c in own {
        tokens.extend(ids(&c.client.get("/api/v1/tokens").await));
    }
    o.by_list.insert("/api/v1/tokens", tokens);
    o
}

/// Checks that nothing of `other` shows in any listing `viewer` gets.
/// Returns how many listings were read.
async fn assert_isolated(viewer: &Caller, other: &Owned, marker: &str, failures: &mut Vec<String>) -> usize {
    let mut read = 0;
    let mut lists: Vec<(String, Option<&BTreeSet<i64>>)> =
        other.by_list.iter().map(|(k, v)| ((*k).to_owned(), Some(v))).collect();
    lists.push(("/api/v1/audit?limit=10000".into(), None));
    lists.push((format!("/api/v1/audit?limit=10000&org_id={}", other.org), None));
    lists.push(("/api/v1/audit/export".into(), None));
    lists.push(("/api/v1/quota".into(), None));
    for (path, own_ids) in lists {
        let (s, v) = viewer.client.call(Method::GET, &path, None).await;
        if s.is_server_error() {
            failures.push(format!("GET {path} by {}: {s} {v}", viewer.who));
        }
        if !s.is_success() {
            continue;
        }
        read += 1;
        let text = v.to_string().to_lowercase();
        if text.contains(marker) {
            failures.push(format!("GET {path} by {} shows `{marker}`: {v}", viewer.who));
        }
        if let Value::String(csv) = &v {
            // The export: column 5 is the organization.
            for line in csv.lines().skip(1) {
                if line.split(',').nth(4) == Some(other.org.to_string().as_str()) {
                    failures.push(format!(
                        "GET {path} by {} exports the other tenant's entry {line}",
                        viewer.who
                    ));
                }
            }
            continue;
        }
        let items = match &v {
            Value::Array(items) => items.clone(),
            other_shape => vec![other_shape.clone()],
        };
        for item in &items {
            if let Some(set) = own_ids
                && item["id"].as_i64().is_some_and(|i| set.contains(&i))
            {
                failures.push(format!("GET {path} by {} lists the other tenant's {item}", viewer.who));
            }
            let mut stack = vec![item];
            while let Some(x) = stack.pop() {
                match x {
                    Value::Object(m) => {
                        for (k, val) in m {
                            let org_key = matches!(k.as_str(), "org_id" | "from_org_id" | "to_org_id");
                            let user_key = matches!(k.as_str(), "actor_id" | "requester_id" | "invited_by");
                            if (org_key && val.as_i64() == Some(other.org))
                                || (user_key && val.as_i64().is_some_and(|u| other.users.contains(&u)))
                            {
                                failures.push(format!(
                                    "GET {path} by {} carries the other tenant's {k}={val}: {item}",
                                    viewer.who
                                ));
                            }
                            stack.push(val);
                        }
                    }
                    Value::Array(a) => stack.extend(a),
                    _ => {}
                }
            }
        }
    }
    read
}

async fn chain_of(c: &Client, id: i64) -> Value {
    c.get(&format!("/api/v1/chains/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_by_every_role_and_tenant() {
    let started = Instant::now();
    let backups = tempfile::tempdir().unwrap();
    let schedule = govchain_api::backup::Schedule::new(backups.path());
    let tp = TestPlatform::start_with(Db::Sqlite, |c| c.backup = Some(schedule)).await;
    let base = tp.url.clone();
    let admin = tp.admin().await;

    // Organizations: A owns every target, B is another tenant, C joins A's
    // chain, D is only ever invited.
    let (a_org, a_pw) = new_org(&admin, "Alpha Market Bureau", "alpha.gov", "alpha-admin").await;
    let (b_org, b_pw) = new_org(&admin, "Beta Tax Bureau", "beta.gov", "beta-admin").await;
    let (_c_org, c_pw) = new_org(&admin, "Gamma Statistics", "gamma.gov", "gamma-admin").await;
    new_org(&admin, "Delta Archive", "delta.gov", "delta-admin").await;
    let aa = Client::login(&base, "alpha-admin", &a_pw).await;
    let bb = Client::login(&base, "beta-admin", &b_pw).await;
    let cc = Client::login(&base, "gamma-admin", &c_pw).await;

    let mut callers = Vec::new();
    for (org, org_admin, pw, prefix) in [("A", &aa, &a_pw, "alpha"), ("B", &bb, &b_pw, "beta")] {
        for role in ROLES {
            let who = if org == "A" { A(role) } else { B(role) };
            let username = format!("{prefix}-{}", role.tag());
            let (client, password) = if role == Admin {
                (org_admin.clone(), pw.clone())
            } else {
                let (_, password) = new_user(org_admin, &username, role.builtin()).await;
                (Client::login(&base, &username, &password).await, password)
            };
            callers.push(Caller { who, username, password, client });
        }
    }
    callers.push(Caller {
        who: C,
        username: "gamma-admin".into(),
        password: c_pw.clone(),
        client: cc.clone(),
    });
    callers.push(Caller {
        who: Super,
        username: "admin".into(),
        password: crate::support::ADMIN_PASSWORD.into(),
        client: admin.clone(),
    });
    callers.push(Caller {
        who: Anon,
        username: String::new(),
        password: String::new(),
        client: Client::anonymous(&base),
    });
    let (victim, victim_pw) = new_user(&aa, "alpha-victim", "user").await;
    let a_user = callers.iter().find(|c| c.who == A(Plain)).unwrap().username.clone();
    let a_user = id(&aa
        .get("/api/v1/users")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == a_user.as_str())
        .unwrap()
        .clone());

    // Chains: A's main one and two spares, C's; all solo (one process each).
    let mut reqs = Vec::new();
    for (client, name) in
        [(&aa, "alpha-ledger"), (&aa, "alpha-spare-one"), (&aa, "alpha-spare-two"), (&cc, "gamma-ledger")]
    {
        reqs.push(id(&client.post("/api/v1/requests", chain_request(name)).await));
    }
    for r in &reqs {
        admin.post(&format!("/api/v1/requests/{r}/approve"), json!({"opinion": "ok"})).await;
    }
    let mut chains = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        chains.push(wait_running(if i == 3 { &cc } else { &aa }, *r).await);
    }
    let (chain, spare1, spare2, gamma) = (chains[0], chains[1], chains[2], chains[3]);
    let node = id(&chain_of(&aa, chain).await["nodes"][0]);
    let provisioned = started.elapsed();

    // C joins A's chain; C invites A to its own.
    let inv =
        aa.post(&format!("/api/v1/chains/{chain}/invitations"), json!({"org_domain": "gamma.gov"})).await;
    cc.post(&format!("/api/v1/invitations/{}/accept", id(&inv)), json!({})).await;
    let decline_inv = id(&cc
        .post(&format!("/api/v1/chains/{gamma}/invitations"), json!({"org_domain": "alpha.gov"}))
        .await);

    // Pending requests, a custom role and a token of A; B gets a pending
    // and a rejected request, a role and a token of its own.
    let pending = |name: &str| chain_request(name);
    let approve_req = id(&aa.post("/api/v1/requests", pending("alpha-pending-a")).await);
    let reject_req = id(&aa.post("/api/v1/requests", pending("alpha-pending-b")).await);
    let cancel_req = id(&aa.post("/api/v1/requests", pending("alpha-pending-c")).await);
    bb.post("/api/v1/requests", pending("beta-pending")).await;
    let b_rejected = id(&bb.post("/api/v1/requests", pending("beta-turned-down")).await);
    admin.post(&format!("/api/v1/requests/{b_rejected}/reject"), json!({"opinion": "not now"})).await;
    let role =
        id(&aa.post("/api/v1/roles", json!({"name": "alpha-viewer", "permissions": ["chain_view"]})).await);
    bb.post("/api/v1/roles", json!({"name": "beta-viewer", "permissions": ["chain_view"]})).await;
    let token = id(&aa.post("/api/v1/tokens", json!({"name": "alpha-ci"})).await["token"]);
    bb.post("/api/v1/tokens", json!({"name": "beta-ci"})).await;
    let msgs = aa.get("/api/v1/messages?unread=true").await;
    let msg = id(&msgs[0]);
    let contract = id(&aa
        .post(
            &format!("/api/v1/chains/{chain}/contracts"),
            json!({"name": "Counter", "abi": crate::smart_contracts::counter_abi(),
                "bytecode": govchain_execution::evm::testdata::COUNTER, "constructor_args": [1]}),
        )
        .await);
    let project = id(&aa
        .post(
            "/api/v1/contract-projects",
            json!({"name": "alpha-project", "files": [{"path": "A.sol", "content": "contract A {}"}]}),
        )
        .await);
    let share_project = id(&aa.post("/api/v1/contract-projects", json!({"name": "alpha-shared"})).await);
    // A's sandbox chain (a third node process), for the looks at it.
    aa.post("/api/v1/sandbox", json!({})).await;
    let mut dismissals = [0; 3];
    for (n, d) in dismissals.iter_mut().enumerate() {
        *d = id(&aa
            .post(
                "/api/v1/contracts/analysis/dismissals",
                json!({"finding_id": format!("{:032x}", n + 1), "rule": "reentrancy", "severity": "high",
                    "file": "M.sol", "reason": "matrix"}),
            )
            .await);
    }

    // A's alert rules, and a firing alert of A (written as the evaluator
    // would; its rule id belongs to no rule, so no evaluation touches it).
    let rule_body = |name: &str| {
        json!({"name": name, "scope": "node", "enabled": false, "conditions": [
            {"kind": "metric", "series": "up", "aggregate": "last", "op": "==", "threshold": 0}]})
    };
    let alert_rule = id(&aa.post("/api/v1/alert-rules", rule_body("alpha-rule")).await);
    let mut del_rules = [0; 3];
    for (i, r) in del_rules.iter_mut().enumerate() {
        *r = id(&aa.post("/api/v1/alert-rules", rule_body(&format!("alpha-doomed-{i}"))).await);
    }
    let alert = {
        use sea_orm::{ActiveModelTrait, Set};
        let now = govchain_api::now_ms();
        govchain_api::entity::alert::ActiveModel {
            rule_id: Set(0),
            rule_name: Set("alpha-rule".into()),
            org_id: Set(a_org),
            severity: Set("critical".into()),
            chain_id: Set(chain),
            node_id: Set(Some(node)),
            open_key: Set(None),
            state: Set(govchain_api::domain::AlertState::Firing),
            started_at: Set(now),
            fired_at: Set(Some(now)),
            resolved_at: Set(None),
            value: Set(Some(0.0)),
            summary: Set("matrix".into()),
            acknowledged_by: Set(None),
            acknowledged_by_name: Set(None),
            acknowledged_at: Set(None),
            ack_note: Set(None),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&tp.platform.as_ref().unwrap().state.db)
        .await
        .unwrap()
        .id
    };
    let t = T {
        org: a_org,
        chain,
        spare1,
        spare2,
        node,
        user: a_user,
        victim,
        token,
        role,
        req: reqs[0],
        approve_req,
        reject_req,
        cancel_req,
        msg,
        decline_inv,
        accept_inv: 0,
        contract,
        dismissals,
        project,
        share_project,
        alert_rule,
        del_rules,
        alert,
    };
    let mut m = Matrix {
        base: base.clone(),
        callers,
        t,
        ops: BTreeSet::new(),
        rows: 0,
        cells: 0,
        ghosts: 0,
        failures: Vec::new(),
    };
    let all: Vec<Who> = [&authenticated()[..], &[Anon]].concat();
    let auth = authenticated();
    let a_and_super: Vec<Who> = [&A_ALL[..], &[Super]].concat();
    let runs_a = [A(Admin), A(Op), Super];

    // --- Account and self-service: every session; login and register are public.
    m.check(
        Row::new("POST /api/v1/auth/login", |_, _| "/api/v1/auth/login".into(), &all)
            .body(|_, _| Some(json!({}))),
    )
    .await;
    m.check(
        Row::new("POST /api/v1/auth/register", |_, _| "/api/v1/auth/register".into(), &all)
            .body(|_, _| Some(json!({}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/auth/me", |_, _| "/api/v1/auth/me".into(), &auth)).await;
    m.check(
        Row::new("POST /api/v1/auth/password", |_, _| "/api/v1/auth/password".into(), &auth)
            .body(|_, c| Some(json!({"old_password": c.password, "new_password": "weak"}))),
    )
    .await;
    // A number whose check digit is wrong: every caller reaches the check.
    m.check(
        Row::new("PUT /api/v1/auth/identity", |_, _| "/api/v1/auth/identity".into(), &auth).body(|_, _| {
            Some(json!({"real_name": "X", "kind": "resident_id", "number": "110105194912310021"}))
        }),
    )
    .await;
    m.check(
        Row::new("POST /api/v1/auth/logout", |_, _| "/api/v1/auth/logout".into(), &auth)
            .kind(Kind::FreshSession),
    )
    .await;
    m.check(Row::new("GET /api/v1/tokens", |_, _| "/api/v1/tokens".into(), &auth)).await;
    m.check(
        Row::new("POST /api/v1/tokens", |_, _| "/api/v1/tokens".into(), &auth)
            .body(|_, c| Some(json!({"name": format!("by {}", c.who)}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/permissions", |_, _| "/api/v1/permissions".into(), &auth)).await;
    m.check(Row::new("GET /api/v1/messages", |_, _| "/api/v1/messages".into(), &auth)).await;
    m.check(
        Row::new("GET /api/v1/messages/stream", |_, _| "/api/v1/messages/stream".into(), &auth)
            .kind(Kind::Stream),
    )
    .await;

    // --- Organizations, roles, quota: the platform makes and reviews
    // organizations; each sees its own.
    m.check(Row::new("GET /api/v1/orgs", |_, _| "/api/v1/orgs".into(), &auth)).await;
    m.check(Row::new("POST /api/v1/orgs", |_, _| "/api/v1/orgs".into(), &[Super]).body(|_, c| {
        let tag = c.who.to_string().replace([':', '_', '(', ')'], "-").to_lowercase();
        Some(json!({"name": "Made", "domain": format!("made-by-{}.gov", tag.trim_matches('-')),
            "admin_username": format!("made-{}", tag.trim_matches('-')), "admin_real_name": "M"}))
    }))
    .await;
    m.check(Row::new("GET /api/v1/orgs/{id}", |t, _| format!("/api/v1/orgs/{}", t.org), &a_and_super)).await;
    // A is active, so the platform's review is a 409 (past authorization).
    m.check(
        Row::new("POST /api/v1/orgs/{id}/review", |t, _| format!("/api/v1/orgs/{}/review", t.org), &[Super])
            .body(|_, _| Some(json!({"approve": true, "opinion": "again"}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/roles", |_, _| "/api/v1/roles".into(), &auth)).await;
    m.check(
        Row::new("POST /api/v1/roles", |_, _| "/api/v1/roles".into(), &[A(Admin), B(Admin), C, Super])
            .body(|_, _| Some(json!({"name": "made-viewer", "permissions": ["chain_view"]}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/quota",
        |_, _| "/api/v1/quota".into(),
        &[A(Admin), A(Dev), A(Op), A(Aud), B(Admin), B(Dev), B(Op), B(Aud), C, Super],
    ))
    .await;
    m.check(Row::new("GET /api/v1/quotas", |_, _| "/api/v1/quotas".into(), &[Super])).await;

    // --- Users: managed by their organization's admin and the platform.
    m.check(Row::new("GET /api/v1/users", |_, _| "/api/v1/users".into(), &[A(Admin), B(Admin), C, Super]))
        .await;
    m.check(Row::new("POST /api/v1/users", |_, _| "/api/v1/users".into(), &[A(Admin), Super]).body(|t, c| {
        let tag = c.username.replace(|ch: char| !ch.is_ascii_alphanumeric(), "-");
        let tag = if tag.is_empty() { "anonymous".to_owned() } else { tag };
        Some(json!({"username": format!("made-by-{tag}"), "real_name": "M", "roles": ["user"], "org_id": t.org}))
    }))
    .await;
    m.check(Row::new(
        "GET /api/v1/users/{id}",
        |t, _| format!("/api/v1/users/{}", t.user),
        &[A(Admin), A(Plain), Super],
    ))
    .await;
    // Nothing is pending review: every allowed caller meets a 409.
    m.check(
        Row::new(
            "POST /api/v1/users/{id}/identity-review",
            |t, _| format!("/api/v1/users/{}/identity-review", t.user),
            &[A(Admin), Super],
        )
        .body(|_, _| Some(json!({"approve": true, "opinion": "ok"}))),
    )
    .await;

    // --- Requests: submitted by those who may, seen by the organization,
    // decided by the platform.
    m.check(Row::new(
        "GET /api/v1/requests",
        |_, _| "/api/v1/requests".into(),
        &[A(Admin), A(Dev), A(Op), A(Aud), B(Admin), B(Dev), B(Op), B(Aud), C, Super],
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/requests",
            |_, _| "/api/v1/requests".into(),
            &[A(Admin), A(Op), B(Admin), B(Op), C, Super],
        )
        .body(|_, _| Some(chain_request("matrix-chain"))),
    )
    .await;
    // More nodes on A's chain: only for member organizations (A and C).
    m.check(
        Row::new("POST /api/v1/requests", |_, _| "/api/v1/requests".into(), &[A(Admin), A(Op), C])
            .variant("nodes on A's chain")
            .body(|t, _| {
                Some(json!({"purpose": "more", "spec": {"kind": "nodes", "chain_id": t.chain, "count": 1,
                    "resources": resources()}}))
            }),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/requests/{id}",
        |t, _| format!("/api/v1/requests/{}", t.req),
        &[A(Admin), A(Dev), A(Op), A(Aud), Super],
    ))
    .await;
    // An opinion with a control character: the approver gets a 422 and
    // nothing is provisioned.
    m.check(
        Row::new(
            "POST /api/v1/requests/{id}/approve",
            |t, _| format!("/api/v1/requests/{}/approve", t.approve_req),
            &[Super],
        )
        .body(|_, _| Some(json!({"opinion": "bell\u{7}"}))),
    )
    .await;

    // --- Chains and nodes, without changing them.
    m.check(Row::new("GET /api/v1/chains", |_, _| "/api/v1/chains".into(), &auth)).await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}",
        |t, _| format!("/api/v1/chains/{}", t.chain),
        &[&a_and_super[..], &[C]].concat(),
    ))
    .await;
    // A solo chain takes no more nodes (409), but the platform, not being
    // a member, has no nodes to add at all.
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/nodes",
            |t, _| format!("/api/v1/chains/{}/nodes", t.chain),
            &[A(Admin), A(Op), C],
        )
        .body(|_, _| Some(json!({"resources": resources()}))),
    )
    .await;
    for (op, variant) in [
        ("GET /api/v1/chains/{id}/nodes/{node_id}/bundle", "bundle"),
        ("GET /api/v1/chains/{id}/nodes/{node_id}/log", "log"),
    ] {
        let path: PathFn = if variant == "bundle" {
            |t, _| format!("/api/v1/chains/{}/nodes/{}/bundle", t.chain, t.node)
        } else {
            |t, _| format!("/api/v1/chains/{}/nodes/{}/log?lines=5", t.chain, t.node)
        };
        m.check(Row::new(op, path, &[A(Admin), A(Op), A(Aud), Super])).await;
    }
    // --- Contracts on A's chain: seen by whoever sees the chain; deployed
    // by members' developers (the platform is no member: a refused body
    // answers 422 only past that check); a deployed contract is not
    // deleted (409) but by its organization or the platform.
    let sees_chain: Vec<Who> = [&a_and_super[..], &[C]].concat();
    m.check(Row::new(
        "GET /api/v1/chains/{id}/contracts",
        |t, _| format!("/api/v1/chains/{}/contracts", t.chain),
        &sees_chain,
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/contracts",
            |t, _| format!("/api/v1/chains/{}/contracts", t.chain),
            &[A(Admin), A(Dev), C],
        )
        .body(|_, _| Some(json!({"name": "not a name", "abi": [], "bytecode": "00"}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/contracts/{contract_id}",
        |t, _| format!("/api/v1/chains/{}/contracts/{}", t.chain, t.contract),
        &sees_chain,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/contracts/{contract_id}/download",
        |t, _| format!("/api/v1/chains/{}/contracts/{}/download", t.chain, t.contract),
        &sees_chain,
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/contracts/{contract_id}/calls",
            |t, _| format!("/api/v1/chains/{}/contracts/{}/calls", t.chain, t.contract),
            &sees_chain,
        )
        .body(|_, _| Some(json!({"method": "count"}))),
    )
    .await;
    m.check(Row::new(
        "DELETE /api/v1/chains/{id}/contracts/{contract_id}",
        |t, _| format!("/api/v1/chains/{}/contracts/{}", t.chain, t.contract),
        &[A(Admin), A(Dev), Super],
    ))
    .await;
    // The lifecycle: new code by the deploying organization (the platform
    // sees all); changes and votes by members' developers. The bodies are
    // refused (422) only past those checks, a vote on no proposal by the
    // chain (409).
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/contracts/{contract_id}/versions",
            |t, _| format!("/api/v1/chains/{}/contracts/{}/versions", t.chain, t.contract),
            &[A(Admin), A(Dev), Super],
        )
        .body(|_, _| Some(json!({"abi": [], "deployed_bytecode": "zz"}))),
    )
    .await;
    for (op, path) in [
        ("POST /api/v1/chains/{id}/contracts/{contract_id}/upgrade", "upgrade"),
        ("POST /api/v1/chains/{id}/contracts/{contract_id}/freeze", "freeze"),
        ("POST /api/v1/chains/{id}/contracts/{contract_id}/unfreeze", "unfreeze"),
    ] {
        let path: PathFn = match path {
            "upgrade" => |t, _| format!("/api/v1/chains/{}/contracts/{}/upgrade", t.chain, t.contract),
            "freeze" => |t, _| format!("/api/v1/chains/{}/contracts/{}/freeze", t.chain, t.contract),
            _ => |t, _| format!("/api/v1/chains/{}/contracts/{}/unfreeze", t.chain, t.contract),
        };
        m.check(
            Row::new(op, path, &[A(Admin), A(Dev), C]).body(|_, _| Some(json!({"note": "x".repeat(1001)}))),
        )
        .await;
    }
    m.check(
        Row::new(
            "PUT /api/v1/chains/{id}/contracts/{contract_id}/acl",
            |t, _| format!("/api/v1/chains/{}/contracts/{}/acl", t.chain, t.contract),
            &[A(Admin), A(Dev), C],
        )
        .body(|_, _| Some(json!({"method": "*", "allow": vec!["x.gov"; 257]}))),
    )
    .await;
    // The explorer: everyone who sees the chain; a transaction id that is
    // not hex is refused at the field.
    m.check(Row::new(
        "GET /api/v1/chains/{id}/blocks",
        |t, _| format!("/api/v1/chains/{}/blocks?limit=2", t.chain),
        &sees_chain,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/blocks/{at}",
        |t, _| format!("/api/v1/chains/{}/blocks/0", t.chain),
        &sees_chain,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/transactions/{tx_id}",
        |t, _| format!("/api/v1/chains/{}/transactions/nothex", t.chain),
        &sees_chain,
    ))
    .await;
    // Evidence: everyone who sees the chain checks; members record (a
    // digest that is not one is refused at the field).
    m.check(Row::new(
        "GET /api/v1/chains/{id}/evidence",
        |t, _| format!("/api/v1/chains/{}/evidence?digest={}", t.chain, "0".repeat(64)),
        &sees_chain,
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/evidence",
            |t, _| format!("/api/v1/chains/{}/evidence", t.chain),
            &[A(Admin), A(Dev), C],
        )
        .body(|_, _| Some(json!({"digest": "abc"}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/stats",
        |t, _| format!("/api/v1/chains/{}/stats?blocks=5", t.chain),
        &sees_chain,
    ))
    .await;
    // Collected metrics: whoever monitors and sees the chain; the
    // platform's own figures are the super admin's.
    let monitors = [A(Admin), A(Dev), A(Op), A(Aud), C, Super];
    m.check(Row::new(
        "GET /api/v1/metrics/chains/{id}",
        |t, _| format!("/api/v1/metrics/chains/{}?metric=height", t.chain),
        &monitors,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/metrics/nodes/{chain_id}/{node_id}",
        |t, _| format!("/api/v1/metrics/nodes/{}/{}?metric=up", t.chain, t.node),
        &monitors,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/metrics/platform",
        |_, _| "/api/v1/metrics/platform?metric=process_open_fds".into(),
        &[Super],
    ))
    .await;
    // Logs: whoever monitors and sees the chain reads a node's; its level
    // is changed by whoever runs the node (an auditor reads, never
    // changes); the platform's own log is the super admin's. A download of
    // a day outside the last 30 is refused at the field.
    m.check(Row::new(
        "GET /api/v1/chains/{id}/nodes/{node_id}/logs",
        |t, _| format!("/api/v1/chains/{}/nodes/{}/logs?type=system&limit=5", t.chain, t.node),
        &monitors,
    ))
    .await;
    m.check(
        Row::new(
            "GET /api/v1/chains/{id}/nodes/{node_id}/logs/stream",
            |t, _| format!("/api/v1/chains/{}/nodes/{}/logs/stream?type=run", t.chain, t.node),
            &monitors,
        )
        .kind(Kind::Stream),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/nodes/{node_id}/logs/download",
        |t, _| format!("/api/v1/chains/{}/nodes/{}/logs/download?type=run&date=2000-01-01", t.chain, t.node),
        &monitors,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/nodes/{node_id}/log-level",
        |t, _| format!("/api/v1/chains/{}/nodes/{}/log-level", t.chain, t.node),
        &monitors,
    ))
    .await;
    m.check(
        Row::new(
            "PUT /api/v1/chains/{id}/nodes/{node_id}/log-level",
            |t, _| format!("/api/v1/chains/{}/nodes/{}/log-level", t.chain, t.node),
            &runs_a,
        )
        .body(|_, _| Some(json!({"level": "info"}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/platform/logs", |_, _| "/api/v1/platform/logs?limit=5".into(), &[Super]))
        .await;
    m.check(
        Row::new("GET /api/v1/platform/logs/stream", |_, _| "/api/v1/platform/logs/stream".into(), &[Super])
            .kind(Kind::Stream),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/platform/logs/download",
        |_, _| "/api/v1/platform/logs/download?date=2000-01-01".into(),
        &[Super],
    ))
    .await;
    m.check(Row::new("GET /api/v1/platform/log-level", |_, _| "/api/v1/platform/log-level".into(), &[Super]))
        .await;
    m.check(
        Row::new("PUT /api/v1/platform/log-level", |_, _| "/api/v1/platform/log-level".into(), &[Super])
            .body(|_, _| Some(json!({"level": "info"}))),
    )
    .await;
    // Alerts: every organization monitors its own (lists, channels); A's
    // rules and alerts are A's and the super admin's; changes need
    // `alert_manage` (admins and operators, not developers or auditors).
    let monitor_any = [A(Admin), A(Dev), A(Op), A(Aud), B(Admin), B(Dev), B(Op), B(Aud), C, Super];
    let manage_any = [A(Admin), A(Op), B(Admin), B(Op), C, Super];
    let monitors_a = [A(Admin), A(Dev), A(Op), A(Aud), Super];
    m.check(Row::new("GET /api/v1/alert-rules", |_, _| "/api/v1/alert-rules".into(), &monitor_any)).await;
    m.check(
        Row::new("POST /api/v1/alert-rules", |_, _| "/api/v1/alert-rules".into(), &manage_any)
            .body(|_, _| Some(json!({"name": "", "scope": "node", "conditions": []}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/alert-rules/{id}",
        |t, _| format!("/api/v1/alert-rules/{}", t.alert_rule),
        &monitors_a,
    ))
    .await;
    m.check(
        Row::new(
            "PUT /api/v1/alert-rules/{id}",
            |t, _| format!("/api/v1/alert-rules/{}", t.alert_rule),
            &runs_a,
        )
        .body(|_, _| Some(json!({"name": "", "scope": "node", "conditions": []}))),
    )
    .await;
    for (op, verb) in [
        ("POST /api/v1/alert-rules/{id}/enable", "enable"),
        ("POST /api/v1/alert-rules/{id}/disable", "disable"),
    ] {
        let path: PathFn = if verb == "enable" {
            |t, _| format!("/api/v1/alert-rules/{}/enable", t.alert_rule)
        } else {
            |t, _| format!("/api/v1/alert-rules/{}/disable", t.alert_rule)
        };
        m.check(Row::new(op, path, &runs_a)).await;
    }
    m.check(Row::new(
        "DELETE /api/v1/alert-rules/{id}",
        |t, who| {
            let i = match who {
                A(Admin) => 0,
                A(Op) => 1,
                _ => 2,
            };
            format!("/api/v1/alert-rules/{}", t.del_rules[i])
        },
        &runs_a,
    ))
    .await;
    m.check(Row::new("GET /api/v1/alerts", |_, _| "/api/v1/alerts".into(), &monitor_any)).await;
    m.check(Row::new("GET /api/v1/alerts/{id}", |t, _| format!("/api/v1/alerts/{}", t.alert), &monitors_a))
        .await;
    m.check(Row::new(
        "GET /api/v1/alerts/{id}/deliveries",
        |t, _| format!("/api/v1/alerts/{}/deliveries", t.alert),
        &monitors_a,
    ))
    .await;
    m.check(
        Row::new("POST /api/v1/alerts/{id}/ack", |t, _| format!("/api/v1/alerts/{}/ack", t.alert), &runs_a)
            .body(|_, _| Some(json!({"note": "looking"}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/alert-channels", |_, _| "/api/v1/alert-channels".into(), &monitor_any))
        .await;
    m.check(
        Row::new("PUT /api/v1/alert-channels", |_, _| "/api/v1/alert-channels".into(), &manage_any)
            .body(|_, _| Some(json!({"emails": []}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/search",
        |t, _| format!("/api/v1/chains/{}/search?q=0", t.chain),
        &sees_chain,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/contracts/{contract_id}/transactions/{tx_id}/trace",
        |t, _| format!("/api/v1/chains/{}/contracts/{}/transactions/nothex/trace", t.chain, t.contract),
        &sees_chain,
    ))
    .await;
    // The static analysis: every developer; a body without output is
    // refused at the field.
    m.check(
        Row::new(
            "POST /api/v1/contracts/analysis",
            |_, _| "/api/v1/contracts/analysis".into(),
            &[A(Admin), A(Dev), B(Admin), B(Dev), C, Super],
        )
        .body(|_, _| Some(json!({"sources": [], "compiler_version": "0.8.37", "output": []}))),
    )
    .await;
    // Dismissals of findings: every developer, for its own organization; a
    // dismissal without a reason is refused at the field.
    m.check(Row::new(
        "GET /api/v1/contracts/analysis/dismissals",
        |_, _| "/api/v1/contracts/analysis/dismissals".into(),
        &[A(Admin), A(Dev), B(Admin), B(Dev), C, Super],
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/contracts/analysis/dismissals",
            |_, _| "/api/v1/contracts/analysis/dismissals".into(),
            &[A(Admin), A(Dev), B(Admin), B(Dev), C, Super],
        )
        .body(|_, _| {
            Some(json!({"finding_id": "0".repeat(32), "rule": "reentrancy", "severity": "high",
                "file": "M.sol", "reason": " "}))
        }),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/chains/{id}/governance",
        |t, _| format!("/api/v1/chains/{}/governance", t.chain),
        &sees_chain,
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/proposals/{proposal_id}/votes",
            |t, _| format!("/api/v1/chains/{}/proposals/999/votes", t.chain),
            &[A(Admin), A(Dev), C],
        )
        .body(|_, _| Some(json!({"approve": true}))),
    )
    .await;
    // --- Sandboxes: developers ask for their organization's (the platform
    // for any); a suite not offered is refused at the field, so none is
    // made here. Only A has one: B's and C's look finds none (404).
    m.check(Row::new(
        "GET /api/v1/sandbox",
        |t, who| match who {
            Super => format!("/api/v1/sandbox?org_id={}", t.org),
            _ => "/api/v1/sandbox".into(),
        },
        &a_and_super,
    ))
    .await;
    m.check(
        Row::new(
            "POST /api/v1/sandbox",
            |_, _| "/api/v1/sandbox".into(),
            &[A(Admin), A(Dev), B(Admin), B(Dev), C, Super],
        )
        .body(|_, _| Some(json!({"suite": "rsa"}))),
    )
    .await;
    // --- The contract repository: whoever sees chains reads the templates,
    // its organization's projects and the shared ones (the platform every
    // project); developers write their organization's own. Refused bodies
    // (a bad name or path) answer 422 only past those checks.
    m.check(Row::new("GET /api/v1/contract-templates", |_, _| "/api/v1/contract-templates".into(), &auth))
        .await;
    m.check(Row::new("GET /api/v1/contract-projects", |_, _| "/api/v1/contract-projects".into(), &auth))
        .await;
    m.check(
        Row::new(
            "POST /api/v1/contract-projects",
            |_, _| "/api/v1/contract-projects".into(),
            &[A(Admin), A(Dev), B(Admin), B(Dev), C, Super],
        )
        .body(|_, _| Some(json!({"name": ""}))),
    )
    .await;
    m.check(Row::new(
        "GET /api/v1/contract-projects/{id}",
        |t, _| format!("/api/v1/contract-projects/{}", t.project),
        &a_and_super,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/contract-projects/{id}/files/history",
        |t, _| format!("/api/v1/contract-projects/{}/files/history?path=A.sol", t.project),
        &a_and_super,
    ))
    .await;
    m.check(Row::new(
        "GET /api/v1/contract-projects/{id}/revisions/{rev}",
        |t, _| format!("/api/v1/contract-projects/{}/revisions/1", t.project),
        &a_and_super,
    ))
    .await;
    m.check(
        Row::new(
            "PUT /api/v1/contract-projects/{id}/files",
            |t, _| format!("/api/v1/contract-projects/{}/files", t.project),
            &[A(Admin), A(Dev)],
        )
        .body(|_, _| Some(json!({"path": "../A.sol", "content": ""}))),
    )
    .await;
    m.check(Row::new(
        "DELETE /api/v1/contract-projects/{id}/files",
        |t, _| format!("/api/v1/contract-projects/{}/files?path=../A.sol", t.project),
        &[A(Admin), A(Dev)],
    ))
    .await;
    // Withdrawn first (not shared yet: others find nothing), then shared.
    m.check(Row::new(
        "DELETE /api/v1/contract-projects/{id}/share",
        |t, _| format!("/api/v1/contract-projects/{}/share", t.share_project),
        &[A(Admin), A(Dev)],
    ))
    .await;
    m.check(Row::new(
        "POST /api/v1/contract-projects/{id}/share",
        |t, _| format!("/api/v1/contract-projects/{}/share", t.share_project),
        &[A(Admin), A(Dev)],
    ))
    .await;
    let kept = aa.get(&format!("/api/v1/contract-projects/{project}")).await;
    expect_eq!(m, kept["revision"], json!(1), "refused writes changed A's project: {kept}");
    // Invites D: the first allowed caller creates it, the others meet a 409.
    m.check(
        Row::new(
            "POST /api/v1/chains/{id}/invitations",
            |t, _| format!("/api/v1/chains/{}/invitations", t.chain),
            &runs_a,
        )
        .body(|_, _| Some(json!({"org_domain": "delta.gov", "message": "join"}))),
    )
    .await;
    m.check(Row::new("GET /api/v1/invitations", |_, _| "/api/v1/invitations".into(), &auth)).await;

    // --- The operation log: admins and auditors, each of their own.
    let auditors = [A(Admin), A(Aud), B(Admin), B(Aud), C, Super];
    m.check(Row::new("GET /api/v1/audit", |_, _| "/api/v1/audit".into(), &auditors)).await;
    m.check(Row::new("GET /api/v1/audit/export", |_, _| "/api/v1/audit/export".into(), &auditors)).await;
    m.check(Row::new("GET /api/v1/audit/verify", |_, _| "/api/v1/audit/verify".into(), &auditors)).await;

    // --- Backups of the platform database: the platform operator only.
    m.check(Row::new("GET /api/v1/backups", |_, _| "/api/v1/backups".into(), &[Super])).await;
    m.check(
        Row::new("POST /api/v1/backups", |_, _| "/api/v1/backups".into(), &[Super])
            .body(|_, _| Some(json!({"kind": "full"}))),
    )
    .await;

    // Isolation while everything exists.
    let a_callers: Vec<&Caller> = m.callers.iter().filter(|c| matches!(c.who, A(_))).collect();
    let b_callers: Vec<&Caller> = m.callers.iter().filter(|c| matches!(c.who, B(_))).collect();
    let a_owned = owned(&admin, a_org, &a_callers).await;
    let b_owned = owned(&admin, b_org, &b_callers).await;
    let mut listings = 0;
    let mut failures = Vec::new();
    for c in &b_callers {
        listings += assert_isolated(c, &a_owned, "alpha", &mut failures).await;
    }
    for c in &a_callers {
        listings += assert_isolated(c, &b_owned, "beta", &mut failures).await;
    }
    m.failures.extend(failures);

    // --- Destructive calls: denied callers, the target unchanged, then the allowed.
    let user_of = |c: &Client, id: i64| {
        let c = c.clone();
        async move { c.get(&format!("/api/v1/users/{id}")).await }
    };
    let row =
        Row::new("PATCH /api/v1/orgs/{id}", |t, _| format!("/api/v1/orgs/{}", t.org), &[A(Admin), Super])
            .body(|_, c| Some(json!({"description": format!("edited by {}", c.who)})));
    m.denied(&row).await;
    expect_eq!(m, aa.get(&format!("/api/v1/orgs/{a_org}")).await["description"], "");
    m.allowed(&row).await;
    expect_eq!(m, aa.get(&format!("/api/v1/orgs/{a_org}")).await["description"], "edited by super_admin");

    let row =
        Row::new("PATCH /api/v1/users/{id}", |t, _| format!("/api/v1/users/{}", t.user), &[A(Admin), Super])
            .body(|_, c| Some(json!({"real_name": format!("renamed by {}", c.who)})));
    m.denied(&row).await;
    expect_eq!(m, user_of(&aa, a_user).await["real_name"], "Someone");
    m.allowed(&row).await;
    expect_eq!(m, user_of(&aa, a_user).await["real_name"], "renamed by super_admin");

    let row = Row::new(
        "POST /api/v1/users/{id}/reset-password",
        |t, _| format!("/api/v1/users/{}/reset-password", t.victim),
        &[A(Admin), Super],
    );
    m.denied(&row).await;
    Client::login(&base, "alpha-victim", &victim_pw).await;
    m.allowed(&row).await;
    let (s, _) = Client::anonymous(&base)
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "alpha-victim", "password": victim_pw})),
        )
        .await;
    expect_eq!(m, s, StatusCode::UNAUTHORIZED, "the old password still works after a reset");

    for (op, action, before, after) in [
        ("POST /api/v1/users/{id}/freeze", "freeze", "active", "frozen"),
        ("POST /api/v1/users/{id}/unfreeze", "unfreeze", "frozen", "active"),
    ] {
        let path: PathFn = if action == "freeze" {
            |t, _| format!("/api/v1/users/{}/freeze", t.victim)
        } else {
            |t, _| format!("/api/v1/users/{}/unfreeze", t.victim)
        };
        let row = Row::new(op, path, &[A(Admin), Super]);
        m.denied(&row).await;
        expect_eq!(m, user_of(&aa, victim).await["status"], before, "{op} by a denied caller");
        m.allowed(&row).await;
        expect_eq!(m, user_of(&aa, victim).await["status"], after);
    }

    let row = Row::new("PUT /api/v1/roles/{id}", |t, _| format!("/api/v1/roles/{}", t.role), &[A(Admin)])
        .body(|_, _| Some(json!({"name": "alpha-viewer-2", "permissions": ["chain_view", "request_view"]})));
    m.denied(&row).await;
    let role_name = |c: Client| async move {
        c.get("/api/v1/roles")
            .await
            .as_array()
            .unwrap()
            .iter()
            .find(|r| id(r) == role)
            .map(|r| r["name"].clone())
    };
    expect_eq!(m, role_name(aa.clone()).await, Some(json!("alpha-viewer")));
    m.allowed(&row).await;
    expect_eq!(m, role_name(aa.clone()).await, Some(json!("alpha-viewer-2")));

    let request_status =
        |c: Client, r: i64| async move { c.get(&format!("/api/v1/requests/{r}")).await["status"].clone() };
    let row = Row::new(
        "POST /api/v1/requests/{id}/reject",
        |t, _| format!("/api/v1/requests/{}/reject", t.reject_req),
        &[Super],
    )
    .body(|_, _| Some(json!({"opinion": "no"})));
    m.denied(&row).await;
    expect_eq!(m, request_status(aa.clone(), reject_req).await, "pending");
    m.allowed(&row).await;
    expect_eq!(m, request_status(aa.clone(), reject_req).await, "rejected");

    // The requester withdraws; the platform does not withdraw for it.
    let row = Row::new(
        "POST /api/v1/requests/{id}/cancel",
        |t, _| format!("/api/v1/requests/{}/cancel", t.cancel_req),
        &[A(Op), A(Admin)],
    );
    m.denied(&row).await;
    expect_eq!(m, request_status(aa.clone(), cancel_req).await, "pending");
    m.allowed(&row).await;
    expect_eq!(m, request_status(aa.clone(), cancel_req).await, "cancelled");
    expect_eq!(
        m,
        request_status(aa.clone(), approve_req).await,
        "pending",
        "the refused approvals changed it"
    );

    // Any user of A may mark A's message read; nobody else.
    let row = Row::new(
        "POST /api/v1/messages/{id}/read",
        |t, _| format!("/api/v1/messages/{}/read", t.msg),
        &A_ALL,
    );
    m.denied(&row).await;
    let unread = |c: Client| async move { ids(&c.get("/api/v1/messages?unread=true").await).contains(&msg) };
    expect!(m, unread(aa.clone()).await, "a denied caller marked A's message read");
    m.allowed(&row).await;
    expect!(m, !unread(aa.clone()).await);

    // Invitations to A are answered by A (the first allowed answer wins, the next is a 409).
    let inv_status = |c: Client, i: i64| async move {
        c.get("/api/v1/invitations")
            .await
            .as_array()
            .unwrap()
            .iter()
            .find(|x| id(x) == i)
            .map(|x| x["status"].clone())
    };
    let row = Row::new(
        "POST /api/v1/invitations/{id}/{answer}",
        |t, _| format!("/api/v1/invitations/{}/decline", t.decline_inv),
        &[A(Op), A(Admin)],
    )
    .variant("decline");
    m.denied(&row).await;
    expect_eq!(m, inv_status(aa.clone(), decline_inv).await, Some(json!("pending")));
    m.allowed(&row).await;
    expect_eq!(m, inv_status(aa.clone(), decline_inv).await, Some(json!("declined")));
    m.t.accept_inv = id(&cc
        .post(&format!("/api/v1/chains/{gamma}/invitations"), json!({"org_domain": "alpha.gov"}))
        .await);
    let accept_inv = m.t.accept_inv;
    let row = Row::new(
        "POST /api/v1/invitations/{id}/{answer}",
        |t, _| format!("/api/v1/invitations/{}/accept", t.accept_inv),
        &[A(Admin), A(Op)],
    )
    .variant("accept");
    m.denied(&row).await;
    expect_eq!(m, inv_status(aa.clone(), accept_inv).await, Some(json!("pending")));
    m.allowed(&row).await;
    expect_eq!(m, inv_status(aa.clone(), accept_inv).await, Some(json!("accepted")));

    // The block policy: the creator's (and the platform's). A solo chain's
    // is fixed in its genesis, so the allowed callers meet a 422 from the
    // driver: past authorization, and nothing changes either way.
    let row = Row::new(
        "PUT /api/v1/chains/{id}/policy",
        |t, _| format!("/api/v1/chains/{}/policy", t.chain),
        &runs_a,
    )
    .body(|_, _| Some(json!({"max_txs": 500, "max_bytes": 1_048_576, "max_wait_ms": 5})));
    let policy = chain_of(&aa, chain).await["block_policy"].clone();
    m.denied(&row).await;
    expect_eq!(m, chain_of(&aa, chain).await["block_policy"], policy);
    m.allowed(&row).await;
    expect_eq!(m, chain_of(&aa, chain).await["block_policy"], policy);

    // The consensus engine: the same callers. A solo chain does not switch
    // engines, so the allowed callers meet a 422 from the driver, and the
    // chain stays solo either way.
    let row = Row::new(
        "PUT /api/v1/chains/{id}/consensus",
        |t, _| format!("/api/v1/chains/{}/consensus", t.chain),
        &runs_a,
    )
    .body(|_, _| Some(json!({"consensus": "raft"})));
    m.denied(&row).await;
    expect_eq!(m, chain_of(&aa, chain).await["consensus"], json!("solo"));
    m.allowed(&row).await;
    expect_eq!(m, chain_of(&aa, chain).await["consensus"], json!("solo"));

    // The node: its organization's (C, a member, may not touch it).
    let node_state = |c: Client| async move {
        c.get(&format!("/api/v1/chains/{chain}")).await["nodes"][0]["state"].as_str().unwrap().to_owned()
    };
    for (variant, before, after) in
        [("stop", "running", "stopped"), ("start", "stopped", "running"), ("restart", "running", "running")]
    {
        let path: PathFn = match variant {
            "stop" => |t, _| format!("/api/v1/chains/{}/nodes/{}/stop", t.chain, t.node),
            "start" => |t, _| format!("/api/v1/chains/{}/nodes/{}/start", t.chain, t.node),
            _ => |t, _| format!("/api/v1/chains/{}/nodes/{}/restart", t.chain, t.node),
        };
        let row =
            Row::new("POST /api/v1/chains/{id}/nodes/{node_id}/{action}", path, &runs_a).variant(variant);
        m.denied(&row).await;
        expect_eq!(m, node_state(aa.clone()).await, before, "node {variant} by a denied caller");
        m.allowed(&row).await;
        expect_eq!(m, node_state(aa.clone()).await, after);
    }
    // Removing the last node is refused (409) to every allowed caller.
    let row = Row::new(
        "DELETE /api/v1/chains/{id}/nodes/{node_id}",
        |t, _| format!("/api/v1/chains/{}/nodes/{}", t.chain, t.node),
        &runs_a,
    );
    m.check(row).await;
    expect_eq!(m, chain_of(&aa, chain).await["nodes"].as_array().unwrap().len(), 1);

    // The chain-wide lifecycle: the creator's (and the platform's), not the member's.
    let chain_state = |c: Client| async move {
        c.get(&format!("/api/v1/chains/{chain}")).await["state"].as_str().unwrap().to_owned()
    };
    for (variant, before, after) in
        [("stop", "running", "stopped"), ("start", "stopped", "running"), ("restart", "running", "running")]
    {
        let (op, path): (&'static str, PathFn) = match variant {
            "stop" => ("POST /api/v1/chains/{id}/stop", |t, _| format!("/api/v1/chains/{}/stop", t.chain)),
            "start" => ("POST /api/v1/chains/{id}/start", |t, _| format!("/api/v1/chains/{}/start", t.chain)),
            _ => ("POST /api/v1/chains/{id}/restart", |t, _| format!("/api/v1/chains/{}/restart", t.chain)),
        };
        let row = Row::new(op, path, &runs_a);
        m.denied(&row).await;
        expect_eq!(m, chain_state(aa.clone()).await, before, "chain {variant} by a denied caller");
        m.allowed(&row).await;
        expect_eq!(m, chain_state(aa.clone()).await, after);
    }

    let row =
        Row::new("DELETE /api/v1/tokens/{id}", |t, _| format!("/api/v1/tokens/{}", t.token), &[A(Admin)]);
    m.denied(&row).await;
    expect!(m, ids(&aa.get("/api/v1/tokens").await).contains(&token));
    m.allowed(&row).await;
    expect!(m, !ids(&aa.get("/api/v1/tokens").await).contains(&token));

    // A's dismissals: its admin and developer withdraw one each, the
    // platform the third; others meet the first.
    let row = Row::new(
        "DELETE /api/v1/contracts/analysis/dismissals/{id}",
        |t, who| {
            let d = match who {
                A(Dev) => t.dismissals[1],
                Super => t.dismissals[2],
                _ => t.dismissals[0],
            };
            format!("/api/v1/contracts/analysis/dismissals/{d}")
        },
        &[A(Admin), A(Dev), Super],
    );
    let listed = |aa: Client| async move { ids(&aa.get("/api/v1/contracts/analysis/dismissals").await) };
    m.denied(&row).await;
    expect_eq!(m, listed(aa.clone()).await, m.t.dismissals.into_iter().collect::<BTreeSet<_>>());
    m.allowed(&row).await;
    expect!(m, listed(aa.clone()).await.is_empty());

    let row = Row::new("DELETE /api/v1/roles/{id}", |t, _| format!("/api/v1/roles/{}", t.role), &[A(Admin)]);
    m.denied(&row).await;
    expect!(m, role_name(aa.clone()).await.is_some());
    m.allowed(&row).await;
    expect!(m, role_name(aa.clone()).await.is_none());

    // Deleting: the operator and the platform each delete a spare, the admin the main chain last.
    let row = Row::new(
        "DELETE /api/v1/chains/{id}",
        |t, who| match who {
            A(Op) => format!("/api/v1/chains/{}", t.spare1),
            Super => format!("/api/v1/chains/{}", t.spare2),
            _ => format!("/api/v1/chains/{}", t.chain),
        },
        &[A(Op), Super, A(Admin)],
    );
    m.denied(&row).await;
    for c in [chain, spare1, spare2] {
        expect_eq!(m, aa.call(Method::GET, &format!("/api/v1/chains/{c}"), None).await.0, StatusCode::OK);
    }
    m.allowed(&row).await;
    for c in [chain, spare1, spare2] {
        expect_eq!(
            m,
            aa.call(Method::GET, &format!("/api/v1/chains/{c}"), None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    // Isolation again, after everything happened.
    let a_callers: Vec<&Caller> = m.callers.iter().filter(|c| matches!(c.who, A(_))).collect();
    let b_callers: Vec<&Caller> = m.callers.iter().filter(|c| matches!(c.who, B(_))).collect();
    let a_owned = owned(&admin, a_org, &a_callers).await;
    let b_owned = owned(&admin, b_org, &b_callers).await;
    let mut failures = Vec::new();
    for c in &b_callers {
        listings += assert_isolated(c, &a_owned, "alpha", &mut failures).await;
    }
    for c in &a_callers {
        listings += assert_isolated(c, &b_owned, "beta", &mut failures).await;
    }
    m.failures.extend(failures);

    // Refused calls created nothing.
    let users = admin.get("/api/v1/users").await;
    let made: BTreeSet<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .filter(|n| n.starts_with("made-by-"))
        .collect();
    assert_eq!(made, BTreeSet::from(["made-by-alpha-admin", "made-by-admin"]), "{users}");
    let orgs = admin.get("/api/v1/orgs").await;
    let made_orgs = orgs.as_array().unwrap().iter().filter(|o| o["name"] == "Made").count();
    assert_eq!(made_orgs, 1, "{orgs}");
    let verify = admin.get("/api/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");

    // Every operation of the API is in the table.
    let doc: Value = serde_json::from_str(&govchain_api::openapi_json()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let covered: BTreeSet<String> = m.ops.iter().map(|s| (*s).to_owned()).collect();
    let missing: Vec<&String> = documented.difference(&covered).collect();
    let unknown: Vec<&String> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "not in the matrix: {missing:?}; not in the API: {unknown:?}"
    );

    println!(
        "authorization matrix: {} operations ({} rows) x {} callers = {} cells, {} existence-leak comparisons, \
         {listings} listings checked for the other tenant; {} s ({} s provisioning 4 solo chains)",
        m.ops.len(),
        m.rows,
        m.callers.len(),
        m.cells,
        m.ghosts,
        started.elapsed().as_secs(),
        provisioned.as_secs()
    );
    assert!(
        m.failures.is_empty(),
        "{} of {} cells wrong:\n{}",
        m.failures.len(),
        m.cells,
        m.failures.join("\n")
    );
}
