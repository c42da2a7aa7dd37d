//! The one place a node is wired: from its config and its chain's genesis,
//! open the ledger, start the consensus engine the genesis names, link it to
//! its peers and return the running [`Node`]. Nothing else constructs an
//! engine.
//!
//! An engine plugs in as an [`EngineFactory`]: it is started with the node's
//! ledger as its [`BlockStore`] and, when it declares itself networked, the
//! node's mutual-TLS [`PeerTransport`]; it returns its [`Consensus`] and the
//! routes it serves to its peers. [`NodeBuilder::start`] picks the factory
//! of the genesis [`ConsensusKind`]; [`NodeBuilder::engine`] puts another in
//! its place (the in-memory test engine does that).
//!
//! ```no_run
//! # async fn run(config: govchain_node::config::NodeConfig) -> govchain_node::Result<()> {
//! let node = govchain_node::builder::NodeBuilder::new(config).start().await?;
//! # Ok(()) }
//! ```

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use govchain_consensus::{BlockStore, BoxFuture, Consensus, ConsensusKind, PeerTransport, solo::Solo};
use govchain_crypto::PrivateKey;
use govchain_hotstuff::{HotStuffConfig, HotStuffEngine};
use govchain_raft::{RaftConfig, RaftEngine};

use crate::{
    Error, Node, Result,
    config::{Genesis, Member, NodeConfig},
    node::LedgerStore,
    replicated::Peers,
    switch::{ConsensusRecord, EngineRoutes, Switchable, stint_segment},
};

/// What an engine is started with.
pub struct EngineContext<'a> {
    /// The node's own settings.
    pub config: &'a NodeConfig,
    /// The chain's genesis (validated).
    pub genesis: &'a Genesis,
    /// The node's ledger as the engine drives it.
    pub store: Arc<dyn BlockStore>,
    /// The node's key (signs its blocks, and a BFT engine's votes).
    pub key: &'a PrivateKey,
    peers: Option<&'a Peers>,
    /// The height of the switch that started this engine's stint; `None`
    /// when the chain has run this engine since genesis.
    stint: Option<u64>,
}

impl std::fmt::Debug for EngineContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineContext").field("node", &self.config.node_id).finish_non_exhaustive()
    }
}

impl EngineContext<'_> {
    /// Where the engine keeps its own state: `<data_dir>/<name>`, or
    /// `<data_dir>/<name>-<h>` for a stint that a switch at height h began
    /// (each stint starts afresh).
    pub fn engine_dir(&self, name: &str) -> PathBuf {
        match self.stint {
            None => self.config.data_dir.join(name),
            Some(h) => self.config.data_dir.join(format!("{name}-{h}")),
        }
    }

    /// The height of the switch this engine starts after (0 on a chain that
    /// has run it since genesis).
    pub fn first_height(&self) -> u64 {
        self.stint.unwrap_or(0)
    }

    /// The mutual-TLS transport to the other members (of this engine's
    /// stint); refused unless the factory declared itself
    /// [`EngineFactory::networked`].
    pub fn transport(&self) -> Result<Arc<dyn PeerTransport>> {
        let transport = self
            .peers
            .map(Peers::transport)
            .ok_or_else(|| Error::Internal("this engine was not started with a peer link".into()))?;
        Ok(match self.stint {
            None => transport,
            Some(_) => Arc::new(crate::switch::StintTransport {
                inner: transport,
                segment: crate::switch::stint_segment(self.genesis.consensus, self.stint),
            }),
        })
    }
}

/// A started engine.
pub struct Engine {
    /// The node's consensus.
    pub consensus: Arc<dyn Consensus>,
    /// Routes the engine serves to its peers, mounted on the node's
    /// mutual-TLS listener (a networked engine only).
    pub peer_routes: Option<Router>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("status", &self.consensus.status()).finish_non_exhaustive()
    }
}

