//! The desired children of a Chain, built as plain objects (no API calls),
//! so they can be checked in unit tests and applied with server-side apply.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use govchain_crds::{Chain, Consensus, NodeGroup, labels};
use govchain_node::config::{Genesis, GenesisCa, Member, NodeConfig};
use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use serde_json::{Value, json};

use crate::{
    Error, Result,
    names::{self, API_PORT, Names, P2P_PORT},
};

/// Labels of every child of `chain` (group-specific when `group` is set).
pub fn labels(chain: &Chain, names: &Names, group: Option<&str>) -> BTreeMap<String, String> {
    let mut l = selector(names, None);
    l.insert(labels::COMPONENT.into(), labels::COMPONENT_VALUE.into());
    l.insert(labels::PART_OF.into(), labels::PART_OF_VALUE.into());
    l.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    l.insert(labels::VERSION.into(), chain.spec.version.clone());
    l.insert(labels::CHAIN.into(), names.chain.clone());
    if let Some(g) = group {
        l.insert(labels::GROUP.into(), g.into());
    }
    l
}

/// The labels selecting a chain's node pods (all of them, or one group's).
pub fn selector(names: &Names, group: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (labels::NAME.to_string(), labels::NAME_VALUE.to_string()),
        (labels::INSTANCE.to_string(), names.chain.clone()),
    ]);
    if let Some(g) = group {
        l.insert(labels::GROUP.into(), g.into());
    }
    l
}

/// The controller owner reference every child carries.
pub fn owner(chain: &Chain) -> Result<OwnerReference> {
    use kube::Resource;
    chain.controller_owner_ref(&()).ok_or_else(|| Error::Invalid("the Chain has no uid yet".into()))
}

fn meta(chain: &Chain, names: &Names, name: &str, group: Option<&str>) -> Result<ObjectMeta> {
    Ok(ObjectMeta {
        name: Some(name.into()),
        namespace: Some(names.namespace.clone()),
        labels: Some(labels(chain, names, group)),
        owner_references: Some(vec![owner(chain)?]),
        ..ObjectMeta::default()
    })
}

/// A Secret holding `data` (as `data`, base64 on the wire).
pub fn secret(
    chain: &Chain,
    names: &Names,
    name: &str,
    group: Option<&str>,
    data: &BTreeMap<String, String>,
) -> Result<Secret> {
    Ok(Secret {
        metadata: meta(chain, names, name, group)?,
        type_: Some("Opaque".into()),
        data: Some(data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect()),
        ..Secret::default()
    })
}

/// A Secret in the operator's CA namespace (`ns`) holding `data` for the
/// chain: labelled with the chain and its namespace, owned by no one (owner
/// references do not cross namespaces; the Chain's finalizer deletes it).
pub fn ca_secret(
    chain: &Chain,
    names: &Names,
    ns: &str,
    name: &str,
    data: &BTreeMap<String, String>,
) -> Secret {
    let mut labels = labels(chain, names, None);
    labels.insert(govchain_crds::labels::CHAIN_NAMESPACE.into(), names.namespace.clone());
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect()),
        ..Secret::default()
    }
}

/// A Secret's data as text (entries that are not UTF-8 are left out).
pub fn secret_text(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| String::from_utf8(v.0.clone()).ok().map(|s| (k.clone(), s)))
        .collect()
}

/// A genesis member: consensus id, pod name, public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisMember {
    /// Consensus id.
    pub id: u64,
    /// Pod name.
    pub pod: String,
    /// Hex of the SEC1 public key of the pod's node key
    /// ([`crate::pki::consensus_key`]); required on a hotstuff chain, empty
    /// on a raft one (whose genesis stays as it was).
    pub consensus_key: String,
}

