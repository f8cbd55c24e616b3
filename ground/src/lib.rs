//! The Vigie ground server and its domain.
//!
//! # Reading this crate in two minutes
//!
//! Everything the server knows passes through a few cores that do no I/O:
//! they take `(now, event)` and hand back what to send, store and announce
//! (quinn-proto style), so they are tested without sockets or clocks. Around
//! each core sits a thin edge that owns the sockets, and a thread of its own
//! for anything that writes to disk: the async runtime's threads never wait
//! for SQLite or `fsync`.
//!
//! | flow | core (no I/O) | edge | where it writes |
//! |---|---|---|---|
//! | drones, MAVLink over UDP/TCP | `drone/link.rs` (`LinkCore`), `drone/vehicle.rs`, `drone/command.rs`, `drone/mission.rs` | `drone/io.rs` | signing reservations on the blocking pool |
//! | tablets, QUIC `vigie/1` | `patrol/session.rs` (`Session`) | `patrol/quic.rs` (takes a `QuicContext`) | `patrol/writer.rs`, one thread, group commit |
//! | operators' live picture, QUIC | `operator/picture.rs` (`PictureFeed`, `IncidentBoard`) | started by `patrol/quic.rs` through `PictureService` | none |
//! | incidents and orders | `dispatch/engine.rs` (`Engine`) | `dispatch/mod.rs` (`Dispatch`), run on `dispatch/desk.rs`'s thread | its own connection; orders through `patrol/writer.rs` |
//! | who sees a point | `coverage/index.rs`, `coverage/query.rs` | `coverage/live.rs` follows the picture | `coverage/history.rs`, on the blocking pool |
//! | live video, RTP/H.264 over UDP | `video/record.rs` (`Feed`), `video/reorder.rs`, `video/h264.rs`, `video/mp4.rs` | `video/service.rs` (`run_stream`, one task per `[[video.streams]]`); live viewers through `video/relay.rs` | segment files and the index (`video/index.rs`) on each feed's `Sink` thread, behind a bounded queue |
//! | HTTP/JSON API | (handlers, each route group on its own narrow state: `auth/http.rs` `AuthApi`, `drone/http.rs` `DroneApi`, `coverage/http.rs` `CoverageApi`, `patrol/http.rs` `PatrolApi`, `guardrails/http.rs` `GuardrailsApi`, `dispatch/http.rs` `DispatchApi`, `video/http.rs` `VideoApi`) | `http/mod.rs` (cuts each from the server's state), `http/listener.rs` | SQLite calls through `http::blocking`, on the blocking pool |
//!
//! A drone's camera footprint and a tablet's view sector are computed in
//! the site's local frame by their link and reach the coverage index as
//! they are ([`fleet::LocalRing`]): WGS84 only for the picture operators
//! get. Each core has a pair harness in `vigie-sim` (`pair`): the core
//! against the simulated peer on virtual time over lossy paths, with
//! property tests in `simulations/tests/pairs.rs`.
//!
//! The one picture of every unit is [`fleet`]; every edge writes into it and
//! subscribers follow its changes. Order types shared by the patrol link
//! and dispatch are in [`order`]; the patrol link tells dispatch about
//! reports and acks through [`patrol::quic::DispatchInbox`], so it never
//! imports dispatch. [`state::ServerState`] holds everything the edges
//! use; [`server`] builds it and hands each edge the part it uses (the HTTP
//! route groups get theirs through axum's `FromRef`, in `http/mod.rs`), and
//! nobody imports it but the CLI and tests.
//!
//! # Crate map
//!
//! - [`auth`]: operator roles, permissions and bearer tokens on the HTTP API.
//! - [`config`]: the TOML configuration and its defaults.
//! - [`frame`]: the local metric frame (east/north metres around the site
//!   origin) in which all geometry runs, with its stated error bound; WGS84
//!   at the edges.
//! - [`site`]: which frame a data directory measures in (the configured
//!   `[site]`, the recorded origin, or the data's centre), so offline
//!   commands and the server agree.
//! - [`geojson`]: the one GeoJSON reader (features, points, rings, lines).
//! - [`video`]: live video in, recorded, indexed by place and time, relayed
//!   live, without transcoding; footage queries and exports.
//! - [`map`]: what maps are drawn with: the base map people orient by
//!   (water, parks, streets, landmarks, its attribution), label placement
//!   without overlap, and the shipped typefaces; the viewer and the
//!   planner's report maps share them.
//! - [`time`]: the clock at the edges, calendar arithmetic, local time
//!   zones and dates in words.
//! - [`fleet`]: the one fleet picture, every unit by id, with change
//!   notifications for subscribers.
//! - [`drone`]: the MAVLink link to drones. Sans-I/O cores (`vehicle`, `link`,
//!   `command`, `mission`) fed with `(now, event)`, and a thin UDP/TCP edge.
//! - [`patrol`]: the QUIC link to patrol tablets (and the listener operator
//!   clients connect to).
//! - [`operator`]: what operator clients get: the live picture, and a client
//!   that follows it.
//! - [`order`]: what an order is (types only), for the patrol link and
//!   dispatch.
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
//!   resend and escalation, persisted before announced, on a thread of its
//!   own.
//! - [`store`]: SQLite persistence behind a narrow interface.
//! - [`metrics`]: counters and the Prometheus text rendering.
//! - [`http`]: the HTTP/JSON API; [`http::listener`] bounds its
//!   connections and time, and serves HTTPS.
//! - [`openapi`]: the API's OpenAPI document, kept in sync by its tests.
//! - [`state`]: what the edges share, and the bound listeners.
//! - [`server`]: wires the listeners to the picture and runs until shutdown.
//! - [`shutdown`]: the one stop signal every task waits on.

pub mod auth;
pub mod config;
pub mod coverage;
pub mod dispatch;
pub mod drone;
pub mod fleet;
pub mod frame;
pub mod geojson;
pub mod guardrails;
pub mod http;
pub mod map;
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
pub mod video;
