//! The committed CRDs on a real kube-apiserver: accepted and Established;
//! the examples pass server-side validation; the invalid example and illegal
//! updates are refused with the CRDs' own messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use govchain_testenv::{TestEnv, TestEnvOptions};
use govchain_types::BlockPolicy;

fn repo(rel: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    p.to_str().unwrap().to_owned()
}

async fn refused(env: &TestEnv, args: &[&str], wants: &[&str]) {
    let out = env.kubectl(args).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "kubectl {args:?} was accepted: {text}");
    for want in wants {
        assert!(text.contains(want), "kubectl {args:?}: message lacks `{want}`: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_on_a_real_apiserver() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    for file in ["crds/govchain.io_chains.yaml", "crds/govchain.io_chainmembers.yaml"] {
        env.kubectl_ok(["apply", "--server-side", "-f", &repo(file)]).await.unwrap();
    }
    env.kubectl_ok([
        "wait",
        "--for=condition=Established",
        "crd/chains.govchain.io",
        "crd/chainmembers.govchain.io",
        "--timeout=60s",
    ])
    .await
    .unwrap();
    // Namespaces for real, then the resources through server-side validation.
    env.kubectl_ok(["create", "namespace", "dept-a"]).await.unwrap();
    env.kubectl_ok(["create", "namespace", "dept-b"]).await.unwrap();
    let chain = repo("crds/examples/chain.yaml");
    env.kubectl_ok(["apply", "-f", &chain]).await.unwrap();
    env.kubectl_ok(["apply", "--dry-run=server", "-f", &repo("crds/examples/chainmember.yaml")])
        .await
        .unwrap();
    let explained = env.kubectl_ok(["explain", "chain.spec.nodeGroups"]).await.unwrap();
    assert!(explained.contains("replicas"), "{explained}");

    refused(
        &env,
        &["apply", "-f", &repo("crds/examples/invalid-chain.yaml")],
        &[
            "a solo chain has exactly one node group",
            "node group names must be unique",
            &BlockPolicy::MAX_WAIT_MS.message(),
        ],
    )
    .await;
    let patch = |p: &'static str| ["patch", "chain", "city-ledger", "-n", "dept-a", "--type=merge", "-p", p];
    refused(&env, &patch(r#"{"spec":{"cryptoSuite":"intl-r1"}}"#), &["cryptoSuite is immutable"]).await;
    refused(
        &env,
        &patch(r#"{"spec":{"nodeGroups":[{"name":"core","replicas":4,"role":"consensus","storage":{"size":"2Gi"}}]}}"#),
        &["storage size and storageClassName are immutable"],
    )
    .await;
    refused(&env, &patch(r#"{"spec":{"nodeGroups":[{"name":"core","replicas":99}]}}"#), &["replicas"]).await;
    // A block policy out of range: the message the REST API and the node give.
    for (p, limit) in [
        (r#"{"spec":{"blockPolicy":{"maxWaitMs":30000}}}"#, BlockPolicy::MAX_WAIT_MS),
        (r#"{"spec":{"blockPolicy":{"maxTxs":0}}}"#, BlockPolicy::MAX_TXS),
        (r#"{"spec":{"blockPolicy":{"maxBytes":100}}}"#, BlockPolicy::MAX_BYTES),
    ] {
        refused(&env, &patch(p), &[&limit.message()]).await;
    }
    env.kubectl_ok(patch(r#"{"spec":{"blockPolicy":{"maxWaitMs":10000}}}"#)).await.unwrap();
    // hotstuff is a consensus of the enum (refused only as a change), and
    // like raft it needs consensus nodes.
    let out = env.kubectl(patch(r#"{"spec":{"consensus":"hotstuff"}}"#)).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("consensus is immutable"), "{text}");
    assert!(!text.contains("Unsupported value"), "{text}");
    let bft = env.dir().join("bft-ledger.yaml");
    let doc = |replicas: u32| {
        format!(
            "apiVersion: govchain.io/v1alpha1\nkind: Chain\nmetadata:\n  name: bft-ledger\n  namespace: dept-a\n\
             spec:\n  consensus: hotstuff\n  version: 0.1.0\n  nodeGroups:\n    - name: core\n      replicas: {replicas}\n"
        )
    };
    let apply = ["apply", "--dry-run=server", "-f", bft.to_str().unwrap()];
    std::fs::write(&bft, doc(0)).unwrap();
    refused(&env, &apply, &["a raft or hotstuff chain needs a consensus node group"]).await;
    std::fs::write(&bft, doc(4)).unwrap();
    env.kubectl_ok(apply).await.unwrap();
    // A legal change goes through.
    env.kubectl_ok(patch(r#"{"spec":{"version":"0.1.1"}}"#)).await.unwrap();
}
