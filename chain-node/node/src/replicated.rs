//! The node's link to the other members of its group: the node-to-node
//! listener and client (mutual TLS with node certificates from the chain
//! CA), the [`PeerTransport`] an engine sends through, forwarding of client
//! transactions to the leader, and the membership and policy endpoints
//! (through [`govchain_consensus::Membership`]). Nothing here knows which
//! engine runs: the builder mounts the engine's own peer routes.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use govchain_consensus::{Leader, PeerReply, PeerTransport, TransportError};
use govchain_net::{ChainTrust, HttpsClient, Identity, PeerAware, TlsListener};
use govchain_types::{
    Decode, Encode, Transaction,
    api::{ErrorBody, SubmitMode, SubmitResponse},
};
use serde::Deserialize;
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::{
    Error, Node, Result,
    admin::ConsensusMember,
    config::{Genesis, NodeConfig},
    node::lock,
    rpc::{ApiError, MAX_BODY},
    switch::EngineRoutes,
};

/// Largest reply read from a peer (a batch of blocks for a catching-up
/// member is the largest).
const MAX_PEER_REPLY: usize = 1024 * 1024 * 1024;
/// Content type of the peer protocol's bodies (the types' binary encoding).
const OCTETS: &str = "application/octet-stream";

/// The node's mutual-TLS link to its peers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Peers {
    client: HttpsClient,
    listen: SocketAddr,
    server: Arc<rustls::ServerConfig>,
    /// The listener's task, once serving.
    serving: Arc<Mutex<Option<AbortHandle>>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").field("listen", &self.listen).finish_non_exhaustive()
    }
}

fn config_err(what: &str) -> impl Fn(govchain_net::Error) -> Error + '_ {
    move |e| Error::Config(format!("{what}: {e}"))
}

impl Peers {
    /// The TLS identity from the node key and certificate, trusting the
    /// chain CA of `genesis`; `kind` names the engine in refusals.
    pub(crate) fn new(config: &NodeConfig, genesis: &Genesis, key_pem: &str, kind: &str) -> Result<Peers> {
        let ca = genesis
            .ca
            .as_ref()
            .ok_or_else(|| Error::Config(format!("a {kind} chain needs a CA in its genesis")))?;
        let listen = config
            .p2p_listen
            .ok_or_else(|| Error::Config(format!("a {kind} chain needs p2p_listen in the node config")))?;
        let cert_path = config
            .cert
            .as_ref()
            .ok_or_else(|| Error::Config(format!("a {kind} chain needs cert in the node config")))?;
        let cert_pem = std::fs::read_to_string(cert_path).map_err(|e| {
            Error::Config(format!("cannot read node certificate {}: {e}", cert_path.display()))
        })?;
        let trust = ChainTrust::new(genesis.suite, &ca.root_cert_pem, &ca.operating_cert_pem)
            .map_err(config_err("chain CA"))?;
        let identity =
            Identity::from_pem(key_pem, &cert_pem, &trust).map_err(config_err("node certificate"))?;
        let server =
            Arc::new(govchain_net::server_config(&identity, &trust).map_err(config_err("TLS server"))?);
        // Dial peers from this node's own address, so they (and any firewall
        // between them) see which member calls.
        let client = HttpsClient::from_local(
            govchain_net::client_config(&identity, &trust).map_err(config_err("TLS client"))?,
            listen.ip(),
        );
        Ok(Peers { client, listen, server, serving: Arc::default() })
    }

    /// The transport an engine sends its messages through.
    pub(crate) fn transport(&self) -> Arc<dyn PeerTransport> {
        Arc::new(MtlsTransport { client: self.client.clone() })
    }

