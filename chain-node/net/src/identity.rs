//! Who we are ([`Identity`]), whom we trust ([`ChainTrust`]) and who the peer turned out to be
//! ([`PeerIdentity`]).

use std::{fmt, sync::Arc, time::SystemTime};

use der::pem::LineEnding;
use govchain_crypto::PublicKey;
use govchain_pki::{CertInfo, CertKind, Suite};
use rustls::{CommonState, pki_types::CertificateDer, sign::CertifiedKey};

use crate::{Error, Result, scheme::TlsKey};

/// The certificates a chain's TLS endpoints trust: the chain's root CA and its operating
/// CA(s). Cheap to clone.
///
/// A peer certificate is accepted when [`govchain_pki::verify_chain`] accepts it under the
/// root and one of the operating CAs given here, at the time of the handshake. Intermediates
/// the peer sends are ignored: only operating CAs configured here count.
#[derive(Clone)]
pub struct ChainTrust(Arc<TrustInner>);

/// Says whether a verified peer certificate has been revoked (see [`ChainTrust::with_revocation`]).
pub type RevocationCheck = Arc<dyn Fn(&PeerIdentity) -> bool + Send + Sync>;

#[derive(Clone)]
struct TrustInner {
    suite: Suite,
    root_pem: String,
    /// Operating CA certificates as PEM (for `verify_chain`) and DER (to send as the
    /// intermediate of our own chain).
    operating: Vec<(String, CertificateDer<'static>)>,
    revoked: Option<RevocationCheck>,
}

impl fmt::Debug for ChainTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainTrust")
            .field("suite", &self.0.suite)
            .field("operating_cas", &self.0.operating.len())
            .field("revocation_check", &self.0.revoked.is_some())
            .finish_non_exhaustive()
    }
}

impl ChainTrust {
    /// Trusts the chain with root CA `root_pem` and operating CA `operating_pem` (the
    /// `ca/root.pem` and `ca/operating.pem` that `govchain-node init` writes). Both must be
    /// CA certificates of `suite`; the signatures linking them are checked on every handshake.
    pub fn new(suite: Suite, root_pem: &str, operating_pem: &str) -> Result<Self> {
        check_ca(suite, root_pem, "root")?;
        let operating = operating_entry(suite, operating_pem)?;
        Ok(Self(Arc::new(TrustInner {
            suite,
            root_pem: root_pem.to_owned(),
            operating: vec![operating],
            revoked: None,
        })))
    }

    /// Also trusts certificates issued by another operating CA of the same root, e.g. the
    /// previous one while nodes move to certificates of a rotated operating CA.
    pub fn with_operating(self, operating_pem: &str) -> Result<Self> {
        let entry = operating_entry(self.0.suite, operating_pem)?;
        let mut inner = (*self.0).clone();
        inner.operating.push(entry);
        Ok(Self(Arc::new(inner)))
    }

    /// Refuses, at handshake time, peers for which `is_revoked` says yes (the node backs it
    /// with the chain's revocation state, e.g. a set of [`PeerIdentity::serial`]s). It runs
    /// after the chain verified, on every handshake (resumption is off), so it must be
    /// cheap. Connections made before a revocation are the caller's to drop.
    pub fn with_revocation(self, is_revoked: impl Fn(&PeerIdentity) -> bool + Send + Sync + 'static) -> Self {
        let mut inner = (*self.0).clone();
        inner.revoked = Some(Arc::new(is_revoked));
        Self(Arc::new(inner))
    }

    /// The chain's crypto suite.
    pub fn suite(&self) -> Suite {
        self.0.suite
    }

    /// Verifies a peer certificate (DER) as the TLS verifiers do: issued by this chain's CA,
    /// valid at `at`, and of one of `kinds`. Returns what the certificate says.
    pub fn verify_peer(&self, cert_der: &[u8], at: SystemTime, kinds: &[CertKind]) -> Result<PeerIdentity> {
        match self.verify_der(cert_der, at, kinds) {
            Ok(peer) => Ok(peer),
            Err(Refusal::Pki(e)) => Err(Error::Pki(e)),
            Err(Refusal::Kind(kind)) => {
                Err(Error::Identity(format!("a {kind} certificate is not accepted here")))
            }
            Err(Refusal::Revoked(serial)) => Err(Error::Identity(format!("certificate {serial} is revoked"))),
        }
    }

