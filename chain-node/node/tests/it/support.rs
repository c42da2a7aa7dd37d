use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_node::{
    Node,
    config::{Genesis, NodeConfig},
    init::{self, InitOptions, init_node_dir},
};
use govchain_pki::ChainCa;
use govchain_sdk::{Client, Wallet};

/// A node serving on a loopback port inside this test process.
pub struct TestNode {
    pub _dir: tempfile::TempDir,
    pub url: String,
    pub client: Client,
    pub node: Node,
}

pub fn init(dir: &Path, suite: Suite, chain_id: &str) -> NodeConfig {
    let opts = InitOptions {
        chain_id: chain_id.into(),
        suite,
        node_id: "node0".into(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        organization: "org-test".into(),
    };
    let path = init_node_dir(dir, &opts).expect("init node dir");
    NodeConfig::load(&path).expect("load config")
}

pub async fn start(suite: Suite) -> TestNode {
    start_with(suite, |_| {}).await
}

/// Like [`start`], after `edit` changed the genesis file.
pub async fn start_with(suite: Suite, edit: impl FnOnce(&mut Genesis)) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = init(&dir.path().join("node"), suite, "test-chain");
    let mut genesis = Genesis::load(&config.genesis).expect("genesis");
    edit(&mut genesis);
    std::fs::write(&config.genesis, serde_json::to_string(&genesis).expect("json")).expect("write genesis");
    let node = Node::start(config).await.expect("node starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = govchain_node::rpc::router(node.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = Client::new(&url).expect("client");
    TestNode { _dir: dir, url, client, node }
}

impl TestNode {
    /// The node's directory (as `govchain-node init` made it).
    pub fn dir(&self) -> PathBuf {
        self._dir.path().join("node")
    }

    /// The chain's online CA, loaded from the node directory.
    pub fn ca(&self) -> ChainCa {
        let ca = self.dir().join(init::CA_DIR);
        let read = |f: &str| std::fs::read_to_string(ca.join(f)).expect("read CA file");
        ChainCa::load(
            self.node.suite(),
            &read(init::ROOT_CERT_FILE),
            &read(init::OPERATING_CERT_FILE),
            &read(init::OPERATING_KEY_FILE),
        )
        .expect("load CA")
    }
}

pub fn wallet(suite: Suite) -> Wallet {
    Wallet::new(PrivateKey::generate(suite), "test-chain")
}
