//! The HTTP listener: a bounded number of connections, timeouts on slow
//! and idle peers, and HTTPS.
//!
//! Anyone who can reach the port can open connections, before any token is
//! checked, so the listener bounds what that costs:
//!
//! - **Connections**: at most `max_connections` open, at most
//!   `max_connections_per_peer` from one address. Past either, a new
//!   connection is closed as soon as it is accepted (the peer sees the
//!   connection close before any byte), counted in
//!   `vigie_http_connections_refused_total` and logged at most every 5 s with
//!   the count. Connections already open are never evicted: they are bounded
//!   in time instead.
//! - **Time**: a connection has `header_timeout` to complete its TLS
//!   handshake and its request headers, and again after each response
//!   (keep-alive), or it is closed; a request body has `body_timeout` to
//!   arrive. A handler may take as long as its work does (a drone command
//!   waits for the vehicle), and a response may stream (Server-Sent Events).
//! - **Memory**: a connection buffers at most [`MAX_HEADER_BUFFER`] bytes of
//!   headers; bodies are capped by the routes (axum's 2 MB default).
//! - **Accept errors** (out of file descriptors): the loop backs off for
//!   [`ACCEPT_BACKOFF`] instead of spinning, and logs at most every 5 s.
//!
//! Handlers see the peer address as axum's `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use crate::config::HttpConfig;
use crate::shutdown::Shutdown;

/// Most bytes of request line and headers a connection buffers.
pub const MAX_HEADER_BUFFER: usize = 64 * 1024;

/// Pause after a failed `accept` (typically out of file descriptors).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Longest wait, at shutdown, for responses in progress to finish.
pub const DRAIN: Duration = Duration::from_secs(3);

/// The listener's bounds, from `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one address.
    pub max_per_peer: usize,
    /// Time for the TLS handshake and each request's headers.
    pub header_timeout: Duration,
    /// Time for a request body to arrive.
    pub body_timeout: Duration,
}

impl Limits {
    /// The bounds a configuration sets.
    pub fn from_config(http: &HttpConfig) -> Limits {
        Limits {
            max_connections: http.max_connections,
            max_per_peer: http.max_connections_per_peer,
            header_timeout: Duration::from_millis(http.header_timeout_ms),
            body_timeout: Duration::from_millis(http.body_timeout_ms),
        }
    }
}

/// The listener's counters, rendered in `/metrics`.
#[derive(Debug, Default)]
pub struct HttpCounters {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted and served since start.
    pub accepted: AtomicU64,
    /// Connections closed at once because a cap was reached.
    pub refused: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_failed: AtomicU64,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    Full,
    /// `max_per_peer` are open from this address.
    PeerFull,
}

/// Who is connected: the count in total and per address, under one lock
/// (taken twice per connection, never across an await).
#[derive(Debug)]
pub struct Admission {
    /// The caps.
    limits: Limits,
    /// Open connections in total, and per peer address.
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// An admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    /// Where the place was taken.
    admission: Arc<Admission>,
    /// The peer's address, as counted.
    ip: IpAddr,
}

impl Admission {
    /// No connection open yet.
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        // An IPv4 peer on a dual-stack socket is the same peer.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.limits.max_connections {
            return Err(Refusal::Full);
        }
        let mine = open.1.entry(ip).or_insert(0);
        if *mine >= self.limits.max_per_peer {
            return Err(Refusal::PeerFull);
        }
        *mine += 1;
        open.0 += 1;
        Ok(Ticket {
            admission: self.clone(),
            ip,
        })
    }

    /// Connections open now, in total and from `ip`.
    pub fn open(&self, ip: IpAddr) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (open.0, open.1.get(&ip.to_canonical()).copied().unwrap_or(0))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// A log line at most every `every`, with the count of what it stands for.
#[derive(Debug)]
pub struct Throttle {
    /// Shortest time between two lines.
    every: Duration,
    /// When the last line was written.
    last: Option<Instant>,
    /// Events since the last line.
    suppressed: u64,
}

