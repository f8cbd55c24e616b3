//! The MAVLink link to drones.
//!
//! - [`endpoint`]: `udpin:` / `udpout:` / `tcp:` addresses.
//! - [`wire`]: framing, checksums, decoding and encoding.
//! - [`signing`]: MAVLink 2 signatures and timestamps.

pub mod endpoint;
pub mod signing;
pub mod wire;
