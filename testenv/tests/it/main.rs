//! govchain-testenv on a real control plane (the binaries of
//! `scripts/k8s-bins.sh` or `GOVCHAIN_K8S_BIN`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod controlplane;
mod crash;

/// Whether process `pid` still exists (a zombie still has a /proc entry;
/// only a reaped process is gone).
fn alive(pid: u32) -> bool {
    std::fs::metadata(format!("/proc/{pid}")).is_ok()
}
