//! Cluster DNS as `/etc/hosts` lines.
//!
//! Instead of a DNS server, every pod's `/etc/hosts` lists the names cluster
//! DNS would answer: `<svc>.<ns>.svc.<domain>` (and `<svc>.<ns>.svc`,
//! `<svc>.<ns>`, plus `<svc>` inside its own namespace) for Services with a
//! cluster IP, the pods behind a headless Service under its name, and
//! `<hostname>.<subdomain>.<ns>.svc.<domain>` for pods with a hostname and
//! subdomain (StatefulSet pods; listed even before they are ready, so peers
//! can dial each other while a quorum forms). The file is rewritten in place
//! so the bind mount in each pod sees the change.

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::Ctx;

#[derive(Debug, Clone)]
struct Record {
    ip: IpAddr,
    namespace: String,
    /// Names valid from every namespace.
    names: Vec<String>,
    /// Names valid only from `namespace` (the search-path forms).
    short: Vec<String>,
}

/// The names the cluster answers, recomputed from the stores.
#[derive(Debug, Default)]
pub(crate) struct View {
    records: Vec<Record>,
}

pub(crate) fn pod_ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub(crate) fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

impl View {
    pub(crate) fn build(ctx: &Ctx, pods: &[Arc<Pod>]) -> View {
        let domain = &ctx.shared.cluster_domain;
        let mut records = Vec::new();
        for pod in pods {
            let (Some(ns), Some(spec), Some(ip)) =
                (pod.metadata.namespace.as_deref(), pod.spec.as_ref(), pod_ip(pod))
            else {
                continue;
            };
            if let (Some(host), Some(sub)) = (spec.hostname.as_deref(), spec.subdomain.as_deref()) {
                records.push(Record {
                    ip,
                    namespace: ns.to_string(),
                    names: vec![
                        format!("{host}.{sub}.{ns}.svc.{domain}"),
                        format!("{host}.{sub}.{ns}.svc"),
                        format!("{host}.{sub}.{ns}"),
                    ],
                    short: vec![format!("{host}.{sub}")],
                });
            }
        }
        for svc in ctx.services.state() {
            let (Some(ns), Some(name), Some(spec)) =
                (svc.metadata.namespace.as_deref(), svc.metadata.name.as_deref(), svc.spec.as_ref())
            else {
                continue;
            };
            let names =
                vec![format!("{name}.{ns}.svc.{domain}"), format!("{name}.{ns}.svc"), format!("{name}.{ns}")];
            let short = vec![name.to_string()];
            match spec.cluster_ip.as_deref() {
                Some("None") => {
                    // Headless: the name lists the pods behind it.
                    let selector = spec.selector.clone().unwrap_or_default();
                    let not_ready_too = spec.publish_not_ready_addresses == Some(true);
                    for pod in pods {
                        if pod.metadata.namespace.as_deref() == Some(ns)
                            && pod.metadata.deletion_timestamp.is_none()
                            && selects(&selector, pod)
                            && (not_ready_too || is_ready(pod))
                            && let Some(ip) = pod_ip(pod)
                        {
                            records.push(Record {
                                ip,
                                namespace: ns.to_string(),
                                names: names.clone(),
                                short: short.clone(),
                            });
                        }
                    }
                }
                Some(ip) => {
                    if let Ok(ip) = ip.parse() {
                        records.push(Record { ip, namespace: ns.to_string(), names, short });
                    }
                }
                None => {}
            }
        }
        View { records }
    }

    /// Every globally valid name -> its first address (what
    /// `TestEnv::resolve` answers).
    pub(crate) fn global(&self) -> BTreeMap<String, IpAddr> {
        let mut map = BTreeMap::new();
        for r in &self.records {
            for n in &r.names {
                map.entry(n.clone()).or_insert(r.ip);
            }
        }
        map
    }

    /// The `/etc/hosts` of a pod in `namespace` with address `ip`.
    pub(crate) fn hosts(&self, namespace: &str, ip: IpAddr, own: &[String]) -> String {
        let mut out = String::from(
            "# Kubernetes-managed hosts file (govchain-testenv node agent).\n\
             127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        );
        out.push_str(&format!("{ip}\t{}\n", own.join(" ")));
        for r in &self.records {
            let mut names = r.names.clone();
            if r.namespace == namespace {
                names.extend(r.short.iter().cloned());
            }
            out.push_str(&format!("{}\t{}\n", r.ip, names.join(" ")));
        }
        out
    }
}

/// Replaces the contents of `path` without replacing the file (a bind mount
/// pins the inode). A shorter text is padded with blank space rather than
/// truncating, so a reader never sees an empty file.
pub(crate) fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    let old = file.metadata()?.len() as usize;
    let mut buf = text.as_bytes().to_vec();
    if buf.len() < old {
        buf.resize(old - 1, b' ');
        buf.push(b'\n');
    }
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(&buf)?;
    file.flush()
}
