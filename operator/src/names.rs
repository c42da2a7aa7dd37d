//! Names of a chain's children and of its nodes (contract of issue 5: the
//! api's driver, the chart and the tests rely on them).

/// Port of the node's client API (REST/JSON).
pub const API_PORT: u16 = 8600;
/// Port of the node's node-to-node (mutual TLS) listener.
pub const P2P_PORT: u16 = 7600;
/// Where the node's ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/govchain/config";
/// Where the node's keys Secret is mounted.
pub const KEYS_DIR: &str = "/etc/govchain/keys";
/// Where the node's volume is mounted.
pub const DATA_DIR: &str = "/var/lib/govchain";
/// The node pods' data volume (claim template); a pod's claim is `<this>-<pod>`.
pub const DATA_VOLUME: &str = "data";
/// Key of the genesis document in the ConfigMap.
pub const GENESIS_KEY: &str = "genesis.json";
/// Secret keys of the chain CA.
pub const ROOT_CERT: &str = "root.pem";
/// Operating CA certificate.
pub const OPERATING_CERT: &str = "operating.pem";
/// Operating CA key (only in the CA Secret).
pub const OPERATING_KEY: &str = "operating-key.pem";
/// Root CA key (only in the CA Secret; needed to rotate the operating CA).
pub const ROOT_KEY: &str = "root-key.pem";
/// Key and certificate entries of the admin Secret.
pub const ADMIN_KEY: &str = "key.pem";
/// Certificate entry of the admin Secret.
pub const ADMIN_CERT: &str = "cert.pem";
/// CN of the operator's own certificate.
pub const ADMIN_NAME: &str = "govchain-operator";
/// O of the operator's own certificate: the platform is no department.
pub const ADMIN_ORG: &str = "govchain-platform";

/// Names of one chain's objects.
#[derive(Debug, Clone)]
pub struct Names {
    /// The Chain's name.
    pub chain: String,
    /// The Chain's namespace.
    pub namespace: String,
    /// The cluster DNS domain.
    pub domain: String,
}

impl Names {
    /// Names for chain `chain` in `namespace`.
    pub fn new(chain: &str, namespace: &str, domain: &str) -> Names {
        Names { chain: chain.into(), namespace: namespace.into(), domain: domain.into() }
    }

    /// Secret with the chain CA, in the operator's CA namespace (one for
    /// every chain: `<namespace>.<chain>-ca`).
    pub fn ca_secret(&self) -> String {
        format!("{}.{}-ca", self.namespace, self.chain)
    }

    /// Secret with the operator's identity for the chain's admin calls, in
    /// the CA namespace beside the CA.
    pub fn admin_secret(&self) -> String {
        format!("{}.{}-admin", self.namespace, self.chain)
    }

    /// Secret with the keys of group `group`.
    pub fn keys_secret(&self, group: &str) -> String {
        format!("{}-{group}-keys", self.chain)
    }

    /// ConfigMap with genesis and node configs.
    pub fn config_map(&self) -> String {
        format!("{}-config", self.chain)
    }

    /// StatefulSet of group `group`.
    pub fn statefulset(&self, group: &str) -> String {
        format!("{}-{group}", self.chain)
    }

    /// Headless Service of the peers.
    pub fn peers_service(&self) -> String {
        format!("{}-peers", self.chain)
    }

    /// Client Service (also the PDB and NetworkPolicy name).
    pub fn client_service(&self) -> String {
        self.chain.clone()
    }

    /// Pod `index` of group `group`.
    pub fn pod(&self, group: &str, index: i32) -> String {
        format!("{}-{group}-{index}", self.chain)
    }

    /// Node id (and certificate CN) of a pod: `<pod>.<namespace>`.
    pub fn node_id(&self, pod: &str) -> String {
        format!("{pod}.{}", self.namespace)
    }

    /// DNS name of a pod behind the headless Service.
    pub fn peer_host(&self, pod: &str) -> String {
        format!("{pod}.{}.{}.svc.{}", self.peers_service(), self.namespace, self.domain)
    }

    /// `host:port` of a pod's peer listener.
    pub fn p2p(&self, pod: &str) -> String {
        format!("{}:{P2P_PORT}", self.peer_host(pod))
    }

    /// URL of the client Service.
    pub fn client_endpoint(&self) -> String {
        format!("http://{}.{}.svc.{}:{API_PORT}", self.client_service(), self.namespace, self.domain)
    }
}

/// The pod name a node id (`<pod>.<namespace>`) belongs to.
pub fn pod_of_node(node_id: &str) -> &str {
    node_id.split_once('.').map_or(node_id, |(pod, _)| pod)
}

/// The membership key of a node: the pod name for the chain's own pods,
/// the node id (`<pod>.<namespace>`) for a ChainMember's pods in another
/// namespace (pod names hold no dot, so the two never collide).
pub fn is_member_key(key: &str) -> bool {
    key.contains('.')
}

/// Names of a ChainMember's nodes: `<member>-<i>` pods behind the headless
/// Service `<member>-peers` in the member's namespace, so
/// `Names::new(member, namespace, domain)` gives their node ids and peer
/// DNS names (and the certificates' SANs).
pub fn member_names(member: &str, namespace: &str, domain: &str) -> Names {
    Names::new(member, namespace, domain)
}

/// Pod `index` of ChainMember `member` (its StatefulSet is named `member`).
pub fn member_pod(member: &str, index: i32) -> String {
    format!("{member}-{index}")
}

/// DNS name of a ChainMember pod from its membership key `<pod>.<namespace>`
/// (the member's name is the pod name without its `-<index>`).
pub fn member_peer_host(key: &str, domain: &str) -> Option<String> {
    let (pod, ns) = key.split_once('.')?;
    let (member, _) = pod.rsplit_once('-')?;
    Some(member_names(member, ns, domain).peer_host(pod))
}
