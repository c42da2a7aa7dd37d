//! The control plane alone: it starts, kubectl and the client work, and
//! nothing outlives the environment.

use std::time::Instant;

use govchain_testenv::{TestEnv, TestEnvOptions};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, PostParams};

use crate::alive;

#[tokio::test]
async fn control_plane_starts_and_stops_cleanly() {
    let started = Instant::now();
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    eprintln!("control plane up in {:?}", started.elapsed());

    let out = env.kubectl_ok(["get", "--raw", "/readyz"]).await.unwrap();
    assert_eq!(out.trim(), "ok");

    let helm = env.helm(["list", "--all-namespaces"]).await.unwrap();
    assert!(helm.status.success(), "helm: {}", String::from_utf8_lossy(&helm.stderr));

    let client = env.client();
    let ns: Api<Namespace> = Api::all(client.clone());
    let created = ns
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "t1"}})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("t1"));

    // Services get cluster IPs from the environment's loopback range.
    let svc: Api<Service> = Api::namespaced(client, "default");
    let kubernetes = svc.get("kubernetes").await.unwrap();
    let ip = kubernetes.spec.unwrap().cluster_ip.unwrap();
    assert!(ip.starts_with("127."), "cluster IP {ip}");
    assert!(!ip.starts_with("127.0."), "cluster IP {ip}");

    let version = env.new_client().await.unwrap().apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.36.3");

    let pids = env.control_plane_pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));
    let dir = env.dir().to_path_buf();
    drop(env);
    assert!(pids.iter().all(|p| !alive(*p)), "a control-plane process outlived the env");
    assert!(!dir.exists(), "environment dir {} left behind", dir.display());
}

#[tokio::test]
async fn two_environments_side_by_side() {
    let (a, b) =
        tokio::join!(TestEnv::start(TestEnvOptions::default()), TestEnv::start(TestEnvOptions::default()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.apiserver_url(), b.apiserver_url());
    assert_ne!(a.service_cidr(), b.service_cidr());
    for env in [&a, &b] {
        let out = env.kubectl_ok(["create", "namespace", "same-name"]).await.unwrap();
        assert!(out.contains("created"), "{out}");
    }
}
