//! Contracts on chains (SPEC SC-3): deploying Solidity build output as
//! version 1.0, calling it, downloading what was deployed, deleting a
//! failed deployment.
//!
//! Transactions are signed with the account the platform holds for the
//! caller's organization on the chain ([`HostDriver::account`]): a key
//! certified by the chain's CA for the organization, so the chain sees the
//! organization as the deployer and caller. Only member organizations of a
//! chain deploy and send calls there; read-only calls need only sight of
//! the chain.
//!
//! [`HostDriver::account`]: govchain_driver::HostDriver::account

use std::time::Duration;

use govchain_crypto::{Address, PrivateKey};
use govchain_execution::{
    EvmCall, EvmLog,
    abi::{Abi, DecodedEvent, NamedValue},
};
use govchain_sdk::{Client, Wallet};
use govchain_types::{Encode, Receipt, Transaction, TxStatus, api::SubmitMode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use crate::{
    AppState,
    domain::{ChainState, ContractState, NodeState, VersionStatus},
    entity::{chain, contract, contract_version, node},
    error::{ApiError, Result},
    now_ms,
    services::{chains, lifecycle},
};

/// Gas a deployment or call gets when the request names none.
pub const DEFAULT_GAS: u64 = 10_000_000;
/// How long the platform waits for a node to commit a transaction.
pub(crate) const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The first version of every contract.
pub const FIRST_VERSION: &str = "1.0";

/// What a deployment asks for, checked.
#[derive(Debug)]
pub struct Deploy {
    /// The contract's name.
    pub name: String,
    /// Its ABI.
    pub abi: Abi,
    /// Creation code (without constructor arguments).
    pub bytecode: Vec<u8>,
    /// Encoded constructor arguments.
    pub args: Vec<u8>,
    /// The Solidity source, if given.
    pub source: String,
    /// Gas limit.
    pub gas_limit: u64,
}

/// A contract of a chain the tenant sees.
pub async fn visible(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    id: i64,
) -> Result<(contract::Model, contract_version::Model)> {
    let k = contract::Entity::find_by_id(id)
        .filter(contract::Column::ChainId.eq(c.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such contract on this chain"))?;
    let v = current_version(db, &k).await?;
    Ok((k, v))
}

/// The version row of `k`'s current version.
async fn current_version(db: &impl ConnectionTrait, k: &contract::Model) -> Result<contract_version::Model> {
    contract_version::Entity::find()
        .filter(contract_version::Column::ContractId.eq(k.id))
        .filter(contract_version::Column::Version.eq(k.version.clone()))
        .one(db)
        .await?
        .ok_or_else(|| {
            ApiError::internal(
                "reading a contract",
                format!("contract {} has no version {}", k.id, k.version),
            )
        })
}

/// The contracts of a chain, newest first.
pub async fn list(db: &impl ConnectionTrait, chain_id: i64) -> Result<Vec<contract::Model>> {
    Ok(contract::Entity::find()
        .filter(contract::Column::ChainId.eq(chain_id))
        .order_by_desc(contract::Column::Id)
        .all(db)
        .await?)
}

/// Every version of a contract, oldest first.
pub async fn versions(db: &impl ConnectionTrait, contract_id: i64) -> Result<Vec<contract_version::Model>> {
    Ok(contract_version::Entity::find()
        .filter(contract_version::Column::ContractId.eq(contract_id))
        .order_by_asc(contract_version::Column::Id)
        .all(db)
        .await?)
}

/// Refuses unless organization `org_id` is a member of the running chain
/// `c`: transactions are signed for the caller's organization.
pub async fn require_member(db: &impl ConnectionTrait, c: &chain::Model, org_id: i64) -> Result<()> {
    if !chains::is_member(db, c.id, org_id).await? {
        return Err(ApiError::forbidden("only the chain's member organizations send transactions to it"));
    }
    if c.state != ChainState::Running {
        return Err(ApiError::conflict(format!("chain {} is {}, not running", c.name, c.state)));
    }
    Ok(())
}

/// The wallet of the account the platform holds for `org_domain` on `c`.
pub(crate) async fn wallet(state: &AppState, c: &chain::Model, org_domain: &str) -> Result<Wallet> {
    let account = state.driver.account(&c.chain_key, org_domain).await?;
    let key = PrivateKey::from_pkcs8_pem(&account.key_pem)
        .map_err(|e| ApiError::internal("reading the organization's account key", e))?;
    let der = govchain_pki::to_der(&account.cert_pem)
        .map_err(|e| ApiError::internal("reading the organization's account certificate", e))?;
    Ok(Wallet::new(key, c.chain_key.clone()).with_certificate(der))
}

/// Clients of the chain's running nodes, oldest node first.
pub(crate) async fn node_clients(db: &impl ConnectionTrait, c: &chain::Model) -> Result<Vec<Client>> {
    let nodes = node::Entity::find()
        .filter(node::Column::ChainId.eq(c.id))
        .filter(node::Column::State.eq(NodeState::Running))
        .order_by_asc(node::Column::Id)
        .all(db)
        .await?;
    let clients: Vec<Client> = nodes.iter().filter_map(|n| Client::new(&n.api_url).ok()).collect();
    if clients.is_empty() {
        return Err(ApiError::conflict(format!("chain {} has no running node", c.name)));
    }
    Ok(clients)
}

pub(crate) fn node_failed(message: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_GATEWAY, "node_failed", message)
}

/// A node's refusal of a request (a 4xx, or a 504 for a transaction it
/// admitted but did not see committed in time): its answer, not a reason
/// to ask another node.
pub(crate) struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Asks the chain's running nodes in turn, oldest first, until one
/// answers: the next is asked while a node cannot be reached, is busy or
/// not in a position to serve (500, 502, 503) or says nothing within
/// [`SUBMIT_TIMEOUT`]. The answer, or the node's [`Refusal`], goes back to
/// the caller; when no
/// node answers, a 502 says what `what` was and why the last one did not.
pub(crate) async fn ask_nodes<T, F, Fut>(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    what: &str,
    mut ask: F,
) -> Result<std::result::Result<T, Refusal>>
where
    F: FnMut(Client) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, govchain_sdk::Error>>,
{
    let mut last = String::new();
    for client in node_clients(db, c).await? {
        let base = client.base_url().to_owned();
        match tokio::time::timeout(SUBMIT_TIMEOUT, ask(client)).await {
            Ok(Ok(answer)) => return Ok(Ok(answer)),
            Ok(Err(govchain_sdk::Error::Api { status, code, message }))
                if !matches!(status, 500 | 502 | 503) =>
            {
                return Ok(Err(Refusal { status, code, message }));
            }
            Ok(Err(e)) => last = format!("{base}: {e}"),
            Err(_) => last = format!("{base}: no answer within {SUBMIT_TIMEOUT:?}"),
        }
    }
    Err(node_failed(format!("no node of chain {} answered {what} ({last})", c.name)))
}

/// Submits `tx` and waits for its receipt, trying the chain's nodes in
/// turn while one cannot be reached. A node's refusal (a bad transaction)
/// is not retried elsewhere.
pub(crate) async fn submit(db: &impl ConnectionTrait, c: &chain::Model, tx: &Transaction) -> Result<Receipt> {
    match ask_nodes(
        db,
        c,
        "the transaction",
        |client| async move { client.submit(tx, SubmitMode::Sync).await },
    )
    .await?
    {
        Ok(r) => r.receipt.ok_or_else(|| {
            node_failed(format!("transaction {} was admitted but not committed in time", r.tx_id))
        }),
        Err(Refusal { code, message, .. }) => {
            Err(ApiError::invalid(format!("the chain refused the transaction: {code}: {message}")))
        }
    }
}

/// Deploys `d` as version 1.0 for the caller's organization. The contract
/// is recorded before its transaction is sent; a deployment the chain
/// fails is kept as `failed` with the chain's reason (so it can be seen
/// and deleted), and returned, not refused. Where the chain's policy
/// governs deployments, the contract waits as `proposed` for a proposal
/// the organization makes here, and is deployed once the proposal passes
/// ([`lifecycle::settle`]).
pub async fn deploy(
    state: &AppState,
    c: &chain::Model,
    org_id: i64,
    org_domain: &str,
    user_id: i64,
    d: Deploy,
) -> Result<contract::Model> {
    require_member(&state.db, c, org_id).await?;
    let wallet = wallet(state, c, org_domain).await?;
    let governed = lifecycle::policy(&state.db, c).await?.governs("deploy");
    let mut code = d.bytecode.clone();
    code.extend_from_slice(&d.args);
    let tx = wallet
        .evm_create(code.clone(), d.gas_limit)
        .map_err(|e| ApiError::internal("signing the deployment", e))?;
    let tx_id = if governed { String::new() } else { tx.id(wallet.suite()).to_string() };
    let now = now_ms();
    let txn = state.db.begin().await?;
    let k = contract::ActiveModel {
        chain_id: Set(c.id),
        org_id: Set(org_id),
        name: Set(d.name.clone()),
        address: Set(String::new()),
        version: Set(FIRST_VERSION.into()),
        state: Set(if governed { ContractState::Proposed } else { ContractState::Deploying }),
        deployer_user_id: Set(user_id),
        deployer_address: Set(wallet.address().to_string()),
        tx_id: Set(tx_id.clone()),
        error: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let v = contract_version::ActiveModel {
        contract_id: Set(k.id),
        version: Set(FIRST_VERSION.into()),
        status: Set(if governed { VersionStatus::Draft } else { VersionStatus::Deploying }),
        bytecode: Set(hex::encode(&d.bytecode)),
        abi: Set(d.abi.to_json().to_string()),
        source: Set(d.source),
        tx_id: Set(tx_id),
        user_id: Set(user_id),
        created_at: Set(now),
        runtime: Set(String::new()),
        args: Set(hex::encode(&d.args)),
        proposal_id: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    if !governed {
        return send_deployment(state, c, k, v, &tx).await;
    }
    let proposal =
        match lifecycle::propose_deploy(state, c, org_domain, &code, &format!("deploy {}", d.name)).await {
            Ok(p) => p,
            Err(e) => return mark_failed(&state.db, k, v, &e.message).await,
        };
    let mut vm = v.into_active_model();
    vm.proposal_id = Set(proposal["id"].as_i64().unwrap_or(0));
    vm.update(&state.db).await?;
    // A policy whose threshold the proposer meets alone approves at once.
    Ok(lifecycle::settle(state, c, &proposal).await?.into_iter().next().unwrap_or(k))
}

/// Sends the deployment `tx` of `k` (version row `v`) and records what
/// the chain made of it.
pub(crate) async fn send_deployment(
    state: &AppState,
    c: &chain::Model,
    k: contract::Model,
    v: contract_version::Model,
    tx: &Transaction,
) -> Result<contract::Model> {
    let tx_id = tx.id(chain_suite(c)?).to_string();
    let txn = state.db.begin().await?;
    let mut vm = v.into_active_model();
    vm.status = Set(VersionStatus::Deploying);
    vm.tx_id = Set(tx_id.clone());
    let v = vm.update(&txn).await?;
    let mut km = k.into_active_model();
    km.state = Set(ContractState::Deploying);
    km.tx_id = Set(tx_id);
    let k = km.update(&txn).await?;
    txn.commit().await?;

    let outcome = submit(&state.db, c, tx).await;
    let (contract_state, version_status, address, error) = match &outcome {
        Ok(r) if r.status == TxStatus::Success => match <[u8; 20]>::try_from(r.output.as_slice()) {
            Ok(a) => (ContractState::Active, VersionStatus::Active, Address(a).to_string(), String::new()),
            Err(_) => (
                ContractState::Failed,
                VersionStatus::Failed,
                String::new(),
                "the deployment returned no address".into(),
            ),
        },
        Ok(r) => (ContractState::Failed, VersionStatus::Failed, String::new(), r.message.clone()),
        Err(e) => (ContractState::Failed, VersionStatus::Failed, String::new(), e.message.clone()),
    };
    let txn = state.db.begin().await?;
    let mut vm = v.into_active_model();
    vm.status = Set(version_status);
    vm.update(&txn).await?;
    let mut km = k.into_active_model();
    km.state = Set(contract_state);
    km.address = Set(address);
    km.error = Set(error);
    km.updated_at = Set(now_ms());
    let k = km.update(&txn).await?;
    txn.commit().await?;
    Ok(k)
}

fn chain_suite(c: &chain::Model) -> Result<govchain_crypto::Suite> {
    crate::domain::parse_suite(&c.suite)
}

/// Records that `k`'s deployment failed, for `error`.
pub(crate) async fn mark_failed(
    db: &impl TransactionTrait,
    k: contract::Model,
    v: contract_version::Model,
    error: &str,
) -> Result<contract::Model> {
    let txn = db.begin().await?;
    let mut vm = v.into_active_model();
    vm.status = Set(VersionStatus::Failed);
    vm.update(&txn).await?;
    let mut km = k.into_active_model();
    km.state = Set(ContractState::Failed);
    km.error = Set(error.to_owned());
    km.updated_at = Set(now_ms());
    let k = km.update(&txn).await?;
    txn.commit().await?;
    Ok(k)
}

/// What a call did.
#[derive(Debug)]
pub struct CallOutcome {
    /// The transaction (none for a read-only call).
    pub tx_id: Option<String>,
    /// Its block.
    pub height: Option<u64>,
    /// Who called: the organization's account, or the zero address for a
    /// read-only call.
    pub caller: String,
    /// `name(type,…)` of the function.
    pub signature: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Why it failed.
    pub message: String,
    /// The raw return data.
    pub output: Vec<u8>,
    /// The decoded return values (empty when it failed).
    pub result: Vec<NamedValue>,
    /// The events it emitted, decoded with the contract's ABI where they
    /// are its own.
    pub events: Vec<DecodedEvent>,
    /// Logs the ABI does not describe.
    pub raw_logs: Vec<EvmLog>,
}

/// Calls `method` of contract `k` with JSON `args`: read-only functions
/// (`view`, `pure`) and `read_only` requests run on a node without a
/// transaction; others are a transaction of the caller's organization.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    state: &AppState,
    c: &chain::Model,
    k: &contract::Model,
    v: &contract_version::Model,
    caller_org: Option<(i64, &str)>,
    method: &str,
    args: &[serde_json::Value],
    read_only: bool,
    gas_limit: u64,
) -> Result<CallOutcome> {
    // A frozen contract's calls go to the chain, which refuses them with
    // its own message.
    if !matches!(k.state, ContractState::Active | ContractState::Frozen) {
        return Err(ApiError::conflict(format!("contract {} is {}, it takes no calls", k.name, k.state)));
    }
    let abi = Abi::parse(&v.abi).map_err(|e| ApiError::internal("reading the stored ABI", e))?;
    let f = abi.function(method).map_err(|e| ApiError::invalid(e.0))?;
    let signature = f.signature();
    let read_only = read_only || Abi::is_read_only(f);
    let input = abi.encode_call(method, args).map_err(|e| ApiError::invalid(e.0))?;
    let address: Address =
        k.address.parse().map_err(|e| ApiError::internal("reading a contract address", e))?;
    let decode = |output: &[u8]| abi.decode_output(method, output).map_err(|e| ApiError::invalid(e.0));
    if read_only {
        let payload = EvmCall { input, gas_limit }.encode();
        let (address, payload) = (&k.address, &payload);
        let answer =
            ask_nodes(
                &state.db,
                c,
                "the query",
                |client| async move { client.query(address, payload).await },
            )
            .await?;
        let (success, message, output) = match answer {
            Ok(json) => {
                let output = json["output"]
                    .as_str()
                    .and_then(|h| hex::decode(h.trim_start_matches("0x")).ok())
                    .ok_or_else(|| node_failed(format!("the node answered the query with {json}")))?;
                (true, String::new(), output)
            }
            // The contract reverted (or the call did not fit it).
            Err(refusal) => (false, refusal.message, Vec::new()),
        };
        return Ok(CallOutcome {
            tx_id: None,
            height: None,
            caller: Address([0; 20]).to_string(),
            signature,
            success,
            message,
            result: if success { decode(&output)? } else { Vec::new() },
            output,
            events: Vec::new(),
            raw_logs: Vec::new(),
        });
    }
    let Some((org_id, org_domain)) = caller_org else {
        return Err(ApiError::forbidden("only the chain's member organizations send transactions to it"));
    };
    require_member(&state.db, c, org_id).await?;
    let wallet = wallet(state, c, org_domain).await?;
    let tx =
        wallet.evm_call(&address, input, gas_limit).map_err(|e| ApiError::internal("signing the call", e))?;
    let r = submit(&state.db, c, &tx).await?;
    let success = r.status == TxStatus::Success;
    let (mut events, mut raw_logs) = (Vec::new(), Vec::new());
    for log in r.events.iter().filter_map(EvmLog::from_event) {
        match (log.address == address.0).then(|| abi.decode_log(&log)).flatten() {
            Some(e) => events.push(e),
            None => raw_logs.push(log),
        }
    }
    Ok(CallOutcome {
        tx_id: Some(r.tx_id.to_string()),
        height: Some(r.height),
        caller: wallet.address().to_string(),
        signature,
        success,
        message: r.message.clone(),
        result: if success { decode(&r.output)? } else { Vec::new() },
        output: r.output,
        events,
        raw_logs,
    })
}

/// The debug trace of transaction `tx` on `c`, recomputed by the first
/// node that answers, decoded with `abi`. Refusals: `not_found` (no such
/// transaction), `trace_diverged` (the re-execution differs from the
/// receipt), `not_traceable` (not an EVM transaction, never executed).
pub async fn trace(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    tx: &govchain_types::Hash,
    abi: Option<&serde_json::Value>,
    step_limit: Option<u64>,
    memory_bytes: Option<usize>,
) -> Result<serde_json::Value> {
    let answer = ask_nodes(db, c, "the trace", |client| async move {
        client.trace(tx, abi, step_limit, memory_bytes).await
    })
    .await?;
    answer.map_err(|Refusal { status, message, .. }| match status {
        404 => ApiError::not_found(message),
        409 => ApiError::new(axum::http::StatusCode::CONFLICT, "trace_diverged", message),
        _ => ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "not_traceable", message),
    })
}

/// Deletes a failed deployment; any other contract is refused.
pub async fn delete(db: &impl TransactionTrait, k: contract::Model) -> Result<()> {
    if k.state != ContractState::Failed {
        return Err(ApiError::conflict(format!(
            "contract {} is {}: only a failed deployment can be deleted",
            k.name, k.state
        )));
    }
    let txn = db.begin().await?;
    contract_version::Entity::delete_many()
        .filter(contract_version::Column::ContractId.eq(k.id))
        .exec(&txn)
        .await?;
    contract::Entity::delete_by_id(k.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Removes every contract of a chain (the chain is being deleted).
pub async fn delete_of_chain(db: &impl ConnectionTrait, chain_id: i64) -> Result<()> {
    let ids: Vec<i64> = list(db, chain_id).await?.into_iter().map(|k| k.id).collect();
    contract_version::Entity::delete_many()
        .filter(contract_version::Column::ContractId.is_in(ids))
        .exec(db)
        .await?;
    contract::Entity::delete_many().filter(contract::Column::ChainId.eq(chain_id)).exec(db).await?;
    Ok(())
}
