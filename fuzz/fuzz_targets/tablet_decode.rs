//! Fuzzes every decoding entry point of the tablet protocol (stream frames in
//! arbitrary chunks, datagrams, server messages) with the same function a
//! seeded unit test runs in CI: `vigie_protocols::tablet::codec::decode_everything`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vigie_protocols::tablet::codec::decode_everything(data);
});