/// Starts one kind of consensus engine for a node.
pub trait EngineFactory: Send + Sync {
    /// Whether the engine talks to peers: the builder then sets up the
    /// node's mutual-TLS link (genesis CA, `p2p_listen` and `cert` become
    /// required), hands the engine its transport and serves its routes,
    /// client transactions are forwarded to the leader over it, and the
    /// admin endpoints are served on it.
    fn networked(&self) -> bool;

    /// Starts the engine on the current tokio runtime.
    fn start<'a>(&'a self, ctx: EngineContext<'a>) -> BoxFuture<'a, Result<Engine>>;
}

/// Wires a [`Node`] from its config and genesis.
pub struct NodeBuilder {
    config: NodeConfig,
    genesis: Option<Genesis>,
    engine: Option<Arc<dyn EngineFactory>>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder").field("node", &self.config.node_id).finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// A node with `config`; the genesis is read from `config.genesis`
    /// unless [`NodeBuilder::genesis`] gives it.
    pub fn new(config: NodeConfig) -> NodeBuilder {
        NodeBuilder { config, genesis: None, engine: None }
    }

    /// Uses `genesis` instead of reading the config's genesis file.
    pub fn genesis(mut self, genesis: Genesis) -> NodeBuilder {
        self.genesis = Some(genesis);
        self
    }

    /// Starts `factory`'s engine instead of the one the genesis names.
    pub fn engine(mut self, factory: impl EngineFactory + 'static) -> NodeBuilder {
        self.engine = Some(Arc::new(factory));
        self
    }

    /// The factory of each consensus kind.
    fn factory(kind: ConsensusKind) -> Arc<dyn EngineFactory> {
        match kind {
            ConsensusKind::Solo => Arc::new(SoloFactory),
            ConsensusKind::Raft => Arc::new(RaftFactory),
            ConsensusKind::Hotstuff => Arc::new(HotStuffFactory),
        }
    }

    /// Validates the config and genesis, opens the ledger (writing the
    /// genesis block on first start), starts the engine, serves the peer
    /// endpoints of a networked engine and returns the running node.
    pub async fn start(self) -> Result<Node> {
        self.config.validate()?;
        let genesis = match self.genesis {
            Some(g) => {
                g.validate()?;
                g
            }
            None => Genesis::load(&self.config.genesis)?,
        };
        let inner = Node::open(self.config, genesis)?;
        // A chain that switched engines runs the engine of its last switch.
        let record = crate::switch::record(inner.ledger())?;
        let effective = crate::switch::effective_genesis(inner.genesis(), record.as_ref());
        let factory = match (self.engine, &record) {
            (Some(factory), None) => factory,
            _ => Self::factory(effective.consensus),
        };
        let (config, genesis) = (inner.config(), inner.genesis());
        let peers = match factory.networked() {
            true => {
                let key_pem = inner.key_pem()?;
                Some(Peers::new(config, genesis, &key_pem, effective.consensus.as_str())?)
            }
            false => None,
        };
        let store: Arc<dyn BlockStore> = Arc::new(LedgerStore::current(inner.clone()));
        let ctx = EngineContext {
            config,
            genesis: &effective,
            store,
            key: inner.key(),
            peers: peers.as_ref(),
            stint: record.as_ref().map(|r| r.height),
        };
        // A node stopped while catching up to a switch it missed (the
        // handover mark stored, the switch block not yet reached) goes on
        // catching up; it starts no engine until it reaches that block.
        let catching_up = factory.networked()
            && inner.ledger().consensus_meta()?.as_deref() == Some(crate::switch::HANDOVER)
            && record.as_ref().map(|r| r.height) != inner.ledger().height();
        let engine = match catching_up {
            true => Engine {
                consensus: Arc::new(crate::switch::Waiting::new(
                    config.node_id.clone(),
                    effective.block_policy.clone(),
                )),
                peer_routes: None,
            },
            false => factory.start(ctx).await?,
        };
        let node = Node::assemble(inner, Arc::new(Switchable::new(engine.consensus)), peers);
        if let Some(peers) = node.peers() {
            let routes = EngineRoutes::default();
            let segment = stint_segment(effective.consensus, record.as_ref().map(|r| r.height));
            if let Some(r) = engine.peer_routes {
                routes.install(segment.clone(), r);
            }
            peers.serve(node.clone(), routes.clone()).await?;
            spawn_switcher(&node, segment, routes);
            spawn_follower(&node);
        }
        Ok(node)
    }
}

