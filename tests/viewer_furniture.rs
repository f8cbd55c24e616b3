//! The map furniture, checked by pixels under Xvfb and lavapipe: the legend
//! shows the palette's status colours, the north arrow points where north
//! is for the camera's heading (and straight up in the top-down map), the
//! scale bar is as long as the view's scale says, and an accented name
//! renders with its own glyphs (not the replacement box every missing
//! glyph shares).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::render::{on_path, screenshot_and_view};

use vigie_ground::map::scale::round_length as scale;
use vigie_protocols::api::UnitStatus;
use vigie_viewer::legend::{ARROW_PX, FURNITURE, SCALE_MAX_PX, SWATCH_PX};
use vigie_viewer::palette;
use vigie_viewer::view::OrbitView;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

fn scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("simulations/scenarios/stade-de-france/scenario.toml")
}

fn skip() -> bool {
    if on_path("xvfb-run") {
        return false;
    }
    common::skip::skip(
        "viewer_furniture",
        "xvfb-run is not installed (apt-get install xvfb mesa-vulkan-drivers, or run scripts/test.sh)",
    );
    true
}

fn render(
    scenario: &Path,
    out: &Path,
    size: (u32, u32),
    extra: &[&str],
) -> (image::RgbImage, OrbitView) {
    let mut args = vec![
        "view",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--at",
        "30s",
    ];
    args.extend_from_slice(extra);
    let (img, view) = screenshot_and_view(&args, out, size, RUN_TIMEOUT);
    (img, view.parse().expect("logged view parses"))
}

macro_rules! rgb {
    ($c:expr) => {{
        let c = $c;
        [c.red, c.green, c.blue].map(|x| (x * 255.0).round() as u8)
    }};
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (*x as i32 - y as i32).abs() <= tol)
}

/// Whether a square of `side` pixels of colour `c` lies in the region.
fn has_square(img: &image::RgbImage, c: [u8; 3], side: u32, region: (u32, u32, u32, u32)) -> bool {
    let (x0, y0, x1, y1) = region;
    (y0..y1.saturating_sub(side)).any(|y| {
        (x0..x1.saturating_sub(side)).any(|x| {
            (0..side).all(|dy| (0..side).all(|dx| near(img.get_pixel(x + dx, y + dy).0, c, 2)))
        })
    })
}

/// The north arrow's white pixels as an angle, degrees clockwise from up,
/// seen from the disc's centre.
fn arrow_angle(img: &image::RgbImage) -> f32 {
    let (cx, cy) = (6.0 + ARROW_PX / 2.0, HEIGHT as f32 - 44.0 - ARROW_PX / 2.0);
    let white = rgb!(FURNITURE);
    let (mut sx, mut sy, mut n) = (0.0f32, 0.0f32, 0usize);
    for y in (cy - ARROW_PX / 2.0) as u32..(cy + ARROW_PX / 2.0) as u32 {
        for x in (cx - ARROW_PX / 2.0) as u32..(cx + ARROW_PX / 2.0) as u32 {
            if near(img.get_pixel(x, y).0, white, 40) {
                sx += x as f32 + 0.5 - cx;
                sy += y as f32 + 0.5 - cy;
                n += 1;
            }
        }
    }
    assert!(n > 20, "no north arrow drawn ({n} needle pixels)");
    sx.atan2(-sy).to_degrees().rem_euclid(360.0)
}

