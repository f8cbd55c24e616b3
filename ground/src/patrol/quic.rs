//! The QUIC edge of the patrol link: binds the endpoint, admits connections,
//! and runs one task per connection that feeds the [`Session`] core and
//! carries out what it asks (write to the control stream, close, update the
//! fleet picture).
//!
//! Built for the reconnection storm that follows a server restart (issue 5):
//! - admission control: at most [`MAX_HANDSHAKES_IN_PROGRESS`] handshakes at
//!   once; above that, up to [`MAX_WAITING_HANDSHAKES`] attempts wait in line
//!   for at most [`ADMISSION_WAIT`]; beyond those, and above
//!   [`MAX_CONNECTIONS`], new connections are refused at once (a cheap
//!   stateless packet) and tablets retry after a jittered back-off, instead
//!   of every handshake timing out together;
//! - session tickets, so a tablet that reconnects resumes without a full
//!   certificate exchange;
//! - socket buffers of [`SOCKET_BUFFER_BYTES`] so bursts are not dropped by
//!   the kernel;
//! - per-connection bounds: one control stream, four report streams, 64 KiB
//!   control frames, 2 MiB report frames, QUIC flow-control windows, a
//!   message-rate cap in the session core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument as _;
use vigie_protocols::api::{PatrolInfo, Position, Unit, UnitKind, UnitStatus};
use vigie_protocols::tablet::codec::{
    self, DecodeError, FrameDecoder, MAX_CONTROL_MESSAGE_BYTES, MAX_REPORT_MESSAGE_BYTES,
};
use vigie_protocols::tablet::{
    ClientMessage, CloseCode, CoverageAnswer, CoverageSource, GeoPoint, ServerMessage, SourceKind,
    client_message, server_message,
};

use super::ca::{DeploymentCa, Role, UnitIdentity, Validity};
use super::orders::{AckOutcome, OrderState};
use super::register;
use super::roster::Attached;
use super::session::{Channel, Output, PathSample, Session};
use super::tls;
use crate::shutdown::Shutdown;

/// Handshakes allowed in progress at once; more are refused.
/// Measured: with 256, a storm of 10,000 tablets on a CPU-starved 2-core
/// machine let thousands of handshakes start and time out (wasted work);
/// on loopback 64 keep both cores busy.
pub const MAX_HANDSHAKES_IN_PROGRESS: usize = 64;

/// Connection attempts that may wait for a handshake slot; more are refused
/// at once. Waiting beats refusing while the wait is short: a refused tablet
/// backs off exponentially (up to 30 s), a waiting one just sees a slower
/// handshake (its Initial packets are buffered meanwhile).
pub const MAX_WAITING_HANDSHAKES: usize = 2048;

/// Longest wait for a handshake slot before the attempt is refused.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// Live connections allowed; more are refused.
pub const MAX_CONNECTIONS: usize = 20_000;

/// UDP socket send and receive buffer size requested, bytes.
pub const SOCKET_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// A handshake that takes longer than this is abandoned.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often path statistics and the revocation list are refreshed.
const TICK: Duration = Duration::from_secs(1);

/// How long a write to a tablet's control stream may block before the
/// tablet is considered stuck and closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the patrol link tells dispatch, without knowing dispatch: tablet
/// incident reports and order progress, both already stored by the link
/// (dispatch imports what it missed on restart). Implemented by
/// [`crate::dispatch::desk::Desk`].
pub trait DispatchInbox: Send + Sync + 'static {
    /// A tablet's incident report, stored.
    fn tablet_report(
        &self,
        unit: &str,
        report: &vigie_protocols::tablet::IncidentReport,
    ) -> BoxFuture<'static, ()>;
    /// An acknowledgement, stored, moved an order forward.
    fn order_progress(&self, order_id: &str, state: OrderState) -> BoxFuture<'static, ()>;
}

/// Streams the live picture to an operator's connection, until it closes.
/// Implemented by [`crate::operator::picture::PictureSources`].
pub trait PictureService: Send + Sync + 'static {
    /// The stream's task, at most every `min_interval`.
    fn stream(&self, conn: quinn::Connection, min_interval: Duration) -> BoxFuture<'static, ()>;
}

/// A boxed future, for the traits above.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the QUIC edge uses, and nothing else.
pub struct QuicContext {
    /// The data directory: the deployment CA, restart keys.
    pub data_dir: std::path::PathBuf,
    /// The site's name (the CA's subject).
    pub site_name: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Camera optics, for the sector of a tablet that streams.
    pub optics: crate::coverage::camera::Optics,
    /// When orders not taken are sent again.
    pub resend: super::session::ResendPolicy,
    /// The fleet picture the tablets' positions go to.
    pub fleet: crate::fleet::FleetHandle,
    /// The revocation list's store.
    pub store: crate::store::Store,
    /// The site's local frame.
    pub frame: crate::frame::LocalFrame,
    /// Order queue and live sessions.
    pub patrol: Arc<super::roster::PatrolLink>,
    /// Who sees a point, for tablets' coverage queries.
    pub coverage: Arc<crate::coverage::live::LiveCoverage>,
    /// The audit register.
    pub audit: crate::guardrails::audit::Audit,
    /// Refusal counting.
    pub guardrails: Arc<crate::guardrails::Guardrails>,
    /// Dispatch, as the link sees it.
    pub dispatch: Arc<dyn DispatchInbox>,
    /// The operators' live picture.
    pub pictures: Arc<dyn PictureService>,
    /// Live video feeds.
    pub video: Arc<crate::video::relay::Relay>,
    /// Tablets' cameras taken in (`None`: video streams are refused).
    pub tablet_video: Option<crate::video::tablet::TabletVideo>,
}

