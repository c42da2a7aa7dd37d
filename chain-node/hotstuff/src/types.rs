//! The protocol's values and their canonical encodings: validators, blocks,
//! votes, quorum and timeout certificates, the messages between members and
//! the commit point stored with every block.
//!
//! Every signed value is signed over a domain-separated digest, so a
//! signature made for one purpose never verifies for another. Decoding
//! uses the chain's canonical encoding: hostile bytes are errors.

use govchain_consensus::BlockPolicy;
use govchain_crypto::{PublicKey, Suite};
use govchain_types::{
    Block as LedgerBlock, Hash, Transaction,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
};

use crate::{Error, Result};

/// Domain tags of the digests (hashed first, so no two digests collide).
mod domain {
    pub const GENESIS: &[u8] = b"govchain/hotstuff/genesis/v1";
    pub const BLOCK: &[u8] = b"govchain/hotstuff/block/v1";
    pub const PROPOSAL: &[u8] = b"govchain/hotstuff/proposal/v1";
    pub const VOTE: &[u8] = b"govchain/hotstuff/vote/v1";
    pub const TIMEOUT: &[u8] = b"govchain/hotstuff/timeout/v1";
    pub const RECONFIG: &[u8] = b"govchain/hotstuff/reconfig/v1";
}

/// Most members of one group (bounds lists decoded from peers).
pub const MAX_VALIDATORS: usize = 1024;

/// A member of the group as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// Consensus id, unique in the group, above 0.
    pub id: u64,
    /// Node id (name); it signs blocks under this name.
    pub name: String,
    /// Peer address (`host:port`).
    pub addr: String,
    /// SEC1 public key in the chain's suite.
    pub public_key: Vec<u8>,
    /// Whether it votes (false: a learner, a backup ledger node).
    pub voter: bool,
}

impl Encode for Validator {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.name.encode_to(out);
        self.addr.encode_to(out);
        self.public_key.encode_to(out);
        self.voter.encode_to(out);
    }
}

impl Decode for Validator {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Validator {
            id: u64::decode_from(r)?,
            name: String::decode_from(r)?,
            addr: String::decode_from(r)?,
            public_key: Vec::decode_from(r)?,
            voter: bool::decode_from(r)?,
        })
    }
}

/// The members of one epoch with their parsed keys.
#[derive(Debug, Clone)]
pub struct ValidatorSet {
    members: Vec<Validator>,
    /// Voters sorted by id, with their keys.
    voters: Vec<(u64, PublicKey)>,
}

impl ValidatorSet {
    /// Checks ids (unique, above 0), keys (valid in `suite`) and that there
    /// is at least one voter.
    pub fn new(suite: Suite, mut members: Vec<Validator>) -> Result<ValidatorSet> {
        members.sort_by_key(|v| v.id);
        if members.len() > MAX_VALIDATORS {
            return Err(Error::Config(format!("more than {MAX_VALIDATORS} validators")));
        }
        let mut voters = Vec::new();
        for (i, v) in members.iter().enumerate() {
            if v.id == 0 || (i > 0 && members[i - 1].id == v.id) {
                return Err(Error::Config(format!("validator id {} is 0 or repeated", v.id)));
            }
            if members[..i].iter().any(|o| o.name == v.name) {
                return Err(Error::Config(format!("validator name `{}` is repeated", v.name)));
            }
            if v.voter {
                let key = PublicKey::from_sec1(suite, &v.public_key)
                    .map_err(|e| Error::Config(format!("validator {}: public key: {e}", v.id)))?;
                voters.push((v.id, key));
            }
        }
        if voters.is_empty() {
            return Err(Error::Config("no voting validator".into()));
        }
        Ok(ValidatorSet { members, voters })
    }

    /// Every member, sorted by id.
    pub fn members(&self) -> &[Validator] {
        &self.members
    }

    /// Number of voters.
    pub fn n(&self) -> usize {
        self.voters.len()
    }

    /// Votes that make a certificate: floor(2n/3) + 1.
    pub fn quorum(&self) -> usize {
        quorum(self.voters.len())
    }

    /// Most faulty voters tolerated: n - quorum.
    pub fn f(&self) -> usize {
        self.n() - self.quorum()
    }

