//! Video ingest: one feed's RTP datagrams put in order, depacketised into
//! access units and cut into fragmented MP4, on one core, disk aside.
//!
//! `cargo bench -p vigie-ground --bench video`
//!
//! The feed is 10 s of a 2 Mb/s, 30 fps H.264 stream as a drone sends it: a
//! 40 kB keyframe each second, about 7 kB per other picture, 1200-byte RTP
//! payloads (about 2,200 datagrams), one in 50 arriving a place late. The
//! time to take in those 10 s gives how many such feeds one core keeps up
//! with (BENCHMARKS.md, Video ingest).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigie_ground::video::h264::synthetic_unit;
use vigie_ground::video::record::Feed;
use vigie_ground::video::rtp::Sender;

const SECONDS: u32 = 10;

fn stream() -> Vec<Vec<u8>> {
    let mut datagrams = Vec::new();
    let mut sender = Sender::new(96, 1, 0, 1200);
    for k in 0..30 * SECONDS {
        let size = if k.is_multiple_of(30) { 40_000 } else { 7_000 };
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 + k as usize) as u8 | 1).collect();
        sender.send(&synthetic_unit(k, 30, &payload), &mut datagrams);
    }
    // One datagram in 50 swaps places with the next.
    for i in (0..datagrams.len() - 1).step_by(50) {
        datagrams.swap(i, i + 1);
    }
    datagrams
}

fn video(c: &mut Criterion) {
    let datagrams = stream();
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    // What one pass does: every picture in, in fragments of about 1 s.
    let mut check = Feed::new();
    let (mut out, t) = (Vec::new(), Instant::now());
    for (k, d) in datagrams.iter().enumerate() {
        check.datagram(t + Duration::from_micros(k as u64 * 4_500), d, &mut out);
    }
    check.finish(&mut out);
    let s = check.stats();
    eprintln!(
        "{} datagrams, {bytes} bytes: {} pictures, {} fragments, {} segment(s), {} lost",
        datagrams.len(),
        s.units.units,
        s.fragments,
        s.segments,
        s.packets.lost
    );
    assert_eq!(s.units.units, u64::from(30 * SECONDS));
    let mut g = c.benchmark_group("video");
    g.throughput(Throughput::Bytes(bytes as u64));
    let t0 = Instant::now();
    g.bench_function("feed_10s_2mbps_30fps", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut feed = Feed::new();
            for (k, d) in datagrams.iter().enumerate() {
                // Arrival times as the stream paces them (10 s in all).
                let now = t0 + Duration::from_micros(k as u64 * 4_500);
                feed.datagram(now, d, &mut out);
                out.clear();
            }
            feed.finish(&mut out);
            black_box(feed.stats());
            out.clear();
        })
    });
    g.finish();
}

criterion_group!(benches, video);
criterion_main!(benches);
