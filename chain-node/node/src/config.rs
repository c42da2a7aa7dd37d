//! Node configuration and the chain's genesis description, both read from
//! files and validated before anything starts.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use govchain_crypto::Suite;
use govchain_execution::ExecutionSpec;
use govchain_types::chain::{BlockPolicy, ConsensusKind};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a chain is, fixed at its creation and identical on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id; transactions name it.
    pub chain_id: String,
    /// Crypto suite of the chain.
    pub suite: Suite,
    /// Consensus engine (`solo`, `raft` or `hotstuff` in the JSON); the
    /// node's builder starts the engine of this kind.
    pub consensus: ConsensusKind,
    /// Block time of the genesis block, ms since 1970.
    pub timestamp_ms: u64,
    /// Organization that created the chain.
    #[serde(default)]
    pub organization: String,
    /// Initial block policy.
    #[serde(default)]
    pub block_policy: BlockPolicy,
    /// The chain's CA. Signers may carry a certificate from it, whose `O`
    /// becomes their organization. `None` (a dev chain, or a genesis written
    /// before chains had a CA) refuses certificates, and every key is then
    /// its own organization. Left out of the JSON when `None`, so an old
    /// genesis document serializes (and is stored on chain) unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<GenesisCa>,
    /// The initial voting members of a replicated (`raft`, `hotstuff`)
    /// chain; empty for `solo`. Members added later join through consensus,
    /// not genesis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The execution engines of the chain; every node builds the same
    /// executor from it. Left out of the JSON when it is the default (the
    /// native contracts only), so an older genesis stays byte-identical.
    #[serde(default, skip_serializing_if = "ExecutionSpec::is_default")]
    pub execution: ExecutionSpec,
}

/// A member node of a replicated chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Consensus id, unique in the chain, above 0, never reused.
    pub id: u64,
    /// Node name: its `node_id` and the CN of its node certificate.
    pub name: String,
    /// Organization running it (the O of its certificate).
    pub organization: String,
    /// `host:port` of its node-to-node (mutual TLS) listener.
    pub p2p: String,
    /// Hex of the SEC1 public key of the node's signing key (its `key.pem`,
    /// the key that signs its blocks and votes), of the chain's suite.
    /// Required on a `hotstuff` chain, where members are known by their
    /// keys; others may leave it out. Left out of the JSON when empty, so a
    /// genesis written before members had keys stays byte-identical.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consensus_key: String,
}

impl Member {
    /// The member's public key (from [`Member::consensus_key`]) on `suite`'s
    /// curve; an error naming the member if it is missing or not a key of
    /// that suite.
    pub fn public_key(&self, suite: Suite) -> Result<govchain_crypto::PublicKey> {
        if self.consensus_key.is_empty() {
            return Err(Error::Config(format!("genesis member `{}` has no consensus_key", self.name)));
        }
        let bytes = hex::decode(&self.consensus_key).map_err(|e| {
            Error::Config(format!("genesis member `{}`: consensus_key is not hex: {e}", self.name))
        })?;
        govchain_crypto::PublicKey::from_sec1(suite, &bytes).map_err(|e| {
            Error::Config(format!(
                "genesis member `{}`: consensus_key is not a {suite} public key: {e}",
                self.name
            ))
        })
    }

    /// The [`Member::consensus_key`] of `key`: hex of its uncompressed SEC1
    /// point.
    pub fn key_hex(key: &govchain_crypto::PublicKey) -> String {
        hex::encode(key.sec1_bytes())
    }
}

/// The chain CA's certificates in the genesis: the trust anchor of every
/// signer certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCa {
    /// The self-signed root CA certificate (PEM).
    pub root_cert_pem: String,
    /// The operating CA certificate signed by the root (PEM); it issues node
    /// and user certificates.
    pub operating_cert_pem: String,
}

