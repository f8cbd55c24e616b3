//! Vigie wire types, with no I/O.
//!
//! - [`api`]: the JSON shapes of the HTTP API (`/api/v1/...`), shared by the
//!   ground server, the `vigie` command line, the viewer and the tests, so that
//!   a field renamed on one side fails to compile on the other.
//! - [`tablet`]: the Protocol Buffers protocol of patrol tablets and operator
//!   clients over QUIC (`vigie.v1`), and its framing codec.

pub mod api;
pub mod tablet;
