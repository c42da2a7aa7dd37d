//! The client side of the membership, policy and log endpoints a node
//! serves on its mutual-TLS peer listener (`/admin/members`,
//! `/admin/learner`, `/admin/promote`, `/admin/remove`, `/admin/policy`,
//! `/admin/logs`, `/admin/logs/stream`, `/admin/logs/file`,
//! `/admin/log-level`): what the platform's drivers and the Kubernetes
//! operator call, each with an admin identity issued by the chain's CA.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use futures_util::{Stream, StreamExt};
use govchain_logstore::{LogLine, LogType, SearchParams};
use govchain_net::HttpsClient;
use serde::{Deserialize, Serialize};

/// The most of an admin answer read.
const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// The most of a day's log file read.
const MAX_FILE: usize = govchain_logstore::MAX_DAY_BYTES as usize;
/// The longest line of a log stream.
const MAX_LINE: usize = 1024 * 1024;

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn level_of(addr: &str, body: &[u8]) -> Result<String, AdminError> {
    serde_json::from_slice::<crate::logs::LogLevel>(body)
        .map(|l| l.level)
        .map_err(|e| AdminError::Refused(format!("{addr}/admin/log-level: unexpected answer: {e}")))
}

/// A consensus member as the admin endpoints show it (`/admin/members`)
/// and take it (`/admin/learner`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusMember {
    /// Consensus (Raft) id.
    pub id: u64,
    /// Node name.
    pub name: String,
    /// Peer address.
    pub addr: String,
    /// `voter` or `learner`.
    #[serde(default)]
    pub role: String,
    /// Its node key, hex SEC1 in the chain's suite: required to add a
    /// member to a hotstuff chain (its members sign votes), not shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_key: String,
}

/// Why an admin call did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Worth another try, perhaps with a fresh leader: unreachable, no
    /// answer in time, a 5xx (`not_leader` included).
    #[error("{0}")]
    Retry(String),
    /// Refused for a reason a retry does not change: a 4xx, a request that
    /// cannot be built, an answer that does not parse.
    #[error("{0}")]
    Refused(String),
}

/// A client of the admin endpoints, over an [`HttpsClient`] presenting the
/// caller's admin identity. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminClient {
    client: HttpsClient,
    deadline: Duration,
}

impl AdminClient {
    /// Calls through `client`, waiting at most `deadline` for each answer.
    pub fn new(client: HttpsClient, deadline: Duration) -> AdminClient {
        AdminClient { client, deadline }
    }

