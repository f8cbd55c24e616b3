//! The tablet and operator protocol (`vigie.v1`), generated from
//! `proto/vigie.proto`, and its framing codec.
//!
//! The `.proto` file is normative; `protocols/README.md` says how the
//! messages travel over QUIC. [`codec`] turns bytes into messages and back,
//! with size limits and typed errors, and no I/O; [`picture`] carries the
//! live picture to operator clients.

#[allow(
    missing_docs,
    clippy::doc_lazy_continuation,
    clippy::enum_variant_names
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/vigie.v1.rs"));
}

pub mod codec;
pub mod picture;

pub use generated::*;

/// ALPN protocol id negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"vigie/1";

/// Protocol version of this file, sent in `Hello` and `Welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Server name clients verify the server certificate against (TLS SNI), whatever address they dial.
pub const SERVER_NAME: &str = "vigie-ground";
