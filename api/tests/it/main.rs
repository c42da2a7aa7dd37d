//! Integration tests of the control plane against a real server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod backup;
mod bad_input;
mod contract;
mod contract_lifecycle;
mod explorer;
mod guards;
mod hotstuff;
mod journey;
mod kube;
mod logs;
mod matrix;
mod metrics;
mod openapi;
mod prometheus;
mod replicas;
mod repository;
mod sandbox;
mod security;
mod smart_contracts;
mod support;
