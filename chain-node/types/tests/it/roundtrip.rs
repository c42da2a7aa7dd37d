use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{
    Block, BlockHeader, Decode, Encode, Error, Event, Hash, Receipt, Transaction, TxBody, TxStatus, TxType,
};

pub fn signed_tx(suite: Suite, key: &PrivateKey, nonce: u64) -> Transaction {
    TxBody {
        chain_id: "chain-a".into(),
        tx_type: TxType::Invoke,
        timestamp_ms: 1_700_000_000_000,
        nonce,
        sender: key.public_key().address(),
        recipient: "data".into(),
        data: format!("payload {nonce}").into_bytes(),
        memo: "备注".into(),
        signers: vec![],
    }
    .sign(&[key])
    .unwrap_or_else(|e| panic!("{suite}: {e}"))
}

pub fn block_of(suite: Suite, txs: Vec<Transaction>) -> (Block, Vec<Receipt>) {
    let receipts: Vec<Receipt> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| Receipt {
            tx_id: tx.id(suite),
            height: 1,
            index: i as u32,
            status: TxStatus::Success,
            message: String::new(),
            output: b"{}".to_vec(),
            events: vec![Event { contract: "data".into(), name: "put".into(), data: vec![1, 2] }],
        })
        .collect();
    let header = BlockHeader {
        version: 1,
        chain_id: "chain-a".into(),
        height: 1,
        prev_hash: Hash([7; 32]),
        tx_root: Block::tx_root(suite, &txs),
        state_root: Hash([1; 32]),
        receipts_root: Receipt::root(suite, &receipts),
        timestamp_ms: 1_700_000_000_123,
        proposer: "node0".into(),
        tx_count: txs.len() as u32,
    };
    (Block { header, transactions: txs, signatures: vec![] }, receipts)
}

#[test]
fn transactions_sign_verify_and_round_trip_in_every_suite() {
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let tx = signed_tx(suite, &key, 1);
        let (id, keys) = tx.verify(suite, "chain-a").expect("valid");
        assert_eq!(id, tx.id(suite));
        assert_eq!(keys[0].address(), tx.body.sender);

        let bytes = tx.encode();
        assert_eq!(Transaction::decode(&bytes).expect("decodes"), tx);
        let json = serde_json::to_string(&tx).expect("json");
        assert_eq!(serde_json::from_str::<Transaction>(&json).expect("json back"), tx);

        // Another chain, a changed field, a foreign signature: all refused.
        assert!(matches!(tx.verify(suite, "chain-b"), Err(Error::WrongChain { .. })));
        let mut changed = tx.clone();
        changed.body.data.push(0);
        assert!(matches!(changed.verify(suite, "chain-a"), Err(Error::BadSignature { index: 0, .. })));
        let other = signed_tx(suite, &PrivateKey::generate(suite), 1);
        let mut forged = tx.clone();
        forged.signatures = other.signatures.clone();
        assert!(forged.verify(suite, "chain-a").is_err());
        let mut stolen = tx.clone();
        stolen.body.sender = other.body.sender;
        assert!(stolen.verify(suite, "chain-a").is_err());
        let mut unsigned = tx.clone();
        unsigned.signatures.clear();
        assert!(matches!(unsigned.verify(suite, "chain-a"), Err(Error::SignatureCount { .. })));
    }
}

#[test]
fn a_key_of_another_suite_is_refused() {
    let tx = signed_tx(Suite::IntlR1, &PrivateKey::generate(Suite::IntlR1), 1);
    assert!(tx.verify(Suite::Gm, "chain-a").is_err());
}

#[test]
fn multi_signer_transactions_need_every_signature() {
    let suite = Suite::Gm;
    let (a, b) = (PrivateKey::generate(suite), PrivateKey::generate(suite));
    let body = signed_tx(suite, &a, 5).body;
    let tx = TxBody { signers: vec![], ..body }.sign(&[&a, &b]).expect("signs");
    assert_eq!(tx.body.signers.len(), 2);
    assert!(tx.verify(suite, "chain-a").is_ok());
    let mut missing = tx.clone();
    missing.signatures[1] = missing.signatures[0].clone();
    assert!(matches!(missing.verify(suite, "chain-a"), Err(Error::BadSignature { index: 1, .. })));
}

#[test]
fn blocks_and_receipts_round_trip_and_prove_inclusion() {
    let suite = Suite::Gm;
    let key = PrivateKey::generate(suite);
    let txs: Vec<Transaction> = (0..7).map(|n| signed_tx(suite, &key, n)).collect();
    let (block, receipts) = block_of(suite, txs);
    assert_eq!(Block::decode(&block.encode()).expect("decodes"), block);
    for r in &receipts {
        assert_eq!(Receipt::decode(&r.encode()).expect("decodes"), *r);
    }
    for i in 0..7 {
        let proof = block.prove_tx(suite, i).expect("in range");
        assert!(proof.verify(suite, &block.transactions[i].encode(), &block.header.tx_root));
        assert!(!proof.verify(suite, &block.transactions[(i + 1) % 7].encode(), &block.header.tx_root));
    }
    // The id covers every header field.
    let mut later = block.header.clone();
    later.timestamp_ms += 1;
    assert_ne!(later.id(suite), block.header.id(suite));
}
