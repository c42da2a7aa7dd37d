//! `govchain cert issue` and `govchain tx --cert`: certificates from the CA
//! that `govchain up` (through `govchain-node init`) created make
//! organizations real.

use std::path::Path;

use serde_json::Value;

use crate::{govchain, node::up, ok, openssl};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `govchain` expecting failure; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = govchain(args);
    assert!(!out.status.success(), "govchain {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn issued_certificates_make_organizations_on_chain() {
    let node = up("gm");
    let d = node.dir.path();
    let ca = d.join("dev-node/ca");
    for (name, org) in [("alice", "dept-a"), ("bob", "dept-a"), ("carol", "dept-b")] {
        let dir = d.join(name);
        ok(&["key", "gen", "--suite", "gm", "--out", p(&dir)]);
        let cert = dir.join("cert.pem");
        let printed = ok(&[
            "cert",
            "issue",
            "--ca",
            p(&ca),
            "--pub",
            p(&dir.join("pub.pem")),
            "--org",
            org,
            "--cn",
            name,
            "--out",
            p(&cert),
        ]);
        assert!(printed.contains(&format!("org={org} cn={name} kind=user")), "{printed}");
    }
    let subject = openssl(&["x509", "-in", "alice/cert.pem", "-noout", "-subject"], d);
    assert!(subject.status.success(), "{}", String::from_utf8_lossy(&subject.stderr));
    let subject = String::from_utf8(subject.stdout).unwrap();
    assert!(subject.contains("O = dept-a") && subject.contains("CN = alice"), "{subject}");

    let tx = |who: &str, cert: Option<&str>, args: &[&str]| -> Value {
        let key = d.join(who).join("key.pem");
        let mut all = vec!["tx"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--key", p(&key), "--node", &node.url]);
        let cert = cert.map(|c| d.join(c).join("cert.pem"));
        if let Some(cert) = &cert {
            all.extend_from_slice(&["--cert", p(cert)]);
        }
        serde_json::from_str(&ok(&all)).unwrap()
    };
    let put = tx("alice", Some("alice"), &["put", "permit/9", "granted"]);
    assert_eq!(put["receipt"]["status"], "success", "{put}");
    assert_eq!(put["receipt"]["output"]["owner"], "dept-a", "{put}");
    let amend = tx("bob", Some("bob"), &["put", "permit/9", "amended"]);
    assert_eq!(amend["receipt"]["status"], "success", "same organization: {amend}");
    let steal = tx("carol", Some("carol"), &["delete", "permit/9"]);
    assert_eq!(steal["receipt"]["status"], "failed", "{steal}");
    assert!(steal["receipt"]["message"].as_str().unwrap().contains("dept-a"), "{steal}");
    // Alice's key without her certificate is an organization of its own.
    let bare = tx("alice", None, &["put", "permit/9", "bare"]);
    assert_eq!(bare["receipt"]["status"], "failed", "{bare}");
    let get = tx("carol", None, &["get", "permit/9"]);
    assert_eq!(get["receipt"]["output"]["value"], "amended", "{get}");

    // Someone else's certificate is refused before anything is sent.
    let err = fails(&[
        "tx",
        "put",
        "x",
        "y",
        "--key",
        p(&d.join("bob/key.pem")),
        "--cert",
        p(&d.join("alice/cert.pem")),
        "--node",
        &node.url,
    ]);
    assert!(err.contains("certifies another key"), "{err}");
}

#[test]
fn cert_issue_checks_its_inputs() {
    let node = up("gm");
    let d = node.dir.path();
    let ca = d.join("dev-node/ca");
    ok(&["key", "gen", "--suite", "gm", "--out", p(&d.join("me"))]);
    ok(&["key", "gen", "--suite", "intl-r1", "--out", p(&d.join("r1"))]);
    let me = d.join("me/pub.pem");
    let out = d.join("me/cert.pem");
    let (nope, r1, private) = (d.join("nope"), d.join("r1/pub.pem"), d.join("me/key.pem"));
    let issue = |extra: &[&str]| -> Vec<String> {
        ["cert", "issue", "--cn", "me", "--out", p(&out)].iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--ca", p(&nope), "--pub", p(&me), "--org", "dept-a"], "--ca must be"),
        (&["--ca", p(&ca), "--pub", p(&r1), "--org", "dept-a"], "intl-r1 key but the chain's CA uses gm"),
        (&["--ca", p(&ca), "--pub", p(&private), "--org", "dept-a"], "is not a public key"),
        (&["--ca", p(&ca), "--pub", p(&me), "--org", ""], "organization is empty"),
        (
            &["--ca", p(&ca), "--pub", p(&me), "--org", "0x00112233445566778899aabbccddeeff00112233"],
            "account address",
        ),
        (&["--ca", p(&ca), "--pub", p(&me), "--org", "dept-a", "--days", "0"], "at least 1"),
        (
            &["--ca", p(&ca), "--pub", p(&me), "--org", "dept-a", "--days", "100000"],
            "outlive the operating CA",
        ),
        (
            &["--ca", p(&ca), "--pub", p(&me), "--org", "dept-a", "--kind", "node"],
            "needs at least one --dns or --ip",
        ),
        (
            &["--ca", p(&ca), "--pub", p(&me), "--org", "dept-a", "--dns", "a.example"],
            "for node certificates",
        ),
        (&["--ca", p(&ca), "--pub", p(&me), "--org", "dept-a", "--kind", "ca"], "invalid value"),
    ];
    for (extra, expected) in cases {
        let args = issue(extra);
        let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(err.contains(expected), "{extra:?}: expected `{expected}` in {err}");
        assert!(!out.exists(), "{extra:?} wrote a certificate");
    }

    let node_cert = issue(&[
        "--ca",
        p(&ca),
        "--pub",
        p(&me),
        "--org",
        "dept-a",
        "--kind",
        "node",
        "--dns",
        "n1.example",
        "--ip",
        "10.0.0.1",
    ]);
    let node_cert: Vec<&str> = node_cert.iter().map(String::as_str).collect();
    assert!(ok(&node_cert).contains("kind=node"));
    let text = openssl(&["x509", "-in", "me/cert.pem", "-noout", "-subject", "-ext", "subjectAltName"], d);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("OU = node") && text.contains("DNS:n1.example") && text.contains("10.0.0.1"),
        "{text}"
    );
    assert!(fails(&node_cert).contains("already exists"), "never overwrites");
}
