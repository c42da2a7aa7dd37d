//! HTTPS with client authentication on both ends: an `axum::serve` listener that only hands
//! out authenticated connections, and a hyper client that presents the node's certificate.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::Request,
    http::{Method, StatusCode, Uri, header::CONTENT_TYPE},
    response::Response,
    routing::future::RouteFuture,
    serve::{IncomingStream, Listener},
};
use hyper_util::{
    client::legacy::{
        Client,
        connect::{Connected, Connection},
    },
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use rustls::{ClientConfig, ServerConfig, pki_types::ServerName};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream, ToSocketAddrs},
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};
use tower_service::Service;

use crate::{Error, PeerIdentity, Result, accept, connect_from};

/// At most this many TLS handshakes run at once on a [`TlsListener`]; more connections wait
/// in the kernel's accept queue. Bounds the memory a flood of half-open connections can take.
const MAX_CONCURRENT_HANDSHAKES: usize = 256;

/// A TLS listener for `axum::serve`: accepts TCP connections, runs each handshake in its own
/// task (a slow or hostile client holds up no one else), drops connections whose handshake
/// fails, and yields only authenticated [`PeerStream`]s.
///
/// ```no_run
/// # async fn run(config: rustls::ServerConfig, app: axum::Router) -> std::io::Result<()> {
/// use govchain_net::{PeerAware, TlsListener};
/// let listener = TlsListener::bind("127.0.0.1:8601", config).await?;
/// axum::serve(listener, PeerAware::new(app)).await
/// # }
/// ```
#[derive(Debug)]
pub struct TlsListener {
    incoming: mpsc::Receiver<(PeerStream, SocketAddr)>,
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS with `config` (from [`crate::server_config`]) on `tcp`.
    pub fn new(tcp: TcpListener, config: ServerConfig) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, incoming) = mpsc::channel(64);
        let accept_task = tokio::spawn(accept_loop(tcp, acceptor, tx));
        Ok(Self { incoming, local_addr, accept_task })
    }

    /// Binds a TCP listener on `addr` and serves TLS with `config` on it.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Self> {
        Self::new(TcpListener::bind(addr).await?, config)
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(PeerStream, SocketAddr)>) {
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else { return };
        let (tcp_stream, remote) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Mostly out of file descriptors; back off rather than spin.
                tracing::warn!(target: "govchain::net", error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if tx.is_closed() {
            return;
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            // Small request/response messages between nodes; do not wait to fill segments.
            let _ = tcp_stream.set_nodelay(true);
            let result = accept(&acceptor, tcp_stream).await;
            drop(permit);
            match result {
                Ok((stream, peer)) => {
                    tracing::debug!(
                        target: "govchain::net",
                        %remote,
                        peer = %peer.common_name,
                        org = %peer.organization,
                        "accepted TLS connection"
                    );
                    // The listener is gone if this fails; the connection just closes.
                    let _ = tx.send((PeerStream { stream, peer }, remote)).await;
                }
                Err(e) => {
                    tracing::info!(target: "govchain::net", %remote, error = %e, "refused TLS connection")
                }
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = PeerStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (PeerStream, SocketAddr) {
        match self.incoming.recv().await {
            Some(accepted) => accepted,
            // The accept task only ends when the listener is dropped, so nothing comes any more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// An authenticated server-side TLS connection and its verified client.
#[derive(Debug)]
pub struct PeerStream {
    stream: server::TlsStream<TcpStream>,
    peer: PeerIdentity,
}

impl PeerStream {
    /// The verified client.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The TLS stream (e.g. for `get_ref().1.alpn_protocol()`).
    pub fn get_ref(&self) -> &server::TlsStream<TcpStream> {
        &self.stream
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The make-service for `axum::serve` over a [`TlsListener`]: serves `router` on every
/// connection with the client's [`PeerIdentity`] in each request's extensions, so handlers
/// take `Extension<PeerIdentity>`.
#[derive(Debug, Clone)]
pub struct PeerAware(Router);

impl PeerAware {
    /// Serves `router`.
    pub fn new(router: Router) -> Self {
        Self(router)
    }
}

impl Service<IncomingStream<'_, TlsListener>> for PeerAware {
    type Response = WithPeer;
    type Error = Infallible;
    type Future = std::future::Ready<Result<WithPeer, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream<'_, TlsListener>) -> Self::Future {
        std::future::ready(Ok(WithPeer { router: self.0.clone(), peer: incoming.io().peer().clone() }))
    }
}

/// A router serving one connection: inserts the connection's [`PeerIdentity`] into every
/// request's extensions.
#[derive(Debug, Clone)]
pub struct WithPeer {
    router: Router,
    peer: PeerIdentity,
}

impl Service<Request> for WithPeer {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        <Router as Service<Request>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        req.extensions_mut().insert(self.peer.clone());
        self.router.call(req)
    }
}

type Resolve = Arc<dyn Fn(&str) -> Option<SocketAddr> + Send + Sync>;

/// An HTTPS client (HTTP/2 when the server offers it, else HTTP/1.1, pooled connections)
/// presenting the node's certificate. Each response carries the server's [`PeerIdentity`] in
/// its extensions. Cheap to clone.
///
/// The URI's host is both where to connect and the name the server's certificate must answer
/// to: `https://127.0.0.1:8601/...` checks the IP SAN; `https://node1/...` with a resolver
/// ([`HttpsClient::with_resolver`]) that maps `node1` to its address pins the node id.
#[derive(Clone)]
pub struct HttpsClient {
    inner: Client<NodeConnector, Body>,
}

impl fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsClient").finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client with `config` (from [`crate::client_config`]) that finds servers by DNS / IP.
    pub fn new(config: ClientConfig) -> Self {
        Self::build(config, None)
    }

    /// A client that asks `resolve` for a host's address first (e.g. node id -> address from
    /// the chain's membership) and falls back to DNS / IP with the URI's port (default 443).
    pub fn with_resolver(
        config: ClientConfig,
        resolve: impl Fn(&str) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        Self::build(config, Some(Arc::new(resolve)))
    }

    /// A client that dials from the local address `local` (the node's own
    /// address), so peers see which node is calling.
    pub fn from_local(config: ClientConfig, local: std::net::IpAddr) -> Self {
        Self::build_from(config, None, Some(local))
    }

    fn build(config: ClientConfig, resolve: Option<Resolve>) -> Self {
        Self::build_from(config, resolve, None)
    }

    fn build_from(config: ClientConfig, resolve: Option<Resolve>, local: Option<std::net::IpAddr>) -> Self {
        let connector = NodeConnector { tls: TlsConnector::from(Arc::new(config)), resolve, local };
        let inner = Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).build(connector);
        Self { inner }
    }

    /// Sends `req` (absolute `https://` URI) and returns the response head; read the body with
    /// `http_body_util::BodyExt` or `axum::body::to_bytes`.
    pub async fn request(&self, req: Request<Body>) -> Result<Response<hyper::body::Incoming>> {
        Ok(self.inner.request(req).await?)
    }

    /// One request and its whole answer: sends `body` as `content_type` with `method` to `url`
    /// (absolute `https://`), waits for the answer within `deadline` (if any) and reads at most
    /// `limit` bytes of its body. Any status comes back as a [`Reply`] for the caller to judge.
    ///
    /// Errors tell whose fault it is: [`Error::Address`] for a request that cannot be built (the
    /// caller's), [`Error::Http`] for one that did not reach the server or got no answer
    /// ([`Error::Timeout`]), [`Error::Body`] for an answer cut short or over `limit`.
    pub async fn exchange(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: Body,
        deadline: Option<Duration>,
        limit: usize,
    ) -> Result<Reply> {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .map_err(|e| Error::Address(format!("{url}: {e}")))?;
        let resp = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, self.request(req))
                .await
                .map_err(|_| Error::Timeout(format!("{url}: no answer within {deadline:?}")))??,
            None => self.request(req).await?,
        };
        let status = resp.status();
        let body = axum::body::to_bytes(Body::new(resp.into_body()), limit)
            .await
            .map_err(|e| Error::Body(format!("{url}: {e}")))?;
        Ok(Reply { status, body })
    }
}

/// A response read in full by [`HttpsClient::exchange`].
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// The start of the body as text (for error messages): at most `max` bytes, lossily decoded.
    pub fn excerpt(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(max)]).into_owned()
    }
}

