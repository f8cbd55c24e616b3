//! The real-time driver: one UDP socket per simulated drone, driving the
//! [`Vehicle`] core with `Instant::now()`.
//!
//! Like an autopilot on a telemetry radio bridged to UDP, each drone sends
//! to its ground address (a GCS listening, default 127.0.0.1:14550) and
//! also answers whoever talks to it, so a second ground station (a
//! pymavlink script, QGroundControl) can join by sending it any message.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{Instrument, debug, info};
use vigie_ground::drone::signing::timestamp_from_unix_ms;

use super::SimError;
use super::link::Link;
use super::vehicle::{Outgoing, Vehicle, VehicleConfig};

/// Most peers a drone answers besides its ground address; when full, the
/// peer heard from longest ago is replaced.
pub const MAX_PEERS: usize = 8;

/// Largest datagram read.
const RECV_BUF: usize = 2048;

/// One drone's socket settings.
#[derive(Debug, Clone)]
pub struct UdpDrone {
    /// The vehicle.
    pub vehicle: VehicleConfig,
    /// Where telemetry goes.
    pub ground: SocketAddr,
    /// Local address to bind (port 0: any free port).
    pub bind: SocketAddr,
    /// MAVLink 2 signing key, when the link is signed.
    pub signing_key: Option<[u8; 32]>,
}

/// The addresses telemetry goes to: the ground, plus recent talkers.
#[derive(Debug)]
struct Peers {
    /// The configured ground address.
    ground: SocketAddr,
    /// Others heard from, with when.
    others: Vec<(SocketAddr, Instant)>,
}

impl Peers {
    fn heard(&mut self, from: SocketAddr, now: Instant) {
        if from == self.ground {
            return;
        }
        if let Some(p) = self.others.iter_mut().find(|(a, _)| *a == from) {
            p.1 = now;
            return;
        }
        if self.others.len() < MAX_PEERS {
            self.others.push((from, now));
        } else if let Some(oldest) = self.others.iter_mut().min_by_key(|(_, t)| *t) {
            *oldest = (from, now);
        }
    }

    fn all(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.ground).chain(self.others.iter().map(|(a, _)| *a))
    }
}

/// A bound drone socket, ready to run.
#[derive(Debug)]
pub struct BoundDrone {
    /// The settings.
    spec: UdpDrone,
    /// The socket.
    socket: UdpSocket,
}

impl BoundDrone {
    /// Binds the drone's socket.
    pub async fn bind(spec: UdpDrone) -> Result<BoundDrone, SimError> {
        let socket = UdpSocket::bind(spec.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: spec.bind,
                source,
            })?;
        Ok(BoundDrone { spec, socket })
    }

    /// The local address the drone sends from.
    pub fn local_addr(&self) -> Result<SocketAddr, SimError> {
        self.socket.local_addr().map_err(|source| SimError::Bind {
            addr: self.spec.bind,
            source,
        })
    }

    /// Runs the drone until `stop` turns true (or its sender is dropped).
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let span = tracing::info_span!("sim_drone", sysid = self.spec.vehicle.system_id);
        self.run_inner(stop).instrument(span).await
    }

    async fn run_inner(self, mut stop: watch::Receiver<bool>) {
        let BoundDrone { spec, socket } = self;
        let sysid = spec.vehicle.system_id;
        let mut vehicle = Vehicle::new(spec.vehicle, Instant::now());
        let mut link = Link::new(sysid, spec.signing_key);
        let mut peers = Peers {
            ground: spec.ground,
            others: Vec::new(),
        };
        let mut buf = vec![0u8; RECV_BUF];
        let mut frame = Vec::with_capacity(300);
        info!(ground = %spec.ground, "simulated drone up");
        loop {
            let wake = vehicle.next_wake(Instant::now());
            let out = tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(wake.into()) => vehicle.poll(Instant::now()),
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let now = Instant::now();
                        peers.heard(from, now);
                        let mut out = Vec::new();
                        for (header, msg) in link.decode(&buf[..n], wall_ts()) {
                            out.extend(vehicle.handle(now, header, &msg));
                        }
                        out
                    }
                    Err(e) => {
                        // ICMP port unreachable surfaces here on some
                        // systems when the ground is not up yet.
                        debug!(error = %e, "receive error");
                        Vec::new()
                    }
                },
            };
            send_all(&socket, &mut link, &peers, &out, &mut frame).await;
            if *stop.borrow() {
                break;
            }
        }
        let s = link.stats();
        info!(
            sent = s.sent,
            accepted = s.accepted,
            malformed = s.malformed,
            unsigned = s.unsigned,
            bad_signature = s.bad_signature,
            "simulated drone down"
        );
    }
}

/// Sends each message as its own datagram to every peer.
async fn send_all(
    socket: &UdpSocket,
    link: &mut Link,
    peers: &Peers,
    out: &[Outgoing],
    frame: &mut Vec<u8>,
) {
    for msg in out {
        frame.clear();
        link.encode(msg, wall_ts(), frame);
        for to in peers.all() {
            if let Err(e) = socket.send_to(frame, to).await {
                debug!(%to, error = %e, "send failed");
            }
        }
    }
}

/// The MAVLink signing timestamp of the wall clock.
fn wall_ts() -> u64 {
    timestamp_from_unix_ms(vigie_ground::time::unix_ms())
}
