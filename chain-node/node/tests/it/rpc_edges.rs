//! The node API at its edges, over real HTTP and WebSocket connections on
//! loopback: size limits equal for both transaction forms, unknown fields,
//! routes and methods refused with `{code, message}`, close frames for
//! WebSocket protocol violations, and the `(sender, nonce)` rule at
//! admission, also across a restart of the node binary.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_node::rpc::MAX_TX_BYTES;
use govchain_types::{Encode, MAX_DATA, Transaction, TxBody, TxType, now_ms};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, protocol::frame::coding::CloseCode};

use crate::{
    crash::spawn_node,
    support::{init, start},
};

const SUITE: Suite = Suite::IntlR1;

/// A transaction of `key` with a chosen nonce, calling `recipient`.
fn tx(key: &PrivateKey, nonce: u64, recipient: &str, data: Vec<u8>) -> Transaction {
    TxBody {
        chain_id: "test-chain".into(),
        tx_type: TxType::Invoke,
        timestamp_ms: now_ms(),
        nonce,
        sender: key.address(),
        recipient: recipient.into(),
        data,
        memo: String::new(),
        signers: Vec::new(),
    }
    .sign(&[key])
    .expect("sign")
}

fn put(key: &PrivateKey, nonce: u64, k: &str, v: &str) -> Transaction {
    tx(key, nonce, "data", DataCall::Put { key: k.into(), value: v.into() }.encode())
}

/// Posts a transaction in one form; returns the status and the JSON body.
/// A fresh connection each time: the server may close a connection whose
/// oversized body it refused without reading it.
async fn post_tx(url: &str, tx: &Transaction, binary: bool, mode: &str) -> (u16, Value) {
    let (ct, body) = if binary {
        ("application/octet-stream", tx.encode())
    } else {
        ("application/json", serde_json::to_vec(tx).expect("json"))
    };
    post_raw(url, ct, body, mode).await
}