    /// The leader of `round`: voters sorted by id, round-robin.
    pub fn leader(&self, round: u64) -> u64 {
        let n = self.voters.len() as u64;
        // `n` is at least 1 (checked in `new`) and the index below `n`.
        self.voters[usize::try_from(round % n).unwrap_or(0)].0
    }

    /// Voter ids, sorted.
    pub fn voter_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.voters.iter().map(|(id, _)| *id)
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: u64) -> bool {
        self.key(id).is_some()
    }

    /// The key of voter `id`.
    pub fn key(&self, id: u64) -> Option<&PublicKey> {
        self.voters.binary_search_by_key(&id, |(v, _)| *v).ok().map(|i| &self.voters[i].1)
    }

    /// Member `id`.
    pub fn member(&self, id: u64) -> Option<&Validator> {
        self.members.binary_search_by_key(&id, |v| v.id).ok().map(|i| &self.members[i])
    }
}

/// Votes that make a certificate among `n` voters: floor(2n/3) + 1.
pub fn quorum(n: usize) -> usize {
    n * 2 / 3 + 1
}

/// A change of the group or of its block policy: the whole configuration
/// of the next epoch. The block that carries it is the last ledger block
/// of its epoch (the blocks after it in that epoch order nothing); once it
/// commits, the next epoch starts from it with these members and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfig {
    /// Every member of the next epoch, voters and learners.
    pub validators: Vec<Validator>,
    /// The block policy of the next epoch.
    pub policy: BlockPolicy,
}

/// A block policy in the binary encoding: (max_txs, max_bytes, max_wait
/// in ms), each a `u64`.
pub(crate) fn encode_policy(p: &BlockPolicy, out: &mut Vec<u8>) {
    (p.max_txs as u64).encode_to(out);
    (p.max_bytes as u64).encode_to(out);
    u64::try_from(p.max_wait.as_millis()).unwrap_or(u64::MAX).encode_to(out);
}

/// Reads what [`encode_policy`] wrote (whether the values are in range is
/// [`BlockPolicy::validate`]'s to say).
pub(crate) fn decode_policy(r: &mut Reader<'_>) -> govchain_types::Result<BlockPolicy> {
    let mut size = || u64::decode_from(r).map(|v| usize::try_from(v).unwrap_or(usize::MAX));
    let (max_txs, max_bytes) = (size()?, size()?);
    Ok(BlockPolicy { max_txs, max_bytes, max_wait: std::time::Duration::from_millis(u64::decode_from(r)?) })
}

impl Reconfig {
    /// What a block's cid commits to: the suite hash of the encoding.
    pub fn digest(&self, suite: Suite) -> Hash {
        let mut buf = domain::RECONFIG.to_vec();
        self.encode_to(&mut buf);
        Hash(suite.hash(&buf))
    }

    /// Checks the change against `current`, the members now, and `policy`,
    /// the block policy now: the next set is well formed (ids, names, keys
    /// in `suite`, a voter at least), the next policy in range, and they
    /// differ by one step: one member added as a learner, one learner made
    /// a voter, one member removed, or (the members kept) another policy.
    pub fn check_step(
        &self,
        suite: Suite,
        current: &ValidatorSet,
        policy: &BlockPolicy,
    ) -> Result<ValidatorSet> {
        let next = ValidatorSet::new(suite, self.validators.clone())?;
        let bad = |why: &str| Err(Error::Invalid(format!("reconfiguration: {why}")));
        if self.policy.validate().is_err() {
            return bad("block policy out of range");
        }
        let same_policy = self.policy == *policy;
        let (old, new) = (current.members(), next.members());
        let kept = |v: &Validator| old.iter().any(|o| o == v);
        let added: Vec<&Validator> = new.iter().filter(|v| current.member(v.id).is_none()).collect();
        let removed = old.iter().filter(|o| next.member(o.id).is_none()).count();
        let changed: Vec<&Validator> =
            new.iter().filter(|v| current.member(v.id).is_some() && !kept(v)).collect();
        let same_members = added.is_empty() && removed == 0 && changed.is_empty();
        if !same_policy && !same_members {
            return bad("the members and the block policy change one at a time");
        }
        match (added.as_slice(), removed, changed.as_slice()) {
            ([v], 0, []) if !v.voter => {
                if old.iter().any(|o| o.name == v.name) {
                    return bad(&format!("the name `{}` is taken", v.name));
                }
                Ok(next)
            }
            ([], 0, [v]) => {
                let was = current.member(v.id).map(|o| (o.voter, &o.name, &o.addr, &o.public_key));
                if was == Some((false, &v.name, &v.addr, &v.public_key)) && v.voter {
                    Ok(next)
                } else {
                    bad("only a learner's promotion to voter may change a member")
                }
            }
            ([], 1, []) => Ok(next),
            ([], 0, []) if !same_policy => Ok(next),
            ([], 0, []) => bad("the group would not change"),
            _ => bad("one member added as a learner, promoted or removed at a time"),
        }
    }
}

