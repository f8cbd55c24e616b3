//! What a hostile network and a bad day found, kept fixed, end to end on
//! the binary: orders that could never be delivered are refused at the API,
//! dangerous settings are refused by `vigie config check` and `vigie serve`,
//! and the data directory is readable by its owner only.

mod common;

use std::process::Command;

use common::api::{call, issue, temp};
use common::server::{VIGIE, serve};

#[test]
fn orders_that_could_never_be_delivered_are_refused_and_not_stored() {
    let data = temp("undeliverable");
    let token = issue(&data, "disp", "dispatcher");
    let out = Command::new(VIGIE)
        .args(["ca", "init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(VIGIE)
        .args(["ca", "issue", "--unit", "P17", "--role", "patrol", "--out"])
        .arg(data.join("certs"))
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = serve(&data);
    let base = format!("http://{}", served.http);
    let order = |unit: &str, instructions: &str| {
        call(
            "POST",
            &format!("{base}/api/v1/patrols/{unit}/orders"),
            Some(&token),
            Some(
                &serde_json::json!({"lat_deg": 48.92, "lon_deg": 2.36, "instructions": instructions})
                    .to_string(),
            ),
        )
    };
    // Over what one control frame carries: 413, with the reason.
    let (status, body) = order("P17", &"x".repeat(70 * 1024));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("instructions"), "{body}");
    // A unit that does not exist: 404, with how to create it.
    let (status, body) = order("P99", "go");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("vigie ca issue"), "{body}");
    // Nothing was stored for either.
    for unit in ["P17", "P99"] {
        let (status, body) = call(
            "GET",
            &format!("{base}/api/v1/patrols/{unit}/orders"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200);
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            list["orders"].as_array().map(Vec::len),
            Some(0),
            "{unit}: {body}"
        );
    }
    // A real order to a real unit is taken.
    let (status, body) = order("P17", "go to the north gate");
    assert_eq!(status, 201, "{body}");
    drop(served);
    let _ = std::fs::remove_dir_all(data);
}

