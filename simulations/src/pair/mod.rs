//! Pair harnesses, in the manner of quinn-proto's: a ground core against a
//! simulated peer in one process, on virtual time, over paths that lose,
//! duplicate, reorder and delay what crosses them.
//!
//! - [`net`]: one direction of a path ([`net::Path`]) and what it does
//!   ([`net::Conditions`]), from a seed.
//! - [`drone`]: the ground's MAVLink [`LinkCore`](vigie_ground::drone::link::LinkCore)
//!   against a simulated [`Vehicle`](crate::drone::vehicle::Vehicle).
//! - [`patrol`]: the ground's tablet
//!   [`Session`](vigie_ground::patrol::session::Session) and order queue
//!   against a simulated tablet's protocol core, across reconnections.
//!
//! The property tests in `simulations/tests/pairs.rs` run them over many
//! seeds and check what the protocols promise: one result per command, a
//! mission accepted only when the vehicle holds exactly that mission, every
//! order applied once and acknowledged.

pub mod drone;
pub mod net;
pub mod patrol;

use std::time::{Duration, Instant};

/// How a pair runs on virtual time: it steps from one wake-up or arrival
/// to the next, never past `end`.
pub trait Stepper {
    /// The virtual present.
    fn now(&self) -> Instant;

    /// One step: to the next wake-up or arrival (at most `end`), then
    /// everything due then.
    fn step(&mut self, end: Instant);

    /// Runs until `done` holds or `limit` of virtual time has passed;
    /// returns whether `done` held.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool
    where
        Self: Sized,
    {
        let end = self.now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now() >= end {
                return false;
            }
            self.step(end);
        }
    }

    /// Runs `d` of virtual time.
    fn run_for(&mut self, d: Duration)
    where
        Self: Sized,
    {
        self.run_until(d, |_| false);
    }
}
