//! Talking to a chain's nodes: their status over the client API (plain HTTP
//! on the pod IP) and the membership endpoints of the leader's mutual-TLS
//! peer listener, called with the operator's own node certificate (Secret
//! `<namespace>.<chain>-admin` in the CA namespace). The peer names (`<pod>.<chain>-peers.<ns>.svc...`) are
//! what the nodes' certificates answer to; they are dialed at the pod IPs
//! read from the API, so the operator needs no cluster DNS.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use govchain_crypto::Suite;
use govchain_net::{ChainTrust, HttpsClient, Identity};
use govchain_node::admin::AdminClient;
pub use govchain_node::admin::ConsensusMember;
use govchain_types::{BlockPolicy, api::NodeStatus};

use crate::{Error, Result, names};

/// Answer time allowed for one status query.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);
/// Answer time allowed for one membership call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(20);

/// A node's status within [`STATUS_TIMEOUT`], or `None`.
pub async fn status(http: &reqwest::Client, ip: &str) -> Option<NodeStatus> {
    let url = format!("http://{ip}:{}/v1/status", names::API_PORT);
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// The block policy the node at `ip` applies (`GET /v1/policy`), or `None`.
pub async fn policy(http: &reqwest::Client, ip: &str) -> Option<BlockPolicy> {
    let url = format!("http://{ip}:{}/v1/policy", names::API_PORT);
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

/// The operator's client of one chain's peer listeners.
#[derive(Debug, Clone)]
pub struct Admin {
    client: AdminClient,
}

impl Admin {
    /// A client presenting the operator's identity for the chain (the data of
    /// its admin Secret) and trusting the chain CA (the CA Secret's
    /// certificates); `addresses` maps peer host names to pod IPs.
    pub fn from_secrets(
        suite: Suite,
        ca: &BTreeMap<String, String>,
        admin: &BTreeMap<String, String>,
        addresses: BTreeMap<String, SocketAddr>,
    ) -> Result<Admin> {
        let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
        let failed = |what: &str, e: govchain_net::Error| Error::Pki(format!("{what}: {e}"));
        let trust = ChainTrust::new(suite, &get(ca, names::ROOT_CERT), &get(ca, names::OPERATING_CERT))
            .map_err(|e| failed("chain CA", e))?;
        let identity =
            Identity::from_pem(&get(admin, names::ADMIN_KEY), &get(admin, names::ADMIN_CERT), &trust)
                .map_err(|e| failed("operator identity", e))?;
        let config = govchain_net::client_config(&identity, &trust).map_err(|e| failed("TLS client", e))?;
        let client = HttpsClient::with_resolver(config, move |host| addresses.get(host).copied());
        Ok(Admin { client: AdminClient::new(client, ADMIN_TIMEOUT) })
    }

    /// The consensus members as the node at `addr` (`host:port`) knows them.
    pub async fn members(&self, addr: &str) -> Result<Vec<ConsensusMember>> {
        self.client.members(addr).await.map_err(|e| Error::Node(e.to_string()))
    }

    /// POSTs `body` to `path` on the node at `addr` (the leader).
    pub async fn post(&self, addr: &str, path: &str, body: serde_json::Value) -> Result<()> {
        self.client.post(addr, path, &body).await.map_err(|e| Error::Node(e.to_string()))
    }
}
