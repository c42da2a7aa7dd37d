//! Shared helpers: chains, node certificates, one-shot handshakes, a raw rustls client.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use govchain_crypto::PrivateKey;
use govchain_net::{
    ChainTrust, Identity, PeerIdentity, ServerName, Suite, client_config, connect, crypto_provider,
    server_config, signing_key,
};
use govchain_pki::{ChainCa, IssueRequest, RootKey, Validity};
use rustls::{
    CipherSuite, ClientConfig, DigitallySignedStruct, NamedGroup, ServerConfig, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, UnixTime},
    sign::{CertifiedKey, SingleCertAndKey},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub const ORG: &str = "finance.gov.example";
pub const SUITES: [Suite; 3] = [Suite::Gm, Suite::IntlK1, Suite::IntlR1];

/// Upper bound of any one loopback exchange in these tests.
pub const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// A window that ended ten days ago.
pub fn expired() -> Validity {
    Validity::new(now() - days(20), now() - days(10)).unwrap()
}

/// A window that starts tomorrow.
pub fn not_yet_valid() -> Validity {
    Validity::new(now() + days(1), now() + days(10)).unwrap()
}

/// A chain's CA (backdated 30 days, so certificates can have windows in the past) and its trust.
pub struct Chain {
    pub ca: ChainCa,
    pub root_key: RootKey,
    pub trust: ChainTrust,
}

/// A key and certificate as PEM.
#[derive(Clone)]
pub struct Node {
    pub key_pem: String,
    pub cert_pem: String,
}

impl Chain {
    pub fn new(suite: Suite, chain_id: &str) -> Self {
        let (ca, root_key) = ChainCa::create(
            suite,
            chain_id,
            ORG,
            Validity::new(now() - days(30), now() + days(3650)).unwrap(),
            Validity::new(now() - days(30), now() + days(365)).unwrap(),
        )
        .unwrap();
        let trust = ChainTrust::new(suite, ca.root_cert_pem(), ca.operating_cert_pem()).unwrap();
        Self { ca, root_key, trust }
    }

    pub fn suite(&self) -> Suite {
        self.ca.suite()
    }

    /// A node certificate valid now, with SANs `<name>.gov.example` and 127.0.0.1.
    pub fn node(&self, name: &str) -> Node {
        self.node_valid(name, Validity::new(now() - days(1), now() + days(10)).unwrap())
    }

    pub fn node_valid(&self, name: &str, validity: Validity) -> Node {
        let key = PrivateKey::generate(self.suite());
        let mut req = IssueRequest::node(name, ORG, key.public_key().to_spki_pem().unwrap(), validity);
        req.dns_names = vec![format!("{name}.gov.example")];
        req.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        Node { key_pem: key.to_pkcs8_pem().unwrap(), cert_pem: self.ca.issue(&req).unwrap() }
    }

    pub fn user(&self, name: &str) -> Node {
        let key = PrivateKey::generate(self.suite());
        let validity = Validity::new(now() - days(1), now() + days(10)).unwrap();
        let req = IssueRequest::user(name, ORG, key.public_key().to_spki_pem().unwrap(), validity);
        Node { key_pem: key.to_pkcs8_pem().unwrap(), cert_pem: self.ca.issue(&req).unwrap() }
    }

    pub fn identity(&self, node: &Node) -> Identity {
        Identity::from_pem(&node.key_pem, &node.cert_pem, &self.trust).unwrap()
    }

    pub fn server(&self, node: &Node) -> ServerConfig {
        server_config(&self.identity(node), &self.trust).unwrap()
    }

    pub fn client(&self, node: &Node) -> ClientConfig {
        client_config(&self.identity(node), &self.trust).unwrap()
    }
}

