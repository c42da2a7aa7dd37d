//! A chain's life through kubectl: apply -> Ready (timed) -> refusals of bad
//! specs -> transactions through the client Service -> operator killed in
//! the middle of provisioning another chain, restarted, converging on the
//! same genesis -> delete -> every child gone.

use std::time::{Duration, Instant};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_sdk::{Client, Wallet};
use govchain_types::api::SubmitMode;

use crate::env::{CA_NS, Env, repo};

const NS: &str = "dept-a";
const READY_TIMEOUT: Duration = Duration::from_secs(300);

fn example(file: &str) -> String {
    repo().join("crds/examples").join(file).to_str().unwrap().to_owned()
}

async fn wait_ready(env: &Env, chain: &str) {
    let (ok, out) = env
        .kubectl_try(&[
            "wait",
            "--for=condition=Ready",
            &format!("chain/{chain}"),
            "-n",
            NS,
            &format!("--timeout={}s", READY_TIMEOUT.as_secs()),
        ])
        .await;
    assert!(ok, "chain {chain} did not become Ready: {out}\n{}", env.diagnostics(NS).await);
}

/// Every child of `chain` (by the instance label) that still exists.
async fn children(env: &Env, chain: &str) -> String {
    let selector = format!("app.kubernetes.io/instance={chain}");
    let (ok, out) = env
        .kubectl_try(&[
            "get",
            "statefulsets,pods,services,configmaps,secrets,poddisruptionbudgets,networkpolicies,pvc",
            "-n",
            NS,
            "-l",
            &selector,
            "-o",
            "name",
        ])
        .await;
    assert!(ok, "kubectl get children: {out}");
    // PVCs carry the StatefulSet's selector labels, so they are listed too.
    out.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chain_lifecycle_through_kubectl() {
    let mut env = Env::start().await;

    // apply -> Ready, timed.
    let applied = Instant::now();
    env.kubectl(&["apply", "-f", &example("chain.yaml")]).await;
    wait_ready(&env, "city-ledger").await;
    let took = applied.elapsed();
    eprintln!("kubectl apply -> Ready for the 4-node chain city-ledger: {:.1} s", took.as_secs_f64());

    // Bad specs are refused by the API server with the CRD's messages.
    let (ok, out) = env.kubectl_try(&["apply", "-f", &example("invalid-chain.yaml")]).await;
    assert!(!ok, "the invalid chain was accepted: {out}");
    assert!(out.contains("a solo chain has exactly one node group"), "{out}");
    assert!(out.contains("node group names must be unique"), "{out}");
    let refused_patch = async |patch: &str, message: &str| {
        let args = ["patch", "chain", "city-ledger", "-n", NS, "--type=merge", "-p", patch];
        let (ok, out) = env.kubectl_try(&args).await;
        assert!(!ok && out.contains(message), "patch {patch} was not refused with {message:?}: {out}");
    };
    refused_patch(r#"{"spec":{"cryptoSuite":"intl-r1"}}"#, "cryptoSuite is immutable").await;
    refused_patch(
        r#"{"spec":{"nodeGroups":[{"name":"core","replicas":40}]}}"#,
        "spec.nodeGroups[0].replicas",
    )
    .await;

    // Transactions through the client Service's address commit.
    let ip = env.jsonpath(NS, "service/city-ledger", "{.spec.clusterIP}").await;
    assert!(!ip.is_empty(), "the client Service has no cluster IP");
    let client = Client::new(&format!("http://{ip}:8600")).unwrap();
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), "city-ledger");
    for i in 0..3 {
        let tx =
            wallet.data_call(&DataCall::Put { key: format!("k{i}").into(), value: b"v".to_vec() }).unwrap();
        let resp = client.submit(&tx, SubmitMode::Sync).await.unwrap();
        assert_eq!(resp.status, "committed", "{resp:?}");
    }
    // kubectl get chains shows 4/4 and a height above zero.
    let line = env
        .wait("`kubectl get chains` with 4/4 and a height above 0", NS, Duration::from_secs(60), || async {
            let (_, out) = env.kubectl_try(&["get", "chains", "-n", NS, "--no-headers"]).await;
            let line = out.lines().find(|l| l.starts_with("city-ledger"))?.to_owned();
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.get(1) == Some(&"4/4")
                && cols.get(3).and_then(|h| h.parse::<u64>().ok()).is_some_and(|h| h > 0))
            .then_some(line)
        })
        .await;
    eprintln!("kubectl get chains: {line}");
    let genesis_hash = env.jsonpath(NS, "chain/city-ledger", "{.status.genesisHash}").await;
    assert_eq!(genesis_hash.len(), 64, "status.genesisHash: {genesis_hash:?}");
    let block0 = client.block("0").await.unwrap().unwrap();
    assert_eq!(genesis_hash, block0.id.to_string());
    let endpoint = env.jsonpath(NS, "chain/city-ledger", "{.status.endpoints.client}").await;
    assert_eq!(endpoint, format!("http://city-ledger.{NS}.svc.{}:8600", env.env.cluster_domain()));
    assert!(!env.jsonpath(NS, "chain/city-ledger", "{.status.leader}").await.is_empty());
    assert!(!env.jsonpath(NS, "chain/city-ledger", "{.status.certificates.earliestExpiry}").await.is_empty());

    // The operator killed in the middle of provisioning converges on the same genesis.
    let restart_chain = r#"
