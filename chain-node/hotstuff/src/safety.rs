//! The safety rules: what a voter may sign, and the durable state that
//! keeps it from ever signing two conflicting things, across crashes.
//!
//! Two-chain rules: a vote for block B of round r needs r above the last
//! voted round and either B extends the QC of round r - 1, or B enters r
//! through a TC of round r - 1 and extends a QC at least as high as every
//! high QC in that TC. A timeout for round r needs r to follow the signer's
//! QC or TC and the QC to be its highest. Signing anything for round r
//! moves the last voted round to r, so a member that timed out of a round
//! never votes in it. The state is written and fsynced before a signature
//! leaves this module.

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{
    Hash,
    encoding::{Decode, Encode, Reader},
};

use crate::{
    Error, Result,
    types::{CBlock, QuorumCert, TimeoutCert, Vote, timeout_digest, vote_digest},
};

/// What the safety rules remember.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SafetyData {
    /// The epoch these rounds belong to.
    pub epoch: u64,
    /// Highest round this member voted or timed out in.
    pub last_voted_round: u64,
    /// Highest round of a QC's parent seen (the two-chain lock).
    pub preferred_round: u64,
    /// Highest round of a QC seen.
    pub one_chain_round: u64,
    /// Highest round this member signed a timeout for.
    pub highest_timeout_round: u64,
    /// The last vote, resent as is if asked again for the same round.
    pub last_vote: Option<Vote>,
    /// The highest TC this member signed after (kept for liveness: a
    /// restarted member that voted past rounds others have not seen end
    /// shows them the TC, or no quorum could time out of them).
    pub high_tc: Option<TimeoutCert>,
    /// The highest QC this member signed after (for the same reason: a
    /// restart must not forget the certificates it acted on).
    pub high_qc: Option<QuorumCert>,
}

const SAFETY_VERSION: u8 = 1;

impl Encode for SafetyData {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(SAFETY_VERSION);
        self.epoch.encode_to(out);
        self.last_voted_round.encode_to(out);
        self.preferred_round.encode_to(out);
        self.one_chain_round.encode_to(out);
        self.highest_timeout_round.encode_to(out);
        self.last_vote.encode_to(out);
        self.high_tc.encode_to(out);
        self.high_qc.encode_to(out);
    }
}

impl Decode for SafetyData {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        match u8::decode_from(r)? {
            SAFETY_VERSION => Ok(SafetyData {
                epoch: u64::decode_from(r)?,
                last_voted_round: u64::decode_from(r)?,
                preferred_round: u64::decode_from(r)?,
                one_chain_round: u64::decode_from(r)?,
                highest_timeout_round: u64::decode_from(r)?,
                last_vote: Option::decode_from(r)?,
                high_tc: Option::decode_from(r)?,
                high_qc: Option::decode_from(r)?,
            }),
            tag => Err(govchain_types::Error::InvalidTag { what: "safety data version", tag }),
        }
    }
}

/// Where the safety state lives, with the uncommitted blocks a member
/// voted on or learned (kept so that a group restarted all at once still
/// holds the blocks its certificates name).
pub trait SafetyStorage: Send + std::fmt::Debug {
    /// The stored state; `None` if nothing was ever stored.
    fn load(&self) -> Result<Option<SafetyData>>;
    /// Stores `data` durably before returning.
    fn save(&mut self, data: &SafetyData) -> Result<()>;
    /// Every stored block (encoded).
    fn load_blocks(&self) -> Result<Vec<Vec<u8>>>;
    /// Stores block `cid` durably before returning.
    fn save_block(&mut self, cid: &Hash, block: &[u8]) -> Result<()>;
    /// Forgets block `cid` (committed or pruned).
    fn remove_block(&mut self, cid: &Hash) -> Result<()>;
}

/// Writes `bytes` to `path` atomically: a temporary file fsynced, renamed
/// over the old one, then the directory fsynced.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |what: &str, e: std::io::Error| Error::Storage(format!("{what} {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| io("creating", e))?;
    file.write_all(bytes).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io("renaming", e))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing the directory of", e))?;
    }
    Ok(())
}