impl std::fmt::Debug for QuicContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicContext")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// Binds the QUIC listener on `state.listen` and spawns its task; returns
/// the bound address. Creates the deployment CA in the data
/// directory if there is none and issues the server's certificate from it.
pub async fn spawn(
    state: &Arc<QuicContext>,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let ca = DeploymentCa::open_or_init(&state.data_dir, &state.site_name)
        .context("cannot open the deployment CA")?;
    let server_cert = ca
        .issue(
            vigie_protocols::tablet::SERVER_NAME,
            Role::Server,
            Validity::from_now(Duration::from_secs(365 * 86_400)),
            None,
        )
        .context("cannot issue the server certificate")?;
    let link = state.patrol.clone();
    link.refresh_revocations(&state.store);
    let ticketer = tls::PersistentTicketer::open(
        &super::ca::ca_dir(&state.data_dir).join("tls-ticket.key"),
        crate::time::unix_ms(),
    )?;
    let full = Arc::new(tls::FullHandshakes::default());
    let config = tls::server_config_noting(
        ca.cert_der(),
        server_cert.cert_der,
        server_cert.key_der,
        link.revocations().clone(),
        Arc::new(ticketer),
        full.clone(),
    )?;
    let listen = state.listen;
    let keys = restart_keys(&state.data_dir)?;
    let endpoint = bind(listen, config, keys)
        .with_context(|| format!("cannot bind the QUIC listener on {listen}"))?;
    let addr = endpoint.local_addr()?;
    tracing::info!(%addr, "patrol link listening (QUIC, ALPN vigie/1)");
    tasks.spawn(accept_loop(endpoint, state.clone(), full, shutdown));
    Ok(addr)
}

/// Most stateless resets sent per second (quinn's default is 50, which
/// would take 200 s to tell 10,000 tablets of a restart). A reset is always
/// smaller than the packet that triggers it, so this is no amplifier.
pub const MAX_RESETS_PER_SECOND: u32 = 5_000;

/// The keys that let a restarted server recognise the connections of the
/// previous run: the stateless-reset key and the connection-id key, kept in
/// the data directory. After a crash, the restarted server sees that a
/// packet carries one of its own (old) connection ids and answers with a
/// reset the tablet can verify, so tablets learn at once (not after a 30 s
/// idle timeout) that they must reconnect. Without the connection-id key,
/// quinn drops such packets as foreign and sends nothing.
struct RestartKeys {
    /// Stateless-reset tokens are HMACs under this key.
    reset: ring::hmac::Key,
    /// Key of quinn's hashed connection-id generator.
    cid: u64,
}

fn restart_keys(data_dir: &std::path::Path) -> anyhow::Result<RestartKeys> {
    let reset = reset_key(data_dir)?;
    let tag = ring::hmac::sign(&reset, b"vigie quic connection-id key");
    let mut cid = [0u8; 8];
    cid.copy_from_slice(&tag.as_ref()[..8]);
    Ok(RestartKeys {
        reset,
        cid: u64::from_le_bytes(cid),
    })
}

fn reset_key(data_dir: &std::path::Path) -> anyhow::Result<ring::hmac::Key> {
    let path = super::ca::ca_dir(data_dir).join("quic-reset.key");
    let mut bytes = [0u8; 64];
    match std::fs::read_to_string(&path) {
        Ok(hex) if hex.trim().len() == 128 => {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex.trim()[2 * i..2 * i + 2], 16)
                    .with_context(|| format!("{} is corrupt: delete it", path.display()))?;
            }
        }
        _ => {
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| anyhow::anyhow!("no system randomness for the QUIC reset key"))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            super::ca::write_private(&path, &hex)?;
        }
    }
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
}

