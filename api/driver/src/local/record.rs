//! Where a chain's files live, and the driver's own record of each chain
//! (`chains/<chain>/chain.json`), from which it re-adopts chains after a
//! platform restart.
//!
//! ```text
//! <root>/chains/<chain>/chain.json       the record below
//! <root>/chains/<chain>/genesis.json     the chain's genesis
//! <root>/chains/<chain>/ca/              chain CA (0700; keys 0600), kept by the platform
//! <root>/chains/<chain>/admin/           the platform's admin identity (key 0600)
//! <root>/orgs/<org>/<chain>/<node>/      one node: key.pem (0600), pub.pem, node-cert.pem,
//!                                        genesis.json, node.toml, data/, node.log, pid
//! ```
//!
//! Each organization's nodes live under its own directory (SPEC PRV-4).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{ChainSpec, Error, NodeInfo, Resources, Result};

const RECORD_FILE: &str = "chain.json";
/// The chain's genesis inside its directory.
pub(crate) const GENESIS_FILE: &str = "genesis.json";

/// What the driver keeps about a chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChainRecord {
    /// The spec it was created from; `block_policy` follows online changes.
    pub(crate) spec: ChainSpec,
    /// Its nodes now (added ones included, removed ones gone).
    pub(crate) nodes: Vec<NodeRecord>,
    /// The next Raft id; ids are never reused.
    pub(crate) next_id: u64,
    /// Per organization, the next node index; names are never reused.
    pub(crate) next_index: BTreeMap<String, u32>,
}

/// One node of a chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    pub(crate) info: NodeInfo,
    pub(crate) resources: Resources,
    /// Stopped on its own with `stop_node`: stays down through `resume`
    /// (a `start_chain` starts it).
    #[serde(default)]
    pub(crate) stopped: bool,
}

impl ChainRecord {
    pub(crate) fn node(&self, name: &str) -> Result<&NodeRecord> {
        self.nodes
            .iter()
            .find(|n| n.info.name == name)
            .ok_or_else(|| Error::NotFound(format!("chain {} has no node {name}", self.spec.chain)))
    }

    /// The next name for a node of `org`: `node<i>.<org>`.
    pub(crate) fn next_name(&mut self, org: &str) -> String {
        let i = self.next_index.entry(org.to_owned()).or_insert(0);
        let name = format!("node{i}.{org}");
        *i += 1;
        name
    }
}

/// The paths of one driver root.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
}

impl Layout {
    pub(crate) fn chains(&self) -> PathBuf {
        self.root.join("chains")
    }

    pub(crate) fn orgs(&self) -> PathBuf {
        self.root.join("orgs")
    }

    pub(crate) fn chain_dir(&self, chain: &str) -> PathBuf {
        self.chains().join(chain)
    }

    pub(crate) fn node_dir(&self, chain: &str, org: &str, name: &str) -> PathBuf {
        self.orgs().join(org).join(chain).join(name)
    }

    /// Writes the record atomically (a new file renamed over the old).
    pub(crate) fn save(&self, record: &ChainRecord) -> Result<()> {
        let dir = self.chain_dir(&record.spec.chain);
        let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
        let json =
            serde_json::to_vec_pretty(record).map_err(|e| Error::Failed(format!("chain record: {e}")))?;
        std::fs::write(&tmp, json).map_err(|source| Error::Io { path: tmp.clone(), source })?;
        let path = dir.join(RECORD_FILE);
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io { path, source })
    }

    /// Every chain record under the root; unreadable ones are reported by path.
    pub(crate) fn load_all(&self) -> (Vec<ChainRecord>, Vec<(PathBuf, String)>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        let Ok(entries) = std::fs::read_dir(self.chains()) else { return (ok, bad) };
        for entry in entries.flatten() {
            let path = entry.path().join(RECORD_FILE);
            if !path.is_file() {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<ChainRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => ok.push(r),
                Err(e) => bad.push((path, e)),
            }
        }
        (ok, bad)
    }

    /// Every node directory of `chain`, of every organization (whether the
    /// record lists it or not: a failed add leaves one).
    pub(crate) fn node_dirs(&self, chain: &str) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for org in read_dir(&self.orgs()) {
            dirs.extend(read_dir(&org.join(chain)).into_iter().filter(|d| d.is_dir()));
        }
        dirs
    }

    /// Removes `dir` and then its parents up to the root while they are empty.
    pub(crate) fn purge(&self, dir: &Path) -> Result<()> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path: dir.to_owned(), source }),
        }
        let mut parent = dir.parent();
        while let Some(p) = parent {
            if p == self.root || p == self.orgs() || p == self.chains() || std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
        Ok(())
    }
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}
