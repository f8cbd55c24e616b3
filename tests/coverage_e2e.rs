//! Coverage fusion end to end: a camera inventory with a privacy mask
//! imported with `vigie cameras import`, `vigie serve` on free loopback
//! ports, a `vigie sim drones` drone taking off over UDP and looking
//! straight down, and every answer checked over HTTP:
//!
//! - offline `vigie coverage who-sees --points --out` answers what the
//!   server answers for the same camera-only scene;
//! - who-sees under the hovering drone lists the drone and the camera;
//! - a point in the privacy mask lists nothing;
//! - the history of that point holds the drone with a sub-interval of the
//!   window asked.
//!
//! Real time, bounded: every wait polls with a deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::server::{Running, Served, VIGIE, serve};

use serde_json::{Value, json};

/// The site origin of the default configuration, where the drone starts.
const HOME: (f64, f64) = (48.924_459, 2.360_164);
/// Longest wait for any one thing to happen.
const DEADLINE: Duration = Duration::from_secs(90);

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(lat, lon)` of a point `east_m`, `north_m` from the home point.
fn offset(east_m: f64, north_m: f64) -> (f64, f64) {
    let lat = HOME.0 + north_m / 111_320.0;
    let lon = HOME.1 + east_m / (111_320.0 * HOME.0.to_radians().cos());
    (lat, lon)
}

fn run_ok(args: &[&str], paths: &[&Path]) -> String {
    let mut cmd = Command::new(VIGIE);
    cmd.args(args).args(paths).env("NO_COLOR", "1");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "vigie {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GET (no body) or JSON POST with a bearer token; status and parsed
/// body.
fn call(url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let result = match body {
        None => agent.get(url).header("Authorization", &auth).call(),
        Some(b) => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.to_string()),
    };
    let mut resp = result.unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ids(answer: &Value) -> Vec<String> {
    answer["sightings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` until it returns `Some`, at most [`DEADLINE`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn drones_and_cameras_answer_who_sees_masks_and_history_over_http() {
    let dir = temp("coverage-e2e");
    let data = dir.join("data");

    // A street camera 20 m west of home looking east, one far north looking
    // away, and a 4 m privacy mask that both the camera and the drone would
    // see.
    let (clat, clon) = offset(-20.0, 0.0);
    let (flat, flon) = offset(0.0, 400.0);
    let cameras = dir.join("cameras.csv");
    std::fs::write(
        &cameras,
        format!(
            "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m\n\
             city-east,city,{clat},{clon},6,90,-15,90,60\n\
             transit-north,transit,{flat},{flon},8,0,-20,60,50\n"
        ),
    )
    .unwrap();
    let corner = |e: f64, n: f64| {
        let (lat, lon) = offset(e, n);
        json!([lon, lat])
    };
    let masks = dir.join("masks.geojson");
    std::fs::write(
        &masks,
        json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"name": "window"},
            "geometry": {"type": "Polygon", "coordinates": [[
                corner(3.0, 3.0), corner(7.0, 3.0), corner(7.0, 7.0), corner(3.0, 7.0), corner(3.0, 3.0)
            ]]}
        }]})
        .to_string(),
    )
    .unwrap();
    run_ok(
        &["cameras", "import", "--data-dir"],
        &[&data, &cameras, Path::new("--masks"), &masks],
    );
    // The new masks are in the register, committed with them.
    {
        let store = vigie_ground::store::Store::open(&data).unwrap();
        let rows = vigie_ground::guardrails::audit::Audit::open(&store)
            .unwrap()
            .range(i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(
            rows.iter().filter(|r| r.action == "masks.change").count(),
            1,
            "one masks.change row"
        );
    }
    let token = run_ok(
        &[
            "token",
            "issue",
            "--name",
            "e2e",
            "--role",
            "admin",
            "--data-dir",
        ],
        &[&data],
    )
    .trim()
    .to_string();

    // Offline, on the files, a grid of points over the camera's view.
    let mut grid = Vec::new();
    for i in 0..12 {
        for j in 0..12 {
            grid.push(offset(-30.0 + 7.3 * i as f64, -40.0 + 7.1 * j as f64));
        }
    }
    grid.push(offset(5.0, 5.0));
    let points = dir.join("points.csv");
    let mut text = String::from("id,lat,lon\n");
    for (k, (lat, lon)) in grid.iter().enumerate() {
        text.push_str(&format!("p{k},{lat},{lon}\n"));
    }
    std::fs::write(&points, text).unwrap();
    let out = dir.join("seen.csv");
    run_ok(
        &["coverage", "who-sees", "--cameras"],
        &[
            &cameras,
            Path::new("--masks"),
            &masks,
            Path::new("--points"),
            &points,
            Path::new("--out"),
            &out,
        ],
    );
    let offline: Vec<(bool, Vec<String>)> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            // id,lat,lon,masked,count,best_id,best_density,best_tier,sources
            let f: Vec<&str> = line.split(',').collect();
            let sources = f[8]
                .split(';')
                .filter(|s| !s.is_empty())
                .map(|s| s.split(':').next().unwrap_or("").to_string())
                .collect();
            (f[3] == "true", sources)
        })
        .collect();
    assert_eq!(offline.len(), grid.len());
    assert!(
        offline.iter().filter(|(_, s)| !s.is_empty()).count() >= 10,
        "the camera sees part of the grid: {offline:?}"
    );

    let Served {
        running: _server,
        http,
        mavlink,
        ..
    } = serve(&data);
    let url = |p: &str| format!("http://{http}{p}");
    let t0_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    // The same scene served: the same answers, point by point.
    let body = json!({"points": grid.iter().map(|(lat, lon)| [lon, lat]).collect::<Vec<_>>()});
    let (status, served) = call(&url("/api/v1/coverage/who-sees"), &token, Some(body));
    assert_eq!(status, 200, "{served}");
    let served = served["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(served.len(), grid.len());
    for (k, (answer, (masked, sources))) in served.iter().zip(&offline).enumerate() {
        assert_eq!(answer["masked"].as_bool(), Some(*masked), "point p{k}");
        assert_eq!(&ids(answer), sources, "point p{k}");
    }

    // One drone, taking off at home and looking straight down.
    let _sim = Running(
        Command::new(VIGIE)
            .args([
                "sim",
                "drones",
                "--count",
                "1",
                "--ground",
                &mavlink,
                "--origin",
                &format!("{},{}", HOME.0, HOME.1),
                "--for",
                "150s",
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let drone = wait_for("the drone in the picture", || {
        let (_, list) = call(&url("/api/v1/drones"), &token, None);
        list["units"][0]["id"].as_str().map(str::to_string)
    });
    // The guardrails let it fly only under a flight authorisation naming it.
    let around = format!(
        "{},{};{},{};{},{};{},{}",
        HOME.0 - 0.01,
        HOME.1 - 0.01,
        HOME.0 - 0.01,
        HOME.1 + 0.01,
        HOME.0 + 0.01,
        HOME.1 + 0.01,
        HOME.0 + 0.01,
        HOME.1 - 0.01
    );
    run_ok(
        &[
            "authorisation",
            "add",
            "--purpose",
            "gatherings",
            "--service",
            "e2e",
            "--order-ref",
            "e2e",
            "--perimeter",
            &around,
            "--from",
            "0",
            "--to",
            "99999999999999",
            "--max-cameras",
            "1",
            "--drone",
            &drone,
            "--data-dir",
        ],
        &[&data],
    );
    let command = |c: Value| {
        wait_for(&format!("{c} accepted"), || {
            let (_, r) = call(
                &url(&format!("/api/v1/drones/{drone}/commands")),
                &token,
                Some(c.clone()),
            );
            (r["outcome"] == "accepted").then_some(())
        })
    };
    command(json!({"command": "set_mode", "mode": "GUIDED"}));
    command(json!({"command": "arm"}));
    command(json!({"command": "takeoff", "alt_m": 30.0}));
    command(json!({"command": "gimbal", "pitch_deg": -90.0, "yaw_deg": 0.0}));

    // Under the drone, once it is up: the drone and the street camera.
    let under = wait_for("the drone and the camera over home", || {
        let (_, list) = call(&url("/api/v1/drones"), &token, None);
        let pos = &list["units"][0]["position"];
        if pos["alt_rel_m"].as_f64()? < 20.0 {
            return None;
        }
        let (lat, lon) = (pos["lat_deg"].as_f64()?, pos["lon_deg"].as_f64()?);
        let (_, answer) = call(
            &url(&format!("/api/v1/coverage/who-sees?lat={lat}&lon={lon}")),
            &token,
            None,
        );
        let seen = ids(&answer);
        (seen.contains(&drone) && seen.contains(&"city-east".to_string()))
            .then_some((lat, lon, seen))
    });
    assert!(
        !under.2.contains(&"transit-north".to_string()),
        "{:?}",
        under.2
    );

    // In the privacy mask: nothing, though both look at it.
    let (mlat, mlon) = offset(5.0, 5.0);
    let (status, answer) = call(
        &url(&format!("/api/v1/coverage/who-sees?lat={mlat}&lon={mlon}")),
        &token,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(answer["masked"], true, "{answer}");
    assert!(ids(&answer).is_empty(), "{answer}");

    // History of the point under the drone: the drone, from some time after
    // the window opened (it took off after the server started).
    let from_ms = t0_ms - 60_000;
    let (lat, lon) = (under.0, under.1);
    let history = wait_for("the drone in the point's history", || {
        let to_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis() as i64;
        let (_, h) = call(
            &url(&format!(
                "/api/v1/coverage/history?lat={lat}&lon={lon}&from_ms={from_ms}&to_ms={to_ms}&reason=e2e"
            )),
            &token,
            None,
        );
        let source = h["sources"]
            .as_array()?
            .iter()
            .find(|s| s["id"] == drone.as_str())?
            .clone();
        Some((source, to_ms))
    });
    let (source, to_ms) = history;
    let intervals = source["intervals"].as_array().cloned().unwrap_or_default();
    assert!(!intervals.is_empty(), "{source}");
    let first = intervals[0][0].as_i64().unwrap();
    let last = intervals[intervals.len() - 1][1].as_i64().unwrap();
    assert!(
        first > from_ms,
        "covered from {first}, window from {from_ms}"
    );
    assert!(
        first >= t0_ms,
        "not before the drone flew: {first} < {t0_ms}"
    );
    assert!(first <= last && last <= to_ms, "{source}");
    assert!(source["total_ms"].as_i64().unwrap() > 0, "{source}");
    // Masked points have no history either.
    let (_, h) = call(
        &url(&format!(
            "/api/v1/coverage/history?lat={mlat}&lon={mlon}&from_ms={from_ms}&to_ms={to_ms}&reason=e2e"
        )),
        &token,
        None,
    );
    assert_eq!(h["sources"].as_array().map(Vec::len), Some(0), "{h}");
}

/// Who sees a point, from the data directory (`--json`): the source ids.
fn seen_by(data: &Path, lat: f64, lon: f64) -> Vec<String> {
    let out = run_ok(
        &[
            "coverage",
            "who-sees",
            "--json",
            "--at",
            &format!("{lat},{lon}"),
            "--data-dir",
        ],
        &[data],
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let list = v["sightings"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn far_from_paris_offline_commands_measure_in_the_data_s_own_frame() {
    // Oslo, 60° N: a frame centred on Paris would stretch east-west
    // distances by cos 48.9° / cos 59.9° = 1.32.
    let dir = temp("oslo");
    let data = dir.join("data");
    let (lat, lon): (f64, f64) = (59.913_9, 10.752_2);
    let east = |m: f64| lon + m / (111_320.0 * lat.to_radians().cos());
    let cameras = dir.join("oslo.csv");
    std::fs::write(
        &cameras,
        format!(
            "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m\n\
             osl-1,city,{lat},{lon},6,90,-10,90,150\n"
        ),
    )
    .unwrap();
    let out = Command::new(VIGIE)
        .args(["cameras", "import", "--data-dir"])
        .arg(&data)
        .arg(&cameras)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("frame"),
        "the import says which local frame it used: {stderr}"
    );
    // 140 m east, inside the 150 m range: seen; 160 m: not.
    assert_eq!(seen_by(&data, lat, east(140.0)), vec!["osl-1".to_string()]);
    assert!(seen_by(&data, lat, east(160.0)).is_empty());
    // A configuration without [site] is flagged by `vigie config check`.
    let config = dir.join("vigie.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let check = Command::new(VIGIE)
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("[site]"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
