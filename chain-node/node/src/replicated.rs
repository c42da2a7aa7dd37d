//! Replicated chains: the Raft engine, the node-to-node listener and client
//! (mutual TLS with node certificates from the chain CA), and forwarding of
//! client transactions to the leader.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use govchain_consensus::Role;
use govchain_crypto::PrivateKey;
use govchain_net::{ChainTrust, HttpsClient, Identity, PeerAware, TlsListener};
use govchain_raft::{BlockStore, BoxFuture, NodeId, RaftConfig, RaftEngine, RaftTransport};
use govchain_types::{
    Decode, Encode, Transaction,
    api::{ErrorBody, SubmitMode, SubmitResponse},
};
use serde::Deserialize;
use tracing::{info, warn};

use crate::{
    Error, Node, Result,
    admin::ConsensusMember,
    config::{Genesis, NodeConfig},
    rpc::{ApiError, MAX_BODY},
};

/// Largest reply read from a peer (a batch of blocks for a catching-up
/// member is the largest).
const MAX_PEER_REPLY: usize = 1024 * 1024 * 1024;
/// Content type of the peer protocol's bodies (the types' binary encoding).
const OCTETS: &str = "application/octet-stream";

/// The Raft side of a node.
#[derive(Clone)]
pub(crate) struct Replicated {
    /// The engine (also the node's `Consensus`).
    pub(crate) engine: RaftEngine,
    client: HttpsClient,
    listen: SocketAddr,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Replicated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicated").field("listen", &self.listen).finish_non_exhaustive()
    }
}

fn config_err(what: &str) -> impl Fn(govchain_net::Error) -> Error + '_ {
    move |e| Error::Config(format!("{what}: {e}"))
}

impl Replicated {
    /// Builds the TLS identity from the node key and certificate, starts the
    /// engine over `store`, and bootstraps a new chain from its genesis
    /// members (the lowest id does it; it is a no-op on later starts).
    pub(crate) async fn start(
        config: &NodeConfig,
        genesis: &Genesis,
        key: &PrivateKey,
        store: Arc<dyn BlockStore>,
    ) -> Result<Replicated> {
        let ca = genesis
            .ca
            .as_ref()
            .ok_or_else(|| Error::Config("a raft chain needs a CA in its genesis".into()))?;
        let listen = config
            .p2p_listen
            .ok_or_else(|| Error::Config("a raft chain needs p2p_listen in the node config".into()))?;
        let cert_path = config
            .cert
            .as_ref()
            .ok_or_else(|| Error::Config("a raft chain needs cert in the node config".into()))?;
        let cert_pem = std::fs::read_to_string(cert_path).map_err(|e| {
            Error::Config(format!("cannot read node certificate {}: {e}", cert_path.display()))
        })?;
        let key_pem = key.to_pkcs8_pem().map_err(|e| Error::Internal(format!("node key: {e}")))?;
        let trust = ChainTrust::new(genesis.suite, &ca.root_cert_pem, &ca.operating_cert_pem)
            .map_err(config_err("chain CA"))?;
        let identity =
            Identity::from_pem(&key_pem, &cert_pem, &trust).map_err(config_err("node certificate"))?;
        let server =
            Arc::new(govchain_net::server_config(&identity, &trust).map_err(config_err("TLS server"))?);
        // Dial peers from this node's own address, so they (and any firewall
        // between them) see which member calls.
        let client = HttpsClient::from_local(
            govchain_net::client_config(&identity, &trust).map_err(config_err("TLS client"))?,
            listen.ip(),
        );

        let member = genesis.member(&config.node_id);
        let id: NodeId = match (member, config.consensus_id) {
            (Some(m), None) => m.id,
            (Some(m), Some(id)) if m.id == id => id,
            (Some(m), Some(id)) => {
                return Err(Error::Config(format!(
                    "consensus_id {id} differs from the genesis member `{}` ({})",
                    m.name, m.id
                )));
            }
            (None, Some(id)) => id,
            (None, None) => {
                return Err(Error::Config(format!(
                    "node `{}` is not a genesis member; a joining node needs consensus_id",
                    config.node_id
                )));
            }
        };
        let addr = member.map_or_else(|| listen.to_string(), |m| m.p2p.clone());
        let mut raft = RaftConfig::new(
            id,
            govchain_raft::Node::new(addr, &config.node_id),
            config.data_dir.join("raft"),
        );
        raft.block_policy = genesis.block_policy.clone();
        raft.queue_capacity = config.mempool_capacity;
        let transport = Arc::new(MtlsTransport { client: client.clone() });
        let engine = RaftEngine::start(raft, store, transport)
            .await
            .map_err(|e| Error::Config(format!("starting raft: {e}")))?;
        let lowest = genesis.members.iter().map(|m| m.id).min();
        if member.is_some() && lowest == Some(id) {
            let members: BTreeMap<NodeId, govchain_raft::Node> = genesis
                .members
                .iter()
                .map(|m| (m.id, govchain_raft::Node::new(m.p2p.clone(), m.name.clone())))
                .collect();
            engine
                .initialize(members)
                .await
                .map_err(|e| Error::Config(format!("bootstrapping raft: {e}")))?;
        }
        Ok(Replicated { engine, client, listen, server })
    }

