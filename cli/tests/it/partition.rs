//! A network partition of a replicated chain, made by TCP proxies on
//! loopback that the test controls: every member's peer address in the
//! genesis is a proxy in front of its real listener, and members dial from
//! their own loopback address, so the proxies can cut one member off in
//! both directions.

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::api::SubmitMode;
use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

use crate::{
    net::{Started, leader_among},
    ok,
};

/// Which loopback addresses are cut off from the rest.
#[derive(Default)]
pub struct Cut {
    isolated: Mutex<HashSet<IpAddr>>,
    links: Mutex<Vec<(IpAddr, IpAddr, AbortHandle)>>,
}

impl Cut {
    fn blocks(&self, a: IpAddr, b: IpAddr) -> bool {
        let isolated = self.isolated.lock().unwrap();
        isolated.contains(&a) || isolated.contains(&b)
    }

    /// Cuts `ip` off: refuses its new connections and drops the open ones.
    pub fn isolate(&self, ip: IpAddr) {
        self.isolated.lock().unwrap().insert(ip);
        for (src, dst, link) in self.links.lock().unwrap().iter() {
            if *src == ip || *dst == ip {
                link.abort();
            }
        }
    }

    pub fn heal(&self) {
        self.isolated.lock().unwrap().clear();
    }
}

/// Forwards `listen` to `target` unless the cut separates the two ends.
/// Puts the peer listeners of the `n` members that `govchain net init`
/// wrote into `out` (first IP `127.0.0.<first>`, peer port `p2p`) behind
/// proxies one [`Cut`] controls: each member really listens on p2p + 100,
/// and the genesis names the proxy.
pub fn behind_proxies(out: &Path, first: u8, n: u8, p2p: u16) -> Arc<Cut> {
    let cut = Arc::new(Cut::default());
    for i in 0..n {
        let ip = IpAddr::from([127, 0, 0, first + i]);
        let config = out.join(format!("node{i}")).join("node.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let from = format!("p2p_listen = \"{ip}:{p2p}\"");
        assert!(text.contains(&from), "{text}");
        std::fs::write(&config, text.replace(&from, &format!("p2p_listen = \"{ip}:{}\"", p2p + 100)))
            .unwrap();
        tokio::spawn(proxy(SocketAddr::new(ip, p2p), SocketAddr::new(ip, p2p + 100), cut.clone()));
    }
    cut
}

pub async fn proxy(listen: SocketAddr, target: SocketAddr, cut: Arc<Cut>) {
    let listener = TcpListener::bind(listen).await.unwrap();
    loop {
        let Ok((mut inbound, peer)) = listener.accept().await else { continue };
        if cut.blocks(peer.ip(), listen.ip()) {
            continue;
        }
        let link = tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        cut.links.lock().unwrap().push((peer.ip(), listen.ip(), link.abort_handle()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_cannot_commit_and_catches_up_after_healing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let base = 32_000 + (std::process::id() % 1_000) as u16 * 4;
    let (api, p2p) = (base, base + 1);
    let o = out.to_str().unwrap();
    let first = 71u8;
    ok(&[
        "net",
        "init",
        "--nodes",
        "4",
        "--suite",
        "intl-r1",
        "--out",
        o,
        "--first-ip",
        &first.to_string(),
        "--api-port",
        &api.to_string(),
        "--p2p-port",
        &p2p.to_string(),
    ]);
    let cut = behind_proxies(&out, first, 4, p2p);
    ok(&["net", "start", o]);
    let _guard = Started(out.clone());
    let clients: Vec<Client> =
        (0..4u8).map(|i| Client::new(&format!("http://127.0.0.{}:{api}", first + i)).unwrap()).collect();
    let chain_id = clients[0].status().await.unwrap().chain_id;
    let wallet = Wallet::new(PrivateKey::generate(Suite::IntlR1), chain_id);
    let put =
        |n: u32| wallet.data_call(&DataCall::Put { key: format!("p{n}").into(), value: "v".into() }).unwrap();
    let old = leader_among(&clients, None).await;
    for n in 0..20 {
        clients[n as usize % 4].submit(&put(n), SubmitMode::Sync).await.unwrap();
    }

    // Cut the leader off: it is the minority of one.
    let l: usize = old.trim_start_matches("node").parse().unwrap();
    cut.isolate(IpAddr::from([127, 0, 0, first + l as u8]));
    let stuck_height = clients[l].height().await.unwrap();
    let lone =
        tokio::time::timeout(Duration::from_secs(3), clients[l].submit(&put(1000), SubmitMode::Sync)).await;
    assert!(!matches!(lone, Ok(Ok(ref r)) if r.receipt.is_some()), "the minority committed: {lone:?}");

    // The majority elects a new leader and keeps committing.
    let majority: Vec<Client> = (0..4).filter(|&i| i != l).map(|i| clients[i].clone()).collect();
    let new = leader_among(&majority, Some(&old)).await;
    assert_ne!(new, old);
    let mut committed = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed < 50 {
        assert!(Instant::now() < deadline, "the majority stalled at {committed} commits");
        let tx = put(2000 + committed);
        if majority[committed as usize % 3]
            .submit(&tx, SubmitMode::Sync)
            .await
            .is_ok_and(|r| r.receipt.is_some())
        {
            committed += 1;
        }
    }
    assert_eq!(clients[l].height().await.unwrap(), stuck_height, "the minority's ledger moved while cut off");

    // Heal: the old leader follows, catches up, and nobody diverged.
    cut.heal();
    let (height, _) = crate::net::converged(&clients).await;
    assert!(height > stuck_height);
    crate::net::same_blocks(&clients, height).await;
    assert_ne!(clients[l].status().await.unwrap().role, "leader", "the old leader stepped down");
}
