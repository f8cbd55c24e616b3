//! Drone video end to end, through `vigie serve` as deployed: a simulated
//! drone flies over MAVLink under a flight authorisation and looks
//! straight down; a real H.264 stream (x264, through Debian's ffmpeg) comes
//! in as its camera's RTP on the port `[[video.streams]]` names, at the
//! camera's pace. Then, as an investigator would:
//!
//! - `vigie footage query` for the spot under the drone answers the drone
//!   with the spans it recorded, under its authorisation;
//! - `vigie footage export` writes the clip and its manifest; ffprobe
//!   counts every picture and the duration, and the file's SHA-256 is the
//!   manifest's; the audit register holds the request and the export;
//! - an operator watches the drone live over HTTP while it streams: the
//!   fragmented MP4 it receives starts at a keyframe and decodes;
//! - a second drone, named in no authorisation, streams too: nothing of it
//!   is recorded, the refusal is in the register and in `/metrics`;
//! - a query without a reason is refused.
//!
//! Real time, bounded: every wait polls with a deadline.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Options, Running, VIGIE, serve_with};
use common::video::{FRAMES, access_units, decode_errors, duration_s, probe, source};
use serde_json::{Value, json};
use sha2::Digest as _;
use vigie_ground::video::rtp::Sender;

/// The site origin of the default configuration, where the drone starts.
const HOME: (f64, f64) = (48.924_459, 2.360_164);
/// Longest wait for any one thing to happen.
const DEADLINE: Duration = Duration::from_secs(90);
const DRONE: &str = "drone:udp0:1";
/// A drone no authorisation names.
const UNAUTHORISED: &str = "drone:udp0:9";

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

