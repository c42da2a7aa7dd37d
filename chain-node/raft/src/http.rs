//! Raft RPCs over HTTP/1.1: the consensus crate's [`HttpTransport`] and an
//! axum router that serves [`RaftEngine::handle_rpc`].
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
use tracing::warn;

pub use govchain_consensus::http::HttpTransport;

use crate::{Error, RaftEngine, TARGET};

/// Largest request body the router accepts: an append of
/// [`crate::RaftConfig::max_entries_per_append`] full blocks fits.
pub const MAX_BODY: usize = 1024 * 1024 * 1024;

/// Routes `POST /raft/{rpc}` to `engine`. Mount it on the node's
/// peer-facing server.
pub fn router(engine: RaftEngine) -> Router {
    Router::new().route("/raft/{rpc}", post(rpc)).layer(DefaultBodyLimit::max(MAX_BODY)).with_state(engine)
}

async fn rpc(State(engine): State<RaftEngine>, Path(rpc): Path<String>, body: Bytes) -> Response {
    let path = format!("raft/{rpc}");
    match engine.handle_rpc(&path, &body).await {
        Ok(reply) => (StatusCode::OK, reply).into_response(),
        Err(e @ Error::UnknownPath(_)) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        Err(e @ Error::Decode { .. }) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => {
            warn!(target: TARGET, path, error = %e, "raft RPC failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "raft RPC failed").into_response()
        }
    }
}
