//! Node certificates work for mutual TLS: an OpenSSL TLS 1.3 server and client, each with a
//! node certificate of the same chain, authenticate each other on 127.0.0.1.
//!
//! Only `intl-r1` is exercised: TLS 1.3 defines no signature scheme for secp256k1, and SM2 in
//! TLS 1.3 (RFC 8998) is not in OpenSSL 3.0.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, ChildStdin, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use govchain_pki::{ChainCa, IssueRequest, Suite, Validity};

use crate::support::*;

const ORG: &str = "finance.gov.example";

struct Node {
    cert: String,
    key: String,
}

fn node(ca: &ChainCa, name: &str) -> Node {
    let (key, public) = subject_key(Suite::IntlR1);
    let mut req = IssueRequest::node(name, ORG, public, Validity::days_from_now(10).unwrap());
    req.dns_names = vec![format!("{name}.gov.example")];
    Node { cert: ca.issue(&req).unwrap(), key }
}

/// Kills the server if a test fails halfway. Holds the server's stdin open: s_server ends the
/// connection when its stdin reaches EOF.
struct Server(Child, Option<ChildStdin>);

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.1.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one TLS 1.3 connection; returns (client output, server output).
fn handshake(ca: &ChainCa, server: &Node, client: &Node, expected_name: &str) -> (String, String, bool) {
    let files = Files::new();
    let root = files.write("root.pem", ca.root_cert_pem());
    let op = files.write("op.pem", ca.operating_cert_pem());
    let server_cert = files.write("server.pem", &server.cert);
    let server_key = files.write("server.key", &server.key);
    let client_cert = files.write("client.pem", &client.cert);
    let client_key = files.write("client.key", &client.key);

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = openssl()
        .args(["s_server", "-tls1_3", "-naccept", "1", "-Verify", "2", "-verify_return_error"])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&server_cert)
        .arg("-key")
        .arg(&server_key)
        .arg("-cert_chain")
        .arg(&op)
        .arg("-CAfile")
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdin = child.stdin.take();
    let mut server = Server(child, stdin);

    // Wait (at most 10 s) for the server to listen.
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ACCEPT") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    let err_reader = thread::spawn(move || {
        BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n")
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("s_server did not start listening");

    let out = run(openssl()
        .args(["s_client", "-tls1_3", "-brief", "-verify_return_error"])
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .args(["-verify_hostname", expected_name])
        .arg("-cert")
        .arg(&client_cert)
        .arg("-key")
        .arg(&client_key)
        .arg("-cert_chain")
        .arg(&op)
        .arg("-CAfile")
        .arg(&root)
        .stdin(Stdio::null()));
    let client_ok = out.status.success();
    let client_text = describe(&out);

    // The server handles one connection and exits once its stdin closes; give it 10 s.
    drop(server.1.take());
    for _ in 0..100 {
        if server.0.try_wait().unwrap().is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    let server_text = format!("{}\n{}", reader.join().unwrap(), err_reader.join().unwrap());
    (client_text, server_text, client_ok)
}

#[test]
fn node_certificates_authenticate_both_ends_of_tls() {
    let (ca, _) = new_ca(Suite::IntlR1, "chain-a");
    let node1 = node(&ca, "node1");
    let node2 = node(&ca, "node2");

    let (client, server, client_ok) = handshake(&ca, &node1, &node2, "node1.gov.example");
    assert!(client_ok, "client: {client}\nserver: {server}");
    assert!(client.contains("Verification: OK"), "client: {client}");
    assert!(client.contains("Verified peername: node1.gov.example"), "client: {client}");
    // The server checked the client's node certificate against the chain.
    assert!(
        server.contains("depth=0 O = finance.gov.example, OU = node, CN = node2")
            && server.contains("verify return:1")
            && !server.contains("verify error"),
        "server: {server}"
    );

    // The client refuses a server whose certificate names another node.
    let (client, server, client_ok) = handshake(&ca, &node1, &node2, "node3.gov.example");
    assert!(!client_ok, "client accepted the wrong peer: {client}\nserver: {server}");

    // The server refuses a client certificate from another chain.
    let (other_ca, _) = new_ca(Suite::IntlR1, "chain-b");
    let intruder = node(&other_ca, "node9");
    let (client, server, _) = handshake(&ca, &node1, &intruder, "node1.gov.example");
    assert!(
        server.contains("verify error") || server.contains("certificate verify failed"),
        "server accepted a foreign client: {server}\nclient: {client}"
    );
}
