//! Renders plan mode with `vigie view --plan EVENT --plan-file PLAN
//! --screenshot` under Xvfb and Mesa's lavapipe, and checks the picture:
//! not blank, a known drone station's footprint and a no-fly zone in their
//! colours where they must appear.
//!
//! The plan file is written by the library's own layout (one drone station
//! at a point the test picks), so the test also covers reloading a plan.
//! Pixels come from the viewer's projection (`OrbitView::world_to_pixel`)
//! on the scene plan mode builds from the event; preconditions assert that
//! nothing else is drawn at each probed point.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::render::{bytes, close, on_path, over, screenshot_of};

use vigie_ground::coverage::polygon::point_in_ring;
use vigie_ground::plan::Options;
use vigie_ground::plan::event::{Event, Shape, polyline_distance_m};
use vigie_ground::plan::layout::{Kind, Layout};
use vigie_viewer::palette;
use vigie_viewer::plan::{colours, scene_of};
use vigie_viewer::scene::ZoneKind;
use vigie_viewer::view::{OrbitView, Vec3, world};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
/// The renderer gets this long, Xvfb start included.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Probes keep this far from every drawn edge (zone walls up to 120 m
/// cross lines of sight near their rings), metres.
const CLEAR_M: f64 = 100.0;

fn event_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("simulations/events/concorde.toml")
}

