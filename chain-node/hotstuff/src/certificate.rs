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
//! A block that ends its epoch carries the next epoch's members in its
//! link ([`Link::reconfig`]); its cid commits to them, so the certificate
//! proves them too.
//!
//! [`verify_commit`] needs nothing but the block and the validators of
//! its epoch: the genesis members for the first, then the members each
//! epoch-ending block names ([`reconfig_of`]), in ledger order.

use std::collections::BTreeSet;

use govchain_crypto::{PublicKey, Suite};
use govchain_types::{
    Block, BlockSignature, Hash,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
};

use crate::{
    Error, Result,
    types::{CidFields, QuorumCert, Reconfig, Validator, ValidatorSet, quorum, vote_digest},
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
    /// The next epoch's members, when B ends its epoch.
    pub reconfig: Option<Reconfig>,
    /// Digests of the reconfigurations some hops carry: (index in `hops`,
    /// [`Reconfig::digest`]).
    pub hop_reconfigs: Vec<(u64, Hash)>,
}

impl Encode for Link {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.parent.encode_to(out);
        self.cert_round.encode_to(out);
        self.cert_cid.encode_to(out);
        encode_list(&self.hops, out);
        // Written only when there is one, so a link of an older version and
        // one without decode alike.
        if self.reconfig.is_some() || !self.hop_reconfigs.is_empty() {
            self.reconfig.encode_to(out);
            encode_list(&self.hop_reconfigs, out);
        }
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
            reconfig: if r.remaining() > 0 { Option::decode_from(r)? } else { None },
            hop_reconfigs: if r.remaining() > 0 { decode_list(r)? } else { Vec::new() },
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
        reconfig: link.reconfig.as_ref().map(|r| r.digest(suite)),
    }
    .cid(suite)
}

/// The next epoch's members, when `block` ends its epoch.
pub fn reconfig_of(block: &Block) -> Result<Option<Reconfig>> {
    Ok(link_of(block)?.and_then(|(_, link)| link.reconfig))
}

/// Checks that `block` is committed: its transactions match its header,
/// and its certificate holds a quorum of distinct voters of `validators`
/// (the members of the block's epoch, see the [module docs](self))
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
    for (i, hop) in link.hops.iter().enumerate() {
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
            reconfig: link.hop_reconfigs.iter().find(|(at, _)| *at == i as u64).map(|(_, d)| *d),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_with_and_without_a_group_change_round_trip() {
        let mut link = Link {
            epoch: 1,
            round: 9,
            parent: Hash([1; 32]),
            cert_round: 10,
            cert_cid: Hash([2; 32]),
            hops: Vec::new(),
            reconfig: None,
            hop_reconfigs: Vec::new(),
        };
        // Without one, the encoding is the earlier version's.
        let plain = link.encode();
        assert_eq!(crate::types::decode::<Link>("l", &plain).ok(), Some(link.clone()));
        link.reconfig =
            Some(Reconfig { validators: Vec::new(), policy: govchain_consensus::BlockPolicy::default() });
        link.hop_reconfigs = vec![(0, Hash([3; 32]))];
        let bytes = link.encode();
        assert!(bytes.len() > plain.len());
        assert_eq!(crate::types::decode::<Link>("l", &bytes).ok(), Some(link));
    }
}