/// Starts the task that swaps the node's engine when a committed block
/// switches the chain's consensus (`switch.rs`).
fn spawn_switcher(node: &Node, running: String, routes: EngineRoutes) {
    let (weak, holder, peers) = node.parts();
    let mut switches = node.switches();
    let task = tokio::spawn(async move {
        let mut running = running;
        while switches.changed().await.is_ok() {
            let Some(record) = switches.borrow_and_update().clone() else { continue };
            let Some(inner) = weak.upgrade() else { return };
            let node = Node::from_parts(inner, holder.clone(), peers.clone());
            // Catching up past several switches: only the last one's engine
            // starts.
            if record.height < node.catch_up_target() {
                continue;
            }
            match switch_engine(&node, &record, &running, &routes).await {
                Ok(segment) => running = segment,
                Err(e) => crate::switch::log_failure(&node.config().node_id, &record, &e),
            }
        }
    });
    node.parts().1.add_task(task.abort_handle());
}

/// Starts the task that looks for a switch this node missed: while its
/// ledger stands still, it asks its peers every [`crate::switch::FOLLOW_EVERY`],
/// and catches up to a switch past its tip from the first that made one.
fn spawn_follower(node: &Node) {
    let (weak, holder, peers) = node.parts();
    let task = tokio::spawn(async move {
        let mut last = None;
        loop {
            tokio::time::sleep(crate::switch::FOLLOW_EVERY).await;
            let Some(inner) = weak.upgrade() else { return };
            let node = Node::from_parts(inner, holder.clone(), peers.clone());
            if let Err(e) = node.follow_switches(&mut last).await {
                tracing::warn!(target: "govchain::node", error = %e, "catching up to a switch of engines; will retry");
            }
        }
    });
    node.parts().1.add_task(task.abort_handle());
}

/// Starts the engine `record` names at the ledger tip, puts it in place of
/// the one `running` (its stint's route segment), and stops that one after
/// the grace period (its peers may still need it to commit the switch
/// block). Returns the new stint's segment.
async fn switch_engine(
    node: &Node,
    record: &ConsensusRecord,
    running: &str,
    routes: &EngineRoutes,
) -> Result<String> {
    let (weak, holder, peers) = node.parts();
    // Engines still in the grace period of an earlier switch stop now.
    holder.retire_all().await;
    let inner = weak.upgrade().ok_or(Error::ShuttingDown)?;
    let effective = crate::switch::effective_genesis(node.genesis(), Some(record));
    let factory = NodeBuilder::factory(record.consensus);
    let store: Arc<dyn BlockStore> = Arc::new(LedgerStore::current(inner.clone()));
    let ctx = EngineContext {
        config: inner.config(),
        genesis: &effective,
        store,
        key: inner.key(),
        peers: peers.as_ref(),
        stint: Some(record.height),
    };
    let engine = factory.start(ctx).await?;
    let segment = stint_segment(record.consensus, Some(record.height));
    if let Some(r) = engine.peer_routes {
        routes.install(segment.clone(), r);
    }
    let old = holder.replace(engine.consensus.clone());
    let (node, routes, running) = (node.clone(), routes.clone(), running.to_owned());
    tokio::spawn(async move {
        // What waits here for the old engine goes to the new one once it
        // has a leader: the transactions pending here, and those the old
        // engine orders after the switch block (the store refuses its
        // batches) as they come. A copy already on chain is dropped.
        let step = Duration::from_millis(50);
        let mut requeued = false;
        for i in 0..crate::switch::HANDOVER_LIMIT.as_millis() / step.as_millis() {
            if !requeued && holder.current().leader().is_some() {
                node.requeue(node.pending_transactions()).await;
                requeued = true;
            }
            if requeued {
                node.requeue(node.take_leftover()).await;
                if step * (i as u32) >= crate::switch::GRACE {
                    break;
                }
            }
            tokio::time::sleep(step).await;
        }
        holder.retire(&old).await;
        routes.remove(&running);
        node.requeue(node.take_leftover()).await;
    });
    Ok(segment)
}