impl Encode for Reconfig {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_list(&self.validators, out);
        encode_policy(&self.policy, out);
    }
}

impl Decode for Reconfig {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        let validators: Vec<Validator> = decode_list(r)?;
        if validators.len() > MAX_VALIDATORS {
            return Err(govchain_types::Error::TooLong {
                what: "reconfiguration",
                len: validators.len(),
                max: MAX_VALIDATORS,
            });
        }
        Ok(Reconfig { validators, policy: decode_policy(r)? })
    }
}

/// The cid of an epoch's genesis: the ledger point the epoch starts from.
pub fn genesis_cid(suite: Suite, chain_id: &str, epoch: u64, height: u64, block_id: &Hash) -> Hash {
    let mut buf = domain::GENESIS.to_vec();
    chain_id.encode_to(&mut buf);
    epoch.encode_to(&mut buf);
    height.encode_to(&mut buf);
    block_id.encode_to(&mut buf);
    Hash(suite.hash(&buf))
}

/// What a block's id commits to besides its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidFields<'a> {
    /// The chain.
    pub chain_id: &'a str,
    /// The epoch.
    pub epoch: u64,
    /// The round.
    pub round: u64,
    /// The parent's cid.
    pub parent: Hash,
    /// Ledger height after the block.
    pub height: u64,
    /// Merkle root of the payload's transactions.
    pub tx_root: Hash,
    /// The payload's block time.
    pub timestamp_ms: u64,
    /// The payload's proposer name.
    pub proposer: &'a str,
    /// Digest of the payload's [`Reconfig`], if it carries one (hashed
    /// only then, so the cids of other blocks do not change).
    pub reconfig: Option<Hash>,
}

impl CidFields<'_> {
    /// The suite hash of the domain-separated encoding.
    pub fn cid(&self, suite: Suite) -> Hash {
        let mut buf = domain::BLOCK.to_vec();
        self.chain_id.encode_to(&mut buf);
        self.epoch.encode_to(&mut buf);
        self.round.encode_to(&mut buf);
        self.parent.encode_to(&mut buf);
        self.height.encode_to(&mut buf);
        self.tx_root.encode_to(&mut buf);
        self.timestamp_ms.encode_to(&mut buf);
        self.proposer.encode_to(&mut buf);
        if let Some(reconfig) = &self.reconfig {
            reconfig.encode_to(&mut buf);
        }
        Hash(suite.hash(&buf))
    }
}

/// The digest a vote signs: (epoch, round, block cid, commit cid).
pub fn vote_digest(suite: Suite, epoch: u64, round: u64, cid: &Hash, commit: &Hash) -> Hash {
    let mut buf = domain::VOTE.to_vec();
    epoch.encode_to(&mut buf);
    round.encode_to(&mut buf);
    cid.encode_to(&mut buf);
    commit.encode_to(&mut buf);
    Hash(suite.hash(&buf))
}

/// The digest a timeout signs: (epoch, round, round of the signer's high QC).
pub fn timeout_digest(suite: Suite, epoch: u64, round: u64, high_qc_round: u64) -> Hash {
    let mut buf = domain::TIMEOUT.to_vec();
    epoch.encode_to(&mut buf);
    round.encode_to(&mut buf);
    high_qc_round.encode_to(&mut buf);
    Hash(suite.hash(&buf))
}

/// The digest a proposer signs: its block's cid.
pub fn proposal_digest(suite: Suite, cid: &Hash) -> Hash {
    let mut buf = domain::PROPOSAL.to_vec();
    cid.encode_to(&mut buf);
    Hash(suite.hash(&buf))
}

