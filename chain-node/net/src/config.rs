//! rustls configurations for a chain, and one-shot handshakes over TCP.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use govchain_pki::{CertKind, Suite};
use rustls::{
    ClientConfig, ServerConfig,
    client::Resumption,
    crypto::{CryptoProvider, ring},
    pki_types::ServerName,
    server::NoServerSessionStorage,
    sign::SingleCertAndKey,
};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use crate::{
    ChainTrust, Error, Identity, PeerIdentity, Result, identity::peer_identity, verify::ChainVerifier,
};

/// How long [`accept`] and [`connect`] (and so [`crate::TlsListener`] and
/// [`crate::HttpsClient`]) wait for a TLS handshake to finish.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// ALPN protocols both sides offer, HTTP/2 first (node-to-node traffic is HTTP/2).
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider of a chain's TLS configurations.
///
/// - `gm`: RFC 8998 only — the `TLS_SM4_GCM_SM3` cipher suite and ECDHE over `curveSM2`
///   ([`crate::TLS13_SM4_GCM_SM3`], [`crate::CURVE_SM2`]), so no non-SM algorithm protects
///   a gm chain's traffic;
/// - `intl-k1`, `intl-r1`: `ring`'s TLS 1.3 cipher suites (AES-128-GCM, AES-256-GCM,
///   ChaCha20-Poly1305) and key exchange groups (X25519, P-256, P-384).
///
/// Certificate and handshake signatures do not go through the provider: this crate's
/// verifiers and signing keys handle them per suite.
pub fn crypto_provider(suite: Suite) -> CryptoProvider {
    let base = ring::default_provider();
    match suite {
        Suite::Gm => CryptoProvider {
            cipher_suites: vec![crate::gm::TLS13_SM4_GCM_SM3],
            kx_groups: vec![crate::gm::CURVE_SM2],
            ..base
        },
        Suite::IntlK1 | Suite::IntlR1 => CryptoProvider {
            cipher_suites: base.cipher_suites.iter().copied().filter(|s| s.tls13().is_some()).collect(),
            ..base
        },
    }
}

/// A TLS 1.3 server configuration presenting the node `identity` and requiring a **node**
/// certificate of `trust`'s chain from every client.
pub fn server_config(identity: &Identity, trust: &ChainTrust) -> Result<ServerConfig> {
    server_config_for(identity, trust, &[CertKind::Node])
}

/// Like [`server_config`], requiring a client certificate of one of `client_kinds` (e.g.
/// `&[CertKind::Node, CertKind::User]` for an API that users reach too).
pub fn server_config_for(
    identity: &Identity,
    trust: &ChainTrust,
    client_kinds: &[CertKind],
) -> Result<ServerConfig> {
    if identity.kind() != CertKind::Node {
        return Err(Error::Identity(format!(
            "a TLS server needs a node certificate, not a {} certificate",
            identity.kind()
        )));
    }
    if client_kinds.is_empty() || client_kinds.contains(&CertKind::Ca) {
        return Err(Error::Identity("clients must be admitted as nodes and/or users".into()));
    }
    let verifier = ChainVerifier::new(trust.clone(), client_kinds);
    let mut config = ServerConfig::builder_with_provider(Arc::new(crypto_provider(trust.suite())))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    // No resumption: a resumed session would skip verifying the client certificate again.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A TLS 1.3 client configuration presenting `identity` (a node, or a user) and accepting
/// only servers with a **node** certificate of `trust`'s chain whose name matches the
/// [`ServerName`] dialed (see the crate docs).
pub fn client_config(identity: &Identity, trust: &ChainTrust) -> Result<ClientConfig> {
    let verifier = ChainVerifier::new(trust.clone(), &[CertKind::Node]);
    let mut config = ClientConfig::builder_with_provider(Arc::new(crypto_provider(trust.suite())))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// Runs the server side of a handshake on an accepted TCP connection, within
/// [`HANDSHAKE_TIMEOUT`]; returns the stream and the verified client.
pub async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Result<(server::TlsStream<TcpStream>, PeerIdentity)> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| Error::HandshakeTimeout)?
        .map_err(handshake_error)?;
    let peer = peer_identity(stream.get_ref().1)
        .ok_or_else(|| Error::Identity("the client presented no certificate".into()))?;
    Ok((stream, peer))
}

/// Dials `addr` and runs the client side of a handshake expecting `server_name` (an IP
/// address or DNS name from the server's certificate, or its node id), within
/// [`HANDSHAKE_TIMEOUT`]; returns the stream and the verified server.
///
/// In TLS 1.3 the client finishes its handshake before the server has checked the client's
/// certificate, so a server that refuses us shows up as an error on the first read.
pub async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
    server_name: ServerName<'static>,
) -> Result<(client::TlsStream<TcpStream>, PeerIdentity)> {
    connect_from(connector, None, addr, server_name).await
}

/// [`connect`] from a chosen local address: a node on a host (or loopback
/// address) of its own dials from it, so peers and firewalls see which
/// node is calling.
pub async fn connect_from(
    connector: &TlsConnector,
    local: Option<std::net::IpAddr>,
    addr: SocketAddr,
    server_name: ServerName<'static>,
) -> Result<(client::TlsStream<TcpStream>, PeerIdentity)> {
    let handshake = async {
        let tcp = match local {
            Some(ip) => {
                let socket = if addr.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await?
            }
            None => TcpStream::connect(addr).await?,
        };
        // Small request/response messages between nodes; do not wait to fill segments.
        tcp.set_nodelay(true)?;
        connector.connect(server_name, tcp).await.map_err(handshake_error)
    };
    let stream =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await.map_err(|_| Error::HandshakeTimeout)??;
    let peer = peer_identity(stream.get_ref().1)
        .ok_or_else(|| Error::Identity("the server presented no certificate".into()))?;
    Ok((stream, peer))
}

/// tokio-rustls wraps rustls errors in `io::Error`; unwrap them so callers can tell a refused
/// certificate from a broken socket.
fn handshake_error(e: std::io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::Io(e),
    }
}