/// A file written atomically: a temporary file fsynced, renamed over the
/// old one, then the directory fsynced.
#[derive(Debug)]
pub struct FileStorage {
    path: PathBuf,
    blocks: PathBuf,
}

impl FileStorage {
    /// The file `safety` in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<FileStorage> {
        let blocks = dir.join("blocks");
        fs::create_dir_all(&blocks)
            .map_err(|e| Error::Storage(format!("creating {}: {e}", blocks.display())))?;
        Ok(FileStorage { path: dir.join("safety"), blocks })
    }
}

impl SafetyStorage for FileStorage {
    fn load(&self) -> Result<Option<SafetyData>> {
        match fs::read(&self.path) {
            Ok(bytes) => crate::types::decode("safety data", &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Storage(format!("reading {}: {e}", self.path.display()))),
        }
    }

    fn save(&mut self, data: &SafetyData) -> Result<()> {
        write_atomically(&self.path, &data.encode())
    }

    fn load_blocks(&self) -> Result<Vec<Vec<u8>>> {
        let io = |e: std::io::Error| Error::Storage(format!("reading {}: {e}", self.blocks.display()));
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blocks).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "block") {
                out.push(fs::read(&path).map_err(io)?);
            }
        }
        Ok(out)
    }

    fn save_block(&mut self, cid: &Hash, block: &[u8]) -> Result<()> {
        write_atomically(&self.blocks.join(format!("{cid}.block")), block)
    }

    fn remove_block(&mut self, cid: &Hash) -> Result<()> {
        match fs::remove_file(self.blocks.join(format!("{cid}.block"))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Storage(format!("removing block {cid}: {e}"))),
        }
    }
}

/// A "disk" in memory that outlives the rules using it (the simulator's
/// crashes and restarts keep it, as a disk would).
#[derive(Debug, Clone, Default)]
pub struct MemStorage(Arc<Mutex<MemDisk>>);

#[derive(Debug, Default)]
struct MemDisk {
    data: Option<SafetyData>,
    blocks: std::collections::BTreeMap<Hash, Vec<u8>>,
}

impl MemStorage {
    fn disk(&self) -> std::sync::MutexGuard<'_, MemDisk> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SafetyStorage for MemStorage {
    fn load(&self) -> Result<Option<SafetyData>> {
        Ok(self.disk().data.clone())
    }

    fn save(&mut self, data: &SafetyData) -> Result<()> {
        self.disk().data = Some(data.clone());
        Ok(())
    }

    fn load_blocks(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.disk().blocks.values().cloned().collect())
    }

    fn save_block(&mut self, cid: &Hash, block: &[u8]) -> Result<()> {
        self.disk().blocks.insert(*cid, block.to_vec());
        Ok(())
    }

    fn remove_block(&mut self, cid: &Hash) -> Result<()> {
        self.disk().blocks.remove(cid);
        Ok(())
    }
}

/// The voter's signing gate. Certificates given to it must already be
/// verified; it checks only the rules.
#[derive(Debug)]
pub struct SafetyRules {
    suite: Suite,
    id: u64,
    key: PrivateKey,
    data: SafetyData,
    storage: Box<dyn SafetyStorage>,
}

impl SafetyRules {
    /// Loads the state from `storage` (fresh if empty) for `epoch`; a newer
    /// epoch resets the rounds. `required`: the member voted here before
    /// (its ledger holds its commits), so an empty storage means the state
    /// was lost, and starting afresh could sign twice in one round.
    pub fn open(
        suite: Suite,
        id: u64,
        key: PrivateKey,
        epoch: u64,
        mut storage: Box<dyn SafetyStorage>,
        required: bool,
    ) -> Result<SafetyRules> {
        let stored = storage.load()?;
        let fresh = stored.is_none();
        if fresh && required {
            return Err(Error::Config(
                "the ledger holds this member's HotStuff commits but its safety state (data/hotstuff) is \
                 missing: restore data/hotstuff together with the ledger, or start the member with an \
                 empty ledger to catch up from its peers"
                    .into(),
            ));
        }
        let mut data = stored.unwrap_or_default();
        // Stored from the first start on, so a state gone missing later
        // is told apart from one never made (`required`).
        if fresh || data.epoch < epoch {
            data = SafetyData { epoch, ..SafetyData::default() };
            storage.save(&data)?;
        }
        Ok(SafetyRules { suite, id, key, data, storage })
    }