/// `vigie view --plan` on the test's event and plan file, with `extra`
/// options.
fn render(out: &Path, plan_file: &Path, extra: &[&str], view: &OrbitView) -> image::RgbImage {
    let event = event_path();
    let mut args = vec![
        "view",
        "--plan",
        event.to_str().expect("utf-8 path"),
        "--plan-file",
        plan_file.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    screenshot_of(&args, out, (WIDTH, HEIGHT), RUN_TIMEOUT, view)
}

/// `top` (with its alpha) over `under`, as bytes.
fn over_rgba(top: [f32; 4], under: [f32; 3]) -> [u8; 3] {
    bytes(over([top[0], top[1], top[2]], top[3], under))
}

fn pixel_at(view: &OrbitView, p: Vec3) -> (u32, u32) {
    let px = view
        .world_to_pixel(p, WIDTH, HEIGHT)
        .expect("point in front of the camera");
    assert!(
        px.x >= 2.0 && px.y >= 2.0 && px.x < (WIDTH - 2) as f32 && px.y < (HEIGHT - 2) as f32,
        "point projects outside the picture: {px:?}"
    );
    (px.x as u32, px.y as u32)
}

/// Distance from `p` to the nearest drawn zone edge, metres, and whether
/// `p` lies inside an event zone.
fn clearance(event: &Event, p: [f64; 2]) -> (f64, bool) {
    let mut d = f64::INFINITY;
    let mut in_zone = false;
    for z in &event.zones {
        in_zone |= z.shape.contains(p);
        d = d.min(match &z.shape {
            Shape::Polygon(r) => polyline_distance_m(r, p),
            Shape::Corridor { line, half_width_m } => {
                (polyline_distance_m(line, p) - half_width_m).abs()
            }
        });
    }
    for r in event
        .no_fly
        .iter()
        .map(|n| &n.ring)
        .chain(&event.authorisation)
        .chain(&event.masks)
    {
        d = d.min(polyline_distance_m(r, p));
    }
    (d, in_zone)
}

#[test]
fn plan_mode_shows_a_station_footprint_and_a_no_fly_zone_where_they_must_be() {
    if !on_path("xvfb-run") {
        common::skip::skip(
            "viewer_plan_screenshot",
            "xvfb-run is not installed (apt-get install xvfb mesa-vulkan-drivers, or run scripts/test.sh)",
        );
        return;
    }
    let event = Arc::new(Event::load(&event_path()).expect("example event loads"));
    let scene = scene_of(&event);
    let view = scene.framing(OrbitView::overview(scene.extent_m), [], WIDTH, HEIGHT);
    let in_picture = |p: [f64; 2]| {
        view.world_to_pixel(world(p, 0.0), WIDTH, HEIGHT)
            .is_some_and(|px| {
                px.x > 10.0
                    && px.y > 10.0
                    && px.x < (WIDTH - 10) as f32
                    && px.y < (HEIGHT - 10) as f32
            })
    };

    // The station: the first point of a 50 m grid, authorised, clear of
    // every zone edge and outside every zone; its probe 40 m south of it
    // (away from the station's own altitude and frustum lines).
    let probe_of = |p: [f64; 2]| [p[0], p[1] - 40.0];
    let station = (-16..=16)
        .flat_map(|j| (-16..=16).map(move |i| [i as f64 * 50.0, j as f64 * 50.0]))
        .find(|&p| {
            let q = probe_of(p);
            let (d, in_zone) = clearance(&event, q);
            event.authorised(p)
                && !event.no_fly_at(p)
                && event.authorised(q)
                && d >= CLEAR_M
                && !in_zone
                && in_picture(q)
        })
        .expect("a clear spot for the station");
    let probe = probe_of(station);

    // The plan file: one straight-down station at 120 m, as Ctrl+S saves it.
    let opts = Options::default();
    let mut layout = Layout::new(event.clone(), opts).expect("cells");
    let id = layout
        .add_at(Kind::Station, station)
        .expect("the station is allowed there");
    let footprint = layout.item(&id).expect("added").ring.clone();
    assert!(
        point_in_ring(&footprint, probe),
        "the probe lies in the station's footprint"
    );
    let dir = std::env::temp_dir().join(format!("vigie-plan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let plan_file = dir.join("plan.geojson");
    std::fs::write(
        &plan_file,
        serde_json::to_string_pretty(&layout.geojson()).expect("encodes"),
    )
    .expect("writes the plan");

    // The no-fly zone: the centre of the first one clear of other edges.
    let no_fly = event
        .no_fly
        .iter()
        .find_map(|n| {
            let k = (n.ring.len() - 1).max(1) as f64;
            let c = n
                .ring
                .iter()
                .take(n.ring.len() - 1)
                .fold([0.0, 0.0], |a, p| [a[0] + p[0] / k, a[1] + p[1] / k]);
            let (d, in_zone) = clearance(&event, c);
            let far_from_station =
                !point_in_ring(&footprint, c) && polyline_distance_m(&footprint, c) >= CLEAR_M;
            (d >= CLEAR_M * 0.8 && !in_zone && far_from_station && in_picture(c)).then_some(c)
        })
        .expect("a no-fly zone clear of other edges");
    assert!(scene.zones.iter().any(|z| z.kind == ZoneKind::NoFly));

    let g = palette::GROUND;
    let ground = [g.red, g.green, g.blue];
    let s = colours::STATION;
    let expected_station = over_rgba([s.red, s.green, s.blue, s.alpha], ground);
    let n = palette::zone(ZoneKind::NoFly);
    let expected_no_fly = over_rgba([n.red, n.green, n.blue, n.alpha], ground);
    let ground_bytes = over_rgba([g.red, g.green, g.blue, 1.0], ground);

    // Zones and the plan only: one known colour at each probe.
    let img = render(
        &dir.join("zones.png"),
        &plan_file,
        &["--layers", "zones"],
        &view,
    );
    let (x, y) = pixel_at(&view, world(probe, 0.0));
    let c = img.get_pixel(x, y).0;
    assert!(
        close(c, expected_station),
        "station footprint at ({x},{y}) is {c:?}, expected {expected_station:?}"
    );
    let (x, y) = pixel_at(&view, world(no_fly, 0.0));
    let c = img.get_pixel(x, y).0;
    assert!(
        close(c, expected_no_fly),
        "no-fly zone at ({x},{y}) is {c:?}, expected {expected_no_fly:?} (ground {ground_bytes:?})"
    );

    // Everything on, panel included: not blank.
    let full = render(&dir.join("full.png"), &plan_file, &[], &view);
    let mut counts = std::collections::HashMap::new();
    for p in full.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let biggest = counts.values().max().copied().unwrap_or(0);
    assert!(counts.len() > 50, "only {} distinct colours", counts.len());
    assert!(
        biggest < (WIDTH * HEIGHT) as usize * 7 / 10,
        "one colour covers {biggest} of {} pixels",
        WIDTH * HEIGHT
    );
    let _ = std::fs::remove_dir_all(&dir);
}
