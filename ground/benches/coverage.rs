//! Coverage speed on seeded Paris-scale synthetic data ([`synth`]).
//!
//! - who-sees over 100,000 fixed-camera polygons and 1,000 drone footprints:
//!   one point at a time, and in batches; beside it the plain rstar + geo
//!   loop the packed index replaces;
//! - live updates: drone footprint moves through the whole per-change path
//!   (WGS84 ring to local, index move, history recorder);
//! - zone coverage of 10 km² at 2 m cells with 5,000 cameras and 20,000
//!   buildings (line-of-sight clipping measured apart).
//!
//! Run: `cargo bench -p vigie-ground --bench coverage`.
//!
//! The `who_sees_cpu` group measures the same who-sees workloads in time
//! this thread spent on a CPU rather than wall time (Linux; wall time
//! elsewhere): on a shared machine it leaves out the time other processes
//! held the core, though not what they do to the shared caches.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigie_ground::coverage::buildings::Buildings;
use vigie_ground::coverage::footprint::{CameraPose, ground_footprint};
use vigie_ground::coverage::index::CoverageIndex;
use vigie_ground::coverage::live::LiveCoverage;
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::{query, synth};
use vigie_ground::fleet::Change;
use vigie_ground::frame::LocalFrame;
use vigie_protocols::api::{Position, Unit, UnitKind, UnitStatus};

/// Time the calling thread spent on a CPU: `/proc/thread-self/schedstat`'s
/// first field (nanoseconds, updated at least every scheduler tick, a few
/// milliseconds: small beside the 0.1 s and longer iterations measured
/// here).
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64
        })
}

/// Formats CPU nanoseconds as wall time's nanoseconds are.
static NANOS: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        NANOS.formatter()
    }
}

/// The Paris scene indexed: 100,000 cameras, 1,000 drones, 100,000 points.
fn paris_index() -> (CoverageIndex, Vec<[f64; 2]>) {
    let city = synth::paris(0x5EED_0001, 100_000, 1_000, 100_000);
    let mut idx = CoverageIndex::new(city.fixed, Masks::default(), None);
    for (info, ring) in city.drones {
        idx.upsert(info, ring).expect("synthetic drones are valid");
    }
    (idx, city.points)
}

fn who_sees_cpu(c: &mut Criterion<ThreadCpu>) {
    let (idx, points) = paris_index();
    let mut g = c.benchmark_group("who_sees_cpu");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("single_100k_points", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut n = 0usize;
            for &p in &points {
                query::who_sees(&idx, p, &mut out);
                n += out.len();
            }
            black_box(n)
        })
    });
    g.bench_function("batch_100k_points", |b| {
        b.iter(|| black_box(query::who_sees_batch(&idx, &points).hits.len()))
    });
    g.finish();
}

