//! Dispatch speed with 10,000 patrols and 100 drones online, and 20,000
//! fixed cameras (seeded synthetic city, [`synth`]):
//!
//! - `rank_patrols`: the free patrols ranked by travel time (one pass over
//!   the fleet, bounded insertion of the best 5);
//! - `suggest`: patrols + soonest drone + cameras that see the spot;
//! - `rank_patrols_streets`: the same ranking on a street network the size
//!   of a city centre (a 100 × 100 grid of 100 m blocks, 20,200 segments,
//!   with every tenth street one-way): one bounded reverse Dijkstra per
//!   mode, after placing the 8,000 free patrols on their nearest segment;
//! - `report`: the whole intake of one incident in [`Dispatch`]: SQLite
//!   insert (WAL, `synchronous = FULL`, so one fsync), fleet snapshot,
//!   suggestions, auto-assignment of the best patrol through the patrol
//!   link's persisted order queue (a second fsync).
//!
//! Run: `cargo bench -p vigie-ground --bench dispatch`.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vigie_ground::coverage::index::CoverageIndex;
use vigie_ground::coverage::live::LiveCoverage;
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::synth;
use vigie_ground::dispatch::Dispatch;
use vigie_ground::dispatch::incident::{Category, GeoPoint, Priority, Report, Source};
use vigie_ground::dispatch::policy::DispatchConfig;
use vigie_ground::dispatch::routing::{OneWay, StreetGraph, StreetLine};
use vigie_ground::dispatch::suggest;
use vigie_ground::fleet::FleetHandle;
use vigie_ground::frame::LocalFrame;
use vigie_ground::patrol::roster::PatrolLink;
use vigie_ground::store::Store;
use vigie_protocols::api::{DroneTelemetry, PatrolInfo, Position, Unit, UnitKind, UnitStatus};

const PATROLS: usize = 10_000;
const DRONES: usize = 100;

fn frame() -> LocalFrame {
    LocalFrame::new(48.8566, 2.3522)
}

fn position(frame: &LocalFrame, e: f64, n: f64) -> Position {
    let (lat_deg, lon_deg) = frame.to_wgs84(e, n);
    Position {
        lat_deg,
        lon_deg,
        alt_msl_m: None,
        alt_rel_m: Some(60.0),
        heading_deg: None,
        speed_m_s: None,
        accuracy_m: None,
    }
}

/// 10,000 patrols (one in five busy) and 100 drones over the synthetic
/// city's 10 km × 10 km.
fn fleet(frame: &LocalFrame) -> Vec<Unit> {
    let mut rng = synth::Rng(0xD15_9A7C);
    let mut units = Vec::with_capacity(PATROLS + DRONES);
    for i in 0..PATROLS {
        units.push(Unit {
            position: Some(position(frame, rng.f(0.0, 10_000.0), rng.f(0.0, 10_000.0))),
            last_seen_ms: Some(0),
            patrol: Some(PatrolInfo {
                role: "patrol".into(),
                connected: true,
                link_quality: Some(1.0),
                rtt_ms: None,
                remote: None,
            }),
            ..Unit::new(
                format!("P{i:05}"),
                UnitKind::Patrol,
                if i % 5 == 0 {
                    UnitStatus::EnRoute
                } else {
                    UnitStatus::Available
                },
                "quic",
            )
        });
    }
    for i in 0..DRONES {
        units.push(Unit {
            position: Some(position(frame, rng.f(0.0, 10_000.0), rng.f(0.0, 10_000.0))),
            last_seen_ms: Some(0),
            drone: Some(DroneTelemetry {
                link: "udp0".into(),
                system_id: 1,
                autopilot: String::new(),
                mode: String::new(),
                armed: false,
                system_status: String::new(),
                link_state: "up".into(),
                battery_pct: Some(rng.f(20.0, 100.0)),
                battery_v: None,
                gps_fix: None,
                satellites: None,
                gps_hdop: None,
                attitude_deg: None,
                home: None,
                gimbal_deg: None,
                camera_fov_deg: None,
                video_uri: None,
                status_texts: Vec::new(),
                warnings: Vec::new(),
            }),
            ..Unit::new(
                format!("drone:udp0:{i}"),
                UnitKind::Drone,
                UnitStatus::Available,
                "mavlink",
            )
        });
    }
    units
}

