//! The live picture over QUIC for operator clients: a snapshot, then deltas,
//! end to end on loopback with real certificates.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::client;
use tokio::sync::mpsc;
use vigie_ground::config::Config;
use vigie_ground::operator::client::{ClientError, follow_picture};
use vigie_ground::patrol::ca::{DeploymentCa, Role, Validity};
use vigie_ground::patrol::tls;
use vigie_ground::server::Server;
use vigie_protocols::api::{Position, Unit, UnitKind, UnitStatus};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn start(name: &str) -> (Server, PathBuf, SocketAddr) {
    let dir = std::env::temp_dir().join(format!("vigie-picture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::loopback(dir.clone());
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    (server, dir, quic)
}

fn patrol(id: &str, lat: f64) -> Unit {
    Unit {
        position: Some(Position {
            lat_deg: lat,
            lon_deg: 2.36,
            ..Position::default()
        }),
        last_seen_ms: Some(1),
        ..Unit::new(id, UnitKind::Patrol, UnitStatus::Available, "test")
    }
}

/// Follows the picture on a task; every complete step arrives on the channel.
fn follow(quic: SocketAddr, config: quinn::ClientConfig) -> mpsc::Receiver<Vec<Unit>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let result = follow_picture(quic, config, Duration::from_millis(100), |p| {
            tx.try_send(p.units().cloned().collect()).is_ok() || !tx.is_closed()
        })
        .await;
        tracing::info!("following ended: {result:?}");
    });
    rx
}

/// Waits for a step satisfying `ok`.
async fn until(rx: &mut mpsc::Receiver<Vec<Unit>>, ok: impl Fn(&[Unit]) -> bool) -> Vec<Unit> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let step = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a matching picture step within the wait")
            .expect("the client is still following");
        if ok(&step) {
            return step;
        }
    }
}

#[tokio::test]
async fn an_operator_gets_a_snapshot_then_every_change_and_removal() {
    let (server, dir, quic) = start("follow").await;
    let fleet = server.state().fleet.clone();
    fleet.upsert(patrol("P1", 48.90));
    fleet.upsert(patrol("P2", 48.91));
    let mut rx = follow(quic, client(&dir, "OPS1", Role::Operator));
    let snap = until(&mut rx, |u| u.iter().any(|x| x.id == "P2")).await;
    assert!(snap.iter().any(|u| u.id == "P1"));
    // The operator console is not a unit in the field: never in the picture.
    assert!(!snap.iter().any(|u| u.id == "OPS1"), "{snap:?}");
    // A change and an arrival.
    let mut moved = patrol("P1", 48.95);
    moved.status = UnitStatus::EnRoute;
    fleet.upsert(moved.clone());
    fleet.upsert(patrol("P3", 48.92));
    let step = until(&mut rx, |u| u.iter().any(|x| x.id == "P3")).await;
    assert_eq!(step.iter().find(|u| u.id == "P1"), Some(&moved));
    // A removal.
    fleet.remove("P2");
    let step = until(&mut rx, |u| !u.iter().any(|x| x.id == "P2")).await;
    // What the client holds is exactly the server's picture.
    let server_units = fleet.snapshot();
    let client_ids: Vec<&str> = step.iter().map(|u| u.id.as_str()).collect();
    let server_ids: Vec<&str> = server_units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(client_ids, server_ids);
    drop(rx);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_patrol_certificate_may_not_follow_the_picture() {
    let (server, dir, quic) = start("refused").await;
    let result = follow_picture(
        quic,
        client(&dir, "P9", Role::Patrol),
        Duration::from_millis(100),
        |_| true,
    )
    .await;
    match result {
        Err(e @ ClientError::Rejected(_)) => {
            assert!(e.is_permanent());
            assert!(
                e.to_string().contains("may not follow the live picture"),
                "{e}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.stop().await.unwrap();
}

/// Found from outside: the viewer retried an expired certificate, or a
/// patrol's, every few seconds forever, saying "retrying" under a reason
/// it did not show. A refusal of the credentials is now reported once,
/// with the server's reason, and not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_reported_with_its_reason_and_not_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (server, dir, quic) = start("not-retried").await;
    let now = vigie_ground::time::unix_ms();
    let expired = {
        let ca = DeploymentCa::open(&dir).unwrap();
        let store = vigie_ground::store::Store::open(&dir).unwrap();
        let past = Validity {
            not_before_ms: now - 10 * 86_400_000,
            not_after_ms: now - 86_400_000,
        };
        let cert = ca
            .issue("OPS8", Role::Operator, past, Some(&store))
            .unwrap();
        tls::client_config(ca.cert_pem(), &cert.cert_pem, &cert.key_pem).unwrap()
    };
    let cases = [
        ("an expired certificate", expired, "certificate expired"),
        (
            "a patrol's certificate",
            client(&dir, "P8", Role::Patrol),
            "may not follow the live picture",
        ),
    ];
    for (what, config, reason) in cases {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                vigie_ground::operator::client::follow_picture_blocking(
                    quic,
                    config,
                    Duration::from_millis(100),
                    &stop,
                    |_| {},
                    |e| errors.push((e.to_string(), e.is_permanent())),
                );
                let _ = tx.send(errors);
            })
        };
        // Bounded: a client that keeps retrying never answers.
        let errors = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        let errors = errors.unwrap_or_else(|_| panic!("{what}: still retrying after 30 s"));
        assert_eq!(errors.len(), 1, "{what}: reported once: {errors:?}");
        let (message, permanent) = &errors[0];
        assert!(permanent, "{what}: {message}");
        assert!(message.contains(reason), "{what}: {message}");
        assert!(message.contains("not retrying"), "{what}: {message}");
    }
    server.stop().await.unwrap();
}

