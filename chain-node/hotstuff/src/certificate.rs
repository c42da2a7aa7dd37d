//! Commit certificates carried by ledger blocks, and their check.
//!
//! A ledger block made from consensus block B carries, after the node's own
//! signature, one link entry (node `hotstuff`, empty public key, signature
//! field = the encoded [`Link`]) and one entry per signer of the QC that
//! commits it (node name, SEC1 public key, DER signature over that QC's
//! vote digest). The link holds what of B's cid the ledger header does not
//! (epoch, round, parent cid) and the certified block B' (round, cid) whose
//! QC commits B's chain. When B was committed through a descendant X (the
//! round after B timed out), the link also holds the blocks from B's child
//! to X (`hops`), so the chain of cids from B to X is recomputed too.
//! [`verify_commit`] needs nothing but the block and the validators.

use std::collections::BTreeSet;

use govchain_crypto::{PublicKey, Suite};
use govchain_types::{
    Block, BlockSignature, Hash,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
};

use crate::{
    Error, Result,
    types::{CidFields, QuorumCert, Validator, ValidatorSet, quorum, vote_digest},
};

/// Node name of the link entry.
pub const LINK_NODE: &str = "hotstuff";

/// A block between B and the directly committed X, as its cid needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Its round.
    pub round: u64,
    /// Its ledger height.
    pub height: u64,
    /// Its payload's transaction root.
    pub tx_root: Hash,
    /// Its payload's block time.
    pub timestamp_ms: u64,
    /// Its payload's proposer.
    pub proposer: String,
}

impl Encode for Hop {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.round.encode_to(out);
        self.height.encode_to(out);
        self.tx_root.encode_to(out);
        self.timestamp_ms.encode_to(out);
        self.proposer.encode_to(out);
    }
}

impl Decode for Hop {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Hop {
            round: u64::decode_from(r)?,
            height: u64::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
            timestamp_ms: u64::decode_from(r)?,
            proposer: String::decode_from(r)?,
        })
    }
}

/// What ties a ledger block to the QC that commits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Epoch of B.
    pub epoch: u64,
    /// Round of B.
    pub round: u64,
    /// Parent cid of B.
    pub parent: Hash,
    /// Round of the certified block B'.
    pub cert_round: u64,
    /// Cid of the certified block B'.
    pub cert_cid: Hash,
    /// Blocks from B's child to X, B' 's parent (empty: X is B).
    pub hops: Vec<Hop>,
}

impl Encode for Link {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.parent.encode_to(out);
        self.cert_round.encode_to(out);
        self.cert_cid.encode_to(out);
        encode_list(&self.hops, out);
    }
}

impl Decode for Link {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Link {
            epoch: u64::decode_from(r)?,
            round: u64::decode_from(r)?,
            parent: Hash::decode_from(r)?,
            cert_round: u64::decode_from(r)?,
            cert_cid: Hash::decode_from(r)?,
            hops: decode_list(r)?,
        })
    }
}

/// The certificate entries for a block with `link`, committed by `qc`.
pub fn certificate(link: &Link, qc: &QuorumCert, validators: &ValidatorSet) -> Vec<BlockSignature> {
    let mut out = Vec::with_capacity(qc.votes.len() + 1);
    out.push(BlockSignature { node: LINK_NODE.into(), public_key: Vec::new(), signature: link.encode() });
    for (voter, signature) in &qc.votes {
        if let Some(v) = validators.member(*voter) {
            out.push(BlockSignature {
                node: v.name.clone(),
                public_key: v.public_key.clone(),
                signature: signature.clone(),
            });
        }
    }
    out
}

/// The link of a block's certificate, if it has one.
pub fn link_of(block: &Block) -> Result<Option<(usize, Link)>> {
    let Some(at) = block.signatures.iter().position(|s| s.node == LINK_NODE && s.public_key.is_empty())
    else {
        return Ok(None);
    };
    let link = crate::types::decode("certificate link", &block.signatures[at].signature)?;
    Ok(Some((at, link)))
}

