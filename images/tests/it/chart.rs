//! The Helm chart `charts/govchain`: lint, render with default and
//! non-default values, the schema's refusals, and the CRDs it ships.

use std::{path::PathBuf, process::Command, sync::OnceLock, time::Duration};

use govchain_images::{k8s_bin_dir, repo_root, run, run_unchecked, workspace_version};
use serde::Deserialize;
use serde_yaml::Value;

const BOUND: Duration = Duration::from_secs(60);
const CRDS: [(&str, &str); 2] = [
    ("govchain.io_chains.yaml", "chains.govchain.io"),
    ("govchain.io_chainmembers.yaml", "chainmembers.govchain.io"),
];

pub fn chart() -> PathBuf {
    repo_root().join("charts/govchain")
}

pub fn helm() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let dir = BIN.get_or_init(|| k8s_bin_dir().unwrap_or_else(|e| panic!("{e}")));
    let mut cmd = Command::new(dir.join("helm"));
    // helm keeps caches and config under $HOME; a test must not depend on
    // or change the user's.
    let home = std::env::temp_dir().join("govchain-images-helm-home");
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}

/// `helm template` of the chart with `args`, as parsed documents.
pub fn template(args: &[&str]) -> Vec<Value> {
    let out = run(
        helm()
            .args(["template", "gc", chart().to_str().unwrap(), "--namespace", "govchain-system"])
            .args(args),
        BOUND,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    assert!(!docs.is_empty(), "helm template rendered nothing");
    docs
}

fn custom_values() -> String {
    chart().join("ci/custom-values.yaml").to_str().unwrap().to_owned()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", summary(docs)))
}

fn summary(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            format!("{}/{}", d["kind"].as_str().unwrap_or("?"), d["metadata"]["name"].as_str().unwrap_or("?"))
        })
        .collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_sequence().map(|s| s.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// Whether a ClusterRole/Role grants `verb` on `group`/`resource`.
fn grants(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    role["rules"].as_sequence().unwrap().iter().any(|r| {
        strs(&r["apiGroups"]).contains(&group)
            && strs(&r["resources"]).contains(&resource)
            && strs(&r["verbs"]).contains(&verb)
    })
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"].as_sequence()?.iter().find(|e| e["name"].as_str() == Some(name))
}

/// The hardening every container of the chart must have.
fn assert_hardened(deploy: &Value) {
    let name = deploy["metadata"]["name"].as_str().unwrap();
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true), "{name}");
    assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap() > 0, "{name}");
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"].as_str(), Some("RuntimeDefault"), "{name}");
    for c in pod["containers"].as_sequence().unwrap() {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], Value::Bool(true), "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], Value::Bool(false), "{name}");
        assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
        assert!(c["resources"]["requests"]["memory"].as_str().is_some(), "{name}: no memory request");
        assert!(c["resources"]["limits"]["memory"].as_str().is_some(), "{name}: no memory limit");
        for probe in ["livenessProbe", "readinessProbe"] {
            assert!(c[probe]["httpGet"]["path"].as_str().is_some(), "{name}: no {probe}");
        }
    }
}

#[test]
fn chart_ships_the_generated_crds() {
    for (file, crd) in CRDS {
        let path = chart().join("crds").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): the chart ships the CRDs the govchain-crds generator writes; \
                 run `UPDATE_CRDS=1 cargo test -p govchain-crds`",
                path.display()
            )
        });
        let doc: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc["kind"].as_str(), Some("CustomResourceDefinition"), "{}", path.display());
        assert_eq!(doc["metadata"]["name"].as_str(), Some(crd), "{}", path.display());
        assert_eq!(doc["spec"]["group"].as_str(), Some("govchain.io"));
        assert!(strs(&doc["spec"]["names"]["categories"]).contains(&"govchain"), "{crd}: category");
    }
}

