//! Guardrails end to end, through the `vigie` binary: the audit register
//! detects an edited, removed or reordered row; a go-to outside the
//! authorised perimeter is refused, explained and recorded; an authorisation
//! that expires recalls its flying drone (a simulated ArduCopter over real
//! MAVLink); footage queries need a reason; legal holds, the deletion
//! register and the recordings index over HTTP, each with its roles; tablet
//! and console sessions, refusals and picture subscriptions over QUIC in the
//! register.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Running, Served, VIGIE, serve};

use serde_json::Value;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-guard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `vigie ARGS --data-dir DATA`; returns (success, stdout, stderr).
fn vigie(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(VIGIE)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("USER", "tester")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn issue(data: &Path, name: &str, role: &str) -> String {
    let (ok, out, err) = vigie(data, &["token", "issue", "--name", name, "--role", role]);
    assert!(ok, "{err}");
    out.trim().to_string()
}

fn call(method: &str, url: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let result = match method {
        "GET" => agent.get(url).header("Authorization", &auth).call(),
        _ => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or("{}")),
    };
    let mut resp = result.unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn sql(data: &Path, q: &str) {
    let c = rusqlite::Connection::open(data.join("vigie.db")).unwrap();
    c.execute_batch(q).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn editing_removing_or_reordering_one_audit_row_makes_verify_fail_and_name_it() {
    let dir = temp("verify");
    let data = dir.join("data");
    // Five recorded actions: three tokens, an authorisation, a revocation.
    for (name, role) in [("alice", "admin"), ("paul", "pilot"), ("odile", "auditor")] {
        issue(&data, name, role);
    }
    let (ok, _, err) = vigie(
        &data,
        &[
            "authorisation",
            "add",
            "--purpose",
            "gatherings",
            "--service",
            "DDSP 93",
            "--order-ref",
            "2026-07-14-093",
            "--perimeter",
            "48.915,2.355;48.915,2.365;48.925,2.365;48.925,2.355",
            "--from",
            "2026-07-14T12:00:00Z",
            "--to",
            "2026-07-14T23:00:00Z",
            "--max-cameras",
            "2",
            "--drone",
            "drone:udp0:1",
        ],
    );
    assert!(ok, "{err}");
    assert!(vigie(&data, &["token", "revoke", "paul"]).0);
    let (ok, out, err) = vigie(&data, &["audit", "verify"]);
    assert!(ok, "{err}");
    assert!(out.contains("intact: 5 rows"), "{out}");

    let tampered = |name: &str, q: &str| {
        let copy = dir.join(name);
        copy_dir(&data, &copy);
        sql(&copy, q);
        let (ok, _, err) = vigie(&copy, &["audit", "verify"]);
        assert!(!ok, "{name}: verify passed on a tampered register");
        err
    };
    let err = tampered(
        "edited",
        "UPDATE audit_log SET actor = 'local:nobody' WHERE seq = 2",
    );
    assert!(
        err.contains("TAMPERED at seq 2") && err.contains("edited"),
        "{err}"
    );
    let err = tampered("removed", "DELETE FROM audit_log WHERE seq = 3");
    assert!(
        err.contains("TAMPERED at seq 3") && err.contains("removed"),
        "{err}"
    );
    let err = tampered(
        "reordered",
        "UPDATE audit_log SET seq = 100 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = 100;",
    );
    assert!(err.contains("TAMPERED at seq 2"), "{err}");
    let err = tampered("truncated", "DELETE FROM audit_log WHERE seq = 5");
    assert!(
        err.contains("TAMPERED at seq 5") && err.contains("removed"),
        "{err}"
    );

    // The export carries every row with its chain, for an inspector.
    let out_file = dir.join("register.csv");
    let (ok, _, err) = vigie(
        &data,
        &[
            "audit",
            "export",
            "--from",
            "0",
            "--to",
            "9999999999999",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "{csv}");
    assert!(csv.contains("local:tester,token.issue"), "{csv}");
    assert!(csv.contains("authorisation.add"), "{csv}");
    // ... and is itself recorded.
    assert!(vigie(&data, &["audit", "verify"]).1.contains("6 rows"));
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_goto_outside_the_perimeter_is_refused_and_an_expired_authorisation_recalls_the_drone() {
    let dir = temp("flight");
    let data = dir.join("data");
    let pilot = issue(&data, "paul", "pilot");
    let auditor = issue(&data, "odile", "auditor");
    let dispatcher = issue(&data, "claire", "dispatcher");
    let Served {
        running: _server,
        http,
        mavlink,
        ..
    } = serve(&data);
    let url = |p: &str| format!("http://{http}{p}");
    let sim = Running(
        Command::new(VIGIE)
            .args([
                "sim", "drones", "--count", "1", "--ground", &mavlink, "--for", "120s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let drone = "drone:udp0:1";
    let commands = url(&format!("/api/v1/drones/{drone}/commands"));
    let send = |body: &str| -> Value {
        let (s, text) = call("POST", &commands, &pilot, Some(body));
        assert_eq!(s, 200, "{text}");
        json(&text)
    };
    wait_for(
        Duration::from_secs(30),
        "the simulated drone in the picture",
        || {
            let (_, body) = call("GET", &url("/api/v1/drones"), &pilot, None);
            body.contains(drone).then_some(())
        },
    );

    // No authorisation yet: nothing that flies is allowed.
    let r = send(r#"{"command":"arm"}"#);
    assert_eq!(r["outcome"], "refused", "{r}");
    assert!(
        r["detail"].as_str().unwrap().contains("not assigned"),
        "{r}"
    );

    // An authorisation around the stadium, in force now, ending in 25 s.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let spec = serde_json::json!({
        "purpose": "gatherings",
        "service": "DDSP 93",
        "contact": "ddsp93@interieur.gouv.fr",
        "perimeter": [[2.350, 48.918], [2.370, 48.918], [2.370, 48.930], [2.350, 48.930]],
        "from_ms": now - 60_000,
        "to_ms": now + 25_000,
        "max_cameras": 1,
        "order_ref": "2026-07-14-093",
        "drones": [drone],
    });
    let admin = issue(&data, "alice", "admin");
    let (s, body) = call(
        "POST",
        &url("/api/v1/authorisations"),
        &admin,
        Some(&spec.to_string()),
    );
    assert_eq!(s, 201, "{body}");
    let auth_id = json(&body)["id"].as_i64().unwrap();

    // Its perimeter goes to the drone as a geofence.
    wait_for(
        Duration::from_secs(20),
        "the perimeter fence upload",
        || {
            let (_, body) = call("GET", &url("/api/v1/guardrails/events"), &pilot, None);
            body.contains("uploaded to drone:udp0:1 as a geofence")
                .then_some(())
        },
    );

    // A go-to 2 km north, outside: refused with the reason, not sent.
    let r = send(r#"{"command":"goto","lat_deg":48.945,"lon_deg":2.36,"alt_m":30}"#);
    assert_eq!(r["outcome"], "refused", "{r}");
    assert_eq!(r["attempts"], 0, "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("outside the perimeter of authorisation")
            && detail.contains("2026-07-14-093"),
        "{detail}"
    );
    // ... and recorded, with who asked.
    let (s, body) = call("GET", &url("/api/v1/audit"), &auditor, None);
    assert_eq!(s, 200, "{body}");
    let rows = json(&body)["rows"].as_array().unwrap().clone();
    let refusal = rows
        .iter()
        .find(|r| {
            r["action"] == "drone.command.refused"
                && r["detail"].as_str().unwrap().contains("48.945")
        })
        .unwrap_or_else(|| panic!("refusal not in the register: {body}"));
    assert_eq!(refusal["actor"], "operator:paul");
    assert_eq!(refusal["target"], drone);
    // The dispatcher may not read the register.
    assert_eq!(call("GET", &url("/api/v1/audit"), &dispatcher, None).0, 403);

    // Fly: GUIDED, arm (the sim needs a GPS fix first), take off.
    send(r#"{"command":"set_mode","mode":"GUIDED"}"#);
    wait_for(Duration::from_secs(20), "arming", || {
        (send(r#"{"command":"arm"}"#)["outcome"] == "accepted").then_some(())
    });
    let r = send(r#"{"command":"takeoff","alt_m":20}"#);
    assert_eq!(r["outcome"], "accepted", "{r}");
    let r = send(r#"{"command":"goto","lat_deg":48.9250,"lon_deg":2.3605,"alt_m":20}"#);
    assert_ne!(
        r["outcome"], "refused",
        "a go-to inside is not refused: {r}"
    );

    // The authorisation expires: the drone is sent home and operators warned.
    let mode = wait_for(Duration::from_secs(45), "the recall at expiry", || {
        let (_, body) = call("GET", &url(&format!("/api/v1/units/{drone}")), &pilot, None);
        let unit = json(&body);
        let mode = unit["drone"]["mode"].as_str().unwrap_or("").to_string();
        (mode == "RTL" || mode == "LAND").then_some(mode)
    });
    assert!(mode == "RTL" || mode == "LAND");
    let (_, body) = call("GET", &url("/api/v1/guardrails/events"), &pilot, None);
    assert!(
        body.contains(&format!("authorisation {auth_id} (2026-07-14-093) expired"))
            && body.contains("drone:udp0:1 sent home"),
        "{body}"
    );
    let (_, body) = call("GET", &url("/api/v1/audit"), &auditor, None);
    assert!(
        body.contains("\"actor\":\"system\"") && body.contains("\\\"command\\\":\\\"rtl\\\""),
        "{body}"
    );

    // After expiry, nothing but safety commands.
    let r = send(r#"{"command":"goto","lat_deg":48.9245,"lon_deg":2.3602,"alt_m":20}"#);
    assert_eq!(r["outcome"], "refused", "{r}");
    assert!(r["detail"].as_str().unwrap().contains("ended at"), "{r}");
    assert_ne!(send(r#"{"command":"land"}"#)["outcome"], "refused");

    // Footage queries need a reason, which is recorded.
    let history = url("/api/v1/coverage/history?lat=48.9245&lon=2.3602&from_ms=0&to_ms=1000");
    let (s, body) = call("GET", &history, &dispatcher, None);
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("needs a reason"), "{body}");
    let (s, body) = call(
        "GET",
        &format!("{history}&reason=incident%2042"),
        &dispatcher,
        None,
    );
    assert_eq!(s, 200, "{body}");
    let (_, body) = call("GET", &url("/api/v1/audit"), &auditor, None);
    assert!(
        body.contains("\"reason\":\"incident 42\"") && body.contains("operator:claire"),
        "{body}"
    );
    drop(sim);

    // The register of this whole run verifies, once the server stopped.
    drop(_server);
    let (ok, out, err) = vigie(&data, &["audit", "verify"]);
    assert!(ok, "{out}{err}");
}

#[test]
fn the_notice_is_written_from_the_authorisations_in_force() {
    let dir = temp("notice");
    let data = dir.join("data");
    let (ok, _, err) = vigie(
        &data,
        &[
            "authorisation",
            "add",
            "--purpose",
            "terrorism",
            "--service",
            "DDSP 93",
            "--contact",
            "ddsp93@interieur.gouv.fr",
            "--order-ref",
            "2099-001",
            "--perimeter",
            "48.915,2.355;48.915,2.365;48.925,2.365",
            "--from",
            "2099-07-14T12:00:00Z",
            "--to",
            "2099-07-14T23:00:00Z",
            "--max-cameras",
            "1",
        ],
    );
    assert!(ok, "{err}");
    let out = dir.join("public");
    let (ok, _, err) = vigie(&data, &["notice", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let md = std::fs::read_to_string(out.join("notice.md")).unwrap();
    assert!(
        md.contains("2099-001") && md.contains("actes de terrorisme"),
        "{md}"
    );
    assert!(
        md.contains("ddsp93@interieur.gouv.fr") && md.contains("7 jours"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("notice.html")).unwrap();
    assert!(
        html.contains("<h2>Autorisation n° 1 — arrêté préfectoral n° 2099-001</h2>"),
        "{html}"
    );
    // Fit to publish: a styled page with a map of the perimeter, times in
    // words in Paris time, no raw UTC timestamps.
    assert!(html.contains("<style>") && html.contains("<svg"), "{html}");
    assert!(!md.contains("T00:00:00") && !md.contains(".000Z"), "{md}");
    assert!(md.contains(" à ") && md.contains(" h "), "{md}");
    // Bad purposes are refused with the legal list.
    let (ok, _, err) = vigie(
        &data,
        &[
            "authorisation",
            "add",
            "--purpose",
            "crowd_scoring",
            "--service",
            "x",
            "--order-ref",
            "y",
            "--perimeter",
            "48.915,2.355;48.915,2.365;48.925,2.365",
            "--from",
            "0",
            "--to",
            "1",
            "--max-cameras",
            "1",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("CSI L242-5") && err.contains("gatherings"),
        "{err}"
    );
}

/// Rows of the register with this action, as JSON.
fn audit_rows(base: &str, auditor: &str, action: &str) -> Vec<Value> {
    let (s, body) = call("GET", &format!("{base}/api/v1/audit"), auditor, None);
    assert_eq!(s, 200, "{body}");
    json(&body)["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn holds_deletions_and_recordings_over_http_each_with_its_roles_and_recorded() {
    let dir = temp("holds");
    let data = dir.join("data");
    let admin = issue(&data, "odile", "admin");
    let auditor = issue(&data, "ines", "auditor");
    let dispatcher = issue(&data, "claire", "dispatcher");
    let recorder = issue(&data, "vms", "recorder");
    let Served {
        running: _server,
        http,
        ..
    } = serve(&data);
    let url = |p: &str| format!("http://{http}{p}");

    // The limits in force, for any operator.
    let (s, body) = call("GET", &url("/api/v1/retention"), &dispatcher, None);
    assert_eq!(s, 200, "{body}");
    let limits = json(&body);
    assert_eq!(limits["drone_recordings_days"], 7);
    assert_eq!(limits["fixed_video_days"], 30);

    // A recorder indexes a fixed camera's segment; it may not search.
    let now = 1_800_000_000_000_i64;
    let segment = format!(
        r#"{{"source_kind":"fixed_camera","source_id":"cam-12","start_ms":{},"end_ms":{},
            "footprint":[{{"lat_deg":48.9240,"lon_deg":2.3595}},{{"lat_deg":48.9240,"lon_deg":2.3607}},
                         {{"lat_deg":48.9250,"lon_deg":2.3607}},{{"lat_deg":48.9250,"lon_deg":2.3595}}],
            "uri":"s3://vms/cam-12/seg-1.mp4"}}"#,
        now,
        now + 60_000
    );
    let (s, body) = call(
        "POST",
        &url("/api/v1/recordings"),
        &recorder,
        Some(&segment),
    );
    assert_eq!(s, 201, "{body}");
    let id = json(&body)["id"].as_i64().unwrap();
    let (s, _) = call(
        "POST",
        &url("/api/v1/recordings"),
        &dispatcher,
        Some(&segment),
    );
    assert_eq!(s, 403, "a dispatcher does not index recordings");
    let drone = segment.replace("fixed_camera", "drone");
    let (s, body) = call("POST", &url("/api/v1/recordings"), &recorder, Some(&drone));
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("authorisation"), "{body}");
    let search = url(&format!(
        "/api/v1/recordings?lat=48.9245&lon=2.3601&from={}&to={}",
        now,
        now + 1000
    ));
    let (s, _) = call("GET", &search, &recorder, None);
    assert_eq!(s, 403, "a recorder does not search");

    // Searching needs a reason, which is recorded.
    let (s, body) = call("GET", &search, &dispatcher, None);
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("needs a reason"), "{body}");
    let (s, body) = call(
        "GET",
        &format!("{search}&reason=incident%207"),
        &dispatcher,
        None,
    );
    assert_eq!(s, 200, "{body}");
    let found = json(&body);
    assert_eq!(found["recordings"][0]["id"], id, "{body}");
    assert_eq!(found["recordings"][0]["uri"], "s3://vms/cam-12/seg-1.mp4");
    let searches = audit_rows(&url(""), &auditor, "recordings.search");
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0]["reason"], "incident 7");
    assert_eq!(searches[0]["actor"], "operator:claire");

    // Holds: admins place and lift them; auditors read; others may not.
    let item = format!("recording:{id}");
    let hold = format!(r#"{{"item":"{item}","reason":"seized","reference":"PV 2026/1234"}}"#);
    let (s, _) = call(
        "POST",
        &url("/api/v1/retention/holds"),
        &auditor,
        Some(&hold),
    );
    assert_eq!(s, 403, "auditors change nothing");
    let (s, _) = call(
        "POST",
        &url("/api/v1/retention/holds"),
        &dispatcher,
        Some(&hold),
    );
    assert_eq!(s, 403);
    let no_ref = format!(r#"{{"item":"{item}","reason":"seized","reference":" "}}"#);
    let (s, body) = call(
        "POST",
        &url("/api/v1/retention/holds"),
        &admin,
        Some(&no_ref),
    );
    assert_eq!(s, 400, "{body}");
    let (s, body) = call("POST", &url("/api/v1/retention/holds"), &admin, Some(&hold));
    assert_eq!(s, 201, "{body}");
    let (s, body) = call("GET", &url("/api/v1/retention/holds"), &auditor, None);
    assert_eq!(s, 200, "{body}");
    let holds = json(&body);
    assert_eq!(holds["holds"][0]["item"], item.as_str());
    assert_eq!(holds["holds"][0]["reference"], "PV 2026/1234");
    assert_eq!(holds["holds"][0]["held_by"], "operator:odile");
    let (s, _) = call("GET", &url("/api/v1/retention/holds"), &dispatcher, None);
    assert_eq!(s, 403, "holds name proceedings: auditors and admins only");
    let (_, body) = call(
        "GET",
        &format!("{search}&reason=incident%207"),
        &dispatcher,
        None,
    );
    assert_eq!(json(&body)["recordings"][0]["held"], true);
    let release = url(&format!("/api/v1/retention/holds/{item}/release"));
    let (s, _) = call(
        "POST",
        &release,
        &auditor,
        Some(r#"{"reason":"case closed"}"#),
    );
    assert_eq!(s, 403);
    let (s, body) = call(
        "POST",
        &release,
        &admin,
        Some(r#"{"reason":"case closed"}"#),
    );
    assert_eq!(s, 204, "{body}");
    let (s, _) = call("POST", &release, &admin, Some(r#"{"reason":"again"}"#));
    assert_eq!(s, 404, "no hold left");
    let placed = audit_rows(&url(""), &auditor, "retention.hold");
    assert_eq!(placed[0]["target"], item.as_str());
    assert_eq!(placed[0]["reason"], "seized");
    assert!(
        placed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("PV 2026/1234")
    );
    let lifted = audit_rows(&url(""), &auditor, "retention.release");
    assert_eq!(lifted[0]["reason"], "case closed");

    // The deletion register: auditors read it (empty: nothing is past its
    // limit); dispatchers may not.
    let (s, body) = call("GET", &url("/api/v1/retention/deletions"), &auditor, None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["deletions"], serde_json::json!([]));
    let (s, _) = call(
        "GET",
        &url("/api/v1/retention/deletions"),
        &dispatcher,
        None,
    );
    assert_eq!(s, 403);
}

#[test]
fn tablet_and_console_sessions_refusals_and_picture_subscriptions_are_recorded() {
    let dir = temp("quic");
    let data = dir.join("data");
    let certs = dir.join("certs");
    let d = data.to_str().unwrap();
    let c = certs.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(VIGIE).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["ca", "init", "--data-dir", d]);
    for (unit, role) in [("OPS1", "operator"), ("P1", "patrol")] {
        run(&[
            "ca",
            "issue",
            "--data-dir",
            d,
            "--unit",
            unit,
            "--role",
            role,
            "--out",
            c,
        ]);
    }
    // A certificate from another deployment's CA.
    let other = dir.join("other");
    let o = other.to_str().unwrap();
    let other_certs = dir.join("other-certs");
    run(&["ca", "init", "--data-dir", o]);
    run(&[
        "ca",
        "issue",
        "--data-dir",
        o,
        "--unit",
        "X9",
        "--role",
        "patrol",
        "--out",
        other_certs.to_str().unwrap(),
    ]);
    let auditor = issue(&data, "ines", "auditor");
    let Served {
        running: server,
        http,
        quic,
        ..
    } = serve(&data);
    let quic: std::net::SocketAddr = quic.parse().unwrap();
    let base = format!("http://{http}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    use vigie_ground::operator::client::{follow_picture, load_client_config};
    let follow = |dir: &Path, unit: &str| {
        let config = load_client_config(dir, unit).unwrap();
        runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                follow_picture(quic, config, Duration::from_millis(100), |_| false),
            )
            .await
            .expect("the session ended within 20 s")
        })
    };
    // An operator console follows the picture: its session and its viewing
    // are recorded.
    follow(&certs, "OPS1").expect("the operator follows the picture");
    // A patrol asks for the picture: refused with the reason, recorded.
    let refused = follow(&certs, "P1").unwrap_err().to_string();
    assert!(
        refused.contains("may not follow the live picture"),
        "{refused}"
    );
    // A certificate of another CA is refused at the handshake.
    assert!(follow(&other_certs, "X9").is_err());

    wait_for(Duration::from_secs(10), "session ends recorded", || {
        let ends = audit_rows(&base, &auditor, "patrol.session.end");
        let refusals = audit_rows(&base, &auditor, "patrol.refused");
        (ends.len() >= 2 && refusals.len() >= 2).then_some(())
    });
    let starts = audit_rows(&base, &auditor, "patrol.session.start");
    let ops = starts
        .iter()
        .find(|r| r["actor"] == "unit:OPS1")
        .expect("OPS1 session");
    let detail = json(ops["detail"].as_str().unwrap());
    assert_eq!(detail["role"], "operator");
    assert_eq!(detail["handshake"], "full");
    assert_eq!(detail["fingerprint_sha256"].as_str().unwrap().len(), 64);
    assert!(detail["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(!detail["serial"].as_str().unwrap().is_empty());
    let pictures = audit_rows(&base, &auditor, "picture.subscribe");
    assert_eq!(pictures.len(), 1, "{pictures:?}");
    assert_eq!(pictures[0]["actor"], "unit:OPS1");
    let refusals = audit_rows(&base, &auditor, "patrol.refused");
    let by_role = refusals
        .iter()
        .find(|r| r["actor"] == "unit:P1")
        .expect("P1 refused");
    let detail = json(by_role["detail"].as_str().unwrap());
    assert_eq!(detail["action"], "picture");
    assert_eq!(detail["stage"], "session");
    let handshake = refusals
        .iter()
        .find(|r| r["actor"] == "anonymous")
        .expect("handshake refusal");
    let detail = json(handshake["detail"].as_str().unwrap());
    assert_eq!(detail["stage"], "handshake");
    assert!(
        handshake["target"]
            .as_str()
            .unwrap()
            .starts_with("remote:127.0.0.1"),
        "refusals are counted per remote IP and minute"
    );
    assert!(
        json(handshake["detail"].as_str().unwrap())["count"]
            .as_u64()
            .unwrap()
            >= 1
    );

    drop(server);
    let (ok, out, err) = vigie(&data, &["audit", "verify"]);
    assert!(ok, "{out}{err}");
}
