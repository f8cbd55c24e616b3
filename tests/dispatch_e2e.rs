//! Dispatch end to end: `vigie serve` with simulated patrol tablets
//! (`vigie sim patrols`) on loopback. An incident posted over HTTP is
//! suggested to the nearest patrol, ordered, acknowledged and reached; an
//! order to a frozen tablet is resent and escalated; `kill -9` of the server
//! mid-dispatch loses nothing and the pending order is delivered after the
//! restart. Also: schemathesis against the OpenAPI document, and the live
//! page in headless Chromium.
//!
//! Needs `python3 -m schemathesis` and `chromium` for the last two (installed
//! by `scripts/test.sh`).

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::server::{Running, VIGIE};
use serde_json::{Value, json};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-dispatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn issue(data: &Path, name: &str, role: &str) -> String {
    let out = Command::new(VIGIE)
        .args([
            "token",
            "issue",
            "--name",
            name,
            "--role",
            role,
            "--data-dir",
        ])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running server: the process and its HTTP address.
struct Server {
    _proc: Running,
    http: String,
}

/// Starts `vigie serve` with dispatch timings short enough for a test.
fn serve(data: &Path, quic_port: u16) -> Server {
    serve_with(
        data,
        quic_port,
        "[dispatch]\nresend_after_ms = 500\nescalate_after_ms = 2500\n",
    )
}

/// Starts `vigie serve` on `data` with this TOML configuration, QUIC on
/// `quic_port` (a restarted server keeps its tablets), its log kept in
/// `DATA/server.log` to read after a failure.
fn serve_with(data: &Path, quic_port: u16, toml: &str) -> Server {
    let served = common::server::serve_with(
        data,
        &common::server::Options {
            config: Some(toml.to_string()),
            quic_port: Some(quic_port),
            log: Some(data.join("server.log")),
        },
    );
    Server {
        http: format!("http://{}", served.http),
        _proc: served.running,
    }
}

/// Starts `count` simulated tablets against `quic_port`, on foot.
fn patrols(data: &Path, certs: &Path, quic_port: u16, count: usize) -> Running {
    let child = Command::new(VIGIE)
        .args([
            "sim",
            "patrols",
            "--count",
            &count.to_string(),
            "--vehicle-every",
            "0",
        ])
        .arg("--ground")
        .arg(format!("127.0.0.1:{quic_port}"))
        .arg("--certs")
        .arg(certs)
        .arg("--issue-from")
        .arg(data)
        .args(["--for", "900s"])
        .env("NO_COLOR", "1")
        .env("VIGIE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(data.join("sim.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .unwrap();
    Running(child)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let agent = agent();
    let resp = match method {
        "GET" => agent.get(url).header("Authorization", &auth).call(),
        _ => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or(json!({})).to_string()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(s: &Server, path: &str, token: &str) -> Value {
    let (status, v) = call("GET", &format!("{}{path}", s.http), token, None);
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

fn post(s: &Server, path: &str, token: &str, body: Value) -> Value {
    let (status, v) = call("POST", &format!("{}{path}", s.http), token, Some(body));
    assert!((200..300).contains(&status), "POST {path}: {status} {v}");
    v
}

/// Polls `f` every 200 ms until it returns `Some`, at most `secs`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Available connected patrols with a position: id → (lat, lon).
fn available_patrols(s: &Server, token: &str) -> Vec<(String, f64, f64)> {
    let units = get(s, "/api/v1/units", token);
    units["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["kind"] == "patrol" && u["status"] == "available")
        .filter_map(|u| {
            let p = &u["position"];
            Some((
                u["id"].as_str()?.to_string(),
                p["lat_deg"].as_f64()?,
                p["lon_deg"].as_f64()?,
            ))
        })
        .collect()
}

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dn = (a.0 - b.0) * 111_200.0;
    let de = (a.1 - b.1) * 111_200.0 * a.0.to_radians().cos();
    f64::hypot(dn, de)
}

/// The patrol farthest from its nearest neighbour, so that "nearest to its
/// position" is unambiguous even while units walk.
fn isolated(units: &[(String, f64, f64)]) -> (String, f64, f64) {
    units
        .iter()
        .max_by(|a, b| {
            let gap = |u: &(String, f64, f64)| {
                units
                    .iter()
                    .filter(|v| v.0 != u.0)
                    .map(|v| metres((u.1, u.2), (v.1, v.2)))
                    .fold(f64::MAX, f64::min)
            };
            gap(a).total_cmp(&gap(b))
        })
        .cloned()
        .unwrap()
}

/// Reads the SSE stream into a channel of `(event, data)`.
fn subscribe(s: &Server, token: &str) -> mpsc::Receiver<(String, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(None)
        .build()
        .into();
    let resp = agent
        .get(format!("{}/api/v1/dispatch/events", s.http))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert!(
        resp.headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"))
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                let v = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                if tx.send((event.clone(), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn order_state(view: &Value, i: usize) -> String {
    view["orders"][i]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn incident_is_suggested_to_the_nearest_patrol_ordered_acknowledged_and_reached() {
    let data = temp("nearest");
    let certs = data.join("certs");
    let port = free_udp_port();
    let server = serve(&data, port);
    let token = issue(&data, "claire", "dispatcher");
    let _sims = patrols(&data, &certs, port, 5);
    let units = wait_for(60, "5 available patrols with positions", || {
        let u = available_patrols(&server, &token);
        (u.len() == 5).then_some(u)
    });
    let events = subscribe(&server, &token);
    let (unit, lat, lon) = isolated(&units);
    let created = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "medical", "priority": "high", "location": {"lat_deg": lat, "lon_deg": lon}, "text": "fainted at the gate"}),
    );
    let id = created["incident"]["id"].as_u64().unwrap();
    assert_eq!(created["incident"]["status"], "new");
    assert_eq!(created["incident"]["source"], "operator");
    assert_eq!(created["incident"]["reporter"], "claire");
    let suggested = &created["suggestions"]["patrols"];
    assert_eq!(suggested[0]["unit"], unit.as_str(), "{suggested}");
    assert_eq!(suggested.as_array().unwrap().len(), 5);

    let assigned = post(
        &server,
        &format!("/api/v1/incidents/{id}/assign"),
        &token,
        json!({}),
    );
    assert_eq!(assigned["orders"][0]["unit"], unit.as_str());
    assert_eq!(assigned["incident"]["status"], "dispatched");

    let reached = wait_for(90, "the patrol to arrive", || {
        let v = get(&server, &format!("/api/v1/incidents/{id}"), &token);
        (v["incident"]["status"] == "on_scene" || v["incident"]["status"] == "closed").then_some(v)
    });
    assert!(reached["orders"][0]["first_ack_ms"].as_i64().is_some());
    assert!(reached["incident"]["on_scene_ms"].as_i64().is_some());
    let statuses: Vec<&str> = reached["incident"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(&statuses[..3], ["new", "dispatched", "on_scene"]);
    let arrived_by = reached["incident"]["transitions"][2]["by"]
        .as_str()
        .unwrap();
    assert_eq!(arrived_by, format!("unit:{unit}"));

    // The operators' stream told the same story, in order.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok((event, data)) = events.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let tag = match event.as_str() {
            "incident" => format!("incident:{}", data["incident"]["status"].as_str().unwrap()),
            "order" => format!("order:{}", data["order"]["state"].as_str().unwrap()),
            other => other.to_string(),
        };
        seen.push(tag);
        if seen.iter().any(|s| s == "incident:on_scene") {
            break;
        }
    }
    let pos = |t: &str| {
        seen.iter()
            .position(|s| s == t)
            .unwrap_or_else(|| panic!("{t} not in {seen:?}"))
    };
    assert!(pos("incident:new") < pos("suggestions"));
    assert!(pos("suggestions") < pos("incident:dispatched"));
    assert!(pos("order:pending") < pos("order:received").min(pos("order:accepted")));
    assert!(pos("order:arrived") < pos("incident:on_scene"));

    // Metrics carry the incident and the acknowledgement latency.
    let metrics = agent()
        .get(format!("{}/metrics", server.http))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("vigie_order_ack_latency_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigie_incident_first_on_scene_seconds_count 1"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn unacknowledged_order_is_resent_and_escalated_then_delivered() {
    let data = temp("escalate");
    let certs = data.join("certs");
    let port = free_udp_port();
    let server = serve(&data, port);
    let token = issue(&data, "claire", "dispatcher");
    let sims = patrols(&data, &certs, port, 2);
    let units = wait_for(60, "2 available patrols", || {
        let u = available_patrols(&server, &token);
        (u.len() == 2).then_some(u)
    });
    let events = subscribe(&server, &token);
    // The tablets freeze: connected as far as the server knows, silent.
    sims.signal("-STOP");
    let (unit, lat, lon) = units[0].clone();
    let created = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "fire", "location": {"lat_deg": lat, "lon_deg": lon}}),
    );
    let id = created["incident"]["id"].as_u64().unwrap();
    post(
        &server,
        &format!("/api/v1/incidents/{id}/assign"),
        &token,
        json!({"units": [unit]}),
    );
    let escalated = wait_for(15, "an escalation", || {
        let v = get(&server, &format!("/api/v1/incidents/{id}"), &token);
        (!v["escalations"].as_array().unwrap().is_empty()).then_some(v)
    });
    sims.signal("-CONT");
    let e = &escalated["escalations"][0];
    assert_eq!(e["unit"], unit.as_str());
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("has not acknowledged"),
        "{e}"
    );
    assert_eq!(order_state(&escalated, 0), "pending");
    assert!(
        escalated["orders"][0]["resends"].as_u64().unwrap() >= 2,
        "{escalated}"
    );
    let waited =
        e["at_ms"].as_i64().unwrap() - escalated["orders"][0]["issued_ms"].as_i64().unwrap();
    assert!(
        (2500..6000).contains(&waited),
        "escalated after {waited} ms"
    );
    let pushed = wait_for(10, "the escalation on the stream", || {
        events
            .recv_timeout(Duration::from_millis(500))
            .ok()
            .filter(|(ev, _)| ev == "escalation")
    });
    assert_eq!(pushed.1["escalation"]["incident_id"], id);
    // The tablet wakes up and acknowledges.
    wait_for(30, "the order acknowledged after the thaw", || {
        let v = get(&server, &format!("/api/v1/incidents/{id}"), &token);
        (order_state(&v, 0) != "pending").then_some(())
    });
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn kill_9_mid_dispatch_then_restart_loses_nothing_and_delivers_what_was_pending() {
    let data = temp("kill9");
    let certs = data.join("certs");
    let port = free_udp_port();
    let server = serve(&data, port);
    let token = issue(&data, "claire", "dispatcher");
    let reporter = issue(&data, "city-app", "reporter");
    let sims = patrols(&data, &certs, port, 2);
    let units = wait_for(60, "2 available patrols", || {
        let u = available_patrols(&server, &token);
        (u.len() == 2).then_some(u)
    });
    let at = |u: &(String, f64, f64)| json!({"lat_deg": u.1, "lon_deg": u.2});
    // 1: reported by an external system, never assigned.
    let (status, external) = call(
        "POST",
        &format!("{}/api/v1/incidents", server.http),
        &reporter,
        Some(json!({"category": "unattended_object", "location": at(&units[0])})),
    );
    assert_eq!(status, 201, "{external}");
    assert_eq!(external["incident"]["source"], "external");
    let (status, _) = call(
        "GET",
        &format!("{}/api/v1/incidents", server.http),
        &reporter,
        None,
    );
    assert_eq!(status, 403, "a reporter sees nothing of the picture");
    // 2: assigned and acknowledged.
    let acked = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "theft", "location": at(&units[0])}),
    );
    let acked_id = acked["incident"]["id"].as_u64().unwrap();
    post(
        &server,
        &format!("/api/v1/incidents/{acked_id}/assign"),
        &token,
        json!({"units": [units[0].0]}),
    );
    wait_for(30, "the first order accepted", || {
        let v = get(&server, &format!("/api/v1/incidents/{acked_id}"), &token);
        (order_state(&v, 0) != "pending").then_some(())
    });
    // 3: assigned to a frozen tablet: pending when the server dies.
    sims.signal("-STOP");
    let pending = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "hazard", "location": at(&units[1])}),
    );
    let pending_id = pending["incident"]["id"].as_u64().unwrap();
    let assigned = post(
        &server,
        &format!("/api/v1/incidents/{pending_id}/assign"),
        &token,
        json!({"units": [units[1].0]}),
    );
    assert_eq!(order_state(&assigned, 0), "pending");
    let before = get(&server, "/api/v1/incidents", &token);
    let acked_before = get(&server, &format!("/api/v1/incidents/{acked_id}"), &token);

    drop(server); // SIGKILL
    let server = serve(&data, port);
    let after = get(&server, "/api/v1/incidents", &token);
    assert_eq!(
        after["incidents"], before["incidents"],
        "every incident, status and transition survives"
    );
    let acked_after = get(&server, &format!("/api/v1/incidents/{acked_id}"), &token);
    assert_eq!(
        acked_after["orders"][0]["order_id"],
        acked_before["orders"][0]["order_id"]
    );
    let rank = |s: &str| {
        ["pending", "received", "accepted", "arrived", "closed"]
            .iter()
            .position(|x| *x == s)
    };
    assert!(
        rank(&order_state(&acked_after, 0)) >= rank(&order_state(&acked_before, 0)),
        "acknowledgements survive: {} then {}",
        order_state(&acked_before, 0),
        order_state(&acked_after, 0)
    );
    let pending_after = get(&server, &format!("/api/v1/incidents/{pending_id}"), &token);
    assert_eq!(order_state(&pending_after, 0), "pending");
    assert_eq!(
        pending_after["orders"][0]["order_id"],
        assigned["orders"][0]["order_id"]
    );
    // The tablet thaws, reconnects to the restarted server and gets the
    // pending order.
    sims.signal("-CONT");
    wait_for(60, "the pending order delivered after the restart", || {
        let v = get(&server, &format!("/api/v1/incidents/{pending_id}"), &token);
        (order_state(&v, 0) != "pending").then_some(())
    });
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn cancelling_an_incident_withdraws_its_order_and_frees_the_patrol() {
    let data = temp("withdraw");
    let certs = data.join("certs");
    let port = free_udp_port();
    let server = serve(&data, port);
    let token = issue(&data, "claire", "dispatcher");
    let _sims = patrols(&data, &certs, port, 2);
    let units = wait_for(60, "2 available patrols", || {
        let u = available_patrols(&server, &token);
        (u.len() == 2).then_some(u)
    });
    // Far enough that the patrol is still on its way when it is cancelled.
    let (unit, lat, lon) = units[0].clone();
    let created = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "hazard", "location": {"lat_deg": lat + 0.01, "lon_deg": lon}}),
    );
    let id = created["incident"]["id"].as_u64().unwrap();
    post(
        &server,
        &format!("/api/v1/incidents/{id}/assign"),
        &token,
        json!({"units": [unit]}),
    );
    wait_for(30, "the order accepted and the patrol en route", || {
        let v = get(&server, &format!("/api/v1/incidents/{id}"), &token);
        let en_route = get(&server, "/api/v1/units", &token)["units"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == unit.as_str() && u["status"] == "en_route");
        (order_state(&v, 0) == "accepted" && en_route).then_some(())
    });
    let cancelled = post(
        &server,
        &format!("/api/v1/incidents/{id}/cancel"),
        &token,
        json!({}),
    );
    assert_eq!(cancelled["incident"]["status"], "cancelled");
    assert_eq!(order_state(&cancelled, 0), "withdrawn");
    // The tablet is told, acknowledges, stops and is available again.
    let queue = wait_for(30, "the withdrawal acknowledged by the tablet", || {
        let q = get(&server, &format!("/api/v1/patrols/{unit}/orders"), &token);
        let last = q["orders"].as_array()?.last()?.clone();
        last["withdraw_acked_ms"].as_i64().map(|_| last)
    });
    assert_eq!(queue["state"], "withdrawn");
    assert_eq!(queue["reason"], format!("incident {id} cancelled"));
    // The unit's queue names the incident and its urgency as /incidents
    // does: the incident's integer id, the priority's name.
    assert_eq!(queue["incident_id"], json!(id), "{queue}");
    assert_eq!(
        queue["priority"], created["incident"]["priority"],
        "{queue}"
    );
    wait_for(15, "the patrol available again", || {
        available_patrols(&server, &token)
            .iter()
            .any(|u| u.0 == unit)
            .then_some(())
    });
    // Free, it is suggested (and can be ordered) for the next incident.
    let next = post(
        &server,
        "/api/v1/incidents",
        &token,
        json!({"category": "medical", "location": {"lat_deg": lat, "lon_deg": lon}}),
    );
    let suggested: Vec<&str> = next["suggestions"]["patrols"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["unit"].as_str())
        .collect();
    assert!(suggested.contains(&unit.as_str()), "{suggested:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn schemathesis_finds_no_server_error() {
    let data = temp("schemathesis");
    let server = serve(&data, free_udp_port());
    let token = issue(&data, "admin", "admin");
    let url = format!("{}/api/v1/openapi.json", server.http);
    let out = Command::new("python3")
        .current_dir(&data)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(&url)
        .args(["--checks", "not_a_server_error", "--max-examples", "15"])
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-deterministic",
        ])
        .args(["--request-timeout", "10", "--workers", "1"])
        // An endless stream is not a request-response operation; token
        // revocation would cut the run's own access short.
        .args(["--exclude-path", "/api/v1/dispatch/events"])
        .args(["--exclude-path", "/api/v1/tokens/{id}"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 with schemathesis (pip install -r scripts/requirements-test.txt)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
    let tail: Vec<&str> = stdout.lines().collect();
    eprintln!("{}", tail[tail.len().saturating_sub(12)..].join("\n"));
    assert!(
        stdout.contains("passed") || stdout.contains("Passed"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn live_page_in_headless_chromium_shows_the_api_figures() {
    let data = temp("live");
    let server = serve(&data, free_udp_port());
    let token = issue(&data, "mayor", "auditor");
    let dispatcher = issue(&data, "claire", "dispatcher");
    for (cat, n) in [("medical", 2), ("theft", 1), ("crowd_density", 3)] {
        for _ in 0..n {
            post(
                &server,
                "/api/v1/incidents",
                &dispatcher,
                json!({"category": cat, "location": {"lat_deg": 48.9245, "lon_deg": 2.3602}}),
            );
        }
    }
    let figures = get(&server, "/api/v1/dispatch/figures", &token);
    assert_eq!(figures["incidents_today"], 6);
    let page = |lang: &str| -> String {
        let profile = data.join(format!("chromium-profile-{lang}"));
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--virtual-time-budget=10000", "--dump-dom"])
            .arg(format!("{}/live#token={token}&lang={lang}", server.http))
            .output()
            .expect("chromium (apt-get install chromium)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // In French (the default for officials): labels, the site, local time.
    let fr = page("fr");
    assert!(fr.contains("lang=\"fr\""), "{fr}");
    for words in [
        "Incidents aujourd'hui",
        "Drones en vol",
        "Stade de France",
        "Europe/Paris",
        "mis à jour le",
    ] {
        assert!(fr.contains(words), "no {words:?} in the French page:\n{fr}");
    }
    // The map places every open incident.
    assert_eq!(fr.matches("class=\"incident\"").count(), 6, "{fr}");
    // No zone is configured: the coverage card says why it is empty.
    assert!(fr.contains("Aucune zone d'événement configurée"), "{fr}");
    let dom = page("en");
    assert!(dom.contains("Drones in flight"), "{dom}");
    let value = |id: &str| -> String {
        let key = format!("id=\"{id}\">");
        let start = dom
            .find(&key)
            .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"))
            + key.len();
        dom[start..].split('<').next().unwrap().to_string()
    };
    assert_eq!(
        value("incidents-today"),
        figures["incidents_today"].to_string()
    );
    assert_eq!(
        value("open-incidents"),
        figures["open_incidents"].to_string()
    );
    for (cat, n) in figures["by_category"].as_object().unwrap() {
        assert_eq!(value(&format!("categories-{cat}")), n.to_string(), "{cat}");
    }
    for (kind, n) in figures["units_available"].as_object().unwrap() {
        assert_eq!(value(&format!("units-{kind}")), n.to_string(), "{kind}");
    }
    let secs = |v: &Value| v.as_f64().map_or("–".to_string(), |s| format!("{s:.1}"));
    assert_eq!(value("median-eyes-on"), secs(&figures["median_eyes_on_s"]));
    assert_eq!(
        value("median-on-scene"),
        secs(&figures["median_first_on_scene_s"])
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Incident to order delivered on the tablet with many patrols online.
/// Not a test: a measurement (BENCHMARKS.md, Dispatch). Run with
/// `VIGIE_BENCH_PATROLS=10000 VIGIE_BENCH_INCIDENTS=300 cargo test --test dispatch_e2e -- --ignored --nocapture incident_to_tablet`
/// (patrols 1,000 and incidents 300 when unset). On a timeout it prints the
/// incident, the unit and its order queue, and keeps the logs.
///
/// Every incident is auto-assigned (policy `auto_assign_min_priority = low`);
/// the latency is from the incident stored (`created_ms`) to the tablet's
/// `received` ack stored by the server (`first_ack_ms`): delivery plus the
/// tablet's ack on the way back, an upper bound of delivery.
#[test]
#[ignore = "measurement, minutes long: run by hand"]
fn incident_to_tablet_latency() {
    let n: usize = std::env::var("VIGIE_BENCH_PATROLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let incidents: usize = std::env::var("VIGIE_BENCH_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let data = temp("bench");
    let certs = data.join("certs");
    let port = free_udp_port();
    let server = serve_with(
        &data,
        port,
        "[dispatch]\nauto_assign_min_priority = \"low\"\nresend_after_ms = 5000\nescalate_after_ms = 60000\n",
    );
    let token = issue(&data, "bench", "dispatcher");
    let started = Instant::now();
    let _sims = patrols(&data, &certs, port, n);
    let units = wait_for(1200, "every tablet available", || {
        let u = available_patrols(&server, &token);
        (u.len() >= n).then_some(u)
    });
    eprintln!(
        "{n} tablets online after {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let mut ids = Vec::new();
    for i in 0..incidents {
        let u = &units[(i * 7919) % units.len()];
        let v = post(
            &server,
            "/api/v1/incidents",
            &token,
            json!({"category": "other", "location": {"lat_deg": u.1, "lon_deg": u.2}}),
        );
        ids.push(v["incident"]["id"].as_u64().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut total = Vec::new();
    let mut server_side = Vec::new();
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        let v = loop {
            let v = get(&server, &format!("/api/v1/incidents/{id}"), &token);
            if v["orders"][0]["first_ack_ms"].as_i64().is_some() {
                break v;
            }
            if Instant::now() >= deadline {
                let unit = v["orders"][0]["unit"].as_str().unwrap_or("").to_string();
                let units = get(&server, "/api/v1/units", &token);
                let fleet = units["units"]
                    .as_array()
                    .and_then(|a| a.iter().find(|u| u["id"] == unit.as_str()).cloned());
                let queue = (!unit.is_empty())
                    .then(|| get(&server, &format!("/api/v1/patrols/{unit}/orders"), &token));
                panic!(
                    "timed out after 60 s waiting for incident {id}'s first ack (logs in {}).\nincident: {v:#}\nunit in the picture: {fleet:#?}\nunit's order queue: {queue:#?}",
                    data.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let created = v["incident"]["created_ms"].as_i64().unwrap();
        total.push(v["orders"][0]["first_ack_ms"].as_i64().unwrap() - created);
        server_side.push(v["orders"][0]["issued_ms"].as_i64().unwrap() - created);
    }
    let pct = |v: &mut Vec<i64>, p: f64| {
        v.sort_unstable();
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    eprintln!(
        "patrols {n}, incidents {incidents}: incident stored -> order stored ms p50 {} p99 {}; incident stored -> tablet's received ack stored ms p50 {} p99 {} max {}",
        pct(&mut server_side, 0.5),
        pct(&mut server_side, 0.99),
        pct(&mut total, 0.5),
        pct(&mut total, 0.99),
        total.last().unwrap()
    );
    let _ = std::fs::remove_dir_all(&data);
}