    /// Serves the peer endpoints on the mutual-TLS listener: the running
    /// engines' own routes (`/<engine>/...`, swapped at a switch),
    /// forwarded transactions and the admin calls.
    pub(crate) async fn serve(&self, node: Node, engine_routes: EngineRoutes) -> Result<()> {
        let listener = TlsListener::bind(self.listen, (*self.server).clone())
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {} (p2p): {e}", self.listen)))?;
        let node_routes = Router::new()
            .route("/forward", post(forwarded))
            .route("/admin/members", get(members))
            .route("/admin/learner", post(add_learner))
            .route("/admin/promote", post(promote))
            .route("/admin/remove", post(remove))
            .route("/admin/policy", post(set_policy))
            .route("/admin/consensus", post(approve_switch))
            .route("/switch/view", get(switch_view))
            .route("/switch/blocks", get(switch_blocks))
            .with_state(node);
        let router = node_routes
            .merge(crate::logs::routes())
            .fallback(move |request: axum::extract::Request| engine_routes.clone().serve(request));
        info!(target: "govchain::node", addr = %self.listen, "peer listener (mutual TLS) started");
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, PeerAware::new(router)).await {
                warn!(target: "govchain::node", error = %e, "peer listener stopped");
            }
        });
        *lock(&self.serving) = Some(task.abort_handle());
        Ok(())
    }

    /// GETs `path` from the member at `addr` (its peer listener).
    pub(crate) async fn fetch(&self, addr: &str, path: &str) -> Result<Vec<u8>> {
        let url = format!("https://{addr}{path}");
        let reply = self
            .client
            .exchange(Method::GET, &url, OCTETS, Body::empty(), None, MAX_PEER_REPLY)
            .await
            .map_err(|e| Error::Internal(format!("{url}: {e}")))?;
        if !reply.status.is_success() {
            return Err(Error::Internal(format!("{url}: {}: {}", reply.status, reply.excerpt(200))));
        }
        Ok(reply.body.to_vec())
    }

    /// Stops the peer listener.
    pub(crate) fn stop(&self) {
        if let Some(task) = lock(&self.serving).take() {
            task.abort();
        }
    }

    /// Hands a verified transaction to `leader` and returns its answer.
    pub(crate) async fn forward(
        &self,
        leader: Option<Leader>,
        tx: &Transaction,
        mode: SubmitMode,
    ) -> Result<SubmitResponse> {
        let unknown = || Error::Consensus(govchain_consensus::Error::NotLeader { leader: None });
        let leader = leader.ok_or_else(unknown)?;
        let addr = leader.addr.clone().ok_or_else(unknown)?;
        let mode = match mode {
            SubmitMode::Sync => "sync",
            SubmitMode::Async => "async",
        };
        let unreachable = |e: String| Error::Forwarded {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            code: "leader_unreachable".into(),
            message: format!("cannot reach the leader {}: {e}", leader.name),
        };
        let url = format!("https://{addr}/forward?mode={mode}");
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
    id: u64,
}

fn admin_error(e: govchain_consensus::Error) -> Response {
    use govchain_consensus::Error as C;
    match e {
        C::NotLeader { leader } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_leader",
            format!("not the leader; ask {}", leader.as_deref().unwrap_or("the leader")),
        )
        .into_response(),
        e @ (C::Membership(_) | C::InvalidPolicy(_)) => {
            ApiError::bad_request("membership", e.to_string()).into_response()
        }
        e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "consensus", e.to_string()).into_response(),
    }
}

/// The answer of an engine without the membership capability.
fn no_membership() -> Response {
    ApiError::bad_request("membership", "this chain's consensus group does not change").into_response()
}

async fn members(State(node): State<Node>) -> Response {
    let Some(m) = node.consensus().membership() else {
        return no_membership();
    };
    let members: Vec<ConsensusMember> = m
        .members()
        .into_iter()
        .map(|m| ConsensusMember {
            id: m.id,
            name: m.name,
            addr: m.addr,
            role: if m.voter { "voter" } else { "learner" }.into(),
            public_key: String::new(),
        })
        .collect();
    Json(members).into_response()
}

async fn add_learner(State(node): State<Node>, Json(m): Json<ConsensusMember>) -> Response {
    if m.id == 0 || m.name.is_empty() || m.addr.is_empty() {
        return ApiError::bad_request("membership", "id (above 0), name and addr are required")
            .into_response();
    }
    let Ok(public_key) = hex::decode(m.public_key.trim_start_matches("0x")) else {
        return ApiError::bad_request("membership", "public_key must be hex (SEC1 in the chain's suite)")
            .into_response();
    };
    let Some(g) = node.consensus().membership() else {
        return no_membership();
    };
    let what = format!("learner {} ({}, {}) added", m.id, m.name, m.addr);
    changed(&what, g.add_learner(m.id, m.name, m.addr, public_key).await)
}

async fn promote(State(node): State<Node>, Json(b): Json<IdBody>) -> Response {
    let Some(g) = node.consensus().membership() else {
        return no_membership();
    };
    changed(&format!("member {} promoted to voter", b.id), g.promote(b.id).await)
}

