//! The CLI's verbs other than the load generator.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_crypto::{Address, PrivateKey, PublicKey, Suite};
use govchain_execution::DataCall;
use govchain_node::{
    config::NodeConfig,
    init::{
        CONFIG_FILE, InitOptions, OPERATING_CERT_FILE, OPERATING_KEY_FILE, ROOT_CERT_FILE, init_node_dir,
        root_key_note, write_private,
    },
};
use govchain_pki::{ChainCa, IssueRequest, Validity};
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

/// What `govchain cert issue` certifies.
#[derive(clap::Args, Debug)]
pub struct IssueArgs {
    /// The chain's CA directory: `<node-dir>/ca` as `govchain-node init` made it.
    #[arg(long)]
    pub ca: PathBuf,
    /// The subject's public key (SPKI PEM, e.g. pub.pem of `govchain key gen`).
    #[arg(long = "pub")]
    pub public: PathBuf,
    /// The organization (department) the subject belongs to: the certificate's O.
    #[arg(long)]
    pub org: String,
    /// The user's or node's name: the certificate's CN.
    #[arg(long)]
    pub cn: String,
    /// `user` (signs transactions) or `node` (also a TLS server; needs --dns or --ip).
    #[arg(long, value_enum, default_value = "user")]
    pub kind: CertKindArg,
    /// Days the certificate stays valid.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// DNS name of a node certificate (repeatable).
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// IP address of a node certificate (repeatable).
    #[arg(long = "ip")]
    pub ip: Vec<IpAddr>,
    /// Where to write the certificate (PEM); never overwritten.
    #[arg(long)]
    pub out: PathBuf,
}

/// Kinds of certificate `govchain cert issue` makes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKindArg {
    /// A user or application that signs transactions.
    User,
    /// A chain node.
    Node,
}

/// The files that make a transaction's signer.
#[derive(Debug, Clone, Copy)]
pub struct SignerFiles<'a> {
    /// PKCS#8 private key (PEM).
    pub key: Option<&'a Path>,
    /// Certificate of that key from the chain's CA (PEM).
    pub cert: Option<&'a Path>,
}

pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
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

pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `govchain cert issue`.
pub fn cert_issue(args: &IssueArgs) -> anyhow::Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    if args.org.parse::<Address>().is_ok() {
        bail!(
            "--org `{}` has the form of an account address, which names senders without a certificate; use the department's name",
            args.org
        );
    }
    match args.kind {
        CertKindArg::User if !args.dns.is_empty() || !args.ip.is_empty() => {
            bail!("--dns and --ip are for node certificates (--kind node)")
        }
        CertKindArg::Node if args.dns.is_empty() && args.ip.is_empty() => {
            bail!(
                "a node certificate needs at least one --dns or --ip (TLS peers check the node's name against them)"
            )
        }
        _ => {}
    }
    if args.out.exists() {
        bail!("{} already exists; refusing to overwrite it", args.out.display());
    }
    let read_ca = |file: &str| {
        let path = args.ca.join(file);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (--ca must be a node's `ca` directory as `govchain-node init` made it)",
                path.display()
            )
        })
    };
    let (root, operating, operating_key) =
        (read_ca(ROOT_CERT_FILE)?, read_ca(OPERATING_CERT_FILE)?, read_ca(OPERATING_KEY_FILE)?);
    let suite = govchain_pki::parse(&root)
        .with_context(|| format!("{ROOT_CERT_FILE} in {}", args.ca.display()))?
        .suite;
    let ca = ChainCa::load(suite, &root, &operating, &operating_key)
        .with_context(|| format!("loading the CA in {}", args.ca.display()))?;
    let public_pem = read_text(&args.public)?;
    let public = PublicKey::from_spki_pem(&public_pem)
        .with_context(|| format!("{} is not a public key (SPKI PEM)", args.public.display()))?;
    if public.suite() != suite {
        bail!("{} is a {} key but the chain's CA uses {suite}", args.public.display(), public.suite());
    }
    let validity = Validity::days_from_now(args.days)?;
    let mut req = match args.kind {
        CertKindArg::User => IssueRequest::user(&args.cn, &args.org, public_pem, validity),
        CertKindArg::Node => IssueRequest::node(&args.cn, &args.org, public_pem, validity),
    };
    req.dns_names.clone_from(&args.dns);
    req.ip_addresses.clone_from(&args.ip);
    let pem = ca.issue(&req).context("issuing the certificate")?;
    let info = govchain_pki::parse(&pem)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    use std::io::Write;
    file.write_all(pem.as_bytes()).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "cert={} org={} cn={} kind={} serial={}",
        args.out.display(),
        info.organization,
        info.common_name,
        info.kind,
        info.serial
    );
    Ok(())
}

