//! govchain-testenv on a real control plane (the binaries of
//! `scripts/k8s-bins.sh` or `GOVCHAIN_K8S_BIN`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod controlplane;
mod crash;
