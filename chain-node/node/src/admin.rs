//! The client side of the membership and policy endpoints a node serves on
//! its mutual-TLS peer listener (`/admin/members`, `/admin/learner`,
//! `/admin/promote`, `/admin/remove`, `/admin/policy`): what the platform's
//! local driver and the Kubernetes operator call, each with an admin
//! identity issued by the chain's CA.

use std::time::Duration;

use axum::{body::Body, http::Method};
use govchain_net::HttpsClient;
use serde::{Deserialize, Serialize};

/// The most of an admin answer read.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

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
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let url = format!("https://{addr}{path}");
        let reply = match self
            .client
            .exchange(method, &url, "application/json", body, Some(self.deadline), MAX_ANSWER)
            .await
        {
            Ok(reply) => reply,
            Err(e @ govchain_net::Error::Address(_)) => return Err(AdminError::Refused(e.to_string())),
            Err(e) => return Err(AdminError::Retry(e.to_string())),
        };
        if reply.status.is_success() {
            return Ok(reply.body.to_vec());
        }
        let why = format!("{addr}{path}: {}: {}", reply.status, reply.excerpt(1000));
        Err(if reply.status.is_server_error() { AdminError::Retry(why) } else { AdminError::Refused(why) })
    }
}
