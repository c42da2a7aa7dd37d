//! Creating a node directory: key, chain CA, genesis and config for a new
//! chain.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::ExecutionSpec;
use govchain_pki::{ChainCa, IssueRequest, Validity};
use govchain_types::{
    chain::{BlockPolicy, ConsensusKind},
    now_ms,
};

use crate::{
    Error, Result,
    config::{Genesis, GenesisCa, NodeConfig},
};

/// Lifetime of the chain's root CA, in days (20 years).
pub const ROOT_CA_DAYS: u32 = 7305;
/// Lifetime of the operating CA, in days (10 years); it is rotated with the
/// root key before it ends.
pub const OPERATING_CA_DAYS: u32 = 3652;
/// Lifetime of the node certificate `init` issues, in days.
pub const NODE_CERT_DAYS: u32 = 365;
/// The CA directory inside a node directory.
pub const CA_DIR: &str = "ca";
/// The root CA's private key inside [`CA_DIR`]; it belongs offline.
pub const ROOT_KEY_FILE: &str = "root-key.pem";
/// The operating CA's private key inside [`CA_DIR`].
pub const OPERATING_KEY_FILE: &str = "operating-key.pem";
/// The root CA certificate inside [`CA_DIR`].
pub const ROOT_CERT_FILE: &str = "root.pem";
/// The operating CA certificate inside [`CA_DIR`].
pub const OPERATING_CERT_FILE: &str = "operating.pem";
/// The node's certificate inside a node directory.
pub const NODE_CERT_FILE: &str = "node-cert.pem";

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

/// Writes `key.pem`, `pub.pem`, the chain's two-level CA (`ca/root-key.pem`
/// and `ca/operating-key.pem`, both 0600, `ca/root.pem`, `ca/operating.pem`),
/// the node's certificate `node-cert.pem` (node kind, SANs `127.0.0.1` and
/// `localhost`), `genesis.json` (with the CA certificates) and `node.toml`
/// into `dir`; refuses to overwrite an existing node. Returns the config
/// path.
///
/// `ca/root-key.pem` is needed only to rotate the operating CA; the caller
/// should tell the operator to move it offline ([`root_key_note`]).
pub fn init_node_dir(dir: &Path, opts: &InitOptions) -> Result<PathBuf> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(Error::Config(format!(
            "{} already exists; refusing to overwrite",
            config_path.display()
        )));
    }
    let mut genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        suite: opts.suite,
        consensus: ConsensusKind::Solo,
        timestamp_ms: now_ms(),
        organization: opts.organization.clone(),
        block_policy: BlockPolicy::default(),
        ca: None,
        execution: Default::default(),
        members: vec![],
    };
    // The chain id first: its message is clearer than the CA's about it.
    genesis.validate()?;
    let key = PrivateKey::generate(opts.suite);
    let pki = |what: &str, e: govchain_pki::Error| Error::Config(format!("{what}: {e}"));
    let (ca, root_key) = create_ca(opts).map_err(|e| pki("creating the chain CA", e))?;
    let node_cert = issue_node_cert(&ca, &key, opts).map_err(|e| pki("issuing the node certificate", e))?;
    genesis.ca = Some(GenesisCa {
        root_cert_pem: ca.root_cert_pem().to_owned(),
        operating_cert_pem: ca.operating_cert_pem().to_owned(),
    });
    genesis.validate()?;
    let config = NodeConfig {
        node_id: opts.node_id.clone(),
        listen: opts.listen,
        data_dir: "data".into(),
        key: "key.pem".into(),
        genesis: "genesis.json".into(),
        mempool_capacity: 100_000,
        admission_budget_ms: crate::config::DEFAULT_ADMISSION_BUDGET_MS,
        sync_timeout_ms: 30_000,
        p2p_listen: None,
        cert: Some(NODE_CERT_FILE.into()),
        consensus_id: None,
        logs: Default::default(),
    };
    config.validate()?;
    let io = |what: &Path, e: std::io::Error| Error::Config(format!("cannot write {}: {e}", what.display()));
    let ca_dir = dir.join(CA_DIR);
    std::fs::create_dir_all(&ca_dir).map_err(|e| io(&ca_dir, e))?;
    #[cfg(unix)]
    {
        // The directory holds the CA keys: keep others from even listing it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ca_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(&ca_dir, e))?;
    }
    write_private(&ca_dir.join(ROOT_KEY_FILE), root_key.pem())?;
    write_private(&ca_dir.join(OPERATING_KEY_FILE), &ca.operating().key_pem)?;
    for (name, pem) in [
        (ca_dir.join(ROOT_CERT_FILE), ca.root_cert_pem()),
        (ca_dir.join(OPERATING_CERT_FILE), ca.operating_cert_pem()),
        (dir.join(NODE_CERT_FILE), node_cert.as_str()),
    ] {
        std::fs::write(&name, pem).map_err(|e| io(&name, e))?;
    }
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

