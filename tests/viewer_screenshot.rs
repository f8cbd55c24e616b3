//! Renders the example scenario with `vigie view --screenshot` under Xvfb
//! and Mesa's lavapipe, and checks the picture: not blank, and the expected
//! colours where a known camera's coverage and a known drone must appear.
//!
//! Pixels are predicted with the viewer's own projection
//! (`OrbitView::world_to_pixel`) from the scenario's own geometry, so the
//! test follows the scene instead of hard-coding coordinates; preconditions
//! assert that each probed point is seen by exactly what the test claims.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::render::{bytes, close, on_path, over, screenshot_of};

use vigie_protocols::api::UnitStatus;
use vigie_viewer::coverage::contains;
use vigie_viewer::palette;
use vigie_viewer::scenario::Scenario;
use vigie_viewer::scene::{EastNorth, place};
use vigie_viewer::view::{OrbitView, Vec3, world};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
/// Scenario time of the picture.
const AT_S: u64 = 30;
/// The renderer gets this long, Xvfb start included.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

fn scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("simulations/scenarios/stade-de-france/scenario.toml")
}

/// `vigie view --scenario` at the test's time and size, with `extra` options.
fn render(out: &Path, extra: &[&str], view: &OrbitView) -> image::RgbImage {
    let scenario = scenario_path();
    let at = format!("{AT_S}s");
    let mut args = vec![
        "view",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--at",
        &at,
    ];
    args.extend_from_slice(extra);
    screenshot_of(&args, out, (WIDTH, HEIGHT), RUN_TIMEOUT, view)
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

#[test]
fn screenshot_shows_the_camera_coverage_and_the_drone_where_they_must_be() {
    if !on_path("xvfb-run") {
        common::skip::skip(
            "viewer_screenshot",
            "xvfb-run is not installed (apt-get install xvfb mesa-vulkan-drivers, or run scripts/test.sh)",
        );
        return;
    }
    let scenario = Scenario::load(&scenario_path()).expect("example scenario loads");
    let scene = &scenario.scene;
    let picture = scenario.picture_at(Duration::from_secs(AT_S));
    let placed: Vec<_> = picture
        .units
        .iter()
        .filter_map(|u| place(&scene.frame, u))
        .collect();
    let view = scene.framing(OrbitView::overview(scene.extent_m), [], WIDTH, HEIGHT);
    let dir = std::env::temp_dir().join(format!("vigie-viewer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // Every ring drawn on the ground in this render.
    let rings: Vec<(&str, &[EastNorth])> = scene
        .cameras
        .iter()
        .map(|c| (c.id.as_str(), c.coverage.as_slice()))
        .chain(
            placed
                .iter()
                .filter_map(|p| Some((p.id.as_str(), p.coverage.as_deref()?))),
        )
        .chain(
            scene
                .privacy_masks
                .iter()
                .map(|m| ("privacy", m.ring.as_slice())),
        )
        .collect();
    let seen_by = |p: EastNorth| -> Vec<&str> {
        rings
            .iter()
            .filter(|(_, r)| contains(r, p))
            .map(|(id, _)| *id)
            .collect()
    };

    // The known camera: the middle of its sector, and a point behind it.
    let camera = scene
        .cameras
        .iter()
        .find(|c| c.id == "cam-city-01")
        .expect("cam-city-01 in the scenario");
    let h = camera.heading_deg.to_radians();
    let along = |d: f64| {
        [
            camera.position[0] + d * h.sin(),
            camera.position[1] + d * h.cos(),
        ]
    };
    let inside = along(camera.range_m * 0.6);
    let behind = along(-40.0);
    assert_eq!(
        seen_by(inside),
        vec!["cam-city-01"],
        "probe sees only the camera"
    );
    assert!(
        seen_by(behind).is_empty(),
        "probe behind the camera is bare ground"
    );

    // The known drone.
    let drone = placed
        .iter()
        .find(|p| p.id == "drone:sim:2")
        .expect("drone:sim:2 in the picture");
    assert_eq!(drone.status, UnitStatus::OnScene);

    let ground = [
        palette::GROUND.red,
        palette::GROUND.green,
        palette::GROUND.blue,
    ];
    let city = palette::owner(camera.owner);
    let expected_coverage = bytes(over(
        [city.red, city.green, city.blue],
        palette::COVERAGE_ALPHA,
        ground,
    ));
    let on_scene = palette::status(UnitStatus::OnScene);
    let expected_drone = bytes([on_scene.red, on_scene.green, on_scene.blue]);

    // Only ground, coverage and drones: each probe has one known colour.
    let img = render(
        &dir.join("layers.png"),
        &["--layers", "coverage,drones"],
        &view,
    );
    let probe = |p: Vec3| {
        let (x, y) = pixel_at(&view, p);
        (x, y, img.get_pixel(x, y).0)
    };
    let (x, y, c) = probe(world(behind, 0.0));
    assert!(
        close(c, bytes(ground)),
        "ground at ({x},{y}) is {c:?}, expected {:?}",
        bytes(ground)
    );
    let (x, y, c) = probe(world(inside, 0.3));
    assert!(
        close(c, expected_coverage),
        "camera coverage at ({x},{y}) is {c:?}, expected {expected_coverage:?}"
    );
    let (x, y, c) = probe(world(drone.position, drone.alt_m));
    assert!(
        close(c, expected_drone),
        "drone at ({x},{y}) is {c:?}, expected {expected_drone:?}"
    );

    // Everything on: the picture is not blank (many colours, no single one
    // dominating) and the drone still shows where it must.
    let full = render(&dir.join("full.png"), &[], &view);
    let mut counts = std::collections::HashMap::new();
    for p in full.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let biggest = counts.values().max().copied().unwrap_or(0);
    assert!(counts.len() > 50, "only {} distinct colours", counts.len());
    assert!(
        biggest < (WIDTH * HEIGHT) as usize * 6 / 10,
        "one colour covers {biggest} of {} pixels",
        WIDTH * HEIGHT
    );
    let (x, y) = pixel_at(&view, world(drone.position, drone.alt_m));
    let c = full.get_pixel(x, y).0;
    assert!(
        close(c, expected_drone),
        "drone in the full view at ({x},{y}) is {c:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
