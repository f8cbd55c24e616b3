//! The live view over QUIC shows what the ground itself knows: a ground
//! server with one fixed camera and one privacy mask in its inventory, and
//! `vigie view --live quic://... --screenshot` under Xvfb and lavapipe with
//! no scenario at all. The camera's coverage (the ground's own
//! line-of-sight polygon) and the blacked-out mask must appear where they
//! are, predicted with the viewer's own projection.

mod common;

use std::path::Path;
use std::time::Duration;

use common::render::{bytes, close, on_path, over, run_screenshot, screenshot_and_view};

use vigie_ground::config::Config;
use vigie_ground::coverage::{camera::Optics, history, inventory};
use vigie_ground::frame::LocalFrame;
use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_viewer::palette;
use vigie_viewer::scene::OwnerNetwork;
use vigie_viewer::view::{OrbitView, world};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
/// Half side of the live view's ground (`vigie view` without a scenario).
const EXTENT_M: f64 = 1000.0;
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// Site origin (Stade de France).
const ORIGIN: (f64, f64) = (48.924459, 2.360164);

/// A palette colour's sRGB channels.
macro_rules! rgb {
    ($c:expr) => {{
        let c = $c;
        [c.red, c.green, c.blue]
    }};
}

/// Stores one camera looking north from the origin and a mask 200 m east,
/// as `vigie cameras import` would.
fn inventory(dir: &Path, frame: &LocalFrame) {
    let store = vigie_ground::store::Store::open(dir).expect("store");
    history::migrate(&store).expect("migrate");
    let (lat0, lon0) = ORIGIN;
    let csv = format!(
        "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m\n\
         cam:city:1,transit,{lat0},{lon0},10,0,-10,70,220\n"
    );
    let imp = inventory::parse_csv(&csv, &Optics::default()).expect("inventory");
    let stored = history::with_coverage(&imp.cameras, frame, None, &Optics::default());
    assert!(stored[0].1.is_some(), "the camera sees the ground");
    history::save_inventory(&store, 1, &stored).expect("save inventory");
    let (s, w) = frame.to_wgs84(150.0, -100.0);
    let (n, e) = frame.to_wgs84(350.0, 100.0);
    let mask = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[[{w},{s}],[{e},{s}],[{e},{n}],[{w},{n}],[{w},{s}]]]}}}}]}}"#,
        s = s,
        w = w,
        n = n,
        e = e
    );
    history::save_layer(&store, "masks", &mask, 1).expect("save masks");
}

#[test]
fn the_live_view_draws_the_grounds_camera_coverage_and_masks() {
    if !on_path("xvfb-run") {
        common::skip::skip(
            "viewer_live",
            "xvfb-run is not installed (apt-get install xvfb mesa-vulkan-drivers, or run scripts/test.sh)",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-viewer-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let frame = LocalFrame::new(ORIGIN.0, ORIGIN.1);
    inventory(&dir, &frame);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = Config::loopback(dir.clone());
    config.site.origin_lat_deg = ORIGIN.0;
    config.site.origin_lon_deg = ORIGIN.1;
    let server = rt
        .block_on(vigie_ground::server::Server::start(config))
        .expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    let ca = DeploymentCa::open(&dir).expect("ca");
    let cert = ca
        .issue(
            "OPS1",
            Role::Operator,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&server.state().store),
        )
        .expect("operator certificate");
    let certs = dir.join("view-certs");
    vigie_ground::patrol::ca::write_unit_files(&certs, "OPS1", &cert, ca.cert_pem())
        .expect("credentials written");

    let out = dir.join("live.png");
    let live = format!("quic://{quic}");
    let origin = format!("{},{}", ORIGIN.0, ORIGIN.1);
    let args: Vec<std::ffi::OsString> = vec![
        "view".into(),
        "--live".into(),
        live.into(),
        "--certs".into(),
        certs.clone().into_os_string(),
        "--unit".into(),
        "OPS1".into(),
        "--origin".into(),
        origin.into(),
        "--layers".into(),
        "coverage".into(),
    ];
    let (img, logged) = screenshot_and_view(&args, &out, (WIDTH, HEIGHT), RUN_TIMEOUT);
    rt.block_on(server.stop()).expect("server stops");

    // The live view started with nothing to frame and framed the ground's
    // site once it arrived: no longer the empty overview.
    let view: OrbitView = logged.parse().expect("the logged view parses");
    assert_ne!(
        view,
        OrbitView::overview(EXTENT_M),
        "the live view was not framed"
    );
    let probe = |east: f64, north: f64, up: f64| {
        let px = view
            .world_to_pixel(world([east, north], up), WIDTH, HEIGHT)
            .expect("in front of the camera");
        let (x, y) = (px.x as u32, px.y as u32);
        (x, y, img.get_pixel(x, y).0)
    };
    let ground = rgb!(palette::GROUND);
    let transit = over(
        rgb!(palette::owner(OwnerNetwork::Transit)),
        palette::COVERAGE_ALPHA,
        ground,
    );
    // In the camera's sector (north of it), behind it (bare ground), and in
    // the mask (black, whatever is under it).
    for (what, (e, n, up), want) in [
        ("camera coverage", (0.0, 120.0, 0.3), bytes(transit)),
        (
            "bare ground behind the camera",
            (0.0, -150.0, 0.0),
            bytes(ground),
        ),
        (
            "privacy mask",
            (250.0, 0.0, 0.6),
            bytes(rgb!(palette::PRIVACY)),
        ),
    ] {
        let (x, y, c) = probe(e, n, up);
        assert!(
            close(c, want),
            "{what} at ({x},{y}) is {c:?}, expected {want:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A screenshot of a live view that never got a picture used to save the
/// empty scene and exit 0: a script could not tell "all quiet" from "the
/// server was never reached". It now fails with the source's own reason
/// and writes no file.
#[test]
fn a_screenshot_of_a_view_that_never_connected_fails_with_the_reason() {
    if !on_path("xvfb-run") {
        common::skip::skip(
            "viewer_live",
            "xvfb-run is not installed (apt-get install xvfb mesa-vulkan-drivers, or run scripts/test.sh)",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-viewer-nolive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = dir.join("never.png");
    let live = format!("http://127.0.0.1:{port}");
    let origin = format!("{},{}", ORIGIN.0, ORIGIN.1);
    let args = ["view", "--live", &live, "--origin", &origin];
    let (status, stderr) = run_screenshot(&args, &out, (WIDTH, HEIGHT), RUN_TIMEOUT);
    assert!(
        !status.success(),
        "a view with no picture must fail:\n{stderr}"
    );
    assert!(
        stderr.contains("screenshot failed: no picture to capture"),
        "the exit message gives the reason:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "cannot fetch http://127.0.0.1:{port}/api/v1/units"
        )),
        "the source's reason is quoted:\n{stderr}"
    );
    assert!(!out.exists(), "nothing saved");
    let _ = std::fs::remove_dir_all(&dir);
}
