//! A real control plane on loopback for the tests: the API on a free port,
//! SQLite in a temporary directory or a fresh PostgreSQL database, and the
//! local process driver running real `govchain-node` processes.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use govchain_api::{ApiConfig, Platform};
use govchain_driver::{HostDriver, LocalDriver};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The super admin's password in tests.
pub const ADMIN_PASSWORD: &str = "Platform-Passw0rd!";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub use govchain_driver::testing::node_program;

/// A fresh PostgreSQL database on the server `GOVCHAIN_TEST_PG` names
/// (`scripts/postgres.sh start` prints it; `.ci/run` sets it). Missing is
/// a failure, not a skip.
pub async fn postgres_db() -> String {
    let base = std::env::var("GOVCHAIN_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "GOVCHAIN_TEST_PG is not set: start a server with `scripts/postgres.sh start` and export its line"
        )
    });
    let name = format!("govchain_t{}", &govchain_api::auth::random_token()[..12]);
    let db = sea_orm::Database::connect(base.clone()).await.expect("connecting to GOVCHAIN_TEST_PG");
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    db.close().await.unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// A running platform and its directory.
pub struct TestPlatform {
    pub platform: Option<Platform>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestPlatform {
    pub async fn start(db: Db) -> TestPlatform {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut ApiConfig)) -> TestPlatform {
        Self::start_on(db, tweak, |dir| {
            Arc::new(LocalDriver::new(dir.join("hosts"), node_program()).unwrap())
        })
        .await
    }

    /// A platform on `db` whose host driver `driver` makes (given the
    /// platform's directory).
    pub async fn start_on(
        db: Db,
        tweak: impl FnOnce(&mut ApiConfig),
        driver: impl FnOnce(&Path) -> Arc<dyn HostDriver>,
    ) -> TestPlatform {
        let dir = tempfile::tempdir().unwrap();
        let url = match db {
            Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("govchain.db").display()),
            Db::Postgres => postgres_db().await,
        };
        let mut config = ApiConfig::new(url, "127.0.0.1:0".parse().unwrap());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        config.logs = Some(govchain_logstore::LogConfig::new(dir.path().join("logs")));
        tweak(&mut config);
        let platform = govchain_api::start(config, driver(dir.path())).await.unwrap();
        TestPlatform { url: platform.url.clone(), platform: Some(platform), dir }
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.path().join("hosts")
    }

    pub async fn stop(&mut self) {
        if let Some(p) = self.platform.take() {
            p.shutdown().await;
        }
    }

    /// A client logged in as the super admin.
    pub async fn admin(&self) -> Client {
        Client::login(&self.url, "admin", ADMIN_PASSWORD).await
    }

    /// The platform (as `admin`) creates the Tax Bureau (`tax.gov`, its
    /// admin `bob`); returns its id and bob logged in.
    pub async fn tax_bureau(&self, admin: &Client) -> (i64, Client) {
        let created = admin
            .post(
                "/api/v1/orgs",
                json!({"name": "Tax Bureau", "domain": "tax.gov", "admin_username": "bob", "admin_real_name": "Bob Li"}),
            )
            .await;
        let org = created["org"]["id"].as_i64().unwrap();
        (org, Client::login(&self.url, "bob", created["initial_password"].as_str().unwrap()).await)
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        // Nodes are children of this process: make sure none outlives the test.
        if let Some(p) = self.platform.take() {
            let driver = p.state.driver.clone();
            let handle = tokio::runtime::Handle::try_current();
            if let Ok(h) = handle {
                let _ = std::thread::spawn(move || h.block_on(driver.shutdown())).join();
            }
        }
    }
}

/// An HTTP client of the API with a session (cookie + CSRF token) or none.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn anonymous(base: &str) -> Client {
        let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
        Client { base: base.to_owned(), http, csrf: None, bearer: None }
    }

    pub async fn login(base: &str, user: &str, password: &str) -> Client {
        let mut c = Client::anonymous(base);
        let (status, body) = c
            .call(Method::POST, "/api/v1/auth/login", Some(json!({"username": user, "password": password})))
            .await;
        assert_eq!(status, StatusCode::OK, "login {user}: {body}");
        c.csrf = Some(body["csrf_token"].as_str().unwrap().to_owned());
        c
    }

    /// Sends a request; returns the status and the JSON body (Null when
    /// the body is empty, a string when it is not JSON). The answer must
    /// be one the OpenAPI document allows (`contract::check`).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(b) = &self.bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap();
        crate::contract::assert_answer(&crate::contract::Exchange {
            method: &method,
            path,
            request: body.as_ref(),
            status,
            content_type: content_type.as_deref(),
            body: &text,
        });
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::GET, path, None).await;
        assert!(s.is_success(), "GET {path}: {s} {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call(Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "POST {path}: {s} {v}");
        v
    }
}

/// Polls `f` every 200 ms until it returns `Some`, at most `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Files under `dir` whose path contains `needle`.
pub fn paths_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.to_string_lossy().contains(needle) {
                out.push(p.clone());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}
