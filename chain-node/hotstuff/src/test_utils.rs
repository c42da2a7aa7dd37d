//! An in-memory block store and an in-process network with partitions, for
//! tests of this crate and of the node.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, PoisonError},
};

pub use govchain_consensus::memory::MemBlockStore;
use govchain_consensus::{PeerReply, PeerTransport, TransportError};

use crate::HotStuffEngine;

#[derive(Debug, Default)]
struct State {
    members: HashMap<u64, HotStuffEngine>,
    /// Links cut in both directions, as (low id, high id).
    cut: BTreeSet<(u64, u64)>,
}

/// An in-process network: a member's transport ([`LoopbackNetwork::transport`])
/// calls the target engine's [`HotStuffEngine::handle_rpc`] with the
/// encoded request, so every message goes through the wire format.
/// Unregistering a member takes it off the network (a crash); cutting
/// links makes partitions.
#[derive(Debug, Clone, Default)]
pub struct LoopbackNetwork {
    state: Arc<Mutex<State>>,
}

impl LoopbackNetwork {
    /// An empty network.
    pub fn new() -> LoopbackNetwork {
        LoopbackNetwork::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The transport member `id` sends through.
    pub fn transport(&self, id: u64) -> Arc<dyn PeerTransport> {
        Arc::new(Endpoint { net: self.clone(), from: id })
    }

    /// Makes `engine` reachable under its id.
    pub fn register(&self, engine: &HotStuffEngine) {
        self.lock().members.insert(engine.id(), engine.clone());
    }

    /// Makes member `id` unreachable.
    pub fn unregister(&self, id: u64) {
        self.lock().members.remove(&id);
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn cut(&self, a: u64, b: u64) {
        self.lock().cut.insert((a.min(b), a.max(b)));
    }

    /// Cuts every link of `id` to `others`.
    pub fn isolate(&self, id: u64, others: &[u64]) {
        for o in others {
            if *o != id {
                self.cut(id, *o);
            }
        }
    }

    /// Restores every cut link.
    pub fn heal(&self) {
        self.lock().cut.clear();
    }
}

#[derive(Debug)]
struct Endpoint {
    net: LoopbackNetwork,
    from: u64,
}

impl PeerTransport for Endpoint {
    fn send<'a>(&'a self, target: u64, _addr: &'a str, path: &'a str, body: Vec<u8>) -> PeerReply<'a> {
        Box::pin(async move {
            let engine = {
                let state = self.net.lock();
                if state.cut.contains(&(self.from.min(target), self.from.max(target))) {
                    None
                } else {
                    state.members.get(&target).cloned()
                }
            };
            let Some(engine) = engine else {
                return Err(TransportError::Unreachable {
                    target,
                    reason: "not reachable on the loopback network".into(),
                });
            };
            engine
                .handle_rpc(path, &body)
                .await
                .map_err(|e| TransportError::Rpc { target, reason: e.to_string() })
        })
    }
}
