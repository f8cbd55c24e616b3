//! The ground's MAVLink link core against one simulated vehicle, on
//! virtual time, over a [`Path`] each way.
//!
//! Both sides are the production cores: [`LinkCore`] as the server runs it
//! (commands with retries, mission transfers, link loss) and the simulated
//! [`Vehicle`] as `vigie sim` flies it, each frame encoded and decoded as
//! on UDP, one frame per datagram. Nothing reads a clock: the run jumps
//! from one wake-up or arrival to the next, so a minute of flight takes
//! milliseconds and a seed repeats a run exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigie_ground::drone::link::{LinkCore, LinkEvent, LinkSettings, OpId, VehicleKey};
use vigie_ground::drone::signing::timestamp_from_unix_ms;
use vigie_ground::metrics::LinkCounters;
use vigie_protocols::api::{CommandResult, DroneCommand};

use super::Stepper;
use super::net::{Conditions, Path, PathStats};
use crate::drone::link::Link;
use crate::drone::vehicle::{Vehicle, VehicleConfig};

/// The ground's address as the vehicle sees it.
pub const GROUND_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 14550);
/// The vehicle's address as the ground sees it.
pub const VEHICLE_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 14555);

/// Wall clock at the start of a run, Unix ms (any fixed value: only
/// differences matter, and a fixed one keeps runs identical).
const WALL_START_MS: i64 = 1_800_000_000_000;

/// The ground link and one vehicle, joined by a path each way.
#[derive(Debug)]
pub struct DronePair {
    /// When the run began.
    start: Instant,
    /// The virtual present.
    now: Instant,
    /// The ground's link core.
    ground: LinkCore,
    /// The simulated vehicle.
    vehicle: Vehicle,
    /// The vehicle's MAVLink framing.
    framing: Link,
    /// Vehicle to ground.
    up: Path<Vec<u8>>,
    /// Ground to vehicle.
    down: Path<Vec<u8>>,
    /// Every result the ground reported, by operation.
    results: BTreeMap<OpId, Vec<CommandResult>>,
    /// Every other event the ground reported, in order.
    events: Vec<LinkEvent>,
    /// Messages as they arrived, when tracing: `(ms since start, "up"/"down", message)`.
    trace: Option<Vec<(u128, &'static str, String)>>,
}

impl DronePair {
    /// A vehicle with system id 1 at Paris, and a ground link (system 255,
    /// 3 s link loss), over `up` (vehicle to ground) and `down`; the paths'
    /// randomness comes from `seed`.
    pub fn new(seed: u64, up: Conditions, down: Conditions) -> DronePair {
        let start = Instant::now();
        let mut ground = LinkCore::new(
            LinkSettings {
                name: "pair".into(),
                system_id: 255,
                component_id: 190,
                link_loss: Duration::from_secs(3),
                signing_key: None,
                signing_reservation: 0,
                default_peer: None,
            },
            Arc::new(LinkCounters::default()),
        );
        ground.start(start);
        DronePair {
            start,
            now: start,
            ground,
            vehicle: Vehicle::new(VehicleConfig::new(1, 48.8566, 2.3522), start),
            framing: Link::new(1, None),
            up: Path::new(up, seed.wrapping_mul(2).wrapping_add(1)),
            down: Path::new(down, seed.wrapping_mul(2)),
            results: BTreeMap::new(),
            events: Vec::new(),
            trace: None,
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The ground's link core.
    pub fn ground(&self) -> &LinkCore {
        &self.ground
    }

    /// The simulated vehicle.
    pub fn vehicle(&self) -> &Vehicle {
        &self.vehicle
    }

    /// What each path did: (vehicle to ground, ground to vehicle).
    pub fn path_stats(&self) -> (PathStats, PathStats) {
        (self.up.stats(), self.down.stats())
    }

    /// Changes both paths' conditions from now on.
    pub fn set_conditions(&mut self, up: Conditions, down: Conditions) {
        self.up.set_conditions(up);
        self.down.set_conditions(down);
    }

    /// Records every message as it arrives from now on (see
    /// [`DronePair::trace`]): for a failing case, what crossed and when.
    pub fn start_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// The messages that arrived since [`DronePair::start_trace`], one line
    /// each: virtual ms, direction, message.
    pub fn trace(&self) -> Vec<String> {
        self.trace
            .iter()
            .flatten()
            .map(|(ms, dir, m)| format!("{ms:>7} {dir:>4} {m}"))
            .collect()
    }

    fn record(&mut self, dir: &'static str, bytes: &[u8]) {
        let ms = (self.now - self.start).as_millis();
        if let Some(t) = self.trace.as_mut() {
            for frame in vigie_ground::drone::wire::frames(bytes).flatten() {
                if let Ok(m) = frame.decode() {
                    t.push((ms, dir, format!("{m:?}")));
                }
            }
        }
    }

    /// The events the ground reported other than results, in order.
    pub fn events(&self) -> &[LinkEvent] {
        &self.events
    }

    /// Every result the ground reported for `op` (a command or transfer
    /// ends with exactly one).
    pub fn results(&self, op: OpId) -> &[CommandResult] {
        self.results.get(&op).map_or(&[], Vec::as_slice)
    }

    /// The vehicle's key on the ground link, once the ground heard it.
    pub fn key(&self) -> Option<VehicleKey> {
        self.ground.keys().first().copied()
    }

    fn wall_ms(&self) -> i64 {
        WALL_START_MS + (self.now - self.start).as_millis() as i64
    }

    /// Starts an operator command on the ground, as the HTTP route does.
    pub fn command(&mut self, cmd: &DroneCommand) -> Result<OpId, CommandResult> {
        let Some(key) = self.key() else {
            return Err(CommandResult::refused(
                "the ground has not heard the vehicle",
            ));
        };
        let (now, wall) = (self.now, self.wall_ms());
        let r = self.ground.command(now, wall, key, cmd);
        self.pump();
        r
    }

    /// Runs until `op` has a result (at most `limit`), and returns it.
    pub fn finish(&mut self, op: OpId, limit: Duration) -> Option<CommandResult> {
        self.run_until(limit, |p| !p.results(op).is_empty());
        self.results(op).first().cloned()
    }

    /// Sends what the ground queued and collects its events.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(t) = self.ground.poll_transmit() {
            self.down.send(now, t.bytes);
        }
        while let Some(e) = self.ground.poll_event() {
            match e {
                LinkEvent::Done(op, result) => self.results.entry(op).or_default().push(result),
                LinkEvent::PersistSigning(r) => self.ground.signing_persisted(r, true),
                other => self.events.push(other),
            }
        }
    }
}

impl Stepper for DronePair {
    fn now(&self) -> Instant {
        self.now
    }

