//! The Vigie ground server and its domain.
//!
//! How the crate fits together, following DESIGN.md's data flows:
//!
//! - [`auth`]: operator roles, permissions and bearer tokens on the HTTP API.
//! - [`config`]: the TOML configuration and its defaults.
//! - [`frame`]: the local metric frame (east/north metres around the site
//!   origin) in which all geometry runs, with its stated error bound; WGS84
//!   at the edges.
//! - [`site`]: which frame a data directory measures in (the configured
//!   `[site]`, the recorded origin, or the data's centre), so offline
//!   commands and the server agree.
//! - [`time`]: the clock at the edges, calendar arithmetic, local time
//!   zones and dates in words.
//! - [`fleet`]: the one fleet picture, every unit by id, with change
//!   notifications for subscribers.
//! - [`drone`]: the MAVLink link to drones. Sans-I/O cores (`vehicle`, `link`,
//!   `command`, `mission`) fed with `(now, event)`, and a thin UDP/TCP edge.
//! - [`patrol`]: the QUIC link to patrol tablets and operator clients.
//! - [`coverage`]: who sees what, now and over time: one spatial index over
//!   every camera footprint.
//! - [`guardrails`]: flight authorisations checked on every drone command,
//!   the hash-chained audit register, retention with legal holds, the public
//!   notice.
//! - [`timeline`]: the picture recorded over time, for replaying a day or
//!   a drill.
//! - [`plan`]: offline event coverage planning: drone stations, rotations
//!   and patrol posts for what fixed cameras miss; street camera siting.
//! - [`dispatch`]: incidents from every source, suggestions, orders with
//!   resend and escalation, persisted before announced.
//! - [`store`]: SQLite persistence behind a narrow interface.
//! - [`metrics`]: counters and the Prometheus text rendering.
//! - [`http`]: the HTTP/JSON API; [`http::listener`] bounds its
//!   connections and time, and serves HTTPS.
//! - [`openapi`]: the API's OpenAPI document, kept in sync by its tests.
//! - [`server`]: wires the listeners to the picture and runs until shutdown.
//! - [`shutdown`]: the one stop signal every task waits on.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod coverage;
pub mod dispatch;
pub mod drone;
pub mod fleet;
pub mod frame;
pub mod guardrails;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod order;
pub mod patrol;
pub mod plan;
pub mod server;
pub mod shutdown;
pub mod site;
pub mod state;
pub mod store;
pub mod time;
pub mod timeline;
