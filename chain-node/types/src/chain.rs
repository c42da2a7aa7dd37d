//! The chain vocabulary every layer shares: consensus kind, node role, crypto
//! suite and block policy, with the one set of limits and defaults and the
//! one check of them. The node, the control plane, its drivers and the CRDs
//! convert into these types and validate through them, so a value refused in
//! one place is refused everywhere, with the same message.

use std::{fmt, str::FromStr, time::Duration};

pub use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

/// A value of the chain vocabulary that is out of range or unknown. Its
/// message is what every boundary (REST API, CRD, node config) shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VocabularyError(pub String);

/// The consensus engine of a chain, as written in its genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusKind {
    /// One node orders alone (development and single-department chains).
    Solo,
    /// Raft (crash fault tolerant): a replicated chain of 1 or more voters;
    /// n voters keep ordering while a majority of them runs.
    Raft,
    /// Two-chain HotStuff (Byzantine fault tolerant): a replicated chain of
    /// 1 or more voters, each known by the public key in its genesis member
    /// entry; n voters stay safe and live with f = floor((n-1)/3) of them
    /// lying, so 4 voters tolerate 1 and 7 tolerate 2.
    Hotstuff,
}

impl ConsensusKind {
    /// Every kind, in the order documents list them.
    pub const ALL: [ConsensusKind; 3] = [ConsensusKind::Raft, ConsensusKind::Hotstuff, ConsensusKind::Solo];

    /// The engine's name in the genesis and on the wire (`raft`,
    /// `hotstuff`, `solo`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsensusKind::Solo => "solo",
            ConsensusKind::Raft => "raft",
            ConsensusKind::Hotstuff => "hotstuff",
        }
    }

    /// Whether the kind tolerates members that lie (Byzantine faults), not
    /// only members that stop: its members are named by their public keys
    /// in the genesis.
    pub fn byzantine(self) -> bool {
        matches!(self, ConsensusKind::Hotstuff)
    }

    /// How many of `voters` voting members may fail while the chain keeps
    /// ordering: crashed ones for Raft (a minority), lying ones for
    /// HotStuff (f = floor((n-1)/3)), none for a solo chain.
    pub fn tolerated_faults(self, voters: usize) -> usize {
        match self {
            ConsensusKind::Solo => 0,
            ConsensusKind::Raft => voters.saturating_sub(1) / 2,
            ConsensusKind::Hotstuff => voters.saturating_sub(1) / 3,
        }
    }

    /// Whether the chain has more than one node and a membership that
    /// changes through consensus.
    pub fn replicated(self) -> bool {
        !matches!(self, ConsensusKind::Solo)
    }

    /// Most consensus (voting) nodes a chain of this kind has at genesis.
    pub fn max_voters(self) -> Option<usize> {
        match self {
            ConsensusKind::Solo => Some(1),
            ConsensusKind::Raft | ConsensusKind::Hotstuff => None,
        }
    }
}

impl fmt::Display for ConsensusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The engine's name (`raft`, `hotstuff`, `solo`), as older documents carry it.
impl From<ConsensusKind> for String {
    fn from(k: ConsensusKind) -> String {
        k.as_str().to_owned()
    }
}

impl FromStr for ConsensusKind {
    type Err = VocabularyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsensusKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            VocabularyError(format!(
                "unknown consensus `{s}`; one of: {}",
                ConsensusKind::ALL.map(ConsensusKind::as_str).join(", ")
            ))
        })
    }
}

/// What a node does in its chain's consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// A voting member.
    Consensus,
    /// A non-voting replica (a Raft learner) keeping a full copy of the ledger.
    Backup,
}

impl NodeRole {
    /// Every role.
    pub const ALL: [NodeRole; 2] = [NodeRole::Consensus, NodeRole::Backup];

    /// The role's name on the wire (`consensus`, `backup`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Consensus => "consensus",
            NodeRole::Backup => "backup",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeRole {
    type Err = VocabularyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| VocabularyError(format!("unknown node role `{s}`; one of: consensus, backup")))
    }
}

/// The allowed range of one block-policy field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimit {
    /// The field's name in the REST API and the node (`max_wait_ms`).
    pub field: &'static str,
    /// The field's name in the CRDs (`maxWaitMs`).
    pub crd_field: &'static str,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// The default.
    pub default: u64,
}

impl PolicyLimit {
    /// The refusal message every boundary gives for a value outside the
    /// range (it names no value, so a CRD rule can carry it verbatim).
    pub fn message(&self) -> String {
        format!("{} must be {} to {}", self.field, self.min, self.max)
    }

    /// Checks one value.
    pub fn check(&self, value: u64) -> Result<(), VocabularyError> {
        if (self.min..=self.max).contains(&value) { Ok(()) } else { Err(VocabularyError(self.message())) }
    }
}

/// When a block is cut (SPEC CON-3, "smart blocks"): as soon as it is full,
/// or when `max_wait` has passed since its first transaction arrived.
/// Transactions that arrive while a block is being committed wait for the
/// next one, so a busy chain makes bigger blocks without any tuning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPolicy {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Most payload bytes in one block.
    pub max_bytes: usize,
    /// Longest wait for more transactions once one is pending (milliseconds
    /// on the wire).
    #[serde(rename = "max_wait_ms", alias = "max_wait", with = "millis")]
    pub max_wait: Duration,
}