/// A patrol tablet that streams its camera counts as coverage: its view
/// sector, pointed where it says, is in "who sees this point".
#[tokio::test]
async fn a_streaming_tablet_is_a_source_of_eyes_where_its_camera_points() {
    use vigie_protocols::tablet::codec::{self, MAX_CONTROL_MESSAGE_BYTES};
    use vigie_protocols::tablet::{ClientMessage, Hello, PositionReport, client_message};

    let (server, dir, quic) = start("streaming").await;
    let state = server.state().clone();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client(&dir, "P17", Role::Patrol));
    let conn = endpoint
        .connect(quic, vigie_protocols::tablet::SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let hello = ClientMessage {
        body: Some(client_message::Body::Hello(Hello {
            protocol_version: 1,
            client_software: "test".into(),
            client_time_ms: 0,
        })),
    };
    send.write_all(&codec::encode_frame(&hello, MAX_CONTROL_MESSAGE_BYTES).unwrap())
        .await
        .unwrap();
    let (lat, lon) = (48.9244, 2.3601);
    let report = |streaming: bool, ts: i64| ClientMessage {
        body: Some(client_message::Body::Position(PositionReport {
            lat_deg: lat,
            lon_deg: lon,
            accuracy_m: 4.0,
            heading_deg: Some(0.0),
            speed_m_s: Some(0.0),
            timestamp_ms: ts,
            streaming,
            // Walking north, filming east.
            camera_bearing_deg: Some(90.0),
        })),
    };
    let (east_x, east_y) = state.frame.to_local(lat, lon);
    let seen_by_p17 = |dx: f64, dy: f64| {
        state.coverage.read(|index| {
            let mut hits = Vec::new();
            vigie_ground::coverage::query::who_sees(index, [east_x + dx, east_y + dy], &mut hits);
            hits.iter().any(|h| index.source(h.slot).id == "P17")
        })
    };
    // Poll until the sector is in the index (datagrams may be lost: resend).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut ts = vigie_ground::time::unix_ms();
    while !seen_by_p17(10.0, 0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tablet's sector never appeared"
        );
        ts += 1;
        conn.send_datagram(codec::encode_datagram(&report(true, ts)).unwrap().into())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ten metres east is seen; ten metres west, behind the camera, is not.
    assert!(!seen_by_p17(-10.0, 0.0));
    let unit = state.fleet.read(|f| f.get("P17").cloned()).unwrap();
    assert!(unit.coverage.is_some());
    // Streaming stops: the sector goes.
    while seen_by_p17(10.0, 0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sector outlived the stream"
        );
        ts += 1;
        conn.send_datagram(codec::encode_datagram(&report(false, ts)).unwrap().into())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
}

/// Follows the whole picture (cameras, incidents, masks too) on a task.
fn follow_all(
    quic: SocketAddr,
    config: quinn::ClientConfig,
) -> mpsc::Receiver<vigie_protocols::tablet::picture::Picture> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let result = follow_picture(quic, config, Duration::from_millis(100), |p| {
            tx.try_send(p.clone()).is_ok() || !tx.is_closed()
        })
        .await;
        tracing::info!("following ended: {result:?}");
    });
    rx
}

async fn until_picture(
    rx: &mut mpsc::Receiver<vigie_protocols::tablet::picture::Picture>,
    ok: impl Fn(&vigie_protocols::tablet::picture::Picture) -> bool,
) -> vigie_protocols::tablet::picture::Picture {
    let mut last = None;
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let p = rx.recv().await.expect("picture stream open");
            if ok(&p) {
                return p;
            }
            last = Some(p);
        }
    })
    .await;
    match found {
        Ok(p) => p,
        Err(_) => {
            let last = last.map(|p| {
                (
                    p.cameras().cloned().collect::<Vec<_>>(),
                    p.incidents().cloned().collect::<Vec<_>>(),
                )
            });
            panic!("the awaited picture did not come in time; last: {last:?}")
        }
    }
}

