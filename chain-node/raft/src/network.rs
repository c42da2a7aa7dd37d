//! Raft RPCs over a transport the node chooses.
//!
//! openraft's requests are serialized with postcard and sent through
//! [`PeerTransport::send`] to a path of [`paths`]; the receiving node passes
//! the path and body to [`crate::RaftEngine::handle_rpc`] and returns its
//! bytes. The reply carries openraft's own result (a remote Raft error
//! travels back as such). The same channel serves the blocks a member
//! fetches to catch up to a snapshot.

use std::{sync::Arc, time::Duration};

use govchain_consensus::{PeerTransport, TransportError};

use openraft::{
    RaftNetwork, RaftNetworkFactory, Snapshot, SnapshotMeta, Vote,
    error::{
        Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError, Timeout,
        Unreachable,
    },
    network::{RPCOption, RPCTypes},
    raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Error, Node, NodeId, Result, state_machine::LedgerSnapshot, types::TypeConfig};

/// The paths of the Raft RPCs, relative to the peer's root.
pub mod paths {
    /// Log replication and heartbeats.
    pub const APPEND: &str = "raft/append";
    /// Leader election.
    pub const VOTE: &str = "raft/vote";
    /// A whole snapshot (a few hundred bytes: see the state machine).
    pub const SNAPSHOT: &str = "raft/snapshot";
    /// Encoded blocks for a member catching up to a snapshot.
    pub const BLOCKS: &str = "raft/blocks";
    /// Every path, for routers.
    pub const ALL: [&str; 4] = [APPEND, VOTE, SNAPSHOT, BLOCKS];
}

/// Body of a [`paths::BLOCKS`] request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct BlocksRequest {
    pub(crate) from: u64,
    pub(crate) to: u64,
}

/// Most bytes of blocks in one [`paths::BLOCKS`] reply (at least one block
/// is always sent).
pub(crate) const BLOCKS_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// Most blocks in one [`paths::BLOCKS`] reply.
pub(crate) const BLOCKS_REPLY_COUNT: u64 = 256;

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| Error::Decode { what: "raft message", reason: e.to_string() })
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode { what, reason: e.to_string() })
}

/// Asks `peer` for the encoded blocks `from..=to` (it may send fewer).
pub(crate) async fn fetch_blocks(
    transport: &dyn PeerTransport,
    peer: NodeId,
    node: &Node,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>> {
    let body = encode(&BlocksRequest { from, to })?;
    let reply = transport.send(peer, &node.addr, paths::BLOCKS, body).await.map_err(Error::from)?;
    decode::<Result<Vec<Vec<u8>>, String>>("blocks reply", &reply)?
        .map_err(|reason| Error::Rpc { target: peer, reason })
}

/// Makes openraft's per-peer clients.
pub(crate) struct NetworkFactory {
    pub(crate) id: NodeId,
    pub(crate) transport: Arc<dyn PeerTransport>,
    pub(crate) snapshot_timeout: Duration,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Connection {
        Connection {
            id: self.id,
            target,
            node: node.clone(),
            transport: self.transport.clone(),
            snapshot_timeout: self.snapshot_timeout,
        }
    }
}

/// openraft's client for one peer.
pub(crate) struct Connection {
    id: NodeId,
    target: NodeId,
    node: Node,
    transport: Arc<dyn PeerTransport>,
    snapshot_timeout: Duration,
}

/// Why a call did not produce a reply.
enum CallError {
    Timeout(Duration),
    Unreachable(Error),
    Network(Error),
}

impl Connection {
    async fn call<Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        ttl: Duration,
    ) -> Result<Resp, CallError> {
        let send = self.transport.send(self.target, &self.node.addr, path, body);
        let reply = match tokio::time::timeout(ttl, send).await {
            Err(_) => return Err(CallError::Timeout(ttl)),
            Ok(Err(e @ TransportError::Unreachable { .. })) => return Err(CallError::Unreachable(e.into())),
            Ok(Err(e)) => return Err(CallError::Network(e.into())),
            Ok(Ok(reply)) => reply,
        };
        decode("raft reply", &reply).map_err(CallError::Network)
    }

    /// One Raft RPC whose remote answer is `Result<Resp, RaftError>`.
    async fn raft_rpc<Req: Serialize, Resp>(
        &self,
        path: &str,
        action: RPCTypes,
        rpc: &Req,
        option: RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId>>>
    where
        Result<Resp, RaftError<NodeId>>: DeserializeOwned,
    {
        let body = encode(rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply: Result<Resp, RaftError<NodeId>> =
            self.call(path, body, option.hard_ttl()).await.map_err(|e| self.rpc_error(e, action))?;
        reply
            .map_err(|e| RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e)))
    }

    fn rpc_error<E: std::error::Error>(&self, e: CallError, action: RPCTypes) -> RPCError<NodeId, Node, E> {
        match e {
            CallError::Timeout(timeout) => {
                RPCError::Timeout(Timeout { action, id: self.id, target: self.target, timeout })
            }
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.raft_rpc(paths::APPEND, RPCTypes::AppendEntries, &rpc, option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.raft_rpc(paths::VOTE, RPCTypes::Vote, &rpc, option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let body = encode(&(vote, &snapshot.meta, &*snapshot.snapshot))
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        // The receiver answers once it has installed the snapshot, which
        // includes fetching the blocks it lacks: openraft's short install
        // timeout would cut that off, so this call has its own.
        let call = self.call::<Result<SnapshotResponse<NodeId>, Fatal<NodeId>>>(
            paths::SNAPSHOT,
            body,
            self.snapshot_timeout,
        );
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = call => reply,
        };
        let reply = reply.map_err(|e| match e {
            CallError::Timeout(timeout) => StreamingError::Timeout(Timeout {
                action: RPCTypes::InstallSnapshot,
                id: self.id,
                target: self.target,
                timeout,
            }),
            CallError::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => StreamingError::Network(NetworkError::new(&e)),
        })?;
        reply.map_err(|e| {
            StreamingError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e))
        })
    }
}

/// The snapshot RPC body.
pub(crate) type SnapshotBody = (Vote<NodeId>, SnapshotMeta<NodeId, Node>, LedgerSnapshot);