/// A UDP socket with large buffers, wrapped in a quinn endpoint.
fn bind(
    addr: SocketAddr,
    config: quinn::ServerConfig,
    keys: RestartKeys,
) -> std::io::Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    for (what, r) in [
        ("receive", socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES)),
        ("send", socket.set_send_buffer_size(SOCKET_BUFFER_BYTES)),
    ] {
        if let Err(e) = r {
            tracing::warn!("cannot size the QUIC {what} buffer: {e}; bursts may be dropped");
        }
    }
    socket.bind(&addr.into())?;
    let mut endpoint_config = quinn::EndpointConfig::new(Arc::new(keys.reset));
    endpoint_config.max_udp_payload_size(1472).ok();
    let cid_key = keys.cid;
    endpoint_config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    endpoint_config.min_reset_interval(Duration::from_secs(1) / MAX_RESETS_PER_SECOND);
    quinn::Endpoint::new(
        endpoint_config,
        Some(config),
        socket.into(),
        Arc::new(quinn::TokioRuntime),
    )
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    state: Arc<QuicContext>,
    full: Arc<tls::FullHandshakes>,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES_IN_PROGRESS));
    let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut connections = JoinSet::new();
    let mut refresh = tokio::time::interval(Duration::from_secs(2));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let link = state.patrol.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                if connections.len() >= MAX_CONNECTIONS {
                    link.counters.refused_overload.fetch_add(1, Ordering::Relaxed);
                    incoming.refuse();
                    continue;
                }
                match handshakes.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(connection(incoming, permit, state.clone(), full.clone()));
                    }
                    Err(_) if waiting.load(Ordering::Relaxed) < MAX_WAITING_HANDSHAKES => {
                        // Wait in line (the semaphore is first come, first
                        // served) for a bounded time, then refuse.
                        waiting.fetch_add(1, Ordering::Relaxed);
                        let (handshakes, waiting, state, full) = (handshakes.clone(), waiting.clone(), state.clone(), full.clone());
                        connections.spawn(async move {
                            let permit = tokio::time::timeout(ADMISSION_WAIT, handshakes.acquire_owned()).await;
                            waiting.fetch_sub(1, Ordering::Relaxed);
                            match permit {
                                Ok(Ok(permit)) => connection(incoming, permit, state, full).await,
                                _ => {
                                    state.patrol.counters.refused_overload.fetch_add(1, Ordering::Relaxed);
                                    incoming.refuse();
                                }
                            }
                        });
                    }
                    Err(_) => {
                        link.counters.refused_overload.fetch_add(1, Ordering::Relaxed);
                        incoming.refuse();
                    }
                }
            }
            _ = refresh.tick() => link.refresh_revocations(&state.store),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.wait() => break,
        }
    }
    endpoint.close((CloseCode::Normal as u32).into(), b"server shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    connections.abort_all();
    Ok(())
}

/// The peer's unit identity and certificate fingerprint from its verified
/// certificate.
fn identity(conn: &quinn::Connection) -> Option<(UnitIdentity, String)> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    let der = certs.first()?;
    Some((UnitIdentity::from_der(der)?, tls::fingerprint(der)))
}

/// Queues an entry for the audit register: never waits for a commit (only
/// for room in the queue when it is full).
async fn register(state: &QuicContext, entry: crate::guardrails::audit::Entry) {
    if let Err(e) = state.audit.enqueue_async(entry).await {
        tracing::error!("audit register unavailable, patrol event unrecorded: {e}");
    }
}

/// Counts a refused connection: in the register, one row per source (unit,
/// or remote IP before a certificate was read) and minute, with the count
/// and the distinct reasons, shared with refused HTTP requests
/// ([`crate::guardrails::refusals`]); in the log, one summary line per 5 s
/// at most. A flood of bad handshakes fills neither the disk nor the log.
async fn register_refusal(
    state: &QuicContext,
    who: Option<&UnitIdentity>,
    remote: SocketAddr,
    stage: register::Stage,
    reason: &str,
) {
    let ip = remote.ip().to_string();
    let mut class = vec![
        ("stage", stage.as_str().to_string()),
        ("remote", ip.clone()),
    ];
    let (actor, source) = match who {
        Some(id) => {
            class.push(("role", id.role.clone()));
            class.push(("serial", id.serial.clone()));
            (
                crate::guardrails::audit::Actor::Unit(id.unit.clone()),
                format!("unit:{}", id.unit),
            )
        }
        None => (
            crate::guardrails::audit::Actor::Anonymous,
            format!("remote:{ip}"),
        ),
    };
    let refusal = crate::guardrails::refusals::Refusal {
        at_ms: crate::time::unix_ms(),
        action: "patrol.refused",
        actor,
        source,
        class,
        request: "connect".into(),
        reason: reason.to_string(),
    };
    if let Some(line) = state.guardrails.refusal("quic", refusal) {
        tracing::warn!("{line}");
    }
}

fn close(conn: &quinn::Connection, code: CloseCode, reason: &str) {
    conn.close((code as u32).into(), reason.as_bytes());
}

