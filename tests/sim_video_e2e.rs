//! Simulated sources send real H.264, end to end in one process: a
//! simulated drone flies over MAVLink under a flight authorisation, its
//! camera (OpenH264) streaming RTP; a simulated patrol tablet is sent to
//! where it stands, and on scene streams its camera over QUIC as protocol
//! §12 says. An operator console watches both live over QUIC. Then the
//! footage query for a spot the tablet filmed, and one under the drone,
//! answer them; the tablet's clip is exported over HTTP, its hash is the
//! manifest's, and ffprobe and ffmpeg (which nobody here wrote) count its
//! pictures, its duration and not one decoding error.
//!
//! Real time, bounded: every wait polls with a deadline.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::video::{decode_errors, duration_s, probe};
use serde_json::{Value, json};
use sha2::Digest as _;
use vigie_ground::config::Config;
use vigie_ground::guardrails::authorisation::{NewAuthorisation, Purpose};
use vigie_ground::operator::client::watch_video;
use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::server::{Server, ServerState};
use vigie_ground::video::service::StreamConfig;
use vigie_protocols::api::DroneCommand;
use vigie_protocols::tablet::VideoChunk;
use vigie_sim::camera::CameraSpec;
use vigie_sim::patrol::tablet::TabletCerts;
use vigie_sim::patrol::{PatrolSpec, spawn_patrols};

/// Longest wait for any one thing to happen.
const DEADLINE: Duration = Duration::from_secs(90);
const DRONE: &str = "drone:udp0:1";
const TABLET: &str = "P01";
/// Pictures a second of both cameras.
const FPS: u32 = 10;

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn camera() -> CameraSpec {
    CameraSpec {
        fps: FPS,
        bitrate: 300_000,
        time_zone: "Europe/Paris".into(),
    }
}