/// An operator's live picture carries what the ground knows beside units:
/// its fixed cameras with their line-of-sight coverage, its privacy masks,
/// and the open incidents with the units suggested and ordered.
#[tokio::test]
async fn an_operator_sees_the_grounds_cameras_masks_and_incidents() {
    use vigie_ground::coverage::{camera::Optics, history, inventory};
    use vigie_ground::dispatch::incident::{Category, GeoPoint, Priority, Report, Source};

    // The inventory: one camera looking north over the origin, a mask
    // east of it. Stored before the server starts, as `vigie cameras
    // import` does.
    let dir = std::env::temp_dir().join(format!("vigie-picture-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::loopback(dir.clone());
    let frame = vigie_ground::frame::LocalFrame::new(
        config.site.origin_lat_deg,
        config.site.origin_lon_deg,
    );
    let (lat0, lon0) = (config.site.origin_lat_deg, config.site.origin_lon_deg);
    {
        let store = vigie_ground::store::Store::open(&dir).unwrap();
        history::migrate(&store).unwrap();
        let csv = format!(
            "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m\n\
             cam:city:1,city,{lat0},{lon0},6,0,-15,60,80\n"
        );
        let imp = inventory::parse_csv(&csv, &Optics::default()).unwrap();
        let stored = history::with_coverage(&imp.cameras, &frame, None, &Optics::default());
        history::save_inventory(&store, 1, &stored).unwrap();
        let (a, b) = (frame.to_wgs84(100.0, -10.0), frame.to_wgs84(120.0, 10.0));
        let mask = format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[[{w},{s}],[{e},{s}],[{e},{n}],[{w},{n}],[{w},{s}]]]}}}}]}}"#,
            w = a.1,
            s = a.0,
            e = b.1,
            n = b.0
        );
        history::save_layer(&store, "masks", &mask, 1).unwrap();
    }
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    let state = server.state().clone();
    assert_eq!(
        state.coverage.read(|i| i.static_len()),
        1,
        "the camera is indexed"
    );
    // Two patrols near the spot, the nearer one first.
    let near = frame.to_wgs84(0.0, 30.0);
    let far = frame.to_wgs84(0.0, 300.0);
    for (id, (lat, lon)) in [("P1", near), ("P2", far)] {
        let mut u = patrol(id, lat);
        u.position.as_mut().unwrap().lon_deg = lon;
        state.fleet.upsert(u);
    }

    let mut rx = follow_all(quic, client(&dir, "OPS1", Role::Operator));
    let snap = until_picture(&mut rx, |p| p.cameras().count() == 1).await;
    let cam = snap.cameras().next().unwrap();
    assert_eq!(cam.id, "cam:city:1");
    assert_eq!(cam.network, "city");
    assert!((cam.range_m - 80.0).abs() < 1e-6, "{cam:?}");
    // The coverage is the ground's polygon: it reaches north of the camera
    // and not south of it.
    let norths: Vec<f64> = cam
        .coverage
        .iter()
        .map(|g| frame.to_local(g.lat_deg, g.lon_deg).1)
        .collect();
    assert!(
        norths.iter().cloned().fold(f64::MIN, f64::max) > 50.0,
        "{norths:?}"
    );
    assert!(norths.iter().all(|n| *n > -1.0), "{norths:?}");
    assert_eq!(snap.privacy_masks().len(), 1);
    assert_eq!(snap.incidents().count(), 0);

    // An incident 40 m north of the camera: on the operator's picture with
    // the nearer patrol suggested first.
    let spot = frame.to_wgs84(0.0, 40.0);
    let view = state
        .dispatch
        .report(Report {
            category: Category::Medical,
            priority: Priority::High,
            location: GeoPoint {
                lat_deg: spot.0,
                lon_deg: spot.1,
            },
            source: Source::Operator,
            reporter: "ops".into(),
            text: "Gate D".into(),
            observed_ms: vigie_ground::time::unix_ms(),
        })
        .await
        .unwrap()
        .unwrap();
    let id = view.incident.id;
    let seen = until_picture(&mut rx, |p| p.incidents().any(|i| i.id == id)).await;
    let incident = seen.incidents().find(|i| i.id == id).unwrap();
    assert_eq!(incident.category, "medical");
    assert_eq!(incident.status, "new");
    assert_eq!(incident.suggested.first().map(String::as_str), Some("P1"));
    let loc = incident.location.as_ref().unwrap();
    assert!((loc.lat_deg - spot.0).abs() < 1e-9);

    // Ordered to P1: the picture says so; cancelled: it leaves the picture.
    state
        .dispatch
        .assign(id, vec!["P1".to_string()], 1, "ops".into())
        .await
        .unwrap();
    until_picture(&mut rx, |p| {
        p.incidents()
            .any(|i| i.id == id && i.assigned == ["P1"] && i.status == "dispatched")
    })
    .await;
    state.dispatch.finish(id, true, "ops".into()).await.unwrap();
    until_picture(&mut rx, |p| p.incidents().count() == 0).await;
    drop(rx);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
