//! Mutual-TLS handshakes on 127.0.0.1 for every suite: who gets in, who is refused and why.

use govchain_net::{
    CertKind, ChainTrust, Error, Identity, SM2SIG_SM3, Suite, client_config, scheme_for, server_config,
    server_config_for,
};
use govchain_pki::Validity;
use rustls::{CertificateError, CipherSuite, NamedGroup, SignatureScheme};

use crate::support::*;

fn assert_cert_error(
    result: &govchain_net::Result<govchain_net::PeerIdentity>,
    expected: CertificateError,
    what: &str,
) {
    match tls_error(result) {
        Some(rustls::Error::InvalidCertificate(e)) => assert_eq!(e, &expected, "{what}"),
        other => panic!("{what}: expected {expected:?}, got {other:?} from {result:?}"),
    }
}

#[tokio::test]
async fn nodes_of_one_chain_authenticate_each_other() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let (node1, node2) = (chain.node("node1"), chain.node("node2"));
        // The server's name as the IP SAN, the DNS SAN and the node id (CN).
        for name in ["127.0.0.1", "node1.gov.example", "node1"] {
            let out = exchange(chain.server(&node1), chain.client(&node2), name).await;
            let client_seen = out.server.unwrap_or_else(|e| panic!("{suite} {name}: server: {e}"));
            let server_seen = out.client.unwrap_or_else(|e| panic!("{suite} {name}: client: {e}"));
            assert_eq!(client_seen.node_id(), Some("node2"), "{suite}");
            assert_eq!(client_seen.organization, ORG);
            assert_eq!(client_seen.kind, CertKind::Node);
            assert_eq!(server_seen.node_id(), Some("node1"), "{suite}");
            assert_eq!(server_seen.organization, ORG);
            let (cipher, group) = out.negotiated.unwrap();
            if suite == Suite::Gm {
                // RFC 8998: TLS_SM4_GCM_SM3 over curveSM2.
                assert_eq!((u16::from(cipher), u16::from(group)), (0x00C6, 0x0029));
            } else {
                assert!(
                    matches!(
                        cipher,
                        CipherSuite::TLS13_AES_256_GCM_SHA384
                            | CipherSuite::TLS13_AES_128_GCM_SHA256
                            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                    ),
                    "{suite}: {cipher:?}"
                );
                assert_eq!(group, NamedGroup::X25519, "{suite}");
            }
            let node2_info = govchain_pki::parse(&node2.cert_pem).unwrap();
            assert_eq!(client_seen.serial, node2_info.serial);
            assert_eq!(client_seen.public_key_der, node2_info.public_key_der);
        }
    }
}

#[tokio::test]
async fn handshakes_are_signed_with_the_suite_scheme() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node2 = chain.node("node2");
        let operating = pem_to_der(chain.ca.operating_cert_pem());
        // The raw client offers all three schemes; the server must pick its chain's.
        let (client, seen) =
            raw_client_recording(suite, Some((vec![pem_to_der(&node2.cert_pem), operating], &node2.key_pem)));
        let out = exchange(chain.server(&chain.node("node1")), client, "127.0.0.1").await;
        assert_eq!(out.server.unwrap().node_id(), Some("node2"), "{suite}");
        assert_eq!(*seen.lock().unwrap(), vec![scheme_for(suite)], "{suite}");
    }
    assert_eq!(u16::from(scheme_for(Suite::Gm)), 0x0708);
    assert_eq!(u16::from(scheme_for(Suite::IntlK1)), 0xFE03);
    assert_eq!(u16::from(scheme_for(Suite::IntlR1)), 0x0403);
}

#[tokio::test]
async fn gm_chains_speak_only_sm_algorithms() {
    let chain = Chain::new(Suite::Gm, "chain-a");
    let node2 = chain.node("node2");
    let presented = || {
        Some((
            vec![pem_to_der(&node2.cert_pem), pem_to_der(chain.ca.operating_cert_pem())],
            node2.key_pem.as_str(),
        ))
    };
    // A client with the right SM2 certificate but only AES suites and NIST / X25519 groups.
    let out =
        exchange(chain.server(&chain.node("node1")), raw_client(Suite::IntlR1, presented()), "127.0.0.1")
            .await;
    assert!(matches!(tls_error(&out.server), Some(rustls::Error::PeerIncompatible(_))), "{:?}", out.server);
    assert!(out.client.is_err());
    // The same client with the gm provider gets in.
    let out =
        exchange(chain.server(&chain.node("node1")), raw_client(Suite::Gm, presented()), "127.0.0.1").await;
    assert_eq!(out.server.unwrap().node_id(), Some("node2"));
}

