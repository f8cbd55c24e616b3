//! A simulated patrol tablet: a real `vigie/1` QUIC client with its issued
//! certificate, driving a [`PatrolUnit`] model.
//!
//! It behaves as `protocols/README.md` asks of a real client: positions at
//! 1 Hz on datagrams; orders applied once per `order_id`; acks kept in an
//! outbox until receipted and resent after a reconnection; the link counted
//! up only once `Welcome` arrives; jittered exponential back-off between
//! connection attempts.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use vigie_ground::frame::LocalFrame;
use vigie_protocols::tablet::codec::{self, FrameDecoder, MAX_CONTROL_MESSAGE_BYTES};
use vigie_protocols::tablet::{
    AckKind, ClientMessage, PositionReport, ServerMessage, client_message,
};

use super::core::{TabletCore, TabletEvent};
use super::model::{Mobility, PatrolUnit, Streets, UnitEvent};

pub use super::core::{OUTBOX_LIMIT, SEEN_ORDERS_LIMIT};

/// A connection on which no UDP datagram at all has arrived for this long,
/// while the tablet sends a position every second (each one acknowledged by
/// a live server's QUIC stack, however busy its application), is dropped
/// and the tablet reconnects. Catches a server that died with data in
/// flight: QUIC then backs its probes off exponentially and the restarted
/// server's stateless reset may come tens of seconds late. Measured: an
/// application-level ping with a 5 s answer deadline, and this check at
/// 6 s, both made a CPU-starved server (load average 11 on 2 cores) lose
/// tablets that were still connected, which then added handshakes to its
/// load; 15 s stays clear of that and still halves the 30 s idle timeout.
pub const SILENT_LINK: Duration = Duration::from_secs(15);

/// Time spent on scene before the simulated unit closes its order.
pub const ON_SCENE: Duration = Duration::from_secs(20);

/// A unit's certificate, key and the CA, PEM.
#[derive(Debug, Clone)]
pub struct TabletCerts {
    /// Unit id.
    pub unit: String,
    /// The deployment CA certificate.
    pub ca_pem: String,
    /// The unit's certificate.
    pub cert_pem: String,
    /// The unit's private key.
    pub key_pem: String,
}

impl TabletCerts {
    /// Reads `<dir>/<unit>.cert.pem`, `<dir>/<unit>.key.pem` and `<dir>/ca.pem`.
    pub fn load(dir: &Path, unit: &str) -> anyhow::Result<TabletCerts> {
        let read = |name: String| {
            let p = dir.join(&name);
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
        };
        Ok(TabletCerts {
            unit: unit.to_string(),
            ca_pem: read("ca.pem".into())?,
            cert_pem: read(format!("{unit}.cert.pem"))?,
            key_pem: read(format!("{unit}.key.pem"))?,
        })
    }

    /// Every unit with a certificate in `dir`, sorted by unit id.
    pub fn units_in(dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut units: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".cert.pem").map(str::to_string)
            })
            .collect();
        units.sort();
        Ok(units)
    }
}

/// Counters shared by every simulated tablet.
#[derive(Debug, Default)]
pub struct TabletStats {
    /// Tablets whose session is open (Welcome received).
    pub connected: AtomicUsize,
    /// Connection attempts.
    pub attempts: AtomicU64,
    /// Distinct orders received.
    pub orders: AtomicU64,
    /// Orders withdrawn while the unit was carrying them out.
    pub withdrawn: AtomicU64,
    /// Orders received again (redelivered after a reconnection).
    pub redelivered: AtomicU64,
    /// Arrivals reported.
    pub arrivals: AtomicU64,
    /// Order delivery latencies (issue to receipt), milliseconds.
    pub latencies_ms: Mutex<Vec<i64>>,
    /// Time from start to first Welcome, milliseconds, per tablet.
    pub connect_ms: Mutex<Vec<u64>>,
    /// Units whose session is open now, as the tablets believe.
    pub up_units: Mutex<HashSet<String>>,
    /// Distinct order ids received, to count lost orders.
    pub received: Mutex<HashSet<String>>,
}