impl GenesisCa {
    /// Checks both are CA certificates of `suite`, and that the operating CA
    /// is issued by the root and its window lies inside the root's. Signatures
    /// are checked with each signer certificate (`verify_chain`).
    pub fn validate(&self, suite: Suite) -> Result<()> {
        let read = |what: &str, pem: &str| {
            let info =
                govchain_pki::parse(pem).map_err(|e| Error::Config(format!("genesis ca.{what}: {e}")))?;
            if info.suite != suite {
                return Err(Error::Config(format!(
                    "genesis ca.{what} is a {} certificate but the chain uses {suite}",
                    info.suite
                )));
            }
            if info.kind != govchain_pki::CertKind::Ca {
                return Err(Error::Config(format!(
                    "genesis ca.{what} is a {} certificate, not a CA",
                    info.kind
                )));
            }
            Ok(info)
        };
        let root = read("root_cert_pem", &self.root_cert_pem)?;
        let operating = read("operating_cert_pem", &self.operating_cert_pem)?;
        if operating.issuer_common_name != root.common_name {
            return Err(Error::Config(format!(
                "genesis ca: the operating CA is issued by `{}`, not by the root `{}`",
                operating.issuer_common_name, root.common_name
            )));
        }
        if operating.not_before < root.not_before || operating.not_after > root.not_after {
            return Err(Error::Config("genesis ca: the operating CA outlives the root CA".into()));
        }
        Ok(())
    }
}

impl Genesis {
    /// Checks the fields a chain cannot run without.
    pub fn validate(&self) -> Result<()> {
        let id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= govchain_types::MAX_CHAIN_ID
            && self.chain_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !id_ok {
            return Err(Error::Config(format!(
                "genesis chain_id `{}` must be 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.'",
                self.chain_id
            )));
        }
        match self.consensus {
            ConsensusKind::Solo if self.members.is_empty() => {}
            ConsensusKind::Solo => {
                return Err(Error::Config("genesis: a solo chain has no members list".into()));
            }
            ConsensusKind::Raft | ConsensusKind::Hotstuff => self.validate_members()?,
        }
        self.block_policy.validate().map_err(|e| Error::Config(format!("genesis block_policy: {e}")))?;
        if let Some(ca) = &self.ca {
            ca.validate(self.suite)?;
        }
        Ok(())
    }

    /// The member rules of a replicated chain; a Byzantine fault tolerant
    /// one also needs every member's public key.
    fn validate_members(&self) -> Result<()> {
        let kind = self.consensus;
        if self.members.is_empty() {
            return Err(Error::Config(format!("genesis: a {kind} chain needs at least one member")));
        }
        if self.ca.is_none() {
            return Err(Error::Config(format!(
                "genesis: a {kind} chain needs a CA (nodes authenticate each other)"
            )));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for m in &self.members {
            if m.id == 0 || !ids.insert(m.id) {
                return Err(Error::Config(format!("genesis member id {} is 0 or used twice", m.id)));
            }
            if m.name.is_empty() || m.name.len() > 64 || !names.insert(&m.name) {
                return Err(Error::Config(format!(
                    "genesis member name `{}` is empty, too long or used twice",
                    m.name
                )));
            }
            let port_ok = m
                .p2p
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok || !addrs.insert(&m.p2p) {
                return Err(Error::Config(format!(
                    "genesis member `{}`: p2p address `{}` must be a unique host:port",
                    m.name, m.p2p
                )));
            }
            // One key counting twice would let one liar cast two votes.
            if kind.byzantine() && !keys.insert(*m.public_key(self.suite)?.sec1_bytes()) {
                return Err(Error::Config(format!(
                    "genesis member `{}`: consensus_key is another member's too",
                    m.name
                )));
            }
        }
        Ok(())
    }

    /// The member named `name`, if any.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Reads and validates a genesis JSON file.
    pub fn load(path: &Path) -> Result<Genesis> {
        let text = read(path)?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: invalid genesis: {e}", path.display())))?;
        genesis.validate()?;
        Ok(genesis)
    }
}

/// One node's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id, unique in the chain.
    pub node_id: String,
    /// Address of the REST/WebSocket API.
    pub listen: SocketAddr,
    /// Ledger directory (relative paths are relative to the config file).
    pub data_dir: PathBuf,
    /// The node's PKCS#8 private key file.
    pub key: PathBuf,
    /// The genesis file.
    pub genesis: PathBuf,
    /// Most transactions waiting to be ordered before submissions are
    /// refused: the hard cap above the admission budget.
    #[serde(default = "default_mempool")]
    pub mempool_capacity: usize,
    /// Admission budget, ms: the node holds at most this long of the chain's
    /// measured throughput in flight and answers 503 `overloaded` with
    /// `Retry-After` beyond it (see `admission`).
    #[serde(default = "default_admission_budget_ms")]
    pub admission_budget_ms: u64,
    /// How long a synchronous submission waits for its commit, in ms.
    #[serde(default = "default_sync_timeout_ms")]
    pub sync_timeout_ms: u64,
    /// Address of the node-to-node (mutual TLS) listener; required on
    /// replicated chains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_listen: Option<SocketAddr>,
    /// The node's certificate from the chain CA (PEM); required on
    /// replicated chains, where it authenticates the node to its peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Consensus id of a node that joins after genesis (members listed in
    /// the genesis take theirs from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus_id: Option<u64>,
    /// Where and how much of the node's own log is kept (`[logs]`).
    #[serde(default, skip_serializing_if = "LogSettings::is_default")]
    pub logs: LogSettings,
}