    /// The check behind the TLS verifiers; the refusal keeps its cause for the TLS alert.
    pub(crate) fn verify_der(
        &self,
        cert_der: &[u8],
        at: SystemTime,
        kinds: &[CertKind],
    ) -> Result<PeerIdentity, Refusal> {
        let pem = der_to_pem(cert_der).map_err(Refusal::Pki)?;
        let mut refusal = None;
        for (operating_pem, _) in &self.0.operating {
            match govchain_pki::verify_chain(self.0.suite, &pem, operating_pem, &self.0.root_pem, at) {
                Ok(info) if !kinds.contains(&info.kind) => return Err(Refusal::Kind(info.kind)),
                Ok(info) => {
                    let peer = PeerIdentity::from(info);
                    if self.0.revoked.as_ref().is_some_and(|is_revoked| is_revoked(&peer)) {
                        return Err(Refusal::Revoked(peer.serial));
                    }
                    return Ok(peer);
                }
                Err(e) => {
                    // With several operating CAs, a time error is the most telling: it comes
                    // from the operating CA whose signatures did verify.
                    let telling =
                        matches!(e, govchain_pki::Error::Expired(_) | govchain_pki::Error::NotYetValid(_));
                    if telling || refusal.is_none() {
                        refusal = Some(e);
                    }
                    if telling {
                        break;
                    }
                }
            }
        }
        Err(Refusal::Pki(
            refusal
                .unwrap_or_else(|| govchain_pki::Error::ChainMismatch("no operating CA is trusted".into())),
        ))
    }
}

/// Why a peer certificate was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    Pki(govchain_pki::Error),
    Kind(CertKind),
    /// The serial of a revoked certificate.
    Revoked(String),
}

fn check_ca(suite: Suite, pem: &str, what: &str) -> Result<CertInfo> {
    let info = govchain_pki::parse(pem)?;
    if info.suite != suite {
        return Err(Error::Identity(format!(
            "the {what} CA certificate is {}, the chain is {suite}",
            info.suite
        )));
    }
    if info.kind != CertKind::Ca {
        return Err(Error::Identity(format!("the {what} CA certificate is a {} certificate", info.kind)));
    }
    Ok(info)
}

fn operating_entry(suite: Suite, pem: &str) -> Result<(String, CertificateDer<'static>)> {
    check_ca(suite, pem, "operating")?;
    Ok((pem.to_owned(), CertificateDer::from(pem_to_der(pem)?)))
}

pub(crate) fn der_to_pem(der: &[u8]) -> Result<String, govchain_pki::Error> {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)
        .map_err(|e| govchain_pki::Error::Malformed(format!("cannot PEM-encode: {e}")))
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    let (_, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| govchain_pki::Error::Malformed(format!("not PEM: {e}")))?;
    Ok(der)
}