impl Throttle {
    /// Nothing logged yet.
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Notes one event at `now`; `Some(n)` when a line is due, standing for
    /// `n` events (this one included).
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.suppressed += 1;
        match self.last {
            Some(last) if now.duration_since(last) < self.every => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The listen backlog asked of the kernel (which caps it at
/// `net.core.somaxconn`, 4,096 on current Linux): a connect storm fills a
/// short queue before the accept loop can close the excess, and a
/// legitimate client's dropped SYN then waits a second for its retry.
pub const BACKLOG: u32 = 4096;

/// Binds the HTTP listener with [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener` within `limits`, over TLS when `tls` is
/// given, until `shutdown`; then lets responses in progress finish for at
/// most [`DRAIN`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    counters: Arc<HttpCounters>,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let admission = Admission::new(limits.clone());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refusals = Throttle::new(Duration::from_secs(5));
    let mut accept_errors = Throttle::new(Duration::from_secs(5));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match admission.admit(peer.ip()) {
                    Ok(ticket) => {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                        connections.spawn(connection(
                            tcp,
                            peer,
                            ticket,
                            app.clone(),
                            tls.clone(),
                            limits.clone(),
                            counters.clone(),
                            stopping.clone(),
                        ));
                    }
                    Err(why) => {
                        drop(tcp);
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        if let Some(n) = refusals.note(Instant::now()) {
                            let (total, from_peer) = admission.open(peer.ip());
                            tracing::warn!(
                                "HTTP: closed {n} new connection(s) at once since the last report ({}); now {total} open, {from_peer} from {}",
                                match why {
                                    Refusal::Full => format!("{} connections open, the cap", limits.max_connections),
                                    Refusal::PeerFull => format!("{} from one address, the per-peer cap", limits.max_per_peer),
                                },
                                peer.ip()
                            );
                        }
                    }
                },
                Err(e) => {
                    if let Some(n) = accept_errors.note(Instant::now()) {
                        tracing::error!("HTTP: cannot accept connections ({n} failure(s) since the last report): {e}");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.wait() => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            "HTTP: {} connection(s) still streaming at shutdown: closed",
            connections.len()
        );
        connections.abort_all();
    }
    Ok(())
}

/// One admitted connection, from the TLS handshake to its close.
#[allow(clippy::too_many_arguments)]
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    counters: Arc<HttpCounters>,
    stopping: watch::Receiver<bool>,
) {
    let _ticket = ticket;
    counters.open.fetch_add(1, Ordering::Relaxed);
    let _ = tcp.set_nodelay(true);
    match tls {
        None => serve_http1(tcp, peer, app, &limits, stopping).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => serve_http1(stream, peer, app, &limits, stopping).await,
                Ok(Err(e)) => {
                    counters.tls_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "HTTPS handshake failed: {e}");
                }
                Err(_) => {
                    counters.tls_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "HTTPS handshake timed out");
                }
            }
        }
    }
    counters.open.fetch_sub(1, Ordering::Relaxed);
}

/// HTTP/1.1 on one connection, with the header and body timeouts.
async fn serve_http1<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: &Limits,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut app = app.clone();
        let mut req = req.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
        req.extensions_mut().insert(ConnectInfo(peer));
        async move { Ok::<_, Infallible>(app.call(req).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BUFFER);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        done = conn.as_mut() => {
            if let Err(e) = done {
                tracing::debug!(%peer, "HTTP connection ended: {e}");
            }
            return;
        }
        () = stop => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// A request body that must arrive within a time limit: a peer sending a
/// byte now and then cannot hold a connection for ever.
struct DeadlineBody {
    /// The body as hyper reads it.
    inner: Incoming,
    /// When reading it fails.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The limit, for the error message.
    limit: Duration,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

/// A request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// The TLS acceptor `[http]` asks for: `None` for plain HTTP; the files
/// given, or a certificate from the deployment CA in `data_dir` naming
/// `localhost`, the loopback addresses, the listen address and `tls_names`.
pub fn tls_acceptor(
    http: &HttpConfig,
    data_dir: &Path,
    site_name: &str,
) -> anyhow::Result<Option<TlsAcceptor>> {
    use anyhow::Context as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    if !http.tls {
        return Ok(None);
    }
    let (chain, key) = match (&http.tls_cert, &http.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| {
                    format!(
                        "http.tls_cert {}: not a PEM certificate chain",
                        cert.display()
                    )
                })?;
            if chain.is_empty() {
                anyhow::bail!(
                    "http.tls_cert {}: no certificate in the file",
                    cert.display()
                );
            }
            let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
                format!("http.tls_key {}: not a PEM private key", key.display())
            })?;
            (chain, key)
        }
        _ => {
            let ca = crate::patrol::ca::DeploymentCa::open_or_init(data_dir, site_name)
                .context("cannot open the deployment CA for the HTTPS certificate")?;
            let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            if !http.listen.ip().is_unspecified() {
                names.push(http.listen.ip().to_string());
            }
            names.extend(http.tls_names.iter().cloned());
            names.dedup();
            let issued = ca
                .issue_https(
                    &names,
                    crate::patrol::ca::Validity::from_now(Duration::from_secs(365 * 86_400)),
                )
                .context("cannot issue the HTTPS certificate")?;
            (
                vec![CertificateDer::from(issued.cert_der)],
                PrivateKeyDer::Pkcs8(issued.key_der.into()),
            )
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(crate::patrol::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the HTTPS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_peer: usize) -> Limits {
        Limits {
            max_connections: total,
            max_per_peer: per_peer,
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn admission_caps_each_peer_and_the_total_and_frees_places() {
        let a = Admission::new(limits(3, 2));
        let (p, q, r) = (
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([127, 0, 0, 2]),
            IpAddr::from([127, 0, 0, 3]),
        );
        let t1 = a.admit(p).unwrap();
        let _t2 = a.admit(p).unwrap();
        assert_eq!(a.admit(p).unwrap_err(), Refusal::PeerFull);
        // The same peer over IPv4-mapped IPv6 is the same peer.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(a.admit(mapped).unwrap_err(), Refusal::PeerFull);
        let _t3 = a.admit(q).unwrap();
        assert_eq!(a.admit(r).unwrap_err(), Refusal::Full);
        drop(t1);
        assert_eq!(a.open(p), (2, 1));
        let _t4 = a.admit(r).unwrap();
        assert_eq!(a.open(r), (3, 1));
    }

    #[test]
    fn throttle_counts_what_it_suppresses() {
        let mut t = Throttle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(t.note(t0), Some(1));
        for i in 1..100 {
            assert_eq!(t.note(t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(t.note(t0 + Duration::from_secs(5)), Some(100));
    }
}