    fn step(&mut self, end: Instant) {
        let next = [
            self.ground.poll_timeout(),
            Some(self.vehicle.next_wake(self.now)),
            self.up.next_arrival(),
            self.down.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end)
        .min(end);
        // Never back in time; a wake-up already due runs now.
        self.now = self.now.max(next);
        let (now, wall) = (self.now, self.wall_ms());
        while let Some(bytes) = self.up.receive(now) {
            self.record("up", &bytes);
            self.ground.handle_bytes(now, wall, VEHICLE_ADDR, &bytes);
        }
        let mut out = Vec::new();
        while let Some(bytes) = self.down.receive(now) {
            self.record("down", &bytes);
            for (header, msg) in self.framing.decode(&bytes, timestamp_from_unix_ms(wall)) {
                out.extend(self.vehicle.handle(now, header, &msg));
            }
        }
        if self.ground.poll_timeout().is_some_and(|t| t <= now) {
            self.ground.handle_timeout(now, wall);
        }
        if self.vehicle.next_wake(now) <= now {
            out.extend(self.vehicle.poll(now));
        }
        for msg in &out {
            let mut frame = Vec::with_capacity(300);
            self.framing
                .encode(msg, timestamp_from_unix_ms(wall), &mut frame);
            self.up.send(now, frame);
        }
        self.pump();
        // A ground core still due after its timeout was handled moves time
        // on by 1 ms, so a core that asks to be woken in the past cannot
        // stall the run.
        if self.ground.poll_timeout().is_some_and(|t| t <= now) {
            self.now += Duration::from_millis(1);
        }
    }
}
