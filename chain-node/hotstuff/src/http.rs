//! HotStuff peer calls over HTTP/1.1: the consensus crate's
//! [`HttpTransport`] and an axum router that serves
//! [`HotStuffEngine::handle_rpc`].
//!
//! Plain HTTP as it stands; the node layers TLS by serving [`router`] on its
//! mutual-TLS listener and giving [`HttpTransport::with_client`] a client
//! that presents the node certificate, with scheme `https`.

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
pub use govchain_consensus::http::HttpTransport;
use tracing::warn;

use crate::{Error, HotStuffEngine, TARGET};

/// Largest request body the router accepts: a proposal of a full block.
pub const MAX_BODY: usize = 128 * 1024 * 1024;

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
