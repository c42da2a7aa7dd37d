//! The CLI's verbs other than the load generator.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_crypto::{PrivateKey, PublicKey, Suite};
use govchain_execution::DataCall;
use govchain_node::{
    config::NodeConfig,
    init::{CONFIG_FILE, InitOptions, init_node_dir},
};
use govchain_sdk::{Client, Wallet};
use govchain_types::api::SubmitMode;

/// Operations of the data contract.
#[derive(Subcommand)]
pub enum TxOp {
    /// Store a value under a key (your organization's data).
    Put {
        /// The key.
        key: String,
        /// The value (text).
        value: String,
    },
    /// Read a key (recorded on chain as a transaction).
    Get {
        /// The key.
        key: String,
    },
    /// Delete a key your organization owns.
    Delete {
        /// The key.
        key: String,
    },
    /// A key's history, newest first.
    History {
        /// The key.
        key: String,
        /// Most entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Any data-contract call given as JSON, e.g. '{"key_contains":{"needle":"61","limit":10}}'.
    Call {
        /// The call as JSON.
        json: String,
    },
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `govchain key gen`.
pub fn key_gen(suite: Suite, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let key_path = out.join("key.pem");
    if key_path.exists() {
        bail!("{} already exists; refusing to overwrite a key", key_path.display());
    }
    let key = PrivateKey::generate(suite);
    write_private(&key_path, &key.to_pkcs8_pem()?)?;
    std::fs::write(out.join("pub.pem"), key.public_key().to_spki_pem()?)?;
    println!("address={}", key.public_key().address());
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// `govchain crypto hash`.
pub fn hash(suite: Suite, file: &Path) -> anyhow::Result<()> {
    println!("{}", hex::encode(suite.hash(&read_bytes(file)?)));
    Ok(())
}

/// `govchain crypto sign`.
pub fn sign(key: &Path, out: &Path, file: &Path) -> anyhow::Result<()> {
    let key = PrivateKey::from_pkcs8_pem(&read_text(key)?).context("private key")?;
    let sig = key.sign(&read_bytes(file)?)?;
    std::fs::write(out, sig).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// `govchain crypto verify`.
pub fn verify(public: &Path, sig: &Path, file: &Path) -> anyhow::Result<()> {
    let key = PublicKey::from_spki_pem(&read_text(public)?).context("public key")?;
    key.verify(&read_bytes(file)?, &read_bytes(sig)?).context("signature does not verify")?;
    println!("OK");
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `govchain tx ...`.
pub async fn tx(op: TxOp, node: &str, key: Option<&Path>, asynchronous: bool) -> anyhow::Result<()> {
    let key_path = key.context("--key <key.pem> is required to sign transactions")?;
    let key = PrivateKey::from_pkcs8_pem(&read_text(key_path)?).context("private key")?;
    let client = Client::new(node)?;
    let status = client.status().await?;
    if status.suite != key.suite().to_string() {
        bail!("the key is a {} key but the chain uses {}", key.suite(), status.suite);
    }
    let call = match op {
        TxOp::Put { key, value } => DataCall::Put { key: key.into_bytes(), value: value.into_bytes() },
        TxOp::Get { key } => DataCall::Get { key: key.into_bytes() },
        TxOp::Delete { key } => DataCall::Delete { key: key.into_bytes() },
        TxOp::History { key, limit } => DataCall::History { key: key.into_bytes(), limit },
        TxOp::Call { json } => serde_json::from_str(&json).context("call JSON")?,
    };
    let wallet = Wallet::new(key, status.chain_id);
    let tx = wallet.data_call(&call)?;
    let mode = if asynchronous { SubmitMode::Async } else { SubmitMode::Sync };
    let response = client.submit(&tx, mode).await?;
    let output =
        response.receipt.as_ref().and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.output).ok());
    let mut view = serde_json::to_value(&response)?;
    if let (Some(output), Some(receipt)) = (output, view.get_mut("receipt")) {
        receipt["output"] = output;
    }
    print_json(&view)
}

/// `govchain block get`.
pub async fn block_get(node: &str, at: &str) -> anyhow::Result<()> {
    let block = Client::new(node)?.block(at).await?.with_context(|| format!("block {at} not found"))?;
    print_json(&block)
}

/// `govchain status`.
pub async fn status(node: &str) -> anyhow::Result<()> {
    print_json(&Client::new(node)?.status().await?)
}

/// `govchain up`: a development chain node in `data`, until Ctrl-C.
pub async fn up(data: PathBuf, listen: SocketAddr, suite: Suite) -> anyhow::Result<()> {
    let node_dir = data.join("dev-node");
    let config_path = node_dir.join(CONFIG_FILE);
    if !config_path.exists() {
        let opts = InitOptions {
            chain_id: "dev".into(),
            suite,
            node_id: "node0".into(),
            listen,
            organization: "dev-org".into(),
        };
        init_node_dir(&node_dir, &opts)?;
    }
    let mut config = NodeConfig::load(&config_path)?;
    config.listen = listen;
    let url = format!("http://{listen}");
    println!("govchain development chain (solo node, {} suite) in {}", suite, node_dir.display());
    println!("try:");
    println!("  govchain key gen --suite {suite} --out {}/me", data.display());
    println!("  govchain tx put greeting hello --key {}/me/key.pem --node {url}", data.display());
    println!("  govchain tx history greeting --key {}/me/key.pem --node {url}", data.display());
    println!("  govchain block get latest --node {url}");
    govchain_node::init_tracing();
    govchain_node::run(config).await?;
    Ok(())
}
