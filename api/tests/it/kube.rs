//! The approval journey with the Kubernetes driver: a real kube-apiserver
//! (govchain-testenv, its node agent running the node pods as local
//! processes), the CRDs, the govchain operator as its own process, and the
//! control plane on SQLite with `KubeDriver`. Everything goes through the
//! HTTP API except the checks of what landed in the cluster.
//!
//! Missing Kubernetes binaries fail the test (testenv says how to get them).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use ::kube::api::{Api, ListParams};
use govchain_crds::{Chain, ChainMember};
use govchain_crypto::{PrivateKey, Suite};
use govchain_driver::{KubeDriver, KubeDriverConfig, NamespaceAccess, kube::names::parse_quantity};
use govchain_execution::DataCall;
use govchain_sdk::Wallet;
use govchain_testenv::{AgentConfig, TestEnv, TestEnvOptions};
use govchain_types::{BlockPolicy, api::SubmitMode};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{Namespace, Pod, ResourceQuota, Service},
    rbac::v1::RoleBinding,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Db, TestPlatform, eventually};

const RES: fn() -> Value = || json!({"cpu_millis": 500, "memory_mb": 256, "storage_mb": 1024});
const NS: &str = "govchain-market-gov";
const B_NS: &str = "govchain-tax-gov";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cluster: control plane + node agent, the CRDs, the operator.
struct Cluster {
    env: TestEnv,
    operator: Child,
    log: PathBuf,
}

impl Cluster {
    async fn start() -> Cluster {
        let node = govchain_driver::testing::node_bin();
        let operator = govchain_driver::testing::operator_bin();
        let opts = TestEnvOptions {
            agent: Some(AgentConfig::default().image("govchain/node", node)),
            ..TestEnvOptions::default()
        };
        let env = TestEnv::start(opts).await.expect("the Kubernetes test environment");
        for file in ["crds/govchain.io_chains.yaml", "crds/govchain.io_chainmembers.yaml"] {
            let path = repo().join(file);
            env.kubectl_ok(["apply", "--server-side", "-f", path.to_str().unwrap()]).await.unwrap();
        }
        env.kubectl_ok(["wait", "--for=condition=Established", "crd/chains.govchain.io", "--timeout=60s"])
            .await
            .unwrap();
        let log = env.dir().join("logs/operator.log");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let operator = Command::new(operator)
            .arg("--kubeconfig")
            .arg(env.kubeconfig())
            .args(["--cluster-domain", env.cluster_domain()])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--leader-election-namespace", "default"])
            .args(["--ca-namespace", "default"])
            .env("RUST_LOG", "info,govchain=debug,kube_runtime=warn")
            .env_remove("POD_NAME")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("starting govchain-operator");
        Cluster { env, operator, log }
    }

    fn operator_log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    async fn diagnostics(&self) -> String {
        let get = self
            .env
            .kubectl(["get", "chains,statefulsets,pods,services,resourcequota", "-n", NS, "-o", "wide"])
            .await
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default();
        format!("--- kubectl get ---\n{get}\n--- operator log ---\n{}", self.operator_log_tail())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.operator.kill();
        let _ = self.operator.wait();
    }
}

/// Commits one data-contract write through `api_url`.
async fn put(api_url: &str, chain_key: &str, key: &str) {
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), chain_key);
    let tx = wallet.data_call(&DataCall::Put { key: key.as_bytes().to_vec(), value: b"v".to_vec() }).unwrap();
    let client = govchain_sdk::Client::new(api_url).unwrap();
    let resp = client.submit(&tx, SubmitMode::Sync).await.unwrap();
    assert_eq!(resp.status, "committed", "{resp:?}");
}

