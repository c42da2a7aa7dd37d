//! Creating a node directory: key, genesis and config for a new chain.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use govchain_consensus::BlockPolicy;
use govchain_crypto::{PrivateKey, Suite};
use govchain_types::now_ms;

use crate::{
    Error, Result,
    config::{Genesis, NodeConfig},
};

/// What a new single-node chain looks like.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Chain id.
    pub chain_id: String,
    /// Crypto suite.
    pub suite: Suite,
    /// Node id.
    pub node_id: String,
    /// API address.
    pub listen: SocketAddr,
    /// Organization creating the chain.
    pub organization: String,
}

/// Name of the config file inside a node directory.
pub const CONFIG_FILE: &str = "node.toml";

/// Writes `key.pem`, `pub.pem`, `genesis.json` and `node.toml` into `dir`;
/// refuses to overwrite an existing node. Returns the config path.
pub fn init_node_dir(dir: &Path, opts: &InitOptions) -> Result<PathBuf> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(Error::Config(format!(
            "{} already exists; refusing to overwrite",
            config_path.display()
        )));
    }
    let genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        suite: opts.suite,
        consensus: "solo".into(),
        timestamp_ms: now_ms(),
        organization: opts.organization.clone(),
        block_policy: BlockPolicy::default(),
    };
    genesis.validate()?;
    let config = NodeConfig {
        node_id: opts.node_id.clone(),
        listen: opts.listen,
        data_dir: "data".into(),
        key: "key.pem".into(),
        genesis: "genesis.json".into(),
        mempool_capacity: 100_000,
        sync_timeout_ms: 30_000,
    };
    config.validate()?;
    let io = |what: &Path, e: std::io::Error| Error::Config(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let key = PrivateKey::generate(opts.suite);
    let pem =
        |r: govchain_crypto::Result<String>| r.map_err(|e| Error::Internal(format!("encoding key: {e}")));
    write_private(&dir.join("key.pem"), &pem(key.to_pkcs8_pem())?)?;
    let pub_path = dir.join("pub.pem");
    std::fs::write(&pub_path, pem(key.public_key().to_spki_pem())?).map_err(|e| io(&pub_path, e))?;
    let genesis_path = dir.join("genesis.json");
    let genesis_json = serde_json::to_string_pretty(&genesis).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&genesis_path, genesis_json).map_err(|e| io(&genesis_path, e))?;
    let toml = toml::to_string(&config).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&config_path, toml).map_err(|e| io(&config_path, e))?;
    Ok(config_path)
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file =
        options.open(path).map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}
