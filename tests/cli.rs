//! The `vigie` binary end to end: help, bad config, and the demo.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_protocols::api::{Health, UnitList};

fn vigie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vigie-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_subcommand_explains_itself_with_an_example() {
    let out = vigie().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:"), "{text}");
    let subcommands: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(subcommands.len() >= 4, "{subcommands:?}");
    for sub in subcommands {
        let out = vigie().args([sub.as_str(), "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub} --help failed");
        assert!(
            text.contains("Example") || text.contains("example"),
            "`vigie {sub} --help` shows no example:\n{text}"
        );
    }
}

#[test]
fn a_bad_config_names_the_file_the_line_and_the_problem() {
    let dir = temp("badconfig");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "data_dir = \"x\"\n\n[http]\nlisten = \"not an address\"\n",
    )
    .unwrap();
    let out = vigie()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:"), "{err}");
    assert!(err.to_lowercase().contains("address"), "{err}");
    let out = vigie()
        .args(["config", "check"])
        .arg(dir.join("missing.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn a_bad_base_map_is_refused_with_the_feature_and_the_fix() {
    let dir = temp("badbase");
    let file = dir.join("base.geojson");
    std::fs::write(
        &file,
        r#"{"type": "FeatureCollection", "features": [
          {"type": "Feature", "properties": {"kind": "lava", "name": "x"},
           "geometry": {"type": "Point", "coordinates": [2.3, 48.8]}}]}"#,
    )
    .unwrap();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulations/scenarios/stade-de-france/scenario.toml"
    );
    let out = vigie()
        .args(["view", "--scenario", scenario, "--base"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("base.geojson") && err.contains("feature 0"),
        "{err}"
    );
    assert!(err.contains("water, park, street or landmark"), "{err}");
    // An event naming a missing base map says which layer and which file.
    let event = dir.join("event.toml");
    let seine = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/simulations/events/seine-opening-ceremony.toml"
    ))
    .unwrap()
    .replace("paris-centre.base.geojson", "nowhere.geojson");
    std::fs::write(&event, seine).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/simulations/events/seine.cameras.geojson"
        ),
        dir.join("seine.cameras.geojson"),
    )
    .unwrap();
    let out = vigie()
        .arg("plan")
        .arg(&event)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("layers.base") && err.contains("nowhere.geojson"),
        "{err}"
    );
}

