//! The control plane's HTTP client and the login the CLI keeps between
//! runs (`{api, token}` in a 0600 JSON file).

use std::{
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use reqwest::{Method, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// The session cookie the API sets at login.
const SESSION_COOKIE: &str = "govchain_session";
/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "GOVCHAIN_CONFIG";
/// Environment variable with a token that overrides the stored one.
pub const TOKEN_ENV: &str = "GOVCHAIN_TOKEN";
/// Chain and node lifecycle calls wait for the driver (a chain gets a
/// minute to elect a leader), so requests may take that long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// A failed API call: the API's `{code, message}` and the HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message} (HTTP {status})")]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The API's stable code (`forbidden`, `invalid`, ...), or `http` when
    /// the body was not the API's error shape.
    pub code: String,
    /// The API's message.
    pub message: String,
    /// The body as received (JSON when it was JSON).
    pub body: Value,
}

/// How calls authenticate.
#[derive(Clone)]
enum Credentials {
    /// Nothing (logging in).
    None,
    /// An API token: `Authorization: Bearer`, no CSRF token needed.
    Bearer(String),
    /// A browser-style session (only between login and token creation).
    Session { cookie: String, csrf: String },
}

impl std::fmt::Debug for Credentials {
    // Never print secrets, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Bearer(_) => "Bearer(..)",
            Credentials::Session { .. } => "Session(..)",
        })
    }
}

/// A client of one control plane.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    credentials: Credentials,
}

/// `http://host:port` without a trailing slash; refuses what is not an
/// http(s) URL so a typo fails here rather than as a confusing connect error.
pub fn normalize(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
        bail!("`{url}` is not a control-plane URL (e.g. http://127.0.0.1:8080, as `govchain up` prints it)");
    }
    Ok(url.to_owned())
}

impl Api {
    fn with(base: &str, credentials: Credentials) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Api { base: normalize(base)?, http, credentials })
    }

    /// A client acting with an API token.
    pub fn with_token(base: &str, token: &str) -> anyhow::Result<Api> {
        Api::with(base, Credentials::Bearer(token.to_owned()))
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Logs in with a password: a client holding the session.
    pub async fn login(base: &str, user: &str, password: &str) -> anyhow::Result<Api> {
        let anon = Api::with(base, Credentials::None)?;
        let body = serde_json::json!({"username": user, "password": password});
        let resp = anon.send(Method::POST, "/api/v1/auth/login", &[], Some(&body)).await?;
        let cookie = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|kv| kv.trim().starts_with(&format!("{SESSION_COOKIE}=")))
            .map(|kv| kv.trim().to_owned())
            .context("the API answered the login without a session cookie")?;
        let body: Value = resp.json().await.context("reading the login answer")?;
        let csrf = body["csrf_token"].as_str().context("the login answer has no csrf_token")?.to_owned();
        Ok(Api { credentials: Credentials::Session { cookie, csrf }, ..anon })
    }

    /// Sends a request; a non-2xx answer becomes an [`ApiFailure`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if !query.is_empty() {
            req = req.query(query);
        }
        match &self.credentials {
            Credentials::None => {}
            Credentials::Bearer(token) => req = req.bearer_auth(token),
            Credentials::Session { cookie, csrf } => {
                req = req.header(header::COOKIE, cookie).header("x-csrf-token", csrf);
            }
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str::<Value>(&text).unwrap_or_else(|_| Value::String(text.clone()));
        let (code, message) = match (body["code"].as_str(), body["message"].as_str()) {
            (Some(c), Some(m)) => (c.to_owned(), m.to_owned()),
            _ => ("http".to_owned(), format!("{method} {path}: {}", text.trim())),
        };
        Err(ApiFailure { status: status.as_u16(), code, message, body }.into())
    }

    /// A call whose answer is JSON (`Null` when the answer is empty, as
    /// for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let resp = self.send(method.clone(), path, query, body).await?;
        let bytes = resp.bytes().await.with_context(|| format!("reading the answer of {method} {path}"))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("the answer of {method} {path} is not JSON"))
    }

    /// GET with query parameters.
    pub async fn get_with(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(Method::GET, path, query, None).await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_with(path, &[]).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, &[], Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call(Method::DELETE, path, &[], None).await.map(drop)
    }

    /// GET of a body that is not JSON (a tar archive, CSV, a log).
    pub async fn download(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let resp = self.send(Method::GET, path, query, None).await?;
        Ok(resp.bytes().await.with_context(|| format!("downloading {path}"))?.to_vec())
    }
}

