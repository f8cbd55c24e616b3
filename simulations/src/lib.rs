//! Vigie simulations: drones that speak real MAVLink, tablets that speak the
//! real QUIC protocol, and scripted drills.
//!
//! - [`demo`]: the simulated fleet that `vigie demo` starts.
//! - [`drone`]: simulated multicopters speaking MAVLink like ArduCopter.
//! - [`patrol`]: patrol units on streets and their QUIC tablets.
//! - [`pair`]: ground cores against simulated peers on virtual time, over
//!   lossy paths, for property tests.

pub mod camera;
pub mod demo;
pub mod drone;
pub mod pair;
pub mod patrol;
