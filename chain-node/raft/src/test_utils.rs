//! An in-memory block store and an in-process transport, for tests of
//! this crate and of the node.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

pub use govchain_consensus::memory::MemBlockStore;
use govchain_consensus::{PeerReply, PeerTransport, TransportError};

use crate::{NodeId, RaftEngine};

/// An in-process network: [`PeerTransport::send`] calls the target
/// engine's [`RaftEngine::handle_rpc`] with the serialized request, so every
/// message still goes through the wire format. Unregistering a member cuts
/// it off (a crash or a partition as its peers see it).
#[derive(Debug, Clone, Default)]
pub struct LoopbackNetwork {
    members: Arc<Mutex<HashMap<NodeId, RaftEngine>>>,
}

impl LoopbackNetwork {
    /// An empty network.
    pub fn new() -> LoopbackNetwork {
        LoopbackNetwork::default()
    }

    /// Makes `engine` reachable under its id.
    pub fn register(&self, engine: &RaftEngine) {
        self.members.lock().unwrap_or_else(PoisonError::into_inner).insert(engine.id(), engine.clone());
    }

    /// Makes member `id` unreachable.
    pub fn unregister(&self, id: NodeId) {
        self.members.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }
}

impl PeerTransport for LoopbackNetwork {
    fn send<'a>(&'a self, target: NodeId, _addr: &'a str, path: &'a str, body: Vec<u8>) -> PeerReply<'a> {
        Box::pin(async move {
            let engine = self.members.lock().unwrap_or_else(PoisonError::into_inner).get(&target).cloned();
            let Some(engine) = engine else {
                return Err(TransportError::Unreachable {
                    target,
                    reason: "not on the loopback network".into(),
                });
            };
            engine
                .handle_rpc(path, &body)
                .await
                .map_err(|e| TransportError::Rpc { target, reason: e.to_string() })
        })
    }
}