/// The chain's genesis: the CA, the block policy and (raft, hotstuff) the
/// first consensus members.
pub fn genesis(
    chain: &Chain,
    names: &Names,
    ca: &govchain_pki::ChainCa,
    members: &[GenesisMember],
    timestamp_ms: u64,
) -> Result<Genesis> {
    let policy = chain.block_policy().map_err(|e| Error::Invalid(format!("spec.blockPolicy: {e}")))?;
    let organization = chain.organization();
    let replicated = chain.spec.consensus != Consensus::Solo;
    let genesis = Genesis {
        chain_id: chain.chain_id(),
        suite: ca.suite(),
        consensus: govchain_types::ConsensusKind::from(chain.spec.consensus),
        timestamp_ms,
        organization: organization.clone(),
        block_policy: policy,
        ca: Some(GenesisCa {
            root_cert_pem: ca.root_cert_pem().into(),
            operating_cert_pem: ca.operating_cert_pem().into(),
        }),
        execution: govchain_execution::ExecutionSpec::with_evm(&chain.chain_id()),
        members: if replicated {
            members
                .iter()
                .map(|m| Member {
                    id: m.id,
                    name: names.node_id(&m.pod),
                    organization: organization.clone(),
                    p2p: names.p2p(&m.pod),
                    consensus_key: m.consensus_key.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    genesis.validate().map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
    Ok(genesis)
}

/// The node config (`<pod>.toml`) of a pod of a `replicated` (raft,
/// hotstuff) chain or not; `consensus_id` for nodes that join after genesis.
pub fn node_config(names: &Names, pod: &str, replicated: bool, consensus_id: Option<u64>) -> Result<String> {
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    let config = NodeConfig {
        node_id: names.node_id(pod),
        listen: any(API_PORT),
        data_dir: PathBuf::from(names::DATA_DIR),
        key: PathBuf::from(format!("{}/{pod}.key.pem", names::KEYS_DIR)),
        genesis: PathBuf::from(format!("{}/{}", names::CONFIG_DIR, names::GENESIS_KEY)),
        mempool_capacity: 100_000,
        admission_budget_ms: govchain_node::config::DEFAULT_ADMISSION_BUDGET_MS,
        sync_timeout_ms: 30_000,
        p2p_listen: replicated.then(|| any(P2P_PORT)),
        cert: Some(PathBuf::from(format!("{}/{pod}.cert.pem", names::KEYS_DIR))),
        consensus_id,
        logs: Default::default(),
    };
    toml::to_string(&config).map_err(|e| Error::Invalid(format!("node config: {e}")))
}

/// The ConfigMap: genesis and every node config.
pub fn config_map(chain: &Chain, names: &Names, data: &BTreeMap<String, String>) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(chain, names, &names.config_map(), None)?,
        "data": data,
    }))
}

/// The headless Service of the peers (DNS names for every pod, ready or not:
/// a replicated chain needs its peers' names before it has a leader).
pub fn peers_service(chain: &Chain, names: &Names) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(chain, names, &names.peers_service(), None)?,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector(names, None),
            "ports": [
                {"name": "p2p", "port": P2P_PORT, "targetPort": P2P_PORT, "protocol": "TCP"},
                {"name": "api", "port": API_PORT, "targetPort": API_PORT, "protocol": "TCP"},
            ],
        },
    }))
}

/// The client Service (ready nodes only).
/// What tells a Prometheus with the usual Kubernetes discovery rules to
/// scrape a node's `/metrics` on its API port.
pub fn scrape_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        ("prometheus.io/port".to_owned(), API_PORT.to_string()),
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
    ])
}

pub fn client_service(chain: &Chain, names: &Names) -> Result<Value> {
    let mut metadata = meta(chain, names, &names.client_service(), None)?;
    metadata.annotations = Some(scrape_annotations());
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(names, None),
            "ports": [{"name": "api", "port": API_PORT, "targetPort": API_PORT, "protocol": "TCP"}],
        },
    }))
}

