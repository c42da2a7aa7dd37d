//! A [`PeerTransport`] over HTTP/1.1 on `reqwest`, for every networked
//! engine: it posts request bytes to `{scheme}://{addr}/{path}` and returns
//! the reply body. Plain HTTP from [`HttpTransport::new`] (tests); the node
//! gives [`HttpTransport::with_client`] a client that presents its node
//! certificate, with scheme `https`. Each engine serves its own paths with
//! an axum router of its own.

use std::time::Duration;

use crate::{Error, PeerReply, PeerTransport, TransportError};

/// A [`PeerTransport`] posting to `{scheme}://{addr}/{path}`.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    scheme: String,
}

impl HttpTransport {
    /// Plain HTTP with its own connection pool (2 s to connect).
    pub fn new() -> Result<HttpTransport, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Unavailable(format!("HTTP client: {e}")))?;
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