async fn connection(
    incoming: quinn::Incoming,
    permit: OwnedSemaphorePermit,
    state: Arc<QuicContext>,
    full: Arc<tls::FullHandshakes>,
) {
    let remote = incoming.remote_address();
    let link = state.patrol.clone();
    let counters = link.counters.clone();
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%remote, "connection not accepted: {e}");
            return;
        }
    };
    counters
        .handshakes_in_progress
        .fetch_add(1, Ordering::Relaxed);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await;
    counters
        .handshakes_in_progress
        .fetch_sub(1, Ordering::Relaxed);
    drop(permit);
    let conn = match handshake {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
            // Summarised (throttled) by `register_refusal`.
            tracing::debug!(%remote, "handshake failed: {e}");
            // No certificate, an unknown CA, an expired or revoked one: the
            // TLS layer refused it.
            register_refusal(
                &state,
                None,
                remote,
                register::Stage::Handshake,
                &e.to_string(),
            )
            .await;
            return;
        }
        Err(_) => {
            counters.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%remote, "handshake timed out");
            return;
        }
    };
    let Some((identity, fingerprint)) = identity(&conn) else {
        counters
            .refused_after_handshake
            .fetch_add(1, Ordering::Relaxed);
        let reason = "no usable client certificate";
        close(&conn, CloseCode::ProtocolViolation, reason);
        register_refusal(&state, None, remote, register::Stage::Connect, reason).await;
        return;
    };
    let resumed = !full.claim(&fingerprint);
    let span = tracing::info_span!("tablet", unit = %identity.unit, %remote);
    async move {
        let role = match identity.role.parse::<Role>() {
            Ok(role) if role.may_connect() => role,
            _ => {
                counters.refused_after_handshake.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(role = %identity.role, "refused: role may not connect");
                let reason = format!("role {:?} may not connect as a client; use a patrol, supervisor or operator certificate", identity.role);
                close(&conn, CloseCode::RoleRefused, &reason);
                register_refusal(&state, Some(&identity), remote, register::Stage::Connect, &reason).await;
                return;
            }
        };
        // A resumed TLS session skips certificate verification: check again.
        let now_ms = crate::time::unix_ms();
        if identity.not_after_ms < now_ms || identity.not_before_ms > now_ms {
            counters.refused_after_handshake.fetch_add(1, Ordering::Relaxed);
            let reason = "certificate expired or not yet valid: ask for a new one";
            close(&conn, CloseCode::Revoked, reason);
            register_refusal(&state, Some(&identity), remote, register::Stage::Connect, reason).await;
            return;
        }
        if link.revocations().is_revoked(&identity.serial) {
            counters.refused_after_handshake.fetch_add(1, Ordering::Relaxed);
            let reason = "certificate revoked: ask for a new one";
            close(&conn, CloseCode::Revoked, reason);
            register_refusal(&state, Some(&identity), remote, register::Stage::Connect, reason).await;
            return;
        }
        let attached = link.attach(&identity, conn.clone());
        let session_id = attached.session_id;
        let facts = register::SessionFacts::new(&identity, fingerprint, remote, resumed, session_id);
        let started = crate::time::unix_ms();
        register(&state, register::session_start(started, &facts)).await;
        let mut tablet = Tablet::new(&state, &identity, role, facts, conn.clone());
        tablet.run(attached).await;
        if link.detach(&identity.unit, session_id) {
            tablet.disconnected();
        }
        let ended = crate::time::unix_ms();
        let why = conn
            .close_reason()
            .map_or_else(|| "closed".to_string(), |e| e.to_string());
        register(&state, register::session_end(ended, &tablet.facts, ended - started, &why)).await;
    }
    .instrument(span)
    .await;
}

/// One connection's task state: the session core and the unit as shown in
/// the picture.
struct Tablet {
    /// Shared server state.
    state: Arc<QuicContext>,
    /// The connection.
    conn: quinn::Connection,
    /// The protocol core.
    session: Session,
    /// The unit as the picture shows it.
    unit: Unit,
    /// The unit's view sector in the local frame, while it streams.
    seen: Option<crate::fleet::LocalRing>,
    /// Status the unit declared (shown while connected).
    declared: UnitStatus,
    /// The live picture stream task, for operator clients that asked.
    picture: Option<tokio::task::JoinHandle<()>>,
    /// Live video stream tasks, for operator clients that asked.
    videos: Vec<tokio::task::JoinHandle<()>>,
    /// Whether this client is a unit in the field shown in the picture (an
    /// operator console is not: it must never be dispatched).
    in_picture: bool,
    /// Who this session is, for the audit register.
    facts: register::SessionFacts,
}

impl Drop for Tablet {
    fn drop(&mut self) {
        if let Some(task) = self.picture.take() {
            task.abort();
        }
        for task in self.videos.drain(..) {
            task.abort();
        }
    }
}

impl Tablet {
    fn new(
        state: &Arc<QuicContext>,
        identity: &UnitIdentity,
        role: Role,
        facts: register::SessionFacts,
        conn: quinn::Connection,
    ) -> Tablet {
        let session_id = facts.session_id;
        let previous = state.fleet.read(|f| f.get(&identity.unit).cloned());
        let declared = match previous.as_ref().map(|u| u.status) {
            Some(UnitStatus::LinkLost) | None => UnitStatus::Available,
            Some(s) => s,
        };
        let unit = Unit {
            id: identity.unit.clone(),
            kind: UnitKind::Patrol,
            status: UnitStatus::LinkLost,
            name: previous.as_ref().and_then(|u| u.name.clone()),
            position: previous.as_ref().and_then(|u| u.position),
            last_seen_ms: previous.as_ref().and_then(|u| u.last_seen_ms),
            source: "quic".into(),
            coverage: None,
            drone: None,
            patrol: Some(PatrolInfo {
                role: role.as_str().into(),
                connected: false,
                link_quality: None,
                rtt_ms: None,
                remote: Some(conn.remote_address().to_string()),
            }),
        };
        Tablet {
            state: state.clone(),
            session: Session::new(Instant::now(), identity.unit.clone(), role, session_id)
                .with_resend(state.resend),
            conn,
            unit,
            seen: None,
            declared,
            picture: None,
            videos: Vec::new(),
            in_picture: role != Role::Operator,
            facts,
        }
    }