apiVersion: govchain.io/v1alpha1
kind: Chain
metadata:
  name: restart-ledger
  namespace: dept-a
spec:
  version: 0.1.0
  nodeGroups:
    - name: core
      replicas: 3
"#;
    let out = env.env.kubectl_with_input(["apply", "-f", "-"], restart_chain.as_bytes()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let genesis_before = env
        .wait("the genesis of restart-ledger", NS, Duration::from_secs(60), || async {
            let g = env.jsonpath(NS, "configmap/restart-ledger-config", "{.data.genesis\\.json}").await;
            (!g.is_empty()).then_some(g)
        })
        .await;
    let ca_secret = format!("secret/{NS}.restart-ledger-ca");
    let ca_before = env.jsonpath(CA_NS, &ca_secret, "{.data.root\\.pem}").await;
    assert!(!ca_before.is_empty(), "no CA Secret {CA_NS}/{ca_secret}");
    env.kill_operator();
    let ready_before = env.jsonpath(NS, "chain/restart-ledger", "{.status.ready}").await;
    assert_ne!(ready_before, "3/3", "the chain was already provisioned when the operator was killed");
    env.start_operator();
    wait_ready(&env, "restart-ledger").await;
    let genesis_after = env.jsonpath(NS, "configmap/restart-ledger-config", "{.data.genesis\\.json}").await;
    assert_eq!(genesis_before, genesis_after, "the genesis changed across the operator restart");
    assert_eq!(ca_before, env.jsonpath(CA_NS, &ca_secret, "{.data.root\\.pem}").await);
    let hash = env.jsonpath(NS, "chain/restart-ledger", "{.status.genesisHash}").await;
    assert_eq!(hash.len(), 64, "{hash:?}");

    // The CA key stays in the operator's namespace: the department's holds
    // CA certificates and node keys only.
    let (ok, keys) = env.kubectl_try(&["get", "secrets", "-n", NS, "-o", "jsonpath={.items[*].data}"]).await;
    assert!(ok && keys.contains("root.pem"), "{keys}");
    assert!(
        !keys.contains("root-key.pem") && !keys.contains("operating-key.pem"),
        "a CA key in {NS}: {keys}"
    );

    // Delete: every child goes (PVCs under Delete retention too), and the
    // CA and operator identity Secrets with them (the Chain's finalizer).
    env.kubectl(&["delete", "chain", "city-ledger", "-n", NS, "--wait=true", "--timeout=120s"]).await;
    env.wait("every child of city-ledger gone", NS, Duration::from_secs(120), || async {
        children(&env, "city-ledger").await.is_empty().then_some(())
    })
    .await;
    let (ok, left) = env.kubectl_try(&["get", "secrets", "-n", CA_NS, "-o", "name"]).await;
    assert!(ok, "{left}");
    assert!(!left.contains("city-ledger"), "the CA Secrets of city-ledger stayed: {left}");
    assert!(left.contains(&format!("secret/{NS}.restart-ledger-ca")), "{left}");
    // The other chain is untouched.
    assert!(!children(&env, "restart-ledger").await.is_empty());
}