impl BlockPolicy {
    /// Most transactions in one block.
    pub const MAX_TXS: PolicyLimit =
        PolicyLimit { field: "max_txs", crd_field: "maxTxs", min: 1, max: 100_000, default: 5000 };
    /// Most payload bytes in one block: 1 KiB to 64 MiB.
    pub const MAX_BYTES: PolicyLimit = PolicyLimit {
        field: "max_bytes",
        crd_field: "maxBytes",
        min: 1024,
        max: 64 * 1024 * 1024,
        default: 8 * 1024 * 1024,
    };
    /// Longest wait for more transactions, milliseconds: 0 to 10 s.
    pub const MAX_WAIT_MS: PolicyLimit =
        PolicyLimit { field: "max_wait_ms", crd_field: "maxWaitMs", min: 0, max: 10_000, default: 2 };
    /// Every field's limit.
    pub const LIMITS: [PolicyLimit; 3] = [Self::MAX_TXS, Self::MAX_BYTES, Self::MAX_WAIT_MS];

    /// A policy from raw field values (as the REST API and CRDs carry them),
    /// checked against the limits; the first field out of range is named.
    pub fn from_parts(
        max_txs: u64,
        max_bytes: u64,
        max_wait_ms: u64,
    ) -> Result<BlockPolicy, VocabularyError> {
        Self::MAX_TXS.check(max_txs)?;
        Self::MAX_BYTES.check(max_bytes)?;
        Self::MAX_WAIT_MS.check(max_wait_ms)?;
        // In range means they fit: the limits are far below usize::MAX.
        Ok(BlockPolicy {
            max_txs: usize::try_from(max_txs).map_err(|_| VocabularyError(Self::MAX_TXS.message()))?,
            max_bytes: usize::try_from(max_bytes).map_err(|_| VocabularyError(Self::MAX_BYTES.message()))?,
            max_wait: Duration::from_millis(max_wait_ms),
        })
    }

    /// `max_wait` in whole milliseconds.
    pub fn max_wait_ms(&self) -> u64 {
        u64::try_from(self.max_wait.as_millis()).unwrap_or(u64::MAX)
    }

    /// Checks every field is within its limit.
    pub fn validate(&self) -> Result<(), VocabularyError> {
        Self::from_parts(self.max_txs as u64, self.max_bytes as u64, self.max_wait_ms()).map(|_| ())
    }
}

impl Default for BlockPolicy {
    fn default() -> Self {
        BlockPolicy {
            max_txs: Self::MAX_TXS.default as usize,
            max_bytes: Self::MAX_BYTES.default as usize,
            max_wait: Duration::from_millis(Self::MAX_WAIT_MS.default),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_limits() {
        BlockPolicy::default().validate().unwrap();
        for l in BlockPolicy::LIMITS {
            assert!((l.min..=l.max).contains(&l.default), "{}", l.field);
        }
    }

    #[test]
    fn out_of_range_names_the_field() {
        let e = BlockPolicy::from_parts(10, 4096, 30_000).unwrap_err();
        assert_eq!(e.to_string(), "max_wait_ms must be 0 to 10000");
        let e = BlockPolicy::from_parts(0, 4096, 1).unwrap_err();
        assert_eq!(e.to_string(), "max_txs must be 1 to 100000");
        let e = BlockPolicy::from_parts(1, u64::MAX, 1).unwrap_err();
        assert_eq!(e.to_string(), "max_bytes must be 1024 to 67108864");
    }

    #[test]
    fn wire_form_takes_the_old_field_name() {
        let p: BlockPolicy = serde_json::from_str(r#"{"max_txs":3,"max_bytes":2048,"max_wait":7}"#).unwrap();
        assert_eq!(p.max_wait, Duration::from_millis(7));
        let v = serde_json::to_value(p).unwrap();
        assert_eq!(v["max_wait_ms"], 7);
    }

    #[test]
    fn kinds_parse_their_names() {
        for k in ConsensusKind::ALL {
            assert_eq!(k.as_str().parse::<ConsensusKind>().unwrap(), k);
        }
        assert_eq!(
            "pbft".parse::<ConsensusKind>().unwrap_err().to_string(),
            "unknown consensus `pbft`; one of: raft, hotstuff, solo"
        );
        // Names are exact: no case folding, no aliases.
        for bad in ["HotStuff", "hot-stuff", "bft", ""] {
            assert!(bad.parse::<ConsensusKind>().is_err(), "{bad}");
        }
        assert_eq!("backup".parse::<NodeRole>().unwrap(), NodeRole::Backup);
    }

    #[test]
    fn hotstuff_is_a_replicated_byzantine_kind() {
        let k: ConsensusKind = "hotstuff".parse().unwrap();
        assert_eq!(k, ConsensusKind::Hotstuff);
        assert_eq!(serde_json::to_string(&k).unwrap(), r#""hotstuff""#);
        assert_eq!(serde_json::from_str::<ConsensusKind>(r#""hotstuff""#).unwrap(), k);
        assert!(k.replicated() && k.byzantine());
        assert_eq!(k.max_voters(), None);
        assert!(!ConsensusKind::Raft.byzantine() && !ConsensusKind::Solo.byzantine());
        // n = 3f + 1: 1-3 voters tolerate no liar, 4 one, 7 two, 10 three.
        let f: Vec<usize> = [1, 3, 4, 6, 7, 10].map(|n| k.tolerated_faults(n)).to_vec();
        assert_eq!(f, [0, 0, 1, 1, 2, 3]);
        assert_eq!(ConsensusKind::Raft.tolerated_faults(4), 1);
        assert_eq!(ConsensusKind::Raft.tolerated_faults(5), 2);
        assert_eq!(ConsensusKind::Solo.tolerated_faults(1), 0);
    }
}