impl TabletStats {
    /// Units whose tablet believes its session is open.
    pub fn up_units(&self) -> HashSet<String> {
        self.up_units
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Order ids received at least once by some tablet.
    pub fn received(&self) -> HashSet<String> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Where and how a tablet runs.
#[derive(Debug, Clone)]
pub struct TabletSpec {
    /// The server's QUIC address.
    pub server: SocketAddr,
    /// Street network the unit moves on.
    pub streets: Arc<Streets>,
    /// Local frame of the site.
    pub frame: LocalFrame,
    /// How the unit moves.
    pub mobility: Mobility,
    /// Seed of the unit's randomness.
    pub seed: u64,
    /// Its camera, streamed to the ground while on scene (protocol §12);
    /// `None`: the tablet films nothing.
    pub camera: Option<crate::camera::CameraSpec>,
}

/// The tablet's state that survives reconnections.
struct TabletState {
    /// The protocol: orders seen, the outbox.
    core: TabletCore,
    /// The movement model.
    model: PatrolUnit,
    /// When the unit arrived on scene, for closing its order.
    on_scene_since: Option<Instant>,
    /// Last model step.
    last_step: Instant,
}

/// A client UDP endpoint for tablets talking to `server` (several tablets
/// may share one, as tablets behind one NAT do).
pub fn client_endpoint(server: SocketAddr) -> anyhow::Result<quinn::Endpoint> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .context("bind address")?;
    quinn::Endpoint::client(bind).context("cannot open a UDP socket")
}

/// Runs one tablet until `stop` is set: connect, run the session, back off,
/// reconnect. With `endpoint`, connects through that shared socket;
/// otherwise opens its own.
pub async fn run_tablet(
    spec: TabletSpec,
    certs: TabletCerts,
    stats: Arc<TabletStats>,
    mut stop: watch::Receiver<bool>,
    endpoint: Option<quinn::Endpoint>,
) -> anyhow::Result<()> {
    // One config per tablet: it carries the tablet's certificate and its
    // TLS session cache, so reconnections resume.
    let config =
        vigie_ground::patrol::tls::client_config(&certs.ca_pem, &certs.cert_pem, &certs.key_pem)?;
    let own = endpoint.is_none();
    let endpoint = match endpoint {
        Some(e) => e,
        None => client_endpoint(spec.server)?,
    };
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x7ab1e7);
    let mut state = TabletState {
        core: TabletCore::new(certs.unit.clone()),
        model: PatrolUnit::new(&spec.streets, spec.mobility, spec.seed),
        on_scene_since: None,
        last_step: Instant::now(),
    };
    let mut attempt: u32 = 0;
    let mut first_welcome = true;
    while !*stop.borrow() {
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let outcome = session(
            &endpoint,
            &config,
            &spec,
            &mut state,
            &stats,
            &mut stop,
            &mut |welcomed| {
                if welcomed {
                    attempt = 0;
                    if first_welcome {
                        first_welcome = false;
                        stats
                            .connect_ms
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(started.elapsed().as_millis() as u64);
                    }
                }
            },
        )
        .await;
        if let Err(e) = outcome {
            tracing::debug!(unit = %certs.unit, "session ended: {e:#}");
        }
        if *stop.borrow() {
            break;
        }
        // Jittered exponential back-off: random(0, min(30 s, 0.5 s × 2^attempt)).
        let cap_ms = (500u64 << attempt.min(6)).min(30_000);
        let wait = Duration::from_millis(rng.random_range(0..=cap_ms));
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    if own {
        endpoint.close(0u32.into(), b"tablet stopped");
    }
    Ok(())
}

/// One connection, from handshake to loss.
async fn session(
    endpoint: &quinn::Endpoint,
    config: &quinn::ClientConfig,
    spec: &TabletSpec,
    state: &mut TabletState,
    stats: &TabletStats,
    stop: &mut watch::Receiver<bool>,
    on_welcome: &mut (dyn FnMut(bool) + Send),
) -> anyhow::Result<()> {
    let conn = endpoint
        .connect_with(
            config.clone(),
            spec.server,
            vigie_protocols::tablet::SERVER_NAME,
        )?
        .await
        .context("handshake")?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = state.core.hello(
        vigie_ground::time::unix_ms(),
        concat!("vigie-sim/", env!("CARGO_PKG_VERSION")),
    );
    send.write_all(&codec::encode_frame(&hello, MAX_CONTROL_MESSAGE_BYTES)?)
        .await?;
    let mut decoder = FrameDecoder::<ServerMessage>::new(MAX_CONTROL_MESSAGE_BYTES);
    let mut buf = vec![0u8; 8192];
    let mut up = false;
    let mut guard = ConnectedGuard {
        stats,
        unit: state.core.unit().to_string(),
        up: false,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let hello_deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(hello_deadline);
    let mut last_rx = (0u64, Instant::now());
    // The camera's stream while on scene: its stop switch.
    let mut filming: Option<watch::Sender<bool>> = None;
    loop {
        let mut to_send: Vec<ClientMessage> = Vec::new();
        tokio::select! {
            read = recv.read(&mut buf) => {
                let Some(n) = read? else { anyhow::bail!("server finished the control stream") };
                decoder.push(&buf[..n]);
                loop {
                    let msg = match decoder.next_message() {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(codec::DecodeError::UnknownMessage) => continue,
                        Err(e) => anyhow::bail!("bad frame from server: {e}"),
                    };
                    let (send, event) = state.core.handle(vigie_ground::time::unix_ms(), msg);
                    to_send.extend(send);
                    match event {
                        Some(TabletEvent::Welcome) => {
                            up = true;
                            guard.set_up();
                            on_welcome(true);
                        }
                        Some(TabletEvent::Order(order)) => {
                            let latency = vigie_ground::time::unix_ms() - order.issued_ms;
                            stats.latencies_ms.lock().unwrap_or_else(|p| p.into_inner()).push(latency);
                            stats.received.lock().unwrap_or_else(|p| p.into_inner()).insert(order.order_id.clone());
                            stats.orders.fetch_add(1, Ordering::Relaxed);
                            if let Some(dest) = order.destination {
                                let local = spec.frame.to_local(dest.lat_deg, dest.lon_deg);
                                state.model.go_to(&spec.streets, order.order_id.clone(), local);
                                state.on_scene_since = None;
                            }
                        }
                        Some(TabletEvent::Redelivered(_)) => {
                            stats.redelivered.fetch_add(1, Ordering::Relaxed);
                        }
                        // Stop going there (once per order id).
                        Some(TabletEvent::Withdrawn(order_id))
                            if state.model.order() == Some(order_id.as_str()) =>
                        {
                            state.model.clear_order();
                            state.on_scene_since = None;
                            stats.withdrawn.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(TabletEvent::Withdrawn(_)) => {}
                        Some(TabletEvent::Refused(message)) => {
                            tracing::warn!(unit = %state.core.unit(), "server refused a message: {message}");
                        }
                        None => {}
                    }
                }
            }
            _ = tick.tick() => {
                if up {
                    let rx = conn.stats().udp_rx.datagrams;
                    if rx != last_rx.0 {
                        last_rx = (rx, Instant::now());
                    } else if last_rx.1.elapsed() >= SILENT_LINK {
                        conn.close(0u32.into(), b"server silent");
                        anyhow::bail!("nothing from the server for {:?}: reconnecting", last_rx.1.elapsed());
                    }
                }
                let dt = state.last_step.elapsed().as_secs_f64();
                state.last_step = Instant::now();
                if let Some(UnitEvent::Arrived(order_id)) = state.model.step(&spec.streets, dt) {
                    stats.arrivals.fetch_add(1, Ordering::Relaxed);
                    to_send.push(state.core.ack(vigie_ground::time::unix_ms(), &order_id, AckKind::Arrived));
                    state.on_scene_since = Some(Instant::now());
                }
                if let (Some(since), Some(order)) = (state.on_scene_since, state.model.order().map(str::to_string))
                    && since.elapsed() >= ON_SCENE
                {
                    to_send.push(state.core.ack(vigie_ground::time::unix_ms(), &order, AckKind::Closed));
                    state.model.clear_order();
                    state.on_scene_since = None;
                }
                let on_scene = up && state.on_scene_since.is_some();
                match (&spec.camera, on_scene, filming.is_some()) {
                    (Some(cam), true, false) => {
                        let (stop_tx, stop_rx) = watch::channel(false);
                        filming = Some(stop_tx);
                        let unit = state.core.unit().to_string();
                        let camera = cam.camera(&unit);
                        let conn = conn.clone();
                        tokio::spawn(async move {
                            let r = match camera {
                                Ok(c) => crate::camera::stream_quic(c, conn, None, stop_rx).await,
                                Err(e) => Err(e),
                            };
                            match r {
                                Ok(s) => tracing::debug!(%unit, sent = s.sent, dropped = s.dropped, "camera stream ended"),
                                Err(e) => tracing::warn!(%unit, "camera stream failed: {e:#}"),
                            }
                        });
                    }
                    (_, false, true) => {
                        if let Some(stop) = filming.take() {
                            let _ = stop.send(true);
                        }
                    }
                    _ => {}
                }
                if up {
                    let (lat, lon) = spec.frame.to_wgs84(state.model.pos.0, state.model.pos.1);
                    let pos = ClientMessage { body: Some(client_message::Body::Position(PositionReport {
                        lat_deg: lat,
                        lon_deg: lon,
                        accuracy_m: 5.0,
                        heading_deg: Some(state.model.heading_deg as f32),
                        speed_m_s: Some(state.model.speed_m_s as f32),
                        timestamp_ms: vigie_ground::time::unix_ms(),
                        // On scene, the patrol films what it was sent to see.
                        streaming: state.on_scene_since.is_some(),
                        camera_bearing_deg: None,
                    }))};
                    if let Ok(bytes) = codec::encode_datagram(&pos) {
                        // Lost datagrams are fine: the next fix follows in a second.
                        let _ = conn.send_datagram(bytes.into());
                    }
                }
            }
            _ = &mut hello_deadline, if !up => anyhow::bail!("no Welcome within 10 s"),
            _ = stop.changed() => {
                conn.close(0u32.into(), b"tablet stopped");
                return Ok(());
            }
            e = conn.closed() => anyhow::bail!("connection closed: {e}"),
        }
        if up {
            for m in to_send {
                send.write_all(&codec::encode_frame(&m, MAX_CONTROL_MESSAGE_BYTES)?)
                    .await?;
            }
        }
    }
}

/// Keeps [`TabletStats::connected`] and [`TabletStats::up_units`] honest
/// however a session ends.
struct ConnectedGuard<'a> {
    /// The counter.
    stats: &'a TabletStats,
    /// The unit.
    unit: String,
    /// Whether this session counted itself.
    up: bool,
}

impl ConnectedGuard<'_> {
    fn set_up(&mut self) {
        if !self.up {
            self.up = true;
            self.stats.connected.fetch_add(1, Ordering::Relaxed);
            self.stats
                .up_units
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.unit.to_string());
        }
    }
}

impl Drop for ConnectedGuard<'_> {
    fn drop(&mut self) {
        if self.up {
            self.stats.connected.fetch_sub(1, Ordering::Relaxed);
            self.stats
                .up_units
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.unit);
        }
    }
}