/// The node's log store (SPEC OPS-3): JSON lines by type under `dir`,
/// daily files, `retention_days` of them, never more than `budget_mb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// The directory (default `<data_dir>/logs`; relative paths are
    /// relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Days of files kept besides today's (1 to 3650, default 30).
    #[serde(default = "default_log_retention")]
    pub retention_days: u32,
    /// Most MiB all log files take together (at least 1, default 1024).
    #[serde(default = "default_log_budget")]
    pub budget_mb: u64,
}

fn default_log_retention() -> u32 {
    govchain_logstore::DEFAULT_RETENTION_DAYS
}

fn default_log_budget() -> u64 {
    govchain_logstore::DEFAULT_BUDGET_BYTES / (1024 * 1024)
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { dir: None, retention_days: default_log_retention(), budget_mb: default_log_budget() }
    }
}

impl LogSettings {
    fn is_default(&self) -> bool {
        *self == LogSettings::default()
    }
}

fn default_mempool() -> usize {
    100_000
}

/// Default [`NodeConfig::admission_budget_ms`].
pub const DEFAULT_ADMISSION_BUDGET_MS: u64 = 1000;
/// Range of [`NodeConfig::admission_budget_ms`].
pub const ADMISSION_BUDGET_MS: std::ops::RangeInclusive<u64> = 50..=60_000;

fn default_admission_budget_ms() -> u64 {
    DEFAULT_ADMISSION_BUDGET_MS
}

fn default_sync_timeout_ms() -> u64 {
    30_000
}

