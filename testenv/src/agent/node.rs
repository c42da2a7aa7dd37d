//! The Node object: registration, and the heartbeats (a Lease in
//! `kube-node-lease` and the Ready condition) that keep the node lifecycle
//! controller from marking it NotReady.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::{Ctx, now};
use crate::{Error, Result};

const LEASE_SECONDS: i32 = 40;

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn status(ctx: &Ctx) -> serde_json::Value {
    let now = now();
    let resources = serde_json::json!({
        "cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti",
    });
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        serde_json::json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    serde_json::json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "testenv agent"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "testenv agent"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "testenv agent"),
            condition("Ready", "True", "KubeletReady", "govchain-testenv node agent is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": ctx.node},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "govchain-testenv",
            "systemUUID": "govchain-testenv",
            "bootID": "govchain-testenv",
            "kernelVersion": "",
            "osImage": "govchain-testenv",
            "containerRuntimeVersion": "govchain-testenv://0",
            "kubeletVersion": "v1.36.3",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": arch(),
        },
    }})
}

/// Creates the Node and its status, and the first Lease.
pub(super) async fn register(ctx: &Arc<Ctx>) -> Result<()> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": ctx.node,
            "labels": {
                "kubernetes.io/hostname": ctx.node,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch(),
                "node.kubernetes.io/instance-type": "govchain-testenv",
            },
        },
    }))
    .map_err(|e| Error::Agent(e.to_string()))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    nodes.patch_status(&ctx.node, &PatchParams::default(), &Patch::Merge(&status(ctx))).await?;
    renew_lease(ctx).await?;
    Ok(())
}

async fn renew_lease(ctx: &Ctx) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), "kube-node-lease");
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": ctx.node},
        "spec": {
            "holderIdentity": ctx.node,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                k8s_openapi::jiff::Timestamp::now()
            ),
        },
    });
    leases.patch(&ctx.node, &PatchParams::apply("govchain-testenv").force(), &Patch::Apply(&lease)).await?;
    Ok(())
}

/// Renews the Lease every 5 s and posts the node status every 10 s.
pub(super) async fn heartbeat(ctx: Arc<Ctx>) {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        tick += 1;
        if let Err(e) = renew_lease(&ctx).await {
            tracing::warn!(target: "govchain::testenv", error = %e, "node lease");
        }
        if tick.is_multiple_of(2)
            && let Err(e) =
                nodes.patch_status(&ctx.node, &PatchParams::default(), &Patch::Merge(&status(&ctx))).await
        {
            tracing::warn!(target: "govchain::testenv", error = %e, "node status");
        }
    }
}
