//! `intl-r1` speaks standard TLS 1.3 (`ecdsa_secp256r1_sha256`): the OpenSSL 3 CLI, verifying
//! with `-verify_return_error` against the chain's root, talks to our server and client, and
//! our server refuses what OpenSSL sends without a certificate of this chain.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Output, Stdio},
    sync::{Arc, mpsc},
    thread,
    time::Duration,
};

use axum::{Extension, Router, routing::get};
use govchain_net::{PeerAware, PeerIdentity, ServerName, Suite, TlsListener, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::support::*;

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl() -> Command {
    assert!(
        std::path::Path::new(OPENSSL).exists(),
        "the OpenSSL 3 CLI is required at {OPENSSL} for these tests (apt-get install openssl)"
    );
    Command::new(OPENSSL)
}

/// PEM files for OpenSSL in a temp dir.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `openssl s_client` against 127.0.0.1:`port` with an HTTP/1.1 request on stdin,
/// presenting `client` (or no certificate); waits at most 20 s.
async fn s_client(chain: &Chain, client: Option<&Node>, port: u16) -> Output {
    let files = Files::new();
    let root = files.write("root.pem", chain.ca.root_cert_pem());
    let op = files.write("op.pem", chain.ca.operating_cert_pem());
    let mut cmd = openssl();
    cmd.args(["s_client", "-tls1_3", "-brief", "-ign_eof", "-verify_return_error"])
        .args(["-connect", &format!("127.0.0.1:{port}"), "-verify_ip", "127.0.0.1"])
        .arg("-CAfile")
        .arg(&root)
        .arg("-cert_chain")
        .arg(&op);
    if let Some(client) = client {
        cmd.arg("-cert").arg(files.write("client.pem", &client.cert_pem));
        cmd.arg("-key").arg(files.write("client.key", &client.key_pem));
    }
    let request = "GET /whoami HTTP/1.1\r\nHost: node1\r\nConnection: close\r\n\r\n";
    let stdin = files.write("request.txt", request);
    cmd.stdin(std::fs::File::open(stdin).unwrap()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn().unwrap();
    tokio::time::timeout(EXCHANGE_LIMIT, child.wait_with_output()).await.expect("s_client hung").unwrap()
}

#[tokio::test]
async fn openssl_client_and_our_server_authenticate_each_other() {
    let chain = Chain::new(Suite::IntlR1, "chain-a");
    let listener = TlsListener::bind("127.0.0.1:0", chain.server(&chain.node("node1"))).await.unwrap();
    let port = axum::serve::Listener::local_addr(&listener).unwrap().port();
    let app = Router::new().route(
        "/whoami",
        get(|Extension(peer): Extension<PeerIdentity>| async move {
            format!("hello {} of {}", peer.common_name, peer.organization)
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, PeerAware::new(app)).await.unwrap() });

    let out = s_client(&chain, Some(&chain.node("node2")), port).await;
    let text = describe(&out);
    assert!(out.status.success(), "{text}");
    // OpenSSL checked our server's chain, name and CertificateVerify...
    assert!(text.contains("Verification: OK"), "{text}");
    assert!(text.contains(&format!("Peer certificate: O = {ORG}, OU = node, CN = node1")), "{text}");
    assert!(text.contains("Signature type: ECDSA"), "{text}");
    // What our server asks the client to sign with: the one scheme of the chain.
    assert!(text.contains("Requested Signature Algorithms: ECDSA+SHA256\n"), "{text}");
    // ... and our server saw OpenSSL's client certificate.
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains(&format!("hello node2 of {ORG}")), "{text}");

    // A certificate from another chain's CA, and no certificate at all, get no answer.
    let other = Chain::new(Suite::IntlR1, "chain-a");
    let intruder = other.node("node2");
    for (what, client) in [("foreign", Some(&intruder)), ("anonymous", None)] {
        let out = s_client(&chain, client, port).await;
        let text = describe(&out);
        assert!(!text.contains("200 OK") && !text.contains("hello"), "{what}: {text}");
        assert!(text.contains("alert"), "{what}: our server should say why: {text}");
    }
    server.abort();
}

/// Kills `s_server` if a test fails halfway; holds its stdin open (it quits on EOF).
struct Server(Child, Option<ChildStdin>);

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.1.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `openssl s_server -www` on a free port, requiring a client certificate of the
/// chain; returns the server, its port and a channel of its stdout lines.
fn s_server(chain: &Chain, node: &Node, files: &Files) -> (Server, u16, mpsc::Receiver<String>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = openssl()
        .args(["s_server", "-tls1_3", "-www", "-naccept", "1", "-Verify", "2", "-verify_return_error"])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(files.write("server.pem", &node.cert_pem))
        .arg("-key")
        .arg(files.write("server.key", &node.key_pem))
        .arg("-cert_chain")
        .arg(files.write("op.pem", chain.ca.operating_cert_pem()))
        .arg("-CAfile")
        .arg(files.write("root.pem", chain.ca.root_cert_pem()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let (tx, rx) = mpsc::channel();
    let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for output in [stdout, stderr] {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let server = Server(child, stdin);
    loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("s_server did not start listening");
        if line.contains("ACCEPT") {
            return (server, port, rx);
        }
    }
}

#[tokio::test]
async fn our_client_and_openssl_server_authenticate_each_other() {
    let chain = Chain::new(Suite::IntlR1, "chain-a");
    let files = Files::new();
    let (mut server, port, lines) = s_server(&chain, &chain.node("node1"), &files);

    let connector = TlsConnector::from(Arc::new(chain.client(&chain.node("node2"))));
    let addr = ([127, 0, 0, 1], port).into();
    let (mut tls, server_seen) =
        connect(&connector, addr, ServerName::try_from("node1.gov.example").unwrap()).await.unwrap();
    assert_eq!(server_seen.node_id(), Some("node1"));
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    tokio::time::timeout(EXCHANGE_LIMIT, tls.read_to_end(&mut page)).await.expect("s_server hung").ok();
    let page = String::from_utf8_lossy(&page);
    // s_server answered, so it accepted our certificate under -verify_return_error.
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    assert!(page.contains("TLSv1.3"), "{page}");
    // s_server prints its verification of our chain; with its stdin closed it exits after its
    // one connection, closing its output.
    drop(tls);
    drop(server.1.take());
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains(&format!("depth=0 O = {ORG}, OU = node, CN = node2"))),
        "s_server did not verify our certificate: {seen:?}"
    );
}

#[tokio::test]
async fn openssl_server_with_a_foreign_certificate_is_refused() {
    let chain = Chain::new(Suite::IntlR1, "chain-a");
    let other = Chain::new(Suite::IntlR1, "chain-a");
    let files = Files::new();
    let (_server, port, _) = s_server(&other, &other.node("node1"), &files);
    let connector = TlsConnector::from(Arc::new(chain.client(&chain.node("node2"))));
    let result =
        connect(&connector, ([127, 0, 0, 1], port).into(), ServerName::try_from("127.0.0.1").unwrap()).await;
    assert!(
        matches!(
            result,
            Err(govchain_net::Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature
            )))
        ),
        "{result:?}"
    );
}