    async fn run(&mut self, mut attached: Attached) {
        // The control stream, within the Hello deadline.
        let deadline = self.session.poll_timeout().unwrap_or_else(Instant::now);
        let (mut send, mut recv) = tokio::select! {
            s = self.conn.accept_bi() => match s {
                Ok(s) => s,
                Err(e) => { tracing::info!("closed before opening its control stream: {e}"); return; }
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                self.session.handle_timeout(Instant::now());
                let _ = self.apply(None).await;
                return;
            }
        };
        let mut decoder = FrameDecoder::<ClientMessage>::new(MAX_CONTROL_MESSAGE_BYTES);
        let mut buf = vec![0u8; 16 * 1024];
        let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(4);
        let (video_tx, mut video_rx) = tokio::sync::mpsc::channel::<VideoStart>(1);
        // A video stream taken in says here when it ended.
        let (video_done_tx, mut video_done_rx) =
            tokio::sync::mpsc::channel::<crate::video::tablet::Ended>(1);
        let mut reports = JoinSet::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let link = self.state.patrol.clone();
        loop {
            let now = Instant::now();
            let now_ms = crate::time::unix_ms();
            // Messages already received, as far as the read pace allows.
            if self.session.paced_until(now).is_none() && decoder.buffered() > 0 {
                self.take_control(&mut decoder, now, now_ms);
                if self.apply(Some(&mut send)).await.is_err() {
                    return;
                }
            }
            // Ahead of the read pace: read nothing until it allows, and
            // QUIC flow control holds the client's writes meanwhile.
            let paced = self.session.paced_until(now);
            // Orders to send again, when the session keeps some.
            let wake = self.session.poll_timeout();
            tokio::select! {
                read = recv.read(&mut buf), if paced.is_none() => match read {
                    Ok(Some(n)) => {
                        decoder.push(&buf[..n]);
                        self.take_control(&mut decoder, now, now_ms);
                    }
                    Ok(None) => {
                        // A frame cut short by FIN is a broken frame, not a
                        // goodbye: a client must not be told to reconnect
                        // and send it again as it is.
                        if decoder.buffered() > 0 {
                            link.counters.malformed.fetch_add(1, Ordering::Relaxed);
                            close(&self.conn, CloseCode::ProtocolViolation, "control stream ended in the middle of a frame");
                        } else {
                            close(&self.conn, CloseCode::Normal, "control stream finished");
                        }
                        return;
                    }
                    Err(e) => { tracing::info!("control stream ended: {e}"); return; }
                },
                datagram = self.conn.read_datagram() => match datagram {
                    Ok(bytes) => {
                        link.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                        match codec::decode_datagram(&bytes) {
                            Ok(m) => self.session.handle_message(now, now_ms, Channel::Datagram, m),
                            Err(e) => {
                                link.counters.malformed.fetch_add(1, Ordering::Relaxed);
                                self.session.handle_decode_error(Channel::Datagram, &e)
                            }
                        }
                    }
                    Err(e) => { tracing::info!("connection ended: {e}"); return; }
                },
                stream = self.conn.accept_uni() => match stream {
                    Ok(stream) => {
                        let tx = report_tx.clone();
                        reports.spawn(read_uni(stream, tx, video_tx.clone()));
                    }
                    Err(e) => { tracing::info!("connection ended: {e}"); return; }
                },
                _ = tokio::time::sleep_until(paced.unwrap_or(now).into()), if paced.is_some() => {}
                Some(report) = report_rx.recv(), if paced.is_none() => match report {
                    Ok(m) => {
                        link.counters.stream_messages.fetch_add(1, Ordering::Relaxed);
                        self.session.handle_message(now, now_ms, Channel::Report, m)
                    }
                    Err(e) => {
                        link.counters.malformed.fetch_add(1, Ordering::Relaxed);
                        self.session.handle_decode_error(Channel::Report, &e)
                    }
                },
                Some(_) = reports.join_next(), if !reports.is_empty() => {}
                Some(start) = video_rx.recv() => self.video_stream(start, &video_done_tx),
                Some(ended) = video_done_rx.recv() => {
                    self.session.video_stream_ended();
                    if let crate::video::tablet::Ended::Malformed(why) = ended {
                        link.counters.malformed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(unit = %self.unit.id, "video stream refused as malformed: {why}");
                    }
                }
                Some(order) = attached.orders.recv() => self.session.order_issued(now, &order),
                _ = tokio::time::sleep_until(wake.unwrap_or(now + TICK).into()), if wake.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
                b = attached.broadcasts.recv() => match b {
                    Ok(b) if b.from_unit != self.unit.id && self.session.is_open() => {
                        if self.write(&mut send, ServerMessage { body: Some(server_message::Body::Broadcast(b)) }).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => tracing::warn!("missed {n} broadcasts (slow link)"),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    let stats = self.conn.stats();
                    self.session.path_sample(PathSample { rtt: stats.path.rtt, sent_packets: stats.path.sent_packets, lost_packets: stats.path.lost_packets });
                    if attached.resync.swap(false, Ordering::Relaxed) {
                        self.session.resync();
                    }
                    self.session.handle_timeout(now);
                    if let Some(info) = self.unit.patrol.as_mut() {
                        info.rtt_ms = Some(stats.path.rtt.as_secs_f64() * 1000.0);
                        info.link_quality = self.session.link_quality();
                        info.remote = Some(self.conn.remote_address().to_string());
                    }
                    if self.session.is_open() { self.publish(); }
                }
            }
            if self.apply(Some(&mut send)).await.is_err() {
                return;
            }
        }
    }

    /// A unidirectional stream began with a `VideoFrame`: taken in as this
    /// unit's camera when the session allows it and tablet video is on, on
    /// a task of its own that reports its end on `done`; stopped otherwise
    /// (the session tells the client why).
    fn video_stream(
        &mut self,
        start: VideoStart,
        done: &tokio::sync::mpsc::Sender<crate::video::tablet::Ended>,
    ) {
        let VideoStart {
            first,
            decoder,
            mut stream,
        } = start;
        let Some(video) = self.state.tablet_video.clone() else {
            let _ = stream.stop(quinn::VarInt::from_u32(crate::video::tablet::STOP_REFUSED));
            self.session
                .refuse_video_stream("this server does not take tablet video in");
            return;
        };
        if !self.session.video_stream_opened() {
            let _ = stream.stop(quinn::VarInt::from_u32(crate::video::tablet::STOP_REFUSED));
            return;
        }
        let unit = self.unit.id.clone();
        let done = done.clone();
        tracing::info!(%unit, "taking in the tablet's camera");
        // Not tied to this task: a connection that ends lets the stream
        // end, and what it held is still written.
        tokio::spawn(async move {
            let ended = crate::video::tablet::take_in(&video, &unit, first, decoder, stream).await;
            let _ = done.send(ended).await;
        });
    }

    /// Hands the complete control-stream messages in `decoder` to the
    /// session while the read pace allows.
    fn take_control(
        &mut self,
        decoder: &mut FrameDecoder<ClientMessage>,
        now: Instant,
        now_ms: i64,
    ) {
        let counters = &self.state.patrol.counters;
        while self.session.paced_until(now).is_none() {
            match decoder.next_message() {
                Ok(Some(m)) => {
                    counters.stream_messages.fetch_add(1, Ordering::Relaxed);
                    self.session
                        .handle_message(now, now_ms, Channel::Control, m)
                }
                Ok(None) => break,
                Err(e) => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                    self.session.handle_decode_error(Channel::Control, &e);
                    if e != DecodeError::UnknownMessage {
                        break;
                    }
                }
            }
        }
    }

