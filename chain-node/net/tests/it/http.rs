//! HTTPS between nodes: an axum router served on a `TlsListener`, requests from an
//! `HttpsClient`, the peer identity on both sides.

use std::net::SocketAddr;

use axum::{
    Extension, Router,
    body::{Body, Bytes},
    http::{Request, StatusCode, Version},
    routing::{get, post},
};
use govchain_net::{HttpsClient, PeerAware, PeerIdentity, TlsListener, client_config};
use rustls::{ClientConfig, ServerConfig};

use crate::support::*;

async fn whoami(Extension(peer): Extension<PeerIdentity>) -> String {
    format!("{}|{}|{}", peer.common_name, peer.organization, peer.kind)
}

async fn echo(Extension(peer): Extension<PeerIdentity>, body: Bytes) -> String {
    format!("{} sent {} bytes", peer.common_name, body.len())
}

/// Serves the test router on 127.0.0.1 until the returned task is aborted.
async fn serve(config: ServerConfig) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TlsListener::bind("127.0.0.1:0", config).await.unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let app = Router::new().route("/whoami", get(whoami)).route("/echo", post(echo));
    let task = tokio::spawn(async move {
        axum::serve(listener, PeerAware::new(app)).await.unwrap();
    });
    (addr, task)
}

async fn get_text(
    client: &HttpsClient,
    uri: &str,
) -> govchain_net::Result<(StatusCode, Version, PeerIdentity, String)> {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let resp =
        tokio::time::timeout(EXCHANGE_LIMIT, client.request(req)).await.expect("request took too long")?;
    let server = resp.extensions().get::<PeerIdentity>().cloned().expect("server identity in the response");
    let (status, version) = (resp.status(), resp.version());
    let body = axum::body::to_bytes(Body::new(resp.into_body()), 1 << 20).await.unwrap();
    Ok((status, version, server, String::from_utf8(body.to_vec()).unwrap()))
}

#[tokio::test]
async fn nodes_exchange_https_requests_knowing_each_other() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let (node1, node2) = (chain.node("node1"), chain.node("node2"));
        let (addr, server) = serve(chain.server(&node1)).await;

        let client = HttpsClient::new(chain.client(&node2));
        let (status, version, server_seen, body) =
            get_text(&client, &format!("https://127.0.0.1:{}/whoami", addr.port())).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{suite}");
        assert_eq!(version, Version::HTTP_2, "{suite}: nodes talk HTTP/2");
        assert_eq!(body, format!("node2|{ORG}|node"), "{suite}");
        assert_eq!(server_seen.node_id(), Some("node1"), "{suite}");

        // A request with a body on the same pooled connection.
        let req = Request::post(format!("https://127.0.0.1:{}/echo", addr.port()))
            .body(Body::from(vec![7u8; 70_000]))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let body = axum::body::to_bytes(Body::new(resp.into_body()), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"node2 sent 70000 bytes", "{suite}");

        // Dialing by node id: the resolver finds the address, the certificate's CN must match.
        let by_id =
            HttpsClient::with_resolver(chain.client(&node2), move |host| (host == "node1").then_some(addr));
        let (_, _, server_seen, body) = get_text(&by_id, "https://node1/whoami").await.unwrap();
        assert_eq!(
            (server_seen.node_id(), body.as_str()),
            (Some("node1"), format!("node2|{ORG}|node").as_str())
        );
        // The same address under another node's id is refused.
        let wrong =
            HttpsClient::with_resolver(chain.client(&node2), move |host| (host == "node3").then_some(addr));
        assert!(get_text(&wrong, "https://node3/whoami").await.is_err(), "{suite}");
        server.abort();
    }
}

#[tokio::test]
async fn http1_when_the_client_does_not_offer_h2() {
    let chain = Chain::new(govchain_net::Suite::Gm, "chain-a");
    let (addr, server) = serve(chain.server(&chain.node("node1"))).await;
    let mut config: ClientConfig = chain.client(&chain.node("node2"));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (status, version, _, body) =
        get_text(&HttpsClient::new(config), &format!("https://127.0.0.1:{}/whoami", addr.port()))
            .await
            .unwrap();
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
    assert_eq!(body, format!("node2|{ORG}|node"));
    server.abort();
}

#[tokio::test]
async fn refused_clients_get_no_answer_and_the_server_keeps_serving() {
    for suite in SUITES {
        let chain = Chain::new(suite, "chain-a");
        let other = Chain::new(suite, "chain-a");
        let (addr, server) = serve(chain.server(&chain.node("node1"))).await;
        let uri = format!("https://127.0.0.1:{}/whoami", addr.port());

        let refused = [
            ("foreign", client_config(&other.identity(&other.node("node2")), &chain.trust).unwrap()),
            ("expired", chain.client(&chain.node_valid("node2", expired()))),
            ("user", client_config(&chain.identity(&chain.user("alice")), &chain.trust).unwrap()),
        ];
        for (what, config) in refused {
            let err = get_text(&HttpsClient::new(config), &uri).await.err();
            assert!(err.is_some(), "{suite}: {what} client got an answer");
        }
        let mut anonymous = raw_client(suite, None);
        anonymous.alpn_protocols = vec![b"h2".to_vec()];
        assert!(get_text(&HttpsClient::new(anonymous), &uri).await.is_err(), "{suite}: anonymous client");

        // Plain HTTP is not served.
        let plain = HttpsClient::new(chain.client(&chain.node("node2")));
        assert!(matches!(
            get_text(&plain, &format!("http://127.0.0.1:{}/whoami", addr.port())).await,
            Err(govchain_net::Error::Http(_))
        ));

        let (status, _, _, body) =
            get_text(&HttpsClient::new(chain.client(&chain.node("node2"))), &uri).await.unwrap();
        assert_eq!((status, body), (StatusCode::OK, format!("node2|{ORG}|node")), "{suite}");
        server.abort();
    }
}
