//! Client of the govchain node API for business systems, the CLI and tests:
//! build and sign transactions ([`Wallet`]), submit them synchronously or
//! asynchronously, query blocks, transactions and state, and subscribe to
//! blocks, receipts and events ([`Client::subscribe`]).
//!
//! A busy node refuses a submission with HTTP 503 `overloaded` and a
//! `Retry-After`; that is [`Error::Overloaded`], and
//! [`Client::submit_retrying`] waits as told and tries again, a bounded
//! number of times.
//!
//! Not for: the control-plane API (tenants, approvals), which has its own
//! client.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use govchain_crypto::{Address, PrivateKey, Suite};
use govchain_types::{
    Encode, Hash, HistoryEntry, Receipt, Signer, Transaction, TxBody, TxType,
    api::{
        BlockRecord, BlockSummary, ErrorBody, Height, NodeStatus, StateValue, SubmitMode, SubmitResponse,
        Subscription, TxProof, TxRecord, WsMessage,
    },
    now_ms,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached or the connection broke.
    #[error("cannot reach node: {0}")]
    Http(#[from] reqwest::Error),
    /// The node answered with an error.
    #[error("node refused ({status}): {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The node's error code.
        code: String,
        /// The node's message.
        message: String,
    },
    /// The node is busy (HTTP 503, code `overloaded`): the transaction was
    /// not admitted; submit it again after `retry_after`.
    #[error("node overloaded (retry after {}): {message}", wait_text(.retry_after))]
    Overloaded {
        /// The node's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// The node's message.
        message: String,
    },
    /// The node's answer was not what the API promises.
    #[error("unexpected answer from node: {0}")]
    Decode(String),
    /// The base URL is not http(s).
    #[error("invalid node URL `{0}` (expected http://host:port)")]
    BadUrl(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] govchain_types::Error),
    /// The WebSocket failed.
    #[error("subscription: {0}")]
    WebSocket(String),
}

impl Error {
    /// Whether the node was too busy to take the request; sending it again
    /// later may succeed.
    pub fn is_overloaded(&self) -> bool {
        matches!(self, Error::Overloaded { .. })
    }

    /// How long the node asked to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn wait_text(wait: &Option<Duration>) -> String {
    wait.map_or_else(|| "a moment".to_owned(), |d| format!("{} s", d.as_secs()))
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How [`Client::submit_retrying`] retries a submission a busy node refused.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Retries after the first attempt (0: never retry).
    pub retries: u32,
    /// Wait when the node sent no `Retry-After`.
    pub default_wait: Duration,
    /// Longest wait, whatever the node asks.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { retries: 3, default_wait: Duration::from_secs(1), max_wait: Duration::from_secs(30) }
    }
}

impl Retry {
    /// The wait before retrying after `e`.
    pub fn wait(&self, e: &Error) -> Duration {
        e.retry_after().unwrap_or(self.default_wait).min(self.max_wait)
    }
}

/// A submission that was admitted, possibly after refusals.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The node's answer to the attempt it admitted.
    pub response: SubmitResponse,
    /// How many attempts the node refused as overloaded before that.
    pub refusals: u32,
}

/// The most of a 503 body kept in an error.
const MAX_ERROR_TEXT: usize = 500;

