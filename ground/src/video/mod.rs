//! Live video in: RTP packets put back in order and H.264 access units
//! reassembled from them, without transcoding (sans-I/O, fed datagrams).
//!
//! - [`rtp`]: RTP packets (RFC 3550).
//! - [`reorder`]: the bounded reorder buffer, counting loss, lateness and
//!   duplicates.
//! - [`h264`]: RFC 6184 depacketising (single NAL, STAP-A, FU-A) into whole
//!   access units, dropping broken ones and waiting for a keyframe after a
//!   loss; packetising for simulated sources.
//! - [`mp4`]: fragmented MP4 of whole access units, as recorded.
//! - [`record`]: one feed from datagrams to segment files (a pipeline, a
//!   writer thread behind a bounded queue, the UDP edge).
//! - [`sps`]: picture size, profile and level from a sequence parameter set.
//! - [`index`]: the recordings index's video rows (segments, fragments with
//!   their footprint), footage queries by place and time, clips cut from
//!   them.
//! - [`http`]: footage queries, exports with their manifest, downloads.
//! - [`relay`]: each feed's pictures to live viewers as they arrive; a
//!   slow viewer skips to the next keyframe.
//! - [`service`]: the configured streams in the server, each taken in by
//!   an `Ingest` and recorded by a sink on its own thread, under the
//!   drone's flight authorisation.
//! - [`tablet`]: a tablet's camera over QUIC, frame by frame, through the
//!   same `Ingest`.

pub mod h264;
pub mod http;
pub mod index;
pub mod mp4;
pub mod record;
pub mod relay;
pub mod reorder;
pub mod rtp;
pub mod service;
pub mod sps;
pub mod tablet;
