//! The operator on a real control plane (govchain-testenv: etcd,
//! kube-apiserver, kube-controller-manager and a node agent running real
//! `govchain-node` processes), driven with kubectl like a DevOps engineer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod day2;
mod env;
mod lifecycle;
mod member;