#[derive(Clone)]
struct NodeConnector {
    tls: TlsConnector,
    resolve: Option<Resolve>,
    local: Option<std::net::IpAddr>,
}

impl Service<Uri> for NodeConnector {
    type Response = TlsIo;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if uri.scheme_str() != Some("https") {
                return Err(Error::Address(format!("{uri}: only https:// is served")));
            }
            let host = uri.host().ok_or_else(|| Error::Address(format!("{uri}: no host")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let server_name =
                ServerName::try_from(host.clone()).map_err(|e| Error::Address(format!("{host}: {e}")))?;
            let addr = match this.resolve.as_ref().and_then(|resolve| resolve(&host)) {
                Some(addr) => addr,
                None => {
                    let port = uri.port_u16().unwrap_or(443);
                    tokio::net::lookup_host((host.as_str(), port))
                        .await?
                        .next()
                        .ok_or_else(|| Error::Address(format!("{host}: no address")))?
                }
            };
            let (stream, peer) = connect_from(&this.tls, this.local, addr, server_name).await?;
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            Ok(TlsIo { io: TokioIo::new(stream), peer, h2 })
        })
    }
}

/// A client-side TLS connection as hyper sees it.
struct TlsIo {
    io: TokioIo<client::TlsStream<TcpStream>>,
    peer: PeerIdentity,
    h2: bool,
}

impl Connection for TlsIo {
    fn connected(&self) -> Connected {
        // `extra` lands in every response's extensions.
        let connected = Connected::new().extra(self.peer.clone());
        if self.h2 { connected.negotiated_h2() } else { connected }
    }
}

impl hyper::rt::Read for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
