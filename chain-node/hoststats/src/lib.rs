//! A process's own figures and its host's, as Prometheus gauges: CPU
//! seconds, resident memory and open files of this process (from
//! `/proc/self`), used and free bytes of the filesystem holding a directory
//! (statvfs), and the host's network bytes in and out (`/proc/net/dev`,
//! every interface but loopback).
//!
//! Every long-running binary registers them under its own prefix
//! (`govchain_node_*`, `govchain_api_*`), so the same names come from a
//! node however it runs (local processes, Kubernetes pods), since the
//! process reads them itself.
//!
//! Not here: anything that needs privileges or a daemon; figures of other
//! processes; platforms without `/proc` (the gauges then stay at 0).

use std::{
    path::{Path, PathBuf},
    sync::atomic::AtomicU64,
};

use prometheus_client::{metrics::gauge::Gauge, registry::Registry};

/// A gauge holding a float.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// The gauges, refreshed by [`HostStats::refresh`] before each scrape.
#[derive(Debug, Default)]
pub struct HostStats {
    data_dir: Option<PathBuf>,
    /// User plus system CPU time of this process, in seconds.
    pub cpu_seconds: FloatGauge,
    /// Resident set size of this process.
    pub resident_memory_bytes: FloatGauge,
    /// Open file descriptors of this process.
    pub open_fds: FloatGauge,
    /// Bytes used on the filesystem holding the data directory.
    pub disk_used_bytes: FloatGauge,
    /// Bytes free (for unprivileged users) on that filesystem.
    pub disk_free_bytes: FloatGauge,
    /// Bytes received by the host, every interface but loopback.
    pub network_receive_bytes: FloatGauge,
    /// Bytes sent by the host, every interface but loopback.
    pub network_transmit_bytes: FloatGauge,
}

impl HostStats {
    /// Registers the gauges in `registry`; the disk figures are of the
    /// filesystem holding `data_dir` (left out when `None`).
    pub fn register(registry: &mut Registry, data_dir: Option<PathBuf>) -> HostStats {
        let s = HostStats { data_dir, ..HostStats::default() };
        registry.register(
            "process_cpu_seconds",
            "CPU time of the process (user + system)",
            s.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            s.resident_memory_bytes.clone(),
        );
        registry.register("process_open_fds", "Open file descriptors of the process", s.open_fds.clone());
        if s.data_dir.is_some() {
            registry.register(
                "disk_used_bytes",
                "Bytes used on the data directory's filesystem",
                s.disk_used_bytes.clone(),
            );
            registry.register(
                "disk_free_bytes",
                "Bytes available on the data directory's filesystem",
                s.disk_free_bytes.clone(),
            );
        }
        registry.register(
            "network_receive_bytes",
            "Bytes received by the host (all interfaces but loopback)",
            s.network_receive_bytes.clone(),
        );
        registry.register(
            "network_transmit_bytes",
            "Bytes sent by the host (all interfaces but loopback)",
            s.network_transmit_bytes.clone(),
        );
        s
    }

    /// Reads every figure again; one that cannot be read keeps its last
    /// value.
    pub fn refresh(&self) {
        if let Some(cpu) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| cpu_seconds(&s)) {
            self.cpu_seconds.set(cpu);
        }
        if let Some(rss) = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| resident_bytes(&s))
        {
            self.resident_memory_bytes.set(rss as f64);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as f64);
        }
        if let Some((used, free)) = self.data_dir.as_deref().and_then(disk) {
            self.disk_used_bytes.set(used as f64);
            self.disk_free_bytes.set(free as f64);
        }
        if let Some((rx, tx)) = std::fs::read_to_string("/proc/net/dev").ok().and_then(|s| network_bytes(&s))
        {
            self.network_receive_bytes.set(rx as f64);
            self.network_transmit_bytes.set(tx as f64);
        }
    }
}

/// Used and available bytes of the filesystem holding `dir`.
pub fn disk(dir: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let unit = st.f_frsize;
    let used = st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(unit);
    Some((used, st.f_bavail.saturating_mul(unit)))
}

/// User plus system time from a `/proc/<pid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after
/// its last `)`.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3; utime and stime are fields 14, 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// `VmRSS` of a `/proc/<pid>/status`, in bytes.
pub fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    kb.checked_mul(1024)
}

/// Received and sent bytes summed over the interfaces of a
/// `/proc/net/dev`, loopback left out.
pub fn network_bytes(dev: &str) -> Option<(u64, u64)> {
    let mut total = None::<(u64, u64)>;
    // Two header lines, then `iface: rx_bytes packets ... (8 rx fields) tx_bytes ...`.
    for line in dev.lines().skip(2) {
        let Some((iface, counters)) = line.split_once(':') else { continue };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<&str> = counters.split_whitespace().collect();
        let (Some(rx), Some(tx)) =
            (f.first().and_then(|v| v.parse::<u64>().ok()), f.get(8).and_then(|v| v.parse::<u64>().ok()))
        else {
            continue;
        };
        let (r, t) = total.unwrap_or((0, 0));
        total = Some((r.saturating_add(rx), t.saturating_add(tx)));
    }
    total.or(Some((0, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_proc_formats() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 10 1000 200";
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(cpu_seconds(stat), Some(300.0 / ticks));
        assert_eq!(cpu_seconds("garbage"), None);
        assert_eq!(cpu_seconds("1 (x) S"), None);
        assert_eq!(resident_bytes("Name:\tx\nVmRSS:\t   2048 kB\n"), Some(2048 * 1024));
        assert_eq!(resident_bytes("VmRSS: lots"), None);
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 100 2 0 0 0 0 0 0 40 1 0 0 0 0 0 0\n  eth1: 5 2 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n  bad: x\n";
        assert_eq!(network_bytes(dev), Some((105, 46)));
    }

    #[test]
    fn refresh_reads_this_process_and_its_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::default();
        let s = HostStats::register(&mut registry, Some(dir.path().to_owned()));
        s.refresh();
        assert!(s.resident_memory_bytes.get() > 0.0);
        assert!(s.open_fds.get() >= 3.0);
        assert!(s.disk_used_bytes.get() > 0.0 && s.disk_free_bytes.get() > 0.0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        assert!(text.contains("disk_free_bytes"), "{text}");
    }
}
