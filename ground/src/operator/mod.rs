//! What operators' clients get over QUIC (operator-role certificates, the
//! same `vigie/1` listener as the tablets):
//!
//! - [`picture`]: the live picture, a snapshot then deltas on a stream of
//!   its own: units, cameras, privacy masks and dispatch's open incidents.
//! - [`client`]: an operator client that follows it (the viewer's live
//!   source, tests).
//!
//! The connection itself is the patrol link's ([`crate::patrol::quic`]);
//! it starts a picture stream when an operator asks for one.

pub mod client;
pub mod picture;