    /// The consensus members as the node at `addr` (`host:port`) knows them.
    pub async fn members(&self, addr: &str) -> Result<Vec<ConsensusMember>, AdminError> {
        let body = self.call(addr, Method::GET, "/admin/members", None).await?;
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::Refused(format!("{addr}/admin/members: unexpected answer: {e}")))
    }

    /// The node's log lines matching `params`, newest first.
    pub async fn logs(&self, addr: &str, params: &SearchParams) -> Result<Vec<LogLine>, AdminError> {
        let mut q = Vec::new();
        if let Some(k) = params.kind {
            q.push(format!("type={k}"));
        }
        if let Some(v) = params.from {
            q.push(format!("from={v}"));
        }
        if let Some(v) = params.to {
            q.push(format!("to={v}"));
        }
        if let Some(v) = &params.q {
            q.push(format!("q={}", encode(v)));
        }
        if let Some(v) = params.regex {
            q.push(format!("regex={v}"));
        }
        if let Some(v) = params.limit {
            q.push(format!("limit={v}"));
        }
        let path = format!("/admin/logs?{}", q.join("&"));
        let body = self.call(addr, Method::GET, &path, None).await?;
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::Refused(format!("{addr}/admin/logs: unexpected answer: {e}")))
    }

    /// The node's `kind` log of `date` (`YYYY-MM-DD`) as JSON lines; `None`
    /// when the node has no file of that day.
    pub async fn log_file(
        &self,
        addr: &str,
        kind: LogType,
        date: &str,
    ) -> Result<Option<Vec<u8>>, AdminError> {
        let path = format!("/admin/logs/file?type={kind}&date={}", encode(date));
        match self.call_status(addr, Method::GET, &path, None, MAX_FILE).await {
            Ok(body) => Ok(Some(body)),
            Err((Some(StatusCode::NOT_FOUND), _)) => Ok(None),
            Err((_, e)) => Err(e),
        }
    }

    /// The node's level directive.
    pub async fn log_level(&self, addr: &str) -> Result<String, AdminError> {
        let body = self.call(addr, Method::GET, "/admin/log-level", None).await?;
        level_of(addr, &body)
    }

    /// Sets the node's level directive; returns the one now in force.
    pub async fn set_log_level(&self, addr: &str, level: &str) -> Result<String, AdminError> {
        let body = serde_json::json!({ "level": level });
        let body = self.call(addr, Method::PUT, "/admin/log-level", Some(&body)).await?;
        level_of(addr, &body)
    }

    /// The node's new `kind` lines as it writes them, until the node ends
    /// the stream (after [`crate::logs::STREAM_FOR`]) or the caller drops it.
    pub async fn log_stream(
        &self,
        addr: &str,
        kind: LogType,
    ) -> Result<impl Stream<Item = LogLine> + Send + 'static, AdminError> {
        let url = format!("https://{addr}/admin/logs/stream?type={kind}");
        let req = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .body(Body::empty())
            .map_err(|e| AdminError::Refused(format!("{url}: {e}")))?;
        let resp = tokio::time::timeout(self.deadline, self.client.request(req))
            .await
            .map_err(|_| AdminError::Retry(format!("{url}: no answer within {:?}", self.deadline)))?
            .map_err(|e| AdminError::Retry(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(AdminError::Refused(format!("{url}: {}", resp.status())));
        }
        let chunks = Body::new(resp.into_body()).into_data_stream();
        let lines =
            futures_util::stream::unfold((chunks, Vec::<u8>::new()), |(mut chunks, mut buf)| async move {
                loop {
                    if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=nl).collect();
                        match serde_json::from_slice::<LogLine>(&line) {
                            Ok(l) => return Some((l, (chunks, buf))),
                            Err(_) => continue,
                        }
                    }
                    if buf.len() > MAX_LINE {
                        return None;
                    }
                    match chunks.next().await {
                        Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                        _ => return None,
                    }
                }
            });
        Ok(lines)
    }

    /// POSTs `body` to `path` on the node at `addr` (the leader).
    pub async fn post(&self, addr: &str, path: &str, body: &serde_json::Value) -> Result<(), AdminError> {
        self.call(addr, Method::POST, path, Some(body)).await.map(|_| ())
    }

    async fn call(
        &self,
        addr: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, AdminError> {
        self.call_status(addr, method, path, body, MAX_ANSWER).await.map_err(|(_, e)| e)
    }

    /// As `call`, with the status of a refusal.
    async fn call_status(
        &self,
        addr: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        max: usize,
    ) -> Result<Vec<u8>, (Option<StatusCode>, AdminError)> {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let url = format!("https://{addr}{path}");
        let reply = match self
            .client
            .exchange(method, &url, "application/json", body, Some(self.deadline), max)
            .await
        {
            Ok(reply) => reply,
            Err(e @ govchain_net::Error::Address(_)) => {
                return Err((None, AdminError::Refused(e.to_string())));
            }
            Err(e) => return Err((None, AdminError::Retry(e.to_string()))),
        };
        if reply.status.is_success() {
            return Ok(reply.body.to_vec());
        }
        let why = format!("{addr}{path}: {}: {}", reply.status, reply.excerpt(1000));
        let e =
            if reply.status.is_server_error() { AdminError::Retry(why) } else { AdminError::Refused(why) };
        Err((Some(reply.status), e))
    }
}
