//! The QUIC link to patrol tablets and operator clients (protocol `vigie/1`,
//! see `protocols/README.md`).
//!
//! One straight path per flow:
//!
//! - [`ca`]: the deployment CA; certificates name the unit and its role.
//! - [`orders`]: the order queue, persisted before anything is sent.
//! - [`session`]: the sans-I/O core of one tablet's session: hello, positions,
//!   order delivery and acknowledgement, redelivery on reconnect, link quality.
//! - [`server`]: the quinn edge: mutual TLS, admission control, one task per
//!   connection feeding the session core and the fleet picture.
//! - [`writer`]: the storage thread: every order and ack write, group-committed
//!   off the async runtime; answers only once durable.
//! - [`register`]: what the link writes to the audit register (sessions,
//!   refusals, broadcasts, picture subscriptions), only ever queued.
//! - [`picture`]: the live picture for operator clients, a snapshot then
//!   deltas on a stream of its own.
//! - [`client`]: an operator client that follows the live picture.
//! - [`http`]: `POST/GET /api/v1/patrols/{id}/orders`.

pub mod ca;
pub mod client;
pub mod http;
pub mod link;
pub mod orders;
pub mod picture;
pub mod register;
pub mod server;
pub mod session;
pub mod tls;
pub mod writer;

/// A QUIC client configuration (an operator's or a tablet's credentials), as
/// [`client::load_client_config`] and [`tls::client_config`] build it.
pub type ClientConfig = quinn::ClientConfig;
