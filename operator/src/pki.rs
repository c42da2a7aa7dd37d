//! The chain CA and node certificates as Secret data (pure: no API calls).

use std::{collections::BTreeMap, time::Duration};

use govchain_crypto::{PrivateKey, Suite};
use govchain_node::init::{OPERATING_CA_DAYS, ROOT_CA_DAYS};
use govchain_pki::{ChainCa, IssueRequest, Validity};

use crate::{Error, Result, names};

/// Longest chain id that fits the CA's common name (as `govchain_node::init`).
const MAX_CA_NAME: usize = 51;

fn pki(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Pki(format!("{what}: {e}"))
}

/// A new chain CA as the CA Secret's data (root and operating certificate
/// and keys).
pub fn new_ca(suite: Suite, chain_id: &str, organization: &str) -> Result<BTreeMap<String, String>> {
    let name: String = chain_id.chars().take(MAX_CA_NAME).collect();
    let root = Validity::days_from_now(ROOT_CA_DAYS).map_err(|e| pki("root CA validity", e))?;
    // Derived from the root's window, so it lies inside it whatever the clock does.
    let operating = Validity::new(
        root.not_before(),
        root.not_before() + Duration::from_secs(u64::from(OPERATING_CA_DAYS) * 86_400),
    )
    .map_err(|e| pki("operating CA validity", e))?;
    let (ca, root_key) = ChainCa::create(suite, &name, organization, root, operating)
        .map_err(|e| pki("creating the chain CA", e))?;
    Ok(BTreeMap::from([
        (names::ROOT_CERT.into(), ca.root_cert_pem().to_owned()),
        (names::OPERATING_CERT.into(), ca.operating_cert_pem().to_owned()),
        (names::OPERATING_KEY.into(), String::clone(&ca.operating().key_pem)),
        (names::ROOT_KEY.into(), root_key.pem().to_owned()),
    ]))
}

/// Loads the online CA from the CA Secret's data.
pub fn load_ca(suite: Suite, data: &BTreeMap<String, String>) -> Result<ChainCa> {
    let get = |k: &str| data.get(k).ok_or_else(|| Error::Pki(format!("the CA Secret lacks `{k}`")));
    ChainCa::load(suite, get(names::ROOT_CERT)?, get(names::OPERATING_CERT)?, get(names::OPERATING_KEY)?)
        .map_err(|e| pki("loading the chain CA", e))
}

/// What a node certificate says.
#[derive(Debug, Clone)]
pub struct NodeCertRequest<'a> {
    /// CN: the node id.
    pub node_id: &'a str,
    /// O.
    pub organization: &'a str,
    /// DNS SANs (the names peers dial).
    pub dns_names: Vec<String>,
    /// Validity in days.
    pub validity_days: u32,
}

/// Issues a certificate for `key_pem` (an existing key: renewal keeps it).
pub fn issue_for_key(ca: &ChainCa, key_pem: &str, req: &NodeCertRequest<'_>) -> Result<String> {
    let key = PrivateKey::from_pkcs8_pem(key_pem).map_err(|e| pki("node key", e))?;
    let public = key.public_key().to_spki_pem().map_err(|e| pki("node key", e))?;
    let validity =
        Validity::days_from_now(req.validity_days).map_err(|e| pki("node certificate validity", e))?;
    let mut issue = IssueRequest::node(req.node_id, req.organization, public, validity);
    issue.dns_names = req.dns_names.clone();
    ca.issue(&issue).map_err(|e| pki("issuing a node certificate", e))
}

/// A new key and its certificate: `(key_pem, cert_pem)`.
pub fn issue_new(ca: &ChainCa, req: &NodeCertRequest<'_>) -> Result<(String, String)> {
    let key = PrivateKey::try_generate(ca.suite()).map_err(|e| pki("generating a node key", e))?;
    let key_pem = key.to_pkcs8_pem().map_err(|e| pki("encoding a node key", e))?;
    let cert = issue_for_key(ca, &key_pem, req)?;
    Ok((key_pem, cert))
}

/// The notAfter of a certificate as Unix seconds.
pub fn not_after(cert_pem: &str) -> Result<u64> {
    let info = govchain_pki::parse(cert_pem).map_err(|e| pki("reading a node certificate", e))?;
    Ok(info.not_after.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// The genesis `consensus_key` of the node a certificate is issued to: hex
/// of the SEC1 point of its public key (the node's own key, which signs its
/// blocks and votes), checked to be of `suite`.
pub fn consensus_key(cert_pem: &str, suite: Suite) -> Result<String> {
    let info = govchain_pki::parse(cert_pem).map_err(|e| pki("reading a node certificate", e))?;
    let key = govchain_crypto::PublicKey::from_spki_der(&info.public_key_der)
        .map_err(|e| pki("reading a node certificate's key", e))?;
    if key.suite() != suite {
        return Err(Error::Pki(format!(
            "the certificate of {} holds a key for {}, not for {suite}",
            info.common_name,
            key.suite()
        )));
    }
    Ok(govchain_node::config::Member::key_hex(&key))
}

/// Parses a suite name from the CRD.
pub fn suite(name: &str) -> Result<Suite> {
    Suite::ALL
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| Error::Invalid(format!("unknown crypto suite `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_round_trips_and_renewal_keeps_the_key() {
        let data = new_ca(Suite::IntlR1, "city-ledger", "dept-a").unwrap();
        let ca = load_ca(Suite::IntlR1, &data).unwrap();
        let req = NodeCertRequest {
            node_id: "c-core-0.dept-a",
            organization: "dept-a",
            dns_names: vec!["c-core-0.c-peers.dept-a.svc.cluster.local".into()],
            validity_days: 30,
        };
        let (key, cert) = issue_new(&ca, &req).unwrap();
        let first = govchain_pki::parse(&cert).unwrap();
        assert_eq!(first.common_name, "c-core-0.dept-a");
        assert_eq!(first.dns_names, req.dns_names);
        let renewed = govchain_pki::parse(&issue_for_key(&ca, &key, &req).unwrap()).unwrap();
        assert_eq!(renewed.public_key_pem, first.public_key_pem);
        assert_ne!(renewed.serial, first.serial);
        assert!(not_after(&cert).unwrap() > 0);
        // The genesis names the node by the key behind its certificate, and
        // renewal keeps it.
        let node = PrivateKey::from_pkcs8_pem(&key).unwrap().public_key();
        let hex = consensus_key(&cert, Suite::IntlR1).unwrap();
        assert_eq!(hex, govchain_node::config::Member::key_hex(&node));
        assert_eq!(consensus_key(&issue_for_key(&ca, &key, &req).unwrap(), Suite::IntlR1).unwrap(), hex);
        let e = consensus_key(&cert, Suite::Gm).unwrap_err().to_string();
        assert!(e.contains("holds a key for intl-r1, not for gm"), "{e}");
        assert!(consensus_key("not a certificate", Suite::IntlR1).is_err());
    }
}