/// Reads an API answer as one of the API's types.
pub fn decode<T: DeserializeOwned>(v: &Value) -> anyhow::Result<T> {
    T::deserialize(v).with_context(|| {
        format!("unexpected answer from the API (is the CLI older than the platform?): {}", short(v))
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 { format!("{}...", s.chars().take(300).collect::<String>()) } else { s }
}

/// What `govchain login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLogin {
    /// The control plane's base URL.
    pub api: String,
    /// The API token's secret (`gct_...`).
    pub token: String,
    /// The token's id, for `govchain logout` to revoke it.
    #[serde(default)]
    pub token_id: Option<i64>,
    /// Who logged in.
    #[serde(default)]
    pub user: String,
}

/// The config file: `$GOVCHAIN_CONFIG`, else
/// `$XDG_CONFIG_HOME/govchain/cli.json`, else `~/.config/govchain/cli.json`.
pub fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|p| !p.is_empty())
                .context("neither GOVCHAIN_CONFIG nor HOME is set: cannot place the CLI's config file")?,
        )
        .join(".config"),
    };
    Ok(base.join("govchain").join("cli.json"))
}

/// The stored login, if there is one.
pub fn load(path: &Path) -> anyhow::Result<Option<StoredLogin>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is not a govchain CLI config; remove it or log in again", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the login (mode 0600; through a temporary file and a rename so
/// a crash never leaves half a file).
pub fn store(path: &Path, login: &StoredLogin) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(login).map_err(std::io::Error::other)?)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The client the verbs use: `--api`/`GOVCHAIN_API` or the stored URL,
/// with `GOVCHAIN_TOKEN` or the stored token. The stored token is sent only
/// to the URL it was made for, never to another control plane.
pub fn connect(api: Option<&str>) -> anyhow::Result<Api> {
    let path = config_path()?;
    let stored = load(&path)?;
    let env_token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty());
    let base = match (api, &stored) {
        (Some(a), _) => normalize(a)?,
        (None, Some(s)) => normalize(&s.api)?,
        (None, None) => bail!(
            "not logged in: run `govchain login --api <url> --user <name>`, or give --api (GOVCHAIN_API) and GOVCHAIN_TOKEN"
        ),
    };
    if let Some(token) = env_token {
        return Api::with_token(&base, token.trim());
    }
    match stored {
        Some(s) if normalize(&s.api)? == base => Api::with_token(&base, &s.token),
        Some(s) => bail!(
            "the login in {} is for {}, not {base}: log in there with `govchain login --api {base} --user <name>` or set GOVCHAIN_TOKEN",
            path.display(),
            s.api
        ),
        None => bail!(
            "not logged in to {base}: run `govchain login --api {base} --user <name>` or set GOVCHAIN_TOKEN"
        ),
    }
}

/// This machine's name, for naming the token (`cli@<host>`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

/// Reads a password: prompted without echo at a terminal, else the first
/// line of stdin (so scripts can pipe it in).
pub fn read_password(user: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("password for {user}: ");
        std::io::stderr().flush()?;
        let _echo = EchoOff::new();
        stdin.lock().read_line(&mut line).context("reading the password")?;
        eprintln!();
    } else {
        stdin.lock().read_line(&mut line).context("reading the password from stdin")?;
    }
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password given (--password, GOVCHAIN_PASSWORD, or on stdin)");
    }
    Ok(password)
}

/// Turns terminal echo off while it lives (through `stty`, which acts on
/// the terminal it inherits as stdin); restores it on drop, also when
/// reading fails.
struct EchoOff(bool);

impl EchoOff {
    fn new() -> EchoOff {
        let stty = |arg: &str| {
            std::process::Command::new("stty")
                .arg(arg)
                .stdin(std::process::Stdio::inherit())
                .status()
                .is_ok_and(|s| s.success())
        };
        let off = stty("-echo");
        if !off {
            eprint!("(stty is missing: the password shows as you type) ");
        }
        EchoOff(off)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if self.0 {
            let _ =
                std::process::Command::new("stty").arg("echo").stdin(std::process::Stdio::inherit()).status();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_are_normalized_and_checked() {
        assert_eq!(normalize("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(normalize(" https://bcs.gov.example ").unwrap(), "https://bcs.gov.example");
        for bad in ["127.0.0.1:8080", "ftp://x", "http://", ""] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_stored_login_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("cli.json");
        assert!(load(&path).unwrap().is_none());
        let login = StoredLogin {
            api: "http://a".into(),
            token: "gct_x".into(),
            token_id: Some(3),
            user: "u".into(),
        };
        store(&path, &login).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(&path).unwrap().unwrap();
        assert_eq!((back.api.as_str(), back.token.as_str(), back.token_id), ("http://a", "gct_x", Some(3)));
        // Overwriting keeps it private and leaves no temporary file.
        store(&path, &StoredLogin { token: "gct_y".into(), ..login }).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().token, "gct_y");
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path).is_err());
    }
}
