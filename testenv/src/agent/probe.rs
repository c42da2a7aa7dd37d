//! Readiness and liveness probes: httpGet (HTTP/1.1 to the pod IP), tcpSocket,
//! exec (`nsenter` into the container's mount and UTS namespaces and root).
//! gRPC probes are checked as a TCP connect; HTTPS httpGet as a TCP connect
//! too (the kubelet does not verify certificates either).

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Tools;

/// Resolves a probe or service port (a number, or a container port name).
pub(crate) fn port(port: &IntOrString, containers: &[&Container]) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse() {
                return Some(n);
            }
            containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }
    }
}

/// Runs one probe; true when it passes.
pub(crate) async fn check(
    probe: &Probe,
    ip: IpAddr,
    container: &Container,
    pid: Option<u32>,
    env: &[(String, String)],
    tools: &Tools,
) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).clamp(1, 10) as u64);
    let work = async {
        if let Some(http) = &probe.http_get {
            let host: IpAddr = http.host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(ip);
            let Some(port) = port(&http.port, &[container]) else {
                return false;
            };
            if http.scheme.as_deref() == Some("HTTPS") {
                return TcpStream::connect((host, port)).await.is_ok();
            }
            let path = http.path.as_deref().unwrap_or("/");
            let headers: Vec<(String, String)> =
                http.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
            return http_get(host, port, path, &headers).await;
        }
        if let Some(tcp) = &probe.tcp_socket {
            let host: IpAddr = tcp.host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(ip);
            let Some(port) = port(&tcp.port, &[container]) else {
                return false;
            };
            return TcpStream::connect((host, port)).await.is_ok();
        }
        if let Some(grpc) = &probe.grpc {
            let Ok(port) = u16::try_from(grpc.port) else {
                return false;
            };
            return TcpStream::connect((ip, port)).await.is_ok();
        }
        if let Some(exec) = &probe.exec {
            let (Some(pid), Some(command)) = (pid, exec.command.as_ref()) else {
                return false;
            };
            if command.is_empty() {
                return false;
            }
            let mut cmd = tokio::process::Command::new(&tools.nsenter);
            cmd.arg("-t")
                .arg(pid.to_string())
                .args(["-m", "-u", "-r", "-w", "--"])
                .args(command)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            return cmd.status().await.is_ok_and(|s| s.success());
        }
        false
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(false)
}

/// A minimal HTTP/1.1 GET: true for a 2xx or 3xx status.
async fn http_get(host: IpAddr, port: u16, path: &str, headers: &[(String, String)]) -> bool {
    let Ok(mut stream) = TcpStream::connect((host, port)).await else {
        return false;
    };
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kube-probe/1.36\r\nAccept: */*\r\nConnection: close\r\n",
        std::net::SocketAddr::new(host, port)
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if stream.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let line = String::from_utf8_lossy(&buf);
    let code = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    matches!(code, Some(200..=399))
}
