//! The broker's accept loop: HTTP/1.1 over TCP (or TLS) with the limits a
//! hostile network needs, which `axum::serve` does not offer.
//!
//! Hardening finding 2: without hyper's timer there was no header, body or
//! idle timeout and no connection cap; 400 connections stalled inside 2 MB
//! bodies took the broker from 34 MB to 1.37 GB of RSS, and 1,100 idle
//! sockets exhausted the descriptors (EMFILE) and locked every client out.
//! Here:
//! - a connection cap: a connection is accepted only with a permit, so
//!   excess clients wait in the kernel's backlog instead of taking
//!   descriptors and buffers;
//! - a header-read timeout (hyper's, which also covers a keep-alive
//!   connection waiting for its next request);
//! - a request timeout around reading the body and handling it: a stalled
//!   body is cut off with 408 and its buffer freed;
//! - a budget of bytes for request bodies being received, shared by all
//!   connections: with 500 clients each stalled after 1.9 MB of a 2 MB
//!   body, the broker held 1.45 GB; a body that would overdraw the budget
//!   is refused (503) instead of buffered;
//! - a TLS handshake timeout;
//! - a graceful drain on shutdown, bounded in time.
//!
//! Each request also gets a request id ([`request_id`]): the client's
//! `x-request-id` when it is short and printable, else a generated one. It
//! is a field of a tracing span around the request, so every log line the
//! request causes carries it (as `span.request_id` in JSON logs), and it is
//! echoed in the response's `x-request-id` header, so that a client's
//! report can be matched with the broker's log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tracing::Instrument as _;

use crate::error::Error;

/// The limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for a client to send a request's headers (and for an idle
    /// keep-alive connection to start its next request).
    pub header_timeout: Duration,
    /// Time to receive a request's body and answer it.
    pub request_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Bytes of request bodies held at once across all connections.
    pub body_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            body_budget: 128 << 20,
        }
    }
}

/// A request body that takes its bytes out of a shared budget as they
/// arrive and gives them back when it is dropped (once the handler has
/// collected it, or the connection is cut).
struct Budgeted {
    inner: hyper::body::Incoming,
    budget: Arc<Semaphore>,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Set when the budget refused a frame: the connection is then closed
    /// after the answer, not kept waiting for the rest of the body.
    spent: Arc<std::sync::atomic::AtomicBool>,
}

/// The budget for request bodies is spent.
#[derive(Debug)]
struct BudgetSpent;

impl std::fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the broker is receiving too many request bodies at once; retry shortly")
    }
}

impl std::error::Error for BudgetSpent {}

impl http_body::Body for Budgeted {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let frame = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
            match self.budget.clone().try_acquire_many_owned(n) {
                Ok(p) => match &mut self.held {
                    Some(h) => h.merge(p),
                    None => self.held = Some(p),
                },
                Err(_) => {
                    self.spent.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(BudgetSpent))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Time allowed to finish requests in flight after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` (TLS when `tls` is given) until `shutdown`
/// completes, then drains for at most [`DRAIN`]. Handlers see the peer's
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let budget = Arc::new(Semaphore::new(
        limits.body_budget.clamp(1 << 20, Semaphore::MAX_PERMITS),
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let budget = budget.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => serve_connection(stream, addr, app, limits, budget, watcher).await,
                Some(a) => {
                    match tokio::time::timeout(limits.header_timeout, a.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, addr, app, limits, budget, watcher).await
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("shutdown: requests still in flight after the drain period were cut");
        }
    }
    Ok(())
}

async fn serve_connection<IO>(
    io: IO,
    addr: SocketAddr,
    app: Router,
    limits: Limits,
    budget: Arc<Semaphore>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        let app = app.clone();
        let budget = budget.clone();
        let id = request_id(req.headers());
        let span = tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or_default(),
            method = %req.method(),
            path = %req.uri().path(),
        );
        async move {
            let spent = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let req = req.map(|inner| {
                axum::body::Body::new(Budgeted {
                    inner,
                    budget,
                    held: None,
                    spent: spent.clone(),
                })
            });
            let (mut resp, close) = match tokio::time::timeout(
                limits.request_timeout,
                app.oneshot(req),
            )
            .await
            {
                Ok(Ok(r)) => (r, spent.load(std::sync::atomic::Ordering::Relaxed)),
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::info!(%addr, "request timed out: its body or its answer took too long");
                    let r = axum::response::IntoResponse::into_response(Error::TimedOut(format!(
                        "the request was not received and answered within {} s",
                        limits.request_timeout.as_secs()
                    )));
                    (r, true)
                }
            };
            // A body left unread would keep hyper waiting for the rest of it
            // on a client that sends nothing more: close instead.
            if close {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            resp.headers_mut().insert(REQUEST_ID, id);
            Ok::<_, std::convert::Infallible>(resp)
        }
        .instrument(span)
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    // max_buf_size: hyper's read buffer grows to about 400 KB per
    // connection by default; 64 KB holds any request head a guest sends
    // (a Bearer token is 2-3 KB) and bounds what a thousand slow clients
    // can park in the broker.
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let conn = b.serve_connection(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%addr, error = %e, "connection ended");
    }
}

/// The request-id header.
pub const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// Longest client-chosen request id kept; a longer one is replaced.
pub const MAX_REQUEST_ID: usize = 64;

/// The id of a request: its `x-request-id` header when that is 1 to
/// [`MAX_REQUEST_ID`] printable ASCII characters (no spaces or control
/// characters, so it cannot forge a log line or a header), else 16 random
/// bytes in hex.
pub fn request_id(headers: &axum::http::HeaderMap) -> axum::http::HeaderValue {
    if let Some(v) = headers.get(&REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(u8::is_ascii_graphic) {
            return v.clone();
        }
    }
    let mut raw = [0u8; 16];
    // A random generator failure leaves zeros: a poor id, not a failed request.
    let _ = aws_lc_rs::rand::fill(&mut raw);
    axum::http::HeaderValue::from_str(&hex::encode(raw))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("0"))
}

/// Raises the soft limit on open files to the hard limit (where the
/// process may), and returns a connection cap below it: each connection is
/// one descriptor, and the store, the listener and logs need some.
pub fn connection_cap(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        if cur < max {
            lim.current = Some(max);
            if setrlimit(Resource::Nofile, lim).is_err() {
                lim.current = Some(cur);
            }
        }
    }
    let soft = lim.current.unwrap_or(u64::MAX);
    let room = usize::try_from(soft.saturating_sub(64)).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}
