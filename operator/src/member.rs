//! `ChainMember`: a node group in another department's namespace that joins
//! a Chain through an invitation. The Chain's reconcile ([`crate::reconcile`])
//! drives everything that touches consensus or the chain CA (it holds the
//! membership record, the CA and the leader), writing only node keys,
//! certificates, configs, a headless Service and a StatefulSet into the
//! member's namespace; the CA key never leaves the Chain's namespace.
//!
//! This module renders the member's objects (pure) and runs the small
//! ChainMember controller that covers what the Chain's reconcile cannot see:
//! a member whose Chain does not exist (status, and releasing the finalizer
//! when it is deleted).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use govchain_crds::{Chain, ChainMember, ChainMemberStatus, NodeGroup, labels};
use k8s_openapi::{ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::{
    Context, Error, FIELD_MANAGER, Result,
    names::{API_PORT, Names, P2P_PORT},
    reconcile::set_condition,
    render,
};

/// Finalizer on an accepted ChainMember: its nodes leave consensus (which
/// lives in the Chain's namespace) before it goes.
pub const FINALIZER: &str = "govchain.io/consensus-membership";
/// Label naming the ChainMember a pod belongs to.
pub const MEMBER_LABEL: &str = "govchain.io/member";

/// ConfigMap of a member's genesis and node configs.
pub fn config_map_name(member: &str) -> String {
    format!("{member}-member-config")
}

/// Secret of a member's node keys and certificates.
pub fn keys_secret_name(member: &str) -> String {
    format!("{member}-member-keys")
}

/// The labels selecting a member's pods.
pub fn selector(member: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_string(), labels::NAME_VALUE.to_string()),
        (labels::INSTANCE.to_string(), member.to_string()),
        (MEMBER_LABEL.to_string(), member.to_string()),
    ])
}

/// Labels of a member's children: its own selector plus the chain's name,
/// which the Chain's NetworkPolicy admits from invited namespaces.
pub fn member_labels(chain: &Chain, member: &str) -> BTreeMap<String, String> {
    let mut l = selector(member);
    l.insert(labels::COMPONENT.into(), labels::COMPONENT_VALUE.into());
    l.insert(labels::PART_OF.into(), labels::PART_OF_VALUE.into());
    l.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    l.insert(labels::VERSION.into(), chain.spec.version.clone());
    l.insert(labels::CHAIN.into(), chain.name_any());
    l
}

fn meta(chain: &Chain, member: &ChainMember, name: &str) -> Result<ObjectMeta> {
    let owner = member
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Invalid("the ChainMember has no uid yet".into()))?;
    Ok(ObjectMeta {
        name: Some(name.into()),
        namespace: member.namespace(),
        labels: Some(member_labels(chain, &member.name_any())),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The member's keys Secret: node keys and certificates, the chain's root
/// and operating certificates; never a CA key.
pub fn secret(chain: &Chain, member: &ChainMember, data: &BTreeMap<String, String>) -> Result<Value> {
    let s = Secret {
        metadata: meta(chain, member, &keys_secret_name(&member.name_any()))?,
        type_: Some("Opaque".into()),
        data: Some(data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect()),
        ..Secret::default()
    };
    let mut v = serde_json::to_value(&s).map_err(|e| Error::State(e.to_string()))?;
    v["apiVersion"] = json!("v1");
    v["kind"] = json!("Secret");
    Ok(v)
}

/// The member's ConfigMap: the chain's genesis and its pods' configs.
pub fn config_map(chain: &Chain, member: &ChainMember, data: &BTreeMap<String, String>) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(chain, member, &config_map_name(&member.name_any()))?,
        "data": data,
    }))
}

/// The member's headless Service: DNS names for its pods, ready or not.
pub fn peers_service(chain: &Chain, member: &ChainMember, names: &Names) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(chain, member, &names.peers_service())?,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector(&member.name_any()),
            "ports": [
                {"name": "p2p", "port": P2P_PORT, "targetPort": P2P_PORT, "protocol": "TCP"},
                {"name": "api", "port": API_PORT, "targetPort": API_PORT, "protocol": "TCP"},
            ],
        },
    }))
}

/// The member's client Service `<member>`: its department's applications
/// use the chain through their own nodes (a follower forwards transactions
/// to the leader).
pub fn client_service(chain: &Chain, member: &ChainMember, names: &Names) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(chain, member, &names.client_service())?,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(&member.name_any()),
            "ports": [{"name": "api", "port": API_PORT, "targetPort": API_PORT, "protocol": "TCP"}],
        },
    }))
}

