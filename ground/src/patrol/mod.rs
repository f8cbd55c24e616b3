//! The QUIC link to patrol tablets and operator clients (protocol `vigie/1`,
//! see `protocols/README.md`).
//!
//! One straight path per flow:
//!
//! - [`ca`]: the deployment CA; certificates name the unit and its role.
//! - [`orders`]: the order queue, persisted before anything is sent.
//! - [`session`]: the sans-I/O core of one tablet's session: hello, positions,
//!   order delivery and acknowledgement, redelivery on reconnect, link quality.
//! - [`quic`]: the quinn edge: mutual TLS, admission control, one task per
//!   connection feeding the session core and the fleet picture.
//! - [`roster`]: who is connected: the live session of each unit, the order
//!   queue and revocation list they share, so that an order stored anywhere
//!   reaches its unit's connection at once.
//! - [`writer`]: the storage thread: every order and ack write, group-committed
//!   off the async runtime; answers only once durable.
//! - [`register`]: what the link writes to the audit register (sessions,
//!   refusals, broadcasts, picture subscriptions), only ever queued.
//! - [`tls`]: mutual TLS: the server's verifier (chain, validity window,
//!   revocations) and the client configuration tablets and tools use.
//!
//! Operator clients connect on the same listener; what they are sent (the
//! live picture) and the client that follows it live in
//! [`crate::operator`].
//! - [`http`]: `POST/GET /api/v1/patrols/{id}/orders`.

pub mod ca;
pub mod http;
pub mod orders;
pub mod quic;
pub mod register;
pub mod roster;
pub mod session;
pub mod tls;
pub mod writer;

/// A QUIC client configuration (an operator's or a tablet's credentials), as
/// [`crate::operator::client::load_client_config`] and [`tls::client_config`] build it.
pub type ClientConfig = quinn::ClientConfig;
