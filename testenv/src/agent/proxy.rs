//! A userspace kube-proxy: for each Service with a cluster IP, a TCP listener
//! on `clusterIP:port` that forwards every connection to a ready pod the
//! Service selects (round robin; the pods are read at connect time, so no
//! endpoint bookkeeping). `default/kubernetes` forwards to the apiserver.
//! EndpointSlices are not used: they cannot hold loopback addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::Ctx;
use super::dns::{is_ready, pod_ip, selects};

/// One listener: the Service it serves and its port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    addr: SocketAddr,
    namespace: String,
    service: String,
}

#[derive(Debug)]
pub(crate) struct Proxy {
    ctx: Arc<Ctx>,
    listeners: HashMap<Key, JoinHandle<()>>,
}

impl Proxy {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Proxy {
        Proxy { ctx, listeners: HashMap::new() }
    }

    /// Opens listeners for new Service ports and closes those of removed ones.
    pub(crate) fn reconcile(&mut self) {
        let mut want = Vec::new();
        for svc in self.ctx.services.state() {
            let (Some(ns), Some(name), Some(spec)) =
                (svc.metadata.namespace.clone(), svc.metadata.name.clone(), svc.spec.as_ref())
            else {
                continue;
            };
            let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
                continue;
            };
            for port in spec.ports.iter().flatten() {
                if port.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                    continue;
                }
                let Ok(p) = u16::try_from(port.port) else {
                    continue;
                };
                want.push(Key { addr: SocketAddr::new(ip, p), namespace: ns.clone(), service: name.clone() });
            }
        }
        self.listeners.retain(|key, handle| {
            let keep = want.contains(key) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for key in want {
            if !self.listeners.contains_key(&key) {
                let handle = tokio::spawn(serve(self.ctx.clone(), key.clone()));
                self.listeners.insert(key, handle);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for handle in self.listeners.values() {
            handle.abort();
        }
    }
}

async fn serve(ctx: Arc<Ctx>, key: Key) {
    let listener = match TcpListener::bind(key.addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(target: "govchain::testenv", addr = %key.addr, error = %e, "service proxy cannot listen");
            // Ends the task; the next reconcile retries.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            return;
        }
    };
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors, most likely: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let ctx = ctx.clone();
        let key = key.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let backends = backends(&ctx, &key);
            if backends.is_empty() {
                tracing::debug!(target: "govchain::testenv", addr = %key.addr, "no ready endpoint");
                return;
            }
            let start = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..backends.len() {
                let backend = backends[(start + i) % backends.len()];
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let mut inbound = inbound;
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}

/// The addresses a connection to `key` may go to right now.
fn backends(ctx: &Ctx, key: &Key) -> Vec<SocketAddr> {
    if key.namespace == "default" && key.service == "kubernetes" {
        return vec![SocketAddr::new(
            IpAddr::V4(ctx.shared.subnet.control_plane_ip()),
            ctx.shared.apiserver_port,
        )];
    }
    let Some(svc) = ctx.service(&key.namespace, &key.service) else {
        return Vec::new();
    };
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let Some(port) = spec.ports.iter().flatten().find(|p| i32::from(key.addr.port()) == p.port) else {
        return Vec::new();
    };
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(port.port));
    let selector = spec.selector.clone().unwrap_or_default();
    let not_ready_too = spec.publish_not_ready_addresses == Some(true);
    let mut out = Vec::new();
    let pods: Vec<Arc<Pod>> = ctx.pods.state();
    for pod in pods {
        if pod.metadata.namespace.as_deref() != Some(key.namespace.as_str())
            || pod.metadata.deletion_timestamp.is_some()
            || !selects(&selector, &pod)
            || !(not_ready_too || is_ready(&pod))
        {
            continue;
        }
        let (Some(ip), Some(pspec)) = (pod_ip(&pod), pod.spec.as_ref()) else {
            continue;
        };
        let containers: Vec<_> = pspec.containers.iter().collect();
        if let Some(p) = super::probe::port(&target, &containers) {
            out.push(SocketAddr::new(ip, p));
        }
    }
    out.sort();
    out
}
