//! A tiny HTTP server for govchain-testenv's own tests, run as a pod's
//! container by the node agent: `testenv-echo --listen <ip:port>`.
//!
//! - `GET /readyz`: 200, or 503 while the file named by env `NOT_READY_FILE`
//!   exists;
//! - `GET /`: `POD_NAME` (env) and the hostname;
//! - `GET /resolve/<name>`: the address `<name>` resolves to inside the pod;
//! - `GET /env/<NAME>`: an environment variable;
//! - `GET /file/<path>`: a file's contents (path without the leading `/`);
//! - `GET /exit/<code>`: exits with that code (to test restarts).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};

fn respond(stream: &mut TcpStream, code: u16, body: &str) {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(mut stream: TcpStream) {
    let mut line = String::new();
    {
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            return;
        }
        // Drain the headers.
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
            header.clear();
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if path == "/readyz" {
        let not_ready = std::env::var_os("NOT_READY_FILE").is_some_and(|f| std::path::Path::new(&f).exists());
        if not_ready {
            respond(&mut stream, 503, "not ready\n");
        } else {
            respond(&mut stream, 200, "ok\n");
        }
    } else if path == "/" {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        respond(&mut stream, 200, &format!("{} {}\n", env("POD_NAME"), host.trim()));
    } else if let Some(name) = path.strip_prefix("/resolve/") {
        match (name, 0).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => respond(&mut stream, 200, &addr.ip().to_string()),
            _ => respond(&mut stream, 404, "unresolved"),
        }
    } else if let Some(name) = path.strip_prefix("/env/") {
        match std::env::var(name) {
            Ok(v) => respond(&mut stream, 200, &v),
            Err(_) => respond(&mut stream, 404, "unset"),
        }
    } else if let Some(file) = path.strip_prefix("/file/") {
        match std::fs::read_to_string(format!("/{file}")) {
            Ok(v) => respond(&mut stream, 200, &v),
            Err(e) => respond(&mut stream, 404, &e.to_string()),
        }
    } else if let Some(code) = path.strip_prefix("/exit/") {
        respond(&mut stream, 200, "bye\n");
        let _ = stream.flush();
        std::process::exit(code.parse().unwrap_or(1));
    } else {
        respond(&mut stream, 404, "no such path\n");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("testenv-echo: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    println!("testenv-echo {} listening on {listen}", std::env::var("POD_NAME").unwrap_or_default());
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || handle(stream));
    }
}