/// An operator console watching `source` live until `pictures` arrived.
fn watch(
    state: &ServerState,
    unit: &str,
    source: &'static str,
    pictures: usize,
) -> tokio::task::JoinHandle<Vec<VideoChunk>> {
    let quic = state.listener("quic").expect("quic listener");
    let ca = DeploymentCa::open(&state.config.data_dir).unwrap();
    let cert = ca
        .issue(
            unit,
            Role::Operator,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&state.store),
        )
        .unwrap();
    let config =
        vigie_ground::patrol::tls::client_config(ca.cert_pem(), &cert.cert_pem, &cert.key_pem)
            .unwrap();
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            let mut got = Vec::new();
            // The feed may not be relayed yet (a drone's, before its first
            // permitted fragment): ask again.
            let r = watch_video(quic, config.clone(), source, |c| {
                got.push(c.clone());
                got.len() < pictures
            })
            .await;
            if got.len() >= pictures {
                return got;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{source} never relayed: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_drone_and_tablet_cameras_are_watched_live_found_and_exported() {
    if common::video::skip("sim_video_e2e") {
        return;
    }
    let dir = common::api::temp("sim-video-e2e");
    let mut config = Config::loopback(dir.join("data"));
    config.video.streams = vec![StreamConfig {
        source: DRONE.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        kind: None,
    }];
    let server = Server::start(config).await.expect("server starts");
    let state: Arc<ServerState> = server.state().clone();
    let site = &state.config.site;
    let origin = (site.origin_lat_deg, site.origin_lon_deg);
    let from_ms = vigie_ground::time::unix_ms();
    let corner = |e: f64, n: f64| {
        let (lat, lon) = state.frame.to_wgs84(e, n);
        [lon, lat]
    };
    state
        .store
        .add_authorisation(
            &NewAuthorisation {
                purpose: Purpose::Gatherings,
                service: "DDSP 93".into(),
                contact: "ddsp93@example.fr".into(),
                perimeter: vec![
                    corner(-1500.0, -1500.0),
                    corner(1500.0, -1500.0),
                    corner(1500.0, 1500.0),
                    corner(-1500.0, 1500.0),
                ],
                from_ms: from_ms - 60_000,
                to_ms: from_ms + 3_600_000,
                max_cameras: 1,
                order_ref: "2026-12-05-031".into(),
                drones: vec![DRONE.into()],
                order_date: String::new(),
                area: "around the stadium".into(),
            },
            from_ms,
            "test",
        )
        .unwrap();

    // The drone: up, looking down, its camera streaming.
    let mavlink = state.listener("mavlink:udp0").expect("mavlink listener");
    let fleet =
        vigie_sim::drone::spawn_drones(vigie_sim::drone::DroneSpec::new(1, mavlink, origin))
            .await
            .expect("the drone starts");
    until("the drone in the picture", || {
        state
            .fleet
            .read(|f| f.get(DRONE).and_then(|u| u.position).map(|_| ()))
    })
    .await;
    for cmd in [
        DroneCommand::SetMode {
            mode: "GUIDED".into(),
        },
        DroneCommand::Arm,
        DroneCommand::Takeoff { alt_m: 25.0 },
        DroneCommand::Gimbal {
            pitch_deg: -90.0,
            yaw_deg: 0.0,
        },
    ] {
        let r = state.drones.command(DRONE, cmd.clone()).await;
        assert_eq!(
            r.outcome,
            vigie_protocols::api::CommandOutcome::Accepted,
            "{cmd:?}: {}",
            r.detail
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rtp = state.listener(&format!("video:{DRONE}")).unwrap();
    let drone_camera = tokio::spawn(vigie_sim::camera::stream_rtp(
        camera().camera(DRONE).unwrap(),
        rtp,
        0xd0,
        None,
        stop_rx.clone(),
    ));

    // The patrol: sent where it stands, it films on scene.
    let ca = DeploymentCa::open(&state.config.data_dir).unwrap();
    let c = ca
        .issue(
            TABLET,
            Role::Patrol,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&state.store),
        )
        .unwrap();
    let certs = vec![TabletCerts {
        unit: TABLET.into(),
        ca_pem: ca.cert_pem().to_string(),
        cert_pem: c.cert_pem,
        key_pem: c.key_pem,
    }];
    let mut patrols = spawn_patrols(
        PatrolSpec {
            server: state.listener("quic").unwrap(),
            streets: None,
            frame: state.frame,
            vehicle_every: 0,
            seed: 3,
            camera: Some(camera()),
        },
        certs,
        stop_rx.clone(),
    );
    let at = until("the patrol in the picture", || {
        state.fleet.read(|f| f.get(TABLET).and_then(|u| u.position))
    })
    .await;
    state
        .patrol
        .issue_order(
            TABLET,
            &vigie_ground::order::NewOrder {
                incident_id: None,
                lat_deg: at.lat_deg,
                lon_deg: at.lon_deg,
                priority: "high".into(),
                instructions: "Film the gate".into(),
            },
        )
        .await
        .unwrap();

    // An operator watches both.
    let tablet_live = watch(&state, "OPS1", TABLET, 20);
    let drone_live = watch(&state, "OPS2", DRONE, 20);
    let (tablet_live, drone_live) = (tablet_live.await.unwrap(), drone_live.await.unwrap());
    for (source, chunks) in [(TABLET, &tablet_live), (DRONE, &drone_live)] {
        assert!(chunks[0].keyframe && &chunks[0].init[4..8] == b"ftyp");
        assert!(chunks.iter().all(|c| c.source == source));
    }
    // Where each camera looks now.
    let ring_of = |id: &str| {
        state
            .fleet
            .read(|f| f.get(id).and_then(|u| u.coverage.clone()))
    };
    let tablet_ring = until("the tablet's view sector", || ring_of(TABLET)).await;
    let drone_ring = until("the drone's footprint", || ring_of(DRONE)).await;
    let inside = |ring: &[[f64; 2]]| {
        let n = (ring.len() - 1) as f64;
        let (lon, lat) = ring[..ring.len() - 1]
            .iter()
            .fold((0.0, 0.0), |(a, b), p| (a + p[0] / n, b + p[1] / n));
        [lon, lat]
    };
    let (tablet_spot, drone_spot) = (inside(&tablet_ring), inside(&drone_ring));
    // Three more seconds of both, then both stop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true).unwrap();
    drone_camera.await.unwrap().unwrap();
    while patrols.tasks.join_next().await.is_some() {}
    until("the tablet's stream ended", || {
        state
            .video
            .get(TABLET)
            .is_some_and(|f| f.ended())
            .then_some(())
    })
    .await;

    // Found by place and time.
    let masks = state.coverage.read(|i| i.masks().clone());
    let to_ms = vigie_ground::time::unix_ms() + 1_000;
    let found = |spot| {
        vigie_ground::video::index::footage_at(
            &state.store,
            &state.frame,
            &masks,
            spot,
            from_ms,
            to_ms,
        )
        .unwrap()
    };
    let filmed = until("the tablet's footage indexed", || {
        found(tablet_spot)
            .into_iter()
            .find(|s| s.source_id == TABLET && s.total_ms >= 2_000)
    })
    .await;
    assert!(filmed.segments.iter().all(|s| s.recorded_here));
    let (a, b) = (
        filmed.intervals[0][0],
        filmed.intervals[filmed.intervals.len() - 1][1],
    );
    assert!(
        from_ms <= a && b <= to_ms,
        "{a}..{b} outside {from_ms}..{to_ms}"
    );
    let overflown = found(drone_spot);
    let drone = overflown
        .iter()
        .find(|s| s.source_id == DRONE)
        .unwrap_or_else(|| panic!("the drone's footage under it: {overflown:?}"));
    assert!(drone.segments.iter().all(|s| s.authorisation.is_some()));

    // The tablet's clip, exported over HTTP and checked by ffprobe.
    let token = state
        .store
        .issue_token("investigator", vigie_ground::auth::Role::Admin, from_ms)
        .unwrap()
        .token;
    let http = state.listener("http").unwrap();
    let body = json!({
        "source": TABLET, "from_ms": from_ms, "to_ms": to_ms,
        "reason": "requisition PV 2026/031"
    })
    .to_string();
    let (status, text) = tokio::task::spawn_blocking(move || {
        common::api::call(
            "POST",
            &format!("http://{http}/api/v1/footage/exports"),
            Some(&token),
            Some(&body),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 201, "{text}");
    let manifest: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(manifest["kind"], "tablet");
    let part = &manifest["parts"][0];
    let export_dir = state
        .config
        .data_dir
        .join("exports")
        .join(manifest["id"].as_str().unwrap());
    let clip = export_dir.join(part["file"].as_str().unwrap());
    let bytes =
        std::fs::read(&clip).unwrap_or_else(|e| panic!("the clip at {}: {e}", clip.display()));
    assert_eq!(
        vigie_ground::guardrails::audit_seal::hex(&sha2::Sha256::digest(&bytes)),
        part["sha256"].as_str().unwrap()
    );
    let pictures = part["pictures"].as_u64().unwrap();
    assert!(pictures >= 20, "{manifest}");
    let p = probe(&clip);
    assert!(
        p.contains("codec_name=h264")
            && p.contains(&format!("width={}", vigie_sim::camera::WIDTH))
            && p.contains(&format!("nb_read_frames={pictures}")),
        "{p}"
    );
    let secs = duration_s(&clip);
    let want = pictures as f64 / f64::from(FPS);
    assert!(
        (secs - want).abs() < 0.15,
        "{secs} s for {pictures} pictures"
    );
    let errors = decode_errors(&clip);
    assert!(errors.is_empty(), "decoding errors: {errors}");

    fleet.stop().await;
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
