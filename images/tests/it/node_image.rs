//! The node image: built by `scripts/images.sh` with podman, run as a
//! single development node published on 127.0.0.1, and used through the
//! SDK like any node.

use std::{
    io::Write,
    process::Command,
    time::{Duration, Instant},
};

use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_images::{Component, build_images, find_tool, run, run_unchecked};
use govchain_sdk::{Client, Wallet};
use govchain_types::{TxStatus, api::SubmitMode};

const PODMAN_HINT: &str = "the image test needs podman: run scripts/podman.sh start \
     (installs Debian's podman and runc and writes /etc/containers/containers.conf)";
const STEP: Duration = Duration::from_secs(60);

/// Removes the container and the image, whatever happened in the test.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = run_unchecked(
            Command::new("podman").args(["rm", "--force", "--time", "2", &self.container]),
            STEP,
        );
        let _ = run_unchecked(Command::new("podman").args(["rmi", "--force", &self.image]), STEP);
    }
}

fn podman(args: &[&str]) -> String {
    let out = run(Command::new("podman").args(args), STEP).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn node_image_builds_and_a_node_run_from_it_commits_a_transaction() {
    // Loud, not skipped: CI must provide podman.
    find_tool("podman", PODMAN_HINT).unwrap_or_else(|e| panic!("{e}"));
    let tag = format!("test-{}", std::process::id());
    let image = format!("govchain/node:{tag}");
    let container = format!("govchain-images-test-{}", std::process::id());
    let _cleanup = Cleanup { container: container.clone(), image: image.clone() };

    let started = Instant::now();
    let built = tokio::task::spawn_blocking({
        let tag = tag.clone();
        move || build_images(&[Component::Node], &tag)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    let build_time = started.elapsed();
    assert_eq!(built[0].reference, image);
    let size = built[0].size_bytes;
    // Straight to stderr, not eprintln!: the harness captures that for
    // passing tests, and these numbers belong in the CI log.
    let _ = writeln!(
        std::io::stderr(),
        "node image {image}: {:.1} MiB, built (binary + image) in {:.1} s",
        size as f64 / (1024.0 * 1024.0),
        build_time.as_secs_f64()
    );
    // A scratch image holds the binary and an empty directory; anything
    // much larger means a base image or build junk slipped in.
    assert!(size > 1 << 20 && size < 100 << 20, "node image is {size} bytes");

    // The image is what the operator's pods expect: entrypoint, ports, a
    // numeric non-root user (runAsNonRoot can only check a number).
    let config = podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{.Config.User}} {{json .Config.ExposedPorts}}",
        &image,
    ]);
    assert!(config.starts_with(r#"["/govchain-node"] 65532:65532 "#), "image config: {config}");
    assert!(config.contains("8600/tcp") && config.contains("7600/tcp"), "image config: {config}");

    // A development node inside the container on all its interfaces,
    // published on a free loopback port of the host.
    podman(&[
        "run",
        "--detach",
        "--name",
        &container,
        "--publish",
        "127.0.0.1::8600",
        "--env",
        "RUST_LOG=warn",
        &image,
        "dev",
        "--data",
        "/var/lib/govchain/dev",
        "--listen",
        "0.0.0.0:8600",
    ]);
    // The node process runs as the image's user, not as root.
    let pid = podman(&["inspect", "--format", "{{.State.Pid}}", &container]);
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = proc_status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default();
    assert_eq!(uid.split_whitespace().nth(1), Some("65532"), "container process {pid}: {uid}");
    let port = podman(&["port", &container, "8600/tcp"]);
    let addr = port.lines().next().unwrap_or_default().trim().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "published on {port}");
    let url = format!("http://{addr}");

    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > STEP {
            let logs = run_unchecked(Command::new("podman").args(["logs", "--tail", "50", &container]), STEP)
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            panic!("{url}/readyz not ready after {STEP:?}; container log:\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = writeln!(
        std::io::stderr(),
        "node in the container ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let client = Client::new(&url).unwrap();
    let status = client.status().await.unwrap();
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), status.chain_id.clone());
    let tx = wallet
        .data_call(&DataCall::Put { key: b"image/test".to_vec(), value: b"from a container".to_vec() })
        .unwrap();
    let resp = tokio::time::timeout(STEP, client.submit(&tx, SubmitMode::Sync)).await.unwrap().unwrap();
    assert_eq!(resp.status, "committed");
    assert_eq!(resp.receipt.as_ref().map(|r| r.status), Some(TxStatus::Success), "{resp:?}");
    assert!(client.height().await.unwrap() >= 1);
    let value = client.data_value(b"image/test").await.unwrap();
    assert_eq!(value.value_utf8.as_deref(), Some("from a container"));
    let record = client.transaction(&resp.tx_id).await.unwrap();
    assert!(record.is_some(), "the committed transaction is not found by id");
}
