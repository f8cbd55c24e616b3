//! The in-process driver: vehicles on a virtual clock, for tests, drills
//! and benchmarks. Time jumps from one wake-up to the next, so an hour of
//! flight takes milliseconds, and runs are deterministic.
//!
//! It drives the very same [`Vehicle`] core as the UDP driver; only the
//! source of `now` and the transport differ.

use std::time::{Duration, Instant};

use mavlink::MavHeader;
use mavlink::dialects::ardupilotmega::MavMessage;

use super::vehicle::{Outgoing, Vehicle, VehicleConfig};

/// A message a vehicle sent, with when and who.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Virtual time of sending.
    pub at: Instant,
    /// Sending system id.
    pub system_id: u8,
    /// Sending component and message.
    pub out: Outgoing,
}

/// Vehicles and a virtual clock.
#[derive(Debug)]
pub struct VirtualClock {
    /// The virtual present.
    now: Instant,
    /// When the run began.
    start: Instant,
    /// The simulated vehicles.
    vehicles: Vec<Vehicle>,
    /// Sequence number of messages the virtual ground sends.
    ground_seq: u8,
}

impl VirtualClock {
    /// An empty world whose clock starts at `start` (any instant: only
    /// differences matter).
    pub fn new(start: Instant) -> VirtualClock {
        VirtualClock {
            now: start,
            start,
            vehicles: Vec::new(),
            ground_seq: 0,
        }
    }

    /// Adds a vehicle powered on now; returns its index.
    pub fn add(&mut self, config: VehicleConfig) -> usize {
        self.vehicles.push(Vehicle::new(config, self.now));
        self.vehicles.len() - 1
    }

    /// The virtual present.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A vehicle by index.
    pub fn vehicle(&self, i: usize) -> &Vehicle {
        &self.vehicles[i]
    }

    /// A vehicle by index, mutably (to inject faults).
    pub fn vehicle_mut(&mut self, i: usize) -> &mut Vehicle {
        &mut self.vehicles[i]
    }

    /// Delivers `msg` from the ground (system 255, component 190) to
    /// vehicle `i` now, and returns its immediate replies.
    pub fn send(&mut self, i: usize, msg: &MavMessage) -> Vec<Sent> {
        let header = MavHeader {
            system_id: 255,
            component_id: 190,
            sequence: self.ground_seq,
        };
        self.ground_seq = self.ground_seq.wrapping_add(1);
        let now = self.now;
        let v = &mut self.vehicles[i];
        let system_id = v.system_id();
        v.handle(now, header, msg)
            .into_iter()
            .map(|out| Sent {
                at: now,
                system_id,
                out,
            })
            .collect()
    }

    /// Runs every vehicle until `now + d`, waking each at its own next
    /// wake-up, and returns everything sent in time order.
    pub fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let mut sent = Vec::new();
        self.advance_with(d, |s| sent.push(s.clone()));
        sent
    }

    /// Like [`advance`](Self::advance), handing each message to `sink`
    /// instead of collecting them (benchmarks).
    pub fn advance_with(&mut self, d: Duration, mut sink: impl FnMut(&Sent)) {
        let end = self.now + d;
        loop {
            let next = self
                .vehicles
                .iter()
                .map(|v| v.next_wake(self.now))
                .min()
                .unwrap_or(end);
            if next > end {
                break;
            }
            self.now = next;
            for v in &mut self.vehicles {
                if v.next_wake(next) <= next {
                    let system_id = v.system_id();
                    for out in v.poll(next) {
                        sink(&Sent {
                            at: next,
                            system_id,
                            out,
                        });
                    }
                }
            }
        }
        self.now = end;
        // Bring physics up to the end so state reads are current.
        for v in &mut self.vehicles {
            for out in v.poll(end) {
                sink(&Sent {
                    at: end,
                    system_id: v.system_id(),
                    out,
                });
            }
        }
    }
}
