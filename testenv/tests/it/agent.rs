//! The node agent on a real apiserver: a StatefulSet of `testenv-echo` pods
//! reaches Ready, cluster DNS names resolve inside pods and from the test,
//! a Service cluster IP forwards to ready pods, volumes follow their
//! ConfigMap, a crashed container restarts, readiness follows the probe,
//! pod deletion kills the process, and dropping the environment leaves no
//! process behind.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use govchain_testenv::{AgentConfig, TestEnv, TestEnvOptions, wait_for};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, Patch, PatchParams};

use crate::alive;

const WAIT: Duration = Duration::from_secs(90);
const IMAGE: &str = "testenv/echo";

async fn env() -> TestEnv {
    let started = std::time::Instant::now();
    let agent = AgentConfig::default().image(IMAGE, env!("CARGO_BIN_EXE_testenv-echo"));
    let env = TestEnv::start(TestEnvOptions { agent: Some(agent), ..Default::default() }).await.unwrap();
    eprintln!("control plane and node agent up in {:?}", started.elapsed());
    env
}

/// One HTTP/1.1 GET (blocking, on a blocking thread): status and body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        let code = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((code, body))
    })
    .await
    .ok()?
}

async fn apply(env: &TestEnv, yaml: &str) {
    let out = env.kubectl_with_input(["apply", "-f", "-"], yaml.as_bytes()).await.unwrap();
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

fn pod_ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Pids of the `testenv-echo` processes listening on `ip` (from /proc).
fn echo_pids(ip: Option<IpAddr>) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !args.first().is_some_and(|a| a.ends_with("testenv-echo")) {
            continue;
        }
        if ip.is_none_or(|ip| args.iter().any(|a| *a == format!("{ip}:8080"))) {
            out.push(pid);
        }
    }
    out
}

const STATEFULSET: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: demo}
data: {greeting: hello}
---
apiVersion: v1
kind: Service
metadata: {name: peers, namespace: demo}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: echo}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: echo, namespace: demo}
spec:
  serviceName: peers
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: echo
        image: testenv/echo:1.0
        command: ["/testenv-echo"]
        args: ["--listen", "$(POD_IP):8080"]
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
        - {name: LISTEN, value: "$(POD_IP):8080"}
        readinessProbe:
          httpGet: {path: /readyz, port: http}
        volumeMounts:
        - {name: config, mountPath: /etc/echo}
        - {name: data, mountPath: /var/lib/echo}
      volumes:
      - name: config
        configMap: {name: cfg, defaultMode: 0400}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