/// The StatefulSet of one node group with `replicas` pods.
pub fn statefulset(chain: &Chain, names: &Names, group: &NodeGroup, replicas: i32) -> Result<Value> {
    let replicated = chain.spec.consensus != Consensus::Solo;
    let mut env = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}),
        json!({"name": "GOVCHAIN_LISTEN", "value": format!("$(POD_IP):{API_PORT}")}),
    ];
    if replicated {
        env.push(json!({"name": "GOVCHAIN_P2P_LISTEN", "value": format!("$(POD_IP):{P2P_PORT}")}));
    }
    let mut container = json!({
        "name": "node",
        "image": chain.node_image(),
        "command": ["/govchain-node"],
        "args": ["run", "--config", format!("{}/$(POD_NAME).toml", names::CONFIG_DIR)],
        "env": env,
        "ports": [
            {"name": "api", "containerPort": API_PORT, "protocol": "TCP"},
            {"name": "p2p", "containerPort": P2P_PORT, "protocol": "TCP"},
        ],
        // Ready means the node follows a leader: after a restart or an
        // upgrade that is "rejoined", which is what a rolling update waits for.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": API_PORT},
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": API_PORT},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": names::CONFIG_DIR, "readOnly": true},
            {"name": "keys", "mountPath": names::KEYS_DIR, "readOnly": true},
            {"name": names::DATA_VOLUME, "mountPath": names::DATA_DIR},
        ],
    });
    if let Some(resources) = &group.resources {
        container["resources"] =
            serde_json::to_value(resources).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    let retention = group.storage.retention.as_str();
    let mut claim = json!({
        "metadata": {"name": names::DATA_VOLUME},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": group.storage.size}},
        },
    });
    if let Some(class) = &group.storage.storage_class_name {
        claim["spec"]["storageClassName"] = json!(class);
    }
    let pod_labels = labels(chain, names, Some(&group.name));
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(chain, names, &names.statefulset(&group.name), Some(&group.name))?,
        "spec": {
            "replicas": replicas,
            "serviceName": names.peers_service(),
            // A replicated chain has no leader until a quorum runs: OrderedReady would deadlock.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            // A stopped chain scales to 0 but keeps its ledgers; only a
            // node leaving consensus loses its volume to the policy.
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": retention,
                "whenScaled": if chain.spec.stopped { "Retain" } else { retention },
            },
            "selector": {"matchLabels": selector(names, Some(&group.name))},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": scrape_annotations()},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "enableServiceLinks": false,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": names.config_map()}},
                        {"name": "keys", "secret": {"secretName": names.keys_secret(&group.name), "defaultMode": 0o400}},
                    ],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }))
}

/// At most one node of the chain down by a voluntary disruption.
pub fn pdb(chain: &Chain, names: &Names) -> Result<Value> {
    Ok(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(chain, names, &names.client_service(), None)?,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(names, None)}},
    }))
}