/// What each side of [`exchange`] saw.
#[derive(Debug)]
pub struct Outcome {
    /// The server's handshake result (the verified client).
    pub server: govchain_net::Result<PeerIdentity>,
    /// The client's result: the verified server once a ping/pong round trip succeeded (a
    /// refusal by the server shows up on that first read in TLS 1.3).
    pub client: govchain_net::Result<PeerIdentity>,
    /// The cipher suite and key exchange group the client's connection negotiated.
    pub negotiated: Option<(CipherSuite, NamedGroup)>,
}

/// One TLS connection on 127.0.0.1 with a ping/pong round trip; `server_name` is what the
/// client dials.
pub async fn exchange(server: ServerConfig, client: ClientConfig, server_name: &str) -> Outcome {
    tokio::time::timeout(EXCHANGE_LIMIT, async {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let server_task = tokio::spawn(async move {
            let (stream, _) = tcp.accept().await.unwrap();
            let (mut tls, peer) = govchain_net::accept(&acceptor, stream).await?;
            let mut ping = [0u8; 4];
            tls.read_exact(&mut ping).await?;
            assert_eq!(&ping, b"ping");
            tls.write_all(b"pong").await?;
            tls.flush().await?;
            tls.shutdown().await?;
            Ok(peer)
        });

        let connector = TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from(server_name.to_owned()).unwrap();
        let mut negotiated = None;
        let client = async {
            let (mut tls, peer) = connect(&connector, addr, name).await?;
            let conn = tls.get_ref().1;
            negotiated = conn
                .negotiated_cipher_suite()
                .zip(conn.negotiated_key_exchange_group())
                .map(|(suite, group)| (suite.suite(), group.name()));
            tls.write_all(b"ping").await?;
            tls.flush().await?;
            let mut pong = [0u8; 4];
            tls.read_exact(&mut pong).await?;
            assert_eq!(&pong, b"pong");
            Ok(peer)
        }
        .await;
        let server = server_task.await.unwrap();
        Outcome { server, client, negotiated }
    })
    .await
    .expect("loopback exchange took too long")
}

/// The rustls error inside a transport error, if it is one.
pub fn tls_error(result: &govchain_net::Result<PeerIdentity>) -> Option<&rustls::Error> {
    match result {
        Err(govchain_net::Error::Tls(e)) => Some(e),
        _ => None,
    }
}

/// Accepts any server: for tests of what the *server* refuses from clients our own
/// configurations would not even build. Records the schemes of the server's handshake
/// signatures.
#[derive(Debug, Default)]
struct AcceptAnyServer(Arc<Mutex<Vec<SignatureScheme>>>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.lock().unwrap().push(dss.scheme);
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SUITES.iter().map(|suite| govchain_net::scheme_for(*suite)).collect()
    }
}

/// A client that trusts any server and presents `chain` (DER certificates, leaf first) signed
/// with `key_pem`, or no certificate at all.
pub fn raw_client(suite: Suite, presented: Option<(Vec<Vec<u8>>, &str)>) -> ClientConfig {
    raw_client_recording(suite, presented).0
}

/// [`raw_client`], also returning the schemes the server signed its handshakes with.
pub fn raw_client_recording(
    suite: Suite,
    presented: Option<(Vec<Vec<u8>>, &str)>,
) -> (ClientConfig, Arc<Mutex<Vec<SignatureScheme>>>) {
    let verifier = AcceptAnyServer::default();
    let seen = Arc::clone(&verifier.0);
    let builder = ClientConfig::builder_with_provider(Arc::new(crypto_provider(suite)))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match presented {
        None => builder.with_no_client_auth(),
        Some((chain, key_pem)) => {
            let chain = chain.into_iter().map(CertificateDer::from).collect();
            let certified = CertifiedKey::new(chain, signing_key(key_pem).unwrap());
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
    };
    (config, seen)
}

pub fn pem_to_der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.trim().as_bytes()).unwrap().1
}

pub fn der_to_pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap()
}

/// Replaces the first occurrence of `from` by `to` (same length) in `der`.
pub fn replace_bytes(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = der.windows(from.len()).position(|w| w == from).expect("pattern present");
    let mut out = der.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}