async fn remove(State(node): State<Node>, Json(b): Json<IdBody>) -> Response {
    let Some(g) = node.consensus().membership() else {
        return no_membership();
    };
    changed(&format!("member {} removed", b.id), g.remove(b.id).await)
}

async fn set_policy(State(node): State<Node>, Json(p): Json<govchain_consensus::BlockPolicy>) -> Response {
    let Some(g) = node.consensus().membership() else {
        return no_membership();
    };
    let what = format!("block policy set: {p:?}");
    changed(&what, g.set_block_policy(p).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    consensus: govchain_consensus::ConsensusKind,
}

/// This member's approval of a switch of the chain's engine (SPEC CON-4):
/// the receipt of its approval transaction (200), or why it was refused.
async fn approve_switch(State(node): State<Node>, Json(b): Json<SwitchBody>) -> Response {
    let what = format!("switch to {} approved", b.consensus);
    match node.approve_switch(b.consensus).await {
        Ok(r) if r.receipt.as_ref().is_some_and(|r| r.status != govchain_types::TxStatus::Success) => {
            let why = r.receipt.map(|r| r.message).unwrap_or_default();
            warn!(target: crate::logs::SYSTEM, change = what, error = %why, "configuration change refused");
            ApiError::bad_request("switch", why).into_response()
        }
        Ok(r) => {
            info!(target: crate::logs::SYSTEM, change = what, "configuration change");
            (StatusCode::OK, Json(r)).into_response()
        }
        Err(crate::Error::Consensus(e)) => {
            warn!(target: crate::logs::SYSTEM, change = what, error = %e, "configuration change refused");
            admin_error(e)
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// This node's last switch of engines, for a member that may
/// have missed a switch.
async fn switch_view(State(node): State<Node>) -> Response {
    match crate::switch::record(node.ledger()) {
        Ok(record) => Json(crate::switch::SwitchView { record }).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct FromHeight {
    from: u64,
}

/// Blocks from `from` on (at most [`crate::switch::BLOCKS_PER_FETCH`], and
/// 64 MiB), for a member catching up to a switch it missed.
async fn switch_blocks(State(node): State<Node>, Query(q): Query<FromHeight>) -> Response {
    let read = tokio::task::spawn_blocking(move || {
        let mut answer = crate::switch::SwitchBlocks::default();
        let mut size = 0;
        for h in q.from.. {
            if answer.blocks.len() >= crate::switch::BLOCKS_PER_FETCH || size > 64 << 20 {
                break;
            }
            let Some(bytes) = node.ledger().block_bytes(h)? else { break };
            size += bytes.len();
            answer.blocks.push(govchain_types::HexValue(bytes));
        }
        Ok::<_, crate::Error>(answer)
    })
    .await;
    match read {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::from(crate::Error::Internal(e.to_string())).into_response(),
    }
}

/// The answer of a membership or policy change, logged as a `system` event.
fn changed(what: &str, result: govchain_consensus::Result<()>) -> Response {
    match &result {
        Ok(()) => info!(target: crate::logs::SYSTEM, change = what, "configuration changed"),
        Err(e) => {
            warn!(target: crate::logs::SYSTEM, change = what, error = %e, "configuration change refused")
        }
    }
    admin_answer(result)
}

fn admin_answer(result: govchain_consensus::Result<()>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_error(e),
    }
}

/// An engine's peer messages over HTTPS with the node certificate.
struct MtlsTransport {
    client: HttpsClient,
}

impl PeerTransport for MtlsTransport {
    fn send<'a>(&'a self, target: u64, addr: &'a str, path: &'a str, body: Vec<u8>) -> PeerReply<'a> {
        Box::pin(async move {
            let url = format!("https://{addr}/{path}");
            let reply = self
                .client
                .exchange(Method::POST, &url, OCTETS, Body::from(body), None, MAX_PEER_REPLY)
                .await
                .map_err(|e| match e {
                    govchain_net::Error::Http(_) | govchain_net::Error::Timeout(_) => {
                        TransportError::Unreachable { target, reason: e.to_string() }
                    }
                    _ => TransportError::Rpc { target, reason: e.to_string() },
                })?;
            if !reply.status.is_success() {
                let reason = format!("{}: {}", reply.status, reply.excerpt(200));
                return Err(TransportError::Rpc { target, reason });
            }
            Ok(reply.body.to_vec())
        })
    }
}