/// One node orders alone, with the genesis block policy.
struct SoloFactory;

impl EngineFactory for SoloFactory {
    fn networked(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, ctx: EngineContext<'a>) -> BoxFuture<'a, Result<Engine>> {
        Box::pin(async move {
            let (solo, _cutter) = Solo::start(
                ctx.config.node_id.clone(),
                ctx.genesis.block_policy.clone(),
                ctx.config.mempool_capacity,
                ctx.store,
            )?;
            Ok(Engine { consensus: Arc::new(solo), peer_routes: None })
        })
    }
}

/// Where a node sits in a replicated chain: its consensus id, the peer
/// address the others reach it at, and its genesis member entry (`None` for
/// a node that joins after genesis).
struct Seat<'a> {
    id: u64,
    addr: String,
    member: Option<&'a Member>,
}

/// The [`Seat`] of the node `config` describes: a genesis member takes its id
/// and address from the genesis (a `consensus_id` in the config must agree);
/// a joining node needs `consensus_id` and listens at its `p2p_listen`.
fn seat<'a>(config: &NodeConfig, genesis: &'a Genesis) -> Result<Seat<'a>> {
    let member = genesis.member(&config.node_id);
    let id = match (member, config.consensus_id) {
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
    let listen = config.p2p_listen.ok_or_else(|| {
        Error::Config(format!("a {} chain needs p2p_listen in the node config", genesis.consensus))
    })?;
    let addr = member.map_or_else(|| listen.to_string(), |m| m.p2p.clone());
    Ok(Seat { id, addr, member })
}

/// Raft over the node's mutual-TLS link; the genesis members form the
/// group (the lowest id bootstraps it; a no-op on later starts), later
/// members join when the leader adds them.
struct RaftFactory;

