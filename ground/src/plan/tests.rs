//! Whole-planner tests: constraints over random events, determinism, and
//! the gap to the exact optimum on small real-shaped instances.

use proptest::prelude::*;

use super::candidates;
use super::event::{DroneAssets, Event, NoFly, PatrolAssets, Shape, Window, Zone};
use super::objective::Instance;
use super::*;
use crate::coverage::Network;
use crate::coverage::camera::{FixedCamera, Tier};
use crate::coverage::polygon::point_in_ring;
use crate::coverage::synth::Rng;
use crate::frame::LocalFrame;

fn rect(rng: &mut Rng, half: f64, min: f64, max: f64) -> Vec<Pt> {
    let (cx, cy) = (rng.f(-half, half), rng.f(-half, half));
    let (w, h) = (rng.f(min, max), rng.f(min, max));
    vec![
        [cx - w, cy - h],
        [cx + w, cy - h],
        [cx + w, cy + h],
        [cx - w, cy + h],
        [cx - w, cy - h],
    ]
}

/// A random event around Paris: a few zones and a corridor, no-fly zones,
/// a mask, fixed cameras, drones and patrols with random assets.
pub(super) fn random_event(seed: u64) -> Event {
    let mut rng = Rng(seed);
    let frame = LocalFrame::new(48.8566, 2.3522);
    let t0 = 1_722_000_000;
    let flight = Window {
        start_s: t0,
        end_s: t0 + rng.f(2.0, 6.0) as i64 * 3600,
    };
    let mut zones = Vec::new();
    for k in 0..1 + (rng.next_u64() % 3) as usize {
        let start = t0 + rng.f(-3600.0, 3600.0) as i64;
        zones.push(Zone {
            name: format!("z{k}"),
            shape: Shape::Polygon(rect(&mut rng, 300.0, 30.0, 150.0)),
            weight: rng.f(0.5, 4.0),
            window: Window {
                start_s: start,
                end_s: start + rng.f(1800.0, 14_400.0) as i64,
            },
            crowd: 1000,
        });
    }
    if rng.f(0.0, 1.0) < 0.5 {
        zones.push(Zone {
            name: "route".into(),
            shape: Shape::Corridor {
                line: vec![
                    [rng.f(-400.0, 0.0), rng.f(-400.0, 400.0)],
                    [rng.f(-100.0, 100.0), rng.f(-400.0, 400.0)],
                    [rng.f(0.0, 400.0), rng.f(-400.0, 400.0)],
                ],
                half_width_m: rng.f(10.0, 60.0),
            },
            weight: 1.0,
            window: flight,
            crowd: 0,
        });
    }
    let no_fly = (0..(rng.next_u64() % 3))
        .map(|k| NoFly {
            name: format!("nf{k}"),
            ring: rect(&mut rng, 300.0, 40.0, 200.0),
        })
        .collect();
    let masks = (0..(rng.next_u64() % 2))
        .map(|_| rect(&mut rng, 300.0, 10.0, 50.0))
        .collect();
    let cameras = (0..(rng.next_u64() % 6))
        .map(|k| {
            let (lat, lon) = frame.to_wgs84(rng.f(-300.0, 300.0), rng.f(-300.0, 300.0));
            FixedCamera {
                id: format!("c{k}"),
                network: Network::City,
                lat_deg: lat,
                lon_deg: lon,
                mount_height_m: rng.f(4.0, 10.0),
                heading_deg: rng.f(0.0, 360.0),
                tilt_deg: -15.0,
                hfov_deg: rng.f(40.0, 100.0),
                range_m: Some(rng.f(30.0, 90.0)),
                resolution_px: None,
                range_tier: Tier::Detection,
                ptz: false,
                name: None,
            }
        })
        .collect();
    let drones = DroneAssets {
        count: (rng.next_u64() % 9) as u32,
        endurance_s: rng.f(15.0, 45.0) * 60.0,
        reserve_s: 180.0,
        swap_s: rng.f(0.0, 600.0),
        ceiling_m: rng.f(40.0, 120.0),
        launch_sites: (0..1 + rng.next_u64() % 2)
            .map(|_| [rng.f(-700.0, 700.0), rng.f(-700.0, 700.0)])
            .collect(),
        ..DroneAssets::default()
    };
    let patrols = PatrolAssets {
        count: (rng.next_u64() % 13) as u32,
        shift_s: rng.f(1.0, 6.0) * 3600.0,
        post_radius_m: rng.f(25.0, 80.0),
    };
    Event {
        name: format!("random {seed}"),
        frame,
        authorisation: vec![rect(&mut rng, 100.0, 300.0, 600.0)],
        flight_window: flight,
        utc_offset_s: 7200,
        zones,
        no_fly,
        masks,
        cameras,
        buildings: Vec::new(),
        base: Default::default(),
        drones,
        patrols,
        warnings: Vec::new(),
        sources: Vec::new(),
    }
}

