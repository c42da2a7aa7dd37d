//! Node configuration and the chain's genesis description, both read from
//! files and validated before anything starts.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use govchain_consensus::BlockPolicy;
use govchain_crypto::Suite;
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
    /// Consensus engine (`solo` for now).
    pub consensus: String,
    /// Block time of the genesis block, ms since 1970.
    pub timestamp_ms: u64,
    /// Organization that created the chain.
    #[serde(default)]
    pub organization: String,
    /// Initial block policy.
    #[serde(default)]
    pub block_policy: BlockPolicy,
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
        if self.consensus != "solo" {
            return Err(Error::Config(format!(
                "genesis consensus `{}` is not supported by this node (supported: solo)",
                self.consensus
            )));
        }
        self.block_policy.validate().map_err(|e| Error::Config(format!("genesis block_policy: {e}")))
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
    /// Most transactions waiting to be ordered before submissions are refused.
    #[serde(default = "default_mempool")]
    pub mempool_capacity: usize,
    /// How long a synchronous submission waits for its commit, in ms.
    #[serde(default = "default_sync_timeout_ms")]
    pub sync_timeout_ms: u64,
}

fn default_mempool() -> usize {
    100_000
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
        for p in [&mut config.data_dir, &mut config.key, &mut config.genesis] {
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
        if self.sync_timeout_ms == 0 {
            return Err(Error::Config("sync_timeout_ms must be above 0".into()));
        }
        Ok(())
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
            consensus: "solo".into(),
            timestamp_ms: 1,
            organization: "org1".into(),
            block_policy: BlockPolicy::default(),
        }
    }

    #[test]
    fn genesis_validation_names_the_problem() {
        assert!(genesis().validate().is_ok());
        let mut bad = genesis();
        bad.chain_id = "has space".into();
        assert!(bad.validate().unwrap_err().to_string().contains("chain_id"));
        let mut bad = genesis();
        bad.consensus = "pow".into();
        assert!(bad.validate().unwrap_err().to_string().contains("pow"));
        let mut bad = genesis();
        bad.block_policy.max_txs = 0;
        assert!(bad.validate().unwrap_err().to_string().contains("max_txs"));
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
        std::fs::write(&path, "node_id='n'\nlisten='nope'\n").expect("write");
        assert!(NodeConfig::load(&path).is_err());
    }
}