/// The DER of the certificate in `path`, checked to certify `key`.
pub(crate) fn read_certificate(path: &Path, key: &PrivateKey) -> anyhow::Result<Vec<u8>> {
    let pem = read_text(path)?;
    let info =
        govchain_pki::parse(&pem).with_context(|| format!("{} is not a certificate", path.display()))?;
    let certified = PublicKey::from_spki_der(&info.public_key_der)
        .with_context(|| format!("the key in {}", path.display()))?;
    if certified != key.public_key() {
        bail!("{} certifies another key than the one given with --key", path.display());
    }
    let (_, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(der)
}

/// `govchain tx ...`.
pub async fn tx(op: TxOp, node: &str, signer: SignerFiles<'_>, asynchronous: bool) -> anyhow::Result<()> {
    let key_path = signer.key.context("--key <key.pem> is required to sign transactions")?;
    let key = PrivateKey::from_pkcs8_pem(&read_text(key_path)?).context("private key")?;
    let certificate = signer.cert.map(|path| read_certificate(path, &key)).transpose()?;
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
    let mut wallet = Wallet::new(key, status.chain_id);
    if let Some(der) = certificate {
        wallet = wallet.with_certificate(der);
    }
    let tx = wallet.data_call(&call)?;
    let mode = if asynchronous { SubmitMode::Async } else { SubmitMode::Sync };
    let response = client.submit(&tx, mode).await?;
    let mut view = serde_json::to_value(&response)?;
    // Outputs and event data are JSON documents; show them as such rather
    // than as the hex of their bytes.
    if let (Some(r), Some(receipt)) = (&response.receipt, view.get_mut("receipt")) {
        if let Ok(output) = serde_json::from_slice::<serde_json::Value>(&r.output) {
            receipt["output"] = output;
        }
        for (event, shown) in r.events.iter().zip(receipt["events"].as_array_mut().into_iter().flatten()) {
            if let Ok(data) = serde_json::from_slice::<serde_json::Value>(&event.data) {
                shown["data"] = data;
            }
        }
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

/// `govchain dev`: a development chain node in `data`, until Ctrl-C.
pub async fn dev(data: PathBuf, listen: SocketAddr, suite: Suite) -> anyhow::Result<()> {
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
        // Contracts work at once: the EVM beside the native contracts.
        govchain_node::init::set_execution(
            std::slice::from_ref(&node_dir),
            &govchain_execution::ExecutionSpec::with_evm("dev"),
        )?;
        println!("{}", root_key_note(&node_dir));
    }
    let mut config = NodeConfig::load(&config_path)?;
    config.listen = listen;
    let url = format!("http://{listen}");
    // Hints name the binary that is running, so they work whether it was
    // installed or started through cargo.
    let exe = std::env::current_exe().map_or_else(|_| "govchain".into(), |p| p.display().to_string());
    let (d, n) = (data.display(), node_dir.display());
    println!("govchain development chain (solo node, {suite} suite) in {n}");
    println!("try:");
    println!("  {exe} key gen --suite {suite} --out {d}/me");
    println!("  {exe} tx put greeting hello --key {d}/me/key.pem --node {url}");
    println!("  {exe} tx history greeting --key {d}/me/key.pem --node {url}");
    println!(
        "  {exe} cert issue --ca {n}/ca --pub {d}/me/pub.pem --org dept-a --cn me --out {d}/me/cert.pem"
    );
    println!("  {exe} tx put permit/1 granted --key {d}/me/key.pem --cert {d}/me/cert.pem --node {url}");
    println!("  {exe} block get latest --node {url}");
    if suite == Suite::IntlK1 {
        println!("Ethereum JSON-RPC (ethers.js, chain id from eth_chainId): {url}/v1/eth");
    }
    govchain_node::init_logging(config.log_config());
    govchain_node::run(config).await?;
    Ok(())
}