impl EngineFactory for RaftFactory {
    fn networked(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, ctx: EngineContext<'a>) -> BoxFuture<'a, Result<Engine>> {
        Box::pin(async move {
            let (config, genesis) = (ctx.config, ctx.genesis);
            let Seat { id, addr, member } = seat(config, genesis)?;
            let mut raft =
                RaftConfig::new(id, govchain_raft::Node::new(addr, &config.node_id), ctx.engine_dir("raft"));
            raft.block_policy = genesis.block_policy.clone();
            raft.queue_capacity = config.mempool_capacity;
            let engine = RaftEngine::start(raft, ctx.store.clone(), ctx.transport()?)
                .await
                .map_err(|e| Error::Config(format!("starting raft: {e}")))?;
            let lowest = genesis.members.iter().map(|m| m.id).min();
            if member.is_some() && lowest == Some(id) {
                let members: BTreeMap<u64, govchain_raft::Node> = genesis
                    .members
                    .iter()
                    .map(|m| (m.id, govchain_raft::Node::new(m.p2p.clone(), m.name.clone())))
                    .collect();
                engine
                    .initialize(members)
                    .await
                    .map_err(|e| Error::Config(format!("bootstrapping raft: {e}")))?;
            }
            let peer_routes = govchain_raft::http::router(engine.clone());
            Ok(Engine { consensus: Arc::new(engine), peer_routes: Some(peer_routes) })
        })
    }
}

/// Two-chain HotStuff over the node's mutual-TLS link; the genesis members,
/// known by their `consensus_key`, form the first group, and the node signs
/// its proposals, votes and timeouts with its own key (the one that signs
/// its blocks). The engine keeps its safety state under `data_dir/hotstuff`.
struct HotStuffFactory;

impl EngineFactory for HotStuffFactory {
    fn networked(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, ctx: EngineContext<'a>) -> BoxFuture<'a, Result<Engine>> {
        Box::pin(async move {
            let (config, genesis) = (ctx.config, ctx.genesis);
            let Seat { id, addr, .. } = seat(config, genesis)?;
            let validators = crate::switch::hotstuff_validators(genesis)?;
            let mut hotstuff = HotStuffConfig::new(
                id,
                &config.node_id,
                addr,
                &genesis.chain_id,
                ctx.key.clone(),
                validators,
                ctx.engine_dir("hotstuff"),
            );
            hotstuff.first_epoch = ctx.first_height();
            hotstuff.block_policy = genesis.block_policy.clone();
            hotstuff.queue_capacity = config.mempool_capacity;
            let engine = HotStuffEngine::start(hotstuff, ctx.store.clone(), ctx.transport()?)
                .await
                .map_err(|e| Error::Config(format!("starting hotstuff: {e}")))?;
            let peer_routes = govchain_hotstuff::http::router(engine.clone());
            Ok(Engine { consensus: Arc::new(engine), peer_routes: Some(peer_routes) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> Genesis {
        let member = |id: u64| Member {
            id,
            name: format!("node{id}"),
            organization: "org1".into(),
            p2p: format!("10.0.0.{id}:8700"),
            consensus_key: String::new(),
        };
        Genesis {
            chain_id: "c".into(),
            suite: govchain_crypto::Suite::Gm,
            consensus: ConsensusKind::Hotstuff,
            timestamp_ms: 1,
            organization: "org1".into(),
            block_policy: Default::default(),
            ca: None,
            members: vec![member(1), member(2)],
            execution: Default::default(),
        }
    }

    fn config(node_id: &str, consensus_id: Option<u64>) -> NodeConfig {
        NodeConfig {
            node_id: node_id.into(),
            listen: ([127, 0, 0, 1], 1).into(),
            data_dir: "d".into(),
            key: "k".into(),
            genesis: "g".into(),
            mempool_capacity: 1,
            admission_budget_ms: crate::config::DEFAULT_ADMISSION_BUDGET_MS,
            sync_timeout_ms: 1,
            p2p_listen: Some(([127, 0, 0, 9], 8700).into()),
            cert: None,
            consensus_id,
            logs: Default::default(),
        }
    }

    #[test]
    fn a_seat_comes_from_the_genesis_or_the_config_of_a_joining_node() {
        let g = genesis();
        let s = seat(&config("node2", None), &g).expect("member");
        assert_eq!((s.id, s.addr.as_str(), s.member.map(|m| m.id)), (2, "10.0.0.2:8700", Some(2)));
        seat(&config("node2", Some(2)), &g).expect("agreeing id");
        let e = seat(&config("node2", Some(5)), &g).err().expect("disagreeing id").to_string();
        assert!(e.contains("consensus_id 5 differs from the genesis member `node2` (2)"), "{e}");
        let s = seat(&config("node7", Some(7)), &g).expect("joining");
        assert_eq!((s.id, s.addr.as_str(), s.member.is_none()), (7, "127.0.0.9:8700", true));
        let e = seat(&config("node7", None), &g).err().expect("no id").to_string();
        assert!(e.contains("a joining node needs consensus_id"), "{e}");
        let mut c = config("node1", None);
        c.p2p_listen = None;
        let e = seat(&c, &g).err().expect("no p2p").to_string();
        assert!(e.contains("a hotstuff chain needs p2p_listen"), "{e}");
    }

    #[test]
    fn every_replicated_kind_gets_a_networked_engine() {
        for kind in ConsensusKind::ALL {
            assert_eq!(NodeBuilder::factory(kind).networked(), kind.replicated(), "{kind}");
        }
    }
}