#[tokio::test]
async fn client_certificate_of_another_chain_is_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        // Same chain id, organization and node name: only the CA keys differ.
        let other = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let intruder = other.node("node2");
        // The intruder trusts our chain (so it accepts our server) but holds a foreign cert.
        let client = client_config(&other.identity(&intruder), &chain.trust).unwrap();
        let out = exchange(chain.server(&node1), client, "127.0.0.1").await;
        assert_cert_error(&out.server, CertificateError::BadSignature, &format!("{suite} server"));
        assert!(out.client.is_err(), "{suite}: the intruder got an answer");

        // And a node of our chain refuses a server of the other chain.
        let foreign_server = other.node("node1");
        let out =
            exchange(other.server(&foreign_server), chain.client(&chain.node("node2")), "127.0.0.1").await;
        assert_cert_error(&out.client, CertificateError::BadSignature, &format!("{suite} client"));
        assert!(out.server.is_err(), "{suite}");
    }
}

#[tokio::test]
async fn certificates_outside_their_validity_are_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let node2 = chain.node("node2");

        let expired_client = chain.node_valid("node2", expired());
        let out = exchange(chain.server(&node1), chain.client(&expired_client), "127.0.0.1").await;
        assert_cert_error(&out.server, CertificateError::Expired, &format!("{suite} expired client"));
        assert!(out.client.is_err());

        let early_client = chain.node_valid("node2", not_yet_valid());
        let out = exchange(chain.server(&node1), chain.client(&early_client), "127.0.0.1").await;
        assert_cert_error(&out.server, CertificateError::NotValidYet, &format!("{suite} early client"));

        let expired_server = chain.node_valid("node1", expired());
        let out = exchange(chain.server(&expired_server), chain.client(&node2), "127.0.0.1").await;
        assert_cert_error(&out.client, CertificateError::Expired, &format!("{suite} expired server"));
        assert!(out.server.is_err());
    }
}

#[tokio::test]
async fn user_certificates_are_not_nodes() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let alice = chain.user("alice");
        let alice_id = chain.identity(&alice);
        assert_eq!(alice_id.kind(), CertKind::User);

        let out =
            exchange(chain.server(&node1), client_config(&alice_id, &chain.trust).unwrap(), "127.0.0.1")
                .await;
        assert_cert_error(&out.server, CertificateError::InvalidPurpose, &format!("{suite} user as node"));
        assert!(out.client.is_err());

        // A server that admits users lets her in, and says she is a user.
        let open =
            server_config_for(&chain.identity(&node1), &chain.trust, &[CertKind::Node, CertKind::User])
                .unwrap();
        let out = exchange(open, client_config(&alice_id, &chain.trust).unwrap(), "127.0.0.1").await;
        let seen = out.server.unwrap();
        assert_eq!((seen.kind, seen.common_name.as_str(), seen.node_id()), (CertKind::User, "alice", None));
        out.client.unwrap();

        // A user certificate cannot serve.
        assert!(matches!(server_config(&alice_id, &chain.trust), Err(Error::Identity(_))));
    }
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let out = exchange(chain.server(&chain.node("node1")), raw_client(suite, None), "127.0.0.1").await;
        assert!(
            matches!(tls_error(&out.server), Some(rustls::Error::NoCertificatesPresented)),
            "{suite}: {:?}",
            out.server
        );
        assert!(out.client.is_err());
    }
}

