//! Bad input returns errors, never panics.

use std::time::Duration;

use govchain_pki::{CertKind, ChainCa, Error, IssueRequest, Suite, Validity, parse, verify_chain};

use crate::support::*;

const ORG: &str = "finance.gov.example";

fn garbage_pems(real: &str) -> Vec<String> {
    let der = pem_to_der(real);
    vec![
        String::new(),
        "garbage".into(),
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
        "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n".into(),
        der::pem::encode_string("CERTIFICATE", pkcs8::LineEnding::LF, b"\x30\x03\x02\x01\x01").unwrap(),
        der::pem::encode_string("CERTIFICATE", pkcs8::LineEnding::LF, &[0xffu8; 300]).unwrap(),
        // Truncated DER.
        der_to_pem(&der[..der.len() / 2]),
        // Trailing bytes after the certificate.
        der_to_pem(&[der.clone(), vec![0]].concat()),
        // Right content, wrong label.
        der::pem::encode_string("PUBLIC KEY", pkcs8::LineEnding::LF, &der).unwrap(),
        // Two certificates where one is expected.
        format!("{real}{real}"),
        // Chopped PEM text.
        real[..real.len() / 2].to_owned(),
    ]
}

#[test]
fn garbage_certificates_are_errors() {
    for suite in Suite::ALL {
        let (ca, _) = new_ca(suite, "chain-a");
        let (_, public) = subject_key(suite);
        let leaf =
            ca.issue(&IssueRequest::user("u", ORG, public, Validity::days_from_now(1).unwrap())).unwrap();
        let root = ca.root_cert_pem();
        let op = ca.operating_cert_pem();
        for bad in garbage_pems(&leaf) {
            assert!(parse(&bad).is_err(), "parse accepted {bad:?}");
            assert!(verify_chain(suite, &bad, op, root, now()).is_err());
            assert!(verify_chain(suite, &leaf, &bad, root, now()).is_err());
            assert!(verify_chain(suite, &leaf, op, &bad, now()).is_err());
            assert!(ChainCa::load(suite, &bad, op, &ca.operating().key_pem).is_err());
            assert!(ChainCa::load(suite, root, &bad, &ca.operating().key_pem).is_err());
            assert!(ChainCa::load(suite, root, op, &bad).is_err());
        }
        // Right certificates in the wrong places.
        assert!(verify_chain(suite, op, &leaf, root, now()).is_err());
        assert!(verify_chain(suite, root, op, root, now()).is_err());
        assert!(verify_chain(suite, &leaf, root, op, now()).is_err());
        assert!(verify_chain(suite, &leaf, &leaf, root, now()).is_err());
        // Right chain, wrong suite.
        let wrong = Suite::ALL.into_iter().find(|s| *s != suite).unwrap();
        assert!(matches!(verify_chain(wrong, &leaf, op, root, now()), Err(Error::SuiteMismatch { .. })));
    }
}

#[test]
fn bad_issue_requests_are_errors() {
    for suite in Suite::ALL {
        let (ca, _) = new_ca(suite, "chain-a");
        let (_, public) = subject_key(suite);
        let valid = Validity::days_from_now(10).unwrap();
        let user = IssueRequest::user("u", ORG, public.clone(), valid);
        ca.issue(&user).unwrap();

        // Keys of the other suites, garbage keys, private instead of public, RSA.
        for other in Suite::ALL.into_iter().filter(|s| *s != suite) {
            let (_, other_public) = subject_key(other);
            let req = IssueRequest { subject_public_key_pem: other_public, ..user.clone() };
            assert!(
                matches!(ca.issue(&req), Err(Error::SuiteMismatch { .. })),
                "{suite} CA took a {other} key"
            );
        }
        let (private, _) = subject_key(suite);
        let files = Files::new();
        let rsa = files.path().join("rsa.pem");
        let out = run(openssl()
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out"])
            .arg(&rsa));
        assert!(out.status.success(), "{}", describe(&out));
        let rsa_public = stdout(&run(openssl().args(["pkey", "-pubout", "-in"]).arg(&rsa)));
        assert!(rsa_public.contains("PUBLIC KEY"));
        for key in [
            String::new(),
            "garbage".to_owned(),
            private,
            rsa_public,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
            // A point that is not on the curve: flip a byte of the X coordinate.
            {
                let (label, mut der) = der::pem::decode_vec(public.as_bytes()).unwrap();
                let n = der.len();
                der[n - 40] ^= 0x01;
                der::pem::encode_string(label, pkcs8::LineEnding::LF, &der).unwrap()
            },
        ] {
            let req = IssueRequest { subject_public_key_pem: key.clone(), ..user.clone() };
            assert!(ca.issue(&req).is_err(), "{suite} accepted key {key:?}");
        }

        let bad_requests = [
            IssueRequest { kind: CertKind::Ca, ..user.clone() },
            IssueRequest { common_name: String::new(), ..user.clone() },
            IssueRequest { common_name: "x".repeat(65), ..user.clone() },
            IssueRequest { organization: "a\u{0}b".into(), ..user.clone() },
            // Users get no SANs; nodes need one; SANs must be DNS names.
            IssueRequest { dns_names: vec!["u.gov.example".into()], ..user.clone() },
            IssueRequest { kind: CertKind::Node, ..user.clone() },
            IssueRequest { kind: CertKind::Node, dns_names: vec!["*.gov.example".into()], ..user.clone() },
            IssueRequest { kind: CertKind::Node, dns_names: vec!["bad name".into()], ..user.clone() },
            // Outliving the operating CA.
            IssueRequest { validity: Validity::days_from_now(366).unwrap(), ..user.clone() },
        ];
        for req in bad_requests {
            assert!(matches!(ca.issue(&req), Err(Error::InvalidRequest(_))), "{suite} accepted {req:?}");
        }
    }
}

#[test]
fn bad_ca_parameters_are_errors() {
    let long = Validity::days_from_now(3650).unwrap();
    let short = Validity::days_from_now(365).unwrap();
    for suite in Suite::ALL {
        assert!(ChainCa::create(suite, "", "org", long, short).is_err());
        assert!(ChainCa::create(suite, "c", "", long, short).is_err());
        assert!(ChainCa::create(suite, &"c".repeat(60), "org", long, short).is_err());
        // Operating CA outliving the root.
        assert!(ChainCa::create(suite, "c", "org", short, long).is_err());
    }
    let t = now();
    assert!(Validity::new(t, t - Duration::from_secs(1)).is_err());
}