/// A quorum certificate: a quorum of votes on one (round, cid, commit cid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumCert {
    /// The epoch.
    pub epoch: u64,
    /// The certified block's round (0: the epoch's genesis, unsigned).
    pub round: u64,
    /// The certified block's cid.
    pub cid: Hash,
    /// Its parent's cid when the parent is from the round before (a QC is
    /// then a commit certificate for that parent), zero otherwise.
    pub commit: Hash,
    /// (voter id, DER signature over the vote digest), sorted by id.
    pub votes: Vec<(u64, Vec<u8>)>,
}

impl QuorumCert {
    /// The unsigned certificate of an epoch's genesis.
    pub fn genesis(epoch: u64, cid: Hash) -> QuorumCert {
        QuorumCert { epoch, round: 0, cid, commit: Hash::ZERO, votes: Vec::new() }
    }

    /// The digest its votes sign.
    pub fn digest(&self, suite: Suite) -> Hash {
        vote_digest(suite, self.epoch, self.round, &self.cid, &self.commit)
    }
}

impl Encode for QuorumCert {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.cid.encode_to(out);
        self.commit.encode_to(out);
        encode_list(&self.votes, out);
    }
}

impl Decode for QuorumCert {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(QuorumCert {
            epoch: u64::decode_from(r)?,
            round: u64::decode_from(r)?,
            cid: Hash::decode_from(r)?,
            commit: Hash::decode_from(r)?,
            votes: decode_list(r)?,
        })
    }
}

/// One signer of a timeout certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutSig {
    /// Voter id.
    pub voter: u64,
    /// Round of its high QC when it timed out.
    pub high_qc_round: u64,
    /// DER signature over the timeout digest.
    pub signature: Vec<u8>,
}

impl Encode for TimeoutSig {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.voter.encode_to(out);
        self.high_qc_round.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for TimeoutSig {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(TimeoutSig {
            voter: u64::decode_from(r)?,
            high_qc_round: u64::decode_from(r)?,
            signature: Vec::decode_from(r)?,
        })
    }
}

/// A timeout certificate: a quorum of timeouts for one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutCert {
    /// The epoch.
    pub epoch: u64,
    /// The round that timed out.
    pub round: u64,
    /// Its signers, sorted by id.
    pub signers: Vec<TimeoutSig>,
}

impl TimeoutCert {
    /// The highest high-QC round among the signers: a block entering the
    /// next round through this certificate must extend a QC at least as
    /// high.
    pub fn max_high_qc_round(&self) -> u64 {
        self.signers.iter().map(|s| s.high_qc_round).max().unwrap_or(0)
    }
}

impl Encode for TimeoutCert {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        encode_list(&self.signers, out);
    }
}

impl Decode for TimeoutCert {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(TimeoutCert { epoch: u64::decode_from(r)?, round: u64::decode_from(r)?, signers: decode_list(r)? })
    }
}

/// A block's payload: the batch it orders (empty: the block makes no
/// ledger block and only moves the protocol on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    /// Transactions in their agreed order.
    pub transactions: Vec<Transaction>,
    /// Block time, ms since 1970.
    pub timestamp_ms: u64,
    /// Name of the proposer.
    pub proposer: String,
    /// A change of the group that ends the epoch with this block.
    pub reconfig: Option<Reconfig>,
}

impl Payload {
    /// Whether the block makes a ledger block: it orders transactions or
    /// ends its epoch.
    pub fn is_ledger(&self) -> bool {
        !self.transactions.is_empty() || self.reconfig.is_some()
    }
}

impl Encode for Payload {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_list(&self.transactions, out);
        self.timestamp_ms.encode_to(out);
        self.proposer.encode_to(out);
        self.reconfig.encode_to(out);
    }
}

impl Decode for Payload {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Payload {
            transactions: decode_list(r)?,
            timestamp_ms: u64::decode_from(r)?,
            proposer: String::decode_from(r)?,
            reconfig: Option::decode_from(r)?,
        })
    }
}

/// A consensus block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CBlock {
    /// The epoch.
    pub epoch: u64,
    /// The round it was proposed in.
    pub round: u64,
    /// The certificate of its parent.
    pub qc: QuorumCert,
    /// Ledger height after it: the parent's, plus one when the payload
    /// makes a ledger block ([`Payload::is_ledger`]).
    pub height: u64,
    /// What it orders.
    pub payload: Payload,
    /// The proposer's voter id.
    pub author: u64,
    /// The proposer's DER signature over the proposal digest of the cid.
    pub signature: Vec<u8>,
}

