//! Moving an engine's request/reply bytes between members.

use crate::BoxFuture;

/// Why a peer exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (refused, timed out): the engine backs
    /// off and retries.
    #[error("peer {target} unreachable: {reason}")]
    Unreachable {
        /// The peer's consensus id.
        target: u64,
        /// What went wrong.
        reason: String,
    },
    /// The peer answered with an error status or a malformed reply.
    #[error("RPC to peer {target} failed: {reason}")]
    Rpc {
        /// The peer's consensus id.
        target: u64,
        /// What went wrong.
        reason: String,
    },
}

/// What [`PeerTransport::send`] returns: the reply body, once it came.
pub type PeerReply<'a> = BoxFuture<'a, Result<Vec<u8>, TransportError>>;

/// Request/reply bytes to another member of the group. The node implements
/// it over HTTPS with mutual TLS (node certificates from the chain CA) and
/// serves the engine's paths on its peer listener; tests use in-process
/// loopbacks.
pub trait PeerTransport: Send + Sync + 'static {
    /// Sends `body` to `path` (relative, e.g. `raft/append`) of member
    /// `target` at `addr` (`host:port`) and returns the reply body.
    /// Dropping the future cancels the call.
    fn send<'a>(&'a self, target: u64, addr: &'a str, path: &'a str, body: Vec<u8>) -> PeerReply<'a>;
}