fn spots(frame: &LocalFrame, n: usize) -> Vec<GeoPoint> {
    let mut rng = synth::Rng(0x5907);
    (0..n)
        .map(|_| {
            let (lat_deg, lon_deg) = frame.to_wgs84(rng.f(1000.0, 9000.0), rng.f(1000.0, 9000.0));
            GeoPoint { lat_deg, lon_deg }
        })
        .collect()
}

fn suggestions(c: &mut Criterion) {
    let f = frame();
    let units = fleet(&f);
    let city = synth::paris(0x5EED_0002, 20_000, 0, 0);
    let idx = CoverageIndex::new(city.fixed, Masks::default(), None);
    let cfg = DispatchConfig::default();
    let exclude = HashSet::new();
    let spots = spots(&f, 256);
    let mut g = c.benchmark_group("dispatch");
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0;
    g.bench_function("rank_patrols_10k", |b| {
        b.iter(|| {
            i = (i + 1) % spots.len();
            black_box(suggest::rank_patrols(
                units.iter(),
                &f,
                spots[i],
                &cfg,
                &exclude,
                cfg.suggestions,
            ))
        })
    });
    let streets = grid_streets();
    let drivers = DispatchConfig {
        vehicle_units: (0..PATROLS)
            .step_by(10)
            .map(|i| format!("P{i:05}"))
            .collect(),
        ..DispatchConfig::default()
    };
    g.bench_function("rank_patrols_streets_20k_segments_10k", |b| {
        b.iter(|| {
            i = (i + 1) % spots.len();
            black_box(suggest::rank_patrols_with(
                Some(&streets),
                units.iter(),
                &f,
                spots[i],
                &drivers,
                &exclude,
                cfg.suggestions,
            ))
        })
    });
    g.bench_function("suggest_10k_patrols_100_drones_20k_cameras", |b| {
        b.iter(|| {
            i = (i + 1) % spots.len();
            black_box(suggest::suggest(
                None,
                &units,
                &idx,
                &f,
                spots[i],
                &cfg,
                &exclude,
                &|_, _| true,
                0,
            ))
        })
    });
    g.finish();
}

/// A 100 × 100 grid of 100 m blocks over the fleet's 10 km × 10 km (20,200
/// segments); every tenth street is one-way, alternating directions.
fn grid_streets() -> StreetGraph {
    let mut lines = Vec::new();
    for i in 0..=100 {
        let v = f64::from(i) * 100.0;
        let oneway = match i % 20 {
            0 => OneWay::Forward,
            10 => OneWay::Backward,
            _ => OneWay::Both,
        };
        for points in [
            (0..=100).map(|j| (v, f64::from(j) * 100.0)).collect(),
            (0..=100).map(|j| (f64::from(j) * 100.0, v)).collect(),
        ] {
            lines.push(StreetLine {
                points,
                oneway,
                speed_m_s: None,
            });
        }
    }
    let g = StreetGraph::new(&lines);
    assert_eq!(g.edge_count(), 20_200);
    g
}

fn intake(c: &mut Criterion) {
    let f = frame();
    let dir = std::env::temp_dir().join(format!("vigie-bench-dispatch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("temp data dir");
    let picture = FleetHandle::new();
    for u in fleet(&f) {
        picture.upsert(u);
    }
    let patrol =
        Arc::new(PatrolLink::new(store.clone(), Default::default()).expect("patrol tables"));
    let coverage = Arc::new(LiveCoverage::new(f, Vec::new(), Masks::default(), None));
    let cfg = DispatchConfig {
        auto_assign_min_priority: Some(Priority::Low),
        ..DispatchConfig::default()
    };
    let dispatch = Dispatch::open(store, cfg, f, patrol, picture, coverage).expect("dispatch");
    let spots = spots(&f, 256);
    let mut i = 0;
    let mut g = c.benchmark_group("dispatch");
    g.measurement_time(Duration::from_secs(10));
    g.sample_size(30);
    g.bench_function("report_and_auto_assign_10k_patrols", |b| {
        b.iter(|| {
            i = (i + 1) % spots.len();
            let view = dispatch
                .report(
                    Report {
                        category: Category::Medical,
                        priority: Priority::High,
                        location: spots[i],
                        source: Source::Operator,
                        reporter: "bench".into(),
                        text: String::new(),
                        observed_ms: 0,
                    },
                    None,
                )
                .expect("stored");
            // Free the unit again so the fleet stays 80 % available.
            if let Some(v) = &view {
                let _ = dispatch.finish(v.incident.id, true, "bench");
            }
            black_box(view)
        })
    });
    g.finish();
    drop(dispatch);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, suggestions, intake);
criterion_main!(benches);
