//! `verify_commit` on blocks a real cluster committed: accepted as they
//! are, refused when anything in them is changed.

use std::time::Duration;

use govchain_crypto::PrivateKey;
use govchain_hotstuff::{
    Validator,
    certificate::{LINK_NODE, block_cid, link_of},
    types::vote_digest,
    verify_commit,
};
use govchain_types::{Block, BlockSignature, Hash};

use crate::common::{Cluster, SUITE};

async fn committed_blocks() -> (Vec<Block>, Vec<Validator>) {
    let mut c = Cluster::new(4, 0);
    c.start_all(&[1, 2, 3, 4]).await;
    c.submit(&[1, 2, 3, 4], 0..20).await;
    c.wait_txs(&[1, 2, 3, 4], 20, Duration::from_secs(30)).await;
    let blocks = c.store(2).blocks().into_iter().skip(1).collect();
    let validators = c.validators.clone();
    c.shutdown_all().await;
    (blocks, validators)
}

fn signers(block: &Block) -> usize {
    let at = block.signatures.iter().position(|s| s.node == LINK_NODE).expect("link");
    block.signatures.len() - at - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_blocks_verify_and_changed_ones_do_not() {
    let (blocks, validators) = committed_blocks().await;
    assert!(!blocks.is_empty());
    for b in &blocks {
        verify_commit(b, SUITE, &validators).expect("a committed block verifies");
        assert!(signers(b) >= 3, "a quorum of 4 is 3");
    }
    let block = blocks.last().expect("a block").clone();

    // A tampered header: another block time, proposer, height or transactions.
    let mut b = block.clone();
    b.header.timestamp_ms += 1;
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "changed block time");
    let mut b = block.clone();
    b.header.proposer = "someone".into();
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "changed proposer");
    let mut b = block.clone();
    b.header.height += 1;
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "changed height");
    let mut b = block.clone();
    b.transactions.pop();
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "dropped transaction");

    // Too few signers.
    let mut b = block.clone();
    while signers(&b) > 2 {
        b.signatures.pop();
    }
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "two of four signers");

    // A signer twice (the count reaches a quorum only with the repeat).
    let mut b = block.clone();
    while signers(&b) > 2 {
        b.signatures.pop();
    }
    let again = b.signatures.last().expect("a signer").clone();
    b.signatures.push(again);
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "repeated signer");

    // A signer outside the validators, signing what the real ones signed:
    // counted, it would make the quorum.
    let (_, link) = link_of(&block).expect("decodes").expect("a link");
    let cid = block_cid(&block, &link, SUITE);
    let digest = if link.hops.is_empty() {
        vote_digest(SUITE, link.epoch, link.cert_round, &link.cert_cid, &cid)
    } else {
        Hash::ZERO
    };
    let outsider = PrivateKey::generate(SUITE);
    let mut b = block.clone();
    while signers(&b) > 2 {
        b.signatures.pop();
    }
    b.signatures.push(BlockSignature {
        node: "mallory".into(),
        public_key: outsider.public_key().to_sec1(),
        signature: outsider.sign(&digest.0).expect("sign"),
    });
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "outsider signer");
    // The same block checked against a set that lacks one of its signers.
    let first = &block.signatures[block.signatures.iter().position(|s| s.node == LINK_NODE).unwrap() + 1];
    let fewer: Vec<Validator> = validators.iter().filter(|v| v.name != first.node).cloned().collect();
    assert!(verify_commit(&block, SUITE, &fewer).is_err(), "signer not a validator");

    // A block without a certificate.
    let mut b = block.clone();
    b.signatures.clear();
    assert!(verify_commit(&b, SUITE, &validators).is_err(), "no certificate");
}