/// Peer traffic only from the chain's own nodes (here and in invited
/// namespaces) and the operator; the client API from anywhere.
pub fn network_policy(chain: &Chain, names: &Names) -> Result<Value> {
    let chain_pods = json!({"matchLabels": {labels::CHAIN: names.chain}});
    let mut peers = vec![json!({"podSelector": chain_pods})];
    for inv in &chain.spec.invitations {
        peers.push(json!({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": inv.namespace}},
            "podSelector": chain_pods,
        }));
    }
    peers.push(json!({
        "namespaceSelector": {},
        "podSelector": {"matchLabels": {labels::NAME: "govchain-operator"}},
    }));
    Ok(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(chain, names, &names.client_service(), None)?,
        "spec": {
            "podSelector": {"matchLabels": selector(names, None)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": peers, "ports": [{"protocol": "TCP", "port": P2P_PORT}]},
                {"ports": [{"protocol": "TCP", "port": API_PORT}]},
            ],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Chain {
        let text = include_str!("../../crds/examples/chain.yaml");
        let doc = text.split("\n---\n").nth(1).unwrap();
        let mut chain: Chain = serde_yaml::from_str(doc).unwrap();
        chain.metadata.uid = Some("uid-1".into());
        chain
    }

    #[test]
    fn statefulset_follows_the_contract() {
        let chain = chain();
        let names = Names::new("city-ledger", "dept-a", "cluster.local");
        let sts = statefulset(&chain, &names, &chain.spec.node_groups[0], 4).unwrap();
        assert_eq!(sts["metadata"]["name"], "city-ledger-core");
        assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
        assert_eq!(sts["spec"]["serviceName"], "city-ledger-peers");
        let c = &sts["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "govchain/node:0.1.0");
        assert_eq!(c["args"][2], "/etc/govchain/config/$(POD_NAME).toml");
        assert_eq!(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"], "Delete");
        assert_eq!(sts["metadata"]["ownerReferences"][0]["kind"], "Chain");
        assert_eq!(sts["metadata"]["labels"]["app.kubernetes.io/managed-by"], "govchain-operator");
        let a = &sts["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            (&a["prometheus.io/scrape"], &a["prometheus.io/path"]),
            (&json!("true"), &json!("/metrics"))
        );
        assert_eq!(a["prometheus.io/port"], json!(API_PORT.to_string()));
        let svc = client_service(&chain, &names).unwrap();
        assert_eq!(svc["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    }

    #[test]
    fn node_config_and_genesis_name_the_peer_dns() {
        let chain = chain();
        let names = Names::new("city-ledger", "dept-a", "cluster.local");
        let toml = node_config(&names, "city-ledger-core-4", true, Some(5)).unwrap();
        assert!(toml.contains("node_id = \"city-ledger-core-4.dept-a\""), "{toml}");
        assert!(toml.contains("consensus_id = 5"), "{toml}");
        let data = crate::pki::new_ca(govchain_crypto::Suite::Gm, "city-ledger", "dept-a").unwrap();
        let ca = crate::pki::load_ca(govchain_crypto::Suite::Gm, &data).unwrap();
        let members: Vec<_> = (0..4)
            .map(|i| GenesisMember {
                id: i as u64 + 1,
                pod: names.pod("core", i),
                consensus_key: String::new(),
            })
            .collect();
        let g = genesis(&chain, &names, &ca, &members, 1).unwrap();
        assert_eq!(g.members[3].p2p, "city-ledger-core-3.city-ledger-peers.dept-a.svc.cluster.local:7600");
        assert_eq!(g.block_policy.max_txs, 5000);
        assert!(!serde_json::to_string(&g).unwrap().contains("consensus_key"), "a raft genesis as before");
    }

    #[test]
    fn a_hotstuff_genesis_names_every_members_key() {
        let mut chain = chain();
        chain.spec.consensus = Consensus::Hotstuff;
        let names = Names::new("city-ledger", "dept-a", "cluster.local");
        let data = crate::pki::new_ca(govchain_crypto::Suite::Gm, "city-ledger", "dept-a").unwrap();
        let ca = crate::pki::load_ca(govchain_crypto::Suite::Gm, &data).unwrap();
        let mut members: Vec<_> = (0..4)
            .map(|i| {
                let pod = names.pod("core", i);
                let req = crate::pki::NodeCertRequest {
                    node_id: &names.node_id(&pod),
                    organization: "dept-a",
                    dns_names: vec![names.peer_host(&pod)],
                    validity_days: 30,
                };
                let (_, cert) = crate::pki::issue_new(&ca, &req).unwrap();
                let consensus_key = crate::pki::consensus_key(&cert, govchain_crypto::Suite::Gm).unwrap();
                GenesisMember { id: i as u64 + 1, pod, consensus_key }
            })
            .collect();
        let g = genesis(&chain, &names, &ca, &members, 1).unwrap();
        assert_eq!(g.consensus, govchain_types::ConsensusKind::Hotstuff);
        for (m, want) in g.members.iter().zip(&members) {
            assert_eq!(m.consensus_key, want.consensus_key);
            m.public_key(govchain_crypto::Suite::Gm).unwrap();
        }
        let sts = statefulset(&chain, &names, &chain.spec.node_groups[0], 4).unwrap();
        assert!(sts.to_string().contains("GOVCHAIN_P2P_LISTEN"), "hotstuff nodes listen to their peers");
        assert!(node_config(&names, "city-ledger-core-0", true, None).unwrap().contains("p2p_listen"));
        // Without a member's key the genesis is refused, naming the member.
        members[2].consensus_key.clear();
        let e = genesis(&chain, &names, &ca, &members, 1).unwrap_err().to_string();
        assert!(e.contains("city-ledger-core-2.dept-a` has no consensus_key"), "{e}");
    }
}
