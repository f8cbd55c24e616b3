//! Fuzzes the ground's video ingest (RTP datagrams on virtual time through
//! the reorder buffer, the H.264 depacketiser and the fragmenter) with the
//! same function a seeded unit test runs in CI:
//! `vigie_ground::video::record::feed_everything`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vigie_ground::video::record::feed_everything(data);
});