#[test]
fn chart_version_follows_the_workspace() {
    let chart_yaml: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(chart_yaml["version"].as_str(), Some(workspace_version()), "Chart.yaml version");
    assert_eq!(chart_yaml["appVersion"].as_str(), Some(workspace_version()), "Chart.yaml appVersion");
}

#[test]
fn helm_lint_strict_passes_with_default_and_custom_values() {
    for extra in [vec![], vec!["--values".to_owned(), custom_values()]] {
        let out =
            run_unchecked(helm().args(["lint", "--strict", chart().to_str().unwrap()]).args(&extra), BOUND)
                .unwrap_or_else(|e| panic!("{e}"));
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "helm lint --strict {extra:?}:\n{text}");
        assert!(text.contains("1 chart(s) linted, 0 chart(s) failed"), "{text}");
        assert!(!text.contains("[WARNING]") && !text.contains("[ERROR]"), "{text}");
    }
}

#[test]
fn default_values_render_the_operator_and_the_api() {
    let docs = template(&[]);
    let version = workspace_version();
    for d in &docs {
        let labels = &d["metadata"]["labels"];
        for key in ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of"] {
            assert!(
                labels[key].as_str().is_some(),
                "{key} missing on {:?}",
                summary(std::slice::from_ref(d))
            );
        }
        assert_eq!(labels["app.kubernetes.io/version"].as_str(), Some(version));
        assert_eq!(labels["app.kubernetes.io/managed-by"].as_str(), Some("Helm"));
    }

    // The operator: image from appVersion, flags, probes on the metrics port.
    let op = find(&docs, "Deployment", "gc-govchain-operator");
    assert_hardened(op);
    let pod = &op["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"].as_str(), Some("gc-govchain-operator"));
    let c = &pod["containers"][0];
    assert_eq!(c["image"].as_str(), Some(format!("govchain/operator:{version}").as_str()));
    let args = strs(&c["args"]);
    assert!(args.contains(&"--metrics-listen=0.0.0.0:8080"), "{args:?}");
    assert!(args.contains(&"--cluster-domain=cluster.local"), "{args:?}");
    assert!(args.contains(&"--leader-election-name=gc-govchain-operator"), "one Lease per release: {args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--namespace")), "{args:?}");
    assert!(args.contains(&"--ca-namespace=govchain-system"), "the CAs in the release namespace: {args:?}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(8080));
    let selector = &op["spec"]["selector"]["matchLabels"];
    assert_eq!(selector["app.kubernetes.io/component"].as_str(), Some("operator"));
    assert_eq!(
        op["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"].as_str(),
        Some("operator")
    );
    find(&docs, "Service", "gc-govchain-operator-metrics");

    // Exactly the access the operator needs, and no wildcard.
    let role = find(&docs, "ClusterRole", "gc-govchain-operator");
    for rule in role["rules"].as_sequence().unwrap() {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(!strs(&rule[field]).contains(&"*"), "wildcard in the operator's {field}");
        }
    }
    for (group, resource, verbs) in [
        ("govchain.io", "chains", &["get", "list", "watch", "patch"][..]),
        ("govchain.io", "chainmembers", &["get", "list", "watch", "patch"]),
        ("govchain.io", "chains/status", &["get", "patch"]),
        ("govchain.io", "chainmembers/status", &["get", "patch"]),
        ("apps", "statefulsets", &["get", "list", "watch", "create", "patch", "delete"]),
        ("", "services", &["get", "list", "watch", "create", "patch", "delete"]),
        ("", "configmaps", &["get", "list", "watch", "create", "patch", "delete"]),
        ("", "secrets", &["get", "list", "watch", "create", "patch", "delete"]),
        ("", "persistentvolumeclaims", &["get", "list", "watch", "delete"]),
        // Deleting a pod restarts a node after its certificate was renewed.
        ("", "pods", &["get", "list", "watch", "delete"]),
        ("policy", "poddisruptionbudgets", &["get", "list", "watch", "create", "patch", "delete"]),
        ("networking.k8s.io", "networkpolicies", &["get", "list", "watch", "create", "patch", "delete"]),
        ("events.k8s.io", "events", &["create", "patch"]),
    ] {
        for verb in verbs {
            assert!(grants(role, group, resource, verb), "operator lacks {verb} on {group}/{resource}");
        }
    }
    // The StatefulSets make the pods; the operator never does.
    assert!(!grants(role, "", "pods", "create") && !grants(role, "", "pods", "patch"));
    let lease = find(&docs, "Role", "gc-govchain-operator-leader-election");
    assert_eq!(lease["metadata"]["namespace"].as_str(), Some("govchain-system"));
    for verb in ["get", "create", "update"] {
        assert!(grants(lease, "coordination.k8s.io", "leases", verb));
    }
    let binding = find(&docs, "ClusterRoleBinding", "gc-govchain-operator");
    assert_eq!(binding["subjects"][0]["name"].as_str(), Some("gc-govchain-operator"));
    assert_eq!(binding["subjects"][0]["namespace"].as_str(), Some("govchain-system"));

    // The api: `govchain up` on SQLite in a kept PVC, one replica, replaced
    // (never overlapped) on upgrade.
    let api = find(&docs, "Deployment", "gc-govchain-api");
    assert_hardened(api);
    assert_eq!(api["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(api["spec"]["strategy"]["type"].as_str(), Some("Recreate"));
    let pod = &api["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"].as_str(), Some(format!("govchain/api:{version}").as_str()));
    assert_eq!(strs(&c["args"])[..2], ["up", "--data=/var/lib/govchain"]);
    assert!(strs(&c["args"]).contains(&"--listen=0.0.0.0:8080"));
    assert!(env(c, "GOVCHAIN_DATABASE_URL").is_none());
    assert!(env(c, "GOVCHAIN_ADMIN_PASSWORD").is_none());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    let volumes = pod["volumes"].as_sequence().unwrap();
    let data = volumes.iter().find(|v| v["name"].as_str() == Some("data")).unwrap();
    assert_eq!(data["persistentVolumeClaim"]["claimName"].as_str(), Some("gc-govchain-api-data"));
    let mounts: Vec<&str> =
        c["volumeMounts"].as_sequence().unwrap().iter().filter_map(|m| m["mountPath"].as_str()).collect();
    assert!(mounts.contains(&"/var/lib/govchain") && mounts.contains(&"/tmp"), "{mounts:?}");
    let pvc = find(&docs, "PersistentVolumeClaim", "gc-govchain-api-data");
    assert_eq!(pvc["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(), Some("keep"));
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"].as_str(), Some("1Gi"));
    let svc = find(&docs, "Service", "gc-govchain-api");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    assert_eq!(svc["spec"]["selector"], api["spec"]["selector"]["matchLabels"]);
    let args = strs(&c["args"]);
    for arg in [
        "--driver=kubernetes",
        "--node-image=govchain/node",
        &format!("--node-version={version}"),
        "--cluster-domain=cluster.local",
        "--namespace-prefix=govchain-",
    ] {
        assert!(args.contains(&arg), "{arg} not in {args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--storage-class")), "{args:?}");
    let role = find(&docs, "ClusterRole", "gc-govchain-api");
    for (group, resource, verb) in [
        ("", "namespaces", "create"),
        ("", "namespaces", "patch"),
        ("", "resourcequotas", "create"),
        ("", "resourcequotas", "patch"),
        ("govchain.io", "chains", "create"),
        ("govchain.io", "chains", "update"),
        ("govchain.io", "chains", "delete"),
        ("govchain.io", "chainmembers", "create"),
        ("", "pods", "delete"),
        ("", "pods/log", "get"),
        ("rbac.authorization.k8s.io", "rolebindings", "create"),
        ("rbac.authorization.k8s.io", "clusterroles", "bind"),
    ] {
        assert!(grants(role, group, resource, verb), "api lacks {verb} on {group}/{resource}");
    }
    // Secrets only through the per-namespace role the api binds in each
    // organization namespace: never cluster-wide (the chain CAs).
    assert!(!grants(role, "", "secrets", "get"), "the api reads Secrets cluster-wide");
    let namespace_role = find(&docs, "ClusterRole", "gc-govchain-api-namespace");
    assert!(grants(namespace_role, "", "secrets", "get") && grants(namespace_role, "", "configmaps", "list"));
    assert!(args.contains(&"--namespace-role=gc-govchain-api-namespace"), "{args:?}");
    // The api never writes what the operator owns.
    for (group, resource) in [("", "secrets"), ("", "configmaps"), ("apps", "statefulsets"), ("", "pods")] {
        for verb in ["create", "patch", "update"] {
            assert!(!grants(role, group, resource, verb), "api may {verb} {group}/{resource}");
        }
    }
    assert!(!grants(role, "", "namespaces", "delete"));
    find(&docs, "ServiceAccount", "gc-govchain-api");
    find(&docs, "ClusterRoleBinding", "gc-govchain-api");
}

#[test]
fn custom_values_render_postgres_several_replicas_and_no_volume() {
    let docs = template(&["--values", &custom_values()]);
    assert!(
        docs.iter().all(|d| d["metadata"]["labels"]["team"].as_str() == Some("platform")),
        "commonLabels on every resource"
    );
    // The operator with an existing ServiceAccount, watching one namespace.
    let op = find(&docs, "Deployment", "gov-operator");
    assert_hardened(op);
    assert_eq!(op["spec"]["replicas"].as_u64(), Some(2));
    let pod = &op["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"].as_str(), Some("existing-operator-sa"));
    assert_eq!(pod["imagePullSecrets"][0]["name"].as_str(), Some("registry-login"));
    assert_eq!(pod["priorityClassName"].as_str(), Some("system-cluster-critical"));
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"].as_str(), Some("linux"));
    assert_eq!(pod["tolerations"][0]["key"].as_str(), Some("dedicated"));
    let c = &pod["containers"][0];
    assert_eq!(c["image"].as_str(), Some("registry.example.invalid/govchain/operator:0.1.0-rc.1"));
    assert_eq!(c["imagePullPolicy"].as_str(), Some("Always"));
    let args = strs(&c["args"]);
    assert!(
        args.contains(&"--metrics-listen=0.0.0.0:9090")
            && args.contains(&"--cluster-domain=k8s.example.internal")
    );
    assert!(args.contains(&"--namespace=dept-a"), "{args:?}");
    assert!(args.contains(&"--leader-election-name=gov-operator"), "{args:?}");
    assert_eq!(env(c, "RUST_LOG").unwrap()["value"].as_str(), Some("govchain=debug,info"));
    assert_eq!(env(c, "EXTRA").unwrap()["value"].as_str(), Some("1"));
    assert_eq!(c["resources"]["limits"]["cpu"], Value::from(1));
    let kinds = summary(&docs);
    assert!(!kinds.iter().any(|k| k.starts_with("ServiceAccount/gov-operator")), "{kinds:?}");
    let lease = find(&docs, "Role", "gov-operator-leader-election");
    assert_eq!(lease["metadata"]["labels"]["team"].as_str(), Some("platform"));
    assert!(!kinds.iter().any(|k| k == "Service/gov-operator-metrics"), "{kinds:?}");
    let binding = find(&docs, "ClusterRoleBinding", "gov-operator");
    assert_eq!(binding["subjects"][0]["name"].as_str(), Some("existing-operator-sa"));

    // The api on PostgreSQL from a Secret: several replicas, rolling update,
    // an emptyDir instead of a PVC, the admin password from a Secret.
    let api = find(&docs, "Deployment", "gov-api");
    assert_hardened(api);
    assert_eq!(api["spec"]["replicas"].as_u64(), Some(2));
    assert!(api["spec"]["strategy"].is_null(), "no Recreate with PostgreSQL");
    let pod = &api["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let db = &env(c, "GOVCHAIN_DATABASE_URL").expect("database URL env")["valueFrom"]["secretKeyRef"];
    assert_eq!((db["name"].as_str(), db["key"].as_str()), (Some("govchain-db"), Some("dsn")));
    let pw = &env(c, "GOVCHAIN_ADMIN_PASSWORD").expect("admin password env")["valueFrom"]["secretKeyRef"];
    assert_eq!((pw["name"].as_str(), pw["key"].as_str()), (Some("govchain-admin"), Some("pw")));
    assert!(strs(&c["args"]).contains(&"--listen=0.0.0.0:9000"));
    assert!(strs(&c["args"]).contains(&"--idle-timeout-secs=600"));
    for arg in [
        "--node-image=registry.example.invalid/govchain/node",
        "--node-version=0.1.0-rc.1",
        "--namespace-prefix=gc-",
        "--cluster-domain=k8s.example.internal",
        "--storage-class=fast-ssd",
        "--ready-timeout-secs=600",
    ] {
        assert!(strs(&c["args"]).contains(&arg), "{arg} not in {:?}", c["args"]);
    }
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(9000));
    let data =
        pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"].as_str() == Some("data")).unwrap();
    assert!(data["emptyDir"].is_mapping() && data["persistentVolumeClaim"].is_null(), "{data:?}");
    assert!(!kinds.iter().any(|k| k.starts_with("PersistentVolumeClaim/")), "{kinds:?}");
    let svc = find(&docs, "Service", "gov-api");
    assert_eq!(svc["spec"]["type"].as_str(), Some("NodePort"));
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(80));
    assert_eq!(svc["metadata"]["annotations"]["example.invalid/exposed"].as_str(), Some("yes"));

    // Each half can be turned off.
    let only_api = summary(&template(&["--set", "operator.enabled=false"]));
    assert!(only_api.iter().all(|k| !k.contains("operator")), "{only_api:?}");
    assert!(only_api.contains(&"Deployment/gc-govchain-api".to_owned()));
    let only_op = summary(&template(&["--set", "api.enabled=false"]));
    assert!(only_op.iter().all(|k| !k.contains("-api")), "{only_op:?}");
}

