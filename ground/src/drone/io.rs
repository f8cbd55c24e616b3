//! The thin edge of the drone link: sockets and timers around a
//! [`LinkCore`], and publication of vehicles into the fleet picture.
//!
//! One task per link. Each wake-up drains every datagram already waiting
//! (up to [`RECV_BATCH`]) before publishing, so a burst costs one picture
//! update per vehicle, not one per message. UDP links read with batched
//! system calls (`recvmmsg`, and GRO where the kernel coalesces datagrams,
//! through `quinn-udp`): one call takes in up to [`quinn_udp::BATCH_SIZE`]
//! datagrams.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use vigie_protocols::api::CommandResult;

use super::endpoint::Endpoint;
use super::hub::LinkRequest;
use super::link::{LinkCore, LinkEvent, LinkSettings, OpId, VehicleKey};
use super::wire;
use crate::config::LinkConfig;
use crate::shutdown::Shutdown;

/// Datagrams read per wake-up before the picture is updated. Only a backlog
/// fills it (at 500 drones × 10 Hz a wake-up finds a handful), and then
/// publishing once per vehicle per batch is what keeps the link ahead:
/// 1024 datagrams take about a millisecond to decode.
pub const RECV_BATCH: usize = 1024;
/// Receive buffer per datagram slot of a batched read, bytes: the largest
/// UDP payload, so neither a big datagram nor a GRO-coalesced run is cut.
pub const RECV_SLOT: usize = 65_536;
/// Socket receive buffer asked of the OS, bytes (bursts from hundreds of
/// vehicles at 10 Hz must not overflow it while the task is busy).
pub const RECV_BUFFER: usize = 4 << 20;
/// How often at most a flood of bad frames is logged.
pub const WARN_EVERY: Duration = Duration::from_secs(5);
/// Back-off between TCP connection attempts.
pub const TCP_RETRY: Duration = Duration::from_secs(2);

/// The socket side of a link.
enum Transport {
    /// A UDP socket (`udpin` or `udpout`) and its batched reader.
    Udp(UdpSocket, Box<UdpBatch>),
    /// A TCP peer, connected lazily and re-connected after errors.
    Tcp {
        /// Where to connect.
        addr: SocketAddr,
        /// The connection, when up.
        stream: Option<TcpStream>,
        /// Bytes of a frame still arriving.
        pending: wire::StreamBuffer,
    },
}

/// A bound link, ready to run.
pub struct BoundLink {
    /// Configuration.
    config: LinkConfig,
    /// The transport.
    transport: Transport,
    /// Local address (UDP, both directions) or peer (TCP), for listings.
    pub address: SocketAddr,
    /// Where to send before any vehicle spoke.
    default_peer: Option<SocketAddr>,
}

/// Binds a link's socket.
pub async fn bind(config: &LinkConfig) -> anyhow::Result<BoundLink> {
    let endpoint = Endpoint::parse(&config.address).map_err(anyhow::Error::msg)?;
    let target = endpoint
        .resolve()
        .with_context(|| format!("MAVLink link {}: cannot resolve {}", config.name, endpoint))?;
    let (transport, address, default_peer) = match endpoint {
        Endpoint::UdpIn(_) => {
            let sock = udp_socket(target).with_context(|| {
                format!(
                    "MAVLink link {}: cannot listen on UDP {target}",
                    config.name
                )
            })?;
            let local = sock.local_addr()?;
            let batch = UdpBatch::new(&sock)?;
            (Transport::Udp(sock, batch), local, None)
        }
        Endpoint::UdpOut(_) => {
            let any: SocketAddr = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            }
            .parse()
            .context("wildcard address")?;
            let sock = udp_socket(any).with_context(|| {
                format!("MAVLink link {}: cannot open a UDP socket", config.name)
            })?;
            let batch = UdpBatch::new(&sock)?;
            // Listed under the local address it receives replies on; the
            // peer is where it sends.
            let local = sock.local_addr()?;
            (Transport::Udp(sock, batch), local, Some(target))
        }
        Endpoint::Tcp(_) => (
            Transport::Tcp {
                addr: target,
                stream: None,
                pending: wire::StreamBuffer::default(),
            },
            target,
            Some(target),
        ),
    };
    Ok(BoundLink {
        config: config.clone(),
        transport,
        address,
        default_peer,
    })
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    udp_socket_with(addr, RECV_BUFFER)
}

