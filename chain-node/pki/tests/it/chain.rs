//! Per-suite issuing, checked by `openssl x509`, `openssl verify` and our own verifier.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use govchain_pki::{
    CertKind, CertRole, ChainCa, Error, IssueRequest, RootKey, Suite, Validity, parse, verify_chain,
};

use crate::support::*;

const ORG: &str = "finance.gov.example";

fn node_request(suite: Suite, name: &str) -> IssueRequest {
    let (_, public) = subject_key(suite);
    let mut req = IssueRequest::node(name, ORG, public, Validity::days_from_now(90).unwrap());
    req.dns_names = vec![format!("{name}.gov.example")];
    req.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    req
}

fn user_request(suite: Suite, name: &str) -> IssueRequest {
    let (_, public) = subject_key(suite);
    IssueRequest::user(name, ORG, public, Validity::days_from_now(30).unwrap())
}

/// The suite-specific words `openssl x509 -text` prints.
fn openssl_names(suite: Suite) -> (&'static str, &'static str) {
    match suite {
        Suite::Gm => ("SM2-with-SM3", "ASN1 OID: SM2"),
        Suite::IntlK1 => ("ecdsa-with-SHA256", "ASN1 OID: secp256k1"),
        Suite::IntlR1 => ("ecdsa-with-SHA256", "ASN1 OID: prime256v1"),
    }
}