#[tokio::test]
async fn server_must_answer_to_the_dialed_name() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let node2 = chain.node("node2");
        // Another node's id, another node's DNS name, an address node1 does not have.
        for name in ["node2", "node2.gov.example", "127.0.0.2", "gov.example"] {
            let out = exchange(chain.server(&node1), chain.client(&node2), name).await;
            match tls_error(&out.client) {
                Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    presented,
                    ..
                })) => {
                    assert!(presented.contains(&"CN=node1".to_owned()), "{presented:?}");
                }
                other => panic!("{suite} {name}: expected a name mismatch, got {other:?}"),
            }
            assert!(out.server.is_err(), "{suite} {name}");
        }
    }
}

#[tokio::test]
async fn tampered_certificates_are_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let node2 = chain.node("node2");
        // node2 renames itself node9 in its certificate.
        let tampered = replace_bytes(&pem_to_der(&node2.cert_pem), b"node2", b"node9");
        let tampered_pem = der_to_pem(&tampered);
        assert!(matches!(
            Identity::from_pem(&node2.key_pem, &tampered_pem, &chain.trust),
            Err(Error::Identity(_))
        ));

        let operating = pem_to_der(chain.ca.operating_cert_pem());
        let client = raw_client(suite, Some((vec![tampered, operating.clone()], &node2.key_pem)));
        let out = exchange(chain.server(&node1), client, "127.0.0.1").await;
        assert_cert_error(&out.server, CertificateError::BadSignature, &format!("{suite} tampered"));

        // The genuine certificate through the same raw client gets in: the refusal above was
        // the tampering, not the raw client.
        let client = raw_client(suite, Some((vec![pem_to_der(&node2.cert_pem), operating], &node2.key_pem)));
        let out = exchange(chain.server(&node1), client, "127.0.0.1").await;
        assert_eq!(out.server.unwrap().node_id(), Some("node2"), "{suite}");
    }
}

#[tokio::test]
async fn a_key_that_does_not_sign_for_the_certificate_is_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let node1 = chain.node("node1");
        let node2 = chain.node("node2");
        let thief = chain.node("node3");
        // node3 presents node2's certificate, signing the handshake with its own key.
        assert!(matches!(
            Identity::from_pem(&thief.key_pem, &node2.cert_pem, &chain.trust),
            Err(Error::Identity(_))
        ));
        let operating = pem_to_der(chain.ca.operating_cert_pem());
        let client = raw_client(suite, Some((vec![pem_to_der(&node2.cert_pem), operating], &thief.key_pem)));
        let out = exchange(chain.server(&node1), client, "127.0.0.1").await;
        assert_cert_error(
            &out.server,
            CertificateError::BadSignature,
            &format!("{suite} stolen certificate"),
        );
    }
}

#[tokio::test]
async fn rotated_operating_ca_needs_both_operating_certificates_trusted() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let old_node = chain.node("node1");
        let rotated = chain
            .ca
            .rotate_operating(&chain.root_key, Validity::new(now() - days(1), now() + days(300)).unwrap())
            .unwrap();
        let new_only = ChainTrust::new(suite, rotated.root_cert_pem(), rotated.operating_cert_pem()).unwrap();
        let both = new_only.clone().with_operating(chain.ca.operating_cert_pem()).unwrap();

        let key = govchain_crypto::PrivateKey::generate(suite);
        let mut req = govchain_pki::IssueRequest::node(
            "node2",
            ORG,
            key.public_key().to_spki_pem().unwrap(),
            Validity::new(now() - days(1), now() + days(10)).unwrap(),
        );
        req.ip_addresses = vec![std::net::Ipv4Addr::LOCALHOST.into()];
        let new_cert = rotated.issue(&req).unwrap();
        let new_key = key.to_pkcs8_pem().unwrap();
        let new_identity = Identity::from_pem(&new_key, &new_cert, &both).unwrap();

        // The old node's certificate is refused by a server trusting only the new operating CA...
        assert!(Identity::from_pem(&old_node.key_pem, &old_node.cert_pem, &new_only).is_err());
        let old_client =
            client_config(&Identity::from_pem(&old_node.key_pem, &old_node.cert_pem, &both).unwrap(), &both)
                .unwrap();
        let strict_server =
            server_config(&Identity::from_pem(&new_key, &new_cert, &new_only).unwrap(), &new_only).unwrap();
        let out = exchange(strict_server, old_client.clone(), "127.0.0.1").await;
        assert!(out.server.is_err(), "{suite}");

        // ... and accepted by one trusting both.
        let server = server_config(&new_identity, &both).unwrap();
        let out = exchange(server, old_client, "127.0.0.1").await;
        assert_eq!(out.server.unwrap().node_id(), Some("node1"), "{suite}");
        assert_eq!(out.client.unwrap().node_id(), Some("node2"), "{suite}");
    }
}

