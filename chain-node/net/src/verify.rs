//! The rustls certificate verifiers: the chain's CA instead of webpki roots, the suite's
//! handshake signature scheme instead of rustls' own algorithms.

use std::{
    net::IpAddr,
    time::{Duration, UNIX_EPOCH},
};

use govchain_crypto::PublicKey;
use govchain_pki::CertKind;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, PeerMisbehaved, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};

use crate::{
    PeerIdentity,
    identity::{ChainTrust, Refusal, der_to_pem},
    scheme,
};

/// Verifies peers against one chain's CA; used as both the client's server verifier and the
/// server's client verifier.
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    trust: ChainTrust,
    /// Certificate kinds accepted from the peer.
    kinds: Vec<CertKind>,
}

impl ChainVerifier {
    pub(crate) fn new(trust: ChainTrust, kinds: &[CertKind]) -> Self {
        Self { trust, kinds: kinds.to_vec() }
    }

    fn verify_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        now: UnixTime,
    ) -> Result<PeerIdentity, rustls::Error> {
        let at = UNIX_EPOCH + Duration::from_secs(now.as_secs());
        self.trust.verify_der(end_entity, at, &self.kinds).map_err(|refusal| {
            tracing::info!(target: "govchain::net", ?refusal, "refused peer certificate");
            rustls::Error::InvalidCertificate(certificate_error(refusal))
        })
    }

    fn verify_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let scheme = scheme::scheme_for(self.trust.suite());
        if dss.scheme != scheme {
            return Err(rustls::Error::PeerMisbehaved(
                PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        // The certificate was verified just before; this reads its key again.
        let key = der_to_pem(cert)
            .and_then(|pem| govchain_pki::parse(&pem))
            .ok()
            .and_then(|info| PublicKey::from_spki_der(&info.public_key_der).ok())
            .ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if scheme::verify(&key, scheme, message, dss.signature()) {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature))
        }
    }
}

/// Maps a refusal to the rustls error whose alert tells the peer why.
fn certificate_error(refusal: Refusal) -> CertificateError {
    use govchain_pki::Error as Pki;
    match refusal {
        Refusal::Kind(_) => CertificateError::InvalidPurpose,
        Refusal::Revoked(_) => CertificateError::Revoked,
        Refusal::Pki(Pki::Expired(_)) => CertificateError::Expired,
        Refusal::Pki(Pki::NotYetValid(_)) => CertificateError::NotValidYet,
        Refusal::Pki(Pki::BadSignature(_)) => CertificateError::BadSignature,
        Refusal::Pki(Pki::ChainMismatch(_) | Pki::SuiteMismatch { .. }) => CertificateError::UnknownIssuer,
        Refusal::Pki(Pki::Malformed(_) | Pki::Key(_)) => CertificateError::BadEncoding,
        Refusal::Pki(other) => CertificateError::Other(rustls::OtherError(std::sync::Arc::new(other))),
    }
}

/// Whether a server certificate answers to the name the client dialed: an IP address must be
/// one of the certificate's IP SANs; a DNS-style name one of its DNS SANs (ASCII
/// case-insensitive, no wildcards: govchain-pki issues none) or its `CN`, the node id.
fn name_matches(peer: &PeerIdentity, name: &ServerName<'_>) -> bool {
    match name {
        ServerName::IpAddress(ip) => peer.ip_addresses.contains(&IpAddr::from(*ip)),
        ServerName::DnsName(dns) => {
            let dns = dns.as_ref();
            peer.dns_names.iter().any(|san| san.eq_ignore_ascii_case(dns))
                || peer.common_name.eq_ignore_ascii_case(dns)
        }
        _ => false,
    }
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer = self.verify_cert(end_entity, now)?;
        if !name_matches(&peer, server_name) {
            tracing::info!(
                target: "govchain::net",
                expected = ?server_name,
                common_name = %peer.common_name,
                "server certificate is for another node"
            );
            let mut presented = peer.dns_names.clone();
            presented.extend(peer.ip_addresses.iter().map(ToString::to_string));
            presented.push(format!("CN={}", peer.common_name));
            return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: server_name.to_owned(),
                presented,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The configurations allow TLS 1.3 only; rustls never gets here.
        Err(rustls::Error::General("TLS 1.2 is not enabled".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![scheme::scheme_for(self.trust.suite())]
    }
}

impl ClientCertVerifier for ChainVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a node has exactly one certificate to offer.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify_cert(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls12_signature(self, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![scheme::scheme_for(self.trust.suite())]
    }
}