/// A non-blocking UDP socket bound to `addr`, asking for a receive buffer
/// of `recv_buffer` bytes (the drone links', the video streams').
pub(crate) fn udp_socket_with(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the OS may cap it (net.core.rmem_max); smaller still works.
    let _ = sock.set_recv_buffer_size(recv_buffer);
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

/// Batched UDP reads: buffers and metadata for one `recvmmsg`.
pub struct UdpBatch {
    /// Socket options quinn-udp set (GRO) and its receive path.
    state: quinn_udp::UdpSocketState,
    /// [`quinn_udp::BATCH_SIZE`] slots of [`RECV_SLOT`] bytes.
    buf: Vec<u8>,
    /// What each slot received.
    meta: [quinn_udp::RecvMeta; quinn_udp::BATCH_SIZE],
}

impl UdpBatch {
    /// Prepares batched reads on `sock` (turns on GRO where supported).
    pub fn new(sock: &UdpSocket) -> std::io::Result<Box<UdpBatch>> {
        let state = quinn_udp::UdpSocketState::new(sock.into())?;
        // quinn-udp asks for the TOS byte of every datagram (for ECN); MAVLink
        // has no use for it and it costs a control message per datagram.
        // Best effort: IPv6 sockets refuse the IPv4 option.
        if sock.local_addr().is_ok_and(|a| a.is_ipv4()) {
            let _ = socket2::SockRef::from(sock).set_recv_tos_v4(false);
        }
        Ok(Box::new(UdpBatch {
            state,
            buf: vec![0; quinn_udp::BATCH_SIZE * RECV_SLOT],
            meta: [quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
        }))
    }

    /// Reads what is waiting on `sock`, up to about `max` datagrams, handing
    /// each datagram to `deliver(from, bytes)`. Returns how many were read;
    /// stops early when the socket is drained.
    pub fn drain(
        &mut self,
        sock: &UdpSocket,
        max: usize,
        mut deliver: impl FnMut(SocketAddr, &[u8]),
    ) -> usize {
        let mut read = 0;
        while read < max {
            let mut chunks = self.buf.chunks_mut(RECV_SLOT);
            let mut slices: [std::io::IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
                std::array::from_fn(|_| {
                    std::io::IoSliceMut::new(chunks.next().unwrap_or_default())
                });
            let state = &self.state;
            let meta = &mut self.meta;
            let n = match sock.try_io(tokio::io::Interest::READABLE, || {
                state.recv(sock.into(), &mut slices, meta)
            }) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP port-unreachable from a vehicle that went away
                    // surfaces here on some systems: not fatal.
                    tracing::debug!("UDP receive error: {e}");
                    break;
                }
            };
            for (i, m) in self.meta[..n].iter().enumerate() {
                let data = &self.buf[i * RECV_SLOT..i * RECV_SLOT + m.len.min(RECV_SLOT)];
                // With GRO one slot holds several datagrams, `stride` apart.
                for datagram in data.chunks(m.stride.max(1)) {
                    deliver(m.addr, datagram);
                    read += 1;
                }
            }
            if n == 0 {
                break;
            }
        }
        read
    }
}

impl BoundLink {
    /// The link's configured name.
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// What a drone link's task uses, and nothing else.
#[derive(Debug, Clone)]
pub struct LinkContext {
    /// The ground's MAVLink identity and link-loss delay.
    pub mavlink: crate::config::MavlinkConfig,
    /// The site's ground altitude above sea level, metres.
    pub ground_alt_msl_m: f64,
    /// The site's local frame.
    pub frame: crate::frame::LocalFrame,
    /// The picture the vehicles go to.
    pub fleet: crate::fleet::FleetHandle,
    /// Where signing reservations are kept.
    pub store: crate::store::Store,
    /// Counters, per link.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Starts the link task, serving `requests` (the queue registered in the
/// [`super::hub::DroneHub`]).
pub fn spawn(
    link: BoundLink,
    requests: mpsc::Receiver<LinkRequest>,
    state: Arc<LinkContext>,
    shutdown: Shutdown,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) {
    let reservation = state
        .store
        .signing_reservation(&link.config.name)
        .unwrap_or_else(|e| {
            tracing::error!(
                "link {}: cannot read the signing timestamp: {e}",
                link.config.name
            );
            0
        });
    let settings = LinkSettings {
        name: link.config.name.clone(),
        system_id: state.mavlink.system_id,
        component_id: state.mavlink.component_id,
        link_loss: Duration::from_millis(state.mavlink.link_loss_ms),
        signing_key: link
            .config
            .signing_key
            .as_deref()
            .and_then(|k| super::signing::parse_key(k).ok()),
        signing_reservation: reservation,
        default_peer: link.default_peer,
    };
    match link.default_peer {
        Some(peer) => tracing::info!(
            link = %link.config.name,
            "MAVLink link {}: sending to {peer} (GCS heartbeat every {:?} from now on)",
            link.config.name,
            super::link::GCS_HEARTBEAT
        ),
        None => tracing::info!(
            link = %link.config.name,
            "MAVLink link {}: listening on {}",
            link.config.name,
            link.address
        ),
    }
    let counters = state.metrics.link(&link.config.name);
    let mut core = LinkCore::new(settings, counters);
    core.start(Instant::now());
    tasks.spawn(run(link.transport, core, state, requests, shutdown));
}

/// Rate-limits warnings about bad input.
#[derive(Default)]
struct Throttle {
    /// When the last warning went out.
    last: Option<Instant>,
    /// Reports swallowed since.
    suppressed: u64,
}

impl Throttle {
    fn warn(&mut self, now: Instant, link: &str, what: std::fmt::Arguments<'_>) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                link,
                "{what} (and {} similar since the last report)",
                self.suppressed
            );
        } else {
            tracing::warn!(link, "{what}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// The link's task, its log lines in a `mavlink{link=...}` span. The span
/// follows the future (`Instrument`), not the thread: entered by a guard
/// across awaits, it would tag whatever else that worker thread ran.
async fn run(
    transport: Transport,
    core: LinkCore,
    state: Arc<LinkContext>,
    requests: mpsc::Receiver<LinkRequest>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    use tracing::Instrument as _;
    let span = tracing::info_span!("mavlink", link = %core.name());
    run_link(transport, core, state, requests, shutdown)
        .instrument(span)
        .await
}

async fn run_link(
    mut transport: Transport,
    mut core: LinkCore,
    state: Arc<LinkContext>,
    mut requests: mpsc::Receiver<LinkRequest>,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let name = core.name().to_string();
    let mut waiting: HashMap<OpId, oneshot::Sender<CommandResult>> = HashMap::new();
    let mut dirty: BTreeSet<VehicleKey> = BTreeSet::new();
    let mut bad_frames = Throttle::default();
    let mut bad_signing = Throttle::default();
    let mut duplicates = Throttle::default();
    let mut buf = vec![0u8; 65536];
    let mut next_tcp_try = Instant::now();
    // Signing reservations written off the runtime come back here.
    let mut persisted = mpsc::channel::<(u64, bool)>(4);
    loop {
        let wake = core.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        // Make sure a TCP link is connected (with back-off).
        if let Transport::Tcp {
            addr,
            stream,
            pending,
        } = &mut transport
            && stream.is_none()
            && Instant::now() >= next_tcp_try
        {
            match TcpStream::connect(*addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    tracing::info!("connected to {addr}");
                    *stream = Some(s);
                    pending.clear();
                }
                Err(e) => {
                    tracing::warn!("cannot connect to {addr}: {e}; retrying in {TCP_RETRY:?}");
                    next_tcp_try = Instant::now() + TCP_RETRY;
                }
            }
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = sleep => {
                core.handle_timeout(Instant::now(), crate::time::unix_ms());
            }
            Some((r, ok)) = persisted.1.recv() => core.signing_persisted(r, ok),
            req = requests.recv() => {
                let Some(LinkRequest::Command { unit_id, command, reply }) = req else { break };
                let now = Instant::now();
                match core.key_of(&unit_id) {
                    None => {
                        let _ = reply.send(CommandResult::refused(format!(
                            "no drone {unit_id} on link {name}: GET /api/v1/units lists them"
                        )));
                    }
                    Some(key) => match core.command(now, crate::time::unix_ms(), key, &command) {
                        Ok(op) => {
                            tracing::info!(vehicle = %unit_id, "command {command:?} sent");
                            waiting.insert(op, reply);
                        }
                        Err(result) => {
                            tracing::info!(vehicle = %unit_id, "command {command:?} refused: {}", result.detail);
                            let _ = reply.send(result);
                        }
                    },
                }
            }
            received = recv(&mut transport, &mut buf) => {
                match received {
                    Ok(Received::UdpReadable) => {
                        let now = Instant::now();
                        let wall = crate::time::unix_ms();
                        if let Transport::Udp(sock, batch) = &mut transport {
                            batch.drain(sock, RECV_BATCH, |from, bytes| {
                                core.handle_bytes(now, wall, from, bytes)
                            });
                        }
                    }
                    Ok(Received::Stream(from, n)) => {
                        let now = Instant::now();
                        let wall = crate::time::unix_ms();
                        if let Transport::Tcp { pending, .. } = &mut transport {
                            pending.push(&buf[..n], |run| core.handle_bytes(now, wall, from, run));
                        }
                    }
                    Ok(Received::Nothing) => {}
                    Err(e) => {
                        match &mut transport {
                            Transport::Tcp { stream, addr, .. } => {
                                tracing::warn!("connection to {addr} lost: {e}");
                                *stream = None;
                                next_tcp_try = Instant::now() + TCP_RETRY;
                            }
                            Transport::Udp(..) => tracing::debug!("UDP receive error: {e}"),
                        }
                    }
                }
            }
        }
        // Events.
        let now = Instant::now();
        while let Some(ev) = core.poll_event() {
            match ev {
                LinkEvent::Changed(key) => {
                    dirty.insert(key);
                }
                LinkEvent::Lost(key) => tracing::warn!(vehicle = %core.unit_id(key), "link lost"),
                LinkEvent::Recovered(key) => {
                    tracing::info!(vehicle = %core.unit_id(key), "link recovered")
                }
                LinkEvent::DuplicateSystemId {
                    system_id,
                    first,
                    second,
                    sources,
                } => duplicates.warn(
                    now,
                    &name,
                    format_args!(
                        "CONFLICT: system id {system_id} of {first} is also claimed by {second} ({sources} conflicting source(s) so far); kept apart, give each vehicle its own SYSID or sign the link"
                    ),
                ),
                LinkEvent::Removed(key) => {
                    dirty.remove(&key);
                    state.fleet.remove(&core.unit_id(key));
                }
                LinkEvent::Done(op, result) => {
                    if let Some(reply) = waiting.remove(&op) {
                        let _ = reply.send(result);
                    }
                }
                LinkEvent::SigningRejected {
                    from,
                    system_id,
                    reason,
                } => bad_signing.warn(
                    now,
                    &name,
                    format_args!(
                        "SIGNING: rejected a message from {from} (system {system_id}): {reason}"
                    ),
                ),
                LinkEvent::Malformed { from, error } => bad_frames.warn(
                    now,
                    &name,
                    format_args!("dropped bad MAVLink input from {from}: {error}"),
                ),
                LinkEvent::PersistSigning(r) => {
                    // Off the runtime (SQLite with fsync); the core signs
                    // below the previous reservation meanwhile.
                    let (store, link, done) = (state.store.clone(), name.clone(), persisted.0.clone());
                    tokio::task::spawn_blocking(move || {
                        let ok = match store.save_signing_reservation(&link, r) {
                            Ok(_) => true,
                            Err(e) => {
                                tracing::error!(%link, "cannot persist the signing timestamp (asked again at the next send): {e}");
                                false
                            }
                        };
                        let _ = done.blocking_send((r, ok));
                    });
                }
            }
        }
        // Transmit.
        while let Some(t) = core.poll_transmit() {
            if let Err(e) = send(&mut transport, t.to, &t.bytes).await {
                tracing::debug!("send to {} failed: {e}", t.to);
            }
        }
        // Publish.
        if !dirty.is_empty() {
            let wall = crate::time::unix_ms();
            let ground = state.ground_alt_msl_m;
            for key in std::mem::take(&mut dirty) {
                if let Some((unit, seen)) = core.unit(key, now, wall, &state.frame, ground) {
                    state.fleet.upsert_seen(unit, seen);
                }
            }
        }
    }
    Ok(())
}

/// What woke the link task up.
enum Received {
    /// The UDP socket has datagrams waiting: drain them in batches.
    UdpReadable,
    /// A TCP read of this many bytes into the buffer, from the peer.
    Stream(SocketAddr, usize),
    /// Nothing (a TCP link waiting to reconnect).
    Nothing,
}

async fn recv(transport: &mut Transport, buf: &mut [u8]) -> std::io::Result<Received> {
    match transport {
        Transport::Udp(sock, _) => {
            sock.readable().await?;
            Ok(Received::UdpReadable)
        }
        Transport::Tcp {
            stream: Some(s),
            addr,
            ..
        } => {
            let n = s.read(buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed by peer",
                ));
            }
            Ok(Received::Stream(*addr, n))
        }
        Transport::Tcp { stream: None, .. } => {
            tokio::time::sleep(TCP_RETRY).await;
            Ok(Received::Nothing)
        }
    }
}

async fn send(transport: &mut Transport, to: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
    match transport {
        Transport::Udp(sock, _) => sock.send_to(bytes, to).await.map(|_| ()),
        Transport::Tcp {
            stream: Some(s), ..
        } => s.write_all(bytes).await,
        Transport::Tcp { stream: None, .. } => Ok(()),
    }
}
