//! Loopback addresses and ports for nodes.
//!
//! Every node gets a loopback address of its own, `127.0.0.100` to
//! `127.0.0.254` (clear of `127.0.0.1` and of the `127.0.0.11`-`.70` the
//! CLI's fixed-address tests use), and two ports found free on it between
//! 10000 and 19999. That range lies below Linux's ephemeral ports
//! (32768-60999), so an outgoing connection can never sit on a node's port
//! while the node is down and keep it from restarting. Handed-out addresses
//! are remembered for the whole process (several drivers, parallel tests),
//! and the allocation is written into the node's config, so a restarted node
//! reuses it.

use std::{
    collections::HashSet,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    sync::{Mutex, OnceLock},
};

use rand::Rng;

use super::lock;
use crate::{Error, Result};

const FIRST_IP: u8 = 100;
const LAST_IP: u8 = 254;
const PORTS: std::ops::Range<u16> = 10_000..20_000;
const TRIES: usize = 200;

fn taken() -> &'static Mutex<HashSet<SocketAddr>> {
    static TAKEN: OnceLock<Mutex<HashSet<SocketAddr>>> = OnceLock::new();
    TAKEN.get_or_init(Mutex::default)
}

/// A node's API and (on replicated chains) peer addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeAddrs {
    pub(crate) ip: Ipv4Addr,
    pub(crate) api: SocketAddr,
    pub(crate) p2p: SocketAddr,
}

/// Picks a loopback address and two free ports on it.
pub(crate) fn allocate() -> Result<NodeAddrs> {
    let mut rng = rand::thread_rng();
    let mut ip = Ipv4Addr::new(127, 0, 0, rng.gen_range(FIRST_IP..=LAST_IP));
    // Outside Linux only 127.0.0.1 may be bound.
    if TcpListener::bind((ip, 0)).is_err() {
        ip = Ipv4Addr::LOCALHOST;
    }
    let api = port(ip, &mut rng)?;
    let p2p = port(ip, &mut rng)?;
    Ok(NodeAddrs { ip, api, p2p })
}

fn port(ip: Ipv4Addr, rng: &mut impl Rng) -> Result<SocketAddr> {
    let mut taken = lock(taken());
    for _ in 0..TRIES {
        let addr = SocketAddr::from((ip, rng.gen_range(PORTS)));
        if !taken.contains(&addr) && TcpListener::bind(addr).is_ok() {
            taken.insert(addr);
            return Ok(addr);
        }
    }
    // A crowded range: any free port the system offers.
    let addr = TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::Failed(format!("no free port on {ip}: {e}")))?;
    taken.insert(addr);
    Ok(addr)
}

/// Marks addresses read back from disk as in use.
pub(crate) fn reserve(addrs: impl IntoIterator<Item = SocketAddr>) {
    lock(taken()).extend(addrs);
}

/// Frees the addresses of a purged node.
pub(crate) fn release(addrs: impl IntoIterator<Item = SocketAddr>) {
    let mut taken = lock(taken());
    for a in addrs {
        taken.remove(&a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_never_handed_out_twice() {
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let a = allocate().expect("addresses");
            assert!(a.api.ip().is_loopback() && a.api.ip() == a.p2p.ip());
            assert!(seen.insert(a.api) && seen.insert(a.p2p), "{a:?} handed out twice");
        }
        // Released addresses may come back; reserved ones do not.
        let a = allocate().expect("addresses");
        release([a.api, a.p2p]);
        assert!(!lock(taken()).contains(&a.api));
        reserve([a.api]);
        assert!(lock(taken()).contains(&a.api));
    }
}
