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
