//! Operator tokens and roles on the HTTP API, end to end: tokens issued with
//! `vigie token issue` on the data directory, checked by a running
//! `vigie serve` on every route, each role refused what it may not do.

mod common;

use std::process::Command;

use common::api::{call, issue, temp};
use common::server::{Served, VIGIE, serve};

#[test]
fn every_route_needs_a_token_and_each_role_is_refused_what_it_may_not_do() {
    let dir = temp("auth");
    let data = dir.join("data");
    let admin = issue(&data, "alice", "admin");
    let pilot = issue(&data, "paul", "pilot");
    let dispatcher = issue(&data, "claire", "dispatcher");
    let planner = issue(&data, "pierre", "planner");
    let auditor = issue(&data, "odile", "auditor");
    let Served {
        running: _server,
        http,
        ..
    } = serve(&data);
    let url = |p: &str| format!("http://{http}{p}");

    // Liveness and monitoring stay public.
    assert_eq!(call("GET", &url("/api/v1/health"), None, None).0, 200);
    assert_eq!(call("GET", &url("/metrics"), None, None).0, 200);

    // No token, a malformed one, an unknown one: 401 with a way out.
    let (s, body) = call("GET", &url("/api/v1/units"), None, None);
    assert_eq!(s, 401);
    assert!(body.contains("vigie token issue"), "{body}");
    let (s, _) = call("GET", &url("/api/v1/units"), Some("not-a-token"), None);
    assert_eq!(s, 401);
    let forged = format!("vgt_{}", "0".repeat(64));
    assert_eq!(
        call("GET", &url("/api/v1/units"), Some(&forged), None).0,
        401
    );

    // Every role sees the picture.
    for t in [&admin, &pilot, &dispatcher, &planner, &auditor] {
        assert_eq!(call("GET", &url("/api/v1/units"), Some(t), None).0, 200);
    }
    let (s, body) = call("GET", &url("/api/v1/whoami"), Some(&dispatcher), None);
    assert_eq!(s, 200);
    assert!(
        body.contains("\"claire\"") && body.contains("\"dispatcher\""),
        "{body}"
    );

    // Drone commands: pilots and admins only. The drone does not exist, so
    // an allowed caller gets past the policy to the handler's 404.
    let cmd = url("/api/v1/drones/drone:udp0:9/commands");
    let arm = Some(r#"{"command":"arm"}"#);
    assert_eq!(call("POST", &cmd, Some(&pilot), arm).0, 404);
    assert_eq!(call("POST", &cmd, Some(&admin), arm).0, 404);
    for (t, who) in [
        (&dispatcher, "claire"),
        (&planner, "pierre"),
        (&auditor, "odile"),
    ] {
        let (s, body) = call("POST", &cmd, Some(t), arm);
        assert_eq!(s, 403, "{who}: {body}");
        assert!(body.contains("may not command drones"), "{body}");
        assert!(body.contains("pilot or admin"), "{body}");
    }

    // Orders to patrols: dispatchers and admins; others may read them.
    let orders = url("/api/v1/patrols/P17/orders");
    let order = Some(r#"{"lat_deg":48.92,"lon_deg":2.36,"priority":"normal","instructions":"go"}"#);
    assert_ne!(call("POST", &orders, Some(&dispatcher), order).0, 403);
    for t in [&pilot, &planner, &auditor] {
        assert_eq!(call("POST", &orders, Some(t), order).0, 403);
        assert_ne!(call("GET", &orders, Some(t), None).0, 403);
    }

    // Coverage history (footage search): dispatcher, auditor, admin.
    let history = url("/api/v1/coverage/history?lat=48.92&lon=2.36&from_ms=0&to_ms=1000");
    for t in [&pilot, &planner] {
        let (s, body) = call("GET", &history, Some(t), None);
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("query coverage history"), "{body}");
    }
    for t in [&dispatcher, &auditor, &admin] {
        assert_ne!(call("GET", &history, Some(t), None).0, 403);
    }

    // Flight authorisations: everyone reads them, only admins record or end them.
    let auths = url("/api/v1/authorisations");
    for t in [&admin, &pilot, &dispatcher, &planner, &auditor] {
        assert_eq!(call("GET", &auths, Some(t), None).0, 200);
    }
    let spec = Some(
        r#"{"purpose":"gatherings","service":"DDSP 93","perimeter":[[2.35,48.91],[2.37,48.91],[2.37,48.93]],
            "from_ms":0,"to_ms":1,"max_cameras":1,"order_ref":"2026-093"}"#,
    );
    for t in [&pilot, &dispatcher, &planner, &auditor] {
        let (s, body) = call("POST", &auths, Some(t), spec);
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("manage flight authorisations"), "{body}");
        let end = url("/api/v1/authorisations/1/end");
        assert_eq!(call("POST", &end, Some(t), None).0, 403);
    }
    let (s, body) = call("POST", &auths, Some(&admin), spec);
    assert_eq!(s, 201, "{body}");
    let bad = Some(
        r#"{"purpose":"face_search","service":"x","perimeter":[],"from_ms":0,"to_ms":1,"max_cameras":1,"order_ref":"y"}"#,
    );
    assert_eq!(call("POST", &auths, Some(&admin), bad).0, 422);

    // The audit register: auditors and admins only; it holds the refusals above.
    for t in [&pilot, &dispatcher, &planner] {
        let (s, body) = call("GET", &url("/api/v1/audit"), Some(t), None);
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("read the audit register"), "{body}");
    }
    assert_eq!(
        call("GET", &url("/api/v1/audit"), Some(&admin), None).0,
        200
    );
    let (s, body) = call("GET", &url("/api/v1/audit"), Some(&auditor), None);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"action\":\"http.refused\""), "{body}");
    assert!(body.contains("\"actor\":\"anonymous\""), "{body}");
    assert!(body.contains("\"actor\":\"operator:claire\""), "{body}");
    assert!(body.contains("authorisation.add"), "{body}");

    // Tokens: admins only; a revoked token stops working at once.
    for t in [&pilot, &dispatcher, &planner, &auditor] {
        assert_eq!(call("GET", &url("/api/v1/tokens"), Some(t), None).0, 403);
    }
    let (s, body) = call(
        "POST",
        &url("/api/v1/tokens"),
        Some(&admin),
        Some(r#"{"name":"bob","role":"pilot"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let issued: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bob = issued["token"].as_str().unwrap().to_string();
    let bob_id = issued["info"]["id"].as_i64().unwrap();
    assert_eq!(call("GET", &url("/api/v1/whoami"), Some(&bob), None).0, 200);
    let (s, _) = call(
        "DELETE",
        &url(&format!("/api/v1/tokens/{bob_id}")),
        Some(&admin),
        None,
    );
    assert_eq!(s, 204);
    assert_eq!(call("GET", &url("/api/v1/whoami"), Some(&bob), None).0, 401);

    // Revoking from the shell while the server runs takes effect too.
    let out = Command::new(VIGIE)
        .args(["token", "revoke", "paul", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        call("GET", &url("/api/v1/units"), Some(&pilot), None).0,
        401
    );

    // Each operator's first request of the run is a login in the audit
    // register, once, with the role; later requests are not logins.
    let (s, body) = call("GET", &url("/api/v1/audit"), Some(&auditor), None);
    assert_eq!(s, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let logins: Vec<&serde_json::Value> = rows["rows"]
        .as_array()
        .expect("audit rows")
        .iter()
        .filter(|r| r["action"] == "operator.login")
        .collect();
    for who in ["alice", "paul", "claire", "pierre", "odile", "bob"] {
        let n = logins
            .iter()
            .filter(|r| r["actor"] == format!("operator:{who}"))
            .count();
        assert_eq!(n, 1, "{who}: {logins:?}");
    }
}

#[test]
fn the_drone_cli_needs_a_token_and_says_so() {
    let out = Command::new(VIGIE)
        .args(["drone", "list", "--server", "http://127.0.0.1:9"])
        .env_remove("VIGIE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs an operator token"), "{err}");
    assert!(err.contains("VIGIE_TOKEN"), "{err}");
}

#[test]
fn bad_roles_and_names_are_refused_by_the_cli() {
    let dir = temp("auth-cli");
    let out = Command::new(VIGIE)
        .args([
            "token",
            "issue",
            "--name",
            "x",
            "--role",
            "root",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown role") && err.contains("dispatcher"),
        "{err}"
    );
}
