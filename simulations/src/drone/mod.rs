//! Simulated multicopters that speak MAVLink like ArduCopter.
//!
//! One implementation, two drivers: the vehicle is a sans-I/O core
//! ([`vehicle::Vehicle`]) over pure `step(dt)` physics, driven either in
//! real time over UDP ([`udp`]) or on a virtual clock in-process
//! ([`virtual_clock`]).
//!
//! - [`physics`]: kinematics and battery, pure `step(dt)`.
//! - [`fence`]: geofence zones.
//! - [`autopilot`]: modes, arming, guided commands, missions, failsafes, gimbal.
//! - [`vehicle`]: the MAVLink protocol of one drone (autopilot and camera).
//! - [`link`]: bytes in and out, MAVLink 2 signing, sequence numbers.
//! - [`virtual_clock`]: the in-process driver for tests, drills, benchmarks.
pub mod autopilot;
pub mod fence;
pub mod link;
pub mod physics;
pub mod vehicle;
pub mod virtual_clock;

#[cfg(test)]
mod tests;
