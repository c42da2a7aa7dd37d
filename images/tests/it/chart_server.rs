//! The chart's rendered manifests on a real kube-apiserver (govchain-testenv):
//! the CRDs apply and become Established, `helm template | kubectl apply
//! --dry-run=server` accepts every object with default and custom values,
//! and once applied, the RBAC gives the operator and the api exactly the
//! access they need (checked with `kubectl auth can-i`).

use govchain_testenv::{TestEnv, TestEnvOptions};

use crate::chart::chart;

const NS: &str = "govchain-system";

async fn kubectl(env: &TestEnv, args: &[&str]) -> String {
    env.kubectl_ok(args).await.unwrap_or_else(|e| panic!("{e}"))
}

async fn render(env: &TestEnv, extra: &[&str]) -> Vec<u8> {
    let chart = chart();
    let mut args = vec!["template", "gc", chart.to_str().unwrap(), "--namespace", NS];
    args.extend_from_slice(extra);
    let out = env.helm(&args).await.unwrap();
    assert!(out.status.success(), "helm template {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

async fn apply(env: &TestEnv, manifests: &[u8], extra: &[&str]) -> String {
    let mut args = vec!["apply", "--filename", "-"];
    args.extend_from_slice(extra);
    let out = env.kubectl_with_input(&args, manifests).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?} refused the rendered chart:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn can(env: &TestEnv, who: &str, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let sa = format!("system:serviceaccount:{NS}:{who}");
    let mut args = vec!["auth", "can-i", verb, resource, "--as", &sa];
    if let Some(ns) = ns {
        args.extend_from_slice(&["--namespace", ns]);
    }
    let out = env.kubectl(&args).await.unwrap();
    // `can-i` prints yes/no and exits 0/1; anything else is an error.
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => {
            panic!("kubectl auth can-i {verb} {resource}: {other}\n{}", String::from_utf8_lossy(&out.stderr))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_accepts_the_rendered_chart() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));

    // The CRDs first (helm installs crds/ before templates), then wait until
    // the apiserver serves them.
    let crds = chart().join("crds");
    kubectl(&env, &["apply", "--server-side", "--filename", crds.to_str().unwrap()]).await;
    kubectl(
        &env,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/chains.govchain.io",
            "crd/chainmembers.govchain.io",
        ],
    )
    .await;
    kubectl(&env, &["create", "namespace", NS]).await;

    let custom = chart().join("ci/custom-values.yaml");
    for extra in [&[][..], &["--values", custom.to_str().unwrap()]] {
        let manifests = render(&env, extra).await;
        let out = apply(&env, &manifests, &["--dry-run=server"]).await;
        for object in ["deployment.apps/", "clusterrole.rbac.authorization.k8s.io/", "service/"] {
            assert!(out.contains(object), "{extra:?}: no {object} in:\n{out}");
        }
        assert!(out.contains("(server dry run)"), "{out}");
    }

    // Applied for real, the RBAC grants what each component needs in any
    // department namespace, and no more.
    apply(&env, &render(&env, &[]).await, &[]).await;
    let op = "gc-govchain-operator";
    for (verb, resource) in [
        ("watch", "chains.govchain.io"),
        ("patch", "chains.govchain.io/status"),
        ("patch", "chainmembers.govchain.io/status"),
        ("create", "statefulsets.apps"),
        ("delete", "persistentvolumeclaims"),
        ("create", "secrets"),
        ("create", "configmaps"),
        ("create", "services"),
        ("list", "pods"),
        ("create", "poddisruptionbudgets.policy"),
        ("create", "networkpolicies.networking.k8s.io"),
        ("create", "events.events.k8s.io"),
    ] {
        assert!(can(&env, op, verb, resource, Some("dept-a")).await, "operator cannot {verb} {resource}");
    }
    assert!(can(&env, op, "update", "leases.coordination.k8s.io", Some(NS)).await);
    assert!(
        !can(&env, op, "update", "leases.coordination.k8s.io", Some("dept-a")).await,
        "leases only at home"
    );
    assert!(can(&env, op, "delete", "pods", Some("dept-a")).await, "a renewed node restarts by pod deletion");
    assert!(!can(&env, op, "create", "pods", Some("dept-a")).await);
    assert!(!can(&env, op, "create", "namespaces", None).await);

    let api = "gc-govchain-api";
    for (verb, resource, ns) in [
        ("create", "namespaces", None),
        ("create", "resourcequotas", Some("govchain-dept-a")),
        ("patch", "resourcequotas", Some("govchain-dept-a")),
        ("create", "chains.govchain.io", Some("govchain-dept-a")),
        ("update", "chains.govchain.io", Some("govchain-dept-a")),
        ("delete", "chains.govchain.io", Some("govchain-dept-a")),
        ("create", "chainmembers.govchain.io", Some("govchain-dept-b")),
        ("delete", "pods", Some("govchain-dept-a")),
        ("get", "pods/log", Some("govchain-dept-a")),
        ("create", "rolebindings.rbac.authorization.k8s.io", Some("govchain-dept-a")),
        ("bind", "clusterroles.rbac.authorization.k8s.io/gc-govchain-api-namespace", None),
    ] {
        assert!(can(&env, api, verb, resource, ns).await, "api cannot {verb} {resource}");
    }
    // No Secret is readable cluster-wide: not the chain CAs in the operator's
    // namespace, nor a department's until the api binds itself there.
    assert!(!can(&env, api, "get", "secrets", Some(NS)).await, "the api reads the CA namespace");
    assert!(!can(&env, api, "get", "secrets", Some("govchain-dept-a")).await);
    assert!(!can(&env, api, "bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None).await);
    // What the driver does on approval, as the api's service account (the
    // escalation check passes through `bind`): then it reads node bundles there.
    kubectl(&env, &["create", "namespace", "govchain-dept-a"]).await;
    let sa = format!("system:serviceaccount:{NS}:{api}");
    kubectl(
        &env,
        &[
            "create",
            "rolebinding",
            "govchain-api",
            "--namespace=govchain-dept-a",
            "--clusterrole=gc-govchain-api-namespace",
            &format!("--serviceaccount={NS}:{api}"),
            "--as",
            &sa,
        ],
    )
    .await;
    assert!(can(&env, api, "list", "secrets", Some("govchain-dept-a")).await);
    assert!(can(&env, api, "get", "configmaps", Some("govchain-dept-a")).await);
    assert!(!can(&env, api, "get", "secrets", Some(NS)).await, "still not the CA namespace");
    // What the operator owns, the api only reads.
    assert!(!can(&env, api, "create", "secrets", Some("govchain-dept-a")).await);
    assert!(!can(&env, api, "patch", "configmaps", Some("govchain-dept-a")).await);
    assert!(!can(&env, api, "create", "statefulsets.apps", Some("govchain-dept-a")).await);
    assert!(!can(&env, api, "delete", "namespaces", None).await);

    // The objects exist as rendered: the api's Deployment waits for a node
    // (there is no agent here) but is accepted with its PVC.
    let got =
        kubectl(&env, &["--namespace", NS, "get", "deployments,pvc,services", "--output", "name"]).await;
    for name in [
        "deployment.apps/gc-govchain-operator",
        "deployment.apps/gc-govchain-api",
        "persistentvolumeclaim/gc-govchain-api-data",
        "service/gc-govchain-api",
    ] {
        assert!(got.lines().any(|l| l == name), "{name} not in:\n{got}");
    }
}
