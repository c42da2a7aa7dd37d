//! Organizations from certificates (SPEC ORG-4, CRY-2, LED-1): a signer's
//! certificate from the chain CA makes its `O` the transaction's
//! organization; certificates that do not hold are refused on admission.

use std::time::{Duration, SystemTime};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_pki::{ChainCa, IssueRequest, Validity};
use govchain_sdk::{Error as SdkError, Wallet};
use govchain_types::{Receipt, TxStatus, api::SubmitMode};
use serde_json::Value;

use crate::support::{TestNode, start, start_with, wallet};

const DAY: Duration = Duration::from_secs(86_400);

fn der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.as_bytes()).expect("certificate PEM").1
}

fn user_cert(ca: &ChainCa, key: &PrivateKey, org: &str, validity: Validity) -> Vec<u8> {
    let public = key.public_key().to_spki_pem().expect("pem");
    der(&ca.issue(&IssueRequest::user("someone", org, public, validity)).expect("issue"))
}

/// A wallet whose transactions carry a user certificate with `O=org`.
fn member(t: &TestNode, org: &str) -> Wallet {
    let key = PrivateKey::generate(t.node.suite());
    let cert = user_cert(&t.ca(), &key, org, Validity::days_from_now(1).expect("validity"));
    Wallet::new(key, "test-chain").with_certificate(cert)
}

async fn run(t: &TestNode, w: &Wallet, call: DataCall) -> Receipt {
    let tx = w.data_call(&call).expect("sign");
    t.client.submit(&tx, SubmitMode::Sync).await.expect("admitted").receipt.expect("receipt")
}

fn put(key: &str, value: &str) -> DataCall {
    DataCall::Put { key: key.into(), value: value.into() }
}

fn delete(key: &str) -> DataCall {
    DataCall::Delete { key: key.into() }
}

fn owner(r: &Receipt) -> String {
    let out: Value = serde_json::from_slice(&r.output).expect("JSON output");
    out["owner"].as_str().expect("owner").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_one_organization_share_its_data_and_no_one_else_does() {
    let t = start(Suite::Gm).await;
    let (alice, bob) = (member(&t, "dept-a"), member(&t, "dept-a"));
    let carol = member(&t, "dept-b");
    let dave = wallet(Suite::Gm);
    assert_ne!(alice.address(), bob.address(), "two keys of one organization");

    let r = run(&t, &alice, put("permit/1", "granted")).await;
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    assert_eq!(owner(&r), "dept-a");
    let r = run(&t, &bob, put("permit/1", "amended")).await;
    assert_eq!(r.status, TxStatus::Success, "same organization overwrites: {}", r.message);
    assert_eq!(owner(&r), "dept-a");

    for (who, call) in
        [(&carol, put("permit/1", "stolen")), (&carol, delete("permit/1")), (&dave, delete("permit/1"))]
    {
        let r = run(&t, who, call).await;
        assert_eq!(r.status, TxStatus::Failed);
        assert!(r.message.contains("`dept-a`"), "{}", r.message);
    }
    let state = t.client.data_value(b"permit/1").await.expect("state");
    assert_eq!(state.value_utf8.as_deref(), Some("amended"));

    let r = run(&t, &bob, delete("permit/1")).await;
    assert_eq!(r.status, TxStatus::Success, "same organization deletes: {}", r.message);

    // Without a certificate a key is its own organization.
    let r = run(&t, &dave, put("own", "1")).await;
    assert_eq!(owner(&r), dave.address().to_string());

    // The node's own key with the node certificate `init` issued acts for
    // the chain's organization.
    let read = |f: &str| std::fs::read_to_string(t.dir().join(f)).expect("read");
    let node_key = PrivateKey::from_pkcs8_pem(&read("key.pem")).expect("node key");
    let node_wallet = Wallet::new(node_key, "test-chain").with_certificate(der(&read("node-cert.pem")));
    let r = run(&t, &node_wallet, put("node/1", "up")).await;
    assert_eq!(r.status, TxStatus::Success, "{}", r.message);
    assert_eq!(owner(&r), "org-test");
}

fn refused(e: SdkError) -> String {
    match e {
        SdkError::Api { status: 400, code, message } if code == "bad_certificate" => message,
        other => panic!("expected 400 bad_certificate, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_that_do_not_hold_are_refused() {
    let suite = Suite::Gm;
    let t = start(suite).await;
    let ca = t.ca();
    let key = PrivateKey::generate(suite);
    let submit = |cert: Vec<u8>| {
        let tx = Wallet::new(key.clone(), "test-chain")
            .with_certificate(cert)
            .data_call(&put("k", "v"))
            .expect("sign");
        let client = t.client.clone();
        async move { client.submit(&tx, SubmitMode::Sync).await }
    };
    let valid = Validity::days_from_now(1).expect("validity");

    let (other_ca, _) = ChainCa::create(suite, "other-chain", "org-test", valid, valid).expect("other CA");
    let message = refused(submit(user_cert(&other_ca, &key, "dept-a", valid)).await.unwrap_err());
    assert!(message.contains("does not verify against the chain CA"), "{message}");

    let someone_else = PrivateKey::generate(suite);
    let message = refused(submit(user_cert(&ca, &someone_else, "dept-a", valid)).await.unwrap_err());
    assert!(message.contains("certifies another public key"), "{message}");

    let now = SystemTime::now();
    let expired = Validity::new(now - 10 * DAY, now - DAY).expect("validity");
    let message = refused(submit(user_cert(&ca, &key, "dept-a", expired)).await.unwrap_err());
    assert!(message.contains("expired"), "{message}");

    let future = Validity::new(now + DAY, now + 2 * DAY).expect("validity");
    let message = refused(submit(user_cert(&ca, &key, "dept-a", future)).await.unwrap_err());
    assert!(message.contains("not yet valid"), "{message}");

    let message = refused(submit(vec![0x30, 0x82, 0xff]).await.unwrap_err());
    assert!(message.contains("certificate"), "{message}");

    // The same key with a good certificate gets in, and nothing refused
    // above was committed.
    let r = submit(user_cert(&ca, &key, "dept-a", valid)).await.expect("good certificate").receipt;
    let r = r.expect("receipt");
    assert_eq!((r.status, owner(&r)), (TxStatus::Success, "dept-a".into()), "{}", r.message);
    assert_eq!(t.client.height().await.expect("height"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_ca_refuses_certificates() {
    let suite = Suite::IntlR1;
    let t = start_with(suite, |g| g.ca = None).await;
    assert_eq!(t.node.genesis().ca, None);
    // The CA files init wrote still issue certificates; this chain's genesis
    // does not trust them.
    let w = member(&t, "dept-a");
    let message = refused(
        t.client.submit(&w.data_call(&put("k", "v")).expect("sign"), SubmitMode::Sync).await.unwrap_err(),
    );
    assert!(message.contains("this chain has no CA"), "{message}");

    let plain = wallet(suite);
    let r = run(&t, &plain, put("k", "v")).await;
    assert_eq!((r.status, owner(&r)), (TxStatus::Success, plain.address().to_string()));
}