    /// Moves the rules to `epoch` (rounds start afresh), durably; an epoch
    /// not above the current one changes nothing.
    pub fn enter_epoch(&mut self, epoch: u64) -> Result<()> {
        if epoch > self.data.epoch {
            let data = SafetyData { epoch, ..SafetyData::default() };
            self.storage.save(&data)?;
            self.data = data;
        }
        Ok(())
    }

    /// The blocks stored with the state.
    pub fn load_blocks(&self) -> Result<Vec<Vec<u8>>> {
        self.storage.load_blocks()
    }

    /// Stores a block durably.
    pub fn save_block(&mut self, cid: &Hash, block: &[u8]) -> Result<()> {
        self.storage.save_block(cid, block)
    }

    /// Forgets a stored block.
    pub fn remove_block(&mut self, cid: &Hash) -> Result<()> {
        self.storage.remove_block(cid)
    }

    /// The state as it is (and as it is on disk).
    pub fn data(&self) -> &SafetyData {
        &self.data
    }

    fn check_epoch(&self, epoch: u64) -> Result<()> {
        if epoch != self.data.epoch {
            return Err(Error::Unsafe(format!("epoch {epoch}, safety rules are at {}", self.data.epoch)));
        }
        Ok(())
    }

    /// Raises the QC rounds from a verified `qc` whose certified block's
    /// parent is of round `parent_round`.
    fn observe(data: &mut SafetyData, qc_round: u64, parent_round: u64) {
        data.one_chain_round = data.one_chain_round.max(qc_round);
        data.preferred_round = data.preferred_round.max(parent_round);
    }

    fn keep_tc(data: &mut SafetyData, tc: Option<&TimeoutCert>) {
        if let Some(tc) = tc
            && tc.epoch == data.epoch
            && data.high_tc.as_ref().is_none_or(|h| h.round < tc.round)
        {
            data.high_tc = Some(tc.clone());
        }
    }

    fn keep_qc(data: &mut SafetyData, qc: &QuorumCert) {
        if qc.epoch == data.epoch && data.high_qc.as_ref().is_none_or(|h| h.round < qc.round) {
            data.high_qc = Some(qc.clone());
        }
    }

    /// Records a verified QC (and its block's parent round): durable only
    /// with the next signature, which is all that needs it.
    pub fn observe_qc(&mut self, qc: &QuorumCert, parent_round: u64) {
        if qc.epoch == self.data.epoch {
            Self::observe(&mut self.data, qc.round, parent_round);
        }
    }

    /// Signs a vote for `block` (cid `cid`, whose parent is of round
    /// `parent_round`), entering its round through `tc` if given; the state
    /// is durable before the vote is returned.
    pub fn vote(
        &mut self,
        block: &CBlock,
        cid: Hash,
        parent_round: u64,
        tc: Option<&TimeoutCert>,
    ) -> Result<Vote> {
        self.check_epoch(block.epoch)?;
        if let Some(last) = &self.data.last_vote
            && last.round == block.round
        {
            if last.cid == cid {
                return Ok(last.clone());
            }
            return Err(Error::Unsafe(format!("already voted for another block in round {}", block.round)));
        }
        if block.round <= self.data.last_voted_round {
            return Err(Error::Unsafe(format!(
                "round {} is not above the last voted round {}",
                block.round, self.data.last_voted_round
            )));
        }
        let qc_round = block.qc.round;
        let extends_qc = qc_round.checked_add(1) == Some(block.round);
        let extends_tc = tc.is_some_and(|tc| {
            tc.epoch == block.epoch
                && tc.round.checked_add(1) == Some(block.round)
                && qc_round >= tc.max_high_qc_round()
        });
        if !extends_qc && !extends_tc {
            return Err(Error::Unsafe(format!(
                "block of round {} extends QC of round {qc_round} without a TC that allows it",
                block.round
            )));
        }
        let mut data = self.data.clone();
        Self::observe(&mut data, qc_round, parent_round);
        data.last_voted_round = block.round;
        Self::keep_tc(&mut data, tc);
        Self::keep_qc(&mut data, &block.qc);
        // Two-chain: a QC on a block whose parent is of the round before
        // commits that parent.
        let commit = if extends_qc { block.qc.cid } else { Hash::ZERO };
        let digest = vote_digest(self.suite, block.epoch, block.round, &cid, &commit);
        let signature = self.key.sign(&digest.0).map_err(|e| Error::Crypto(e.to_string()))?;
        let vote = Vote { epoch: block.epoch, round: block.round, cid, commit, voter: self.id, signature };
        data.last_vote = Some(vote.clone());
        self.storage.save(&data)?;
        self.data = data;
        Ok(vote)
    }

