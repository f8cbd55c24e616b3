//! Vigie simulations: drones that speak real MAVLink, tablets that speak the
//! real QUIC protocol, and scripted drills.
//!
//! - [`demo`]: the simulated fleet that `vigie demo` starts.
//! - [`drone`]: simulated multicopters speaking MAVLink like ArduCopter.
//! - [`patrol`]: patrol units on streets and their QUIC tablets.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod demo;
pub mod drone;
pub mod patrol;