fn issue_and_cross_check(suite: Suite) {
    let (ca, _root_key) = new_ca(suite, "chain-a");
    let node_req = node_request(suite, "node1");
    let node = ca.issue(&node_req).unwrap();
    let user = ca.issue(&user_request(suite, "alice")).unwrap();

    // OpenSSL parses every certificate and sees the profile we meant.
    let (sig_alg, curve) = openssl_names(suite);
    let root_text = openssl_text(ca.root_cert_pem());
    let op_text = openssl_text(ca.operating_cert_pem());
    let node_text = openssl_text(&node);
    let user_text = openssl_text(&user);
    for text in [&root_text, &op_text, &node_text, &user_text] {
        assert!(text.contains(&format!("Signature Algorithm: {sig_alg}")), "{text}");
        assert!(text.contains(curve), "{text}");
        assert!(text.contains("Version: 3 (0x2)"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    }
    assert!(root_text.contains("CA:TRUE, pathlen:1"), "{root_text}");
    assert!(op_text.contains("CA:TRUE, pathlen:0"), "{op_text}");
    for text in [&root_text, &op_text] {
        assert!(text.contains("X509v3 Basic Constraints: critical"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    }
    assert!(
        root_text.contains("Subject: O = finance.gov.example, OU = ca, CN = chain-a root CA"),
        "{root_text}"
    );
    assert!(node_text.contains("Subject: O = finance.gov.example, OU = node, CN = node1"), "{node_text}");
    assert!(
        node_text.contains("Issuer: O = finance.gov.example, OU = ca, CN = chain-a operating CA"),
        "{node_text}"
    );
    assert!(node_text.contains("CA:FALSE"), "{node_text}");
    assert!(node_text.contains("Digital Signature, Key Agreement"), "{node_text}");
    assert!(
        node_text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{node_text}"
    );
    assert!(
        node_text.contains("DNS:node1.gov.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
        "{node_text}"
    );
    assert!(user_text.contains("Subject: O = finance.gov.example, OU = user, CN = alice"));
    assert!(user_text.contains("TLS Web Client Authentication"), "{user_text}");
    assert!(!user_text.contains("TLS Web Server Authentication"), "{user_text}");
    assert!(!user_text.contains("Subject Alternative Name"), "{user_text}");

    // OpenSSL accepts both chains in strict mode, for their TLS purposes.
    for (leaf, purposes) in
        [(&node, &[None, Some("sslserver"), Some("sslclient")][..]), (&user, &[None, Some("sslclient")][..])]
    {
        for purpose in purposes {
            let (ok, out) =
                openssl_verify(suite, ca.root_cert_pem(), ca.operating_cert_pem(), leaf, *purpose);
            assert!(ok, "{suite} {purpose:?}: {out}");
        }
    }
    // ... and refuses a user certificate as a TLS server.
    let (ok, _) =
        openssl_verify(suite, ca.root_cert_pem(), ca.operating_cert_pem(), &user, Some("sslserver"));
    assert!(!ok, "user certificate accepted as TLS server");

    // Our verifier accepts and reports what was issued.
    let info = ca.verify(&node, now()).unwrap();
    assert_eq!(info.suite, suite);
    assert_eq!(info.kind, CertKind::Node);
    assert_eq!(info.common_name, "node1");
    assert_eq!(info.organization, ORG);
    assert_eq!(info.issuer_common_name, "chain-a operating CA");
    assert_eq!(info.dns_names, vec!["node1.gov.example".to_owned()]);
    assert_eq!(info.ip_addresses, node_req.ip_addresses);
    assert_eq!(info.not_before, node_req.validity.not_before());
    assert_eq!(info.not_after, node_req.validity.not_after());
    assert_eq!(info.public_key_pem.trim(), node_req.subject_public_key_pem.trim());
    assert_eq!(info, parse(&node).unwrap());
    let user_info = verify_chain(suite, &user, ca.operating_cert_pem(), ca.root_cert_pem(), now()).unwrap();
    assert_eq!(user_info.kind, CertKind::User);
    assert_eq!(user_info.common_name, "alice");
    assert!(user_info.dns_names.is_empty() && user_info.ip_addresses.is_empty());

    // Serials are random, positive and at least 64 bits.
    assert_ne!(info.serial, user_info.serial);
    assert!(info.serial.len() >= 16, "{}", info.serial);
    assert!(u8::from_str_radix(&info.serial[..2], 16).unwrap() < 0x80);

    // The CA certificates parse as CAs.
    assert_eq!(parse(ca.root_cert_pem()).unwrap().kind, CertKind::Ca);
    assert_eq!(parse(ca.operating_cert_pem()).unwrap().kind, CertKind::Ca);
}

#[test]
fn gm_chain_is_accepted_by_openssl_and_us() {
    issue_and_cross_check(Suite::Gm);
}

#[test]
fn intl_k1_chain_is_accepted_by_openssl_and_us() {
    issue_and_cross_check(Suite::IntlK1);
}

#[test]
fn intl_r1_chain_is_accepted_by_openssl_and_us() {
    issue_and_cross_check(Suite::IntlR1);
}

fn foreign_expired_and_tampered_are_rejected(suite: Suite) {
    let (ca, _) = new_backdated_ca(suite, "chain-a");
    // Same chain id and organisation, so names match and only keys tell the chains apart.
    let (twin, _) = new_ca(suite, "chain-a");
    let (other, _) = new_ca(suite, "chain-b");
    let root = ca.root_cert_pem();
    let op = ca.operating_cert_pem();

    for (foreign_ca, name) in [(&twin, "twin"), (&other, "other")] {
        let foreign = foreign_ca.issue(&node_request(suite, "intruder")).unwrap();
        let err = ca.verify(&foreign, now()).unwrap_err();
        if name == "twin" {
            assert!(matches!(err, Error::BadSignature(CertRole::Leaf)), "{name}: {err}");
        } else {
            assert!(matches!(err, Error::ChainMismatch(_)), "{name}: {err}");
        }
        let (ok, out) = openssl_verify(suite, root, op, &foreign, None);
        assert!(!ok, "openssl accepted a foreign ({name}) leaf: {out}");
        // Sanity: the foreign leaf is fine in its own chain.
        foreign_ca.verify(&foreign, now()).unwrap();
    }
    // A foreign operating CA under our root is rejected too.
    let twin_leaf = twin.issue(&user_request(suite, "mallory")).unwrap();
    let err = verify_chain(suite, &twin_leaf, twin.operating_cert_pem(), root, now()).unwrap_err();
    assert!(matches!(err, Error::BadSignature(CertRole::Operating)), "{err}");

    // Expired: a window wholly in the past.
    let (_, public) = subject_key(suite);
    let past = Validity::new(now() - days(10), now() - days(1)).unwrap();
    let expired = ca.issue(&IssueRequest::user("old", ORG, public.clone(), past)).unwrap();
    assert!(matches!(ca.verify(&expired, now()).unwrap_err(), Error::Expired(CertRole::Leaf)));
    let (ok, out) = openssl_verify(suite, root, op, &expired, None);
    assert!(!ok && out.contains("certificate has expired"), "{out}");
    // ... yet valid at a time inside its window, so the rejection is about time only.
    ca.verify(&expired, now() - days(5)).unwrap();

    // Not yet valid.
    let future = Validity::new(now() + days(2), now() + days(3)).unwrap();
    let early = ca.issue(&IssueRequest::user("early", ORG, public, future)).unwrap();
    assert!(matches!(ca.verify(&early, now()).unwrap_err(), Error::NotYetValid(CertRole::Leaf)));
    let (ok, out) = openssl_verify(suite, root, op, &early, None);
    assert!(!ok && out.contains("certificate is not yet valid"), "{out}");

    // CA windows are checked as well.
    assert!(matches!(
        ca.verify(&ca.issue(&user_request(suite, "bob")).unwrap(), now() + days(400)).unwrap_err(),
        Error::Expired(CertRole::Operating)
    ));

    // Tampered: the subject name changed after signing.
    let good = ca.issue(&node_request(suite, "node7")).unwrap();
    let der = pem_to_der(&good);
    let renamed = der_to_pem(&replace_bytes(&der, b"node7", b"node8"));
    assert!(matches!(ca.verify(&renamed, now()).unwrap_err(), Error::BadSignature(CertRole::Leaf)));
    let (ok, out) = openssl_verify(suite, root, op, &renamed, None);
    assert!(!ok, "openssl accepted a renamed leaf: {out}");
    // Tampered: the last signature byte flipped.
    let mut flipped = der.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    let flipped = der_to_pem(&flipped);
    assert!(matches!(ca.verify(&flipped, now()).unwrap_err(), Error::BadSignature(CertRole::Leaf)));
    let (ok, out) = openssl_verify(suite, root, op, &flipped, None);
    assert!(!ok, "openssl accepted a flipped signature: {out}");
    // The untouched one still verifies.
    ca.verify(&good, now()).unwrap();
}

#[test]
fn gm_rejects_foreign_expired_and_tampered() {
    foreign_expired_and_tampered_are_rejected(Suite::Gm);
}

#[test]
fn intl_k1_rejects_foreign_expired_and_tampered() {
    foreign_expired_and_tampered_are_rejected(Suite::IntlK1);
}

#[test]
fn intl_r1_rejects_foreign_expired_and_tampered() {
    foreign_expired_and_tampered_are_rejected(Suite::IntlR1);
}

#[test]
fn every_single_bit_flip_of_a_leaf_is_rejected_without_panic() {
    for suite in Suite::ALL {
        let (ca, _) = new_ca(suite, "chain-a");
        let leaf = ca.issue(&node_request(suite, "node1")).unwrap();
        let der = pem_to_der(&leaf);
        for i in 0..der.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = der.clone();
                bad[i] ^= bit;
                let pem = der_to_pem(&bad);
                assert!(
                    ca.verify(&pem, now()).is_err(),
                    "{suite}: flipping bit {bit:#x} of byte {i} went unnoticed"
                );
                let _ = parse(&pem);
            }
        }
    }
}

#[test]
fn load_restores_the_ca_and_checks_its_parts() {
    for suite in Suite::ALL {
        let (ca, _) = new_ca(suite, "chain-a");
        let op = ca.operating();
        let loaded = ChainCa::load(suite, ca.root_cert_pem(), &op.cert_pem, &op.key_pem).unwrap();
        let leaf = loaded.issue(&user_request(suite, "carol")).unwrap();
        ca.verify(&leaf, now()).unwrap();
        let (ok, out) = openssl_verify(suite, ca.root_cert_pem(), &op.cert_pem, &leaf, None);
        assert!(ok, "{out}");

        let (other, _) = new_ca(suite, "chain-a");
        let other_op = other.operating();
        // Key of another CA.
        assert!(ChainCa::load(suite, ca.root_cert_pem(), &op.cert_pem, &other_op.key_pem).is_err());
        // Operating CA of another root.
        assert!(matches!(
            ChainCa::load(suite, ca.root_cert_pem(), &other_op.cert_pem, &other_op.key_pem),
            Err(Error::BadSignature(CertRole::Operating))
        ));
        // Root and operating swapped.
        assert!(ChainCa::load(suite, &op.cert_pem, ca.root_cert_pem(), &op.key_pem).is_err());
        // Another suite.
        let wrong = Suite::ALL.into_iter().find(|s| *s != suite).unwrap();
        assert!(matches!(
            ChainCa::load(wrong, ca.root_cert_pem(), &op.cert_pem, &op.key_pem),
            Err(Error::SuiteMismatch { .. })
        ));
        // A leaf in the operating slot.
        let (leaf_priv, _) = subject_key(suite);
        assert!(ChainCa::load(suite, ca.root_cert_pem(), &leaf, &leaf_priv).is_err());
    }
}

#[test]
fn rotating_the_operating_ca_needs_the_root_key() {
    for suite in Suite::ALL {
        let (ca, root_key) = new_ca(suite, "chain-a");
        let old_leaf = ca.issue(&user_request(suite, "dave")).unwrap();

        let rotated = ca.rotate_operating(&root_key, Validity::days_from_now(200).unwrap()).unwrap();
        assert_eq!(rotated.root_cert_pem(), ca.root_cert_pem());
        assert_ne!(rotated.operating_cert_pem(), ca.operating_cert_pem());
        let new_leaf = rotated.issue(&user_request(suite, "erin")).unwrap();
        rotated.verify(&new_leaf, now()).unwrap();
        // Old certificates stay valid with the old operating certificate, not the new one.
        ca.verify(&old_leaf, now()).unwrap();
        assert!(rotated.verify(&old_leaf, now()).is_err());
        let (ok, out) =
            openssl_verify(suite, rotated.root_cert_pem(), rotated.operating_cert_pem(), &new_leaf, None);
        assert!(ok, "{out}");

        // A root key of another chain, or garbage, cannot rotate this CA.
        let (_, other_root_key) = new_ca(suite, "chain-a");
        assert!(ca.rotate_operating(&other_root_key, Validity::days_from_now(10).unwrap()).is_err());
        assert!(
            ca.rotate_operating(&RootKey::from_pem("nonsense"), Validity::days_from_now(10).unwrap())
                .is_err()
        );
        // Nor make an operating CA that outlives the root.
        assert!(ca.rotate_operating(&root_key, Validity::days_from_now(4000).unwrap()).is_err());
    }
}

#[test]
fn keys_never_show_in_debug_output() {
    let (ca, root_key) = new_ca(Suite::Gm, "chain-a");
    for text in [format!("{ca:?}"), format!("{root_key:?}"), format!("{:?}", ca.operating())] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains(root_key.pem().lines().nth(1).unwrap()), "{text}");
        assert!(!text.contains(ca.operating().key_pem.lines().nth(1).unwrap()), "{text}");
    }
    assert!(root_key.pem().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn openssl_generated_subject_keys_are_accepted() {
    for (suite, args) in [
        (Suite::Gm, &["-algorithm", "SM2"][..]),
        (Suite::IntlK1, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"][..]),
        (Suite::IntlR1, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..]),
    ] {
        let files = Files::new();
        let key = files.path().join("key.pem");
        let out = run(openssl().arg("genpkey").args(args).arg("-out").arg(&key));
        assert!(out.status.success(), "{}", describe(&out));
        let out = run(openssl().args(["pkey", "-pubout", "-in"]).arg(&key));
        assert!(out.status.success(), "{}", describe(&out));
        let public = stdout(&out);

        let (ca, _) = new_ca(suite, "chain-a");
        let leaf = ca
            .issue(&IssueRequest::user("frank", ORG, public.clone(), Validity::days_from_now(5).unwrap()))
            .unwrap();
        let info = ca.verify(&leaf, now()).unwrap();
        assert_eq!(info.public_key_pem.trim(), public.trim());
        // And the certificate matches the private key in OpenSSL's eyes.
        let cert = files.write("leaf.pem", &leaf);
        let out = run(openssl().args(["x509", "-noout", "-pubkey", "-in"]).arg(&cert));
        assert_eq!(stdout(&out).trim(), public.trim());
    }
}

#[test]
fn openssl_3_0_checks_sm2_with_an_empty_id_unless_told() {
    let (ca, _) = new_ca(Suite::Gm, "chain-a");
    let leaf = ca.issue(&user_request(Suite::Gm, "alice")).unwrap();
    let (root, op) = (ca.root_cert_pem(), ca.operating_cert_pem());
    // The two-step check with the standard ID passes (see `openssl_verify`) ...
    let (ok, out) = openssl_verify(Suite::Gm, root, op, &leaf, None);
    assert!(ok, "{out}");
    // ... and fails with any other ID, so the ID is what is being checked.
    let other_id = ["-vfyopt", "distid:1234567812345679"];
    let (ok, _) = openssl_verify_with(&other_id, root, root, op, None);
    assert!(!ok);
    // The documented OpenSSL 3.0 behaviour (see SM2_DEFAULT_DISTID): a one-step check of the
    // whole chain uses an empty ID for the operating CA and so rejects standard certificates,
    // with or without `-vfyopt`.
    let version = stdout(&run(openssl().arg("version")));
    if version.starts_with("OpenSSL 3.0.") {
        for options in [&[][..], &["-vfyopt", "distid:1234567812345678"][..]] {
            let (ok, out) = openssl_verify_with(options, root, op, &leaf, None);
            assert!(
                !ok && out.contains("certificate signature failure"),
                "{version}: OpenSSL now checks SM2 chains with the standard ID; update the docs of SM2_DEFAULT_DISTID: {out}"
            );
        }
    }
}