/// The member's StatefulSet `<member>` with `replicas` pods: the chain's
/// node pod template, with the member's names, labels and owner.
pub fn statefulset(chain: &Chain, member: &ChainMember, names: &Names, replicas: i32) -> Result<Value> {
    let name = member.name_any();
    let group = NodeGroup {
        name: name.clone(),
        replicas,
        role: member.spec.role,
        resources: member.spec.resources.clone(),
        storage: member.spec.storage.clone(),
    };
    let mut sts = render::statefulset(chain, names, &group, replicas)?;
    sts["metadata"] =
        serde_json::to_value(meta(chain, member, &name)?).map_err(|e| Error::State(e.to_string()))?;
    sts["spec"]["selector"] = json!({"matchLabels": selector(&name)});
    sts["spec"]["template"]["metadata"]["labels"] = json!(member_labels(chain, &name));
    sts["spec"]["template"]["spec"]["volumes"] = json!([
        {"name": "config", "configMap": {"name": config_map_name(&name)}},
        {"name": "keys", "secret": {"secretName": keys_secret_name(&name), "defaultMode": 0o400}},
    ]);
    Ok(sts)
}

/// Writes a ChainMember's status (merge patch of the status subresource).
pub async fn write_status(ctx: &Context, member: &ChainMember, status: &ChainMemberStatus) -> Result<()> {
    let api: Api<ChainMember> = Api::namespaced(ctx.client.clone(), &member.namespace().unwrap_or_default());
    let patch = json!({"status": status});
    api.patch_status(&member.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Adds or removes the finalizer (a JSON merge patch of the finalizer list).
pub async fn set_finalizer(ctx: &Context, member: &ChainMember, present: bool) -> Result<()> {
    crate::set_finalizer(&ctx.client, member, FINALIZER, present).await
}

/// Publishes an Event about a ChainMember.
pub async fn event(ctx: &Context, member: &ChainMember, type_: EventType, reason: &str, note: &str) {
    info!(target: "govchain::operator", member = %member.name_any(), namespace = ?member.namespace(), reason, %note);
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &member.object_ref(&())).await {
        warn!(target: "govchain::operator", error = %e, "cannot publish an event");
    }
}

/// Sets Ready/Progressing False with `reason`; writes and announces it when
/// it changed. For members the Chain's reconcile does not drive.
pub async fn refuse(ctx: &Context, member: &ChainMember, reason: &str, message: &str) -> Result<()> {
    let old = member.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let generation = member.meta().generation;
    let changed = set_condition(&mut status.conditions, "Ready", false, reason, message, generation);
    set_condition(&mut status.conditions, "Progressing", false, reason, message, generation);
    set_condition(&mut status.conditions, "Degraded", true, reason, message, generation);
    status.observed_generation = generation;
    status.nodes = member.spec.replicas;
    status.ready = format!("{}/{}", status.ready_nodes, status.nodes);
    let reason_changed =
        old.conditions.iter().find(|c| c.type_ == "Ready").is_none_or(|c| c.reason != reason);
    if status != old {
        write_status(ctx, member, &status).await?;
    }
    if changed || reason_changed {
        event(ctx, member, EventType::Warning, reason, message).await;
    }
    Ok(())
}

/// The ChainMember controller's reconcile: the Chain's reconcile drives
/// members of existing chains (it watches ChainMembers); this covers a
/// member whose Chain is missing.
pub async fn reconcile(member: Arc<ChainMember>, ctx: Arc<Context>) -> Result<Action> {
    let chains: Api<Chain> = Api::namespaced(ctx.client.clone(), &member.spec.chain.namespace);
    if chains.get_opt(&member.spec.chain.name).await?.is_some() {
        return Ok(Action::await_change());
    }
    if member.meta().deletion_timestamp.is_some() {
        // No chain, no consensus to leave.
        set_finalizer(&ctx, &member, false).await?;
        return Ok(Action::await_change());
    }
    let why = format!("Chain {}/{} does not exist", member.spec.chain.namespace, member.spec.chain.name);
    refuse(&ctx, &member, "ChainNotFound", &why).await?;
    Ok(Action::requeue(Duration::from_secs(30)))
}

/// The ChainMember controller's error policy.
pub fn error_policy(member: Arc<ChainMember>, err: &Error, _ctx: Arc<Context>) -> Action {
    warn!(target: "govchain::operator", member = %member.name_any(), namespace = ?member.namespace(), error = %err, "member reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Field manager re-export for the Chain's reconcile.
pub(crate) fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}