#[test]
fn dangerous_settings_are_refused_before_the_server_starts() {
    let dir = temp("dangerous-config");
    let cases = [
        ("[http]\nlisten = \"0.0.0.0:8080\"\n", "in clear"),
        ("[retention]\ndrone_recordings_days = 30\n", "legal maximum"),
        ("[mavlink]\nsystem_id = 0\n", "broadcast"),
        (
            "[[mavlink.links]]\nname = \"a\"\naddress = \"udpin:127.0.0.1:14550\"\nsigning_key = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
            "all zeros",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        for args in [vec!["config", "check"], vec!["serve", "--config"]] {
            let out = Command::new(VIGIE).args(&args).arg(&file).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} {text:?} must fail");
            assert!(err.contains(needle), "{args:?} {text:?}: {err}");
        }
    }
    // An override is checked too.
    let out = Command::new(VIGIE)
        .args(["serve", "--http", "0.0.0.0:0", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in clear"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Risky but allowed: a warning.
    let risky = dir.join("risky.toml");
    std::fs::write(
        &risky,
        "[[mavlink.links]]\nname = \"a\"\naddress = \"udpin:0.0.0.0:14550\"\n",
    )
    .unwrap();
    let out = Command::new(VIGIE)
        .args(["config", "check"])
        .arg(&risky)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn commands_that_read_a_deployment_refuse_a_directory_that_is_not_one() {
    let dir = temp("not-a-deployment");
    let missing = dir.join("typo");
    for args in [
        vec!["notice"],
        vec!["audit", "verify"],
        vec!["retention", "list"],
        vec!["token", "list"],
        vec!["authorisation", "list"],
    ] {
        let out = Command::new(VIGIE)
            .args(&args)
            .arg("--data-dir")
            .arg(&missing)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {err}");
        assert!(
            err.contains("no Vigie deployment") || err.contains("no database in"),
            "{args:?}: {err}"
        );
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A square privacy mask of `side_deg` around (48.9245, 2.3602).
fn mask_layer(side_deg: f64) -> String {
    let (lat, lon) = (48.9245, 2.3602);
    let c = |dl: f64, dn: f64| serde_json::json!([lon + dl, lat + dn]);
    serde_json::json!({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "window"},
        "geometry": {"type": "Polygon", "coordinates": [[
            c(0.0, 0.0), c(side_deg, 0.0), c(side_deg, side_deg), c(0.0, side_deg), c(0.0, 0.0)
        ]]}
    }]})
    .to_string()
}

fn cameras_import(data: &std::path::Path, args: &[&std::path::Path]) -> std::process::Output {
    Command::new(VIGIE)
        .args(["cameras", "import", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn exported_ids(data: &std::path::Path) -> Vec<String> {
    let out = Command::new(VIGIE)
        .args(["cameras", "export", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect()
}

fn stored_masks(data: &std::path::Path) -> Option<String> {
    let db = rusqlite::Connection::open(data.join("vigie.db")).unwrap();
    db.query_row(
        "SELECT geojson FROM coverage_layer WHERE name = 'masks'",
        [],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn a_camera_import_that_fails_late_changes_nothing_and_an_empty_file_wipes_nothing() {
    let dir = temp("camera-import");
    let data = dir.join("data");
    let header = "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m\n";
    let old = dir.join("old.csv");
    std::fs::write(
        &old,
        format!("{header}old-1,city,48.9245,2.3602,6,90,-15,90,60\n"),
    )
    .unwrap();
    let new = dir.join("new.csv");
    std::fs::write(
        &new,
        format!("{header}new-1,city,48.9246,2.3603,6,90,-15,90,60\n"),
    )
    .unwrap();
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, header).unwrap();
    let (old_masks, new_masks, no_masks) = (
        dir.join("old-masks.geojson"),
        dir.join("new-masks.geojson"),
        dir.join("no-masks.geojson"),
    );
    std::fs::write(&old_masks, mask_layer(0.0001)).unwrap();
    std::fs::write(&new_masks, mask_layer(0.0002)).unwrap();
    std::fs::write(&no_masks, r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    let masks = std::path::Path::new("--masks");

    let out = cameras_import(&data, &[&old, masks, &old_masks]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exported_ids(&data), ["old-1"]);
    assert_eq!(
        stored_masks(&data).as_deref(),
        Some(mask_layer(0.0001).as_str())
    );

    // The disk fails while the masks are written, after the cameras: as a
    // kill between the two did, this once left the new cameras live under
    // the old masks.
    let db = rusqlite::Connection::open(data.join("vigie.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_masks BEFORE UPDATE ON coverage_layer WHEN NEW.name = 'masks'
         BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;",
    )
    .unwrap();
    let out = cameras_import(&data, &[&new, masks, &new_masks]);
    assert!(!out.status.success(), "the import must fail");
    assert_eq!(exported_ids(&data), ["old-1"], "the new cameras went live");
    assert_eq!(
        stored_masks(&data).as_deref(),
        Some(mask_layer(0.0001).as_str())
    );
    db.execute_batch("DROP TRIGGER fail_masks").unwrap();
    drop(db);

    // An empty inventory or an empty mask layer replaces nothing unless
    // asked in so many words.
    let out = cameras_import(&data, &[&empty]);
    assert!(!out.status.success(), "an empty file wiped the inventory");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--replace-with-empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exported_ids(&data), ["old-1"]);
    let out = cameras_import(&data, &[&old, masks, &no_masks]);
    assert!(
        !out.status.success(),
        "an empty layer removed the privacy masks"
    );
    assert_eq!(
        stored_masks(&data).as_deref(),
        Some(mask_layer(0.0001).as_str())
    );

    let flag = std::path::Path::new("--replace-with-empty");
    let out = cameras_import(&data, &[&empty, masks, &no_masks, flag]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(exported_ids(&data).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
