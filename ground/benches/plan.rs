//! Planner speed on the workloads:
//!
//! - the Seine opening-ceremony event (simulations/events/) with 5,000
//!   fixed cameras seeded along the route ([`synth::camera_pose`]), 60
//!   drones and 400 patrol teams: the whole `plan::plan` call, from
//!   rasterising the zones to the coverage-over-time curve;
//! - street camera siting over 3,000 seeded streets at 200 m radius to 95 %
//!   of street length, with 710 existing cameras, and from scratch.
//!
//! Beside the Seine workload (where 5,000 cameras already see most
//! of the route), the same event with its own 40 cameras, where drones and
//! patrols share the work.
//!
//! Run: `cargo bench -p vigie-ground --bench plan`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vigie_ground::coverage::Network;
use vigie_ground::coverage::camera::{FixedCamera, Tier};
use vigie_ground::coverage::synth::{self, Rng};
use vigie_ground::plan::cameras::{self, Existing, SitingOptions};
use vigie_ground::plan::event::{Event, Shape};
use vigie_ground::plan::{self, Options};

/// The Seine event with `cameras` synthetic street cameras within 120 m of
/// the river's centre line, and the asset counts of the issue.
fn seine(cameras: usize) -> Event {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simulations/events/seine-opening-ceremony.toml");
    let mut event = Event::load(&path).expect("the Seine example event loads");
    let line = event
        .zones
        .iter()
        .find_map(|z| match &z.shape {
            Shape::Corridor { line, .. } => Some(line.clone()),
            Shape::Polygon(_) => None,
        })
        .expect("the Seine event has a route");
    let seg: Vec<f64> = line
        .windows(2)
        .map(|w| f64::hypot(w[1][0] - w[0][0], w[1][1] - w[0][1]))
        .collect();
    let total: f64 = seg.iter().sum();
    let mut rng = Rng(0x5E1_2024);
    event.cameras = (0..cameras)
        .map(|k| {
            // A point along the route, then across it.
            let mut s = rng.f(0.0, total);
            let mut i = 0;
            while i + 1 < seg.len() && s > seg[i] {
                s -= seg[i];
                i += 1;
            }
            let (a, b) = (line[i], line[i + 1]);
            let t = s / seg[i];
            let (dx, dy) = ((b[0] - a[0]) / seg[i], (b[1] - a[1]) / seg[i]);
            let off = rng.f(-120.0, 120.0);
            let e = a[0] + (b[0] - a[0]) * t - dy * off;
            let n = a[1] + (b[1] - a[1]) * t + dx * off;
            let pose = synth::camera_pose(&mut rng, e, n);
            let (lat, lon) = event.frame.to_wgs84(e, n);
            FixedCamera {
                id: format!("synth-{k}"),
                network: Network::City,
                lat_deg: lat,
                lon_deg: lon,
                mount_height_m: pose.height_agl_m,
                heading_deg: pose.yaw_deg,
                tilt_deg: pose.pitch_deg,
                hfov_deg: pose.hfov_deg,
                range_m: Some(f64::hypot(pose.max_range_m, pose.height_agl_m)),
                resolution_px: None,
                range_tier: Tier::Detection,
                ptz: false,
                name: None,
            }
        })
        .collect();
    event.drones.count = 60;
    event.patrols.count = 400;
    event
}

fn plan_seine(c: &mut Criterion) {
    let event = seine(5_000);
    let opts = Options::default();
    let t = Instant::now();
    let p = plan::plan(&event, &opts).expect("the Seine plans");
    eprintln!(
        "seine: {} cells, {} station and {} post candidates, {} stations ({} airframes), {} posts ({} teams), coverage {:.1} % -> {:.1} %, >= {:.1} % of optimal, {} swaps, one run {:.2} s",
        p.cells.len(),
        p.quality.station_candidates,
        p.quality.post_candidates,
        p.stations.len(),
        p.totals.airframes_used,
        p.posts.len(),
        p.totals.teams_used,
        100.0 * p.totals.before,
        100.0 * p.totals.after,
        100.0 * p.quality.ratio_lower_bound,
        p.quality.swaps,
        t.elapsed().as_secs_f64()
    );
    // With the event's own 40 cameras most of the route is open: drones
    // and patrols share the work, and local search has more to do.
    let sparse = {
        let mut e = seine(0);
        e.cameras = Event::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../simulations/events/seine-opening-ceremony.toml"),
        )
        .expect("loads")
        .cameras;
        e
    };
    let t = Instant::now();
    let q = plan::plan(&sparse, &opts).expect("the Seine plans");
    eprintln!(
        "seine, 40 cameras: {} stations ({} airframes), {} posts ({} teams), coverage {:.1} % -> {:.1} %, >= {:.1} % of optimal, {} swaps, one run {:.2} s",
        q.stations.len(),
        q.totals.airframes_used,
        q.posts.len(),
        q.totals.teams_used,
        100.0 * q.totals.before,
        100.0 * q.totals.after,
        100.0 * q.quality.ratio_lower_bound,
        q.quality.swaps,
        t.elapsed().as_secs_f64()
    );
    let mut g = c.benchmark_group("plan");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("seine_5000_cameras_60_drones_400_teams", |b| {
        b.iter(|| black_box(plan::plan(&event, &opts).expect("plans")))
    });
    g.bench_function("seine_40_cameras_60_drones_400_teams", |b| {
        b.iter(|| black_box(plan::plan(&sparse, &opts).expect("plans")))
    });
    g.finish();
}