/// What a new multi-node chain looks like (`govchain net init`).
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Chain id.
    pub chain_id: String,
    /// Crypto suite.
    pub suite: Suite,
    /// Consensus engine by its genesis name (a [`ConsensusKind`]): `raft`
    /// or `hotstuff` (one node may also run `solo`).
    pub consensus: String,
    /// Number of nodes, 1 to [`MAX_NETWORK_NODES`].
    pub nodes: usize,
    /// Organization creating the chain (it runs every node).
    pub organization: String,
    /// Node `i` (from 0) listens on the loopback address `127.0.0.{first_ip + i}`.
    pub first_ip: u8,
    /// Port of every node's client API.
    pub api_port: u16,
    /// Port of every node's node-to-node (mutual TLS) listener.
    pub p2p_port: u16,
}

/// Sets the `execution` of the genesis of the node directories `dirs`,
/// which [`init_node_dir`] or [`init_network`] just made (before any node
/// started: the genesis is fixed from the first block on). Every directory
/// gets the same document.
pub fn set_execution(dirs: &[PathBuf], spec: &ExecutionSpec) -> Result<()> {
    for dir in dirs {
        let path = dir.join("genesis.json");
        let mut genesis = Genesis::load(&path)?;
        genesis.execution = spec.clone();
        genesis.validate()?;
        let json = serde_json::to_string_pretty(&genesis).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(&path, json)
            .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Most nodes `init_network` creates.
pub const MAX_NETWORK_NODES: usize = 64;

/// Creates a whole chain on this machine: one CA in `out/ca` (keys 0600),
/// and per node `out/node<i>` with its key, node certificate (SANs its
/// loopback address and `localhost`), the shared `genesis.json` (members
/// with their addresses) and `node.toml`. Returns the node directories.
pub fn init_network(out: &Path, opts: &NetworkOptions) -> Result<Vec<PathBuf>> {
    if opts.nodes == 0 || opts.nodes > MAX_NETWORK_NODES {
        return Err(Error::Config(format!("--nodes must be 1 to {MAX_NETWORK_NODES}")));
    }
    let kind =
        opts.consensus.parse::<ConsensusKind>().map_err(|e| Error::Config(format!("--consensus: {e}")))?;
    if kind.max_voters().is_some_and(|max| opts.nodes > max) {
        return Err(Error::Config(format!(
            "{kind} ordering runs one node; use --consensus raft or hotstuff"
        )));
    }
    if usize::from(opts.first_ip) + opts.nodes > 255 || opts.first_ip == 0 {
        return Err(Error::Config("the nodes' loopback addresses must stay within 127.0.0.1-254".into()));
    }
    if opts.api_port == opts.p2p_port {
        return Err(Error::Config("the API and p2p ports must differ".into()));
    }
    let ca_dir = out.join(CA_DIR);
    if ca_dir.exists() {
        return Err(Error::Config(format!("{} already exists; refusing to overwrite", ca_dir.display())));
    }
    let init = InitOptions {
        chain_id: opts.chain_id.clone(),
        suite: opts.suite,
        node_id: "node0".into(),
        listen: SocketAddr::from(([127, 0, 0, 1], opts.api_port)),
        organization: opts.organization.clone(),
    };
    let pki = |what: &str, e: govchain_pki::Error| Error::Config(format!("{what}: {e}"));
    let (ca, root_key) = create_ca(&init).map_err(|e| pki("creating the chain CA", e))?;
    let ip = |i: usize| Ipv4Addr::new(127, 0, 0, opts.first_ip + i as u8);
    let replicated = kind.replicated();
    // The node keys come first: a member is known by its public key.
    let keys: Vec<PrivateKey> = (0..opts.nodes).map(|_| PrivateKey::generate(opts.suite)).collect();
    let members = keys
        .iter()
        .enumerate()
        .map(|(i, key)| crate::config::Member {
            id: i as u64 + 1,
            name: format!("node{i}"),
            organization: opts.organization.clone(),
            p2p: format!("{}:{}", ip(i), opts.p2p_port),
            consensus_key: crate::config::Member::key_hex(&key.public_key()),
        })
        .collect();
    let genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        suite: opts.suite,
        consensus: kind,
        timestamp_ms: now_ms(),
        organization: opts.organization.clone(),
        block_policy: BlockPolicy::default(),
        ca: Some(GenesisCa {
            root_cert_pem: ca.root_cert_pem().to_owned(),
            operating_cert_pem: ca.operating_cert_pem().to_owned(),
        }),
        execution: Default::default(),
        members: if replicated { members } else { vec![] },
    };
    genesis.validate()?;
    let genesis_json = serde_json::to_string_pretty(&genesis).map_err(|e| Error::Internal(e.to_string()))?;
    let io = |what: &Path, e: std::io::Error| Error::Config(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(&ca_dir).map_err(|e| io(&ca_dir, e))?;
    write_private(&ca_dir.join(ROOT_KEY_FILE), root_key.pem())?;
    write_private(&ca_dir.join(OPERATING_KEY_FILE), &ca.operating().key_pem)?;
    for (name, pem) in [
        (ca_dir.join(ROOT_CERT_FILE), ca.root_cert_pem()),
        (ca_dir.join(OPERATING_CERT_FILE), ca.operating_cert_pem()),
    ] {
        std::fs::write(&name, pem).map_err(|e| io(&name, e))?;
    }
    let mut dirs = Vec::with_capacity(opts.nodes);
    for (i, key) in keys.iter().enumerate() {
        let config = NodeConfig {
            node_id: format!("node{i}"),
            listen: SocketAddr::from((ip(i), opts.api_port)),
            data_dir: "data".into(),
            key: "key.pem".into(),
            genesis: "genesis.json".into(),
            mempool_capacity: 100_000,
            admission_budget_ms: crate::config::DEFAULT_ADMISSION_BUDGET_MS,
            sync_timeout_ms: 30_000,
            p2p_listen: replicated.then(|| SocketAddr::from((ip(i), opts.p2p_port))),
            cert: Some(NODE_CERT_FILE.into()),
            consensus_id: None,
            logs: Default::default(),
        };
        let dir = out.join(&config.node_id);
        write_member_dir(&dir, &ca, key, &opts.organization, ip(i), &config, &genesis_json)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Writes one member's directory: its `key` (of `ca`'s suite; a new one
/// from [`PrivateKey::generate`], whose public key a `hotstuff` genesis
/// names), a node certificate from `ca` (CN `config.node_id`, O
/// `organization`, SANs `ip` and `localhost`), the chain's genesis and
/// `config`. The key file is 0600 and never overwritten.
pub fn write_member_dir(
    dir: &Path,
    ca: &ChainCa,
    key: &PrivateKey,
    organization: &str,
    ip: Ipv4Addr,
    config: &NodeConfig,
    genesis_json: &str,
) -> Result<()> {
    let io = |what: &Path, e: std::io::Error| Error::Config(format!("cannot write {}: {e}", what.display()));
    let pki = |what: &str, e: govchain_pki::Error| Error::Config(format!("{what}: {e}"));
    if key.suite() != ca.suite() {
        return Err(Error::Config(format!(
            "the key of {} is for {} but the chain uses {}",
            config.node_id,
            key.suite(),
            ca.suite()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let encoding = |e: govchain_crypto::Error| Error::Internal(format!("encoding key: {e}"));
    let public = key.public_key().to_spki_pem().map_err(encoding)?;
    let validity = Validity::days_from_now(NODE_CERT_DAYS).map_err(|e| pki("node certificate", e))?;
    let mut req = IssueRequest::node(&config.node_id, organization, public.clone(), validity);
    req.dns_names = vec!["localhost".into()];
    req.ip_addresses = vec![IpAddr::V4(ip)];
    let cert = ca.issue(&req).map_err(|e| pki("issuing a node certificate", e))?;
    write_private(&dir.join("key.pem"), &key.to_pkcs8_pem().map_err(encoding)?)?;
    let toml = toml::to_string(config).map_err(|e| Error::Internal(e.to_string()))?;
    for (path, contents) in [
        (dir.join("pub.pem"), public.as_str()),
        (dir.join(NODE_CERT_FILE), cert.as_str()),
        (dir.join("genesis.json"), genesis_json),
        (dir.join(CONFIG_FILE), toml.as_str()),
    ] {
        std::fs::write(&path, contents).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// A node added to a chain made by [`init_network`].
#[derive(Debug, Clone)]
pub struct AddedNode {
    /// Its directory.
    pub dir: PathBuf,
    /// Its consensus id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its peer address.
    pub p2p: String,
    /// Hex of its SEC1 public key, as a genesis member's `consensus_key`.
    pub consensus_key: String,
}

/// Prepares one more node for a replicated chain made by [`init_network`]
/// in `out`: the next loopback address, a new consensus id, a key and a node
/// certificate from the chain's operating CA (`out/ca`). It joins when the
/// leader adds it (as a learner, then promoted).
pub fn add_network_node(out: &Path) -> Result<AddedNode> {
    let mut existing = Vec::new();
    while out.join(format!("node{}", existing.len())).join(CONFIG_FILE).is_file() {
        let dir = out.join(format!("node{}", existing.len()));
        existing.push(NodeConfig::load(&dir.join(CONFIG_FILE))?);
    }
    let first = existing.first().ok_or_else(|| Error::Config(format!("{} holds no node0", out.display())))?;
    let genesis = Genesis::load(&first.genesis)?;
    if !genesis.consensus.replicated() {
        return Err(Error::Config(format!("a {} chain takes no more nodes", genesis.consensus)));
    }
    let index = existing.len();
    let IpAddr::V4(ip0) = first.listen.ip() else {
        return Err(Error::Config("node0 does not listen on an IPv4 loopback address".into()));
    };
    let last = ip0.octets()[3] as usize + index;
    if last > 254 {
        return Err(Error::Config("no loopback address left for another node".into()));
    }
    let ip = Ipv4Addr::new(127, 0, 0, last as u8);
    let p2p_port =
        first.p2p_listen.map(|a| a.port()).ok_or_else(|| Error::Config("node0 has no p2p_listen".into()))?;
    let id = genesis
        .members
        .iter()
        .map(|m| m.id)
        .chain(existing.iter().filter_map(|c| c.consensus_id))
        .max()
        .unwrap_or(0)
        + 1;
    let read = |f: &str| {
        let path = out.join(CA_DIR).join(f);
        std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
    };
    let pki = |what: &str, e: govchain_pki::Error| Error::Config(format!("{what}: {e}"));
    let ca = ChainCa::load(
        genesis.suite,
        &read(ROOT_CERT_FILE)?,
        &read(OPERATING_CERT_FILE)?,
        &read(OPERATING_KEY_FILE)?,
    )
    .map_err(|e| pki("loading the chain CA", e))?;
    let name = format!("node{index}");
    let p2p = SocketAddr::from((ip, p2p_port));
    let config = NodeConfig {
        node_id: name.clone(),
        listen: SocketAddr::from((ip, first.listen.port())),
        data_dir: "data".into(),
        key: "key.pem".into(),
        genesis: "genesis.json".into(),
        mempool_capacity: first.mempool_capacity,
        admission_budget_ms: first.admission_budget_ms,
        sync_timeout_ms: first.sync_timeout_ms,
        p2p_listen: Some(p2p),
        cert: Some(NODE_CERT_FILE.into()),
        consensus_id: Some(id),
        logs: crate::config::LogSettings { dir: None, ..first.logs.clone() },
    };
    let genesis_json = std::fs::read_to_string(&first.genesis)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", first.genesis.display())))?;
    let dir = out.join(&name);
    let key = PrivateKey::generate(genesis.suite);
    write_member_dir(&dir, &ca, &key, &genesis.organization, ip, &config, &genesis_json)?;
    Ok(AddedNode {
        dir,
        id,
        name,
        p2p: p2p.to_string(),
        consensus_key: crate::config::Member::key_hex(&key.public_key()),
    })
}

/// Longest chain id that fits the CA's common name (`<chain id> operating CA`
/// within the 64 characters of an X.509 name value).
const MAX_CA_NAME: usize = 51;

/// Creates a chain's two-level CA and writes it into `ca_dir` (created 0700):
/// `root-key.pem` and `operating-key.pem` (0600), `root.pem` and
/// `operating.pem`. The CA is named after `chain_id` (its first 51
/// characters, so the name fits a certificate) and `organization`. Refuses
/// an existing `ca_dir`. Returns the online CA for issuing node certificates.
///
/// For platforms that create chains whose members live in several
/// directories (the embedded host driver); [`init_network`] does the same for
/// a chain kept in one directory.
pub fn create_chain_ca(ca_dir: &Path, suite: Suite, chain_id: &str, organization: &str) -> Result<ChainCa> {
    if ca_dir.exists() {
        return Err(Error::Config(format!("{} already exists; refusing to overwrite", ca_dir.display())));
    }
    let name: String = chain_id.chars().take(MAX_CA_NAME).collect();
    let opts = InitOptions {
        chain_id: name,
        suite,
        node_id: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        organization: organization.to_owned(),
    };
    let (ca, root_key) =
        create_ca(&opts).map_err(|e| Error::Config(format!("creating the chain CA: {e}")))?;
    let io = |what: &Path, e: std::io::Error| Error::Config(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(ca_dir).map_err(|e| io(ca_dir, e))?;
    #[cfg(unix)]
    {
        // The directory holds the CA keys: keep others from even listing it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ca_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(ca_dir, e))?;
    }
    write_private(&ca_dir.join(ROOT_KEY_FILE), root_key.pem())?;
    write_private(&ca_dir.join(OPERATING_KEY_FILE), &ca.operating().key_pem)?;
    for (name, pem) in [
        (ca_dir.join(ROOT_CERT_FILE), ca.root_cert_pem()),
        (ca_dir.join(OPERATING_CERT_FILE), ca.operating_cert_pem()),
    ] {
        std::fs::write(&name, pem).map_err(|e| io(&name, e))?;
    }
    Ok(ca)
}

/// Loads the online CA (root certificate, operating certificate and key)
/// from a CA directory written by [`create_chain_ca`] or [`init_network`].
pub fn load_chain_ca(ca_dir: &Path, suite: Suite) -> Result<ChainCa> {
    let read = |f: &str| {
        let path = ca_dir.join(f);
        std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
    };
    ChainCa::load(suite, &read(ROOT_CERT_FILE)?, &read(OPERATING_CERT_FILE)?, &read(OPERATING_KEY_FILE)?)
        .map_err(|e| Error::Config(format!("loading the chain CA from {}: {e}", ca_dir.display())))
}

/// What to tell the operator about the root key after [`init_node_dir`].
pub fn root_key_note(dir: &Path) -> String {
    format!(
        "note: {} is the chain's root CA key; move it to offline storage (it is needed only to rotate the operating CA)",
        dir.join(CA_DIR).join(ROOT_KEY_FILE).display()
    )
}

fn create_ca(opts: &InitOptions) -> govchain_pki::Result<(ChainCa, govchain_pki::RootKey)> {
    let root = Validity::days_from_now(ROOT_CA_DAYS)?;
    // Derived from the root's window, so it lies inside it whatever the
    // clock does between the two.
    let operating = Validity::new(root.not_before(), root.not_before() + days(OPERATING_CA_DAYS))?;
    ChainCa::create(opts.suite, &opts.chain_id, &opts.organization, root, operating)
}

fn issue_node_cert(ca: &ChainCa, key: &PrivateKey, opts: &InitOptions) -> govchain_pki::Result<String> {
    let public =
        key.public_key().to_spki_pem().map_err(|e| govchain_pki::Error::Key(format!("node key: {e}")))?;
    let validity = Validity::days_from_now(NODE_CERT_DAYS)?;
    let mut req = IssueRequest::node(&opts.node_id, &opts.organization, public, validity);
    req.dns_names = vec!["localhost".into()];
    req.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    ca.issue(&req)
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

/// Creates `path` readable by its owner only (0600) and writes a secret
/// (a private key) to it durably; refuses to overwrite an existing file.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use govchain_pki::CertKind;

    use super::*;

    fn opts() -> InitOptions {
        InitOptions {
            chain_id: "c1".into(),
            suite: Suite::Gm,
            node_id: "node0".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            organization: "city".into(),
        }
    }

    #[test]
    fn init_creates_the_chain_ca_and_a_node_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = NodeConfig::load(&init_node_dir(dir.path(), &opts()).expect("init")).expect("config");
        let genesis = Genesis::load(&config.genesis).expect("genesis");
        let gca = genesis.ca.as_ref().expect("genesis names the CA");
        let ca_dir = dir.path().join(CA_DIR);
        let read = |p: PathBuf| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(ca_dir.join(ROOT_CERT_FILE)), gca.root_cert_pem);
        assert_eq!(read(ca_dir.join(OPERATING_CERT_FILE)), gca.operating_cert_pem);
        #[cfg(unix)]
        for key in [ROOT_KEY_FILE, OPERATING_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ca_dir.join(key)).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        // The operating key on disk is the operating CA's.
        let ca = ChainCa::load(
            Suite::Gm,
            &gca.root_cert_pem,
            &gca.operating_cert_pem,
            &read(ca_dir.join(OPERATING_KEY_FILE)),
        )
        .expect("the CA loads from its files");
        let node_cert = read(dir.path().join(NODE_CERT_FILE));
        let info = ca.verify(&node_cert, SystemTime::now()).expect("node certificate verifies");
        assert_eq!(info.kind, CertKind::Node);
        assert_eq!((info.organization.as_str(), info.common_name.as_str()), ("city", "node0"));
        assert_eq!(info.dns_names, ["localhost"]);
        assert_eq!(info.ip_addresses, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let node_key = PrivateKey::from_pkcs8_pem(&read(config.key.clone())).expect("node key");
        assert_eq!(info.public_key_pem, node_key.public_key().to_spki_pem().expect("pem"));
        assert!(root_key_note(dir.path()).contains("root-key.pem"));
        // Never over an existing node.
        assert!(init_node_dir(dir.path(), &opts()).is_err());
    }

    #[test]
    fn a_chain_ca_in_its_own_directory_issues_members_of_several_organizations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_dir = dir.path().join("chain").join(CA_DIR);
        // A 64-character chain id: the CA's name is cut to fit a certificate.
        let chain_id = "c".repeat(64);
        let ca = create_chain_ca(&ca_dir, Suite::Gm, &chain_id, "a.gov").expect("ca");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: PathBuf| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(ca_dir.clone()), 0o700);
            assert_eq!(mode(ca_dir.join(ROOT_KEY_FILE)), 0o600);
            assert_eq!(mode(ca_dir.join(OPERATING_KEY_FILE)), 0o600);
        }
        assert!(create_chain_ca(&ca_dir, Suite::Gm, "c1", "a.gov").is_err(), "never over a CA");
        let loaded = load_chain_ca(&ca_dir, Suite::Gm).expect("loads");
        assert_eq!(loaded.operating_cert_pem(), ca.operating_cert_pem());
        assert!(load_chain_ca(&ca_dir, Suite::IntlR1).is_err(), "suite is checked");

        let ip = Ipv4Addr::new(127, 0, 0, 150);
        let config = NodeConfig {
            node_id: "node0.b.gov".into(),
            listen: SocketAddr::from((ip, 1)),
            data_dir: "data".into(),
            key: "key.pem".into(),
            genesis: "genesis.json".into(),
            mempool_capacity: 10,
            admission_budget_ms: crate::config::DEFAULT_ADMISSION_BUDGET_MS,
            sync_timeout_ms: 10,
            p2p_listen: Some(SocketAddr::from((ip, 2))),
            cert: Some(NODE_CERT_FILE.into()),
            consensus_id: Some(7),
            logs: Default::default(),
        };
        let member = dir.path().join("b.gov").join("node0.b.gov");
        let key = PrivateKey::generate(Suite::Gm);
        let other = PrivateKey::generate(Suite::IntlR1);
        let e = write_member_dir(&member, &loaded, &other, "b.gov", ip, &config, "{}").unwrap_err();
        assert!(e.to_string().contains("is for intl-r1 but the chain uses gm"), "{e}");
        write_member_dir(&member, &loaded, &key, "b.gov", ip, &config, "{}").expect("member dir");
        let cert = std::fs::read_to_string(member.join(NODE_CERT_FILE)).expect("cert");
        let info = ca.verify(&cert, SystemTime::now()).expect("issued by the chain CA");
        assert_eq!((info.organization.as_str(), info.common_name.as_str()), ("b.gov", "node0.b.gov"));
        assert_eq!(info.ip_addresses, [IpAddr::V4(ip)]);
        assert_eq!(NodeConfig::load(&member.join(CONFIG_FILE)).expect("config").consensus_id, Some(7));
        let on_disk =
            PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(member.join("key.pem")).expect("key"))
                .expect("key");
        assert_eq!(on_disk.public_key(), key.public_key(), "the given key is the node's");
        assert_eq!(info.public_key_pem, key.public_key().to_spki_pem().expect("pem"));
        assert!(write_member_dir(&member, &loaded, &key, "b.gov", ip, &config, "{}").is_err(), "key kept");
    }

    #[test]
    fn init_needs_an_organization_for_the_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = init_node_dir(dir.path(), &InitOptions { organization: String::new(), ..opts() })
            .expect_err("no organization");
        assert!(err.to_string().contains("organization is empty"), "{err}");
        assert!(!dir.path().join(CONFIG_FILE).exists());
    }

    #[test]
    fn development_chains_get_the_evm_with_a_chain_id_from_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = NetworkOptions {
            chain_id: "dept-a".into(),
            suite: Suite::IntlK1,
            consensus: "raft".into(),
            nodes: 3,
            organization: "city".into(),
            first_ip: 11,
            api_port: 8600,
            p2p_port: 8700,
        };
        let dirs = init_network(dir.path(), &opts).expect("init");
        set_execution(&dirs, &ExecutionSpec::with_evm("dept-a")).expect("set");
        let docs: Vec<String> =
            dirs.iter().map(|d| std::fs::read_to_string(d.join("genesis.json")).expect("read")).collect();
        assert!(docs.iter().all(|d| d == &docs[0]), "every member has the same genesis");
        let genesis = Genesis::load(&dirs[0].join("genesis.json")).expect("loads and validates");
        assert_eq!(
            genesis.execution.engines,
            vec![govchain_execution::EngineKind::Native, govchain_execution::EngineKind::Evm]
        );
        let evm = genesis.execution.evm.expect("evm config");
        assert_eq!(evm.chain_id, govchain_execution::EvmConfig::chain_id_for("dept-a"));
        assert_ne!(evm.chain_id, govchain_execution::EvmConfig::chain_id_for("dev"));
    }

    fn network(consensus: &str, nodes: usize) -> NetworkOptions {
        NetworkOptions {
            chain_id: "bft".into(),
            suite: Suite::IntlR1,
            consensus: consensus.into(),
            nodes,
            organization: "city".into(),
            first_ip: 21,
            api_port: 8600,
            p2p_port: 8700,
        }
    }

    #[test]
    fn a_hotstuff_network_names_each_nodes_own_key_in_its_genesis() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = init_network(dir.path(), &network("hotstuff", 4)).expect("init");
        let genesis = Genesis::load(&dirs[0].join("genesis.json")).expect("loads and validates");
        assert_eq!(genesis.consensus, ConsensusKind::Hotstuff);
        assert_eq!(genesis.members.len(), 4);
        for (d, m) in dirs.iter().zip(&genesis.members) {
            let config = NodeConfig::load(&d.join(CONFIG_FILE)).expect("config");
            assert_eq!(config.node_id, m.name);
            assert!(config.p2p_listen.is_some(), "a replicated node listens to its peers");
            let key =
                PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&config.key).expect("key")).expect("key");
            assert_eq!(m.public_key(Suite::IntlR1).expect("member key"), key.public_key(), "{}", m.name);
        }
        // A node joining later gets a key of its own, named for its learner entry.
        let added = add_network_node(dir.path()).expect("add");
        let key = std::fs::read_to_string(added.dir.join("key.pem")).expect("key");
        let key = PrivateKey::from_pkcs8_pem(&key).expect("key");
        assert_eq!(crate::config::Member::key_hex(&key.public_key()), added.consensus_key);
        assert!(genesis.members.iter().all(|m| m.consensus_key != added.consensus_key));
    }

    #[test]
    fn raft_networks_carry_the_keys_too_and_solo_has_no_members() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = init_network(&dir.path().join("raft"), &network("raft", 2)).expect("init");
        let genesis = Genesis::load(&dirs[0].join("genesis.json")).expect("genesis");
        assert!(genesis.members.iter().all(|m| m.public_key(Suite::IntlR1).is_ok()));
        let dirs = init_network(&dir.path().join("solo"), &network("solo", 1)).expect("init");
        assert!(Genesis::load(&dirs[0].join("genesis.json")).expect("genesis").members.is_empty());
        let e = init_network(&dir.path().join("solo4"), &network("solo", 4)).unwrap_err();
        assert!(e.to_string().contains("solo ordering runs one node"), "{e}");
        let e = init_network(&dir.path().join("pbft"), &network("pbft", 4)).unwrap_err();
        assert!(e.to_string().contains("one of: raft, hotstuff, solo"), "{e}");
    }
}