fn call(url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let (status, text) = common::api::call(
        if body.is_some() { "POST" } else { "GET" },
        url,
        Some(token),
        body.map(|b| b.to_string()).as_deref(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn vigie(args: &[&str], token: &str) -> std::process::Output {
    Command::new(VIGIE)
        .args(args)
        .env("VIGIE_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .expect("vigie runs")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends the units as the camera's RTP to `to`, one picture every 1/30 s
/// (the camera's own pace: the ground stamps footage by its arrival).
fn stream(units: &[vigie_ground::video::h264::AccessUnit], to: &str, ssrc: u32) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sender = Sender::new(96, ssrc, 1, 1200);
    let started = Instant::now();
    for (k, u) in units.iter().enumerate() {
        let due = started + Duration::from_millis(k as u64 * 1000 / 30);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut datagrams = Vec::new();
        sender.send(u, &mut datagrams);
        for d in datagrams {
            socket.send_to(&d, to).unwrap();
        }
    }
}

/// Watches `url` live until `pictures` pictures arrived (the init segment
/// and one fragment per picture); returns the bytes.
fn watch_live(url: &str, token: &str, pictures: usize) -> Vec<u8> {
    use std::io::Read as _;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(DEADLINE))
        .build()
        .into();
    // Relayed from the first keyframe the drone's recording is permitted.
    let resp = wait_for("the live feed", || {
        let r = agent
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .ok()?;
        (r.status() == 200).then_some(r)
    });
    let mut body = resp.into_body().into_reader();
    let (mut bytes, mut seen) = (Vec::new(), 0);
    while seen < pictures {
        let mut head = [0u8; 8];
        body.read_exact(&mut head).expect("a box header");
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        assert!(size >= 8, "box size {size}");
        let mut rest = vec![0u8; size - 8];
        body.read_exact(&mut rest).expect("a box");
        if &head[4..8] == b"mdat" {
            seen += 1;
        }
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(&rest);
    }
    bytes
}

#[test]
fn a_drones_video_is_recorded_under_its_authorisation_found_by_place_and_exported() {
    if common::video::skip("video_e2e") {
        return;
    }
    let dir = common::api::temp("video-e2e");
    let data = dir.join("data");
    let units = access_units(&std::fs::read(source(&dir)).unwrap());
    assert_eq!(units.len(), FRAMES);

    let served = serve_with(
        &data,
        &Options {
            config: Some(format!(
                "[[video.streams]]\nsource = \"{DRONE}\"\nlisten = \"127.0.0.1:0\"\n\n\
                 [[video.streams]]\nsource = \"{UNAUTHORISED}\"\nlisten = \"127.0.0.1:0\"\n"
            )),
            ..Options::default()
        },
    );
    let token = common::api::issue(&data, "investigator", "admin");
    let url = |p: &str| format!("http://{}{p}", served.http);
    let (_, health) = call(&url("/api/v1/health"), &token, None);
    let port = |name: &str| {
        health["listeners"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["name"] == name))
            .and_then(|l| l["address"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no listener {name}: {health}"))
    };
    let (video, unauthorised) = (
        port(&format!("video:{DRONE}")),
        port(&format!("video:{UNAUTHORISED}")),
    );

    let _sim = Running(
        Command::new(VIGIE)
            .args(["sim", "drones", "--count", "1", "--ground", &served.mavlink])
            .args([
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
    assert_eq!(drone, DRONE);
    let (status, auth) = call(
        &url("/api/v1/authorisations"),
        &token,
        Some(json!({
            "purpose": "gatherings", "service": "DDSP 93", "contact": "ddsp93@example.fr",
            "perimeter": [[HOME.1 - 0.01, HOME.0 - 0.01], [HOME.1 + 0.01, HOME.0 - 0.01],
                          [HOME.1 + 0.01, HOME.0 + 0.01], [HOME.1 - 0.01, HOME.0 + 0.01]],
            "from_ms": 0, "to_ms": 99_999_999_999_999i64, "max_cameras": 1,
            "order_ref": "2026-12-04-117", "drones": [DRONE]
        })),
    );
    assert_eq!(status, 201, "{auth}");
    let command = |c: Value| {
        wait_for(&format!("{c} accepted"), || {
            let (_, r) = call(
                &url(&format!("/api/v1/drones/{DRONE}/commands")),
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
    let (lat, lon) = wait_for("the drone up and looking down", || {
        let (_, list) = call(&url("/api/v1/drones"), &token, None);
        let pos = &list["units"][0]["position"];
        if pos["alt_rel_m"].as_f64()? < 25.0 {
            return None;
        }
        let (lat, lon) = (pos["lat_deg"].as_f64()?, pos["lon_deg"].as_f64()?);
        let (_, seen) = call(
            &url(&format!("/api/v1/coverage/who-sees?lat={lat}&lon={lon}")),
            &token,
            None,
        );
        seen["sightings"]
            .as_array()?
            .iter()
            .any(|s| s["id"] == DRONE)
            .then_some((lat, lon))
    });

    // Both cameras stream at once, at their pace.
    let from = vigie_ground::time::unix_ms();
    let live_url = url(&format!("/api/v1/video/{DRONE}/live"));
    let live = std::thread::scope(|s| {
        let viewer = s.spawn(|| watch_live(&live_url, &token, 30));
        s.spawn(|| stream(&units, &video, 0x1111));
        s.spawn(|| stream(&units, &unauthorised, 0x9999));
        viewer.join().expect("the viewer")
    });
    // What the operator saw: an init segment, then pictures from a
    // keyframe on, that decode.
    assert_eq!(&live[4..8], b"ftyp");
    let watched = dir.join("live.mp4");
    std::fs::write(&watched, &live).unwrap();
    let p = probe(&watched);
    assert!(p.contains("nb_read_frames=30"), "{p}");
    let errors = decode_errors(&watched);
    assert!(errors.is_empty(), "decoding errors: {errors}");
    // The drone nobody authorised is not relayed either.
    let (status, _) = call(
        &url(&format!("/api/v1/video/{UNAUTHORISED}/live")),
        &token,
        None,
    );
    assert_eq!(status, 403);
    // Fragments end at the next keyframe: 3 of the 4 s are cut while the
    // stream runs (the last one when it stops).
    let at = format!("{lat},{lon}");
    let window = |to: i64| {
        [
            "footage",
            "query",
            "--server",
            &url(""),
            "--at",
            &at,
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--reason",
            "incident 117",
            "--json",
        ]
        .map(str::to_string)
    };
    let answer: Value = wait_for("three seconds recorded", || {
        let to = vigie_ground::time::unix_ms() + 60_000;
        let args = window(to);
        let out = ok(vigie(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &token,
        ));
        let a: Value = serde_json::from_str(&out).ok()?;
        (a["footage"][0]["total_ms"].as_i64()? >= 2_900).then_some(a)
    });
    let f = &answer["footage"][0];
    assert_eq!(f["source_id"], DRONE, "{answer}");
    assert_eq!(f["kind"], "drone");
    assert_eq!(
        answer["footage"].as_array().map(Vec::len),
        Some(1),
        "only the authorised drone: {answer}"
    );
    let seg = &f["segments"][0];
    assert_eq!(seg["authorisation"], auth["id"], "{answer}");
    assert_eq!(seg["recorded_here"], true);
    let [a, b] = [
        f["intervals"][0][0].as_i64().unwrap(),
        f["intervals"][0][1].as_i64().unwrap(),
    ];
    let until = vigie_ground::time::unix_ms();
    assert!(
        from - 1_000 <= a && b <= until + 1_000,
        "{a}..{b} outside {from}..{until}"
    );
    assert!(
        (2_900..=3_100).contains(&(b - a)),
        "{a}..{b}: 3 fragments of 1 s"
    );
    let density = f["density_px_m"].as_f64().unwrap();
    assert!(density > 1.0, "320 px over the footprint: {density}");

    // Export what it recorded, as a file a court can be handed.
    let out = dir.join("export");
    let shown = ok(vigie(
        &[
            "footage",
            "export",
            "--server",
            &url(""),
            "--source",
            DRONE,
            "--from",
            &a.to_string(),
            "--to",
            &b.to_string(),
            "--reason",
            "requisition PV 2026/117",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect::<Vec<_>>()
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &token,
    ));
    assert!(shown.contains("manifest.json"), "{shown}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["source_id"], DRONE);
    assert_eq!(manifest["network"], "fleet");
    assert_eq!(manifest["authorisations"][0]["order_ref"], "2026-12-04-117");
    let parts = manifest["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{manifest}");
    let clip = out.join(parts[0]["file"].as_str().unwrap());
    let bytes = std::fs::read(&clip).unwrap();
    assert_eq!(
        vigie_ground::guardrails::audit_seal::hex(&sha2::Sha256::digest(&bytes)),
        parts[0]["sha256"].as_str().unwrap()
    );
    assert_eq!(parts[0]["pictures"], 90);
    let p = probe(&clip);
    assert!(
        p.contains("codec_name=h264") && p.contains("width=320"),
        "{p}"
    );
    assert!(p.contains("nb_read_frames=90"), "{p}");
    let secs = duration_s(&clip);
    assert!((secs - 3.0).abs() < 0.05, "{secs} s");
    let errors = decode_errors(&clip);
    assert!(errors.is_empty(), "decoding errors: {errors}");

    // The register: the query, the export's request and what it wrote,
    // the refusal to record the drone nobody authorised.
    let (_, rows) = call(
        &url(&format!(
            "/api/v1/audit?from={}&to={}",
            from - 60_000,
            until + 600_000
        )),
        &token,
        None,
    );
    let rows = rows["rows"].as_array().cloned().unwrap_or_default();
    let action = |a: &str| {
        rows.iter()
            .filter(|r| r["action"] == a)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(!action("footage.query").is_empty());
    let request = action("footage.export");
    assert_eq!(request.len(), 1);
    assert_eq!(request[0]["reason"], "requisition PV 2026/117");
    assert_eq!(request[0]["seq"], manifest["audit_request_seq"]);
    let written = action("footage.exported");
    assert_eq!(written[0]["seq"], manifest["audit_written_seq"]);
    assert!(
        written[0]["detail"]
            .to_string()
            .contains(parts[0]["sha256"].as_str().unwrap())
    );
    let refused = action("video.refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["target"], UNAUTHORISED);
    let metrics = common::api::call("GET", &url("/metrics"), None, None).1;
    let counter = |name: &str, source: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{source=\"{source}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} for {source}"))
    };
    assert!(counter("vigie_video_fragments_refused_total", UNAUTHORISED) >= 3);
    assert_eq!(
        counter("vigie_video_fragments_recorded_total", UNAUTHORISED),
        0
    );
    assert!(counter("vigie_video_fragments_recorded_total", DRONE) >= 3);
    assert_eq!(counter("vigie_video_frames_total", DRONE), FRAMES as u64);
    assert_eq!(counter("vigie_video_packets_lost_total", DRONE), 0);

    // No reason, no query.
    let refused = vigie(
        &[
            "footage",
            "query",
            "--server",
            &url(""),
            "--at",
            &at,
            "--from",
            "0",
            "--to",
            "1",
            "--reason",
            " ",
        ],
        &token,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs a reason"));
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