    /// Whether this node leads now.
    pub(crate) fn is_leader(&self) -> bool {
        self.engine.role() == Role::Leader
    }

    /// Serves the peer endpoints (Raft RPCs and forwarded transactions) on
    /// the mutual-TLS listener.
    pub(crate) async fn serve_peers(&self, node: Node) -> Result<()> {
        let listener = TlsListener::bind(self.listen, (*self.server).clone())
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {} (p2p): {e}", self.listen)))?;
        let admin = Router::new()
            .route("/admin/members", get(members))
            .route("/admin/learner", post(add_learner))
            .route("/admin/promote", post(promote))
            .route("/admin/remove", post(remove))
            .route("/admin/policy", post(set_policy))
            .with_state(self.engine.clone());
        let router = govchain_raft::http::router(self.engine.clone())
            .merge(Router::new().route("/forward", post(forwarded)).with_state(node))
            .merge(admin);
        info!(target: "govchain::node", addr = %self.listen, "peer listener (mutual TLS) started");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, PeerAware::new(router)).await {
                warn!(target: "govchain::node", error = %e, "peer listener stopped");
            }
        });
        Ok(())
    }

    /// Hands a verified transaction to the leader and returns its answer.
    pub(crate) async fn forward(&self, tx: &Transaction, mode: SubmitMode) -> Result<SubmitResponse> {
        let unknown = || Error::Consensus(govchain_consensus::Error::NotLeader { leader: None });
        let (_, leader) = self.engine.leader().ok_or_else(unknown)?;
        let leader = leader.ok_or_else(unknown)?;
        let mode = match mode {
            SubmitMode::Sync => "sync",
            SubmitMode::Async => "async",
        };
        let unreachable = |e: String| Error::Forwarded {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            code: "leader_unreachable".into(),
            message: format!("cannot reach the leader {}: {e}", leader.name),
        };
        let url = format!("https://{}/forward?mode={mode}", leader.addr);
        let reply = match self
            .client
            .exchange(Method::POST, &url, OCTETS, Body::from(tx.encode()), None, MAX_PEER_REPLY)
            .await
        {
            Ok(reply) => reply,
            Err(e @ govchain_net::Error::Address(_)) => {
                return Err(Error::Internal(format!("forward request: {e}")));
            }
            Err(e) => return Err(unreachable(e.to_string())),
        };
        let (status, body) = (reply.status, reply.body);
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Error::Internal(format!("leader's answer: {e}")));
        }
        let body: ErrorBody = serde_json::from_slice(&body).unwrap_or_else(|_| ErrorBody {
            code: "forwarded".into(),
            message: String::from_utf8_lossy(&body).into(),
        });
        Err(Error::Forwarded { status: status.as_u16(), code: body.code, message: body.message })
    }
}