async fn wait_request(cluster: &Cluster, c: &Client, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = c.get(&format!("/api/v1/requests/{id}")).await;
        match r["status"].as_str().unwrap() {
            "running" => return r,
            "failed" => panic!("provisioning failed: {r}\n{}", cluster.diagnostics().await),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "request {id} not running in 300 s: {r}\n{}",
            cluster.diagnostics().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn names(chain: &Value) -> Vec<String> {
    chain["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect()
}

fn quota_hard(q: &ResourceQuota, k: &str) -> String {
    q.spec.as_ref().unwrap().hard.as_ref().unwrap()[k].0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_journey_on_kubernetes() {
    let cluster = Cluster::start().await;
    let client = cluster.env.client();
    let mut cfg = KubeDriverConfig::new(env!("CARGO_PKG_VERSION"));
    cfg.cluster_domain = cluster.env.cluster_domain().to_owned();
    cfg.ready_timeout = Duration::from_secs(180);
    cfg.namespace_access = Some(NamespaceAccess {
        cluster_role: "govchain-api-namespace".into(),
        service_account_namespace: "govchain-system".into(),
        service_account: "govchain-api".into(),
    });
    let driver = KubeDriver::new(client.clone(), cfg);

    let mut tp = TestPlatform::start_on(Db::Sqlite, |_| {}, |_| Arc::new(driver)).await;
    let admin = tp.admin().await;

    // A department registers, the platform reviews it, it requests a 4-node raft chain.
    let anon = Client::anonymous(&tp.url);
    let (s, reg) = anon
        .call(
            Method::POST,
            "/api/v1/auth/register",
            Some(json!({"org_name": "Market Supervision", "domain": "market.gov",
                "username": "alice", "password": "Market-Secret-42", "real_name": "Alice Zhang"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    let a_org = reg["org"]["id"].as_i64().unwrap();
    admin
        .post(&format!("/api/v1/orgs/{a_org}/review"), json!({"approve": true, "opinion": "verified"}))
        .await;
    let a = Client::login(&tp.url, "alice", "Market-Secret-42").await;
    let req = a
        .post(
            "/api/v1/requests",
            json!({"purpose": "licence registry", "spec": {"kind": "chain", "name": "permits",
                "consensus": "raft", "suite": "gm", "nodes": 4, "resources": RES()}}),
        )
        .await;
    let req_id = req["id"].as_i64().unwrap();

    // Approval provisions it on Kubernetes: namespace, quota, Chain, Ready.
    let approved = Instant::now();
    admin.post(&format!("/api/v1/requests/{req_id}/approve"), json!({"opinion": "ok"})).await;
    let done = wait_request(&cluster, &a, req_id).await;
    let to_running = approved.elapsed();
    let chain_id = done["chain_id"].as_i64().unwrap();
    let c = a.get(&format!("/api/v1/chains/{chain_id}")).await;
    assert_eq!((c["state"].as_str(), c["driver"].as_str()), (Some("running"), Some("kubernetes")), "{c}");
    let key = c["chain_key"].as_str().unwrap().to_owned();

    let ns = Api::<Namespace>::all(client.clone()).get(NS).await.unwrap();
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["govchain.io/org"], "market.gov");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "govchain-api");
    // The api reads node bundles there through its own RoleBinding, not
    // through cluster-wide Secret access.
    let binding = Api::<RoleBinding>::namespaced(client.clone(), NS).get("govchain-api").await.unwrap();
    assert_eq!(
        (binding.role_ref.kind.as_str(), binding.role_ref.name.as_str()),
        ("ClusterRole", "govchain-api-namespace")
    );
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str(), subject.namespace.as_deref()),
        ("ServiceAccount", "govchain-api", Some("govchain-system"))
    );
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), NS).get("govchain").await.unwrap();
    // The API server normalizes quantities (2000m is 2): compare values.
    for (k, v) in [
        ("pods", "4"),
        ("persistentvolumeclaims", "4"),
        ("requests.cpu", "2000m"),
        ("requests.memory", "1024Mi"),
        ("requests.storage", "4096Mi"),
    ] {
        assert_eq!(parse_quantity(&quota_hard(&quota, k)), parse_quantity(v), "quota {k}");
    }
    let chains: Api<Chain> = Api::namespaced(client.clone(), NS);
    let cr = chains.get(&key).await.unwrap();
    assert_eq!(cr.spec.chain_id.as_deref(), Some(key.as_str()));
    assert_eq!(cr.spec.organization.as_deref(), Some("market.gov"));
    assert_eq!(cr.spec.node_groups.len(), 1);
    assert_eq!(cr.spec.node_groups[0].replicas, 4);
    assert_eq!(cr.metadata.labels.as_ref().unwrap()["govchain.io/chain-key"], key);
    let st = cr.status.clone().unwrap();
    assert_eq!(st.ready, "4/4");

    // The API's nodes are the CR's members, with heights from its status.
    let mut expected: Vec<String> = (0..4).map(|i| format!("{key}-node-{i}.{NS}")).collect();
    expected.sort();
    let mut got = names(&c);
    got.sort();
    assert_eq!(got, expected);
    assert!(c["leader"].is_string(), "{c}");
    for n in c["nodes"].as_array().unwrap() {
        assert_eq!(n["live"]["reachable"], true, "{n}");
        assert!(n["live"]["height"].is_u64(), "{n}");
        assert!(
            n["api_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!(".{NS}.svc.{}:8600", cluster.env.cluster_domain()))
        );
    }

    // A transaction through the client Service commits; the height in the API follows.
    let svc = Api::<Service>::namespaced(client.clone(), NS).get(&key).await.unwrap();
    let service_url = format!("http://{}:8600", svc.spec.unwrap().cluster_ip.unwrap());
    let h0 = c["height"].as_u64().unwrap();
    put(&service_url, &key, "first").await;
    let first_block = approved.elapsed();
    let committed = eventually("the API's height to follow the commit", Duration::from_secs(60), || async {
        let h = a.get(&format!("/api/v1/chains/{chain_id}")).await["height"].as_u64()?;
        (h > h0).then_some(h)
    })
    .await;
    println!(
        "measured: approve-to-running {to_running:?}, approve-to-first-committed-block {first_block:?} (4-node raft gm on testenv Kubernetes)"
    );

    // Another department joins: the platform creates it, A invites it, it
    // accepts and asks for a node; the approval becomes a ChainMember in its
    // own namespace, and the operator brings the node into consensus.
    let (b_org, b) = tp.tax_bureau(&admin).await;
    let inv = a
        .post(
            &format!("/api/v1/chains/{chain_id}/invitations"),
            json!({"org_domain": "tax.gov", "message": "join us"}),
        )
        .await;
    b.post(&format!("/api/v1/invitations/{}/accept", inv["id"]), json!({})).await;
    let breq = b
        .post(
            "/api/v1/requests",
            json!({"purpose": "tax node", "spec": {"kind": "nodes", "chain_id": chain_id, "count": 1, "resources": RES()}}),
        )
        .await;
    let joining = Instant::now();
    admin.post(&format!("/api/v1/requests/{}/approve", breq["id"]), json!({"opinion": "ok"})).await;
    wait_request(&cluster, &b, breq["id"].as_i64().unwrap()).await;
    println!("measured: approve-to-running of another department's node {:?}", joining.elapsed());
    let member = eventually("B's ChainMember Ready 1/1", Duration::from_secs(60), || async {
        let list =
            Api::<ChainMember>::namespaced(client.clone(), B_NS).list(&ListParams::default()).await.ok()?;
        let [m] = list.items.as_slice() else { return None };
        (m.status.as_ref()?.ready == "1/1").then(|| m.clone())
    })
    .await;
    assert_eq!((member.spec.chain.namespace.as_str(), member.spec.chain.name.as_str()), (NS, key.as_str()));
    let binding = Api::<RoleBinding>::namespaced(client.clone(), B_NS).get("govchain-api").await.unwrap();
    assert_eq!(binding.role_ref.name, "govchain-api-namespace");
    let c = a.get(&format!("/api/v1/chains/{chain_id}")).await;
    assert_eq!(c["nodes"].as_array().unwrap().len(), 5, "{c}");
    let b_node =
        c["nodes"].as_array().unwrap().iter().find(|n| n["org_id"].as_i64() == Some(b_org)).unwrap().clone();
    assert!(b_node["name"].as_str().unwrap().ends_with(&format!(".{B_NS}")), "{b_node}");
    put(&service_url, &key, "after-b").await;
    let b_pod = format!("{}-0", member.metadata.name.as_deref().unwrap());
    let b_ip = Api::<Pod>::namespaced(client.clone(), B_NS)
        .get(&b_pod)
        .await
        .unwrap()
        .status
        .unwrap()
        .pod_ip
        .unwrap();
    let b_api = govchain_sdk::Client::new(&format!("http://{b_ip}:8600")).unwrap();
    let top = govchain_sdk::Client::new(&service_url).unwrap().height().await.unwrap();
    eventually("B's node to catch up", Duration::from_secs(60), || async {
        (b_api.height().await.ok()? >= top).then_some(())
    })
    .await;

    // A block policy out of range is refused with the vocabulary's message
    // (the words the API server gives for such a Chain); a valid change
    // reaches every node, the other department's included, without a
    // restart: the operator sets it through the leader.
    let (s, body) = a
        .call(
            Method::PUT,
            &format!("/api/v1/chains/{chain_id}/policy"),
            Some(json!({"max_txs": 7, "max_bytes": 65536, "max_wait_ms": 30000})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["message"], BlockPolicy::MAX_WAIT_MS.message().as_str(), "{body}");
    let pod_ips = || async {
        let mut ips = Vec::new();
        for (ns, label) in [(NS, format!("govchain.io/chain={key}")), (B_NS, String::new())] {
            let pods =
                Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default().labels(&label)).await;
            for p in pods.unwrap().items {
                let uid = p.metadata.uid.clone().unwrap();
                ips.push((uid, p.status.and_then(|s| s.pod_ip).unwrap()));
            }
        }
        ips
    };
    let before = pod_ips().await;
    assert_eq!(before.len(), 5);
    let changing = Instant::now();
    let wanted = json!({"max_txs": 7, "max_bytes": 65536, "max_wait_ms": 5});
    let (s, changed) =
        a.call(Method::PUT, &format!("/api/v1/chains/{chain_id}/policy"), Some(wanted.clone())).await;
    assert_eq!(s, StatusCode::OK, "{changed}\n{}", cluster.diagnostics().await);
    println!("measured: block policy change on every node of 5 {:?}", changing.elapsed());
    assert_eq!(changed["block_policy"], wanted);
    for (_, ip) in &before {
        let p: Value =
            reqwest::get(format!("http://{ip}:8600/v1/policy")).await.unwrap().json().await.unwrap();
        assert_eq!(p, wanted, "node at {ip}");
    }
    assert_eq!(pod_ips().await, before, "no pod was replaced");
    let applied = chains.get(&key).await.unwrap().status.unwrap().block_policy.unwrap();
    assert_eq!((applied.max_txs, applied.max_bytes, applied.max_wait_ms), (Some(7), Some(65536), Some(5)));
    put(&service_url, &key, "after-policy").await;

    // One node cannot be stopped alone on Kubernetes; the message says what to do.
    let node0 = c["nodes"][0]["id"].as_i64().unwrap();
    let (s, body) =
        a.call(Method::POST, &format!("/api/v1/chains/{chain_id}/nodes/{node0}/stop"), Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("node group as a whole"), "{body}");
    // Its bundle comes from the ConfigMap and the group Secret.
    let (s, body) =
        a.call(Method::GET, &format!("/api/v1/chains/{chain_id}/nodes/{node0}/bundle"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Stop: spec.stopped, every pod gone, no node answers.
    let stopped = a.post(&format!("/api/v1/chains/{chain_id}/stop"), json!({})).await;
    assert_eq!(stopped["state"], "stopped");
    assert!(chains.get(&key).await.unwrap().spec.stopped);
    let pods = Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels(&format!("govchain.io/chain={key}")))
        .await
        .unwrap();
    assert!(pods.items.is_empty(), "pods left after stop: {:?}", pods.items.len());
    let c = a.get(&format!("/api/v1/chains/{chain_id}")).await;
    assert!(c["nodes"].as_array().unwrap().iter().all(|n| n["live"]["height"].is_null()), "{c}");

    // Start: the chain comes back with its ledger (no lower height than
    // before the stop), and takes transactions again.
    let started = a.post(&format!("/api/v1/chains/{chain_id}/start"), json!({})).await;
    assert_eq!(started["state"], "running");
    assert!(!chains.get(&key).await.unwrap().spec.stopped);
    let c = eventually("the chain to answer again", Duration::from_secs(60), || async {
        let c = a.get(&format!("/api/v1/chains/{chain_id}")).await;
        let all_up = c["nodes"].as_array()?.iter().all(|n| n["live"]["reachable"] == true);
        (all_up && c["leader"].is_string()).then_some(c)
    })
    .await;
    assert!(c["height"].as_u64().unwrap() >= committed, "the ledger did not survive stop/start: {c}");
    let h1 = c["height"].as_u64().unwrap();
    put(&service_url, &key, "after-restart").await;
    eventually("the height to grow after the restart", Duration::from_secs(60), || async {
        (a.get(&format!("/api/v1/chains/{chain_id}")).await["height"].as_u64()? > h1).then_some(())
    })
    .await;

    // Delete: the Chain and every child go, and the quota drops to nothing.
    let (s, body) = a.call(Method::DELETE, &format!("/api/v1/chains/{chain_id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}\n{}", cluster.diagnostics().await);
    assert!(chains.get_opt(&key).await.unwrap().is_none());
    let label = format!("govchain.io/chain={key}");
    eventually("the chain's children to go", Duration::from_secs(120), || async {
        let sets = Api::<StatefulSet>::namespaced(client.clone(), NS)
            .list(&ListParams::default().labels(&label))
            .await
            .unwrap();
        let pods = Api::<Pod>::namespaced(client.clone(), NS)
            .list(&ListParams::default().labels(&label))
            .await
            .unwrap();
        (sets.items.is_empty() && pods.items.is_empty()).then_some(())
    })
    .await;
    assert!(
        Api::<ChainMember>::namespaced(client.clone(), B_NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "B's ChainMember stayed"
    );
    for ns in [NS, B_NS] {
        let quota = Api::<ResourceQuota>::namespaced(client.clone(), ns).get("govchain").await.unwrap();
        assert_eq!(parse_quantity(&quota_hard(&quota, "pods")), Some(0.0), "{ns}");
    }
    let (s, _) = a.call(Method::GET, &format!("/api/v1/chains/{chain_id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    tp.stop().await;
}