#[tokio::test]
async fn revoked_certificates_are_refused() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let (node1, node2, node3) = (chain.node("node1"), chain.node("node2"), chain.node("node3"));
        let revoked_serial = govchain_pki::parse(&node2.cert_pem).unwrap().serial;
        let trust = chain.trust.clone().with_revocation(move |peer| peer.serial == revoked_serial);
        let server = server_config(&chain.identity(&node1), &trust).unwrap();

        let out = exchange(server.clone(), chain.client(&node2), "127.0.0.1").await;
        assert_cert_error(&out.server, CertificateError::Revoked, &format!("{suite} revoked client"));
        let out = exchange(server, chain.client(&node3), "127.0.0.1").await;
        assert_eq!(out.server.unwrap().node_id(), Some("node3"), "{suite}");

        // A client refuses a revoked server the same way.
        let revoked_server = chain.node("node1");
        let serial = govchain_pki::parse(&revoked_server.cert_pem).unwrap().serial;
        let trust = chain.trust.clone().with_revocation(move |peer| peer.serial == serial);
        let client = client_config(&chain.identity(&node2), &trust).unwrap();
        let out = exchange(chain.server(&revoked_server), client, "127.0.0.1").await;
        assert_cert_error(&out.client, CertificateError::Revoked, &format!("{suite} revoked server"));
    }
}

#[test]
fn identities_and_trust_refuse_misfits() {
    let gm = Chain::new(Suite::Gm, "chain-a");
    let r1 = Chain::new(Suite::IntlR1, "chain-a");
    let node = gm.node("node1");
    // A gm certificate on an intl-r1 chain.
    assert!(matches!(Identity::from_pem(&node.key_pem, &node.cert_pem, &r1.trust), Err(Error::Identity(_))));
    // A CA certificate is no identity, and a node certificate no CA.
    assert!(ChainTrust::new(Suite::Gm, gm.ca.root_cert_pem(), &node.cert_pem).is_err());
    assert!(ChainTrust::new(Suite::IntlR1, gm.ca.root_cert_pem(), gm.ca.operating_cert_pem()).is_err());
    assert!(matches!(
        Identity::from_pem(&node.key_pem, gm.ca.operating_cert_pem(), &gm.trust),
        Err(Error::Identity(_) | Error::Pki(_))
    ));
    // Garbage is an error, not a panic.
    assert!(Identity::from_pem("not a key", &node.cert_pem, &gm.trust).is_err());
    assert!(Identity::from_pem(&node.key_pem, "not a cert", &gm.trust).is_err());
    assert!(ChainTrust::new(Suite::Gm, "", "").is_err());
    assert!(gm.trust.verify_peer(b"\x30\x03\x02\x01\x00", now(), &[CertKind::Node]).is_err());

    assert_eq!(scheme_for(Suite::Gm), SM2SIG_SM3);
    assert_eq!(u16::from(SM2SIG_SM3), 0x0708);
    assert_eq!(scheme_for(Suite::IntlR1), SignatureScheme::ECDSA_NISTP256_SHA256);
}

#[test]
fn verify_peer_reports_what_the_handshake_would() {
    let chain = Chain::new(Suite::IntlK1, "chain-a");
    let node = chain.node("node7");
    let der = pem_to_der(&node.cert_pem);
    let peer = chain.trust.verify_peer(&der, now(), &[CertKind::Node]).unwrap();
    assert_eq!(peer.node_id(), Some("node7"));
    assert!(matches!(chain.trust.verify_peer(&der, now(), &[CertKind::User]), Err(Error::Identity(_))));
    assert!(matches!(
        chain.trust.verify_peer(&der, now() + days(30), &[CertKind::Node]),
        Err(Error::Pki(govchain_pki::Error::Expired(_)))
    ));
}