/// Longest run of white pixels in a row of the scale bar's area.
fn scale_bar_px(img: &image::RgbImage) -> u32 {
    let white = rgb!(FURNITURE);
    let x0 = (ARROW_PX + 12.0) as u32;
    let mut best = 0;
    for y in HEIGHT - 44 - 30..HEIGHT - 44 {
        let mut run = 0;
        for x in x0..x0 + SCALE_MAX_PX as u32 + 20 {
            if near(img.get_pixel(x, y).0, white, 8) {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
    }
    best
}

/// The scale bar is as long as the view's scale says, to 2 px.
fn assert_scale_bar_matches(img: &image::RgbImage, view: &OrbitView) {
    let (_, want) =
        scale(view.metres_per_px(view.target, HEIGHT as f32), SCALE_MAX_PX).expect("a scale");
    let got = scale_bar_px(img);
    assert!(
        (got as f32 - want.round()).abs() <= 2.0,
        "scale bar {got} px, expected {want:.0}"
    );
}

fn angle_between(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[test]
fn legend_north_arrow_and_scale_bar_say_what_the_view_shows() {
    if skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-furniture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let layers = ["--layers", "drones,patrols,hud"];

    // 3D: every status colour in the legend (left column), the arrow turned
    // against the heading, the bar as long as the scale at the centre.
    let mut args = layers.to_vec();
    args.extend(["--lang", "fr"]);
    let (img, view) = render(
        &scenario_path(),
        &dir.join("orbit.png"),
        (WIDTH, HEIGHT),
        &args,
    );
    assert!(!view.top_down);
    for s in UnitStatus::ALL {
        assert!(
            has_square(
                &img,
                rgb!(palette::status(s)),
                SWATCH_PX as u32 - 2,
                (0, 30, 300, HEIGHT / 2 + 120)
            ),
            "no {s:?} swatch in the legend"
        );
    }
    let angle = arrow_angle(&img);
    assert!(
        angle_between(angle, view.north_on_screen_deg()) < 8.0,
        "the arrow points {angle:.0} deg, north is at {:.0} deg on screen",
        view.north_on_screen_deg()
    );
    assert!(
        angle_between(angle, 0.0) > 8.0,
        "the arrow ignores the heading"
    );
    assert_scale_bar_matches(&img, &view);

    // Top-down: north is straight up; the bar still matches the scale.
    let mut args = layers.to_vec();
    args.push("--top-down");
    let (img, view) = render(
        &scenario_path(),
        &dir.join("top.png"),
        (WIDTH, HEIGHT),
        &args,
    );
    assert!(view.top_down);
    let angle = arrow_angle(&img);
    assert!(
        angle_between(angle, 0.0) < 6.0,
        "top-down arrow points {angle:.0} deg"
    );
    assert_scale_bar_matches(&img, &view);

    // Without the HUD: no legend swatches, no arrow.
    let (img, _) = render(
        &scenario_path(),
        &dir.join("bare.png"),
        (WIDTH, HEIGHT),
        &["--layers", "drones,patrols"],
    );
    assert!(!has_square(
        &img,
        rgb!(palette::status(UnitStatus::LinkLost)),
        8,
        (0, 30, 300, HEIGHT / 2)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of the example scenario named `name`.
fn named_scenario(dir: &Path, name: &str) -> PathBuf {
    let src = scenario_path();
    let from = src.parent().expect("scenario dir");
    let to = dir.join(format!(
        "s{}",
        name.len() * 31 + name.chars().map(|c| c as usize).sum::<usize>()
    ));
    std::fs::create_dir_all(&to).expect("copy dir");
    for f in std::fs::read_dir(from).expect("scenario files") {
        let f = f.expect("entry").path();
        std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
    }
    let toml = std::fs::read_to_string(&src).expect("scenario text");
    let toml = toml.replacen(
        "name = \"Stade de France, match day\"",
        &format!("name = \"{name}\""),
        1,
    );
    assert!(toml.contains(name));
    let path = to.join("scenario.toml");
    std::fs::write(&path, toml).expect("write scenario");
    path
}

#[test]
fn accented_names_render_with_their_own_glyphs() {
    if skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-glyphs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The status bar starts with the site's name; everything else is the
    // same in the three pictures. A font without these letters draws one
    // replacement box for both É and È, so the two would be equal.
    let size = (320, 180);
    let status_bar = |img: &image::RgbImage| -> Vec<[u8; 3]> {
        (0..30)
            .flat_map(|y| (0..120).map(move |x| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0)
            .collect()
    };
    let mut bars = Vec::new();
    for name in ["Champs-Elysees", "Champs-Élysées", "Champs-Èlysèes"] {
        let scenario = named_scenario(&dir, name);
        let (img, _) = render(
            &scenario,
            &dir.join("glyph.png"),
            size,
            &["--layers", "hud"],
        );
        bars.push(status_bar(&img));
    }
    let differ =
        |a: &[[u8; 3]], b: &[[u8; 3]]| a.iter().zip(b).filter(|(x, y)| !near(**x, **y, 30)).count();
    let plain_acute = differ(&bars[0], &bars[1]);
    let acute_grave = differ(&bars[1], &bars[2]);
    assert!(
        plain_acute > 4,
        "É renders as E ({plain_acute} pixels differ)"
    );
    assert!(
        acute_grave > 4,
        "É and È render alike ({acute_grave} pixels differ): a replacement box?"
    );
    // An accent is a few strokes, not a whole box: the change stays small.
    assert!(
        plain_acute < 200,
        "{plain_acute} pixels changed for two accents"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pixels of label text: bright on the label's dark backing, brighter than
/// anything else drawn near units (buildings, streets, sky).
fn text_pixels(img: &image::RgbImage, x0: i64, y0: i64, x1: i64, y1: i64) -> usize {
    let mut n = 0;
    for y in y0.max(0)..y1.min(i64::from(img.height())) {
        for x in x0.max(0)..x1.min(i64::from(img.width())) {
            if img
                .get_pixel(x as u32, y as u32)
                .0
                .iter()
                .all(|c| *c >= 225)
            {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn every_unit_and_the_stadium_are_named_on_the_map_beside_their_place() {
    if skip() {
        return;
    }
    use vigie_viewer::labels::LABEL_PX;
    use vigie_viewer::scenario::Scenario;
    use vigie_viewer::scene::place;
    use vigie_viewer::view::world;
    let dir = std::env::temp_dir().join(format!("vigie-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = Scenario::load(&scenario_path()).expect("example scenario loads");
    let picture = scenario.picture_at(Duration::from_secs(30));
    let (img, view) = render(
        &scenario_path(),
        &dir.join("labels.png"),
        (WIDTH, HEIGHT),
        &[],
    );
    // The same view without the HUD: no labels; what differs is theirs.
    let bare_layers = "buildings,map,zones,cameras,coverage,drones,patrols,incidents";
    let spec = view.to_string();
    let (bare, _) = render(
        &scenario_path(),
        &dir.join("bare.png"),
        (WIDTH, HEIGHT),
        &["--layers", bare_layers, "--view", &spec],
    );
    let near = |p: vigie_viewer::view::Vec3| {
        let px = view.world_to_pixel(p, WIDTH, HEIGHT).expect("in front");
        (px.x as i64, px.y as i64)
    };
    let h = (LABEL_PX * 1.5) as i64;
    let mut named = 0;
    for u in &picture.units {
        let Some(p) = place(&scenario.scene.frame, u) else {
            continue;
        };
        let (x, y) = near(world(p.position, p.alt_m));
        if x < 300 || x > i64::from(WIDTH) - 10 || y < 40 || y > i64::from(HEIGHT) - 60 {
            // Under the legend or at an edge: a label may rightly give way.
            continue;
        }
        // Right of the marker first (then left, above, below).
        let boxes = [
            (x + 6, y - h / 2, x + 120, y + h / 2),
            (x - 120, y - h / 2, x - 6, y + h / 2),
            (x - 60, y - h - 6, x + 60, y - 6),
            (x - 60, y + 6, x + 60, y + h + 6),
        ];
        // The trail and footprint lines are in both pictures: a label is
        // the text one picture has and the other has not.
        let gained = boxes
            .iter()
            .map(|b| {
                text_pixels(&img, b.0, b.1, b.2, b.3)
                    .saturating_sub(text_pixels(&bare, b.0, b.1, b.2, b.3))
            })
            .max()
            .unwrap_or(0);
        assert!(
            gained >= 20,
            "{} at ({x},{y}): only {gained} more text pixels with labels",
            u.id
        );
        named += 1;
    }
    assert!(named >= 3, "only {named} units were checked");
    // The stadium, a landmark of the base map, is named where it stands.
    let stadium = scenario
        .scene
        .landmarks
        .iter()
        .find(|l| l.name == "Stade de France")
        .expect("the base map names the stadium");
    let (x, y) = near(world(stadium.at, 0.0));
    let b = (x - 70, y - 3 * h, x + 70, y + 3 * h);
    assert!(
        text_pixels(&img, b.0, b.1, b.2, b.3) >= 20 && text_pixels(&bare, b.0, b.1, b.2, b.3) < 5,
        "no label at the stadium ({x},{y})"
    );
    // The attribution stands bottom right.
    let w = i64::from(WIDTH);
    let hh = i64::from(HEIGHT);
    assert!(
        text_pixels(&img, w - 320, hh - 14, w, hh) >= 20,
        "no attribution"
    );
}
