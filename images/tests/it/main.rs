//! Tests of govchain's container images and Helm chart: the node image is
//! built with podman and a node run from it commits a transaction; the chart
//! lints, renders with default and non-default values, and refuses invalid
//! values through its schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart;
mod chart_server;
mod node_image;