fn site_streets(c: &mut Criterion) {
    let streets = cameras::synthetic_streets(0x70_0105E, 3_000);
    // 710 existing 360° cameras at random street vertices.
    let mut rng = Rng(710);
    let existing: Vec<Existing> = (0..710)
        .map(|k| {
            let s = &streets[(rng.next_u64() % streets.len() as u64) as usize];
            Existing {
                id: format!("cam-{k}"),
                pos: s.line[(rng.next_u64() % s.line.len() as u64) as usize],
                sector: None,
                range_m: None,
            }
        })
        .collect();
    let opts = SitingOptions::default();
    let t = Instant::now();
    let s = cameras::site(&streets, &existing, &opts).expect("default options are valid");
    eprintln!(
        "streets: {} streets, {:.0} km, {} samples, {} sites; {:.1} % -> {:.1} % with {} new cameras, one run {:.2} s",
        streets.len(),
        s.street_m / 1000.0,
        s.samples,
        s.candidates,
        100.0 * s.before,
        100.0 * s.after,
        s.new.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let s = cameras::site(&streets, &[], &opts).expect("default options are valid");
    eprintln!(
        "streets, no camera yet: {:.1} % with {} new cameras, one run {:.2} s",
        100.0 * s.after,
        s.new.len(),
        t.elapsed().as_secs_f64()
    );
    let mut g = c.benchmark_group("plan_cameras");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("streets_3000_radius_200_target_95", |b| {
        b.iter(|| black_box(cameras::site(&streets, &existing, &opts)))
    });
    g.bench_function("streets_3000_from_scratch", |b| {
        b.iter(|| black_box(cameras::site(&streets, &[], &opts)))
    });
    g.finish();
}

/// Plan mode's cost of one edit on the Seine event (40 cameras, the plan's
/// stations and posts): move a station 20 m and read the coverage figure,
/// as a drag does at each step.
fn edit_seine(c: &mut Criterion) {
    use std::sync::Arc;
    use vigie_ground::plan::layout::Layout;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simulations/events/seine-opening-ceremony.toml");
    let mut event = seine(0);
    event.cameras = Event::load(&path).expect("loads").cameras;
    let event = Arc::new(event);
    let opts = Options::default();
    let p = plan::plan(&event, &opts).expect("the Seine plans");
    let t = Instant::now();
    let mut layout = Layout::from_plan(event.clone(), opts, &p);
    let load = t.elapsed();
    let station = p.stations.first().expect("the plan has a station");
    let (id, at) = (station.id.clone(), station.station.pos);
    eprintln!(
        "seine edit: {} cells, {} items, coverage {:.1} %, layout from the plan in {:.1} ms",
        layout.cells().len(),
        layout.items().len(),
        100.0 * layout.figure().after,
        load.as_secs_f64() * 1000.0
    );
    let mut g = c.benchmark_group("plan_edit");
    let mut k = 0u32;
    g.bench_function("seine_move_station_and_figure", |b| {
        b.iter(|| {
            k += 1;
            let dx = if k.is_multiple_of(2) { 20.0 } else { 0.0 };
            let _ = layout.move_to(&id, [at[0] + dx, at[1]]);
            layout.merge_last_undo();
            black_box(layout.figure())
        })
    });
    g.bench_function("seine_figure_only", |b| {
        b.iter(|| black_box(layout.figure()))
    });
    g.finish();
}

criterion_group!(benches, plan_seine, site_streets, edit_seine);
criterion_main!(benches);
