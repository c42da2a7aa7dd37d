//! Talking to a chain's nodes: their status over the client API, and the
//! membership and policy endpoints of the leader's mutual-TLS peer listener.
//!
//! The platform calls those endpoints with an identity of its own, a node
//! certificate `CN=platform-admin` from the chain's operating CA kept in
//! `chains/<chain>/admin/` (the peer listener accepts any node certificate
//! of the chain), so no department's node key is borrowed for it.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_net::{ChainTrust, HttpsClient, Identity};
pub use govchain_node::admin::ConsensusMember;
use govchain_node::{
    admin::{AdminClient, AdminError},
    init::{NODE_CERT_DAYS, OPERATING_CERT_FILE, ROOT_CERT_FILE, write_private},
};
use govchain_pki::{ChainCa, IssueRequest, Validity};
use govchain_types::api::NodeStatus;

use crate::{ChainAccount, Error, Result};

/// The admin identity's directory inside the chain directory.
pub(crate) const ADMIN_DIR: &str = "admin";
/// `CN` of the platform's admin certificate.
pub(crate) const ADMIN_NAME: &str = "platform-admin";
/// `O` of the platform's admin certificate: the platform is no department.
pub(crate) const ADMIN_ORG: &str = "govchain-platform";
const KEY_FILE: &str = "key.pem";
const CERT_FILE: &str = "cert.pem";
/// Answer time allowed for one status query.
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long an admin call keeps looking for a leader that takes it.
const ADMIN_DEADLINE: Duration = Duration::from_secs(30);