/// A node's (or user's) TLS identity: its private key and its certificate from the chain's
/// operating CA, sent along with that operating CA's certificate. Cheap to clone; `Debug`
/// never shows the key.
#[derive(Clone)]
pub struct Identity {
    certified: Arc<CertifiedKey>,
    info: CertInfo,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("kind", &self.info.kind)
            .field("common_name", &self.info.common_name)
            .field("organization", &self.info.organization)
            .field("serial", &self.info.serial)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Reads the PKCS#8 key (`key.pem`) and certificate (`node-cert.pem`) of a node or user.
    ///
    /// Refuses a certificate that is not of `trust`'s suite, is a CA certificate, certifies
    /// another key, or is not signed by one of `trust`'s operating CAs (so a tampered or
    /// foreign certificate fails here, not at the first handshake). A certificate outside its
    /// validity window is loaded with a warning: peers will refuse it, and saying so is
    /// theirs to do.
    pub fn from_pem(key_pem: &str, cert_pem: &str, trust: &ChainTrust) -> Result<Self> {
        let info = govchain_pki::parse(cert_pem)?;
        let suite = trust.suite();
        if info.suite != suite {
            return Err(Error::Identity(format!("the certificate is {}, the chain is {suite}", info.suite)));
        }
        if info.kind == CertKind::Ca {
            return Err(Error::Identity("a CA certificate is no TLS identity".into()));
        }
        let (key, public) = TlsKey::from_pkcs8_pem(key_pem)?;
        if public != PublicKey::from_spki_der(&info.public_key_der)? {
            return Err(Error::Identity("the key does not belong to the certificate".into()));
        }

        let now = SystemTime::now();
        let mut refusal = None;
        let mut issuer = None;
        for (operating_pem, operating_der) in &trust.0.operating {
            match govchain_pki::verify_chain(suite, cert_pem, operating_pem, &trust.0.root_pem, now) {
                Ok(_) => {}
                // Time errors come only after every signature checked out.
                Err(e @ (govchain_pki::Error::Expired(_) | govchain_pki::Error::NotYetValid(_))) => {
                    tracing::warn!(
                        target: "govchain::net",
                        common_name = %info.common_name,
                        error = %e,
                        "TLS identity is not valid now; peers will refuse it"
                    );
                }
                Err(e) => {
                    refusal = Some(e);
                    continue;
                }
            }
            issuer = Some(operating_der.clone());
            break;
        }
        let Some(issuer) = issuer else {
            let why = refusal.map_or_else(String::new, |e| format!(": {e}"));
            return Err(Error::Identity(format!("the certificate is not issued by this chain's CA{why}")));
        };
        let chain = vec![CertificateDer::from(pem_to_der(cert_pem)?), issuer];
        Ok(Self { certified: Arc::new(CertifiedKey::new(chain, Arc::new(key))), info })
    }

    /// What the identity's certificate says (node id in `common_name`, `organization`, ...).
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// Node or user.
    pub fn kind(&self) -> CertKind {
        self.info.kind
    }

    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }
}

/// The authenticated peer of a connection, read from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Node or user.
    pub kind: CertKind,
    /// Subject `CN`: the node id (or user name).
    pub common_name: String,
    /// Subject `O`: the organization (department) the peer belongs to.
    pub organization: String,
    /// Certificate serial number, lowercase hex (what revocation lists name).
    pub serial: String,
    /// End of the certificate's validity.
    pub not_after: SystemTime,
    /// The peer's public key as SPKI DER.
    pub public_key_der: Vec<u8>,
    /// subjectAltName DNS names (nodes only).
    pub dns_names: Vec<String>,
    /// subjectAltName IP addresses (nodes only).
    pub ip_addresses: Vec<std::net::IpAddr>,
}

impl PeerIdentity {
    /// The node id, if the peer is a node.
    pub fn node_id(&self) -> Option<&str> {
        (self.kind == CertKind::Node).then_some(self.common_name.as_str())
    }
}

impl From<CertInfo> for PeerIdentity {
    fn from(info: CertInfo) -> Self {
        Self {
            kind: info.kind,
            common_name: info.common_name,
            organization: info.organization,
            serial: info.serial,
            not_after: info.not_after,
            public_key_der: info.public_key_der,
            dns_names: info.dns_names,
            ip_addresses: info.ip_addresses,
        }
    }
}

/// The peer of a finished handshake on a connection made with this crate's configurations
/// (which verified the certificate during the handshake); `None` before the handshake
/// completes or when the peer presented no certificate. Takes a `rustls::ServerConnection` or
/// `ClientConnection` (both deref to `CommonState`), e.g. `stream.get_ref().1` of a
/// `tokio_rustls` stream.
pub fn peer_identity(conn: &CommonState) -> Option<PeerIdentity> {
    let leaf = conn.peer_certificates()?.first()?;
    let pem = der_to_pem(leaf).ok()?;
    govchain_pki::parse(&pem).ok().map(PeerIdentity::from)
}