fn quick() -> Options {
    Options {
        cell_m: Some(15.0),
        station_spacing_m: 90.0,
        altitudes_m: vec![50.0, 120.0],
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, rng_seed: proptest::test_runner::RngSeed::Fixed(88), ..ProptestConfig::default() })]

    /// Whatever the event: no station in a no-fly zone or outside the
    /// authorisation, none above the ceiling, no more airframes or teams
    /// than available, and the numbers add up.
    #[test]
    fn constraints_always_hold(seed in 0u64..1_000_000, plan_seed in 0u64..100) {
        let event = random_event(seed);
        let opts = Options { seed: plan_seed, ..quick() };
        let plan = plan(&event, &opts).unwrap();
        for s in &plan.stations {
            let st = &s.station;
            prop_assert!(event.authorisation.iter().any(|r| point_in_ring(r, st.pos)), "outside the authorisation");
            prop_assert!(!event.no_fly.iter().any(|z| point_in_ring(&z.ring, st.pos)), "in a no-fly zone");
            prop_assert!(st.altitude_m <= event.drones.ceiling_m);
            prop_assert!(st.window.start_s >= event.flight_window.start_s && st.window.end_s <= event.flight_window.end_s);
            prop_assert!(st.rotation.airframes >= 1);
        }
        prop_assert!(plan.totals.airframes_used <= event.drones.count);
        prop_assert!(plan.totals.teams_used <= event.patrols.count);
        prop_assert!(plan.totals.before <= plan.totals.after + 1e-12);
        prop_assert!(plan.totals.after <= 1.0 + 1e-12);
        prop_assert!(plan.quality.value <= plan.quality.upper_bound + 1e-6);
        for p in &plan.timeline {
            prop_assert!(p.before <= p.after + 1e-12 && p.after <= 1.0 + 1e-12);
        }
        // Masked cells never count.
        for c in 0..plan.cells.len() {
            let p = plan.cells.centre(c);
            prop_assert!(!event.masks.iter().any(|m| point_in_ring(m, p)));
        }
    }
}

#[test]
fn same_seed_same_plan() {
    for seed in [3, 17, 99] {
        let event = random_event(seed);
        let a = plan(&event, &quick()).unwrap();
        let b = plan(&event, &quick()).unwrap();
        assert_eq!(a.stations, b.stations);
        assert_eq!(a.posts, b.posts);
        assert_eq!(a.cover, b.cover);
        let gj = |p: &Plan| report::geojson(&event, p).to_string();
        assert_eq!(gj(&a), gj(&b), "byte-identical GeoJSON");
    }
}

#[test]
fn drones_fill_the_gaps_cameras_leave() {
    // One 200 × 200 m square, no cameras, one drone with a launch site next
    // to it: the plan must add coverage and use the drone.
    let mut event = random_event(5);
    event.zones.truncate(1);
    event.zones[0].shape = Shape::Polygon(vec![
        [0.0, 0.0],
        [200.0, 0.0],
        [200.0, 200.0],
        [0.0, 200.0],
        [0.0, 0.0],
    ]);
    event.zones[0].window = event.flight_window;
    event.authorisation = vec![vec![
        [-500.0, -500.0],
        [700.0, -500.0],
        [700.0, 700.0],
        [-500.0, 700.0],
        [-500.0, -500.0],
    ]];
    event.no_fly.clear();
    event.masks.clear();
    event.cameras.clear();
    event.drones.count = 8;
    event.drones.endurance_s = 40.0 * 60.0;
    event.drones.launch_sites = vec![[100.0, -100.0]];
    event.patrols.count = 0;
    let plan = plan(&event, &quick()).unwrap();
    assert_eq!(plan.totals.before, 0.0);
    assert!(!plan.stations.is_empty());
    assert!(plan.totals.after > 0.9, "{}", plan.totals.after);
    assert!(plan.totals.airframes_used <= 8);
}

/// The planner's own instances, small enough for the integer program.
#[test]
fn on_small_events_greedy_with_swaps_is_within_5_percent_of_optimal() {
    let mut worst: f64 = 1.0;
    let mut tried = 0;
    for seed in 0..40u64 {
        let mut event = random_event(1000 + seed);
        event.drones.count = event.drones.count.min(4);
        event.patrols.count = event.patrols.count.min(5);
        let opts = Options {
            cell_m: Some(25.0),
            station_spacing_m: 150.0,
            altitudes_m: vec![90.0],
            pitches_deg: vec![-90.0],
            post_spacing: 1.2,
            ..Options::default()
        };
        let cells = candidates::cells(&event, &opts).unwrap();
        let cands = candidates::candidates(&event, &cells, &opts, &mut |_, _| {});
        if cands.list.is_empty() || cands.list.len() > 60 {
            continue;
        }
        let inst = Instance::new(
            cells.value.clone(),
            cands.list.iter().map(|c| c.cells.clone()).collect(),
            cands.list.iter().map(|c| c.cost).collect(),
            cands.list.iter().map(|c| c.pool).collect(),
            vec![event.drones.count, event.patrols.count],
            |c| {
                (
                    cells.at[c as usize] % cells.grid.cols as u32,
                    cells.at[c as usize] / cells.grid.cols as u32,
                )
            },
        );
        let opt = exact::solve(&inst).unwrap();
        let got = greedy::solve(&inst, 1, 5);
        assert!(inst.feasible(&got.chosen));
        assert!(got.value <= opt.value + 1e-6);
        assert!(got.upper_bound + 1e-6 >= opt.value);
        if opt.value > 0.0 {
            worst = worst.min(got.value / opt.value);
            tried += 1;
        }
    }
    eprintln!("planner instances: {tried} solved exactly, worst greedy+swaps / optimum {worst:.4}");
    assert!(tried >= 10, "only {tried} instances were small enough");
    assert!(worst >= 0.95, "worst ratio {worst}");
}