impl CBlock {
    /// The parent's cid.
    pub fn parent(&self) -> Hash {
        self.qc.cid
    }

    /// The block id.
    pub fn cid(&self, suite: Suite, chain_id: &str) -> Hash {
        CidFields {
            chain_id,
            epoch: self.epoch,
            round: self.round,
            parent: self.qc.cid,
            height: self.height,
            tx_root: LedgerBlock::tx_root(suite, &self.payload.transactions),
            timestamp_ms: self.payload.timestamp_ms,
            proposer: &self.payload.proposer,
            reconfig: self.payload.reconfig.as_ref().map(|r| r.digest(suite)),
        }
        .cid(suite)
    }
}

impl Encode for CBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.qc.encode_to(out);
        self.height.encode_to(out);
        self.payload.encode_to(out);
        self.author.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for CBlock {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(CBlock {
            epoch: u64::decode_from(r)?,
            round: u64::decode_from(r)?,
            qc: QuorumCert::decode_from(r)?,
            height: u64::decode_from(r)?,
            payload: Payload::decode_from(r)?,
            author: u64::decode_from(r)?,
            signature: Vec::decode_from(r)?,
        })
    }
}

/// A vote for a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The epoch.
    pub epoch: u64,
    /// The block's round.
    pub round: u64,
    /// The block's cid.
    pub cid: Hash,
    /// The parent's cid under the two-chain rule, else zero.
    pub commit: Hash,
    /// The voter.
    pub voter: u64,
    /// DER signature over [`vote_digest`].
    pub signature: Vec<u8>,
}

impl Encode for Vote {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.cid.encode_to(out);
        self.commit.encode_to(out);
        self.voter.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for Vote {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Vote {
            epoch: u64::decode_from(r)?,
            round: u64::decode_from(r)?,
            cid: Hash::decode_from(r)?,
            commit: Hash::decode_from(r)?,
            voter: u64::decode_from(r)?,
            signature: Vec::decode_from(r)?,
        })
    }
}

/// A signed timeout of one round, with the signer's best certificates so
/// lagging members catch up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// The epoch.
    pub epoch: u64,
    /// The round that timed out.
    pub round: u64,
    /// The signer's highest QC.
    pub high_qc: QuorumCert,
    /// The signer's highest TC, if any.
    pub high_tc: Option<TimeoutCert>,
    /// The signer.
    pub voter: u64,
    /// DER signature over [`timeout_digest`] of `high_qc.round`.
    pub signature: Vec<u8>,
}

impl Encode for Timeout {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.round.encode_to(out);
        self.high_qc.encode_to(out);
        self.high_tc.encode_to(out);
        self.voter.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for Timeout {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Timeout {
            epoch: u64::decode_from(r)?,
            round: u64::decode_from(r)?,
            high_qc: QuorumCert::decode_from(r)?,
            high_tc: Option::decode_from(r)?,
            voter: u64::decode_from(r)?,
            signature: Vec::decode_from(r)?,
        })
    }
}

/// A message between members (fire and forget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A leader's block, with the TC it entered its round by, if any.
    Proposal {
        /// The block.
        block: CBlock,
        /// The TC of the round before, when the round was entered by one.
        tc: Option<TimeoutCert>,
    },
    /// A vote, to the next round's leader.
    Vote(Vote),
    /// A timeout, to everyone.
    Timeout(Timeout),
    /// Transactions gossiped from the member they were submitted to.
    Txs(Vec<Transaction>),
    /// A member's highest certificates, sent to one that timed out of a
    /// round the sender has left, so it catches up.
    Certs {
        /// The sender's highest QC.
        high_qc: QuorumCert,
        /// The sender's highest TC.
        high_tc: Option<TimeoutCert>,
    },
}