impl NodeConfig {
    /// Reads a TOML config and resolves its relative paths against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text = read(path)?;
        let mut config: NodeConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut config.data_dir, &mut config.key, &mut config.genesis]
            .into_iter()
            .chain(config.cert.as_mut())
            .chain(config.logs.dir.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.node_id.is_empty() || self.node_id.len() > 64 {
            return Err(Error::Config("node_id must be 1-64 characters".into()));
        }
        if self.mempool_capacity == 0 || self.mempool_capacity > 10_000_000 {
            return Err(Error::Config("mempool_capacity must be in 1..=10000000".into()));
        }
        if !ADMISSION_BUDGET_MS.contains(&self.admission_budget_ms) {
            return Err(Error::Config(format!(
                "admission_budget_ms must be in {}..={} (got {})",
                ADMISSION_BUDGET_MS.start(),
                ADMISSION_BUDGET_MS.end(),
                self.admission_budget_ms
            )));
        }
        if self.sync_timeout_ms == 0 {
            return Err(Error::Config("sync_timeout_ms must be above 0".into()));
        }
        self.log_config().validate().map_err(|e| Error::Config(format!("[logs]: {e}")))?;
        Ok(())
    }

    /// The settings of the node's log store.
    pub fn log_config(&self) -> govchain_logstore::LogConfig {
        govchain_logstore::LogConfig {
            dir: self.logs.dir.clone().unwrap_or_else(|| self.data_dir.join("logs")),
            retention_days: self.logs.retention_days,
            budget_bytes: self.logs.budget_mb.saturating_mul(1024 * 1024),
        }
    }

    /// The admission budget.
    pub fn admission_budget(&self) -> Duration {
        Duration::from_millis(self.admission_budget_ms)
    }

    /// The sync submission timeout.
    pub fn sync_timeout(&self) -> Duration {
        Duration::from_millis(self.sync_timeout_ms)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "dev".into(),
            suite: Suite::Gm,
            consensus: ConsensusKind::Solo,
            timestamp_ms: 1,
            organization: "org1".into(),
            block_policy: BlockPolicy::default(),
            ca: None,
            execution: Default::default(),
            members: vec![],
        }
    }

    #[test]
    fn genesis_validation_names_the_problem() {
        assert!(genesis().validate().is_ok());
        let mut bad = genesis();
        bad.chain_id = "has space".into();
        assert!(bad.validate().unwrap_err().to_string().contains("chain_id"));
        let mut bad = genesis();
        bad.consensus = ConsensusKind::Raft;
        assert!(bad.validate().unwrap_err().to_string().contains("at least one member"));
        // The engine names are the vocabulary's: an unknown one does not load.
        let json = serde_json::to_string(&genesis()).expect("json");
        assert!(json.contains(r#""consensus":"solo""#), "{json}");
        let pow = json.replace(r#""consensus":"solo""#, r#""consensus":"pow""#);
        assert!(serde_json::from_str::<Genesis>(&pow).unwrap_err().to_string().contains("pow"));
        let mut bad = genesis();
        bad.block_policy.max_txs = 0;
        assert!(bad.validate().unwrap_err().to_string().contains("max_txs"));
    }

    #[test]
    fn a_genesis_without_ca_still_loads_and_serializes_unchanged() {
        // Written before chains had a CA: no `ca` field.
        let old =
            r#"{"chain_id":"dev","suite":"gm","consensus":"solo","timestamp_ms":1,"organization":"org1"}"#;
        let g: Genesis = serde_json::from_str(old).expect("old genesis loads");
        assert_eq!(g.ca, None);
        // The on-chain copy is compared byte for byte at start-up.
        assert!(!serde_json::to_string(&g).expect("json").contains("\"ca\""));
        assert!(serde_json::from_str::<Genesis>(&old.replace("}", r#","bogus":1}"#)).is_err());
    }

    #[test]
    fn genesis_ca_must_hold_ca_certificates_of_the_suite() {
        let (ca, _root) = govchain_pki::ChainCa::create(
            Suite::IntlR1,
            "dev",
            "org1",
            govchain_pki::Validity::days_from_now(30).expect("validity"),
            govchain_pki::Validity::days_from_now(20).expect("validity"),
        )
        .expect("ca");
        let mut g = genesis();
        g.suite = Suite::IntlR1;
        g.ca = Some(GenesisCa {
            root_cert_pem: ca.root_cert_pem().to_owned(),
            operating_cert_pem: ca.operating_cert_pem().to_owned(),
        });
        g.validate().expect("valid");
        let mut swapped = g.clone();
        swapped.suite = Suite::Gm;
        assert!(swapped.validate().unwrap_err().to_string().contains("chain uses gm"));
        let mut bad = g.clone();
        if let Some(ca) = bad.ca.as_mut() {
            ca.operating_cert_pem = "not a certificate".into();
        }
        assert!(bad.validate().unwrap_err().to_string().contains("operating_cert_pem"));
        let mut reversed = g;
        if let Some(ca) = reversed.ca.as_mut() {
            std::mem::swap(&mut ca.root_cert_pem, &mut ca.operating_cert_pem);
        }
        assert!(reversed.validate().is_err());
    }

    /// A replicated chain of `n` members with a CA, keys of `key_suite`.
    fn replicated(kind: ConsensusKind, n: u64, key_suite: Suite) -> Genesis {
        let (ca, _root) = govchain_pki::ChainCa::create(
            Suite::Gm,
            "dev",
            "org1",
            govchain_pki::Validity::days_from_now(30).expect("validity"),
            govchain_pki::Validity::days_from_now(20).expect("validity"),
        )
        .expect("ca");
        Genesis {
            consensus: kind,
            ca: Some(GenesisCa {
                root_cert_pem: ca.root_cert_pem().to_owned(),
                operating_cert_pem: ca.operating_cert_pem().to_owned(),
            }),
            members: (1..=n)
                .map(|id| Member {
                    id,
                    name: format!("node{id}"),
                    organization: "org1".into(),
                    p2p: format!("127.0.0.{id}:8700"),
                    consensus_key: Member::key_hex(
                        &govchain_crypto::PrivateKey::generate(key_suite).public_key(),
                    ),
                })
                .collect(),
            ..genesis()
        }
    }

    #[test]
    fn a_hotstuff_genesis_names_every_members_key() {
        let g = replicated(ConsensusKind::Hotstuff, 4, Suite::Gm);
        g.validate().expect("valid");
        for m in &g.members {
            let key = m.public_key(Suite::Gm).expect("key");
            assert_eq!(Member::key_hex(&key), m.consensus_key);
            assert_eq!(key.suite(), Suite::Gm);
        }
        // The keys travel in the JSON and come back the same.
        let json = serde_json::to_string(&g).expect("json");
        assert!(json.contains(r#""consensus":"hotstuff""#) && json.contains("consensus_key"), "{json}");
        assert_eq!(serde_json::from_str::<Genesis>(&json).expect("loads"), g);
        // The member rules are raft's.
        let mut bad = g.clone();
        bad.members[1].id = bad.members[0].id;
        assert!(bad.validate().unwrap_err().to_string().contains("used twice"));
        let mut bad = g.clone();
        bad.members[1].p2p = "nowhere".into();
        assert!(bad.validate().unwrap_err().to_string().contains("host:port"));
        let mut bad = g.clone();
        bad.members.clear();
        assert!(
            bad.validate().unwrap_err().to_string().contains("a hotstuff chain needs at least one member")
        );
        let mut bad = g;
        bad.ca = None;
        assert!(bad.validate().unwrap_err().to_string().contains("a hotstuff chain needs a CA"));
    }

    #[test]
    fn a_hotstuff_member_without_a_good_key_is_named() {
        let refused = |f: &dyn Fn(&mut Member)| {
            let mut g = replicated(ConsensusKind::Hotstuff, 3, Suite::Gm);
            f(&mut g.members[2]);
            g.validate().unwrap_err().to_string()
        };
        let e = refused(&|m| m.consensus_key.clear());
        assert_eq!(e, "configuration: genesis member `node3` has no consensus_key");
        let e = refused(&|m| m.consensus_key = "zz".into());
        assert!(e.contains("`node3`: consensus_key is not hex"), "{e}");
        let e = refused(&|m| m.consensus_key.truncate(40));
        assert!(e.contains("`node3`: consensus_key is not a gm public key"), "{e}");
        // A key of another suite's curve is not one of the chain's.
        let e = refused(&|m| {
            m.consensus_key =
                Member::key_hex(&govchain_crypto::PrivateKey::generate(Suite::IntlK1).public_key())
        });
        assert!(e.contains("`node3`: consensus_key is not a gm public key"), "{e}");
        let g = replicated(ConsensusKind::Hotstuff, 2, Suite::IntlR1);
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("`node1`: consensus_key is not a gm public key"), "{e}");
        // Two members with one key.
        let mut g = replicated(ConsensusKind::Hotstuff, 3, Suite::Gm);
        g.members[2].consensus_key = g.members[0].consensus_key.clone();
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("`node3`: consensus_key is another member's too"), "{e}");
    }

    #[test]
    fn raft_members_need_no_key_and_serialize_unchanged() {
        let mut g = replicated(ConsensusKind::Raft, 3, Suite::Gm);
        g.validate().expect("keys are allowed");
        for m in &mut g.members {
            m.consensus_key.clear();
        }
        g.validate().expect("and not required");
        let json = serde_json::to_string(&g).expect("json");
        assert!(!json.contains("consensus_key"), "{json}");
        // A member written before members had keys loads as one without.
        let old = r#"{"id":1,"name":"n","organization":"o","p2p":"h:1"}"#;
        let m: Member = serde_json::from_str(old).expect("old member");
        assert_eq!(serde_json::to_string(&m).expect("json"), old);
        assert!(m.public_key(Suite::Gm).unwrap_err().to_string().contains("`n` has no consensus_key"));
    }

    #[test]
    fn config_rejects_unknown_fields_and_resolves_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "node_id='n'\nlisten='127.0.0.1:1'\ndata_dir='d'\nkey='k.pem'\ngenesis='g.json'\n",
        )
        .expect("write");
        let c = NodeConfig::load(&path).expect("valid");
        assert_eq!(c.data_dir, dir.path().join("d"));
        std::fs::write(
            &path,
            "node_id='n'\nlisten='127.0.0.1:1'\ndata_dir='d'\nkey='k'\ngenesis='g'\nbogus=1\n",
        )
        .expect("write");
        assert!(NodeConfig::load(&path).unwrap_err().to_string().contains("bogus"));
        assert_eq!(c.admission_budget_ms, DEFAULT_ADMISSION_BUDGET_MS);
        let base = "node_id='n'\nlisten='127.0.0.1:1'\ndata_dir='d'\nkey='k'\ngenesis='g'\n";
        std::fs::write(&path, format!("{base}admission_budget_ms=800\n")).expect("write");
        assert_eq!(NodeConfig::load(&path).expect("valid").admission_budget(), Duration::from_millis(800));
        for bad in [0, 10, 600_000] {
            std::fs::write(&path, format!("{base}admission_budget_ms={bad}\n")).expect("write");
            let e = NodeConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains("admission_budget_ms must be in 50..=60000"), "{e}");
        }
        std::fs::write(&path, "node_id='n'\nlisten='nope'\n").expect("write");
        assert!(NodeConfig::load(&path).is_err());
    }
}