#[test]
fn the_demo_serves_the_live_picture_and_stops_by_itself() {
    let dir = temp("demo");
    let mut child = vigie()
        .args([
            "demo",
            "--no-view",
            "--for",
            "6s",
            "--http",
            "127.0.0.1:0",
            "--quic",
            "127.0.0.1:0",
            "--mavlink",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("demo.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut http = None;
    let mut token = None;
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if let Some(addr) = line.trim().strip_prefix("http") {
            http = Some(addr.trim().to_string());
        }
        if let Some(t) = line.trim().strip_prefix("token") {
            token = Some(t.trim().to_string());
        }
        if line.starts_with("--- picture") {
            break;
        }
    }
    let http = http.unwrap_or_else(|| panic!("no http address in {seen:?}"));
    let health: Health = ureq::get(&format!("http://{http}/api/v1/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(health.status, "ok");
    let token = token.unwrap_or_else(|| panic!("no operator token in {seen:?}"));
    let refused = ureq::get(&format!("http://{http}/api/v1/units")).call();
    assert!(
        matches!(refused, Err(ureq::Error::StatusCode(401))),
        "{refused:?}"
    );
    let units: UnitList = ureq::get(&format!("http://{http}/api/v1/units"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let metrics = ureq::get(&format!("http://{http}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("vigie_units{kind=\"drone\""));
    // The rest of the output, then a clean exit on its own.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(
        rest.iter().any(|l| l.contains("demo stopped cleanly")),
        "{rest:?}"
    );
    // A task's log span stays with its task: no line of another module is
    // tagged with the MAVLink link's span (it leaked to whatever else ran
    // on the link's worker thread while the span was entered by a guard).
    let log = std::fs::read_to_string(dir.join("demo.log")).unwrap();
    let leaked: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("mavlink{") && !l.contains("vigie_ground::drone"))
        .collect();
    assert!(
        leaked.is_empty(),
        "lines in another task's span: {leaked:#?}"
    );
    // What the API answered is what the picture printed: every unit id the
    // API listed appears in the terminal picture.
    let printed = rest.join("\n");
    for u in &units.units {
        assert!(
            printed.contains(&u.id),
            "{} not in the printed picture",
            u.id
        );
    }
    // The server recorded its picture: the replay of the last recorded
    // moment holds every unit the API listed.
    let store = vigie_ground::store::Store::open(&dir.join("data")).unwrap();
    vigie_ground::timeline::persist::migrate(&store).unwrap();
    let (first, last) = store.timeline_span().unwrap().expect("a recorded timeline");
    let replay = vigie_ground::timeline::Replay::new(store.timeline_steps(first, last).unwrap());
    let replayed: Vec<String> = replay.picture_at(last).into_iter().map(|u| u.id).collect();
    for u in &units.units {
        assert!(
            replayed.contains(&u.id),
            "{} not in the replay: {replayed:?}",
            u.id
        );
    }
    // Replaying past the end says so.
    let out = vigie()
        .args(["view", "--replay"])
        .arg(dir.join("data"))
        .args(["--at", "999h", "--screenshot"])
        .arg(dir.join("never.png"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("past the end of the recording"), "{err}");
}

#[test]
fn plan_writes_the_plan_its_maps_and_report_and_the_same_seed_gives_the_same_plan() {
    let dir = temp("plan");
    let root = env!("CARGO_MANIFEST_DIR");
    let event = format!("{root}/simulations/events/stade-de-france.toml");
    let run = |out: &std::path::Path| {
        let o = vigie()
            .args(["plan", &event, "--seed", "3", "--quiet", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let stdout = run(&dir.join("a"));
    assert!(stdout.contains("drone stations"), "{stdout}");
    for f in [
        "plan.geojson",
        "summary.csv",
        "summary.md",
        "report.md",
        "before.png",
        "after.png",
        "gaps.png",
        "timeline.png",
    ] {
        let p = dir.join("a").join(f);
        assert!(
            std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing"
        );
        if f.ends_with(".png") {
            let img = image::open(&p).unwrap();
            assert!(img.width() > 100 && img.height() > 100, "{f}");
        }
    }
    let gj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("a/plan.geojson")).unwrap())
            .unwrap();
    let kinds: Vec<&str> = gj["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["properties"]["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"drone_station") && kinds.contains(&"patrol_post"),
        "{kinds:?}"
    );
    let report = std::fs::read_to_string(dir.join("a/report.md")).unwrap();
    assert!(report.contains("1 − 1/e") && report.contains("timeline.png"));
    // Every station and post row gives the position the map puts it at, so
    // S01 or P001 in the table can be found on the map.
    for f in gj["features"].as_array().unwrap() {
        let kind = f["properties"]["kind"].as_str().unwrap_or("");
        if kind != "drone_station" && kind != "patrol_post" {
            continue;
        }
        let id = f["properties"]["id"].as_str().unwrap();
        let c = &f["geometry"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let row = format!("| {id} | {lat:.6}, {lon:.6} |");
        assert!(report.contains(&row), "{row} not in report.md");
    }
    run(&dir.join("b"));
    assert_eq!(
        std::fs::read(dir.join("a/plan.geojson")).unwrap(),
        std::fs::read(dir.join("b/plan.geojson")).unwrap(),
        "same seed, same plan"
    );

    // A bad event file: the file, the line and the problem.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(&event)
        .unwrap()
        .replace("ceiling_m = 120", "ceiling_m = 300")
        .replace(
            "\"../scenarios/",
            &format!("\"{root}/simulations/scenarios/"),
        );
    std::fs::write(&bad, text).unwrap();
    let o = vigie()
        .args(["plan"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.join("c"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml:") && err.contains("ceiling_m"),
        "{err}"
    );

    // Street camera siting.
    let scenario = format!("{root}/simulations/scenarios/stade-de-france");
    let o = vigie()
        .args(["plan", "cameras", "--streets"])
        .arg(format!("{scenario}/streets.geojson"))
        .args(["--radius", "100", "--target", "0.9", "--cameras"])
        .arg(format!("{scenario}/cameras.geojson"))
        .arg("--out")
        .arg(dir.join("siting"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let gj: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("siting/new-cameras.geojson")).unwrap(),
    )
    .unwrap();
    assert!(gj["properties"]["after"].as_f64().unwrap() >= 0.9);
    assert!(!gj["features"].as_array().unwrap().is_empty());
}