impl Encode for Message {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Proposal { block, tc } => {
                out.push(1);
                block.encode_to(out);
                tc.encode_to(out);
            }
            Message::Vote(v) => {
                out.push(2);
                v.encode_to(out);
            }
            Message::Timeout(t) => {
                out.push(3);
                t.encode_to(out);
            }
            Message::Txs(txs) => {
                out.push(4);
                encode_list(txs, out);
            }
            Message::Certs { high_qc, high_tc } => {
                out.push(5);
                high_qc.encode_to(out);
                high_tc.encode_to(out);
            }
        }
    }
}

impl Decode for Message {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        match u8::decode_from(r)? {
            1 => Ok(Message::Proposal { block: CBlock::decode_from(r)?, tc: Option::decode_from(r)? }),
            2 => Ok(Message::Vote(Vote::decode_from(r)?)),
            3 => Ok(Message::Timeout(Timeout::decode_from(r)?)),
            4 => Ok(Message::Txs(decode_list(r)?)),
            5 => {
                Ok(Message::Certs { high_qc: QuorumCert::decode_from(r)?, high_tc: Option::decode_from(r)? })
            }
            tag => Err(govchain_types::Error::InvalidTag { what: "hotstuff message", tag }),
        }
    }
}

/// A member asking a peer for what it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest {
    /// The asker's epoch.
    pub epoch: u64,
    /// First ledger height the asker lacks.
    pub ledger_from: u64,
}

impl Encode for SyncRequest {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.epoch.encode_to(out);
        self.ledger_from.encode_to(out);
    }
}

impl Decode for SyncRequest {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(SyncRequest { epoch: u64::decode_from(r)?, ledger_from: u64::decode_from(r)? })
    }
}

/// A committed block as far as its cid needs it (its transactions are in
/// the ledger; their root stands for them). Never a block that carries a
/// [`Reconfig`]: once that commits, the next epoch's genesis is the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockFields {
    /// Its round.
    pub round: u64,
    /// Its parent's cid.
    pub parent: Hash,
    /// Ledger height after it.
    pub height: u64,
    /// Merkle root of its transactions.
    pub tx_root: Hash,
    /// Its block time.
    pub timestamp_ms: u64,
    /// Its proposer's name.
    pub proposer: String,
}

impl BlockFields {
    /// The fields of `block`.
    pub fn of(block: &CBlock, suite: Suite) -> BlockFields {
        BlockFields {
            round: block.round,
            parent: block.parent(),
            height: block.height,
            tx_root: LedgerBlock::tx_root(suite, &block.payload.transactions),
            timestamp_ms: block.payload.timestamp_ms,
            proposer: block.payload.proposer.clone(),
        }
    }

    /// The cid of the block with these fields.
    pub fn cid(&self, suite: Suite, chain_id: &str, epoch: u64) -> Hash {
        CidFields {
            chain_id,
            epoch,
            round: self.round,
            parent: self.parent,
            height: self.height,
            tx_root: self.tx_root,
            timestamp_ms: self.timestamp_ms,
            proposer: &self.proposer,
            reconfig: None,
        }
        .cid(suite)
    }
}

impl Encode for BlockFields {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.round.encode_to(out);
        self.parent.encode_to(out);
        self.height.encode_to(out);
        self.tx_root.encode_to(out);
        self.timestamp_ms.encode_to(out);
        self.proposer.encode_to(out);
    }
}

impl Decode for BlockFields {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(BlockFields {
            round: u64::decode_from(r)?,
            parent: Hash::decode_from(r)?,
            height: u64::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
            timestamp_ms: u64::decode_from(r)?,
            proposer: String::decode_from(r)?,
        })
    }
}

/// The committed block a peer's tree hangs from, with the QC that commits
/// it (its cid, recomputed from the fields, is that QC's commit cid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRoot {
    /// The committed block.
    pub fields: BlockFields,
    /// A QC whose commit cid is the block's cid.
    pub commit_qc: QuorumCert,
}

impl Encode for SyncRoot {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.fields.encode_to(out);
        self.commit_qc.encode_to(out);
    }
}

impl Decode for SyncRoot {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(SyncRoot { fields: BlockFields::decode_from(r)?, commit_qc: QuorumCert::decode_from(r)? })
    }
}

/// A peer's answer to a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReply {
    /// Encoded committed ledger blocks from the asked height on (capped).
    pub ledger: Vec<Vec<u8>>,
    /// The peer's committed root, when it has one above its epoch's genesis.
    pub root: Option<SyncRoot>,
    /// The peer's uncommitted blocks, parents first.
    pub blocks: Vec<CBlock>,
    /// The peer's highest QC.
    pub high_qc: Option<QuorumCert>,
}