/// The QC in `block`'s certificate, when it commits the block itself (no
/// hops): its voters by id, their signatures as they are.
pub fn commit_qc(block: &Block, link: &Link, validators: &ValidatorSet, cid: Hash) -> Option<QuorumCert> {
    if !link.hops.is_empty() {
        return None;
    }
    let at = block.signatures.iter().position(|s| s.node == LINK_NODE && s.public_key.is_empty())?;
    let mut votes: Vec<(u64, Vec<u8>)> = block.signatures[at + 1..]
        .iter()
        .filter_map(|s| {
            let v = validators.members().iter().find(|v| v.name == s.node && v.voter)?;
            Some((v.id, s.signature.clone()))
        })
        .collect();
    votes.sort_by_key(|(id, _)| *id);
    votes.dedup_by_key(|(id, _)| *id);
    Some(QuorumCert { epoch: link.epoch, round: link.cert_round, cid: link.cert_cid, commit: cid, votes })
}

/// The cid of the consensus block a ledger block with `link` was made
/// from.
pub fn block_cid(block: &Block, link: &Link, suite: Suite) -> Hash {
    let h = &block.header;
    CidFields {
        chain_id: &h.chain_id,
        epoch: link.epoch,
        round: link.round,
        parent: link.parent,
        height: h.height,
        tx_root: h.tx_root,
        timestamp_ms: h.timestamp_ms,
        proposer: &h.proposer,
    }
    .cid(suite)
}

/// Checks that `block` is committed: its transactions match its header,
/// and its certificate holds a quorum of distinct voters of `validators`
/// signing a QC that commits the chain of cids from this block's.
pub fn verify_commit(block: &Block, suite: Suite, validators: &[Validator]) -> Result<()> {
    let bad = |why: String| Err(Error::Certificate(format!("block {}: {why}", block.header.height)));
    if Block::tx_root(suite, &block.transactions) != block.header.tx_root {
        return bad("transactions do not match the header's root".into());
    }
    let Some((at, link)) = link_of(block)? else {
        return bad("no commit certificate".into());
    };
    let mut cid = block_cid(block, &link, suite);
    let mut round = link.round;
    for hop in &link.hops {
        if hop.round <= round {
            return bad("certificate rounds do not increase".into());
        }
        cid = CidFields {
            chain_id: &block.header.chain_id,
            epoch: link.epoch,
            round: hop.round,
            parent: cid,
            height: hop.height,
            tx_root: hop.tx_root,
            timestamp_ms: hop.timestamp_ms,
            proposer: &hop.proposer,
        }
        .cid(suite);
        round = hop.round;
    }
    if round.checked_add(1) != Some(link.cert_round) {
        return bad("the certified block is not of the round after the committed one".into());
    }
    let digest = vote_digest(suite, link.epoch, link.cert_round, &link.cert_cid, &cid);
    let voters: Vec<&Validator> = validators.iter().filter(|v| v.voter).collect();
    let mut signed = BTreeSet::new();
    for entry in &block.signatures[at + 1..] {
        let Some(v) = voters.iter().find(|v| v.name == entry.node) else {
            return bad(format!("signer `{}` is not a voting validator", entry.node));
        };
        if v.public_key != entry.public_key {
            return bad(format!("signer `{}` has another key", entry.node));
        }
        if !signed.insert(v.id) {
            return bad(format!("signer `{}` appears twice", entry.node));
        }
        let key = PublicKey::from_sec1(suite, &v.public_key)
            .map_err(|e| Error::Certificate(format!("validator `{}`: {e}", v.name)))?;
        if key.verify(&digest.0, &entry.signature).is_err() {
            return bad(format!("signature of `{}` does not verify", entry.node));
        }
    }
    if signed.len() < quorum(voters.len()) {
        return bad(format!("{} signers, {} needed", signed.len(), quorum(voters.len())));
    }
    Ok(())
}