/// Issues the platform's admin identity for a chain into `chain_dir/admin`.
pub(crate) fn issue_identity(chain_dir: &Path, ca: &ChainCa) -> Result<()> {
    let dir = chain_dir.join(ADMIN_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
    let key = PrivateKey::generate(ca.suite());
    let failed = |what: &str, e: &dyn std::fmt::Display| Error::Failed(format!("{what}: {e}"));
    let public = key.public_key().to_spki_pem().map_err(|e| failed("admin key", &e))?;
    let validity = Validity::days_from_now(NODE_CERT_DAYS).map_err(|e| failed("admin certificate", &e))?;
    let mut req = IssueRequest::node(ADMIN_NAME, ADMIN_ORG, public, validity);
    // A node certificate needs a SAN; the platform calls from loopback.
    req.ip_addresses = vec![std::net::Ipv4Addr::LOCALHOST.into()];
    let cert = ca.issue(&req).map_err(|e| failed("issuing the admin certificate", &e))?;
    let pem = key.to_pkcs8_pem().map_err(|e| failed("admin key", &e))?;
    write_private(&dir.join(KEY_FILE), &pem).map_err(|e| failed("admin key", &e))?;
    let path = dir.join(CERT_FILE);
    std::fs::write(&path, cert).map_err(|source| Error::Io { path, source })
}

/// The accounts' directory inside the chain directory: `accounts/<org>/`
/// holds `key.pem` (0600) and `cert.pem`.
pub(crate) const ACCOUNTS_DIR: &str = "accounts";
/// Validity of an account's certificate, days.
const ACCOUNT_CERT_DAYS: u32 = 825;

/// The account the platform holds for `org` on the chain in `chain_dir`,
/// made on first use: a fresh key and a user certificate `CN=contracts.<org>`,
/// `O=<org>` from the chain's operating CA. Two callers making it at once
/// both get the one that landed first (the directory appears whole, by a
/// rename).
pub(crate) fn account(chain_dir: &Path, suite: Suite, org: &str) -> Result<ChainAccount> {
    let dir = chain_dir.join(ACCOUNTS_DIR).join(org);
    let read =
        |p: &Path| std::fs::read_to_string(p).map_err(|source| Error::Io { path: p.to_owned(), source });
    if !dir.exists() {
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Failed(format!("{what}: {e}"));
        let ca = govchain_node::init::load_chain_ca(&chain_dir.join(govchain_node::init::CA_DIR), suite)
            .map_err(|e| failed("the chain CA", &e))?;
        let key = PrivateKey::generate(suite);
        let public = key.public_key().to_spki_pem().map_err(|e| failed("account key", &e))?;
        let validity =
            Validity::days_from_now(ACCOUNT_CERT_DAYS).map_err(|e| failed("account certificate", &e))?;
        let req = IssueRequest::user(format!("contracts.{org}"), org, public, validity);
        let cert = ca.issue(&req).map_err(|e| failed("issuing the account certificate", &e))?;
        let pem = key.to_pkcs8_pem().map_err(|e| failed("account key", &e))?;
        let parent = chain_dir.join(ACCOUNTS_DIR);
        std::fs::create_dir_all(&parent).map_err(|source| Error::Io { path: parent.clone(), source })?;
        // A name of this call's own: two calls of one process making the
        // account at once must not share (and remove) each other's.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = parent.join(format!(".{org}.{}.{call}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp).map_err(|source| Error::Io { path: tmp.clone(), source })?;
        write_private(&tmp.join(KEY_FILE), &pem).map_err(|e| failed("account key", &e))?;
        let cert_path = tmp.join(CERT_FILE);
        std::fs::write(&cert_path, cert).map_err(|source| Error::Io { path: cert_path, source })?;
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another caller made it first: theirs is the account.
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    Ok(ChainAccount { key_pem: read(&dir.join(KEY_FILE))?, cert_pem: read(&dir.join(CERT_FILE))? })
}

/// The platform's client of one chain's peer listeners.
pub(crate) struct Admin {
    client: AdminClient,
}

impl Admin {
    /// Reads the admin identity and the chain's CA certificates.
    pub(crate) fn load(chain_dir: &Path, suite: Suite) -> Result<Admin> {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|source| Error::Io { path: p.to_owned(), source });
        let ca = chain_dir.join(govchain_node::init::CA_DIR);
        let admin = chain_dir.join(ADMIN_DIR);
        let failed = |what: &str, e: govchain_net::Error| Error::Failed(format!("{what}: {e}"));
        let trust =
            ChainTrust::new(suite, &read(&ca.join(ROOT_CERT_FILE))?, &read(&ca.join(OPERATING_CERT_FILE))?)
                .map_err(|e| failed("chain CA", e))?;
        let identity =
            Identity::from_pem(&read(&admin.join(KEY_FILE))?, &read(&admin.join(CERT_FILE))?, &trust)
                .map_err(|e| failed("platform admin identity", e))?;
        let config = govchain_net::client_config(&identity, &trust).map_err(|e| failed("TLS client", e))?;
        Ok(Admin { client: AdminClient::new(HttpsClient::new(config), ADMIN_DEADLINE) })
    }

    /// POSTs `body` to `path` on the leader, which `leader` finds (as its
    /// peer address); retries while leadership moves, up to 30 s.
    pub(crate) async fn post<F, Fut>(&self, leader: F, path: &str, body: serde_json::Value) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        let deadline = Instant::now() + ADMIN_DEADLINE;
        loop {
            let why = match leader().await {
                Ok(addr) => match self.client.post(&addr, path, &body).await {
                    Ok(()) => return Ok(()),
                    Err(AdminError::Refused(m)) => return Err(Error::Failed(m)),
                    Err(AdminError::Retry(m)) => m,
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "{path}: no leader took it within {ADMIN_DEADLINE:?}: {why}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The consensus members as the node at `addr` knows them.
    pub(crate) async fn members(&self, addr: &str) -> Result<Vec<ConsensusMember>> {
        self.client.members(addr).await.map_err(|e| Error::Failed(format!("members: {e}")))
    }
}

/// A node's status within [`STATUS_TIMEOUT`], or `None`.
pub(crate) async fn node_status(api_url: &str) -> Option<NodeStatus> {
    let client = govchain_sdk::Client::new(api_url).ok()?;
    tokio::time::timeout(STATUS_TIMEOUT, client.status()).await.ok()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls of one process making an organization's account at once all
    /// get the one account (they once shared a scratch directory, and
    /// one call's cleanup failed another's write).
    #[test]
    fn concurrent_callers_get_the_same_account() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join(govchain_node::init::CA_DIR);
        govchain_node::init::create_chain_ca(&ca_dir, Suite::Gm, "c1", "a.gov").unwrap();
        for round in 0..4 {
            let org = format!("org{round}.gov");
            let keys: Vec<String> = std::thread::scope(|s| {
                let calls: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| account(dir.path(), Suite::Gm, &org).map(|a| a.key_pem)))
                    .collect();
                calls.into_iter().map(|c| c.join().unwrap().unwrap()).collect()
            });
            assert!(keys.iter().all(|k| k == &keys[0]), "{org}: different accounts");
            let left: Vec<_> = std::fs::read_dir(dir.path().join(ACCOUNTS_DIR))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(left.is_empty(), "scratch directories left: {left:?}");
        }
    }
}