#[test]
fn invalid_values_are_refused_with_a_readable_message() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |name: &str, yaml: &str, expect: &[&str]| {
        let file = dir.path().join(name);
        std::fs::write(&file, yaml).unwrap();
        let out = run_unchecked(
            helm().args(["template", "gc", chart().to_str().unwrap(), "--values", file.to_str().unwrap()]),
            BOUND,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted:\n{}", String::from_utf8_lossy(&out.stdout));
        for e in expect {
            assert!(stderr.contains(e), "{name}: expected `{e}` in:\n{stderr}");
        }
    };
    refused(
        "types.yaml",
        "api:\n  replicas: two\n  service:\n    type: Ingress\n",
        &["/api/replicas", "want integer", "/api/service/type", "ClusterIP"],
    );
    refused("typo.yaml", "operator:\n  imagee:\n    tag: x\n", &["/operator", "imagee", "not allowed"]);
    refused(
        "root.yaml",
        "podSecurityContext:\n  runAsNonRoot: false\n",
        &["/podSecurityContext/runAsNonRoot"],
    );
    refused("pull.yaml", "operator:\n  image:\n    pullPolicy: Sometimes\n", &["/operator/image/pullPolicy"]);
    refused("port.yaml", "api:\n  port: 70000\n", &["/api/port"]);
    refused("size.yaml", "api:\n  persistence:\n    size: lots\n", &["/api/persistence/size"]);
    // A rule the schema cannot express: the template says why.
    refused(
        "sqlite.yaml",
        "api:\n  replicas: 2\n",
        &["api.replicas > 1 needs api.database.postgres.existingSecret"],
    );
}
