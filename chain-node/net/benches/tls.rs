//! Cost of mutual-TLS per suite, in memory (no sockets): a full handshake with certificate
//! verification on both sides, and bulk record protection (1 MiB each way). `intl-r1` (ring's
//! P-256 and AES-GCM) is the baseline; the ratio of the others to it is printed at the end.

// Bench setup panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govchain_crypto::PrivateKey;
use govchain_net::{ChainTrust, Identity, ServerName, Suite, client_config, server_config};
use govchain_pki::{ChainCa, IssueRequest, Validity};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

const SUITES: [Suite; 3] = [Suite::IntlR1, Suite::Gm, Suite::IntlK1];

fn configs(suite: Suite) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let (ca, _) = ChainCa::create(
        suite,
        "bench",
        "org",
        Validity::days_from_now(30).unwrap(),
        Validity::days_from_now(20).unwrap(),
    )
    .unwrap();
    let trust = ChainTrust::new(suite, ca.root_cert_pem(), ca.operating_cert_pem()).unwrap();
    let identity = |name: &str| {
        let key = PrivateKey::generate(suite);
        let mut req = IssueRequest::node(
            name,
            "org",
            key.public_key().to_spki_pem().unwrap(),
            Validity::days_from_now(10).unwrap(),
        );
        req.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        Identity::from_pem(&key.to_pkcs8_pem().unwrap(), &ca.issue(&req).unwrap(), &trust).unwrap()
    };
    (
        Arc::new(server_config(&identity("node1"), &trust).unwrap()),
        Arc::new(client_config(&identity("node2"), &trust).unwrap()),
    )
}

/// Moves all pending TLS bytes from `from` to `to`, lets `to` process them and appends the
/// plaintext it received to `sink` (draining as it goes: rustls buffers only so much).
fn pump(from: &mut Connection, to: &mut Connection, sink: &mut Vec<u8>) {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    let mut rd = &wire[..];
    let mut buf = [0u8; 16 * 1024];
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
        to.process_new_packets().unwrap();
        loop {
            match to.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => sink.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn connect(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> (Connection, Connection) {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut c = Connection::from(ClientConnection::new(Arc::clone(client), name).unwrap());
    let mut s = Connection::from(ServerConnection::new(Arc::clone(server)).unwrap());
    let mut none = Vec::new();
    while c.is_handshaking() || s.is_handshaking() {
        pump(&mut c, &mut s, &mut none);
        pump(&mut s, &mut c, &mut none);
    }
    assert!(none.is_empty());
    (c, s)
}

/// Sends `data` from `from` to `to` and reads it back out.
fn transfer(from: &mut Connection, to: &mut Connection, data: &[u8], sink: &mut Vec<u8>) {
    sink.clear();
    for chunk in data.chunks(64 * 1024) {
        from.writer().write_all(chunk).unwrap();
        pump(from, to, sink);
    }
    assert_eq!(sink.len(), data.len());
}

fn bench(c: &mut Criterion) {
    let data = vec![0x5au8; 1 << 20];
    let mut handshake_ns = HashMap::new();
    let mut bulk_ns = HashMap::new();
    for suite in SUITES {
        let (server, client) = configs(suite);
        let mut group = c.benchmark_group(format!("tls/{suite}"));
        group.measurement_time(Duration::from_secs(3)).sample_size(20);
        group.bench_function("mutual handshake", |b| b.iter(|| connect(&server, &client)));
        let (mut cc, mut sc) = connect(&server, &client);
        let mut sink = Vec::with_capacity(data.len());
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function("1 MiB client->server", |b| {
            b.iter(|| transfer(&mut cc, &mut sc, &data, &mut sink))
        });
        group.finish();

        // A plain timing for the ratio line (criterion keeps its statistics to itself).
        let runs = 10;
        let start = Instant::now();
        for _ in 0..runs {
            connect(&server, &client);
        }
        handshake_ns.insert(suite, start.elapsed().as_nanos() / runs);
        let start = Instant::now();
        for _ in 0..runs {
            transfer(&mut cc, &mut sc, &data, &mut sink);
        }
        bulk_ns.insert(suite, start.elapsed().as_nanos() / runs);
    }
    let base = Suite::IntlR1;
    for suite in SUITES {
        println!(
            "ratio vs {base}: {suite} handshake {:.2}x ({} us), 1 MiB records {:.2}x ({:.0} MiB/s)",
            handshake_ns[&suite] as f64 / handshake_ns[&base] as f64,
            handshake_ns[&suite] / 1000,
            bulk_ns[&suite] as f64 / bulk_ns[&base] as f64,
            1e9 / bulk_ns[&suite] as f64,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