    /// Signs a timeout of `round` with the member's highest QC `high_qc`
    /// (and highest TC `high_tc`, entering `round` by it); durable before
    /// the signature is returned.
    pub fn timeout(
        &mut self,
        epoch: u64,
        round: u64,
        high_qc: &QuorumCert,
        high_tc: Option<&TimeoutCert>,
    ) -> Result<Vec<u8>> {
        self.check_epoch(epoch)?;
        let qc_round = high_qc.round;
        let tc_round = high_tc.map_or(0, |tc| tc.round);
        let follows = qc_round.checked_add(1) == Some(round) || tc_round.checked_add(1) == Some(round);
        if !follows || qc_round < self.data.one_chain_round {
            return Err(Error::Unsafe(format!(
                "timeout of round {round} does not follow QC round {qc_round} / TC round {tc_round} \
                 (highest QC round seen {})",
                self.data.one_chain_round
            )));
        }
        if round < self.data.last_voted_round {
            return Err(Error::Unsafe(format!(
                "timeout of round {round} is below the last voted round {}",
                self.data.last_voted_round
            )));
        }
        let mut data = self.data.clone();
        data.last_voted_round = round;
        Self::keep_tc(&mut data, high_tc);
        Self::keep_qc(&mut data, high_qc);
        data.highest_timeout_round = data.highest_timeout_round.max(round);
        let digest = timeout_digest(self.suite, epoch, round, qc_round);
        let signature = self.key.sign(&digest.0).map_err(|e| Error::Crypto(e.to_string()))?;
        self.storage.save(&data)?;
        self.data = data;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::types::{Payload, TimeoutSig};

    const SUITE: Suite = Suite::IntlR1;

    fn block(round: u64, qc_round: u64, parent: u8) -> CBlock {
        CBlock {
            epoch: 1,
            round,
            qc: QuorumCert {
                epoch: 1,
                round: qc_round,
                cid: Hash([parent; 32]),
                commit: Hash::ZERO,
                votes: vec![],
            },
            height: 0,
            payload: Payload::default(),
            author: 1,
            signature: vec![],
        }
    }

    fn tc(round: u64, high: &[u64]) -> TimeoutCert {
        TimeoutCert {
            epoch: 1,
            round,
            signers: high
                .iter()
                .enumerate()
                .map(|(i, h)| TimeoutSig { voter: i as u64 + 1, high_qc_round: *h, signature: vec![] })
                .collect(),
        }
    }

    fn rules(storage: MemStorage) -> SafetyRules {
        SafetyRules::open(SUITE, 1, PrivateKey::generate(SUITE), 1, Box::new(storage), false).unwrap()
    }

    #[test]
    fn refuses_a_second_block_in_a_round_but_resends_the_same_vote() {
        let mut r = rules(MemStorage::default());
        let v = r.vote(&block(1, 0, 0), Hash([1; 32]), 0, None).unwrap();
        assert_eq!(v.commit, Hash([0; 32]), "round 1 extends the genesis QC of round 0: commits it");
        assert_eq!(r.vote(&block(1, 0, 0), Hash([1; 32]), 0, None).unwrap(), v);
        assert!(matches!(r.vote(&block(1, 0, 9), Hash([2; 32]), 0, None), Err(Error::Unsafe(_))));
    }

    #[test]
    fn refuses_rounds_at_or_below_the_last_voted_one() {
        let mut r = rules(MemStorage::default());
        r.vote(&block(5, 4, 4), Hash([5; 32]), 3, None).unwrap();
        assert!(r.vote(&block(4, 3, 3), Hash([4; 32]), 2, None).is_err());
        assert!(r.vote(&block(6, 5, 5), Hash([6; 32]), 4, None).is_ok());
    }

    #[test]
    fn a_gap_needs_a_tc_and_the_tc_rule_holds() {
        let mut r = rules(MemStorage::default());
        // Round 7 extends QC 5: only with a TC of round 6.
        assert!(r.vote(&block(7, 5, 5), Hash([7; 32]), 4, None).is_err());
        // A TC of round 6 whose highest high QC is 6 forbids extending QC 5.
        assert!(r.vote(&block(7, 5, 5), Hash([7; 32]), 4, Some(&tc(6, &[5, 6, 4]))).is_err());
        // A TC of another round does not help.
        assert!(r.vote(&block(7, 5, 5), Hash([7; 32]), 4, Some(&tc(5, &[5]))).is_err());
        let v = r.vote(&block(7, 5, 5), Hash([7; 32]), 4, Some(&tc(6, &[5, 3, 4]))).unwrap();
        assert_eq!(v.commit, Hash::ZERO, "a block entered by a TC commits nothing");
    }

    #[test]
    fn a_timeout_blocks_voting_in_its_round() {
        let mut r = rules(MemStorage::default());
        let qc = QuorumCert { epoch: 1, round: 2, cid: Hash([2; 32]), commit: Hash::ZERO, votes: vec![] };
        r.timeout(1, 3, &qc, None).unwrap();
        assert!(r.vote(&block(3, 2, 2), Hash([3; 32]), 1, None).is_err());
        // Timing out again in the same round is fine (resending).
        r.timeout(1, 3, &qc, None).unwrap();
        // A timeout with a QC lower than one seen is refused.
        r.observe_qc(&QuorumCert { round: 5, ..qc.clone() }, 4);
        assert!(r.timeout(1, 6, &qc, Some(&tc(5, &[2]))).is_err());
    }

    #[test]
    fn the_state_survives_reopening_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(SUITE);
        let open = || {
            SafetyRules::open(
                SUITE,
                1,
                key.clone(),
                1,
                Box::new(FileStorage::open(dir.path()).unwrap()),
                false,
            )
            .unwrap()
        };
        let mut r = open();
        let v = r.vote(&block(4, 3, 3), Hash([4; 32]), 2, None).unwrap();
        drop(r);
        let mut r = open();
        assert_eq!(r.data().last_voted_round, 4);
        assert_eq!(r.data().last_vote.as_ref(), Some(&v));
        assert!(
            r.vote(&block(4, 3, 8), Hash([9; 32]), 2, None).is_err(),
            "no conflicting vote after a restart"
        );
        assert!(r.vote(&block(3, 2, 2), Hash([3; 32]), 1, None).is_err());
        // Blocks kept with the state survive too, and can be forgotten.
        let mut storage = FileStorage::open(dir.path()).unwrap();
        storage.save_block(&Hash([1; 32]), b"one").unwrap();
        storage.save_block(&Hash([2; 32]), b"two").unwrap();
        storage.remove_block(&Hash([1; 32])).unwrap();
        storage.remove_block(&Hash([9; 32])).unwrap();
        let storage = FileStorage::open(dir.path()).unwrap();
        assert_eq!(storage.load_blocks().unwrap(), vec![b"two".to_vec()]);
        // A newer epoch starts over.
        let r = SafetyRules::open(
            SUITE,
            1,
            key.clone(),
            2,
            Box::new(FileStorage::open(dir.path()).unwrap()),
            false,
        )
        .unwrap();
        assert_eq!(r.data().last_voted_round, 0);
        assert_eq!(r.data().epoch, 2);
    }
}