impl Encode for SyncReply {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_list(&self.ledger, out);
        self.root.encode_to(out);
        encode_list(&self.blocks, out);
        self.high_qc.encode_to(out);
    }
}

impl Decode for SyncReply {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(SyncReply {
            ledger: decode_list(r)?,
            root: Option::decode_from(r)?,
            blocks: decode_list(r)?,
            high_qc: Option::decode_from(r)?,
        })
    }
}

/// The engine's durable commit point, stored with every committed block
/// (and alone when an empty block commits): where a restart resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPoint {
    /// The epoch.
    pub epoch: u64,
    /// Cid of the epoch's genesis.
    pub genesis: Hash,
    /// Cid of the last committed block.
    pub cid: Hash,
    /// The last committed block (the genesis: round 0, zero parent).
    pub fields: BlockFields,
    /// The highest QC known when it committed (it commits the block,
    /// unless the block came from a peer's ledger).
    pub high_qc: Option<QuorumCert>,
    /// What the latest committed blocks show each voter did, oldest
    /// first: what the leader reputation reads (kept across a restart so
    /// a member picks the leaders its peers pick).
    pub reputation: Vec<Deed>,
    /// The members of the epoch (empty: the first epoch's, from the
    /// configuration).
    pub validators: Vec<Validator>,
    /// The block policy of the epoch (`None`: the configuration's).
    pub policy: Option<BlockPolicy>,
}

/// What a committed block shows a voter did in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deed {
    /// The round.
    pub round: u64,
    /// The voter.
    pub voter: u64,
    /// What it did.
    pub kind: DeedKind,
}

/// Kinds of [`Deed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeedKind {
    /// Proposed a block that committed.
    Led,
    /// Signed the QC a committed block carries.
    Signed,
    /// Led the last round before a committed block whose parent is older
    /// than the round before it: that round ended in a timeout, and its
    /// leader is the one to blame (an earlier round of the gap may have
    /// failed only because its votes went to this leader).
    Failed,
}

impl Encode for Deed {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.round.encode_to(out);
        self.voter.encode_to(out);
        out.push(match self.kind {
            DeedKind::Led => 0,
            DeedKind::Signed => 1,
            DeedKind::Failed => 2,
        });
    }
}

impl Decode for Deed {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        let round = u64::decode_from(r)?;
        let voter = u64::decode_from(r)?;
        let kind = match u8::decode_from(r)? {
            0 => DeedKind::Led,
            1 => DeedKind::Signed,
            2 => DeedKind::Failed,
            tag => return Err(govchain_types::Error::InvalidTag { what: "deed", tag }),
        };
        Ok(Deed { round, voter, kind })
    }
}

/// Version 1 had no reputation, version 2 no validators.
const COMMIT_POINT_V1: u8 = 1;
const COMMIT_POINT_V2: u8 = 2;
const COMMIT_POINT_VERSION: u8 = 3;

impl Encode for CommitPoint {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(COMMIT_POINT_VERSION);
        self.epoch.encode_to(out);
        self.genesis.encode_to(out);
        self.cid.encode_to(out);
        self.fields.encode_to(out);
        self.high_qc.encode_to(out);
        encode_list(&self.reputation, out);
        encode_list(&self.validators, out);
        match &self.policy {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                encode_policy(p, out);
            }
        }
    }
}

impl Decode for CommitPoint {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        let version = u8::decode_from(r)?;
        if ![COMMIT_POINT_V1, COMMIT_POINT_V2, COMMIT_POINT_VERSION].contains(&version) {
            return Err(govchain_types::Error::InvalidTag { what: "commit point version", tag: version });
        }
        Ok(CommitPoint {
            epoch: u64::decode_from(r)?,
            genesis: Hash::decode_from(r)?,
            cid: Hash::decode_from(r)?,
            fields: BlockFields::decode_from(r)?,
            high_qc: Option::decode_from(r)?,
            reputation: if version == COMMIT_POINT_V1 { Vec::new() } else { decode_list(r)? },
            validators: if version == COMMIT_POINT_VERSION { decode_list(r)? } else { Vec::new() },
            policy: match version {
                COMMIT_POINT_VERSION => match u8::decode_from(r)? {
                    0 => None,
                    1 => Some(decode_policy(r)?),
                    tag => {
                        return Err(govchain_types::Error::InvalidTag { what: "commit point policy", tag });
                    }
                },
                _ => None,
            },
        })
    }
}