#[derive(Deserialize)]
struct ForwardParams {
    #[serde(default)]
    mode: SubmitMode,
}

/// A transaction another member forwarded: admitted here like any other
/// (verified again: the link authenticates the node, not the transaction).
async fn forwarded(State(node): State<Node>, Query(params): Query<ForwardParams>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_body", "transaction too large")
            .into_response();
    }
    let tx = match Transaction::decode(&body) {
        Ok(tx) => tx,
        Err(e) => return ApiError::bad_request("invalid_transaction", e.to_string()).into_response(),
    };
    match node.submit(tx, params.mode).await {
        Ok(r) => (StatusCode::OK, Json(r)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- membership and configuration (SPEC CON-2, LED-5, PRV-5) ----------
//
// Served only on the peer listener: the caller must present a node
// certificate of this chain (the chain's operator holds one). A follower
// answers 503 `not_leader` naming the leader.

#[derive(Deserialize)]
struct IdBody {
    id: NodeId,
}

fn admin_error(e: govchain_raft::Error) -> Response {
    match e {
        govchain_raft::Error::NotLeader { leader, .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_leader",
            format!("not the leader; ask {}", leader.map_or_else(|| "the leader".to_owned(), |l| l.name)),
        )
        .into_response(),
        e @ (govchain_raft::Error::Membership(_) | govchain_raft::Error::Consensus(_)) => {
            ApiError::bad_request("membership", e.to_string()).into_response()
        }
        e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "consensus", e.to_string()).into_response(),
    }
}

async fn members(State(engine): State<RaftEngine>) -> Json<Vec<ConsensusMember>> {
    let m = engine.members();
    Json(
        m.nodes
            .iter()
            .map(|(id, n)| ConsensusMember {
                id: *id,
                name: n.name.clone(),
                addr: n.addr.clone(),
                role: if m.voters.contains(id) { "voter" } else { "learner" }.into(),
            })
            .collect(),
    )
}

async fn add_learner(State(engine): State<RaftEngine>, Json(m): Json<ConsensusMember>) -> Response {
    if m.id == 0 || m.name.is_empty() || m.addr.is_empty() {
        return ApiError::bad_request("membership", "id (above 0), name and addr are required")
            .into_response();
    }
    match engine.add_learner(m.id, govchain_raft::Node::new(m.addr, m.name)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(e),
    }
}

async fn promote(State(engine): State<RaftEngine>, Json(b): Json<IdBody>) -> Response {
    match engine.promote(b.id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(e),
    }
}

async fn remove(State(engine): State<RaftEngine>, Json(b): Json<IdBody>) -> Response {
    match engine.remove_node(b.id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(e),
    }
}

async fn set_policy(
    State(engine): State<RaftEngine>,
    Json(p): Json<govchain_consensus::BlockPolicy>,
) -> Response {
    match engine.set_block_policy(p).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(e),
    }
}

/// Raft RPCs over HTTPS with the node certificate.
struct MtlsTransport {
    client: HttpsClient,
}

impl RaftTransport for MtlsTransport {
    fn send<'a>(
        &'a self,
        target: NodeId,
        addr: &'a str,
        path: &'a str,
        body: Vec<u8>,
    ) -> BoxFuture<'a, govchain_raft::Result<Vec<u8>>> {
        Box::pin(async move {
            let url = format!("https://{addr}/{path}");
            let reply = self
                .client
                .exchange(Method::POST, &url, OCTETS, Body::from(body), None, MAX_PEER_REPLY)
                .await
                .map_err(|e| match e {
                    govchain_net::Error::Http(_) | govchain_net::Error::Timeout(_) => {
                        govchain_raft::Error::Unreachable { target, reason: e.to_string() }
                    }
                    _ => govchain_raft::Error::Rpc { target, reason: e.to_string() },
                })?;
            if !reply.status.is_success() {
                let reason = format!("{}: {}", reply.status, reply.excerpt(200));
                return Err(govchain_raft::Error::Rpc { target, reason });
            }
            Ok(reply.body.to_vec())
        })
    }
}