/// A connection to one node's API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the node at `base_url` (e.g. `http://127.0.0.1:8600`).
    pub fn new(base_url: &str) -> Result<Client> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::BadUrl(base_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::Http)?;
        Ok(Client { base, http })
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await?;
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(body) = serde_json::from_slice::<ErrorBody>(&bytes)
            && body.code == "overloaded"
        {
            return Err(Error::Overloaded { retry_after, message: body.message });
        }
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Error::Api { status: status.as_u16(), code: body.code, message: body.message },
                Err(_) => Error::Api {
                    status: status.as_u16(),
                    code: "http".into(),
                    message: String::from_utf8_lossy(&bytes).chars().take(MAX_ERROR_TEXT).collect(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        Self::read(self.http.get(format!("{}{path}", self.base)).send().await?).await
    }

    async fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(Error::Api { status, .. }) if status == StatusCode::NOT_FOUND.as_u16() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus> {
        self.get("/v1/status").await
    }

    /// The committed height.
    pub async fn height(&self) -> Result<u64> {
        Ok(self.get::<Height>("/v1/height").await?.height)
    }

    /// Submits a transaction in its canonical encoding.
    pub async fn submit(&self, tx: &Transaction, mode: SubmitMode) -> Result<SubmitResponse> {
        let mode = match mode {
            SubmitMode::Sync => "sync",
            SubmitMode::Async => "async",
        };
        let resp = self
            .http
            .post(format!("{}/v1/transactions?mode={mode}", self.base))
            .header("content-type", "application/octet-stream")
            .body(tx.encode())
            .send()
            .await?;
        Self::read(resp).await
    }

    /// Submits like [`Client::submit`]; when the node is overloaded, waits
    /// as it asks (bounded by `retry`) and tries again, at most
    /// `retry.retries` times. The last refusal is returned as
    /// [`Error::Overloaded`] once the retries are spent.
    pub async fn submit_retrying(
        &self,
        tx: &Transaction,
        mode: SubmitMode,
        retry: Retry,
    ) -> Result<Submitted> {
        let mut refusals = 0;
        loop {
            match self.submit(tx, mode).await {
                Ok(response) => return Ok(Submitted { response, refusals }),
                Err(e) if e.is_overloaded() && refusals < retry.retries => {
                    refusals += 1;
                    tokio::time::sleep(retry.wait(&e)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A committed transaction with its receipt.
    pub async fn transaction(&self, id: &Hash) -> Result<Option<TxRecord>> {
        self.get_opt(&format!("/v1/transactions/{id}")).await
    }

    /// A committed transaction's receipt.
    pub async fn receipt(&self, id: &Hash) -> Result<Option<Receipt>> {
        self.get_opt(&format!("/v1/transactions/{id}/receipt")).await
    }

    /// Merkle inclusion proof of a committed transaction.
    pub async fn proof(&self, id: &Hash) -> Result<Option<TxProof>> {
        self.get_opt(&format!("/v1/transactions/{id}/proof")).await
    }

    /// The headers of the latest blocks (below height `before`, when
    /// given), newest first, at most `limit` (the node caps it at 100).
    pub async fn blocks(&self, before: Option<u64>, limit: usize) -> Result<Vec<BlockSummary>> {
        let before = before.map(|b| format!("&before={b}")).unwrap_or_default();
        self.get(&format!("/v1/blocks?limit={limit}{before}")).await
    }

    /// A block by height, id, or `latest`.
    pub async fn block(&self, at: &str) -> Result<Option<BlockRecord>> {
        self.get_opt(&format!("/v1/blocks/{at}")).await
    }

    /// A data-contract key's current value.
    pub async fn data_value(&self, key: &[u8]) -> Result<StateValue> {
        self.get(&format!("/v1/data/{}?key_encoding=hex", hex::encode(key))).await
    }

    /// A data-contract key's history, newest first.
    pub async fn data_history(&self, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        self.get(&format!("/v1/data/{}/history?key_encoding=hex&limit={limit}", hex::encode(key))).await
    }

    /// A raw storage key's current value in a contract's state.
    pub async fn state(&self, contract: &str, key: &[u8]) -> Result<StateValue> {
        self.get(&format!("/v1/state/{contract}/{}?key_encoding=hex", hex::encode(key))).await
    }

    /// A key's history, newest first.
    pub async fn history(&self, contract: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>> {
        self.get(&format!("/v1/state/{contract}/{}/history?key_encoding=hex&limit={limit}", hex::encode(key)))
            .await
    }

    /// Runs a call read-only (no transaction) and returns its JSON result.
    pub async fn query(&self, contract: &str, payload: &[u8]) -> Result<serde_json::Value> {
        let resp = self
            .http
            .post(format!("{}/v1/query/{contract}", self.base))
            .header("content-type", "application/octet-stream")
            .body(payload.to_vec())
            .send()
            .await?;
        Self::read(resp).await
    }

    /// The debug trace of EVM transaction `id`, recomputed by the node
    /// (`POST /v1/transactions/{id}/trace`): decoded with `abi` when given;
    /// `step_limit` and `memory_bytes` bound the recording.
    pub async fn trace(
        &self,
        id: &Hash,
        abi: Option<&serde_json::Value>,
        step_limit: Option<u64>,
        memory_bytes: Option<usize>,
    ) -> Result<serde_json::Value> {
        let body = serde_json::json!({"abi": abi, "step_limit": step_limit, "memory_bytes": memory_bytes});
        let resp =
            self.http.post(format!("{}/v1/transactions/{id}/trace", self.base)).json(&body).send().await?;
        Self::read(resp).await
    }

    /// Opens a WebSocket and subscribes; read messages with
    /// [`Subscriber::next`].
    pub async fn subscribe(&self, subscriptions: &[Subscription]) -> Result<Subscriber> {
        let url = format!("ws{}/v1/ws", self.base.strip_prefix("http").unwrap_or(&self.base));
        let (mut ws, _) =
            tokio_tungstenite::connect_async(url).await.map_err(|e| Error::WebSocket(e.to_string()))?;
        for sub in subscriptions {
            let text = serde_json::to_string(sub).map_err(|e| Error::Decode(e.to_string()))?;
            ws.send(Message::Text(text.into())).await.map_err(|e| Error::WebSocket(e.to_string()))?;
        }
        let mut subscriber = Subscriber { ws };
        for _ in subscriptions {
            match subscriber.next().await? {
                Some(WsMessage::Subscribed { .. }) => {}
                Some(WsMessage::Error { message }) => return Err(Error::WebSocket(message)),
                other => return Err(Error::WebSocket(format!("expected a confirmation, got {other:?}"))),
            }
        }
        Ok(subscriber)
    }
}

/// An open subscription.
#[derive(Debug)]
pub struct Subscriber {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Subscriber {
    /// The next message; `None` when the node closed the connection.
    pub async fn next(&mut self) -> Result<Option<WsMessage>> {
        while let Some(msg) = self.ws.next().await {
            match msg.map_err(|e| Error::WebSocket(e.to_string()))? {
                Message::Text(text) => {
                    return serde_json::from_str(&text).map(Some).map_err(|e| Error::Decode(e.to_string()));
                }
                Message::Close(_) => return Ok(None),
                _ => continue,
            }
        }
        Ok(None)
    }
}

/// A signing identity on one chain: makes transactions with fresh nonces.
///
/// With a certificate from the chain's CA ([`Wallet::with_certificate`]) its
/// transactions act for the certificate's organization (`O`); without one the
/// wallet's key is an organization of its own, named by its address.
#[derive(Debug)]
pub struct Wallet {
    key: PrivateKey,
    chain_id: String,
    nonce: AtomicU64,
    certificate: Option<Vec<u8>>,
}

impl Wallet {
    /// A wallet for `chain_id`; nonces start from the clock so restarts do
    /// not repeat them.
    pub fn new(key: PrivateKey, chain_id: impl Into<String>) -> Wallet {
        let start = now_ms().saturating_mul(1000);
        Wallet { key, chain_id: chain_id.into(), nonce: AtomicU64::new(start), certificate: None }
    }

    /// The same wallet, attaching `der` (an X.509 certificate for this
    /// wallet's key, DER) to every transaction it signs. The node checks it
    /// against the chain's CA and refuses the transaction (`bad_certificate`)
    /// if it does not verify or certifies another key.
    pub fn with_certificate(mut self, der: Vec<u8>) -> Wallet {
        self.certificate = Some(der);
        self
    }

    /// The certificate attached to this wallet's transactions (DER).
    pub fn certificate(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// The chain's suite (the key's).
    pub fn suite(&self) -> Suite {
        self.key.suite()
    }

    /// The wallet's address.
    pub fn address(&self) -> Address {
        self.key.public_key().address()
    }

    /// A signed call of native contract `contract` with `payload`.
    pub fn invoke(&self, contract: &str, payload: Vec<u8>, memo: &str) -> Result<Transaction> {
        self.sign(TxType::Invoke, contract.to_owned(), payload, memo)
    }

    /// A signed deployment of an EVM contract: `code` is the creation code
    /// (constructor arguments appended), `gas_limit` at most the chain's
    /// per-transaction maximum.
    pub fn evm_create(&self, code: Vec<u8>, gas_limit: u64) -> Result<Transaction> {
        let payload = govchain_execution::EvmCreate { code, gas_limit }.encode();
        self.sign(TxType::EvmCreate, String::new(), payload, "")
    }

    /// A signed call of the EVM contract at `contract` with ABI-encoded
    /// `input`.
    pub fn evm_call(&self, contract: &Address, input: Vec<u8>, gas_limit: u64) -> Result<Transaction> {
        let payload = govchain_execution::EvmCall { input, gas_limit }.encode();
        self.sign(TxType::EvmCall, contract.to_string(), payload, "")
    }

    fn sign(&self, tx_type: TxType, recipient: String, data: Vec<u8>, memo: &str) -> Result<Transaction> {
        let body = TxBody {
            chain_id: self.chain_id.clone(),
            tx_type,
            timestamp_ms: now_ms(),
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            sender: self.address(),
            recipient,
            data,
            memo: memo.to_owned(),
            // Filled here rather than by `sign`, which would leave the
            // certificate out.
            signers: vec![Signer {
                public_key: self.key.public_key().to_sec1(),
                certificate: self.certificate.clone(),
            }],
        };
        Ok(body.sign(&[&self.key])?)
    }

    /// A signed call of the data contract.
    pub fn data_call(&self, call: &govchain_execution::DataCall) -> Result<Transaction> {
        self.invoke(govchain_execution::DATA_CONTRACT, call.encode(), "")
    }
}