#[tokio::test]
async fn statefulset_runs_resolves_and_serves() {
    let env = env().await;
    apply(&env, STATEFULSET).await;
    let client = env.client();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "demo");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "demo");
    wait_for("statefulset echo 2/2 ready", WAIT, || async {
        let s = sts.get("echo").await.ok()?;
        (s.status?.ready_replicas? == 2).then_some(())
    })
    .await
    .unwrap();

    let p0 = pods.get("echo-0").await.unwrap();
    let p1 = pods.get("echo-1").await.unwrap();
    let (ip0, ip1) = (pod_ip(&p0).unwrap(), pod_ip(&p1).unwrap());
    assert_ne!(ip0, ip1);
    for ip in [ip0, ip1] {
        let IpAddr::V4(v4) = ip else { panic!("{ip}") };
        assert_eq!(v4.octets()[0], 127);
        assert_ne!(v4.octets()[1], 0, "pod IP {ip} in 127.0.0.0/16");
    }
    let status = p0.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let cs = &status.container_statuses.unwrap()[0];
    assert!(cs.ready && cs.started == Some(true) && cs.state.as_ref().unwrap().running.is_some());

    // The pod answers on its own IP, with its env.
    let a0 = SocketAddr::new(ip0, 8080);
    let (code, body) = get(a0, "/").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.starts_with("echo-0 echo-0"), "{body}");
    assert_eq!(get(a0, "/env/GREETING").await.unwrap().1, "hello");
    assert_eq!(get(a0, "/env/LISTEN").await.unwrap().1, format!("{ip0}:8080"));

    // DNS inside the pod: the peer's stable name, the Service, the API.
    let peer = "echo-1.peers.demo.svc.cluster.local";
    let (code, body) = get(a0, &format!("/resolve/{peer}")).await.unwrap();
    assert_eq!((code, body), (200, ip1.to_string()));
    let svc: Api<Service> = Api::namespaced(client.clone(), "demo");
    let web_ip: IpAddr = svc.get("web").await.unwrap().spec.unwrap().cluster_ip.unwrap().parse().unwrap();
    for name in ["web.demo.svc.cluster.local", "web.demo.svc", "web"] {
        let (code, body) = get(a0, &format!("/resolve/{name}")).await.unwrap();
        assert_eq!((code, body), (200, web_ip.to_string()), "{name}");
    }
    // ... and from the test process.
    assert_eq!(env.resolve(peer), Some(ip1));
    assert_eq!(env.resolve("web.demo.svc.cluster.local."), Some(web_ip));
    assert_eq!(env.resolve("nothing.demo.svc.cluster.local"), None);

    // The Service's cluster IP reaches both pods.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let (code, body) = get(SocketAddr::new(web_ip, 80), "/").await.unwrap();
        assert_eq!(code, 200);
        seen.insert(body.split_whitespace().next().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // Volumes: the ConfigMap's file with its mode, and an update reaching
    // the running pod.
    assert_eq!(get(a0, "/file/etc/echo/greeting").await.unwrap().1, "hello");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"greeting": "bonjour"}})),
    )
    .await
    .unwrap();
    wait_for("the configmap update in the pod", WAIT, || async {
        (get(a0, "/file/etc/echo/greeting").await?.1 == "bonjour").then_some(())
    })
    .await
    .unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "demo");
    let claim = claims.get("data-echo-0").await.unwrap();
    assert_eq!(claim.status.unwrap().phase.as_deref(), Some("Bound"));

    assert!(env.pod_log("demo", "echo-0").contains("listening on"));

    // A command inside the container sees the pod's files and hostname.
    let out = env.exec("demo", "echo-0", None, &["sh", "-c", "cat /etc/hosts; hostname; pwd"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{ip1}\t{peer}")), "{text}");
    assert!(text.contains("\necho-0\n"), "{text}");

    // The ConfigMap volume honours defaultMode; the claim is writable.
    let out = env
        .exec(
            "demo",
            "echo-0",
            None,
            &["sh", "-c", "stat -L -c %a /etc/echo/greeting; printf 'first life' > /var/lib/echo/mark"],
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "400",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleting a pod kills its process; the StatefulSet brings it back.
    let old_pids = echo_pids(Some(ip0));
    assert_eq!(old_pids.len(), 1, "{old_pids:?}");
    assert_eq!(env.pod_pids("demo", "echo-0"), old_pids);
    let uid0 = p0.metadata.uid.clone().unwrap();
    pods.delete("echo-0", &Default::default()).await.unwrap();
    wait_for("echo-0's process to end", WAIT, || async { (!alive(old_pids[0])).then_some(()) })
        .await
        .unwrap();
    let new0 = wait_for("echo-0 recreated and ready", WAIT, || async {
        let p = pods.get("echo-0").await.ok()?;
        (p.metadata.uid.as_deref() != Some(uid0.as_str()) && ready(&p)).then_some(p)
    })
    .await
    .unwrap();
    let new_ip = pod_ip(&new0).unwrap();
    assert_ne!(new_ip, ip0);
    assert_eq!(env.resolve("echo-0.peers.demo.svc.cluster.local"), Some(new_ip));
    // The running peer's /etc/hosts follows (rewritten in place).
    let a1 = SocketAddr::new(ip1, 8080);
    wait_for("echo-1 to resolve echo-0's new address", WAIT, || async {
        let (_, body) = get(a1, "/resolve/echo-0.peers.demo.svc.cluster.local").await?;
        (body == new_ip.to_string()).then_some(())
    })
    .await
    .unwrap();
    // The claim outlived the pod: what echo-0 wrote is still there.
    let out = env.exec("demo", "echo-0", None, &["cat", "/var/lib/echo/mark"]).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first life");

    // Deleting the namespace takes everything (GC, claim protection, the
    // agent's final pod deletes).
    let claim_dirs = env.dir().join("volumes/claims/demo");
    assert_eq!(std::fs::read_dir(&claim_dirs).unwrap().count(), 2);
    let pids: Vec<u32> = ["echo-0", "echo-1"].iter().flat_map(|p| env.pod_pids("demo", p)).collect();
    assert_eq!(pids.len(), 2, "both pods run before the namespace goes: {pids:?}");
    env.kubectl_ok(["delete", "namespace", "demo", "--wait=false"]).await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    wait_for("namespace demo to be gone", WAIT, || async {
        namespaces.get_opt("demo").await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    wait_for("the claims' data to be removed", WAIT, || async {
        (std::fs::read_dir(&claim_dirs).ok()?.count() == 0).then_some(())
    })
    .await
    .unwrap();
    for pid in pids {
        assert!(!alive(pid), "pod process {pid} outlived its deleted pod");
    }
}

const RESTARTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: crashy, namespace: default, labels: {app: crashy}}
spec:
  containers:
  - name: echo
    image: testenv/echo
    command: ["/testenv-echo", "--listen", "$(POD_IP):8080"]
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NOT_READY_FILE, value: /flags/not-ready}
    readinessProbe:
      httpGet: {path: /readyz, port: 8080}
      failureThreshold: 1
    volumeMounts: [{name: flags, mountPath: /flags}]
  volumes:
  - name: flags
    hostPath: {path: FLAGS, type: DirectoryOrCreate}
"#;

#[tokio::test]
async fn restarts_and_readiness() {
    let env = env().await;
    let flags = env.dir().join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    apply(&env, &RESTARTS.replace("FLAGS", &flags.to_string_lossy())).await;
    let pods: Api<Pod> = Api::namespaced(env.client(), "default");
    let pod = wait_for("crashy ready", WAIT, || async {
        let p = pods.get("crashy").await.ok()?;
        ready(&p).then_some(p)
    })
    .await
    .unwrap();
    let addr = SocketAddr::new(pod_ip(&pod).unwrap(), 8080);

    // The probe decides Ready.
    std::fs::write(flags.join("not-ready"), b"").unwrap();
    wait_for("crashy not ready", WAIT, || async { (!ready(&pods.get("crashy").await.ok()?)).then_some(()) })
        .await
        .unwrap();
    std::fs::remove_file(flags.join("not-ready")).unwrap();
    wait_for("crashy ready again", WAIT, || async { ready(&pods.get("crashy").await.ok()?).then_some(()) })
        .await
        .unwrap();

    // A crash restarts the container and counts it.
    let (code, _) = get(addr, "/exit/3").await.unwrap();
    assert_eq!(code, 200);
    let pod = wait_for("crashy restarted and ready", WAIT, || async {
        let p = pods.get("crashy").await.ok()?;
        let cs = p.status.as_ref()?.container_statuses.as_ref()?.first()?.clone();
        (cs.restart_count == 1 && cs.ready).then_some(cs)
    })
    .await
    .unwrap();
    let last = pod.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 3);
    assert_eq!(get(addr, "/readyz").await.unwrap().0, 200);
    let log = env.pod_log("default", "crashy");
    assert_eq!(log.matches("testenv-echo  listening").count(), 2, "{log}");

    // Dropping the environment stops the pods it still runs.
    let pids = env.pod_pids("default", "crashy");
    assert_eq!(pids.len(), 1, "crashy runs: {pids:?}");
    drop(env);
    for pid in pids {
        assert!(!alive(pid), "pod process {pid} outlived the environment");
    }
}

const IN_CLUSTER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
---
apiVersion: v1
kind: Pod
metadata: {name: incluster, namespace: default}
spec:
  restartPolicy: Never
  containers:
  - name: kubectl
    image: host/kubectl
    command: ["KUBECTL", "get", "pods", "-o", "name"]
"#;

/// A pod talks to the API the in-cluster way: the ServiceAccount token,
/// CA and namespace projected by the ServiceAccount admission plugin, and
/// `KUBERNETES_SERVICE_HOST` proxied to the apiserver.
#[tokio::test]
async fn in_cluster_api_access() {
    let env = env().await;
    let kubectl = env.bin_dir().join("kubectl");
    apply(&env, &IN_CLUSTER.replace("KUBECTL", &kubectl.to_string_lossy())).await;
    let pods: Api<Pod> = Api::namespaced(env.client(), "default");
    let phase = wait_for("the in-cluster kubectl to finish", WAIT, || async {
        let p = pods.get("incluster").await.ok()?;
        let phase = p.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await
    .unwrap();
    let log = env.pod_log("default", "incluster");
    let yaml = env.kubectl_ok(["get", "pod", "incluster", "-o", "yaml"]).await.unwrap();
    assert_eq!(phase, "Succeeded", "{log}\n{yaml}");
    assert!(log.contains("pod/incluster"), "{log}");
}
