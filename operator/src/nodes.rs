//! Talking to a chain's nodes: their status over the client API (plain HTTP
//! on the pod IP) and the membership endpoints of the leader's mutual-TLS
//! peer listener, called with the operator's own node certificate (Secret
//! `<chain>-admin`). The peer names (`<pod>.<chain>-peers.<ns>.svc...`) are
//! what the nodes' certificates answer to; they are dialed at the pod IPs
//! read from the API, so the operator needs no cluster DNS.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use axum::{body::Body, http::Method};
use govchain_crypto::Suite;
use govchain_net::{ChainTrust, HttpsClient, Identity};
use govchain_types::api::NodeStatus;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, names};

/// Answer time allowed for one status query.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);
/// Answer time allowed for one membership call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a node's admin answer read.
const MAX_ANSWER: usize = 4 * 1024 * 1024;
const JSON: &str = "application/json";

/// A node's status within [`STATUS_TIMEOUT`], or `None`.
pub async fn status(http: &reqwest::Client, ip: &str) -> Option<NodeStatus> {
    let url = format!("http://{ip}:{}/v1/status", names::API_PORT);
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Hex id of the genesis block (block 0) as the node at `ip` has it.
pub async fn genesis_hash(http: &reqwest::Client, ip: &str) -> Option<String> {
    let url = format!("http://{ip}:{}/v1/blocks/0", names::API_PORT);
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body: serde_json::Value = resp.json().await.ok()?;
    body.get("id")?.as_str().map(str::to_owned)
}

/// A consensus member as the leader reports it (`/admin/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusMember {
    /// Raft id.
    pub id: u64,
    /// Node name.
    pub name: String,
    /// Peer address.
    pub addr: String,
    /// `voter` or `learner`.
    #[serde(default)]
    pub role: String,
}

/// The operator's client of one chain's peer listeners.
#[derive(Debug, Clone)]
pub struct Admin {
    client: HttpsClient,
}

impl Admin {
    /// A client presenting the admin identity (`key_pem`, `cert_pem`) and
    /// trusting the chain CA; `addresses` maps peer host names to pod IPs.
    pub fn new(
        suite: Suite,
        root_pem: &str,
        operating_pem: &str,
        key_pem: &str,
        cert_pem: &str,
        addresses: BTreeMap<String, SocketAddr>,
    ) -> Result<Admin> {
        let failed = |what: &str, e: govchain_net::Error| Error::Pki(format!("{what}: {e}"));
        let trust = ChainTrust::new(suite, root_pem, operating_pem).map_err(|e| failed("chain CA", e))?;
        let identity =
            Identity::from_pem(key_pem, cert_pem, &trust).map_err(|e| failed("operator identity", e))?;
        let config = govchain_net::client_config(&identity, &trust).map_err(|e| failed("TLS client", e))?;
        let client = HttpsClient::with_resolver(config, move |host| addresses.get(host).copied());
        Ok(Admin { client })
    }

    /// The consensus members as the node at `addr` (`host:port`) knows them.
    pub async fn members(&self, addr: &str) -> Result<Vec<ConsensusMember>> {
        let body = self.call(addr, Method::GET, "/admin/members", None).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Node(format!("members: unexpected answer: {e}")))
    }

    /// POSTs `body` to `path` on the node at `addr` (the leader).
    pub async fn post(&self, addr: &str, path: &str, body: serde_json::Value) -> Result<()> {
        self.call(addr, Method::POST, path, Some(&body)).await.map(|_| ())
    }

    async fn call(
        &self,
        addr: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>> {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let reply = self
            .client
            .exchange(method, &format!("https://{addr}{path}"), JSON, body, Some(ADMIN_TIMEOUT), MAX_ANSWER)
            .await
            .map_err(|e| Error::Node(e.to_string()))?;
        if reply.status.is_success() {
            return Ok(reply.body.to_vec());
        }
        Err(Error::Node(format!("{addr}{path}: {}: {}", reply.status, reply.excerpt(1000))))
    }
}
