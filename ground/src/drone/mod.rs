//! The MAVLink link to drones.
//!
//! Sans-I/O cores, each fed with `(now, input)`:
//! - [`wire`]: framing, checksums, decoding and encoding.
//! - [`signing`]: MAVLink 2 signatures and timestamps.
//! - [`vehicle`]: one vehicle's state, message by message.
//! - [`command`]: COMMAND_LONG/INT with acks, retries and timeouts.
//! - [`mission`]: mission, fence and rally transfers.
//! - [`altitude`]: the one altitude policy of every command and mission item.
//! - [`link`]: one link: vehicles by system id, duplicates, link loss,
//!   commands and transfers, our heartbeat.
//! - [`ingest`]: the whole ingest path as one function of arbitrary bytes,
//!   for the fuzz target and its seeded test.
//!
//! And the thin edge:
//! - [`endpoint`]: `udpin:` / `udpout:` / `tcp:` addresses.
//! - [`io`]: the tokio tasks that move bytes between sockets and link cores
//!   and publish vehicles into the fleet picture.
//! - [`hub`]: how the HTTP API reaches a vehicle's link.
//! - [`http`]: the drone routes of the HTTP API.
//! - [`persist`]: what the link keeps in SQLite.
//! - [`modes`]: flight mode names to HEARTBEAT `custom_mode` numbers and
//!   back, per autopilot family.

pub mod altitude;
pub mod command;
pub mod endpoint;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod io;
pub mod link;
pub mod mission;
pub mod modes;
pub mod persist;
pub mod signing;
pub mod vehicle;
pub mod wire;