/// Decodes `bytes` as a `T`, naming `what` in the error.
pub fn decode<T: Decode>(what: &'static str, bytes: &[u8]) -> Result<T> {
    T::decode(bytes).map_err(|e| Error::Decode { what, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, voter: bool) -> Validator {
        let key = govchain_crypto::PrivateKey::generate(Suite::Gm);
        Validator {
            id,
            name: format!("n{id}"),
            addr: format!("a{id}"),
            public_key: key.public_key().to_sec1(),
            voter,
        }
    }

    #[test]
    fn a_group_change_is_one_step() {
        let now: Vec<Validator> = (1..=4).map(|id| member(id, true)).collect();
        let current = ValidatorSet::new(Suite::Gm, now.clone()).unwrap();
        let policy = BlockPolicy::default();
        let step = |next: Vec<Validator>| {
            Reconfig { validators: next, policy: policy.clone() }.check_step(Suite::Gm, &current, &policy)
        };
        let mut add = now.clone();
        add.push(member(5, false));
        assert!(step(add.clone()).is_ok(), "a learner added");
        let mut voter5 = now.clone();
        voter5.push(member(5, true));
        assert!(step(voter5).is_err(), "a voter added at once");
        let removed: Vec<Validator> = now.iter().filter(|v| v.id != 2).cloned().collect();
        assert!(step(removed).is_ok(), "a member removed");
        assert!(step(now.clone()).is_err(), "no change");
        let mut two = add.clone();
        two.retain(|v| v.id != 1);
        assert!(step(two).is_err(), "two changes at once");
        let mut renamed = now.clone();
        renamed[0].name = "other".into();
        assert!(step(renamed).is_err(), "a member renamed");
        let mut taken = now.clone();
        let mut dup = member(5, false);
        dup.name = "n1".into();
        taken.push(dup);
        assert!(step(taken).is_err(), "a name taken");
        // Promoting the learner of a group that has one.
        let with_learner = ValidatorSet::new(Suite::Gm, add.clone()).unwrap();
        let mut promoted = add.clone();
        promoted[4].voter = true;
        let same = |v: Vec<Validator>| Reconfig { validators: v, policy: policy.clone() };
        assert!(same(promoted.clone()).check_step(Suite::Gm, &with_learner, &policy).is_ok());
        // The policy alone may change; not together with the members.
        let slower = BlockPolicy { max_txs: 10, ..BlockPolicy::default() };
        let policy_only = Reconfig { validators: now.clone(), policy: slower.clone() };
        assert!(policy_only.check_step(Suite::Gm, &current, &policy).is_ok());
        let both = Reconfig { validators: add.clone(), policy: slower };
        assert!(both.check_step(Suite::Gm, &current, &policy).is_err());
        let out_of_range =
            Reconfig { validators: now.clone(), policy: BlockPolicy { max_txs: 0, ..policy.clone() } };
        assert!(out_of_range.check_step(Suite::Gm, &current, &policy).is_err());
        let r = same(promoted);
        assert_eq!(decode::<Reconfig>("r", &r.encode()).ok(), Some(r));
    }

    #[test]
    fn quorum_is_two_thirds_plus_one() {
        assert_eq!([1, 2, 3, 4, 5, 6, 7, 10].map(quorum), [1, 2, 3, 3, 4, 5, 5, 7]);
    }

    #[test]
    fn hostile_bytes_are_errors() {
        let msg = Message::Vote(Vote {
            epoch: 1,
            round: 2,
            cid: Hash([3; 32]),
            commit: Hash::ZERO,
            voter: 4,
            signature: vec![5; 70],
        });
        let bytes = msg.encode();
        assert_eq!(decode::<Message>("m", &bytes).ok(), Some(msg));
        for cut in 0..bytes.len() {
            assert!(decode::<Message>("m", &bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert!(decode::<Message>("m", &bad).is_err());
        assert!(decode::<SyncReply>("r", &[0xff; 64]).is_err());
    }
}