fn who_sees(c: &mut Criterion) {
    let city = synth::paris(0x5EED_0001, 100_000, 1_000, 100_000);
    let mut idx = CoverageIndex::new(city.fixed.clone(), Masks::default(), None);
    for (info, ring) in &city.drones {
        idx.upsert(info.clone(), ring.clone())
            .expect("synthetic drones are valid");
    }
    let points = &city.points;
    let hits = query::who_sees_batch(&idx, points).hits.len();
    eprintln!(
        "who-sees data: {} sources, {:.2} hits per point",
        idx.len(),
        hits as f64 / points.len() as f64
    );

    let mut g = c.benchmark_group("who_sees");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("single_100k_points", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut n = 0usize;
            for &p in points {
                query::who_sees(&idx, p, &mut out);
                n += out.len();
            }
            black_box(n)
        })
    });
    g.bench_function("batch_100k_points", |b| {
        b.iter(|| black_box(query::who_sees_batch(&idx, points).hits.len()))
    });

    // Baseline: rstar over geo polygons with a contains test per candidate
    // (fixed cameras only, no ranking): what the packed index replaces.
    use geo::{BoundingRect, Contains, Polygon};
    use rstar::primitives::{GeomWithData, Rectangle};
    use rstar::{AABB, RTree};
    let polys: Vec<Polygon<f64>> = city
        .fixed
        .iter()
        .map(|(_, r)| {
            Polygon::new(
                r.iter().map(|p| geo::coord! {x: p[0], y: p[1]}).collect(),
                vec![],
            )
        })
        .collect();
    let tree = RTree::bulk_load(
        polys
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let b = p.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                    i,
                ))
            })
            .collect(),
    );
    g.bench_function("baseline_rstar_geo_single_100k_points", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for &p in points {
                for e in tree.locate_in_envelope_intersecting(&AABB::from_point(p)) {
                    n += usize::from(polys[e.data].contains(&geo::Point::new(p[0], p[1])));
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

fn live_updates(c: &mut Criterion) {
    let frame = LocalFrame::new(48.8566, 2.3522);
    let mut rng = synth::Rng(0x5EED_0002);
    let live = LiveCoverage::new(frame, Vec::new(), Masks::default(), None);
    // As the drone link publishes a move: the footprint in the local frame
    // (indexed as is) and in WGS84 for the picture.
    let unit = |id: usize, pose: &CameraPose| -> Change {
        let local: Vec<[f64; 2]> = ground_footprint(pose)
            .unwrap_or_default()
            .into_iter()
            .map(|(e, n)| [e, n])
            .collect();
        let ring = frame.ring_to_wgs84(&local);
        let (lat, lon) = frame.to_wgs84(pose.east_m, pose.north_m);
        let unit = Unit {
            position: Some(Position {
                lat_deg: lat,
                lon_deg: lon,
                alt_rel_m: Some(pose.height_agl_m),
                ..Position::default()
            }),
            coverage: Some(ring),
            ..Unit::new(
                format!("drone-{id}"),
                UnitKind::Drone,
                UnitStatus::Busy,
                "bench",
            )
        };
        Change::Upsert(Box::new(unit), Some(local.into()))
    };
    let mut poses: Vec<CameraPose> = (0..1000)
        .map(|_| {
            let (e, n) = (rng.f(-5000.0, 5000.0), rng.f(-5000.0, 5000.0));
            synth::drone_pose(&mut rng, e, n)
        })
        .collect();
    for (i, p) in poses.iter().enumerate() {
        live.apply(0, &unit(i, p));
    }
    // 10,000 moves: each drone flies 10 steps of 1.2 m (12 m/s at 10 Hz).
    let mut moves = Vec::with_capacity(10_000);
    for step in 0..10i64 {
        for (i, p) in poses.iter_mut().enumerate() {
            p.east_m += 1.2;
            moves.push((step, unit(i, p)));
        }
    }
    let mut g = c.benchmark_group("live");
    g.throughput(Throughput::Elements(moves.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut t = 0i64;
    g.bench_function("apply_10k_drone_moves", |b| {
        b.iter(|| {
            for (step, m) in &moves {
                live.apply(t + step * 100, m);
            }
            t += 1000;
            black_box(live.take_rows(t).len())
        })
    });
    // The same moves with the WGS84 ring only (a unit whose link gave no
    // local ring), as every drone move was handled before the footprint
    // stayed in the local frame: what the round trip cost.
    let wgs84_only: Vec<(i64, Change)> = moves
        .iter()
        .map(|(step, m)| match m {
            Change::Upsert(u, _) => (*step, Change::Upsert(u.clone(), None)),
            other => (*step, other.clone()),
        })
        .collect();
    g.bench_function("apply_10k_drone_moves_from_wgs84", |b| {
        b.iter(|| {
            for (step, m) in &wgs84_only {
                live.apply(t + step * 100, m);
            }
            t += 1000;
            black_box(live.take_rows(t).len())
        })
    });
    g.finish();
}

fn zone(c: &mut Criterion) {
    let city = synth::zone_city(0x5EED_0003, 20_000, 5_000);
    let b = Arc::new(Buildings::new(city.buildings.clone()));
    let idx = CoverageIndex::new(synth::clip(&city, &b), Masks::default(), Some(b.clone()));
    let r = query::zone_coverage(&idx, &city.zone, 2.0, 50, 20.0).expect("valid zone");
    eprintln!(
        "zone data: {:.0} m² open, {:.1} % covered, {} gaps, {} sources",
        r.open_m2,
        r.covered_fraction * 100.0,
        r.gap_count,
        r.sources
    );
    let mut g = c.benchmark_group("zone");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("fraction_10km2_2m_5k_cams_20k_buildings", |bch| {
        bch.iter(|| {
            black_box(
                query::zone_coverage(&idx, &city.zone, 2.0, 50, 20.0).map(|r| r.covered_fraction),
            )
        })
    });
    g.bench_function("line_of_sight_clip_5k_cams_20k_buildings", |bch| {
        bch.iter(|| black_box(synth::clip(&city, &b).len()))
    });
    g.finish();
}

criterion_group!(benches, who_sees, live_updates, zone);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = who_sees_cpu
}
criterion_main!(benches, cpu);
