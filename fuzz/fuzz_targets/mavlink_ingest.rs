//! Fuzzes the ground's MAVLink ingest path (datagrams into a link core on a
//! plain and a signed link, commands and transfers in flight, link loss on
//! virtual time, publication as units, and TCP stream reassembly in chunks)
//! with the same function a seeded unit test runs in CI:
//! `vigie_ground::drone::ingest::ingest_everything`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vigie_ground::drone::ingest::ingest_everything(data);
});
