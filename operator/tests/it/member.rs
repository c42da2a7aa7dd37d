//! ChainMember: the example chain (4 nodes in dept-a, inviting dept-b) is
//! joined by dept-b's backup node (`crds/examples/chainmember.yaml`) and a
//! consensus node; both follow the chain's height, the voter votes, dept-b's
//! Secret holds no CA key; a ChainMember from an uninvited namespace stays
//! NotInvited; deleting the members takes their nodes out of consensus and
//! their pods away.

use std::{collections::BTreeMap, time::Duration};

use govchain_crds::{Chain, ChainMember};
use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_operator::{
    names::{self, Names},
    nodes::ConsensusMember,
    render,
};
use govchain_sdk::{Client, Wallet};
use govchain_types::api::SubmitMode;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, api::ListParams};

use crate::env::{Env, repo};

const NS: &str = "dept-a";
const MEMBER_NS: &str = "dept-b";
const CHAIN: &str = "city-ledger";
const STEP: Duration = Duration::from_secs(240);

const VOTER: &str = r#"
apiVersion: govchain.io/v1alpha1
kind: ChainMember
metadata:
  name: dept-b-voters
  namespace: dept-b
spec:
  chain: {namespace: dept-a, name: city-ledger}
  replicas: 1
  role: consensus
"#;

const UNINVITED: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: dept-c
---
apiVersion: govchain.io/v1alpha1
kind: ChainMember
metadata:
  name: gatecrasher
  namespace: dept-c
spec:
  chain: {namespace: dept-a, name: city-ledger}
  replicas: 1
"#;