async fn post_raw(url: &str, ct: &str, body: Vec<u8>, mode: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/transactions?mode={mode}"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("http");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

fn assert_error(body: &Value, code: &str) -> String {
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_and_errors_are_the_same_for_json_and_binary() {
    let t = start(SUITE).await;
    let key = PrivateKey::generate(SUITE);
    // The largest payload is accepted in both forms.
    for (nonce, binary) in [(1, false), (2, true)] {
        let (status, body) =
            post_tx(&t.url, &tx(&key, nonce, "data", vec![7; MAX_DATA]), binary, "async").await;
        assert_eq!(status, 202, "binary={binary}: {body}");
    }
    // One byte more: the same refusal, word for word.
    let over = tx(&key, 3, "data", vec![7; MAX_DATA + 1]);
    let json = post_tx(&t.url, &over, false, "async").await;
    let binary = post_tx(&t.url, &over, true, "async").await;
    assert_eq!(json, binary);
    assert_eq!(json.0, 400);
    assert!(assert_error(&json.1, "invalid_transaction").contains("data too long"), "{}", json.1);
    // A transaction over the size limit (a large memo and a certificate
    // would do the same): 413, the same body in both forms.
    let mut big = tx(&key, 4, "data", vec![7; MAX_DATA]);
    big.body.signers[0].certificate = Some(vec![1; MAX_TX_BYTES - MAX_DATA]);
    let json = post_tx(&t.url, &big, false, "async").await;
    let binary = post_tx(&t.url, &big, true, "async").await;
    assert_eq!(json, binary);
    assert_eq!(json.0, 413);
    assert!(assert_error(&json.1, "payload_too_large").contains(&MAX_TX_BYTES.to_string()));
    // Far past it the body is not even read: the answer comes from the
    // declared length alone, before a byte of the body is sent. (A client
    // that streams such a body regardless may see the connection closed
    // under it, as with any server that refuses to read it.)
    let huge = tx(&key, 5, "data", vec![7; 3 * MAX_DATA]);
    let json_len = serde_json::to_vec(&huge).expect("json").len();
    let refused = announce_only(&t.url, "application/json", json_len).await;
    assert_eq!(refused.0, 413, "{}", refused.1);
    assert_error(&refused.1, "payload_too_large");
    assert_eq!(announce_only(&t.url, "application/octet-stream", huge.encode().len()).await, refused);
}

/// Sends only the head of a transaction POST that declares `len` body bytes
/// and reads the answer the node gives without waiting for the body.
async fn announce_only(url: &str, ct: &str, len: usize) -> (u16, Value) {
    let addr = url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/transactions?mode=async HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {ct}\r\n\
         content-length: {len}\r\nconnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write the head");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the node answers without the body")
        .expect("read the answer");
    let text = String::from_utf8(answer).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, serde_json::from_str(body).expect("a JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_in_a_transaction_are_refused_by_name() {
    let t = start(SUITE).await;
    let key = PrivateKey::generate(SUITE);
    let good = serde_json::to_value(put(&key, 1, "k", "v")).expect("json");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        serde_json::to_vec(&v).expect("json")
    };
    for (body, field) in [
        (with(&|v| v["body"]["colour"] = "red".into()), "colour"),
        (with(&|v| v["signed_by"] = "me".into()), "signed_by"),
        (with(&|v| v["body"]["signers"][0]["role"] = "admin".into()), "role"),
    ] {
        let (status, answer) = post_raw(&t.url, "application/json", body, "sync").await;
        assert_eq!(status, 400, "{answer}");
        let message = assert_error(&answer, "invalid_json");
        assert!(message.contains(&format!("unknown field `{field}`")), "{message}");
    }
    // The same transaction without extras goes through.
    let (status, answer) = post_raw(&t.url, "application/json", with(&|_| {}), "sync").await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_wrong_methods_and_rejections_answer_code_and_message() {
    let t = start(SUITE).await;
    let http = reqwest::Client::new();
    let check = |resp: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(resp.status().as_u16(), status, "{code}");
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(ct.starts_with("application/json"), "{code}: content type {ct}");
        let body: Value = resp.json().await.expect("JSON body");
        assert_error(&body, code)
    };
    let m =
        check(http.get(format!("{}/v1/nowhere", t.url)).send().await.expect("http"), 404, "not_found").await;
    assert_eq!(m, "no route for GET /v1/nowhere");
    let m = check(http.post(format!("{}/", t.url)).send().await.expect("http"), 404, "not_found").await;
    assert_eq!(m, "no route for POST /");

    let resp = http.delete(format!("{}/v1/transactions", t.url)).send().await.expect("http");
    assert_eq!(resp.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let m = check(resp, 405, "method_not_allowed").await;
    assert_eq!(m, "DELETE is not allowed on /v1/transactions; see the Allow header");
    let resp = http.post(format!("{}/v1/status", t.url)).send().await.expect("http");
    check(resp, 405, "method_not_allowed").await;

    // A path segment that is not UTF-8 once decoded.
    let resp = http.get(format!("{}/v1/state/data/%FF%FE", t.url)).send().await.expect("http");
    let m = check(resp, 400, "bad_request").await;
    assert!(m.to_lowercase().contains("utf-8"), "{m}");
    // A plain GET of the WebSocket endpoint.
    let resp = http.get(format!("{}/v1/ws", t.url)).send().await.expect("http");
    let status = resp.status().as_u16();
    assert!(status == 400 || status == 426, "{status}");
    let code = if status == 426 { "upgrade_required" } else { "bad_request" };
    check(resp, status, code).await;

    // Answers that were JSON before stay as they were.
    let m = check(
        http.get(format!("{}/v1/transactions/nothex", t.url)).send().await.expect("http"),
        400,
        "bad_hash",
    )
    .await;
    assert!(!m.is_empty());
    assert!(t.client.status().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_protocol_violations_get_a_close_frame() {
    let t = start(SUITE).await;
    let ws_url = format!("{}/v1/ws", t.url.replacen("http", "ws", 1));

    // A message over the node's limit: closed with 1009 and a reason.
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("connect");
    ws.send(tungstenite::Message::Text("x".repeat(10_000).into())).await.expect("send");
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(tungstenite::Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("close frame in time")
    .expect("the close frame has a code");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(!frame.reason.is_empty());

    // A frame a client must never send (unmasked): closed with 1002.
    let addr = t.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("tcp");
    let handshake = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(handshake.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.expect("handshake answer");
        head.push(byte[0]);
        assert!(head.len() < 4096, "handshake answer too long");
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp.write_all(&[0x81, 0x02, b'h', b'i']).await.expect("write frame");
    let mut frame = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut frame))
        .await
        .expect("close frame in time")
        .expect("a close frame, not a dropped connection");
    assert_eq!(frame[0], 0x88, "a final close frame: {frame:?}");
    assert!(frame[1] >= 2 && frame[1] < 126, "{frame:?}");
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_nonce_pair_is_accepted_once_at_admission() {
    let t = start(SUITE).await;
    let key = PrivateKey::generate(SUITE);
    let first = put(&key, 7, "a", "1");
    let (status, body) = post_tx(&t.url, &first, false, "sync").await;
    assert_eq!(status, 200, "{body}");
    let id = first.id(SUITE);

    // Another transaction with the committed pair, in either form.
    for binary in [false, true] {
        let (status, body) = post_tx(&t.url, &put(&key, 7, "b", "2"), binary, "sync").await;
        assert_eq!(status, 409, "{body}");
        let message = assert_error(&body, "nonce_used");
        assert!(message.contains(&format!("nonce 7 of sender {}", key.address())), "{message}");
        assert!(message.contains(&format!("committed transaction {id}")), "{message}");
    }
    // The pair of a transaction still pending (or just committed) likewise.
    let pending = put(&key, 8, "c", "1");
    let (status, body) = post_tx(&t.url, &pending, true, "async").await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_tx(&t.url, &put(&key, 8, "c", "2"), true, "async").await;
    assert_eq!(status, 409, "{body}");
    assert!(assert_error(&body, "nonce_used").contains(&pending.id(SUITE).to_string()));
    // The same nonce of another sender, and the next nonce, are fine.
    let other = PrivateKey::generate(SUITE);
    assert_eq!(post_tx(&t.url, &put(&other, 7, "d", "1"), false, "sync").await.0, 200);
    assert_eq!(post_tx(&t.url, &put(&key, 9, "e", "1"), false, "sync").await.0, 200);
    // Nothing of the refused ones reached the state.
    let value = t.client.data_value(b"b").await.expect("state");
    assert_eq!(value.value_hex, None);
}

#[test]
fn the_pair_rule_holds_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node_dir = dir.path().join("node");
    init(&node_dir, SUITE, "test-chain");
    let config = node_dir.join(govchain_node::init::CONFIG_FILE);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let key = PrivateKey::generate(SUITE);
    let first = put(&key, 42, "r", "1");
    {
        let (_node, url) = spawn_node(&config);
        let (status, body) = rt.block_on(post_tx(&url, &first, false, "sync"));
        assert_eq!(status, 200, "{body}");
    } // SIGKILL
    let (_node, url) = spawn_node(&config);
    let (status, body) = rt.block_on(post_tx(&url, &put(&key, 42, "r", "2"), false, "sync"));
    assert_eq!(status, 409, "{body}");
    assert!(assert_error(&body, "nonce_used").contains(&first.id(SUITE).to_string()));
    let (status, body) = rt.block_on(post_tx(&url, &put(&key, 43, "r", "3"), false, "sync"));
    assert_eq!(status, 200, "{body}");
}
