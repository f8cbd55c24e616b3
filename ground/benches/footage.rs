//! Footage by place and time over a day of recordings: 200 sources (180
//! fixed cameras and 20 drones) recorded for 24 hours in one-minute
//! segments of one-second fragments, indexed through the ground's own
//! write path (`Store::video_batch`) in an SQLite file; then the footage
//! query a command post runs after an incident.
//!
//! `cargo bench -p vigie-ground --bench footage`
//!
//! The cameras stand on a 15 x 12 grid 100 m apart, each seeing a 40 m
//! square (one view per segment: they do not move). The drones orbit
//! 300 m circles at 5 m/s, so each fragment is a view of its own. The
//! spot asked is under one camera and on a drone's orbit. Measured: the
//! query over the whole day, over an eight-minute window (14:02-14:10, its
//! edge views counted fragment by fragment), and the indexing rate
//! (BENCHMARKS.md, Footage query).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::{Network, SourceKind};
use vigie_ground::frame::LocalFrame;
use vigie_ground::store::Store;
use vigie_ground::video::index::{self, NewFragment, NewSegment, Seen, footage_at};

const DAY_MS: i64 = 86_400_000;
/// Midnight UTC, 14 July 2026.
const T0: i64 = 1_783_987_200_000;
const CAMERAS: usize = 180;
const DRONES: usize = 20;

fn square(frame: &LocalFrame, c: [f64; 2], half: f64, height_m: f64) -> Seen {
    let ring: Vec<[f64; 2]> = [
        [-1.0, -1.0],
        [1.0, -1.0],
        [1.0, 1.0],
        [-1.0, 1.0],
        [-1.0, -1.0],
    ]
    .iter()
    .map(|d| [c[0] + d[0] * half, c[1] + d[1] * half])
    .collect();
    Seen {
        ring: frame.ring_to_wgs84(&ring),
        eye: frame.lon_lat(c),
        height_m,
        hfov_deg: 70.0,
    }
}

/// Where a source is at second `s` of the day.
fn place(source: usize, s: i64) -> ([f64; 2], f64) {
    if source < CAMERAS {
        let (i, j) = ((source % 15) as f64, (source / 15) as f64);
        ([i * 100.0, j * 100.0], 20.0)
    } else {
        let d = (source - CAMERAS) as f64;
        let centre = [200.0 + 50.0 * d, 300.0 + 20.0 * d];
        let a = s as f64 * 5.0 / 300.0 + d;
        (
            [centre[0] + 300.0 * a.cos(), centre[1] + 300.0 * a.sin()],
            15.0,
        )
    }
}

fn build(store: &Store, frame: &LocalFrame) -> (usize, f64) {
    let started = Instant::now();
    let mut fragments = 0;
    for source in 0..CAMERAS + DRONES {
        let (id, kind) = if source < CAMERAS {
            (format!("cam-{source:03}"), SourceKind::FixedCamera)
        } else {
            (
                format!("drone:udp0:{}", source - CAMERAS + 1),
                SourceKind::Drone,
            )
        };
        store
            .video_batch(|b| {
                for minute in 0..DAY_MS / 60_000 {
                    let start = T0 + minute * 60_000;
                    let recording = b.begin_segment(
                        &NewSegment {
                            source_id: id.clone(),
                            kind,
                            network: Network::City,
                            start_ms: start,
                            path: format!("/srv/video/{id}/{start}.mp4").into(),
                            init_length: 700,
                            width_px: 1920,
                            height_px: 1080,
                            authorisation: None,
                        },
                        start,
                    )?;
                    let mut view: Option<(i64, Seen)> = None;
                    for k in 0..60i64 {
                        let s = minute * 60 + k;
                        let (at, half) = place(source, s);
                        let seen = square(frame, at, half, 40.0);
                        let extend = view
                            .as_ref()
                            .filter(|(_, v)| v.same_as(&seen))
                            .map(|(id, _)| *id);
                        let footprint = (k == 59).then(|| index::hull(&seen.ring)).flatten();
                        let v = b.add_fragment(
                            &NewFragment {
                                recording,
                                seq: k as u32,
                                start_ms: start + k * 1000,
                                end_ms: start + (k + 1) * 1000,
                                offset: 700 + k as u64 * 250_000,
                                length: 250_000,
                                pictures: 30,
                                keyframe: true,
                                masked: false,
                                seen: Some(seen.clone()),
                            },
                            extend,
                            footprint.as_deref(),
                        )?;
                        if extend.is_none() {
                            view = v.map(|id| (id, seen));
                        }
                        fragments += 1;
                    }
                }
                Ok(())
            })
            .expect("indexed");
    }
    (fragments, started.elapsed().as_secs_f64())
}

fn footage(c: &mut Criterion) {
    // Indexing a day of 200 sources takes minutes: the index is kept
    // between runs (delete the directory to measure indexing again).
    let dir = std::env::temp_dir().join("vigie-bench-footage-v2");
    let frame = LocalFrame::new(48.8566, 2.3522);
    let open = || {
        let store = Store::open(&dir).expect("store");
        vigie_ground::guardrails::retention::migrate(&store).expect("migrated");
        index::migrate(&store).expect("migrated");
        store
    };
    let count = |store: &Store, table: &str| -> i64 {
        store
            .with_conn(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
            .unwrap_or(0)
    };
    let expected = ((CAMERAS + DRONES) as i64) * DAY_MS / 1000;
    let mut store = open();
    if count(&store, "video_fragment") != expected {
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        store = open();
        let (fragments, secs) = build(&store, &frame);
        println!(
            "indexed {fragments} fragments of {} sources in {secs:.1} s: {:.0} fragments/s on one core",
            CAMERAS + DRONES,
            fragments as f64 / secs
        );
    }
    println!(
        "{} fragments in {} views",
        count(&store, "video_fragment"),
        count(&store, "video_view")
    );
    // Under camera 50 (grid 5, 3) and on the first drone's orbit.
    let spot = frame.lon_lat([500.0, 300.0]);
    let masks = Masks::default();
    let day = footage_at(&store, &frame, &masks, spot, T0, T0 + DAY_MS).expect("answered");
    let window = (
        T0 + 14 * 3_600_000 + 2 * 60_000,
        T0 + 14 * 3_600_000 + 10 * 60_000,
    );
    let eight = footage_at(&store, &frame, &masks, spot, window.0, window.1).expect("answered");
    println!(
        "the day: {} sources ({}); 14:02-14:10: {} sources",
        day.len(),
        day.iter()
            .map(|f| format!("{} {:.0} s", f.source_id, f.total_ms as f64 / 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        eight.len()
    );
    assert!(
        day.iter()
            .any(|f| f.source_id == "cam-050" && f.total_ms == DAY_MS)
    );
    assert!(day.iter().any(|f| f.kind == SourceKind::Drone));
    let mut g = c.benchmark_group("footage");
    g.sample_size(20);
    g.bench_function("query_24h_200_sources", |b| {
        b.iter(|| black_box(footage_at(&store, &frame, &masks, spot, T0, T0 + DAY_MS)))
    });
    g.bench_function("query_8min_200_sources", |b| {
        b.iter(|| black_box(footage_at(&store, &frame, &masks, spot, window.0, window.1)))
    });
    g.finish();
}

criterion_group!(benches, footage);
criterion_main!(benches);