async fn apply(env: &Env, manifest: &str) {
    let out = env.env.kubectl_with_input(["apply", "-f", "-"], manifest.as_bytes()).await.unwrap();
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

fn condition(m: &ChainMember, type_: &str) -> Option<(String, String)> {
    let c = m.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// The consensus configuration as the leader reports it.
async fn consensus(env: &Env, kube: &kube::Client) -> Option<Vec<ConsensusMember>> {
    let names = Names::new(CHAIN, NS, env.env.cluster_domain());
    let a = env.chain_admin(kube, NS, CHAIN).await?;
    // Any of the chain's own nodes answers with the leader's view once it follows.
    for pod in 0..4 {
        if let Ok(m) = a.members(&names.p2p(&names.pod("core", pod))).await {
            return Some(m);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chain_member_joins_and_leaves() {
    let env = Env::start().await;
    let kube = env.env.new_client().await.unwrap();
    let chains: Api<Chain> = Api::namespaced(kube.clone(), NS);
    let members_b: Api<ChainMember> = Api::namespaced(kube.clone(), MEMBER_NS);

    let example = |f: &str| repo().join("crds/examples").join(f).to_str().unwrap().to_owned();
    env.kubectl(&["apply", "-f", &example("chain.yaml")]).await;
    let (ok, out) = env
        .kubectl_try(&["wait", "--for=condition=Ready", "chain/city-ledger", "-n", NS, "--timeout=300s"])
        .await;
    assert!(ok, "the chain did not become Ready: {out}\n{}", env.diagnostics(NS).await);

    // dept-b joins: the example's backup node, and a voter.
    let joined = std::time::Instant::now();
    env.kubectl(&["apply", "-f", &example("chainmember.yaml")]).await;
    apply(&env, VOTER).await;
    for member in ["dept-b-nodes", "dept-b-voters"] {
        env.wait(&format!("ChainMember {member} Ready 1/1"), MEMBER_NS, STEP, || async {
            let m = members_b.get(member).await.ok()?;
            let s = m.status.as_ref()?;
            (condition(&m, "Ready")?.0 == "True" && s.ready == "1/1").then_some(())
        })
        .await;
    }
    eprintln!("ChainMembers applied -> both Ready: {:.1} s", joined.elapsed().as_secs_f64());
    let backup_id = "dept-b-nodes-0.dept-b";
    let voter_id = "dept-b-voters-0.dept-b";
    let cfg = env
        .wait("the leader's consensus with dept-b's learner and voter", NS, STEP, || async {
            let m = consensus(&env, &kube).await?;
            let role = |n: &str| m.iter().find(|c| c.name == n).map(|c| c.role.clone());
            (role(backup_id).as_deref() == Some("learner") && role(voter_id).as_deref() == Some("voter"))
                .then_some(m)
        })
        .await;
    assert_eq!(cfg.len(), 6, "{cfg:?}");
    let ids: std::collections::BTreeSet<u64> = cfg.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 6, "consensus ids are unique: {cfg:?}");

    // The Chain's status lists them with their namespace.
    let chain = env
        .wait("the Chain Ready with 6 members", NS, STEP, || async {
            let c = chains.get(CHAIN).await.ok()?;
            let s = c.status.as_ref()?;
            let ready = s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            (ready && s.members.len() == 6 && s.ready == "6/6").then_some(c)
        })
        .await;
    let status = chain.status.unwrap();
    for (id, role) in [(backup_id, "backup"), (voter_id, "consensus")] {
        let m = status.members.iter().find(|m| m.name == id).unwrap_or_else(|| panic!("{id} in {status:?}"));
        assert_eq!((m.namespace.as_str(), m.role.as_str(), m.ready), (MEMBER_NS, role, true), "{m:?}");
    }

    // Transactions through the chain's client Service commit; dept-b's nodes follow.
    let ip = env.jsonpath(NS, "service/city-ledger", "{.spec.clusterIP}").await;
    assert!(!ip.is_empty(), "the client Service has no cluster IP");
    let client = Client::new(&format!("http://{ip}:8600")).unwrap();
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), CHAIN);
    let mut height = 0;
    for i in 0..5 {
        let tx =
            wallet.data_call(&DataCall::Put { key: format!("m{i}").into(), value: b"v".to_vec() }).unwrap();
        let resp = client.submit(&tx, SubmitMode::Sync).await.unwrap();
        assert_eq!(resp.status, "committed", "{resp:?}");
        height = resp.receipt.as_ref().map(|r| r.height).expect("a sync submission's receipt");
    }
    let pods_b: Api<Pod> = Api::namespaced(kube.clone(), MEMBER_NS);
    for pod in ["dept-b-nodes-0", "dept-b-voters-0"] {
        env.wait(&format!("{pod} at height {height}"), MEMBER_NS, STEP, || async {
            let p = pods_b.get(pod).await.ok()?;
            let ip = p.status?.pod_ip?;
            let h = Client::new(&format!("http://{ip}:8600")).ok()?.height().await.ok()?;
            (h >= height).then_some(())
        })
        .await;
    }

    // dept-b's applications use the chain through its own client Service.
    let ip_b = env.jsonpath(MEMBER_NS, "service/dept-b-voters", "{.spec.clusterIP}").await;
    assert!(!ip_b.is_empty(), "dept-b-voters has no client Service");
    let client_b = Client::new(&format!("http://{ip_b}:8600")).unwrap();
    let tx = wallet.data_call(&DataCall::Put { key: "from-b".into(), value: b"v".to_vec() }).unwrap();
    let resp = client_b.submit(&tx, SubmitMode::Sync).await.unwrap();
    assert_eq!(resp.status, "committed", "through dept-b's Service: {resp:?}");

    // dept-b holds node keys and certificates, never a CA key.
    let secrets_b: Api<Secret> = Api::namespaced(kube.clone(), MEMBER_NS);
    for s in secrets_b.list(&ListParams::default()).await.unwrap().items {
        let keys: Vec<String> = s.data.unwrap_or_default().into_keys().collect();
        assert!(
            !keys.iter().any(|k| k == names::OPERATING_KEY || k == names::ROOT_KEY),
            "a CA key in dept-b's Secret {:?}: {keys:?}",
            s.metadata.name
        );
    }
    let keys = secrets_b.get("dept-b-nodes-member-keys").await.unwrap();
    let mut keys: Vec<String> = keys.data.unwrap_or_default().into_keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["dept-b-nodes-0.cert.pem", "dept-b-nodes-0.key.pem", "operating.pem", "root.pem"],
        "dept-b's keys Secret"
    );

    // A forced renewal reaches dept-b's nodes too: new certificates from the
    // chain CA for the same keys, written into dept-b's Secrets, one node at
    // a time, and the chain stays Ready with all six.
    let member_certs = async || {
        let mut certs = BTreeMap::new();
        for secret in ["dept-b-nodes-member-keys", "dept-b-voters-member-keys"] {
            let data = render::secret_text(&secrets_b.get(secret).await.unwrap());
            for (k, pem) in data {
                if let Some(pod) = k.strip_suffix(".cert.pem") {
                    let info = govchain_pki::parse(&pem).unwrap_or_else(|e| panic!("{k}: {e}"));
                    certs.insert(pod.to_owned(), (info.serial, info.public_key_pem));
                }
            }
        }
        certs
    };
    let before = member_certs().await;
    assert_eq!(before.len(), 2, "{before:?}");
    let renewal_started = std::time::Instant::now();
    env.kubectl(&["annotate", "chain", CHAIN, "-n", NS, "govchain.io/renew-certificates=member-renewal-1"])
        .await;
    env.wait("every certificate renewed, the Chain Ready 6/6", NS, STEP, || async {
        let c = chains.get(CHAIN).await.ok()?;
        let s = c.status.as_ref()?;
        let ready = s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        let renewed = s.certificates.as_ref()?.renewed_for.as_deref() == Some("member-renewal-1");
        (ready && renewed && s.ready == "6/6").then_some(())
    })
    .await;
    eprintln!("forced renewal of 6 nodes (2 in dept-b): {:.1} s", renewal_started.elapsed().as_secs_f64());
    let after = member_certs().await;
    for (pod, (serial, key)) in &before {
        let (new_serial, new_key) = &after[pod];
        assert_ne!(serial, new_serial, "{pod}'s certificate was not renewed");
        assert_eq!(key, new_key, "{pod} keeps its key");
    }
    let tx = wallet.data_call(&DataCall::Put { key: "renewed".into(), value: b"v".to_vec() }).unwrap();
    assert_eq!(client.submit(&tx, SubmitMode::Sync).await.unwrap().status, "committed");

    // An uninvited namespace's ChainMember stays NotInvited, with an Event.
    apply(&env, UNINVITED).await;
    let members_c: Api<ChainMember> = Api::namespaced(kube.clone(), "dept-c");
    env.wait("ChainMember dept-c/gatecrasher NotInvited", "dept-c", STEP, || async {
        let m = members_c.get("gatecrasher").await.ok()?;
        (condition(&m, "Ready")? == ("False".into(), "NotInvited".into())).then_some(())
    })
    .await;
    env.wait("a NotInvited Event in dept-c", "dept-c", STEP, || async {
        let (_, out) = env.kubectl_try(&["get", "events", "-n", "dept-c"]).await;
        out.contains("NotInvited").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (ok, pods_c) =
        env.kubectl_try(&["get", "pods,statefulsets,secrets,configmaps", "-n", "dept-c", "-o", "name"]).await;
    assert!(ok, "kubectl get in dept-c: {pods_c}");
    assert!(!pods_c.contains("gatecrasher"), "an uninvited member got objects: {pods_c}");
    let m = members_c.get("gatecrasher").await.unwrap();
    assert_eq!(condition(&m, "Ready"), Some(("False".into(), "NotInvited".into())));

    // Deleting the ChainMembers takes their nodes out of consensus, then their pods.
    env.kubectl(&["delete", "chainmember", "dept-b-nodes", "dept-b-voters", "-n", MEMBER_NS, "--wait=false"])
        .await;
    env.wait("dept-b's nodes out of consensus", NS, STEP, || async {
        let m = consensus(&env, &kube).await?;
        (m.len() == 4 && !m.iter().any(|c| c.name.ends_with(".dept-b"))).then_some(())
    })
    .await;
    env.wait("dept-b's ChainMembers and pods gone", MEMBER_NS, STEP, || async {
        let left = members_b.list(&ListParams::default()).await.ok()?.items.len();
        let pods = pods_b.list(&ListParams::default()).await.ok()?.items.len();
        (left == 0 && pods == 0).then_some(())
    })
    .await;
    env.wait("the Chain Ready 4/4 without dept-b", NS, STEP, || async {
        let c = chains.get(CHAIN).await.ok()?;
        let s = c.status.as_ref()?;
        let ready = s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && s.ready == "4/4" && s.members.iter().all(|m| m.namespace == NS)).then_some(())
    })
    .await;
    // The chain still commits.
    let tx = wallet.data_call(&DataCall::Put { key: "after".into(), value: b"v".to_vec() }).unwrap();
    let resp = client.submit(&tx, SubmitMode::Sync).await.unwrap();
    assert_eq!(resp.status, "committed", "{resp:?}");
}
