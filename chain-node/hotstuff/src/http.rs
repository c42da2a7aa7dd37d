//! HotStuff peer calls over HTTP/1.1: a [`PeerTransport`] on `reqwest` and
//! an axum router that serves [`HotStuffEngine::handle_rpc`].
//!
//! Plain HTTP as it stands; the node layers TLS by serving [`router`] on its
//! mutual-TLS listener and giving [`HttpTransport::with_client`] a client
//! that presents the node certificate, with scheme `https`.

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use govchain_consensus::{PeerReply, PeerTransport, TransportError};
use tracing::warn;

use crate::{Error, HotStuffEngine, Result, TARGET};

/// Largest request body the router accepts: a proposal of a full block.
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// A [`PeerTransport`] posting to `{scheme}://{addr}/{path}`.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    scheme: String,
}

impl HttpTransport {
    /// Plain HTTP with its own connection pool.
    pub fn new() -> Result<HttpTransport> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(HttpTransport::with_client(client, "http"))
    }

    /// Over a client the caller configured (TLS identity and roots), with
    /// `scheme` `http` or `https`.
    pub fn with_client(client: reqwest::Client, scheme: impl Into<String>) -> HttpTransport {
        HttpTransport { client, scheme: scheme.into() }
    }
}

impl PeerTransport for HttpTransport {
    fn send<'a>(&'a self, target: u64, addr: &'a str, path: &'a str, body: Vec<u8>) -> PeerReply<'a> {
        Box::pin(async move {
            let url = format!("{}://{addr}/{path}", self.scheme);
            let resp = self
                .client
                .post(&url)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    if e.is_connect() || e.is_timeout() {
                        TransportError::Unreachable { target, reason: e.to_string() }
                    } else {
                        TransportError::Rpc { target, reason: e.to_string() }
                    }
                })?;
            let status = resp.status();
            let bytes =
                resp.bytes().await.map_err(|e| TransportError::Rpc { target, reason: e.to_string() })?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                return Err(TransportError::Rpc { target, reason: format!("{status}: {text}") });
            }
            Ok(bytes.to_vec())
        })
    }
}

/// Routes `POST /hotstuff/{rpc}` to `engine`. Mount it on the node's
/// peer-facing server.
pub fn router(engine: HotStuffEngine) -> Router {
    Router::new()
        .route("/hotstuff/{rpc}", post(rpc))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(engine)
}

async fn rpc(State(engine): State<HotStuffEngine>, Path(rpc): Path<String>, body: Bytes) -> Response {
    let path = format!("hotstuff/{rpc}");
    match engine.handle_rpc(&path, &body).await {
        Ok(reply) => (StatusCode::OK, reply).into_response(),
        Err(e @ Error::UnknownPath(_)) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        Err(e @ (Error::Decode { .. } | Error::Invalid(_))) => {
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(e) => {
            warn!(target: TARGET, path, error = %e, "hotstuff RPC failed");
            (StatusCode::SERVICE_UNAVAILABLE, "hotstuff RPC failed").into_response()
        }
    }
}