    /// Carries out the session's outputs; `Err` when the connection is done.
    async fn apply(&mut self, mut send: Option<&mut quinn::SendStream>) -> Result<(), ()> {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Send(msg) => {
                    let is_order = matches!(msg.body, Some(server_message::Body::Order(_)));
                    if let Some(send) = send.as_deref_mut() {
                        self.write(send, msg).await?;
                        if is_order {
                            self.state
                                .patrol
                                .counters
                                .orders_sent
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Output::Close { code, reason } => {
                    tracing::info!(?code, "closing: {reason}");
                    close(&self.conn, code, &reason);
                    return Err(());
                }
                Output::Up => {
                    self.state
                        .patrol
                        .counters
                        .sessions_opened
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!("session open");
                    if let Some(info) = self.unit.patrol.as_mut() {
                        info.connected = true;
                    }
                    self.unit.status = self.declared;
                    self.unit.last_seen_ms = Some(crate::time::unix_ms());
                    self.publish();
                }
                Output::Position(p) => {
                    let opt = |v: Option<f32>| v.filter(|v| v.is_finite()).map(f64::from);
                    self.unit.position = Some(Position {
                        lat_deg: p.lat_deg,
                        lon_deg: p.lon_deg,
                        alt_msl_m: None,
                        alt_rel_m: None,
                        heading_deg: opt(p.heading_deg),
                        speed_m_s: opt(p.speed_m_s),
                        accuracy_m: (p.accuracy_m > 0.0).then_some(f64::from(p.accuracy_m)),
                    });
                    self.seen = streaming_sector(&self.state, &p).map(Into::into);
                    self.unit.coverage = self
                        .seen
                        .as_deref()
                        .map(|r| self.state.frame.ring_to_wgs84(r));
                    self.unit.last_seen_ms = Some(crate::time::unix_ms());
                    self.publish();
                }
                Output::Status(s) => {
                    self.declared = match s {
                        vigie_protocols::tablet::UnitStatus::EnRoute => UnitStatus::EnRoute,
                        vigie_protocols::tablet::UnitStatus::OnScene => UnitStatus::OnScene,
                        vigie_protocols::tablet::UnitStatus::Unavailable => UnitStatus::Unavailable,
                        _ => UnitStatus::Available,
                    };
                    self.unit.status = self.declared;
                    self.publish();
                }
                Output::Incident(r) => {
                    tracing::info!(category = ?r.category(), id = %r.message_id, "incident reported");
                    self.state.dispatch.tablet_report(&self.unit.id, &r).await;
                }
                Output::Broadcast(b) => {
                    register(&self.state, register::broadcast(crate::time::unix_ms(), &b)).await;
                    self.state.patrol.broadcast(b);
                }
                Output::Refused { action, reason } => {
                    tracing::info!(action, "refused: {reason}");
                    let entry = register::session_refused(
                        crate::time::unix_ms(),
                        &self.facts,
                        action,
                        &reason,
                    );
                    register(&self.state, entry).await;
                }
                Output::Persist(op) => {
                    // Awaited here, in order: this connection waits for the
                    // writer (and reads nothing meanwhile, so QUIC flow
                    // control holds its tablet back); the runtime does not.
                    let unit = self.session.unit().to_string();
                    let done = self
                        .state
                        .patrol
                        .writer()
                        .execute(&unit, crate::time::unix_ms(), op)
                        .await;
                    self.session
                        .persisted(Instant::now(), crate::time::unix_ms(), done);
                }
                Output::CoverageQuery { query_id, point } => {
                    let answer = coverage_answer(&self.state, query_id, point);
                    if let Some(send) = send.as_deref_mut() {
                        self.write(send, answer).await?;
                    }
                }
                Output::SubscribeVideo { source } => {
                    let refusal = match self.state.video.get(&source) {
                        None => Some((
                            vigie_protocols::tablet::ErrorCode::Invalid,
                            format!(
                                "no live feed of {source}: [[video.streams]] names the feeds this ground takes in"
                            ),
                        )),
                        Some(feed)
                            if !feed.permitted.load(std::sync::atomic::Ordering::Relaxed) =>
                        {
                            Some((
                                vigie_protocols::tablet::ErrorCode::NotPermitted,
                                format!(
                                    "{source}'s video is not relayed: no active flight authorisation names it"
                                ),
                            ))
                        }
                        Some(feed) => {
                            tracing::info!(%source, "operator client watches a live feed");
                            register(
                                &self.state,
                                register::video(crate::time::unix_ms(), &self.facts, &source),
                            )
                            .await;
                            self.videos.push(tokio::spawn(
                                crate::video::relay::to_quic(self.conn.clone(), feed, source)
                                    .in_current_span(),
                            ));
                            None
                        }
                    };
                    if let (Some((code, message)), Some(send)) = (refusal, send.as_deref_mut()) {
                        let error = ServerMessage {
                            body: Some(server_message::Body::Error(
                                vigie_protocols::tablet::Error {
                                    code: code as i32,
                                    message,
                                    message_id: String::new(),
                                },
                            )),
                        };
                        self.write(send, error).await?;
                    }
                }
                Output::SubscribePicture { min_interval } => {
                    tracing::info!(?min_interval, "operator client follows the live picture");
                    let entry = register::picture(
                        crate::time::unix_ms(),
                        &self.facts,
                        min_interval.as_millis(),
                    );
                    register(&self.state, entry).await;
                    self.picture = Some(tokio::spawn(
                        self.state
                            .pictures
                            .stream(self.conn.clone(), min_interval)
                            .in_current_span(),
                    ));
                }
                Output::OrderProgress(outcome, order_id) => {
                    if let AckOutcome::Applied {
                        from,
                        to,
                        issued_ms,
                    } = outcome
                    {
                        self.state.patrol.ack_applied(
                            from == OrderState::Pending,
                            issued_ms,
                            crate::time::unix_ms(),
                        );
                        tracing::info!(%order_id, state = to.as_str(), "order progressed");
                        let entry = register::order_progress(
                            crate::time::unix_ms(),
                            &self.facts,
                            &order_id,
                            to.as_str(),
                        );
                        register(&self.state, entry).await;
                        self.state.dispatch.order_progress(&order_id, to).await;
                        let status = match to {
                            OrderState::Accepted => Some(UnitStatus::EnRoute),
                            OrderState::Arrived => Some(UnitStatus::OnScene),
                            OrderState::Closed | OrderState::Withdrawn => {
                                Some(UnitStatus::Available)
                            }
                            _ => None,
                        };
                        if let Some(s) = status {
                            self.declared = s;
                            self.unit.status = s;
                            self.publish();
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn write(&self, send: &mut quinn::SendStream, msg: ServerMessage) -> Result<(), ()> {
        let frame = match codec::encode_frame(&msg, MAX_CONTROL_MESSAGE_BYTES) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("cannot frame a server message: {e}");
                // An order that can never be framed (stored before orders
                // were checked at the API) must not stay pending for ever:
                // it is withdrawn, which dispatch and the operator see.
                if let Some(server_message::Body::Order(order)) = msg.body {
                    let link = self.state.patrol.clone();
                    let reason = format!("undeliverable: {e}");
                    tokio::task::spawn_blocking(move || {
                        match link.withdraw_blocking(&order.order_id, &reason) {
                            Ok(_) => {
                                tracing::error!(order = %order.order_id, "order withdrawn: {reason}")
                            }
                            Err(e) => {
                                tracing::error!(order = %order.order_id, "cannot withdraw an undeliverable order: {e}")
                            }
                        }
                    });
                }
                return Ok(());
            }
        };
        match tokio::time::timeout(WRITE_TIMEOUT, send.write_all(&frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::info!("control stream write failed: {e}");
                Err(())
            }
            Err(_) => {
                tracing::warn!("tablet not reading its control stream for 10 s: closing");
                close(&self.conn, CloseCode::Flood, "control stream not read");
                Err(())
            }
        }
    }

    fn publish(&self) {
        if self.in_picture {
            self.state
                .fleet
                .upsert_seen(self.unit.clone(), self.seen.clone());
        }
    }

    /// The connection is gone and no newer one took over.
    fn disconnected(&mut self) {
        if let Some(info) = self.unit.patrol.as_mut() {
            info.connected = false;
            info.link_quality = Some(0.0);
        }
        self.unit.status = UnitStatus::LinkLost;
        self.publish();
    }
}

/// A unidirectional stream that began with a `VideoFrame`: the tablet's
/// camera, for the connection's task to take in or refuse.
struct VideoStart {
    first: vigie_protocols::tablet::VideoFrame,
    decoder: FrameDecoder<ClientMessage>,
    stream: quinn::RecvStream,
}

/// Reads one unidirectional stream from the client: a report stream (one
/// frame, then FIN), or, when its first message is a `VideoFrame`, a video
/// stream handed to `video` whole.
async fn read_uni(
    mut stream: quinn::RecvStream,
    tx: tokio::sync::mpsc::Sender<Result<ClientMessage, DecodeError>>,
    video: tokio::sync::mpsc::Sender<VideoStart>,
) {
    // Decoded as it arrives: an oversize length prefix is refused as soon
    // as it is read, not after the whole body; each complete frame is
    // handled (the spec asks for one per stream, a second is not an error).
    let mut decoder = FrameDecoder::<ClientMessage>::new(MAX_REPORT_MESSAGE_BYTES);
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    loop {
        match stream.read(&mut buf).await {
            Ok(Some(n)) => {
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_message() {
                        Ok(Some(ClientMessage {
                            body: Some(client_message::Body::VideoFrame(frame)),
                        })) if first => {
                            let _ = video
                                .send(VideoStart {
                                    first: frame,
                                    decoder,
                                    stream,
                                })
                                .await;
                            return;
                        }
                        Ok(Some(m)) => {
                            first = false;
                            if tx.send(Ok(m)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = stream.stop(quinn::VarInt::from_u32(0));
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
            }
            Ok(None) => {
                if let Err(e) = decoder.finish() {
                    let _ = tx.send(Err(e)).await;
                }
                return;
            }
            Err(e) => {
                let _ = tx
                    .send(Err(DecodeError::Malformed {
                        detail: format!("report stream failed: {e}"),
                    }))
                    .await;
                return;
            }
        }
    }
}

/// The view sector of a tablet's camera while it streams, as a closed ring
/// in the local frame; `None` when it does not stream or no bearing is known.
/// Its range is where the stream still reaches the configured pixel-density
/// tier (IEC 62676-4) with the configured tablet optics.
fn streaming_sector(
    state: &QuicContext,
    p: &vigie_protocols::tablet::PositionReport,
) -> Option<Vec<[f64; 2]>> {
    if !p.streaming {
        return None;
    }
    let bearing = [p.camera_bearing_deg, p.heading_deg]
        .into_iter()
        .flatten()
        .find(|b| b.is_finite())
        .map(f64::from)?;
    let optics = &state.optics;
    let range_m = crate::coverage::camera::tier_range_m(
        optics.tablet_px,
        optics.tablet_hfov_deg,
        optics.range_tier,
    );
    let (east, north) = state.frame.to_local(p.lat_deg, p.lon_deg);
    let ring = crate::coverage::footprint::view_sector(
        east,
        north,
        bearing,
        optics.tablet_hfov_deg,
        range_m,
    );
    Some(ring.into_iter().map(|(e, n)| [e, n]).collect())
}

/// Units whose current coverage contains the point, nearest first.
fn coverage_answer(
    state: &QuicContext,
    query_id: String,
    point: Option<GeoPoint>,
) -> ServerMessage {
    use geo::Contains as _;
    let mut sources = Vec::new();
    if let Some(p) = point {
        let target = geo::Point::new(p.lon_deg, p.lat_deg);
        state.fleet.read(|f| {
            for u in f.units() {
                let Some(ring) = &u.coverage else { continue };
                let poly = geo::Polygon::new(
                    ring.iter()
                        .map(|c| geo::coord! { x: c[0], y: c[1] })
                        .collect(),
                    vec![],
                );
                if !poly.contains(&target) {
                    continue;
                }
                let kind = match u.kind {
                    UnitKind::Drone => SourceKind::Drone,
                    UnitKind::Patrol => SourceKind::Patrol,
                    UnitKind::FixedCamera => SourceKind::FixedCamera,
                    UnitKind::CallPoint => continue,
                };
                let distance_m = u.position.map_or(0.0, |q| {
                    crate::frame::haversine_m(q.lat_deg, q.lon_deg, p.lat_deg, p.lon_deg)
                });
                sources.push(CoverageSource {
                    unit_id: u.id.clone(),
                    kind: kind as i32,
                    name: u.name.clone().unwrap_or_default(),
                    distance_m,
                });
            }
        });
    }
    sources.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    ServerMessage {
        body: Some(server_message::Body::Coverage(CoverageAnswer {
            query_id,
            point,
            sources,
            at_ms: crate::time::unix_ms(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quinn::ConnectionIdGenerator as _;

    #[test]
    fn a_restarted_server_recognises_the_connection_ids_of_the_previous_run() {
        let dir = std::env::temp_dir().join(format!("vigie-restart-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(super::super::ca::ca_dir(&dir)).unwrap();
        let before = restart_keys(&dir).unwrap();
        let after = restart_keys(&dir).unwrap();
        let mut old = quinn_proto::HashedConnectionIdGenerator::from_key(before.cid);
        let new = quinn_proto::HashedConnectionIdGenerator::from_key(after.cid);
        let cid = old.generate_cid();
        assert!(
            new.validate(&cid).is_ok(),
            "old connection id not recognised"
        );
        let tag = |k: &ring::hmac::Key| ring::hmac::sign(k, cid.as_ref()).as_ref().to_vec();
        assert_eq!(tag(&before.reset), tag(&after.reset), "reset tokens differ");
        let other =
            std::env::temp_dir().join(format!("vigie-restart-keys-b-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&other);
        std::fs::create_dir_all(super::super::ca::ca_dir(&other)).unwrap();
        assert_ne!(restart_keys(&other).unwrap().cid, before.cid);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }
}
